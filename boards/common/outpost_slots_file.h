// Module slots as files (POSIX): see outpost_slots_file.c.
#ifndef OUTPOST_SLOTS_FILE_H
#define OUTPOST_SLOTS_FILE_H

#include "outpost_slots.h"

typedef struct outpost_slots_file {
  const char *dir;
  outpost_slots slots;
  // Tests: called at "chunk-written" and "record-written"; non-zero makes that step a power cut.
  int (*crash_step)(const char *step);
} outpost_slots_file;

int outpost_slots_file_init(outpost_slots_file *f, const char *dir, uint32_t slot_cap);

#endif
