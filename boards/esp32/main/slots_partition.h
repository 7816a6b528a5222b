// The ESP32's OTA module slots and state record (boards/common/outpost_slots.h) on ESP-IDF data partitions
// (partitions.csv: outpost_a, outpost_b, outpost_rec). Not built here: no ESP-IDF on this machine (README.md, "OTA").
#ifndef OUTPOST_ESP32_SLOTS_PARTITION_H
#define OUTPOST_ESP32_SLOTS_PARTITION_H

#include "outpost_slots.h"

// Finds the three partitions and maps the slots; NULL (and a log line) if the partition table lacks them.
const outpost_slots *esp32_slots(void);

#endif
