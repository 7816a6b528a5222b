// Issue 15, the native device over TLS: boards/posix built with TLS=1 (boards/common/net_mbedtls.c on mbedTLS 2.28,
// over the same net_bsd.c TCP shim) against the backend's MQTT over TLS and wss:// listeners, logging in with its
// client certificate; a server certificate from another CA is refused by the device (named in its log), and a
// device certificate the registry does not pin is refused by the backend.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../host/server/backend.ts";
import { makeCa } from "../host/tls/certs.ts";
import { startTestBackend, waitFor } from "./support/api.ts";
import { freePort } from "./support/mosquitto.ts";
import { deviceCert, httpsJson, makeTestPki, type TestPki } from "./support/tls.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const program = join(root, "boards/posix/build/outpost-device-tls");
const dir = mkdtempSync(join(tmpdir(), "outpost-posix-tls-"));
const children: ChildProcess[] = [];
let pki: TestPki;
let backend: Backend;
let key: string;
const refused: string[] = [];

/** Writes `text` to a file in the test's directory (0600: a key) and returns its path. */
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};

function device(args: string[]): { child: ChildProcess; log: () => string } {
  const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  return { child, log: () => log };
}

beforeAll(async () => {
  execFileSync("make", ["-s", "-C", join(root, "boards/posix"), "TLS=1"], { stdio: "inherit" });
  pki = await makeTestPki();
  backend = await startTestBackend("posix-tls", {
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, mqttsPort: await freePort() },
    onLoginRefused: (_id, reason) => refused.push(reason),
  });
  key = backend.registry.createApiKey().key;
}, 120_000);
afterAll(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  await backend?.close();
});

const echo = (id: string) =>
  httpsJson(`${backend.url}/api/v1/devices/${id}/rpc/echo`, { ca: pki.ca.cert, headers: { authorization: `Bearer ${key}` }, json: ["native tls"] });

/** The device `id` at `url` trusting the test CA and logging in with its certificate `pem` (files named after id). */
const withCertificate = (id: string, url: string, pem: { cert: string; key: string }) =>
  device(["--id", id, "--url", url, "--ca", file("ca.crt", pki.ca.cert), "--cert", file(`${id}.crt`, pem.cert), "--key", file(`${id}.key`, pem.key)]);

describe("outpost-device (TLS=1)", () => {
  it("logs in over mqtts:// with its client certificate and answers REST calls", async () => {
    backend.registry.addDevice("native-mqtts");
    const pem = await deviceCert(pki, backend.registry, "native-mqtts");
    const url = `mqtts://localhost:${new URL(backend.mqttUrl).port}`;
    const d = withCertificate("native-mqtts", url, pem);
    await waitFor(() => backend.presence.get("native-mqtts")?.online === true || d.child.exitCode !== null);
    expect(d.child.exitCode, d.log()).toBeNull();
    expect((await echo("native-mqtts")).body.result).toEqual(["native tls"]);
    d.child.kill("SIGTERM");
    await new Promise((r) => d.child.once("exit", r));
    expect(d.child.exitCode).toBe(0);
  });

  it("logs in over wss:// with its client certificate", async () => {
    backend.registry.addDevice("native-wss");
    const pem = await deviceCert(pki, backend.registry, "native-wss");
    const url = `${backend.url.replace("https://127.0.0.1", "wss://localhost")}/api/v1/devices/ws`;
    const d = withCertificate("native-wss", url, pem);
    await waitFor(() => backend.presence.get("native-wss")?.online === true || d.child.exitCode !== null);
    expect(backend.presence.get("native-wss")?.transport, d.log()).toBe("ws");
    expect((await echo("native-wss")).body.result).toEqual(["native tls"]);
  });

  it("with a password over mqtts://, checking the server name given by --server-name", async () => {
    const { credential } = backend.registry.addDevice("native-pw");
    const url = `mqtts://127.0.0.1:${new URL(backend.mqttUrl).port}`;
    device(["--id", "native-pw", "--url", url, "--password", credential, "--ca", file("ca.crt", pki.ca.cert), "--server-name", "localhost"]);
    await waitFor(() => backend.presence.get("native-pw")?.online === true);
    expect((await echo("native-pw")).status).toBe(200);
  });

  it("refuses a server whose certificate another CA signed, and says why", async () => {
    const other = await makeCa("not ours");
    const d = device(["--id", "x", "--url", `mqtts://localhost:${new URL(backend.mqttUrl).port}`, "--ca", file("other.crt", other.cert), "--password", "p"]);
    await waitFor(() => /server's certificate is refused/.test(d.log()));
    expect(d.log()).toMatch(/not correctly signed by the trusted CA|certificate is not correctly signed/i);
    // The CA is right, the name is not (the server's certificate is for localhost and 127.0.0.1).
    const e = device([
      "--id",
      "x",
      "--url",
      `mqtts://localhost:${new URL(backend.mqttUrl).port}`,
      "--ca",
      file("ca.crt", pki.ca.cert),
      "--server-name",
      "elsewhere.example",
      "--password",
      "p",
    ]);
    await waitFor(() => /server's certificate is refused/.test(e.log()));
    expect(e.log()).toMatch(/CN mismatch|name/i);
  });

  it("an unpinned device certificate is refused by the backend (CertificateRevoked)", async () => {
    backend.registry.addDevice("native-unpinned");
    const pem = await deviceCert(pki, backend.registry, "native-unpinned", { pin: false });
    const before = refused.length;
    withCertificate("native-unpinned", `mqtts://localhost:${new URL(backend.mqttUrl).port}`, pem);
    await waitFor(() => refused.length > before);
    expect(refused.slice(before)).toContain("CertificateRevoked");
    expect(backend.presence.get("native-unpinned")?.online).not.toBe(true);
  });

  it("names its TLS flags' mistakes", () => {
    const run = (args: string[]) => {
      try {
        execFileSync(program, args, { stdio: "pipe" });
        return "";
      } catch (err) {
        return String((err as { stderr: Buffer }).stderr);
      }
    };
    expect(run(["--id", "x", "--url", "mqtts://localhost:1"])).toMatch(/needs --ca/);
    expect(run(["--id", "x", "--url", "mqtt://localhost:1", "--ca", "x"])).toMatch(/go with an mqtts:\/\/ or wss:\/\//);
  });
});
