// REST end to end: the backend with its embedded broker, and module devices (V8) connected through it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device, RpcError, type Method } from "../host/device.ts";
import { freePort } from "./support/mosquitto.ts";
import { apiClient, waitFor } from "./support/api.ts";
import { connect as netConnect } from "node:net";
import { encode, Decoder, type Packet } from "../host/codec/index.ts";

const silent = pino({ level: "silent" });
let backend: Backend;
let key: string;
let dataDir: string;
const devices: Device[] = [];

const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

/** RPC requests waiting for a device, from the backend's own metrics. */
async function rpcInFlight(): Promise<number> {
  const text = await fetch(`${backend.url}/metrics`).then((r) => r.text());
  return Number(/^outpost_rpc_in_flight (\d+)/m.exec(text)?.[1] ?? 0);
}

async function addDevice(id: string, methods: Record<string, Method> = {}, reconnect = { minMs: 50, maxMs: 200 }): Promise<Device> {
  const created = await api("/api/v1/devices", { method: "POST", json: { id, metadata: { room: "lab" } } });
  expect(created.status).toBe(201);
  const device = new Device({ id, methods });
  devices.push(device);
  await device.connect(backend.mqttUrl, { password: created.body.credential, reconnect });
  await waitFor(() => backend.presence.isOnline(id));
  return device;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "outpost-backend-"));
  backend = await startBackend({ dataDir, port: await freePort(), mqttPort: await freePort(), host: "127.0.0.1", logger: silent });
  key = backend.registry.createApiKey().key;
  await addDevice("dev1", {
    fail: () => {
      throw new RpcError(-32001, "sensor unplugged", { pin: 4 });
    },
    hang: () => new Promise(() => {}),
  });
});

afterAll(async () => {
  for (const d of devices) await d.close();
  await backend.close();
});

describe("REST RPC", () => {
  it("returns the device's result, with the caller's id", async () => {
    const res = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: "abc", method: "echo", params: [1, "x"] } });
    expect(res).toEqual({ status: 200, body: { jsonrpc: "2.0", id: "abc", result: [1, "x"] } });
  });

  it("accepts {method, params} and the /rpc/:method shorthand", async () => {
    const a = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { method: "echo", params: { a: 1 } } });
    expect(a).toEqual({ status: 200, body: { jsonrpc: "2.0", id: null, result: { a: 1 } } });
    const b = await api("/api/v1/devices/dev1/rpc/echo", { method: "POST", json: [true] });
    expect(b).toEqual({ status: 200, body: { jsonrpc: "2.0", id: null, result: [true] } });
    const noBody = await api("/api/v1/devices/dev1/rpc/sys.info", { method: "POST" });
    expect(noBody.status).toBe(200);
    expect(noBody.body.result.engine).toBe("v8");
  });

  it("passes a device error through with 200", async () => {
    const res = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 7, method: "fail" } });
    expect(res).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 7, error: { code: -32001, message: "sensor unplugged", data: { pin: 4 } } } });
  });

  it("passes 'Method not found' through with 200", async () => {
    const res = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 8, method: "no.such" } });
    expect(res.status).toBe(200);
    expect(res.body.error.code).toBe(-32601);
    expect(res.body.id).toBe(8);
  });

  it("answers a notification with 202", async () => {
    const res = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { jsonrpc: "2.0", method: "echo" } });
    expect(res.status).toBe(202);
  });

  it("gives 504 when the device does not answer in timeout_ms", async () => {
    const res = await api("/api/v1/devices/dev1/rpc?timeout_ms=100", { method: "POST", json: { method: "hang" } });
    expect(res.status).toBe(504);
    expect(res.body.error).toBe("device_timeout");
  });

  it("gives 503 at once for a registered device that is offline (no waiting for the timeout)", async () => {
    expect((await api("/api/v1/devices", { method: "POST", json: { id: "never-connected" } })).status).toBe(201);
    // A 60 s timeout_ms: only an immediate 503 finishes within the test's own time limit.
    const res = await api("/api/v1/devices/never-connected/rpc?timeout_ms=60000", { method: "POST", json: { method: "echo" } });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe("device_offline");
  });

  it("sees a device go offline through its will, and answers 503", async () => {
    const device = await addDevice("dev-crash", {}, { minMs: 60_000, maxMs: 60_000 });
    device.mqtt!.destroySocket(); // abrupt: the broker publishes the will
    await waitFor(() => !backend.presence.isOnline("dev-crash"));
    const res = await api("/api/v1/devices/dev-crash/rpc?timeout_ms=60000", { method: "POST", json: { method: "echo" } });
    expect(res.status).toBe(503);
  });

  it("answers a call in flight at once when the device drops mid-call: 504 device_no_answer, delivered (it may have run)", async () => {
    const device = await addDevice("dev-midcall", { hang: () => new Promise(() => {}) }, { minMs: 60_000, maxMs: 60_000 });
    const pending = api("/api/v1/devices/dev-midcall/rpc?timeout_ms=60000", { method: "POST", json: { method: "hang" } });
    await waitFor(async () => (await rpcInFlight()) > 0);
    device.mqtt!.destroySocket();
    const res = await pending;
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ error: "device_no_answer", delivered: true });
    expect(res.body.message).toMatch(/went offline/);
  });

  it("sees a clean offline status", async () => {
    const device = await addDevice("dev-clean");
    await device.close(); // publishes the offline status, then DISCONNECT
    await waitFor(() => !backend.presence.isOnline("dev-clean"));
    expect((await api("/api/v1/devices/dev-clean")).body.online).toBe(false);
  });

  it("counts a device online only once its rx subscription is in place, even when its status overtakes the SUBSCRIBE", async () => {
    const { credential } = (await api("/api/v1/devices", { method: "POST", json: { id: "burst" } })).body;
    const sock = netConnect(Number(new URL(backend.mqttUrl).port), "127.0.0.1");
    const received: Packet[] = [];
    const decoder = new Decoder({ protocolVersion: 4 });
    sock.on("data", (d) => received.push(...decoder.push(d)));
    await new Promise((r) => sock.once("connect", r));
    const v4 = { protocolVersion: 4 };
    // CONNECT, SUBSCRIBE and the online status in one write: the broker handles them concurrently.
    sock.write(
      Buffer.concat([
        encode(
          { cmd: "connect", protocolVersion: 4, clientId: "burst", clean: true, keepalive: 0, username: "burst", password: Buffer.from(credential) } as Packet,
          v4,
        ),
        encode({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "devices/burst/rx", qos: 0 }] } as Packet, v4),
        encode({ cmd: "publish", topic: "devices/burst/status", payload: Buffer.from('{"online":true}'), qos: 0, retain: true } as Packet, v4),
      ]),
    );
    await waitFor(() => backend.presence.isOnline("burst"));
    const res = await api("/api/v1/devices/burst/rpc?timeout_ms=200", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "ping" } });
    expect(res.status).toBe(504); // this device never answers, but it did get the request:
    expect(received.some((p) => p.cmd === "publish" && p.topic === "devices/burst/rx" && JSON.parse(String(p.payload)).method === "ping")).toBe(true);
    sock.destroy();
  });

  it("gives 404 for an unknown device", async () => {
    const res = await api("/api/v1/devices/nobody/rpc", { method: "POST", json: { method: "echo" } });
    expect(res.status).toBe(404);
    expect((await api("/api/v1/devices/nobody")).status).toBe(404);
  });

  it("gives 400 for malformed JSON and for a body that is not a request", async () => {
    const bad = await api("/api/v1/devices/dev1/rpc", { method: "POST", body: '{"method": "echo",', headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    const notRequest = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { params: [1] } });
    expect(notRequest.status).toBe(400);
    const wrongParams = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { method: "echo", params: 3 } });
    expect(wrongParams.status).toBe(400);
    const scalarParams = await api("/api/v1/devices/dev1/rpc/echo", { method: "POST", json: 3 });
    expect(scalarParams.status).toBe(400);
  });

  it("gives 413 for a body over the limit", async () => {
    const res = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { method: "echo", params: ["x".repeat(70_000)] } });
    expect(res.status).toBe(413);
  });

  it("gives 401 without a key and 403 with a wrong one, before reading the body", async () => {
    expect((await api("/api/v1/devices", {}, null)).status).toBe(401);
    expect((await fetch(`${backend.url}/api/v1/devices`)).headers.get("www-authenticate")).toBe('Bearer realm="outpost"');
    expect((await api("/api/v1/devices", {}, "Basic abc")).status).toBe(401);
    expect((await api("/api/v1/devices", {}, "Bearer opk_0123456789abcdef_wrongwrongwrongwrong")).status).toBe(403);
    expect((await api("/api/v1/devices", {}, "Bearer garbage")).status).toBe(401); // not key-shaped: malformed
    const big = await api("/api/v1/devices/dev1/rpc", { method: "POST", json: { method: "echo", params: ["x".repeat(70_000)] } }, null);
    expect(big.status).toBe(401);
  });
});

