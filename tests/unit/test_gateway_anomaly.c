/* test_gateway_anomaly.c - the gateway's streaming anomaly detection (anomaly.h) and its
 * model hook (edge_model.h): SipHash vectors; ewma and mad warm-up; an injected spike
 * found in seeded noise with no false alarm on the noise; a level shift learnt; flat
 * and quantized series; bounded series with LRU eviction; stale samples; parameter
 * errors; and a third model, written here, that plugs in through the same interface. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "anomaly.h"
#include "corio/error.h"
#include "edge_model.h"

#define DEV_A "aaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV_B "bbbbbbbbbbbbbbbbbbbbbbbb"
#define DEV_C "cccccccccccccccccccccccc"
#define DEV_D "dddddddddddddddddddddddd"

/* ---- a seeded source of Gaussian noise ---------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r) /* xorshift64* */
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(struct rng *r) /* (0, 1) */
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_gauss(struct rng *r)
{
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ---- recording episodes ------------------------------------------------------------- */

struct rec {
    struct corio_anomaly_episode ep[64];
    char device[64][32], metric[64][80], label[64][CORIO_EDGE_LABEL_MAX];
    int n;
};

static void record(void *ctx, const struct corio_anomaly_episode *ep)
{
    struct rec *r = ctx;
    assert_true(r->n < 64);
    r->ep[r->n] = *ep;
    snprintf(r->device[r->n], sizeof r->device[0], "%s", ep->device);
    snprintf(r->metric[r->n], sizeof r->metric[0], "%s", ep->metric);
    snprintf(r->label[r->n], sizeof r->label[0], "%s", ep->label);
    r->ep[r->n].device = r->device[r->n];
    r->ep[r->n].metric = r->metric[r->n];
    r->ep[r->n].label = r->label[r->n];
    r->n++;
}

/* A model built from "key value" pairs (NULL-terminated), or a failed test. */
static void *model_new(const struct corio_edge_model *m, struct corio_edge_shape *shape,
                       const char *const *kv)
{
    struct corio_edge_param params[16];
    size_t n = 0;
    for (; kv && kv[2 * n]; n++)
        params[n] = (struct corio_edge_param){kv[2 * n], kv[2 * n + 1]};
    void *inst = NULL;
    size_t bad = 99;
    char err[256] = "";
    int rc = m->init(&inst, shape, NULL, 0, params, n, &bad, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("init: %s", err);
    return inst;
}

static corio_anomaly *engine_new(const struct corio_edge_model *m, void *inst,
                                 struct corio_edge_shape shape, size_t max_series, struct rec *r)
{
    struct corio_anomaly_options o = {
        .model = m,
        .model_inst = inst,
        .shape = shape,
        .max_series = max_series,
        .hash_key = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
        .episode = record,
        .ctx = r};
    corio_anomaly *a = NULL;
    assert_int_equal(corio_anomaly_new(&o, &a), CORIO_OK);
    return a;
}

/* ---- SipHash ------------------------------------------------------------------------ */

static void siphash_vectors(void **state)
{
    (void)state;
    /* The reference implementation's vectors: key 00..0f, messages 00..(n-1). */
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    assert_true(corio__edge_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(corio__edge_siphash(key, msg, 1) == 0x74f839c593dc67fdULL);
    assert_true(corio__edge_siphash(key, msg, 7) == 0xab0200f58b01d137ULL);
    assert_true(corio__edge_siphash(key, msg, 8) == 0x93f5f5799a932462ULL);
    assert_true(corio__edge_siphash(key, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(corio__edge_siphash(key, msg, 63) == 0x958a324ceb064572ULL);
}

/* ---- warm-up ------------------------------------------------------------------------ */

static void ewma_warmup_gives_no_verdict(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    void *m = model_new(&corio_edge_model_ewma, &shape, (const char *[]){"warmup", "10", NULL});
    assert_int_equal(shape.window, 0);
    corio_anomaly *a = engine_new(&corio_edge_model_ewma, m, shape, 8, &r);
    struct corio_edge_result res;
    for (int i = 0; i < 10; i++) {
        /* Sample 5 is absurd, but nothing is judged before 10 samples. */
        double x = i == 5 ? 1e6 : 20 + 0.1 * (i % 3);
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", 1000 * i, x, &res), CORIO_OK);
        assert_int_equal(res.verdict, CORIO_EDGE_WARMING);
        assert_true(res.score == 0);
    }
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", 10000, 20.05, &res), CORIO_OK);
    assert_int_not_equal(res.verdict, CORIO_EDGE_WARMING);
    struct corio_anomaly_stats st;
    corio_anomaly_stats(a, &st);
    assert_int_equal(st.warming, 10);
    assert_int_equal(st.samples, 11);
    assert_int_equal(r.n, 0);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);
}

static void mad_warmup_needs_a_window(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    void *m = model_new(&corio_edge_model_mad, &shape,
                        (const char *[]){"window", "9", "warmup", "5", NULL});
    assert_int_equal(shape.window, 9);
    corio_anomaly *a = engine_new(&corio_edge_model_mad, m, shape, 8, &r);
    struct corio_edge_result res;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", i, i == 2 ? 1e9 : i, &res), CORIO_OK);
        assert_int_equal(res.verdict, CORIO_EDGE_WARMING);
    }
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", 5, 3, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_NORMAL);
    corio_anomaly_free(a);
    corio_edge_model_mad.free(m);
}

/* ---- spikes in noise ---------------------------------------------------------------- */

/* Feeds n samples of 20 + 0.5·N(0,1) from seed, adding `spike` at index at (none when
 * at < 0); returns the number of episodes recorded. */
static int run_noise(const struct corio_edge_model *model, const char *const *kv, uint64_t seed,
                     int n, int at, double spike, struct rec *r)
{
    struct corio_edge_shape shape;
    void *m = model_new(model, &shape, kv);
    corio_anomaly *a = engine_new(model, m, shape, 4, r);
    struct rng g = {seed};
    for (int i = 0; i < n; i++) {
        double x = 20 + 0.5 * rng_gauss(&g) + (i == at ? spike : 0);
        assert_int_equal(
            corio_anomaly_feed(a, DEV_A, "temp", 1700000000000LL + 10000LL * i, x, NULL), CORIO_OK);
    }
    corio_anomaly_free(a);
    model->free(m);
    return r->n;
}

static void spike_found_without_false_alarms(const struct corio_edge_model *model,
                                             const char *const *kv)
{
    const uint64_t seeds[] = {0x9E3779B97F4A7C15ULL, 42, 20261130};
    for (size_t s = 0; s < 3; s++) {
        /* The noise alone: not one alarm in 20000 samples. */
        struct rec quiet = {0};
        assert_int_equal(run_noise(model, kv, seeds[s], 20000, -1, 0, &quiet), 0);
        /* The same noise with a spike of 8 (16 sigma) at sample 3000: exactly one
         * episode, starting there and ending with the next sample. */
        struct rec r = {0};
        assert_int_equal(run_noise(model, kv, seeds[s], 5000, 3000, 8, &r), 2);
        assert_true(r.ep[0].started);
        assert_int_equal(r.ep[0].t_ms, 1700000000000LL + 10000LL * 3000);
        assert_true(r.ep[0].score > 10);
        assert_string_equal(r.ep[0].device, DEV_A);
        assert_string_equal(r.ep[0].metric, "temp");
        assert_false(r.ep[1].started);
        assert_false(r.ep[1].evicted);
        assert_int_equal(r.ep[1].t_ms, 1700000000000LL + 10000LL * 3001);
        assert_int_equal(r.ep[1].samples, 1);
        assert_true(r.ep[1].peak == r.ep[0].score);
        /* A spike downwards too. */
        struct rec down = {0};
        assert_int_equal(run_noise(model, kv, seeds[s], 5000, 1234, -8, &down), 2);
        assert_true(down.ep[0].score < -10);
    }
}

static void ewma_spike_in_noise(void **state)
{
    (void)state;
    spike_found_without_false_alarms(&corio_edge_model_ewma, NULL);
}

static void mad_spike_in_noise(void **state)
{
    (void)state;
    spike_found_without_false_alarms(&corio_edge_model_mad, NULL);
}

/* After a spike the ewma detector is not blinded: its variance did not learn the spike,
 * so a second, smaller spike soon after is found too. */
static void ewma_not_blinded_by_a_spike(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    void *m = model_new(&corio_edge_model_ewma, &shape, NULL);
    corio_anomaly *a = engine_new(&corio_edge_model_ewma, m, shape, 4, &r);
    struct rng g = {7};
    for (int i = 0; i < 600; i++) {
        double x = 20 + 0.5 * rng_gauss(&g) + (i == 300 ? 50 : 0) + (i == 310 ? 4.5 : 0);
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", i, x, NULL), CORIO_OK);
    }
    assert_int_equal(r.n, 4);
    assert_int_equal(r.ep[0].t_ms, 300);
    assert_int_equal(r.ep[2].t_ms, 310);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);
}

/* A lasting level shift starts one episode that ends once the mean has moved. */
static void ewma_learns_a_level_shift(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    void *m = model_new(&corio_edge_model_ewma, &shape, (const char *[]){"alpha", "0.05", NULL});
    corio_anomaly *a = engine_new(&corio_edge_model_ewma, m, shape, 4, &r);
    struct rng g = {99};
    for (int i = 0; i < 2000; i++) {
        double x = (i < 500 ? 20 : 30) + 0.5 * rng_gauss(&g);
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", i, x, NULL), CORIO_OK);
    }
    assert_int_equal(r.n, 2);
    assert_true(r.ep[0].started);
    assert_int_equal(r.ep[0].t_ms, 500);
    assert_false(r.ep[1].started);
    assert_true(r.ep[1].t_ms > 500 && r.ep[1].t_ms < 700);
    assert_true(r.ep[1].samples >= 2);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);
}

/* ---- flat and quantized series ------------------------------------------------------ */

static void flat_series(void **state)
{
    (void)state;
    struct corio_edge_shape shape;
    struct corio_edge_result res;
    /* A constant series that moves: any move is news, with a finite score. */
    struct rec r = {0};
    void *m = model_new(&corio_edge_model_ewma, &shape, NULL);
    corio_anomaly *a = engine_new(&corio_edge_model_ewma, m, shape, 4, &r);
    for (int i = 0; i < 40; i++)
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", i, 21.5, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_NORMAL);
    assert_true(res.score == 0);
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 40, 21.6, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_ANOMALY);
    assert_true(isfinite(res.score) && res.score > 1e6);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);

    /* min_std says how small a spread is believable: 0.1 is then 0.2 sigma. */
    struct rec r2 = {0};
    m = model_new(&corio_edge_model_ewma, &shape, (const char *[]){"min_std", "0.5", NULL});
    a = engine_new(&corio_edge_model_ewma, m, shape, 4, &r2);
    for (int i = 0; i < 40; i++)
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", i, 21.5, &res), CORIO_OK);
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 40, 21.6, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_NORMAL);
    assert_true(fabs(res.score - 0.2) < 1e-9);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);
}

