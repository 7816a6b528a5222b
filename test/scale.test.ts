// Several backend nodes (separate processes) on one registry and one Redis (issue 19, items 1, 2 and 4): devices
// spread over three nodes answer REST calls made through any node; a device's answer reaches only the node that
// asked (its tx channel in Redis has that node alone as subscriber); every node sees the same retained statuses
// and the same wills; a node refuses to start on a Redis that is not there, and a Redis that dies meanwhile gives
// 503 cluster_unavailable, not a hang.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import type { Redis } from "ioredis";
import { Device } from "../host/device.ts";
import { BACKEND_USERNAME, Registry } from "../host/registry/registry.ts";
import { startJsDevice } from "../host/rpc/js-device.ts";
import { connectRedis } from "../host/broker/redis.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { apiClient, waitFor } from "./support/api.ts";
import { freePort } from "./support/mosquitto.ts";
import { startRedis } from "./support/redis.ts";
import { startNode, type Node } from "./support/nodes.ts";

describe("three backend nodes on one Redis and one registry", () => {
  let redis: RedisServer;
  let spy: Redis;
  let registry: Registry;
  let key: string;
  const nodes: Node[] = [];
  const devices: Device[] = [];
  const ids = ["s0", "s1", "s2", "s3", "s4", "s5"];
  /** Executions per device, counted on the device. */
  const runs = new Map<string, number>();
  const credentials: Record<string, string> = {};
  const api = (n: number) =>
    apiClient(
      () => nodes[n].url,
      () => `Bearer ${key}`,
    );
  const call = (n: number, id: string, method: string, params: unknown[] = []) =>
    api(n)(`/api/v1/devices/${id}/rpc?timeout_ms=5000`, { method: "POST", json: { jsonrpc: "2.0", id: 1, method, params } });
  const onlineEverywhere = async (id: string, online = true) => {
    for (let n = 0; n < nodes.length; n++) if ((await api(n)(`/api/v1/devices/${id}`)).body?.online !== online) return false;
    return true;
  };
  const watcher = (n: number): Promise<MqttClient> =>
    mqtt.connectAsync(nodes[n].mqttUrl, { username: BACKEND_USERNAME, password: registry.backendPassword({ create: false }), reconnectPeriod: 0 });

  beforeAll(async () => {
    redis = await startRedis();
    spy = await connectRedis(redis.url);
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-scale-"));
    registry = new Registry(dataDir);
    registry.backendPassword();
    key = registry.createApiKey().key;
    for (const id of [...ids, "will-1"]) credentials[id] = registry.addDevice(id).credential;
    for (let n = 0; n < 3; n++) nodes.push(await startNode(dataDir, redis.url));
    for (const [i, id] of ids.entries()) {
      runs.set(id, 0);
      const d = new Device({
        id,
        methods: {
          bump: () => {
            runs.set(id, (runs.get(id) ?? 0) + 1);
            return id;
          },
        },
      });
      await d.connect(nodes[i % 3].mqttUrl, { password: credentials[id] });
      devices.push(d);
    }
    for (const id of ids) await waitFor(() => onlineEverywhere(id));
  }, 120_000); // three node processes and a Redis: slow to start on a loaded 2-core machine

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => {});
    for (const n of nodes) await n.stop();
    spy?.disconnect();
    registry?.close();
    await redis?.close();
  }, 30_000);

  it("sends a device's answer to the node that asked only: its tx channel has that node alone as subscriber", async () => {
    const numsub = async (id: string) => ((await spy.pubsub("NUMSUB", `devices/${id}/tx`)) as [string, number])[1];
    for (const id of ids) expect(await numsub(id)).toBe(0); // nobody asked anyone yet: no node hears any answer
    expect((await call(2, "s1", "bump")).status).toBe(200); // s1 is on node 1, asked through node 2
    expect(await numsub("s1")).toBe(1);
    for (const id of ids.filter((i) => i !== "s1")) expect(await numsub(id)).toBe(0);
  });

  it("answers a call through every node for devices on every node, each run once on its device", async () => {
    for (const id of ids) for (let n = 0; n < 3; n++) expect(await call(n, id, "bump")).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: id } });
    for (const id of ids) expect(runs.get(id)).toBe(id === "s1" ? 4 : 3);
  });

  it("gives every node the same retained statuses, and a will that fires reaches all of them", async () => {
    const heard = await Promise.all(
      [0, 1, 2].map(async (n) => {
        const w = await watcher(n);
        const seen = new Map<string, boolean | string>();
        w.on("message", (t, p) => seen.set(t.split("/")[1], p.length ? JSON.parse(p.toString()).online : "cleared"));
        await w.subscribeAsync("devices/+/status");
        return { w, seen };
      }),
    );
    await waitFor(() => heard.every(({ seen }) => ids.every((id) => seen.get(id) === true)));
    // A device that vanishes without a DISCONNECT: its node publishes its will, and every node takes it offline.
    const crashing = await startJsDevice(nodes[0].mqttUrl, { id: "will-1", credential: credentials["will-1"], reconnectPeriod: 0 });
    await waitFor(() => onlineEverywhere("will-1"));
    (crashing as unknown as { stream: { destroy(): void } }).stream.destroy();
    await waitFor(() => onlineEverywhere("will-1", false));
    await waitFor(() => heard.every(({ seen }) => seen.get("will-1") === false));
    for (const { w } of heard) await w.endAsync();
  });

  it("shows no node a device online before its rx subscription is in place, so a call is refused as not delivered", async () => {
    const id = "no-rx";
    const credential = registry.addDevice(id).credential;
    const client = await mqtt.connectAsync(nodes[1].mqttUrl, { clientId: id, username: id, password: credential, reconnectPeriod: 0 });
    client.publish(`devices/${id}/status`, '{"online":true}', { retain: true, qos: 1 }); // before any SUBSCRIBE
    await new Promise((r) => setTimeout(r, 1000));
    for (let n = 0; n < 3; n++) {
      expect((await api(n)(`/api/v1/devices/${id}`)).body.online).toBe(false);
      expect(await call(n, id, "bump")).toMatchObject({ status: 503, body: { delivered: false } });
    }
    client.on("message", (_t, p) => {
      const req = JSON.parse(p.toString()) as { id: string };
      client.publish(`devices/${id}/tx`, JSON.stringify({ jsonrpc: "2.0", id: req.id, result: "late but here" }));
    });
    await client.subscribeAsync(`devices/${id}/rx`, { qos: 1 }); // now the held status goes out
    await waitFor(() => onlineEverywhere(id));
    expect((await call(0, id, "bump")).body.result).toBe("late but here");
    await client.endAsync();
  });

  it("refuses a call across nodes for a device that is offline everywhere (503, not delivered)", async () => {
    expect(await call(1, "will-1", "bump")).toMatchObject({ status: 503, body: { error: "device_offline", delivered: false } });
  });

  it("names a Redis that is not there at startup (RedisUnreachable), rather than hanging", async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const proc = spawn(
      "node",
      ["bin/outpost.js", "serve", "--data", mkdtempSync(join(tmpdir(), "outpost-noredis-")), "--port", "0", "--mqtt-port", "0", "--redis", dead],
      {
        cwd: join(import.meta.dirname, ".."),
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once("exit", resolve));
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/RedisUnreachable: .*no answer from Redis|RedisUnreachable: cannot reach Redis/);
  }, 20_000);

  it("answers 503 cluster_unavailable when Redis dies under running nodes", async () => {
    spy.disconnect();
    await redis.close();
    await waitFor(async () => (await call(0, "s1", "bump")).body?.error === "cluster_unavailable");
    expect(await call(2, "s0", "bump")).toMatchObject({ status: 503, body: { error: "cluster_unavailable", delivered: false } });
  }, 20_000);
});

