/* test_common_sqlite.c - the pragmas every Corio database gets, and forward-only
 * migrations: applied in order, idempotent on reopen, a failing step rolled back, and a
 * database from a newer program refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ftw.h>
#include <unistd.h>

#include "corio/error.h"
#include "corio_sqlite.h"
#include "harness.h"

static const char *const steps[] = {
    "CREATE TABLE device (id TEXT PRIMARY KEY, org TEXT NOT NULL)",
    "CREATE TABLE sample (device TEXT NOT NULL REFERENCES device(id), t INTEGER, v REAL);"
    "CREATE INDEX sample_t ON sample(device, t)",
    "ALTER TABLE device ADD COLUMN model TEXT",
};

static char g_path[512];
static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    char *dir = h_tmpdir("sqlite");
    if (!dir)
        return 1;
    snprintf(g_dir, sizeof g_dir, "%s", dir);
    snprintf(g_path, sizeof g_path, "%s/t.db", dir);
    free(dir);
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static sqlite3 *open_db(void)
{
    sqlite3 *db;
    char err[256] = "";
    int rc = corio_sqlite_open(g_path, 0, 0, &db, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("open: %s", err);
    return db;
}

static int count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static const char *pragma(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static void open_sets_the_pragmas(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    char v[32];
    assert_string_equal(pragma(db, "PRAGMA journal_mode", v, sizeof v), "wal");
    assert_string_equal(pragma(db, "PRAGMA foreign_keys", v, sizeof v), "1");
    assert_string_equal(pragma(db, "PRAGMA synchronous", v, sizeof v), "1"); /* NORMAL */
    assert_string_equal(pragma(db, "PRAGMA busy_timeout", v, sizeof v), "5000");
    sqlite3_close(db);

    char err[256];
    assert_int_equal(corio_sqlite_open("/nonexistent-dir/x.db", 0, 0, &db, err, sizeof err),
                     CORIO_ERR_IO);
    assert_null(db);
    assert_non_null(strstr(err, "/nonexistent-dir/x.db: "));
}

static void migrations_apply_forward_and_are_idempotent(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    char err[256] = "";
    int v = -1;
    /* the first two steps, as an older release would have shipped them */
    assert_int_equal(corio_sqlite_migrate(db, steps, 2, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_sqlite_user_version(db, &v), CORIO_OK);
    assert_int_equal(v, 2);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO device VALUES ('d1', 'o1')", NULL, NULL, NULL),
                     SQLITE_OK);
    /* foreign keys are on */
    assert_int_not_equal(
        sqlite3_exec(db, "INSERT INTO sample VALUES ('nobody', 1, 2.0)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    /* the newer release adds step 3; data survives */
    db = open_db();
    assert_int_equal(corio_sqlite_migrate(db, steps, 3, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_sqlite_user_version(db, &v), CORIO_OK);
    assert_int_equal(v, 3);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM device WHERE model IS NULL"), 1);
    sqlite3_close(db);

    /* reopening and migrating again changes nothing (ALTER TABLE would fail if rerun) */
    db = open_db();
    assert_int_equal(corio_sqlite_migrate(db, steps, 3, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_sqlite_user_version(db, &v), CORIO_OK);
    assert_int_equal(v, 3);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM device"), 1);
    sqlite3_close(db);
}

static void newer_database_is_refused(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    char err[256] = "";
    /* this database is at version 3: a program that knows two steps must refuse it */
    assert_int_equal(corio_sqlite_migrate(db, steps, 2, err, sizeof err), CORIO_ERR_VERSION);
    assert_string_equal(err, "database schema version 3 is newer than this program knows (2); "
                             "it was written by a newer release");
    int v;
    assert_int_equal(corio_sqlite_user_version(db, &v), CORIO_OK);
    assert_int_equal(v, 3); /* untouched */
    /* and the connection is usable: no transaction was left open */
    assert_int_equal(sqlite3_exec(db, "BEGIN; COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void failing_step_is_rolled_back(void **state)
{
    (void)state;
    static const char *const more[] = {
        steps[0],
        steps[1],
        steps[2],
        "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1)",
    };
    sqlite3 *db = open_db();
    char err[256] = "";
    assert_int_equal(corio_sqlite_migrate(db, more, 4, err, sizeof err), CORIO_ERR_IO);
    assert_string_equal(err, "migration step 4 failed: no such table: nowhere");
    int v;
    assert_int_equal(corio_sqlite_user_version(db, &v), CORIO_OK);
    assert_int_equal(v, 3);
    /* the step's first statement was rolled back with it */
    assert_int_equal(count_rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'half'"), 0);
    sqlite3_close(db);
}

static void two_connections_migrate_once(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s.two", g_path);
    sqlite3 *a, *b;
    char err[256];
    assert_int_equal(corio_sqlite_open(path, 0, 0, &a, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_sqlite_open(path, 0, 0, &b, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_sqlite_migrate(a, steps, 3, err, sizeof err), CORIO_OK);
    /* b opened before a migrated; it must see version 3 and apply nothing */
    assert_int_equal(corio_sqlite_migrate(b, steps, 3, err, sizeof err), CORIO_OK);
    int v;
    assert_int_equal(corio_sqlite_user_version(b, &v), CORIO_OK);
    assert_int_equal(v, 3);
    sqlite3_close(a);
    sqlite3_close(b);

    /* read-only opens see the schema but cannot change it */
    assert_int_equal(corio_sqlite_open(path, CORIO_SQLITE_READONLY, 0, &a, err, sizeof err),
                     CORIO_OK);
    assert_int_equal(corio_sqlite_user_version(a, &v), CORIO_OK);
    assert_int_equal(v, 3);
    assert_int_not_equal(
        sqlite3_exec(a, "INSERT INTO device VALUES ('x','y',NULL)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_sets_the_pragmas),
        cmocka_unit_test(migrations_apply_forward_and_are_idempotent),
        cmocka_unit_test(newer_database_is_refused),
        cmocka_unit_test(failing_step_is_rolled_back),
        cmocka_unit_test(two_connections_migrate_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
