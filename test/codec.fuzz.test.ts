// Malformed input never crashes the module: random and mutated streams either
// decode or throw a named MqttCodecError, and whatever decodes re-encodes to a
// packet that decodes to the same object.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TARGETS, codecFor, hex } from "./codec.support.ts";
import { Decoder, MqttCodecError, type Packet } from "../host/codec/index.ts";

// Valid packets of every type to mutate (3.1.1 and 5).
const SEEDS: [4 | 5, string][] = [
  [4, "10 1a 0004 4d515454 04 ee 000a 0002 6964 0001 77 0001 78 0001 75 0001 70"],
  [4, "3b 09 0003 612f62 000a 6869"],
  [4, "82 0e 000a 0003 612f62 01 0003 632f23 02"],
  [4, "90 05 000a 01 02 80"],
  [4, "a2 07 000b 0003 612f2b"],
  [
    5,
    "10 3b 0004 4d515454 05 2e 001e 17 11 00000078 21 000a 27 00000400 22 0005 26 0001 6b 0001 76 0001 63 0b 18 0000000a 01 01 03 0001 74 0003 642f73 0003 6f6666",
  ],
  [
    5,
    "20 3a 00 00 37 22 000a 12 0002 6964 24 01 25 00 28 01 29 01 2a 00 13 003c 27 00010000 1f 0002 6f6b 1a 0001 72 1c 0001 73 15 0001 6d 16 0001 01 21 0014 11 0000000a",
  ],
  [5, "32 30 0003 612f62 0001 26 01 01 02 0000003c 23 0001 08 0003 722f78 09 0002 abcd 26 0001 61 0001 62 0b 8101 03 0004 6a736f6e 7b7d"],
  [5, "40 08 0001 80 04 1f 0001 65"],
  [5, "82 0f 0001 02 0b05 0003 612f2b 2e 0001 23 00"],
  [5, "b0 05 0002 00 00 11"],
  [5, "e0 06 9c 04 1c 0001 73"],
  [5, "f0 0f 18 0d 15 0005 534352414d 16 0002 0102"],
];

function strip(p: Packet): Packet {
  const { length: _length, ...rest } = p;
  return rest as Packet;
}

for (const { build, engine } of TARGETS) {
  describe(`codec fuzz (${build} build, ${engine})`, () => {
    const codec = codecFor(build, engine);

    const check = (v: 4 | 5, bytes: Uint8Array, chunk: number) => {
      const dec = new Decoder({ build, engine, protocolVersion: v, maxPacketSize: 1024, inputSize: 32 });
      const got: Packet[] = [];
      try {
        for (let off = 0; off < bytes.length; off += chunk) got.push(...dec.push(bytes.subarray(off, off + chunk)));
      } catch (err) {
        if (!(err instanceof MqttCodecError)) throw err;
        got.push(...err.packets);
      }
      for (const p of got) {
        const version = p.cmd === "connect" ? (p.protocolVersion as 4 | 5) : v;
        const again = codec.decodeAll(codec.encode(p, version), version);
        expect(again.map(strip)).toEqual([strip(p)]);
      }
    };

    it("random bytes", () => {
      fc.assert(
        fc.property(fc.constantFrom(4 as const, 5 as const), fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (v, bytes, chunk) =>
          check(v, bytes, chunk),
        ),
        { numRuns: 400 },
      );
    });

    it("mutated valid packets", () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...SEEDS),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 1, max: 50 }),
          ([v, seed], edits, chunk) => {
            const bytes = Buffer.concat([hex(seed), hex(seed)]);
            for (const [at, value] of edits) bytes[at % bytes.length] = value;
            check(v, bytes, chunk);
          },
        ),
        { numRuns: 1500 },
      );
    });
  });
}
