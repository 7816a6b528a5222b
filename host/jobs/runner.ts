// Runs jobs: sends each device its execution at the job's rate, at most max_in_flight at a time, holds back
// devices that are offline until they come online (or the job expires), retries what the job says to retry,
// applies the abort rules, and resumes from the registry after a restart. State is written before a send
// (queued -> in_progress), so a restart knows which executions may have run. With shared nodes (a Redis), each job
// runs on one node at a time, under a lease whose fencing token every state write is checked against.
import type { Redis } from "ioredis";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { Lease } from "../cluster/lease.ts";
import { FenceLost, type ExecutionChange, type JobRecord, type JobStore } from "../registry/jobs.ts";
import type { DeviceTags } from "../registry/tags.ts";
import type { RpcCorrelator } from "../rpc/correlator.ts";
import { brokenRule } from "./abort.ts";
import { JobEvents } from "./events.ts";
import { executeRollout, executeRpc, sysInfoRunningRelease, type Outcome, type RunningRelease } from "./execute.ts";
import { TokenBucket, ratePerMinute } from "./scheduler.ts";
import { selectDevices } from "./selector.ts";
import type { JobSpec } from "./spec.ts";
import type { Counts, JobState, Updater } from "./types.ts";

export interface RunnerDeps {
  store: JobStore;
  tags: DeviceTags;
  presence: { isOnline(id: string): boolean; onOnline(l: (id: string) => void): void };
  correlator: Pick<RpcCorrelator, "call">;
  /** How rollouts reach a device (host/ota/updater.ts). Without one, a rollout job is refused. */
  updater?: Updater;
  /** Whether a device runs a release (default: its sys.info `app`). */
  runningRelease?: RunningRelease;
  /** A device that was busy (its queue full, or suspect) is tried again after this long (default 250 ms). */
  busyRetryMs?: number;
  /** Progress events at most this often per job (default 100 ms). */
  eventsEveryMs?: number;
  /** The fleet event stream (GET /api/v1/events): `event: job` with the job's counts as they change (coalesced). */
  publish?(type: "job", data: unknown): void;
  log?(msg: string, fields?: Record<string, unknown>): void;
  /**
   * Shared nodes: run each job under a lease in this Redis (key outpost:lease:job:<id>), renewed every third of
   * `ttlMs`; every node looks for jobs whose lease nobody holds every half `ttlMs` and takes them over.
   */
  lease?: { redis: Redis; ttlMs: number };
  /** Whether a device is still registered: a deleted one's execution is cancelled, not left waiting to expire. */
  exists?(id: string): boolean;
}

export class NoUpdater extends Error {
  override name = "NoUpdater";
}
export class UnknownJob extends Error {
  override name = "UnknownJob";
}
export class JobEnded extends Error {
  override name = "JobEnded";
}

/** How soon buffered execution states the database refused are written again. */
const WRITE_RETRY_MS = 1000;
/** setTimeout's longest delay; a longer expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the runner holds in memory for a job in progress. */
class ActiveJob {
  /** Queued devices believed online, in the job's order. */
  ready: string[] = [];
  readyAt = 0;
  /** Queued devices that were offline when their turn came. */
  readonly waiting = new Set<string>();
  readonly inFlight = new Map<string, AbortController>();
  /** Sends so far per device (a retry is allowed while it is at most retries.max + 1). */
  readonly attempts = new Map<string, number>();
  readonly bucket = new TokenBucket();
  counts: Counts;
  notified: number;
  timer?: NodeJS.Timeout;
  expiry?: NodeJS.Timeout;
  /** Rollout executions interrupted by a restart, waiting for their device to come back. */
  readonly resuming = new Set<string>();
  /** A pump is scheduled for the end of this turn. */
  pumpDue = false;
  /** Set when the job stopped: nothing more is sent; in-flight executions still record their outcome. */
  stopped = false;
  /** Shared nodes: the lease this node runs the job under, and its fencing token (checked by every write). */
  lease?: Lease;
  token?: number;
  renewal?: NodeJS.Timeout;

