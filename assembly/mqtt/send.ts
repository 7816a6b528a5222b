// What the MQTT client writes to the supervisor's tx buffer: encoded views,
// two-byte packets and acks; and the two views it decodes into and encodes from.
import { lastSend, nowMs, tx, txCap, txLen } from "../link/supervisor";
import { put16be } from "../mem";
import { encodePacket } from "./encode";
import { PUBREL, VIEW_BYTES } from "./packet";

export const ACK_BYTES: u32 = 4; // the most one inbound packet makes us write

// The inbound packet's view and the one the client (or the device layer) encodes from.
export const rxView = memory.data(VIEW_BYTES * 2);
export const txView = rxView + VIEW_BYTES;

/** The protocol level of the connection (its CONNECT's). */
export let version: u32 = 4;

/** A view the device layer may fill for clientPublishView. */
export function clientTxView(): usize {
  return txView;
}

/** Encodes txView at the end of tx. Bytes written or -Err. */
export function send(): i32 {
  let n = encodePacket(txView, tx + txLen, txCap - txLen);
  if (n > 0) {
    txLen += <u32>n;
    lastSend = nowMs;
  }
  return n;
}

/** A packet of two bytes (b0, remaining length 0) to tx; false when tx is full. */
export function put2(b0: u32): bool {
  if (txCap - txLen < 2) return false;
  store<u16>(tx + txLen, <u16>b0);
  txLen += 2;
  return true;
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP for `pid`; the caller made sure ACK_BYTES fit. */
export function writeAck(type: u32, pid: u32): void {
  let p = tx + txLen;
  store<u8>(p, <u8>((type << 4) | (<u32>(type == PUBREL) << 1)));
  store<u8>(p + 1, 2);
  put16be(p + 2, pid);
  txLen += ACK_BYTES;
  lastSend = nowMs;
}
