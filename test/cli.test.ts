// The outpost CLI as a user runs it: npm start's printed curl, device/key commands while the server runs
// and while it is stopped, call, sim, and the mosquitto generator.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./support/mosquitto.ts";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const outpost = (...args: string[]) => run("node", ["bin/outpost.js", ...args], { cwd: root });
const outpostFails = (...args: string[]) =>
  outpost(...args).then(
    () => ({ code: 0, stderr: "" }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );

let server: ChildProcess;
let data: string;
let url: string;
let mqttPort: number;
let stdout = "";

async function startServer(args: string[]): Promise<void> {
  stdout = "";
  // npm start is "node bin/outpost.js serve --demo"; extra flags only pick free ports and a temp data dir.
  server = spawn("npm", ["start", "--", ...args], { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout!.on("data", (d) => (stdout += d));
  server.stderr!.on("data", () => {});
  while (!/^\s+curl .*$/m.test(stdout)) {
    if (server.exitCode !== null) throw new Error(`npm start exited: ${stdout}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopServer(): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once("exit", r));
  process.kill(-server.pid!, "SIGTERM");
  await exited;
}

beforeAll(async () => {
  data = mkdtempSync(join(tmpdir(), "outpost-cli-"));
  const port = await freePort();
  mqttPort = await freePort();
  url = `http://127.0.0.1:${port}`;
  await startServer(["--port", String(port), "--mqtt-port", String(mqttPort), "--data", data]); // loopback by default
});

afterAll(async () => {
  await stopServer();
});

describe("npm start", () => {
  it("prints the URL, a fresh API key and a curl command that works exactly as printed", async () => {
    expect(stdout).toContain(`${url}/api/v1`);
    expect(stdout).toMatch(/API key\s+opk_[0-9a-f]{16}_\S+/);
    const curl = /^\s+(curl .*)$/m.exec(stdout)![1];
    const { stdout: answer } = await run("sh", ["-c", curl]);
    expect(JSON.parse(answer)).toEqual({ jsonrpc: "2.0", id: 1, result: ["hello from outpost"] });
  });
});

describe("device and key commands while the server runs", () => {
  let key: string;

  it("key create --json prints {key}, and the running server accepts the key", async () => {
    key = JSON.parse((await outpost("key", "create", "--data", data, "--json")).stdout).key;
    expect(key).toMatch(/^opk_/);
    const res = await fetch(`${url}/api/v1/devices`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
  });

  it("device add --json prints {id, credential}; the server sees the device; list and remove work", async () => {
    const added = JSON.parse((await outpost("device", "add", "cli-dev", "--data", data, "--json")).stdout);
    expect(added).toEqual({ id: "cli-dev", credential: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/) });
    const res = await fetch(`${url}/api/v1/devices/cli-dev`, { headers: { authorization: `Bearer ${key}` } });
    expect((await res.json()).id).toBe("cli-dev");
    const listed = JSON.parse((await outpost("device", "list", "--data", data, "--json")).stdout);
    expect(listed.map((d: { id: string }) => d.id)).toEqual(["cli-dev", "demo"]);
    expect(JSON.parse((await outpost("device", "remove", "cli-dev", "--data", data, "--json")).stdout)).toEqual({ id: "cli-dev", removed: true });
    expect(await outpostFails("device", "remove", "cli-dev", "--data", data)).toEqual({ code: 1, stderr: "outpost: no device cli-dev\n" });
    expect((await outpostFails("device", "add", "a/b", "--data", data)).code).toBe(1);
  });

  it("refuses --mqtt-workers with --broker: the external broker holds the connections", async () => {
    const both = await outpostFails("serve", "--broker", "mqtt://127.0.0.1:1", "--mqtt-workers", "2", "--data", data);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/--mqtt-workers.*cannot be used with.*--broker/);
  });

  it("call prints the device's JSON-RPC response; without a key it says how to get one", async () => {
    const { stdout: out } = await outpost("call", "demo", "echo", '["x",2]', "--url", url, "--key", key);
    expect(JSON.parse(out)).toEqual({ jsonrpc: "2.0", id: 1, result: ["x", 2] });
    const env = { ...process.env, OUTPOST_KEY: key, OUTPOST_URL: url };
    const viaEnv = await run("node", ["bin/outpost.js", "call", "demo", "sys.info"], { cwd: root, env });
    expect(JSON.parse(viaEnv.stdout).result).toBeTruthy();
    const noKey = await run("node", ["bin/outpost.js", "call", "demo", "echo", "--url", url], { cwd: root, env: { ...process.env, OUTPOST_KEY: "" } }).catch(
      (e) => e,
    );
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/API key is needed/);
    const offline = await outpostFails("call", "nobody", "echo", "--url", url, "--key", key);
    expect(offline.code).toBe(1);
  });

  it("sim connects a fleet, prints a summary, and removes the devices afterwards", async () => {
    // No --duration: the summary comes once the fleet is up, however loaded the machine; then SIGINT ends it.
    const sim = spawn("node", ["bin/outpost.js", "sim", "--count", "20", "--url", url, "--key", key, "--mqtt", `mqtt://127.0.0.1:${mqttPort}`, "--json"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    sim.stdout!.on("data", (d) => (out += d));
    while (!/^\{"devices"/m.test(out)) {
      if (sim.exitCode !== null) throw new Error(`sim exited: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const exited = new Promise((r) => sim.once("exit", r));
    sim.kill("SIGINT");
    await exited;
    expect(JSON.parse(out.trim().split("\n").at(-1)!)).toMatchObject({ devices: 20, connected: 20, failed: 0 });
    const listed = JSON.parse((await outpost("device", "list", "--data", data, "--json")).stdout);
    expect(listed.map((d: { id: string }) => d.id)).toEqual(["demo"]);
  }, 60_000);
});

describe("with the server stopped", () => {
  it("device and key commands work on the data directory alone, and the demo's state was saved", async () => {
    await stopServer();
    const listed = JSON.parse((await outpost("device", "list", "--data", data, "--json")).stdout);
    expect(listed).toEqual([expect.objectContaining({ id: "demo", online: false, last_seen: expect.any(String) })]);
    expect(JSON.parse((await outpost("device", "add", "offline-add", "--data", data, "--json")).stdout).id).toBe("offline-add");
    expect(JSON.parse((await outpost("key", "create", "--data", data, "--json")).stdout).key).toMatch(/^opk_/);
  });

  it("broker mosquitto writes the password file and ACL from the registry", async () => {
    const out = join(data, "mosq");
    const res = JSON.parse((await outpost("broker", "mosquitto", "--data", data, "--out", out, "--json")).stdout);
    expect(res.conf).toContain("allow_anonymous false");
    const passwd = readFileSync(join(out, "passwd"), "utf8");
    expect(passwd).toMatch(/^outpost-backend:\$7\$101\$/m);
    expect(passwd).toMatch(/^demo:\$7\$101\$/m);
    expect(passwd).toMatch(/^offline-add:\$7\$101\$/m);
    expect(readFileSync(join(out, "acl"), "utf8")).toContain("pattern read devices/%u/rx");
  });
});
