// boards/esp32: the shell around boards/common for ESP-IDF (Wi-Fi station, lwIP).
#ifndef OUTPOST_ESP32_BOARD_H
#define OUTPOST_ESP32_BOARD_H

#include <signal.h>
#include <stdint.h>

#include "esp_err.h"

// The device's settings, kept in NVS (namespace "outpost"). Keys missing on first
// boot are taken from menuconfig and written back.
typedef struct {
  char id[64];
  char host[64];
  uint16_t port;
  char username[64]; // empty: the device id
  char password[96]; // empty: none
  char ota_key[65]; // the release public key, 64 hex digits (key "ota_key"); empty: OTA off
} esp32_settings;

esp_err_t esp32_settings_load(esp32_settings *out);

// TLS material (menuconfig OUTPOST_TLS), PEM text from NVS namespace "outpost": keys
// "tls_ca" (required), "tls_cert" and "tls_key" (a client certificate, used instead of
// the password). Each is kept with its NUL, which mbedTLS counts in its length, so the
// shim parses it in place. Bounded: a longer value is ESP_ERR_NVS_INVALID_LENGTH.
#define ESP32_TLS_CA_MAX 4096
#define ESP32_TLS_CERT_MAX 2048
#define ESP32_TLS_KEY_MAX 512
typedef struct {
  char ca[ESP32_TLS_CA_MAX];
  size_t ca_len; // with the NUL
  char cert[ESP32_TLS_CERT_MAX];
  size_t cert_len; // 0: no client certificate
  char key[ESP32_TLS_KEY_MAX];
  size_t key_len;
} esp32_tls_files;

esp_err_t esp32_tls_load(esp32_tls_files *out);

// Joins the Wi-Fi network from menuconfig and waits for an address; keeps
// rejoining after a drop. ESP_ERR_TIMEOUT if no address came within timeout_ms.
esp_err_t esp32_wifi_start(uint32_t timeout_ms);

// gpio.write, gpio.read (ESP32 GPIO numbers) and sys.reboot, which sets *stop so the
// runtime answers and disconnects before the restart.
void esp32_methods(volatile sig_atomic_t *stop);

#endif
