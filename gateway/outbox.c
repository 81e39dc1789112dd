/*
 * outbox.c - the gateway outbox in SQLite (outbox.h, docs/formats.md).
 *
 * The writer keeps a running count of the bytes it stores, so that refusing a message
 * when the outbox is full costs nothing on the hot path; it is recomputed from the file
 * when the outbox opens.
 *
 * The intake log (opts.intake): an SQLite commit costs about ten microseconds of the
 * broker's one thread, mostly lock and write system calls, whatever the row; a write
 * to a plain file costs one system call. So an append writes its record to the log
 * (outbox_intake.h) and keeps it in memory, and corio_outbox_flush() moves everything
 * pending into the table in one transaction. The log goes through the same SQLite VFS
 * as the database, so the power-cut VFS of the tests sees it too.
 */
#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "corio/error.h"
#include "outbox_intake.h"

/* What a row costs beyond its payload: the key, the short strings, SQLite's cell and
 * index overhead. An estimate that errs high, so the cap is a true bound on the file. */
#define ROW_OVERHEAD 96

/* Ids are reserved durably this many at a time (one WAL fsync each), so that after a
 * power cut, which may take ids already handed out, the next ids start above all of
 * them: (gateway, epoch, id) never names two messages, and no new row hides under a
 * watermark the forwarder wrote for a row the cut took. */
#define ID_BLOCK 4096

/* Pending intake records are moved into the table at the latest at this many rows or
 * bytes (the caller's flush usually comes first); past INTAKE_HARD_BYTES pending (the
 * table keeps failing) appends are refused. */
#define INTAKE_ROWS       256
#define INTAKE_BYTES      (1 << 20)
#define INTAKE_HARD_BYTES (64 << 20)

struct corio_outbox {
    sqlite3 *db;
    char *path;
    bool read_only;
    uint64_t epoch;
    int64_t max_bytes;
    int64_t bytes;
    int64_t rows;
    int64_t last_id;     /* the highest id handed out (writer) */
    int64_t id_reserved; /* ids up to this are reserved durably (writer) */
    bool was_clean;      /* the previous writer closed the file (writer) */
    bool writing;        /* writer_start succeeded (writer) */
    int64_t flushed_id;  /* the highest id in the table, or moved out of it (writer) */
    /* The intake log (writer with opts.intake), NULL without one. */
    sqlite3_file *intake;
    char *intake_path; /* full path; SQLite's VFS needs it until the file closes */
    uint8_t *pend;     /* the records written since the last flush, as in the log */
    size_t pend_len, pend_cap;
    int pend_rows;
    int64_t recovered;  /* rows the open found in the log and moved into the table */
    bool intake_reader; /* a reader that also reads the log (opts.intake) */
    char *vfs_name;     /* the VFS the file was opened with (NULL: the default) */
    sqlite3_stmt *insert_ignore;
    sqlite3_stmt *insert;
    sqlite3_stmt *read;
    sqlite3_stmt *sum_through;
    sqlite3_stmt *delete_through;
    sqlite3_stmt *fold_through;
    sqlite3_stmt *put_seq;
    sqlite3_stmt *set_seq;
    sqlite3_stmt *put_last;
    sqlite3_stmt *oldest;
};

/* A new file. Ids are assigned by the writer (outbox.h): no AUTOINCREMENT, whose
 * sqlite_sequence row would be one more page written at every commit. */
static const char *const schema =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) STRICT;"
    "CREATE TABLE outbox("
    "  id        INTEGER PRIMARY KEY,"
    "  device    TEXT NOT NULL,"
    "  suffix    TEXT NOT NULL,"
    "  recv_ms   INTEGER NOT NULL,"
    "  class     INTEGER NOT NULL,"
    "  payload   BLOB NOT NULL,"
    "  dev_epoch INTEGER,"
    "  dev_seq   INTEGER) STRICT;"
    "CREATE TABLE seqs(device TEXT PRIMARY KEY, epoch INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL) STRICT;";

/* Forward migrations: step i takes user_version i + 1 to i + 2, in one transaction. */
static const char *const migrations[] = {
    /* 2: the device identity of each row; the highest one of each device that left the
     * outbox (the cloud has it), for asking devices to resend after a power cut; ids
     * assigned by the writer (meta 'id_last', 'id_reserved') instead of AUTOINCREMENT. */
    "CREATE TABLE outbox2("
    "  id        INTEGER PRIMARY KEY,"
    "  device    TEXT NOT NULL,"
    "  suffix    TEXT NOT NULL,"
    "  recv_ms   INTEGER NOT NULL,"
    "  class     INTEGER NOT NULL,"
    "  payload   BLOB NOT NULL,"
    "  dev_epoch INTEGER,"
    "  dev_seq   INTEGER) STRICT;"
    "INSERT INTO outbox2(id, device, suffix, recv_ms, class, payload)"
    "  SELECT id, device, suffix, recv_ms, class, payload FROM outbox;"
    "INSERT OR REPLACE INTO meta(key, value) VALUES ('id_last', max("
    "  coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0),"
    "  coalesce((SELECT max(id) FROM outbox), 0)));"
    "DROP TABLE outbox;"
    "ALTER TABLE outbox2 RENAME TO outbox;"
    "CREATE TABLE seqs(device TEXT PRIMARY KEY, epoch INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL) STRICT;"
    "UPDATE meta SET value = 2 WHERE key = 'format';",
};

/* The highest id ever handed out: the rows' highest, or what the writer recorded
 * (meta 'id_last', written at each delete, start and close), whichever is higher. */
static const char last_id_sql[] =
    "SELECT max(coalesce((SELECT max(id) FROM outbox), 0),"
    " coalesce((SELECT value FROM meta WHERE key = 'id_last'), 0))";

int64_t corio_outbox_row_cost(size_t payload_len)
{
    return (int64_t)payload_len + ROW_OVERHEAD;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int fail(char *err, size_t errlen, int code, const char *what, sqlite3 *db)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s", what, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
    return code;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? CORIO_OK : CORIO_ERR_IO;
}

