// outpost_aot_rt.c's hooks for the AOT engine, over wasm2c's wasm-rt.h.
#ifndef OUTPOST_AOT_RT_H
#define OUTPOST_AOT_RT_H

#include <setjmp.h>

#include "wasm-rt.h"

// Where wasm_rt_trap jumps, with the trap code + 1 (outpost_engine_aot.c sets it around each call).
extern jmp_buf *outpost_aot_unwind;

#endif
