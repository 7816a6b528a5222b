// The native POSIX device (boards/posix/build/outpost-device) as a child process, for tests that kill it.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const POSIX_DEVICE = fileURLToPath(new URL("../../boards/posix/build/outpost-device", import.meta.url));

export interface BoardProcess {
  proc: ChildProcess;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: no DISCONNECT, no will sent by the device itself (the broker publishes it when the socket goes). */
  kill(): Promise<void>;
}

export function runBoard(args: string[]): BoardProcess {
  const proc = spawn(POSIX_DEVICE, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    stderr: () => err,
    exited,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}
