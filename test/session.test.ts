// Kept sessions end to end: a module device (V8) behind a Link the test cuts, against the embedded aedes (the
// backend's own in-process bus) and against mosquitto (the backend's MQTT bus). A host method counts how often
// the request really ran on the device.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { Decoder, type Packet } from "../host/codec/index.ts";
import { deviceRunCommand } from "../host/cli/device-run.ts";
import { CliError } from "../host/cli/common.ts";
import { DEFAULT_SESSION_EXPIRY, Device, type DeviceConnectOptions } from "../host/device.ts";
import { deviceTopics } from "../host/broker/acl.ts";
import { writeMosquittoConfig } from "../host/broker/mosquitto.ts";
import { Registry } from "../host/registry/registry.ts";
import { MqttBus, connectBackendClient, type Bus, type PublishOptions } from "../host/rpc/bus.ts";
import { RpcCorrelator } from "../host/rpc/correlator.ts";
import type { Backend } from "../host/server/backend.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { Link } from "./support/link.ts";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const PREFIX = "devices";
const bin = fileURLToPath(new URL("../bin/outpost.js", import.meta.url));
const RECONNECT = { minMs: 20, maxMs: 100 };

/** What the backend sees of one device: its answers on tx and its online/offline statuses, in arrival order. */
class Watch {
  readonly answers: { id?: unknown; result?: unknown }[] = [];
  online = 0;
  offline = 0;

  static async start(bus: Bus, id: string): Promise<Watch> {
    const w = new Watch();
    const t = deviceTopics(PREFIX, id);
    await bus.subscribe([t.tx, t.status], (msg) => {
      const body = msg.payload.length ? JSON.parse(msg.payload.toString("utf8")) : {};
      if (msg.topic === t.tx) w.answers.push(body);
      else if (body.online === true) w.online++;
      else w.offline++;
    });
    return w;
  }

  answered(requestId: string): number {
    return this.answers.filter((a) => a.id === requestId).length;
  }
}

interface Broker {
  /** The port devices dial (through a Link). */
  port: number;
  /** The backend's bus on this broker. */
  bus: Bus;
  credential(id: string): string;
  close(): Promise<void>;
}

/** One device with a counting method, connected through its own Link. */
async function startDevice(broker: Broker, id: string, connect: DeviceConnectOptions, onRun: (runs: number) => void = () => {}) {
  const state = { runs: 0 };
  const device = new Device({ id, methods: { "counter.bump": () => (onRun(++state.runs), state.runs) } });
  const attached = await attach(broker, id, async (url, password) => {
    await device.connect(url, { password, reconnect: RECONNECT, ...connect });
    return () => device.close();
  });
  return { ...attached, state, device };
}

/** `outpost device run` in its own process, through its own Link; its built-in echo answers. */
async function startCli(broker: Broker, id: string, flags: string[]) {
  return attach(broker, id, async (url, password) => {
    const proc = spawn(process.execPath, [bin, "device", "run", "--id", id, "--url", url, "--password", password, ...flags], { stdio: "ignore" });
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    return async () => {
      proc.kill("SIGTERM");
      await exited;
    };
  });
}

/** A device started by `run` on a Link to the broker, watched from the backend's bus, online and answering. */
async function attach(broker: Broker, id: string, run: (url: string, password: string) => Promise<() => Promise<void>>) {
  const link = await new Link(broker.port).listen();
  const watch = await Watch.start(broker.bus, id);
  const stop = await run(link.url, broker.credential(id));
  const rx = deviceTopics(PREFIX, id).rx;
  const send = (requestId: string, method: string, qos: 1 | 2) =>
    broker.bus.publish(rx, JSON.stringify({ jsonrpc: "2.0", id: requestId, method }), { qos } satisfies PublishOptions);
  /** A request answered: also a barrier, since a session delivers in order (what was queued before it ran first). */
  const call = async (requestId: string, qos: 1 | 2) => {
    send(requestId, "echo", qos);
    await waitFor(() => watch.answered(requestId) > 0);
  };
  await waitFor(() => watch.online > 0); // the rx subscription is in place
  await call("ready", 1);
  return {
    link,
    watch,
    send,
    call,
    /** Cuts the link and waits for the broker to notice (it publishes the device's will). */
    async cut() {
      const before = watch.offline;
      link.cut();
      await waitFor(() => watch.offline > before);
    },
    /** Restores the link and waits until the device is online again (rx subscribed or session kept). */
    async restore() {
      const before = watch.online;
      link.restore();
      await waitFor(() => watch.online > before);
    },
    async close() {
      await stop();
      await link.close();
    },
  };
}

