// Issue 15, "TLS everywhere" and "Device identity": the backend over HTTPS and MQTT over TLS with certificates the
// test makes; a device logs in with its client certificate instead of a password (MQTT and wss://), and every
// certificate that must not log in is refused by name: wrong CA, expired, A's certificate as B, revoked (removed,
// re-credited, past its rotation's grace); plaintext is refused when TLS-only.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { WebSocket } from "ws";
import { Device } from "../host/device.ts";
import { encode } from "../host/codec/index.ts";
import type { Backend } from "../host/server/backend.ts";
import { makeCa, makeDeviceCert, fingerprint } from "../host/tls/certs.ts";
import { startTestBackend, waitFor } from "./support/api.ts";
import { freePort } from "./support/mosquitto.ts";
import { deviceCert, httpsJson, makeTestPki, type TestPki } from "./support/tls.ts";

let pki: TestPki;
let backend: Backend;
let key: string;
const refused: { id: string | undefined; reason: string; transport: string }[] = [];
const devices: Device[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  backend = await startTestBackend("tls", {
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, mqttsPort: await freePort() },
    onLoginRefused: (id, reason, transport) => refused.push({ id, reason, transport }),
  });
  key = backend.registry.createApiKey().key;
});
afterAll(async () => {
  for (const d of devices.splice(0)) await d.close();
  await backend?.close();
});

const call = (id: string, params: unknown[] = ["over tls"]) =>
  httpsJson(`${backend.url}/api/v1/devices/${id}/rpc`, {
    ca: pki.ca.cert,
    headers: { authorization: `Bearer ${key}` },
    json: { jsonrpc: "2.0", id: 1, method: "echo", params },
  });

/** A module device with a client certificate (no password) on `url`; resolves once it is online. */
async function certDevice(id: string, url: string, pem: { cert: string; key: string }, username?: string) {
  const device = new Device({ id });
  devices.push(device);
  await device.connect(url, {
    username,
    tls: { ca: pki.ca.cert, cert: pem.cert, key: pem.key, servername: "localhost" },
    reconnect: { minMs: 50, maxMs: 200 },
  });
  return device;
}

/** Tries one login with `pem`; resolves with the refusal reason the backend logged for it. */
async function refusedReason(id: string, url: string, pem: { cert: string; key: string }, username?: string): Promise<string> {
  const before = refused.length;
  const device = new Device({ id });
  devices.push(device);
  void device.connect(url, {
    username,
    tls: { ca: pki.ca.cert, cert: pem.cert, key: pem.key, servername: "localhost" },
    reconnect: { minMs: 5000, maxMs: 5000 },
  });
  await waitFor(() => refused.length > before);
  await device.close();
  return refused[before].reason;
}

const wsUrl = () => `${backend.url.replace("https:", "wss:")}/api/v1/devices/ws`;

