/* bench_store_pg.c - telemetry into corio-cloud's PostgreSQL store, next to a raw COPY
 * of the same sample rows into the same (partitioned, indexed) table, on one PostgreSQL
 * 15 server that the harness starts with its default, durable settings.
 *
 *   bench store_pg          samples/s through the store (as bench_store_sqlite.c says)
 *   bench ingest_pg         the same batches as SenML JSON through the whole ingest
 *   limit pg_raw_copy       the same rows, one binary COPY and one commit per batch, into
 *                           a fresh database of the same schema, in the order they come
 *                           (message after message)
 *   limit pg_raw_copy_keyed the same again in the order of the table's key (device,
 *                           metric, time), the order in which the store COPYs them
 */
#include <libpq-fe.h>

#include "bench_ingest_workload.h"
#include "harness.h"

static struct corio_store *fresh(struct h_pg *pg, const char *db, const char **conninfo)
{
    if (h_pg_sql(pg, h_strf("CREATE DATABASE %s", db), NULL) != 0)
        bench_die("cannot create database %s", db);
    *conninfo = h_strf("host=127.0.0.1 port=%d dbname=%s user=postgres", pg->port, db);
    struct corio_store *s;
    char err[256];
    if (corio_store_open_pg(*conninfo, &s, err, sizeof err) != CORIO_OK)
        bench_die("%s: %s", db, err);
    return s;
}

/* PostgreSQL's binary COPY format, as the store writes it. */
struct buf {
    uint8_t *d;
    size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        if (!(b->d = realloc(b->d, b->cap)))
            bench_die("out of memory");
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_u16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 2);
}

static void put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void put_i64(struct buf *b, int64_t v)
{
    put_u32(b, 8);
    put_u32(b, (uint32_t)((uint64_t)v >> 32));
    put_u32(b, (uint32_t)v);
}

static void put_text(struct buf *b, const char *s)
{
    put_u32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}

