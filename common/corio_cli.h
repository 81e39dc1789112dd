/*
 * corio_cli.h - the command line every Corio daemon shares.
 *
 *     corio-gateway [-c FILE | --config FILE] [--help] [--version]
 *
 * corio_cli_start parses argv, prints --help (the summary and the config schema) or
 * --version, loads the config file and prints a one-line error naming file and line when
 * it is wrong. A daemon's main starts:
 *
 *     struct corio_conf *conf;
 *     int rc = corio_cli_start(&cli, argc, argv, &conf);
 *     if (rc != CORIO_CLI_RUN)
 *         return rc;
 */
#ifndef CORIO_CLI_H
#define CORIO_CLI_H

#include <stdio.h>

#include "corio_conf.h"

/* What corio_cli_start returns when the daemon should run. Not a valid exit status. */
#define CORIO_CLI_RUN (-1)

struct corio_cli {
    const char *prog;                  /* program name for messages, e.g. "corio-gateway" */
    const char *version;               /* printed by --version */
    const char *summary;               /* one line for --help */
    const char *default_conf;          /* read when -c is not given; NULL: run on defaults */
    const struct corio_conf_key *keys; /* the config schema, ending with {0} */
    FILE *out, *err;                   /* where help and errors go; NULL: stdout, stderr */
};

/*
 * Parses argc/argv. With --help or --version prints to cli->out and returns 0. With a
 * usage error prints it and a hint to cli->err and returns 2. Otherwise loads the config
 * file (-c FILE, else cli->default_conf, else defaults only); when it is wrong prints
 * "<prog>: <file>:<line>: <what>" to cli->err and returns 1. On success sets *conf (the
 * caller frees it with corio_conf_free) and returns CORIO_CLI_RUN.
 */
int corio_cli_start(const struct corio_cli *cli, int argc, char *const argv[],
                    struct corio_conf **conf);

#endif /* CORIO_CLI_H */
