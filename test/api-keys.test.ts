// Callers (issue 15): API keys with names, scopes and expiry, revoked and rotated over REST and the CLI; every
// /api/v1 route declares its scope and a route without one is refused; keys from an old data directory keep working;
// npm start's demo key is made once and reused.
import type { SqliteDatabase } from "../host/registry/sql.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { pino } from "pino";
import type { FastifyInstance } from "fastify";
import type { Backend } from "../host/server/backend.ts";
import { buildApp } from "../host/server/app.ts";
import { createMetrics } from "../host/server/metrics.ts";
import { principalOf } from "../host/server/auth.ts";
import { Registry } from "../host/registry/registry.ts";
import { hashSecret } from "../host/registry/secrets.ts";
import { demoKey, demoKeyPath } from "../host/cli/demo-key.ts";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { apiClient, startTestBackend } from "./support/api.ts";
import { freePort } from "./support/mosquitto.ts";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const FAST = { N: 1024, r: 8, p: 1 };

let backend: Backend;
let admin: string;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${admin}`,
);
const as = (key: string) => `Bearer ${key}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectError(res: { status: number; body: { error: string; message: string } }, status: number, error: string) {
  expect({ status: res.status, error: res.body?.error }).toEqual({ status, error });
  expect(typeof res.body.message).toBe("string");
  return res.body;
}

beforeAll(async () => {
  backend = await startTestBackend("keys");
  admin = backend.registry.createApiKey({ name: "root" }).key;
});
afterAll(async () => {
  await backend.close();
});

describe("scopes", () => {
  it("a read key reads, and is refused a call, a change and the key list with 403 insufficient_scope naming the scope", async () => {
    const { key } = backend.registry.createApiKey({ name: "reader", scopes: ["read"] });
    expect((await api("/api/v1/devices", {}, as(key))).status).toBe(200);
    const call = await fetch(`${backend.url}/api/v1/devices/x/rpc/echo`, { method: "POST", headers: { authorization: as(key) } });
    expect(call.status).toBe(403);
    expect(call.headers.get("www-authenticate")).toBe('Bearer realm="outpost", error="insufficient_scope", scope="call"');
    expect(await call.json()).toMatchObject({ error: "insufficient_scope", scope: "call" });
    const change = await api("/api/v1/devices", { method: "POST", json: { id: "nope" } }, as(key));
    expect(expectError(change, 403, "insufficient_scope")).toMatchObject({ scope: "admin" });
    expect(change.body.message).toContain("reader");
    expect(backend.registry.getDevice("nope")).toBeUndefined(); // refused before the route ran
    expect(expectError(await api("/api/v1/keys", {}, as(key)), 403, "insufficient_scope")).toMatchObject({ scope: "admin" });
  });

  it("a call key calls (the device is unknown: 404 from the route itself) and cannot read or manage", async () => {
    const { key } = backend.registry.createApiKey({ name: "caller", scopes: ["call"] });
    expectError(await api("/api/v1/devices/ghost/rpc/echo", { method: "POST" }, as(key)), 404, "unknown_device");
    expect(expectError(await api("/api/v1/devices", {}, as(key)), 403, "insufficient_scope")).toMatchObject({ scope: "read" });
    expect(expectError(await api("/api/v1/devices/ghost/events", {}, as(key)), 403, "insufficient_scope")).toMatchObject({ scope: "read" });
  });

  it("a key with no scopes is refused everywhere", async () => {
    const { key } = backend.registry.createApiKey({ name: "nothing", scopes: [] });
    expect(expectError(await api("/api/v1/devices", {}, as(key)), 403, "insufficient_scope").message).toContain("no scopes");
  });

  it("a route that declares no scope is refused to every caller (fail closed); a misspelt scope stops the app from starting", async () => {
    const registry = new Registry(mkdtempSync(join(tmpdir(), "outpost-undeclared-")), { keyCost: FAST });
    const deps = {
      registry,
      presence: {} as never,
      correlator: {} as never,
      disconnectDevice: async () => {},
      metrics: createMetrics({ devicesOnline: () => 0, devicesRegistered: () => 0, rpcInFlight: () => 0, answersReceived: () => 0 }),
      logger: pino({ level: "silent" }),
      telemetry: {} as never,
      events: {} as never,
      paramSchemas: {} as never,
      sessions: {} as never,
    };
    let ran = 0;
    const app = await buildApp({
      ...deps,
      plugins: [
        async (api: FastifyInstance) => {
          api.get("/forgot", async () => ++ran);
          api.get("/declared", { config: { scope: "ota" } }, async (req) => principalOf(req));
        },
      ],
    });
    const { key } = registry.createApiKey({ name: "everything" });
    const forgot = await app.inject({ url: "/api/v1/forgot", headers: { authorization: as(key) } });
    expect(forgot.statusCode).toBe(403);
    expect(forgot.json().error).toBe("scope_undeclared");
    expect(ran).toBe(0);
    const declared = await app.inject({ url: "/api/v1/declared", headers: { authorization: as(key) } });
    expect(declared.json()).toMatchObject({ kind: "key", name: "everything", scopes: ["read", "call", "admin", "ota"] });
    await app.close();
    await expect(
      buildApp({ ...deps, plugins: [async (api: FastifyInstance) => void api.get("/typo", { config: { scope: "raed" as never } }, async () => 1)] }),
    ).rejects.toThrow(/declares scope "raed"/);
    registry.close();
  });
});

