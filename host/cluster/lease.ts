// Once across nodes: a lease in Redis (SET key owner NX PX ttl), renewed while its holder works, released when it is
// done, and lost by a holder that dies or stalls past its ttl. Jobs and updates use it so that one node, not every
// node, runs each. Every acquisition gets a fencing token (a counter that only grows): work that writes somewhere
// passes it along, so a holder that stalled past its lease and woke up late can be told from the current one.
import type { Redis } from "ioredis";
import { randomBytes } from "node:crypto";

export class LeaseLost extends Error {
  override name = "LeaseLost";
}

// Compare-and-act on the holder, atomic in Redis: nobody else's lease is ever renewed or removed.
const RENEW = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

export interface LeaseOptions {
  /** How long the lease lasts without renewal, in ms. */
  ttlMs: number;
  /** Who holds it (default: a random id per Lease). */
  owner?: string;
  /** Key prefix (default "outpost:lease:"). */
  prefix?: string;
}

export class Lease {
  readonly owner: string;
  readonly key: string;
  private readonly ttlMs: number;
  /** The fencing token of the current holding, if this Lease holds it. */
  token: number | undefined;

  constructor(
    private readonly redis: Redis,
    readonly name: string,
    opts: LeaseOptions,
  ) {
    if (!Number.isInteger(opts.ttlMs) || opts.ttlMs < 1) throw new RangeError(`lease ttlMs must be a positive integer, got ${opts.ttlMs}`);
    this.ttlMs = opts.ttlMs;
    this.owner = opts.owner ?? randomBytes(9).toString("base64url");
    this.key = `${opts.prefix ?? "outpost:lease:"}${name}`;
  }

  /** Takes the lease if nobody holds it; resolves with the fencing token, or undefined when another holds it. */
  async acquire(): Promise<number | undefined> {
    const ok = await this.redis.set(this.key, this.owner, "PX", this.ttlMs, "NX");
    if (ok !== "OK") return undefined;
    this.token = await this.redis.incr(`${this.key}:fence`);
    return this.token;
  }

  /** Extends the lease by its ttl; false when it was lost (expired and maybe taken by another). */
  async renew(): Promise<boolean> {
    const ok = (await this.redis.eval(RENEW, 1, this.key, this.owner, String(this.ttlMs))) === 1;
    if (!ok) this.token = undefined;
    return ok;
  }

  /** Gives the lease up if this Lease still holds it. */
  async release(): Promise<boolean> {
    this.token = undefined;
    return (await this.redis.eval(RELEASE, 1, this.key, this.owner)) === 1;
  }

  /**
   * Runs `work` if the lease can be taken, renewing it every third of its ttl meanwhile, and releases it after.
   * Resolves { ran: false } when another node holds it. `signal` aborts when a renewal fails (the lease was lost,
   * another node may start the same work): `work` should stop there.
   */
  async run<T>(work: (token: number, signal: AbortSignal) => Promise<T>): Promise<{ ran: false } | { ran: true; value: T }> {
    const token = await this.acquire();
    if (token === undefined) return { ran: false };
    const lost = new AbortController();
    const timer = setInterval(
      () => {
        this.renew().then(
          (ok) => ok || lost.abort(new LeaseLost(`lease ${this.name} lost`)),
          (err: Error) => lost.abort(new LeaseLost(`lease ${this.name}: cannot renew (${err.message})`)),
        );
      },
      Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    try {
      return { ran: true, value: await work(token, lost.signal) };
    } finally {
      clearInterval(timer);
      await this.release().catch(() => false); // expires by itself if Redis is away
    }
  }
}

/**
 * Once for good: the first node to claim `key` runs `work`, every other node (now or later, within `keepMs`) does
 * not. For a step that must happen once per event (a job's start, an update's rollout step), not a periodic task.
 */
export async function once<T>(redis: Redis, key: string, keepMs: number, work: () => Promise<T>): Promise<{ ran: false } | { ran: true; value: T }> {
  const ok = await redis.set(`outpost:once:${key}`, "1", "PX", keepMs, "NX");
  if (ok !== "OK") return { ran: false };
  return { ran: true, value: await work() };
}
