// MQTT 5 property and reason-code tables shared by the decoder and encoder.
import { PROP_LIMIT, PROP_TABLE, P_SUBSCRIPTION_IDENTIFIER, P_USER_PROPERTY, REASONS_AUTH_HI, REASONS_AUTH_LO, REASONS_CONNACK_HI, REASONS_CONNACK_LO, REASONS_DISCONNECT_HI, REASONS_DISCONNECT_LO, REASONS_PUBACK_HI, REASONS_PUBACK_LO, REASONS_PUBREL_HI, REASONS_PUBREL_LO, REASONS_SUBACK_HI, REASONS_SUBACK_LO, REASONS_UNSUBACK_HI, REASONS_UNSUBACK_LO } from "./property-table";
import { Err } from "../abi";

import { CF_PASSWORD, CF_USERNAME, CF_WILL, CF_WILL_RETAIN, PUBLISH } from "./packet";

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
  let lo = REASONS_AUTH_LO;
  let hi = REASONS_AUTH_HI;
  if (type == 2) { hi = REASONS_CONNACK_HI; lo = REASONS_CONNACK_LO; }
  else if (type <= 5) { hi = REASONS_PUBACK_HI; lo = REASONS_PUBACK_LO; } // PUBACK, PUBREC
  else if (type <= 7) { hi = REASONS_PUBREL_HI; lo = REASONS_PUBREL_LO; } // PUBREL, PUBCOMP
  else if (type == 9) { hi = REASONS_SUBACK_HI; lo = REASONS_SUBACK_LO; }
  else if (type == 11) { hi = REASONS_UNSUBACK_HI; lo = REASONS_UNSUBACK_LO; }
  else if (type == 14) { hi = REASONS_DISCONNECT_HI; lo = REASONS_DISCONNECT_LO; }
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
