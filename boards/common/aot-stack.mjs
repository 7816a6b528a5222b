// The AOT engine's C stack, bounded from the module like wasm3's value stack (gen-stack.mjs):
// the heaviest call chain from any export, adding up each translated function's frame as the
// compiler reports it (-fstack-usage: board.mk writes device.su beside device.o). A function the
// compiler inlined has no frame of its own (its caller's holds it); a clone (.constprop, .isra)
// counts as its heaviest copy. The same chains give the deepest call, which bounds wasm2c's
// call-depth counter (WASM_RT_MAX_CALL_STACK_DEPTH, gen-aot.mjs).
// Run: node boards/common/aot-stack.mjs AOT_DIR MODULE.wasm   prints "module C stack N bytes ..."
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { stackNeed } from "./gen-stack.mjs";

const debugTwin = (wasmPath) => wasmPath.replace(/\.wasm$/, ".debug.wasm");

/** wasm function index of every translated function, by its C name (wasm2c declares them in index order). */
function functionIndexes(deviceC, deviceH) {
  const imports = [...deviceH.matchAll(/\/\* import: '[^']+' '[^']+' \*\//g)].length;
  const names = [...deviceC.matchAll(/^static [a-z0-9]+ (w2c_\w+)\(Z_device_instance_t\*[^{\n]*\);$/gm)].map((m) => m[1]);
  return new Map(names.map((name, i) => [name, imports + i]));
}

/** The deepest call chain from any export, in frames. */
export function callDepth(wasmPath) {
  const unit = { get: () => 1 };
  return stackNeed(readFileSync(wasmPath), readFileSync(debugTwin(wasmPath)), unit).slots;
}

/** { bytes, depth, entry } of the heaviest chain of C frames, from device.su. */
export function cStack(aotDir, wasmPath) {
  const indexes = functionIndexes(readFileSync(`${aotDir}/device.c`, "utf8"), readFileSync(`${aotDir}/device.h`, "utf8"));
  const frames = new Map();
  let helper = 0; // the generated code's own out-of-line helpers (a load's trap path): leaves, counted once
  for (const line of readFileSync(`${aotDir}/device.su`, "utf8").trim().split("\n")) {
    const [where, bytes, kind] = line.split("\t");
    if (kind && !kind.startsWith("static")) throw new Error(`${where} has a ${kind} frame: its stack cannot be bounded`);
    const name = where.split(":").pop().split(".")[0];
    const index = indexes.get(name);
    if (index !== undefined) frames.set(index, Math.max(frames.get(index) ?? 0, Number(bytes)));
    else helper = Math.max(helper, Number(bytes));
  }
  const inlined = { get: (f) => frames.get(f) ?? 0 };
  const need = stackNeed(readFileSync(wasmPath), readFileSync(debugTwin(wasmPath)), inlined);
  return { bytes: need.slots + helper, depth: need.depth, entry: need.entry };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [aotDir, wasmPath] = process.argv.slice(2);
  const need = cStack(aotDir, wasmPath);
  console.log(`module C stack ${need.bytes} bytes at most (${need.entry}, ${need.depth} frames), call depth ${callDepth(wasmPath)}`);
}
