/*
 * fuzz_device_resend.c - libFuzzer target for the dn/resend payload decoder
 * (corio_device_resend_decode, include/corio/device.h), which a device runs on whatever
 * arrives on its downlink. A payload that decodes must encode again to one that decodes
 * to the same request; a refused one must leave the outputs untouched and be refused for
 * a documented reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint64_t marker = 0x5a5a5a5a5a5a5a5aull;
    uint64_t epoch = marker, from = marker, e2, f2;
    int rc = corio_device_resend_decode(data, size, &epoch, &from);
    if (rc != CORIO_OK) {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION);
        CHECK(epoch == marker && from == marker);
        return 0;
    }
    CHECK(from >= 1);
    uint8_t out[32];
    int n = corio_device_resend_encode(epoch, from, out, sizeof out);
    CHECK(n > 0);
    CHECK(corio_device_resend_decode(out, (size_t)n, &e2, &f2) == CORIO_OK);
    CHECK(e2 == epoch && f2 == from);
    return 0;
}
