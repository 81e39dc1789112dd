/*
 * store_pg.c - the PostgreSQL backend of the storage interface (store.h), over libpq.
 *
 * The data model is docs/storage.md's, as in store_sqlite.c, with what a shared server
 * at scale needs:
 *   - batch ingest in a few round trips: the many-row writes are prepared statements
 *     whose parameters are binary arrays, one per column, read with unnest() (no
 *     staging tables: a session's temporary tables cost a truncation of each, and of
 *     its TOAST index, at every commit); statements whose answer nobody waits for
 *     are queued and sent in one pipeline with the next one that needs an answer.
 *     Message rows go in with INSERT ... ON CONFLICT (mid) DO NOTHING RETURNING, which
 *     says which messages are new (mid is the key; the integer id that samples
 *     reference needs no index); samples of new messages have a fresh message id, so
 *     their keys cannot exist: they are COPYed (binary) straight into the partitioned
 *     table, under a savepoint, and only when that meets a duplicate key (a caller
 *     adding the same sample twice) does an INSERT ... ON CONFLICT sort it out;
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
    /* the ingest's, queued and pipelined (every parameter binary) */
    S_BEGIN,
    S_COMMIT,
    S_LOCK_DEVICES,
    S_EPOCHS_LOAD,
    S_MESSAGES,
    S_SAMPLES,
    S_ROLLUP_1M,
    S_ROLLUP_1H,
    S_METRICS,
    S_EPOCHS_PUT,
    S_DEVICES_PUT,
    S_COUNTS_ADD,
    S_BATCH_RECORD,
    S_COUNT
};

#define MISSING_OF(dev)                                                                            \
    "((SELECT coalesce(sum(g.to_seq - g.from_seq + 1), 0) FROM gaps g WHERE g.device = " dev       \
    ") + (SELECT coalesce(sum(greatest(0, x.hb_last - x.hb_pending - x.max_seq)), 0) "             \
    "FROM device_epochs x WHERE x.device = " dev "))::bigint"

#define ROLLUP_MERGE(table)                                                                        \
    "INSERT INTO " table " AS r(device, metric, bucket_ms, org, min, max, sum, count) "            \
    "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::float8[], "        \
    "$6::float8[], $7::float8[], $8::bigint[]) ON CONFLICT(device, metric, bucket_ms) "            \
    "DO UPDATE SET min = least(r.min, excluded.min), max = greatest(r.max, excluded.max), "        \
    "sum = r.sum + excluded.sum, count = r.count + excluded.count"

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
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    /* In one order for every writer (store.c sorts the ids). */
    [S_LOCK_DEVICES] = "SELECT id FROM devices WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
    [S_EPOCHS_LOAD] = "SELECT device, epoch, org, max_seq, stored, hb_last, hb_pending, hb_drops, "
                      "hb_ms FROM device_epochs WHERE device = ANY($1::text[])",
    /* Message ids come from a sequence that each session takes 64 at a time (ids grow
     * within a session, not across them: they are references, not order). */
    [S_MESSAGES] =
        "INSERT INTO messages(mid, org, device, epoch, seq, gateway, gw_epoch, gw_id, suffix, "
        "recv_ms, stored_ms, status, reason) SELECT * FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[], "
        "$9::text[], $10::bigint[], $11::bigint[], $12::smallint[], $13::text[]) "
        "ON CONFLICT(mid) DO NOTHING RETURNING id, mid",
    /* The samples that the direct COPY could not take: those not there already, and
     * their positions (from 0). */
    [S_SAMPLES] =
        "WITH s AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], "
        "$4::bigint[], $5::text[], $6::float8[], $7::text[], $8::boolean[], $9::bytea[]) "
        "WITH ORDINALITY AS u(device, metric, t_ms, msg, org, v_num, v_str, v_bool, v_data, "
        "ord)), ins AS (INSERT INTO samples(device, metric, t_ms, msg, org, v_num, v_str, "
        "v_bool, v_data) SELECT device, metric, t_ms, msg, org, v_num, v_str, v_bool, v_data "
        "FROM s ORDER BY ord ON CONFLICT DO NOTHING RETURNING device, metric, t_ms, msg) "
        "SELECT s.ord - 1 FROM ins JOIN s USING (device, metric, t_ms, msg)",
    [S_ROLLUP_1M] = ROLLUP_MERGE("rollup_1m"),
    [S_ROLLUP_1H] = ROLLUP_MERGE("rollup_1h"),
    /* Descriptors that already say so are left out first (a join, not a conflict per
     * row: most batches change no descriptor). */
    [S_METRICS] =
        "INSERT INTO metrics AS m(device, name, org, unit, type) "
        "SELECT s.device, s.name, s.org, s.unit, s.type FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::text[], $5::text[]) AS s(device, name, org, unit, type) "
        "WHERE NOT EXISTS (SELECT 1 FROM metrics x WHERE x.device = s.device AND "
        "x.name = s.name AND x.type = s.type AND (s.unit = '' OR x.unit = s.unit)) "
        "ON CONFLICT(device, name) DO UPDATE SET "
        "unit = CASE WHEN excluded.unit <> '' THEN excluded.unit ELSE m.unit END, "
        "type = excluded.type "
        "WHERE (excluded.unit <> '' AND excluded.unit <> m.unit) OR excluded.type <> m.type",
    [S_EPOCHS_PUT] =
        "INSERT INTO device_epochs(device, epoch, org, max_seq, stored, hb_last, hb_pending, "
        "hb_drops, hb_ms) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], "
        "$4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[]) "
        "ON CONFLICT(device, epoch) DO UPDATE SET "
        "max_seq = excluded.max_seq, stored = excluded.stored, hb_last = excluded.hb_last, "
        "hb_pending = excluded.hb_pending, hb_drops = excluded.hb_drops, hb_ms = excluded.hb_ms",
    [S_DEVICES_PUT] =
        "UPDATE devices d SET "
        "last_seen_ms = CASE WHEN s.seen_ms > 0 AND (d.last_seen_ms IS NULL OR "
        "s.seen_ms > d.last_seen_ms) THEN s.seen_ms ELSE d.last_seen_ms END, "
        "gateway = coalesce(s.gateway, d.gateway), "
        "epoch = CASE WHEN s.has_epoch AND (d.epoch_ms IS NULL OR s.epoch_ms >= d.epoch_ms) "
        "THEN s.epoch ELSE d.epoch END, "
        "epoch_ms = CASE WHEN s.has_epoch AND (d.epoch_ms IS NULL OR s.epoch_ms >= d.epoch_ms) "
        "THEN s.epoch_ms ELSE d.epoch_ms END, "
        "messages = d.messages + s.delta "
        "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::boolean[], "
        "$6::bigint[], $7::bigint[], $8::bigint[]) "
        "AS s(id, org, seen_ms, gateway, has_epoch, epoch, epoch_ms, delta) "
        "WHERE d.id = s.id AND d.org = s.org",
    [S_COUNTS_ADD] =
        "INSERT INTO counters AS c(org, shard, messages, samples, duplicates, rejected, "
        "batches) VALUES($1::text, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint, "
        "$7::bigint) ON CONFLICT(org, shard) DO UPDATE SET "
        "messages = c.messages + excluded.messages, samples = c.samples + excluded.samples, "
        "duplicates = c.duplicates + excluded.duplicates, "
        "rejected = c.rejected + excluded.rejected, batches = c.batches + excluded.batches",
    [S_BATCH_RECORD] =
        "INSERT INTO batches AS b(gateway, gw_epoch, first_id, org, last_id, received_ms, "
        "deliveries, n_new, n_dup, n_rejected) VALUES($1::text, $2::bigint, $3::bigint, "
        "$4::text, $5::bigint, $6::bigint, 1, $7::bigint, $8::bigint, $9::bigint) "
        "ON CONFLICT(gateway, gw_epoch, first_id) DO UPDATE SET "
        "deliveries = b.deliveries + 1, last_id = greatest(b.last_id, excluded.last_id), "
        "n_new = b.n_new + excluded.n_new, n_dup = b.n_dup + excluded.n_dup, "
        "n_rejected = b.n_rejected + excluded.n_rejected RETURNING deliveries",
};

