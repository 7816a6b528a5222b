// Nodes in one process sharing a Redis (issue 19): presence is the same from every node. A node started after the
// devices connected reads their retained statuses. A will that a dead node left in the shared store fires after its
// device came back through a live node; the node that holds the device's live connection reasserts the device's
// own status, so no node reads the device offline for longer than that round trip.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import msgpack from "msgpack-lite";
import { Redis } from "ioredis";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { freePort } from "./support/mosquitto.ts";
import { startRedis } from "./support/redis.ts";
import { apiClient, waitFor } from "./support/api.ts";

const HEARTBEAT_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("presence across nodes sharing a Redis", () => {
  let redis: RedisServer;
  const nodes: Backend[] = [];
  let device: Device;
  let key: string;

  let dataDir: string;
  const startNode = async () =>
    startBackend({
      dataDir,
      port: await freePort(),
      mqttPort: await freePort(),
      host: "127.0.0.1",
      redisUrl: redis.url,
      heartbeatMs: HEARTBEAT_MS,
      logger: pino({ level: "silent" }),
    });

  beforeAll(async () => {
    redis = await startRedis();
    dataDir = mkdtempSync(join(tmpdir(), "outpost-shared-presence-"));
    for (let n = 0; n < 2; n++) nodes.push(await startNode());
    const { credential } = nodes[0].registry.addDevice("w1");
    key = nodes[0].registry.createApiKey().key;
    device = new Device({ id: "w1" });
    await device.connect(nodes[1].mqttUrl, { password: credential });
    await waitFor(() => nodes.every((n) => n.presence.isOnline("w1")));
  }, 60_000);

  afterAll(async () => {
    await device?.close().catch(() => {});
    for (const n of nodes) await n.close();
    await redis?.close();
  });

  it("a node started after the device connected elsewhere reads it online at once, and reaches it", async () => {
    const late = await startNode();
    try {
      // No wait: the retained status is read while the node starts.
      expect(late.presence.isOnline("w1")).toBe(true);
      const call = apiClient(
        () => late.url,
        () => `Bearer ${key}`,
      );
      const answer = await call("/api/v1/devices/w1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 2, method: "echo", params: ["late"] } });
      expect(answer).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 2, result: ["late"] } });
    } finally {
      await late.close();
    }
  }, 30_000);

  it("leaves the device's row to the node that holds it: a call through the other node does not write it there", async () => {
    const written: string[][] = [[], []];
    const restore = nodes.map((n, i) => {
      const save = n.registry.savePresence.bind(n.registry);
      n.registry.savePresence = (rows) => {
        written[i].push(...rows.filter((r) => r.online).map((r) => r.id));
        save(rows);
      };
      return () => {
        n.registry.savePresence = save;
      };
    });
    try {
      const call = apiClient(
        () => nodes[0].url,
        () => `Bearer ${key}`,
      );
      for (let i = 0; i < 3; i++)
        expect((await call("/api/v1/devices/w1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: i, method: "echo", params: [i] } })).status).toBe(200);
      nodes[0].presence.flush(); // what the answers touched (its last_seen) is due now
      nodes[1].presence.flush();
      expect(written[0]).not.toContain("w1");
    } finally {
      for (const r of restore) r();
    }
  });

  it("a dead node's stored will fired by the node that holds the device itself does not silence its reassertion", async () => {
    // Only node 1 (the holder) streams stored wills now: aedes then authorizes the will with the device's live
    // connection as its client.
    const aedes0 = (nodes[0].broker as unknown as { aedes: { _clearWillInterval: NodeJS.Timeout } }).aedes;
    clearInterval(aedes0._clearWillInterval);
    const db = new Redis(redis.url);
    const willKey = "will:another-dead-node:w1";
    const will = { cmd: "publish", topic: "devices/w1/status", payload: Buffer.from('{"online":false}'), qos: 1, retain: true };
    await db.rpush("will", willKey);
    await db.set(willKey, msgpack.encode({ ...will, clientId: "w1", brokerId: "another-dead-node" }));
    await waitFor(async () => (await db.exists(willKey)) === 0);
    await sleep(HEARTBEAT_MS * 2);
    for (const n of nodes) expect(n.presence.isOnline("w1")).toBe(true);
    db.disconnect();
  }, 30_000);

  it("a dead node's stored will for a device that is back elsewhere fires (the store streams it), and the device reads online on both nodes once the holder reasserts", async () => {
    // What aedes's Redis persistence keeps for a connection's will, written as a node that died before either
    // started would have left it: no live node ever heard of that node, so none drops its will at login.
    const db = new Redis(redis.url);
    const willKey = "will:dead-node:w1";
    const will = { cmd: "publish", topic: "devices/w1/status", payload: Buffer.from('{"online":false}'), qos: 1, retain: true };
    await db.rpush("will", willKey);
    await db.set(willKey, msgpack.encode({ ...will, clientId: "w1", brokerId: "dead-node" }));
    // Fired within 4 heartbeats by whichever node streams it; the store then deletes it.
    await waitFor(async () => (await db.exists(willKey)) === 0);
    await sleep(HEARTBEAT_MS * 2);
    for (const n of nodes) expect(n.presence.isOnline("w1")).toBe(true);
    const retained = await db.hgetBuffer("retained", "devices/w1/status");
    expect(JSON.parse(String(msgpack.decode(retained!).payload)).online).toBe(true);
    // And it answers through the node that does not hold it.
    const call = apiClient(
      () => nodes[0].url,
      () => `Bearer ${key}`,
    );
    const answer = await call("/api/v1/devices/w1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "echo", params: ["x"] } });
    expect(answer).toEqual({
      status: 200,
      body: { jsonrpc: "2.0", id: 1, result: ["x"] },
    });
    db.disconnect();
  }, 30_000);
});
