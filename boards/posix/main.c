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

static const char usage[] =
    "usage: outpost-device --id ID [--url mqtt://host:port | ws://host:port/path] [--username U] [--password P]\n"
    "                      [--mqtt-version 4|5] [--clean | --session-expiry S] [--module FILE]\n"
    "       outpost-device --call JSON [--module FILE]\n"
    "  --url       broker, or WebSocket gateway, to dial out to (default mqtt://127.0.0.1:1883)\n"
    "  --username  defaults to the device id\n"
    "  --mqtt-version  4 (3.1.1, the default) or 5 (answers on a request's Response Topic)\n"
    "  --clean     start every connection with a clean session (default: the broker keeps it, and\n"
    "              QoS 1 requests published while the device is away are answered when it is back)\n"
    "  --session-expiry S  with --mqtt-version 5: seconds the broker keeps the session after a\n"
    "              disconnect, 1..4294967295 (default 3600)\n"
    "  --module    the device module (default $OUTPOST_WASM, else " OUTPOST_DEFAULT_MODULE " beside this program)\n"
    "  --call      dispatch one JSON-RPC request locally, print the response, exit\n"
    "  --repeat N  with --call: dispatch it N times (for instruction counts)\n"
    "  --verbose   log the module's debug lines too\n"
#ifdef OUTPOST_TLS
    "  mqtts://host:port (8883) and wss://host:port/path (443) through mbedTLS:\n"
    "  --ca FILE   the CA that signed the server's certificate (PEM; required with TLS)\n"
    "  --cert FILE, --key FILE  log in with this client certificate instead of a password\n"
    "  --server-name NAME  the name the server's certificate must carry (default: the URL's host)\n"
#endif
    ;

static int min_level = 1;

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

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

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

// mqtt://host[:port] (1883) or ws://host[:port]/path (80); with TLS also mqtts:// (8883) and wss:// (443).
// Sets *websocket for ws:// and wss://, *secure for mqtts:// and wss://; returns the text after the scheme.
static const char *parse_url(const char *url, char *host, size_t host_cap, uint16_t *port, int *websocket, int *secure) {
  static const struct {
    const char *scheme;
    uint16_t port;
    int websocket, secure;
  } schemes[] = {{"mqtt://", 1883, 0, 0},
                 {"ws://", 80, 1, 0},
#ifdef OUTPOST_TLS
                 {"mqtts://", 8883, 0, 1},
                 {"wss://", 443, 1, 1}
#endif
  };
  size_t which = 0, count = sizeof schemes / sizeof schemes[0];
  while (which < count && strncmp(url, schemes[which].scheme, strlen(schemes[which].scheme))) which++;
  if (which == count) return NULL;
  *websocket = schemes[which].websocket;
  *secure = schemes[which].secure;
  const char *h = url + strlen(schemes[which].scheme);
  size_t authority = strcspn(h, "/");
  const char *colon = memchr(h, ':', authority);
  size_t host_len = colon ? (size_t)(colon - h) : authority;
  if (host_len == 0 || host_len >= host_cap) return NULL;
  memcpy(host, h, host_len);
  host[host_len] = 0;
  *port = schemes[which].port;
  if (colon) {
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (p <= 0 || p > 65535 || (*end && *end != '/')) return NULL;
    *port = (uint16_t)p;
  }
  return h;
}

int main(int argc, char **argv) {
  const char *id = NULL, *url = "mqtt://127.0.0.1:1883", *username = NULL, *password = NULL;
  static char default_path[4200];
  const char *module_path = getenv("OUTPOST_WASM")
                                ? getenv("OUTPOST_WASM")
                                : default_module(argv[0], default_path, sizeof default_path); // as host/engine.ts
  const char *call = NULL, *repeat = "1", *mqtt_version = "4", *session_expiry = NULL;
  const char *ca = NULL, *cert = NULL, *key = NULL, *server_name = NULL;
  int clean = 0;
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i];
    const char **target = !strcmp(flag, "--id")               ? &id
                          : !strcmp(flag, "--url")            ? &url
                          : !strcmp(flag, "--username")       ? &username
                          : !strcmp(flag, "--password")       ? &password
                          : !strcmp(flag, "--module")         ? &module_path
                          : !strcmp(flag, "--call")           ? &call
                          : !strcmp(flag, "--repeat")         ? &repeat
                          : !strcmp(flag, "--mqtt-version")   ? &mqtt_version
                          : !strcmp(flag, "--session-expiry") ? &session_expiry
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
  if (outpost_load(&board, wasm, wasm_len) || outpost_rpc_init()) {
    fprintf(stderr, "outpost-device: %s\n", outpost_error());
    return 1;
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
  const char *after_scheme = parse_url(url, host, sizeof host, &config.port, &websocket, &secure);
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

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; // no SA_RESTART: a signal wakes the loop's select()
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

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
    if (key_pem) memset(key_pem, 0, key_len); // mbedTLS holds the parsed key now
    transport = outpost_net_mbedtls_transport(&tls);
  }
#endif
  int rc = outpost_run(&config, &transport, &stop_requested);
  if (rc) fprintf(stderr, "outpost-device: %s\n", outpost_error());
  outpost_unload();
  free(wasm);
  return rc ? 1 : 0;
}
