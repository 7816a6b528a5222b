// Drives the module: JSON-RPC requests in, responses out, and (outpost_run) the
// device over a transport, with the clock and the bytes the module asks for.
#include <string.h>

#include "outpost_abi.h"
#include "outpost_internal.h"

// Board-sized JSON-RPC limits (rpc_init); a board may override with -D.
#ifndef OUTPOST_RPC_REQUEST_MAX
#define OUTPOST_RPC_REQUEST_MAX 1024
#endif
#ifndef OUTPOST_RPC_RESPONSE_MAX
#define OUTPOST_RPC_RESPONSE_MAX 2048 // rpc.list of a board with a dozen methods
#endif
#ifndef OUTPOST_RPC_MAX_TOKENS
#define OUTPOST_RPC_MAX_TOKENS 128
#endif
#ifndef OUTPOST_RPC_MAX_DEPTH
#define OUTPOST_RPC_MAX_DEPTH 16
#endif

static uint32_t now(void) { return outpost_rt.board && outpost_rt.board->now ? outpost_rt.board->now() : 0; }

// Word i of a block in linear memory whose address an init export returned (assembly/ABI.md).
static int read_word(uint32_t block, unsigned i, uint32_t *out) {
  uint32_t size;
  uint8_t *mem = outpost_memory(&size);
  uint32_t at = block + 4 * i;
  if (!mem || at < block || at > size || size - at < 4) {
    outpost_errorf("the module's info block at %u lies outside linear memory", (unsigned)block);
    return -1;
  }
  memcpy(out, mem + at, 4);
  return 0;
}

int outpost_rpc_init(void) {
  int32_t rc;
  if (outpost_call_export("rpc_init", &rc, 5, OUTPOST_RPC_REQUEST_MAX, OUTPOST_RPC_RESPONSE_MAX, OUTPOST_RPC_MAX_TOKENS,
                          OUTPOST_RPC_MAX_DEPTH, (int32_t)now()))
    return -1;
  if (rc < 0) {
    outpost_errorf("rpc_init failed: error %d (%s)", (int)-rc, outpost_err_name(rc));
    return -1;
  }
  // rc: the address of u32 request buffer, u32 response buffer.
  if (read_word((uint32_t)rc, 0, &outpost_rt.rpc_request) || read_word((uint32_t)rc, 1, &outpost_rt.rpc_response)) return -1;
  outpost_rt.rpc_request_cap = OUTPOST_RPC_REQUEST_MAX; // what rpc_init was given
  outpost_rt.rpc_response_cap = OUTPOST_RPC_RESPONSE_MAX;
  outpost_rt.rpc_handle = outpost_find("rpc_handle");
  if (!outpost_rt.rpc_handle) {
    outpost_errorf("the module has no export rpc_handle");
    return -1;
  }
  return 0;
}

int outpost_rpc(const char *request, size_t len, const char **response, size_t *response_len) {
  uint32_t size;
  uint8_t *mem = outpost_memory(&size);
  if (!outpost_rt.rpc_handle || !mem) {
    outpost_errorf("outpost_rpc before outpost_rpc_init");
    return -1;
  }
  // Over the capacity nothing is copied: the module answers "Request too large".
  if (len <= outpost_rt.rpc_request_cap) memcpy(mem + outpost_rt.rpc_request, request, len);
  int32_t args[2] = {(int32_t)len, (int32_t)now()}, n;
  if (outpost_invoke(outpost_rt.rpc_handle, &n, 2, args)) return -1;
  if (n < 0) {
    outpost_errorf("rpc_handle failed: error %d (%s)", (int)-n, outpost_err_name(n));
    return -1;
  }
  mem = outpost_memory(&size);
  if (outpost_rt.rpc_response > size || (uint32_t)n > size - outpost_rt.rpc_response) {
    outpost_errorf("rpc_handle answered outside linear memory");
    return -1;
  }
  *response = (const char *)mem + outpost_rt.rpc_response;
  *response_len = (size_t)n;
  return 0;
}

// ---- the device over a transport ------------------------------------------------

// Keys, events and error names: outpost_abi.h (generated from assembly/abi.json).
#define NO_DEADLINE 0xffffffffu

