// A two-node ActiveMQ Artemis cluster on loopback (MQTT 5, QoS 2, clustering), for the external-broker mode:
// two broker instances made with `artemis create --clustered`, each with a static connector to the other and
// messages forwarded on demand (max-hops 1), on free ports, with their own directories. The users are written
// into each instance's properties login file (plain passwords: a test's throwaway broker, the file 0600).
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./mosquitto.ts";

const FETCH = join(import.meta.dirname, "fetch-artemis.sh");

export interface ArtemisNode {
  mqttUrl: string;
  log(): string;
}

export interface ArtemisCluster {
  nodes: ArtemisNode[];
  /** SIGKILL of node n's JVM: no goodbye to its clients or to the other node. */
  kill(n: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts both nodes and resolves once each has its MQTT acceptor up and its cluster bridge to the other. */
export async function startArtemisCluster(users: Record<string, string>): Promise<ArtemisCluster> {
  const home = execFileSync(FETCH, { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), "outpost-artemis-"));
  const core = [await freePort(), await freePort()];
  const mqtt = [await freePort(), await freePort()];
  const procs: ChildProcess[] = [];
  const logs = ["", ""];
  for (let n = 0; n < 2; n++) {
    const instance = join(dir, `n${n}`);
    const other = core[1 - n];
    // prettier-ignore
    execFileSync(
      join(home, "bin/artemis"),
      [
        "create",
        instance,
        "--silent",
        "--force",
        "--name",
        `n${n}`,
        "--host",
        "127.0.0.1",
        "--user",
        "admin",
        "--password",
        "admin",
        "--require-login",
        "--clustered",
        "--cluster-user",
        "cluster",
        "--cluster-password",
        "cluster",
        "--max-hops",
        "1",
        "--message-load-balancing",
        "ON_DEMAND",
        "--static-cluster",
        `tcp://127.0.0.1:${other}`,
        "--no-web",
        "--no-amqp-acceptor",
        "--no-hornetq-acceptor",
        "--no-stomp-acceptor",
        "--no-fsync",
        "--nio",
      ],
      { stdio: "ignore" },
    );
    const xmlPath = join(instance, "etc/broker.xml");
    const xml = readFileSync(xmlPath, "utf8")
      .replace(/tcp:\/\/127\.0\.0\.1:61616/g, `tcp://127.0.0.1:${core[n]}`)
      .replace(/tcp:\/\/127\.0\.0\.1:1883/g, `tcp://127.0.0.1:${mqtt[n]}`);
    writeFileSync(xmlPath, xml);
    const usersPath = join(instance, "etc/artemis-users.properties");
    const rolesPath = join(instance, "etc/artemis-roles.properties");
    writeFileSync(usersPath, ["admin = admin", ...Object.entries(users).map(([u, p]) => `${u} = ${p}`)].join("\n") + "\n", { mode: 0o600 });
    chmodSync(usersPath, 0o600);
    writeFileSync(rolesPath, `amq = ${["admin", ...Object.keys(users)].join(",")}\n`);
    const proc = spawn(join(instance, "bin/artemis"), ["run"], { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout!.on("data", (d: Buffer) => (logs[n] += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (logs[n] += d.toString()));
    procs.push(proc);
  }
  const stop = async () => {
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGTERM");
        const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  };
  const ready = (n: number) => logs[n].includes(`Acceptor at 127.0.0.1:${mqtt[n]}`) && /AMQ221027: Bridge .* is connected/.test(logs[n]);
  for (const start = Date.now(); !(ready(0) && ready(1)); await new Promise((r) => setTimeout(r, 100))) {
    const dead = procs.findIndex((p) => p.exitCode !== null);
    if (dead >= 0 || Date.now() - start > 90_000) {
      await stop();
      throw new Error(`Artemis node ${dead >= 0 ? dead : "?"} did not come up:\n${logs.join("\n----\n").slice(-4000)}`);
    }
  }
  const kill = async (n: number) => {
    const p = procs[n];
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  };
  return { nodes: [0, 1].map((n) => ({ mqttUrl: `mqtt://127.0.0.1:${mqtt[n]}`, log: () => logs[n] })), kill, stop };
}
