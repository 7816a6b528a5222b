// outpost/codec: the module's MQTT 3.1.1/5 codec with mqtt-packet's object shape.
// The module does framing, validation and byte layout; this file only moves
// strings and buffers between JS objects and the packet view (assembly/ABI.md, "Packet view").
import { PROPERTY_LIST, type PropertyKind } from "./property-table.ts";
import { View, type CodecExports } from "../abi-table.ts";
import { codecBuild, instantiate, type Build, type EngineName, type ModuleInstance } from "../engine.ts";
import { errName } from "../abi.ts";
import { MqttCodecError } from "./error.ts";
import { checkPacket, checkProp, checkPublish, isBytes } from "./check.ts";
import { HeldBytes } from "./held.ts";
import type { Cmd, Packet, Properties, Subscription, UserProperties, Will } from "./types.ts";

export { MqttCodecError };
export type { Cmd, Packet, Properties, ProtocolVersion, Subscription, UserProperties, Will } from "./types.ts";
const CMDS: Cmd[] = [
  "reserved" as Cmd,
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  "auth",
];
const CMD_CODE: Record<string, number> = Object.fromEntries(CMDS.map((c, i) => [c, i]));

// Packet view layout (assembly/abi.json, viewSlots); the property and item tables follow its 32 slots.
const {
  type: V_TYPE,
  flags: V_FLAGS,
  version: V_VERSION,
  packetId: V_PACKET_ID,
  qos: V_QOS,
  dup: V_DUP,
  retain: V_RETAIN,
  reason: V_REASON,
  sessionPresent: V_SESSION_PRESENT,
  keepalive: V_KEEPALIVE,
  connectFlags: V_CONNECT_FLAGS,
  topic: V_TOPIC,
  payload: V_PAYLOAD,
  clientId: V_CLIENT_ID,
  willTopic: V_WILL_TOPIC,
  willPayload: V_WILL_PAYLOAD,
  username: V_USERNAME,
  password: V_PASSWORD,
  protocolName: V_PROTOCOL_NAME,
  propCount: V_PROP_COUNT,
  willPropCount: V_WILL_PROP_COUNT,
  itemCount: V_ITEM_COUNT,
  length: V_LENGTH,
} = View;
const V_SLOTS = 32;
const PROPS = V_SLOTS,
  WILL_PROPS = PROPS + 32 * 5,
  ITEMS = WILL_PROPS + 16 * 5; // in u32 words
const MAX_PROPS = 32,
  MAX_WILL_PROPS = 16,
  MAX_ITEMS = 32;
const CF_CLEAN = 0x02,
  CF_WILL = 0x04,
  CF_WILL_RETAIN = 0x20,
  CF_PASSWORD = 0x40,
  CF_USERNAME = 0x80;

type Kind = PropertyKind;
const PROP_BY_ID: ([string, Kind] | undefined)[] = [];
const PROP_BY_NAME = new Map<string, [number, Kind]>();
for (const [name, id, kind] of PROPERTY_LIST) {
  PROP_BY_ID[id] = [name, kind];
  PROP_BY_NAME.set(name, [id, kind]);
}

