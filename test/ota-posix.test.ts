// OTA on the native POSIX device (boards/posix, docs/ota.md): slots as files, Ed25519 through Monocypher, the
// module restarted in the same process (wasm3 torn down and loaded again); a power cut is the process dying
// (OUTPOST_OTA_CRASH_AT), and a restart is a new process on the same --ota-dir.
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import type { Backend } from "../host/server/backend.ts";
import { wasmBytes } from "../host/engine.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { memoryHungryModule, neverConnectsModule, otaRest, otaWrites, otherKey, release, releaseKey, trapAtStartModule } from "./support/ota.ts";

const nativeDevice = new URL("../boards/posix/build/outpost-device", import.meta.url).pathname;
const MODULE = wasmBytes();
let backend: Backend;
let key: string;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);
const procs: ChildProcess[] = [];
const ota = otaRest(api, { firstVersion: 500, rpcTimeoutMs: 3000 });

beforeAll(async () => {
  backend = await startTestBackend("ota-posix");
  key = backend.registry.createApiKey().key;
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await backend.close();
});

let seq = 0;
interface Native {
  id: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  /** Power on again: a new process on the same slots (env: e.g. a crash point for this run). */
  start(env?: Record<string, string>): Promise<void>;
}

async function native(opts: { window?: number; env?: Record<string, string>; clean?: boolean } = {}): Promise<Native> {
  const id = `ota-posix-${++seq}`;
  const { credential } = backend.registry.addDevice(id);
  const dir = mkdtempSync(join(tmpdir(), "outpost-ota-posix-"));
  const n: Native = {
    id,
    proc: undefined as unknown as ChildProcess,
    exited: Promise.resolve(null),
    async start(env = {}) {
      await waitFor(() => !backend.presence.isOnline(id)); // the last process's will first
      const args = ["--id", id, "--url", backend.mqttUrl, "--password", credential, "--ota-dir", dir, "--ota-key", releaseKey.publicKey];
      if (opts.window) args.push("--ota-window", String(opts.window));
      if (opts.clean) args.push("--clean");
      const proc = spawn(nativeDevice, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
      proc.stderr?.on("data", (b: Buffer) => {
        if (process.env.OTA_DEBUG) process.stderr.write(`[${id}] ${b}`);
      });
      procs.push(proc);
      n.proc = proc;
      n.exited = new Promise((r) => proc.on("exit", (code) => r(code)));
      await waitFor(() => backend.presence.isOnline(id) || proc.exitCode !== null);
    },
  };
  await n.start(opts.env);
  return n;
}

it("a good update: chunks sized to the device's 1 KiB requests, the module restarted in place, confirmed", async () => {
  const d = await native();
  const u = await ota.updateOverRest(d.id, await ota.releaseOf(MODULE));
  expect(u).toMatchObject({ outcome: "succeeded", bytes_sent: MODULE.length });
  expect((await ota.info(d.id)).app).toMatchObject({ version: u.version, state: "confirmed", slot: "b", previous: 0, last: { outcome: "succeeded" } });
  expect(d.proc.exitCode).toBeNull(); // one process throughout
  const u2 = await ota.updateOverRest(d.id, await ota.releaseOf(MODULE));
  expect((await ota.info(d.id)).app).toMatchObject({ version: u2.version, slot: "a", previous: u.version });
});

it("refuses a bad signature, a downgrade and a module too big by name; nothing changes", async () => {
  const d = await native();
  const before = (await ota.info(d.id)).app;
  expect(await ota.updateOverRest(d.id, await ota.releaseOf(MODULE, { key: otherKey.privateKey }))).toMatchObject({
    outcome: "rejected",
    reason: "bad_signature",
  });
  expect(await ota.updateOverRest(d.id, await ota.releaseOf(Buffer.alloc(70_000, 1)))).toMatchObject({ outcome: "rejected", reason: "too_big" });
  // Small enough for the slot, but it declares more memory (4 pages, 256 KiB) than the board's limit gives.
  expect(await ota.updateOverRest(d.id, await ota.releaseOf(memoryHungryModule(4)))).toMatchObject({ outcome: "rejected", reason: "too_big" });
  expect((await ota.info(d.id)).app).toEqual(before);
  const v = ota.nextVersion();
  expect((await ota.updateOverRest(d.id, await ota.releaseOf(MODULE, { version: v }))).outcome).toBe("succeeded");
  const lower = release(Buffer.concat([MODULE, Buffer.from([0])]), v - 100);
  expect(await ota.updateOverRest(d.id, await ota.upload(lower))).toMatchObject({ outcome: "rejected", reason: "not_newer" });
  expect((await ota.info(d.id)).app).toMatchObject({ version: v, state: "confirmed" });
});

it("bad bytes: ota.finish refuses hash_mismatch and the running module stays; hostile calls get named errors", async () => {
  const d = await native();
  const r = release(MODULE, ota.nextVersion());
  expect((await ota.call(d.id, "ota.write", { offset: 0, data: "AAAA" })).error.message).toBe("no_transfer");
  expect((await ota.call(d.id, "ota.begin", { manifest: "!!!!", signature: r.signature })).error.message).toBe("bad_manifest");
  expect((await ota.call(d.id, "ota.begin", { manifest: r.manifest, signature: "AAAA" })).error.message).toBe("bad_signature");
  expect((await ota.call(d.id, "ota.begin", { manifest: r.manifest, signature: r.signature })).result).toMatchObject({ offset: 0, chunk: 600, slot: "b" });
  expect((await ota.call(d.id, "ota.write", { offset: 9, data: "AAAA" })).error).toMatchObject({ code: -32047 });
  // Compressed chunks: not raw deflate (block type 3), a match before the module's start, an encoding it does not know.
  const deflate = (data: Buffer) => ({ offset: 0, data: data.toString("base64"), encoding: "deflate" });
  expect((await ota.call(d.id, "ota.write", deflate(Buffer.from([7])))).error).toMatchObject({ code: -32052, message: "bad_deflate: bad_block_type" });
  const back = Buffer.from(MODULE.subarray(0, 80));
  expect((await ota.call(d.id, "ota.write", deflate(deflateRawSync(back, { dictionary: back })))).error.message).toBe("bad_deflate: distance_too_far");
  expect((await ota.call(d.id, "ota.write", deflate(deflateRawSync(Buffer.alloc(3000))))).error.message).toBe("too_big");
  expect((await ota.call(d.id, "ota.write", { offset: 0, data: "AAAA", encoding: "br" })).error.message).toBe("bad_params");
  expect((await ota.call(d.id, "ota.write", { offset: 0, data: "AAAA", encoding: 5 })).error.message).toBe("bad_params");
  expect((await ota.call(d.id, "ota.write", { offset: 0, data: "A!AA" })).error.message).toBe("bad_params");
  expect((await ota.call(d.id, "ota.finish", {})).error.message).toBe("incomplete");
  const bad = Buffer.from(MODULE);
  bad[7] ^= 1;
  for (let o = 0; o < bad.length; o += 600)
    expect((await ota.call(d.id, "ota.write", { offset: o, data: bad.subarray(o, o + 600).toString("base64") })).result).toBeDefined();
  expect((await ota.call(d.id, "ota.finish", {})).error).toMatchObject({ code: -32049, message: "hash_mismatch" });
  expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", transfer: null, last: { outcome: "failed", reason: "hash_mismatch" } });
});

it("a transfer cut mid-way (the device dies) resumes from its offset once it is back", async () => {
  const d = await native({ env: { OUTPOST_OTA_CRASH_AT: "chunk-written:10" } });
  const pending = backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 30_000 });
  expect(await d.exited).toBe(99);
  await d.start();
  // Ten chunks were durable when it died; the backend may already have sent more since it came back.
  expect((await ota.info(d.id)).app.transfer.offset).toBeGreaterThanOrEqual(6000);
  expect(await pending).toEqual({ outcome: "succeeded" });
});

