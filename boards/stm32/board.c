// Clock, SysTick, exit/reset and memory accounting for the STM32F405.
#include <signal.h>

#include "board.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "gpio.h"
#include "link.h"
#include "stm32f405.h"

#ifndef HSE_HZ
#define HSE_HZ 25000000u // the Netduino Plus 2 crystal
#endif
#define HSI_HZ 16000000u
#define PLL_HZ 168000000u
#define QEMU_SYSCLK_HZ 168000000u // fixed by QEMU's netduinoplus2 machine
#define LINK_BAUD 115200u
#define DEBUG_BAUD 115200u
#define STACK_PAINT 0xC0DEC0DEu

extern uint32_t _sdata[], _ebss[], _stack_bottom[], _estack[];
extern uint8_t _heap_start[], _heap_end[];

static bool emulated;
static uint32_t cpu_hz, apb1_hz, apb2_hz;
static volatile uint32_t millis;
static uint32_t ns_per_tick_q16;

bool board_emulated(void) { return emulated; }
const char *board_name(void) { return emulated ? "netduinoplus2 (QEMU)" : "STM32F405"; }
uint32_t board_cpu_hz(void) { return cpu_hz; }
uint32_t board_millis(void) { return millis; }

// One alarm (the OTA confirm window): at alarm_at both flags are set, which ends outpost_run.
static volatile uint32_t alarm_at;
static volatile sig_atomic_t *volatile alarm_stop, *volatile alarm_fired;

void board_set_alarm(uint32_t at_ms, volatile sig_atomic_t *stop, volatile sig_atomic_t *fired) {
  alarm_stop = NULL;
  alarm_at = at_ms;
  alarm_fired = fired;
  alarm_stop = stop;
}

void SysTick_Handler(void) {
  millis++;
  if (alarm_stop && (int32_t)(millis - alarm_at) >= 0) {
    *alarm_fired = 1;
    *alarm_stop = 1;
    alarm_stop = NULL;
  }
}

static bool wait_for(volatile uint32_t *reg, uint32_t mask, uint32_t value) {
  for (uint32_t spins = 0; spins < 1000000u; spins++)
    if ((*reg & mask) == value) return true;
  return false;
}