  constructor(
    readonly record: JobRecord,
    counts: Counts,
    notified: number,
  ) {
    this.counts = counts;
    this.notified = notified;
  }

  get spec(): JobSpec {
    return this.record.spec;
  }

  next(): string | undefined {
    if (this.readyAt >= this.ready.length) return undefined;
    const id = this.ready[this.readyAt++];
    if (this.readyAt > 1024 && this.readyAt * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyAt);
      this.readyAt = 0;
    }
    return id;
  }

  putBack(): void {
    this.readyAt--;
  }
}

export class JobRunner {
  readonly events: JobEvents;
  private readonly active = new Map<string, ActiveJob>();
  /** Device -> jobs in which it waits to come online. */
  private readonly waitingFor = new Map<string, Set<string>>();
  private readonly runningRelease: RunningRelease;
  private closed = false;
  private writes: ExecutionChange[] = [];
  /** Shared nodes: who this runner is in the leases it holds (host name, pid, random). */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  /** Shared nodes: jobs whose lease is being asked for, the look for abandoned jobs, jobs seen run elsewhere. */
  private readonly taking = new Set<string>();
  private scanTimer?: NodeJS.Timeout;
  private readonly elsewhere = new Set<string>();

  constructor(private readonly deps: RunnerDeps) {
    this.runningRelease = deps.runningRelease ?? sysInfoRunningRelease(deps.correlator);
    this.events = new JobEvents((id) => this.snapshot(id), deps.eventsEveryMs);
    const publish = deps.publish;
    if (publish)
      this.events.listenAll((_id, _revision, event, view) => {
        const { id, state, reason, counts, in_flight } = view as ReturnType<JobRunner["view"]>;
        publish("job", { job: id, state, reason, counts, in_flight, ended: event === "end" });
      });
    deps.presence.onOnline((id) => this.cameOnline(id));
  }

  /** Creates a job from a checked spec (throws JobSpecError for a selector that matches nothing) and starts it. */
  create(spec: JobSpec): JobRecord {
    if (spec.rollout && !this.deps.updater) throw new NoUpdater("this backend has no updater: rollouts are not available");
    const devices = selectDevices(this.deps.tags, spec.selector);
    const record = this.deps.store.create(spec, devices);
    if (this.deps.lease) {
      void this.take(record.id); // or another node's look for jobs takes it first: either way one node runs it
      return record;
    }
    const job = new ActiveJob(record, this.deps.store.counts(record.id), 0);
    job.ready = devices;
    this.activate(job);
    return this.deps.store.get(record.id)!;
  }

  /** Picks up every job left in progress (a backend restart) and what its executions were doing. */
  resume(): void {
    if (this.deps.lease) {
      this.scanTimer = setInterval(
        () => {
          try {
            this.scan();
          } catch {
            // the registry's database is away: the next scan looks again
          }
        },
        Math.max(1, Math.floor(this.deps.lease.ttlMs / 2)),
      );
      this.scanTimer.unref();
      return this.scan();
    }
    for (const record of this.deps.store.running()) this.resumeJob(record);
  }

  /** Runs a job left in progress, by a restart or (shared nodes) by a node that lost or dropped its lease. */
  private resumeJob(record: JobRecord, held?: { lease: Lease; token: number }): void {
    const { store } = this.deps;
    {
      const job = new ActiveJob(record, store.counts(record.id), store.notifiedCount(record.id));
      if (held) this.hold(job, held.lease, held.token);
      for (const e of store.executions(record.id, { limit: 1_000_000 })) if (e.attempts > 0) job.attempts.set(e.device_id, e.attempts);
      job.ready = store.devicesIn(record.id, "queued");
      // Read before activate() sends anything: with shared nodes the devices are online, and what this node sends
      // now is in_progress too.
      const interrupted = store.devicesIn(record.id, "in_progress");
      this.activate(job);
      // May have run before the restart: never sent again blindly (docs/fleet.md, "What is retried").
      for (const id of interrupted) {
        if (record.kind === "rollout") this.resumeRollout(job, id);
        else this.finish(job, id, { state: "timed_out", reason: "interrupted: the backend restarted before the device answered; it may have run" });
      }
      this.log("job resumed", { job: record.id, counts: job.counts });
      this.pump(job);
    }
  }

