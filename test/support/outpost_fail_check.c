// Prints what outpost_fail (boards/common/outpost_methods.c) writes for the message in argv[2]
// into an answer buffer of argv[1] bytes: "<kind> <len> <text>", kind 1 result, 2 error, 3 too large.
// test/outpost-fail.test.ts compiles it with the runtime's methods file alone.
#include <stdio.h>
#include <stdlib.h>

#include "outpost.h"

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  char out[512];
  size_t cap = (size_t)atoi(argv[1]);
  if (cap > sizeof out) return 2;
  outpost_call call = {"t", "", 0, out, cap, 0};
  outpost_fail(&call, -32000, argv[2]);
  unsigned kind = call.status >> 24, len = call.status & 0xffffff;
  printf("%u %u %.*s\n", kind, len, kind == OUTPOST_HOST_ERROR ? (int)len : 0, out);
  return 0;
}
