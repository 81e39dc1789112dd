/*
 * utf8.c - the SDK's one UTF-8 validator (corio_int.h), shared by the JSON reader and
 * writer, the CBOR decoder, the MQTT codec, SenML and EAT.
 */
#include "corio_int.h"

size_t corio__utf8_seq(const uint8_t *p, size_t avail)
{
    uint8_t b = p[0];
    if (b < 0x80)
        return 1;
    /* Continuation bytes after the lead: 1 from 0xc2, 2 from 0xe0, 3 from 0xf0. */
    size_t n = (size_t)(b >= 0xc2) + (b >= 0xe0) + (b >= 0xf0);
    if (n == 0 || b > 0xf4 || avail <= n)
        return 0;
    /* The second byte's range is narrower after four lead bytes: no overlong forms,
     * no UTF-16 surrogates (0xed), nothing above U+10FFFF (0xf4). */
    unsigned lo = b == 0xe0 ? 0xa0 : b == 0xf0 ? 0x90 : 0x80;
    unsigned hi = b == 0xed ? 0x9f : b == 0xf4 ? 0x8f : 0xbf;
    for (size_t i = 1; i <= n; i++) {
        if (p[i] < lo || p[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xbf;
    }
    return n + 1;
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
