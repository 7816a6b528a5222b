// wasm3 for Node: the project's own N-API binding (plain C, no node-addon-api).
//
//   instantiate(bytes, imports, { memoryLimit, stackSize }) ->
//     { exports: { name: function | { value } }, memory: () => ArrayBuffer | undefined, memoryExport?: name }
//
// Imports are linked by (module, name) with the signature the module declares, to
// the JS functions in `imports` (WebAssembly's shape). Exported functions take and
// return numbers (i32, f32, f64) or BigInts (i64), as under V8. Failures throw
// WebAssembly.CompileError / LinkError / RuntimeError, never crash the process.
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m3_env.h"
#include "outpost_wasm3.h"
#include "wasm3.h"

#define MAX_ARGS 16
#define DEFAULT_STACK_BYTES (64 * 1024)

typedef struct Instance Instance;

typedef struct {
  Instance *instance;
  uint32_t index; // into the JS `imports` array held by the instance's holder object
  IM3Function function;
} Import;

typedef struct {
  Instance *instance;
  IM3Function function;
  char *name;
} Export;

struct Instance {
  napi_env env;
  IM3Environment m3env;
  IM3Runtime runtime;
  IM3Module module; // owned by the runtime once loaded
  uint8_t *bytes; // wasm3 keeps pointers into the module bytes
  Import *imports;
  uint32_t import_count;
  Export *exports;
  uint32_t export_count;
  napi_ref holder; // weak: the JS object that owns this instance
  napi_ref buffer; // the current memory ArrayBuffer
  uint8_t *buffer_base; // what `buffer` views, to notice growth
  uint32_t buffer_size;
  napi_ref thrown; // a JS exception an import threw, rethrown after the call unwinds
  napi_value imports_js; // set by the first import call of an export call, valid until it returns
  int calls_active;
};

// WebAssembly's error constructors, looked up once per Node environment.
typedef struct {
  napi_ref compile_error, link_error, runtime_error;
} ErrorClasses;

static const char import_threw[] = "[host] an import threw";

static napi_value throw_as(napi_env env, napi_ref klass, const char *message) {
  napi_value ctor, msg, error;
  if (napi_get_reference_value(env, klass, &ctor) != napi_ok || !ctor) {
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_new_instance(env, ctor, 1, &msg, &error);
  napi_throw(env, error);
  return NULL;
}

static ErrorClasses *error_classes(napi_env env) {
  ErrorClasses *classes = NULL;
  napi_get_instance_data(env, (void **)&classes);
  return classes;
}

static napi_value throw_compile(napi_env env, const char *m) { return throw_as(env, error_classes(env)->compile_error, m); }
static napi_value throw_link(napi_env env, const char *m) { return throw_as(env, error_classes(env)->link_error, m); }
static napi_value throw_runtime(napi_env env, const char *m) { return throw_as(env, error_classes(env)->runtime_error, m); }

// Detaches the ArrayBuffer over linear memory, as V8 does when memory grows, so no
// JS view can reach memory wasm3 has reallocated or freed.
static void drop_buffer(Instance *inst, napi_env env) {
  if (!inst->buffer) return;
  napi_value buffer;
  if (napi_get_reference_value(env, inst->buffer, &buffer) == napi_ok && buffer) napi_detach_arraybuffer(env, buffer);
  napi_delete_reference(env, inst->buffer);
  inst->buffer = NULL;
  inst->buffer_base = NULL;
  inst->buffer_size = 0;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)hint;
  Instance *inst = data;
  drop_buffer(inst, env);
  if (inst->holder) napi_delete_reference(env, inst->holder);
  if (inst->thrown) napi_delete_reference(env, inst->thrown);
  if (inst->runtime) m3_FreeRuntime(inst->runtime);
  else if (inst->module) m3_FreeModule(inst->module);
  if (inst->m3env) m3_FreeEnvironment(inst->m3env);
  for (uint32_t i = 0; i < inst->export_count; i++) free(inst->exports[i].name);
  free(inst->exports);
  free(inst->imports);
  free(inst->bytes);
  free(inst);
}

// ---- values across the boundary --------------------------------------------

