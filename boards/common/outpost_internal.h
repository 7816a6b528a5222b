// Shared between the runtime's files (outpost.c, outpost_loop.c); not for boards.
#ifndef OUTPOST_INTERNAL_H
#define OUTPOST_INTERNAL_H

#include "outpost.h"
#include "wasm3.h"

typedef struct {
  const outpost_board *board;
  IM3Environment env;
  IM3Runtime runtime;
  IM3Module module;
  // Exports the loop calls on every message, looked up once.
  IM3Function rpc_handle;
  uint32_t rpc_request, rpc_request_cap, rpc_response;
  // What sys.info announces, so the backend refuses an over-limit call before sending it (413).
  uint32_t rpc_response_cap, max_packet; // max_packet 0: not over MQTT
} outpost_runtime;

extern outpost_runtime outpost_rt;

void outpost_errorf(const char *format, ...);
void outpost_log(int level, const char *format, ...);
IM3Function outpost_find(const char *name);
// Calls fn with i32 args; on a trap records it (outpost_error) and returns -1.
int outpost_invoke(IM3Function fn, int32_t *result, unsigned argc, const int32_t *args);

#endif