static int user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    int rc = sqlite3_step(st) == SQLITE_ROW ? CORIO_OK : CORIO_ERR_IO;
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Creates the schema of a new file in one transaction, with a fresh epoch. */
static int create_schema(corio_outbox *ob, const char *gateway, char *err, size_t errlen)
{
    uint64_t epoch = 0;
    while (epoch == 0) {
        if (getrandom(&epoch, sizeof epoch, 0) != sizeof epoch)
            return fail(err, errlen, CORIO_ERR_IO, "getrandom failed", NULL);
        epoch &= INT64_MAX; /* SQLite integers are signed */
    }
    if (exec(ob->db, "BEGIN IMMEDIATE") != CORIO_OK)
        return fail(err, errlen, CORIO_ERR_IO, "cannot begin", ob->db);
    int version;
    if (user_version(ob->db, &version) != CORIO_OK)
        goto error;
    if (version != 0) { /* another writer created it meanwhile */
        exec(ob->db, "ROLLBACK");
        return CORIO_OK;
    }
    if (exec(ob->db, schema) != CORIO_OK)
        goto error;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ob->db,
                           "INSERT INTO meta(key, value) VALUES ('format', ?1), ('epoch', ?2),"
                           " ('gateway', ?3), ('created_ms', ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        goto error;
    sqlite3_bind_int(st, 1, CORIO_OUTBOX_FORMAT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch);
    sqlite3_bind_text(st, 3, gateway ? gateway : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        goto error;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", CORIO_OUTBOX_FORMAT);
    if (exec(ob->db, pragma) != CORIO_OK || exec(ob->db, "COMMIT") != CORIO_OK)
        goto error;
    return CORIO_OK;
error:
    fail(err, errlen, CORIO_ERR_IO, "cannot create the outbox schema", ob->db);
    exec(ob->db, "ROLLBACK");
    return CORIO_ERR_IO;
}

/* Takes a file of an older format to this one, step by step, each in a transaction. */
static int migrate(corio_outbox *ob, int version, char *err, size_t errlen)
{
    while (version < CORIO_OUTBOX_FORMAT) {
        if (exec(ob->db, "BEGIN IMMEDIATE") != CORIO_OK)
            return fail(err, errlen, CORIO_ERR_IO, "cannot begin", ob->db);
        int now;
        if (user_version(ob->db, &now) != CORIO_OK)
            goto error;
        if (now != version) { /* another writer migrated it meanwhile */
            exec(ob->db, "ROLLBACK");
            version = now;
            continue;
        }
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
        if (exec(ob->db, migrations[version - 1]) != CORIO_OK || exec(ob->db, pragma) != CORIO_OK ||
            exec(ob->db, "COMMIT") != CORIO_OK)
            goto error;
        version++;
    }
    return CORIO_OK;
error:
    fail(err, errlen, CORIO_ERR_IO, "cannot migrate the outbox", ob->db);
    exec(ob->db, "ROLLBACK");
    return CORIO_ERR_IO;
}

static int meta_int(corio_outbox *ob, const char *key, int64_t def, int64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ob->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : def;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

static int meta_put(corio_outbox *ob, const char *key, int64_t value)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ob->db, "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           -1, &st, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

static int64_t last_id(corio_outbox *ob)
{
    int64_t id = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ob->db, last_id_sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/*
 * The writer's start, in one transaction made durable before the first append: notes
 * whether the previous writer closed the file (meta 'clean'), marks it open, and after
 * an unclean end moves the id sequence past every id that may have been handed out
 * (meta 'id_reserved'); then reserves the next block of ids.
 */
static int writer_start(corio_outbox *ob, char *err, size_t errlen)
{
    if (exec(ob->db, "BEGIN IMMEDIATE") != CORIO_OK)
        return fail(err, errlen, CORIO_ERR_IO, "cannot begin", ob->db);
    int64_t clean, reserved;
    if (meta_int(ob, "clean", 1, &clean) != CORIO_OK ||
        meta_int(ob, "id_reserved", 0, &reserved) != CORIO_OK)
        goto error;
    ob->was_clean = clean != 0;
    ob->last_id = last_id(ob);
    if (!ob->was_clean && reserved > ob->last_id)
        ob->last_id = reserved; /* past every id that may have been handed out */
    ob->id_reserved = ob->last_id + ID_BLOCK;
    if (meta_put(ob, "clean", 0) != CORIO_OK || meta_put(ob, "id_last", ob->last_id) != CORIO_OK ||
        meta_put(ob, "id_reserved", ob->id_reserved) != CORIO_OK ||
        exec(ob->db, "COMMIT") != CORIO_OK)
        goto error;
    if (corio_outbox_sync(ob) != CORIO_OK)
        return fail(err, errlen, CORIO_ERR_IO, "cannot sync the outbox", NULL);
    ob->flushed_id = ob->last_id;
    ob->writing = true;
    return CORIO_OK;
error:
    fail(err, errlen, CORIO_ERR_IO, "cannot start writing the outbox", ob->db);
    exec(ob->db, "ROLLBACK");
    return CORIO_ERR_IO;
}

static int load_meta(corio_outbox *ob, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ob->db, "SELECT value FROM meta WHERE key = 'epoch'", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(err, errlen, CORIO_ERR_MALFORMED, "not a Corio outbox", ob->db);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        ob->epoch = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW || ob->epoch == 0)
        return fail(err, errlen, CORIO_ERR_MALFORMED, "the outbox has no epoch", NULL);

    if (sqlite3_prepare_v2(ob->db,
                           "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox", -1,
                           &st, NULL) != SQLITE_OK)
        return fail(err, errlen, CORIO_ERR_MALFORMED, "not a Corio outbox", ob->db);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ob->rows = sqlite3_column_int64(st, 0);
        ob->bytes = sqlite3_column_int64(st, 1) + ob->rows * ROW_OVERHEAD;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? CORIO_OK : fail(err, errlen, CORIO_ERR_IO, "cannot size", ob->db);
}

static int prepare(corio_outbox *ob, char *err, size_t errlen)
{
    struct {
        sqlite3_stmt **st;
        const char *sql;
        bool writer;
    } stmts[] = {
        {&ob->insert,
         "INSERT INTO outbox(device, suffix, recv_ms, class, payload, dev_epoch, dev_seq, id) "
         "VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
         true},
        {&ob->insert_ignore,
         "INSERT OR IGNORE INTO outbox(device, suffix, recv_ms, class, payload, dev_epoch, "
         "dev_seq, id) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
         true},
        {&ob->put_last, "UPDATE meta SET value = ?1 WHERE key = 'id_last'", true},
        {&ob->read,
         "SELECT id, device, suffix, recv_ms, class, payload FROM outbox WHERE id > ?1 "
         "ORDER BY id LIMIT ?2",
         false},
        {&ob->sum_through,
         "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox WHERE id <= ?1", true},
        {&ob->delete_through, "DELETE FROM outbox WHERE id <= ?1", true},
        {&ob->fold_through,
         "SELECT device, dev_epoch, dev_seq FROM outbox WHERE id <= ?1 AND dev_seq IS NOT NULL "
         "ORDER BY id",
         true},
        {&ob->put_seq,
         "INSERT INTO seqs(device, epoch, seq) VALUES (?1, ?2, ?3) ON CONFLICT(device) DO "
         "UPDATE SET seq = CASE WHEN epoch = excluded.epoch THEN max(seq, excluded.seq) "
         "ELSE excluded.seq END, epoch = excluded.epoch",
         true},
        {&ob->set_seq,
         "INSERT INTO seqs(device, epoch, seq) VALUES (?1, ?2, ?3) ON CONFLICT(device) DO "
         "UPDATE SET epoch = excluded.epoch, seq = excluded.seq",
         true},
        {&ob->oldest, "SELECT recv_ms FROM outbox ORDER BY id LIMIT 1", false},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        if (stmts[i].writer && ob->read_only)
            continue;
        if (sqlite3_prepare_v3(ob->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                               stmts[i].st, NULL) != SQLITE_OK)
            return fail(err, errlen, CORIO_ERR_MALFORMED, "not a Corio outbox", ob->db);
    }
    return CORIO_OK;
}

/* Inserts one row under its id, with st (ob->insert or ob->insert_ignore). */
static int insert_row(corio_outbox *ob, sqlite3_stmt *st, const struct corio_intake_rec *r)
{
    (void)ob;
    sqlite3_bind_text(st, 1, r->device, (int)r->device_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->suffix, (int)r->suffix_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, r->recv_ms);
    sqlite3_bind_int(st, 4, r->cls);
    sqlite3_bind_blob64(st, 5, r->payload_len ? (const void *)r->payload : "", r->payload_len,
                        SQLITE_STATIC);
    if (r->dev_seq) {
        sqlite3_bind_int64(st, 6, (sqlite3_int64)r->dev_epoch);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)r->dev_seq);
    }
    sqlite3_bind_int64(st, 8, r->id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

struct recovery {
    corio_outbox *ob;
    int64_t floor; /* ids up to this were in the table already */
    int64_t rows, bytes;
    bool failed;
};

static int recover_one(const struct corio_intake_rec *r, void *arg)
{
    struct recovery *rv = arg;
    /* At or below the floor: moved into the table in an earlier round (the log is
     * rewritten from its start each round, so older records may follow newer ones).
     * Above it, in any order: PUBACKed and not in the table. */
    if (r->id <= rv->floor)
        return 0;
    if (insert_row(rv->ob, rv->ob->insert_ignore, r) != CORIO_OK) {
        rv->failed = true;
        return 1;
    }
    if (sqlite3_changes(rv->ob->db) > 0) {
        rv->rows++;
        rv->bytes += corio_outbox_row_cost(r->payload_len);
    }
    return 0;
}

/* Largest intake log read back at open: pending rows are refused past INTAKE_HARD_BYTES,
 * so only a single record larger than that could lie beyond. */
#define INTAKE_READ_MAX ((sqlite3_int64)512 << 20)

/*
 * Opens the intake log "<outbox>-intake" through the outbox's VFS, moves every record in
 * it that the table does not have into the table (made durable), and starts the log
 * afresh: a header for this epoch and nothing after it, synced, so that a power cut
 * from here on cannot bring back a record older than this start.
 */
static int intake_open(corio_outbox *ob, const char *vfs_name, char *err, size_t errlen)
{
    sqlite3_vfs *vfs = sqlite3_vfs_find(vfs_name);
    if (!vfs)
        return fail(err, errlen, CORIO_ERR_IO, "no SQLite VFS for the intake log", NULL);
    char *name = sqlite3_mprintf("%s-intake", ob->path);
    /* Double NUL-terminated, as SQLite hands file names to a VFS. */
    ob->intake_path = sqlite3_malloc(vfs->mxPathname + 2);
    ob->intake = sqlite3_malloc(vfs->szOsFile);
    if (!name || !ob->intake_path || !ob->intake) {
        sqlite3_free(name);
        return fail(err, errlen, CORIO_ERR_NOSPACE, "out of memory", NULL);
    }
    memset(ob->intake_path, 0, (size_t)vfs->mxPathname + 2);
    memset(ob->intake, 0, (size_t)vfs->szOsFile);
    int rc = vfs->xFullPathname(vfs, name, vfs->mxPathname + 1, ob->intake_path);
    sqlite3_free(name);
    int out_flags = 0;
    if (rc == SQLITE_OK)
        rc = vfs->xOpen(vfs, ob->intake_path, ob->intake,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_JOURNAL,
                        &out_flags);
    if (rc != SQLITE_OK) {
        if (ob->intake->pMethods)
            ob->intake->pMethods->xClose(ob->intake);
        sqlite3_free(ob->intake);
        ob->intake = NULL;
        return fail(err, errlen, CORIO_ERR_IO, "cannot open the intake log", NULL);
    }
    const sqlite3_io_methods *m = ob->intake->pMethods;

    sqlite3_int64 size = 0;
    if (m->xFileSize(ob->intake, &size) != SQLITE_OK)
        return fail(err, errlen, CORIO_ERR_IO, "cannot size the intake log", NULL);
    if (size > INTAKE_READ_MAX)
        size = INTAKE_READ_MAX;
    if (size >= CORIO_INTAKE_HEADER) {
        uint8_t *buf = malloc((size_t)size);
        if (!buf)
            return fail(err, errlen, CORIO_ERR_NOSPACE, "out of memory", NULL);
        rc = m->xRead(ob->intake, buf, (int)size, 0);
        struct recovery rv = {.ob = ob, .floor = last_id(ob)};
        if (rc == SQLITE_OK && corio__intake_header_ok(buf, (size_t)size, ob->epoch)) {
            if (exec(ob->db, "BEGIN IMMEDIATE") != CORIO_OK) {
                free(buf);
                return fail(err, errlen, CORIO_ERR_IO, "cannot begin", ob->db);
            }
            corio__intake_parse(buf + CORIO_INTAKE_HEADER, (size_t)size - CORIO_INTAKE_HEADER, true,
                                recover_one, &rv, NULL);
            if (rv.failed || exec(ob->db, "COMMIT") != CORIO_OK) {
                exec(ob->db, "ROLLBACK");
                free(buf);
                return fail(err, errlen, CORIO_ERR_IO, "cannot move the intake log", ob->db);
            }
        }
        free(buf);
        if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
            return fail(err, errlen, CORIO_ERR_IO, "cannot read the intake log", NULL);
        ob->rows += rv.rows;
        ob->bytes += rv.bytes;
        ob->recovered = rv.rows;
        /* Durable in the table before the log forgets them. */
        if (rv.rows && corio_outbox_sync(ob) != CORIO_OK)
            return fail(err, errlen, CORIO_ERR_IO, "cannot sync the outbox", NULL);
    }
    uint8_t header[CORIO_INTAKE_HEADER];
    corio__intake_header(ob->epoch, header);
    if (m->xWrite(ob->intake, header, sizeof header, 0) != SQLITE_OK ||
        m->xTruncate(ob->intake, CORIO_INTAKE_HEADER) != SQLITE_OK ||
        m->xSync(ob->intake, SQLITE_SYNC_NORMAL) != SQLITE_OK)
        return fail(err, errlen, CORIO_ERR_IO, "cannot start the intake log", NULL);
    return CORIO_OK;
}

static void intake_close(corio_outbox *ob)
{
    if (ob->intake) {
        if (ob->intake->pMethods)
            ob->intake->pMethods->xClose(ob->intake);
        sqlite3_free(ob->intake);
    }
    sqlite3_free(ob->intake_path);
    free(ob->pend);
    ob->intake = NULL;
    ob->intake_path = NULL;
    ob->pend = NULL;
}

/* Writes one record to the intake log and keeps it pending. CORIO_ERR_INVAL: a message
 * the log cannot hold (a name too long); the caller stores it directly. */
static int intake_append(corio_outbox *ob, const struct corio_intake_rec *r)
{
    if (ob->pend_len >= INTAKE_HARD_BYTES)
        return CORIO_ERR_IO; /* the table keeps failing: refuse rather than grow */
    size_t need = corio__intake_rec_size(r->device_len, r->suffix_len, r->payload_len);
    if (need > INT32_MAX)
        return CORIO_ERR_INVAL;
    if (ob->pend_cap - ob->pend_len < need) {
        size_t cap = ob->pend_cap ? ob->pend_cap : 65536;
        while (cap - ob->pend_len < need)
            cap *= 2;
        uint8_t *p = realloc(ob->pend, cap);
        if (!p)
            return CORIO_ERR_IO;
        ob->pend = p;
        ob->pend_cap = cap;
    }
    if (corio__intake_encode(r, ob->pend + ob->pend_len, ob->pend_cap - ob->pend_len) != need)
        return CORIO_ERR_INVAL;
    if (ob->intake->pMethods->xWrite(ob->intake, ob->pend + ob->pend_len, (int)need,
                                     CORIO_INTAKE_HEADER + (sqlite3_int64)ob->pend_len) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    ob->pend_len += need;
    ob->pend_rows++;
    return CORIO_OK;
}

struct flushing {
    corio_outbox *ob;
    bool failed;
};

static int flush_one(const struct corio_intake_rec *r, void *arg)
{
    struct flushing *f = arg;
    if (insert_row(f->ob, f->ob->insert, r) != CORIO_OK) {
        f->failed = true;
        return 1;
    }
    return 0;
}

int corio_outbox_flush(corio_outbox *ob)
{
    if (!ob->intake || ob->pend_rows == 0)
        return CORIO_OK;
    if (exec(ob->db, "BEGIN IMMEDIATE") != CORIO_OK)
        return CORIO_ERR_IO;
    struct flushing f = {.ob = ob};
    size_t used = 0;
    int n = corio__intake_parse(ob->pend, ob->pend_len, false, flush_one, &f, &used);
    if (f.failed || n != ob->pend_rows || used != ob->pend_len ||
        exec(ob->db, "COMMIT") != CORIO_OK) {
        exec(ob->db, "ROLLBACK");
        return CORIO_ERR_IO; /* still pending, still in the log: the next flush tries again */
    }
    /* The log is written from its start again: what it holds now is in the table. */
    ob->flushed_id = ob->last_id;
    ob->pend_len = 0;
    ob->pend_rows = 0;
    return CORIO_OK;
}

int corio_outbox_pending(const corio_outbox *ob)
{
    return ob->pend_rows;
}

int64_t corio_outbox_recovered(const corio_outbox *ob)
{
    return ob->recovered;
}

int corio_outbox_open(const struct corio_outbox_options *opts, corio_outbox **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (!opts || !opts->path)
        return fail(err, errlen, CORIO_ERR_INVAL, "no outbox path", NULL);
    corio_outbox *ob = calloc(1, sizeof *ob);
    if (!ob || !(ob->path = strdup(opts->path))) {
        free(ob);
        return fail(err, errlen, CORIO_ERR_NOSPACE, "out of memory", NULL);
    }
    ob->read_only = opts->read_only || opts->checkpointer;
    ob->intake_reader = opts->read_only && opts->intake;
    if (opts->vfs && !(ob->vfs_name = strdup(opts->vfs))) {
        free(ob->path);
        free(ob);
        return fail(err, errlen, CORIO_ERR_NOSPACE, "out of memory", NULL);
    }
    ob->max_bytes = opts->max_bytes > 0 ? opts->max_bytes : INT64_MAX;

    int flags = opts->read_only      ? SQLITE_OPEN_READONLY
                : opts->checkpointer ? SQLITE_OPEN_READWRITE
                                     : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc;
    if (sqlite3_open_v2(opts->path, &ob->db, flags | SQLITE_OPEN_NOMUTEX, opts->vfs) !=
        SQLITE_OK) {
        rc = fail(err, errlen, CORIO_ERR_IO, "cannot open the outbox", ob->db);
        goto error;
    }
    sqlite3_busy_timeout(ob->db, 5000);
    sqlite3_extended_result_codes(ob->db, 1);
    if (!ob->read_only) {
        /* WAL: readers never block the writer. NORMAL: a commit survives a process crash;
         * power loss is bounded by corio_outbox_sync() on the writer's timer. */
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA wal_autocheckpoint=%d",
                 CORIO_OUTBOX_AUTOCHECKPOINT);
        if (exec(ob->db, "PRAGMA journal_mode=WAL") != CORIO_OK ||
            exec(ob->db, "PRAGMA synchronous=NORMAL") != CORIO_OK ||
            exec(ob->db, pragma) != CORIO_OK) {
            rc = fail(err, errlen, CORIO_ERR_IO, "cannot set WAL mode", ob->db);
            goto error;
        }
    }
    int version;
    if (user_version(ob->db, &version) != CORIO_OK) {
        rc = fail(err, errlen, CORIO_ERR_MALFORMED, "not an SQLite database", ob->db);
        goto error;
    }
    if (version == 0) {
        if (opts->read_only || opts->checkpointer) {
            rc = fail(err, errlen, CORIO_ERR_NOTFOUND, "the outbox is not created yet", NULL);
            goto error;
        }
        if ((rc = create_schema(ob, opts->gateway, err, errlen)) != CORIO_OK)
            goto error;
    } else if (version > CORIO_OUTBOX_FORMAT) {
        char what[96];
        snprintf(what, sizeof what, "outbox format %d is newer than this program's %d", version,
                 CORIO_OUTBOX_FORMAT);
        rc = fail(err, errlen, CORIO_ERR_VERSION, what, NULL);
        goto error;
    } else if (version < CORIO_OUTBOX_FORMAT && !ob->read_only &&
               (rc = migrate(ob, version, err, errlen)) != CORIO_OK) {
        goto error;
    }
    if ((rc = load_meta(ob, err, errlen)) != CORIO_OK)
        goto error;
    if ((rc = prepare(ob, err, errlen)) != CORIO_OK)
        goto error;
    /* The intake log first: what it gives back counts among the ids writer_start sees. */
    if (!ob->read_only && opts->intake &&
        (rc = intake_open(ob, opts->vfs, err, errlen)) != CORIO_OK)
        goto error;
    if (!ob->read_only && (rc = writer_start(ob, err, errlen)) != CORIO_OK)
        goto error;
    *out = ob;
    return CORIO_OK;
error:
    corio_outbox_close(ob);
    return rc;
}

void corio_outbox_close(corio_outbox *ob)
{
    if (!ob)
        return;
    /* A clean end, when everything is in the table: the next writer need not skip ids.
     * Rows the table would not take stay in the intake log for the next open. */
    if (ob->writing && corio_outbox_flush(ob) == CORIO_OK &&
        meta_put(ob, "id_last", ob->last_id) == CORIO_OK && meta_put(ob, "clean", 1) == CORIO_OK)
        corio_outbox_sync(ob);
    intake_close(ob);
    sqlite3_finalize(ob->insert);
    sqlite3_finalize(ob->insert_ignore);
    sqlite3_finalize(ob->read);
    sqlite3_finalize(ob->sum_through);
    sqlite3_finalize(ob->delete_through);
    sqlite3_finalize(ob->fold_through);
    sqlite3_finalize(ob->put_seq);
    sqlite3_finalize(ob->set_seq);
    sqlite3_finalize(ob->put_last);
    sqlite3_finalize(ob->oldest);
    sqlite3_close(ob->db);
    free(ob->vfs_name);
    free(ob->path);
    free(ob);
}

uint64_t corio_outbox_epoch(const corio_outbox *ob)
{
    return ob->epoch;
}

int corio_outbox_append(corio_outbox *ob, const char *device, const char *suffix,
                        int64_t recv_ms, int cls, const void *payload, size_t len,
                        int64_t *id_out)
{
    return corio_outbox_append_seq(ob, device, suffix, recv_ms, cls, 0, 0, payload, len, id_out);
}

/* Reserves the next block of ids durably, before the first of them is handed out. */
static int reserve_ids(corio_outbox *ob)
{
    int64_t next = ob->id_reserved + ID_BLOCK;
    if (meta_put(ob, "id_reserved", next) != CORIO_OK || corio_outbox_sync(ob) != CORIO_OK)
        return CORIO_ERR_IO;
    ob->id_reserved = next;
    return CORIO_OK;
}

int corio_outbox_append_seq(corio_outbox *ob, const char *device, const char *suffix,
                            int64_t recv_ms, int cls, uint64_t dev_epoch, uint64_t dev_seq,
                            const void *payload, size_t len, int64_t *id_out)
{
    if (ob->read_only || !device || !suffix || (!payload && len) || dev_epoch > INT64_MAX ||
        dev_seq > INT64_MAX)
        return CORIO_ERR_INVAL;
    int64_t cost = corio_outbox_row_cost(len);
    int64_t limit = ob->max_bytes;
    if (cls >= CORIO_OUTBOX_CLASS_DROPPABLE)
        limit = ob->max_bytes / 10 * 9;
    if (ob->bytes + cost > limit)
        return CORIO_ERR_FULL;
    if (ob->last_id + 1 > ob->id_reserved && reserve_ids(ob) != CORIO_OK)
        return CORIO_ERR_IO;

    struct corio_intake_rec r = {.id = ob->last_id + 1,
                                 .recv_ms = recv_ms,
                                 .dev_epoch = dev_seq ? dev_epoch : 0,
                                 .dev_seq = dev_seq,
                                 .cls = cls,
                                 .device = device,
                                 .device_len = strlen(device),
                                 .suffix = suffix,
                                 .suffix_len = strlen(suffix),
                                 .payload = payload,
                                 .payload_len = len};
    int rc = CORIO_ERR_INVAL;
    if (ob->intake) {
        rc = intake_append(ob, &r);
        if (rc != CORIO_OK && rc != CORIO_ERR_INVAL)
            return rc;
        /* CORIO_ERR_INVAL: not for the log; into the table after what is pending. */
        if (rc == CORIO_ERR_INVAL && corio_outbox_flush(ob) != CORIO_OK)
            return CORIO_ERR_IO;
    }
    if (rc != CORIO_OK) {
        if (insert_row(ob, ob->insert, &r) != CORIO_OK)
            return CORIO_ERR_IO;
        ob->flushed_id = r.id;
    }
    ob->bytes += cost;
    ob->rows++;
    ob->last_id = r.id;
    if (id_out)
        *id_out = r.id;
    if (ob->intake && (ob->pend_rows >= INTAKE_ROWS || ob->pend_len >= INTAKE_BYTES))
        corio_outbox_flush(ob); /* a failure leaves them pending and in the log */
    return CORIO_OK;
}

/* One device's identity over the rows about to be deleted. */
struct fold {
    char *device;
    int64_t epoch, seq;
    bool changed; /* its epoch changed among these rows: they alone decide */
};

struct folds {
    struct fold *f;
    size_t n, cap;
    size_t *slot; /* open addressing over f, index + 1 (0: free); 2 * cap entries */
};

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

/* The fold of device, added when new; NULL when out of memory. */
static struct fold *fold_of(struct folds *fs, const char *device)
{
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        struct fold *f = realloc(fs->f, cap * sizeof *f);
        size_t *slot = calloc(2 * cap, sizeof *slot);
        if (!f || !slot) {
            if (f)
                fs->f = f;
            free(slot);
            return NULL;
        }
        fs->f = f;
        fs->cap = cap;
        free(fs->slot);
        fs->slot = slot;
        for (size_t i = 0; i < fs->n; i++) {
            size_t j = name_hash(fs->f[i].device) & (2 * cap - 1);
            while (slot[j])
                j = (j + 1) & (2 * cap - 1);
            slot[j] = i + 1;
        }
    }
    size_t mask = 2 * fs->cap - 1, j = name_hash(device) & mask;
    for (; fs->slot[j]; j = (j + 1) & mask)
        if (strcmp(fs->f[fs->slot[j] - 1].device, device) == 0)
            return &fs->f[fs->slot[j] - 1];
    struct fold *f = &fs->f[fs->n];
    if (!(f->device = strdup(device)))
        return NULL;
    f->epoch = -1;
    f->seq = 0;
    f->changed = false;
    fs->slot[j] = ++fs->n;
    return f;
}

/*
 * Records in seqs the highest device identity of each device among the rows about to be
 * deleted (in the caller's transaction): the rows are in the cloud, and this is what the
 * outbox still knows of them. Rows are taken in id order: a device's newer epoch
 * replaces its older one, the same epoch keeps the highest seq. Folded in memory first,
 * one write per device (a drain deletes many rows of few devices).
 */
static int fold_seqs(corio_outbox *ob, int64_t through)
{
    struct folds fs = {0};
    sqlite3_stmt *q = ob->fold_through;
    sqlite3_bind_int64(q, 1, through);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *device = (const char *)sqlite3_column_text(q, 0);
        struct fold *f = device ? fold_of(&fs, device) : NULL;
        if (!f) {
            rc = SQLITE_NOMEM;
            break;
        }
        int64_t epoch = sqlite3_column_int64(q, 1), seq = sqlite3_column_int64(q, 2);
        if (f->epoch >= 0 && epoch != f->epoch) {
            f->changed = true;
            f->seq = seq;
        } else if (seq > f->seq || f->epoch < 0) {
            f->seq = seq;
        }
        f->epoch = epoch;
    }
    sqlite3_reset(q);
    for (size_t i = 0; rc == SQLITE_DONE && i < fs.n; i++) {
        /* Without a change of epoch here, seqs' own row takes part (the same epoch keeps
         * the highest); with one, these rows alone decide. */
        sqlite3_stmt *u = fs.f[i].changed ? ob->set_seq : ob->put_seq;
        sqlite3_bind_text(u, 1, fs.f[i].device, -1, SQLITE_STATIC);
        sqlite3_bind_int64(u, 2, fs.f[i].epoch);
        sqlite3_bind_int64(u, 3, fs.f[i].seq);
        if (sqlite3_step(u) != SQLITE_DONE)
            rc = SQLITE_ERROR;
        sqlite3_reset(u);
    }
    for (size_t i = 0; i < fs.n; i++)
        free(fs.f[i].device);
    free(fs.f);
    free(fs.slot);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

int64_t corio_outbox_delete_through(corio_outbox *ob, uint64_t epoch, int64_t through)
{
    if (ob->read_only)
        return CORIO_ERR_INVAL;
    if (epoch != ob->epoch)
        return CORIO_ERR_POLICY;
    corio_outbox_flush(ob); /* on failure, what is pending stays above flushed_id */
    if (exec(ob->db, "BEGIN IMMEDIATE") != CORIO_OK)
        return CORIO_ERR_IO;
    int64_t rows = 0, bytes = 0;
    sqlite3_bind_int64(ob->sum_through, 1, through);
    int rc = sqlite3_step(ob->sum_through);
    if (rc == SQLITE_ROW) {
        rows = sqlite3_column_int64(ob->sum_through, 0);
        bytes = sqlite3_column_int64(ob->sum_through, 1);
    }
    sqlite3_reset(ob->sum_through);
    if (rc != SQLITE_ROW)
        goto error;
    if (rows > 0 && fold_seqs(ob, through) != CORIO_OK)
        goto error;
    if (rows > 0) {
        /* Deleting the newest rows must not let their ids come back. Not past what is in
         * the table: an intake log read after a crash brings back the ids above it. */
        sqlite3_bind_int64(ob->put_last, 1, ob->flushed_id);
        rc = sqlite3_step(ob->put_last);
        sqlite3_reset(ob->put_last);
        if (rc != SQLITE_DONE)
            goto error;
    }
    if (rows > 0) {
        sqlite3_bind_int64(ob->delete_through, 1, through);
        rc = sqlite3_step(ob->delete_through);
        sqlite3_reset(ob->delete_through);
        if (rc != SQLITE_DONE)
            goto error;
    }
    if (exec(ob->db, "COMMIT") != CORIO_OK)
        goto error;
    ob->rows -= rows;
    ob->bytes -= bytes + rows * ROW_OVERHEAD;
    return rows;
error:
    exec(ob->db, "ROLLBACK");
    return CORIO_ERR_IO;
}

/* Where a read stands: rows passed, their payload bytes, the last id, whether it must
 * stop (fn asked to, or the next row would pass max_bytes). */
struct reading {
    int n;
    size_t bytes;
    int64_t last;
    bool stop;
};

static void feed(struct reading *rd, const struct corio_outbox_row *row, size_t max_bytes,
                 int (*fn)(const struct corio_outbox_row *row, void *arg), void *arg)
{
    if (rd->n > 0 && rd->bytes + row->payload_len > max_bytes) {
        rd->stop = true;
        return;
    }
    rd->bytes += row->payload_len;
    rd->n++;
    rd->last = row->id;
    if (fn(row, arg) != 0)
        rd->stop = true;
}

static int read_table(corio_outbox *ob, int64_t after, int max_rows, size_t max_bytes,
                      int (*fn)(const struct corio_outbox_row *row, void *arg), void *arg,
                      struct reading *rd)
{
    sqlite3_stmt *st = ob->read;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, max_rows);
    int rc = SQLITE_DONE;
    while (!rd->stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct corio_outbox_row row = {
            .id = sqlite3_column_int64(st, 0),
            .device = (const char *)sqlite3_column_text(st, 1),
            .suffix = (const char *)sqlite3_column_text(st, 2),
            .recv_ms = sqlite3_column_int64(st, 3),
            .cls = sqlite3_column_int(st, 4),
            .payload = sqlite3_column_blob(st, 5),
            .payload_len = (size_t)sqlite3_column_bytes(st, 5),
        };
        feed(rd, &row, max_bytes, fn, arg);
    }
    bool failed = !rd->stop && rc != SQLITE_DONE;
    sqlite3_reset(st);
    return failed ? CORIO_ERR_IO : CORIO_OK;
}

