/* test_cloud_store_suite.h - the test suite of corio-cloud's storage interface
 * (cloud/store.h), written once and run against each backend: SQLite in
 * tests/unit/test_cloud_store.c, PostgreSQL (a real server from the harness) in
 * tests/integration/test_cloud_pg_store.c. Identity and idempotence, rollups equal to a
 * recomputation from raw samples, gap accounting under out-of-order arrival, tail gaps
 * from heartbeats, presence, queries per organisation, series tiers, retention, and the
 * many-row calls giving what the single ones give.
 *
 * The including file defines its `struct backend` (below) and calls
 * store_suite_run(&backend, name). Each test gets a fresh, empty database. */
#ifndef CORIO_TEST_CLOUD_STORE_SUITE_H
#define CORIO_TEST_CLOUD_STORE_SUITE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <math.h>

#include "corio/error.h"
#include "corio_buf.h"
#include "harness.h"
#include "store.h"

#define ORG     "oooooooooooooooooooooooo"
#define ORG2    "pppppppppppppppppppppppp"
#define GW      "gggggggggggggggggggggggg"
#define GW2     "hhhhhhhhhhhhhhhhhhhhhhhh"
#define DEV     "dddddddddddddddddddddddd"
#define DEV2    "eeeeeeeeeeeeeeeeeeeeeeee"
#define FOREIGN "ffffffffffffffffffffffff"

#define T0   1764500000000LL /* 2025-11-30T10:53:20Z */
#define HOUR 3600000LL

/* A backend as the suite drives it. `where` names one database: a directory holding
 * cloud.db, or a libpq connection string. */
struct backend {
    const char *name;
    /* A fresh, empty database: malloc'd `where`, or NULL. */
    char *(*fresh)(void);
    /* Removes what fresh made (the database may still be open elsewhere: no). */
    void (*discard)(char *where);
    int (*open)(const char *where, struct corio_store **s, char *err, size_t errlen);
    /* Every row of the query's result, one line per row, columns separated by '|', NULL
     * for a null; malloc'd, or NULL when the query fails. */
    char *(*dump)(const char *where, const char *sql);
    const char *version_sql; /* answers the schema version */
    int (*schema_version)(void);
    void (*set_version)(const char *where, int version);
    void (*schema_extra)(const char *where); /* backend-specific checks; may be NULL */
};

struct fx {
    const struct backend *be;
    char *where;
    struct corio_store *s;
};

static const struct backend *suite_backend;

static int suite_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->be = suite_backend;
    f->where = f->be->fresh();
    assert_non_null(f->where);
    char err[256];
    int rc = f->be->open(f->where, &f->s, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("open: %s", err);
    assert_int_equal(corio_store_put_org(f->s, ORG, "Org one"), CORIO_OK);
    assert_int_equal(corio_store_put_org(f->s, ORG2, "Org two"), CORIO_OK);
    struct corio_gateway_rec g = {.id = GW, .org = ORG};
    assert_int_equal(corio_store_put_gateway(f->s, &g), CORIO_OK);
    struct corio_gateway_rec g2 = {.id = GW2, .org = ORG2};
    assert_int_equal(corio_store_put_gateway(f->s, &g2), CORIO_OK);
    struct corio_device_rec d = {.id = DEV, .org = ORG, .gateway = GW, .cls = "sensor"};
    assert_int_equal(corio_store_put_device(f->s, &d), CORIO_OK);
    struct corio_device_rec d2 = {.id = DEV2, .org = ORG, .model = "m2"};
    assert_int_equal(corio_store_put_device(f->s, &d2), CORIO_OK);
    struct corio_device_rec d3 = {.id = FOREIGN, .org = ORG2};
    assert_int_equal(corio_store_put_device(f->s, &d3), CORIO_OK);
    *state = f;
    return 0;
}

static int suite_teardown(void **state)
{
    struct fx *f = *state;
    corio_store_close(f->s);
    f->be->discard(f->where);
    free(f);
    return 0;
}

/* ---- helpers: the sequence of calls the ingest makes for one message --------------- */

struct sample_spec {
    const char *metric;
    int64_t t_ms;
    double v;
};

struct gap_log {
    struct corio_gap g[32];
    int n;
};

static int log_gap(const struct corio_gap *g, void *arg)
{
    struct gap_log *l = arg;
    if (l && l->n < 32)
        l->g[l->n++] = *g;
    return 0;
}

/* Stores one device message with a seq and its numeric samples, as ingest does: message
 * first, samples and seq accounting only when it is new. Returns add_message's answer. */
static int put_msg(struct corio_store *s, const char *dev, int64_t epoch, int64_t seq,
                   int64_t gw_id, int64_t recv_ms, const struct sample_spec *smp, int n,
                   struct gap_log *gaps)
{
    struct corio_msg_row m = {.org = ORG,
                              .device = dev,
                              .has_seq = true,
                              .epoch = epoch,
                              .seq = seq,
                              .gateway = GW,
                              .gw_epoch = 7,
                              .gw_id = gw_id,
                              .suffix = "up/json",
                              .recv_ms = recv_ms,
                              .stored_ms = recv_ms + 5,
                              .status = CORIO_MSG_STORED};
    int64_t ref = -1;
    int rc = corio_store_add_message(s, &m, &ref);
    assert_true(rc == 0 || rc == 1);
    if (rc == 1) {
        assert_true(ref >= 0);
        for (int i = 0; i < n; i++) {
            struct corio_sample_row r = {.org = ORG,
                                         .device = dev,
                                         .metric = smp[i].metric,
                                         .t_ms = smp[i].t_ms,
                                         .msg = ref,
                                         .value = {.kind = CORIO_VALUE_NUM, .num = smp[i].v}};
            assert_int_equal(corio_store_add_sample(s, &r, "Cel"), 1);
        }
        assert_int_equal(
            corio_store_seq_stored(s, ORG, dev, epoch, seq, recv_ms, recv_ms + 5, log_gap, gaps),
            CORIO_OK);
    }
    return rc;
}

struct dev_capture {
    int n;
    char id[8][CORIO_ID_LEN + 1];
    bool online[8];
    bool has_seen[8], has_epoch[8];
    int64_t last_seen[8], epoch[8], last_seq[8], messages[8], missing[8];
    size_t nmetrics[8];
    char metrics[8][4][CORIO_METRIC_MAX + 1];
    char gateway[8][CORIO_ID_LEN + 1];
};

