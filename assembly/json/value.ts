// Reading tokens back out: decoded strings, literal comparison and compact
// re-serialisation of a token subtree through the writer.
import { J_OBJECT, J_ARRAY, tokKind, tokCount, tokStart, tokEnd, tokEscaped, tokNext, tokTextStart, tokTextEnd, hex4 } from "./tokenizer";
import { wByte, wBytes } from "./writer";
import { bytesEqual } from "../mem";

/**
 * Decodes string token t (escapes resolved, as UTF-8) into [out, out+outCap).
 * Returns the byte length, or -1 if it does not fit. The tokenizer has already
 * checked every escape and surrogate pair.
 */
export function jsonDecodeString(t: u32, out: usize, outCap: u32): i32 {
  let p = tokStart(t);
  let end = tokEnd(t);
  if (!tokEscaped(t)) {
    let n = <u32>(end - p);
    if (n > outCap) return -1;
    memory.copy(out, p, n);
    return <i32>n;
  }
  let o: u32 = 0;
  while (p < end) {
    let c = <u32>load<u8>(p++);
    let n: u32 = 1; // raw bytes (UTF-8 included) are copied as they are
    if (c == 0x5c) {
      c = load<u8>(p++);
      if (c == 0x75) {
        c = hex4(p);
        p += 4;
        if ((c & 0xfc00) == 0xd800) {
          c = 0x10000 + ((c - 0xd800) << 10) + (<u32>hex4(p + 2) - 0xdc00);
          p += 6;
        }
        n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      } else if (c == 0x62) c = 8;
      else if (c == 0x66) c = 12;
      else if (c == 0x6e) c = 10;
      else if (c == 0x72) c = 13;
      else if (c == 0x74) c = 9; // the rest (" \ /) stand for themselves
    }
    if (o + n > outCap) return -1;
    let q = out + o;
    o += n;
    if (n == 1) {
      store<u8>(q, <u8>c);
      continue;
    }
    for (let i = n - 1; i > 0; i--) {
      store<u8>(q + i, <u8>(0x80 | (c & 0x3f)));
      c >>= 6;
    }
    store<u8>(q, <u8>((0xf00 >> n) | c)); // lead byte: 110xxxxx, 1110xxxx or 11110xxx
  }
  return <i32>o;
}

/** True when the n bytes at p equal text t (assembly/json/text.ts). */
export function bytesAre(p: usize, n: u32, t: usize): bool {
  return n == <u32>load<u16>(t) && bytesEqual(p, t + 2, n);
}

/** True when string token t decodes to exactly text t (assembly/json/text.ts). */
export function jsonStringIs(tk: u32, t: usize): bool {
  if (!tokEscaped(tk)) return bytesAre(tokStart(tk), <u32>(tokEnd(tk) - tokStart(tk)), t);
  let n = jsonDecodeString(tk, scratch, SCRATCH);
  return n >= 0 && bytesAre(scratch, n, t);
}
const SCRATCH: u32 = 32; // longer than any member name we compare against
const scratch = memory.data(SCRATCH);

/** Writes token t and its children as compact JSON. Depth is bounded by the tokenizer. */
export function wValue(t: u32): void {
  let kind = tokKind(t);
  if (kind != J_OBJECT && kind != J_ARRAY) {
    wBytes(tokTextStart(t), <u32>(tokTextEnd(t) - tokTextStart(t)));
    return;
  }
  wByte(kind == J_OBJECT ? 0x7b : 0x5b);
  let child = t + 1;
  for (let i: u32 = 0, n = tokCount(t); i < n; i++) {
    if (i) wByte(0x2c);
    if (kind == J_OBJECT) {
      wValue(child);
      wByte(0x3a);
      child++;
    }
    wValue(child);
    child = tokNext(child);
  }
  wByte(kind == J_OBJECT ? 0x7d : 0x5d);
}
