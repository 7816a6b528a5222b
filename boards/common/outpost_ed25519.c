// Ed25519 verification (RFC 8032 section 5.1.7): k = SHA-512(R || A || M) reduced mod L, then
// Monocypher checks [S]B = R + [k]A (and that S is canonical and A a valid point). Monocypher's
// own crypto_eddsa_check hashes with BLAKE2b, so the SHA-512 step is ours (FIPS 180-4).
#include "outpost_ed25519.h"

#include <string.h>

#include "monocypher.h"

static const uint64_t K[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull, 0xb5c0fbcfec4d3b2full, 0xe9b5dba58189dbbcull, 0x3956c25bf348b538ull,
    0x59f111f1b605d019ull, 0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull, 0xd807aa98a3030242ull, 0x12835b0145706fbeull,
    0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull, 0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull, 0x9bdc06a725c71235ull,
    0xc19bf174cf692694ull, 0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull, 0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull,
    0x2de92c6f592b0275ull, 0x4a7484aa6ea6e483ull, 0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull, 0x983e5152ee66dfabull,
    0xa831c66d2db43210ull, 0xb00327c898fb213full, 0xbf597fc7beef0ee4ull, 0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull,
    0x06ca6351e003826full, 0x142929670a0e6e70ull, 0x27b70a8546d22ffcull, 0x2e1b21385c26c926ull, 0x4d2c6dfc5ac42aedull,
    0x53380d139d95b3dfull, 0x650a73548baf63deull, 0x766a0abb3c77b2a8ull, 0x81c2c92e47edaee6ull, 0x92722c851482353bull,
    0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull, 0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull, 0xd192e819d6ef5218ull,
    0xd69906245565a910ull, 0xf40e35855771202aull, 0x106aa07032bbd1b8ull, 0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull,
    0x2748774cdf8eeb99ull, 0x34b0bcb5e19b48a8ull, 0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull, 0x5b9cca4f7763e373ull,
    0x682e6ff3d6b2b8a3ull, 0x748f82ee5defb2fcull, 0x78a5636f43172f60ull, 0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull, 0xbef9a3f7b2c67915ull, 0xc67178f2e372532bull, 0xca273eceea26619cull,
    0xd186b8c721c0c207ull, 0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull, 0x06f067aa72176fbaull, 0x0a637dc5a2c898a6ull,
    0x113f9804bef90daeull, 0x1b710b35131c471bull, 0x28db77f523047d84ull, 0x32caab7b40c72493ull, 0x3c9ebe0a15c9bebcull,
    0x431d67c49c100d4cull, 0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull, 0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

typedef struct sha512 {
  uint64_t h[8];
  uint64_t bytes;
  uint8_t block[128];
  size_t used;
} sha512;

static void compress(uint64_t h[8], const uint8_t *p) {
  uint64_t w[80];
  for (int t = 0; t < 16; t++) {
    w[t] = 0;
    for (int k = 0; k < 8; k++) w[t] = w[t] << 8 | p[8 * t + k];
  }
  for (int t = 16; t < 80; t++) {
    uint64_t s0 = ROTR(w[t - 15], 1) ^ ROTR(w[t - 15], 8) ^ (w[t - 15] >> 7);
    uint64_t s1 = ROTR(w[t - 2], 19) ^ ROTR(w[t - 2], 61) ^ (w[t - 2] >> 6);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  // The working variables a..h as v[0..7]: each round shifts them down one and mixes in t1 and t2.
  uint64_t v[8];
  for (int i = 0; i < 8; i++) v[i] = h[i];
  for (int t = 0; t < 80; t++) {
    uint64_t t1 = v[7] + (ROTR(v[4], 14) ^ ROTR(v[4], 18) ^ ROTR(v[4], 41)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) + K[t] + w[t];
    uint64_t t2 = (ROTR(v[0], 28) ^ ROTR(v[0], 34) ^ ROTR(v[0], 39)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
    for (int i = 7; i > 0; i--) v[i] = v[i - 1];
    v[4] += t1;
    v[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) h[i] += v[i];
}

static void sha512_init(sha512 *s) {
  static const uint64_t H0[8] = {0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull, 0x3c6ef372fe94f82bull, 0xa54ff53a5f1d36f1ull,
                                 0x510e527fade682d1ull, 0x9b05688c2b3e6c1full, 0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull};
  memcpy(s->h, H0, sizeof H0);
  s->bytes = 0;
  s->used = 0;
}

static void sha512_update(sha512 *s, const uint8_t *data, size_t len) {
  s->bytes += len;
  while (len) {
    size_t n = 128 - s->used < len ? 128 - s->used : len;
    memcpy(s->block + s->used, data, n);
    s->used += n;
    data += n;
    len -= n;
    if (s->used == 128) {
      compress(s->h, s->block);
      s->used = 0;
    }
  }
}

static void sha512_final(sha512 *s, uint8_t out[64]) {
  uint64_t bits = s->bytes * 8; // messages here are far below 2^64 bits: the length's high word is 0
  uint8_t pad = 0x80;
  sha512_update(s, &pad, 1);
  pad = 0;
  while (s->used != 112) sha512_update(s, &pad, 1);
  uint8_t len[16] = {0};
  for (int i = 0; i < 8; i++) len[8 + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha512_update(s, len, 16);
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < 8; k++) out[8 * i + k] = (uint8_t)(s->h[i] >> (56 - 8 * k));
}

int outpost_ed25519_check(const uint8_t signature[64], const uint8_t public_key[32], const uint8_t *message, size_t len) {
  sha512 s;
  uint8_t digest[64], k[32];
  sha512_init(&s);
  sha512_update(&s, signature, 32); // R
  sha512_update(&s, public_key, 32); // A
  sha512_update(&s, message, len);
  sha512_final(&s, digest);
  crypto_eddsa_reduce(k, digest);
  return crypto_eddsa_check_equation(signature, public_key, k) == 0 ? 0 : -1;
}
