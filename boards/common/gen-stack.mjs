// Generates boards/common/outpost_stack.h: the wasm3 value stack build/device.wasm (and the lean
// build/device-mqtt311.wasm) needs, the
// heaviest call chain from any export, adding up each function's wasm3 frame as wasm3-frames
// (boards/posix/wasm3_frames.c, built with the boards' wasm3 configuration) reports it.
// Run: node boards/common/gen-stack.mjs FRAMES_TOOL   (make -C boards/posix does, so npm run build does)
// test/posix-abi.test.ts regenerates it in memory and fails when the committed file differs.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";

const root = fileURLToPath(new URL("../../", import.meta.url));
export const headerPath = `${root}boards/common/outpost_stack.h`;

// Functions the module's source lets call themselves, with how many extra frames that
// adds at most. Any other recursion fails the generation: its depth would be unbounded.
const BOUNDED_RECURSION = {
  // next() calls itself once, when it completes a packet header; that call takes the branch that does not.
  "assembly/mqtt/stream/Framer#next": 1,
};

/** The module's direct call graph (index -> callee indexes) and its exports, via binaryen. */
function callGraph(wasm) {
  const module = binaryen.readBinary(wasm);
  try {
    const indexOf = new Map();
    const imports = new Set();
    for (let i = 0; i < module.getNumFunctions(); i++) {
      const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
      indexOf.set(info.name, i);
      if (info.module) imports.add(i);
    }
    // Names as the text format prints them: $name, or $"name" when it has other characters.
    const index = (printed) => {
      const i = indexOf.get(printed.startsWith('"') ? JSON.parse(printed) : printed);
      if (i === undefined) throw new Error(`no function ${printed} in the module's text`);
      return i;
    };
    const calls = new Map();
    let current = -1;
    for (const line of module.emitText().split("\n")) {
      const func = line.match(/^ \(func \$("(?:[^"\\]|\\.)*"|[^\s()]+)/);
      if (func) calls.set((current = index(func[1])), new Set());
      else if (/call_indirect|call_ref|return_call/.test(line)) throw new Error("the module calls indirectly: its call chains cannot be bounded here");
      else if (current >= 0) for (const m of line.matchAll(/\(call \$("(?:[^"\\]|\\.)*"|[^\s()]+)/g)) calls.get(current).add(index(m[1]));
    }
    const exports = [];
    for (let i = 0; i < module.getNumExports(); i++) {
      const info = binaryen.getExportInfo(module.getExportByIndex(i));
      if (info.kind === binaryen.ExternalFunction) exports.push([info.name, indexOf.get(info.value)]);
    }
    const names = new Map([...indexOf].map(([name, i]) => [i, name]));
    return { calls, exports, imports, names };
  } finally {
    module.dispose();
  }
}

/** Self-calling functions; throws on recursion through more than one function. */
function selfCalls(calls, names) {
  const state = new Map(); // 1 on the path, 2 done
  const self = new Set();
  const visit = (f, path) => {
    state.set(f, 1);
    for (const g of calls.get(f) ?? []) {
      if (g === f) self.add(f);
      else if (state.get(g) === 1) throw new Error(`recursion through ${[...path, f, g].map((i) => names.get(i)).join(" -> ")}: unbounded stack`);
      else if (!state.has(g)) visit(g, [...path, f]);
    }
    state.set(f, 2);
  };
  for (const f of calls.keys()) if (!state.has(f)) visit(f, []);
  return self;
}

/** The heaviest chain of wasm3 frames from each export: { slots, depth, chain } of the worst one. */
export function stackNeed(wasm, debugWasm, frames) {
  // The debug build keeps the source names: every recursion must be a known, bounded one.
  const debug = callGraph(debugWasm);
  const allowed = [...selfCalls(debug.calls, debug.names)].map((f) => debug.names.get(f));
  for (const name of allowed) if (!(name in BOUNDED_RECURSION)) throw new Error(`${name} calls itself: unbounded stack`);
  const extra = Math.max(0, ...Object.values(BOUNDED_RECURSION));
  const { calls, exports, imports, names } = callGraph(wasm);
  const self = selfCalls(calls, names);
  if (self.size > allowed.length) throw new Error(`build/device.wasm has ${self.size} self-calling functions, its debug build ${allowed.length}`);
  const memo = new Map();
  const heaviest = (f) => {
    if (imports.has(f)) return { slots: 0, depth: 0, chain: [] }; // C functions: their arguments lie in the caller's frame
    if (memo.has(f)) return memo.get(f);
    const frame = frames.get(f);
    if (frame === undefined) throw new Error(`wasm3-frames reported no frame for function #${f}`);
    let worst = { slots: 0, depth: 0, chain: [] };
    for (const g of calls.get(f) ?? []) {
      if (g === f) continue;
      const r = heaviest(g);
      if (r.slots > worst.slots) worst = r;
    }
    const copies = self.has(f) ? 1 + extra : 1;
    const r = { slots: worst.slots + frame * copies, depth: worst.depth + copies, chain: [f, ...worst.chain] };
    memo.set(f, r);
    return r;
  };
  let need = { slots: 0, depth: 0, chain: [], entry: "" };
  for (const [name, f] of exports) {
    const r = heaviest(f);
    if (r.slots > need.slots) need = { ...r, entry: name };
  }
  return need;
}

function readFrames(tool, wasmPath) {
  const frames = new Map();
  for (const line of execFileSync(tool, [wasmPath], { encoding: "utf8" }).trim().split("\n")) {
    const [index, slots] = line.split(" ").map(Number);
    frames.set(index, slots);
  }
  return frames;
}

/** The header's text, from build/device.wasm and the lean build/device-mqtt311.wasm (frames by the given wasm3-frames tool). */
export function generateStackHeader(framesTool) {
  const needOf = (name) => {
    const wasmPath = `${root}build/${name}.wasm`;
    return stackNeed(readFileSync(wasmPath), readFileSync(`${root}build/${name}.debug.wasm`), readFrames(framesTool, wasmPath));
  };
  const need = needOf("device");
  const lean = needOf("device-mqtt311");
  return [
    "// Generated by boards/common/gen-stack.mjs from build/device.wasm. Do not edit: npm run build",
    "// regenerates it, and test/posix-abi.test.ts fails when it is stale.",
    "#ifndef OUTPOST_STACK_H",
    "#define OUTPOST_STACK_H",
    "",
    "// wasm3 value-stack slots build/device.wasm needs: its heaviest call chain from an export,",
    `// ${need.entry} (${need.depth} frames), adding up each function's wasm3 frame. A callee's frame`,
    "// starts inside its caller's, so the sum bounds the stack that chain can reach. JSON nesting",
    "// adds nothing: the tokenizer and the writer keep their depth in linear memory.",
    `#define OUTPOST_MODULE_CALL_DEPTH ${need.depth}`,
    `#define OUTPOST_MODULE_STACK_SLOTS ${need.slots}`,
    "",
    "// The same for the lean module, build/device-mqtt311.wasm (a board built with MODULE=mqtt311):",
    `// ${lean.entry} (${lean.depth} frames).`,
    `#define OUTPOST_MQTT311_CALL_DEPTH ${lean.depth}`,
    `#define OUTPOST_MQTT311_STACK_SLOTS ${lean.slots}`,
    "",
    "#endif",
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const tool = process.argv[2];
  if (!tool) throw new Error("usage: node boards/common/gen-stack.mjs WASM3_FRAMES_TOOL");
  const text = generateStackHeader(tool);
  let old = "";
  try {
    old = readFileSync(headerPath, "utf8");
  } catch {}
  if (old !== text) writeFileSync(headerPath, text);
}
