// The connection supervisor: one phase machine for every transport. It owns the
// phase and its times, the backoff between attempts (full jitter from a seeded
// PRNG), the connect and keep-alive deadlines, EV_OPEN/EV_CLOSE and the tx buffer.
// What differs between protocols (the hello, reading, the ping, the goodbye) is
// asked of the transport through assembly/link/transport.ts. Sans-IO: the host
// gives the time and the socket's changes; nothing here reads a clock.
import { CFG_BACKOFF_MAX_MS, CFG_BACKOFF_MIN_MS, CFG_TIMEOUT_MS, CFG_TX_BYTES, EV_CLOSE, EV_OPEN, Err } from "../abi";

import { alloc, dropFront, rxPushCheck } from "../mem";
import { C } from "./config";
import { emit, nextEvent, quiet } from "./events";
import { S_CONNECTED, S_CONNECTING, S_IDLE, S_OPENING, S_WAIT } from "./phases";
import { trAbort, trClosedCode, trGoodbye, trHello, trLost, trPing, trPrepare, trRead, trReset, trRxCap, trRxPtr, trRxPush, trStart } from "./transport";

const NO_TIMER: u32 = 0xffffffff; // linkDeadline's "none"

// The phase and its times (ms on the host's clock); transports read state and nowMs
// and set lastSend when they write, lastRecv when they read a packet or frame.
export let state: u32 = 0 /* S_IDLE */, nowMs: u32 = 0, lastSend: u32 = 0, lastRecv: u32 = 0;
// phaseAt: S_WAIT: when the next attempt starts; S_OPENING, S_CONNECTING: since when;
// S_CONNECTED: when the keep-alive probe went out (while pingOut).
let phaseAt: u32 = 0, pingOut = false, keepMs: u32 = 0;
let attempt: u32 = 0, rng: u32 = 0x9e3779b9;

// The tx buffer every transport writes into (allocated by linkInit): base, capacity, bytes used.
export let tx: usize = 0 /* 0 until linkInit */, txCap: u32 = 0, txLen: u32 = 0;

/** Allocates the tx buffer (client_init). */
export function linkInit(): void {
  txCap = C(CFG_TX_BYTES);
  tx = alloc(txCap);
}

@inline export function linkInited(): bool {
  return tx != 0;
}

@inline function due(t: u32): bool {
  return <i32>(nowMs - t) >= 0;
}

// ---- Backoff ------------------------------------------------------------

/** Seeds the backoff jitter PRNG (xorshift32; 0 keeps the built-in seed). */
export function clientSeed(seed: u32): void {
  if (seed) rng = seed;
}

/** The next xorshift32 number from the host's seed (backoff jitter; WebSocket keys and masks). */
export function random32(): u32 {
  let x = rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return (rng = x);
}

function backoffDelay(): u32 {
  let max = C(CFG_BACKOFF_MAX_MS);
  let cap = <u64>C(CFG_BACKOFF_MIN_MS) << attempt; // attempt <= 32: no overflow in 64 bits
  if (cap > max) cap = max;
  if (attempt < 32) attempt++;
  // Full jitter: uniform in [0, cap] (cap + 1 cannot overflow in 64 bits, even for 0xFFFFFFFF).
  return <u32>(<u64>random32() % (cap + 1));
}

/** The next attempt waits the longest backoff (a refused login will not mend itself). */
export function backoffLongest(): void {
  attempt = 32;
}

// ---- Phase changes ------------------------------------------------------

/** The transport's handshake is done: keep-alive every `keep` ms (0: none); the next backoff starts from the minimum. */
export function connected(keep: u32): void {
  state = S_CONNECTED;
  attempt = 0;
  pingOut = false;
  keepMs = keep;
}

/** The peer answered the keep-alive probe. */
export function pong(): void {
  pingOut = false;
}

/** Ends the current connection (if any) for `err`/`code` (EV_CLOSE a, b) and schedules the next attempt. */
export function lose(err: u32, code: u32): void {
  if (state < S_OPENING) return;
  state = S_WAIT;
  phaseAt = nowMs + backoffDelay();
  trLost();
  emit(EV_CLOSE, err, code);
}

/** Starts connecting (EV_OPEN on the next poll). 0, or -NotInitialized. */
export function linkStart(now: u32): i32 {
  if (!linkInited()) return -Err.NotInitialized;
  trStart();
  nowMs = now;
  if (state == S_IDLE) {
    state = S_WAIT;
    phaseAt = now;
    attempt = 0;
  }
  return 0;
}

