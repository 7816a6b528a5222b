// The part of wasm2c's runtime (wasm-rt.h) the translated module calls, written for boards
// without an OS: no signals, no mmap, no 64 KiB exception buffer (wabt's wasm-rt-impl.c has
// all three). Every memory access is bounds-checked by the generated code (32-bit targets
// and WASM_RT_MEMCHECK_SIGNAL_HANDLER=0), call depth is counted, and a trap longjmps to the
// engine's call (outpost_engine_aot.c).
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include "outpost_aot_rt.h"

// The linear memory: static, at the board's limit. wasm pages are 64 KiB; a board gives the
// module less (as wasm3 does with its memoryLimit), and an access past it traps.
static uint8_t linear_memory[OUTPOST_MEMORY_LIMIT] __attribute__((aligned(8)));
static int memory_taken;

uint32_t wasm_rt_call_stack_depth;
jmp_buf *outpost_aot_unwind;

static int initialized;
void wasm_rt_init(void) { initialized = 1; }
bool wasm_rt_is_initialized(void) { return initialized; }
void wasm_rt_free(void) { initialized = 0; }

void wasm_rt_trap(wasm_rt_trap_t trap) {
  if (outpost_aot_unwind) longjmp(*outpost_aot_unwind, (int)trap + 1);
  for (;;) { // a trap outside any call: nothing to return to
  }
}

// Function types for call_indirect checks: equal signatures get equal ids.
#define MAX_FUNC_TYPES 32
#define MAX_TYPE_ARITY 20 // 3 bits a type in 64 bits
static struct {
  uint8_t params, results;
  uint64_t types;
} func_types[MAX_FUNC_TYPES];
static uint32_t func_type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint64_t types = 0;
  va_list args;
  va_start(args, results);
  for (uint32_t i = 0; i < params + results && i < MAX_TYPE_ARITY; i++) types |= (uint64_t)(va_arg(args, int) & 7) << (3 * i);
  va_end(args);
  if (params + results > MAX_TYPE_ARITY) wasm_rt_trap(WASM_RT_TRAP_CALL_INDIRECT);
  for (uint32_t i = 0; i < func_type_count; i++) {
    if (func_types[i].params == params && func_types[i].results == results && func_types[i].types == types) return i;
  }
  if (func_type_count == MAX_FUNC_TYPES) wasm_rt_trap(WASM_RT_TRAP_CALL_INDIRECT);
  func_types[func_type_count].params = (uint8_t)params;
  func_types[func_type_count].results = (uint8_t)results;
  func_types[func_type_count].types = types;
  return func_type_count++;
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *memory, uint32_t initial_pages, uint32_t max_pages) {
  uint64_t wanted = (uint64_t)initial_pages * 65536u;
  if (memory_taken) wasm_rt_trap(WASM_RT_TRAP_OOB); // one memory per board
  memory_taken = 1;
  memset(linear_memory, 0, sizeof linear_memory);
  memory->data = linear_memory;
  memory->pages = initial_pages;
  memory->max_pages = max_pages;
  memory->size = wanted < sizeof linear_memory ? (uint32_t)wanted : (uint32_t)sizeof linear_memory;
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *memory, uint32_t pages) {
  return pages == 0 ? memory->pages : UINT32_MAX; // no room beyond the static memory
}

void wasm_rt_free_memory(wasm_rt_memory_t *memory) {
  memory_taken = 0;
  memory->data = NULL;
  memory->size = 0;
}
