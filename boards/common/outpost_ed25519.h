// Ed25519 signature verification (RFC 8032, pure Ed25519) for the OTA release manifest:
// SHA-512 here, the curve arithmetic from Monocypher (fetch-monocypher.sh). One verifier
// for every C board.
#ifndef OUTPOST_ED25519_H
#define OUTPOST_ED25519_H

#include <stddef.h>
#include <stdint.h>

// 0 when `signature` is public_key's over the message, -1 otherwise.
int outpost_ed25519_check(const uint8_t signature[64], const uint8_t public_key[32], const uint8_t *message, size_t len);

#endif
