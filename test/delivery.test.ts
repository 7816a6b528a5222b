// What a failed call says about delivery: 503 only when the request never reached the device, 504 with
// delivered:true when it may have run; and Idempotency-Key, so a retry does not run a call twice.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBackend, apiClient, waitFor } from "./support/api.ts";
import type { Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";

let backend: Backend;
let key: string;
const devices: Device[] = [];
const runs = new Map<string, number>();
let release: (() => void) | undefined;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

async function addDevice(id: string): Promise<Device> {
  const { credential } = backend.registry.addDevice(id);
  const device = new Device({
    id,
    methods: {
      // Runs (counted), then never answers: the link is cut while the caller waits.
      "act.hang": () => {
        runs.set(id, (runs.get(id) ?? 0) + 1);
        return new Promise(() => {});
      },
      "act.count": () => {
        const n = (runs.get(id) ?? 0) + 1;
        runs.set(id, n);
        return n;
      },
      // Counted at once, answered when the test says so.
      "act.gate": () => {
        runs.set(id, (runs.get(id) ?? 0) + 1);
        return new Promise((resolve) => (release = () => resolve("done")));
      },
    },
  });
  devices.push(device);
  await device.connect(backend.mqttUrl, { password: credential, reconnect: { minMs: 50, maxMs: 200 } });
  await waitFor(() => backend.presence.isOnline(id));
  return device;
}

/** The broker's side of the device's socket, reset as a cut link would be. */
function cutLink(id: string): void {
  const clients = (backend.broker as unknown as { aedes: { clients: Record<string, { conn: { destroy(): void } }> } }).aedes.clients;
  clients[id].conn.destroy();
}

beforeAll(async () => {
  backend = await startTestBackend("delivery");
  key = backend.registry.createApiKey().key;
});
afterAll(async () => {
  for (const d of devices) await d.close();
  await backend.close();
});

describe("delivery status", () => {
  it("a call the device ran before its link was cut is 504 device_no_answer, delivered: true (not 503)", async () => {
    await addDevice("cut-1");
    const call = api("/api/v1/devices/cut-1/rpc?timeout_ms=60000", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "act.hang" } });
    await waitFor(() => runs.get("cut-1") === 1);
    cutLink("cut-1");
    const res = await call;
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ error: "device_no_answer", delivered: true });
  });

  it("a call to an offline device is 503 device_offline, delivered: false", async () => {
    backend.registry.addDevice("never-on");
    const res = await api("/api/v1/devices/never-on/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "echo" } });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: "device_offline", delivered: false });
  });

  it("a timeout says delivered: true", async () => {
    await addDevice("slow-1");
    const res = await api("/api/v1/devices/slow-1/rpc?timeout_ms=200", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "act.hang" } });
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ error: "device_timeout", delivered: true });
  });
});

describe("Idempotency-Key", () => {
  const post = (dev: string, k: string | undefined, json: unknown, q = "") =>
    api(`/api/v1/devices/${dev}/rpc${q}`, { method: "POST", json, headers: k ? { "idempotency-key": k } : {} });

  it("a retry with the same key gets the first answer and does not run again", async () => {
    await addDevice("idem-1");
    const first = await post("idem-1", "k-1", { jsonrpc: "2.0", id: 1, method: "act.count" });
    expect(first).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: 1 } });
    const again = await post("idem-1", "k-1", { jsonrpc: "2.0", id: 1, method: "act.count" });
    expect(again).toEqual(first);
    expect(runs.get("idem-1")).toBe(1);
    const other = await post("idem-1", "k-2", { jsonrpc: "2.0", id: 1, method: "act.count" });
    expect(other.body.result).toBe(2);
    const none = await post("idem-1", undefined, { jsonrpc: "2.0", id: 1, method: "act.count" });
    expect(none.body.result).toBe(3);
  });

  it("a retry while the first call runs waits for its answer", async () => {
    await addDevice("idem-2");
    const a = post("idem-2", "k-wait", { jsonrpc: "2.0", id: 1, method: "act.gate" }, "?timeout_ms=60000");
    await waitFor(() => runs.get("idem-2") === 1);
    const b = post("idem-2", "k-wait", { jsonrpc: "2.0", id: 1, method: "act.gate" }, "?timeout_ms=60000");
    await new Promise((r) => setTimeout(r, 100));
    release!();
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: "done" } });
    expect(rb).toEqual(ra);
    expect(runs.get("idem-2")).toBe(1);
  });

  it("after a cut link, the retry with the same key gets the same 504 instead of running again", async () => {
    await addDevice("idem-3");
    const call = post("idem-3", "k-cut", { jsonrpc: "2.0", id: 1, method: "act.hang" }, "?timeout_ms=60000");
    await waitFor(() => runs.get("idem-3") === 1);
    cutLink("idem-3");
    const first = await call;
    expect(first.status).toBe(504);
    await waitFor(() => backend.presence.isOnline("idem-3")); // reconnected
    const retry = await post("idem-3", "k-cut", { jsonrpc: "2.0", id: 1, method: "act.hang" }, "?timeout_ms=60000");
    expect(retry).toEqual(first);
    expect(runs.get("idem-3")).toBe(1);
  });

  it("a 503 (not delivered) is not kept: the retry runs", async () => {
    const { credential } = backend.registry.addDevice("idem-4");
    const down = await post("idem-4", "k-late", { jsonrpc: "2.0", id: 1, method: "act.count" });
    expect(down.status).toBe(503);
    const device = new Device({ id: "idem-4", methods: { "act.count": () => (runs.set("idem-4", (runs.get("idem-4") ?? 0) + 1), runs.get("idem-4")) } });
    devices.push(device);
    await device.connect(backend.mqttUrl, { password: credential });
    await waitFor(() => backend.presence.isOnline("idem-4"));
    const up = await post("idem-4", "k-late", { jsonrpc: "2.0", id: 1, method: "act.count" });
    expect(up).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: 1 } });
  });

  it("the same key for another call is 422; a malformed key is 400", async () => {
    await addDevice("idem-5");
    await post("idem-5", "k-x", { jsonrpc: "2.0", id: 1, method: "act.count" });
    const reused = await post("idem-5", "k-x", { jsonrpc: "2.0", id: 1, method: "act.count", params: [1] });
    expect(reused).toMatchObject({ status: 422, body: { error: "idempotency_key_reused" } });
    const bad = await post("idem-5", "x".repeat(200), { jsonrpc: "2.0", id: 1, method: "act.count" });
    expect(bad).toMatchObject({ status: 400, body: { error: "bad_idempotency_key" } });
  });

  it("another API key does not share answers", async () => {
    const otherKey = backend.registry.createApiKey().key;
    const mine = await post("idem-5", "k-own", { jsonrpc: "2.0", id: 1, method: "act.count" });
    const theirs = await api(
      "/api/v1/devices/idem-5/rpc",
      { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "act.count" }, headers: { "idempotency-key": "k-own" } },
      `Bearer ${otherKey}`,
    );
    expect(theirs.body.result).toBe(mine.body.result + 1);
  });
});
