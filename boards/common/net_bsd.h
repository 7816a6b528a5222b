// Non-blocking TCP over BSD sockets, as an outpost_transport. POSIX and ESP-IDF (lwIP).
#ifndef OUTPOST_NET_BSD_H
#define OUTPOST_NET_BSD_H

#include "outpost_transport.h"

typedef struct {
  int fd;
  int connecting; // connect() in progress: the next writability means opened or failed
} outpost_net_bsd;

// A transport over `net` (no connection yet).
outpost_transport outpost_net_bsd_transport(outpost_net_bsd *net);

#endif