describe("TLS listeners", () => {
  it("serves REST over HTTPS and MQTT over TLS, and no plaintext", async () => {
    expect(backend.url).toMatch(/^https:/);
    expect(backend.mqttUrl).toMatch(/^mqtts:/);
    expect(backend.broker?.port).toBe(0);
    const res = await httpsJson(`${backend.url}/api/v1/devices`, { ca: pki.ca.cert, headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    // A plaintext request on the HTTPS port gets no HTTP answer.
    const port = Number(new URL(backend.url).port);
    const answer = await new Promise<string>((resolve) => {
      let got = "";
      const s = netConnect(port, "127.0.0.1", () => s.write("GET /api/v1/devices HTTP/1.1\r\nHost: x\r\n\r\n"));
      s.on("data", (d) => (got += d.toString("latin1")));
      s.on("close", () => resolve(got));
      s.on("error", () => resolve(got));
    });
    expect(answer.startsWith("HTTP/1.1 200")).toBe(false);
  });

  it("plaintext MQTT, garbage and a stalled handshake on the TLS port are dropped; TLS clients are unaffected", async () => {
    const port = Number(new URL(backend.mqttUrl).port);
    const closedAfter = (bytes: Buffer) =>
      new Promise<string>((resolve) => {
        let got = Buffer.alloc(0);
        const s = netConnect(port, "127.0.0.1", () => s.write(bytes));
        s.on("data", (d) => (got = Buffer.concat([got, d])));
        s.on("close", () => resolve(got.subarray(0, 1).toString("hex")));
        s.on("error", () => {});
      });
    // An MQTT CONNECT in the clear gets a TLS alert (0x15), never a CONNACK (0x20); so does random noise.
    const connect = Buffer.from("101000044d5154540402003c0004746573740000", "hex");
    expect(await closedAfter(connect)).not.toBe("20");
    expect(await closedAfter(Buffer.alloc(4096, 0xab))).not.toBe("20");
    const stalled = netConnect(port, "127.0.0.1"); // opens and sends nothing
    stalled.on("error", () => {});
    const { credential } = backend.registry.addDevice("beside-noise");
    const device = new Device({ id: "beside-noise" });
    devices.push(device);
    await device.connect(backend.mqttUrl, { password: credential, tls: { ca: pki.ca.cert, servername: "localhost" } });
    await waitFor(() => backend.presence.get("beside-noise")?.online === true);
    stalled.destroy();
  });

  it("a SUBSCRIBE sent right after the CONNECT, in a TLS record of its own, waits for the login", async () => {
    const port = Number(new URL(backend.mqttUrl).port);
    const v = { protocolVersion: 4 } as const;
    /** CONNECT, then SUBSCRIBE `delayMs` later (a read of its own while the login may still run): the first 9 bytes back. */
    const pipelined = async (id: string, delayMs: number) => {
      const { credential } = backend.registry.addDevice(id);
      return new Promise<string>((resolve) => {
        let got = Buffer.alloc(0);
        const s = tlsConnect({ port, host: "127.0.0.1", ca: pki.ca.cert, servername: "localhost" }, () => {
          s.write(
            encode(
              { cmd: "connect", protocolVersion: 4, clientId: id, clean: true, keepalive: 0, username: id, password: Buffer.from(credential) } as never,
              v,
            ),
          );
          setTimeout(() => s.write(encode({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `devices/${id}/rx`, qos: 0 }] } as never, v)), delayMs);
        });
        s.on("data", (d) => {
          got = Buffer.concat([got, d]);
          if (got.length >= 9) {
            s.destroy();
            resolve(got.subarray(0, 9).toString("hex"));
          }
        });
        s.on("error", () => resolve(got.toString("hex")));
      });
    };
    const replies = await Promise.all(Array.from({ length: 24 }, (_, i) => pipelined(`pipelined-${i}`, i % 8)));
    // Each: CONNACK accepted, then SUBACK granted QoS 0 (never a refusal because the login had not finished).
    expect(new Set(replies)).toEqual(new Set(["200200009003000100"]));
  });

  it("a password device over mqtts:// works as before", async () => {
    const { credential } = backend.registry.addDevice("pw-dev");
    const device = new Device({ id: "pw-dev" });
    devices.push(device);
    await device.connect(backend.mqttUrl, { password: credential, tls: { ca: pki.ca.cert, servername: "localhost" } });
    await waitFor(() => backend.presence.get("pw-dev")?.online === true);
    expect((await call("pw-dev")).body.result).toEqual(["over tls"]);
  });

  it("a client refuses a server certificate from another CA", async () => {
    const other = await makeCa("someone else");
    const port = Number(new URL(backend.mqttUrl).port);
    const err = await new Promise<Error>((resolve) => {
      const s = tlsConnect({ port, host: "127.0.0.1", ca: other.cert, servername: "localhost" }, () => resolve(new Error("connected")));
      s.on("error", resolve);
    });
    expect(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN"]).toContain((err as NodeJS.ErrnoException).code);
  });
});

describe("device identity by client certificate", () => {
  it("logs in over MQTT with its certificate and answers REST calls", async () => {
    backend.registry.addDevice("cert-a");
    const pem = await deviceCert(pki, backend.registry, "cert-a");
    await certDevice("cert-a", backend.mqttUrl, pem);
    await waitFor(() => backend.presence.get("cert-a")?.online === true);
    expect((await call("cert-a")).body.result).toEqual(["over tls"]);
  });

  it("logs in over wss:// with its certificate", async () => {
    backend.registry.addDevice("cert-ws");
    const pem = await deviceCert(pki, backend.registry, "cert-ws");
    await certDevice("cert-ws", wsUrl(), pem);
    await waitFor(() => backend.presence.get("cert-ws")?.online === true);
    expect(backend.presence.get("cert-ws")?.transport).toBe("ws");
    expect((await call("cert-ws", [7])).body.result).toEqual([7]);
  });

  it("refuses A's certificate as B (MQTT username, and over wss://)", async () => {
    backend.registry.addDevice("victim");
    backend.registry.addDevice("attacker");
    const pem = await deviceCert(pki, backend.registry, "attacker");
    expect(await refusedReason("victim", backend.mqttUrl, pem, "victim")).toBe("CertificateForAnotherDevice");
    expect(await refusedReason("victim", `${wsUrl()}?device=victim`, pem)).toBe("CertificateForAnotherDevice");
    expect(backend.presence.get("victim")?.online).not.toBe(true);
    // Without a username, the certificate can only be the device it names: the module's will on victim's status
    // claims victim, and is refused.
    expect(await refusedReason("victim", backend.mqttUrl, pem, "")).toBe("WillRefused");
    expect(backend.presence.get("victim")?.online).not.toBe(true);
  });

  it("over wss://, no certificate and no token is a 401 before the upgrade, a refused certificate a 403", async () => {
    const status = (tls: { cert?: string; key?: string }) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl(), { ca: pki.ca.cert, ...tls }); // the URL names 127.0.0.1, in the certificate
        ws.on("unexpected-response", (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on("open", () => {
          resolve(101);
          ws.close();
        });
        ws.on("error", () => {});
      });
    const before = refused.length;
    expect(await status({})).toBe(401);
    backend.registry.addDevice("ws-refused");
    const unpinned = await deviceCert(pki, backend.registry, "ws-refused", { pin: false });
    expect(await status(unpinned)).toBe(403);
    expect(refused.slice(before).map((r) => `${r.transport} ${r.reason}`)).toEqual(["ws CertificateMissing", "ws CertificateRevoked"]);
  });

  it("refuses a certificate from another CA, an expired one, an unpinned one", async () => {
    backend.registry.addDevice("cert-b");
    const start = refused.length;
    const stranger = await makeCa("stranger CA");
    const foreign = await makeDeviceCert(stranger, "cert-b");
    expect(await refusedReason("cert-b", backend.mqttUrl, foreign)).toBe("CertificateUnknownCa");
    expect(await refusedReason("cert-b", wsUrl(), foreign)).toBe("CertificateUnknownCa");
    const expired = await deviceCert(pki, backend.registry, "cert-b", { notBefore: new Date(Date.now() - 10 * 86_400_000), days: 1 });
    expect(await refusedReason("cert-b", backend.mqttUrl, expired)).toBe("CertificateExpired");
    const unpinned = await deviceCert(pki, backend.registry, "cert-b", { pin: false });
    expect(await refusedReason("cert-b", backend.mqttUrl, unpinned)).toBe("CertificateRevoked");
    expect(refused.slice(start).every((r) => r.id === "cert-b")).toBe(true); // each refusal names the device it concerned
  });

  it("a device removed or re-credited loses its certificate at once, over MQTT and WebSocket", async () => {
    backend.registry.addDevice("gone-mqtt");
    backend.registry.addDevice("gone-ws");
    const a = await deviceCert(pki, backend.registry, "gone-mqtt");
    const b = await deviceCert(pki, backend.registry, "gone-ws");
    await certDevice("gone-mqtt", backend.mqttUrl, a);
    await certDevice("gone-ws", wsUrl(), b);
    await waitFor(() => backend.presence.get("gone-mqtt")?.online === true && backend.presence.get("gone-ws")?.online === true);
    backend.registry.rotateCredential("gone-mqtt"); // re-credited: its certificates go
    backend.registry.removeDevice("gone-ws");
    await waitFor(() => backend.presence.get("gone-mqtt")?.online === false);
    await waitFor(() => !backend.gateway.has("gone-ws"));
    expect(backend.registry.certs.list("gone-mqtt")).toEqual([]);
    expect(await refusedReason("gone-mqtt", backend.mqttUrl, a)).toBe("CertificateRevoked");
  });

  it("rotation: the old certificate works for the grace period, then is refused and its connection dropped", async () => {
    backend.registry.addDevice("rot");
    const old = await deviceCert(pki, backend.registry, "rot");
    await certDevice("rot", backend.mqttUrl, old);
    await waitFor(() => backend.presence.get("rot")?.online === true);
    const fresh = await deviceCert(pki, backend.registry, "rot", { graceMs: 4000 });
    expect(backend.registry.certs.valid("rot", fingerprint(old.cert))).toBe(true);
    expect((await call("rot")).status).toBe(200); // still on the old certificate
    await waitFor(() => backend.presence.get("rot")?.online === false);
    expect(await refusedReason("rot", backend.mqttUrl, old)).toBe("CertificateRevoked");
    await certDevice("rot", backend.mqttUrl, fresh);
    await waitFor(() => backend.presence.get("rot")?.online === true);
  });
});

