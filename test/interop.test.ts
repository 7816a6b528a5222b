// The module's MQTT client against real brokers over loopback: mosquitto (v3.1.1 and
// v5, started with its own config on a free port) and aedes in-process (v3.1.1).
// mqtt.js is the peer on the other side of every exchange.
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { once } from "node:events";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineName } from "../host/engine.ts";
import { MqttClient, type CloseInfo, type ConnectOptions } from "../host/mqtt/client.ts";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const ERR_KEEPALIVE_TIMEOUT = 27;

interface Broker {
  url: string;
  close(): Promise<void>;
}

async function startAedes(): Promise<Broker> {
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    aedes.handle(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
}

async function mosquittoBroker(): Promise<Broker> {
  const m = await startMosquitto();
  return { url: m.url, close: () => m.stop() };
}

let seq = 0;
const uniq = (p: string) => `${p}-${process.pid}-${++seq}`;

async function peer(url: string, version: 4 | 5, opts: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(url, { protocolVersion: version, reconnectPeriod: 100, ...opts } as mqtt.IClientOptions);
  await new Promise((resolve) => c.once("connect", resolve));
  return c;
}

/** Resolves when n distinct (topic, payload) messages arrived (QoS 1 may repeat one). */
function collect(c: MqttClient | mqtt.MqttClient, n: number, filter?: (topic: string) => boolean) {
  const got: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
  return {
    got,
    done: new Promise<typeof got>((resolve) => {
      (c as any).on("message", (topic: string, payload: Buffer, packet: any) => {
        if (filter && !filter(topic)) return;
        got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: !!packet.retain });
        if (new Set(got.map((m) => m.topic + "\0" + m.payload)).size === n) resolve(got);
      });
    }),
  };
}

/** The module's client (release build, as shipped), reconnecting quickly. */
async function ours(url: string, opts: ConnectOptions): Promise<MqttClient> {
  const c = new MqttClient({ build: "release", reconnect: { minMs: 50, maxMs: 200 }, ...opts });
  await c.connect(url);
  return c;
}

const suites: { name: string; version: 4 | 5; start: () => Promise<Broker>; engine?: EngineName }[] = [
  { name: "mosquitto v3.1.1", version: 4, start: mosquittoBroker },
  { name: "mosquitto v5", version: 5, start: mosquittoBroker },
  { name: "mosquitto v5, module under wasm3", version: 5, start: mosquittoBroker, engine: "wasm3" },
  { name: "aedes v3.1.1", version: 4, start: startAedes },
];

for (const suite of suites) {
  describe(`interop: ${suite.name}`, () => {
    let broker: Broker;
    beforeAll(async () => {
      broker = await suite.start();
    });
    afterAll(async () => {
      await broker.close();
    });

    it("connects, subscribes and receives QoS 0, 1 and 2 from a peer", async () => {
      const topic = uniq("in");
      const c = await ours(broker.url, { clientId: uniq("dev"), protocolVersion: suite.version, engine: suite.engine });
      expect(await c.subscribe(`${topic}/#`, { qos: 2 })).toBe(2);
      const p = await peer(broker.url, suite.version);
      const box = collect(c, 3);
      for (const qos of [0, 1, 2] as const) p.publish(`${topic}/q${qos}`, `m${qos}`, { qos });
      const got = await box.done;
      expect(got.map((m) => [m.topic, m.payload, m.qos]).sort()).toEqual([
        [`${topic}/q0`, "m0", 0],
        [`${topic}/q1`, "m1", 1],
        [`${topic}/q2`, "m2", 2],
      ]);
      expect(await c.unsubscribe(`${topic}/#`)).toBe(0);
      await c.end();
      await p.endAsync();
    });

    it("publishes QoS 0, 1 and 2 to a peer", async () => {
      const topic = uniq("out");
      const p = await peer(broker.url, suite.version);
      await p.subscribeAsync(`${topic}/#`, { qos: 2 });
      const box = collect(p, 3);
      const c = await ours(broker.url, { clientId: uniq("dev"), protocolVersion: suite.version, engine: suite.engine });
      await Promise.all(([0, 1, 2] as const).map((qos) => c.publish(`${topic}/q${qos}`, `m${qos}`, { qos })));
      const got = await box.done;
      expect(got.map((m) => [m.topic, m.payload, m.qos]).sort()).toEqual([
        [`${topic}/q0`, "m0", 0],
        [`${topic}/q1`, "m1", 1],
        [`${topic}/q2`, "m2", 2],
      ]);
      await c.end();
      await p.endAsync();
    });

    it("keeps a retained online status and has the broker publish the offline will on an abrupt close", async () => {
      const id = uniq("dev");
      const status = `devices/${id}/status`;
      const c = await ours(broker.url, {
        clientId: id,
        protocolVersion: suite.version,
        engine: suite.engine,
        will: { topic: status, payload: '{"online":false}', qos: 1, retain: true },
      });
      await c.publish(status, '{"online":true}', { qos: 1, retain: true });
      const p = await peer(broker.url, suite.version);
      const box = collect(p, 2);
      await p.subscribeAsync(status, { qos: 1 });
      await new Promise((r) => setTimeout(r, 0));
      c.destroySocket();
      const got = await box.done;
      expect(got[0]).toMatchObject({ payload: '{"online":true}', retain: true });
      expect(got[1]).toMatchObject({ payload: '{"online":false}' });
      await c.end();
      // A newcomer sees the retained offline status.
      const late = await peer(broker.url, suite.version);
      const box2 = collect(late, 1);
      await late.subscribeAsync(status, { qos: 1 });
      expect((await box2.done)[0]).toMatchObject({ payload: '{"online":false}', retain: true });
      await p.endAsync();
      await late.endAsync();
    });

    it("sends no will on a clean end()", async () => {
      const id = uniq("dev");
      const status = `devices/${id}/status`;
      const p = await peer(broker.url, suite.version);
      await p.subscribeAsync(status, { qos: 1 });
      const c = await ours(broker.url, {
        clientId: id,
        protocolVersion: suite.version,
        engine: suite.engine,
        will: { topic: status, payload: "offline", qos: 1, retain: false },
      });
      const box = collect(p, 1);
      await c.end();
      // A marker published after the end arrives first only if no will was sent.
      p.publish(status, "marker", { qos: 1 });
      expect((await box.done)[0].payload).toBe("marker");
      await p.endAsync();
    });

    it("keeps an idle connection alive with PINGREQ", async () => {
      const c = await ours(broker.url, { clientId: uniq("dev"), protocolVersion: suite.version, engine: suite.engine, keepalive: 1 });
      const closes: CloseInfo[] = [];
      c.on("close", (info: CloseInfo) => closes.push(info));
      // Idle for three keep-alive periods: a broker drops a silent client after 1.5.
      await new Promise((r) => setTimeout(r, 3200));
      expect(closes).toEqual([]);
      const topic = uniq("alive");
      expect(await c.subscribe(topic, { qos: 1 })).toBe(1);
      await c.end();
    });
  });
}