/* A quantized sensor: most of the window is one value, so MAD is 0 and the mean
 * absolute deviation stands in: a one-step change is normal, a big one is not. */
static void mad_quantized_series(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    struct corio_edge_result res;
    void *m = model_new(&corio_edge_model_mad, &shape, (const char *[]){"window", "20", NULL});
    corio_anomaly *a = engine_new(&corio_edge_model_mad, m, shape, 4, &r);
    for (int i = 0; i < 20; i++)
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", i, i % 5 == 0 ? 22 : 21, &res),
                         CORIO_OK);
    /* window: 16 × 21 and 4 × 22: median 21, MAD 0, mean |dev| 0.2 */
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 20, 22, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_NORMAL);
    assert_true(fabs(res.score - 1 / (1.253314 * 0.2)) < 1e-6);
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 21, 25, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_ANOMALY);
    corio_anomaly_free(a);
    corio_edge_model_mad.free(m);
}

/* ---- series, eviction, stale samples ------------------------------------------------ */

static void eviction_is_lru_and_counted(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    struct corio_edge_result res;
    void *m = model_new(&corio_edge_model_ewma, &shape, (const char *[]){"warmup", "3", NULL});
    corio_anomaly *a = engine_new(&corio_edge_model_ewma, m, shape, 3, &r);
    const char *devs[] = {DEV_A, DEV_B, DEV_C};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 5; i++)
            assert_int_equal(corio_anomaly_feed(a, devs[k], "temp", i, 10 + (i & 1), &res),
                             CORIO_OK);
    /* B: an open episode. */
    assert_int_equal(corio_anomaly_feed(a, DEV_B, "temp", 5, 1000, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_ANOMALY);
    assert_int_equal(r.n, 1);
    /* A and C fed after B: B is now the least recently fed. */
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", 6, 10, &res), CORIO_OK);
    assert_int_equal(corio_anomaly_feed(a, DEV_C, "temp", 6, 10, &res), CORIO_OK);
    struct corio_anomaly_stats st;
    corio_anomaly_stats(a, &st);
    assert_int_equal(st.series, 3);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.episodes_open, 1);
    /* A fourth series evicts B, and B's episode ends as evicted. */
    assert_int_equal(corio_anomaly_feed(a, DEV_D, "temp", 7, 10, &res), CORIO_OK);
    corio_anomaly_stats(a, &st);
    assert_int_equal(st.series, 3);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.episodes_open, 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ep[1].device, DEV_B);
    assert_false(r.ep[1].started);
    assert_true(r.ep[1].evicted);
    assert_int_equal(r.ep[1].t_ms, 5);
    assert_true(r.ep[1].value == 1000);
    /* A was kept: it judges at once. B comes back as a new series and warms up again;
     * that evicts C, the least recent now. */
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "temp", 8, 10, &res), CORIO_OK);
    assert_int_not_equal(res.verdict, CORIO_EDGE_WARMING);
    assert_int_equal(corio_anomaly_feed(a, DEV_B, "temp", 8, 10, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_WARMING);
    corio_anomaly_stats(a, &st);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(corio_anomaly_feed(a, DEV_C, "temp", 9, 10, &res), CORIO_OK);
    assert_int_equal(res.verdict, CORIO_EDGE_WARMING);
    /* The same device with another metric is another series. */
    assert_int_equal(corio_anomaly_feed(a, DEV_C, "hum", 9, 10, &res), CORIO_OK);
    corio_anomaly_stats(a, &st);
    assert_int_equal(st.evicted, 4);
    assert_int_equal(st.series, 3);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);
}

