// Reading tokens back out: decoded strings, literal comparison and compact
// re-serialisation of a token subtree through the writer.
import { J_OBJECT, J_ARRAY, tokKind, tokCount, tokStart, tokEnd, tokEscaped, tokNext, tokTextStart, tokTextEnd, walkString, walked } from "./tokenizer";
import { wByte, wBytes } from "./writer";
import { bytesEqual } from "../mem";

/**
 * Decodes string token t (escapes resolved, as UTF-8) into [out, out+outCap).
 * Returns the byte length, or -1 if it does not fit.
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
  // The closing quote sits at end; the tokenizer has checked the string, so 0 means it does not fit.
  return walkString(p, end + 1, out, outCap) ? <i32>walked : -1;
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
