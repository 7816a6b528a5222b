// OTA on the C boards (docs/ota.md): the ota.* methods the module forwards to the board,
// the state record, and the choice of a verified module at every start. Sans-IO: the
// slots go through outpost_slots (files, flash); buffers are static and bounded.
#include "outpost_ota.h"

#include <stdio.h>
#include <string.h>

#include "outpost_ed25519.h"
#include "outpost.h"
#include "outpost_internal.h"
#include "outpost_sha256.h"
#if OUTPOST_OTA_DEFLATE
#include "outpost_inflate.h"
#endif

#define RECORD_MAGIC 0x4f544131u // "OTA1"
#define ABI_VERSION OUTPOST_ABI_VERSION
enum { OUTCOME_NONE, OUTCOME_SUCCEEDED, OUTCOME_ROLLED_BACK, OUTCOME_FAILED };

// Refuses with one of the errors of assembly/abi.json (otaErrors), answered by its name.
#define REFUSE(call, e) fail(call, OUTPOST_OTA_ERR_##e, OUTPOST_OTA_NAME_##e)

static outpost_ota_config cfg;
static outpost_ota_record rec;
// What runs: its slot (OUTPOST_OTA_NO_SLOT for the built-in module) and whether it is pending.
static int running_slot = OUTPOST_OTA_NO_SLOT;
static int running_pending;
static uint32_t running_version;
static uint32_t window_deadline;
static int restart_requested;
// A request reached the board since the pending module started: it connected.
static int heard;
static uint8_t chunk[OUTPOST_OTA_CHUNK];
#if OUTPOST_OTA_DEFLATE
static uint8_t inflated[OUTPOST_OTA_INFLATE_MAX]; // a compressed chunk's module bytes
#endif

typedef struct manifest {
  uint32_t version, size, abi;
  uint8_t sha256[32];
  char label[24];
} manifest;

