// The runtime's module side: wasm3 setup, the ABI imports, board methods.
// The event loop that drives the device over a transport is in outpost_loop.c.
#define OUTPOST_ABI_IMPLEMENTATION // outpost_err_name is defined here (outpost.h includes outpost_abi.h)
#include "outpost.h"

#include <stdio.h>
#include <string.h>

#include "outpost_stack.h"
#include "outpost_internal.h"
#include "outpost_wasm3.h"
#include "wasm3.h"
#include "m3_env.h"

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

uint8_t *outpost_memory(uint32_t *size) {
  uint32_t ignored;
  return outpost_rt.runtime ? m3_GetMemory(outpost_rt.runtime, size ? size : &ignored, 0) : NULL;
}

// ---- board methods ------------------------------------------------------------

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

// Appends text as the inside of a JSON string: quotes, backslashes and control characters escaped.
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

// ---- a minimal reader for integer params: [1, 2] or {"pin": 1} ----------------

static const char *skip_space(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

// Skips one JSON value (string, number, literal, or nested array/object).
static const char *skip_value(const char *p, const char *end) {
  int depth = 0;
  do {
    p = skip_space(p, end);
    if (p >= end) return end;
    if (*p == '"') {
      for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\') p++;
      }
      p++;
    } else if (*p == '[' || *p == '{') {
      depth++;
      p++;
    } else if (*p == ']' || *p == '}') {
      depth--;
      p++;
    } else if (depth > 0 && (*p == ',' || *p == ':')) {
      p++;
    } else {
      while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != ':') p++;
    }
  } while (depth > 0 && p < end);
  return p;
}

int outpost_param_at(const outpost_call *call, unsigned index, const char **key, size_t *key_len, const char **value,
                     size_t *value_len) {
  const char *end = call->params + call->params_len, *p = skip_space(call->params, end);
  if (p >= end || (*p != '[' && *p != '{')) return -1;
  int object = *p == '{';
  p++;
  for (unsigned i = 0; p < end; i++) {
    p = skip_space(p, end);
    if (p >= end || *p == ']' || *p == '}') return -1;
    if (object) {
      if (*p != '"') return -1;
      *key = p + 1;
      const char *key_end = skip_value(p, end) - 1;
      *key_len = (size_t)(key_end - *key);
      p = skip_space(key_end + 1, end);
      if (p >= end || *p != ':') return -1;
      p = skip_space(p + 1, end);
    } else {
      *key = NULL;
      *key_len = 0;
    }
    const char *value_end = skip_value(p, end);
    if (i == index) {
      *value = p;
      *value_len = (size_t)(value_end - p);
      return 0;
    }
    p = skip_space(value_end, end);
    if (p < end && *p == ',') p++;
  }
  return -1;
}

int outpost_param(const outpost_call *call, unsigned position, const char *name, const char **text, size_t *len) {
  const char *key;
  size_t key_len;
  if (outpost_param_at(call, 0, &key, &key_len, text, len)) return -1;
  if (!key) return outpost_param_at(call, position, &key, &key_len, text, len); // an array
  if (!name) return -1;
  size_t name_len = strlen(name);
  for (unsigned i = 0; outpost_param_at(call, i, &key, &key_len, text, len) == 0; i++) {
    if (key_len == name_len && memcmp(key, name, name_len) == 0) return 0;
  }
  return -1;
}

int outpost_param_int(const outpost_call *call, unsigned position, const char *name, long *value) {
  const char *text;
  size_t len;
  if (outpost_param(call, position, name, &text, &len)) return -1;
  const char *p = text, *end = text + len;
  int negative = p < end && *p == '-';
  if (negative) p++;
  if (p >= end) return -1;
  long v = 0;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9') return -1; // fractions and exponents are not integers here
    v = v * 10 + (*p - '0');
  }
  *value = negative ? -v : v;
  return 0;
}

int outpost_param_string(const outpost_call *call, unsigned position, const char *name, char *out, size_t cap) {
  const char *text;
  size_t len;
  if (outpost_param(call, position, name, &text, &len) || len < 2 || text[0] != '"' || len - 1 > cap) return -1;
  for (size_t i = 1; i + 1 < len; i++) {
    if (text[i] == '\\') return -1; // escaped strings are not needed by board methods
  }
  memcpy(out, text + 1, len - 2);
  out[len - 2] = 0;
  return 0;
}

// ---- imports (assembly/ABI.md, "Imports") -----------------------------------------

// True when [ptr, ptr + len) lies inside linear memory.
static int in_memory(void *mem, uint32_t ptr, uint32_t len) {
  uint32_t size = m3_GetMemorySize(outpost_rt.runtime);
  (void)mem;
  return ptr <= size && len <= size - ptr;
}

