/*
 * store_pg.c - the PostgreSQL backend of the storage interface (store.h), over libpq.
 *
 * The data model is docs/storage.md's, as in store_sqlite.c, with what a shared server
 * at scale needs:
 *   - batch ingest in a few round trips: message rows are COPYed (binary) into a
 *     session's staging table and moved with INSERT ... ON CONFLICT (mid) DO NOTHING
 *     RETURNING, which says which messages are new (mid is the key; the integer id
 *     that samples reference needs no index); samples of new messages have a
 *     fresh message id, so their keys cannot exist: they are COPYed straight into the
 *     partitioned table, under a savepoint, and only when that meets a duplicate key
 *     (a caller adding the same sample twice) does the staging path with ON CONFLICT
 *     sort it out; rollup and descriptor changes go through staging tables too;
 *   - samples partitioned by day (declarative RANGE partitioning on t_ms), created
 *     ahead of time by corio_store_maintain, with a default partition that catches
 *     anything else; retention drops whole days;
 *   - several writers: corio_store_lock_devices takes the devices' rows FOR UPDATE
 *     (in id order), the counters are spread over shards so that writers do not queue
 *     on one row, and migrations and partition changes take an advisory lock;
 *   - a lost connection is re-established by the next call outside a transaction.
 * The schema version lives in the table schema_version; steps are append-only. The
 * tables updated by every batch (rollups, sequence state, devices, counters) leave room
 * in their pages (fillfactor) so that an update can stay on its page without touching
 * the indexes; the time columns that only retention reads have BRIN indexes, which
 * cost next to nothing to keep as rows arrive roughly in time order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <libpq-fe.h>

#include "corio/error.h"
#include "corio_log.h"
#include "store.h"

#define DAY_MS           86400000LL
#define AHEAD_DAYS       7
#define COUNTER_SHARDS   16
#define ADVISORY_SCHEMA  0x636f72696f01LL /* "corio" 1 */
#define ADVISORY_PARTS   0x636f72696f02LL /* "corio" 2 */
#define MAX_METRICS_LIST 1024

/* ---- schema --------------------------------------------------------------------------- */

/* Steps. Append only: a released step is never edited. */
static const char *const schema_steps[] = {
    /* 1: the data model of docs/storage.md */
    "CREATE TABLE orgs(\n"
    "  id text PRIMARY KEY,\n"
    "  name text NOT NULL DEFAULT '');\n"
    "CREATE TABLE gateways(\n"
    "  id text PRIMARY KEY,\n"
    "  org text NOT NULL,\n"
    "  pubkey bytea,\n"
    "  key_no bigint NOT NULL DEFAULT 0);\n"
    "CREATE TABLE devices(\n"
    "  id text PRIMARY KEY,\n"
    "  org text NOT NULL,\n"
    "  gateway text NOT NULL DEFAULT '',\n"
    "  class text NOT NULL DEFAULT '',\n"
    "  model text NOT NULL DEFAULT '',\n"
    "  hw_rev text NOT NULL DEFAULT '',\n"
    "  \"groups\" text NOT NULL DEFAULT '',\n"
    "  assurance text NOT NULL DEFAULT '',\n"
    "  online boolean NOT NULL DEFAULT false,\n"
    "  presence_ms bigint,\n"
    "  last_seen_ms bigint,\n"
    "  epoch bigint,\n"
    "  epoch_ms bigint,\n"
    "  messages bigint NOT NULL DEFAULT 0) WITH (fillfactor = 70);\n"
    "CREATE INDEX devices_org ON devices(org, id);\n"
    "CREATE TABLE metrics(\n"
    "  device text NOT NULL,\n"
    "  name text NOT NULL,\n"
    "  org text NOT NULL,\n"
    "  unit text NOT NULL DEFAULT '',\n"
    "  type text NOT NULL,\n"
    "  PRIMARY KEY(device, name));\n"
    "CREATE TABLE messages(\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY (CACHE 64),\n"
    "  mid text PRIMARY KEY,\n"
    "  org text NOT NULL,\n"
    "  device text,\n"
    "  epoch bigint,\n"
    "  seq bigint,\n"
    "  gateway text NOT NULL,\n"
    "  gw_epoch bigint NOT NULL,\n"
    "  gw_id bigint NOT NULL,\n"
    "  suffix text NOT NULL,\n"
    "  recv_ms bigint NOT NULL,\n"
    "  stored_ms bigint NOT NULL,\n"
    "  status smallint NOT NULL,\n"
    "  reason text);\n"
    "CREATE INDEX messages_recv ON messages USING brin(recv_ms);\n"
    "CREATE TABLE samples(\n"
    "  device text NOT NULL,\n"
    "  metric text NOT NULL,\n"
    "  t_ms bigint NOT NULL,\n"
    "  msg bigint NOT NULL,\n"
    "  org text NOT NULL,\n"
    "  v_num double precision,\n"
    "  v_str text,\n"
    "  v_bool boolean,\n"
    "  v_data bytea,\n"
    "  PRIMARY KEY(device, metric, t_ms, msg)) PARTITION BY RANGE (t_ms);\n"
    "CREATE TABLE samples_default PARTITION OF samples DEFAULT;\n"
    "CREATE TABLE rollup_1m(\n"
    "  device text NOT NULL,\n"
    "  metric text NOT NULL,\n"
    "  bucket_ms bigint NOT NULL,\n"
    "  org text NOT NULL,\n"
    "  min double precision NOT NULL,\n"
    "  max double precision NOT NULL,\n"
    "  sum double precision NOT NULL,\n"
    "  count bigint NOT NULL,\n"
    "  PRIMARY KEY(device, metric, bucket_ms)) WITH (fillfactor = 70);\n"
    "CREATE INDEX rollup_1m_bucket ON rollup_1m USING brin(bucket_ms);\n"
    "CREATE TABLE rollup_1h(\n"
    "  device text NOT NULL,\n"
    "  metric text NOT NULL,\n"
    "  bucket_ms bigint NOT NULL,\n"
    "  org text NOT NULL,\n"
    "  min double precision NOT NULL,\n"
    "  max double precision NOT NULL,\n"
    "  sum double precision NOT NULL,\n"
    "  count bigint NOT NULL,\n"
    "  PRIMARY KEY(device, metric, bucket_ms)) WITH (fillfactor = 70);\n"
    "CREATE INDEX rollup_1h_bucket ON rollup_1h USING brin(bucket_ms);\n"
    "CREATE TABLE device_epochs(\n"
    "  device text NOT NULL,\n"
    "  epoch bigint NOT NULL,\n"
    "  org text NOT NULL,\n"
    "  max_seq bigint NOT NULL DEFAULT 0,\n"
    "  stored bigint NOT NULL DEFAULT 0,\n"
    "  hb_last bigint,\n"
    "  hb_pending bigint,\n"
    "  hb_drops bigint,\n"
    "  hb_ms bigint,\n"
    "  PRIMARY KEY(device, epoch)) WITH (fillfactor = 70);\n"
    "CREATE TABLE gaps(\n"
    "  device text NOT NULL,\n"
    "  epoch bigint NOT NULL,\n"
    "  from_seq bigint NOT NULL,\n"
    "  org text NOT NULL,\n"
    "  to_seq bigint NOT NULL,\n"
    "  detected_ms bigint NOT NULL,\n"
    "  PRIMARY KEY(device, epoch, from_seq));\n"
    "CREATE TABLE batches(\n"
    "  gateway text NOT NULL,\n"
    "  gw_epoch bigint NOT NULL,\n"
    "  first_id bigint NOT NULL,\n"
    "  org text NOT NULL,\n"
    "  last_id bigint NOT NULL,\n"
    "  received_ms bigint NOT NULL,\n"
    "  deliveries bigint NOT NULL,\n"
    "  n_new bigint NOT NULL,\n"
    "  n_dup bigint NOT NULL,\n"
    "  n_rejected bigint NOT NULL,\n"
    "  PRIMARY KEY(gateway, gw_epoch, first_id));\n"
    "CREATE INDEX batches_received ON batches USING brin(received_ms);\n"
    "CREATE TABLE counters(\n"
    "  org text NOT NULL,\n"
    "  shard smallint NOT NULL,\n"
    "  messages bigint NOT NULL DEFAULT 0,\n"
    "  samples bigint NOT NULL DEFAULT 0,\n"
    "  duplicates bigint NOT NULL DEFAULT 0,\n"
    "  rejected bigint NOT NULL DEFAULT 0,\n"
    "  batches bigint NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY(org, shard)) WITH (fillfactor = 50);\n",
};

#define NSTEPS ((int)(sizeof schema_steps / sizeof schema_steps[0]))

/* The session's staging tables: emptied at every commit, and by each use. */
static const char temp_tables[] =
    "CREATE TEMP TABLE IF NOT EXISTS stage_messages(\n"
    "  ord integer, mid text, org text, device text, epoch bigint, seq bigint,\n"
    "  gateway text, gw_epoch bigint, gw_id bigint, suffix text, recv_ms bigint,\n"
    "  stored_ms bigint, status smallint, reason text) ON COMMIT DELETE ROWS;\n"
    "CREATE TEMP TABLE IF NOT EXISTS stage_samples(\n"
    "  ord integer, device text, metric text, t_ms bigint, msg bigint, org text,\n"
    "  v_num double precision, v_str text, v_bool boolean, v_data bytea)\n"
    "  ON COMMIT DELETE ROWS;\n"
    "CREATE TEMP TABLE IF NOT EXISTS stage_rollups(\n"
    "  tier smallint, device text, metric text, bucket_ms bigint, org text,\n"
    "  min double precision, max double precision, sum double precision, count bigint)\n"
    "  ON COMMIT DELETE ROWS;\n"
    "CREATE TEMP TABLE IF NOT EXISTS stage_metrics(\n"
    "  device text, name text, org text, unit text, type text) ON COMMIT DELETE ROWS;\n"
    "CREATE TEMP TABLE IF NOT EXISTS stage_epochs(\n"
    "  device text, epoch bigint, org text, max_seq bigint, stored bigint, hb_last bigint,\n"
    "  hb_pending bigint, hb_drops bigint, hb_ms bigint) ON COMMIT DELETE ROWS;\n"
    "CREATE TEMP TABLE IF NOT EXISTS stage_devices(\n"
    "  id text, org text, seen_ms bigint, gateway text, has_epoch boolean, epoch bigint,\n"
    "  epoch_ms bigint, delta bigint) ON COMMIT DELETE ROWS;\n";