static void many_series_stay_bounded(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    void *m = model_new(&corio_edge_model_mad, &shape, NULL);
    corio_anomaly *a = engine_new(&corio_edge_model_mad, m, shape, 100, &r);
    char metric[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(metric, sizeof metric, "m%d", i);
        assert_int_equal(corio_anomaly_feed(a, DEV_A, metric, i, i, NULL), CORIO_OK);
    }
    struct corio_anomaly_stats st;
    corio_anomaly_stats(a, &st);
    assert_int_equal(st.series, 100);
    assert_int_equal(st.evicted, 9900);
    corio_anomaly_free(a);
    /* The bytes per series docs/edge-rules.md states, on LP64, at the default cap. */
    a = engine_new(&corio_edge_model_mad, m, shape, 4096, &r);
    if (sizeof(void *) == 8)
        assert_int_equal(corio_anomaly_series_bytes(a), 1224);
    corio_anomaly_free(a);
    corio_edge_model_mad.free(m);

    m = model_new(&corio_edge_model_ewma, &shape, NULL);
    a = engine_new(&corio_edge_model_ewma, m, shape, 4096, &r);
    if (sizeof(void *) == 8)
        assert_int_equal(corio_anomaly_series_bytes(a), 232);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);
}

static void stale_samples_are_not_judged(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    struct corio_edge_result res;
    void *m = model_new(&corio_edge_model_ewma, &shape, (const char *[]){"warmup", "2", NULL});
    corio_anomaly *a = engine_new(&corio_edge_model_ewma, m, shape, 4, &r);
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 100, 1, &res), CORIO_OK);
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 200, 1.1, &res), CORIO_OK);
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 150, 1e9, &res), CORIO_ERR_AGAIN);
    assert_int_equal(res.verdict, CORIO_EDGE_WARMING);
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 200, 1.05, &res), CORIO_OK); /* same time */
    assert_int_equal(corio_anomaly_feed(a, DEV_A, "t", 300, NAN, &res), CORIO_ERR_INVAL);
    assert_int_equal(corio_anomaly_feed(a, DEV_A,
                                        "a-metric-name-longer-than-sixty-four-bytes-"
                                        "is-not-a-series-here-xx",
                                        300, 1, &res),
                     CORIO_ERR_INVAL);
    struct corio_anomaly_stats st;
    corio_anomaly_stats(a, &st);
    assert_int_equal(st.stale, 1);
    assert_int_equal(st.samples, 3);
    assert_int_equal(r.n, 0);
    corio_anomaly_free(a);
    corio_edge_model_ewma.free(m);
}

