// The wasm3 binding (host/native) against V8: the same hand-assembled modules give the
// same results under both, and broken modules fail with clear errors, not a crash.
import { describe, expect, it } from "vitest";
import { instantiate, wasmBytes } from "../host/engine.ts";
import { ABI_VERSION, AbiMismatch, checkAbiVersion } from "../host/abi.ts";
import { instantiateWasm3, wasm3Version } from "../host/native/index.ts";
import { ENGINES, instantiateBytes } from "./support/engines.ts";
import { assemble, F64, I32, I64, op } from "./support/wasm-bytes.ts";

const get = (i: number) => [op.localGet, i];

// One module with every value type, an import, memory growth, bulk memory, sign
// extension, and traps (one inside an internal function named by the name section).
const kitchenSink = assemble({
  types: [
    { params: [I32, I32], results: [I32] }, // 0
    { params: [I64, I64], results: [I64] }, // 1
    { params: [F64, F64], results: [F64] }, // 2
    { params: [I32], results: [I32] }, // 3
    { params: [], results: [] }, // 4
    { params: [I32, I32, I32], results: [] }, // 5
    { params: [], results: [I32] }, // 6
  ],
  imports: [{ module: "host", name: "twice", type: 3 }],
  memory: { min: 1, max: 4, export: "memory" },
  functions: [
    { type: 0, export: "add", body: [...get(0), ...get(1), op.i32Add] },
    { type: 1, export: "add64", body: [...get(0), ...get(1), op.i64Add] },
    { type: 2, export: "mul", body: [...get(0), ...get(1), op.f64Mul] },
    { type: 3, export: "callTwice", body: [...get(0), op.call, 0, op.i32Const, 1, op.i32Add] },
    { type: 3, export: "grow", body: [...get(0), ...op.memoryGrow] },
    { type: 5, export: "fill", body: [...get(0), ...get(1), ...get(2), ...op.memoryFill] },
    { type: 5, export: "copy", body: [...get(0), ...get(1), ...get(2), ...op.memoryCopy] },
    { type: 3, export: "ext8", body: [...get(0), op.i32Extend8S] },
    { type: 4, name: "inner", body: [op.unreachable] }, // function #9
    { type: 4, export: "boom", body: [op.call, 9] },
    { type: 0, export: "divide", body: [...get(0), ...get(1), op.i32DivS] },
    { type: 3, export: "load", body: [...get(0), ...op.i32Load] },
    { type: 6, export: "size", body: [...op.memorySize] },
  ],
});

const hostImports = (twice = (x: number) => 2 * x) => ({ host: { twice } });

