#include "outpost_gpio.h"

static const outpost_gpio *gpio;

static int pin_param(outpost_call *call, long *pin) {
  char name[8];
  if (outpost_param_int(call, 0, "pin", pin) == 0) {
    if (gpio->valid(*pin)) return 0;
  } else if (gpio->named && outpost_param_string(call, 0, "pin", name, sizeof name) == 0 && (*pin = gpio->named(name)) >= 0) {
    return 0;
  }
  outpost_fail(call, OUTPOST_RPC_INVALID_PARAMS, gpio->pin_error);
  return -1;
}

static void gpio_write_method(outpost_call *call) {
  long pin, value;
  if (pin_param(call, &pin)) return;
  if (outpost_param_int(call, 1, "value", &value) || (value != 0 && value != 1)) {
    outpost_fail(call, OUTPOST_RPC_INVALID_PARAMS, "Invalid params: value must be 0 or 1");
    return;
  }
  const char *why = "";
  int code = gpio->write(pin, (int)value, &why);
  if (code) outpost_fail(call, code, why);
  else outpost_ok(call, "true");
}

static void gpio_read_method(outpost_call *call) {
  long pin;
  if (pin_param(call, &pin)) return;
  outpost_ok(call, "%d", gpio->read(pin) ? 1 : 0);
}

void outpost_gpio_methods(const outpost_gpio *board_gpio) {
  gpio = board_gpio;
  outpost_method("gpio.write", gpio->write_description, gpio->write_schema, gpio_write_method);
  outpost_method("gpio.read", gpio->read_description, gpio->read_schema, gpio_read_method);
}
