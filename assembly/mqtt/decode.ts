// Decodes one whole MQTT packet into the packet view (assembly/mqtt/packet.ts).
// Strings and binaries are not copied: the view points into the packet bytes.
import { P_AUTHENTICATION_METHOD, P_TOPIC_ALIAS } from "./property-table";
import { Err, V_CLIENT_ID, V_CONNECT_FLAGS, V_DUP, V_FLAGS, V_ITEM_COUNT, V_KEEPALIVE, V_LENGTH, V_PACKET_ID, V_PASSWORD, V_PAYLOAD, V_PROP_COUNT, V_PROTOCOL_NAME, V_QOS, V_REASON, V_RETAIN, V_SESSION_PRESENT, V_TOPIC, V_TYPE, V_USERNAME, V_VERSION, V_WILL_PAYLOAD, V_WILL_PROP_COUNT, V_WILL_TOPIC } from "../abi";

import { VARINT_MORE, checkUtf8, readVarint, u16be, u8At, varintBytes } from "../mem";
import { AUTH, CF_PASSWORD, PINGREQ, CF_USERNAME, CF_WILL, CONNACK, CONNECT, DISCONNECT, MAX_PROPS, MAX_WILL_PROPS, MQTT_5, PROPS_OFFSET, PROP_ENTRY_BYTES, PUBCOMP, PUBLISH, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, V_SLOTS, WILL_PROPS_OFFSET, addItem, setSlot } from "./packet";
import { K_BIN, K_BYTE, K_NONZERO, K_PAIR, K_STR, K_TOPIC, K_U32, K_VARINT, WILL_PROPS, checkConnectFlags, requiredFlags, checkSubOptions, markSeen, propKind, validReason } from "./properties";
import { BROKER_SIDE } from "./side";
import { validateTopicFilter, validateTopicName } from "./topic";
import { MQTT5 } from "../features";

// Read cursor and limit of the packet being decoded.
let cur: usize = 0;
let end: usize = 0;
// Property ids seen in the last property block.
let seenProps: u64 = 0;

@inline function avail(): usize {
  return end - cur;
}

/** Reads a 2-byte length and checks the bytes are there; -1 if not. */
function lenField(lim: usize): i32 {
  if (lim - cur < 2) return -1;
  let n = u16be(cur);
  cur += 2;
  if (<usize>n > lim - cur) return -1;
  return <i32>n;
}

/** A length-prefixed field into a (ptr, len) slot pair at `at`; UTF-8 checked when `utf8`. */
function field(at: usize, lim: usize, utf8: bool): i32 {
  let n = lenField(lim);
  if (n < 0) return -Err.Truncated;
  if (utf8) {
    let e = checkUtf8(cur, <u32>n);
    if (e) return e;
  }
  store<u32>(at, <u32>cur);
  store<u32>(at, <u32>n, 4);
  cur += <usize>n;
  return 0;
}

@inline function slotAt(view: usize, slot: u32): usize {
  return view + (<usize>slot << 2);
}

function packetId(view: usize): i32 {
  if (avail() < 2) return -Err.Truncated;
  let id = u16be(cur);
  cur += 2;
  if (!id) return -Err.ZeroPacketId;
  setSlot(view, V_PACKET_ID, id);
  return 0;
}

/** A property block for packet `type` into the table at view + offset. */
function props(view: usize, type: u32, countSlot: u32, offset: u32, max: u32): i32 {
  let len = readVarint(cur, <u32>avail());
  if (len == VARINT_MORE) return -Err.Truncated;
  if (len < 0) return len;
  cur += varintBytes;
  if (<usize>len > avail()) return -Err.Truncated;
  let lim = cur + <usize>len;
  let seen: u64 = 0;
  let n: u32 = 0;
  while (cur < lim) {
    let id = u8At(cur++);
    let kind = propKind(id, type);
    if (kind < 0) return kind;
    seen = markSeen(seen, id, type);
    if (!seen) return -Err.DuplicateProperty;
    if (n >= max) return -Err.LimitExceeded;
    let e = view + offset + n * PROP_ENTRY_BYTES;
    store<u32>(e, id);
    let value: u32 = 1;
    let k = <u32>kind & 7;
    if (k <= K_U32) {
      // Byte, two byte or four byte integer, big-endian.
      let size: usize = 1 << (k - 1);
      if (lim - cur < size) return -Err.Truncated;
      value = 0;
      for (let i: usize = 0; i < size; i++) value = (value << 8) | u8At(cur++);
      if (k == K_BYTE && value > 1) return -Err.InvalidPropertyValue;
    } else if (k == K_VARINT) {
      let v = readVarint(cur, <u32>(lim - cur));
      if (v == VARINT_MORE) return -Err.Truncated;
      if (v < 0) return -Err.InvalidPropertyValue;
      cur += varintBytes;
      value = <u32>v;
    } else {
      let r = field(e + 4, lim, k != K_BIN);
      if (r) return r;
      if (kind & K_TOPIC) {
        r = validateTopicName(load<u32>(e, 4), load<u32>(e, 8));
        if (r) return r;
      }
      if (k == K_PAIR) {
        r = field(e + 12, lim, true);
        if (r) return r;
      }
    }
    if (k < K_STR) store<u32>(e, value, 4);
    if (!value && kind & K_NONZERO) return -Err.InvalidPropertyValue;
    n++;
  }
  setSlot(view, countSlot, n);
  seenProps = seen;
  return 0;
}

