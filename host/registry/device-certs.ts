// The client certificates each device may log in with, pinned by SHA-256 fingerprint. A certificate the CA signed is
// not enough: only a pinned one logs in, so removing the device, re-crediting it or revoking one certificate ends it
// at once (the triggers move credentials_revision, which every backend on this database watches: registry/watch.ts).
// A certificate replaced by rotation keeps working until its valid_until (the grace period), then is refused.
// A pin that goes is remembered by serial number in revoked_certs (until the certificate expires), for the CRL an
// external broker reads (tls/crl-files.ts): mosquitto cannot see the pins.
import type { SqlDatabase } from "./sql.ts";

export interface PinnedCert {
  fingerprint: string;
  device_id: string;
  /** The certificate's own expiry (ms). */
  not_after: number;
  created_at: number;
  /** Refused from this time on (ms): the end of a rotation's grace period; null while current. */
  valid_until: number | null;
  /** The certificate's serial number (hex), for the CRL; null for pins made before it was kept. */
  serial: string | null;
}

/** A certificate no longer valid for its device, for the CRL. */
export interface RevokedCert {
  serial: string;
  revoked_at: number;
}

export class DeviceCerts {
  private readonly stmt;

  constructor(private readonly db: SqlDatabase) {
    if (db.dialect === "sqlite") DeviceCerts.createSqliteTables(db); // Postgres: postgres-schema.ts
    this.stmt = {
      pin: db.prepare(
        `INSERT INTO device_certs (fingerprint, device_id, not_after, created_at, valid_until, serial) VALUES (?, ?, ?, ?, NULL, ?)
         ON CONFLICT (fingerprint) DO UPDATE SET device_id = excluded.device_id, not_after = excluded.not_after,
           created_at = excluded.created_at, valid_until = NULL, serial = excluded.serial`,
      ),
      unrevoke: db.prepare("DELETE FROM revoked_certs WHERE serial = ?"),
      revoked: db.prepare<[number, number, number], RevokedCert>(
        `SELECT serial, revoked_at FROM revoked_certs WHERE not_after > ?
         UNION SELECT serial, valid_until FROM device_certs WHERE serial IS NOT NULL AND valid_until <= ? AND not_after > ?
         ORDER BY serial`,
      ),
      pruneRevoked: db.prepare("DELETE FROM revoked_certs WHERE not_after <= ?"),
      crlFiles: db.prepare<[], { path: string }>("SELECT path FROM crl_files ORDER BY path"),
      addCrlFile: db.prepare("INSERT INTO crl_files (path) VALUES (?) ON CONFLICT DO NOTHING"),
      get: db.prepare<[string], PinnedCert>("SELECT * FROM device_certs WHERE fingerprint = ?"),
      list: db.prepare<[string], PinnedCert>("SELECT * FROM device_certs WHERE device_id = ? ORDER BY created_at"),
      limitOthers: db.prepare("UPDATE device_certs SET valid_until = ? WHERE device_id = ? AND fingerprint <> ? AND (valid_until IS NULL OR valid_until > ?)"),
      revoke: db.prepare("DELETE FROM device_certs WHERE fingerprint = ?"),
      revokeAll: db.prepare("DELETE FROM device_certs WHERE device_id = ?"),
      nextEnd: db.prepare<[number, number], { t: number | null }>(
        "SELECT min(t) AS t FROM (SELECT valid_until AS t FROM device_certs WHERE valid_until > ? UNION ALL SELECT not_after FROM device_certs WHERE not_after > ?) AS ends",
      ),
      device: db.prepare<[string], { id: string }>("SELECT id FROM devices WHERE id = ?"),
    };
  }

  private static createSqliteTables(db: SqlDatabase): void {
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
        CREATE TABLE IF NOT EXISTS revoked_certs (
          serial TEXT PRIMARY KEY,
          device_id TEXT NOT NULL,
          not_after INTEGER NOT NULL,
          revoked_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS crl_files (path TEXT PRIMARY KEY);
      `);
    // Additive: a data directory from before keeps its pins (without serials: those cannot be listed in a CRL).
    const columns = db.prepare<[], { name: string }>("PRAGMA table_info(device_certs)").all();
    if (!columns.some((c) => c.name === "serial")) {
      try {
        db.exec("ALTER TABLE device_certs ADD COLUMN serial TEXT");
      } catch (err) {
        if (!/duplicate column/i.test(String(err))) throw err; // another process added it first
      }
    }
    db.exec(`
        CREATE TRIGGER IF NOT EXISTS device_cert_revoked_serial AFTER DELETE ON device_certs WHEN old.serial IS NOT NULL
          BEGIN INSERT OR REPLACE INTO revoked_certs (serial, device_id, not_after, revoked_at)
            VALUES (old.serial, old.device_id, old.not_after, CAST(unixepoch('subsec') * 1000 AS INTEGER)); END;
      `);
  }

  /**
   * Pins `fingerprint` for `deviceId`. With `graceMs`, the device's other certificates stay valid that long (a
   * rotation); without, they are revoked now.
   */
  pin(deviceId: string, fingerprint: string, notAfter: number, graceMs = 0, serial?: string): void {
    if (!this.stmt.device.get(deviceId)) throw new Error(`no device ${deviceId}`);
    const now = Date.now();
    this.db.transaction(() => {
      this.stmt.pin.run(fingerprint, deviceId, notAfter, now, serial?.toLowerCase() ?? null);
      if (serial) this.stmt.unrevoke.run(serial.toLowerCase()); // pinned again: no longer revoked
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

  /**
   * The certificates a CRL must list: revoked (unpinned) or past their rotation's grace, and not yet expired (an
   * expired certificate is refused without a CRL). Older revocations are forgotten here.
   */
  revokedSerials(now = Date.now()): RevokedCert[] {
    this.stmt.pruneRevoked.run(now);
    return this.stmt.revoked.all(now, now, now);
  }

  /** Where CRLs for external brokers are kept (`outpost broker mosquitto` adds its own); rewritten at each change. */
  crlFiles(): string[] {
    return this.stmt.crlFiles.all().map((r) => r.path);
  }

  addCrlFile(path: string): void {
    this.stmt.addCrlFile.run(path);
  }

  /** The first grace period or validity to end after `after` (ms), if any: the backend checks its connections again then. */
  nextEnd(after: number): number | undefined {
    return this.stmt.nextEnd.get(after, after)?.t ?? undefined;
  }
}
