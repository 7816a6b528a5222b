// Broker URLs and the broker list transport (outpost_brokers.h).
#include "outpost_brokers.h"

#include <string.h>

const char *outpost_parse_url(const char *url, char *host, size_t host_cap, uint16_t *port, int *websocket, int *secure) {
  static const struct {
    const char *scheme;
    uint16_t port;
    uint8_t websocket, secure;
  } schemes[] = {{"mqtt://", 1883, 0, 0}, {"ws://", 80, 1, 0}, {"mqtts://", 8883, 0, 1}, {"wss://", 443, 1, 1}};
  size_t which = 0, count = sizeof schemes / sizeof schemes[0];
  while (which < count && strncmp(url, schemes[which].scheme, strlen(schemes[which].scheme))) which++;
  if (which == count) return NULL;
  *websocket = schemes[which].websocket;
  *secure = schemes[which].secure;
  const char *h = url + strlen(schemes[which].scheme);
  // host[:port], up to the path. By hand, not strtol/memchr: a board short of flash would link them for this alone.
  size_t host_len = 0;
  while (h[host_len] && h[host_len] != ':' && h[host_len] != '/') host_len++;
  if (host_len == 0 || host_len >= host_cap) return NULL;
  memcpy(host, h, host_len);
  host[host_len] = 0;
  *port = schemes[which].port;
  if (h[host_len] == ':') {
    const char *digit = h + host_len + 1;
    uint32_t p = 0;
    do {
      if (*digit < '0' || *digit > '9' || (p = p * 10 + (uint32_t)(*digit - '0')) > 65535) return NULL;
    } while (*++digit && *digit != '/');
    if (p == 0) return NULL;
    *port = (uint16_t)p;
  }
  return h;
}

int outpost_broker_list_add(outpost_broker_list *list, const char *url) {
  int websocket, secure;
  if (list->count >= OUTPOST_BROKERS_MAX) return -1;
  if (!outpost_parse_url(url, list->host[list->count], sizeof list->host[0], &list->port[list->count], &websocket, &secure) ||
      websocket || (list->count && secure != list->secure))
    return -1;
  list->secure = secure;
  list->count++;
  return 0;
}

static int list_open(void *ctx, const char *host, uint16_t port) {
  outpost_broker_list *l = ctx;
  (void)host, (void)port; // the list's, not the config's
  int i = l->next;
  l->next = (l->next + 1) % l->count;
  return l->inner.open(l->inner.ctx, l->host[i], l->port[i]);
}
static int list_wait(void *ctx, uint32_t timeout_ms, int want_write) {
  outpost_broker_list *l = ctx;
  return l->inner.wait(l->inner.ctx, timeout_ms, want_write);
}
static long list_send(void *ctx, const uint8_t *data, size_t len) {
  outpost_broker_list *l = ctx;
  return l->inner.send(l->inner.ctx, data, len);
}
static long list_recv(void *ctx, uint8_t *data, size_t cap) {
  outpost_broker_list *l = ctx;
  return l->inner.recv(l->inner.ctx, data, cap);
}
static void list_close(void *ctx) {
  outpost_broker_list *l = ctx;
  l->inner.close(l->inner.ctx);
}

outpost_transport outpost_broker_list_transport(outpost_broker_list *list, outpost_transport inner) {
  list->inner = inner;
  return (outpost_transport){list, list_open, list_wait, list_send, list_recv, list_close};
}
