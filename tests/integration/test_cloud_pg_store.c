/* test_cloud_pg_store.c - corio-cloud's storage on a real PostgreSQL 15 (started by the
 * harness): the whole storage suite (test_cloud_store_suite.h), a fresh database per
 * test, then what only PostgreSQL has - daily partitions made ahead and filled from the
 * default partition, retention dropping whole days, reconnecting after the server
 * restarted, and two writers on one device at once (device locks: no lost update of
 * the sequence state, no deadlock). */
#include "../unit/test_cloud_store_suite.h"

#include <pthread.h>
#include <sys/time.h>

#include <libpq-fe.h>

#define DAY (24 * HOUR)

static struct h_pg *PGS;
static int db_counter;

static char *pg_fresh(void)
{
    char name[32];
    snprintf(name, sizeof name, "t%d", ++db_counter);
    if (h_pg_sql(PGS, h_strf("CREATE DATABASE %s", name), NULL) != 0)
        return NULL;
    return strdup(h_strf("host=127.0.0.1 port=%d dbname=%s user=postgres", PGS->port, name));
}

static void pg_discard(char *where)
{
    free(where);
}

static int pg_open(const char *where, struct corio_store **s, char *err, size_t errlen)
{
    return corio_store_open_pg(where, s, err, errlen);
}

static char *pg_dump(const char *where, const char *sql)
{
    PGconn *c = PQconnectdb(where);
    if (PQstatus(c) != CONNECTION_OK) {
        print_error("dump: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        print_error("dump: %s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        return NULL;
    }
    struct corio_buf b = CORIO_BUF_INIT(64 << 20);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int k = 0; k < PQnfields(r); k++)
            corio_buf_printf(&b, "%s%s", k ? "|" : "",
                             PQgetisnull(r, i, k) ? "NULL" : PQgetvalue(r, i, k));
        corio_buf_addstr(&b, "\n");
    }
    PQclear(r);
    PQfinish(c);
    char *out = corio_buf_take(&b, NULL);
    return out ? out : strdup("");
}

