// Codec benchmark: outpost/codec vs mqtt-packet, same packets, same run.
// Decode: a stream of QoS 1 PUBLISH packets (18-byte topic, ~45-byte JSON payload)
// fed in 16 KiB chunks, into JS objects. Encode: the same packet objects to bytes.
import { statSync } from "node:fs";
import mqttPacket from "mqtt-packet";
import { Decoder, encode, type Packet } from "../host/codec/index.ts";
import { wasmPath } from "../host/engine.ts";
import { CONTENT_SETS, contentSetSize } from "./size.ts";

const COUNT = 20_000;
const ROUNDS = 9;
const CHUNK = 16 * 1024;

const packets: Packet[] = [];
for (let i = 0; i < COUNT; i++) {
  const id = String(i % 10000).padStart(4, "0");
  packets.push({
    cmd: "publish",
    topic: `devices/dev${id}/rx`,
    payload: Buffer.from(`{"jsonrpc":"2.0","id":${i},"result":{"ok":true}}`),
    qos: 1,
    messageId: (i % 65535) + 1,
    retain: false,
    dup: false,
  });
}
const stream = Buffer.concat(packets.map((p) => mqttPacket.generate(p as mqttPacket.Packet)));
const chunks: Buffer[] = [];
for (let off = 0; off < stream.length; off += CHUNK) chunks.push(stream.subarray(off, off + CHUNK));

/** ns per packet of each function: the best of ROUNDS, rounds interleaved so machine noise hits all alike. */
function measure(fns: (() => number)[]): number[] {
  const best = fns.map(() => Infinity);
  for (let r = 0; r < ROUNDS; r++) {
    fns.forEach((fn, i) => {
      const t0 = process.hrtime.bigint();
      const n = fn();
      const ns = Number(process.hrtime.bigint() - t0);
      if (n !== COUNT) throw new Error(`expected ${COUNT} packets, got ${n}`);
      best[i] = Math.min(best[i], ns / COUNT);
    });
  }
  return best;
}

function decodeOurs(): number {
  const dec = new Decoder({ protocolVersion: 4 });
  let n = 0;
  for (const c of chunks) n += dec.push(c).length;
  return n;
}
function decodeTheirs(): number {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let n = 0;
  parser.on("packet", () => n++);
  for (const c of chunks) parser.parse(c);
  return n;
}
function encodeOurs(): number {
  let bytes = 0;
  for (const p of packets) bytes += encode(p, { protocolVersion: 4 }).length;
  return bytes > 0 ? COUNT : 0;
}
function encodeTheirs(): number {
  let bytes = 0;
  for (const p of packets) bytes += mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 4 }).length;
  return bytes > 0 ? COUNT : 0;
}

// Warm both sides up before measuring.
for (let i = 0; i < 3; i++) decodeOurs(), decodeTheirs(), encodeOurs(), encodeTheirs();

const [decOurs, decTheirs, encOurs, encTheirs] = measure([decodeOurs, decodeTheirs, encodeOurs, encodeTheirs]);
const wasmBytes = statSync(wasmPath("release")).size;

// The codec and codec + client content sets as bench/size.ts builds them (release options, no WebSocket).
const [codecSet, clientSet] = CONTENT_SETS;
const codecOnly = contentSetSize(codecSet);
const codecClient = contentSetSize(clientSet);

const r2 = (x: number) => Math.round(x * 100) / 100;
console.log(`packets: ${COUNT} PUBLISH QoS 1, ${stream.length} bytes, ${(stream.length / COUNT).toFixed(1)} bytes each`);
console.log(`decode: outpost ${decOurs.toFixed(0)} ns/pkt, mqtt-packet ${decTheirs.toFixed(0)} ns/pkt -> ${r2(decTheirs / decOurs)}x`);
console.log(`encode: outpost ${encOurs.toFixed(0)} ns/pkt, mqtt-packet ${encTheirs.toFixed(0)} ns/pkt -> ${r2(encTheirs / encOurs)}x`);
console.log(`release wasm: ${wasmPath("release")} ${wasmBytes} bytes (everything: client-side codec, client, JSON-RPC, device, WebSocket)`);
console.log(
  `  whole codec (build/codec.wasm): ${codecOnly} bytes; codec + MQTT client: ${codecClient} bytes (target ${clientSet.target}); all sets: npm run bench:size`,
);
console.log(
  JSON.stringify({
    decode_ratio: r2(decTheirs / decOurs),
    encode_ratio: r2(encTheirs / encOurs),
    wasm_bytes: wasmBytes,
    codec_bytes: codecOnly,
    codec_client_bytes: codecClient,
  }),
);
