// `outpost device run`: one device on the module under V8, against an MQTT broker,
// until SIGINT/SIGTERM; then the offline status goes out and it disconnects cleanly.
import { Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_KEEPALIVE_S, DEFAULT_SESSION_EXPIRY, Device } from "../device.ts";
import { errName, wsCloseName } from "../abi.ts";
import { DEFAULT_PREFIX } from "../broker/acl.ts";
import { CliError, parseNonNegative, parsePositive, parseSeconds32, urlParser } from "./common.ts";
import { OtaDevice } from "../ota/node-device.ts";
import { DEVICE_PASSWORD, secretFileOption, secretOption, secretValue } from "./secrets.ts";
import { createLogger, redactUrl } from "../server/log.ts";
import { readPem, TlsFileError } from "../tls/files.ts";

const LEVELS = ["debug", "info", "warn", "error"] as const;

interface RunOptions {
  id: string;
  url: string[];
  username?: string;
  prefix: string;
  protocol: string;
  clean?: boolean;
  sessionExpiry?: number;
  keepalive: number;
  telemetry: number;
  otaDir?: string;
  otaKey?: string[] | string;
  otaWindow?: number;
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/** MQTT carries the keep-alive in 16 bits. */
function parseKeepalive(value: string): number {
  const n = parseNonNegative(value);
  if (n > 0xffff) throw new InvalidArgumentError(`keep-alive over 65535 s: ${value}`);
  return n;
}

const isWs = (url: string) => url.startsWith("ws://") || url.startsWith("wss://");

/** The TLS material the flags name, read now (a wrong path is a one-line error, not a reconnect loop). */
function tlsOptions(opts: RunOptions) {
  const secure = opts.url[0].startsWith("mqtts://") || opts.url[0].startsWith("wss://");
  if (!secure) {
    if (opts.ca || opts.cert || opts.key || opts.servername) throw new CliError("--ca, --cert, --key and --servername go with an mqtts:// or wss:// --url");
    return undefined;
  }
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new CliError("--cert and --key go together");
  try {
    return {
      ca: opts.ca && readPem(opts.ca, "CA certificate"),
      cert: opts.cert && readPem(opts.cert, "client certificate"),
      key: opts.key && readPem(opts.key, "client key", true),
      servername: opts.servername,
    };
  } catch (err) {
    if (err instanceof TlsFileError) throw new CliError(err.message);
    throw err;
  }
}

/** Session flags that would silently do nothing are a mistake, named here. */
function checkSessionFlags(opts: RunOptions): void {
  if (isWs(opts.url[0]) && (opts.clean || opts.sessionExpiry !== undefined))
    throw new CliError("--clean and --session-expiry are MQTT options: a WebSocket device has no broker session");
  if (opts.sessionExpiry !== undefined && opts.protocol !== "5")
    throw new CliError("--session-expiry needs --protocol 5 (MQTT 3.1.1 has no session expiry: the broker decides how long it keeps a session)");
}

export function deviceRunCommand(): Command {
  return new Command("run")
    .description("run one device on the module (V8) against an MQTT broker until interrupted")
    .requiredOption("--id <id>", "device id (MQTT client id; topics <prefix>/<id>/rx, tx, status)")
    .addOption(
      new Option(
        "--url <url>",
        "broker, mqtt://host:port (repeated or comma-separated: the fleet's nodes, tried in turn when one fails); or the backend's ws://host:port/api/v1/devices/ws",
      )
        .argParser(urlListParser)
        .makeOptionMandatory(),
    )
    .option("--username <username>", "MQTT username (default: the device id)")
    .addOption(secretOption(DEVICE_PASSWORD))
    .addOption(secretFileOption(DEVICE_PASSWORD))
    .option("--prefix <prefix>", "topic prefix", DEFAULT_PREFIX)
    .addOption(new Option("--protocol <version>", "MQTT protocol version").choices(["4", "5"]).default("4"))
    .option("--clean", "start without the broker's session: requests published while the device is away are lost (default: the session is kept)")
    .addOption(
      new Option(
        "--session-expiry <seconds>",
        `MQTT 5: how long the broker keeps the session after the connection ends (default ${DEFAULT_SESSION_EXPIRY}; 0 with --clean)`,
      ).argParser(parseSeconds32),
    )
    .addOption(
      new Option("--keepalive <s>", "keep-alive in seconds: a ping after this long without sending or receiving (0: off)")
        .argParser(parseKeepalive)
        .default(DEFAULT_KEEPALIVE_S),
    )
    .addOption(new Option("--ca <path>", "mqtts:// and wss://: the CA that signed the server's certificate (PEM)").env("OUTPOST_TLS_CA"))
    .addOption(new Option("--cert <path>", "log in with this client certificate (PEM) instead of a password").env("OUTPOST_TLS_CERT"))
    .addOption(new Option("--key <path>", "the client certificate's private key (PEM, mode 0600)").env("OUTPOST_TLS_KEY"))
    .addOption(new Option("--servername <name>", "the name the server's certificate must carry (default: the URL's host)"))
    .addOption(new Option("--telemetry <ms>", "publish sys.info on <prefix>/<id>/telemetry every <ms> (0: off)").argParser(parseNonNegative).default(0))
    .option("--ota-dir <dir>", "take OTA updates of the module (docs/ota.md): its slots and state record live here")
    .addOption(new Option("--ota-key <hex...>", "release public key(s) the device accepts (outpost keygen)").env("OUTPOST_OTA_KEYS"))
    .addOption(new Option("--ota-window <ms>", "how long a new module has to be confirmed").argParser(parsePositive))
    .action(async (opts: RunOptions, cmd: Command) => {
      checkSessionFlags(opts);
      const password = secretValue(cmd, DEVICE_PASSWORD);
      const tls = tlsOptions(opts);
      const log = createLogger({ name: "outpost-device" });
      const url = opts.url.map(redactUrl).join(","); // a ws:// URL may carry ?access_token=
      const telemetryMs = opts.telemetry;
      const deviceOpts = {
        id: opts.id,
        board: "node-cli",
        log: (level: number, text: string) => log[LEVELS[level] ?? "info"]({ from: "module" }, text),
      };
      const keys = opts.otaKey === undefined ? [] : (Array.isArray(opts.otaKey) ? opts.otaKey : [opts.otaKey]).flatMap((k) => k.split(",")).filter(Boolean);
      if (opts.otaDir && keys.length === 0)
        throw new CliError("--ota-dir needs at least one --ota-key (or OUTPOST_OTA_KEYS): a device without a release key refuses every update");
      const ota = opts.otaDir ? new OtaDevice({ ...deviceOpts, ota: { dir: opts.otaDir, publicKeys: keys, confirmWindowMs: opts.otaWindow } }) : undefined;
      const device = ota ?? new Device(deviceOpts);
      const connected = device.connect(opts.url.length === 1 ? opts.url[0] : opts.url, {
        username: opts.username ?? opts.id,
        password,
        prefix: opts.prefix,
        protocolVersion: opts.protocol === "5" ? 5 : 4,
        clean: opts.clean ?? false,
        sessionExpiry: opts.sessionExpiry,
        keepalive: opts.keepalive,
        telemetryMs,
        tls,
      });
      const mqtt = (ota ? ota.device : (device as Device)).mqtt!;
      mqtt.on("connect", (sessionPresent: boolean) =>
        log.info({ id: opts.id, broker: `${mqtt.broker.host}:${mqtt.broker.port}`, sessionPresent }, "connected"),
      );
      mqtt.on("close", (info: { error: number; reasonCode: number }, wasConnected: boolean) => {
        if (!info.error) return;
        // Named: the module's error, and over WebSocket the close code (else the MQTT reason code stays a number).
        const named = {
          error: errName(info.error),
          ...(isWs(opts.url[0]) ? { closeCode: `${info.reasonCode} ${wsCloseName(info.reasonCode)}` } : { reasonCode: info.reasonCode }),
        };
        log.warn({ ...named, wasConnected }, "connection lost; reconnecting");
      });
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, "stopping: offline status, then disconnect");
        await device.close();
        log.info("disconnected");
        process.exit(0);
      };
      process.on("SIGINT", () => void stop("SIGINT"));
      process.on("SIGTERM", () => void stop("SIGTERM"));
      await connected;
      if (isWs(opts.url[0])) log.info({ url }, "serving JSON-RPC over WebSocket");
      else log.info({ rx: `${opts.prefix}/${opts.id}/rx`, tx: `${opts.prefix}/${opts.id}/tx` }, "serving JSON-RPC");
    });
}

/** `--url` repeated or comma-separated: every one an mqtt:// (or every one an mqtts://) URL, or a single ws:// or wss:// one. */
function urlListParser(value: string, previous: string[] | undefined): string[] {
  const parse = urlParser("mqtt:", "ws:", "mqtts:", "wss:");
  const urls = [...(previous ?? []), ...value.split(",").map((one) => parse(one.trim()))];
  if (urls.length > 1 && urls.some((u) => isWs(u))) throw new InvalidArgumentError("several --url are MQTT brokers (mqtt:// or mqtts://), not ws:// or wss://");
  if (urls.some((u) => u.startsWith("mqtts:")) && urls.some((u) => u.startsWith("mqtt:")))
    throw new InvalidArgumentError("several --url are all mqtts:// or all mqtt://: one TLS setting serves them all");
  return urls;
}
