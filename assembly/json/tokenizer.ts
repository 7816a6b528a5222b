// JSON tokenizer over UTF-8 bytes in linear memory. It fills a fixed token
// array (allocated once by jsonInit) with offsets into the input: nothing is
// copied, numbers stay as text (64-bit ids survive), strings stay escaped.
// Limits on depth and token count are explicit; bad input is an error code,
// never a trap. Outside strings only ASCII is valid JSON, so UTF-8 is checked
// per string, and only for strings with a byte >= 0x80.

import { alloc, checkUtf8 } from "../mem";

// Token kinds.
export const J_OBJECT: u32 = 1;
export const J_ARRAY: u32 = 2;
export const J_STRING: u32 = 3;
export const J_NUMBER: u32 = 4;
export const J_TRUE: u32 = 5;
export const J_FALSE: u32 = 6;
export const J_NULL: u32 = 7;

// Tokenizer results (negative).
export const JSON_SYNTAX: i32 = -1;
export const JSON_TOO_DEEP: i32 = -2;
export const JSON_TOO_MANY_TOKENS: i32 = -3;

// A token is 16 bytes: u8 kind, u8 escaped (strings with a backslash),
// u16 count (object members / array elements), u32 start, u32 end
// (strings: the bytes between the quotes), u32 next (index after its subtree).
const TOKEN_BYTES: usize = 16;

let tokens: usize = 0;
/** The token and depth limits (the dispatcher's "Request too large" data names them). */
export let tokenCap: u32 = 0;
let stack: usize = 0;
export let depthCap: u32 = 0;
/** Tokens written by the last jsonTokenize. */
export let tokenCount: u32 = 0;

/** Allocates the token array and the nesting stack; call once. */
export function jsonInit(maxTokens: u32, maxDepth: u32): void {
  if (maxTokens > 0xffff) maxTokens = 0xffff; // counts are u16
  tokenCap = maxTokens;
  depthCap = maxDepth;
  tokens = alloc(<usize>maxTokens * TOKEN_BYTES);
  stack = alloc(<usize>maxDepth << 2);
}

@inline function tok(i: u32): usize {
  return tokens + <usize>i * TOKEN_BYTES;
}
@inline export function tokKind(i: u32): u32 {
  return load<u8>(tok(i));
}
@inline export function tokEscaped(i: u32): bool {
  return load<u8>(tok(i), 1) != 0;
}
@inline export function tokCount(i: u32): u32 {
  return load<u16>(tok(i), 2);
}
@inline export function tokStart(i: u32): usize {
  return load<u32>(tok(i), 4);
}
@inline export function tokEnd(i: u32): usize {
  return load<u32>(tok(i), 8);
}
/** Index of the token after i and all its children. */
@inline export function tokNext(i: u32): u32 {
  return load<u32>(tok(i), 12);
}
/** Byte span of the value as written (strings include their quotes). */
export function tokTextStart(i: u32): usize {
  return tokStart(i) - <usize>(tokKind(i) == J_STRING);
}
export function tokTextEnd(i: u32): usize {
  return tokEnd(i) + <usize>(tokKind(i) == J_STRING);
}

