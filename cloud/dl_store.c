/*
 * dl_store.c - the downlink's tables in the cloud's SQLite database (dl_store.h).
 *
 * The tables are named dl_* and carry their own schema version in dl_meta ('schema'),
 * because PRAGMA user_version belongs to the telemetry store (store_sqlite.c). Every
 * statement is prepared once; every call takes the mutex, so the calls of several
 * threads never interleave inside a transaction.
 */
#include "dl_store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "corio/error.h"
#include "corio_log.h"
#include "corio_sqlite.h"

static const char *const steps[] = {
    /* 1 */
    "CREATE TABLE dl_commands("
    "  seq INTEGER PRIMARY KEY,"
    "  org TEXT NOT NULL, device TEXT NOT NULL,"
    "  cid BLOB NOT NULL UNIQUE,"
    "  name TEXT NOT NULL, args BLOB,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  gateway TEXT NOT NULL DEFAULT '',"
    "  sends INTEGER NOT NULL DEFAULT 0, last_sent_ms INTEGER NOT NULL DEFAULT 0,"
    "  next_send_ms INTEGER NOT NULL DEFAULT 0, delivered_ms INTEGER NOT NULL DEFAULT 0,"
    "  answered_ms INTEGER NOT NULL DEFAULT 0,"
    "  status INTEGER, err INTEGER, result BLOB) STRICT;"
    "CREATE INDEX dl_commands_device ON dl_commands(org, device, seq);"
    "CREATE INDEX dl_commands_open ON dl_commands(next_send_ms) WHERE state < 3;"
    "CREATE TABLE dl_config("
    "  device TEXT PRIMARY KEY, org TEXT NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0, desired BLOB, set_ms INTEGER NOT NULL DEFAULT 0,"
    "  sends INTEGER NOT NULL DEFAULT 0, last_sent_ms INTEGER NOT NULL DEFAULT 0,"
    "  next_send_ms INTEGER NOT NULL DEFAULT 0,"
    "  reported_version INTEGER, reported_status INTEGER, reported_err INTEGER,"
    "  reported BLOB, reported_ms INTEGER) STRICT;"
    "CREATE TABLE dl_boots("
    "  device TEXT NOT NULL, boot INTEGER NOT NULL, org TEXT NOT NULL,"
    "  base_ms INTEGER NOT NULL, heartbeats INTEGER NOT NULL,"
    "  PRIMARY KEY(device, boot)) STRICT, WITHOUT ROWID;"
    "CREATE TABLE dl_untimed("
    "  mid TEXT PRIMARY KEY, org TEXT NOT NULL, device TEXT NOT NULL,"
    "  boot INTEGER NOT NULL, upt_ms INTEGER NOT NULL, recv_ms INTEGER NOT NULL) STRICT;"
    "CREATE INDEX dl_untimed_device ON dl_untimed(org, device);"
    "CREATE TABLE dl_exports(height INTEGER PRIMARY KEY, text TEXT NOT NULL,"
    "  fetched_ms INTEGER NOT NULL) STRICT;"
    "CREATE TABLE dl_blocks(height INTEGER PRIMARY KEY, data BLOB NOT NULL) STRICT;"
    "CREATE TABLE dl_gateways("
    "  gateway TEXT PRIMARY KEY, org TEXT NOT NULL,"
    "  has_state INTEGER NOT NULL DEFAULT 0, height INTEGER NOT NULL DEFAULT 0,"
    "  want INTEGER NOT NULL DEFAULT 0, state_ms INTEGER NOT NULL DEFAULT 0,"
    "  queued INTEGER NOT NULL DEFAULT 0, online INTEGER NOT NULL DEFAULT 0,"
    "  relay_height INTEGER NOT NULL DEFAULT 0, relay_sent_ms INTEGER NOT NULL DEFAULT 0,"
    "  relays INTEGER NOT NULL DEFAULT 0) STRICT;",
};

#define NSTEPS (sizeof steps / sizeof steps[0])