it("a power cut at the switch and in the confirm window leaves a verified module running and says what happened", async () => {
  // At the switch: the pending record written but not renamed into place (the 1st record write after the last chunk).
  const chunks = otaWrites(MODULE, 600, 2048); // compressed chunks (the board announces deflate: 2048)
  {
    // A clean session: the broker must not hand the new process the ota.finish the old one died in (a kept session
    // would, and the device would finish the update at once, which is right but hides the state it booted with).
    const d = await native({ env: { OUTPOST_OTA_CRASH_AT: `record-written:${chunks + 2}` }, clean: true });
    const rel = await ota.releaseOf(MODULE);
    const stop = new AbortController();
    const first = backend.updater.update(d.id, rel, { timeoutMs: 30_000, signal: stop.signal });
    expect(await d.exited).toBe(99);
    stop.abort(); // so that what the device booted with can be seen before anyone finishes the update
    expect(await first).toEqual({ outcome: "failed", reason: "aborted" });
    await d.start();
    expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", transfer: { offset: MODULE.length } });
    expect(await backend.updater.update(d.id, rel, { timeoutMs: 30_000 })).toEqual({ outcome: "succeeded" });
  }
  // In the confirm window: the new module up, not confirmed, the power goes; on again it is rolled back.
  {
    const d = await native();
    const pending = backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 30_000, skipConfirm: true });
    await waitFor(async () => (await ota.info(d.id).catch(() => undefined))?.app?.state === "pending");
    d.proc.kill("SIGKILL");
    await d.exited;
    await d.start();
    expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "rolled_back", reason: "restart_while_pending" } });
    expect(await pending).toEqual({ outcome: "rolled_back", reason: "restart_while_pending" });
  }
});

it("a module that traps at start, one that never connects, one never confirmed: each rolled back with its reason", async () => {
  const d = await native({ window: 1500 });
  expect(await ota.updateOverRest(d.id, await ota.releaseOf(trapAtStartModule()))).toMatchObject({ outcome: "rolled_back", reason: "trap_at_start" });
  expect(await ota.updateOverRest(d.id, await ota.releaseOf(neverConnectsModule()))).toMatchObject({ outcome: "rolled_back", reason: "no_connection" });
  expect(await backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 30_000, skipConfirm: true })).toEqual({
    outcome: "rolled_back",
    reason: "not_confirmed",
  });
  expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "rolled_back", reason: "not_confirmed" } });
  expect(d.proc.exitCode).toBeNull();
});

it("refuses a release key that is not exactly 64 hex digits, by name, before it runs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "outpost-ota-key-"));
  const good = releaseKey.publicKey;
  for (const bad of [good.slice(0, 63), `${good}0`, `${good.slice(0, 62)}zz`, `${good.slice(0, 62)}+f`, ""]) {
    const proc = spawn(nativeDevice, ["--id", "k", "--url", backend.mqttUrl, "--ota-dir", dir, "--ota-key", bad], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr!.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => proc.once("exit", resolve));
    expect(code, bad).toBe(2);
    expect(stderr).toContain("--ota-key must be 64 hex digits");
  }
});
