/*
 * fuzz_dl_result.c - libFuzzer target for the command result decoder
 * (corio_cmd_result_decode, include/corio/downlink.h), which corio-cloud runs on every
 * up/res message and the gateway on every result it sees pass. Views must lie inside
 * the input; a result that decodes must encode again to one that decodes the same.
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
    struct corio_cmd_result r, back;
    int rc = corio_cmd_result_decode(data, size, &r);
    if (rc != CORIO_OK) {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION);
        return 0;
    }
    CHECK(inside(r.cid, r.cid_len, data, size) && r.cid_len >= 1);
    CHECK(inside(r.res, r.res_len, data, size));
    CHECK(r.status <= CORIO_CMD_STATUS_MAX && r.err <= 0);
    CHECK(!r.has_id || r.seq >= 1);
    int n = corio_cmd_result_encode(&r, NULL, 0);
    CHECK(n > 0);
    uint8_t *out = malloc((size_t)n);
    CHECK(out);
    CHECK(corio_cmd_result_encode(&r, out, (size_t)n) == n);
    CHECK(corio_cmd_result_decode(out, (size_t)n, &back) == CORIO_OK);
    CHECK(back.has_id == r.has_id && back.epoch == r.epoch && back.seq == r.seq);
    CHECK(back.cid_len == r.cid_len && memcmp(back.cid, r.cid, r.cid_len) == 0);
    CHECK(back.status == r.status && back.err == r.err);
    CHECK(back.res_len == r.res_len && (!r.res_len || memcmp(back.res, r.res, r.res_len) == 0));
    free(out);
    return 0;
}
