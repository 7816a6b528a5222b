// The STM32F405 firmware in QEMU over WebSocket: USART1 is QEMU's TCP connection straight to the backend's
// HTTP port, the module in flash does the upgrade and the framing, and REST calls reach the board's C methods.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootFirmware, buildFirmware, FIRMWARE_ENGINES, firmwareFor, type QemuBoard } from "../boards/stm32/qemu.ts";
import type { Backend } from "../host/server/backend.ts";
import { startTestBackend } from "./support/api.ts";

describe.each(FIRMWARE_ENGINES)("STM32 firmware (%s engine) in QEMU over WebSocket through the backend", (engine) => {
  const device = `stm32-ws-${engine}`;
  let backend: Backend;
  let board: QemuBoard;
  let key: string;
  const call = async (id: number, method: string, params?: unknown) => {
    const res = await fetch(`${backend.url}/api/v1/devices/${device}/rpc?timeout_ms=20000`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
    });
    return { status: res.status, body: await res.json() };
  };

  beforeAll(async () => {
    buildFirmware("all", { ENGINE: engine });
    backend = await startTestBackend(`ws-stm32-${engine}`);
    key = backend.registry.createApiKey().key;
    const { credential } = backend.registry.addDevice(device);
    const url = `ws://127.0.0.1:${backend.port}/api/v1/devices/ws`;
    board = bootFirmware({ elf: firmwareFor(engine), linkPort: backend.port, append: `--id ${device} --password ${credential} --url ${url}` });
    while (!backend.presence.isOnline(device)) {
      if (board.proc.exitCode !== null) throw new Error(`QEMU exited:\n${board.lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 120_000);

  afterAll(async () => {
    await board?.stop();
    await backend?.close();
  });

  it("answers REST calls: sys.info from the board, gpio through the C methods", async () => {
    expect((await call(1, "sys.info")).body.result).toMatchObject({ engine, board: "netduinoplus2 (QEMU)" });
    expect((await call(2, "gpio.write", { pin: "PD13", value: 1 })).body).toEqual({ jsonrpc: "2.0", result: true, id: 2 });
    expect((await call(3, "gpio.read", { pin: "PD13" })).body).toEqual({ jsonrpc: "2.0", result: 1, id: 3 });
    expect((await call(4, "nope")).body).toMatchObject({ error: { code: -32601 }, id: 4 });
  });
});
