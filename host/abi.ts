// Node's side of the module's ABI: the version check and error names. The tables themselves are
// generated from assembly/abi.json into ./abi-table.ts.
import { ABI_VERSION, ERR_NAMES } from "./abi-table.ts";

export { ABI_VERSION, ERR_NAMES };

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

export type ErrName = string;

/** Name of an error code; accepts the negated return value too. */
export function errName(code: number): ErrName {
  return (ERR_NAMES as Record<number, string>)[Math.abs(code)] ?? `Err${Math.abs(code)}`;
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
