/*
 * utf8.c - the SDK's one UTF-8 validator (corio_int.h), shared by the JSON reader and
 * writer, the CBOR decoder, the MQTT codec, SenML and EAT.
 */
#include "corio_int.h"

size_t corio__utf8_seq(const uint8_t *p, size_t avail)
{
    uint8_t b = p[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (b < 0x80)
        return 1;
    if (b < 0xc2 || b > 0xf4)
        return 0;
    n = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    /* The second byte's range is narrower after four lead bytes: no overlong forms,
     * no UTF-16 surrogates (0xed), nothing above U+10FFFF (0xf4). */
    if (b == 0xe0)
        lo = 0xa0;
    else if (b == 0xed)
        hi = 0x9f;
    else if (b == 0xf0)
        lo = 0x90;
    else if (b == 0xf4)
        hi = 0x8f;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] < lo || p[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xbf;
    }
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
