// The STM32F405 board layer: clock, reset, memory accounting and the
// emulator check. Drivers for the byte pipe and GPIO are in link.h, gpio.h.
#ifndef OUTPOST_STM32_BOARD_H
#define OUTPOST_STM32_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Clocks, SysTick, debug channel, byte pipe and GPIO. Call once, first.
void board_init(void);

// True under QEMU: its STM32F405 has no clock tree model (RCC reads 0).
bool board_emulated(void);

// "netduinoplus2 (QEMU)" or "STM32F405".
const char *board_name(void);

uint32_t board_cpu_hz(void);

// Milliseconds since boot (SysTick, 1 ms), wraps after 49.7 days.
uint32_t board_millis(void);

// At board_millis() == at_ms, sets *fired and *stop (from SysTick); stop NULL cancels.
#include <signal.h>
void board_set_alarm(uint32_t at_ms, volatile sig_atomic_t *stop, volatile sig_atomic_t *fired);

// Sleeps until the next interrupt unless bytes are already waiting.
void board_idle(void);
// Sleeps until the next interrupt, bytes waiting or not.
void board_idle_until_interrupt(void);

// Nanoseconds since boot (SysTick), and those of them not spent in board_idle.
// Under QEMU -icount shift=0 one instruction takes one virtual nanosecond, so
// board_busy_nanos() counts the instructions the firmware executed.
uint64_t board_nanos(void);
uint64_t board_busy_nanos(void);

// QEMU: semihosting exit with this code. Hardware: system reset.
_Noreturn void board_exit(int code);
// sys.reboot: exit 0 under QEMU, NVIC system reset on hardware.
_Noreturn void board_reboot(void);
// A test's power cut (QEMU): a system reset through SCB AIRCR SYSRESETREQ, QEMU keeping its RAM and the link.
_Noreturn void board_power_cut(const char *step);
// At start: 1 once after board_power_cut. The old link stream is ended with a DISCONNECT and redialled first (a
// real cut drops the modem's connection; QEMU's socket would stay up and take the next CONNECT as a second one).
int board_after_power_cut(void);
// Prints what went wrong on the debug channel, then board_exit(1).
_Noreturn void board_fatal(const char *what, uint32_t detail);

// Memory, measured: RAM = static + heap high-water + stack high-water.
typedef struct {
  uint32_t static_bytes; // .data + .bss
  uint32_t heap_high_water; // highest program break, from _sbrk
  uint32_t heap_in_use; // bytes malloc holds right now
  uint32_t heap_limit; // SRAM left for the heap
  uint32_t stack_high_water; // deepest stack use, from the painted stack
  uint32_t stack_size;
} board_memory;
void board_memory_read(board_memory *out);

// The command line QEMU got with -append (semihosting SYS_GET_CMDLINE), NUL
// terminated; empty on hardware. Returns its length.
size_t board_command_line(char *out, size_t cap);

// Called once from Reset_Handler: fills the unused stack with a pattern.
void board_paint_stack(void);

// Heap accounting for _sbrk (syscalls.c).
void *board_sbrk(ptrdiff_t increment);

#endif
