// Node's copy of the module's error table (assembly/errors.ts, enum Err), and the ABI version it implements.
// test/codec.abi.test.ts parses that file and checks the two agree.

/** The version of assembly/ABI.md these hosts implement (the module's `abi_version`). */
export const ABI_VERSION = 2;

export class AbiMismatch extends Error {
  override name = "AbiMismatch";
}

/** Throws AbiMismatch unless the module's `abi_version` export returns ABI_VERSION. */
export function checkAbiVersion(exports: Record<string, unknown>): void {
  const version = typeof exports.abi_version === "function" ? (exports.abi_version as () => number)() : undefined;
  if (version !== ABI_VERSION)
    throw new AbiMismatch(
      `the module implements ABI version ${version ?? "(none: no abi_version export)"}, this host implements ${ABI_VERSION} (assembly/ABI.md)`,
    );
}

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
  29: "BadCredentials",
  30: "NotAuthorized",
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

/** The gateway's own close codes (private-use range): a newer connection with the same device id, a deleted device. */
export const WS_CLOSE_REPLACED = 4000;
export const WS_CLOSE_REMOVED = 4001;

/** WebSocket close codes (RFC 6455 section 7.4.1, the IANA registry, and the gateway's): EV_CLOSE's b over WebSocket. */
export const WS_CLOSE_NAMES: Readonly<Record<number, string>> = {
  1000: "NormalClosure",
  1001: "GoingAway",
  1002: "ProtocolError",
  1003: "UnsupportedData",
  1005: "NoStatusReceived",
  1006: "AbnormalClosure",
  1007: "InvalidPayloadData",
  1008: "PolicyViolation",
  1009: "MessageTooBig",
  1010: "MandatoryExtension",
  1011: "InternalError",
  1012: "ServiceRestart",
  1013: "TryAgainLater",
  1014: "BadGateway",
  [WS_CLOSE_REPLACED]: "ReplacedByNewerConnection",
  [WS_CLOSE_REMOVED]: "DeviceRemoved",
};

/** Name of a WebSocket close code; other 3000-4999 codes are the server application's own. */
export function wsCloseName(code: number): string {
  return WS_CLOSE_NAMES[code] ?? (code >= 3000 && code <= 4999 ? `Application${code}` : `Close${code}`);
}
