// Encodes the packet the view describes (the decoder's view layout, read back).
// Strings are taken as valid UTF-8; topics and filters are validated.
import { P_AUTHENTICATION_METHOD, P_TOPIC_ALIAS } from "./property-table";
import { Err, V_CLIENT_ID, V_CONNECT_FLAGS, V_DUP, V_ITEM_COUNT, V_KEEPALIVE, V_PACKET_ID, V_PASSWORD, V_PAYLOAD, V_PROP_COUNT, V_PROTOCOL_NAME, V_QOS, V_REASON, V_RETAIN, V_SESSION_PRESENT, V_TOPIC, V_TYPE, V_USERNAME, V_VERSION, V_WILL_PAYLOAD, V_WILL_PROP_COUNT, V_WILL_TOPIC } from "../abi";

import { put16be, varintSize, writeVarint } from "../mem";
import { AUTH, CF_PASSWORD, PINGRESP, CF_USERNAME, CF_WILL, CONNACK, CONNECT, DISCONNECT, ITEMS_OFFSET, ITEM_ENTRY_BYTES, MQTT_5, PROPS_OFFSET, PROP_ENTRY_BYTES, PUBCOMP, PUBLISH, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, WILL_PROPS_OFFSET, getSlot, CF_CLEAN } from "./packet";
import { K_BYTE, K_NONZERO, K_PAIR, K_TOPIC, K_U16, K_U32, K_VARINT, WILL_PROPS, checkConnectFlags, requiredFlags, checkSubOptions, markSeen, propKind, validReason } from "./properties";
import { BROKER_SIDE } from "./side";
import { validateTopicFilter, validateTopicName } from "./topic";
import { MQTT5 } from "../features";

const VARINT_MAX: u32 = 268435455;

// Write cursor and limit.
let wp: usize = 0;
let wlim: usize = 0;
// Property ids present in the last block written.
let seenProps: u64 = 0;

@inline function room(n: usize): bool {
  return wlim - wp >= n;
}

function byte(v: u32): i32 {
  if (!room(1)) return -Err.BufferFull;
  store<u8>(wp++, <u8>v);
  return 0;
}

function u16(v: u32): i32 {
  if (!room(2)) return -Err.BufferFull;
  put16be(wp, v);
  wp += 2;
  return 0;
}

/** Length-prefixed bytes. */
function lstr(ptr: usize, len: u32): i32 {
  if (len > 0xffff) return -Err.LimitExceeded;
  if (!room(2 + <usize>len)) return -Err.BufferFull;
  put16be(wp, len);
  memory.copy(wp + 2, ptr, len);
  wp += 2 + <usize>len;
  return 0;
}

@inline function slotStr(view: usize, slot: u32): i32 {
  return lstr(getSlot(view, slot), getSlot(view, slot + 1));
}

/**
 * Validates a property table and returns its encoded size, or -Err; with
 * `write` it also writes the properties (the caller checked the room).
 */
function propsPass(view: usize, offset: u32, count: u32, type: u32, write: bool): i32 {
  let size: u32 = 0;
  let seen: u64 = 0;
  for (let i: u32 = 0; i < count; i++) {
    let e = view + offset + i * PROP_ENTRY_BYTES;
    let id = load<u32>(e);
    let kind = propKind(id, type);
    if (kind < 0) return kind;
    seen = markSeen(seen, id, type);
    if (!seen) return -Err.DuplicateProperty;
    let a = load<u32>(e, 4);
    let b = load<u32>(e, 8);
    let k = <u32>kind & 7;
    // The device build's client sets integer and binary properties only (CONNECT
    // limits, Correlation Data): varints, pairs and topics are left out there.
    if (!BROKER_SIDE && (k == K_VARINT || k == K_PAIR || kind & K_TOPIC)) return -Err.UnknownProperty;
    let n: u32 = 4;
    if (write) store<u8>(wp++, <u8>id);
    if (k <= K_U32) {
      // Byte (0 or 1), two byte or four byte integer, big-endian.
      n = 1 << (k - 1);
      if (k == K_BYTE ? a > 1 : k == K_U16 && a > 0xffff) return -Err.InvalidPropertyValue;
      if (write) for (let j: u32 = 0; j < n; j++) store<u8>(wp + j, <u8>(a >> ((n - 1 - j) << 3)));
    } else if (BROKER_SIDE && k == K_VARINT) {
      if (a > VARINT_MAX) return -Err.InvalidPropertyValue;
      n = varintSize(a);
      if (write) writeVarint(wp, a);
    } else {
      let pair = BROKER_SIDE && k == K_PAIR;
      let d = pair ? load<u32>(e, 16) : 0;
      if (b > 0xffff || d > 0xffff) return -Err.LimitExceeded;
      if (BROKER_SIDE && kind & K_TOPIC) {
        let r = validateTopicName(a, b);
        if (r) return r;
      }
      n = 0;
      if (write) {
        lstr(a, b);
        if (pair) lstr(load<u32>(e, 12), d);
      }
      size += 2 + b + (pair ? 2 + d : 0);
    }
    if (!a && kind & K_NONZERO) return -Err.InvalidPropertyValue;
    if (write) wp += n;
    size += 1 + n;
  }
  if (size > VARINT_MAX) return -Err.LimitExceeded;
  if (BROKER_SIDE) seenProps = seen;
  return <i32>size;
}

