// The STM32F405's OTA module slots and state record (boards/common/outpost_slots.h): on the
// chip, flash sectors through the flash controller; under QEMU, which does not emulate flash
// programming, the same functions on RAM (README.md, "OTA", says exactly what differs).
#ifndef OUTPOST_STM32_SLOTS_FLASH_H
#define OUTPOST_STM32_SLOTS_FLASH_H

#include "outpost_slots.h"

// The slots and the two record copies; ram: the QEMU stand-in.
const outpost_slots *stm32_slots(int ram);

// A slot's bytes where they lie (memory-mapped flash, or the RAM stand-in): wasm3 parses them in place.
const uint8_t *stm32_slot_bytes(int slot);

// Tests (--power-cuts, QEMU): reset the board the n-th time step ("chunk-written": a slot chunk programmed;
// "record-written": half-way through programming a state record copy) is reached from now.
void stm32_arm_power_cut(const char *step, uint32_t n);

#endif
