/*
 * base32.c - RFC 4648 base32, lowercase and unpadded, as did:corio spells its short
 * ids (include/corio/encoding.h). Decoding is strict so that an id has exactly one
 * spelling: no upper case, no padding, no impossible lengths, no stray trailing bits.
 */
#include "corio/encoding.h"

#include "corio/error.h"

/* The character of the 5-bit value v: the alphabet a-z 2-7, computed, not a table. */
static char char_of(uint32_t v)
{
    v &= 31u;
    return (char)(v < 26 ? 'a' + v : '2' - 26 + v);
}

/* The 5-bit value of c, or -1 when c is not in the alphabet. */
static int value_of(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

int corio_base32_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap)
{
    if ((!in && in_len) || !out || in_len > CORIO_ENCODING_MAX_INPUT)
        return CORIO_ERR_INVAL;
    size_t need = CORIO_BASE32_ENCODED_LEN(in_len);
    if (out_cap < need + 1)
        return CORIO_ERR_NOSPACE;
    /* Character k holds bits 5k..5k+4 of the input (in_len is small enough for 5k). */
    for (size_t k = 0; k < need; k++) {
        size_t i = k * 5 / 8;
        uint32_t v = (uint32_t)in[i] << 8 | (i + 1 < in_len ? in[i + 1] : 0u);
        out[k] = char_of(v >> (11 - k * 5 % 8));
    }
    out[need] = '\0';
    return (int)need;
}

int corio_base32_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap)
{
    if ((!in && in_len) || !out || in_len > CORIO_ENCODING_MAX_INPUT)
        return CORIO_ERR_INVAL;
    switch (in_len % 8) {
    case 1:
    case 3:
    case 6:
        return CORIO_ERR_MALFORMED;
    default:
        break;
    }
    for (size_t i = 0; i < in_len; i++) {
        if (value_of(in[i]) < 0)
            return CORIO_ERR_MALFORMED;
    }
    size_t need = CORIO_BASE32_DECODED_LEN(in_len);
    if (out_cap < need)
        return CORIO_ERR_NOSPACE;
    uint32_t acc = 0; /* never holds more than 12 bits */
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < in_len; i++) {
        acc = (acc << 5 | (uint32_t)value_of(in[i])) & 0xfffu;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* The last character's unused low bits must be zero, or two spellings decode alike. */
    if ((acc & ((1u << bits) - 1u)) != 0)
        return CORIO_ERR_MALFORMED;
    return (int)o;
}