static int capture_dev(const struct corio_device_info *d, void *arg)
{
    struct dev_capture *c = arg;
    if (c->n >= 8)
        return 0;
    int i = c->n++;
    snprintf(c->id[i], sizeof c->id[i], "%s", d->id);
    snprintf(c->gateway[i], sizeof c->gateway[i], "%s", d->gateway);
    c->online[i] = d->online;
    c->has_seen[i] = d->has_seen;
    c->has_epoch[i] = d->has_epoch;
    c->last_seen[i] = d->last_seen_ms;
    c->epoch[i] = d->epoch;
    c->last_seq[i] = d->last_seq;
    c->messages[i] = d->messages;
    c->missing[i] = d->missing;
    c->nmetrics[i] = d->nmetrics;
    for (size_t k = 0; k < d->nmetrics && k < 4; k++)
        snprintf(c->metrics[i][k], sizeof c->metrics[i][k], "%s", d->metrics[k]);
    return 0;
}

static struct dev_capture device_of(struct corio_store *s, const char *org, const char *id)
{
    struct dev_capture c = {0};
    assert_int_equal(corio_store_device(s, org, id, capture_dev, &c), CORIO_OK);
    assert_int_equal(c.n, 1);
    return c;
}

static int64_t missing_of(struct corio_store *s, const char *dev, struct gap_log *gl)
{
    int64_t missing = -1;
    struct gap_log tmp = {0};
    assert_int_equal(corio_store_gaps(s, ORG, dev, log_gap, gl ? gl : &tmp, &missing), CORIO_OK);
    return missing;
}

/* ---- schema -------------------------------------------------------------------------- */

static void test_schema_version_and_reopen(void **state)
{
    struct fx *f = *state;
    char *v = f->be->dump(f->where, f->be->version_sql);
    assert_non_null(v);
    char want[16];
    snprintf(want, sizeof want, "%d\n", f->be->schema_version());
    assert_string_equal(v, want);
    free(v);
    if (f->be->schema_extra)
        f->be->schema_extra(f->where);

    /* Reopening keeps what was registered. */
    corio_store_close(f->s);
    char err[256];
    assert_int_equal(f->be->open(f->where, &f->s, err, sizeof err), CORIO_OK);
    char org[CORIO_ID_LEN + 1];
    assert_int_equal(corio_store_device_org(f->s, DEV, org), CORIO_OK);
    assert_string_equal(org, ORG);

    /* A database from a newer program is refused, not downgraded. */
    corio_store_close(f->s);
    f->s = NULL;
    f->be->set_version(f->where, f->be->schema_version() + 1);
    assert_int_equal(f->be->open(f->where, &f->s, err, sizeof err), CORIO_ERR_VERSION);
    assert_null(f->s);
    assert_non_null(strstr(err, "newer"));
}

/* ---- registry ------------------------------------------------------------------------ */

static void test_registry(void **state)
{
    struct fx *f = *state;
    char org[CORIO_ID_LEN + 1];
    assert_int_equal(corio_store_device_org(f->s, FOREIGN, org), CORIO_OK);
    assert_string_equal(org, ORG2);
    assert_int_equal(corio_store_device_org(f->s, "zzzzzzzzzzzzzzzzzzzzzzzz", org),
                     CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_store_device_org(f->s, "short", org), CORIO_ERR_INVAL);

    struct corio_gateway_rec g = {.id = GW, .org = ORG, .pubkey_len = 65, .key_no = 2};
    for (int i = 0; i < 65; i++)
        g.pubkey[i] = (uint8_t)(i + 1);
    assert_int_equal(corio_store_put_gateway(f->s, &g), CORIO_OK);
    struct corio_gateway_rec out;
    assert_int_equal(corio_store_get_gateway(f->s, GW, &out), CORIO_OK);
    assert_string_equal(out.org, ORG);
    assert_int_equal(out.pubkey_len, 65);
    assert_memory_equal(out.pubkey, g.pubkey, 65);
    assert_int_equal(out.key_no, 2);
    assert_int_equal(corio_store_get_gateway(f->s, "zzzzzzzzzzzzzzzzzzzzzzzz", &out),
                     CORIO_ERR_NOTFOUND);

    /* Ids are short ids: upper case, wrong length and non-base32 digits are refused. */
    struct corio_device_rec bad = {.id = "DDDDDDDDDDDDDDDDDDDDDDDD", .org = ORG};
    assert_int_equal(corio_store_put_device(f->s, &bad), CORIO_ERR_INVAL);
    bad.id = "dddddddddddddddddddddddd1";
    assert_int_equal(corio_store_put_device(f->s, &bad), CORIO_ERR_INVAL);
    bad.id = "ddddddddddddddddddddddd1";
    assert_int_equal(corio_store_put_device(f->s, &bad), CORIO_ERR_INVAL);
    g.pubkey_len = 33;
    assert_int_equal(corio_store_put_gateway(f->s, &g), CORIO_ERR_INVAL);

    /* Re-registering changes the registry fields but keeps the pinned gateway. */
    struct corio_device_rec d = {.id = DEV, .org = ORG, .cls = "meter"};
    assert_int_equal(corio_store_put_device(f->s, &d), CORIO_OK);
    struct dev_capture c = device_of(f->s, ORG, DEV);
    assert_string_equal(c.gateway[0], GW);
}

/* ---- identity and idempotence -------------------------------------------------------- */

