// The backend pieces the dashboard stands on (issue 18): params checked against the device's rpc.list schema,
// one device's OpenAPI document, bounded telemetry history (boards publish it too), the fleet event stream with
// ids, Last-Event-ID resume and heartbeats, the browser session cookie, and the OpenAPI document's additions.
import { SqliteDatabase } from "../host/registry/sql.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../host/server/backend.ts";
import { Device, type Method } from "../host/device.ts";
import { TelemetryStore, TELEMETRY_MAX_AGE_MS, TELEMETRY_MAX_SAMPLES } from "../host/registry/telemetry.ts";
import { SessionStore } from "../host/registry/sessions.ts";
import { EventHub } from "../host/server/events.ts";
import { formatEvent } from "../host/server/sse.ts";
import Database from "better-sqlite3";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wasmBytes } from "../host/engine.ts";
import { OtaDevice } from "../host/ota/node-device.ts";
import { PROGRESS_EVERY_MS } from "../host/ota/updater.ts";
import { UPDATE_HISTORY_MAX, UpdateHistory } from "../host/registry/update-history.ts";
import { release, releaseKey } from "./support/ota.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { runBoard, type BoardProcess } from "./support/board.ts";
import { openSse, type SseReader } from "./support/sse.ts";

let backend: Backend;
let key: string;
const devices: Device[] = [];
const boards: BoardProcess[] = [];
const streams: SseReader[] = [];
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

const valveOpen = {
  handler: ({ n }: { n: number }) => ({ opened: n }),
  description: "Opens valve n",
  params: { type: "object", properties: { n: { type: "integer", minimum: 0 }, note: { type: "string" } }, required: ["n"], additionalProperties: false },
};
let valveCalls = 0;

async function addDevice(id: string, methods: Record<string, Method>): Promise<Device> {
  const created = await api("/api/v1/devices", { method: "POST", json: { id } });
  expect(created.status).toBe(201);
  const device = new Device({ id, methods });
  devices.push(device);
  await device.connect(backend.mqttUrl, { password: created.body.credential });
  await waitFor(() => backend.presence.isOnline(id));
  return device;
}

async function sse(path: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const s = await openSse(backend.url + path, { authorization: `Bearer ${key}`, ...headers });
  streams.push(s);
  return s;
}

beforeAll(async () => {
  backend = await startTestBackend("dash-backend", { sseHeartbeatMs: 100, releaseKeys: [releaseKey.publicKey] });
  key = backend.registry.createApiKey().key;
  await addDevice("valve1", {
    "valve.open": {
      ...valveOpen,
      handler: (p: { n: number }) => {
        valveCalls++;
        return valveOpen.handler(p);
      },
    },
  });
});

afterAll(async () => {
  for (const s of streams) s.close();
  for (const b of boards) await b.kill();
  for (const d of devices) await d.close();
  await backend.close();
});

