// Heap accounting by caller, for the RAM breakdown (make HEAP_TRACE=1; never in the
// measured firmware, whose RAM it would change). Linked with --wrap for wasm3's
// allocator entry points and for calloc/realloc/free underneath them: the outer
// wrap names the wasm3 function that asked, the inner one sees every chunk and
// its real size in newlib-nano. The board.heap method reports, per caller address,
// the bytes asked for, the bytes the chunks really take, and the count; the bench
// maps the addresses to function names with addr2line.
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "m3_env.h"
#include "outpost_internal.h"
#include "outpost_wasm3.h"

#define MAX_LIVE 512
#define MAX_CALLERS 40
#define CHUNK_HEADER 4 // newlib-nano keeps the chunk size in front of the data

void *__real_m3_Malloc(size_t size);
void *__real_m3_Realloc(void *ptr, size_t new_size, size_t old_size);
void *__real_m3_CopyMem(const void *from, size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);
void __real_free(void *ptr);
void *__real__malloc_r(struct _reent *r, size_t size);
void __real__free_r(struct _reent *r, void *ptr);

static struct {
  void *ptr;
  uint32_t size;
  uint8_t caller;
} live[MAX_LIVE];
static struct {
  uintptr_t address;
  uint32_t asked, chunks, count;
} callers[MAX_CALLERS];
static unsigned caller_count, lost;
static uintptr_t asking; // the wasm3 caller of the allocation in progress
static int wrapped; // inside one of the wraps below: newlib's inner calls are theirs

static unsigned caller_index(uintptr_t address) {
  for (unsigned i = 0; i < caller_count; i++)
    if (callers[i].address == address) return i;
  if (caller_count == MAX_CALLERS) return MAX_CALLERS - 1; // the last row collects the rest
  callers[caller_count].address = address;
  return caller_count++;
}

static size_t chunk_size(void *ptr) { return malloc_usable_size(ptr) + CHUNK_HEADER; }

static void forget(void *ptr) {
  for (unsigned i = 0; i < MAX_LIVE; i++) {
    if (live[i].ptr != ptr) continue;
    unsigned c = live[i].caller;
    callers[c].asked -= live[i].size;
    callers[c].chunks -= chunk_size(ptr);
    callers[c].count--;
    live[i].ptr = NULL;
    return;
  }
}

static void remember(void *ptr, size_t size, uintptr_t caller) {
  unsigned c = caller_index(caller);
  for (unsigned i = 0; i < MAX_LIVE; i++) {
    if (live[i].ptr) continue;
    live[i].ptr = ptr;
    live[i].size = (uint32_t)size;
    live[i].caller = (uint8_t)c;
    callers[c].asked += (uint32_t)size;
    callers[c].chunks += (uint32_t)chunk_size(ptr);
    callers[c].count++;
    return;
  }
  lost++;
}

// Allocations made inside m3_core.c itself (Read_utf8's name copies) reach calloc
// unwrapped: they are tagged with calloc's own caller.
void *__wrap_calloc(size_t n, size_t size) {
  uintptr_t caller = asking ? asking : (uintptr_t)__builtin_return_address(0);
  wrapped = 1;
  void *ptr = __real_calloc(n, size);
  wrapped = 0;
  if (ptr) remember(ptr, n * size, caller);
  return ptr;
}

void *__wrap_realloc(void *ptr, size_t size) {
  uintptr_t caller = asking ? asking : (uintptr_t)__builtin_return_address(0);
  if (ptr) forget(ptr);
  wrapped = 1;
  void *moved = __real_realloc(ptr, size);
  wrapped = 0;
  if (moved) remember(moved, size, caller);
  return moved;
}

void __wrap_free(void *ptr) {
  if (ptr) forget(ptr);
  wrapped = 1;
  __real_free(ptr);
  wrapped = 0;
}

// newlib's own allocations (stdio buffers) call _malloc_r directly.
void *__wrap__malloc_r(struct _reent *r, size_t size) {
  void *ptr = __real__malloc_r(r, size);
  if (ptr && !wrapped) remember(ptr, size, (uintptr_t)__builtin_return_address(0));
  return ptr;
}

void __wrap__free_r(struct _reent *r, void *ptr) {
  if (ptr && !wrapped) forget(ptr);
  __real__free_r(r, ptr);
}

void *__wrap_m3_Malloc(size_t size) {
  asking = (uintptr_t)__builtin_return_address(0);
  void *ptr = __real_m3_Malloc(size);
  asking = 0;
  return ptr;
}