static void test_message_identity(void **state)
{
    struct fx *f = *state;
    struct corio_msg_row m = {.org = ORG,
                              .device = DEV,
                              .has_seq = true,
                              .epoch = 3,
                              .seq = 9,
                              .gateway = GW,
                              .gw_epoch = 77,
                              .gw_id = 1000,
                              .suffix = "up/json",
                              .recv_ms = T0,
                              .stored_ms = T0,
                              .status = CORIO_MSG_STORED};
    char mid[CORIO_MID_MAX + 1];
    corio_store_message_id(&m, mid, sizeof mid);
    assert_string_equal(mid, "d:" DEV ":3:9");

    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    int64_t ref;
    assert_int_equal(corio_store_add_message(f->s, &m, &ref), 1);
    /* The same device identity through another gateway row (a resend after an outbox
     * was recreated) is the same message. */
    m.gw_epoch = 78;
    m.gw_id = 5;
    assert_int_equal(corio_store_add_message(f->s, &m, &ref), 0);

    /* Without a device seq the gateway identity is used. */
    struct corio_msg_row hb = {.org = ORG,
                               .device = DEV,
                               .gateway = GW,
                               .gw_epoch = 77,
                               .gw_id = 1001,
                               .suffix = "up/hb",
                               .recv_ms = T0,
                               .stored_ms = T0,
                               .status = CORIO_MSG_STORED};
    corio_store_message_id(&hb, mid, sizeof mid);
    assert_string_equal(mid, "g:" GW ":77:1001");
    assert_int_equal(corio_store_add_message(f->s, &hb, &ref), 1);
    assert_int_equal(corio_store_add_message(f->s, &hb, &ref), 0);

    struct corio_msg_row rej = hb;
    rej.gw_id = 1002;
    rej.status = CORIO_MSG_REJECTED;
    rej.reason = "not SenML";
    assert_int_equal(corio_store_add_message(f->s, &rej, &ref), 1);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.counts.messages, 2);
    assert_int_equal(st.counts.duplicates, 2);
    assert_int_equal(st.counts.rejected, 1);

    char *reason =
        f->be->dump(f->where, "SELECT status, reason FROM messages WHERE mid = 'g:" GW ":77:1002'");
    assert_string_equal(reason, "1|not SenML\n");
    free(reason);

    /* Only messages with a device seq count as the device's messages. */
    struct dev_capture c = device_of(f->s, ORG, DEV);
    assert_int_equal(c.messages[0], 1);
    assert_true(c.has_seen[0]);
    assert_int_equal(c.last_seen[0], T0);

    /* Bad rows are refused before they reach the database. */
    struct corio_msg_row bad = m;
    bad.seq = 0;
    assert_int_equal(corio_store_add_message(f->s, &bad, &ref), CORIO_ERR_INVAL);
    bad = m;
    bad.device = NULL;
    assert_int_equal(corio_store_add_message(f->s, &bad, &ref), CORIO_ERR_INVAL);
}

/* The rows ingest writes, excluding the counters that count deliveries. */
static const char *const DUMP_TABLES[] = {
    "SELECT mid, org, device, epoch, seq, suffix, recv_ms, status FROM messages ORDER BY mid",
    "SELECT * FROM samples ORDER BY device, metric, t_ms, msg",
    "SELECT * FROM rollup_1m ORDER BY device, metric, bucket_ms",
    "SELECT * FROM rollup_1h ORDER BY device, metric, bucket_ms",
    "SELECT * FROM device_epochs ORDER BY device, epoch",
    "SELECT * FROM gaps ORDER BY device, epoch, from_seq",
    "SELECT * FROM metrics ORDER BY device, name",
    "SELECT id, online, last_seen_ms, epoch, messages FROM devices ORDER BY id",
    "SELECT messages, samples, rejected FROM counters ORDER BY org",
};

static char *dump_all(struct fx *f)
{
    struct corio_buf b = CORIO_BUF_INIT(64 << 20);
    for (size_t i = 0; i < sizeof DUMP_TABLES / sizeof DUMP_TABLES[0]; i++) {
        char *t = f->be->dump(f->where, DUMP_TABLES[i]);
        assert_non_null(t);
        corio_buf_printf(&b, "-- %s\n%s", DUMP_TABLES[i], t);
        free(t);
    }
    char *out = corio_buf_take(&b, NULL);
    return out ? out : strdup("");
}

/* A deterministic batch of messages with gaps, out of order, several metrics. */
static void put_batch(struct corio_store *s, int *new_count)
{
    static const int seqs[] = {1, 2, 5, 3, 9, 8, 4, 12};
    int n = 0;
    assert_int_equal(corio_store_begin(s), CORIO_OK);
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        int64_t seq = seqs[i];
        struct sample_spec smp[] = {
            {"temp", T0 + seq * 20000, 20.0 + (double)seq * 0.25},
            {"hum", T0 + seq * 20000, 40.0 - (double)seq * 0.5},
        };
        n += put_msg(s, DEV, 1, seq, 100 + seq, T0 + seq * 20000 + 50, smp, 2, NULL);
    }
    assert_int_equal(corio_store_commit(s), CORIO_OK);
    if (new_count)
        *new_count = n;
}

static void test_idempotent_reinsert(void **state)
{
    struct fx *f = *state;
    int n;
    put_batch(f->s, &n);
    assert_int_equal(n, 8);
    char *before = dump_all(f);
    put_batch(f->s, &n);
    assert_int_equal(n, 0);
    put_batch(f->s, &n);
    char *after = dump_all(f);
    assert_string_equal(before, after);
    free(before);
    free(after);

    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.counts.messages, 8);
    assert_int_equal(st.counts.samples, 16);
    assert_int_equal(st.counts.duplicates, 16);
    /* Stored 1,2,3,4,5,8,9,12: missing 6,7,10,11. */
    assert_int_equal(st.missing, 4);
}

static void test_rollback_leaves_nothing(void **state)
{
    struct fx *f = *state;
    char *before = dump_all(f);
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    struct sample_spec smp[] = {{"temp", T0, 1.0}};
    assert_int_equal(put_msg(f->s, DEV, 1, 5, 1, T0, smp, 1, NULL), 1);
    assert_int_equal(corio_store_rollback(f->s), CORIO_OK);
    char *after = dump_all(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* Transactions do not nest. */
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    assert_int_equal(corio_store_begin(f->s), CORIO_ERR_STATE);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);
    assert_int_equal(corio_store_commit(f->s), CORIO_ERR_STATE);
}