describe("params checked against the device's rpc.list", () => {
  it("valve.open {n: 'x'} is a 400 that names n, and never reaches the device", async () => {
    const before = valveCalls;
    const res = await api("/api/v1/devices/valve1/rpc/valve.open", { method: "POST", json: { n: "x" } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: "invalid_params", field: "n", method: "valve.open" });
    expect(res.body.message).toMatch(/params\.n must be integer/);
    const missing = await api("/api/v1/devices/valve1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "valve.open", params: {} } });
    expect(missing).toMatchObject({ status: 400, body: { field: "n" } });
    const none = await api("/api/v1/devices/valve1/rpc/valve.open", { method: "POST" });
    expect(none).toMatchObject({ status: 400, body: { field: "n" } });
    const extra = await api("/api/v1/devices/valve1/rpc/valve.open", { method: "POST", json: { n: 1, colour: "red" } });
    expect(extra).toMatchObject({ status: 400, body: { field: "colour" } });
    const negative = await api("/api/v1/devices/valve1/rpc/valve.open", { method: "POST", json: { n: -1 } });
    expect(negative).toMatchObject({ status: 400, body: { field: "n" } });
    expect(valveCalls).toBe(before);
  });

  it("valid params run; methods without a schema and unlisted methods go to the device as before", async () => {
    const ok = await api("/api/v1/devices/valve1/rpc/valve.open", { method: "POST", json: { n: 3 } });
    expect(ok).toEqual({ status: 200, body: { jsonrpc: "2.0", id: null, result: { opened: 3 } } });
    const echo = await api("/api/v1/devices/valve1/rpc/echo", { method: "POST", json: ["anything", 1] });
    expect(echo.body.result).toEqual(["anything", 1]);
    const unknown = await api("/api/v1/devices/valve1/rpc/no.such", { method: "POST", json: {} });
    expect(unknown.body.error.code).toBe(-32601);
    // The module's built-ins list {"maxItems": 0}: params for them are refused here too.
    const info = await api("/api/v1/devices/valve1/rpc/sys.info", { method: "POST", json: [1] });
    expect(info).toMatchObject({ status: 400, body: { error: "invalid_params", field: "" } });
  });

  it("a device whose rpc.list schemas are hostile (not schemas, huge, $ref to nowhere) still takes its calls", async () => {
    await addDevice("odd1", {
      bad: { handler: () => "ran", params: { type: "no-such-type" } },
      ref: { handler: () => "ran", params: { $ref: "https://example.invalid/schema.json" } },
      big: { handler: () => "ran", params: { type: "object", description: "x".repeat(10_000) } },
    });
    for (const m of ["bad", "ref", "big"]) {
      const res = await api(`/api/v1/devices/odd1/rpc/${m}`, { method: "POST", json: { a: 1 } });
      expect(res, m).toMatchObject({ status: 200, body: { result: "ran" } });
    }
  });
});

describe("one device's OpenAPI document", () => {
  it("documents each method of rpc.list with its params schema, an operationId and the server", async () => {
    const res = await api("/api/v1/devices/valve1/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([{ url: backend.url }]);
    const op = doc.paths["/api/v1/devices/valve1/rpc/valve.open"].post;
    expect(op.operationId).toBe("valve_open");
    expect(op.summary).toBe("Opens valve n");
    expect(op.requestBody.content["application/json"].schema).toEqual(valveOpen.params);
    expect(op.responses["200"]).toBeDefined();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/v1/devices/valve1/rpc/rpc.list", "/api/v1/devices/valve1/rpc/sys.info"]));
  });

  it("404 for an unknown device, 503 while an offline one's methods are not known", async () => {
    expect((await api("/api/v1/devices/nobody/openapi.json")).status).toBe(404);
    await api("/api/v1/devices", { method: "POST", json: { id: "never-online" } });
    expect(await api("/api/v1/devices/never-online/openapi.json")).toMatchObject({ status: 503, body: { error: "methods_unknown" } });
  });
});

describe("the backend's OpenAPI document", () => {
  it("has servers, an operationId on every operation and a 2xx answer on every operation", async () => {
    const doc = await fetch(`${backend.url}/openapi.json`).then((r) => r.json());
    expect(doc.servers).toEqual([{ url: backend.url }]);
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z0-9_]+$/);
        expect(ids.has(op.operationId), op.operationId).toBe(false);
        ids.add(op.operationId);
        // Every operation says what success is: a 2xx, or for the WebSocket upgrade its 101.
        const success = Object.keys(op.responses).filter((c) => c.startsWith("2") || (path === "/api/v1/devices/ws" && c === "101"));
        expect(success.length, `${method} ${path}`).toBeGreaterThan(0);
      }
    }
    expect(ids).toContain("getDevicesByIdTelemetry");
    expect(doc.paths["/api/v1/devices/{id}/rpc"].post.responses["200"]).toBeDefined();
  });
});

