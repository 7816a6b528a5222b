// bench:jobs — one RPC job over N simulated devices (default 10,000: `outpost sim` child processes, module
// devices over MQTT) against its named peer in the same run: the same N calls made as single REST calls by a
// client with the same concurrency (max_in_flight = the client's calls in flight, one keep-alive connection each).
// Every device answers one untimed call first. The job's time includes creating it (selecting and storing N
// executions) and polling GET /jobs/:id every 20 ms until it has ended.
// Prints calls per second and time to complete for both, and the ratio; the last line is a JSON object.
//   BENCH_DEVICES (10000), BENCH_CONCURRENCY (64), BENCH_SIM_PROCS (2)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend } from "../host/server/backend.ts";
import { freePort } from "../test/support/mosquitto.ts";
import { child, restEchoCaller } from "./load.ts";

const N = Number(process.env.BENCH_DEVICES ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const PROCS = Number(process.env.BENCH_SIM_PROCS ?? 2);

const backend = await startBackend({
  dataDir: mkdtempSync(join(tmpdir(), "outpost-bench-jobs-")),
  port: await freePort(),
  mqttPort: await freePort(),
  host: "127.0.0.1",
  logger: pino({ level: "warn" }),
});
const key = backend.registry.createApiKey().key;
const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };

process.stderr.write(`starting ${N} simulated devices in ${PROCS} outpost sim process(es)...\n`);
const t0 = performance.now();
const sims = Array.from({ length: PROCS }, (_, p) => {
  const count = Math.floor(N / PROCS) + (p < N % PROCS ? 1 : 0);
  const args = ["bin/outpost.js", "sim", "--count", String(count), "--id-prefix", `b${p}`, "--tag", "bench", "--concurrency", "32"];
  return child([...args, "--url", backend.url, "--key", key, "--mqtt", backend.mqttUrl, "--json", "--connect-timeout", "120000"]);
});
const summaries = (await Promise.all(sims.map((s) => s.line()))).map((l) => JSON.parse(l));
const connected = summaries.reduce((n, s) => n + s.connected, 0);
while (backend.presence.onlineCount < connected) await new Promise((r) => setTimeout(r, 100));
process.stderr.write(`${connected} devices online in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
const ids = (await (await fetch(`${backend.url}/api/v1/devices?tag=bench&online=true`, { headers: auth })).json()).map((d: { id: string }) => d.id);

// Warm-up, not timed: every device answers one REST call first, so neither side pays a device's first-call costs.
const caller = await restEchoCaller(backend.port, key, CONCURRENCY);
const everyDevice = async (): Promise<number> => {
  let next = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      while (next < ids.length) {
        const seq = next++;
        if (!(await caller.call(ids[seq], seq, w))) errors++;
      }
    }),
  );
  return errors;
};
await everyDevice();

// 1. The job: one POST, the backend sends every device its call, max_in_flight at a time.
const j0 = performance.now();
const created = await (
  await fetch(`${backend.url}/api/v1/jobs`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ selector: { tags: ["bench"] }, rpc: { method: "echo", params: ["x"] }, max_in_flight: CONCURRENCY, timeout_ms: 30_000 }),
  })
).json();
let job: any;
for (;;) {
  job = await (await fetch(`${backend.url}/api/v1/jobs/${created.id}`, { headers: auth })).json();
  if (job.state !== "in_progress") break;
  await new Promise((r) => setTimeout(r, 20));
}
const jobS = (performance.now() - j0) / 1000;

// 2. The peer: the same devices, one REST call each, CONCURRENCY calls in flight.
const r0 = performance.now();
const restErrors = await everyDevice();
const restS = (performance.now() - r0) / 1000;
caller.close();

const figures = {
  devices: connected,
  concurrency: CONCURRENCY,
  job_s: +jobS.toFixed(2),
  job_calls_per_s: Math.round(job.counts.succeeded / jobS),
  job_succeeded: job.counts.succeeded,
  job_not_succeeded: job.counts.total - job.counts.succeeded,
  rest_s: +restS.toFixed(2),
  rest_calls_per_s: Math.round((ids.length - restErrors) / restS),
  rest_errors: restErrors,
  job_over_rest: +(restS / jobS).toFixed(2),
};
console.log(
  `RPC job over ${connected} devices: ${figures.job_s} s (${figures.job_calls_per_s} calls/s, ${figures.job_not_succeeded} not succeeded); ` +
    `${ids.length} single REST calls, ${CONCURRENCY} in flight: ${figures.rest_s} s (${figures.rest_calls_per_s} calls/s, ${restErrors} errors); ` +
    `the job is ${figures.job_over_rest}x the REST client's speed`,
);
for (const s of sims) s.proc.kill("SIGINT");
await Promise.all(sims.map((s) => new Promise((r) => s.proc.once("exit", r))));
await backend.close();
console.log(JSON.stringify(figures));
