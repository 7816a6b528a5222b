// The client certificates each device may log in with, pinned by SHA-256 fingerprint. A certificate the CA signed is
// not enough: only a pinned one logs in, so removing the device, re-crediting it or revoking one certificate ends it
// at once (the triggers move credentials_revision, which every backend on this database watches: registry/watch.ts).
// A certificate replaced by rotation keeps working until its valid_until (the grace period), then is refused.
import type Database from "better-sqlite3";

export interface PinnedCert {
  fingerprint: string;
  device_id: string;
  /** The certificate's own expiry (ms). */
  not_after: number;
  created_at: number;
  /** Refused from this time on (ms): the end of a rotation's grace period; null while current. */
  valid_until: number | null;
}

export class DeviceCerts {
  private readonly stmt;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS device_certs (
        fingerprint TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        not_after INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        valid_until INTEGER
      );
      CREATE INDEX IF NOT EXISTS device_certs_by_device ON device_certs (device_id);
      CREATE TRIGGER IF NOT EXISTS device_certs_of_removed AFTER DELETE ON devices
        BEGIN DELETE FROM device_certs WHERE device_id = old.id; END;
      CREATE TRIGGER IF NOT EXISTS device_certs_of_recredited AFTER UPDATE OF secret_hash ON devices
        BEGIN DELETE FROM device_certs WHERE device_id = new.id; END;
      CREATE TRIGGER IF NOT EXISTS device_cert_removed AFTER DELETE ON device_certs
        BEGIN UPDATE credentials_revision SET revision = revision + 1; END;
      CREATE TRIGGER IF NOT EXISTS device_cert_limited AFTER UPDATE OF valid_until ON device_certs
        BEGIN UPDATE credentials_revision SET revision = revision + 1; END;
    `);
    this.stmt = {
      pin: db.prepare("INSERT OR REPLACE INTO device_certs (fingerprint, device_id, not_after, created_at, valid_until) VALUES (?, ?, ?, ?, NULL)"),
      get: db.prepare<[string], PinnedCert>("SELECT * FROM device_certs WHERE fingerprint = ?"),
      list: db.prepare<[string], PinnedCert>("SELECT * FROM device_certs WHERE device_id = ? ORDER BY created_at"),
      limitOthers: db.prepare("UPDATE device_certs SET valid_until = ? WHERE device_id = ? AND fingerprint <> ? AND (valid_until IS NULL OR valid_until > ?)"),
      revoke: db.prepare("DELETE FROM device_certs WHERE fingerprint = ?"),
      revokeAll: db.prepare("DELETE FROM device_certs WHERE device_id = ?"),
      nextEnd: db.prepare<[number, number], { t: number | null }>(
        "SELECT min(t) AS t FROM (SELECT valid_until AS t FROM device_certs WHERE valid_until > ? UNION ALL SELECT not_after FROM device_certs WHERE not_after > ?)",
      ),
      device: db.prepare<[string], { id: string }>("SELECT id FROM devices WHERE id = ?"),
    };
  }

  /**
   * Pins `fingerprint` for `deviceId`. With `graceMs`, the device's other certificates stay valid that long (a
   * rotation); without, they are revoked now.
   */
  pin(deviceId: string, fingerprint: string, notAfter: number, graceMs = 0): void {
    if (!this.stmt.device.get(deviceId)) throw new Error(`no device ${deviceId}`);
    const now = Date.now();
    this.db.transaction(() => {
      this.stmt.pin.run(fingerprint, deviceId, notAfter, now);
      this.stmt.limitOthers.run(now + graceMs, deviceId, fingerprint, now + graceMs);
      if (graceMs <= 0) for (const c of this.list(deviceId)) if (c.fingerprint !== fingerprint) this.stmt.revoke.run(c.fingerprint);
    })();
  }

  get(fingerprint: string): PinnedCert | undefined {
    return this.stmt.get.get(fingerprint);
  }

  list(deviceId: string): PinnedCert[] {
    return this.stmt.list.all(deviceId);
  }

  /** Whether `fingerprint` is pinned for `deviceId` and neither past its grace period nor expired. */
  valid(deviceId: string, fingerprint: string, now = Date.now()): boolean {
    const c = this.get(fingerprint);
    return c !== undefined && c.device_id === deviceId && c.not_after > now && (c.valid_until === null || c.valid_until > now);
  }

  revoke(fingerprint: string): boolean {
    return this.stmt.revoke.run(fingerprint).changes > 0;
  }

  revokeAll(deviceId: string): number {
    return this.stmt.revokeAll.run(deviceId).changes;
  }

  /** The first grace period or validity to end after `after` (ms), if any: the backend checks its connections again then. */
  nextEnd(after: number): number | undefined {
    return this.stmt.nextEnd.get(after, after)?.t ?? undefined;
  }
}
