// Many streams on shared module instances (issue 12): Decoders share instances, so each
// one's state (its unfinished packet, protocol version, limit, error) must stay its own
// however pushes from different streams interleave.
import { isDeepStrictEqual } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Decoder, MqttCodecError, encode, type Packet } from "../host/codec/index.ts";
import type { CodecExports } from "../host/abi-table.ts";
import { codecBuild, instantiate } from "../host/engine.ts";
import { TARGETS, hex } from "./codec.support.ts";

type Opts = ConstructorParameters<typeof Decoder>[0] & {};

/** Every packet a stream yields, and the error that ended it (null when none). */
interface Outcome {
  packets: Packet[];
  error: string | null;
}

/** What the stream gives alone: a fresh Decoder, all its bytes in one push. */
function alone(opts: Opts, bytes: Uint8Array): Outcome {
  try {
    return { packets: new Decoder(opts).push(bytes), error: null };
  } catch (err) {
    if (!(err instanceof MqttCodecError)) throw err;
    return { packets: err.packets, error: err.code };
  }
}

const publish = (version: 4 | 5) =>
  fc
    .record({
      topic: fc.stringMatching(/^[a-z0-9/]{1,12}$/),
      payload: fc.uint8Array({ maxLength: 150 }),
      qos: fc.constantFrom(0, 1, 2),
      messageId: fc.integer({ min: 1, max: 0xffff }),
      retain: fc.boolean(),
    })
    .map((p) => Buffer.from(encode({ cmd: "publish", dup: false, ...p, payload: Buffer.from(p.payload) }, { protocolVersion: version })));
const control = (version: 4 | 5) =>
  fc.constantFrom(
    Buffer.from(encode({ cmd: "pingreq" })),
    Buffer.from(encode({ cmd: "puback", messageId: 7 }, { protocolVersion: version })),
    Buffer.from(encode({ cmd: "subscribe", messageId: 3, subscriptions: [{ topic: "a/+", qos: 1 }] }, { protocolVersion: version })),
  );
/** A CONNECT that switches the stream to MQTT 5: later packets then decode as 5 on that stream only. */
const connect5 = Buffer.from(encode({ cmd: "connect", protocolVersion: 5, clientId: "c", keepalive: 10, properties: { sessionExpiryInterval: 60 } }));
/** Hostile bytes: a header past any limit, a malformed remaining length, a bad packet, noise. */
const hostile = fc.oneof(
  fc.constant(hex("30 ff ff ff 7f")),
  fc.constant(hex("30 80 80 80 80")),
  fc.constant(hex("40 02 00 00")),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a)),
);

const streamArb = fc
  .record({
    version: fc.constantFrom<4 | 5>(4, 5),
    maxPacketSize: fc.constantFrom(undefined, 64, 120, 4096),
    inputSize: fc.constantFrom(undefined, 1, 7, 64),
    switchTo5: fc.boolean(),
    hostileAt: fc.option(fc.nat(), { nil: undefined }),
    dropTail: fc.constantFrom(0, 0, 1, 3, 40),
    cuts: fc.array(fc.integer({ min: 0, max: 90 }), { minLength: 1, maxLength: 12 }).filter((c) => c.some((n) => n > 0)),
  })
  .chain((s) =>
    fc
      .tuple(fc.array(fc.oneof(publish(s.switchTo5 ? 5 : s.version), control(s.switchTo5 ? 5 : s.version)), { maxLength: 6 }), hostile)
      .map(([packets, bad]) => {
        const parts: Uint8Array[] = s.switchTo5 ? [connect5, ...packets] : packets;
        if (s.hostileAt !== undefined) parts.splice(s.hostileAt % (parts.length + 1), 0, bad);
        // A stream may end inside a packet: its bytes stay held, nothing comes out.
        const bytes = Buffer.concat(parts);
        return { ...s, bytes: bytes.subarray(0, Math.max(0, bytes.length - s.dropTail)) };
      }),
  );

