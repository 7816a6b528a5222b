// One device id, one live connection, whatever the transport: a device that connects over WebSocket while its
// MQTT connection is up (or the other way round) replaces the older connection, which is closed, so every request
// reaches exactly one of them. Against the broker in the backend's process, two broker workers, and mosquitto
// (whose logins the backend sees only through the device's status).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { WebSocket } from "ws";
import type { Backend } from "../host/server/backend.ts";
import { CLOSE_REPLACED, WS_PATH } from "../host/server/ws.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "../host/registry/registry.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { freePort, startRegistryMosquitto } from "./support/mosquitto.ts";

/** A device over MQTT (on `url`, the backend's broker by default) that answers every request with "mqtt", counting them. */
async function mqttDevice(backend: Backend, id: string, credential: string, url = backend.mqttUrl) {
  const client: MqttClient = await mqtt.connectAsync(url, {
    username: id,
    password: credential,
    clientId: id,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const device = { client, requests: 0, closed: new Promise<void>((resolve) => client.once("close", () => resolve())) };
  client.on("message", (_t, payload) => {
    const req = JSON.parse(String(payload)) as { id: string; method?: string };
    if (req.method !== "rpc.list") device.requests++; // the backend asks rpc.list at a device's first call (param-schema.ts)
    client.publish(`devices/${id}/tx`, JSON.stringify({ jsonrpc: "2.0", result: "mqtt", id: req.id }));
  });
  await client.subscribeAsync(`devices/${id}/rx`);
  client.publish(`devices/${id}/status`, '{"online":true}', { retain: true });
  return device;
}

/** The same device over the backend's WebSocket gateway, answering "ws". */
async function wsDevice(backend: Backend, id: string, credential: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${backend.port}${WS_PATH}`, { headers: { authorization: `Bearer ${id}:${credential}` } });
  const device = { ws, requests: 0, closeCode: new Promise<number>((resolve) => ws.once("close", (code) => resolve(code))) };
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data)) as { id?: string; method?: string };
    if (msg.method === undefined) return;
    if (msg.method !== "rpc.list") device.requests++; // the backend asks rpc.list at a device's first call (param-schema.ts)
    ws.send(JSON.stringify({ jsonrpc: "2.0", result: "ws", id: msg.id }));
  });
  await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
  return device;
}

interface Setup {
  backend: Backend;
  credentials: Record<string, string>;
  /** Where devices connect over MQTT. */
  deviceUrl: string;
  stop(): Promise<void>;
}

/** A data directory with these devices registered (before a broker reads the registry). */
function registered(ids: string[]) {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-one-conn-"));
  const registry = new Registry(dataDir);
  const credentials = Object.fromEntries(ids.map((id) => [id, registry.addDevice(id).credential]));
  return { dataDir, registry, credentials };
}

/** The embedded broker, in the backend's process or in two workers. */
async function embedded(mqttWorkers: number, ids: string[]): Promise<Setup> {
  const { dataDir, registry, credentials } = registered(ids);
  registry.close();
  const backend = await startTestBackend("one-conn", { dataDir, mqttWorkers });
  return { backend, credentials, deviceUrl: backend.mqttUrl, stop: () => backend.close() };
}

/** mosquitto on the generated config: devices on its devices' listener, the backend on the backends' one. */
async function withMosquitto(ids: string[]): Promise<Setup> {
  const { dataDir, registry, credentials } = registered(ids);
  const backendPort = await freePort();
  const broker = await startRegistryMosquitto(registry, join(dataDir, "mosquitto"), backendPort);
  registry.close();
  const backend = await startTestBackend("one-conn", { dataDir, brokerUrl: `mqtt://127.0.0.1:${backendPort}` });
  return {
    backend,
    credentials,
    deviceUrl: broker.url,
    async stop() {
      await backend.close();
      await broker.stop();
    },
  };
}

const setups: [string, (ids: string[]) => Promise<Setup>][] = [
  ["broker in process", (ids) => embedded(1, ids)],
  ["two broker workers", (ids) => embedded(2, ids)],
  ["mosquitto", withMosquitto],
];

for (const [name, make] of setups) {
  describe(`one live connection per device id across MQTT and WebSocket (${name})`, () => {
    let s: Setup;
    let backend: Backend;
    let key: string;
    const api = apiClient(
      () => backend.url,
      () => `Bearer ${key}`,
    );
    const answers = async (id: string, n: number) => {
      const got: string[] = [];
      for (let i = 0; i < n; i++) {
        const res = await api(`/api/v1/devices/${id}/rpc`, { method: "POST", json: { jsonrpc: "2.0", id: i, method: "who" } });
        got.push(res.status === 200 ? res.body.result : `status ${res.status}`);
      }
      return got;
    };
    beforeAll(async () => {
      s = await make(["mq-first", "ws-first"]);
      backend = s.backend;
      key = backend.registry.createApiKey().key;
    });
    afterAll(async () => s?.stop());

    it("MQTT first: the WebSocket connection closes the MQTT one, and gets every request", async () => {
      const id = "mq-first";
      const credential = s.credentials[id];
      const m = await mqttDevice(backend, id, credential, s.deviceUrl);
      await waitFor(() => backend.presence.isOnline(id));
      expect(await answers(id, 1)).toEqual(["mqtt"]);

      const w = await wsDevice(backend, id, credential);
      await m.closed; // the broker closed the older connection
      await waitFor(() => backend.presence.get(id)?.transport === "ws" && backend.presence.isOnline(id));
      const before = m.requests;
      expect(await answers(id, 5)).toEqual(["ws", "ws", "ws", "ws", "ws"]);
      expect(m.requests).toBe(before);
      expect(w.requests).toBe(5);
      w.ws.close();
    });

    it("WebSocket first: the MQTT connection closes the WebSocket one (4000), and gets every request", async () => {
      const id = "ws-first";
      const credential = s.credentials[id];
      const w = await wsDevice(backend, id, credential);
      await waitFor(() => backend.presence.isOnline(id));
      expect(await answers(id, 1)).toEqual(["ws"]);

      const m = await mqttDevice(backend, id, credential, s.deviceUrl);
      expect(await w.closeCode).toBe(CLOSE_REPLACED);
      await waitFor(() => backend.presence.get(id)?.transport === "mqtt" && backend.presence.isOnline(id));
      expect(await answers(id, 5)).toEqual(["mqtt", "mqtt", "mqtt", "mqtt", "mqtt"]);
      expect(w.requests).toBe(1);
      expect(m.requests).toBe(5);
      await m.client.endAsync();
    });
  });
}
