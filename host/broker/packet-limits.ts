// Size limits on what a client may make the embedded broker buffer. aedes collects a packet whole before it looks
// at it, so a fixed header declaring 256 MB would be buffered for as long as the client keeps sending. The limit is
// checked as soon as the fixed header is read (by aedes's own parser, so no byte is framed twice): before login a
// CONNECT's size, after it a device's packet size; an oversize packet closes that one connection.
import type { Client } from "aedes";

/** Before login a client sends a CONNECT: id, username, password, will (small; MQTT 5 properties included). */
export const MAX_PACKET_BEFORE_LOGIN = 64 * 1024;
/** A logged-in device's packet: a response to a request of at most the REST body limit (64 KiB), with room to spare. */
export const MAX_DEVICE_PACKET = 128 * 1024;
/** A retained message (or will) of a device: its status. A device may retain on three topics, so at most 3 KiB. */
export const MAX_DEVICE_RETAINED = 1024;

export class PacketTooLarge extends Error {
  override name = "PacketTooLarge";
}

/** The whole packet's size from its remaining length: the first byte, the length's own 1-4 bytes, the rest. */
export function packetSize(remainingLength: number): number {
  const lengthBytes = remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : remainingLength < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remainingLength;
}

/** mqtt-packet's parser as aedes holds it (Client#_parser): the state step that has just read the remaining length. */
interface PacketParser {
  packet: { cmd?: string; length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Makes `client`'s parser refuse, with PacketTooLarge, a packet larger than `limit()` bytes (asked per packet, as
 * the limit changes at login), before any of its body is kept. The error closes the connection (aedes's own
 * parser-error path: its 'connectionError' or 'clientError' event).
 */
export function limitPacketSize(client: Client, limit: () => number): void {
  const parser = (client as unknown as { _parser?: PacketParser })._parser;
  if (typeof parser?._parseLength !== "function" || typeof parser._emitError !== "function")
    throw new Error("aedes's packet parser has changed: packet size limits cannot be applied"); // fail loudly on an upgrade
  const readLength = parser._parseLength;
  parser._parseLength = function checkedLength(this: PacketParser): boolean {
    if (!readLength.call(this)) return false; // the length is not all here yet
    const size = packetSize(this.packet.length);
    const max = limit();
    if (size <= max) return true;
    this._emitError(new PacketTooLarge(`${this.packet.cmd ?? "packet"} of ${size} bytes refused: at most ${max} bytes here`));
    return false;
  };
}
