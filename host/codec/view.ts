// The packet view as the host sees it (assembly/abi.json, viewSlots; assembly/ABI.md,
// "Packet view"): slot numbers, the property and item tables after the 32 slots,
// CONNECT flags, packet type names and the property table by id and by name.
// Shared by the reader (reader.ts) and the writer (writer.ts).
import { View } from "../abi-table.ts";
import { PROPERTY_LIST, type PropertyKind } from "./property-table.ts";
import type { Cmd } from "./types.ts";

export const CMDS: Cmd[] = [
  "reserved" as Cmd,
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  "auth",
];
export const CMD_CODE: Record<string, number> = Object.fromEntries(CMDS.map((c, i) => [c, i]));

// Packet view layout (assembly/abi.json, viewSlots); the property and item tables follow its 32 slots.
export const {
  type: V_TYPE,
  flags: V_FLAGS,
  version: V_VERSION,
  packetId: V_PACKET_ID,
  qos: V_QOS,
  dup: V_DUP,
  retain: V_RETAIN,
  reason: V_REASON,
  sessionPresent: V_SESSION_PRESENT,
  keepalive: V_KEEPALIVE,
  connectFlags: V_CONNECT_FLAGS,
  topic: V_TOPIC,
  payload: V_PAYLOAD,
  clientId: V_CLIENT_ID,
  willTopic: V_WILL_TOPIC,
  willPayload: V_WILL_PAYLOAD,
  username: V_USERNAME,
  password: V_PASSWORD,
  protocolName: V_PROTOCOL_NAME,
  propCount: V_PROP_COUNT,
  willPropCount: V_WILL_PROP_COUNT,
  itemCount: V_ITEM_COUNT,
  length: V_LENGTH,
} = View;
export const V_SLOTS = 32;
export const PROPS = V_SLOTS,
  WILL_PROPS = PROPS + 32 * 5,
  ITEMS = WILL_PROPS + 16 * 5; // in u32 words
export const MAX_PROPS = 32,
  MAX_WILL_PROPS = 16,
  MAX_ITEMS = 32;
export const CF_CLEAN = 0x02,
  CF_WILL = 0x04,
  CF_WILL_RETAIN = 0x20,
  CF_PASSWORD = 0x40,
  CF_USERNAME = 0x80;

export type Kind = PropertyKind;
export const PROP_BY_ID: ([string, Kind] | undefined)[] = [];
export const PROP_BY_NAME = new Map<string, [number, Kind]>();
for (const [name, id, kind] of PROPERTY_LIST) {
  PROP_BY_ID[id] = [name, kind];
  PROP_BY_NAME.set(name, [id, kind]);
}

export const utf8Encoder = new TextEncoder();