/* ---- rollups ------------------------------------------------------------------------- */

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void test_rollups_equal_recomputation(void **state)
{
    struct fx *f = *state;
    /* 400 messages over three hours, each with two samples, a quarter of them delivered
     * twice, some at the same time as another message (a second sample at one t). */
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    for (int i = 1; i <= 400; i++) {
        int64_t t = T0 + (int64_t)(rnd() % (3 * HOUR));
        if (i % 7 == 0)
            t = T0 + 120000; /* several messages share one time */
        struct sample_spec smp[] = {
            {"temp", t, (double)(int)(rnd() % 400) * 0.25 - 20.0},
            {"hum", t + 1, (double)(int)(rnd() % 100) * 0.5},
        };
        const char *dev = (i % 3) ? DEV : DEV2;
        assert_int_equal(put_msg(f->s, dev, 1, i, i, t, smp, 2, NULL), 1);
        if (i % 4 == 0)
            assert_int_equal(put_msg(f->s, dev, 1, i, i, t, smp, 2, NULL), 0);
    }
    /* A string and a boolean sample take no part in rollups. */
    int64_t ref;
    struct corio_msg_row m = {.org = ORG,
                              .device = DEV,
                              .gateway = GW,
                              .gw_epoch = 1,
                              .gw_id = 9999,
                              .suffix = "up/json",
                              .recv_ms = T0,
                              .stored_ms = T0,
                              .status = CORIO_MSG_STORED};
    assert_int_equal(corio_store_add_message(f->s, &m, &ref), 1);
    struct corio_sample_row sr = {.org = ORG,
                                  .device = DEV,
                                  .metric = "temp",
                                  .t_ms = T0 + 5,
                                  .msg = ref,
                                  .value = {.kind = CORIO_VALUE_STR, .str = "hot", .len = 3}};
    assert_int_equal(corio_store_add_sample(f->s, &sr, NULL), 1);
    sr.value = (struct corio_value){.kind = CORIO_VALUE_BOOL, .b = true};
    sr.t_ms = T0 + 6;
    assert_int_equal(corio_store_add_sample(f->s, &sr, NULL), 1);
    assert_int_equal(corio_store_add_sample(f->s, &sr, NULL), 0);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    static const char *const pairs[][2] = {
        {"SELECT device, metric, bucket_ms, min, max, sum, count FROM rollup_1m "
         "ORDER BY 1, 2, 3",
         "SELECT device, metric, (t_ms / 60000) * 60000 AS b, min(v_num), max(v_num), "
         "sum(v_num), count(v_num) FROM samples WHERE v_num IS NOT NULL GROUP BY 1, 2, 3 "
         "ORDER BY 1, 2, 3"},
        {"SELECT device, metric, bucket_ms, min, max, sum, count FROM rollup_1h "
         "ORDER BY 1, 2, 3",
         "SELECT device, metric, (t_ms / 3600000) * 3600000 AS b, min(v_num), max(v_num), "
         "sum(v_num), count(v_num) FROM samples WHERE v_num IS NOT NULL GROUP BY 1, 2, 3 "
         "ORDER BY 1, 2, 3"},
    };
    for (size_t i = 0; i < 2; i++) {
        char *roll = f->be->dump(f->where, pairs[i][0]);
        char *raw = f->be->dump(f->where, pairs[i][1]);
        assert_non_null(roll);
        assert_non_null(raw);
        assert_true(strlen(raw) > 100);
        assert_string_equal(roll, raw);
        free(roll);
        free(raw);
    }
    char *n = f->be->dump(f->where, "SELECT count(*) FROM samples");
    assert_string_equal(n, "802\n");
    free(n);
}

/* ---- gap accounting ------------------------------------------------------------------ */

static void expect_gaps(struct corio_store *s, const char *dev, const char *want)
{
    struct gap_log gl = {0};
    int64_t missing = missing_of(s, dev, &gl);
    char got[512] = "";
    int64_t sum = 0;
    for (int i = 0; i < gl.n; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s%s%lld:%lld-%lld", i ? " " : "",
                 gl.g[i].kind == CORIO_GAP_TAIL ? "tail@" : "", (long long)gl.g[i].epoch,
                 (long long)gl.g[i].from_seq, (long long)gl.g[i].to_seq);
        strcat(got, one);
        sum += gl.g[i].to_seq - gl.g[i].from_seq + 1;
    }
    assert_string_equal(got, want);
    assert_int_equal(missing, sum);
    struct dev_capture c = device_of(s, ORG, dev);
    assert_int_equal(c.missing[0], sum);
}

static void test_gaps_out_of_order(void **state)
{
    struct fx *f = *state;
    struct gap_log ev = {0};
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    put_msg(f->s, DEV, 1, 1, 1, T0, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "");
    put_msg(f->s, DEV, 1, 6, 2, T0 + 1, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "1:2-5");
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.g[0].from_seq, 2);
    assert_int_equal(ev.g[0].to_seq, 5);
    assert_int_equal(ev.g[0].detected_ms, T0 + 1 + 5);

    /* Filling the middle splits the gap; both pieces keep the detection time. */
    put_msg(f->s, DEV, 1, 4, 3, T0 + 2, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "1:2-3 1:5-5");
    assert_int_equal(ev.n, 3);
    assert_int_equal(ev.g[1].detected_ms, T0 + 6);
    assert_int_equal(ev.g[2].detected_ms, T0 + 6);
    /* Filling an edge shrinks it. */
    put_msg(f->s, DEV, 1, 2, 4, T0 + 3, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "1:3-3 1:5-5");
    put_msg(f->s, DEV, 1, 5, 5, T0 + 4, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "1:3-3");
    /* A duplicate of a stored seq changes nothing. */
    assert_int_equal(put_msg(f->s, DEV, 1, 5, 55, T0 + 5, NULL, 0, &ev), 0);
    expect_gaps(f->s, DEV, "1:3-3");
    put_msg(f->s, DEV, 1, 3, 6, T0 + 6, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "");

    /* The first message of an epoch at seq 10 opens [1, 9]; epochs are independent. */
    put_msg(f->s, DEV, 2, 10, 7, T0 + 7, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "2:1-9");
    put_msg(f->s, DEV, 1, 8, 8, T0 + 8, NULL, 0, &ev);
    expect_gaps(f->s, DEV, "1:7-7 2:1-9");
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    /* The current epoch is the one of the most recently received message. */
    struct dev_capture c = device_of(f->s, ORG, DEV);
    assert_true(c.has_epoch[0]);
    assert_int_equal(c.epoch[0], 1);
    assert_int_equal(c.last_seq[0], 8);
    assert_int_equal(c.messages[0], 8);

    /* An old message of epoch 2 received earlier does not switch the epoch back. */
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    put_msg(f->s, DEV, 2, 11, 9, T0 + 100, NULL, 0, &ev);
    put_msg(f->s, DEV, 1, 9, 10, T0 + 50, NULL, 0, &ev);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);
    c = device_of(f->s, ORG, DEV);
    assert_int_equal(c.epoch[0], 2);
    assert_int_equal(c.last_seq[0], 11);
}

static void test_gaps_random_orders(void **state)
{
    struct fx *f = *state;
    /* Whatever the arrival order, once every seq of 1..N is stored no gap is left, and
     * at every step missing = (highest stored) - (stored count). */
    enum { N = 60 };
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i + 1;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint32_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    int64_t max = 0;
    for (int i = 0; i < N; i++) {
        put_msg(f->s, DEV2, 4, order[i], order[i], T0 + i, NULL, 0, NULL);
        if (order[i] > max)
            max = order[i];
        assert_int_equal(missing_of(f->s, DEV2, NULL), max - (i + 1));
    }
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);
    expect_gaps(f->s, DEV2, "");
}

