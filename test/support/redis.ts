// A Redis of the test's own: /usr/bin/redis-server on a free loopback port with its own data directory, nothing
// saved. close() stops it and removes the directory.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedisServer, type RedisServer } from "../../host/cluster/redis-server.ts";
import { freePort } from "./mosquitto.ts";

export async function startRedis(opts: { password?: string } = {}): Promise<RedisServer> {
  return startRedisServer(mkdtempSync(join(tmpdir(), "outpost-test-redis-")), { port: await freePort(), ...opts });
}
