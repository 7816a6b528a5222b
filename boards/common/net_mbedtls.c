#include "net_mbedtls.h"

#include <mbedtls/error.h>
#include <mbedtls/version.h> // MBEDTLS_VERSION_MAJOR: 2.28 (Debian, the STM32 sizing) or 3 (ESP-IDF 5)
#if MBEDTLS_VERSION_MAJOR >= 3
#include <psa/crypto.h>
#endif
#include <mbedtls/net_sockets.h> // MBEDTLS_ERR_NET_CONN_RESET only: the sockets are the transport's
#include <stdio.h>
#include <string.h>

enum { TLS_IDLE, TLS_CONNECTING, TLS_HANDSHAKE, TLS_OPEN };

static void tls_log(outpost_net_mbedtls *tls, const char *what, int rc) {
  if (!tls->log) return;
  char reason[160], line[320];
  mbedtls_strerror(rc, reason, sizeof reason);
  snprintf(line, sizeof line, "tls: %s: %s (-0x%04x)", what, reason, (unsigned)-rc);
  tls->log(line);
}

// The BIO callbacks: mbedTLS moves its records through the transport below.
static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
  outpost_net_mbedtls *tls = ctx;
  long n = tls->inner.send(tls->inner.ctx, buf, len);
  return n > 0 ? (int)n : n == 0 ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_CONN_RESET;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len) {
  outpost_net_mbedtls *tls = ctx;
  long n = tls->inner.recv(tls->inner.ctx, buf, len);
  return n > 0 ? (int)n : n == 0 ? MBEDTLS_ERR_SSL_WANT_READ : 0; // 0: the peer closed
}

static void tls_close(void *ctx) {
  outpost_net_mbedtls *tls = ctx;
  if (tls->state == TLS_OPEN) mbedtls_ssl_close_notify(&tls->ssl); // best effort: the socket may be full
  tls->inner.close(tls->inner.ctx);
  mbedtls_ssl_session_reset(&tls->ssl);
  tls->state = TLS_IDLE;
  tls->want_write = 0;
}

static int tls_open(void *ctx, const char *host, uint16_t port) {
  outpost_net_mbedtls *tls = ctx;
  tls_close(tls);
  snprintf(tls->host, sizeof tls->host, "%s", host);
  int rc = mbedtls_ssl_set_hostname(&tls->ssl, tls->server_name ? tls->server_name : tls->host);
  if (rc) {
    tls_log(tls, "server name", rc);
    return -1;
  }
  if (tls->inner.open(tls->inner.ctx, host, port) < 0) return -1;
  tls->state = TLS_CONNECTING;
  return 0;
}

// One handshake step: OPENED when done, CLOSED (reason logged) when refused, else 0 (it waits for the socket).
static int handshake_step(outpost_net_mbedtls *tls) {
  int rc = mbedtls_ssl_handshake(&tls->ssl);
  if (rc == 0) {
    tls->state = TLS_OPEN;
    tls->want_write = 0;
    return OUTPOST_NET_OPENED;
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
    tls->want_write = rc == MBEDTLS_ERR_SSL_WANT_WRITE;
    return 0;
  }
  uint32_t flags = mbedtls_ssl_get_verify_result(&tls->ssl);
  if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags && tls->log) {
    char info[256], line[320];
    mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
    info[strcspn(info, "\n")] = 0;
    snprintf(line, sizeof line, "tls: the server's certificate is refused: %s", info);
    tls->log(line);
  } else {
    tls_log(tls, "handshake failed", rc);
  }
  tls_close(tls);
  return OUTPOST_NET_CLOSED;
}

