// The device's half of an update (docs/ota.md, "The device methods"), engine-independent: it checks releases,
// writes the inactive slot, keeps the state record and decides at every start which verified module runs. The
// engine shell (host/ota/node-device.ts) asks it what to start and tells it what happened.
import type { KeyObject } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import { ABI_VERSION } from "../abi.ts";
import { RpcError, type Method } from "../device/methods.ts";
import { OTA_ERROR_CODES, OtaError, decodeBase64, parseManifest, sha256Hex, signatureValid, type Manifest } from "./manifest.ts";
import { type FileSlotStore, type RollbackReason, type SlotInfo, type SlotName, type SlotRecord, otherSlot } from "./slot-store.ts";

export const DEFAULT_CONFIRM_WINDOW_MS = 120_000;
/** A slot holds at most this (the boards' slots are 64 KiB; the Node device keeps to the same). */
export const DEFAULT_SLOT_MAX = 64 * 1024;
/** Raw bytes per ota.write the Node device takes (about 8 KiB of base64: its default request buffer). */
export const DEFAULT_CHUNK = 6000;
/** The most module bytes one compressed chunk may inflate to (docs/ota.md, "Compressed chunks"). */
export const DEFLATE_MAX = 16384;

export interface AgentOptions {
  publicKeys: readonly KeyObject[];
  /** The module built in (version 0), run when no slot is confirmed. */
  builtin: Uint8Array;
  slotMax?: number;
  /** The engine's linear memory limit: a module whose declared minimum memory is over it cannot run. */
  memoryLimit?: number;
  chunk?: number;
  /** Module bytes a compressed chunk may inflate to, announced at ota.begin; 0: raw chunks only (an older device). */
  deflate?: number;
  confirmWindowMs?: number;
  abi?: number;
}

/** What to start: a slot's verified bytes (or the built-in module) and what the record says of it. */
export interface Boot {
  slot: SlotName | null;
  bytes: Uint8Array;
  version: number;
  pending: boolean;
}

const fail = (err: OtaError): never => {
  throw new RpcError(OTA_ERROR_CODES[err.code], err.code, err.message);
};
const refuse = (code: OtaError["code"], why: string): never => fail(new OtaError(code, why));

/** The smallest memory a module declares (its memory section's minimum, in bytes), or 0 if it imports or has none. */
function declaredMemory(bytes: Uint8Array): number {
  try {
    const mod = new WebAssembly.Module(bytes as BufferSource);
    if (!WebAssembly.Module.exports(mod).some((e) => e.kind === "memory")) return 0;
  } catch {
    return 0; // not compilable: instantiating it will trap at start, which rolls back
  }
  // Section 5 (memory): count, then flags and the minimum in pages (LEB128).
  let i = 8;
  const leb = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < bytes.length) {
    const id = bytes[i++];
    const len = leb();
    if (id === 5) {
      leb();
      leb();
      return leb() * 65536;
    }
    i += len;
  }
  return 0;
}

export class OtaAgent {
  private record: SlotRecord;
  /** What runs now (set by boot()). */
  running: Boot | undefined;
  readonly confirmWindowMs: number;
  private readonly slotMax: number;
  private readonly chunk: number;
  private readonly abi: number;
  /** Called after ota.finish answered: the shell restarts the module on the pending slot. */
  onFinished?: () => void;
  /** Called after ota.confirm. */
  onConfirmed?: () => void;

  constructor(
    readonly store: FileSlotStore,
    private readonly opts: AgentOptions,
  ) {
    this.record = store.read();
    this.confirmWindowMs = opts.confirmWindowMs ?? DEFAULT_CONFIRM_WINDOW_MS;
    this.slotMax = opts.slotMax ?? DEFAULT_SLOT_MAX;
    this.chunk = opts.chunk ?? DEFAULT_CHUNK;
    this.abi = opts.abi ?? ABI_VERSION;
  }

  private save(): void {
    this.store.write(this.record);
  }

  /**
   * What to start now (docs/ota.md, "Start-up"): a pending slot started before without a confirmation is rolled back;
   * a pending slot's try is counted before it starts; a slot whose bytes are not the record's falls back.
   */
  boot(): Boot {
    const r = this.record;
    if (r.pending && r.tries >= 1) this.markRolledBack("restart_while_pending");
    if (r.pending) {
      const bytes = this.store.verifiedSlot(r.pending, r.slots[r.pending]);
      if (bytes) {
        r.tries++;
        this.save();
        return this.started({ slot: r.pending, bytes, version: r.slots[r.pending]!.version, pending: true });
      }
      this.markRolledBack("slot_corrupt");
    }
    if (r.confirmed) {
      const bytes = this.store.verifiedSlot(r.confirmed, r.slots[r.confirmed]);
      if (bytes) return this.started({ slot: r.confirmed, bytes, version: r.slots[r.confirmed]!.version, pending: false });
      // The confirmed slot is damaged: the built-in module is the verified one left.
      r.last = { version: r.slots[r.confirmed]!.version, outcome: "rolled_back", reason: "slot_corrupt" };
      r.confirmed = null;
      this.save();
    }
    return this.started({ slot: null, bytes: this.opts.builtin, version: 0, pending: false });
  }

