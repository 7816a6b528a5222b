// A dial-up modem for the STM32 link, on loopback: QEMU's USART1 chardev connects here, the firmware sends
// "ATD<host>:<port>\r", the modem dials that TCP port and answers "CONNECT" (then moves bytes both ways) or
// "NO CARRIER". When the far end hangs up, so does the modem (it closes QEMU's socket; QEMU redials it). Stands in
// for the network co-processor or cellular modem of a real board, which the project cannot reach.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface Modem {
  port: number;
  /** Every host:port the firmware dialed, in order. */
  dialed: string[];
  close(): Promise<void>;
}

const ATD = /ATD([^\r\n:]+):(\d+)\r/;
/** Bytes before a dial command that are not one (a session's leftovers written while the line was down). */
const MAX_LINE = 512;

/** How the modem answers one dial: as a modem does, or not at all, or with noise before NO CARRIER. */
export type DialAnswer = "dial" | "silent" | "noise";

export async function startModem(answer: (target: string, attempt: number) => DialAnswer = () => "dial"): Promise<Modem> {
  const dialed: string[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => {});
    return s;
  };
  const server: Server = createServer((line) => {
    track(line);
    let pending = Buffer.alloc(0);
    const onCommand = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const m = ATD.exec(pending.toString("latin1"));
      if (!m) {
        if (pending.length > MAX_LINE) pending = pending.subarray(pending.length - MAX_LINE);
        return;
      }
      line.off("data", onCommand);
      const after = pending.subarray(m.index + m[0].length);
      pending = Buffer.alloc(0);
      const target = `${m[1]}:${m[2]}`;
      dialed.push(target);
      const how = answer(target, dialed.length);
      if (how !== "dial") {
        // Silent: the firmware's dial timeout ends the attempt. Noise: a line too long for its reply buffer, stray
        // words and a bare CR, then the refusal.
        if (how === "noise") line.write(`\r\n${"RING ".repeat(60)}\r\nOK\r\n\rCONNEC\r\nNO CARRIER\r\n`);
        line.on("data", onCommand);
        return;
      }
      const far = track(connect(Number(m[2]), m[1]));
      far.setNoDelay(true);
      let connected = false;
      far.once("connect", () => {
        connected = true;
        line.write("\r\nCONNECT\r\n");
        if (after.length) far.write(after);
        line.pipe(far);
        far.pipe(line);
        far.once("close", () => line.destroy()); // the far end hung up: so does the line
      });
      far.once("error", () => {
        if (!connected) {
          line.write("\r\nNO CARRIER\r\n");
          line.on("data", onCommand); // the firmware dials again on the same line
        }
      });
    };
    line.setNoDelay(true);
    line.on("data", onCommand);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    dialed,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
