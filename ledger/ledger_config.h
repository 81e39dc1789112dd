/*
 * ledger_config.h - corio-ledger's configuration file (docs/ledger.md, "Configuration"):
 * the key schema, and its translation into struct corio_ledger_opts.
 */
#ifndef CORIO_LEDGER_CONFIG_H
#define CORIO_LEDGER_CONFIG_H

#include <stddef.h>

#include "corio_conf.h"
#include "ledger_engine.h"

/* The schema of corio-ledger.conf, ending with {0}. */
extern const struct corio_conf_key corio_ledger_conf_keys[];

/* What opts points into; lives as long as opts is used. */
struct corio_ledger_conf_storage {
    struct corio_ledger_member members[CORIO_LEDGER_MAX_PEERS];
    const char *ca[16];
    char http_address[64];
};

/*
 * Fills opts from a loaded configuration (strings point into c and s). Checks what the
 * schema cannot: member lines, the listen address, heartbeat below the election
 * timeout, TLS files given together. Returns CORIO_OK or CORIO_ERR_INVAL with
 * "<file>:<line>: <what>" in err.
 */
int corio_ledger_conf_opts(const struct corio_conf *c, struct corio_ledger_conf_storage *s,
                           struct corio_ledger_opts *opts, char *err, size_t errlen);

/* corio-ledger's main (ledger/main.c calls it). */
int corio_ledger_main(int argc, char **argv);

#endif /* CORIO_LEDGER_CONFIG_H */
