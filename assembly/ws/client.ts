// The sans-IO WebSocket client (RFC 6455): the HTTP/1.1 upgrade, masked frames
// out, fragmented messages in, ping/pong, the close handshake and a frame size
// limit. Like the MQTT client it does no I/O and reads no clock, and it shares
// that client's config (timeouts, backoff, buffer sizes), its backoff, its
// seeded PRNG and its event record, so hosts drive either one the same way.
import { CFG_KEEPALIVE, CFG_MAX_PACKET, CFG_RX_BYTES, CFG_TIMEOUT_MS, CFG_TX_BYTES, EV_CLOSE, EV_CONNECTED, EV_MESSAGE, EV_OPEN, Err, STR_PASSWORD, STR_USERNAME } from "../abi";

import { alloc, checkUtf8, put16be, rxPushCheck, u16be, u32be } from "../mem";
import { C, backoffDelay, backoffReset, clientEvent, clientTxLen, clientTxPtr, clientTxSetLen, clientTxView, phaseTimer, random32, setStringSlot, timerSet, S_CONNECTED, S_CONNECTING, S_IDLE, S_OPENING, S_WAIT } from "../mqtt/client";
import { getSlot } from "../mqtt/packet";
import { sha1, base64 } from "./sha1";
import * as W from "./text";

// The MQTT client's connection states; the handshake (upgrade request sent, reading
// the response) stands where CONNECT waits for CONNACK.
const S_HANDSHAKE = S_CONNECTING;
const S_OPEN = S_CONNECTED;

const OP_CONT: u32 = 0;
const OP_TEXT: u32 = 1;
const OP_CLOSE: u32 = 8;
const OP_PING: u32 = 9;
const OP_PONG: u32 = 10;

const URL_MAX: u32 = 256;
const CONTROL_ROOM: u32 = 256; // after a message being reassembled: one control frame (<= 127 bytes with header)

let inited = false;
// The connection's phase and its times (ms on the host's clock).
let state: u32 = S_IDLE, nowMs: u32 = 0, stateAt: u32 = 0, waitUntil: u32 = 0;
let lastSend: u32 = 0, pingAt: u32 = 0, pingOut = false;

const url = memory.data(URL_MAX); // "host[:port]/path" without the scheme
let urlLen: u32 = 0;
const accept = memory.data(28); // the Sec-WebSocket-Accept we expect
let rb: usize = 0; // received bytes: [0, msgLen) the message so far, then unparsed frames up to `have`
let rcap: u32 = 0;
let have: u32 = 0;
let msgLen: u32 = 0;
let msgOp: u32 = 0; // opcode of the message being reassembled, 0 when none
let delivered = false; // a message is out as EV_MESSAGE: dropped on the next poll
let maxMessage: u32 = 0;
let tb: usize = 0; // the MQTT client's tx buffer, its length kept there (clientTxLen)
let tcap: u32 = 0;
let evCode: u32 = 0; // the next event: at most one per poll step

@inline function due(t: u32): bool {
  return <i32>(nowMs - t) >= 0;
}

/** Sets the server as "[ws://]host[:port][/path]"; it also selects this transport. 0, -BufferFull or -InvalidTopic (empty). */
export function wsSetUrl(ptr: usize, len: u32): i32 {
  let n = <u32>load<u16>(W.W_SCHEME());
  if (len >= n && memory.compare(ptr, W.W_SCHEME() + 2, n) == 0) {
    ptr += n;
    len -= n;
  }
  if (!len || load<u8>(ptr) == 0x2f) return -Err.InvalidTopic;
  if (len > URL_MAX) return -Err.BufferFull;
  memory.copy(url, ptr, len);
  urlLen = len;
  return 0;
}

/** True once wsSetUrl chose WebSocket over MQTT. */
@inline export function wsSelected(): bool {
  return urlLen != 0;
}

// Allocates the rx buffer (frames up to maxPacket) once; tx is borrowed.
function init(): void {
  if (inited) return;
  inited = true;
  maxMessage = C(CFG_MAX_PACKET);
  rcap = maxMessage + CONTROL_ROOM;
  rb = alloc(rcap);
  // The MQTT client's tx buffer: that client never runs when this one does.
  tcap = C(CFG_TX_BYTES);
  tb = clientTxPtr();
}

function post(code: u32, a: u32, b: u32, c: u32): void {
  evCode = code;
  let e = clientEvent();
  store<u32>(e, code);
  store<u32>(e, a, 4);
  store<u32>(e, b, 8);
  store<u32>(e, c, 12);
}

