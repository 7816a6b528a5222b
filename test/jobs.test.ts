// Fleet jobs end to end (issue 17): 1,000 simulated module devices (outpost sim's library form) on the embedded
// broker, jobs created over REST, the counts read over REST and the event stream. Never the clock: the ramp is
// asserted by the rate each device was sent its execution at.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import type { Backend } from "../host/server/backend.ts";
import { startSimFleet, type SimFleet } from "../host/cli/sim-fleet.ts";
import { startFleetDevice } from "../host/cli/fleet.ts";
import { apiClient, startTestBackend, waitFor } from "./support/api.ts";
import { ratePerMinute } from "../host/jobs/scheduler.ts";
import { brokenRule } from "../host/jobs/abort.ts";
import { emptyCounts } from "../host/jobs/types.ts";
import { RpcError } from "../host/device.ts";
import { SimRpcUpdater, makeRelease, releaseKey, simRunningRelease, type SimRelease } from "./support/sim-updater.ts";

const FLEET = 1000;
let backend: Backend;
let key: string;
let fleet: SimFleet;
let updater: SimRpcUpdater;
const releases = new Map<string, SimRelease>();
const signer = releaseKey();
const release = makeRelease(signer.privateKey, 1);
releases.set(release.id, release);

const api = apiClient(
  () => backend.url,
  () => `Bearer ${key}`,
);

async function finished(id: string) {
  let job: any;
  await waitFor(async () => {
    job = (await api(`/api/v1/jobs/${id}`)).body;
    return job.state !== "in_progress" && job.in_flight === 0;
  });
  return job;
}

async function allExecutions(id: string): Promise<any[]> {
  const out: any[] = [];
  let path: string | undefined = `/api/v1/jobs/${id}/executions?limit=1000`;
  while (path) {
    const res: Response = await fetch(backend.url + path, { headers: { authorization: `Bearer ${key}` } });
    out.push(...((await res.json()) as any[]));
    path = /<([^>]+)>; rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
  }
  return out;
}

beforeAll(async () => {
  backend = await startTestBackend("jobs", {
    updater: ({ correlator }) => (updater = new SimRpcUpdater(correlator, releases)),
    runningRelease: ({ correlator }) => simRunningRelease(correlator, releases),
  });
  key = backend.registry.createApiKey().key;
  fleet = await startSimFleet({
    url: backend.url,
    key,
    mqttUrl: backend.mqttUrl,
    count: FLEET,
    tags: ["pump"],
    concurrency: 64,
    ota: { publicKeys: [signer.publicHex], failFraction: 0.1 },
  });
  expect(fleet.failures).toEqual([]);
  await waitFor(() => fleet.ids.every((id) => backend.presence.isOnline(id)));
}, 120_000);

afterAll(async () => {
  await fleet?.close();
  await backend?.close();
});