/* The samples, straight into the partitioned table (see pg_samples_insert): with the
 * numeric column only when every value is a number, and under a savepoint when a row
 * might meet a key that exists (so that the duplicate costs this COPY only). */
#define COPY_NUM "COPY samples(device, metric, t_ms, msg, org, v_num) FROM STDIN (FORMAT binary)"
#define COPY_ALL                                                                                   \
    "COPY samples(device, metric, t_ms, msg, org, v_num, v_str, v_bool, v_data) "                  \
    "FROM STDIN (FORMAT binary)"
#define UNDER_SAVEPOINT(copy) "SAVEPOINT corio_samples;\n" copy ";\nRELEASE SAVEPOINT corio_samples"

static const char *const sql_samples_copy[2][2] = {
    {COPY_NUM, COPY_ALL},
    {UNDER_SAVEPOINT(COPY_NUM), UNDER_SAVEPOINT(COPY_ALL)},
};

/* ---- the handle ------------------------------------------------------------------------ */

/* Binary data being built: a COPY stream (PostgreSQL's "PGCOPY" format), or the
 * parameters of queued statements. */
struct cbuf {
    uint8_t *d;
    size_t n, cap;
    bool oom;
};

/*
 * Statements whose answer nobody waits for (BEGIN, row locks, the writes of rollups,
 * descriptors, sequence states, devices, counters), queued and sent in one pipeline
 * with the next statement that needs an answer, or with COMMIT: a batch's transaction
 * takes five round trips, and the COPY of its samples two more. A queued statement that
 * fails makes that next one fail, and the transaction with it. Every parameter is
 * binary and lives in the queue's arena, by offset (the arena moves as it grows).
 */
#define QUEUE_MAX  32
#define QUEUE_MAXP 16

struct qitem {
    enum stmt_id id;
    int n;
    size_t off[QUEUE_MAXP];
    int len[QUEUE_MAXP]; /* -1: NULL */
};

struct queue {
    struct qitem it[QUEUE_MAX];
    int n;
    struct cbuf arena;
};

/* The message ids that this transaction made (the RETURNING of messages_insert), and
 * whether a COPY of samples used them already. */
enum { ID_EMPTY, ID_FRESH, ID_USED };

struct idset {
    int64_t *id;
    uint8_t *state;
    size_t cap, n; /* cap: 0 or a power of two */
};

