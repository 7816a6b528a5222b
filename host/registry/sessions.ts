// Browser sessions (the dashboard's sign-in), in the registry's SQLite database (table `sessions`). The browser
// holds a random 256-bit token in an httpOnly cookie; only its SHA-256 digest is stored (a token that random needs
// no slow hash: the digest cannot be reversed or guessed), so a copy of the database signs nobody in. A session
// belongs to the API key that opened it and ends with it (deleted key: no session), at its expiry, or on sign-out.
import { createHash, randomBytes } from "node:crypto";
import type { SqlDatabase } from "./sql.ts";

/** How long a session lasts from sign-in (absolute, not sliding). */
export const SESSION_TTL_MS = 12 * 3600_000;
/** Sessions one API key may hold at once; signing in again past it ends its oldest. */
export const SESSIONS_PER_KEY = 32;
const TOKEN = /^ops_[A-Za-z0-9_-]{43}$/;

export interface Session {
  /** The API key that opened it, or `jwt:<subject>` for a session opened with a JWT. */
  keyId: string;
  expiresAt: number;
  /** A JWT's session: the token's subject and the scopes it carried (a key's session reads its key's, as they are now). */
  token?: { subject: string; scopes: string[] };
}

function digestOf(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class SessionStore {
  private readonly stmt;

  constructor(
    db: SqlDatabase,
    private readonly now: () => number = Date.now,
  ) {
    // Postgres: postgres-schema.ts makes these tables.
    if (db.dialect === "sqlite") {
      db.exec(`
      CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS sessions_by_key ON sessions (key_id, created_at);
    `);
      // A JWT's session keeps what the token said (guarded: an older data directory has no such columns).
      const have = new Set((db.prepare("PRAGMA table_info(sessions)").all() as { name: string }[]).map((c) => c.name));
      if (!have.has("subject")) db.exec("ALTER TABLE sessions ADD COLUMN subject TEXT");
      if (!have.has("scopes")) db.exec("ALTER TABLE sessions ADD COLUMN scopes TEXT");
    }
    this.stmt = {
      insert: db.prepare("INSERT INTO sessions (digest, key_id, created_at, expires_at, subject, scopes) VALUES (?, ?, ?, ?, ?, ?)"),
      // A key's session needs the key to still exist: removing it ends its sessions at once.
      get: db.prepare<[string], { key_id: string; expires_at: number; subject: string | null; scopes: string | null }>(
        `SELECT s.key_id, s.expires_at, s.subject, s.scopes FROM sessions s LEFT JOIN api_keys k ON k.id = s.key_id
         WHERE s.digest = ? AND (k.id IS NOT NULL OR s.subject IS NOT NULL)`,
      ),
      remove: db.prepare("DELETE FROM sessions WHERE digest = ?"),
      expired: db.prepare("DELETE FROM sessions WHERE expires_at <= ?"),
      oldest: db.prepare(
        `DELETE FROM sessions WHERE key_id = ? AND digest NOT IN
           (SELECT digest FROM sessions WHERE key_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ${SESSIONS_PER_KEY - 1})`,
      ),
    };
  }

  /** A new session for `keyId` (or a JWT's subject and scopes); the token is returned once and only its digest kept. */
  create(keyId: string, ttlMs = SESSION_TTL_MS, jwt?: { subject: string; scopes: string[] }): { token: string; session: Session } {
    const now = this.now();
    const token = `ops_${randomBytes(32).toString("base64url")}`;
    this.stmt.expired.run(now);
    this.stmt.oldest.run(keyId, keyId);
    this.stmt.insert.run(digestOf(token), keyId, now, now + ttlMs, jwt?.subject ?? null, jwt ? jwt.scopes.join(",") : null);
    return { token, session: { keyId, expiresAt: now + ttlMs, ...(jwt && { token: jwt }) } };
  }

  /** The session `token` opens, or undefined: malformed, unknown (tampered), expired, signed out, or its key gone. */
  verify(token: string): Session | undefined {
    if (!TOKEN.test(token)) return undefined;
    const row = this.stmt.get.get(digestOf(token));
    if (!row || row.expires_at <= this.now()) return undefined;
    const session: Session = { keyId: row.key_id, expiresAt: row.expires_at };
    if (row.subject !== null) session.token = { subject: row.subject, scopes: row.scopes ? row.scopes.split(",") : [] };
    return session;
  }

  revoke(token: string): void {
    if (TOKEN.test(token)) this.stmt.remove.run(digestOf(token));
  }
}
