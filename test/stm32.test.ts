// The STM32F405 firmware in QEMU's netduinoplus2, once per engine: build/device.wasm in
// flash under wasm3 (boards/stm32/build/firmware.elf), and the same module compiled in by
// wasm2c (ENGINE=aot, build/aot/firmware.elf). First dispatching locally (--call over
// semihosting), then as a device answering JSON-RPC through a real mosquitto over
// MQTT 3.1.1, with USART1 as its TCP connection. Last, the lean module (make MODULE=mqtt311:
// build/device-mqtt311.wasm, MQTT 3.1.1 only, no WebSocket) under both engines, a few cases.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ABI_VERSION } from "../host/abi.ts";
import {
  boardDir,
  bootFirmware,
  buildFirmware,
  callFirmware,
  deviceRpc,
  echoRun,
  FIRMWARE_ENGINES,
  FIRMWARE_MODULES,
  firmwareFor,
  type DeviceRpc,
  type QemuBoard,
} from "../boards/stm32/qemu.ts";
import { startMosquitto, type Mosquitto } from "./support/mosquitto.ts";

const request = (id: number | string, method: string, params?: unknown) => ({
  jsonrpc: "2.0",
  id,
  method,
  ...(params === undefined ? {} : { params }),
});

interface BoardMemory {
  static: number;
  heap_high_water: number;
  heap_in_use: number;
  heap_limit: number;
  stack_high_water: number;
  stack_size: number;
  ram_used: number;
  gpio: string;
  link_overruns: number;
}

const RAM_BUDGET = 48 * 1024;
const FLASH_BUDGET = 128 * 1024;
// The AOT engine's targets (issue 20): the module compiled in, no interpreter and no code in RAM.
const AOT_RAM_TARGET = 32 * 1024;
const AOT_FLASH_TARGET = 96 * 1024;

