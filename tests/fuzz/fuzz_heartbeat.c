/*
 * fuzz_heartbeat.c - libFuzzer target for the heartbeat decoder
 * (include/corio/heartbeat.h). Every input is tried as JSON and as CBOR; a heartbeat
 * that decodes must encode again, in both formats, to something that decodes to the
 * same values, and a failed decode must leave the output untouched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/heartbeat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)     \
    do {             \
        if (!(c))    \
            abort(); \
    } while (0)

static void one(enum corio_format fmt, const uint8_t *data, size_t size)
{
    struct corio_heartbeat hb, back;
    memset(&hb, 0x5a, sizeof hb);
    struct corio_heartbeat before = hb;
    int rc = corio_heartbeat_decode(fmt, data, size, &hb);
    if (rc != CORIO_OK) {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_UNSUPPORTED);
        CHECK(memcmp(&hb, &before, sizeof hb) == 0);
        return;
    }
    static const enum corio_format fmts[] = {CORIO_FORMAT_JSON, CORIO_FORMAT_CBOR};
    for (int f = 0; f < 2; f++) {
        uint8_t out[CORIO_HEARTBEAT_MAX];
        int n = corio_heartbeat_encode(fmts[f], &hb, out, sizeof out);
        CHECK(n > 0);
        CHECK(corio_heartbeat_decode(fmts[f], out, (size_t)n, &back) == CORIO_OK);
        CHECK(memcmp(&back, &hb, sizeof hb) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(CORIO_FORMAT_JSON, data, size);
    one(CORIO_FORMAT_CBOR, data, size);
    return 0;
}
