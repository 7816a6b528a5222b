// Three nodes that share nothing on disk: each its own data directory (as on three machines), one Postgres for the
// registry and one Redis for the broker, both started by the test. A device made through one node connects to
// another and answers through the third; a job runs once per device across the nodes; a node killed with calls in
// flight: its devices come back through the others, nothing runs twice, and every node reads the same presence.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import type { Device } from "../host/device.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { waitFor } from "./support/api.ts";
import { startRedis } from "./support/redis.ts";
import { expectAnsweredOrNamed, nodeApi, startNode, workDevice, type Node } from "./support/nodes.ts";
import { psql, startPostgres, type TestPostgres } from "./support/postgres.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("three nodes on one Postgres and one Redis, no shared directory", () => {
  let pg: TestPostgres;
  let redis: RedisServer;
  let key: string;
  let passwordFile: string;
  const nodes: Node[] = [];
  const devices: Device[] = [];
  const ids = ["p0", "p1", "p2", "p3", "p4", "p5"];
  /** How many times each request token ran, on its device. */
  const executions = new Map<string, number>();
  const api = nodeApi(nodes, () => key);
  const online = async (n: number, id: string) => (await api(n)(`/api/v1/devices/${id}`)).body?.online === true;
  /** The CLI on the registry in Postgres, from a directory of its own. */
  const outpost = async (...args: string[]) =>
    (
      await run(
        "node",
        ["bin/outpost.js", ...args, "--data", mkdtempSync(join(tmpdir(), "outpost-pg-cli-")), "--db", pg.url, "--db-password-file", passwordFile],
        { cwd: ROOT },
      )
    ).stdout;
  const device = (id: string) => workDevice(id, executions);

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    passwordFile = join(mkdtempSync(join(tmpdir(), "outpost-pg-secret-")), "db-password");
    writeFileSync(passwordFile, `${pg.password}\n`, { mode: 0o600 });
    key = JSON.parse(await outpost("key", "create", "--name", "test", "--json")).key;
    for (let n = 0; n < 3; n++)
      nodes.push(await startNode(mkdtempSync(join(tmpdir(), `outpost-pg-node${n}-`)), redis.url, ["--db", pg.url, "--db-password-file", passwordFile]));
    for (const [i, id] of ids.entries()) {
      const { credential } = JSON.parse(await outpost("device", "add", id, "--json"));
      const d = device(id);
      await d.connect(
        [0, 1, 2].map((k) => nodes[(i + k) % 3].mqttUrl),
        { password: credential, reconnect: { minMs: 100, maxMs: 400 } },
      );
      devices.push(d);
    }
    for (const id of ids) for (let n = 0; n < 3; n++) await waitFor(() => online(n, id));
  }, 90_000);

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => {});
    for (const n of nodes) await n.stop();
    await redis?.close();
    await pg?.close();
  }, 30_000);

  it("keeps no registry on the nodes' disks: the devices and the key are rows in Postgres", () => {
    expect(psql(pg, "SELECT id FROM devices ORDER BY id").trim().split("\n")).toEqual(ids);
    expect(psql(pg, "SELECT name FROM api_keys").trim()).toBe("test");
    expect(psql(pg, "SELECT * FROM api_keys")).not.toContain(key.slice("opk_".length + 17)); // its hash only, not the secret
  });

  it("a device made through node 0 connects to node 1 and answers through node 2", async () => {
    const made = await api(0)("/api/v1/devices", { method: "POST", json: { id: "made-on-0" } });
    expect(made.status).toBe(201);
    const d = device("made-on-0");
    await d.connect(nodes[1].mqttUrl, { password: made.body.credential });
    devices.push(d);
    await waitFor(() => online(2, "made-on-0"));
    const answer = await api(2)("/api/v1/devices/made-on-0/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "work", params: ["x-1"] } });
    expect(answer).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: "x-1" } });
    expect(executions.get("x-1")).toBe(1);
    // Removed through node 2: node 1 drops its connection (the credentials revision is Postgres's).
    expect((await api(2)("/api/v1/devices/made-on-0", { method: "DELETE" })).status).toBe(204);
    await waitFor(() => !d.mqtt?.connected);
  }, 30_000);

  it("runs a job created on node 1 once per device; every node reads the same counts", async () => {
    const created = await api(1)("/api/v1/jobs", { method: "POST", json: { selector: { ids }, rpc: { method: "work", params: ["job"] }, max_in_flight: 6 } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitFor(async () => (await api(0)(`/api/v1/jobs/${id}`)).body.state === "completed");
    const views = await Promise.all([0, 1, 2].map(async (n) => (await api(n)(`/api/v1/jobs/${id}`)).body));
    for (const v of views) expect(v.counts).toMatchObject({ total: ids.length, succeeded: ids.length, queued: 0, in_progress: 0 });
    expect(executions.get("job"), "the job's request, all devices together").toBe(ids.length);
  }, 30_000);

  it("a node killed with calls in flight: its devices come back through the others, nothing runs twice, presence agrees", async () => {
    const victims = ids.filter((_, i) => i % 3 === 0); // connected to node 0 first
    const results: Promise<{ status: number; body: { error?: string } } | "lost">[] = [];
    let seq = 0;
    const fire = () => {
      for (const id of ids)
        for (let n = 0; n < 3; n++) {
          const token = `${id}-${n}-${seq++}`;
          const call = api(n)(`/api/v1/devices/${id}/rpc?timeout_ms=8000`, {
            method: "POST",
            json: { jsonrpc: "2.0", id: token, method: "work", params: [token] },
          });
          results.push(call.catch(() => "lost" as const));
        }
    };
    fire();
    await sleep(60);
    await nodes[0].kill();
    fire();
    const node0 = Number(new URL(nodes[0].mqttUrl).port);
    await waitFor(() => victims.every((id) => devices[ids.indexOf(id)].mqtt?.connected && devices[ids.indexOf(id)].mqtt?.broker.port !== node0));
    for (const id of victims) await waitFor(async () => (await online(1, id)) && (await online(2, id)));
    const settled = await Promise.all(results);
    expectAnsweredOrNamed(settled);
    for (const [token, n] of executions) expect(n, token).toBe(token === "job" ? ids.length : 1);
    // Both survivors read the same presence for every device, and each answers through both.
    for (const id of ids) {
      const [a, b] = await Promise.all([1, 2].map(async (n) => (await api(n)(`/api/v1/devices/${id}`)).body));
      expect([a.online, b.online], id).toEqual([true, true]);
      expect(a.transport).toBe(b.transport);
      for (const n of [1, 2]) {
        const token = `after-${id}-${n}`;
        const answer = await api(n)(`/api/v1/devices/${id}/rpc`, { method: "POST", json: { jsonrpc: "2.0", id: token, method: "work", params: [token] } });
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(executions.get(token)).toBe(1);
      }
    }
  }, 60_000);

  it("Postgres restarting under the nodes: calls meanwhile answer or are named 503 registry_unavailable; no node falls over", async () => {
    await pg.stop();
    const during: { status: number; body: { error?: string } }[] = [];
    try {
      for (let k = 0; k < 6; k++) {
        during.push(await api(1)("/api/v1/devices/p1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: k, method: "work", params: [`outage-${k}`] } }));
        during.push(await api(2)("/api/v1/devices", { method: "POST", json: { id: `outage-${k}` } }));
        await sleep(300); // the nodes' batched writes (presence, audit) run into the outage meanwhile
      }
    } finally {
      await pg.start();
    }
    for (const r of during) if (r.status !== 200) expect([r.status, r.body.error], JSON.stringify(r)).toEqual([503, "registry_unavailable"]);
    expect(during.filter((_, i) => i % 2 === 1).map((r) => r.status)).toEqual(Array(6).fill(503)); // a device creation needs the database
    for (const n of [1, 2]) expect(nodes[n].proc.exitCode, nodes[n].log()).toBeNull();
    // Both nodes dial again (not within 500 ms of a failed dial of theirs).
    for (const n of [1, 2]) await waitFor(async () => (await api(n)("/api/v1/devices")).status === 200);
    const made = await api(2)("/api/v1/devices", { method: "POST", json: { id: "after-outage" } });
    expect(made.status).toBe(201);
    const answer = await api(1)("/api/v1/devices/p1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 9, method: "work", params: ["after-outage"] } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  }, 60_000);
});
