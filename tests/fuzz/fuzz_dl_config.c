/*
 * fuzz_dl_config.c - libFuzzer target for the device twin's decoders
 * (corio_cfg_desired_decode on dn/cfg, corio_cfg_reported_decode on up/cfg;
 * include/corio/downlink.h). Each input goes to both. Views must lie inside the input;
 * what decodes must encode again to something that decodes the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/downlink.h"

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
    struct corio_cfg_desired d, dback;
    int rc = corio_cfg_desired_decode(data, size, &d);
    if (rc == CORIO_OK) {
        CHECK(inside(d.cfg, d.cfg_len, data, size) && d.cfg_len >= 1 && d.version >= 1);
        int n = corio_cfg_desired_encode(&d, NULL, 0);
        CHECK(n > 0);
        uint8_t *out = malloc((size_t)n);
        CHECK(out);
        CHECK(corio_cfg_desired_encode(&d, out, (size_t)n) == n);
        CHECK(corio_cfg_desired_decode(out, (size_t)n, &dback) == CORIO_OK);
        CHECK(dback.version == d.version && dback.cfg_len == d.cfg_len &&
              memcmp(dback.cfg, d.cfg, d.cfg_len) == 0);
        free(out);
    } else {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION);
    }
    struct corio_cfg_reported r, rback;
    rc = corio_cfg_reported_decode(data, size, &r);
    if (rc != CORIO_OK) {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION);
        return 0;
    }
    CHECK(inside(r.cfg, r.cfg_len, data, size));
    CHECK(r.status <= CORIO_CFG_REFUSED && r.err <= 0 && (!r.has_id || r.seq >= 1));
    int n = corio_cfg_reported_encode(&r, NULL, 0);
    CHECK(n > 0);
    uint8_t *out = malloc((size_t)n);
    CHECK(out);
    CHECK(corio_cfg_reported_encode(&r, out, (size_t)n) == n);
    CHECK(corio_cfg_reported_decode(out, (size_t)n, &rback) == CORIO_OK);
    CHECK(rback.has_id == r.has_id && rback.epoch == r.epoch && rback.seq == r.seq &&
          rback.version == r.version && rback.status == r.status && rback.err == r.err &&
          rback.cfg_len == r.cfg_len && (!r.cfg_len || memcmp(rback.cfg, r.cfg, r.cfg_len) == 0));
    free(out);
    return 0;
}