function push(kind: u32, start: usize, end: usize, escaped: bool): i32 {
  if (tokenCount >= tokenCap) return JSON_TOO_MANY_TOKENS;
  let t = tok(tokenCount);
  store<u32>(t, kind | (<u32>escaped << 8)); // kind, escaped, count = 0
  store<u32>(t, <u32>start, 4);
  store<u32>(t, <u32>end, 8);
  tokenCount++;
  store<u32>(t, tokenCount, 12);
  return 0;
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

/** Reads the 4 hex digits at p (caller checked they exist); -1 if not hex. */
export function hex4(p: usize): i32 {
  let v: u32 = 0;
  for (let i: usize = 0; i < 4; i++) {
    let c = <u32>load<u8>(p + i);
    let h = c - 0x30; // '0'..'9' (unsigned: below wraps)
    if (h > 9) {
      h = (c | 0x20) - 0x61; // 'a'..'f', either case
      if (h > 5) return -1;
      h += 10;
    }
    v = (v << 4) | h;
  }
  return <i32>v;
}

// b f n r t " \ / and the bytes they stand for (walkString).
const ESCAPES = memory.data<u8>([0x62, 8, 0x66, 12, 0x6e, 10, 0x72, 13, 0x74, 9, 0x22, 0x22, 0x5c, 0x5c, 0x2f, 0x2f]);

// One walker for string bodies, used to scan (out == 0) and to decode. From p
// (after the opening quote) it checks every escape, and surrogates as a high+low
// \u pair (a lone one cannot become UTF-8); with out set it writes the decoded
// UTF-8 to [out, out+cap). Returns the closing quote's position, or 0 on a syntax
// error or when the decoded text does not fit; `walked` is the decoded length.
let sawEscape = false;
/** Decoded length of the string the last walkString finished. */
export let walked: u32 = 0;
export function walkString(p: usize, end: usize, out: usize, cap: u32): usize {
  sawEscape = false;
  let start = p;
  let high: u32 = 0; // any byte >= 0x80: check this string's UTF-8 once at the end
  let o: u32 = 0;
  while (p < end) {
    let c = <u32>load<u8>(p);
    if (c == 0x22) {
      walked = o;
      return high & 0x80 && checkUtf8(start, <u32>(p - start)) < 0 ? 0 : p;
    }
    if (c < 0x20) return 0;
    high |= c;
    p++;
    let n: u32 = 1; // raw bytes (UTF-8 included) are copied as they are
    if (c == 0x5c) {
      sawEscape = true;
      if (p >= end) return 0;
      c = load<u8>(p++);
      if (c == 0x75) {
        if (end - p < 4) return 0;
        c = hex4(p);
        p += 4;
        if (<i32>c < 0 || (c & 0xfc00) == 0xdc00) return 0;
        if ((c & 0xfc00) == 0xd800) {
          if (end - p < 6 || load<u8>(p) != 0x5c || load<u8>(p, 1) != 0x75) return 0;
          let lo = <u32>hex4(p + 2);
          if (<i32>lo < 0 || (lo & 0xfc00) != 0xdc00) return 0;
          c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
          p += 6;
        }
        n = c < 0x80 ? 1 : (35 - clz<u32>(c)) / 5; // its UTF-8 length: 8..11 bits 2 bytes, ..16 3, ..21 4
      } else {
        // The one-letter escapes: a pair each, the letter then what it stands for.
        let e = ESCAPES;
        while (<u32>load<u8>(e) != c) if ((e += 2) == ESCAPES + 16) return 0;
        c = load<u8>(e, 1);
      }
    }
    if (out) {
      if (o + n > cap) return 0;
      let q = out + o;
      if (n == 1) store<u8>(q, <u8>c);
      else {
        for (let i = n - 1; i > 0; i--) {
          store<u8>(q + i, <u8>(0x80 | (c & 0x3f)));
          c >>= 6;
        }
        store<u8>(q, <u8>((0xf00 >> n) | c)); // lead byte: 110xxxxx, 1110xxxx or 11110xxx
      }
    }
    o += n;
  }
  return 0;
}

// Skips at least one digit from p; returns the byte after them, or 0 if there is none.
function digits(p: usize, end: usize): usize {
  let start = p;
  while (p < end && isDigit(load<u8>(p))) p++;
  return p > start ? p : 0;
}

// Scans a number (RFC 8259 grammar) from p; returns the byte after it or 0.
function scanNumber(p: usize, end: usize): usize {
  if (load<u8>(p) == 0x2d) p++;
  if (p < end && load<u8>(p) == 0x30) p++; // a leading zero stands alone
  else if (!(p = digits(p, end))) return 0;
  if (p < end && load<u8>(p) == 0x2e && !(p = digits(p + 1, end))) return 0;
  if (p < end && (load<u8>(p) | 0x20) == 0x65) {
    p++;
    if (p < end && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) p++;
    if (!(p = digits(p, end))) return 0;
  }
  return p;
}

// True when the 4 or 5 bytes at p spell the literal (n: 4 or 5 bytes, packed little-endian).
function literal(p: usize, end: usize, word: u32, n: u32): bool {
  if (end - p < <usize>n) return false;
  if (load<u32>(p) != word) return false; // unaligned loads are fine in wasm
  return n == 4 || load<u8>(p, 4) == 0x65; // "false" ends in 'e'
}

@inline function isSpace(c: u32): bool {
  return c <= 0x20 && ((<u64>0x100002600 >> c) & 1) != 0; // space, \n, \r, \t: bits 32, 10, 13, 9
}

// Parser states.
const S_VALUE: u32 = 0; // a value is expected
const S_KEY: u32 = 1; // an object key is expected
const S_AFTER: u32 = 2; // a value just ended
const S_COLON: u32 = 3; // a key just ended

/**
 * Tokenizes one JSON text at [p, p+len). Returns the token count (>= 1), or
 * JSON_SYNTAX, JSON_TOO_DEEP or JSON_TOO_MANY_TOKENS. Token 0 is the root.
 */
export function jsonTokenize(p: usize, len: u32): i32 {
  let end = p + len;
  let depth: u32 = 0;
  let state = S_VALUE;
  let opened = false; // just after '{' or '[': a close is allowed
  let parent: u32 = 0; // innermost open container (valid when depth > 0)
  let inObject = false;
  tokenCount = 0;
  for (;;) {
    while (p < end && isSpace(load<u8>(p))) p++;
    if (p >= end) return state == S_AFTER && !depth ? <i32>tokenCount : JSON_SYNTAX;
    let c = <u32>load<u8>(p);
    if (state == S_COLON) {
      if (c != 0x3a) return JSON_SYNTAX;
      p++;
      state = S_VALUE;
      continue;
    }
    if (state == S_AFTER || opened) {
      if ((c == 0x7d && inObject) || (c == 0x5d && depth && !inObject)) {
        store<u32>(tok(parent), <u32>(p + 1), 8);
        store<u32>(tok(parent), tokenCount, 12);
        if (--depth) {
          parent = load<u32>(stack + (<usize>(depth - 1) << 2));
          inObject = tokKind(parent) == J_OBJECT;
        } else inObject = false;
        p++;
        state = S_AFTER;
        opened = false;
        continue;
      }
      if (state == S_AFTER) {
        if (c != 0x2c || !depth) return JSON_SYNTAX;
        p++;
        state = inObject ? S_KEY : S_VALUE;
        continue;
      }
    }
    opened = false;
    // A key is a string token like a value, then ':'. Object members count at their key.
    let key = state == S_KEY;
    if (key && c != 0x22) return JSON_SYNTAX;
    if (depth != 0 && (key || !inObject)) countChild(parent);
    if ((c | 0x20) == 0x7b) { // { or [
      if (depth >= depthCap) return JSON_TOO_DEEP;
      let r = push(c == 0x7b ? J_OBJECT : J_ARRAY, p, 0, false);
      if (r < 0) return r;
      parent = tokenCount - 1;
      inObject = c == 0x7b;
      store<u32>(stack + (<usize>depth << 2), parent);
      depth++;
      p++;
      opened = true;
      state = c == 0x7b ? S_KEY : S_VALUE;
      continue;
    }
    let kind: u32;
    let start = p;
    let stop: usize;
    sawEscape = false;
    if (c == 0x22) {
      let close = walkString(p + 1, end, 0, 0);
      if (!close) return JSON_SYNTAX;
      kind = J_STRING;
      start = p + 1;
      stop = close;
      p = close + 1;
    } else {
      if (c == 0x2d || isDigit(c)) {
        p = scanNumber(p, end);
        kind = J_NUMBER;
      } else if (literal(p, end, 0x65757274, 4)) { // the word holds the first byte too
        p += 4;
        kind = J_TRUE;
      } else if (literal(p, end, 0x736c6166, 5)) {
        p += 5;
        kind = J_FALSE;
      } else if (literal(p, end, 0x6c6c756e, 4)) {
        p += 4;
        kind = J_NULL;
      } else return JSON_SYNTAX;
      if (!p) return JSON_SYNTAX;
      stop = p;
    }
    let r = push(kind, start, stop, sawEscape);
    if (r < 0) return r;
    state = key ? S_COLON : S_AFTER;
  }
  return JSON_SYNTAX; // not reached: the loop only returns
}

function countChild(parent: u32): void {
  store<u16>(tok(parent), load<u16>(tok(parent), 2) + 1, 2);
}
