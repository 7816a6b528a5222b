// outpost on the STM32F405: the module runs from flash under wasm3
// (boards/common) and talks MQTT to the broker through USART1.
//
// Under QEMU the command line comes from `-append` over semihosting:
//   --id ID [--username U] [--password P]   run as device ID (default stm32f405)
//   [--url ws://host:port/path]             JSON-RPC over WebSocket instead of MQTT
//   [--url mqtt://host:port ...]            brokers to dial in turn (up to 4): the link's far end is a modem
//                                           that takes ATD<host>:<port> (transport.h)
//   [--mqtt-version 4|5]                    MQTT 3.1.1 (the default) or 5
//   --call JSON                             dispatch one JSON-RPC request, print it, exit
//   --repeat N --call JSON                  dispatch it N times and print the busy time
//   --ota-key HEX [--ota-window MS]         OTA with this release key (docs/ota.md)
//   --clean 1                               a clean MQTT session
//   --telemetry MS                          publish sys.info as telemetry every MS milliseconds
//   --power-cuts 1                          tests: the test.power_cut method (reset at an OTA storage step)
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "link.h"
#include "methods.h"
#include "outpost.h"
#include "outpost_brokers.h"
#include "outpost_ota.h"
#include "slots_flash.h"
#include "stm32f405.h"
#include "transport.h"

// build/device.wasm, linked into flash by module.S: wasm3 parses it in place. Empty under
// ENGINE=aot, whose engine has the module compiled in (outpost_load takes 0 bytes as that one).
extern const uint8_t device_wasm[], device_wasm_end[];

static volatile sig_atomic_t stop_requested, window_ended;

// How long the far end of the pipe takes to redial after the broker closed the stream (QEMU: reconnect=1 s).
#ifndef OUTPOST_STM32_REDIAL_MS
#define OUTPOST_STM32_REDIAL_MS 1500u
#endif

// The release public key set at provisioning: a flash constant (make OTA_KEY=<64 hex digits>); under QEMU the
// tests give theirs with --ota-key.
#ifndef OUTPOST_OTA_KEY_HEX
#define OUTPOST_OTA_KEY_HEX ""
#endif
static const char provisioned_key[] = OUTPOST_OTA_KEY_HEX;
// ENGINE=aot: no module updates (the module is compiled in), so none of the OTA code or its buffers is linked.
#ifndef OUTPOST_OTA
#define OUTPOST_OTA 1
#endif

// Output goes straight to the debug channel, not through stdio: newlib's stdout
// would take 1,464 bytes of heap (its FILE table and a 1 KiB buffer).
static void say(const char *format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (n <= 0) return;
  if ((size_t)n >= sizeof line) line[(n = sizeof line - 1) - 1] = '\n'; // cut, but still a line
  debug_write(line, (size_t)n);
}

static void log_line(int level, const char *text, size_t len) {
  static const char *const names[] = {"[debug] ", "[info] ", "[warn] ", "[error] "};
  debug_write(names[level & 3], strlen(names[level & 3]));
  debug_write(text, len);
  debug_write("\n", 1);
}

// Seeds the reconnect jitter. Weak, which is all the jitter needs.
static uint32_t jitter_seed(void) { return SYST_CVR * 2654435761u ^ board_millis(); }

static void print_memory(const char *when) {
  board_memory m;
  board_memory_read(&m);
  say("memory %s: static %lu, heap high-water %lu (in use %lu), stack high-water %lu, total %lu bytes\n", when,
      (unsigned long)m.static_bytes, (unsigned long)m.heap_high_water, (unsigned long)m.heap_in_use,
      (unsigned long)m.stack_high_water, (unsigned long)(m.static_bytes + m.heap_high_water + m.stack_high_water));
}

typedef struct {
  const char *id, *username, *password, *url, *call, *ota_key, *ota_window;
  unsigned long repeat, telemetry;
  uint8_t mqtt_version, clean, power_cuts;
} options;

/** The brokers of --url mqtt://…, dialed in turn (none: the pipe's far end is fixed). */
static outpost_broker_list brokers;