describe("a Redis with a password", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ password: "s3cret-redis" });
  });
  afterAll(async () => redis?.close());

  const serve = async (args: string[], env: Record<string, string> = {}) => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-redispw-"));
    const proc = spawn("node", ["bin/outpost.js", "serve", "--data", dataDir, "--port", "0", "--mqtt-port", "0", ...args], {
      cwd: join(import.meta.dirname, ".."),
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let out = "";
    let err = "";
    proc.stdout.on("data", (d: Buffer) => (out += d));
    proc.stderr.on("data", (d: Buffer) => (err += d));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", resolve));
    await Promise.race([exited, waitFor(() => out.includes("outpost is running"))]);
    const running = out.includes("outpost is running");
    proc.kill("SIGTERM");
    return { running, code: await exited, stderr: err };
  };

  it("takes the password from --redis-password-file (0600) or OUTPOST_REDIS_PASSWORD, and never shows it", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "outpost-redispw-file-")), "redis-password");
    writeFileSync(file, "s3cret-redis\n", { mode: 0o600 });
    const fromFile = await serve(["--redis", redis.url, "--redis-password-file", file]);
    expect(fromFile.running).toBe(true);
    const fromEnv = await serve(["--redis", redis.url], { OUTPOST_REDIS_PASSWORD: "s3cret-redis" });
    expect(fromEnv.running).toBe(true);
    for (const r of [fromFile, fromEnv]) expect(r.stderr).not.toContain("s3cret-redis");
  }, 30_000);

  it("names a wrong or missing password (RedisUnreachable), with the password redacted", async () => {
    const url = new URL(redis.url);
    url.password = "wrong-one";
    const wrong = await serve(["--redis", url.toString()]);
    expect(wrong.running).toBe(false);
    expect(wrong.stderr).toMatch(/RedisUnreachable/);
    expect(wrong.stderr).not.toContain("wrong-one");
    const none = await serve(["--redis", redis.url]);
    expect(none.running).toBe(false);
    expect(none.stderr).toMatch(/RedisUnreachable.*NOAUTH|RedisUnreachable.*auth/i);
  }, 30_000);
});

it("names the flags that do not go together: several --url with a ws:// one, a Redis password file without --redis", () => {
  const cli = (...args: string[]) => spawnSync("node", ["bin/outpost.js", ...args], { cwd: join(import.meta.dirname, ".."), encoding: "utf8" });
  const mixed = cli("device", "run", "--id", "x", "--url", "mqtt://127.0.0.1:1,ws://127.0.0.1:2/api/v1/devices/ws");
  expect(mixed.status).not.toBe(0);
  expect(mixed.stderr).toMatch(/several --url are MQTT brokers/);
  const data = mkdtempSync(join(tmpdir(), "outpost-flags-"));
  const orphan = cli("serve", "--data", data, "--port", "0", "--mqtt-port", "0", "--redis-password-file", join(data, "nope"));
  expect(orphan.status).not.toBe(0);
  expect(orphan.stderr).toMatch(/--redis-password-file is the shared Redis's: it needs --redis/);
}, 30_000);
