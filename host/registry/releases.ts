// Releases (docs/ota.md, "On the backend"): the signed manifest and signature in the `releases` table, the module
// bytes in <data>/releases/<id>.wasm; and each device's app as the last update left it (`device_apps`).
import type { SqlDatabase } from "./sql.ts";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { privateDir } from "./private-files.ts";
import { keyId, parseManifest, publicKeyFromHex, publicKeyHex, sha256Hex, signatureValid, type OtaError, type Manifest } from "../ota/manifest.ts";

export interface ReleaseRecord {
  id: string;
  version: number;
  sha256: string;
  size: number;
  abi: number;
  label: string | null;
  /** The key id of the release key that verified it (null: the backend holds no release key). */
  key_id: string | null;
  created_at: number;
}

export interface Release extends ReleaseRecord {
  manifest: Buffer;
  signature: Buffer;
}

/** Where an update stands (docs/ota.md, "The backend's update"). */
export type UpdateState = "queued" | "sending" | "verifying" | "restarting" | "confirming" | "succeeded" | "failed" | "rejected" | "rolled_back" | "timed_out";
export const FINAL_STATES: ReadonlySet<UpdateState> = new Set(["succeeded", "failed", "rejected", "rolled_back", "timed_out"]);

export interface UpdateRecord {
  device: string;
  release: string;
  version: number;
  state: UpdateState;
  bytes_sent: number;
  total: number;
  reason: string | null;
  started_at: number;
  updated_at: number;
}

/** What the backend last learned of a device's module (from its sys.info `app`). */
export interface DeviceApp {
  version: number | null;
  previous: number | null;
  state: string | null;
}

export class ReleaseExists extends Error {
  override name = "ReleaseExists";
}

/** An upload refused: `code` is bad_manifest, size_mismatch, hash_mismatch or bad_signature. */
export class ReleaseInvalid extends Error {
  override name = "ReleaseInvalid";
  constructor(
    readonly code: "bad_manifest" | "size_mismatch" | "hash_mismatch" | "bad_signature",
    message: string,
  ) {
    super(message);
  }
}

export class ReleaseStore {
  private readonly dir: string;
  private readonly db: SqlDatabase;

  constructor(db: SqlDatabase, opts: { dataDir: string; publicKeys?: readonly string[] }) {
    this.db = db;
    this.dir = join(opts.dataDir, "releases");
    this.keys = (opts.publicKeys ?? []).map((hex) => ({ id: keyId(hex), key: publicKeyFromHex(hex) }));
    privateDir(this.dir);
    // Postgres: postgres-schema.ts makes these tables.
    if (db.dialect === "sqlite")
      db.exec(`
      CREATE TABLE IF NOT EXISTS releases (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, abi INTEGER NOT NULL,
        label TEXT, key_id TEXT, manifest BLOB NOT NULL, signature BLOB NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS device_updates (
        device TEXT PRIMARY KEY, release TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL,
        bytes_sent INTEGER NOT NULL, total INTEGER NOT NULL, reason TEXT, started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS device_apps (device TEXT PRIMARY KEY, version INTEGER, previous INTEGER, state TEXT);
    `);
  }
  private readonly keys: { id: string; key: ReturnType<typeof publicKeyFromHex> }[];