static void pg_exec(const char *where, const char *sql)
{
    PGconn *c = PQconnectdb(where);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static void pg_set_version(const char *where, int version)
{
    char sql[80];
    snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d", version);
    pg_exec(where, sql);
}

static void pg_schema_extra(const char *where)
{
    /* Samples are partitioned by time, with a default partition. */
    char *kind = pg_dump(where, "SELECT partstrat FROM pg_partitioned_table "
                                "WHERE partrelid = 'samples'::regclass");
    assert_string_equal(kind, "r\n");
    free(kind);
    char *def = pg_dump(where, "SELECT count(*) FROM pg_class WHERE relname = 'samples_default'");
    assert_string_equal(def, "1\n");
    free(def);
}

static const struct backend pg_backend = {
    .name = "postgres",
    .fresh = pg_fresh,
    .discard = pg_discard,
    .open = pg_open,
    .dump = pg_dump,
    .version_sql = "SELECT version FROM schema_version",
    .schema_version = corio_store_pg_schema_version,
    .set_version = pg_set_version,
    .schema_extra = pg_schema_extra,
};

/* ---- what only PostgreSQL has ----------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* One message of DEV with one numeric sample at t; returns whether it was new. */
static int put_one(struct corio_store *s, const char *dev, int64_t seq, int64_t t, double v)
{
    struct corio_msg_row m = {.org = ORG,
                              .device = dev,
                              .has_seq = true,
                              .epoch = 1,
                              .seq = seq,
                              .gateway = GW,
                              .gw_epoch = 1,
                              .gw_id = seq,
                              .suffix = "up/json",
                              .recv_ms = t,
                              .stored_ms = t,
                              .status = CORIO_MSG_STORED};
    int64_t ref;
    int rc = corio_store_add_message(s, &m, &ref);
    if (rc != 1)
        return rc;
    struct corio_sample_row r = {.org = ORG,
                                 .device = dev,
                                 .metric = "temp",
                                 .t_ms = t,
                                 .msg = ref,
                                 .value = {.kind = CORIO_VALUE_NUM, .num = v}};
    assert_int_equal(corio_store_add_sample(s, &r, "Cel"), 1);
    assert_int_equal(corio_store_seq_stored(s, ORG, dev, 1, seq, t, t, NULL, NULL), CORIO_OK);
    return 1;
}

struct count_pts {
    int n;
    double sum;
};

static int count_pt(const struct corio_point *p, void *arg)
{
    struct count_pts *c = arg;
    c->n++;
    c->sum += p->value.num;
    return 0;
}

static char *where_of(const char *table)
{
    return h_strf("SELECT count(*) FROM %s", table);
}

static void test_partitions_ahead_moved_and_dropped(void **state)
{
    struct fx *f = *state;
    int64_t now = wall_ms();
    /* Opening made yesterday to a week ahead. */
    char *parts = pg_dump(f->where, "SELECT count(*) FROM pg_inherits "
                                    "WHERE inhparent = 'samples'::regclass");
    assert_true(atoi(parts) >= 9 + 1);
    free(parts);

    /* Three and four days ago have no partition yet: those rows land in the default. */
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(put_one(f->s, DEV, 1 + i, now - 3 * DAY + i * 1000, i), 1);
        assert_int_equal(put_one(f->s, DEV, 11 + i, now - 4 * DAY + i * 1000, i), 1);
        assert_int_equal(put_one(f->s, DEV, 21 + i, now - HOUR + i * 1000, 100 + i), 1);
    }
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);
    char *def = pg_dump(f->where, where_of("samples_default"));
    assert_string_equal(def, "20\n");
    free(def);
    struct count_pts before = {0};
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", now - 5 * DAY, now, 0, 1000, count_pt, &before),
        CORIO_OK);
    assert_int_equal(before.n, 30);

    /* Keeping raw samples five days: their days get partitions and their rows move. */
    struct corio_retention r = {.raw_ms = 5 * DAY};
    assert_int_equal(corio_store_maintain(f->s, &r, now), CORIO_OK);
    def = pg_dump(f->where, where_of("samples_default"));
    assert_string_equal(def, "0\n");
    free(def);
    char name[32];
    time_t t3 = (time_t)((now - 3 * DAY) / 1000);
    struct tm tm;
    gmtime_r(&t3, &tm);
    strftime(name, sizeof name, "samples_%Y%m%d", &tm);
    char *day3 = pg_dump(f->where, where_of(name));
    assert_true(atoi(day3) >= 1); /* the day's rows (10, or split over two days) */
    free(day3);
    struct count_pts after = {0};
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", now - 5 * DAY, now, 0, 1000, count_pt, &after),
        CORIO_OK);
    assert_int_equal(after.n, before.n);
    assert_true(after.sum == before.sum);
    /* Again: nothing to do, nothing changes. */
    assert_int_equal(corio_store_maintain(f->s, &r, now), CORIO_OK);
    assert_int_equal(corio_store_maintain(f->s, &r, now), CORIO_OK);

    /* Two days of raw samples: the older days go, whole partitions first. */
    r.raw_ms = 2 * DAY;
    int64_t deleted = -1;
    assert_int_equal(corio_store_retain(f->s, &r, now, &deleted), CORIO_OK);
    assert_int_equal(deleted, 20);
    char *gone =
        pg_dump(f->where, h_strf("SELECT count(*) FROM pg_class WHERE relname = '%s'", name));
    assert_string_equal(gone, "0\n");
    free(gone);
    struct count_pts left = {0};
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", now - 5 * DAY, now, 0, 1000, count_pt, &left),
        CORIO_OK);
    assert_int_equal(left.n, 10);
    /* Rollups and the sequence state are not samples: they stay. */
    struct dev_capture c = device_of(f->s, ORG, DEV);
    assert_int_equal(c.last_seq[0], 30);
    assert_int_equal(c.missing[0], 0);
}

static void test_reconnects_after_restart(void **state)
{
    struct fx *f = *state;
    int64_t now = wall_ms();
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    assert_int_equal(put_one(f->s, DEV, 1, now, 1), 1);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    /* The server goes away in the middle of a transaction. */
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    assert_int_equal(put_one(f->s, DEV, 2, now + 1, 2), 1);
    assert_int_equal(h_pg_crash(PGS), CORIO_OK);
    assert_int_equal(corio_store_commit(f->s), CORIO_ERR_IO);
    assert_int_equal(corio_store_rollback(f->s), CORIO_OK);
    /* While it is down, calls fail cleanly. */
    assert_int_equal(corio_store_ping(f->s), CORIO_ERR_IO);
    assert_int_equal(corio_store_begin(f->s), CORIO_ERR_IO);
    assert_int_equal(h_pg_restart(PGS), CORIO_OK);

    /* Back: the next calls reconnect, and the lost transaction left nothing. */
    assert_int_equal(corio_store_ping(f->s), CORIO_OK);
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    assert_int_equal(put_one(f->s, DEV, 2, now + 1, 2), 1);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);
    struct dev_capture c = device_of(f->s, ORG, DEV);
    assert_int_equal(c.last_seq[0], 2);
    assert_int_equal(c.messages[0], 2);
    assert_int_equal(c.missing[0], 0);
}

