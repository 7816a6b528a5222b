// Backend benchmark. In one run, through the embedded broker of a backend in its own process:
//  1. REST RPC (HTTP -> backend -> aedes -> device -> back) against raw MQTT request/response (mqtt.js publishing
//     to rx and waiting on tx) to the same M devices: throughput and p50/p99 latency, and the ratios. The same
//     callers in both: CONCURRENCY of them, caller w bound to device w % M, one call in flight each, each on a
//     keep-alive HTTP connection of its own, and in raw MQTT on an mqtt.js connection of its own subscribed to its
//     device's tx. A second raw figure puts every caller on ONE mqtt.js connection (devices/+/tx), which batches
//     64 requests per socket write; HTTP/1.1 cannot share a connection that way, so that ratio compares
//     transports more than the backend. A raw client is subscribed only during its own runs, so no run pays for
//     deliveries to another run's idle subscribers.
//  2. Devices held: N MQTT device connections (CONNECT with credentials, SUBSCRIBE rx, retained status) and the
//     backend's resident memory per device. A process may hold at most 20,000 open files here (`ulimit -Hn`; one
//     per connection), so this runs on a second backend whose embedded broker spreads its connections over
//     HOLD_WORKERS processes (`outpost serve --mqtt-workers`); its memory is the sum over those processes.
// Run: node --import tsx bench/backend.ts
//   env: BENCH_M, BENCH_N, BENCH_HOLD_WORKERS, BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY; BENCH_HTTP_CONNECTIONS (default: one
//   per request in flight; fewer means HTTP/1.1 pipelining); BENCH_BACKEND_NODE_ARGS (e.g. "--cpu-prof").
// The last line is a JSON object with the figures.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as netConnect } from "node:net";
import mqtt from "mqtt";
import { Registry, BACKEND_USERNAME } from "../host/registry/registry.ts";
import { DEVICE_COST } from "../host/registry/secrets.ts";
import { deviceTopics } from "../host/broker/acl.ts";
import { startJsDevice } from "../host/rpc/js-device.ts";
import { encode } from "../host/codec/index.ts";
import { freePort } from "../test/support/mosquitto.ts";
import {
  child,
  childPids,
  holdDevices,
  cpuSeconds,
  machineBusySeconds,
  drive as driveFor,
  holdConnections,
  restEchoCaller,
  rssBytes,
  serveArgs,
  tearDown,
  type Creds,
  type RunResult,
} from "./load.ts";

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/** One device per caller by default, so a raw caller's tx subscription carries only its own answers. */
const M = Number(process.env.BENCH_M ?? CONCURRENCY);
const N = Number(process.env.BENCH_N ?? 20_000);
const HOLD_WORKERS = Number(process.env.BENCH_HOLD_WORKERS ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
/** REST and raw alternate this many times; the round with the median ratio is reported (the machine is shared). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const HTTP_CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? CONCURRENCY);

type Call = (device: string, seq: number, caller: number) => Promise<boolean>;
const drive = (call: Call, ids: string[]): Promise<RunResult> => driveFor(call, ids, SECONDS, CONCURRENCY);

// ---- child roles ----------------------------------------------------------------------------------------

/** Runs the throughput devices (plain-JS peers over mqtt.js) until stdin closes. */
async function devicesRole(url: string, file: string) {
  const creds: Creds = JSON.parse(readFileSync(file, "utf8"));
  const clients = await Promise.all(creds.map((c) => startJsDevice(url, { ...c })));
  process.stdout.write("ready\n");
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    process.exit(0);
  });
}

/** Holds raw device connections: CONNECT, SUBSCRIBE rx, retained status; counts those that got both acks. */
function holderRole(port: number, file: string) {
  return holdConnections(file, 256, (c, accepted) => {
    const t = deviceTopics("devices", c.id);
    const s = netConnect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    s.on("connect", () => {
      s.write(
        encode(
          { cmd: "connect", protocolVersion: 4, clientId: c.id, clean: true, keepalive: 0, username: c.id, password: Buffer.from(c.credential) } as never,
          { protocolVersion: 4 },
        ),
      );
      s.write(encode({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: t.rx, qos: 0 }] } as never, { protocolVersion: 4 }));
      s.write(encode({ cmd: "publish", topic: t.status, payload: Buffer.from('{"online":true}'), qos: 0, retain: true } as never, { protocolVersion: 4 }));
    });
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      // CONNACK 20 02 00 00, then SUBACK 90 03 00 01 <granted>
      if (buf.length >= 9) accepted(buf[0] === 0x20 && buf[3] === 0 && buf[4] === 0x90 && buf[8] !== 0x80);
    });
    return s;
  });
}

