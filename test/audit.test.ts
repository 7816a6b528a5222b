// Callers (issue 15): the audit log. Every call with who, which device and method, when and the outcome; changes;
// refused callers; device connects, disconnects and refused logins (MQTT and WebSocket) with their reason. Queryable
// over REST (filters, cursor paging) and the CLI, bounded in rows, and never holding a secret.
import type { SqliteDatabase } from "../host/registry/sql.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { WebSocket } from "ws";
import type { Backend } from "../host/server/backend.ts";
import { Device, RpcError } from "../host/device.ts";
import { Registry } from "../host/registry/registry.ts";
import type { AuditQuery, AuditRecord } from "../host/registry/audit.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

let backend: Backend;
let adminKey: string;
let callerKey: string;
let readerKey: string;
let credential: string;
let device: Device;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${adminKey}`,
);

/** The newest record matching `q` and `match`, once the backend has written it (after the answer went out). */
async function recorded(q: AuditQuery, match: Partial<AuditRecord>): Promise<AuditRecord> {
  let found: AuditRecord | undefined;
  await waitFor(() => {
    found = backend.registry.audit.query({ ...q, limit: 1000 }).records.find((r) => Object.entries(match).every(([k, v]) => r[k as keyof AuditRecord] === v));
    return found !== undefined;
  });
  return found!;
}

beforeAll(async () => {
  backend = await startTestBackend("audit");
  adminKey = backend.registry.createApiKey({ name: "ops-admin" }).key;
  callerKey = backend.registry.createApiKey({ name: "billing-service", scopes: ["call"] }).key;
  readerKey = backend.registry.createApiKey({ name: "dashboard", scopes: ["read"] }).key;
  const created = await api("/api/v1/devices", { method: "POST", json: { id: "meter-1" } });
  expect(created.status).toBe(201);
  credential = created.body.credential;
  device = new Device({
    id: "meter-1",
    methods: {
      fail: () => {
        throw new RpcError(-32001, "sensor unplugged");
      },
    },
  });
  await device.connect(backend.mqttUrl, { password: credential, reconnect: { minMs: 50, maxMs: 200 } });
  await waitFor(() => backend.presence.isOnline("meter-1"));
});
afterAll(async () => {
  await device.close();
  await backend.close();
});

describe("what is recorded", () => {
  it("a call: the key's name, the device, the method, the time and the outcome", async () => {
    const before = Date.now();
    const call = apiClient(
      () => backend.url,
      () => `Bearer ${callerKey}`,
    );
    expect((await call("/api/v1/devices/meter-1/rpc/echo", { method: "POST", json: ["hi"] })).status).toBe(200);
    const r = await recorded({ kind: "call" }, { method: "echo" });
    expect(r).toMatchObject({ actor: "billing-service", actor_kind: "key", device: "meter-1", status: 200, outcome: "ok", peer: "127.0.0.1" });
    expect(r.at).toBeGreaterThanOrEqual(before);
    await call("/api/v1/devices/meter-1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "fail" } });
    await recorded({ kind: "call" }, { method: "fail", outcome: "rpc_error", status: 200 });
    await call("/api/v1/devices/meter-1/rpc", { method: "POST", json: { jsonrpc: "2.0", method: "echo" } });
    await recorded({ kind: "call" }, { method: "echo", outcome: "accepted", status: 202 });
    await api("/api/v1/devices", { method: "POST", json: { id: "asleep" } });
    await call("/api/v1/devices/asleep/rpc/echo", { method: "POST" });
    await recorded({ kind: "call", device: "asleep" }, { outcome: "device_offline", status: 503 });
  });

  it("a change: who made it and what it was", async () => {
    expect((await recorded({ kind: "change" }, { device: "meter-1" })).method).toBe("POST /api/v1/devices");
    await api("/api/v1/keys", { method: "POST", json: { name: "temp" } });
    await api("/api/v1/keys/temp", { method: "DELETE" });
    await recorded({ kind: "change", actor: "ops-admin" }, { method: "DELETE /api/v1/keys/:key", status: 200, outcome: "ok" });
  });

  it("a refused caller, with the reason: a wrong key, a scope it lacks", async () => {
    await apiClient(
      () => backend.url,
      () => "Bearer opk_0123456789abcdef_wrongwrongwrongwrong",
    )("/api/v1/devices");
    await recorded({ kind: "refused" }, { outcome: "forbidden", status: 403, actor: null });
    await apiClient(
      () => backend.url,
      () => `Bearer ${readerKey}`,
    )("/api/v1/devices/meter-1/rpc/echo", { method: "POST" });
    const r = await recorded({ kind: "refused", actor: "dashboard" }, { outcome: "insufficient_scope" });
    expect(r).toMatchObject({ device: "meter-1", method: "POST /api/v1/devices/:id/rpc/:method", status: 403 });
  });

  it("device connects and disconnects, and refused MQTT and WebSocket logins with their reason", async () => {
    await recorded({ device: "meter-1" }, { kind: "connect", detail: "mqtt", actor_kind: "device" });
    const wrong = mqtt.connect(backend.mqttUrl, { clientId: "meter-1", username: "meter-1", password: "not-it", reconnectPeriod: 0 });
    wrong.on("error", () => {});
    await recorded({ kind: "login_refused" }, { device: "meter-1", outcome: "BadCredential", detail: "mqtt" });
    wrong.end(true);
    const ws = new WebSocket(`${backend.url.replace("http", "ws")}/api/v1/devices/ws`, { headers: { authorization: "Bearer meter-1:not-it" } });
    ws.on("error", () => {});
    await recorded({ kind: "login_refused" }, { device: "meter-1", outcome: "BadCredential", detail: "ws" });
    const anonymous = new WebSocket(`${backend.url.replace("http", "ws")}/api/v1/devices/ws`);
    anonymous.on("error", () => {});
    await recorded({ kind: "login_refused" }, { outcome: "CredentialMissing", detail: "ws" });
    const other = new Device({ id: "meter-2" });
    const made = await api("/api/v1/devices", { method: "POST", json: { id: "meter-2" } });
    await other.connect(backend.mqttUrl, { password: made.body.credential });
    await recorded({ device: "meter-2" }, { kind: "connect" });
    await other.close();
    await recorded({ device: "meter-2" }, { kind: "disconnect", detail: "mqtt" });
  });

  it("never a secret: no API key, no device credential, even one a caller puts in a method name", async () => {
    const call = apiClient(
      () => backend.url,
      () => `Bearer ${callerKey}`,
    );
    await call(`/api/v1/devices/meter-1/rpc/${callerKey}`, { method: "POST" });
    const r = await recorded({ kind: "call" }, { method: `opk_${callerKey.split("_")[1]}_***` });
    expect(r.device).toBe("meter-1");
    const all = JSON.stringify(backend.registry.db.prepare("SELECT * FROM audit").all());
    for (const secret of [adminKey, callerKey, readerKey].map((k) => k.slice(21)).concat(credential)) expect(all).not.toContain(secret);
  });
});

describe("GET /api/v1/audit", () => {
  it("filters by device, actor, kind and since, newest first, and pages by cursor to the end", async () => {
    const byDevice = await api("/api/v1/audit?device=meter-1&kind=call&actor=billing-service");
    expect(byDevice.status).toBe(200);
    expect(byDevice.body.records.length).toBeGreaterThan(2);
    for (const r of byDevice.body.records) expect(r).toMatchObject({ device: "meter-1", kind: "call", actor: "billing-service", at: expect.any(String) });
    const ids = byDevice.body.records.map((r: { id: number }) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const seen: number[] = [];
    let cursor: number | null = null;
    do {
      const page = await api(`/api/v1/audit?device=meter-1&kind=call&actor=billing-service&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.body.records.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.records.map((r: { id: number }) => r.id));
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(ids);
    const future = await api(`/api/v1/audit?since=${new Date(Date.now() + 60_000).toISOString()}`);
    expect(future.body).toEqual({ records: [], next_cursor: null });
  });

  it("refuses bad filters with a named 400, and callers without the admin scope with 403", async () => {
    const bad: [string, string][] = [
      ["kind=nope", "bad_filter"],
      ["since=yesterday", "bad_filter"],
      [`device=${"d".repeat(201)}`, "bad_filter"],
      ["cursor=abc", "bad_cursor"],
      ["cursor=-1", "bad_cursor"],
      ["limit=0", "bad_limit"],
      ["limit=1001", "bad_limit"],
      ["limit=1e3", "bad_limit"],
    ];
    for (const [q, error] of bad) {
      const res = await api(`/api/v1/audit?${q}`);
      expect({ q, status: res.status, error: res.body.error }).toEqual({ q, status: 400, error });
    }
    const reader = await apiClient(
      () => backend.url,
      () => `Bearer ${readerKey}`,
    )("/api/v1/audit");
    expect({ status: reader.status, error: reader.body.error, scope: reader.body.scope }).toEqual({ status: 403, error: "insufficient_scope", scope: "admin" });
  });
});

