// Where a board keeps the OTA module slots and the state record (docs/ota.md, "Slots and
// the state record"). outpost_slots_file.c: two files and a record replaced by rename
// (POSIX). boards/stm32/slots_flash.c: flash sectors and a two-copy record.
#ifndef OUTPOST_SLOTS_H
#define OUTPOST_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#define OUTPOST_OTA_MANIFEST_MAX 512
#define OUTPOST_OTA_NO_SLOT (-1)

typedef struct outpost_slot_info {
  uint32_t version;
  uint32_t size;
  uint8_t sha256[32];
  char label[24];
  uint8_t valid; // 1: these bytes are in the slot, verified
} outpost_slot_info;

// The state record: one write replaces it whole, and a power cut leaves the old or the new.
typedef struct outpost_ota_record {
  uint32_t magic;
  uint32_t seq; // bumped by every write; the flash copy with the higher one wins
  int8_t confirmed; // 0 a, 1 b, OUTPOST_OTA_NO_SLOT: the built-in module (version 0)
  int8_t pending; // the slot waiting for ota.confirm, or OUTPOST_OTA_NO_SLOT
  uint8_t tries; // starts of the pending slot so far
  uint8_t transfer; // 1: a transfer is begun
  outpost_slot_info slots[2];
  uint8_t transfer_slot;
  uint32_t transfer_offset; // bytes written and durable
  uint16_t manifest_len;
  uint8_t manifest[OUTPOST_OTA_MANIFEST_MAX];
  uint8_t signature[64];
  uint32_t last_version;
  uint8_t last_outcome; // 0 none, 1 succeeded, 2 rolled_back, 3 failed
  char last_reason[24];
  uint32_t crc; // CRC-32 of everything before it
} outpost_ota_record;

typedef struct outpost_slots {
  uint32_t slot_cap; // the largest module a slot holds
  // 0 and the record, or -1 when there is none (or no valid copy).
  int (*read_record)(void *ctx, outpost_ota_record *r);
  // Replaces the record atomically; 0 or -1.
  int (*write_record)(void *ctx, const outpost_ota_record *r);
  int (*erase)(void *ctx, int slot);
  // Writes len bytes at offset and makes them durable before returning; 0 or -1.
  int (*write)(void *ctx, int slot, uint32_t offset, const uint8_t *data, size_t len);
  int (*read)(void *ctx, int slot, uint32_t offset, uint8_t *out, size_t len);
  void *ctx;
  // Optional: the slot's bytes in place (memory-mapped flash), so loading copies nothing.
  const uint8_t *(*map)(void *ctx, int slot);
} outpost_slots;

#endif
