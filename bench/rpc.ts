// JSON-RPC benchmark: Device.handleRpc (the module's tokenizer, dispatcher and
// writer) against a plain-JS JSON.parse / dispatch / JSON.stringify of the same
// request and method, same run, same async interface. Also reports the release
// module's size (the shipped one, with WebSocket; bench/size.ts measures the 16 KiB target).
import { statSync } from "node:fs";
import { Device } from "../host/device.ts";
import { wasmPath } from "../host/engine.ts";

const REQUEST = '{"jsonrpc":"2.0","id":1,"method":"echo","params":[1,"x"]}';
const EXPECTED = '{"jsonrpc":"2.0","result":[1,"x"],"id":1}';
const COUNT = 100_000;
const ROUNDS = 5;

// The named peer: what a Node device would do without the module.
const jsMethods: Record<string, (params: unknown) => unknown> = { echo: (p) => p ?? null };
async function jsHandleRpc(json: string): Promise<string | null> {
  let req: any;
  try {
    req = JSON.parse(json);
  } catch {
    return '{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}';
  }
  const id = req?.id;
  if (req?.jsonrpc !== "2.0" || typeof req.method !== "string" || (req.params !== undefined && typeof req.params !== "object")) {
    return JSON.stringify({ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request" }, id: id ?? null });
  }
  const fn = Object.hasOwn(jsMethods, req.method) ? jsMethods[req.method] : undefined;
  if (!("id" in req)) {
    fn?.(req.params);
    return null;
  }
  if (!fn) return JSON.stringify({ jsonrpc: "2.0", error: { code: -32601, message: "Method not found" }, id });
  return JSON.stringify({ jsonrpc: "2.0", result: await fn(req.params), id });
}

const device = new Device({ id: "bench" });

async function best(handle: (json: string) => Promise<string | null>): Promise<number> {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    let last: string | null = null;
    for (let i = 0; i < COUNT; i++) last = await handle(REQUEST);
    const ns = Number(process.hrtime.bigint() - t0);
    if (last !== EXPECTED) throw new Error(`unexpected response ${last}`);
    min = Math.min(min, ns);
  }
  return min / COUNT; // ns per request
}

const ours = (json: string) => device.handleRpc(json);
for (let i = 0; i < 2; i++) await best(ours), await best(jsHandleRpc); // warm up both
const oursNs = await best(ours);
const jsNs = await best(jsHandleRpc);
const wasmBytes = statSync(wasmPath("release")).size;

const r2 = (x: number) => Math.round(x * 100) / 100;
console.log(`request: ${REQUEST}`);
console.log(`handleRpc (module): ${oursNs.toFixed(0)} ns/req, ${Math.round(1e9 / oursNs)} req/s`);
console.log(`plain JS (JSON.parse/dispatch/JSON.stringify): ${jsNs.toFixed(0)} ns/req, ${Math.round(1e9 / jsNs)} req/s`);
console.log(`ratio (JS time / module time): ${r2(jsNs / oursNs)}x`);
console.log(
  `release wasm: ${wasmPath("release")} ${wasmBytes} bytes, WebSocket included (the <= 16384 target counts MQTT + JSON-RPC + device: npm run bench:size)`,
);
console.log(
  JSON.stringify({
    module_ns_per_req: Math.round(oursNs),
    js_ns_per_req: Math.round(jsNs),
    module_req_per_s: Math.round(1e9 / oursNs),
    js_req_per_s: Math.round(1e9 / jsNs),
    ratio: r2(jsNs / oursNs),
    wasm_bytes: wasmBytes,
  }),
);
