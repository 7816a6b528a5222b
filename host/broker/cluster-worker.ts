// One broker worker of --mqtt-workers (cluster.ts): an aedes node on the shared MQTT port with the device ACL,
// its own read of the registry for credentials, and Redis for everything it shares with the other nodes.
import { pino } from "pino";
import { Registry } from "../registry/registry.ts";
import { watchCredentials } from "../registry/watch.ts";
import { deviceTopics, registryAclHooks } from "./acl.ts";
import { startEmbeddedBroker, type SingleBroker } from "./embedded.ts";
import { sharedBrokerState } from "./redis.ts";
import { WORKER_CONFIG_ENV, type ToPrimary, type ToWorker, type WorkerConfig } from "./cluster.ts";

const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? "null") as WorkerConfig | null;
if (!config || !process.send) throw new Error(`a broker worker is started by the backend (${WORKER_CONFIG_ENV} and an IPC channel)`);
const toPrimary = (msg: ToPrimary) => process.send!(msg);

let broker: SingleBroker | undefined;
let stopWatching = () => {};
const registry = new Registry(config.dataDir, { db: config.db });
const logger = pino({ level: process.env.LOG_LEVEL ?? "info" });
const stop = async () => {
  stopWatching();
  await broker?.close();
  registry.close();
  process.exit(0);
};
process.on("message", (msg: ToWorker) => msg.t === "close" && void stop());
process.on("disconnect", () => void stop()); // the backend is gone

/**
 * Tells the backend how many connections this worker holds, counted from aedes's own table: shortly after each
 * change (a closing client may still be in the table when its event fires), and every second in case it was.
 */
const send = () => {
  const mine = broker?.processes()[0];
  if (mine && process.connected) toPrimary({ t: "count", devices: mine.devices, privileged: mine.privileged });
};
const report = () => void setTimeout(send, 20);
setInterval(send, 1000).unref();
try {
  broker = await startEmbeddedBroker({
    port: config.port,
    host: config.host,
    prefix: config.prefix,
    shared: await sharedBrokerState(config.redisUrl),
    heartbeatMs: config.heartbeatMs,
    // The backend made the password before forking; two workers making their own would each accept a different one.
    hooks: registryAclHooks(registry, config.prefix, registry.backendPassword({ create: false }), {
      // The same line and names as the backend's own broker (registry/login-refusals.ts); the audit row is registryAclHooks'.
      onLoginRefused: (id, reason, message) => logger.warn({ device: id, reason, transport: "mqtt", err: message, pid: process.pid }, "device login refused"),
    }),
    onDeviceConnected: report,
    onDeviceGone: (id) => {
      report();
      // Removed (the CLI, another node): its retained status goes, as DELETE /devices/:id clears it.
      if (!registry.hasDevice(id)) broker?.bus.publish(deviceTopics(config.prefix, id).status, "", { retain: true });
    },
    onPrivilegedClient: report,
    onRefused: (err, device) => logger.warn({ err: err.message, name: err.name, device, pid: process.pid }, "broker worker closed a connection"),
  });
  const b = broker;
  stopWatching = watchCredentials(registry, () => b.revalidate());
} catch (err) {
  process.send({ t: "failed", message: (err as Error).message } satisfies ToPrimary, () => process.exit(1));
}