/* A reader's view of the intake log: the records above a floor, by id. */
struct logged {
    const struct corio_intake_rec **r;
    size_t n, cap;
    int64_t floor;
    bool oom;
};

static int collect_logged(const struct corio_intake_rec *r, void *arg)
{
    struct logged *lg = arg;
    if (r->id <= lg->floor)
        return 0;
    if (lg->n == lg->cap) {
        size_t cap = lg->cap ? lg->cap * 2 : 256;
        const struct corio_intake_rec **p = realloc(lg->r, cap * sizeof *p);
        if (!p) {
            lg->oom = true;
            return 1;
        }
        lg->r = p;
        lg->cap = cap;
    }
    struct corio_intake_rec *copy = malloc(sizeof *copy);
    if (!copy) {
        lg->oom = true;
        return 1;
    }
    *copy = *r;
    lg->r[lg->n++] = copy;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    const struct corio_intake_rec *x = *(const struct corio_intake_rec *const *)a;
    const struct corio_intake_rec *y = *(const struct corio_intake_rec *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The whole intake log as it is now, or NULL with *len 0 when there is none. */
static int intake_snapshot(corio_outbox *ob, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!ob->intake) {
        sqlite3_vfs *vfs = sqlite3_vfs_find(ob->vfs_name);
        if (!vfs)
            return CORIO_ERR_IO;
        if (!ob->intake_path) {
            char *name = sqlite3_mprintf("%s-intake", ob->path);
            ob->intake_path = sqlite3_malloc(vfs->mxPathname + 2);
            if (!name || !ob->intake_path) {
                sqlite3_free(name);
                return CORIO_ERR_NOSPACE;
            }
            memset(ob->intake_path, 0, (size_t)vfs->mxPathname + 2);
            int rc = vfs->xFullPathname(vfs, name, vfs->mxPathname + 1, ob->intake_path);
            sqlite3_free(name);
            if (rc != SQLITE_OK)
                return CORIO_ERR_IO;
        }
        int exists = 0;
        if (vfs->xAccess(vfs, ob->intake_path, SQLITE_ACCESS_EXISTS, &exists) != SQLITE_OK ||
            !exists)
            return CORIO_OK; /* no writer with a log yet */
        sqlite3_file *f = sqlite3_malloc(vfs->szOsFile);
        if (!f)
            return CORIO_ERR_NOSPACE;
        memset(f, 0, (size_t)vfs->szOsFile);
        int out_flags = 0;
        if (vfs->xOpen(vfs, ob->intake_path, f, SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_JOURNAL,
                       &out_flags) != SQLITE_OK) {
            if (f->pMethods)
                f->pMethods->xClose(f);
            sqlite3_free(f);
            return CORIO_ERR_IO;
        }
        ob->intake = f;
    }
    sqlite3_int64 size = 0;
    if (ob->intake->pMethods->xFileSize(ob->intake, &size) != SQLITE_OK)
        return CORIO_ERR_IO;
    if (size > INTAKE_READ_MAX)
        size = INTAKE_READ_MAX;
    if (size < CORIO_INTAKE_HEADER)
        return CORIO_OK;
    uint8_t *buf = malloc((size_t)size);
    if (!buf)
        return CORIO_ERR_NOSPACE;
    int rc = ob->intake->pMethods->xRead(ob->intake, buf, (int)size, 0);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
        free(buf);
        return CORIO_ERR_IO;
    }
    *out = buf;
    *len = (size_t)size;
    return CORIO_OK;
}