// An AssemblyScript string (UTF-16, byte length before it) as ASCII, for reports.
static void as_string(void *mem, uint32_t ptr, char *out, size_t cap) {
  out[0] = 0;
  if (!ptr || ptr < 4 || !in_memory(mem, ptr - 4, 4)) return;
  uint32_t bytes;
  memcpy(&bytes, (uint8_t *)mem + ptr - 4, 4);
  if (!in_memory(mem, ptr, bytes)) return;
  size_t n = 0;
  for (uint32_t i = 0; i + 1 < bytes && n + 1 < cap; i += 2) {
    uint16_t unit = (uint16_t)(((uint8_t *)mem)[ptr + i] | ((uint8_t *)mem)[ptr + i + 1] << 8);
    out[n++] = unit < 0x80 ? (char)unit : '?';
  }
  out[n] = 0;
}

static char abort_text[128];

m3ApiRawFunction(import_abort) {
  m3ApiGetArg(uint32_t, msg);
  m3ApiGetArg(uint32_t, file);
  m3ApiGetArg(uint32_t, line);
  m3ApiGetArg(uint32_t, column);
  char message[64], where[48];
  as_string(_mem, msg, message, sizeof message);
  as_string(_mem, file, where, sizeof where);
  snprintf(abort_text, sizeof abort_text, "abort: %s at %s:%u:%u", message, where, (unsigned)line, (unsigned)column);
  m3ApiTrap(m3Err_trapAbort);
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

m3ApiRawFunction(import_log) {
  m3ApiGetArg(uint32_t, level);
  m3ApiGetArg(uint32_t, ptr);
  m3ApiGetArg(uint32_t, len);
  if (!in_memory(_mem, ptr, len)) m3ApiTrap(m3Err_trapOutOfBoundsMemoryAccess);
  if (outpost_rt.board && outpost_rt.board->log) log_module_line((int)level, (const char *)_mem + ptr, len);
  m3ApiSuccess();
}

int (*outpost_sysinfo_extra)(char *out, size_t cap);

static int is_named(const char *name, uint32_t len, const char *wanted) {
  return strlen(wanted) == len && memcmp(wanted, name, len) == 0;
}

// rpc.list's host part: [{"name":..,"description":..,"params":..}, ...].
static void list_methods(outpost_call *call) {
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

m3ApiRawFunction(import_host_call) {
  m3ApiReturnType(uint32_t);
  m3ApiGetArg(uint32_t, method);
  m3ApiGetArg(uint32_t, method_len);
  m3ApiGetArg(uint32_t, params);
  m3ApiGetArg(uint32_t, params_len);
  m3ApiGetArg(uint32_t, out);
  m3ApiGetArg(uint32_t, out_cap);
  if (!in_memory(_mem, method, method_len) || !in_memory(_mem, params, params_len) || !in_memory(_mem, out, out_cap))
    m3ApiTrap(m3Err_trapOutOfBoundsMemoryAccess);
  const char *name = (const char *)_mem + method;
  outpost_call call = {NULL, (const char *)_mem + params, params_len, (char *)_mem + out, out_cap, OUTPOST_HOST_NOT_FOUND << 24};
  if (is_named(name, method_len, "rpc.list")) {
    list_methods(&call);
    m3ApiReturn(call.status);
  }
  if (is_named(name, method_len, "sys.info")) {
    const char *board = outpost_rt.board && outpost_rt.board->name ? outpost_rt.board->name : "unknown";
    int n = snprintf(call.out, call.out_cap,
                     "{\"engine\":\"wasm3\",\"board\":\"%s\",\"memory_limit\":%u,\"request_max\":%u,\"response_max\":%u", board,
                     (unsigned)OUTPOST_MEMORY_LIMIT, (unsigned)outpost_rt.rpc_request_cap, (unsigned)outpost_rt.rpc_response_cap);
    if (n > 0 && outpost_rt.max_packet && (size_t)n < call.out_cap)
      n += snprintf(call.out + n, call.out_cap - (size_t)n, ",\"max_packet\":%u", (unsigned)outpost_rt.max_packet);
    if (n > 0 && outpost_sysinfo_extra && (size_t)n < call.out_cap) {
      int extra = outpost_sysinfo_extra(call.out + n, call.out_cap - (size_t)n); // the OTA app part (outpost_ota.c)
      n = extra < 0 ? (int)call.out_cap : n + extra;
    }
    int fits = n > 0 && (size_t)n < call.out_cap; // and room for the closing brace
    if (fits) call.out[n++] = '}';
    outpost_ok_written(&call, fits ? (size_t)n : call.out_cap + 1);
    m3ApiReturn(call.status);
  }
  for (unsigned i = 0; i < method_count; i++) {
    if (is_named(name, method_len, methods[i].name)) {
      call.method = methods[i].name;
      methods[i].handler(&call);
      m3ApiReturn(call.status);
    }
  }
  m3ApiReturn(OUTPOST_HOST_NOT_FOUND << 24);
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

// wasm3's value stack: the module's heaviest call chain (outpost_abi.h, generated from
// build/device.wasm with these boards' wasm3 frames), plus the one slot wasm3's entry check
// keeps free. The module's JSON depth limit adds nothing (outpost_abi.h says why).
#ifndef OUTPOST_WASM3_STACK
#define OUTPOST_WASM3_STACK ((OUTPOST_MODULE_STACK_SLOTS + 1) * sizeof(m3slot_t))
#endif

static int fail_trap(M3Result trap, const char *entry) {
  char where[160];
  outpost_describe_trap(outpost_rt.runtime, trap, entry, where, sizeof where);
  if (trap == m3Err_trapAbort && abort_text[0]) outpost_errorf("%s (%s)", where, abort_text);
  else outpost_errorf("%s", where);
  abort_text[0] = 0;
  outpost_log(3, "module trap: %s", error_text);
  return -1;
}

int outpost_load(const outpost_board *board, const uint8_t *wasm, size_t len) {
  outpost_unload();
  outpost_rt.board = board;
  outpost_config_methods();
  M3Result result;
  if (!(outpost_rt.env = m3_NewEnvironment()) ||
      !(outpost_rt.runtime = m3_NewRuntime(outpost_rt.env, OUTPOST_WASM3_STACK, NULL))) {
    outpost_errorf("out of memory creating the wasm3 runtime");
    goto fail;
  }
  outpost_rt.runtime->memoryLimit = OUTPOST_MEMORY_LIMIT;
  if ((result = m3_ParseModule(outpost_rt.env, &outpost_rt.module, wasm, (uint32_t)len))) {
    outpost_errorf("cannot parse the module: %s", result);
    goto fail;
  }
  if ((result = m3_LoadModule(outpost_rt.runtime, outpost_rt.module))) {
    m3_FreeModule(outpost_rt.module);
    outpost_errorf("cannot load the module: %s", result);
    goto fail;
  }
  for (unsigned i = 0; i < sizeof imports / sizeof imports[0]; i++) {
    result = m3_LinkRawFunction(outpost_rt.module, imports[i].module, imports[i].name, imports[i].signature, imports[i].function);
    if (result && result != m3Err_functionLookupFailed) { // an import the module does not use is fine
      outpost_errorf("cannot link %s.%s as %s: %s", imports[i].module, imports[i].name, imports[i].signature, result);
      goto fail;
    }
  }
  IM3Function unlinked = outpost_unlinked_import(outpost_rt.module);
  if (unlinked) {
    outpost_errorf("missing import %s.%s: this runtime implements an older ABI", unlinked->import.moduleUtf8,
                   unlinked->import.fieldUtf8);
    goto fail;
  }
#if OUTPOST_COMPILE_AT_LOAD
  if ((result = m3_CompileModule(outpost_rt.module))) {
    outpost_errorf("cannot compile the module: %s", result);
    goto fail;
  }
#endif
  if ((result = m3_RunStart(outpost_rt.module))) {
    fail_trap(result, "(start)");
    goto fail;
  }
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
  if (outpost_rt.runtime) m3_FreeRuntime(outpost_rt.runtime);
  if (outpost_rt.env) m3_FreeEnvironment(outpost_rt.env);
  const outpost_board *board = outpost_rt.board;
  memset(&outpost_rt, 0, sizeof outpost_rt);
  outpost_rt.board = board;
}

IM3Function outpost_find(const char *name) {
  IM3Function fn = NULL;
  if (!outpost_rt.runtime || m3_FindFunction(&fn, outpost_rt.runtime, name)) return NULL;
  return fn;
}

int outpost_invoke(IM3Function fn, int32_t *result, unsigned argc, const int32_t *args) {
  const void *ptrs[8];
  if (!fn || argc > 8) {
    outpost_errorf("missing export or too many arguments");
    return -1;
  }
  for (unsigned i = 0; i < argc; i++) ptrs[i] = &args[i];
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

int outpost_call_export(const char *name, int32_t *result, unsigned argc, ...) {
  int32_t args[8];
  va_list list;
  va_start(list, argc);
  for (unsigned i = 0; i < argc && i < 8; i++) args[i] = va_arg(list, int32_t);
  va_end(list);
  IM3Function fn = outpost_find(name);
  if (!fn) {
    outpost_errorf("the module has no export %s", name);
    return -1;
  }
  return outpost_invoke(fn, result, argc, args);
}
