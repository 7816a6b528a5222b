// Callers (issue 15): JWTs from a configured issuer besides API keys, verified with jose against a public key file
// and against a JWKS served by this test over a real local HTTP server. Bad signature, wrong audience, wrong issuer,
// expired, unknown key, a forged "none" or HMAC token: each a 401 with its own name.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { createHmac } from "node:crypto";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";
import type { Backend } from "../host/server/backend.ts";
import { createJwtVerifier, InvalidJwtConfig } from "../host/server/jwt.ts";
import { jwtConfig, parseScopeMap } from "../host/cli/jwt-options.ts";
import { apiClient, startTestBackend } from "./support/api.ts";
import { freePort } from "./support/mosquitto.ts";

const ISSUER = "https://id.example.com/";
const AUDIENCE = "outpost-test";
type Keys = { publicKey: CryptoKey; privateKey: CryptoKey };

async function token(key: CryptoKey, claims: JWTPayload, opts: { alg?: string; kid?: string; iss?: string; aud?: string; exp?: string | number } = {}) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? "RS256", ...(opts.kid ? { kid: opts.kid } : {}) })
    .setIssuedAt()
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setExpirationTime(opts.exp ?? "5m");
  return jwt.sign(key);
}
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

function expectError(res: { status: number; body: { error: string; message: string } }, status: number, error: string) {
  expect({ status: res.status, error: res.body?.error }).toEqual({ status, error });
  return res.body;
}