/* ---- statements ----------------------------------------------------------------------- */

enum stmt_id {
    S_PING,
    S_ORG_PUT,
    S_GW_PUT,
    S_GW_GET,
    S_DEV_PUT,
    S_DEV_ORG,
    S_EPOCH_GET,
    S_GAP_FIND,
    S_GAP_DELETE,
    S_GAP_INSERT,
    S_DEV_UPDATE,
    S_DEV_PRESENCE,
    S_DEVICES,
    S_METRIC_GET,
    S_SERIES_RAW,
    S_SERIES_RAW_STEP,
    S_SERIES_1M,
    S_SERIES_1H,
    S_GAPS,
    S_EPOCHS,
    S_STATS,
    S_COUNT
};

#define MISSING_OF(dev)                                                                            \
    "((SELECT coalesce(sum(g.to_seq - g.from_seq + 1), 0) FROM gaps g WHERE g.device = " dev       \
    ") + (SELECT coalesce(sum(greatest(0, x.hb_last - x.hb_pending - x.max_seq)), 0) "             \
    "FROM device_epochs x WHERE x.device = " dev "))::bigint"

#define ROLLUP_SERIES(table)                                                                       \
    "SELECT b, mn, mx, sm, n FROM (SELECT (bucket_ms / $6::bigint) * $6::bigint AS b, "            \
    "min(min) AS mn, max(max) AS mx, sum(sum) AS sm, sum(count)::bigint AS n FROM " table          \
    " WHERE device = $1 AND metric = $2 AND org = $3 AND bucket_ms >= $4::bigint "                 \
    "AND bucket_ms < $5::bigint GROUP BY b ORDER BY b DESC LIMIT $7::bigint) x ORDER BY b"

static const char *const stmt_sql[S_COUNT] = {
    [S_PING] = "SELECT 1",
    [S_ORG_PUT] = "INSERT INTO orgs(id, name) VALUES($1, $2) "
                  "ON CONFLICT(id) DO UPDATE SET name = excluded.name",
    [S_GW_PUT] = "INSERT INTO gateways(id, org, pubkey, key_no) VALUES($1, $2, $3, $4::bigint) "
                 "ON CONFLICT(id) DO UPDATE SET org = excluded.org, pubkey = excluded.pubkey, "
                 "key_no = excluded.key_no",
    [S_GW_GET] = "SELECT org, pubkey, key_no FROM gateways WHERE id = $1",
    [S_DEV_PUT] = "INSERT INTO devices AS d(id, org, gateway, class, model, hw_rev, \"groups\", "
                  "assurance) VALUES($1, $2, $3, $4, $5, $6, $7, $8) "
                  "ON CONFLICT(id) DO UPDATE SET org = excluded.org, "
                  "gateway = CASE WHEN excluded.gateway <> '' THEN excluded.gateway "
                  "ELSE d.gateway END, class = excluded.class, model = excluded.model, "
                  "hw_rev = excluded.hw_rev, \"groups\" = excluded.\"groups\", "
                  "assurance = excluded.assurance",
    [S_DEV_ORG] = "SELECT org FROM devices WHERE id = $1",
    [S_EPOCH_GET] = "SELECT max_seq, stored, hb_last, hb_pending, hb_drops, hb_ms "
                    "FROM device_epochs WHERE device = $1 AND epoch = $2::bigint",
    [S_GAP_FIND] = "SELECT from_seq, to_seq, detected_ms FROM gaps "
                   "WHERE device = $1 AND epoch = $2::bigint AND from_seq <= $3::bigint "
                   "ORDER BY from_seq DESC LIMIT 1",
    [S_GAP_DELETE] =
        "DELETE FROM gaps WHERE device = $1 AND epoch = $2::bigint AND from_seq = $3::bigint",
    [S_GAP_INSERT] = "INSERT INTO gaps(device, epoch, from_seq, org, to_seq, detected_ms) "
                     "VALUES($1, $2::bigint, $3::bigint, $4, $5::bigint, $6::bigint)",
    [S_DEV_UPDATE] =
        "UPDATE devices SET "
        "last_seen_ms = CASE WHEN $3::bigint > 0 AND (last_seen_ms IS NULL OR "
        "$3::bigint > last_seen_ms) THEN $3::bigint ELSE last_seen_ms END, "
        "gateway = coalesce($4::text, gateway), "
        "epoch = CASE WHEN $5::boolean AND (epoch_ms IS NULL OR $7::bigint >= epoch_ms) "
        "THEN $6::bigint ELSE epoch END, "
        "epoch_ms = CASE WHEN $5::boolean AND (epoch_ms IS NULL OR $7::bigint >= epoch_ms) "
        "THEN $7::bigint ELSE epoch_ms END, "
        "messages = messages + $8::bigint "
        "WHERE id = $1 AND org = $2",
    [S_DEV_PRESENCE] = "UPDATE devices SET online = $3::boolean, presence_ms = $4::bigint "
                       "WHERE id = $1 AND org = $2 AND (presence_ms IS NULL OR "
                       "presence_ms <= $4::bigint)",
    [S_DEVICES] =
        "SELECT d.id, d.org, d.gateway, d.class, d.model, d.hw_rev, d.\"groups\", "
        "d.assurance, d.online, d.last_seen_ms, d.epoch, e.max_seq, d.messages, " MISSING_OF(
            "d.id") ", "
                    "(SELECT string_agg(name, ',' ORDER BY name) FROM (SELECT name "
                    "FROM metrics m WHERE m.device = d.id AND m.org = d.org "
                    "ORDER BY name LIMIT 1024) mm) "
                    "FROM devices d LEFT JOIN device_epochs e "
                    "ON e.device = d.id AND e.epoch = d.epoch "
                    "WHERE d.org = $1 AND ($2::text IS NULL OR d.id = $2::text) "
                    "ORDER BY d.id",
    [S_METRIC_GET] = "SELECT unit, type FROM metrics WHERE device = $1 AND name = $2 AND org = $3",
    [S_SERIES_RAW] = "SELECT t_ms, v_num, v_str, v_bool, v_data FROM ("
                     "SELECT t_ms, msg, v_num, v_str, v_bool, v_data FROM samples "
                     "WHERE device = $1 AND metric = $2 AND org = $3 AND t_ms >= $4::bigint "
                     "AND t_ms < $5::bigint ORDER BY t_ms DESC, msg DESC LIMIT $6::bigint) x "
                     "ORDER BY t_ms, msg",
    [S_SERIES_RAW_STEP] = "SELECT b, mn, mx, sm, n FROM ("
                          "SELECT (t_ms / $6::bigint) * $6::bigint AS b, min(v_num) AS mn, "
                          "max(v_num) AS mx, sum(v_num) AS sm, count(v_num) AS n FROM samples "
                          "WHERE device = $1 AND metric = $2 AND org = $3 AND t_ms >= $4::bigint "
                          "AND t_ms < $5::bigint AND v_num IS NOT NULL "
                          "GROUP BY b ORDER BY b DESC LIMIT $7::bigint) x ORDER BY b",
    [S_SERIES_1M] = ROLLUP_SERIES("rollup_1m"),
    [S_SERIES_1H] = ROLLUP_SERIES("rollup_1h"),
    [S_GAPS] = "SELECT epoch, from_seq, to_seq, detected_ms FROM gaps "
               "WHERE device = $1 AND org = $2 ORDER BY epoch, from_seq",
    [S_EPOCHS] = "SELECT epoch, max_seq, stored, hb_last, hb_pending, hb_drops, hb_ms "
                 "FROM device_epochs WHERE device = $1 AND org = $2 ORDER BY epoch",
    [S_STATS] = "SELECT (SELECT count(*) FROM devices WHERE org = $1), "
                "(SELECT count(*) FROM devices WHERE org = $1 AND online), "
                "((SELECT coalesce(sum(to_seq - from_seq + 1), 0) FROM gaps WHERE org = $1) + "
                "(SELECT coalesce(sum(greatest(0, hb_last - hb_pending - max_seq)), 0) "
                "FROM device_epochs WHERE org = $1))::bigint, "
                "coalesce(sum(messages), 0)::bigint, coalesce(sum(samples), 0)::bigint, "
                "coalesce(sum(duplicates), 0)::bigint, coalesce(sum(rejected), 0)::bigint, "
                "coalesce(sum(batches), 0)::bigint FROM counters WHERE org = $1",
};

/* The COPYs of the many-row primitives, each followed by what moves the rows on; one
 * round trip each. Message ids come from a sequence that each session takes 64 at a
 * time (ids grow within a session, not across them: they are references, not order). */
static const char sql_messages[] =
    "COPY stage_messages(ord, mid, org, device, epoch, seq, gateway, gw_epoch, gw_id, suffix, "
    "recv_ms, stored_ms, status, reason) FROM STDIN (FORMAT binary);\n"
    "INSERT INTO messages(mid, org, device, epoch, seq, gateway, gw_epoch, gw_id, suffix, "
    "recv_ms, stored_ms, status, reason) SELECT mid, org, device, epoch, seq, gateway, "
    "gw_epoch, gw_id, suffix, recv_ms, stored_ms, status, reason FROM stage_messages "
    "ORDER BY ord ON CONFLICT(mid) DO NOTHING RETURNING id, mid";

static const char sql_samples_direct[] =
    "SAVEPOINT corio_samples;\n"
    "COPY samples(device, metric, t_ms, msg, org, v_num, v_str, v_bool, v_data) "
    "FROM STDIN (FORMAT binary);\n"
    "RELEASE SAVEPOINT corio_samples";