enum q {
    Q_CMD_SEQ,
    Q_CMD_ADD,
    Q_CMD_LIST,
    Q_CMD_GET,
    Q_CMD_DUE,
    Q_CMD_SENT,
    Q_CMD_DELIVERED,
    Q_CMD_ANSWER,
    Q_CMD_EXPIRE,
    Q_CFG_SET,
    Q_CFG_GET,
    Q_CFG_DUE,
    Q_CFG_SENT,
    Q_CFG_REPORTED,
    Q_BOOT_NOTE,
    Q_BOOT_GET,
    Q_BOOTS,
    Q_UNTIMED_ADD,
    Q_UNTIMED_COUNT,
    Q_EXPORT_PUT,
    Q_EXPORT_GET,
    Q_EXPORT_LATEST,
    Q_EXPORT_PRUNE,
    Q_BLOCK_PUT,
    Q_BLOCK_GET,
    Q_BLOCK_PRUNE,
    Q_GW_TOUCH,
    Q_GW_STATE,
    Q_GW_RELAYED,
    Q_GW_LIST,
    Q_N
};

#define CMD_COLS                                                                                   \
    "seq, org, device, cid, name, args, created_ms, expires_ms, state, gateway, sends, "           \
    "last_sent_ms, next_send_ms, delivered_ms, answered_ms, status, err, result"
#define CFG_COLS                                                                                   \
    "org, device, version, desired, set_ms, sends, last_sent_ms, next_send_ms, "                   \
    "reported_version, reported_status, reported_err, reported, reported_ms"
#define GW_COLS                                                                                    \
    "gateway, org, has_state, height, want, state_ms, queued, online, relay_height, "              \
    "relay_sent_ms, relays"

static const char *const sql[Q_N] = {
    [Q_CMD_SEQ] = "SELECT COALESCE(MAX(seq), 0) + 1 FROM dl_commands",
    [Q_CMD_ADD] = "INSERT INTO dl_commands(seq, org, device, cid, name, args, created_ms, "
                  "expires_ms, state) VALUES(?, ?, ?, ?, ?, ?, ?, ?, 0)",
    [Q_CMD_LIST] = "SELECT " CMD_COLS " FROM dl_commands WHERE org = ? AND device = ? "
                   "ORDER BY seq DESC LIMIT ?",
    [Q_CMD_GET] = "SELECT " CMD_COLS " FROM dl_commands WHERE org = ? AND device = ? AND seq = ?",
    [Q_CMD_DUE] = "SELECT " CMD_COLS " FROM dl_commands WHERE state < 3 AND next_send_ms <= ? "
                  "AND expires_ms > ? ORDER BY seq LIMIT ?",
    [Q_CMD_SENT] = "UPDATE dl_commands SET state = CASE WHEN state = 0 THEN 1 ELSE state END, "
                   "gateway = ?, sends = sends + 1, last_sent_ms = ?, next_send_ms = ? "
                   "WHERE seq = ? AND state < 3",
    [Q_CMD_DELIVERED] = "UPDATE dl_commands SET state = 2, delivered_ms = ? WHERE device = ? AND "
                        "cid = ? AND state < 2",
    [Q_CMD_ANSWER] = "UPDATE dl_commands SET state = ?, status = ?, err = ?, result = ?, "
                     "answered_ms = ? WHERE device = ? AND cid = ? AND state < 3",
    [Q_CMD_EXPIRE] = "UPDATE dl_commands SET state = 5 WHERE state < 3 AND expires_ms <= ?",
    [Q_CFG_SET] = "INSERT INTO dl_config(device, org, version, desired, set_ms, next_send_ms) "
                  "VALUES(?, ?, 1, ?, ?, 0) ON CONFLICT(device) DO UPDATE SET "
                  "org = excluded.org, version = version + 1, desired = excluded.desired, "
                  "set_ms = excluded.set_ms, sends = 0, next_send_ms = 0 RETURNING version",
    [Q_CFG_GET] = "SELECT " CFG_COLS " FROM dl_config WHERE org = ? AND device = ?",
    [Q_CFG_DUE] = "SELECT " CFG_COLS " FROM dl_config WHERE version > 0 AND "
                  "(reported_version IS NULL OR reported_version < version) AND "
                  "next_send_ms <= ? ORDER BY device LIMIT ?",
    [Q_CFG_SENT] = "UPDATE dl_config SET sends = sends + 1, last_sent_ms = ?, next_send_ms = ? "
                   "WHERE device = ?",
    [Q_CFG_REPORTED] = "INSERT INTO dl_config(device, org, reported_version, reported_status, "
                       "reported_err, reported, reported_ms) VALUES(?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT(device) DO UPDATE SET reported_version = "
                       "excluded.reported_version, reported_status = excluded.reported_status, "
                       "reported_err = excluded.reported_err, reported = excluded.reported, "
                       "reported_ms = excluded.reported_ms WHERE reported_version IS NULL OR "
                       "reported_version <= excluded.reported_version",
    [Q_BOOT_NOTE] = "INSERT INTO dl_boots(device, boot, org, base_ms, heartbeats) "
                    "VALUES(?, ?, ?, ?, ?) ON CONFLICT(device, boot) DO UPDATE SET "
                    "base_ms = MIN(base_ms, excluded.base_ms), "
                    "heartbeats = heartbeats + excluded.heartbeats",
    [Q_BOOT_GET] = "SELECT boot, base_ms, heartbeats FROM dl_boots WHERE device = ? AND boot = ?",
    [Q_BOOTS] = "SELECT boot, base_ms, heartbeats FROM dl_boots WHERE org = ? AND device = ? "
                "ORDER BY boot",
    [Q_UNTIMED_ADD] = "INSERT OR IGNORE INTO dl_untimed(mid, org, device, boot, upt_ms, recv_ms) "
                      "VALUES(?, ?, ?, ?, ?, ?)",
    [Q_UNTIMED_COUNT] = "SELECT COUNT(*) FROM dl_untimed WHERE org = ? AND device = ?",
    [Q_EXPORT_PUT] = "INSERT OR REPLACE INTO dl_exports(height, text, fetched_ms) VALUES(?, ?, ?)",
    [Q_EXPORT_GET] = "SELECT height, text FROM dl_exports WHERE height = ?",
    [Q_EXPORT_LATEST] = "SELECT height, text FROM dl_exports ORDER BY height DESC LIMIT 1",
    [Q_EXPORT_PRUNE] = "DELETE FROM dl_exports WHERE height < ? AND "
                       "height < (SELECT MAX(height) FROM dl_exports)",
    [Q_BLOCK_PUT] = "INSERT OR REPLACE INTO dl_blocks(height, data) VALUES(?, ?)",
    [Q_BLOCK_GET] = "SELECT data FROM dl_blocks WHERE height = ?",
    [Q_BLOCK_PRUNE] = "DELETE FROM dl_blocks WHERE height < ?",
    [Q_GW_TOUCH] = "INSERT OR IGNORE INTO dl_gateways(gateway, org) VALUES(?, ?)",
    [Q_GW_STATE] = "INSERT INTO dl_gateways(gateway, org, has_state, height, want, state_ms, "
                   "queued, online) VALUES(?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT(gateway) DO "
                   "UPDATE SET has_state = 1, height = excluded.height, want = excluded.want, "
                   "state_ms = excluded.state_ms, queued = excluded.queued, "
                   "online = excluded.online WHERE state_ms <= excluded.state_ms",
    [Q_GW_RELAYED] = "UPDATE dl_gateways SET relay_height = ?, relay_sent_ms = ?, "
                     "relays = relays + 1 WHERE gateway = ?",
    [Q_GW_LIST] = "SELECT " GW_COLS " FROM dl_gateways ORDER BY gateway",
};