/** Ends the connection for `err` (b = close code or HTTP status) and schedules the next attempt. */
function lose(err: u32, code: u32): void {
  if (state < S_OPENING) return;
  state = S_WAIT;
  waitUntil = nowMs + backoffDelay();
  have = msgLen = msgOp = 0;
  delivered = false;
  post(EV_CLOSE, err, code, 0);
}

/**
 * Queues one frame (FIN set) with a fresh mask. 0, or -BufferFull when tx has no room
 * (the caller names it; nothing is written).
 */
export function wsSend(op: u32, ptr: usize, len: u32): i32 {
  let hl: u32 = len < 126 ? 6 : len < 65536 ? 8 : 14;
  if (state != S_OPEN || tcap - clientTxLen() < hl + len) return state != S_OPEN ? -Err.NotConnected : -Err.BufferFull;
  let p = tb + clientTxLen();
  store<u8>(p, <u8>(0x80 | op));
  if (len < 126) store<u8>(p + 1, <u8>(0x80 | len));
  else if (len < 65536) {
    store<u8>(p + 1, 0xfe);
    put16be(p + 2, len);
  } else {
    store<u16>(p + 1, 0xff); // 127 | mask bit, then the 64-bit length's high 32 bits (0)
    store<u16>(p + 3, 0);
    store<u8>(p + 5, 0);
    store<u32>(p + 6, bswap<u32>(len));
  }
  let mask = random32();
  store<u32>(p + hl - 4, mask);
  let dst = p + hl;
  for (let i: u32 = 0; i < len; i++) store<u8>(dst + i, load<u8>(ptr + i) ^ <u8>(mask >> ((i & 3) << 3)));
  clientTxSetLen(clientTxLen() + hl + len);
  lastSend = nowMs;
  return 0;
}

/** Sends a close frame with `code` (best effort: the connection is ending anyway). */
const closeBody = memory.data(2);
function sendClose(code: u32): void {
  put16be(closeBody, code);
  wsSend(OP_CLOSE, closeBody, 2);
}

/** A framing error: tell the server why (1002, 1007, 1009), then close. */
function fail(err: u32, code: u32): void {
  sendClose(code);
  lose(err, code);
}

// Case-insensitive compare of [p, p+len) with a lower-case text.
function sameLower(p: usize, len: u32, text: usize): bool {
  if (len != <u32>load<u16>(text)) return false;
  for (let i: u32 = 0; i < len; i++) {
    let c = load<u8>(p + i);
    if (c - 0x41 < 26) c |= 0x20;
    if (c != load<u8>(text + 2 + i)) return false;
  }
  return true;
}

function put(p: usize, text: usize): usize {
  let n = <u32>load<u16>(text);
  memory.copy(p, text + 2, n);
  return p + n;
}

/** The socket asked for by EV_OPEN is open: the upgrade request goes to tx. 0 or -Err (EV_CLOSE follows). */
export function wsOpened(now: u32): i32 {
  nowMs = now;
  if (state != S_OPENING) return -Err.ProtocolViolation;
  state = S_HANDSHAKE;
  stateAt = now;
  have = 0;
  clientTxSetLen(0);
  let v = clientTxView(); // only to read the username and password strings
  let userLen = setStringSlot(v, 21, STR_USERNAME);
  let passLen = setStringSlot(v, 23, STR_PASSWORD);
  let slash: u32 = 0;
  while (slash < urlLen && load<u8>(url + slash) != 0x2f) slash++;
  if (urlLen + userLen + passLen + 200 > tcap) {
    lose(Err.BufferFull, 0);
    return -Err.BufferFull;
  }
  // Sec-WebSocket-Key: 16 random bytes in base64, built in rb (free until the response comes).
  for (let i: u32 = 0; i < 16; i += 4) store<u32>(rb + i, random32());
  let key = rb + 16;
  base64(rb, 16, key);
  let p = put(tb, W.W_GET());
  if (slash == urlLen) store<u8>(p++, 0x2f);
  memory.copy(p, url + slash, urlLen - slash);
  p = put(p + urlLen - slash, W.W_HOST());
  memory.copy(p, url, slash);
  p = put(p + slash, W.W_UPGRADE_HEADERS());
  memory.copy(p, key, 24);
  p += 24;
  if (passLen) {
    p = put(p, W.W_AUTH());
    if (userLen) {
      memory.copy(p, getSlot(v, 21), userLen);
      p += userLen;
      store<u8>(p++, 0x3a);
    }
    memory.copy(p, getSlot(v, 23), passLen);
    p += passLen;
  }
  clientTxSetLen(<u32>(put(p, W.W_END()) - tb));
  // The expected accept: base64(SHA-1(key + GUID)).
  memory.copy(key + 24, W.W_GUID() + 2, 36);
  sha1(key, 60, rb + 128);
  base64(rb + 128, 20, accept);
  return 0;
}

