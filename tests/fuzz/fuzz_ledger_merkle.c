/* fuzz_ledger_merkle.c - the offline proof verifiers (ledger/merkle.c) on hostile
 * proofs: a first byte choosing inclusion or consistency, two big-endian 64-bit sizes,
 * then 32-byte hashes (leaf or first root, root or second root, the proof). They must
 * refuse or accept without reading outside the proof, whatever the sizes claim. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "ledger_merkle.h"

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 17 + 64)
        return 0;
    uint64_t a = be64(data + 1), b = be64(data + 9);
    const uint8_t *h1 = data + 17, *h2 = data + 49;
    size_t n = (size - 81) / 32;
    if (n > CORIO_MERKLE_MAX_PROOF)
        n = CORIO_MERKLE_MAX_PROOF;
    corio_merkle_hash *proof = malloc(n ? n * 32 : 1);
    if (!proof)
        return 0;
    memcpy(proof, data + 81, n * 32);
    int rc = data[0] & 1 ? corio_merkle_verify_consistency(a, b, h1, h2, proof, n)
                         : corio_merkle_verify_inclusion(h1, a, b, proof, n, h2);
    free(proof);
    if (rc != CORIO_OK && rc != CORIO_ERR_BADSIG && rc != CORIO_ERR_MALFORMED &&
        rc != CORIO_ERR_INVAL)
        abort();
    return 0;
}
