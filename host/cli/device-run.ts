// `outpost device run`: one device on the module under V8, against an MQTT broker,
// until SIGINT/SIGTERM; then the offline status goes out and it disconnects cleanly.
import { Command, InvalidArgumentError, Option } from "commander";
import pino from "pino";
import { DEFAULT_KEEPALIVE_S, Device } from "../device.ts";
import { errName, wsCloseName } from "../abi.ts";
import { DEFAULT_PREFIX } from "../broker/acl.ts";
import { parseNonNegative, urlParser } from "./common.ts";

const LEVELS = ["debug", "info", "warn", "error"] as const;

/** MQTT carries the keep-alive in 16 bits. */
function parseKeepalive(value: string): number {
  const n = parseNonNegative(value);
  if (n > 0xffff) throw new InvalidArgumentError(`keep-alive over 65535 s: ${value}`);
  return n;
}

export function deviceRunCommand(): Command {
  return new Command("run")
    .description("run one device on the module (V8) against an MQTT broker until interrupted")
    .requiredOption("--id <id>", "device id (MQTT client id; topics <prefix>/<id>/rx, tx, status)")
    .addOption(
      new Option("--url <url>", "broker, mqtt://host:port; or the backend's ws://host:port/api/v1/devices/ws (JSON-RPC over WebSocket)")
        .argParser(urlParser("mqtt:", "ws:"))
        .makeOptionMandatory(),
    )
    .option("--username <username>", "MQTT username (default: the device id)")
    .option("--password <password>", "MQTT password")
    .option("--prefix <prefix>", "topic prefix", DEFAULT_PREFIX)
    .addOption(new Option("--protocol <version>", "MQTT protocol version").choices(["4", "5"]).default("4"))
    .addOption(
      new Option("--keepalive <s>", "keep-alive in seconds: a ping after this long without sending (0: off)")
        .argParser(parseKeepalive)
        .default(DEFAULT_KEEPALIVE_S),
    )
    .addOption(new Option("--telemetry <ms>", "publish sys.info on <prefix>/<id>/telemetry every <ms> (0: off)").argParser(parseNonNegative).default(0))
    .action(
      async (opts: {
        id: string;
        url: string;
        username?: string;
        password?: string;
        prefix: string;
        protocol: string;
        keepalive: number;
        telemetry: number;
      }) => {
        const log = pino({ name: "outpost-device" });
        const telemetryMs = opts.telemetry;
        const device = new Device({
          id: opts.id,
          board: "node-cli",
          log: (level, text) => log[LEVELS[level] ?? "info"]({ from: "module" }, text),
        });
        const connected = device.connect(opts.url, {
          username: opts.username ?? opts.id,
          password: opts.password,
          prefix: opts.prefix,
          protocolVersion: opts.protocol === "5" ? 5 : 4,
          keepalive: opts.keepalive,
          telemetryMs,
        });
        const mqtt = device.mqtt!;
        mqtt.on("connect", (sessionPresent: boolean) => log.info({ id: opts.id, url: opts.url, sessionPresent }, "connected"));
        mqtt.on("close", (info: { error: number; reasonCode: number }, wasConnected: boolean) => {
          if (!info.error) return;
          // Named: the module's error, and over WebSocket the close code (else the MQTT reason code stays a number).
          const named = {
            error: errName(info.error),
            ...(opts.url.startsWith("ws://") ? { closeCode: `${info.reasonCode} ${wsCloseName(info.reasonCode)}` } : { reasonCode: info.reasonCode }),
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
        if (opts.url.startsWith("ws://")) log.info({ url: opts.url }, "serving JSON-RPC over WebSocket");
        else log.info({ rx: `${opts.prefix}/${opts.id}/rx`, tx: `${opts.prefix}/${opts.id}/tx` }, "serving JSON-RPC");
      },
    );
}