/* ---- parameters --------------------------------------------------------------------- */

static void check_init_fails(const struct corio_edge_model *m, const char *const *kv,
                             const uint8_t *blob, size_t blob_len, size_t want_bad,
                             const char *want)
{
    struct corio_edge_param params[8];
    size_t n = 0;
    for (; kv[2 * n]; n++)
        params[n] = (struct corio_edge_param){kv[2 * n], kv[2 * n + 1]};
    void *inst = (void *)1;
    struct corio_edge_shape shape;
    size_t bad = 99;
    char err[256] = "";
    assert_int_equal(m->init(&inst, &shape, blob, blob_len, params, n, &bad, err, sizeof err),
                     CORIO_ERR_INVAL);
    assert_true(inst == (void *)1);
    assert_int_equal(bad, want_bad);
    if (!strstr(err, want))
        fail_msg("'%s' does not say '%s'", err, want);
}

static void parameters_are_checked(void **state)
{
    (void)state;
    const struct corio_edge_model *e = &corio_edge_model_ewma, *d = &corio_edge_model_mad;
    check_init_fails(e, (const char *[]){"alpha", "0.1", "speed", "3", NULL}, NULL, 0, 1,
                     "unknown key 'speed'");
    check_init_fails(e, (const char *[]){"alpha", "0", NULL}, NULL, 0, 0, "'alpha' must be");
    check_init_fails(e, (const char *[]){"alpha", "1.5", NULL}, NULL, 0, 0, "'alpha' must be");
    check_init_fails(e, (const char *[]){"alpha", "nan", NULL}, NULL, 0, 0, "'alpha' must be");
    check_init_fails(e, (const char *[]){"warmup", "2.5", NULL}, NULL, 0, 0, "whole number");
    check_init_fails(e, (const char *[]){"warmup", "1", NULL}, NULL, 0, 0, "'warmup' must be");
    check_init_fails(e, (const char *[]){"threshold", "3", "clear", "4", NULL}, NULL, 0, 1,
                     "'clear' (4) must not be above 'threshold' (3)");
    check_init_fails(e, (const char *[]){"threshold", "3", "threshold", "4", NULL}, NULL, 0, 1,
                     "given twice");
    check_init_fails(e, (const char *[]){NULL}, (const uint8_t *)"x", 1, 0, "takes no model file");
    check_init_fails(d, (const char *[]){"window", "2", NULL}, NULL, 0, 0, "'window' must be");
    check_init_fails(d, (const char *[]){"window", "257", NULL}, NULL, 0, 0, "'window' must be");
    check_init_fails(d, (const char *[]){"window", "10", "warmup", "11", NULL}, NULL, 0, 1,
                     "'warmup' (11) must not be above 'window' (10)");
    check_init_fails(d, (const char *[]){"alpha", "0.1", NULL}, NULL, 0, 0, "unknown key 'alpha'");
    assert_ptr_equal(corio_edge_model_find("ewma"), e);
    assert_ptr_equal(corio_edge_model_find("mad"), d);
    assert_null(corio_edge_model_find("tflite"));
}

