// Shared between the runtime's files; not for boards. The runtime is split by concern:
//   outpost_methods.c  the board's method registry, outpost_ok / outpost_fail, rpc.list
//   outpost_params.c   the params reader board methods use
//   outpost_imports.c  the module's imports (log, host_call, abort), engine-neutral
//   outpost_load.c     loading and calling the module, whatever the engine
//   outpost_loop.c     JSON-RPC and the device over a transport
// and one engine behind the seam below, chosen at build time (boards/common/board.mk ENGINE=):
//   outpost_engine_wasm3.c  wasm3 interprets the module bytes it is given (app updates possible)
//   outpost_engine_aot.c    the module translated to C by wasm2c and compiled in (firmware updates only)
#ifndef OUTPOST_INTERNAL_H
#define OUTPOST_INTERNAL_H

#include "outpost.h"

// An export of the loaded module, as the engine knows it.
typedef const struct outpost_export *outpost_fn;

typedef struct {
  const outpost_board *board;
  int loaded;
  // Exports the loop calls on every message, looked up once.
  outpost_fn rpc_handle;
  uint32_t rpc_request, rpc_request_cap, rpc_response;
  // What sys.info announces, so the backend refuses an over-limit call before sending it (413).
  uint32_t rpc_response_cap, max_packet; // max_packet 0: not over MQTT
} outpost_runtime;

extern outpost_runtime outpost_rt;

void outpost_errorf(const char *format, ...);
void outpost_log(int level, const char *format, ...);

// ---- the engine seam (one outpost_engine_*.c per engine) --------------------------

// sys.info's "engine".
extern const char outpost_engine_name[];
// Instantiates the module from its bytes: parse, link the imports, run its start function.
// 0, or -1 with outpost_errorf saying why. outpost_engine_unload tears it down; loading
// again afterwards is allowed (outpost_load always unloads first).
int outpost_engine_load(const uint8_t *wasm, size_t len);
void outpost_engine_unload(void);
// An export by name, or NULL.
outpost_fn outpost_find(const char *name);
// Calls fn with i32 args; on a trap records it (outpost_fail_trap) and returns -1.
int outpost_invoke(outpost_fn fn, int32_t *result, unsigned argc, const int32_t *args);
// outpost_memory (outpost.h) is the engine's too.
#if OUTPOST_WASM3_DROP_CODE
int outpost_engine_drop_code(void);
#endif

// ---- imports (outpost_imports.c), called by each engine's glue --------------------

// Each returns 0, or -1 when an argument points outside linear memory: the glue traps then.
int outpost_import_log(const uint8_t *mem, uint32_t size, uint32_t level, uint32_t ptr, uint32_t len);
int outpost_import_host_call(uint8_t *mem, uint32_t size, uint32_t method, uint32_t method_len, uint32_t params,
                             uint32_t params_len, uint32_t out, uint32_t out_cap, uint32_t *status);
// Keeps the module's abort message for the trap report that follows.
void outpost_import_abort(const uint8_t *mem, uint32_t size, uint32_t msg, uint32_t file, uint32_t line, uint32_t column);
// Records a trap described by the engine ("[trap] ... in export X"), with the abort message if
// the module called abort, and logs it. Returns -1.
int outpost_fail_trap(const char *where);

// ---- methods (outpost_methods.c) ---------------------------------------------------

// Runs the registered method called name[0..len); 0 when there is none.
int outpost_method_run(const char *name, size_t len, outpost_call *call);
// rpc.list's host part: [{"name":..,"description":..,"params":..}, ...].
void outpost_list_methods(outpost_call *call);

#endif
