// The STM32 board's RPC methods: gpio.write, gpio.read, sys.reboot, board.memory.
#ifndef OUTPOST_STM32_METHODS_H
#define OUTPOST_STM32_METHODS_H

#include <signal.h>

// sys.reboot sets *stop so the runtime finishes its answer and disconnects first.
void stm32_methods(volatile sig_atomic_t *stop);

// board.heap, in HEAP_TRACE builds (heap_trace.c).
void heap_trace_methods(void);

#endif
