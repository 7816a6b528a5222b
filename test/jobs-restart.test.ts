// A job across a backend restart (issue 17): the job resumes from the registry; devices queued (offline) get their
// execution after the restart; an RPC that was in progress when the backend stopped is not sent again (it may have
// run: it ends timed_out, "interrupted"), and no device runs the job's method twice.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Device } from "../host/device.ts";
import type { Backend } from "../host/server/backend.ts";
import { simOtaMethods } from "../host/cli/sim-ota.ts";
import { freePort } from "./support/mosquitto.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { SimRpcUpdater, makeRelease, releaseKey, simRunningRelease, type SimRelease } from "./support/sim-updater.ts";

let backend: Backend;
let key: string;
const devices: Device[] = [];
const calls = new Map<string, number>();
const credentials = new Map<string, string>();
const signer = releaseKey();
const release = makeRelease(signer.privateKey, 3);
const releases = new Map<string, SimRelease>([[release.id, release]]);
const apps = new Map<string, () => { version: number; state: string }>();
let opts: { dataDir: string; port: number; mqttPort: number };

const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

/** Devices whose update, once done, never reports back (the backend "dies" before it hears the outcome). */
const hold = new Set<string>();
/** update() calls per device, across restarts. */
const updates = new Map<string, number>();

const start = () =>
  startTestBackend("jobs-restart", {
    ...opts,
    jobHeartbeatMs: 50,
    updater: ({ correlator }) => {
      const inner = new SimRpcUpdater(correlator, releases);
      return {
        update(id, releaseId, o) {
          updates.set(id, (updates.get(id) ?? 0) + 1);
          const done = inner.update(id, releaseId, o);
          return hold.has(id) ? done.then(() => new Promise<never>(() => {})) : done;
        },
      };
    },
    runningRelease: ({ correlator }) => simRunningRelease(correlator, releases),
  });

/** A module device that counts its slow.op calls; `hang` never answers them. */
async function connect(id: string, hang = false): Promise<void> {
  const ota = simOtaMethods({ publicKeys: [signer.publicHex], fails: false });
  apps.set(id, ota.app);
  const device = new Device({
    id,
    methods: {
      ...ota.methods,
      "slow.op": () => {
        calls.set(id, (calls.get(id) ?? 0) + 1);
        return hang ? new Promise(() => {}) : { done: true };
      },
    },
  });
  devices.push(device);
  await device.connect(backend.mqttUrl, { password: credentials.get(id), reconnect: { minMs: 50, maxMs: 200 } });
}

async function register(id: string, tags: string[]): Promise<void> {
  const created = await api("/api/v1/devices", { method: "POST", json: { id } });
  credentials.set(id, created.body.credential);
  expect((await api(`/api/v1/devices/${id}`, { method: "PATCH", json: { tags } })).status).toBe(200);
}

beforeAll(async () => {
  opts = { dataDir: mkdtempSync(join(tmpdir(), "outpost-jobs-restart-")), port: await freePort(), mqttPort: await freePort() };
  backend = await start();
  key = backend.registry.createApiKey().key;
});

afterAll(async () => {
  for (const d of devices) await d.close();
  await backend?.close();
});

