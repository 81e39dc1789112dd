/*
 * store_sqlite.c - the SQLite backend of the storage interface (store.h).
 *
 * One connection per struct corio_store, WAL journal, synchronous=NORMAL (a commit
 * survives the crash of any process; docs/storage.md). The schema (docs/storage.md)
 * migrates forward with PRAGMA user_version. Every statement is prepared once, on
 * first use, and kept for the life of the connection. SQLite runs in our process, so
 * the many-row primitives simply loop over one prepared statement.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "corio/error.h"
#include "corio_log.h"
#include "corio_sqlite.h"
#include "store.h"

/* Schema steps. Append only: a released step is never edited (corio_sqlite.h). */
static const char *const schema_steps[] = {
    /* 1: the data model of docs/storage.md */
    "CREATE TABLE orgs(\n"
    "  id TEXT PRIMARY KEY,\n"
    "  name TEXT NOT NULL DEFAULT '') STRICT;\n"
    "CREATE TABLE gateways(\n"
    "  id TEXT PRIMARY KEY,\n"
    "  org TEXT NOT NULL,\n"
    "  pubkey BLOB,\n"
    "  key_no INTEGER NOT NULL DEFAULT 0) STRICT;\n"
    "CREATE TABLE devices(\n"
    "  id TEXT PRIMARY KEY,\n"
    "  org TEXT NOT NULL,\n"
    "  gateway TEXT NOT NULL DEFAULT '',\n"
    "  class TEXT NOT NULL DEFAULT '',\n"
    "  model TEXT NOT NULL DEFAULT '',\n"
    "  hw_rev TEXT NOT NULL DEFAULT '',\n"
    "  \"groups\" TEXT NOT NULL DEFAULT '',\n"
    "  assurance TEXT NOT NULL DEFAULT '',\n"
    "  online INTEGER NOT NULL DEFAULT 0,\n"
    "  presence_ms INTEGER,\n"
    "  last_seen_ms INTEGER,\n"
    "  epoch INTEGER,\n"
    "  epoch_ms INTEGER,\n"
    "  messages INTEGER NOT NULL DEFAULT 0) STRICT;\n"
    "CREATE INDEX devices_org ON devices(org, id);\n"
    "CREATE TABLE metrics(\n"
    "  device TEXT NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  org TEXT NOT NULL,\n"
    "  unit TEXT NOT NULL DEFAULT '',\n"
    "  type TEXT NOT NULL,\n"
    "  PRIMARY KEY(device, name)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE messages(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  mid TEXT NOT NULL UNIQUE,\n"
    "  org TEXT NOT NULL,\n"
    "  device TEXT,\n"
    "  epoch INTEGER,\n"
    "  seq INTEGER,\n"
    "  gateway TEXT NOT NULL,\n"
    "  gw_epoch INTEGER NOT NULL,\n"
    "  gw_id INTEGER NOT NULL,\n"
    "  suffix TEXT NOT NULL,\n"
    "  recv_ms INTEGER NOT NULL,\n"
    "  stored_ms INTEGER NOT NULL,\n"
    "  status INTEGER NOT NULL,\n"
    "  reason TEXT) STRICT;\n"
    "CREATE INDEX messages_recv ON messages(recv_ms);\n"
    "CREATE TABLE samples(\n"
    "  device TEXT NOT NULL,\n"
    "  metric TEXT NOT NULL,\n"
    "  t_ms INTEGER NOT NULL,\n"
    "  msg INTEGER NOT NULL,\n"
    "  org TEXT NOT NULL,\n"
    "  v_num REAL,\n"
    "  v_str TEXT,\n"
    "  v_bool INTEGER,\n"
    "  v_data BLOB,\n"
    "  PRIMARY KEY(device, metric, t_ms, msg)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE rollup_1m(\n"
    "  device TEXT NOT NULL,\n"
    "  metric TEXT NOT NULL,\n"
    "  bucket_ms INTEGER NOT NULL,\n"
    "  org TEXT NOT NULL,\n"
    "  min REAL NOT NULL,\n"
    "  max REAL NOT NULL,\n"
    "  sum REAL NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  PRIMARY KEY(device, metric, bucket_ms)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE rollup_1h(\n"
    "  device TEXT NOT NULL,\n"
    "  metric TEXT NOT NULL,\n"
    "  bucket_ms INTEGER NOT NULL,\n"
    "  org TEXT NOT NULL,\n"
    "  min REAL NOT NULL,\n"
    "  max REAL NOT NULL,\n"
    "  sum REAL NOT NULL,\n"
    "  count INTEGER NOT NULL,\n"
    "  PRIMARY KEY(device, metric, bucket_ms)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE device_epochs(\n"
    "  device TEXT NOT NULL,\n"
    "  epoch INTEGER NOT NULL,\n"
    "  org TEXT NOT NULL,\n"
    "  max_seq INTEGER NOT NULL DEFAULT 0,\n"
    "  stored INTEGER NOT NULL DEFAULT 0,\n"
    "  hb_last INTEGER,\n"
    "  hb_pending INTEGER,\n"
    "  hb_drops INTEGER,\n"
    "  hb_ms INTEGER,\n"
    "  PRIMARY KEY(device, epoch)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE gaps(\n"
    "  device TEXT NOT NULL,\n"
    "  epoch INTEGER NOT NULL,\n"
    "  from_seq INTEGER NOT NULL,\n"
    "  org TEXT NOT NULL,\n"
    "  to_seq INTEGER NOT NULL,\n"
    "  detected_ms INTEGER NOT NULL,\n"
    "  PRIMARY KEY(device, epoch, from_seq)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE batches(\n"
    "  gateway TEXT NOT NULL,\n"
    "  gw_epoch INTEGER NOT NULL,\n"
    "  first_id INTEGER NOT NULL,\n"
    "  org TEXT NOT NULL,\n"
    "  last_id INTEGER NOT NULL,\n"
    "  received_ms INTEGER NOT NULL,\n"
    "  deliveries INTEGER NOT NULL,\n"
    "  n_new INTEGER NOT NULL,\n"
    "  n_dup INTEGER NOT NULL,\n"
    "  n_rejected INTEGER NOT NULL,\n"
    "  PRIMARY KEY(gateway, gw_epoch, first_id)) STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE counters(\n"
    "  org TEXT PRIMARY KEY,\n"
    "  messages INTEGER NOT NULL DEFAULT 0,\n"
    "  samples INTEGER NOT NULL DEFAULT 0,\n"
    "  duplicates INTEGER NOT NULL DEFAULT 0,\n"
    "  rejected INTEGER NOT NULL DEFAULT 0,\n"
    "  batches INTEGER NOT NULL DEFAULT 0) STRICT;\n",
};

