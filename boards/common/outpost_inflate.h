// A raw deflate (RFC 1951) decoder for OTA chunks (docs/ota.md, "Compressed chunks"): one whole stream
// into a bounded output buffer, with a preset dictionary (the bytes before the output, e.g. the slot's
// earlier bytes) reached through a callback. No heap; the Huffman tables live on the stack (~1.4 KiB).
// Written from the RFC; every malformed stream is refused with a named error.
#ifndef OUTPOST_INFLATE_H
#define OUTPOST_INFLATE_H

#include <stddef.h>
#include <stdint.h>

enum {
  OUTPOST_INFLATE_TRUNCATED = -1, // the input ended inside the stream
  OUTPOST_INFLATE_BAD_BLOCK_TYPE = -2, // block type 3
  OUTPOST_INFLATE_BAD_STORED_LENGTH = -3, // a stored block's NLEN is not LEN's complement
  OUTPOST_INFLATE_BAD_CODE_LENGTHS =
      -4, // a Huffman code over-subscribed, a repeat with nothing before it, too many lengths, no end-of-block code
  OUTPOST_INFLATE_BAD_SYMBOL = -5, // a code that is not in the table, length symbol 286/287, distance symbol 30/31
  OUTPOST_INFLATE_DISTANCE_TOO_FAR = -6, // a match reaching before the dictionary's start
  OUTPOST_INFLATE_OUTPUT_FULL = -7, // more output than out_cap
  OUTPOST_INFLATE_TRAILING_DATA = -8, // bytes after the final block
  OUTPOST_INFLATE_DICTIONARY_FAILED = -9, // the history callback failed (storage)
};

// Reads the byte `back` bytes before the output's start (back >= 1) into *out: 0, or -1.
typedef int (*outpost_inflate_history)(void *ctx, uint32_t back, uint8_t *out);

// Inflates the in_len bytes at in into out (at most out_cap bytes). dict_len: how many bytes of history there
// are before the output (matches may reach back that far, at most 32768). Returns the output length or an
// OUTPOST_INFLATE_* error.
long outpost_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, uint32_t dict_len,
                     outpost_inflate_history history, void *ctx);

// The error's name ("truncated", "bad_symbol", ...).
const char *outpost_inflate_error_name(long code);

#endif
