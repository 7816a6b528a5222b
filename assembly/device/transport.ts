// The transport seam, application half: what the device application (assembly/device/app.ts)
// asks of the transport, so that the app has no transport branch. The connection half, and
// how a transport is added, are in assembly/link/transport.ts; each hook here has a branch
// per transport, folded away at compile time when one is built in (assembly/build.ts).
// MQTT's side is assembly/device/over-mqtt.ts, WebSocket's assembly/ws/device.ts.
//
// Hooks:
//   trDeliverRequest  EV_MESSAGE (or EV_TOO_LARGE: `cut`) arrived: dispatch the request in it
//                     (app.ts dispatch() with its reply context). True if left pending for the host.
//   trDeliverReply    send the response (respLen > 0 bytes in the RPC response buffer).
//   trSendNotification  send telemetry (n bytes of sys.info's result there). 0 or -Err.
//   trPublishOffline  a clean stop while online: say so before the goodbye (if the transport can).
import { overWebSocket } from "../build";
import * as MD from "./over-mqtt";
import * as WD from "../ws/device";

@inline export function trDeliverRequest(now: u32, cut: bool): bool {
  return overWebSocket() ? WD.wsDeliverRequest(now) : MD.mqttDeliverRequest(now, cut);
}
@inline export function trDeliverReply(respLen: i32): void {
  if (overWebSocket()) WD.wsDeliverReply(respLen);
  else MD.mqttDeliverReply(respLen);
}
@inline export function trSendNotification(n: u32): i32 {
  return overWebSocket() ? WD.wsSendNotification(n) : MD.mqttSendNotification(n);
}
@inline export function trPublishOffline(now: u32): void {
  if (!overWebSocket()) MD.mqttPublishOffline(now);
}