describe.each(ENGINES)("hand-assembled module under %s", (engine) => {
  const load = (imports: WebAssembly.Imports = hostImports(), opts = {}) => instantiateBytes(engine, kitchenSink, imports, opts);

  it("passes i32, i64 (BigInt) and f64 values like V8", () => {
    const { exports } = load();
    expect(exports.add(2, 3)).toBe(5);
    expect(exports.add(0x7fffffff, 1)).toBe(-0x80000000);
    expect(exports.add(-1, 0)).toBe(-1);
    expect(exports.add(2.9, "3")).toBe(5); // ToInt32 coercion, as V8
    expect(exports.add()).toBe(0);
    expect(exports.add64(1n, 2n)).toBe(3n);
    expect(exports.add64(0x7fffffffffffffffn, 1n)).toBe(-0x8000000000000000n);
    expect(exports.mul(1.5, -2)).toBe(-3);
    expect(exports.mul(Number.MAX_VALUE, 2)).toBe(Infinity);
  });

  it("calls a JS import and uses its result", () => {
    const seen: number[] = [];
    const { exports } = load(hostImports((x) => (seen.push(x), x * 10)));
    expect(exports.callTwice(4)).toBe(41);
    expect(seen).toEqual([4]);
  });

  it("passes an import's exception through unchanged", () => {
    const error = new Error("from the host");
    const { exports } = load(
      hostImports(() => {
        throw error;
      }),
    );
    let caught: unknown;
    try {
      exports.callTwice(1);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBe(error);
    expect(exports.add(1, 1)).toBe(2); // still usable
  });

  it("runs memory.fill, memory.copy and i32.extend8_s (bulk memory, sign extension)", () => {
    const { exports, memory } = load();
    exports.fill(16, 0xab, 8);
    exports.copy(100, 12, 8);
    expect([...new Uint8Array(memory.buffer, 100, 8)]).toEqual([0, 0, 0, 0, 0xab, 0xab, 0xab, 0xab]);
    expect(exports.ext8(0x80)).toBe(-128);
    expect(exports.ext8(0x17f)).toBe(127);
  });

  it("shows writes through memory.buffer to the module and back", () => {
    const { exports, memory } = load();
    new DataView(memory.buffer).setUint32(40, 0xdeadbeef, true);
    expect(exports.load(40) >>> 0).toBe(0xdeadbeef);
  });

  it("gives a new buffer after memory.grow and detaches the old one", () => {
    const { exports, memory } = load();
    const before = memory.buffer;
    expect(before.byteLength).toBe(65536);
    expect(exports.grow(1)).toBe(1);
    expect(exports.size()).toBe(2);
    expect(memory.buffer.byteLength).toBe(2 * 65536);
    expect(before.byteLength).toBe(0);
    expect(exports.grow(10)).toBe(-1); // over the declared maximum
  });

  it("reports a trap as WebAssembly.RuntimeError and stays usable", () => {
    const { exports } = load();
    expect(() => exports.boom()).toThrow(WebAssembly.RuntimeError);
    expect(() => exports.divide(1, 0)).toThrow(WebAssembly.RuntimeError);
    expect(() => exports.load(65535)).toThrow(WebAssembly.RuntimeError);
    expect(exports.add(20, 22)).toBe(42);
  });

  it("rejects a missing import: TypeError without its namespace, LinkError without the function", () => {
    expect(() => load({})).toThrow(TypeError);
    expect(() => load({ host: {} })).toThrow(WebAssembly.LinkError);
    expect(() => load({ host: { twice: 5 } } as unknown as WebAssembly.Imports)).toThrow(WebAssembly.LinkError);
  });

  it("rejects bytes that are not a module with WebAssembly.CompileError", () => {
    expect(() => instantiateBytes(engine, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 50, 0]))).toThrow(WebAssembly.CompileError);
    expect(() => instantiateBytes(engine, new Uint8Array([1, 2, 3]))).toThrow(WebAssembly.CompileError);
  });
});

describe("wasm3 messages", () => {
  it("names the trapping function and the export it was called through", () => {
    const { exports } = instantiateWasm3(kitchenSink, hostImports());
    expect(() => exports.boom()).toThrow("[trap] unreachable executed in inner (function #9), called through export boom");
    expect(() => exports.divide(1, 0)).toThrow(/integer divide by zero in divide .*export divide/);
    expect(() => exports.load(65535)).toThrow(/out of bounds memory access/);
  });

  it("stops runaway recursion with a stack-overflow trap, not a crash", () => {
    const recursion = assemble({
      types: [{ params: [I32], results: [I32] }],
      functions: [{ type: 0, export: "down", body: [...get(0), op.i32Const, 1, op.i32Add, op.call, 0] }],
    });
    const { exports } = instantiateWasm3(recursion, {});
    expect(() => exports.down(0)).toThrow("[trap] stack overflow");
    expect(() => exports.down(0)).toThrow(WebAssembly.RuntimeError); // and again: the runtime recovered
  });

  it("names the missing import", () => {
    expect(() => instantiateWasm3(kitchenSink, {})).toThrow("wasm3: missing import module host (needed for host.twice)");
    expect(() => instantiateWasm3(kitchenSink, { host: {} })).toThrow("wasm3: missing import host.twice");
  });

  it("rejects a module whose import is never provided, even when nothing calls it", () => {
    const bytes = assemble({
      types: [{ params: [], results: [] }],
      imports: [{ module: "env", name: "nothere", type: 0 }],
      functions: [{ type: 0, export: "run", body: [] }],
    });
    expect(() => instantiateWasm3(bytes, { env: {} })).toThrow("wasm3: missing import env.nothere");
  });

  it("refuses an export called from inside an import (wasm3 has one value stack)", () => {
    let inner: () => unknown = () => 0;
    const { exports } = instantiateWasm3(
      kitchenSink,
      hostImports(() => Number(inner())),
    );
    inner = () => exports.add(1, 2);
    expect(() => exports.callTwice(1)).toThrow("an import may not call back into the module's exports");
    inner = () => 0;
    expect(exports.callTwice(1)).toBe(1);
  });

  it("caps linear memory at memoryLimit: accesses beyond it trap", () => {
    const { exports, memory } = instantiateWasm3(kitchenSink, hostImports(), { memoryLimit: 32 * 1024 });
    expect(memory.buffer.byteLength).toBe(32 * 1024);
    expect(exports.load(32 * 1024 - 4)).toBe(0);
    expect(() => exports.load(32 * 1024)).toThrow(/out of bounds memory access/);
  });

  it("reports its version", () => {
    expect(wasm3Version()).toBe("0.5.0");
  });
});

