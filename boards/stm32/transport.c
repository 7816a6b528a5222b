// outpost_transport over the USART1 byte pipe. The pipe has no carrier signal:
// QEMU (or the network co-processor on hardware) holds and redials the TCP
// connection. So open() reports success at once, close() only forgets stale
// input, and a dead connection shows up to the module as a keep-alive timeout;
// the CONNECT it then sends makes the broker drop any stale stream, and the
// next dial starts clean.
#include "transport.h"

#include "board.h"
#include "link.h"

static bool open_pending;

static int link_open(void *ctx, const char *host, uint16_t port) {
  (void)ctx, (void)host, (void)port; // the far end is fixed by the pipe
  uint8_t stale[32];
  while (link_read(stale, sizeof stale)) {
  }
  open_pending = true;
  return 0;
}

// Lets a burst of bytes finish arriving before the module sees it: sleeps until
// a wake-up brings no new byte (the next SysTick at the latest, so at most 1 ms
// after the line goes quiet) or the ring is half full. The module then gets a
// packet in one call instead of one call per byte.
static void gather_burst(void) {
  size_t seen = link_rx_waiting();
  while (seen < LINK_RX_BYTES / 2) {
    board_idle_until_interrupt();
    size_t now = link_rx_waiting();
    if (now == seen) return;
    seen = now;
  }
}

static int link_wait(void *ctx, uint32_t timeout_ms, int want_write) {
  (void)ctx;
  uint32_t start = board_millis();
  for (;;) {
    int events = 0;
    if (open_pending) {
      open_pending = false;
      events |= OUTPOST_NET_OPENED;
    }
    if (link_readable()) {
      gather_burst();
      events |= OUTPOST_NET_READABLE;
    }
    if (want_write && link_tx_room()) events |= OUTPOST_NET_WRITABLE;
    if (events || board_millis() - start >= timeout_ms) return events;
    board_idle();
  }
}

static long link_send(void *ctx, const uint8_t *data, size_t len) {
  (void)ctx;
  return (long)link_write(data, len);
}

static long link_recv(void *ctx, uint8_t *data, size_t cap) {
  (void)ctx;
  return (long)link_read(data, cap);
}

static void link_close(void *ctx) { (void)ctx, open_pending = false; }

outpost_transport stm32_link_transport(void) {
  return (outpost_transport){NULL, link_open, link_wait, link_send, link_recv, link_close};
}
