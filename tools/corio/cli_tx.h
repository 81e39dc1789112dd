/*
 * cli_tx.h - what the ledger command groups (cmd_ledger.c, cmd_org.c, cmd_device.c,
 * cmd_proposal.c, cmd_vote.c, cmd_release.c) share: "--name value" options, ids and
 * keys from the command line, and making, signing, writing and submitting a
 * transaction (ledger/tx.h).
 *
 * Every transaction-making command takes the same options:
 *   --key FILE         the signer's PEM key (the first signature; others add theirs
 *                      with `corio ledger sign`)
 *   --signer DID#N     the signer's DID and key number (default: the DID the key
 *                      founds, key 0)
 *   --ledger HEX       the ledger's id (its genesis transaction id)
 *   --expires HEIGHT   the last height at which it may be applied
 *   --out FILE         write the transaction (raw CBOR) there; default: hex on stdout
 *   --node URL         also submit it to a node's API (POST URL/api/v1/tx)
 */
#ifndef CORIO_TOOLS_CLI_TX_H
#define CORIO_TOOLS_CLI_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/did.h"
#include "tx.h"

#define CLI_TX_MAX_OPTS 24

struct cli_opts {
    const char *name[CLI_TX_MAX_OPTS];
    const char *value[CLI_TX_MAX_OPTS];
    size_t n;
    const char *pos[4]; /* positional arguments */
    size_t npos;
    bool help;
};

/* Parses argv[1..] ("--name value" pairs, --help, positionals). Returns CLI_OK or a
 * usage error (printed). */
int cli_opts_parse(int argc, char **argv, struct cli_opts *o);
/* The value of --name, or NULL. */
const char *cli_opt(const struct cli_opts *o, const char *name);
/* The same, printing a usage error when it is missing (NULL then). */
const char *cli_need(const struct cli_opts *o, const char *name);

/* A short id or did:corio (no key fragment) into 15 bytes. CLI_OK or CLI_USAGE. */
int cli_id(const char *s, uint8_t id[CORIO_DID_ID_LEN]);
/* A public key (see cli_load_public) as a compressed point. CLI_OK or CLI_INPUT. */
int cli_pub33(const char *s, uint8_t out[CORIO_TX_KEY_LEN]);
/* A name argument (class, model, version...): CLI_OK or CLI_USAGE. */
int cli_name(const char *what, const char *s);
/* Hex of exactly n bytes. CLI_OK or CLI_USAGE. */
int cli_hexn(const char *what, const char *s, uint8_t *out, size_t n);
/* A decimal. CLI_OK or CLI_USAGE. */
int cli_u64(const char *what, const char *s, uint64_t *v);

/* Makes a transaction of type with args (the common options above), writes and
 * optionally submits it. Returns a cli_exit code. */
int cli_tx_make(const struct cli_opts *o, unsigned type, const uint8_t *args, size_t args_len);

/* `corio ledger rotate`, also `corio did rotate`: a did.rotate transaction carrying a
 * rotation link signed by the current key and endorsed by the owner organisation.
 * Returns a cli_exit code. */
int cli_ledger_rotate(int argc, char **argv);

/* The common options' help text. */
#define CLI_TX_HELP                                                                                \
    "  --key FILE        the signer's PEM key\n"                                                   \
    "  --signer DID#N    the signer's DID and current key number (default: the key's own\n"        \
    "                    DID, key 0)\n"                                                            \
    "  --ledger HEX      the ledger id (the genesis transaction's id)\n"                           \
    "  --expires HEIGHT  the last ledger height at which it may be applied\n"                      \
    "  --out FILE        write the transaction there (raw CBOR); default: hex on stdout\n"         \
    "  --node URL        submit it to a node (POST URL/api/v1/tx)\n"                               \
    "Other organisations' signatures are added with `corio ledger sign`.\n"

#define CLI_ROTATE_USAGE                                                                           \
    "--key FILE --signer DID#K --org ID --new-key PUBKEY [--endorse FILE --endorser DID#N] ..."
#define CLI_ROTATE_SUMMARY                                                                         \
    "rotate an identity to key K+1 (the link signed by key K, endorsed by its organisation)"
#define CLI_ROTATE_HELP                                                                            \
    "  --key, --signer  the identity's current key and its number K\n"                             \
    "  --org ID         the owner organisation (for an organisation: itself)\n"                    \
    "  --new-key KEY    the next key (did:key, zDn..., hex or a PEM file)\n"                       \
    "  --endorse FILE   an endorser's key: the organisation or one of its members;\n"              \
    "                   more endorsements: corio cose's COSE_Sign tools\n" CLI_TX_HELP

#endif /* CORIO_TOOLS_CLI_TX_H */
