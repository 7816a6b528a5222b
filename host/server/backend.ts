// Wires the backend together: registry, broker (embedded aedes or external), RPC correlator, presence, HTTP.
import { pino, type Logger } from "pino";
import { Registry } from "../registry/registry.ts";
import { registryAclHooks, DEFAULT_PREFIX, deviceTopics } from "../broker/acl.ts";
import { startEmbeddedBroker, type EmbeddedBroker } from "../broker/embedded.ts";
import { startBrokerCluster } from "../broker/cluster.ts";
import { connectRedis, sharedBrokerState, type SharedBrokerState } from "../broker/redis.ts";
import { startRedisServer, type RedisServer } from "../cluster/redis-server.ts";
import { AnswerSubscriptions } from "../rpc/answer-subscriptions.ts";
import { ClusterUnavailable } from "../rpc/correlator.ts";
import type { Redis } from "ioredis";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MqttBus, connectBackendClient, type BrokerTls, type Bus, type BusMessage } from "../rpc/bus.ts";
import { RpcCorrelator, type CorrelatorOptions } from "../rpc/correlator.ts";
import type { OutboundLimits } from "../rpc/outbound.ts";
import { PresenceTracker } from "../rpc/presence.ts";
import { announcedLimitsIn } from "../rpc/announced-limits.ts";
import { buildApp } from "./app.ts";
import { createMetrics } from "./metrics.ts";
import { WsGateway } from "./ws.ts";
import { redactUrl, secretSafe } from "./log.ts";
import { createJwtVerifier, type JwtOptions } from "./jwt.ts";
import type { SessionAuth } from "./auth.ts";

/** Loopback unless asked otherwise: serving other machines is a decision (`--host 0.0.0.0`). */
export const DEFAULT_HOST = "127.0.0.1";

/** How this machine reaches a listener on `host` (the printed URLs): a wildcard address on loopback. */
function reachableHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
import type { FrameRate } from "./frame-rate.ts";
import { watchCredentials } from "../registry/watch.ts";
import { closeSessionOf } from "../broker/takeover.ts";
import { TelemetryStore } from "../registry/telemetry.ts";
import { SessionStore } from "../registry/sessions.ts";
import { sessionAuth } from "./session.ts";
import { LIST_FETCH_TIMEOUT_MS, ParamSchemas } from "../rpc/param-schema.ts";
import { EventHub } from "./events.ts";
import { FINAL_STATES, ReleaseStore } from "../registry/releases.ts";
import { UpdateHistory } from "../registry/update-history.ts";
import { Updater } from "../ota/updater.ts";
import { updateJson } from "./routes/releases.ts";
import { JobRunner } from "../jobs/runner.ts";
import type { RunningRelease } from "../jobs/execute.ts";
import type { Updater as JobUpdater } from "../jobs/types.ts";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { TlsMaterial } from "../tls/files.ts";
import { DEFAULT_MQTTS_PORT, serverTlsOptions } from "../tls/listener.ts";
import { checkDeviceCertificate } from "../tls/device-identity.ts";
import { watchCredentialEnds } from "../registry/watch.ts";
import { refreshCrls } from "../tls/crl-files.ts";
import { credentialRoutes } from "./routes/credentials.ts";
import { dataDirCa } from "../tls/data-dir-ca.ts";
import type { LoginRefusal } from "../registry/login-refusals.ts";