// Cuts the next space-separated word out of *p.
static char *next_word(char **p) {
  while (**p == ' ') (*p)++;
  char *word = *p;
  *p += strcspn(*p, " ");
  if (**p) *(*p)++ = 0;
  return word;
}

// "--flag value" pairs; --call takes the rest of the line. Words that are not
// flags (QEMU may put the image name first) are skipped.
static void parse_command_line(char *line, options *o) {
  for (char *p = line; *p;) {
    const char *flag = next_word(&p);
    if (strncmp(flag, "--", 2) != 0) continue;
    if (strcmp(flag, "--call") == 0) {
      o->call = p + strspn(p, " ");
      return;
    }
    const char *value = next_word(&p);
    if (strcmp(flag, "--id") == 0) o->id = value;
    else if (strcmp(flag, "--username") == 0) o->username = value;
    else if (strcmp(flag, "--password") == 0) o->password = value;
    else if (strcmp(flag, "--url") == 0 && strncmp(value, "mqtt", 4) == 0) {
      if (outpost_broker_list_add(&brokers, value) || brokers.secure)
        say("ignoring --url %s (mqtt://host:port, at most %d)\n", value, OUTPOST_BROKERS_MAX);
    } else if (strcmp(flag, "--url") == 0) o->url = value; // ws://host:port/path: WebSocket over the same link
    else if (strcmp(flag, "--repeat") == 0) o->repeat = strtoul(value, NULL, 10);
    else if (strcmp(flag, "--telemetry") == 0) o->telemetry = strtoul(value, NULL, 10);
    else if (strcmp(flag, "--mqtt-version") == 0) o->mqtt_version = strcmp(value, "5") == 0 ? 5 : 4;
    else if (strcmp(flag, "--ota-key") == 0) o->ota_key = value;
    else if (strcmp(flag, "--ota-window") == 0) o->ota_window = value;
    else if (strcmp(flag, "--clean") == 0) o->clean = value[0] == '1';
    else if (strcmp(flag, "--power-cuts") == 0) o->power_cuts = value[0] == '1';
    else say("ignoring unknown flag %s\n", flag);
  }
}

// test.power_cut {"step", "after"}: the board resets the after-th time the OTA storage step is reached.
static void power_cut_method(outpost_call *call) {
  static char step[16];
  long after;
  if (outpost_param_string(call, 0, "step", step, sizeof step) < 0 || outpost_param_int(call, 1, "after", &after) || after < 1 ||
      (strcmp(step, "chunk-written") && strcmp(step, "record-written")))
    return outpost_fail(call, -32602, "bad_params");
  stm32_arm_power_cut(step, (uint32_t)after);
  outpost_ok(call, "{\"armed\":true}");
}

