// Bring-up of the STM32F405 board layer in QEMU (netduinoplus2) with the echo
// firmware: boot, SysTick, the USART1 ring buffers (including the ring-full
// pause), USART1 as a TCP connection that redials after a drop, and a fault
// that names itself instead of hanging.
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boardDir, bootFirmware, buildFirmware, echoElf, type QemuBoard } from "../boards/stm32/qemu.ts";

let server: Server;
let board: QemuBoard;
const sockets: Socket[] = [];
let nextSocket: ((s: Socket) => void) | undefined;

function accepted(): Promise<Socket> {
  return new Promise((resolve) => (nextSocket = resolve));
}

function echoed(socket: Socket, sent: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= sent.length) socket.off("data", onData), resolve(Buffer.concat(chunks));
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error(`link closed after ${got} of ${sent.length} bytes`)));
    socket.write(sent);
  });
}

beforeAll(async () => {
  buildFirmware("echo");
  server = createServer((s) => {
    sockets.push(s);
    nextSocket?.(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const first = accepted();
  board = bootFirmware({ elf: echoElf, linkPort: (server.address() as { port: number }).port, maxLifetimeMs: 60_000 });
  await first;
  await board.waitForLine(/^echo ready on netduinoplus2 \(QEMU\), 168000000 Hz$/);
});

afterAll(async () => {
  await board?.stop();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server?.close(r));
});

describe("STM32F405 bring-up in QEMU", () => {
  it("boots, reports the emulated board, and echoes 8 KiB through the ring buffers without loss", async () => {
    // 8 KiB arrive while the firmware holds off reading: the 512-byte ring fills,
    // reception pauses and resumes, and every byte still comes back in order.
    const data = randomBytes(8192);
    const back = await echoed(sockets[0]!, data);
    expect(back.equals(data)).toBe(true);
    await board.waitForLine(/^rx pauses [1-9]\d*$/);
  });

  it("redials after the TCP side drops the connection, and bytes flow again", async () => {
    const again = accepted();
    sockets[0]!.destroy();
    const socket = await again;
    const data = randomBytes(1000);
    const back = await echoed(socket, data);
    expect(back.equals(data)).toBe(true);
    expect(board.proc.exitCode).toBe(null);
  });

  it("names a fault on the debug channel and ends the run with exit code 1, never a hang", async () => {
    const faulty = bootFirmware({ elf: `${boardDir}build/fault.elf`, maxLifetimeMs: 30_000 });
    try {
      await faulty.waitForLine(/^FATAL hard fault, CFSR 0x[0-9a-f]{8}$/);
      expect(await faulty.exited).toEqual({ code: 1, signal: null });
    } finally {
      await faulty.stop();
    }
  });
});
