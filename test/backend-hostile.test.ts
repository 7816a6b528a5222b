// Hostile devices against a real backend: JSON nested 20,000 deep over WebSocket and MQTT is refused by name
// for that one message, and the backend (this very process) keeps serving; MQTT packets over the size limits
// (a 256 MB CONNECT before login, a device's 48 MB retained publish) close that one connection unbuffered.
import { sendHugeConnect } from "./support/hostile.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt from "mqtt";
import { WebSocket } from "ws";
import type { Backend } from "../host/server/backend.ts";
import { WS_PATH } from "../host/server/ws.ts";
import { checkJsonDepth, JsonTooDeep } from "../host/rpc/json-bounds.ts";
import type { SingleBroker } from "../host/broker/embedded.ts";
import { packetSize } from "../host/broker/packet-limits.ts";
import { BACKEND_USERNAME } from "../host/registry/registry.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

const deep = (n: number, inner = "") => "[".repeat(n) + inner + "]".repeat(n);

describe("deeply nested JSON from a device", () => {
  let backend: Backend;
  let key: string;
  const creds: Record<string, string> = {};
  const api = apiClient(
    () => backend.url,
    () => `Bearer ${key}`,
  );

  beforeAll(async () => {
    backend = await startTestBackend("hostile");
    key = backend.registry.createApiKey().key;
    for (const id of ["wsdeep", "mqdeep"]) creds[id] = backend.registry.addDevice(id).credential;
  });
  afterAll(async () => backend?.close());

  it("the depth scan names the failure and skips brackets inside strings", () => {
    expect(() => checkJsonDepth(deep(65))).toThrow(JsonTooDeep);
    expect(() => checkJsonDepth(deep(64))).not.toThrow();
    expect(() => checkJsonDepth(Buffer.from(`["${"[".repeat(1000)}\\""]`))).not.toThrow();
  });

  it("a WebSocket batch or id 20,000 deep gets a parse error naming JsonTooDeep; the connection and backend go on", async () => {
    const credential = creds.wsdeep;
    const ws = new WebSocket(`ws://127.0.0.1:${backend.port}${WS_PATH}`, { headers: { authorization: `Bearer wsdeep:${credential}` } });
    const got: unknown[] = [];
    ws.on("message", (d) => got.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once("open", r));
    ws.send(deep(20_000));
    ws.send(`{"jsonrpc":"2.0","method":"time.get","id":${deep(20_000)}}`);
    ws.send('{"jsonrpc":"2.0","method":"time.get","id":7}');
    await waitFor(() => got.length === 3);
    expect(got[0]).toMatchObject({ error: { code: -32700, data: { name: "JsonTooDeep" } }, id: null });
    expect(got[1]).toMatchObject({ error: { code: -32700, data: { name: "JsonTooDeep" } }, id: null });
    expect(got[2]).toMatchObject({ id: 7, result: { unix_ms: expect.any(Number) } });
    ws.close();
  });

  it("an MQTT device answering its own pending request 20,000 arrays deep: the answer is dropped, the backend serves on", async () => {
    const credential = creds.mqdeep;
    const dev = await mqtt.connectAsync(backend.mqttUrl, { username: "mqdeep", password: credential, clientId: "mqdeep", protocolVersion: 4 });
    dev.on("message", (_t, payload) => {
      const req = JSON.parse(String(payload)) as { id: string; method: string };
      const result = req.method === "deep" ? deep(20_000) : '"fine"';
      dev.publish("devices/mqdeep/tx", `{"jsonrpc":"2.0","result":${result},"id":"${req.id}"}`);
    });
    await dev.subscribeAsync("devices/mqdeep/rx");
    dev.publish("devices/mqdeep/status", '{"online":true}', { retain: true });
    await waitFor(() => backend.presence.isOnline("mqdeep"));
    const refused = await api("/api/v1/devices/mqdeep/rpc?timeout_ms=500", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "deep" } });
    expect(refused.status).toBe(504); // dropped as an answer that cannot be written back
    const ok = await api("/api/v1/devices/mqdeep/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 2, method: "fine" } });
    expect(ok).toEqual({ status: 200, body: { jsonrpc: "2.0", result: "fine", id: 2 } });
    await dev.endAsync();
  });
});

