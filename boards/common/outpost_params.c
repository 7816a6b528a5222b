// The params reader board methods use: a value by position in a params array or by
// name in a params object, as JSON text, an integer or a plain string. It reads the
// module's buffer in place and never allocates.
#include <string.h>

#include "outpost.h"

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
