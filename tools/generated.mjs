// Writes a generated file, or with --check on the command line only compares it and
// records that it is stale; `finish()` then exits 1 naming every stale file.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";

const check = process.argv.includes("--check");
const stale = [];

export function writeGenerated(path, text) {
  const current = existsSync(path) ? readFileSync(path, "utf8") : undefined;
  if (current === text) return;
  if (check) stale.push(relative(process.cwd(), path));
  else writeFileSync(path, text);
}

export function finish() {
  if (stale.length === 0) return;
  console.error(`stale generated files (run npm run generate): ${stale.join(", ")}`);
  process.exit(1);
}
