// What every node's embedded aedes shares through Redis (--redis): pub/sub through mqemitter-redis, and retained
// messages, sessions and wills through aedes-persistence-redis. aedes 1.x wants a persistence whose methods are
// async; the package's main export wraps its async class in callbacks, so its async class is used directly, with
// one adapter: aedes 1.x pipes the retained messages it sends on SUBSCRIBE, so they must be a stream, and the
// package (written for aedes-persistence 10) returns an async iterator there.
import type { Redis } from "ioredis";
import { Readable } from "node:stream";
import MQEmitterRedis from "mqemitter-redis";
// @ts-expect-error: the package ships no type declarations
import AsyncRedisPersistence from "aedes-persistence-redis/asyncPersistence.js";
import { redisClient } from "../cluster/redis-server.ts";
import { redactUrl } from "../server/log.ts";

class AedesRedisPersistence extends AsyncRedisPersistence {
  constructor(opts: { conn: Redis }) {
    super(opts);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return Readable.from(super.createRetainedStreamCombi(patterns));
  }
}

export class RedisUnreachable extends Error {
  override name = "RedisUnreachable";
}

/** How long a node waits for Redis at startup before it gives up with RedisUnreachable. */
export const REDIS_CONNECT_TIMEOUT_MS = 5000;

/** Connects and pings Redis; a Redis that does not answer in time is a named error, never a hang. */
export async function connectRedis(url: string, timeoutMs = REDIS_CONNECT_TIMEOUT_MS): Promise<Redis> {
  // No offline queue: while Redis is away, a command fails at once instead of waiting for it to come back.
  const redis = redisClient(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: timeoutMs });
  let last: Error | undefined;
  redis.on("error", (err: Error) => (last = err));
  const timer = new Promise<never>((_, reject) =>
    setTimeout(
      () => reject(new RedisUnreachable(`no answer from Redis ${redactUrl(url)} within ${timeoutMs} ms${last ? ` (${last.message})` : ""}`)),
      timeoutMs,
    ).unref(),
  );
  try {
    await Promise.race([redis.connect().then(() => redis.ping()), timer]);
  } catch (err) {
    redis.disconnect();
    if (err instanceof RedisUnreachable) throw err;
    // The connection's own error (refused, NOAUTH, WRONGPASS) says more than the command's "Connection is closed".
    throw new RedisUnreachable(`cannot reach Redis ${redactUrl(url)}: ${(last ?? (err as Error)).message}`);
  }
  return redis;
}

/** The parts aedes takes (`mq`, `persistence`), on their own Redis connections, and how to close them. */
export interface SharedBrokerState {
  mq: unknown;
  persistence: unknown;
  /** A connection for the node's own use (leases, health). */
  redis: Redis;
  /** Whether Redis answers right now (the pub/sub connection is up). */
  up(): boolean;
  onError(listener: (err: Error) => void): void;
  close(): Promise<void>;
}

export async function sharedBrokerState(url: string, timeoutMs?: number): Promise<SharedBrokerState> {
  const [pub, sub, store, own] = await Promise.all([0, 1, 2, 3].map(() => connectRedis(url, timeoutMs)));
  // The pub/sub connection resubscribes after a reconnect; an offline queue there would hold publishes for ever.
  const mq = MQEmitterRedis({ pubConn: pub, subConn: sub } as never);
  const persistence = new AedesRedisPersistence({ conn: store });
  const listeners: ((err: Error) => void)[] = [];
  const report = (err: Error) => listeners.forEach((l) => l(err));
  for (const c of [pub, sub, store, own]) c.on("error", report);
  (mq as unknown as { state: { on(ev: string, l: (err: Error) => void): void } }).state.on("error", report);
  return {
    mq,
    persistence,
    redis: own,
    up: () => [pub, sub, store].every((c) => c.status === "ready"),
    onError: (l) => listeners.push(l),
    async close() {
      // aedes closed the emitter (quit on pub and sub); the rest are ours.
      for (const c of [pub, sub, store, own]) c.disconnect();
    },
  };
}
