/*
 * main.c - corio, the command line: the table of command groups and the dispatch to
 * them. Each group lives in its own cmd_<group>.c (see cli.h to add one).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The ledger's groups (cmd_ledger.c, cmd_org.c, cmd_device.c, cmd_proposal.c, cmd_vote.c,
 * cmd_release.c; shared helpers in cli_tx.h). */
extern const struct cli_group cli_group_ledger, cli_group_org, cli_group_device,
    cli_group_proposal, cli_group_vote, cli_group_release;

static const struct cli_group *const groups[] = {
    &cli_group_key,
    &cli_group_did,
    &cli_group_eat,
    &cli_group_cose,
    &cli_group_ca,
    &cli_group_nats,
    &cli_group_ledger,
    &cli_group_org,
    &cli_group_device,
    &cli_group_proposal,
    &cli_group_vote,
    &cli_group_release,
    &cli_group_sim,
};
#define NGROUPS (sizeof groups / sizeof groups[0])

static const char EXIT_CODES[] =
    "Exit codes:\n"
    "  0  success (for verify: the signature or token is valid)\n"
    "  1  refused: a signature, token or chain did not verify or did not meet an\n"
    "     expectation (the reason is printed)\n"
    "  2  usage: unknown command or option, a missing option, an option value that\n"
    "     does not parse (hex, number, format)\n"
    "  3  bad input: a file that is missing, unreadable or not what it should be (a\n"
    "     key, a message), a public key that does not parse, an existing output file\n"
    "  4  failure: the crypto backend or the file system failed\n";

static void usage(FILE *f)
{
    fprintf(f, "usage: corio <group> <command> [options]\n\n");
    for (size_t g = 0; g < NGROUPS; g++) {
        fprintf(f, "%s: %s\n", groups[g]->name, groups[g]->summary);
        for (size_t c = 0; c < groups[g]->count; c++) {
            const struct cli_command *cmd = &groups[g]->commands[c];
            fprintf(f, "  corio %s %s %s\n      %s\n", groups[g]->name, cmd->name, cmd->usage,
                    cmd->summary);
        }
        fputc('\n', f);
    }
    fprintf(f, "Each command takes --help.\n\n%s", EXIT_CODES);
}

static void group_usage(FILE *f, const struct cli_group *g)
{
    fprintf(f, "corio %s: %s\n\n", g->name, g->summary);
    for (size_t c = 0; c < g->count; c++)
        fprintf(f, "  corio %s %s %s\n      %s\n", g->name, g->commands[c].name,
                g->commands[c].usage, g->commands[c].summary);
    fprintf(f, "\n%s", EXIT_CODES);
}

static int is_help(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("which command? (see below)");
        usage(stderr);
        return CLI_USAGE;
    }
    if (is_help(argv[1])) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("corio 0.1.0\n");
        return CLI_OK;
    }
    const struct cli_group *g = NULL;
    for (size_t i = 0; i < NGROUPS; i++)
        if (strcmp(argv[1], groups[i]->name) == 0)
            g = groups[i];
    if (!g) {
        cli_error("unknown command group '%s' (see corio --help)", argv[1]);
        return CLI_USAGE;
    }
    if (argc < 3) {
        cli_error("which '%s' command? (see below)", g->name);
        group_usage(stderr, g);
        return CLI_USAGE;
    }
    if (is_help(argv[2])) {
        group_usage(stdout, g);
        return CLI_OK;
    }
    for (size_t c = 0; c < g->count; c++) {
        if (strcmp(argv[2], g->commands[c].name) == 0) {
            cli_current_group = g;
            cli_current_command = &g->commands[c];
            return g->commands[c].run(argc - 2, argv + 2);
        }
    }
    cli_error("unknown command '%s %s' (see corio %s --help)", g->name, argv[2], g->name);
    return CLI_USAGE;
}