static uint32_t crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  while (n--) {
    c ^= *p++;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

int outpost_ota_record_valid(const outpost_ota_record *r) {
  return r->magic == RECORD_MAGIC && r->crc == crc32((const uint8_t *)r, offsetof(outpost_ota_record, crc));
}

static int save(void) {
  rec.magic = RECORD_MAGIC;
  rec.seq++;
  rec.crc = crc32((const uint8_t *)&rec, offsetof(outpost_ota_record, crc));
  return cfg.slots->write_record(cfg.slots->ctx, &rec);
}

static void fresh_record(void) {
  memset(&rec, 0, sizeof rec);
  rec.confirmed = rec.pending = OUTPOST_OTA_NO_SLOT;
}

// ---- decoding ------------------------------------------------------------------

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict, padded base64 into out (cap bytes). Returns the length, or -1.
static long b64_decode(const char *in, size_t len, uint8_t *out, size_t cap) {
  if (len % 4) return -1;
  size_t n = 0;
  for (size_t i = 0; i < len; i += 4) {
    int v[4], pad = 0;
    for (int k = 0; k < 4; k++) {
      if (in[i + k] == '=' && i + 4 == len && k >= 2) {
        v[k] = 0;
        pad++;
      } else if (pad || (v[k] = b64_value(in[i + k])) < 0) return -1;
    }
    uint32_t triple = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    for (int k = 0; k < 3 - pad; k++) {
      if (n >= cap) return -1;
      out[n++] = (uint8_t)(triple >> (16 - 8 * k));
    }
  }
  return (long)n;
}

// A string param's raw text (between its quotes; base64 has no escapes). 0 or -1.
static int string_param(const outpost_call *call, const char *name, const char **s, size_t *len) {
  const char *json;
  size_t n;
  if (outpost_param(call, 99, name, &json, &n) || n < 2 || json[0] != '"' || json[n - 1] != '"') return -1;
  *s = json + 1;
  *len = n - 2;
  return 0;
}

static int hex_nibble(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

// The manifest: a flat JSON object of strings (no escapes) and whole numbers. 0 or -1.
static int parse_manifest(const uint8_t *bytes, size_t len, manifest *m) {
  const char *p = (const char *)bytes, *end = p + len;
  int have_format = 0, have_version = 0, have_size = 0, have_sha = 0, have_abi = 0;
  memset(m, 0, sizeof *m);
  p = skip_ws(p, end);
  if (p == end || *p++ != '{') return -1;
  for (;;) {
    p = skip_ws(p, end);
    if (p < end && *p == '}' && !(have_format | have_version)) return -1;
    if (p == end || *p++ != '"') return -1;
    const char *key = p;
    while (p < end && *p != '"' && *p != '\\') p++;
    if (p == end || *p != '"') return -1;
    size_t key_len = (size_t)(p++ - key);
    p = skip_ws(p, end);
    if (p == end || *p++ != ':') return -1;
    p = skip_ws(p, end);
    if (p == end) return -1;
#define KEY(k) (key_len == sizeof(k) - 1 && !memcmp(key, k, key_len))
    if (*p == '"') {
      const char *v = ++p;
      while (p < end && *p != '"' && *p != '\\') p++;
      if (p == end || *p != '"') return -1;
      size_t v_len = (size_t)(p++ - v);
      if (KEY("format")) {
        if (v_len != 17 || memcmp(v, "outpost-release/1", 17)) return -1;
        have_format = 1;
      } else if (KEY("sha256")) {
        if (v_len != 64) return -1;
        for (int i = 0; i < 32; i++) {
          int hi = hex_nibble(v[2 * i]), lo = hex_nibble(v[2 * i + 1]);
          if (hi < 0 || lo < 0) return -1;
          m->sha256[i] = (uint8_t)(hi << 4 | lo);
        }
        have_sha = 1;
      } else if (KEY("label")) {
        size_t n = v_len < sizeof m->label - 1 ? v_len : sizeof m->label - 1;
        // Shown in sys.info as a JSON string: printable ASCII only (no quote or backslash can be here).
        for (size_t i = 0; i < n; i++) m->label[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
        m->label[n] = 0;
      }
    } else if (*p >= '0' && *p <= '9') {
      uint64_t v = 0;
      while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p++ - '0');
        if (v > 0xffffffffu) return -1;
      }
      if (KEY("version")) m->version = (uint32_t)v, have_version = 1;
      else if (KEY("size")) m->size = (uint32_t)v, have_size = 1;
      else if (KEY("abi")) m->abi = (uint32_t)v, have_abi = 1;
    } else if (*p == '{' || *p == '[') {
      return -1; // not flat
    } else {
      while (p < end && *p != ',' && *p != '}') p++; // true, false, null: ignored
    }
#undef KEY
    p = skip_ws(p, end);
    if (p == end) return -1;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p++ != '}') return -1;
    break;
  }
  if (skip_ws(p, end) != end) return -1;
  return have_format && have_version && have_size && have_sha && have_abi && m->version && m->size ? 0 : -1;
}

// ---- slots ---------------------------------------------------------------------

// Whether the slot holds the module its record describes (hashed in pieces).
static int slot_verified(int slot) {
  const outpost_slot_info *info = &rec.slots[slot];
  if (!info->valid || info->size > cfg.slots->slot_cap) return 0;
  outpost_sha256 h;
  outpost_sha256_init(&h);
  for (uint32_t off = 0; off < info->size; off += sizeof chunk) {
    size_t n = info->size - off < sizeof chunk ? info->size - off : sizeof chunk;
    if (cfg.slots->read(cfg.slots->ctx, slot, off, chunk, n)) return 0;
    outpost_sha256_update(&h, chunk, n);
  }
  uint8_t digest[32];
  outpost_sha256_final(&h, digest);
  return memcmp(digest, info->sha256, 32) == 0;
}

// The linear memory a module in `slot` declares (its memory section's minimum, in 64 KiB pages), read through the
// slot driver a byte at a time; 0 when it declares none or the section cannot be read (it then fails at start).
static uint64_t read_leb(int slot, uint32_t size, uint32_t *at, int *ok) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 35; shift += 7) {
    uint8_t b;
    if (*at >= size || cfg.slots->read(cfg.slots->ctx, slot, (*at)++, &b, 1)) break;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  *ok = 0;
  return 0;
}

