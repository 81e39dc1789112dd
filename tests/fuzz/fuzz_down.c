/*
 * fuzz_down.c - libFuzzer target for the downlink container and the gateway state
 * decoders (common/down.h), which a gateway runs on what arrives on its down topic
 * (after the signature) and the cloud on every state message. Each input goes to both.
 * What decodes must encode again to the same bytes (both formats are deterministic and
 * read strictly), and every view must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "down.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
    const uint8_t *q = p;
    return n == 0 || (q >= data && n <= size && q - data <= (long)(size - n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[128];
    struct corio_down d;
    int rc = corio_down_decode(data, size, &d, why, sizeof why);
    if (rc == CORIO_OK) {
        for (size_t i = 0; i < d.nitems; i++) {
            const struct corio_down_item *it = &d.items[i];
            CHECK(inside(it->payload.p, it->payload.n, data, size));
            CHECK(inside(it->update.p, it->update.n, data, size));
            CHECK(inside(it->sth.p, it->sth.n, data, size));
            for (size_t b = 0; b < it->nblocks; b++)
                CHECK(inside(it->blocks[b].p, it->blocks[b].n, data, size));
        }
        int64_t n = corio_down_encode(&d, NULL, 0);
        CHECK(n == (int64_t)size);
        uint8_t *out = malloc(size ? size : 1);
        CHECK(out && corio_down_encode(&d, out, size) == n && memcmp(out, data, size) == 0);
        free(out);
        corio_down_free(&d);
    } else {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION || rc == CORIO_ERR_POLICY ||
              rc == CORIO_ERR_NOSPACE);
        CHECK(d.items == NULL && d.nitems == 0);
    }
    struct corio_gw_state s;
    rc = corio_state_decode(data, size, &s, why, sizeof why);
    if (rc == CORIO_OK) {
        int64_t n = corio_state_encode(&s, NULL, 0);
        CHECK(n == (int64_t)size);
        uint8_t *out = malloc(size ? size : 1);
        CHECK(out && corio_state_encode(&s, out, size) == n && memcmp(out, data, size) == 0);
        free(out);
        corio_state_free(&s);
    } else {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION || rc == CORIO_ERR_POLICY ||
              rc == CORIO_ERR_NOSPACE);
    }
    return 0;
}
