// The sans-IO MQTT client: one connection state machine, one global instance.
// The host (or the device layer, from AssemblyScript) feeds it bytes and the time
// and pulls bytes to send and events (assembly/ABI.md, "Client"). It never does
// I/O, reads no clock and allocates only in clientInit.
import { P_MAXIMUM_PACKET_SIZE, P_RECEIVE_MAXIMUM, P_SERVER_KEEP_ALIVE, P_SESSION_EXPIRY_INTERVAL, P_TOPIC_ALIAS, P_TOPIC_ALIAS_MAXIMUM } from "./property-table";
import { CFG_ALIAS_TOPIC_BYTES, CFG_BACKOFF_MAX_MS, CFG_BACKOFF_MIN_MS, CFG_CLEAN, CFG_INFLIGHT_WINDOW, CFG_KEEPALIVE, CFG_KEYS, CFG_MAX_PACKET, CFG_OUTBOX_BYTES, CFG_PROTOCOL, CFG_RECEIVE_MAXIMUM, CFG_RX_BYTES, CFG_SCRATCH_BYTES, CFG_SESSION_EXPIRY, CFG_SIZING_KEYS, CFG_STRINGS_BYTES, CFG_SUBS_BYTES, CFG_TIMEOUT_MS, CFG_TOPIC_ALIAS_MAXIMUM, CFG_TX_BYTES, CFG_WILL_QOS, CFG_WILL_RETAIN, EV_CLOSE, EV_CONNECTED, EV_DROPPED, EV_MESSAGE, EV_OPEN, EV_PUBLISHED, EV_SUBACK, EV_TOO_LARGE, EV_UNSUBACK, Err, STR_CLIENT_ID, STR_KEYS, STR_PASSWORD, STR_USERNAME, STR_WILL_PAYLOAD, STR_WILL_TOPIC, V_CLIENT_ID, V_CONNECT_FLAGS, V_DUP, V_ITEM_COUNT, V_KEEPALIVE, V_PACKET_ID, V_PASSWORD, V_PAYLOAD, V_PROP_COUNT, V_QOS, V_REASON, V_RETAIN, V_SESSION_PRESENT, V_TOPIC, V_TYPE, V_USERNAME, V_VERSION, V_WILL_PAYLOAD, V_WILL_TOPIC, cfgValues } from "../abi";

import { alloc, bytesEqual, dropFront, put16be, rxPushCheck, u16be } from "../mem";
import { decodePacket } from "./decode";
import { encodePacket } from "./encode";
import { addItem, addProp, clearView, getSlot, setPair, setSlot, CF_CLEAN, CF_PASSWORD, CF_USERNAME, CF_WILL, CF_WILL_RETAIN, CONNACK, CONNECT, DISCONNECT, MQTT_5, PINGRESP, PROPS_OFFSET, PROP_ENTRY_BYTES, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, VIEW_BYTES, ITEMS_OFFSET } from "./packet";
import { checkSubOptions } from "./properties";
import { Framer } from "./stream";
import { validateTopicFilter, validateTopicName } from "./topic";

// ---- Config keys (client_config). "init" keys size buffers: set them before clientInit.
export function C(key: u32): u32 {
  return load<u32>(cfgValues() + (<usize>key << 2));
}

// String keys (client_set_str).
// Per string key: u32 offset in strs, u32 length.
const strTab = memory.data(STR_KEYS * 8);

// ---- Events (clientPoll's result; arguments in the event record).

const EV_WORDS: u32 = 5;
const EV_SLOTS: u32 = 8; // a poll step queues at most 2; the host drains before feeding more
// The block client_init returns (assembly/ABI.md): u32 scratch, scratch capacity and tx,
// fixed from init on, then the last event record. One address instead of a getter export each.
const info = memory.data(12 + EV_WORDS * 4);
const event = info + 12;
const evq = memory.data(EV_SLOTS * EV_WORDS * 4);
let evHead: u32 = 0;
let evTail: u32 = 0;

// ---- Connection states (ws/client.ts goes through the same ones).
export const S_IDLE: u32 = 0; // not started, or stopped
export const S_WAIT: u32 = 1; // backing off until waitUntil
export const S_OPENING: u32 = 2; // EV_OPEN given, socket not open yet
export const S_CONNECTING: u32 = 3; // CONNECT sent, waiting for CONNACK
export const S_CONNECTED: u32 = 4;

// Outbox record: u32 packet length, u8 state, u8 qos, u16 packet id, then the encoded PUBLISH.
const REC_HEADER: u32 = 8;
const R_QUEUED: u8 = 0;
const R_SENT: u8 = 1; // awaiting PUBACK / PUBREC
const R_RELEASE: u8 = 2; // PUBREL to (re)send
const R_AWAIT_COMP: u8 = 3;

