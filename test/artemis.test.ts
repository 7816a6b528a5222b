// The external-broker mode against a clustered MQTT 5 broker (issue 19): a two-node ActiveMQ Artemis cluster from
// Maven Central. The backend is on node 0; devices are on either node. Requests cross the cluster to the device's
// node and the answers come back with their MQTT 5 Correlation Data; statuses and wills cross it too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { startJsDevice } from "../host/rpc/js-device.ts";
import { BACKEND_USERNAME, Registry } from "../host/registry/registry.ts";
import { startArtemisCluster, type ArtemisCluster } from "./support/artemis.ts";
import { apiClient, waitFor } from "./support/api.ts";
import { freePort } from "./support/mosquitto.ts";

describe("the external-broker mode on a two-node Artemis cluster", () => {
  let cluster: ArtemisCluster;
  let backend: Backend;
  let key: string;
  let users: Record<string, string>;
  const devices = new Map<string, Device>();
  const api = apiClient(
    () => backend.url,
    () => `Bearer ${key}`,
  );
  const call = (id: string, params: unknown[]) => api(`/api/v1/devices/${id}/rpc`, { method: "POST", json: { jsonrpc: "2.0", id: 7, method: "echo", params } });

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-artemis-backend-"));
    const registry = new Registry(dataDir);
    users = { [BACKEND_USERNAME]: registry.backendPassword() };
    for (const id of ["far-5", "far-311", "near-5", "will-1", "mover"]) users[id] = registry.addDevice(id).credential;
    key = registry.createApiKey().key;
    registry.close();
    cluster = await startArtemisCluster(users);
    backend = await startBackend({
      dataDir,
      port: await freePort(),
      brokerUrl: cluster.nodes[0].mqttUrl,
      host: "127.0.0.1",
      logger: pino({ level: "silent" }),
    });
    // The backend subscribes first: Artemis keeps a retained status on the node it was published to only.
    for (const [id, node, protocolVersion] of [
      ["far-5", 1, 5],
      ["far-311", 1, 4],
      ["near-5", 0, 5],
    ] as const) {
      const d = new Device({ id });
      devices.set(id, d);
      await d.connect(cluster.nodes[node].mqttUrl, { password: users[id], protocolVersion });
    }
    await waitFor(() => ["far-5", "far-311", "near-5"].every((id) => backend.presence.isOnline(id)));
  }, 180_000);

  afterAll(async () => {
    for (const d of devices.values()) await d.close().catch(() => {});
    await backend?.close();
    await cluster?.stop();
  });

  it("speaks MQTT 5 with the cluster, and answers calls to devices on either node", async () => {
    expect(backend.mqttUrl).toBe(cluster.nodes[0].mqttUrl);
    for (const id of ["far-5", "far-311", "near-5"])
      expect(await call(id, [`to ${id}`])).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 7, result: [`to ${id}`] } });
  });

  it("sees a device on the other node go offline by its will when its connection dies", async () => {
    const crashing = await startJsDevice(cluster.nodes[1].mqttUrl, { id: "will-1", credential: users["will-1"], reconnectPeriod: 0 });
    await waitFor(() => backend.presence.isOnline("will-1"));
    expect(await call("will-1", ["here"])).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 7, result: ["here"] } });
    (crashing as unknown as { stream: { destroy(): void } }).stream.destroy();
    await waitFor(() => !backend.presence.isOnline("will-1"));
    expect((await call("will-1", ["gone"])).status).toBe(503);
  }, 60_000);

  it("a device whose node is killed comes back through the other node of its list, and answers", async () => {
    const mover = new Device({ id: "mover" });
    devices.set("mover", mover);
    await mover.connect([cluster.nodes[1].mqttUrl, cluster.nodes[0].mqttUrl], {
      password: users.mover,
      protocolVersion: 5,
      reconnect: { minMs: 100, maxMs: 500 },
    });
    await waitFor(() => backend.presence.isOnline("mover"));
    expect((await call("mover", ["before"])).status).toBe(200);
    await cluster.kill(1); // the JVM dies: its clients' sockets close, and node 0's bridge to it goes
    await waitFor(async () => (await call("mover", ["after"])).status === 200);
    expect(mover.mqtt!.broker.port).toBe(Number(new URL(cluster.nodes[0].mqttUrl).port));
  }, 90_000);
});
