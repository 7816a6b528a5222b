// JSON-RPC over WebSocket end to end: the module device (V8) against the `ws` library's server and against
// the backend's gateway; REST RPC to WebSocket devices with the same status codes as to MQTT devices;
// authentication before the upgrade, one connection per id, heartbeats, device-initiated requests, server-sent
// events, isolation between devices, and `outpost device run --url ws://...`.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { WebSocket, WebSocketServer } from "ws";
import { errCode } from "../host/abi.ts";
import { Device, RpcError } from "../host/device.ts";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { CLOSE_REMOVED, CLOSE_REPLACED } from "../host/server/ws.ts";
import { freePort } from "./support/mosquitto.ts";
import { apiClient, waitFor } from "./support/api.ts";

const silent = pino({ level: "silent" });
const devices: Device[] = [];
const sockets: WebSocket[] = [];

const closeInfo = (device: Device) =>
  new Promise<{ error: number; reasonCode: number }>((resolve) =>
    device.mqtt!.on("close", (info: { error: number; reasonCode: number }) => {
      if (info.error) resolve(info);
    }),
  );

describe("the module device against the ws library's server", () => {
  let wss: WebSocketServer;
  let url: string;
  const conns: WebSocket[] = [];
  const received: string[] = [];

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => wss.once("listening", r));
    url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/devices`;
    wss.on("connection", (sock) => {
      conns.push(sock);
      sock.on("message", (d) => received.push(String(d)));
    });
  });
  afterAll(async () => {
    for (const d of devices.splice(0)) await d.close();
    await new Promise((r) => wss.close(r));
  });

  /** The first message with this JSON-RPC id after send() (other devices' telemetry may come in between). */
  const response = async (id: number, send: () => void) => {
    const before = received.length;
    send();
    let found: { id?: number } | undefined;
    await waitFor(
      () =>
        (found = received
          .slice(before)
          .map((t) => JSON.parse(t))
          .find((m) => m.id === id)) !== undefined,
    );
    return found;
  };

  it("answers requests, fragmented ones too, pongs the server's pings and sends telemetry", async () => {
    const device = new Device({ id: "lib1", methods: { later: async (p: unknown) => ({ got: p }) } });
    devices.push(device);
    await device.connect(url, { password: "pw", telemetryMs: 50 });
    const sock = conns.at(-1)!;
    expect(await response(1, () => sock.send('{"jsonrpc":"2.0","id":1,"method":"echo","params":["a"]}'))).toEqual({ jsonrpc: "2.0", result: ["a"], id: 1 });
    const big = "é".repeat(700);
    const text = Buffer.from(`{"jsonrpc":"2.0","id":2,"method":"echo","params":["${big}"]}`);
    const fragmented = () => {
      sock.send(text.subarray(0, 100), { fin: false });
      sock.send(text.subarray(100, 1000), { fin: false });
      sock.send(text.subarray(1000), { fin: true });
    };
    expect(await response(2, fragmented)).toEqual({ jsonrpc: "2.0", result: [big], id: 2 });
    expect(await response(3, () => sock.send('{"jsonrpc":"2.0","id":3,"method":"later","params":[7]}'))).toEqual({
      jsonrpc: "2.0",
      result: { got: [7] },
      id: 3,
    });
    const pong = new Promise<Buffer>((resolve) => sock.once("pong", resolve));
    sock.ping("beat");
    expect(String(await pong)).toBe("beat");
    await waitFor(() => received.some((t) => JSON.parse(t).method === "telemetry"));
    const note = JSON.parse(received.find((t) => JSON.parse(t).method === "telemetry")!);
    expect(note.params).toMatchObject({ version: "0.1.0", board: "node" });
  });

  it("reports the server's close code (WsClosed) and reconnects after the backoff", async () => {
    const device = new Device({ id: "lib2" });
    devices.push(device);
    await device.connect(url, { password: "pw", reconnect: { minMs: 20, maxMs: 50 } });
    const before = conns.length;
    const closed = closeInfo(device);
    conns.at(-1)!.close(1012, "restart");
    expect(await closed).toEqual({ error: errCode("WsClosed"), reasonCode: 1012 });
    await waitFor(() => conns.length > before);
    expect(await response(5, () => conns.at(-1)!.send('{"jsonrpc":"2.0","id":5,"method":"echo"}'))).toEqual({ jsonrpc: "2.0", result: null, id: 5 });
  });

  it("names framing errors on a real socket and tells the server why: a masked frame (1002), an oversize message (1009)", async () => {
    const device = new Device({ id: "lib3", limits: { requestMax: 1024 } });
    devices.push(device);
    await device.connect(url, { password: "pw", reconnect: { minMs: 20, maxMs: 50 } });
    let sock = conns.at(-1)!;
    let serverSaw = new Promise<number>((resolve) => sock.once("close", resolve));
    let closed = closeInfo(device);
    const before = conns.length;
    // A masked text frame "{}" written under the library.
    (sock as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x7b ^ 1, 0x7d ^ 2]));
    expect(await closed).toEqual({ error: errCode("WsMaskedFrame"), reasonCode: 1002 });
    expect(await serverSaw).toBe(1002);
    await waitFor(() => conns.length > before);
    sock = conns.at(-1)!;
    serverSaw = new Promise<number>((resolve) => sock.once("close", resolve));
    closed = closeInfo(device);
    sock.send("x".repeat(4096)); // over maxPacket (requestMax + 1024)
    expect(await closed).toEqual({ error: errCode("WsFrameTooLarge"), reasonCode: 1009 });
    expect(await serverSaw).toBe(1009);
  });
});

describe("the backend's WebSocket gateway", () => {
  let backend: Backend;
  let key: string;
  let wsUrl: string;
  const creds: Record<string, string> = {};

  const api = apiClient(
    () => backend.url,
    () => `Bearer ${key}`,
  );
  const register = (id: string) => (creds[id] = backend.registry.addDevice(id).credential);

  async function wsDevice(id: string, methods = {}, opts: { telemetryMs?: number } = {}): Promise<Device> {
    register(id);
    const device = new Device({ id, methods });
    devices.push(device);
    await device.connect(wsUrl, { password: creds[id], reconnect: { minMs: 50, maxMs: 200 }, ...opts });
    await waitFor(() => backend.presence.isOnline(id));
    return device;
  }
  async function mqttDevice(id: string, methods = {}): Promise<Device> {
    register(id);
    const device = new Device({ id, methods });
    devices.push(device);
    await device.connect(backend.mqttUrl, { password: creds[id] });
    await waitFor(() => backend.presence.isOnline(id));
    return device;
  }
  /** A raw WebSocket client as a device (or as an impostor); resolves once open, or with the refusal status. */
  function rawClient(headers: Record<string, string>, query = "", opts: { autoPong?: boolean } = {}) {
    const ws = new WebSocket(wsUrl + query, { headers, autoPong: opts.autoPong ?? true });
    sockets.push(ws);
    const messages: Array<{ id?: unknown; method?: string; params?: unknown; result?: unknown; error?: { code: number } }> = [];
    ws.on("message", (d) => messages.push(JSON.parse(String(d))));
    ws.on("error", () => {});
    const opened = new Promise<number>((resolve) => {
      ws.once("open", () => resolve(101));
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    });
    const closed = new Promise<number>((resolve) => ws.once("close", resolve));
    return { ws, messages, opened, closed };
  }
  const bearer = (id: string, credential = creds[id]) => ({ authorization: `Bearer ${id}:${credential}` });

  beforeAll(async () => {
    backend = await startBackend({
      dataDir: mkdtempSync(join(tmpdir(), "outpost-ws-")),
      port: await freePort(),
      mqttPort: await freePort(),
      host: "127.0.0.1",
      logger: silent,
      wsHeartbeatMs: 500, // short for the heartbeat test, long enough for a busy machine
    });
    key = backend.registry.createApiKey().key;
    wsUrl = `ws://127.0.0.1:${backend.port}/api/v1/devices/ws`;
  });
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    for (const d of devices.splice(0)) await d.close();
    await backend.close();
  });

  it("REST RPC to a WebSocket device gives exactly what it gives for an MQTT device (status and body)", async () => {
    const methods = {
      fail: () => {
        throw new RpcError(-32001, "sensor unplugged", { pin: 4 });
      },
      slow: async () => "settled",
      hang: () => new Promise(() => {}),
    };
    await wsDevice("ws-a", methods);
    await mqttDevice("mq-a", methods);
    const calls: Array<[string, RequestInit & { json?: unknown }]> = [
      ["/rpc", { method: "POST", json: { jsonrpc: "2.0", id: "c1", method: "echo", params: { x: [1, 2] } } }],
      ["/rpc", { method: "POST", json: { method: "echo", params: [3] } }],
      ["/rpc/echo", { method: "POST", json: ["short"] }],
      ["/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 2, method: "fail" } }],
      ["/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 3, method: "nope" } }],
      ["/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 4, method: "slow" } }],
      ["/rpc", { method: "POST", json: { jsonrpc: "2.0", method: "echo" } }],
      ["/rpc?timeout_ms=150", { method: "POST", json: { jsonrpc: "2.0", id: 5, method: "hang" } }],
      ["/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 6, method: "echo", params: 3 } }],
    ];
    for (const [path, init] of calls) {
      const viaWs = await api(`/api/v1/devices/ws-a${path}`, init);
      const viaMqtt = await api(`/api/v1/devices/mq-a${path}`, init);
      // Messages name the device: compare with the ids taken out.
      expect(JSON.stringify(viaWs).replaceAll("ws-a", "ID"), path + JSON.stringify(init.json)).toBe(JSON.stringify(viaMqtt).replaceAll("mq-a", "ID"));
    }
    expect((await api("/api/v1/devices/ws-a/rpc", calls[0][1])).body).toEqual({ jsonrpc: "2.0", result: { x: [1, 2] }, id: "c1" });
    expect((await api("/api/v1/devices/ws-a")).body).toMatchObject({ id: "ws-a", online: true, transport: "ws" });
  });

  it("answers 503 once a WebSocket device has gone, and 404 for an unknown one", async () => {
    const device = await wsDevice("ws-gone");
    await device.close();
    await waitFor(() => !backend.presence.isOnline("ws-gone"));
    expect((await api("/api/v1/devices/ws-gone")).body).toMatchObject({ online: false, transport: "ws" });
    expect((await api("/api/v1/devices/ws-gone/rpc", { method: "POST", json: { method: "echo" } })).status).toBe(503);
    expect((await api("/api/v1/devices/nobody/rpc", { method: "POST", json: { method: "echo" } })).status).toBe(404);
  });

  it("refuses before the upgrade: 401 without or with a malformed Authorization, 403 for a wrong credential", async () => {
    register("ws-auth");
    expect(await rawClient({}).opened).toBe(401);
    expect(await rawClient({ authorization: `Basic ${Buffer.from(`ws-auth:${creds["ws-auth"]}`).toString("base64")}` }).opened).toBe(401);
    expect(await rawClient({ authorization: `Bearer ${creds["ws-auth"]}` }).opened).toBe(401); // no id
    expect(await rawClient(bearer("ws-auth", "wrong")).opened).toBe(403);
    expect(await rawClient(bearer("nobody", creds["ws-auth"])).opened).toBe(403);
    expect(await rawClient(bearer("ws-auth")).opened).toBe(101);
  });

  it("documents the path in the OpenAPI spec and answers a plain GET with 426", async () => {
    const res = await fetch(`${backend.url}/api/v1/devices/ws`);
    expect(res.status).toBe(426);
    expect(res.headers.get("upgrade")).toBe("websocket");
    const spec = (await (await fetch(`${backend.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(spec.paths).toHaveProperty(["/api/v1/devices/ws", "get"]);
    expect(spec.paths).toHaveProperty(["/api/v1/devices/{id}/events", "get"]);
  });

  it("answers an upgrade on any other path with 404", async () => {
    register("ws-path");
    const ws = new WebSocket(`ws://127.0.0.1:${backend.port}/api/v1/devices/elsewhere`, { headers: bearer("ws-path") });
    sockets.push(ws);
    ws.on("error", () => {});
    expect(await new Promise<number>((resolve) => ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)))).toBe(404);
  });

  it("takes the credential as ?access_token=<id>:<credential> for stacks that cannot set headers", async () => {
    register("ws-query");
    expect(await rawClient({}, `?access_token=ws-query:${encodeURIComponent(creds["ws-query"])}`).opened).toBe(101);
    expect(await rawClient({}, `?access_token=ws-query:nope`).opened).toBe(403);
  });

  it("closes a connection whose message is over the body limit (1009)", async () => {
    register("ws-big");
    const c = rawClient(bearer("ws-big"));
    expect(await c.opened).toBe(101);
    c.ws.send("x".repeat(64 * 1024 + 1));
    expect(await c.closed).toBe(1009);
  });

  it("enforces the id the credential carries: one device's credential does not open another's connection", async () => {
    register("ws-x");
    register("ws-y");
    expect(await rawClient(bearer("ws-y", creds["ws-x"])).opened).toBe(403);
  });

  it("keeps one connection per device id: a new one replaces the old (close 4000) and gets the requests", async () => {
    register("ws-dup");
    const first = rawClient(bearer("ws-dup"));
    expect(await first.opened).toBe(101);
    const second = rawClient(bearer("ws-dup"));
    expect(await second.opened).toBe(101);
    expect(await first.closed).toBe(CLOSE_REPLACED);
    expect(backend.presence.isOnline("ws-dup")).toBe(true);
    second.ws.on("message", (d) => {
      const req = JSON.parse(String(d));
      if (req.method) second.ws.send(JSON.stringify({ jsonrpc: "2.0", result: "second", id: req.id }));
    });
    expect((await api("/api/v1/devices/ws-dup/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "who" } })).body).toEqual({
      jsonrpc: "2.0",
      result: "second",
      id: 1,
    });
    expect(first.messages).toEqual([]);
  });

  it("pings every heartbeat: a device that never answers is dropped, the module device (which pongs) stays", async () => {
    const device = await wsDevice("ws-beat");
    register("ws-mute");
    const mute = rawClient(bearer("ws-mute"), "", { autoPong: false });
    expect(await mute.opened).toBe(101);
    expect(await mute.closed).toBe(1006); // terminated after a heartbeat without a pong
    await waitFor(() => !backend.presence.isOnline("ws-mute"));
    expect(backend.presence.isOnline("ws-beat")).toBe(true);
    expect((await api("/api/v1/devices/ws-beat/rpc", { method: "POST", json: { method: "echo", params: [1] } })).status).toBe(200);
    expect(device.mqtt!.connected).toBe(true);
  });

  it("answers requests the device makes (time.get, batches too), Method not found for others, parse and request errors", async () => {
    register("ws-asks");
    const c = rawClient(bearer("ws-asks"));
    expect(await c.opened).toBe(101);
    const before = Date.now();
    c.ws.send('{"jsonrpc":"2.0","id":"t","method":"time.get"}');
    c.ws.send('{"jsonrpc":"2.0","id":2,"method":"reboot.everything"}');
    c.ws.send("not json");
    c.ws.send('[{"jsonrpc":"2.0","id":"b1","method":"time.get"},{"jsonrpc":"2.0","method":"hello"},{"jsonrpc":"2.0","id":"b2","method":"nope"}]');
    c.ws.send("[]");
    c.ws.send('{"jsonrpc":"2.0","id":3}');
    await waitFor(() => c.messages.length === 6);
    const [time, missing, parse] = c.messages as Array<{ result?: { unix_ms: number; iso: string }; id?: unknown; error?: { code: number } }>;
    const batch = c.messages[3] as unknown as Array<{ id: string; result?: unknown; error?: { code: number } }>;
    expect(batch.map((a) => [a.id, a.error?.code ?? "ok"])).toEqual([
      ["b1", "ok"],
      ["b2", -32601],
    ]);
    expect(c.messages[4]).toMatchObject({ error: { code: -32600 }, id: null }); // an empty batch
    expect(c.messages[5]).toMatchObject({ error: { code: -32600 }, id: null }); // neither request nor response
    expect(time.id).toBe("t");
    expect(time.result!.unix_ms).toBeGreaterThanOrEqual(before);
    expect(time.result!.unix_ms).toBeLessThanOrEqual(Date.now());
    expect(new Date(time.result!.iso).getTime()).toBe(time.result!.unix_ms);
    expect(missing).toEqual({ jsonrpc: "2.0", error: { code: -32601, message: "Method not found" }, id: 2 });
    expect(parse).toMatchObject({ error: { code: -32700 }, id: null });
  });

  it("streams a device's notifications as server-sent events: the module's telemetry, and other methods by name", async () => {
    await wsDevice("ws-tele", {}, { telemetryMs: 50 });
    const res = await fetch(`${backend.url}/api/v1/devices/ws-tele/events`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    while (!/event: telemetry\ndata: .*\n\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const data = JSON.parse(/event: telemetry\ndata: (.*)\n\n/.exec(text)![1]);
    expect(data).toMatchObject({ version: "0.1.0", engine: "v8" });
    await reader.cancel();

    register("ws-alarm");
    const c = rawClient(bearer("ws-alarm"));
    expect(await c.opened).toBe(101);
    const res2 = await fetch(`${backend.url}/api/v1/devices/ws-alarm/events`, { headers: { authorization: `Bearer ${key}` } });
    const reader2 = res2.body!.getReader();
    await reader2.read(); // ": connected"
    c.ws.send('{"jsonrpc":"2.0","method":"alarm","params":{"door":"open"}}');
    let text2 = "";
    while (!text2.includes("\n\n")) text2 += new TextDecoder().decode((await reader2.read()).value);
    expect(text2).toBe('event: alarm\ndata: {"door":"open"}\n\n');
    await reader2.cancel();
    expect((await api("/api/v1/devices/nobody/events")).status).toBe(404);
    expect((await fetch(`${backend.url}/api/v1/devices/ws-tele/events`)).status).toBe(401);
  });

  it("isolates devices: one never sees another's requests and cannot answer them", async () => {
    register("ws-eve");
    register("ws-bob");
    const eve = rawClient(bearer("ws-eve"));
    const bob = rawClient(bearer("ws-bob")); // never answers
    expect(await eve.opened).toBe(101);
    expect(await bob.opened).toBe(101);
    eve.ws.on("message", (d) => {
      const req = JSON.parse(String(d));
      if (!req.method) return;
      eve.ws.send(JSON.stringify({ jsonrpc: "2.0", result: "eve", id: req.id }));
      // Forge answers to the next requests the backend makes to anyone (ids are sequential).
      for (let i = 1; i <= 3; i++) eve.ws.send(JSON.stringify({ jsonrpc: "2.0", result: "forged", id: req.id + i }));
    });
    expect((await api("/api/v1/devices/ws-eve/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "x" } })).body.result).toBe("eve");
    const toBob = api("/api/v1/devices/ws-bob/rpc?timeout_ms=300", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "secret" } });
    await waitFor(() => bob.messages.length === 1);
    // Eve's forgeries are already on tx when Bob's request goes out: the correlator only takes Bob's answers for Bob.
    eve.ws.send(JSON.stringify({ jsonrpc: "2.0", result: "forged", id: bob.messages[0].id }));
    expect((await toBob).status).toBe(504);
    expect(eve.messages.every((m) => m.method !== "secret")).toBe(true);
  });

  it("drops a deleted device's connection (close 4001); its credential then gets 403", async () => {
    register("ws-del");
    const c = rawClient(bearer("ws-del"));
    expect(await c.opened).toBe(101);
    expect((await api("/api/v1/devices/ws-del", { method: "DELETE" })).status).toBe(204);
    expect(await c.closed).toBe(CLOSE_REMOVED);
    expect(await rawClient(bearer("ws-del")).opened).toBe(403);
  });

  it("the native wasm3 device (boards/posix) over WebSocket: REST RPC reaches its C methods through the gateway", async () => {
    register("ws-native");
    const program = new URL("../boards/posix/build/outpost-device", import.meta.url).pathname;
    const child = spawn(program, ["--id", "ws-native", "--url", wsUrl, "--password", creds["ws-native"]], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d) => (log += d));
    try {
      await waitFor(() => backend.presence.isOnline("ws-native") || child.exitCode !== null);
      expect(child.exitCode, log).toBe(null);
      const call = (id: number, method: string, params?: unknown) =>
        api("/api/v1/devices/ws-native/rpc", { method: "POST", json: { jsonrpc: "2.0", id, method, params } });
      expect((await call(1, "gpio.write", [5, 1])).body).toEqual({ jsonrpc: "2.0", result: true, id: 1 });
      expect((await call(2, "gpio.read", { pin: 5 })).body).toEqual({ jsonrpc: "2.0", result: 1, id: 2 });
      expect((await call(3, "sys.info")).body.result).toMatchObject({ engine: "wasm3", board: "posix" });
      expect((await api("/api/v1/devices/ws-native")).body).toMatchObject({ online: true, transport: "ws" });
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      await waitFor(() => !backend.presence.isOnline("ws-native"));
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("outpost device run --url ws://... runs a module device over WebSocket until SIGTERM", async () => {
    register("ws-cli");
    const root = new URL("..", import.meta.url).pathname;
    const child = spawn("node", ["bin/outpost.js", "device", "run", "--id", "ws-cli", "--url", wsUrl, "--password", creds["ws-cli"]], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    try {
      await waitFor(() => backend.presence.isOnline("ws-cli") || child.exitCode !== null);
      expect(child.exitCode, out).toBe(null);
      const r = await api("/api/v1/devices/ws-cli/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "sys.info" } });
      expect(r.body.result).toMatchObject({ board: "node-cli", engine: "v8" });
      // Replaced by another connection with its id: the log names the error and the close code; it comes back.
      const other = rawClient(bearer("ws-cli"));
      expect(await other.opened).toBe(101);
      await waitFor(() => out.includes('"closeCode":"4000 ReplacedByNewerConnection"'));
      expect(out).toContain('"error":"WsClosed"');
      expect(await other.closed).toBe(CLOSE_REPLACED);
      await waitFor(() => backend.presence.isOnline("ws-cli"));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      await waitFor(() => !backend.presence.isOnline("ws-cli"));
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("WebSocket devices across backend instances on one broker", () => {
  // The second backend uses the first one's embedded broker as its external broker (as test/backend-external.test.ts).
  it("a device connected to one backend answers REST calls made to another, and its events reach the other's stream", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-ws-cluster-"));
    const a = await startBackend({ dataDir, port: await freePort(), mqttPort: await freePort(), host: "127.0.0.1", logger: silent });
    const b = await startBackend({ dataDir, port: await freePort(), brokerUrl: a.mqttUrl, host: "127.0.0.1", logger: silent });
    const { credential } = a.registry.addDevice("roamer");
    const device = new Device({ id: "roamer" });
    try {
      await device.connect(`ws://127.0.0.1:${a.port}/api/v1/devices/ws`, { password: credential, telemetryMs: 50 });
      await waitFor(() => b.presence.isOnline("roamer")); // the retained status, through the broker
      expect(b.presence.get("roamer")?.transport).toBe("ws");
      const { key } = b.registry.createApiKey();
      const res = await fetch(`${b.url}/api/v1/devices/roamer/rpc`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: "far", method: "echo", params: ["across"] }),
      });
      expect(await res.json()).toEqual({ jsonrpc: "2.0", result: ["across"], id: "far" });
      const events = await fetch(`${b.url}/api/v1/devices/roamer/events`, { headers: { authorization: `Bearer ${key}` } });
      const reader = events.body!.getReader();
      let text = "";
      while (!text.includes("event: telemetry")) text += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      await device.close();
      await waitFor(() => !b.presence.isOnline("roamer"));
    } finally {
      await device.close();
      await b.close();
      await a.close();
    }
  });
});