  private started(b: Boot): Boot {
    this.running = b;
    return b;
  }

  /** The pending slot did not make it (`reason`): the record goes back to the confirmed slot. */
  markRolledBack(reason: RollbackReason): void {
    const r = this.record;
    if (!r.pending) return;
    r.last = { version: r.slots[r.pending]?.version ?? 0, outcome: "rolled_back", reason };
    r.slots[r.pending] = null; // not bootable any more
    r.pending = null;
    r.tries = 0;
    this.save();
  }

  /** The running slot, as the inactive one is told from it ("a" for the built-in module). */
  private activeSlot(): SlotName {
    return this.running?.slot ?? this.record.confirmed ?? "a";
  }

  /** sys.info's `app` (docs/ota.md). */
  app(): Record<string, unknown> {
    const r = this.record;
    const run = this.running;
    const info = run?.slot ? r.slots[run.slot] : null;
    const other = otherSlot(this.activeSlot());
    const prevInfo = run?.pending ? (r.confirmed ? r.slots[r.confirmed] : null) : r.slots[other];
    // The built-in module (version 0) is always there to fall back on.
    const previous = prevInfo?.version ?? ((run?.version ?? 0) > 0 ? 0 : null);
    return {
      app: {
        version: run?.version ?? 0,
        label: info?.label ?? null,
        sha256: info?.sha256 ?? sha256Hex(run?.bytes ?? this.opts.builtin),
        slot: this.activeSlot(),
        state: run?.pending ? "pending" : "confirmed",
        previous,
        transfer: r.transfer ? this.transferInfo(r.transfer) : null,
        last: r.last,
      },
    };
  }

  private transferInfo(t: NonNullable<SlotRecord["transfer"]>): object {
    const m = parseManifest(decodeBase64(t.manifest, "manifest"));
    return { version: m.version, offset: t.offset, size: m.size };
  }