static const char sql_samples_staged[] =
    "COPY stage_samples(ord, device, metric, t_ms, msg, org, v_num, v_str, v_bool, v_data) "
    "FROM STDIN (FORMAT binary);\n"
    "WITH ins AS (INSERT INTO samples(device, metric, t_ms, msg, org, v_num, v_str, v_bool, "
    "v_data) SELECT device, metric, t_ms, msg, org, v_num, v_str, v_bool, v_data "
    "FROM stage_samples ORDER BY ord ON CONFLICT DO NOTHING "
    "RETURNING device, metric, t_ms, msg) "
    "SELECT s.ord FROM ins JOIN stage_samples s USING (device, metric, t_ms, msg)";

#define ROLLUP_MERGE(table, tier)                                                                  \
    "INSERT INTO " table " AS r(device, metric, bucket_ms, org, min, max, sum, count) "            \
    "SELECT device, metric, bucket_ms, org, min, max, sum, count FROM stage_rollups "              \
    "WHERE tier = " tier " ON CONFLICT(device, metric, bucket_ms) DO UPDATE SET "                  \
    "min = least(r.min, excluded.min), max = greatest(r.max, excluded.max), "                      \
    "sum = r.sum + excluded.sum, count = r.count + excluded.count;\n"

static const char sql_rollups[] =
    "COPY stage_rollups(tier, device, metric, bucket_ms, org, min, max, sum, count) "
    "FROM STDIN (FORMAT binary);\n" ROLLUP_MERGE("rollup_1m", "1") ROLLUP_MERGE("rollup_1h", "2");

/* Descriptors that already say so are left out first (a join, not a conflict per row:
 * most batches change no descriptor). */
static const char sql_metrics[] =
    "COPY stage_metrics(device, name, org, unit, type) FROM STDIN (FORMAT binary);\n"
    "INSERT INTO metrics AS m(device, name, org, unit, type) "
    "SELECT s.device, s.name, s.org, s.unit, s.type FROM stage_metrics s "
    "WHERE NOT EXISTS (SELECT 1 FROM metrics x WHERE x.device = s.device AND x.name = s.name "
    "AND x.type = s.type AND (s.unit = '' OR x.unit = s.unit)) "
    "ON CONFLICT(device, name) DO UPDATE SET "
    "unit = CASE WHEN excluded.unit <> '' THEN excluded.unit ELSE m.unit END, "
    "type = excluded.type "
    "WHERE (excluded.unit <> '' AND excluded.unit <> m.unit) OR excluded.type <> m.type";

static const char sql_epochs[] =
    "COPY stage_epochs(device, epoch, org, max_seq, stored, hb_last, hb_pending, hb_drops, "
    "hb_ms) FROM STDIN (FORMAT binary);\n"
    "INSERT INTO device_epochs(device, epoch, org, max_seq, stored, hb_last, hb_pending, "
    "hb_drops, hb_ms) SELECT device, epoch, org, max_seq, stored, hb_last, hb_pending, hb_drops, "
    "hb_ms FROM stage_epochs ON CONFLICT(device, epoch) DO UPDATE SET "
    "max_seq = excluded.max_seq, stored = excluded.stored, hb_last = excluded.hb_last, "
    "hb_pending = excluded.hb_pending, hb_drops = excluded.hb_drops, hb_ms = excluded.hb_ms";

static const char sql_devices[] =
    "COPY stage_devices(id, org, seen_ms, gateway, has_epoch, epoch, epoch_ms, delta) "
    "FROM STDIN (FORMAT binary);\n"
    "UPDATE devices d SET "
    "last_seen_ms = CASE WHEN s.seen_ms > 0 AND (d.last_seen_ms IS NULL OR "
    "s.seen_ms > d.last_seen_ms) THEN s.seen_ms ELSE d.last_seen_ms END, "
    "gateway = coalesce(s.gateway, d.gateway), "
    "epoch = CASE WHEN s.has_epoch AND (d.epoch_ms IS NULL OR s.epoch_ms >= d.epoch_ms) "
    "THEN s.epoch ELSE d.epoch END, "
    "epoch_ms = CASE WHEN s.has_epoch AND (d.epoch_ms IS NULL OR s.epoch_ms >= d.epoch_ms) "
    "THEN s.epoch_ms ELSE d.epoch_ms END, "
    "messages = d.messages + s.delta "
    "FROM stage_devices s WHERE d.id = s.id AND d.org = s.org";

/* ---- the handle ------------------------------------------------------------------------ */

/* A binary COPY stream being built (PostgreSQL's "PGCOPY" format). */
struct cbuf {
    uint8_t *d;
    size_t n, cap;
    bool oom;
};

/* The staging tables; each is emptied at commit (ON COMMIT DELETE ROWS), and before a
 * second use in one transaction. */
enum stage {
    ST_MESSAGES,
    ST_SAMPLES,
    ST_ROLLUPS,
    ST_METRICS,
    ST_EPOCHS,
    ST_DEVICES,
    ST_NONE,
};

static const char *const stage_table[] = {"stage_messages", "stage_samples", "stage_rollups",
                                          "stage_metrics",  "stage_epochs",  "stage_devices"};

/* Statements whose answer nobody waits for (BEGIN, row locks, the writes of rollups,
 * descriptors, sequence states, devices, counters), queued and sent with the next
 * statement that needs an answer, or with COMMIT: a batch's transaction takes five
 * round trips instead of a dozen. A queued statement that fails makes that next one
 * fail, and the transaction with it. */
#define PEND_MAX 8

struct pending {
    struct cbuf sql;            /* statements, each ending ";\n" */
    struct cbuf data[PEND_MAX]; /* the payloads of the COPYs among them, in order */
    int ndata;
};

struct pg_store {
    struct corio_store base;
    PGconn *conn;
    bool prepared[S_COUNT];
    bool temp_ready; /* the staging tables exist in this session */
    unsigned staged; /* bit per enum stage: used in the open transaction */
    bool tx;         /* a transaction is open (its BEGIN may still be queued) */
    bool tx_fresh;   /* nothing of it reached the server yet: safe to send again */
    int shard;
    char sqlstate[6]; /* of the last failure */
    struct cbuf cb;
    struct pending pend;
};

static struct pg_store *PG(struct corio_store *s)
{
    return (struct pg_store *)s;
}

/* ---- errors and connection ------------------------------------------------------------- */

/* Logs a failure with the server's words, without libpq's trailing newline. */
static int db_fail(struct pg_store *q, const char *what, const char *msg)
{
    char m[512];
    snprintf(m, sizeof m, "%s", msg && *msg ? msg : PQerrorMessage(q->conn));
    size_t l = strlen(m);
    while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
        m[--l] = 0;
    for (char *p = m; *p; p++)
        if (*p == '\n')
            *p = ' ';
    corio_logkv(CORIO_LOG_ERROR, "database failed", "op=%s error=%s", what, m);
    return CORIO_ERR_IO;
}

static int result_fail(struct pg_store *q, PGresult *r, const char *what)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(q->sqlstate, sizeof q->sqlstate, "%s", st ? st : "");
    int rc = db_fail(q, what, r ? PQresultErrorMessage(r) : NULL);
    PQclear(r);
    return rc;
}

