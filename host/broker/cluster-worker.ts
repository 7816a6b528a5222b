// One broker worker of the cluster (cluster.ts): aedes with the device ACL on the shared MQTT port, its own
// read of the registry for credentials, and messages to and from the hub over IPC.
import { pino } from "pino";
import { Registry } from "../registry/registry.ts";
import { registryAclHooks } from "./acl.ts";
import { startEmbeddedBroker, type SingleBroker, type Will } from "./embedded.ts";
import { WORKER_CONFIG_ENV, type Forwarded, type ToHub, type ToWorker, type WorkerConfig } from "./cluster.ts";

const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? "null") as WorkerConfig | null;
if (!config || !process.send) throw new Error(`a broker worker is started by the backend (${WORKER_CONFIG_ENV} and an IPC channel)`);
const toHub = (msg: ToHub) => process.send!(msg);
const forwarded = (p: Will, device: string | undefined): Forwarded => ({
  t: "pub",
  topic: p.topic,
  payload: p.payload as Buffer,
  qos: p.qos,
  retain: p.retain,
  device,
});

let broker: SingleBroker | undefined;
/** Messages the hub sent before the broker existed (every retained one); published before it accepts a client. */
const early: Forwarded[] = [];
let retainedSent: () => void;
const allRetained = new Promise<void>((resolve) => (retainedSent = resolve));
const registry = new Registry(config.dataDir);
const logger = pino({ level: process.env.LOG_LEVEL ?? "info" });
const stop = async () => {
  await broker?.close();
  registry.close();
  process.exit(0);
};
// Listening from the start: the backend may close this worker while it is still starting.
process.on("message", (msg: ToWorker) => {
  if (msg.t === "close") void stop();
  else if (msg.t === "kick") void broker?.disconnect(msg.id);
  else if (msg.t === "revalidate") broker?.revalidate();
  else if (msg.t === "retained-sent") retainedSent();
  else if (!broker) early.push(msg);
  else {
    const payload = Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength);
    // Published as the broker's own (null client): delivered and retained here, and not forwarded again.
    broker.aedes.publish({ cmd: "publish", topic: msg.topic, payload, qos: msg.qos, retain: msg.retain, dup: false }, () => {});
  }
});
process.on("disconnect", () => void stop()); // the backend is gone
toHub({ t: "hello" });

try {
  await allRetained;
  broker = await startEmbeddedBroker({
    port: config.port,
    host: config.host,
    prefix: config.prefix,
    keepSessions: false, // sessions are per process: the next connection may land in another worker
    // The backend made the password before forking; two workers making their own would each accept a different one.
    hooks: registryAclHooks(registry, config.prefix, registry.backendPassword({ create: false }), {
      // The same line and names as the backend's own broker (registry/login-refusals.ts); the audit row is registryAclHooks'.
      onLoginRefused: (id, reason, message) => logger.warn({ device: id, reason, transport: "mqtt", err: message, pid: process.pid }, "device login refused"),
    }),
    onDeviceConnected: (id, will) => toHub({ t: "up", id, will: will && forwarded(will, id) }),
    onDeviceSubscribed: (id) => toHub({ t: "sub", id }),
    onDeviceGone: (id) => toHub({ t: "gone", id }),
    onPrivilegedClient: (connected) => toHub({ t: "privileged", connected }),
    beforeListen: async (bus) => {
      for (const m of early.splice(0)) bus.publish(m.topic, Buffer.from(m.payload), { retain: m.retain });
    },
    onClientPublish: (p, device) => toHub(forwarded(p, device)),
    onRefused: (err, device) => logger.warn({ err: err.message, name: err.name, device, pid: process.pid }, "broker worker closed a connection"),
  });
} catch (err) {
  process.send({ t: "failed", message: (err as Error).message } satisfies ToHub, () => process.exit(1));
}
