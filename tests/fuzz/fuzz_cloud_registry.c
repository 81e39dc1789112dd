/* fuzz_cloud_registry.c - corio-cloud's registry file parser (cloud/registry.c) on
 * arbitrary text, against one in-memory store kept across inputs. A file that loads
 * must leave the store answering; one that does not must say where, as "name:line:". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "corio/error.h"
#include "store.h"

static struct corio_store *store;

static void close_store(void)
{
    corio_store_close(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (!store) {
        if (corio_store_open_sqlite(":memory:", &store, err, sizeof err) != CORIO_OK)
            abort();
        atexit(close_store);
    }
    err[0] = 0;
    int rc =
        corio_cloud_registry_load_buf(store, "fuzz", (const char *)data, size, err, sizeof err);
    if (rc == CORIO_ERR_MALFORMED && strncmp(err, "fuzz:", 5) != 0)
        abort();
    if (rc != CORIO_OK && rc != CORIO_ERR_MALFORMED)
        abort(); /* the in-memory store never fails */
    if (corio_store_ping(store) != CORIO_OK)
        abort();
    return 0;
}
