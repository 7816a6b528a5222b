// Decodes one whole MQTT packet into the packet view (assembly/mqtt/packet.ts).
import { Err } from "../errors";

/** Decodes the packet at [ptr, ptr+len) (fixed header included). 0 or -Err. */
export function decodePacket(ptr: usize, len: u32, version: u32, view: usize): i32 {
  return -Err.UnknownPacketType;
}
