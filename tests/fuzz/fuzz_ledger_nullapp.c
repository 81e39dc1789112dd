/* fuzz_ledger_nullapp.c - the null application's command parser, reached through its
 * check callback as POST /api/v1/tx reaches it: any bytes are accepted or refused with
 * a non-empty reason, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_app.h"
#include "corio/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct corio_ledger_app *app = corio_ledger_null_app();
    char reason[CORIO_BLOCK_MAX_REASON + 1];
    reason[0] = 0;
    int rc = app->check(app->ctx, NULL, data, size, reason, sizeof reason);
    if (rc != CORIO_OK && (rc != CORIO_ERR_MALFORMED || !reason[0] ||
                           strnlen(reason, sizeof reason) == sizeof reason))
        abort();
    return 0;
}
