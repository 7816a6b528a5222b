// This board's RPC methods, in C, through outpost_method. The pins are simulated,
// so the same gpio.* calls as on the STM32 board can be tested natively.
#include "board.h"
#include "outpost_gpio.h"

#define PINS 32

static int pins[PINS];

static int valid(long pin) { return pin >= 0 && pin < PINS; }

static int write_pin(long pin, int level, const char **why) {
  pins[pin] = level;
  return 0;
}

static int read_pin(long pin) { return pins[pin]; }

static const outpost_gpio gpio = {
    .write_description = "Sets a (simulated) pin to 0 or 1",
    .read_description = "Reads a (simulated) pin",
    .write_schema = OUTPOST_GPIO_WRITE_SCHEMA("{\"type\":\"integer\"}"),
    .read_schema = OUTPOST_GPIO_READ_SCHEMA("{\"type\":\"integer\"}"),
    .pin_error = "Invalid params: \"pin\" must be 0..31", // outpost_fail escapes the quotes
    .valid = valid,
    .write = write_pin,
    .read = read_pin,
};

void posix_methods(void) { outpost_gpio_methods(&gpio); }
