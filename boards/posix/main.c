// outpost-device: the module as a native device program. The shell only parses
// flags, reads the module, and gives the runtime a clock, sockets and signals.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "net_bsd.h"
#ifdef OUTPOST_TLS
#include "net_mbedtls.h"
#endif
#include "outpost.h"
#include "outpost_brokers.h"
#include "outpost_ota.h"
#include "outpost_slots_file.h"

static const char usage[] =
    "usage: outpost-device --id ID [--url mqtt://host:port | ws://host:port/path] [--username U] [--password P]\n"
    "                      [--mqtt-version 4|5] [--clean | --session-expiry S] [--telemetry MS] [--module FILE]\n"
    "       outpost-device --call JSON [--module FILE]\n"
    "  --url       broker, or WebSocket gateway, to dial out to (default mqtt://127.0.0.1:1883); repeated\n"
    "              (up to 8 mqtt:// URLs): the fleet's nodes, each connection attempt to the next in turn\n"
    "  --username  defaults to the device id\n"
    "  --mqtt-version  4 (3.1.1, the default) or 5 (answers on a request's Response Topic)\n"
    "  --clean     start every connection with a clean session (default: the broker keeps it, and\n"
    "              QoS 1 requests published while the device is away are answered when it is back)\n"
    "  --session-expiry S  with --mqtt-version 5: seconds the broker keeps the session after a\n"
    "              disconnect, 1..4294967295 (default 3600)\n"
    "  --module    the device module (default $OUTPOST_WASM, else " OUTPOST_DEFAULT_MODULE " beside this program)\n"
    "  --call      dispatch one JSON-RPC request locally, print the response, exit\n"
    "  --repeat N  with --call: dispatch it N times (for instruction counts)\n"
    "  --telemetry MS  publish sys.info as telemetry every MS milliseconds (default 0: never)\n"
    "  --verbose   log the module's debug lines too\n"
    "  --ota-dir D take OTA updates of the module (docs/ota.md): slots and state record in D\n"
    "  --ota-key HEX   a release public key (64 hex digits; up to 4 --ota-key)\n"
    "  --ota-window MS how long a new module has to be confirmed (default 120000)\n"
#ifdef OUTPOST_TLS
    "  mqtts://host:port (8883) and wss://host:port/path (443) through mbedTLS:\n"
    "  --ca FILE   the CA that signed the server's certificate (PEM; required with TLS)\n"
    "  --cert FILE, --key FILE  log in with this client certificate instead of a password\n"
    "  --server-name NAME  the name the server's certificate must carry (default: the URL's host)\n"
#endif
    ;

static int min_level = 1;

// The largest module an OTA slot holds (a file each; read whole into RAM to load).
#define OUTPOST_POSIX_SLOT_MAX (64u * 1024u)

static uint32_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static uint32_t random_u32(void) {
  uint32_t value = 0;
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0 || read(fd, &value, sizeof value) != (ssize_t)sizeof value) value = (uint32_t)time(NULL) ^ (uint32_t)getpid();
  if (fd >= 0) close(fd);
  return value;
}

static void log_line(int level, const char *text, size_t len) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  if (level < min_level) return;
  fprintf(stderr, "outpost-device %s: %.*s\n", names[level & 3], (int)len, text);
}

// The default module lies at OUTPOST_DEFAULT_MODULE relative to this program's own
// directory, so the binary tree works wherever it is copied and from any cwd.
static const char *default_module(const char *argv0, char *out, size_t cap) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) exe[n] = 0;
  else if (strchr(argv0, '/') && strlen(argv0) < sizeof exe) strcpy(exe, argv0); // no /proc (macOS)
  else return OUTPOST_DEFAULT_MODULE; // found on PATH: relative to the cwd
  char *slash = strrchr(exe, '/');
  *slash = 0;
  if (snprintf(out, cap, "%s/%s", exe, OUTPOST_DEFAULT_MODULE) >= (int)cap) return OUTPOST_DEFAULT_MODULE;
  return out;
}

#ifdef OUTPOST_TLS
static void tls_log_line(const char *line) { fprintf(stderr, "outpost-device: %s\n", line); }
#endif