// Subscription entry: u8 state, u8 options, u16 packet id, u16 filter length, filter.
const SUB_HEADER: u32 = 6;
const SUB_DEAD: u8 = 0;
const SUB_NEED: u8 = 1;
const SUB_SENT: u8 = 2;
const SUB_ACKED: u8 = 3;
const UNSUB_NEED: u8 = 4;
const UNSUB_SENT: u8 = 5;

const ACK_BYTES: u32 = 4; // the most one inbound packet makes us write
const NO_LIMIT: u32 = 0xffffffff;

const framer = changetype<Framer>(memory.data(offsetof<Framer>()));
let rxDrained = true;
// Buffers, allocated once by clientInit: base, capacity (outbox and subs: the config key, fewer globals), bytes used.
let tx: usize = 0 /* 0 until clientInit */, txCap: u32 = 0, txLen: u32 = 0;
let outbox: usize = 0, obLen: u32 = 0;
let subs: usize = 0, subsLen: u32 = 0;
let strs: usize = 0, strsUsed: u32 = 0, scratch: usize = 0;
let q2: usize = 0, q2Count: u32 = 0; // inbound QoS 2 ids between PUBLISH and PUBREL
let aliases: usize = 0; // per alias: u16 length + topic
// The inbound packet's view and the one the client (or the device layer) encodes from.
const rxView = memory.data(VIEW_BYTES * 2);
const txView = rxView + VIEW_BYTES;

// The connection's phase and its times (ms on the host's clock); backoff.
let state: u32 = 0 /* S_IDLE */, nowMs: u32 = 0, stateAt: u32 = 0, waitUntil: u32 = 0;
let lastSend: u32 = 0, pingAt: u32 = 0, pingOut = false, keepMs: u32 = 0;
let attempt: u32 = 0, rng: u32 = 0x9e3779b9;
// Flow: the in-flight window, the server's limit, packet ids, QoS 0 drops, protocol level.
let window: u32 = 0, inflight: u32 = 0, serverMaxPacket: u32 = 0xffffffff /* NO_LIMIT */;
let nextPid: u32 = 0, dropped: u32 = 0, version: u32 = 4;

@inline function inited(): bool {
  return tx != 0;
}

@inline function due(t: u32): bool {
  return <i32>(nowMs - t) >= 0;
}

// ---- Setup --------------------------------------------------------------

/** Sets an integer config key. 0, -UnknownKey, -AlreadyInitialized (a sizing key after init), -InvalidArgument or -InvalidQos. */
export function clientConfig(key: u32, value: u32): i32 {
  // Unsigned ranges: key - 1 wraps for key 0, value - 4 for 0..3, value - 1 for 0.
  if (key - 1 >= CFG_KEYS - 1) return -Err.UnknownKey;
  if (inited() && (CFG_SIZING_KEYS >> key) & 1) return -Err.AlreadyInitialized;
  if (key == CFG_PROTOCOL && value - 4 > 1) return -Err.InvalidArgument; // 4 or 5
  if (key == CFG_WILL_QOS && value > 2) return -Err.InvalidQos;
  if ((((1 << CFG_INFLIGHT_WINDOW) | (1 << CFG_RECEIVE_MAXIMUM)) >> key) & 1 && value - 1 >= 0xffff) return -Err.InvalidArgument; // 1..65535
  store<u32>(cfgValues() + (<usize>key << 2), value);
  return 0;
}

/** Seeds the backoff jitter PRNG (xorshift32; 0 keeps the built-in seed). */
export function clientSeed(seed: u32): void {
  if (seed) rng = seed;
}

/** Allocates every buffer from the config sizes. Once; the info block's address or -AlreadyInitialized. */
export function clientInit(): i32 {
  if (inited()) return -Err.AlreadyInitialized;
  framer.init(C(CFG_RX_BYTES), C(CFG_MAX_PACKET));
  txCap = C(CFG_TX_BYTES);
  tx = alloc(txCap);
  outbox = alloc(C(CFG_OUTBOX_BYTES));
  subs = alloc(C(CFG_SUBS_BYTES));
  strs = alloc(C(CFG_STRINGS_BYTES));
  scratch = alloc(C(CFG_SCRATCH_BYTES));
  q2 = alloc(C(CFG_RECEIVE_MAXIMUM) << 1);
  aliases = alloc(aliasBytes());
  store<u32>(info, scratch);
  store<u32>(info, C(CFG_SCRATCH_BYTES), 4);
  store<u32>(info, tx, 8);
  return <i32>info;
}

