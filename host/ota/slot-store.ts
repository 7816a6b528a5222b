// Module slots as files (docs/ota.md, "Slots and the state record"): <dir>/slot-a.wasm, <dir>/slot-b.wasm and
// <dir>/state.json. The record is replaced atomically (written to state.json.tmp, fsync'd, renamed, the directory
// fsync'd), so a power cut leaves either the old record or the new one, never a torn one.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, ftruncateSync, existsSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "./manifest.ts";

export type SlotName = "a" | "b";
export const otherSlot = (s: SlotName): SlotName => (s === "a" ? "b" : "a");

export interface SlotInfo {
  version: number;
  size: number;
  sha256: string;
  label?: string;
}

export type Outcome = "succeeded" | "rolled_back" | "failed";
export type RollbackReason = "trap_at_start" | "no_connection" | "not_confirmed" | "restart_while_pending" | "slot_corrupt";

export interface SlotRecord {
  /** Bumped on every write: which record is newer (the flash boards keep two copies). */
  seq: number;
  /** The confirmed slot; null: the built-in module (version 0). */
  confirmed: SlotName | null;
  /** A slot written and verified, waiting for its confirmation. */
  pending: SlotName | null;
  /** Starts of the pending slot so far: a second start without a confirmation means the first did not succeed. */
  tries: number;
  slots: Record<SlotName, SlotInfo | null>;
  /** A begun transfer: the manifest and signature as sent (base64) and the bytes made durable. */
  transfer: { slot: SlotName; manifest: string; signature: string; offset: number } | null;
  last: { version: number; outcome: Outcome; reason: string | null } | null;
}

export const emptyRecord = (): SlotRecord => ({ seq: 0, confirmed: null, pending: null, tries: 0, slots: { a: null, b: null }, transfer: null, last: null });

export class FileSlotStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private path(name: string): string {
    return join(this.dir, name);
  }
  slotPath(slot: SlotName): string {
    return this.path(`slot-${slot}.wasm`);
  }

  /** The record on storage (none or unreadable: a fresh one; a stray state.json.tmp from a cut write is ignored). */
  read(): SlotRecord {
    try {
      const r = JSON.parse(readFileSync(this.path("state.json"), "utf8")) as SlotRecord;
      return { ...emptyRecord(), ...r };
    } catch {
      return emptyRecord();
    }
  }

  /** Replaces the record atomically; the step `hook` names lets a test cut the power there. */
  write(r: SlotRecord): void {
    r.seq++;
    const tmp = this.path("state.json.tmp");
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, JSON.stringify(r));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.crashPoint?.("record-written");
    renameSync(tmp, this.path("state.json"));
    this.syncDir();
  }

  /** Test hook: called at named steps; throwing there is a power cut at that step. */
  crashPoint?: (step: string) => void;

  private syncDir(): void {
    const fd = openSync(this.dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Empties a slot before a transfer starts writing it. */
  eraseSlot(slot: SlotName): void {
    const fd = openSync(this.slotPath(slot), "w", 0o600);
    try {
      ftruncateSync(fd, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Writes `data` at `offset` and makes it durable before returning. */
  writeSlot(slot: SlotName, offset: number, data: Uint8Array): void {
    const fd = openSync(this.slotPath(slot), existsSync(this.slotPath(slot)) ? "r+" : "w", 0o600);
    try {
      writeSync(fd, data, 0, data.length, offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  readSlot(slot: SlotName, size: number): Buffer | null {
    try {
      const b = readFileSync(this.slotPath(slot));
      return b.length >= size ? b.subarray(0, size) : null;
    } catch {
      return null;
    }
  }

  /** The slot's bytes if they are the module the record says, else null. */
  verifiedSlot(slot: SlotName, info: SlotInfo | null): Buffer | null {
    if (!info) return null;
    const b = this.readSlot(slot, info.size);
    return b && sha256Hex(b) === info.sha256 ? b : null;
  }
}
