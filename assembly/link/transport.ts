// The transport seam, connection half: what the supervisor (assembly/link/supervisor.ts)
// asks of the protocol that runs over the socket. Each transport implements these hooks
// in its connection file (assembly/mqtt/client.ts: MQTT; assembly/ws/client.ts: WebSocket)
// and the application half (assembly/device/transport.ts) in its application file; a
// third one adds its two files and a branch to each hook of the two halves. The halves
// are two files so that the client alone (bench/size.ts's codec+client set) compiles
// nothing of the device application (its text segments). The choice is made at
// run time (device_set key 3) but folds away at compile time when only one
// transport is built in (assembly/build.ts): the MQTT-only build calls MQTT directly.
//
// Hooks (all called with the supervisor's nowMs set):
//   trStart    client_start: allocate what the transport needs (once).
//   trHello    the socket opened (phase S_CONNECTING, tx empty): write the hello. Bytes or 0, or -Err.
//   trReset    forget what was read of the connection that ends (stop, open).
//   trLost     the connection was lost (EV_CLOSE follows): trReset, and drop what tx holds if the protocol wants.
//   trGoodbye  a clean stop while connected: write the goodbye (DISCONNECT, close 1000).
//   trAbort    a deadline passed: write what tells the peer (if anything); EV_CLOSE's b.
//   trClosedCode  the socket closed under us: EV_CLOSE's b.
//   trPing     the keep-alive is due: write the probe; false when tx is full. Its answer calls pong().
//   trPrepare  a poll step starts (no event waiting): settle the last step's leftovers.
//   trRead     a poll step: parse what was pushed, answer, emit; call connected() once the handshake is done.
//   trRxPtr/trRxCap/trRxPush  where the host writes received bytes, how many now, and that it did.
import { overWebSocket } from "../build";
import * as M from "../mqtt/client";
import * as W from "../ws/client";

@inline export function trStart(): void {
  if (overWebSocket()) W.wsStart();
}
@inline export function trHello(): i32 {
  return overWebSocket() ? W.wsHello() : M.mqttHello();
}
@inline export function trReset(): void {
  if (overWebSocket()) W.wsReset();
  else M.mqttReset();
}
@inline export function trLost(): void {
  if (overWebSocket()) W.wsReset();
  else M.mqttLost();
}
@inline export function trGoodbye(): void {
  if (overWebSocket()) W.wsGoodbye();
  else M.mqttGoodbye();
}
@inline export function trAbort(): u32 {
  return overWebSocket() ? W.wsAbort() : 0;
}
@inline export function trClosedCode(): u32 {
  return overWebSocket() ? 1006 : 0; // WebSocket: "closed abnormally"
}
@inline export function trPing(): bool {
  return overWebSocket() ? W.wsPing() : M.mqttPing();
}
@inline export function trPrepare(): void {
  if (overWebSocket()) W.wsPrepare();
  else M.mqttPrepare();
}
@inline export function trRead(): void {
  if (overWebSocket()) W.wsRead();
  else M.mqttRead();
}
@inline export function trRxPtr(): usize {
  return overWebSocket() ? W.wsRxPtr() : M.mqttRxPtr();
}
@inline export function trRxCap(): u32 {
  return overWebSocket() ? W.wsRxCap() : M.mqttRxCap();
}
@inline export function trRxPush(len: u32): void {
  if (overWebSocket()) W.wsRxPush(len);
  else M.mqttRxPush(len);
}