static int tls_wait(void *ctx, uint32_t timeout_ms, int want_write) {
  outpost_net_mbedtls *tls = ctx;
  // Records already decrypted (or read) wait in mbedTLS, not in the socket: readable now.
  if (tls->state == TLS_OPEN && mbedtls_ssl_get_bytes_avail(&tls->ssl) > 0)
    return OUTPOST_NET_READABLE | (want_write ? OUTPOST_NET_WRITABLE : 0);
  int events = tls->inner.wait(tls->inner.ctx, timeout_ms, want_write || tls->want_write);
  if (events & OUTPOST_NET_CLOSED) {
    tls->state = TLS_IDLE;
    mbedtls_ssl_session_reset(&tls->ssl);
    return OUTPOST_NET_CLOSED;
  }
  if (tls->state == TLS_CONNECTING) {
    if (!(events & OUTPOST_NET_OPENED)) return 0;
    tls->state = TLS_HANDSHAKE;
    return handshake_step(tls);
  }
  if (tls->state == TLS_HANDSHAKE) return events ? handshake_step(tls) : 0;
  return events & ~OUTPOST_NET_OPENED;
}

static long tls_send(void *ctx, const uint8_t *data, size_t len) {
  outpost_net_mbedtls *tls = ctx;
  if (tls->state == TLS_IDLE) return -1;
  if (tls->state != TLS_OPEN) return 0;
  int rc = mbedtls_ssl_write(&tls->ssl, data, len);
  if (rc >= 0) return rc;
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
  tls_log(tls, "write", rc);
  return -1;
}

static long tls_recv(void *ctx, uint8_t *data, size_t cap) {
  outpost_net_mbedtls *tls = ctx;
  if (tls->state == TLS_IDLE) return -1;
  if (tls->state != TLS_OPEN) return 0;
  int rc = mbedtls_ssl_read(&tls->ssl, data, cap);
  if (rc > 0) return rc;
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
  if (rc != 0 && rc != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) tls_log(tls, "read", rc);
  return -1; // closed, cleanly or not
}

// PEM parsers want the text NUL-terminated with the NUL counted. Text that ends in its NUL (an MCU's linked-in
// string, length with the NUL) is parsed in place; other text is copied once, at init, into a bounded buffer.
#ifndef OUTPOST_TLS_PEM_MAX
#define OUTPOST_TLS_PEM_MAX 4096 // one PEM file: a CA certificate (or a short chain), a certificate, a key
#endif
static int parse_pem(outpost_net_mbedtls *tls, const char *pem, size_t len, const char *what,
                     int (*parse)(void *, const unsigned char *, size_t), void *into) {
  if (len > 0 && pem[len - 1] == 0) {
    int rc = parse(into, (const unsigned char *)pem, len);
    if (rc) tls_log(tls, what, rc);
    return rc ? -1 : 0;
  }
  static unsigned char buf[OUTPOST_TLS_PEM_MAX];
  if (len >= sizeof buf) {
    if (tls->log) tls->log("tls: a PEM file is larger than OUTPOST_TLS_PEM_MAX (4096 bytes by default)");
    return -1;
  }
  memcpy(buf, pem, len);
  buf[len] = 0;
  int rc = parse(into, buf, len + 1);
  memset(buf, 0, len); // the key's bytes do not stay behind
  if (rc) tls_log(tls, what, rc);
  return rc ? -1 : 0;
}
static int parse_crt(void *crt, const unsigned char *buf, size_t len) { return mbedtls_x509_crt_parse(crt, buf, len); }
// mbedTLS 3 (ESP-IDF 5) takes a random generator for the key's blinding; 2.28 (Debian) does not.
static mbedtls_ctr_drbg_context *key_drbg;
static int parse_key(void *pk, const unsigned char *buf, size_t len) {
#if MBEDTLS_VERSION_MAJOR >= 3
  return mbedtls_pk_parse_key(pk, buf, len, NULL, 0, mbedtls_ctr_drbg_random, key_drbg);
#else
  (void)key_drbg;
  return mbedtls_pk_parse_key(pk, buf, len, NULL, 0);
#endif
}