static volatile sig_atomic_t stop_requested, window_ended;
static void on_signal(int sig) { stop_requested = sig; }
// The OTA confirm window: SIGALRM ends outpost_run, and the shell rolls back (outpost_ota_window_expired).
static void on_alarm(int sig) {
  window_ended = 1;
  stop_requested = 1;
}

static int ota_key_hex(const char *hex, uint8_t keys[][32], unsigned *count) {
  if (*count >= OUTPOST_OTA_MAX_KEYS || outpost_ota_key_from_hex(hex, keys[*count])) return -1;
  (*count)++;
  return 0;
}

// Tests cut the power at a step: OUTPOST_OTA_CRASH_AT=step:n exits at the n-th time that step is reached.
static int crash_step(const char *step) {
  static int seen;
  const char *at = getenv("OUTPOST_OTA_CRASH_AT");
  size_t len = strlen(step);
  if (!at || strncmp(at, step, len) || at[len] != ':') return 0;
  if (++seen == atoi(at + len + 1)) _exit(99);
  return 0;
}

// The whole module file, kept for the runtime's lifetime (wasm3 points into it).
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *data = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long size = ftell(f);
    if (size > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size)) &&
        fread(data, 1, (size_t)size, f) != (size_t)size) {
      free(data);
      data = NULL;
    }
    *len = (size_t)size;
  }
  fclose(f);
  return data;
}

int main(int argc, char **argv) {
  const char *id = NULL, *url = "mqtt://127.0.0.1:1883", *username = NULL, *password = NULL;
  static char default_path[4200];
  const char *module_path = getenv("OUTPOST_WASM")
                                ? getenv("OUTPOST_WASM")
                                : default_module(argv[0], default_path, sizeof default_path); // as host/engine.ts
  const char *call = NULL, *repeat = "1", *mqtt_version = "4", *session_expiry = NULL, *telemetry = "0";
  const char *ota_dir = NULL, *ota_window = NULL, *ota_key = NULL;
  static uint8_t ota_keys[OUTPOST_OTA_MAX_KEYS][32];
  unsigned ota_key_count = 0;
  const char *ca = NULL, *cert = NULL, *key = NULL, *server_name = NULL;
  int clean = 0;
  const char *urls[OUTPOST_BROKERS_MAX];
  int url_count = 0;
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i];
    if (!strcmp(flag, "--url") && i + 1 < argc) {
      if (url_count == OUTPOST_BROKERS_MAX) {
        fprintf(stderr, "outpost-device: at most %d --url\n", OUTPOST_BROKERS_MAX);
        return 2;
      }
      url = urls[url_count++] = argv[++i];
      continue;
    }
    const char **target = !strcmp(flag, "--id")               ? &id
                          : !strcmp(flag, "--url")            ? &url
                          : !strcmp(flag, "--username")       ? &username
                          : !strcmp(flag, "--password")       ? &password
                          : !strcmp(flag, "--module")         ? &module_path
                          : !strcmp(flag, "--call")           ? &call
                          : !strcmp(flag, "--repeat")         ? &repeat
                          : !strcmp(flag, "--mqtt-version")   ? &mqtt_version
                          : !strcmp(flag, "--session-expiry") ? &session_expiry
                          : !strcmp(flag, "--telemetry")      ? &telemetry
                          : !strcmp(flag, "--ota-dir")        ? &ota_dir
                          : !strcmp(flag, "--ota-window")     ? &ota_window
                          : !strcmp(flag, "--ota-key")        ? &ota_key
#ifdef OUTPOST_TLS
                          : !strcmp(flag, "--ca")          ? &ca
                          : !strcmp(flag, "--cert")        ? &cert
                          : !strcmp(flag, "--key")         ? &key
                          : !strcmp(flag, "--server-name") ? &server_name