static bool to_slot(napi_env env, napi_value value, uint8_t type, uint64_t *slot) {
  napi_valuetype kind;
  napi_typeof(env, value, &kind);
  if (type == c_m3Type_i64) {
    int64_t v;
    bool lossless;
    if (napi_get_value_bigint_int64(env, value, &v, &lossless) != napi_ok) {
      napi_throw_type_error(env, NULL, "wasm3: an i64 parameter or result must be a BigInt");
      return false;
    }
    *slot = (uint64_t)v;
    return true;
  }
  if (kind != napi_number && napi_coerce_to_number(env, value, &value) != napi_ok) return false;
  double d;
  napi_get_value_double(env, value, &d);
  if (type == c_m3Type_i32) {
    int32_t v;
    napi_get_value_int32(env, value, &v);
    *slot = (uint32_t)v;
  } else if (type == c_m3Type_f32) {
    float f = (float)d;
    memcpy(slot, &f, sizeof f);
  } else {
    memcpy(slot, &d, sizeof d);
  }
  return true;
}

static napi_value from_slot(napi_env env, const void *slot, uint8_t type) {
  napi_value out = NULL;
  switch (type) {
    case c_m3Type_i32: napi_create_int32(env, *(const int32_t *)slot, &out); break;
    case c_m3Type_i64: napi_create_bigint_int64(env, *(const int64_t *)slot, &out); break;
    case c_m3Type_f32: napi_create_double(env, *(const float *)slot, &out); break;
    default: napi_create_double(env, *(const double *)slot, &out); break;
  }
  return out;
}

// ---- imports: wasm3 calls this for every linked import ----------------------

static const void *call_import(IM3Runtime runtime, IM3ImportContext ctx, uint64_t *sp, void *mem) {
  (void)runtime;
  (void)mem;
  Import *import = ctx->userdata;
  Instance *inst = import->instance;
  napi_env env = inst->env;
  IM3FuncType type = import->function->funcType;
  uint16_t rets = type->numRets, args = type->numArgs;
  if (args > MAX_ARGS || rets > 1) return "[host] import signature not supported";

  // Looked up on an export call's first import call (most make none), outside this
  // call's handle scope so it stays valid until the export call returns.
  if (!inst->imports_js) {
    napi_value holder;
    napi_get_reference_value(env, inst->holder, &holder);
    napi_get_named_property(env, holder, "imports", &inst->imports_js);
  }
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  const void *result = m3Err_none;
  napi_value fn, argv[MAX_ARGS], undefined, ret;
  napi_get_undefined(env, &undefined);
  napi_get_element(env, inst->imports_js, import->index, &fn);
  for (uint16_t i = 0; i < args; i++) argv[i] = from_slot(env, &sp[rets + i], type->types[rets + i]);
  napi_status status = napi_call_function(env, undefined, fn, args, argv, &ret);
  if (status == napi_ok && rets == 1) {
    uint64_t slot = 0;
    if (to_slot(env, ret, type->types[0], &slot)) memcpy(&sp[0], &slot, 8);
    else status = napi_pending_exception;
  }
  if (status != napi_ok) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
      if (inst->thrown) napi_delete_reference(env, inst->thrown);
      napi_create_reference(env, exception, 1, &inst->thrown);
    }
    result = import_threw;
  }
  napi_close_handle_scope(env, scope);
  return result;
}

// ---- exports ----------------------------------------------------------------

static napi_value rethrow_import_exception(napi_env env, Instance *inst) {
  napi_value exception;
  napi_get_reference_value(env, inst->thrown, &exception);
  napi_delete_reference(env, inst->thrown);
  inst->thrown = NULL;
  napi_throw(env, exception);
  return NULL;
}