struct corio_dl_store {
    sqlite3 *db;
    sqlite3_stmt *q[Q_N];
    pthread_mutex_t lock;
};

const char *corio_dl_state_name(int state)
{
    static const char *const names[] = {"queued", "sent", "delivered", "done", "failed", "expired"};
    return state >= 0 && state <= 5 ? names[state] : "unknown";
}

/* ---- plumbing ------------------------------------------------------------------------ */

static sqlite3_stmt *q(struct corio_dl_store *s, enum q i)
{
    sqlite3_reset(s->q[i]);
    sqlite3_clear_bindings(s->q[i]);
    return s->q[i];
}

static int fail(struct corio_dl_store *s, const char *what)
{
    corio_logkv(CORIO_LOG_ERROR, "downlink store failed", "what=%s error=%s", what,
                sqlite3_errmsg(s->db));
    return CORIO_ERR_IO;
}

/* Runs a statement that returns no rows. */
static int run(struct corio_dl_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? CORIO_OK : fail(s, what);
}

static void text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static void blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (p && n)
        sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static bool ok_id(const char *s)
{
    return s && corio_store_valid_id(s, strnlen(s, CORIO_ID_LEN + 1));
}

int corio_dl_open(const char *path, struct corio_dl_store **out, char *err, size_t errlen)
{
    *out = NULL;
    struct corio_dl_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    pthread_mutex_init(&s->lock, NULL);
    int rc = corio_sqlite_open(path, 0, 10000, &s->db, err, errlen);
    if (rc != CORIO_OK) {
        corio_dl_close(s);
        return rc;
    }
    /* The schema version, in dl_meta under the same transaction as each step. */
    char *e = NULL;
    if (sqlite3_exec(s->db,
                     "CREATE TABLE IF NOT EXISTS dl_meta(key TEXT PRIMARY KEY, value ANY) "
                     "STRICT",
                     NULL, NULL, &e) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, e ? e : "cannot create dl_meta");
        sqlite3_free(e);
        corio_dl_close(s);
        return CORIO_ERR_IO;
    }
    for (;;) {
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &e) != SQLITE_OK)
            break;
        sqlite3_stmt *st;
        int version = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT value FROM dl_meta WHERE key = 'schema'", -1, &st,
                               NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW)
                version = sqlite3_column_int(st, 0);
            sqlite3_finalize(st);
        }
        if (version > (int)NSTEPS) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            snprintf(err, errlen, "%s: downlink schema %d is newer than this program's %zu", path,
                     version, NSTEPS);
            corio_dl_close(s);
            return CORIO_ERR_VERSION;
        }
        if (version == (int)NSTEPS) {
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
            break;
        }
        char set[96];
        snprintf(set, sizeof set, "INSERT OR REPLACE INTO dl_meta(key, value) VALUES('schema', %d)",
                 version + 1);
        if (sqlite3_exec(s->db, steps[version], NULL, NULL, &e) != SQLITE_OK ||
            sqlite3_exec(s->db, set, NULL, NULL, &e) != SQLITE_OK ||
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, &e) != SQLITE_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
    }
    if (e) {
        snprintf(err, errlen, "%s: downlink schema: %s", path, e);
        sqlite3_free(e);
        corio_dl_close(s);
        return CORIO_ERR_IO;
    }
    for (int i = 0; i < Q_N; i++)
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
            corio_dl_close(s);
            return CORIO_ERR_IO;
        }
    *out = s;
    return CORIO_OK;
}

