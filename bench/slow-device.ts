// One slow device against everyone else: the p99 latency of REST calls to a healthy device while another device,
// connected and subscribed, has stopped reading its socket and is flooded with 30 KB requests, against the same
// run without the slow device. Backend, devices and the slow device each in their own process.
//  - healthy: a module device (host/device.ts, V8) over MQTT; RATE echo calls a second (open loop), each call's
//    latency from when it was due, failed ones included.
//  - slow: a raw MQTT client that logs in, subscribes its rx, says it is online and then pauses its socket; a
//    fresh one for every slow run (a full socket stays full). FLOOD_PER_S requests of 30 KB a second go to it.
// Runs alternate (base, slow, base, ...); the median run of each kind counts. The issue asks for a ratio <= 2.
// Run: node --import tsx bench/slow-device.ts   (env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_RATE, BENCH_FLOOD_PER_S,
// BENCH_BACKEND_NODE_ARGS, e.g. "--cpu-prof")
// The last line is a JSON object with the figures.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import type { Socket } from "node:net";
import { Registry } from "../host/registry/registry.ts";
import { Device } from "../host/device.ts";
import { freePort } from "../test/support/mosquitto.ts";
import { child, cpuSeconds, httpConnection, restEchoCaller, serveArgs } from "./load.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const CONNECTIONS = 16; // keep-alive connections the healthy calls are spread over (pipelined when the answers lag)
const FLOOD_PER_S = Number(process.env.BENCH_FLOOD_PER_S ?? 200);
const FLOOD_TIMEOUT_MS = 2000;
const BIG = "x".repeat(30 * 1024);

/** A run's figures, over every call (failed ones included). */
type Run = { rpc_per_s: number; p50_ms: number; p99_ms: number; max_ms: number; errors: number; backend_cpu_s: number };

// ---- child roles ----------------------------------------------------------------------------------------

/** The healthy module device, until stdin closes. */
async function healthyRole(url: string, id: string, credential: string) {
  const d = new Device({ id });
  await d.connect(url, { password: credential });
  process.stdout.write("ready\n");
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await d.close();
    process.exit(0);
  });
}

/** The slow device: online with its rx subscribed, then it reads nothing more; until stdin closes. */
async function slowRole(url: string, id: string, credential: string) {
  const dev = await mqtt.connectAsync(url, { username: id, password: credential, clientId: id, protocolVersion: 4, reconnectPeriod: 0 });
  await dev.subscribeAsync(`devices/${id}/rx`);
  await dev.publishAsync(`devices/${id}/status`, '{"online":true}', { retain: true });
  (dev.stream as Socket).pause();
  process.stdout.write("ready\n");
  process.stdin.resume();
  process.stdin.on("end", () => {
    dev.stream.destroy();
    process.exit(0);
  });
}

// ---- main ---------------------------------------------------------------------------------------------------

