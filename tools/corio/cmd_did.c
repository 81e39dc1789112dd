/*
 * cmd_did.c - `corio did`: the identifiers of a key (include/corio/did.h), and the
 * rotation of an identity's key on the ledger (the same command as `corio ledger
 * rotate`, cmd_ledger.c).
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "cli_tx.h"

static int did_show(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            cli_command_help(stdout);
            return CLI_OK;
        }
        return cli_usage_error("bad option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 1)
        return cli_usage_error("expected one key: a file or a public key");
    uint8_t pub[65];
    int rc = cli_load_public(argv[optind], pub);
    if (rc != CLI_OK)
        return rc;
    return cli_print_identity(pub);
}

static const struct cli_command commands[] = {
    {"show", "FILE|PUBKEY",
     "print the did:corio, did:key, short id and compressed public key of a key",
     "  FILE     a PEM file with a private key (PKCS#8 or SEC 1) or a public key\n"
     "  PUBKEY   a did:key, a multibase key (zDn...), or hex of a 33- or 65-byte point\n"
     "The did:corio shown is the identity this key would found as its inception key\n"
     "(key 0); a rotated key keeps the identity it was rotated into.\n"
     "Output lines: did, didkey, id, pub.\n",
     did_show},
    {"rotate", CLI_ROTATE_USAGE, CLI_ROTATE_SUMMARY, CLI_ROTATE_HELP, cli_ledger_rotate},
};

const struct cli_group cli_group_did = {"did", "identifiers and their key rotation", commands,
                                        sizeof commands / sizeof commands[0]};
