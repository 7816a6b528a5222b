// JWTs from an identity provider a company already runs: verified with jose against one issuer's public key (a PEM
// or JWK file) or its JWKS URL; issuer, audience and time checked; a claim (e.g. `scope`, `roles`) maps to scopes.
import { createPublicKey, type KeyObject } from "node:crypto";
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { SCOPES, isScope, parseScopes, type Scope } from "../registry/scopes.ts";

export interface JwtOptions {
  /** The `iss` every token must carry. */
  issuer: string;
  /** The `aud` every token must name (this backend). */
  audience: string;
  /** The issuer's public key: PEM (SPKI or a certificate) or JSON (one JWK or a JWK set). One of this and jwksUrl. */
  publicKey?: string;
  /** The issuer's JWKS endpoint (fetched on demand and cached by jose). */
  jwksUrl?: string;
  /** The claim that carries the caller's scopes, a dotted path for nested claims (default "scope"). */
  scopeClaim?: string;
  /**
   * The claim's values -> outpost scopes (e.g. {"outpost-operators": ["read", "call"]}). Without it, values that are
   * scope names count, others (openid, profile, ...) are ignored.
   */
  scopeMap?: Record<string, readonly Scope[]>;
  /** Leeway for exp and nbf, in seconds (default 30). */
  clockToleranceSec?: number;
}

