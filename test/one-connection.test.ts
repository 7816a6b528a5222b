// One device id, one live connection, whatever the transport: a device that connects over WebSocket while its
// MQTT connection is up (or the other way round) replaces the older connection, which is closed, so every request
// reaches exactly one of them. Against the broker in the backend's process and against two broker workers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { WebSocket } from "ws";
import type { Backend } from "../host/server/backend.ts";
import { CLOSE_REPLACED, WS_PATH } from "../host/server/ws.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

/** A device over MQTT that answers every request with "mqtt", counting them. */
async function mqttDevice(backend: Backend, id: string, credential: string) {
  const client: MqttClient = await mqtt.connectAsync(backend.mqttUrl, {
    username: id,
    password: credential,
    clientId: id,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const device = { client, requests: 0, closed: new Promise<void>((resolve) => client.once("close", () => resolve())) };
  client.on("message", (_t, payload) => {
    device.requests++;
    const req = JSON.parse(String(payload)) as { id: string };
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
    device.requests++;
    ws.send(JSON.stringify({ jsonrpc: "2.0", result: "ws", id: msg.id }));
  });
  await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
  return device;
}

for (const mqttWorkers of [1, 2]) {
  describe(`one live connection per device id across MQTT and WebSocket (${mqttWorkers === 1 ? "broker in process" : "two broker workers"})`, () => {
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
      backend = await startTestBackend("one-conn", { mqttWorkers });
      key = backend.registry.createApiKey().key;
    });
    afterAll(async () => backend?.close());

    it("MQTT first: the WebSocket connection closes the MQTT one, and gets every request", async () => {
      const { credential } = backend.registry.addDevice(`mq-first-${mqttWorkers}`);
      const id = `mq-first-${mqttWorkers}`;
      const m = await mqttDevice(backend, id, credential);
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
      const id = `ws-first-${mqttWorkers}`;
      const { credential } = backend.registry.addDevice(id);
      const w = await wsDevice(backend, id, credential);
      await waitFor(() => backend.presence.isOnline(id));
      expect(await answers(id, 1)).toEqual(["ws"]);

      const m = await mqttDevice(backend, id, credential);
      expect(await w.closeCode).toBe(CLOSE_REPLACED);
      await waitFor(() => backend.presence.get(id)?.transport === "mqtt" && backend.presence.isOnline(id));
      expect(await answers(id, 5)).toEqual(["mqtt", "mqtt", "mqtt", "mqtt", "mqtt"]);
      expect(w.requests).toBe(1);
      expect(m.requests).toBe(5);
      await m.client.endAsync();
    });
  });
}
