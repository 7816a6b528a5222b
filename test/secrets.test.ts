// Secrets stay off the command line and out of the logs, and the backend serves only this machine unless told to
// serve others. Real CLI processes against a real backend; the kernel's socket table says who listens where.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import fc from "fast-check";
import { pino } from "pino";
import WebSocket from "ws";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { createLogger, redactUrl, secretSafe } from "../host/server/log.ts";
import { freePort } from "./support/mosquitto.ts";
import { listeningAddresses } from "./support/listening.ts";
import { startTestBackend, waitFor } from "./support/api.ts";
import { readSecretFile } from "../host/cli/secrets.ts";
import { CliError } from "../host/cli/common.ts";

const WRONG_KEY = "opk_0000000000000000_wrong-but-well-formed"; // shaped like a key: 403, not 401

const root = new URL("..", import.meta.url).pathname;
const cli = join(root, "bin/outpost.js");
/** The environment of a CLI run: none of the secret variables unless a test sets them. */
const baseEnv = () => {
  const env = { ...process.env };
  for (const name of ["OUTPOST_KEY", "OUTPOST_PASSWORD", "OUTPOST_BROKER_PASSWORD", "OUTPOST_HOST", "OUTPOST_URL"]) delete env[name];
  return env;
};

/** Runs the CLI to its end; resolves with its exit code and output whether it failed or not. */
function outpost(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("node", [cli, ...args], { cwd: root, env: { ...baseEnv(), ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A long-running CLI process (serve, device run) and everything it printed so far. */
interface Running {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  /** Resolves once stdout or stderr matches; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<void>;
  /** SIGTERM, then the exit. */
  stop(): Promise<void>;
}

const running = new Set<Running>();

function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn("node", [cli, ...args], { cwd: root, env: { ...baseEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (out.stdout += d));
  child.stderr!.on("data", (d) => (out.stderr += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const r: Running = {
    child,
    out,
    async waitFor(pattern) {
      while (!pattern.test(out.stdout) && !pattern.test(out.stderr)) {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before ${pattern}: ${out.stdout}${out.stderr}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    },
    async stop() {
      running.delete(r);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
  running.add(r);
  return r;
}

let backend: Backend;
let key: string;
let dir: string;

/** A file in the test's directory holding `text`, with `mode`. */
function secretFile(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

beforeAll(async () => {
  backend = await startTestBackend("secrets");
  key = backend.registry.createApiKey().key;
  dir = mkdtempSync(join(tmpdir(), "outpost-secrets-"));
});
afterAll(async () => {
  await Promise.all([...running].map((r) => r.stop()));
  await backend?.close();
});

/** The one line of stderr that is not a pino JSON line. */
const errorLine = (stderr: string) => stderr.split("\n").filter((l) => l && !l.startsWith("{"));

describe("every secret option also comes from a file or the environment: flag > file > env", () => {
  // A valid key gets as far as the device (none: 404); a wrong one is refused first (403).
  const call = (args: string[], env: Record<string, string> = {}) => outpost(["call", "nobody", "echo", "--url", backend.url, ...args], env);
  const accepted = (r: { stdout: string }) => expect(JSON.parse(r.stdout).error).toBe("unknown_device");
  const refused = (r: { stdout: string }) => expect(JSON.parse(r.stdout).error).toBe("forbidden");

  it("the API key from --key-file or from OUTPOST_KEY; the flag beats the file, and the file beats the variable", async () => {
    const right = secretFile("key-right", `${key}\n`);
    const wrong = secretFile("key-wrong", `${WRONG_KEY}\n`);
    const [file, env, flagOverFile, flagOverFile2, fileOverEnv, fileOverEnv2] = await Promise.all([
      call(["--key-file", right]),
      call([], { OUTPOST_KEY: key }),
      call(["--key", key, "--key-file", wrong]),
      call(["--key", WRONG_KEY, "--key-file", right]),
      call(["--key-file", right], { OUTPOST_KEY: WRONG_KEY }),
      call(["--key-file", wrong], { OUTPOST_KEY: key }),
    ]);
    accepted(file);
    accepted(env);
    accepted(flagOverFile);
    refused(flagOverFile2);
    accepted(fileOverEnv);
    refused(fileOverEnv2);
  });

  it("a secret file others may read is refused in one line that names it and says how to fix it", async () => {
    const r = await call(["--key-file", secretFile("key-0640", key, 0o640)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(""); // refused before any request
    expect(r.stderr).toMatch(/^outpost: --key-file \S+key-0640 is open to group or others \(mode 0640\): chmod 600 \S+key-0640\n$/);
  });

  it("reads one line, refuses a file group or others may use, an empty one, a missing one, a directory, two lines", () => {
    expect(readSecretFile(secretFile("ok", "s3cret\n"), "--x-file")).toBe("s3cret");
    expect(readSecretFile(secretFile("ok-crlf", "s3cret\r\n"), "--x-file")).toBe("s3cret");
    expect(readSecretFile(secretFile("ok-bare", " s3cret "), "--x-file")).toBe(" s3cret "); // only the newline goes
    expect(readSecretFile(secretFile("ok-0400", "s3cret", 0o400), "--x-file")).toBe("s3cret");
    const cases: [string, RegExp][] = [
      [secretFile("x-0640", "s", 0o640), /^--x-file \S+x-0640 is open to group or others \(mode 0640\): chmod 600 /],
      [secretFile("x-0604", "s", 0o604), /is open to group or others \(mode 0604\)/],
      [secretFile("x-0620", "s", 0o620), /is open to group or others \(mode 0620\)/],
      [secretFile("x-empty", "\n"), /^--x-file \S+x-empty is empty$/],
      [join(dir, "no-such-file"), /^cannot read --x-file \S+no-such-file: ENOENT/],
      [dir, /^--x-file \S+ is a directory, not a file$/],
      [secretFile("x-lines", "a\nb\n"), /x-lines holds more than one line/],
      [secretFile("x-big", "s".repeat(64 * 1024 + 1)), /x-big is larger than 64 KiB/],
    ];
    for (const [path, pattern] of cases) {
      expect(() => readSecretFile(path, "--x-file")).toThrow(CliError);
      expect(() => readSecretFile(path, "--x-file")).toThrow(pattern);
    }
  });

  it("sim takes its key the same way", async () => {
    // No --duration: the summary comes once the fleet is up, however long that takes; then Ctrl-C ends it.
    const sim = start([
      "sim",
      "--count",
      "1",
      "--json",
      "--url",
      backend.url,
      "--mqtt",
      backend.mqttUrl,
      "--id-prefix",
      "secret-sim",
      "--key-file",
      secretFile("sim-key", `${key}\n`),
    ]);
    await sim.waitFor(/^\{"devices"/m);
    await sim.stop();
    expect(JSON.parse(sim.out.stdout)).toMatchObject({ devices: 1, connected: 1 });
  });

  describe("device run: the credential from OUTPOST_PASSWORD or --password-file never shows in its command line", () => {
    async function runDevice(id: string, extraArgs: (credential: string) => string[], env: (credential: string) => Record<string, string>) {
      const { credential } = backend.registry.addDevice(id);
      const device = start(["device", "run", "--id", id, "--url", backend.mqttUrl, ...extraArgs(credential)], env(credential));
      await device.waitFor(/"msg":"serving JSON-RPC"/);
      await waitFor(() => backend.presence.isOnline(id));
      const cmdline = readFileSync(`/proc/${device.child.pid}/cmdline`, "utf8").split("\0");
      expect(cmdline).toContain(id); // it is this device's process
      expect(cmdline.join(" ")).not.toContain(credential);
      expect(device.out.stdout + device.out.stderr).not.toContain(credential);
      await device.stop();
    }

    it("from OUTPOST_PASSWORD", async () => {
      await runDevice(
        "secret-env",
        () => [],
        (credential) => ({ OUTPOST_PASSWORD: credential }),
      );
    });

    it("from --password-file, which beats a wrong OUTPOST_PASSWORD", async () => {
      await runDevice(
        "secret-file",
        (credential) => ["--password-file", secretFile("device-credential", `${credential}\n`)],
        () => ({ OUTPOST_PASSWORD: "wrong" }),
      );
    });
  });

  describe("serve: the external broker's password from --broker-password-file or OUTPOST_BROKER_PASSWORD", () => {
    // The test backend's embedded broker is the external broker; its backend password lets another backend in.
    const brokerUrl = () => `mqtt://127.0.0.1:${new URL(backend.mqttUrl).port}`;
    const serve = async (args: string[], env: Record<string, string> = {}) => {
      const data = mkdtempSync(join(tmpdir(), "outpost-secrets-serve-"));
      return start(["serve", "--port", String(await freePort()), "--data", data, "--broker", brokerUrl(), ...args], env);
    };

    it("from the file, or from the variable; not on the command line", async () => {
      const password = backend.registry.backendPassword();
      const servers = [
        await serve(["--broker-password-file", secretFile("broker-password", `${password}\n`)]),
        await serve([], { OUTPOST_BROKER_PASSWORD: password }),
      ];
      await Promise.all(
        servers.map(async (s) => {
          await s.waitFor(/^outpost is running/m);
          expect(readFileSync(`/proc/${s.child.pid}/cmdline`, "utf8")).not.toContain(password);
          await s.stop();
        }),
      );
    });

    it("a wrong one is refused by the broker, one line without the password", async () => {
      const s = await serve([], { OUTPOST_BROKER_PASSWORD: "not-the-password" });
      await s.waitFor(/outpost: cannot reach the broker/);
      expect(errorLine(s.out.stderr)).toEqual([expect.stringMatching(/^outpost: cannot reach the broker mqtt:\/\/127\.0\.0\.1:\d+: /)]);
      await s.stop();
    });

    it("--broker-password-file without --broker is a mistake", async () => {
      const r = await outpost(["serve", "--broker-password-file", secretFile("lonely", "x"), "--data", dir]);
      expect(r.code).toBe(1);
      expect(errorLine(r.stderr)).toEqual(["outpost: --broker-password-file is the external broker's: it needs --broker"]);
    });
  });
});

describe("no secret in the logs", () => {
  it("serve --broker user:password@ --log-requests: the password, ?access_token= values and auth headers are ***", async () => {
    const password = backend.registry.backendPassword();
    const port = await freePort();
    const data = mkdtempSync(join(tmpdir(), "outpost-secrets-log-"));
    const broker = `mqtt://outpost-backend:${encodeURIComponent(password)}@127.0.0.1:${new URL(backend.mqttUrl).port}`;
    const s = start(["serve", "--port", String(port), "--data", data, "--broker", broker, "--log-requests", "--log-level", "info"]);
    await s.waitFor(/^outpost is running/m);
    const token = "ws-dev:device-credential-123";
    const apiKey = "opk_0123456789abcdef_not-logged-anywhere";
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/api/v1/devices/ws?access_token=${encodeURIComponent(token)}`)).status).toBe(426);
    const listed = await fetch(`${base}/api/v1/devices?Access_Token=query-secret-456&x=1`, {
      headers: { authorization: `Bearer ${apiKey}`, "x-api-key": apiKey },
    });
    expect(listed.status).toBe(403);
    await s.waitFor(/"statusCode":403/); // the request's completion is logged
    await s.stop();
    const all = s.out.stdout + s.out.stderr;
    for (const secret of [password, encodeURIComponent(password), encodeURIComponent(token), "device-credential-123", "query-secret-456", apiKey])
      expect(all).not.toContain(secret);
    expect(s.out.stdout).toContain(`MQTT ${broker.replace(encodeURIComponent(password), "***")}`);
    expect(s.out.stderr).toContain(`"broker":"mqtt://outpost-backend:***@127.0.0.1:`);
    expect(s.out.stderr).toContain('"url":"/api/v1/devices/ws?access_token=***"');
    expect(s.out.stderr).toContain('"url":"/api/v1/devices?Access_Token=***&x=1"');
  });

  it("a mistaken --broker URL is echoed without its password", async () => {
    const r = await outpost(["serve", "--broker", "redis://user:hunter2-secret@127.0.0.1:6379"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("redis://user:***@127.0.0.1:6379");
    expect(r.stderr).not.toContain("hunter2-secret");
  });

  it("device run logs a ws:// URL's ?access_token= as ***", async () => {
    const { credential } = backend.registry.addDevice("ws-token");
    const url = `ws://127.0.0.1:${backend.port}/api/v1/devices/ws?access_token=ws-token:${credential}`;
    const device = start(["device", "run", "--id", "ws-token", "--url", url]);
    await device.waitFor(/"msg":"serving JSON-RPC over WebSocket"/);
    await device.stop();
    expect(device.out.stdout).not.toContain(credential);
    expect(device.out.stdout).toContain(`"url":"ws://127.0.0.1:${backend.port}/api/v1/devices/ws?access_token=***"`);
  });

  /** A logger's lines, parsed. */
  function capture(make: (dest: Writable) => pino.Logger) {
    const lines: Record<string, unknown>[] = [];
    const dest = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    return { log: make(dest), lines };
  }

  it("the loggers censor secret fields and headers wherever a line carries them, and a request's URL", () => {
    const fields = {
      password: "p1",
      credential: "c1",
      req: { method: "GET", url: "/x?access_token=t1", headers: { authorization: "Bearer k1", "x-api-key": "k2" } },
      headers: { cookie: "s1", "proxy-authorization": "s2" },
      device: { token: "t2" },
    };
    for (const { log, lines } of [
      capture((dest) => createLogger({}, dest as never)),
      capture((dest) => secretSafe(pino({ redact: ["something"] }, dest))), // a caller's logger, with its own redact list
    ]) {
      log.info(fields, "line");
      const text = JSON.stringify(lines);
      for (const secret of ["p1", "c1", "t1", "k1", "k2", "s1", "s2", "t2"]) expect(text).not.toContain(`"${secret}`);
      expect(lines[0]).toMatchObject({ password: "***", credential: "***", req: { url: "/x?access_token=***" }, device: { token: "***" } });
      expect((lines[0].req as { headers?: unknown }).headers).toBeUndefined(); // a request is logged without headers
    }
  });
});

describe("redactUrl", () => {
  it("hides a URL's password and secret query values, keeps the rest", () => {
    expect(redactUrl("mqtt://u:p@h:1883")).toBe("mqtt://u:***@h:1883");
    expect(redactUrl("mqtt://h:1883")).toBe("mqtt://h:1883");
    expect(redactUrl("mqtt://u@h:1883")).toBe("mqtt://u@h:1883");
    expect(redactUrl("mqtt://u:p@ss@h")).toBe("mqtt://u:***@h");
    expect(redactUrl("mqtt://u:pw@[broken")).toBe("mqtt://u:***@[broken"); // not a URL: still no password
    expect(redactUrl("/a?timeout_ms=5&access_token=x:y#frag")).toBe("/a?timeout_ms=5&access_token=***#frag");
    expect(redactUrl("/a?KEY=1&password=2&token&credential=")).toBe("/a?KEY=***&password=***&token&credential=***");
    expect(redactUrl("/a?ok=%zz")).toBe("/a?ok=%zz");
  });

  it("whatever the password and token, the redacted URL parses with *** in their place", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (password, token) => {
        const url = new URL("mqtt://user@broker:1883/p");
        url.password = password;
        url.searchParams.set("access_token", token);
        const out = new URL(redactUrl(url.toString()));
        expect(out.password).toBe("***");
        expect(out.username).toBe("user");
        expect(out.searchParams.get("access_token")).toBe("***");
      }),
    );
  });
});

describe("loopback unless told otherwise", () => {
  it("a backend with no host: HTTP, its WebSocket gateway and the embedded MQTT broker listen on 127.0.0.1 only", async () => {
    const b = await startBackend({ dataDir: mkdtempSync(join(tmpdir(), "outpost-loopback-")), port: 0, mqttPort: 0, logger: pino({ level: "silent" }) });
    try {
      const mqttPort = Number(new URL(b.mqttUrl).port);
      expect(listeningAddresses(b.port)).toEqual(["127.0.0.1"]);
      expect(listeningAddresses(mqttPort)).toEqual(["127.0.0.1"]);
      // The gateway is that HTTP listener's: a device connects there.
      const { credential } = b.registry.addDevice("loop-ws");
      const ws = new WebSocket(`ws://127.0.0.1:${b.port}/api/v1/devices/ws`, { headers: { authorization: `Bearer loop-ws:${credential}` } });
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      ws.close();
    } finally {
      await b.close();
    }
  });

  it("the embedded broker's worker processes too (mqttWorkers 2)", async () => {
    const b = await startBackend({
      dataDir: mkdtempSync(join(tmpdir(), "outpost-loopback-")),
      port: 0,
      mqttPort: await freePort(),
      mqttWorkers: 2,
      logger: pino({ level: "silent" }),
    });
    try {
      expect(listeningAddresses(Number(new URL(b.mqttUrl).port))).toEqual(["127.0.0.1"]);
    } finally {
      await b.close();
    }
  });

  it("serve: 127.0.0.1 by default; OUTPOST_HOST=0.0.0.0 serves every interface; --host beats OUTPOST_HOST", async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [[], {}, "127.0.0.1"],
      [[], { OUTPOST_HOST: "0.0.0.0" }, "0.0.0.0"],
      [["--host", "127.0.0.1"], { OUTPOST_HOST: "0.0.0.0" }, "127.0.0.1"],
    ];
    await Promise.all(
      cases.map(async ([args, env, address]) => {
        const [port, mqttPort] = [await freePort(), await freePort()];
        const data = join(dir, `serve-${port}`);
        mkdirSync(data);
        const s = start(["serve", "--port", String(port), "--mqtt-port", String(mqttPort), "--data", data, "--log-level", "silent", ...args], env);
        await s.waitFor(/^outpost is running/m);
        expect(s.out.stdout).toContain(`http://127.0.0.1:${port}/api/v1, MQTT mqtt://127.0.0.1:${mqttPort}`);
        expect([listeningAddresses(port), listeningAddresses(mqttPort)]).toEqual([[address], [address]]);
        await s.stop();
      }),
    );
  });
});
