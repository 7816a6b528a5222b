// Drives the module: JSON-RPC requests in, responses out, and (outpost_run) the
// device over a transport, with the clock and the bytes the module asks for.
#include <string.h>

#include "outpost_internal.h"

// Board-sized JSON-RPC limits (rpc_init); a board may override with -D.
#ifndef OUTPOST_RPC_REQUEST_MAX
#define OUTPOST_RPC_REQUEST_MAX 1024
#endif
#ifndef OUTPOST_RPC_RESPONSE_MAX
#define OUTPOST_RPC_RESPONSE_MAX 1024
#endif
#ifndef OUTPOST_RPC_MAX_TOKENS
#define OUTPOST_RPC_MAX_TOKENS 128
#endif
#ifndef OUTPOST_RPC_MAX_DEPTH
#define OUTPOST_RPC_MAX_DEPTH 16
#endif

static uint32_t now(void) { return outpost_rt.board && outpost_rt.board->now ? outpost_rt.board->now() : 0; }

static int call_u32(const char *name, uint32_t *out) {
  int32_t v;
  if (outpost_call_export(name, &v, 0)) return -1;
  *out = (uint32_t)v;
  return 0;
}

int outpost_rpc_init(void) {
  int32_t rc;
  if (outpost_call_export("rpc_init", &rc, 5, OUTPOST_RPC_REQUEST_MAX, OUTPOST_RPC_RESPONSE_MAX, OUTPOST_RPC_MAX_TOKENS,
                          OUTPOST_RPC_MAX_DEPTH, (int32_t)now()))
    return -1;
  if (rc < 0) {
    outpost_errorf("rpc_init failed: error %d", (int)-rc);
    return -1;
  }
  if (call_u32("rpc_request_buffer", &outpost_rt.rpc_request) || call_u32("rpc_request_capacity", &outpost_rt.rpc_request_cap) ||
      call_u32("rpc_response_buffer", &outpost_rt.rpc_response))
    return -1;
  outpost_rt.rpc_handle = outpost_find("rpc_handle");
  if (!outpost_rt.rpc_handle) {
    outpost_errorf("the module has no export rpc_handle");
    return -1;
  }
  return 0;
}

int outpost_rpc(const char *request, size_t len, const char **response, size_t *response_len) {
  uint32_t size;
  uint8_t *mem = outpost_memory(&size);
  if (!outpost_rt.rpc_handle || !mem) {
    outpost_errorf("outpost_rpc before outpost_rpc_init");
    return -1;
  }
  // Over the capacity nothing is copied: the module answers "Request too large".
  if (len <= outpost_rt.rpc_request_cap) memcpy(mem + outpost_rt.rpc_request, request, len);
  int32_t args[2] = {(int32_t)len, (int32_t)now()}, n;
  if (outpost_invoke(outpost_rt.rpc_handle, &n, 2, args)) return -1;
  if (n < 0) {
    outpost_errorf("rpc_handle failed: error %d", (int)-n);
    return -1;
  }
  mem = outpost_memory(&size);
  if (outpost_rt.rpc_response > size || (uint32_t)n > size - outpost_rt.rpc_response) {
    outpost_errorf("rpc_handle answered outside linear memory");
    return -1;
  }
  *response = (const char *)mem + outpost_rt.rpc_response;
  *response_len = (size_t)n;
  return 0;
}

int outpost_run(const outpost_device_config *config, outpost_transport *transport, volatile sig_atomic_t *stop) {
  (void)config;
  (void)transport;
  (void)stop;
  outpost_errorf("this module has no device exports yet");
  return -1;
}
