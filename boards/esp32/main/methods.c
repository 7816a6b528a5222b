// This board's RPC methods, in C, through outpost_method (boards/common). Pins are
// ESP32 GPIO numbers; the params are those of boards/posix and boards/stm32.
#include "board.h"
#include "driver/gpio.h"
#include "outpost.h"

#define INVALID_PARAMS -32602

static volatile sig_atomic_t *stop_flag;
static uint64_t outputs; // pins gpio.write has configured

static int pin_param(outpost_call *call, long *pin) {
  if (outpost_param_int(call, 0, "pin", pin) || !GPIO_IS_VALID_GPIO(*pin)) {
    outpost_fail(call, INVALID_PARAMS, "Invalid params: pin must be a valid ESP32 GPIO number");
    return -1;
  }
  return 0;
}

static void gpio_write_method(outpost_call *call) {
  long pin, value;
  if (pin_param(call, &pin)) return;
  if (outpost_param_int(call, 1, "value", &value) || (value != 0 && value != 1)) {
    outpost_fail(call, INVALID_PARAMS, "Invalid params: value must be 0 or 1");
    return;
  }
  if (!GPIO_IS_VALID_OUTPUT_GPIO(pin)) {
    outpost_fail(call, INVALID_PARAMS, "Invalid params: that pin cannot be an output");
    return;
  }
  // The first write routes the pad to GPIO (gpio_config sets the IO MUX) with input
  // and output both on, so gpio.read sees the level the pin is driven to.
  if (!(outputs & (1ull << pin))) {
    gpio_config_t io = {.pin_bit_mask = 1ull << pin, .mode = GPIO_MODE_INPUT_OUTPUT};
    if (gpio_config(&io) != ESP_OK) {
      outpost_fail(call, -32000, "gpio_config failed");
      return;
    }
    outputs |= 1ull << pin;
  }
  gpio_set_level((gpio_num_t)pin, (uint32_t)value);
  outpost_ok(call, "true");
}

static void gpio_read_method(outpost_call *call) {
  long pin;
  if (pin_param(call, &pin)) return;
  outpost_ok(call, "%d", gpio_get_level((gpio_num_t)pin));
}

static void sys_reboot_method(outpost_call *call) {
  outpost_ok(call, "{\"rebooting\":true,\"how\":\"esp_restart\"}");
  if (stop_flag) *stop_flag = 1;
}

void esp32_methods(volatile sig_atomic_t *stop) {
  stop_flag = stop;
  outpost_method("gpio.write", "Drives a GPIO to 0 or 1",
                 "{\"type\":[\"array\",\"object\"],\"properties\":{\"pin\":{\"type\":\"integer\"},\"value\":{\"enum\":[0,1]}}}",
                 gpio_write_method);
  outpost_method("gpio.read", "Reads a GPIO",
                 "{\"type\":[\"array\",\"object\"],\"properties\":{\"pin\":{\"type\":\"integer\"}}}", gpio_read_method);
  outpost_method("sys.reboot", "Restarts the ESP32 after answering", NULL, sys_reboot_method);
}
