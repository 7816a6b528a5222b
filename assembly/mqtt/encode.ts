// Encodes the packet the view describes.
import { Err } from "../errors";

/** Writes the packet into [out, out+cap). Bytes written or -Err (BufferFull). */
export function encodePacket(view: usize, out: usize, cap: u32): i32 {
  return -Err.BufferFull;
}
