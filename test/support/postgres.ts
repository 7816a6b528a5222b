// A Postgres of the test's own: Debian's postgresql binaries on a free loopback port with their own data directory,
// a password for the `outpost` role (scram), fsync off. Postgres refuses to run as root, so as root it runs as the
// `postgres` user the Debian package makes. stop()/start() restart it on the same port; close() removes it all.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./mosquitto.ts";

const BIN = ["/usr/lib/postgresql"].flatMap((root) =>
  existsSync(root)
    ? readdirSync(root)
        .sort()
        .reverse()
        .map((v) => join(root, v, "bin"))
    : [],
)[0];

export interface TestPostgres {
  /** postgres://outpost@127.0.0.1:<port>/outpost, without its password. */
  url: string;
  password: string;
  /** The URL with the password in it. */
  urlWithPassword: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
  if (!BIN) throw new Error("no /usr/lib/postgresql/<version>/bin: apt install postgresql");
  const root = mkdtempSync(join(tmpdir(), "outpost-test-pg-"));
  const data = join(root, "data");
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? Number(execFileSync("id", ["-u", "postgres"]).toString()) : undefined;
  const group = asRoot ? Number(execFileSync("id", ["-g", "postgres"]).toString()) : undefined;
  if (user !== undefined && group !== undefined) chownSync(root, user, group);
  const as = (cmd: string, args: string[]) => (asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args]) as [string, string[]];
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = join(root, "pw");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (user !== undefined && group !== undefined) chownSync(pwfile, user, group);
  execFileSync(...as(join(BIN, "initdb"), ["-D", data, "-U", "outpost", "--pwfile", pwfile, "--auth", "scram-sha-256", "--no-sync", "-E", "UTF8"]), {
    stdio: "ignore",
  });
  rmSync(pwfile);
  const port = await freePort();
  let proc: ChildProcess | undefined;
  let log = "";
  const start = async () => {
    const args = ["-D", data, "-p", String(port), "-k", root, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"];
    proc = spawn(...as(join(BIN, "postgres"), args), { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (log.includes("database system is ready to accept connections")) break;
      if (proc.exitCode !== null) throw new Error(`postgres exited: ${log}`);
      if (Date.now() > deadline) throw new Error(`postgres did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once("exit", () => r()));
    // Fast shutdown, sent to the postmaster itself (runuser does not pass SIGINT on).
    process.kill(Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]), "SIGINT");
    await gone;
    log = "";
  };
  await start();
  // The database the registry uses, made the way an operator would.
  execFileSync(join(BIN, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "outpost", "-d", "postgres", "-c", "CREATE DATABASE outpost"], {
    env: { ...process.env, PGPASSWORD: password },
    stdio: "ignore",
  });
  const url = `postgres://outpost@127.0.0.1:${port}/outpost`;
  return {
    url,
    password,
    urlWithPassword: `postgres://outpost:${password}@127.0.0.1:${port}/outpost`,
    stop,
    start,
    async close() {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Runs SQL through psql (as an operator would), returning its unaligned output. */
export function psql(pg: TestPostgres, sql: string): string {
  const port = new URL(pg.url).port;
  return execFileSync(join(BIN, "psql"), ["-h", "127.0.0.1", "-p", port, "-U", "outpost", "-d", "outpost", "-At", "-c", sql], {
    env: { ...process.env, PGPASSWORD: pg.password },
  }).toString();
}
