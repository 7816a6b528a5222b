// Client exports (assembly/ABI.md, "Client"): thin wrappers over client.ts. String
// and filter arguments are written by the host at the scratch area first (its address
// is in the block client_init returns, with tx's and the event record's).
import { Err } from "../abi";

import { clientConfig, clientSetString } from "../link/config";
import { clientSeed, linkClosed, linkDeadline, linkOpened, linkPoll, linkRxCap, linkRxPtr, linkRxPush, linkStart, linkStop, linkTxConsume, txLen } from "../link/supervisor";
import { clientInit, clientScratch, clientScratchCap } from "./client";
import { clientOutboxLen, clientPublish } from "./outbox";
import { clientSubscribe, clientUnsubscribe } from "./subscriptions";

// The connection exports go to the supervisor, whichever transport runs (MQTT, or
// WebSocket once device_set key 3 chose it): the hosts drive both the same way.
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
  return linkStart(now);
}
export function client_stop(now: u32): void {
  linkStop(now);
}
export function client_opened(now: u32): i32 {
  return linkOpened(now);
}
export function client_closed(now: u32): void {
  linkClosed(now);
}
export function client_rx_ptr(): usize {
  return linkRxPtr();
}
export function client_rx_cap(): u32 {
  return linkRxCap();
}
export function client_rx_push(len: u32): i32 {
  return linkRxPush(len);
}
export function client_tx_len(): u32 {
  return txLen;
}
export function client_tx_consume(n: u32): void {
  linkTxConsume(n);
}
export function client_poll(now: u32): i32 {
  return linkPoll(now);
}
export function client_deadline(now: u32): u32 {
  return linkDeadline(now);
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
