// outpost serve: the backend; --demo adds a device in-process and prints a curl command that works as printed.
import { PostgresDriverMissing, RegistryUnavailable } from "../registry/postgres.ts";
import { RegistryTooNew } from "../registry/postgres-schema.ts";
import { registryDb } from "./db-options.ts";
import { Command, Option } from "commander";
import { X509Certificate } from "node:crypto";
import { pino } from "pino";
import { createLogger, redactUrl } from "../server/log.ts";
import { BROKER_PASSWORD, REDIS_PASSWORD, secretFileOption, secretValue } from "./secrets.ts";
import { DEFAULT_HOST, startBackend } from "../server/backend.ts";
import { BrokerUnreachable } from "../rpc/bus.ts";
import { RedisUnreachable } from "../broker/redis.ts";
import { RedisServerFailed } from "../cluster/redis-server.ts";
import { CliError, checkDataDir, dataOption, parsePort, parsePositive, shellQuote, urlParser, withPassword } from "./common.ts";
import { startFleetDevice, type RunningDevice } from "./fleet.ts";
import { demoKey } from "./demo-key.ts";
import { JWT_OPTIONS, jwtConfig, type JwtFlags } from "./jwt-options.ts";
import { InvalidJwtConfig } from "../server/jwt.ts";
import { DEFAULT_AUDIT_MAX_ROWS } from "../registry/audit.ts";
import { addTlsOptions, tlsFromOptions, type TlsFlags } from "./tls-options.ts";
import { tlsPaths } from "./cert.ts";
import { readPem, TlsFileError } from "../tls/files.ts";

export const DEMO_DEVICE = "demo";
/** The demo device publishes telemetry this often, so the dashboard's chart has something to show. */
const DEMO_TELEMETRY_MS = 5000;

interface ServeOptions extends JwtFlags, TlsFlags {
  auditMaxRows: number;
  port: number;
  releaseKey?: string[] | string;
  mqttPort: number;
  host: string;
  data: string;
  broker?: string;
  brokerPasswordFile?: string;
  brokerCa?: string;
  mqttWorkers: number;
  redis?: string;
  redisPasswordFile?: string;
  heartbeatMs?: number;
  jobLeaseMs?: number;
  demo?: boolean;
  logLevel: string;
  logRequests?: boolean;
}

/** --release-key may repeat; OUTPOST_RELEASE_KEYS is comma-separated. */
function releaseKeys(v: string[] | string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).flatMap((k) => k.split(",")).filter(Boolean);
}