/** The socket closed or failed to open: EV_CLOSE(NotConnected, 1006) unless we closed it ourselves. */
export function wsClosed(now: u32): void {
  nowMs = now;
  lose(Err.NotConnected, 1006);
}

/** Starts connecting (the first time, allocates the buffers): EV_OPEN on the next poll. Returns 0. */
export function wsStart(now: u32): i32 {
  init();
  nowMs = now;
  if (state == S_IDLE) {
    state = S_WAIT;
    waitUntil = now;
    backoffReset();
  }
  return 0;
}

/** Closes cleanly: a close frame (1000) goes to tx, then EV_CLOSE with a = 0; no reconnect. */
export function wsStop(now: u32): void {
  nowMs = now;
  let was = state;
  if (was == S_OPEN) sendClose(1000);
  state = S_IDLE;
  have = msgLen = msgOp = 0;
  delivered = false;
  if (was >= S_OPENING) post(EV_CLOSE, 0, 0, 0);
}

export function wsRxPtr(): usize {
  return rb + have;
}
/** Bytes the host may write at wsRxPtr now: 0 while a message is out or no socket is open. */
export function wsRxCap(): u32 {
  if (state < S_HANDSHAKE || delivered) return 0;
  let room = rcap - have;
  let chunk = C(CFG_RX_BYTES);
  return room < chunk ? room : chunk;
}
export function wsRxPush(len: u32): i32 {
  let r = rxPushCheck(state >= S_HANDSHAKE, len, wsRxCap());
  if (!r) have += len;
  return r;
}

// Reads the upgrade response once its header (up to the empty line) is complete.
function readHandshake(): void {
  let end: u32 = 4;
  while (end <= have && load<u32>(rb + end - 4) != 0x0a0d0a0d) end++;
  if (end > have) {
    if (have >= rcap) lose(Err.WsBadHandshake, 0);
    return;
  }
  if (load<u32>(rb) != 0x50545448) return lose(Err.WsBadHandshake, 0); // "HTTP/1.1 101 ..."
  let status = <u32>load<u8>(rb + 9) * 100 + <u32>load<u8>(rb + 10) * 10 + <u32>load<u8>(rb + 11) - 5328; // 5328 = "000"
  if (status != 101) return lose(Err.WsHandshakeRejected, status);
  let seen: u32 = 0; // 1 Upgrade: websocket, 2 Connection: ...upgrade..., 4 the right accept, 8 a wrong one
  let line = rb;
  for (;;) {
    while (load<u8>(line++) != 0x0a);
    if (line >= rb + end - 2) break; // the empty line
    let colon = line;
    while (load<u8>(colon) != 0x3a && load<u8>(colon) != 0x0d) colon++;
    let value = colon + 1;
    while (load<u8>(value) == 0x20) value++;
    let stop = value;
    while (load<u8>(stop) != 0x0d) stop++;
    while (stop > value && load<u8>(stop - 1) == 0x20) stop--;
    let n = <u32>(colon - line);
    let vlen = <u32>(stop - value);
    if (sameLower(line, n, W.W_H_UPGRADE())) seen |= <u32>sameLower(value, vlen, W.W_WEBSOCKET());
    else if (sameLower(line, n, W.W_H_CONNECTION())) {
      // A token list: "upgrade" anywhere in it.
      for (let i: u32 = 0; i + 7 <= vlen; i++) if (sameLower(value + i, 7, W.W_H_UPGRADE())) seen |= 2;
    } else if (sameLower(line, n, W.W_H_ACCEPT())) seen |= vlen == 28 && memory.compare(value, accept, 28) == 0 ? 4 : 8;
  }
  if ((seen & 12) != 4) return lose(Err.WsBadAccept, 0);
  if ((seen & 3) != 3) return lose(Err.WsBadHandshake, 0);
  // Frames may follow the header in the same read.
  memory.copy(rb, rb + end, have - end);
  have -= end;
  state = S_OPEN;
  lastSend = nowMs;
  pingOut = false;
  backoffReset();
  post(EV_CONNECTED, 0, 0, 0);
}

@inline function validCloseCode(code: u32): bool {
  return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) || (code >= 3000 && code <= 4999);
}

