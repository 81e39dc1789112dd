/*
 * fuzz_reglines.c - libFuzzer target for the registry line model (common/relay.h) that
 * a gateway runs on the registry updates the cloud relays. The input is two texts
 * separated by the first NUL byte: a registry and an update. Parsing and applying must
 * not crash; when both parse, the diff from the registry to the updated one must turn
 * the first into the second, and formatting must be read back to the same entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(data, 0, size);
    size_t a_len = nul ? (size_t)(nul - text) : size;
    const char *u = nul ? nul + 1 : "";
    size_t u_len = nul ? size - a_len - 1 : 0;
    char why[128];
    struct corio_reglines *a, *b;
    uint64_t h;
    if (corio_reglines_parse(text, a_len, &a, &h, why, sizeof why) != CORIO_OK)
        return 0;
    CHECK(corio_reglines_parse(text, a_len, &b, NULL, why, sizeof why) == CORIO_OK);
    if (corio_reglines_apply(b, u, u_len, why, sizeof why) == CORIO_OK) {
        size_t dn, x_len, y_len;
        char *d = corio_reglines_diff(a, b, &dn);
        CHECK(d);
        CHECK(corio_reglines_apply(a, d, dn, why, sizeof why) == CORIO_OK);
        char *x = corio_reglines_format(a, h, &x_len), *y = corio_reglines_format(b, h, &y_len);
        CHECK(x && y && x_len == y_len && memcmp(x, y, x_len) == 0);
        struct corio_reglines *c;
        uint64_t h2;
        CHECK(corio_reglines_parse(x, x_len, &c, &h2, why, sizeof why) == CORIO_OK && h2 == h);
        CHECK(corio_reglines_count(c) == corio_reglines_count(b));
        corio_reglines_free(c);
        free(d);
        free(x);
        free(y);
    }
    corio_reglines_free(a);
    corio_reglines_free(b);
    return 0;
}
