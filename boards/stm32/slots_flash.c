// OTA slots on the STM32F405 (RM0090 section 3): two 128 KiB sectors for the module slots
// (10 and 11, 0x080C0000 and 0x080E0000) and two for the state record's copies (8 and 9), past
// the firmware. Erase: unlock (KEYR), SER + SNB + STRT, wait for BSY to clear; program: PG and
// one 32-bit store per word (PSIZE x32, 2.7-3.6 V), then check the error flags. The record's two
// copies carry a sequence number and a CRC (outpost_ota.c): a write goes to the copy not in use,
// so a power cut during it leaves the other one valid.
// Under QEMU (netduinoplus2 maps flash read-only and has no flash controller model) the same
// functions use RAM above the 128 KiB the firmware links into (.noinit, stm32f405.ld): erase is a
// fill with 0xFF, program a store. It outlives a system reset (a power cut in the tests: the
// board resets itself at an armed step, stm32_arm_power_cut) but not QEMU's exit.
#include "slots_flash.h"

#include <string.h>

#include "board.h"
#include "outpost_ota.h"

#define FLASH_KEYR (*(volatile uint32_t *)0x40023C04u)
#define FLASH_SR (*(volatile uint32_t *)0x40023C0Cu)
#define FLASH_CR (*(volatile uint32_t *)0x40023C10u)
#define SR_BSY (1u << 16)
#define SR_ERRORS (0xF0u) // WRPERR, PGAERR, PGPERR, PGSERR
#define CR_PG (1u << 0)
#define CR_SER (1u << 1)
#define CR_PSIZE_X32 (2u << 8)
#define CR_STRT (1u << 16)
#define CR_LOCK (1u << 31)

#define SLOT_CAP (24u * 1024u) // the module is ~20 KiB; the RAM stand-in has 64 KiB to share
static const uint32_t flash_slot[2] = {0x080C0000u, 0x080E0000u};
static const uint32_t flash_record[2] = {0x08080000u, 0x080A0000u};
static const uint8_t slot_sector[2] = {10, 11}, record_sector[2] = {8, 9};
// QEMU maps 192 KiB of SRAM; the linker uses the first 128 KiB and puts .noinit in the rest.
#define RECORD_CAP 1024u
static uint8_t qemu_ram[2 * SLOT_CAP + 2 * RECORD_CAP] __attribute__((section(".noinit"), aligned(4)));
#define RAM_BASE ((uint32_t)(uintptr_t)qemu_ram)
#define RAM_SLOT(slot) (RAM_BASE + (uint32_t)(slot)*SLOT_CAP)
#define RAM_RECORD(copy) (RAM_BASE + 2 * SLOT_CAP + (uint32_t)(copy)*RECORD_CAP)

// A test's power cut: the board resets at the n-th time the armed step is reached from now.
static const char *cut_step;
static uint32_t cut_countdown;
void stm32_arm_power_cut(const char *step, uint32_t n) {
  cut_step = step;
  cut_countdown = n;
}
static int cut_now(const char *step) { return cut_step && strcmp(step, cut_step) == 0 && --cut_countdown == 0; }

static int in_ram;
static int record_copy = -1; // the copy holding the current record

static uint8_t *at(uint32_t address) { return (uint8_t *)(uintptr_t)address; }
static uint32_t slot_address(int slot) { return in_ram ? RAM_SLOT(slot) : flash_slot[slot]; }
static uint32_t record_address(int copy) { return in_ram ? RAM_RECORD(copy) : flash_record[copy]; }

static int flash_wait(void) {
  while (FLASH_SR & SR_BSY) {
  }
  uint32_t errors = FLASH_SR & SR_ERRORS;
  FLASH_SR = errors; // write 1 to clear
  return errors ? -1 : 0;
}

static void flash_unlock(void) {
  if (FLASH_CR & CR_LOCK) {
    FLASH_KEYR = 0x45670123u;
    FLASH_KEYR = 0xCDEF89ABu;
  }
}

static int erase_sector(uint8_t sector, uint32_t address, uint32_t len) {
  if (in_ram) {
    memset(at(address), 0xFF, len);
    return 0;
  }
  flash_unlock();
  if (flash_wait()) return -1;
  FLASH_CR = CR_PSIZE_X32 | CR_SER | (uint32_t)sector << 3;
  FLASH_CR |= CR_STRT;
  int rc = flash_wait();
  FLASH_CR = CR_LOCK;
  return rc;
}

// Programs len bytes at address (word-aligned; the tail padded with 0xFF).
static int program(uint32_t address, const uint8_t *data, size_t len) {
  if (in_ram) {
    memcpy(at(address), data, len);
    return 0;
  }
  flash_unlock();
  if (flash_wait()) return -1;
  FLASH_CR = CR_PSIZE_X32 | CR_PG;
  int rc = 0;
  for (size_t i = 0; i < len && !rc; i += 4) {
    uint32_t word = 0xFFFFFFFFu;
    memcpy(&word, data + i, len - i < 4 ? len - i : 4);
    *(volatile uint32_t *)(uintptr_t)(address + i) = word;
    rc = flash_wait();
  }
  FLASH_CR = CR_LOCK;
  return rc;
}

static int read_record(void *ctx, outpost_ota_record *r) {
  (void)ctx;
  const outpost_ota_record *copies[2] = {(const void *)at(record_address(0)), (const void *)at(record_address(1))};
  int best = -1;
  for (int c = 0; c < 2; c++)
    if (outpost_ota_record_valid(copies[c]) && (best < 0 || copies[c]->seq > copies[best]->seq)) best = c;
  record_copy = best;
  if (best < 0) return -1;
  memcpy(r, copies[best], sizeof *r);
  return 0;
}

static int write_record(void *ctx, const outpost_ota_record *r) {
  (void)ctx;
  int copy = record_copy == 0 ? 1 : 0; // never the one in use
  uint32_t address = record_address(copy);
  if (erase_sector(record_sector[copy], address, RECORD_CAP)) return -1;
  // "record-written": the power goes half-way through programming the copy (its CRC fails, the other one stands).
  if (cut_now("record-written")) program(address, (const uint8_t *)r, sizeof *r / 2 & ~3u), board_power_cut("record-written");
  if (program(address, (const uint8_t *)r, sizeof *r)) return -1;
  record_copy = copy;
  return 0;
}

static int erase(void *ctx, int slot) {
  (void)ctx;
  return erase_sector(slot_sector[slot], slot_address(slot), SLOT_CAP);
}

static int write_slot(void *ctx, int slot, uint32_t offset, const uint8_t *data, size_t len) {
  (void)ctx;
  // Chunks arrive at offsets that are multiples of the chunk size (600): word-aligned.
  if (offset % 4 || program(slot_address(slot) + offset, data, len)) return -1;
  if (cut_now("chunk-written")) board_power_cut("chunk-written"); // the chunk durable, its answer never sent
  return 0;
}

static int read_slot(void *ctx, int slot, uint32_t offset, uint8_t *out, size_t len) {
  (void)ctx;
  memcpy(out, at(slot_address(slot) + offset), len);
  return 0;
}

const uint8_t *stm32_slot_bytes(int slot) { return at(slot_address(slot)); }
static const uint8_t *map_slot(void *ctx, int slot) {
  (void)ctx;
  return stm32_slot_bytes(slot);
}

const outpost_slots *stm32_slots(int ram) {
  static outpost_slots slots = {SLOT_CAP, read_record, write_record, erase, write_slot, read_slot, NULL, map_slot};
  in_ram = ram;
  return &slots;
}