describe("with the issuer's public key (PEM)", () => {
  let backend: Backend;
  let issuer: Keys;
  let stranger: Keys;
  const api = apiClient(
    () => backend.url,
    () => null,
  );
  const as = (t: string) => `Bearer ${t}`;

  beforeAll(async () => {
    issuer = await generateKeyPair("RS256");
    stranger = await generateKeyPair("RS256");
    backend = await startTestBackend("jwt-pem", { jwt: { issuer: ISSUER, audience: AUDIENCE, publicKey: await exportSPKI(issuer.publicKey) } });
  });
  afterAll(async () => {
    await backend.close();
  });

  it("a valid token is let in with the scopes its claim names (others ignored), and only those", async () => {
    const t = await token(issuer.privateKey, { sub: "alice@example.com", scope: "openid read profile" });
    expect((await api("/api/v1/devices", {}, as(t))).status).toBe(200);
    const refused = expectError(await api("/api/v1/devices/x/rpc/echo", { method: "POST" }, as(t)), 403, "insufficient_scope");
    expect(refused.message).toContain("jwt alice@example.com");
    const caller = await token(issuer.privateKey, { sub: "svc", scope: ["call"] }); // an array works too
    expectError(await api("/api/v1/devices/x/rpc/echo", { method: "POST" }, as(caller)), 404, "unknown_device");
  });

  it("signs a browser in with a JWT: the session cookie carries the token's subject and scopes, and ends with the token", async () => {
    const t = await token(issuer.privateKey, { sub: "carol@example.com", scope: "read" }, { exp: "2h" });
    const signIn = await fetch(`${backend.url}/api/v1/session`, { method: "POST", headers: { authorization: as(t) } });
    expect(signIn.status).toBe(201);
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0];
    // Capped by the token's expiry (2 h), not the session's 12 h.
    expect(Date.parse((await signIn.json()).expires_at) - Date.now()).toBeLessThanOrEqual(2 * 3600_000);
    expect((await fetch(`${backend.url}/api/v1/devices`, { headers: { cookie } })).status).toBe(200);
    const who = await (await fetch(`${backend.url}/api/v1/session`, { headers: { cookie } })).json();
    expect(who).toMatchObject({ via: "cookie" });
    // The token's scopes, no more: read, not call.
    const call = await fetch(`${backend.url}/api/v1/devices/x/rpc/echo`, { method: "POST", headers: { cookie } });
    expect({ status: call.status, error: (await call.json()).error }).toEqual({ status: 403, error: "insufficient_scope" });
    const tampered = await fetch(`${backend.url}/api/v1/devices`, { headers: { cookie: `${cookie.slice(0, -2)}xx` } });
    expect(tampered.status).toBe(401);
  });

  it("refuses a bad signature, a wrong audience, a wrong issuer, an expired token and one without a subject: 401, each named", async () => {
    const claims = { sub: "mallory", scope: "read" };
    const cases: [string, string][] = [
      [await token(stranger.privateKey, claims), "jwt_bad_signature"],
      [await token(issuer.privateKey, claims, { aud: "another-service" }), "jwt_wrong_audience"],
      [await token(issuer.privateKey, claims, { iss: "https://evil.example/" }), "jwt_wrong_issuer"],
      [await token(issuer.privateKey, claims, { exp: Math.floor(Date.now() / 1000) - 120 }), "jwt_expired"],
      [await token(issuer.privateKey, { scope: "read" }), "jwt_no_subject"],
    ];
    for (const [t, error] of cases) {
      const res = await fetch(`${backend.url}/api/v1/devices`, { headers: { authorization: as(t) } });
      expect({ error, got: (await res.json()).error, status: res.status }).toEqual({ error, got: error, status: 401 });
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="outpost"');
    }
    // A tampered payload with the original signature.
    const good = await token(issuer.privateKey, { sub: "alice", scope: "read" });
    const [h, , s] = good.split(".");
    expectError(
      await api("/api/v1/devices", {}, as(`${h}.${b64({ sub: "alice", scope: "admin", iss: ISSUER, aud: AUDIENCE })}.${s}`)),
      401,
      "jwt_bad_signature",
    );
  });

  it("refuses forgeries that rely on the algorithm: alg none, and HS256 keyed with the public key", async () => {
    const payload = b64({ sub: "eve", scope: "admin", iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 });
    const none = `${b64({ alg: "none" })}.${payload}.`;
    expect((await api("/api/v1/keys", {}, as(none))).status).toBe(401);
    const pem = await exportSPKI(issuer.publicKey);
    const head = b64({ alg: "HS256" });
    const mac = createHmac("sha256", pem).update(`${head}.${payload}`).digest("base64url");
    expectError(await api("/api/v1/keys", {}, as(`${head}.${payload}.${mac}`)), 401, "jwt_algorithm_not_allowed");
  });

  it("malformed tokens are a named 401, never a 500", async () => {
    for (const t of ["a.b.c", `x.${b64({})}.y`, `${b64({ alg: "RS256", crit: ["zip"] })}.${b64({})}.c2ln`])
      expectError(await api("/api/v1/devices", {}, as(t)), 401, "jwt_malformed");
    // The signature is checked before the payload is read: junk after a good header is a bad signature.
    for (const t of [`${b64({ alg: "RS256" })}.not-json.sig`, `${b64({ alg: "RS256" })}.${b64({ sub: "x" })}.`])
      expectError(await api("/api/v1/devices", {}, as(t)), 401, "jwt_bad_signature");
  });

  it("the audit log names the token's subject", async () => {
    const t = await token(issuer.privateKey, { sub: "auditor", scope: "read" });
    await api("/api/v1/devices/x/rpc/echo", { method: "POST" }, as(t));
    const { records } = backend.registry.audit.query({ actor: "auditor" });
    expect(records[0]).toMatchObject({ kind: "refused", actor_kind: "jwt", outcome: "insufficient_scope", status: 403 });
    expect(JSON.stringify(backend.registry.audit.query({}))).not.toContain(t.split(".")[2]);
  });
});

