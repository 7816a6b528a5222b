// A device removed or given a new credential by another process sharing the registry (the CLI, while the server
// runs) is disconnected at once, over MQTT and WebSocket, and its old credential no longer reaches it requests;
// with the broker in the backend's process and in two workers (each checks the connections it holds).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { WebSocket } from "ws";
import { Registry } from "../host/registry/registry.ts";
import type { Backend } from "../host/server/backend.ts";
import { CLOSE_REMOVED, WS_PATH } from "../host/server/ws.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

for (const mqttWorkers of [1, 2])
  describe(`removal and new credentials from another process (${mqttWorkers === 1 ? "broker in process" : "two broker workers"})`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-watch-"));
    const outpost = (...args: string[]) => run("node", ["bin/outpost.js", ...args, "--data", dataDir], { cwd: root });
    let backend: Backend;
    let key: string;
    const api = apiClient(
      () => backend.url,
      () => `Bearer ${key}`,
    );
    const call = (id: string) => api(`/api/v1/devices/${id}/rpc?timeout_ms=2000`, { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "who" } });

    /** An MQTT device answering "here"; never reconnects by itself. */
    const mqttDevice = async (id: string, credential: string) => {
      const client = await mqtt.connectAsync(backend.mqttUrl, { username: id, password: credential, clientId: id, protocolVersion: 4, reconnectPeriod: 0 });
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      client.on("message", (_t, payload) => {
        const req = JSON.parse(String(payload)) as { id: string };
        client.publish(`devices/${id}/tx`, JSON.stringify({ jsonrpc: "2.0", result: "here", id: req.id }));
      });
      await client.subscribeAsync(`devices/${id}/rx`);
      client.publish(`devices/${id}/status`, '{"online":true}', { retain: true });
      await waitFor(() => backend.presence.isOnline(id));
      return { client, closed };
    };

    beforeAll(async () => {
      backend = await startTestBackend("watch", { dataDir, mqttWorkers });
      key = backend.registry.createApiKey().key;
    });
    afterAll(async () => backend?.close());

    it("outpost device remove in a child process closes the MQTT connection; re-added with a new credential, the old one reaches nothing", async () => {
      const { credential: old } = backend.registry.addDevice("cut-mqtt");
      const device = await mqttDevice("cut-mqtt", old);
      expect((await call("cut-mqtt")).body.result).toBe("here");

      await outpost("device", "remove", "cut-mqtt");
      await device.closed;
      await waitFor(() => !backend.presence.isOnline("cut-mqtt"));

      const { stdout } = await outpost("device", "add", "cut-mqtt", "--json");
      const fresh = (JSON.parse(stdout) as { credential: string }).credential;
      await expect(mqtt.connectAsync(backend.mqttUrl, { username: "cut-mqtt", password: old, clientId: "cut-mqtt", reconnectPeriod: 0 })).rejects.toThrow(
        /Bad username or password/,
      );
      expect((await call("cut-mqtt")).status).toBe(503); // nobody receives its requests
      const again = await mqttDevice("cut-mqtt", fresh);
      expect((await call("cut-mqtt")).body.result).toBe("here");
      await again.client.endAsync();
    });

    it("outpost device remove closes a WebSocket device's connection with 4001", async () => {
      const { credential } = backend.registry.addDevice("cut-ws");
      const ws = new WebSocket(`ws://127.0.0.1:${backend.port}${WS_PATH}`, { headers: { authorization: `Bearer cut-ws:${credential}` } });
      const code = new Promise<number>((resolve) => ws.once("close", (c) => resolve(c)));
      await new Promise((resolve) => ws.once("open", resolve));
      await waitFor(() => backend.presence.isOnline("cut-ws"));
      await outpost("device", "remove", "cut-ws");
      expect(await code).toBe(CLOSE_REMOVED);
    });

    it("a new credential given through another registry connection disconnects the device that logged in with the old one", async () => {
      const { credential: old } = backend.registry.addDevice("rekey");
      const device = await mqttDevice("rekey", old);
      const other = new Registry(dataDir); // another connection to the same database, as another process has
      const fresh = other.rotateCredential("rekey");
      other.close();
      await device.closed;
      await expect(mqtt.connectAsync(backend.mqttUrl, { username: "rekey", password: old, clientId: "rekey", reconnectPeriod: 0 })).rejects.toThrow(
        /Bad username or password/,
      );
      const again = await mqttDevice("rekey", fresh);
      expect((await call("rekey")).body.result).toBe("here");
      await again.client.endAsync();
    });

    it("devices nobody touched stay connected through another device's removal", async () => {
      const steady = await mqttDevice("steady", backend.registry.addDevice("steady").credential);
      const passing = await mqttDevice("passing", backend.registry.addDevice("passing").credential);
      await outpost("device", "remove", "passing");
      await passing.closed; // the check has run
      expect(steady.client.connected).toBe(true);
      expect((await call("steady")).body.result).toBe("here");
      await steady.client.endAsync();
    });
  });
