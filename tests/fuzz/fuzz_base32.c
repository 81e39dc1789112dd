/*
 * fuzz_base32.c - libFuzzer target for the strict base32 decoder (sdk/src/base32.c).
 *
 * Any input either is refused or decodes to bytes that encode back to exactly the
 * input (one spelling per id); and any input, taken as bytes, round-trips through
 * the encoder. Output buffers are sized exactly, so ASan sees any overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/encoding.h"
#include "corio/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    size_t dec_cap = CORIO_BASE32_DECODED_LEN(size);
    uint8_t *dec = malloc(dec_cap ? dec_cap : 1);
    char *again = malloc(size + 1);
    if (!dec || !again)
        abort();
    int n = corio_base32_decode((const char *)data, size, dec, dec_cap);
    if (n >= 0) {
        if ((size_t)n != dec_cap)
            abort();
        if (corio_base32_encode(dec, (size_t)n, again, size + 1) != (int)size ||
            memcmp(again, data, size) != 0 || again[size] != '\0')
            abort();
    } else if (n != CORIO_ERR_MALFORMED) {
        abort();
    }
    free(dec);
    free(again);

    size_t enc_len = CORIO_BASE32_ENCODED_LEN(size);
    char *enc = malloc(enc_len + 1);
    uint8_t *back = malloc(size ? size : 1);
    if (!enc || !back)
        abort();
    if (corio_base32_encode(data, size, enc, enc_len + 1) != (int)enc_len)
        abort();
    if (corio_base32_decode(enc, enc_len, back, size) != (int)size || memcmp(back, data, size) != 0)
        abort();
    free(enc);
    free(back);
    return 0;
}
