// The sans-IO WebSocket client (RFC 6455), the WebSocket transport of the connection
// supervisor (assembly/link/supervisor.ts drives the phases, backoff and deadlines;
// the hooks here are its side of assembly/link/transport.ts): the HTTP/1.1 upgrade,
// masked frames out, fragmented messages in, ping/pong, the close handshake and a
// frame size limit. It does no I/O and reads no clock.
import { CFG_KEEPALIVE, CFG_MAX_PACKET, CFG_RX_BYTES, EV_CONNECTED, EV_MESSAGE, Err, STR_PASSWORD, STR_USERNAME } from "../abi";

import { C, stringLen, stringPtr } from "../link/config";
import { emitAll, quiet } from "../link/events";
import { connected, lastRecv, lastSend, lose, nowMs, pong, random32, state, tx, txCap, txLen } from "../link/supervisor";
import { S_CONNECTED, S_CONNECTING } from "../link/phases";
import { alloc, checkUtf8, put16be, u16be, u32be } from "../mem";
import { sha1, base64 } from "./sha1";
import * as W from "./text";

// The supervisor's phases: the handshake (upgrade request sent, reading the response)
// is S_CONNECTING, the open socket S_CONNECTED.
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

// ---- The transport hooks (assembly/link/transport.ts) --------------------

/** client_start: allocates the rx buffer (frames up to maxPacket) once. */
export function wsStart(): void {
  if (inited) return;
  inited = true;
  maxMessage = C(CFG_MAX_PACKET);
  rcap = maxMessage + CONTROL_ROOM;
  rb = alloc(rcap);
}

/** Forgets the connection's input: the message so far and unparsed frames. */
export function wsReset(): void {
  have = msgLen = msgOp = 0;
  delivered = false;
}

/** A clean stop: close 1000. */
export function wsGoodbye(): void {
  sendClose(1000);
}

/** A deadline passed: close 1001 ("going away") on an open socket; EV_CLOSE's b. */
export function wsAbort(): u32 {
  if (state != S_OPEN) return 0;
  sendClose(1001);
  return 1001;
}

export function wsPing(): bool {
  return wsSend(OP_PING, 0, 0) == 0;
}

/** The message given out by the last poll is dropped. */
export function wsPrepare(): void {
  if (delivered) {
    delivered = false;
    memory.copy(rb, rb + msgLen, have - msgLen);
    have -= msgLen;
    msgLen = 0;
  }
}

export function wsRead(): void {
  if (quiet() && state == S_HANDSHAKE) readHandshake();
  if (quiet() && state == S_OPEN) readFrames();
}

/**
 * Queues one frame (FIN set) with a fresh mask. 0, or -BufferFull when tx has no room
 * (the caller names it; nothing is written).
 */
export function wsSend(op: u32, ptr: usize, len: u32): i32 {
  let hl: u32 = len < 126 ? 6 : len < 65536 ? 8 : 14;
  if (state != S_OPEN || txCap - txLen < hl + len) return state != S_OPEN ? -Err.NotConnected : -Err.BufferFull;
  let p = tx + txLen;
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
  txLen += hl + len;
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

/** The socket is open (tx empty): the upgrade request goes to tx. 0 or -BufferFull. */
export function wsHello(): i32 {
  let userLen = stringLen(STR_USERNAME);
  let passLen = stringLen(STR_PASSWORD);
  let slash: u32 = 0;
  while (slash < urlLen && load<u8>(url + slash) != 0x2f) slash++;
  if (urlLen + userLen + passLen + 200 > txCap) return -Err.BufferFull;
  // Sec-WebSocket-Key: 16 random bytes in base64, built in rb (free until the response comes).
  for (let i: u32 = 0; i < 16; i += 4) store<u32>(rb + i, random32());
  let key = rb + 16;
  base64(rb, 16, key);
  let p = put(tx, W.W_GET());
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
      memory.copy(p, stringPtr(STR_USERNAME), userLen);
      p += userLen;
      store<u8>(p++, 0x3a);
    }
    memory.copy(p, stringPtr(STR_PASSWORD), passLen);
    p += passLen;
  }
  txLen = <u32>(put(p, W.W_END()) - tx);
  // The expected accept: base64(SHA-1(key + GUID)).
  memory.copy(key + 24, W.W_GUID() + 2, 36);
  sha1(key, 60, rb + 128);
  base64(rb + 128, 20, accept);
  return 0;
}

export function wsRxPtr(): usize {
  return rb + have;
}
/** Bytes the host may write at wsRxPtr now (a socket is open): 0 while a message is out. */
export function wsRxCap(): u32 {
  if (delivered) return 0;
  let room = rcap - have;
  let chunk = C(CFG_RX_BYTES);
  return room < chunk ? room : chunk;
}
export function wsRxPush(len: u32): void {
  have += len;
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
  connected(C(CFG_KEEPALIVE) * 1000);
  lastSend = lastRecv = nowMs;
  emitAll(EV_CONNECTED, 0, 0, 0, 0);
}

@inline function validCloseCode(code: u32): bool {
  return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) || (code >= 3000 && code <= 4999);
}

// A complete control frame: body at p, n bytes.
function onControl(op: u32, p: usize, n: u32): void {
  if (op == OP_PING) wsSend(OP_PONG, p, n); // no room: the server pings again
  else if (op == OP_PONG) pong();
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
  while (quiet()) {
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
    lastRecv = nowMs; // a whole frame: the server is there
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
      emitAll(EV_MESSAGE, <u32>rb, msgLen, msgOp, 0);
      msgOp = 0;
    }
  }
}
