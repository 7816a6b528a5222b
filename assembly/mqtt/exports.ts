// Codec exports (assembly/ABI.md, "Codec"): one stream decoder, one packet view
// and one encode buffer pair per module instance, for hosts that use the codec alone.
import { Err } from "../abi";
import { ABI_VERSION } from "../abi";

import { alloc, tryAlloc } from "../mem";
import { decodePacket } from "./decode";
import { encodePacket } from "./encode";
import { VIEW_BYTES } from "./packet";
import { Framer } from "./stream";
import { topicMatches, validateTopicFilter, validateTopicName } from "./topic";

/** assembly/ABI.md's version; a host refuses a module whose version is not the one it implements. */
export function abi_version(): u32 {
  return ABI_VERSION;
}

let framer: Framer | null = null;
// The codec info block (6 x u32, ABI.md): view, input, inputCap, scratch, out, bufCap.
const INFO = memory.data(24);

/**
 * Allocates the codec's buffers: stream input (inputCap), packet assembly
 * (maxPacket), encode scratch and output (bufCap each). Returns the info block.
 */
export function codec_init(inputCap: u32, maxPacket: u32, bufCap: u32): i32 {
  if (framer) return -Err.AlreadyInitialized;
  let f = changetype<Framer>(alloc(offsetof<Framer>()));
  f.init(inputCap, maxPacket);
  framer = f;
  store<u32>(INFO, <u32>alloc(VIEW_BYTES));
  store<u32>(INFO, <u32>f.inputPtr(), 4);
  store<u32>(INFO, inputCap, 8);
  codec_grow(bufCap);
  return <i32>INFO;
}

/**
 * New, larger scratch and output buffers (host convenience for big packets; the old
 * ones are not reused). 0, keeping the old ones, when memory cannot grow; else 1.
 */
export function codec_grow(bufCap: u32): u32 {
  let s = tryAlloc(bufCap);
  let o = s ? tryAlloc(bufCap) : 0;
  if (!o) return 0;
  store<u32>(INFO, <u32>s, 12);
  store<u32>(INFO, <u32>o, 16);
  store<u32>(INFO, bufCap, 20);
  return 1;
}

/** `len` bytes were written at the input buffer; call after codec_next() returned 0. */
export function codec_push(len: u32): void {
  if (framer) framer!.push(len);
}

/**
 * Splits off and decodes the next packet into the view: 1 = a packet, 0 = need
 * more input, < 0 = -Err. Any error is sticky until codec_reset().
 */
export function codec_next(version: u32): i32 {
  let f = framer;
  if (!f) return -Err.NotInitialized;
  let r = f.next();
  if (r <= 0) return r;
  r = decodePacket(f.packetPtr(), f.packetLen(), version, load<u32>(INFO));
  return r ? f.fail(r) : 1;
}

// What the splitter holds between pushes (3 x u32, ABI.md): ptr, len, need.
const HELD = memory.data(12);

/**
 * The bytes the splitter holds for a packet that spans pushes (call after codec_next
 * returned 0): a host that runs many streams on one instance keeps them per stream.
 */
export function codec_held(): usize {
  let f = framer;
  if (!f) return 0;
  store<u32>(HELD, <u32>f.heldPtr());
  store<u32>(HELD, f.heldLen(), 4);
  store<u32>(HELD, f.heldNeed(), 8);
  return HELD;
}

export function codec_reset(): void {
  if (framer) framer!.reset();
}
export function codec_set_max_packet(n: u32): void {
  if (framer) framer!.setMaxPacket(n);
}

/** Encodes the view into the output buffer; bytes written or -Err. */
export function codec_encode(): i32 {
  if (!framer) return -Err.NotInitialized;
  return encodePacket(load<u32>(INFO), load<u32>(INFO, 16), load<u32>(INFO, 20));
}

/** Topic checks over bytes the host wrote into the scratch buffer. */
export function topic_validate_name(ptr: usize, len: u32): i32 {
  return validateTopicName(ptr, len);
}
export function topic_validate_filter(ptr: usize, len: u32): i32 {
  return validateTopicFilter(ptr, len);
}
export function topic_matches(filterPtr: usize, filterLen: u32, topicPtr: usize, topicLen: u32): bool {
  return topicMatches(filterPtr, filterLen, topicPtr, topicLen);
}
