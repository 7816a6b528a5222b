// The packet view: one fixed struct in linear memory that describes a packet.
// The decoder fills it (pointers into the packet bytes); the encoder reads it
// (pointers into any host- or module-owned bytes). Layout is part of the ABI
// (assembly/ABI.md): every slot is a little-endian u32 at VIEW + 4 * slot.
import { Err, V_ITEM_COUNT, V_PROP_COUNT, V_WILL_PROP_COUNT } from "../abi";
import { MQTT5 } from "../features";

// Packet types (fixed header, high nibble).
export const CONNECT: u32 = 1;
export const CONNACK: u32 = 2;
export const PUBLISH: u32 = 3;
export const PUBACK: u32 = 4;
export const PUBREC: u32 = 5;
export const PUBREL: u32 = 6;
export const PUBCOMP: u32 = 7;
export const SUBSCRIBE: u32 = 8;
export const SUBACK: u32 = 9;
export const UNSUBSCRIBE: u32 = 10;
export const UNSUBACK: u32 = 11;
export const PINGREQ: u32 = 12;
export const PINGRESP: u32 = 13;
export const DISCONNECT: u32 = 14;
export const AUTH: u32 = 15;

// Protocol levels.
export const MQTT_311: u32 = 4;
export const MQTT_5: u32 = 5;

// Scalar slots.
// (ptr, len) pairs.
// Table counts.
export const V_SLOTS: u32 = 32;

// Tables follow the slots. A property entry is 5 u32: id, a, b, c, d.
// Integer property: a = value. String/binary: a = ptr, b = len.
// User property: a/b = key ptr/len, c/d = value ptr/len.
export const PROP_ENTRY_BYTES: u32 = 20;
// Without MQTT 5 (the lean build, features.ts) nothing fills a property table: the views
// hold none (2 x 960 B less linear memory); addProp answers LimitExceeded.
export const MAX_PROPS: u32 = MQTT5 ? 32 : 0;
export const MAX_WILL_PROPS: u32 = MQTT5 ? 16 : 0;
// An item entry is 3 u32: ptr, len, options. SUBSCRIBE: filter + options byte;
// UNSUBSCRIBE: filter; SUBACK/UNSUBACK: options = reason/return code.
export const ITEM_ENTRY_BYTES: u32 = 12;
export const MAX_ITEMS: u32 = 32;

export const PROPS_OFFSET: u32 = V_SLOTS * 4;
export const WILL_PROPS_OFFSET: u32 = PROPS_OFFSET + MAX_PROPS * PROP_ENTRY_BYTES;
export const ITEMS_OFFSET: u32 = WILL_PROPS_OFFSET + MAX_WILL_PROPS * PROP_ENTRY_BYTES;
export const VIEW_BYTES: u32 = ITEMS_OFFSET + MAX_ITEMS * ITEM_ENTRY_BYTES;

// MQTT 5 property identifiers.

// CONNECT flag bits.
export const CF_CLEAN: u32 = 0x02;
export const CF_WILL: u32 = 0x04;
export const CF_WILL_RETAIN: u32 = 0x20;
export const CF_PASSWORD: u32 = 0x40;
export const CF_USERNAME: u32 = 0x80;

// Slot accessors over a view at `view`.
@inline export function getSlot(view: usize, slot: u32): u32 {
  return load<u32>(view + (<usize>slot << 2));
}
@inline export function setSlot(view: usize, slot: u32, value: u32): void {
  store<u32>(view + (<usize>slot << 2), value);
}

// Builders for the encoder's input (used by the client and the host exports).
/** Zeroes the slots and table counts (tables need no clearing: counts bound them). */
export function clearView(view: usize): void {
  memory.fill(view, 0, <usize>PROPS_OFFSET);
}
@inline export function setPair(view: usize, slot: u32, ptr: usize, len: u32): void {
  setSlot(view, slot, <u32>ptr);
  setSlot(view, slot + 1, len);
}
function addEntry(view: usize, countSlot: u32, offset: u32, max: u32, id: u32, a: u32, b: u32, c: u32, d: u32): i32 {
  let n = getSlot(view, countSlot);
  if (n >= max) return -Err.LimitExceeded;
  let e = view + offset + n * PROP_ENTRY_BYTES;
  store<u32>(e, id);
  store<u32>(e, a, 4);
  store<u32>(e, b, 8);
  store<u32>(e, c, 12);
  store<u32>(e, d, 16);
  setSlot(view, countSlot, n + 1);
  return 0;
}
/** Appends a property: integer (a = value), string/binary (a, b = ptr, len) or user property (a..d). 0 or -LimitExceeded. */
export function addProp(view: usize, id: u32, a: u32, b: u32 = 0, c: u32 = 0, d: u32 = 0): i32 {
  return addEntry(view, V_PROP_COUNT, PROPS_OFFSET, MAX_PROPS, id, a, b, c, d);
}
/** Appends a will property (CONNECT). */
export function addWillProp(view: usize, id: u32, a: u32, b: u32 = 0, c: u32 = 0, d: u32 = 0): i32 {
  return addEntry(view, V_WILL_PROP_COUNT, WILL_PROPS_OFFSET, MAX_WILL_PROPS, id, a, b, c, d);
}
/** Appends an item: SUBSCRIBE filter + options, UNSUBSCRIBE filter, or (ptr/len 0) an ack code in `options`. */
export function addItem(view: usize, ptr: usize, len: u32, options: u32): i32 {
  let n = getSlot(view, V_ITEM_COUNT);
  if (n >= MAX_ITEMS) return -Err.LimitExceeded;
  let e = view + ITEMS_OFFSET + n * ITEM_ENTRY_BYTES;
  store<u32>(e, <u32>ptr);
  store<u32>(e, len, 4);
  store<u32>(e, options, 8);
  setSlot(view, V_ITEM_COUNT, n + 1);
  return 0;
}
