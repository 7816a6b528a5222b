// The native device keeps its MQTT session by default (clean 0; on MQTT 5 a session expiry of
// 3600 s, or --session-expiry): a QoS 1 request published while it is briefly disconnected is
// executed exactly once when it is back. With --clean the broker keeps nothing. The device
// dials mosquitto through a TCP proxy the test cuts and reopens.
import { spawn, type ChildProcess } from "node:child_process";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const program = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));

/** A TCP proxy to the broker that can drop every connection and refuse new ones until reopened. */
async function startProxy(target: number): Promise<{ port: number; cut(): void; open(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((inbound) => {
    if (refusing) return void inbound.destroy();
    const outbound = createConnection(target, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    open() {
      refusing = false;
    },
    close() {
      refusing = true;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

interface Running {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function runDevice(args: string[]): Running {
  const proc = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d) => (err += d));
  return { proc, stderr: () => err, exited: new Promise((resolve) => proc.once("exit", (code) => resolve(code))) };
}

async function waitFor(check: () => boolean, what: string, debug?: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${debug ? `:\n${debug()}` : ""}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const count = (text: string, what: string) => text.split(what).length - 1;

let broker: Mosquitto;
const devices: Running[] = [];
beforeAll(async () => {
  broker = await startMosquitto();
});
afterEach(async () => {
  for (const d of devices.splice(0)) {
    d.proc.kill("SIGKILL");
    await d.exited;
  }
});
afterAll(async () => {
  await broker?.stop();
});

/** A caller on the broker itself: every answer on the device's tx, by id, and its live online statuses. */
async function caller(id: string, protocolVersion: 4 | 5) {
  const client: MqttClient = await mqtt.connectAsync(broker.url, { protocolVersion, clientId: `${id}-caller` });
  const answers: { id: unknown; result?: unknown }[] = [];
  let onlines = 0;
  client.on("message", (topic, payload, packet) => {
    if (topic.endsWith("/tx")) answers.push(JSON.parse(String(payload)));
    else if (!packet.retain && JSON.parse(String(payload)).online) onlines++;
  });
  await client.subscribeAsync([`devices/${id}/tx`, `devices/${id}/status`], { qos: 1 });
  const request = (n: number, text: string) =>
    client.publishAsync(`devices/${id}/rx`, JSON.stringify({ jsonrpc: "2.0", id: n, method: "echo", params: [text] }), { qos: 1 });
  const answersTo = (n: number) => answers.filter((a) => a.id === n);
  return { client, request, answersTo, onlines: () => onlines };
}

describe.each([
  { mqtt: "3.1.1", args: [] as string[], version: 4 as const },
  { mqtt: "5 (default expiry 3600 s)", args: ["--mqtt-version", "5"], version: 5 as const },
  { mqtt: "5 (--session-expiry 60)", args: ["--mqtt-version", "5", "--session-expiry", "60"], version: 5 as const },
])("MQTT $mqtt, kept session (the default)", ({ args, version }) => {
  it("executes a QoS 1 request published while the device was away exactly once when it is back", async () => {
    const id = `posix-session-${version}-${args.length}`;
    const proxy = await startProxy(broker.port);
    const rpc = await caller(id, version);
    try {
      const device = runDevice(["--id", id, "--url", `mqtt://127.0.0.1:${proxy.port}`, ...args]);
      devices.push(device);
      await waitFor(() => rpc.onlines() === 1, "the device online", device.stderr);
      await rpc.request(1, "before");
      await waitFor(() => rpc.answersTo(1).length === 1, "the answer before the cut");

      proxy.cut();
      await waitFor(() => device.stderr().includes("lost"), "the device to notice the cut");
      await rpc.request(2, "while away"); // the broker queues it in the device's session
      proxy.open();

      await waitFor(() => rpc.answersTo(2).length === 1, "the queued request's answer");
      expect(count(device.stderr(), "connected to")).toBe(2);
      // The broker delivers in order: a second execution of 2 would be answered before 3.
      await rpc.request(3, "after");
      await waitFor(() => rpc.answersTo(3).length === 1, "the answer after reconnecting");
      expect(rpc.answersTo(2)).toEqual([{ jsonrpc: "2.0", result: ["while away"], id: 2 }]);
    } finally {
      await rpc.client.endAsync();
      await proxy.close();
    }
  });
});

describe.each([
  { mqtt: "3.1.1", args: ["--clean"], version: 4 as const },
  { mqtt: "5", args: ["--clean", "--mqtt-version", "5"], version: 5 as const },
])("MQTT $mqtt, --clean", ({ args, version }) => {
  it("starts clean: a request published while the device was away is not delivered", async () => {
    const id = `posix-clean-${version}`;
    const proxy = await startProxy(broker.port);
    const rpc = await caller(id, version);
    try {
      const device = runDevice(["--id", id, "--url", `mqtt://127.0.0.1:${proxy.port}`, ...args]);
      devices.push(device);
      await waitFor(() => rpc.onlines() === 1, "the device online", device.stderr);
      proxy.cut();
      await waitFor(() => device.stderr().includes("lost"), "the device to notice the cut");
      await rpc.request(2, "while away");
      proxy.open();
      await waitFor(() => rpc.onlines() === 2, "the device online again (subscribed anew)");
      await rpc.request(3, "after");
      await waitFor(() => rpc.answersTo(3).length === 1, "the answer after reconnecting");
      expect(rpc.answersTo(2)).toEqual([]);
    } finally {
      await rpc.client.endAsync();
      await proxy.close();
    }
  });
});

describe("session flags", () => {
  it.each([
    [["--session-expiry", "60"], "--session-expiry needs --mqtt-version 5"],
    [["--mqtt-version", "5", "--clean", "--session-expiry", "60"], "--session-expiry and --clean contradict each other"],
    [["--mqtt-version", "5", "--session-expiry", "0"], "--session-expiry must be 1..4294967295 seconds"],
    [["--mqtt-version", "5", "--session-expiry", "4294967296"], "--session-expiry must be 1..4294967295 seconds"],
    [["--mqtt-version", "5", "--session-expiry", "-1"], "--session-expiry must be 1..4294967295 seconds"],
    [["--mqtt-version", "5", "--session-expiry", "1h"], "--session-expiry must be 1..4294967295 seconds"],
  ])("refuses %j with usage exit 2", async (flags, message) => {
    const device = runDevice(["--id", "x", "--url", "mqtt://127.0.0.1:1", ...flags]);
    expect(await device.exited).toBe(2);
    expect(device.stderr()).toContain(message);
  });
});