  cancel(id: string): JobRecord {
    const record = this.deps.store.get(id);
    if (!record) throw new UnknownJob(`no job ${id}`);
    if (record.state !== "in_progress") throw new JobEnded(`job ${id} has ended (${record.state})`);
    const job = this.active.get(id);
    if (job) this.stop(job, "cancelled", "cancelled by a caller");
    else {
      // Run by another node (or by none): it sees the job ended at its next renewal and stops sending there.
      this.deps.store.cancelQueued(id, "job cancelled");
      this.deps.store.end(id, "cancelled", "cancelled by a caller");
    }
    return this.deps.store.get(id)!;
  }

  /** The rate the job sends at now (per minute; null: no limit). */
  currentRate(record: JobRecord): number | null {
    const job = this.active.get(record.id);
    if (!job) return null;
    return ratePerMinute(record.spec.rate, job.notified, job.counts.succeeded) ?? null;
  }

  inFlightOf(jobId: string): number {
    return this.active.get(jobId)?.inFlight.size ?? 0;
  }

  /** Executions in flight of every job. */
  get inFlight(): number {
    let n = 0;
    for (const j of this.active.values()) n += j.inFlight.size;
    return n;
  }

  /** Stops sending; executions in flight are left as they are in the registry (in_progress) for the next start. */
  close(): void {
    this.flushWrites(); // what has ended is kept; what is in flight stays in_progress
    this.closed = true;
    this.events.close();
    clearInterval(this.scanTimer);
    for (const job of this.active.values()) {
      clearTimeout(job.timer);
      clearTimeout(job.expiry);
      clearInterval(job.renewal);
      job.lease?.release().catch(() => false); // another node takes the job over at once (else at the lease's expiry)
      for (const ac of job.inFlight.values()) ac.abort();
    }
    this.active.clear();
  }

  private activate(job: ActiveJob): void {
    this.active.set(job.record.id, job);
    this.scheduleExpiry(job);
    this.pump(job);
  }

  private scheduleExpiry(job: ActiveJob): void {
    const left = job.record.expires_at - Date.now();
    if (left <= 0) return void queueMicrotask(() => this.expire(job));
    job.expiry = setTimeout(() => (left > MAX_TIMER_MS ? this.scheduleExpiry(job) : this.expire(job)), Math.min(left, MAX_TIMER_MS));
    job.expiry.unref();
  }

  private expire(job: ActiveJob): void {
    if (job.stopped || this.closed) return;
    this.stop(job, "expired", `expired with ${job.counts.queued} device(s) never reached`);
  }

  /** An update interrupted by a restart goes on once its device is back (all are offline at start). */
  private resumeRollout(job: ActiveJob, deviceId: string): void {
    if (this.deps.presence.isOnline(deviceId)) return this.run(job, deviceId, true);
    job.resuming.add(deviceId);
    let set = this.waitingFor.get(deviceId);
    if (!set) this.waitingFor.set(deviceId, (set = new Set()));
    set.add(job.record.id);
  }

  private cameOnline(deviceId: string): void {
    const jobs = this.waitingFor.get(deviceId);
    if (!jobs) return;
    this.waitingFor.delete(deviceId);
    for (const jobId of jobs) {
      const job = this.active.get(jobId);
      if (!job) continue;
      if (job.resuming.delete(deviceId)) {
        this.run(job, deviceId, true);
        continue;
      }
      if (!job.waiting.delete(deviceId)) continue; // not waiting there (sent meanwhile)
      job.ready.push(deviceId);
      this.pump(job);
    }
  }