/** Ends cleanly: the transport's goodbye goes to tx (if connected), then EV_CLOSE with a = 0; no reconnect. */
export function linkStop(now: u32): void {
  if (!linkInited()) return;
  nowMs = now;
  let was = state;
  if (was == S_CONNECTED) trGoodbye();
  state = S_IDLE;
  trReset();
  if (was >= S_OPENING) emit(EV_CLOSE, 0, 0);
}

/** The socket asked for by EV_OPEN is open: the transport's hello goes to tx. 0 or -Err (then EV_CLOSE follows). */
export function linkOpened(now: u32): i32 {
  nowMs = now;
  if (state != S_OPENING) return -Err.ProtocolViolation;
  txLen = 0;
  trReset();
  state = S_CONNECTING;
  phaseAt = now;
  let r = trHello();
  if (r < 0) lose(<u32>-r, 0);
  return r < 0 ? r : 0;
}

/** The socket closed or failed (peer close, error, failed open): EV_CLOSE(NotConnected) follows. */
export function linkClosed(now: u32): void {
  nowMs = now;
  lose(Err.NotConnected, trClosedCode());
}

// ---- Bytes in and out ---------------------------------------------------

export function linkRxPtr(): usize {
  return trRxPtr();
}
/** Bytes the host may write at linkRxPtr now: 0 without a socket or until the previous push is consumed by polls. */
export function linkRxCap(): u32 {
  return state >= S_CONNECTING ? trRxCap() : 0;
}
/** Hands over `len` bytes written at linkRxPtr. 0, -NotConnected (no socket) or -BufferFull (over linkRxCap). */
export function linkRxPush(len: u32): i32 {
  let r = rxPushCheck(state >= S_CONNECTING, len, linkRxCap());
  if (!r && len) trRxPush(len);
  return r;
}

/** The host wrote the first n bytes of tx to the socket. */
export function linkTxConsume(n: u32): void {
  txLen = dropFront(tx, txLen, n);
}

// ---- Deadlines ----------------------------------------------------------

/** Whether the last timerAt found a timer (any u32 may be a deadline on a wrapping clock). */
let timerSet = false;

/** When the phase's timer fires: the backoff's end, the connect deadline, the ping or its answer's deadline. */
function timerAt(): u32 {
  timerSet = true;
  if (state == S_WAIT) return phaseAt;
  // S_OPENING, S_CONNECTING, or the probe out: the answer is due within the timeout.
  if (state - S_OPENING < 2 || (state == S_CONNECTED && pingOut)) return phaseAt + C(CFG_TIMEOUT_MS);
  // The probe goes out when nothing was sent or nothing was received for keepMs: a device that
  // only publishes (QoS 0 telemetry) would otherwise never learn that its peer is gone.
  if (state == S_CONNECTED && keepMs) return (<i32>(lastSend - lastRecv) < 0 ? lastSend : lastRecv) + keepMs;
  timerSet = false;
  return 0;
}

function timers(): void {
  let t = timerAt();
  if (!timerSet || !due(t)) return;
  if (state == S_WAIT) {
    state = S_OPENING;
    phaseAt = nowMs;
    emit(EV_OPEN, 0, 0);
  } else if (state == S_CONNECTED && !pingOut) {
    if (!trPing()) return; // tx full: next poll
    lastSend = phaseAt = nowMs;
    pingOut = true;
  } else lose(Err.KeepAliveTimeout, trAbort()); // no socket, handshake answer or pong in time
}

/**
 * Advances the connection to `now` and returns the next event code (0: none left).
 * Call after every input (bytes, socket change, publish, subscribe, a deadline)
 * until it returns 0; drain tx after.
 */
export function linkPoll(now: u32): i32 {
  nowMs = now;
  if (quiet()) {
    trPrepare();
    timers();
    trRead();
  }
  return nextEvent();
}

/** Milliseconds from `now` until linkPoll has timed work (0: poll now; 0xFFFFFFFF: none). */
export function linkDeadline(now: u32): u32 {
  if (!quiet()) return 0;
  let d = <i32>(timerAt() - now);
  return !timerSet ? NO_TIMER : d < 0 ? 0 : <u32>d;
}
