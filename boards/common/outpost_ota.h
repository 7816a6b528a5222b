// OTA updates of the module on the C boards (docs/ota.md): the ota.* board methods, the
// state record, and at every start the choice of a verified module. The board's shell
// asks outpost_ota_boot what to load, and after outpost_run returns asks
// outpost_ota_restart whether to load again (a finished update, a rollback).
#ifndef OUTPOST_OTA_H
#define OUTPOST_OTA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "outpost_slots.h"

#ifndef OUTPOST_OTA_MAX_KEYS
#define OUTPOST_OTA_MAX_KEYS 4
#endif
// Raw bytes per ota.write: what fits the board's request buffer as base64 with the envelope.
#ifndef OUTPOST_OTA_CHUNK
#define OUTPOST_OTA_CHUNK 600
#endif
#define OUTPOST_OTA_WINDOW_MS 120000u
// Compressed chunks (raw deflate, outpost_inflate.c): 0 leaves the inflater out (a board short of flash).
#ifndef OUTPOST_OTA_DEFLATE
#define OUTPOST_OTA_DEFLATE 1
#endif
// The most module bytes one compressed chunk may inflate to (a static buffer of this size).
#ifndef OUTPOST_OTA_INFLATE_MAX
#define OUTPOST_OTA_INFLATE_MAX 2048
#endif

typedef struct outpost_ota_config {
  const outpost_slots *slots;
  const uint8_t (*keys)[32]; // the release public keys, set at provisioning
  unsigned key_count;
  const uint8_t *builtin; // the module built in (version 0)
  size_t builtin_len;
  uint32_t memory_limit; // the engine's linear memory limit (a module declaring more is too_big)
  uint32_t confirm_window_ms; // 0: OUTPOST_OTA_WINDOW_MS
  volatile sig_atomic_t *stop; // set to make outpost_run return for a restart
} outpost_ota_config;

// Reads the record and registers ota.begin/write/finish/confirm/abort. 0 or -1.
int outpost_ota_init(const outpost_ota_config *config);

// What to load now: a verified slot read into buf (cap bytes), or the built-in module.
// Rolls back a pending slot that was started before without a confirmation.
void outpost_ota_boot(uint8_t *buf, size_t cap, const uint8_t **wasm, size_t *len);

// The module just booted failed to load or start: roll back (trap_at_start). Returns 1 if
// it was a pending one (load again), 0 if it was the confirmed one (nothing to go back to).
int outpost_ota_start_failed(void);

// The confirm window's end, as a deadline in ms of the board's clock, or 0 when nothing is pending.
uint32_t outpost_ota_window_ms(void);
// The window ended (the board's timer): rolls back if still pending and asks for a restart.
void outpost_ota_window_expired(void);

// After outpost_run returned: 1 when the module is to be loaded again (and clears the request).
int outpost_ota_restart(void);

// sys.info's app member: writes ,"app":{...} at out; returns its length, or -1 if cap is too small.
int outpost_ota_sysinfo(char *out, size_t cap);

// Whether a record read back from storage is whole (its magic and CRC-32): for two-copy stores.
int outpost_ota_record_valid(const outpost_ota_record *r);

// A release public key from its 64 hex digits (provisioning: a flag, a config file, NVS). 0 or -1.
int outpost_ota_key_from_hex(const char *hex, uint8_t key[32]);

// The version running (0: the built-in module).
uint32_t outpost_ota_running_version(void);

#endif