#ifndef OUTPOST_MQTT_MAX_PACKET
#define OUTPOST_MQTT_MAX_PACKET 2048
#endif
#ifndef OUTPOST_MQTT_RX_BYTES
#define OUTPOST_MQTT_RX_BYTES 1024
#endif
// The reply context keeps a request's MQTT 5 Response Topic and Correlation Data until its
// answer is published. Both arrive in one PUBLISH, so a context the size of the largest packet
// the board accepts always holds them and the module never has to answer on tx instead.
// MQTT 3.1.1 has neither: its context holds only the tx topic ("devices/" + a 64-byte id + "/tx"
// and 5 bytes of lengths; a longer one is refused by device_start with BufferFull).
#ifndef OUTPOST_REPLY_CONTEXT_BYTES
#define OUTPOST_REPLY_CONTEXT_BYTES OUTPOST_MQTT_MAX_PACKET
#endif
#define OUTPOST_REPLY_CONTEXT_V4_BYTES 128
_Static_assert(OUTPOST_REPLY_CONTEXT_BYTES >= OUTPOST_MQTT_MAX_PACKET,
               "an MQTT 5 reply context smaller than a packet would answer some requests on tx");
// tx and the outbox hold the largest response as a PUBLISH: payload, the reply context (topic
// and correlation data), and 16 bytes of header, lengths and packet id.
#ifndef OUTPOST_MQTT_TX_BYTES
#define OUTPOST_MQTT_TX_BYTES (OUTPOST_RPC_RESPONSE_MAX + OUTPOST_REPLY_CONTEXT_BYTES + 16)
#endif
#ifndef OUTPOST_MQTT_OUTBOX_BYTES
#define OUTPOST_MQTT_OUTBOX_BYTES (OUTPOST_RPC_RESPONSE_MAX + OUTPOST_REPLY_CONTEXT_BYTES + 16)
#endif
// Seconds, as the Node device's (host/device.ts): the broker drops a silent link after 1.5x
// this, so a dead one shows offline in ~22 s. A board whose link has no carrier signal
// (boards/stm32) learns of a dead connection only from the keep-alive: it may want it shorter.
#ifndef OUTPOST_MQTT_KEEPALIVE_S
#define OUTPOST_MQTT_KEEPALIVE_S 15
#endif
// How long a stop waits for the offline status and DISCONNECT to leave.
#ifndef OUTPOST_STOP_FLUSH_MS
#define OUTPOST_STOP_FLUSH_MS 2000
#endif
// The longest the loop sleeps, so a stop request set without a signal is seen.
#define MAX_WAIT_MS 1000

static const uint32_t client_sizes[][2] = {
    {OUTPOST_CFG_RECEIVE_MAXIMUM, 8},
    {OUTPOST_CFG_MAX_PACKET, OUTPOST_MQTT_MAX_PACKET},
    {OUTPOST_CFG_OUTBOX_BYTES, OUTPOST_MQTT_OUTBOX_BYTES},
    {OUTPOST_CFG_INFLIGHT_WINDOW, 4},
    {OUTPOST_CFG_RX_BYTES, OUTPOST_MQTT_RX_BYTES},
    {OUTPOST_CFG_TX_BYTES, OUTPOST_MQTT_TX_BYTES},
    {OUTPOST_CFG_SUBS_BYTES, 128},
    {OUTPOST_CFG_SCRATCH_BYTES, 256},
    {OUTPOST_CFG_STRINGS_BYTES, 256},
    {OUTPOST_CFG_KEEPALIVE, OUTPOST_MQTT_KEEPALIVE_S},
};

// The exports the loop calls every turn, looked up once: fx[X_DEVICE_POLL] etc.
#define LOOP_EXPORTS(X)                 \
  X(DEVICE_POLL, "device_poll")         \
  X(DEVICE_DEADLINE, "device_deadline") \
  X(DEVICE_STOP, "device_stop")         \
  X(CLIENT_OPENED, "client_opened")     \
  X(CLIENT_CLOSED, "client_closed")     \
  X(CLIENT_RX_PTR, "client_rx_ptr")     \
  X(CLIENT_RX_CAP, "client_rx_cap")     \
  X(CLIENT_RX_PUSH, "client_rx_push")   \
  X(CLIENT_TX_LEN, "client_tx_len")     \
  X(CLIENT_TX_CONSUME, "client_tx_consume")
#define AS_ENUM(id, name) X_##id,
#define AS_NAME(id, name) name,
enum { LOOP_EXPORTS(AS_ENUM) X_COUNT };
static const char *const export_names[X_COUNT] = {LOOP_EXPORTS(AS_NAME)};
static outpost_fn fx[X_COUNT];
// The block client_init returns: u32 scratch, u32 scratch capacity, u32 tx, then the event record (code, a, b, c, d).
enum { INFO_SCRATCH = 0, INFO_SCRATCH_CAP = 1, INFO_TX = 2, INFO_EVENT = 3 };
static uint32_t client_info, tx_at;

