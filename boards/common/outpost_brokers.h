// Broker URLs, and several of them as one transport: each connection attempt goes to the next broker of the list,
// so a device whose node died comes back through another, with the module's own backoff between attempts. The
// list sits above whatever the board's transport is (TCP, TLS over TCP, a UART to a modem that dials).
#ifndef OUTPOST_BROKERS_H
#define OUTPOST_BROKERS_H

#include <stddef.h>
#include <stdint.h>

#include "outpost_transport.h"

#ifndef OUTPOST_BROKERS_MAX
#define OUTPOST_BROKERS_MAX 8
#endif
#ifndef OUTPOST_BROKER_HOST_MAX
#define OUTPOST_BROKER_HOST_MAX 256 // with its NUL
#endif

// mqtt://host[:port] (1883), ws://host[:port]/path (80), mqtts:// (8883) or wss:// (443): whether the board has TLS
// is its own business. Sets *websocket for ws:// and wss://, *secure for mqtts:// and wss://; returns the text after
// the scheme, or NULL for a URL that is none of these (or whose host does not fit host_cap).
const char *outpost_parse_url(const char *url, char *host, size_t host_cap, uint16_t *port, int *websocket, int *secure);

typedef struct outpost_broker_list {
  outpost_transport inner;
  char host[OUTPOST_BROKERS_MAX][OUTPOST_BROKER_HOST_MAX];
  uint16_t port[OUTPOST_BROKERS_MAX];
  int count, next, secure;
} outpost_broker_list;

// Adds an mqtt:// or mqtts:// URL (every URL of a list alike). 0, or -1 for a URL of another kind, one unlike those
// before it, or one past OUTPOST_BROKERS_MAX.
int outpost_broker_list_add(outpost_broker_list *list, const char *url);

// The transport over `inner` that opens the list's brokers in turn (host and port given to open() are ignored).
outpost_transport outpost_broker_list_transport(outpost_broker_list *list, outpost_transport inner);

#endif
