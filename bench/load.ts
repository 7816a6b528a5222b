// The load generator the backend benchmarks share: child processes that report by lines, lean keep-alive HTTP/1.1
// connections, a fixed number of calls in flight for a fixed time, and /proc figures of a process.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect as netConnect, type Socket } from "node:net";

const root = new URL("..", import.meta.url).pathname;

export type Creds = { id: string; credential: string }[];

/** `node [nodeArgs] --import tsx args...` in the project root; line() resolves with its next stdout line. */
export function child(args: string[], nodeArgs: string[] = []): { proc: ChildProcess; line: () => Promise<string> } {
  const proc = spawn("node", [...nodeArgs, "--import", "tsx", ...args], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const waiters: ((l: string) => void)[] = [];
  proc.stdout!.on("data", (d) => {
    out += d;
    let i;
    while ((i = out.indexOf("\n")) >= 0 && waiters.length) {
      const l = out.slice(0, i);
      out = out.slice(i + 1);
      waiters.shift()!(l);
    }
  });
  return { proc, line: () => new Promise((r) => waiters.push(r)) };
}

/** The arguments of `outpost serve` on loopback with its data in `dir`, quiet but for warnings. */
export function serveArgs(dir: string, port: number, mqttPort: number, extra: string[] = []): string[] {
  return [
    "bin/outpost.js",
    "serve",
    "--port",
    String(port),
    "--mqtt-port",
    String(mqttPort),
    "--data",
    dir,
    "--host",
    "127.0.0.1",
    "--log-level",
    "warn",
    ...extra,
  ];
}

/** One keep-alive HTTP/1.1 connection; requests queue and are answered in order (Content-Length bodies). */
export async function httpConnection(port: number, open?: () => Socket) {
  const sock = open ? open() : netConnect(port, "127.0.0.1");
  await new Promise((r) => sock.once(open ? "secureConnect" : "connect", r)); // `open`: a TLS socket (bench/tls.ts)
  sock.setNoDelay(true);
  const queue: ((r: { status: number; body: string }) => void)[] = [];
  let buf = Buffer.alloc(0);
  sock.on("data", (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buf.subarray(0, end).toString("latin1");
      const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString("utf8");
      buf = buf.subarray(end + 4 + len);
      queue.shift()!({ status: Number(head.slice(9, 12)), body });
    }
  });
  return {
    request: (raw: string) =>
      new Promise<{ status: number; body: string }>((resolve) => {
        queue.push(resolve);
        sock.write(raw);
      }),
    close: () => sock.destroy(),
  };
}

/** REST echo calls over `count` keep-alive connections (caller w uses connection w % count); a call is right when its id comes back. */
export async function restEchoCaller(port: number, key: string, count: number, open?: () => Socket) {
  const conns = await Promise.all(Array.from({ length: count }, () => httpConnection(port, open)));
  const call = (device: string, seq: number, caller: number) => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: seq, method: "echo", params: [seq, "x"] });
    const head = `POST /api/v1/devices/${device}/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return conns[caller % conns.length].request(head + body).then(({ status, body: text }) => status === 200 && JSON.parse(text).id === seq);
  };
  return { call, close: () => conns.forEach((c) => c.close()) };
}

export interface RunResult {
  rpc_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

/**
 * Keeps `concurrency` calls in flight for `seconds`: caller w calls device ids[w % ids.length], one call at a time
 * (`caller` lets a transport give each caller a connection of its own); call() resolves true on a correct answer.
 */
export async function drive(
  call: (device: string, seq: number, caller: number) => Promise<boolean>,
  ids: string[],
  seconds: number,
  concurrency: number,
): Promise<RunResult> {
  const latencies: number[] = [];
  let errors = 0;
  let seq = 0;
  const deadline = performance.now() + seconds * 1000;
  const caller = async (w: number) => {
    const device = ids[w % ids.length];
    while (performance.now() < deadline) {
      const t = performance.now();
      if (await call(device, seq++, w)) latencies.push(performance.now() - t);
      else errors++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => caller(w)));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => +latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(2);
  return { rpc_per_s: Math.round(latencies.length / elapsed), p50_ms: pct(50), p99_ms: pct(99), errors };
}

/**
 * A holder process: opens one connection per credential in `file`, `width` at a time, and counts those that
 * `open` reports as accepted (`accepted(true)`); then writes `{held, failed}` as a line and keeps the sockets
 * until stdin closes.
 */
export async function holdConnections(file: string, width: number, open: (c: Creds[number], accepted: (ok: boolean) => void) => Socket): Promise<void> {
  const creds: Creds = JSON.parse(readFileSync(file, "utf8"));
  const sockets: Socket[] = [];
  let held = 0;
  let failed = 0;
  const hold = (c: Creds[number]) =>
    new Promise<void>((resolve) => {
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        ok ? held++ : failed++;
        resolve();
      };
      const s = open(c, finish);
      sockets.push(s);
      s.on("error", () => finish(false));
      s.on("close", () => finish(false));
    });
  let next = 0;
  const worker = async () => {
    while (next < creds.length) await hold(creds[next++]);
  };
  await Promise.all(Array.from({ length: width }, worker));
  process.stdout.write(JSON.stringify({ held, failed }) + "\n");
  process.stdin.resume();
  process.stdin.on("end", () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}

/** Ends the holders and stops the backend. */
export async function tearDown(holders: { proc: ChildProcess }[], backend: { proc: ChildProcess }): Promise<void> {
  for (const h of holders) h.proc.stdin!.end();
  backend.proc.kill("SIGTERM");
  await new Promise((r) => backend.proc.once("exit", r));
}

/** The processes whose parent is `pid` (a backend's broker workers). */
export function childPids(pid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return Number(readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1].split(" ")[1]) === pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** Busy CPU seconds of the whole machine so far (all cores; everything but idle and iowait in /proc/stat). */
export function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].split(/ +/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / 100;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Client-side processes that hold device connections, so none needs more than ~10,000 sockets. */
const HOLDERS = 2;

/**
 * Splits `devices` over HOLDERS child processes running `script --role holder <port> <file>`, each
 * printing {"held","failed"} once its share is connected; resolves with the totals and the holders.
 */
export async function holdDevices(script: string, port: number, devices: Creds, dir: string) {
  const per = Math.ceil(devices.length / HOLDERS);
  const holders = Array.from({ length: HOLDERS }, (_, h) => {
    const file = join(dir, `held-${h}.json`);
    writeFileSync(file, JSON.stringify(devices.slice(h * per, (h + 1) * per)));
    return child([script, "--role", "holder", String(port), file]);
  });
  const counts = (await Promise.all(holders.map((h) => h.line()))).map((l) => JSON.parse(l) as { held: number; failed: number });
  return {
    holders,
    held: counts.reduce((a, c) => a + c.held, 0),
    failed: counts.reduce((a, c) => a + c.failed, 0),
  };
}