static void test_tail_gaps(void **state)
{
    struct fx *f = *state;
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    for (int seq = 1; seq <= 3; seq++)
        put_msg(f->s, DEV, 1, seq, seq, T0 + seq, NULL, 0, NULL);

    /* last 7, pending 2: 4 and 5 were acknowledged by the gateway but are not here. */
    struct corio_gap tail;
    assert_int_equal(corio_store_heartbeat(f->s, ORG, DEV, 1, 7, 2, 0, T0 + 10, &tail), 1);
    assert_int_equal(tail.kind, CORIO_GAP_TAIL);
    assert_int_equal(tail.from_seq, 4);
    assert_int_equal(tail.to_seq, 5);
    assert_int_equal(tail.detected_ms, T0 + 10);
    expect_gaps(f->s, DEV, "tail@1:4-5");
    /* The same tail again is no news; an older heartbeat changes nothing. */
    assert_int_equal(corio_store_heartbeat(f->s, ORG, DEV, 1, 7, 2, 0, T0 + 11, &tail), 0);
    assert_int_equal(corio_store_heartbeat(f->s, ORG, DEV, 1, 9, 0, 0, T0 + 5, &tail), 0);
    expect_gaps(f->s, DEV, "tail@1:4-5");

    /* Message 5 arrives: 4 becomes a seq gap, the tail is gone; nothing was lost from
     * the count. */
    put_msg(f->s, DEV, 1, 5, 5, T0 + 12, NULL, 0, NULL);
    expect_gaps(f->s, DEV, "1:4-4");
    /* Everything pending: no tail. */
    assert_int_equal(corio_store_heartbeat(f->s, ORG, DEV, 1, 9, 4, 1, T0 + 13, &tail), 0);
    expect_gaps(f->s, DEV, "1:4-4");
    /* A heartbeat of an epoch that has no stored message yet: all acknowledged ones are
     * missing. */
    assert_int_equal(corio_store_heartbeat(f->s, ORG, DEV, 2, 3, 0, 0, T0 + 14, &tail), 1);
    expect_gaps(f->s, DEV, "1:4-4 tail@2:1-3");
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.missing, 4);

    /* Pending above last is nonsense and refused. */
    assert_int_equal(corio_store_heartbeat(f->s, ORG, DEV, 1, 3, 4, 0, T0 + 20, &tail),
                     CORIO_ERR_INVAL);
}

/* ---- presence and devices ------------------------------------------------------------ */

static void test_presence(void **state)
{
    struct fx *f = *state;
    struct dev_capture c = device_of(f->s, ORG, DEV2);
    assert_false(c.online[0]);
    assert_false(c.has_seen[0]);
    assert_false(c.has_epoch[0]);

    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    assert_int_equal(corio_store_presence(f->s, ORG, DEV2, GW, true, T0 + 100), 1);
    /* An older offline record arriving late does not flip it. */
    assert_int_equal(corio_store_presence(f->s, ORG, DEV2, GW, false, T0 + 50), 0);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);
    c = device_of(f->s, ORG, DEV2);
    assert_true(c.online[0]);
    assert_int_equal(c.last_seen[0], T0 + 100);
    assert_string_equal(c.gateway[0], GW);

    assert_int_equal(corio_store_presence(f->s, ORG, DEV2, GW, false, T0 + 200), 1);
    c = device_of(f->s, ORG, DEV2);
    assert_false(c.online[0]);
    assert_int_equal(c.last_seen[0], T0 + 200);

    /* Presence for a device of another organisation changes nothing. */
    assert_int_equal(corio_store_presence(f->s, ORG, FOREIGN, GW, true, T0 + 300), 0);
    struct dev_capture fc = device_of(f->s, ORG2, FOREIGN);
    assert_false(fc.online[0]);
}

static void test_devices_per_org(void **state)
{
    struct fx *f = *state;
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    struct sample_spec smp[] = {{"temp", T0, 21.5}, {"hum", T0, 40.0}, {"vib", T0, 0.02}};
    put_msg(f->s, DEV, 1, 1, 1, T0, smp, 3, NULL);
    put_msg(f->s, DEV, 1, 3, 2, T0 + 1000, smp, 1, NULL);
    assert_int_equal(corio_store_presence(f->s, ORG, DEV, GW, true, T0 + 10), 1);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    struct dev_capture c = {0};
    assert_int_equal(corio_store_devices(f->s, ORG, capture_dev, &c), CORIO_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.id[0], DEV);
    assert_string_equal(c.id[1], DEV2);
    assert_true(c.online[0]);
    assert_int_equal(c.last_seen[0], T0 + 1000);
    assert_int_equal(c.epoch[0], 1);
    assert_int_equal(c.last_seq[0], 3);
    assert_int_equal(c.messages[0], 2);
    assert_int_equal(c.missing[0], 1);
    assert_int_equal(c.nmetrics[0], 3);
    assert_string_equal(c.metrics[0][0], "hum");
    assert_string_equal(c.metrics[0][1], "temp");
    assert_string_equal(c.metrics[0][2], "vib");
    assert_int_equal(c.nmetrics[1], 0);

    /* The other organisation sees only its own device, and not ours by id. */
    struct dev_capture o = {0};
    assert_int_equal(corio_store_devices(f->s, ORG2, capture_dev, &o), CORIO_OK);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.id[0], FOREIGN);
    assert_int_equal(corio_store_device(f->s, ORG2, DEV, capture_dev, &o), CORIO_ERR_NOTFOUND);
    int64_t missing;
    assert_int_equal(corio_store_gaps(f->s, ORG2, DEV, log_gap, NULL, &missing),
                     CORIO_ERR_NOTFOUND);
    struct corio_metric_info mi;
    assert_int_equal(corio_store_metric(f->s, ORG2, DEV, "temp", &mi), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_store_metric(f->s, ORG, DEV, "temp", &mi), CORIO_OK);
    assert_string_equal(mi.unit, "Cel");
    assert_int_equal(mi.kind, CORIO_VALUE_NUM);
    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG2, &st), CORIO_OK);
    assert_int_equal(st.devices, 1);
    assert_int_equal(st.counts.messages, 0);
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.devices, 2);
    assert_int_equal(st.online, 1);
    assert_int_equal(st.counts.messages, 2);
    assert_int_equal(st.counts.samples, 4);
}

/* ---- series -------------------------------------------------------------------------- */

struct pts {
    int n;
    struct corio_point p[256];
    char str[256][16];
};

static int collect_pt(const struct corio_point *p, void *arg)
{
    struct pts *c = arg;
    if (c->n >= 256)
        return 1;
    c->p[c->n] = *p;
    if (p->value.kind == CORIO_VALUE_STR)
        snprintf(c->str[c->n], sizeof c->str[0], "%.*s", (int)p->value.len, p->value.str);
    c->n++;
    return 0;
}