describe("telemetry history", () => {
  it("keeps at most TELEMETRY_MAX_SAMPLES per device, nothing older than a day, one a second, nothing oversize", () => {
    const db = new SqliteDatabase(new Database(":memory:"));
    db.exec("CREATE TABLE devices (id TEXT PRIMARY KEY)");
    let now = 1_000_000_000_000;
    const store = new TelemetryStore(db, 60_000, () => now);
    try {
      for (let i = 0; i < TELEMETRY_MAX_SAMPLES + 500; i++) {
        expect(store.record("a", JSON.stringify({ i }))).toBe(true);
        expect(store.record("a", JSON.stringify({ again: i }))).toBe(false); // the same second
        now += 1000;
      }
      expect(store.count("a")).toBe(TELEMETRY_MAX_SAMPLES);
      const kept = store.since("a", 0);
      expect(kept[0].data).toEqual({ i: 500 }); // the oldest went first
      expect(kept.at(-1)!.data).toEqual({ i: TELEMETRY_MAX_SAMPLES + 499 });
      expect(store.record("a", "x".repeat(5000))).toBe(false);
      expect(store.record("b", "{not json")).toBe(false);
      store.record("b", "{}");
      now += TELEMETRY_MAX_AGE_MS + 1;
      store.record("b", '{"late":1}');
      store.flush();
      expect(store.since("b", 0).map((s) => s.data)).toEqual([{ late: 1 }]);
      db.exec("INSERT INTO devices VALUES ('b')");
      db.exec("DELETE FROM devices WHERE id = 'b'");
      expect(store.count("b")).toBe(0); // a removed device's history goes with it
    } finally {
      store.close();
      db.close();
    }
  });

  it("a POSIX board publishes telemetry (--telemetry) and GET /devices/:id/telemetry?since= returns it", async () => {
    const created = await api("/api/v1/devices", { method: "POST", json: { id: "board-t" } });
    const started = Date.now();
    const board = runBoard(["--id", "board-t", "--url", backend.mqttUrl, "--password", created.body.credential, "--telemetry", "300"]);
    boards.push(board);
    await waitFor(async () => (await api("/api/v1/devices/board-t/telemetry")).body.samples.length >= 2);
    const res = await api("/api/v1/devices/board-t/telemetry");
    expect(res.body.id).toBe("board-t");
    const [first, second] = res.body.samples;
    expect(first.data.board).toBe("posix");
    expect(Date.parse(second.at) - Date.parse(first.at)).toBeGreaterThanOrEqual(1000); // 300 ms apart, kept 1 a second
    const later = await api(`/api/v1/devices/board-t/telemetry?since=${encodeURIComponent(second.at)}`);
    expect(later.body.samples.every((s: { at: string }) => s.at > second.at)).toBe(true);
    const fromMs = await api(`/api/v1/devices/board-t/telemetry?since=${started - 1}`);
    expect(fromMs.body.samples.length).toBeGreaterThanOrEqual(2);
    expect(await api("/api/v1/devices/board-t/telemetry?since=yesterday")).toMatchObject({ status: 400, body: { error: "bad_since" } });
    expect((await api("/api/v1/devices/nobody/telemetry")).status).toBe(404);
    await board.kill();
  });

  it("posix --telemetry refuses a value that is not a number of milliseconds", async () => {
    const board = runBoard(["--id", "x", "--telemetry", "soon"]);
    expect((await board.exited).code).toBe(2);
    expect(board.stderr()).toMatch(/--telemetry must be/);
  });
});

