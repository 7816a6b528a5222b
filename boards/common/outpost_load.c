// Loading and calling the module, whatever the engine (outpost_internal.h has the seam):
// the runtime's state, its error text and log, the ABI version check.
#define OUTPOST_ABI_IMPLEMENTATION // outpost_err_name is defined here (outpost.h includes outpost_abi.h)
#include "outpost.h"

#include <stdio.h>
#include <string.h>

#include "outpost_internal.h"

outpost_runtime outpost_rt;

static char error_text[192];

const char *outpost_error(void) { return error_text; }

void outpost_errorf(const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(error_text, sizeof error_text, format, args);
  va_end(args);
}

void outpost_log(int level, const char *format, ...) {
  char line[192];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  if (outpost_rt.board && outpost_rt.board->log) outpost_rt.board->log(level, line, (size_t)n);
}

int outpost_load(const outpost_board *board, const uint8_t *wasm, size_t len) {
  outpost_unload();
  outpost_rt.board = board;
  outpost_config_methods();
  if (outpost_engine_load(wasm, len)) goto fail;
  outpost_rt.loaded = 1;
  int32_t version = 0;
  if (outpost_call_export("abi_version", &version, 0)) goto fail;
  if (version != OUTPOST_ABI_VERSION) {
    outpost_errorf("the module implements ABI version %d, this runtime %d (assembly/ABI.md)", (int)version, OUTPOST_ABI_VERSION);
    goto fail;
  }
  return 0;
fail:
  outpost_log(3, "%s", error_text);
  outpost_unload();
  return -1;
}

void outpost_unload(void) {
  outpost_engine_unload();
  const outpost_board *board = outpost_rt.board;
  memset(&outpost_rt, 0, sizeof outpost_rt);
  outpost_rt.board = board;
}

int outpost_call_export(const char *name, int32_t *result, unsigned argc, ...) {
  int32_t args[8];
  va_list list;
  va_start(list, argc);
  for (unsigned i = 0; i < argc && i < 8; i++) args[i] = va_arg(list, int32_t);
  va_end(list);
  outpost_fn fn = outpost_rt.loaded ? outpost_find(name) : NULL;
  if (!fn) {
    outpost_errorf("the module has no export %s", name);
    return -1;
  }
  return outpost_invoke(fn, result, argc, args);
}
