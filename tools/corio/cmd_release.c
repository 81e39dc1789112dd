/*
 * cmd_release.c - `corio release`: a right holder proposes a firmware release (its
 * manifest's digest, a version) for a device class; approver organisations approve it
 * until k of them have. Transactions as in cli_tx.h.
 */
#include <string.h>

#include "cli.h"
#include "cli_tx.h"

static int release(int argc, char **argv, unsigned type)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.help) {
        cli_command_help(stdout);
        return CLI_OK;
    }
    struct corio_tx_release r = {0};
    const char *org = cli_need(&o, "org");
    if (!org || cli_id(org, r.org) != CLI_OK)
        return CLI_USAGE;
    if (type == CORIO_TX_RELEASE_PROPOSE) {
        const char *c = cli_need(&o, "class"), *d = cli_need(&o, "digest"),
                   *v = cli_need(&o, "version");
        if (!c || !d || !v || cli_name("--class", c) != CLI_OK ||
            cli_hexn("--digest", d, r.digest, 32) != CLI_OK || cli_name("--version", v) != CLI_OK)
            return CLI_USAGE;
        r.class_ = c;
        r.class_len = strlen(c);
        r.version = v;
        r.version_len = strlen(v);
    } else {
        const char *id = cli_need(&o, "release");
        if (!id || cli_hexn("--release", id, r.release, 32) != CLI_OK)
            return CLI_USAGE;
    }
    uint8_t args[512];
    int n = corio_tx_release_encode(type, &r, args, sizeof args);
    return n > 0 ? cli_tx_make(&o, type, args, (size_t)n) : CLI_FAIL;
}

static int release_propose(int argc, char **argv)
{
    return release(argc, argv, CORIO_TX_RELEASE_PROPOSE);
}

static int release_approve(int argc, char **argv)
{
    return release(argc, argv, CORIO_TX_RELEASE_APPROVE);
}

static const struct cli_command commands[] = {
    {"propose", "--org ID --class C --digest HEX --version V ...",
     "propose a firmware release for a class (needs the right for the class)", CLI_TX_HELP,
     release_propose},
    {"approve", "--release HEX --org ID ...", "approve a release for an approver organisation",
     CLI_TX_HELP, release_approve},
};

const struct cli_group cli_group_release = {"release", "firmware releases", commands,
                                            sizeof commands / sizeof commands[0]};