export interface BackendOptions {
  dataDir: string;
  /** The registry in Postgres (postgres://…, its password included), shared by nodes on several machines; SQLite in dataDir when absent. */
  db?: string;
  port?: number;
  /** Address the HTTP API and the embedded broker listen on (default 127.0.0.1). */
  host?: string;
  mqttPort?: number;
  /** External broker (mqtt://host:port); the embedded aedes when absent. */
  brokerUrl?: string;
  /** The external broker's password when its URL has none (default: the registry's backend password). */
  brokerPassword?: string;
  /** The external broker's TLS (mqtts://): the CA to trust, a client certificate if it asks for one. */
  brokerTls?: BrokerTls;
  prefix?: string;
  logger?: Logger;
  bodyLimit?: number;
  logRequests?: boolean;
  /**
   * Embedded broker only: MQTT connections are spread over this many worker processes (default 1: the broker
   * runs in the backend's own process). More than one lifts the per-process limit on open sockets.
   */
  mqttWorkers?: number;
  /** WebSocket devices: heartbeat ping period in ms (default 15000). */
  wsHeartbeatMs?: number;
  /** WebSocket devices: frames each connection may send (default DEFAULT_FRAME_RATE); over it, closed with 1008. */
  wsFrameRate?: FrameRate;
  /** What may wait for one device's connection before calls to it get 503 device_busy (default DEFAULT_OUTBOUND_LIMITS). */
  outbound?: OutboundLimits;
  /** Calls awaiting an answer per device before more get 503 device_busy (default 256). */
  maxPendingCalls?: number;
  /**
   * Embedded broker: share pub/sub, retained messages, sessions and wills with every node on this Redis
   * (redis://[user:password@]host:port). --mqtt-workers without it starts a private Redis for this machine.
   * External broker: the nodes on it share this Redis for leases (jobs, updates), and each takes only the answers
   * to its own calls.
   */
  redisUrl?: string;
  /** Several nodes: how long a node keeps a device's tx after its last call to it (default ANSWER_LINGER_MS). */
  answerLingerMs?: number;
  /** Shared: this node's heartbeat period in ms (default DEFAULT_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** With redisUrl: how long a node's lease on a job lasts without renewal (default 30 s; host/jobs/runner.ts). */
  jobLeaseMs?: number;
  /** Accept JWTs from this issuer besides API keys (docs/security.md). */
  jwt?: JwtOptions;
  /** Rows the audit log keeps; the oldest go first (default DEFAULT_AUDIT_MAX_ROWS, 100,000). */
  auditMaxRows?: number;
  /** Browser sessions (the dashboard's cookie): a third way in, for requests without Authorization (auth.ts). */
  session?: SessionAuth;
  /** Event streams (GET /api/v1/events): heartbeat comment period in ms (default 15000). */
  sseHeartbeatMs?: number;
  /** Release public keys (64 hex digits each): an uploaded release must be signed by one (none: not checked here). */
  releaseKeys?: string[];
  /** How rollout jobs update a device (host/ota/updater.ts), made from the backend's parts; no rollouts without it. */
  updater?(parts: { registry: Registry; correlator: RpcCorrelator; presence: PresenceTracker }): JobUpdater;
  /** Whether a device runs a release (default: its sys.info `app`); rollouts ask after a restart. */
  runningRelease?(parts: { correlator: RpcCorrelator }): RunningRelease;
  /** A job's event stream sends a heartbeat this often (default 15 s). */
  jobHeartbeatMs?: number;
  /** HTTPS, wss:// and MQTT over TLS (docs/security.md); the plaintext listeners then only if asked for. */
  tls?: BackendTls;
  /** A device login was refused (its reason: registry/login-refusals.ts); logged and audited whether or not this is given. */
  onLoginRefused?(id: string | undefined, reason: LoginRefusal, transport: "mqtt" | "ws"): void;
}

export interface BackendTls extends TlsMaterial {
  /** MQTT over TLS port (default 8883). */
  mqttsPort?: number;
  /** Also the plaintext MQTT listener on mqttPort (default: off). */
  plaintextMqtt?: boolean;
  /** Also plaintext HTTP (REST and ws://) on this port (default: none). */
  httpPort?: number;
}

