/* fuzz_ledger_sth.c - signed tree heads (ledger/sth.c) on arbitrary bytes: the
 * COSE_Sign1 verifier and the payload decoder refuse or accept, never crash; a payload
 * that decodes must re-encode to exactly its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "crypto_openssl.h"
#include "ledger_sth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_sth s;
    uint8_t signer[33];
    corio_sth_verify(&corio_crypto_openssl_ops, data, size, NULL, &s, signer);
    if (corio_sth_payload_decode(data, size, &s) == CORIO_OK) {
        uint8_t again[256];
        if (corio_sth_payload_encode(&s, again, sizeof again) != (int)size ||
            memcmp(again, data, size) != 0)
            abort();
    }
    return 0;
}
