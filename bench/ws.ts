// WebSocket transport benchmark. In one run, against a backend in its own process:
//  1. REST RPC throughput and latency to M module devices (host/device.ts, V8) connected over WebSocket, against
//     the same REST calls to M module devices connected over MQTT (the named peer): the ratio WS / MQTT.
//     Both kinds run the same module and JSON-RPC code; only the transport and the backend's path differ.
//  2. Devices held: N WebSocket connections (upgrade with a device credential) and the backend's memory per device.
// Run: node --import tsx bench/ws.ts   (env: BENCH_M, BENCH_N, BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY)
// The last line is a JSON object with the figures.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as netConnect } from "node:net";
import { Registry } from "../host/registry/registry.ts";
import { DEVICE_COST } from "../host/registry/secrets.ts";
import { Device } from "../host/device.ts";
import { freePort } from "../test/support/mosquitto.ts";
import { child, holdDevices, serveArgs, drive as driveFor, holdConnections, restEchoCaller, rssBytes, tearDown, type Creds } from "./load.ts";

const M = Number(process.env.BENCH_M ?? 16);
const N = Number(process.env.BENCH_N ?? 19_000); // the container's hard fd limit is 20,000 per process
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3); // WS and MQTT runs alternate; the median run of each counts
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WS_PATH = "/api/v1/devices/ws";

// ---- child roles ----------------------------------------------------------------------------------------

/** Runs module devices: the first half over WebSocket, the second over MQTT, until stdin closes. */
async function devicesRole(wsUrl: string, mqttUrl: string, file: string) {
  const creds: Creds = JSON.parse(readFileSync(file, "utf8"));
  const devices = await Promise.all(
    creds.map(async (c, i) => {
      const d = new Device({ id: c.id });
      await d.connect(i < creds.length / 2 ? wsUrl : mqttUrl, { password: c.credential });
      return d;
    }),
  );
  process.stdout.write("ready\n");
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await Promise.all(devices.map((d) => d.close()));
    process.exit(0);
  });
}

/** Holds raw WebSocket device connections (upgrade only); counts those that got their 101. */
function holderRole(port: number, file: string) {
  return holdConnections(file, 128, (c, accepted) => {
    const s = netConnect(port, "127.0.0.1");
    s.on("connect", () =>
      s.write(
        `GET ${WS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Key: ${Buffer.from(c.id.padEnd(16, "-").slice(0, 16)).toString("base64")}\r\nAuthorization: Bearer ${c.id}:${c.credential}\r\n\r\n`,
      ),
    );
    s.once("data", (d) => accepted(d.subarray(0, 12).toString() === "HTTP/1.1 101"));
    // Heartbeat pings (unmasked server frames 0x89) get a masked pong back, so the backend keeps us.
    s.on("data", (d) => {
      if (d[0] === 0x89) s.write(Buffer.from([0x8a, 0x80, 0, 0, 0, 0]));
    });
    return s;
  });
}