describe.each(FIRMWARE_ENGINES)("%s engine", (engine) => {
  let sizeLine = "";
  const firmwareElf = firmwareFor(engine);

  beforeAll(() => {
    sizeLine = buildFirmware("all", { ENGINE: engine });
  }, 300_000);

  describe("firmware build", () => {
    it("fits the flash budget and reports its sizes", () => {
      const m = sizeLine.match(/flash (\d+) bytes .* static RAM (\d+) bytes/);
      expect(m, sizeLine).not.toBeNull();
      expect(Number(m![1])).toBeLessThanOrEqual(engine === "aot" ? AOT_FLASH_TARGET : FLASH_BUDGET);
    });
  });

  describe("firmware in QEMU, local dispatch (--call)", () => {
    it("runs module and C methods: gpio.write then gpio.read, sys.info, bad params", async () => {
      const { response } = await callFirmware(
        [
          request(1, "gpio.write", { pin: "PD12", value: 1 }),
          request(2, "gpio.read", { pin: "PD12" }),
          request(3, "gpio.write", [60, 0]),
          request(4, "gpio.read", [60]),
          request(5, "sys.info"),
          request(6, "gpio.write", { pin: "PZ1", value: 1 }),
          request(7, "echo", { a: [1, "x"] }),
        ],
        firmwareElf,
      );
      const [w1, r1, w0, r0, info, bad, echo] = JSON.parse(response);
      expect(w1).toEqual({ jsonrpc: "2.0", result: true, id: 1 });
      expect(r1).toEqual({ jsonrpc: "2.0", result: 1, id: 2 });
      expect(w0).toEqual({ jsonrpc: "2.0", result: true, id: 3 });
      expect(r0).toEqual({ jsonrpc: "2.0", result: 0, id: 4 });
      expect(info.result).toMatchObject({ engine, board: "netduinoplus2 (QEMU)", abi: ABI_VERSION });
      expect(info.result.memory_limit).toBeLessThan(64 * 1024);
      expect(bad.error.code).toBe(-32602);
      expect(echo.result).toEqual({ a: [1, "x"] });
    });

    it("answers malformed JSON with a parse error", async () => {
      const { response } = await callFirmware('{"jsonrpc":"2.0","id":1,"method":', firmwareElf);
      expect(JSON.parse(response)).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32700 } });
    });
  });

  describe("firmware in QEMU, a module that outgrows the board's linear memory", () => {
    it("reports the module's trap by export and exits 1 instead of hanging", async () => {
      const build = `${boardDir}build/small-memory-${engine}`;
      buildFirmware("all", { BUILD: build, MEMORY_LIMIT: "8192", ENGINE: engine });
      const board = bootFirmware({ elf: `${build}/firmware.elf`, append: "--id small", maxLifetimeMs: 30_000 });
      try {
        // Whichever init export first allocates past 8 KiB traps; the report names it.
        await board.waitForLine(/^FATAL \[trap\] out of bounds memory access in export \w+$/);
        expect(await board.exited).toEqual({ code: 1, signal: null });
      } finally {
        await board.stop();
      }
    }, 120_000);
  });

  // wasm3's heap: the AOT engine allocates nothing (its RAM test is below).
  if (engine === "wasm3")
    describe("firmware in QEMU, HEAP_TRACE build (RAM by allocating function)", () => {
      it("attributes every live heap chunk: code pages, the linear memory at its limit, module tables", async () => {
        const build = `${boardDir}build/heap-trace`;
        buildFirmware("all", { BUILD: build, HEAP_TRACE: "1" });
        const { response } = await callFirmware([request(1, "echo", [1]), request(2, "board.heap")], `${build}/firmware.elf`);
        const heap = JSON.parse(response)[1].result;
        const info = JSON.parse((await callFirmware(request(1, "sys.info"), `${build}/firmware.elf`)).response).result;
        expect(heap.untracked).toBe(0);
        const asked = heap.callers.map((c: number[]) => c[1]);
        // wasm3 allocates the linear memory at the board's limit, plus its 12-byte header.
        expect(asked).toContain(info.memory_limit + 12);
        expect(asked).toContain(heap.wasm3_stack_bytes);
        expect(heap.code_pages).toBeGreaterThan(0);
        expect(heap.code_bytes_used).toBeLessThanOrEqual(heap.code_bytes);
        expect(heap.compiled).toBeLessThan(heap.functions); // compiled on first call: only what ran
        const chunks = heap.callers.reduce((sum: number, c: number[]) => sum + c[2], 0);
        expect(chunks).toBeLessThanOrEqual(heap.in_use);
      }, 300_000);
    });

  describe("firmware in QEMU against mosquitto (MQTT 3.1.1)", () => {
    const id = `stm32-${engine}-${randomBytes(3).toString("hex")}`;
    let broker: Mosquitto;
    let board: QemuBoard;
    let rpc: DeviceRpc;

    beforeAll(async () => {
      broker = await startMosquitto(["set_tcp_nodelay true"]); // no Nagle delay on small packets
      rpc = await deviceRpc(broker.url, id);
      board = bootFirmware({ elf: firmwareElf, linkPort: broker.port, append: `--id ${id}` });
      await rpc.online;
    });

    afterAll(async () => {
      await board?.stop();
      await rpc?.end();
      await broker?.stop();
    });

    it("answers sys.info with the board and engine", async () => {
      const r = await rpc.request("sys.info");
      expect(r.result).toMatchObject({ engine, board: "netduinoplus2 (QEMU)", abi: ABI_VERSION });
    });

    it("answers echo", async () => {
      const r = await rpc.request("echo", ["hello", { n: 42 }]);
      expect(r.result).toEqual(["hello", { n: 42 }]);
    });

    it("gpio.write then gpio.read through the C methods", async () => {
      expect((await rpc.request("gpio.write", { pin: "PD13", value: 1 })).result).toBe(true);
      expect((await rpc.request("gpio.read", { pin: "PD13" })).result).toBe(1);
      expect((await rpc.request("gpio.write", { pin: 61, value: 0 })).result).toBe(true);
      expect((await rpc.request("gpio.read", { pin: "PD13" })).result).toBe(0);
      const memory: BoardMemory = (await rpc.request("board.memory")).result;
      expect(memory.gpio).toMatch(/^ram/); // QEMU's STM32F405 has no GPIO model
    });

    it("answers rpc.list within the board's 1.5 KiB response buffer", async () => {
      const r = await rpc.request("rpc.list");
      const names = r.result.map((m: { name: string }) => m.name);
      expect(names).toEqual(expect.arrayContaining(["gpio.write", "gpio.read", "sys.reboot", "board.memory", "config.get"]));
      expect(JSON.stringify(r.result).length).toBeLessThanOrEqual(1536);
    });

    it("answers a malformed request with an error response", async () => {
      const r = await rpc.send('{"jsonrpc":"2.0","id":9,"method":', null);
      expect(r).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32700 } });
      const invalid = await rpc.send(JSON.stringify({ jsonrpc: "2.0", id: "bad", method: 7 }), "bad");
      expect(invalid.error.code).toBe(-32600);
    });

    it("survives 1,000 requests in a row with no memory growth", async () => {
      // Warm up every path first: wasm3 compiles a function on its first call.
      await echoRun(rpc, 8, 8);
      const before: BoardMemory = (await rpc.request("board.memory")).result;
      await echoRun(rpc, 1000, 8);
      const after: BoardMemory = (await rpc.request("board.memory")).result;
      console.log(
        `stm32 memory before/after 1,000 requests: heap high-water ${before.heap_high_water}/${after.heap_high_water} B, ` +
          `heap in use ${before.heap_in_use}/${after.heap_in_use} B, stack high-water ${before.stack_high_water}/${after.stack_high_water} B, ` +
          `static ${after.static} B, RAM used ${after.ram_used} B (budget ${RAM_BUDGET} B)`,
      );
      expect(after.heap_high_water).toBe(before.heap_high_water);
      expect(after.heap_in_use).toBe(before.heap_in_use);
      expect(after.stack_high_water).toBeLessThan(after.stack_size);
      expect(after.link_overruns).toBe(0);
      if (engine === "aot") {
        // Everything the module needs is static: no heap at all, and the whole RAM within the target.
        expect(after.heap_high_water).toBe(0);
        expect(after.ram_used).toBeLessThanOrEqual(AOT_RAM_TARGET);
        // The module's C stack is bounded from its call graph and the compiler's frames
        // (boards/common/aot-stack.mjs); with all the rest the stack reached, it still fits.
        const bound = Number(sizeLine.match(/module C stack (\d+) bytes at most/)?.[1]);
        expect(bound).toBeGreaterThan(0);
        expect(after.stack_high_water + bound).toBeLessThanOrEqual(after.stack_size);
      }
    }, 120_000);

    it("comes back online and answers after the broker restarts", async () => {
      // The UART pipe has no carrier: QEMU redials, and the module notices the dead
      // session by its keep-alive (10 s on this board) and connects again.
      await rpc.end();
      await broker.stop();
      await broker.start();
      rpc = await deviceRpc(broker.url, id);
      await rpc.nextOnline();
      expect((await rpc.request("echo", ["again"])).result).toEqual(["again"]);
      expect(board.proc.exitCode).toBe(null);
    }, 60_000);

    it("sys.reboot answers, then ends the emulation through semihosting", async () => {
      const r = await rpc.request("sys.reboot");
      expect(r.result).toEqual({ rebooting: true, how: "semihosting exit" });
      expect(await board.exited).toEqual({ code: 0, signal: null });
    });
  });
});