/** The inbound topic alias table: per alias a u16 length and the topic. */
function aliasBytes(): usize {
  return C(CFG_TOPIC_ALIAS_MAXIMUM) * (2 + C(CFG_ALIAS_TOPIC_BYTES));
}

export function clientScratch(): usize {
  return scratch;
}
export function clientScratchCap(): u32 {
  return C(CFG_SCRATCH_BYTES);
}

/**
 * Sets a string key (client id, username, password, will topic, will payload) from
 * [ptr, ptr+len); length 0 unsets it. 0, -UnknownKey or -BufferFull.
 */
export function clientSetString(key: u32, ptr: usize, len: u32): i32 {
  if (!inited()) return -Err.NotInitialized;
  if (key == 0 || key >= STR_KEYS) return -Err.UnknownKey;
  let at = strTab + (<usize>key << 3);
  let oldOff = load<u32>(at);
  let oldLen = load<u32>(at, 4);
  if (oldLen) {
    // Close the gap; later strings move down.
    memory.copy(strs + oldOff, strs + oldOff + oldLen, strsUsed - oldOff - oldLen);
    strsUsed -= oldLen;
    for (let k: u32 = 1; k < STR_KEYS; k++) {
      let o = strTab + (<usize>k << 3);
      if (load<u32>(o) > oldOff) store<u32>(o, load<u32>(o) - oldLen);
    }
    store<u32>(at, 0, 4);
  }
  if (len > C(CFG_STRINGS_BYTES) - strsUsed) return -Err.BufferFull;
  memory.copy(strs + strsUsed, ptr, len);
  store<u32>(at, strsUsed);
  store<u32>(at, len, 4);
  strsUsed += len;
  return 0;
}

export function setStringSlot(view: usize, slot: u32, key: u32): u32 {
  let at = strTab + (<usize>key << 3);
  let len = load<u32>(at, 4);
  setPair(view, slot, strs + load<u32>(at), len);
  return len;
}

// ---- Events -------------------------------------------------------------

/** An event with arguments a and b (c = d = 0: most events have two at most). */
function emit(code: u32, a: u32, b: u32): void {
  emitAll(code, a, b, 0, 0);
}
function emitAll(code: u32, a: u32, b: u32, c: u32, d: u32): void {
  let e = evq + (<usize>(evTail % EV_SLOTS) * EV_WORDS << 2);
  store<u32>(e, code);
  store<u32>(e, a, 4);
  store<u32>(e, b, 8);
  store<u32>(e, c, 12);
  store<u32>(e, d, 16);
  evTail++;
}

function nextEvent(): i32 {
  if (evHead == evTail) {
    store<u32>(event, 0);
    return 0;
  }
  memory.copy(event, evq + (<usize>(evHead % EV_SLOTS) * EV_WORDS << 2), EV_WORDS << 2);
  evHead++;
  return load<u32>(event);
}

/** The last event: u32 code, a, b, c, d. */
export function clientEvent(): usize {
  return event;
}
@inline export function clientEventArg(i: u32): u32 {
  return load<u32>(event + (<usize>(i + 1) << 2));
}
/** A view the device layer may fill for clientPublishView. */
export function clientTxView(): usize {
  return txView;
}

// ---- Connection lifecycle ----------------------------------------------

export function backoffDelay(): u32 {
  let max = C(CFG_BACKOFF_MAX_MS);
  let cap = <u64>C(CFG_BACKOFF_MIN_MS) << attempt; // attempt <= 32: no overflow in 64 bits
  if (cap > max) cap = max;
  if (attempt < 32) attempt++;
  // Full jitter: uniform in [0, cap] (cap + 1 cannot overflow in 64 bits, even for 0xFFFFFFFF).
  return <u32>(<u64>random32() % (cap + 1));
}

/** The next xorshift32 number from the host's seed (backoff jitter; WebSocket keys and masks). */
export function random32(): u32 {
  let x = rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return (rng = x);
}

/** A connection got through: the next backoff starts from the minimum again. */
export function backoffReset(): void {
  attempt = 0;
}

/** Drops whatever was read of the connection that ends. */
function forgetRx(): void {
  framer.reset();
  rxDrained = true;
}

/** lose() without an MQTT reason code. */
function fail(err: u32): void {
  lose(err, 0);
}

/** Ends the current connection (if any) for `err`/`code` and schedules the next attempt. */
function lose(err: u32, code: u32): void {
  if (state < S_OPENING) return;
  state = S_WAIT;
  waitUntil = nowMs + backoffDelay();
  txLen = 0;
  forgetRx();
  emit(EV_CLOSE, err, code);
}