static int find_exports(void) {
  for (unsigned i = 0; i < X_COUNT; i++) {
    if (!(fx[i] = outpost_find(export_names[i]))) {
      outpost_errorf("the module has no export %s (older than this runtime?)", export_names[i]);
      return -1;
    }
  }
  return 0;
}

// fn(args...) -> i32; a trap is recorded and ends the run.
static int call(outpost_fn fn, int32_t *result, unsigned argc, int32_t a, int32_t b) {
  int32_t args[2] = {a, b};
  return outpost_invoke(fn, result, argc, args);
}

// Calls an export that returns 0 or -Err, naming what failed.
static int check(const char *what, int32_t rc) {
  if (rc >= 0) return 0;
  outpost_errorf("%s failed: error %d (%s)", what, (int)-rc, outpost_err_name(rc));
  return -1;
}

// Copies a string into the module's scratch area (client_init's block) and returns its length.
static int to_scratch(const char *text, uint32_t *len) {
  uint32_t at, cap, size;
  if (read_word(client_info, INFO_SCRATCH, &at) || read_word(client_info, INFO_SCRATCH_CAP, &cap)) return -1;
  size_t n = strlen(text);
  uint8_t *mem = outpost_memory(&size);
  if (n > cap || at > size || n > size - at) {
    outpost_errorf("\"%.32s\" is longer than the module's scratch area (%d bytes)", text, (int)cap);
    return -1;
  }
  memcpy(mem + (uint32_t)at, text, n);
  *len = (uint32_t)n;
  return 0;
}

static int setup(const outpost_device_config *config) {
  int32_t rc;
  uint32_t len;
  for (unsigned i = 0; i < sizeof client_sizes / sizeof client_sizes[0]; i++) {
    if (outpost_call_export("client_config", &rc, 2, (int32_t)client_sizes[i][0], (int32_t)client_sizes[i][1]) ||
        check("client_config", rc))
      return -1;
  }
  if (config->mqtt_version &&
      (outpost_call_export("client_config", &rc, 2, OUTPOST_CFG_PROTOCOL, (int32_t)config->mqtt_version) ||
       check("MQTT version", rc)))
    return -1;
  // A kept session by default (outpost.h): MQTT 5 needs an expiry for that, 3.1.1 keeps it until a clean connect.
  uint32_t expiry = config->clean ? 0 : config->session_expiry_s ? config->session_expiry_s : OUTPOST_SESSION_EXPIRY_S;
  if (outpost_call_export("client_config", &rc, 2, OUTPOST_CFG_CLEAN, config->clean ? 1 : 0) || check("clean session", rc) ||
      outpost_call_export("client_config", &rc, 2, OUTPOST_CFG_SESSION_EXPIRY, (int32_t)expiry) || check("session expiry", rc))
    return -1;
  if (outpost_rt.board->random && outpost_call_export("client_seed", NULL, 1, (int32_t)outpost_rt.board->random())) return -1;
  if (outpost_call_export("client_init", &rc, 0) || check("client_init", rc)) return -1;
  client_info = (uint32_t)rc;
  if (read_word(client_info, INFO_TX, &tx_at)) return -1;
  uint32_t context = config->mqtt_version == 5 ? OUTPOST_REPLY_CONTEXT_BYTES : OUTPOST_REPLY_CONTEXT_V4_BYTES;
  if (outpost_call_export("device_init", &rc, 1, (int32_t)context) || check("device_init", rc)) return -1;
  if (to_scratch(config->id, &len) || outpost_call_export("device_set", &rc, 2, OUTPOST_DEV_ID, (int32_t)len) ||
      check("device id", rc))
    return -1;
  if (config->ws_url &&
      (to_scratch(config->ws_url, &len) || outpost_call_export("device_set", &rc, 2, OUTPOST_DEV_WS_URL, (int32_t)len) ||
       check("WebSocket URL", rc)))
    return -1;
  if (config->telemetry_ms &&
      (outpost_call_export("device_config", &rc, 2, OUTPOST_DEV_TELEMETRY_MS, (int32_t)config->telemetry_ms) ||
       check("telemetry period", rc)))
    return -1;
  const char *username = config->username ? config->username : config->id;
  if (to_scratch(username, &len) || outpost_call_export("client_set_str", &rc, 2, OUTPOST_STR_USERNAME, (int32_t)len) ||
      check("username", rc))
    return -1;
  if (config->password &&
      (to_scratch(config->password, &len) || outpost_call_export("client_set_str", &rc, 2, OUTPOST_STR_PASSWORD, (int32_t)len) ||
       check("password", rc)))
    return -1;
  return find_exports();
}