// The lean module (issue 20): built without WebSocket and MQTT 5, it still answers through
// mosquitto, refuses MQTT 5 by name, and its firmware is smaller than the full one.
describe.each(FIRMWARE_ENGINES)("lean module (MODULE=mqtt311), %s engine", (engine) => {
  const module = FIRMWARE_MODULES[1];
  const elf = firmwareFor(engine, module);
  let lean = 0;
  let full = 0;
  const flashOf = (line: string) => Number(line.match(/flash (\d+) bytes/)?.[1]);

  beforeAll(() => {
    full = flashOf(buildFirmware("all", { ENGINE: engine }));
    lean = flashOf(buildFirmware("all", { ENGINE: engine, MODULE: module }));
  }, 300_000);

  it("builds into its own directory, within the flash budget and smaller than the full module's firmware", () => {
    expect(lean).toBeGreaterThan(0);
    expect(lean).toBeLessThan(full);
    expect(lean).toBeLessThanOrEqual(engine === "aot" ? AOT_FLASH_TARGET : FLASH_BUDGET);
  });

  it("answers sys.info, echo and a malformed request over MQTT 3.1.1 with no memory growth, and publishes telemetry", async () => {
    const broker = await startMosquitto(["set_tcp_nodelay true"]);
    const id = `stm32-lean-${engine}-${randomBytes(3).toString("hex")}`;
    const rpc = await deviceRpc(broker.url, id, { qos: 2 });
    const telemetry = new Promise<any>((resolve) =>
      rpc.client.on("message", (topic, payload) => topic === `devices/${id}/telemetry` && resolve(JSON.parse(payload.toString()))),
    );
    await rpc.client.subscribeAsync(`devices/${id}/telemetry`);
    const board = bootFirmware({ elf, linkPort: broker.port, append: `--id ${id} --telemetry 500` });
    try {
      await rpc.online;
      // --telemetry: the board publishes sys.info on devices/<id>/telemetry (the dashboard's chart reads it).
      expect(await telemetry).toMatchObject({ abi: ABI_VERSION, uptime_ms: expect.any(Number) });
      expect((await rpc.request("sys.info")).result).toMatchObject({ engine, abi: ABI_VERSION });
      expect((await rpc.request("echo", ["lean", 1])).result).toEqual(["lean", 1]);
      expect((await rpc.send('{"jsonrpc":"2.0","id":9,"method":', null)).error.code).toBe(-32700);
      await echoRun(rpc, 8, 8);
      const before: BoardMemory = (await rpc.request("board.memory")).result;
      await echoRun(rpc, 200, 8);
      const after: BoardMemory = (await rpc.request("board.memory")).result;
      console.log(`stm32 lean module (${engine}): RAM used ${after.ram_used} B, heap high-water ${after.heap_high_water} B, flash ${lean} B (full ${full} B)`);
      expect(after.heap_high_water).toBe(before.heap_high_water);
      expect(after.heap_in_use).toBe(before.heap_in_use);
      expect(after.link_overruns).toBe(0);
    } finally {
      await board.stop();
      await rpc.end();
      await broker.stop();
    }
  }, 120_000);

  // wasm3 only (the aot engine has no heap): it drops the serving code when the link goes down
  // and the connecting code once it is up again (DROP_CODE, outpost_loop.c), so each phase
  // compiles into the pages the other left and reconnecting does not grow the heap.
  if (engine === "wasm3") {
    it("reconnects after three broker restarts, the heap the same from the second on", async () => {
      const broker = await startMosquitto(["set_tcp_nodelay true"]);
      const id = `stm32-lean-again-${randomBytes(3).toString("hex")}`;
      let rpc = await deviceRpc(broker.url, id);
      const board = bootFirmware({ elf, linkPort: broker.port, append: `--id ${id}` });
      // The UART pipe has no carrier: the module notices the dead session by its keep-alive.
      const restartAndServe = async (): Promise<BoardMemory> => {
        await rpc.end();
        await broker.stop();
        await broker.start();
        rpc = await deviceRpc(broker.url, id);
        await rpc.nextOnline();
        await echoRun(rpc, 50, 8);
        return (await rpc.request("board.memory")).result;
      };
      try {
        await rpc.online;
        await echoRun(rpc, 50, 8);
        const start: BoardMemory = (await rpc.request("board.memory")).result;
        // The step that notices the first loss compiles code of its own on top of what serves (two
        // more pages, kept in the pool); from then on the heap is the same cycle after cycle.
        const cycles = [await restartAndServe(), await restartAndServe(), await restartAndServe()];
        expect(cycles[2].heap_high_water).toBe(cycles[1].heap_high_water);
        expect(cycles[2].heap_in_use).toBe(cycles[1].heap_in_use);
        expect(cycles[1].heap_high_water - start.heap_high_water).toBeLessThanOrEqual(4096);
        expect(board.proc.exitCode).toBe(null);
      } finally {
        await board.stop();
        await rpc.end();
        await broker.stop();
      }
    }, 120_000);
  }

  it("refuses MQTT 5 by name at start and exits instead of connecting", async () => {
    const board = bootFirmware({ elf, append: "--id lean --mqtt-version 5" });
    try {
      const exited = await board.exited;
      expect(board.lines.join("\n")).toMatch(/MQTT version/);
      expect(exited.code).not.toBe(0);
    } finally {
      await board.stop();
    }
  }, 60_000);
});
