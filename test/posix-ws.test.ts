// The native device over WebSocket (--url ws://...): the module's RFC 6455 client,
// the same TCP shim (boards/common/net_bsd.c) as MQTT, against the `ws` library's server.
import { spawn } from "node:child_process";
import type { IncomingMessage } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";

const program = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));

describe("outpost-device over WebSocket", () => {
  let server: WebSocketServer;
  let port: number;
  const connections: { socket: WebSocket; request: IncomingMessage }[] = [];
  const arrived: Array<() => void> = [];

  beforeAll(async () => {
    server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    port = (server.address() as { port: number }).port;
    server.on("connection", (socket, request) => {
      connections.push({ socket, request });
      arrived.shift()?.();
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("upgrades with its credentials, answers JSON-RPC text frames, and closes cleanly on SIGTERM", async () => {
    const connected = new Promise<void>((resolve) => arrived.push(resolve));
    const device = spawn(program, ["--id", "ws-dev", "--url", `ws://127.0.0.1:${port}/api/v1/devices/ws`, "--password", "s3cret"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    device.stderr!.on("data", (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => device.once("exit", (code) => resolve(code)));
    try {
      await connected;
      const { socket, request } = connections[0];
      expect(request.url).toBe("/api/v1/devices/ws");
      expect(request.headers.authorization).toBe("Bearer ws-dev:s3cret");
      const replies: string[] = [];
      const two = new Promise<void>((resolve) =>
        socket.on("message", (data, isBinary) => {
          expect(isBinary).toBe(false);
          replies.push(String(data));
          if (replies.filter((r) => r.includes('"id"')).length === 2) resolve();
        }),
      );
      socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "gpio.write", params: [7, 1] }));
      socket.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "gpio.read", params: { pin: 7 } }));
      await two;
      const answers = replies.filter((r) => r.includes('"id"')).map((r) => JSON.parse(r));
      expect(answers).toEqual([
        { jsonrpc: "2.0", result: true, id: 1 },
        { jsonrpc: "2.0", result: 1, id: 2 },
      ]);
      const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
      device.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(await closed).toBe(1000);
    } finally {
      if (device.exitCode === null) device.kill("SIGKILL");
    }
  });
});
