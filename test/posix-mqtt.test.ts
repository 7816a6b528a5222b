// The native device (boards/posix/build/outpost-device: wasm3, boards/common, BSD
// sockets) against a real mosquitto, driven with mosquitto_pub / mosquitto_sub; and the
// same device with the module compiled in by wasm2c (make -C boards/posix ENGINE=aot).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const boardDir = fileURLToPath(new URL("../boards/posix/", import.meta.url));
const PROGRAMS = { wasm3: `${boardDir}build/outpost-device`, aot: `${boardDir}build/aot/outpost-device` };
let program = PROGRAMS.wasm3;

interface Running {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runDevice(args: string[]): Running {
  const proc = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { proc, stderr: () => err, exited };
}

/**
 * mosquitto_sub: the first `count` messages on `topic` (retained ones included).
 * Its stdout is a pipe, so nothing shows before it exits: callers that need an
 * answer keep asking until it comes (roundTrip) instead of waiting for SUBACK.
 */
function subscribe(broker: Mosquitto, topic: string, count = 1, timeoutS = 15, login: string[] = []): Promise<string[]> {
  const args = ["-p", String(broker.port), "-h", "127.0.0.1", "-q", "1", "-t", topic, "-C", String(count), "-W", String(timeoutS)];
  const proc = spawn("mosquitto_sub", [...args, ...login]);
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  return new Promise<string[]>((resolve, reject) =>
    proc.once("exit", (code) => {
      const lines = out.split("\n").filter(Boolean);
      if (lines.length >= count) resolve(lines.slice(0, count));
      else reject(new Error(`mosquitto_sub ${topic}: exit ${code} after ${lines.length} of ${count} messages`));
    }),
  );
}

function publish(broker: Mosquitto, topic: string, message: string, login: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn("mosquitto_pub", ["-p", String(broker.port), "-h", "127.0.0.1", "-q", "1", "-t", topic, "-m", message, ...login]);
    proc.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exit ${code}`))));
  });
}

const request = (id: number, method: string, params?: unknown) => JSON.stringify({ jsonrpc: "2.0", id, method, ...(params === undefined ? {} : { params }) });

/**
 * Publishes `req` on rx (again every 500 ms, for a device still reconnecting) until
 * the reply with its id arrives on tx; a late reply to an earlier retry is skipped.
 */
async function roundTrip(broker: Mosquitto, id: string, req: string, timeoutS = 15, login: string[] = []): Promise<unknown> {
  let wanted: unknown = null;
  try {
    wanted = JSON.parse(req).id ?? null;
  } catch {
    // not JSON: the device answers with id null
  }
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    let answered = false;
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const reply = subscribe(broker, `devices/${id}/tx`, 1, left, login).finally(() => (answered = true));
    while (!answered && Date.now() < deadline) {
      await publish(broker, `devices/${id}/rx`, req, login);
      await Promise.race([reply.catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
    }
    const response = JSON.parse((await reply)[0]);
    if (response.id === wanted) return response;
  }
}

async function statusOf(broker: Mosquitto, id: string): Promise<{ online: boolean }> {
  const [line] = await subscribe(broker, `devices/${id}/status`, 1, 5);
  return JSON.parse(line);
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(["wasm3", "aot"] as const)("outpost-device (%s engine) against mosquitto", (engine) => {
  let broker: Mosquitto;
  const devices: Running[] = [];
  const start = (id: string, extra: string[] = []) => {
    const d = runDevice(["--id", id, "--url", broker.url, ...extra]);
    devices.push(d);
    return d;
  };

  beforeAll(async () => {
    program = PROGRAMS[engine];
    // npm run build:boards builds both; this keeps a stale one from being tested. Builds take turns on a lock.
    mkdirSync(`${boardDir}build`, { recursive: true });
    execFileSync("flock", [`${boardDir}build/.make.lock`, "make", "-s", "-C", boardDir, `ENGINE=${engine}`], { stdio: "ignore" });
    broker = await startMosquitto();
  }, 120_000);
  afterEach(async () => {
    for (const d of devices.splice(0)) {
      if (d.proc.exitCode === null && d.proc.signalCode === null) {
        d.proc.kill("SIGKILL");
        await d.exited;
      }
    }
  });
  afterAll(async () => {
    await broker.stop();
  });

  it("answers JSON-RPC on devices/<id>/tx, including methods registered in C", async () => {
    const device = start("posix-rpc");
    await waitFor(() => device.stderr().includes("connected to"), 10_000, "the device to connect");
    expect(await statusOf(broker, "posix-rpc")).toMatchObject({ online: true });
    expect(await roundTrip(broker, "posix-rpc", request(1, "echo", [1, "x"]))).toEqual({ jsonrpc: "2.0", result: [1, "x"], id: 1 });
    expect(await roundTrip(broker, "posix-rpc", request(2, "gpio.write", { pin: 5, value: 1 }))).toEqual({ jsonrpc: "2.0", result: true, id: 2 });
    expect(await roundTrip(broker, "posix-rpc", request(3, "gpio.read", [5]))).toEqual({ jsonrpc: "2.0", result: 1, id: 3 });
    const info = (await roundTrip(broker, "posix-rpc", request(4, "sys.info"))) as { result: Record<string, unknown> };
    expect(info.result).toMatchObject({ engine, board: "posix" });
    // The MCU budget: everything the running device allocated fits under the runtime's limit.
    expect(info.result.memory_used).toBeLessThan(info.result.memory_limit as number);
    expect(info.result.memory_limit).toBeLessThan(64 * 1024);
    expect(await roundTrip(broker, "posix-rpc", "{not json")).toMatchObject({ error: { code: -32700 } });
  });

  it("logs in with --username and --password, and names a refused login", async () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-passwd-"));
    const passwords = join(dir, "passwd");
    writeFileSync(passwords, "");
    execFileSync("mosquitto_passwd", ["-b", passwords, "pump-user", "s3cret"]);
    const authBroker = await startMosquitto([`password_file ${passwords}`]);
    try {
      const good = runDevice(["--id", "posix-auth", "--url", authBroker.url, "--username", "pump-user", "--password", "s3cret"]);
      const bad = runDevice(["--id", "posix-auth-bad", "--url", authBroker.url, "--username", "pump-user", "--password", "wrong"]);
      devices.push(good, bad);
      await waitFor(() => good.stderr().includes("connected to"), 10_000, "the device to connect");
      expect(await roundTrip(authBroker, "posix-auth", request(1, "echo", ["auth"]), 10, ["-u", "pump-user", "-P", "s3cret"])).toMatchObject({
        result: ["auth"],
      });
      await waitFor(() => bad.stderr().includes("disconnected"), 10_000, "the refused login");
      // mosquitto refuses a wrong password as "not authorised" (3.1.1 return code 5): NotAuthorized, named.
      expect(bad.stderr()).toMatch(/disconnected: login refused, (not authorised|bad credentials) \(reason code [45]\); retrying after the longest backoff/);
      expect(bad.stderr()).not.toContain("connected to");
    } finally {
      await authBroker.stop();
    }
  });

  it("with --mqtt-version 5, answers on the request's Response Topic with its Correlation Data", async () => {
    const device = start("posix-v5", ["--mqtt-version", "5"]);
    await waitFor(() => device.stderr().includes("connected to"), 10_000, "the device to connect");
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: "posix-v5-caller" });
    try {
      await client.subscribeAsync("replies/posix-v5", { qos: 1 });
      const reply = new Promise<{ payload: string; correlation?: Buffer }>((resolve) =>
        client.once("message", (_topic, payload, packet) =>
          resolve({ payload: String(payload), correlation: packet.properties?.correlationData as Buffer | undefined }),
        ),
      );
      await client.publishAsync("devices/posix-v5/rx", request(11, "gpio.read", [0]), {
        qos: 1,
        properties: { responseTopic: "replies/posix-v5", correlationData: Buffer.from("c0ffee") },
      });
      const { payload, correlation } = await reply;
      expect(JSON.parse(payload)).toEqual({ jsonrpc: "2.0", result: 0, id: 11 });
      expect(String(correlation)).toBe("c0ffee");
    } finally {
      await client.endAsync();
    }
  });

  it("rejects an unknown --mqtt-version", async () => {
    const device = runDevice(["--id", "x", "--mqtt-version", "3"]);
    expect(await device.exited).toEqual({ code: 2, signal: null });
    expect(device.stderr()).toContain("--mqtt-version must be 4 or 5");
  });

  it("reconnects by itself after the broker restarts", async () => {
    const device = start("posix-reconnect");
    await waitFor(() => device.stderr().includes("connected to"), 10_000, "the device to connect");
    await broker.stop();
    await waitFor(() => device.stderr().includes("lost"), 10_000, "the device to notice");
    await broker.start();
    expect(await roundTrip(broker, "posix-reconnect", request(9, "echo", ["back"]), 30)).toEqual({ jsonrpc: "2.0", result: ["back"], id: 9 });
    expect(device.stderr().match(/connected to/g)!.length).toBe(2);
    expect(device.proc.exitCode).toBeNull();
  });

  it("exits cleanly on SIGTERM and leaves the offline status retained", async () => {
    const device = start("posix-term");
    await waitFor(() => device.stderr().includes("connected to"), 10_000, "the device to connect");
    expect(await statusOf(broker, "posix-term")).toMatchObject({ online: true });
    device.proc.kill("SIGTERM");
    expect(await device.exited).toEqual({ code: 0, signal: null });
    expect(device.stderr()).toContain("stopping: publishing offline status");
    expect(await statusOf(broker, "posix-term")).toEqual({ online: false });
  });

  it("keeps retrying while no broker listens, and exits cleanly on SIGTERM meanwhile", async () => {
    const device = runDevice(["--id", "posix-nobroker", "--url", "mqtt://127.0.0.1:1"]);
    devices.push(device);
    await waitFor(() => device.stderr().includes("lost") || device.stderr().includes("cannot reach"), 10_000, "a failed dial");
    device.proc.kill("SIGTERM");
    expect(await device.exited).toEqual({ code: 0, signal: null });
  });

  it("rejects a malformed --url with usage", async () => {
    // Another scheme; a port out of range, empty, zero or with junk; no host; a host past its buffer; TLS in a
    // plaintext build; one bad URL in a list.
    const bad = [
      ["http://127.0.0.1:1883"],
      ["mqtt://h:65536"],
      ["mqtt://h:"],
      ["mqtt://h:0"],
      ["mqtt://h:1x"],
      ["mqtt://:1883"],
      [`mqtt://${"h".repeat(300)}:1883`],
      ["mqtts://127.0.0.1:8883"],
      ["mqtt://127.0.0.1:1", "ws://127.0.0.1:2/x"],
    ];
    for (const urls of bad) {
      const device = runDevice(["--id", "x", ...urls.flatMap((u) => ["--url", u])]);
      expect(await device.exited, urls.join(" ")).toEqual({ code: 2, signal: null });
      expect(device.stderr()).toMatch(/--url must look like mqtt:\/\/host:port|each must look like mqtt:\/\/host:port/);
    }
  });
});
