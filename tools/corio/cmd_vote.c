/*
 * cmd_vote.c - `corio vote`: an organisation's vote on a proposal (yes, no, abstain);
 * a later vote replaces it until the close. Transactions as in cli_tx.h.
 */
#include <string.h>

#include "cli.h"
#include "cli_tx.h"

static int vote_cast(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.help) {
        cli_command_help(stdout);
        return CLI_OK;
    }
    struct corio_tx_vote v;
    const char *p = cli_need(&o, "proposal"), *org = cli_need(&o, "org"),
               *c = cli_need(&o, "choice");
    if (!p || !org || !c || cli_hexn("--proposal", p, v.proposal, 32) != CLI_OK ||
        cli_id(org, v.org) != CLI_OK)
        return CLI_USAGE;
    if (!strcmp(c, "yes"))
        v.choice = CORIO_VOTE_YES;
    else if (!strcmp(c, "no"))
        v.choice = CORIO_VOTE_NO;
    else if (!strcmp(c, "abstain"))
        v.choice = CORIO_VOTE_ABSTAIN;
    else
        return cli_usage_error("--choice: yes, no or abstain");
    uint8_t args[128];
    int n = corio_tx_vote_encode(&v, args, sizeof args);
    return n > 0 ? cli_tx_make(&o, CORIO_TX_VOTE, args, (size_t)n) : CLI_FAIL;
}

static const struct cli_command commands[] = {
    {"cast", "--proposal HEX --org ID --choice yes|no|abstain ...",
     "vote for an organisation (signed by its key or its members to its threshold)", CLI_TX_HELP,
     vote_cast},
};

const struct cli_group cli_group_vote = {"vote", "votes on proposals", commands,
                                         sizeof commands / sizeof commands[0]};
