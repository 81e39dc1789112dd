/*
 * ledger_config.h - corio-ledger's configuration file (docs/ledger.md, "Configuration"):
 * the key schema, and its translation into struct corio_ledger_opts.
 */
#ifndef CORIO_LEDGER_CONFIG_H
#define CORIO_LEDGER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio_conf.h"
#include "ledger_engine.h"

/* The schema of corio-ledger.conf, ending with {0}. */
extern const struct corio_conf_key corio_ledger_conf_keys[];

/* What opts points into; lives as long as opts is used. */
struct corio_ledger_conf_storage {
    struct corio_ledger_member members[CORIO_LEDGER_MAX_PEERS];
    const char *ca[16];
    char http_address[64];
    /* The application: `app` and, for the contracts, `genesis_id` (see
     * corio_ledger_conf_app). */
    bool null_app;
    bool pin_genesis;
    uint8_t genesis[32];
};

/*
 * Fills opts from a loaded configuration (strings point into c and s). Checks what the
 * schema cannot: member lines, the listen address, heartbeat below the election
 * timeout, TLS files given together. Returns CORIO_OK or CORIO_ERR_INVAL with
 * "<file>:<line>: <what>" in err.
 */
int corio_ledger_conf_opts(const struct corio_conf *c, struct corio_ledger_conf_storage *s,
                           struct corio_ledger_opts *opts, char *err, size_t errlen);

/*
 * The application the configuration selects (after corio_ledger_conf_opts filled s):
 * the null application, or the contracts (ledger/contracts.h) with the genesis pinned
 * when genesis_id is set. *owned receives what the caller frees with
 * corio_contracts_app_free once the node is freed (NULL for the null application).
 * Returns the application, or NULL when out of memory.
 */
const struct corio_ledger_app *corio_ledger_conf_app(const struct corio_ledger_conf_storage *s,
                                                     struct corio_ledger_app **owned);

/* corio-ledger's main (ledger/main.c calls it). */
int corio_ledger_main(int argc, char **argv);

#endif /* CORIO_LEDGER_CONFIG_H */
