// Jobs across several nodes (issue 19: jobs run once across nodes, not once per node; issue 17: nothing runs
// twice): three `serve` processes on one Redis and one data dir, 30 devices spread over them, each with the list of
// every node. An RPC job created on one node runs on one node (the lease holder) and reaches every device exactly
// once, counted on the devices; every node answers the same counts. Then the holder is killed mid-job: another
// node takes the job over once the lease expired, and no device runs its execution twice.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { Device } from "../host/device.ts";
import { Registry } from "../host/registry/registry.ts";
import { connectRedis } from "../host/broker/redis.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { apiClient, waitFor } from "./support/api.ts";
import { startRedis } from "./support/redis.ts";
import { startNode, type Node } from "./support/nodes.ts";
import { release } from "./support/ota.ts";
import { wasmBytes } from "../host/engine.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LEASE_MS = 1500;

describe("jobs on three nodes sharing one Redis and one registry", () => {
  let redis: RedisServer;
  let spy: Redis;
  let registry: Registry;
  let key: string;
  let dataDir: string;
  const nodes: Node[] = [];
  const devices: Device[] = [];
  const ids = Array.from({ length: 30 }, (_, i) => `jn${i}`);
  /** Executions per "<job tag>:<device id>", counted on the devices. */
  const runs = new Map<string, number>();
  const ran = (tag: string, id: string) => runs.get(`${tag}:${id}`) ?? 0;
  const api = (n: number) =>
    apiClient(
      () => nodes[n].url,
      () => `Bearer ${key}`,
    );
  const job = async (n: number, id: string) => (await api(n)(`/api/v1/jobs/${id}`)).body;
  /** The node whose runner holds the job's lease (its owner names the process id). */
  const holder = async (jobId: string) => {
    const owner = await spy.get(`outpost:lease:job:${jobId}`);
    return owner ? nodes.findIndex((n) => owner.includes(`:${n.proc.pid}:`)) : -1;
  };

  beforeAll(async () => {
    redis = await startRedis();
    spy = await connectRedis(redis.url);
    dataDir = mkdtempSync(join(tmpdir(), "outpost-jobs-nodes-"));
    registry = new Registry(dataDir);
    registry.backendPassword();
    key = registry.createApiKey().key;
    const credentials = ids.map((id) => registry.addDevice(id).credential);
    for (let n = 0; n < 3; n++) nodes.push(await startNode(dataDir, redis.url, ["--job-lease-ms", String(LEASE_MS)]));
    await Promise.all(
      ids.map(async (id, i) => {
        const d = new Device({
          id,
          methods: {
            bump: async ([tag]: [string]) => {
              runs.set(`${tag}:${id}`, ran(tag, id) + 1);
              await sleep(100); // long enough that a kill lands while executions are in flight
              return tag;
            },
          },
        });
        // Spread over the three nodes, each device with all of them to move to when its node dies.
        await d.connect(
          [0, 1, 2].map((k) => nodes[(i + k) % 3].mqttUrl),
          { password: credentials[i], reconnect: { minMs: 100, maxMs: 400 } },
        );
        devices.push(d);
      }),
    );
    const allOnline = async (n: number) => {
      const list = (await api(n)("/api/v1/devices")).body as { id: string; online: boolean }[];
      return ids.every((id) => list.find((d) => d.id === id)?.online === true);
    };
    for (let n = 0; n < 3; n++) await waitFor(() => allOnline(n));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close().catch(() => {})));
    for (const n of nodes) await n.stop();
    spy?.disconnect();
    registry?.close();
    await redis?.close();
  }, 30_000);

  it("runs a job created on one node on one node, once per device; every node shows the same counts", async () => {
    const created = await api(1)("/api/v1/jobs", { method: "POST", json: { selector: { ids }, rpc: { method: "bump", params: ["a"] }, max_in_flight: 8 } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitFor(async () => (await holder(id)) >= 0 || (await job(1, id)).state !== "in_progress");
    await waitFor(async () => (await job(0, id)).state === "completed");
    for (const d of ids) expect(ran("a", d), d).toBe(1);
    const views = await Promise.all([0, 1, 2].map((n) => job(n, id)));
    for (const v of views) {
      expect(v.state).toBe("completed");
      expect(v.counts).toEqual(views[0].counts);
    }
    expect(views[0].counts).toMatchObject({ total: 30, succeeded: 30, queued: 0, in_progress: 0 });
    expect(await spy.get(`outpost:lease:job:${id}`)).toBeNull(); // released when it completed
  }, 30_000);

  it("cancels the execution of a device deleted during the job (through another node) instead of waiting for the expiry", async () => {
    registry.addDevice("jgone"); // registered, never connected: its execution waits for it
    const created = await api(0)("/api/v1/jobs", {
      method: "POST",
      json: { selector: { ids: [...ids.slice(0, 5), "jgone"] }, rpc: { method: "bump", params: ["g"] }, expires_in_s: 3600 },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitFor(async () => (await job(0, id)).counts.succeeded === 5);
    expect((await job(0, id)).state).toBe("in_progress");
    expect((await api(2)("/api/v1/devices/jgone", { method: "DELETE" })).status).toBe(204);
    await waitFor(async () => (await job(1, id)).state !== "in_progress");
    const view = await job(1, id);
    expect(view.state).toBe("completed");
    expect(view.counts).toMatchObject({ total: 6, succeeded: 5, cancelled: 1, queued: 0 });
    const gone = (await api(1)(`/api/v1/jobs/${id}/executions?state=cancelled`)).body;
    expect(gone).toMatchObject([{ device_id: "jgone", state: "cancelled", reason: "the device was deleted" }]);
  }, 30_000);

  it("goes on through another node when the node running the job is killed mid-job; nothing runs twice", async () => {
    const created = await api(0)("/api/v1/jobs", {
      method: "POST",
      json: { selector: { ids }, rpc: { method: "bump", params: ["b"] }, rate: { max_per_minute: 600 }, max_in_flight: 4 },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    let victim = -1;
    await waitFor(async () => (victim = await holder(id)) >= 0);
    await waitFor(() => ids.filter((d) => ran("b", d) > 0).length >= 8);
    await nodes[victim].kill();
    const survivors = [0, 1, 2].filter((n) => n !== victim);
    await waitFor(async () => (await job(survivors[0], id)).state !== "in_progress");
    const views = await Promise.all(survivors.map((n) => job(n, id)));
    expect(views[0].state).toBe("completed");
    expect(views[1].counts).toEqual(views[0].counts);
    const next = await holder(id);
    expect(next).toBe(-1); // the new holder released it when the job completed
    const list = (await api(survivors[0])(`/api/v1/jobs/${id}/executions?limit=100`)).body as { device_id: string; state: string; reason: string | null }[];
    expect(list).toHaveLength(30);
    for (const e of list) {
      expect(ran("b", e.device_id), e.device_id).toBeLessThanOrEqual(1); // never twice
      if (e.state === "succeeded") expect(ran("b", e.device_id), e.device_id).toBe(1);
      else {
        // In flight on the killed node: handled as a restart is (may have run; never sent again).
        expect(e.state).toBe("timed_out");
        expect(e.reason).toMatch(/interrupted/);
      }
    }
    const interrupted = list.filter((e) => e.state !== "succeeded").length;
    expect(interrupted).toBeLessThanOrEqual(4); // at most max_in_flight were in flight there
    expect(views[0].counts).toMatchObject({ total: 30, succeeded: 30 - interrupted, timed_out: interrupted, queued: 0, in_progress: 0 });
  }, 40_000);

  it("a node started while another runs a job does not run it too (before leases, every starting node resumed it)", async () => {
    const alive = [0, 1, 2].filter((n) => nodes[n].proc.exitCode === null && nodes[n].proc.signalCode === null);
    const created = await api(alive[0])("/api/v1/jobs", {
      method: "POST",
      json: { selector: { ids }, rpc: { method: "bump", params: ["c"] }, rate: { max_per_minute: 900 }, max_in_flight: 4 },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    let running = -1;
    await waitFor(async () => (running = await holder(id)) >= 0);
    await waitFor(() => ids.filter((d) => ran("c", d) > 0).length >= 4);
    // A node (re)started mid-job, on the same registry: it finds the job in progress, and its lease held.
    const dead = [0, 1, 2].find((n) => !alive.includes(n))!;
    nodes[dead] = await startNode(dataDir, redis.url, ["--job-lease-ms", String(LEASE_MS)]);
    await waitFor(async () => (await job(dead, id)).state !== "in_progress");
    expect(await holder(id)).toBe(-1);
    const view = await job(dead, id);
    expect(view.state).toBe("completed");
    expect(view.counts).toMatchObject({ total: 30, succeeded: 30, timed_out: 0 });
    for (const d of ids) expect(ran("c", d), d).toBe(1);
    expect(running).not.toBe(dead);
  }, 40_000);

  it("updates a device from one node at a time: a second update through another node is 409 while the first runs", async () => {
    const credential = registry.addDevice("jota").credential;
    let begins = 0;
    const d = new Device({
      id: "jota",
      methods: {
        // Slow, then refused: the first update holds the device's lease for about a second, then ends rejected.
        "ota.begin": async () => {
          begins++;
          await sleep(1000);
          throw new Error("busy");
        },
      },
    });
    devices.push(d);
    await d.connect(
      nodes.map((n) => n.mqttUrl),
      { password: credential, reconnect: { minMs: 100, maxMs: 400 } },
    );
    for (let n = 0; n < 3; n++) await waitFor(async () => (await api(n)("/api/v1/devices/jota")).body?.online === true);
    const uploaded = await api(0)("/api/v1/releases", { method: "POST", json: release(wasmBytes(), 7) });
    expect(uploaded.status).toBe(201);
    const update = (n: number) => api(n)("/api/v1/devices/jota/update", { method: "POST", json: { release: uploaded.body.id, timeout_ms: 5000 } });
    expect((await update(0)).status).toBe(202);
    const second = await update(1);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ error: "update_in_progress" });
    expect(second.body.message).toMatch(/another node/);
    // Once the first has ended, the lease is free: another node may update the device.
    await waitFor(async () => (await api(0)("/api/v1/devices/jota/update")).body?.state !== "sending" && (await spy.get("outpost:lease:ota:jota")) === null);
    expect((await update(2)).status).toBe(202);
    await waitFor(() => begins >= 2);
    await sleep(200);
    expect(begins).toBe(2); // the first and the third reached the device; the refused second never did
  }, 30_000);
});
