// outpost sim: a fleet of N devices in one process, registered over REST, with progress and a summary.
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { CliError, parsePositive, urlOption, urlParser } from "./common.ts";
import { API_KEY, secretFileOption, secretOption, secretValue } from "./secrets.ts";
import { redactUrl } from "../server/log.ts";
import { startFleetDevice, type RunningDevice } from "./fleet.ts";

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
}

/** Runs fn over items with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
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

/** How many taken ids sim skips (beyond --count) before it refuses: ids of devices it did not create. */
const MAX_TAKEN_IDS = 1000;

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
    .addOption(new Option("--json", "print the summary as JSON"))
    .action(async (opts: SimOptions, cmd: Command) => {
      const key = secretValue(cmd, API_KEY);
      if (!key) throw new CliError("an API key is needed: --key-file, OUTPOST_KEY or --key");
      const base = opts.url.replace(/\/$/, "");
      const mqttUrl = opts.mqtt ?? `mqtt://${new URL(base).hostname}:1883`;
      const shownMqtt = redactUrl(mqttUrl);
      const api = (path: string, init: RequestInit = {}) =>
        fetch(`${base}/api/v1${path}`, {
          ...init,
          headers: { authorization: `Bearer ${key}`, ...(init.body ? { "content-type": "application/json" } : {}) },
        }).catch((err: Error) => {
          throw new CliError(`cannot reach ${base}: ${(err.cause as Error)?.message ?? err.message}`);
        });

      // Stopping (Ctrl-C, SIGTERM, --duration) works in every phase, and always cleans up what this run created.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const durationTimer = opts.duration ? setTimeout(onSignal, opts.duration * 1000) : undefined;
      const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve(), { once: true }));

      /** Only ids this run registered: nothing else is ever deleted. */
      const created = new Map<string, string>();
      const running: RunningDevice[] = [];
      const failures: string[] = [];
      const bars = progress();
      const t0 = performance.now();
      let t1 = t0;
      let t2 = t0;
      try {
        const registering = bars.create(opts.count, "register");
        let next = 1;
        const taken: string[] = [];
        const register = async () => {
          while (created.size < opts.count && !stop.signal.aborted) {
            if (taken.length > MAX_TAKEN_IDS)
              throw new CliError(`more than ${MAX_TAKEN_IDS} ids ${opts.idPrefix}-<n> are taken by other devices: choose another --id-prefix`);
            const id = `${opts.idPrefix}-${next++}`;
            const res = await api("/devices", { method: "POST", body: JSON.stringify({ id, metadata: { sim: true } }) });
            if (res.status === 409) {
              taken.push(id); // someone else's device: left as it is
              continue;
            }
            if (res.status !== 201) throw new CliError(`registering ${id}: HTTP ${res.status} ${await res.text()}`);
            const { credential } = (await res.json()) as { credential: string };
            if (created.size >= opts.count) {
              await api(`/devices/${id}`, { method: "DELETE" }); // a concurrent worker filled the count first
              continue;
            }
            created.set(id, credential);
            registering.increment();
          }
        };
        await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.count) }, register));
        if (taken.length && !opts.json)
          process.stderr.write(
            `skipped ${taken.length} taken id(s) (${taken.slice(0, 3).join(", ")}${taken.length > 3 ? ", ..." : ""}): not this simulator's\n`,
          );
        t1 = performance.now();

        const ids = [...created.keys()];
        const connecting = bars.create(ids.length, "connect ");
        await pool(ids, opts.concurrency, async (id) => {
          if (stop.signal.aborted) return;
          try {
            running.push(await startFleetDevice(mqttUrl, id, created.get(id)!, {}, { timeoutMs: opts.connectTimeout, signal: stop.signal }));
          } catch (err) {
            failures.push(`${id}: ${(err as Error).message}`);
          }
          connecting.increment();
        });
        t2 = performance.now();
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
        await Promise.all(running.map((d) => d.close()));
        if (!opts.keep)
          await pool([...created.keys()], opts.concurrency, async (id) => void (await api(`/devices/${id}`, { method: "DELETE" }).catch(() => {})));
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}
