// The STM32 firmware with several brokers (issue 19): its link's far end is a modem (test/support/modem.ts) that
// dials what the firmware asks, ATD<host>:<port>. The firmware dials its --url list in turn, so when the node it
// is on dies it comes back through the next one, with the module's own backoff, and answers through every node
// left. Two backend nodes in this process share a Redis, as `outpost serve --redis` nodes do.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { bootFirmware, buildFirmware, firmwareFor, type QemuBoard } from "../boards/stm32/qemu.ts";
import { startBackend, type Backend } from "../host/server/backend.ts";
import type { RedisServer } from "../host/cluster/redis-server.ts";
import { apiClient, waitFor } from "./support/api.ts";
import { startModem, type Modem } from "./support/modem.ts";
import { freePort } from "./support/mosquitto.ts";
import { startRedis } from "./support/redis.ts";

describe("the STM32 firmware dialing two nodes in turn", () => {
  let redis: RedisServer;
  let modem: Modem;
  let board: QemuBoard;
  const nodes: Backend[] = [];
  const mqttPorts: number[] = [];
  let key: string;
  const call = (n: number, params: unknown[]) =>
    apiClient(
      () => nodes[n].url,
      () => `Bearer ${key}`,
    )("/api/v1/devices/stm32-dial/rpc?timeout_ms=3000", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "echo", params } });

  beforeAll(async () => {
    buildFirmware("all", { ENGINE: "wasm3" });
    redis = await startRedis();
    const dataDir = mkdtempSync(join(tmpdir(), "outpost-stm32-brokers-"));
    for (let n = 0; n < 2; n++) {
      mqttPorts.push(await freePort());
      nodes.push(
        await startBackend({
          dataDir,
          port: await freePort(),
          mqttPort: mqttPorts[n],
          host: "127.0.0.1",
          redisUrl: redis.url,
          heartbeatMs: 500,
          logger: pino({ level: "silent" }),
        }),
      );
    }
    const { credential } = nodes[0].registry.addDevice("stm32-dial");
    key = nodes[0].registry.createApiKey().key;
    modem = await startModem();
    const urls = mqttPorts.map((p) => `--url mqtt://127.0.0.1:${p}`).join(" ");
    board = bootFirmware({ elf: firmwareFor("wasm3"), linkPort: modem.port, append: `--id stm32-dial --password ${credential} ${urls}` });
    await waitFor(() => nodes.every((n) => n.presence.isOnline("stm32-dial")));
  }, 180_000);

  afterAll(async () => {
    await board?.stop();
    await modem?.close();
    for (const n of nodes) await n.close().catch(() => {});
    await redis?.close();
  });

  it("dials the first node, and answers through both", async () => {
    expect(modem.dialed).toEqual([`127.0.0.1:${mqttPorts[0]}`]);
    for (const n of [0, 1]) expect(await call(n, [`via ${n}`])).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: [`via ${n}`] } });
  });

  it("moves to the next node when its node dies, and answers through the one left", async () => {
    await nodes[0].close();
    // The modem hangs up with the far end; the firmware notices at its keep-alive (10 s) and dials the next --url.
    await waitFor(() => modem.dialed.includes(`127.0.0.1:${mqttPorts[1]}`));
    await waitFor(async () => (await call(1, ["back"])).status === 200);
    expect(await call(1, ["again"])).toEqual({ status: 200, body: { jsonrpc: "2.0", id: 1, result: ["again"] } });
    expect(board.lines.some((l) => /FATAL/.test(l))).toBe(false);
  }, 90_000);
});