// ---- main ---------------------------------------------------------------------------------------------------

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "outpost-bench-"));
  const registry = new Registry(dir);
  const { key } = registry.createApiKey();
  const rpcDevices: Creds = Array.from({ length: M }, (_, i) => registry.addDevice(`bench-${i}`));
  process.stderr.write(`registering ${N} devices for the holding test...\n`);
  const heldDevices: Creds = [];
  registry.db.transaction(() => {
    for (let i = 0; i < N; i++) heldDevices.push(registry.addDevice(`held-${i}`));
  })();
  const backendPassword = registry.backendPassword();
  registry.close();

  const serve = async (...extra: string[]) => {
    const port = await freePort();
    const mqttPort = await freePort();
    const args = serveArgs(dir, port, mqttPort, extra);
    const proc = child(args, (process.env.BENCH_BACKEND_NODE_ARGS ?? "").split(" ").filter(Boolean));
    await proc.line();
    return { ...proc, port, mqttPort };
  };
  const backend = await serve();
  const { port, mqttPort } = backend;
  const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;

  writeFileSync(join(dir, "rpc.json"), JSON.stringify(rpcDevices));
  const devices = child(["bench/backend.ts", "--role", "devices", mqttUrl, join(dir, "rpc.json")]);
  await devices.line();
  const ids = rpcDevices.map((d) => d.id);

  // REST: keep-alive HTTP/1.1 connections, one request in flight on each (a lean client, so the load generator
  // is not what is measured).
  const restClient = await restEchoCaller(port, key, HTTP_CONNECTIONS);
  const restT = { start: async () => {}, stop: async () => {}, call: restClient.call };

  // Raw MQTT: the same request on rx, the answer awaited on tx, through the same broker.
  let rawSeq = 1; // numbers, apart from the backend's own ids (strings)
  const rawClient = async (name: string, filter: string) => {
    const client = await mqtt.connectAsync(mqttUrl, { username: BACKEND_USERNAME, password: backendPassword, clientId: name, protocolVersion: 4 });
    const waiting = new Map<number, (ok: boolean) => void>();
    client.on("message", (_t, payload) => {
      const msg = JSON.parse(payload.toString());
      const w = waiting.get(msg.id);
      if (w) {
        waiting.delete(msg.id);
        w(Array.isArray(msg.result));
      }
    });
    const call = (device: string) =>
      new Promise<boolean>((resolve) => {
        const id = rawSeq++;
        waiting.set(id, resolve);
        client.publish(deviceTopics("devices", device).rx, JSON.stringify({ jsonrpc: "2.0", id, method: "echo", params: [id, "x"] }));
      });
    // Subscribed only while its own runs last: an idle subscriber on tx would cost every other run a delivery.
    return { client, call, listen: () => client.subscribeAsync(filter), stop: () => client.unsubscribeAsync(filter) };
  };
  type Raw = Awaited<ReturnType<typeof rawClient>>;
  const listening = (clients: Raw[], call: Call) => ({
    start: async () => void (await Promise.all(clients.map((c) => c.listen()))),
    stop: async () => void (await Promise.all(clients.map((c) => c.stop()))),
    call,
  });
  // A connection per caller, on its own device's tx.
  const perCaller = await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => rawClient(`bench-raw-${w}`, deviceTopics("devices", ids[w % M]).tx)));
  const rawT = listening(perCaller, (device, _seq, caller) => perCaller[caller].call(device));
  // Every caller on one connection.
  const shared = await rawClient("bench-raw-shared", "devices/+/tx");
  const sharedT = listening([shared], (device) => shared.call(device));
  type Transport = typeof restT;
  const run = async <T>(t: Transport, what: (call: Call) => Promise<T>): Promise<T> => {
    await t.start();
    try {
      return await what(t.call);
    } finally {
      await t.stop();
    }
  };

  for (const t of [restT, rawT, sharedT]) await run(t, (call) => drive(call, ids)); // warm-up, every path
  const bpid = backend.proc.pid!;
  const dpid = devices.proc.pid!;
  const selfCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  /** CPU seconds of backend, devices and this load generator during one run, and the machine's busy share. */
  const measure = (t: Transport) =>
    run(t, async (call) => {
      const c0 = [cpuSeconds(bpid), cpuSeconds(dpid), selfCpu()];
      const m0 = machineBusySeconds();
      const t0 = performance.now();
      const result = await drive(call, ids);
      const busy = (machineBusySeconds() - m0) / ((performance.now() - t0) / 1000);
      const c1 = [cpuSeconds(bpid), cpuSeconds(dpid), selfCpu()];
      return { run: result, cpu: c1.map((c, i) => c - c0[i]), busy };
    });
  console.log(
    `RPC, ${M} devices, ${CONCURRENCY} callers with one call in flight each (REST over ${HTTP_CONNECTIONS} keep-alive connections), ` +
      `${ROUNDS} rounds of ${SECONDS} s each: REST, raw MQTT with a connection per caller, raw MQTT on one shared connection`,
  );
  type Measured = Awaited<ReturnType<typeof measure>>;
  const rounds: { restM: Measured; rawM: Measured; sharedM: Measured; ratio: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const restM = await measure(restT);
    const rawM = await measure(rawT);
    const sharedM = await measure(sharedT);
    const ratio = restM.run.rpc_per_s / rawM.run.rpc_per_s;
    rounds.push({ restM, rawM, sharedM, ratio });
    console.log(
      `  round ${r + 1}: REST ${restM.run.rpc_per_s} RPC/s, raw ${rawM.run.rpc_per_s} (ratio ${ratio.toFixed(2)}), ` +
        `raw on one connection ${sharedM.run.rpc_per_s} (ratio ${(restM.run.rpc_per_s / sharedM.run.rpc_per_s).toFixed(2)})`,
    );
  }
  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
  const { restM, rawM, sharedM } = median;
  const rest = restM.run;
  const rawRun = rawM.run;
  const sharedRun = sharedM.run;
  const ratio = +median.ratio.toFixed(2);
  const sharedRatio = +(rest.rpc_per_s / sharedRun.rpc_per_s).toFixed(2);
  const usPer = (m: Measured) => Math.round((m.cpu[0] / (m.run.rpc_per_s * SECONDS)) * 1e6);
  const pct = (c: number) => `${((c / SECONDS) * 100).toFixed(0)}%`;
  const line = (name: string, m: Measured) =>
    console.log(
      `  ${name.padEnd(22)} ${String(m.run.rpc_per_s).padStart(6)} RPC/s  p50 ${m.run.p50_ms} ms  p99 ${m.run.p99_ms} ms  errors ${m.run.errors}; ` +
        `backend ${usPer(m)} us per RPC; backend / devices / load generator ${m.cpu.map(pct).join(" / ")}; machine ${(m.busy * 100).toFixed(0)}% of 200%`,
    );
  console.log(`The median round (by REST / raw):`);
  line("REST", restM);
  line("raw MQTT", rawM);
  line("raw MQTT, one conn.", sharedM);
  console.log(`  REST / raw MQTT throughput: ${ratio}x (against one shared MQTT connection: ${sharedRatio}x)`);
  await Promise.all([...perCaller, shared].map((r) => r.client.endAsync()));
  restClient.close();
  devices.proc.stdin!.end();

  // Devices held, by a backend whose broker has HOLD_WORKERS processes.
  await tearDown([], backend);
  const holding = await serve("--mqtt-workers", String(HOLD_WORKERS));
  await new Promise((r) => setTimeout(r, 1000));
  const pids = [holding.proc.pid!, ...childPids(holding.proc.pid!)];
  const rssBefore = pids.map(rssBytes);
  const t0 = performance.now();
  const { holders, held, failed } = await holdDevices("bench/backend.ts", holding.mqttPort, heldDevices, dir);
  const connectS = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  const rssAfter = pids.map(rssBytes);
  const online = await fetch(`http://127.0.0.1:${holding.port}/metrics`)
    .then((r) => r.text())
    .then((t) => Number(/^outpost_devices_online (\d+)/m.exec(t)?.[1]));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const bytesPerDevice = Math.round((sum(rssAfter) - sum(rssBefore)) / held);
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  console.log(`Devices held: ${held} of ${N} (${failed} failed) in ${connectS.toFixed(1)} s; backend reports ${online} online`);
  console.log(
    `  backend RSS over ${pids.length} processes (HTTP + ${HOLD_WORKERS} broker workers) ${mib(sum(rssBefore))} MiB -> ${mib(sum(rssAfter))} MiB: ` +
      `${bytesPerDevice} bytes per device (${pids.map((_, i) => `${mib(rssBefore[i])} -> ${mib(rssAfter[i])}`).join(", ")})`,
  );
  await tearDown(holders, holding);
  rmSync(dir, { recursive: true, force: true });

  console.log(
    JSON.stringify({
      rest_vs_raw: ratio,
      rpc_per_s: rest.rpc_per_s,
      p50_ms: rest.p50_ms,
      p99_ms: rest.p99_ms,
      raw_rpc_per_s: rawRun.rpc_per_s,
      raw_p50_ms: rawRun.p50_ms,
      raw_p99_ms: rawRun.p99_ms,
      rest_vs_raw_one_connection: sharedRatio,
      raw_one_connection_rpc_per_s: sharedRun.rpc_per_s,
      backend_cpu_us_per_rest_rpc: usPer(restM),
      backend_cpu_us_per_raw_rpc: usPer(rawM),
      machine_busy_pct_rest: Math.round(restM.busy * 100),
      machine_busy_pct_raw: Math.round(rawM.busy * 100),
      rpc_devices: M,
      concurrency: CONCURRENCY,
      http_connections: HTTP_CONNECTIONS,
      rounds: ROUNDS,
      devices_held: held,
      devices_tried: N,
      devices_online: online,
      connect_s: +connectS.toFixed(1),
      bytes_per_device: bytesPerDevice,
      hold_processes: pids.length,
      device_scrypt_n: DEVICE_COST.N,
    }),
  );
  process.exit(0);
}

const role = process.argv.indexOf("--role");
if (role < 0) await main();
else if (process.argv[role + 1] === "devices") await devicesRole(process.argv[role + 2], process.argv[role + 3]);
else await holderRole(Number(process.argv[role + 2]), process.argv[role + 3]);
