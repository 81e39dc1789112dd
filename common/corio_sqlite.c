/* corio_sqlite.c - SQLite opening and migrations (corio_sqlite.h). */
#include "corio_sqlite.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "corio/error.h"

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Runs a one-row pragma and copies its text result into out. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    int rc = CORIO_ERR_IO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", t ? (const char *)t : "");
        rc = CORIO_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int corio_sqlite_open(const char *path, unsigned flags, int busy_timeout_ms, sqlite3 **db,
                      char *err, size_t errlen)
{
    *db = NULL;
    sqlite3 *d = NULL;
    int oflags = (flags & CORIO_SQLITE_READONLY) ? SQLITE_OPEN_READONLY
                                                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    oflags |= SQLITE_OPEN_NOMUTEX; /* a connection belongs to one thread at a time */
    if (sqlite3_open_v2(path, &d, oflags, NULL) != SQLITE_OK) {
        say(err, errlen, "%s: %s", path, d ? sqlite3_errmsg(d) : "out of memory");
        sqlite3_close(d);
        return CORIO_ERR_IO;
    }
    sqlite3_extended_result_codes(d, 1);
    sqlite3_busy_timeout(d, busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
    char mode[32] = "";
    bool memory = strcmp(path, ":memory:") == 0 || path[0] == '\0';
    int rc = CORIO_OK;
    if (!(flags & CORIO_SQLITE_READONLY) && !memory) {
        rc = pragma_text(d, "PRAGMA journal_mode=WAL", mode, sizeof mode);
        if (rc == CORIO_OK && strcasecmp(mode, "wal") != 0) {
            say(err, errlen, "%s: cannot use WAL (journal mode stays '%s')", path, mode);
            rc = CORIO_ERR_IO;
        } else if (rc != CORIO_OK) {
            say(err, errlen, "%s: %s", path, sqlite3_errmsg(d));
        }
    }
    if (rc == CORIO_OK && sqlite3_exec(d, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", NULL,
                                       NULL, NULL) != SQLITE_OK) {
        say(err, errlen, "%s: %s", path, sqlite3_errmsg(d));
        rc = CORIO_ERR_IO;
    }
    if (rc != CORIO_OK) {
        sqlite3_close(d);
        return rc;
    }
    *db = d;
    return CORIO_OK;
}

int corio_sqlite_user_version(sqlite3 *db, int *version)
{
    char v[32];
    int rc = pragma_text(db, "PRAGMA user_version", v, sizeof v);
    if (rc == CORIO_OK) {
        int n = 0;
        sscanf(v, "%d", &n);
        *version = n;
    }
    return rc;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? CORIO_OK : CORIO_ERR_IO;
}

int corio_sqlite_migrate(sqlite3 *db, const char *const *steps, size_t nsteps, char *err,
                         size_t errlen)
{
    for (;;) {
        if (exec(db, "BEGIN IMMEDIATE") != CORIO_OK) {
            say(err, errlen, "migration: cannot begin: %s", sqlite3_errmsg(db));
            return CORIO_ERR_IO;
        }
        int v;
        if (corio_sqlite_user_version(db, &v) != CORIO_OK) {
            say(err, errlen, "migration: cannot read user_version: %s", sqlite3_errmsg(db));
            exec(db, "ROLLBACK");
            return CORIO_ERR_IO;
        }
        if (v < 0) {
            say(err, errlen, "database schema version %d is not one Corio writes", v);
            exec(db, "ROLLBACK");
            return CORIO_ERR_VERSION;
        }
        if ((size_t)v > nsteps) {
            say(err, errlen,
                "database schema version %d is newer than this program knows (%zu); "
                "it was written by a newer release",
                v, nsteps);
            exec(db, "ROLLBACK");
            return CORIO_ERR_VERSION;
        }
        if ((size_t)v == nsteps)
            return exec(db, "COMMIT");
        char *msg = NULL;
        if (sqlite3_exec(db, steps[v], NULL, NULL, &msg) != SQLITE_OK) {
            say(err, errlen, "migration step %d failed: %s", v + 1, msg ? msg : "?");
            sqlite3_free(msg);
            exec(db, "ROLLBACK");
            return CORIO_ERR_IO;
        }
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version=%d", v + 1);
        if (exec(db, set) != CORIO_OK || exec(db, "COMMIT") != CORIO_OK) {
            say(err, errlen, "migration step %d: cannot commit: %s", v + 1, sqlite3_errmsg(db));
            exec(db, "ROLLBACK");
            return CORIO_ERR_IO;
        }
    }
}
