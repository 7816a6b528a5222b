// Byte helpers over raw linear memory (big-endian integers, MQTT variable byte
// integers, UTF-8 checks) and the module's allocator. The helpers allocate nothing;
// results that need two values pass the second through a module global (`varintBytes`).
import { Err } from "./abi";

// The module's one allocator: a bump over the heap for the buffers each layer takes
// once at init, never freed. Smaller than the runtime's heap.alloc (no block
// headers, grows by what it needs); nothing may use heap.alloc or `new` beside it.
/** First free byte: everything below it is in use (sys.info's memory figure); 0 before the first alloc. */
export let heapTop: usize = 0;
/** `n` bytes, 16-byte aligned; traps beyond 1 GiB, when memory cannot grow or past the host's limit. */
export function alloc(n: usize): usize {
  if (n > 0x40000000) unreachable();
  // __heap_base is known only once the module is laid out: a global's initialiser with it
  // would need a start function.
  let p = heapTop ? heapTop : (__heap_base + 15) & ~15;
  let top = (p + n + 15) & ~15;
  heapTop = top;
  let pages = <i32>((top + 0xffff) >>> 16) - memory.size();
  if (pages > 0 && memory.grow(pages) < 0) unreachable();
  // A host may cap memory below a page (wasm3's memory limit on boards): touching the
  // block's last byte traps here, in the init export that asked, not later elsewhere.
  store<u8>(top - 1, 0);
  return p;
}

/** alloc() that returns 0 instead of trapping when memory cannot grow (the codec's per-call buffers). */
export function tryAlloc(n: usize): usize {
  let p = heapTop ? heapTop : (__heap_base + 15) & ~15;
  if (n > 0x40000000) return 0;
  let pages = <i32>((((p + n + 15) & ~15) + 0xffff) >>> 16) - memory.size();
  if (pages > 0 && memory.grow(pages) < 0) return 0;
  return alloc(n);
}

@inline export function u8At(p: usize): u32 {
  return <u32>load<u8>(p);
}
@inline export function u16be(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p));
}
@inline export function u32be(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}
@inline export function put16be(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v));
}
@inline export function put32be(p: usize, v: u32): void {
  store<u32>(p, bswap<u32>(v));
}

/** Drops the first n bytes (at most len) of the len bytes at buf, keeping the rest at buf; returns the new length. */
export function dropFront(buf: usize, len: u32, n: u32): u32 {
  if (n > len) n = len;
  memory.copy(buf, buf + n, len - n);
  return len - n;
}

/** The socket-input push check both transports make: -NotConnected, -BufferFull (over cap) or 0. */
export function rxPushCheck(open: bool, len: u32, cap: u32): i32 {
  return !open ? -Err.NotConnected : len > cap ? -Err.BufferFull : 0;
}

/** Byte count of the last readVarint that returned a value. */
export let varintBytes: u32 = 0;

/** readVarint's result when the integer runs past the available bytes. */
export const VARINT_MORE: i32 = -0x10000;

/**
 * Reads a variable byte integer from [p, p+avail). Returns the value (>= 0),
 * VARINT_MORE when more bytes are needed, or -Err.MalformedRemainingLength when
 * a 4th byte still has its continuation bit or the encoding is not minimal.
 */
export function readVarint(p: usize, avail: u32): i32 {
  let value: u32 = 0;
  for (let i: u32 = 0; i < 4; i++) {
    if (i >= avail) return VARINT_MORE;
    let b = u8At(p + i);
    value |= (b & 0x7f) << (i * 7);
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) return -Err.MalformedRemainingLength; // non-minimal
      varintBytes = i + 1;
      return <i32>value;
    }
  }
  return -Err.MalformedRemainingLength;
}

/** Whether the n bytes at a and b are equal: one out-of-line compare loop (smaller than memory.compare's). */
export function bytesEqual(a: usize, b: usize, n: u32): bool {
  while (n) if (load<u8>(a + --n) != load<u8>(b + n)) return false; // from the end: one counter
  return true;
}

@inline export function varintSize(v: u32): u32 {
  return (38 - clz<u32>(v | 1)) / 7; // 7 bits a byte: ceil(significant bits / 7), at least 1
}

/** Writes v as a variable byte integer at p; returns the byte after it. */
export function writeVarint(p: usize, v: u32): usize {
  do {
    let b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    store<u8>(p++, <u8>b);
  } while (v);
  return p;
}

/**
 * Checks an MQTT UTF-8 string: well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF) and no U+0000. Returns 0 or -Err.
 */
export function checkUtf8(p: usize, len: u32): i32 {
  let end = p + len;
  while (p < end) {
    let b = u8At(p++);
    if (b < 0x80) {
      if (!b) return -Err.NullCharacter;
      continue;
    }
    // Continuation bytes after a lead byte 110xxxxx / 1110xxxx / 11110xxx: its leading ones, less one.
    // Leads 0xC0, 0xC1 (always overlong) and past 0xF4 (past U+10FFFF) are refused here.
    let need = clz<u32>(~(b << 24)) - 1;
    if (b - 0xc2 > 0xf4 - 0xc2 || <usize>need > end - p) return -Err.InvalidUtf8;
    let cp = b & (0x3f >> need);
    let min: u32 = 1 << (need * 5 + 1); // below 0x800 (3 bytes) and 0x10000 (4 bytes) it is overlong; 2 bytes from 0xC2 cannot be
    for (let i: u32 = 0; i < need; i++) {
      let c = u8At(p++);
      if ((c & 0xc0) != 0x80) return -Err.InvalidUtf8;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >> 11) == 0x1b) return -Err.InvalidUtf8; // 0x1b << 11 = U+D800..U+DFFF
  }
  return 0;
}
