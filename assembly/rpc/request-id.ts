// The id of a request the dispatcher cannot tokenize (cut short at the MQTT packet
// limit, nested too deep, too many tokens, over the request buffer), so that its
// "Request too large" answer still carries it: the value of the first "id" member of
// the top-level object, read from the raw bytes. Only a complete string or number
// counts (a number the bytes end in may be cut short); anything else is null.
import { scanNumber, walkString } from "../json/tokenizer";

/** End of the value the last findId found. */
export let idEnd: usize = 0;

/** Start of the top-level "id" member's value in [p, p+len), or 0 when it cannot be read. */
export function findId(p: usize, len: u32): usize {
  let end = p + len;
  let depth: u32 = 0;
  let state: u32 = 0; // 1: just after a top-level key "id" (a value string if no colon follows), 2: after its colon
  while (p < end) {
    let c = <u32>load<u8>(p);
    let at = p++;
    if (c <= 0x20) continue; // whitespace (anything else this low is invalid JSON anyway)
    if (state == 2) {
      let q: usize = c == 0x22 ? walkString(p, end, 0, 0) + 1 : c == 0x2d || c - 0x30 < 10 ? scanNumber(at, end) : 0;
      if (q <= 1 || q >= end) return 0; // not a string or number, or nothing after it
      idEnd = q;
      return at;
    }
    if (state == 1 && c == 0x3a) {
      state = 2;
      continue;
    }
    state = 0;
    if (c == 0x22) {
      let close = walkString(p, end, 0, 0);
      if (!close) return 0;
      // A key named "id" as written (escapes are not decoded here): 0x6469 is "id" little-endian.
      if (depth == 1 && close - p == 2 && load<u16>(p) == 0x6469) state = 1;
      p = close + 1;
    } else if ((c | 0x20) == 0x7b) depth++; // { or [
    else if ((c | 0x20) == 0x7d) depth--; // } or ]
  }
  return 0;
}
