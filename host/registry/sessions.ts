// Browser sessions (the dashboard's sign-in), in the registry's SQLite database (table `sessions`). The browser
// holds a random 256-bit token in an httpOnly cookie; only its SHA-256 digest is stored (a token that random needs
// no slow hash: the digest cannot be reversed or guessed), so a copy of the database signs nobody in. A session
// belongs to the API key that opened it and ends with it (deleted key: no session), at its expiry, or on sign-out.
import { createHash, randomBytes } from "node:crypto";
import type Database from "better-sqlite3";

/** How long a session lasts from sign-in (absolute, not sliding). */
export const SESSION_TTL_MS = 12 * 3600_000;
/** Sessions one API key may hold at once; signing in again past it ends its oldest. */
export const SESSIONS_PER_KEY = 32;
const TOKEN = /^ops_[A-Za-z0-9_-]{43}$/;

export interface Session {
  keyId: string;
  expiresAt: number;
}

function digestOf(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class SessionStore {
  private readonly stmt;

  constructor(
    db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS sessions_by_key ON sessions (key_id, created_at);
    `);
    this.stmt = {
      insert: db.prepare("INSERT INTO sessions (digest, key_id, created_at, expires_at) VALUES (?, ?, ?, ?)"),
      // The key must still exist: removing it ends its sessions at once.
      get: db.prepare<[string], { key_id: string; expires_at: number }>(
        "SELECT s.key_id, s.expires_at FROM sessions s JOIN api_keys k ON k.id = s.key_id WHERE s.digest = ?",
      ),
      remove: db.prepare("DELETE FROM sessions WHERE digest = ?"),
      expired: db.prepare("DELETE FROM sessions WHERE expires_at <= ?"),
      oldest: db.prepare(
        `DELETE FROM sessions WHERE key_id = ? AND digest NOT IN
           (SELECT digest FROM sessions WHERE key_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ${SESSIONS_PER_KEY - 1})`,
      ),
    };
  }

  /** A new session for `keyId`; the token is returned once and only its digest kept. */
  create(keyId: string, ttlMs = SESSION_TTL_MS): { token: string; session: Session } {
    const now = this.now();
    const token = `ops_${randomBytes(32).toString("base64url")}`;
    this.stmt.expired.run(now);
    this.stmt.oldest.run(keyId, keyId);
    this.stmt.insert.run(digestOf(token), keyId, now, now + ttlMs);
    return { token, session: { keyId, expiresAt: now + ttlMs } };
  }

  /** The session `token` opens, or undefined: malformed, unknown (tampered), expired, signed out, or its key gone. */
  verify(token: string): Session | undefined {
    if (!TOKEN.test(token)) return undefined;
    const row = this.stmt.get.get(digestOf(token));
    if (!row || row.expires_at <= this.now()) return undefined;
    return { keyId: row.key_id, expiresAt: row.expires_at };
  }

  revoke(token: string): void {
    if (TOKEN.test(token)) this.stmt.remove.run(digestOf(token));
  }
}
