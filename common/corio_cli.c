/* corio_cli.c - the shared daemon command line (corio_cli.h). */
#include "corio_cli.h"

#include <string.h>

#include "corio/error.h"

static void usage(const struct corio_cli *cli, FILE *f)
{
    fprintf(f, "Usage: %s [-c FILE] [--help] [--version]\n", cli->prog);
}

static void help(const struct corio_cli *cli, FILE *f)
{
    usage(cli, f);
    if (cli->summary)
        fprintf(f, "%s\n", cli->summary);
    fprintf(f, "\nOptions:\n"
               "  -c, --config FILE  read the configuration from FILE");
    if (cli->default_conf)
        fprintf(f, " (default %s)", cli->default_conf);
    fprintf(f, "\n"
               "  -h, --help         print this help and exit\n"
               "  -V, --version      print the version and exit\n\n");
    corio_conf_help(f, cli->keys);
}

int corio_cli_start(const struct corio_cli *cli, int argc, char *const argv[],
                    struct corio_conf **conf)
{
    FILE *out = cli->out ? cli->out : stdout;
    FILE *err = cli->err ? cli->err : stderr;
    const char *path = NULL;
    *conf = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help(cli, out);
            return 0;
        }
        if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            fprintf(out, "%s %s\n", cli->prog, cli->version ? cli->version : "");
            return 0;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 == argc) {
                fprintf(err, "%s: %s needs a file name\n", cli->prog, a);
                usage(cli, err);
                return 2;
            }
            path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            path = a + 9;
        } else {
            fprintf(err, "%s: unknown argument '%s'\n", cli->prog, a);
            usage(cli, err);
            return 2;
        }
    }
    if (!path)
        path = cli->default_conf;

    char msg[1024];
    struct corio_conf *c;
    int rc = corio_conf_new(&c, cli->keys, msg, sizeof msg);
    if (rc != CORIO_OK) {
        fprintf(err, "%s: %s\n", cli->prog, rc == CORIO_ERR_INVAL ? msg : corio_strerror(rc));
        return 1;
    }
    rc = path ? corio_conf_load_file(c, path, msg, sizeof msg)
              : corio_conf_load_buf(c, "(defaults)", "", 0, msg, sizeof msg);
    if (rc != CORIO_OK) {
        fprintf(err, "%s: %s\n", cli->prog,
                rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_IO ? msg : corio_strerror(rc));
        corio_conf_free(c);
        return 1;
    }
    *conf = c;
    return CORIO_CLI_RUN;
}