#define NSTEPS (sizeof schema_steps / sizeof schema_steps[0])

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_PING,
    S_ORG_PUT,
    S_GW_PUT,
    S_GW_GET,
    S_DEV_PUT,
    S_DEV_ORG,
    S_MSG_INSERT,
    S_SAMPLE_INSERT,
    S_ROLLUP_1M,
    S_ROLLUP_1H,
    S_METRIC_PUT,
    S_EPOCH_GET,
    S_EPOCHS_OF,
    S_EPOCH_PUT,
    S_GAP_FIND,
    S_GAP_DELETE,
    S_GAP_INSERT,
    S_DEV_UPDATE,
    S_DEV_PRESENCE,
    S_COUNTS_ADD,
    S_BATCH_RECORD,
    S_DEVICES,
    S_DEVICE_METRICS,
    S_METRIC_GET,
    S_SERIES_RAW,
    S_SERIES_RAW_STEP,
    S_SERIES_1M,
    S_SERIES_1H,
    S_GAPS,
    S_EPOCHS,
    S_STATS,
    S_RETAIN_METRICS,
    S_RETAIN_RAW,
    S_RETAIN_1M,
    S_RETAIN_1H,
    S_RETAIN_MESSAGES,
    S_RETAIN_BATCHES,
    S_COUNT
};

