// outpost job create | list | show | watch | cancel: fleet jobs over the REST API (docs/fleet.md). `watch` (and
// `create --watch`) follows the job's event stream with a progress bar and ends with a table of its counts.
import { Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import { CliError, jsonOption, parsePositive, urlOption } from "./common.ts";
import { API_KEY, secretFileOption, secretOption, secretValue } from "./secrets.ts";

const collect = (v: string, all: string[] = []) => [...all, v];

function parseRamp(v: string): Record<string, number> {
  const m = /^(\d+),([0-9.]+),(\d+)(?::(notified|succeeded))?$/.exec(v);
  if (!m) throw new InvalidArgumentError(`not a ramp (base,factor,every[:notified|succeeded], e.g. 10,2,50): ${v}`);
  return { base_per_minute: Number(m[1]), factor: Number(m[2]), [m[4] === "succeeded" ? "every_succeeded" : "every_notified"]: Number(m[3]) };
}

function parseAbort(v: string, all: unknown[] = []): unknown[] {
  const m = /^([a-z_,]+):([0-9.]+)(?::(\d+))?$/.exec(v);
  if (!m) throw new InvalidArgumentError(`not an abort rule (kinds:percent[:min], e.g. failed,rolled_back:2:50): ${v}`);
  return [...all, { on: m[1].split(","), threshold_pct: Number(m[2]), ...(m[3] ? { min_executed: Number(m[3]) } : {}) }];
}

function parseMeta(v: string, all: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf("=");
  if (eq < 1) throw new InvalidArgumentError(`not key=value: ${v}`);
  return { ...all, [v.slice(0, eq)]: v.slice(eq + 1) };
}

/** A metadata selector value as JSON when it reads as JSON (4, true), else the string. */
function metaValue(v: string): unknown {
  try {
    const j = JSON.parse(v);
    return typeof j === "number" || typeof j === "boolean" ? j : v;
  } catch {
    return v;
  }
}

type Api = (path: string, init?: RequestInit) => Promise<Response>;

function client(cmd: Command, url: string): Api {
  const key = secretValue(cmd, API_KEY);
  if (!key) throw new CliError("an API key is needed: --key-file, OUTPOST_KEY or --key (create one with: outpost key create)");
  const base = url.replace(/\/$/, "");
  return (path, init = {}) =>
    fetch(`${base}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...(init.body ? { "content-type": "application/json" } : {}) },
    }).catch((err: Error) => {
      throw new CliError(`cannot reach ${base}: ${(err.cause as Error)?.message ?? err.message}`);
    });
}

async function json(res: Response): Promise<any> {
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new CliError(`HTTP ${res.status} ${body.error ?? ""}: ${body.message ?? ""}`.trim());
  return body;
}

const withApi = (c: Command) => c.addOption(urlOption()).addOption(secretOption(API_KEY)).addOption(secretFileOption(API_KEY));

const FINAL = ["succeeded", "failed", "timed_out", "rejected", "rolled_back", "cancelled"] as const;

/** The job's counts as a table, and the first executions that did not succeed. */
async function printTable(api: Api, job: any): Promise<void> {
  console.log(`job ${job.id} (${job.kind}) ${job.state}${job.reason ? `: ${job.reason}` : ""}`);
  const rows = ["queued", "in_progress", ...FINAL].map((s) => [s, job.counts[s]] as const).filter(([, n]) => n > 0);
  const width = Math.max(...rows.map(([s]) => s.length), 5);
  for (const [s, n] of rows) console.log(`  ${s.padEnd(width)}  ${String(n).padStart(7)}`);
  console.log(`  ${"total".padEnd(width)}  ${String(job.counts.total).padStart(7)}`);
  for (const state of ["failed", "timed_out", "rejected", "rolled_back"]) {
    if (!job.counts[state]) continue;
    const some = await json(await api(`/jobs/${job.id}/executions?state=${state}&limit=5`));
    for (const e of some) console.log(`  ${state} ${e.device_id}: ${e.reason ?? ""}`);
  }
}

/** Follows the job's event stream until its end event; a progress bar on a terminal. */
async function watch(api: Api, id: string, quiet: boolean): Promise<any> {
  const res = await api(`/jobs/${id}/events`);
  if (!res.ok || !res.body) await json(res);
  const bar =
    !quiet && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { format: " {bar} {value}/{total} done | {succeeded} ok, {bad} not ok | {rate}", stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let last: any;
  let started = false;
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!data) continue;
      last = JSON.parse(data);
      const c = last.counts;
      const done = FINAL.reduce((n, s) => n + c[s], 0);
      const payload = { succeeded: c.succeeded, bad: done - c.succeeded - c.cancelled, rate: last.rate_per_minute ? `${last.rate_per_minute}/min` : "" };
      if (bar && !started) {
        bar.start(c.total, done, payload);
        started = true;
      } else bar?.update(done, payload);
    }
  }
  bar?.stop();
  return last;
}

export function jobCommand(): Command {
  const job = new Command("job").description("fleet jobs: one RPC or a release rollout to many devices (docs/fleet.md)");
  withApi(job.command("create"))
    .description("create a job on the devices a selector picks; with --watch, follow it to the end")
    .addOption(new Option("--tag <tag>", "devices with this tag (repeatable: all of them)").argParser(collect))
    .addOption(new Option("--id <id>", "this device (repeatable)").argParser(collect))
    .addOption(new Option("--meta <key=value>", "devices whose metadata has this (repeatable)").argParser(parseMeta))
    .addOption(new Option("--rpc <method>", "the method every device is called with"))
    .addOption(new Option("--params <json>", "its params (a JSON array or object)"))
    .addOption(new Option("--release <id>", "roll this release out instead (the ota scope)"))
    .addOption(new Option("--max-per-minute <n>", "at most this many devices sent their execution per minute").argParser(parsePositive))
    .addOption(
      new Option("--ramp <base,factor,every[:notified|succeeded]>", "exponential ramp: start at base/min, times factor after each `every` devices").argParser(
        parseRamp,
      ),
    )
    .addOption(new Option("--abort <kinds:percent[:min]>", "abort when these failures reach percent of those executed (repeatable)").argParser(parseAbort))
    .addOption(new Option("--timeout <ms>", "per device").argParser(parsePositive))
    .addOption(new Option("--retries <n>", "retry a failed execution this many times").argParser(parsePositive))
    .addOption(new Option("--expires <s>", "devices still offline after this long are not reached").argParser(parsePositive))
    .addOption(new Option("--max-in-flight <n>", "executions in progress at once").argParser(parsePositive))
    .addOption(new Option("--watch", "follow the job with a progress bar; exit 1 unless every device succeeded"))
    .addOption(jsonOption())
    .action(async (o: any, cmd: Command) => {
      const api = client(cmd, o.url);
      if (!o.rpc === !o.release) throw new CliError("give one of --rpc <method> and --release <id>");
      let params: unknown;
      if (o.params !== undefined) {
        try {
          params = JSON.parse(o.params);
        } catch {
          throw new CliError(`--params is not JSON: ${o.params}`);
        }
      }
      const selector: Record<string, unknown> = {};
      if (o.tag) selector.tags = o.tag;
      if (o.id) selector.ids = o.id;
      if (o.meta) selector.metadata = Object.fromEntries(Object.entries(o.meta as Record<string, string>).map(([k, v]) => [k, metaValue(v)]));
      const rate: Record<string, unknown> = {};
      if (o.maxPerMinute) rate.max_per_minute = o.maxPerMinute;
      if (o.ramp) rate.ramp = o.ramp;
      const body = {
        selector,
        ...(o.rpc ? { rpc: { method: o.rpc, ...(params === undefined ? {} : { params }) } } : { rollout: { release: o.release } }),
        ...(Object.keys(rate).length ? { rate } : {}),
        ...(o.abort ? { abort: o.abort } : {}),
        ...(o.timeout ? { timeout_ms: o.timeout } : {}),
        ...(o.retries ? { retries: { max: o.retries } } : {}),
        ...(o.expires ? { expires_in_s: o.expires } : {}),
        ...(o.maxInFlight ? { max_in_flight: o.maxInFlight } : {}),
      };
      const created = await json(await api(o.release ? "/jobs/rollouts" : "/jobs", { method: "POST", body: JSON.stringify(body) }));
      if (!o.watch) return console.log(o.json ? JSON.stringify(created) : `job ${created.id}: ${created.counts.total} device(s)`);
      const last = (await watch(api, created.id, o.json)) ?? created;
      const final = await json(await api(`/jobs/${created.id}`));
      if (o.json) console.log(JSON.stringify(final));
      else await printTable(api, final ?? last);
      if (final.counts.succeeded !== final.counts.total) process.exitCode = 1;
    });
  withApi(job.command("list"))
    .description("jobs, newest first")
    .addOption(new Option("--state <state>", "only jobs in this state"))
    .addOption(jsonOption())
    .action(async (o: any, cmd: Command) => {
      const api = client(cmd, o.url);
      const jobs = await json(await api(`/jobs${o.state ? `?state=${encodeURIComponent(o.state)}` : ""}`));
      if (o.json) return console.log(JSON.stringify(jobs));
      if (jobs.length === 0) return console.log("no jobs");
      for (const j of jobs) console.log(`${j.id}\t${j.kind}\t${j.state}\t${j.counts.succeeded}/${j.counts.total} succeeded\t${j.created_at}`);
    });
  withApi(job.command("show <id>"))
    .description("one job: its state and counts, and the devices that did not succeed")
    .addOption(jsonOption())
    .action(async (id: string, o: any, cmd: Command) => {
      const api = client(cmd, o.url);
      const j = await json(await api(`/jobs/${encodeURIComponent(id)}`));
      if (o.json) return console.log(JSON.stringify(j));
      await printTable(api, j);
    });
  withApi(job.command("watch <id>"))
    .description("follow a job with a progress bar until it ends, then print its table")
    .addOption(jsonOption())
    .action(async (id: string, o: any, cmd: Command) => {
      const api = client(cmd, o.url);
      await watch(api, encodeURIComponent(id), o.json);
      const j = await json(await api(`/jobs/${encodeURIComponent(id)}`));
      if (o.json) console.log(JSON.stringify(j));
      else await printTable(api, j);
      if (j.counts.succeeded !== j.counts.total) process.exitCode = 1;
    });
  withApi(job.command("cancel <id>"))
    .description("cancel a job: nothing more is sent; devices not reached are cancelled")
    .addOption(jsonOption())
    .action(async (id: string, o: any, cmd: Command) => {
      const api = client(cmd, o.url);
      const j = await json(await api(`/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" }));
      console.log(o.json ? JSON.stringify(j) : `job ${j.id} cancelled (${j.counts.cancelled} device(s) not reached)`);
    });
  return job;
}