describe("the fleet event stream", () => {
  it("carries presence with ids, heartbeats, and resumes after Last-Event-ID", async () => {
    const stream = await sse("/api/v1/events?types=presence");
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const created = await api("/api/v1/devices", { method: "POST", json: { id: "comer" } });
    const device = new Device({ id: "comer" });
    await device.connect(backend.mqttUrl, { password: created.body.credential });
    const online = await stream.next((e) => e.event === "presence" && JSON.parse(e.data).device === "comer" && JSON.parse(e.data).online);
    expect(online.id).toMatch(/^[0-9a-f]{8}-[0-9]+$/);
    await waitFor(() => stream.text().includes(": heartbeat"));
    stream.close();
    // While nobody listens the device goes; a client resuming from the last id it saw gets that event.
    await device.close();
    await waitFor(() => !backend.presence.isOnline("comer"));
    const resumed = await sse("/api/v1/events?types=presence", { "last-event-id": online.id! });
    const offline = await resumed.next((e) => e.event === "presence" && JSON.parse(e.data).device === "comer");
    expect(JSON.parse(offline.data)).toMatchObject({ device: "comer", online: false });
    expect(offline.id! > online.id!).toBe(true);
    expect(resumed.events.some((e) => e.id === online.id)).toBe(false);
  });

  it("a Last-Event-ID it cannot resume from (another run, malformed) gets a reset event", async () => {
    for (const id of ["deadbeef-1", "garbage", `${backend.events.lastId.split("-")[0]}-999999999`]) {
      const s = await sse("/api/v1/events", { "last-event-id": id });
      expect((await s.next((e) => e.event === "reset")).id).toBeDefined();
      s.close();
    }
  });

  it("carries telemetry, filtered to one device, and a version event when a device's version first shows or changes", async () => {
    const s = await sse("/api/v1/events?device=board-tel&types=telemetry");
    const v = await sse("/api/v1/events?types=version");
    const created = await api("/api/v1/devices", { method: "POST", json: { id: "board-tel" } });
    boards.push(runBoard(["--id", "board-tel", "--url", backend.mqttUrl, "--password", created.body.credential, "--telemetry", "200"]));
    const e = await s.next((x) => x.event === "telemetry");
    expect(JSON.parse(e.data)).toMatchObject({ device: "board-tel", data: { board: "posix" } });
    expect(s.events.every((x) => x.event === "telemetry" && JSON.parse(x.data).device === "board-tel")).toBe(true);
    const version = await v.next((x) => JSON.parse(x.data).device === "board-tel");
    expect(JSON.parse(version.data)).toEqual({ device: "board-tel", version: "0.1.0" });
    await s.next((x) => x !== e && x.event === "telemetry"); // another sample, the same version: no second version event
    expect(v.events.filter((x) => JSON.parse(x.data).device === "board-tel")).toHaveLength(1);
    const latest = await api("/api/v1/telemetry/latest");
    expect(latest.body["board-tel"].data).toMatchObject({ board: "posix", version: "0.1.0" });
  });

  it("the ring keeps the newest events only; the SSE format keeps one event per block", () => {
    const hub = new EventHub(4);
    const first = hub.publish("presence", { n: 0 });
    for (let i = 1; i < 10; i++) hub.publish("presence", { n: i });
    expect(hub.since(first.id)).toBeUndefined();
    expect(hub.since(`${hub.lastId.split("-")[0]}-7`)!.map((e) => JSON.parse(e.data).n)).toEqual([7, 8, 9]); // seq 8..10
    expect(formatEvent({ id: "a\nb", event: "x\ry", data: "1\n2" })).toBe("id: a b\nevent: x y\ndata: 1\ndata: 2\n\n");
  });

  it("needs a key or a session: 401 without", async () => {
    const res = await fetch(`${backend.url}/api/v1/events`);
    expect(res.status).toBe(401);
  });
});

