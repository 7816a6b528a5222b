// GPIO driver: the same register accesses whether the block is the real
// peripheral or QEMU's stand-in in RAM.
#include "gpio.h"

#include "stm32f405.h"

#define MODE_OUTPUT 1u
#define MODE_ALTERNATE 2u

static gpio_regs ram_ports[GPIO_PORTS];
static bool registers_answer;

static gpio_regs *port_regs(unsigned port) { return registers_answer ? GPIO_PORT(port) : &ram_ports[port]; }

void gpio_init(void) {
  RCC_AHB1ENR |= (1u << GPIO_PORTS) - 1u;
  // Probe with a register that changes nothing on the pins: port I's speed.
  gpio_regs *probe = GPIO_PORT(GPIO_PORTS - 1u);
  uint32_t saved = probe->OSPEEDR;
  probe->OSPEEDR = saved ^ 0x5A5A5A5Au;
  registers_answer = probe->OSPEEDR == (saved ^ 0x5A5A5A5Au);
  probe->OSPEEDR = saved;
}

const char *gpio_backing(void) { return registers_answer ? "registers" : "ram (QEMU has no STM32F4 GPIO model)"; }

static gpio_status check(unsigned port, unsigned pin) {
  if (port >= GPIO_PORTS) return GPIO_NO_SUCH_PORT;
  if (pin >= GPIO_PINS) return GPIO_NO_SUCH_PIN;
  return GPIO_OK;
}

static void set_mode(gpio_regs *p, unsigned pin, uint32_t mode) {
  uint32_t shift = 2u * pin;
  if (((p->MODER >> shift) & 3u) != mode) p->MODER = (p->MODER & ~(3u << shift)) | (mode << shift);
}

gpio_status gpio_write(unsigned port, unsigned pin, bool level) {
  gpio_status s = check(port, pin);
  if (s != GPIO_OK) return s;
  gpio_regs *p = port_regs(port);
  // Set the latch before the mode so the pin never glitches to the old level.
  // ODR read-modify-write (not BSRR) so the RAM stand-in behaves like the part.
  uint32_t bit = 1u << pin;
  p->ODR = level ? (p->ODR | bit) : (p->ODR & ~bit);
  p->OTYPER &= ~bit;
  set_mode(p, pin, MODE_OUTPUT);
  return GPIO_OK;
}

gpio_status gpio_read(unsigned port, unsigned pin, bool *level) {
  gpio_status s = check(port, pin);
  if (s != GPIO_OK) return s;
  gpio_regs *p = port_regs(port);
  bool output = ((p->MODER >> (2u * pin)) & 3u) == MODE_OUTPUT;
  *level = (((output ? p->ODR : p->IDR) >> pin) & 1u) != 0;
  return GPIO_OK;
}

gpio_status gpio_alternate(unsigned port, unsigned pin, unsigned af) {
  gpio_status s = check(port, pin);
  if (s != GPIO_OK) return s;
  gpio_regs *p = port_regs(port);
  volatile uint32_t *afr = &p->AFR[pin >> 3];
  uint32_t shift = 4u * (pin & 7u);
  *afr = (*afr & ~(0xFu << shift)) | ((af & 0xFu) << shift);
  set_mode(p, pin, MODE_ALTERNATE);
  return GPIO_OK;
}
