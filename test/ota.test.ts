// OTA on the Node device (docs/ota.md), under V8 and under wasm3, through the real backend and broker: releases
// uploaded over REST, updates started over REST or through the Updater, the device's slots as files.
import { spawn } from "node:child_process";
import { deflateRawSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "../host/server/backend.ts";
import { OtaDevice } from "../host/ota/node-device.ts";
import { wasmBytes, type EngineName } from "../host/engine.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { neverConnectsModule, otaRest, otherKey, release, releaseKey, trapAtStartModule } from "./support/ota.ts";

let backend: Backend;
let key: string;
const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);
const devices: OtaDevice[] = [];
const ota = otaRest(api, { firstVersion: 100, updateTimeoutMs: 20_000 });
const MODULE = wasmBytes();

beforeAll(async () => {
  backend = await startTestBackend("ota");
  key = backend.registry.createApiKey().key;
});
afterAll(async () => {
  for (const d of devices) await d.close().catch(() => {});
  await backend.close();
});

let seq = 0;
interface Dev {
  id: string;
  dev: OtaDevice;
  dir: string;
  credential: string;
  /** Power back on: a new OtaDevice on the same slots. */
  reboot(): Promise<OtaDevice>;
}

async function device(engine: EngineName, ota: { confirmWindowMs?: number; chunk?: number; slotMax?: number; deflate?: number } = {}): Promise<Dev> {
  const id = `ota-${engine}-${++seq}`;
  const { credential } = backend.registry.addDevice(id);
  const dir = mkdtempSync(join(tmpdir(), "outpost-ota-dev-"));
  const make = () => new OtaDevice({ id, engine, ota: { dir, publicKeys: [releaseKey.publicKey], ...ota } });
  const d: Dev = {
    id,
    dir,
    credential,
    dev: make(),
    async reboot() {
      d.dev = make();
      devices.push(d.dev);
      await d.dev.connect(backend.mqttUrl, { password: credential });
      return d.dev;
    },
  };
  devices.push(d.dev);
  await d.dev.connect(backend.mqttUrl, { password: credential });
  await waitFor(() => backend.presence.isOnline(id));
  return d;
}