describe("a job across a backend restart", () => {
  it("resumes: queued devices get their execution, the interrupted one is not sent again", async () => {
    for (const id of ["r-1", "r-2", "r-3", "r-4", "r-5", "off-1", "off-2"]) await register(id, ["restart"]);
    for (const id of ["r-1", "r-2", "r-3", "r-4", "r-5"]) await connect(id, id === "r-1");
    await waitFor(() => ["r-1", "r-2", "r-3", "r-4", "r-5"].every((id) => backend.presence.isOnline(id)));
    const rpc = (await api("/api/v1/jobs", { method: "POST", json: { selector: { tags: ["restart"] }, rpc: { method: "slow.op" }, timeout_ms: 60_000 } })).body;
    const rollout = (await api("/api/v1/jobs/rollouts", { method: "POST", json: { selector: { ids: ["off-1", "off-2"] }, rollout: { release: release.id } } }))
      .body;
    await waitFor(async () => {
      const c = (await api(`/api/v1/jobs/${rpc.id}`)).body.counts;
      return c.succeeded === 4 && c.in_progress === 1 && c.queued === 2;
    });
    expect(calls.get("r-1")).toBe(1);

    // A watcher of the waiting rollout: heartbeats while nothing happens, and the stream ends when the backend stops.
    const events = await fetch(`${backend.url}/api/v1/jobs/${rollout.id}/events`, { headers: { authorization: `Bearer ${key}` } });
    const reader = events.body!.getReader();
    let seen = "";
    while (!seen.includes(": heartbeat")) seen += new TextDecoder().decode((await reader.read()).value);
    expect(seen).toMatch(/^id: \d+\nevent: progress\ndata: \{/m);

    await backend.close();
    for (;;) if ((await reader.read()).done) break;
    backend = await start();
    // Resumed from the registry: the interrupted call is not re-sent; it may have run, so it is not a success either.
    const resumed = (await api(`/api/v1/jobs/${rpc.id}`)).body;
    expect(resumed).toMatchObject({ state: "in_progress", counts: { succeeded: 4, timed_out: 1, queued: 2, in_progress: 0 } });
    const executions = (await api(`/api/v1/jobs/${rpc.id}/executions`)).body;
    expect(executions.find((e: any) => e.device_id === "r-1")).toMatchObject({ state: "timed_out", attempts: 1 });
    expect(executions.find((e: any) => e.device_id === "r-1").reason).toMatch(/^interrupted/);
    expect((await api(`/api/v1/jobs/${rollout.id}`)).body).toMatchObject({ state: "in_progress", counts: { queued: 2 } });

    await connect("off-1");
    await connect("off-2");
    await waitFor(async () => (await api(`/api/v1/jobs/${rpc.id}`)).body.state === "completed");
    await waitFor(async () => (await api(`/api/v1/jobs/${rollout.id}`)).body.state === "completed");
    expect((await api(`/api/v1/jobs/${rpc.id}`)).body.counts).toMatchObject({ succeeded: 6, timed_out: 1 });
    expect((await api(`/api/v1/jobs/${rollout.id}`)).body.counts).toMatchObject({ succeeded: 2 });
    for (const id of ["off-1", "off-2"]) expect(apps.get(id)!()).toMatchObject({ version: 3, state: "confirmed" });
    // Nothing ran twice.
    expect(Object.fromEntries(calls)).toEqual({ "r-1": 1, "r-2": 1, "r-3": 1, "r-4": 1, "r-5": 1, "off-1": 1, "off-2": 1 });
  }, 60_000);

  it("checks an interrupted update against the device after the restart instead of updating it again", async () => {
    await register("hold-1", ["hold"]);
    await connect("hold-1");
    await waitFor(() => backend.presence.isOnline("hold-1"));
    hold.add("hold-1");
    const job = (await api("/api/v1/jobs/rollouts", { method: "POST", json: { selector: { ids: ["hold-1"] }, rollout: { release: release.id } } })).body;
    await waitFor(() => apps.get("hold-1")!().state === "confirmed" && apps.get("hold-1")!().version === 3);
    expect((await api(`/api/v1/jobs/${job.id}`)).body.counts).toMatchObject({ in_progress: 1 });

    hold.delete("hold-1");
    await backend.close();
    backend = await start();
    await waitFor(async () => (await api(`/api/v1/jobs/${job.id}`)).body.state === "completed");
    const [execution] = (await api(`/api/v1/jobs/${job.id}/executions`)).body;
    expect(execution).toMatchObject({ state: "succeeded", attempts: 1 });
    expect(execution.reason).toMatch(/checked after a restart/);
    expect(updates.get("hold-1")).toBe(1); // not updated a second time
  }, 60_000);
});