static void test_series_tiers(void **state)
{
    struct fx *f = *state;
    /* One sample every 15 s for 3 hours from an hour boundary: value = minute index. */
    int64_t base = (T0 / HOUR) * HOUR;
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    for (int i = 0; i < 720; i++) {
        int64_t t = base + (int64_t)i * 15000;
        struct sample_spec smp[] = {{"temp", t, (double)(i / 4)}};
        put_msg(f->s, DEV, 1, i + 1, i + 1, t, smp, 1, NULL);
    }
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    /* Raw, newest 10 of the first hour, in time order. */
    struct pts c = {0};
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", base, base + HOUR, 0, 10, collect_pt, &c),
        CORIO_OK);
    assert_int_equal(c.n, 10);
    assert_int_equal(c.p[0].t_ms, base + HOUR - 10 * 15000);
    assert_int_equal(c.p[9].t_ms, base + HOUR - 15000);
    assert_int_equal(c.p[9].value.kind, CORIO_VALUE_NUM);
    assert_true(c.p[9].value.num == 59.0);

    /* 30 s buckets from raw samples: two samples each. */
    memset(&c, 0, sizeof c);
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", base, base + 120000, 30000, 100, collect_pt, &c),
        CORIO_OK);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.p[1].t_ms, base + 30000);
    assert_int_equal(c.p[1].count, 2);
    assert_true(c.p[1].min == 0.0 && c.p[1].max == 0.0);
    assert_true(c.p[2].sum == 2.0);

    /* 5 minute buckets from the 1 minute tier: 20 samples, minutes k*5 .. k*5+4. */
    memset(&c, 0, sizeof c);
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", base, base + HOUR, 300000, 100, collect_pt, &c),
        CORIO_OK);
    assert_int_equal(c.n, 12);
    for (int k = 0; k < 12; k++) {
        assert_int_equal(c.p[k].t_ms, base + (int64_t)k * 300000);
        assert_int_equal(c.p[k].count, 20);
        assert_true(c.p[k].min == 5.0 * k);
        assert_true(c.p[k].max == 5.0 * k + 4);
        assert_true(c.p[k].sum == 4 * (5.0 * k * 5 + 10));
    }

    /* 1 hour buckets from the 1 hour tier. */
    memset(&c, 0, sizeof c);
    assert_int_equal(corio_store_series(f->s, ORG, DEV, "temp", base, base + 3 * HOUR, HOUR, 100,
                                        collect_pt, &c),
                     CORIO_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.p[2].t_ms, base + 2 * HOUR);
    assert_int_equal(c.p[2].count, 240);
    assert_true(c.p[2].min == 120.0 && c.p[2].max == 179.0);

    /* The limit keeps the newest buckets. */
    memset(&c, 0, sizeof c);
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", base, base + 3 * HOUR, 60000, 5, collect_pt, &c),
        CORIO_OK);
    assert_int_equal(c.n, 5);
    assert_int_equal(c.p[4].t_ms, base + 3 * HOUR - 60000);

    assert_int_equal(corio_store_tier_for_step(59999), CORIO_TIER_RAW);
    assert_int_equal(corio_store_tier_for_step(60000), CORIO_TIER_1M);
    assert_int_equal(corio_store_tier_for_step(3599999), CORIO_TIER_1M);
    assert_int_equal(corio_store_tier_for_step(3600000), CORIO_TIER_1H);

    /* Another organisation's query sees nothing. */
    memset(&c, 0, sizeof c);
    assert_int_equal(
        corio_store_series(f->s, ORG2, DEV, "temp", base, base + HOUR, 0, 10, collect_pt, &c),
        CORIO_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(
        corio_store_series(f->s, ORG, DEV, "temp", base + 1, base, 0, 10, collect_pt, &c),
        CORIO_ERR_INVAL);
}

static void test_series_value_kinds(void **state)
{
    struct fx *f = *state;
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    int64_t ref;
    struct corio_msg_row m = {.org = ORG,
                              .device = DEV,
                              .has_seq = true,
                              .epoch = 1,
                              .seq = 1,
                              .gateway = GW,
                              .gw_epoch = 1,
                              .gw_id = 1,
                              .suffix = "up/json",
                              .recv_ms = T0,
                              .stored_ms = T0,
                              .status = CORIO_MSG_STORED};
    assert_int_equal(corio_store_add_message(f->s, &m, &ref), 1);
    static const uint8_t blob[] = {0, 1, 2, 0xff};
    struct corio_value vals[] = {
        {.kind = CORIO_VALUE_NUM, .num = -3.5},
        {.kind = CORIO_VALUE_STR, .str = "open", .len = 4},
        {.kind = CORIO_VALUE_BOOL, .b = true},
        {.kind = CORIO_VALUE_DATA, .data = blob, .len = sizeof blob},
    };
    for (int i = 0; i < 4; i++) {
        struct corio_sample_row r = {.org = ORG,
                                     .device = DEV,
                                     .metric = "door",
                                     .t_ms = T0 + i,
                                     .msg = ref,
                                     .value = vals[i]};
        assert_int_equal(corio_store_add_sample(f->s, &r, NULL), 1);
    }
    struct corio_sample_row bad = {.org = ORG,
                                   .device = DEV,
                                   .metric = "door",
                                   .t_ms = T0,
                                   .msg = ref,
                                   .value = {.kind = CORIO_VALUE_NUM, .num = NAN}};
    assert_int_equal(corio_store_add_sample(f->s, &bad, NULL), CORIO_ERR_INVAL);
    bad.value.num = 1;
    bad.t_ms = -1;
    assert_int_equal(corio_store_add_sample(f->s, &bad, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);

    struct pts c = {0};
    assert_int_equal(corio_store_series(f->s, ORG, DEV, "door", T0, T0 + 10, 0, 10, collect_pt, &c),
                     CORIO_OK);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.p[0].value.kind, CORIO_VALUE_NUM);
    assert_true(c.p[0].value.num == -3.5);
    assert_int_equal(c.p[1].value.kind, CORIO_VALUE_STR);
    assert_string_equal(c.str[1], "open");
    assert_int_equal(c.p[2].value.kind, CORIO_VALUE_BOOL);
    assert_true(c.p[2].value.b);
    assert_int_equal(c.p[3].value.kind, CORIO_VALUE_DATA);
    /* The metric's type follows its latest sample. */
    struct corio_metric_info mi;
    assert_int_equal(corio_store_metric(f->s, ORG, DEV, "door", &mi), CORIO_OK);
    assert_int_equal(mi.kind, CORIO_VALUE_DATA);
    /* Only the numeric sample is in the rollups. */
    memset(&c, 0, sizeof c);
    assert_int_equal(corio_store_series(f->s, ORG, DEV, "door", T0 - HOUR, T0 + HOUR, 60000, 100,
                                        collect_pt, &c),
                     CORIO_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.p[0].count, 1);
}