typedef enum { LINK_DOWN, LINK_OPENING, LINK_UP } link_state;

typedef struct {
  const outpost_device_config *config;
  outpost_transport *transport;
  link_state link;
} loop_state;

static void link_lost(loop_state *s, uint32_t t) {
  s->transport->close(s->transport->ctx);
  if (s->link != LINK_DOWN) outpost_log(1, "connection to %s:%u lost", s->config->host, (unsigned)s->config->port);
  s->link = LINK_DOWN;
  call(fx[X_CLIENT_CLOSED], NULL, 1, (int32_t)t, 0);
}

// DROP_CODE (wasm3, boards/stm32 Makefile): the code compiled so far is dropped where what runs
// next is different code, so each step compiles into the pages the one before left and the heap
// holds the largest step's code, not all of it: after device_start and at each change of the link
// (level 1: EV_OPEN, EV_CONNECTED, EV_SUBACK, EV_CLOSE) and between a request's steps (level 2: the lean module's
// EV_YIELD, and EV_TOO_LARGE, which ends the answering step of one over the limit).
static int step_ends(int level) {
#if OUTPOST_WASM3_DROP_CODE
  if (OUTPOST_WASM3_DROP_CODE >= level) return outpost_engine_drop_code();
#endif
  (void)level;
  return 0;
}

// Drains device_poll: opens and closes the transport when the module says.
static int run_events(loop_state *s, uint32_t t) {
  for (;;) {
    int32_t ev;
    if (call(fx[X_DEVICE_POLL], &ev, 1, (int32_t)t, 0)) return -1;
    if (ev == 0) return 0;
    if (ev == OUTPOST_EV_OPEN) {
      if (s->transport->open(s->transport->ctx, s->config->host, s->config->port) < 0) {
        outpost_log(2, "cannot reach %s:%u", s->config->host, (unsigned)s->config->port);
        call(fx[X_CLIENT_CLOSED], NULL, 1, (int32_t)t, 0); // the module backs off and asks again
      } else {
        s->link = LINK_OPENING;
      }
      if (step_ends(1)) return -1;
    } else if (ev == OUTPOST_EV_CLOSE) {
      uint32_t error = 0, reason = 0;
      if (read_word(client_info, INFO_EVENT + 1, &error) || read_word(client_info, INFO_EVENT + 2, &reason)) return -1;
      if (s->link != LINK_DOWN) s->transport->close(s->transport->ctx);
      s->link = LINK_DOWN;
      if (step_ends(1)) return -1;
      if (error == OUTPOST_ERR_BAD_CREDENTIALS || error == OUTPOST_ERR_NOT_AUTHORIZED)
        outpost_log(3, "disconnected: login refused, %s (reason code %u); retrying after the longest backoff",
                    error == OUTPOST_ERR_BAD_CREDENTIALS ? "bad credentials" : "not authorised", (unsigned)reason);
      else if (error)
        outpost_log(1, "disconnected: error %u (%s), reason code %u; reconnecting", (unsigned)error, outpost_err_name((int)error),
                    (unsigned)reason);
    } else if (ev == OUTPOST_EV_YIELD) { // the lean module, between a request's steps
      if (step_ends(2)) return -1;
    } else if (ev == OUTPOST_EV_SUBACK) {
      if (step_ends(1)) return -1;
    } else if (ev == OUTPOST_EV_CONNECTED) {
      if (step_ends(1)) return -1;
      outpost_log(1, "connected to %s:%u as %s", s->config->host, (unsigned)s->config->port, s->config->id);
    } else if (ev == OUTPOST_EV_DROPPED) {
      outpost_log(2, "outbox full: QoS 0 messages dropped");
    } else if (ev == OUTPOST_EV_TOO_LARGE) {
      outpost_log(2, "a message over the packet limit was skipped (a request on rx is answered Request too large)");
      if (step_ends(2)) return -1;
    } else if (ev == OUTPOST_EV_RPC_PENDING) {
      outpost_log(3, "a board method answered pending, which C methods cannot resume; request not answered");
    }
  }
}

