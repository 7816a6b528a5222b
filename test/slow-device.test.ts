// One device that stops reading its socket, floods frames, or silently stops answering, against a real backend
// (embedded aedes, real sockets): calls to it fail fast by name, and the other devices are not disturbed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { WebSocket } from "ws";
import { spawn } from "node:child_process";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import mqttPacket from "mqtt-packet";
import type { Backend } from "../host/server/backend.ts";
import { WS_PATH } from "../host/server/ws.ts";
import { DEFAULT_KEEPALIVE_S, Device } from "../host/device.ts";
import { FrameBucket } from "../host/server/frame-rate.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

const BIG = "x".repeat(30 * 1024); // the 30 KB requests

describe("a device that stops reading, floods, or stops answering", () => {
  let backend: Backend;
  let key: string;
  const creds: Record<string, string> = {};
  const devices: Device[] = [];
  const api = apiClient(
    () => backend.url,
    () => `Bearer ${key}`,
  );
  const rpc = (id: string, method: string, params: unknown, timeoutMs = 5000) =>
    api(`/api/v1/devices/${id}/rpc?timeout_ms=${timeoutMs}`, { method: "POST", json: { jsonrpc: "2.0", id: 1, method, params } });

  beforeAll(async () => {
    // Heartbeat 60 s: only the immediate ping can clear a suspect WebSocket device in time. Pending calls are not
    // bounded here, so what refuses a flood is the connection's queue (the 256 default has its own test). A device
    // may send 10 frames/s of its own (burst 50).
    backend = await startTestBackend("slow", { wsHeartbeatMs: 60_000, maxPendingCalls: 1_000_000, wsFrameRate: { perSecond: 10, burst: 50 } });
    key = backend.registry.createApiKey().key;
    for (const id of ["healthy-mqtt", "healthy-ws", "stuck-mqtt", "stuck-ws", "flood-ws", "busy-ws", "mute-mqtt", "mute-ws"])
      creds[id] = backend.registry.addDevice(id).credential;
    for (const [id, url] of [
      ["healthy-mqtt", backend.mqttUrl],
      ["healthy-ws", `ws://127.0.0.1:${backend.port}${WS_PATH}`],
      ["busy-ws", `ws://127.0.0.1:${backend.port}${WS_PATH}`],
    ]) {
      const d = new Device({ id });
      await d.connect(url, { password: creds[id] });
      devices.push(d);
    }
    await waitFor(() => ["healthy-mqtt", "healthy-ws", "busy-ws"].every((id) => backend.presence.isOnline(id)));
    await api("/api/v1/devices"); // the key's first check (scrypt) once, not once per parallel connection
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await backend?.close();
  });

  /** A raw MQTT device: logged in, rx subscribed, online; it answers nothing. */
  async function mqttDevice(id: string): Promise<MqttClient> {
    const dev = await mqtt.connectAsync(backend.mqttUrl, { username: id, password: creds[id], clientId: id, protocolVersion: 4, reconnectPeriod: 0 });
    await dev.subscribeAsync(`devices/${id}/rx`);
    dev.publish(`devices/${id}/status`, '{"online":true}', { retain: true });
    await waitFor(() => backend.presence.isOnline(id));
    return dev;
  }

  async function wsDevice(id: string): Promise<WebSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${backend.port}${WS_PATH}`, { headers: { authorization: `Bearer ${id}:${creds[id]}` } });
    await new Promise((r) => ws.once("open", r));
    await waitFor(() => backend.presence.isOnline(id));
    return ws;
  }

  /**
   * Floods `id` with 30 KB requests (60 s timeout, so none times out and makes it suspect), 32 at a time, each
   * batch followed by calls to both healthy devices, until a call is refused. Then `cut()` ends the device's link;
   * returns the refusal, every other flood answer, and every healthy answer's status.
   */
  async function floodUntilBusy(id: string, cut: () => void) {
    const healthy: number[] = [];
    const flood: Promise<{ status: number; body: { error?: string } }>[] = [];
    let refused: { status: number; body: { error?: string; delivered?: boolean } } | undefined;
    for (let batch = 0; batch < 400 && !refused; batch++) {
      for (let i = 0; i < 32; i++) flood.push(rpc(id, "echo", [BIG], 60_000).then((a) => (a.status === 503 ? (refused ??= a) : a)));
      for (const h of ["healthy-mqtt", "healthy-ws"]) healthy.push((await rpc(h, "echo", [batch])).status);
    }
    cut(); // the pending calls end now (504 device_no_answer)
    const rest = await Promise.all(flood);
    return { refused, healthy, rest };
  }

  it("an MQTT device that stops reading: its calls get 503 device_busy (not delivered); the healthy devices answer every call", async () => {
    const dev = await mqttDevice("stuck-mqtt");
    (dev.stream as Socket).pause(); // connected and subscribed, but reads nothing more
    const { refused, healthy, rest } = await floodUntilBusy("stuck-mqtt", () => {
      // Still refused while its socket is full: nothing more is queued for it.
      void rpc("stuck-mqtt", "echo", [BIG]).then((a) => expect(a.body).toMatchObject({ error: "device_busy", delivered: false }));
      dev.stream.destroy();
    });
    expect(refused).toMatchObject({ status: 503, body: { error: "device_busy", delivered: false } });
    expect(rest.filter((a) => a.status !== 503).map((a) => [a.status, a.body.error])).toEqual(
      rest.filter((a) => a.status !== 503).map(() => [504, "device_no_answer"]),
    );
    expect(rest.filter((a) => a.status === 503).every((a) => a.body.error === "device_busy")).toBe(true);
    expect(healthy.every((s) => s === 200)).toBe(true);
    expect(healthy.length).toBeGreaterThan(0);
    await waitFor(() => !backend.presence.isOnline("stuck-mqtt"));
  });

  it("a WebSocket device that stops reading: 503 device_busy; the healthy devices answer every call", async () => {
    const ws = await wsDevice("stuck-ws");
    (ws as unknown as { _socket: Socket })._socket.pause();
    const { refused, healthy, rest } = await floodUntilBusy("stuck-ws", () => ws.terminate());
    expect(refused).toMatchObject({ status: 503, body: { error: "device_busy", delivered: false } });
    expect(rest.filter((a) => a.status !== 503).every((a) => a.status === 504 && a.body.error === "device_no_answer")).toBe(true);
    expect(rest.filter((a) => a.status === 503).every((a) => a.body.error === "device_busy")).toBe(true);
    expect(healthy.every((s) => s === 200)).toBe(true);
    await waitFor(() => !backend.presence.isOnline("stuck-ws"));
  });

  it("400 calls pipelined in one write to one healthy device (MQTT and WebSocket) are all delivered: a burst is not a full socket", async () => {
    for (const id of ["healthy-mqtt", "healthy-ws"]) {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: [1] });
      const one = `POST /api/v1/devices/${id}/rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const sock = connect(backend.port, "127.0.0.1");
      let text = "";
      sock.on("data", (d) => (text += d));
      sock.write(one.repeat(400)); // one read on the backend: the calls reach the correlator in the same turn
      await waitFor(() => (text.match(/HTTP\/1\.1 /g) ?? []).length === 400);
      sock.destroy();
      expect((text.match(/HTTP\/1\.1 200 /g) ?? []).length).toBe(400);
    }
  });

  it("a WebSocket device flooding frames is closed with 1008 rate_limited; the other devices answer on", async () => {
    const ws = await wsDevice("flood-ws");
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once("close", (code, reason) => r({ code, reason: String(reason) })));
    ws.on("error", () => {});
    const frame = '{"jsonrpc":"2.0","method":"time.get","id":1}';
    for (let i = 0; i < 5000; i++) ws.send(frame);
    const { code, reason } = await closed;
    expect(code).toBe(1008); // policy violation
    expect(reason).toMatch(/^rate_limited: over 10 frames\/s \(burst 50\)$/);
    await waitFor(() => !backend.presence.isOnline("flood-ws"));
    for (const h of ["healthy-mqtt", "healthy-ws"]) expect((await rpc(h, "echo", ["after"])).status).toBe(200);
  });

  it("answers to the backend's own requests are not limited: 600 calls to a WebSocket device allowed 10 frames/s all answer", async () => {
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => rpc("busy-ws", "echo", [round, i])));
      expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    }
    expect(backend.presence.isOnline("busy-ws")).toBe(true);
  });

  it("an unanswered call makes the device suspect: one probe at a time, the rest 503 device_suspect; a PINGREQ clears it", async () => {
    const dev = await mqttDevice("mute-mqtt");
    const view = async () => (await api("/api/v1/devices/mute-mqtt")).body as { online: boolean; suspect: boolean };
    expect(await view()).toMatchObject({ online: true, suspect: false });
    expect((await rpc("mute-mqtt", "echo", [1], 200)).body).toMatchObject({ error: "device_timeout", delivered: true });
    expect(await view()).toMatchObject({ online: true, suspect: true });
    let received = 0;
    dev.on("message", () => received++);
    const probe = rpc("mute-mqtt", "echo", [2], 1000);
    await waitFor(() => received === 1); // the probe reached the device
    const refused = await rpc("mute-mqtt", "echo", [3], 1000);
    expect(refused).toMatchObject({ status: 503, body: { error: "device_suspect", delivered: false } });
    expect((await probe).status).toBe(504);
    (dev.stream as Socket).write(Buffer.from([0xc0, 0x00])); // PINGREQ: the device is alive
    await waitFor(async () => !(await view()).suspect);
    await dev.endAsync(true);
  });

  it("a suspect device's own answer, even late, clears it", async () => {
    const dev = await mqttDevice("mute-mqtt");
    let first: { id: string } | undefined;
    dev.on("message", (_t, payload) => (first ??= JSON.parse(String(payload))));
    expect((await rpc("mute-mqtt", "echo", [1], 200)).status).toBe(504);
    expect(backend.presence.isSuspect("mute-mqtt")).toBe(true);
    dev.publish("devices/mute-mqtt/tx", JSON.stringify({ jsonrpc: "2.0", result: "late", id: first!.id }));
    await waitFor(() => !backend.presence.isSuspect("mute-mqtt"));
    await dev.endAsync(true);
  });

  it("a suspect WebSocket device is pinged at once; its pong clears it (the heartbeat here is 60 s)", async () => {
    const ws = await wsDevice("mute-ws"); // the ws library answers pings by itself
    const pinged = new Promise((r) => ws.once("ping", r));
    expect((await rpc("mute-ws", "echo", [1], 200)).body).toMatchObject({ error: "device_timeout" });
    await pinged;
    await waitFor(() => !backend.presence.isSuspect("mute-ws"));
    expect((await api("/api/v1/devices/mute-ws")).body).toMatchObject({ online: true, suspect: false });
    ws.close();
  });
});