describe("the session hook (the dashboard's way in)", () => {
  it("a request without Authorization is resolved by the hook, scoped and audited like a key; no session is 401", async () => {
    const b = await startTestBackend("session", {
      session: (req) => (req.headers.cookie === "sid=good" ? { kind: "session", name: "web:alice", scopes: ["read"], expiresAt: null } : undefined),
    });
    try {
      const get = (path: string, headers: Record<string, string>, method = "GET") => fetch(`${b.url}${path}`, { method, headers });
      expect((await get("/api/v1/devices", { cookie: "sid=good" })).status).toBe(200);
      const refused = await get("/api/v1/devices/x", { cookie: "sid=good" }, "DELETE");
      expect(refused.status).toBe(403);
      expect((await refused.json()).error).toBe("insufficient_scope");
      expect((await get("/api/v1/devices", { cookie: "sid=bad" })).status).toBe(401);
      b.registry.audit.flush();
      await new Promise((r) => setTimeout(r, 100));
      expect(b.registry.audit.query({ actor: "web:alice" }).records[0]).toMatchObject({
        kind: "refused",
        actor_kind: "session",
        outcome: "insufficient_scope",
      });
    } finally {
      await b.close();
    }
  });
});

describe("expiry, revocation, rotation", () => {
  it("an expired key is refused with 403 key_expired, also on a connection that used it a moment before", async () => {
    const { key } = backend.registry.createApiKey({ name: "short", scopes: ["read"], expiresAt: Date.now() + 400 });
    expect((await api("/api/v1/devices", {}, as(key))).status).toBe(200);
    await sleep(450);
    expect(expectError(await api("/api/v1/devices", {}, as(key)), 403, "key_expired").message).toContain("short");
  });

  it("a revoked key is refused at once with 403 key_revoked; its name may be used again", async () => {
    const made = await api("/api/v1/keys", { method: "POST", json: { name: "ci", scopes: ["read", "call"] } });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: "ci", scopes: ["read", "call"], expires_at: null, revoked_at: null });
    const key = made.body.key as string;
    expect((await api("/api/v1/devices", {}, as(key))).status).toBe(200);
    const revoked = await api("/api/v1/keys/ci", { method: "DELETE" });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toEqual(expect.any(String));
    expectError(await api("/api/v1/devices", {}, as(key)), 403, "key_revoked");
    const again = await api("/api/v1/keys", { method: "POST", json: { name: "ci" } });
    expect(again.status).toBe(201);
    expectError(await api("/api/v1/devices", {}, as(key)), 403, "key_revoked"); // the old one stays revoked
  });

  it("rotation: a new secret for the same key; the old one works for the grace period, then 403 key_rotated", async () => {
    await api("/api/v1/keys", { method: "POST", json: { name: "rot", scopes: ["read"] } }).then((r) => expect(r.status).toBe(201));
    const first = (await api("/api/v1/keys/rot/rotate", { method: "POST", json: { grace_seconds: 0 } })).body.key as string; // the secret we hold
    const rotated = await api("/api/v1/keys/rot/rotate", { method: "POST", json: { grace_seconds: 1 } });
    expect(rotated.status).toBe(200);
    const second = rotated.body.key as string;
    expect(second.split("_")[1]).toBe(first.split("_")[1]); // same id, same name: the audit log follows one key
    expect(Date.parse(rotated.body.previous_valid_until)).toBeGreaterThan(Date.now());
    expect((await api("/api/v1/devices", {}, as(first))).status).toBe(200); // in its grace period
    expect((await api("/api/v1/devices", {}, as(second))).status).toBe(200);
    await sleep(1100);
    expect(expectError(await api("/api/v1/devices", {}, as(first)), 403, "key_rotated").message).toContain("rot");
    expect((await api("/api/v1/devices", {}, as(second))).status).toBe(200);
    // Rotating without a grace period (a leaked key) refuses the old secret at once; no body means the default.
    const third = (await api("/api/v1/keys/rot/rotate", { method: "POST", json: { grace_seconds: 0 } })).body.key as string;
    expectError(await api("/api/v1/devices", {}, as(second)), 403, "key_rotated");
    expect((await api("/api/v1/devices", {}, as(third))).status).toBe(200);
    const byDefault = await api("/api/v1/keys/rot/rotate", { method: "POST" });
    expect(Date.parse(byDefault.body.previous_valid_until) - Date.now()).toBeGreaterThan(59 * 60 * 1000);
  });

  it("lists keys without their secrets or hashes", async () => {
    const listed = await api("/api/v1/keys");
    expect(listed.status).toBe(200);
    expect(listed.body.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(["root", "reader", "ci", "rot"]));
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(admin.slice(21));
    expect(text).not.toMatch(/scrypt|"key"|hash/);
  });
});

