// boards/common through the native device program (boards/posix/build/outpost-device):
// local dispatch with --call, board methods registered in C, the memory limit, and
// broken modules reported clearly with a non-zero exit instead of a crash.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ABI_VERSION } from "../host/abi.ts";
import { asString, assemble, I32, op, sleb128 } from "./support/wasm-bytes.ts";

const program = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(program, args, { encoding: "utf8", timeout: 10_000, env });
  return { status: r.status, signal: r.signal, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function call(request: unknown, args: string[] = []) {
  const r = run(["--call", JSON.stringify(request), ...args]);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

/** The abi_version export a hand-built module needs (function type `type` must be () -> i32). */
const abiVersion = (version: number, type: number) => ({ type, export: "abi_version", body: [op.i32Const, ...sleb128(version)] });
const rpc = (id: number, method: string, params?: unknown) => ({ jsonrpc: "2.0", id, method, ...(params === undefined ? {} : { params }) });

describe("outpost-device --call (boards/common runtime)", () => {
  it("finds its default module beside itself, wherever the tree is copied and from any cwd", () => {
    const tree = mkdtempSync(join(tmpdir(), "outpost-tree-"));
    mkdirSync(join(tree, "boards/posix/build"), { recursive: true });
    mkdirSync(join(tree, "build"));
    copyFileSync(program, join(tree, "boards/posix/build/outpost-device"));
    copyFileSync(fileURLToPath(new URL("../build/device.wasm", import.meta.url)), join(tree, "build/device.wasm"));
    const env = { ...process.env };
    delete env.OUTPOST_WASM;
    const r = spawnSync(join(tree, "boards/posix/build/outpost-device"), ["--call", JSON.stringify(rpc(1, "echo", ["here"]))], {
      encoding: "utf8",
      timeout: 10_000,
      env,
      cwd: tmpdir(),
    });
    expect(r.stderr.trim()).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ jsonrpc: "2.0", result: ["here"], id: 1 });
    // The build machine's path is not compiled in: with the module moved away the copy cannot find it.
    expect(readFileSync(program, "latin1")).not.toMatch(/\/[A-Za-z][\w.+-]*(\/[\w.+-]+)*\/build\/device\.wasm/); // only ../../../build/device.wasm
  });

  it("answers the module's own methods", () => {
    expect(call(rpc(1, "echo", [1, "x"]))).toEqual({ jsonrpc: "2.0", id: 1, result: [1, "x"] });
  });

  it("routes methods registered in C through outpost.host_call", () => {
    const [write, read, readNamed] = call([rpc(1, "gpio.write", [3, 1]), rpc(2, "gpio.read", [3]), rpc(3, "gpio.read", { pin: 4 })]);
    expect(write).toEqual({ jsonrpc: "2.0", id: 1, result: true });
    expect(read).toEqual({ jsonrpc: "2.0", id: 2, result: 1 });
    expect(readNamed).toEqual({ jsonrpc: "2.0", id: 3, result: 0 });
  });

  it("answers a C method's invalid params with -32602", () => {
    const [badPin, badValue] = call([rpc(1, "gpio.write", [99, 1]), rpc(2, "gpio.write", { pin: 1, value: 7 })]);
    // The pin message has quotes in it: outpost_fail escapes them into valid JSON.
    expect(badPin.error).toEqual({ code: -32602, message: 'Invalid params: "pin" must be 0..31' });
    expect(badValue.error).toEqual({ code: -32602, message: "Invalid params: value must be 0 or 1" });
  });

  it("answers an unknown method with -32601", () => {
    expect(call(rpc(7, "no.such")).error).toEqual({ code: -32601, message: "Method not found" });
  });

  it("lists the C methods in rpc.list with their descriptions and schemas", () => {
    const names = call(rpc(1, "rpc.list")).result.map((m: { name: string }) => m.name);
    expect(names).toEqual(expect.arrayContaining(["echo", "rpc.list", "sys.info", "gpio.write", "gpio.read", "config.get", "config.set"]));
    const gpio = call(rpc(1, "rpc.list")).result.find((m: { name: string }) => m.name === "gpio.write");
    expect(gpio.description).toBe("Sets a (simulated) pin to 0 or 1");
    expect(gpio.params.properties.pin).toEqual({ type: "integer" });
  });

  it("reports engine, board and a memory limit below 64 KiB that the module stays within", () => {
    const info = call(rpc(1, "sys.info")).result;
    expect(info).toMatchObject({ engine: "wasm3", board: "posix", abi: ABI_VERSION });
    expect(info.memory_limit).toBeLessThan(64 * 1024);
    expect(info.memory_used).toBeLessThan(info.memory_limit);
  });

  it("keeps config.set keys for config.get", () => {
    const [set, one, all, missing, bad] = call([
      rpc(1, "config.set", { interval: 5, name: "pump" }),
      rpc(2, "config.get", ["name"]),
      rpc(3, "config.get"),
      rpc(4, "config.get", { key: "nope" }),
      rpc(5, "config.set", [1]),
    ]);
    expect(set.result).toEqual({ interval: 5, name: "pump" });
    expect(one.result).toBe("pump");
    expect(all.result).toEqual({ interval: 5, name: "pump" });
    expect(missing.result).toBeNull();
    expect(bad.error.code).toBe(-32602);
  });

  it("gives no output for a notification", () => {
    const r = run(["--call", JSON.stringify({ jsonrpc: "2.0", method: "echo" })]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("");
  });
});

describe("outpost-device with a broken module", () => {
  const dir = mkdtempSync(join(tmpdir(), "outpost-posix-"));
  const write = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const expectCleanFailure = (r: ReturnType<typeof run>, message: string | RegExp) => {
    expect(r.signal).toBeNull(); // no crash
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  };

  it("names an import the runtime does not provide", () => {
    const path = write(
      "missing-import.wasm",
      assemble({
        types: [{ params: [], results: [] }],
        imports: [{ module: "outpost", name: "teleport", type: 0 }],
        functions: [{ type: 0, export: "run", body: [] }],
      }),
    );
    expectCleanFailure(run(["--module", path, "--call", "{}"]), "missing import outpost.teleport");
  });

  it("names an import declared with the wrong signature", () => {
    const path = write(
      "bad-signature.wasm",
      assemble({
        types: [{ params: [I32], results: [] }],
        imports: [{ module: "outpost", name: "log", type: 0 }],
      }),
    );
    expectCleanFailure(run(["--module", path, "--call", "{}"]), "cannot link outpost.log as v(iii): function signature mismatch");
  });

  it("reports a trap with the function it happened in", () => {
    const path = write(
      "trap.wasm",
      assemble({
        types: [
          { params: [I32, I32, I32, I32, I32], results: [I32] },
          { params: [], results: [] },
          { params: [], results: [I32] },
        ],
        memory: { min: 1, export: "memory" },
        functions: [
          { type: 1, name: "check_limits", body: [op.unreachable] },
          { type: 0, export: "rpc_init", body: [op.call, 0, op.i32Const, 0] },
          abiVersion(2, 2),
        ],
      }),
    );
    expectCleanFailure(run(["--module", path, "--call", "{}"]), "[trap] unreachable executed in check_limits (function #0), called through export rpc_init");
  });

  it("reports an AssemblyScript abort with its message and place", () => {
    // abort("limit broken", "assembly/x.ts", 7, 3): strings at 16 and 64 (length word before each).
    const path = write(
      "abort.wasm",
      assemble({
        types: [
          { params: [I32, I32, I32, I32], results: [] },
          { params: [I32, I32, I32, I32, I32], results: [I32] },
          { params: [], results: [I32] },
        ],
        imports: [{ module: "env", name: "abort", type: 0 }],
        memory: { min: 1, export: "memory" },
        data: [
          { offset: 12, bytes: asString("limit broken") },
          { offset: 60, bytes: asString("assembly/x.ts") },
        ],
        functions: [
          { type: 1, export: "rpc_init", body: [op.i32Const, 16, op.i32Const, ...sleb128(64), op.i32Const, 7, op.i32Const, 3, op.call, 0, op.i32Const, 0] },
          abiVersion(2, 2),
        ],
      }),
    );
    expectCleanFailure(run(["--module", path, "--call", "{}"]), "[trap] program called abort in export rpc_init (abort: limit broken at assembly/x.ts:7:3)");
  });

  it("names error codes: in its own failures and after the module's log lines that end in one", () => {
    // rpc_init logs "reply not queued, error 22" (the module's own wording) at warn, then returns -BufferFull.
    const line = Buffer.from("reply not queued, error 22");
    const path = write(
      "named-errors.wasm",
      assemble({
        types: [
          { params: [I32, I32, I32], results: [] },
          { params: [I32, I32, I32, I32, I32], results: [I32] },
          { params: [], results: [I32] },
        ],
        imports: [{ module: "outpost", name: "log", type: 0 }],
        memory: { min: 1, export: "memory" },
        data: [{ offset: 16, bytes: line }],
        functions: [
          { type: 1, export: "rpc_init", body: [op.i32Const, 2, op.i32Const, 16, op.i32Const, line.length, op.call, 0, op.i32Const, ...sleb128(-22)] },
          abiVersion(2, 2),
        ],
      }),
    );
    const r = run(["--module", path, "--call", "{}"]);
    expectCleanFailure(r, "rpc_init failed: error 22 (BufferFull)");
    expect(r.stderr).toContain("outpost-device warn: reply not queued, error 22 (BufferFull)");
  });

  it("names the first device export a module without the device app lacks", () => {
    const constant = (n: number) => [op.i32Const, ...sleb128(n)];
    const path = write(
      "rpc-only.wasm",
      assemble({
        types: [
          { params: [I32, I32, I32, I32, I32], results: [I32] },
          { params: [], results: [I32] },
          { params: [I32, I32], results: [I32] },
        ],
        memory: { min: 1, export: "memory" },
        // rpc_init returns the address of its block: u32 request buffer, u32 response buffer.
        data: [{ offset: 16, bytes: new Uint8Array(new Uint32Array([1024, 2048]).buffer) }],
        functions: [{ type: 0, export: "rpc_init", body: constant(16) }, { type: 2, export: "rpc_handle", body: constant(0) }, abiVersion(2, 1)],
      }),
    );
    expectCleanFailure(run(["--module", path, "--id", "old", "--url", "mqtt://127.0.0.1:1"]), "the module has no export client_config");
  });

  it("refuses a module of another ABI version, or one that does not say its version", () => {
    const module = (fns: ReturnType<typeof abiVersion>[]) =>
      assemble({ types: [{ params: [], results: [I32] }], memory: { min: 1, export: "memory" }, functions: fns });
    expectCleanFailure(
      run(["--module", write("abi1.wasm", module([abiVersion(1, 0)])), "--call", "{}"]),
      "the module implements ABI version 1, this runtime 2",
    );
    expectCleanFailure(run(["--module", write("abi-none.wasm", module([])), "--call", "{}"]), "the module has no export abi_version");
  });

  it("rejects bytes that are not a module", () => {
    expectCleanFailure(run(["--module", write("junk.wasm", new Uint8Array([1, 2, 3, 4])), "--call", "{}"]), /cannot parse the module/);
  });

  it("says which module file it cannot read", () => {
    expectCleanFailure(run(["--module", join(dir, "absent.wasm"), "--call", "{}"]), /cannot read the module .*absent\.wasm/);
  });

  it("takes the module from OUTPOST_WASM when --module is not given, as the Node host does", () => {
    expectCleanFailure(run(["--call", "{}"], { ...process.env, OUTPOST_WASM: join(dir, "elsewhere.wasm") }), /elsewhere\.wasm/);
  });
});
