// What the module imports (assembly/ABI.md, "Imports"): outpost.log, outpost.host_call
// and env.abort, over the module's linear memory. Engine-neutral: each engine's glue
// (outpost_engine_wasm3.c, outpost_engine_aot.c) passes the memory in and traps when
// these return -1 (an argument outside linear memory).
#include <stdio.h>
#include <string.h>

#include "outpost_internal.h"

// True when [ptr, ptr + len) lies inside linear memory.
static int in_memory(uint32_t size, uint32_t ptr, uint32_t len) { return ptr <= size && len <= size - ptr; }

// An AssemblyScript string (UTF-16, byte length before it) as ASCII, for reports.
static void as_string(const uint8_t *mem, uint32_t size, uint32_t ptr, char *out, size_t cap) {
  out[0] = 0;
  if (!ptr || ptr < 4 || !in_memory(size, ptr - 4, 4)) return;
  uint32_t bytes;
  memcpy(&bytes, mem + ptr - 4, 4);
  if (!in_memory(size, ptr, bytes)) return;
  size_t n = 0;
  for (uint32_t i = 0; i + 1 < bytes && n + 1 < cap; i += 2) {
    uint16_t unit = (uint16_t)(mem[ptr + i] | mem[ptr + i + 1] << 8);
    out[n++] = unit < 0x80 ? (char)unit : '?';
  }
  out[n] = 0;
}

static char abort_text[128];

void outpost_import_abort(const uint8_t *mem, uint32_t size, uint32_t msg, uint32_t file, uint32_t line, uint32_t column) {
  char message[64], where[48];
  as_string(mem, size, msg, message, sizeof message);
  as_string(mem, size, file, where, sizeof where);
  snprintf(abort_text, sizeof abort_text, "abort: %s at %s:%u:%u", message, where, (unsigned)line, (unsigned)column);
}

int outpost_fail_trap(const char *where) {
  if (abort_text[0]) outpost_errorf("%s (%s)", where, abort_text);
  else outpost_errorf("%s", where);
  abort_text[0] = 0;
  outpost_log(3, "module trap: %s", outpost_error());
  return -1;
}

// The module's own log lines end in a bare code ("reply not queued, error 22"); the board
// gets them with the code's name after it ("... error 22 (BufferFull)").
static void log_module_line(int level, const char *text, size_t len) {
  static const char marker[] = ", error ";
  size_t digits = 0;
  while (digits < len && digits < 4 && text[len - 1 - digits] >= '0' && text[len - 1 - digits] <= '9') digits++;
  size_t head = len - digits;
  char line[192];
  if (digits && head >= sizeof marker - 1 && memcmp(text + head - (sizeof marker - 1), marker, sizeof marker - 1) == 0 &&
      len < sizeof line - 32) {
    int code = 0;
    for (size_t i = head; i < len; i++) code = code * 10 + (text[i] - '0');
    int n = snprintf(line, sizeof line, "%.*s (%s)", (int)len, text, outpost_err_name(code));
    if (n > 0 && (size_t)n < sizeof line) {
      outpost_rt.board->log(level, line, (size_t)n);
      return;
    }
  }
  outpost_rt.board->log(level, text, len);
}

int outpost_import_log(const uint8_t *mem, uint32_t size, uint32_t level, uint32_t ptr, uint32_t len) {
  if (!in_memory(size, ptr, len)) return -1;
  if (outpost_rt.board && outpost_rt.board->log) log_module_line((int)level, (const char *)mem + ptr, len);
  return 0;
}

int (*outpost_sysinfo_extra)(char *out, size_t cap);

static int is_named(const char *name, uint32_t len, const char *wanted) {
  return strlen(wanted) == len && memcmp(wanted, name, len) == 0;
}

// sys.info's host part: what the board announces, so the backend refuses an over-limit call before sending it.
static void sys_info(outpost_call *call) {
  const char *board = outpost_rt.board && outpost_rt.board->name ? outpost_rt.board->name : "unknown";
  int n = snprintf(call->out, call->out_cap,
                   "{\"engine\":\"%s\",\"board\":\"%s\",\"memory_limit\":%u,\"request_max\":%u,\"response_max\":%u",
                   outpost_engine_name, board, (unsigned)OUTPOST_MEMORY_LIMIT, (unsigned)outpost_rt.rpc_request_cap,
                   (unsigned)outpost_rt.rpc_response_cap);
  if (n > 0 && outpost_rt.max_packet && (size_t)n < call->out_cap)
    n += snprintf(call->out + n, call->out_cap - (size_t)n, ",\"max_packet\":%u", (unsigned)outpost_rt.max_packet);
  if (n > 0 && outpost_sysinfo_extra && (size_t)n < call->out_cap) {
    int extra = outpost_sysinfo_extra(call->out + n, call->out_cap - (size_t)n); // the OTA app part (outpost_ota.c)
    n = extra < 0 ? (int)call->out_cap : n + extra;
  }
  int fits = n > 0 && (size_t)n < call->out_cap; // and room for the closing brace
  if (fits) call->out[n++] = '}';
  outpost_ok_written(call, fits ? (size_t)n : call->out_cap + 1);
}

int outpost_import_host_call(uint8_t *mem, uint32_t size, uint32_t method, uint32_t method_len, uint32_t params,
                             uint32_t params_len, uint32_t out, uint32_t out_cap, uint32_t *status) {
  if (!in_memory(size, method, method_len) || !in_memory(size, params, params_len) || !in_memory(size, out, out_cap)) return -1;
  const char *name = (const char *)mem + method;
  outpost_call call = {NULL, (const char *)mem + params, params_len, (char *)mem + out, out_cap, OUTPOST_HOST_NOT_FOUND << 24};
  if (is_named(name, method_len, "rpc.list")) outpost_list_methods(&call);
  else if (is_named(name, method_len, "sys.info")) sys_info(&call);
  else outpost_method_run(name, method_len, &call);
  *status = call.status;
  return 0;
}
