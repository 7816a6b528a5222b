// outpost on the ESP32: joins Wi-Fi, reads its settings from NVS, and runs the module
// (embedded in flash) under wasm3 through boards/common, with net_bsd.c over lwIP as
// the transport: the same runtime and socket code boards/posix runs and tests. With
// CONFIG_OUTPOST_TLS, boards/common/net_mbedtls.c wraps it in TLS (mbedTLS 3 under ESP-IDF 5). With a release key
// in NVS (ota_key), OTA updates of the module go to the data partitions of slots_partition.c, and the module restarts
// in place (wasm3 torn down and set up again) as on boards/posix and boards/stm32. NOT BUILT: no ESP-IDF here.
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
#include "outpost_ota.h"
#include "sdkconfig.h"
#include "slots_partition.h"
#if CONFIG_OUTPOST_TLS
#include "net_mbedtls.h"
#endif

#define DEVICE_TASK_STACK (16 * 1024) // wasm3 calls nest on the native stack
#define WIFI_TIMEOUT_MS 30000

extern const uint8_t device_wasm_start[] asm("_binary_device_wasm_start");
extern const uint8_t device_wasm_end[] asm("_binary_device_wasm_end");

static const char *TAG = "outpost";
static volatile sig_atomic_t stop_requested, window_ended;
static esp32_settings settings;
static esp_timer_handle_t window_timer;

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

static const outpost_board board = {"esp32", now_ms, esp_random, log_line};

// The confirm window ended: outpost_run returns, and the loop below rolls back.
static void window_fired(void *arg) {
  (void)arg;
  window_ended = 1;
  stop_requested = 1;
}

// Arms the window's timer for `deadline` (ms of now_ms()), or only disarms it for 0.
static void set_window(uint32_t deadline) {
  esp_timer_stop(window_timer); // ESP_ERR_INVALID_STATE when it is not running: nothing to stop
  if (!deadline) return;
  int32_t left = (int32_t)(deadline - now_ms());
  esp_timer_start_once(window_timer, (uint64_t)(left > 0 ? left : 1) * 1000u);
}

// OTA on when the key parses and the partitions are there; else the built-in module only (logged).
static int ota_start(const uint8_t *builtin, size_t builtin_len) {
  static uint8_t key[1][32];
  if (!settings.ota_key[0]) return 0;
  const outpost_slots *slots = esp32_slots();
  if (outpost_ota_key_from_hex(settings.ota_key, key[0])) {
    ESP_LOGE(TAG, "ota_key in NVS is not 64 hex digits: OTA off");
    return 0;
  }
  const esp_timer_create_args_t timer = {.callback = window_fired, .name = "outpost-window"};
  if (!slots || esp_timer_create(&timer, &window_timer) != ESP_OK) return 0;
  outpost_ota_config config = {
      slots, (const uint8_t(*)[32])key, 1, builtin, builtin_len, 0, CONFIG_OUTPOST_OTA_WINDOW_MS, &stop_requested};
  return outpost_ota_init(&config) == 0;
}

// The module the state record names (a pending one that fails to start is rolled back and the previous one
// loaded); under OTA the slot is parsed in place in mapped flash. 0, or -1 when nothing can start.
static int load_module(int ota, const uint8_t **module, size_t *len) {
  for (;;) {
    if (ota) outpost_ota_boot(NULL, 0, module, len);
    if (!outpost_load(&board, *module, *len) && !outpost_rpc_init()) return 0;
    ESP_LOGE(TAG, "module failed to start: %s", outpost_error());
    if (!ota || !outpost_ota_start_failed()) return -1;
  }
}

static void device_task(void *arg) {
  (void)arg;
  esp32_methods(&stop_requested);
  const uint8_t *module = device_wasm_start;
  size_t module_len = (size_t)(device_wasm_end - device_wasm_start);
  int ota = ota_start(module, module_len);
  if (load_module(ota, &module, &module_len)) {
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
  for (;;) {
    if (ota) set_window(outpost_ota_window_ms());
    int rc = outpost_run(&config, &transport, &stop_requested);
    if (ota) set_window(0);
    if (rc) ESP_LOGE(TAG, "%s", outpost_error());
    outpost_unload();
    if (!ota || rc) break;
    if (window_ended) outpost_ota_window_expired();
    window_ended = 0;
    if (!outpost_ota_restart()) break; // sys.reboot
    stop_requested = 0;
    if (load_module(ota, &module, &module_len)) break;
    ESP_LOGI(TAG, "module version %lu started", (unsigned long)outpost_ota_running_version());
  }
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