/** Starts connecting (EV_OPEN at once). 0, or -NotInitialized. */
export function clientStart(now: u32): i32 {
  if (!inited()) return -Err.NotInitialized;
  nowMs = now;
  if (state == S_IDLE) {
    state = S_WAIT;
    waitUntil = now;
    attempt = 0;
  }
  return 0;
}

/** Disconnects cleanly: DISCONNECT goes to tx (if connected), then EV_CLOSE with a = 0; no reconnect. */
export function clientStop(now: u32): void {
  if (!inited()) return;
  nowMs = now;
  let was = state;
  state = S_IDLE;
  forgetRx();
  if (was == S_CONNECTED) put2(0xe0); // DISCONNECT
  if (was >= S_OPENING) emit(EV_CLOSE, 0, 0);
}

/** The socket asked for by EV_OPEN is open: CONNECT goes to tx. 0 or -Err (then EV_CLOSE follows). */
export function clientOpened(now: u32): i32 {
  nowMs = now;
  if (state != S_OPENING) return -Err.ProtocolViolation;
  txLen = 0;
  forgetRx();
  state = S_CONNECTING;
  stateAt = now;
  let r = writeConnect();
  if (r < 0) fail(<u32>-r);
  return r < 0 ? r : 0;
}

/** The socket closed or failed (peer close, error, failed open). EV_CLOSE(NotConnected) follows. */
export function clientClosed(now: u32): void {
  nowMs = now;
  fail(Err.NotConnected);
}

function writeConnect(): i32 {
  let v = txView;
  clearView(v);
  version = C(CFG_PROTOCOL);
  setSlot(v, V_TYPE, CONNECT);
  setSlot(v, V_VERSION, version);
  setSlot(v, V_KEEPALIVE, C(CFG_KEEPALIVE));
  let flags: u32 = C(CFG_CLEAN) ? CF_CLEAN : 0;
  setStringSlot(v, V_CLIENT_ID, STR_CLIENT_ID);
  if (setStringSlot(v, V_WILL_TOPIC, STR_WILL_TOPIC)) {
    setStringSlot(v, V_WILL_PAYLOAD, STR_WILL_PAYLOAD);
    flags |= CF_WILL | (C(CFG_WILL_QOS) << 3) | (C(CFG_WILL_RETAIN) ? CF_WILL_RETAIN : 0);
  }
  if (setStringSlot(v, V_USERNAME, STR_USERNAME)) flags |= CF_USERNAME;
  if (setStringSlot(v, V_PASSWORD, STR_PASSWORD)) flags |= CF_PASSWORD;
  setSlot(v, V_CONNECT_FLAGS, flags);
  if (version == MQTT_5) {
    let expiry = C(CFG_SESSION_EXPIRY);
    if (expiry) addProp(v, P_SESSION_EXPIRY_INTERVAL, expiry);
    addProp(v, P_RECEIVE_MAXIMUM, C(CFG_RECEIVE_MAXIMUM));
    addProp(v, P_MAXIMUM_PACKET_SIZE, C(CFG_MAX_PACKET));
    let aliasMax = C(CFG_TOPIC_ALIAS_MAXIMUM);
    if (aliasMax) addProp(v, P_TOPIC_ALIAS_MAXIMUM, aliasMax);
  }
  return send();
}

/** Encodes txView at the end of tx. Bytes written or -Err. */
function send(): i32 {
  let n = encodePacket(txView, tx + txLen, txCap - txLen);
  if (n > 0) {
    txLen += <u32>n;
    lastSend = nowMs;
  }
  return n;
}

/** A packet of two bytes (b0, remaining length 0) to tx; false when tx is full. */
function put2(b0: u32): bool {
  if (txCap - txLen < 2) return false;
  store<u16>(tx + txLen, <u16>b0);
  txLen += 2;
  return true;
}

function writeAck(type: u32, pid: u32): void {
  let p = tx + txLen;
  store<u8>(p, <u8>((type << 4) | (<u32>(type == PUBREL) << 1)));
  store<u8>(p + 1, 2);
  put16be(p + 2, pid);
  txLen += ACK_BYTES;
  lastSend = nowMs;
}

// ---- Publishing ---------------------------------------------------------

function pidInUse(pid: u32): bool {
  return (findRecord(pid) | findSentSub(pid, SUB_SENT) | findSentSub(pid, UNSUB_SENT)) != 0; // all three: smaller than || here
}

function allocPid(): u32 {
  do nextPid = nextPid >= 0xffff ? 1 : nextPid + 1;
  while (pidInUse(nextPid));
  return nextPid;
}