  /** The board methods (host_call), for the Device's method table. */
  methods(): Record<string, Method> {
    const obj = { type: "object" };
    return {
      "ota.begin": { handler: (p) => this.guard(() => this.begin(p)), description: "Starts or resumes an update (docs/ota.md)", params: obj },
      "ota.write": { handler: (p) => this.guard(() => this.write(p)), description: "Writes one chunk of the module", params: obj },
      "ota.finish": { handler: () => this.guard(() => this.finish()), description: "Verifies the module, marks it pending, restarts on it", params: obj },
      "ota.confirm": { handler: (p) => this.guard(() => this.confirm(p)), description: "Confirms the running pending module", params: obj },
      "ota.abort": { handler: () => this.guard(() => this.abort()), description: "Drops a begun transfer", params: obj },
    };
  }

  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof OtaError) fail(err);
      if (err instanceof RpcError) throw err;
      return refuse("storage_failed", (err as Error).message);
    }
  }

  private params(p: unknown): Record<string, unknown> {
    if (typeof p !== "object" || p === null || Array.isArray(p)) refuse("bad_params", "params must be an object");
    return p as Record<string, unknown>;
  }

  private begin(p: unknown): unknown {
    const q = this.params(p);
    const manifestBytes = decodeBase64(q.manifest, "manifest", "bad_manifest");
    const signature = decodeBase64(q.signature, "signature", "bad_signature");
    const m: Manifest = parseManifest(manifestBytes);
    if (this.opts.publicKeys.length === 0) refuse("bad_signature", "this device holds no release key");
    if (!signatureValid(manifestBytes, signature, this.opts.publicKeys)) refuse("bad_signature", "no release key of this device verifies the signature");
    if (m.abi !== this.abi) refuse("abi_unsupported", `the module needs ABI ${m.abi}; this engine implements ${this.abi}`);
    const current = this.running?.version ?? 0;
    if (m.version <= current) refuse("not_newer", `version ${m.version} is not above the running ${current}`);
    const limit = Math.min(this.slotMax, this.opts.memoryLimit ?? Number.POSITIVE_INFINITY);
    if (m.size > limit) refuse("too_big", `the module is ${m.size} bytes; this device's slot takes ${limit}`);
    const r = this.record;
    if (r.pending) refuse("busy", `version ${r.slots[r.pending]?.version} waits for its confirmation`);
    const slot = otherSlot(this.activeSlot());
    const manifest = q.manifest as string;
    if (!(r.transfer && r.transfer.manifest === manifest && r.transfer.slot === slot)) {
      // A new transfer: the inactive slot stops being bootable before its first byte changes.
      r.slots[slot] = null;
      r.transfer = { slot, manifest, signature: q.signature as string, offset: 0 };
      this.save();
      this.store.eraseSlot(slot);
    }
    const deflate = this.opts.deflate ?? DEFLATE_MAX;
    return { offset: r.transfer!.offset, chunk: this.chunk, slot, ...(deflate ? { deflate } : {}) };
  }

  private write(p: unknown): unknown {
    const q = this.params(p);
    const t = this.record.transfer;
    if (!t) refuse("no_transfer", "no update was begun (ota.begin)");
    if (!Number.isInteger(q.offset) || (q.offset as number) < 0) refuse("bad_params", "offset must be a whole number");
    if (q.offset !== t!.offset) refuse("bad_offset", `expected ${t!.offset}`);
    let data = decodeBase64(q.data, "data");
    const m = parseManifest(decodeBase64(t!.manifest, "manifest"));
    if (data.length === 0) refuse("bad_params", "data is empty");
    if (data.length > this.chunk) refuse("too_big", `a chunk is at most ${this.chunk} bytes, this one ${data.length}`);
    if (q.encoding !== undefined) data = this.inflate(q.encoding, data, t!.slot, t!.offset, m.size);
    if (t!.offset + data.length > m.size) refuse("too_big", `the chunk passes the module's ${m.size} bytes`);
    this.store.writeSlot(t!.slot, t!.offset, data);
    this.store.crashPoint?.("chunk-written");
    t!.offset += data.length;
    this.save();
    return { offset: t!.offset };
  }

  /** A compressed chunk: raw deflate whose matches may reach back 32 KiB into the slot's bytes before it. */
  private inflate(encoding: unknown, data: Buffer, slot: SlotName, offset: number, size: number): Buffer {
    const deflateMax = this.opts.deflate ?? DEFLATE_MAX;
    if (encoding !== "deflate" || !deflateMax) refuse("bad_params", `encoding must be "deflate"${deflateMax ? "" : ", and this device takes none"}`);
    const dictionary = offset > 0 ? (this.store.readSlot(slot, offset) ?? Buffer.alloc(0)).subarray(Math.max(0, offset - 32768)) : undefined;
    const maxOutputLength = Math.min(deflateMax, size - offset);
    try {
      const out = inflateRawSync(data, { ...(dictionary ? { dictionary } : {}), maxOutputLength });
      if (out.length === 0) refuse("bad_deflate", "empty");
      return out;
    } catch (err) {
      if (err instanceof OtaError) throw err;
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ERR_BUFFER_TOO_LARGE") refuse("too_big", `a chunk inflates to at most ${maxOutputLength} bytes here`);
      return refuse("bad_deflate", e.message);
    }
  }

  private finish(): unknown {
    const r = this.record;
    const t = r.transfer;
    if (!t) refuse("no_transfer", "no update was begun (ota.begin)");
    const m = parseManifest(decodeBase64(t!.manifest, "manifest"));
    if (t!.offset < m.size) refuse("incomplete", `${t!.offset} of ${m.size} bytes written`);
    const bytes = this.store.readSlot(t!.slot, m.size);
    if (!bytes || sha256Hex(bytes) !== m.sha256) {
      r.transfer = null;
      r.last = { version: m.version, outcome: "failed", reason: "hash_mismatch" };
      this.save();
      refuse("hash_mismatch", "the slot's SHA-256 is not the manifest's; the transfer is dropped");
    }
    const limit = this.opts.memoryLimit;
    const needs = declaredMemory(bytes!);
    if (limit !== undefined && needs > limit) {
      r.transfer = null;
      this.save();
      refuse("too_big", `the module declares ${needs} bytes of memory; this device's limit is ${limit}`);
    }
    const info: SlotInfo = { version: m.version, size: m.size, sha256: m.sha256 };
    if (m.label !== undefined) info.label = m.label;
    r.slots[t!.slot] = info;
    r.pending = t!.slot;
    r.tries = 0;
    r.transfer = null;
    this.save(); // the switch: from here a start runs the new slot once
    this.store.crashPoint?.("pending");
    setImmediate(() => this.onFinished?.());
    return { state: "pending", version: m.version, slot: t!.slot };
  }

  private confirm(p: unknown): unknown {
    const q = this.params(p);
    const run = this.running;
    if (run && !run.pending && run.version === q.version) return { state: "confirmed", version: run.version };
    if (!run?.pending || run.version !== q.version) refuse("not_pending", `version ${String(q.version)} is not running pending`);
    const r = this.record;
    r.confirmed = r.pending;
    r.pending = null;
    r.tries = 0;
    r.last = { version: run!.version, outcome: "succeeded", reason: null };
    this.save();
    run!.pending = false;
    this.onConfirmed?.();
    return { state: "confirmed", version: run!.version };
  }

  private abort(): unknown {
    if (this.record.transfer) {
      this.record.transfer = null;
      this.save();
    }
    return { state: "idle" };
  }
}
