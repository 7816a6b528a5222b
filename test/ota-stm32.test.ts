// OTA on the STM32F405 firmware in QEMU's netduinoplus2 (docs/ota.md): the flash slot driver on its RAM stand-in
// (QEMU has no flash programming), Ed25519 on the Cortex-M4, the module restarted in place (wasm3 torn down and
// loaded from the new slot). A power cut is a system reset at an armed storage step (test.power_cut, --power-cuts 1):
// QEMU keeps running, and the RAM slots and state record are in .noinit, which neither the reset nor the startup
// code touches (boards/stm32/stm32f405.ld).
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Backend } from "../host/server/backend.ts";
import { wasmBytes } from "../host/engine.ts";
import { bootFirmware, buildFirmware, firmwareElf, type QemuBoard } from "../boards/stm32/qemu.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { neverConnectsModule, otaRest, otaWrites, otherKey, release, releaseKey, trapAtStartModule } from "./support/ota.ts";

const MODULE = wasmBytes();
let backend: Backend;
let key: string;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);
const boards: QemuBoard[] = [];

beforeAll(async () => {
  buildFirmware("all");
  backend = await startTestBackend("ota-stm32");
  key = backend.registry.createApiKey().key;
}, 600_000);
afterAll(async () => {
  for (const b of boards) await b.stop();
  await backend?.close();
});

let seq = 0;
async function board(window = 120_000, extra = ""): Promise<{ id: string; board: QemuBoard }> {
  const id = `ota-stm32-${++seq}`;
  const { credential } = backend.registry.addDevice(id);
  const b = bootFirmware({
    elf: firmwareElf,
    linkPort: Number(new URL(backend.mqttUrl).port),
    append: `--id ${id} --password ${credential} --ota-key ${releaseKey.publicKey} --ota-window ${window} ${extra}`,
    maxLifetimeMs: 170_000,
  });
  boards.push(b);
  await waitFor(() => backend.presence.isOnline(id) || b.proc.exitCode !== null);
  return { id, board: b };
}

const ota = otaRest(api, { firstVersion: 900, rpcTimeoutMs: 5000 });

it("a good update: written to the (RAM-backed) flash slot, verified, the module restarted on it and confirmed", { timeout: 120_000 }, async () => {
  const d = await board();
  expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", slot: "a" });
  const r = await backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 90_000 });
  expect(r).toEqual({ outcome: "succeeded" });
  expect((await ota.info(d.id)).app).toMatchObject({ version: ota.version, state: "confirmed", slot: "b", previous: 0, last: { outcome: "succeeded" } });
  await d.board.waitForLine(/module version \d+ started/);
});

it("refuses a bad signature and a downgrade by name; a module that traps at start, one that never connects and one never confirmed are rolled back", {
  timeout: 150_000,
}, async () => {
  const d = await board(8000);
  expect(await backend.updater.update(d.id, await ota.releaseOf(MODULE, { key: otherKey.privateKey }), { timeoutMs: 60_000 })).toEqual({
    outcome: "rejected",
    reason: "bad_signature",
  });
  expect(await backend.updater.update(d.id, await ota.releaseOf(trapAtStartModule()), { timeoutMs: 60_000 })).toEqual({
    outcome: "rolled_back",
    reason: "trap_at_start",
  });
  expect(await backend.updater.update(d.id, await ota.releaseOf(neverConnectsModule()), { timeoutMs: 60_000 })).toEqual({
    outcome: "rolled_back",
    reason: "no_connection",
  });
  const nc = await backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 60_000, skipConfirm: true });
  if (process.env.OTA_DEBUG) console.log(d.board.lines.join("\n"));
  expect(nc).toEqual({
    outcome: "rolled_back",
    reason: "not_confirmed",
  });
  expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "rolled_back", reason: "not_confirmed" } });
  expect(await backend.updater.update(d.id, await ota.upload(release(MODULE, 0 + 0 || 1)), { timeoutMs: 60_000 })).toMatchObject({ outcome: "succeeded" });
  expect(await backend.updater.update(d.id, await ota.upload(release(Buffer.concat([MODULE, Buffer.from([0])]), 1)), { timeoutMs: 60_000 })).toEqual({
    outcome: "rejected",
    reason: "not_newer",
  });
});

