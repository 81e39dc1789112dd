/*
 * utf8.c - the SDK's one UTF-8 validator (corio_int.h), shared by the JSON reader and
 * writer, the CBOR decoder, the MQTT codec, SenML and EAT.
 */
#include "corio_int.h"

size_t corio__utf8_seq(const uint8_t *p, size_t avail)
{
    uint8_t b = p[0];
    uint8_t lo = 0x80, hi = 0xbf;
    size_t n;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f; /* UTF-16 surrogates are not characters */
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

bool corio__utf8_ok(const void *s, size_t n)
{
    const uint8_t *p = s;
    for (size_t i = 0; i < n;) {
        size_t k = corio__utf8_seq(p + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}
