// boards/common/outpost_abi.h is generated (boards/common/gen-abi.mjs) from assembly/'s own
// definitions and build/device.wasm; npm run build rewrites it. These tests regenerate it in
// memory: the committed file must be exactly that, and agree with host/abi.ts.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { ERR_NAMES } from "../host/abi.ts";
// @ts-expect-error: a plain ES module without types
import { generateAbiHeader, headerPath } from "../boards/common/gen-abi.mjs";

const framesTool = fileURLToPath(new URL("../boards/posix/build/wasm3-frames", import.meta.url));
const committed = () => readFileSync(headerPath, "utf8");

it("the committed outpost_abi.h is what the generator makes from today's sources and module (else: npm run build)", () => {
  expect(committed()).toBe(generateAbiHeader(framesTool));
});

it("names every error host/abi.ts names, with the same code", () => {
  const cases = Object.fromEntries([...committed().matchAll(/case (\d+): return "(\w+)";/g)].map((m) => [Number(m[1]), m[2]]));
  expect(cases[0]).toBe("None");
  delete cases[0];
  expect(cases).toEqual(ERR_NAMES);
});

it("sizes the wasm3 stack from a call chain of several frames, within what wasm3 lets one frame be", () => {
  const depth = Number(committed().match(/#define OUTPOST_MODULE_CALL_DEPTH (\d+)/)![1]);
  const slots = Number(committed().match(/#define OUTPOST_MODULE_STACK_SLOTS (\d+)/)![1]);
  expect(depth).toBeGreaterThan(1);
  // A frame is at least its arguments and at most d_m3MaxFunctionSlots (128 with wasm3_config.h's 64-slot height).
  expect(slots).toBeGreaterThan(depth);
  expect(slots).toBeLessThanOrEqual(depth * 128);
});
