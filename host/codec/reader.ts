// The reader half of outpost/codec: a decoded packet view (the module validated and
// laid it out) turned into mqtt-packet's object shape. Strings and bytes are copied out
// of linear memory; nothing here checks what the module already checked.
import type { CodecModule } from "./module.ts";
import {
  CF_CLEAN,
  CF_USERNAME,
  CF_PASSWORD,
  CF_WILL,
  CF_WILL_RETAIN,
  CMDS,
  ITEMS,
  PROPS,
  PROP_BY_ID,
  V_CLIENT_ID,
  V_CONNECT_FLAGS,
  V_FLAGS,
  V_ITEM_COUNT,
  V_KEEPALIVE,
  V_LENGTH,
  V_PACKET_ID,
  V_PASSWORD,
  V_PAYLOAD,
  V_PROP_COUNT,
  V_PROTOCOL_NAME,
  V_REASON,
  V_SESSION_PRESENT,
  V_TOPIC,
  V_TYPE,
  V_USERNAME,
  V_VERSION,
  V_WILL_PAYLOAD,
  V_WILL_PROP_COUNT,
  V_WILL_TOPIC,
  WILL_PROPS,
} from "./view.ts";
import type { Packet, Properties, Subscription, UserProperties, Will } from "./types.ts";

/** Reads the packet in a module's view (CodecModule.decode calls it once per packet). */
export class PacketReader {
  constructor(private readonly m: CodecModule) {}

  /** A UTF-8 string the module already validated; Buffer#toString is the fastest decoder for short strings. */
  private str(ptr: number, len: number): string {
    return len === 0 ? "" : this.m.u8.toString("utf8", ptr, ptr + len);
  }

  /**
   * A copy out of linear memory. Buffer.allocUnsafe takes Node's pooled slab, much
   * cheaper than slice() for small sizes; a plain loop beats a native copy below ~64 bytes.
   */
  bytes(ptr: number, len: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    const u8 = this.m.u8;
    if (len <= 64) for (let i = 0; i < len; i++) out[i] = u8[ptr + i];
    else out.set(u8.subarray(ptr, ptr + len));
    return out;
  }

  read(): Packet {
    const v = this.m.u32;
    const b = this.m.viewWord;
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
    const v = this.m.u32;
    const n = v[this.m.viewWord + V_ITEM_COUNT];
    for (let i = 0, e = this.m.viewWord + ITEMS; i < n; i++, e += 3) fn(v[e], v[e + 1], v[e + 2]);
  }

  private readConnect(p: Packet): Packet {
    const v = this.m.u32;
    const b = this.m.viewWord;
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
    const v = this.m.u32;
    const props: Record<string, any> = {};
    for (let i = 0, e = this.m.viewWord + table; i < count; i++, e += 5) {
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
}
