// The writer half of outpost/codec: a packet in mqtt-packet's object shape checked
// (check.ts) and put into the module's view, its strings and bytes into scratch; the
// module encodes it (codec_encode) and the bytes are copied out.
import { errName } from "../abi.ts";
import { checkPacket, checkProp, checkPublish, isBytes } from "./check.ts";
import { MqttCodecError } from "./error.ts";
import type { CodecModule } from "./module.ts";
import type { Packet, Properties, UserProperties } from "./types.ts";
import {
  CF_CLEAN,
  CF_PASSWORD,
  CF_USERNAME,
  CF_WILL,
  CF_WILL_RETAIN,
  CMD_CODE,
  ITEMS,
  MAX_ITEMS,
  MAX_PROPS,
  MAX_WILL_PROPS,
  PROPS,
  PROP_BY_NAME,
  V_CLIENT_ID,
  V_CONNECT_FLAGS,
  V_DUP,
  V_ITEM_COUNT,
  V_KEEPALIVE,
  V_PACKET_ID,
  V_PASSWORD,
  V_PAYLOAD,
  V_PROP_COUNT,
  V_PROTOCOL_NAME,
  V_QOS,
  V_REASON,
  V_RETAIN,
  V_SESSION_PRESENT,
  V_SLOTS,
  V_TOPIC,
  V_TYPE,
  V_USERNAME,
  V_VERSION,
  V_WILL_PAYLOAD,
  V_WILL_PROP_COUNT,
  V_WILL_TOPIC,
  WILL_PROPS,
} from "./view.ts";

const utf8Encoder = new TextEncoder();

/** Encodes packets through a module's view (CodecModule.encode). */
export class PacketWriter {
  constructor(private readonly m: CodecModule) {}

  private sp = 0;
  private spEnd = 0;

  /** Copies bytes into scratch; returns the pointer. */
  private put(data: Uint8Array): number {
    const at = this.sp;
    this.m.u8.set(data, at);
    this.sp += data.length;
    return at;
  }

  /** Writes a string as UTF-8 into scratch and points the (ptr, len) slot pair at it. */
  putStr(s: string | Uint8Array, slot: number): void {
    if (typeof s !== "string") {
      // A Buffer where a string belongs: UTF-8 already (checkStr).
      this.m.u32[slot] = this.put(s);
      this.m.u32[slot + 1] = s.length;
      return;
    }
    const at = this.sp;
    const n = s.length;
    const u8 = this.m.u8;
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
    this.m.u32[slot] = at;
    this.m.u32[slot + 1] = len;
  }

  private putBin(data: Uint8Array | string | null | undefined, slot: number): void {
    if (typeof data === "string") return this.putStr(data, slot);
    if (!data) {
      this.m.u32[slot] = 0;
      this.m.u32[slot + 1] = 0;
      return;
    }
    this.m.u32[slot] = this.put(data);
    this.m.u32[slot + 1] = data.length;
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
    const v = this.m.u32;
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
    checkPacket(p, PacketWriter.checkProps);
    // Two halves: strings go into scratch, the module writes the packet into out.
    this.m.ensureBuffers(PacketWriter.limit(PacketWriter.scratchBound(p)));
    this.m.sync();
    const v = this.m.u32;
    const b = this.m.viewWord;
    v.fill(0, b, b + V_SLOTS);
    this.sp = this.m.scratch;
    this.spEnd = this.m.scratch + this.m.bufCap;
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
    const r = this.m.ex.codec_encode() | 0;
    if (r < 0) throw new MqttCodecError(errName(r), -r);
    this.m.sync();
    return this.m.reader.bytes(this.m.out, r);
  }

  /** The hot case: a PUBLISH without properties. Sets every slot the encoder reads for it. */
  private encodePublish(p: Packet, version: number): Uint8Array {
    checkPublish(p);
    const topic = p.topic ?? "";
    const payload = p.payload;
    const plen = typeof payload === "string" ? payload.length * 3 : (payload?.length ?? 0);
    this.m.ensureBuffers(PacketWriter.limit(256 + topic.length * 3 + plen));
    this.m.sync();
    const v = this.m.u32;
    const b = this.m.viewWord;
    this.sp = this.m.scratch;
    this.spEnd = this.m.scratch + this.m.bufCap;
    v[b + V_TYPE] = 3;
    v[b + V_VERSION] = version;
    v[b + V_PACKET_ID] = p.messageId ?? 0;
    v[b + V_QOS] = p.qos ?? 0;
    v[b + V_DUP] = p.dup ? 1 : 0;
    v[b + V_RETAIN] = p.retain ? 1 : 0;
    v[b + V_PROP_COUNT] = 0;
    this.putStr(topic, b + V_TOPIC);
    this.putBin(payload, b + V_PAYLOAD);
    const r = this.m.ex.codec_encode() | 0;
    if (r < 0) throw new MqttCodecError(errName(r), -r);
    this.m.sync();
    return this.m.reader.bytes(this.m.out, r);
  }

  private writeConnect(p: Packet, b: number, version: number): void {
    const v = this.m.u32;
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

  /** Starts writing strings at the beginning of scratch. */
  begin(): void {
    this.sp = this.m.scratch;
    this.spEnd = this.m.scratch + this.m.bufCap;
  }
}
