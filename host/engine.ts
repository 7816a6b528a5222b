// Loads the device module and links the imports that assembly/ABI.md lists.
// One place for every host-side import, so Node implements the ABI exactly once.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { instantiateWasm3, type LinearMemory } from "./native/index.ts";
import { checkAbiVersion } from "./abi.ts";
import { HostKind, type CoreExports, type DeviceExports } from "./abi-table.ts";

/**
 * release/debug: build/device.wasm and its debug twin, the module every engine and board
 * runs (the client side of the codec only). codec/codec-debug: build/codec.wasm and its
 * twin, the whole codec (both halves) for Node's outpost/codec (assembly/ABI.md, "Codec").
 */
export type Build = "release" | "debug" | "codec" | "codec-debug";
export type EngineName = "v8" | "wasm3";

/** Host functions the module imports (assembly/ABI.md, "Imports"). */
export interface HostImports {
  /** A log line from the module: level 0..3 (debug..error), UTF-8 text. */
  log(level: number, text: string): void;
  /**
   * A JSON-RPC method the module routes to the host (assembly/ABI.md, "JSON-RPC"):
   * `params` is the request's params text (null when absent).
   */
  hostCall(method: string, params: string | null): HostCallResult;
}

/** JSON text of a result or of an error object, or no such method, or an answer still to come. */
export type HostCallResult = { result: string } | { error: string } | "not_found" | "pending";

function hostCallStatus(memory: LinearMemory, answer: HostCallResult, out: number, cap: number): number {
  if (answer === "not_found" || answer === "pending") return (answer === "pending" ? HostKind.pending : HostKind.notFound) << 24;
  const isResult = "result" in answer;
  const bytes = Buffer.from(isResult ? answer.result : answer.error, "utf8");
  if (bytes.length > cap || bytes.length > 0xffffff) return HostKind.tooLarge << 24;
  new Uint8Array(memory.buffer, out, bytes.length).set(bytes);
  return ((isResult ? HostKind.result : HostKind.error) << 24) | bytes.length;
}

/** `exports` are typed from assembly/abi.json: DeviceExports for the device builds, CodecExports for the codec's. */
export interface ModuleInstance<E extends CoreExports = DeviceExports> {
  exports: E;
  /** `buffer` is always the current one: read it again after a call that may grow memory. */
  memory: LinearMemory;
}

const buildDir = fileURLToPath(new URL("../build/", import.meta.url));
const compiled = new Map<string, WebAssembly.Module>();

const BUILD_FILES: Record<Build, string> = {
  release: "device.wasm",
  debug: "device.debug.wasm",
  codec: "codec.wasm",
  "codec-debug": "codec.debug.wasm",
};

/** OUTPOST_WASM replaces the device module (release/debug), not the codec's. */
export function wasmPath(build: Build = "release"): string {
  const path = `${buildDir}${BUILD_FILES[build]}`;
  return build === "release" || build === "debug" ? (process.env.OUTPOST_WASM ?? path) : path;
}

/** The whole-codec build of the same flavour (release -> codec, debug -> codec-debug). */
export function codecBuild(build: Build): Build {
  return build === "debug" || build === "codec-debug" ? "codec-debug" : "codec";
}

export function wasmBytes(build: Build = "release"): Uint8Array {
  return readFileSync(wasmPath(build));
}

function compiledModule(build: Build): WebAssembly.Module {
  const path = wasmPath(build);
  let mod = compiled.get(path);
  if (!mod) {
    mod = new WebAssembly.Module(readFileSync(path));
    compiled.set(path, mod);
  }
  return mod;
}

/** Reads an AssemblyScript string (UTF-16, byte length at ptr - 4). */
function readAsString(memory: LinearMemory, ptr: number): string {
  if (!ptr) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

export class ModuleTrap extends Error {
  override name = "ModuleTrap";
}

/** OUTPOST_ENGINE=wasm3 runs every module that names no engine under wasm3 (e.g. a whole test run). */
export function defaultEngine(): EngineName {
  const env = process.env.OUTPOST_ENGINE;
  if (env === undefined || env === "" || env === "v8" || env === "wasm3") return env === "wasm3" ? "wasm3" : "v8";
  throw new Error(`OUTPOST_ENGINE must be v8 or wasm3, not ${env}`);
}

/**
 * Instantiates the module under V8 (default) or wasm3 (host/native). `memoryLimit`
 * (wasm3 only) caps linear memory in bytes, as the boards do. `bytes` runs that module instead of the build's.
 */
export function instantiate<E extends CoreExports = DeviceExports>(
  opts: { build?: Build; imports?: Partial<HostImports>; engine?: EngineName; memoryLimit?: number; bytes?: Uint8Array } = {},
): ModuleInstance<E> {
  const build = opts.build ?? "release";
  const host: HostImports = { log: () => {}, hostCall: () => "not_found", ...opts.imports };
  let memory!: LinearMemory;
  const text = (ptr: number, len: number) => Buffer.from(memory.buffer, ptr, len).toString("utf8");
  const imports = {
    env: {
      abort(msg: number, file: number, line: number, col: number) {
        throw new ModuleTrap(`${readAsString(memory, msg)} at ${readAsString(memory, file)}:${line}:${col}`);
      },
    },
    outpost: {
      log: (level: number, ptr: number, len: number) => host.log(level, text(ptr, len)),
      host_call: (mp: number, ml: number, pp: number, pl: number, out: number, cap: number) =>
        hostCallStatus(memory, host.hostCall(text(mp, ml), pl ? text(pp, pl) : null), out, cap),
    },
  };
  if ((opts.engine ?? defaultEngine()) === "wasm3") {
    const instance = instantiateWasm3(opts.bytes ?? wasmBytes(build), imports, { memoryLimit: opts.memoryLimit });
    memory = instance.memory;
    checkAbiVersion(instance.exports);
    return { exports: instance.exports as unknown as E, memory };
  }
  // Module bytes given (an OTA slot): compiled for this instance only, never cached under the build's path.
  const instance = new WebAssembly.Instance(opts.bytes ? new WebAssembly.Module(opts.bytes as BufferSource) : compiledModule(build), imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  checkAbiVersion(instance.exports);
  return { exports: instance.exports as unknown as E, memory };
}
