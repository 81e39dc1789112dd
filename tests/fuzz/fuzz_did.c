/*
 * fuzz_did.c - libFuzzer target for did:corio strings and short ids (sdk/src/did.c).
 *
 * Any input is refused or is the one spelling of what it parses to: printing the
 * parsed DID gives back exactly the input. Short ids likewise. Inputs of 33 or 65
 * bytes also go through corio_did_from_key as a public key, which must agree with the
 * point parser on validity. Buffers are exact, so ASan sees any overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "crypto_openssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        abort();
    memcpy(s, data, size);

    struct corio_did d;
    int rc = corio_did_parse(s, size, &d);
    if (rc == CORIO_OK) {
        char again[CORIO_DID_BUF];
        int n = corio_did_format(&d, again, sizeof again);
        if (n < 0 || (size_t)n != size || memcmp(again, s, size) != 0)
            abort();
        /* One byte short of the string and its NUL is refused, not overrun. */
        char *tight = malloc(size);
        if (!tight || corio_did_format(&d, tight, size) != CORIO_ERR_NOSPACE)
            abort();
        free(tight);
    } else if (rc != CORIO_ERR_MALFORMED) {
        abort();
    }

    uint8_t id[CORIO_DID_ID_LEN];
    rc = corio_did_id_parse(s, size, id);
    if (rc == CORIO_OK) {
        char again[CORIO_DID_ID_CHARS + 1];
        if (corio_did_id_format(id, again, sizeof again) != CORIO_DID_ID_CHARS ||
            size != CORIO_DID_ID_CHARS || memcmp(again, s, size) != 0)
            abort();
    } else if (rc != CORIO_ERR_MALFORMED) {
        abort();
    }

    if (size == 33 || size == 65) {
        uint8_t full[65];
        int point = corio_p256_point_parse(data, size, full);
        rc = corio_did_from_key(&corio_crypto_openssl_ops, data, size, &d);
        if ((point == CORIO_OK) != (rc == CORIO_OK))
            abort();
    }
    free(s);
    return 0;
}