async function embeddedAedes(): Promise<Broker & { backend: Backend }> {
  const backend = await startTestBackend("session");
  const embedded = backend.broker!;
  return {
    backend,
    port: embedded.port,
    bus: embedded.bus,
    credential: (id) => backend.registry.addDevice(id).credential,
    close: () => backend.close(),
  };
}

async function mosquitto(ids: string[]): Promise<Broker> {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-session-"));
  const registry = new Registry(dataDir);
  const credentials = new Map(ids.map((id) => [id, registry.addDevice(id).credential]));
  const broker: Mosquitto = await startMosquitto(writeMosquittoConfig(registry, join(dataDir, "mosquitto")));
  const bus = new MqttBus(await connectBackendClient(broker.url, registry.backendPassword()));
  registry.close();
  return {
    port: broker.port,
    bus,
    credential: (id) => credentials.get(id)!,
    async close() {
      await bus.close();
      await broker.stop();
    },
  };
}

const QOS = [1, 2] as const;
// The CLI runs (a process each) once per broker: its flags, not the protocol matrix above, are what they test.
const matrix = [
  { name: "aedes (embedded backend)", protocols: [4] as const, cli: { protocol: 4, dropping: ["--clean"] }, start: () => embeddedAedes() },
  {
    name: "mosquitto",
    protocols: [4, 5] as const,
    cli: { protocol: 5, dropping: ["--protocol", "5", "--session-expiry", "0"] },
    start: (ids: string[]) => mosquitto(ids),
  },
];

describe.each(matrix)("kept session on $name", ({ name, protocols, cli, start }) => {
  const cases = protocols.flatMap((protocol) => QOS.map((qos) => ({ protocol, qos, tag: `${name.split(" ")[0]}-v${protocol}-q${qos}` })));
  const cliTag = `${name.split(" ")[0]}-cli`;
  const ids = [...cases.flatMap((c) => ["away", "clean", "cut", "expiry"].map((s) => `${c.tag}-${s}`)), `${cliTag}-kept`, `${cliTag}-dropped`];
  let broker: Broker;
  const stops: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    broker = await start(ids);
  });
  afterAll(async () => {
    for (const stop of stops) await stop();
    await broker.close();
  });

  describe.each(cases)("MQTT v$protocol, requests at QoS $qos", ({ protocol, qos, tag }) => {
    it("a request published while the device is away runs exactly once after it reconnects", async () => {
      const d = await startDevice(broker, `${tag}-away`, { protocolVersion: protocol });
      stops.push(d.close);
      await d.cut();
      d.send("during", "counter.bump", qos);
      await d.restore();
      await d.call("after", qos);
      expect(d.state.runs).toBe(1);
      expect(d.watch.answers.find((a) => a.id === "during")).toEqual({ jsonrpc: "2.0", id: "during", result: 1 });
    });

    it("clean: true starts without the session, so the queued request is dropped", async () => {
      const d = await startDevice(broker, `${tag}-clean`, { protocolVersion: protocol, clean: true });
      stops.push(d.close);
      await d.cut();
      d.send("during", "counter.bump", qos);
      await d.restore(); // online after the SUBACK: the rx subscription is in place again
      await d.call("after", qos);
      expect(d.state.runs).toBe(0);
      expect(d.watch.answered("during")).toBe(0);
    });

    // The device got the request and ran it, but its acknowledgement never reached the broker: the broker sends
    // it again on the kept session. QoS 2 recognises the packet id (exactly once); QoS 1 cannot (at least once).
    it(`a redelivery after the acknowledgement was lost ${qos === 2 ? "does not run it again" : "runs it again (QoS 1 is at least once)"}`, async () => {
      let link: Link | undefined;
      const d = await startDevice(broker, `${tag}-cut`, { protocolVersion: protocol }, (runs) => {
        if (runs === 1) link!.dropFromDevice = true; // the PUBACK/PUBREC and the answer go after this returns
      });
      stops.push(d.close);
      link = d.link;
      d.send("during", "counter.bump", qos);
      await waitFor(() => d.state.runs === 1 && d.link.dropped > 0);
      await d.cut();
      await d.restore();
      await d.call("after", qos);
      expect(d.state.runs).toBe(qos === 2 ? 1 : 2);
      // The answer the link swallowed was in the device's outbox: it went again after the reconnect.
      expect(d.watch.answered("during")).toBeGreaterThan(0);
    });

    if (protocol === 5) {
      it("MQTT 5 with sessionExpiry: 0 ends the session at the disconnect, so the queued request is dropped", async () => {
        const d = await startDevice(broker, `${tag}-expiry`, { protocolVersion: 5, sessionExpiry: 0 });
        stops.push(d.close);
        await d.cut();
        d.send("during", "counter.bump", qos);
        await d.restore();
        await d.call("after", qos);
        expect(d.state.runs).toBe(0);
      });
    }
  });

  describe(`outpost device run, MQTT v${cli.protocol}`, () => {
    const version = cli.protocol === 5 ? ["--protocol", "5"] : [];
    /** Cuts the CLI device's link, sends a request while it is away, brings it back; how often was it answered? */
    const answeredAfterOutage = async (id: string, flags: string[]) => {
      const d = await startCli(broker, id, flags);
      stops.push(d.close);
      await d.cut();
      d.send("during", "echo", 2);
      await d.restore();
      await d.call("after", 2);
      return d.watch.answered("during");
    };

    it("keeps the session by default: a request sent while the device was away is answered once", async () => {
      expect(await answeredAfterOutage(`${cliTag}-kept`, version)).toBe(1);
    });

    it(`${cli.dropping.slice(-2).join(" ")} ends the session: the request is lost`, async () => {
      expect(await answeredAfterOutage(`${cliTag}-dropped`, cli.dropping)).toBe(0);
    });
  });
});

