// Streaming splitter: cuts a byte stream into whole MQTT packets. A packet that
// lies whole in the input is handed out in place; only one that spans pushes is
// copied into the assembly buffer. Both buffers are allocated once, here.
import { Err } from "../errors";
import { VARINT_MORE, readVarint, varintBytes } from "../mem";

const HEADER_MAX: u32 = 5;

export class Framer {
  private inBuf: usize;
  private inCap_: u32;
  private inPos: u32 = 0;
  private inEnd: u32 = 0;
  private asmBuf: usize;
  private asmCap: u32;
  private asmLen: u32 = 0; // bytes gathered for a packet that spans pushes
  private asmNeed: u32 = 0; // its total length, 0 while its header is incomplete
  private maxPacket: u32;
  private pktPtr: usize = 0;
  private pktLen: u32 = 0;
  private err: i32 = 0;

  constructor(inputCap: u32, maxPacket: u32) {
    this.inCap_ = inputCap;
    this.inBuf = heap.alloc(<usize>inputCap);
    let cap = maxPacket < HEADER_MAX ? HEADER_MAX : maxPacket;
    this.asmCap = cap;
    this.asmBuf = heap.alloc(<usize>cap);
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
  packetLen(): u32 {
    return this.pktLen;
  }
  /** Lowers (or restores) the limit; it never exceeds the buffer allocated at construction. */
  setMaxPacket(n: u32): void {
    this.maxPacket = n < this.asmCap ? n : this.asmCap;
  }
  reset(): void {
    this.inPos = this.inEnd = this.asmLen = this.asmNeed = this.pktLen = 0;
    this.pktPtr = 0;
    this.err = 0;
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
    if (t > this.maxPacket) return -Err.PacketTooLarge;
    return <i32>t;
  }

  next(): i32 {
    if (this.err) return this.err;
    let pos = this.inPos;
    let avail = this.inEnd - pos;
    let src = this.inBuf + pos;
    if (this.asmLen == 0) {
      if (avail == 0) return 0;
      let t = this.total(src, avail);
      if (t < 0) return (this.err = t);
      if (t > 0 && <u32>t <= avail) {
        this.pktPtr = src;
        this.pktLen = <u32>t;
        this.inPos = pos + <u32>t;
        return 1;
      }
      // Spans pushes: keep what we have and wait.
      memory.copy(this.asmBuf, src, avail);
      this.asmLen = avail;
      this.asmNeed = <u32>t;
      this.inPos = this.inEnd;
      return 0;
    }
    let asm = this.asmBuf;
    while (this.asmNeed == 0) {
      if (avail == 0) {
        this.inPos = this.inEnd;
        return 0;
      }
      store<u8>(asm + this.asmLen++, load<u8>(src++));
      avail--;
      let t = this.total(asm, this.asmLen);
      if (t < 0) return (this.err = t);
      this.asmNeed = <u32>t;
    }
    let want = this.asmNeed - this.asmLen;
    let n = want < avail ? want : avail;
    memory.copy(asm + this.asmLen, src, n);
    this.asmLen += n;
    this.inPos = <u32>(src + n - this.inBuf);
    if (this.asmLen < this.asmNeed) return 0;
    this.pktPtr = asm;
    this.pktLen = this.asmNeed;
    this.asmLen = this.asmNeed = 0;
    return 1;
  }
}
