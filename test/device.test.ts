// The device application end to end over a real mosquitto: requests published with
// mosquitto_pub on <prefix>/<id>/rx, answers read with mosquitto_sub on tx (or the
// MQTT 5 Response Topic), the retained status, the will when the device process dies.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Device } from "../host/device.ts";
import { defaultEngine } from "../host/engine.ts";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const bin = fileURLToPath(new URL("../bin/outpost.js", import.meta.url));
const children = new Set<ChildProcess>();

/** mosquitto_sub printing one line per message; `ready` resolves once it is subscribed. */
function subscribe(broker: Mosquitto, topics: string[], opts: { v5?: boolean; format?: string } = {}) {
  // A retained marker on a topic of its own shows the subscription is in place.
  const marker = `test/ready/${Math.random().toString(36).slice(2)}`;
  const args = ["-p", String(broker.port), "-F", opts.format ?? "%t %p", "-t", marker, ...topics.flatMap((t) => ["-t", t])];
  if (opts.v5) args.push("-V", "5");
  const proc = spawn("mosquitto_sub", args, { stdio: ["ignore", "pipe", "inherit"] });
  children.add(proc);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let markerSeen!: () => void;
  const ready = new Promise<void>((r) => (markerSeen = r));
  let buf = "";
  proc.stdout!.on("data", (d: Buffer) => {
    buf += d.toString("utf8");
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith(`${marker} `)) markerSeen();
      else lines.push(line);
      for (const w of waiters.splice(0)) w();
    }
  });
  const next = async (n: number): Promise<string[]> => {
    while (lines.length < n) await new Promise<void>((r) => waiters.push(r));
    return lines.splice(0, n);
  };
  void pub(broker, marker, "ready", ["-r"]);
  return { ready, next, stop: () => (proc.kill(), children.delete(proc)) };
}

