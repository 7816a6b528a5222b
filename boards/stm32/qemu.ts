// Boots STM32 firmware in QEMU's netduinoplus2 (STM32F405) for tests and benchmarks,
// and talks JSON-RPC to it through a broker.
// USART1, the broker pipe, becomes a TCP client of 127.0.0.1:<linkPort> that
// redials every second; USART2, the debug channel, arrives on stdout as lines.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";

export const boardDir = fileURLToPath(new URL(".", import.meta.url));
export const firmwareElf = `${boardDir}build/firmware.elf`;

/** The firmware's engines (boards/common/board.mk ENGINE=): wasm3 runs the module's bytes, aot has it compiled in. */
export const FIRMWARE_ENGINES = ["wasm3", "aot"] as const;
export type FirmwareEngine = (typeof FIRMWARE_ENGINES)[number];
/** Where `make ENGINE=<engine>` puts the firmware. */
export const firmwareFor = (engine: FirmwareEngine, module: FirmwareModule = "full"): string =>
  `${boardDir}build${module === "full" ? "" : `/${module}`}${engine === "aot" ? "/aot" : ""}/firmware.elf`;
/** The module builds a firmware can carry (`make MODULE=`): build/device.wasm, or the lean build/device-mqtt311.wasm. */
export const FIRMWARE_MODULES = ["full", "mqtt311"] as const;
export type FirmwareModule = (typeof FIRMWARE_MODULES)[number];
export const echoElf = `${boardDir}build/echo.elf`;

/**
 * Runs `make -C boards/stm32 <target>` and returns its output (sizes included). Test files run in
 * parallel, so builds take turns on a lock instead of writing the same objects at once.
 */
export function buildFirmware(target: "all" | "echo" = "all", variables: Record<string, string> = {}): string {
  mkdirSync(`${boardDir}build`, { recursive: true });
  const assignments = Object.entries(variables).map(([name, value]) => `${name}=${value}`);
  return execFileSync("flock", [`${boardDir}build/.make.lock`, "make", "-s", "-C", boardDir, target, ...assignments], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export class QemuFailure extends Error {
  override name = "QemuFailure";
}

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface QemuBoard {
  proc: ChildProcess;
  /** Every debug-channel line so far. */
  lines: string[];
  /** Resolves with the first debug line (past or future) that matches. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<QemuExit>;
  /** Ends QEMU (SIGTERM, then SIGKILL) and waits for it. Safe to call twice. */
  stop(): Promise<QemuExit>;
}

export interface BootOptions {
  elf: string;
  /** Where USART1 connects as a TCP client; without it USART1 goes nowhere. */
  linkPort?: number;
  /** The firmware's command line (semihosting), e.g. "--id dev1" or "--call {...}". */
  append?: string;
  /** QEMU -icount shift: time follows the instruction count (2^shift ns each). */
  icountShift?: number;
  /** Hard upper bound on the run (default 120 s); QEMU is killed after it. */
  maxLifetimeMs?: number;
}

/**
 * Dispatches one JSON-RPC request (or batch) inside the firmware (--call) and returns the response text.
 * A string is sent as it is (so it can be malformed); anything else as its JSON.
 */
export async function callFirmware(request: unknown, elf = firmwareElf): Promise<{ response: string; lines: string[] }> {
  const text = typeof request === "string" ? request : JSON.stringify(request);
  const board = bootFirmware({ elf, append: `--call ${text}`, maxLifetimeMs: 30_000 });
  try {
    const [, response] = (await board.waitForLine(/^response (.*)$/)) as unknown as [string, string];
    const exit = await board.exited;
    if (exit.code !== 0) throw new QemuFailure(`firmware exited with ${exit.code}:\n${board.lines.join("\n")}`);
    return { response, lines: board.lines };
  } finally {
    await board.stop();
  }
}

export function bootFirmware(opts: BootOptions): QemuBoard {
  const args = [
    "-M",
    "netduinoplus2",
    "-display",
    "none",
    "-monitor",
    "none",
    "-semihosting-config",
    "enable=on,target=native",
    ...(opts.linkPort === undefined
      ? ["-serial", "null"]
      : ["-chardev", `socket,id=link,host=127.0.0.1,port=${opts.linkPort},reconnect=1,nodelay=on`, "-serial", "chardev:link"]),
    "-serial",
    "stdio",
    "-kernel",
    opts.elf,
  ];
  if (opts.append !== undefined) args.push("-append", opts.append);
  if (opts.icountShift !== undefined) args.push("-icount", `shift=${opts.icountShift},align=off,sleep=on`);
  // coreutils `timeout` bounds the run even if this process dies without cleaning up.
  const lifetimeS = Math.ceil((opts.maxLifetimeMs ?? 120_000) / 1000);
  const proc = spawn("timeout", ["--kill-after=2", String(lifetimeS), "qemu-system-arm", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }>();
  let partial = "";
  let stderr = "";
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl).replace(/\r$/, "");
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (const w of waiters) {
        const m = line.match(w.pattern);
        if (m) waiters.delete(w), w.resolve(m);
      }
    }
  });
  proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<QemuExit>((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));

  return {
    proc,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 20_000) {
      for (const line of lines) {
        const m = line.match(pattern);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const w = { pattern, resolve: (m: RegExpMatchArray) => (clearTimeout(timer), resolve(m)) };
        const fail = (why: string) => {
          waiters.delete(w);
          reject(new QemuFailure(`${why} waiting for ${pattern}; debug output:\n${lines.join("\n")}\n${stderr}`));
        };
        const timer = setTimeout(() => fail(`no match after ${timeoutMs} ms`), timeoutMs);
        waiters.add(w);
        void exited.then((e) => {
          if (waiters.has(w)) clearTimeout(timer), fail(`QEMU exited (code ${e.code}, signal ${e.signal})`);
        });
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const force = setTimeout(() => proc.kill("SIGKILL"), 2000);
        void exited.then(() => clearTimeout(force));
      }
      return exited;
    },
  };
}

