// config.get / config.set: the device config, held by the host (assembly/rpc and
// host/device/methods.ts define the methods). Kept in RAM here; a board that has
// flash or NVS can persist the entries; none does yet.
#include <stdio.h>
#include <string.h>

#include "outpost.h"

#ifndef OUTPOST_CONFIG_ENTRIES
#define OUTPOST_CONFIG_ENTRIES 8
#endif
#ifndef OUTPOST_CONFIG_KEY_BYTES
#define OUTPOST_CONFIG_KEY_BYTES 32
#endif
#ifndef OUTPOST_CONFIG_VALUE_BYTES
#define OUTPOST_CONFIG_VALUE_BYTES 96
#endif

static struct {
  char key[OUTPOST_CONFIG_KEY_BYTES];
  char value[OUTPOST_CONFIG_VALUE_BYTES]; // JSON text
} entries[OUTPOST_CONFIG_ENTRIES];

static int find(const char *key, size_t len) {
  for (int i = 0; i < OUTPOST_CONFIG_ENTRIES; i++) {
    if (entries[i].key[0] && strlen(entries[i].key) == len && memcmp(entries[i].key, key, len) == 0) return i;
  }
  return -1;
}

static void render_all(outpost_call *call) {
  size_t n = 0;
  int first = 1;
  call->out[n++] = '{';
  for (int i = 0; i < OUTPOST_CONFIG_ENTRIES; i++) {
    if (!entries[i].key[0]) continue;
    size_t need = strlen(entries[i].key) + strlen(entries[i].value) + 4;
    if (n + need + 2 > call->out_cap) {
      outpost_fail(call, -32000, "config too large for the response");
      return;
    }
    if (!first) call->out[n++] = ',';
    first = 0;
    n += (size_t)sprintf(call->out + n, "\"%s\":%s", entries[i].key, entries[i].value);
  }
  call->out[n++] = '}';
  outpost_ok_written(call, n);
}

static void config_get(outpost_call *call) {
  const char *key, *value;
  size_t key_len, value_len;
  if (outpost_param_at(call, 0, &key, &key_len, &value, &value_len)) {
    render_all(call); // no params, [] or {}
    return;
  }
  char wanted[OUTPOST_CONFIG_KEY_BYTES];
  if (outpost_param_string(call, 0, "key", wanted, sizeof wanted)) {
    outpost_fail(call, OUTPOST_RPC_INVALID_PARAMS, "Invalid params");
    return;
  }
  int i = find(wanted, strlen(wanted));
  outpost_ok(call, "%s", i < 0 ? "null" : entries[i].value);
}

static int params_are_object(const outpost_call *call) {
  for (size_t i = 0; i < call->params_len; i++) {
    char c = call->params[i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c == '{';
  }
  return 0;
}

static void config_set(outpost_call *call) {
  const char *key, *value;
  size_t key_len, value_len;
  if (!params_are_object(call)) {
    outpost_fail(call, OUTPOST_RPC_INVALID_PARAMS, "Invalid params");
    return;
  }
  // Check everything fits before changing anything.
  for (unsigned m = 0; outpost_param_at(call, m, &key, &key_len, &value, &value_len) == 0; m++) {
    if (key_len >= OUTPOST_CONFIG_KEY_BYTES || value_len >= OUTPOST_CONFIG_VALUE_BYTES || memchr(key, '\\', key_len)) {
      outpost_fail(call, OUTPOST_RPC_INVALID_PARAMS, "Invalid params");
      return;
    }
  }
  for (unsigned m = 0; outpost_param_at(call, m, &key, &key_len, &value, &value_len) == 0; m++) {
    int i = find(key, key_len);
    for (int j = 0; i < 0 && j < OUTPOST_CONFIG_ENTRIES; j++) {
      if (!entries[j].key[0]) i = j;
    }
    if (i < 0) {
      outpost_fail(call, -32000, "config full");
      return;
    }
    memcpy(entries[i].key, key, key_len);
    entries[i].key[key_len] = 0;
    memcpy(entries[i].value, value, value_len);
    entries[i].value[value_len] = 0;
  }
  render_all(call);
}

void outpost_config_methods(void) {
  outpost_method("config.get", "The device config, or one key of it",
                 "{\"type\":[\"array\",\"object\"],\"maxItems\":1,\"properties\":{\"key\":{\"type\":\"string\"}}}", config_get);
  outpost_method("config.set", "Merges the given keys into the config; returns it", "{\"type\":\"object\"}", config_set);
}