/* The value of a device query's "missing": seq gaps plus heartbeat tail gaps. */
#define MISSING_OF(dev_expr)                                                                       \
    "(SELECT coalesce(sum(to_seq - from_seq + 1), 0) FROM gaps g WHERE g.device = " dev_expr       \
    ") + (SELECT coalesce(sum(max(0, x.hb_last - x.hb_pending - x.max_seq)), 0) "                  \
    "FROM device_epochs x WHERE x.device = " dev_expr ")"

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_PING] = "SELECT count(*) FROM sqlite_schema",
    [S_ORG_PUT] = "INSERT INTO orgs(id, name) VALUES(?1, ?2) "
                  "ON CONFLICT(id) DO UPDATE SET name = excluded.name",
    [S_GW_PUT] = "INSERT INTO gateways(id, org, pubkey, key_no) VALUES(?1, ?2, ?3, ?4) "
                 "ON CONFLICT(id) DO UPDATE SET org = excluded.org, pubkey = excluded.pubkey, "
                 "key_no = excluded.key_no",
    [S_GW_GET] = "SELECT org, pubkey, key_no FROM gateways WHERE id = ?1",
    [S_DEV_PUT] = "INSERT INTO devices(id, org, gateway, class, model, hw_rev, \"groups\", "
                  "assurance) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                  "ON CONFLICT(id) DO UPDATE SET org = excluded.org, "
                  "gateway = CASE WHEN excluded.gateway <> '' THEN excluded.gateway "
                  "ELSE gateway END, class = excluded.class, model = excluded.model, "
                  "hw_rev = excluded.hw_rev, \"groups\" = excluded.\"groups\", "
                  "assurance = excluded.assurance",
    [S_DEV_ORG] = "SELECT org FROM devices WHERE id = ?1",
    [S_MSG_INSERT] = "INSERT INTO messages(mid, org, device, epoch, seq, gateway, gw_epoch, "
                     "gw_id, suffix, recv_ms, stored_ms, status, reason) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
                     "ON CONFLICT(mid) DO NOTHING",
    [S_SAMPLE_INSERT] = "INSERT INTO samples(device, metric, t_ms, msg, org, v_num, v_str, "
                        "v_bool, v_data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                        "ON CONFLICT DO NOTHING",
    [S_ROLLUP_1M] = "INSERT INTO rollup_1m(device, metric, bucket_ms, org, min, max, sum, count) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                    "ON CONFLICT(device, metric, bucket_ms) DO UPDATE SET "
                    "min = min(min, excluded.min), max = max(max, excluded.max), "
                    "sum = sum + excluded.sum, count = count + excluded.count",
    [S_ROLLUP_1H] = "INSERT INTO rollup_1h(device, metric, bucket_ms, org, min, max, sum, count) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                    "ON CONFLICT(device, metric, bucket_ms) DO UPDATE SET "
                    "min = min(min, excluded.min), max = max(max, excluded.max), "
                    "sum = sum + excluded.sum, count = count + excluded.count",
    [S_METRIC_PUT] = "INSERT INTO metrics(device, name, org, unit, type) "
                     "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(device, name) DO UPDATE SET "
                     "unit = CASE WHEN excluded.unit <> '' THEN excluded.unit ELSE unit END, "
                     "type = excluded.type "
                     "WHERE (excluded.unit <> '' AND excluded.unit <> unit) "
                     "OR excluded.type <> type",
    [S_EPOCH_GET] = "SELECT max_seq, stored, hb_last, hb_pending, hb_drops, hb_ms "
                    "FROM device_epochs WHERE device = ?1 AND epoch = ?2",
    [S_EPOCHS_OF] = "SELECT epoch, org, max_seq, stored, hb_last, hb_pending, hb_drops, hb_ms "
                    "FROM device_epochs WHERE device = ?1",
    [S_EPOCH_PUT] = "INSERT INTO device_epochs(device, epoch, org, max_seq, stored, hb_last, "
                    "hb_pending, hb_drops, hb_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                    "ON CONFLICT(device, epoch) DO UPDATE SET max_seq = excluded.max_seq, "
                    "stored = excluded.stored, hb_last = excluded.hb_last, "
                    "hb_pending = excluded.hb_pending, hb_drops = excluded.hb_drops, "
                    "hb_ms = excluded.hb_ms",
    [S_GAP_FIND] = "SELECT from_seq, to_seq, detected_ms FROM gaps "
                   "WHERE device = ?1 AND epoch = ?2 AND from_seq <= ?3 "
                   "ORDER BY from_seq DESC LIMIT 1",
    [S_GAP_DELETE] = "DELETE FROM gaps WHERE device = ?1 AND epoch = ?2 AND from_seq = ?3",
    [S_GAP_INSERT] = "INSERT INTO gaps(device, epoch, from_seq, org, to_seq, detected_ms) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_DEV_UPDATE] =
        "UPDATE devices SET "
        "last_seen_ms = CASE WHEN ?3 > 0 AND (last_seen_ms IS NULL OR ?3 > last_seen_ms) "
        "THEN ?3 ELSE last_seen_ms END, "
        "gateway = coalesce(?4, gateway), "
        "epoch = CASE WHEN ?5 AND (epoch_ms IS NULL OR ?7 >= epoch_ms) THEN ?6 ELSE epoch END, "
        "epoch_ms = CASE WHEN ?5 AND (epoch_ms IS NULL OR ?7 >= epoch_ms) THEN ?7 "
        "ELSE epoch_ms END, "
        "messages = messages + ?8 "
        "WHERE id = ?1 AND org = ?2",
    [S_DEV_PRESENCE] = "UPDATE devices SET online = ?3, presence_ms = ?4 "
                       "WHERE id = ?1 AND org = ?2 AND (presence_ms IS NULL OR presence_ms <= ?4)",
    [S_COUNTS_ADD] = "INSERT INTO counters(org, messages, samples, duplicates, rejected, batches) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(org) DO UPDATE SET "
                     "messages = messages + excluded.messages, "
                     "samples = samples + excluded.samples, "
                     "duplicates = duplicates + excluded.duplicates, "
                     "rejected = rejected + excluded.rejected, "
                     "batches = batches + excluded.batches",
    [S_BATCH_RECORD] = "INSERT INTO batches(gateway, gw_epoch, first_id, org, last_id, "
                       "received_ms, deliveries, n_new, n_dup, n_rejected) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9) "
                       "ON CONFLICT(gateway, gw_epoch, first_id) DO UPDATE SET "
                       "deliveries = deliveries + 1, last_id = max(last_id, excluded.last_id), "
                       "n_new = n_new + excluded.n_new, n_dup = n_dup + excluded.n_dup, "
                       "n_rejected = n_rejected + excluded.n_rejected "
                       "RETURNING deliveries",
    [S_DEVICES] =
        "SELECT d.id, d.org, d.gateway, d.class, d.model, d.hw_rev, d.\"groups\", "
        "d.assurance, d.online, d.last_seen_ms, d.epoch, e.max_seq, d.messages, " MISSING_OF(
            "d.id") " "
                    "FROM devices d LEFT JOIN device_epochs e "
                    "ON e.device = d.id AND e.epoch = d.epoch "
                    "WHERE d.org = ?1 AND (?2 IS NULL OR d.id = ?2) ORDER BY d.id",
    [S_DEVICE_METRICS] = "SELECT name FROM metrics WHERE device = ?1 AND org = ?2 ORDER BY name",
    [S_METRIC_GET] = "SELECT unit, type FROM metrics WHERE device = ?1 AND name = ?2 AND org = ?3",
    [S_SERIES_RAW] = "SELECT t_ms, v_num, v_str, v_bool, v_data FROM ("
                     "SELECT t_ms, msg, v_num, v_str, v_bool, v_data FROM samples "
                     "WHERE device = ?1 AND metric = ?2 AND org = ?3 AND t_ms >= ?4 AND t_ms < ?5 "
                     "ORDER BY t_ms DESC, msg DESC LIMIT ?7) ORDER BY t_ms, msg",
    [S_SERIES_RAW_STEP] = "SELECT b, mn, mx, sm, n FROM ("
                          "SELECT (t_ms / ?6) * ?6 AS b, min(v_num) AS mn, max(v_num) AS mx, "
                          "sum(v_num) AS sm, count(v_num) AS n FROM samples "
                          "WHERE device = ?1 AND metric = ?2 AND org = ?3 AND t_ms >= ?4 "
                          "AND t_ms < ?5 AND v_num IS NOT NULL "
                          "GROUP BY b ORDER BY b DESC LIMIT ?7) ORDER BY b",
    [S_SERIES_1M] = "SELECT b, mn, mx, sm, n FROM ("
                    "SELECT (bucket_ms / ?6) * ?6 AS b, min(min) AS mn, max(max) AS mx, "
                    "sum(sum) AS sm, sum(count) AS n FROM rollup_1m "
                    "WHERE device = ?1 AND metric = ?2 AND org = ?3 AND bucket_ms >= ?4 "
                    "AND bucket_ms < ?5 GROUP BY b ORDER BY b DESC LIMIT ?7) ORDER BY b",
    [S_SERIES_1H] = "SELECT b, mn, mx, sm, n FROM ("
                    "SELECT (bucket_ms / ?6) * ?6 AS b, min(min) AS mn, max(max) AS mx, "
                    "sum(sum) AS sm, sum(count) AS n FROM rollup_1h "
                    "WHERE device = ?1 AND metric = ?2 AND org = ?3 AND bucket_ms >= ?4 "
                    "AND bucket_ms < ?5 GROUP BY b ORDER BY b DESC LIMIT ?7) ORDER BY b",
    [S_GAPS] = "SELECT epoch, from_seq, to_seq, detected_ms FROM gaps "
               "WHERE device = ?1 AND org = ?2 ORDER BY epoch, from_seq",
    [S_EPOCHS] = "SELECT epoch, max_seq, stored, hb_last, hb_pending, hb_drops, hb_ms "
                 "FROM device_epochs WHERE device = ?1 AND org = ?2 ORDER BY epoch",
    [S_STATS] = "SELECT (SELECT count(*) FROM devices WHERE org = ?1), "
                "(SELECT count(*) FROM devices WHERE org = ?1 AND online), "
                "(SELECT coalesce(sum(to_seq - from_seq + 1), 0) FROM gaps WHERE org = ?1) + "
                "(SELECT coalesce(sum(max(0, hb_last - hb_pending - max_seq)), 0) "
                "FROM device_epochs WHERE org = ?1), "
                "c.messages, c.samples, c.duplicates, c.rejected, c.batches "
                "FROM (SELECT 1) LEFT JOIN counters c ON c.org = ?1",
    [S_RETAIN_METRICS] = "SELECT device, name FROM metrics",
    [S_RETAIN_RAW] = "DELETE FROM samples WHERE device = ?1 AND metric = ?2 AND t_ms < ?3",
    [S_RETAIN_1M] = "DELETE FROM rollup_1m WHERE device = ?1 AND metric = ?2 AND bucket_ms < ?3",
    [S_RETAIN_1H] = "DELETE FROM rollup_1h WHERE device = ?1 AND metric = ?2 AND bucket_ms < ?3",
    [S_RETAIN_MESSAGES] = "DELETE FROM messages WHERE recv_ms < ?1",
    [S_RETAIN_BATCHES] = "DELETE FROM batches WHERE received_ms < ?1",
};

