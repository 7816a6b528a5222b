// Boards benchmark: the STM32F405 firmware (boards/stm32) in QEMU's netduinoplus2, with both
// engines side by side in one run: wasm3 (the module's bytes in flash, interpreted) and aot
// (the same build/device.wasm translated by wasm2c and compiled in: make ENGINE=aot).
//  - flash and RAM: the linker's sizes, and RAM measured on the running board
//    (static + heap high-water from the allocator + painted-stack high-water);
//  - instructions per RPC: under QEMU -icount shift=0 one guest instruction is one
//    virtual nanosecond, and the firmware counts the time it is not asleep. Measured
//    for the whole MQTT round trip (echo through mosquitto) and for the dispatch alone;
//  - requests per second through QEMU, as context only (an emulator on a shared host).
// Named peer: the same echo workload against the native device (boards/posix, the
// same boards/common and wasm3 configuration on the host CPU), in the same run.
// Last line: a JSON summary.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  boardDir,
  bootFirmware,
  buildFirmware,
  callFirmware,
  deviceRpc,
  echoRun,
  FIRMWARE_ENGINES,
  type FirmwareEngine,
  type FirmwareModule,
  firmwareFor,
  type DeviceRpc,
  type QemuBoard,
} from "../boards/stm32/qemu.ts";
import { startTestBackend } from "../test/support/api.ts";
import { startMosquitto, type Mosquitto } from "../test/support/mosquitto.ts";

const FLASH_BUDGET = 128 * 1024;
const RAM_BUDGET = 48 * 1024;
// The AOT build's targets (issue 20).
const AOT_FLASH_TARGET = 96 * 1024;
const AOT_RAM_TARGET = 32 * 1024;
// The lean module's target (issue 20): an MQTT 3.1.1-only wasm3 firmware in 64 KiB of RAM.
const LEAN_WASM3_RAM_TARGET = 64 * 1024;
const ICOUNT_ROUND_TRIPS = 200;
const THROUGHPUT_REQUESTS = 1000;
const WINDOW = 8;
const DISPATCH_REPEAT = 100;
const ECHO = { jsonrpc: "2.0", id: 1, method: "echo", params: [1] };
const posixDevice = fileURLToPath(new URL("../boards/posix/build/outpost-device", import.meta.url));

interface Running {
  rpc: DeviceRpc;
  stop(): Promise<void>;
}

async function runFirmware(broker: Mosquitto, id: string, icount: boolean, elf: string): Promise<Running & { board: QemuBoard }> {
  const rpc = await deviceRpc(broker.url, id);
  const board = bootFirmware({ elf, linkPort: broker.port, append: `--id ${id}`, icountShift: icount ? 0 : undefined });
  try {
    await Promise.race([rpc.online, board.exited.then(() => Promise.reject(new Error(board.lines.join("\n"))))]);
  } catch (e) {
    await board.stop();
    await rpc.end();
    throw e;
  }
  return { rpc, board, stop: async () => (await board.stop(), await rpc.end()) };
}

async function runPosix(broker: Mosquitto, id: string): Promise<Running> {
  const rpc = await deviceRpc(broker.url, id);
  const proc = spawn(posixDevice, ["--id", id, "--url", broker.url], { stdio: "ignore" });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  await rpc.online;
  return {
    rpc,
    stop: async () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
      await rpc.end();
    },
  };
}

