// Device limits end to end: the backend keeps what each device takes (declared at creation, or announced in its
// sys.info, its MQTT 5 Maximum Packet Size included) and refuses a bigger call with 413 and the device's
// maximum, before anything is sent. MQTT 3.1.1 devices on the embedded broker, an MQTT 5 device on mosquitto.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { Registry } from "../host/registry/registry.ts";
import { writeMosquittoConfig } from "../host/broker/mosquitto.ts";
import { publishPacketSize } from "../host/rpc/device-limits.ts";
import { freePort, startMosquitto } from "./support/mosquitto.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

const devices: Device[] = [];
const backends: Backend[] = [];
afterAll(async () => {
  for (const d of devices) await d.close();
  for (const b of backends) await b.close();
});

/** A device whose `seen` method counts the calls that reached it. */
function countingDevice(id: string, opts: ConstructorParameters<typeof Device>[0] = { id }) {
  const got = { calls: 0 };
  const device = new Device({ ...opts, id, methods: { seen: () => ++got.calls } });
  devices.push(device);
  return { device, got };
}

it("a PUBLISH's size is counted byte for byte (3.1.1 and with MQTT 5 properties)", () => {
  // 1 type byte + 1 length byte + 2 + topic + payload; 2-byte length from 128.
  expect(publishPacketSize("a/b", 10, 0)).toBe(1 + 1 + 2 + 3 + 10);
  expect(publishPacketSize("a/b", 200, 0)).toBe(1 + 2 + 2 + 3 + 200);
  expect(publishPacketSize("a/b", 10, 2)).toBe(1 + 1 + 2 + 3 + 2 + 10); // a packet id from QoS 1
  const props = { responseTopic: "a/tx", correlationData: Buffer.from("id1") };
  expect(publishPacketSize("a/b", 10, 1, props)).toBe(1 + 1 + 2 + 3 + 2 + 1 + (3 + 4) + (3 + 3) + 10);
});

describe("MQTT 3.1.1 devices on the embedded broker", async () => {
  const backend = await startTestBackend("limits");
  backends.push(backend);
  const key = backend.registry.createApiKey().key;
  const api = apiClient(
    () => backend.url,
    () => `Bearer ${key}`,
  );

  it("limits announced in sys.info: a bigger call is 413 with the device's maximum, and never reaches the device", async () => {
    const { credential } = backend.registry.addDevice("small");
    const { device, got } = countingDevice("small", { id: "small", limits: { requestMax: 512 } });
    await device.connect(backend.mqttUrl, { password: credential });
    await waitFor(() => backend.presence.isOnline("small"));
    expect((await api("/api/v1/devices/small")).body.limits).toEqual({ request_max: null, response_max: null, max_packet: null });
    expect((await api("/api/v1/devices/small/rpc/sys.info", { method: "POST" })).status).toBe(200);
    expect((await api("/api/v1/devices/small")).body.limits).toEqual({ request_max: 512, response_max: 8192, max_packet: 512 + 1024 });

    const res = await api("/api/v1/devices/small/rpc/seen?timeout_ms=2000", { method: "POST", json: ["x".repeat(600)] });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: "request_too_large", device_max: 512 });
    expect(res.body.request_bytes).toBeGreaterThan(600);
    expect(res.body.message).toContain("request_max is 512");
    const notification = await api("/api/v1/devices/small/rpc", { method: "POST", json: { jsonrpc: "2.0", method: "seen", params: ["x".repeat(600)] } });
    expect(notification.status).toBe(413);
    expect(got.calls).toBe(0);
    expect((await api("/api/v1/devices/small/rpc/seen", { method: "POST", json: ["x".repeat(300)] })).body.result).toBe(1);
  });

  it("limits announced in telemetry (the device's sys.info, published by itself) are learned without any call", async () => {
    const { credential } = backend.registry.addDevice("telly");
    const { device } = countingDevice("telly", { id: "telly", limits: { requestMax: 700 } });
    await device.connect(backend.mqttUrl, { password: credential, telemetryMs: 50 });
    await waitFor(async () => (await api("/api/v1/devices/telly")).body.limits.request_max === 700);
    const res = await api("/api/v1/devices/telly/rpc/seen", { method: "POST", json: ["x".repeat(800)] });
    expect(res.body).toMatchObject({ error: "request_too_large", device_max: 700 });
  });

  it("limits declared at creation (a registry field) hold for a device that announces nothing", async () => {
    const created = await api("/api/v1/devices", { method: "POST", json: { id: "declared", limits: { request_max: 300 } } });
    expect(created.status).toBe(201);
    const { device, got } = countingDevice("declared");
    await device.connect(backend.mqttUrl, { password: created.body.credential });
    await waitFor(() => backend.presence.isOnline("declared"));
    const res = await api("/api/v1/devices/declared/rpc?timeout_ms=2000", { method: "POST", json: { method: "seen", params: ["x".repeat(400)] } });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: "request_too_large", device_max: 300 });
    expect(got.calls).toBe(0);
    const bad = await api("/api/v1/devices", { method: "POST", json: { id: "declared2", limits: { request_max: 0 } } });
    expect(bad.status).toBe(400);
  });
});