static void exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        bench_die("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Sample m of message k as a COPY row. */
static void put_sample(struct buf *b, const struct workload *w, char (*dev)[CORIO_ID_LEN + 1],
                       int64_t k, int m)
{
    int64_t seq, ts;
    int d;
    wl_message(w, k, &d, &seq, &ts);
    double v = wl_value(k, m);
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u16(b, 6);
    put_text(b, dev[d]);
    put_text(b, wl_metric_names[m]);
    put_i64(b, ts);
    put_i64(b, k + 1);
    put_text(b, B_ORG);
    put_i64(b, (int64_t)bits);
}

static int cmp_metric(const void *a, const void *b)
{
    return strcmp(wl_metric_names[*(const int *)a], wl_metric_names[*(const int *)b]);
}

/* The raw COPY of batch bt's sample rows, and its commit; keyed: in the order of the
 * table's key (device numbers sort as their ids do). */
static void raw_batch(PGconn *c, const struct workload *w, char (*dev)[CORIO_ID_LEN + 1],
                      struct buf *b, int bt, bool keyed)
{
    static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    b->n = 0;
    put(b, sig, sizeof sig);
    put_u32(b, 0);
    put_u32(b, 0);
    int64_t first = (int64_t)bt * w->per_batch, end = first + w->per_batch;
    if (keyed) {
        int ms[sizeof wl_metric_names / sizeof wl_metric_names[0]];
        for (int m = 0; m < w->metrics; m++)
            ms[m] = m;
        qsort(ms, (size_t)w->metrics, sizeof ms[0], cmp_metric);
        for (int d = 0; d < w->devices; d++)
            for (int m = 0; m < w->metrics; m++)
                for (int64_t k = first + (d - first % w->devices + w->devices) % w->devices;
                     k < end; k += w->devices)
                    put_sample(b, w, dev, k, ms[m]);
    } else {
        for (int64_t k = first; k < end; k++)
            for (int m = 0; m < w->metrics; m++)
                put_sample(b, w, dev, k, m);
    }
    put_u16(b, 0xffff);
    exec(c, "BEGIN");
    PGresult *r = PQexec(c, "COPY samples(device, metric, t_ms, msg, org, v_num) "
                            "FROM STDIN (FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN)
        bench_die("COPY: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (PQputCopyData(c, (const char *)b->d, (int)b->n) != 1 || PQputCopyEnd(c, NULL) != 1)
        bench_die("COPY: %s", PQerrorMessage(c));
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            bench_die("COPY: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    exec(c, "COMMIT");
}

int main(void)
{
    /* BENCH_DEVICES changes the gateway's devices (and so the seconds of each device a
     * batch holds: 500 messages / devices). */
    const char *nd = getenv("BENCH_DEVICES");
    struct workload w = {.devices = nd && atoi(nd) > 0 && atoi(nd) <= 500 ? atoi(nd) : 50,
                         .metrics = 10,
                         .per_batch = 500,
                         .batches = 120,
                         .t0 = (bench_wall_ms() / 1000 - 7200) * 1000};
    /* To see where the time goes: BENCH_PG_LOG=1 (with CORIO_TEST_KEEP=1) logs every
     * statement's duration in the server's log; BENCH_PG_STATS=1 prints, at the end, each
     * statement's total server time per database (pg_stat_statements). */
    static const char *const log_all[] = {"log_min_duration_statement = 0", NULL};
    static const char *const stats[] = {"shared_preload_libraries = 'pg_stat_statements'",
                                        "pg_stat_statements.track_utility = on", NULL};
    bool want_stats = getenv("BENCH_PG_STATS") != NULL;
    struct h_pg *pg = h_pg_start(&(struct h_pg_opts){.dbname = "corio",
                                                     .conf = want_stats               ? stats
                                                             : getenv("BENCH_PG_LOG") ? log_all
                                                                                      : NULL});
    if (!pg)
        bench_die("cannot start PostgreSQL");

    /* Four databases of the same schema, written batch by batch in turn, so that all
     * four see the same machine (others' load comes and goes). */
    const char *ci;
    PGconn *raw[2];
    for (int i = 0; i < 2; i++) {
        struct corio_store *s = fresh(pg, i ? "rawkeyed" : "raw", &ci);
        corio_store_close(s);
        raw[i] = PQconnectdb(ci);
        if (PQstatus(raw[i]) != CONNECTION_OK)
            bench_die("%s", PQerrorMessage(raw[i]));
    }
    struct corio_store *st = fresh(pg, "store", &ci);
    wl_register(st, &w);
    struct corio_store *ing = fresh(pg, "ingest", &ci);
    wl_register(ing, &w);
    struct corio_ingest *ig;
    struct corio_ingest_opts io = {.store = ing, .verifier = corio_cloud_cose_verifier};
    if (corio_ingest_new(&io, &ig) != CORIO_OK)
        bench_die("ingest: cannot start");
    struct wl_rows r;
    wl_rows_init(&r, &w);
    struct wl_batches x;
    wl_batches_make(&x, &w);
    char(*dev)[CORIO_ID_LEN + 1] = calloc((size_t)w.devices, sizeof *dev);
    for (int d = 0; d < w.devices; d++)
        wl_device(d, dev[d]);
    struct buf b = {0};
    double t_raw[2] = {0, 0}, t_store = 0, t_ingest = 0;
    int64_t stored = 0, ingested = 0;
    for (int bt = 0; bt < w.batches; bt++) {
        double t;
        for (int i = 0; i < 2; i++) {
            t = bench_now();
            raw_batch(raw[i], &w, dev, &b, bt, i == 1);
            t_raw[i] += bench_now() - t;
        }
        t = bench_now();
        stored += wl_store_batch(st, &w, &r, bt);
        t_store += bench_now() - t;
        t = bench_now();
        ingested += wl_ingest_batch(ig, &x, bt);
        t_ingest += bench_now() - t;
    }
    int64_t all = (int64_t)w.batches * w.per_batch * w.metrics;
    if (stored != all || ingested != all)
        bench_die("not every sample was stored (%" PRId64 ", %" PRId64 ")", stored, ingested);
    double rraw = (double)all / t_raw[0], rkeyed = (double)all / t_raw[1],
           rstore = (double)all / t_store, ringest = (double)all / t_ingest;
    bench_print("store_pg", rstore, "samples/s");
    bench_limit("pg_raw_copy", rraw, "samples/s", rstore);
    bench_limit("pg_raw_copy_keyed", rkeyed, "samples/s", rstore);
    bench_print("ingest_pg", ringest, "samples/s");
    bench_limit("pg_raw_copy", rraw, "samples/s", ringest);
    bench_limit("pg_raw_copy_keyed", rkeyed, "samples/s", ringest);
    char *out = NULL;
    if (want_stats &&
        h_pg_sql(pg, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements", NULL) == 0 &&
        h_pg_sql(pg,
                 h_strf("SELECT d.datname, s.calls, round(s.total_exec_time::numeric, 1), "
                        "s.wal_bytes, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 80) "
                        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                        "WHERE s.calls >= %d ORDER BY 1, 3 DESC",
                        w.batches),
                 &out) == 0)
        fprintf(stderr, "database|calls|server ms|WAL bytes|statement\n%s\n", out);
    free(b.d);
    free(dev);
    wl_batches_free(&x);
    wl_rows_free(&r);
    corio_ingest_free(ig);
    corio_store_close(ing);
    corio_store_close(st);
    PQfinish(raw[0]);
    PQfinish(raw[1]);
    return h_done(0);
}