async function requestsPerSecond(device: Running): Promise<number> {
  await echoRun(device.rpc, WINDOW, WINDOW); // compile the path first
  const t0 = process.hrtime.bigint();
  await echoRun(device.rpc, THROUGHPUT_REQUESTS, WINDOW);
  return THROUGHPUT_REQUESTS / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/**
 * The paths test/stm32.test.ts runs (so wasm3 has compiled what they need), run before
 * every RAM measurement: the heap holds the code of the functions that ran.
 */
async function exercise(rpc: DeviceRpc): Promise<void> {
  await rpc.request("sys.info");
  await rpc.request("gpio.write", { pin: "PD13", value: 1 });
  await rpc.request("gpio.read", { pin: 61 });
  await rpc.request("board.memory");
  await rpc.request("board.cpu");
  await rpc.send('{"jsonrpc":"2.0","id":9,"method":', null);
  await rpc.send(JSON.stringify({ jsonrpc: "2.0", id: "bad", method: 7 }), "bad");
  await echoRun(rpc, WINDOW, WINDOW);
}

/**
 * Where the heap goes, by component: a HEAP_TRACE build (same sizing, plus board.heap,
 * which counts live chunks by the function that allocated them) after the same traffic.
 * Its heap is the measured firmware's; only its static tables differ.
 */
async function heapBreakdown(broker: Mosquitto, module: FirmwareModule = "full"): Promise<Record<string, number>> {
  const build = `${boardDir}build/heap-trace${module === "full" ? "" : `-${module}`}`;
  buildFirmware("all", { BUILD: build, HEAP_TRACE: "1", MODULE: module });
  const elf = `${build}/firmware.elf`;
  const id = `bench-heap-${module}`;
  const rpc = await deviceRpc(broker.url, id);
  const board = bootFirmware({ elf, linkPort: broker.port, append: `--id ${id}` });
  try {
    await Promise.race([rpc.online, board.exited.then(() => Promise.reject(new Error(board.lines.join("\n"))))]);
    await exercise(rpc);
    const memory = (await rpc.request("board.memory")).result;
    const heap = (await rpc.request("board.heap")).result;
    const addresses = heap.callers.map((c: number[]) => `0x${(c[0] & ~1).toString(16)}`);
    const names = execFileSync("arm-none-eabi-addr2line", ["-f", "-e", elf, ...addresses], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter((_, i) => i % 2 === 0);
    const parts: Record<string, number> = {
      compiled_code: 0,
      linear_memory: 0,
      wasm3_value_stack: 0,
      wasm3_runtime: 0,
      module_tables: 0,
      constant_tables: 0,
      other: 0,
    };
    let chunks = 0;
    heap.callers.forEach(([, asked, chunk]: number[], i: number) => {
      const name = names[i];
      chunks += chunk;
      const part =
        name === "NewCodePage"
          ? "compiled_code"
          : name === "ResizeMemory"
            ? "linear_memory"
            : name === "m3_NewRuntime"
              ? asked === heap.wasm3_stack_bytes
                ? "wasm3_value_stack"
                : "wasm3_runtime"
              : name === "m3_NewEnvironment"
                ? "wasm3_runtime"
                : name === "CompileFunction"
                  ? "constant_tables" // DROP_CODE builds keep them on the code pages instead
                  : /^(Module_Add|ParseSection|AllocFuncType|m3_ParseModule|Read_utf8)/.test(name)
                    ? "module_tables"
                    : "other";
      parts[part] += asked;
      if (part === "other") console.log(`  heap: unclassified caller ${name} ${asked} B`);
    });
    // Chunk headers and alignment: what newlib-nano holds beyond the bytes asked for.
    parts.malloc_overhead = memory.heap_high_water - Object.values(parts).reduce((a, b) => a + b, 0);
    console.log(
      `heap by component (HEAP_TRACE build, ${module} module): ${Object.entries(parts)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}; ` +
        `${heap.compiled}/${heap.functions} functions compiled from ${heap.compiled_wasm_bytes} B of wasm into ` +
        `${heap.code_bytes_used} B of code on ${heap.code_pages} pages; ${heap.globals} globals; wasm3 stack touched ` +
        `${heap.wasm3_stack_used} B; chunks ${chunks} B of ${memory.heap_high_water} B`,
    );
    return {
      ...parts,
      heap_high_water: memory.heap_high_water,
      compiled_functions: heap.compiled,
      functions: heap.functions,
      compiled_wasm_bytes: heap.compiled_wasm_bytes,
      code_bytes_used: heap.code_bytes_used,
      code_pages: heap.code_pages,
    };
  } finally {
    await board.stop();
    await rpc.end();
  }
}

const busyNs = async (rpc: DeviceRpc) => Number((await rpc.request("board.cpu")).result.busy_ns);

interface EngineFigures {
  flash: number;
  staticRam: number;
  memory: any;
  dispatchInstructions: number;
  roundTripInstructions: number;
  qemuRps: number;
}

/**
 * Echo round trips under -icount after the tests' traffic: busy time between two board.cpu probes,
 * less one probe's own cost; and board.memory after them.
 */
async function roundTrips(broker: Mosquitto, id: string, elf: string): Promise<{ roundTripInstructions: number; memory: any }> {
  const counted = await runFirmware(broker, id, true, elf);
  try {
    await exercise(counted.rpc);
    await echoRun(counted.rpc, WINDOW, 1);
    const c1 = await busyNs(counted.rpc);
    const c2 = await busyNs(counted.rpc);
    await echoRun(counted.rpc, ICOUNT_ROUND_TRIPS, 1);
    const c3 = await busyNs(counted.rpc);
    return { roundTripInstructions: (c3 - c2 - (c2 - c1)) / ICOUNT_ROUND_TRIPS, memory: (await counted.rpc.request("board.memory")).result };
  } finally {
    await counted.stop();
  }
}

/** Flash, RAM after the tests' traffic, instructions per dispatch and per round trip, and QEMU's rate, for one engine. */
async function measureEngine(engine: FirmwareEngine, broker: Mosquitto): Promise<EngineFigures> {
  const elf = firmwareFor(engine);
  const sizes = buildFirmware("all", { ENGINE: engine }).trim();
  const [, flash, staticRam] = sizes.match(/flash (\d+) bytes .* static RAM (\d+) bytes/)!.map(Number);
  console.log(sizes);

  // Dispatch alone, exact: the same request dispatched 1 and 1 + DISPATCH_REPEAT times.
  const dispatchUs = async (n: number) => {
    const board = bootFirmware({ elf, icountShift: 0, append: `--repeat ${n} --call ${JSON.stringify(ECHO)}` });
    try {
      return Number((await board.waitForLine(/^dispatched \d+ times in (\d+) us busy$/))[1]);
    } finally {
      await board.stop();
    }
  };
  const dispatchInstructions = (((await dispatchUs(1 + DISPATCH_REPEAT)) - (await dispatchUs(1))) * 1000) / DISPATCH_REPEAT;
  await callFirmware(ECHO, elf); // the plain --call path still answers

  const { roundTripInstructions, memory } = await roundTrips(broker, `bench-icount-${engine}`, elf);

  const qemu = await runFirmware(broker, `bench-qemu-${engine}`, false, elf);
  let qemuRps: number;
  try {
    qemuRps = await requestsPerSecond(qemu);
  } finally {
    await qemu.stop();
  }
  return { flash, staticRam, memory, dispatchInstructions, roundTripInstructions, qemuRps };
}

type Call = (method: string, params?: unknown) => Promise<any>;

/** The same traffic in every feature scenario: the board's methods, the module's, eight echoes. */
async function featureTraffic(call: Call): Promise<{ memory: any; linearUsed: number }> {
  await call("gpio.write", { pin: "PD13", value: 1 });
  await call("gpio.read", { pin: 61 });
  await call("board.cpu");
  for (let i = 0; i < WINDOW; i++) await call("echo", [i]);
  const linearUsed = (await call("sys.info")).result.memory_used as number;
  return { memory: (await call("board.memory")).result, linearUsed };
}

interface FeatureRun {
  heap_high_water: number;
  ram_used: number;
  linear_memory_used: number;
}

/**
 * What each optional part of the module costs in RAM on a running board: the same traffic over
 * MQTT 3.1.1 with QoS 1 requests (the baseline), with QoS 2 requests, over MQTT 5, and over
 * WebSocket through the backend. wasm3 compiles a function on its first call, so a part that
 * never runs costs no heap; the module's bump allocator takes linear memory (sys.info memory_used)
 * for the buffers a part sets up at device_start.
 */
async function featureCosts(engine: FirmwareEngine, broker: Mosquitto): Promise<Record<string, FeatureRun>> {
  const elf = firmwareFor(engine);
  const runs: Record<string, FeatureRun> = {};
  const overMqtt = async (name: string, append: string, qos: 1 | 2) => {
    const id = `bench-feature-${engine}-${name}`;
    const rpc = await deviceRpc(broker.url, id, { qos });
    const board = bootFirmware({ elf, linkPort: broker.port, append: `--id ${id} ${append}` });
    try {
      await Promise.race([rpc.online, board.exited.then(() => Promise.reject(new Error(board.lines.join("\n"))))]);
      const { memory, linearUsed } = await featureTraffic((m, p) => rpc.request(m, p));
      runs[name] = { heap_high_water: memory.heap_high_water, ram_used: memory.ram_used, linear_memory_used: linearUsed };
    } finally {
      await board.stop();
      await rpc.end();
    }
  };
  await overMqtt("mqtt311_qos1", "", 1);
  await overMqtt("mqtt311_qos2", "", 2);
  await overMqtt("mqtt5_qos1", "--mqtt-version 5", 1);

  const backend = await startTestBackend(`bench-ws-${engine}`);
  const device = `bench-ws-${engine}`;
  const key = backend.registry.createApiKey().key;
  const { credential } = backend.registry.addDevice(device);
  const url = `ws://127.0.0.1:${backend.port}/api/v1/devices/ws`;
  const board = bootFirmware({ elf, linkPort: backend.port, append: `--id ${device} --password ${credential} --url ${url}` });
  try {
    while (!backend.presence.isOnline(device)) {
      if (board.proc.exitCode !== null) throw new Error(`QEMU exited:\n${board.lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    let id = 0;
    const call: Call = async (method, params) => {
      const res = await fetch(`${backend.url}/api/v1/devices/${device}/rpc?timeout_ms=20000`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
      });
      return res.json();
    };
    const { memory, linearUsed } = await featureTraffic(call);
    runs.websocket = { heap_high_water: memory.heap_high_water, ram_used: memory.ram_used, linear_memory_used: linearUsed };
  } finally {
    await board.stop();
    await backend.close();
  }
  const base = runs.mqtt311_qos1;
  console.log(
    `${engine}: RAM by optional part (same traffic; delta to MQTT 3.1.1 QoS 1: heap high-water / RAM used / linear memory used): ` +
      Object.entries(runs)
        .map(
          ([name, r]) =>
            `${name} ${r.heap_high_water - base.heap_high_water} / ${r.ram_used - base.ram_used} / ${r.linear_memory_used - base.linear_memory_used}`,
        )
        .join(", ") +
      ` (baseline: heap ${base.heap_high_water}, RAM ${base.ram_used}, linear ${base.linear_memory_used})`,
  );
  return runs;
}

interface ModuleRun {
  flash: number;
  ram_used: number;
  static: number;
  heap_high_water: number;
  stack_high_water: number;
  linear_memory_used: number;
}

/**
 * Full vs lean (issue 20): the firmware with build/device.wasm or with the lean
 * build/device-mqtt311.wasm (make MODULE=mqtt311: no WebSocket, MQTT 5 or QoS 2), the same
 * traffic as every RAM figure here (exercise()), before and after a broker restart, RAM as
 * board.memory measures it.
 */
async function moduleRun(
  engine: FirmwareEngine,
  module: FirmwareModule,
  broker: Mosquitto,
  variant: { name: string; variables: Record<string, string>; elf: string } | null = null,
): Promise<ModuleRun> {
  const sizes = buildFirmware("all", { ENGINE: engine, MODULE: module, ...variant?.variables });
  const flash = Number(sizes.match(/flash (\d+) bytes/)![1]);
  const id = `bench-module-${engine}-${module}${variant ? `-${variant.name}` : ""}`;
  const running = await runFirmware(broker, id, false, variant?.elf ?? firmwareFor(engine, module));
  let rpc = running.rpc;
  try {
    await exercise(rpc);
    // Then a broker restart and the traffic again: the step that notices the lost link runs code
    // of its own, and with DROP_CODE the RAM's peak may lie there.
    await rpc.end();
    await broker.stop();
    await broker.start();
    rpc = await deviceRpc(broker.url, id);
    await rpc.nextOnline();
    await exercise(rpc);
    const linear = (await rpc.request("sys.info")).result.memory_used as number;
    const m = (await rpc.request("board.memory")).result;
    return {
      flash,
      ram_used: m.ram_used,
      static: m.static,
      heap_high_water: m.heap_high_water,
      stack_high_water: m.stack_high_water,
      linear_memory_used: linear,
    };
  } finally {
    await running.board.stop();
    await rpc.end();
  }
}

async function main() {
  const broker = await startMosquitto(["set_tcp_nodelay true"]); // no Nagle delay on small packets
  try {
    const figures = {} as Record<FirmwareEngine, EngineFigures>;
    for (const engine of FIRMWARE_ENGINES) figures[engine] = await measureEngine(engine, broker);
    const { flash, staticRam, memory, dispatchInstructions, roundTripInstructions, qemuRps } = figures.wasm3;
    const aot = figures.aot;

    const heap = await heapBreakdown(broker);
    const leanHeap = await heapBreakdown(broker, "mqtt311");
    const features = {} as Record<FirmwareEngine, Record<string, FeatureRun>>;
    for (const engine of FIRMWARE_ENGINES) features[engine] = await featureCosts(engine, broker);

    const modules = {} as Record<FirmwareEngine, Record<FirmwareModule, ModuleRun> & { mqtt311_no_ota?: ModuleRun; mqtt311_drop_code_1?: ModuleRun }>;
    for (const engine of FIRMWARE_ENGINES) {
      modules[engine] = { full: await moduleRun(engine, "full", broker), mqtt311: await moduleRun(engine, "mqtt311", broker) };
    }
    // The lean wasm3 firmware without OTA (make MODULE=mqtt311 OTA=0; the aot engine never has OTA).
    modules.wasm3.mqtt311_no_ota = await moduleRun("wasm3", "mqtt311", broker, {
      name: "no-ota",
      variables: { OTA: "0" },
      elf: `${boardDir}build/mqtt311/noota/firmware.elf`,
    });

    // The lean wasm3 firmware drops compiled code between a request's steps (DROP_CODE=2); with
    // DROP_CODE=1 only at init and when the link comes up or goes down: RAM and instructions of both.
    const phasesOnly = `${boardDir}build/mqtt311-drop1`;
    const dropPhases = { name: "drop-code-1", variables: { DROP_CODE: "1", BUILD: phasesOnly }, elf: `${phasesOnly}/firmware.elf` };
    modules.wasm3.mqtt311_drop_code_1 = await moduleRun("wasm3", "mqtt311", broker, dropPhases);
    const leanSteps = await roundTrips(broker, "bench-icount-lean", firmwareFor("wasm3", "mqtt311"));
    const leanPhases = await roundTrips(broker, "bench-icount-lean-drop1", dropPhases.elf);

    let posixRps: number | null = null;
    if (existsSync(posixDevice)) {
      const posix = await runPosix(broker, "bench-posix");
      try {
        posixRps = await requestsPerSecond(posix);
      } finally {
        await posix.stop();
      }
    }

    const ramUsed = memory.ram_used as number;
    const aotRam = aot.memory.ram_used as number;
    console.log("");
    console.log("wasm3 engine (module bytes in flash, interpreted; app updates possible)");
    console.log(`flash                      ${flash} B  (${((flash / FLASH_BUDGET) * 100).toFixed(1)}% of the ${FLASH_BUDGET / 1024} KiB budget)`);
    console.log(
      `RAM measured               ${ramUsed} B = static ${memory.static} + heap high-water ${memory.heap_high_water} + stack high-water ${memory.stack_high_water}` +
        `  (${(ramUsed / RAM_BUDGET).toFixed(2)}x the ${RAM_BUDGET / 1024} KiB budget${ramUsed > RAM_BUDGET ? ": OVER" : ""})`,
    );
    console.log(
      `RAM by component           static ${memory.static}, stack ${memory.stack_high_water}; heap: compiled code ${heap.compiled_code}, ` +
        `linear memory ${heap.linear_memory}, module tables ${heap.module_tables}, constant tables ${heap.constant_tables}, wasm3 value stack ${heap.wasm3_value_stack}, ` +
        `wasm3 runtime ${heap.wasm3_runtime}, malloc overhead ${heap.malloc_overhead}, other ${heap.other}` +
        (heap.heap_high_water === memory.heap_high_water ? "" : `  (trace build heap ${heap.heap_high_water} B)`),
    );
    console.log(`instructions / dispatch    ${Math.round(dispatchInstructions)}  (echo, local, QEMU -icount)`);
    console.log(`instructions / round trip  ${Math.round(roundTripInstructions)}  (echo through mosquitto, MQTT 3.1.1, QEMU -icount)`);
    console.log(`requests/s, STM32 in QEMU  ${qemuRps.toFixed(0)}  (${WINDOW} in flight; context only)`);
    if (posixRps !== null) {
      console.log(`requests/s, posix (peer)   ${posixRps.toFixed(0)}  -> STM32-in-QEMU / posix = ${(qemuRps / posixRps).toFixed(3)}`);
    } else {
      console.log(`requests/s, posix (peer)   not built (npm run build:boards)`);
    }
    console.log("");
    console.log("aot engine (wasm2c, module compiled in; firmware updates only)");
    console.log(
      `flash                      ${aot.flash} B  (target ${AOT_FLASH_TARGET / 1024} KiB: ${aot.flash <= AOT_FLASH_TARGET ? "met" : "MISSED"}; ` +
        `wasm3 / aot = ${(flash / aot.flash).toFixed(2)})`,
    );
    console.log(
      `RAM measured               ${aotRam} B = static ${aot.memory.static} (the linear memory with it) + heap high-water ` +
        `${aot.memory.heap_high_water} + stack high-water ${aot.memory.stack_high_water}  (target ${AOT_RAM_TARGET / 1024} KiB: ` +
        `${aotRam <= AOT_RAM_TARGET ? "met" : "MISSED"}; wasm3 / aot = ${(ramUsed / aotRam).toFixed(2)})`,
    );
    console.log(
      `instructions / dispatch    ${Math.round(aot.dispatchInstructions)}  (wasm3 / aot = ${(dispatchInstructions / aot.dispatchInstructions).toFixed(2)})`,
    );
    console.log(
      `instructions / round trip  ${Math.round(aot.roundTripInstructions)}  (wasm3 / aot = ${(roundTripInstructions / aot.roundTripInstructions).toFixed(2)})`,
    );
    console.log(`requests/s, STM32 in QEMU  ${aot.qemuRps.toFixed(0)}  (context only)`);
    console.log("");
    console.log("full module vs lean (make MODULE=mqtt311: no WebSocket, no MQTT 5, no QoS 2), same traffic");
    for (const engine of FIRMWARE_ENGINES) {
      const { full, mqtt311: lean } = modules[engine];
      console.log(
        `${engine.padEnd(6)} flash ${full.flash} -> ${lean.flash} B (${lean.flash - full.flash}), RAM ${full.ram_used} -> ${lean.ram_used} B ` +
          `(${lean.ram_used - full.ram_used}; heap ${full.heap_high_water} -> ${lean.heap_high_water}, linear memory used ` +
          `${full.linear_memory_used} -> ${lean.linear_memory_used}); lean / full RAM = ${(lean.ram_used / full.ram_used).toFixed(3)}`,
      );
    }
    const leanWasm3 = modules.wasm3.mqtt311.ram_used;
    const leanMet = leanWasm3 <= LEAN_WASM3_RAM_TARGET;
    const noOta = modules.wasm3.mqtt311_no_ota!;
    const noOtaMet = noOta.ram_used <= LEAN_WASM3_RAM_TARGET;
    console.log(
      `MQTT 3.1.1-only wasm3 firmware: RAM ${leanWasm3} B, target ${LEAN_WASM3_RAM_TARGET / 1024} KiB: ` +
        `${leanMet ? "met" : "MISSED"} by ${Math.abs(LEAN_WASM3_RAM_TARGET - leanWasm3)} B`,
    );
    console.log(
      `  without OTA (OTA=0): flash ${noOta.flash} B, RAM ${noOta.ram_used} B = static ${noOta.static} + heap ${noOta.heap_high_water} + ` +
        `stack ${noOta.stack_high_water}: ${noOtaMet ? "met" : "MISSED"} by ${Math.abs(LEAN_WASM3_RAM_TARGET - noOta.ram_used)} B`,
    );
    const phases = modules.wasm3.mqtt311_drop_code_1!;
    console.log(
      `  code dropped between a request's steps (DROP_CODE=2, the default) vs at link changes only (DROP_CODE=1): ` +
        `RAM ${leanWasm3} vs ${phases.ram_used} B (heap ${modules.wasm3.mqtt311.heap_high_water} vs ${phases.heap_high_water}), ` +
        `instructions / round trip ${Math.round(leanSteps.roundTripInstructions)} vs ${Math.round(leanPhases.roundTripInstructions)} ` +
        `(${(leanSteps.roundTripInstructions / leanPhases.roundTripInstructions).toFixed(2)}x; the full firmware ${Math.round(roundTripInstructions)}: ` +
        `${(leanSteps.roundTripInstructions / roundTripInstructions).toFixed(2)}x)`,
    );
    console.log(
      JSON.stringify({
        flash_bytes: flash,
        flash_budget_bytes: FLASH_BUDGET,
        static_ram_bytes: staticRam,
        ram_used_bytes: ramUsed,
        heap_high_water_bytes: memory.heap_high_water,
        stack_high_water_bytes: memory.stack_high_water,
        ram_budget_bytes: RAM_BUDGET,
        ram_over_budget: ramUsed > RAM_BUDGET,
        ram_by_component: { static: memory.static, stack: memory.stack_high_water, ...heap },
        instructions_per_dispatch: Math.round(dispatchInstructions),
        instructions_per_round_trip: Math.round(roundTripInstructions),
        qemu_requests_per_s: Math.round(qemuRps),
        posix_requests_per_s: posixRps === null ? null : Math.round(posixRps),
        qemu_to_posix_ratio: posixRps === null ? null : Number((qemuRps / posixRps).toFixed(4)),
        aot: {
          flash_bytes: aot.flash,
          flash_target_bytes: AOT_FLASH_TARGET,
          static_ram_bytes: aot.staticRam,
          ram_used_bytes: aotRam,
          heap_high_water_bytes: aot.memory.heap_high_water,
          stack_high_water_bytes: aot.memory.stack_high_water,
          ram_target_bytes: AOT_RAM_TARGET,
          instructions_per_dispatch: Math.round(aot.dispatchInstructions),
          instructions_per_round_trip: Math.round(aot.roundTripInstructions),
          qemu_requests_per_s: Math.round(aot.qemuRps),
        },
        ram_by_optional_part: features,
        full_vs_lean: modules,
        lean_wasm3_ram_by_component: {
          static: modules.wasm3.mqtt311.static,
          stack: modules.wasm3.mqtt311.stack_high_water,
          ...leanHeap,
        },
        lean_wasm3_ram_target_bytes: LEAN_WASM3_RAM_TARGET,
        lean_wasm3_ram_target_met: leanMet,
        lean_wasm3_ram_margin_bytes: LEAN_WASM3_RAM_TARGET - leanWasm3,
        lean_wasm3_no_ota_ram_target_met: noOtaMet,
        lean_wasm3_no_ota_ram_margin_bytes: LEAN_WASM3_RAM_TARGET - noOta.ram_used,
        lean_wasm3_drop_code: {
          steps: { ram_used_bytes: leanWasm3, instructions_per_round_trip: Math.round(leanSteps.roundTripInstructions) },
          link_changes_only: { ram_used_bytes: phases.ram_used, instructions_per_round_trip: Math.round(leanPhases.roundTripInstructions) },
          steps_to_link_changes_instructions: Number((leanSteps.roundTripInstructions / leanPhases.roundTripInstructions).toFixed(3)),
          steps_to_full_instructions: Number((leanSteps.roundTripInstructions / roundTripInstructions).toFixed(3)),
        },
        wasm3_to_aot: {
          flash: Number((flash / aot.flash).toFixed(3)),
          ram: Number((ramUsed / aotRam).toFixed(3)),
          instructions_per_round_trip: Number((roundTripInstructions / aot.roundTripInstructions).toFixed(3)),
        },
      }),
    );
  } finally {
    await broker.stop();
  }
}

await main();