describe("oversize MQTT packets", () => {
  let backend: Backend;
  let key: string;
  const creds: Record<string, string> = {};
  /** Every connection the embedded broker closed for an error, by the error's name. */
  const refusals: string[] = [];
  const api = apiClient(
    () => backend.url,
    () => `Bearer ${key}`,
  );

  beforeAll(async () => {
    backend = await startTestBackend("oversize");
    key = backend.registry.createApiKey().key;
    for (const id of ["big", "calm"]) creds[id] = backend.registry.addDevice(id).credential;
    const { aedes } = backend.broker as SingleBroker;
    aedes.on("connectionError", (_c, err) => refusals.push(err.name));
    aedes.on("clientError", (_c, err) => refusals.push(err.name));
  });
  afterAll(async () => backend?.close());

  it("a raw socket declaring a 256 MB CONNECT is closed by the broker before it buffers the body", async () => {
    const rssBefore = process.memoryUsage().rss;
    const sent = await sendHugeConnect(backend.broker!.port);
    expect(refusals).toContain("PacketTooLarge");
    expect(sent).toBeLessThan(64 << 20);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(32 << 20);
  });

  it("a device's oversize publish or retained message closes its connection and is not retained; another device is unaffected", async () => {
    // An echo device on mqtt.js: answers as large as the REST body limit allows.
    const calm = await mqtt.connectAsync(backend.mqttUrl, { username: "calm", password: creds.calm, clientId: "calm", protocolVersion: 4, reconnectPeriod: 0 });
    calm.on("message", (_t, payload) => {
      const req = JSON.parse(String(payload)) as { id: string; params: unknown };
      calm.publish("devices/calm/tx", JSON.stringify({ jsonrpc: "2.0", result: req.params, id: req.id }));
    });
    await calm.subscribeAsync("devices/calm/rx");
    calm.publish("devices/calm/status", '{"online":true}', { retain: true });
    await waitFor(() => backend.presence.isOnline("calm"));

    const connectBig = async () => {
      const c = await mqtt.connectAsync(backend.mqttUrl, { username: "big", password: creds.big, clientId: "big", protocolVersion: 4, reconnectPeriod: 0 });
      const gone = new Promise<void>((resolve) => c.once("close", () => resolve()));
      return { c, gone };
    };
    const first = await connectBig();
    await first.c.publishAsync("devices/big/status", '{"online":true}', { retain: true, qos: 1 }); // the one retained message
    first.c.publish("devices/big/status", Buffer.alloc(48 << 20, 0x20), { retain: true }); // 48 MB: over the packet limit
    await first.gone;
    expect(refusals).toContain("PacketTooLarge");

    const second = await connectBig();
    second.c.publish("devices/big/status", `{"online":true,"pad":"${"x".repeat(2000)}"}`, { retain: true }); // fits a packet, not a retained message
    await second.gone;
    expect(refusals).toContain("RetainedTooLarge");

    // The retained status is still the small one.
    const observer = await mqtt.connectAsync(backend.mqttUrl, { username: BACKEND_USERNAME, password: backend.registry.backendPassword(), reconnectPeriod: 0 });
    const retained = new Promise<string>((resolve) => observer.once("message", (_t, p) => resolve(String(p))));
    await observer.subscribeAsync("devices/big/status");
    expect(await retained).toBe('{"online":true}');
    await observer.endAsync();

    // A device answer near the REST body limit still passes, and the other device never noticed.
    const text = "y".repeat(65_000);
    const ok = await api("/api/v1/devices/calm/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 3, method: "echo", params: [text] } });
    expect(ok.status).toBe(200);
    expect(ok.body.result[0] === text).toBe(true); // not toEqual: a failure would print 65,000 bytes
    expect(backend.presence.isOnline("calm")).toBe(true);
    await calm.endAsync();
  });

  it("the packet size counts the fixed header: remaining lengths at each varint width", () => {
    expect([0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152].map(packetSize)).toEqual([2, 129, 131, 16_386, 16_388, 2_097_155, 2_097_157]);
  });
});