  /** Checks and stores one release; throws OtaError (bad_manifest, hash_mismatch, size_mismatch, bad_signature) or ReleaseExists. */
  add(manifest: Buffer, signature: Buffer, module: Buffer): ReleaseRecord {
    let m: Manifest;
    try {
      m = parseManifest(manifest);
    } catch (err) {
      throw new ReleaseInvalid("bad_manifest", (err as OtaError).message);
    }
    if (module.length !== m.size) throw new ReleaseInvalid("size_mismatch", `the manifest says ${m.size} bytes, the module is ${module.length}`);
    if (sha256Hex(module) !== m.sha256) throw new ReleaseInvalid("hash_mismatch", "the module's SHA-256 is not the manifest's");
    let signer: string | null = null;
    if (this.keys.length) {
      const k = this.keys.find((k) => signatureValid(manifest, signature, [k.key]));
      if (!k) throw new ReleaseInvalid("bad_signature", "no release key of this backend verifies the signature");
      signer = k.id;
    } else if (signature.length !== 64) throw new ReleaseInvalid("bad_signature", "an Ed25519 signature is 64 bytes");
    const id = `v${m.version}-${m.sha256.slice(0, 12)}`;
    if (this.get(id)) throw new ReleaseExists(`release ${id} exists`);
    const file = this.modulePath(id);
    writeFileSync(`${file}.tmp`, module, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    const rec: ReleaseRecord = {
      id,
      version: m.version,
      sha256: m.sha256,
      size: m.size,
      abi: m.abi,
      label: m.label ?? null,
      key_id: signer,
      created_at: Date.now(),
    };
    this.db
      .prepare("INSERT INTO releases (id, version, sha256, size, abi, label, key_id, manifest, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .run(rec.id, rec.version, rec.sha256, rec.size, rec.abi, rec.label, rec.key_id, manifest, signature, rec.created_at);
    return rec;
  }

  private modulePath(id: string): string {
    return join(this.dir, `${id}.wasm`);
  }

  list(): ReleaseRecord[] {
    return this.db
      .prepare<[], ReleaseRecord>("SELECT id, version, sha256, size, abi, label, key_id, created_at FROM releases ORDER BY version DESC, created_at DESC")
      .all();
  }

  get(id: string): Release | undefined {
    return this.db.prepare<[string], Release>("SELECT * FROM releases WHERE id = ?").get(id);
  }

  /** The module's bytes, checked against the release's hash again (a damaged file is not sent). */
  module(id: string): Buffer | undefined {
    const r = this.get(id);
    const file = this.modulePath(id);
    if (!r || !existsSync(file)) return undefined;
    const bytes = readFileSync(file);
    return sha256Hex(bytes) === r.sha256 ? bytes : undefined;
  }

  saveUpdate(u: UpdateRecord): void {
    this.db
      .prepare(
        `INSERT INTO device_updates (device, release, version, state, bytes_sent, total, reason, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET release = excluded.release, version = excluded.version, state = excluded.state,
           bytes_sent = excluded.bytes_sent, total = excluded.total, reason = excluded.reason, started_at = excluded.started_at, updated_at = excluded.updated_at`,
      )
      .run(u.device, u.release, u.version, u.state, u.bytes_sent, u.total, u.reason, u.started_at, u.updated_at);
  }

  lastUpdate(device: string): UpdateRecord | undefined {
    return this.db.prepare<[string], UpdateRecord>("SELECT * FROM device_updates WHERE device = ?").get(device);
  }

  setApp(device: string, app: DeviceApp): void {
    this.db
      .prepare(
        `INSERT INTO device_apps (device, version, previous, state) VALUES (?, ?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET version = excluded.version, previous = excluded.previous, state = excluded.state`,
      )
      .run(device, app.version, app.previous, app.state);
  }

  app(device: string): DeviceApp | undefined {
    return this.db.prepare<[string], DeviceApp>("SELECT version, previous, state FROM device_apps WHERE device = ?").get(device);
  }

  /** GET /devices' `app`: running and previous version and the last update's outcome. */
  appView(device: string): object | null {
    const app = this.app(device);
    const u = this.lastUpdate(device);
    if (!app && !u) return null;
    return {
      version: app?.version ?? null,
      previous: app?.previous ?? null,
      state: app?.state ?? null,
      last_update: u ? { release: u.release, version: u.version, state: u.state, outcome: FINAL_STATES.has(u.state) ? u.state : null, reason: u.reason } : null,
    };
  }
}

export { publicKeyHex };
