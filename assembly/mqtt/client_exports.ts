// Client exports (assembly/ABI.md, "Client"): thin wrappers over client.ts. String
// and filter arguments are written by the host at the scratch area first (its address
// is in the block client_init returns, with tx's and the event record's).
import { Err } from "../abi";

import { clientConfig, clientDeadline, clientInit, clientOpened, clientClosed, clientOutboxLen, clientPoll, clientPublish, clientRxCap, clientRxPtr, clientRxPush, clientScratch, clientScratchCap, clientSeed, clientSetString, clientStart, clientStop, clientSubscribe, clientTxConsume, clientTxLen, clientUnsubscribe } from "./client";
// Over WebSocket (device_set key 3) the same socket exports move the WebSocket client's bytes.
// Its frames go out through the MQTT client's tx buffer, so the tx exports need no switch.
import { wsClosed, wsOpened, wsRxCap, wsRxPtr, wsRxPush } from "../ws/client";
import { overWebSocket } from "../build";

export function client_config(key: u32, value: u32): i32 {
  return clientConfig(key, value);
}
export function client_seed(seed: u32): void {
  clientSeed(seed);
}
export function client_init(): i32 {
  return clientInit();
}
export function client_set_str(key: u32, len: u32): i32 {
  return len > clientScratchCap() ? -Err.BufferFull : clientSetString(key, clientScratch(), len);
}
export function client_start(now: u32): i32 {
  return clientStart(now);
}
export function client_stop(now: u32): void {
  clientStop(now);
}
export function client_opened(now: u32): i32 {
  return overWebSocket() ? wsOpened(now) : clientOpened(now);
}
export function client_closed(now: u32): void {
  if (overWebSocket()) wsClosed(now);
  else clientClosed(now);
}
export function client_rx_ptr(): usize {
  return overWebSocket() ? wsRxPtr() : clientRxPtr();
}
export function client_rx_cap(): u32 {
  return overWebSocket() ? wsRxCap() : clientRxCap();
}
export function client_rx_push(len: u32): i32 {
  return overWebSocket() ? wsRxPush(len) : clientRxPush(len);
}
export function client_tx_len(): u32 {
  return clientTxLen();
}
export function client_tx_consume(n: u32): void {
  clientTxConsume(n);
}
export function client_poll(now: u32): i32 {
  return clientPoll(now);
}
export function client_deadline(now: u32): u32 {
  return clientDeadline(now);
}
/** Topic at scratch, payload right after it. */
export function client_publish(topicLen: u32, payloadLen: u32, qos: u32, retain: u32): i32 {
  let s = clientScratch();
  if (topicLen + payloadLen > clientScratchCap()) return -Err.BufferFull;
  return clientPublish(s, topicLen, s + topicLen, payloadLen, qos, retain != 0);
}
export function client_subscribe(len: u32, options: u32): i32 {
  return clientSubscribe(clientScratch(), len, options);
}
export function client_unsubscribe(len: u32): i32 {
  return clientUnsubscribe(clientScratch(), len);
}
export function client_outbox_len(): u32 {
  return clientOutboxLen();
}
