// The embedded broker over worker processes (--mqtt-workers): each worker an aedes node sharing pub/sub and state
// through a private Redis (no hub of ours). Devices in every process are reachable over REST, messages and
// retained statuses cross processes, a device that reconnects through another process keeps one connection and
// its status, a dead worker's devices come back through the others with their will fired only if they do not,
// sessions survive a move to another worker, and nothing is left running on close.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import cluster from "node:cluster";
import { createServer } from "node:net";
import { BACKEND_USERNAME } from "../host/registry/registry.ts";
import { startJsDevice } from "../host/rpc/js-device.ts";
import { BrokerWorkerFailed } from "../host/broker/cluster.ts";
import type { Backend } from "../host/server/backend.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("embedded broker over two worker processes", () => {
  let backend: Backend;
  let key: string;
  const ids = ["c0", "c1", "c2", "c3"];
  const credentials: Record<string, string> = {};
  const devices: MqttClient[] = [];
  const api = apiClient(
    () => backend.url,
    () => `Bearer ${key}`,
  );
  const echo = (id: string, value: unknown) =>
    api(`/api/v1/devices/${id}/rpc`, { method: "POST", json: { jsonrpc: "2.0", id: 7, method: "echo", params: [value] } });
  const observer = () => mqtt.connectAsync(backend.mqttUrl, { username: BACKEND_USERNAME, password: backend.registry.backendPassword(), reconnectPeriod: 0 });

  beforeAll(async () => {
    backend = await startTestBackend("cluster", { mqttWorkers: 2, heartbeatMs: 300 });
    key = backend.registry.createApiKey().key;
    for (const id of ids) {
      credentials[id] = backend.registry.addDevice(id).credential;
      devices.push(await startJsDevice(backend.mqttUrl, { id, credential: credentials[id], reconnectPeriod: 100 }));
    }
    await waitFor(() => ids.every((id) => backend.presence.isOnline(id)));
  });

  afterAll(async () => {
    for (const d of devices) await d.endAsync(true);
    await backend?.close();
  });

  it("spreads device connections over both workers and answers REST calls to all of them", async () => {
    const procs = backend.broker!.processes();
    expect(procs).toHaveLength(2);
    expect(procs.map((p) => p.pid)).not.toContain(process.pid);
    expect(procs.every((p) => p.devices >= 1)).toBe(true);
    expect(procs.reduce((n, p) => n + p.devices, 0)).toBe(ids.length);
    for (const id of ids) expect(await echo(id, id)).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 7, result: [id] } });
  });

  /** Clients on the backend's credentials, one per worker, each recording which devices it heard per topic leaf. */
  const watchOneEach = async () => {
    const watchers: MqttClient[] = [];
    const heard: Record<string, Set<string>>[] = [];
    // Connections alternate between workers; keep going until every worker has one.
    while (!backend.broker!.processes().every((p) => p.privileged >= 1)) {
      const w = await observer();
      const mine: Record<string, Set<string>> = { rx: new Set(), tx: new Set(), status: new Set() };
      w.on("message", (topic) => {
        const [, id, leaf] = topic.split("/");
        mine[leaf]?.add(id);
      });
      await w.subscribeAsync(["devices/+/status", "devices/+/tx", "devices/+/rx"]);
      watchers.push(w);
      heard.push(mine);
      await waitFor(() => backend.broker!.processes().reduce((n, p) => n + p.privileged, 0) === watchers.length);
    }
    return { watchers, heard };
  };

  it("delivers any client's message to subscribers in the other worker, retained statuses included", async () => {
    // Each watcher sees every device's retained status, and every request and answer, whichever worker holds it.
    const { watchers, heard } = await watchOneEach();
    for (const id of ids) expect((await echo(id, "seen")).status).toBe(200);
    await waitFor(() => heard.every((h) => h.status.size === ids.length && h.rx.size === ids.length && h.tx.size === ids.length));
    // An observer's own request reaches a device in either worker.
    const got = new Promise<string>((resolve) => watchers[0].on("message", (t, p) => t === "devices/c3/tx" && resolve(p.toString())));
    watchers[0].publish("devices/c3/rx", JSON.stringify({ jsonrpc: "2.0", id: "obs", method: "echo", params: ["direct"] }));
    expect(JSON.parse(await got)).toEqual({ jsonrpc: "2.0", id: "obs", result: ["direct"] });
    for (const w of watchers) await w.endAsync();
    await waitFor(() => backend.broker!.processes().every((p) => p.privileged === 0));
  });

  it("keeps one connection, and the device online, when a device reconnects through the other worker", async () => {
    const total = () => backend.broker!.processes().reduce((n, p) => n + p.devices, 0);
    const before = total();
    const { watchers, heard } = await watchOneEach();
    const lastStatus = watchers.map(() => "");
    watchers.forEach((w, i) => w.on("message", (t, p) => t === "devices/c0/status" && (lastStatus[i] = p.toString())));
    // Successive connections alternate between the workers, so each one takes the device over across processes.
    for (let round = 0; round < 4; round++) {
      const old = devices[0];
      let oldClosed = false;
      old.on("close", () => (oldClosed = true));
      old.options.reconnectPeriod = 0; // the replaced connection stays down
      devices[0] = await startJsDevice(backend.mqttUrl, { id: "c0", credential: credentials.c0, methods: { who: () => round } });
      await waitFor(() => oldClosed);
      // The old connection's will ("offline") must not outlive the new connection's "online".
      await new Promise((r) => setTimeout(r, 200));
      expect(backend.presence.isOnline("c0")).toBe(true);
      expect(lastStatus).toEqual(watchers.map(() => '{"online":true}'));
      expect(await api("/api/v1/devices/c0/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "who" } })).toEqual({
        status: 200,
        body: { jsonrpc: "2.0", id: 1, result: round },
      });
      expect(total()).toBe(before);
    }
    expect(heard.length).toBe(2);
    for (const w of watchers) await w.endAsync();
    await waitFor(() => backend.broker!.processes().every((p) => p.privileged === 0));
  });

  it("serves a dead worker's devices again through the worker left and its replacement, their statuses online throughout", async () => {
    const watching = await watchOneEach();
    const statuses = watching.watchers.map(() => [] as string[]);
    watching.watchers.forEach((w, i) => w.on("message", (t, p) => t.endsWith("/status") && statuses[i].push(`${t.split("/")[1]} ${p}`)));
    const [victim] = backend.broker!.processes().filter((p) => p.devices > 0);
    process.kill(victim.pid, "SIGKILL");
    await waitFor(() => watching.watchers.filter((w) => w.connected).length === 1);
    const survivor = watching.watchers.findIndex((w) => w.connected);
    // The devices reconnect by themselves (every 100 ms) and answer through the worker left.
    await waitFor(async () => (await Promise.all(ids.map((id) => echo(id, "back")))).every((r) => r.status === 200));
    // Their wills, stored by the dead worker, were dropped when they logged in again: no "offline" after "online".
    await new Promise((r) => setTimeout(r, 7 * 300));
    for (const id of ids) expect(statuses[survivor].filter((s) => s.startsWith(`${id} `)).at(-1) ?? `${id} {"online":true}`).toBe(`${id} {"online":true}`);
    for (const id of ids) expect(backend.presence.isOnline(id)).toBe(true);
    for (const w of watching.watchers) await w.endAsync(true);
    await waitFor(() => backend.broker!.processes().length === 2);
    expect(backend.broker!.processes().map((p) => p.pid)).not.toContain(victim.pid);
    // The replacement has every retained status (from Redis), though they were published before it started.
    const { watchers, heard } = await watchOneEach();
    await waitFor(() => heard.every((h) => h.status.size === ids.length));
    for (const w of watchers) await w.endAsync();
  });

  it("keeps a device's session across workers (in Redis): a request queued while it was away reaches it in the other one", async () => {
    const id = "c-session";
    const { credential } = backend.registry.addDevice(id);
    const present: boolean[] = [];
    const queued: string[] = [];
    // Successive connections alternate between the workers.
    for (let round = 0; round < 3; round++) {
      const client = mqtt.connect(backend.mqttUrl, { clientId: id, username: id, password: credential, clean: false, reconnectPeriod: 0 });
      client.on("message", (_t, p) => queued.push(p.toString()));
      present.push(await new Promise<boolean>((resolve) => client.once("connect", (connack) => resolve(connack.sessionPresent))));
      if (round === 0) await client.subscribeAsync(`devices/${id}/rx`, { qos: 1 });
      if (round === 1) await waitFor(() => queued.includes(`queued-0`));
      await client.endAsync();
      const w = await observer();
      await w.publishAsync(`devices/${id}/rx`, `queued-${round}`, { qos: 1 });
      await w.endAsync();
    }
    expect(present).toEqual([false, true, true]);
    expect(queued).toContain("queued-0");
  });

  it("disconnects a deleted device from whichever worker holds it", async () => {
    const gone = devices[3];
    gone.options.reconnectPeriod = 0;
    const closed = new Promise<void>((r) => gone.once("close", () => r()));
    expect((await api("/api/v1/devices/c3", { method: "DELETE" })).status).toBe(204);
    await closed;
    expect((await echo("c3", "x")).status).toBe(404);
  });

  it("stops every worker when the backend closes", async () => {
    const pids = backend.broker!.processes().map((p) => p.pid);
    for (const d of devices) await d.endAsync(true);
    devices.length = 0;
    await backend.close();
    backend = undefined as never;
    expect(pids.filter(alive)).toEqual([]);
  });
});

it("fails to start with BrokerWorkerFailed when the MQTT port is taken, leaving no worker behind", async () => {
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, "127.0.0.1", r));
  const port = (squatter.address() as { port: number }).port;
  try {
    const err = await startTestBackend("cluster-port", { mqttWorkers: 2, mqttPort: port }).then(
      (b) => (b.close(), undefined),
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(BrokerWorkerFailed);
    expect(err!.message).toMatch(/EADDRINUSE/);
    expect(Object.keys(cluster.workers ?? {})).toEqual([]);
  } finally {
    squatter.close();
  }
});
