// The CLI against user mistakes and a shared backend: one clear line and a non-zero exit for each mistake,
// a --data typo that creates nothing, and a simulator that touches only the devices it created.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Backend } from "../host/server/backend.ts";
import { freePort } from "./support/mosquitto.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
/** Runs the CLI; resolves with its exit code and output whether it failed or not. */
const outpost = (...args: string[]) =>
  run("node", ["bin/outpost.js", ...args], { cwd: root, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

let backend: Backend;
let key: string;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

beforeAll(async () => {
  backend = await startTestBackend("cli-errors");
  key = backend.registry.createApiKey().key;
});
afterAll(async () => {
  await backend?.close();
});

/** One line on stderr that names the mistake, no stack trace, exit code non-zero. */
function expectOneLine(res: { code: number; stderr: string }, pattern: RegExp) {
  expect(res.code).not.toBe(0);
  expect(res.stderr).not.toMatch(/^\s+at /m);
  const lines = res.stderr
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("{")); // pino log lines of serve are JSON
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe("user mistakes", () => {
  it("a bad number: --timeout abc, --port abc, --count abc", async () => {
    expectOneLine(await outpost("call", "d", "echo", "--timeout", "abc", "--key", "k"), /--timeout.*not a positive integer: abc/);
    expectOneLine(await outpost("serve", "--port", "abc"), /--port.*not a port.*abc/);
    expectOneLine(await outpost("sim", "--count", "abc", "--key", "k"), /--count.*not a positive integer: abc/);
    expectOneLine(await outpost("device", "run", "--id", "a", "--url", "mqtt://127.0.0.1:1", "--telemetry", "x"), /--telemetry.*x/);
  });

  it("an unsupported URL scheme", async () => {
    expectOneLine(await outpost("call", "d", "echo", "--url", "ftp://127.0.0.1", "--key", "k"), /unsupported URL scheme ftp:.*http:\/\//);
    expectOneLine(await outpost("sim", "--mqtt", "http://127.0.0.1:1883", "--key", "k"), /unsupported URL scheme http:.*mqtt:\/\//);
    expectOneLine(await outpost("device", "run", "--id", "a", "--url", "tcp://127.0.0.1:1883"), /unsupported URL scheme tcp:/);
    expectOneLine(await outpost("serve", "--broker", "redis://127.0.0.1"), /unsupported URL scheme redis:/);
  });

  it("a port in use", async () => {
    const data = mkdtempSync(join(tmpdir(), "outpost-inuse-"));
    const res = await outpost(
      "serve",
      "--port",
      String(backend.port),
      "--mqtt-port",
      String(await freePort()),
      "--host",
      "127.0.0.1",
      "--data",
      data,
      "--log-level",
      "silent",
    );
    expectOneLine(res, new RegExp(`127\\.0\\.0\\.1:${backend.port} is already in use.*--port`));
  });

  it("an unreachable --broker", async () => {
    const data = mkdtempSync(join(tmpdir(), "outpost-nobroker-"));
    const res = await outpost("serve", "--port", "0", "--broker", "mqtt://127.0.0.1:9", "--data", data, "--log-level", "silent");
    expectOneLine(res, /cannot reach the broker mqtt:\/\/127\.0\.0\.1:9/);
  });

  it("--data that is a file", async () => {
    expectOneLine(await outpost("device", "list", "--data", "/etc/passwd"), /--data \/etc\/passwd is not a directory/);
    expectOneLine(await outpost("key", "create", "--data", "/etc/passwd"), /is not a directory/);
    expectOneLine(await outpost("serve", "--port", "0", "--mqtt-port", "0", "--data", "/etc/passwd"), /is not a directory/);
  });

  it("a --data typo for a read-only command says no registry exists there and creates nothing", async () => {
    const missing = join(mkdtempSync(join(tmpdir(), "outpost-typo-")), "nonexistent");
    expectOneLine(await outpost("device", "list", "--data", missing), /no registry in .*nonexistent/);
    expectOneLine(await outpost("device", "remove", "x", "--data", missing), /no registry/);
    expectOneLine(await outpost("broker", "mosquitto", "--data", missing), /no registry/);
    expect(existsSync(missing)).toBe(false);
  });
});

describe("sim", () => {
  const simArgs = (...more: string[]) => ["sim", "--url", backend.url, "--key", key, "--mqtt", backend.mqttUrl, ...more];

  it("never touches a device it did not create: a taken id is skipped, the device keeps its credential and metadata", async () => {
    const mine = await api("/api/v1/devices", { method: "POST", json: { id: "pump-1", metadata: { owner: "plant" } } });
    expect(mine.status).toBe(201);
    const res = await outpost(...simArgs("--id-prefix", "pump", "--count", "1", "--duration", "1", "--json"));
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout.trim().split("\n").at(-1)!)).toMatchObject({ devices: 1, connected: 1, ids: { first: "pump-2" } });
    const after = await api("/api/v1/devices/pump-1");
    expect(after.body.metadata).toEqual({ owner: "plant" });
    expect(await backend.registry.verifyDevice("pump-1", mine.body.credential)).toBe(true);
    expect((await api("/api/v1/devices/pump-2")).status).toBe(404); // its own, removed at exit
  });

  it("an unreachable --mqtt: stops at --duration with a message, non-zero, and removes its devices", async () => {
    const res = await outpost(
      ...simArgs("--id-prefix", "lost", "--count", "2", "--duration", "2").map((a) => (a === backend.mqttUrl ? "mqtt://127.0.0.1:9" : a)),
    );
    expectOneLine(
      {
        code: res.code,
        stderr: res.stderr
          .split("\n")
          .filter((l) => !/^(register|connect)/.test(l.trim()))
          .join("\n"),
      },
      /no device could connect to mqtt:\/\/127\.0\.0\.1:9/,
    );
    const left = (await api("/api/v1/devices")).body.map((d: { id: string }) => d.id);
    expect(left.filter((id: string) => id.startsWith("lost-"))).toEqual([]);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`removes its devices when stopped with ${signal}, while connected and while still connecting`, async () => {
      for (const [prefix, mqtt, ready] of [
        [`up-${signal}`, backend.mqttUrl, /devices online/],
        [`down-${signal}`, "mqtt://127.0.0.1:9", /register: 1\/1/],
      ] as const) {
        const child = spawn("node", ["bin/outpost.js", ...simArgs("--id-prefix", prefix, "--count", "1").map((a) => (a === backend.mqttUrl ? mqtt : a))], {
          cwd: root,
        });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        await waitFor(() => ready.test(out) || child.exitCode !== null);
        expect((await api(`/api/v1/devices/${prefix}-1`)).status).toBe(200);
        const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
        child.kill(signal);
        await exited;
        expect((await api(`/api/v1/devices/${prefix}-1`)).status).toBe(404);
      }
    });
  }
});