/* Runs SQL text without parameters (several statements allowed); CORIO_OK or IO. */
static int exec_simple(struct pg_store *q, const char *sql, const char *what)
{
    PGresult *r = PQexec(q->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return result_fail(q, r, what);
    PQclear(r);
    return CORIO_OK;
}

static bool server_in_tx(struct pg_store *q)
{
    PGTransactionStatusType t = PQtransactionStatus(q->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* Outside a transaction: a broken connection is re-established, and the session's
 * prepared statements and staging tables are made again. */
static int pend_send(struct pg_store *q, const char *extra, PGresult **rows, char *status,
                     size_t statuslen, const char *what);

static int ensure(struct pg_store *q)
{
    if (PQstatus(q->conn) != CONNECTION_OK) {
        PQreset(q->conn);
        memset(q->prepared, 0, sizeof q->prepared);
        q->temp_ready = false;
        if (PQstatus(q->conn) != CONNECTION_OK)
            return db_fail(q, "connect", NULL);
        corio_log(CORIO_LOG_INFO, "database connection re-established");
    }
    if (!q->temp_ready && !server_in_tx(q)) {
        /* Quietly: a session has them or gets them. */
        int rc = exec_simple(q, "SET client_min_messages = warning", "session");
        if (rc == CORIO_OK)
            rc = exec_simple(q, temp_tables, "staging tables");
        if (rc != CORIO_OK)
            return rc;
        q->temp_ready = true;
    }
    return CORIO_OK;
}

/* ---- parameters and prepared statements -------------------------------------------------- */

#define MAXP 12

struct pp {
    int n;
    const char *val[MAXP];
    int len[MAXP];
    int fmt[MAXP];
    char num[MAXP][32];
};

static void p_text(struct pp *p, const char *s)
{
    p->val[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_int(struct pp *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%" PRId64, v);
    p_text(p, p->num[p->n]);
}

static void p_bool(struct pp *p, bool b)
{
    p_text(p, b ? "t" : "f");
}

static void p_bin(struct pp *p, const void *d, size_t len)
{
    p->val[p->n] = d;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->n++;
}

/* Runs a prepared statement once: its result, or NULL after logging. */
static PGresult *run_once(struct pg_store *q, enum stmt_id id, const struct pp *p, const char *what)
{
    char name[16];
    snprintf(name, sizeof name, "corio_%d", (int)id);
    if (!q->prepared[id]) {
        PGresult *r = PQprepare(q->conn, name, stmt_sql[id], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            result_fail(q, r, what);
            return NULL;
        }
        PQclear(r);
        q->prepared[id] = true;
    }
    PGresult *r = PQexecPrepared(q->conn, name, p ? p->n : 0, p ? p->val : NULL, p ? p->len : NULL,
                                 p ? p->fmt : NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        result_fail(q, r, what);
        return NULL;
    }
    return r;
}

/* Runs a prepared statement: its result (PGRES_COMMAND_OK or TUPLES_OK; the caller
 * clears it), or NULL after logging. Outside a transaction, a connection found broken
 * (the server restarted since the last call) is re-established and the statement run
 * once more: nothing of it can have happened. */
static PGresult *run(struct pg_store *q, enum stmt_id id, const struct pp *p, const char *what)
{
    if (q->pend.sql.n && pend_send(q, NULL, NULL, NULL, 0, what) != CORIO_OK)
        return NULL;
    bool was_idle = !q->tx;
    PGresult *r = run_once(q, id, p, what);
    if (!r && was_idle && PQstatus(q->conn) == CONNECTION_BAD && ensure(q) == CORIO_OK)
        r = run_once(q, id, p, what);
    return r;
}

/* A statement that returns no rows: the number of rows changed, or CORIO_ERR_IO. */
static int run_cmd(struct pg_store *q, enum stmt_id id, const struct pp *p, const char *what)
{
    PGresult *r = run(q, id, p, what);
    if (!r)
        return CORIO_ERR_IO;
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n;
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static double get_f64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

static const char *get_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

static bool get_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* ---- binary COPY ------------------------------------------------------------------------ */

static void cb_need(struct cbuf *b, size_t k)
{
    if (b->oom || b->n + k <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + k)
        cap *= 2;
    void *p = realloc(b->d, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->d = p;
    b->cap = cap;
}

static void cb_raw(struct cbuf *b, const void *d, size_t len)
{
    cb_need(b, len);
    if (b->oom)
        return;
    if (len)
        memcpy(b->d + b->n, d, len);
    b->n += len;
}

static void cb_u16(struct cbuf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    cb_raw(b, x, 2);
}

static void cb_u32(struct cbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    cb_raw(b, x, 4);
}

static void cb_u64(struct cbuf *b, uint64_t v)
{
    cb_u32(b, (uint32_t)(v >> 32));
    cb_u32(b, (uint32_t)v);
}

static void cb_start(struct cbuf *b)
{
    static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    b->n = 0;
    b->oom = false;
    cb_raw(b, sig, sizeof sig);
    cb_u32(b, 0); /* flags */
    cb_u32(b, 0); /* header extension */
}

static void cb_end(struct cbuf *b)
{
    cb_u16(b, 0xffff);
}

static void cb_tuple(struct cbuf *b, uint16_t nfields)
{
    cb_u16(b, nfields);
}

static void cb_null(struct cbuf *b)
{
    cb_u32(b, 0xffffffffu);
}

static void cb_bytes(struct cbuf *b, const void *d, size_t len)
{
    cb_u32(b, (uint32_t)len);
    cb_raw(b, d, len);
}

static void cb_str(struct cbuf *b, const char *s)
{
    if (s)
        cb_bytes(b, s, strlen(s));
    else
        cb_null(b);
}

static void cb_i64(struct cbuf *b, int64_t v)
{
    cb_u32(b, 8);
    cb_u64(b, (uint64_t)v);
}

static void cb_i32(struct cbuf *b, int32_t v)
{
    cb_u32(b, 4);
    cb_u32(b, (uint32_t)v);
}

static void cb_i16(struct cbuf *b, int16_t v)
{
    cb_u32(b, 2);
    cb_u16(b, (uint16_t)v);
}

static void cb_f64(struct cbuf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    cb_i64(b, (int64_t)v);
}

static void cb_bool(struct cbuf *b, bool v)
{
    uint8_t x = v ? 1 : 0;
    cb_bytes(b, &x, 1);
}

static void sql_add(struct cbuf *b, const char *text)
{
    cb_raw(b, text, strlen(text));
}

static void pend_clear(struct pg_store *q)
{
    q->pend.sql.n = 0;
    q->pend.sql.oom = false;
    q->pend.ndata = 0;
}

/*
 * Queues sql (several statements allowed), preceded by emptying the staging table stage
 * when this transaction used it already. When data is not NULL, sql's first statement is
 * a COPY ... FROM STDIN that reads it; the queue takes the buffer (data is left empty).
 */
static int pend_add(struct pg_store *q, enum stage stage, const char *sql, struct cbuf *data)
{
    if (data && data->oom)
        return CORIO_ERR_NOSPACE;
    int rc;
    if (data && q->pend.ndata == PEND_MAX &&
        (rc = pend_send(q, NULL, NULL, NULL, 0, "queued")) != CORIO_OK)
        return rc;
    struct cbuf *t = &q->pend.sql;
    if (stage != ST_NONE) {
        if (q->staged & (1u << stage)) {
            sql_add(t, "DELETE FROM ");
            sql_add(t, stage_table[stage]);
            sql_add(t, ";\n");
        }
        q->staged |= 1u << stage;
    }
    sql_add(t, sql);
    sql_add(t, ";\n");
    if (t->oom)
        return CORIO_ERR_NOSPACE;
    if (data) {
        struct cbuf spare = q->pend.data[q->pend.ndata];
        q->pend.data[q->pend.ndata++] = *data;
        *data = spare;
        data->n = 0;
        data->oom = false;
    }
    return CORIO_OK;
}

/* One sending of text; see pend_send. */
static int send_once(struct pg_store *q, const char *text, PGresult **rows, char *status,
                     size_t statuslen, const char *what)
{
    if (!PQsendQuery(q->conn, text))
        return db_fail(q, what, NULL);
    int rc = CORIO_OK, next = 0;
    PGresult *r;
    while ((r = PQgetResult(q->conn))) {
        switch (PQresultStatus(r)) {
        case PGRES_COPY_IN:
            if (next < q->pend.ndata) {
                struct cbuf *b = &q->pend.data[next++];
                if ((PQputCopyData(q->conn, (const char *)b->d, (int)b->n) != 1 ||
                     PQputCopyEnd(q->conn, NULL) != 1) &&
                    rc == CORIO_OK)
                    rc = db_fail(q, what, NULL);
            } else {
                PQputCopyEnd(q->conn, "no data queued for this COPY");
            }
            break;
        case PGRES_COMMAND_OK:
            if (status)
                snprintf(status, statuslen, "%s", PQcmdStatus(r));
            break;
        case PGRES_TUPLES_OK:
            if (rows) {
                PQclear(*rows);
                *rows = r;
                r = NULL;
            }
            break;
        default:
            if (rc == CORIO_OK) {
                const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                snprintf(q->sqlstate, sizeof q->sqlstate, "%s", st ? st : "");
                /* A unique violation is the caller's to handle: no error log for it. */
                if (strcmp(q->sqlstate, "23505") != 0)
                    db_fail(q, what, PQresultErrorMessage(r));
                rc = CORIO_ERR_IO;
            }
            break;
        }
        PQclear(r);
        if (PQstatus(q->conn) == CONNECTION_BAD && rc == CORIO_OK)
            rc = db_fail(q, what, NULL);
    }
    if (rc != CORIO_OK && rows && *rows) {
        PQclear(*rows);
        *rows = NULL;
    }
    return rc;
}

/*
 * Sends what is queued followed by extra (NULL: nothing), feeding each COPY its payload,
 * and reads every result: *rows (when rows is not NULL; the caller clears it) gets the
 * last rows result, status the command tag of the last statement that returned none.
 * When a transaction's first sending meets a connection that broke since the last
 * call (the server restarted), the connection is made again and the same text sent
 * again: nothing of it had happened. Returns CORIO_OK, CORIO_ERR_IO (q->sqlstate says
 * why) or CORIO_ERR_NOSPACE; the queue is empty afterwards either way.
 */
static int pend_send(struct pg_store *q, const char *extra, PGresult **rows, char *status,
                     size_t statuslen, const char *what)
{
    q->sqlstate[0] = 0;
    if (rows)
        *rows = NULL;
    if (status && statuslen)
        status[0] = 0;
    struct cbuf *t = &q->pend.sql;
    if (extra)
        sql_add(t, extra);
    if (t->n == 0)
        return CORIO_OK;
    cb_raw(t, "", 1);
    int rc = CORIO_ERR_NOSPACE;
    if (!t->oom) {
        rc = send_once(q, (const char *)t->d, rows, status, statuslen, what);
        if (rc != CORIO_OK && q->tx_fresh && PQstatus(q->conn) == CONNECTION_BAD &&
            ensure(q) == CORIO_OK)
            rc = send_once(q, (const char *)t->d, rows, status, statuslen, what);
    }
    if (rc == CORIO_OK)
        q->tx_fresh = false;
    pend_clear(q);
    return rc;
}

/* Queues sql (a COPY reading b, then what moves the rows on) and sends it with whatever
 * was queued before; *rows as pend_send says. */
static int copy_run(struct pg_store *q, enum stage stage, const char *sql, struct cbuf *b,
                    PGresult **rows, const char *what)
{
    int rc = pend_add(q, stage, sql, b);
    if (rc != CORIO_OK) {
        if (rows)
            *rows = NULL;
        return rc;
    }
    return pend_send(q, NULL, rows, NULL, 0, what);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void pg_close(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    if (q->conn) {
        if (PQstatus(q->conn) == CONNECTION_OK && server_in_tx(q))
            exec_simple(q, "ROLLBACK", "rollback");
        PQfinish(q->conn);
    }
    free(q->cb.d);
    free(q->pend.sql.d);
    for (int i = 0; i < PEND_MAX; i++)
        free(q->pend.data[i].d);
    free(q);
}

static int pg_ping(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    if (!q->tx && ensure(q) != CORIO_OK)
        return CORIO_ERR_IO;
    PGresult *r = run(q, S_PING, NULL, "ping");
    if (!r)
        return CORIO_ERR_IO;
    PQclear(r);
    return CORIO_OK;
}

static int pg_begin(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    if (q->tx)
        return CORIO_ERR_STATE;
    pend_clear(q);
    int rc = ensure(q);
    if (rc != CORIO_OK)
        return rc;
    q->staged = 0;
    q->tx = q->tx_fresh = true;
    return pend_add(q, ST_NONE, "BEGIN", NULL);
}

static int pg_commit(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    if (!q->tx)
        return CORIO_ERR_STATE;
    q->tx = false;
    q->staged = 0;
    char status[32];
    int rc = pend_send(q, "COMMIT", NULL, status, sizeof status, "commit");
    if (rc != CORIO_OK)
        return rc;
    /* A COMMIT of a failed transaction answers ROLLBACK. */
    return strcmp(status, "COMMIT") == 0 ? CORIO_OK : db_fail(q, "commit", "rolled back");
}

static int pg_rollback(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    pend_clear(q);
    q->tx = false;
    q->staged = 0;
    if (PQstatus(q->conn) != CONNECTION_OK || !server_in_tx(q))
        return CORIO_OK; /* nothing reached the server, or it has rolled back already */
    return exec_simple(q, "ROLLBACK", "rollback");
}

/* Registry and query calls may come outside a transaction: reconnect first then. */
static int ready(struct pg_store *q)
{
    return q->tx ? CORIO_OK : ensure(q);
}

/* ---- registry ------------------------------------------------------------------------- */

static int pg_org_put(struct corio_store *s, const char *id, const char *name)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, id);
    p_text(&p, name);
    int rc = run_cmd(q, S_ORG_PUT, &p, "org_put");
    return rc < 0 ? rc : CORIO_OK;
}

static int pg_gateway_put(struct corio_store *s, const struct corio_gateway_rec *g)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, g->id);
    p_text(&p, g->org);
    if (g->pubkey_len)
        p_bin(&p, g->pubkey, g->pubkey_len);
    else
        p_text(&p, NULL);
    p_int(&p, g->key_no);
    int rc = run_cmd(q, S_GW_PUT, &p, "gateway_put");
    return rc < 0 ? rc : CORIO_OK;
}

/* Decodes bytea's hex output ("\x0102...") into out; the length, or -1. */
static long bytea_hex(const char *s, uint8_t *out, size_t cap)
{
    if (s[0] != '\\' || s[1] != 'x')
        return -1;
    s += 2;
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (long)(n / 2);
}

static int pg_gateway_get(struct corio_store *s, const char *id, struct corio_gateway_rec *g)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, id);
    PGresult *r = run(q, S_GW_GET, &p, "gateway_get");
    if (!r)
        return CORIO_ERR_IO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return CORIO_ERR_NOTFOUND;
    }
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "%s", id);
    snprintf(g->org, sizeof g->org, "%s", get_text(r, 0, 0));
    if (!PQgetisnull(r, 0, 1) &&
        bytea_hex(PQgetvalue(r, 0, 1), g->pubkey, sizeof g->pubkey) == (long)sizeof g->pubkey)
        g->pubkey_len = sizeof g->pubkey;
    g->key_no = get_i64(r, 0, 2);
    PQclear(r);
    return CORIO_OK;
}