describe("bounded", () => {
  it("keeps at most maxRows rows: the oldest go first", () => {
    const registry = new Registry(mkdtempSync(join(tmpdir(), "outpost-auditcap-")), { auditMaxRows: 50 });
    try {
      for (let i = 0; i < 1234; i++) registry.audit.record({ kind: "call", actor: "flood", device: `d${i}`, method: "m", outcome: "ok" });
      expect(registry.audit.count()).toBe(50);
      const { records } = registry.audit.query({ limit: 1000 });
      expect(records.map((r) => r.device)).toEqual(Array.from({ length: 50 }, (_, i) => `d${1233 - i}`));
      // A hostile field is cut, not stored whole.
      registry.audit.record({ kind: "refused", actor: "x".repeat(100_000), outcome: "y".repeat(5000) });
      const [last] = registry.audit.query({ limit: 1 }).records;
      expect(last.actor!.length).toBeLessThanOrEqual(201);
      expect(last.outcome.length).toBeLessThanOrEqual(201);
    } finally {
      registry.close();
    }
  });
});

describe("outpost audit", () => {
  it("prints the records, filtered, as JSON or lines; a bad filter is one line and exit 1", async () => {
    backend.registry.audit.flush();
    const data = (backend.registry.db as SqliteDatabase).raw.name.replace(/\/outpost\.db$/, "");
    const out = await run("node", ["bin/outpost.js", "audit", "--data", data, "--kind", "login_refused", "--json"], { cwd: root });
    const page = JSON.parse(out.stdout);
    expect(page.records.length).toBeGreaterThan(0);
    for (const r of page.records) expect(r.kind).toBe("login_refused");
    const lines = await run("node", ["bin/outpost.js", "audit", "--data", data, "--actor", "billing-service", "--limit", "1"], { cwd: root });
    expect(lines.stdout).toMatch(/^\S+\tcall\tbilling-service\tmeter-1\t/);
    expect(lines.stdout).toMatch(/\(more: --cursor \d+\)/);
    const bad = await run("node", ["bin/outpost.js", "audit", "--data", data, "--kind", "everything"], { cwd: root }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^outpost: --kind must be one of/);
  });
});