struct sq_store {
    struct corio_store base;
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
};

static struct sq_store *SQ(struct corio_store *s)
{
    return (struct sq_store *)s;
}

static int db_fail(struct sq_store *q, const char *what)
{
    corio_logkv(CORIO_LOG_ERROR, "database failed", "op=%s error=%s", what, sqlite3_errmsg(q->db));
    return CORIO_ERR_IO;
}

/* The prepared statement id, reset and unbound, or NULL (logged). */
static sqlite3_stmt *st(struct sq_store *q, enum stmt_id id)
{
    sqlite3_stmt *s = q->stmt[id];
    if (!s) {
        if (sqlite3_prepare_v3(q->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            db_fail(q, "prepare");
            return NULL;
        }
        q->stmt[id] = s;
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* Runs a statement that returns no rows; the number of rows changed, or CORIO_ERR_IO. */
static int run(struct sq_store *q, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(q, what);
    return sqlite3_changes(q->db);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void sq_close(struct corio_store *s)
{
    struct sq_store *q = SQ(s);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(q->stmt[i]);
    if (q->db && !sqlite3_get_autocommit(q->db))
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(q->db);
    free(q);
}

static int sq_ping(struct corio_store *s)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_PING);
    if (!p)
        return CORIO_ERR_IO;
    int rc = sqlite3_step(p);
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? CORIO_OK : db_fail(q, "ping");
}

static int sq_simple(struct corio_store *s, enum stmt_id id, const char *what)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, id);
    if (!p)
        return CORIO_ERR_IO;
    int rc = run(q, p, what);
    return rc < 0 ? rc : CORIO_OK;
}

static int sq_begin(struct corio_store *s)
{
    if (!sqlite3_get_autocommit(SQ(s)->db))
        return CORIO_ERR_STATE;
    return sq_simple(s, S_BEGIN, "begin");
}

static int sq_commit(struct corio_store *s)
{
    if (sqlite3_get_autocommit(SQ(s)->db))
        return CORIO_ERR_STATE;
    return sq_simple(s, S_COMMIT, "commit");
}

static int sq_rollback(struct corio_store *s)
{
    if (sqlite3_get_autocommit(SQ(s)->db))
        return CORIO_OK; /* SQLite may already have rolled back after an error */
    return sq_simple(s, S_ROLLBACK, "rollback");
}

/* ---- registry ------------------------------------------------------------------------ */

static int sq_org_put(struct corio_store *s, const char *id, const char *name)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_ORG_PUT);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, id);
    bind_text(p, 2, name);
    int rc = run(q, p, "org_put");
    return rc < 0 ? rc : CORIO_OK;
}

static int sq_gateway_put(struct corio_store *s, const struct corio_gateway_rec *g)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_GW_PUT);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, g->id);
    bind_text(p, 2, g->org);
    if (g->pubkey_len)
        sqlite3_bind_blob(p, 3, g->pubkey, (int)g->pubkey_len, SQLITE_STATIC);
    sqlite3_bind_int64(p, 4, g->key_no);
    int rc = run(q, p, "gateway_put");
    return rc < 0 ? rc : CORIO_OK;
}

static int sq_gateway_get(struct corio_store *s, const char *id, struct corio_gateway_rec *g)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_GW_GET);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, id);
    int rc = sqlite3_step(p);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(p);
        return CORIO_ERR_NOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(p);
        return db_fail(q, "gateway_get");
    }
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "%s", id);
    snprintf(g->org, sizeof g->org, "%s", col_text(p, 0));
    int n = sqlite3_column_bytes(p, 1);
    if (n == (int)sizeof g->pubkey) {
        memcpy(g->pubkey, sqlite3_column_blob(p, 1), sizeof g->pubkey);
        g->pubkey_len = sizeof g->pubkey;
    }
    g->key_no = sqlite3_column_int64(p, 2);
    sqlite3_reset(p);
    return CORIO_OK;
}

static int sq_device_put(struct corio_store *s, const struct corio_device_rec *d)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_DEV_PUT);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, d->id);
    bind_text(p, 2, d->org);
    bind_text(p, 3, d->gateway ? d->gateway : "");
    bind_text(p, 4, d->cls ? d->cls : "");
    bind_text(p, 5, d->model ? d->model : "");
    bind_text(p, 6, d->hw_rev ? d->hw_rev : "");
    bind_text(p, 7, d->groups ? d->groups : "");
    bind_text(p, 8, d->assurance ? d->assurance : "");
    int rc = run(q, p, "device_put");
    return rc < 0 ? rc : CORIO_OK;
}

static int sq_device_org(struct corio_store *s, const char *id, char org[CORIO_ID_LEN + 1])
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_DEV_ORG);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, id);
    int rc = sqlite3_step(p);
    if (rc == SQLITE_ROW)
        snprintf(org, CORIO_ID_LEN + 1, "%s", col_text(p, 0));
    sqlite3_reset(p);
    if (rc == SQLITE_DONE)
        return CORIO_ERR_NOTFOUND;
    return rc == SQLITE_ROW ? CORIO_OK : db_fail(q, "device_org");
}

/* ---- ingest primitives --------------------------------------------------------------- */

static int sq_messages_insert(struct corio_store *s, const struct corio_msg_row *rows,
                              const char *const *mids, size_t n, int64_t *ref, uint8_t *is_new)
{
    struct sq_store *q = SQ(s);
    for (size_t i = 0; i < n; i++) {
        const struct corio_msg_row *m = &rows[i];
        sqlite3_stmt *p = st(q, S_MSG_INSERT);
        if (!p)
            return CORIO_ERR_IO;
        bind_text(p, 1, mids[i]);
        bind_text(p, 2, m->org);
        bind_text(p, 3, m->device);
        if (m->has_seq) {
            sqlite3_bind_int64(p, 4, m->epoch);
            sqlite3_bind_int64(p, 5, m->seq);
        }
        bind_text(p, 6, m->gateway);
        sqlite3_bind_int64(p, 7, m->gw_epoch);
        sqlite3_bind_int64(p, 8, m->gw_id);
        bind_text(p, 9, m->suffix);
        sqlite3_bind_int64(p, 10, m->recv_ms);
        sqlite3_bind_int64(p, 11, m->stored_ms);
        sqlite3_bind_int(p, 12, (int)m->status);
        if (m->reason)
            sqlite3_bind_text(p, 13, m->reason, (int)m->reason_len, SQLITE_STATIC);
        int rc = run(q, p, "message_insert");
        if (rc < 0)
            return rc;
        is_new[i] = rc > 0;
        ref[i] = rc > 0 ? sqlite3_last_insert_rowid(q->db) : 0;
    }
    return CORIO_OK;
}

