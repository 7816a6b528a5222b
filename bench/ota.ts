// OTA benchmark (docs/ota.md): per engine, the time from POST /devices/:id/update to the new version answering
// sys.info (over REST), and the bytes on the device's link during the update against the module's size.
// Targets: under 2 s for the Node device (V8, wasm3) and the native POSIX device, under 5 s for the STM32 firmware in
// QEMU (OTA_BENCH_NO_STM32=1 skips it), under 1.4x the module on the wire.
// Named peer: the module's own size (a transfer with no encoding or protocol at all), in the same run.
// The device's link runs through a counting TCP relay, so both directions and all MQTT framing count (its
// reconnect after the restart and the backend's own sys.info calls included).
// Last line: a JSON summary.
import { createServer, connect, type Server } from "node:net";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startBackend } from "../host/server/backend.ts";
import { OtaDevice } from "../host/ota/node-device.ts";
import { wasmBytes, type EngineName } from "../host/engine.ts";
import { freePort } from "../test/support/mosquitto.ts";
import { release, releaseKey } from "../test/support/ota.ts";
import { bootFirmware, buildFirmware, firmwareElf } from "../boards/stm32/qemu.ts";

const RUNS = 5;
const posixDevice = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));

/** A device under test: the Node device on an engine, or the native POSIX device as its own process. */
async function startDevice(engine: string, id: string, credential: string, url: string): Promise<{ close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "outpost-bench-ota-dev-"));
  if (engine === "stm32") {
    // QEMU's USART1 dials the relay; the firmware's OTA slots are RAM-backed under QEMU.
    const board = bootFirmware({
      elf: firmwareElf,
      linkPort: Number(new URL(url).port),
      append: `--id ${id} --password ${credential} --ota-key ${releaseKey.publicKey}`,
      maxLifetimeMs: 120_000,
    });
    return { close: async () => void (await board.stop()) };
  }
  if (engine === "posix") {
    const proc = spawn(posixDevice, ["--id", id, "--url", url, "--password", credential, "--ota-dir", dir, "--ota-key", releaseKey.publicKey], {
      stdio: "ignore",
    });
    return {
      close: async () => {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.on("exit", r));
      },
    };
  }
  const dev = new OtaDevice({ id, engine: engine as EngineName, ota: { dir, publicKeys: [releaseKey.publicKey] } });
  await dev.connect(url, { password: credential });
  return dev;
}

/** Where an update's bytes went: the ota.write calls and their chunks' base64, out of all the link's bytes. */
interface WireSplit {
  writes: number;
  chunkBase64: number;
}