static napi_value call_export(napi_env env, napi_callback_info info) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  Export *export;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&export);
  Instance *inst = export->instance;
  IM3Function fn = export->function;
  IM3FuncType type = fn->funcType;
  uint16_t rets = type->numRets, args = type->numArgs;

  if (inst->calls_active) {
    napi_throw_error(env, "WASM3_REENTRANT", "wasm3: an import may not call back into the module's exports");
    return NULL;
  }
  uint64_t slots[MAX_ARGS] = {0};
  const void *ptrs[MAX_ARGS];
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (uint16_t i = 0; i < args; i++) {
    if (!to_slot(env, i < argc ? argv[i] : undefined, type->types[rets + i], &slots[i])) return NULL;
    ptrs[i] = &slots[i];
  }

  inst->calls_active = 1;
  M3Result trap = m3_Call(fn, args, ptrs);
  inst->calls_active = 0;
  inst->imports_js = NULL;

  if (inst->thrown) return rethrow_import_exception(env, inst);
  if (trap) {
    char message[256];
    outpost_describe_trap(inst->runtime, trap, export->name, message, sizeof message);
    return throw_runtime(env, message);
  }
  if (rets == 0) return undefined;
  uint64_t results[MAX_ARGS] = {0};
  const void *result_ptrs[MAX_ARGS];
  for (uint16_t i = 0; i < rets; i++) result_ptrs[i] = &results[i];
  m3_GetResults(fn, rets, result_ptrs);
  if (rets == 1) return from_slot(env, &results[0], type->types[0]);
  napi_value array;
  napi_create_array_with_length(env, rets, &array);
  for (uint16_t i = 0; i < rets; i++) napi_set_element(env, array, i, from_slot(env, &results[i], type->types[i]));
  return array;
}

static napi_value memory_buffer(napi_env env, napi_callback_info info) {
  Instance *inst;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&inst);
  uint32_t size = 0;
  uint8_t *base = m3_GetMemory(inst->runtime, &size, 0);
  napi_value buffer;
  if (!base) {
    napi_get_undefined(env, &buffer);
    return buffer;
  }
  if (inst->buffer && base == inst->buffer_base && size == inst->buffer_size) {
    napi_get_reference_value(env, inst->buffer, &buffer);
    return buffer;
  }
  drop_buffer(inst, env);
  napi_create_external_arraybuffer(env, base, size, NULL, NULL, &buffer);
  napi_create_reference(env, buffer, 1, &inst->buffer);
  inst->buffer_base = base;
  inst->buffer_size = size;
  return buffer;
}

// ---- instantiate --------------------------------------------------------------

