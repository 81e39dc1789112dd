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

static double raw_rate(const char *path, const struct workload *w)
{
    sqlite3 *db;
    char err[256];
    if (corio_sqlite_open(path, 0, 0, &db, err, sizeof err) != CORIO_OK)
        bench_die("%s", err);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO samples(device, metric, t_ms, msg, org, v_num) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        bench_die("prepare: %s", sqlite3_errmsg(db));
    char (*dev)[CORIO_ID_LEN + 1] = calloc((size_t)w->devices, sizeof *dev);
    for (int d = 0; d < w->devices; d++)
        wl_device(d, dev[d]);
    int64_t rows = 0;
    double t = bench_now();
    for (int b = 0; b < w->batches; b++) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (int i = 0; i < w->per_batch; i++) {
            int64_t k = (int64_t)b * w->per_batch + i, seq, ts;
            int d;
            wl_message(w, k, &d, &seq, &ts);
            for (int m = 0; m < w->metrics; m++) {
                sqlite3_reset(st);
                sqlite3_bind_text(st, 1, dev[d], CORIO_ID_LEN, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, wl_metric_names[m], -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, ts);
                sqlite3_bind_int64(st, 4, k + 1);
                sqlite3_bind_text(st, 5, B_ORG, CORIO_ID_LEN, SQLITE_STATIC);
                sqlite3_bind_double(st, 6, wl_value(k, m));
                if (sqlite3_step(st) != SQLITE_DONE)
                    bench_die("insert: %s", sqlite3_errmsg(db));
                rows++;
            }
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            bench_die("commit: %s", sqlite3_errmsg(db));
    }
    t = bench_now() - t;
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(dev);
    return (double)rows / t;
}

int main(void)
{
    struct workload w = {.devices = 50,
                         .metrics = 10,
                         .per_batch = 500,
                         .batches = 120,
                         .t0 = (bench_wall_ms() / 1000 - 7200) * 1000};
    const char *dir = h_mkdir("sqlite");
    char path[600];

    /* The limit first: an empty table of the same schema. */
    struct corio_store *s = fresh(dir, "raw", path, sizeof path);
    corio_store_close(s);
    double raw = raw_rate(path, &w);

    s = fresh(dir, "store", path, sizeof path);
    wl_register(s, &w);
    struct wl_rows r;
    wl_rows_init(&r, &w);
    int64_t samples = 0;
    double t = bench_now();
    for (int b = 0; b < w.batches; b++)
        samples += wl_store_batch(s, &w, &r, b);
    t = bench_now() - t;
    wl_rows_free(&r);
    corio_store_close(s);
    if (samples != (int64_t)w.batches * w.per_batch * w.metrics)
        bench_die("store: %" PRId64 " samples stored, not all", samples);
    double store = (double)samples / t;
    bench_print("store_sqlite", store, "samples/s");
    bench_limit("sqlite_raw_insert", raw, "samples/s", store);

    s = fresh(dir, "ingest", path, sizeof path);
    wl_register(s, &w);
    struct wl_batches x;
    wl_batches_make(&x, &w);
    double ingest = wl_ingest_rate(s, &w, &x);
    wl_batches_free(&x);
    corio_store_close(s);
    bench_print("ingest_sqlite", ingest, "samples/s");
    bench_limit("sqlite_raw_insert", raw, "samples/s", ingest);
    return h_done(0);
}
