// Isolation: a rogue device with valid credentials of its own can touch nothing but its own topics,
// against the embedded aedes (ACL hooks) and against mosquitto 2.0 (the generated password file and %u ACL).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import mqtt, { type MqttClient, type IClientOptions } from "mqtt";
import type { Client } from "aedes";
import { startBackend, type Backend } from "../host/server/backend.ts";
import { Registry, BACKEND_USERNAME } from "../host/registry/registry.ts";
import { createAclHooks, AclRefused } from "../host/broker/acl.ts";
import { writeMosquittoConfig, mosquittoAclFile, mosquittoGlobalLines } from "../host/broker/mosquitto.ts";
import { Device } from "../host/device.ts";
import { freePort, startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const silent = pino({ level: "silent" });

interface Setup {
  backend: Backend;
  credentials: Record<string, string>;
  /** MQTT versions the broker speaks to devices. */
  versions: (4 | 5)[];
  stop(): Promise<void>;
}

async function embedded(ids: string[], mqttWorkers = 1): Promise<Setup> {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-iso-"));
  const registry = new Registry(dataDir);
  const credentials = Object.fromEntries(ids.map((id) => [id, registry.addDevice(id).credential]));
  registry.close();
  const backend = await startBackend({ dataDir, port: await freePort(), mqttPort: await freePort(), host: "127.0.0.1", logger: silent, mqttWorkers });
  return { backend, credentials, versions: [4], stop: () => backend.close() };
}

async function withMosquitto(ids: string[]): Promise<Setup> {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-iso-"));
  const registry = new Registry(dataDir);
  const credentials = Object.fromEntries(ids.map((id) => [id, registry.addDevice(id).credential]));
  const lines = writeMosquittoConfig(registry, join(dataDir, "mosquitto"));
  registry.close();
  // Started as root, mosquitto drops to its own user, which cannot read a private temp dir.
  const broker: Mosquitto = await startMosquitto(process.getuid?.() === 0 ? [...lines, "user root"] : lines, { global: mosquittoGlobalLines() });
  const backend = await startBackend({ dataDir, port: await freePort(), brokerUrl: broker.url, host: "127.0.0.1", logger: silent });
  return {
    backend,
    credentials,
    versions: [4, 5],
    async stop() {
      await backend.close();
      await broker.stop();
    },
  };
}

function isolationSuite(name: string, make: (ids: string[]) => Promise<Setup>) {
  describe(name, () => {
    let s: Setup;
    let key: string;
    let victim: Device;
    let victimDrops = 0;
    const victimRx: string[] = [];
    const rogues: MqttClient[] = [];
    const leaked: string[] = [];

    /** The SUBACK's code for one filter (0x80 = refused). */
    const grantedQos = (c: MqttClient, filter: string) =>
      new Promise<number>((resolve) =>
        c.subscribe(filter, (err, granted) => resolve(err ? ((err as { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? 128) : granted![0].qos)),
      );

    const connectRogue = async (version: 4 | 5, extra: IClientOptions = {}) => {
      const c = await mqtt.connectAsync(s.backend.mqttUrl, {
        username: "rogue",
        password: s.credentials.rogue,
        protocolVersion: version,
        reconnectPeriod: 0,
        clientId: `rogue-${version}-${rogues.length}`,
        ...extra,
      });
      c.on("message", (topic, payload) => leaked.push(`${topic} ${payload}`));
      c.on("error", () => {});
      rogues.push(c);
      return c;
    };

    const rpc = (method: string, params: unknown = []) =>
      fetch(`${s.backend.url}/api/v1/devices/victim/rpc`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));

    /** Publishes at QoS 1: "refused" by a v5 PUBACK reason code or by the broker closing the connection, else "acked". */
    const tryPublish = (c: MqttClient, topic: string, payload: string, retain = false) =>
      new Promise<"refused" | "acked">((resolve) => {
        c.once("close", () => resolve("refused"));
        c.publish(topic, payload, { qos: 1, retain }, (err) => resolve(err ? "refused" : "acked"));
      });

    const retainedStatus = async (id: string) => {
      const observer = await mqtt.connectAsync(s.backend.mqttUrl, {
        username: BACKEND_USERNAME,
        password: s.backend.registry.backendPassword(),
        reconnectPeriod: 0,
        clientId: `observer-${Date.now()}`,
      });
      const got = new Promise<string>((resolve) => observer.once("message", (_t, p) => resolve(p.toString())));
      await observer.subscribeAsync(`devices/${id}/status`);
      const value = await got;
      await observer.endAsync();
      // mosquitto pins client ids to usernames, so this observer took the backend's own session over; the
      // backend reconnects by itself and has the retained statuses again.
      while (!s.backend.presence.isOnline("victim")) await new Promise((r) => setTimeout(r, 20));
      return value;
    };

    beforeAll(async () => {
      s = await make(["victim", "rogue"]);
      key = s.backend.registry.createApiKey().key;
      // The module device, on MQTT 5 where the broker has it (Response Topic + Correlation Data).
      victim = new Device({
        id: "victim",
        methods: { secret: () => "victim's secret", record: (p: unknown) => void victimRx.push(JSON.stringify(p)) },
      });
      await victim.connect(s.backend.mqttUrl, { password: s.credentials.victim, protocolVersion: s.versions.at(-1) });
      victim.mqtt!.on("close", () => victimDrops++);
      while (!s.backend.presence.isOnline("victim")) await new Promise((r) => setTimeout(r, 20));
    });

    afterAll(async () => {
      for (const c of rogues) await c.endAsync(true);
      await victim.close();
      await s.stop();
    });

    it("reaches the victim over REST (MQTT 5 request/response where the broker has it)", async () => {
      expect(await rpc("secret")).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: "victim's secret" } });
    });

    it("reaches a 3.1.1 device too (answers matched by JSON-RPC id), before it turns rogue", async () => {
      const legit = new Device({ id: "rogue", methods: { who: () => "rogue, still legit" } });
      await legit.connect(s.backend.mqttUrl, { password: s.credentials.rogue, protocolVersion: 4 });
      while (!s.backend.presence.isOnline("rogue")) await new Promise((r) => setTimeout(r, 20));
      const res = await fetch(`${s.backend.url}/api/v1/devices/rogue/rpc`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: "x", method: "who" }),
      });
      expect(await res.json()).toEqual({ jsonrpc: "2.0", id: "x", result: "rogue, still legit" });
      await legit.close();
    });

    it("refuses a device that logs in with the wrong credential, or as another device", async () => {
      const attempt = (username: string, password: string) =>
        mqtt.connectAsync(s.backend.mqttUrl, { username, password, reconnectPeriod: 0 }).then(
          async (c) => (await c.endAsync(), "connected"),
          (e: Error) => e.message,
        );
      expect(await attempt("rogue", "wrong")).toMatch(/Bad username or password|Not authorized/i);
      expect(await attempt("victim", s.credentials.rogue)).toMatch(/Bad username or password|Not authorized/i);
      expect(await attempt(BACKEND_USERNAME, s.credentials.rogue)).toMatch(/Bad username or password|Not authorized/i);
    });

    it("delivers nothing to wildcard, $SYS and other devices' subscriptions", async () => {
      for (const version of s.versions) {
        const rogue = await connectRogue(version);
        for (const filter of ["#", "devices/+/rx", "devices/victim/tx", "devices/victim/#", "$SYS/#", "+/+/+"]) {
          const granted = await grantedQos(rogue, filter);
          // aedes refuses in the SUBACK (0x80); mosquitto 2.0 acknowledges and checks read access per message.
          if (name.includes("aedes")) expect(granted).toBe(128);
        }
        expect(await grantedQos(rogue, "devices/rogue/rx")).toBe(0);
      }
      // Traffic the rogue must not see: requests to the victim, its answers, its status.
      for (let i = 0; i < 5; i++) expect((await rpc("echo", [i])).status).toBe(200);
      await victim.mqtt!.publish("devices/victim/status", '{"online":true}', { qos: 1, retain: true });
      await victim.mqtt!.publish("devices/victim/telemetry", '{"t":1}', { qos: 1 });
      expect((await rpc("echo", ["after"])).status).toBe(200);
      expect(leaked).toEqual([]);
    });

    it("keeps the rogue's requests from reaching the victim's rx", async () => {
      for (const version of s.versions) {
        const rogue = await connectRogue(version);
        const outcome = await tryPublish(rogue, "devices/victim/rx", JSON.stringify({ jsonrpc: "2.0", id: 9, method: "record", params: ["rogue"] }));
        if (version === 5 || name.includes("aedes")) expect(outcome).toBe("refused");
        // The victim answers the backend after whatever the broker accepted before; the rogue's request is not among it.
        expect((await rpc("echo", ["barrier"])).status).toBe(200);
        expect(victimRx.some((m) => m.includes("rogue"))).toBe(false);
      }
    });

    it("refuses a retained message on another device's topic", async () => {
      for (const version of s.versions) {
        const rogue = await connectRogue(version);
        const outcome = await tryPublish(rogue, "devices/victim/status", '{"online":false}', true);
        if (version === 5 || name.includes("aedes")) expect(outcome).toBe("refused");
        expect(await retainedStatus("victim")).toBe('{"online":true}');
        expect(s.backend.presence.isOnline("victim")).toBe(true);
      }
    });

    it("never publishes a will on another device's topic", async () => {
      for (const version of s.versions) {
        const will = { topic: "devices/victim/status", payload: Buffer.from('{"online":false}'), qos: 1 as const, retain: true };
        const outcome = await connectRogue(version, { will, clientId: "rogue" }).then(
          (c) => c,
          (e: Error) => e.message,
        );
        if (typeof outcome === "string") {
          expect(outcome).toMatch(/Not authorized/i); // aedes refuses the CONNECT
          continue;
        }
        // mosquitto takes the CONNECT and checks the will's topic when it would publish it: die abruptly, then
        // log in again as the rogue, so the broker has surely dealt with the dead connection, and look.
        (outcome as unknown as { stream: { destroy(): void } }).stream.destroy();
        await connectRogue(version, { clientId: "rogue" });
        expect(await retainedStatus("victim")).toBe('{"online":true}');
        expect((await rpc("echo", ["still online"])).status).toBe(200);
      }
    });

    it("does not let the rogue take over the victim's session by client id", async () => {
      for (const version of s.versions) {
        await connectRogue(version, { clientId: "victim" });
        expect(victimDrops).toBe(0);
        expect((await rpc("echo", ["still here"])).status).toBe(200);
      }
      expect(leaked).toEqual([]);
    });
  });
}

