/*
 * cmd_proposal.c - `corio proposal`: proposals other than membership (cmd_org.c):
 * rights, parameters, contract versions and free-text decisions. Transactions as in
 * cli_tx.h.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_tx.h"

static int make(int argc, char **argv, uint64_t kind)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.help) {
        cli_command_help(stdout);
        return CLI_OK;
    }
    struct corio_tx_proposal p = {.kind = kind};
    struct corio_tx_proposal_payload pl = {0};
    const char *org = cli_need(&o, "org"), *period = cli_opt(&o, "period");
    if (!org || cli_id(org, p.org) != CLI_OK)
        return CLI_USAGE;
    if (period) {
        if (cli_u64("--period", period, &p.period) != CLI_OK)
            return CLI_USAGE;
        p.has_period = true;
    }
    const char *a, *b, *c;
    switch (kind) {
    case CORIO_PROPOSAL_RIGHTS:
        a = cli_need(&o, "holder");
        b = cli_need(&o, "class");
        c = cli_need(&o, "grant");
        if (!a || !b || !c || cli_id(a, pl.right_org) != CLI_OK || cli_name("--class", b) != CLI_OK)
            return CLI_USAGE;
        pl.class_ = b;
        pl.class_len = strlen(b);
        pl.grant = !strcmp(c, "yes");
        break;
    case CORIO_PROPOSAL_PARAMETER:
    case CORIO_PROPOSAL_VERSION:
        a = cli_need(&o, "name");
        b = cli_need(&o, kind == CORIO_PROPOSAL_PARAMETER ? "value" : "version");
        if (!a || !b || cli_name("--name", a) != CLI_OK || cli_u64("value", b, &pl.value) != CLI_OK)
            return CLI_USAGE;
        pl.name = a;
        pl.name_len = strlen(a);
        if (kind == CORIO_PROPOSAL_VERSION &&
            (!(c = cli_need(&o, "height")) || cli_u64("--height", c, &pl.height) != CLI_OK))
            return CLI_USAGE;
        break;
    default:
        a = cli_need(&o, "title");
        b = cli_opt(&o, "text");
        if (!a)
            return CLI_USAGE;
        pl.title = a;
        pl.title_len = strlen(a);
        pl.text = b ? b : "";
        pl.text_len = b ? strlen(b) : 0;
    }
    uint8_t payload[8192], args[8300];
    int pn = corio_tx_payload_encode(kind, &pl, payload, sizeof payload);
    p.payload = payload;
    p.payload_len = pn > 0 ? (size_t)pn : 0;
    int n = pn > 0 ? corio_tx_proposal_encode(&p, args, sizeof args) : -1;
    const char *why = "";
    if (n < 0 || corio_tx_args_check(CORIO_TX_PROPOSAL, args, (size_t)n, &why) != CORIO_OK)
        return cli_usage_error("not a valid proposal (%s)", why);
    return cli_tx_make(&o, CORIO_TX_PROPOSAL, args, (size_t)n);
}

static int rights(int argc, char **argv)
{
    return make(argc, argv, CORIO_PROPOSAL_RIGHTS);
}

static int parameter(int argc, char **argv)
{
    return make(argc, argv, CORIO_PROPOSAL_PARAMETER);
}

static int version(int argc, char **argv)
{
    return make(argc, argv, CORIO_PROPOSAL_VERSION);
}

static int decision(int argc, char **argv)
{
    return make(argc, argv, CORIO_PROPOSAL_DECISION);
}

static const struct cli_command commands[] = {
    {"rights", "--org ID --holder ID --class C --grant yes|no [--period H] ...",
     "propose granting or withdrawing the right to release firmware for a class", CLI_TX_HELP,
     rights},
    {"parameter", "--org ID --name NAME --value N [--period H] ...",
     "propose a parameter (vote.quorum, vote.threshold, vote.period, vote.period_min,"
     " vote.period_max, release.k, tx.ttl_max)",
     CLI_TX_HELP, parameter},
    {"version", "--org ID --name CONTRACT --version N --height H [--period H] ...",
     "propose activating an already-shipped contract version at a height", CLI_TX_HELP, version},
    {"decision", "--org ID --title T [--text TEXT] [--period H] ...",
     "propose a free-text decision (protocol changes, pricing)", CLI_TX_HELP, decision},
};

const struct cli_group cli_group_proposal = {"proposal", "proposals put to the organisations' vote",
                                             commands, sizeof commands / sizeof commands[0]};