describe("hostile input: each a named 400, 401, 404 or 409", () => {
  it("key management refuses oversize and malformed names, unknown scopes, bad expiry, bad grace and duplicates", async () => {
    const post = (json: unknown) => api("/api/v1/keys", { method: "POST", json });
    expectError(await post({ name: "x".repeat(65) }), 400, "invalid_key_name");
    expectError(await post({ name: "a b" }), 400, "invalid_key_name");
    expectError(await post({ name: "0123456789abcdef" }), 400, "invalid_key_name"); // would read as an id
    expectError(await post({ name: 7 }), 400, "bad_request");
    expect(expectError(await post({ scopes: ["read", "sudo"] }), 400, "invalid_scope").message).toContain('"sudo"');
    expectError(await post({ scopes: Array(17).fill("read") }), 400, "bad_request");
    expectError(await post({ expires_at: "tomorrow" }), 400, "bad_expiry");
    expectError(await post({ expires_at: "2001-01-01T00:00:00Z" }), 400, "bad_expiry");
    expectError(await post({ owner: "me" }), 400, "bad_request");
    expectError(await post({ name: "root" }), 409, "key_exists");
    expectError(await api("/api/v1/keys/nobody", { method: "DELETE" }), 404, "unknown_key");
    expectError(await api("/api/v1/keys/root/rotate", { method: "POST", json: { grace_seconds: -1 } }), 400, "bad_grace");
    expectError(await api("/api/v1/keys/root/rotate", { method: "POST", json: { grace_seconds: 31 * 86400 } }), 400, "bad_grace");
    expectError(await api("/api/v1/keys/root/rotate", { method: "POST", json: [1] }), 400, "bad_grace");
  });

  it("malformed credentials are 401 with a named error, before the body is read", async () => {
    for (const auth of ["Bearer a.b", "Bearer opk_0123_short", "Bearer " + "x".repeat(10_000), "Token abc"])
      expectError(await api("/api/v1/devices", {}, auth), 401, "unauthorized");
    // JWT-shaped, but this backend has no issuer configured.
    expectError(await api("/api/v1/devices", {}, "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), 401, "jwt_not_accepted");
    expectError(await api("/api/v1/devices", {}, `Bearer ${"a".repeat(9000)}.b.c`), 401, "unauthorized"); // too long to be a JWT
  });
});

describe("an old data directory", () => {
  it("keeps its keys working: each gets the name key-<id> and every scope", async () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-oldkeys-"));
    const db = new Database(join(dir, "outpost.db"));
    db.exec("CREATE TABLE api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL, created_at INTEGER NOT NULL)");
    const old = "opk_00112233445566aa_oldoldoldoldoldoldold";
    db.prepare("INSERT INTO api_keys VALUES (?, ?, ?)").run("00112233445566aa", hashSecret(old, FAST), 1);
    db.close();
    const b = await startTestBackend("oldkeys", { dataDir: dir });
    try {
      expect(b.registry.apiKeys.get("00112233445566aa")).toMatchObject({ name: "key-00112233445566aa", scopes: ["read", "call", "admin", "ota"] });
      const res = await fetch(`${b.url}/api/v1/keys`, { headers: { authorization: as(old) } });
      expect(res.status).toBe(200);
      expect(JSON.stringify(await res.json())).not.toContain("oldoldold");
    } finally {
      await b.close();
    }
    const reopened = new Registry(dir); // opening again changes nothing
    expect(reopened.apiKeys.list()).toHaveLength(1);
    reopened.close();
  });
});

describe("the CLI", () => {
  it("creates a scoped, expiring key, lists, rotates and revokes it; a running server follows within a second", async () => {
    const data = (backend.registry.db as SqliteDatabase).raw.name.replace(/\/outpost\.db$/, "");
    const outpost = (...args: string[]) => run("node", ["bin/outpost.js", ...args, "--data", data], { cwd: root }).then((r) => r.stdout);
    const made = JSON.parse(await outpost("key", "create", "--name", "cli-ci", "--scope", "read", "--expires", "30d", "--json"));
    expect(made).toMatchObject({ name: "cli-ci", scopes: ["read"] });
    expect(Date.parse(made.expires_at) - Date.now()).toBeGreaterThan(29 * 86400_000);
    expect((await api("/api/v1/devices", {}, as(made.key))).status).toBe(200);
    expect(JSON.parse(await outpost("key", "list", "--json")).find((k: { name: string }) => k.name === "cli-ci")).toMatchObject({ id: made.id });
    const rotated = JSON.parse(await outpost("key", "rotate", "cli-ci", "--grace", "0s", "--json"));
    await outpost("key", "revoke", rotated.id);
    await sleep(1100);
    expectError(await api("/api/v1/devices", {}, as(rotated.key)), 403, "key_revoked");
    const bad = await run("node", ["bin/outpost.js", "key", "create", "--scope", "read,root", "--data", data], { cwd: root }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown scope "root"');
  });
});

describe("npm start's demo key", () => {
  it("is made once, kept 0600, reused at the next start, and made again only when it no longer works", async () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-demokey-"));
    const registry = new Registry(dir, { keyCost: FAST });
    try {
      const first = await demoKey(registry, dir);
      expect(first.fresh).toBe(true);
      expect(statSync(demoKeyPath(dir)).mode & 0o777).toBe(0o600);
      expect(readFileSync(demoKeyPath(dir), "utf8").trim()).toBe(first.key);
      const second = await demoKey(registry, dir);
      expect(second).toEqual({ ...first, fresh: false });
      expect(registry.apiKeys.list().filter((k) => k.name === "demo")).toHaveLength(1);
      registry.apiKeys.revoke("demo");
      const third = await demoKey(registry, dir);
      expect(third.fresh).toBe(true);
      expect(third.key).not.toBe(first.key);
      expect(await registry.verifyApiKey(third.key)).toBe(true);
    } finally {
      registry.close();
    }
  });
});

describe("outpost serve --demo, started twice", () => {
  /** Runs serve until it prints its curl command; returns what it printed and a stop function. */
  async function serve(data: string, env: Record<string, string> = {}) {
    const args = ["bin/outpost.js", "serve", "--demo", "--port", String(await freePort()), "--mqtt-port", String(await freePort()), "--data", data];
    const child = spawn("node", args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    while (!/^\s+curl .*$/m.test(out)) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${out}${err}`);
      await sleep(50);
    }
    const stop = async () => {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    };
    return { out, logs: () => err, stop, curl: /^\s+(curl .*)$/m.exec(out)![1], url: /REST API\s+(\S+)\/api\/v1/.exec(out)![1] };
  }

  it("the second start reuses the first start's key, never prints it again, and its curl works as printed; JWT settings come from the environment", async () => {
    const data = mkdtempSync(join(tmpdir(), "outpost-serve-twice-"));
    const first = await serve(data);
    const key = /API key\s+(opk_\S+)/.exec(first.out)![1];
    await first.stop();
    const issuer = await generateKeyPair("ES256");
    const pem = join(data, "issuer.pem");
    writeFileSync(pem, await exportSPKI(issuer.publicKey));
    const second = await serve(data, {
      OUTPOST_JWT_ISSUER: "https://id.example/",
      OUTPOST_JWT_AUDIENCE: "outpost",
      OUTPOST_JWT_PUBLIC_KEY_FILE: pem,
    });
    try {
      expect(second.out).not.toContain(key.slice(21));
      expect(second.out).toContain(demoKeyPath(data));
      const { stdout } = await run("sh", ["-c", second.curl]);
      expect(JSON.parse(stdout)).toEqual({ jsonrpc: "2.0", id: 1, result: ["hello from outpost"] });
      expect((await fetch(`${second.url}/api/v1/devices`, { headers: { authorization: as(key) } })).status).toBe(200); // the first start's key
      const jwt = await new SignJWT({ sub: "ci", scope: "read" })
        .setProtectedHeader({ alg: "ES256" })
        .setIssuer("https://id.example/")
        .setAudience("outpost")
        .setExpirationTime("1m")
        .sign(issuer.privateKey);
      expect((await fetch(`${second.url}/api/v1/devices`, { headers: { authorization: as(jwt) } })).status).toBe(200);
      expect(second.logs()).not.toContain(key.slice(21));
    } finally {
      await second.stop();
    }
  });
});
