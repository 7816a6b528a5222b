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
} esp32_settings;

esp_err_t esp32_settings_load(esp32_settings *out);

// Joins the Wi-Fi network from menuconfig and waits for an address; keeps
// rejoining after a drop. ESP_ERR_TIMEOUT if no address came within timeout_ms.
esp_err_t esp32_wifi_start(uint32_t timeout_ms);

// gpio.write, gpio.read (ESP32 GPIO numbers) and sys.reboot, which sets *stop so the
// runtime answers and disconnects before the restart.
void esp32_methods(volatile sig_atomic_t *stop);

#endif
