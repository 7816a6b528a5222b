// What the device application (assembly/device/app.ts) sends differently over WebSocket:
// telemetry as a JSON-RPC notification, since there is no topic to say what it is.
import { Err } from "../abi";

import { rpcResponseBuffer, rpcResponseCapacity } from "../rpc/dispatch";
import { wsSend } from "./client";
import { W_TELEMETRY_HEAD } from "./text";

/**
 * Sends {"jsonrpc":"2.0","method":"telemetry","params":<result>}, built in place around the
 * n-byte result in the RPC response buffer. 0, -BufferFull (no room to wrap it) or wsSend's error.
 */
export function wsNotification(n: u32): i32 {
  let head = <u32>load<u16>(W_TELEMETRY_HEAD());
  let buf = rpcResponseBuffer();
  if (n + head + 1 > rpcResponseCapacity()) return -Err.BufferFull;
  memory.copy(buf + head, buf, n);
  memory.copy(buf, W_TELEMETRY_HEAD() + 2, head);
  store<u8>(buf + head + n, 0x7d);
  return wsSend(1, buf, head + 1 + n);
}
