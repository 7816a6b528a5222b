// The board's RPC methods: the registry outpost_method fills, the answers a handler
// gives (outpost_ok, outpost_fail), and the rpc.list text the host_call import sends.
#include <stdio.h>
#include <string.h>

#include "outpost_internal.h"

static struct {
  const char *name, *description, *params_schema;
  outpost_handler handler;
} methods[OUTPOST_MAX_METHODS];
static unsigned method_count;

int outpost_method(const char *name, const char *description, const char *params_schema, outpost_handler handler) {
  for (unsigned i = 0; i < method_count; i++) {
    if (strcmp(methods[i].name, name) == 0) {
      methods[i].handler = handler; // re-registering replaces
      return 0;
    }
  }
  if (method_count == OUTPOST_MAX_METHODS) return -1;
  methods[method_count].name = name;
  methods[method_count].description = description;
  methods[method_count].params_schema = params_schema;
  methods[method_count].handler = handler;
  method_count++;
  return 0;
}

int outpost_method_run(const char *name, size_t len, outpost_call *call) {
  for (unsigned i = 0; i < method_count; i++) {
    if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0) {
      call->method = methods[i].name;
      methods[i].handler(call);
      return 1;
    }
  }
  return 0;
}

void outpost_ok(outpost_call *call, const char *json_format, ...) {
  va_list args;
  va_start(args, json_format);
  int n = vsnprintf(call->out, call->out_cap, json_format, args);
  va_end(args);
  call->status = n < 0 || (size_t)n >= call->out_cap ? OUTPOST_HOST_TOO_LARGE << 24 : (OUTPOST_HOST_RESULT << 24) | (uint32_t)n;
}

void outpost_ok_written(outpost_call *call, size_t len) {
  call->status = len > call->out_cap ? OUTPOST_HOST_TOO_LARGE << 24 : (OUTPOST_HOST_RESULT << 24) | (uint32_t)len;
}

// Appends text as the inside of a JSON string: quotes, backslashes and control characters
// escaped. Returns the new length, or cap when it does not fit.
static size_t json_escape(char *out, size_t n, size_t cap, const char *text) {
  static const char hex[] = "0123456789abcdef";
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (n >= cap) return cap;
    if (*p == '"' || *p == '\\') {
      if (n + 2 > cap) return cap;
      out[n++] = '\\';
      out[n++] = (char)*p;
    } else if (*p < 0x20) {
      if (n + 6 > cap) return cap;
      memcpy(out + n, "\\u00", 4);
      out[n + 4] = hex[*p >> 4];
      out[n + 5] = hex[*p & 15];
      n += 6;
    } else {
      out[n++] = (char)*p;
    }
  }
  return n;
}

void outpost_fail(outpost_call *call, int code, const char *message) {
  int head = snprintf(call->out, call->out_cap, "{\"code\":%d,\"message\":\"", code);
  size_t n = head < 0 || (size_t)head >= call->out_cap
                 ? call->out_cap
                 : json_escape(call->out, (size_t)head, call->out_cap, message ? message : "");
  if (n + 2 > call->out_cap) {
    call->status = OUTPOST_HOST_TOO_LARGE << 24;
    return;
  }
  call->out[n++] = '"';
  call->out[n++] = '}';
  call->status = (OUTPOST_HOST_ERROR << 24) | (uint32_t)n;
}

void outpost_list_methods(outpost_call *call) {
  size_t n = 0;
  int w = 0;
  for (unsigned i = 0; i < method_count && w >= 0 && n < call->out_cap; i++) {
    w = snprintf(call->out + n, n < call->out_cap ? call->out_cap - n : 0,
                 "%c{\"name\":\"%s\",\"description\":\"%s\",\"params\":%s}", i ? ',' : '[', methods[i].name,
                 methods[i].description ? methods[i].description : "",
                 methods[i].params_schema ? methods[i].params_schema : "{}");
    n += (size_t)w;
  }
  if (w < 0 || n + 2 > call->out_cap) {
    call->status = OUTPOST_HOST_TOO_LARGE << 24;
    return;
  }
  if (!method_count) call->out[n++] = '[';
  call->out[n++] = ']';
  call->status = (OUTPOST_HOST_RESULT << 24) | (uint32_t)n;
}