describe("the backend's requests", () => {
  it("go at QoS 2 (requests and notifications)", () => {
    const sent: (PublishOptions | undefined)[] = [];
    const bus: Bus = { requestResponse: true, publish: (_t, _p, opts) => void sent.push(opts), subscribe: async () => async () => {}, close: async () => {} };
    const correlator = new RpcCorrelator(bus, PREFIX);
    void correlator.call("d1", "echo", [1], 1, 60_000).catch(() => {});
    correlator.notify("d1", "ping", undefined);
    correlator.close();
    expect(sent.map((o) => o?.qos)).toEqual([2, 2]);
    expect(sent[0]?.responseTopic).toBe("devices/d1/tx");
  });

  it("a REST call written into a dead link the broker cannot see yet runs once the device is back", async () => {
    const aedes = await embeddedAedes();
    try {
      const d = await startDevice(aedes, "rest-1", {});
      const { key } = aedes.backend.registry.createApiKey();
      const api = apiClient(
        () => aedes.backend.url,
        () => `Bearer ${key}`,
      );
      // The backend asks a device's rpc.list at its first call (to check params): asked here, while the link is up.
      expect((await api("/api/v1/devices/rest-1/rpc/rpc.list", { method: "POST" })).status).toBe(200);
      // Silent in both directions, as a pulled cable: the broker still counts the device as connected.
      d.link.dropFromDevice = d.link.dropToDevice = true;
      const call = api("/api/v1/devices/rest-1/rpc", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "counter.bump" } });
      await waitFor(() => d.link.dropped > 0); // the broker wrote the request into the dead link
      await d.cut();
      // The broker saw the connection end: the caller is told it may have run (delivered, no answer).
      expect(await call).toMatchObject({ status: 504, body: { error: "device_no_answer", delivered: true } });
      await d.restore();
      await d.call("after", 2);
      expect(d.state.runs).toBe(1);
      await d.close();
    } finally {
      await aedes.close();
    }
  });

  it("deleting a device forgets its kept session: a new device under that id does not get the old one's requests", async () => {
    const aedes = await embeddedAedes();
    try {
      const old = await startDevice(aedes, "del-1", {});
      await old.cut();
      old.send("queued", "counter.bump", 2); // waits in the old device's session
      const { key } = aedes.backend.registry.createApiKey();
      const res = await fetch(`${aedes.backend.url}/api/v1/devices/del-1`, { method: "DELETE", headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(204);
      await old.close();
      const fresh = await startDevice(aedes, "del-1", {}); // registered again, new credential; "ready" answered
      let sessionPresent: boolean | undefined;
      fresh.device.mqtt!.once("connect", (present: boolean) => (sessionPresent = present));
      await fresh.cut();
      await fresh.restore(); // this time a session was kept: its own
      await fresh.call("after", 2);
      expect(fresh.state.runs).toBe(0);
      expect(fresh.watch.answered("queued")).toBe(0);
      expect(sessionPresent).toBe(true);
      await fresh.close();
    } finally {
      await aedes.close();
    }
  });
});

