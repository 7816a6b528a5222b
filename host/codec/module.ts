// One instance of the whole-codec module (build/codec.wasm) with its buffers: the
// decode loop (codec_push / codec_next, the packet read by reader.ts), encode (the
// view written by writer.ts), the topic exports. Decoder and encode() (index.ts) sit on it.
import { errName } from "../abi.ts";
import type { CodecExports } from "../abi-table.ts";
import { codecBuild, instantiate, type Build, type EngineName, type ModuleInstance } from "../engine.ts";
import { MqttCodecError } from "./error.ts";
import type { HeldBytes } from "./held.ts";
import { PacketReader } from "./reader.ts";
import type { Packet } from "./types.ts";
import { V_PAYLOAD, V_TOPIC } from "./view.ts";
import { PacketWriter } from "./writer.ts";

/** Default largest packet a Decoder accepts (bytes, fixed header included); the module allocates this much once. */
export const DEFAULT_MAX_PACKET = 1 << 20;

export interface CodecOptions {
  /** release or debug: the whole-codec build of that flavour (build/codec.wasm or its debug twin). */
  build?: Build;
  /** V8 (default, or OUTPOST_ENGINE) or wasm3. */
  engine?: EngineName;
  /** Bytes the module accepts per push into its input buffer (a chunk is fed in slices). */
  inputSize?: number;
  maxPacketSize?: number;
  /** Initial encode scratch/output size; grows on demand. */
  bufferSize?: number;
}

/** One module instance with the codec's buffers; Decoder and encode() sit on it. */
export class CodecModule {
  readonly inst: ModuleInstance<CodecExports>;
  readonly ex: CodecExports;
  private ab!: ArrayBuffer;
  /** Views over the current memory.buffer (renewed whenever it changes). */
  u8!: Buffer;
  u32!: Uint32Array;
  readonly view: number;
  readonly viewWord: number;
  readonly input: number;
  readonly inputCap: number;
  /** Word index of the codec info block: view, input, inputCap, scratch, out, bufCap. */
  private readonly info: number;
  private readonly nextFn: (version: number) => number;
  /** The encode buffers (scratch for strings, out for the packet) and their capacity; they grow on demand. */
  scratch = 0;
  out = 0;
  bufCap = 0;
  readonly reader: PacketReader;
  readonly writer: PacketWriter;
  /** decodeStream's view of the splitter: whether it may hold a stream's state, and the limit last set. */
  private streamDirty = true;
  private streamMax = -1;

  constructor(opts: CodecOptions = {}) {
    this.inst = instantiate<CodecExports>({ build: codecBuild(opts.build ?? "release"), engine: opts.engine });
    this.ex = this.inst.exports;
    this.nextFn = this.ex.codec_next;
    const r = this.ex.codec_init(opts.inputSize ?? 65536, opts.maxPacketSize ?? DEFAULT_MAX_PACKET, opts.bufferSize ?? 4096) | 0;
    if (r < 0) throw new MqttCodecError(errName(r), -r);
    this.info = r >>> 2;
    this.sync();
    this.view = this.u32[this.info];
    this.viewWord = this.view >>> 2;
    this.input = this.u32[this.info + 1];
    this.inputCap = this.u32[this.info + 2];
    this.bufs();
    this.reader = new PacketReader(this);
    this.writer = new PacketWriter(this);
  }

  /**
   * Renews the typed views when memory grew. Growth detaches the old ArrayBuffer
   * (V8 and the wasm3 binding alike), so a zero byteLength is the cheap test.
   */
  sync(): void {
    if (this.ab !== undefined && this.ab.byteLength !== 0) return;
    const ab = this.inst.memory.buffer;
    if (ab !== this.ab) {
      this.ab = ab;
      this.u8 = Buffer.from(ab);
      this.u32 = new Uint32Array(ab);
    }
  }