static uint64_t declared_pages(int slot, uint32_t size) {
  int ok = 1;
  for (uint32_t at = 8; ok && at < size;) { // past the magic and version
    uint8_t id;
    if (cfg.slots->read(cfg.slots->ctx, slot, at++, &id, 1)) return 0;
    uint64_t len = read_leb(slot, size, &at, &ok);
    if (!ok || len > size - at) return 0;
    if (id == 5) { // memory: count, then flags and the minimum in 64 KiB pages
      if (read_leb(slot, size, &at, &ok) == 0 || !ok) return 0;
      read_leb(slot, size, &at, &ok);
      uint64_t pages = read_leb(slot, size, &at, &ok);
      return ok ? pages : 0;
    }
    at += (uint32_t)len;
  }
  return 0;
}

static void set_last(uint32_t version, int outcome, const char *reason) {
  rec.last_version = version;
  rec.last_outcome = (uint8_t)outcome;
  snprintf(rec.last_reason, sizeof rec.last_reason, "%s", reason ? reason : "");
}

static void roll_back(const char *reason) {
  if (rec.pending == OUTPOST_OTA_NO_SLOT) return;
  outpost_log(2, "ota: rolling back version %u: %s", (unsigned)rec.slots[rec.pending].version, reason);
  set_last(rec.slots[rec.pending].version, OUTCOME_ROLLED_BACK, reason);
  rec.slots[rec.pending].valid = 0;
  rec.pending = OUTPOST_OTA_NO_SLOT;
  rec.tries = 0;
  save();
}

static int load_slot(int slot, uint8_t *buf, size_t cap, const uint8_t **wasm, size_t *len) {
  uint32_t size = rec.slots[slot].size;
  if (cfg.slots->map) *wasm = cfg.slots->map(cfg.slots->ctx, slot); // parsed in place (flash)
  else if (size > cap || cfg.slots->read(cfg.slots->ctx, slot, 0, buf, size)) return -1;
  else *wasm = buf;
  *len = size;
  running_slot = slot;
  running_version = rec.slots[slot].version;
  return 0;
}

void outpost_ota_boot(uint8_t *buf, size_t cap, const uint8_t **wasm, size_t *len) {
  running_pending = 0;
  window_deadline = 0;
  heard = 0;
  if (rec.pending != OUTPOST_OTA_NO_SLOT && rec.tries >= 1) roll_back("restart_while_pending");
  if (rec.pending != OUTPOST_OTA_NO_SLOT) {
    if (slot_verified(rec.pending)) {
      rec.tries++;
      save();
      if (!load_slot(rec.pending, buf, cap, wasm, len)) {
        running_pending = 1; // the window starts at the first outpost_ota_window_ms (the board's clock is linked by then)
        return;
      }
    }
    roll_back("slot_corrupt");
  }
  if (rec.confirmed != OUTPOST_OTA_NO_SLOT) {
    if (slot_verified(rec.confirmed) && !load_slot(rec.confirmed, buf, cap, wasm, len)) return;
    set_last(rec.slots[rec.confirmed].version, OUTCOME_ROLLED_BACK, "slot_corrupt");
    rec.confirmed = OUTPOST_OTA_NO_SLOT;
    save();
  }
  *wasm = cfg.builtin;
  *len = cfg.builtin_len;
  running_slot = OUTPOST_OTA_NO_SLOT;
  running_version = 0;
}

int outpost_ota_start_failed(void) {
  if (!running_pending) return 0;
  roll_back("trap_at_start");
  return 1;
}

uint32_t outpost_ota_window_ms(void) {
  if (!running_pending) return 0;
  if (!window_deadline) {
    uint32_t window = cfg.confirm_window_ms ? cfg.confirm_window_ms : OUTPOST_OTA_WINDOW_MS;
    window_deadline = outpost_rt.board->now() + window;
    if (!window_deadline) window_deadline = 1;
  }
  return window_deadline;
}

void outpost_ota_window_expired(void) {
  if (!running_pending) return;
  roll_back(heard ? "not_confirmed" : "no_connection");
  running_pending = 0;
  restart_requested = 1;
  if (cfg.stop) *cfg.stop = 1;
}

int outpost_ota_restart(void) {
  int r = restart_requested;
  restart_requested = 0;
  return r;
}

uint32_t outpost_ota_running_version(void) { return running_version; }