  private wait(job: ActiveJob, deviceId: string): void {
    if (this.deps.exists && !this.deps.exists(deviceId)) {
      job.counts.queued--; // queued in the registry: it becomes cancelled
      return this.cancelDeleted(job, deviceId);
    }
    job.waiting.add(deviceId);
    let set = this.waitingFor.get(deviceId);
    if (!set) this.waitingFor.set(deviceId, (set = new Set()));
    set.add(job.record.id);
  }

  /** Devices deleted meanwhile (through any node, or the CLI): their waiting executions are cancelled now. */
  devicesRemoved(): void {
    const exists = this.deps.exists;
    if (!exists) return;
    for (const job of [...this.active.values()]) {
      if (job.stopped) continue;
      let any = false;
      for (const id of [...job.waiting, ...job.resuming]) {
        if (exists(id)) continue;
        any = true;
        this.waitingFor.get(id)?.delete(job.record.id);
        if (job.waiting.delete(id)) job.counts.queued--;
        else if (job.resuming.delete(id)) job.counts.in_progress--;
        this.cancelDeleted(job, id);
      }
      if (any) {
        this.events.changed(job.record.id);
        this.maybeComplete(job);
      }
    }
  }

  private cancelDeleted(job: ActiveJob, deviceId: string): void {
    this.write({ jobId: job.record.id, deviceId, state: "cancelled", reason: "the device was deleted", result: null });
    job.counts.cancelled++;
  }

  /** pump() once at the end of this turn: the slots freed by every answer of the turn are filled in one batch. */
  private pumpSoon(job: ActiveJob): void {
    if (job.pumpDue) return;
    job.pumpDue = true;
    setImmediate(() => {
      job.pumpDue = false;
      this.pump(job);
    });
  }

  /** Sends as many executions as the rate and max_in_flight allow now, and schedules the next look. */
  private pump(job: ActiveJob): void {
    if (job.stopped || this.closed) return;
    clearTimeout(job.timer);
    job.timer = undefined;
    const { spec } = job;
    const batch: { deviceId: string; ratePerMinute: number | null; first: boolean }[] = [];
    while (job.inFlight.size + batch.length < spec.max_in_flight) {
      const id = job.next();
      if (id === undefined) break;
      if (!this.deps.presence.isOnline(id)) {
        this.wait(job, id);
        continue;
      }
      const rate = ratePerMinute(spec.rate, job.notified, job.counts.succeeded);
      if (!job.bucket.take(rate)) {
        job.putBack();
        job.timer = setTimeout(() => this.pump(job), job.bucket.waitMs(rate!));
        break;
      }
      const first = !job.attempts.get(id);
      if (first) job.notified++; // the next device's rate counts this one
      batch.push({ deviceId: id, ratePerMinute: rate ?? null, first });
    }
    if (batch.length) {
      this.flushWrites(); // a retry's "queued" must be on disk before it is started again
      const started = this.fenced(job, () => this.deps.store.startMany(job.record.id, batch));
      if (!started) return;
      for (const b of batch) {
        if (!started.has(b.deviceId)) {
          if (b.first) job.notified--; // no longer queued (cancelled meanwhile): nothing is sent
          continue;
        }
        job.attempts.set(b.deviceId, (job.attempts.get(b.deviceId) ?? 0) + 1);
        job.counts.queued--;
        job.counts.in_progress++;
        this.run(job, b.deviceId, false);
      }
    }
    this.maybeComplete(job);
  }

