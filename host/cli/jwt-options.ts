// outpost serve's JWT settings: each a flag or an environment variable; the issuer's public key from a file.
import { Option } from "commander";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { JwtOptions } from "../server/jwt.ts";
import { InvalidScope, parseScopes, type Scope } from "../registry/scopes.ts";
import { CliError, urlParser } from "./common.ts";

export interface JwtFlags {
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtPublicKeyFile?: string;
  jwtJwksUrl?: string;
  jwtScopeClaim: string;
  jwtScopeMap?: string;
}

/** Each JWT setting of `outpost serve`: a flag, or its environment variable. */
export const JWT_OPTIONS = {
  issuer: () => new Option("--jwt-issuer <iss>", "also accept JWTs from this issuer (its iss); needs --jwt-audience and a key").env("OUTPOST_JWT_ISSUER"),
  audience: () => new Option("--jwt-audience <aud>", "the audience (aud) the issuer's tokens carry for this backend").env("OUTPOST_JWT_AUDIENCE"),
  publicKeyFile: () =>
    new Option("--jwt-public-key-file <path>", "the issuer's public key: PEM (SPKI or certificate), a JWK or a JWK set").env("OUTPOST_JWT_PUBLIC_KEY_FILE"),
  jwksUrl: () =>
    new Option("--jwt-jwks-url <url>", "the issuer's JWKS endpoint (instead of a key file)")
      .env("OUTPOST_JWT_JWKS_URL")
      .argParser(urlParser("https:", "http:")),
  scopeClaim: () =>
    new Option("--jwt-scope-claim <claim>", "the claim holding the caller's scopes (a dotted path: realm_access.roles)")
      .env("OUTPOST_JWT_SCOPE_CLAIM")
      .default("scope"),
  scopeMap: () =>
    new Option("--jwt-scope-map <map>", "claim values to scopes, e.g. ops=read+call,admins=read+call+admin+ota (default: values named like scopes)").env(
      "OUTPOST_JWT_SCOPE_MAP",
    ),
};

/** "ops=read+call,admins=admin" as a map; a wrong scope name is a CliError naming it. */
export function parseScopeMap(text: string): Record<string, Scope[]> {
  const map: Record<string, Scope[]> = {};
  for (const entry of text.split(",").filter(Boolean)) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new CliError(`--jwt-scope-map entries are value=scope+scope, not ${JSON.stringify(entry)}`);
    try {
      map[entry.slice(0, eq).trim()] = parseScopes(entry.slice(eq + 1).split("+"));
    } catch (err) {
      if (err instanceof InvalidScope) throw new CliError(`--jwt-scope-map ${entry}: ${err.message}`);
      throw err;
    }
  }
  return map;
}

const MAX_KEY_FILE = 64 * 1024;
function readKeyFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new CliError(`cannot read --jwt-public-key-file ${path}: ${(err as Error).message}`);
  }
  try {
    if (fstatSync(fd).size > MAX_KEY_FILE) throw new CliError(`--jwt-public-key-file ${path} is larger than 64 KiB: not a public key`);
    const buf = Buffer.alloc(MAX_KEY_FILE);
    const n = readSync(fd, buf, 0, MAX_KEY_FILE, 0);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** The JWT settings, or undefined when no issuer is configured; a half-done configuration is a CliError. */
export function jwtConfig(f: JwtFlags): JwtOptions | undefined {
  const given = f.jwtAudience || f.jwtPublicKeyFile || f.jwtJwksUrl || f.jwtScopeMap;
  if (!f.jwtIssuer) {
    if (given) throw new CliError("--jwt-audience, --jwt-public-key-file, --jwt-jwks-url and --jwt-scope-map need --jwt-issuer");
    return undefined;
  }
  if (!f.jwtAudience) throw new CliError("--jwt-issuer needs --jwt-audience (the aud its tokens carry for this backend)");
  if (!f.jwtPublicKeyFile === !f.jwtJwksUrl) throw new CliError("--jwt-issuer needs exactly one of --jwt-public-key-file and --jwt-jwks-url");
  return {
    issuer: f.jwtIssuer,
    audience: f.jwtAudience,
    publicKey: f.jwtPublicKeyFile ? readKeyFile(f.jwtPublicKeyFile) : undefined,
    jwksUrl: f.jwtJwksUrl,
    scopeClaim: f.jwtScopeClaim,
    scopeMap: f.jwtScopeMap ? parseScopeMap(f.jwtScopeMap) : undefined,
  };
}
