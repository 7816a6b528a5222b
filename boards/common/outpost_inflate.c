// Raw deflate (RFC 1951) for OTA chunks: stored, fixed and dynamic Huffman blocks, decoded canonically (a
// code's length and its rank among the codes of that length give the symbol, section 3.2.2). Bounded:
// the output never passes out_cap, every table index is checked, the input is read only inside in_len.
#include "outpost_inflate.h"

#define MAX_BITS 15
#define LITLEN_SYMBOLS 288 // 286 used; the fixed code defines 288
#define DIST_SYMBOLS 32 // 30 used
#define WINDOW 32768u

typedef struct {
  uint16_t count[MAX_BITS + 1]; // codes of each length
  uint16_t symbol[LITLEN_SYMBOLS]; // symbols by (length, value): canonical order
} huffman;

typedef struct {
  const uint8_t *in;
  size_t in_len, in_pos;
  uint32_t bits; // unread bits, least significant first
  unsigned bit_count; // < 8 between reads
  uint8_t *out;
  size_t out_cap, out_len;
  uint32_t dict_len;
  outpost_inflate_history history;
  void *ctx;
} stream;

// The tables for one block: static, so a board's stack does not carry them.
static huffman litlen, dist;

static int take_bits(stream *s, unsigned n, uint32_t *value) {
  while (s->bit_count < n) {
    if (s->in_pos >= s->in_len) return OUTPOST_INFLATE_TRUNCATED;
    s->bits |= (uint32_t)s->in[s->in_pos++] << s->bit_count;
    s->bit_count += 8;
  }
  *value = s->bits & ((1u << n) - 1u);
  s->bits >>= n;
  s->bit_count -= n;
  return 0;
}

// Builds h from code lengths (0: unused). Over-subscribed sets are refused; incomplete ones are allowed (a
// code that is not assigned decodes as bad_symbol).
static int build(huffman *h, const uint8_t *lengths, unsigned n) {
  for (unsigned len = 0; len <= MAX_BITS; len++) h->count[len] = 0;
  for (unsigned i = 0; i < n; i++) h->count[lengths[i]]++;
  int left = 1;
  for (unsigned len = 1; len <= MAX_BITS; len++) {
    left = left * 2 - h->count[len];
    if (left < 0) return OUTPOST_INFLATE_BAD_CODE_LENGTHS;
  }
  uint16_t next[MAX_BITS + 1];
  next[1] = 0;
  for (unsigned len = 1; len < MAX_BITS; len++) next[len + 1] = (uint16_t)(next[len] + h->count[len]);
  for (unsigned i = 0; i < n; i++)
    if (lengths[i]) h->symbol[next[lengths[i]]++] = (uint16_t)i;
  return 0;
}

// One symbol: Huffman codes are packed most significant bit first (section 3.1.1).
static int decode(stream *s, const huffman *h) {
  int code = 0, first = 0, index = 0;
  for (unsigned len = 1; len <= MAX_BITS; len++) {
    uint32_t bit;
    if (take_bits(s, 1, &bit)) return OUTPOST_INFLATE_TRUNCATED;
    code |= (int)bit;
    int count = h->count[len];
    if (code - first < count) return h->symbol[index + code - first];
    index += count;
    first = (first + count) << 1;
    code <<= 1;
  }
  return OUTPOST_INFLATE_BAD_SYMBOL;
}

static const uint16_t length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                         31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int put(stream *s, uint8_t byte) {
  if (s->out_len >= s->out_cap) return OUTPOST_INFLATE_OUTPUT_FULL;
  s->out[s->out_len++] = byte;
  return 0;
}

// Literals and matches until the end-of-block symbol.
static int codes(stream *s) {
  for (;;) {
    int symbol = decode(s, &litlen);
    if (symbol < 0) return symbol;
    if (symbol < 256) {
      int rc = put(s, (uint8_t)symbol);
      if (rc) return rc;
      continue;
    }
    if (symbol == 256) return 0;
    symbol -= 257;
    if (symbol >= 29) return OUTPOST_INFLATE_BAD_SYMBOL;
    uint32_t extra;
    if (take_bits(s, length_extra[symbol], &extra)) return OUTPOST_INFLATE_TRUNCATED;
    uint32_t length = length_base[symbol] + extra;
    symbol = decode(s, &dist);
    if (symbol < 0) return symbol;
    if (symbol >= 30) return OUTPOST_INFLATE_BAD_SYMBOL;
    if (take_bits(s, dist_extra[symbol], &extra)) return OUTPOST_INFLATE_TRUNCATED;
    uint32_t distance = dist_base[symbol] + extra;
    if (distance > s->out_len + s->dict_len) return OUTPOST_INFLATE_DISTANCE_TOO_FAR;
    if (length > s->out_cap - s->out_len) return OUTPOST_INFLATE_OUTPUT_FULL;
    for (; length; length--) {
      uint8_t byte;
      if (distance > s->out_len) { // in the dictionary, before the output
        if (s->history(s->ctx, (uint32_t)(distance - s->out_len), &byte)) return OUTPOST_INFLATE_DICTIONARY_FAILED;
      } else {
        byte = s->out[s->out_len - distance];
      }
      s->out[s->out_len++] = byte;
    }
  }
}

