// TLS benchmark, in one run:
//  1. REST RPC/s over HTTPS against plain HTTP: two `outpost serve` processes up at once, one with --tls-cert and
//     one without, each with M/2 plain-JS devices; CONCURRENCY callers, each on a keep-alive connection of its own,
//     one call in flight each. HTTP and HTTPS alternate ROUNDS times (which goes first alternates too) and the round
//     with the median ratio is reported (the machine is shared).
//  2. Devices held: N MQTT device connections (CONNECT with a password, then SUBSCRIBE rx and a retained status)
//     over TLS and over plaintext, each on a fresh backend, and the backend's resident memory per device for each.
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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** Holds raw device connections (as bench/backend.ts's holder), over TLS when BENCH_HOLD_CA names the CA. */
function holderRole(port: number, file: string) {
  const caFile = process.env.BENCH_HOLD_CA;
  const ca = caFile ? readFileSync(caFile, "utf8") : undefined;
  return holdConnections(file, 64, (c, accepted) => {
    const t = deviceTopics("devices", c.id);
    const s: Socket = ca ? tlsConnect({ port, host: "127.0.0.1", ca, servername: "localhost" }) : netConnect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const v = { protocolVersion: 4 } as const;
    s.on(ca ? "secureConnect" : "connect", () => {
      s.write(
        encode(
          { cmd: "connect", protocolVersion: 4, clientId: c.id, clean: true, keepalive: 0, username: c.id, password: Buffer.from(c.credential) } as never,
          v,
        ),
      );
    });
    // SUBSCRIBE after the CONNACK, as a device does: over TLS, aedes reads a pipelined SUBSCRIBE before the login
    // completes and refuses it (notes: a refusal, so safe, but not what a device would see).
    let subscribed = false;
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!subscribed && buf.length >= 4) {
        subscribed = true;
        if (buf[0] !== 0x20 || buf[3] !== 0) return accepted(false);
        s.write(encode({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: t.rx, qos: 0 }] } as never, v));
        s.write(encode({ cmd: "publish", topic: t.status, payload: Buffer.from('{"online":true}'), qos: 0, retain: true } as never, v));
      }
      if (buf.length >= 9) accepted(buf[4] === 0x90 && buf[8] !== 0x80); // CONNACK, then SUBACK
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

  /** `outpost serve` on the bench's data directory: TLS (with plaintext MQTT too, for its devices) or plaintext. */
  const serve = async (tls: boolean) => {
    const [port, mqttPort, mqttsPort] = [await freePort(), await freePort(), await freePort()];
    const args = ["bin/outpost.js", "serve", "--data", dir, "--host", "127.0.0.1", "--log-level", "warn"];
    args.push("--port", String(port), "--mqtt-port", String(mqttPort));
    if (tls) args.push("--mqtts-port", String(mqttsPort), "--tls-cert", files.cert, "--tls-key", files.key, "--plaintext");
    const proc = child(args);
    await proc.line();
    return { ...proc, port, mqttPort, mqttsPort };
  };

  // 1. REST RPC/s: a backend serving HTTPS against one serving HTTP, both up at once, each with half of the devices
  //    (over plaintext MQTT in both, so only the REST side differs), called the same way.
  const plainBackend = await serve(false);
  const tlsBackend = await serve(true);
  const half = Math.ceil(M / 2);
  const devices = await Promise.all(rpcDevices.map((d, i) => startJsDevice(`mqtt://127.0.0.1:${(i < half ? plainBackend : tlsBackend).mqttPort}`, d)));
  const plainIds = rpcDevices.slice(0, half).map((d) => d.id);
  const tlsIds = rpcDevices.slice(half).map((d) => d.id);
  const httpCaller = await restEchoCaller(plainBackend.port, key, CONCURRENCY);
  const httpsCaller = await restEchoCaller(tlsBackend.port, key, CONCURRENCY, () =>
    tlsConnect({ port: tlsBackend.port, host: "127.0.0.1", ca: ca.cert, servername: "localhost" }).setNoDelay(true),
  );
  const http = { ...httpCaller, call: (_d: string, seq: number, caller: number) => httpCaller.call(plainIds[caller % plainIds.length], seq, caller) };
  const https = { ...httpsCaller, call: (_d: string, seq: number, caller: number) => httpsCaller.call(tlsIds[caller % tlsIds.length], seq, caller) };
  const ids = plainIds;
  await drive(http.call, ids, 1, CONCURRENCY); // warm-up
  await drive(https.call, ids, 1, CONCURRENCY);
  const rounds: { http: RunResult; https: RunResult; ratio: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Which goes first alternates, so neither always runs on a machine the other has just warmed or loaded.
    const first = r % 2 === 0 ? http : https;
    const a = await drive(first.call, ids, SECONDS, CONCURRENCY);
    const b = await drive((first === http ? https : http).call, ids, SECONDS, CONCURRENCY);
    const [h, s] = first === http ? [a, b] : [b, a];
    rounds.push({ http: h, https: s, ratio: s.rpc_per_s / h.rpc_per_s });
    process.stderr.write(`round ${r + 1}: http ${h.rpc_per_s} rpc/s (${h.errors} errors), https ${s.rpc_per_s} rpc/s (${s.errors} errors)\n`);
  }
  rounds.sort((a, b) => a.ratio - b.ratio);
  const median = rounds[Math.floor(rounds.length / 2)];
  http.close();
  https.close();
  await Promise.all(devices.map((d) => d.endAsync(true)));
  await tearDown([], plainBackend);
  await tearDown([], tlsBackend);

  // 2. Devices held, plaintext then TLS, each on a fresh backend: resident memory per device.
  const hold = async (tls: boolean) => {
    const b = await serve(tls);
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
