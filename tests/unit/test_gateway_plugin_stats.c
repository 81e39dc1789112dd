/* test_gateway_plugin_stats.c - the plugin's counters file (gateway/plugin_stats.h): what
 * is written reads back the same, unknown keys are skipped, anything else is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"
#include "harness.h"
#include "plugin_stats.h"

static void round_trip(void **state)
{
    (void)state;
    char *dir = h_tmpdir("pstats");
    char path[512];
    snprintf(path, sizeof path, "%s/outbox.db.stats", dir);
    struct corio_plugin_stats st, back;
    assert_int_equal(corio_plugin_stats_read(path, &back), CORIO_ERR_NOTFOUND);
    memset(&st, 0, sizeof st);
    st.pid = 4242;
    st.stored = UINT64_MAX;
    st.refused = 7;
    st.dropped = 1;
    st.rows = 12;
    st.oldest_ms = 1764500000123ull;
    st.resend_requests = 3;
    assert_int_equal(corio_plugin_stats_write(path, &st), CORIO_OK);
    assert_int_equal(corio_plugin_stats_read(path, &back), CORIO_OK);
    assert_memory_equal(&st, &back, sizeof st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

static void parse_skips_unknown_keys_and_refuses_the_rest(void **state)
{
    (void)state;
    struct corio_plugin_stats st;
    const char ok[] = "corio-plugin-stats 1\nstored 5\nfuture_key 9\nrows 2\n";
    assert_int_equal(corio_plugin_stats_parse(ok, strlen(ok), &st), CORIO_OK);
    assert_true(st.stored == 5 && st.rows == 2);
    const char *bad[] = {
        "",
        "corio-plugin-stats\n",
        "corio-plugin-stats x\n",
        "corio-plugin-stats 1\nstored 5",           /* cut: no final newline */
        "corio-plugin-stats 1\nstored\n",
        "corio-plugin-stats 1\n stored 5\n",
        "corio-plugin-stats 1\nstored -5\n",
        "corio-plugin-stats 1\nstored 18446744073709551616\n",
        "corio-plugin-stats 1\nstored 5 6\n",
        "plugin-stats 1\nstored 5\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(corio_plugin_stats_parse(bad[i], strlen(bad[i]), &st),
                         CORIO_ERR_MALFORMED);
    const char v2[] = "corio-plugin-stats 2\nstored 5\n";
    assert_int_equal(corio_plugin_stats_parse(v2, strlen(v2), &st), CORIO_ERR_VERSION);
    char big[CORIO_PLUGIN_STATS_MAX + 2];
    memset(big, '\n', sizeof big);
    memcpy(big, "corio-plugin-stats 1\n", 21);
    assert_int_equal(corio_plugin_stats_parse(big, sizeof big, &st), CORIO_ERR_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(parse_skips_unknown_keys_and_refuses_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
