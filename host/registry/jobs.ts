// Jobs and their per-device executions, in the registry's SQLite database: what a backend needs to resume a job
// after a restart (the spec, the job's state, each device's state and attempts) and what REST shows.
import type { SqlDatabase } from "./sql.ts";
import { randomBytes } from "node:crypto";
import type { JobSpec } from "../jobs/spec.ts";
import { emptyCounts, type Counts, type ExecutionState, type JobState } from "../jobs/types.ts";

export interface JobRecord {
  id: string;
  kind: "rpc" | "rollout";
  spec: JobSpec;
  state: JobState;
  reason: string | null;
  created_at: number;
  expires_at: number;
  ended_at: number | null;
  /** Goes up with every change of the job or one of its executions (the event stream's ids). */
  revision: number;
}

export interface ExecutionRecord {
  job_id: string;
  device_id: string;
  /** Position in the job (the order devices are sent their execution in). */
  n: number;
  state: ExecutionState;
  attempts: number;
  reason: string | null;
  /** The device's answer (an RPC job's result or error), at most MAX_RESULT_BYTES of its JSON. */
  result: string | null;
  /** The rate (per minute) the job was at when this device was first sent its execution; null: no rate limit. */
  rate_per_minute: number | null;
  notified_at: number | null;
  updated_at: number;
}

export const MAX_RESULT_BYTES = 1024;

/** A node that lost a job's lease tried to write its state: refused, the node that holds the lease now writes. */
export class FenceLost extends Error {
  override name = "FenceLost";
}

export interface ExecutionChange {
  jobId: string;
  deviceId: string;
  state: ExecutionState;
  reason: string | null;
  result: string | null;
}

interface JobRow extends Omit<JobRecord, "spec"> {
  seq: number;
  spec: string;
}

const toJob = ({ seq: _seq, spec, ...row }: JobRow): JobRecord => ({ ...row, spec: JSON.parse(spec) });

export class JobStore {
  private readonly stmt;

