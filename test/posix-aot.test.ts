// The native device with the AOT engine (make -C boards/posix ENGINE=aot): build/device.wasm
// translated by wasm2c and compiled in. It answers like the wasm3 device (test/posix-mqtt.test.ts
// runs both against mosquitto); here, what only the AOT engine does: it runs the module it was
// built from, with or without the bytes, and refuses any other module by name instead of running it.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const boardDir = fileURLToPath(new URL("../boards/posix/", import.meta.url));
const program = `${boardDir}build/aot/outpost-device`;
const deviceWasm = fileURLToPath(new URL("../build/device.wasm", import.meta.url));
const echo = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: ["aot"] });

beforeAll(() => {
  mkdirSync(`${boardDir}build`, { recursive: true });
  execFileSync("flock", [`${boardDir}build/.make.lock`, "make", "-s", "-C", boardDir, "ENGINE=aot"], { stdio: "ignore" });
}, 120_000);

const run = (args: string[]) => spawnSync(program, args, { encoding: "utf8", timeout: 10_000 });

describe("outpost-device, AOT engine", () => {
  it("runs the module it was built from, given its bytes", () => {
    const r = run(["--call", echo, "--module", deviceWasm]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ jsonrpc: "2.0", result: ["aot"], id: 1 });
    const info = JSON.parse(run(["--call", JSON.stringify({ jsonrpc: "2.0", id: 2, method: "sys.info" })]).stdout).result;
    expect(info).toMatchObject({ engine: "aot", board: "posix" });
  });

  it("refuses a different module (one byte changed, or cut short) by name and exits 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-aot-"));
    const bytes = readFileSync(deviceWasm);
    const changed = Buffer.from(bytes);
    changed[changed.length - 1] ^= 1;
    for (const [name, module] of [
      ["changed.wasm", changed],
      ["short.wasm", bytes.subarray(0, 100)],
    ] as const) {
      writeFileSync(join(dir, name), module);
      const r = run(["--call", echo, "--module", join(dir, name)]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`this firmware's AOT engine runs only the module it was built from (${bytes.length} bytes`);
    }
  });
});
