#include "outpost_wasm3.h"

#include <stdio.h>
#include <string.h>

#include "m3_env.h"

static char type_char(u8 type) {
  switch (type) {
    case c_m3Type_i32: return 'i';
    case c_m3Type_i64: return 'I';
    case c_m3Type_f32: return 'f';
    case c_m3Type_f64: return 'F';
    default: return '?';
  }
}

_Bool outpost_signature(IM3Function function, char *out, size_t size) {
  IM3FuncType type = function->funcType;
  size_t need = (type->numRets ? type->numRets : 1) + type->numArgs + 3;
  if (need > size) return 0;
  size_t n = 0;
  if (type->numRets == 0) out[n++] = 'v';
  for (u16 i = 0; i < type->numRets; i++) out[n++] = type_char(type->types[i]);
  out[n++] = '(';
  for (u16 i = 0; i < type->numArgs; i++) out[n++] = type_char(type->types[type->numRets + i]);
  out[n++] = ')';
  out[n] = 0;
  return 1;
}

unsigned outpost_import_count(IM3Module module) { return module->numFuncImports; }

IM3Function outpost_import(IM3Module module, unsigned index) { return &module->functions[index]; }

IM3Function outpost_unlinked_import(IM3Module module) {
  for (u32 i = 0; i < module->numFuncImports; i++) {
    if (!module->functions[i].compiled) return &module->functions[i];
  }
  return NULL;
}

static void describe_function(IM3Function function, char *out, size_t size) {
  const char *name = m3_GetFunctionName(function);
  long index = function->module ? (long)(function - function->module->functions) : -1;
  snprintf(out, size, "%s (function #%ld)", name, index);
}

void outpost_describe_trap(IM3Runtime runtime, M3Result trap, const char *entry, char *out, size_t size) {
  char where[96] = "";
#if d_m3RecordBacktraces
  IM3BacktraceInfo backtrace = m3_GetBacktrace(runtime);
  if (backtrace && backtrace->frames && backtrace->frames->function) {
    describe_function(backtrace->frames->function, where, sizeof where);
  }
#else
  (void)runtime;
  (void)describe_function;
#endif
  if (where[0]) {
    snprintf(out, size, "%s in %s, called through export %s", trap, where, entry);
  } else {
    snprintf(out, size, "%s in export %s", trap, entry);
  }
}
