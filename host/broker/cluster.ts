// The embedded broker spread over worker processes (node:cluster), for more device connections than one process
// may hold open (each is a file descriptor). Every worker runs aedes with the same ACL on the shared MQTT port;
// the backend's process is the hub. A worker forwards what its clients publish to the hub, which hands it to the
// backend's bus and to the workers that may have a subscriber: the one holding the device whose rx it is, and any
// with a client on the backend's credentials (it may subscribe to anything; a device only to its own rx).
// Retained messages go to every worker, so each keeps all of them, and the hub keeps a copy for a worker started
// later. The hub also knows which worker holds which device: when a device reconnects through another worker,
// its older connection is closed, and what that connection still publishes (its will) is dropped; when a worker
// dies, the hub publishes the wills of the devices it held.
import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { topicMatches } from "../codec/index.ts";
import type { Bus, BusMessage, PublishOptions, Unsubscribe } from "../rpc/bus.ts";
import type { DeviceEvents, EmbeddedBroker } from "./embedded.ts";

/** What the hub tells a worker at start (in its environment). */
export interface WorkerConfig {
  port: number;
  host?: string;
  prefix: string;
  dataDir: string;
}
export const WORKER_CONFIG_ENV = "OUTPOST_BROKER_WORKER";

/** A published message between processes (payload bytes survive the "advanced" IPC serialization). */
export interface Forwarded {
  t: "pub";
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The device that published it, when a device did. */
  device?: string;
}
export type ToHub =
  | Forwarded
  | { t: "up"; id: string; will?: Forwarded }
  | { t: "sub" | "gone"; id: string }
  | { t: "privileged"; connected: boolean }
  | { t: "hello" }
  | { t: "failed"; message: string };
export type ToWorker = Forwarded | { t: "kick"; id: string } | { t: "revalidate" } | { t: "close" } | { t: "retained-sent" };

export class BrokerWorkerFailed extends Error {
  override name = "BrokerWorkerFailed";
}

/** The backend's bus on the hub: publishes are routed like a client's; workers' messages are matched against the filters here. */
class ClusterBus implements Bus {
  readonly requestResponse = false;
  private subs: { filter: string; onMessage: (msg: BusMessage) => void }[] = [];

  constructor(private readonly route: (msg: Forwarded) => void) {}

  publish(topic: string, payload: Buffer | string, opts: PublishOptions = {}): void {
    const bytes = Buffer.from(payload);
    this.route({ t: "pub", topic, payload: bytes, qos: opts.qos ?? 0, retain: opts.retain ?? false });
    // And to the hub's own subscribers, as a broker delivers to every client: the WebSocket gateway takes a
    // device's rx here, and the correlator the responses the gateway publishes on tx.
    this.deliver({ topic, payload: bytes });
  }

  async subscribe(filters: string[], onMessage: (msg: BusMessage) => void): Promise<Unsubscribe> {
    const mine = filters.map((filter) => ({ filter, onMessage }));
    this.subs.push(...mine);
    return async () => {
      this.subs = this.subs.filter((s) => !mine.includes(s));
    };
  }

  deliver(msg: BusMessage): void {
    for (const s of this.subs) if (topicMatches(s.filter, msg.topic)) s.onMessage(msg);
  }

  async close(): Promise<void> {
    this.subs = [];
  }
}

export interface ClusterOptions extends DeviceEvents {
  port: number;
  host?: string;
  prefix: string;
  dataDir: string;
  workers: number;
  logger: Logger;
  beforeListen?: (bus: Bus) => Promise<void>;
}

const ENTRY = fileURLToPath(new URL("../../bin/outpost.js", import.meta.url));
const CLOSE_GRACE_MS = 5000;
const RESPAWN_DELAY_MS = 1000;