  private run(job: ActiveJob, deviceId: string, resumed: boolean): void {
    const ac = new AbortController();
    job.inFlight.set(deviceId, ac);
    const { spec } = job;
    const running =
      job.record.kind === "rollout"
        ? executeRollout(this.deps.updater!, this.runningRelease, deviceId, spec, ac.signal, { resumed })
        : executeRpc(this.deps.correlator, job.record.id, deviceId, spec);
    running
      .catch((err: Error): Outcome => ({ state: "failed", reason: `${err.name}: ${err.message}` }))
      .then((outcome) => {
        job.inFlight.delete(deviceId);
        if (this.closed || ac.signal.aborted) return; // shutting down: left in_progress for the next start
        this.finish(job, deviceId, outcome);
        this.pumpSoon(job);
      });
    this.events.changed(job.record.id);
  }

  /** Records how an execution ended (or puts it back in the queue), then applies the abort rules. */
  private finish(job: ActiveJob, deviceId: string, outcome: Outcome): void {
    const { store } = this.deps;
    const jobId = job.record.id;
    job.counts.in_progress--;
    if (outcome.state === "not_delivered") {
      // Never reached the device: not an attempt. Offline: it waits; busy: its turn comes again shortly.
      job.attempts.set(deviceId, (job.attempts.get(deviceId) ?? 1) - 1);
      if (job.attempts.get(deviceId) === 0) job.notified--;
      this.flushWrites();
      if (this.fenced(job, () => store.requeue(jobId, deviceId, outcome.reason)) === undefined) return;
      job.counts.queued++;
      if (job.stopped) {
        // The job stopped meanwhile: this device is one it did not reach.
        job.counts.cancelled += this.fenced(job, () => store.cancelQueued(jobId, "job stopped")) ?? 0;
        job.counts.queued = 0;
      } else if (outcome.offline) this.wait(job, deviceId);
      else {
        const t = setTimeout(() => {
          job.ready.push(deviceId);
          this.pump(job);
        }, this.deps.busyRetryMs ?? 250);
        t.unref();
      }
    } else {
      const attempts = job.attempts.get(deviceId) ?? 1;
      const retry = !job.stopped && (job.spec.retries.on as string[]).includes(outcome.state) && attempts <= job.spec.retries.max;
      if (retry) {
        this.write({
          jobId,
          deviceId,
          state: "queued",
          reason: `retrying after ${outcome.state}: ${outcome.reason ?? ""}`.trim(),
          result: outcome.result ?? null,
        });
        job.counts.queued++;
        job.ready.push(deviceId);
      } else {
        this.write({ jobId, deviceId, state: outcome.state, reason: outcome.reason ?? null, result: outcome.result ?? null });
        job.counts[outcome.state]++;
        if (!job.stopped) {
          const broken = brokenRule(job.spec.abort, job.counts);
          if (broken) this.stop(job, "aborted", broken);
        }
      }
    }
    this.events.changed(jobId);
    this.maybeComplete(job);
  }

  /** Ends the job: nothing more is sent, and every device not reached yet is cancelled. */
  private stop(job: ActiveJob, state: Exclude<JobState, "in_progress" | "completed">, reason: string): void {
    if (job.stopped) return;
    job.stopped = true;
    clearTimeout(job.timer);
    clearTimeout(job.expiry);
    this.flushWrites();
    const { store } = this.deps;
    if (this.fenced(job, () => store.cancelQueued(job.record.id, state === "expired" ? "expired" : `job ${state}`)) === undefined) return;
    job.counts.cancelled += job.counts.queued;
    job.counts.queued = 0;
    job.ready = [];
    job.readyAt = 0;
    for (const id of [...job.waiting, ...job.resuming]) this.waitingFor.get(id)?.delete(job.record.id);
    job.waiting.clear();
    for (const id of job.resuming) {
      // Interrupted by a restart and never back before the job ended: whether it updated is not known.
      this.write({
        jobId: job.record.id,
        deviceId: id,
        state: "timed_out",
        reason: "interrupted by a restart; the device did not come back before the job ended",
        result: null,
      });
      job.counts.in_progress--;
      job.counts.timed_out++;
    }
    job.resuming.clear();
    this.fenced(job, () => store.end(job.record.id, state, reason));
    this.log(`job ${state}`, { job: job.record.id, reason });
    this.events.changed(job.record.id, job.inFlight.size === 0);
    if (job.inFlight.size === 0) this.retire(job);
  }

