/* bench_store_sqlite.c - telemetry into corio-cloud's SQLite store, next to SQLite
 * inserting the same sample rows into the same table with nothing else to do.
 *
 *   bench store_sqlite     samples/s through the store (messages by identity, samples,
 *                          rollups, descriptors, counters, sequence accounting; one
 *                          transaction per gateway batch)
 *   bench ingest_sqlite    the same batches as SenML JSON through the whole ingest
 *                          (decode, store, live events)
 *   limit sqlite_raw_insert  the same sample rows, one prepared INSERT each, one
 *                          transaction per batch, into a fresh database of the same schema
 * Each database is a fresh file (WAL, synchronous=NORMAL, as corio-cloud opens it). */
#include "bench_ingest_workload.h"
#include "corio_sqlite.h"
#include "harness.h"

static struct corio_store *fresh(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s.db", dir, name);
    struct corio_store *s;
    char err[256];
    if (corio_store_open_sqlite(path, &s, err, sizeof err) != CORIO_OK)
        bench_die("%s: %s", path, err);
    return s;
}

struct raw {
    sqlite3 *db;
    sqlite3_stmt *st;
    char (*dev)[CORIO_ID_LEN + 1];
};

static void raw_open(struct raw *r, const char *path, const struct workload *w)
{
    char err[256];
    if (corio_sqlite_open(path, 0, 0, &r->db, err, sizeof err) != CORIO_OK)
        bench_die("%s", err);
    if (sqlite3_prepare_v2(r->db,
                           "INSERT INTO samples(device, metric, t_ms, msg, org, v_num) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &r->st, NULL) != SQLITE_OK)
        bench_die("prepare: %s", sqlite3_errmsg(r->db));
    r->dev = calloc((size_t)w->devices, sizeof *r->dev);
    for (int d = 0; d < w->devices; d++)
        wl_device(d, r->dev[d]);
}

static void raw_close(struct raw *r)
{
    sqlite3_finalize(r->st);
    sqlite3_close(r->db);
    free(r->dev);
}

/* Batch b's sample rows, one prepared INSERT each, in one transaction. */
static void raw_batch(struct raw *r, const struct workload *w, int b)
{
    sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    for (int i = 0; i < w->per_batch; i++) {
        int64_t k = (int64_t)b * w->per_batch + i, seq, ts;
        int d;
        wl_message(w, k, &d, &seq, &ts);
        for (int m = 0; m < w->metrics; m++) {
            sqlite3_reset(r->st);
            sqlite3_bind_text(r->st, 1, r->dev[d], CORIO_ID_LEN, SQLITE_STATIC);
            sqlite3_bind_text(r->st, 2, wl_metric_names[m], -1, SQLITE_STATIC);
            sqlite3_bind_int64(r->st, 3, ts);
            sqlite3_bind_int64(r->st, 4, k + 1);
            sqlite3_bind_text(r->st, 5, B_ORG, CORIO_ID_LEN, SQLITE_STATIC);
            sqlite3_bind_double(r->st, 6, wl_value(k, m));
            if (sqlite3_step(r->st) != SQLITE_DONE)
                bench_die("insert: %s", sqlite3_errmsg(r->db));
        }
    }
    if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        bench_die("commit: %s", sqlite3_errmsg(r->db));
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
    const char *dir = h_mkdir("sqlite");
    char path[600];

    /* Three databases of the same schema, written batch by batch in turn, so that all
     * three see the same machine (others' load comes and goes). */
    struct corio_store *s = fresh(dir, "raw", path, sizeof path);
    corio_store_close(s);
    struct raw raw;
    raw_open(&raw, path, &w);
    struct corio_store *st = fresh(dir, "store", path, sizeof path);
    wl_register(st, &w);
    struct corio_store *ing = fresh(dir, "ingest", path, sizeof path);
    wl_register(ing, &w);
    struct corio_ingest *ig;
    struct corio_ingest_opts io = {.store = ing, .verifier = corio_cloud_cose_verifier};
    if (corio_ingest_new(&io, &ig) != CORIO_OK)
        bench_die("ingest: cannot start");
    struct wl_rows r;
    wl_rows_init(&r, &w);
    struct wl_batches x;
    wl_batches_make(&x, &w);
    double t_raw = 0, t_store = 0, t_ingest = 0;
    int64_t stored = 0, ingested = 0;
    for (int b = 0; b < w.batches; b++) {
        double t = bench_now();
        raw_batch(&raw, &w, b);
        t_raw += bench_now() - t;
        t = bench_now();
        stored += wl_store_batch(st, &w, &r, b);
        t_store += bench_now() - t;
        t = bench_now();
        ingested += wl_ingest_batch(ig, &x, b);
        t_ingest += bench_now() - t;
    }
    int64_t all = (int64_t)w.batches * w.per_batch * w.metrics;
    if (stored != all || ingested != all)
        bench_die("not every sample was stored (%" PRId64 ", %" PRId64 ")", stored, ingested);
    double rraw = (double)all / t_raw, rstore = (double)all / t_store,
           ringest = (double)all / t_ingest;
    bench_print("store_sqlite", rstore, "samples/s");
    bench_limit("sqlite_raw_insert", rraw, "samples/s", rstore);
    bench_print("ingest_sqlite", ringest, "samples/s");
    bench_limit("sqlite_raw_insert", rraw, "samples/s", ringest);
    wl_batches_free(&x);
    wl_rows_free(&r);
    corio_ingest_free(ig);
    corio_store_close(ing);
    corio_store_close(st);
    raw_close(&raw);
    return h_done(0);
}