describe("an MQTT 5 device on mosquitto", () => {
  it("its Maximum Packet Size, announced in sys.info, bounds the PUBLISH: one byte over is 413, an exact fit is delivered", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-limits-"));
    const registry = new Registry(dataDir);
    const { credential } = registry.addDevice("v5small");
    const lines = writeMosquittoConfig(registry, join(dataDir, "mosquitto"));
    registry.close();
    const broker = await startMosquitto(process.getuid?.() === 0 ? [...lines, "user root"] : lines);
    try {
      const backend = await startBackend({ dataDir, port: await freePort(), brokerUrl: broker.url, host: "127.0.0.1", logger: pino({ level: "silent" }) });
      backends.push(backend);
      const key = backend.registry.createApiKey().key;
      const api = apiClient(
        () => backend.url,
        () => `Bearer ${key}`,
      );
      const { device, got } = countingDevice("v5small");
      await device.connect(broker.url, { password: credential, protocolVersion: 5, maxPacketSize: 600 });
      await waitFor(() => backend.presence.isOnline("v5small"));
      expect((await api("/api/v1/devices/v5small/rpc/sys.info", { method: "POST" })).status).toBe(200);
      expect((await api("/api/v1/devices/v5small")).body.limits.max_packet).toBe(600);

      // Over the packet size: mosquitto would drop it (a 504 after the timeout); refused at once instead.
      const over = await api("/api/v1/devices/v5small/rpc/seen?timeout_ms=2000", { method: "POST", json: ["x".repeat(600)] });
      expect(over.status).toBe(413);
      expect(over.body.message).toContain("maximum packet size is 600");
      const max: number = over.body.device_max;
      expect(max).toBeLessThan(600);
      // The same call sized to exactly the device's maximum is delivered: the header was counted exactly.
      const fit = "x".repeat(600 - (over.body.request_bytes - max));
      const ok = await api("/api/v1/devices/v5small/rpc/seen?timeout_ms=2000", { method: "POST", json: [fit] });
      expect(ok.status).toBe(200);
      expect(got.calls).toBe(1);
      const oneOver = await api("/api/v1/devices/v5small/rpc/seen?timeout_ms=2000", { method: "POST", json: [`${fit}x`] });
      expect(oneOver.status).toBe(413);
    } finally {
      await broker.stop();
    }
  });
});

describe("the registry's limit columns", () => {
  it("a database made before device limits gets the columns on open; its devices have no limits until announced", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-limits-old-"));
    const old = new Registry(dataDir);
    old.addDevice("before");
    for (const name of ["request_max", "response_max", "max_packet"]) old.db.exec(`ALTER TABLE devices DROP COLUMN ${name}`);
    old.close();
    const registry = new Registry(dataDir);
    try {
      expect(registry.getDevice("before")?.limits).toEqual({ request_max: null, response_max: null, max_packet: null });
      expect(registry.setLimits("before", { request_max: 100 })).toBe(true);
      expect(registry.setLimits("before", { request_max: 100 })).toBe(false); // the same announcement again: no write
      expect(registry.limitsRecent("before")).toEqual({ request_max: 100, response_max: null, max_packet: null });
    } finally {
      registry.close();
    }
  });
});
