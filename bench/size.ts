// Release size of each content set the size targets count (issues 2 and 3), each
// built from its entry files with the exact release options of its asconfig: the
// device build (asconfig.json: the client side of the codec) and the whole-codec
// build (asconfig.codec.json: both halves, for Node's outpost/codec). The WebSocket
// transport (assembly/ws) ships in the module but is not counted by the targets: the
// sets below the full module are built with `--use OUTPOST_NO_WS=1`
// (assembly/build.ts), which leaves out its code and its data segments. Each build
// then gets the release post pass (assembly/wasm-opt.mjs), as `npm run build:wasm` does.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));

export interface ContentSet {
  name: string;
  config: "asconfig.json" | "asconfig.codec.json";
  entries: string[];
  noWebSocket: boolean;
  /** More --use flags (assembly/features.ts). */
  use?: string[];
  /** The asconfig target built (default release); its flags and file name as npm run build:wasm has them. */
  ascTarget?: string;
  target?: number;
}

export const CONTENT_SETS: ContentSet[] = [
  { name: "codec, both halves (build/codec.wasm)", config: "asconfig.codec.json", entries: ["assembly/mqtt/exports.ts"], noWebSocket: true },
  { name: "codec+client", config: "asconfig.json", entries: ["assembly/size/codec-client.ts"], noWebSocket: true, target: 12288 },
  {
    name: "codec+client+json+rpc+device",
    config: "asconfig.json",
    entries: ["assembly/size/device-app.ts"],
    noWebSocket: true,
    target: 16384,
  },
  { name: "full module (build/device.wasm)", config: "asconfig.json", entries: ["assembly/index.ts"], noWebSocket: false },
  // asconfig.json's mqtt311 target (issue 20): what a board that needs neither WebSocket, MQTT 5 nor QoS 2 carries.
  { name: "lean module (build/device-mqtt311.wasm)", config: "asconfig.json", entries: ["assembly/index.ts"], noWebSocket: false, ascTarget: "mqtt311" },
];

/**
 * Bytes of a build of `entries` with `target` (default release) and the options of `config` (its
 * outFile's directory replaced, its file name kept: the post pass goes by it), after the post pass.
 */
export function releaseSize(config: string, entries: string[], extraArgs: string[] = [], target = "release"): number {
  const dir = mkdtempSync(join(tmpdir(), "outpost-size-"));
  try {
    const name = target === "release" ? "part.wasm" : basename(JSON.parse(readFileSync(join(root, config), "utf8")).targets[target].outFile);
    const out = join(dir, name);
    const tmpConfig = join(dir, "asconfig.json");
    const outputs = { outFile: out, textFile: out.replace(/\.wasm$/, ".wat") };
    writeFileSync(tmpConfig, JSON.stringify({ extends: join(root, config), targets: { [target]: outputs } }));
    execFileSync(join(root, "node_modules/.bin/asc"), [...entries, "--config", tmpConfig, "--target", target, ...extraArgs], {
      cwd: root,
      stdio: "pipe",
    });
    // The release builds' post pass (npm run build:wasm runs it too).
    execFileSync(process.execPath, [join(root, "assembly/wasm-opt.mjs"), out], { cwd: root, stdio: "pipe" });
    return statSync(out).size;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function contentSetSize(set: ContentSet): number {
  const use = [...(set.noWebSocket ? ["OUTPOST_NO_WS=1"] : []), ...(set.use ?? [])];
  return releaseSize(
    set.config,
    set.entries,
    use.flatMap((u) => ["--use", u]),
    set.ascTarget,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = CONTENT_SETS.map((set) => ({ set, bytes: contentSetSize(set) }));
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`${pad("content set", 42)}${pad("bytes", 8)}${pad("target", 8)}ratio (bytes/target)`);
  for (const { set, bytes } of rows) {
    const ratio = set.target ? (bytes / set.target).toFixed(3) + (bytes <= set.target ? " ok" : " OVER") : "-";
    console.log(`${pad(set.name, 42)}${pad(String(bytes), 8)}${pad(set.target ? String(set.target) : "-", 8)}${ratio}`);
  }
  const [codec, client, device, full, lean] = rows.map((r) => r.bytes);
  console.log(`lean / full module: ${(lean / full).toFixed(3)}`);
  console.log(JSON.stringify({ codec_bytes: codec, codec_client_bytes: client, device_app_bytes: device, module_bytes: full, lean_module_bytes: lean }));
}