struct pg_store {
    struct corio_store base;
    PGconn *conn;
    bool prepared[S_COUNT];
    bool tx;           /* a transaction is open (its BEGIN may still be queued) */
    bool tx_fresh;     /* nothing of it reached the server yet: safe to send again */
    bool copy_pending; /* a COPY of samples went out and its result is still to read */
    bool dup_expected; /* that COPY's duplicate key is the caller's to handle: no log */
    int shard;
    char sqlstate[6]; /* of the last failure */
    struct cbuf cb;   /* the COPY of samples */
    struct queue queue;
    struct idset fresh;
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
static int settle(struct pg_store *q);

static int exec_simple(struct pg_store *q, const char *sql, const char *what)
{
    int rc = settle(q);
    if (rc != CORIO_OK)
        return rc;
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

/* A broken connection is re-established (the session's statements are prepared again
 * as they are used). */
static int pipe_send(struct pg_store *q, PGresult **rows, char *status, size_t statuslen,
                     const char *what);

static int ensure(struct pg_store *q)
{
    if (PQstatus(q->conn) == CONNECTION_OK)
        return settle(q);
    PQreset(q->conn);
    memset(q->prepared, 0, sizeof q->prepared);
    q->copy_pending = false;
    if (PQstatus(q->conn) != CONNECTION_OK)
        return db_fail(q, "connect", NULL);
    corio_log(CORIO_LOG_INFO, "database connection re-established");
    return exec_simple(q, "SET client_min_messages = warning", "session");
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

static void stmt_name(enum stmt_id id, char name[16])
{
    snprintf(name, 16, "corio_%d", (int)id);
}

/* Runs a prepared statement once: its result, or NULL after logging. */
static PGresult *run_once(struct pg_store *q, enum stmt_id id, const struct pp *p, const char *what)
{
    char name[16];
    stmt_name(id, name);
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
    if ((q->queue.n || q->copy_pending) && pipe_send(q, NULL, NULL, 0, what) != CORIO_OK)
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

/* ---- the queue and its pipeline ------------------------------------------------------- */

/* Element types of the arrays we send (pg_type.h). */
#define OID_BOOL   16
#define OID_BYTEA  17
#define OID_INT8   20
#define OID_INT2   21
#define OID_TEXT   25
#define OID_FLOAT8 701

static void queue_clear(struct pg_store *q)
{
    q->queue.n = 0;
    q->queue.arena.n = 0;
    q->queue.arena.oom = false;
}

/* Queues statement id, whose parameters the qp_ and qa_ calls that follow add; what is
 * queued already goes first when the queue is full. */
static int q_stmt(struct pg_store *q, enum stmt_id id)
{
    int rc;
    if (q->queue.n == QUEUE_MAX && (rc = pipe_send(q, NULL, NULL, 0, "queued")) != CORIO_OK)
        return rc;
    q->queue.it[q->queue.n++] = (struct qitem){.id = id};
    return CORIO_OK;
}

/* Opens the next parameter of the statement queued last: its bytes follow in the arena. */
static struct qitem *qp_open(struct pg_store *q)
{
    struct qitem *it = &q->queue.it[q->queue.n - 1];
    if (it->n == QUEUE_MAXP) {
        q->queue.arena.oom = true; /* a statement of ours never has that many */
        return NULL;
    }
    it->off[it->n] = q->queue.arena.n;
    it->len[it->n] = 0;
    return it;
}

static void qp_close(struct pg_store *q, struct qitem *it)
{
    if (!it)
        return;
    size_t len = q->queue.arena.n - it->off[it->n];
    if (len > INT32_MAX)
        q->queue.arena.oom = true;
    it->len[it->n++] = (int)len;
}

static void qp_text(struct pg_store *q, const char *s)
{
    struct qitem *it = qp_open(q);
    cb_raw(&q->queue.arena, s, strlen(s));
    qp_close(q, it);
}

static void qp_i64(struct pg_store *q, int64_t v)
{
    struct qitem *it = qp_open(q);
    cb_u64(&q->queue.arena, (uint64_t)v);
    qp_close(q, it);
}

/* A one-dimensional array parameter (array_recv's format): a header, whose length and
 * null flag qa_end fills in, then each element as a COPY field (length, bytes). */
struct arr {
    struct qitem *it;
    size_t at;
    uint32_t n;
    bool nulls;
};

static struct arr qa_begin(struct pg_store *q, uint32_t elem)
{
    struct cbuf *b = &q->queue.arena;
    struct arr a = {.it = qp_open(q), .at = b->n};
    cb_u32(b, 1);    /* dimensions */
    cb_u32(b, 0);    /* has nulls */
    cb_u32(b, elem); /* element type */
    cb_u32(b, 0);    /* length */
    cb_u32(b, 1);    /* lower bound */
    return a;
}

static void be32_at(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void qa_end(struct pg_store *q, struct arr *a)
{
    struct cbuf *b = &q->queue.arena;
    if (!b->oom) {
        be32_at(b->d + a->at + 4, a->nulls);
        be32_at(b->d + a->at + 12, a->n);
    }
    qp_close(q, a->it);
}

static void ae_str(struct pg_store *q, struct arr *a, const char *s)
{
    a->nulls |= !s;
    a->n++;
    cb_str(&q->queue.arena, s);
}

/* Bytes, or NULL when d is NULL. */
static void ae_bytes(struct pg_store *q, struct arr *a, const void *d, size_t len)
{
    a->n++;
    if (!d) {
        a->nulls = true;
        cb_null(&q->queue.arena);
    } else {
        cb_bytes(&q->queue.arena, d, len);
    }
}

static void ae_opt_i64(struct pg_store *q, struct arr *a, bool has, int64_t v)
{
    a->n++;
    if (has) {
        cb_i64(&q->queue.arena, v);
    } else {
        a->nulls = true;
        cb_null(&q->queue.arena);
    }
}

static void ae_i16(struct pg_store *q, struct arr *a, int16_t v)
{
    a->n++;
    cb_i16(&q->queue.arena, v);
}

static void ae_f64(struct pg_store *q, struct arr *a, double v)
{
    a->n++;
    cb_f64(&q->queue.arena, v);
}

static void ae_opt_f64(struct pg_store *q, struct arr *a, bool has, double v)
{
    a->n++;
    if (has) {
        cb_f64(&q->queue.arena, v);
    } else {
        a->nulls = true;
        cb_null(&q->queue.arena);
    }
}

static void ae_opt_bool(struct pg_store *q, struct arr *a, bool has, bool v)
{
    a->n++;
    if (has) {
        cb_bool(&q->queue.arena, v);
    } else {
        a->nulls = true;
        cb_null(&q->queue.arena);
    }
}

/*
 * A column of an array of rows, for qa_columns: its type, where it is in the row, and
 * for a nullable one where the bool saying whether it has a value is. The builders
 * below name their columns in the order of their statement's parameters.
 */
enum col_type {
    COL_TEXT,       /* const char *; NULL is NULL */
    COL_TEXT_EMPTY, /* const char *; NULL is "" */
    COL_I64,        /* int64_t */
    COL_OPT_I64,    /* int64_t, NULL unless the bool at has is true */
    COL_F64,        /* double */
    COL_BOOL,       /* bool */
};

struct col {
    enum col_type type;
    size_t off, has;
};

#define COL(type, row, member)          {type, offsetof(row, member), 0}
#define COL_OPT(type, row, member, has) {type, offsetof(row, member), offsetof(row, has)}

/* Queues one array parameter per column over the n rows of size `size` at rows that
 * keep(row, arg) accepts (all when keep is NULL). */
static void qa_columns(struct pg_store *q, const void *rows, size_t size, size_t n,
                       const struct col *cols, size_t ncols,
                       bool (*keep)(const void *row, const void *arg), const void *arg)
{
    static const uint32_t oid[] = {[COL_TEXT] = OID_TEXT, [COL_TEXT_EMPTY] = OID_TEXT,
                                   [COL_I64] = OID_INT8,  [COL_OPT_I64] = OID_INT8,
                                   [COL_F64] = OID_FLOAT8, [COL_BOOL] = OID_BOOL};
    for (size_t c = 0; c < ncols; c++) {
        struct arr a = qa_begin(q, oid[cols[c].type]);
        for (size_t i = 0; i < n; i++) {
            const char *row = (const char *)rows + i * size, *at = row + cols[c].off;
            if (keep && !keep(row, arg))
                continue;
            const char *str;
            int64_t i64;
            double f64;
            bool b;
            switch (cols[c].type) {
            case COL_TEXT:
            case COL_TEXT_EMPTY:
                memcpy(&str, at, sizeof str);
                ae_str(q, &a, str || cols[c].type == COL_TEXT ? str : "");
                break;
            case COL_I64:
            case COL_OPT_I64:
                memcpy(&i64, at, sizeof i64);
                b = true;
                if (cols[c].type == COL_OPT_I64)
                    memcpy(&b, row + cols[c].has, sizeof b);
                ae_opt_i64(q, &a, b, i64);
                break;
            case COL_F64:
                memcpy(&f64, at, sizeof f64);
                ae_f64(q, &a, f64);
                break;
            case COL_BOOL:
                memcpy(&b, at, sizeof b);
                ae_opt_bool(q, &a, true, b);
                break;
            }
        }
        qa_end(q, &a);
    }
}

#define QA_COLUMNS(q, rows, n, cols, keep, arg)                                                    \
    qa_columns(q, rows, sizeof *(rows), n, cols, sizeof(cols) / sizeof(cols)[0], keep, arg)

/* The first failure among a query's results is logged (but for the duplicate key that
 * pg_samples_insert waits for and handles) and kept; what follows it was not run. */
static int pipe_result(struct pg_store *q, PGresult *r, int rc, const char *what)
{
    if (rc != CORIO_OK)
        return rc;
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(q->sqlstate, sizeof q->sqlstate, "%s", st ? st : "");
    if (!q->dup_expected || strcmp(q->sqlstate, "23505") != 0)
        db_fail(q, what, PQresultErrorMessage(r));
    return CORIO_ERR_IO;
}

/* One sending of the queue; see pipe_send. */
static int pipe_once(struct pg_store *q, PGresult **rows, char *status, size_t statuslen,
                     const char *what)
{
    PGconn *c = q->conn;
    struct queue *u = &q->queue;
    /* Each queued statement, preceded by its preparation the first time: what the
     * results that come back answer. */
    struct {
        enum stmt_id id;
        bool prepare;
    } sent[2 * QUEUE_MAX];
    bool preparing[S_COUNT] = {false};
    int ns = 0, rc = CORIO_OK;
    if (!PQenterPipelineMode(c))
        return db_fail(q, what, NULL);
    for (int i = 0; rc == CORIO_OK && i < u->n; i++) {
        const struct qitem *it = &u->it[i];
        char name[16];
        stmt_name(it->id, name);
        if (!q->prepared[it->id] && !preparing[it->id]) {
            if (!PQsendPrepare(c, name, stmt_sql[it->id], 0, NULL)) {
                rc = db_fail(q, what, NULL);
                break;
            }
            preparing[it->id] = true;
            sent[ns].id = it->id;
            sent[ns++].prepare = true;
        }
        const char *val[QUEUE_MAXP];
        int len[QUEUE_MAXP], fmt[QUEUE_MAXP];
        for (int k = 0; k < it->n; k++) {
            val[k] = it->len[k] < 0 ? NULL : (const char *)u->arena.d + it->off[k];
            len[k] = it->len[k] < 0 ? 0 : it->len[k];
            fmt[k] = 1;
        }
        if (!PQsendQueryPrepared(c, name, it->n, val, len, fmt, 0)) {
            rc = db_fail(q, what, NULL);
            break;
        }
        sent[ns].id = it->id;
        sent[ns++].prepare = false;
    }
    if (PQstatus(c) != CONNECTION_OK || !PQpipelineSync(c))
        return rc == CORIO_OK ? db_fail(q, what, NULL) : rc; /* PQreset ends the pipeline */
    for (int k = 0; k < ns; k++) {
        PGresult *r;
        while ((r = PQgetResult(c))) {
            switch (PQresultStatus(r)) {
            case PGRES_COMMAND_OK:
                if (sent[k].prepare)
                    q->prepared[sent[k].id] = true;
                else if (status)
                    snprintf(status, statuslen, "%s", PQcmdStatus(r));
                break;
            case PGRES_TUPLES_OK:
                if (rows) {
                    PQclear(*rows);
                    *rows = r;
                    r = NULL;
                }
                break;
            case PGRES_PIPELINE_ABORTED:
                if (rc == CORIO_OK)
                    rc = db_fail(q, what, "pipeline aborted");
                break;
            default:
                rc = pipe_result(q, r, rc, what);
                break;
            }
            PQclear(r);
        }
        if (PQstatus(c) != CONNECTION_OK)
            return rc == CORIO_OK ? db_fail(q, what, NULL) : rc;
    }
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC && rc == CORIO_OK)
        rc = db_fail(q, what, "no end of the pipeline");
    PQclear(r);
    if (!PQexitPipelineMode(c) && rc == CORIO_OK)
        rc = db_fail(q, what, NULL);
    return rc;
}

/*
 * Sends what is queued, in one pipeline, and reads every result: *rows (when rows is
 * not NULL; the caller clears it) gets the last rows result, status the command tag of
 * the last statement that returned none. When a transaction's first sending meets a
 * connection that broke since the last call (the server restarted), the connection is
 * made again and the same statements sent again: nothing of them had happened.
 * Returns CORIO_OK, CORIO_ERR_IO (q->sqlstate says why) or CORIO_ERR_NOSPACE; the queue
 * is empty afterwards either way.
 */
static int pipe_send(struct pg_store *q, PGresult **rows, char *status, size_t statuslen,
                     const char *what)
{
    q->sqlstate[0] = 0;
    if (rows)
        *rows = NULL;
    if (status && statuslen)
        status[0] = 0;
    int rc = settle(q);
    if (rc != CORIO_OK || q->queue.n == 0) {
        queue_clear(q);
        return rc;
    }
    rc = CORIO_ERR_NOSPACE;
    if (!q->queue.arena.oom) {
        rc = pipe_once(q, rows, status, statuslen, what);
        if (rc != CORIO_OK && q->tx_fresh && PQstatus(q->conn) != CONNECTION_OK &&
            ensure(q) == CORIO_OK)
            rc = pipe_once(q, rows, status, statuslen, what);
    }
    if (rc == CORIO_OK)
        q->tx_fresh = false;
    else if (rows && *rows) {
        PQclear(*rows);
        *rows = NULL;
    }
    queue_clear(q);
    return rc;
}

/* Sends sql, a simple query with one COPY ... FROM STDIN, after what is queued; the
 * client may build the COPY's first rows while the server gets there (copy_ready). */
static int copy_open(struct pg_store *q, const char *sql, const char *what)
{
    int rc = pipe_send(q, NULL, NULL, 0, what);
    if (rc != CORIO_OK)
        return rc;
    return PQsendQuery(q->conn, sql) ? CORIO_OK : db_fail(q, what, NULL);
}

/* Waits until the COPY that copy_open sent takes data; from then on its results are
 * settle's to read. CORIO_OK, or the failure (q->sqlstate says why) of the statements
 * before it. */
static int copy_ready(struct pg_store *q, const char *what)
{
    int rc = CORIO_OK;
    PGresult *r;
    while ((r = PQgetResult(q->conn))) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_COPY_IN)
            rc = pipe_result(q, r, rc, what);
        PQclear(r);
        if (st == PGRES_COPY_IN) {
            q->copy_pending = true;
            return rc;
        }
    }
    return rc == CORIO_OK ? db_fail(q, what, "the query took no COPY data") : rc;
}

/* Sends what b holds of the COPY, and empties it. */
static int copy_put(struct pg_store *q, struct cbuf *b, const char *what)
{
    if (b->oom)
        return CORIO_ERR_NOSPACE;
    if (b->n > INT32_MAX || PQputCopyData(q->conn, (const char *)b->d, (int)b->n) != 1)
        return db_fail(q, what, NULL);
    b->n = 0;
    return CORIO_OK;
}

/* Reads the results of a COPY that copy_ready opened, if any: CORIO_OK, or its failure
 * (q->sqlstate says why), which is then the failure of whatever needed the connection. */
static int settle(struct pg_store *q)
{
    if (!q->copy_pending)
        return CORIO_OK;
    q->copy_pending = false;
    int rc = CORIO_OK;
    PGresult *r;
    while ((r = PQgetResult(q->conn))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN)
            PQputCopyEnd(q->conn, "one COPY only");
        else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            rc = pipe_result(q, r, rc, "samples_insert");
        PQclear(r);
        if (PQstatus(q->conn) == CONNECTION_BAD && rc == CORIO_OK)
            rc = db_fail(q, "samples_insert", NULL);
    }
    return rc;
}

/* ---- message ids of the transaction ------------------------------------------------------ */

static size_t idset_slot(const struct idset *t, int64_t id)
{
    size_t i = (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15u) >> 20) & (t->cap - 1);
    while (t->state[i] != ID_EMPTY && t->id[i] != id)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static void idset_clear(struct idset *t)
{
    if (t->n)
        memset(t->state, ID_EMPTY, t->cap);
    t->n = 0;
}

/* Adds id as fresh; CORIO_OK or CORIO_ERR_NOSPACE. */
static int idset_add(struct idset *t, int64_t id)
{
    if (2 * (t->n + 1) > t->cap) {
        struct idset g = {.cap = t->cap ? 2 * t->cap : 1024};
        g.id = malloc(g.cap * sizeof *g.id);
        g.state = calloc(g.cap, 1);
        if (!g.id || !g.state) {
            free(g.id);
            free(g.state);
            return CORIO_ERR_NOSPACE;
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->state[i] != ID_EMPTY) {
                size_t k = idset_slot(&g, t->id[i]);
                g.id[k] = t->id[i];
                g.state[k] = t->state[i];
                g.n++;
            }
        free(t->id);
        free(t->state);
        *t = g;
    }
    size_t k = idset_slot(t, id);
    if (t->state[k] == ID_EMPTY) {
        t->id[k] = id;
        t->state[k] = ID_FRESH;
        t->n++;
    }
    return CORIO_OK;
}

static uint8_t idset_state(const struct idset *t, int64_t id)
{
    return t->cap ? t->state[idset_slot(t, id)] : ID_EMPTY;
}

static void idset_use(struct idset *t, int64_t id)
{
    if (t->cap) {
        size_t k = idset_slot(t, id);
        if (t->state[k] == ID_FRESH)
            t->state[k] = ID_USED;
    }
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void pg_close(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    if (q->conn) {
        settle(q);
        if (PQstatus(q->conn) == CONNECTION_OK && server_in_tx(q))
            exec_simple(q, "ROLLBACK", "rollback");
        PQfinish(q->conn);
    }
    free(q->cb.d);
    free(q->queue.arena.d);
    free(q->fresh.id);
    free(q->fresh.state);
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
    queue_clear(q);
    idset_clear(&q->fresh);
    int rc = ensure(q);
    if (rc != CORIO_OK)
        return rc;
    q->tx = q->tx_fresh = true;
    return q_stmt(q, S_BEGIN);
}

static int pg_commit(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    if (!q->tx)
        return CORIO_ERR_STATE;
    q->tx = false;
    idset_clear(&q->fresh);
    char status[32];
    int rc = q_stmt(q, S_COMMIT);
    if (rc == CORIO_OK)
        rc = pipe_send(q, NULL, status, sizeof status, "commit");
    if (rc != CORIO_OK)
        return rc;
    /* A COMMIT of a failed transaction answers ROLLBACK. */
    return strcmp(status, "COMMIT") == 0 ? CORIO_OK : db_fail(q, "commit", "rolled back");
}

static int pg_rollback(struct corio_store *s)
{
    struct pg_store *q = PG(s);
    queue_clear(q);
    idset_clear(&q->fresh);
    q->tx = false;
    settle(q); /* a failure of the COPY is what is being rolled back */
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

/* Queues an array parameter of ids. */
static void qa_ids(struct pg_store *q, const char *const *ids, size_t n)
{
    struct arr a = qa_begin(q, OID_TEXT);
    for (size_t i = 0; i < n; i++)
        ae_str(q, &a, ids[i]);
    qa_end(q, &a);
}

static int pg_lock_devices(struct corio_store *s, const char *const *ids, size_t n)
{
    struct pg_store *q = PG(s);
    /* Locked by the time the next statement (reading their state) runs. */
    int rc = q_stmt(q, S_LOCK_DEVICES);
    if (rc == CORIO_OK)
        qa_ids(q, ids, n);
    return rc;
}

static int pg_messages_insert(struct corio_store *s, const struct corio_msg_row *rows,
                              const char *const *mids, size_t n, int64_t *ref, uint8_t *is_new)
{
    struct pg_store *q = PG(s);
    memset(is_new, 0, n);
    memset(ref, 0, n * sizeof *ref);
    int rc = q_stmt(q, S_MESSAGES);
    if (rc != CORIO_OK)
        return rc;
    static const struct col cols[] = {
        COL(COL_TEXT, struct corio_msg_row, org),
        COL(COL_TEXT, struct corio_msg_row, device),
        COL_OPT(COL_OPT_I64, struct corio_msg_row, epoch, has_seq),
        COL_OPT(COL_OPT_I64, struct corio_msg_row, seq, has_seq),
        COL(COL_TEXT, struct corio_msg_row, gateway),
        COL(COL_I64, struct corio_msg_row, gw_epoch),
        COL(COL_I64, struct corio_msg_row, gw_id),
        COL(COL_TEXT, struct corio_msg_row, suffix),
        COL(COL_I64, struct corio_msg_row, recv_ms),
        COL(COL_I64, struct corio_msg_row, stored_ms),
    };
    qa_ids(q, mids, n);
    QA_COLUMNS(q, rows, n, cols, NULL, NULL);
    struct arr a = qa_begin(q, OID_INT2);
    for (size_t i = 0; i < n; i++)
        ae_i16(q, &a, (int16_t)rows[i].status);
    qa_end(q, &a);
    a = qa_begin(q, OID_TEXT);
    for (size_t i = 0; i < n; i++)
        ae_bytes(q, &a, rows[i].reason, rows[i].reason_len);
    qa_end(q, &a);
    PGresult *r;
    if ((rc = pipe_send(q, &r, NULL, 0, "messages_insert")) != CORIO_OK)
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
        if (q->tx && (rc = idset_add(&q->fresh, ref[k])) != CORIO_OK)
            break;
    }
    PQclear(r);
    return rc;
}

/* ---- samples ------------------------------------------------------------------------------ */

/* Big-endian stores at p, for the COPY rows written in place. */
static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    be32_at(p, v);
    return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    be32_at(p, (uint32_t)(v >> 32));
    be32_at(p + 4, (uint32_t)v);
    return p + 8;
}

static uint8_t *put_field(uint8_t *p, const void *d, size_t len)
{
    p = put_u32(p, (uint32_t)len);
    if (len)
        memcpy(p, d, len);
    return p + len;
}

/* One COPY row of samples(device, metric, t_ms, msg, org, v_num), and when all is true
 * v_str, v_bool, v_data too; written in place after one check of room (this runs for
 * every sample). */
static void cb_sample(struct cbuf *b, const struct corio_sample_row *r, bool all)
{
    const struct corio_value *v = &r->value;
    size_t ld = strlen(r->device), lm = strlen(r->metric), lo = strlen(r->org);
    size_t lv = v->kind == CORIO_VALUE_STR || v->kind == CORIO_VALUE_DATA ? v->len : 0;
    cb_need(b, 2 + 9 * 4 + ld + lm + lo + 3 * 8 + lv + 1);
    if (b->oom)
        return;
    uint8_t *p = put_u16(b->d + b->n, all ? 9 : 6);
    p = put_field(p, r->device, ld);
    p = put_field(p, r->metric, lm);
    p = put_u64(put_u32(p, 8), (uint64_t)r->t_ms);
    p = put_u64(put_u32(p, 8), (uint64_t)r->msg);
    p = put_field(p, r->org, lo);
    if (v->kind == CORIO_VALUE_NUM) {
        uint64_t bits;
        memcpy(&bits, &v->num, sizeof bits);
        p = put_u64(put_u32(p, 8), bits);
    } else {
        p = put_u32(p, 0xffffffffu);
    }
    if (!all) {
        b->n = (size_t)(p - b->d);
        return;
    }
    p = v->kind == CORIO_VALUE_STR ? put_field(p, v->str, lv) : put_u32(p, 0xffffffffu);
    if (v->kind == CORIO_VALUE_BOOL) {
        p = put_u32(p, 1);
        *p++ = v->b ? 1 : 0;
    } else {
        p = put_u32(p, 0xffffffffu);
    }
    p = v->kind == CORIO_VALUE_DATA ? put_field(p, v->data, lv) : put_u32(p, 0xffffffffu);
    b->n = (size_t)(p - b->d);
}

/* A series (device, metric) of the rows, and where its rows go in the order. */
struct series {
    const char *device, *metric;
    uint32_t id, start, fill;
};

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = a, *y = b;
    int c = strcmp(x->device, y->device);
    return c ? c : strcmp(x->metric, y->metric);
}