function pub(broker: Mosquitto, topic: string, message: string, extra: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("mosquitto_pub", ["-p", String(broker.port), "-t", topic, "-m", message, "-q", "1", ...extra], { stdio: "inherit" });
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${code}`))));
  });
}

/** Runs `outpost device run` as its own process; resolves once it serves. */
async function runCli(broker: Mosquitto, id: string): Promise<{ proc: ChildProcess; exited: Promise<number | null>; log: () => string }> {
  const proc = spawn(process.execPath, [bin, "device", "run", "--id", id, "--url", broker.url], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  let out = "";
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => (children.delete(proc), r(code))));
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes('"msg":"serving JSON-RPC"')) resolve();
    });
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    proc.on("exit", (code) => reject(new Error(`device exited ${code}: ${out}`)));
  });
  return { proc, exited, log: () => out };
}

describe("device over mosquitto", () => {
  let broker: Mosquitto;
  const devices: Device[] = [];
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    for (const d of devices) await d.close();
    for (const c of children) c.kill("SIGKILL");
    await broker?.stop();
  });

  const start = async (id: string, opts: Parameters<Device["connect"]>[1] = {}, methods = {}) => {
    const d = new Device({ id, methods, board: "test" });
    devices.push(d);
    await d.connect(broker.url, opts);
    return d;
  };

  it("answers a request from mosquitto_pub on tx, read by mosquitto_sub", async () => {
    await start("alpha");
    const sub = subscribe(broker, ["devices/alpha/tx"]);
    await sub.ready;
    await pub(broker, "devices/alpha/rx", '{"jsonrpc":"2.0","id":7,"method":"echo","params":[1,"x"]}');
    expect(await sub.next(1)).toEqual(['devices/alpha/tx {"jsonrpc":"2.0","result":[1,"x"],"id":7}']);
    sub.stop();
  });

  it("sends nothing for a notification, and answers batches and errors", async () => {
    await start("beta", {}, { later: async (p: number[]) => (await new Promise((r) => setTimeout(r, 5)), p[0] * 2) });
    const sub = subscribe(broker, ["devices/beta/tx"]);
    await sub.ready;
    await pub(broker, "devices/beta/rx", '{"jsonrpc":"2.0","method":"echo","params":[0]}');
    await pub(broker, "devices/beta/rx", '[{"jsonrpc":"2.0","id":1,"method":"later","params":[21]},{"jsonrpc":"2.0","id":2,"method":"nope"}]');
    await pub(broker, "devices/beta/rx", "{oops");
    // The batch waits on an async method, so the parse error may overtake it.
    expect((await sub.next(2)).sort()).toEqual([
      'devices/beta/tx [{"jsonrpc":"2.0","result":42,"id":1},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2}]',
      'devices/beta/tx {"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}',
    ]);
    sub.stop();
  });

  it("MQTT 5: answers on the Response Topic with the Correlation Data, and keeps the JSON-RPC id", async () => {
    await start("gamma", { protocolVersion: 5, prefix: "fleet/eu" });
    const sub = subscribe(broker, ["replies/gamma/42"], { v5: true, format: "%t %D %p" });
    await sub.ready;
    await pub(broker, "fleet/eu/gamma/rx", '{"jsonrpc":"2.0","id":"r1","method":"echo","params":{"a":1}}', [
      "-V",
      "5",
      "-D",
      "publish",
      "response-topic",
      "replies/gamma/42",
      "-D",
      "publish",
      "correlation-data",
      "corr-0001",
    ]);
    expect(await sub.next(1)).toEqual(['replies/gamma/42 corr-0001 {"jsonrpc":"2.0","result":{"a":1},"id":"r1"}']);
    sub.stop();
  });

  it("MQTT 5 without a Response Topic answers on tx", async () => {
    await start("delta", { protocolVersion: 5 });
    const sub = subscribe(broker, ["devices/delta/tx"], { v5: true });
    await sub.ready;
    await pub(broker, "devices/delta/rx", '{"jsonrpc":"2.0","id":1,"method":"echo"}', ["-V", "5"]);
    expect(await sub.next(1)).toEqual(['devices/delta/tx {"jsonrpc":"2.0","result":null,"id":1}']);
    sub.stop();
  });

  it("publishes a retained online status, and sys.info as telemetry", async () => {
    await start("epsilon", { telemetryMs: 20 });
    const status = subscribe(broker, ["devices/epsilon/status"]);
    await status.ready;
    expect(await status.next(1)).toEqual(['devices/epsilon/status {"online":true,"version":"0.1.0"}']);
    status.stop();
    const tele = subscribe(broker, ["devices/epsilon/telemetry"]);
    await tele.ready;
    const [line] = await tele.next(1);
    const info = JSON.parse(line.slice("devices/epsilon/telemetry ".length));
    expect(info).toMatchObject({ version: "0.1.0", engine: defaultEngine(), board: "test" });
    tele.stop();
  });

  it("answers 'Request too large' for a payload over the request limit, with its id", async () => {
    const d = new Device({ id: "zeta", limits: { requestMax: 64 } });
    devices.push(d);
    await d.connect(broker.url);
    const sub = subscribe(broker, ["devices/zeta/tx"]);
    await sub.ready;
    await pub(broker, "devices/zeta/rx", `{"jsonrpc":"2.0","id":1,"method":"echo","params":["${"x".repeat(100)}"]}`);
    expect(await sub.next(1)).toEqual([
      'devices/zeta/tx {"jsonrpc":"2.0","error":{"code":-32000,"message":"Request too large","data":{"limit":"bytes","max":64}},"id":1}',
    ]);
    sub.stop();
  });

  it("skips a QoS 1 request over the packet limit, answers it 'Request too large' with its id, logs it, and stays connected", async () => {
    const logs: string[] = [];
    const d = new Device({ id: "theta", limits: { requestMax: 64 }, log: (_level, text) => logs.push(text) }); // packet limit 64 + 1024
    devices.push(d);
    await d.connect(broker.url);
    let closes = 0;
    d.mqtt!.on("close", () => closes++);
    const sub = subscribe(broker, ["devices/theta/tx"]);
    await sub.ready;
    await pub(broker, "devices/theta/rx", `{"jsonrpc":"2.0","id":"big-1","method":"echo","params":["${"x".repeat(5000)}"]}`);
    expect(await sub.next(1)).toEqual([
      'devices/theta/tx {"jsonrpc":"2.0","error":{"code":-32000,"message":"Request too large","data":{"limit":"packet","max":1088}},"id":"big-1"}',
    ]);
    expect(logs.some((l) => /^skipped a 50\d\d-byte message on devices\/theta\/rx: over the 1088-byte packet limit/.test(l))).toBe(true);
    // Acknowledged (mosquitto would redeliver an unacknowledged QoS 1 message) and still connected: the next request is answered.
    await pub(broker, "devices/theta/rx", '{"jsonrpc":"2.0","id":2,"method":"echo","params":[2]}');
    expect(await sub.next(1)).toEqual(['devices/theta/tx {"jsonrpc":"2.0","result":[2],"id":2}']);
    expect(closes).toBe(0);
    sub.stop();
  });

  it("MQTT 5: a reply over the broker's maximum packet size is answered with a short error naming it, and logged", async () => {
    const small = await startMosquitto(["max_packet_size 1000"]);
    const logs: string[] = [];
    const d = new Device({ id: "iota", methods: { big: () => "x".repeat(3000) }, log: (_level, text) => logs.push(text) });
    try {
      await d.connect(small.url, { protocolVersion: 5 });
      const sub = subscribe(small, ["devices/iota/tx"], { v5: true });
      await sub.ready;
      await pub(small, "devices/iota/rx", '{"jsonrpc":"2.0","id":31,"method":"big"}', ["-V", "5"]);
      expect(await sub.next(1)).toEqual([
        'devices/iota/tx {"jsonrpc":"2.0","error":{"code":-32001,"message":"Response too large","data":{"limit":"packet","max":1000}},"id":31}',
      ]);
      expect(logs).toContain("reply over packet limit 1000");
      sub.stop();
    } finally {
      await d.close();
      await small.stop();
    }
  });

  it("names a refused login in its log and does not hammer the broker", async () => {
    const dir = mkdtempSync(join(tmpdir(), "outpost-passwd-"));
    const passwords = join(dir, "passwd");
    writeFileSync(passwords, "");
    execFileSync("mosquitto_passwd", ["-b", passwords, "kappa", "s3cret"]);
    const auth = await startMosquitto([`password_file ${passwords}`]);
    const logs: Array<[number, string]> = [];
    const d = new Device({ id: "kappa", log: (level, text) => logs.push([level, text]) });
    try {
      void d.connect(auth.url, { password: "wrong", reconnect: { minMs: 10, maxMs: 60_000 }, seed: 12345 });
      while (!logs.length) await new Promise((r) => setTimeout(r, 20));
      expect(logs[0][0]).toBe(3);
      expect(logs[0][1]).toMatch(
        /^login refused: (not authorised \(NotAuthorized, reason code 5\)|bad credentials \(BadCredentials, reason code 4\)); retrying after the longest backoff$/,
      );
      // Straight to the longest backoff: with a 10 ms minimum it would otherwise retry several times in 300 ms.
      await new Promise((r) => setTimeout(r, 300));
      expect(logs.length).toBeLessThanOrEqual(2);
    } finally {
      await d.close();
      await auth.stop();
    }
  });

  it("close() publishes the offline status before disconnecting", async () => {
    const d = await start("eta");
    await d.close();
    const status = subscribe(broker, ["devices/eta/status"]);
    await status.ready;
    expect(await status.next(1)).toEqual(['devices/eta/status {"online":false}']);
    status.stop();
  });

  it("the CLI device answers, and its will marks it offline when the process is killed", async () => {
    const cli = await runCli(broker, "cli-kill");
    const status = subscribe(broker, ["devices/cli-kill/status"]);
    await status.ready;
    expect(await status.next(1)).toEqual(['devices/cli-kill/status {"online":true,"version":"0.1.0"}']);
    const tx = subscribe(broker, ["devices/cli-kill/tx"]);
    await tx.ready;
    await pub(broker, "devices/cli-kill/rx", '{"jsonrpc":"2.0","id":1,"method":"rpc.list"}');
    const [answer] = await tx.next(1);
    expect(JSON.parse(answer.slice("devices/cli-kill/tx ".length)).result.map((m: { name: string }) => m.name)).toEqual([
      "echo",
      "rpc.list",
      "sys.info",
      "config.get",
      "config.set",
    ]);
    tx.stop();
    cli.proc.kill("SIGKILL");
    expect(await status.next(1)).toEqual(['devices/cli-kill/status {"online":false}']); // the broker sent the will
    status.stop();
  });

  it("the CLI device stops cleanly on SIGTERM and SIGINT", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const id = `cli-${signal.toLowerCase()}`;
      const cli = await runCli(broker, id);
      const status = subscribe(broker, [`devices/${id}/status`]);
      await status.ready;
      expect(await status.next(1)).toEqual([`devices/${id}/status {"online":true,"version":"0.1.0"}`]);
      cli.proc.kill(signal);
      expect(await cli.exited).toBe(0);
      expect(await status.next(1)).toEqual([`devices/${id}/status {"online":false}`]);
      expect(cli.log()).toContain('"msg":"disconnected"');
      status.stop();
    }
  });
});
