// A stranger that declares a 256 MB CONNECT and then streams its body, 1 MiB at a time, until the broker
// hangs up (or 64 MiB went: then the broker buffered them all). Resolves with the bytes it got to send.
import { connect } from "node:net";

export const HUGE_BODY_CAP = 64 << 20;

export async function sendHugeConnect(port: number): Promise<number> {
  const socket = connect(port, "127.0.0.1");
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {}); // EPIPE/ECONNRESET once the broker has closed it
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])); // CONNECT, remaining length 268,435,455
  const chunk = Buffer.alloc(1 << 20, 0x61);
  let sent = 0;
  while (!socket.destroyed && sent < HUGE_BODY_CAP) {
    sent += chunk.length;
    if (!socket.write(chunk)) await new Promise((r) => (socket.once("drain", r), socket.once("close", r)));
  }
  socket.destroy();
  await closed;
  return sent;
}