export function serveCommand(): Command {
  return addTlsOptions(new Command("serve"))
    .description("run the backend: REST API, embedded MQTT broker (or --broker), registry in --data")
    .addOption(new Option("--port <port>", "HTTP port").argParser(parsePort).default(8080))
    .addOption(new Option("--mqtt-port <port>", "embedded broker's MQTT port").argParser(parsePort).default(1883))
    .addOption(
      new Option("--host <addr>", "address the HTTP API and the embedded broker listen on (0.0.0.0: every interface)")
        .env("OUTPOST_HOST")
        .default(DEFAULT_HOST),
    )
    .addOption(dataOption())
    .addOption(
      new Option("--broker <url>", "use an external broker (mqtt://host:port) instead of the embedded one").argParser(
        urlParser("mqtt:", "mqtts:", "ws:", "wss:"),
      ),
    )
    .addOption(secretFileOption(BROKER_PASSWORD))
    .addOption(new Option("--broker-ca <path>", "an mqtts:// or wss:// --broker's CA certificate (PEM)").env("OUTPOST_BROKER_CA"))
    .addOption(
      new Option("--mqtt-workers <n>", "spread the embedded broker's MQTT connections over n processes (more devices than one process may hold)")
        .argParser(parsePositive)
        .default(1)
        .conflicts("broker"), // an external broker holds the device connections itself
    )
    .addOption(
      new Option(
        "--redis <url>",
        "several nodes, one fleet, on this Redis (redis://host:port): the embedded broker is shared through it; with --broker, the nodes share leases and each takes only its own answers",
      )
        .env("OUTPOST_REDIS")
        .argParser(urlParser("redis:", "rediss:")),
    )
    .addOption(secretFileOption(REDIS_PASSWORD))
    .addOption(
      new Option(
        "--heartbeat-ms <ms>",
        "with --redis: how often this node tells the others it is alive (a dead node's wills fire after 3-7 of these)",
      ).argParser(parsePositive),
    )
    .addOption(
      new Option(
        "--job-lease-ms <ms>",
        "with --redis: how long a node's hold on a job lasts unrenewed (another node takes over a dead node's jobs after it)",
      ).argParser(parsePositive),
    )
    .addOption(new Option("--demo", "also run a demo device in-process and print a curl command for it"))
    .addOption(new Option("--log-level <level>", "pino log level").env("LOG_LEVEL").default("info"))
    .addOption(new Option("--log-requests", "log every HTTP request"))
    .addOption(
      new Option("--audit-max-rows <n>", "rows the audit log keeps; the oldest go first")
        .env("OUTPOST_AUDIT_MAX_ROWS")
        .argParser(parsePositive)
        .default(DEFAULT_AUDIT_MAX_ROWS),
    )
    .addOption(JWT_OPTIONS.issuer())
    .addOption(JWT_OPTIONS.audience())
    .addOption(JWT_OPTIONS.publicKeyFile())
    .addOption(JWT_OPTIONS.jwksUrl())
    .addOption(JWT_OPTIONS.scopeClaim())
    .addOption(JWT_OPTIONS.scopeMap())
    .addOption(
      new Option("--release-key <hex...>", "release public key(s) (outpost keygen): an uploaded release must be signed by one").env("OUTPOST_RELEASE_KEYS"),
    )
    .action(async (opts: ServeOptions, cmd: Command) => {
      // Logs go to stderr: stdout carries what a person (or a test) reads and copies.
      const logger = createLogger({ level: opts.logLevel }, pino.destination(2));
      checkDataDir(opts.data);
      // The URL's own password (user:password@) wins over the file and the variable.
      if (opts.brokerPasswordFile && !opts.broker) throw new CliError("--broker-password-file is the external broker's: it needs --broker");
      const brokerPassword = opts.broker ? secretValue(cmd, BROKER_PASSWORD) : undefined;
      if (opts.redisPasswordFile && !opts.redis) throw new CliError("--redis-password-file is the shared Redis's: it needs --redis");
      const redisUrl = opts.redis ? withPassword(opts.redis, secretValue(cmd, REDIS_PASSWORD)) : undefined;
      const jwt = jwtConfig(opts);
      const tls = tlsFromOptions(opts);
      if (tls && opts.mqttWorkers > 1) throw new CliError("--mqtt-workers and TLS: MQTT over TLS runs in the backend's process");
      const backend = await startBackend({
        dataDir: opts.data,
        db: registryDb(),
        port: opts.port,
        host: opts.host,
        mqttPort: opts.mqttPort,
        brokerUrl: opts.broker,
        brokerPassword,
        brokerTls: brokerTls(opts),
        mqttWorkers: opts.mqttWorkers,
        redisUrl,
        heartbeatMs: opts.heartbeatMs,
        jobLeaseMs: opts.jobLeaseMs,
        logger,
        logRequests: opts.logRequests,
        jwt,
        auditMaxRows: opts.auditMaxRows,
        releaseKeys: releaseKeys(opts.releaseKey),
        tls,
      }).catch((err: unknown) => {
        throw startupError(err, opts);
      });
      let demo: RunningDevice | undefined;
      if (opts.demo) {
        const registry = backend.registry;
        // A fresh credential each start: the old one was shown once and is not stored.
        const credential = registry.hasDevice(DEMO_DEVICE)
          ? registry.rotateCredential(DEMO_DEVICE)
          : registry.addDevice(DEMO_DEVICE, { demo: true }).credential;
        demo = await startFleetDevice(
          backend.mqttUrl,
          DEMO_DEVICE,
          credential,
          {},
          { telemetryMs: DEMO_TELEMETRY_MS, tls: tls && { ca: tls.ca ?? tls.cert, servername: tlsServerName(tls.cert) } },
        );
        const { key, fresh, path } = await demoKey(registry, opts.data);
        // Printed once, when made; later starts print a command that reads it from its 0600 file.
        const bearer = fresh ? shellQuote(`Authorization: Bearer ${key}`) : `"Authorization: Bearer $(cat ${shellQuote(path)})"`;
        const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: ["hello from outpost"] });
        const curl = [
          tls
            ? `curl -s --cacert ${shellQuote(opts.tlsCa ?? (opts.tls ? tlsPaths(opts.data).caCert : "<the CA that signed --tls-cert>"))} -X POST`
            : "curl -s -X POST",
          `${backend.url}/api/v1/devices/${DEMO_DEVICE}/rpc`,
          "-H",
          bearer,
          "-H",
          shellQuote("Content-Type: application/json"),
          "-d",
          shellQuote(body),
        ].join(" ");
        console.log(
          [
            "",
            `outpost is running`,
            `  dashboard ${backend.url}/   (sign in with the API key below)`,
            `  REST API  ${backend.url}/api/v1   (docs ${backend.url}/docs, metrics ${backend.url}/metrics)`,
            `  MQTT      ${redactUrl(backend.mqttUrl)}`,
            `  data      ${opts.data}`,
            fresh ? `  API key   ${key}   (new: kept in ${path} and reused at the next start)` : `  API key   the demo key, in ${path}`,
            `  device    ${DEMO_DEVICE} (online, in this process)`,
            "",
            "Call the demo device:",
            `  ${curl}`,
            "",
          ].join("\n"),
        );
      } else {
        console.log(`outpost is running: dashboard ${backend.url}/, API ${backend.url}/api/v1, MQTT ${redactUrl(backend.mqttUrl)}`);
        if (backend.plaintext?.mqttUrl || backend.plaintext?.url)
          console.log(`  plaintext too: ${[backend.plaintext.url, backend.plaintext.mqttUrl].filter(Boolean).join(", ")}`);
      }
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "stopping");
        await demo?.close();
        await backend.close();
        logger.info("stopped");
        logger.flush();
        process.exit(0);
      };
      process.on("SIGINT", () => void stop("SIGINT"));
      process.on("SIGTERM", () => void stop("SIGTERM"));
    });
}