// Hardware only: HSE -> PLL -> 168 MHz, APB1 42 MHz, APB2 84 MHz. Without a
// working crystal the part stays on HSI at 16 MHz.
static void clock_init_hardware(void) {
  cpu_hz = apb1_hz = apb2_hz = HSI_HZ;
  RCC_CR |= RCC_CR_HSEON;
  if (!wait_for(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) return;
  FLASH_ACR = 1u << 8 | 1u << 9 | 1u << 10 | 5u; // prefetch, caches, 5 wait states at 3.3 V
  const uint32_t m = HSE_HZ / 1000000u, n = 336u, p = 2u, q = 7u; // VCO 336 MHz, USB 48 MHz
  RCC_PLLCFGR = m | n << 6 | (p / 2u - 1u) << 16 | 1u << 22 | q << 24;
  RCC_CR |= RCC_CR_PLLON;
  if (!wait_for(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) return;
  RCC_CFGR = 5u << 10 | 4u << 13 | RCC_CFGR_SW_PLL; // AHB /1, APB1 /4, APB2 /2, then PLL
  if (!wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL)) {
    RCC_CFGR = 0; // stay on HSI with undivided buses, as the baud rates assume
    return;
  }
  cpu_hz = PLL_HZ;
  apb1_hz = PLL_HZ / 4u;
  apb2_hz = PLL_HZ / 2u;
}

void board_init(void) {
  // After reset the real RCC_CR has HSION/HSIRDY set; QEMU's unmodelled RCC reads 0.
  emulated = (RCC_CR & RCC_CR_HSION) == 0;
  if (emulated) {
    cpu_hz = apb1_hz = apb2_hz = QEMU_SYSCLK_HZ; // never wait on clock-ready flags here
  } else {
    clock_init_hardware();
  }
  SCB_SHPR3 = (SCB_SHPR3 & 0x00FFFFFFu) | 0x80u << 24; // SysTick below the USART
  SYST_RVR = cpu_hz / 1000u - 1u;
  ns_per_tick_q16 = (uint32_t)((1000000000ull << 16) / cpu_hz);
  SYST_CVR = 0;
  SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CPU;

  gpio_init();
  gpio_alternate(0, 2, 7); // PA2 USART2_TX
  gpio_alternate(0, 3, 7); // PA3 USART2_RX
  gpio_alternate(0, 9, 7); // PA9 USART1_TX
  gpio_alternate(0, 10, 7); // PA10 USART1_RX
  debug_init(apb1_hz, DEBUG_BAUD);
  link_init(apb2_hz, LINK_BAUD);
  irq_enable();
}

// Time since boot in ns, from the tick count and SysTick's current value.
// Under QEMU -icount the clock follows the instruction count, so busy time
// (everything but the sleeps below) counts executed instructions.
uint64_t board_nanos(void) {
  uint32_t ms, left;
  do {
    ms = millis;
    left = SYST_CVR;
  } while (ms != millis);
  // Ticks elapsed in this millisecond, times ns per tick in 16.16 fixed point:
  // a multiply, not a 64-bit division, so measuring stays cheap.
  return (uint64_t)ms * 1000000u + (((uint64_t)(SYST_RVR - left) * ns_per_tick_q16) >> 16);
}

static uint64_t idle_nanos;

uint64_t board_busy_nanos(void) { return board_nanos() - idle_nanos; }

static void sleep_counted(bool unless_readable) {
  uint64_t start = board_nanos();
  irq_disable();
  if (!unless_readable || !link_readable()) wait_for_interrupt(); // SysTick or a received byte
  irq_enable();
  uint64_t end = board_nanos();
  if (end > start) idle_nanos += end - start; // a tick read mid-wrap must not count backwards
}

void board_idle(void) { sleep_counted(true); }
void board_idle_until_interrupt(void) { sleep_counted(false); }

// ARM semihosting (QEMU -semihosting-config enable=on).
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
static int semihost(int op, void *arg) {
  register int r0 __asm("r0") = op;
  register void *r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static bool in_thread_mode(void) {
  uint32_t ipsr, primask;
  __asm volatile("mrs %0, ipsr\n mrs %1, primask" : "=r"(ipsr), "=r"(primask));
  return (ipsr & 0x1FFu) == 0 && primask == 0;
}

// Set by board_power_cut, read at the next start: in .noinit (stm32f405.ld), which a reset leaves alone.
#define POWER_CUT_MAGIC 0x50435554u
static uint32_t power_cut_marker __attribute__((section(".noinit")));

_Noreturn void board_power_cut(const char *step) {
  static const char text[] = "power cut at ";
  debug_write(text, sizeof text - 1);
  debug_write(step, strlen(step));
  debug_write("\n", 1);
  while (!link_tx_idle()) { // the stream ends on a packet boundary, so the DISCONNECT after the reset is one
  }
  power_cut_marker = POWER_CUT_MAGIC;
  __asm volatile("dsb");
  SCB_AIRCR = SCB_AIRCR_RESET;
  for (;;) {
  }
}

int board_after_power_cut(void) {
  if (!emulated || power_cut_marker != POWER_CUT_MAGIC) return 0;
  power_cut_marker = 0;
  static const uint8_t disconnect[2] = {0xE0, 0x00};
  link_write(disconnect, sizeof disconnect);
  for (uint32_t t0 = millis; millis - t0 < 1500u;) board_idle_until_interrupt(); // QEMU redials within 1 s
  uint8_t stale[32];
  while (link_read(stale, sizeof stale)) {
  }
  return 1;
}

_Noreturn void board_exit(int code) {
  // Let the last reply leave; the TX interrupt can only run from thread mode.
  if (in_thread_mode()) {
    while (!link_tx_idle()) {
    }
  }
  if (emulated) {
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
  }
  SCB_AIRCR = SCB_AIRCR_RESET;
  for (;;) {
  }
}

size_t board_command_line(char *out, size_t cap) {
  out[0] = 0;
  if (!emulated || cap < 2) return 0; // without a debugger, BKPT would fault
  struct {
    char *buf;
    uint32_t len;
  } block = {out, cap - 1};
  if (semihost(SYS_GET_CMDLINE, &block) != 0) return out[0] = 0, 0;
  out[block.len] = 0;
  return block.len;
}

_Noreturn void board_reboot(void) { board_exit(0); }

_Noreturn void board_fatal(const char *what, uint32_t detail) {
  char line[96];
  int n = snprintf(line, sizeof line, "FATAL %s 0x%08lx\n", what, (unsigned long)detail);
  debug_write(line, n > 0 ? (size_t)n : 0u);
  board_exit(1);
}

// Heap: the program break moves up from the end of .bss; the highest it ever
// reached is the heap high-water.
static uint8_t *brk = _heap_start;
static uint8_t *brk_high = _heap_start;

void *board_sbrk(ptrdiff_t increment) {
  uint8_t *old = brk;
  if (increment > _heap_end - brk || increment < _heap_start - brk) return (void *)-1;
  brk += increment;
  if (brk > brk_high) brk_high = brk;
  return old;
}

void board_paint_stack(void) {
  uint32_t *sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t *w = _stack_bottom; w < sp - 16; w++) *w = STACK_PAINT;
}

void board_memory_read(board_memory *out) {
  uint32_t *w = _stack_bottom;
  while (w < _estack && *w == STACK_PAINT) w++;
  struct mallinfo mi = mallinfo();
  out->static_bytes = (uint32_t)((uintptr_t)_ebss - (uintptr_t)_sdata);
  out->heap_high_water = (uint32_t)(brk_high - _heap_start);
  out->heap_in_use = (uint32_t)mi.uordblks;
  out->heap_limit = (uint32_t)(_heap_end - _heap_start);
  out->stack_high_water = (uint32_t)((uintptr_t)_estack - (uintptr_t)w);
  out->stack_size = (uint32_t)((uintptr_t)_estack - (uintptr_t)_stack_bottom);
}
