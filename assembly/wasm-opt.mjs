// Post pass over the release builds: binaryen's own size pipeline (-Oz, to a fixed
// point) after asc's. asc caps the inlining of functions with one caller lower than
// binaryen's defaults; this pass inlines them too (about 190 B off device.wasm, and
// calls the same code in the same order, so no slower).
// Run: node assembly/wasm-opt.mjs FILE.wasm... (each rewritten in place; a FILE.wat
// beside it is rewritten from the result so that it matches).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

const bin = (name) => fileURLToPath(new URL(`../node_modules/binaryen/bin/${name}`, import.meta.url));
// The features asc emits by default (sign-extension, mutable globals, non-trapping f2i, bulk memory).
const FEATURES = ["--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int", "--enable-bulk-memory"];

// The lean module is built for RAM: wasm3 compiles a function whole on its first call, and the
// lean firmware drops all compiled code when the link comes up and when it goes down
// (boards/common/outpost_loop.c), so what only connecting runs stays out of the functions
// serving runs: not inlined into them. asc keeps the names for this (asconfig.json's mqtt311
// target: debug); they are stripped here. The rest of that code asc inlines into functions only
// connecting calls. About 2 KB of RAM (boards/stm32/README.md).
const CONNECT_ONLY = {
  "device-mqtt311.wasm": ["assembly/mqtt/client/onConnack", "assembly/mqtt/encode/connect"],
};

for (const file of process.argv.slice(2)) {
  const keep = CONNECT_ONLY[basename(file)] ?? [];
  if (keep.length) {
    const names = new Set(
      execFileSync(process.execPath, [bin("wasm-opt"), file, ...FEATURES, "--print-function-map"], { encoding: "utf8" })
        .split("\n")
        .map((line) => line.slice(line.indexOf(":") + 1)),
    );
    const missing = keep.filter((name) => !names.has(name));
    if (missing.length) throw new Error(`${file}: no function ${missing.join(", ")} (renamed? update CONNECT_ONLY)`);
  }
  // -iit (ignore implicit traps): the module never relies on a load, a division or a
  // conversion trapping (hostile input is checked, never caught by a trap), so binaryen
  // may move or drop those freely; stores, memory.grow and `unreachable` stay. About
  // 120 B off the device set. The allocator's deliberate trap is a store: kept.
  const noInline = keep.map((name) => `--no-inline=${name}`);
  execFileSync(process.execPath, [bin("wasm-opt"), file, ...FEATURES, ...noInline, "-Oz", "--converge", "-iit", "--strip-debug", "-o", file], {
    stdio: "inherit",
  });
  const wat = file.replace(/\.wasm$/, ".wat");
  if (wat !== file && existsSync(wat)) execFileSync(process.execPath, [bin("wasm-dis"), file, ...FEATURES, "-o", wat], { stdio: "inherit" });
}
