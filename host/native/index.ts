// wasm3 under Node, through the project's own N-API binding (host/native/wasm3_node.c).
// Same shape as a V8 instance: callable exports and a memory whose `buffer` is always
// the current one (a new ArrayBuffer after growth; the old one is detached, as in V8).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export interface Wasm3Options {
  /** Bytes of linear memory wasm3 allocates at most (the boards' limit); 0 = no limit. */
  memoryLimit?: number;
  /** wasm3's value stack, in bytes (default 64 KiB). */
  stackSize?: number;
}

export interface LinearMemory {
  readonly buffer: ArrayBuffer;
}

export interface Wasm3Instance {
  exports: Record<string, any>;
  memory: LinearMemory;
}

interface Addon {
  version: string;
  instantiate(
    bytes: Uint8Array,
    imports: WebAssembly.Imports,
    opts: Wasm3Options,
  ): { exports: Record<string, any>; memory: () => ArrayBuffer | undefined; memoryExport?: string };
}

export const addonPath = fileURLToPath(new URL("./build/wasm3.node", import.meta.url));
let addon: Addon | undefined;

function loadAddon(): Addon {
  if (!addon) {
    try {
      addon = createRequire(import.meta.url)(addonPath) as Addon;
    } catch (err) {
      throw new Error(`the wasm3 binding is not built (${addonPath}): run \`npm run build:native\``, { cause: err });
    }
  }
  return addon;
}

/** wasm3's version, e.g. "0.5.0". */
export function wasm3Version(): string {
  return loadAddon().version;
}

/**
 * Instantiates `bytes` under wasm3. Throws WebAssembly.CompileError (bad bytes),
 * LinkError (missing import) or RuntimeError (trap in the start function), like V8.
 * Exports trap with WebAssembly.RuntimeError naming the function; an exception thrown
 * by an import passes through unchanged. Imports must not call exports re-entrantly.
 */
export function instantiateWasm3(bytes: Uint8Array, imports: WebAssembly.Imports, opts: Wasm3Options = {}): Wasm3Instance {
  const native = loadAddon().instantiate(bytes, imports, opts);
  const current = native.memory;
  const memory: LinearMemory = {
    get buffer(): ArrayBuffer {
      const buffer = current();
      if (!buffer) throw new Error("wasm3: the module has no memory");
      return buffer;
    },
  };
  if (native.memoryExport !== undefined) native.exports[native.memoryExport] = memory;
  return { exports: native.exports, memory };
}
