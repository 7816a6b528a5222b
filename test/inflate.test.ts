// boards/common/outpost_inflate.c (the C boards' raw deflate decoder for compressed OTA chunks) against node:zlib:
// byte-exact on what zlib makes (every level, strategy and window, with and without a preset dictionary), and a
// named refusal, never a crash or an out-of-bounds access, for malformed streams (built with ASan and UBSan).
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { beforeAll, expect, it } from "vitest";

const NAMES = ["truncated", "bad_block_type", "bad_stored_length", "bad_code_lengths", "bad_symbol", "distance_too_far", "output_full", "trailing_data"];
let tool: string;

beforeAll(() => {
  tool = join(mkdtempSync(join(tmpdir(), "outpost-inflate-")), "inflate-check");
  execFileSync("cc", [
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-O1",
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-Iboards/common",
    "-o",
    tool,
    "boards/common/outpost_inflate.c",
    "test/support/inflate-check.c",
  ]);
});

/** Runs the C inflater: "ok <hex>" or "error <name>". */
function inflate(stream: Uint8Array, dictionary: Uint8Array = new Uint8Array(), cap = 1 << 16): string {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(dictionary.length, 0);
  head.writeUInt32LE(cap, 4);
  return execFileSync(tool, { input: Buffer.concat([head, dictionary, stream]) })
    .toString()
    .trim();
}

/** Packs [value, bit count] fields least significant bit first, as deflate does (section 3.1.1). */
function bits(...fields: (readonly [number, number])[]): Buffer {
  const out: number[] = [];
  let n = 0;
  for (const [value, count] of fields)
    for (let i = 0; i < count; i++, n++) {
      if (n % 8 === 0) out.push(0);
      out[out.length - 1] |= ((value >> i) & 1) << (n % 8);
    }
  return Buffer.from(out);
}

// Data that compresses: runs and repeats of a small alphabet, with random bytes among them.
const data = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 300 })).map(([b, n]) => new Uint8Array(n).fill(b)),
    ),
    { maxLength: 30 },
  )
  .map((parts) => Buffer.concat(parts));

it("inflates what zlib deflates, byte for byte, with and without a dictionary", () => {
  fc.assert(
    fc.property(
      data,
      data,
      fc.integer({ min: 0, max: 9 }),
      fc.constantFrom(constants.Z_DEFAULT_STRATEGY, constants.Z_FILTERED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED),
      fc.integer({ min: 9, max: 15 }),
      (input, dictionary, level, strategy, windowBits) => {
        const stream = deflateRawSync(input, { level, strategy, windowBits, ...(dictionary.length ? { dictionary } : {}) });
        expect(inflate(stream, dictionary)).toBe(`ok ${input.toString("hex")}`.trim());
      },
    ),
    { numRuns: 150 },
  );
});

it("inflates the device module in chunks, as an update sends it", () => {
  const module = Buffer.from(execFileSync("cat", ["build/device.wasm"]));
  for (let offset = 0; offset < module.length; offset += 1500) {
    const dictionary = module.subarray(Math.max(0, offset - 32_768), offset);
    const part = module.subarray(offset, offset + 1500);
    expect(inflate(deflateRawSync(part, { level: 9, ...(offset ? { dictionary } : {}) }), dictionary)).toBe(`ok ${part.toString("hex")}`);
  }
});

it("refuses malformed streams by name", () => {
  const text = Buffer.from("outpost outpost outpost outpost outpost");
  const good = deflateRawSync(text);
  expect(inflate(good)).toBe(`ok ${text.toString("hex")}`);
  expect(inflate(good.subarray(0, good.length - 2))).toBe("error truncated");
  expect(inflate(Buffer.from([0x07]))).toBe("error bad_block_type");
  expect(inflate(Buffer.from([0x01, 0x05, 0x00, 0x00, 0x00]))).toBe("error bad_stored_length"); // NLEN not ~LEN
  expect(inflate(Buffer.concat([good, Buffer.from([0])]))).toBe("error trailing_data");
  expect(inflate(good, new Uint8Array(), 10)).toBe("error output_full");
  // A match into a dictionary the decoder was not given.
  expect(inflate(deflateRawSync(text, { dictionary: text }))).toBe("error distance_too_far");
  // A fixed Huffman block whose first code is literal/length symbol 286 (11000110): defined by the code, not a symbol.
  expect(inflate(bits([1, 1], [1, 1], [0, 1], ...[1, 1, 0, 0, 0, 1, 1, 0].map((b) => [b, 1] as const), [0, 8]))).toBe("error bad_symbol");
  // A dynamic block whose 19 code-length codes are all 1 bit long: over-subscribed.
  expect(inflate(bits([1, 1], [2, 2], [0, 5], [0, 5], [15, 4], ...Array.from({ length: 19 }, () => [1, 3] as const), [0, 8]))).toBe("error bad_code_lengths");
  // A dynamic block that repeats the previous length (16) before any.
  expect(inflate(bits([1, 1], [2, 2], [0, 5], [0, 5], [0, 4], [1, 3], [0, 3], [0, 3], [0, 3], [0, 1], [0, 8]))).toBe("error bad_code_lengths");
});

it("never crashes or reads out of bounds on mutated streams: an answer or a named refusal", () => {
  fc.assert(
    fc.property(data, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(64), (input, flips, cut) => {
      const stream = Buffer.from(deflateRawSync(input));
      for (const [at, x] of flips) stream[at % stream.length] ^= x;
      const out = inflate(stream.subarray(0, Math.max(1, stream.length - (cut % 3))), new Uint8Array(), 4096);
      expect(out).toMatch(new RegExp(`^(ok( [0-9a-f]+)?|error (${NAMES.join("|")}))$`));
    }),
    { numRuns: 150 },
  );
});
