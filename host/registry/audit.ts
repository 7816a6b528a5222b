// The audit log: who called which device and method, when, and what came of it; device connects, disconnects and
// refused logins. One table in the registry's database, bounded (the oldest rows go), written in batches.
import type { SqlDatabase } from "./sql.ts";

export const AUDIT_KINDS = ["call", "change", "refused", "connect", "disconnect", "login_refused"] as const;
/**
 * call: an RPC to a device; change: any other request that changes something (a device, a key, a release);
 * refused: a REST caller turned away (no or bad credentials, a scope it lacks); connect / disconnect: a device's
 * connection; login_refused: a device's login turned away (a wrong credential, a bad certificate).
 */
export type AuditKind = (typeof AUDIT_KINDS)[number];
/** local: the CLI on the backend's machine, named by the OS user. */
export type ActorKind = "key" | "jwt" | "session" | "device" | "local";

/** What the log keeps by default: about 30 MB of SQLite at ~300 bytes a row. */
export const DEFAULT_AUDIT_MAX_ROWS = 100_000;
/** Records wait at most this long (or until this many are waiting) before one transaction writes them. */
const FLUSH_MS = 50;
const FLUSH_ROWS = 500;
/** While the database is away: how often writing is tried again, and how many records wait at most. */
const RETRY_MS = 1000;
const MAX_PENDING = 100_000;
/** Longest text kept per field: ids and method names are short; a hostile one is cut, not stored whole. */
const MAX_FIELD = 200;
export const MAX_AUDIT_PAGE = 1000;

export interface AuditEvent {
  kind: AuditKind;
  /** Who: a key's name, a token's subject, a session's user, or the device itself. */
  actor?: string | null;
  actor_kind?: ActorKind | null;
  device?: string | null;
  /** The JSON-RPC method, or for a change "POST /devices" and the like. */
  method?: string | null;
  /** The HTTP status answered, when there was one. */
  status?: number | null;
  /** "ok", "accepted", or the error's name (device_offline, insufficient_scope; a login_refused one: registry/login-refusals.ts). */
  outcome: string;
  /** The caller's or device's address. */
  peer?: string | null;
  /** A short free-text note (the transport, a reason in words). Never a secret. */
  detail?: string | null;
  /** Milliseconds since the epoch (default: now). */
  at?: number;
}

export interface AuditRecord extends Required<Omit<AuditEvent, "at">> {
  id: number;
  at: number;
}

export interface AuditQuery {
  device?: string;
  actor?: string;
  kind?: AuditKind;
  /** Only records at or after this time (ms since the epoch). */
  since?: number;
  /** The next_cursor of the previous page: records older than it. */
  cursor?: number;
  limit?: number;
}

/** Whatever a caller passes, an API key's secret part never reaches the table. */
const KEY_SECRET = /(opk_[0-9a-f]{16}_)[A-Za-z0-9_-]+/g;
function clip(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  const s = String(text).replace(KEY_SECRET, "$1***");
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD)}…` : s;
}

const COLUMNS = ["at", "kind", "actor", "actor_kind", "device", "method", "status", "outcome", "peer", "detail"] as const;

export class AuditLog {
  private readonly stmt;
  private pending: AuditEvent[] = [];
  /** Records dropped because the database stayed away past MAX_PENDING of them. */
  dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly maxRows: number;

  constructor(
    private readonly db: SqlDatabase,
    opts: { maxRows?: number } = {},
  ) {
    this.maxRows = opts.maxRows ?? DEFAULT_AUDIT_MAX_ROWS;
    // No secondary index: each one made a record cost ~25 us instead of ~3 us (SQLite, 500-row transactions), on
    // every call; a filtered query walks back from the newest row instead (a full scan of 100,000 rows is ~20 ms).
    // Postgres: postgres-schema.ts makes these tables.
    if (db.dialect === "sqlite")
      db.exec(`
      CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT,
        actor_kind TEXT,
        device TEXT,
        method TEXT,
        status INTEGER,
        outcome TEXT NOT NULL,
        peer TEXT,
        detail TEXT
      );
    `);
    this.stmt = {
      insert: db.prepare(`INSERT INTO audit (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`),
      // Ids only grow and only the oldest go, so the newest maxRows are the ids above max - maxRows.
      prune: db.prepare("DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?"),
    };
  }

  /** Adds a record (written within FLUSH_MS; `flush()` or `close()` writes at once). Fields are cut to 200 characters. */
  record(event: AuditEvent): void {
    this.pending.push({ ...event, at: event.at ?? Date.now() });
    if (this.pending.length >= FLUSH_ROWS && !this.retrying) this.tryFlush();
    else this.arm(FLUSH_MS);
  }

  private retrying = false;
  private arm(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.tryFlush(), ms);
    this.timer.unref();
  }

  /**
   * A flush from the timer or a record: when the database is away (Postgres restarting) the rows wait, the oldest
   * dropped past MAX_PENDING, and are tried again every RETRY_MS.
   */
  private tryFlush(): void {
    try {
      this.flush();
      this.retrying = false;
    } catch {
      this.retrying = true;
      this.arm(RETRY_MS);
    }
  }

  /** Writes what is waiting in one transaction and drops the oldest rows past maxRows. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || !this.db.open) return;
    const rows = this.pending;
    this.pending = [];
    try {
      this.write(rows);
    } catch (err) {
      this.pending = rows.concat(this.pending);
      if (this.pending.length > MAX_PENDING) this.dropped += this.pending.splice(0, this.pending.length - MAX_PENDING).length;
      throw err;
    }
  }

  private write(rows: AuditEvent[]): void {
    this.db.transaction(() => {
      for (const e of rows)
        this.stmt.insert.run(
          e.at,
          e.kind,
          clip(e.actor),
          e.actor_kind ?? null,
          clip(e.device),
          clip(e.method),
          e.status ?? null,
          clip(e.outcome) ?? "",
          clip(e.peer),
          clip(e.detail),
        );
      this.stmt.prune.run(this.maxRows);
    })();
  }

  /** Records matching every filter given, newest first, and the cursor for the next (older) page, if there is one. */
  query(q: AuditQuery = {}): { records: AuditRecord[]; next_cursor: number | null } {
    this.flush();
    const where: string[] = [];
    const args: (string | number)[] = [];
    for (const col of ["device", "actor", "kind"] as const)
      if (q[col] !== undefined) {
        where.push(`${col} = ?`);
        args.push(q[col]);
      }
    if (q.since !== undefined) {
      where.push("at >= ?");
      args.push(q.since);
    }
    if (q.cursor !== undefined) {
      where.push("id < ?");
      args.push(q.cursor);
    }
    const limit = Math.min(Math.max(q.limit ?? 100, 1), MAX_AUDIT_PAGE);
    const sql = `SELECT id, ${COLUMNS.join(", ")} FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
    const records = this.db.prepare<(string | number)[], AuditRecord>(sql).all(...args, limit + 1);
    const more = records.length > limit;
    if (more) records.pop();
    return { records, next_cursor: more ? records[records.length - 1].id : null };
  }

  count(): number {
    this.flush();
    return this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit").get()!.n;
  }

  close(): void {
    this.flush();
  }
}
