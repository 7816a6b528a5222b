// A device's previous password after a rotation with a grace period: still accepted until valid_until, then not.
// Only the scrypt hash is kept, as for the current one. Removing the device, or a rotation without grace, ends it.
import type { SqlDatabase } from "./sql.ts";
import { digest, sameDigest, verifySecret } from "./secrets.ts";

export class PreviousSecrets {
  private readonly stmt;
  /** Stored hash -> digest of the secret that matched it (scrypt once per secret, as in Registry). */
  private readonly verified = new Map<string, Buffer>();

  /** `knownDigest`: the registry's own memory of which secret matched a stored hash (a login before the rotation). */
  constructor(
    db: SqlDatabase,
    private readonly knownDigest: (hash: string) => Buffer | undefined = () => undefined,
  ) {
    // Postgres: postgres-schema.ts makes these tables.
    if (db.dialect === "sqlite")
      db.exec(`
      CREATE TABLE IF NOT EXISTS device_previous_secrets (
        device_id TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        valid_until INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS device_previous_secrets_by_device ON device_previous_secrets (device_id);
      CREATE TRIGGER IF NOT EXISTS device_previous_secrets_of_removed AFTER DELETE ON devices
        BEGIN DELETE FROM device_previous_secrets WHERE device_id = old.id; END;
    `);
    this.stmt = {
      current: db.prepare<[string], { secret_hash: string }>("SELECT secret_hash FROM devices WHERE id = ?"),
      keep: db.prepare("INSERT INTO device_previous_secrets (device_id, secret_hash, valid_until) VALUES (?, ?, ?)"),
      forget: db.prepare("DELETE FROM device_previous_secrets WHERE device_id = ?"),
      live: db.prepare<[string, number], { secret_hash: string }>("SELECT secret_hash FROM device_previous_secrets WHERE device_id = ? AND valid_until > ?"),
      nextEnd: db.prepare<[number], { t: number | null }>("SELECT min(valid_until) AS t FROM device_previous_secrets WHERE valid_until > ?"),
      prune: db.prepare("DELETE FROM device_previous_secrets WHERE valid_until <= ?"),
    };
    this.db = db;
  }
  private readonly db: SqlDatabase;

  /**
   * Rotates `id`'s password with `rotate` (Registry.rotateCredential); the current one stays valid for `graceMs`
   * (0: it ends now, and so do earlier ones still in their grace).
   */
  rotate(id: string, graceMs: number, rotate: (id: string) => string): { credential: string; previousValidUntil: number | null } {
    return this.db.transaction(() => {
      const now = Date.now();
      this.stmt.prune.run(now);
      const current = this.stmt.current.get(id);
      if (graceMs <= 0) this.stmt.forget.run(id);
      else if (current) this.stmt.keep.run(id, current.secret_hash, now + graceMs);
      return { credential: rotate(id), previousValidUntil: graceMs > 0 && current ? now + graceMs : null };
    })();
  }

  async verify(id: string, secret: string, now = Date.now()): Promise<boolean> {
    for (const { secret_hash } of this.stmt.live.all(id, now)) {
      const known = this.verified.get(secret_hash) ?? this.knownDigest(secret_hash);
      if (known ? sameDigest(known, digest(secret)) : await verifySecret(secret, secret_hash)) {
        this.verified.set(secret_hash, digest(secret));
        return true;
      }
    }
    return false;
  }

  /** Whether a connection that logged in with this secret (its digest) may stay: a previous password still in its grace. */
  stillValid(id: string, secretDigest: Buffer, now = Date.now()): boolean {
    return this.stmt.live.all(id, now).some(({ secret_hash }) => {
      const known = this.verified.get(secret_hash) ?? this.knownDigest(secret_hash);
      return known !== undefined && sameDigest(known, secretDigest);
    });
  }

  nextEnd(after: number): number | undefined {
    return this.stmt.nextEnd.get(after)?.t ?? undefined;
  }
}