static int pg_device_put(struct corio_store *s, const struct corio_device_rec *d)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, d->id);
    p_text(&p, d->org);
    p_text(&p, d->gateway ? d->gateway : "");
    p_text(&p, d->cls ? d->cls : "");
    p_text(&p, d->model ? d->model : "");
    p_text(&p, d->hw_rev ? d->hw_rev : "");
    p_text(&p, d->groups ? d->groups : "");
    p_text(&p, d->assurance ? d->assurance : "");
    int rc = run_cmd(q, S_DEV_PUT, &p, "device_put");
    return rc < 0 ? rc : CORIO_OK;
}

static int pg_device_org(struct corio_store *s, const char *id, char org[CORIO_ID_LEN + 1])
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, id);
    PGresult *r = run(q, S_DEV_ORG, &p, "device_org");
    if (!r)
        return CORIO_ERR_IO;
    int rc = PQntuples(r) ? CORIO_OK : CORIO_ERR_NOTFOUND;
    if (rc == CORIO_OK)
        snprintf(org, CORIO_ID_LEN + 1, "%s", get_text(r, 0, 0));
    PQclear(r);
    return rc;
}

/* ---- ingest primitives ------------------------------------------------------------------ */

/* A text[] literal of short ids (which need no quoting); malloc'd, or NULL. */
static char *id_array(const char *const *ids, size_t n)
{
    char *arr = malloc(n * (CORIO_ID_LEN + 1) + 3);
    if (!arr)
        return NULL;
    size_t k = 0;
    arr[k++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            arr[k++] = ',';
        memcpy(arr + k, ids[i], CORIO_ID_LEN);
        k += CORIO_ID_LEN;
    }
    arr[k++] = '}';
    arr[k] = 0;
    return arr;
}

static int pg_lock_devices(struct corio_store *s, const char *const *ids, size_t n)
{
    struct pg_store *q = PG(s);
    char *arr = id_array(ids, n);
    char *sql = arr ? malloc(strlen(arr) + 96) : NULL;
    int rc = CORIO_ERR_NOSPACE;
    if (sql) {
        /* Locked by the time the next statement (reading their state) runs. */
        sprintf(sql, "SELECT id FROM devices WHERE id = ANY('%s'::text[]) ORDER BY id FOR UPDATE",
                arr);
        rc = pend_add(q, ST_NONE, sql, NULL);
    }
    free(sql);
    free(arr);
    return rc;
}

static int pg_messages_insert(struct corio_store *s, const struct corio_msg_row *rows,
                              const char *const *mids, size_t n, int64_t *ref, uint8_t *is_new)
{
    struct pg_store *q = PG(s);
    struct cbuf *b = &q->cb;
    cb_start(b);
    for (size_t i = 0; i < n; i++) {
        const struct corio_msg_row *m = &rows[i];
        cb_tuple(b, 14);
        cb_i32(b, (int32_t)i);
        cb_str(b, mids[i]);
        cb_str(b, m->org);
        cb_str(b, m->device);
        if (m->has_seq) {
            cb_i64(b, m->epoch);
            cb_i64(b, m->seq);
        } else {
            cb_null(b);
            cb_null(b);
        }
        cb_str(b, m->gateway);
        cb_i64(b, m->gw_epoch);
        cb_i64(b, m->gw_id);
        cb_str(b, m->suffix);
        cb_i64(b, m->recv_ms);
        cb_i64(b, m->stored_ms);
        cb_i16(b, (int16_t)m->status);
        if (m->reason)
            cb_bytes(b, m->reason, m->reason_len);
        else
            cb_null(b);
        is_new[i] = 0;
        ref[i] = 0;
    }
    cb_end(b);
    PGresult *r;
    int rc = copy_run(q, ST_MESSAGES, sql_messages, b, &r, "messages_insert");
    if (rc != CORIO_OK)
        return rc;
    /* The new rows come back in the order they were inserted, which is ours: walk both
     * lists together (and search from the start should that ever not hold). */
    size_t at = 0;
    for (int i = 0; r && i < PQntuples(r); i++) {
        const char *mid = get_text(r, i, 1);
        size_t k = at;
        while (k < n && strcmp(mids[k], mid) != 0)
            k++;
        if (k == n)
            for (k = 0; k < n && strcmp(mids[k], mid) != 0; k++) {
            }
        if (k == n)
            continue;
        is_new[k] = 1;
        ref[k] = get_i64(r, i, 0);
        at = k + 1;
    }
    PQclear(r);
    return CORIO_OK;
}

static void cb_sample(struct cbuf *b, const struct corio_sample_row *r, int32_t ord, bool with_ord)
{
    cb_tuple(b, with_ord ? 10 : 9);
    if (with_ord)
        cb_i32(b, ord);
    cb_str(b, r->device);
    cb_str(b, r->metric);
    cb_i64(b, r->t_ms);
    cb_i64(b, r->msg);
    cb_str(b, r->org);
    const struct corio_value *v = &r->value;
    if (v->kind == CORIO_VALUE_NUM)
        cb_f64(b, v->num);
    else
        cb_null(b);
    if (v->kind == CORIO_VALUE_STR)
        cb_bytes(b, v->str, v->len);
    else
        cb_null(b);
    if (v->kind == CORIO_VALUE_BOOL)
        cb_bool(b, v->b);
    else
        cb_null(b);
    if (v->kind == CORIO_VALUE_DATA)
        cb_bytes(b, v->data, v->len);
    else
        cb_null(b);
}

static int pg_samples_insert(struct corio_store *s, const struct corio_sample_row *rows, size_t n,
                             uint8_t *inserted)
{
    struct pg_store *q = PG(s);
    struct cbuf *b = &q->cb;
    cb_start(b);
    for (size_t i = 0; i < n; i++)
        cb_sample(b, &rows[i], 0, false);
    cb_end(b);
    int rc = copy_run(q, ST_NONE, sql_samples_direct, b, NULL, "samples_insert");
    if (rc == CORIO_OK) {
        memset(inserted, 1, n);
        return CORIO_OK;
    }
    if (strcmp(q->sqlstate, "23505") != 0)
        return rc;
    /* A key that exists: undo the COPY and let ON CONFLICT pick the new rows. */
    if ((rc = exec_simple(q, "ROLLBACK TO SAVEPOINT corio_samples; RELEASE SAVEPOINT corio_samples",
                          "samples_insert")) != CORIO_OK)
        return rc;
    cb_start(b);
    for (size_t i = 0; i < n; i++)
        cb_sample(b, &rows[i], (int32_t)i, true);
    cb_end(b);
    PGresult *r;
    if ((rc = copy_run(q, ST_SAMPLES, sql_samples_staged, b, &r, "samples_insert")) != CORIO_OK)
        return rc;
    memset(inserted, 0, n);
    for (int i = 0; r && i < PQntuples(r); i++) {
        int64_t ord = get_i64(r, i, 0);
        if (ord >= 0 && (size_t)ord < n)
            inserted[ord] = 1;
    }
    PQclear(r);
    return CORIO_OK;
}

static int pg_rollups_merge(struct corio_store *s, const struct corio_rollup_row *rows, size_t n)
{
    struct pg_store *q = PG(s);
    struct cbuf *b = &q->cb;
    cb_start(b);
    for (size_t i = 0; i < n; i++) {
        const struct corio_rollup_row *r = &rows[i];
        cb_tuple(b, 9);
        cb_i16(b, r->tier == CORIO_TIER_1M ? 1 : 2);
        cb_str(b, r->device);
        cb_str(b, r->metric);
        cb_i64(b, r->bucket_ms);
        cb_str(b, r->org);
        cb_f64(b, r->min);
        cb_f64(b, r->max);
        cb_f64(b, r->sum);
        cb_i64(b, r->count);
    }
    cb_end(b);
    return pend_add(q, ST_ROLLUPS, sql_rollups, b);
}

