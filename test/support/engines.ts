// The engines every module test runs under. Parametrise a suite with
//   describe.each(ENGINES)("codec under %s", (engine) => { ... instantiate({ engine }) ... })
// so each vector runs under V8 and wasm3 with identical expectations.
import type { EngineName } from "../../host/engine.ts";
import { instantiateWasm3, type LinearMemory } from "../../host/native/index.ts";

export const ENGINES: readonly EngineName[] = ["v8", "wasm3"];

/** Instantiates arbitrary module bytes (not build/device.wasm) under `engine`. */
export function instantiateBytes(
  engine: EngineName,
  bytes: Uint8Array,
  imports: WebAssembly.Imports = {},
  opts: { memoryLimit?: number } = {},
): { exports: Record<string, any>; memory: LinearMemory } {
  if (engine === "wasm3") return instantiateWasm3(bytes, imports, opts);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), imports);
  return { exports: instance.exports as Record<string, any>, memory: instance.exports.memory as WebAssembly.Memory };
}
