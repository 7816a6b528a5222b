// Issue 15, external broker mode over TLS: the generated mosquitto config serves devices with client certificates
// (the CN is the username and client id, so the %u ACL applies) and the backends over TLS; the backend dials
// `mqtts://` with the CA (--broker-ca); a Node device logs in with its certificate and answers REST calls. A
// certificate from another CA is refused, and A's certificate reaches only A's topics, whatever id it claims.
// Revocation there is by CRL (mosquitto cannot see the registry's pins): `outpost cert revoke` and a device removed
// over REST rewrite it, and after a SIGHUP mosquitto refuses those certificates.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import "../host/tls/reflect-metadata.ts"; // before @peculiar/x509 (its tsyringe needs it)
import * as x509 from "@peculiar/x509";
import mqtt from "mqtt";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { backendTlsListenerLines, mosquittoCrlPath, mosquittoGlobalLines, mosquittoTlsListenerLines, writeMosquittoConfig } from "../host/broker/mosquitto.ts";
import { Device } from "../host/device.ts";
import { connectBackendClient } from "../host/rpc/bus.ts";
import { Registry } from "../host/registry/registry.ts";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { makeCa, makeDeviceCert, serialOf, type Pem } from "../host/tls/certs.ts";
import { writeCrl } from "../host/tls/crl-files.ts";
import { waitFor } from "./support/api.ts";
import { freePort, startMosquitto, type Mosquitto } from "./support/mosquitto.ts";
import { deviceCert, makeTestPki, type TestPki } from "./support/tls.ts";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

let pki: TestPki;
let broker: Mosquitto;
let backend: Backend;
let tlsPort: number;
let backendUrl: string;
let key: string;
let dataDir: string;
let crlfile: string;
const devices: Device[] = [];
const clients: mqtt.MqttClient[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  dataDir = mkdtempSync(join(tmpdir(), "outpost-mosq-tls-"));
  // The CA where `outpost cert ca` keeps it: the CLI and the backend sign the CRL with it.
  mkdirSync(join(dataDir, "tls"), { mode: 0o700 });
  writeFileSync(join(dataDir, "tls", "ca.crt"), pki.ca.cert);
  writeFileSync(join(dataDir, "tls", "ca.key"), pki.ca.key, { mode: 0o600 });
  const files = { cafile: join(dataDir, "ca.crt"), certfile: join(dataDir, "server.crt"), keyfile: join(dataDir, "server.key") };
  writeFileSync(files.cafile, pki.ca.cert);
  writeFileSync(files.certfile, pki.server.cert);
  writeFileSync(files.keyfile, pki.server.key, { mode: 0o600 });
  const registry = new Registry(dataDir);
  registry.addDevice("m-a");
  registry.addDevice("m-b");
  const dir = join(dataDir, "mosquitto");
  const lines = writeMosquittoConfig(registry, dir);
  crlfile = mosquittoCrlPath(dir);
  await writeCrl(registry, dataDir, crlfile); // as `outpost broker mosquitto --tls-port` does
  registry.certs.addCrlFile(crlfile);
  registry.close();
  tlsPort = await freePort();
  const backendPort = await freePort();
  const asRoot = process.getuid?.() === 0 ? ["user root"] : [];
  broker = await startMosquitto(
    [
      ...lines,
      ...asRoot,
      ...backendTlsListenerLines(dir, { port: backendPort, host: "127.0.0.1", ...files }),
      ...mosquittoTlsListenerLines(dir, { port: tlsPort, host: "127.0.0.1", ...files, crlfile }),
    ],
    { global: mosquittoGlobalLines() },
  );
  backend = await startBackend({
    dataDir,
    port: await freePort(),
    host: "127.0.0.1",
    brokerUrl: (backendUrl = `mqtts://localhost:${backendPort}`),
    brokerTls: { ca: pki.ca.cert },
    logger: pino({ level: "silent" }),
  });
  key = backend.registry.createApiKey().key;
});
afterAll(async () => {
  for (const d of devices.splice(0)) await d.close();
  for (const c of clients.splice(0)) await c.endAsync(true);
  await backend?.close();
  await broker?.stop();
});

const tlsUrl = () => `mqtts://localhost:${tlsPort}`;

