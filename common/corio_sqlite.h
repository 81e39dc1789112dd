/*
 * corio_sqlite.h - opening SQLite databases the Corio way, and forward-only migrations.
 *
 * corio_sqlite_open turns on what every Corio database needs: WAL journal (readers do
 * not block the writer), synchronous=NORMAL (with WAL: a commit survives a crash of any
 * process; a power cut may lose the last commits, see DESIGN.md section 1), a busy
 * timeout (a second connection waits for a lock instead of failing at once) and foreign
 * keys.
 *
 * corio_sqlite_migrate brings a schema forward. The schema's version is PRAGMA
 * user_version: the number of migration steps applied. Steps are SQL text, applied in
 * order, each in its own transaction together with the new user_version, so a crash
 * leaves the database at a step boundary and the next start continues from there. A
 * database whose version is higher than the program's step count was written by a newer
 * program and is refused (CORIO_ERR_VERSION), never downgraded. Steps are append-only:
 * once released, a step is never edited, only followed by new ones.
 */
#ifndef CORIO_SQLITE_H
#define CORIO_SQLITE_H

#include <stddef.h>

#include <sqlite3.h>

/* Flags for corio_sqlite_open. */
#define CORIO_SQLITE_READONLY 0x1u /* open read-only; the file must exist */

/*
 * Opens (creating unless read-only) the database at path and sets the pragmas above;
 * busy_timeout_ms of 0 means 5000. An in-memory database (":memory:") keeps its own
 * journal mode. The connection is opened in SQLite's multi-thread mode
 * (SQLITE_OPEN_NOMUTEX): use it from one thread at a time; open one per thread.
 * Returns CORIO_OK and sets *db (close it with sqlite3_close), or CORIO_ERR_IO with
 * "<path>: <sqlite message>" in err (err may be NULL); *db is then NULL.
 */
int corio_sqlite_open(const char *path, unsigned flags, int busy_timeout_ms, sqlite3 **db,
                      char *err, size_t errlen);

/*
 * Applies steps[user_version .. nsteps-1] to db, each with its own BEGIN IMMEDIATE ...
 * COMMIT and the new user_version. Two processes migrating at once are safe: the
 * version is re-read inside the transaction.
 * Returns CORIO_OK (including when nothing was to do); CORIO_ERR_VERSION when the
 * database's version is above nsteps; CORIO_ERR_IO when a step fails (the step is
 * rolled back; err names the step, 1-based, and SQLite's message).
 */
int corio_sqlite_migrate(sqlite3 *db, const char *const *steps, size_t nsteps, char *err,
                         size_t errlen);

/* Reads PRAGMA user_version into *version. Returns CORIO_OK or CORIO_ERR_IO. */
int corio_sqlite_user_version(sqlite3 *db, int *version);

#endif /* CORIO_SQLITE_H */
