// The sans-IO MQTT client: the MQTT transport of the connection supervisor
// (assembly/link/supervisor.ts drives the phases, backoff and deadlines; the hooks
// at the end are its side of assembly/link/transport.ts). This file is the session's
// state machine: CONNECT and CONNACK, inbound packets, QoS 2 receipt, topic aliases.
// The outbox (outbox.ts) and the subscription table (subscriptions.ts) are its own
// files. It never does I/O, reads no clock and allocates only in clientInit.
import { P_MAXIMUM_PACKET_SIZE, P_RECEIVE_MAXIMUM, P_SERVER_KEEP_ALIVE, P_SESSION_EXPIRY_INTERVAL, P_TOPIC_ALIAS, P_TOPIC_ALIAS_MAXIMUM } from "./property-table";
import { CFG_ALIAS_TOPIC_BYTES, CFG_CLEAN, CFG_INFLIGHT_WINDOW, CFG_KEEPALIVE, CFG_MAX_PACKET, CFG_PROTOCOL, CFG_RECEIVE_MAXIMUM, CFG_RX_BYTES, CFG_SCRATCH_BYTES, CFG_SESSION_EXPIRY, CFG_TOPIC_ALIAS_MAXIMUM, CFG_WILL_QOS, CFG_WILL_RETAIN, EV_CONNECTED, EV_MESSAGE, EV_TOO_LARGE, Err, STR_CLIENT_ID, STR_PASSWORD, STR_USERNAME, STR_WILL_PAYLOAD, STR_WILL_TOPIC, V_CLIENT_ID, V_CONNECT_FLAGS, V_KEEPALIVE, V_PACKET_ID, V_PASSWORD, V_PROP_COUNT, V_QOS, V_REASON, V_SESSION_PRESENT, V_TOPIC, V_TYPE, V_USERNAME, V_VERSION, V_WILL_PAYLOAD, V_WILL_TOPIC } from "../abi";

import { C, setStringSlot, stringsInit } from "../link/config";
import { emitAll, info, quiet } from "../link/events";
import { backoffLongest, connected, lastRecv, linkInit, linkInited, lose, nowMs, pong, state, tx, txCap, txLen } from "../link/supervisor";
import { S_CONNECTED, S_CONNECTING } from "../link/phases";
import { alloc } from "../mem";
import { decodePacket } from "./decode";
import { outboxInit, outboxResume, onPublishAck, pumpOutbox, reportDropped, NO_LIMIT } from "./outbox";
import { addProp, clearView, getSlot, setPair, setSlot, CF_CLEAN, CF_PASSWORD, CF_USERNAME, CF_WILL, CF_WILL_RETAIN, CONNACK, CONNECT, DISCONNECT, MQTT_5, PINGRESP, PROPS_OFFSET, PROP_ENTRY_BYTES, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, UNSUBACK } from "./packet";
import { ACK_BYTES, put2, rxView, send, txView, version, writeAck } from "./send";
import { Framer } from "./stream";
import { onSubAck, pumpSubs, purgeDeadSubs, subsInit, subsResume } from "./subscriptions";
import { MQTT5, QOS2 } from "../features";

const framer = changetype<Framer>(memory.data(offsetof<Framer>()));
let rxDrained = true;
let scratch: usize = 0;
let q2: usize = 0, q2Count: u32 = 0; // inbound QoS 2 ids between PUBLISH and PUBREL
let aliases: usize = 0; // per alias: u16 length + topic

// ---- Setup --------------------------------------------------------------

/** Allocates every buffer from the config sizes. Once; the info block's address or -AlreadyInitialized. */
export function clientInit(): i32 {
  if (linkInited()) return -Err.AlreadyInitialized;
  framer.init(C(CFG_RX_BYTES), C(CFG_MAX_PACKET));
  linkInit();
  outboxInit();
  subsInit();
  stringsInit();
  scratch = alloc(C(CFG_SCRATCH_BYTES));
  if (QOS2) q2 = alloc(C(CFG_RECEIVE_MAXIMUM) << 1);
  aliases = alloc(aliasBytes());
  store<u32>(info, scratch);
  store<u32>(info, C(CFG_SCRATCH_BYTES), 4);
  store<u32>(info, tx, 8);
  return <i32>info;
}