/*
 * A reader with opts.intake: the table's rows, then the intake log's records above what
 * the table has seen. The log is read before the table's snapshot is taken, so a record
 * moved meanwhile is found in the table; one the log still holds is above the floor.
 */
static int read_with_intake(corio_outbox *ob, int64_t after, int max_rows, size_t max_bytes,
                            int (*fn)(const struct corio_outbox_row *row, void *arg), void *arg)
{
    uint8_t *log;
    size_t len;
    int rc = intake_snapshot(ob, &log, &len);
    if (rc != CORIO_OK)
        return rc;
    if (exec(ob->db, "BEGIN") != CORIO_OK) {
        free(log);
        return CORIO_ERR_IO;
    }
    struct reading rd = {.last = after};
    struct logged lg = {.floor = last_id(ob)};
    rc = read_table(ob, after, max_rows, max_bytes, fn, arg, &rd);
    if (rc == CORIO_OK && !rd.stop && rd.n < max_rows && log &&
        corio__intake_header_ok(log, len, ob->epoch)) {
        if (lg.floor < after)
            lg.floor = after;
        corio__intake_parse(log + CORIO_INTAKE_HEADER, len - CORIO_INTAKE_HEADER, true,
                            collect_logged, &lg, NULL);
        if (lg.oom)
            rc = CORIO_ERR_NOSPACE;
        if (lg.n > 1)
            qsort(lg.r, lg.n, sizeof *lg.r, by_id);
        for (size_t i = 0; rc == CORIO_OK && i < lg.n && !rd.stop && rd.n < max_rows; i++) {
            const struct corio_intake_rec *r = lg.r[i];
            if (r->id <= rd.last)
                continue; /* the same id twice: an older round's copy */
            char device[CORIO_INTAKE_MAX_NAME + 1], suffix[CORIO_INTAKE_MAX_NAME + 1];
            memcpy(device, r->device, r->device_len);
            device[r->device_len] = '\0';
            memcpy(suffix, r->suffix, r->suffix_len);
            suffix[r->suffix_len] = '\0';
            struct corio_outbox_row row = {.id = r->id,
                                           .device = device,
                                           .suffix = suffix,
                                           .recv_ms = r->recv_ms,
                                           .cls = r->cls,
                                           .payload = r->payload,
                                           .payload_len = r->payload_len};
            feed(&rd, &row, max_bytes, fn, arg);
        }
    }
    exec(ob->db, "COMMIT");
    for (size_t i = 0; i < lg.n; i++)
        free((void *)lg.r[i]);
    free(lg.r);
    free(log);
    return rc == CORIO_OK ? rd.n : rc;
}