describe("update and job progress on the fleet event stream", () => {
  it("an update's states and bytes (throttled), a job's counts until it ends, each with an id to resume from", async () => {
    const stream = await sse("/api/v1/events?types=update,job");
    const { credential } = backend.registry.addDevice("ota-ev");
    backend.registry.tags.update("ota-ev", { tags: ["progress"] });
    backend.registry.tags.update("valve1", { tags: ["progress"] });
    const chunk = 256;
    const dev = new OtaDevice({
      id: "ota-ev",
      engine: "v8",
      ota: { dir: mkdtempSync(join(tmpdir(), "outpost-ev-slots-")), chunk, publicKeys: [releaseKey.publicKey] },
    });
    devices.push(dev as unknown as Device);
    await dev.connect(backend.mqttUrl, { password: credential });
    await waitFor(() => backend.presence.isOnline("ota-ev"));
    const up = await api("/api/v1/releases", { method: "POST", json: release(wasmBytes(), 5) });
    expect(up.status).toBe(201);
    const started = performance.now();
    expect((await api("/api/v1/devices/ota-ev/update", { method: "POST", json: { release: up.body.id } })).status).toBe(202);
    const last = await stream.next((e) => e.event === "update" && JSON.parse(e.data).outcome !== null, 30_000);
    const elapsed = performance.now() - started;
    const updates = stream.events.filter((e) => e.event === "update").map((e) => ({ id: e.id!, ...JSON.parse(e.data) }));
    expect(updates.every((u) => u.device === "ota-ev" && u.release === up.body.id)).toBe(true);
    expect(JSON.parse(last.data)).toMatchObject({ state: "succeeded", outcome: "succeeded", version: 5 });
    // Every state, in order; bytes never go back; far fewer events than chunks while sending.
    const states = updates.map((u) => u.state).filter((s, i, all) => s !== all[i - 1]);
    expect(states).toEqual(["queued", "sending", "verifying", "restarting", "confirming", "succeeded"]);
    const bytes = updates.map((u) => u.bytes_sent);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    const chunks = Math.ceil(updates[0].total / chunk);
    const sending = updates.filter((u) => u.state === "sending").length;
    expect(sending).toBeLessThanOrEqual(2 + Math.ceil(elapsed / PROGRESS_EVERY_MS));
    expect(sending).toBeLessThan(chunks);
    // Ids rise; a client that saw only the first resumes with the rest.
    expect(new Set(updates.map((u) => u.id)).size).toBe(updates.length);
    const resumed = await sse("/api/v1/events?types=update", { "last-event-id": updates[0].id });
    await resumed.next((e) => e.id === last.id);
    expect(resumed.events.filter((e) => e.event === "update").map((e) => e.id)).toEqual(updates.slice(1).map((u) => u.id));

    await waitFor(() => backend.presence.isOnline("ota-ev"));
    const job = await api("/api/v1/jobs", { method: "POST", json: { selector: { tags: ["progress"] }, rpc: { method: "sys.info" } } });
    expect(job.status).toBe(201);
    const end = await stream.next((e) => e.event === "job" && JSON.parse(e.data).ended, 30_000);
    expect(JSON.parse(end.data)).toMatchObject({ job: job.body.id, state: "completed", counts: { total: 2, succeeded: 2 } });
    const jobEvents = stream.events.filter((e) => e.event === "job").map((e) => JSON.parse(e.data));
    const done = jobEvents.map((j) => j.counts.succeeded);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(jobEvents.filter((j) => j.ended)).toHaveLength(1);
  });

  it("keeps each device's finished updates, the newest UPDATE_HISTORY_MAX, gone with the device; GET /devices/:id/updates", async () => {
    const db = new SqliteDatabase(new Database(":memory:"));
    db.exec("CREATE TABLE devices (id TEXT PRIMARY KEY); INSERT INTO devices VALUES ('a'), ('b')");
    const history = new UpdateHistory(db);
    const entry = (version: number) => ({ release: `v${version}-x`, version, outcome: "succeeded", reason: null, started_at: version, ended_at: version + 1 });
    for (let v = 1; v <= UPDATE_HISTORY_MAX + 10; v++) history.record("a", entry(v));
    history.record("b", { ...entry(7), outcome: "rolled_back", reason: "trap_at_start" });
    const kept = history.of("a");
    expect(kept).toHaveLength(UPDATE_HISTORY_MAX);
    expect(kept[0].version).toBe(UPDATE_HISTORY_MAX + 10); // newest first
    expect(kept.at(-1)!.version).toBe(11);
    expect(history.of("b")).toEqual([{ ...entry(7), outcome: "rolled_back", reason: "trap_at_start" }]);
    db.exec("DELETE FROM devices WHERE id = 'a'");
    expect(history.of("a")).toEqual([]);
    db.close();
    // Over REST: the update above is in it; an unknown device is a 404.
    const r = await api("/api/v1/devices/ota-ev/updates");
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(1);
    expect(r.body[0]).toMatchObject({ version: 5, outcome: "succeeded", reason: null });
    expect(Date.parse(r.body[0].ended_at)).toBeGreaterThanOrEqual(Date.parse(r.body[0].started_at));
    expect((await api("/api/v1/devices/nobody/updates")).body.error).toBe("unknown_device");
  });
});

