/*
 * powercut_vfs.h - an SQLite VFS for tests that makes a power cut reproducible: it
 * passes every write through to the real file (so other processes see it, as they
 * would through the page cache) and remembers what is not yet synced, so that a
 * simulated power cut can throw away every write since each file's last xSync.
 *
 * How it remembers: before a write or truncate reaches a file's bytes that existed at
 * its last sync, the VFS appends the bytes about to be overwritten to an undo journal
 * beside the file, "<file>-unsynced" (a header holds the file's size at its last sync).
 * xSync of the file deletes its journal: everything in it is durable now. The journal
 * lives on disk, not in the process, so it survives the process: a program can run
 * over the VFS, be SIGKILLed, and the test then applies the cut. Deleting a file through
 * the VFS deletes its journal too (a deletion is taken as durable).
 *
 * The cut itself: stop every process that has the database open (SIGKILL: a power cut
 * stops them without warning), then corio_powercut_apply() on the database path puts the
 * database, its WAL and its rollback journal back to their last synced state and
 * removes the shared-memory index (-shm), which a reboot would lose; SQLite rebuilds it
 * from the WAL on the next open.
 *
 * This is the worst case of a real power cut (which may also keep some unsynced writes):
 * what it proves holds for every case in between. Only files opened as a main
 * database, a WAL or a rollback journal are tracked; temporary files pass straight
 * through. The VFS is for tests and fault drills; the plugin uses it only when asked
 * (plugin_opt_vfs, docs/telemetry.md).
 */
#ifndef CORIO_GATEWAY_POWERCUT_VFS_H
#define CORIO_GATEWAY_POWERCUT_VFS_H

#include <stdint.h>

/* The name to pass to sqlite3_open_v2() (and to corio_outbox_options.vfs). */
#define CORIO_POWERCUT_VFS "corio-powercut"

/* The suffix of a file's undo journal. */
#define CORIO_POWERCUT_SUFFIX "-unsynced"

/*
 * Registers the VFS over the process's default VFS (not as the default). Safe to call
 * more than once, from one thread. Returns CORIO_OK or CORIO_ERR_IO (no default VFS,
 * or SQLite refused the registration).
 */
int corio_powercut_vfs_register(void);

/*
 * The power cut, for the database at db_path: restores db_path, db_path-wal,
 * db_path-journal and db_path-intake (the outbox's intake log, opened as a journal) to
 * their last synced content from their undo journals (applied from the newest record
 * to the oldest, then each file truncated to its synced size),
 * fsyncs them, removes the journals and db_path-shm. No process may have the database
 * open. Returns the number of bytes the cut threw away or restored (>= 0: 0 when
 * everything was synced), CORIO_ERR_MALFORMED for a journal that is not one (left in
 * place), or CORIO_ERR_IO.
 */
int64_t corio_powercut_apply(const char *db_path);

/*
 * How many bytes of db_path's files a power cut would touch now: the sum of the sizes
 * of their undo journals (0 when everything is synced). Returns >= 0, or CORIO_ERR_IO.
 */
int64_t corio_powercut_pending(const char *db_path);

#endif /* CORIO_GATEWAY_POWERCUT_VFS_H */
