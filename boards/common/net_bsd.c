#include "net_bsd.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 // lwIP has no SIGPIPE to suppress
#endif

static void net_close(void *ctx) {
  outpost_net_bsd *net = ctx;
  if (net->fd >= 0) close(net->fd);
  net->fd = -1;
  net->connecting = 0;
}

static int net_open(void *ctx, const char *host, uint16_t port) {
  outpost_net_bsd *net = ctx;
  net_close(net);
  char service[8];
  snprintf(service, sizeof service, "%u", (unsigned)port);
  struct addrinfo hints, *found = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, service, &hints, &found) != 0 || !found) return -1;
  int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd < 0) {
    freeaddrinfo(found);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  int one = 1; // MQTT packets are small and latency matters more than batching
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (rc < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  net->fd = fd;
  net->connecting = 1;
  return 0;
}

static int net_wait(void *ctx, uint32_t timeout_ms, int want_write) {
  outpost_net_bsd *net = ctx;
  struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
  if (net->fd < 0) {
    select(0, NULL, NULL, NULL, &tv); // nothing to watch: just sleep
    return 0;
  }
  fd_set readable, writable;
  FD_ZERO(&readable);
  FD_ZERO(&writable);
  if (!net->connecting) FD_SET(net->fd, &readable);
  if (want_write || net->connecting) FD_SET(net->fd, &writable);
  int n = select(net->fd + 1, &readable, &writable, NULL, &tv);
  if (n <= 0) return 0;
  int events = 0;
  if (net->connecting && FD_ISSET(net->fd, &writable)) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(net->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    net->connecting = 0;
    if (error) {
      net_close(net);
      return OUTPOST_NET_CLOSED;
    }
    events |= OUTPOST_NET_OPENED;
  }
  if (FD_ISSET(net->fd, &readable)) events |= OUTPOST_NET_READABLE;
  if (!net->connecting && FD_ISSET(net->fd, &writable)) events |= OUTPOST_NET_WRITABLE;
  return events;
}

static long net_send(void *ctx, const uint8_t *data, size_t len) {
  outpost_net_bsd *net = ctx;
  if (net->fd < 0) return -1;
  if (net->connecting) return 0;
  ssize_t n = send(net->fd, data, len, MSG_NOSIGNAL);
  if (n >= 0) return (long)n;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

static long net_recv(void *ctx, uint8_t *data, size_t cap) {
  outpost_net_bsd *net = ctx;
  if (net->fd < 0) return -1;
  if (net->connecting) return 0;
  ssize_t n = recv(net->fd, data, cap, 0);
  if (n > 0) return (long)n;
  if (n == 0) return -1; // orderly close by the peer
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

outpost_transport outpost_net_bsd_transport(outpost_net_bsd *net) {
  net->fd = -1;
  net->connecting = 0;
  outpost_transport t = {net, net_open, net_wait, net_send, net_recv, net_close};
  return t;
}
