/* fuzz_ledger_block.c - the ledger's block and proposal decoders (ledger/block.c) on
 * arbitrary bytes: each either refuses the input or decodes it, and whatever decodes
 * must re-encode to exactly the input (blocks are named by the hash of their one
 * encoding). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_block.h"
#include "corio/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_block b;
    if (corio_block_decode(data, size, &b) == CORIO_OK) {
        uint8_t *again = malloc(size ? size : 1);
        if (!again || corio_block_encode(&b, again, size) != (int)size ||
            memcmp(again, data, size) != 0)
            abort();
        free(again);
        corio_block_free(&b);
    }
    struct corio_proposal p;
    if (corio_proposal_decode(data, size, &p) == CORIO_OK) {
        uint8_t *again = malloc(size ? size : 1);
        if (!again || corio_proposal_encode(&p, again, size) != (int)size ||
            memcmp(again, data, size) != 0)
            abort();
        free(again);
        corio_proposal_free(&p);
    }
    return 0;
}