/** FLOOD_PER_S calls of 30 KB a second to `id` until `stop()`; counts the answers by status and error. */
async function flood(port: number, key: string, id: string) {
  const conns = await Promise.all(Array.from({ length: 8 }, () => httpConnection(port)));
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "echo", params: [BIG] });
  const raw =
    `POST /api/v1/devices/${id}/rpc?timeout_ms=${FLOOD_TIMEOUT_MS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const outcomes: Record<string, number> = {};
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  const t0 = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * FLOOD_PER_S) - sent;
    for (let i = 0; i < due; i++) {
      const c = conns[sent++ % conns.length];
      inFlight.push(
        c.request(raw).then(({ status, body: text }) => {
          const name = `${status} ${status === 200 ? "ok" : (JSON.parse(text) as { error?: string }).error}`;
          outcomes[name] = (outcomes[name] ?? 0) + 1;
        }),
      );
    }
  }, 10);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      for (const c of conns) c.close();
      return { sent, outcomes };
    },
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "outpost-bench-slow-"));
  const registry = new Registry(dir);
  const { key } = registry.createApiKey();
  const healthy = registry.addDevice("healthy");
  const slow = registry.addDevice("slow");
  registry.close();

  const port = await freePort();
  const mqttPort = await freePort();
  const backend = child(serveArgs(dir, port, mqttPort), (process.env.BENCH_BACKEND_NODE_ARGS ?? "").split(" ").filter(Boolean));
  await backend.line();
  const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
  const base = `http://127.0.0.1:${port}`;
  const online = async (id: string, want: boolean) => {
    for (;;) {
      const d = (await fetch(`${base}/api/v1/devices/${id}`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.json())) as { online: boolean };
      if (d.online === want) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const device = child(["bench/slow-device.ts", "--role", "healthy", mqttUrl, healthy.id, healthy.credential]);
  await device.line();
  await online(healthy.id, true);

  const rest = await restEchoCaller(port, key, CONNECTIONS);
  // Open loop: calls go out at RATE a second whatever the answers do, and each call's latency counts from when it
  // was due. A closed loop (one call in flight per caller) would make only one stalled call per caller, so a stall
  // of seconds would hardly reach its p99. Failed calls (a stall ends in 504) count with their latency.
  const run = async (): Promise<Run> => {
    const all: number[] = [];
    let errors = 0;
    let sent = 0;
    const calls: Promise<void>[] = [];
    const cpu0 = cpuSeconds(backend.proc.pid!);
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        const due = Math.min(Math.floor(((now - t0) / 1000) * RATE), SECONDS * RATE);
        for (; sent < due; sent++) {
          const at = t0 + (sent / RATE) * 1000;
          calls.push(
            rest.call(healthy.id, sent, sent).then((ok) => {
              all.push(performance.now() - at);
              if (!ok) errors++;
            }),
          );
        }
        if (sent >= SECONDS * RATE) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    await Promise.all(calls);
    const elapsed = (performance.now() - t0) / 1000;
    const backend_cpu_s = +(cpuSeconds(backend.proc.pid!) - cpu0).toFixed(2);
    all.sort((a, b) => a - b);
    const pct = (p: number) => +all[Math.min(all.length - 1, Math.floor(p * all.length))].toFixed(2);
    return { rpc_per_s: Math.round(all.length / elapsed), p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: +all[all.length - 1].toFixed(1), errors, backend_cpu_s };
  };
  await run(); // warm-up

  const baseRuns: Run[] = [];
  const slowRuns: Run[] = [];
  const floods: { sent: number; outcomes: Record<string, number> }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    baseRuns.push(await run());
    const stuck = child(["bench/slow-device.ts", "--role", "slow", mqttUrl, slow.id, slow.credential]);
    await stuck.line();
    await online(slow.id, true);
    const f = await flood(port, key, slow.id);
    slowRuns.push(await run());
    floods.push(await f.stop());
    stuck.proc.stdin!.end();
    await new Promise((res) => stuck.proc.once("exit", res));
    await online(slow.id, false);
  }
  rest.close();
  device.proc.stdin!.end();
  backend.proc.kill("SIGTERM");
  await new Promise((r) => backend.proc.once("exit", r));
  rmSync(dir, { recursive: true, force: true });

  const median = (runs: Run[]) => [...runs].sort((a, b) => a.p99_ms - b.p99_ms)[runs.length >> 1];
  const b = median(baseRuns);
  const s = median(slowRuns);
  const ratio = +(s.p99_ms / b.p99_ms).toFixed(2);
  const outcomes: Record<string, number> = {};
  for (const f of floods) for (const [k, n] of Object.entries(f.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n;
  const floodSent = floods.reduce((a, f) => a + f.sent, 0);
  const line = (r: Run) =>
    `${r.rpc_per_s} RPC/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  max ${r.max_ms} ms  errors ${r.errors}  backend CPU ${r.backend_cpu_s} s`;
  console.log(`healthy device over MQTT, ${RATE} echo calls/s (open loop), median of ${ROUNDS} alternating ${SECONDS} s runs`);
  console.log(`  without a slow device  ${line(b)}`);
  console.log(`  with one slow device   ${line(s)}`);
  console.log(`  slow device flooded with ${floodSent} x 30 KB requests (${FLOOD_PER_S}/s): ${JSON.stringify(outcomes)}`);
  console.log(`  p99 with / without: ${ratio}x (the issue asks <= 2x)`);
  console.log(
    JSON.stringify({
      p99_ratio: ratio,
      base_p99_ms: b.p99_ms,
      slow_p99_ms: s.p99_ms,
      base_max_ms: b.max_ms,
      base_backend_cpu_s: b.backend_cpu_s,
      slow_backend_cpu_s: s.backend_cpu_s,
      slow_max_ms: s.max_ms,
      base_p50_ms: b.p50_ms,
      slow_p50_ms: s.p50_ms,
      base_rpc_per_s: b.rpc_per_s,
      slow_rpc_per_s: s.rpc_per_s,
      healthy_errors: b.errors + s.errors,
      flood_requests: floodSent,
      flood_outcomes: outcomes,
      flood_per_s: FLOOD_PER_S,
      rate_per_s: RATE,
      seconds: SECONDS,
      rounds: ROUNDS,
    }),
  );
  process.exit(0);
}

const role = process.argv.indexOf("--role");
if (role < 0) await main();
else if (process.argv[role + 1] === "healthy") await healthyRole(process.argv[role + 2], process.argv[role + 3], process.argv[role + 4]);
else await slowRole(process.argv[role + 2], process.argv[role + 3], process.argv[role + 4]);