/** A TCP relay to `port` that counts the bytes each way, and keeps what went to the device (to split it up). */
async function relay(port: number): Promise<{ port: number; bytes: () => number; split: () => WireSplit; close(): void; server: Server }> {
  let bytes = 0;
  let down = "";
  const server = createServer((a) => {
    const b = connect(port, "127.0.0.1");
    a.on("data", (d) => {
      bytes += d.length;
      b.write(d);
    });
    b.on("data", (d) => {
      bytes += d.length;
      down += d.toString("latin1");
      a.write(d);
    });
    a.on("close", () => b.destroy());
    b.on("close", () => a.destroy());
    a.on("error", () => {});
    b.on("error", () => {});
  });
  const p = await freePort();
  await new Promise<void>((r) => server.listen(p, "127.0.0.1", r));
  const split = (): WireSplit => {
    const chunks = [...down.matchAll(/"method":"ota\.write","params":\{[^}]*"data":"([A-Za-z0-9+/=]*)"/g)];
    return { writes: chunks.length, chunkBase64: chunks.reduce((n, m) => n + m[1].length, 0) };
  };
  return { port: p, bytes: () => bytes, split, close: () => server.close(), server };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const backend = await startBackend({
    dataDir: mkdtempSync(join(tmpdir(), "outpost-bench-ota-")),
    port: await freePort(),
    mqttPort: await freePort(),
    host: "127.0.0.1",
    logger: pino({ level: "silent" }),
  });
  const key = backend.registry.createApiKey().key;
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const module = wasmBytes();
  let version = 0;
  const results: Record<string, { ms: number; wireBytes: number; ratio: number; writes: number; chunkBase64: number }> = {};
  try {
    if (!process.env.OTA_BENCH_NO_STM32) buildFirmware("all");
    const only = process.env.OTA_BENCH_ONLY?.split(",");
    for (const engine of ["v8", "wasm3", "posix", ...(process.env.OTA_BENCH_NO_STM32 ? [] : ["stm32"])].filter((e) => !only || only.includes(e))) {
      const times: number[] = [];
      const wires: number[] = [];
      let split: WireSplit = { writes: 0, chunkBase64: 0 };
      // Even runs time the update (polling sys.info as a caller would); odd runs count its bytes, with no polling
      // of the bench's own on the link (it waits on GET /devices/:id/update, which never reaches the device).
      for (let run = 0; run < 2 * RUNS; run++) {
        const timed = run % 2 === 0;
        const id = `bench-${engine}-${run}`;
        const { credential } = backend.registry.addDevice(id);
        const link = await relay(Number(new URL(backend.mqttUrl).port));
        const dev = await startDevice(engine, id, credential, `mqtt://127.0.0.1:${link.port}`);
        while (!backend.presence.isOnline(id)) await new Promise((r) => setTimeout(r, 10));
        const up = await fetch(`${backend.url}/api/v1/releases`, { method: "POST", headers, body: JSON.stringify(release(module, ++version)) });
        const rel = ((await up.json()) as { id: string }).id;
        const before = link.bytes();
        const t0 = performance.now();
        const r = await fetch(`${backend.url}/api/v1/devices/${id}/update`, { method: "POST", headers, body: JSON.stringify({ release: rel }) });
        if (r.status !== 202) throw new Error(`update refused: ${await r.text()}`);
        while (timed) {
          const a = await fetch(`${backend.url}/api/v1/devices/${id}/rpc?timeout_ms=1000`, {
            method: "POST",
            headers,
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "sys.info" }),
          });
          const body = (await a.json().catch(() => ({}))) as { result?: { app?: { version: number } } };
          if (body.result?.app?.version === version) break;
          await new Promise((res) => setTimeout(res, 5));
        }
        if (timed) times.push(performance.now() - t0);
        // The outcome too (the confirm follows the answer), then the bytes of the whole update.
        for (;;) {
          const u = (await (await fetch(`${backend.url}/api/v1/devices/${id}/update`, { headers })).json()) as { outcome: string | null };
          if (u.outcome) {
            if (u.outcome !== "succeeded") throw new Error(`update ${u.outcome}`);
            break;
          }
          await new Promise((res) => setTimeout(res, 5));
        }
        if (!timed) {
          wires.push(link.bytes() - before);
          split = link.split();
        }
        await dev.close();
        link.close();
      }
      const ms = median(times);
      const wireBytes = median(wires);
      results[engine] = { ms: Math.round(ms), wireBytes, ratio: Number((wireBytes / module.length).toFixed(3)), ...split };
      console.log(
        `${engine.padEnd(6)} REST call to new version answering: ${ms.toFixed(0)} ms (median of ${RUNS})  ` +
          `(target < ${engine === "stm32" ? 5000 : 2000})  wire ${wireBytes} B vs module ${module.length} B (peer: the bare module): ${(wireBytes / module.length).toFixed(2)}x (target <= 1.4x)\n` +
          `       where: ${split.writes} ota.write, chunk data ${split.chunkBase64} B of base64, the rest ${wireBytes - split.chunkBase64} B ` +
          `(JSON-RPC envelopes, MQTT headers and QoS 2 acks, answers, ota.begin/finish/confirm, sys.info)`,
      );
    }
  } finally {
    await backend.close();
  }
  console.log(JSON.stringify({ moduleBytes: module.length, runs: RUNS, engines: results }));
}

await main();