@inline function mainProps(view: usize, type: u32): i32 {
  return props(view, type, V_PROP_COUNT, PROPS_OFFSET, MAX_PROPS);
}

/** Decodes the packet at [ptr, ptr+len) (fixed header included). 0 or -Err. */
export function decodePacket(ptr: usize, len: u32, version: u32, view: usize): i32 {
  if (len < 2) return -Err.Truncated;
  let b0 = u8At(ptr);
  let type = b0 >> 4;
  let flags = b0 & 15;
  let rl = readVarint(ptr + 1, len - 1);
  if (rl == VARINT_MORE) return -Err.Truncated;
  if (rl < 0) return rl;
  cur = ptr + 1 + varintBytes;
  end = cur + <usize>rl;
  let last = ptr + <usize>len;
  if (end > last) {
    // The client's framer hands out only the first bytes of a PUBLISH over its limit
    // (stream.ts): decoded as far as they go, the payload being what was kept.
    if (BROKER_SIDE || type != PUBLISH) return -Err.Truncated;
    end = last;
  }
  if (end < last) return -Err.TrailingBytes;
  memory.fill(view, 0, <usize>(V_SLOTS << 2));
  setSlot(view, V_TYPE, type);
  setSlot(view, V_FLAGS, flags);
  setSlot(view, V_VERSION, version);
  setSlot(view, V_LENGTH, <u32>rl);
  let v5 = MQTT5 && version == MQTT_5;
  if (type == 0 || (type == AUTH && !v5)) return -Err.UnknownPacketType;
  // Packets only a broker receives: CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ.
  if (!BROKER_SIDE && (((1 << CONNECT) | (1 << SUBSCRIBE) | (1 << UNSUBSCRIBE) | (1 << PINGREQ)) >> type) & 1) return -Err.UnknownPacketType;
  if (type != PUBLISH && flags != requiredFlags(type)) return -Err.ReservedFlags;
  let r: i32 = 0;
  if (BROKER_SIDE && type == CONNECT) r = connect(view);
  else if (type == CONNACK) r = connack(view, v5);
  else if (type == PUBLISH) r = publish(view, flags, v5);
  else if (type <= PUBCOMP) {
    r = packetId(view);
    if (!r && v5) r = reasonAndProps(view, type);
  } else if (type <= UNSUBACK) r = list(view, type, v5);
  else if (type >= DISCONNECT && v5) r = reasonAndProps(view, type); // PINGREQ, PINGRESP: empty
  if (r) return r;
  return cur == end ? 0 : -Err.TrailingBytes;
}

/** MQTT 5 acks, DISCONNECT and AUTH: reason code and properties may each be left off. */
function reasonAndProps(view: usize, type: u32): i32 {
  if (cur == end) return 0;
  let code = u8At(cur++);
  if (!validReason(type, code, true)) return -Err.InvalidReasonCode;
  setSlot(view, V_REASON, code);
  // AUTH may drop its property length only with its reason code (MQTT 5 3.15.2.1),
  // and its properties must hold an Authentication Method.
  if (type == AUTH) {
    let r = cur == end ? -Err.Truncated : mainProps(view, type);
    return r || seenProps & (<u64>1 << P_AUTHENTICATION_METHOD) ? r : -Err.InvalidPropertyValue;
  }
  return cur == end ? 0 : mainProps(view, type);
}

