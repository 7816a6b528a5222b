// API keys: a name, scopes, an optional expiry; revoked and rotated. Only scrypt hashes of the keys are stored.
// A key is "opk_<16 hex id>_<secret>": the id finds the row, the whole key is what the hash is of.
import { isUniqueViolation, type SqlDatabase } from "./sql.ts";
import { randomBytes } from "node:crypto";
import { SCOPES, parseScopes, type Scope } from "./scopes.ts";
import { DEFAULT_COST, digest, hashSecret, newSecret, sameDigest, verifySecret, type ScryptCost } from "./secrets.ts";

const API_KEY = /^opk_([0-9a-f]{16})_([A-Za-z0-9_-]{16,})$/;
/** A name is one shell word and one URL path segment; never 16 hex digits, which would read as a key id. */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
/** After a rotation the old secret keeps working this long unless told otherwise, so deployed clients can be updated. */
export const DEFAULT_ROTATION_GRACE_MS = 60 * 60 * 1000;
export const MAX_ROTATION_GRACE_MS = 30 * 24 * 60 * 60 * 1000;
/** How long a key's row is trusted before SQLite is asked again: the most a revocation by another process lags. */
const RECHECK_MS = 1000;
/** What keys from before names and scopes get: they could do everything, and still can. */
const LEGACY_SCOPES = SCOPES.join(" ");

export class InvalidKeyName extends Error {
  override name = "InvalidKeyName";
}
export class KeyNameTaken extends Error {
  override name = "KeyNameTaken";
}
export class UnknownKey extends Error {
  override name = "UnknownKey";
}
export class InvalidExpiry extends Error {
  override name = "InvalidExpiry";
}
export class InvalidGrace extends Error {
  override name = "InvalidGrace";
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  rotated_at: number | null;
  /** After a rotation: until when the previous secret is still accepted. */
  previous_valid_until: number | null;
}

/** Why a key was refused: unknown (no such key, or a wrong secret), revoked, expired, or an old secret past its grace period. */
export type KeyRefusal = "unknown" | "revoked" | "expired" | "rotated";
export type KeyCheck = { ok: true; key: ApiKeyRecord } | { ok: false; reason: KeyRefusal; key?: ApiKeyRecord };

interface KeyRow {
  id: string;
  name: string | null;
  scopes: string | null;
  hash: string;
  old_hash: string | null;
  old_until: number | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  rotated_at: number | null;
}

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name ?? `key-${row.id}`, // a row an older version wrote after the migration
    scopes: parseScopes(row.scopes ?? LEGACY_SCOPES),
    created_at: row.created_at,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    rotated_at: row.rotated_at,
    previous_valid_until: row.old_hash ? row.old_until : null,
  };
}

/** Whether `key` has the form of an API key (opk_<16 hex>_<secret>), known or not. */
export function isApiKeyShaped(key: string): boolean {
  return API_KEY.test(key);
}

/** An API key's public id (the 16 hex digits); undefined if it is not key-shaped. */
export function apiKeyId(key: string): string | undefined {
  return API_KEY.exec(key)?.[1];
}

export function checkKeyName(name: unknown): string {
  if (typeof name !== "string" || !KEY_NAME.test(name) || KEY_ID.test(name))
    throw new InvalidKeyName(
      `a key name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, and not 16 hex digits: ${JSON.stringify(String(name).slice(0, 80))}`,
    );
  return name;
}

export class ApiKeys {
  private readonly stmt;
  /** Stored hash -> digest of the key that matched it, so scrypt runs once per key, not per request. */
  private readonly verified = new Map<string, Buffer>();
  private readonly recent = new Map<string, { at: number; row: KeyRow | undefined }>();
  private changes = 0;

  constructor(
    private readonly db: SqlDatabase,
    private readonly cost: ScryptCost = DEFAULT_COST,
  ) {
    if (db.dialect === "sqlite") this.migrate(); // Postgres: postgres-schema.ts
    const cols = "id, name, scopes, hash, old_hash, old_until, created_at, expires_at, revoked_at, rotated_at";
    this.stmt = {
      insert: db.prepare("INSERT INTO api_keys (id, name, scopes, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"),
      byId: db.prepare<[string], KeyRow>(`SELECT ${cols} FROM api_keys WHERE id = ?`),
      activeByName: db.prepare<[string], KeyRow>(`SELECT ${cols} FROM api_keys WHERE name = ? AND revoked_at IS NULL`),
      all: db.prepare<[], KeyRow>(`SELECT ${cols} FROM api_keys ORDER BY created_at, id`),
      revoke: db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
      // SQL reads the right-hand sides from the row as it was: old_hash takes the hash being replaced.
      rotate: db.prepare("UPDATE api_keys SET old_hash = hash, old_until = ?, hash = ?, rotated_at = ? WHERE id = ? AND revoked_at IS NULL"),
    };
  }

  /** Keys made before names and scopes: each gets the name key-<id> and every scope (what it could do before). */
  private migrate(): void {
    this.db
      .transaction(() => {
        this.db.exec("CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL, created_at INTEGER NOT NULL)");
        const have = new Set(
          this.db
            .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('api_keys')")
            .all()
            .map((c) => c.name),
        );
        const added = {
          name: "TEXT",
          scopes: "TEXT",
          expires_at: "INTEGER",
          revoked_at: "INTEGER",
          rotated_at: "INTEGER",
          old_hash: "TEXT",
          old_until: "INTEGER",
        };
        for (const [col, type] of Object.entries(added)) if (!have.has(col)) this.db.exec(`ALTER TABLE api_keys ADD COLUMN ${col} ${type}`);
        this.db.prepare("UPDATE api_keys SET name = 'key-' || id WHERE name IS NULL").run();
        this.db.prepare("UPDATE api_keys SET scopes = ? WHERE scopes IS NULL").run(LEGACY_SCOPES);
        this.db.exec("CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL");
      })
      .immediate(); // the CLI and the server may open the same database at once
  }

