// A node killed with calls in flight (issue 19, items 3 and 4): devices that take the list of all three nodes come
// back through the other two by themselves; every call made through a surviving node ends with an answer or a
// named error; no request runs twice on its device (counted on the device, per request); the killed node's wills
// do not overwrite the statuses of devices that are back; and the devices then answer through every node left.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Device } from "../host/device.ts";
import { Registry } from "../host/registry/registry.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { waitFor } from "./support/api.ts";
import { startRedis } from "./support/redis.ts";
import { expectAnsweredOrNamed, NODE_HEARTBEAT_MS, nodeApi, startNode, workDevice, type Node } from "./support/nodes.ts";

const NATIVE = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a node killed with calls in flight", () => {
  let redis: RedisServer;
  let registry: Registry;
  let key: string;
  const nodes: Node[] = [];
  const devices: Device[] = [];
  const ids = ["f0", "f1", "f2", "f3", "f4", "f5"];
  /** How many times each request token ran, on the device. */
  const executions = new Map<string, number>();
  const api = nodeApi(nodes, () => key);
  const work = (n: number, id: string, token: string) =>
    api(n)(`/api/v1/devices/${id}/rpc?timeout_ms=8000`, { method: "POST", json: { jsonrpc: "2.0", id: token, method: "work", params: [token] } });
  const online = async (n: number, id: string) => (await api(n)(`/api/v1/devices/${id}`)).body?.online === true;

  beforeAll(async () => {
    redis = await startRedis();
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-failover-"));
    registry = new Registry(dataDir);
    registry.backendPassword();
    key = registry.createApiKey().key;
    for (let n = 0; n < 3; n++) nodes.push(await startNode(dataDir, redis.url));
    for (const [i, id] of ids.entries()) {
      const d = workDevice(id, executions);
      // Each device's own order of the nodes, starting with a different one: they spread over all three.
      const urls = [0, 1, 2].map((k) => nodes[(i + k) % 3].mqttUrl);
      await d.connect(urls, { password: registry.addDevice(id).credential, reconnect: { minMs: 100, maxMs: 400 } });
      devices.push(d);
    }
    for (const id of ids) for (let n = 0; n < 3; n++) await waitFor(() => online(n, id));
  }, 60_000);

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => {});
    for (const n of nodes) await n.stop();
    registry?.close();
    await redis?.close();
  }, 30_000);

  it("moves the dead node's devices to the others; calls through the survivors end named, and nothing runs twice", async () => {
    const victims = ids.filter((_, i) => i % 3 === 0); // connected to node 0 first
    const results: Promise<{ status: number; body: { error?: string; result?: string } } | "lost">[] = [];
    let seq = 0;
    // Calls through all three nodes to every device, kept coming while node 0 is killed and the devices move.
    const fire = (rounds: number) => {
      for (let r = 0; r < rounds; r++)
        for (const id of ids)
          for (let n = 0; n < 3; n++) {
            const token = `${id}-${n}-${seq++}`;
            results.push(work(n, id, token).catch(() => "lost" as const)); // node 0's callers lose their connection
          }
    };
    fire(2);
    await sleep(60);
    await nodes[0].kill();
    fire(1);
    // The devices reconnect by themselves, to the next node of their list.
    const node0 = Number(new URL(nodes[0].mqttUrl).port);
    await waitFor(() => victims.every((id) => devices[ids.indexOf(id)].mqtt!.connected && devices[ids.indexOf(id)].mqtt!.broker.port !== node0));
    for (const id of victims) await waitFor(async () => (await online(1, id)) && (await online(2, id)));
    const settled = await Promise.all(results);
    expect(settled, "no call was in flight through node 0 at the kill").toContain("lost"); // the kill did land with calls in flight through node 0
    // Through a surviving node, every call ends with its answer or a named error saying whether it was delivered.
    expectAnsweredOrNamed(settled);
    expect(settled.filter((r) => r !== "lost" && r.status === 200).length).toBeGreaterThan(ids.length);
    // No request ran twice on its device, whichever node it went through and whatever happened to its link.
    for (const [token, n] of executions) expect(n, token).toBe(1);
  }, 60_000);

  it("keeps the moved devices online on every node left after the dead node's wills were due, and they answer through each", async () => {
    await sleep(NODE_HEARTBEAT_MS * 8); // past 3-7 heartbeats: the survivors have dealt with node 0's wills by now
    for (const id of ids)
      for (const n of [1, 2]) {
        // On failure, where the device is and what each node left says of it.
        const where = async () =>
          JSON.stringify({
            port: devices[ids.indexOf(id)].mqtt?.broker.port,
            views: await Promise.all([1, 2].map(async (k) => (await api(k)(`/api/v1/devices/${id}`)).body)),
          });
        if (!(await online(n, id))) expect.fail(`${id} offline on node ${n}: ${await where()}`);
        const token = `after-${id}-${n}`;
        expect(await work(n, id, token)).toEqual({ status: 200, body: { jsonrpc: "2.0", id: token, result: token } });
        expect(executions.get(token)).toBe(1);
      }
  }, 30_000);

  it("the native device takes several --url and moves past the dead node to the next one", async () => {
    const { credential } = registry.addDevice("native-1");
    // node 0 is dead by now: its URL first, then node 2's.
    const proc = spawn(NATIVE, ["--id", "native-1", "--password", credential, "--url", nodes[0].mqttUrl, "--url", nodes[2].mqttUrl], { stdio: "ignore" });
    try {
      await waitFor(async () => (await online(1, "native-1")) && (await online(2, "native-1")));
      const answer = await api(1)("/api/v1/devices/native-1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 3, method: "echo", params: ["n"] } });
      expect(answer).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 3, result: ["n"] } });
    } finally {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    }
  }, 30_000);
});