  private bufs(): void {
    this.sync();
    this.scratch = this.u32[this.info + 3];
    this.out = this.u32[this.info + 4];
    this.bufCap = this.u32[this.info + 5];
  }

  ensureBuffers(bytes: number): void {
    if (bytes <= this.bufCap) return;
    let cap = this.bufCap * 2;
    while (cap < bytes) cap *= 2;
    // The module keeps its old buffers when memory cannot grow (codec_grow returns 0).
    if (!this.ex.codec_grow(cap)) throw new MqttCodecError("BufferFull", 22);
    this.bufs();
  }

  // ---- decode ----

  /**
   * Feeds bytes, at most `slice` per codec_push, and collects packets; throws
   * MqttCodecError (sticky in the module until reset).
   */
  decode(chunk: Uint8Array, version: { v: number }, out: Packet[], slice = this.inputCap): void {
    const ex = this.ex;
    const next = this.nextFn;
    const most = Math.max(1, Math.min(slice | 0, this.inputCap));
    this.sync();
    let off = 0;
    for (;;) {
      const r = next(version.v);
      if (r === 1) {
        const p = this.reader.read();
        if (p.cmd === "connect") version.v = p.protocolVersion!;
        out.push(p);
        continue;
      }
      if (r < 0) {
        const err = new MqttCodecError(errName(r), -r);
        err.packets = out;
        throw err;
      }
      if (off >= chunk.length) return;
      const n = Math.min(most, chunk.length - off);
      this.u8.set(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n), this.input);
      ex.codec_push(n);
      off += n;
    }
  }

  /**
   * Decodes a push of one of the many streams that share this instance: the
   * splitter starts from nothing, takes the bytes `held` kept from the stream's last
   * push and then `chunk`, and leaves its unfinished packet in `held` again.
   */
  decodeStream(held: HeldBytes, chunk: Uint8Array, version: { v: number }, out: Packet[], maxPacket: number, slice: number): void {
    const ex = this.ex;
    // A splitter that ended the last push holding nothing, without error, is already reset.
    if (this.streamDirty) ex.codec_reset();
    if (maxPacket !== this.streamMax) ex.codec_set_max_packet((this.streamMax = maxPacket));
    this.streamDirty = true;
    if (held.len) this.decode(held.bytes(), version, out, slice);
    this.decode(chunk, version, out, slice);
    const w = ex.codec_held() >>> 2;
    const u32 = this.u32;
    const len = u32[w + 1];
    held.keep(this.u8, u32[w], len, u32[w + 2]);
    this.streamDirty = len !== 0;
  }

  reset(): void {
    this.ex.codec_reset();
  }

  setMaxPacketSize(n: number): void {
    this.ex.codec_set_max_packet(n);
  }

  // ---- encode ----

  encode(p: Packet, protocolVersion: number): Uint8Array {
    return this.writer.encode(p, protocolVersion);
  }

  /** Runs a topic export on strings written into scratch; validators throw on error. */
  topicCall(fn: "topic_validate_name" | "topic_validate_filter" | "topic_matches", a: string, b?: string): number {
    this.ensureBuffers(3 * (a.length + (b?.length ?? 0)) + 16);
    this.sync();
    this.writer.begin();
    const w = this.viewWord; // the view's topic slots serve as a scratch pair
    this.writer.putStr(a, w + V_TOPIC);
    const ap = this.u32[w + V_TOPIC],
      al = this.u32[w + V_TOPIC + 1];
    let r: number;
    if (b === undefined) r = (this.ex[fn] as (...args: number[]) => number)(ap, al) | 0;
    else {
      this.writer.putStr(b, w + V_PAYLOAD);
      r = (this.ex[fn] as (...args: number[]) => number)(ap, al, this.u32[w + V_PAYLOAD], this.u32[w + V_PAYLOAD + 1]) | 0;
    }
    if (r < 0) throw new MqttCodecError(errName(r), -r);
    return r;
  }
}