describe("calls awaiting one device", () => {
  let backend: Backend;
  let key: string;
  afterAll(async () => backend?.close());

  it("more than 256 awaiting one device's answers are refused as 503 device_busy (not delivered)", async () => {
    backend = await startTestBackend("pending");
    key = backend.registry.createApiKey().key;
    const { credential } = backend.registry.addDevice("mute");
    const dev = await mqtt.connectAsync(backend.mqttUrl, { username: "mute", password: credential, clientId: "mute", protocolVersion: 4 });
    await dev.subscribeAsync("devices/mute/rx"); // reads everything, answers nothing
    dev.publish("devices/mute/status", '{"online":true}', { retain: true });
    await waitFor(() => backend.presence.isOnline("mute"));
    const api = apiClient(
      () => backend.url,
      () => `Bearer ${key}`,
    );
    await api("/api/v1/devices"); // the key's first check (scrypt) once, not once per parallel connection
    let settled = 0;
    const calls = Array.from({ length: 300 }, (_, i) =>
      api("/api/v1/devices/mute/rpc?timeout_ms=60000", { method: "POST", json: { jsonrpc: "2.0", id: i, method: "echo" } }).finally(() => settled++),
    );
    await waitFor(() => settled === 300 - 256); // the refused ones answer at once; the others wait for the device
    await dev.endAsync(true);
    const answers = await Promise.all(calls);
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBe(300 - 256);
    for (const a of busy) expect(a.body).toMatchObject({ error: "device_busy", delivered: false });
    expect(answers.filter((a) => a.status === 504).map((a) => a.body.error)).toEqual(Array(256).fill("device_no_answer"));
  });
});

