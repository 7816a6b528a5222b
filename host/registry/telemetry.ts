// Telemetry history, per device, in the registry's database (table `telemetry`), bounded three ways:
// at most TELEMETRY_MAX_SAMPLES rows per device (the oldest go first), nothing older than TELEMETRY_MAX_AGE_MS,
// and at most one sample per device per TELEMETRY_MIN_INTERVAL_MS (a device publishing faster is sampled, so a
// flood costs neither disk nor write time). Samples are written in one transaction per flush, as presence is.
import type { SqlDatabase } from "./sql.ts";

/** Rows kept per device: an hour at one sample every 3.6 s. */
export const TELEMETRY_MAX_SAMPLES = 1000;
/** Nothing older than a day is kept. */
export const TELEMETRY_MAX_AGE_MS = 24 * 3600_000;
/** A device's samples closer together than this are dropped (the newest one wins only if the interval passed). */
export const TELEMETRY_MIN_INTERVAL_MS = 1000;
/** A sample bigger than this (bytes of JSON text) is not kept; devices' sys.info objects are a few hundred bytes. */
export const TELEMETRY_MAX_BYTES = 4096;

export interface TelemetrySample {
  /** Milliseconds since the epoch, when the backend received it. */
  at: number;
  data: unknown;
}

export class TelemetryStore {
  private readonly pending: { id: string; at: number; text: string }[] = [];
  /** When each device's last kept sample arrived (bounded by the devices that publish). */
  private readonly lastAt = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly stmt;

  constructor(
    private readonly db: SqlDatabase,
    flushMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    // Postgres: postgres-schema.ts (its telemetry has a rowid column for the statements below).
    if (db.dialect === "sqlite")
      db.exec(`
        CREATE TABLE IF NOT EXISTS telemetry (device_id TEXT NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS telemetry_by_device ON telemetry (device_id, at);
        CREATE TRIGGER IF NOT EXISTS telemetry_of_removed_device AFTER DELETE ON devices
          BEGIN DELETE FROM telemetry WHERE device_id = OLD.id; END;
      `);
    this.stmt = {
      insert: db.prepare("INSERT INTO telemetry (device_id, at, data) VALUES (?, ?, ?)"),
      // Keeps the newest TELEMETRY_MAX_SAMPLES rows of one device and none older than the cutoff.
      trim: db.prepare(
        `DELETE FROM telemetry WHERE device_id = ? AND (at < ? OR rowid NOT IN
           (SELECT rowid FROM telemetry WHERE device_id = ? ORDER BY at DESC, rowid DESC LIMIT ${TELEMETRY_MAX_SAMPLES}))`,
      ),
      since: db.prepare<[string, number, number], { at: number; data: string }>(
        "SELECT at, data FROM telemetry WHERE device_id = ? AND at > ? ORDER BY at, rowid LIMIT ?",
      ),
      count: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM telemetry WHERE device_id = ?"),
      // Each device's newest sample.
      latest: db.prepare<[], { device_id: string; at: number; data: string }>(
        `SELECT device_id, at, data FROM
           (SELECT device_id, at, data, row_number() OVER (PARTITION BY device_id ORDER BY at DESC, rowid DESC) AS newest FROM telemetry) AS t
         WHERE newest = 1`,
      ),
    };
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch {
        // the database is away: telemetry is a sample, so these rows are dropped rather than held
      }
    }, flushMs);
    this.timer.unref();
  }

  /** Takes one telemetry payload (JSON text); returns whether it will be kept (not too big, not too soon, JSON). */
  record(id: string, text: string): boolean {
    const at = this.now();
    if (text.length > TELEMETRY_MAX_BYTES) return false;
    const last = this.lastAt.get(id);
    if (last !== undefined && at - last < TELEMETRY_MIN_INTERVAL_MS) return false;
    try {
      JSON.parse(text);
    } catch {
      return false;
    }
    if (this.lastAt.size > 1_000_000) this.lastAt.clear(); // ids are the registry's, but keep it bounded anyway
    this.lastAt.set(id, at);
    this.pending.push({ id, at, text });
    return true;
  }

  /** Writes what was recorded since the last flush and trims the devices concerned. */
  flush(): void {
    if (this.pending.length === 0) return;
    const rows = this.pending.splice(0);
    const cutoff = this.now() - TELEMETRY_MAX_AGE_MS;
    this.db.transaction(() => {
      const touched = new Set<string>();
      for (const r of rows) {
        this.stmt.insert.run(r.id, r.at, r.text);
        touched.add(r.id);
      }
      for (const id of touched) this.stmt.trim.run(id, cutoff, id);
    })();
  }

  /** A device's samples received after `since` (ms), oldest first, at most `limit`. */
  since(id: string, since: number, limit = TELEMETRY_MAX_SAMPLES): TelemetrySample[] {
    this.flush();
    return this.stmt.since.all(id, since, limit).map((r) => ({ at: r.at, data: JSON.parse(r.data) }));
  }

  /** Every device's newest sample (SQLite's bare-column rule gives the data of the max(at) row). */
  latest(): Map<string, TelemetrySample> {
    this.flush();
    return new Map(this.stmt.latest.all().map((r) => [r.device_id, { at: r.at, data: JSON.parse(r.data) }]));
  }

  count(id: string): number {
    this.flush();
    return this.stmt.count.get(id)!.n;
  }

  forget(id: string): void {
    this.lastAt.delete(id);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