#endif
                                                           : NULL;
    if (!strcmp(flag, "--verbose")) {
      min_level = 0;
    } else if (!strcmp(flag, "--clean")) {
      clean = 1;
    } else if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) {
      fputs(usage, stdout);
      return 0;
    } else if (!target || i + 1 >= argc) {
      fprintf(stderr, "outpost-device: %s %s\n%s", target ? "missing value for" : "unknown flag", flag, usage);
      return 2;
    } else {
      *target = argv[++i];
      if (target == &ota_key && ota_key_hex(ota_key, ota_keys, &ota_key_count)) {
        fprintf(stderr, "outpost-device: --ota-key must be 64 hex digits (at most %d keys), not %s\n", OUTPOST_OTA_MAX_KEYS,
                ota_key);
        return 2;
      }
    }
  }

  size_t wasm_len = 0;
  uint8_t *wasm = read_file(module_path, &wasm_len);
  if (!wasm) {
    fprintf(stderr, "outpost-device: cannot read the module %s: %s\n", module_path, strerror(errno ? errno : EIO));
    return 1;
  }
  static const outpost_board board = {"posix", monotonic_ms, random_u32, log_line};
  posix_methods();
  static outpost_slots_file slot_files;
  static uint8_t slot_buf[OUTPOST_POSIX_SLOT_MAX];
  if (ota_dir) {
    if (ota_key_count == 0) {
      fprintf(stderr, "outpost-device: --ota-dir needs at least one --ota-key (without one every update is refused)\n");
      return 2;
    }
    if (outpost_slots_file_init(&slot_files, ota_dir, sizeof slot_buf)) {
      fprintf(stderr, "outpost-device: cannot use --ota-dir %s: %s\n", ota_dir, strerror(errno));
      return 1;
    }
    slot_files.crash_step = crash_step;
    outpost_ota_config ota = {&slot_files.slots,
                              (const uint8_t(*)[32])ota_keys,
                              ota_key_count,
                              wasm,
                              wasm_len,
                              0,
                              ota_window ? (uint32_t)strtoul(ota_window, NULL, 10) : 0,
                              &stop_requested};
    if (outpost_ota_init(&ota)) {
      fprintf(stderr, "outpost-device: OTA methods: the method table is full\n");
      return 1;
    }
  }
  // The module to run: the file's, or under OTA the verified slot the record names (a pending one that fails to
  // load is rolled back and the previous one loaded).
  const uint8_t *module = wasm;
  size_t module_len = wasm_len;
  for (;;) {
    if (ota_dir) outpost_ota_boot(slot_buf, sizeof slot_buf, &module, &module_len);
    if (!outpost_load(&board, module, module_len) && !outpost_rpc_init()) break;
    fprintf(stderr, "outpost-device: %s\n", outpost_error());
    if (!ota_dir || !outpost_ota_start_failed()) return 1;
  }

  if (call) {
    const char *response = NULL;
    size_t len = 0;
    for (long n = strtol(repeat, NULL, 10); n > 0; n--) {
      if (outpost_rpc(call, strlen(call), &response, &len)) {
        fprintf(stderr, "outpost-device: %s\n", outpost_error());
        return 1;
      }
    }
    if (len) printf("%.*s\n", (int)len, response);
    return 0;
  }

  if (!id) {
    fprintf(stderr, "outpost-device: --id is required\n%s", usage);
    return 2;
  }
  outpost_device_config config = {.id = id, .username = username ? username : id, .password = password, .mqtt_version = 4};
  char host[256];
  int websocket, secure;
  const char *after_scheme = outpost_parse_url(url, host, sizeof host, &config.port, &websocket, &secure);
#ifndef OUTPOST_TLS
  if (secure) after_scheme = NULL; // this build has no TLS
