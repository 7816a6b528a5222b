// The device registry and API keys, in SQLite (<data>/outpost.db, WAL so the CLI works while the server runs) or,
// with a postgres:// URL, in Postgres, which nodes on several machines share (sql.ts is what both speak).
import { dirname, join, resolve } from "node:path";
import { ApiKeys, type ApiKeyRecord } from "./api-keys.ts";
import { AuditLog } from "./audit.ts";
import type { Scope } from "./scopes.ts";
import { privateDir, privateFile, restrictExisting, secretFile } from "./private-files.ts";
import { DeviceTags } from "./tags.ts";
import { JobStore } from "./jobs.ts";
import { DeviceCerts } from "./device-certs.ts";
import { PreviousSecrets } from "./previous-secrets.ts";
import { PostgresDatabase } from "./postgres.ts";
import { isPostgresUrl, isUniqueViolation, SqliteDatabase, type SqlDatabase } from "./sql.ts";
import { DEFAULT_COST, DEVICE_COST, digest, hashSecret, mosquittoHash, newSecret, sameDigest, verifySecret, type ScryptCost } from "./secrets.ts";

export { apiKeyId, isApiKeyShaped } from "./api-keys.ts";

/** The broker username of the backend's own, privileged client. No device may take it. */
export const BACKEND_USERNAME = "outpost-backend";
/** Safe as one MQTT topic level and as a mosquitto %u: no '/', '+', '#', '$', ':' or spaces. */
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/**
 * Ids no new device may take: GET /api/v1/devices/ws is the WebSocket gateway's upgrade, so such a device could
 * never be read over REST. Only creation refuses them; a device made before keeps working.
 */
const RESERVED_DEVICE_IDS = new Set(["ws"]);

export class InvalidDeviceId extends Error {
  override name = "InvalidDeviceId";
}
export class NoBackendPassword extends Error {
  override name = "NoBackendPassword";
}
export class DeviceExists extends Error {
  override name = "DeviceExists";
}

/** What a device takes, in bytes (null: not known). The latest word wins: declared at creation, then announced. */
export interface DeviceLimits {
  /** Largest JSON-RPC request, as the device receives it. */
  request_max: number | null;
  /** Largest answer the device can write (shown; the backend cannot know an answer's size before asking). */
  response_max: number | null;
  /** Largest MQTT packet the device accepts (its MQTT 5 CONNECT Maximum Packet Size). */
  max_packet: number | null;
}
const NO_LIMITS: DeviceLimits = { request_max: null, response_max: null, max_packet: null };
const LIMIT_NAMES = ["request_max", "response_max", "max_packet"] as const;

export interface DeviceRecord {
  id: string;
  metadata: Record<string, unknown>;
  limits: DeviceLimits;
  created_at: number;
  last_seen: number | null;
  connected_since: number | null;
  online: boolean;
  transport: string | null;
}

export interface Presence {
  id: string;
  online: boolean;
  last_seen: number | null;
  connected_since: number | null;
  transport: string | null;
}

export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID.test(id) && id !== BACKEND_USERNAME;
}

export function dbPath(dataDir: string): string {
  return join(resolve(dataDir), "outpost.db");
}

/** The backend's broker password: a 0600 file in a 0700 directory, never in the database. */
export function backendPasswordPath(dataDir: string): string {
  return join(resolve(dataDir), "secrets", "broker-backend-password");
}
/** Where versions before the secrets directory kept it, in plain text (moved out on open). */
const LEGACY_PASSWORD_SETTING = "broker.backend_password";

interface DeviceRow {
  id: string;
  metadata: string;
  request_max: number | null;
  response_max: number | null;
  max_packet: number | null;
  created_at: number;
  last_seen: number | null;
  connected_since: number | null;
  online: number;
  transport: string | null;
}

function toRecord({ request_max, response_max, max_packet, ...row }: DeviceRow): DeviceRecord {
  return { ...row, metadata: JSON.parse(row.metadata), online: row.online === 1, limits: { request_max, response_max, max_packet } };
}

/** How long a hot-path lookup (an API key's or a device's existence) is trusted before SQLite is asked again. */
const RECHECK_MS = 1000;