describe("RPC jobs", () => {
  it("runs one RPC on 1,000 devices, with the counts on REST and on the event stream", async () => {
    const created = await api("/api/v1/jobs", {
      method: "POST",
      json: { selector: { tags: ["pump"] }, rpc: { method: "echo", params: ["hi"] }, max_in_flight: 100 },
    });
    expect(created.status).toBe(201);
    expect(created.body.counts.total).toBe(FLEET);
    // The event stream: progress events with rising ids, then one end event with the final counts.
    const res = await fetch(`${backend.url}/api/v1/jobs/${created.body.id}/events`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const text = await res.text(); // the stream ends after the end event
    const events = text
      .split("\n\n")
      .filter((b) => b.includes("event: "))
      .map((b) => ({ id: Number(/^id: (\d+)/m.exec(b)![1]), event: /^event: (\w+)/m.exec(b)![1], data: JSON.parse(/^data: (.*)$/m.exec(b)![1]) }));
    expect(events.at(-1)!.event).toBe("end");
    for (let i = 1; i < events.length; i++) expect(events[i].id).toBeGreaterThanOrEqual(events[i - 1].id);
    const job = await finished(created.body.id);
    expect(job.state).toBe("completed");
    expect(job.counts).toMatchObject({ total: FLEET, succeeded: FLEET, queued: 0, in_progress: 0 });
    expect(events.at(-1)!.data.counts.succeeded).toBe(FLEET);
    const executions = await allExecutions(created.body.id);
    expect(executions).toHaveLength(FLEET);
    expect(new Set(executions.map((e) => e.device_id)).size).toBe(FLEET);
    for (const e of executions) expect(e).toMatchObject({ state: "succeeded", attempts: 1, result: ["hi"] });
  }, 60_000);

  it("ramps as configured: each step of every_notified devices goes out at base x factor^step, capped at max_per_minute", async () => {
    const ids = fleet.ids.slice(0, 100);
    const created = await api("/api/v1/jobs", {
      method: "POST",
      json: {
        selector: { ids },
        rpc: { method: "echo", params: [1] },
        rate: { max_per_minute: 48_000, ramp: { base_per_minute: 6000, factor: 2, every_notified: 20 } },
      },
    });
    expect(created.status).toBe(201);
    const job = await finished(created.body.id);
    expect(job.counts.succeeded).toBe(100);
    // In the job's order, which is the order they were sent in.
    const inOrder = (await allExecutions(job.id)).map((e) => e.rate_per_minute);
    expect(inOrder).toEqual([...Array(20).fill(6000), ...Array(20).fill(12_000), ...Array(20).fill(24_000), ...Array(40).fill(48_000)]);
  }, 30_000);

  it("answers each hostile job with its own named 400", async () => {
    const good = { selector: { tags: ["pump"] }, rpc: { method: "echo" } };
    const cases: [string, unknown][] = [
      ["bad_selector", { ...good, selector: {} }],
      ["bad_selector", { ...good, selector: { tags: ["no spaces allowed"] } }],
      ["bad_selector", { ...good, selector: { ids: "dev-1" } }],
      ["bad_selector", { ...good, selector: { metadata: { room: { nested: 1 } } } }],
      ["bad_selector", { rpc: { method: "echo" } }],
      ["no_devices_selected", { ...good, selector: { tags: ["nobody-has-this"] } }],
      ["params_too_large", { ...good, rpc: { method: "echo", params: ["x".repeat(20_000)] } }],
      ["bad_rpc", { ...good, rpc: { method: 5 } }],
      ["bad_rpc", { ...good, rpc: { method: "echo", params: "x" } }],
      ["bad_rate", { ...good, rate: { max_per_minute: -5 } }],
      ["bad_rate", { ...good, rate: { max_per_minute: 1.5 } }],
      ["bad_rate", { ...good, rate: { ramp: { base_per_minute: 10, factor: 0.5, every_notified: 5 } } }],
      ["bad_rate", { ...good, rate: { ramp: { base_per_minute: 10, factor: 2 } } }],
      ["bad_rate", { ...good, rate: { max_per_minute: 5, ramp: { base_per_minute: 10, factor: 2, every_notified: 5 } } }],
      ["bad_abort_rule", { ...good, abort: [{ on: ["exploded"], threshold_pct: 5 }] }],
      ["bad_abort_rule", { ...good, abort: [{ on: ["failed"], threshold_pct: 500 }] }],
      ["bad_abort_rule", { ...good, abort: [{ on: ["failed"], threshold_pct: 5, min_executed: -1 }] }],
      ["bad_timeout", { ...good, timeout_ms: 0 }],
      ["bad_retries", { ...good, retries: { max: 99 } }],
      ["bad_retries", { ...good, retries: { max: 1, on: ["rejected"] } }],
      ["bad_expiry", { ...good, expires_in_s: -1 }],
      ["bad_max_in_flight", { ...good, max_in_flight: 0 }],
      ["bad_job_kind", { selector: { tags: ["pump"] } }],
      ["bad_job_kind", { ...good, rollout: { release: release.id } }],
      ["unknown_field", { ...good, colour: "red" }],
      ["unknown_field", { ...good, rate: { max_per_minute: 5, burst: 9 } }],
      ["unknown_field", { ...good, selector: { tags: ["pump"], everything: true } }],
      ["rollout_on_jobs_route", { selector: { tags: ["pump"] }, rollout: { release: release.id } }],
    ];
    for (const [name, body] of cases) {
      const res = await api("/api/v1/jobs", { method: "POST", json: body });
      expect({ name, status: res.status, error: res.body.error }).toEqual({ name, status: 400, error: name });
    }
    const notObject = await api("/api/v1/jobs", { method: "POST", json: [1, 2] });
    expect(notObject.status).toBe(400);
    const tooBig = await api("/api/v1/jobs", { method: "POST", json: { ...good, rpc: { method: "echo", params: ["x".repeat(70_000)] } } });
    expect(tooBig).toMatchObject({ status: 413, body: { error: "body_too_large" } });
    expect((await api("/api/v1/jobs/job_nope")).body.error).toBe("unknown_job");
    expect((await api("/api/v1/jobs?state=exploded")).body.error).toBe("bad_state");
    expect((await api("/api/v1/jobs?cursor=xyz")).body.error).toBe("bad_cursor");
  });
});

describe("outpost job", () => {
  it("creates a job, follows it to the end and prints the final table; list and show read it back", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn("node", ["bin/outpost.js", "job", ...args, "--url", backend.url, "--key", key], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        p.stdout.on("data", (d) => (out += d));
        p.on("exit", (code) => resolve({ code, out }));
      });
    const ids = fleet.ids.slice(0, 50);
    const created = await run(["create", ...ids.flatMap((id) => ["--id", id]), "--rpc", "echo", "--params", '["cli"]', "--ramp", "600,2,10", "--watch"]);
    expect(created.code).toBe(0);
    const id = /^job (job_[0-9a-f]+) \(rpc\) completed$/m.exec(created.out)?.[1];
    expect(id).toBeDefined();
    expect(created.out).toMatch(/^ {2}succeeded +50$/m);
    const shown = await run(["show", id!, "--json"]);
    expect(JSON.parse(shown.out)).toMatchObject({ id, state: "completed", counts: { succeeded: 50, total: 50 } });
    expect((await run(["list"])).out).toContain(`${id}\trpc\tcompleted\t50/50 succeeded`);
    const refused = await run(["create", "--tag", "pump", "--rpc", "echo", "--max-in-flight", "5000"]);
    expect(refused.code).toBe(1);
  }, 60_000);
});