int corio_outbox_read(corio_outbox *ob, int64_t after, int max_rows, size_t max_bytes,
                      int (*fn)(const struct corio_outbox_row *row, void *arg), void *arg)
{
    if (max_rows <= 0)
        return CORIO_ERR_INVAL;
    if (ob->read_only && ob->intake_reader)
        return read_with_intake(ob, after, max_rows, max_bytes, fn, arg);
    corio_outbox_flush(ob);
    struct reading rd = {.last = after};
    int rc = read_table(ob, after, max_rows, max_bytes, fn, arg, &rd);
    return rc == CORIO_OK ? rd.n : rc;
}

int corio_outbox_stats(corio_outbox *ob, struct corio_outbox_stats *st)
{
    memset(st, 0, sizeof *st);
    corio_outbox_flush(ob);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(ob->db,
                           "SELECT count(*), coalesce(sum(length(payload)), 0),"
                           " coalesce(min(recv_ms), 0),"
                           " max(coalesce(max(id), 0),"
                           "     coalesce((SELECT value FROM meta WHERE key = 'id_last'), 0))"
                           " FROM outbox",
                           -1, &q, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st->rows = sqlite3_column_int64(q, 0);
        st->bytes = sqlite3_column_int64(q, 1) + st->rows * ROW_OVERHEAD;
        st->oldest_ms = sqlite3_column_int64(q, 2);
        st->last_id = sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? CORIO_OK : CORIO_ERR_IO;
}

int corio_outbox_sync(corio_outbox *ob)
{
    /* Everything received before the sync is in the table, so the sync bounds it. */
    if (corio_outbox_flush(ob) != CORIO_OK)
        return CORIO_ERR_IO;
    /* Through SQLite's own file object, so that a VFS under it sees the sync. */
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(ob->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK)
        return CORIO_ERR_IO;
    if (!wal || !wal->pMethods)
        return CORIO_OK; /* no WAL open: nothing written since the last checkpoint */
    return wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) == SQLITE_OK ? CORIO_OK : CORIO_ERR_IO;
}