/** Property length and properties. */
function props(view: usize, offset: u32, count: u32, type: u32): i32 {
  let size = propsPass(view, offset, count, type, false);
  if (size < 0) return size;
  if (!room(4 + <usize>size)) return -Err.BufferFull;
  wp = writeVarint(wp, <u32>size);
  propsPass(view, offset, count, type, true);
  return 0;
}

@inline function mainProps(view: usize, type: u32): i32 {
  return props(view, PROPS_OFFSET, getSlot(view, V_PROP_COUNT), type);
}

function packetId(view: usize): i32 {
  let id = getSlot(view, V_PACKET_ID);
  if (BROKER_SIDE && (!id || id > 0xffff)) return -Err.ZeroPacketId; // the device's client allocates 1..65535
  return u16(id);
}

/** Writes the packet into [out, out+cap). Bytes written or -Err (BufferFull if cap is too small). */
export function encodePacket(view: usize, out: usize, cap: u32): i32 {
  if (cap < 2) return -Err.BufferFull;
  let type = getSlot(view, V_TYPE);
  let version = getSlot(view, V_VERSION);
  let v5 = MQTT5 && version == MQTT_5;
  // The body goes after a 2-byte header, the common case; a longer remaining
  // length moves it up once at the end.
  let body = out + 2;
  wp = body;
  wlim = out + <usize>cap;
  let b0 = (type << 4) | requiredFlags(type);
  if (BROKER_SIDE && (!type || type > AUTH || (type == AUTH && !v5))) return -Err.UnknownPacketType;
  // The device build encodes only what its client builds from a view: CONNECT,
  // PUBLISH, SUBSCRIBE, UNSUBSCRIBE. The client writes its acks, PINGREQ and
  // DISCONNECT itself (client.ts writeAck, put2); the rest only a broker sends.
  if (!BROKER_SIDE && !((((1 << CONNECT) | (1 << PUBLISH) | (1 << SUBSCRIBE) | (1 << UNSUBSCRIBE)) >> type) & 1)) return -Err.UnknownPacketType;
  let r: i32 = 0;
  if (type == CONNECT) r = connect(view, version);
  else if (BROKER_SIDE && type == CONNACK) r = connack(view, v5);
  else if (type == PUBLISH) {
    let qos = getSlot(view, V_QOS);
    let dup = getSlot(view, V_DUP) != 0;
    if (BROKER_SIDE) { // the device's client checked the QoS and sets DUP itself
      if (qos > 2) return -Err.InvalidQos;
      if (dup && !qos) return -Err.ReservedFlags;
    }
    b0 |= (<u32>dup << 3) | (qos << 1) | (getSlot(view, V_RETAIN) != 0 ? 1 : 0);
    r = publish(view, qos, v5);
  } else if (BROKER_SIDE && type <= PUBCOMP) {
    r = packetId(view);
    if (!r && v5) r = reasonAndProps(view, type);
  } else if (type <= UNSUBACK) r = list(view, type, v5);
  else if (BROKER_SIDE && type >= DISCONNECT && v5) r = reasonAndProps(view, type); // PINGREQ, PINGRESP: empty
  if (r) return r;
  let len = <u32>(wp - body);
  if (len > VARINT_MAX) return -Err.PacketTooLarge;
  let vs = varintSize(len);
  let total: u32 = 1 + vs + len;
  if (total > cap) return -Err.BufferFull;
  if (vs > 1) memory.copy(out + 1 + vs, body, len);
  store<u8>(out, <u8>b0);
  writeVarint(out + 1, len);
  return <i32>total;
}

function reasonAndProps(view: usize, type: u32): i32 {
  let code = getSlot(view, V_REASON);
  let count = getSlot(view, V_PROP_COUNT);
  if (!validReason(type, code, true)) return -Err.InvalidReasonCode;
  // Shortest form: the reason code and property length may be left off.
  if (!code && !count) return 0;
  let r = byte(code);
  // AUTH keeps its property length whenever it has a reason code (MQTT 5 3.15.2.1), with an Authentication Method.
  if (type == AUTH) {
    if (r || (r = mainProps(view, type))) return r;
    return seenProps & (<u64>1 << P_AUTHENTICATION_METHOD) ? 0 : -Err.InvalidPropertyValue;
  }
  return r || !count ? r : mainProps(view, type);
}