describe("offline devices and cancel", () => {
  it("sends an offline device its execution when it connects", async () => {
    const created = await api("/api/v1/devices", { method: "POST", json: { id: "late-1" } });
    await api("/api/v1/devices/late-1", { method: "PATCH", json: { tags: ["late"] } });
    const job = (await api("/api/v1/jobs", { method: "POST", json: { selector: { tags: ["late"] }, rpc: { method: "echo", params: ["later"] } } })).body;
    await new Promise((r) => setTimeout(r, 100));
    const waiting = (await api(`/api/v1/jobs/${job.id}`)).body;
    expect(waiting).toMatchObject({ state: "in_progress", counts: { queued: 1, succeeded: 0 } });
    const device = await startFleetDevice(backend.mqttUrl, "late-1", created.body.credential);
    try {
      const done = await finished(job.id);
      expect(done).toMatchObject({ state: "completed", counts: { succeeded: 1 } });
      expect((await allExecutions(job.id))[0]).toMatchObject({ device_id: "late-1", state: "succeeded", result: ["later"] });
    } finally {
      await device.close();
    }
  });

  it("cancels a job: the devices not reached are cancelled, a second cancel is 409", async () => {
    await api("/api/v1/devices", { method: "POST", json: { id: "never-1" } });
    await api("/api/v1/devices/never-1", { method: "PATCH", json: { tags: ["never"] } });
    const job = (await api("/api/v1/jobs", { method: "POST", json: { selector: { tags: ["never"] }, rpc: { method: "echo" } } })).body;
    const cancelled = await api(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" });
    expect(cancelled).toMatchObject({ status: 200, body: { state: "cancelled", counts: { cancelled: 1, queued: 0 } } });
    expect((await api(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" })).body.error).toBe("job_ended");
  });
});

describe("retries and expiry", () => {
  it("retries a failed execution as many times as asked, and counts the sends", async () => {
    const created = await api("/api/v1/devices", { method: "POST", json: { id: "flaky-1" } });
    await api("/api/v1/devices/flaky-1", { method: "PATCH", json: { tags: ["flaky"] } });
    let calls = 0;
    const device = await startFleetDevice(backend.mqttUrl, "flaky-1", created.body.credential, {
      "flaky.op": () => {
        if (++calls < 3) throw new RpcError(-32001, "not yet");
        return { calls };
      },
    });
    await waitFor(() => backend.presence.isOnline("flaky-1"));
    try {
      const job = (await api("/api/v1/jobs", { method: "POST", json: { selector: { tags: ["flaky"] }, rpc: { method: "flaky.op" }, retries: { max: 2 } } }))
        .body;
      expect((await finished(job.id)).counts).toMatchObject({ succeeded: 1, failed: 0 });
      expect((await allExecutions(job.id))[0]).toMatchObject({ state: "succeeded", attempts: 3, result: { calls: 3 } });
      calls = 0;
      const once = (await api("/api/v1/jobs", { method: "POST", json: { selector: { tags: ["flaky"] }, rpc: { method: "flaky.op" }, retries: { max: 1 } } }))
        .body;
      expect((await finished(once.id)).counts).toMatchObject({ succeeded: 0, failed: 1 });
      expect((await allExecutions(once.id))[0]).toMatchObject({ state: "failed", attempts: 2 });
      expect(calls).toBe(2);
    } finally {
      await device.close();
    }
  });

  it("cancels the devices still offline when the job expires", async () => {
    await api("/api/v1/devices", { method: "POST", json: { id: "asleep-1" } });
    await api("/api/v1/devices/asleep-1", { method: "PATCH", json: { tags: ["asleep"] } });
    const job = (await api("/api/v1/jobs", { method: "POST", json: { selector: { tags: ["asleep"] }, rpc: { method: "echo" }, expires_in_s: 1 } })).body;
    const done = await finished(job.id);
    expect(done).toMatchObject({ state: "expired", counts: { cancelled: 1 } });
    expect((await allExecutions(job.id))[0]).toMatchObject({ state: "cancelled", reason: "expired", attempts: 0 });
  });
});

describe("the rules as functions", () => {
  it("ramps on succeeded devices too, and never above the maximum", () => {
    const rate = { max_per_minute: 100, ramp: { base_per_minute: 10, factor: 3, every_succeeded: 5 } };
    expect([0, 4, 5, 9, 10, 15, 1000].map((s) => ratePerMinute(rate, 1_000_000, s))).toEqual([10, 10, 30, 30, 90, 100, 100]);
    expect(ratePerMinute({}, 5, 5)).toBeUndefined();
    expect(ratePerMinute({ max_per_minute: 7 }, 5, 5)).toBe(7);
  });

  it("applies an abort rule only from its minimum, and only to its failure kinds", () => {
    const rules = [{ on: ["rolled_back" as const], threshold_pct: 10, min_executed: 10 }];
    const counts = { ...emptyCounts(), succeeded: 8, rolled_back: 1, failed: 0 };
    expect(brokenRule(rules, counts)).toBeUndefined(); // 9 executed: under the minimum
    expect(brokenRule(rules, { ...counts, rolled_back: 0, failed: 5 })).toBeUndefined(); // 13 executed, but failed is not its kind
    expect(brokenRule(rules, { ...counts, succeeded: 9 })).toMatch(/1 of 10 executed \(10.0%\)/);
    expect(brokenRule(rules, { ...counts, succeeded: 9, cancelled: 500 })).toMatch(/1 of 10/); // cancelled never ran
  });
});

describe("rollouts", () => {
  it("aborts at its threshold when 10% of the devices roll back, and leaves the rest untouched", async () => {
    const created = await api("/api/v1/jobs/rollouts", {
      method: "POST",
      json: {
        selector: { tags: ["pump"] },
        rollout: { release: release.id },
        max_in_flight: 10,
        abort: [{ on: ["failed", "rolled_back"], threshold_pct: 5, min_executed: 100 }],
      },
    });
    expect(created.status).toBe(201);
    const job = await finished(created.body.id);
    expect(job.state).toBe("aborted");
    const executed = job.counts.succeeded + job.counts.rolled_back + job.counts.failed;
    expect(executed).toBeGreaterThanOrEqual(100);
    expect(executed).toBeLessThan(200);
    expect((job.counts.rolled_back * 100) / executed).toBeGreaterThanOrEqual(5);
    expect(job.counts.cancelled).toBe(FLEET - executed);
    for (const e of await allExecutions(job.id)) {
      const sim = fleet.devices.get(e.device_id)!.ota!;
      const app = sim.app();
      if (e.state === "cancelled") {
        // Never sent anything: no ota.begin, still on the built-in module.
        expect(updater.begun.get(e.device_id)).toBeUndefined();
        expect(sim.calls()).toBe(0);
        expect(app.version).toBe(0);
      } else if (e.state === "succeeded") expect(app).toMatchObject({ version: 1, state: "confirmed" });
      else {
        // Reported as rolled back only by a device that runs the old module.
        expect(e.state).toBe("rolled_back");
        expect(sim.fails).toBe(true);
        expect(app.version).toBe(0);
      }
    }
  }, 60_000);
});