/* Two writers on the same devices. */
struct writer {
    const char *where;
    int first, step; /* the seqs it writes: first, first + step, ... */
    int batches, per_batch;
    int failures;
    int stored;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct corio_store *s;
    char err[256];
    if (corio_store_open_pg(w->where, &s, err, sizeof err) != CORIO_OK) {
        w->failures++;
        return NULL;
    }
    int seq = w->first;
    for (int b = 0; b < w->batches; b++) {
        /* Every batch names both devices, in an order of its own: the store locks them
         * in one order, so the writers cannot deadlock. */
        const char *ids[2] = {w->first % 2 ? DEV : DEV2, w->first % 2 ? DEV2 : DEV};
        enum { MAXB = 16 };
        struct corio_msg_row rows[2 * MAXB];
        int64_t ref[2 * MAXB];
        uint8_t is_new[2 * MAXB];
        int n = 0;
        for (int i = 0; i < w->per_batch; i++, seq += w->step) {
            for (int d = 0; d < 2; d++)
                rows[n++] = (struct corio_msg_row){.org = ORG,
                                                   .device = ids[d],
                                                   .has_seq = true,
                                                   .epoch = 1,
                                                   .seq = seq,
                                                   .gateway = GW,
                                                   .gw_epoch = 1,
                                                   .gw_id = seq * 2 + d,
                                                   .suffix = "up/json",
                                                   .recv_ms = T0 + seq,
                                                   .stored_ms = T0,
                                                   .status = CORIO_MSG_STORED};
        }
        bool ok = corio_store_begin(s) == CORIO_OK &&
                  corio_store_lock_devices(s, ids, 2) == CORIO_OK &&
                  corio_store_add_messages(s, rows, (size_t)n, ref, is_new) >= 0;
        for (int i = 0; ok && i < n; i++)
            if (is_new[i]) {
                w->stored++;
                ok = corio_store_seq_stored(s, ORG, rows[i].device, 1, rows[i].seq, rows[i].recv_ms,
                                            T0, NULL, NULL) == CORIO_OK;
            }
        if (!ok || corio_store_commit(s) != CORIO_OK) {
            corio_store_rollback(s);
            w->failures++;
        }
    }
    corio_store_close(s);
    return NULL;
}

static void test_two_writers_one_device(void **state)
{
    struct fx *f = *state;
    /* A writes 1..80 step 1 (with overlap), B writes 41..120: the overlap (41..80) is
     * stored once, whoever comes first. */
    struct writer a = {.where = f->where, .first = 1, .step = 1, .batches = 10, .per_batch = 8};
    struct writer b = {.where = f->where, .first = 41, .step = 1, .batches = 10, .per_batch = 8};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, writer_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, writer_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.failures, 0);
    assert_int_equal(b.failures, 0);
    assert_int_equal(a.stored + b.stored, 2 * 120);
    const char *devs[] = {DEV, DEV2};
    for (int d = 0; d < 2; d++) {
        char *st = pg_dump(f->where, h_strf("SELECT max_seq, stored FROM device_epochs "
                                            "WHERE device = '%s' AND epoch = 1",
                                            devs[d]));
        assert_string_equal(st, "120|120\n");
        free(st);
        struct dev_capture c = device_of(f->s, ORG, devs[d]);
        assert_int_equal(c.missing[0], 0);
        assert_int_equal(c.messages[0], 120);
    }
    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.counts.messages, 240);
    assert_int_equal(st.counts.duplicates, 80);
    assert_int_equal(st.missing, 0);
}

int main(void)
{
    /* No fsync: a test needs no power-cut safety, and commits still reach the kernel
     * before they are acknowledged, so a crashed server (h_pg_crash) keeps them. */
    static const char *const conf[] = {"fsync = off", "full_page_writes = off", NULL};
    PGS = h_pg_start(&(struct h_pg_opts){.dbname = "corio", .conf = conf});
    if (!PGS)
        return h_done(1);
    int failures = store_suite_run(&pg_backend, "cloud_store.postgres");
    suite_backend = &pg_backend;
    const struct CMUnitTest pg_only[] = {
        SUITE_T(test_partitions_ahead_moved_and_dropped),
        SUITE_T(test_reconnects_after_restart),
        SUITE_T(test_two_writers_one_device),
    };
    failures += cmocka_run_group_tests_name("cloud_store.postgres_only", pg_only, NULL, NULL);
    return h_done(failures);
}
