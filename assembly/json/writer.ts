// Compact JSON writer into one bounded buffer. Overflow is sticky: once a
// write does not fit, later writes are dropped and `wOverflow` stays set
// until wReset/wRewind, so callers check once at the end.

// The one buffer it writes into (the JSON-RPC response buffer), set once by wInit.
let buf: usize = 0;
let cap: u32 = 0;
/** Bytes written so far. */
export let wLen: u32 = 0;
export let wOverflow = false;

export function wInit(ptr: usize, capacity: u32): void {
  buf = ptr;
  cap = capacity;
}
export function wBuffer(): usize {
  return buf;
}
export function wCapacity(): u32 {
  return cap;
}
/** Starts over at the buffer's start. */
@inline export function wReset(): void {
  wRewind(0);
}
/** Goes back to an earlier wLen, clearing an overflow. */
export function wRewind(mark: u32): void {
  wLen = mark;
  wOverflow = false;
}
export function wPos(): usize {
  return buf + wLen;
}
export function wRoom(): u32 {
  return wOverflow ? 0 : cap - wLen;
}
/** Reserves n bytes the caller wrote at wPos(); false (and overflow) if they do not fit. */
export function wAdvance(n: u32): bool {
  if (wOverflow || n > cap - wLen) {
    wOverflow = true;
    return false;
  }
  wLen += n;
  return true;
}
export function wByte(c: u32): void {
  if (wAdvance(1)) store<u8>(buf + wLen - 1, <u8>c);
}
export function wBytes(p: usize, n: u32): void {
  if (wAdvance(n)) memory.copy(buf + wLen - n, p, n);
}
/** Writes a text from assembly/json/text.ts (u16 length, then UTF-8 bytes). */
export function wText(t: usize): void {
  wBytes(t + 2, load<u16>(t));
}
/** Writes an unsigned decimal. */
export function wU32(v: u32): void {
  let digits: u32 = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (!wAdvance(digits)) return;
  let p = buf + wLen;
  do {
    store<u8>(--p, <u8>(0x30 + v % 10));
    v /= 10;
  } while (v);
}
/** Address of an earlier position (a wLen mark) in the buffer. */
export function wAt(mark: u32): usize {
  return buf + mark;
}