static int pg_metrics_put(struct corio_store *s, const struct corio_metric_row *rows, size_t n)
{
    struct pg_store *q = PG(s);
    struct cbuf *b = &q->cb;
    cb_start(b);
    for (size_t i = 0; i < n; i++) {
        const struct corio_metric_row *m = &rows[i];
        char type[2] = {(char)m->kind, 0};
        cb_tuple(b, 5);
        cb_str(b, m->device);
        cb_str(b, m->name);
        cb_str(b, m->org);
        cb_str(b, m->unit ? m->unit : "");
        cb_str(b, type);
    }
    cb_end(b);
    return pend_add(q, ST_METRICS, sql_metrics, b);
}

static void read_epoch(const PGresult *r, int row, int col, struct corio_epoch_state *e)
{
    memset(e, 0, sizeof *e);
    e->max_seq = get_i64(r, row, col);
    e->stored = get_i64(r, row, col + 1);
    e->has_hb = !PQgetisnull(r, row, col + 2);
    e->hb_last = get_i64(r, row, col + 2);
    e->hb_pending = get_i64(r, row, col + 3);
    e->hb_drops = get_i64(r, row, col + 4);
    e->hb_ms = get_i64(r, row, col + 5);
}

static int pg_epoch_get(struct corio_store *s, const char *device, int64_t epoch,
                        struct corio_epoch_state *e)
{
    struct pg_store *q = PG(s);
    struct pp p = {0};
    p_text(&p, device);
    p_int(&p, epoch);
    PGresult *r = run(q, S_EPOCH_GET, &p, "epoch_get");
    if (!r)
        return CORIO_ERR_IO;
    int rc = PQntuples(r) ? CORIO_OK : CORIO_ERR_NOTFOUND;
    if (rc == CORIO_OK)
        read_epoch(r, 0, 0, e);
    PQclear(r);
    return rc;
}

static int pg_epochs_load(struct corio_store *s, const char *const *ids, size_t n,
                          int (*fn)(void *arg, const struct corio_epoch_row *row), void *arg)
{
    struct pg_store *q = PG(s);
    char *arr = id_array(ids, n);
    char *sql = arr ? malloc(strlen(arr) + 160) : NULL;
    int rc = CORIO_ERR_NOSPACE;
    PGresult *r = NULL;
    if (sql) {
        sprintf(sql,
                "SELECT device, epoch, org, max_seq, stored, hb_last, hb_pending, hb_drops, "
                "hb_ms FROM device_epochs WHERE device = ANY('%s'::text[])",
                arr);
        rc = pend_send(q, sql, &r, NULL, 0, "epochs_load");
    }
    free(sql);
    free(arr);
    if (rc != CORIO_OK)
        return rc;
    for (int i = 0; rc == CORIO_OK && r && i < PQntuples(r); i++) {
        struct corio_epoch_row row = {
            .device = get_text(r, i, 0), .epoch = get_i64(r, i, 1), .org = get_text(r, i, 2)};
        read_epoch(r, i, 3, &row.st);
        rc = fn(arg, &row);
    }
    PQclear(r);
    return rc;
}

static void cb_opt_i64(struct cbuf *b, bool has, int64_t v)
{
    if (has)
        cb_i64(b, v);
    else
        cb_null(b);
}

static int pg_epochs_put(struct corio_store *s, const struct corio_epoch_row *rows, size_t n)
{
    struct pg_store *q = PG(s);
    struct cbuf *b = &q->cb;
    cb_start(b);
    for (size_t i = 0; i < n; i++) {
        const struct corio_epoch_row *r = &rows[i];
        cb_tuple(b, 9);
        cb_str(b, r->device);
        cb_i64(b, r->epoch);
        cb_str(b, r->org);
        cb_i64(b, r->st.max_seq);
        cb_i64(b, r->st.stored);
        cb_opt_i64(b, r->st.has_hb, r->st.hb_last);
        cb_opt_i64(b, r->st.has_hb, r->st.hb_pending);
        cb_opt_i64(b, r->st.has_hb, r->st.hb_drops);
        cb_opt_i64(b, r->st.has_hb, r->st.hb_ms);
    }
    cb_end(b);
    return pend_add(q, ST_EPOCHS, sql_epochs, b);
}

static int pg_gap_find(struct corio_store *s, const char *device, int64_t epoch, int64_t seq,
                       struct corio_gap *g)
{
    struct pg_store *q = PG(s);
    struct pp p = {0};
    p_text(&p, device);
    p_int(&p, epoch);
    p_int(&p, seq);
    PGresult *r = run(q, S_GAP_FIND, &p, "gap_find");
    if (!r)
        return CORIO_ERR_IO;
    bool found = PQntuples(r) && get_i64(r, 0, 1) >= seq;
    if (found)
        *g = (struct corio_gap){.device = device,
                                .epoch = epoch,
                                .from_seq = get_i64(r, 0, 0),
                                .to_seq = get_i64(r, 0, 1),
                                .kind = CORIO_GAP_SEQ,
                                .detected_ms = get_i64(r, 0, 2)};
    PQclear(r);
    return found ? CORIO_OK : CORIO_ERR_NOTFOUND;
}

static int pg_gap_delete(struct corio_store *s, const char *device, int64_t epoch, int64_t from)
{
    struct pg_store *q = PG(s);
    struct pp p = {0};
    p_text(&p, device);
    p_int(&p, epoch);
    p_int(&p, from);
    int rc = run_cmd(q, S_GAP_DELETE, &p, "gap_delete");
    return rc < 0 ? rc : CORIO_OK;
}

static int pg_gap_insert(struct corio_store *s, const char *org, const struct corio_gap *g)
{
    struct pg_store *q = PG(s);
    struct pp p = {0};
    p_text(&p, g->device);
    p_int(&p, g->epoch);
    p_int(&p, g->from_seq);
    p_text(&p, org);
    p_int(&p, g->to_seq);
    p_int(&p, g->detected_ms);
    int rc = run_cmd(q, S_GAP_INSERT, &p, "gap_insert");
    return rc < 0 ? rc : CORIO_OK;
}

static int pg_device_update(struct corio_store *s, const struct corio_device_update *u)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    int rc = 0;
    if (u->seen_ms > 0 || u->gateway || u->has_epoch || u->messages_delta) {
        struct pp p = {0};
        p_text(&p, u->id);
        p_text(&p, u->org);
        p_int(&p, u->seen_ms);
        p_text(&p, u->gateway);
        p_bool(&p, u->has_epoch);
        p_int(&p, u->epoch);
        p_int(&p, u->epoch_ms);
        p_int(&p, u->messages_delta);
        rc = run_cmd(q, S_DEV_UPDATE, &p, "device_update");
    }
    if (rc < 0 || !u->has_presence)
        return rc < 0 ? rc : 0;
    struct pp p = {0};
    p_text(&p, u->id);
    p_text(&p, u->org);
    p_bool(&p, u->online);
    p_int(&p, u->presence_ms);
    rc = run_cmd(q, S_DEV_PRESENCE, &p, "device_presence");
    return rc < 0 ? rc : (rc > 0);
}

static int pg_devices_update(struct corio_store *s, const struct corio_device_update *u, size_t n)
{
    struct pg_store *q = PG(s);
    struct cbuf *b = &q->cb;
    cb_start(b);
    for (size_t i = 0; i < n; i++) {
        cb_tuple(b, 8);
        cb_str(b, u[i].id);
        cb_str(b, u[i].org);
        cb_i64(b, u[i].seen_ms);
        cb_str(b, u[i].gateway);
        cb_bool(b, u[i].has_epoch);
        cb_i64(b, u[i].epoch);
        cb_i64(b, u[i].epoch_ms);
        cb_i64(b, u[i].messages_delta);
    }
    cb_end(b);
    return pend_add(q, ST_DEVICES, sql_devices, b);
}

static int pg_counts_add(struct corio_store *s, const char *org, const struct corio_store_counts *d)
{
    struct pg_store *q = PG(s);
    char sql[640];
    /* org is a short id (checked by store.c): safe in the text. */
    snprintf(sql, sizeof sql,
             "INSERT INTO counters AS c(org, shard, messages, samples, duplicates, rejected, "
             "batches) VALUES('%s', %d, %" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
             ", %" PRId64 ") ON CONFLICT(org, shard) DO UPDATE SET "
             "messages = c.messages + excluded.messages, samples = c.samples + excluded.samples, "
             "duplicates = c.duplicates + excluded.duplicates, "
             "rejected = c.rejected + excluded.rejected, batches = c.batches + excluded.batches",
             org, q->shard, d->messages, d->samples, d->duplicates, d->rejected, d->batches);
    return pend_add(q, ST_NONE, sql, NULL);
}

static int pg_batch_record(struct corio_store *s, const struct corio_batch_rec *b)
{
    struct pg_store *q = PG(s);
    char sql[768];
    /* Ids are short ids (checked by store.c): safe in the text. */
    snprintf(sql, sizeof sql,
             "INSERT INTO batches AS b(gateway, gw_epoch, first_id, org, last_id, received_ms, "
             "deliveries, n_new, n_dup, n_rejected) VALUES('%s', %" PRId64 ", %" PRId64
             ", '%s', %" PRId64 ", %" PRId64 ", 1, %" PRId64 ", %" PRId64 ", %" PRId64 ") "
             "ON CONFLICT(gateway, gw_epoch, first_id) DO UPDATE SET "
             "deliveries = b.deliveries + 1, last_id = greatest(b.last_id, excluded.last_id), "
             "n_new = b.n_new + excluded.n_new, n_dup = b.n_dup + excluded.n_dup, "
             "n_rejected = b.n_rejected + excluded.n_rejected RETURNING deliveries",
             b->gateway, b->gw_epoch, b->first_id, b->org, b->last_id, b->received_ms, b->n_new,
             b->n_dup, b->n_rejected);
    PGresult *r;
    int rc = pend_send(q, sql, &r, NULL, 0, "batch_record");
    if (rc != CORIO_OK)
        return rc;
    int64_t deliveries = r && PQntuples(r) ? get_i64(r, 0, 0) : 0;
    PQclear(r);
    return deliveries == 1;
}