struct timed {
    int64_t t, msg;
    uint32_t i;
};

static int cmp_timed(const void *a, const void *b)
{
    const struct timed *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->msg != y->msg)
        return x->msg < y->msg ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static uint64_t series_hash(const char *device, const char *metric)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const char *c = device; *c; c++)
        h = (h ^ (uint8_t)*c) * 0x100000001b3u;
    h = (h ^ 0xff) * 0x100000001b3u;
    for (const char *c = metric; *c; c++)
        h = (h ^ (uint8_t)*c) * 0x100000001b3u;
    return h;
}

/* Orders a series' rows by time and message, which they usually are already. */
static int order_series(const struct corio_sample_row *rows, uint32_t *o, size_t n)
{
    size_t k = 1;
    while (k < n &&
           (rows[o[k - 1]].t_ms < rows[o[k]].t_ms ||
            (rows[o[k - 1]].t_ms == rows[o[k]].t_ms && rows[o[k - 1]].msg <= rows[o[k]].msg)))
        k++;
    if (k >= n)
        return CORIO_OK;
    struct timed *t = malloc(n * sizeof *t);
    if (!t)
        return CORIO_ERR_NOSPACE;
    for (size_t i = 0; i < n; i++)
        t[i] = (struct timed){rows[o[i]].t_ms, rows[o[i]].msg, o[i]};
    qsort(t, n, sizeof *t, cmp_timed);
    for (size_t i = 0; i < n; i++)
        o[i] = t[i].i;
    free(t);
    return CORIO_OK;
}