void *__wrap_m3_Realloc(void *ptr, size_t new_size, size_t old_size) {
  asking = (uintptr_t)__builtin_return_address(0);
  void *moved = __real_m3_Realloc(ptr, new_size, old_size);
  asking = 0;
  return moved;
}

#if !OUTPOST_WASM3_DROP_CODE // with it the engine wraps m3_CopyMem (outpost_engine_wasm3.c)
void *__wrap_m3_CopyMem(const void *from, size_t size) {
  asking = (uintptr_t)__builtin_return_address(0);
  void *ptr = __real_m3_CopyMem(from, size);
  asking = 0;
  return ptr;
}
#endif

// {"callers":[[address,asked,chunks,count],...],"untracked":n,"arena":..,"in_use":..,"free":..}
static void board_heap_method(outpost_call *call) {
  struct mallinfo mi = mallinfo();
  size_t n = 0;
  int w = snprintf(call->out, call->out_cap, "{\"callers\":[");
  unsigned rows = 0;
  for (unsigned i = 0; i < caller_count && w >= 0 && n + (size_t)w < call->out_cap; i++) {
    if (!callers[i].count) continue; // all it allocated is freed again
    n += (size_t)w;
    w = snprintf(call->out + n, call->out_cap - n, "%s[%lu,%lu,%lu,%lu]", rows++ ? "," : "", (unsigned long)callers[i].address,
                 (unsigned long)callers[i].asked, (unsigned long)callers[i].chunks, (unsigned long)callers[i].count);
  }
  if (w >= 0) n += (size_t)w; // the last row written
  if (w >= 0 && n < call->out_cap) {
    // Code pages: lines written vs lines allocated; compiled functions and their wasm bytes.
    unsigned long pages = 0, lines_used = 0, lines = 0, compiled = 0, wasm_bytes = 0, functions = 0;
    IM3Runtime rt = outpost_wasm3_runtime();
    for (int list = 0; rt && list < 2; list++) {
      for (IM3CodePage page = list ? rt->pagesFull : rt->pagesOpen; page; page = page->info.next) {
        pages++;
        lines_used += page->info.lineIndex;
        lines += page->info.numLines;
      }
    }
    // wasm3's value stack starts zeroed and grows up: its highest non-zero slot is its high-water.
    unsigned long stack_used = 0;
    if (rt && rt->stack) {
      const uint32_t *slots = rt->stack;
      for (uint32_t i = rt->numStackSlots * sizeof(m3slot_t) / 4; i > 0; i--)
        if (slots[i - 1]) {
          stack_used = i * 4ul;
          break;
        }
    }
    IM3Module module = outpost_wasm3_module();
    for (u32 i = 0; module && i < module->numFunctions; i++) {
      functions++;
      if (module->functions[i].compiled && i >= module->numFuncImports) {
        compiled++;
        wasm_bytes += (unsigned long)(module->functions[i].wasmEnd - module->functions[i].wasm);
      }
    }
    w = snprintf(
        call->out + n, call->out_cap - n,
        "],\"untracked\":%u,\"arena\":%lu,\"in_use\":%lu,\"free\":%lu,\"code_pages\":%lu,\"code_bytes_used\":%lu,"
        "\"code_bytes\":%lu,\"functions\":%lu,\"compiled\":%lu,\"compiled_wasm_bytes\":%lu,\"globals\":%lu,"
        "\"sizeof_function\":%u,\"sizeof_global\":%u,\"sizeof_runtime\":%u,\"wasm3_stack_used\":%lu,\"wasm3_stack_bytes\":%lu}",
        lost, (unsigned long)mi.arena, (unsigned long)mi.uordblks, (unsigned long)mi.fordblks, pages, lines_used * sizeof(code_t),
        lines * sizeof(code_t), functions, compiled, wasm_bytes, module ? (unsigned long)module->numGlobals : 0ul,
        (unsigned)sizeof(M3Function), (unsigned)sizeof(M3Global), (unsigned)sizeof(M3Runtime), stack_used,
        rt ? (unsigned long)(rt->numStackSlots * sizeof(m3slot_t) + 4 * sizeof(m3slot_t)) : 0ul);
    if (w >= 0) n += (size_t)w;
  }
  outpost_ok_written(call, n);
}

void heap_trace_methods(void) {
  outpost_method("board.heap", "Live heap chunks by allocating function (HEAP_TRACE builds only)", NULL, board_heap_method);
}