void corio_dl_close(struct corio_dl_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < Q_N; i++)
        sqlite3_finalize(s->q[i]);
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

#define LOCKED(s, expr)                                                                            \
    do {                                                                                           \
        pthread_mutex_lock(&(s)->lock);                                                            \
        int locked_rc_ = (expr);                                                                   \
        pthread_mutex_unlock(&(s)->lock);                                                          \
        return locked_rc_;                                                                         \
    } while (0)

/* ---- commands ------------------------------------------------------------------------ */

static void read_cmd(sqlite3_stmt *st, struct corio_dl_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->seq = sqlite3_column_int64(st, 0);
    col_text(st, 1, c->org, sizeof c->org);
    col_text(st, 2, c->device, sizeof c->device);
    if (sqlite3_column_bytes(st, 3) == CORIO_DL_CID_LEN)
        memcpy(c->cid, sqlite3_column_blob(st, 3), CORIO_DL_CID_LEN);
    col_text(st, 4, c->name, sizeof c->name);
    c->args = sqlite3_column_blob(st, 5);
    c->args_len = (size_t)sqlite3_column_bytes(st, 5);
    c->created_ms = sqlite3_column_int64(st, 6);
    c->expires_ms = sqlite3_column_int64(st, 7);
    c->state = sqlite3_column_int(st, 8);
    col_text(st, 9, c->gateway, sizeof c->gateway);
    c->sends = sqlite3_column_int64(st, 10);
    c->last_sent_ms = sqlite3_column_int64(st, 11);
    c->next_send_ms = sqlite3_column_int64(st, 12);
    c->delivered_ms = sqlite3_column_int64(st, 13);
    c->answered_ms = sqlite3_column_int64(st, 14);
    c->has_answer = sqlite3_column_type(st, 15) != SQLITE_NULL;
    c->status = sqlite3_column_int(st, 15);
    c->err = sqlite3_column_int(st, 16);
    c->result = sqlite3_column_blob(st, 17);
    c->result_len = (size_t)sqlite3_column_bytes(st, 17);
}

