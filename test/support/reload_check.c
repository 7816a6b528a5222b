// Loads the module, answers a request, unloads, and again, through the board C API alone
// (outpost.h), the way a board that swaps modules would; then calls after the unload, and a
// load of broken bytes followed by a good one. test/reload.test.ts links it with each engine.
//   reload_check MODULE.wasm   prints one line per step
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outpost.h"

static uint32_t now(void) { return 0; }
static void log_line(int level, const char *text, size_t len) { fprintf(stderr, "log %d %.*s\n", level, (int)len, text); }

static int answer(const char *request) {
  const char *response;
  size_t len;
  if (outpost_rpc(request, strlen(request), &response, &len)) {
    printf("rpc failed: %s\n", outpost_error());
    return -1;
  }
  printf("response %.*s\n", (int)len, response);
  return 0;
}

int main(int argc, char **argv) {
  static uint8_t wasm[1 << 20];
  FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
  size_t len = f ? fread(wasm, 1, sizeof wasm, f) : 0;
  if (!len) return 2;
  fclose(f);
  static const outpost_board board = {"reload", now, NULL, log_line};
  for (int round = 1; round <= 3; round++) {
    if (outpost_load(&board, wasm, len) || outpost_rpc_init()) {
      printf("load %d failed: %s\n", round, outpost_error());
      return 1;
    }
    if (answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\"again\"]}") ||
        answer("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"sys.info\"}"))
      return 1;
    outpost_unload();
  }
  int32_t version;
  printf("after unload: %d %s\n", outpost_call_export("abi_version", &version, 0), outpost_error());
  uint8_t broken[64];
  memcpy(broken, wasm, sizeof broken);
  printf("broken bytes: %d\n", outpost_load(&board, broken, sizeof broken));
  if (outpost_load(&board, wasm, len) || outpost_rpc_init() ||
      answer("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":[\"after a failed load\"]}"))
    return 1;
  outpost_unload();
  return 0;
}