/*
 * The order in which the rows go into the COPY: the order of the samples' key (device,
 * metric, t_ms, msg), so that consecutive rows land on the same leaf of its index
 * instead of visiting every series' leaf once per message - about a fifth less work for
 * the server. The series are found with a hash table and only they are sorted. *out
 * (n entries) is malloc'd; CORIO_OK or CORIO_ERR_NOSPACE.
 */
static int key_order(const struct corio_sample_row *rows, size_t n, uint32_t **out)
{
    *out = NULL;
    if (n > UINT32_MAX / 4)
        return CORIO_ERR_NOSPACE;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = malloc(cap * sizeof *slot), *of = malloc(n * sizeof *of),
             *o = malloc(n * sizeof *o), *rank = NULL;
    struct series *sr = malloc(n * sizeof *sr);
    int rc = CORIO_ERR_NOSPACE;
    if (!slot || !of || !o || !sr)
        goto out;
    memset(slot, 0xff, cap * sizeof *slot);
    uint32_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        const char *d = rows[i].device, *m = rows[i].metric;
        size_t h = (size_t)series_hash(d, m) & (cap - 1);
        while (slot[h] != UINT32_MAX &&
               (strcmp(sr[slot[h]].device, d) != 0 || strcmp(sr[slot[h]].metric, m) != 0))
            h = (h + 1) & (cap - 1);
        if (slot[h] == UINT32_MAX) {
            sr[ns] = (struct series){.device = d, .metric = m, .id = ns};
            slot[h] = ns++;
        }
        of[i] = slot[h];
        sr[slot[h]].fill++;
    }
    qsort(sr, ns, sizeof *sr, cmp_series);
    if (!(rank = malloc(ns * sizeof *rank)))
        goto out;
    uint32_t at = 0;
    for (uint32_t k = 0; k < ns; k++) {
        rank[sr[k].id] = k;
        sr[k].start = at;
        at += sr[k].fill;
        sr[k].fill = 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct series *x = &sr[rank[of[i]]];
        o[x->start + x->fill++] = (uint32_t)i;
    }
    rc = CORIO_OK;
    for (uint32_t k = 0; rc == CORIO_OK && k < ns; k++)
        rc = order_series(rows, o + sr[k].start, sr[k].fill);
