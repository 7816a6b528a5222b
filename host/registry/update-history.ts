// Each device's finished updates (the device page's update history): one row per update that reached an outcome,
// newest kept, at most UPDATE_HISTORY_MAX per device. device_updates (releases.ts) holds only the last one.
import type { SqlDatabase, SqlStatement } from "./sql.ts";

export const UPDATE_HISTORY_MAX = 50;

export interface UpdateHistoryRecord {
  release: string;
  version: number;
  outcome: string;
  reason: string | null;
  started_at: number;
  ended_at: number;
}

export class UpdateHistory {
  private readonly insert: SqlStatement;
  private readonly prune: SqlStatement;
  private readonly select: SqlStatement<[string, number], UpdateHistoryRecord>;

  constructor(db: SqlDatabase) {
    // Postgres: postgres-schema.ts makes these tables.
    if (db.dialect === "sqlite")
      db.exec(`
      CREATE TABLE IF NOT EXISTS update_history (
        n INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, release TEXT NOT NULL, version INTEGER NOT NULL,
        outcome TEXT NOT NULL, reason TEXT, started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS update_history_device ON update_history (device, n);
      CREATE TRIGGER IF NOT EXISTS update_history_removed AFTER DELETE ON devices
        BEGIN DELETE FROM update_history WHERE device = OLD.id; END;
    `);
    this.insert = db.prepare("INSERT INTO update_history (device, release, version, outcome, reason, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.prune = db.prepare(
      "DELETE FROM update_history WHERE device = ? AND n <= (SELECT n FROM update_history WHERE device = ? ORDER BY n DESC LIMIT 1 OFFSET ?)",
    );
    this.select = db.prepare("SELECT release, version, outcome, reason, started_at, ended_at FROM update_history WHERE device = ? ORDER BY n DESC LIMIT ?");
  }

  record(device: string, r: UpdateHistoryRecord): void {
    this.insert.run(device, r.release, r.version, r.outcome, r.reason, r.started_at, r.ended_at);
    this.prune.run(device, device, UPDATE_HISTORY_MAX);
  }

  /** Newest first. */
  of(device: string, limit = UPDATE_HISTORY_MAX): UpdateHistoryRecord[] {
    return this.select.all(device, limit);
  }
}
