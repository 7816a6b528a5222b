// boards/common/outpost_stack.h is generated (boards/common/gen-stack.mjs) from build/device.wasm;
// npm run build rewrites it. These tests regenerate it in memory: the committed file must be
// exactly that. outpost_abi.h (tools/gen-abi.mjs) must name errors as host/abi.ts does.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ERR_NAMES } from "../host/abi.ts";
// @ts-expect-error: a plain ES module without types
import { generateStackHeader, headerPath, stackNeed } from "../boards/common/gen-stack.mjs";
import { assemble, op } from "./support/wasm-bytes.ts";

const framesTool = fileURLToPath(new URL("../boards/posix/build/wasm3-frames", import.meta.url));
const committed = () => readFileSync(headerPath, "utf8");

it("the committed outpost_stack.h is what the generator makes from today's module (else: npm run build)", () => {
  expect(committed()).toBe(generateStackHeader(framesTool));
});

it("names every error host/abi.ts names, with the same code", () => {
  const abiHeader = readFileSync(fileURLToPath(new URL("../boards/common/outpost_abi.h", import.meta.url)), "utf8");
  const cases = Object.fromEntries([...abiHeader.matchAll(/case (\d+): return "(\w+)";/g)].map((m) => [Number(m[1]), m[2]]));
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

describe("the stack need of a call graph (gen-stack.mjs stackNeed)", () => {
  const type = [{ params: [], results: [] }];
  const calls = (...targets: number[]) => targets.flatMap((t) => [op.call, t]);
  const frames = (...slots: number[]) => new Map(slots.map((s, i) => [i, s]));

  it("adds up the frames of the heaviest chain from an export, not the longest", () => {
    // entry -> a -> b and entry -> c: the heavier of 5 + 7 + 3 and 5 + c's frame wins.
    const wasm = assemble({
      types: type,
      functions: [
        { type: 0, export: "entry", body: calls(1, 3) },
        { type: 0, body: calls(2) },
        { type: 0, body: [] },
        { type: 0, body: [] },
      ],
    });
    expect(stackNeed(wasm, wasm, frames(5, 7, 3, 20))).toMatchObject({ slots: 25, depth: 2, entry: "entry" });
    expect(stackNeed(wasm, wasm, frames(5, 7, 3, 9))).toMatchObject({ slots: 15, depth: 3, entry: "entry" });
  });

  it("counts an import as nothing: its arguments lie in the caller's frame", () => {
    const wasm = assemble({ types: type, imports: [{ module: "outpost", name: "log", type: 0 }], functions: [{ type: 0, export: "e", body: calls(0) }] });
    expect(stackNeed(wasm, wasm, new Map([[1, 4]]))).toMatchObject({ slots: 4, depth: 1 });
  });

  it("counts the stream splitter's one self-call twice, and refuses any other recursion", () => {
    const selfCalling = (name?: string) =>
      assemble({
        types: type,
        functions: [
          { type: 0, export: "e", body: calls(1) },
          { type: 0, name, body: calls(1) },
        ],
      });
    expect(stackNeed(selfCalling(), selfCalling("assembly/mqtt/stream/Framer#next"), frames(2, 10))).toMatchObject({ slots: 22, depth: 3 });
    expect(() => stackNeed(selfCalling(), selfCalling("assembly/json/writer/wValue"), frames(2, 10))).toThrow(
      "assembly/json/writer/wValue calls itself: unbounded stack",
    );
    const mutual = assemble({
      types: type,
      functions: [
        { type: 0, export: "e", body: calls(1) },
        { type: 0, body: calls(0) },
      ],
    });
    expect(() => stackNeed(mutual, mutual, frames(2, 10))).toThrow(/recursion through .* unbounded stack/);
  });
});
