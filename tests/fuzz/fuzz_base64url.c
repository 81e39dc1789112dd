/* fuzz_base64url.c - the base64url decoder: whatever it accepts re-encodes to exactly
 * the input (one spelling per value). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t out[4096];
    if (size > 5000)
        return 0;
    int n = corio_base64url_decode((const char *)data, size, out, sizeof out);
    if (n >= 0) {
        char again[5500];
        if (corio_base64url_encode(out, (size_t)n, again, sizeof again) != (int)size ||
            memcmp(again, data, size) != 0)
            abort();
    }
    return 0;
}
