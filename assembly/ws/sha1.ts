// SHA-1 (FIPS 180-4) and base64 (RFC 4648), just enough for Sec-WebSocket-Accept:
// one short input, no streaming. SHA-1 is the handshake's choice, not ours.
const w = memory.data(320); // the message schedule, 80 words
const pad = memory.data(128); // the last one or two blocks
const h = memory.data(20);
// Behind a function so that a build without WebSocket (OUTPOST_NO_WS) emits no segment.
function roundConstants(): usize {
  return memory.data<u32>([0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6]);
}

function block(p: usize): void {
  for (let i: u32 = 0; i < 80; i++) {
    let x: u32 = i < 16 ? bswap<u32>(load<u32>(p + (i << 2))) : rotl<u32>(load<u32>(w + ((i - 3) << 2)) ^ load<u32>(w + ((i - 8) << 2)) ^ load<u32>(w + ((i - 14) << 2)) ^ load<u32>(w + ((i - 16) << 2)), 1);
    store<u32>(w + (i << 2), x);
  }
  let a = load<u32>(h), b = load<u32>(h, 4), c = load<u32>(h, 8), d = load<u32>(h, 12), e = load<u32>(h, 16);
  for (let i: u32 = 0; i < 80; i++) {
    let r = i / 20;
    let f = r == 0 ? (b & c) | (~b & d) : r == 2 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
    let k = load<u32>(roundConstants() + (r << 2));
    let t = rotl<u32>(a, 5) + f + e + k + load<u32>(w + (i << 2));
    e = d;
    d = c;
    c = rotl<u32>(b, 30);
    b = a;
    a = t;
  }
  store<u32>(h, load<u32>(h) + a);
  store<u32>(h, load<u32>(h, 4) + b, 4);
  store<u32>(h, load<u32>(h, 8) + c, 8);
  store<u32>(h, load<u32>(h, 12) + d, 12);
  store<u32>(h, load<u32>(h, 16) + e, 16);
}

/** The 20-byte SHA-1 digest of [p, p+len) at out. */
export function sha1(p: usize, len: u32, out: usize): void {
  store<u32>(h, 0x67452301);
  store<u32>(h, 0xefcdab89, 4);
  store<u32>(h, 0x98badcfe, 8);
  store<u32>(h, 0x10325476, 12);
  store<u32>(h, 0xc3d2e1f0, 16);
  let full = len & ~63;
  for (let i: u32 = 0; i < full; i += 64) block(p + i);
  let rest = len - full;
  memory.fill(pad, 0, 128);
  memory.copy(pad, p + full, rest);
  store<u8>(pad + rest, 0x80);
  let end: u32 = rest < 56 ? 64 : 128;
  store<u32>(pad + end - 4, bswap<u32>(len << 3));
  store<u8>(pad + end - 5, <u8>(len >> 29));
  block(pad);
  if (end == 128) block(pad + 64);
  for (let i: u32 = 0; i < 20; i += 4) store<u32>(out + i, bswap<u32>(load<u32>(h + i)));
}

function digit(v: u32): u8 {
  return <u8>(v < 26 ? v + 65 : v < 52 ? v + 71 : v < 62 ? v - 4 : v == 62 ? 43 : 47);
}

/** Standard base64 with padding of [p, p+len) at out (4 * ceil(len / 3) bytes). */
export function base64(p: usize, len: u32, out: usize): void {
  for (let i: u32 = 0; i < len; i += 3, out += 4) {
    let n = len - i;
    let v = (<u32>load<u8>(p + i) << 16) | (n > 1 ? <u32>load<u8>(p + i + 1) << 8 : 0) | (n > 2 ? <u32>load<u8>(p + i + 2) : 0);
    store<u8>(out, digit(v >> 18));
    store<u8>(out + 1, digit((v >> 12) & 63));
    store<u8>(out + 2, n > 1 ? digit((v >> 6) & 63) : 61);
    store<u8>(out + 3, n > 2 ? digit(v & 63) : 61);
  }
}