int outpost_net_mbedtls_init(outpost_net_mbedtls *tls, outpost_transport inner, const outpost_tls_config *config) {
  memset(tls, 0, sizeof *tls);
  tls->inner = inner;
  tls->server_name = config->server_name;
  tls->log = config->log;
  mbedtls_ssl_init(&tls->ssl);
  mbedtls_ssl_config_init(&tls->conf);
  mbedtls_x509_crt_init(&tls->ca);
  mbedtls_x509_crt_init(&tls->cert);
  mbedtls_pk_init(&tls->key);
  mbedtls_entropy_init(&tls->entropy);
  mbedtls_ctr_drbg_init(&tls->drbg);
#if MBEDTLS_VERSION_MAJOR >= 3 && (defined(MBEDTLS_USE_PSA_CRYPTO) || defined(MBEDTLS_SSL_PROTO_TLS1_3))
  if (psa_crypto_init() != PSA_SUCCESS) { // mbedTLS 3's TLS 1.3 and PSA builds need it before any handshake
    if (tls->log) tls->log("tls: psa_crypto_init failed");
    return -1;
  }
#endif
  static const char personal[] = "outpost-device";
  int rc = mbedtls_ctr_drbg_seed(&tls->drbg, mbedtls_entropy_func, &tls->entropy, (const unsigned char *)personal,
                                 sizeof personal - 1);
  if (rc) return tls_log(tls, "random seed", rc), -1;
  if (!config->ca_pem || parse_pem(tls, config->ca_pem, config->ca_len, "CA certificate", parse_crt, &tls->ca)) return -1;
  if ((config->cert_pem == NULL) != (config->key_pem == NULL)) {
    if (tls->log) tls->log("tls: a client certificate and its key go together");
    return -1;
  }
  key_drbg = &tls->drbg;
  if (config->cert_pem && (parse_pem(tls, config->cert_pem, config->cert_len, "client certificate", parse_crt, &tls->cert) ||
                           parse_pem(tls, config->key_pem, config->key_len, "client key", parse_key, &tls->key)))
    return -1;
  rc = mbedtls_ssl_config_defaults(&tls->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc) return tls_log(tls, "config", rc), -1;
  mbedtls_ssl_conf_authmode(&tls->conf, MBEDTLS_SSL_VERIFY_REQUIRED); // a server the CA did not sign is refused
#if MBEDTLS_VERSION_MAJOR >= 3
  mbedtls_ssl_conf_min_tls_version(&tls->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
  mbedtls_ssl_conf_min_version(&tls->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3); // TLS 1.2
#endif
  mbedtls_ssl_conf_ca_chain(&tls->conf, &tls->ca, NULL);
  mbedtls_ssl_conf_rng(&tls->conf, mbedtls_ctr_drbg_random, &tls->drbg);
  if (config->cert_pem && (rc = mbedtls_ssl_conf_own_cert(&tls->conf, &tls->cert, &tls->key)))
    return tls_log(tls, "client certificate", rc), -1;
  if ((rc = mbedtls_ssl_setup(&tls->ssl, &tls->conf))) return tls_log(tls, "setup", rc), -1;
  mbedtls_ssl_set_bio(&tls->ssl, tls, bio_send, bio_recv, NULL);
  tls->state = TLS_IDLE;
  return 0;
}

outpost_transport outpost_net_mbedtls_transport(outpost_net_mbedtls *tls) {
  outpost_transport t = {tls, tls_open, tls_wait, tls_send, tls_recv, tls_close};
  return t;
}

void outpost_net_mbedtls_free(outpost_net_mbedtls *tls) {
  tls->inner.close(tls->inner.ctx);
  mbedtls_ssl_free(&tls->ssl);
  mbedtls_ssl_config_free(&tls->conf);
  mbedtls_x509_crt_free(&tls->ca);
  mbedtls_x509_crt_free(&tls->cert);
  mbedtls_pk_free(&tls->key);
  mbedtls_ctr_drbg_free(&tls->drbg);
  mbedtls_entropy_free(&tls->entropy);
}
