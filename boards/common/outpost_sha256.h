// SHA-256 (FIPS 180-4), incremental, for the OTA module hash: a slot is hashed in pieces
// so that a flash slot need not be copied to RAM.
#ifndef OUTPOST_SHA256_H
#define OUTPOST_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct outpost_sha256 {
  uint32_t h[8];
  uint64_t bytes;
  uint8_t block[64];
  size_t used;
} outpost_sha256;

void outpost_sha256_init(outpost_sha256 *s);
void outpost_sha256_update(outpost_sha256 *s, const uint8_t *data, size_t len);
void outpost_sha256_final(outpost_sha256 *s, uint8_t out[32]);

#endif