// ---- main ---------------------------------------------------------------------------------------------------

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "outpost-bench-ws-"));
  const registry = new Registry(dir); // device credentials at their shipped scrypt cost
  const { key } = registry.createApiKey();
  const rpcDevices: Creds = [];
  const heldDevices: Creds = [];
  registry.db.transaction(() => {
    for (let i = 0; i < M; i++) rpcDevices.push(registry.addDevice(`ws-${i}`));
    for (let i = 0; i < M; i++) rpcDevices.push(registry.addDevice(`mqtt-${i}`));
    for (let i = 0; i < N; i++) heldDevices.push(registry.addDevice(`held-${i}`));
  })();
  registry.close();

  const port = await freePort();
  const mqttPort = await freePort();
  const backend = child(serveArgs(dir, port, mqttPort));
  await backend.line();

  writeFileSync(join(dir, "rpc.json"), JSON.stringify(rpcDevices));
  const devices = child(["bench/ws.ts", "--role", "devices", `ws://127.0.0.1:${port}${WS_PATH}`, `mqtt://127.0.0.1:${mqttPort}`, join(dir, "rpc.json")]);
  await devices.line();
  const wsIds = rpcDevices.slice(0, M).map((d) => d.id);
  const mqttIds = rpcDevices.slice(M).map((d) => d.id);
  const base = `http://127.0.0.1:${port}`;
  // Every device must be online (status seen) before its calls count.
  for (;;) {
    const list = (await fetch(`${base}/api/v1/devices`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.json())) as {
      id: string;
      online: boolean;
    }[];
    if (list.filter((d) => d.online).length >= 2 * M) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const rest = await restEchoCaller(port, key, CONCURRENCY);
  const restCall = rest.call;
  const drive = (call: typeof restCall, ids: string[]) => driveFor(call, ids, SECONDS, CONCURRENCY);

  await drive(restCall, wsIds); // warm-up, both paths
  await drive(restCall, mqttIds);
  // Alternating rounds, so load from elsewhere on the machine falls on both sides alike.
  const wsRuns: Awaited<ReturnType<typeof drive>>[] = [];
  const mqRuns: Awaited<ReturnType<typeof drive>>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    wsRuns.push(await drive(restCall, wsIds));
    mqRuns.push(await drive(restCall, mqttIds));
  }
  const median = (runs: typeof wsRuns) => [...runs].sort((a, b) => a.rpc_per_s - b.rpc_per_s)[runs.length >> 1];
  const ws = median(wsRuns);
  const mq = median(mqRuns);
  const ratio = +(ws.rpc_per_s / mq.rpc_per_s).toFixed(2);
  console.log(`REST RPC, ${M} module devices per transport, ${CONCURRENCY} in flight, median of ${ROUNDS} alternating ${SECONDS} s runs`);
  console.log(`  to WebSocket devices ${ws.rpc_per_s} RPC/s  p50 ${ws.p50_ms} ms  p99 ${ws.p99_ms} ms  errors ${ws.errors}`);
  console.log(`  to MQTT devices      ${mq.rpc_per_s} RPC/s  p50 ${mq.p50_ms} ms  p99 ${mq.p99_ms} ms  errors ${mq.errors}`);
  console.log(`  WebSocket / MQTT throughput: ${ratio}x`);
  rest.close();
  devices.proc.stdin!.end();

  await new Promise((r) => setTimeout(r, 1000));
  const rssBefore = rssBytes(backend.proc.pid!);
  const t0 = performance.now();
  const { holders, held, failed } = await holdDevices("bench/ws.ts", port, heldDevices, dir);
  const connectS = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  const rssAfter = rssBytes(backend.proc.pid!);
  const online = await fetch(`${base}/metrics`)
    .then((r) => r.text())
    .then((t) => Number(/^outpost_devices_online (\d+)/m.exec(t)?.[1]));
  const bytesPerDevice = Math.round((rssAfter - rssBefore) / held);
  console.log(`WebSocket devices held: ${held} of ${N} (${failed} failed) in ${connectS.toFixed(1)} s; backend reports ${online} online`);
  console.log(`  backend RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB: ${bytesPerDevice} bytes per device`);

  await tearDown(holders, backend);
  rmSync(dir, { recursive: true, force: true });

  console.log(
    JSON.stringify({
      ws_vs_mqtt: ratio,
      ws_rpc_per_s: ws.rpc_per_s,
      ws_p50_ms: ws.p50_ms,
      ws_p99_ms: ws.p99_ms,
      mqtt_rpc_per_s: mq.rpc_per_s,
      mqtt_p50_ms: mq.p50_ms,
      mqtt_p99_ms: mq.p99_ms,
      errors: ws.errors + mq.errors,
      rpc_devices_per_transport: M,
      concurrency: CONCURRENCY,
      ws_devices_held: held,
      ws_devices_tried: N,
      devices_online: online,
      connect_s: +connectS.toFixed(1),
      bytes_per_ws_device: bytesPerDevice,
      scrypt_n: DEVICE_COST.N,
    }),
  );
  process.exit(0);
}

const role = process.argv.indexOf("--role");
if (role < 0) await main();
else if (process.argv[role + 1] === "devices") await devicesRole(process.argv[role + 2], process.argv[role + 3], process.argv[role + 4]);
else await holderRole(Number(process.argv[role + 2]), process.argv[role + 3]);