/** The inbound topic alias table: per alias a u16 length and the topic. */
function aliasBytes(): usize {
  if (!MQTT5) return 0;
  return C(CFG_TOPIC_ALIAS_MAXIMUM) * (2 + C(CFG_ALIAS_TOPIC_BYTES));
}

export function clientScratch(): usize {
  return scratch;
}
export function clientScratchCap(): u32 {
  return C(CFG_SCRATCH_BYTES);
}

// ---- Connecting ---------------------------------------------------------

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
  if (MQTT5 && version == MQTT_5) {
    let expiry = C(CFG_SESSION_EXPIRY);
    if (expiry) addProp(v, P_SESSION_EXPIRY_INTERVAL, expiry);
    addProp(v, P_RECEIVE_MAXIMUM, C(CFG_RECEIVE_MAXIMUM));
    addProp(v, P_MAXIMUM_PACKET_SIZE, C(CFG_MAX_PACKET));
    let aliasMax = C(CFG_TOPIC_ALIAS_MAXIMUM);
    if (aliasMax) addProp(v, P_TOPIC_ALIAS_MAXIMUM, aliasMax);
  }
  return send();
}

/** lose() without an MQTT reason code. */
function fail(err: u32): void {
  lose(err, 0);
}

// ---- Inbound packets ----------------------------------------------------

/** The entry of property `id` in a view's property table, or 0 (always 0 without MQTT 5: its branches fold away). */
export function findProp(v: usize, id: u32): usize {
  if (!MQTT5) return 0;
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
    if (login < 2) backoffLongest();
    return lose(login < 2 ? Err.BadCredentials + login : Err.ConnectionRefused, code);
  }
  let present = getSlot(v, V_SESSION_PRESENT) != 0;
  connected(propOr(v, P_SERVER_KEEP_ALIVE, C(CFG_KEEPALIVE)) * 1000);
  outboxResume(present, min(C(CFG_INFLIGHT_WINDOW), propOr(v, P_RECEIVE_MAXIMUM, NO_LIMIT)), propOr(v, P_MAXIMUM_PACKET_SIZE, NO_LIMIT));
  if (!present) q2Count = 0;
  subsResume(present);
  memory.fill(aliases, 0, aliasBytes()); // aliases last one connection
  emitAll(EV_CONNECTED, present, 0, 0, 0);
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
    if (!QOS2) return fail(Err.InvalidQos); // never subscribed above QoS 1
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

function onPacket(ptr: usize, len: u32): void {
  let v = rxView;
  lastRecv = nowMs;
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
  else if (QOS2 && type == PUBREL) onPubrel(pid);
  else if ((((1 << SUBACK) | (1 << UNSUBACK)) >> type) & 1) onSubAck(type, v);
  else if (type == PINGRESP) pong();
  else if (type == DISCONNECT) lose(Err.NotConnected, getSlot(v, V_REASON));
  else fail(Err.ProtocolViolation);
}

function readPackets(): void {
  while (quiet() && state >= S_CONNECTING && txCap - txLen >= ACK_BYTES && !rxDrained) {
    let r = framer.next();
    if (r == 0) rxDrained = true;
    else if (r < 0) fail(<u32>-r);
    else onPacket(framer.packetPtr(), framer.packetLen());
  }
}

// ---- The transport hooks (assembly/link/transport.ts) --------------------

/** The socket is open: CONNECT. */
export function mqttHello(): i32 {
  return writeConnect();
}
/** Drops whatever was read of the connection that ends. */
export function mqttReset(): void {
  framer.reset();
  rxDrained = true;
}
/** Lost: what tx held is moot (the next connection starts with CONNECT). */
export function mqttLost(): void {
  txLen = 0;
  mqttReset();
}
export function mqttGoodbye(): void {
  put2(0xe0); // DISCONNECT
}
export function mqttPing(): bool {
  return put2(0xc0); // PINGREQ
}
export function mqttPrepare(): void {
  purgeDeadSubs();
  reportDropped();
}
export function mqttRead(): void {
  readPackets();
  if (state == S_CONNECTED) {
    pumpSubs();
    pumpOutbox();
  }
}
export function mqttRxPtr(): usize {
  return framer.inputPtr();
}
export function mqttRxCap(): u32 {
  return rxDrained ? framer.inputCap() : 0;
}
export function mqttRxPush(len: u32): void {
  framer.push(len);
  rxDrained = false;
}
