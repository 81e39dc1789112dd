/*
 * base64url.c - RFC 4648 section 5 base64url without padding (encoding.h): how binary
 * tokens such as an EAT travel in text fields. Strict in both directions, so a token
 * has one spelling.
 */
#include "corio/encoding.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int corio_base64url_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap)
{
    if ((!in && in_len) || !out || in_len > CORIO_ENCODING_MAX_INPUT)
        return CORIO_ERR_INVAL;
    size_t need = CORIO_BASE64URL_ENCODED_LEN(in_len);
    if (out_cap < need + 1)
        return CORIO_ERR_NOSPACE;
    size_t o = 0, i = 0;
    for (; i + 3 <= in_len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (in_len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (in_len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return (int)o;
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int corio_base64url_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap)
{
    if ((!in && in_len) || !out || in_len > CORIO_ENCODING_MAX_INPUT)
        return CORIO_ERR_INVAL;
    if (in_len % 4 == 1)
        return CORIO_ERR_MALFORMED;
    size_t need = CORIO_BASE64URL_DECODED_LEN(in_len);
    if (out_cap < need)
        return CORIO_ERR_NOSPACE;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < in_len; i++) {
        int v = value_of(in[i]);
        if (v < 0)
            return CORIO_ERR_MALFORMED;
        acc = (acc << 6 | (uint32_t)v) & 0xffffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* The bits left over must be zero, or two spellings would decode alike. */
    if (bits && (acc & ((1u << bits) - 1u)))
        return CORIO_ERR_MALFORMED;
    return (int)o;
}