/* ---- queries ---------------------------------------------------------------------------- */

static int pg_devices(struct corio_store *s, const char *org, const char *id, corio_device_fn fn,
                      void *arg)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, org);
    p_text(&p, id);
    PGresult *r = run(q, S_DEVICES, &p, "devices");
    if (!r)
        return CORIO_ERR_IO;
    const char **names = calloc(MAX_METRICS_LIST, sizeof *names);
    int out = names ? CORIO_OK : CORIO_ERR_NOSPACE;
    for (int i = 0; out == CORIO_OK && i < PQntuples(r); i++) {
        /* Metric names are SenML names: never a comma. */
        char *list = PQgetisnull(r, i, 14) ? NULL : strdup(PQgetvalue(r, i, 14));
        if (!PQgetisnull(r, i, 14) && !list) {
            out = CORIO_ERR_NOSPACE;
            break;
        }
        size_t n = 0;
        for (char *t = list, *save = NULL; list && n < MAX_METRICS_LIST;) {
            char *tok = strtok_r(t, ",", &save);
            t = NULL;
            if (!tok)
                break;
            names[n++] = tok;
        }
        struct corio_device_info d = {
            .id = get_text(r, i, 0),
            .org = get_text(r, i, 1),
            .gateway = get_text(r, i, 2),
            .cls = get_text(r, i, 3),
            .model = get_text(r, i, 4),
            .hw_rev = get_text(r, i, 5),
            .groups = get_text(r, i, 6),
            .assurance = get_text(r, i, 7),
            .online = get_bool(r, i, 8),
            .has_seen = !PQgetisnull(r, i, 9),
            .last_seen_ms = get_i64(r, i, 9),
            .has_epoch = !PQgetisnull(r, i, 10),
            .epoch = get_i64(r, i, 10),
            .last_seq = get_i64(r, i, 11),
            .messages = get_i64(r, i, 12),
            .missing = get_i64(r, i, 13),
            .metrics = names,
            .nmetrics = n,
        };
        int f = fn(&d, arg);
        free(list);
        if (f != 0)
            out = f;
    }
    free(names);
    PQclear(r);
    return out;
}

static int pg_metric_get(struct corio_store *s, const char *org, const char *device,
                         const char *name, struct corio_metric_info *mi)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, device);
    p_text(&p, name);
    p_text(&p, org);
    PGresult *r = run(q, S_METRIC_GET, &p, "metric_get");
    if (!r)
        return CORIO_ERR_IO;
    int rc = PQntuples(r) ? CORIO_OK : CORIO_ERR_NOTFOUND;
    if (rc == CORIO_OK) {
        snprintf(mi->unit, sizeof mi->unit, "%s", get_text(r, 0, 0));
        mi->kind = (enum corio_value_kind)get_text(r, 0, 1)[0];
    }
    PQclear(r);
    return rc;
}

static int pg_series(struct corio_store *s, const char *org, const char *device, const char *metric,
                     enum corio_tier tier, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                     int64_t limit, corio_point_fn fn, void *arg)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    enum stmt_id id = step_ms == 0             ? S_SERIES_RAW
                      : tier == CORIO_TIER_RAW ? S_SERIES_RAW_STEP
                      : tier == CORIO_TIER_1M  ? S_SERIES_1M
                                               : S_SERIES_1H;
    struct pp p = {0};
    p_text(&p, device);
    p_text(&p, metric);
    p_text(&p, org);
    p_int(&p, from_ms);
    p_int(&p, to_ms);
    if (step_ms)
        p_int(&p, step_ms);
    p_int(&p, limit);
    PGresult *r = run(q, id, &p, "series");
    if (!r)
        return CORIO_ERR_IO;
    int out = CORIO_OK;
    uint8_t *data = NULL;
    for (int i = 0; out == CORIO_OK && i < PQntuples(r); i++) {
        struct corio_point pt = {.t_ms = get_i64(r, i, 0)};
        if (step_ms == 0) {
            if (!PQgetisnull(r, i, 1)) {
                pt.value.kind = CORIO_VALUE_NUM;
                pt.value.num = get_f64(r, i, 1);
            } else if (!PQgetisnull(r, i, 2)) {
                pt.value.kind = CORIO_VALUE_STR;
                pt.value.str = PQgetvalue(r, i, 2);
                pt.value.len = (size_t)PQgetlength(r, i, 2);
            } else if (!PQgetisnull(r, i, 3)) {
                pt.value.kind = CORIO_VALUE_BOOL;
                pt.value.b = get_bool(r, i, 3);
            } else {
                const char *hex = PQgetisnull(r, i, 4) ? "\\x" : PQgetvalue(r, i, 4);
                size_t cap = strlen(hex) / 2 + 1;
                free(data);
                if (!(data = malloc(cap))) {
                    out = CORIO_ERR_NOSPACE;
                    break;
                }
                long len = bytea_hex(hex, data, cap);
                pt.value.kind = CORIO_VALUE_DATA;
                pt.value.data = data;
                pt.value.len = len > 0 ? (size_t)len : 0;
            }
        } else {
            pt.min = get_f64(r, i, 1);
            pt.max = get_f64(r, i, 2);
            pt.sum = get_f64(r, i, 3);
            pt.count = get_i64(r, i, 4);
        }
        out = fn(&pt, arg);
    }
    free(data);
    PQclear(r);
    return out;
}

static int pg_gaps(struct corio_store *s, const char *org, const char *device, corio_gap_fn fn,
                   void *arg)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, device);
    p_text(&p, org);
    PGresult *r = run(q, S_GAPS, &p, "gaps");
    if (!r)
        return CORIO_ERR_IO;
    int out = CORIO_OK;
    for (int i = 0; out == CORIO_OK && i < PQntuples(r); i++) {
        struct corio_gap g = {.device = device,
                              .epoch = get_i64(r, i, 0),
                              .from_seq = get_i64(r, i, 1),
                              .to_seq = get_i64(r, i, 2),
                              .kind = CORIO_GAP_SEQ,
                              .detected_ms = get_i64(r, i, 3)};
        out = fn(&g, arg);
    }
    PQclear(r);
    return out;
}

static int pg_epochs(struct corio_store *s, const char *org, const char *device, corio_epoch_fn fn,
                     void *arg)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, device);
    p_text(&p, org);
    PGresult *r = run(q, S_EPOCHS, &p, "epochs");
    if (!r)
        return CORIO_ERR_IO;
    int out = CORIO_OK;
    for (int i = 0; out == CORIO_OK && i < PQntuples(r); i++) {
        struct corio_epoch_state e;
        read_epoch(r, i, 1, &e);
        out = fn(get_i64(r, i, 0), &e, arg);
    }
    PQclear(r);
    return out;
}

static int pg_stats(struct corio_store *s, const char *org, struct corio_store_stats *o)
{
    struct pg_store *q = PG(s);
    if (ready(q) != CORIO_OK)
        return CORIO_ERR_IO;
    struct pp p = {0};
    p_text(&p, org);
    PGresult *r = run(q, S_STATS, &p, "stats");
    if (!r)
        return CORIO_ERR_IO;
    o->devices = get_i64(r, 0, 0);
    o->online = get_i64(r, 0, 1);
    o->missing = get_i64(r, 0, 2);
    o->counts.messages = get_i64(r, 0, 3);
    o->counts.samples = get_i64(r, 0, 4);
    o->counts.duplicates = get_i64(r, 0, 5);
    o->counts.rejected = get_i64(r, 0, 6);
    o->counts.batches = get_i64(r, 0, 7);
    PQclear(r);
    return CORIO_OK;
}

/* ---- partitions and retention ---------------------------------------------------------- */

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : 0;
}

static void part_name(int64_t day, char *out, size_t len)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* Days of samples lie between 1970 and 9999 (store.c checks sample times). */
    unsigned y = (unsigned)(tm.tm_year + 1900) % 10000u, m = (unsigned)(tm.tm_mon + 1) % 100u,
             d = (unsigned)tm.tm_mday % 100u;
    snprintf(out, len, "samples_%04u%02u%02u", y, m, d);
}

/* The day of a partition named samples_YYYYMMDD, or -1. */
static int64_t part_day(const char *name)
{
    int y, m, d;
    char tail;
    if (sscanf(name, "samples_%4d%2d%2d%c", &y, &m, &d, &tail) != 3 || strlen(name) != 16)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t)t / 86400;
}

/* The days that have a partition, sorted; *n of them (malloc'd, NULL when none). */
static int list_parts(struct pg_store *q, int64_t **days, size_t *n)
{
    *days = NULL;
    *n = 0;
    PGresult *r = PQexec(q->conn, "SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                                  "ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass "
                                  "ORDER BY 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return result_fail(q, r, "partitions");
    int rows = PQntuples(r);
    if (rows && !(*days = malloc((size_t)rows * sizeof **days))) {
        PQclear(r);
        return CORIO_ERR_NOSPACE;
    }
    for (int i = 0; i < rows; i++) {
        int64_t d = part_day(PQgetvalue(r, i, 0));
        if (d >= 0)
            (*days)[(*n)++] = d;
    }
    PQclear(r);
    return CORIO_OK;
}

static bool has_day(const int64_t *days, size_t n, int64_t d)
{
    for (size_t i = 0; i < n; i++)
        if (days[i] == d)
            return true;
    return false;
}

/* Begins a short housekeeping transaction under the partitions' advisory lock, so that
 * two processes never create or drop the same partition, and without waiting long for
 * the locks that DDL needs (ingest goes on; the next run tries again). */
static int housekeeping_begin(struct pg_store *q)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "BEGIN; SET LOCAL lock_timeout = '10s'; SELECT pg_advisory_xact_lock(%lld)",
             (long long)ADVISORY_PARTS);
    return exec_simple(q, sql, "housekeeping");
}

