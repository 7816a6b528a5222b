// This board's RPC methods, in C, through outpost_method. The pins are simulated,
// so the same gpio.* calls as on the STM32 board can be tested natively.
#include "board.h"
#include "outpost.h"

#define PINS 32
#define INVALID_PARAMS -32602

static int pins[PINS];

static int read_pin(outpost_call *call, long *pin) {
  if (outpost_param_int(call, 0, "pin", pin) || *pin < 0 || *pin >= PINS) {
    outpost_fail(call, INVALID_PARAMS, "Invalid params: pin must be 0..31");
    return -1;
  }
  return 0;
}

static void gpio_write(outpost_call *call) {
  long pin, value;
  if (read_pin(call, &pin)) return;
  if (outpost_param_int(call, 1, "value", &value) || (value != 0 && value != 1)) {
    outpost_fail(call, INVALID_PARAMS, "Invalid params: value must be 0 or 1");
    return;
  }
  pins[pin] = (int)value;
  outpost_ok(call, "true");
}

static void gpio_read(outpost_call *call) {
  long pin;
  if (read_pin(call, &pin)) return;
  outpost_ok(call, "%d", pins[pin]);
}

void posix_methods(void) {
  outpost_method("gpio.write", "Sets a (simulated) pin to 0 or 1",
                 "{\"type\":[\"array\",\"object\"],\"properties\":{\"pin\":{\"type\":\"integer\"},\"value\":{\"enum\":[0,1]}}}",
                 gpio_write);
  outpost_method("gpio.read", "Reads a (simulated) pin",
                 "{\"type\":[\"array\",\"object\"],\"properties\":{\"pin\":{\"type\":\"integer\"}}}", gpio_read);
}
