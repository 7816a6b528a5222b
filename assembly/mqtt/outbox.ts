// The MQTT client's outbox: PUBLISHes encoded once and kept until acknowledged
// (QoS 1 and 2, with the QoS 2 release), sent in order within the in-flight window,
// again after a reconnect. Packet ids are allocated here for subscriptions too.
import { CFG_OUTBOX_BYTES, CFG_PROTOCOL, EV_DROPPED, EV_PUBLISHED, Err, V_DUP, V_PACKET_ID, V_PAYLOAD, V_QOS, V_RETAIN, V_TOPIC, V_TYPE, V_VERSION } from "../abi";

import { C } from "../link/config";
import { emit } from "../link/events";
import { lastSend, linkInited, nowMs, tx, txCap, txLen } from "../link/supervisor";
import { alloc } from "../mem";
import { encodePacket } from "./encode";
import { clearView, getSlot, setPair, setSlot, PUBLISH, PUBREC, PUBREL } from "./packet";
import { ACK_BYTES, txView, writeAck } from "./send";
import { findSentSub, SUB_SENT, UNSUB_SENT } from "./subscriptions";
import { validateTopicName } from "./topic";
import { QOS2 } from "../features";

// Outbox record: u32 packet length, u8 state, u8 qos, u16 packet id, then the encoded PUBLISH.
const REC_HEADER: u32 = 8;
const R_QUEUED: u8 = 0;
const R_SENT: u8 = 1; // awaiting PUBACK / PUBREC
const R_RELEASE: u8 = 2; // PUBREL to (re)send
const R_AWAIT_COMP: u8 = 3;

export const NO_LIMIT: u32 = 0xffffffff;

let outbox: usize = 0, obLen: u32 = 0; // capacity: the config key
// Flow: the in-flight window, the server's limit, packet ids, QoS 0 drops.
let window: u32 = 0, inflight: u32 = 0, serverMaxPacket: u32 = 0xffffffff /* NO_LIMIT */;
let nextPid: u32 = 0, dropped: u32 = 0;

export function outboxInit(): void {
  outbox = alloc(C(CFG_OUTBOX_BYTES));
}

/**
 * A connection got through with these limits (the CONNACK's receive maximum, already
 * capped by ours, and maximum packet size): everything unacknowledged goes again, in
 * order; DUP only if the broker kept the session.
 */
export function outboxResume(present: bool, win: u32, maxPacket: u32): void {
  window = win;
  serverMaxPacket = maxPacket;
  inflight = 0;
  for (let p = outbox, end = outbox + obLen; p < end; p += REC_HEADER + load<u32>(p)) {
    let st = load<u8>(p + 4);
    if (st == R_SENT) {
      store<u8>(p + 4, R_QUEUED);
      let b = load<u8>(p + REC_HEADER);
      store<u8>(p + REC_HEADER, present ? b | 8 : b & ~8);
    } else if (st == R_AWAIT_COMP) store<u8>(p + 4, R_RELEASE);
  }
}

/** The outbox record with packet id `pid` (QoS 1/2), or with 0 the oldest QoS 0 one; 0 if none. */
function findRecord(pid: u32): usize {
  for (let p = outbox, end = outbox + obLen; p < end; p += REC_HEADER + load<u32>(p)) {
    if (<u32>load<u16>(p + 6) == pid) return p;
  }
  return 0;
}

function pidInUse(pid: u32): bool {
  return (findRecord(pid) | findSentSub(pid, SUB_SENT) | findSentSub(pid, UNSUB_SENT)) != 0; // all three: smaller than || here
}

/** The next packet id not held by a message or a subscription in flight. */
export function allocPid(): u32 {
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

/** EV_DROPPED for the QoS 0 messages dropped since the last one. */
export function reportDropped(): void {
  if (dropped) {
    emit(EV_DROPPED, dropped, 0);
    dropped = 0;
  }
}

/**
 * Queues the PUBLISH a view describes (type, qos, retain, topic, payload, properties;
 * the packet id and DUP are ours). It leaves on the next poll while connected.
 * Full outbox: the oldest QoS 0 messages are dropped (EV_DROPPED), then new ones refused.
 * Returns the packet id (QoS 1/2), 0 (QoS 0), or -Err: InvalidQos, InvalidTopic,
 * WildcardInTopic, OutboxFull, PacketTooLarge (over the tx buffer), NotInitialized.
 */
export function clientPublishView(v: usize): i32 {
  if (!linkInited()) return -Err.NotInitialized;
  let qos = getSlot(v, V_QOS);
  if (qos > (QOS2 ? 2 : 1)) return -Err.InvalidQos;
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

/** PUBACK, PUBREC or PUBCOMP for `pid` with `reason`: the next QoS 2 step, or the message settled (EV_PUBLISHED). */
export function onPublishAck(type: u32, pid: u32, reason: u32): void {
  let p = findRecord(pid);
  if (!p) return; // a late ack for a message already settled
  let st = load<u8>(p + 4);
  let qos = load<u8>(p + 5);
  if (QOS2 && type == PUBREC && qos == 2 && (st | 2) == R_AWAIT_COMP /* R_SENT or R_AWAIT_COMP */ && reason < 0x80) {
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

/** Moves what the window and tx allow to tx, in order (connected only). */
export function pumpOutbox(): void {
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
