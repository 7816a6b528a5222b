// The byte pipe a board gives the runtime: a TCP connection (net_bsd.c: POSIX,
// ESP-IDF/lwIP) or a UART to a network co-processor. Everything above it is the
// module's business; the runtime only moves bytes and reports open/close.
#ifndef OUTPOST_TRANSPORT_H
#define OUTPOST_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

// What outpost_transport.wait reports.
enum {
  OUTPOST_NET_OPENED = 1, // a connect started by open() completed
  OUTPOST_NET_READABLE = 2, // recv() has bytes (or will report the close)
  OUTPOST_NET_WRITABLE = 4, // send() can take more
  OUTPOST_NET_CLOSED = 8, // the peer closed or the connect failed
};

typedef struct outpost_transport {
  void *ctx;
  // Starts connecting to host:port without blocking. 0, or < 0 if it cannot even start.
  int (*open)(void *ctx, const char *host, uint16_t port);
  // Waits at most timeout_ms for an event; returns OUTPOST_NET_* flags (0 on timeout).
  // want_write asks for WRITABLE as well.
  int (*wait)(void *ctx, uint32_t timeout_ms, int want_write);
  // Bytes moved (0: would block), or < 0 when the connection is gone.
  long (*send)(void *ctx, const uint8_t *data, size_t len);
  long (*recv)(void *ctx, uint8_t *data, size_t cap);
  void (*close)(void *ctx);
} outpost_transport;

#endif
