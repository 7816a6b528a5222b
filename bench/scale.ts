// Past one machine, on this machine: REST RPC/s and memory per device with 1, 2 and 3 backend nodes sharing one
// Redis and one registry (`serve --redis`), and 3 nodes with the registry in Postgres and no shared directory
// (`--db`), against the single-process default (`serve`, no Redis) in the same run. Every node is its own process; the devices (mqtt.js, in this process) are spread over the nodes, and the
// callers spread their calls over the nodes round-robin, so with n nodes (n-1)/n of the calls cross nodes.
// Memory per device: the nodes' RSS after the devices connected minus before, divided by the devices; and Redis's
// used_memory likewise. Last line: a JSON object of the figures.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { Registry } from "../host/registry/registry.ts";
import { startJsDevice } from "../host/rpc/js-device.ts";
import { connectRedis } from "../host/broker/redis.ts";
import { startRedisServer } from "../host/cluster/redis-server.ts";
import { freePort } from "../test/support/mosquitto.ts";
import { startPostgres, type TestPostgres } from "../test/support/postgres.ts";

const DEVICES = Number(process.env.SCALE_DEVICES ?? 300);
const CALLERS = Number(process.env.SCALE_CALLERS ?? 32);
const SECONDS = Number(process.env.SCALE_SECONDS ?? 4);
const WARMUP_SECONDS = 3;
const ROOT = join(import.meta.dirname, "..");

interface Node {
  url: string;
  mqttUrl: string;
  proc: ChildProcess;
}

/** `pg`: the registry in that Postgres, each node with a data directory of its own (as on separate machines). */
async function startNode(dataDir: string, redisUrl?: string, pg?: TestPostgres): Promise<Node> {
  const port = await freePort();
  const mqttPort = await freePort();
  const args = ["bin/outpost.js", "serve", "--data", dataDir, "--port", String(port), "--mqtt-port", String(mqttPort), "--log-level", "warn"];
  const own = pg ? ["--data", mkdtempSync(join(tmpdir(), "outpost-bench-scale-node-")), "--db", pg.url] : [];
  const env = pg ? { ...process.env, OUTPOST_DB_PASSWORD: pg.password } : process.env;
  const proc = spawn("node", [...args, ...(redisUrl ? ["--redis", redisUrl] : []), ...own], { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => (out += d) && out.includes("outpost is running") && resolve());
    proc.once("exit", (code) => reject(new Error(`serve exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, proc };
}

const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  rpcPerSec: number;
  nodeBytesPerDevice: number;
  redisBytesPerDevice: number | null;
  errors: number;
}

async function run(nodeCount: number, shared: boolean, pg?: TestPostgres): Promise<Figures> {
  const dataDir = mkdtempSync(join(tmpdir(), "outpost-bench-scale-"));
  const redis = shared ? await startRedisServer(join(dataDir, "redis"), { port: await freePort() }) : undefined;
  const spy = redis ? await connectRedis(redis.url) : undefined;
  const registry = new Registry(dataDir, { db: pg?.urlWithPassword });
  registry.backendPassword();
  const key = registry.createApiKey().key;
  const ids = Array.from({ length: DEVICES }, (_, i) => `b${i}`);
  const credentials = ids.map((id) => registry.addDevice(id).credential);
  const nodes: Node[] = [];
  for (let n = 0; n < nodeCount; n++) nodes.push(await startNode(dataDir, redis?.url, pg));
  await sleep(500);
  const redisMemory = async () => (spy ? Number(/used_memory:(\d+)/.exec(await spy.info("memory"))![1]) : 0);
  const rssBefore = nodes.reduce((s, n) => s + rssBytes(n.proc.pid!), 0);
  const redisBefore = await redisMemory();
  const devices: MqttClient[] = [];
  for (const [i, id] of ids.entries())
    devices.push(await startJsDevice(nodes[i % nodeCount].mqttUrl, { id, credential: credentials[i], methods: { echo: (p) => p } }));
  await sleep(1500);
  const rssAfter = nodes.reduce((s, n) => s + rssBytes(n.proc.pid!), 0);
  const redisAfter = await redisMemory();

  let calls = 0;
  let errors = 0;
  let next = 0;
  /** Every caller calls until `until`; the first phase only warms up (each HTTP connection's first call checks the API key with scrypt). */
  const phase = (seconds: number, counted: boolean) => {
    const until = performance.now() + seconds * 1000;
    return Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (performance.now() < until) {
          const k = next++;
          const res = await fetch(`${nodes[k % nodeCount].url}/api/v1/devices/${ids[(k * 7) % DEVICES]}/rpc`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", id: k, method: "echo", params: [k] }),
          });
          await res.arrayBuffer();
          if (!counted) continue;
          if (res.status === 200) calls++;
          else errors++;
        }
      }),
    );
  };
  await phase(WARMUP_SECONDS, false);
  const started = performance.now();
  await phase(SECONDS, true);
  const elapsed = (performance.now() - started) / 1000;
  for (const d of devices) await d.endAsync(true);
  for (const n of nodes) {
    n.proc.kill("SIGTERM");
    await new Promise((r) => n.proc.once("exit", r));
  }
  spy?.disconnect();
  registry.close();
  await redis?.close();
  return {
    rpcPerSec: Math.round(calls / elapsed),
    nodeBytesPerDevice: Math.round((rssAfter - rssBefore) / DEVICES),
    redisBytesPerDevice: redis ? Math.round((redisAfter - redisBefore) / DEVICES) : null,
    errors,
  };
}

const single = await run(1, false);
const scaled: Record<string, Figures> = {};
for (const n of [1, 2, 3]) scaled[`nodes${n}`] = await run(n, true);
const pg = await startPostgres();
try {
  scaled.nodes3_postgres = await run(3, true, pg);
} finally {
  await pg.close();
}

console.log(`${DEVICES} devices, ${CALLERS} concurrent callers, ${SECONDS} s each, ${availableParallelism()} cores shared by every process`);
const row = (name: string, f: Figures) =>
  console.log(
    `${name.padEnd(26)} ${String(f.rpcPerSec).padStart(6)} RPC/s  (${(f.rpcPerSec / single.rpcPerSec).toFixed(2)}x single)  ` +
      `nodes ${(f.nodeBytesPerDevice / 1024).toFixed(1)} KiB/device  redis ${f.redisBytesPerDevice === null ? "-" : `${(f.redisBytesPerDevice / 1024).toFixed(1)} KiB/device`}  errors ${f.errors}`,
  );
row("single process (default)", single);
for (const [name, f] of Object.entries(scaled))
  row(name.endsWith("_postgres") ? "3 nodes, Redis + Postgres" : `${name.replace("nodes", "")} node(s) on Redis`, f);
console.log(JSON.stringify({ devices: DEVICES, callers: CALLERS, seconds: SECONDS, single, ...scaled }));
