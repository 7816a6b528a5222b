// External-broker mode against another backend's embedded aedes (MQTT 3.1.1 only): the backend asks for MQTT 5,
// falls back to 3.1.1, and serves REST from a second process-like instance on the same registry.
import { afterAll, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { freePort } from "./support/mosquitto.ts";

const started: Backend[] = [];
let device: Device | undefined;

afterAll(async () => {
  await device?.close();
  for (const b of started.reverse()) await b.close();
});

it("a second backend on the same data dir reaches devices through the first one's broker", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-external-"));
  const logger = pino({ level: "silent" });
  const first = await startBackend({ dataDir, port: await freePort(), mqttPort: await freePort(), host: "127.0.0.1", logger });
  started.push(first);
  const { credential } = first.registry.addDevice("shared-1");
  device = new Device({ id: "shared-1" });
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
