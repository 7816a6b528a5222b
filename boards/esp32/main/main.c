// outpost on the ESP32: joins Wi-Fi, reads its settings from NVS, and runs the module
// (embedded in flash) under wasm3 through boards/common, with net_bsd.c over lwIP as
// the transport: the same runtime and socket code boards/posix runs and tests. With
// CONFIG_OUTPOST_TLS, boards/common/net_mbedtls.c wraps it in TLS (mbedTLS 3 under ESP-IDF 5).
#include <signal.h>
#include <string.h>

#include "board.h"
#include "esp_log.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "net_bsd.h"
#include "nvs_flash.h"
#include "outpost.h"
#include "sdkconfig.h"
#if CONFIG_OUTPOST_TLS
#include "net_mbedtls.h"
#endif

#define DEVICE_TASK_STACK (16 * 1024) // wasm3 calls nest on the native stack
#define WIFI_TIMEOUT_MS 30000

extern const uint8_t device_wasm_start[] asm("_binary_device_wasm_start");
extern const uint8_t device_wasm_end[] asm("_binary_device_wasm_end");

static const char *TAG = "outpost";
static volatile sig_atomic_t stop_requested;
static esp32_settings settings;

#if CONFIG_OUTPOST_TLS
static esp32_tls_files tls_files; // static: 6.5 KiB is too much for the task's stack
static outpost_net_mbedtls tls;

static void tls_log(const char *line) { ESP_LOGE(TAG, "tls: %s", line); }

// Wraps `*transport` in TLS with the certificates from NVS; a client certificate replaces the password.
static int tls_wrap(outpost_transport *transport, outpost_device_config *config) {
  esp_err_t err = esp32_tls_load(&tls_files);
  if (err != ESP_OK) {
    ESP_LOGE(TAG, "tls: cannot read tls_ca/tls_cert/tls_key from NVS: %s", esp_err_to_name(err));
    return -1;
  }
  const outpost_tls_config tls_config = {
      tls_files.ca,
      tls_files.ca_len,
      tls_files.cert_len ? tls_files.cert : NULL,
      tls_files.cert_len,
      tls_files.key_len ? tls_files.key : NULL,
      tls_files.key_len,
      CONFIG_OUTPOST_TLS_SERVER_NAME[0] ? CONFIG_OUTPOST_TLS_SERVER_NAME : NULL,
      tls_log,
  };
  if (outpost_net_mbedtls_init(&tls, *transport, &tls_config)) return -1;
  *transport = outpost_net_mbedtls_transport(&tls);
  if (tls_files.cert_len) config->password = NULL; // the certificate names the device
  return 0;
}
#endif

static uint32_t now_ms(void) { return (uint32_t)(esp_timer_get_time() / 1000); }

static void log_line(int level, const char *text, size_t len) {
  static const esp_log_level_t levels[] = {ESP_LOG_DEBUG, ESP_LOG_INFO, ESP_LOG_WARN, ESP_LOG_ERROR};
  ESP_LOG_LEVEL(levels[level & 3], TAG, "%.*s", (int)len, text);
}

static void device_task(void *arg) {
  (void)arg;
  static const outpost_board board = {"esp32", now_ms, esp_random, log_line};
  esp32_methods(&stop_requested);
  if (outpost_load(&board, device_wasm_start, (size_t)(device_wasm_end - device_wasm_start)) || outpost_rpc_init()) {
    ESP_LOGE(TAG, "%s", outpost_error());
    vTaskDelete(NULL);
    return;
  }
  outpost_device_config config = {
      .id = settings.id,
      .host = settings.host,
      .port = settings.port,
      .username = settings.username[0] ? settings.username : NULL,
      .password = settings.password[0] ? settings.password : NULL,
  };
  outpost_net_bsd net;
  outpost_transport transport = outpost_net_bsd_transport(&net);
#if CONFIG_OUTPOST_TLS
  if (tls_wrap(&transport, &config)) {
    outpost_unload();
    vTaskDelete(NULL);
    return;
  }
#endif
  ESP_LOGI(TAG, "device %s dialing out to %s:%u", config.id, config.host, (unsigned)config.port);
  if (outpost_run(&config, &transport, &stop_requested)) ESP_LOGE(TAG, "%s", outpost_error());
  outpost_unload();
  esp_restart(); // sys.reboot, or a runtime error: start over
}

void app_main(void) {
  esp_err_t err = nvs_flash_init();
  if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
    ESP_ERROR_CHECK(nvs_flash_erase());
    err = nvs_flash_init();
  }
  ESP_ERROR_CHECK(err);
  ESP_ERROR_CHECK(esp32_settings_load(&settings));
  if (esp32_wifi_start(WIFI_TIMEOUT_MS) != ESP_OK) ESP_LOGW(TAG, "no Wi-Fi address yet; the device keeps retrying");
  xTaskCreate(device_task, "outpost", DEVICE_TASK_STACK, NULL, 5, NULL);
}