static int sq_samples_insert(struct corio_store *s, const struct corio_sample_row *rows, size_t n,
                             uint8_t *inserted)
{
    struct sq_store *q = SQ(s);
    for (size_t i = 0; i < n; i++) {
        const struct corio_sample_row *r = &rows[i];
        sqlite3_stmt *p = st(q, S_SAMPLE_INSERT);
        if (!p)
            return CORIO_ERR_IO;
        bind_text(p, 1, r->device);
        bind_text(p, 2, r->metric);
        sqlite3_bind_int64(p, 3, r->t_ms);
        sqlite3_bind_int64(p, 4, r->msg);
        bind_text(p, 5, r->org);
        switch (r->value.kind) {
        case CORIO_VALUE_NUM:
            sqlite3_bind_double(p, 6, r->value.num);
            break;
        case CORIO_VALUE_STR:
            sqlite3_bind_text(p, 7, r->value.len ? r->value.str : "", (int)r->value.len,
                              SQLITE_STATIC);
            break;
        case CORIO_VALUE_BOOL:
            sqlite3_bind_int(p, 8, r->value.b ? 1 : 0);
            break;
        case CORIO_VALUE_DATA:
            sqlite3_bind_blob(p, 9, r->value.len ? (const void *)r->value.data : "",
                              (int)r->value.len, SQLITE_STATIC);
            break;
        }
        int rc = run(q, p, "sample_insert");
        if (rc < 0)
            return rc;
        inserted[i] = rc > 0;
    }
    return CORIO_OK;
}

static int sq_rollups_merge(struct corio_store *s, const struct corio_rollup_row *rows, size_t n)
{
    struct sq_store *q = SQ(s);
    for (size_t i = 0; i < n; i++) {
        const struct corio_rollup_row *r = &rows[i];
        sqlite3_stmt *p = st(q, r->tier == CORIO_TIER_1M ? S_ROLLUP_1M : S_ROLLUP_1H);
        if (!p)
            return CORIO_ERR_IO;
        bind_text(p, 1, r->device);
        bind_text(p, 2, r->metric);
        sqlite3_bind_int64(p, 3, r->bucket_ms);
        bind_text(p, 4, r->org);
        sqlite3_bind_double(p, 5, r->min);
        sqlite3_bind_double(p, 6, r->max);
        sqlite3_bind_double(p, 7, r->sum);
        sqlite3_bind_int64(p, 8, r->count);
        int rc = run(q, p, "rollup_merge");
        if (rc < 0)
            return rc;
    }
    return CORIO_OK;
}

static int sq_metrics_put(struct corio_store *s, const struct corio_metric_row *rows, size_t n)
{
    struct sq_store *q = SQ(s);
    for (size_t i = 0; i < n; i++) {
        const struct corio_metric_row *m = &rows[i];
        sqlite3_stmt *p = st(q, S_METRIC_PUT);
        if (!p)
            return CORIO_ERR_IO;
        char type[2] = {(char)m->kind, 0};
        bind_text(p, 1, m->device);
        bind_text(p, 2, m->name);
        bind_text(p, 3, m->org);
        bind_text(p, 4, m->unit ? m->unit : "");
        sqlite3_bind_text(p, 5, type, 1, SQLITE_TRANSIENT);
        int rc = run(q, p, "metric_put");
        if (rc < 0)
            return rc;
    }
    return CORIO_OK;
}

/* One writer at a time already: BEGIN IMMEDIATE takes the database's write lock. */
static int sq_lock_devices(struct corio_store *s, const char *const *ids, size_t n)
{
    (void)s;
    (void)ids;
    (void)n;
    return CORIO_OK;
}

static void read_epoch(sqlite3_stmt *p, int col, struct corio_epoch_state *e)
{
    memset(e, 0, sizeof *e);
    e->max_seq = sqlite3_column_int64(p, col);
    e->stored = sqlite3_column_int64(p, col + 1);
    e->has_hb = sqlite3_column_type(p, col + 2) != SQLITE_NULL;
    e->hb_last = sqlite3_column_int64(p, col + 2);
    e->hb_pending = sqlite3_column_int64(p, col + 3);
    e->hb_drops = sqlite3_column_int64(p, col + 4);
    e->hb_ms = sqlite3_column_int64(p, col + 5);
}

static int sq_epoch_get(struct corio_store *s, const char *device, int64_t epoch,
                        struct corio_epoch_state *e)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_EPOCH_GET);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    sqlite3_bind_int64(p, 2, epoch);
    int rc = sqlite3_step(p);
    if (rc == SQLITE_ROW)
        read_epoch(p, 0, e);
    sqlite3_reset(p);
    if (rc == SQLITE_DONE)
        return CORIO_ERR_NOTFOUND;
    return rc == SQLITE_ROW ? CORIO_OK : db_fail(q, "epoch_get");
}

static int sq_epochs_load(struct corio_store *s, const char *const *ids, size_t n,
                          int (*fn)(void *arg, const struct corio_epoch_row *row), void *arg)
{
    struct sq_store *q = SQ(s);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *p = st(q, S_EPOCHS_OF);
        if (!p)
            return CORIO_ERR_IO;
        bind_text(p, 1, ids[i]);
        int rc, out = CORIO_OK;
        while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
            struct corio_epoch_row row = {
                .org = col_text(p, 1), .device = ids[i], .epoch = sqlite3_column_int64(p, 0)};
            read_epoch(p, 2, &row.st);
            if ((out = fn(arg, &row)) != 0)
                break;
        }
        if (out == CORIO_OK && rc != SQLITE_DONE)
            out = db_fail(q, "epochs_load");
        sqlite3_reset(p);
        if (out != CORIO_OK)
            return out;
    }
    return CORIO_OK;
}

