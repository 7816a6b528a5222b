// OTA slots on ESP-IDF data partitions (README.md, "OTA updates of the module"). Not esp_ota_*: those hold app
// images, and esp_ota_end checks an image header a .wasm module does not have; the firmware's own ota_0/ota_1
// stay free for firmware updates.
//   outpost_a, outpost_b  the module slots (64 KiB each), erased by 4 KiB sector, written with esp_partition_write
//                         and read in place through esp_partition_mmap (wasm3 parses the module there, no RAM copy;
//                         the flash driver invalidates the cache of a mapped range it writes)
//   outpost_rec           the state record: two copies, one 4 KiB sector each, each with its sequence number and
//                         CRC-32 (outpost_ota.c); a write goes to the copy not in use, so a power cut during it
//                         leaves the other one valid, and the valid copy with the higher sequence wins at start.
// NOT BUILT: this machine has no ESP-IDF toolchain; written against the ESP-IDF 5.x esp_partition API.
#include "slots_partition.h"

#include <string.h>

#include "esp_log.h"
#include "esp_partition.h"
#include "outpost_ota.h"

#define SLOT_SUBTYPE 0x40 // custom data subtypes (0x40..0xFE); partitions.csv uses the same
#define RECORD_SUBTYPE 0x41
#define SECTOR 4096u
#define RECORD_SPAN ((sizeof(outpost_ota_record) + SECTOR - 1) / SECTOR * SECTOR)

static const char *TAG = "outpost-slots";
static const esp_partition_t *slot_part[2], *record_part;
static const uint8_t *slot_map[2];
static esp_partition_mmap_handle_t slot_map_handle[2];
static int record_copy = -1; // the copy holding the current record

static int read_record(void *ctx, outpost_ota_record *r) {
  (void)ctx;
  static outpost_ota_record copies[2]; // static: 1.3 KiB off the device task's stack
  int best = -1;
  for (int c = 0; c < 2; c++) {
    if (esp_partition_read(record_part, c * RECORD_SPAN, &copies[c], sizeof copies[c]) != ESP_OK) continue;
    if (outpost_ota_record_valid(&copies[c]) && (best < 0 || copies[c].seq > copies[best].seq)) best = c;
  }
  record_copy = best;
  if (best < 0) return -1;
  memcpy(r, &copies[best], sizeof *r);
  return 0;
}

static int write_record(void *ctx, const outpost_ota_record *r) {
  (void)ctx;
  int copy = record_copy == 0 ? 1 : 0; // never the one in use
  size_t at = (size_t)copy * RECORD_SPAN;
  if (esp_partition_erase_range(record_part, at, RECORD_SPAN) != ESP_OK ||
      esp_partition_write(record_part, at, r, sizeof *r) != ESP_OK)
    return -1;
  record_copy = copy;
  return 0;
}

static int erase(void *ctx, int slot) {
  (void)ctx;
  return esp_partition_erase_range(slot_part[slot], 0, slot_part[slot]->size) == ESP_OK ? 0 : -1;
}

// esp_partition_write returns once the bytes are programmed: durable.
static int write_slot(void *ctx, int slot, uint32_t offset, const uint8_t *data, size_t len) {
  (void)ctx;
  if (offset > slot_part[slot]->size || len > slot_part[slot]->size - offset) return -1;
  return esp_partition_write(slot_part[slot], offset, data, len) == ESP_OK ? 0 : -1;
}

static int read_slot(void *ctx, int slot, uint32_t offset, uint8_t *out, size_t len) {
  (void)ctx;
  if (offset > slot_part[slot]->size || len > slot_part[slot]->size - offset) return -1;
  return esp_partition_read(slot_part[slot], offset, out, len) == ESP_OK ? 0 : -1;
}

static const uint8_t *map_slot(void *ctx, int slot) {
  (void)ctx;
  return slot_map[slot];
}

const outpost_slots *esp32_slots(void) {
  static outpost_slots slots = {0, read_record, write_record, erase, write_slot, read_slot, NULL, map_slot};
  static const char *const labels[2] = {"outpost_a", "outpost_b"};
  for (int s = 0; s < 2; s++) {
    slot_part[s] = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, SLOT_SUBTYPE, labels[s]);
    if (!slot_part[s]) {
      ESP_LOGE(TAG, "no data partition %s (partitions.csv): OTA off", labels[s]);
      return NULL;
    }
    const void *p;
    if (esp_partition_mmap(slot_part[s], 0, slot_part[s]->size, ESP_PARTITION_MMAP_DATA, &p, &slot_map_handle[s]) != ESP_OK) {
      ESP_LOGE(TAG, "cannot map %s: OTA off", labels[s]);
      return NULL;
    }
    slot_map[s] = p;
  }
  record_part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, RECORD_SUBTYPE, "outpost_rec");
  if (!record_part || record_part->size < 2 * RECORD_SPAN) {
    ESP_LOGE(TAG, "no data partition outpost_rec of %u bytes (partitions.csv): OTA off", (unsigned)(2 * RECORD_SPAN));
    return NULL;
  }
  slots.slot_cap = slot_part[0]->size < slot_part[1]->size ? slot_part[0]->size : slot_part[1]->size;
  return &slots;
}