describe("credential rotation over REST", () => {
  const rest = (method: string, path: string, json?: unknown) =>
    httpsJson(`${backend.url}/api/v1${path}`, { ca: pki.ca.cert, method, headers: { authorization: `Bearer ${key}` }, json });

  it("a new password; the old one logs in during the grace period, then its connection is dropped and it is refused", async () => {
    const { credential: old } = backend.registry.addDevice("pw-rot");
    const device = new Device({ id: "pw-rot" });
    devices.push(device);
    await device.connect(backend.mqttUrl, { password: old, tls: { ca: pki.ca.cert, servername: "localhost" }, reconnect: { minMs: 5000, maxMs: 5000 } });
    await waitFor(() => backend.presence.get("pw-rot")?.online === true);
    const res = await rest("POST", "/devices/pw-rot/credential", { grace_s: 6 }); // long enough for a loaded machine
    expect(res.status).toBe(200);
    expect(res.body.previous_valid_until).not.toBeNull();
    expect(await backend.registry.previousSecrets.verify("pw-rot", old)).toBe(true);
    await new Promise((r) => setTimeout(r, 600)); // the revision moved: the old password's connection is still valid
    expect(backend.presence.get("pw-rot")?.online).toBe(true);
    expect((await call("pw-rot")).status).toBe(200);
    await waitFor(() => backend.presence.get("pw-rot")?.online === false); // the grace ended
    expect(await backend.registry.previousSecrets.verify("pw-rot", old)).toBe(false);
    expect(await backend.registry.verifyDevice("pw-rot", res.body.credential)).toBe(true);
  });

  it("without grace the old password ends at once; bad grace values are 400s", async () => {
    const { credential: old } = backend.registry.addDevice("pw-now");
    const res = await rest("POST", "/devices/pw-now/credential", {});
    expect(res.status).toBe(200);
    expect(res.body.previous_valid_until).toBeNull();
    expect(await backend.registry.previousSecrets.verify("pw-now", old)).toBe(false);
    expect((await rest("POST", "/devices/pw-now/credential", { grace_s: -1 })).status).toBe(400);
    expect((await rest("POST", "/devices/pw-now/credential", { grace_s: "1" })).status).toBe(400);
    expect((await rest("POST", "/devices/nobody/credential", {})).status).toBe(404);
  });

  it("pins an uploaded certificate for the device, lists and revokes it; refuses another device's, another CA's, an expired one", async () => {
    backend.registry.addDevice("up");
    const mine = await makeDeviceCert(pki.ca, "up");
    const pinned = await rest("POST", "/devices/up/certificates", { certificate: mine.cert });
    expect(pinned.status).toBe(201);
    expect(pinned.body.fingerprint).toBe(fingerprint(mine.cert));
    expect((await rest("GET", "/devices/up/certificates")).body.map((c: { fingerprint: string }) => c.fingerprint)).toEqual([pinned.body.fingerprint]);
    await certDevice("up", backend.mqttUrl, mine);
    await waitFor(() => backend.presence.get("up")?.online === true);
    expect((await rest("DELETE", `/devices/up/certificates/${pinned.body.fingerprint}`)).status).toBe(204);
    await waitFor(() => backend.presence.get("up")?.online === false);
    expect((await rest("DELETE", `/devices/up/certificates/${pinned.body.fingerprint}`)).status).toBe(404);

    const other = await makeDeviceCert(pki.ca, "someone-else");
    expect((await rest("POST", "/devices/up/certificates", { certificate: other.cert })).body.error).toBe("certificate_for_another_device");
    const foreign = await makeDeviceCert(await makeCa("x"), "up");
    expect((await rest("POST", "/devices/up/certificates", { certificate: foreign.cert })).body.error).toBe("certificate_unknown_ca");
    const old = await makeDeviceCert(pki.ca, "up", { notBefore: new Date(Date.now() - 3 * 86_400_000), days: 1 });
    expect((await rest("POST", "/devices/up/certificates", { certificate: old.cert })).body.error).toBe("certificate_expired");
    expect((await rest("POST", "/devices/up/certificates", { certificate: "not a certificate" })).body.error).toBe("invalid_certificate");
    expect((await rest("POST", "/devices/up/certificates", { certificate: "x".repeat(20_000) })).status).toBe(400); // over the schema's 16 KiB
    expect((await rest("POST", "/devices/up/certificates", { certificate: 42 })).status).toBe(400);
    // This backend's data directory has no CA key: it cannot issue one itself.
    expect((await rest("POST", "/devices/up/certificates", {})).body.error).toBe("no_issuing_ca");
  });
});
