// The loader seam (boards/common/outpost_internal.h) under both engines: load a module from its
// bytes, tear it down, load it again, as many times as a board wants (module slots and updates
// build on this), with a fresh module each time; calls after the unload fail by name; broken
// bytes fail the load and leave the runtime able to load good ones. test/support/reload_check.c
// is linked with the posix board's runtime objects for each engine (npm run build:boards).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../", import.meta.url));
const common = `${root}boards/common`;
const deviceWasm = `${root}build/device.wasm`;
const sources = (name: string) => readFileSync(`${common}/${name}`, "utf8").trim().split("\n");

function link(engine: "wasm3" | "aot"): string {
  const build = `${root}boards/posix/build${engine === "aot" ? "/aot" : ""}`;
  execFileSync("flock", [`${root}boards/posix/build/.make.lock`, "make", "-s", "-C", `${root}boards/posix`, `ENGINE=${engine}`], {
    stdio: "ignore",
  });
  const objects = [...sources("runtime.sources"), ...sources(`engine-${engine}.sources`)].map((c) => `${build}/common/${c.replace(/\.c$/, ".o")}`);
  const engineObjects = engine === "aot" ? [`${build}/aot/device.o`] : [`${build}/libwasm3.a`];
  const program = join(mkdtempSync(join(tmpdir(), `outpost-reload-${engine}-`)), "reload_check");
  execFileSync("cc", [
    "-std=gnu11",
    "-Wall",
    "-Werror",
    `-I${common}`,
    `${root}test/support/reload_check.c`,
    ...objects,
    ...engineObjects,
    "-lm",
    "-o",
    program,
  ]);
  return program;
}

describe.each(["wasm3", "aot"] as const)("the loader under %s", (engine) => {
  let program = "";
  beforeAll(() => {
    program = link(engine);
  }, 120_000);

  it("loads, answers, unloads and loads again with a fresh module; refuses calls after unload; recovers from broken bytes", () => {
    const r = spawnSync(program, [deviceWasm], { encoding: "utf8", timeout: 10_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const responses = lines.filter((l) => l.startsWith("response ")).map((l) => JSON.parse(l.slice(9)));
    expect(responses).toHaveLength(7);
    const echoes = responses.filter((x) => x.id === 1);
    const infos = responses.filter((x) => x.id === 2).map((x) => x.result);
    expect(echoes).toEqual(Array(3).fill({ jsonrpc: "2.0", result: ["again"], id: 1 }));
    // Each load starts the module from scratch: the same memory in use after the same requests.
    expect(new Set(infos.map((i) => i.memory_used)).size).toBe(1);
    expect(infos[0]).toMatchObject({ engine, board: "reload" });
    expect(lines).toContain("after unload: -1 the module has no export abi_version");
    expect(lines).toContain("broken bytes: -1");
    expect(responses[6]).toEqual({ jsonrpc: "2.0", result: ["after a failed load"], id: 3 });
  });
});
