/*
 * test_harness_postgres.c - the harness's PostgreSQL 15: it starts in the test's
 * directory, answers SQL, stops leaving no postmaster, starts again on the same
 * data (after a clean stop and after an immediate, crash-like one), and can be
 * reached through the fault proxy by its TCP conninfo.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "harness.h"

static void starts_answers_stops_and_restarts_on_the_same_data(void **state)
{
    (void)state;
    const char *conf[] = {"log_min_messages = info", NULL};
    struct h_pg *pg = h_pg_start(&(struct h_pg_opts){.dbname = "ledger", .conf = conf});
    assert_non_null(pg);
    assert_string_equal(pg->conninfo,
                        h_strf("host=127.0.0.1 port=%d dbname=ledger user=postgres", pg->port));
    assert_true(h_port_open(pg->port));
    pid_t first = pg->pid;
    assert_true(first > 0);

    char *out;
    assert_int_equal(h_pg_sql(pg, "CREATE TABLE t (v int); INSERT INTO t VALUES (41), (1);", NULL),
                     0);
    assert_int_equal(h_pg_sql(pg, "SELECT sum(v) FROM t", &out), 0);
    assert_string_equal(out, "42\n");
    assert_int_not_equal(h_pg_sql(pg, "SELECT * FROM no_such_table", NULL), 0);

    assert_int_equal(h_pg_stop(pg), CORIO_OK);
    assert_true(h_pid_gone(first));
    assert_int_equal(pg->pid, 0);
    assert_false(h_port_open(pg->port));

    assert_int_equal(h_pg_restart(pg), CORIO_OK);
    pid_t second = pg->pid;
    assert_true(second > 0 && second != first);
    assert_int_equal(h_pg_sql(pg, "INSERT INTO t VALUES (8); SELECT sum(v) FROM t", &out), 0);
    assert_string_equal(out, "50\n");

    /* An immediate stop is a crash: the next start recovers committed data. */
    assert_int_equal(h_pg_crash(pg), CORIO_OK);
    assert_true(h_pid_gone(second));
    assert_int_equal(h_pg_restart(pg), CORIO_OK);
    assert_int_equal(h_pg_sql(pg, "SELECT sum(v) FROM t", &out), 0);
    assert_string_equal(out, "50\n");
    char *log = h_read_file(pg->log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "database system was interrupted"));

    /* A restart of a running server stops it first. */
    pid_t third = pg->pid;
    assert_int_equal(h_pg_restart(pg), CORIO_OK);
    assert_true(h_pid_gone(third));
    assert_int_equal(h_pg_stop(pg), CORIO_OK);
    assert_true(h_pid_gone(pg->pid));
}

static void reachable_through_the_proxy(void **state)
{
    (void)state;
    struct h_pg *pg = h_pg_start(NULL);
    assert_non_null(pg);
    struct h_proxy *p = h_proxy_start("127.0.0.1", pg->port);
    assert_non_null(p);
    char *out;
    const char *argv[] = {
        "/usr/lib/postgresql/15/bin/psql",
        "-X",
        "-A",
        "-t",
        "-d",
        h_strf("host=127.0.0.1 port=%d dbname=%s user=postgres", h_proxy_port(p), pg->dbname),
        "-c",
        "SELECT 6 * 7",
        NULL};
    assert_int_equal(h_run("psql-proxy", argv, NULL, 30000, &out), 0);
    assert_string_equal(out, "42\n");
    assert_int_equal(h_proxy_set(p, H_CUT, 0), CORIO_OK);
    assert_int_not_equal(h_run("psql-cut", argv, NULL, 30000, NULL), 0);
    /* Left running: the end of the test stops it, cleanly or failing the test. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(starts_answers_stops_and_restarts_on_the_same_data),
        H_TEST(reachable_through_the_proxy),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