describe("with a JWKS served over HTTP", () => {
  let backend: Backend;
  let jwksServer: Server;
  let jwksPort: number;
  let ec: Keys;
  let rsa: Keys;
  let served = 0;
  const api = apiClient(
    () => backend.url,
    () => null,
  );

  beforeAll(async () => {
    ec = await generateKeyPair("ES256");
    rsa = await generateKeyPair("RS256");
    const keys = [
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
    ];
    jwksServer = createServer((req, res) => {
      served++;
      if (req.url !== "/.well-known/jwks.json") return res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
    });
    jwksPort = await freePort();
    await new Promise<void>((r) => jwksServer.listen(jwksPort, "127.0.0.1", r));
    backend = await startTestBackend("jwt-jwks", {
      jwt: {
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUrl: `http://127.0.0.1:${jwksPort}/.well-known/jwks.json`,
        scopeClaim: "realm_access.roles",
        scopeMap: { "outpost-ops": ["read", "call"], "outpost-admins": ["admin"] },
      },
    });
  });
  afterAll(async () => {
    await backend.close();
    await new Promise((r) => jwksServer.close(r));
  });

  it("verifies tokens from each key of the set (by kid), mapping a nested claim to scopes", async () => {
    const ops = await token(ec.privateKey, { sub: "ops-bot", realm_access: { roles: ["outpost-ops", "read"] } }, { alg: "ES256", kid: "ec-1" });
    expect((await api("/api/v1/devices", {}, `Bearer ${ops}`)).status).toBe(200);
    expect((await api("/api/v1/keys", {}, `Bearer ${ops}`)).status).toBe(403); // "read" alone maps to nothing: the map decides
    const adm = await token(rsa.privateKey, { sub: "root", realm_access: { roles: ["outpost-admins"] } }, { kid: "rsa-1" });
    expect((await api("/api/v1/keys", {}, `Bearer ${adm}`)).status).toBe(200);
    expect(served).toBeGreaterThanOrEqual(1);
  });

  it("a token whose key is not in the set is 401 jwt_unknown_key; a bad signature and a wrong audience are refused too", async () => {
    const other = await generateKeyPair("ES256");
    const roles = { sub: "x", realm_access: { roles: ["outpost-ops"] } };
    expectError(await api("/api/v1/devices", {}, `Bearer ${await token(other.privateKey, roles, { alg: "ES256", kid: "ec-2" })}`), 401, "jwt_unknown_key");
    expectError(await api("/api/v1/devices", {}, `Bearer ${await token(other.privateKey, roles, { alg: "ES256", kid: "ec-1" })}`), 401, "jwt_bad_signature");
    expectError(
      await api("/api/v1/devices", {}, `Bearer ${await token(ec.privateKey, roles, { alg: "ES256", kid: "ec-1", aud: "nope" })}`),
      401,
      "jwt_wrong_audience",
    );
  });

  it("an issuer whose JWKS cannot be fetched gives 503 jwks_unavailable, not a 401 that blames the caller", async () => {
    const port = await freePort(); // nothing listens there
    const b = await startTestBackend("jwt-down", { jwt: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: `http://127.0.0.1:${port}/jwks` } });
    try {
      const t = await token(ec.privateKey, { sub: "x", scope: "read" }, { alg: "ES256", kid: "ec-1" });
      expectError(
        await apiClient(
          () => b.url,
          () => `Bearer ${t}`,
        )("/api/v1/devices"),
        503,
        "jwks_unavailable",
      );
    } finally {
      await b.close();
    }
  });
});

describe("configuration", () => {
  it("refuses what could never verify a token, at startup", async () => {
    expect(() => createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE })).toThrow(InvalidJwtConfig);
    expect(() => createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE, publicKey: "not a key" })).toThrow(/not a PEM public key/);
    expect(() => createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: "ftp://x/jwks" })).toThrow(/https/);
    expect(() => createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: "http://x/", scopeMap: { a: ["root" as never] } })).toThrow(/unknown scope/);
    await expect(startTestBackend("jwt-bad", { jwt: { issuer: ISSUER, audience: "", jwksUrl: "http://x/" } })).rejects.toThrow(/audience/);
    expect(() => jwtConfig({ jwtIssuer: ISSUER, jwtScopeClaim: "scope" })).toThrow(/--jwt-audience/);
    expect(() => jwtConfig({ jwtAudience: AUDIENCE, jwtScopeClaim: "scope" })).toThrow(/need --jwt-issuer/);
    expect(() => jwtConfig({ jwtIssuer: ISSUER, jwtAudience: AUDIENCE, jwtScopeClaim: "scope" })).toThrow(/exactly one/);
    expect(parseScopeMap("ops=read+call,admins=admin")).toEqual({ ops: ["read", "call"], admins: ["admin"] });
    expect(() => parseScopeMap("ops=read+sudo")).toThrow(/unknown scope "sudo"/);
  });
});
