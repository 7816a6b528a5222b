// USART1 as the broker pipe, USART2 as the debug channel.
#include "link.h"

#include "stm32f405.h"

#define RX_MASK (LINK_RX_BYTES - 1u)
#define TX_MASK (LINK_TX_BYTES - 1u)

// Single producer, single consumer: the ISR owns rx_head and tx_tail, the main
// loop owns rx_tail and tx_head. Indices run free and wrap in 32 bits.
static uint8_t rx_ring[LINK_RX_BYTES];
static uint8_t tx_ring[LINK_TX_BYTES];
static volatile uint32_t rx_head, rx_tail, tx_head, tx_tail;
static volatile link_counters counters;
static volatile bool rx_paused;

#define LINK_IRQ_PRIORITY 0x40 // above SysTick: a byte lasts 87 us at 115200 baud

static void usart_start(usart_regs *u, uint32_t pclk_hz, uint32_t baud, uint32_t cr1_extra) {
  u->CR1 = 0;
  // Oversampling by 16: BRR holds pclk/baud as 12.4 fixed point, which is the
  // same bits as the rounded integer quotient.
  u->BRR = (pclk_hz + baud / 2u) / baud;
  u->CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | cr1_extra;
}

void link_init(uint32_t pclk_hz, uint32_t baud) {
  RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
  usart_start(USART1, pclk_hz, baud, USART_CR1_RXNEIE);
  nvic_enable(USART1_IRQn, LINK_IRQ_PRIORITY);
}

// Moves queued bytes into the data register while it has room; the TX
// interrupt takes over for whatever is left. QEMU 7.2's USART accepts bytes
// at once and never raises a TX interrupt, so there the pump alone drains the
// ring. Runs with interrupts masked or in the ISR.
static void tx_pump(void) {
  while (tx_tail != tx_head && (USART1->SR & USART_SR_TXE)) {
    USART1->DR = tx_ring[tx_tail & TX_MASK];
    tx_tail++;
    counters.tx_bytes++;
  }
  if (tx_tail != tx_head) USART1->CR1 |= USART_CR1_TXEIE;
  else USART1->CR1 &= ~USART_CR1_TXEIE;
}

void USART1_IRQHandler(void) {
  uint32_t sr = USART1->SR;
  if (sr & (USART_SR_RXNE | USART_SR_ORE)) {
    if (rx_head - rx_tail < LINK_RX_BYTES) {
      rx_ring[rx_head & RX_MASK] = (uint8_t)USART1->DR; // reading DR also clears ORE
      rx_head++;
      counters.rx_bytes++;
      if (sr & USART_SR_ORE) counters.rx_overruns++;
    } else {
      // Ring full: mask the interrupt until link_read makes room (QEMU's USART
      // keeps its line raised until DR is read). QEMU then holds the bytes
      // back, no loss; real hardware overruns and counts it.
      nvic_disable(USART1_IRQn);
      rx_paused = true;
      counters.rx_pauses++;
    }
  }
  if ((USART1->CR1 & USART_CR1_TXEIE) && (sr & USART_SR_TXE)) tx_pump();
}

size_t link_read(uint8_t *dst, size_t cap) {
  uint32_t tail = rx_tail, avail = rx_head - tail;
  size_t n = avail < cap ? avail : cap;
  for (size_t i = 0; i < n; i++) dst[i] = rx_ring[(tail + i) & RX_MASK];
  rx_tail = tail + n;
  if (n && rx_paused) {
    rx_paused = false;
    nvic_enable(USART1_IRQn, LINK_IRQ_PRIORITY);
  }
  return n;
}

size_t link_write(const uint8_t *src, size_t len) {
  uint32_t head = tx_head, room = LINK_TX_BYTES - (head - tx_tail);
  size_t n = len < room ? len : room;
  for (size_t i = 0; i < n; i++) tx_ring[(head + i) & TX_MASK] = src[i];
  tx_head = head + n;
  if (n) {
    irq_disable();
    tx_pump();
    irq_enable();
  }
  return n;
}

bool link_readable(void) { return rx_head != rx_tail; }
size_t link_rx_waiting(void) { return rx_head - rx_tail; }
bool link_tx_idle(void) { return tx_head == tx_tail; }
size_t link_tx_room(void) { return LINK_TX_BYTES - (tx_head - tx_tail); }

link_counters link_counters_read(void) {
  irq_disable();
  link_counters c = counters;
  irq_enable();
  return c;
}

void debug_init(uint32_t pclk_hz, uint32_t baud) {
  RCC_APB1ENR |= RCC_APB1ENR_USART2EN;
  usart_start(USART2, pclk_hz, baud, 0);
}

void debug_write(const char *text, size_t len) {
  for (size_t i = 0; i < len; i++) {
    while (!(USART2->SR & USART_SR_TXE)) {
    }
    USART2->DR = (uint8_t)text[i];
  }
}
