// Engines benchmark: the same module workloads under V8 and under wasm3 (the
// project's N-API binding), in one run; V8 is the named peer. Workloads:
//  - rpc: Device.handleRpc of a small echo request (tokenizer, dispatcher, writer);
//  - decode: the codec decoding a stream of QoS 1 PUBLISH packets into JS objects.
// Then, if valgrind is installed, instructions per RPC in the native device
// (boards/posix, wasm3 with the MCU configuration) under callgrind: the whole round
// trip through mosquitto, and the dispatch alone.
// Last line: a JSON summary.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { Decoder } from "../host/codec/index.ts";
import { Device } from "../host/device.ts";
import type { EngineName } from "../host/engine.ts";
import { startMosquitto } from "../test/support/mosquitto.ts";

const REQUEST = '{"jsonrpc":"2.0","id":1,"method":"echo","params":[1,"x"]}';
const EXPECTED = '{"jsonrpc":"2.0","result":[1,"x"],"id":1}';
const RPC_COUNT = 20_000;
const PUBLISH_COUNT = 20_000;
const ROUNDS = 5;
const CHUNK = 16 * 1024;

async function best(count: number, run: () => Promise<number> | number): Promise<number> {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    const n = await run();
    const ns = Number(process.hrtime.bigint() - t0);
    if (n !== count) throw new Error(`expected ${count} results, got ${n}`);
    min = Math.min(min, ns);
  }
  return min / count; // ns per item
}

async function rpcNs(engine: EngineName): Promise<number> {
  const device = new Device({ id: "bench", engine });
  return best(RPC_COUNT, async () => {
    let ok = 0;
    for (let i = 0; i < RPC_COUNT; i++) if ((await device.handleRpc(REQUEST)) === EXPECTED) ok++;
    return ok;
  });
}

// The same PUBLISH stream as bench/codec.ts: 18-byte topics, ~45-byte JSON payloads.
const stream = Buffer.concat(
  Array.from({ length: PUBLISH_COUNT }, (_, i) =>
    mqttPacket.generate({
      cmd: "publish",
      topic: `devices/dev${String(i % 10000).padStart(4, "0")}/rx`,
      payload: Buffer.from(`{"jsonrpc":"2.0","id":${i},"result":{"ok":true}}`),
      qos: 1,
      messageId: (i % 65535) + 1,
      retain: false,
      dup: false,
    }),
  ),
);
const chunks: Buffer[] = [];
for (let off = 0; off < stream.length; off += CHUNK) chunks.push(stream.subarray(off, off + CHUNK));

async function decodeNs(engine: EngineName): Promise<number> {
  return best(PUBLISH_COUNT, () => {
    const decoder = new Decoder({ protocolVersion: 4, engine });
    let n = 0;
    for (const c of chunks) n += decoder.push(c).length;
    return n;
  });
}

const program = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));
const hasValgrind = spawnSync("valgrind", ["--version"]).status === 0;
const CALLGRIND_RPCS = 200;

function callgrindTotal(file: string): number {
  const text = readFileSync(file, "utf8");
  const total = text.match(/^summary:\s+(\d+)/m) ?? text.match(/^totals:\s+(\d+)/m);
  if (!total) throw new Error(`no instruction total in ${file}`);
  return Number(total[1]);
}

// Instructions per dispatch in the native device: outpost-device --call --repeat under
// callgrind, 1 + N times minus once, over N (start-up cancels out).
function callgrindPerDispatch(dir: string): number {
  const instructions = (repeat: number): number => {
    const out = join(dir, `dispatch.${repeat}`);
    const r = spawnSync("valgrind", ["--tool=callgrind", `--callgrind-out-file=${out}`, program, "--call", REQUEST, "--repeat", String(repeat)]);
    if (r.status !== 0) throw new Error(`callgrind run failed: ${r.stderr}`);
    return callgrindTotal(out);
  };
  return Math.round((instructions(1 + CALLGRIND_RPCS) - instructions(1)) / CALLGRIND_RPCS);
}

