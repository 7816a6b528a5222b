// Reading tokens back out: decoded strings, literal comparison and compact
// re-serialisation of a token subtree through the writer.
import { tokStart, tokEnd, tokEscaped, tokTextStart, tokTextEnd, walkString, walked } from "./tokenizer";
import { wBytes } from "./writer";
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

/**
 * Writes token t and its children as compact JSON: its text without the whitespace
 * between tokens. One pass over the bytes, no recursion, so no nesting the tokenizer
 * accepts can overflow the stack (boards size theirs from the call graph, not the input).
 */
export function wValue(t: u32): void {
  let p = tokTextStart(t);
  let end = tokTextEnd(t);
  let run = p; // start of the bytes not yet written
  let inString = false;
  while (p < end) {
    let c = <u32>load<u8>(p++);
    if (inString) {
      if (c == 0x5c) p++; // the escaped byte cannot end the string
      else if (c == 0x22) inString = false;
    } else if (c == 0x22) inString = true;
    else if (c <= 0x20) { // outside strings the tokenizer let only whitespace below 0x21 through
      wBytes(run, <u32>(p - 1 - run));
      run = p;
    }
  }
  wBytes(run, <u32>(end - run));
}
