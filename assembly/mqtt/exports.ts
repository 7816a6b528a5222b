// Codec exports (assembly/ABI.md, "Codec"): one stream decoder, one packet view
// and one encode buffer per module instance, for hosts that use the codec alone.
import { Err } from "../errors";
import { decodePacket } from "./decode";
import { encodePacket } from "./encode";
import { VIEW_BYTES } from "./packet";
import { Framer } from "./stream";
import { topicMatches, validateTopicFilter, validateTopicName } from "./topic";

export function abi_version(): u32 {
  return 1;
}

let framer: Framer | null = null;
let view: usize = 0;
let scratch: usize = 0;
let scratchCap: u32 = 0;
let out: usize = 0;
let outCap: u32 = 0;

/**
 * Allocates the codec's buffers: stream input (inputCap), packet assembly
 * (maxPacket), and encode scratch + output (scratchCap each). Returns the view.
 */
export function codec_init(inputCap: u32, maxPacket: u32, bufCap: u32): usize {
  if (view) return -Err.AlreadyInitialized;
  framer = new Framer(inputCap, maxPacket);
  view = heap.alloc(VIEW_BYTES);
  codec_grow(bufCap);
  return view;
}

/** Replaces scratch and output with larger ones (host convenience for big packets; the old ones are not reused). */
export function codec_grow(bufCap: u32): void {
  scratch = heap.alloc(bufCap);
  out = heap.alloc(bufCap);
  scratchCap = outCap = bufCap;
}

export function codec_view(): usize {
  return view;
}
export function codec_input(): usize {
  return framer!.inputPtr();
}
export function codec_input_cap(): u32 {
  return framer!.inputCap();
}
export function codec_scratch(): usize {
  return scratch;
}
export function codec_buf_cap(): u32 {
  return scratchCap;
}
export function codec_out(): usize {
  return out;
}

/** `len` bytes were written at codec_input(); call after codec_next() returned 0. */
export function codec_push(len: u32): void {
  framer!.push(len);
}

/**
 * Splits off and decodes the next packet into the view: 1 = a packet, 0 = need
 * more input, < 0 = -Err. Any error is sticky until codec_reset().
 */
export function codec_next(version: u32): i32 {
  let f = framer!;
  let r = f.next();
  if (r <= 0) return r;
  r = decodePacket(f.packetPtr(), f.packetLen(), version, view);
  return r ? f.fail(r) : 1;
}

export function codec_reset(): void {
  framer!.reset();
}
export function codec_set_max_packet(n: u32): void {
  framer!.setMaxPacket(n);
}

/** Encodes the view into codec_out(); bytes written or -Err. */
export function codec_encode(): i32 {
  return encodePacket(view, out, outCap);
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
