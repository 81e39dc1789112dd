/*
 * base58.c - base58btc (the Bitcoin alphabet), the multibase 'z' encoding that did:key
 * uses (include/corio/encoding.h).
 *
 * Base conversion needs scratch space the size of the result; with no heap we build
 * the result in the caller's output buffer, least significant digit first, then
 * reverse it. Both directions are quadratic in the length, which is fine for keys.
 */
#include "corio/encoding.h"

#include "corio/error.h"

static const char ALPHABET[58] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* The value of c in the alphabet, or -1. */
static int value_of(char c)
{
    for (int v = 0; v < 58; v++) {
        if (ALPHABET[v] == c)
            return v;
    }
    return -1;
}

static void reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        uint8_t t = p[i];
        p[i] = p[j - 1];
        p[j - 1] = t;
    }
}

int corio_base58_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap)
{
    if ((!in && in_len) || !out || in_len > CORIO_ENCODING_MAX_INPUT)
        return CORIO_ERR_INVAL;
    size_t zeros = 0;
    while (zeros < in_len && in[zeros] == 0)
        zeros++;
    /* digits[] holds base-58 digit values, least significant first, after the '1's. */
    uint8_t *digits = (uint8_t *)out;
    if (out_cap < zeros + 1)
        return CORIO_ERR_NOSPACE;
    size_t room = out_cap - zeros - 1; /* one byte stays for the NUL */
    size_t ndig = 0;
    for (size_t i = zeros; i < in_len; i++) {
        uint32_t carry = in[i];
        for (size_t j = 0; j < ndig; j++) {
            carry += (uint32_t)digits[zeros + j] << 8;
            digits[zeros + j] = (uint8_t)(carry % 58u);
            carry /= 58u;
        }
        while (carry > 0) {
            if (ndig == room)
                return CORIO_ERR_NOSPACE;
            digits[zeros + ndig++] = (uint8_t)(carry % 58u);
            carry /= 58u;
        }
    }
    reverse(digits + zeros, ndig);
    for (size_t j = 0; j < ndig; j++)
        out[zeros + j] = ALPHABET[digits[zeros + j]];
    for (size_t j = 0; j < zeros; j++)
        out[j] = '1';
    out[zeros + ndig] = '\0';
    return (int)(zeros + ndig);
}

int corio_base58_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap)
{
    if ((!in && in_len) || !out || in_len > CORIO_ENCODING_MAX_INPUT)
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < in_len; i++) {
        if (value_of(in[i]) < 0)
            return CORIO_ERR_MALFORMED;
    }
    size_t ones = 0;
    while (ones < in_len && in[ones] == '1')
        ones++;
    if (out_cap < ones)
        return CORIO_ERR_NOSPACE;
    size_t room = out_cap - ones;
    uint8_t *bytes = out + ones; /* least significant first until the end */
    size_t nbytes = 0;
    for (size_t i = ones; i < in_len; i++) {
        uint32_t carry = (uint32_t)value_of(in[i]);
        for (size_t j = 0; j < nbytes; j++) {
            carry += (uint32_t)bytes[j] * 58u;
            bytes[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry > 0) {
            if (nbytes == room)
                return CORIO_ERR_NOSPACE;
            bytes[nbytes++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    reverse(bytes, nbytes);
    for (size_t j = 0; j < ones; j++)
        out[j] = 0;
    return (int)(ones + nbytes);
}