int main(void) {
  board_init();
  int after_cut = board_after_power_cut();
  static char cmdline[768];
  board_command_line(cmdline, sizeof cmdline);
  options opt = {.id = "stm32f405", .repeat = 1};
  parse_command_line(cmdline, &opt);
  if (after_cut) say("restarted after a power cut\n");
  const char *call = opt.call;
  unsigned long repeat = opt.repeat;

  stm32_methods(&stop_requested);
  if (OUTPOST_OTA && opt.power_cuts && board_emulated())
    outpost_method("test.power_cut", "Tests: reset the board at an OTA storage step", NULL, power_cut_method);
#if HEAP_TRACE
  heap_trace_methods();
#endif
  static outpost_board board = {NULL, board_millis, jitter_seed, log_line};
  board.name = board_name();
  size_t module_len = (size_t)(device_wasm_end - device_wasm);
  say(module_len ? "outpost on %s, %lu MHz, module %lu bytes in flash\n" : "outpost on %s, %lu MHz, module compiled in\n",
      board.name, (unsigned long)(board_cpu_hz() / 1000000u), (unsigned long)module_len);
  // OTA (docs/ota.md): with a release key, the module is the verified slot the state record names.
  static uint8_t ota_keys[1][32];
  const char *key_hex = opt.ota_key ? opt.ota_key : provisioned_key;
  // ENGINE=aot runs only the module compiled in: updates are firmware updates there (docs/boards.md), and
  // OUTPOST_OTA=0 leaves the OTA code out.
  int ota = OUTPOST_OTA && module_len && key_hex[0] && !outpost_ota_key_from_hex(key_hex, ota_keys[0]);
  if (ota) {
    outpost_ota_config c = {stm32_slots(board_emulated()),
                            (const uint8_t(*)[32])ota_keys,
                            1,
                            device_wasm,
                            module_len,
                            0,
                            opt.ota_window ? (uint32_t)strtoul(opt.ota_window, NULL, 10) : 0,
                            &stop_requested};
    if (outpost_ota_init(&c)) ota = 0;
  }
  const uint8_t *module = device_wasm;
  for (;;) {
    if (ota) outpost_ota_boot(NULL, 0, &module, &module_len);
    if (!outpost_load(&board, module, module_len) && !outpost_rpc_init()) break;
    say("%s %s\n", ota ? "module failed to start:" : "FATAL", outpost_error());
    if (!ota || !outpost_ota_start_failed()) {
      print_memory("at load failure");
      return 1;
    }
  }
  print_memory("after load");

  if (call) {
    const char *response;
    size_t len;
    uint64_t busy = board_busy_nanos();
    for (unsigned long i = 0; i < repeat; i++) {
      if (outpost_rpc(call, strlen(call), &response, &len)) {
        say("FATAL %s\n", outpost_error());
        return 1;
      }
    }
    busy = board_busy_nanos() - busy;
    debug_write("response ", 9);
    debug_write(response, len);
    debug_write("\n", 1);
    say("dispatched %lu times in %lu us busy\n", repeat, (unsigned long)(busy / 1000u));
    print_memory("after call");
    return 0;
  }

  // host/port only name the link in logs: the pipe's far end is fixed.
  outpost_device_config config = {.id = opt.id,
                                  .host = "usart1",
                                  .port = 0,
                                  .username = opt.username,
                                  .password = opt.password,
                                  .ws_url = opt.url && strncmp(opt.url, "ws://", 5) == 0 ? opt.url : NULL,
                                  .mqtt_version = opt.mqtt_version,
                                  .clean = opt.clean,
                                  .telemetry_ms = (uint32_t)opt.telemetry};
  outpost_transport transport = stm32_link_transport();
  if (brokers.count) {
    stm32_link_dial(1);
    transport = outpost_broker_list_transport(&brokers, transport);
  }
  say("device %s dialing out through USART1%s\n", config.id, brokers.count ? " (a modem, the --url brokers in turn)" : "");
  int rc;
  for (;;) {
    uint32_t deadline = ota ? outpost_ota_window_ms() : 0;
    if (deadline) board_set_alarm(deadline, &stop_requested, &window_ended);
    rc = outpost_run(&config, &transport, &stop_requested);
    board_set_alarm(0, NULL, NULL);
    if (rc) say("FATAL %s\n", outpost_error());
    if (!ota || rc) break;
    if (window_ended) outpost_ota_window_expired();
    window_ended = 0;
    if (!outpost_ota_restart()) break; // sys.reboot, or a stop for good
    stop_requested = 0;
    // The pipe has no carrier (transport.c): the broker closed the stream at our DISCONNECT and the far end (QEMU's
    // chardev, a modem) redials within a second. A CONNECT sent before that is lost, and the module would wait a
    // keep-alive for its CONNACK: so wait the redial out first.
    for (uint32_t t0 = board_millis(); board_millis() - t0 < OUTPOST_STM32_REDIAL_MS;) board_idle_until_interrupt();
    // The module the record names now: the new one, or after a rollback the previous one (wasm3 torn down and set up again).
    outpost_unload();
    for (;;) {
      outpost_ota_boot(NULL, 0, &module, &module_len);
      if (!outpost_load(&board, module, module_len) && !outpost_rpc_init()) break;
      say("module failed to start: %s\n", outpost_error());
      if (!outpost_ota_start_failed()) return 1;
    }
    say("module version %lu started\n", (unsigned long)outpost_ota_running_version());
  }
  print_memory("at exit");
  return rc ? 1 : 0;
}