// Writes what the module has queued, as far as the transport takes it now.
static int send_pending(loop_state *s, uint32_t t) {
  while (s->link == LINK_UP) {
    int32_t len;
    if (call(fx[X_CLIENT_TX_LEN], &len, 0, 0, 0)) return -1;
    if (len <= 0) return 0;
    uint32_t size;
    uint8_t *mem = outpost_memory(&size);
    if (tx_at > size || (uint32_t)len > size - tx_at) {
      outpost_errorf("client tx lies outside linear memory");
      return -1;
    }
    long n = s->transport->send(s->transport->ctx, mem + tx_at, (size_t)len);
    if (n < 0) {
      link_lost(s, t);
      return 0;
    }
    if (n == 0) return 0;
    if (call(fx[X_CLIENT_TX_CONSUME], NULL, 1, (int32_t)n, 0)) return -1;
  }
  return 0;
}

static int receive(loop_state *s, uint32_t t) {
  int32_t cap, at;
  if (call(fx[X_CLIENT_RX_CAP], &cap, 0, 0, 0) || call(fx[X_CLIENT_RX_PTR], &at, 0, 0, 0)) return -1;
  if (cap <= 0) return 0; // the module has not taken the last bytes yet: the next poll does
  uint32_t size;
  uint8_t *mem = outpost_memory(&size);
  long n = s->transport->recv(s->transport->ctx, mem + (uint32_t)at, (size_t)cap);
  if (n < 0) {
    link_lost(s, t);
  } else if (n > 0) {
    int32_t rc;
    if (call(fx[X_CLIENT_RX_PUSH], &rc, 1, (int32_t)n, 0)) return -1;
    if (rc < 0) // within rx_cap: a module bug
      outpost_log(3, "client_rx_push refused %ld bytes: error %d (%s)", n, (int)-rc, outpost_err_name(rc));
  }
  return 0;
}

static int tx_waiting(void) {
  int32_t len = 0;
  call(fx[X_CLIENT_TX_LEN], &len, 0, 0, 0);
  return len > 0;
}

// One turn: module events, bytes out, then wait for the socket or the next deadline.
static int turn(loop_state *s, uint32_t max_wait) {
  uint32_t t = now();
  if (run_events(s, t) || send_pending(s, t)) return -1;
  int32_t deadline;
  if (call(fx[X_DEVICE_DEADLINE], &deadline, 1, (int32_t)t, 0)) return -1;
  uint32_t wait = (uint32_t)deadline < max_wait ? (uint32_t)deadline : max_wait;
  int events = s->transport->wait(s->transport->ctx, wait, s->link == LINK_UP && tx_waiting());
  t = now();
  if (events & OUTPOST_NET_CLOSED) {
    link_lost(s, t);
    return 0;
  }
  if (events & OUTPOST_NET_OPENED) {
    s->link = LINK_UP;
    int32_t rc;
    if (call(fx[X_CLIENT_OPENED], &rc, 1, (int32_t)t, 0)) return -1; // rc < 0: OUTPOST_EV_CLOSE follows
  }
  if ((events & OUTPOST_NET_READABLE) && s->link == LINK_UP) return receive(s, t);
  return 0;
}

int outpost_run(const outpost_device_config *config, outpost_transport *transport, volatile sig_atomic_t *stop) {
  if (!outpost_rt.loaded || !outpost_rt.rpc_handle) {
    outpost_errorf("outpost_run needs outpost_load and outpost_rpc_init first");
    return -1;
  }
  if (setup(config)) return -1;
  outpost_rt.max_packet = config->ws_url ? 0 : OUTPOST_MQTT_MAX_PACKET;
  loop_state s = {config, transport, LINK_DOWN};
  int32_t rc;
  if (outpost_call_export("device_start", &rc, 1, (int32_t)now()) || check("device_start", rc)) return -1;
  if (step_ends(1)) return -1; // the init exports' code
  while (!*stop) {
    if (turn(&s, MAX_WAIT_MS)) {
      transport->close(transport->ctx);
      return -1;
    }
  }
  // Stop: offline status and DISCONNECT into tx, then give them time to leave.
  outpost_log(1, "stopping: publishing offline status");
  if (call(fx[X_DEVICE_STOP], NULL, 1, (int32_t)now(), 0)) return -1;
  uint32_t until = now() + OUTPOST_STOP_FLUSH_MS;
  while (s.link == LINK_UP && tx_waiting() && (int32_t)(until - now()) > 0) {
    if (send_pending(&s, now())) break;
    if (s.link == LINK_UP && tx_waiting()) transport->wait(transport->ctx, 50, 1);
  }
  transport->close(transport->ctx);
  return 0;
}