describe.each(["v8", "wasm3"] as EngineName[])("on %s", (engine) => {
  it("a good update: sent in chunks, restarted on the new module, confirmed; sys.info and GET /devices say so", async () => {
    const d = await device(engine);
    const rel = await ota.releaseOf(MODULE);
    const u = await ota.updateOverRest(d.id, rel);
    expect(u).toMatchObject({ outcome: "succeeded", state: "succeeded", bytes_sent: MODULE.length, total: MODULE.length });
    const app = (await ota.info(d.id)).app;
    expect(app).toMatchObject({ version: u.version, state: "confirmed", slot: "b", previous: 0, last: { version: u.version, outcome: "succeeded" } });
    expect(d.dev.restarts).toBe(1);
    const listed = (await api("/api/v1/devices")).body.find((x: { id: string }) => x.id === d.id);
    expect(listed.app).toMatchObject({ version: u.version, previous: 0, last_update: { release: rel, outcome: "succeeded" } });
    // A second update goes to the other slot; the first becomes the previous one.
    const u2 = await ota.updateOverRest(d.id, await ota.releaseOf(MODULE));
    expect(u2.outcome).toBe("succeeded");
    expect((await ota.info(d.id)).app).toMatchObject({ version: u2.version, slot: "a", previous: u.version });
  });

  it("refuses a bad signature, a downgrade, another ABI and a module too big, each by name with nothing changed", async () => {
    const d = await device(engine, { slotMax: MODULE.length });
    const before = (await ota.info(d.id)).app;
    const cases: [string, string][] = [
      [await ota.releaseOf(MODULE, { key: otherKey.privateKey }), "bad_signature"],
      [await ota.releaseOf(MODULE, { version: 0 + 1, abi: 99 }), "abi_unsupported"],
      [await ota.releaseOf(Buffer.concat([MODULE, Buffer.alloc(1)])), "too_big"],
    ];
    for (const [rel, reason] of cases) {
      const u = await ota.updateOverRest(d.id, rel);
      expect(u).toMatchObject({ outcome: "rejected", reason });
      expect((await ota.info(d.id)).app).toEqual(before);
    }
    // Up to a version, then that version again and a lower one: not_newer.
    const v = ota.nextVersion();
    expect((await ota.updateOverRest(d.id, await ota.releaseOf(MODULE, { version: v }))).outcome).toBe("succeeded");
    for (const version of [v, v - 50]) {
      const u = await ota.updateOverRest(
        d.id,
        await ota.upload(release(Buffer.concat([MODULE, Buffer.from([0])]).subarray(0, MODULE.length), version, { label: `again-${version}-${engine}` })),
      );
      expect(u).toMatchObject({ outcome: "rejected", reason: "not_newer" });
    }
    expect((await ota.info(d.id)).app).toMatchObject({ version: v, state: "confirmed" });
  });

  it("a chunk that does not match the manifest's hash: ota.finish refuses hash_mismatch, the running module stays", async () => {
    const d = await device(engine);
    const r = release(MODULE, ota.nextVersion());
    expect((await ota.call(d.id, "ota.begin", { manifest: r.manifest, signature: r.signature })).result).toMatchObject({ offset: 0, slot: "b" });
    const bad = Buffer.from(MODULE);
    bad[100] ^= 0xff;
    for (let o = 0; o < bad.length; o += 6000) await ota.call(d.id, "ota.write", { offset: o, data: bad.subarray(o, o + 6000).toString("base64") });
    expect((await ota.call(d.id, "ota.finish", {})).error).toMatchObject({ code: -32049, message: "hash_mismatch" });
    expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", transfer: null, last: { outcome: "failed", reason: "hash_mismatch" } });
    expect(d.dev.restarts).toBe(0);
    // The backend refuses such an upload itself.
    const wrong = { ...r, module: bad.toString("base64") };
    expect((await api("/api/v1/releases", { method: "POST", json: wrong })).body.error).toBe("hash_mismatch");
  });

  it("hostile ota.* calls get named errors and change nothing", async () => {
    const d = await device(engine);
    const r = release(MODULE, ota.nextVersion());
    expect((await ota.call(d.id, "ota.write", { offset: 0, data: "AAAA" })).error.message).toBe("no_transfer");
    expect((await ota.call(d.id, "ota.finish", {})).error.message).toBe("no_transfer");
    expect((await ota.call(d.id, "ota.begin", { manifest: "!!", signature: r.signature })).error.message).toBe("bad_manifest");
    expect((await ota.call(d.id, "ota.begin", { manifest: Buffer.from("[1]").toString("base64"), signature: r.signature })).error.message).toBe("bad_manifest");
    expect((await ota.call(d.id, "ota.begin", { manifest: r.manifest, signature: "AAAA" })).error.message).toBe("bad_signature");
    // Params that do not fit ota.begin's rpc.list schema are refused by the backend, before the device sees them.
    expect(await ota.call(d.id, "ota.begin", [1])).toMatchObject({ error: "invalid_params" });
    await ota.call(d.id, "ota.begin", { manifest: r.manifest, signature: r.signature });
    expect((await ota.call(d.id, "ota.write", { offset: 5, data: "AAAA" })).error).toMatchObject({ message: "bad_offset", data: "expected 0" });
    expect((await ota.call(d.id, "ota.write", { offset: 0, data: "not base64!" })).error.message).toBe("bad_params");
    expect((await ota.call(d.id, "ota.write", { offset: 0, data: Buffer.alloc(6003).toString("base64") })).error.message).toBe("too_big");
    // Compressed chunks: not raw deflate, a match before the module's start, more than the announced 16 KiB, an unknown encoding.
    const deflate = (data: Buffer) => ({ offset: 0, data: data.toString("base64"), encoding: "deflate" });
    expect((await ota.call(d.id, "ota.write", deflate(Buffer.from([7])))).error).toMatchObject({ code: -32052, message: "bad_deflate" });
    const back = MODULE.subarray(0, 80);
    expect((await ota.call(d.id, "ota.write", deflate(deflateRawSync(back, { dictionary: back })))).error.message).toBe("bad_deflate");
    expect((await ota.call(d.id, "ota.write", deflate(deflateRawSync(Buffer.alloc(17_000))))).error.message).toBe("too_big");
    expect((await ota.call(d.id, "ota.write", { offset: 0, data: "AAAA", encoding: "br" })).error.message).toBe("bad_params");
    expect((await ota.call(d.id, "ota.finish", {})).error.message).toBe("incomplete");
    expect((await ota.call(d.id, "ota.confirm", { version: 5 })).error.message).toBe("not_pending");
    expect((await ota.call(d.id, "ota.abort", {})).result).toEqual({ state: "idle" });
    expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", transfer: null });
  });

  it("a transfer cut mid-way resumes from the last written offset after the device reconnects", async () => {
    const d = await device(engine, { chunk: 2000, deflate: 0 }); // raw chunks: a device that announces no deflate
    let writes = 0;
    d.dev.store.crashPoint = (step) => {
      if (step === "chunk-written" && ++writes === 3) setImmediate(() => d.dev.device.mqtt?.destroySocket());
    };
    const u = await ota.updateOverRest(d.id, await ota.releaseOf(MODULE));
    expect(u.outcome).toBe("succeeded");
    // Every chunk written once: the transfer went on from its offset, not from 0.
    expect(writes).toBe(Math.ceil(MODULE.length / 2000));
  });

  it("a power cut at each step of write, switch and confirm leaves a verified module running, and says what happened", async () => {
    // During the write: on again, the old module runs with the transfer's offset kept; the update resumes.
    {
      const d = await device(engine, { chunk: 4000, deflate: 0 });
      let writes = 0;
      d.dev.store.crashPoint = (step) => {
        if (step === "chunk-written" && ++writes === 2) {
          void d.dev.powerCut();
          throw new Error("power cut");
        }
      };
      const rel = await ota.releaseOf(MODULE);
      const pending = backend.updater.update(d.id, rel, { timeoutMs: 20_000 });
      await waitFor(() => !backend.presence.isOnline(d.id));
      const on = await d.reboot();
      expect(on.agent.app().app).toMatchObject({ version: 0, state: "confirmed", transfer: { offset: 4000 } });
      expect(await pending).toEqual({ outcome: "succeeded" });
      expect(on.agent.app().app).toMatchObject({ state: "confirmed", last: { outcome: "succeeded" } });
    }
    // During the switch (the pending record written, not yet renamed into place): the old module, transfer complete; ota.finish again.
    {
      const d = await device(engine);
      d.dev.store.crashPoint = (step) => {
        if (step === "record-written" && d.dev.store.read().transfer?.offset === MODULE.length) {
          const tmp = d.dev.store.read(); // what is on storage: the transfer, complete
          if (tmp.pending === null) {
            void d.dev.powerCut();
            throw new Error("power cut");
          }
        }
      };
      const pending = backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 20_000 });
      await waitFor(() => !backend.presence.isOnline(d.id));
      const on = await d.reboot();
      expect(on.agent.app().app).toMatchObject({ version: 0, state: "confirmed" });
      expect(await pending).toEqual({ outcome: "succeeded" });
    }
    // After the switch, before the restart: on again, the pending module starts (its one try) and is confirmed.
    {
      const d = await device(engine);
      d.dev.store.crashPoint = (step) => {
        if (step === "pending") {
          void d.dev.powerCut();
          throw new Error("power cut");
        }
      };
      const rel = await ota.releaseOf(MODULE);
      const pending = backend.updater.update(d.id, rel, { timeoutMs: 20_000 });
      await waitFor(() => !backend.presence.isOnline(d.id));
      const on = await d.reboot();
      expect(on.agent.app().app).toMatchObject({ state: "pending" });
      expect(await pending).toEqual({ outcome: "succeeded" });
    }
    // In the confirm window (the new module up, not yet confirmed): on again, that start counts as failed: rolled back.
    {
      const d = await device(engine);
      const pending = backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 20_000, skipConfirm: true });
      await waitFor(() => d.dev.agent.running?.pending === true && backend.presence.isOnline(d.id));
      await d.dev.powerCut();
      const on = await d.reboot();
      expect(on.agent.app().app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "rolled_back", reason: "restart_while_pending" } });
      expect(await pending).toEqual({ outcome: "rolled_back", reason: "restart_while_pending" });
    }
  });

  it("an update cut off after ota.finish (the device pending on the release) is confirmed by the next one, not sent again", async () => {
    const d = await device(engine, { confirmWindowMs: 20_000 });
    const rel = await ota.releaseOf(MODULE);
    const cut = new AbortController();
    const first = backend.updater.update(d.id, rel, { timeoutMs: 20_000, skipConfirm: true, signal: cut.signal });
    await waitFor(() => d.dev.agent.running?.pending === true && backend.presence.isOnline(d.id));
    cut.abort(); // as a backend that stops between ota.finish and ota.confirm
    expect(await first).toEqual({ outcome: "failed", reason: "aborted" });
    const restarts = d.dev.restarts;
    const version = Number(/^v(\d+)-/.exec(rel)![1]);
    expect((await ota.info(d.id)).app).toMatchObject({ version, state: "pending" });
    // Without the check, its ota.begin is refused busy until the window rolls the device back.
    expect(await backend.updater.update(d.id, rel, { timeoutMs: 20_000 })).toEqual({ outcome: "succeeded" });
    expect(d.dev.restarts).toBe(restarts); // nothing sent again: no second ota.finish, no restart
    expect((await ota.info(d.id)).app).toMatchObject({ version, state: "confirmed" });
  });

  it("a module that traps at start is rolled back at once", async () => {
    const d = await device(engine);
    const u = await ota.updateOverRest(d.id, await ota.releaseOf(trapAtStartModule()));
    expect(u).toMatchObject({ outcome: "rolled_back", reason: "trap_at_start" });
    expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "rolled_back", reason: "trap_at_start" } });
  });

  it("a module that never connects is rolled back when the window ends", async () => {
    const d = await device(engine, { confirmWindowMs: 1500 });
    const u = await ota.updateOverRest(d.id, await ota.releaseOf(neverConnectsModule()));
    expect(u, JSON.stringify(u)).toMatchObject({ outcome: "rolled_back", reason: "no_connection" });
    expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "rolled_back", reason: "no_connection" } });
  });

  it("a module that connects but is never confirmed is rolled back when the window ends", async () => {
    const d = await device(engine, { confirmWindowMs: 1500 });
    const r = await backend.updater.update(d.id, await ota.releaseOf(MODULE), { timeoutMs: 20_000, skipConfirm: true });
    expect(r).toEqual({ outcome: "rolled_back", reason: "not_confirmed" });
    expect((await ota.info(d.id)).app).toMatchObject({ version: 0, state: "confirmed", last: { outcome: "rolled_back", reason: "not_confirmed" } });
    expect(d.dev.restarts).toBe(2);
  });
});

