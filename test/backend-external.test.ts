// External-broker mode: against another backend's embedded aedes (MQTT 3.1.1 only, so the backend falls back
// from MQTT 5), and against mosquitto across a broker restart.
import { afterAll, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { Registry } from "../host/registry/registry.ts";
import { backendListenerLines, writeMosquittoConfig } from "../host/broker/mosquitto.ts";
import { freePort, startMosquitto } from "./support/mosquitto.ts";

const started: Backend[] = [];
const devices: Device[] = [];

afterAll(async () => {
  for (const d of devices) await d.close();
  for (const b of started.reverse()) await b.close();
});

it("a second backend on the same data dir reaches devices through the first one's broker", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-external-"));
  const logger = pino({ level: "silent" });
  const first = await startBackend({ dataDir, port: await freePort(), mqttPort: await freePort(), host: "127.0.0.1", logger });
  started.push(first);
  const { credential } = first.registry.addDevice("shared-1");
  const device = new Device({ id: "shared-1" });
  devices.push(device);
  await device.connect(first.mqttUrl, { password: credential });

  const second = await startBackend({ dataDir, port: await freePort(), brokerUrl: first.mqttUrl, host: "127.0.0.1", logger });
  started.push(second);
  // The retained status reaches the second backend when it subscribes.
  while (!second.presence.isOnline("shared-1")) await new Promise((r) => setTimeout(r, 20));
  const { key } = second.registry.createApiKey();
  const res = await fetch(`${second.url}/api/v1/devices/shared-1/rpc`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 42, method: "echo", params: ["via the first broker"] }),
  });
  expect(await res.json()).toEqual({ jsonrpc: "2.0", id: 42, result: ["via the first broker"] });
});

it("rides out a mosquitto restart: 503 while the broker is gone, then devices and backend come back by themselves", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-external-"));
  const registry = new Registry(dataDir);
  const { credential } = registry.addDevice("m-1");
  const lines = writeMosquittoConfig(registry, join(dataDir, "mosquitto"));
  registry.close();
  const broker = await startMosquitto(process.getuid?.() === 0 ? [...lines, "user root"] : lines);
  try {
    const backend = await startBackend({ dataDir, port: await freePort(), brokerUrl: broker.url, host: "127.0.0.1", logger: pino({ level: "silent" }) });
    started.push(backend);
    const dev = new Device({ id: "m-1" });
    devices.push(dev);
    await dev.connect(broker.url, { password: credential, protocolVersion: 5, reconnect: { minMs: 50, maxMs: 200 } });
    const { key } = backend.registry.createApiKey();
    const call = (timeoutMs = 60_000) =>
      fetch(`${backend.url}/api/v1/devices/m-1/rpc?timeout_ms=${timeoutMs}`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: ["m"] }),
      }).then((r) => r.status);
    while (!backend.presence.isOnline("m-1")) await new Promise((r) => setTimeout(r, 20));
    expect(await call()).toBe(200);

    await broker.stop();
    while (backend.presence.isOnline("m-1")) await new Promise((r) => setTimeout(r, 20));
    expect(await call()).toBe(503);

    await broker.start();
    // mosquitto kept the retained "online" across its restart, so the device may look online a moment before
    // it has subscribed again: ask until it answers (a request it missed times out after 1 s).
    let status = 0;
    while (status !== 200) {
      while (!backend.presence.isOnline("m-1")) await new Promise((r) => setTimeout(r, 20));
      status = await call(1000);
      expect([200, 503, 504]).toContain(status);
    }
  } finally {
    await broker.stop();
  }
});

it("two backends on one mosquitto (the backend listener) both reach a device, neither knocking the other off", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-external-"));
  const registry = new Registry(dataDir);
  const { credential } = registry.addDevice("m-2");
  const { key } = registry.createApiKey();
  const lines = writeMosquittoConfig(registry, join(dataDir, "mosquitto"));
  registry.close();
  const backendPort = await freePort();
  const broker = await startMosquitto([...(process.getuid?.() === 0 ? [...lines, "user root"] : lines), ...backendListenerLines(backendPort)]);
  try {
    const brokerUrl = `mqtt://127.0.0.1:${backendPort}`;
    const logger = pino({ level: "silent" });
    const backends: Backend[] = [];
    for (let i = 0; i < 2; i++) {
      const backend = await startBackend({ dataDir, port: await freePort(), brokerUrl, host: "127.0.0.1", logger });
      started.push(backend);
      backends.push(backend);
    }
    const dev = new Device({ id: "m-2" });
    devices.push(dev);
    await dev.connect(broker.url, { password: credential, protocolVersion: 5 });
    const call = (b: Backend, id: number) =>
      fetch(`${b.url}/api/v1/devices/m-2/rpc?timeout_ms=5000`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id, method: "echo", params: [id] }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    for (const b of backends) while (!b.presence.isOnline("m-2")) await new Promise((r) => setTimeout(r, 20));
    // Interleaved, so a backend that had been knocked off (and is reconnecting) would answer 503 or 504.
    for (let round = 0; round < 3; round++) {
      for (const [i, b] of backends.entries()) {
        const id = round * 10 + i;
        expect(await call(b, id)).toEqual({ status: 200, body: { jsonrpc: "2.0", id, result: [id] } });
      }
    }
    expect(backends.every((b) => b.presence.isOnline("m-2"))).toBe(true);
  } finally {
    await broker.stop();
  }
});