describe("browser sessions", () => {
  const cookieOf = (res: Response) => /outpost_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];

  async function signIn(): Promise<{ res: Response; token: string }> {
    const res = await fetch(`${backend.url}/api/v1/session`, { method: "POST", headers: { authorization: `Bearer ${key}` } });
    return { res, token: cookieOf(res)! };
  }

  it("POST /session with an API key sets an httpOnly, SameSite=Strict cookie for the API that works for REST and the event stream", async () => {
    const { res, token } = await signIn();
    expect(res.status).toBe(201);
    const setCookie = res.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\/api\/v1/);
    expect(setCookie).not.toMatch(/Secure/); // plain HTTP here; over TLS it is Secure
    const list = await fetch(`${backend.url}/api/v1/devices`, { headers: { cookie: `outpost_session=${token}` } });
    expect(list.status).toBe(200);
    const who = await fetch(`${backend.url}/api/v1/session`, { headers: { cookie: `outpost_session=${token}` } }).then((r) => r.json());
    expect(who).toMatchObject({ key_id: key.split("_")[1], via: "cookie" });
    const stream = await openSse(`${backend.url}/api/v1/events`, { cookie: `outpost_session=${token}` });
    streams.push(stream);
    expect(stream.status).toBe(200);
    // Only the token's digest is stored.
    const rows = backend.registry.db.prepare("SELECT * FROM sessions").all();
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it("a tampered, expired, signed-out or orphaned cookie is refused with 401", async () => {
    const { token } = await signIn();
    const asCookie = (t: string) => fetch(`${backend.url}/api/v1/devices`, { headers: { cookie: `outpost_session=${t}` } });
    const flipped = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    const tampered = await asCookie(flipped);
    expect(tampered.status).toBe(401);
    expect((await tampered.json()).error).toBe("session_invalid");
    expect((await asCookie("not-a-token")).status).toBe(401);
    expect((await asCookie(token)).status).toBe(200);
    backend.registry.db.prepare("UPDATE sessions SET expires_at = ?").run(Date.now() - 1);
    expect((await asCookie(token)).status).toBe(401);

    const second = await signIn();
    const out = await fetch(`${backend.url}/api/v1/session`, { method: "DELETE", headers: { cookie: `outpost_session=${second.token}` } });
    expect(out.status).toBe(204);
    expect((await asCookie(second.token)).status).toBe(401);
    // A session cannot mint another one: sign-in takes the key itself.
    const third = await signIn();
    const renew = await fetch(`${backend.url}/api/v1/session`, { method: "POST", headers: { cookie: `outpost_session=${third.token}` } });
    expect(renew.status).toBe(400);
  });

  it("a session ends with its API key; one key holds a bounded number of sessions", () => {
    const db = new SqliteDatabase(new Database(":memory:"));
    db.exec("CREATE TABLE api_keys (id TEXT PRIMARY KEY)");
    db.exec("INSERT INTO api_keys VALUES ('k1')");
    let now = 1_000;
    const store = new SessionStore(db, () => now);
    const { token } = store.create("k1", 1000);
    expect(store.verify(token)?.keyId).toBe("k1");
    now += 1000;
    expect(store.verify(token)).toBeUndefined();
    const tokens = Array.from({ length: 40 }, () => store.create("k1").token);
    expect(store.verify(tokens[0])).toBeUndefined(); // the oldest went
    expect(store.verify(tokens[39])?.keyId).toBe("k1");
    expect((db.prepare("SELECT count(*) AS n FROM sessions").get() as { n: number }).n).toBeLessThanOrEqual(32);
    db.exec("DELETE FROM api_keys");
    expect(store.verify(tokens[39])).toBeUndefined();
    db.close();
  });
});

describe("shutdown", () => {
  it("closing the backend ends the open event streams (it does not wait for their readers)", async () => {
    const other = await startTestBackend("dash-close");
    const otherKey = other.registry.createApiKey().key;
    const s = await openSse(`${other.url}/api/v1/events`, { authorization: `Bearer ${otherKey}` });
    expect(s.status).toBe(200);
    await other.close(); // hangs here if the stream holds the server open
    s.close();
  });
});
