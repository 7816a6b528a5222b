// Several backend nodes on one external broker (mosquitto) and one Redis (issue 19): any node answers a call for any
// device, a device's answer reaches only the node that asked (each node subscribes a device's tx only while it
// awaits answers from it, over MQTT 5 and 3.1.1 alike), presence is the same from every node, and a fleet job
// runs once on each device.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { Registry } from "../host/registry/registry.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { freePort, startRegistryMosquitto, type Mosquitto } from "./support/mosquitto.ts";
import { startRedis } from "./support/redis.ts";
import { apiClient, waitFor } from "./support/api.ts";

/** How long a node keeps a device's tx after its last call (the default is 10 s). */
const LINGER_MS = 300;

describe("two nodes on one mosquitto and one Redis", () => {
  let redis: RedisServer;
  let mosquitto: Mosquitto;
  const nodes: Backend[] = [];
  const devices: Device[] = [];
  /** Runs of each device's `count` method, on the device. */
  const runs = new Map<string, number>();
  let key: string;
  let backendPort: number;
  const api = (n: number) =>
    apiClient(
      () => nodes[n].url,
      () => `Bearer ${key}`,
    );
  const call = (n: number, id: string, params: unknown[]) =>
    api(n)(`/api/v1/devices/${id}/rpc`, { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "echo", params } });
  const answersReceived = async (n: number) => {
    const text = await (await fetch(`${nodes[n].url}/metrics`)).text();
    return Number(/^outpost_device_answers_received_total (\d+)$/m.exec(text)?.[1]);
  };

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-external-nodes-"));
    const registry = new Registry(dataDir);
    const credentials = { v5: registry.addDevice("v5").credential, v311: registry.addDevice("v311").credential };
    key = registry.createApiKey().key;
    // The backends' own listener: on the devices' one, client ids are pinned to the user name, so two backends
    // would take each other's connection.
    backendPort = await freePort();
    mosquitto = await startRegistryMosquitto(registry, join(dataDir, "mosquitto"), backendPort);
    registry.close();
    redis = await startRedis();
    for (let n = 0; n < 2; n++)
      nodes.push(
        await startBackend({
          dataDir,
          port: await freePort(),
          brokerUrl: `mqtt://127.0.0.1:${backendPort}`,
          redisUrl: redis.url,
          answerLingerMs: LINGER_MS,
          host: "127.0.0.1",
          logger: pino({ level: "silent" }),
        }),
      );
    for (const [id, protocolVersion] of [
      ["v5", 5],
      ["v311", 4],
    ] as const) {
      runs.set(id, 0);
      const d = new Device({
        id,
        methods: {
          count: () => {
            runs.set(id, (runs.get(id) ?? 0) + 1);
            return id;
          },
        },
      });
      devices.push(d);
      await d.connect(mosquitto.url, { password: credentials[id], protocolVersion });
    }
    await waitFor(() => nodes.every((n) => n.presence.isOnline("v5") && n.presence.isOnline("v311")));
  }, 60_000);

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => {});
    for (const n of nodes) await n.close();
    await mosquitto?.stop();
    await redis?.close();
  });

  it("answers through either node, and each answer reaches only the node that asked", async () => {
    expect([await answersReceived(0), await answersReceived(1)]).toEqual([0, 0]);
    expect(await call(0, "v5", ["a"])).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: ["a"] } });
    const first = await answersReceived(0); // the echo, and what the node asked the device first (its methods)
    expect(first).toBeGreaterThan(0);
    expect(await answersReceived(1)).toBe(0);
    // Node 0 keeps the device's tx a moment after its last call (a burst of calls subscribes once), then leaves it.
    await new Promise((r) => setTimeout(r, LINGER_MS * 3));
    expect(await call(1, "v311", ["b"])).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: ["b"] } });
    expect(await call(1, "v5", ["c"])).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: ["c"] } });
    expect(await answersReceived(0)).toBe(first);
    expect(await answersReceived(1)).toBeGreaterThanOrEqual(2);
  });

  it("shows the same presence from both nodes, and a device that leaves goes offline on both", async () => {
    for (const n of [0, 1]) expect((await api(n)("/api/v1/devices/v311")).body.online).toBe(true);
    await devices[1].close();
    await waitFor(async () => (await api(0)("/api/v1/devices/v311")).body.online === false && (await api(1)("/api/v1/devices/v311")).body.online === false);
    expect((await call(0, "v311", ["gone"])).status).toBe(503);
  });

  it("runs a fleet job created through one node once on its device, seen alike from both", async () => {
    const created = await api(1)("/api/v1/jobs", { method: "POST", json: { selector: { ids: ["v5"] }, rpc: { method: "count" } } });
    expect(created.status).toBe(201);
    await waitFor(async () => (await api(0)(`/api/v1/jobs/${created.body.id}`)).body.state === "completed");
    expect(runs.get("v5")).toBe(1);
    for (const n of [0, 1]) expect((await api(n)(`/api/v1/jobs/${created.body.id}`)).body.counts).toMatchObject({ total: 1, succeeded: 1 });
  });

  it("names a Redis that does not answer at start (RedisUnreachable), before it connects to the broker", async () => {
    const start = startBackend({
      dataDir: mkdtempSync(join(tmpdir(), "outpost-external-noredis-")),
      port: await freePort(),
      brokerUrl: `mqtt://127.0.0.1:${backendPort}`,
      redisUrl: `redis://127.0.0.1:${await freePort()}`,
      host: "127.0.0.1",
      logger: pino({ level: "silent" }),
    });
    await expect(start).rejects.toMatchObject({ name: "RedisUnreachable" });
  });
});
