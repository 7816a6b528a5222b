// Device settings in NVS, seeded from menuconfig on first boot.
#include <string.h>

#include "board.h"
#include "nvs.h"
#include "sdkconfig.h"

static esp_err_t load_string(nvs_handle_t nvs, const char *key, const char *seed, char *out, size_t cap) {
  size_t len = cap;
  esp_err_t err = nvs_get_str(nvs, key, out, &len);
  if (err != ESP_ERR_NVS_NOT_FOUND) return err;
  if (strlen(seed) >= cap) return ESP_ERR_INVALID_SIZE;
  strcpy(out, seed);
  return nvs_set_str(nvs, key, seed);
}

esp_err_t esp32_settings_load(esp32_settings *out) {
  nvs_handle_t nvs;
  esp_err_t err = nvs_open("outpost", NVS_READWRITE, &nvs);
  if (err != ESP_OK) return err;
  uint16_t port = 0;
  if ((err = load_string(nvs, "id", CONFIG_OUTPOST_DEVICE_ID, out->id, sizeof out->id)) == ESP_OK &&
      (err = load_string(nvs, "host", CONFIG_OUTPOST_BROKER_HOST, out->host, sizeof out->host)) == ESP_OK &&
      (err = load_string(nvs, "user", CONFIG_OUTPOST_USERNAME, out->username, sizeof out->username)) == ESP_OK &&
      (err = load_string(nvs, "pass", CONFIG_OUTPOST_PASSWORD, out->password, sizeof out->password)) == ESP_OK &&
      (err = load_string(nvs, "ota_key", CONFIG_OUTPOST_OTA_KEY, out->ota_key, sizeof out->ota_key)) == ESP_OK) {
    err = nvs_get_u16(nvs, "port", &port);
    if (err == ESP_ERR_NVS_NOT_FOUND) {
      port = CONFIG_OUTPOST_BROKER_PORT;
      err = nvs_set_u16(nvs, "port", port);
    }
    out->port = port;
  }
  if (err == ESP_OK) err = nvs_commit(nvs);
  nvs_close(nvs);
  return err;
}

// An optional PEM string: a missing key leaves *len at 0.
static esp_err_t load_pem(nvs_handle_t nvs, const char *key, char *out, size_t cap, size_t *len) {
  *len = cap;
  esp_err_t err = nvs_get_str(nvs, key, out, len); // *len counts the NUL
  if (err == ESP_ERR_NVS_NOT_FOUND) {
    *len = 0;
    return ESP_OK;
  }
  return err;
}

esp_err_t esp32_tls_load(esp32_tls_files *out) {
  nvs_handle_t nvs;
  esp_err_t err = nvs_open("outpost", NVS_READONLY, &nvs);
  if (err != ESP_OK) return err;
  if ((err = load_pem(nvs, "tls_ca", out->ca, sizeof out->ca, &out->ca_len)) == ESP_OK &&
      (err = load_pem(nvs, "tls_cert", out->cert, sizeof out->cert, &out->cert_len)) == ESP_OK)
    err = load_pem(nvs, "tls_key", out->key, sizeof out->key, &out->key_len);
  nvs_close(nvs);
  if (err == ESP_OK && out->ca_len == 0) err = ESP_ERR_NOT_FOUND; // TLS without a CA would trust nobody
  if (err == ESP_OK && (out->cert_len == 0) != (out->key_len == 0)) err = ESP_ERR_INVALID_STATE; // a certificate needs its key
  return err;
}
