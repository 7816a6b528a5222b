// This board's RPC methods, in C, through outpost_method (boards/common).
// Pins are numbered as on boards/posix, port * 16 + pin (PA0 = 0, PD12 = 60),
// or named: "PD12".
#include "methods.h"

#include <string.h>

#include "board.h"
#include "gpio.h"
#include "link.h"
#include "outpost_gpio.h"

#define PIN_COUNT (GPIO_PORTS * GPIO_PINS)

static volatile sig_atomic_t *stop_flag;

// "PD12" -> 60; -1 if it is not a pin name.
static long pin_from_name(const char *name) {
  if ((name[0] != 'P' && name[0] != 'p') || !name[1] || !name[2]) return -1;
  unsigned port = (unsigned)((name[1] | 0x20) - 'a');
  long pin = 0;
  for (const char *p = name + 2; *p; p++) {
    if (*p < '0' || *p > '9' || pin > 15) return -1;
    pin = pin * 10 + (*p - '0');
  }
  if (port >= GPIO_PORTS || pin >= (long)GPIO_PINS) return -1;
  return (long)(port * GPIO_PINS) + pin;
}

static int pin_valid(long pin) { return pin >= 0 && pin < (long)PIN_COUNT; }

static int pin_write(long pin, int level, const char **why) {
  (void)why;
  gpio_write((unsigned)pin / GPIO_PINS, (unsigned)pin % GPIO_PINS, level != 0);
  return 0;
}

static int pin_read(long pin) {
  bool level = false;
  gpio_read((unsigned)pin / GPIO_PINS, (unsigned)pin % GPIO_PINS, &level);
  return level;
}

#define PIN_SCHEMA "{\"type\":[\"integer\",\"string\"],\"description\":\"port*16+n or a name like PD12\"}"

static const outpost_gpio gpio = {
    .write_description = "Drives a pin (push-pull output) to 0 or 1",
    .read_description = "Reads a pin: the driven level of an output, else the input level",
    .write_schema = OUTPOST_GPIO_WRITE_SCHEMA(PIN_SCHEMA),
    .read_schema = OUTPOST_GPIO_READ_SCHEMA(PIN_SCHEMA),
    .pin_error = "Invalid params: pin must be 0..143 or a name like PD12",
    .valid = pin_valid,
    .named = pin_from_name,
    .write = pin_write,
    .read = pin_read,
};

// Answers first; main() reboots once the runtime has sent the answer and
// disconnected cleanly.
static void sys_reboot_method(outpost_call *call) {
  outpost_ok(call, "{\"rebooting\":true,\"how\":\"%s\"}", board_emulated() ? "semihosting exit" : "NVIC system reset");
  if (stop_flag) *stop_flag = 1;
}

static void board_memory_method(outpost_call *call) {
  board_memory m;
  board_memory_read(&m);
  link_counters link = link_counters_read();
  outpost_ok(call,
             "{\"static\":%lu,\"heap_high_water\":%lu,\"heap_in_use\":%lu,\"heap_limit\":%lu,\"stack_high_water\":%lu,"
             "\"stack_size\":%lu,\"ram_used\":%lu,\"gpio\":\"%s\",\"link_rx\":%lu,\"link_tx\":%lu,\"link_overruns\":%lu,\"link_"
             "pauses\":%lu}",
             (unsigned long)m.static_bytes, (unsigned long)m.heap_high_water, (unsigned long)m.heap_in_use,
             (unsigned long)m.heap_limit, (unsigned long)m.stack_high_water, (unsigned long)m.stack_size,
             (unsigned long)(m.static_bytes + m.heap_high_water + m.stack_high_water), gpio_backing(),
             (unsigned long)link.rx_bytes, (unsigned long)link.tx_bytes, (unsigned long)link.rx_overruns,
             (unsigned long)link.rx_pauses);
}

// Decimal text of a 64-bit count (newlib-nano's printf has no %llu).
static const char *u64_text(uint64_t v, char *buf, size_t cap) {
  char *p = buf + cap;
  *--p = 0;
  do *--p = (char)('0' + v % 10u);
  while ((v /= 10u) && p > buf);
  return p;
}

static void board_cpu_method(outpost_call *call) {
  char busy[24], uptime[24];
  outpost_ok(call, "{\"busy_ns\":%s,\"uptime_ns\":%s,\"cpu_hz\":%lu}", u64_text(board_busy_nanos(), busy, sizeof busy),
             u64_text(board_nanos(), uptime, sizeof uptime), (unsigned long)board_cpu_hz());
}

void stm32_methods(volatile sig_atomic_t *stop) {
  stop_flag = stop;
  outpost_gpio_methods(&gpio);
  outpost_method("sys.reboot", "Restarts the board (QEMU: ends the emulation)", NULL, sys_reboot_method);
  outpost_method("board.memory", "RAM use measured on the board: static, heap high-water, painted stack", NULL,
                 board_memory_method);
  outpost_method("board.cpu", "Time since boot and the part of it the CPU was busy (instructions under QEMU -icount)", NULL,
                 board_cpu_method);
}
