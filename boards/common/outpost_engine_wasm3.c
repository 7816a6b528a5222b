// The wasm3 engine: interprets the module bytes it is given (they may stay in flash),
// so a new module is an app update, not a firmware update. The seam is outpost_internal.h.
#include <stdio.h>
#include <string.h>

#include "m3_env.h"
#include "outpost_internal.h"
#include "outpost_stack.h"
#include "outpost_wasm3.h"
#include "wasm3.h"
#if OUTPOST_WASM3_DROP_CODE
#include "m3_code.h"
#include "m3_compile.h" // CompileFunction
#endif

const char outpost_engine_name[] = "wasm3";

static IM3Environment env;
static IM3Runtime runtime;
static IM3Module module;

#if OUTPOST_WASM3_DROP_CODE
// Every function uncompiled; their constant tables lie on the code pages (__wrap_m3_CopyMem), which
// go with the code, so wasm3 must not free them either.
static void forget_code(void) {
  for (u32 i = 0; i < module->numFunctions; i++) {
    module->functions[i].compiled = NULL;
    module->functions[i].constants = NULL;
    module->functions[i].numConstantBytes = 0;
  }
}
#endif

IM3Runtime outpost_wasm3_runtime(void) { return runtime; }
IM3Module outpost_wasm3_module(void) { return module; }

uint8_t *outpost_memory(uint32_t *size) {
  uint32_t ignored;
  return runtime ? m3_GetMemory(runtime, size ? size : &ignored, 0) : NULL;
}

// ---- the imports, as wasm3 raw functions over outpost_imports.c --------------------

m3ApiRawFunction(import_abort) {
  m3ApiGetArg(uint32_t, msg);
  m3ApiGetArg(uint32_t, file);
  m3ApiGetArg(uint32_t, line);
  m3ApiGetArg(uint32_t, column);
  outpost_import_abort(_mem, m3_GetMemorySize(runtime), msg, file, line, column);
  m3ApiTrap(m3Err_trapAbort);
}

m3ApiRawFunction(import_log) {
  m3ApiGetArg(uint32_t, level);
  m3ApiGetArg(uint32_t, ptr);
  m3ApiGetArg(uint32_t, len);
  if (outpost_import_log(_mem, m3_GetMemorySize(runtime), level, ptr, len)) m3ApiTrap(m3Err_trapOutOfBoundsMemoryAccess);
  m3ApiSuccess();
}

m3ApiRawFunction(import_host_call) {
  m3ApiReturnType(uint32_t);
  m3ApiGetArg(uint32_t, method);
  m3ApiGetArg(uint32_t, method_len);
  m3ApiGetArg(uint32_t, params);
  m3ApiGetArg(uint32_t, params_len);
  m3ApiGetArg(uint32_t, out);
  m3ApiGetArg(uint32_t, out_cap);
  uint32_t status;
  if (outpost_import_host_call(_mem, m3_GetMemorySize(runtime), method, method_len, params, params_len, out, out_cap, &status))
    m3ApiTrap(m3Err_trapOutOfBoundsMemoryAccess);
  m3ApiReturn(status);
}

// Every import of assembly/ABI.md, with the signature the module must declare.
static const struct {
  const char *module, *name, *signature;
  M3RawCall function;
} imports[] = {
    {"env", "abort", "v(iiii)", import_abort},
    {"outpost", "log", "v(iii)", import_log},
    {"outpost", "host_call", "i(iiiiii)", import_host_call},
};

// ---- loading and calling ---------------------------------------------------------

// wasm3's value stack: the module's heaviest call chain (outpost_stack.h, generated from
// build/device.wasm with these boards' wasm3 frames), plus the one slot wasm3's entry check
// keeps free. The module's JSON depth limit adds nothing (outpost_abi.h says why).
// A board built for the lean module (boards/stm32 MODULE=mqtt311) sizes it from that module's chains.
#ifndef OUTPOST_WASM3_STACK
#if OUTPOST_MODULE_MQTT311
#define OUTPOST_WASM3_STACK ((OUTPOST_MQTT311_STACK_SLOTS + 1) * sizeof(m3slot_t))
#else
#define OUTPOST_WASM3_STACK ((OUTPOST_MODULE_STACK_SLOTS + 1) * sizeof(m3slot_t))
#endif
#endif

static int fail_trap(M3Result trap, const char *entry) {
  char where[160];
  outpost_describe_trap(runtime, trap, entry, where, sizeof where);
  return outpost_fail_trap(where);
}

int outpost_engine_load(const uint8_t *wasm, size_t len) {
  M3Result result;
  if (!(env = m3_NewEnvironment()) || !(runtime = m3_NewRuntime(env, OUTPOST_WASM3_STACK, NULL))) {
    outpost_errorf("out of memory creating the wasm3 runtime");
    return -1;
  }
  runtime->memoryLimit = OUTPOST_MEMORY_LIMIT;
  if ((result = m3_ParseModule(env, &module, wasm, (uint32_t)len))) {
    module = NULL;
    outpost_errorf("cannot parse the module: %s", result);
    return -1;
  }
  if ((result = m3_LoadModule(runtime, module))) {
    m3_FreeModule(module);
    module = NULL;
    outpost_errorf("cannot load the module: %s", result);
    return -1;
  }
  for (unsigned i = 0; i < sizeof imports / sizeof imports[0]; i++) {
    result = m3_LinkRawFunction(module, imports[i].module, imports[i].name, imports[i].signature, imports[i].function);
    if (result && result != m3Err_functionLookupFailed) { // an import the module does not use is fine
      outpost_errorf("cannot link %s.%s as %s: %s", imports[i].module, imports[i].name, imports[i].signature, result);
      return -1;
    }
  }
  IM3Function unlinked = outpost_unlinked_import(module);
  if (unlinked) {
    outpost_errorf("missing import %s.%s: this runtime implements an older ABI", unlinked->import.moduleUtf8,
                   unlinked->import.fieldUtf8);
    return -1;
  }
#if OUTPOST_COMPILE_AT_LOAD
  if ((result = m3_CompileModule(module))) {
    outpost_errorf("cannot compile the module: %s", result);
    return -1;
  }
#endif
  if ((result = m3_RunStart(module))) return fail_trap(result, "(start)");
  return 0;
}

