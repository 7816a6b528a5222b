// outpost on the STM32F405: the module runs from flash under wasm3
// (boards/common) and talks MQTT to the broker through USART1.
//
// Under QEMU the command line comes from `-append` over semihosting:
//   --id ID [--username U] [--password P]   run as device ID (default stm32f405)
//   [--url ws://host:port/path]             JSON-RPC over WebSocket instead of MQTT
//   [--mqtt-version 4|5]                    MQTT 3.1.1 (the default) or 5
//   --call JSON                             dispatch one JSON-RPC request, print it, exit
//   --repeat N --call JSON                  dispatch it N times and print the busy time
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "link.h"
#include "methods.h"
#include "outpost.h"
#include "stm32f405.h"
#include "transport.h"

// build/device.wasm, linked into flash by module.S: wasm3 parses it in place. Empty under
// ENGINE=aot, whose engine has the module compiled in (outpost_load takes 0 bytes as that one).
extern const uint8_t device_wasm[], device_wasm_end[];

static volatile sig_atomic_t stop_requested;

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
  const char *id, *username, *password, *url, *call;
  unsigned long repeat;
  uint8_t mqtt_version;
} options;

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
    else if (strcmp(flag, "--url") == 0) o->url = value; // ws://host:port/path: WebSocket over the same link
    else if (strcmp(flag, "--repeat") == 0) o->repeat = strtoul(value, NULL, 10);
    else if (strcmp(flag, "--mqtt-version") == 0) o->mqtt_version = strcmp(value, "5") == 0 ? 5 : 4;
    else say("ignoring unknown flag %s\n", flag);
  }
}

int main(void) {
  board_init();
  static char cmdline[768];
  board_command_line(cmdline, sizeof cmdline);
  options opt = {.id = "stm32f405", .repeat = 1};
  parse_command_line(cmdline, &opt);
  const char *call = opt.call;
  unsigned long repeat = opt.repeat;

  stm32_methods(&stop_requested);
#if HEAP_TRACE
  heap_trace_methods();
#endif
  static outpost_board board = {NULL, board_millis, jitter_seed, log_line};
  board.name = board_name();
  size_t module_len = (size_t)(device_wasm_end - device_wasm);
  say(module_len ? "outpost on %s, %lu MHz, module %lu bytes in flash\n" : "outpost on %s, %lu MHz, module compiled in\n",
      board.name, (unsigned long)(board_cpu_hz() / 1000000u), (unsigned long)module_len);
  if (outpost_load(&board, device_wasm, module_len) || outpost_rpc_init()) {
    print_memory("at load failure");
    say("FATAL %s\n", outpost_error());
    return 1;
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
                                  .mqtt_version = opt.mqtt_version};
  outpost_transport transport = stm32_link_transport();
  say("device %s dialing out through USART1\n", config.id);
  int rc = outpost_run(&config, &transport, &stop_requested);
  if (rc) say("FATAL %s\n", outpost_error());
  print_memory("at exit");
  return rc ? 1 : 0;
}