export class Registry {
  readonly db: SqlDatabase;
  /** Hot-path answers, re-read after RECHECK_MS so that changes made by the CLI (another process) show up. */
  private readonly recent = new Map<string, { at: number; value: unknown }>();
  /** Stored hash -> digest of the secret that matched it, so scrypt runs once per secret, not per request. */
  private readonly verified = new Map<string, Buffer>();
  /** API keys with names, scopes and expiry (api-keys.ts). */
  readonly apiKeys: ApiKeys;
  /** Who called what, device connects and refused logins (audit.ts). */
  readonly audit: AuditLog;
  private readonly deviceCost: ScryptCost;
  private readonly stmt;
  private readonly passwordPath: string;
  /** Device tags and editable metadata (tags.ts). */
  readonly tags: DeviceTags;
  /** Fleet jobs and their per-device executions (jobs.ts). */
  readonly jobs: JobStore;

  /**
   * `db`: a postgres://… URL puts the registry there (its password in the URL or given apart, see cli/db-options.ts);
   * otherwise it is SQLite in `dataDir`, which holds the node's secrets either way.
   */
  constructor(dataDir: string, opts: { db?: string; keyCost?: ScryptCost; deviceCost?: ScryptCost; auditMaxRows?: number } = {}) {
    privateDir(resolve(dataDir));
    this.deviceCost = opts.deviceCost ?? DEVICE_COST;
    this.passwordPath = backendPasswordPath(dataDir);
    privateDir(dirname(this.passwordPath));
    this.db = isPostgresUrl(opts.db) ? new PostgresDatabase(opts.db) : Registry.openSqlite(dataDir);
    this.apiKeys = new ApiKeys(this.db, opts.keyCost ?? DEFAULT_COST);
    this.audit = new AuditLog(this.db, { maxRows: opts.auditMaxRows });
    this.tags = new DeviceTags(this.db);
    this.jobs = new JobStore(this.db);
    const cols = `id, metadata, created_at, last_seen, connected_since, online, transport, ${LIMIT_NAMES.join(", ")}`;
    this.stmt = {
      insertDevice: this.db.prepare(
        "INSERT INTO devices (id, secret_hash, mosquitto_hash, metadata, created_at, request_max, response_max, max_packet) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      limits: this.db.prepare<[string], DeviceLimits>(`SELECT ${LIMIT_NAMES.join(", ")} FROM devices WHERE id = ?`),
      setLimits: this.db.prepare("UPDATE devices SET request_max = ?, response_max = ?, max_packet = ? WHERE id = ?"),
      getDevice: this.db.prepare<[string], DeviceRow>(`SELECT ${cols} FROM devices WHERE id = ?`),
      listDevices: this.db.prepare<[], DeviceRow>(`SELECT ${cols} FROM devices ORDER BY id`),
      deviceHash: this.db.prepare<[string], { secret_hash: string }>("SELECT secret_hash FROM devices WHERE id = ?"),
      removeDevice: this.db.prepare("DELETE FROM devices WHERE id = ?"),
      countDevices: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM devices"),
      rotate: this.db.prepare("UPDATE devices SET secret_hash = ?, mosquitto_hash = ? WHERE id = ?"),
      presence: this.db.prepare("UPDATE devices SET online = ?, last_seen = ?, connected_since = ?, transport = ? WHERE id = ?"),
      allOffline: this.db.prepare("UPDATE devices SET online = 0"),
      mosquittoUsers: this.db.prepare<[], { id: string; mosquitto_hash: string }>("SELECT id, mosquitto_hash FROM devices ORDER BY id"),
      getSetting: this.db.prepare<[string], { value: string }>("SELECT value FROM settings WHERE key = ?"),
      setSetting: this.db.prepare("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      revision: this.db.prepare<[], { revision: number }>("SELECT revision FROM credentials_revision"),
    };
    if (this.db instanceof SqliteDatabase) this.moveLegacyPassword(this.db);
  }

  /** <data>/outpost.db, made with this table and the ones before (Postgres: postgres-schema.ts). */
  private static openSqlite(dataDir: string): SqliteDatabase {
    const file = dbPath(dataDir);
    privateFile(file);
    restrictExisting([`${file}-wal`, `${file}-shm`]);
    const db = SqliteDatabase.open(file);
    db.raw.pragma("journal_mode = WAL");
    db.raw.pragma("busy_timeout = 5000");
    db.raw.pragma("synchronous = NORMAL");
    db.exec(`
      CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        mosquitto_hash TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        last_seen INTEGER,
        connected_since INTEGER,
        online INTEGER NOT NULL DEFAULT 0,
        transport TEXT
      );
      CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      -- Counts removals and new credentials, whichever process makes them (the triggers live in the database), so a
      -- running backend notices them with one cheap read and disconnects the devices concerned.
      CREATE TABLE IF NOT EXISTS credentials_revision (one INTEGER PRIMARY KEY CHECK (one = 1), revision INTEGER NOT NULL);
      INSERT OR IGNORE INTO credentials_revision (one, revision) VALUES (1, 0);
      CREATE TRIGGER IF NOT EXISTS device_removed AFTER DELETE ON devices
        BEGIN UPDATE credentials_revision SET revision = revision + 1; END;
      CREATE TRIGGER IF NOT EXISTS device_recredited AFTER UPDATE OF secret_hash ON devices
        BEGIN UPDATE credentials_revision SET revision = revision + 1; END;
    `);
    Registry.addLimitColumns(db);
    restrictExisting([`${file}-wal`, `${file}-shm`]); // made by SQLite just now, if they were missing
    return db;
  }

  /** Databases made before device limits existed get the columns (null: not known). */
  private static addLimitColumns(db: SqliteDatabase): void {
    const have = new Set(
      db
        .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('devices')")
        .all()
        .map((c) => c.name),
    );
    for (const name of LIMIT_NAMES) if (!have.has(name)) db.exec(`ALTER TABLE devices ADD COLUMN ${name} INTEGER`);
  }

  /**
   * An older data directory kept the backend password in the settings table: it moves to its file (the same
   * value, so a generated mosquitto passwd stays valid) and its bytes are overwritten in the database and WAL.
   */
  private moveLegacyPassword(db: SqliteDatabase): void {
    const legacy = this.setting(LEGACY_PASSWORD_SETTING);
    if (!legacy) return;
    secretFile(this.passwordPath, () => legacy);
    db.raw.pragma("secure_delete = ON");
    db.prepare("DELETE FROM settings WHERE key = ?").run(LEGACY_PASSWORD_SETTING);
    db.raw.pragma("wal_checkpoint(TRUNCATE)");
  }

  close(): void {
    this.audit.close();
    this.db.close();
  }

  /** A new API key, returned once: "opk_<16 hex id>_<secret>" (default: every scope, no expiry). Only its scrypt hash is kept. */
  createApiKey(opts: { name?: string; scopes?: readonly Scope[]; expiresAt?: number | null } = {}): { id: string; key: string; record: ApiKeyRecord } {
    const { record, key } = this.apiKeys.create(opts);
    return { id: record.id, key, record };
  }

  private pinned: DeviceCerts | undefined;
  /** The devices' pinned client certificates (device-certs.ts), made on first use. */
  get certs(): DeviceCerts {
    this.pinned ??= new DeviceCerts(this.db);
    return this.pinned;
  }

  private previous: PreviousSecrets | undefined;
  /** Devices' previous passwords in a rotation's grace period (previous-secrets.ts), made on first use. */
  get previousSecrets(): PreviousSecrets {
    this.previous ??= new PreviousSecrets(this.db, (hash) => this.verified.get(hash));
    return this.previous;
  }

  /** Whether `key` is valid now (known, not revoked, not expired). */
  async verifyApiKey(key: string): Promise<boolean> {
    return (await this.apiKeys.verify(key)).ok;
  }

  /** Adds a device; its credential is in the result and nowhere else. */
  addDevice(id: string, metadata: Record<string, unknown> = {}, limits: Partial<DeviceLimits> = {}): { id: string; credential: string } {
    if (!isValidDeviceId(id)) throw new InvalidDeviceId(`device id must match ${DEVICE_ID} and not be "${BACKEND_USERNAME}": ${JSON.stringify(id)}`);
    if (RESERVED_DEVICE_IDS.has(id))
      throw new InvalidDeviceId(`device id ${JSON.stringify(id)} is reserved (GET /api/v1/devices/ws is the WebSocket gateway); choose another`);
    const credential = newSecret();
    this.recent.delete(`dev:${id}`);
    this.recent.delete(`lim:${id}`);
    const { request_max = null, response_max = null, max_packet = null } = limits;
    try {
      this.stmt.insertDevice.run(
        id,
        hashSecret(credential, this.deviceCost),
        mosquittoHash(credential),
        JSON.stringify(metadata),
        Date.now(),
        request_max,
        response_max,
        max_packet,
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new DeviceExists(`device ${id} exists`);
      throw err;
    }
    return { id, credential };
  }

  /** A fresh credential for an existing device (the old one stops working). */
  rotateCredential(id: string): string {
    const credential = newSecret();
    const res = this.stmt.rotate.run(hashSecret(credential, this.deviceCost), mosquittoHash(credential), id);
    if (res.changes === 0) throw new InvalidDeviceId(`no device ${id}`);
    return credential;
  }

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.stmt.getDevice.get(id);
    return row ? toRecord(row) : undefined;
  }

  hasDevice(id: string): boolean {
    return this.stmt.deviceHash.get(id) !== undefined;
  }

  /** hasDevice for the RPC path: may be up to a second behind changes made by another process. */
  hasDeviceRecent(id: string): boolean {
    return this.cachedLookup(`dev:${id}`, () => (this.stmt.deviceHash.get(id) ? "1" : null)) !== null;
  }

  /** A device's limits for the RPC path (no limits for an unknown id); like hasDeviceRecent, up to a second old. */
  limitsRecent(id: string): DeviceLimits {
    return this.cachedLookup(`lim:${id}`, () => this.stmt.limits.get(id) ?? NO_LIMITS);
  }

  /** Replaces the limits named in `limits` (a device's announcement); returns whether anything changed. */
  setLimits(id: string, limits: Partial<DeviceLimits>): boolean {
    const old = this.limitsRecent(id); // telemetry repeats the same announcement: no SQLite read each time
    const next = { ...old, ...limits };
    if (LIMIT_NAMES.every((n) => next[n] === old[n])) return false;
    this.stmt.setLimits.run(next.request_max, next.response_max, next.max_packet, id);
    this.recent.delete(`lim:${id}`);
    return true;
  }

  private cachedLookup<T>(key: string, read: () => T): T {
    const now = Date.now();
    const hit = this.recent.get(key);
    if (hit && now - hit.at < RECHECK_MS) return hit.value as T;
    const value = read();
    if (this.recent.size > 100_000) this.recent.clear(); // bounded: ids and key ids come from callers
    this.recent.set(key, { at: now, value });
    return value;
  }

  listDevices(): DeviceRecord[] {
    return this.stmt.listDevices.all().map(toRecord);
  }

  countDevices(): number {
    return this.stmt.countDevices.get()!.n;
  }

  removeDevice(id: string): boolean {
    this.recent.delete(`dev:${id}`);
    this.recent.delete(`lim:${id}`);
    return this.stmt.removeDevice.run(id).changes > 0;
  }

  async verifyDevice(id: string, credential: string): Promise<boolean> {
    const row = this.stmt.deviceHash.get(id);
    return row ? this.verifyAgainst(credential, row.secret_hash) : false;
  }

  /**
   * Whether `credentialDigest` (the digest of a secret that verified for `id` in this process) is still the device's
   * credential: false once the device is removed or has a new one. No scrypt: the digest is compared with the one
   * remembered for the stored hash, and a new hash has none.
   */
  stillValid(id: string, credentialDigest: Buffer): boolean {
    const row = this.stmt.deviceHash.get(id);
    const known = row && this.verified.get(row.secret_hash);
    return known !== undefined && sameDigest(known, credentialDigest);
  }

  /** Goes up whenever a device is removed or given a new credential, by any process on this database. */
  credentialsRevision(): number {
    return this.stmt.revision.get()!.revision;
  }

  /** Writes presence in one transaction (the server batches it; a write per message would be too slow). */
  savePresence(rows: Presence[]): void {
    this.db.transaction((list: Presence[]) => {
      for (const p of list) this.stmt.presence.run(p.online ? 1 : 0, p.last_seen, p.connected_since, p.transport, p.id);
    })(rows);
  }

  /** At server start nobody is connected yet; retained status messages bring the truth back. */
  markAllOffline(): void {
    this.stmt.allOffline.run();
  }

  mosquittoUsers(): { id: string; mosquitto_hash: string }[] {
    return this.stmt.mosquittoUsers.all();
  }

  setting(key: string): string | undefined {
    return this.stmt.getSetting.get(key)?.value;
  }

  setSetting(key: string, value: string): void {
    this.stmt.setSetting.run(key, value);
  }

  /**
   * The backend's own broker password, created once and kept (it must be presented, so it is stored as is, in
   * its own 0600 file). `create: false` for a reader that must not make one of its own (a broker worker).
   */
  backendPassword({ create = true } = {}): string {
    const pw = secretFile(this.passwordPath, create ? () => newSecret(32) : undefined);
    if (!pw) throw new NoBackendPassword(`the backend has not created its broker password yet (${this.passwordPath})`);
    return pw;
  }

  private async verifyAgainst(secret: string, stored: string): Promise<boolean> {
    const known = this.verified.get(stored);
    if (known) return sameDigest(known, digest(secret));
    if (!(await verifySecret(secret, stored))) return false;
    this.verified.set(stored, digest(secret));
    return true;
  }
}
