// examples/ run as printed: the device example serves its methods through a real backend,
// and the call example gets their answers (and a device error) over REST.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { freePort } from "./support/mosquitto.ts";
import { waitFor } from "./support/api.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
let backend: Backend;
let key: string;
let device: ChildProcess;

beforeAll(async () => {
  backend = await startBackend({
    dataDir: mkdtempSync(join(tmpdir(), "outpost-examples-")),
    port: await freePort(),
    mqttPort: await freePort(),
    host: "127.0.0.1",
    logger: pino({ level: "silent" }),
  });
  key = backend.registry.createApiKey().key;
  const { credential } = backend.registry.addDevice("thermo-1");
  device = spawn(process.execPath, ["--import", "tsx", "examples/device.ts", backend.mqttUrl], {
    cwd: root,
    env: { ...process.env, OUTPOST_DEVICE_ID: "thermo-1", OUTPOST_DEVICE_CREDENTIAL: credential },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor(() => backend.presence.isOnline("thermo-1"));
}, 30_000);

afterAll(async () => {
  device?.kill("SIGTERM");
  await backend?.close();
});

async function call(...args: string[]): Promise<{ code: number; out: string }> {
  const env = { ...process.env, OUTPOST_URL: backend.url, OUTPOST_KEY: key };
  try {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/call.ts", ...args], { cwd: root, env });
    return { code: 0, out: stdout.trim() };
  } catch (e: any) {
    return { code: e.code, out: String(e.stdout).trim() };
  }
}

describe("examples", () => {
  it("call.ts sets and reads the device example's setpoint", async () => {
    const set = await call("thermo-1", "thermo.set", "[22]");
    expect(set.code).toBe(0);
    expect(set.out.slice(0, 4)).toBe("200 ");
    expect(JSON.parse(set.out.slice(4))).toEqual({ jsonrpc: "2.0", id: 1, result: { setpoint: 22 } });
    const read = await call("thermo-1", "thermo.read");
    expect(JSON.parse(read.out.slice(4)).result).toEqual({ celsius: 20.5, setpoint: 22 });
  });

  it("curl.sh lists the fleet and calls the device", async () => {
    const env = { ...process.env, OUTPOST_URL: backend.url, OUTPOST_KEY: key };
    const { stdout } = await run("sh", ["examples/curl.sh", "thermo-1"], { cwd: root, env });
    const [fleet, info, echo] = stdout.split("\n").filter((line) => !line.startsWith("#") && line);
    expect(JSON.parse(fleet)).toContainEqual(expect.objectContaining({ id: "thermo-1", online: true }));
    expect(JSON.parse(info)).toMatchObject({ jsonrpc: "2.0", id: 1, result: { abi: 2 } });
    expect(JSON.parse(echo)).toEqual({ jsonrpc: "2.0", id: null, result: ["hello"] });
  });

  it("a device error comes back as the device's JSON-RPC error", async () => {
    const { out } = await call("thermo-1", "thermo.set", "[99]");
    expect(out.slice(0, 4)).toBe("200 ");
    expect(JSON.parse(out.slice(4)).error).toMatchObject({ code: -32602, message: "setpoint out of range", data: { min: 5, max: 30 } });
  });

  it("the device example goes offline when stopped", async () => {
    device.kill("SIGTERM");
    await waitFor(() => !backend.presence.isOnline("thermo-1"));
  });

  it("device.c builds against boards/common and its board method answers over REST", async () => {
    await run("make", ["-s", "-C", "examples"], { cwd: root });
    const { credential } = backend.registry.addDevice("c-1");
    const native = spawn(join(root, "examples/build/device"), [], {
      cwd: root,
      env: { ...process.env, OUTPOST_DEVICE_ID: "c-1", OUTPOST_DEVICE_CREDENTIAL: credential, OUTPOST_MQTT_PORT: new URL(backend.mqttUrl).port },
      stdio: ["ignore", "ignore", "inherit"],
    });
    try {
      await waitFor(() => backend.presence.isOnline("c-1"));
      const { out } = await call("c-1", "uptime");
      expect(out.slice(0, 4)).toBe("200 ");
      expect(JSON.parse(out.slice(4)).result).toEqual({ seconds: expect.any(Number) });
      native.kill("SIGTERM");
      await waitFor(() => !backend.presence.isOnline("c-1")); // a clean stop publishes offline
    } finally {
      native.kill("SIGKILL");
    }
  }, 60_000);

  it("every C snippet in the README is an excerpt of device.c, which the test above compiles", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const snippets = [...readme.matchAll(/```c\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(snippets.length).toBeGreaterThan(0);
    const source = readFileSync(join(root, "examples/device.c"), "utf8");
    for (const snippet of snippets) expect(source).toContain(snippet);
  });
});