describe("device management over REST", () => {
  it("lists devices with presence and metadata", async () => {
    const res = await api("/api/v1/devices");
    expect(res.status).toBe(200);
    const dev1 = res.body.find((d: { id: string }) => d.id === "dev1");
    expect(dev1).toMatchObject({ id: "dev1", online: true, transport: "mqtt", metadata: { room: "lab" } });
    expect(Date.parse(dev1.last_seen)).toBeGreaterThan(0);
    expect(Date.parse(dev1.connected_since)).toBeGreaterThan(0);
  });

  it("refuses a duplicate id (409) and an id that is not one topic level (400)", async () => {
    expect((await api("/api/v1/devices", { method: "POST", json: { id: "dev1" } })).status).toBe(409);
    for (const id of ["a/b", "+", "#", "$SYS", "", "outpost-backend"])
      expect((await api("/api/v1/devices", { method: "POST", json: { id } })).status).toBe(400);
  });

  it("deletes a device and disconnects it; its credential stops working", async () => {
    const device = await addDevice("dev-delete");
    const closes: { error: number; reasonCode: number }[] = [];
    device.mqtt!.on("close", (info) => closes.push(info));
    expect((await api("/api/v1/devices/dev-delete", { method: "DELETE" })).status).toBe(204);
    // Dropped, then every reconnect is refused in the CONNACK (4: bad username or password).
    await waitFor(() => closes.some((c) => c.reasonCode === 4));
    expect(backend.presence.isOnline("dev-delete")).toBe(false);
    expect((await api("/api/v1/devices/dev-delete")).status).toBe(404);
  });
});

describe("server endpoints", () => {
  it("serves Prometheus metrics, the OpenAPI document and the docs page without a key", async () => {
    const metrics = await fetch(`${backend.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/outpost_http_requests_total\{method="POST",route="\/api\/v1\/devices\/:id\/rpc",status="200"\} \d+/);
    expect(metrics).toMatch(/outpost_devices_online \d+/);
    expect(metrics).toMatch(/outpost_rpc_duration_seconds_bucket/);
    const doc = await fetch(`${backend.url}/openapi.json`).then((r) => r.json());
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/devices", "/api/v1/devices/{id}", "/api/v1/devices/{id}/rpc", "/api/v1/devices/{id}/rpc/{method}"]),
    );
    const docs = await fetch(`${backend.url}/docs`, { redirect: "follow" });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });
});