// A complete control frame: body at p, n bytes.
function onControl(op: u32, p: usize, n: u32): void {
  if (op == OP_PING) wsSend(OP_PONG, p, n); // no room: the server pings again
  else if (op == OP_PONG) pingOut = false;
  else {
    let code: u32 = 1005;
    if (n == 1) return fail(Err.WsBadCloseCode, 1002);
    if (n) {
      code = u16be(p);
      if (!validCloseCode(code)) return fail(Err.WsBadCloseCode, 1002);
      if (checkUtf8(p + 2, n - 2) == -Err.InvalidUtf8) return fail(Err.InvalidUtf8, 1007);
    }
    sendClose(code == 1005 ? 1000 : code); // the echo completes the close handshake
    lose(Err.WsClosed, code);
  }
}

// Parses frames after the message being reassembled until an event or more input is needed.
function readFrames(): void {
  while (!evCode) {
    let p = rb + msgLen;
    let avail = have - msgLen;
    if (avail < 2) return;
    let b0 = <u32>load<u8>(p);
    let b1 = <u32>load<u8>(p + 1);
    let op = b0 & 15;
    if (b1 & 0x80) return fail(Err.WsMaskedFrame, 1002);
    if (b0 & 0x70) return fail(Err.WsReservedBits, 1002);
    if ((op > 2 && op < 8) || op > 10) return fail(Err.WsBadOpcode, 1002);
    let n = b1 & 127;
    let hl: u32 = 2;
    if (n == 126) {
      if (avail < 4) return;
      n = u16be(p + 2);
      hl = 4;
    } else if (n == 127) {
      if (avail < 10) return;
      if (load<u32>(p + 2)) return fail(Err.WsFrameTooLarge, 1009); // over 4 GiB
      n = u32be(p + 6);
      hl = 10;
    }
    if (op >= OP_CLOSE) {
      if (!(b0 & 0x80) || n > 125) return fail(Err.WsBadControlFrame, 1002);
    } else {
      if ((op == OP_CONT) != (msgOp != 0)) return fail(Err.WsBadContinuation, 1002);
      if (n > maxMessage - msgLen) return fail(Err.WsFrameTooLarge, 1009);
    }
    if (avail - hl < n) return;
    if (op >= OP_CLOSE) {
      onControl(op, p + hl, n);
      if (state != S_OPEN) return;
      memory.copy(p, p + hl + n, avail - hl - n);
      have -= hl + n;
      continue;
    }
    // Data: drop the header so the payload joins the message so far.
    memory.copy(p, p + hl, avail - hl);
    have -= hl;
    msgLen += n;
    if (op) msgOp = op;
    if (b0 & 0x80) {
      if (msgOp == OP_TEXT && checkUtf8(rb, msgLen) == -Err.InvalidUtf8) return fail(Err.InvalidUtf8, 1007);
      delivered = true;
      post(EV_MESSAGE, <u32>rb, msgLen, msgOp);
      msgOp = 0;
    }
  }
}

// The MQTT client's timer rule; our states have its phases' numbers (S_HANDSHAKE = its S_CONNECTING).
function timerAt(): u32 {
  return phaseTimer(state, stateAt, waitUntil, C(CFG_KEEPALIVE) * 1000, pingOut, pingAt, lastSend);
}

function timers(): void {
  let t = timerAt();
  if (!timerSet || !due(t)) return;
  if (state == S_WAIT) {
    state = S_OPENING;
    stateAt = nowMs;
    post(EV_OPEN, 0, 0, 0);
  } else if (state == S_OPEN && !pingOut) {
    if (wsSend(OP_PING, 0, 0) == 0) {
      pingAt = nowMs;
      pingOut = true;
    }
  } else fail(Err.KeepAliveTimeout, state == S_OPEN ? 1001 : 0); // no socket, 101 or pong in time
}

/**
 * Advances to `now`; returns the next event (0: none): EV_OPEN, EV_CLOSE (a = Err,
 * b = close code or HTTP status), EV_CONNECTED (upgrade done), EV_MESSAGE (a = ptr,
 * b = length, c = opcode 1 text / 2 binary; valid until the next poll).
 */
export function wsPoll(now: u32): i32 {
  nowMs = now;
  if (!evCode) {
    // An event posted outside a poll (wsStop, wsClosed, wsOpened) goes first.
    if (delivered) {
      delivered = false;
      memory.copy(rb, rb + msgLen, have - msgLen);
      have -= msgLen;
      msgLen = 0;
    }
    timers();
    if (!evCode && state == S_HANDSHAKE) readHandshake();
    if (!evCode && state == S_OPEN) readFrames();
  }
  let code = evCode;
  evCode = 0;
  return code;
}

/** Milliseconds until wsPoll has timed work (0xFFFFFFFF: none). */
export function wsDeadline(now: u32): u32 {
  let d = <i32>(timerAt() - now);
  return !timerSet ? 0xffffffff : d < 0 ? 0 : <u32>d;
}