describe("mosquitto over TLS", () => {
  it("a device logs in with its certificate (CN = its id) and answers REST calls through the backend's mqtts:// link", async () => {
    const pem = await makeDeviceCert(pki.ca, "m-a");
    const device = new Device({ id: "m-a" });
    devices.push(device);
    await device.connect(tlsUrl(), { tls: { ca: pki.ca.cert, cert: pem.cert, key: pem.key } });
    await waitFor(() => backend.presence.isOnline("m-a"));
    const res = await fetch(`${backend.url}/api/v1/devices/m-a/rpc`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: ["through mosquitto"] }),
    });
    expect(await res.json()).toEqual({ jsonrpc: "2.0", id: 1, result: ["through mosquitto"] });
  });

  it("refuses a client certificate from another CA, and a client without one", async () => {
    const foreign = await makeDeviceCert(await makeCa("elsewhere"), "m-b");
    for (const tls of [{ cert: foreign.cert, key: foreign.key }, {}]) {
      const c = mqtt.connect(tlsUrl(), { ca: pki.ca.cert, ...tls, reconnectPeriod: 0, connectTimeout: 3000 });
      clients.push(c);
      const outcome = await new Promise<string>((resolve) => {
        c.once("connect", () => resolve("connected"));
        c.once("error", (e) => resolve(e.message));
        c.once("close", () => resolve("closed"));
      });
      expect(outcome).not.toBe("connected");
    }
  });

  it("A's certificate acts as A whatever it claims: B's topics stay out of reach", async () => {
    // Its own CN, m-c: with the first test's device m-a still connected, a second m-a would take over its session
    // (the listener pins the client id to the CN) and be taken over back when that device reconnects.
    const pem = await makeDeviceCert(pki.ca, "m-c");
    const c = mqtt.connect(tlsUrl(), { ca: pki.ca.cert, cert: pem.cert, key: pem.key, clientId: "m-b", username: "m-b", reconnectPeriod: 0 });
    clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once("connect", () => resolve());
      c.once("error", reject);
    });
    const got: string[] = [];
    c.on("message", (topic) => got.push(topic));
    await c.subscribeAsync(["devices/m-b/rx", "devices/m-c/rx"]); // mosquitto grants, then checks each delivery
    const backendClient = await connectBackendClient(backendUrl, backend.registry.backendPassword(), { tls: { ca: pki.ca.cert } });
    clients.push(backendClient);
    await backendClient.publishAsync("devices/m-b/rx", "for b", { qos: 1 });
    await backendClient.publishAsync("devices/m-c/rx", "for c", { qos: 1 });
    await waitFor(() => got.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual(["devices/m-c/rx"]); // the username is the certificate's CN, m-c: the %u ACL decides
    await c.publishAsync("devices/m-b/status", JSON.stringify({ online: true }), { retain: true, qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(backend.presence.isOnline("m-b")).toBe(false);
  });

  it("a revoked device certificate is refused once the CRL is rewritten and mosquitto has its SIGHUP", async () => {
    const login = (pem: Pem) => {
      const c = mqtt.connect(tlsUrl(), { ca: pki.ca.cert, cert: pem.cert, key: pem.key, reconnectPeriod: 0, connectTimeout: 3000 });
      clients.push(c);
      return new Promise<string>((resolve) => {
        c.once("connect", () => resolve("connected"));
        c.once("error", (e) => resolve(e.message));
        c.once("close", () => resolve("closed"));
      }).finally(() => c.end(true));
    };
    const listed = () => new x509.X509Crl(readFileSync(crlfile, "utf8")).entries.map((e) => e.serialNumber.toLowerCase());
    for (const id of ["m-revoked", "m-removed", "m-kept"]) backend.registry.addDevice(id);
    const revoked = await deviceCert(pki, backend.registry, "m-revoked");
    const removed = await deviceCert(pki, backend.registry, "m-removed");
    const kept = await deviceCert(pki, backend.registry, "m-kept");
    for (const pem of [revoked, removed, kept]) expect(await login(pem)).toBe("connected");
    expect(listed()).toEqual([]);

    await run("node", ["bin/outpost.js", "cert", "revoke", "m-revoked", "--data", dataDir], { cwd: root }); // the CLI rewrites the CRL
    expect(listed()).toEqual([serialOf(revoked.cert)]);
    const del = await fetch(`${backend.url}/api/v1/devices/m-removed`, { method: "DELETE", headers: { authorization: `Bearer ${key}` } });
    expect(del.status).toBeLessThan(300);
    await waitFor(() => listed().includes(serialOf(removed.cert))); // the backend rewrites it when the pins change
    expect(listed().sort()).toEqual([serialOf(revoked.cert), serialOf(removed.cert)].sort());

    expect(await login(revoked)).toBe("connected"); // mosquitto reads the CRL at start and on SIGHUP only
    broker.reload();
    await waitFor(async () => (await login(revoked)) !== "connected");
    expect(await login(revoked)).toMatch(/certificate revoked/);
    expect(await login(removed)).toMatch(/certificate revoked/);
    expect(await login(kept)).toBe("connected");
  });

  it("the audit log has the connects and disconnects seen through mosquitto (mqtt-external), not a backend's retained statuses at start", async () => {
    const external = (kind: string) =>
      backend.registry.audit.query({ device: "m-b", kind: kind as "connect", limit: 100 }).records.filter((r) => r.detail === "mqtt-external");
    const pem = await makeDeviceCert(pki.ca, "m-b");
    const device = new Device({ id: "m-b" });
    await device.connect(tlsUrl(), { tls: { ca: pki.ca.cert, cert: pem.cert, key: pem.key } });
    await waitFor(() => external("connect").length === 1);
    expect(external("connect")[0]).toMatchObject({ actor: "m-b", actor_kind: "device", outcome: "ok" });
    // A second backend on the same broker reads m-b's retained status at start: an old state, not a new connection.
    const second = await startBackend({
      dataDir,
      port: await freePort(),
      host: "127.0.0.1",
      brokerUrl: backendUrl,
      brokerTls: { ca: pki.ca.cert },
      logger: pino({ level: "silent" }),
    });
    await waitFor(() => second.presence.isOnline("m-b"));
    await second.close(); // flushes its audit records
    expect(external("connect")).toHaveLength(1);
    await device.close();
    await waitFor(() => external("disconnect").length === 1);
    expect(external("disconnect")[0]).toMatchObject({ actor: "m-b", outcome: "gone" });
  });
});