/** A TCP relay to the broker that can go silent (a dead link: nothing passes, nothing closes). */
async function silentRelay(target: string): Promise<{ url: string; mute(): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  let muted = false;
  const pairs: Socket[] = [];
  const server: Server = createServer((a) => {
    const b = netConnect(Number(port), hostname);
    pairs.push(a, b);
    a.on("data", (d) => muted || b.write(d));
    b.on("data", (d) => muted || a.write(d));
    a.on("error", () => b.destroy());
    b.on("error", () => a.destroy());
    a.on("close", () => b.destroy());
    b.on("close", () => a.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    mute: () => (muted = true),
    async close() {
      for (const s of pairs) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe("interop: mosquitto, failures", () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    // As root, mosquitto drops to user "mosquitto" and cannot save its database in
    // our private temp dir: sessions would not survive the restart.
    broker = await startMosquitto(process.getuid?.() === 0 ? ["user root"] : []);
  });
  afterAll(async () => {
    await broker.stop();
  });

  it("declares the connection dead when PINGRESP does not come", async () => {
    const relay = await silentRelay(broker.url);
    const c = await ours(relay.url, { clientId: uniq("dev"), keepalive: 1, timeoutMs: 500 });
    const closed = once(c, "close");
    relay.mute();
    const [info] = (await closed) as [CloseInfo];
    expect(info.error).toBe(ERR_KEEPALIVE_TIMEOUT);
    await c.end();
    await relay.close();
  });

  for (const version of [4, 5] as const) {
    it(`v${version}: reconnects after the broker restarts and loses no QoS 1/2 message either way`, async () => {
      const id = uniq("dev");
      const peerId = uniq("peer");
      const session = version === 5 ? { sessionExpiryInterval: 3600 } : undefined;
      const c = await ours(broker.url, { clientId: id, protocolVersion: version, clean: false, properties: session });
      expect(await c.subscribe(`${id}/in`, { qos: 2 })).toBe(2);
      const p = await peer(broker.url, version, {
        clientId: peerId,
        clean: false,
        properties: version === 5 ? { sessionExpiryInterval: 3600 } : undefined,
      });
      await p.subscribeAsync(`${id}/out`, { qos: 2 });

      const outbound = collect(p, 20);
      const inbound = collect(c, 10);
      const sent: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) sent.push(c.publish(`${id}/out`, `a${i}`, { qos: (1 + (i % 2)) as 1 | 2 }));
      await broker.stop();
      // While the broker is down: queued in the outbox, then delivered after the restart.
      for (let i = 10; i < 20; i++) sent.push(c.publish(`${id}/out`, `a${i}`, { qos: (1 + (i % 2)) as 1 | 2 }));
      await broker.start();
      await Promise.all(sent);
      while (!p.connected) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 10; i++) p.publish(`${id}/in`, `b${i}`, { qos: (1 + (i % 2)) as 1 | 2 });
      const uniqueOut = new Set((await outbound.done).map((m) => m.payload));
      const uniqueIn = new Set((await inbound.done).map((m) => m.payload));
      expect([...uniqueOut].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `a${i}`).sort());
      expect([...uniqueIn].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `b${i}`).sort());
      await c.end();
      await p.endAsync();
    });
  }
});
