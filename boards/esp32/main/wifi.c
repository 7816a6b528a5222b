// Wi-Fi station with the SSID and password from menuconfig.
#include <string.h>

#include "board.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "sdkconfig.h"

#define GOT_ADDRESS BIT0

static const char *TAG = "outpost-wifi";
static EventGroupHandle_t wifi_events;

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data) {
  (void)arg, (void)data;
  if (base == WIFI_EVENT && (id == WIFI_EVENT_STA_START || id == WIFI_EVENT_STA_DISCONNECTED)) {
    // Rejoin for ever; the module's MQTT backoff covers the gap.
    xEventGroupClearBits(wifi_events, GOT_ADDRESS);
    esp_wifi_connect();
  } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
    ESP_LOGI(TAG, "got an address");
    xEventGroupSetBits(wifi_events, GOT_ADDRESS);
  }
}

esp_err_t esp32_wifi_start(uint32_t timeout_ms) {
  wifi_events = xEventGroupCreate();
  ESP_ERROR_CHECK(esp_netif_init());
  ESP_ERROR_CHECK(esp_event_loop_create_default());
  esp_netif_create_default_wifi_sta();
  wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
  ESP_ERROR_CHECK(esp_wifi_init(&init));
  ESP_ERROR_CHECK(esp_event_handler_instance_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_event, NULL, NULL));
  ESP_ERROR_CHECK(esp_event_handler_instance_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event, NULL, NULL));
  wifi_config_t config = {0};
  strncpy((char *)config.sta.ssid, CONFIG_OUTPOST_WIFI_SSID, sizeof config.sta.ssid);
  strncpy((char *)config.sta.password, CONFIG_OUTPOST_WIFI_PASSWORD, sizeof config.sta.password);
  ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
  ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &config));
  ESP_ERROR_CHECK(esp_wifi_start());
  EventBits_t bits = xEventGroupWaitBits(wifi_events, GOT_ADDRESS, pdFALSE, pdTRUE, pdMS_TO_TICKS(timeout_ms));
  return bits & GOT_ADDRESS ? ESP_OK : ESP_ERR_TIMEOUT;
}