function removeRecord(p: usize): void {
  let size = REC_HEADER + load<u32>(p);
  let end = outbox + obLen;
  memory.copy(p, p + size, end - p - size);
  obLen -= size;
}

/** Drops the oldest queued QoS 0 message; false when there is none. */
function dropOldestQos0(): bool {
  let p = findRecord(0);
  if (!p) return false;
  removeRecord(p);
  dropped++;
  return true;
}

/**
 * Queues the PUBLISH a view describes (type, qos, retain, topic, payload, properties;
 * the packet id and DUP are ours). It leaves on the next poll while connected.
 * Full outbox: the oldest QoS 0 messages are dropped (EV_DROPPED), then new ones refused.
 * Returns the packet id (QoS 1/2), 0 (QoS 0), or -Err: InvalidQos, InvalidTopic,
 * WildcardInTopic, OutboxFull, PacketTooLarge (over the tx buffer), NotInitialized.
 */
export function clientPublishView(v: usize): i32 {
  if (!inited()) return -Err.NotInitialized;
  let qos = getSlot(v, V_QOS);
  if (qos > 2) return -Err.InvalidQos;
  let topicLen = getSlot(v, V_TOPIC + 1);
  let r = validateTopicName(getSlot(v, V_TOPIC), topicLen);
  if (r < 0) return r;
  if (topicLen + getSlot(v, V_PAYLOAD + 1) + REC_HEADER + 4 > C(CFG_OUTBOX_BYTES)) return -Err.OutboxFull;
  let pid = qos ? allocPid() : 0;
  setSlot(v, V_TYPE, PUBLISH);
  setSlot(v, V_VERSION, C(CFG_PROTOCOL));
  setSlot(v, V_PACKET_ID, pid);
  setSlot(v, V_DUP, 0);
  let n: i32;
  for (;;) {
    let free = C(CFG_OUTBOX_BYTES) - obLen;
    n = free > REC_HEADER ? encodePacket(v, outbox + obLen + REC_HEADER, free - REC_HEADER) : -Err.BufferFull;
    if (n >= 0) break;
    if (n != -Err.BufferFull) return n;
    if (!dropOldestQos0()) return -Err.OutboxFull;
  }
  if (<u32>n > clientMaxOutPacket()) return -Err.PacketTooLarge; // it could never leave
  let rec = outbox + obLen;
  store<u32>(rec, n);
  store<u8>(rec + 4, R_QUEUED);
  store<u8>(rec + 5, <u8>qos);
  store<u16>(rec + 6, <u16>pid);
  obLen += REC_HEADER + <u32>n;
  return pid;
}

/** clientPublishView for a plain message (no properties). */
export function clientPublish(topic: usize, topicLen: u32, payload: usize, payloadLen: u32, qos: u32, retain: bool): i32 {
  let v = txView;
  clearView(v);
  setSlot(v, V_QOS, qos);
  setSlot(v, V_RETAIN, retain);
  setPair(v, V_TOPIC, topic, topicLen);
  setPair(v, V_PAYLOAD, payload, payloadLen);
  return clientPublishView(v);
}

/** The largest packet the client may send: the tx buffer, or the server's (MQTT 5) Maximum Packet Size when smaller. */
export function clientMaxOutPacket(): u32 {
  return min(txCap, serverMaxPacket);
}

/** Bytes held in the outbox (queued and in-flight messages). */
export function clientOutboxLen(): u32 {
  return obLen;
}

// ---- Subscriptions ------------------------------------------------------

function findSub(ptr: usize, len: u32): usize {
  for (let p = subs, end = subs + subsLen; p < end; p += SUB_HEADER + <u32>load<u16>(p + 4)) {
    if (load<u8>(p) != SUB_DEAD && <u32>load<u16>(p + 4) == len && bytesEqual(p + SUB_HEADER, ptr, len)) return p;
  }
  return 0;
}

