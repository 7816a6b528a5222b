// The once-across-nodes primitive (host/cluster/lease.ts) on a real Redis: one holder at a time, a lease that
// expires is taken by another, nobody renews or releases another's lease, fencing tokens only grow, run() and
// once() run their work on exactly one of several contenders, and a dead Redis fails at once instead of hanging.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { Lease, once } from "../host/cluster/lease.ts";
import { connectRedis, RedisUnreachable } from "../host/broker/redis.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { startRedis } from "./support/redis.ts";
import { freePort } from "./support/mosquitto.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Redis lease", () => {
  let server: RedisServer;
  const nodes: Redis[] = [];

  beforeAll(async () => {
    server = await startRedis();
    for (let i = 0; i < 3; i++) nodes.push(await connectRedis(server.url));
  });
  afterAll(async () => {
    for (const n of nodes) n.disconnect();
    await server?.close();
  });

  it("has one holder at a time; an expired lease goes to the next, and the late holder can neither renew nor release it", async () => {
    const a = new Lease(nodes[0], "one-holder", { ttlMs: 300 });
    const b = new Lease(nodes[1], "one-holder", { ttlMs: 300 });
    const first = await a.acquire();
    expect(first).toBeTypeOf("number");
    expect(await b.acquire()).toBeUndefined();
    expect(await a.renew()).toBe(true);
    expect(await b.release()).toBe(false); // not b's to give up
    expect(await b.acquire()).toBeUndefined();
    await sleep(450); // a stalls past its ttl
    const second = await b.acquire();
    expect(second).toBeGreaterThan(first!); // the fencing token tells the new holder from the late one
    expect(await a.renew()).toBe(false);
    expect(await a.release()).toBe(false);
    expect(await nodes[2].get(b.key)).toBe(b.owner);
    expect(await b.release()).toBe(true);
    expect(await nodes[2].exists(b.key)).toBe(0);
  });

  it("run(): of three nodes contending at once, exactly one runs the work, renewing past its ttl while it works", async () => {
    let runs = 0;
    const work = async () => {
      runs++;
      await sleep(500); // longer than the ttl: the renewals keep it
      return "done";
    };
    const results = await Promise.all(nodes.map((n) => new Lease(n, "job-7", { ttlMs: 200 }).run(work)));
    expect(runs).toBe(1);
    expect(results.filter((r) => r.ran)).toEqual([{ ran: true, value: "done" }]);
    // Released after the work: the next round runs again.
    expect((await new Lease(nodes[0], "job-7", { ttlMs: 200 }).run(async () => 1)).ran).toBe(true);
  });

  it("run(): aborts the work's signal when the lease is lost to another holder", async () => {
    const lease = new Lease(nodes[0], "lost", { ttlMs: 150 });
    const outcome = await lease.run(async (_token, signal) => {
      await nodes[1].set(lease.key, "someone-else", "PX", 5000); // as if it had expired and been taken
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      return (signal.reason as Error).name;
    });
    expect(outcome).toEqual({ ran: true, value: "LeaseLost" });
    expect(await nodes[1].get(lease.key)).toBe("someone-else"); // release did not remove the other's lease
  });

  it("once(): a step runs on one node only, however many ask, now or later", async () => {
    let runs = 0;
    const step = () => once(nodes[0], "rollout-42-step-1", 60_000, async () => ++runs);
    const all = await Promise.all([
      step(),
      once(nodes[1], "rollout-42-step-1", 60_000, async () => ++runs),
      once(nodes[2], "rollout-42-step-1", 60_000, async () => ++runs),
    ]);
    expect(runs).toBe(1);
    expect(all.filter((r) => r.ran)).toHaveLength(1);
    expect((await step()).ran).toBe(false);
  });

  it("refuses a ttl that is not a positive integer", () => {
    for (const ttlMs of [0, -1, 1.5, Number.NaN]) expect(() => new Lease(nodes[0], "x", { ttlMs })).toThrow(RangeError);
  });
});

it("a Redis that is not there is RedisUnreachable within the timeout, not a hang", async () => {
  await expect(connectRedis(`redis://127.0.0.1:${await freePort()}`, 1000)).rejects.toBeInstanceOf(RedisUnreachable);
}, 4000);

it("a lease whose Redis died fails at once with an error, not a hang", async () => {
  const server = await startRedis();
  const redis = await connectRedis(server.url);
  redis.on("error", () => {});
  await server.close();
  await sleep(100);
  await expect(new Lease(redis, "dead", { ttlMs: 1000 }).acquire()).rejects.toThrow();
  redis.disconnect();
});