isolationSuite("embedded aedes broker", (ids) => embedded(ids));
// Connections alternate between the workers, so victim and rogues sit in both the same and different processes.
isolationSuite("embedded aedes broker over two worker processes", (ids) => embedded(ids, 2));
isolationSuite("mosquitto 2.0 with the generated password file and ACL", withMosquitto);

describe("ACL hooks, called directly", () => {
  let hooks: ReturnType<typeof createAclHooks>;
  let dev: Client;
  let cred: string;
  beforeAll(() => {
    const registry = new Registry(mkdtempSync(join(tmpdir(), "outpost-acl-")));
    cred = registry.addDevice("d1").credential;
    hooks = createAclHooks({ prefix: "devices", verifyDevice: (id, c) => registry.verifyDevice(id, c), backendPassword: "backend-pw" });
    dev = { id: "whatever" } as unknown as Client;
  });

  const auth = (client: Client, user: string | undefined, pw: string | undefined) =>
    new Promise<{ ok: boolean | null; code?: number }>((resolve) =>
      hooks.authenticate(client, user, pw === undefined ? undefined : Buffer.from(pw), (err, ok) => resolve({ ok, code: err?.returnCode })),
    );
  const pub = (client: Client | null, topic: string) =>
    new Promise<Error | null | undefined>((resolve) =>
      hooks.authorizePublish(client, { cmd: "publish", topic, payload: "", qos: 0, dup: false, retain: false }, resolve),
    );
  const sub = (client: Client, topic: string) => new Promise<unknown>((resolve) => hooks.authorizeSubscribe(client, { topic, qos: 0 }, (_e, s) => resolve(s)));

  it("authenticate: id + credential, with the client id pinned to the username", async () => {
    expect(await auth(dev, "d1", "nope")).toEqual({ ok: false, code: 4 });
    expect(await auth(dev, undefined, undefined)).toEqual({ ok: false, code: 4 });
    expect(await auth(dev, "a/b", cred)).toEqual({ ok: false, code: 4 });
    expect(await auth(dev, "d1", cred)).toEqual({ ok: true, code: undefined });
    expect(dev.id).toBe("d1");
  });

  it("authenticate: a will outside the device's own topics refuses the connection (5)", async () => {
    const c = { id: "c", _will: { topic: "devices/d2/status" } } as unknown as Client;
    expect(await auth(c, "d1", cred)).toEqual({ ok: false, code: 5 });
  });

  it("authorizePublish: own tx, status, telemetry only; the backend and the broker itself are privileged", async () => {
    for (const t of ["devices/d1/tx", "devices/d1/status", "devices/d1/telemetry"]) expect(await pub(dev, t)).toBeNull();
    for (const t of ["devices/d1/rx", "devices/d2/tx", "devices/d1", "$SYS/x", "other"]) expect(await pub(dev, t)).toBeInstanceOf(AclRefused);
    expect(await pub(null, "devices/d2/rx")).toBeNull();
    const backend = { id: "b" } as unknown as Client;
    expect(await auth(backend, BACKEND_USERNAME, "backend-pw")).toEqual({ ok: true, code: undefined });
    expect(await pub(backend, "devices/d2/rx")).toBeNull();
    expect(await pub({ id: "anon" } as unknown as Client, "devices/d1/tx")).toBeInstanceOf(AclRefused);
  });

  it("authorizeSubscribe: exactly the own rx", async () => {
    expect(await sub(dev, "devices/d1/rx")).toEqual({ topic: "devices/d1/rx", qos: 0 });
    for (const t of ["#", "devices/+/rx", "devices/d1/#", "devices/d2/rx", "devices/d1/tx", "$SYS/#"]) expect(await sub(dev, t)).toBeNull();
  });

  it("the generated mosquitto ACL grants devices only their own topics, by %u pattern", () => {
    expect(mosquittoAclFile("devices")).toBe(
      [
        "user outpost-backend",
        "topic readwrite devices/#",
        "",
        "pattern read devices/%u/rx",
        "pattern write devices/%u/tx",
        "pattern write devices/%u/status",
        "pattern write devices/%u/telemetry",
        "",
      ].join("\n"),
    );
  });
});