static int each_cmd(struct corio_dl_store *s, sqlite3_stmt *st, corio_dl_cmd_fn fn, void *arg,
                    bool need_one)
{
    int rc, n = 0;
    struct corio_dl_cmd c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        read_cmd(st, &c);
        int r = fn(&c, arg);
        if (r != 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fail(s, "commands");
    return need_one && n == 0 ? CORIO_ERR_NOTFOUND : CORIO_OK;
}

static int cmd_add(struct corio_dl_store *s, const char *org, const char *device, const char *name,
                   const uint8_t *args, size_t args_len, int64_t created_ms, int64_t expires_ms,
                   const uint8_t cid[CORIO_DL_CID_LEN], int64_t *seq)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, "begin");
    sqlite3_stmt *st = q(s, Q_CMD_SEQ);
    int64_t next = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    int rc = next > 0 ? CORIO_OK : fail(s, "next seq");
    if (rc == CORIO_OK) {
        st = q(s, Q_CMD_ADD);
        sqlite3_bind_int64(st, 1, next);
        text(st, 2, org);
        text(st, 3, device);
        blob(st, 4, cid, CORIO_DL_CID_LEN);
        text(st, 5, name);
        blob(st, 6, args, args_len);
        sqlite3_bind_int64(st, 7, created_ms);
        sqlite3_bind_int64(st, 8, expires_ms);
        rc = run(s, st, "add command");
    }
    if (rc == CORIO_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(s, "commit");
    if (rc != CORIO_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    *seq = next;
    return CORIO_OK;
}

int corio_dl_cmd_add(struct corio_dl_store *s, const char *org, const char *device,
                     const char *name, const uint8_t *args, size_t args_len, int64_t created_ms,
                     int64_t expires_ms, const uint8_t cid[CORIO_DL_CID_LEN], int64_t *seq)
{
    if (!ok_id(org) || !ok_id(device) || !name || !cid || !seq)
        return CORIO_ERR_INVAL;
    LOCKED(s, cmd_add(s, org, device, name, args, args_len, created_ms, expires_ms, cid, seq));
}

int corio_dl_cmd_list(struct corio_dl_store *s, const char *org, const char *device, int limit,
                      corio_dl_cmd_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CMD_LIST);
    text(st, 1, org);
    text(st, 2, device);
    sqlite3_bind_int(st, 3, limit);
    int rc = each_cmd(s, st, fn, arg, false);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cmd_get(struct corio_dl_store *s, const char *org, const char *device, int64_t seq,
                     corio_dl_cmd_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CMD_GET);
    text(st, 1, org);
    text(st, 2, device);
    sqlite3_bind_int64(st, 3, seq);
    int rc = each_cmd(s, st, fn, arg, true);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cmd_due(struct corio_dl_store *s, int64_t now_ms, int limit, corio_dl_cmd_fn fn,
                     void *arg)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CMD_DUE);
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int(st, 3, limit);
    int rc = each_cmd(s, st, fn, arg, false);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cmd_sent(struct corio_dl_store *s, int64_t seq, const char *gateway, int64_t now_ms,
                      int64_t next_ms)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CMD_SENT);
    text(st, 1, gateway ? gateway : "");
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, next_ms);
    sqlite3_bind_int64(st, 4, seq);
    int rc = run(s, st, "command sent");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cmd_delivered(struct corio_dl_store *s, const char *device, const uint8_t *cid,
                           size_t cid_len, int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CMD_DELIVERED);
    sqlite3_bind_int64(st, 1, now_ms);
    text(st, 2, device);
    blob(st, 3, cid, cid_len);
    int rc = run(s, st, "command delivered");
    if (rc == CORIO_OK)
        rc = sqlite3_changes(s->db) > 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cmd_answer(struct corio_dl_store *s, const char *device, const uint8_t *cid,
                        size_t cid_len, int status, int err, const uint8_t *result,
                        size_t result_len, int64_t now_ms)
{
    int state = status == 0 ? CORIO_DL_DONE : status == 2 ? CORIO_DL_EXPIRED : CORIO_DL_FAILED;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CMD_ANSWER);
    sqlite3_bind_int(st, 1, state);
    sqlite3_bind_int(st, 2, status);
    sqlite3_bind_int(st, 3, err);
    blob(st, 4, result, result_len);
    sqlite3_bind_int64(st, 5, now_ms);
    text(st, 6, device);
    blob(st, 7, cid, cid_len);
    int rc = run(s, st, "command answered");
    if (rc == CORIO_OK)
        rc = sqlite3_changes(s->db) > 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cmd_expire(struct corio_dl_store *s, int64_t now_ms, int64_t *n)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CMD_EXPIRE);
    sqlite3_bind_int64(st, 1, now_ms);
    int rc = run(s, st, "expire");
    *n = rc == CORIO_OK ? sqlite3_changes(s->db) : 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- configuration ------------------------------------------------------------------- */

