// The device application over WebSocket: JSON-RPC requests arrive as text frames
// and are answered with text frames; telemetry is a JSON-RPC notification. The
// device exports (assembly/device/exports.ts) come here once device_set key 3
// named a ws:// server; everything else (RPC, pending requests, warnings) is the
// MQTT device's.
import { Err } from "../errors";
import { EV_CLOSE, EV_CONNECTED, EV_MESSAGE, clientEventArg } from "../mqtt/client";
import { rpcBuiltinResult, rpcDispatch, rpcPending, rpcHostCalls, rpcRequestBuffer, rpcRequestCapacity, rpcResponseBuffer, rpcResponseCapacity } from "../rpc/dispatch";
import { EV_RPC_PENDING, deviceContext, deviceEvent, telemetryMs, warnDropped } from "../device/app";
import * as T from "../json/text";
import { wsDeadline, wsInit, wsPoll, wsSend, wsStart, wsStop } from "./client";
import { W_TELEMETRY_HEAD } from "./text";

const WS_CONTEXT: u32 = 5; // an empty reply context (as the MQTT device writes it): replies need no topic here
let online = false;
let telemetryAt: u32 = 0;

export function wsDeviceStart(now: u32): i32 {
  if (!rpcRequestBuffer() || !deviceContext()) return -Err.NotInitialized;
  wsInit();
  wsStart(now);
  return 0;
}

function reply(n: i32): void {
  if (n <= 0) return;
  let r = wsSend(1, rpcResponseBuffer(), <u32>n);
  if (r < 0) warnDropped(r);
}

// {"jsonrpc":"2.0","method":"telemetry","params":<sys.info>}, built around the result in place.
function sendTelemetry(now: u32): void {
  let n = rpcBuiltinResult(T.T_SYS_INFO, now);
  let head = <u32>load<u16>(W_TELEMETRY_HEAD);
  let buf = rpcResponseBuffer();
  if (n <= 0 || <u32>n + head + 1 > rpcResponseCapacity()) return warnDropped(-Err.BufferFull);
  memory.copy(buf + head, buf, n);
  memory.copy(buf, W_TELEMETRY_HEAD + 2, head);
  store<u8>(buf + head + n, 0x7d);
  reply(<i32>(head + 1) + n);
}

// A text or binary message: dispatch it. True when it waits on asynchronous host methods.
function onMessage(ptr: usize, len: u32, now: u32): bool {
  let req = rpcRequestBuffer();
  if (len <= rpcRequestCapacity()) memory.copy(req, ptr, len);
  else req = ptr; // answered "Request too large" at once
  let out = rpcDispatch(req, len, now);
  if (!rpcPending) {
    reply(out);
    return false;
  }
  memory.fill(deviceContext(), 0, WS_CONTEXT);
  let e = deviceEvent();
  store<u32>(e, len);
  store<u32>(e, WS_CONTEXT, 4);
  store<u32>(e, rpcHostCalls, 8);
  return true;
}

/** device_poll over WebSocket: the same events as over MQTT (EV_OPEN, EV_CLOSE, EV_CONNECTED, EV_RPC_PENDING). */
export function wsDevicePoll(now: u32): i32 {
  if (online && telemetryMs && <i32>(now - telemetryAt) >= 0) {
    telemetryAt = now + telemetryMs;
    sendTelemetry(now);
  }
  for (;;) {
    let ev = wsPoll(now);
    if (ev == EV_MESSAGE) {
      if (onMessage(clientEventArg(0), clientEventArg(1), now)) return EV_RPC_PENDING;
      continue;
    }
    if (ev == EV_CONNECTED) {
      online = true;
      telemetryAt = now + telemetryMs;
    } else if (ev == EV_CLOSE) online = false;
    return ev;
  }
}

export function wsDeviceResume(reqLen: u32, now: u32): i32 {
  reply(rpcDispatch(rpcRequestBuffer(), reqLen, now));
  return 0;
}

export function wsDeviceStop(now: u32): void {
  online = false;
  wsStop(now);
}

export function wsDeviceDeadline(now: u32): u32 {
  let d = wsDeadline(now);
  if (online && telemetryMs) {
    let t = <i32>(telemetryAt - now);
    let td: u32 = t < 0 ? 0 : <u32>t;
    if (td < d) d = td;
  }
  return d;
}
