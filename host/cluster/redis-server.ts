// A private Redis for one machine: /usr/bin/redis-server on a Unix socket in a directory of ours, no TCP port,
// nothing saved (`--save ''`). `--mqtt-workers` without `--redis` uses one, and the tests start theirs with it.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Redis, type RedisOptions } from "ioredis";

export class RedisServerFailed extends Error {
  override name = "RedisServerFailed";
}

export interface RedisServer {
  /** redis://… (TCP) or redis+unix://… style: what `connectRedis` takes. */
  url: string;
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. */
  close(): Promise<void>;
}

const REDIS_SERVER = process.env.OUTPOST_REDIS_SERVER ?? "/usr/bin/redis-server";
const START_TIMEOUT_MS = 10_000;

/** Starts redis-server in `dir` (created 0700): on `port` over TCP on loopback, or on a Unix socket there when no port. */
export async function startRedisServer(dir: string, opts: { port?: number; password?: string } = {}): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) throw new RedisServerFailed(`${REDIS_SERVER} not found: install redis-server, or give --redis redis://…`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, "redis.sock");
  const args = ["--save", "", "--appendonly", "no", "--dir", dir, "--bind", "127.0.0.1", "--protected-mode", "yes"];
  args.push(...(opts.port ? ["--port", String(opts.port)] : ["--port", "0", "--unixsocket", socket, "--unixsocketperm", "700"]));
  // The password through stdin's config would be private too; a test's throwaway one may be a flag.
  if (opts.password) args.push("--requirepass", opts.password);
  const proc: ChildProcess = spawn(REDIS_SERVER, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const url = opts.port ? `redis://127.0.0.1:${opts.port}` : `redis+unix://${socket}`;
  const probeAuth = opts.password ? { password: opts.password } : {};
  const exited = new Promise<never>((_, reject) =>
    proc.once("exit", (code) => reject(new RedisServerFailed(`redis-server exited (code ${code}) ${stderr.trim()}`))),
  );
  exited.catch(() => {});
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const probe = redisClient(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, ...probeAuth });
    probe.on("error", () => {}); // not up yet: tried again below
    const ok = await Promise.race([probe.connect().then(() => probe.ping()), exited]).then(
      () => true,
      (err) => {
        if (err instanceof RedisServerFailed) throw err;
        return false;
      },
    );
    probe.disconnect();
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new RedisServerFailed(`redis-server did not answer within ${START_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: proc.pid!,
    async close() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise<void>((r) => proc.once("exit", () => r()));
        proc.kill("SIGTERM");
        const kill = setTimeout(() => proc.kill("SIGKILL"), 3000);
        await gone;
        clearTimeout(kill);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An ioredis client for `url`: redis://[user:password@]host:port[/db], rediss://…, or redis+unix:///path/to/socket. */
export function redisClient(url: string, opts: RedisOptions = {}): Redis {
  const u = new URL(url);
  if (u.protocol === "redis+unix:") return new Redis({ path: decodeURIComponent(u.pathname), ...opts });
  return new Redis(url, opts);
}
