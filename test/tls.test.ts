// Issue 15, "TLS everywhere" from the command line: `outpost cert` makes a CA, a server certificate and a device
// certificate (keys 0600 in a 0700 directory); `outpost serve --tls` serves HTTPS and MQTT over TLS only (the
// plaintext ports refuse); `outpost device run --url mqtts://... --cert --key` logs in with the certificate and
// answers a REST call made over HTTPS; the TLS flags' mistakes are one-line errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./support/mosquitto.ts";
import { httpsJson } from "./support/tls.ts";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const outpost = (...args: string[]) => run("node", ["bin/outpost.js", ...args], { cwd: root });
const children: ChildProcess[] = [];

/** Starts `outpost <args>` in its own process group; resolves once `ready` shows on stdout or stderr. */
async function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn("node", ["bin/outpost.js", ...args], { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  while (!ready.test(out)) {
    if (child.exitCode !== null) throw new Error(`outpost ${args[0]} exited: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, out: () => out };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  process.kill(-child.pid!, "SIGTERM");
  await exited;
}

const refusedConnection = (port: number) =>
  new Promise<string>((resolve) => {
    const s = netConnect(port, "127.0.0.1", () => {
      s.destroy();
      resolve("connected");
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });

let data: string;
let port: number;
let mqttPort: number;
let mqttsPort: number;
let key: string;

beforeAll(async () => {
  data = mkdtempSync(join(tmpdir(), "outpost-tls-cli-"));
  [port, mqttPort, mqttsPort] = [await freePort(), await freePort(), await freePort()];
});
afterAll(async () => {
  for (const c of children.splice(0)) await stop(c);
});

describe("outpost cert", () => {
  it("makes a CA and a server certificate, keys 0600 in a 0700 directory", async () => {
    await outpost("cert", "ca", "--data", data);
    const { stdout } = await outpost("cert", "server", "localhost", "127.0.0.1", "--data", data, "--json");
    expect(JSON.parse(stdout).names).toEqual(["localhost", "127.0.0.1"]);
    expect(statSync(join(data, "tls")).mode & 0o777).toBe(0o700);
    expect(statSync(join(data, "tls", "ca.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(data, "tls", "server.key")).mode & 0o777).toBe(0o600);
    await expect(outpost("cert", "ca", "--data", data)).rejects.toMatchObject({ stderr: expect.stringMatching(/exists: --force replaces it/) });
  });

  it("device add --cert issues a pinned certificate naming the device", async () => {
    const { stdout } = await outpost("device", "add", "cli-dev", "--cert", "--data", data, "--json");
    const added = JSON.parse(stdout);
    expect(added.certificate.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(added.certificate.key).mode & 0o777).toBe(0o600);
    const list = JSON.parse((await outpost("cert", "list", "cli-dev", "--data", data, "--json")).stdout);
    expect(list.map((c: { fingerprint: string }) => c.fingerprint)).toEqual([added.certificate.fingerprint]);
    key = JSON.parse((await outpost("key", "create", "--data", data, "--json")).stdout).key;
  });

  it("--cert without a CA is refused before the device is added", async () => {
    const empty = mkdtempSync(join(tmpdir(), "outpost-tls-noca-"));
    await expect(outpost("device", "add", "x", "--cert", "--data", empty)).rejects.toMatchObject({ stderr: expect.stringMatching(/--cert needs a CA/) });
    expect(existsSync(join(empty, "outpost.db"))).toBe(false); // nothing was registered
  });
});

describe("outpost serve --tls and device run over mqtts://", () => {
  it("serves TLS only; the device logs in with its certificate; REST over HTTPS reaches it", async () => {
    const ports = ["--port", String(port), "--mqtt-port", String(mqttPort), "--mqtts-port", String(mqttsPort)];
    const { out } = await start(["serve", "--tls", "--data", data, ...ports], /outpost is running/);
    expect(out()).toContain(`https://127.0.0.1:${port}/api/v1, MQTT mqtts://127.0.0.1:${mqttsPort}`);
    expect(await refusedConnection(mqttPort)).toBe("ECONNREFUSED"); // no plaintext MQTT unless --plaintext
    const tls = join(data, "tls");
    await start(
      [
        "device",
        "run",
        "--id",
        "cli-dev",
        "--url",
        `mqtts://localhost:${mqttsPort}`,
        "--ca",
        join(tls, "ca.crt"),
        "--cert",
        join(tls, "devices", "cli-dev.crt"),
        "--key",
        join(tls, "devices", "cli-dev.key"),
      ],
      /serving JSON-RPC/,
    );
    const ca = readFileSync(join(tls, "ca.crt"), "utf8");
    let res = { status: 0, body: undefined as unknown };
    for (let i = 0; i < 100 && res.status !== 200; i++) {
      res = await httpsJson(`https://localhost:${port}/api/v1/devices/cli-dev/rpc/echo`, { ca, headers: { authorization: `Bearer ${key}` }, json: ["hi"] });
      if (res.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(res).toMatchObject({ status: 200, body: { result: ["hi"] } });
    // Revoked by another process (the CLI): the running backend drops the device within a moment.
    expect((await outpost("cert", "revoke", "cli-dev", "--data", data)).stdout).toContain("revoked 1 certificate(s) of cli-dev");
    // A call in flight when the link is cut was delivered and gets 504; once the device is gone, 503.
    const seen = new Set<number>();
    for (let i = 0; i < 200 && res.status !== 503; i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await httpsJson(`https://localhost:${port}/api/v1/devices/cli-dev/rpc/echo`, { ca, headers: { authorization: `Bearer ${key}` }, json: ["hi"] });
      seen.add(res.status);
    }
    expect(res.status).toBe(503);
    expect([...seen].filter((s) => s !== 200 && s !== 503 && s !== 504)).toEqual([]);
  });

  it("device rotate gives a new password and keeps the old one for --grace", async () => {
    const { stdout } = await outpost("device", "rotate", "cli-dev", "--grace", "60", "--data", data, "--json");
    const rotated = JSON.parse(stdout);
    expect(rotated.credential).toEqual(expect.any(String));
    expect(Date.parse(rotated.previous_valid_until)).toBeGreaterThan(Date.now() + 50_000);
    await expect(outpost("device", "rotate", "cli-dev", "--grace", "999999", "--data", data)).rejects.toMatchObject({
      stderr: expect.stringMatching(/--grace is at most 604800 seconds/),
    });
    await expect(outpost("device", "rotate", "nobody", "--data", data)).rejects.toMatchObject({ stderr: expect.stringMatching(/no device nobody/) });
  });

  it("names the TLS flags' mistakes in one line", async () => {
    await expect(outpost("serve", "--tls-cert", "/nonexistent.crt", "--data", data)).rejects.toMatchObject({
      stderr: expect.stringMatching(/TLS needs both a certificate and its key/),
    });
    const loose = join(data, "loose.key");
    writeFileSync(loose, readFileSync(join(data, "tls", "server.key")), { mode: 0o644 });
    await expect(
      outpost("serve", "--tls-cert", join(data, "tls", "server.crt"), "--tls-key", loose, "--data", data, "--port", String(await freePort())),
    ).rejects.toMatchObject({ stderr: expect.stringMatching(/open to group or others .*chmod 600/) });
    await expect(outpost("serve", "--plaintext", "--data", data)).rejects.toMatchObject({ stderr: expect.stringMatching(/go with TLS/) });
    await expect(outpost("device", "run", "--id", "d", "--url", "mqtt://127.0.0.1:1", "--ca", "x")).rejects.toMatchObject({
      stderr: expect.stringMatching(/go with an mqtts:\/\/ or wss:\/\//),
    });
  });
});