static int stored(stream *s) {
  s->bits = 0; // to the byte boundary (fewer than 8 bits are ever buffered)
  s->bit_count = 0;
  if (s->in_len - s->in_pos < 4) return OUTPOST_INFLATE_TRUNCATED;
  const uint8_t *p = s->in + s->in_pos;
  unsigned len = p[0] | p[1] << 8, nlen = p[2] | p[3] << 8;
  if (len != (~nlen & 0xFFFFu)) return OUTPOST_INFLATE_BAD_STORED_LENGTH;
  s->in_pos += 4;
  if (s->in_len - s->in_pos < len) return OUTPOST_INFLATE_TRUNCATED;
  if (len > s->out_cap - s->out_len) return OUTPOST_INFLATE_OUTPUT_FULL;
  for (unsigned i = 0; i < len; i++) s->out[s->out_len++] = s->in[s->in_pos++];
  return 0;
}

static int fixed(stream *s) {
  uint8_t lengths[LITLEN_SYMBOLS];
  unsigned i = 0;
  for (; i < 144; i++) lengths[i] = 8;
  for (; i < 256; i++) lengths[i] = 9;
  for (; i < 280; i++) lengths[i] = 7;
  for (; i < LITLEN_SYMBOLS; i++) lengths[i] = 8;
  build(&litlen, lengths, LITLEN_SYMBOLS);
  for (i = 0; i < DIST_SYMBOLS; i++) lengths[i] = 5;
  build(&dist, lengths, DIST_SYMBOLS);
  return codes(s);
}

// Section 3.2.7: the code-length code, then the literal/length and distance code lengths it encodes.
static int dynamic(stream *s) {
  static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  uint32_t hlit, hdist, hclen;
  if (take_bits(s, 5, &hlit) || take_bits(s, 5, &hdist) || take_bits(s, 4, &hclen)) return OUTPOST_INFLATE_TRUNCATED;
  hlit += 257, hdist += 1, hclen += 4;
  if (hlit > 286 || hdist > 30) return OUTPOST_INFLATE_BAD_CODE_LENGTHS;
  uint8_t lengths[286 + 30];
  for (unsigned i = 0; i < 19; i++) {
    uint32_t v = 0;
    if (i < hclen && take_bits(s, 3, &v)) return OUTPOST_INFLATE_TRUNCATED;
    lengths[order[i]] = (uint8_t)v;
  }
  if (build(&litlen, lengths, 19)) return OUTPOST_INFLATE_BAD_CODE_LENGTHS; // litlen holds the length code for now
  for (unsigned i = 0; i < hlit + hdist;) {
    int symbol = decode(s, &litlen);
    if (symbol < 0) return symbol;
    if (symbol < 16) {
      lengths[i++] = (uint8_t)symbol;
      continue;
    }
    uint32_t repeat;
    uint8_t value = 0;
    if (symbol == 16) {
      if (i == 0) return OUTPOST_INFLATE_BAD_CODE_LENGTHS;
      value = lengths[i - 1];
      if (take_bits(s, 2, &repeat)) return OUTPOST_INFLATE_TRUNCATED;
      repeat += 3;
    } else if (symbol == 17) {
      if (take_bits(s, 3, &repeat)) return OUTPOST_INFLATE_TRUNCATED;
      repeat += 3;
    } else {
      if (take_bits(s, 7, &repeat)) return OUTPOST_INFLATE_TRUNCATED;
      repeat += 11;
    }
    if (i + repeat > hlit + hdist) return OUTPOST_INFLATE_BAD_CODE_LENGTHS;
    while (repeat--) lengths[i++] = value;
  }
  if (lengths[256] == 0) return OUTPOST_INFLATE_BAD_CODE_LENGTHS; // no end of block
  if (build(&litlen, lengths, hlit) || build(&dist, lengths + hlit, hdist)) return OUTPOST_INFLATE_BAD_CODE_LENGTHS;
  return codes(s);
}

long outpost_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, uint32_t dict_len,
                     outpost_inflate_history history, void *ctx) {
  stream s = {in, in_len, 0, 0, 0, out, out_cap, 0, dict_len < WINDOW ? dict_len : WINDOW, history, ctx};
  uint32_t last;
  do {
    uint32_t type;
    if (take_bits(&s, 1, &last) || take_bits(&s, 2, &type)) return OUTPOST_INFLATE_TRUNCATED;
    int rc = type == 0 ? stored(&s) : type == 1 ? fixed(&s) : type == 2 ? dynamic(&s) : OUTPOST_INFLATE_BAD_BLOCK_TYPE;
    if (rc) return rc;
  } while (!last);
  if (s.in_pos != s.in_len) return OUTPOST_INFLATE_TRAILING_DATA;
  return (long)s.out_len;
}

const char *outpost_inflate_error_name(long code) {
  static const char *const names[] = {"truncated",        "bad_block_type", "bad_stored_length", "bad_code_lengths", "bad_symbol",
                                      "distance_too_far", "output_full",    "trailing_data",     "dictionary_failed"};
  return code < 0 && code >= -9 ? names[-code - 1] : "ok";
}