/* ---- batches and retention ----------------------------------------------------------- */

static void test_batch_record(void **state)
{
    struct fx *f = *state;
    struct corio_batch_rec b = {.org = ORG,
                                .gateway = GW,
                                .gw_epoch = 5,
                                .first_id = 1,
                                .last_id = 10,
                                .received_ms = T0,
                                .n_new = 10};
    assert_int_equal(corio_store_record_batch(f->s, &b), 1);
    b.n_new = 0;
    b.n_dup = 10;
    assert_int_equal(corio_store_record_batch(f->s, &b), 0);
    b.first_id = 11;
    b.last_id = 12;
    assert_int_equal(corio_store_record_batch(f->s, &b), 1);
    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.counts.batches, 2);
    char *d = f->be->dump(f->where, "SELECT first_id, deliveries, n_new, n_dup FROM batches "
                                    "ORDER BY first_id");
    assert_string_equal(d, "1|2|10|10\n11|1|0|10\n");
    free(d);
    b.last_id = 3;
    assert_int_equal(corio_store_record_batch(f->s, &b), CORIO_ERR_INVAL);
}

static void test_retention(void **state)
{
    struct fx *f = *state;
    int64_t base = (T0 / HOUR) * HOUR;
    assert_int_equal(corio_store_begin(f->s), CORIO_OK);
    for (int i = 0; i < 48; i++) { /* one sample an hour for two days */
        struct sample_spec smp[] = {{"temp", base + i * HOUR, (double)i}};
        put_msg(f->s, DEV, 1, i + 1, i + 1, base + i * HOUR, smp, 1, NULL);
    }
    assert_int_equal(corio_store_commit(f->s), CORIO_OK);
    int64_t now = base + 48 * HOUR;
    struct corio_retention r = {
        .raw_ms = 6 * HOUR, .rollup_1m_ms = 24 * HOUR, .rollup_1h_ms = 0, .messages_ms = 12 * HOUR};
    int64_t deleted = -1;
    assert_int_equal(corio_store_retain(f->s, &r, now, &deleted), CORIO_OK);
    char *d = f->be->dump(f->where, "SELECT (SELECT count(*) FROM samples), "
                                    "(SELECT count(*) FROM rollup_1m), "
                                    "(SELECT count(*) FROM rollup_1h), "
                                    "(SELECT count(*) FROM messages)");
    assert_string_equal(d, "6|24|48|12\n");
    free(d);
    assert_int_equal(deleted, 42 + 24 + 36);
    /* Nothing more to delete the second time. */
    assert_int_equal(corio_store_retain(f->s, &r, now, &deleted), CORIO_OK);
    assert_int_equal(deleted, 0);
    /* Gaps and the sequence state survive retention. */
    struct dev_capture c = device_of(f->s, ORG, DEV);
    assert_int_equal(c.last_seq[0], 48);
    assert_int_equal(c.missing[0], 0);
}

/* ---- the many-row calls ----------------------------------------------------------------- */

struct spec_msg {
    int64_t seq;
    int n; /* samples */
};

/* The same messages for two devices: DEV one call at a time, DEV2 with the many-row
 * calls. Repeats of an identity and of a sample key inside one call included. */
static void test_many_rows_equal_single_rows(void **state)
{
    struct fx *f = *state;
    static const int64_t seqs[] = {1, 2, 5, 3, 3, 9, 8, 4, 12, 5};
    enum { N = sizeof seqs / sizeof seqs[0] };
    const char *devs[2] = {DEV, DEV2};
    for (int d = 0; d < 2; d++) {
        const char *dev = devs[d];
        struct corio_msg_row rows[N];
        struct corio_sample_row smp[N][3];
        const char *units[N][3];
        for (int i = 0; i < N; i++) {
            int64_t seq = seqs[i];
            rows[i] = (struct corio_msg_row){.org = ORG,
                                             .device = dev,
                                             .has_seq = true,
                                             .epoch = 2,
                                             .seq = seq,
                                             .gateway = GW,
                                             .gw_epoch = 9,
                                             .gw_id = 100 * (d + 1) + i,
                                             .suffix = "up/json",
                                             .recv_ms = T0 + seq * 1000 + i,
                                             .stored_ms = T0,
                                             .status = CORIO_MSG_STORED};
            int64_t t = T0 + seq * 20000;
            smp[i][0] = (struct corio_sample_row){
                .org = ORG,
                .device = dev,
                .metric = "temp",
                .t_ms = t,
                .value = {.kind = CORIO_VALUE_NUM, .num = 20.0 + (double)seq * 0.25}};
            smp[i][1] = (struct corio_sample_row){
                .org = ORG,
                .device = dev,
                .metric = "state",
                .t_ms = t,
                .value = {.kind = CORIO_VALUE_STR, .str = "on", .len = 2}};
            smp[i][2] = smp[i][0]; /* the same key again in one message */
            smp[i][2].value.num = -1;
            units[i][0] = i < 3 ? "Cel" : "";
            units[i][1] = NULL;
            units[i][2] = "K";
        }
        struct gap_log gl = {0};
        assert_int_equal(corio_store_begin(f->s), CORIO_OK);
        if (d == 0) {
            for (int i = 0; i < N; i++) {
                int64_t ref;
                int rc = corio_store_add_message(f->s, &rows[i], &ref);
                assert_true(rc == 0 || rc == 1);
                if (rc == 0)
                    continue;
                for (int k = 0; k < 3; k++) {
                    smp[i][k].msg = ref;
                    assert_int_equal(corio_store_add_sample(f->s, &smp[i][k], units[i][k]), k < 2);
                }
                assert_int_equal(corio_store_seq_stored(f->s, ORG, dev, 2, seqs[i], rows[i].recv_ms,
                                                        T0, log_gap, &gl),
                                 CORIO_OK);
            }
        } else {
            int64_t ref[N];
            uint8_t is_new[N];
            assert_int_equal(corio_store_add_messages(f->s, rows, N, ref, is_new), 8);
            assert_int_equal(is_new[3], 1);
            assert_int_equal(is_new[4], 0); /* seq 3 again */
            assert_int_equal(is_new[9], 0); /* seq 5 again */
            struct corio_sample_row all[3 * N];
            const char *allu[3 * N];
            uint8_t ins[3 * N];
            int n = 0;
            for (int i = 0; i < N; i++) {
                if (!is_new[i])
                    continue;
                for (int k = 0; k < 3; k++) {
                    smp[i][k].msg = ref[i];
                    all[n] = smp[i][k];
                    allu[n++] = units[i][k];
                }
            }
            assert_int_equal(corio_store_add_samples(f->s, all, allu, (size_t)n, ins), 16);
            for (int k = 0; k < n; k++)
                assert_int_equal(ins[k], k % 3 < 2);
            for (int i = 0; i < N; i++)
                if (is_new[i])
                    assert_int_equal(corio_store_seq_stored(f->s, ORG, dev, 2, seqs[i],
                                                            rows[i].recv_ms, T0, log_gap, &gl),
                                     CORIO_OK);
        }
        assert_int_equal(corio_store_commit(f->s), CORIO_OK);
        /* [3,4] opens; 3 leaves [4,4]; [6,8] opens; 8 leaves [6,7]; 4 closes one; [10,11] */
        assert_int_equal(gl.n, 5);
    }
    static const char *const per_device[] = {
        "SELECT metric, t_ms, v_num, v_str FROM samples WHERE device = '%s' ORDER BY 1, 2",
        "SELECT metric, bucket_ms, min, max, sum, count FROM rollup_1m WHERE device = '%s' "
        "ORDER BY 1, 2",
        "SELECT metric, bucket_ms, min, max, sum, count FROM rollup_1h WHERE device = '%s' "
        "ORDER BY 1, 2",
        "SELECT epoch, max_seq, stored FROM device_epochs WHERE device = '%s'",
        "SELECT epoch, from_seq, to_seq FROM gaps WHERE device = '%s' ORDER BY 1, 2",
        "SELECT name, unit, type FROM metrics WHERE device = '%s' ORDER BY 1",
        "SELECT epoch, messages, last_seen_ms FROM devices WHERE id = '%s'",
        "SELECT seq, suffix, status FROM messages WHERE device = '%s' ORDER BY seq",
    };
    for (size_t q = 0; q < sizeof per_device / sizeof per_device[0]; q++) {
        char sql[2][400];
        snprintf(sql[0], sizeof sql[0], per_device[q], DEV);
        snprintf(sql[1], sizeof sql[1], per_device[q], DEV2);
        char *a = f->be->dump(f->where, sql[0]);
        char *b = f->be->dump(f->where, sql[1]);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(strlen(a) > 0);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    char *units = f->be->dump(f->where, "SELECT unit FROM metrics WHERE device = '" DEV
                                        "' AND name = 'temp'");
    assert_string_equal(units, "Cel\n"); /* the repeated sample's K was not inserted */
    free(units);
    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.counts.messages, 16);
    assert_int_equal(st.counts.duplicates, 4);
    assert_int_equal(st.counts.samples, 32);
}