static bool read_u32_option(napi_env env, napi_value options, const char *name, uint32_t *out) {
  napi_valuetype kind;
  napi_typeof(env, options, &kind);
  if (kind != napi_object) return true;
  bool has;
  napi_has_named_property(env, options, name, &has);
  if (!has) return true;
  napi_value value;
  napi_get_named_property(env, options, name, &value);
  napi_typeof(env, value, &kind);
  if (kind == napi_undefined) return true;
  if (napi_get_value_uint32(env, value, out) != napi_ok) {
    char message[96];
    snprintf(message, sizeof message, "wasm3: option %s must be a non-negative integer", name);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  return true;
}

// The JS function for import (module, field) in `imports`. Like V8: a missing
// namespace is a TypeError, a missing or non-callable function a LinkError.
static napi_value find_import(napi_env env, napi_value imports, const char *module, const char *field) {
  char message[256];
  napi_valuetype kind;
  napi_value namespace = NULL, fn = NULL;
  bool has = false;
  napi_typeof(env, imports, &kind);
  if (kind == napi_object && napi_has_named_property(env, imports, module, &has) == napi_ok && has) {
    napi_get_named_property(env, imports, module, &namespace);
    napi_typeof(env, namespace, &kind);
  }
  if (!has || (kind != napi_object && kind != napi_function)) {
    snprintf(message, sizeof message, "wasm3: missing import module %s (needed for %s.%s)", module, module, field);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  if (napi_has_named_property(env, namespace, field, &has) == napi_ok && has) {
    napi_get_named_property(env, namespace, field, &fn);
    napi_typeof(env, fn, &kind);
  }
  if (!has || kind != napi_function) {
    snprintf(message, sizeof message, "wasm3: missing import %s.%s", module, field);
    throw_link(env, message);
    return NULL;
  }
  return fn;
}

// Reads a LEB128 u32; false when it runs past `end`.
static bool read_leb(const uint8_t **p, const uint8_t *end, uint32_t *out) {
  uint32_t value = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (*p >= end) return false;
    uint8_t byte = *(*p)++;
    value |= (uint32_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *out = value;
      return true;
    }
  }
  return false;
}

// Calls visit(name, length, kind, index) for each entry of the export section.
// wasm3 keeps export names only as function aliases, so the binding reads the
// section itself to learn exactly what the module exports. The bytes parsed already.
typedef void (*ExportVisitor)(void *ctx, const char *name, uint32_t length, uint8_t kind, uint32_t index);
static void each_export(const uint8_t *bytes, uint32_t size, ExportVisitor visit, void *ctx) {
  const uint8_t *p = bytes + 8, *end = bytes + size;
  while (p < end) {
    uint8_t id = *p++;
    uint32_t length;
    if (!read_leb(&p, end, &length) || length > (uint32_t)(end - p)) return;
    const uint8_t *section_end = p + length;
    if (id == 7) {
      uint32_t count;
      if (!read_leb(&p, section_end, &count)) return;
      for (uint32_t i = 0; i < count; i++) {
        uint32_t name_length, index;
        if (!read_leb(&p, section_end, &name_length) || name_length > (uint32_t)(section_end - p)) return;
        const char *name = (const char *)p;
        p += name_length;
        if (p >= section_end) return;
        uint8_t kind = *p++;
        if (!read_leb(&p, section_end, &index)) return;
        visit(ctx, name, name_length, kind, index);
      }
      return;
    }
    p = section_end;
  }
}

typedef struct {
  Instance *inst;
  napi_env env;
  napi_value exports;
  napi_value out;
  napi_value holder_key;
  napi_value holder;
  bool failed;
} ExportBuild;

static napi_value global_value(napi_env env, napi_callback_info info) {
  IM3Global global;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&global);
  M3TaggedValue tagged;
  if (m3_GetGlobal(global, &tagged)) {
    napi_throw_error(env, NULL, "wasm3: cannot read global");
    return NULL;
  }
  return from_slot(env, &tagged.value, (uint8_t)tagged.type);
}

static void add_export(void *ctx, const char *name, uint32_t length, uint8_t kind, uint32_t index) {
  ExportBuild *b = ctx;
  Instance *inst = b->inst;
  napi_env env = b->env;
  if (b->failed) return;
  char *key = malloc(length + 1);
  if (!key) {
    b->failed = true;
    return;
  }
  memcpy(key, name, length);
  key[length] = 0;
  napi_value value = NULL;
  if (kind == 0 && index < inst->module->numFunctions) {
    Export *e = &inst->exports[inst->export_count++];
    e->instance = inst;
    e->function = &inst->module->functions[index];
    e->name = key; // the export owns the name now
    napi_create_function(env, e->name, NAPI_AUTO_LENGTH, call_export, e, &value);
    // The function keeps the holder (and so the instance) alive.
    napi_property_descriptor keep = {NULL, b->holder_key, NULL, NULL, NULL, b->holder, napi_default, NULL};
    napi_define_properties(env, value, 1, &keep);
  } else if (kind == 2) {
    napi_value memory_name;
    napi_create_string_utf8(env, key, NAPI_AUTO_LENGTH, &memory_name);
    napi_set_named_property(env, b->out, "memoryExport", memory_name);
  } else if (kind == 3 && index < inst->module->numGlobals) {
    napi_create_object(env, &value);
    napi_property_descriptor props[] = {
        {"value", NULL, NULL, global_value, NULL, NULL, napi_enumerable, &inst->module->globals[index]},
        {NULL, b->holder_key, NULL, NULL, NULL, b->holder, napi_default, NULL},
    };
    napi_define_properties(env, value, 2, props);
  }
  if (value) napi_set_named_property(env, b->exports, key, value);
  if (!(kind == 0 && value)) free(key);
}

static void count_function_export(void *ctx, const char *name, uint32_t length, uint8_t kind, uint32_t index) {
  if (kind == 0) ++*(uint32_t *)ctx;
}

