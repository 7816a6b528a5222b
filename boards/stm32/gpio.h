// GPIO ports A..I through the STM32 GPIO registers.
#ifndef OUTPOST_STM32_GPIO_H
#define OUTPOST_STM32_GPIO_H

#include <stdbool.h>
#include <stdint.h>

#define GPIO_PORTS 9u // A..I
#define GPIO_PINS 16u

typedef enum {
  GPIO_OK = 0,
  GPIO_NO_SUCH_PORT = -1, // port letter outside A..I
  GPIO_NO_SUCH_PIN = -2, // pin number outside 0..15
} gpio_status;

// Enables the port clocks and checks that the registers answer. QEMU's
// STM32F405 leaves GPIO unimplemented (reads 0, writes ignored); then the
// driver works on a register block in RAM instead, and gpio_backing() says so.
void gpio_init(void);
// "registers" on hardware, "ram (QEMU has no STM32F4 GPIO model)" otherwise.
const char *gpio_backing(void);

// Makes the pin a push-pull output (if it is not one) and drives it.
gpio_status gpio_write(unsigned port, unsigned pin, bool level);
// The level the pin is driven to if it is an output, its input level otherwise.
gpio_status gpio_read(unsigned port, unsigned pin, bool *level);
// Routes the pin to alternate function af (0..15), e.g. a USART.
gpio_status gpio_alternate(unsigned port, unsigned pin, unsigned af);

#endif