  constructor(private readonly db: SqlDatabase) {
    // Postgres: postgres-schema.ts makes these tables.
    if (db.dialect === "sqlite") {
      db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ended_at INTEGER,
        revision INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS job_executions (
        job_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        result TEXT,
        rate_per_minute INTEGER,
        notified_at INTEGER,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (job_id, device_id)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS job_executions_by_n ON job_executions (job_id, n);
      CREATE INDEX IF NOT EXISTS job_executions_by_state ON job_executions (job_id, state);
    `);
      // Shared nodes: the fencing token of the node that runs the job (host/cluster/lease.ts); null without Redis.
      if (!db.prepare("SELECT name FROM pragma_table_info('jobs') WHERE name = 'fence'").get()) {
        try {
          db.exec("ALTER TABLE jobs ADD COLUMN fence INTEGER");
        } catch (err) {
          if (!/duplicate column/.test((err as Error).message)) throw err; // another node starting at the same time added it
        }
      }
    }
    const jobCols = "seq, id, kind, spec, state, reason, created_at, expires_at, ended_at, revision";
    this.stmt = {
      insertJob: db.prepare("INSERT INTO jobs (id, kind, spec, state, created_at, expires_at) VALUES (?, ?, ?, 'in_progress', ?, ?)"),
      insertExecution: db.prepare("INSERT INTO job_executions (job_id, device_id, n, state, updated_at) VALUES (?, ?, ?, 'queued', ?)"),
      job: db.prepare<[string], JobRow>(`SELECT ${jobCols} FROM jobs WHERE id = ?`),
      jobSeq: db.prepare<[string], { seq: number }>("SELECT seq FROM jobs WHERE id = ?"),
      jobsBefore: db.prepare<[number, number], JobRow>(`SELECT ${jobCols} FROM jobs WHERE seq < ? ORDER BY seq DESC LIMIT ?`),
      jobsBeforeIn: db.prepare<[number, string, number], JobRow>(`SELECT ${jobCols} FROM jobs WHERE seq < ? AND state = ? ORDER BY seq DESC LIMIT ?`),
      running: db.prepare<[], JobRow>(`SELECT ${jobCols} FROM jobs WHERE state = 'in_progress' ORDER BY seq`),
      endJob: db.prepare("UPDATE jobs SET state = ?, reason = ?, ended_at = ?, revision = revision + 1 WHERE id = ? AND state = 'in_progress'"),
      claim: db.prepare("UPDATE jobs SET fence = ? WHERE id = ? AND state = 'in_progress' AND (fence IS NULL OR fence < ?)"),
      fence: db.prepare<[string], { fence: number | null }>("SELECT fence FROM jobs WHERE id = ?"),
      bump: db.prepare("UPDATE jobs SET revision = revision + 1 WHERE id = ?"),
      counts: db.prepare<[string], { state: ExecutionState; n: number }>("SELECT state, count(*) AS n FROM job_executions WHERE job_id = ? GROUP BY state"),
      inState: db.prepare<[string, string], { device_id: string }>("SELECT device_id FROM job_executions WHERE job_id = ? AND state = ? ORDER BY n"),
      execution: db.prepare<[string, string], ExecutionRecord>("SELECT * FROM job_executions WHERE job_id = ? AND device_id = ?"),
      executionsAfter: db.prepare<[string, number, number], ExecutionRecord>("SELECT * FROM job_executions WHERE job_id = ? AND n > ? ORDER BY n LIMIT ?"),
      executionsAfterIn: db.prepare<[string, number, string, number], ExecutionRecord>(
        "SELECT * FROM job_executions WHERE job_id = ? AND n > ? AND state = ? ORDER BY n LIMIT ?",
      ),
      notified: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM job_executions WHERE job_id = ? AND notified_at IS NOT NULL"),
      start: db.prepare(
        "UPDATE job_executions SET state = 'in_progress', attempts = attempts + 1, notified_at = coalesce(notified_at, ?), rate_per_minute = coalesce(rate_per_minute, ?), updated_at = ? WHERE job_id = ? AND device_id = ? AND state = 'queued'",
      ),
      set: db.prepare("UPDATE job_executions SET state = ?, reason = ?, result = ?, updated_at = ? WHERE job_id = ? AND device_id = ?"),
      requeue: db.prepare(
        "UPDATE job_executions SET state = 'queued', reason = ?, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, notified_at = CASE WHEN attempts <= 1 THEN NULL ELSE notified_at END, rate_per_minute = CASE WHEN attempts <= 1 THEN NULL ELSE rate_per_minute END, updated_at = ? WHERE job_id = ? AND device_id = ? AND state = 'in_progress'",
      ),
      cancelQueued: db.prepare("UPDATE job_executions SET state = 'cancelled', reason = ?, updated_at = ? WHERE job_id = ? AND state = 'queued'"),
    };
  }

  /** Stores a new job and one queued execution per device, in one transaction. */
  create(spec: JobSpec, deviceIds: readonly string[], now = Date.now()): JobRecord {
    const id = `job_${randomBytes(8).toString("hex")}`;
    const kind = spec.rollout ? "rollout" : "rpc";
    this.db.transaction(() => {
      this.stmt.insertJob.run(id, kind, JSON.stringify(spec), now, now + spec.expires_in_s * 1000);
      deviceIds.forEach((device, n) => this.stmt.insertExecution.run(id, device, n + 1, now));
    })();
    return this.get(id)!;
  }

  get(id: string): JobRecord | undefined {
    const row = this.stmt.job.get(id);
    return row ? toJob(row) : undefined;
  }

  /** Newest first, `limit` of them, after the job `afterId` (a cursor); optionally only those in `state`. */
  list(opts: { limit: number; afterId?: string; state?: JobState }): { jobs: JobRecord[]; last?: string } {
    const before = opts.afterId ? (this.stmt.jobSeq.get(opts.afterId)?.seq ?? 0) : Number.MAX_SAFE_INTEGER;
    const rows = opts.state ? this.stmt.jobsBeforeIn.all(before, opts.state, opts.limit + 1) : this.stmt.jobsBefore.all(before, opts.limit + 1);
    const more = rows.length > opts.limit;
    const jobs = rows.slice(0, opts.limit).map(toJob);
    return { jobs, last: more ? jobs.at(-1)?.id : undefined };
  }

  running(): JobRecord[] {
    return this.stmt.running.all().map(toJob);
  }

  /** Ends a job that is still in progress (false if it had ended already). */
  end(id: string, state: Exclude<JobState, "in_progress">, reason: string | null, now = Date.now()): boolean {
    return this.stmt.endJob.run(state, reason, now, id).changes > 0;
  }

  /**
   * The node holding the job's lease with fencing token `token` becomes the one that writes its state (false: the
   * job ended, or a node with a later token claimed it already).
   */
  claim(id: string, token: number): boolean {
    return this.stmt.claim.run(token, id, token).changes > 0;
  }

  /**
   * Runs `write` in one transaction if `token` is still the job's fencing token (undefined: no lease, always runs);
   * throws FenceLost otherwise, with nothing written. The check and the write are one transaction, so a node whose
   * lease was taken over can never write after the new holder claimed the job.
   */
  fenced<T>(id: string, token: number | undefined, write: () => T): T {
    if (token === undefined) return write();
    return this.db
      .transaction(() => {
        const fence = this.stmt.fence.get(id)?.fence;
        if (fence !== token) throw new FenceLost(`job ${id}: fencing token ${token} is stale (now ${fence ?? "none"})`);
        return write();
      })
      .immediate();
  }

  counts(id: string): Counts {
    const c = emptyCounts();
    for (const r of this.stmt.counts.all(id)) {
      c[r.state] = r.n;
      c.total += r.n;
    }
    return c;
  }

  notifiedCount(id: string): number {
    return this.stmt.notified.get(id)!.n;
  }

  /** Device ids in `state`, in the job's order. */
  devicesIn(id: string, state: ExecutionState): string[] {
    return this.stmt.inState.all(id, state).map((r) => r.device_id);
  }

  execution(jobId: string, deviceId: string): ExecutionRecord | undefined {
    return this.stmt.execution.get(jobId, deviceId);
  }

  /** A page of executions in the job's order, after position `afterN`. */
  executions(jobId: string, opts: { limit: number; afterN?: number; state?: ExecutionState }): ExecutionRecord[] {
    const after = opts.afterN ?? 0;
    return opts.state ? this.stmt.executionsAfterIn.all(jobId, after, opts.state, opts.limit) : this.stmt.executionsAfter.all(jobId, after, opts.limit);
  }

  /**
   * queued -> in_progress for each of `starts`, in one transaction written before anything is sent, so a restart
   * knows they may have been. Returns the device ids that were queued (only those may be sent).
   */
  startMany(jobId: string, starts: readonly { deviceId: string; ratePerMinute: number | null }[], now = Date.now()): Set<string> {
    return this.db.transaction(() => {
      const started = new Set<string>();
      for (const s of starts) if (this.stmt.start.run(now, s.ratePerMinute, now, jobId, s.deviceId).changes > 0) started.add(s.deviceId);
      if (started.size) this.stmt.bump.run(jobId);
      return started;
    })();
  }

  set(jobId: string, deviceId: string, state: ExecutionState, reason: string | null = null, result: string | null = null, now = Date.now()): void {
    this.setMany([{ jobId, deviceId, state, reason, result }], now);
  }

  /** Several executions' new states in one transaction (the runner batches what ended in one turn). */
  setMany(rows: readonly ExecutionChange[], now = Date.now()): void {
    this.db.transaction(() => {
      const jobs = new Set<string>();
      for (const r of rows) {
        const kept =
          r.result !== null && Buffer.byteLength(r.result) > MAX_RESULT_BYTES ? JSON.stringify({ truncated: Buffer.byteLength(r.result) }) : r.result;
        this.stmt.set.run(r.state, r.reason, kept, now, r.jobId, r.deviceId);
        jobs.add(r.jobId);
      }
      for (const j of jobs) this.stmt.bump.run(j);
    })();
  }

  /** An execution that never reached the device (offline, busy): queued again, and the send does not count. */
  requeue(jobId: string, deviceId: string, reason: string, now = Date.now()): void {
    this.db.transaction(() => {
      this.stmt.requeue.run(reason, now, jobId, deviceId);
      this.stmt.bump.run(jobId);
    })();
  }

  /** Every still-queued execution becomes cancelled (a cancel, an abort, the expiry); returns how many. */
  cancelQueued(jobId: string, reason: string, now = Date.now()): number {
    return this.db.transaction(() => {
      const n = this.stmt.cancelQueued.run(reason, now, jobId).changes;
      this.stmt.bump.run(jobId);
      return n;
    })();
  }
}
