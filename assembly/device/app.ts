// The device application: JSON-RPC over MQTT on top of the sans-IO client (or over
// WebSocket, assembly/ws/, when device_set key 3 chose it). What differs by transport
// (how a request arrives, how its reply and telemetry leave, the offline status) is behind
// the application hooks of assembly/device/transport.ts: no transport branches here.
// Subscribes to <prefix>/<id>/rx, answers on <prefix>/<id>/tx (or the MQTT 5
// Response Topic, with the Correlation Data), keeps a retained
// <prefix>/<id>/status with an offline will, and can publish sys.info as
// telemetry. Like the client it does no I/O and reads no clock.
import { CFG_WILL_QOS, CFG_WILL_RETAIN, DEV_ID, DEV_PREFIX, DEV_TELEMETRY_MS, EV_CLOSE, EV_CONNECTED, EV_MESSAGE, EV_RPC_PENDING, EV_SUBACK, EV_TOO_LARGE, EV_YIELD, Err, STR_CLIENT_ID, STR_WILL_PAYLOAD, STR_WILL_TOPIC } from "../abi";

import { alloc, bytesEqual } from "../mem";
import { QOS2, STEPWISE } from "../features";
import { clientConfig, clientSetString } from "../link/config";
import { clientEventArg } from "../link/events";
import { linkDeadline, linkPoll, linkStart, linkStop } from "../link/supervisor";
import { trDeliverReply, trDeliverRequest, trPublishOffline, trSendNotification } from "./transport";
import { clientScratch } from "../mqtt/client";
import { clientPublish } from "../mqtt/outbox";
import { clientSubscribe } from "../mqtt/subscriptions";
import { rpcBuiltinResult, rpcDispatch, rpcRequestBuffer, rpcRequestCapacity, rpcResponseBuffer } from "../rpc/dispatch";
import { rpcHostCalls, rpcPending } from "../rpc/call";
import { wReset, wText, wU32, wLen } from "../json/writer";
import * as T from "../json/text";

@external("outpost", "log")
declare function hostLog(level: u32, ptr: usize, len: u32): void;

/** device_poll's event for a request waiting on asynchronous host methods (client events are 1..8). */

// Device string keys (device_set).
// Device integer keys (device_config).

const TOPIC_MAX: u32 = 256; // "<prefix>/<id>/" and one suffix

// Four TOPIC_MAX areas: the id, the prefix, "<prefix>/<id>/" (base) and base + suffix
// (topic, built on demand). Static: their addresses are constants in the code.
const idBuf = memory.data(TOPIC_MAX * 4);
const prefixBuf = idBuf + TOPIC_MAX;
const base = prefixBuf + TOPIC_MAX;
export const topic = base + TOPIC_MAX;
let baseLen: u32 = 0;
let idLen: u32 = 0;
let prefixLen: u32 = 0; // 0: the default prefix
export let ctx: usize = 0; // 0 until deviceInit; reply context: u8 qos, u16 topic length, topic, u16 correlation length, correlation
export let ctxCap: u32 = 0;
let telemetryMs: u32 = 0;
let telemetryAt: u32 = 0;
let online = false;
// EV_RPC_PENDING: u32 request length, u32 context length, u32 host calls; then the context
// buffer's address (set once by deviceInit). deviceInit returns its address: no getter exports.
const event = memory.data(16);

/** Allocates the reply-context buffer; returns the event block's address. Needs client_init and rpc_init first. */
export function deviceInit(contextCap: u32): i32 {
  if (ctx) return -Err.AlreadyInitialized;
  if (!rpcRequestBuffer() || !clientScratch()) return -Err.NotInitialized; // rpc_init, client_init first
  ctxCap = contextCap < 8 ? 8 : contextCap;
  ctx = alloc(ctxCap);
  store<u32>(event, <u32>ctx, 12);
  return <i32>event;
}