int outpost_ota_key_from_hex(const char *hex, uint8_t key[32]) {
  for (int i = 0; i < 64; i++) {
    char c = hex[i]; // a NUL before 64 digits is not a digit: refused
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) return -1;
    key[i / 2] = (uint8_t)(i % 2 ? key[i / 2] | v : v << 4);
  }
  return hex[64] == '\0' ? 0 : -1;
}

static int active_slot(void) { return running_slot != OUTPOST_OTA_NO_SLOT ? running_slot : 0; }

// ---- the methods ---------------------------------------------------------------

static void fail(outpost_call *call, int code, const char *name) { outpost_fail(call, code, name); }

static void ota_begin(outpost_call *call) {
  const char *m64, *s64;
  size_t m_len, s_len;
  if (string_param(call, "manifest", &m64, &m_len)) return REFUSE(call, BAD_MANIFEST);
  if (string_param(call, "signature", &s64, &s_len)) return REFUSE(call, BAD_SIGNATURE);
  static uint8_t bytes[OUTPOST_OTA_MANIFEST_MAX];
  uint8_t sig[64];
  long n = b64_decode(m64, m_len, bytes, sizeof bytes);
  manifest m;
  if (n <= 0 || parse_manifest(bytes, (size_t)n, &m)) return REFUSE(call, BAD_MANIFEST);
  if (b64_decode(s64, s_len, sig, sizeof sig) != 64) return REFUSE(call, BAD_SIGNATURE);
  int valid = 0;
  for (unsigned k = 0; k < cfg.key_count && !valid; k++) valid = outpost_ed25519_check(sig, cfg.keys[k], bytes, (size_t)n) == 0;
  if (!valid) return REFUSE(call, BAD_SIGNATURE);
  if (m.abi != ABI_VERSION) return REFUSE(call, ABI_UNSUPPORTED);
  if (m.version <= running_version) return REFUSE(call, NOT_NEWER);
  if (m.size > cfg.slots->slot_cap) return REFUSE(call, TOO_BIG);
  if (rec.pending != OUTPOST_OTA_NO_SLOT) return REFUSE(call, BUSY);
  int slot = 1 - active_slot();
  int same = rec.transfer && rec.transfer_slot == slot && rec.manifest_len == n && !memcmp(rec.manifest, bytes, (size_t)n);
  if (!same) {
    // A new transfer: the slot stops being bootable before its first byte changes.
    rec.slots[slot].valid = 0;
    rec.transfer = 1;
    rec.transfer_slot = (uint8_t)slot;
    rec.transfer_offset = 0;
    rec.manifest_len = (uint16_t)n;
    memcpy(rec.manifest, bytes, (size_t)n);
    memcpy(rec.signature, sig, 64);
    if (save() || cfg.slots->erase(cfg.slots->ctx, slot)) return REFUSE(call, STORAGE_FAILED);
  }
  // "deflate": the most module bytes one compressed chunk may carry (docs/ota.md, "Compressed chunks").
  outpost_ok(call,
             OUTPOST_OTA_DEFLATE ? "{\"offset\":%u,\"chunk\":%u,\"slot\":\"%c\",\"deflate\":%u}"
                                 : "{\"offset\":%u,\"chunk\":%u,\"slot\":\"%c\"}",
             (unsigned)rec.transfer_offset, (unsigned)OUTPOST_OTA_CHUNK, 'a' + slot, (unsigned)OUTPOST_OTA_INFLATE_MAX);
}

static int transfer_manifest(manifest *m) { return rec.transfer ? parse_manifest(rec.manifest, rec.manifest_len, m) : -1; }

#if OUTPOST_OTA_DEFLATE
// A compressed chunk's matches may reach back into the module bytes already in the slot.
static int slot_history(void *ctx, uint32_t back, uint8_t *out) {
  (void)ctx;
  return cfg.slots->read(cfg.slots->ctx, rec.transfer_slot, rec.transfer_offset - back, out, 1);
}
#endif