static int sq_epochs_put(struct corio_store *s, const struct corio_epoch_row *rows, size_t n)
{
    struct sq_store *q = SQ(s);
    for (size_t i = 0; i < n; i++) {
        const struct corio_epoch_row *r = &rows[i];
        const struct corio_epoch_state *e = &r->st;
        sqlite3_stmt *p = st(q, S_EPOCH_PUT);
        if (!p)
            return CORIO_ERR_IO;
        bind_text(p, 1, r->device);
        sqlite3_bind_int64(p, 2, r->epoch);
        bind_text(p, 3, r->org);
        sqlite3_bind_int64(p, 4, e->max_seq);
        sqlite3_bind_int64(p, 5, e->stored);
        if (e->has_hb) {
            sqlite3_bind_int64(p, 6, e->hb_last);
            sqlite3_bind_int64(p, 7, e->hb_pending);
            sqlite3_bind_int64(p, 8, e->hb_drops);
            sqlite3_bind_int64(p, 9, e->hb_ms);
        }
        int rc = run(q, p, "epoch_put");
        if (rc < 0)
            return rc;
    }
    return CORIO_OK;
}

static int sq_gap_find(struct corio_store *s, const char *device, int64_t epoch, int64_t seq,
                       struct corio_gap *g)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_GAP_FIND);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    sqlite3_bind_int64(p, 2, epoch);
    sqlite3_bind_int64(p, 3, seq);
    int rc = sqlite3_step(p);
    bool found = false;
    if (rc == SQLITE_ROW && sqlite3_column_int64(p, 1) >= seq) {
        *g = (struct corio_gap){.device = device,
                                .epoch = epoch,
                                .from_seq = sqlite3_column_int64(p, 0),
                                .to_seq = sqlite3_column_int64(p, 1),
                                .kind = CORIO_GAP_SEQ,
                                .detected_ms = sqlite3_column_int64(p, 2)};
        found = true;
    }
    sqlite3_reset(p);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(q, "gap_find");
    return found ? CORIO_OK : CORIO_ERR_NOTFOUND;
}

static int sq_gap_delete(struct corio_store *s, const char *device, int64_t epoch, int64_t from)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_GAP_DELETE);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    sqlite3_bind_int64(p, 2, epoch);
    sqlite3_bind_int64(p, 3, from);
    int rc = run(q, p, "gap_delete");
    return rc < 0 ? rc : CORIO_OK;
}

static int sq_gap_insert(struct corio_store *s, const char *org, const struct corio_gap *g)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_GAP_INSERT);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, g->device);
    sqlite3_bind_int64(p, 2, g->epoch);
    sqlite3_bind_int64(p, 3, g->from_seq);
    bind_text(p, 4, org);
    sqlite3_bind_int64(p, 5, g->to_seq);
    sqlite3_bind_int64(p, 6, g->detected_ms);
    int rc = run(q, p, "gap_insert");
    return rc < 0 ? rc : CORIO_OK;
}

static int sq_device_update(struct corio_store *s, const struct corio_device_update *u)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_DEV_UPDATE);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, u->id);
    bind_text(p, 2, u->org);
    sqlite3_bind_int64(p, 3, u->seen_ms);
    bind_text(p, 4, u->gateway);
    sqlite3_bind_int(p, 5, u->has_epoch);
    sqlite3_bind_int64(p, 6, u->epoch);
    sqlite3_bind_int64(p, 7, u->epoch_ms);
    sqlite3_bind_int64(p, 8, u->messages_delta);
    int rc = run(q, p, "device_update");
    if (rc < 0 || !u->has_presence)
        return rc < 0 ? rc : 0;
    if (!(p = st(q, S_DEV_PRESENCE)))
        return CORIO_ERR_IO;
    bind_text(p, 1, u->id);
    bind_text(p, 2, u->org);
    sqlite3_bind_int(p, 3, u->online);
    sqlite3_bind_int64(p, 4, u->presence_ms);
    rc = run(q, p, "device_presence");
    return rc < 0 ? rc : (rc > 0);
}

static int sq_devices_update(struct corio_store *s, const struct corio_device_update *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sq_device_update(s, &u[i]);
        if (rc < 0)
            return rc;
    }
    return CORIO_OK;
}

static int sq_counts_add(struct corio_store *s, const char *org, const struct corio_store_counts *d)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_COUNTS_ADD);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, org);
    sqlite3_bind_int64(p, 2, d->messages);
    sqlite3_bind_int64(p, 3, d->samples);
    sqlite3_bind_int64(p, 4, d->duplicates);
    sqlite3_bind_int64(p, 5, d->rejected);
    sqlite3_bind_int64(p, 6, d->batches);
    int rc = run(q, p, "counts_add");
    return rc < 0 ? rc : CORIO_OK;
}

static int sq_batch_record(struct corio_store *s, const struct corio_batch_rec *b)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_BATCH_RECORD);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, b->gateway);
    sqlite3_bind_int64(p, 2, b->gw_epoch);
    sqlite3_bind_int64(p, 3, b->first_id);
    bind_text(p, 4, b->org);
    sqlite3_bind_int64(p, 5, b->last_id);
    sqlite3_bind_int64(p, 6, b->received_ms);
    sqlite3_bind_int64(p, 7, b->n_new);
    sqlite3_bind_int64(p, 8, b->n_dup);
    sqlite3_bind_int64(p, 9, b->n_rejected);
    int rc = sqlite3_step(p);
    int64_t deliveries = rc == SQLITE_ROW ? sqlite3_column_int64(p, 0) : 0;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(p);
    sqlite3_reset(p);
    if (rc != SQLITE_DONE)
        return db_fail(q, "batch_record");
    return deliveries == 1;
}

/* ---- queries ------------------------------------------------------------------------- */

#define MAX_METRICS_LISTED 1024

