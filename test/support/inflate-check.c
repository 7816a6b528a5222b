// test/inflate.test.ts's harness for boards/common/outpost_inflate.c: stdin is u32 dict_len, u32 out_cap (little
// endian), the dictionary, then the raw deflate stream; stdout is "ok <hex of the output>" or "error <name>".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outpost_inflate.h"

static uint8_t input[1 << 20];

static int history(void *ctx, uint32_t back, uint8_t *out) {
  const uint8_t *dict_end = ctx;
  *out = dict_end[-(long)back];
  return 0;
}

int main(void) {
  size_t n = fread(input, 1, sizeof input, stdin);
  if (n < 8) return 2;
  uint32_t dict_len = input[0] | input[1] << 8 | input[2] << 16 | (uint32_t)input[3] << 24;
  uint32_t cap = input[4] | input[5] << 8 | input[6] << 16 | (uint32_t)input[7] << 24;
  if (dict_len > n - 8) return 2;
  uint8_t *out = malloc(cap ? cap : 1);
  const uint8_t *dict_end = input + 8 + dict_len;
  long rc = outpost_inflate(dict_end, n - 8 - dict_len, out, cap, dict_len, history, (void *)dict_end);
  if (rc < 0) {
    printf("error %s\n", outpost_inflate_error_name(rc));
  } else {
    printf("ok ");
    for (long i = 0; i < rc; i++) printf("%02x", out[i]);
    printf("\n");
  }
  free(out);
  return 0;
}
