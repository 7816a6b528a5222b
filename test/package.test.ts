// The package as a user gets it: `npm pack`'s tarball installed into an empty directory, then
// its CLI, `import { Device } from "outpost"` and `outpost/codec` under plain Node (no TypeScript
// loader), and a Device from the package answering a REST call through the package's backend.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./support/mosquitto.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const app = mkdtempSync(join(tmpdir(), "outpost-package-"));
const outpost = (...args: string[]) => run(join(app, "node_modules/.bin/outpost"), args, { cwd: app });
const node = (script: string) => run(process.execPath, ["--input-type=module", "-e", script], { cwd: app });
let server: ChildProcess | undefined;

beforeAll(async () => {
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", app], { cwd: root });
  const tarball = join(app, JSON.parse(stdout)[0].filename);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  // Dependencies come from the npm cache the repository's install filled. Install scripts are
  // skipped so better-sqlite3 is not compiled a second time: its addon is the repository's
  // build of the same locked version.
  await run("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", tarball], { cwd: app });
  cpSync(join(root, "node_modules/better-sqlite3/build"), join(app, "node_modules/better-sqlite3/build"), { recursive: true });
}, 240_000);

afterAll(() => {
  server?.kill("SIGTERM");
});

describe("npm pack, installed into an empty directory", () => {
  it("ships JavaScript, declarations and the modules, not the sources", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json"], { cwd: root });
    const files: string[] = JSON.parse(stdout)[0].files.map((f: { path: string }) => f.path);
    expect(files).toEqual(expect.arrayContaining(["dist/host/index.js", "dist/host/index.d.ts", "dist/build/device.wasm", "dist/bin/outpost.js"]));
    expect(files.filter((f) => /^(host|assembly|test|boards)\//.test(f))).toEqual([]);
  });

  it("the CLI runs", async () => {
    const { stdout } = await outpost("--help");
    expect(stdout).toMatch(/serve/);
  });

  it("outpost/codec encodes and decodes", async () => {
    const { stdout } = await node(`
      import { encode, Decoder } from "outpost/codec";
      const bytes = encode({ cmd: "publish", topic: "a/b", payload: Buffer.from("hi"), qos: 0 });
      const [p] = new Decoder().push(bytes);
      console.log(JSON.stringify([Buffer.from(bytes).toString("hex"), p.cmd, p.topic, Buffer.from(p.payload).toString()]));`);
    expect(JSON.parse(stdout)).toEqual(["30070003612f626869", "publish", "a/b", "hi"]);
  });

  it("its declarations type-check a consumer's code", async () => {
    writeFileSync(
      join(app, "consumer.ts"),
      `import { Device, RpcError } from "outpost";
       import { encode, type Packet } from "outpost/codec";
       const packet: Packet = { cmd: "pingreq" };
       const bytes: Uint8Array = encode(packet);
       new Device({ id: "x", methods: { m: () => { throw new RpcError(1, "no"); } } });
       console.log(bytes.length);`,
    );
    const tsc = (file: string) =>
      run(
        join(root, "node_modules/.bin/tsc"),
        ["--noEmit", "--strict", "--module", "nodenext", "--types", "node", "--typeRoots", join(root, "node_modules/@types"), file],
        { cwd: app },
      );
    await tsc("consumer.ts");
    // The types are real, not any: a wrong id type is refused.
    writeFileSync(join(app, "wrong.ts"), `import { Device } from "outpost";\nnew Device({ id: 5, methods: {} });\n`);
    const wrong = await tsc("wrong.ts").then(
      () => "",
      (e: { stdout: string }) => e.stdout,
    );
    expect(wrong).toMatch(/wrong\.ts\(2,\d+\): error TS2322/);
  }, 60_000);

  it("a Device imported from the package answers a call through the package's backend", async () => {
    const data = join(app, "data");
    const [port, mqttPort] = [await freePort(), await freePort()];
    await outpost("device", "add", "pkg-1", "--data", data, "--json").then(({ stdout }) => writeFileSync(join(app, "cred.json"), stdout));
    const { key } = JSON.parse((await outpost("key", "create", "--data", data, "--json")).stdout);
    server = spawn(join(app, "node_modules/.bin/outpost"), ["serve", "--data", data, "--port", String(port), "--mqtt-port", String(mqttPort)], {
      cwd: app,
      stdio: "ignore",
    });
    const device = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { readFileSync } from "node:fs";
         import { Device } from "outpost";
         const { id, credential } = JSON.parse(readFileSync("cred.json", "utf8"));
         const device = new Device({ id, methods: { "pkg.hello": ([who]) => "hello " + who } });
         for (;;) {
           try { await device.connect("mqtt://127.0.0.1:${mqttPort}", { password: credential }); break; }
           catch { await new Promise((r) => setTimeout(r, 100)); }
         }`,
      ],
      { cwd: app, stdio: "ignore" },
    );
    try {
      let answer: unknown;
      for (let i = 0; i < 100 && answer === undefined; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/devices/pkg-1/rpc`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "pkg.hello", params: ["you"] }),
        }).catch(() => undefined);
        if (res?.status === 200) answer = await res.json();
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer).toEqual({ jsonrpc: "2.0", id: 7, result: "hello you" });
    } finally {
      device.kill("SIGTERM");
    }
  }, 30_000);
});
