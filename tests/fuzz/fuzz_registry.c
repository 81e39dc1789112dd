/* fuzz_registry.c - the registry file parser on arbitrary text: an error is one line
 * that names the file; a success holds only valid ids, sorted devices. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "corio_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_reg *r;
    char err[512];
    int rc = corio_reg_parse("fuzz", (const char *)data, size, &r, err, sizeof err);
    if (rc != CORIO_OK) {
        if (strncmp(err, "fuzz:", 5) != 0 || strchr(err, '\n'))
            abort();
        return 0;
    }
    for (size_t i = 0; i < r->ndevices; i++) {
        if (strlen(r->devices[i].id) != 24 || (i && strcmp(r->devices[i - 1].id, r->devices[i].id) >= 0))
            abort();
        if (corio_reg_device(r, r->devices[i].id) != &r->devices[i])
            abort();
    }
    corio_reg_free(r);
    return 0;
}