out:
    free(slot);
    free(of);
    free(sr);
    free(rank);
    if (rc == CORIO_OK)
        *out = o;
    else
        free(o);
    return rc;
}

#define COPY_CHUNK (64 * 1024)

/* Sends the COPY of the rows in the order o, the first rows built while the COPY's
 * query reaches the server and the rest as the server takes them. */
static int copy_rows(struct pg_store *q, const char *sql, const struct corio_sample_row *rows,
                     const uint32_t *o, size_t n, bool all)
{
    int rc = copy_open(q, sql, "samples_insert");
    if (rc != CORIO_OK)
        return rc;
    struct cbuf *b = &q->cb;
    cb_start(b);
    bool ready = false;
    for (size_t i = 0; rc == CORIO_OK && i <= n; i++) {
        if (i < n)
            cb_sample(b, &rows[o[i]], all);
        else
            cb_end(b);
        if (b->n < COPY_CHUNK && i < n)
            continue;
        if (!ready && (rc = copy_ready(q, "samples_insert")) != CORIO_OK)
            return rc; /* the query ended before its COPY */
        ready = true;
        rc = copy_put(q, b, "samples_insert");
    }
    if (rc == CORIO_OK && PQputCopyEnd(q->conn, NULL) != 1)
        rc = db_fail(q, "samples_insert", NULL);
    if (rc != CORIO_OK)
        PQputCopyEnd(q->conn, "the client stopped"); /* settle reads the end */
    return rc;
}