static void ota_write(outpost_call *call) {
  manifest m;
  if (transfer_manifest(&m)) return REFUSE(call, NO_TRANSFER);
  long offset;
  const char *d64;
  size_t d_len;
  if (outpost_param_int(call, 99, "offset", &offset) || offset < 0 || string_param(call, "data", &d64, &d_len))
    return REFUSE(call, BAD_PARAMS);
  if ((uint32_t)offset != rec.transfer_offset) {
    char why[40];
    snprintf(why, sizeof why, "bad_offset: expected %u", (unsigned)rec.transfer_offset);
    return fail(call, OUTPOST_OTA_ERR_BAD_OFFSET, why);
  }
  if (d_len / 4 * 3 > sizeof chunk + 2) return REFUSE(call, TOO_BIG);
  long n = b64_decode(d64, d_len, chunk, sizeof chunk);
  if (n <= 0) return REFUSE(call, BAD_PARAMS);
  const uint8_t *bytes = chunk;
  const char *encoding;
  size_t e_len;
  if (!outpost_param(call, 99, "encoding", &encoding, &e_len)) {
    if (string_param(call, "encoding", &encoding, &e_len)) return REFUSE(call, BAD_PARAMS); // not a string
#if OUTPOST_OTA_DEFLATE
    if (e_len != 7 || memcmp(encoding, "deflate", 7)) return REFUSE(call, BAD_PARAMS);
    size_t room = m.size - rec.transfer_offset < sizeof inflated ? m.size - rec.transfer_offset : sizeof inflated;
    n = outpost_inflate(chunk, (size_t)n, inflated, room, rec.transfer_offset, slot_history, NULL);
    if (n == OUTPOST_INFLATE_OUTPUT_FULL) return REFUSE(call, TOO_BIG);
    if (n <= 0) {
      char why[40];
      snprintf(why, sizeof why, "bad_deflate: %s", n ? outpost_inflate_error_name(n) : "empty");
      return fail(call, OUTPOST_OTA_ERR_BAD_DEFLATE, why);
    }
    bytes = inflated;
#else
    return REFUSE(call, BAD_PARAMS); // not announced at ota.begin
#endif
  }
  if (rec.transfer_offset + (uint32_t)n > m.size) return REFUSE(call, TOO_BIG);
  if (cfg.slots->write(cfg.slots->ctx, rec.transfer_slot, rec.transfer_offset, bytes, (size_t)n))
    return REFUSE(call, STORAGE_FAILED);
  rec.transfer_offset += (uint32_t)n;
  if (save()) return REFUSE(call, STORAGE_FAILED);
  outpost_ok(call, "{\"offset\":%u}", (unsigned)rec.transfer_offset);
}

static void ota_finish(outpost_call *call) {
  manifest m;
  if (transfer_manifest(&m)) return REFUSE(call, NO_TRANSFER);
  if (rec.transfer_offset < m.size) return REFUSE(call, INCOMPLETE);
  int slot = rec.transfer_slot;
  outpost_slot_info *info = &rec.slots[slot];
  info->version = m.version;
  info->size = m.size;
  memcpy(info->sha256, m.sha256, 32);
  memcpy(info->label, m.label, sizeof info->label);
  info->valid = 1;
  if (!slot_verified(slot)) {
    info->valid = 0;
    rec.transfer = 0;
    set_last(m.version, OUTCOME_FAILED, "hash_mismatch");
    save();
    return REFUSE(call, HASH_MISMATCH);
  }
  // The engine caps memory at its limit, so a module may declare one page on a board with less; one that asks for
  // more pages than the limit spans could never start here: refused, the running module untouched.
  uint32_t limit = cfg.memory_limit ? cfg.memory_limit : OUTPOST_MEMORY_LIMIT;
  if (declared_pages(slot, m.size) > (limit + 65535u) / 65536u) {
    info->valid = 0;
    rec.transfer = 0;
    save();
    return REFUSE(call, TOO_BIG);
  }
  rec.pending = (int8_t)slot;
  rec.tries = 0;
  rec.transfer = 0;
  if (save()) return REFUSE(call, STORAGE_FAILED); // the switch
  outpost_ok(call, "{\"state\":\"pending\",\"version\":%u,\"slot\":\"%c\"}", (unsigned)m.version, 'a' + slot);
  // outpost_run returns once this answer and the offline status are out; the board loads the new module.
  restart_requested = 1;
  if (cfg.stop) *cfg.stop = 1;
}

