// Starts a real mosquitto broker on a free loopback port with its own config.
import type { Registry } from "../../host/registry/registry.ts";
import { backendListenerLines, mosquittoGlobalLines, writeMosquittoConfig } from "../../host/broker/mosquitto.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Mosquitto {
  port: number;
  url: string;
  dir: string;
  /** Stops the broker (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same config (persistence kept). */
  start(): Promise<void>;
  /** SIGHUP: mosquitto reads its password and ACL files again. */
  reload(): void;
}

/**
 * Extra lines go into mosquitto.conf after its first listener's line (e.g. password_file, acl_file, more
 * listeners); `global` lines before it (those that must precede every listener, such as per_listener_settings).
 */
export async function startMosquitto(extraConfig: string[] = [], { global = [] }: { global?: string[] } = {}): Promise<Mosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "outpost-mosq-"));
  const conf = join(dir, "mosquitto.conf");
  const lines = [...global, `listener ${port} 127.0.0.1`, "persistence true", `persistence_location ${dir}/`, "log_dest none"];
  // As root, mosquitto drops to user "mosquitto", which cannot write the session store in our temp dir.
  if (process.getuid?.() === 0 && !extraConfig.some((l) => l.startsWith("user "))) lines.push("user root");
  if (!extraConfig.some((l) => l.startsWith("allow_anonymous") || l.startsWith("password_file"))) lines.push("allow_anonymous true");
  writeFileSync(conf, [...lines, ...extraConfig].join("\n") + "\n");
  let proc: ChildProcess | undefined;
  const broker: Mosquitto = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    async start() {
      proc = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
      await waitForPort(port);
    },
    reload() {
      proc?.kill("SIGHUP");
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once("exit", () => resolve());
        p.kill("SIGTERM");
      });
    },
  };
  await broker.start();
  return broker;
}

/**
 * mosquitto on the files `outpost broker mosquitto` writes for `registry` into `dir`, with the backends' listener
 * on `backendPort` when given (as root, it stays root to read them).
 */
export async function startRegistryMosquitto(registry: Registry, dir: string, backendPort?: number): Promise<Mosquitto> {
  const lines = writeMosquittoConfig(registry, dir);
  const asRoot = process.getuid?.() === 0 ? ["user root"] : [];
  return startMosquitto([...lines, ...asRoot, ...(backendPort ? backendListenerLines(dir, backendPort) : [])], { global: mosquittoGlobalLines() });
}