  /** A new key, returned once with its record. Default: named key-<id>, every scope, no expiry. */
  create(opts: { name?: string; scopes?: readonly Scope[]; expiresAt?: number | null } = {}): { record: ApiKeyRecord; key: string } {
    const id = randomBytes(8).toString("hex");
    const name = opts.name === undefined ? `key-${id}` : checkKeyName(opts.name);
    const scopes = parseScopes(opts.scopes ?? SCOPES);
    const now = Date.now();
    const expiresAt = opts.expiresAt ?? null;
    if (expiresAt !== null && !(Number.isSafeInteger(expiresAt) && expiresAt > now && expiresAt < Date.UTC(10000, 0)))
      throw new InvalidExpiry(`the expiry must be a time in the future (before year 10000), not ${new Date(expiresAt).toString()}`);
    const key = `opk_${id}_${newSecret()}`;
    try {
      this.stmt.insert.run(id, name, scopes.join(" "), hashSecret(key, this.cost), now, expiresAt);
    } catch (err) {
      if (isUniqueViolation(err)) throw new KeyNameTaken(`a key named ${name} exists: revoke it or choose another name`);
      throw err;
    }
    return { record: this.get(id)!, key };
  }

  list(): ApiKeyRecord[] {
    return this.stmt.all.all().map(toRecord);
  }

  /** The key called `nameOrId` (its name, or its 16-hex id): the active one of that name, else the key with that id. */
  get(nameOrId: string): ApiKeyRecord | undefined {
    const row = this.find(nameOrId);
    return row && toRecord(row);
  }

  private find(nameOrId: string): KeyRow | undefined {
    return KEY_ID.test(nameOrId) ? this.stmt.byId.get(nameOrId) : this.stmt.activeByName.get(nameOrId);
  }

  private require(nameOrId: string): KeyRow {
    const row = this.find(nameOrId);
    if (!row) throw new UnknownKey(`no API key ${JSON.stringify(nameOrId.slice(0, 80))} (give its name or its 16-hex id; \`outpost key list\` shows them)`);
    return row;
  }

  /** Revokes a key at once (in this process; another one notices within a second). Revoking twice is not an error. */
  revoke(nameOrId: string): ApiKeyRecord {
    const row = this.require(nameOrId);
    this.stmt.revoke.run(Date.now(), row.id);
    this.changed(row.id);
    return this.get(row.id)!;
  }

  /**
   * A new secret for the same key (same id, name, scopes, expiry). The previous secret keeps working for `graceMs`
   * (default DEFAULT_ROTATION_GRACE_MS; 0: refused at once); a secret from before that is refused from now on.
   */
  rotate(nameOrId: string, graceMs = DEFAULT_ROTATION_GRACE_MS): { record: ApiKeyRecord; key: string } {
    if (!Number.isSafeInteger(graceMs) || graceMs < 0 || graceMs > MAX_ROTATION_GRACE_MS)
      throw new InvalidGrace(`the grace period must be 0 to ${MAX_ROTATION_GRACE_MS / 1000} seconds (30 days)`);
    const row = this.require(nameOrId);
    if (row.revoked_at !== null) throw new UnknownKey(`API key ${row.name} is revoked: create a new one`);
    const key = `opk_${row.id}_${newSecret()}`;
    const now = Date.now();
    this.stmt.rotate.run(graceMs > 0 ? now + graceMs : now, hashSecret(key, this.cost), now, row.id);
    this.changed(row.id);
    return { record: this.get(row.id)!, key };
  }

  /** Goes up whenever this process revokes or rotates a key: a cache of verified callers must forget them. */
  get generation(): number {
    return this.changes;
  }

  private changed(id: string): void {
    this.recent.delete(id);
    this.changes++;
  }

  /** Whether `key` is a valid key now, and if not, why (a wrong secret is "unknown": it names nothing). */
  async verify(key: string, now = Date.now()): Promise<KeyCheck> {
    const id = apiKeyId(key);
    if (!id) return { ok: false, reason: "unknown" };
    const row = this.rowRecent(id, now);
    if (!row) return { ok: false, reason: "unknown" };
    let current = await this.matches(key, row.hash);
    if (!current && row.old_hash && (await this.matches(key, row.old_hash))) {
      if (row.old_until === null || now >= row.old_until) return { ok: false, reason: "rotated", key: toRecord(row) };
      current = true;
    }
    if (!current) return { ok: false, reason: "unknown" };
    const record = toRecord(row);
    if (row.revoked_at !== null) return { ok: false, reason: "revoked", key: record };
    if (row.expires_at !== null && now >= row.expires_at) return { ok: false, reason: "expired", key: record };
    return { ok: true, key: record };
  }

  private rowRecent(id: string, now: number): KeyRow | undefined {
    const hit = this.recent.get(id);
    if (hit && now - hit.at < RECHECK_MS) return hit.row;
    const row = this.stmt.byId.get(id);
    if (this.recent.size > 10_000) this.recent.clear(); // bounded: ids come from callers
    this.recent.set(id, { at: now, row });
    return row;
  }

  private async matches(secret: string, stored: string): Promise<boolean> {
    const known = this.verified.get(stored);
    if (known) return sameDigest(known, digest(secret));
    if (!(await verifySecret(secret, stored))) return false;
    this.verified.set(stored, digest(secret));
    return true;
  }
}
