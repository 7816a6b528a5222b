// REST end to end with the other engines: the module under wasm3 in Node, and the native POSIX device
// (boards/posix, wasm3 + BSD sockets) as its own process.
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import type { Backend } from "../host/server/backend.ts";
import { Device } from "../host/device.ts";
import { startTestBackend, waitFor } from "./support/api.ts";

const nativeDevice = new URL("../boards/posix/build/outpost-device", import.meta.url).pathname;
let backend: Backend;
let key: string;
let wasm3: Device;
let native: ChildProcess;

const rpc = (id: string, body: unknown, query = "") =>
  fetch(`${backend.url}/api/v1/devices/${id}/rpc${query}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

beforeAll(async () => {
  backend = await startTestBackend("engines");
  key = backend.registry.createApiKey().key;
  const w = backend.registry.addDevice("on-wasm3");
  wasm3 = new Device({ id: "on-wasm3", engine: "wasm3", methods: { add: (p: number[]) => p[0] + p[1] } });
  await wasm3.connect(backend.mqttUrl, { password: w.credential });
  const n = backend.registry.addDevice("native-1");
  native = spawn(nativeDevice, ["--id", "native-1", "--url", backend.mqttUrl, "--password", n.credential], { stdio: "ignore" });
  await waitFor(() => backend.presence.isOnline("on-wasm3") && backend.presence.isOnline("native-1"));
});

afterAll(async () => {
  await wasm3.close();
  if (native.exitCode === null && native.signalCode === null) native.kill("SIGKILL");
  await backend.close();
});

it("calls the module under wasm3 in Node: a host method, a built-in, an unknown method", async () => {
  expect(await rpc("on-wasm3", { jsonrpc: "2.0", id: 1, method: "add", params: [2, 3] })).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: 5 } });
  expect((await rpc("on-wasm3", { jsonrpc: "2.0", id: 2, method: "sys.info" })).body.result.engine).toBe("wasm3");
  expect((await rpc("on-wasm3", { jsonrpc: "2.0", id: 3, method: "nope" })).body.error.code).toBe(-32601);
});

it("the native device announces its limits in sys.info; a call over them is 413 before it is sent", async () => {
  const info = (await rpc("native-1", { jsonrpc: "2.0", id: 1, method: "sys.info" })).body.result;
  expect(info).toMatchObject({ request_max: 1024, response_max: 2048, max_packet: 2048 });
  const big = await rpc("native-1", { jsonrpc: "2.0", id: 2, method: "echo", params: ["x".repeat(3000)] });
  expect(big.status).toBe(413);
  expect(big.body).toMatchObject({ error: "request_too_large", device_max: expect.any(Number) });
  expect(big.body.device_max).toBeLessThanOrEqual(1024);
  // Still there, and a call within the limits gets through.
  expect((await rpc("native-1", { jsonrpc: "2.0", id: 3, method: "echo", params: ["small"] })).body.result).toEqual(["small"]);
});

it("20 calls at once to the native device (it tracks 8 QoS 2 requests) cost it no link: each is answered or times out, none is 503", async () => {
  // Pipelined on one connection, so the backend publishes all 20 in one turn and they reach the device in one read.
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: ["burst"] });
  const one = `POST /api/v1/devices/native-1/rpc?timeout_ms=3000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const sock = connect(backend.port, "127.0.0.1");
  let text = "";
  sock.on("data", (d) => (text += d));
  sock.write(one.repeat(20));
  await waitFor(() => (text.match(/HTTP\/1\.1 /g) ?? []).length === 20);
  sock.destroy();
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => Number(m[1]));
  expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(8);
  expect(statuses.every((s) => s === 200 || s === 504)).toBe(true);
  expect(backend.presence.isOnline("native-1")).toBe(true);
  // The device answers on (a call after a timeout is the suspect device's probe).
  await waitFor(async () => (await rpc("native-1", { jsonrpc: "2.0", id: "after", method: "echo", params: ["after"] })).status === 200);
});

it("calls the native POSIX device, and sees it go offline on SIGTERM", async () => {
  expect(await rpc("native-1", { jsonrpc: "2.0", id: "n", method: "echo", params: ["native"] })).toEqual({
    status: 200,
    body: { jsonrpc: "2.0", id: "n", result: ["native"] },
  });
  expect((await rpc("native-1", { jsonrpc: "2.0", id: 2, method: "nope" })).body.error.code).toBe(-32601);
  const exited = new Promise((r) => native.once("exit", r));
  native.kill("SIGTERM");
  await exited;
  await waitFor(() => !backend.presence.isOnline("native-1"));
  expect((await rpc("native-1", { method: "echo" }, "?timeout_ms=60000")).status).toBe(503);
});