function connect(view: usize): i32 {
  let r = field(slotAt(view, V_PROTOCOL_NAME), end, true);
  if (r) return r;
  if (avail() < 4) return -Err.Truncated;
  let level = u8At(cur);
  let nameLen = load<u32>(slotAt(view, V_PROTOCOL_NAME), 4);
  let name = <usize>load<u32>(slotAt(view, V_PROTOCOL_NAME));
  // "MQTT" for 3.1.1 and 5, "MQIsdp" for 3.1.
  let ok = level == 3
    ? nameLen == 6 && load<u32>(name) == 0x7349514d && load<u16>(name, 4) == 0x7064
    : (level == 4 || level == 5) && nameLen == 4 && load<u32>(name) == 0x5454514d;
  if (!ok) return -Err.InvalidProtocol;
  setSlot(view, V_VERSION, level);
  let f = u8At(cur + 1);
  setSlot(view, V_CONNECT_FLAGS, f);
  setSlot(view, V_KEEPALIVE, u16be(cur + 2));
  cur += 4;
  let will = f & CF_WILL;
  let v5 = MQTT5 && level == MQTT_5;
  if ((r = checkConnectFlags(f, v5))) return r;
  if (v5 && (r = mainProps(view, CONNECT))) return r;
  if ((r = field(slotAt(view, V_CLIENT_ID), end, true))) return r;
  if (will) {
    if (v5 && (r = props(view, WILL_PROPS, V_WILL_PROP_COUNT, WILL_PROPS_OFFSET, MAX_WILL_PROPS))) return r;
    if ((r = field(slotAt(view, V_WILL_TOPIC), end, false))) return r;
    if ((r = validateTopicName(load<u32>(slotAt(view, V_WILL_TOPIC)), load<u32>(slotAt(view, V_WILL_TOPIC), 4)))) return r;
    if ((r = field(slotAt(view, V_WILL_PAYLOAD), end, false))) return r;
  }
  if (f & CF_USERNAME && (r = field(slotAt(view, V_USERNAME), end, true))) return r;
  if (f & CF_PASSWORD && (r = field(slotAt(view, V_PASSWORD), end, false))) return r;
  return 0;
}

function connack(view: usize, v5: bool): i32 {
  if (avail() < 2) return -Err.Truncated;
  let ackFlags = u8At(cur);
  let code = u8At(cur + 1);
  cur += 2;
  if (ackFlags > 1) return -Err.ReservedFlags;
  setSlot(view, V_SESSION_PRESENT, ackFlags);
  setSlot(view, V_REASON, code);
  if (!validReason(CONNACK, code, v5)) return -Err.InvalidReasonCode;
  return v5 ? mainProps(view, CONNACK) : 0;
}

function publish(view: usize, flags: u32, v5: bool): i32 {
  let qos = (flags >> 1) & 3;
  if (qos == 3) return -Err.InvalidQos;
  if (qos == 0 && flags & 8) return -Err.ReservedFlags; // DUP must be 0 at QoS 0
  setSlot(view, V_QOS, qos);
  setSlot(view, V_DUP, flags >> 3);
  setSlot(view, V_RETAIN, flags & 1);
  let r = field(slotAt(view, V_TOPIC), end, false);
  if (r) return r;
  let topicLen = load<u32>(slotAt(view, V_TOPIC), 4);
  // An empty topic is allowed only with a Topic Alias (MQTT 5), checked below.
  if (topicLen && (r = validateTopicName(load<u32>(slotAt(view, V_TOPIC)), topicLen))) return r;
  if (qos && (r = packetId(view))) return r;
  if (v5) {
    if ((r = mainProps(view, PUBLISH))) return r;
    if (!topicLen && !(seenProps & (<u64>1 << P_TOPIC_ALIAS))) return -Err.InvalidTopic;
  } else if (!topicLen) return -Err.InvalidTopic;
  setSlot(view, V_PAYLOAD, <u32>cur);
  setSlot(view, V_PAYLOAD + 1, <u32>(end - cur));
  cur = end;
  return 0;
}

/**
 * SUBSCRIBE (filter + options), UNSUBSCRIBE (filter), SUBACK and UNSUBACK (codes;
 * none in a 3.1.1 UNSUBACK): packet id, properties, then a non-empty list.
 */
function list(view: usize, type: u32, v5: bool): i32 {
  let r = packetId(view);
  if (r || (v5 && (r = mainProps(view, type)))) return r;
  if (type == UNSUBACK && !v5) return 0;
  if (cur == end) return -Err.EmptySubscription;
  let filters = BROKER_SIDE && (type == SUBSCRIBE || type == UNSUBSCRIBE);
  while (cur < end) {
    let p: usize = 0;
    let n: i32 = 0;
    if (filters) {
      n = lenField(end);
      if (n < 0) return -Err.Truncated;
      p = cur;
      if ((r = validateTopicFilter(p, <u32>n))) return r;
      cur += <usize>n;
    }
    let o: u32 = 0;
    if (!BROKER_SIDE || type != UNSUBSCRIBE) {
      if (cur == end) return -Err.Truncated;
      o = u8At(cur++);
      if (BROKER_SIDE && type == SUBSCRIBE) {
        if ((r = checkSubOptions(o, v5))) return r;
      } else if (!validReason(type, o, v5)) return -Err.InvalidReasonCode;
    }
    if ((r = addItem(view, p, <u32>n, o))) return r;
  }
  return 0;
}
