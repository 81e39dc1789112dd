/*
 * fuzz_device_time.c - libFuzzer target for the dn/time payload decoder
 * (corio_device_time_decode, include/corio/device.h), which a device runs on whatever
 * arrives on its downlink. A payload that decodes must encode again to one that
 * decodes to the same time; a refused one must leave the output untouched and be
 * refused for a documented reason.
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
    uint64_t ms = 0x5a5a5a5a5a5a5a5aull, back;
    int rc = corio_device_time_decode(data, size, &ms);
    if (rc != CORIO_OK) {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION);
        CHECK(ms == 0x5a5a5a5a5a5a5a5aull);
        return 0;
    }
    uint8_t out[16];
    int n = corio_device_time_encode(ms, out, sizeof out);
    CHECK(n > 0);
    CHECK(corio_device_time_decode(out, (size_t)n, &back) == CORIO_OK);
    CHECK(back == ms);
    return 0;
}
