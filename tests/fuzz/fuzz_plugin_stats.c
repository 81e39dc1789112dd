/*
 * fuzz_plugin_stats.c - libFuzzer target for the plugin's stats file parser
 * (corio_plugin_stats_parse, gateway/plugin_stats.h), which corio-gateway runs on a file
 * another process writes. Anything parses or is refused for a documented reason; what
 * parses writes back to a file that parses to the same counters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio/error.h"
#include "plugin_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_plugin_stats st, back;
    int rc = corio_plugin_stats_parse((const char *)data, size, &st);
    if (rc != CORIO_OK) {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_plugin_stats.%d", (int)getpid());
    CHECK(corio_plugin_stats_write(path, &st) == CORIO_OK);
    CHECK(corio_plugin_stats_read(path, &back) == CORIO_OK);
    unlink(path);
    CHECK(memcmp(&st, &back, sizeof st) == 0);
    return 0;
}
