/* fuzz_batch.c - the batch and ack decoders (common/batch.c) on arbitrary bytes; a
 * batch that decodes must re-encode to exactly its input (the encoding is deterministic). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "corio/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_batch b;
    if (corio_batch_decode(data, size, &b, NULL, 0) == CORIO_OK) {
        uint8_t *again = malloc(size ? size : 1);
        if (corio_batch_encode(&b, again, size) != (int64_t)size || memcmp(again, data, size))
            abort();
        free(again);
        corio_batch_free(&b);
    }
    struct corio_ack_range ranges[16];
    uint64_t epoch;
    corio_ack_decode(data, size, &epoch, ranges, 16);
    return 0;
}
