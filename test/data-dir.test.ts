// The data directory: only its owner may read it, and the database holds no usable secret.
import type { SqliteDatabase } from "../host/registry/sql.ts";
import { describe, expect, it } from "vitest";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Registry, NoBackendPassword, backendPasswordPath, dbPath } from "../host/registry/registry.ts";

const mode = (p: string) => statSync(p).mode & 0o777;
const dbFiles = (d: string) => [dbPath(d), `${dbPath(d)}-wal`, `${dbPath(d)}-shm`];

describe("data directory", () => {
  it("is created 0700 with outpost.db, -wal and -shm 0600", () => {
    const d = join(mkdtempSync(join(tmpdir(), "outpost-perm-")), "data");
    const r = new Registry(d);
    r.addDevice("d1");
    expect(mode(d)).toBe(0o700);
    for (const f of dbFiles(d)) expect([f, mode(f)]).toEqual([f, 0o600]);
    r.close();
  });

  it("an existing 0755 directory with 0644 files is closed up on open", () => {
    const d = mkdtempSync(join(tmpdir(), "outpost-perm-"));
    new Registry(d).close();
    const old = new Database(dbPath(d));
    old.pragma("journal_mode = WAL");
    old.prepare("SELECT 1").get();
    chmodSync(d, 0o755);
    for (const f of dbFiles(d)) if (existsSync(f)) chmodSync(f, 0o644);
    const r = new Registry(d);
    expect(mode(d)).toBe(0o700);
    for (const f of dbFiles(d)) if (existsSync(f)) expect([f, mode(f)]).toEqual([f, 0o600]);
    r.close();
    old.close();
  });

  it("the backend's broker password is in a 0600 file under a 0700 secrets/, not in the database", () => {
    const d = mkdtempSync(join(tmpdir(), "outpost-perm-"));
    const r = new Registry(d);
    expect(() => r.backendPassword({ create: false })).toThrow(NoBackendPassword);
    const pw = r.backendPassword();
    expect(r.backendPassword({ create: false })).toBe(pw);
    expect(new Registry(d).backendPassword()).toBe(pw); // kept across opens
    const file = backendPasswordPath(d);
    expect(readFileSync(file, "utf8").trim()).toBe(pw);
    expect(mode(file)).toBe(0o600);
    expect(mode(join(d, "secrets"))).toBe(0o700);
    (r.db as SqliteDatabase).raw.pragma("wal_checkpoint(TRUNCATE)");
    for (const f of dbFiles(d)) if (existsSync(f)) expect(readFileSync(f).includes(pw)).toBe(false);
    r.close();
  });

  it("a password an older version kept in the database moves to its file, and its bytes leave the database", () => {
    const d = mkdtempSync(join(tmpdir(), "outpost-perm-"));
    mkdirSync(d, { recursive: true });
    const pw = "legacy-backend-password-0123456789abcdef";
    const old = new Database(dbPath(d));
    old.pragma("journal_mode = WAL");
    old.exec("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    old.prepare("INSERT INTO settings VALUES (?, ?)").run("broker.backend_password", pw);
    old.pragma("wal_checkpoint(TRUNCATE)");
    old.close();
    expect(readFileSync(dbPath(d)).includes(pw)).toBe(true);
    const r = new Registry(d);
    expect(r.backendPassword({ create: false })).toBe(pw); // the same one: a generated mosquitto passwd stays valid
    expect(r.setting("broker.backend_password")).toBeUndefined();
    for (const f of dbFiles(d)) if (existsSync(f)) expect([f, readFileSync(f).includes(pw)]).toEqual([f, false]);
    r.close();
  });

  it("a password file made by another process first wins", () => {
    const d = mkdtempSync(join(tmpdir(), "outpost-perm-"));
    const r = new Registry(d);
    writeFileSync(backendPasswordPath(d), "made-elsewhere\n", { mode: 0o644 });
    expect(r.backendPassword()).toBe("made-elsewhere");
    expect(mode(backendPasswordPath(d))).toBe(0o600);
    r.close();
  });
});
