/* bench_query.c - a dashboard's month: 30 days of one device's metric sampled at 1 Hz
 * (2,592,000 samples, stored through corio-cloud's store, so with their rollups), asked
 * for at a 1-hour step, on SQLite and on PostgreSQL.
 *
 *   bench query_30d_1h_rollup_<db>   the query as the API answers it (from the 1-hour
 *                                    rollups), ms (median of 5, warm)
 *   limit query_30d_1h_raw_<db>      the same buckets computed from the raw samples, ms;
 *                                    the ratio is how much of the raw time is left
 * Both must give the same 720 buckets (checked). */
#include "bench_util.h"
#include "harness.h"

#define DAYS      30
#define PER_MSG   60  /* a message holds a minute */
#define PER_BATCH 100 /* messages a transaction */
#define HOUR_MS   3600000LL
#define REPEAT    5

static char DEVICE[CORIO_ID_LEN + 1];

static void load(struct corio_store *s, int64_t t0)
{
    struct workload w = {.devices = 1};
    wl_register(s, &w);
    int64_t nmsg = (int64_t)DAYS * 24 * 60;
    struct corio_msg_row *m = calloc(PER_BATCH, sizeof *m);
    struct corio_sample_row *r = calloc(PER_BATCH * PER_MSG, sizeof *r);
    int64_t *ref = calloc(PER_BATCH, sizeof *ref);
    uint8_t *is_new = calloc(PER_BATCH, 1), *ins = calloc(PER_BATCH * PER_MSG, 1);
    wl_device(0, DEVICE);
    const char *dev = DEVICE;
    const char *devs[1] = {dev};
    for (int64_t k0 = 0; k0 < nmsg; k0 += PER_BATCH) {
        int n = (int)(nmsg - k0 < PER_BATCH ? nmsg - k0 : PER_BATCH);
        for (int i = 0; i < n; i++) {
            int64_t t = t0 + (k0 + i) * 60000;
            m[i] = (struct corio_msg_row){.org = B_ORG,
                                          .device = dev,
                                          .has_seq = true,
                                          .epoch = 1,
                                          .seq = k0 + i + 1,
                                          .gateway = B_GW,
                                          .gw_epoch = 1,
                                          .gw_id = k0 + i + 1,
                                          .suffix = "up/json",
                                          .recv_ms = t + 60000,
                                          .stored_ms = t + 60000,
                                          .status = CORIO_MSG_STORED};
        }
        if (corio_store_begin(s) != CORIO_OK || corio_store_lock_devices(s, devs, 1) != CORIO_OK ||
            corio_store_add_messages(s, m, (size_t)n, ref, is_new) != n)
            bench_die("load: messages");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < PER_MSG; j++)
                r[i * PER_MSG + j] = (struct corio_sample_row){
                    .org = B_ORG,
                    .device = dev,
                    .metric = "temp",
                    .t_ms = t0 + (k0 + i) * 60000 + j * 1000,
                    .msg = ref[i],
                    .value = {.kind = CORIO_VALUE_NUM, .num = wl_value(k0 + i, j)}};
        if (corio_store_add_samples(s, r, NULL, (size_t)n * PER_MSG, ins) != n * PER_MSG)
            bench_die("load: samples");
        for (int i = 0; i < n; i++)
            if (corio_store_seq_stored(s, B_ORG, dev, 1, m[i].seq, m[i].recv_ms, m[i].recv_ms, NULL,
                                       NULL) != CORIO_OK)
                bench_die("load: sequence");
        if (corio_store_commit(s) != CORIO_OK)
            bench_die("load: commit");
    }
    free(m);
    free(r);
    free(ref);
    free(is_new);
    free(ins);
}

struct sum {
    int n;
    int64_t count;
    double total;
};

static int add_point(const struct corio_point *p, void *arg)
{
    struct sum *s = arg;
    s->n++;
    s->count += p->count;
    s->total += p->sum;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median time of the query, ms; tier RAW forces the raw samples. */
static double timed(struct corio_store *s, enum corio_tier tier, int64_t from, int64_t to,
                    struct sum *out)
{
    double t[REPEAT];
    for (int i = 0; i < REPEAT; i++) {
        struct sum sum = {0};
        double t0 = bench_now();
        int rc = s->ops->series(s, B_ORG, DEVICE, "temp", tier, from, to, HOUR_MS, 100000,
                                add_point, &sum);
        t[i] = (bench_now() - t0) * 1000;
        if (rc != CORIO_OK)
            bench_die("query failed: %s", corio_strerror(rc));
        *out = sum;
    }
    qsort(t, REPEAT, sizeof t[0], cmp_double);
    return t[REPEAT / 2];
}

static void measure(struct corio_store *s, const char *db, int64_t t0)
{
    int64_t to = t0 + (int64_t)DAYS * 24 * HOUR_MS;
    struct sum a, b;
    double rollup = timed(s, CORIO_TIER_1H, t0, to, &a);
    double raw = timed(s, CORIO_TIER_RAW, t0, to, &b);
    if (a.n != DAYS * 24 || b.n != DAYS * 24 || a.count != (int64_t)DAYS * 86400 ||
        b.count != a.count || a.total != b.total)
        bench_die("%s: rollups and raw samples disagree (%d/%d buckets, %lld/%lld samples)", db,
                  a.n, b.n, (long long)a.count, (long long)b.count);
    char name[64];
    snprintf(name, sizeof name, "query_30d_1h_rollup_%s", db);
    bench_print(name, rollup, "ms");
    snprintf(name, sizeof name, "query_30d_1h_raw_%s", db);
    bench_limit(name, raw, "ms", rollup);
}

int main(void)
{
    int64_t now = bench_wall_ms();
    int64_t t0 = (now - (int64_t)DAYS * 24 * HOUR_MS) / HOUR_MS * HOUR_MS - HOUR_MS;
    char err[256];

    const char *path = h_strf("%s/query.db", h_mkdir("sqlite"));
    struct corio_store *s;
    if (corio_store_open_sqlite(path, &s, err, sizeof err) != CORIO_OK)
        bench_die("%s", err);
    load(s, t0);
    measure(s, "sqlite", t0);
    corio_store_close(s);

    struct h_pg *pg = h_pg_start(&(struct h_pg_opts){.dbname = "query"});
    if (!pg)
        bench_die("cannot start PostgreSQL");
    if (corio_store_open_pg(pg->conninfo, &s, err, sizeof err) != CORIO_OK)
        bench_die("%s", err);
    /* A month of day partitions, as a deployment keeping raw samples 31 days has. */
    struct corio_retention keep = {.raw_ms = 31 * 24 * HOUR_MS};
    if (corio_store_maintain(s, &keep, now) != CORIO_OK)
        bench_die("partitions");
    load(s, t0);
    /* Fresh statistics, as autovacuum would have after a month. */
    if (h_pg_sql(pg, "VACUUM ANALYZE", NULL) != 0)
        bench_die("vacuum");
    measure(s, "pg", t0);
    corio_store_close(s);
    return h_done(0);
}