/** What the user can fix at startup, as one line: a taken port, an unreachable broker, a data directory. */
function startupError(err: unknown, opts: ServeOptions): unknown {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.code === "EADDRINUSE") {
    const which = e.port === opts.mqttPort ? "--mqtt-port" : e.port === opts.port ? "--port" : "the port";
    return new CliError(`${e.address ?? opts.host}:${e.port ?? "?"} is already in use (another program listens there): choose another ${which}`);
  }
  if (e?.code === "EACCES" && e.syscall === "listen")
    return new CliError(`not allowed to listen on ${e.address ?? opts.host}:${e.port ?? "?"}: choose a port above 1023`);
  if (
    err instanceof RedisUnreachable ||
    err instanceof RedisServerFailed ||
    err instanceof RegistryUnavailable ||
    err instanceof RegistryTooNew ||
    err instanceof PostgresDriverMissing
  )
    return new CliError(`${err.name}: ${err.message}`);
  if (err instanceof InvalidJwtConfig) return new CliError(err.message);
  if (err instanceof BrokerUnreachable) return new CliError(`cannot reach the broker ${redactUrl(opts.broker ?? "")}: ${err.message}`);
  if (e?.code === "SQLITE_CANTOPEN" || e?.code === "EACCES" || e?.code === "ENOTDIR")
    return new CliError(`cannot open the registry in ${opts.data}: ${e.message}`);
  return err;
}

/** The URL's own password (user:password@) wins over the file and the variable. */
/** The first DNS name of the server certificate, so the in-process demo device checks it as any device would. */
function tlsServerName(cert: string): string | undefined {
  return /DNS:([^,\s]+)/.exec(new X509Certificate(cert).subjectAltName ?? "")?.[1];
}

/** --broker-ca for an mqtts:// or wss:// --broker (without it, the system's CAs are trusted). */
function brokerTls(opts: ServeOptions): { ca: string } | undefined {
  if (!opts.brokerCa) return undefined;
  if (!opts.broker || !/^(mqtts|wss):/.test(opts.broker)) throw new CliError("--broker-ca goes with an mqtts:// or wss:// --broker");
  try {
    return { ca: readPem(opts.brokerCa, "broker CA certificate") };
  } catch (err) {
    if (err instanceof TlsFileError) throw new CliError(err.message);
    throw err;
  }
}
