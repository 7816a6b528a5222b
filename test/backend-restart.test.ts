// A backend restart keeps the registry and API keys, and devices come back by themselves.
import { afterAll, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { freePort } from "./support/mosquitto.ts";

let backend: Backend | undefined;
let device: Device | undefined;

afterAll(async () => {
  await device?.close();
  await backend?.close();
});

it("keeps devices and keys across a restart, and the device reconnects on its own", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-restart-"));
  const ports = { port: await freePort(), mqttPort: await freePort() };
  const start = () => startBackend({ dataDir, ...ports, host: "127.0.0.1", logger: pino({ level: "silent" }) });
  const call = (b: Backend, key: string) =>
    fetch(`${b.url}/api/v1/devices/dev1/rpc`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: ["up"] }),
    }).then(async (r) => ({ status: r.status, body: await r.json() }));

  backend = await start();
  const { key } = backend.registry.createApiKey();
  const { credential } = backend.registry.addDevice("dev1", { site: "a" });
  device = new Device({ id: "dev1" });
  await device.connect(backend.mqttUrl, { password: credential, reconnect: { minMs: 50, maxMs: 200 } });
  while (!backend.presence.isOnline("dev1")) await new Promise((r) => setTimeout(r, 20));
  expect((await call(backend, key)).status).toBe(200);

  const mqtt = device.mqtt!;
  const reconnected = new Promise<void>((resolve) => mqtt.once("close", () => mqtt.once("connect", () => resolve())));
  await backend.close();
  backend = await start();
  await reconnected;
  while (!backend.presence.isOnline("dev1")) await new Promise((r) => setTimeout(r, 20));

  expect(backend.registry.getDevice("dev1")?.metadata).toEqual({ site: "a" });
  expect(await call(backend, key)).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: ["up"] } });
});
