// What mbedTLS adds to the STM32 board, measured by linking this twice (arm-none-eabi, --gc-sections): with
// OUTPOST_PROBE_TLS, the shim (boards/common/net_mbedtls.c) set up over a transport and used; without, the same
// transport alone. The difference is mbedTLS's flash and static RAM; its heap is counted at run time on a chip.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "outpost_transport.h"
#ifdef OUTPOST_PROBE_TLS
#include "net_mbedtls.h"
#endif

static int t_open(void *c, const char *h, uint16_t p) { return 0; }
static int t_wait(void *c, uint32_t ms, int w) { return 0; }
static long t_send(void *c, const uint8_t *d, size_t n) { return (long)n; }
static long t_recv(void *c, uint8_t *d, size_t n) { return 0; }
static void t_close(void *c) {}

// The chip's RNG (the board would read RNG->DR); here only its shape.
int mbedtls_hardware_poll(void *data, unsigned char *out, size_t len, size_t *olen) {
  memset(out, 0x5a, len);
  *olen = len;
  return 0;
}

extern const char probe_pem[];
volatile outpost_transport sink;

int main(void) {
  outpost_transport tcp = {0, t_open, t_wait, t_send, t_recv, t_close};
#ifdef OUTPOST_PROBE_TLS
  static outpost_net_mbedtls tls;
  size_t n = strlen(probe_pem) + 1; // linked-in text with its NUL: parsed in place
  outpost_tls_config config = {probe_pem, n, probe_pem, n, probe_pem, n, "backend", 0};
  if (outpost_net_mbedtls_init(&tls, tcp, &config)) return 1;
  tcp = outpost_net_mbedtls_transport(&tls);
#endif
  uint8_t buf[64];
  tcp.open(tcp.ctx, "backend", 8883);
  tcp.wait(tcp.ctx, 10, 1);
  tcp.send(tcp.ctx, buf, sizeof buf);
  tcp.recv(tcp.ctx, buf, sizeof buf);
  tcp.close(tcp.ctx);
  sink = tcp;
  return 0;
}

const char probe_pem[] = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
