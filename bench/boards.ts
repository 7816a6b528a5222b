// Boards benchmark: the STM32F405 firmware (boards/stm32) in QEMU's netduinoplus2.
//  - flash and RAM: the linker's sizes, and RAM measured on the running board
//    (static + heap high-water from the allocator + painted-stack high-water);
//  - instructions per RPC: under QEMU -icount shift=0 one guest instruction is one
//    virtual nanosecond, and the firmware counts the time it is not asleep. Measured
//    for the whole MQTT round trip (echo through mosquitto) and for the dispatch alone;
//  - requests per second through QEMU, as context only (an emulator on a shared host).
// Named peer: the same echo workload against the native device (boards/posix, the
// same boards/common and wasm3 configuration on the host CPU), in the same run.
// Last line: a JSON summary.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  bootFirmware, buildFirmware, callFirmware, deviceRpc, echoRun, firmwareElf, type DeviceRpc, type QemuBoard,
} from "../boards/stm32/qemu.ts";
import { startMosquitto, type Mosquitto } from "../test/support/mosquitto.ts";

const FLASH_BUDGET = 128 * 1024;
const RAM_BUDGET = 48 * 1024;
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

async function runFirmware(broker: Mosquitto, id: string, icount: boolean): Promise<Running & { board: QemuBoard }> {
  const rpc = await deviceRpc(broker.url, id);
  const board = bootFirmware({ elf: firmwareElf, linkPort: broker.port, append: `--id ${id}`, icountShift: icount ? 0 : undefined });
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

const busyNs = async (rpc: DeviceRpc) => Number((await rpc.request("board.cpu")).result.busy_ns);

async function main() {
  const sizes = buildFirmware("all").trim();
  const [, flash, staticRam] = sizes.match(/flash (\d+) bytes .* static RAM (\d+) bytes/)!.map(Number);
  console.log(sizes);

  // Dispatch alone, exact: the same request dispatched 1 and 1 + DISPATCH_REPEAT times.
  const dispatchUs = async (n: number) => {
    const board = bootFirmware({ elf: firmwareElf, icountShift: 0, append: `--repeat ${n} --call ${JSON.stringify(ECHO)}` });
    try {
      return Number((await board.waitForLine(/^dispatched \d+ times in (\d+) us busy$/))[1]);
    } finally {
      await board.stop();
    }
  };
  const dispatchInstructions = ((await dispatchUs(1 + DISPATCH_REPEAT)) - (await dispatchUs(1))) * 1000 / DISPATCH_REPEAT;
  await callFirmware(ECHO); // the plain --call path still answers

  const broker = await startMosquitto(["set_tcp_nodelay true"]); // no Nagle delay on small packets
  try {
    // Round trips under -icount: busy time between two board.cpu probes, less one probe's own cost.
    const counted = await runFirmware(broker, "bench-icount", true);
    let roundTripInstructions: number;
    let memory: any;
    try {
      await echoRun(counted.rpc, WINDOW, 1);
      const c1 = await busyNs(counted.rpc);
      const c2 = await busyNs(counted.rpc);
      await echoRun(counted.rpc, ICOUNT_ROUND_TRIPS, 1);
      const c3 = await busyNs(counted.rpc);
      roundTripInstructions = (c3 - c2 - (c2 - c1)) / ICOUNT_ROUND_TRIPS;
      memory = (await counted.rpc.request("board.memory")).result;
    } finally {
      await counted.stop();
    }

    const qemu = await runFirmware(broker, "bench-qemu", false);
    let qemuRps: number;
    try {
      qemuRps = await requestsPerSecond(qemu);
    } finally {
      await qemu.stop();
    }

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
    console.log("");
    console.log(`flash                      ${flash} B  (${((flash / FLASH_BUDGET) * 100).toFixed(1)}% of the ${FLASH_BUDGET / 1024} KiB budget)`);
    console.log(
      `RAM measured               ${ramUsed} B = static ${memory.static} + heap high-water ${memory.heap_high_water} + stack high-water ${memory.stack_high_water}` +
        `  (${(ramUsed / RAM_BUDGET).toFixed(2)}x the ${RAM_BUDGET / 1024} KiB budget${ramUsed > RAM_BUDGET ? ": OVER" : ""})`,
    );
    console.log(`instructions / dispatch    ${Math.round(dispatchInstructions)}  (echo, local, QEMU -icount)`);
    console.log(`instructions / round trip  ${Math.round(roundTripInstructions)}  (echo through mosquitto, MQTT 3.1.1, QEMU -icount)`);
    console.log(`requests/s, STM32 in QEMU  ${qemuRps.toFixed(0)}  (${WINDOW} in flight; context only)`);
    if (posixRps !== null) {
      console.log(`requests/s, posix (peer)   ${posixRps.toFixed(0)}  -> STM32-in-QEMU / posix = ${(qemuRps / posixRps).toFixed(3)}`);
    } else {
      console.log(`requests/s, posix (peer)   not built (npm run build:boards)`);
    }
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
        instructions_per_dispatch: Math.round(dispatchInstructions),
        instructions_per_round_trip: Math.round(roundTripInstructions),
        qemu_requests_per_s: Math.round(qemuRps),
        posix_requests_per_s: posixRps === null ? null : Math.round(posixRps),
        qemu_to_posix_ratio: posixRps === null ? null : Number((qemuRps / posixRps).toFixed(4)),
      }),
    );
  } finally {
    await broker.stop();
  }
}

await main();