/** Sets the device id or the topic prefix from [ptr, ptr+len). 0, -InvalidTopic or -BufferFull. */
export function deviceSet(key: u32, ptr: usize, len: u32): i32 {
  if (!ctx) return -Err.NotInitialized;
  if (key - DEV_ID > DEV_PREFIX - DEV_ID) return -Err.UnknownKey; // DEV_ID or DEV_PREFIX (unsigned: below wraps)
  if (len > TOPIC_MAX / 2 - 16) return -Err.BufferFull;
  // One topic level each (the prefix may have several): no wildcards, no empty id.
  for (let i: u32 = 0; i < len; i++) {
    let c = load<u8>(ptr + i);
    if ((c | 8) == 0x2b || c == 0 || (c == 0x2f && key == DEV_ID)) return -Err.InvalidTopic; // + or #, NUL, / in the id
  }
  if (key == DEV_ID) {
    if (!len) return -Err.InvalidTopic;
    memory.copy(idBuf, ptr, len);
    idLen = len;
  } else {
    memory.copy(prefixBuf, ptr, len);
    prefixLen = len;
  }
  return 0;
}

export function deviceConfig(key: u32, value: u32): i32 {
  if (key != DEV_TELEMETRY_MS) return -Err.UnknownKey;
  telemetryMs = value;
  return 0;
}

function append(at: usize, text: usize): usize {
  let n = <u32>load<u16>(text);
  memory.copy(at, text + 2, n);
  return at + n;
}

// Builds base + suffix at `topic`; returns its length.
export function topicFor(suffix: usize): u32 {
  memory.copy(topic, base, baseLen);
  return <u32>(append(topic + baseLen, suffix) - topic);
}

/**
 * Starts the device: client id = device id, will = offline status (retained,
 * QoS 1), subscription to rx (QoS 2: a request redelivered on a kept session
 * is recognised by its packet id and not run again), then the client connects. 0 or -Err.
 */
export function deviceStart(now: u32): i32 {
  if (!ctx) return -Err.NotInitialized;
  if (!idLen) return -Err.InvalidTopic;
  let p = base;
  if (prefixLen) {
    memory.copy(p, prefixBuf, prefixLen);
    p += prefixLen;
  } else p = append(p, T.T_DEFAULT_PREFIX);
  store<u8>(p++, 0x2f);
  memory.copy(p, idBuf, idLen);
  p += idLen;
  store<u8>(p++, 0x2f);
  baseLen = <u32>(p - base);
  // A reply context must hold at least the tx topic (its fallback) and two length fields.
  if (topicFor(T.T_TX) + 5 > ctxCap) return -Err.BufferFull;
  clientConfig(CFG_WILL_QOS, 1); // known keys, valid values: these cannot fail
  clientConfig(CFG_WILL_RETAIN, 1);
  // Each step returns 0 or -Err.
  let r = clientSetString(STR_CLIENT_ID, idBuf, idLen);
  if (!r) r = clientSetString(STR_WILL_TOPIC, topic, topicFor(T.T_STATUS));
  if (!r) r = clientSetString(STR_WILL_PAYLOAD, T.T_OFFLINE + 2, load<u16>(T.T_OFFLINE));
  if (!r) r = clientSubscribe(topic, topicFor(T.T_RX), QOS2 ? 2 : 1); // QoS 1 in a build without QoS 2
  if (!r) r = linkStart(now); // over MQTT, or WebSocket when device_set key 3 chose it
  return r;
}

export function publishText(suffix: usize, text: usize, qos: u32, retain: bool): i32 {
  return clientPublish(topic, topicFor(suffix), text + 2, load<u16>(text), qos, retain);
}

// A warning through outpost.log: `text` then a number (an Err code or a reason code).
export function warn(text: usize, n: u32): void {
  wReset(); // the writer's buffer is the RPC response buffer: no response is in flight here
  wText(text);
  wU32(n);
  hostLog(2, rpcResponseBuffer(), wLen);
}

// Names a reply (or status, or telemetry) that could not be queued: r is what queueing returned.
export function warnIfDropped(r: i32): void {
  if (r < 0) warn(T.T_REPLY_DROPPED, <u32>-r);
}

// Online only once requests can arrive: the status follows the rx SUBACK.
function announce(): void {
  warnIfDropped(publishText(T.T_STATUS, T.T_ONLINE, 1, true));
}

// Sends the response (respLen bytes in the RPC response buffer) the way the transport answers.
function reply(respLen: i32): void {
  if (respLen > 0) trDeliverReply(respLen); // notifications: nothing to send
}

