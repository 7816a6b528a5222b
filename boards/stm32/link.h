// The byte pipe to the broker: USART1 with interrupt-driven ring buffers.
// Under QEMU `-serial` makes it a TCP connection; on hardware it is a UART to
// a network co-processor that holds the TCP connection.
#ifndef OUTPOST_STM32_LINK_H
#define OUTPOST_STM32_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_RX_BYTES 512u // power of two: ~44 ms of slack at 115200 baud
#define LINK_TX_BYTES 512u

typedef struct {
  uint32_t rx_bytes, tx_bytes;
  uint32_t rx_overruns; // hardware dropped a byte (ORE): the main loop fell behind
  uint32_t rx_pauses; // the ring filled and reception waited for the main loop
} link_counters;

void link_init(uint32_t pclk_hz, uint32_t baud);
// Copies up to cap received bytes; never blocks.
size_t link_read(uint8_t *dst, size_t cap);
// Queues up to len bytes for sending and returns how many fit; never blocks.
size_t link_write(const uint8_t *src, size_t len);
bool link_readable(void);
// Bytes waiting in the receive ring.
size_t link_rx_waiting(void);
bool link_tx_idle(void);
// Bytes link_write would take right now.
size_t link_tx_room(void);
link_counters link_counters_read(void);

// The debug channel (USART2, polled): log lines and newlib's stdout/stderr.
void debug_init(uint32_t pclk_hz, uint32_t baud);
void debug_write(const char *text, size_t len);

#endif