/*
 * Samples go straight into the partitioned table with one COPY. When each row's message
 * was made by this transaction and no COPY has used it yet, no row can meet a key that
 * exists (message ids come from a sequence): the COPY goes out and its result is read
 * by the next call that needs the connection (settle), so that the server stores the
 * samples while store.c works out rollups and sequence states - a failure then fails
 * that next call, and the transaction. Otherwise the COPY runs under a savepoint and
 * a duplicate key (the same sample added twice) sends the rows through INSERT ... ON
 * CONFLICT instead.
 */
static int pg_samples_insert(struct corio_store *s, const struct corio_sample_row *rows, size_t n,
                             uint8_t *inserted)
{
    struct pg_store *q = PG(s);
    if (n == 0)
        return CORIO_OK;
    uint32_t *o;
    int rc = key_order(rows, n, &o);
    if (rc != CORIO_OK)
        return rc;
    bool fresh = q->tx, all = false;
    for (size_t i = 0; i < n; i++) {
        fresh = fresh && idset_state(&q->fresh, rows[i].msg) == ID_FRESH;
        all = all || rows[i].value.kind != CORIO_VALUE_NUM;
    }
    if (fresh)
        for (size_t i = 0; i < n; i++)
            idset_use(&q->fresh, rows[i].msg);
    rc = copy_rows(q, sql_samples_copy[!fresh][all], rows, o, n, all);
    free(o);
    if (fresh) {
        if (rc == CORIO_OK)
            memset(inserted, 1, n);
        return rc;
    }
    q->dup_expected = true;
    int end = settle(q);
    q->dup_expected = false;
    if (rc == CORIO_OK)
        rc = end;
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
    if ((rc = q_stmt(q, S_SAMPLES)) != CORIO_OK)
        return rc;
    static const struct col cols[] = {
        COL(COL_TEXT, struct corio_sample_row, device),
        COL(COL_TEXT, struct corio_sample_row, metric),
        COL(COL_I64, struct corio_sample_row, t_ms),
        COL(COL_I64, struct corio_sample_row, msg),
        COL(COL_TEXT, struct corio_sample_row, org),
    };
    QA_COLUMNS(q, rows, n, cols, NULL, NULL);
    struct arr a = qa_begin(q, OID_FLOAT8);
    for (size_t i = 0; i < n; i++)
        ae_opt_f64(q, &a, rows[i].value.kind == CORIO_VALUE_NUM, rows[i].value.num);
    qa_end(q, &a);
    a = qa_begin(q, OID_TEXT);
    for (size_t i = 0; i < n; i++) {
        const struct corio_value *v = &rows[i].value;
        ae_bytes(q, &a, v->kind == CORIO_VALUE_STR ? (v->str ? v->str : "") : NULL, v->len);
    }
    qa_end(q, &a);
    a = qa_begin(q, OID_BOOL);
    for (size_t i = 0; i < n; i++)
        ae_opt_bool(q, &a, rows[i].value.kind == CORIO_VALUE_BOOL, rows[i].value.b);
    qa_end(q, &a);
    a = qa_begin(q, OID_BYTEA);
    for (size_t i = 0; i < n; i++) {
        const struct corio_value *v = &rows[i].value;
        ae_bytes(q, &a, v->kind == CORIO_VALUE_DATA ? (v->data ? v->data : (const void *)"") : NULL,
                 v->len);
    }
    qa_end(q, &a);
    PGresult *r;
    if ((rc = pipe_send(q, &r, NULL, 0, "samples_insert")) != CORIO_OK)
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

/* Queues the merge of one tier's rows. */
static bool rollup_of_tier(const void *row, const void *tier)
{
    return ((const struct corio_rollup_row *)row)->tier == *(const enum corio_tier *)tier;
}

static int rollups_tier(struct pg_store *q, const struct corio_rollup_row *rows, size_t n,
                        enum corio_tier tier)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += rows[i].tier == tier;
    if (k == 0)
        return CORIO_OK;
    int rc = q_stmt(q, tier == CORIO_TIER_1M ? S_ROLLUP_1M : S_ROLLUP_1H);
    if (rc != CORIO_OK)
        return rc;
    static const struct col cols[] = {
        COL(COL_TEXT, struct corio_rollup_row, device),
        COL(COL_TEXT, struct corio_rollup_row, metric),
        COL(COL_I64, struct corio_rollup_row, bucket_ms),
        COL(COL_TEXT, struct corio_rollup_row, org),
        COL(COL_F64, struct corio_rollup_row, min),
        COL(COL_F64, struct corio_rollup_row, max),
        COL(COL_F64, struct corio_rollup_row, sum),
        COL(COL_I64, struct corio_rollup_row, count),
    };
    QA_COLUMNS(q, rows, n, cols, rollup_of_tier, &tier);
    return CORIO_OK;
}

