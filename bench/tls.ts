// TLS benchmark, in one run against one backend configuration (`outpost serve --tls-cert --tls-key --plaintext
// --http-port`, so HTTPS and HTTP, MQTT over TLS and plaintext MQTT are the same process):
//  1. REST RPC/s over HTTPS against plain HTTP: CONCURRENCY callers, each on a keep-alive connection of its own,
//     one call in flight each, to M plain-JS devices; HTTP and HTTPS alternate ROUNDS times and the round with the
//     median ratio is reported (the machine is shared).
//  2. Devices held: N MQTT device connections (CONNECT with a password, SUBSCRIBE rx, retained status) over TLS
//     and over plaintext, each on a fresh backend, and the backend's resident memory per device for each.
// Run: node --import tsx bench/tls.ts   (env: BENCH_M, BENCH_N, BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY)
// The last line is a JSON object with the figures.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { deviceTopics } from "../host/broker/acl.ts";
import { encode } from "../host/codec/index.ts";
import { Registry } from "../host/registry/registry.ts";
import { startJsDevice } from "../host/rpc/js-device.ts";
import { makeCa, makeServerCert } from "../host/tls/certs.ts";
import { freePort } from "../test/support/mosquitto.ts";
import { child, drive, holdConnections, holdDevices, restEchoCaller, rssBytes, tearDown, type Creds, type RunResult } from "./load.ts";

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const M = Number(process.env.BENCH_M ?? 16);
const N = Number(process.env.BENCH_N ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Holds raw device connections (as bench/backend.ts's holder), over TLS when BENCH_HOLD_CA names the CA. */
function holderRole(port: number, file: string) {
  const caFile = process.env.BENCH_HOLD_CA;
  const ca = caFile ? readFileSync(caFile, "utf8") : undefined;
  return holdConnections(file, 64, (c, accepted) => {
    const t = deviceTopics("devices", c.id);
    const s: Socket = ca ? tlsConnect({ port, host: "127.0.0.1", ca, servername: "localhost" }) : netConnect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    s.on(ca ? "secureConnect" : "connect", () => {
      const v = { protocolVersion: 4 } as const;
      s.write(
        encode({ cmd: "connect", protocolVersion: 4, clientId: c.id, clean: true, keepalive: 0, username: c.id, password: Buffer.from(c.credential) } as never, v),
      );
      s.write(encode({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: t.rx, qos: 0 }] } as never, v));
      s.write(encode({ cmd: "publish", topic: t.status, payload: Buffer.from('{"online":true}'), qos: 0, retain: true } as never, v));
    });
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 9) accepted(buf[0] === 0x20 && buf[3] === 0 && buf[4] === 0x90 && buf[8] !== 0x80); // CONNACK, SUBACK
    });
    return s;
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "outpost-bench-tls-"));
  const registry = new Registry(dir);
  const { key } = registry.createApiKey();
  const rpcDevices: Creds = Array.from({ length: M }, (_, i) => registry.addDevice(`bench-${i}`));
  process.stderr.write(`registering ${N} devices for the holding test...\n`);
  const held: Creds = [];
  registry.db.transaction(() => {
    for (let i = 0; i < N; i++) held.push(registry.addDevice(`held-${i}`));
  })();
  registry.close();
  const ca = await makeCa("bench CA");
  const server = await makeServerCert(ca, ["localhost", "127.0.0.1"]);
  const files = { ca: join(dir, "ca.crt"), cert: join(dir, "server.crt"), key: join(dir, "server.key") };
  writeFileSync(files.ca, ca.cert);
  writeFileSync(files.cert, server.cert);
  writeFileSync(files.key, server.key, { mode: 0o600 });

  const serve = async () => {
    const [port, httpPort, mqttPort, mqttsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const args = ["bin/outpost.js", "serve", "--data", dir, "--host", "127.0.0.1", "--log-level", "warn"];
    args.push("--port", String(port), "--http-port", String(httpPort), "--mqtt-port", String(mqttPort), "--mqtts-port", String(mqttsPort));
    args.push("--tls-cert", files.cert, "--tls-key", files.key, "--plaintext");
    const proc = child(args);
    await proc.line();
    return { ...proc, port, httpPort, mqttPort, mqttsPort };
  };

  // 1. REST RPC/s: HTTPS against HTTP, the same backend, devices and callers.
  const backend = await serve();
  const devices = await Promise.all(rpcDevices.map((d) => startJsDevice(`mqtt://127.0.0.1:${backend.mqttPort}`, d)));
  const ids = rpcDevices.map((d) => d.id);
  const http = await restEchoCaller(backend.httpPort, key, CONCURRENCY);
  const https = await restEchoCaller(backend.port, key, CONCURRENCY, () =>
    tlsConnect({ port: backend.port, host: "127.0.0.1", ca: ca.cert, servername: "localhost" }).setNoDelay(true),
  );
  await drive(http.call, ids, 1, CONCURRENCY); // warm-up
  await drive(https.call, ids, 1, CONCURRENCY);
  const rounds: { http: RunResult; https: RunResult; ratio: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const h = await drive(http.call, ids, SECONDS, CONCURRENCY);
    const s = await drive(https.call, ids, SECONDS, CONCURRENCY);
    rounds.push({ http: h, https: s, ratio: s.rpc_per_s / h.rpc_per_s });
    process.stderr.write(`round ${r + 1}: http ${h.rpc_per_s} rpc/s, https ${s.rpc_per_s} rpc/s\n`);
  }
  rounds.sort((a, b) => a.ratio - b.ratio);
  const median = rounds[Math.floor(rounds.length / 2)];
  http.close();
  https.close();
  await Promise.all(devices.map((d) => d.endAsync(true)));
  await tearDown([], backend);

  // 2. Devices held, plaintext then TLS, each on a fresh backend: resident memory per device.
  const hold = async (tls: boolean) => {
    const b = await serve();
    await new Promise((r) => setTimeout(r, 1000));
    const before = rssBytes(b.proc.pid!);
    if (tls) process.env.BENCH_HOLD_CA = files.ca;
    else delete process.env.BENCH_HOLD_CA;
    const t0 = performance.now();
    const r = await holdDevices("bench/tls.ts", tls ? b.mqttsPort : b.mqttPort, held, dir);
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((res) => setTimeout(res, 1000));
    const after = rssBytes(b.proc.pid!);
    await tearDown(r.holders, b);
    return { held: r.held, failed: r.failed, connect_s: +seconds.toFixed(2), rss_per_device_kib: +((after - before) / Math.max(1, r.held) / 1024).toFixed(1) };
  };
  const plain = await hold(false);
  const secure = await hold(true);
  rmSync(dir, { recursive: true, force: true });

  const figures = {
    rest_http_rpc_per_s: median.http.rpc_per_s,
    rest_https_rpc_per_s: median.https.rpc_per_s,
    https_over_http: +median.ratio.toFixed(3),
    http_p50_ms: median.http.p50_ms,
    https_p50_ms: median.https.p50_ms,
    https_p99_ms: median.https.p99_ms,
    held_devices: N,
    plain_held: plain.held,
    tls_held: secure.held,
    plain_rss_per_device_kib: plain.rss_per_device_kib,
    tls_rss_per_device_kib: secure.rss_per_device_kib,
    tls_over_plain_memory: +(secure.rss_per_device_kib / plain.rss_per_device_kib).toFixed(2),
    plain_connect_s: plain.connect_s,
    tls_connect_s: secure.connect_s,
  };
  console.log(`REST over HTTPS: ${figures.rest_https_rpc_per_s} rpc/s against ${figures.rest_http_rpc_per_s} over HTTP (x${figures.https_over_http})`);
  console.log(
    `${N} devices held: ${figures.tls_rss_per_device_kib} KiB each over TLS against ${figures.plain_rss_per_device_kib} KiB plaintext (x${figures.tls_over_plain_memory})`,
  );
  console.log(JSON.stringify(figures));
}

const role = process.argv.indexOf("--role");
if (role >= 0 && process.argv[role + 1] === "holder") await holderRole(Number(process.argv[role + 2]), process.argv[role + 3]);
else await main();