static void test_text_is_checked(void **state)
{
    struct fx *f = *state;
    assert_true(corio_store_text_ok("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    assert_false(corio_store_text_ok("a\0b", 3));
    assert_false(corio_store_text_ok("\xff", 1));
    assert_false(corio_store_text_ok("\xc0\xaf", 2));         /* overlong */
    assert_false(corio_store_text_ok("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(corio_store_text_ok("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(corio_store_text_ok("\xe2\x82", 2));         /* cut short */

    int64_t ref;
    struct corio_msg_row m = {.org = ORG,
                              .device = DEV,
                              .gateway = GW,
                              .gw_epoch = 1,
                              .gw_id = 1,
                              .suffix = "up/\xff",
                              .recv_ms = T0,
                              .stored_ms = T0,
                              .status = CORIO_MSG_STORED};
    assert_int_equal(corio_store_add_message(f->s, &m, &ref), CORIO_ERR_INVAL);
    m.suffix = "up/json";
    assert_int_equal(corio_store_add_message(f->s, &m, &ref), 1);
    struct corio_sample_row r = {.org = ORG,
                                 .device = DEV,
                                 .metric = "s",
                                 .t_ms = T0,
                                 .msg = ref,
                                 .value = {.kind = CORIO_VALUE_STR, .str = "a\0b", .len = 3}};
    assert_int_equal(corio_store_add_sample(f->s, &r, NULL), CORIO_ERR_INVAL);
    r.value.str = "\xfe";
    r.value.len = 1;
    assert_int_equal(corio_store_add_sample(f->s, &r, NULL), CORIO_ERR_INVAL);
    r.value.str = "ok";
    r.value.len = 2;
    assert_int_equal(corio_store_add_sample(f->s, &r, "\xc3"), CORIO_ERR_INVAL);

    /* A long reason is cut at a character boundary, never inside one. */
    char reason[300];
    memset(reason, 'x', sizeof reason);
    memcpy(reason + CORIO_REASON_MAX - 1, "\xc3\xa9", 2); /* straddles the cut */
    reason[sizeof reason - 1] = 0;
    m.gw_id = 2;
    m.status = CORIO_MSG_REJECTED;
    m.reason = reason;
    assert_int_equal(corio_store_add_message(f->s, &m, &ref), 1);
    char *got = f->be->dump(f->where, "SELECT reason FROM messages WHERE status = 1");
    assert_non_null(got);
    size_t len = strlen(got);
    assert_true(len > 1 && got[len - 1] == '\n');
    got[--len] = 0;
    assert_int_equal(len, CORIO_REASON_MAX - 1);
    assert_true(corio_store_text_ok(got, len));
    free(got);
}

#define SUITE_T(fn) cmocka_unit_test_setup_teardown(fn, suite_setup, suite_teardown)

/* Runs every test of the suite against be; returns the number of failures. */
static int store_suite_run(const struct backend *be, const char *name)
{
    suite_backend = be;
    const struct CMUnitTest tests[] = {
        SUITE_T(test_schema_version_and_reopen),
        SUITE_T(test_registry),
        SUITE_T(test_message_identity),
        SUITE_T(test_idempotent_reinsert),
        SUITE_T(test_rollback_leaves_nothing),
        SUITE_T(test_rollups_equal_recomputation),
        SUITE_T(test_gaps_out_of_order),
        SUITE_T(test_gaps_random_orders),
        SUITE_T(test_tail_gaps),
        SUITE_T(test_presence),
        SUITE_T(test_devices_per_org),
        SUITE_T(test_series_tiers),
        SUITE_T(test_series_value_kinds),
        SUITE_T(test_batch_record),
        SUITE_T(test_retention),
        SUITE_T(test_many_rows_equal_single_rows),
        SUITE_T(test_text_is_checked),
    };
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
}

#endif /* CORIO_TEST_CLOUD_STORE_SUITE_H */
