// MCU-sized wasm3, forced into every board's wasm3 and runtime compile with
// `-include wasm3_config.h` (boards/common/board.mk). A board may override any value
// with -D. The Node binding (host/native) uses wasm3's desktop defaults instead.
#ifndef OUTPOST_WASM3_CONFIG_H
#define OUTPOST_WASM3_CONFIG_H

// Code pages of 1 KiB instead of 4: the compiled module fits in a few, not a few dozen.
#ifndef d_m3CodePageAlignSize
#define d_m3CodePageAlignSize 1024
#endif
// Largest value-stack height one function may compile to. It sizes the compiler's
// tables inside M3Runtime (5 bytes a unit): 64 keeps M3Runtime at 744 bytes instead of
// 1,064. build/device.wasm needs 41..48 (40 fails to compile); boards/posix compiles
// every function at load, so its tests catch a module that outgrows this.
#ifndef d_m3MaxFunctionStackHeight
#define d_m3MaxFunctionStackHeight 64
#endif
#ifndef d_m3MaxConstantTableSize
#define d_m3MaxConstantTableSize 64
#endif
// One 64 KiB page at most: memory.grow beyond it fails inside the module.
#ifndef d_m3MaxLinearMemoryPages
#define d_m3MaxLinearMemoryPages 1
#endif
// Error strings cost flash; traps still report the constant message and the function.
#ifndef d_m3VerboseErrorMessages
#define d_m3VerboseErrorMessages 0
#endif
// Backtraces let a trap report name the function it happened in.
#ifndef d_m3RecordBacktraces
#define d_m3RecordBacktraces 1
#endif

// What the runtime gives the module (either engine: outpost_engine_wasm3.c, outpost_engine_aot.c).
// Bytes of linear memory actually allocated (wasm3's runtime->memoryLimit), below 64 KiB.
#ifndef OUTPOST_MEMORY_LIMIT
#define OUTPOST_MEMORY_LIMIT (32u * 1024u)
#endif
// 1: compile every function at load, so a bad module fails there. 0: wasm3 compiles
// each function on its first call, and RAM holds only the code that runs (boards/stm32).
#ifndef OUTPOST_COMPILE_AT_LOAD
#define OUTPOST_COMPILE_AT_LOAD 1
#endif
// wasm3's value stack is sized from the module's call chains: OUTPOST_WASM3_STACK in outpost_engine_wasm3.c.

#endif
