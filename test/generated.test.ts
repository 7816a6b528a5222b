// Generated sources are current, and the ABI table says what the modules really export
// and import. Every copy of the ABI (assembly/abi.ts, host/abi-table.ts, outpost_abi.h,
// ABI.md's tables) comes from assembly/abi.json.
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { errCode, errName } from "../host/abi.ts";
import { ERR_NAMES } from "../host/abi-table.ts";
import { wasmBytes, type Build } from "../host/engine.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const table = JSON.parse(readFileSync(join(root, "assembly/abi.json"), "utf8"));
const generators = ["tools/gen-abi.mjs", "tools/gen-mqtt-tables.mjs", "assembly/json/gen-text.mjs", "assembly/ws/gen-text.mjs"];

describe("generated sources", () => {
  it.each(generators)("%s --check finds nothing stale", async (script) => {
    await run(process.execPath, [script, "--check"], { cwd: root });
  });

  it("--check fails and names every stale file after the table changes", async () => {
    const copy = mkdtempSync(join(tmpdir(), "outpost-abi-"));
    for (const path of ["tools", "assembly/abi.json", "assembly/abi.ts", "assembly/ABI.md", "host/abi-table.ts", "boards/common/outpost_abi.h", "docs/ota.md"])
      cpSync(join(root, path), join(copy, path), { recursive: true });
    const changed = structuredClone(table);
    changed.errors.find((e: { name: string }) => e.name === "OutboxFull").name = "QueueFull";
    changed.otaErrors.find((e: { name: string }) => e.name === "busy").code = -32099;
    writeFileSync(join(copy, "assembly/abi.json"), JSON.stringify(changed));
    const failure = await run(process.execPath, ["tools/gen-abi.mjs", "--check"], { cwd: copy }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure?.code).toBe(1);
    for (const file of ["assembly/abi.ts", "host/abi-table.ts", "boards/common/outpost_abi.h", "assembly/ABI.md", "docs/ota.md"])
      expect(failure?.stderr).toContain(file);
  });
});

describe("assembly/abi.json against the built modules", () => {
  const layers: Record<string, string[]> = { release: ["core", "client", "rpc", "device"], codec: ["core", "codec"] };
  it.each(["release", "codec"] as Build[])("build %s exports exactly the table's exports of its layers", (build) => {
    const module = new WebAssembly.Module(new Uint8Array(wasmBytes(build)));
    const exported = WebAssembly.Module.exports(module).map((e) => e.name);
    const listed = layers[build].flatMap((layer) => table.exports[layer].map((e: { name: string }) => e.name));
    expect(exported.sort()).toEqual(listed.sort());
  });

  it("the device module imports exactly outpost.log and outpost.host_call, as the table lists them", () => {
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(new Uint8Array(wasmBytes("release")))).map((i) => `${i.module}.${i.name}`);
    expect(imports.sort()).toEqual(
      table.imports
        .map((i: { name: string }) => i.name)
        .filter((n: string) => n !== "env.abort")
        .sort(),
    );
  });

  it("codes are unique within each table", () => {
    for (const [name, rows, key] of [
      ["errors", table.errors, "code"],
      ["events", table.events, "code"],
      ["clientConfig", table.clientConfig, "key"],
      ["rpcErrors", table.rpcErrors, "code"],
    ] as const) {
      const values = rows.map((r: Record<string, number>) => r[key]);
      expect(new Set(values).size, name).toBe(values.length);
    }
  });
});

describe("error names", () => {
  it("host/abi-table.ts names every error of the table", () => {
    expect(Object.keys(ERR_NAMES).length).toBe(table.errors.length);
    for (const e of table.errors) expect(errName(e.code)).toBe(e.name);
  });

  it("errName takes the negated return value and errCode inverts it", () => {
    expect(errName(-6)).toBe("ReservedFlags");
    expect(errName(6)).toBe("ReservedFlags");
    expect(errCode("ReservedFlags")).toBe(6);
    expect(() => errCode("NoSuchError")).toThrow(RangeError);
  });
});
