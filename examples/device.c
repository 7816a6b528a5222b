// A native device with one board method, on the runtime every board uses (boards/common).
//   make -C examples && OUTPOST_DEVICE_ID=c-1 OUTPOST_DEVICE_CREDENTIAL=<from outpost device add> examples/build/device
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "net_bsd.h"
#include "outpost.h"

static time_t started;
static volatile sig_atomic_t stop;

static void uptime(outpost_call *call) { outpost_ok(call, "{\"seconds\":%ld}", (long)(time(NULL) - started)); }
static void on_signal(int sig) { stop = sig; }
static uint32_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
static uint32_t random_u32(void) { return (uint32_t)rand(); }
static void log_line(int level, const char *text, size_t len) { fprintf(stderr, "%d %.*s\n", level, (int)len, text); }

int main(void) {
  static uint8_t wasm[64 * 1024];
  const char *path = getenv("OUTPOST_WASM") ? getenv("OUTPOST_WASM") : "build/device.wasm";
  FILE *file = fopen(path, "rb");
  size_t len = file ? fread(wasm, 1, sizeof wasm, file) : 0;
  static const outpost_board board = {"example", now_ms, random_u32, log_line};
  outpost_method("uptime", "Seconds since the device started", NULL, uptime);
  if (outpost_load(&board, wasm, len) || outpost_rpc_init()) return fprintf(stderr, "%s\n", outpost_error()), 1;

  const char *port = getenv("OUTPOST_MQTT_PORT");
  outpost_device_config config = {.id = getenv("OUTPOST_DEVICE_ID"), .host = "127.0.0.1", .port = port ? atoi(port) : 1883};
  config.password = getenv("OUTPOST_DEVICE_CREDENTIAL");
  started = time(NULL);
  signal(SIGTERM, on_signal);
  outpost_net_bsd net;
  outpost_transport transport = outpost_net_bsd_transport(&net);
  return outpost_run(&config, &transport, &stop) ? 1 : 0;
}