void outpost_engine_unload(void) {
#if OUTPOST_WASM3_DROP_CODE
  if (module) forget_code(); // the constant tables are not heap chunks
#endif
  if (runtime) m3_FreeRuntime(runtime); // frees the modules loaded into it
  if (env) m3_FreeEnvironment(env);
  runtime = NULL;
  env = NULL;
  module = NULL;
}

#if OUTPOST_WASM3_DROP_CODE
// Drops every function's compiled code at once (boards/stm32 DROP_CODE: after device_start, when
// the link comes up or goes down, and with 2 between a request's steps; outpost_loop.c). wasm3
// cannot free one function's code, since its callers' code points into it (README.md, "Memory"),
// but with all of it gone nothing points anywhere. The pages go back to the environment's pool,
// where wasm3 takes its next pages from, so the code that runs next is compiled into them and the
// heap holds the largest set, not their sum. Each function is compiled again on its next call
// (outpost_invoke, wasm3's call ops); the imports' stubs, which sit on the same pages, are linked
// again, and the constant tables go with the pages they lie on (__wrap_m3_CopyMem). No wasm3 call
// may be running (none is between exports).
void Environment_ReleaseCodePages(IM3Environment environment, IM3CodePage pages); // m3_env.c

int outpost_engine_drop_code(void) {
  if (!runtime || !module) return 0;
  if (runtime->numActiveCodePages) { // a compilation holds a page: never between exports
    outpost_errorf("cannot drop compiled code during a compilation");
    return -1;
  }
  forget_code();
  Environment_ReleaseCodePages(env, runtime->pagesOpen);
  Environment_ReleaseCodePages(env, runtime->pagesFull);
  runtime->pagesOpen = runtime->pagesFull = NULL;
  runtime->numCodePages = 0;
  for (unsigned i = 0; i < sizeof imports / sizeof imports[0]; i++) {
    M3Result result = m3_LinkRawFunction(module, imports[i].module, imports[i].name, imports[i].signature, imports[i].function);
    if (result && result != m3Err_functionLookupFailed) {
      outpost_errorf("cannot link %s.%s again: %s", imports[i].module, imports[i].name, result);
      return -1;
    }
  }
  return 0;
}

// wasm3 copies a function's constant table out of the compilation when it has compiled the
// function (its one m3_CopyMem call, at the end of CompileFunction), into a heap chunk of its own.
// Here it goes onto the code page the function was compiled into instead (or a page of its own when
// that one is full), so it is dropped with the code: no heap chunk is allocated or freed per compile,
// and with DROP_CODE=2 none per request. The board links with --wrap=m3_CopyMem.
void *__wrap_m3_CopyMem(const void *from, size_t size) {
  u32 lines = (u32)((size + sizeof(code_t) - 1) / sizeof(code_t));
  IM3CodePage page = runtime ? runtime->compilation.page : NULL;
  IM3CodePage own = NULL;
  if (!page || NumFreeLines(page) < lines) page = own = AcquireCodePageWithCapacity(runtime, lines);
  if (!page) return NULL; // CompileFunction names it
  void *at = &page->code[page->info.lineIndex];
  page->info.lineIndex += lines;
  memcpy(at, from, size);
  if (own) ReleaseCodePage(runtime, own);
  return at;
}
#endif

outpost_fn outpost_find(const char *name) {
  IM3Function fn = NULL;
  if (!runtime || m3_FindFunction(&fn, runtime, name)) return NULL;
  return (outpost_fn)fn;
}

int outpost_invoke(outpost_fn export, int32_t *result, unsigned argc, const int32_t *args) {
  IM3Function fn = (IM3Function) export;
  const void *ptrs[8];
  if (!fn || argc > 8) {
    outpost_errorf("missing export or too many arguments");
    return -1;
  }
  for (unsigned i = 0; i < argc; i++) ptrs[i] = &args[i];
#if OUTPOST_WASM3_DROP_CODE
  if (!fn->compiled) { // dropped by outpost_engine_drop_code since outpost_find compiled it
    M3Result compiled = CompileFunction(fn);
    if (compiled) return fail_trap(compiled, m3_GetFunctionName(fn));
  }
#endif
  M3Result trap = m3_Call(fn, argc, ptrs);
  if (trap) return fail_trap(trap, m3_GetFunctionName(fn));
  if (result) {
    *result = 0;
    if (m3_GetRetCount(fn) == 1) {
      const void *out[1] = {result};
      m3_GetResults(fn, 1, out);
    }
  }
  return 0;
}
