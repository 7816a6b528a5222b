// What the device application (assembly/device/app.ts) does over WebSocket, its side of the
// application hooks in assembly/device/transport.ts: a message is the request itself, its reply
// is a text frame, telemetry is a JSON-RPC notification (no topic says what it is), and there
// is no status to publish (the backend sees the socket).
import { Err } from "../abi";

import { clientEventArg } from "../link/events";
import { rpcResponseBuffer, rpcResponseCapacity } from "../rpc/dispatch";
import { dispatch, warnIfDropped } from "../device/app";
import { wsSend } from "./client";
import { W_TELEMETRY_HEAD } from "./text";

/** deliverRequest: the message (a = bytes, b = length) is the request; its reply needs no context (5 bytes, unread). */
export function wsDeliverRequest(now: u32): bool {
  return dispatch(clientEventArg(0), clientEventArg(1), 5, now);
}

/** deliverReply: the response (respLen > 0 bytes in the RPC response buffer) as one text frame. */
export function wsDeliverReply(respLen: i32): void {
  warnIfDropped(wsSend(1, rpcResponseBuffer(), <u32>respLen));
}

/**
 * sendNotification: sends {"jsonrpc":"2.0","method":"telemetry","params":<result>}, built in place around the
 * n-byte result in the RPC response buffer. 0, -BufferFull (no room to wrap it) or wsSend's error.
 */
export function wsSendNotification(n: u32): i32 {
  let head = <u32>load<u16>(W_TELEMETRY_HEAD());
  let buf = rpcResponseBuffer();
  if (n + head + 1 > rpcResponseCapacity()) return -Err.BufferFull;
  memory.copy(buf + head, buf, n);
  memory.copy(buf, W_TELEMETRY_HEAD() + 2, head);
  store<u8>(buf + head + n, 0x7d);
  return wsSend(1, buf, head + 1 + n);
}