describe("OUTPOST_ENGINE", () => {
  const withEnv = <T>(value: string, fn: () => T): T => {
    const saved = process.env.OUTPOST_ENGINE;
    process.env.OUTPOST_ENGINE = value;
    try {
      return fn();
    } finally {
      if (saved === undefined) delete process.env.OUTPOST_ENGINE;
      else process.env.OUTPOST_ENGINE = saved;
    }
  };

  it("picks the engine for modules that name none", () => {
    expect(withEnv("wasm3", () => instantiate()).memory).not.toBeInstanceOf(WebAssembly.Memory);
    expect(withEnv("v8", () => instantiate()).memory).toBeInstanceOf(WebAssembly.Memory);
    expect(withEnv("wasm3", () => instantiate({ engine: "v8" })).memory).toBeInstanceOf(WebAssembly.Memory);
  });

  it("rejects an unknown engine name", () => {
    expect(() => withEnv("spidermonkey", () => instantiate())).toThrow("OUTPOST_ENGINE must be v8 or wasm3, not spidermonkey");
  });
});

describe.each(ENGINES)("the ABI version check under %s", (engine) => {
  const module = (version?: number) =>
    instantiateBytes(
      engine,
      assemble({
        types: [{ params: [], results: [I32] }],
        memory: { min: 1, export: "memory" },
        functions: version === undefined ? [] : [{ type: 0, export: "abi_version", body: [op.i32Const, version] }],
      }),
    ).exports;
  it("takes a module of this host's version", () => {
    expect(() => checkAbiVersion(module(ABI_VERSION))).not.toThrow();
  });
  it("refuses another version, or no abi_version export, with AbiMismatch", () => {
    expect(() => checkAbiVersion(module(1))).toThrow(AbiMismatch);
    expect(() => checkAbiVersion(module(1))).toThrow(`the module implements ABI version 1, this host implements ${ABI_VERSION}`);
    expect(() => checkAbiVersion(module())).toThrow("the module implements ABI version (none: no abi_version export)");
  });
});

describe.each(ENGINES)("build/device.wasm under %s", (engine) => {
  it.each(["release", "debug"] as const)("%s build instantiates with every export", (build) => {
    const { exports, memory } = instantiate({ engine, build });
    const expected = WebAssembly.Module.exports(new WebAssembly.Module(new Uint8Array(wasmBytes(build)))).map((e) => e.name);
    expect(Object.keys(exports).sort()).toEqual(expected.sort());
    expect(exports.memory.buffer).toBe(memory.buffer);
    expect(exports.abi_version()).toBe(ABI_VERSION);
    expect(memory.buffer.byteLength).toBeGreaterThan(0);
  });
});