for (const { build, engine } of TARGETS) {
  describe(`Decoders sharing module instances (${build} build, ${engine})`, () => {
    it("streams interleaved in random chunks each give exactly what they give alone, hostile ones included", () => {
      fc.assert(
        fc.property(fc.array(streamArb, { minLength: 2, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 60 }), (streams, schedule) => {
          const opts = streams.map((s): Opts => ({ build, engine, protocolVersion: s.version, maxPacketSize: s.maxPacketSize, inputSize: s.inputSize }));
          const decoders = opts.map((o) => new Decoder(o));
          const got: Outcome[] = streams.map(() => ({ packets: [], error: null }));
          const offsets = streams.map(() => 0);
          const pushes = streams.map(() => 0);
          /** One chunk of stream i; false once it has nothing left. */
          const step = (i: number): boolean => {
            const s = streams[i];
            if (offsets[i] >= s.bytes.length && pushes[i] > 0) return false;
            const n = s.cuts[pushes[i]++ % s.cuts.length];
            const chunk = s.bytes.subarray(offsets[i], offsets[i] + n);
            offsets[i] += n;
            try {
              got[i].packets.push(...decoders[i].push(chunk));
            } catch (err) {
              if (!(err instanceof MqttCodecError)) throw err;
              if (got[i].error === null) got[i].packets.push(...err.packets);
              else expect(err.code).toBe(got[i].error); // sticky: the same error, nothing else
              got[i].error = err.code;
            }
            return true;
          };
          for (const k of schedule) step(k % streams.length);
          // Then round-robin until every stream has pushed all its bytes.
          for (let more = true; more; ) {
            more = false;
            for (let i = 0; i < streams.length; i++) more = step(i) || more;
          }
          streams.forEach((s, i) => {
            const want = alone(opts[i], s.bytes);
            // isDeepStrictEqual compares Buffers natively; toEqual only to describe a mismatch.
            if (!isDeepStrictEqual(got[i], want)) expect(got[i], `stream ${i}`).toEqual(want);
          });
        }),
        { numRuns: 25 },
      );
    });

    it("an oversize or malformed stream errors alone while the others keep their partial packets", () => {
      const a = new Decoder({ build, engine, maxPacketSize: 64 });
      const b = new Decoder({ build, engine, maxPacketSize: 64 });
      const c = new Decoder({ build, engine, protocolVersion: 5 });
      const d = new Decoder({ build, engine });
      const pub = Buffer.from(encode({ cmd: "publish", topic: "t/b", payload: Buffer.from("payload of b"), qos: 0 }));
      const pub5 = Buffer.from(
        encode({ cmd: "publish", topic: "t/c", payload: Buffer.from("c"), qos: 1, messageId: 9, properties: { contentType: "x" } }, { protocolVersion: 5 }),
      );
      expect(b.push(pub.subarray(0, 3))).toEqual([]);
      expect(c.push(pub5.subarray(0, 1))).toEqual([]);
      expect(() => a.push(hex("30 41"))).toThrow(expect.objectContaining({ code: "PacketTooLarge" }));
      expect(() => d.push(hex("c0 00 30 80 80 80 80"))).toThrow(
        expect.objectContaining({ code: "MalformedRemainingLength", packets: [expect.objectContaining({ cmd: "pingreq" })] }),
      );
      expect(b.push(pub.subarray(3))).toEqual([expect.objectContaining({ topic: "t/b", payload: Buffer.from("payload of b") })]);
      expect(c.push(pub5.subarray(1))).toEqual([expect.objectContaining({ topic: "t/c", messageId: 9, properties: { contentType: "x" } })]);
      // The failed streams stay failed; a new one on the same limit starts clean.
      expect(() => a.push(hex("c0 00"))).toThrow(expect.objectContaining({ code: "PacketTooLarge" }));
      expect(() => d.push(hex("c0 00"))).toThrow(expect.objectContaining({ code: "MalformedRemainingLength" }));
      expect(new Decoder({ build, engine, maxPacketSize: 64 }).push(hex("c0 00"))).toHaveLength(1);
    });

    it("a packet larger than the input buffer, held across pushes, comes out whole beside small streams", () => {
      const big = Buffer.from(encode({ cmd: "publish", topic: "big", payload: Buffer.alloc(200_000, 0x5a), qos: 0 }));
      const dec = new Decoder({ build, engine });
      const other = new Decoder({ build, engine, maxPacketSize: 64 });
      const got: Packet[] = [];
      for (let off = 0; off < big.length; off += 50_000) {
        got.push(...dec.push(big.subarray(off, off + 50_000)));
        expect(other.push(hex("c0 00"))).toHaveLength(1);
      }
      expect(got).toHaveLength(1);
      expect((got[0].payload as Buffer).equals(Buffer.alloc(200_000, 0x5a))).toBe(true);
    });
  });
}

describe("many live Decoders", () => {
  it("100,000 Decoders live at once, each holding half of its own packet, then each completing it", () => {
    const count = 100_000;
    // PUBLISH QoS 0, topic d/<i>, one payload byte.
    const packets = Array.from({ length: count }, (_, i) => {
      const topic = Buffer.from(`d/${i}`);
      return Buffer.concat([Buffer.from([0x30, topic.length + 3, 0, topic.length]), topic, Buffer.from([i & 0xff])]);
    });
    const decoders = packets.map(() => new Decoder({ protocolVersion: 4 }));
    let wrong = 0;
    for (let i = 0; i < count; i++) wrong += decoders[i].push(packets[i].subarray(0, 4)).length;
    for (let i = 0; i < count; i++) {
      const [p] = decoders[i].push(packets[i].subarray(4));
      if (p?.topic !== `d/${i}` || (p.payload as Buffer)[0] !== (i & 0xff)) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it("a dropped Decoder holding a partial packet is garbage: nothing in the shared module keeps it", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const refs = (() => {
      const decs = Array.from({ length: 10 }, () => new Decoder());
      for (const d of decs) d.push(hex("30 ff 01 0001 74"));
      return decs.map((d) => new WeakRef(d));
    })();
    await new Promise((r) => setTimeout(r, 0)); // WeakRef targets live until the job ends
    gc();
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
  });

  it("codec_held reports the splitter's unfinished packet: where, how many bytes, its total length", () => {
    const { exports: ex, memory } = instantiate<CodecExports>({ build: codecBuild("release") });
    const input = new Uint32Array(memory.buffer, ex.codec_init(64, 64, 64) >>> 0, 6)[1];
    const held = () => Array.from(new Uint32Array(memory.buffer, ex.codec_held() >>> 0, 3));
    const feed = (s: string) => {
      new Uint8Array(memory.buffer).set(hex(s), input);
      ex.codec_push(hex(s).length);
      return ex.codec_next(4);
    };
    expect(feed("c0 00 30")).toBe(1);
    expect(ex.codec_next(4)).toBe(0);
    const [ptr, len, need] = held();
    expect([len, need]).toEqual([1, 0]); // the header is incomplete: length unknown
    expect(feed("05 0001 61")).toBe(0);
    expect(held()).toEqual([ptr, 5, 7]);
    expect(Buffer.from(memory.buffer, ptr, 5).toString("hex")).toBe("3005000161");
    expect(feed("7878")).toBe(1);
    expect(held()).toEqual([ptr, 0, 0]);
  });
});
