// Post pass over the release builds: binaryen's own size pipeline (-Oz, to a fixed
// point) after asc's. asc caps the inlining of functions with one caller lower than
// binaryen's defaults; this pass inlines them too (about 190 B off device.wasm, and
// calls the same code in the same order, so no slower).
// Run: node assembly/wasm-opt.mjs FILE.wasm... (each rewritten in place; a FILE.wat
// beside it is rewritten from the result so that it matches).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bin = (name) => fileURLToPath(new URL(`../node_modules/binaryen/bin/${name}`, import.meta.url));
// The features asc emits by default (sign-extension, mutable globals, non-trapping f2i, bulk memory).
const FEATURES = ["--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int", "--enable-bulk-memory"];

for (const file of process.argv.slice(2)) {
  // -iit (ignore implicit traps): the module never relies on a load, a division or a
  // conversion trapping (hostile input is checked, never caught by a trap), so binaryen
  // may move or drop those freely; stores, memory.grow and `unreachable` stay. About
  // 120 B off the device set. The allocator's deliberate trap is a store: kept.
  execFileSync(process.execPath, [bin("wasm-opt"), file, ...FEATURES, "-Oz", "--converge", "-iit", "-o", file], { stdio: "inherit" });
  const wat = file.replace(/\.wasm$/, ".wat");
  if (wat !== file && existsSync(wat)) execFileSync(process.execPath, [bin("wasm-dis"), file, ...FEATURES, "-o", wat], { stdio: "inherit" });
}