  private maybeComplete(job: ActiveJob): void {
    if (job.inFlight.size > 0) return;
    if (job.stopped) {
      if (this.active.get(job.record.id) === job) {
        this.retire(job);
        this.events.changed(job.record.id, true);
      }
      return;
    }
    if (job.counts.queued > 0 || job.counts.in_progress > 0) return;
    job.stopped = true;
    clearTimeout(job.expiry);
    clearTimeout(job.timer);
    this.flushWrites();
    this.fenced(job, () => this.deps.store.end(job.record.id, "completed", null));
    this.retire(job);
    this.log("job completed", { job: job.record.id, counts: job.counts });
    this.events.changed(job.record.id, true);
  }

  private snapshot(jobId: string): { revision: number; ended: boolean; view: unknown } | undefined {
    this.flushWrites();
    const record = this.deps.store.get(jobId);
    if (!record) return undefined;
    const ended = record.state !== "in_progress" && !this.active.has(jobId);
    return { revision: record.revision, ended, view: this.view(record) };
  }

  /** The job as REST and the event stream show it. */
  view(record: JobRecord) {
    this.flushWrites();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      id: record.id,
      kind: record.kind,
      state: record.state,
      reason: record.reason,
      created_at: iso(record.created_at),
      expires_at: iso(record.expires_at),
      ended_at: iso(record.ended_at),
      revision: record.revision,
      counts: this.deps.store.counts(record.id),
      in_flight: this.active.get(record.id)?.inFlight.size ?? 0,
      rate_per_minute: this.currentRate(record),
      spec: record.spec,
    };
  }

  /** Buffers an execution's new state; every buffered one is written in one transaction at the end of this turn. */
  private write(change: ExecutionChange): void {
    this.writes.push(change);
    if (this.writes.length === 1) setImmediate(() => this.flushWritesOrRetry());
  }

  /** The end of a turn's flush: states the database could not take (Postgres away) are kept and tried again. */
  private flushWritesOrRetry(): void {
    try {
      this.flushWrites();
    } catch {
      if (!this.closed) setTimeout(() => this.flushWritesOrRetry(), WRITE_RETRY_MS).unref();
    }
  }

  /** Writes the buffered states now (before anything that reads them or depends on them: a start, an end, a view). */
  flushWrites(): void {
    if (this.writes.length === 0) return;
    const rows = this.writes;
    this.writes = [];
    const keep = (unwritten: ExecutionChange[], err: unknown) => {
      this.writes = unwritten.concat(this.writes);
      throw err;
    };
    if (!this.deps.lease) {
      try {
        return this.deps.store.setMany(rows);
      } catch (err) {
        keep(rows, err);
      }
    }
    const byJob = new Map<string, ExecutionChange[]>();
    for (const r of rows) {
      const group = byJob.get(r.jobId);
      if (group) group.push(r);
      else byJob.set(r.jobId, [r]);
    }
    const written = new Set<string>();
    for (const [jobId, group] of byJob) {
      const job = this.active.get(jobId);
      try {
        if (job) this.fenced(job, () => this.deps.store.setMany(group)); // else lost: the node holding it writes
      } catch (err) {
        keep(
          [...byJob.entries()].filter(([id]) => id === jobId || !written.has(id)).flatMap(([, g]) => g),
          err,
        );
      }
      written.add(jobId);
    }
  }

  /** A state write under the job's fencing token; a node that lost the lease drops the job instead of writing. */
  private fenced<T>(job: ActiveJob, write: () => T): T | undefined {
    try {
      return this.deps.store.fenced(job.record.id, job.token, write);
    } catch (err) {
      if (!(err instanceof FenceLost)) throw err;
      this.lose(job, err.message);
      return undefined;
    }
  }

  /** Shared nodes: looks for jobs in progress that no node runs (created elsewhere, or their node died). */
  private scan(): void {
    if (this.closed) return;
    const running = new Set<string>();
    for (const record of this.deps.store.running()) {
      running.add(record.id);
      if (this.active.has(record.id)) continue;
      void this.take(record.id);
      // Run elsewhere: this node's event streams of the job follow it from the registry.
      this.elsewhere.add(record.id);
      this.events.changed(record.id);
    }
    for (const id of this.elsewhere) {
      if (running.has(id) && !this.active.has(id)) continue;
      this.elsewhere.delete(id);
      if (!running.has(id)) this.events.changed(id, true);
    }
  }

  /** Takes a job's lease if no node holds it, claims the job with the lease's fencing token and runs it. */
  private async take(id: string): Promise<void> {
    const cfg = this.deps.lease!;
    if (this.closed || this.active.has(id) || this.taking.has(id)) return;
    this.taking.add(id);
    const lease = new Lease(cfg.redis, `job:${id}`, { ttlMs: cfg.ttlMs, owner: this.owner });
    let token: number | undefined;
    try {
      token = await lease.acquire();
    } catch (err) {
      this.log("job lease: Redis does not answer", { job: id, err: (err as Error).message });
    } finally {
      this.taking.delete(id);
    }
    if (token === undefined) return;
    const record = this.deps.store.get(id);
    if (this.closed || !record || record.state !== "in_progress" || !this.deps.store.claim(id, token)) {
      await lease.release().catch(() => false);
      return;
    }
    this.elsewhere.delete(id);
    this.log("job taken", { job: id, token });
    this.resumeJob(record, { lease, token });
  }

  /** Holds the job's lease while it runs: renewed every third of its ttl; lost -> the job is dropped here. */
  private hold(job: ActiveJob, lease: Lease, token: number): void {
    job.lease = lease;
    job.token = token;
    job.renewal = setInterval(
      () => {
        lease.renew().then(
          (ok) => ok || this.lose(job, "lease expired"),
          (err: Error) => this.lose(job, `cannot renew the lease: ${err.message}`),
        );
        // Cancelled through another node: stop sending here too.
        const now = this.deps.store.get(job.record.id);
        const state = now?.state;
        if (state === "completed") this.lose(job, "completed by another node");
        else if (state && state !== "in_progress" && !job.stopped) {
          this.stop(job, state, now?.reason ?? "ended by another node");
          job.counts = this.deps.store.counts(job.record.id);
        }
      },
      Math.max(1, Math.floor(this.deps.lease!.ttlMs / 3)),
    );
    job.renewal.unref();
  }

  /** The job's lease was lost (this node stalled, or Redis is away): nothing more is sent or written here. */
  private lose(job: ActiveJob, reason: string): void {
    if (this.active.get(job.record.id) !== job) return;
    job.stopped = true;
    clearTimeout(job.timer);
    clearTimeout(job.expiry);
    for (const ac of job.inFlight.values()) ac.abort(); // their outcomes are not written: the new holder decides
    for (const id of [...job.waiting, ...job.resuming]) this.waitingFor.get(id)?.delete(job.record.id);
    this.writes = this.writes.filter((w) => w.jobId !== job.record.id);
    this.retire(job);
    this.log("job lease lost: another node goes on with it", { job: job.record.id, reason });
  }

  /** The job no longer runs here: its buffered writes go out, and its lease is given up. */
  private retire(job: ActiveJob): void {
    this.flushWrites();
    if (this.active.get(job.record.id) === job) this.active.delete(job.record.id);
    clearInterval(job.renewal);
    job.lease?.release().catch(() => false);
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.deps.log?.(msg, fields);
  }
}
