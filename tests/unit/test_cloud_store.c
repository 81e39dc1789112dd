/* test_cloud_store.c - the storage suite (test_cloud_store_suite.h) against the SQLite
 * backend: a fresh database file in a temporary directory for every test. */
#include "test_cloud_store_suite.h"

#include <sqlite3.h>

static char *sq_fresh(void)
{
    return h_tmpdir("cloud-store");
}

static void sq_discard(char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

static int sq_open(const char *dir, struct corio_store **s, char *err, size_t errlen)
{
    char path[600];
    snprintf(path, sizeof path, "%s/cloud.db", dir);
    return corio_store_open_sqlite(path, s, err, errlen);
}

static char *sq_dump(const char *dir, const char *sql)
{
    char path[600];
    snprintf(path, sizeof path, "%s/cloud.db", dir);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        print_error("dump: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    struct corio_buf b = CORIO_BUF_INIT(64 << 20);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            corio_buf_printf(&b, "%s%s", i ? "|" : "", t ? (const char *)t : "NULL");
        }
        corio_buf_addstr(&b, "\n");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    char *out = corio_buf_take(&b, NULL);
    return out ? out : strdup("");
}

static void sq_set_version(const char *dir, int version)
{
    char path[600], sql[64];
    snprintf(path, sizeof path, "%s/cloud.db", dir);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void sq_schema_extra(const char *dir)
{
    char *mode = sq_dump(dir, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal\n");
    free(mode);
}

static const struct backend sqlite_backend = {
    .name = "sqlite",
    .fresh = sq_fresh,
    .discard = sq_discard,
    .open = sq_open,
    .dump = sq_dump,
    .version_sql = "PRAGMA user_version",
    .schema_version = corio_store_sqlite_schema_version,
    .set_version = sq_set_version,
    .schema_extra = sq_schema_extra,
};

int main(void)
{
    return store_suite_run(&sqlite_backend, "cloud_store.sqlite");
}
