// TLS over any outpost_transport (net_bsd.c on POSIX and ESP-IDF/lwIP) through mbedTLS (2.28; 3.x for ESP-IDF 5), as an
// outpost_transport itself: the runtime above sees the same open/wait/send/recv/close, and OPENED only once the
// handshake has verified the server. ESP-IDF's esp-tls is built on mbedTLS, so boards/esp32 uses this file as is.
// Certificates come as PEM buffers (a POSIX board reads files; an MCU links them in). All of mbedTLS's memory
// is taken once in outpost_net_mbedtls_init (its record buffers included), none per message.
#ifndef OUTPOST_NET_MBEDTLS_H
#define OUTPOST_NET_MBEDTLS_H

#include "outpost_transport.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

typedef struct {
  // PEM text, each with its length (a terminating NUL is not needed; text that ends in one, counted, is parsed in place). ca is
  // required; cert and key go together (a client certificate: the device logs in with it instead of a password).
  const char *ca_pem;
  size_t ca_len;
  const char *cert_pem;
  size_t cert_len;
  const char *key_pem;
  size_t key_len;
  // The name the server's certificate must carry (default: the host open() is given).
  const char *server_name;
  // Told why a connection failed (a refused certificate, a handshake error), once per failure.
  void (*log)(const char *line);
} outpost_tls_config;

typedef struct {
  outpost_transport inner; // the TCP connection below
  int state;
  int want_write; // the handshake or a write waits for the socket to take bytes
  char host[256];
  const char *server_name;
  void (*log)(const char *line);
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca, cert;
  mbedtls_pk_context key;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
} outpost_net_mbedtls;

// Parses the certificates and sets up mbedTLS over `inner`. 0, or < 0 with the reason logged.
int outpost_net_mbedtls_init(outpost_net_mbedtls *tls, outpost_transport inner, const outpost_tls_config *config);
// A transport over `tls` (after init).
outpost_transport outpost_net_mbedtls_transport(outpost_net_mbedtls *tls);
void outpost_net_mbedtls_free(outpost_net_mbedtls *tls);

#endif