static int sq_devices(struct corio_store *s, const char *org, const char *id, corio_device_fn fn,
                      void *arg)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_DEVICES);
    if (!p)
        return CORIO_ERR_IO;
    /* The metrics statement runs while the devices one is open: prepare it apart. */
    sqlite3_stmt *m = NULL;
    if (sqlite3_prepare_v2(q->db, stmt_sql[S_DEVICE_METRICS], -1, &m, NULL) != SQLITE_OK)
        return db_fail(q, "prepare");
    bind_text(p, 1, org);
    bind_text(p, 2, id);
    char **names = NULL;
    int rc;
    int out = CORIO_OK;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        size_t n = 0;
        sqlite3_reset(m);
        bind_text(m, 1, (const char *)sqlite3_column_text(p, 0));
        bind_text(m, 2, org);
        if (!names && !(names = calloc(MAX_METRICS_LISTED, sizeof *names))) {
            out = CORIO_ERR_NOSPACE;
            break;
        }
        int mrc;
        while ((mrc = sqlite3_step(m)) == SQLITE_ROW && n < MAX_METRICS_LISTED) {
            if (!(names[n] = strdup(col_text(m, 0)))) {
                out = CORIO_ERR_NOSPACE;
                break;
            }
            n++;
        }
        if (out == CORIO_OK && mrc != SQLITE_ROW && mrc != SQLITE_DONE)
            out = db_fail(q, "device_metrics");
        if (out == CORIO_OK) {
            struct corio_device_info d = {
                .id = col_text(p, 0),
                .org = col_text(p, 1),
                .gateway = col_text(p, 2),
                .cls = col_text(p, 3),
                .model = col_text(p, 4),
                .hw_rev = col_text(p, 5),
                .groups = col_text(p, 6),
                .assurance = col_text(p, 7),
                .online = sqlite3_column_int(p, 8) != 0,
                .has_seen = sqlite3_column_type(p, 9) != SQLITE_NULL,
                .last_seen_ms = sqlite3_column_int64(p, 9),
                .has_epoch = sqlite3_column_type(p, 10) != SQLITE_NULL,
                .epoch = sqlite3_column_int64(p, 10),
                .last_seq = sqlite3_column_int64(p, 11),
                .messages = sqlite3_column_int64(p, 12),
                .missing = sqlite3_column_int64(p, 13),
                .metrics = (const char *const *)names,
                .nmetrics = n,
            };
            int r = fn(&d, arg);
            if (r != 0)
                out = r;
        }
        for (size_t i = 0; i < n; i++) {
            free(names[i]);
            names[i] = NULL;
        }
        if (out != CORIO_OK)
            break;
    }
    if (out == CORIO_OK && rc != SQLITE_DONE)
        out = db_fail(q, "devices");
    free(names);
    sqlite3_finalize(m);
    sqlite3_reset(p);
    return out;
}

static int sq_metric_get(struct corio_store *s, const char *org, const char *device,
                         const char *name, struct corio_metric_info *mi)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_METRIC_GET);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    bind_text(p, 2, name);
    bind_text(p, 3, org);
    int rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        snprintf(mi->unit, sizeof mi->unit, "%s", col_text(p, 0));
        mi->kind = (enum corio_value_kind)col_text(p, 1)[0];
    }
    sqlite3_reset(p);
    if (rc == SQLITE_DONE)
        return CORIO_ERR_NOTFOUND;
    return rc == SQLITE_ROW ? CORIO_OK : db_fail(q, "metric_get");
}

static int sq_series(struct corio_store *s, const char *org, const char *device, const char *metric,
                     enum corio_tier tier, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                     int64_t limit, corio_point_fn fn, void *arg)
{
    struct sq_store *q = SQ(s);
    enum stmt_id id = step_ms == 0             ? S_SERIES_RAW
                      : tier == CORIO_TIER_RAW ? S_SERIES_RAW_STEP
                      : tier == CORIO_TIER_1M  ? S_SERIES_1M
                                               : S_SERIES_1H;
    sqlite3_stmt *p = st(q, id);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    bind_text(p, 2, metric);
    bind_text(p, 3, org);
    sqlite3_bind_int64(p, 4, from_ms);
    sqlite3_bind_int64(p, 5, to_ms);
    if (step_ms)
        sqlite3_bind_int64(p, 6, step_ms);
    sqlite3_bind_int64(p, 7, limit);
    int rc, out = CORIO_OK;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        struct corio_point pt = {.t_ms = sqlite3_column_int64(p, 0)};
        if (step_ms == 0) {
            if (sqlite3_column_type(p, 1) != SQLITE_NULL) {
                pt.value.kind = CORIO_VALUE_NUM;
                pt.value.num = sqlite3_column_double(p, 1);
            } else if (sqlite3_column_type(p, 2) != SQLITE_NULL) {
                pt.value.kind = CORIO_VALUE_STR;
                pt.value.str = (const char *)sqlite3_column_text(p, 2);
                pt.value.len = (size_t)sqlite3_column_bytes(p, 2);
            } else if (sqlite3_column_type(p, 3) != SQLITE_NULL) {
                pt.value.kind = CORIO_VALUE_BOOL;
                pt.value.b = sqlite3_column_int(p, 3) != 0;
            } else {
                pt.value.kind = CORIO_VALUE_DATA;
                pt.value.data = sqlite3_column_blob(p, 4);
                pt.value.len = (size_t)sqlite3_column_bytes(p, 4);
            }
        } else {
            pt.min = sqlite3_column_double(p, 1);
            pt.max = sqlite3_column_double(p, 2);
            pt.sum = sqlite3_column_double(p, 3);
            pt.count = sqlite3_column_int64(p, 4);
        }
        if ((out = fn(&pt, arg)) != 0)
            break;
    }
    if (out == CORIO_OK && rc != SQLITE_DONE)
        out = db_fail(q, "series");
    sqlite3_reset(p);
    return out;
}

static int sq_gaps(struct corio_store *s, const char *org, const char *device, corio_gap_fn fn,
                   void *arg)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_GAPS);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    bind_text(p, 2, org);
    int rc, out = CORIO_OK;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        struct corio_gap g = {.device = device,
                              .epoch = sqlite3_column_int64(p, 0),
                              .from_seq = sqlite3_column_int64(p, 1),
                              .to_seq = sqlite3_column_int64(p, 2),
                              .kind = CORIO_GAP_SEQ,
                              .detected_ms = sqlite3_column_int64(p, 3)};
        if ((out = fn(&g, arg)) != 0)
            break;
    }
    if (out == CORIO_OK && rc != SQLITE_DONE)
        out = db_fail(q, "gaps");
    sqlite3_reset(p);
    return out;
}