static void read_cfg(sqlite3_stmt *st, struct corio_dl_cfg *c)
{
    memset(c, 0, sizeof *c);
    col_text(st, 0, c->org, sizeof c->org);
    col_text(st, 1, c->device, sizeof c->device);
    c->version = (uint64_t)sqlite3_column_int64(st, 2);
    c->desired = sqlite3_column_blob(st, 3);
    c->desired_len = (size_t)sqlite3_column_bytes(st, 3);
    c->set_ms = sqlite3_column_int64(st, 4);
    c->sends = sqlite3_column_int64(st, 5);
    c->last_sent_ms = sqlite3_column_int64(st, 6);
    c->next_send_ms = sqlite3_column_int64(st, 7);
    c->has_reported = sqlite3_column_type(st, 8) != SQLITE_NULL;
    c->reported_version = (uint64_t)sqlite3_column_int64(st, 8);
    c->reported_status = sqlite3_column_int(st, 9);
    c->reported_err = sqlite3_column_int(st, 10);
    c->reported = sqlite3_column_blob(st, 11);
    c->reported_len = (size_t)sqlite3_column_bytes(st, 11);
    c->reported_ms = sqlite3_column_int64(st, 12);
}

static int each_cfg(struct corio_dl_store *s, sqlite3_stmt *st, corio_dl_cfg_fn fn, void *arg,
                    bool need_one)
{
    int rc, n = 0;
    struct corio_dl_cfg c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        read_cfg(st, &c);
        int r = fn(&c, arg);
        if (r != 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fail(s, "configuration");
    return need_one && n == 0 ? CORIO_ERR_NOTFOUND : CORIO_OK;
}

int corio_dl_cfg_set(struct corio_dl_store *s, const char *org, const char *device,
                     const uint8_t *cfg, size_t len, int64_t now_ms, uint64_t *version)
{
    if (!ok_id(org) || !ok_id(device) || !cfg || !len)
        return CORIO_ERR_INVAL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CFG_SET);
    text(st, 1, device);
    text(st, 2, org);
    blob(st, 3, cfg, len);
    sqlite3_bind_int64(st, 4, now_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    rc = rc == SQLITE_ROW ? CORIO_OK : fail(s, "set configuration");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cfg_get(struct corio_dl_store *s, const char *org, const char *device,
                     corio_dl_cfg_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CFG_GET);
    text(st, 1, org);
    text(st, 2, device);
    int rc = each_cfg(s, st, fn, arg, true);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cfg_due(struct corio_dl_store *s, int64_t now_ms, int limit, corio_dl_cfg_fn fn,
                     void *arg)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CFG_DUE);
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, limit);
    int rc = each_cfg(s, st, fn, arg, false);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cfg_sent(struct corio_dl_store *s, const char *device, int64_t now_ms, int64_t next_ms)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CFG_SENT);
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, next_ms);
    text(st, 3, device);
    int rc = run(s, st, "configuration sent");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_cfg_reported(struct corio_dl_store *s, const char *org, const char *device,
                          uint64_t version, int status, int err, const uint8_t *cfg, size_t len,
                          int64_t now_ms)
{
    if (!ok_id(org) || !ok_id(device) || version > INT64_MAX)
        return CORIO_ERR_INVAL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_CFG_REPORTED);
    text(st, 1, device);
    text(st, 2, org);
    sqlite3_bind_int64(st, 3, (int64_t)version);
    sqlite3_bind_int(st, 4, status);
    sqlite3_bind_int(st, 5, err);
    blob(st, 6, cfg, len);
    sqlite3_bind_int64(st, 7, now_ms);
    int rc = run(s, st, "reported configuration");
    if (rc == CORIO_OK)
        rc = sqlite3_changes(s->db) > 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- time ------------------------------------------------------------------------------ */

