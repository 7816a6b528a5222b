// The registry's one data-access layer: the same synchronous statements over SQLite (better-sqlite3, the embedded
// default) or Postgres (libpq, when --db postgres://… is given). Statements are written in the SQL both speak, with
// `?` placeholders; what differs (DDL, JSON paths) asks `dialect`.
import Database from "better-sqlite3";

export type Dialect = "sqlite" | "postgres";

export interface SqlStatement<P extends unknown[] = unknown[], R = unknown> {
  /** The first row, or undefined. */
  get(...params: P): R | undefined;
  all(...params: P): R[];
  /** `changes`: rows inserted, updated or deleted. */
  run(...params: P): { changes: number };
}

/** A function run in one transaction (nested calls become savepoints); `immediate` takes SQLite's write lock first. */
export type Transaction<F extends (...args: any[]) => any> = F & { immediate: F };

export interface SqlDatabase {
  readonly dialect: Dialect;
  /** False once closed. */
  readonly open: boolean;
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): SqlStatement<P, R>;
  /** Runs statements separated by semicolons, without parameters. */
  exec(sql: string): void;
  transaction<F extends (...args: any[]) => any>(fn: F): Transaction<F>;
  close(): void;
}

/** SQLite: better-sqlite3 already has this shape; `raw` is for what only SQLite has (pragmas). */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = "sqlite";
  constructor(readonly raw: Database.Database) {}

  static open(file: string): SqliteDatabase {
    return new SqliteDatabase(new Database(file));
  }
  get open(): boolean {
    return this.raw.open;
  }
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): SqlStatement<P, R> {
    return this.raw.prepare<P, R>(sql) as SqlStatement<P, R>;
  }
  exec(sql: string): void {
    this.raw.exec(sql);
  }
  transaction<F extends (...args: any[]) => any>(fn: F): Transaction<F> {
    return this.raw.transaction(fn) as unknown as Transaction<F>;
  }
  close(): void {
    this.raw.close();
  }
}

/** A key the database already holds (a primary key or unique index), under either engine. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "23505";
}

/** Whether a --db value names Postgres (anything else is SQLite in the data directory). */
export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}
