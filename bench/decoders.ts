// Many live Decoders (issue 12): create N outpost/codec Decoders and N mqtt-packet
// parsers in the same run, feed each one small PUBLISH, and compare the time to
// create them and the heap + external memory they hold while alive. A second round
// leaves half a packet buffered in each (the state a slow connection keeps).
// Run with --expose-gc (npm run bench:decoders does); DECODERS=n changes the count.
import mqttPacket from "mqtt-packet";
import { Decoder, encode } from "../host/codec/index.ts";

const COUNT = Number(process.env.DECODERS ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc (npm run bench:decoders)");

const packet = Buffer.from(
  encode({ cmd: "publish", topic: "devices/dev0001/rx", payload: Buffer.from('{"id":1,"result":true}'), qos: 1, messageId: 1, retain: false, dup: false }),
);
const half = packet.subarray(0, packet.length >> 1);

interface Side {
  create(): unknown;
  /** Feeds bytes; returns the packets completed. */
  feed(d: unknown, bytes: Buffer): number;
}

const ours: Side = {
  create: () => new Decoder({ protocolVersion: 4 }),
  feed: (d, bytes) => (d as Decoder).push(bytes).length,
};

const theirs: Side = {
  create: () => {
    const parser = mqttPacket.parser({ protocolVersion: 4 }) as ReturnType<typeof mqttPacket.parser> & { n: number };
    parser.n = 0;
    parser.on("packet", () => parser.n++);
    parser.on("error", (err) => {
      throw err;
    });
    return parser;
  },
  feed: (d, bytes) => {
    const p = d as { n: number; parse(b: Buffer): void };
    const before = p.n;
    p.parse(bytes);
    return p.n - before;
  },
};

function held(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

interface Round {
  createMs: number;
  feedMs: number;
  bytesEach: number;
}

/** Creates COUNT decoders, feeds each `bytes`, and measures while all of them are alive. */
function round(side: Side, bytes: Buffer, expectPackets: number): Round {
  const before = held();
  const live: unknown[] = new Array(COUNT);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < COUNT; i++) live[i] = side.create();
  const t1 = process.hrtime.bigint();
  let n = 0;
  for (let i = 0; i < COUNT; i++) n += side.feed(live[i], bytes);
  const t2 = process.hrtime.bigint();
  if (n !== expectPackets * COUNT) throw new Error(`expected ${expectPackets * COUNT} packets, got ${n}`);
  const after = held();
  if (live.length !== COUNT) throw new Error("unreachable"); // keeps `live` alive past the measurement
  return { createMs: Number(t1 - t0) / 1e6, feedMs: Number(t2 - t1) / 1e6, bytesEach: (after - before) / COUNT };
}

// Warm both sides (and create the codec's shared module instance) before measuring.
for (const side of [ours, theirs]) {
  const d = side.create();
  for (let i = 0; i < 2000; i++) side.feed(side.create(), packet), side.feed(d, packet);
}

const whole = { ours: round(ours, packet, 1), theirs: round(theirs, packet, 1) };
const partial = { ours: round(ours, half, 0), theirs: round(theirs, half, 0) };

const fmt = (x: number, d = 1) => x.toFixed(d);
console.log(`${COUNT} live decoders, one ${packet.length}-byte PUBLISH each (then half of it each, left buffered)`);
console.log("                       create ms   feed ms   bytes/decoder (heap+external)");
for (const [name, r] of [
  ["ours, whole packet", whole.ours],
  ["mqtt-packet, whole", whole.theirs],
  ["ours, half buffered", partial.ours],
  ["mqtt-packet, half", partial.theirs],
] as [string, Round][]) {
  console.log(`${name.padEnd(23)}${fmt(r.createMs).padStart(9)}${fmt(r.feedMs).padStart(10)}${fmt(r.bytesEach, 0).padStart(12)}`);
}
const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
const figures = {
  decoders: COUNT,
  packet_bytes: packet.length,
  create_ms: Number(whole.ours.createMs.toFixed(1)),
  create_ms_mqtt_packet: Number(whole.theirs.createMs.toFixed(1)),
  create_ratio: ratio(whole.ours.createMs, whole.theirs.createMs),
  feed_ratio: ratio(whole.ours.feedMs, whole.theirs.feedMs),
  bytes_each: Math.round(whole.ours.bytesEach),
  bytes_each_mqtt_packet: Math.round(whole.theirs.bytesEach),
  memory_ratio: ratio(whole.ours.bytesEach, whole.theirs.bytesEach),
  bytes_each_half_buffered: Math.round(partial.ours.bytesEach),
  bytes_each_half_buffered_mqtt_packet: Math.round(partial.theirs.bytesEach),
  memory_ratio_half_buffered: ratio(partial.ours.bytesEach, partial.theirs.bytesEach),
};
console.log("ratios are ours / mqtt-packet (lower is better)");
console.log(JSON.stringify(figures));