int corio_dl_boot_notes(struct corio_dl_store *s, const char *org,
                        const struct corio_dl_boot_note *notes, size_t n)
{
    if (!ok_id(org) || (n && !notes))
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!ok_id(notes[i].device) || notes[i].boot > INT64_MAX)
            return CORIO_ERR_INVAL;
    if (!n)
        return CORIO_OK;
    /* One transaction per batch: a commit per note costs about nine times as much (500
     * such upserts on WAL with synchronous=NORMAL: some 27 ms against 3 ms). */
    pthread_mutex_lock(&s->lock);
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
                 ? CORIO_OK
                 : fail(s, "begin");
    for (size_t i = 0; rc == CORIO_OK && i < n; i++) {
        sqlite3_stmt *st = q(s, Q_BOOT_NOTE);
        text(st, 1, notes[i].device);
        sqlite3_bind_int64(st, 2, (int64_t)notes[i].boot);
        text(st, 3, org);
        sqlite3_bind_int64(st, 4, notes[i].bound_ms);
        sqlite3_bind_int(st, 5, notes[i].from_heartbeat ? 1 : 0);
        rc = run(s, st, "boot clock");
    }
    if (rc == CORIO_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(s, "commit");
    if (rc != CORIO_OK)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_boot_get(struct corio_dl_store *s, const char *device, uint64_t boot,
                      struct corio_dl_boot *b)
{
    if (boot > INT64_MAX)
        return CORIO_ERR_NOTFOUND;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_BOOT_GET);
    text(st, 1, device);
    sqlite3_bind_int64(st, 2, (int64_t)boot);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        b->boot = (uint64_t)sqlite3_column_int64(st, 0);
        b->base_ms = sqlite3_column_int64(st, 1);
        b->heartbeats = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    rc = rc == SQLITE_ROW ? CORIO_OK : rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND : fail(s, "boot");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_boots(struct corio_dl_store *s, const char *org, const char *device,
                   corio_dl_boot_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_BOOTS);
    text(st, 1, org);
    text(st, 2, device);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct corio_dl_boot b = {(uint64_t)sqlite3_column_int64(st, 0),
                                  sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)};
        int r = fn(&b, arg);
        if (r != 0) {
            sqlite3_reset(st);
            pthread_mutex_unlock(&s->lock);
            return r;
        }
    }
    sqlite3_reset(st);
    rc = rc == SQLITE_DONE ? CORIO_OK : fail(s, "boots");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_untimed_add(struct corio_dl_store *s, const char *org, const char *device,
                         const char *mid, uint64_t boot, uint64_t upt_ms, int64_t recv_ms)
{
    if (!ok_id(org) || !ok_id(device) || !mid || boot > INT64_MAX || upt_ms > INT64_MAX)
        return CORIO_ERR_INVAL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_UNTIMED_ADD);
    text(st, 1, mid);
    text(st, 2, org);
    text(st, 3, device);
    sqlite3_bind_int64(st, 4, (int64_t)boot);
    sqlite3_bind_int64(st, 5, (int64_t)upt_ms);
    sqlite3_bind_int64(st, 6, recv_ms);
    int rc = run(s, st, "untimed");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_untimed_count(struct corio_dl_store *s, const char *org, const char *device,
                           int64_t *n)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_UNTIMED_COUNT);
    text(st, 1, org);
    text(st, 2, device);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    rc = rc == SQLITE_ROW ? CORIO_OK : fail(s, "untimed count");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- the ledger's registry --------------------------------------------------------------- */