int corio_outbox_checkpoint(corio_outbox *ob, int *wal_frames, int *copied)
{
    int log = 0, ckpt = 0;
    int rc = sqlite3_wal_checkpoint_v2(ob->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
    if (wal_frames)
        *wal_frames = log;
    if (copied)
        *copied = ckpt;
    /* Busy: another checkpoint runs (the writer's own): nothing wrong. */
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? CORIO_OK : CORIO_ERR_IO;
}

bool corio_outbox_was_clean(const corio_outbox *ob)
{
    return ob->was_clean;
}

void corio_outbox_counts(const corio_outbox *ob, int64_t *rows, int64_t *bytes, int64_t *last_id)
{
    if (rows)
        *rows = ob->rows;
    if (bytes)
        *bytes = ob->bytes;
    if (last_id)
        *last_id = ob->last_id;
}

int corio_outbox_oldest(corio_outbox *ob, int64_t *recv_ms)
{
    *recv_ms = 0;
    corio_outbox_flush(ob);
    int rc = sqlite3_step(ob->oldest);
    if (rc == SQLITE_ROW)
        *recv_ms = sqlite3_column_int64(ob->oldest, 0);
    sqlite3_reset(ob->oldest);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

int corio_outbox_device_seqs(corio_outbox *ob,
                             void (*fn)(void *arg, const char *device, uint64_t epoch,
                                        uint64_t seq),
                             void *arg)
{
    static const char *const queries[] = {
        "SELECT device, epoch, seq FROM seqs",
        "SELECT device, dev_epoch, dev_seq FROM outbox WHERE dev_seq IS NOT NULL ORDER BY id",
    };
    int n = 0;
    corio_outbox_flush(ob);
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(ob->db, queries[i], -1, &st, NULL) != SQLITE_OK)
            return CORIO_ERR_IO;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *device = (const char *)sqlite3_column_text(st, 0);
            int64_t epoch = sqlite3_column_int64(st, 1), seq = sqlite3_column_int64(st, 2);
            if (!device || epoch < 0 || seq <= 0)
                continue;
            fn(arg, device, (uint64_t)epoch, (uint64_t)seq);
            n++;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return CORIO_ERR_IO;
    }
    return n;
}

int corio_watermark_write(const char *path, uint64_t epoch, int64_t id)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return CORIO_ERR_INVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return CORIO_ERR_IO;
    char line[96];
    int n = snprintf(line, sizeof line, "corio-watermark 1 %" PRIu64 " %" PRId64 "\n", epoch, id);
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

int corio_watermark_read(const char *path, uint64_t *epoch, int64_t *id)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    char line[128];
    int rc = CORIO_ERR_MALFORMED;
    int version;
    char extra;
    if (fgets(line, sizeof line, f) &&
        sscanf(line, "corio-watermark %d %" SCNu64 " %" SCNd64 " %c", &version, epoch, id,
               &extra) == 3 &&
        version == 1 && *id >= 0)
        rc = CORIO_OK;
    fclose(f);
    return rc;
}
