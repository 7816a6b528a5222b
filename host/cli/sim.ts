// outpost sim: a fleet of N devices in one process, registered over REST, with progress and a summary.
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { CliError, keyOption, parsePositive, urlOption } from "./common.ts";
import { startFleetDevice, type RunningDevice } from "./fleet.ts";

interface SimOptions {
  count: number;
  url: string;
  key?: string;
  mqtt?: string;
  idPrefix: string;
  concurrency: number;
  duration?: number;
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

export function simCommand(): Command {
  return new Command("sim")
    .description("simulate a fleet of devices in this process (registered over REST, removed at the end unless --keep)")
    .addOption(new Option("--count <n>", "how many devices").argParser(parsePositive).default(10))
    .addOption(urlOption())
    .addOption(keyOption())
    .addOption(new Option("--mqtt <url>", "broker URL (default: the REST host, port 1883)"))
    .addOption(new Option("--id-prefix <prefix>", "device ids are <prefix>-<n>").default("sim"))
    .addOption(new Option("--concurrency <n>", "registrations/connections in flight").argParser(parsePositive).default(32))
    .addOption(new Option("--duration <s>", "stop after this many seconds (default: until Ctrl-C)").argParser(parsePositive))
    .addOption(new Option("--keep", "keep the devices registered afterwards"))
    .addOption(new Option("--json", "print the summary as JSON"))
    .action(async (opts: SimOptions) => {
      if (!opts.key) throw new CliError("an API key is needed: --key or OUTPOST_KEY");
      const base = opts.url.replace(/\/$/, "");
      const mqttUrl = opts.mqtt ?? `mqtt://${new URL(base).hostname}:1883`;
      const api = (path: string, init: RequestInit = {}) =>
        fetch(`${base}/api/v1${path}`, {
          ...init,
          headers: { authorization: `Bearer ${opts.key}`, ...(init.body ? { "content-type": "application/json" } : {}) },
        });
      const ids = Array.from({ length: opts.count }, (_, i) => `${opts.idPrefix}-${i + 1}`);
      const bars = progress();

      const credentials = new Map<string, string>();
      const registering = bars.create(ids.length, "register");
      const t0 = performance.now();
      await pool(ids, opts.concurrency, async (id) => {
        let res = await api("/devices", { method: "POST", body: JSON.stringify({ id, metadata: { sim: true } }) });
        if (res.status === 409) {
          // Left over from an earlier run: its credential is gone, so replace the device.
          await api(`/devices/${id}`, { method: "DELETE" });
          res = await api("/devices", { method: "POST", body: JSON.stringify({ id, metadata: { sim: true } }) });
        }
        if (res.status !== 201) throw new CliError(`registering ${id}: HTTP ${res.status} ${await res.text()}`);
        credentials.set(id, ((await res.json()) as { credential: string }).credential);
        registering.increment();
      });
      const t1 = performance.now();
      const connecting = bars.create(ids.length, "connect ");
      const running: RunningDevice[] = [];
      const failures: string[] = [];
      await pool(ids, opts.concurrency, async (id) => {
        try {
          running.push(await startFleetDevice(mqttUrl, id, credentials.get(id)!));
        } catch (err) {
          failures.push(`${id}: ${(err as Error).message}`);
        }
        connecting.increment();
      });
      const t2 = performance.now();
      bars.stop();

      const summary = {
        devices: opts.count,
        connected: running.length,
        failed: failures.length,
        register_s: +((t1 - t0) / 1000).toFixed(2),
        connect_s: +((t2 - t1) / 1000).toFixed(2),
        connects_per_s: Math.round(running.length / ((t2 - t1) / 1000)),
        rss_mb: +(process.memoryUsage().rss / 2 ** 20).toFixed(1),
        broker: mqttUrl,
      };
      if (opts.json) console.log(JSON.stringify(summary));
      else {
        console.log(`${summary.connected}/${summary.devices} devices online via ${mqttUrl}` + (summary.failed ? `, ${summary.failed} failed` : ""));
        console.log(`registered in ${summary.register_s} s, connected in ${summary.connect_s} s (${summary.connects_per_s}/s), this process ${summary.rss_mb} MiB`);
        for (const f of failures.slice(0, 5)) console.log(`  failed ${f}`);
        console.log(`try: outpost call ${ids[0]} echo '["hi"]' --url ${base}`);
      }

      await new Promise<void>((resolve) => {
        if (opts.duration) setTimeout(resolve, opts.duration * 1000);
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await Promise.all(running.map((d) => d.close()));
      if (!opts.keep) await pool(ids, opts.concurrency, async (id) => void (await api(`/devices/${id}`, { method: "DELETE" })));
      if (failures.length) process.exitCode = 1;
    });
}
