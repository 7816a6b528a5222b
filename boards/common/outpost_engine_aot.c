// The AOT engine: build/device.wasm translated to C by wasm2c (boards/common/gen-aot.mjs)
// and compiled into the firmware. No interpreter and no compiled code in RAM: the module's
// functions are the firmware's own, its linear memory is static (outpost_aot_rt.c). A new
// module means a new firmware. The seam is outpost_internal.h.
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "outpost_aot_module.h"
#include "outpost_aot_rt.h"
#include "outpost_internal.h"

const char outpost_engine_name[] = "aot";

// The module's imports, by wasm2c's names (device.h); the module instance holds nothing of ours.
struct Z_outpost_instance_t {
  int unused;
};
static struct Z_outpost_instance_t imports;
static Z_device_instance_t instance;
static int instantiated;

uint8_t *outpost_memory(uint32_t *size) {
  if (size) *size = instantiated ? instance.w2c_memory.size : 0;
  return instantiated ? instance.w2c_memory.data : NULL;
}

void Z_outpostZ_log(struct Z_outpost_instance_t *ctx, u32 level, u32 ptr, u32 len) {
  if (outpost_import_log(instance.w2c_memory.data, instance.w2c_memory.size, level, ptr, len)) wasm_rt_trap(WASM_RT_TRAP_OOB);
}

u32 Z_outpostZ_host_call(struct Z_outpost_instance_t *ctx, u32 method, u32 method_len, u32 params, u32 params_len, u32 out,
                         u32 out_cap) {
  uint32_t status;
  if (outpost_import_host_call(instance.w2c_memory.data, instance.w2c_memory.size, method, method_len, params, params_len, out,
                               out_cap, &status))
    wasm_rt_trap(WASM_RT_TRAP_OOB);
  return status;
}

// ---- exports ----------------------------------------------------------------------

struct outpost_export {
  const char *name;
  void (*function)(void); // cast back by returns and argc in invoke()
  uint8_t returns, argc;
};

#define AS_EXPORT(name, function, returns, argc) {name, (void (*)(void))function, returns, argc},
static const struct outpost_export exports[] = {OUTPOST_AOT_EXPORTS(AS_EXPORT)};

outpost_fn outpost_find(const char *name) {
  for (unsigned i = 0; instantiated && i < sizeof exports / sizeof exports[0]; i++) {
    if (strcmp(exports[i].name, name) == 0) return &exports[i];
  }
  return NULL;
}

typedef Z_device_instance_t *I;
typedef u32 A;
// One call through the export's own C type.
static uint32_t call(outpost_fn fn, const int32_t *a) {
  void (*f)(void) = fn->function;
#define ARGS0 &instance
#define ARGS1 ARGS0, (A)a[0]
#define ARGS2 ARGS1, (A)a[1]
#define ARGS3 ARGS2, (A)a[2]
#define ARGS4 ARGS3, (A)a[3]
#define ARGS5 ARGS4, (A)a[4]
#define ARGS6 ARGS5, (A)a[5]
#define CASE(n, ...)                                           \
  case n:                                                      \
    if (fn->returns) return ((u32(*)(__VA_ARGS__))f)(ARGS##n); \
    ((void (*)(__VA_ARGS__))f)(ARGS##n);                       \
    return 0;
  switch (fn->argc) {
    CASE(0, I)
    CASE(1, I, A)
    CASE(2, I, A, A)
    CASE(3, I, A, A, A)
    CASE(4, I, A, A, A, A)
    CASE(5, I, A, A, A, A, A)
    CASE(6, I, A, A, A, A, A, A)
  }
  return 0;
}

// wasm3's wording, so a trap reads the same whichever engine ran it.
static const char *trap_name(int trap) {
  switch (trap) {
    case WASM_RT_TRAP_OOB: return "[trap] out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "[trap] integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "[trap] integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "[trap] invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "[trap] unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT: return "[trap] indirect call type mismatch";
    case WASM_RT_TRAP_EXHAUSTION: return "[trap] stack overflow";
    default: return "[trap] unknown";
  }
}

static int trapped(int trap, const char *entry) {
  char where[160];
  snprintf(where, sizeof where, "%s in export %s", trap_name(trap), entry);
  return outpost_fail_trap(where);
}

int outpost_invoke(outpost_fn fn, int32_t *result, unsigned argc, const int32_t *args) {
  if (!fn || argc != fn->argc) {
    outpost_errorf("missing export or wrong argument count");
    return -1;
  }
  jmp_buf here, *outer = outpost_aot_unwind;
  uint32_t depth = wasm_rt_call_stack_depth;
  int trap = setjmp(here);
  if (trap) {
    outpost_aot_unwind = outer;
    wasm_rt_call_stack_depth = depth;
    return trapped(trap - 1, fn->name);
  }
  outpost_aot_unwind = &here;
  uint32_t value = call(fn, args);
  outpost_aot_unwind = outer;
  if (result) *result = (int32_t)value;
  return 0;
}

// ---- loading ----------------------------------------------------------------------

static uint32_t fnv1a(const uint8_t *bytes, size_t len) {
  uint32_t hash = 0x811c9dc5u;
  for (size_t i = 0; i < len; i++) hash = (hash ^ bytes[i]) * 0x01000193u;
  return hash;
}

int outpost_engine_load(const uint8_t *wasm, size_t len) {
  // No bytes: the module compiled in. Bytes: they must be that module, or this engine cannot run them.
  if (len && (len != OUTPOST_AOT_MODULE_BYTES || fnv1a(wasm, len) != OUTPOST_AOT_MODULE_FNV1A)) {
    outpost_errorf(
        "this firmware's AOT engine runs only the module it was built from (%u bytes, FNV-1a %08x), not these %u bytes",
        (unsigned)OUTPOST_AOT_MODULE_BYTES, (unsigned)OUTPOST_AOT_MODULE_FNV1A, (unsigned)len);
    return -1;
  }
  // Registering the module's types and instantiating it (which runs its start function) may
  // trap: a load error then, not a hang.
  static int module_ready;
  jmp_buf here;
  int trap = setjmp(here);
  if (trap) {
    outpost_aot_unwind = NULL;
    wasm_rt_call_stack_depth = 0;
    if (module_ready) Z_device_free(&instance);
    return trapped(trap - 1, "(start)");
  }
  outpost_aot_unwind = &here;
  if (!module_ready) {
    wasm_rt_init();
    Z_device_init_module();
    module_ready = 1;
  }
  Z_device_instantiate(&instance, &imports);
  outpost_aot_unwind = NULL;
  instantiated = 1;
  return 0;
}

void outpost_engine_unload(void) {
  if (instantiated) Z_device_free(&instance);
  instantiated = 0;
}