/* ---- a third model through the hook ------------------------------------------------- */

/* "jump": the blob holds a limit as text; the score is the sample minus the mean of the
 * last 3 samples, anomalous beyond the limit, labelled "up" or "down". It also checks
 * that the engine hands it the window oldest first, with the right times. */
struct jump {
    double limit;
};

static int jump_init(void **model, struct corio_edge_shape *shape, const uint8_t *blob,
                     size_t blob_len, const struct corio_edge_param *params, size_t nparams,
                     size_t *bad, char *err, size_t errlen)
{
    (void)params;
    char text[32];
    if (nparams) {
        *bad = 0;
        snprintf(err, errlen, "jump takes no parameters");
        return CORIO_ERR_INVAL;
    }
    if (!blob || blob_len == 0 || blob_len >= sizeof text) {
        *bad = nparams;
        snprintf(err, errlen, "jump needs a model file");
        return CORIO_ERR_INVAL;
    }
    memcpy(text, blob, blob_len);
    text[blob_len] = 0;
    struct jump *j = malloc(sizeof *j);
    j->limit = atof(text);
    *model = j;
    shape->window = 3;
    shape->state_size = sizeof(int64_t);
    return CORIO_OK;
}

static int jump_infer(const void *model, void *state, const struct corio_edge_window *w, int64_t t,
                      double x, struct corio_edge_result *out)
{
    const struct jump *j = model;
    int64_t *calls = state; /* per-series state, zeroed when the series starts */
    memset(out, 0, sizeof *out);
    assert_true(w->n <= 3);
    for (size_t i = 0; i < w->n; i++) {
        /* The tests feed value = time / 10 except at jumps; times ascend. */
        if (i)
            assert_true(w->t[i] > w->t[i - 1]);
        assert_true(w->t[i] < t);
    }
    (*calls)++;
    if (w->n < 3)
        return CORIO_OK;
    double mean = (w->v[0] + w->v[1] + w->v[2]) / 3;
    out->score = x - mean;
    out->verdict = fabs(out->score) > j->limit ? CORIO_EDGE_ANOMALY : CORIO_EDGE_NORMAL;
    snprintf(out->label, sizeof out->label, "%s", out->score > 0 ? "up" : "down");
    return CORIO_OK;
}

