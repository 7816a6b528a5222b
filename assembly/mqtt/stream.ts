// Streaming splitter: cuts a byte stream into whole MQTT packets. A packet that
// lies whole in the input is handed out in place; only one that spans pushes is
// copied into the assembly buffer. Both buffers are allocated once, here.
// The client's build skips a PUBLISH over the maximum packet size instead of failing:
// once all of it has gone by it is handed out with its whole length, of which only the
// first maxPacket bytes are kept (and valid), so one oversize message costs that
// message, not the connection.
import { Err } from "../abi";

import { VARINT_MORE, alloc, readVarint, varintBytes } from "../mem";
import { BROKER_SIDE } from "./side";

const HEADER_MAX: u32 = 5;

// @unmanaged: allocated once and never freed, so it needs no runtime object header.
@unmanaged export class Framer {
  private inBuf: usize;
  private inCap_: u32;
  private asmBuf: usize;
  private asmCap: u32;
  private maxPacket: u32;
  // The stream's state, from here to the end: reset() zeroes it in one fill.
  private inPos: u32 = 0;
  private inEnd: u32 = 0;
  private asmLen: u32 = 0; // bytes gathered for a packet that spans pushes
  private asmNeed: u32 = 0; // its total length, 0 while its header is incomplete
  private pktPtr: usize = 0;
  private pktLen: u32 = 0;
  private err: i32 = 0;

  /** Allocates the buffers of a Framer in zeroed memory (static or alloc: no constructor, no runtime `new`). */
  init(inputCap: u32, maxPacket: u32): void {
    this.inCap_ = inputCap;
    this.inBuf = alloc(<usize>inputCap);
    let cap = maxPacket < HEADER_MAX ? HEADER_MAX : maxPacket;
    this.asmCap = cap;
    this.asmBuf = alloc(<usize>cap);
    this.maxPacket = maxPacket;
  }

  inputPtr(): usize {
    return this.inBuf;
  }
  inputCap(): u32 {
    return this.inCap_;
  }
  packetPtr(): usize {
    return this.pktPtr;
  }
  /** The whole packet's length: over the maximum for a PUBLISH over it, of which only the first maxPacket bytes are kept. */
  packetLen(): u32 {
    return this.pktLen;
  }
  /** The bytes gathered for a packet that spans pushes: where, how many, its total length (0 while its header is incomplete). */
  heldPtr(): usize {
    return this.asmBuf;
  }
  heldLen(): u32 {
    return this.asmLen;
  }
  heldNeed(): u32 {
    return this.asmNeed;
  }
  /** Lowers (or restores) the limit; it never exceeds the buffer allocated at construction. */
  setMaxPacket(n: u32): void {
    this.maxPacket = n < this.asmCap ? n : this.asmCap;
  }
  reset(): void {
    memory.fill(changetype<usize>(this) + offsetof<Framer>("inPos"), 0, offsetof<Framer>() - offsetof<Framer>("inPos"));
  }
  /** Enters the sticky error state (e.g. after the caller failed to decode a packet). */
  fail(code: i32): i32 {
    if (!this.err) this.err = code;
    return this.err;
  }
  error(): i32 {
    return this.err;
  }

  push(len: u32): void {
    this.inPos = 0;
    this.inEnd = len < this.inCap_ ? len : this.inCap_;
  }

  /** Total packet length from a (partial) header: > 0 known, 0 need more, < 0 error. */
  private total(p: usize, avail: u32): i32 {
    if (avail < 2) return 0;
    let rl = readVarint(p + 1, avail - 1);
    if (rl == VARINT_MORE) return 0;
    if (rl < 0) return rl;
    let t = <u32>rl + 1 + varintBytes;
    if (t > this.maxPacket && (BROKER_SIDE || load<u8>(p) >> 4 != 3)) return -Err.PacketTooLarge; // 3: PUBLISH
    return <i32>t;
  }

  next(): i32 {
    if (this.err) return this.err;
    let src = this.inBuf + this.inPos;
    let avail = this.inEnd - this.inPos;
    let t: i32;
    if (!this.asmLen) {
      if (!avail) return 0;
      t = this.total(src, avail);
      if (t < 0) return (this.err = t);
      if (t && <u32>t <= avail) {
        this.pktPtr = src;
        this.pktLen = <u32>t;
        this.inPos += <u32>t;
        return 1;
      }
    }
    // Spans pushes: gather into the assembly buffer, the header first (at most
    // HEADER_MAX bytes, any surplus given back once the length is known). `have`
    // counts the packet's bytes gone by; those past maxPacket are not kept.
    let have = this.asmLen;
    let need = this.asmNeed;
    let n = (need ? need : HEADER_MAX) - have;
    if (n > avail) n = avail;
    // Only a PUBLISH over the limit (the client's) outgrows the buffer: the rest of it is dropped.
    let cap = this.asmCap;
    if (have < cap) memory.copy(this.asmBuf + have, src, min(n, cap - have));
    have += n;
    this.inPos += n;
    if (!need) {
      t = this.total(this.asmBuf, have);
      if (t < 0) return (this.err = t);
      need = <u32>t;
      if (need && have > need) {
        this.inPos -= have - need;
        have = need;
      }
      this.asmNeed = need;
      this.asmLen = have;
      if (need) return this.next();
      return 0;
    }
    if (have < need) {
      this.asmLen = have;
      return 0;
    }
    this.pktPtr = this.asmBuf;
    this.pktLen = need;
    this.asmLen = this.asmNeed = 0;
    return 1;
  }
}