// Whether [ptr, ptr+len) is this device's rx topic.
export function isRx(ptr: usize, len: u32): bool {
  let tl = topicFor(T.T_RX);
  return len == tl && bytesEqual(ptr, topic, tl);
}

// Runs the request at [ptr, ptr+len) and replies, or leaves it pending for the host. True if pending.
export function dispatch(ptr: usize, len: u32, ctxLen: u32, now: u32): bool {
  let req = rpcRequestBuffer();
  // Into the request buffer, so a pending request outlives the packet buffer.
  if (len <= rpcRequestCapacity()) memory.copy(req, ptr, len);
  else req = ptr; // answered "Request too large" at once
  let out = rpcDispatch(req, len, now);
  if (rpcPending) {
    store<u32>(event, len);
    store<u32>(event, ctxLen, 4);
    store<u32>(event, rpcHostCalls, 8); // the last ones the host answered in this poll
    return true;
  }
  reply(out);
  return false;
}

// STEPWISE: a request that arrived, answered on the next device_poll. The client's event record
// and the packet it points into stay as they are until then: the input it lies in takes no push
// before a poll has read past it (and none at all once the socket has closed, until a poll
// opens the next one).
let deferred = false, deferredCut = false;

/**
 * Runs the device: the client's events, with messages on rx answered here.
 * Returns the next event for the host (the client's EV_* codes, whose arguments
 * are in the client's event record, EV_RPC_PENDING, or EV_YIELD between a request's
 * steps), 0 when there is none.
 */
export function devicePoll(now: u32): i32 {
  if (STEPWISE && deferred) {
    deferred = false;
    if (trDeliverRequest(now, deferredCut)) return EV_RPC_PENDING;
    return deferredCut ? EV_TOO_LARGE : EV_YIELD; // the host still hears of one over the limit
  }
  if (online && telemetryMs && <i32>(now - telemetryAt) >= 0) {
    telemetryAt = now + telemetryMs;
    let n = rpcBuiltinResult(T.T_SYS_INFO, now);
    if (n > 0) {
      warnIfDropped(trSendNotification(n));
    }
  }
  for (;;) {
    let ev = linkPoll(now);
    let cut = ev == EV_TOO_LARGE; // answered here, then the host is told
    if (ev == EV_MESSAGE || cut) {
      if (STEPWISE) {
        deferred = true;
        deferredCut = cut;
        return EV_YIELD;
      }
      if (trDeliverRequest(now, cut)) return EV_RPC_PENDING;
      if (!cut) continue;
    }
    if (ev == EV_CONNECTED) {
      online = true;
      telemetryAt = now + telemetryMs;
      if (clientEventArg(0)) announce(); // session kept: so is the rx subscription
    } else if (ev == EV_SUBACK) {
      if (isRx(clientEventArg(2), clientEventArg(3))) {
        let reason = clientEventArg(1);
        if (reason < 0x80) announce();
        else warn(T.T_RX_REFUSED, reason);
      }
    } else if (ev == EV_CLOSE) online = false;
    return ev;
  }
}

/**
 * Answers a request that was pending: the host put the request back into the RPC
 * request buffer and the context into the context buffer, and serves its settled
 * answers. 0 or -Err.
 */
export function deviceResume(reqLen: u32, ctxLen: u32, now: u32): i32 {
  if (!ctx) return -Err.NotInitialized;
  if (ctxLen < 5 || ctxLen > ctxCap) return -Err.InvalidArgument;
  reply(rpcDispatch(rpcRequestBuffer(), reqLen, now));
  return 0;
}

/** Publishes the offline status and disconnects cleanly (DISCONNECT follows it in tx). */
export function deviceStop(now: u32): void {
  if (!ctx) return;
  if (STEPWISE && deferred) {
    deferred = false;
    trDeliverRequest(now, deferredCut); // answered before the device goes: its PUBACK is out
  }
  if (online) trPublishOffline(now);
  online = false;
  linkStop(now); // then DISCONNECT, or close 1000 over WebSocket
}

/** Milliseconds until device_poll has timed work (the client's or telemetry's). */
export function deviceDeadline(now: u32): u32 {
  let d = linkDeadline(now);
  if (online && telemetryMs) {
    let t = <i32>(telemetryAt - now);
    let td: u32 = t < 0 ? 0 : <u32>t;
    if (td < d) d = td;
  }
  return d;
}