const struct corio_edge_model test_jump_model = {
    .name = "jump", .init = jump_init, .free = free, .infer = jump_infer};

static void a_model_plugs_into_the_hook(void **state)
{
    (void)state;
    struct rec r = {0};
    struct corio_edge_shape shape;
    void *inst = NULL;
    size_t bad;
    char err[128];
    assert_int_equal(
        jump_init(&inst, &shape, (const uint8_t *)"2.5", 3, NULL, 0, &bad, err, sizeof err),
        CORIO_OK);
    corio_anomaly *a = engine_new(&test_jump_model, inst, shape, 2, &r);
    struct corio_edge_result res;
    double xs[] = {1, 2, 3, 4, 10, 5, 6, 7, 1};
    for (int i = 0; i < 9; i++)
        assert_int_equal(corio_anomaly_feed(a, DEV_A, "level", 1000 * (i + 1), xs[i], &res),
                         CORIO_OK);
    /* 10 against (2+3+4)/3 = 3: up by 7; 5 against (3+4+10)/3: down by 0.67, normal;
     * 1 against (5+6+7)/3 = 6: down by 5. */
    assert_int_equal(r.n, 3);
    assert_true(r.ep[0].started);
    assert_string_equal(r.ep[0].label, "up");
    assert_true(fabs(r.ep[0].score - 7) < 1e-12);
    assert_false(r.ep[1].started);
    assert_string_equal(r.ep[2].label, "down");
    assert_true(fabs(r.ep[2].score + 5) < 1e-12);
    assert_int_equal(res.verdict, CORIO_EDGE_ANOMALY);
    assert_string_equal(res.label, "down");
    corio_anomaly_free(a);
    free(inst);
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    corio_anomaly *a = NULL;
    struct corio_anomaly_options o = {.model = &corio_edge_model_ewma, .max_series = 0};
    assert_int_equal(corio_anomaly_new(&o, &a), CORIO_ERR_INVAL);
    o.max_series = 1;
    o.shape.window = CORIO_EDGE_WINDOW_MAX + 1;
    assert_int_equal(corio_anomaly_new(&o, &a), CORIO_ERR_INVAL);
    o.shape.window = 0;
    o.shape.state_size = CORIO_EDGE_STATE_MAX + 1;
    assert_int_equal(corio_anomaly_new(&o, &a), CORIO_ERR_INVAL);
    o.model = NULL;
    o.shape.state_size = 0;
    assert_int_equal(corio_anomaly_new(&o, &a), CORIO_ERR_INVAL);
    assert_null(a);
    corio_anomaly_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(siphash_vectors),           cmocka_unit_test(ewma_warmup_gives_no_verdict),
        cmocka_unit_test(mad_warmup_needs_a_window), cmocka_unit_test(ewma_spike_in_noise),
        cmocka_unit_test(mad_spike_in_noise),        cmocka_unit_test(ewma_not_blinded_by_a_spike),
        cmocka_unit_test(ewma_learns_a_level_shift), cmocka_unit_test(flat_series),
        cmocka_unit_test(mad_quantized_series),      cmocka_unit_test(eviction_is_lru_and_counted),
        cmocka_unit_test(many_series_stay_bounded),  cmocka_unit_test(stale_samples_are_not_judged),
        cmocka_unit_test(parameters_are_checked),    cmocka_unit_test(a_model_plugs_into_the_hook),
        cmocka_unit_test(bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