static int pg_rollups_merge(struct corio_store *s, const struct corio_rollup_row *rows, size_t n)
{
    struct pg_store *q = PG(s);
    int rc = rollups_tier(q, rows, n, CORIO_TIER_1M);
    return rc == CORIO_OK ? rollups_tier(q, rows, n, CORIO_TIER_1H) : rc;
}

static int pg_metrics_put(struct corio_store *s, const struct corio_metric_row *rows, size_t n)
{
    struct pg_store *q = PG(s);
    int rc = q_stmt(q, S_METRICS);
    if (rc != CORIO_OK)
        return rc;
    static const struct col cols[] = {
        COL(COL_TEXT, struct corio_metric_row, device),
        COL(COL_TEXT, struct corio_metric_row, name),
        COL(COL_TEXT, struct corio_metric_row, org),
        COL(COL_TEXT_EMPTY, struct corio_metric_row, unit),
    };
    QA_COLUMNS(q, rows, n, cols, NULL, NULL);
    struct arr a = qa_begin(q, OID_TEXT);
    for (size_t i = 0; i < n; i++) {
        char type[2] = {(char)rows[i].kind, 0};
        ae_str(q, &a, type);
    }
    qa_end(q, &a);
    return CORIO_OK;
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
    int rc = q_stmt(q, S_EPOCHS_LOAD);
    if (rc != CORIO_OK)
        return rc;
    qa_ids(q, ids, n);
    PGresult *r;
    if ((rc = pipe_send(q, &r, NULL, 0, "epochs_load")) != CORIO_OK)
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

static int pg_epochs_put(struct corio_store *s, const struct corio_epoch_row *rows, size_t n)
{
    struct pg_store *q = PG(s);
    int rc = q_stmt(q, S_EPOCHS_PUT);
    if (rc != CORIO_OK)
        return rc;
    static const struct col cols[] = {
        COL(COL_TEXT, struct corio_epoch_row, device),
        COL(COL_I64, struct corio_epoch_row, epoch),
        COL(COL_TEXT, struct corio_epoch_row, org),
        COL(COL_I64, struct corio_epoch_row, st.max_seq),
        COL(COL_I64, struct corio_epoch_row, st.stored),
        COL_OPT(COL_OPT_I64, struct corio_epoch_row, st.hb_last, st.has_hb),
        COL_OPT(COL_OPT_I64, struct corio_epoch_row, st.hb_pending, st.has_hb),
        COL_OPT(COL_OPT_I64, struct corio_epoch_row, st.hb_drops, st.has_hb),
        COL_OPT(COL_OPT_I64, struct corio_epoch_row, st.hb_ms, st.has_hb),
    };
    QA_COLUMNS(q, rows, n, cols, NULL, NULL);
    return CORIO_OK;
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
    int rc = q_stmt(q, S_DEVICES_PUT);
    if (rc != CORIO_OK)
        return rc;
    static const struct col cols[] = {
        COL(COL_TEXT, struct corio_device_update, id),
        COL(COL_TEXT, struct corio_device_update, org),
        COL(COL_I64, struct corio_device_update, seen_ms),
        COL(COL_TEXT, struct corio_device_update, gateway),
        COL(COL_BOOL, struct corio_device_update, has_epoch),
        COL(COL_I64, struct corio_device_update, epoch),
        COL(COL_I64, struct corio_device_update, epoch_ms),
        COL(COL_I64, struct corio_device_update, messages_delta),
    };
    QA_COLUMNS(q, u, n, cols, NULL, NULL);
    return CORIO_OK;
}

static int pg_counts_add(struct corio_store *s, const char *org, const struct corio_store_counts *d)
{
    struct pg_store *q = PG(s);
    int rc = q_stmt(q, S_COUNTS_ADD);
    if (rc != CORIO_OK)
        return rc;
    qp_text(q, org);
    qp_i64(q, q->shard);
    qp_i64(q, d->messages);
    qp_i64(q, d->samples);
    qp_i64(q, d->duplicates);
    qp_i64(q, d->rejected);
    qp_i64(q, d->batches);
    return CORIO_OK;
}

static int pg_batch_record(struct corio_store *s, const struct corio_batch_rec *b)
{
    struct pg_store *q = PG(s);
    int rc = q_stmt(q, S_BATCH_RECORD);
    if (rc != CORIO_OK)
        return rc;
    qp_text(q, b->gateway);
    qp_i64(q, b->gw_epoch);
    qp_i64(q, b->first_id);
    qp_text(q, b->org);
    qp_i64(q, b->last_id);
    qp_i64(q, b->received_ms);
    qp_i64(q, b->n_new);
    qp_i64(q, b->n_dup);
    qp_i64(q, b->n_rejected);
    PGresult *r;
    if ((rc = pipe_send(q, &r, NULL, 0, "batch_record")) != CORIO_OK)
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