static int sq_epochs(struct corio_store *s, const char *org, const char *device, corio_epoch_fn fn,
                     void *arg)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_EPOCHS);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    bind_text(p, 2, org);
    int rc, out = CORIO_OK;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        struct corio_epoch_state e;
        read_epoch(p, 1, &e);
        if ((out = fn(sqlite3_column_int64(p, 0), &e, arg)) != 0)
            break;
    }
    if (out == CORIO_OK && rc != SQLITE_DONE)
        out = db_fail(q, "epochs");
    sqlite3_reset(p);
    return out;
}

static int sq_stats(struct corio_store *s, const char *org, struct corio_store_stats *o)
{
    struct sq_store *q = SQ(s);
    sqlite3_stmt *p = st(q, S_STATS);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, org);
    int rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        o->devices = sqlite3_column_int64(p, 0);
        o->online = sqlite3_column_int64(p, 1);
        o->missing = sqlite3_column_int64(p, 2);
        o->counts.messages = sqlite3_column_int64(p, 3);
        o->counts.samples = sqlite3_column_int64(p, 4);
        o->counts.duplicates = sqlite3_column_int64(p, 5);
        o->counts.rejected = sqlite3_column_int64(p, 6);
        o->counts.batches = sqlite3_column_int64(p, 7);
    }
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? CORIO_OK : db_fail(q, "stats");
}

/* Deletes one metric's old rows of a tier; a count or CORIO_ERR_IO. */
static int retain_one(struct sq_store *q, enum stmt_id id, const char *device, const char *metric,
                      int64_t before)
{
    sqlite3_stmt *p = st(q, id);
    if (!p)
        return CORIO_ERR_IO;
    bind_text(p, 1, device);
    bind_text(p, 2, metric);
    sqlite3_bind_int64(p, 3, before);
    return run(q, p, "retain");
}

static int sq_retain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms,
                     int64_t *deleted)
{
    struct sq_store *q = SQ(s);
    /* Per (device, metric), so each delete walks the primary key's range instead of the
     * whole table; one transaction per metric keeps the writer's lock short. */
    sqlite3_stmt *m = NULL;
    if (sqlite3_prepare_v2(q->db, stmt_sql[S_RETAIN_METRICS], -1, &m, NULL) != SQLITE_OK)
        return db_fail(q, "prepare");
    struct {
        enum stmt_id id;
        int64_t keep;
    } tiers[] = {
        {S_RETAIN_RAW, r->raw_ms}, {S_RETAIN_1M, r->rollup_1m_ms}, {S_RETAIN_1H, r->rollup_1h_ms}};
    int rc, out = CORIO_OK;
    /* Read the metric list first: deleting while the select is open would hold a read
     * transaction across the writes. */
    char(*pairs)[2][CORIO_METRIC_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(m)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            void *np = realloc(pairs, nc * sizeof *pairs);
            if (!np) {
                out = CORIO_ERR_NOSPACE;
                break;
            }
            pairs = np;
            cap = nc;
        }
        snprintf(pairs[n][0], sizeof pairs[n][0], "%s", col_text(m, 0));
        snprintf(pairs[n][1], sizeof pairs[n][1], "%s", col_text(m, 1));
        n++;
    }
    if (out == CORIO_OK && rc != SQLITE_DONE)
        out = db_fail(q, "retain_metrics");
    sqlite3_finalize(m);
    for (size_t i = 0; out == CORIO_OK && i < n; i++) {
        if ((out = sq_begin(s)) != CORIO_OK)
            break;
        for (size_t t = 0; t < sizeof tiers / sizeof tiers[0]; t++) {
            if (!tiers[t].keep)
                continue;
            int d = retain_one(q, tiers[t].id, pairs[i][0], pairs[i][1], now_ms - tiers[t].keep);
            if (d < 0) {
                out = d;
                break;
            }
            *deleted += d;
        }
        if (out != CORIO_OK)
            sq_rollback(s);
        else
            out = sq_commit(s);
    }
    free(pairs);
    if (out == CORIO_OK && r->messages_ms) {
        enum stmt_id ids[] = {S_RETAIN_MESSAGES, S_RETAIN_BATCHES};
        for (size_t i = 0; out == CORIO_OK && i < 2; i++) {
            sqlite3_stmt *p = st(q, ids[i]);
            if (!p)
                return CORIO_ERR_IO;
            sqlite3_bind_int64(p, 1, now_ms - r->messages_ms);
            int d = run(q, p, "retain_messages");
            if (d < 0)
                out = d;
            else
                *deleted += d;
        }
    }
    return out;
}

static const struct corio_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .ping = sq_ping,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .org_put = sq_org_put,
    .gateway_put = sq_gateway_put,
    .gateway_get = sq_gateway_get,
    .device_put = sq_device_put,
    .device_org = sq_device_org,
    .lock_devices = sq_lock_devices,
    .messages_insert = sq_messages_insert,
    .samples_insert = sq_samples_insert,
    .rollups_merge = sq_rollups_merge,
    .metrics_put = sq_metrics_put,
    .epoch_get = sq_epoch_get,
    .epochs_load = sq_epochs_load,
    .epochs_put = sq_epochs_put,
    .gap_find = sq_gap_find,
    .gap_delete = sq_gap_delete,
    .gap_insert = sq_gap_insert,
    .device_update = sq_device_update,
    .devices_update = sq_devices_update,
    .counts_add = sq_counts_add,
    .batch_record = sq_batch_record,
    .devices = sq_devices,
    .metric_get = sq_metric_get,
    .series = sq_series,
    .gaps = sq_gaps,
    .epochs = sq_epochs,
    .stats = sq_stats,
    .retain = sq_retain,
};

int corio_store_sqlite_schema_version(void)
{
    return (int)NSTEPS;
}

int corio_store_open_sqlite(const char *path, struct corio_store **out, char *err, size_t errlen)
{
    if (!path || !out)
        return CORIO_ERR_INVAL;
    *out = NULL;
    struct sq_store *q = calloc(1, sizeof *q);
    if (!q)
        return CORIO_ERR_NOSPACE;
    q->base.ops = &sqlite_ops;
    int rc = corio_sqlite_open(path, 0, 0, &q->db, err, errlen);
    if (rc == CORIO_OK)
        rc = corio_sqlite_migrate(q->db, schema_steps, NSTEPS, err, errlen);
    if (rc != CORIO_OK) {
        sqlite3_close(q->db);
        free(q);
        return rc;
    }
    *out = &q->base;
    return CORIO_OK;
}
