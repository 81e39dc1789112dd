/*
 * fuzz_cloud_gwstate.c - libFuzzer target for the gateway state corio-cloud takes from
 * the broker (corio_gwstate_put, cloud/gwstate.h): any bytes are taken or refused for a
 * documented reason; a document taken once is taken again (same input, same verdict).
 */
#include <stdint.h>
#include <stdlib.h>

#include "corio/error.h"
#include "gwstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_gwstate *g;
    CHECK(corio_gwstate_new(&g) == CORIO_OK);
    char why[128];
    int rc = corio_gwstate_put(g, "aaaaaaaaaaaaaaaaaaaaaaaa", data, size, 1, why, sizeof why);
    CHECK(rc == CORIO_OK || rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION ||
          rc == CORIO_ERR_NOSPACE);
    CHECK(corio_gwstate_count(g) == (rc == CORIO_OK ? 1u : 0u));
    if (rc == CORIO_OK)
        CHECK(corio_gwstate_put(g, "aaaaaaaaaaaaaaaaaaaaaaaa", data, size, 2, why, sizeof why) ==
              CORIO_OK);
    corio_gwstate_free(g);
    return 0;
}