it("bad bytes are refused at ota.finish (hash_mismatch); a transfer cut mid-way (the link dropped) still ends succeeded", {
  timeout: 150_000,
}, async () => {
  // Through a relay the test can cut: QEMU's USART1 dials it, it dials the broker.
  const { createServer, connect } = await import("node:net");
  const { freePort } = await import("./support/mosquitto.ts");
  const sockets = new Set<import("node:net").Socket>();
  let writes = 0;
  let cutAt = 0;
  const relay = createServer((a) => {
    const b = connect(Number(new URL(backend.mqttUrl).port), "127.0.0.1");
    sockets.add(a);
    a.on("data", (d) => {
      b.write(d);
    });
    b.on("data", (d) => {
      if (d.includes("ota.write")) writes++;
      if (cutAt && writes === cutAt) {
        cutAt = 0;
        a.destroy();
        b.destroy();
        return;
      }
      a.write(d);
    });
    a.on("close", () => b.destroy());
    b.on("close", () => a.destroy());
    a.on("error", () => {});
    b.on("error", () => {});
  });
  const port = await freePort();
  await new Promise<void>((r) => relay.listen(port, "127.0.0.1", r));
  const id = `ota-stm32-${++seq}`;
  const { credential } = backend.registry.addDevice(id);
  const b = bootFirmware({
    elf: firmwareElf,
    linkPort: port,
    append: `--id ${id} --password ${credential} --ota-key ${releaseKey.publicKey} --ota-window 8000`,
    maxLifetimeMs: 170_000,
  });
  boards.push(b);
  try {
    await waitFor(() => backend.presence.isOnline(id));
    const call = async (method: string, params: unknown) =>
      (await api(`/api/v1/devices/${id}/rpc?timeout_ms=5000`, { method: "POST", json: { jsonrpc: "2.0", id: 1, method, params } })).body;
    const r = release(MODULE, ota.nextVersion());
    expect((await call("ota.begin", { manifest: r.manifest, signature: r.signature })).result).toMatchObject({ offset: 0, chunk: 600 });
    const bad = Buffer.from(MODULE);
    bad[99] ^= 0x10;
    for (let o = 0; o < bad.length; o += 600) await call("ota.write", { offset: o, data: bad.subarray(o, o + 600).toString("base64") });
    expect((await call("ota.finish", {})).error).toMatchObject({ code: -32049, message: "hash_mismatch" });
    expect((await ota.info(id)).app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "failed", reason: "hash_mismatch" } });
    // Cut the link as the 10th chunk goes out; the device keeps what it wrote, the backend resumes after the reconnect.
    writes = 0;
    cutAt = 10;
    expect(await backend.updater.update(id, await ota.releaseOf(MODULE), { timeoutMs: 90_000 })).toEqual({ outcome: "succeeded" });
  } finally {
    await b.stop();
    for (const s of sockets) s.destroy();
    relay.close();
  }
});

it("a power cut at the write, the switch and the confirm (a reset, the RAM slots kept) leaves a verified module running and says what happened", {
  timeout: 150_000,
}, async () => {
  // A clean session, so that the broker does not hand the restarted board the request it died in (it would finish
  // the update at once, which is right but hides the state the board came back with).
  const d = await board(8000, "--clean 1 --power-cuts 1");
  const call = async (method: string, params: unknown, timeoutMs = 5000) =>
    (await api(`/api/v1/devices/${d.id}/rpc?timeout_ms=${timeoutMs}`, { method: "POST", json: { jsonrpc: "2.0", id: 1, method, params } })).body;
  const restarts = () => d.board.lines.filter((l) => l === "restarted after a power cut").length;
  const backOnline = async (n: number) => {
    await waitFor(() => restarts() === n);
    await waitFor(async () => (await ota.info(d.id).catch(() => undefined)) !== undefined);
  };
  const chunks = otaWrites(MODULE, 600, 2048); // compressed chunks (the board announces deflate: 2048)

  // The write: reset once the 10th chunk is programmed, before its answer; back up, the backend resumes from the offset.
  expect((await call("test.power_cut", { step: "chunk-written", after: 10 })).result).toEqual({ armed: true });
  const v1 = ota.version + 1;
  expect(await backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 60_000 })).toEqual({ outcome: "succeeded" });
  expect(d.board.lines).toContain("power cut at chunk-written");
  expect(restarts()).toBe(1);
  expect((await ota.info(d.id)).app).toMatchObject({ version: v1, state: "confirmed", slot: "b", previous: 0, last: { outcome: "succeeded" } });

  // The switch: half-way through programming the record that makes the new slot pending (ota.begin writes one record,
  // each chunk one, ota.finish the switch): that copy fails its CRC, the other one names the running slot.
  expect((await call("test.power_cut", { step: "record-written", after: chunks + 2 })).result).toEqual({ armed: true });
  const v2 = await ota.releaseOf(MODULE);
  const stop = new AbortController();
  const first = backend.updater.update(d.id, v2, { timeoutMs: 60_000, signal: stop.signal });
  await d.board.waitForLine(/^power cut at record-written$/, 60_000);
  stop.abort(); // so that what the board came back with can be seen before anyone finishes the update
  expect(await first).toEqual({ outcome: "failed", reason: "aborted" });
  await backOnline(2);
  expect((await ota.info(d.id)).app).toMatchObject({ version: v1, state: "confirmed", slot: "b", transfer: { offset: MODULE.length } });
  expect(await backend.updater.update(d.id, v2, { timeoutMs: 60_000 })).toEqual({ outcome: "succeeded" });
  expect((await ota.info(d.id)).app).toMatchObject({ version: v1 + 1, state: "confirmed", slot: "a", previous: v1 });

  // The confirm: the new module up and pending, the power goes half-way through the record ota.confirm writes; the
  // record before it says pending and tried, so the start rolls back to the confirmed slot.
  const pending = backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 60_000, skipConfirm: true });
  await waitFor(async () => (await ota.info(d.id).catch(() => undefined))?.app?.state === "pending");
  expect((await call("test.power_cut", { step: "record-written", after: 1 })).result).toEqual({ armed: true });
  await call("ota.confirm", { version: v1 + 2 }, 1000); // never answered: the board resets in it
  await backOnline(3);
  expect(await pending).toEqual({ outcome: "rolled_back", reason: "restart_while_pending" });
  expect((await ota.info(d.id)).app).toMatchObject({
    version: v1 + 1,
    state: "confirmed",
    slot: "a",
    last: { outcome: "rolled_back", reason: "restart_while_pending" },
  });
  expect(d.board.proc.exitCode).toBeNull(); // one QEMU run throughout
});
