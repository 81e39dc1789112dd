/*
 * fuzz_base58.c - libFuzzer target for the base58btc decoder (sdk/src/base58.c).
 *
 * Any input either is refused or decodes to bytes that encode back to exactly the
 * input; any input taken as bytes round-trips through the encoder within the
 * documented size bounds. Buffers are sized exactly, so ASan sees any overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/encoding.h"
#include "corio/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Quadratic by design (identifiers): keep each run short. */
    if (size > 512)
        return 0;
    size_t dec_cap = CORIO_BASE58_DECODED_MAX(size);
    uint8_t *dec = malloc(dec_cap ? dec_cap : 1);
    char *again = malloc(size + 1);
    if (!dec || !again)
        abort();
    int n = corio_base58_decode((const char *)data, size, dec, dec_cap);
    if (n >= 0) {
        if (corio_base58_encode(dec, (size_t)n, again, size + 1) != (int)size ||
            memcmp(again, data, size) != 0)
            abort();
        /* One byte less than the result must be refused, not overrun. */
        if (n > 0 &&
            corio_base58_decode((const char *)data, size, dec, (size_t)n - 1) != CORIO_ERR_NOSPACE)
            abort();
    } else if (n != CORIO_ERR_MALFORMED) {
        abort();
    }
    free(dec);
    free(again);

    size_t enc_cap = CORIO_BASE58_ENCODED_MAX(size) + 1;
    char *enc = malloc(enc_cap);
    uint8_t *back = malloc(size ? size : 1);
    if (!enc || !back)
        abort();
    int m = corio_base58_encode(data, size, enc, enc_cap);
    if (m < 0 || (size_t)m >= enc_cap || enc[m] != '\0')
        abort();
    if (corio_base58_decode(enc, (size_t)m, back, size) != (int)size ||
        memcmp(back, data, size) != 0)
        abort();
    free(enc);
    free(back);
    return 0;
}
