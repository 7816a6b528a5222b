// outpost_transport over the USART1 byte pipe. The pipe has no carrier signal:
// QEMU (or the network co-processor on hardware) holds and redials the TCP
// connection. So open() reports success at once, close() only forgets stale
// input, and a dead connection shows up to the module as a keep-alive timeout;
// the CONNECT it then sends makes the broker drop any stale stream, and the
// next dial starts clean.
#include "transport.h"

#include <stdio.h>
#include <string.h>

#include "board.h"
#include "link.h"
#include "outpost_brokers.h"

static bool open_pending, dial_mode, dialing;
static uint32_t dial_started;
static char reply[16]; // the modem's answer line so far (longer lines are cut: only their start matters)
static size_t reply_len;

void stm32_link_dial(int on) { dial_mode = on; }

static int link_open(void *ctx, const char *host, uint16_t port) {
  (void)ctx;
  uint8_t stale[32];
  while (link_read(stale, sizeof stale)) {
  }
  if (!dial_mode) { // the far end is fixed by the pipe
    open_pending = true;
    return 0;
  }
  char command[OUTPOST_BROKER_HOST_MAX + 12];
  int n = snprintf(command, sizeof command, "ATD%s:%u\r", host, (unsigned)port);
  if (n <= 0 || (size_t)n >= sizeof command || link_write((const uint8_t *)command, (size_t)n) != (size_t)n) return -1;
  dialing = true;
  dial_started = board_millis();
  reply_len = 0;
  return 0;
}

// The modem's answer to ATD, a line at a time: OPENED, CLOSED, or 0 while it has not said. Reads byte by byte,
// so what follows CONNECT stays in the ring for the module.
static int dial_answer(void) {
  uint8_t c;
  while (link_read(&c, 1)) {
    if (c == '\r') continue; // lines end with \r\n: the \n ends one, so nothing of it is left for the module
    if (c != '\n') {
      if (reply_len < sizeof reply - 1) reply[reply_len++] = (char)c;
      continue;
    }
    reply[reply_len] = 0;
    reply_len = 0;
    if (strncmp(reply, "CONNECT", 7) == 0) return dialing = false, OUTPOST_NET_OPENED;
    if (!strcmp(reply, "NO CARRIER") || !strcmp(reply, "BUSY") || !strcmp(reply, "ERROR"))
      return dialing = false, OUTPOST_NET_CLOSED;
  }
  if (board_millis() - dial_started >= STM32_DIAL_TIMEOUT_MS) return dialing = false, OUTPOST_NET_CLOSED;
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
    if (dialing) {
      if ((events = dial_answer())) return events;
      if (board_millis() - start >= timeout_ms) return 0;
      board_idle();
      continue;
    }
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

static void link_close(void *ctx) { (void)ctx, open_pending = dialing = false; }

outpost_transport stm32_link_transport(void) {
  return (outpost_transport){NULL, link_open, link_wait, link_send, link_recv, link_close};
}
