/*
 * fuzz_config.c - libFuzzer target for the config file parser (corio_conf_load_buf).
 *
 * The input is a config file. The schema has a key of every type, with ranges, choices,
 * a required key and a list, so every branch of value parsing is reachable. Whatever the
 * input, the parser must return CORIO_OK or CORIO_ERR_MALFORMED with a one-line message
 * naming the file, and every value read back must be within its declared range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "corio_conf.h"

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

static const struct corio_conf_key keys[] = {
    {.name = "listen", .type = CORIO_CONF_STRING, .flags = CORIO_CONF_REQUIRED, .help = "h"},
    {.name = "port", .type = CORIO_CONF_INT, .def = "1883", .min = 1, .max = 65535},
    {.name = "offset", .type = CORIO_CONF_INT, .def = "0"},
    {.name = "tls", .type = CORIO_CONF_BOOL, .def = "off"},
    {.name = "interval", .type = CORIO_CONF_DURATION, .def = "1s", .min = 1, .max = 86400000},
    {.name = "timeout", .type = CORIO_CONF_DURATION, .def = "0"},
    {.name = "max_body", .type = CORIO_CONF_SIZE, .def = "1MiB", .min = 1, .max = 1LL << 40},
    {.name = "cache", .type = CORIO_CONF_SIZE, .def = "0"},
    {.name = "db", .type = CORIO_CONF_PATH, .def = "corio.db"},
    {.name = "peer", .type = CORIO_CONF_STRING, .flags = CORIO_CONF_LIST},
    {.name = "log_level", .type = CORIO_CONF_STRING, .def = "info", .choices = levels},
    {0},
};

static void check_range(const struct corio_conf *c, const char *name, int64_t lo, int64_t hi)
{
    int64_t v = corio_conf_int(c, name);
    if (v < lo || v > hi)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_conf *c;
    char err[512];
    if (corio_conf_new(&c, keys, err, sizeof err) != CORIO_OK)
        abort();
    err[0] = '\0';
    int rc = corio_conf_load_buf(c, "dir/fuzz.conf", (const char *)data, size, err, sizeof err);
    if (rc == CORIO_OK) {
        if (!corio_conf_str(c, "listen"))
            abort(); /* required */
        check_range(c, "port", 1, 65535);
        check_range(c, "interval", 1, 86400000);
        check_range(c, "timeout", 0, INT64_MAX);
        check_range(c, "max_body", 1, 1LL << 40);
        check_range(c, "cache", 0, INT64_MAX);
        const char *lvl = corio_conf_str(c, "log_level");
        int known = 0;
        for (const char *const *l = levels; *l; l++)
            known |= strcmp(*l, lvl) == 0;
        if (!known)
            abort();
        for (size_t i = 0; i < corio_conf_count(c, "peer"); i++) {
            const char *p = corio_conf_str_at(c, "peer", i);
            for (const char *q = p; *q; q++)
                if ((unsigned char)*q < 0x20 && *q != '\t')
                    abort(); /* control characters never get through */
        }
        (void)corio_conf_bool(c, "tls");
        (void)corio_conf_str(c, "db");
    } else if (rc == CORIO_ERR_MALFORMED) {
        /* one line, naming the file */
        if (strncmp(err, "dir/fuzz.conf", 13) != 0 || strchr(err, '\n'))
            abort();
    } else if (rc != CORIO_ERR_NOSPACE) {
        abort();
    }
    corio_conf_free(c);
    return 0;
}