static napi_value instantiate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], undefined;
  napi_get_undefined(env, &undefined);
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  for (size_t i = argc; i < 3; i++) argv[i] = undefined;

  uint8_t *data;
  size_t size;
  bool is_typed;
  napi_is_typedarray(env, argv[0], &is_typed);
  if (is_typed) {
    napi_typedarray_type t;
    size_t length, offset;
    napi_value ab;
    napi_get_typedarray_info(env, argv[0], &t, &length, (void **)&data, &ab, &offset);
    size = length * (t == napi_uint8_array || t == napi_int8_array || t == napi_uint8_clamped_array ? 1 : 0);
    if (!size && length) {
      napi_throw_type_error(env, NULL, "wasm3: module bytes must be a Uint8Array or Buffer");
      return NULL;
    }
  } else {
    bool is_ab;
    napi_is_arraybuffer(env, argv[0], &is_ab);
    if (!is_ab) {
      napi_throw_type_error(env, NULL, "wasm3: module bytes must be a Uint8Array, Buffer or ArrayBuffer");
      return NULL;
    }
    napi_get_arraybuffer_info(env, argv[0], (void **)&data, &size);
  }
  uint32_t memory_limit = 0, stack_bytes = DEFAULT_STACK_BYTES;
  if (!read_u32_option(env, argv[2], "memoryLimit", &memory_limit)) return NULL;
  if (!read_u32_option(env, argv[2], "stackSize", &stack_bytes)) return NULL;

  Instance *inst = calloc(1, sizeof *inst);
  if (!inst || !(inst->bytes = malloc(size ? size : 1))) {
    free(inst);
    napi_throw_error(env, NULL, "wasm3: out of memory");
    return NULL;
  }
  memcpy(inst->bytes, data, size);
  inst->env = env;
  char message[256];
  M3Result result;

  if (!(inst->m3env = m3_NewEnvironment()) || !(inst->runtime = m3_NewRuntime(inst->m3env, stack_bytes, inst))) {
    free_instance(env, inst, NULL);
    napi_throw_error(env, NULL, "wasm3: out of memory");
    return NULL;
  }
  inst->runtime->memoryLimit = memory_limit;
  if ((result = m3_ParseModule(inst->m3env, &inst->module, inst->bytes, (uint32_t)size))) {
    inst->module = NULL;
    snprintf(message, sizeof message, "wasm3: cannot parse the module: %s", result);
    free_instance(env, inst, NULL);
    return throw_compile(env, message);
  }
  if (inst->module->memoryImported) {
    free_instance(env, inst, NULL);
    return throw_link(env, "wasm3: the module imports its memory; outpost modules export it");
  }
  if ((result = m3_LoadModule(inst->runtime, inst->module))) {
    snprintf(message, sizeof message, "wasm3: cannot load the module: %s", result);
    free_instance(env, inst, NULL); // the runtime did not take the module
    return throw_compile(env, message);
  }

  // The holder owns the instance; the JS import functions live on it, not in
  // native references, so cycles through closures stay collectable.
  napi_value holder, imports_js;
  napi_create_object(env, &holder);
  if (napi_wrap(env, holder, inst, free_instance, NULL, NULL) != napi_ok) {
    free_instance(env, inst, NULL);
    napi_throw_error(env, NULL, "wasm3: cannot wrap the instance");
    return NULL;
  }
  napi_create_reference(env, holder, 0, &inst->holder);
  napi_create_array(env, &imports_js);
  napi_set_named_property(env, holder, "imports", imports_js);

  unsigned count = outpost_import_count(inst->module);
  inst->imports = calloc(count ? count : 1, sizeof *inst->imports);
  uint32_t function_exports = 0;
  each_export(inst->bytes, (uint32_t)size, count_function_export, &function_exports);
  inst->exports = calloc(function_exports ? function_exports : 1, sizeof *inst->exports);
  if (!inst->imports || !inst->exports) {
    napi_throw_error(env, NULL, "wasm3: out of memory");
    return NULL;
  }
  for (unsigned i = 0; i < count; i++) {
    IM3Function f = outpost_import(inst->module, i);
    if (f->compiled) continue; // an earlier import of the same (module, name) linked it
    napi_value fn = find_import(env, argv[1], f->import.moduleUtf8, f->import.fieldUtf8);
    char signature[MAX_ARGS + 8];
    if (!fn) return NULL;
    if (!outpost_signature(f, signature, sizeof signature) || f->funcType->numRets > 1) {
      snprintf(message, sizeof message, "wasm3: import %s.%s has an unsupported signature", f->import.moduleUtf8,
               f->import.fieldUtf8);
      return throw_link(env, message);
    }
    Import *import = &inst->imports[inst->import_count];
    import->instance = inst;
    import->index = inst->import_count;
    import->function = f;
    napi_set_element(env, imports_js, inst->import_count++, fn);
    if ((result =
             m3_LinkRawFunctionEx(inst->module, f->import.moduleUtf8, f->import.fieldUtf8, signature, call_import, import))) {
      snprintf(message, sizeof message, "wasm3: cannot link import %s.%s: %s", f->import.moduleUtf8, f->import.fieldUtf8, result);
      return throw_link(env, message);
    }
  }
  IM3Function unlinked = outpost_unlinked_import(inst->module);
  if (unlinked) {
    snprintf(message, sizeof message, "wasm3: missing import %s.%s", unlinked->import.moduleUtf8, unlinked->import.fieldUtf8);
    return throw_link(env, message);
  }
  // Compile everything now, so an unsupported opcode is a load error, not a trap later.
  if ((result = m3_CompileModule(inst->module))) {
    snprintf(message, sizeof message, "wasm3: cannot compile the module: %s", result);
    return throw_compile(env, message);
  }

  napi_value out, exports, memory_fn, holder_key;
  napi_create_object(env, &out);
  napi_create_object(env, &exports);
  napi_create_function(env, "memory", NAPI_AUTO_LENGTH, memory_buffer, inst, &memory_fn);
  napi_create_symbol(env, NULL, &holder_key);
  napi_property_descriptor keep = {NULL, holder_key, NULL, NULL, NULL, holder, napi_default, NULL};
  napi_define_properties(env, memory_fn, 1, &keep);
  ExportBuild build = {inst, env, exports, out, holder_key, holder, false};
  each_export(inst->bytes, (uint32_t)size, add_export, &build);
  if (build.failed) {
    napi_throw_error(env, NULL, "wasm3: out of memory");
    return NULL;
  }

  if (inst->module->startFunction >= 0) {
    inst->calls_active = 1;
    result = m3_RunStart(inst->module);
    inst->calls_active = 0;
    inst->imports_js = NULL;
    if (inst->thrown) return rethrow_import_exception(env, inst);
    if (result) {
      outpost_describe_trap(inst->runtime, result, "(start)", message, sizeof message);
      return throw_runtime(env, message);
    }
  }
  napi_set_named_property(env, out, "exports", exports);
  napi_set_named_property(env, out, "memory", memory_fn);
  return out;
}