#endif
  if (!after_scheme) {
    fprintf(stderr, "outpost-device: --url must look like mqtt://host:port or ws://host:port/path%s, not %s\n",
#ifdef OUTPOST_TLS
            " (or mqtts://, wss://)",
#else
            " (TLS: build with make TLS=1)",
#endif
            url);
    return 2;
  }
  config.host = host;
  if (websocket) config.ws_url = after_scheme; // the module takes host[:port]/path; TLS is below it
  if ((ca || cert || key || server_name) && !secure) {
    fprintf(stderr, "outpost-device: --ca, --cert, --key and --server-name go with an mqtts:// or wss:// --url\n");
    return 2;
  }
  static outpost_broker_list brokers;
  for (int i = 0; i < url_count && url_count > 1; i++) {
    if (outpost_broker_list_add(&brokers, urls[i]) || brokers.secure != secure) {
      fprintf(stderr, "outpost-device: with several --url, each must look like mqtt://host:port (or each mqtts://), not %s\n",
              urls[i]);
      return 2;
    }
  }
  if (strcmp(mqtt_version, "4") && strcmp(mqtt_version, "5")) {
    fprintf(stderr, "outpost-device: --mqtt-version must be 4 or 5, not %s\n", mqtt_version);
    return 2;
  }
  config.mqtt_version = (uint8_t)(mqtt_version[0] - '0');
  config.clean = (uint8_t)clean;
  if (session_expiry) {
    char *end;
    errno = 0;
    unsigned long long s = strtoull(session_expiry, &end, 10);
    if (clean || config.mqtt_version != 5 || errno || *end || session_expiry[0] == '-' || s == 0 || s > 0xffffffffull) {
      fprintf(stderr, "outpost-device: %s\n",
              clean                      ? "--session-expiry and --clean contradict each other"
              : config.mqtt_version != 5 ? "--session-expiry needs --mqtt-version 5 (MQTT 3.1.1 has no session expiry)"
                                         : "--session-expiry must be 1..4294967295 seconds (--clean for no session)");
      return 2;
    }
    config.session_expiry_s = (uint32_t)s;
  }
  {
    char *end;
    errno = 0;
    unsigned long long ms = strtoull(telemetry, &end, 10);
    if (errno || *end || !*telemetry || telemetry[0] == '-' || ms > 0x7fffffffull) {
      fprintf(stderr, "outpost-device: --telemetry must be 0..2147483647 milliseconds (0: never), not %s\n", telemetry);
      return 2;
    }
    config.telemetry_ms = (uint32_t)ms;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; // no SA_RESTART: a signal wakes the loop's select()
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);

  outpost_net_bsd net;
  outpost_transport transport = outpost_net_bsd_transport(&net);
#ifdef OUTPOST_TLS
  static outpost_net_mbedtls tls;
  size_t ca_len = 0, cert_len = 0, key_len = 0;
  char *ca_pem = NULL, *cert_pem = NULL, *key_pem = NULL;
  if (secure) {
    if (!ca) {
      fprintf(stderr, "outpost-device: an mqtts:// or wss:// --url needs --ca (the CA that signed the server's certificate)\n");
      return 2;
    }
    const char *files[] = {ca, cert, key};
    char **texts[] = {&ca_pem, &cert_pem, &key_pem};
    size_t *lens[] = {&ca_len, &cert_len, &key_len};
    for (int f = 0; f < 3; f++) {
      if (!files[f]) continue;
      if (!(*texts[f] = (char *)read_file(files[f], lens[f]))) {
        fprintf(stderr, "outpost-device: cannot read %s: %s\n", files[f], strerror(errno ? errno : EIO));
        return 1;
      }
    }
    outpost_tls_config tls_config = {ca_pem, ca_len, cert_pem, cert_len, key_pem, key_len, server_name, tls_log_line};
    if (outpost_net_mbedtls_init(&tls, transport, &tls_config)) return 1;
    if (key_pem) memset(key_pem, 0, key_len); // mbedTLS holds the parsed key now (reconnects and module restarts reuse it)
    transport = outpost_net_mbedtls_transport(&tls);
  }
#endif
  // Several brokers: each connection goes to the next one of the list (over TLS too: the list is above it).
  if (brokers.count > 1) transport = outpost_broker_list_transport(&brokers, transport);
  int rc;
  for (;;) {
    uint32_t deadline = ota_dir ? outpost_ota_window_ms() : 0;
    if (deadline) alarm((unsigned)(((deadline - monotonic_ms()) + 999u) / 1000u));
    rc = outpost_run(&config, &transport, &stop_requested);
    alarm(0);
    if (rc) fprintf(stderr, "outpost-device: %s\n", outpost_error());
    outpost_unload();
    if (!ota_dir || rc) break;
    if (window_ended) outpost_ota_window_expired();
    window_ended = 0;
    if (!outpost_ota_restart() || (stop_requested != 1)) break; // SIGINT/SIGTERM: stop for good
    stop_requested = 0;
    // Load the module the record names now: the new one, or after a rollback the previous one.
    for (;;) {
      outpost_ota_boot(slot_buf, sizeof slot_buf, &module, &module_len);
      if (!outpost_load(&board, module, module_len) && !outpost_rpc_init()) break;
      fprintf(stderr, "outpost-device: %s\n", outpost_error());
      if (!outpost_ota_start_failed()) return 1;
    }
  }
  free(wasm);
  return rc ? 1 : 0;
}