static int make_partitions(struct pg_store *q, int64_t from_day, int64_t to_day)
{
    int64_t *days;
    size_t n;
    int rc = list_parts(q, &days, &n);
    if (rc != CORIO_OK)
        return rc;
    for (int64_t d = from_day; rc == CORIO_OK && d <= to_day; d++) {
        if (has_day(days, n, d))
            continue;
        char name[32], sql[1024];
        part_name(d, name, sizeof name);
        long long a = (long long)(d * DAY_MS), b = (long long)((d + 1) * DAY_MS);
        /* Made apart and attached: ATTACH takes a weaker lock on samples than CREATE
         * ... PARTITION OF, and rows of that day that reached the default partition
         * move over first (ATTACH refuses while the default holds any). */
        snprintf(sql, sizeof sql,
                 "CREATE TABLE %s (LIKE samples INCLUDING DEFAULTS INCLUDING CONSTRAINTS);\n"
                 "WITH moved AS (DELETE FROM samples_default WHERE t_ms >= %lld AND t_ms < %lld "
                 "RETURNING *) INSERT INTO %s SELECT * FROM moved;\n"
                 "ALTER TABLE %s ADD CONSTRAINT %s_range CHECK (t_ms >= %lld AND t_ms < %lld);\n"
                 "ALTER TABLE samples ATTACH PARTITION %s FOR VALUES FROM (%lld) TO (%lld);\n"
                 "ALTER TABLE %s DROP CONSTRAINT %s_range",
                 name, a, b, name, name, name, a, b, name, a, b, name, name);
        rc = exec_simple(q, sql, "partition");
    }
    free(days);
    return rc;
}

static int pg_maintain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms)
{
    struct pg_store *q = PG(s);
    int rc = ensure(q);
    if (rc != CORIO_OK)
        return rc;
    int64_t back = r->raw_ms ? r->raw_ms : DAY_MS;
    int64_t from = day_of(now_ms > back ? now_ms - back : 0), to = day_of(now_ms) + AHEAD_DAYS;
    if ((rc = housekeeping_begin(q)) != CORIO_OK)
        return rc;
    rc = make_partitions(q, from, to);
    if (rc == CORIO_OK)
        rc = exec_simple(q, "COMMIT", "housekeeping");
    if (rc != CORIO_OK)
        exec_simple(q, "ROLLBACK", "housekeeping");
    return rc;
}

/* Deletes with an autocommitted statement; adds the rows deleted to *deleted. */
static int delete_before(struct pg_store *q, const char *table, const char *col, int64_t before,
                         int64_t *deleted)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s < %lld", table, col, (long long)before);
    PGresult *r = PQexec(q->conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return result_fail(q, r, "retain");
    *deleted += strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return CORIO_OK;
}

/* Drops the day partitions that end before `before`, counting their rows. */
static int drop_old_days(struct pg_store *q, int64_t before, int64_t *deleted)
{
    int rc = housekeeping_begin(q);
    if (rc != CORIO_OK)
        return rc;
    int64_t *days;
    size_t n;
    if ((rc = list_parts(q, &days, &n)) == CORIO_OK) {
        for (size_t i = 0; rc == CORIO_OK && i < n; i++) {
            if ((days[i] + 1) * DAY_MS > before)
                continue;
            char name[32], sql[128];
            part_name(days[i], name, sizeof name);
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", name);
            PGresult *r = PQexec(q->conn, sql);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                rc = result_fail(q, r, "retain");
                break;
            }
            *deleted += get_i64(r, 0, 0);
            PQclear(r);
            snprintf(sql, sizeof sql, "DROP TABLE %s", name);
            rc = exec_simple(q, sql, "retain");
        }
        free(days);
    }
    if (rc == CORIO_OK)
        rc = exec_simple(q, "COMMIT", "retain");
    if (rc != CORIO_OK)
        exec_simple(q, "ROLLBACK", "retain");
    return rc;
}

static int pg_retain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms,
                     int64_t *deleted)
{
    struct pg_store *q = PG(s);
    int rc = ensure(q);
    if (rc != CORIO_OK)
        return rc;
    if (r->raw_ms) {
        int64_t before = now_ms - r->raw_ms;
        if ((rc = drop_old_days(q, before, deleted)) != CORIO_OK ||
            (rc = delete_before(q, "samples", "t_ms", before, deleted)) != CORIO_OK)
            return rc;
    }
    if (r->rollup_1m_ms && (rc = delete_before(q, "rollup_1m", "bucket_ms",
                                               now_ms - r->rollup_1m_ms, deleted)) != CORIO_OK)
        return rc;
    if (r->rollup_1h_ms && (rc = delete_before(q, "rollup_1h", "bucket_ms",
                                               now_ms - r->rollup_1h_ms, deleted)) != CORIO_OK)
        return rc;
    if (r->messages_ms) {
        int64_t before = now_ms - r->messages_ms;
        if ((rc = delete_before(q, "messages", "recv_ms", before, deleted)) != CORIO_OK ||
            (rc = delete_before(q, "batches", "received_ms", before, deleted)) != CORIO_OK)
            return rc;
    }
    return CORIO_OK;
}

static const struct corio_store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .ping = pg_ping,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .org_put = pg_org_put,
    .gateway_put = pg_gateway_put,
    .gateway_get = pg_gateway_get,
    .device_put = pg_device_put,
    .device_org = pg_device_org,
    .lock_devices = pg_lock_devices,
    .messages_insert = pg_messages_insert,
    .samples_insert = pg_samples_insert,
    .rollups_merge = pg_rollups_merge,
    .metrics_put = pg_metrics_put,
    .epoch_get = pg_epoch_get,
    .epochs_load = pg_epochs_load,
    .epochs_put = pg_epochs_put,
    .gap_find = pg_gap_find,
    .gap_delete = pg_gap_delete,
    .gap_insert = pg_gap_insert,
    .device_update = pg_device_update,
    .devices_update = pg_devices_update,
    .counts_add = pg_counts_add,
    .batch_record = pg_batch_record,
    .devices = pg_devices,
    .metric_get = pg_metric_get,
    .series = pg_series,
    .gaps = pg_gaps,
    .epochs = pg_epochs,
    .stats = pg_stats,
    .retain = pg_retain,
    .maintain = pg_maintain,
};

/* ---- opening and migrating -------------------------------------------------------------- */

int corio_store_pg_schema_version(void)
{
    return NSTEPS;
}

/* Applies the missing steps, one transaction each, under an advisory lock so that
 * processes starting together migrate once. */
static int migrate(struct pg_store *q, char *err, size_t errlen)
{
    for (;;) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "BEGIN; SELECT pg_advisory_xact_lock(%lld); "
                 "CREATE TABLE IF NOT EXISTS schema_version(version integer NOT NULL)",
                 (long long)ADVISORY_SCHEMA);
        if (exec_simple(q, sql, "migrate") != CORIO_OK)
            goto io;
        PGresult *r = PQexec(q->conn, "SELECT max(version) FROM schema_version");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            result_fail(q, r, "migrate");
            goto io;
        }
        int v = (int)get_i64(r, 0, 0);
        PQclear(r);
        if (v > NSTEPS) {
            exec_simple(q, "ROLLBACK", "migrate");
            snprintf(err, errlen,
                     "the database's schema is version %d, newer than this program's %d", v,
                     NSTEPS);
            return CORIO_ERR_VERSION;
        }
        if (v == NSTEPS)
            return exec_simple(q, "COMMIT", "migrate") == CORIO_OK ? CORIO_OK : CORIO_ERR_IO;
        if (exec_simple(q, schema_steps[v], "migrate") != CORIO_OK) {
            snprintf(err, errlen, "schema step %d failed: %s", v + 1, PQerrorMessage(q->conn));
            exec_simple(q, "ROLLBACK", "migrate");
            return CORIO_ERR_IO;
        }
        snprintf(sql, sizeof sql,
                 "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d); COMMIT",
                 v + 1);
        if (exec_simple(q, sql, "migrate") != CORIO_OK)
            goto io;
    }
io:
    snprintf(err, errlen, "migration failed: %s", PQerrorMessage(q->conn));
    exec_simple(q, "ROLLBACK", "migrate");
    return CORIO_ERR_IO;
}

int corio_store_open_pg(const char *conninfo, struct corio_store **out, char *err, size_t errlen)
{
    if (!conninfo || !out)
        return CORIO_ERR_INVAL;
    *out = NULL;
    struct pg_store *q = calloc(1, sizeof *q);
    if (!q)
        return CORIO_ERR_NOSPACE;
    q->base.ops = &pg_ops;
    uint16_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (uint16_t)time(NULL);
    q->shard = r % COUNTER_SHARDS;
    /* Defaults that the connection string may override: a bounded connect, keepalives
     * and a bound on unacknowledged writes, so that a dead or partitioned server turns
     * into an error instead of a hang. */
    const char *const keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                                "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                "application_name",    "dbname",           NULL};
    const char *const vals[] = {"5", "1", "10", "5", "3", "30000", "corio-cloud", conninfo, NULL};
    q->conn = PQconnectdbParams(keys, vals, 1);
    if (!q->conn || PQstatus(q->conn) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect: %s",
                 q->conn ? PQerrorMessage(q->conn) : "out of memory");
        size_t l = strlen(err);
        while (l && err[l - 1] == '\n')
            err[--l] = 0;
        pg_close(&q->base);
        return q->conn ? CORIO_ERR_IO : CORIO_ERR_NOSPACE;
    }
    exec_simple(q, "SET client_min_messages = warning", "session");
    int rc = migrate(q, err, errlen);
    if (rc == CORIO_OK && (rc = ensure(q)) != CORIO_OK)
        snprintf(err, errlen, "cannot prepare the session: %s", PQerrorMessage(q->conn));
    if (rc == CORIO_OK) {
        struct corio_retention around = {0};
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if ((rc = pg_maintain(&q->base, &around, (int64_t)ts.tv_sec * 1000)) != CORIO_OK)
            snprintf(err, errlen, "cannot make partitions: %s", PQerrorMessage(q->conn));
    }
    if (rc != CORIO_OK) {
        pg_close(&q->base);
        return rc;
    }
    *out = &q->base;
    return CORIO_OK;
}
