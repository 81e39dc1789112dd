/*
 * fuzz_didkey.c - libFuzzer target for P-256 did:key and multibase keys
 * (sdk/src/did_key.c).
 *
 * An accepted did:key (or "zDn..." key) is a valid point whose printed form is exactly
 * the input (or, for "did:key:<mb>#<mb>", the part before the '#'). Every refusal is
 * CORIO_ERR_MALFORMED. Buffers are exact, so ASan sees any overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    uint8_t pub[65];

    int rc = corio_didkey_parse(s, size, pub);
    if (rc == CORIO_OK) {
        char again[CORIO_DIDKEY_BUF];
        if (corio_p256_point_check(pub) != CORIO_OK ||
            corio_didkey_format(pub, sizeof pub, again, sizeof again) != CORIO_DIDKEY_LEN ||
            size < CORIO_DIDKEY_LEN || memcmp(again, s, CORIO_DIDKEY_LEN) != 0)
            abort();
        if (size != CORIO_DIDKEY_LEN &&
            (size != CORIO_DIDKEY_LEN + 1 + CORIO_MULTIKEY_LEN || s[CORIO_DIDKEY_LEN] != '#'))
            abort();
    } else if (rc != CORIO_ERR_MALFORMED) {
        abort();
    }

    rc = corio_multikey_parse(s, size, pub);
    if (rc == CORIO_OK) {
        char again[CORIO_MULTIKEY_LEN + 1];
        if (corio_multikey_format(pub, sizeof pub, again, sizeof again) != CORIO_MULTIKEY_LEN ||
            size != CORIO_MULTIKEY_LEN || memcmp(again, s, size) != 0)
            abort();
    } else if (rc != CORIO_ERR_MALFORMED) {
        abort();
    }
    free(s);
    return 0;
}
