// The registry on Postgres, through libpq's synchronous calls: the stores keep the synchronous API they have on
// better-sqlite3, so a query holds this node's event loop for its round trip (docs/scaling.md, "The registry on
// Postgres"). One connection per process; a lost one is named (RegistryUnavailable) and dialed again on the next query.
import { createRequire } from "node:module";
import { redactUrl } from "../server/log.ts";
import { migratePostgres } from "./postgres-schema.ts";
import type { SqlDatabase, SqlStatement, Transaction } from "./sql.ts";

export class RegistryUnavailable extends Error {
  override name = "RegistryUnavailable";
}
export class PostgresDriverMissing extends Error {
  override name = "PostgresDriverMissing";
}
/** A statement Postgres refused; `code` is its SQLSTATE (23505: a unique key taken). */
export class PostgresError extends Error {
  override name = "PostgresError";
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface LibPq {
  connectSync(conninfo: string): void;
  finish(): void;
  exec(sql: string): void;
  execParams(sql: string, params: (string | null)[]): void;
  prepare(name: string, sql: string, nParams: number): void;
  execPrepared(name: string, params: (string | null)[]): void;
  resultStatus(): string;
  resultErrorMessage(): string;
  resultErrorFields(): { sqlState?: string } | undefined;
  errorMessage(): string;
  ntuples(): number;
  nfields(): number;
  fname(col: number): string;
  ftype(col: number): number;
  getvalue(row: number, col: number): string;
  getisnull(row: number, col: number): boolean;
  cmdTuples(): string;
}

/** How long dialing and each statement may take before the call fails (they hold the event loop meanwhile). */
const CONNECT_TIMEOUT_S = 5;
const STATEMENT_TIMEOUT_MS = 10_000;
/** After a failed dial, calls fail at once for this long instead of each waiting on a dial (up to CONNECT_TIMEOUT_S). */
const REDIAL_AFTER_MS = 500;
/** Statements kept parsed on the server per connection; the registry has about a hundred, plus the filters built per query. */
const PREPARED_MAX = 500;

function loadLibPq(): new () => LibPq {
  try {
    return createRequire(import.meta.url)("libpq");
  } catch (err) {
    throw new PostgresDriverMissing(
      `--db postgres:// needs the libpq package built (apt install libpq-dev, then npm rebuild libpq): ${(err as Error).message}`,
    );
  }
}

/** Postgres's type oids that come back as numbers (int2/4/8, float4/8, numeric, oid), as SQLite gives them. */
const NUMERIC_TYPES = new Set([20, 21, 23, 26, 700, 701, 1700]);
const BOOL = 16;
const BYTEA = 17;

function fromText(type: number, text: string): unknown {
  if (NUMERIC_TYPES.has(type)) return Number(text);
  if (type === BOOL) return text === "t" ? 1 : 0;
  if (type === BYTEA) return Buffer.from(text.slice(2), "hex"); // "\x…" (bytea_output = hex)
  return text;
}

function toText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString("hex")}`;
  throw new TypeError(`a registry parameter must be a string, number, bytes or null, not ${typeof value}`);
}

/** `?` placeholders (outside quoted text) become $1, $2, … */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  let quote: string | undefined;
  let out = "";
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "?") {
      out += `$${++n}`;
      continue;
    }
    out += ch;
  }
  return out;
}

/** The URL with connect and keepalive limits added unless it sets them; libpq takes such a URI as it is. */
function withLimits(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has("connect_timeout")) u.searchParams.set("connect_timeout", String(CONNECT_TIMEOUT_S));
  if (!u.searchParams.has("tcp_user_timeout")) u.searchParams.set("tcp_user_timeout", String(STATEMENT_TIMEOUT_MS));
  return u.toString();
}

export class PostgresDatabase implements SqlDatabase {
  readonly dialect = "postgres";
  private pq: LibPq | undefined;
  private depth = 0;
  private noDialUntil = 0;
  private closed = false;
  private readonly conninfo: string;
  private readonly shown: string;
  /** SQL text -> its prepared statement's name on this connection (gone with the connection). */
  private readonly prepared = new Map<string, string>();

  constructor(url: string) {
    this.conninfo = withLimits(url);
    this.shown = redactUrl(url);
    this.connection();
    migratePostgres(this);
  }

  get open(): boolean {
    return !this.closed;
  }

  private connection(): LibPq {
    if (this.closed) throw new RegistryUnavailable("the registry is closed");
    if (this.pq) return this.pq;
    if (Date.now() < this.noDialUntil) throw new RegistryUnavailable(`Postgres at ${this.shown}: not reachable a moment ago`);
    const pq = new (loadLibPq())();
    try {
      pq.connectSync(this.conninfo);
    } catch (err) {
      this.noDialUntil = Date.now() + REDIAL_AFTER_MS;
      throw new RegistryUnavailable(`Postgres at ${this.shown}: ${(err as Error).message.trim()}`);
    }
    this.pq = pq;
    this.query(`SET statement_timeout = ${STATEMENT_TIMEOUT_MS}; SET bytea_output = hex; SET client_min_messages = warning`);
    return pq;
  }

  /** Runs one statement (with parameters: prepared once per connection, then executed) and reads its rows. */
  query(sql: string, params?: unknown[]): { rows: Record<string, unknown>[]; changes: number } {
    const pq = this.connection();
    if (!params) pq.exec(sql);
    else {
      let name = this.prepared.get(sql);
      if (name === undefined && this.prepared.size < PREPARED_MAX) {
        name = `q${this.prepared.size}`;
        pq.prepare(name, sql, params.length);
        this.check(pq);
        this.prepared.set(sql, name);
      }
      if (name === undefined) pq.execParams(sql, params.map(toText));
      else pq.execPrepared(name, params.map(toText));
    }
    this.check(pq);
    const rows: Record<string, unknown>[] = [];
    const fields = pq.nfields();
    const names = Array.from({ length: fields }, (_, c) => pq.fname(c));
    const types = Array.from({ length: fields }, (_, c) => pq.ftype(c));
    for (let r = 0, n = pq.ntuples(); r < n; r++) {
      const row: Record<string, unknown> = {};
      for (let c = 0; c < fields; c++) row[names[c]] = pq.getisnull(r, c) ? null : fromText(types[c], pq.getvalue(r, c));
      rows.push(row);
    }
    return { rows, changes: Number(pq.cmdTuples()) || 0 };
  }

  /** Throws the last result's error, if it is one: named RegistryUnavailable when the connection went with it. */
  private check(pq: LibPq): void {
    const status = pq.resultStatus();
    if (status !== "PGRES_TUPLES_OK" && status !== "PGRES_COMMAND_OK") {
      const sqlState = pq.resultErrorFields()?.sqlState;
      const message = (pq.resultErrorMessage() || pq.errorMessage()).trim();
      // No SQLSTATE, or class 08/57P: the connection itself went; the next query dials again.
      if (!sqlState || sqlState.startsWith("08") || sqlState.startsWith("57P")) {
        this.drop();
        throw new RegistryUnavailable(`Postgres at ${this.shown}: ${message || status}`);
      }
      throw new PostgresError(message, sqlState);
    }
  }

  private drop(): void {
    const pq = this.pq;
    this.pq = undefined;
    this.prepared.clear();
    this.depth = 0; // a transaction does not survive its connection
    if (!pq) return;
    // libpq's addon closes its socket watcher asynchronously: the object must outlive that close (one loop turn).
    setTimeout(() => pq, 100).unref();
    try {
      pq.finish();
    } catch {
      // already gone
    }
  }

  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): SqlStatement<P, R> {
    const text = numberPlaceholders(sql);
    return {
      get: (...params: P) => this.query(text, params).rows[0] as R | undefined,
      all: (...params: P) => this.query(text, params).rows as R[],
      run: (...params: P) => ({ changes: this.query(text, params).changes }),
    };
  }

  exec(sql: string): void {
    this.query(sql);
  }

  transaction<F extends (...args: any[]) => any>(fn: F): Transaction<F> {
    const run = ((...args: Parameters<F>) => {
      const savepoint = this.depth > 0 ? `s${this.depth}` : undefined;
      this.exec(savepoint ? `SAVEPOINT ${savepoint}` : "BEGIN");
      this.depth++;
      let result: ReturnType<F>;
      try {
        result = fn(...args);
      } catch (err) {
        if (this.pq) {
          // still connected (a lost connection took its transaction with it)
          this.depth--;
          this.exec(savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}` : "ROLLBACK");
        }
        throw err;
      }
      this.depth--;
      this.exec(savepoint ? `RELEASE SAVEPOINT ${savepoint}` : "COMMIT");
      return result;
    }) as Transaction<F>;
    run.immediate = run;
    return run;
  }

  close(): void {
    this.drop();
    this.closed = true;
  }
}
