// Node's copy of the module's error table (assembly/errors.ts, enum Err).
// test/codec.abi.test.ts parses that file and checks the two agree.

export const ERR_NAMES: Readonly<Record<number, string>> = {
  1: "MalformedRemainingLength",
  2: "PacketTooLarge",
  3: "Truncated",
  4: "TrailingBytes",
  5: "UnknownPacketType",
  6: "ReservedFlags",
  7: "InvalidUtf8",
  8: "NullCharacter",
  9: "WildcardInTopic",
  10: "InvalidQos",
  11: "ZeroPacketId",
  12: "EmptySubscription",
  13: "DuplicateProperty",
  14: "ForbiddenProperty",
  15: "UnknownProperty",
  16: "InvalidPropertyValue",
  17: "InvalidProtocol",
  18: "InvalidReasonCode",
  19: "InvalidTopic",
  20: "InvalidConnectFlags",
  21: "LimitExceeded",
  22: "BufferFull",
  23: "ProtocolViolation",
  24: "NotConnected",
  25: "OutboxFull",
  26: "InflightFull",
  27: "KeepAliveTimeout",
  28: "ConnectionRefused",
  40: "NotInitialized",
  41: "AlreadyInitialized",
  50: "WsHandshakeRejected",
  51: "WsBadHandshake",
  52: "WsBadAccept",
  53: "WsMaskedFrame",
  54: "WsFrameTooLarge",
  55: "WsBadOpcode",
  56: "WsReservedBits",
  57: "WsBadControlFrame",
  58: "WsBadContinuation",
  59: "WsBadCloseCode",
  60: "WsClosed",
};

export type ErrName = string;

/** Name of an error code; accepts the negated return value too. */
export function errName(code: number): ErrName {
  return ERR_NAMES[Math.abs(code)] ?? `Err${Math.abs(code)}`;
}

/** Code of an error name (the inverse of errName). */
export function errCode(name: string): number {
  for (const [code, n] of Object.entries(ERR_NAMES)) if (n === name) return Number(code);
  throw new RangeError(`unknown error name ${name}`);
}