function connect(view: usize, level: u32): i32 {
  let f = getSlot(view, V_CONNECT_FLAGS);
  let will = f & CF_WILL;
  if (BROKER_SIDE && (level < 3 || level > 5)) return -Err.InvalidProtocol; // the device's: 4 or 5 (clientConfig)
  let v5 = MQTT5 && level == MQTT_5;
  // The device's client builds its flags from checked config (clientConfig); of the
  // flag rules only 3.1.1's "no password without a username" is up to its caller.
  let r = BROKER_SIDE ? checkConnectFlags(f, v5) : !v5 && (f & (CF_PASSWORD | CF_USERNAME)) == CF_PASSWORD ? -Err.InvalidConnectFlags : 0;
  // An empty client id needs a clean session in 3.1.1 (MQTT-3.1.3-7); 3.1 needs a client id.
  if (BROKER_SIDE && level < 5 && !getSlot(view, V_CLIENT_ID + 1) && (level == 3 || !(f & CF_CLEAN))) r = -Err.InvalidConnectFlags;
  if (r) return r;
  // The device's client speaks 3.1.1 or 5 under the standard name (client_config).
  if (BROKER_SIDE && getSlot(view, V_PROTOCOL_NAME + 1)) r = slotStr(view, V_PROTOCOL_NAME);
  else r = BROKER_SIDE && level == 3 ? lstr(PROTO_NAMES + 4, 6) : lstr(PROTO_NAMES, 4);
  if (r) return r;
  if (!room(4)) return -Err.BufferFull;
  store<u8>(wp, <u8>level);
  store<u8>(wp, <u8>f, 1);
  put16be(wp + 2, getSlot(view, V_KEEPALIVE));
  wp += 4;
  if (v5 && (r = mainProps(view, CONNECT))) return r;
  if ((r = slotStr(view, V_CLIENT_ID))) return r;
  if (will) {
    // The device's client sets no will properties: an empty block.
    if (v5 && (r = BROKER_SIDE ? props(view, WILL_PROPS_OFFSET, getSlot(view, V_WILL_PROP_COUNT), WILL_PROPS) : byte(0))) return r;
    if ((r = validateTopicName(getSlot(view, V_WILL_TOPIC), getSlot(view, V_WILL_TOPIC + 1)))) return r;
    if ((r = slotStr(view, V_WILL_TOPIC)) || (r = slotStr(view, V_WILL_PAYLOAD))) return r;
  }
  if (f & CF_USERNAME && (r = slotStr(view, V_USERNAME))) return r;
  if (f & CF_PASSWORD && (r = slotStr(view, V_PASSWORD))) return r;
  return 0;
}

// "MQTT" (3.1.1, 5) then "MQIsdp" (3.1).
const PROTO_NAMES = memory.data<u8>([0x4d, 0x51, 0x54, 0x54, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70]);

function connack(view: usize, v5: bool): i32 {
  let code = getSlot(view, V_REASON);
  if (!validReason(CONNACK, code, v5)) return -Err.InvalidReasonCode;
  let r = byte(getSlot(view, V_SESSION_PRESENT) ? 1 : 0);
  if (!r) r = byte(code);
  return r || !v5 ? r : mainProps(view, CONNACK);
}

function publish(view: usize, qos: u32, v5: bool): i32 {
  let topic = getSlot(view, V_TOPIC);
  let topicLen = getSlot(view, V_TOPIC + 1);
  let r: i32 = 0;
  // The device's client checked the topic when it queued the message (clientPublishView).
  if (BROKER_SIDE && topicLen) r = validateTopicName(topic, topicLen);
  if (r || (r = lstr(topic, topicLen))) return r;
  if (qos && (r = packetId(view))) return r;
  if (v5 && (r = mainProps(view, PUBLISH))) return r;
  // An empty topic needs a Topic Alias (v5). The device's client never has one: it refused it in clientPublishView.
  if (BROKER_SIDE && !topicLen && (!v5 || !(seenProps & (<u64>1 << P_TOPIC_ALIAS)))) return -Err.InvalidTopic;
  let len = getSlot(view, V_PAYLOAD + 1);
  if (!room(len)) return -Err.BufferFull;
  memory.copy(wp, getSlot(view, V_PAYLOAD), len);
  wp += len;
  return 0;
}

/** SUBSCRIBE (filter + options), UNSUBSCRIBE (filter), SUBACK and UNSUBACK (codes from the items' options). */
function list(view: usize, type: u32, v5: bool): i32 {
  let r = packetId(view);
  if (r || (v5 && (r = mainProps(view, type)))) return r;
  if (BROKER_SIDE && type == UNSUBACK && !v5) return 0;
  let n = getSlot(view, V_ITEM_COUNT);
  if (!n) return -Err.EmptySubscription;
  for (let i: u32 = 0; i < n; i++) {
    let e = view + ITEMS_OFFSET + i * ITEM_ENTRY_BYTES;
    let o = load<u32>(e, 8);
    if (!BROKER_SIDE || type == SUBSCRIBE || type == UNSUBSCRIBE) {
      let p = load<u32>(e);
      let len = load<u32>(e, 4);
      // The device's client checked its filters when they entered its table (subEntry).
      if ((BROKER_SIDE && (r = validateTopicFilter(p, len))) || (r = lstr(p, len))) return r;
      if (type == UNSUBSCRIBE) continue;
      if (BROKER_SIDE && (r = checkSubOptions(o, v5))) return r; // the device's client checked them in clientSubscribe
    } else if (!validReason(type, o, v5)) return -Err.InvalidReasonCode;
    if ((r = byte(o))) return r;
  }
  return 0;
}