describe("keep-alive and frame-rate defaults", () => {
  /** A TCP server that records the keep-alive of each CONNECT and drops the connection. */
  async function connectRecorder() {
    const keepalives: number[] = [];
    const server = createServer((sock) => {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on("packet", (p) => {
        if (p.cmd === "connect") keepalives.push(p.keepalive ?? -1);
        sock.destroy();
      });
      sock.on("data", (d) => parser.parse(d));
      sock.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { keepalives, url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
  }

  it("a device connects with keep-alive 15 s unless told otherwise (the broker drops a silent link after ~22 s, not ~90 s)", async () => {
    const { keepalives, url, close } = await connectRecorder();
    for (const keepalive of [undefined, 40]) {
      const d = new Device({ id: "ka" });
      void d.connect(url, { password: "x", keepalive, reconnect: { minMs: 60_000, maxMs: 60_000 } }).catch(() => {});
      await waitFor(() => keepalives.length === (keepalive === undefined ? 1 : 2));
      await d.close();
    }
    close();
    expect(keepalives).toEqual([DEFAULT_KEEPALIVE_S, 40]);
    expect(DEFAULT_KEEPALIVE_S).toBe(15);
  });

  it("outpost device run: 15 s by default, --keepalive <s> sets it, over 65535 is one line and exit 1", async () => {
    const { keepalives, url, close } = await connectRecorder();
    const root = new URL("..", import.meta.url).pathname;
    // Each run's first CONNECT (a slow machine may let one reconnect before the kill).
    const first: number[] = [];
    for (const extra of [[], ["--keepalive", "7"]]) {
      const seen = keepalives.length;
      const proc = spawn("node", ["bin/outpost.js", "device", "run", "--id", "ka", "--url", url, "--password", "x", ...extra], { cwd: root, stdio: "ignore" });
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      await waitFor(() => keepalives.length > seen);
      first.push(keepalives[seen]);
      proc.kill("SIGKILL");
      await exited; // no CONNECT of this run after the next one's
    }
    close();
    expect(first).toEqual([15, 7]);
    const bad = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const proc = spawn("node", ["bin/outpost.js", "device", "run", "--id", "ka", "--url", url, "--keepalive", "70000"], { cwd: root });
      let stderr = "";
      proc.stderr.on("data", (d) => (stderr += d));
      proc.on("exit", (code) => resolve({ code, stderr }));
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/keep-alive over 65535 s: 70000/);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
  }, 60_000);

  it("the frame bucket: a burst, then its rate; each request sent credits one answer frame", () => {
    const bucket = new FrameBucket({ perSecond: 10, burst: 3 }, 0);
    expect([1, 2, 3, 4].map(() => bucket.take(0))).toEqual([true, true, true, false]);
    expect(bucket.take(99)).toBe(false); // 0.99 of a frame earned
    expect(bucket.take(100)).toBe(true);
    bucket.owe();
    bucket.owe();
    expect([bucket.take(100), bucket.take(100), bucket.take(100)]).toEqual([true, true, false]);
    expect(bucket.take(10_000)).toBe(true); // refilled, but never past the burst
    expect([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)]).toEqual([true, true, false]);
  });
});
