// A simulated device's half of an over-the-air update (docs/ota.md, "The device methods"), for `outpost sim`:
// ota.begin / ota.write / ota.finish / ota.confirm / ota.abort with their named refusals, slots kept in memory.
// A configurable share of the devices "fail" their new module: after ota.finish they come back on the old
// version and report `last: {outcome: "rolled_back", reason: "trap_at_start"}`, as a device whose new module traps
// at start does. The module does not really restart (no reconnect). Until the Node device's sys.info carries the
// `app` object (the ota branch), the simulator answers it on `ota.status`.
import { createHash, createPublicKey, verify } from "node:crypto";
import { RpcError, type Method } from "../device.ts";
import { OTA_ERROR_CODES, type OtaErrorName } from "../ota/manifest.ts";

const refuse = (name: OtaErrorName, why: string) => new RpcError(OTA_ERROR_CODES[name], name, why);

export const SIM_ABI = 2;
export const SIM_CHUNK = 2048;
export const SIM_SLOT_BYTES = 256 * 1024;

export interface SimOtaOptions {
  /** Ed25519 public keys, 64 hex digits each; none: every signature is refused (bad_signature), as a device does. */
  publicKeys: string[];
  /** Whether this device's new module fails at start (then it rolls back). */
  fails: boolean;
}

interface Manifest {
  version: number;
  size: number;
  sha256: string;
  abi: number;
  label?: string;
}

/** What the simulated device tells about its module (docs/ota.md, "`app` in sys.info"). */
export interface SimApp {
  version: number;
  label: string | null;
  state: "confirmed" | "pending";
  previous: number | null;
  transfer: { version: number; offset: number; size: number } | null;
  last: { version: number; outcome: string; reason: string | null } | null;
}

/** Whether `id` is among the `fraction` of a fleet that fails: by a hash of the id, so a test knows which. */
export function simFails(id: string, fraction: number): boolean {
  const h = createHash("sha256").update(id).digest().readUInt32BE(0);
  return h / 2 ** 32 < fraction;
}

function parseManifest(bytes: Buffer): Manifest {
  if (bytes.length > 512) throw refuse("bad_manifest", "over 512 bytes");
  let m: any;
  try {
    m = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw refuse("bad_manifest", "not JSON");
  }
  const whole = (v: unknown, max: number) => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= max;
  if (!m || typeof m !== "object" || m.format !== "outpost-release/1") throw refuse("bad_manifest", "format must be outpost-release/1");
  if (!whole(m.version, 0xffffffff) || !whole(m.size, 0xffffffff) || !whole(m.abi, 0xffff))
    throw refuse("bad_manifest", "version, size and abi must be integers");
  if (typeof m.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(m.sha256)) throw refuse("bad_manifest", "sha256 must be 64 lowercase hex digits");
  return m as Manifest;
}

const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function simOtaMethods(opts: SimOtaOptions): { methods: Record<string, Method>; app: () => SimApp; calls: () => number } {
  const keys = opts.publicKeys.map((hex) =>
    createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(hex, "hex")]), format: "der", type: "spki" }),
  );
  const app: SimApp = { version: 0, label: null, state: "confirmed", previous: null, transfer: null, last: null };
  let begun: { manifestB64: string; manifest: Manifest; data: Buffer; offset: number } | undefined;
  let calls = 0;
  const obj = (p: unknown): Record<string, unknown> => {
    calls++;
    if (!p || typeof p !== "object" || Array.isArray(p)) throw refuse("bad_params", "params must be an object");
    return p as Record<string, unknown>;
  };
  const methods: Record<string, Method> = {
    "ota.begin": (p) => {
      const { manifest: mb64, signature: sb64 } = obj(p);
      if (typeof mb64 !== "string" || typeof sb64 !== "string") throw refuse("bad_params", "manifest and signature are base64 strings");
      const bytes = Buffer.from(mb64, "base64");
      const manifest = parseManifest(bytes);
      const sig = Buffer.from(sb64, "base64");
      if (sig.length !== 64 || !keys.some((k) => verify(null, bytes, k, sig))) throw refuse("bad_signature", "no configured key verifies it");
      if (manifest.abi !== SIM_ABI) throw refuse("abi_unsupported", `this engine implements ABI ${SIM_ABI}`);
      if (manifest.version <= app.version) throw refuse("not_newer", `running version ${app.version}`);
      if (manifest.size > SIM_SLOT_BYTES) throw refuse("too_big", `the slot holds ${SIM_SLOT_BYTES} bytes`);
      if (app.state === "pending") throw refuse("busy", "an update waits for its confirmation");
      if (begun?.manifestB64 !== mb64) begun = { manifestB64: mb64, manifest, data: Buffer.alloc(manifest.size), offset: 0 };
      app.transfer = { version: manifest.version, offset: begun.offset, size: manifest.size };
      return { offset: begun.offset, chunk: SIM_CHUNK, slot: "b" };
    },
    "ota.write": (p) => {
      const { offset, data } = obj(p);
      if (!begun) throw refuse("no_transfer", "ota.begin first");
      if (typeof offset !== "number" || typeof data !== "string") throw refuse("bad_params", "offset and data are required");
      if (offset !== begun.offset) throw new RpcError(OTA_ERROR_CODES.bad_offset, "bad_offset", `expected ${begun.offset}`);
      const chunk = Buffer.from(data, "base64");
      if (chunk.length > SIM_CHUNK || offset + chunk.length > begun.manifest.size) throw refuse("too_big", "chunk over its bound or past size");
      chunk.copy(begun.data, offset);
      begun.offset += chunk.length;
      app.transfer = { version: begun.manifest.version, offset: begun.offset, size: begun.manifest.size };
      return { offset: begun.offset };
    },
    "ota.finish": (p) => {
      obj(p);
      if (!begun) throw refuse("no_transfer", "ota.begin first");
      if (begun.offset < begun.manifest.size) throw refuse("incomplete", `${begun.offset} of ${begun.manifest.size} bytes`);
      const { manifest, data } = begun;
      begun = undefined;
      app.transfer = null;
      if (createHash("sha256").update(data).digest("hex") !== manifest.sha256) throw refuse("hash_mismatch", "the slot is not the manifest's");
      // The answer goes first; then the "restart" on the new slot, which traps at start on a failing device.
      setImmediate(() => {
        if (opts.fails) app.last = { version: manifest.version, outcome: "rolled_back", reason: "trap_at_start" };
        else Object.assign(app, { previous: app.version, version: manifest.version, label: manifest.label ?? null, state: "pending" });
      });
      return { state: "pending", version: manifest.version, slot: "b" };
    },
    "ota.confirm": (p) => {
      const { version } = obj(p);
      if (version !== app.version || (app.state !== "pending" && app.last?.version !== version))
        throw refuse("not_pending", `running ${app.version}, ${app.state}`);
      if (app.state === "pending") {
        app.state = "confirmed";
        app.last = { version: app.version, outcome: "succeeded", reason: null };
      }
      return { state: "confirmed", version: app.version };
    },
    "ota.abort": (p) => {
      obj(p);
      begun = undefined;
      app.transfer = null;
      return { state: "idle" };
    },
    "ota.status": () => ({ ...app }),
  };
  return { methods, app: () => ({ ...app }), calls: () => calls };
}