// Puts a filter in the table in state `st` (SUB_NEED or UNSUB_NEED). Unsubscribing
// passes options 0, which every protocol allows.
function subEntry(ptr: usize, len: u32, st: u8, options: u32): i32 {
  if (!inited()) return -Err.NotInitialized;
  // Checked here for the protocol configured now: the encoder takes the options as they are.
  let r = checkSubOptions(options, C(CFG_PROTOCOL) == MQTT_5);
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

function purgeDeadSubs(): void {
  let p = subs;
  while (p < subs + subsLen) {
    let size = SUB_HEADER + <u32>load<u16>(p + 4);
    if (load<u8>(p) == SUB_DEAD) {
      memory.copy(p, p + size, subs + subsLen - p - size);
      subsLen -= size;
    } else p += size;
  }
}

// ---- Inbound packets ----------------------------------------------------

/** The entry of property `id` in a view's property table, or 0. */
export function findProp(v: usize, id: u32): usize {
  let e = v + PROPS_OFFSET;
  for (let i: u32 = 0, n = getSlot(v, V_PROP_COUNT); i < n; i++, e += PROP_ENTRY_BYTES) {
    if (load<u32>(e) == id) return e;
  }
  return 0;
}

/** The integer value of property `id` in a view, or `absent`. */
function propOr(v: usize, id: u32, absent: u32): u32 {
  let e = findProp(v, id);
  return e ? load<u32>(e, 4) : absent;
}

function onConnack(v: usize): void {
  let code = getSlot(v, V_REASON);
  if (code) {
    // A refused login is named, and retried only after the longest backoff: the credentials will not mend themselves.
    let login = (code > 0x80 ? code - 0x82 : code) - 4; // 0, 1: 3.1.1 codes 4, 5 or MQTT 5's 0x86, 0x87
    if (login < 2) attempt = 32;
    return lose(login < 2 ? Err.BadCredentials + login : Err.ConnectionRefused, code);
  }
  let present = getSlot(v, V_SESSION_PRESENT) != 0;
  state = S_CONNECTED;
  attempt = 0;
  pingOut = false;
  keepMs = propOr(v, P_SERVER_KEEP_ALIVE, C(CFG_KEEPALIVE)) * 1000;
  window = min(C(CFG_INFLIGHT_WINDOW), propOr(v, P_RECEIVE_MAXIMUM, NO_LIMIT));
  serverMaxPacket = propOr(v, P_MAXIMUM_PACKET_SIZE, NO_LIMIT);
  // Everything unacknowledged goes again, in order; DUP only if the broker kept it.
  inflight = 0;
  for (let p = outbox, end = outbox + obLen; p < end; p += REC_HEADER + load<u32>(p)) {
    let st = load<u8>(p + 4);
    if (st == R_SENT) {
      store<u8>(p + 4, R_QUEUED);
      let b = load<u8>(p + REC_HEADER);
      store<u8>(p + REC_HEADER, present ? b | 8 : b & ~8);
    } else if (st == R_AWAIT_COMP) store<u8>(p + 4, R_RELEASE);
  }
  if (!present) q2Count = 0;
  for (let p = subs, end = subs + subsLen; p < end; p += SUB_HEADER + <u32>load<u16>(p + 4)) {
    let st = load<u8>(p);
    if (st == SUB_SENT || (!present && st == SUB_ACKED)) st = SUB_NEED;
    else if (<u32>st - UNSUB_NEED < 2) st = present // UNSUB_NEED, UNSUB_SENT ? UNSUB_NEED : SUB_DEAD;
    store<u8>(p, st);
  }
  memory.fill(aliases, 0, aliasBytes()); // aliases last one connection
  emit(EV_CONNECTED, present, 0);
}

function onPublish(v: usize): void {
  let qos = getSlot(v, V_QOS);
  let pid = getSlot(v, V_PACKET_ID);
  let e = findProp(v, P_TOPIC_ALIAS);
  if (e) {
    let alias = load<u32>(e, 4);
    let slotBytes: u32 = 2 + C(CFG_ALIAS_TOPIC_BYTES);
    if (alias == 0 || alias > C(CFG_TOPIC_ALIAS_MAXIMUM)) return lose(Err.ProtocolViolation, 0x94);
    let slot = aliases + (alias - 1) * slotBytes;
    let len = getSlot(v, V_TOPIC + 1);
    if (len) {
      if (len + 2 > slotBytes) return fail(Err.LimitExceeded);
      store<u16>(slot, <u16>len);
      memory.copy(slot + 2, getSlot(v, V_TOPIC), len);
    } else {
      len = load<u16>(slot);
      if (!len) return lose(Err.ProtocolViolation, 0x82);
      setPair(v, V_TOPIC, slot + 2, len);
    }
  }
  if (qos == 1) writeAck(PUBACK, pid);
  else if (qos == 2) {
    let i: u32 = 0;
    while (i < q2Count && <u32>load<u16>(q2 + (i << 1)) != pid) i++;
    // Full (a 3.1.1 broker has no receive maximum to keep to): no PUBREC, so the broker keeps the message
    // and sends it again after a reconnect, instead of the link going down for it.
    if (i == q2Count && q2Count >= C(CFG_RECEIVE_MAXIMUM)) return;
    writeAck(PUBREC, pid);
    if (i < q2Count) return; // a duplicate: delivered already
    store<u16>(q2 + (q2Count++ << 1), <u16>pid);
  }
  let len = framer.packetLen();
  emitAll(len > C(CFG_MAX_PACKET) ? EV_TOO_LARGE : EV_MESSAGE, <u32>v, pid, qos, len);
}

function onPubrel(pid: u32): void {
  for (let i: u32 = 0; i < q2Count; i++) {
    let at = q2 + (i << 1);
    if (<u32>load<u16>(at) == pid) {
      store<u16>(at, load<u16>(q2 + (--q2Count << 1)));
      break;
    }
  }
  writeAck(PUBCOMP, pid);
}

/** The outbox record with packet id `pid` (QoS 1/2), or with 0 the oldest QoS 0 one; 0 if none. */
function findRecord(pid: u32): usize {
  for (let p = outbox, end = outbox + obLen; p < end; p += REC_HEADER + load<u32>(p)) {
    if (<u32>load<u16>(p + 6) == pid) return p;
  }
  return 0;
}

function onPublishAck(type: u32, pid: u32, reason: u32): void {
  let p = findRecord(pid);
  if (!p) return; // a late ack for a message already settled
  let st = load<u8>(p + 4);
  let qos = load<u8>(p + 5);
  if (type == PUBREC && qos == 2 && (st | 2) == R_AWAIT_COMP /* R_SENT or R_AWAIT_COMP */ && reason < 0x80) {
    store<u8>(p + 4, R_AWAIT_COMP);
    writeAck(PUBREL, pid); // again for a repeated PUBREC
    return;
  }
  // PUBACK settles QoS 1, PUBREC (refused) QoS 2, both once sent; PUBCOMP a released QoS 2.
  let done = type < PUBREL ? qos == type - 3 && st == R_SENT : st == R_AWAIT_COMP;
  if (!done) return;
  removeRecord(p);
  inflight--;
  emit(EV_PUBLISHED, pid, reason);
}

/** The subscription entry in state `st` (SUB_SENT or UNSUB_SENT) sent with packet id `pid`, or 0. */
function findSentSub(pid: u32, st: u8): usize {
  for (let p = subs, end = subs + subsLen; p < end; p += SUB_HEADER + <u32>load<u16>(p + 4)) {
    if (load<u8>(p) == st && <u32>load<u16>(p + 2) == pid) return p;
  }
  return 0;
}

function onSubAck(type: u32, v: usize): void {
  let pid = getSlot(v, V_PACKET_ID);
  let reason = getSlot(v, V_ITEM_COUNT) ? load<u32>(v + ITEMS_OFFSET, 8) : 0;
  let p = findSentSub(pid, type == SUBACK ? SUB_SENT : UNSUB_SENT);
  if (!p) return;
  store<u8>(p, type == SUBACK && reason < 0x80 ? SUB_ACKED : SUB_DEAD);
  emitAll(type == SUBACK ? EV_SUBACK : EV_UNSUBACK, pid, reason, <u32>(p + SUB_HEADER), <u32>load<u16>(p + 4));
}

function onPacket(ptr: usize, len: u32): void {
  let v = rxView;
  // A PUBLISH over the limit (the framer let only those through) is decoded from the bytes kept.
  let max = C(CFG_MAX_PACKET);
  let r = decodePacket(ptr, min(len, max), version, v);
  // One whose topic or properties do not fit in them cannot be acknowledged.
  if (r < 0) return fail(len > max ? Err.PacketTooLarge : <u32>-r);
  let type = getSlot(v, V_TYPE);
  if (state == S_CONNECTING) {
    if (type == CONNACK) return onConnack(v);
    return fail(Err.ProtocolViolation);
  }
  let pid = getSlot(v, V_PACKET_ID);
  if (type == PUBLISH) onPublish(v);
  else if ((((1 << PUBACK) | (1 << PUBREC) | (1 << PUBCOMP)) >> type) & 1) onPublishAck(type, pid, getSlot(v, V_REASON));
  else if (type == PUBREL) onPubrel(pid);
  else if ((((1 << SUBACK) | (1 << UNSUBACK)) >> type) & 1) onSubAck(type, v);
  else if (type == PINGRESP) pingOut = false;
  else if (type == DISCONNECT) lose(Err.NotConnected, getSlot(v, V_REASON));
  else fail(Err.ProtocolViolation);
}

// ---- Driving ------------------------------------------------------------

export function clientRxPtr(): usize {
  return framer.inputPtr();
}
/** Bytes the host may write at clientRxPtr now: 0 until the previous push is consumed by polls. */
export function clientRxCap(): u32 {
  return rxDrained && state >= S_CONNECTING ? framer.inputCap() : 0;
}
/** Hands over `len` bytes written at clientRxPtr. 0, -NotConnected (no socket) or -BufferFull (over clientRxCap). */
export function clientRxPush(len: u32): i32 {
  let r = rxPushCheck(state >= S_CONNECTING, len, clientRxCap());
  if (!r && len) {
    framer.push(len);
    rxDrained = false;
  }
  return r;
}

export function clientTxPtr(): usize {
  return tx;
}
export function clientTxLen(): u32 {
  return txLen;
}
/** ws/client.ts writes its frames into this same buffer (the two clients never run together). */
export function clientTxSetLen(n: u32): void {
  txLen = n;
}
/** The host wrote the first n bytes of tx to the socket. */
export function clientTxConsume(n: u32): void {
  txLen = dropFront(tx, txLen, n);
}

/** Whether the last phaseTimer found a timer. */
export let timerSet = false;
/**
 * When a connection's timer fires; timerSet says whether there is one. ws/client.ts goes
 * through the same phases (its handshake is S_CONNECTING, its open socket S_CONNECTED).
 */
export function phaseTimer(phase: u32, since: u32, wait: u32, keep: u32, pingOut: bool, pingAt: u32, lastSend: u32): u32 {
  timerSet = true;
  if (phase == S_WAIT) return wait;
  let timeout = C(CFG_TIMEOUT_MS);
  if (phase - S_OPENING < 2) return since + timeout; // S_OPENING, S_CONNECTING
  if (phase == S_CONNECTED && keep) return pingOut ? pingAt + timeout : lastSend + keep;
  timerSet = false;
  return 0;
}
function timerAt(): u32 {
  return phaseTimer(state, stateAt, waitUntil, keepMs, pingOut, pingAt, lastSend);
}

function timers(): void {
  let t = timerAt();
  if (!timerSet || !due(t)) return;
  if (state == S_WAIT) {
    state = S_OPENING;
    stateAt = nowMs;
    emit(EV_OPEN, 0, 0);
  } else if (state == S_CONNECTED && !pingOut) {
    if (!put2(0xc0)) return; // PINGREQ
    lastSend = pingAt = nowMs;
    pingOut = true;
  } else fail(Err.KeepAliveTimeout); // no socket, CONNACK or PINGRESP in time
}

function readPackets(): void {
  while (evHead == evTail && state >= S_CONNECTING && txCap - txLen >= ACK_BYTES && !rxDrained) {
    let r = framer.next();
    if (r == 0) rxDrained = true;
    else if (r < 0) fail(<u32>-r);
    else onPacket(framer.packetPtr(), framer.packetLen());
  }
}

function pumpSubs(): void {
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

function pumpOutbox(): void {
  let p = outbox;
  while (p < outbox + obLen) {
    let len = load<u32>(p);
    let st = load<u8>(p + 4);
    let qos = load<u8>(p + 5);
    let pid = <u32>load<u16>(p + 6);
    if (st == R_QUEUED) {
      if (qos && inflight >= window) return;
      if (len > serverMaxPacket) {
        removeRecord(p);
        if (qos) emit(EV_PUBLISHED, pid, 0x95);
        else dropped++;
        return;
      }
      if (len > txCap - txLen) return;
      memory.copy(tx + txLen, p + REC_HEADER, len);
      txLen += len;
      lastSend = nowMs;
      if (!qos) {
        removeRecord(p);
        continue;
      }
      store<u8>(p + 4, R_SENT);
      inflight++;
    } else if (st == R_RELEASE) {
      if (txCap - txLen < ACK_BYTES) return;
      writeAck(PUBREL, pid);
      store<u8>(p + 4, R_AWAIT_COMP);
      inflight++;
    }
    p += REC_HEADER + len;
  }
}

/**
 * Advances the client to `now` and returns the next event code (0: none left).
 * Call after every input (bytes, socket change, publish, subscribe, a deadline)
 * until it returns 0; drain tx after.
 */
export function clientPoll(now: u32): i32 {
  nowMs = now;
  if (evHead == evTail) {
    purgeDeadSubs();
    if (dropped) {
      emit(EV_DROPPED, dropped, 0);
      dropped = 0;
    }
    timers();
    readPackets();
    if (state == S_CONNECTED) {
      pumpSubs();
      pumpOutbox();
    }
  }
  return nextEvent();
}

/** Milliseconds from `now` until clientPoll has timed work (0: poll now; 0xFFFFFFFF: none). */
export function clientDeadline(now: u32): u32 {
  if (evHead != evTail) return 0;
  let d = <i32>(timerAt() - now);
  return !timerSet ? NO_LIMIT : d < 0 ? 0 : <u32>d;
}