export async function startBrokerCluster(opts: ClusterOptions): Promise<EmbeddedBroker> {
  const workers = new Set<Worker>();
  /** Workers accepting connections (a replacement is in `workers` from its fork, here once it listens). */
  const listening = new Set<Worker>();
  /** Which worker holds each connected device, whether its rx subscription is in place, and its will. */
  const holders = new Map<string, { worker: Worker; subscribed: boolean; will?: Forwarded }>();
  /** Per worker, its clients on the backend's credentials. */
  const privileged = new Map<Worker, number>();
  /** Every retained message by topic, for a worker that starts later. */
  const retained = new Map<string, Forwarded>();
  let closing = false;

  const rxPrefix = `${opts.prefix}/`;
  /** The device whose rx `topic` is, if it is one. */
  const rxOf = (topic: string) => {
    if (!topic.startsWith(rxPrefix) || !topic.endsWith("/rx")) return undefined;
    const id = topic.slice(rxPrefix.length, -3);
    return id.includes("/") ? undefined : id;
  };
  /** Sends a message to every worker but `from` that may need it. */
  const route = (msg: Forwarded, from?: Worker) => {
    if (msg.retain) {
      if (msg.payload.byteLength === 0) retained.delete(msg.topic);
      else retained.set(msg.topic, msg);
    }
    const rx = msg.retain ? undefined : rxOf(msg.topic);
    const holder = rx === undefined ? undefined : holders.get(rx)?.worker;
    for (const w of workers) if (w !== from && (msg.retain || w === holder || privileged.get(w))) w.send(msg);
  };
  const bus = new ClusterBus(route);
  await opts.beforeListen?.(bus);

  const config: WorkerConfig = { port: opts.port, host: opts.host ?? "127.0.0.1", prefix: opts.prefix, dataDir: opts.dataDir };
  cluster.setupPrimary({ exec: ENTRY, args: [], serialization: "advanced" });

  /** A message a client published: to the backend's bus, then to the workers that may need it. */
  const publish = (msg: Forwarded, from?: Worker) => {
    bus.deliver({ topic: msg.topic, payload: Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength) });
    route(msg, from);
  };

  const onMessage = (worker: Worker, msg: ToHub) => {
    switch (msg.t) {
      case "pub": {
        const holder = msg.device === undefined ? undefined : holders.get(msg.device)?.worker;
        if (holder && holder !== worker) {
          // From a connection the device has replaced through another worker, such as its will ("offline")
          // published as it was closed: stale. That worker keeps the current retained message, not this one.
          const current = msg.retain ? retained.get(msg.topic) : undefined;
          if (current) worker.send(current);
          break;
        }
        publish(msg, worker);
        break;
      }
      case "hello":
        // The worker listens for messages now: it gets every retained message before it accepts a client.
        for (const m of retained.values()) worker.send(m);
        worker.send({ t: "retained-sent" } satisfies ToWorker);
        break;
      case "privileged":
        privileged.set(worker, (privileged.get(worker) ?? 0) + (msg.connected ? 1 : -1));
        break;
      case "up": {
        const before = holders.get(msg.id);
        if (before && before.worker !== worker) before.worker.send({ t: "kick", id: msg.id } satisfies ToWorker);
        holders.set(msg.id, { worker, subscribed: false, will: msg.will });
        opts.onDeviceConnected?.(msg.id, undefined);
        break;
      }
      case "sub": {
        const h = holders.get(msg.id);
        if (h?.worker !== worker) break;
        h.subscribed = true;
        opts.onDeviceSubscribed?.(msg.id);
        break;
      }
      case "gone":
        if (holders.get(msg.id)?.worker !== worker) break; // replaced by a connection through another worker
        holders.delete(msg.id);
        opts.onDeviceGone?.(msg.id);
        break;
    }
  };

  /** Forks one worker; resolves with the port once it listens, rejects if it fails first. */
  const fork = () =>
    new Promise<number>((resolve, reject) => {
      const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
      workers.add(worker);
      worker.on("error", (err) => opts.logger.warn({ err: err.message, pid: worker.process.pid }, "broker worker channel"));
      worker.on("message", (msg: ToHub) => {
        if (msg.t === "failed") reject(new BrokerWorkerFailed(msg.message));
        else onMessage(worker, msg);
      });
      worker.once("listening", (address) => {
        listening.add(worker);
        resolve(address.port);
      });
      worker.once("exit", (code, signal) => {
        workers.delete(worker);
        privileged.delete(worker);
        const wasListening = listening.delete(worker);
        for (const [id, h] of holders) {
          if (h.worker !== worker) continue;
          holders.delete(id);
          // Its connections ended without a DISCONNECT: their wills are due, as the worker would have sent them.
          if (h.will && !closing) publish(h.will);
          opts.onDeviceGone?.(id);
        }
        if (!wasListening) return reject(new BrokerWorkerFailed(`broker worker exited before listening (code ${code}, signal ${signal})`));
        if (closing) return;
        // Its devices reconnect by themselves, through the workers left and the one started in its place.
        opts.logger.error({ pid: worker.process.pid, code, signal }, "broker worker died; starting another");
        setTimeout(() => {
          if (!closing) fork().catch((err: Error) => opts.logger.error({ err: err.message }, "broker worker could not be restarted"));
        }, RESPAWN_DELAY_MS).unref();
      });
    });

  let port: number;
  try {
    // node:cluster hands every worker the same listening socket, the same port even when asked for any (0).
    const ports = await Promise.all(Array.from({ length: opts.workers }, fork));
    port = ports[0];
  } catch (err) {
    closing = true;
    await stopAll();
    throw err;
  }

  async function stopAll(): Promise<void> {
    await Promise.all(
      [...workers].map(
        (w) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => w.process.kill("SIGKILL"), CLOSE_GRACE_MS);
            w.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
            if (w.isConnected()) w.send({ t: "close" } satisfies ToWorker);
            else w.process.kill("SIGKILL");
          }),
      ),
    );
  }

  return {
    port,
    bus,
    receives: (id) => holders.get(id)?.subscribed === true,
    busy: () => false, // the sockets are in the workers, whose brokers drop what a full one cannot take
    processes() {
      const count = new Map<Worker, number>();
      for (const h of holders.values()) count.set(h.worker, (count.get(h.worker) ?? 0) + 1);
      return [...listening].map((w) => ({ pid: w.process.pid!, devices: count.get(w) ?? 0, privileged: privileged.get(w) ?? 0 }));
    },
    async disconnect(id) {
      // The worker closes the connection and forgets the session when the kick arrives.
      const h = holders.get(id);
      for (const w of h ? [h.worker] : workers) w.send({ t: "kick", id } satisfies ToWorker);
    },
    revalidate() {
      // Each worker checks its own connections against its own read of the registry.
      for (const w of listening) w.send({ t: "revalidate" } satisfies ToWorker);
    },
    async close() {
      closing = true;
      await bus.close();
      await stopAll();
    },
  };
}
