// The embedded broker spread over worker processes (--mqtt-workers), for more device connections than one process
// may hold open. Nothing here routes messages: every worker is an aedes node on the shared port (node:cluster),
// and the nodes share pub/sub, retained messages, sessions and wills through Redis (redis.ts), as several backend
// nodes on several machines do. The backend's process is one more node without a listener: its bus is there.
// The IPC channel carries only what the backend shows about its workers (processes()) and start/stop.
import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { AclHooks } from "./acl.ts";
import { startEmbeddedBroker, type DeviceEvents, type EmbeddedBroker } from "./embedded.ts";
import type { SharedBrokerState } from "./redis.ts";
import type { Bus } from "../rpc/bus.ts";

/** What the backend tells a worker at start (in its environment). */
export interface WorkerConfig {
  port: number;
  host?: string;
  prefix: string;
  dataDir: string;
  /** The registry's Postgres URL; SQLite in dataDir when absent. */
  db?: string;
  redisUrl: string;
  heartbeatMs?: number;
}
export const WORKER_CONFIG_ENV = "OUTPOST_BROKER_WORKER";

export type ToPrimary = { t: "count"; devices: number; privileged: number } | { t: "failed"; message: string };
export type ToWorker = { t: "close" };

export class BrokerWorkerFailed extends Error {
  override name = "BrokerWorkerFailed";
}

export interface ClusterOptions extends DeviceEvents {
  port: number;
  host?: string;
  prefix: string;
  dataDir: string;
  db?: string;
  workers: number;
  redisUrl: string;
  heartbeatMs?: number;
  /** The backend's own node's connections to Redis (the workers open their own). */
  shared: SharedBrokerState;
  hooks: AclHooks;
  logger: Logger;
  beforeListen?: (bus: Bus) => Promise<void>;
}

const ENTRY = fileURLToPath(new URL("../../bin/outpost.js", import.meta.url));
const CLOSE_GRACE_MS = 5000;
const RESPAWN_DELAY_MS = 1000;

export async function startBrokerCluster(opts: ClusterOptions): Promise<EmbeddedBroker> {
  // The backend's own node: no listener, so every device is elsewhere and its retained status decides.
  const node = await startEmbeddedBroker({ ...opts, listen: false });
  const workers = new Set<Worker>();
  const counts = new Map<Worker, { devices: number; privileged: number }>();
  let closing = false;
  const config: WorkerConfig = {
    port: opts.port,
    host: opts.host ?? "127.0.0.1",
    prefix: opts.prefix,
    dataDir: opts.dataDir,
    db: opts.db,
    redisUrl: opts.redisUrl,
    heartbeatMs: opts.heartbeatMs,
  };
  cluster.setupPrimary({ exec: ENTRY, args: [] });

  /** Forks one worker; resolves with the port once it listens, rejects if it fails first. */
  const fork = () =>
    new Promise<number>((resolve, reject) => {
      const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
      workers.add(worker);
      worker.on("error", (err) => opts.logger.warn({ err: err.message, pid: worker.process.pid }, "broker worker channel"));
      worker.on("message", (msg: ToPrimary) => {
        if (msg.t === "failed") reject(new BrokerWorkerFailed(msg.message));
        else counts.set(worker, { devices: msg.devices, privileged: msg.privileged });
      });
      let listening = false;
      worker.once("listening", (address) => {
        listening = true;
        counts.set(worker, counts.get(worker) ?? { devices: 0, privileged: 0 });
        resolve(address.port);
      });
      worker.once("exit", (code, signal) => {
        workers.delete(worker);
        counts.delete(worker);
        if (!listening) return reject(new BrokerWorkerFailed(`broker worker exited before listening (code ${code}, signal ${signal})`));
        if (closing) return;
        // Its devices reconnect through the workers left; the other nodes publish its wills (aedes's heartbeats).
        opts.logger.error({ pid: worker.process.pid, code, signal }, "broker worker died; starting another");
        setTimeout(() => {
          if (!closing) fork().catch((err: Error) => opts.logger.error({ err: err.message }, "broker worker could not be restarted"));
        }, RESPAWN_DELAY_MS).unref();
      });
    });

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

  let port: number;
  try {
    // node:cluster hands every worker the same listening socket, the same port even when asked for any (0).
    const ports = await Promise.all(Array.from({ length: opts.workers }, fork));
    port = ports[0];
  } catch (err) {
    closing = true;
    await stopAll();
    await node.close();
    throw err;
  }

  return {
    ...node,
    port,
    processes: () => [...counts].map(([w, c]) => ({ pid: w.process.pid!, ...c })),
    // Each worker watches the registry itself and drops its own connections whose credential changed.
    revalidate() {},
    async close() {
      closing = true;
      await stopAll();
      await node.close();
    },
  };
}
