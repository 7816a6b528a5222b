// The STM32 firmware at its JSON limits: a request nested as deep as the board allows
// (OUTPOST_RPC_MAX_DEPTH, boards/common/outpost_loop.c) is answered, one level deeper is
// refused by name, and the firmware keeps running. wasm3's value stack is sized from the
// module's call chain (boards/common/outpost_abi.h), not from a guess: nesting 14 once
// trapped in rpc_handle with a 2 KiB stack.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootFirmware, buildFirmware, callFirmware, deviceRpc, FIRMWARE_ENGINES, firmwareFor, type DeviceRpc, type QemuBoard } from "../boards/stm32/qemu.ts";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const MAX_DEPTH = 16; // the board's documented limit: the request object counts as one level

/** An echo request whose params are arrays nested so the whole request has `depth` levels. */
function nested(id: number, depth: number): string {
  const arrays = depth - 1;
  return `{"jsonrpc":"2.0","id":${id},"method":"echo","params":${"[".repeat(arrays)}${"]".repeat(arrays)}}`;
}

const ELEVEN = '{"jsonrpc":"2.0","id":9,"method":"echo","params":[[[[[[[[[[]]]]]]]]]]}';

it("the nesting-11 request is the one from the issue", () => {
  expect(nested(9, 11)).toBe(ELEVEN);
});

// Both engines: wasm3's value stack, and the AOT engine's C stack and counted call depth.
describe.each(FIRMWARE_ENGINES)("%s engine", (engine) => {
  const firmwareElf = firmwareFor(engine);

  beforeAll(() => {
    buildFirmware("all", { ENGINE: engine });
  }, 300_000);

  describe("firmware in QEMU, local dispatch (--call) at the depth limit", () => {
    it("answers nesting 11 and exits 0", async () => {
      const { response } = await callFirmware(ELEVEN, firmwareElf);
      expect(JSON.parse(response)).toEqual({ jsonrpc: "2.0", result: JSON.parse(ELEVEN).params, id: 9 });
    }, 60_000);

    it("answers the deepest legal nesting and exits 0", async () => {
      const deepest = nested(11, MAX_DEPTH);
      const { response } = await callFirmware(deepest, firmwareElf);
      expect(JSON.parse(response)).toEqual({ jsonrpc: "2.0", result: JSON.parse(deepest).params, id: 11 });
    }, 60_000);
  });

  describe("firmware in QEMU against mosquitto at the depth limit", () => {
    const id = `stm32-deep-${engine}-${randomBytes(3).toString("hex")}`;
    let broker: Mosquitto;
    let board: QemuBoard;
    let rpc: DeviceRpc;

    beforeAll(async () => {
      broker = await startMosquitto(["set_tcp_nodelay true"]);
      rpc = await deviceRpc(broker.url, id);
      board = bootFirmware({ elf: firmwareElf, linkPort: broker.port, append: `--id ${id}` });
      await rpc.online;
    }, 60_000);

    afterAll(async () => {
      await board?.stop();
      await rpc?.end();
      await broker?.stop();
    });

    it("answers the nesting-11 request on devices/<ID>/tx", async () => {
      expect(await rpc.send(ELEVEN, 9)).toEqual({ jsonrpc: "2.0", result: JSON.parse(ELEVEN).params, id: 9 });
    });

    it("answers the deepest legal nesting, refuses one level more by name, and keeps running", async () => {
      const deepest = nested(12, MAX_DEPTH);
      expect(await rpc.send(deepest, 12)).toEqual({ jsonrpc: "2.0", result: JSON.parse(deepest).params, id: 12 });
      const tooDeep = await rpc.send(nested(13, MAX_DEPTH + 1), 13); // its id comes before the params: echoed
      expect(tooDeep.error).toMatchObject({ code: -32000, message: "Request too large", data: { limit: "depth", max: MAX_DEPTH } });
      // Still the same firmware, still answering.
      expect((await rpc.request("echo", ["after"])).result).toEqual(["after"]);
      expect(board.proc.exitCode).toBe(null);
    });
  });
});
