// MQTT 5 property and reason-code tables shared by the decoder and encoder.
import { Err } from "../abi";

import { CF_PASSWORD, CF_USERNAME, CF_WILL, CF_WILL_RETAIN, P_SUBSCRIPTION_IDENTIFIER, P_USER_PROPERTY, PUBLISH } from "./packet";

// Value kinds (low 3 bits of a table entry).
export const K_BYTE: u32 = 1; // 0 or 1
export const K_U16: u32 = 2;
export const K_U32: u32 = 3;
export const K_VARINT: u32 = 4;
export const K_STR: u32 = 5;
export const K_BIN: u32 = 6;
export const K_PAIR: u32 = 7;
export const K_NONZERO: u32 = 0x10; // 0 is a protocol error
export const K_TOPIC: u32 = 0x20; // must be a valid topic name

export const PROP_LIMIT: u32 = 0x2b;
// Entry per property id: kind in bits 0..7, allowed packet types in bits 8..23
// (bit 8 + type; bit 8 itself = will properties).
const PROP_TABLE = memory.data<u8>([ // 3 bytes each (little-endian): no entry needs a fourth
  0, 0, 0, 1, 9, 0, 3, 9, 0, 5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  37, 9, 0, 6, 9, 0, 0, 0, 0, 20, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 3, 6, 64, 5, 4, 0, 2, 4, 0, 0, 0, 0, 5, 6, 128, 6, 6, 128, 1, 2, 0,
  3, 1, 0, 1, 2, 0, 5, 4, 0, 0, 0, 0, 5, 4, 64, 0, 0, 0, 0, 0, 0, 5, 244, 202,
  0, 0, 0, 18, 6, 0, 2, 6, 0, 18, 8, 0, 1, 4, 0, 1, 4, 0, 7, 255, 207, 19, 6, 0,
  1, 4, 0, 1, 4, 0, 1, 4, 0,
]);

/** Packet type code for will properties in the allowed-types mask. */
export const WILL_PROPS: u32 = 0;

/** Kind bits of property `id` if allowed in `type`, else -Err (Unknown/Forbidden). */
export function propKind(id: u32, type: u32): i32 {
  if (id >= PROP_LIMIT) return -Err.UnknownProperty;
  let e = load<u32>(PROP_TABLE + <usize>id * 3) & 0xffffff; // the last entry's 4th byte lies past the table
  if (!e) return -Err.UnknownProperty;
  if (!((e >> (8 + type)) & 1)) return -Err.ForbiddenProperty;
  return <i32>(e & 0xff);
}

/** Marks `id` seen in `seen`; returns the new mask, or 0 when it is a forbidden repeat. */
@inline export function markSeen(seen: u64, id: u32, type: u32): u64 {
  let bit = <u64>1 << id;
  if (seen & bit && id != P_USER_PROPERTY && !(id == P_SUBSCRIPTION_IDENTIFIER && type == PUBLISH)) return 0;
  return seen | bit;
}

/**
 * Whether `code` is a valid reason code for `type` (CONNACK, PUBACK..PUBCOMP,
 * SUBACK, UNSUBACK, DISCONNECT, AUTH) in MQTT 5, or a valid CONNACK / SUBACK
 * return code in 3.1.1.
 */
export function validReason(type: u32, code: u32, v5: bool): bool {
  if (!v5) return type == 2 ? code <= 5 : code <= 2 || code == 0x80;
  // Allowed codes: bit n of lo = code n (0..31), bit n of hi = code 0x80 + n.
  let lo: u32 = 0x3000001; // AUTH
  let hi: u64 = 0;
  if (type == 2) { hi = 0xbea117ff; lo = 1; } // CONNACK
  else if (type <= 5) { hi = 0x2830089; lo = 0x10001; } // PUBACK, PUBREC
  else if (type <= 7) { hi = 0x40000; lo = 1; } // PUBREL, PUBCOMP
  else if (type == 9) { hi = 0x640828089; lo = 7; } // SUBACK
  else if (type == 11) { hi = 0x28089; lo = 0x20001; } // UNSUBACK
  else if (type == 14) { hi = 0x7fff9ea8f; lo = 0x11; } // DISCONNECT
  if (code < 32) return ((lo >> code) & 1) != 0;
  return code >= 0x80 && code < 0xc0 && ((hi >> (code - 0x80)) & 1) != 0;
}

/** CONNECT flags: 0 or -Err (InvalidConnectFlags, InvalidQos for will QoS 3). */
export function checkConnectFlags(f: u32, v5: bool): i32 {
  let willQos = (f >> 3) & 3;
  if (f & 1 || f > 0xff || (!(f & CF_WILL) && (willQos || f & CF_WILL_RETAIN))) return -Err.InvalidConnectFlags;
  if (!v5 && f & CF_PASSWORD && !(f & CF_USERNAME)) return -Err.InvalidConnectFlags;
  return willQos == 3 ? -Err.InvalidQos : 0;
}

/** SUBSCRIBE options byte: 0 or -Err (ReservedFlags incl. Retain Handling 3, InvalidQos). */
export function checkSubOptions(o: u32, v5: bool): i32 {
  if (o & (v5 ? 0xffffffc0 : 0xfffffffc) || (o & 0x30) == 0x30) return -Err.ReservedFlags;
  return (o & 3) == 3 ? -Err.InvalidQos : 0;
}

/** Fixed-header flags each packet type carries (PUBLISH's are its own). */
export function requiredFlags(type: u32): u32 {
  return ((0x540 >> type) & 1) << 1; // 2 for PUBREL, SUBSCRIBE, UNSUBSCRIBE (bits 6, 8, 10)
}