/** A token turned away: 401 with a named error, or 503 when the issuer's keys cannot be fetched. */
export class TokenRefused extends Error {
  override name = "TokenRefused";
  constructor(
    readonly status: 401 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifiedToken {
  subject: string;
  scopes: Scope[];
  /** Milliseconds since the epoch; the token is refused from then on. */
  expiresAt: number | null;
}

export type JwtVerifier = (token: string) => Promise<VerifiedToken>;

/** Three base64url parts: what a JWS compact token looks like, whatever it holds. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
export const MAX_TOKEN_BYTES = 8192;
export function isJwtShaped(token: string): boolean {
  return token.length <= MAX_TOKEN_BYTES && JWT_SHAPE.test(token);
}

/** Only asymmetric algorithms: an HMAC "verified" with a public key would be a forgery anyone could make. */
const ALGORITHMS: Record<string, string[]> = {
  rsa: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
  "rsa-pss": ["PS256", "PS384", "PS512"],
  ec: ["ES256", "ES384", "ES512"],
  ed25519: ["EdDSA", "Ed25519"],
};
const ALL_ALGORITHMS = [...new Set(Object.values(ALGORITHMS).flat())];

export class InvalidJwtConfig extends Error {
  override name = "InvalidJwtConfig";
}

function keySource(opts: JwtOptions): { key: KeyObject | JWTVerifyGetKey; algorithms: string[] } {
  if (!!opts.publicKey === !!opts.jwksUrl) throw new InvalidJwtConfig("a JWT issuer needs exactly one of a public key file and a JWKS URL");
  if (opts.jwksUrl) {
    let url: URL;
    try {
      url = new URL(opts.jwksUrl);
    } catch {
      throw new InvalidJwtConfig(`the JWKS URL is not a URL: ${opts.jwksUrl}`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new InvalidJwtConfig(`the JWKS URL must be https:// (or http://): ${opts.jwksUrl}`);
    return { key: createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30_000 }), algorithms: ALL_ALGORITHMS };
  }
  const text = opts.publicKey!.trim();
  try {
    if (text.startsWith("{")) {
      const json = JSON.parse(text);
      if (Array.isArray(json.keys)) return { key: createLocalJWKSet(json), algorithms: ALL_ALGORITHMS };
      const key = createPublicKey({ key: json, format: "jwk" });
      return { key, algorithms: ALGORITHMS[key.asymmetricKeyType ?? ""] ?? [] };
    }
    const key = createPublicKey(text);
    const algorithms = ALGORITHMS[key.asymmetricKeyType ?? ""];
    if (!algorithms) throw new InvalidJwtConfig(`the JWT public key is ${key.asymmetricKeyType}: use an RSA, EC or Ed25519 key`);
    return { key, algorithms };
  } catch (err) {
    if (err instanceof InvalidJwtConfig) throw err;
    throw new InvalidJwtConfig(`the JWT public key is not a PEM public key, certificate, JWK or JWK set: ${(err as Error).message}`);
  }
}

/** The value at a dotted claim path ("realm_access.roles"). */
function claimAt(payload: JWTPayload, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split(".")) v = v && typeof v === "object" && Object.hasOwn(v, part) ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

function scopesOf(value: unknown, map: JwtOptions["scopeMap"]): Scope[] {
  const values = typeof value === "string" ? value.split(/\s+/) : Array.isArray(value) ? value.filter((v) => typeof v === "string") : [];
  const out = new Set<Scope>();
  for (const v of values as string[]) {
    if (map) for (const s of Object.hasOwn(map, v) ? map[v] : []) out.add(s);
    else if (isScope(v)) out.add(v);
  }
  return SCOPES.filter((s) => out.has(s));
}

/** Throws InvalidJwtConfig for a configuration that could never verify a token (no key, a bad map). */
export function createJwtVerifier(opts: JwtOptions): JwtVerifier {
  if (!opts.issuer) throw new InvalidJwtConfig("a JWT issuer needs its issuer (iss)");
  if (!opts.audience) throw new InvalidJwtConfig("a JWT issuer needs the audience (aud) its tokens carry for this backend");
  const { key, algorithms } = keySource(opts);
  for (const [value, scopes] of Object.entries(opts.scopeMap ?? {}))
    try {
      parseScopes(scopes);
    } catch (err) {
      throw new InvalidJwtConfig(`the JWT scope map's ${JSON.stringify(value)}: ${(err as Error).message}`);
    }
  const claim = opts.scopeClaim ?? "scope";
  const verifyOpts = { issuer: opts.issuer, audience: opts.audience, algorithms, clockTolerance: opts.clockToleranceSec ?? 30 };
  return async (token) => {
    if (!isJwtShaped(token)) throw new TokenRefused(401, "jwt_malformed", `the token is not a JWT (three base64url parts, at most ${MAX_TOKEN_BYTES} bytes)`);
    let payload: JWTPayload;
    try {
      payload = (typeof key === "function" ? await jwtVerify(token, key, verifyOpts) : await jwtVerify(token, key, verifyOpts)).payload;
    } catch (err) {
      throw tokenError(err as Error, opts);
    }
    if (typeof payload.sub !== "string" || payload.sub === "")
      throw new TokenRefused(401, "jwt_no_subject", "the token has no subject (sub): the audit log needs to know who called");
    return {
      subject: payload.sub,
      scopes: scopesOf(claimAt(payload, claim), opts.scopeMap),
      expiresAt: typeof payload.exp === "number" ? payload.exp * 1000 : null,
    };
  };
}

function tokenError(err: Error, opts: JwtOptions): TokenRefused {
  if (err instanceof errors.JWTExpired) return new TokenRefused(401, "jwt_expired", "the token has expired (exp): get a new one from the issuer");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "iss") return new TokenRefused(401, "jwt_wrong_issuer", `the token's issuer (iss) is not ${opts.issuer}`);
    if (err.claim === "aud")
      return new TokenRefused(401, "jwt_wrong_audience", `the token is not for this backend: its audience (aud) must include ${opts.audience}`);
    if (err.claim === "nbf") return new TokenRefused(401, "jwt_not_yet_valid", "the token is not valid yet (nbf)");
    return new TokenRefused(401, "jwt_bad_claim", `the token's ${err.claim} claim is not valid (${err.reason})`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new TokenRefused(401, "jwt_bad_signature", "the token's signature does not verify with the issuer's key");
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
    return new TokenRefused(401, "jwt_unknown_key", "no key of the issuer matches the token's header (kid, alg)");
  if (err instanceof errors.JOSEAlgNotAllowed)
    return new TokenRefused(401, "jwt_algorithm_not_allowed", "the token's algorithm (alg) is not one this issuer's key verifies (RS*, PS*, ES*, EdDSA)");
  if (
    err instanceof errors.JWKSTimeout ||
    err instanceof errors.JWKSInvalid ||
    (opts.jwksUrl && (!(err instanceof errors.JOSEError) || err.code === "ERR_JOSE_GENERIC"))
  )
    return new TokenRefused(503, "jwks_unavailable", "the issuer's keys (JWKS) cannot be fetched now: try again later");
  return new TokenRefused(401, "jwt_malformed", `the token is not a valid JWT: ${err.message}`);
}