it("REST: uploads are checked; an update of an unknown device or release is 404, of an offline device 503; events on the stream", async () => {
  expect((await api("/api/v1/releases", { method: "POST", json: { manifest: "x", signature: "y" } })).status).toBe(400);
  const r = release(MODULE, ota.nextVersion());
  expect((await api("/api/v1/releases", { method: "POST", json: { ...r, manifest: Buffer.from("{}").toString("base64") } })).body.error).toBe("bad_manifest");
  expect((await api("/api/v1/releases", { method: "POST", json: { ...r, module: Buffer.from(MODULE.subarray(1)).toString("base64") } })).body.error).toBe(
    "size_mismatch",
  );
  const id = await ota.upload(r);
  expect((await api("/api/v1/releases", { method: "POST", json: r })).status).toBe(409);
  expect((await api("/api/v1/releases")).body.some((x: { id: string }) => x.id === id)).toBe(true);
  expect((await api("/api/v1/devices/nobody/update", { method: "POST", json: { release: id } })).status).toBe(404);
  const d = await device("v8");
  expect((await api(`/api/v1/devices/${d.id}/update`, { method: "POST", json: { release: "v1-nope" } })).body.error).toBe("unknown_release");
  const offline = backend.registry.addDevice("ota-offline").id;
  expect((await api(`/api/v1/devices/${offline}/update`, { method: "POST", json: { release: id } })).status).toBe(503);

  const events: string[] = [];
  const ac = new AbortController();
  const stream = await fetch(`${backend.url}/api/v1/devices/${d.id}/events`, { headers: { authorization: `Bearer ${key}` }, signal: ac.signal });
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) events.push(dec.decode(chunk));
  })().catch(() => {});
  expect((await ota.updateOverRest(d.id, id)).outcome).toBe("succeeded");
  await waitFor(() => events.join("").includes('"state":"succeeded"'));
  const text = events.join("");
  for (const state of ["queued", "sending", "verifying", "restarting", "confirming", "succeeded"]) expect(text).toContain(`"state":"${state}"`);
  expect(text).toContain("event: ota");
  ac.abort();
  await reading;
});

it("outpost update follows an update with a progress bar and exits 0 once it is confirmed, 1 with the refusal's name", async () => {
  const d = await device("v8");
  const rel = await ota.releaseOf(MODULE);
  const cli = (...args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const proc = spawn("node", ["bin/outpost.js", "update", ...args, "--url", backend.url], {
        cwd: join(import.meta.dirname, ".."),
        env: { ...process.env, OUTPOST_KEY: key },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      proc.stdout!.on("data", (b: Buffer) => (out += b));
      proc.stderr!.on("data", (b: Buffer) => (out += b));
      proc.once("exit", (code) => resolve({ code, out }));
    });
  const done = await cli(d.id, rel);
  expect(done.out, done.out).toContain(`${d.id}: succeeded`);
  expect(done.out).toMatch(new RegExp(`\\] ${MODULE.length}/${MODULE.length} bytes`)); // the bar reached the end
  expect(done.code).toBe(0);
  expect((await ota.info(d.id)).app).toMatchObject({ version: ota.version, state: "confirmed" });
  const refused = await cli(d.id, "v1-000000000000");
  expect(refused.code).toBe(1);
  expect(refused.out).toMatch(/unknown_release \(HTTP 404\)/);
}, 60_000);