/** JSON-RPC to a device through a broker: requests on devices/<id>/rx, answers matched by id on tx. */
export interface DeviceRpc {
  client: MqttClient;
  /** Sends a request with a fresh numeric id and resolves with the response object. */
  request(method: string, params?: unknown): Promise<any>;
  /** Publishes raw text and resolves with the response carrying answerId (null for unparseable requests). */
  send(text: string, answerId: string | number | null): Promise<any>;
  /** Resolves with the device's status once it says online (retained or live). */
  online: Promise<any>;
  /** Resolves with the next live (not retained) online status: the device has (re)connected. */
  nextOnline(): Promise<any>;
  end(): Promise<void>;
}

export async function deviceRpc(brokerUrl: string, id: string, opts: { qos?: 1 | 2 } = {}): Promise<DeviceRpc> {
  const client = await mqtt.connectAsync(brokerUrl, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  // Without this, Nagle holds each request until the broker ACKs our last PUBACK (~40 ms).
  (client.stream as unknown as Socket).setNoDelay?.(true);
  const waiting = new Map<string | number, (response: any) => void>();
  let nextId = 1;
  let markOnline!: (status: any) => void;
  const online = new Promise<any>((resolve) => (markOnline = resolve));
  const liveOnline = new Set<(status: any) => void>();
  client.on("message", (topic, payload, packet) => {
    if (topic === `devices/${id}/status`) {
      const status = payload.length ? JSON.parse(payload.toString()) : null;
      if (!status?.online) return;
      markOnline(status);
      if (!packet.retain) for (const resolve of liveOnline) liveOnline.delete(resolve), resolve(status);
      return;
    }
    const response = JSON.parse(payload.toString());
    const key = response.id ?? "null";
    const resolve = waiting.get(key);
    waiting.delete(key);
    resolve?.(response);
  });
  await client.subscribeAsync([`devices/${id}/tx`, `devices/${id}/status`], { qos: 1 });
  const send = (text: string, answerId: string | number | null) => {
    const answered = new Promise<any>((resolve) => waiting.set(answerId ?? "null", resolve));
    client.publish(`devices/${id}/rx`, text, { qos: opts.qos ?? 1 });
    return answered;
  };
  return {
    client,
    online,
    nextOnline: () => new Promise((resolve) => liveOnline.add(resolve)),
    send,
    request(method, params) {
      const reqId = nextId++;
      return send(JSON.stringify({ jsonrpc: "2.0", id: reqId, method, ...(params === undefined ? {} : { params }) }), reqId);
    },
    async end() {
      await client.endAsync();
    },
  };
}

/** Sends `count` echo requests, `window` at a time, and checks every answer. */
export async function echoRun(rpc: DeviceRpc, count: number, window: number): Promise<void> {
  let sent = 0;
  const worker = async () => {
    while (sent < count) {
      const n = sent++;
      const r = await rpc.request("echo", [n]);
      if (JSON.stringify(r.result) !== `[${n}]`) throw new Error(`echo ${n} answered ${JSON.stringify(r)}`);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}
