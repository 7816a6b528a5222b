// The MQTT client's subscription table: filters kept with their options and state,
// (un)subscribed while connected, again whenever the broker did not keep the session;
// EV_SUBACK / EV_UNSUBACK report the answers.
import { CFG_PROTOCOL, CFG_SUBS_BYTES, EV_SUBACK, EV_UNSUBACK, Err, V_ITEM_COUNT, V_PACKET_ID, V_TYPE, V_VERSION } from "../abi";

import { C } from "../link/config";
import { emitAll } from "../link/events";
import { linkInited } from "../link/supervisor";
import { alloc, bytesEqual } from "../mem";
import { allocPid } from "./outbox";
import { addItem, clearView, getSlot, setSlot, ITEMS_OFFSET, MQTT_5, SUBACK, SUBSCRIBE } from "./packet";
import { checkSubOptions } from "./properties";
import { send, txView, version } from "./send";
import { validateTopicFilter } from "./topic";
import { MQTT5, QOS2 } from "../features";

// Subscription entry: u8 state, u8 options, u16 packet id, u16 filter length, filter.
const SUB_HEADER: u32 = 6;
const SUB_DEAD: u8 = 0;
const SUB_NEED: u8 = 1;
export const SUB_SENT: u8 = 2;
const SUB_ACKED: u8 = 3;
const UNSUB_NEED: u8 = 4;
export const UNSUB_SENT: u8 = 5;

let subs: usize = 0, subsLen: u32 = 0; // capacity: the config key

export function subsInit(): void {
  subs = alloc(C(CFG_SUBS_BYTES));
}

/** A connection got through: what was in flight goes again; without the session, everything (unsubscribed filters are gone with it). */
export function subsResume(present: bool): void {
  for (let p = subs, end = subs + subsLen; p < end; p += SUB_HEADER + <u32>load<u16>(p + 4)) {
    let st = load<u8>(p);
    if (st == SUB_SENT || (!present && st == SUB_ACKED)) st = SUB_NEED;
    else if (<u32>st - UNSUB_NEED < 2) st = present // UNSUB_NEED, UNSUB_SENT ? UNSUB_NEED : SUB_DEAD;
    store<u8>(p, st);
  }
}

function findSub(ptr: usize, len: u32): usize {
  for (let p = subs, end = subs + subsLen; p < end; p += SUB_HEADER + <u32>load<u16>(p + 4)) {
    if (load<u8>(p) != SUB_DEAD && <u32>load<u16>(p + 4) == len && bytesEqual(p + SUB_HEADER, ptr, len)) return p;
  }
  return 0;
}

// Puts a filter in the table in state `st` (SUB_NEED or UNSUB_NEED). Unsubscribing
// passes options 0, which every protocol allows.
function subEntry(ptr: usize, len: u32, st: u8, options: u32): i32 {
  if (!linkInited()) return -Err.NotInitialized;
  // Checked here for the protocol configured now: the encoder takes the options as they are.
  let r = checkSubOptions(options, MQTT5 && C(CFG_PROTOCOL) == MQTT_5);
  if (!QOS2) if (!r && (options & 3) > 1) r = -Err.InvalidQos;
  if (!r) r = validateTopicFilter(ptr, len);
  if (r < 0) return r;
  let p = findSub(ptr, len);
  if (!p) {
    if (SUB_HEADER + len > C(CFG_SUBS_BYTES) - subsLen) return -Err.LimitExceeded;
    p = subs + subsLen;
    store<u16>(p + 4, <u16>len);
    memory.copy(p + SUB_HEADER, ptr, len);
    subsLen += SUB_HEADER + len;
  }
  store<u8>(p, st);
  store<u8>(p + 1, <u8>options);
  return 0;
}

/**
 * Subscribes to a filter (options byte: QoS | v5 flags). Kept in the table, sent when
 * connected and again whenever the session was not kept; EV_SUBACK reports the answer.
 * 0 or -Err: InvalidQos, ReservedFlags (bits the configured protocol does not have), InvalidTopic,
 * NullCharacter, InvalidUtf8, LimitExceeded (table full).
 */
export function clientSubscribe(ptr: usize, len: u32, options: u32): i32 {
  return subEntry(ptr, len, SUB_NEED, options);
}

/** Unsubscribes (sent when connected); EV_UNSUBACK reports the answer. 0 or -Err as clientSubscribe. */
export function clientUnsubscribe(ptr: usize, len: u32): i32 {
  return subEntry(ptr, len, UNSUB_NEED, 0);
}

/** Drops the entries that are gone (unsubscribed, refused). */
export function purgeDeadSubs(): void {
  let p = subs;
  while (p < subs + subsLen) {
    let size = SUB_HEADER + <u32>load<u16>(p + 4);
    if (load<u8>(p) == SUB_DEAD) {
      memory.copy(p, p + size, subs + subsLen - p - size);
      subsLen -= size;
    } else p += size;
  }
}

/** The subscription entry in state `st` (SUB_SENT or UNSUB_SENT) sent with packet id `pid`, or 0. */
export function findSentSub(pid: u32, st: u8): usize {
  for (let p = subs, end = subs + subsLen; p < end; p += SUB_HEADER + <u32>load<u16>(p + 4)) {
    if (load<u8>(p) == st && <u32>load<u16>(p + 2) == pid) return p;
  }
  return 0;
}

/** A SUBACK or UNSUBACK (decoded in `v`): the entry it answers settles. */
export function onSubAck(type: u32, v: usize): void {
  let pid = getSlot(v, V_PACKET_ID);
  let reason = getSlot(v, V_ITEM_COUNT) ? load<u32>(v + ITEMS_OFFSET, 8) : 0;
  let p = findSentSub(pid, type == SUBACK ? SUB_SENT : UNSUB_SENT);
  if (!p) return;
  store<u8>(p, type == SUBACK && reason < 0x80 ? SUB_ACKED : SUB_DEAD);
  emitAll(type == SUBACK ? EV_SUBACK : EV_UNSUBACK, pid, reason, <u32>(p + SUB_HEADER), <u32>load<u16>(p + 4));
}

/** Sends what the table needs (connected only), one packet per filter, while tx has room. */
export function pumpSubs(): void {
  for (let p = subs; p < subs + subsLen; p += SUB_HEADER + <u32>load<u16>(p + 4)) {
    let st = load<u8>(p);
    if (!((((1 << SUB_NEED) | (1 << UNSUB_NEED)) >> st) & 1)) continue;
    let v = txView;
    clearView(v);
    let pid = allocPid();
    setSlot(v, V_TYPE, SUBSCRIBE + ((st >> 1) & 2)); // SUB_NEED (1): SUBSCRIBE (8), UNSUB_NEED (4): UNSUBSCRIBE (10)
    setSlot(v, V_VERSION, version);
    setSlot(v, V_PACKET_ID, pid);
    addItem(v, p + SUB_HEADER, <u32>load<u16>(p + 4), <u32>load<u8>(p + 1));
    if (send() < 0) return; // tx full: next poll
    store<u8>(p, st + 1);
    store<u16>(p + 2, <u16>pid);
  }
}