static void ota_confirm(outpost_call *call) {
  long version;
  if (outpost_param_int(call, 99, "version", &version)) return REFUSE(call, BAD_PARAMS);
  if (!running_pending && (uint32_t)version == running_version) {
    outpost_ok(call, "{\"state\":\"confirmed\",\"version\":%u}", (unsigned)running_version);
    return;
  }
  if (!running_pending || (uint32_t)version != running_version) return REFUSE(call, NOT_PENDING);
  rec.confirmed = rec.pending;
  rec.pending = OUTPOST_OTA_NO_SLOT;
  rec.tries = 0;
  set_last(running_version, OUTCOME_SUCCEEDED, NULL);
  if (save()) return REFUSE(call, STORAGE_FAILED);
  running_pending = 0;
  window_deadline = 0;
  outpost_ok(call, "{\"state\":\"confirmed\",\"version\":%u}", (unsigned)running_version);
}

static void ota_abort(outpost_call *call) {
  if (rec.transfer) {
    rec.transfer = 0;
    if (save()) return REFUSE(call, STORAGE_FAILED);
  }
  outpost_ok(call, "{\"state\":\"idle\"}");
}

static void hex(char *out, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

int outpost_ota_sysinfo(char *out, size_t cap) {
  heard = 1; // the backend asks sys.info once the module is online
  static const char *outcomes[] = {"", "succeeded", "rolled_back", "failed"};
  char sha[65] = "";
  char label[40] = "null";
  if (running_slot != OUTPOST_OTA_NO_SLOT) {
    hex(sha, rec.slots[running_slot].sha256, 32);
    if (rec.slots[running_slot].label[0]) snprintf(label, sizeof label, "\"%s\"", rec.slots[running_slot].label);
  }
  int other = 1 - active_slot();
  char previous[16] = "null";
  if (running_pending) {
    if (rec.confirmed != OUTPOST_OTA_NO_SLOT)
      snprintf(previous, sizeof previous, "%u", (unsigned)rec.slots[rec.confirmed].version);
    else strcpy(previous, "0");
  } else if (rec.slots[other].valid && other != rec.pending) {
    snprintf(previous, sizeof previous, "%u", (unsigned)rec.slots[other].version);
  } else if (running_version) {
    strcpy(previous, "0");
  }
  char transfer[80] = "null";
  manifest m;
  if (!transfer_manifest(&m))
    snprintf(transfer, sizeof transfer, "{\"version\":%u,\"offset\":%u,\"size\":%u}", (unsigned)m.version,
             (unsigned)rec.transfer_offset, (unsigned)m.size);
  char last[96] = "null";
  if (rec.last_outcome) {
    char reason[40] = "null";
    if (rec.last_reason[0]) snprintf(reason, sizeof reason, "\"%s\"", rec.last_reason);
    snprintf(last, sizeof last, "{\"version\":%u,\"outcome\":\"%s\",\"reason\":%s}", (unsigned)rec.last_version,
             outcomes[rec.last_outcome & 3], reason);
  }
  int n = snprintf(out, cap,
                   ",\"app\":{\"version\":%u,\"label\":%s,\"sha256\":%s%s%s,\"slot\":\"%c\",\"state\":\"%s\",\"previous\":%s,"
                   "\"transfer\":%s,\"last\":%s}",
                   (unsigned)running_version, label, sha[0] ? "\"" : "", sha[0] ? sha : "null", sha[0] ? "\"" : "",
                   'a' + active_slot(), running_pending ? "pending" : "confirmed", previous, transfer, last);
  return n > 0 && (size_t)n < cap ? n : -1;
}

int outpost_ota_init(const outpost_ota_config *config) {
  cfg = *config;
  outpost_sysinfo_extra = outpost_ota_sysinfo;
  if (cfg.slots->read_record(cfg.slots->ctx, &rec) || !outpost_ota_record_valid(&rec)) fresh_record();
  static const char obj[] = "{\"type\":\"object\"}";
  if (outpost_method("ota.begin", "Starts or resumes an update (docs/ota.md)", obj, ota_begin) ||
      outpost_method("ota.write", "Writes one chunk of the module", obj, ota_write) ||
      outpost_method("ota.finish", "Verifies the module, marks it pending, restarts on it", obj, ota_finish) ||
      outpost_method("ota.confirm", "Confirms the running pending module", obj, ota_confirm) ||
      outpost_method("ota.abort", "Drops a begun transfer", obj, ota_abort))
    return -1;
  return 0;
}