export interface Backend {
  url: string;
  port: number;
  /** The embedded broker's URL, or the external one. */
  mqttUrl: string;
  registry: Registry;
  presence: PresenceTracker;
  /** The embedded broker (absent with an external one). */
  broker?: EmbeddedBroker;
  /** WebSocket devices (GET /api/v1/devices/ws). */
  gateway: WsGateway;
  /** Shared nodes: a Redis connection of this node's own, for leases (host/cluster/lease.ts). */
  redis?: Redis;
  /** The fleet event stream's hub (presence, telemetry; more publishers may add theirs). */
  events: EventHub;
  telemetry: TelemetryStore;
  /** OTA updates of the device module (docs/ota.md): the fleet jobs call updater.update(). */
  updater: Updater;
  releases: ReleaseStore;
  /** Fleet jobs (host/jobs/). */
  jobs: JobRunner;
  /** With TLS: the plaintext listeners that were asked for. */
  plaintext?: { url?: string; mqttUrl?: string };
  close(): Promise<void>;
}

export async function startBackend(opts: BackendOptions): Promise<Backend> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const logger = secretSafe(opts.logger ?? pino({ level: process.env.LOG_LEVEL ?? "info" }));
  const host = opts.host ?? DEFAULT_HOST;
  const jwt = opts.jwt && createJwtVerifier(opts.jwt); // a bad configuration fails here, before anything listens
  const registry = new Registry(opts.dataDir, { db: opts.db, auditMaxRows: opts.auditMaxRows });
  const audit = registry.audit;
  if (!opts.redisUrl) registry.markAllOffline(); // other nodes sharing the registry still hold their devices
  const telemetry = new TelemetryStore(registry.db);
  const sessions = new SessionStore(registry.db);
  const events = new EventHub();
  const certs = registry.certs; // its table and triggers exist before any device logs in
  const previous = registry.previousSecrets;
  const tls = opts.tls;
  const loginRefused = (transport: "mqtt" | "ws") => (id: string | undefined, reason: LoginRefusal, message: string) => {
    logger.warn({ device: id, reason, transport, err: message }, "device login refused");
    opts.onLoginRefused?.(id, reason, transport);
  };
  const identity = {
    // Client certificates are taken only when the backend was given the CA that issues them.
    checkCertificate: tls?.ca ? (socket: unknown, claimed: string | undefined) => checkDeviceCertificate(socket, claimed, certs) : undefined,
    certStillValid: (id: string, fp: string) => certs.valid(id, fp),
    // A rotated password keeps working for its grace period (routes/credentials.ts, `outpost device rotate --grace`).
    verifyDevice: async (id: string, credential: string) => (await registry.verifyDevice(id, credential)) || previous.verify(id, credential),
    stillValid: (id: string, credentialDigest: Buffer) => registry.stillValid(id, credentialDigest) || previous.stillValid(id, credentialDigest),
  };
  let gateway: WsGateway | undefined;
  let broker: EmbeddedBroker | undefined;
  let shared: SharedBrokerState | undefined;
  let privateRedis: RedisServer | undefined;
  // With the embedded broker, a status alone is not enough: the device's rx subscription must be in place (where
  // another node holds the device, that node let its "online" through only once it was).
  const presence = new PresenceTracker(
    registry,
    1000,
    opts.brokerUrl ? undefined : (id) => gateway?.has(id) || broker?.receives(id) === true || broker?.elsewhere(id) === true,
    // Nodes on one Redis: only the node holding a device writes its row. (An external broker, or broker workers in
    // other processes: this process cannot tell who holds it, so it writes every row.)
    !opts.brokerUrl && opts.redisUrl !== undefined && (opts.mqttWorkers ?? 1) === 1
      ? (id) => gateway?.has(id) === true || broker?.receives(id) === true
      : undefined,
  );
  let correlator!: RpcCorrelator;
  let bus!: Bus;
  const limitsOf = (id: string) => registry.limitsRecent(id);
  /** A device's sys.info (telemetry, or an answer through REST) may announce its limits. */
  const learnLimits = (id: string, text: string, answer: boolean) => {
    const limits = announcedLimitsIn(text, answer);
    if (limits && registry.setLimits(id, limits)) logger.info({ id, limits }, "device announced its limits");
  };
  // Every transport: a call that times out makes the device suspect; while it is, one call at a time goes to it.
  const callRules: CorrelatorOptions = {
    suspect: (id) => presence.isSuspect(id),
    onUnanswered: (id) => presence.markSuspect(id),
    maxPendingPerDevice: opts.maxPendingCalls,
    limitsOf,
  };

  /** Kept (bounded) for the history, and on the event stream, at most once a second per device. */
  const versions = new Map<string, unknown>(); // each device's last announced module version (bounded by the devices)
  const keepTelemetry = (id: string, text: string) => {
    if (!telemetry.record(id, text)) return;
    const data = JSON.parse(text) as { version?: unknown } | null;
    events.publish("telemetry", { device: id, at: new Date().toISOString(), data }, id);
    // A fleet-wide view needs versions, not every sample: `version` only when it changes.
    const version = data?.version;
    if (version !== undefined && versions.get(id) !== version) {
      versions.set(id, version);
      events.publish("version", { device: id, version }, id);
    }
  };
  const workers = opts.mqttWorkers ?? 1;
  const sharing = !opts.brokerUrl && (opts.redisUrl !== undefined || workers > 1);
  /** Several nodes reach the same devices (one Redis): each subscribes a device's tx only while it awaits answers. */
  const severalNodes = sharing || (opts.brokerUrl !== undefined && opts.redisUrl !== undefined);
  /** External broker with several nodes: this node's own Redis connection, for leases. */
  let leaseRedis: Redis | undefined;
  // Shared: a device's tx only while this node awaits its answers (answer-subscriptions.ts), not every answer.
  const filters = severalNodes ? [`${prefix}/+/status`, `${prefix}/+/telemetry`] : [`${prefix}/+/tx`, `${prefix}/+/status`, `${prefix}/+/telemetry`];
  const depth = prefix.split("/").length;
  /**
   * With an external broker the backend sees a device's MQTT connection only through its status: each live change is
   * recorded (a retained status the broker sends at subscribe is an old state, not a connection now). Refused logins
   * there are mosquitto's (its log).
   */
  const auditExternalPresence = (id: string, was: boolean, retained: boolean) => {
    const online = presence.isOnline(id);
    if (retained || online === was || presence.get(id)?.transport === "ws") return; // the gateway records its own
    audit.record({
      kind: online ? "connect" : "disconnect",
      actor: id,
      actor_kind: "device",
      device: id,
      outcome: online ? "ok" : "gone",
      detail: "mqtt-external",
    });
  };
  /** Device answers (tx) this node received: with several nodes, only those to its own calls. */
  let answersReceived = 0;
  const route = (msg: BusMessage) => {
    const levels = msg.topic.split("/");
    if (levels.length !== depth + 2) return;
    const id = levels[depth];
    switch (levels[depth + 1]) {
      case "tx":
        answersReceived++;
        presence.activity(id);
        correlator.onResponse(id, msg.payload, msg.correlationData);
        break;
      case "status": {
        const was = presence.isOnline(id);
        presence.status(id, msg.payload);
        // With an external broker, a device that logs in over MQTT is seen by its status only.
        if (opts.brokerUrl) {
          gateway?.onStatus(id, msg.payload);
          auditExternalPresence(id, was, msg.retained === true);
        }
        break;
      }
      case "telemetry":
        presence.activity(id);
        learnLimits(id, msg.payload.toString("utf8"), false);
        keepTelemetry(id, msg.payload.toString("utf8"));
        break;
    }
  };

  let mqttUrl: string;
  try {
    if (opts.brokerUrl) {
      // First, so that a Redis that does not answer stops the start before anything is connected (RedisUnreachable).
      if (opts.redisUrl) leaseRedis = await connectRedis(opts.redisUrl);
      const shown = redactUrl(opts.brokerUrl); // the URL may carry the broker password
      const client = await connectBackendClient(opts.brokerUrl, opts.brokerPassword ?? registry.backendPassword(), { tls: opts.brokerTls });
      bus = new MqttBus(client, {
        error: (err) => logger.warn({ err: err.message }, "external broker connection"),
        down: () => {
          logger.warn({ broker: shown }, "external broker lost; reconnecting");
          presence.allOffline(); // answers 503 at once meanwhile; resubscribing brings the retained statuses back
        },
      });
      client.on("connect", () => logger.info({ broker: shown }, "external broker connected"));
      // Past the broker, nobody can tell whether a device got a request: once handed to a live link, it may have.
      // The broker's queues are its own (mosquitto: max_queued_messages); here only the pending calls are bounded.
      correlator = new RpcCorrelator(bus, prefix, () => client.connected, {
        ...callRules,
        answers: severalNodes ? new AnswerSubscriptions(bus, prefix, route, opts.answerLingerMs) : undefined,
      });
      await bus.subscribe(filters, route);
      mqttUrl = opts.brokerUrl;
      logger.info({ broker: shown, mqtt5: bus.requestResponse }, "using external broker");
    } else {
      registry.backendPassword(); // created here if new, before any broker worker reads it
      let redisUrl = opts.redisUrl;
      if (sharing && !redisUrl) {
        privateRedis = await startRedisServer(mkdtempSync(join(tmpdir(), "outpost-redis-")));
        redisUrl = privateRedis.url;
      }
      if (sharing) shared = await sharedBrokerState(redisUrl!);
      const down = () => (shared && !shared.up() ? new ClusterUnavailable("Redis, which the nodes share, does not answer (not delivered)") : undefined);
      const embedded = {
        port: opts.mqttPort ?? 1883,
        host,
        prefix,
        beforeListen: async (embeddedBus: Bus) => {
          bus = embeddedBus;
          // QoS 0 in process: a request is delivered only if the device's connection subscribes its rx right now.
          const reachable = (id: string) =>
            gateway?.has(id) === true || broker?.receives(id) === true || (broker?.elsewhere(id) === true && presence.isOnline(id));
          correlator = new RpcCorrelator(bus, prefix, reachable, {
            ...callRules,
            busy: (id) => gateway?.busy(id) === true || broker?.busy(id) === true,
            answers: sharing ? new AnswerSubscriptions(bus, prefix, route, opts.answerLingerMs) : undefined,
            unavailable: down,
          });
          await bus.subscribe(filters, route, { retained: true }); // shared: what devices on other nodes said before this one started
        },
        onDeviceSubscribed: (id: string) => presence.recheck(id),
        onDevicePing: (id: string) => presence.heard(id),
        outbound: opts.outbound,
        tls: tls && { port: tls.mqttsPort ?? DEFAULT_MQTTS_PORT, options: serverTlsOptions(tls), plaintext: tls.plaintextMqtt },
        // One id, one live connection: a device logging in over MQTT replaces its WebSocket connection.
        onDeviceConnected: (id: string) => {
          audit.record({ kind: "connect", actor: id, actor_kind: "device", device: id, outcome: "ok", detail: "mqtt" });
          gateway?.replacedElsewhere(id);
        },
        onDeviceGone: (id: string) => {
          audit.record({ kind: "disconnect", actor: id, actor_kind: "device", device: id, outcome: "gone", detail: "mqtt" });
          if (gateway?.has(id)) return; // replaced by its WebSocket connection, which holds it now
          presence.set(id, false);
          // Removed by another process (the CLI): its retained status goes, as DELETE /devices/:id clears it.
          if (!registry.hasDevice(id)) bus.publish(deviceTopics(prefix, id).status, "", { retain: true });
        },
        onRefused: (err: Error, device: string | undefined) => logger.warn({ err: err.message, name: err.name, device }, "MQTT connection closed"),
      };
      if (workers > 1 && tls) throw new Error("MQTT over TLS runs in the backend's process: not with mqttWorkers > 1");
      const hooks = registryAclHooks(registry, prefix, undefined, { ...identity, onLoginRefused: loginRefused("mqtt") });
      broker =
        workers > 1
          ? await startBrokerCluster({
              ...embedded,
              hooks,
              workers,
              dataDir: opts.dataDir,
              db: opts.db,
              logger,
              redisUrl: redisUrl!,
              shared: shared!,
              heartbeatMs: opts.heartbeatMs,
            })
          : await startEmbeddedBroker({ ...embedded, hooks, shared, heartbeatMs: opts.heartbeatMs });
      shared?.onError((err) => logger.warn({ err: err.message }, "Redis connection"));
      presence.recheckAll(); // statuses read while the broker started (shared: other nodes' devices) count now
      mqttUrl = broker.tlsPort ? `mqtts://${reachableHost(host)}:${broker.tlsPort}` : `mqtt://${reachableHost(host)}:${broker.port}`;
      logger.info({ mqttPort: broker.port, processes: workers }, "embedded MQTT broker listening");
    }
  } catch (err) {
    // Nothing half-started stays behind (an open database, a listening socket).
    await broker?.close().catch(() => {});
    leaseRedis?.disconnect();
    await shared?.close();
    await privateRedis?.close();
    presence.close();
    telemetry.close();
    registry.close();
    throw err;
  }
  presence.onOffline((id) => correlator.failDevice(id, "went offline"));
  const paramSchemas = new ParamSchemas((id) => correlator.call(id, "rpc.list", undefined, null, LIST_FETCH_TIMEOUT_MS, { background: true }));
  presence.onChange((id, online, transport) => {
    events.publish("presence", { device: id, online, transport, at: new Date().toISOString() }, id);
    paramSchemas.forget(id); // asked again at its next call
  });

  const metrics = createMetrics({
    devicesOnline: () => presence.onlineCount,
    devicesRegistered: () => registry.countDevices(),
    rpcInFlight: () => correlator.inFlight,
    answersReceived: () => answersReceived,
  });
  gateway = new WsGateway({
    registry,
    presence,
    bus,
    prefix,
    logger,
    heartbeatMs: opts.wsHeartbeatMs,
    maxPayload: opts.bodyLimit,
    frameRate: opts.wsFrameRate,
    outbound: opts.outbound,
    ...identity,
    onLoginRefused: loginRefused("ws"),
    // And a WebSocket connection replaces its MQTT one: the embedded broker closes it; an external one is made to.
    onDeviceConnected: (id) => {
      if (!opts.brokerUrl) return broker?.disconnect(id);
      const now = presence.get(id); // only a device whose status says it is online over MQTT has a session to close
      if (now?.online && now.transport !== "ws") return closeSessionOf(opts.brokerUrl, registry.backendPassword(), id, opts.brokerTls);
    },
  });
  const ws = gateway;
  // A device removed or re-credited by any process sharing the registry (the CLI) is disconnected at once.
  const revalidate = () => {
    broker?.revalidate();
    ws.revalidate();
    // And an external broker's CRL (`outpost broker mosquitto --tls-port`), if this data directory keeps one.
    refreshCrls(registry, opts.dataDir).catch((err: Error) => logger.error({ err: err.message }, "cannot rewrite the CRL for the external broker"));
    jobs.devicesRemoved(); // their executions are cancelled, not left to wait for the job's expiry
  };
  const stopWatching = watchCredentials(registry, revalidate);
  // And a certificate whose rotation grace period or validity ends meanwhile, without anything changing.
  const stopWatchingEnds = watchCredentialEnds(
    { nextEnd: (after) => Math.min(certs.nextEnd(after) ?? Number.POSITIVE_INFINITY, previous.nextEnd(after) ?? Number.POSITIVE_INFINITY) },
    revalidate,
  );
  const releases = new ReleaseStore(registry.db, { dataDir: opts.dataDir, publicKeys: opts.releaseKeys });
  const updateHistory = new UpdateHistory(registry.db);
  // Several nodes on one registry: one job runner and one updater per job and per device (docs/scaling.md).
  const redis = shared?.redis ?? leaseRedis;
  const lease = opts.redisUrl && redis ? { redis, ttlMs: opts.jobLeaseMs ?? 30_000 } : undefined;
  const updater = new Updater({
    registry,
    correlator,
    presence,
    releases,
    prefix,
    onEvent: (id, u) => {
      ws.emit(id, "ota", updateJson(u));
      if (FINAL_STATES.has(u.state)) updateHistory.record(id, { ...u, outcome: u.state, ended_at: u.updated_at });
    },
    publish: (type, data, id) => events.publish(type, data, id),
    lease,
  });
  const jobs = new JobRunner({
    store: registry.jobs,
    tags: registry.tags,
    presence,
    correlator,
    // Rollouts update devices through OTA (docs/ota.md) unless a test brings its own.
    updater: opts.updater?.({ registry, correlator, presence }) ?? updater,
    runningRelease: opts.runningRelease?.({ correlator }),
    publish: (type, data) => events.publish(type, data),
    log: (msg, fields) => logger.info(fields ?? {}, msg),
    lease,
    exists: (id) => registry.getDevice(id) !== undefined,
  });
  const app = await buildApp({
    jobs,
    jobHeartbeatMs: opts.jobHeartbeatMs,
    registry,
    presence,
    correlator,
    metrics,
    logger,
    bodyLimit: opts.bodyLimit,
    logRequests: opts.logRequests,
    jwt,
    session: opts.session ?? sessionAuth(sessions, registry.apiKeys),
    telemetry,
    events,
    paramSchemas,
    sessions,
    sseHeartbeatMs: opts.sseHeartbeatMs,
    https: tls && serverTlsOptions(tls),
    plugins: [credentialRoutes],
    credentials: { deviceCa: tls?.ca, issuer: () => dataDirCa(opts.dataDir) },
    moreRoutes: (api, known) => ws.routes(api, known),
    onSysInfo: (id, answer) => learnLimits(id, answer, true),
    ota: { releases, updater },
    updateHistory,
    async disconnectDevice(id) {
      await broker?.disconnect(id);
      ws.disconnect(id);
      bus.publish(deviceTopics(prefix, id).status, "", { retain: true }); // clears the retained status
    },
  });
  await ws.start(app);
  await app.listen({ port: opts.port ?? 8080, host });
  const port = (app.server.address() as { port: number }).port;
  const url = `${tls ? "https" : "http"}://${reachableHost(host)}:${port}`;
  logger.info({ url }, "HTTP API listening");
  jobs.resume(); // jobs left in progress by the last run; their devices get executions as they come online
  let plainHttp: HttpServer | undefined;
  let plaintext: Backend["plaintext"];
  if (tls) {
    plaintext = {};
    if (broker?.port) plaintext.mqttUrl = `mqtt://${reachableHost(host)}:${broker.port}`;
    if (tls.httpPort !== undefined) {
      // The same routes and WebSocket gateway, without TLS, for what was asked to stay on plaintext.
      const server = createHttpServer((req, res) => app.routing(req, res));
      ws.attach(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(tls.httpPort, host, () => resolve());
      });
      plainHttp = server;
      plaintext.url = `http://${reachableHost(host)}:${(server.address() as { port: number }).port}`;
      logger.warn({ url: plaintext.url }, "plaintext HTTP listening beside HTTPS");
    }
  }

  return {
    url,
    port,
    mqttUrl,
    registry,
    presence,
    broker,
    gateway: ws,
    redis,
    events,
    telemetry,
    updater,
    releases,
    jobs,
    plaintext,
    async close() {
      jobs.close(); // before the correlator: executions in flight stay in_progress for the next start
      stopWatching();
      stopWatchingEnds();
      plainHttp?.closeAllConnections();
      await new Promise<void>((resolve) => (plainHttp ? plainHttp.close(() => resolve()) : resolve()));
      await ws.close();
      await app.close();
      correlator.close();
      presence.close();
      telemetry.close();
      await bus.close();
      await broker?.close();
      await shared?.close();
      leaseRedis?.disconnect();
      await privateRedis?.close();
      // Nobody is known to be connected once the backend is gone (the CLI reads this while it is stopped).
      if (!opts.redisUrl) registry.markAllOffline();
      registry.close();
    },
  };
}
