// Backend nodes as separate processes (`node bin/outpost.js serve --redis …`), all on one data directory and one
// Redis, each on free loopback ports, for the tests of several nodes. kill() is a crash (SIGKILL), stop() a clean stop.
import { spawn, type ChildProcess } from "node:child_process";
import { expect } from "vitest";
import { Device } from "../../host/device.ts";
import { apiClient } from "./api.ts";
import { fileURLToPath } from "node:url";
import { freePort } from "./mosquitto.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Each test node's heartbeat: a dead node's wills fire 3 to 7 of these after it died. */
export const NODE_HEARTBEAT_MS = 1000;

export interface Node {
  url: string;
  mqttUrl: string;
  proc: ChildProcess;
  /** What the process wrote to stderr (its log). */
  log(): string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function startNode(dataDir: string, redisUrl: string, extra: string[] = []): Promise<Node> {
  const port = await freePort();
  const mqttPort = await freePort();
  const args = ["bin/outpost.js", "serve", "--data", dataDir, "--port", String(port), "--mqtt-port", String(mqttPort), "--redis", redisUrl];
  const proc = spawn("node", [...args, "--heartbeat-ms", String(NODE_HEARTBEAT_MS), "--log-level", "warn", ...extra], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("outpost is running")) resolve();
    });
    exited.then(() => reject(new Error(`node exited before it ran: ${stderr}`)));
  });
  const signal = async (sig: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    await exited;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    proc,
    log: () => stderr,
    kill: () => signal("SIGKILL"),
    stop: () => signal("SIGTERM"),
  };
}

/** A REST client for node `n` of `nodes`, with the API key `key()`. */
export const nodeApi = (nodes: Node[], key: () => string) => (n: number) =>
  apiClient(
    () => nodes[n].url,
    () => `Bearer ${key()}`,
  );

/** A Node device whose `work` method counts in `executions` how often each token ran, and takes 150 ms (a kill lands mid-call). */
export function workDevice(id: string, executions: Map<string, number>): Device {
  return new Device({
    id,
    methods: {
      work: async ([token]: [string]) => {
        executions.set(token, (executions.get(token) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 150));
        return token;
      },
    },
  });
}

/** Every call through a surviving node ended with its answer or a named error that says whether it was delivered. */
export function expectAnsweredOrNamed(settled: ({ status: number; body: { error?: string } } | "lost")[]): void {
  for (const r of settled) {
    if (r === "lost" || r.status === 200) continue;
    expect([503, 504], JSON.stringify(r)).toContain(r.status);
    expect(["device_offline", "device_no_answer", "device_timeout", "device_busy", "device_suspect"], JSON.stringify(r)).toContain(r.body.error);
  }
}
