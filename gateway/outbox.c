/*
 * outbox.c - the gateway outbox in SQLite (outbox.h, docs/formats.md).
 *
 * The writer keeps a running count of the bytes it stores, so that refusing a message
 * when the outbox is full costs nothing on the hot path; it is recomputed from the file
 * when the outbox opens.
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

/* What a row costs beyond its payload: the key, the short strings, SQLite's cell and
 * index overhead. An estimate that errs high, so the cap is a true bound on the file. */
#define ROW_OVERHEAD 96

/* Ids are reserved durably this many at a time (one WAL fsync each), so that after a
 * power cut, which may take ids already handed out, the next ids start above all of
 * them: (gateway, epoch, id) never names two messages, and no new row hides under a
 * watermark the forwarder wrote for a row the cut took. */
#define ID_BLOCK 4096

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
    sqlite3_stmt *insert;
    sqlite3_stmt *read;
    sqlite3_stmt *sum_through;
    sqlite3_stmt *delete_through;
    sqlite3_stmt *fold_through;
    sqlite3_stmt *put_seq;
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
    if (!ob->read_only && (rc = writer_start(ob, err, errlen)) != CORIO_OK)
        goto error;
    if ((rc = prepare(ob, err, errlen)) != CORIO_OK)
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
    if (!ob->read_only && ob->insert && meta_put(ob, "id_last", ob->last_id) == CORIO_OK &&
        meta_put(ob, "clean", 1) == CORIO_OK)
        corio_outbox_sync(ob); /* a clean end: the next writer need not skip ids */
    sqlite3_finalize(ob->insert);
    sqlite3_finalize(ob->read);
    sqlite3_finalize(ob->sum_through);
    sqlite3_finalize(ob->delete_through);
    sqlite3_finalize(ob->fold_through);
    sqlite3_finalize(ob->put_seq);
    sqlite3_finalize(ob->put_last);
    sqlite3_finalize(ob->oldest);
    sqlite3_close(ob->db);
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

    sqlite3_stmt *st = ob->insert;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, suffix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, recv_ms);
    sqlite3_bind_int(st, 4, cls);
    sqlite3_bind_blob64(st, 5, len ? payload : "", len, SQLITE_STATIC);
    if (dev_seq) {
        sqlite3_bind_int64(st, 6, (sqlite3_int64)dev_epoch);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)dev_seq);
    }
    sqlite3_bind_int64(st, 8, ob->last_id + 1);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return CORIO_ERR_IO;
    ob->bytes += cost;
    ob->rows++;
    ob->last_id++;
    if (id_out)
        *id_out = ob->last_id;
    return CORIO_OK;
}

/* Records in seqs the highest device identity of each device among the rows about to be
 * deleted (in the caller's transaction): the rows are in the cloud, and this is what
 * the outbox still knows of them. A device's newer epoch replaces its older one. */
static int fold_seqs(corio_outbox *ob, int64_t through)
{
    sqlite3_stmt *q = ob->fold_through;
    sqlite3_bind_int64(q, 1, through);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        sqlite3_stmt *u = ob->put_seq;
        sqlite3_bind_value(u, 1, sqlite3_column_value(q, 0));
        sqlite3_bind_value(u, 2, sqlite3_column_value(q, 1));
        sqlite3_bind_value(u, 3, sqlite3_column_value(q, 2));
        int urc = sqlite3_step(u);
        sqlite3_reset(u);
        if (urc != SQLITE_DONE) {
            rc = urc;
            break;
        }
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

int64_t corio_outbox_delete_through(corio_outbox *ob, uint64_t epoch, int64_t through)
{
    if (ob->read_only)
        return CORIO_ERR_INVAL;
    if (epoch != ob->epoch)
        return CORIO_ERR_POLICY;
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
        /* Deleting the newest rows must not let their ids come back. */
        sqlite3_bind_int64(ob->put_last, 1, ob->last_id);
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

int corio_outbox_read(corio_outbox *ob, int64_t after, int max_rows, size_t max_bytes,
                      int (*fn)(const struct corio_outbox_row *row, void *arg), void *arg)
{
    if (max_rows <= 0)
        return CORIO_ERR_INVAL;
    sqlite3_stmt *st = ob->read;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, max_rows);
    int n = 0, rc;
    size_t bytes = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct corio_outbox_row row = {
            .id = sqlite3_column_int64(st, 0),
            .device = (const char *)sqlite3_column_text(st, 1),
            .suffix = (const char *)sqlite3_column_text(st, 2),
            .recv_ms = sqlite3_column_int64(st, 3),
            .cls = sqlite3_column_int(st, 4),
            .payload = sqlite3_column_blob(st, 5),
            .payload_len = (size_t)sqlite3_column_bytes(st, 5),
        };
        if (n > 0 && bytes + row.payload_len > max_bytes)
            break;
        bytes += row.payload_len;
        n++;
        if (fn(&row, arg) != 0)
            break;
    }
    bool failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
    sqlite3_reset(st);
    return failed ? CORIO_ERR_IO : n;
}

int corio_outbox_stats(corio_outbox *ob, struct corio_outbox_stats *st)
{
    memset(st, 0, sizeof *st);
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
