// outpost sim: a fleet of N devices in one process, registered over REST, with progress and a summary.
import { Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import { CliError, parsePositive, urlOption, urlParser } from "./common.ts";
import { API_KEY, secretFileOption, secretOption, secretValue } from "./secrets.ts";
import { redactUrl } from "../server/log.ts";
import { startSimFleet, type SimFleet } from "./sim-fleet.ts";

interface SimOptions {
  count: number;
  url: string;
  mqtt?: string;
  idPrefix: string;
  concurrency: number;
  duration?: number;
  connectTimeout: number;
  keep?: boolean;
  json?: boolean;
  tag?: string[];
  otaKey?: string[];
  otaFail?: number;
}

/** Progress bars on a terminal; one line per finished phase otherwise (logs, CI). */
function progress() {
  if (process.stderr.isTTY) {
    const multi = new cliProgress.MultiBar(
      { format: " {phase} |{bar}| {value}/{total}", hideCursor: true, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    return { create: (total: number, phase: string) => multi.create(total, 0, { phase }), stop: () => multi.stop() };
  }
  return {
    create: (total: number, phase: string) => {
      let value = 0;
      return { increment: () => void (++value === total && process.stderr.write(`${phase.trim()}: ${value}/${total}\n`)) };
    },
    stop: () => {},
  };
}

function parseFraction(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`not a fraction from 0 to 1: ${v}`);
  return n;
}

export function simCommand(): Command {
  return new Command("sim")
    .description(
      "simulate a fleet of devices in this process (registered over REST, removed at the end unless --keep); ids already taken are skipped, never touched",
    )
    .addOption(new Option("--count <n>", "how many devices").argParser(parsePositive).default(10))
    .addOption(urlOption())
    .addOption(secretOption(API_KEY))
    .addOption(secretFileOption(API_KEY))
    .addOption(new Option("--mqtt <url>", "broker URL (default: the REST host, port 1883)").argParser(urlParser("mqtt:")))
    .addOption(new Option("--id-prefix <prefix>", "device ids are <prefix>-<n> (the first free ones)").default("sim"))
    .addOption(new Option("--concurrency <n>", "registrations/connections in flight").argParser(parsePositive).default(32))
    .addOption(new Option("--duration <s>", "stop after this many seconds from the start (default: until Ctrl-C)").argParser(parsePositive))
    .addOption(new Option("--connect-timeout <ms>", "a device that has no CONNACK by then counts as failed").argParser(parsePositive).default(10_000))
    .addOption(new Option("--keep", "keep the devices registered afterwards"))
    .addOption(new Option("--tag <tag>", "tag every device (repeatable), for job selectors").argParser((v: string, all: string[] = []) => [...all, v]))
    .addOption(
      new Option("--ota-key <hex>", "simulate OTA updates (docs/ota.md) trusting this Ed25519 release key (repeatable)").argParser(
        (v: string, all: string[] = []) => {
          if (!/^[0-9a-f]{64}$/.test(v)) throw new InvalidArgumentError(`not a public key (64 lowercase hex digits): ${v}`);
          return [...all, v];
        },
      ),
    )
    .addOption(new Option("--ota-fail <fraction>", "share of devices (0 to 1) whose new module fails at start and rolls back").argParser(parseFraction))
    .addOption(new Option("--json", "print the summary as JSON"))
    .action(async (opts: SimOptions, cmd: Command) => {
      const key = secretValue(cmd, API_KEY);
      if (!key) throw new CliError("an API key is needed: --key-file, OUTPOST_KEY or --key");
      const base = opts.url.replace(/\/$/, "");
      const mqttUrl = opts.mqtt ?? `mqtt://${new URL(base).hostname}:1883`;
      const shownMqtt = redactUrl(mqttUrl);
      // Stopping (Ctrl-C, SIGTERM, --duration) works in every phase, and always cleans up what this run created.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const durationTimer = opts.duration ? setTimeout(onSignal, opts.duration * 1000) : undefined;
      const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));

      const bars = progress();
      const registering = bars.create(opts.count, "register");
      let connecting: ReturnType<typeof bars.create> | undefined;
      const t0 = performance.now();
      let t1 = t0;
      let fleet: SimFleet | undefined;
      try {
        fleet = await startSimFleet({
          url: base,
          key,
          mqttUrl,
          count: opts.count,
          idPrefix: opts.idPrefix,
          concurrency: opts.concurrency,
          tags: opts.tag,
          ota: opts.otaKey?.length ? { publicKeys: opts.otaKey, failFraction: opts.otaFail ?? 0 } : undefined,
          connectTimeoutMs: opts.connectTimeout,
          signal: stop.signal,
          onProgress: (phase, _done, total) => {
            if (phase === "register") return registering.increment();
            if (!connecting) {
              t1 = performance.now();
              connecting = bars.create(total, "connect ");
            }
            connecting.increment();
          },
        });
        const { taken, failures } = fleet;
        const running = [...fleet.devices.values()];
        const ids = fleet.ids;
        if (taken.length && !opts.json)
          process.stderr.write(
            `skipped ${taken.length} taken id(s) (${taken.slice(0, 3).join(", ")}${taken.length > 3 ? ", ..." : ""}): not this simulator's\n`,
          );
        const t2 = performance.now();
        bars.stop();

        if (running.length === 0 && failures.length) throw new CliError(`no device could connect to ${shownMqtt}: ${failures[0].replace(/^[^:]*: /, "")}`);
        const summary = {
          devices: opts.count,
          connected: running.length,
          failed: failures.length,
          register_s: +((t1 - t0) / 1000).toFixed(2),
          connect_s: +((t2 - t1) / 1000).toFixed(2),
          connects_per_s: Math.round(running.length / ((t2 - t1) / 1000)),
          rss_mb: +(process.memoryUsage().rss / 2 ** 20).toFixed(1),
          broker: shownMqtt,
          ids: { first: ids[0], last: ids.at(-1) },
        };
        if (opts.json) console.log(JSON.stringify(summary));
        else {
          console.log(`${summary.connected}/${summary.devices} devices online via ${shownMqtt}` + (summary.failed ? `, ${summary.failed} failed` : ""));
          console.log(
            `registered in ${summary.register_s} s, connected in ${summary.connect_s} s (${summary.connects_per_s}/s), this process ${summary.rss_mb} MiB`,
          );
          for (const f of failures.slice(0, 5)) console.log(`  failed ${f}`);
          if (ids.length) console.log(`try: outpost call ${ids[0]} echo '["hi"]' --url ${base}`);
        }
        if (failures.length) process.exitCode = 1;
        await stopped;
      } finally {
        bars.stop();
        clearTimeout(durationTimer);
        if (opts.keep) await fleet?.close();
        else await fleet?.remove();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}