int corio_dl_export_put(struct corio_dl_store *s, uint64_t height, const char *t, size_t len,
                        int64_t now_ms)
{
    if (height > INT64_MAX || len > INT32_MAX)
        return CORIO_ERR_INVAL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_EXPORT_PUT);
    sqlite3_bind_int64(st, 1, (int64_t)height);
    sqlite3_bind_text(st, 2, t, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    int rc = run(s, st, "export");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_export_get(struct corio_dl_store *s, uint64_t height, uint64_t *got, char **t,
                        size_t *len)
{
    *t = NULL;
    if (height > INT64_MAX)
        return CORIO_ERR_NOTFOUND;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, height ? Q_EXPORT_GET : Q_EXPORT_LATEST);
    if (height)
        sqlite3_bind_int64(st, 1, (int64_t)height);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *got = (uint64_t)sqlite3_column_int64(st, 0);
        *len = (size_t)sqlite3_column_bytes(st, 1);
        *t = malloc(*len + 1);
        if (*t) {
            memcpy(*t, sqlite3_column_text(st, 1), *len);
            (*t)[*len] = '\0';
        }
    }
    sqlite3_reset(st);
    rc = rc == SQLITE_ROW    ? (*t ? CORIO_OK : CORIO_ERR_NOSPACE)
         : rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND
                             : fail(s, "export");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_export_prune(struct corio_dl_store *s, uint64_t from)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_EXPORT_PRUNE);
    sqlite3_bind_int64(st, 1, from > INT64_MAX ? INT64_MAX : (int64_t)from);
    int rc = run(s, st, "prune exports");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_block_put(struct corio_dl_store *s, uint64_t height, const uint8_t *data, size_t len)
{
    if (height > INT64_MAX || !len)
        return CORIO_ERR_INVAL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_BLOCK_PUT);
    sqlite3_bind_int64(st, 1, (int64_t)height);
    blob(st, 2, data, len);
    int rc = run(s, st, "block");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_block_get(struct corio_dl_store *s, uint64_t height, uint8_t **data, size_t *len)
{
    *data = NULL;
    if (height > INT64_MAX)
        return CORIO_ERR_NOTFOUND;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_BLOCK_GET);
    sqlite3_bind_int64(st, 1, (int64_t)height);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        *data = malloc(*len ? *len : 1);
        if (*data)
            memcpy(*data, sqlite3_column_blob(st, 0), *len);
    }
    sqlite3_reset(st);
    rc = rc == SQLITE_ROW    ? (*data ? CORIO_OK : CORIO_ERR_NOSPACE)
         : rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND
                             : fail(s, "block");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_block_prune(struct corio_dl_store *s, uint64_t from)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_BLOCK_PRUNE);
    sqlite3_bind_int64(st, 1, from > INT64_MAX ? INT64_MAX : (int64_t)from);
    int rc = run(s, st, "prune blocks");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- gateways ------------------------------------------------------------------------- */

int corio_dl_gw_touch(struct corio_dl_store *s, const char *org, const char *gateway)
{
    if (!ok_id(org) || !ok_id(gateway))
        return CORIO_ERR_INVAL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_GW_TOUCH);
    text(st, 1, gateway);
    text(st, 2, org);
    int rc = run(s, st, "gateway");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_gw_state(struct corio_dl_store *s, const char *org, const char *gateway,
                      uint64_t height, uint64_t want, int64_t queued, int64_t online,
                      int64_t now_ms)
{
    if (!ok_id(org) || !ok_id(gateway) || height > INT64_MAX || want > INT64_MAX)
        return CORIO_ERR_INVAL;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_GW_STATE);
    text(st, 1, gateway);
    text(st, 2, org);
    sqlite3_bind_int64(st, 3, (int64_t)height);
    sqlite3_bind_int64(st, 4, (int64_t)want);
    sqlite3_bind_int64(st, 5, now_ms);
    sqlite3_bind_int64(st, 6, queued);
    sqlite3_bind_int64(st, 7, online);
    int rc = run(s, st, "gateway state");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_gw_relayed(struct corio_dl_store *s, const char *gateway, uint64_t height,
                        int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_GW_RELAYED);
    sqlite3_bind_int64(st, 1, height > INT64_MAX ? INT64_MAX : (int64_t)height);
    sqlite3_bind_int64(st, 2, now_ms);
    text(st, 3, gateway);
    int rc = run(s, st, "gateway relayed");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int corio_dl_gw_list(struct corio_dl_store *s, corio_dl_gw_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = q(s, Q_GW_LIST);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct corio_dl_gw g;
        memset(&g, 0, sizeof g);
        col_text(st, 0, g.id, sizeof g.id);
        col_text(st, 1, g.org, sizeof g.org);
        g.has_state = sqlite3_column_int(st, 2) != 0;
        g.height = (uint64_t)sqlite3_column_int64(st, 3);
        g.want = (uint64_t)sqlite3_column_int64(st, 4);
        g.state_ms = sqlite3_column_int64(st, 5);
        g.queued = sqlite3_column_int64(st, 6);
        g.online = sqlite3_column_int64(st, 7);
        g.relay_height = (uint64_t)sqlite3_column_int64(st, 8);
        g.relay_sent_ms = sqlite3_column_int64(st, 9);
        g.relays = sqlite3_column_int64(st, 10);
        int r = fn(&g, arg);
        if (r != 0) {
            sqlite3_reset(st);
            pthread_mutex_unlock(&s->lock);
            return r;
        }
    }
    sqlite3_reset(st);
    rc = rc == SQLITE_DONE ? CORIO_OK : fail(s, "gateways");
    pthread_mutex_unlock(&s->lock);
    return rc;
}
