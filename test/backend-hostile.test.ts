// Hostile devices against a real backend: JSON nested 20,000 deep over WebSocket and MQTT is refused by name
// for that one message, and the backend (this very process) keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt from "mqtt";
import { WebSocket } from "ws";
import type { Backend } from "../host/server/backend.ts";
import { WS_PATH } from "../host/server/ws.ts";
import { checkJsonDepth, JsonTooDeep } from "../host/rpc/json-bounds.ts";
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