// Instructions per RPC round trip in the native device, the whole path: PUBLISH in
// from mosquitto, decode, dispatch, response PUBLISH out, PUBACKs, sockets. The device
// runs under callgrind for N sequential requests and for none; the difference over N.
async function callgrindPerRoundTrip(dir: string): Promise<number> {
  const broker = await startMosquitto();
  try {
    const instructions = async (rpcs: number): Promise<number> => {
      const out = join(dir, `roundtrip.${rpcs}`);
      const id = `callgrind-${rpcs}`;
      const device = spawn("valgrind", ["--tool=callgrind", `--callgrind-out-file=${out}`, program, "--id", id, "--url", broker.url], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      const exited = new Promise<number | null>((resolve) => device.once("exit", (code) => resolve(code)));
      let log = "";
      await new Promise<void>((resolve, reject) => {
        device.stderr!.on("data", (d) => {
          log += d;
          if (log.includes("connected to")) resolve();
        });
        device.once("exit", () => reject(new Error(`device exited: ${log}`)));
      });
      const client = await mqtt.connectAsync(broker.url, { clientId: `bench-${id}` });
      await client.subscribeAsync(`devices/${id}/tx`, { qos: 1 });
      const replies: Array<() => void> = [];
      client.on("message", () => replies.shift()?.());
      for (let i = 0; i < rpcs; i++) {
        const reply = new Promise<void>((resolve) => replies.push(resolve));
        await client.publishAsync(`devices/${id}/rx`, REQUEST, { qos: 1 });
        await reply;
      }
      await client.endAsync();
      device.kill("SIGTERM");
      if ((await exited) !== 0) throw new Error(`device under callgrind failed: ${log}`);
      return callgrindTotal(out);
    };
    const idle = await instructions(0);
    return Math.round(((await instructions(CALLGRIND_RPCS)) - idle) / CALLGRIND_RPCS);
  } finally {
    await broker.stop();
  }
}

const fmt = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
const v8Rpc = await rpcNs("v8");
const wasm3Rpc = await rpcNs("wasm3");
console.log(`handleRpc echo   V8 ${fmt(v8Rpc)}   wasm3 ${fmt(wasm3Rpc)}   wasm3/V8 ${(wasm3Rpc / v8Rpc).toFixed(2)}x (target <= 10x)`);
const v8Decode = await decodeNs("v8");
const wasm3Decode = await decodeNs("wasm3");
console.log(`PUBLISH decode   V8 ${fmt(v8Decode)}   wasm3 ${fmt(wasm3Decode)}   wasm3/V8 ${(wasm3Decode / v8Decode).toFixed(2)}x`);
let perDispatch: number | null = null;
let perRoundTrip: number | null = null;
if (hasValgrind) {
  const dir = mkdtempSync(join(tmpdir(), "outpost-callgrind-"));
  perDispatch = callgrindPerDispatch(dir);
  perRoundTrip = await callgrindPerRoundTrip(dir);
  console.log(
    `native device (boards/posix, MCU config), callgrind: ${perRoundTrip} instructions per RPC round trip through mosquitto, ${perDispatch} per dispatch alone`,
  );
} else {
  console.log("native device: valgrind is not installed, instructions per RPC not measured");
}
console.log(
  JSON.stringify({
    rpc_v8_ns: Math.round(v8Rpc),
    rpc_wasm3_ns: Math.round(wasm3Rpc),
    rpc_ratio: Number((wasm3Rpc / v8Rpc).toFixed(2)),
    decode_v8_ns: Math.round(v8Decode),
    decode_wasm3_ns: Math.round(wasm3Decode),
    decode_ratio: Number((wasm3Decode / v8Decode).toFixed(2)),
    native_instructions_per_rpc: perRoundTrip,
    native_instructions_per_dispatch: perDispatch,
  }),
);
