// The module's stream splitter through the raw codec exports: packets that lie
// whole in the input are decoded in place, only packets spanning pushes are copied.
import type { CodecExports } from "../host/abi-table.ts";
import { describe, expect, it } from "vitest";
import { TARGETS, hex } from "./codec.support.ts";
import { codecBuild, instantiate, type Build, type EngineName } from "../host/engine.ts";
import { errCode } from "../host/abi.ts";

function rawCodec(build: Build, engine: EngineName, inputCap: number, maxPacket: number) {
  const { exports: ex, memory } = instantiate<CodecExports>({ build: codecBuild(build), engine });
  const info = Array.from(new Uint32Array(memory.buffer, ex.codec_init(inputCap, maxPacket, 64) >>> 0, 6));
  const [view, input] = info;
  const u32 = () => new Uint32Array(memory.buffer, view, 32);
  const feed = (bytes: Uint8Array) => {
    new Uint8Array(memory.buffer).set(bytes, input);
    ex.codec_push(bytes.length);
  };
  const inInput = (ptr: number) => ptr >= input && ptr < input + inputCap;
  return { ex, view, input, u32, feed, inInput };
}

for (const { build, engine } of TARGETS) {
  describe(`stream splitter (${build} build, ${engine})`, () => {
    it("decodes whole packets in place, several per push", () => {
      const c = rawCodec(build, engine, 64, 64);
      expect(c.ex.codec_next(4)).toBe(0);
      c.feed(hex("30 05 0001 61 7878 30 05 0001 62 7979"));
      for (const topic of ["a", "b"]) {
        expect(c.ex.codec_next(4)).toBe(1);
        const v = c.u32();
        expect(c.inInput(v[11])).toBe(true); // topic points into the input buffer
        expect(c.inInput(v[13])).toBe(true);
        expect(String.fromCharCode(new Uint8Array(c.ex.memory.buffer)[v[11]])).toBe(topic);
      }
      expect(c.ex.codec_next(4)).toBe(0);
    });

    it("copies only a packet that spans pushes into the assembly buffer", () => {
      const c = rawCodec(build, engine, 64, 64);
      expect(c.ex.codec_next(4)).toBe(0);
      c.feed(hex("30 05 0001"));
      expect(c.ex.codec_next(4)).toBe(0);
      c.feed(hex("61 7878 c0 00"));
      expect(c.ex.codec_next(4)).toBe(1);
      expect(c.inInput(c.u32()[11])).toBe(false);
      expect(c.ex.codec_next(4)).toBe(1); // the PINGREQ after it: in place again
      expect(c.u32()[0]).toBe(12);
      expect(c.ex.codec_next(4)).toBe(0);
    });

    it("reassembles a header split after its first byte and inside the remaining length", () => {
      const c = rawCodec(build, engine, 4, 300);
      const packet = hex("30 cb01 0001 74" + "7a".repeat(200));
      let n = 0;
      for (let off = 0; off < packet.length; off += 4) {
        c.feed(packet.subarray(off, off + 4));
        while (c.ex.codec_next(4) === 1) n++;
      }
      expect(n).toBe(1);
      expect(c.u32()[14]).toBe(200);
    });

    it("refuses an oversized packet from its header alone, and setMaxPacket never raises the limit past the buffer", () => {
      const c = rawCodec(build, engine, 64, 64);
      c.ex.codec_set_max_packet(10);
      c.feed(hex("30 09")); // 11 bytes in all
      expect(c.ex.codec_next(4)).toBe(-errCode("PacketTooLarge"));
      c.ex.codec_reset();
      c.ex.codec_set_max_packet(1 << 20); // clamped to the 64 bytes allocated
      c.feed(hex("30 40"));
      expect(c.ex.codec_next(4)).toBe(-errCode("PacketTooLarge"));
      c.ex.codec_reset();
      c.feed(hex("30 3e 0001 74" + "00".repeat(59)));
      expect(c.ex.codec_next(4)).toBe(1); // exactly 64
    });

    it("a decode error becomes the stream's error until reset", () => {
      const c = rawCodec(build, engine, 64, 64);
      c.feed(hex("40 02 0000 c0 00"));
      expect(c.ex.codec_next(4)).toBe(-errCode("ZeroPacketId"));
      expect(c.ex.codec_next(4)).toBe(-errCode("ZeroPacketId"));
      c.ex.codec_reset();
      c.feed(hex("c0 00"));
      expect(c.ex.codec_next(4)).toBe(1);
    });
  });
}