const utf8Encoder = new TextEncoder();

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
  private readonly ex: CodecExports;
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
  private readonly encodeFn: () => number;
  private readonly nextFn: (version: number) => number;
  private scratch = 0;
  private out = 0;
  private bufCap = 0;
  /** decodeStream's view of the splitter: whether it may hold a stream's state, and the limit last set. */
  private streamDirty = true;
  private streamMax = -1;

  constructor(opts: CodecOptions = {}) {
    this.inst = instantiate<CodecExports>({ build: codecBuild(opts.build ?? "release"), engine: opts.engine });
    this.ex = this.inst.exports;
    this.encodeFn = this.ex.codec_encode;
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
        const p = this.readPacket();
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

  /** A UTF-8 string the module already validated; Buffer#toString is the fastest decoder for short strings. */
  private str(ptr: number, len: number): string {
    return len === 0 ? "" : this.u8.toString("utf8", ptr, ptr + len);
  }

  /**
   * A copy out of linear memory. Buffer.allocUnsafe takes Node's pooled slab, much
   * cheaper than slice() for small sizes; a plain loop beats a native copy below ~64 bytes.
   */
  private bytes(ptr: number, len: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    const u8 = this.u8;
    if (len <= 64) for (let i = 0; i < len; i++) out[i] = u8[ptr + i];
    else out.set(u8.subarray(ptr, ptr + len));
    return out;
  }

  private readPacket(): Packet {
    const v = this.u32;
    const b = this.viewWord;
    const type = v[b + V_TYPE];
    const flags = v[b + V_FLAGS];
    const v5 = v[b + V_VERSION] === 5;
    if (type === 3 && !(v5 && v[b + V_PROP_COUNT])) {
      // The hot case, built in one literal so the object gets its final shape at once.
      const qos = (flags >> 1) & 3;
      const topic = this.str(v[b + V_TOPIC], v[b + V_TOPIC + 1]);
      const payload = this.bytes(v[b + V_PAYLOAD], v[b + V_PAYLOAD + 1]);
      const retain = (flags & 1) !== 0;
      const dup = (flags & 8) !== 0;
      const length = v[b + V_LENGTH];
      return qos
        ? { cmd: "publish", retain, qos, dup, length, topic, payload, messageId: v[b + V_PACKET_ID] }
        : { cmd: "publish", retain, qos, dup, length, topic, payload };
    }
    const p: Packet = {
      cmd: CMDS[type],
      retain: (flags & 1) !== 0,
      qos: (flags >> 1) & 3,
      dup: (flags & 8) !== 0,
      length: v[b + V_LENGTH],
      topic: null,
      payload: null,
    };
    switch (type) {
      case 3: // publish
        p.topic = this.str(v[b + V_TOPIC], v[b + V_TOPIC + 1]);
        if (p.qos) p.messageId = v[b + V_PACKET_ID];
        if (v5 && v[b + V_PROP_COUNT]) p.properties = this.readProps(PROPS, v[b + V_PROP_COUNT]);
        p.payload = this.bytes(v[b + V_PAYLOAD], v[b + V_PAYLOAD + 1]);
        return p;
      case 1:
        return this.readConnect(p);
      case 2: // connack
        p.sessionPresent = v[b + V_SESSION_PRESENT] !== 0;
        if (v5) p.reasonCode = v[b + V_REASON];
        else p.returnCode = v[b + V_REASON];
        break;
      case 4:
      case 5:
      case 6:
      case 7: // puback .. pubcomp
        p.messageId = v[b + V_PACKET_ID];
        if (v5) p.reasonCode = v[b + V_REASON];
        break;
      case 8: {
        // subscribe
        p.messageId = v[b + V_PACKET_ID];
        const subs: Subscription[] = [];
        this.items((ptr, len, o) => {
          const s: Subscription = { topic: this.str(ptr, len), qos: o & 3 };
          if (v5) {
            s.nl = (o & 4) !== 0;
            s.rap = (o & 8) !== 0;
            s.rh = (o >> 4) & 3;
          }
          subs.push(s);
        });
        p.subscriptions = subs;
        break;
      }
      case 10: {
        // unsubscribe
        p.messageId = v[b + V_PACKET_ID];
        const filters: string[] = [];
        this.items((ptr, len) => filters.push(this.str(ptr, len)));
        p.unsubscriptions = filters;
        break;
      }
      case 9:
      case 11: {
        // suback, unsuback
        p.messageId = v[b + V_PACKET_ID];
        if (type === 9 || v5) {
          const codes: number[] = [];
          this.items((_p, _l, o) => codes.push(o));
          p.granted = codes;
        }
        break;
      }
      case 14:
      case 15: // disconnect, auth
        if (v5) p.reasonCode = v[b + V_REASON];
        break;
    }
    if (v5 && v[b + V_PROP_COUNT]) p.properties = this.readProps(PROPS, v[b + V_PROP_COUNT]);
    return p;
  }

  private items(fn: (ptr: number, len: number, options: number) => void): void {
    const v = this.u32;
    const n = v[this.viewWord + V_ITEM_COUNT];
    for (let i = 0, e = this.viewWord + ITEMS; i < n; i++, e += 3) fn(v[e], v[e + 1], v[e + 2]);
  }

  private readConnect(p: Packet): Packet {
    const v = this.u32;
    const b = this.viewWord;
    const level = v[b + V_VERSION];
    const f = v[b + V_CONNECT_FLAGS];
    p.protocolId = this.str(v[b + V_PROTOCOL_NAME], v[b + V_PROTOCOL_NAME + 1]);
    p.protocolVersion = level;
    p.clean = (f & CF_CLEAN) !== 0;
    p.keepalive = v[b + V_KEEPALIVE];
    if (level === 5 && v[b + V_PROP_COUNT]) p.properties = this.readProps(PROPS, v[b + V_PROP_COUNT]);
    p.clientId = this.str(v[b + V_CLIENT_ID], v[b + V_CLIENT_ID + 1]);
    if (f & CF_WILL) {
      const will: Will = {
        retain: (f & CF_WILL_RETAIN) !== 0,
        qos: (f >> 3) & 3,
        topic: this.str(v[b + V_WILL_TOPIC], v[b + V_WILL_TOPIC + 1]),
        payload: this.bytes(v[b + V_WILL_PAYLOAD], v[b + V_WILL_PAYLOAD + 1]),
      };
      if (level === 5 && v[b + V_WILL_PROP_COUNT]) will.properties = this.readProps(WILL_PROPS, v[b + V_WILL_PROP_COUNT]);
      p.will = will;
    }
    if (f & CF_USERNAME) p.username = this.str(v[b + V_USERNAME], v[b + V_USERNAME + 1]);
    if (f & CF_PASSWORD) p.password = this.bytes(v[b + V_PASSWORD], v[b + V_PASSWORD + 1]);
    return p;
  }

  private readProps(table: number, count: number): Properties {
    const v = this.u32;
    const props: Record<string, any> = {};
    for (let i = 0, e = this.viewWord + table; i < count; i++, e += 5) {
      const [name, kind] = PROP_BY_ID[v[e]]!;
      const a = v[e + 1];
      let value: any;
      switch (kind) {
        case "bool":
          value = a !== 0;
          break;
        case "str":
          value = this.str(a, v[e + 2]);
          break;
        case "bin":
          value = this.bytes(a, v[e + 2]);
          break;
        case "pair": {
          const up: UserProperties = props.userProperties ?? (props.userProperties = Object.create(null));
          const key = this.str(a, v[e + 2]);
          const val = this.str(v[e + 3], v[e + 4]);
          const prev = up[key];
          up[key] = prev === undefined ? val : Array.isArray(prev) ? [...prev, val] : [prev, val];
          continue;
        }
        default:
          value = a;
      }
      // Only the Subscription Identifier may repeat (PUBLISH); the module rejects other repeats.
      const prev = props[name];
      props[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
    return props as Properties;
  }

  // ---- encode ----

  private sp = 0;
  private spEnd = 0;

  /** Copies bytes into scratch; returns the pointer. */
  private put(data: Uint8Array): number {
    const at = this.sp;
    this.u8.set(data, at);
    this.sp += data.length;
    return at;
  }

  /** Writes a string as UTF-8 into scratch and points the (ptr, len) slot pair at it. */
  private putStr(s: string | Uint8Array, slot: number): void {
    if (typeof s !== "string") {
      // A Buffer where a string belongs: UTF-8 already (checkStr).
      this.u32[slot] = this.put(s);
      this.u32[slot + 1] = s.length;
      return;
    }
    const at = this.sp;
    const n = s.length;
    const u8 = this.u8;
    let i = 0;
    if (n < 64) {
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        u8[at + i] = c;
      }
    }
    let len = i;
    if (i < n) len = utf8Encoder.encodeInto(s, u8.subarray(at, this.spEnd)).written;
    this.sp = at + len;
    this.u32[slot] = at;
    this.u32[slot + 1] = len;
  }

  private putBin(data: Uint8Array | string | null | undefined, slot: number): void {
    if (typeof data === "string") return this.putStr(data, slot);
    if (!data) {
      this.u32[slot] = 0;
      this.u32[slot + 1] = 0;
      return;
    }
    this.u32[slot] = this.put(data);
    this.u32[slot + 1] = data.length;
  }

  /** Type and range of every property before anything is written (InvalidPropertyValue, UnknownProperty). */
  static checkProps(props: unknown, field: string): void {
    if (typeof props !== "object" || props === null || Array.isArray(props) || isBytes(props)) {
      throw new MqttCodecError("InvalidField", 0, field, "expected an object");
    }
    for (const name in props) {
      const value = (props as Record<string, unknown>)[name];
      if (value === undefined) continue;
      const def = PROP_BY_NAME.get(name);
      if (!def) throw new MqttCodecError("UnknownProperty", 15, `${field}.${name}`, "not an MQTT 5 property");
      const kind = def[1];
      if (kind === "pair" || !Array.isArray(value)) checkProp(name, kind, value);
      else for (const one of value) checkProp(name, kind, one);
    }
  }

  private writeProps(props: Properties | undefined, table: number, countSlot: number, max: number): void {
    const v = this.u32;
    let n = 0;
    const add = (id: number): number => {
      if (n >= max) throw new MqttCodecError("LimitExceeded", 21);
      const e = table + n * 5;
      v[e] = id;
      n++;
      return e;
    };
    if (props) {
      for (const name in props) {
        const value = (props as Record<string, any>)[name];
        if (value === undefined) continue;
        const def = PROP_BY_NAME.get(name);
        if (!def) throw new MqttCodecError("UnknownProperty", 15);
        const [id, kind] = def;
        if (kind === "pair") {
          for (const key in value) {
            const vals = value[key];
            for (const val of Array.isArray(vals) ? vals : [vals]) {
              const e = add(id);
              this.putStr(key, e + 1);
              this.putStr(String(val), e + 3);
            }
          }
          continue;
        }
        for (const one of Array.isArray(value) ? value : [value]) {
          const e = add(id);
          if (kind === "str") this.putStr(one, e + 1);
          else if (kind === "bin") this.putBin(one, e + 1);
          else v[e + 1] = kind === "bool" ? (one ? 1 : 0) : one;
        }
      }
    }
    v[countSlot] = n;
  }

  /** No packet needs more than MQTT's largest (256 MiB) plus its strings' UTF-8 slack: refuse before growing memory. */
  private static limit(bound: number): number {
    if (bound > 3 * 268435460) throw new MqttCodecError("PacketTooLarge", 2);
    return bound;
  }

  /** Upper bound of the scratch bytes a packet needs. */
  private static scratchBound(p: Packet): number {
    if (p.cmd === "publish" && !p.properties) {
      const pl = p.payload;
      return 256 + (p.topic?.length ?? 0) * 3 + (typeof pl === "string" ? pl.length * 3 : (pl?.length ?? 0));
    }
    let n = 256;
    const add = (x: unknown): void => {
      if (typeof x === "string") n += x.length * 3;
      else if (x && typeof x === "object" && "length" in (x as object) && !Array.isArray(x)) n += (x as Uint8Array).length;
    };
    add(p.topic), add(p.payload), add(p.clientId), add(p.username), add(p.password), add(p.protocolId);
    if (p.will) add(p.will.topic), add(p.will.payload);
    for (const s of p.subscriptions ?? []) add(s.topic), (n += 8);
    for (const s of p.unsubscriptions ?? []) add(s), (n += 8);
    for (const props of [p.properties, p.will?.properties]) {
      if (!props) continue;
      for (const [k, val] of Object.entries(props)) {
        if (k === "userProperties")
          for (const [key, vs] of Object.entries(val as UserProperties)) {
            for (const x of Array.isArray(vs) ? vs : [vs]) add(key), add(String(x)), (n += 8);
          }
        else add(val), (n += 8);
      }
    }
    return n;
  }

  encode(p: Packet, protocolVersion: number): Uint8Array {
    if (p.cmd === "publish" && (protocolVersion !== 5 || !p.properties)) return this.encodePublish(p, protocolVersion);
    const type = CMD_CODE[p.cmd];
    if (!type) throw new MqttCodecError("UnknownPacketType", 5);
    // Every field is checked before module memory is touched (host/codec/check.ts).
    checkPacket(p, CodecModule.checkProps);
    // Two halves: strings go into scratch, the module writes the packet into out.
    this.ensureBuffers(CodecModule.limit(CodecModule.scratchBound(p)));
    this.sync();
    const v = this.u32;
    const b = this.viewWord;
    v.fill(0, b, b + V_SLOTS);
    this.sp = this.scratch;
    this.spEnd = this.scratch + this.bufCap;
    const version = type === 1 ? (p.protocolVersion ?? protocolVersion) : protocolVersion;
    v[b + V_TYPE] = type;
    v[b + V_VERSION] = version;
    v[b + V_PACKET_ID] = p.messageId ?? 0;
    v[b + V_REASON] = p.reasonCode ?? p.returnCode ?? 0;
    const v5 = version === 5;
    switch (type) {
      case 3:
        v[b + V_QOS] = p.qos ?? 0;
        v[b + V_DUP] = p.dup ? 1 : 0;
        v[b + V_RETAIN] = p.retain ? 1 : 0;
        this.putStr(p.topic ?? "", b + V_TOPIC);
        this.putBin(p.payload, b + V_PAYLOAD);
        break;
      case 1:
        this.writeConnect(p, b, version);
        break;
      case 2:
        v[b + V_SESSION_PRESENT] = p.sessionPresent ? 1 : 0;
        break;
      case 8:
      case 10: {
        const list = type === 8 ? p.subscriptions : p.unsubscriptions;
        if (list && list.length > MAX_ITEMS) throw new MqttCodecError("LimitExceeded", 21);
        let e = b + ITEMS;
        for (const s of list ?? []) {
          if (typeof s === "string") this.putStr(s, e);
          else {
            this.putStr(s.topic, e);
            // No Local, Retain As Published and Retain Handling exist in MQTT 5 only (ignored before, as mqtt-packet does).
            v[e + 2] = (s.qos ?? 0) | (v5 ? (s.nl ? 4 : 0) | (s.rap ? 8 : 0) | ((s.rh ?? 0) << 4) : 0);
          }
          e += 3;
        }
        v[b + V_ITEM_COUNT] = list?.length ?? 0;
        break;
      }
      case 9:
      case 11: {
        const codes = p.granted ?? [];
        if (codes.length > MAX_ITEMS) throw new MqttCodecError("LimitExceeded", 21);
        for (let i = 0; i < codes.length; i++) v[b + ITEMS + i * 3 + 2] = codes[i];
        v[b + V_ITEM_COUNT] = codes.length;
        break;
      }
    }
    if (v5) this.writeProps(p.properties, b + PROPS, b + V_PROP_COUNT, MAX_PROPS);
    const r = this.encodeFn() | 0;
    if (r < 0) throw new MqttCodecError(errName(r), -r);
    this.sync();
    return this.bytes(this.out, r);
  }

  /** The hot case: a PUBLISH without properties. Sets every slot the encoder reads for it. */
  private encodePublish(p: Packet, version: number): Uint8Array {
    checkPublish(p);
    const topic = p.topic ?? "";
    const payload = p.payload;
    const plen = typeof payload === "string" ? payload.length * 3 : (payload?.length ?? 0);
    this.ensureBuffers(CodecModule.limit(256 + topic.length * 3 + plen));
    this.sync();
    const v = this.u32;
    const b = this.viewWord;
    this.sp = this.scratch;
    this.spEnd = this.scratch + this.bufCap;
    v[b + V_TYPE] = 3;
    v[b + V_VERSION] = version;
    v[b + V_PACKET_ID] = p.messageId ?? 0;
    v[b + V_QOS] = p.qos ?? 0;
    v[b + V_DUP] = p.dup ? 1 : 0;
    v[b + V_RETAIN] = p.retain ? 1 : 0;
    v[b + V_PROP_COUNT] = 0;
    this.putStr(topic, b + V_TOPIC);
    this.putBin(payload, b + V_PAYLOAD);
    const r = this.encodeFn() | 0;
    if (r < 0) throw new MqttCodecError(errName(r), -r);
    this.sync();
    return this.bytes(this.out, r);
  }

  /** Runs a topic export on strings written into scratch; validators throw on error. */
  topicCall(fn: "topic_validate_name" | "topic_validate_filter" | "topic_matches", a: string, b?: string): number {
    this.ensureBuffers(3 * (a.length + (b?.length ?? 0)) + 16);
    this.sync();
    this.sp = this.scratch;
    this.spEnd = this.scratch + this.bufCap;
    const w = this.viewWord; // the view's topic slots serve as a scratch pair
    this.putStr(a, w + V_TOPIC);
    const ap = this.u32[w + V_TOPIC],
      al = this.u32[w + V_TOPIC + 1];
    let r: number;
    if (b === undefined) r = (this.ex[fn] as (...args: number[]) => number)(ap, al) | 0;
    else {
      this.putStr(b, w + V_PAYLOAD);
      r = (this.ex[fn] as (...args: number[]) => number)(ap, al, this.u32[w + V_PAYLOAD], this.u32[w + V_PAYLOAD + 1]) | 0;
    }
    if (r < 0) throw new MqttCodecError(errName(r), -r);
    return r;
  }

  private writeConnect(p: Packet, b: number, version: number): void {
    const v = this.u32;
    const will = p.will;
    let f = p.clean === false ? 0 : CF_CLEAN;
    if (will) {
      f |= CF_WILL | ((will.qos ?? 0) << 3) | (will.retain ? CF_WILL_RETAIN : 0);
      this.putStr(will.topic, b + V_WILL_TOPIC);
      this.putBin(will.payload ?? Buffer.alloc(0), b + V_WILL_PAYLOAD);
      if (version === 5) this.writeProps(will.properties, b + WILL_PROPS, b + V_WILL_PROP_COUNT, MAX_WILL_PROPS);
    }
    if (p.username !== undefined) {
      f |= CF_USERNAME;
      this.putStr(p.username, b + V_USERNAME);
    }
    if (p.password !== undefined) {
      f |= CF_PASSWORD;
      this.putBin(p.password, b + V_PASSWORD);
    }
    v[b + V_CONNECT_FLAGS] = f;
    const keepalive = p.keepalive ?? 0;
    if (!(keepalive >= 0 && keepalive <= 0xffff)) throw new MqttCodecError("LimitExceeded", 21);
    v[b + V_KEEPALIVE] = keepalive;
    this.putStr(p.clientId ?? "", b + V_CLIENT_ID);
    if (p.protocolId) this.putStr(p.protocolId, b + V_PROTOCOL_NAME);
  }
}

let shared: CodecModule | undefined;

/** Encodes one packet (mqtt-packet's `generate`). Throws MqttCodecError. */
export function encode(packet: Packet, opts: { protocolVersion?: number } = {}): Uint8Array {
  return sharedModule().encode(packet, opts.protocolVersion ?? packet.protocolVersion ?? 4);
}

/** Input buffer of the instances Decoders share: a longer chunk is fed in slices. */
const STREAM_INPUT = 65536;
/** Module instances Decoders share, by build, engine and assembly buffer size (issue 12). */
const streamModules = new Map<string, CodecModule>();

/**
 * The instance for a Decoder: created on first use and kept for the process. Its
 * assembly buffer is a power of two of at least 64 KiB that holds `maxPacket`, so a
 * few sizes cover every Decoder; each push sets the Decoder's own limit.
 */
function streamModule(build: Build, engine: EngineName | undefined, maxPacket: number): CodecModule {
  const n = maxPacket >>> 0; // as the module reads it (u32)
  // Past 1 GiB the size goes to the module as it is, which refuses it (a trap), as it always has.
  const cap = n <= STREAM_INPUT ? STREAM_INPUT : n > 0x40000000 ? n : 2 ** Math.ceil(Math.log2(n));
  const key = `${build}/${engine ?? ""}/${cap}`;
  let mod = streamModules.get(key);
  if (!mod) {
    mod = new CodecModule({ build, engine, maxPacketSize: cap, inputSize: STREAM_INPUT, bufferSize: 64 });
    streamModules.set(key, mod);
  }
  return mod;
}

/**
 * Streaming decoder: bytes in any chunking, whole packets out. Decoders share module
 * instances; what one holds between pushes is the unfinished packet's bytes (a
 * Buffer of about their size), so a Decoder costs little more than those and needs no
 * closing: drop it and the garbage collector frees everything it held.
 */
export class Decoder {
  private readonly mod: CodecModule;
  private readonly version: { v: number };
  private readonly maxPacket: number;
  private readonly slice: number;
  private readonly held = new HeldBytes();
  private error: MqttCodecError | undefined;

  constructor(opts: { protocolVersion?: 3 | 4 | 5; maxPacketSize?: number; build?: Build; engine?: EngineName; inputSize?: number } = {}) {
    this.maxPacket = opts.maxPacketSize ?? DEFAULT_MAX_PACKET;
    this.mod = streamModule(opts.build ?? "release", opts.engine, this.maxPacket);
    this.slice = opts.inputSize ?? STREAM_INPUT;
    this.version = { v: opts.protocolVersion ?? 4 };
  }

  get protocolVersion(): number {
    return this.version.v;
  }

  /**
   * Returns the whole packets completed by `chunk`. After a protocol error every
   * call throws that same error (its `.packets` holds the ones decoded before it).
   */
  push(chunk: Uint8Array): Packet[] {
    if (this.error) throw this.error;
    // A chunk that leaves the held packet still short needs no module call.
    if (this.held.absorb(chunk)) return [];
    const out: Packet[] = [];
    try {
      this.mod.decodeStream(this.held, chunk, this.version, out, this.maxPacket, this.slice);
    } catch (err) {
      if (err instanceof MqttCodecError) this.error = err;
      throw err;
    }
    return out;
  }
}

function sharedModule(): CodecModule {
  return (shared ??= new CodecModule({ inputSize: 16, maxPacketSize: 16 }));
}

/** Throws MqttCodecError unless `topic` is a valid PUBLISH topic name. */
export function validateTopicName(topic: string): void {
  sharedModule().topicCall("topic_validate_name", topic);
}

/** Throws MqttCodecError unless `filter` is a valid subscription filter. */
export function validateTopicFilter(filter: string): void {
  sharedModule().topicCall("topic_validate_filter", filter);
}

/** Whether `filter` matches `topic` (+, #, and no wildcard match for a leading $). */
export function topicMatches(filter: string, topic: string): boolean {
  return sharedModule().topicCall("topic_matches", filter, topic) !== 0;
}
