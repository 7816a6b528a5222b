// Builds the installable package into dist/: JavaScript and declarations from host/ (tsc,
// .ts imports rewritten to .js), the modules and native addon beside them where host/ looks
// for them, and a CLI entry that needs no TypeScript loader.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });

// host/engine.ts reads ../build/*.wasm and host/native/index.ts ./build/wasm3.node.
const assets = ["build/device.wasm", "build/device.debug.wasm", "build/codec.wasm", "build/codec.debug.wasm"];
const addon = "host/native/build/wasm3.node";
if (existsSync(join(root, addon))) assets.push(addon);
for (const file of assets) {
  mkdirSync(dirname(join(dist, file)), { recursive: true });
  copyFileSync(join(root, file), join(dist, file));
}

// host/server/dashboard.ts serves ../../build/dashboard (npm run build:dashboard makes it).
if (existsSync(join(root, "build/dashboard"))) cpSync(join(root, "build/dashboard"), join(dist, "build/dashboard"), { recursive: true });

mkdirSync(join(dist, "bin"));
const cli = join(dist, "bin/outpost.js");
writeFileSync(
  cli,
  `#!/usr/bin/env node
// A broker worker the backend forked starts here too.
import cluster from "node:cluster";

if (cluster.isWorker) await import("../host/broker/cluster-worker.js");
else await import("../host/cli/main.js");
`,
);
chmodSync(cli, 0o755);