static void free_error_classes(napi_env env, void *data, void *hint) {
  (void)hint;
  ErrorClasses *classes = data;
  napi_delete_reference(env, classes->compile_error);
  napi_delete_reference(env, classes->link_error);
  napi_delete_reference(env, classes->runtime_error);
  free(classes);
}

static napi_value init(napi_env env, napi_value exports) {
  ErrorClasses *classes = calloc(1, sizeof *classes);
  napi_value global, wasm, klass;
  napi_get_global(env, &global);
  napi_get_named_property(env, global, "WebAssembly", &wasm);
  napi_get_named_property(env, wasm, "CompileError", &klass);
  napi_create_reference(env, klass, 1, &classes->compile_error);
  napi_get_named_property(env, wasm, "LinkError", &klass);
  napi_create_reference(env, klass, 1, &classes->link_error);
  napi_get_named_property(env, wasm, "RuntimeError", &klass);
  napi_create_reference(env, klass, 1, &classes->runtime_error);
  napi_set_instance_data(env, classes, free_error_classes, NULL);

  napi_value fn, version;
  napi_create_function(env, "instantiate", NAPI_AUTO_LENGTH, instantiate, NULL, &fn);
  napi_set_named_property(env, exports, "instantiate", fn);
  napi_create_string_utf8(env, M3_VERSION, NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "version", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
