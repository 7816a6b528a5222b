// External-broker mode: against another backend's embedded aedes (MQTT 3.1.1 only, so the backend falls back
// from MQTT 5), against mosquitto across a broker restart, and the generated mosquitto config against hostile
// clients (a device credential on the backends' listener, a 256 MB CONNECT, an oversize device publish).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import mqtt from "mqtt";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { BACKEND_USERNAME, Registry } from "../host/registry/registry.ts";
import { MOSQUITTO_MAX_PACKET, writeMosquittoConfig } from "../host/broker/mosquitto.ts";
import { sendHugeConnect } from "./support/hostile.ts";
import { freePort, startRegistryMosquitto, type Mosquitto } from "./support/mosquitto.ts";

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
  const broker = await startRegistryMosquitto(registry, join(dataDir, "mosquitto"));
  registry.close();
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
  const backendPort = await freePort();
  const broker = await startRegistryMosquitto(registry, join(dataDir, "mosquitto"), backendPort);
  registry.close();
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

describe("the generated mosquitto config against hostile clients", () => {
  let broker: Mosquitto;
  let backendUrl: string;
  let dir: string;
  const creds: Record<string, string> = {};
  let backendPassword: string;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-external-"));
    const registry = new Registry(dataDir);
    for (const id of ["victim", "thief", "big"]) creds[id] = registry.addDevice(id).credential;
    backendPassword = registry.backendPassword();
    dir = join(dataDir, "mosquitto");
    const backendPort = await freePort();
    backendUrl = `mqtt://127.0.0.1:${backendPort}`;
    broker = await startRegistryMosquitto(registry, dir, backendPort);
    registry.close();
  });
  afterAll(async () => broker?.stop());

  it("mosquitto.conf sets the packet limit and per-listener password files before its listeners", () => {
    const conf = readFileSync(join(dir, "mosquitto.conf"), "utf8").split("\n");
    const firstListener = conf.findIndex((l) => l.startsWith("listener "));
    expect(conf.slice(0, firstListener)).toEqual(expect.arrayContaining(["per_listener_settings true", `max_packet_size ${MOSQUITTO_MAX_PACKET}`]));
    expect(conf).toContain(`password_file ${join(dir, "passwd-backend")}`);
    expect(readFileSync(join(dir, "passwd-backend"), "utf8")).toMatch(/^outpost-backend:\$7\$[^\n]*\n$/);
  });

  it("a device credential does not log in on the backends' listener, so it cannot take another device's session by its client id", async () => {
    const victim = await mqtt.connectAsync(broker.url, {
      username: "victim",
      password: creds.victim,
      clientId: "victim",
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    let victimClosed = false;
    const closed = new Promise<void>((resolve) => victim.once("close", () => ((victimClosed = true), resolve())));
    await expect(
      mqtt.connectAsync(backendUrl, { username: "thief", password: creds.thief, clientId: "victim", protocolVersion: 5, reconnectPeriod: 0 }),
    ).rejects.toThrow(/Bad User Name or Password|Not authorized/i);
    // A round trip on the victim's connection: had it been taken over, its close would come first.
    await Promise.race([victim.publishAsync("devices/victim/telemetry", "{}", { qos: 1 }), closed]);
    expect(victimClosed).toBe(false);
    // The backend's user still logs in there, with a client id of its own.
    const backend = await mqtt.connectAsync(backendUrl, {
      username: BACKEND_USERNAME,
      password: backendPassword,
      clientId: "outpost-backend-x",
      reconnectPeriod: 0,
    });
    await backend.endAsync();
    await victim.endAsync();
  });

  it("a raw socket declaring a 256 MB CONNECT is closed before mosquitto takes its body", async () => {
    const sent = await sendHugeConnect(broker.port);
    expect(sent).toBeLessThan(64 << 20);
  });

  it("a device's publish over the limit closes its connection and is not retained", async () => {
    const big = await mqtt.connectAsync(broker.url, { username: "big", password: creds.big, clientId: "big", protocolVersion: 4, reconnectPeriod: 0 });
    const gone = new Promise<void>((resolve) => big.once("close", () => resolve()));
    await big.publishAsync("devices/big/status", '{"online":true}', { retain: true, qos: 1 });
    big.publish("devices/big/status", Buffer.alloc(MOSQUITTO_MAX_PACKET, 0x20), { retain: true });
    await gone;
    const observer = await mqtt.connectAsync(backendUrl, { username: BACKEND_USERNAME, password: backendPassword, clientId: "observer", reconnectPeriod: 0 });
    const retained = new Promise<string>((resolve) => observer.once("message", (_t, p) => resolve(String(p))));
    await observer.subscribeAsync("devices/big/status");
    expect(await retained).toBe('{"online":true}');
    await observer.endAsync();
  });
});

it("with mosquitto, a device removed or re-credited is disconnected once the files are written again and mosquitto reloads", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-external-"));
  const registry = new Registry(dataDir);
  const creds = Object.fromEntries(["gone", "rekeyed", "kept"].map((id) => [id, registry.addDevice(id).credential]));
  const dir = join(dataDir, "mosquitto");
  const broker = await startRegistryMosquitto(registry, dir);
  try {
    const connect = (id: string) => mqtt.connectAsync(broker.url, { username: id, password: creds[id], clientId: id, reconnectPeriod: 0 });
    const [gone, rekeyed, kept] = await Promise.all(["gone", "rekeyed", "kept"].map(connect));
    const closed = (c: typeof gone) => new Promise<void>((resolve) => c.once("close", () => resolve()));
    const bothClosed = Promise.all([closed(gone), closed(rekeyed)]);
    registry.removeDevice("gone");
    registry.rotateCredential("rekeyed");
    writeMosquittoConfig(registry, dir);
    broker.reload();
    await bothClosed;
    await kept.publishAsync("devices/kept/telemetry", "{}", { qos: 1 }); // the untouched device's connection stays
    expect(kept.connected).toBe(true);
    await kept.endAsync();
  } finally {
    registry.close();
    await broker.stop();
  }
});