describe("Device.connect session options", () => {
  /** The CONNECT a device sends with `opts`, decoded, from a listener that never answers it. */
  async function firstConnect(opts: DeviceConnectOptions) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const decoder = new Decoder({ protocolVersion: opts.protocolVersion ?? 4 });
    const got = new Promise<Packet>((resolve) => server.once("connection", (sock) => sock.on("data", (d) => decoder.push(d).forEach((p) => resolve(p)))));
    const device = new Device({ id: "connect-bytes" });
    void device.connect(`mqtt://127.0.0.1:${(server.address() as { port: number }).port}`, opts);
    const packet = await got;
    await device.close();
    await new Promise((resolve) => server.close(resolve));
    return packet as Packet & { clean?: boolean; properties?: { sessionExpiryInterval?: number } };
  }

  it("asks for a kept session by default, with a Session Expiry of an hour over MQTT 5", async () => {
    const v4 = await firstConnect({});
    expect(v4).toMatchObject({ cmd: "connect", protocolVersion: 4, clean: false });
    expect(v4.properties).toBeUndefined();
    expect(await firstConnect({ protocolVersion: 5 })).toMatchObject({ clean: false, properties: { sessionExpiryInterval: DEFAULT_SESSION_EXPIRY } });
    expect(DEFAULT_SESSION_EXPIRY).toBe(3600);
    expect(await firstConnect({ protocolVersion: 5, sessionExpiry: 60 })).toMatchObject({ clean: false, properties: { sessionExpiryInterval: 60 } });
    // clean: the v5 property is left out (0), so the session ends with the connection too.
    const clean = await firstConnect({ protocolVersion: 5, clean: true });
    expect(clean.clean).toBe(true);
    expect(clean.properties?.sessionExpiryInterval).toBeUndefined();
    expect(await firstConnect({ clean: true })).toMatchObject({ protocolVersion: 4, clean: true });
  });

  it("refuses a sessionExpiry the module could not carry, by name, before connecting", async () => {
    for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) {
      const device = new Device({ id: "bad-expiry" });
      await expect(device.connect("mqtt://127.0.0.1:1", { protocolVersion: 5, sessionExpiry: bad })).rejects.toThrow(
        new RangeError(`sessionExpiry must be whole seconds from 0 to 4294967295, not ${bad}`),
      );
      expect(device.mqtt).toBeUndefined(); // nothing started
    }
  });
});

describe("outpost device run session flags", () => {
  /** Parses `args` as `outpost device run` does, in this process; resolves with the error it stops at. */
  const mistake = (...args: string[]) =>
    deviceRunCommand()
      .exitOverride()
      .configureOutput({ writeErr: () => {} })
      .parseAsync(["--id", "a", ...args], { from: "user" })
      .then(
        () => new Error("accepted"),
        (err: Error) => err,
      );

  it("names a bad or pointless value", async () => {
    for (const bad of ["1.5", "-1", "4294967296", "soon", ""])
      expect((await mistake("--url", "mqtt://127.0.0.1:1", "--protocol", "5", "--session-expiry", bad)).message).toBe(
        `error: option '--session-expiry <seconds>' argument '${bad}' is invalid. not whole seconds from 0 to 4294967295: ${bad}`,
      );
    expect(await mistake("--url", "mqtt://127.0.0.1:1", "--session-expiry", "60")).toEqual(
      new CliError("--session-expiry needs --protocol 5 (MQTT 3.1.1 has no session expiry: the broker decides how long it keeps a session)"),
    );
    expect(await mistake("--url", "ws://127.0.0.1:1/api/v1/devices/ws", "--clean")).toEqual(
      new CliError("--clean and --session-expiry are MQTT options: a WebSocket device has no broker session"),
    );
  });
});
