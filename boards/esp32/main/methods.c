// This board's RPC methods, in C, through outpost_method (boards/common). Pins are
// ESP32 GPIO numbers; the params are those of boards/posix and boards/stm32.
#include "board.h"
#include "driver/gpio.h"
#include "outpost_gpio.h"

static volatile sig_atomic_t *stop_flag;
static uint64_t outputs; // pins gpio.write has configured

static int pin_valid(long pin) { return GPIO_IS_VALID_GPIO(pin); }

static int pin_write(long pin, int level, const char **why) {
  if (!GPIO_IS_VALID_OUTPUT_GPIO(pin)) {
    *why = "Invalid params: that pin cannot be an output";
    return OUTPOST_RPC_INVALID_PARAMS;
  }
  // The first write routes the pad to GPIO (gpio_config sets the IO MUX) with input
  // and output both on, so gpio.read sees the level the pin is driven to.
  if (!(outputs & (1ull << pin))) {
    gpio_config_t io = {.pin_bit_mask = 1ull << pin, .mode = GPIO_MODE_INPUT_OUTPUT};
    if (gpio_config(&io) != ESP_OK) {
      *why = "gpio_config failed";
      return -32000;
    }
    outputs |= 1ull << pin;
  }
  gpio_set_level((gpio_num_t)pin, (uint32_t)level);
  return 0;
}

static int pin_read(long pin) { return gpio_get_level((gpio_num_t)pin); }

static const outpost_gpio gpio = {
    .write_description = "Drives a GPIO to 0 or 1",
    .read_description = "Reads a GPIO",
    .write_schema = OUTPOST_GPIO_WRITE_SCHEMA("{\"type\":\"integer\"}"),
    .read_schema = OUTPOST_GPIO_READ_SCHEMA("{\"type\":\"integer\"}"),
    .pin_error = "Invalid params: pin must be a valid ESP32 GPIO number",
    .valid = pin_valid,
    .write = pin_write,
    .read = pin_read,
};

static void sys_reboot_method(outpost_call *call) {
  outpost_ok(call, "{\"rebooting\":true,\"how\":\"esp_restart\"}");
  if (stop_flag) *stop_flag = 1;
}

void esp32_methods(volatile sig_atomic_t *stop) {
  stop_flag = stop;
  outpost_gpio_methods(&gpio);
  outpost_method("sys.reboot", "Restarts the ESP32 after answering", NULL, sys_reboot_method);
}
