// The outpost runtime every board uses: wasm3 running build/device.wasm.
// A board supplies the module bytes (they may stay in flash), a transport
// (outpost_transport.h), a millisecond clock and a log sink, registers its RPC
// methods in C, and calls outpost_run. assembly/ABI.md is the contract.
#ifndef OUTPOST_H
#define OUTPOST_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "outpost_abi.h"
#include "outpost_transport.h"

// ---- RPC methods the board provides (the module's outpost.host_call import) ----

// One call of a board method. params is the JSON text of the request's params
// (array or object; empty when absent), not NUL-terminated.
typedef struct outpost_call {
  const char *method;
  const char *params;
  size_t params_len;
  char *out; // where the answer goes (the module's buffer)
  size_t out_cap;
  uint32_t status; // set by outpost_ok / outpost_fail
} outpost_call;

typedef void (*outpost_handler)(outpost_call *call);

// Registers a method; description and params_schema (JSON Schema text, or NULL) feed
// rpc.list. The strings must outlive the runtime. Returns 0, or -1 when the table
// (OUTPOST_MAX_METHODS) is full.
int outpost_method(const char *name, const char *description, const char *params_schema, outpost_handler handler);

// Answers with a JSON result, printf-style: outpost_ok(call, "{\"level\":%d}", level).
void outpost_ok(outpost_call *call, const char *json_format, ...);
// Answers with the len bytes of JSON the handler wrote at call->out itself.
void outpost_ok_written(outpost_call *call, size_t len);
// Answers with a JSON-RPC error (code -32000..-32099 for device errors).
void outpost_fail(outpost_call *call, int code, const char *message);

// Reads a parameter by position in a params array or by name in a params object.
// Each returns 0, or -1 if it is absent or of another type.
// Element `index` of a params array (key NULL), or member `index` of a params object.
int outpost_param_at(const outpost_call *call, unsigned index, const char **key, size_t *key_len, const char **json, size_t *len);
int outpost_param(const outpost_call *call, unsigned position, const char *name, const char **json, size_t *len);
int outpost_param_int(const outpost_call *call, unsigned position, const char *name, long *value);
// A string without escapes, NUL-terminated into out.
int outpost_param_string(const outpost_call *call, unsigned position, const char *name, char *out, size_t cap);

// More members of sys.info's host part (",\"app\":{...}" from outpost_ota.c): writes them at out
// and returns their length, or -1 if cap is too small. NULL: none.
extern int (*outpost_sysinfo_extra)(char *out, size_t cap);

// Registers config.get / config.set (outpost_config.c), as the Node host has them.
void outpost_config_methods(void);

#ifndef OUTPOST_MAX_METHODS
#define OUTPOST_MAX_METHODS 16
#endif

// ---- the runtime ----------------------------------------------------------------

typedef struct outpost_board {
  const char *name; // reported by sys.info
  uint32_t (*now)(void); // monotonic ms, may wrap
  uint32_t (*random)(void); // seeds the backoff jitter
  void (*log)(int level, const char *text, size_t len); // 0 debug .. 3 error
} outpost_board;

typedef struct outpost_device_config {
  const char *id;
  const char *host;
  uint16_t port;
  const char *username; // NULL: the device id
  const char *password; // NULL: none
  const char *ws_url; // "ws://host:port/path" selects WebSocket instead of MQTT (device_set key 3); NULL: MQTT
  uint8_t mqtt_version; // 4 (3.1.1, also 0) or 5
  // 0 (the default): the broker keeps the device's session across disconnects, so QoS 1
  // requests published meanwhile are delivered when it is back. 1: every connection starts clean.
  uint8_t clean;
  // MQTT 5, not clean: seconds the broker keeps the session after a disconnect; 0: OUTPOST_SESSION_EXPIRY_S.
  uint32_t session_expiry_s;
  // Publish sys.info as telemetry every this many ms (device_config key OUTPOST_DEV_TELEMETRY_MS); 0: never.
  uint32_t telemetry_ms;
} outpost_device_config;

#ifndef OUTPOST_SESSION_EXPIRY_S
#define OUTPOST_SESSION_EXPIRY_S 3600u
#endif

// Loads and links the module. Returns 0, or -1 with outpost_error() saying why
// (a parse failure, a missing import, a trap in the start function...).
int outpost_load(const outpost_board *board, const uint8_t *wasm, size_t len);

// Why the last call failed, e.g. "[trap] unreachable executed in rpc_handle (function #41), ...".
const char *outpost_error(void);

// The module's linear memory (its size is capped at OUTPOST_MEMORY_LIMIT).
uint8_t *outpost_memory(uint32_t *size);

// Calls an export by name with i32 arguments and one i32 (or no) result. Returns 0,
// or -1 (missing export, trap: see outpost_error).
int outpost_call_export(const char *name, int32_t *result, unsigned argc, ...);

// Sizes the module's JSON-RPC buffers for a board (rpc_init). 0 or -1.
int outpost_rpc_init(void);
// Dispatches one JSON-RPC request (or batch) in the module. On 0, *response points at
// the response text in linear memory (length 0: none is due) until the next call.
int outpost_rpc(const char *request, size_t len, const char **response, size_t *response_len);

// Runs the device until *stop becomes non-zero: dials out through the transport
// when the module asks, moves bytes both ways, answers RPC, and on stop publishes
// the offline status and disconnects cleanly. Returns 0, or -1 (outpost_error).
int outpost_run(const outpost_device_config *config, outpost_transport *transport, volatile sig_atomic_t *stop);

// Frees the runtime (outpost_load may be called again afterwards).
void outpost_unload(void);

#endif
