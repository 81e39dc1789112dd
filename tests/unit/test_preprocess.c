/* test_preprocess.c - the pre-processing pipeline (include/corio/preprocess.h):
 * windows by count and by time, their aggregates and rounding; the absolute and
 * relative deadband and max silence; the token bucket and what waits for it; the
 * stages composed; a clock that wraps at 2^32. Time is a fake clock: each call gets
 * the time the test says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "corio/preprocess.h"

static struct corio_pp_config cfg0(void)
{
    struct corio_pp_config c;
    corio_pp_config_init(&c);
    return c;
}

static void pp_init(struct corio_pp *m, const struct corio_pp_config *c)
{
    assert_int_equal(corio_pp_init(m, c), CORIO_OK);
}

/* Feeds v at t; returns the report's value, or INT32_MIN when there is none. */
static int32_t feed(struct corio_pp *m, int32_t v, uint32_t t, struct corio_pp_out *o)
{
    struct corio_pp_out tmp;
    if (!o)
        o = &tmp;
    int rc = corio_pp_sample(m, v, t, o);
    assert_true(rc == 0 || rc == 1);
    return rc == 1 ? o->value : INT32_MIN;
}

static int32_t poll_at(struct corio_pp *m, uint32_t t, struct corio_pp_out *o)
{
    struct corio_pp_out tmp;
    if (!o)
        o = &tmp;
    int rc = corio_pp_poll(m, t, o);
    assert_true(rc == 0 || rc == 1);
    return rc == 1 ? o->value : INT32_MIN;
}

#define NONE INT32_MIN

static void every_stage_off_passes_each_sample(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    pp_init(&m, &c);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(feed(&m, 7, (uint32_t)i * 10u, &o), 7);
        assert_int_equal(o.why, CORIO_PP_WHY_PASS);
        assert_false(o.window);
        assert_int_equal(o.t_ms, (uint32_t)i * 10u);
    }
    assert_int_equal(corio_pp_poll_ms(&m, 100), UINT32_MAX);
    assert_int_equal(poll_at(&m, 1000000, NULL), NONE);
    struct corio_pp_stats st;
    assert_int_equal(corio_pp_stats(&m, &st), CORIO_OK);
    assert_int_equal(st.samples, 5);
    assert_int_equal(st.reports, 5);
    assert_int_equal(st.suppressed, 0);
}

static void count_window_aggregates(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.window_count = 4;
    pp_init(&m, &c);
    assert_int_equal(feed(&m, 10, 100, &o), NONE);
    assert_int_equal(feed(&m, -3, 200, &o), NONE);
    assert_int_equal(feed(&m, 25, 300, &o), NONE);
    assert_int_equal(feed(&m, 4, 400, &o), 9); /* (10 - 3 + 25 + 4) / 4 = 9 */
    assert_true(o.window);
    assert_int_equal(o.count, 4);
    assert_int_equal(o.min, -3);
    assert_int_equal(o.max, 25);
    assert_int_equal(o.sum, 36);
    assert_int_equal(o.mean, 9);
    assert_int_equal(o.start_ms, 100);
    assert_int_equal(o.t_ms, 400);
    /* the next window starts afresh */
    assert_int_equal(feed(&m, 1, 500, &o), NONE);
    assert_int_equal(feed(&m, 2, 600, &o), NONE);
    assert_int_equal(feed(&m, 2, 700, &o), NONE);
    assert_int_equal(feed(&m, 2, 800, &o), 2); /* 7 / 4 = 1.75 -> 2 */
    assert_int_equal(o.min, 1);
    assert_int_equal(o.start_ms, 500);
    /* negative halves round away from zero */
    assert_int_equal(feed(&m, -1, 900, &o), NONE);
    assert_int_equal(feed(&m, -2, 901, &o), NONE);
    assert_int_equal(feed(&m, -2, 902, &o), NONE);
    assert_int_equal(feed(&m, -1, 903, &o), -2); /* -6 / 4 = -1.5 -> -2 */
    assert_int_equal(feed(&m, 1, 904, &o), NONE);
    assert_int_equal(feed(&m, 2, 905, &o), NONE);
    assert_int_equal(feed(&m, 2, 906, &o), NONE);
    assert_int_equal(feed(&m, 1, 907, &o), 2); /* 6 / 4 = 1.5 -> 2 */
    struct corio_pp_stats st;
    corio_pp_stats(&m, &st);
    assert_int_equal(st.windows, 4);
    assert_int_equal(st.reports, 4);
}

static void window_pick_and_extremes(void **state)
{
    (void)state;
    const uint8_t picks[] = {CORIO_PP_MIN, CORIO_PP_MAX, CORIO_PP_LAST};
    const int32_t want[] = {INT32_MIN, INT32_MAX, INT32_MIN + 1};
    for (int k = 0; k < 3; k++) {
        struct corio_pp m;
        struct corio_pp_config c = cfg0();
        struct corio_pp_out o;
        c.window_count = 3;
        c.pick = picks[k];
        pp_init(&m, &c);
        feed(&m, INT32_MAX, 1, &o);
        feed(&m, INT32_MIN, 2, &o);
        assert_int_equal(corio_pp_sample(&m, INT32_MIN + 1, 3, &o), 1);
        assert_int_equal(o.value, want[k]);
        assert_int_equal(o.sum, (int64_t)INT32_MAX + INT32_MIN + INT32_MIN + 1);
        assert_int_equal(o.mean, -715827883); /* INT32_MIN / 3 = -715827882.67 */
    }
    /* a long window of the largest values: the 64-bit sum is exact */
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.window_count = 100000;
    pp_init(&m, &c);
    int rc = 0;
    for (uint32_t i = 0; i < 100000; i++)
        rc = corio_pp_sample(&m, INT32_MAX, i, &o);
    assert_int_equal(rc, 1);
    assert_int_equal(o.sum, (int64_t)INT32_MAX * 100000);
    assert_int_equal(o.mean, INT32_MAX);
}

static void time_window_closes_on_sample_or_poll(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.window_ms = 1000;
    pp_init(&m, &c);
    assert_int_equal(corio_pp_poll_ms(&m, 0), UINT32_MAX); /* no window open */
    assert_int_equal(feed(&m, 10, 5000, &o), NONE);
    assert_int_equal(corio_pp_poll_ms(&m, 5000), 1000);
    assert_int_equal(feed(&m, 20, 5400, &o), NONE);
    assert_int_equal(corio_pp_poll_ms(&m, 5400), 600);
    assert_int_equal(poll_at(&m, 5999, &o), NONE);
    /* a late sample closes the window at its end, then opens the next with itself */
    assert_int_equal(feed(&m, 40, 6200, &o), 15);
    assert_int_equal(o.count, 2);
    assert_int_equal(o.t_ms, 6000);
    assert_int_equal(o.start_ms, 5000);
    /* without samples the poll closes the window */
    assert_int_equal(corio_pp_poll_ms(&m, 6500), 700);
    assert_int_equal(poll_at(&m, 7300, &o), 40);
    assert_int_equal(o.count, 1);
    assert_int_equal(o.t_ms, 7200);
    assert_int_equal(corio_pp_poll_ms(&m, 7300), UINT32_MAX);
    assert_int_equal(poll_at(&m, 9000, &o), NONE);
}

static void count_and_time_whichever_first(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.window_count = 3;
    c.window_ms = 100;
    pp_init(&m, &c);
    feed(&m, 1, 0, &o);
    feed(&m, 2, 10, &o);
    assert_int_equal(feed(&m, 3, 20, &o), 2); /* count first */
    assert_int_equal(o.t_ms, 20);
    feed(&m, 4, 30, &o);
    assert_int_equal(poll_at(&m, 130, &o), 4); /* time first */
    assert_int_equal(o.count, 1);
    assert_int_equal(o.t_ms, 130);
}

static void absolute_deadband(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.deadband_abs = 50;
    pp_init(&m, &c);
    assert_int_equal(feed(&m, 21000, 0, &o), 21000);
    assert_int_equal(o.why, CORIO_PP_WHY_FIRST);
    assert_int_equal(feed(&m, 21049, 1, &o), NONE);
    assert_int_equal(feed(&m, 20951, 2, &o), NONE);
    assert_int_equal(feed(&m, 20950, 3, &o), 20950); /* 50 away: out */
    assert_int_equal(o.why, CORIO_PP_WHY_CHANGE);
    /* compared with the last REPORTED value, not the last sample: a slow drift goes
     * out once it adds up */
    assert_int_equal(feed(&m, 20970, 4, &o), NONE);
    assert_int_equal(feed(&m, 20990, 5, &o), NONE);
    assert_int_equal(feed(&m, 21000, 6, &o), 21000);
    struct corio_pp_stats st;
    corio_pp_stats(&m, &st);
    assert_int_equal(st.reports, 3);
    assert_int_equal(st.suppressed, 4);
    /* without max silence a held value waits for a change forever */
    assert_int_equal(feed(&m, 21001, 7, &o), NONE);
    assert_int_equal(corio_pp_poll_ms(&m, 8), UINT32_MAX);
    assert_int_equal(poll_at(&m, 0x70000000u, &o), NONE);
}

static void relative_deadband(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.deadband_rel = 20; /* 2 % */
    pp_init(&m, &c);
    assert_int_equal(feed(&m, -1000, 0, &o), -1000);
    assert_int_equal(feed(&m, -1019, 1, &o), NONE);
    assert_int_equal(feed(&m, -1020, 2, &o), -1020); /* 2 % of 1000 */
    assert_int_equal(feed(&m, -1000, 3, &o), NONE);  /* 20 < 2 % of 1020 = 20.4 */
    assert_int_equal(feed(&m, -999, 4, &o), -999);
    /* near zero the relative band narrows to nothing, but an equal value is no
     * change */
    assert_int_equal(feed(&m, 0, 5, &o), 0);
    assert_int_equal(feed(&m, 0, 6, &o), NONE);
    assert_int_equal(feed(&m, 1, 7, &o), 1);
    /* the extremes do not overflow */
    assert_int_equal(feed(&m, INT32_MIN, 8, &o), INT32_MIN);
    assert_int_equal(feed(&m, INT32_MAX, 9, &o), INT32_MAX);
    assert_int_equal(feed(&m, INT32_MAX - 1000, 10, &o), NONE);
}

static void absolute_and_relative_both_met(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.deadband_abs = 5;
    c.deadband_rel = 100; /* 10 % */
    pp_init(&m, &c);
    assert_int_equal(feed(&m, 0, 0, &o), 0);
    assert_int_equal(feed(&m, 4, 1, &o), NONE); /* the absolute band holds near zero */
    assert_int_equal(feed(&m, 5, 2, &o), 5);
    assert_int_equal(feed(&m, 1000, 3, &o), 1000);
    assert_int_equal(feed(&m, 1050, 4, &o), NONE); /* 50 < 10 % */
    assert_int_equal(feed(&m, 1100, 5, &o), 1100);
}

static void max_silence_on_sample_and_poll(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.deadband_abs = 10;
    c.max_silence_ms = 60000;
    pp_init(&m, &c);
    assert_int_equal(feed(&m, 500, 1000, &o), 500);
    assert_int_equal(corio_pp_poll_ms(&m, 1000), UINT32_MAX); /* nothing held */
    assert_int_equal(feed(&m, 501, 30000, &o), NONE);
    assert_int_equal(corio_pp_poll_ms(&m, 30000), 31000);
    /* the next sample after the silence goes out though it is in the band */
    assert_int_equal(feed(&m, 502, 61000, &o), 502);
    assert_int_equal(o.why, CORIO_PP_WHY_SILENCE);
    assert_int_equal(o.t_ms, 61000);
    /* with no sample coming, the poll sends the held one */
    assert_int_equal(feed(&m, 503, 70000, &o), NONE);
    assert_int_equal(poll_at(&m, 120999, &o), NONE);
    assert_int_equal(corio_pp_poll_ms(&m, 120999), 1);
    assert_int_equal(poll_at(&m, 121000, &o), 503);
    assert_int_equal(o.why, CORIO_PP_WHY_SILENCE);
    assert_int_equal(o.t_ms, 70000);                 /* when it was sampled */
    assert_int_equal(poll_at(&m, 300000, &o), NONE); /* nothing held any more */
    struct corio_pp_stats st;
    corio_pp_stats(&m, &st);
    assert_int_equal(st.reports, 3);
    assert_int_equal(st.suppressed, 1); /* 501; 503 went out */
}

static void token_bucket_delays_and_coalesces(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.burst = 2;
    c.refill_ms = 1000;
    pp_init(&m, &c);
    assert_int_equal(feed(&m, 1, 0, &o), 1);
    assert_int_equal(feed(&m, 2, 10, &o), 2);
    assert_int_equal(feed(&m, 3, 20, &o), NONE); /* the bucket is empty */
    assert_int_equal(corio_pp_poll_ms(&m, 20), 980);
    assert_int_equal(poll_at(&m, 999, &o), NONE);
    assert_int_equal(poll_at(&m, 1000, &o), 3); /* a token came */
    assert_int_equal(o.t_ms, 20);
    /* a newer value replaces one that waits */
    assert_int_equal(feed(&m, 4, 1100, &o), NONE);
    assert_int_equal(feed(&m, 5, 1200, &o), NONE);
    assert_int_equal(poll_at(&m, 2000, &o), 5);
    struct corio_pp_stats st;
    corio_pp_stats(&m, &st);
    assert_int_equal(st.reports, 4);
    assert_int_equal(st.limited, 3);
    assert_int_equal(st.replaced, 1);
    /* the bucket refills to its burst and no further */
    assert_int_equal(feed(&m, 6, 100000, &o), 6);
    assert_int_equal(feed(&m, 7, 100001, &o), 7);
    assert_int_equal(feed(&m, 8, 100002, &o), NONE);
    /* a steady rate of one per refill_ms passes */
    for (uint32_t t = 101002; t < 110000; t += 1000)
        assert_int_equal(poll_at(&m, t, &o) != NONE || feed(&m, 9, t, &o) != NONE, 1);
}

static void stages_composed(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.window_count = 5;      /* the mean of 5 samples (one a second), */
    c.deadband_abs = 100;    /* when it moved by 100, */
    c.max_silence_ms = 5000; /* or after 5 s without a report, */
    c.burst = 1;             /* and at most one report per 3 s */
    c.refill_ms = 3000;
    pp_init(&m, &c);
    int32_t values[16];
    uint8_t whys[16];
    uint32_t times[16];
    int n = 0;
    for (int i = 0; i < 60; i++) {
        uint32_t t = (uint32_t)i * 200u;
        int w = i / 5; /* window w: 1000, 1000, 2000, then 3000 */
        int32_t v = w < 2 ? 1000 : w == 2 ? 2000 : 3000;
        if (corio_pp_sample(&m, v, t, &o) == 1 || corio_pp_poll(&m, t, &o) == 1) {
            assert_true(o.window);
            assert_int_equal(o.count, 5);
            assert_true(n < 16);
            values[n] = o.value;
            whys[n] = o.why;
            times[n++] = t;
        }
    }
    /* window 0 goes out first; window 2's step to 2000 finds the bucket empty and
     * waits, and window 3's 3000 replaces it when the token comes; then the
     * deadband holds the flat 3000 until 5 s of silence */
    assert_int_equal(n, 3);
    assert_int_equal(values[0], 1000);
    assert_int_equal(whys[0], CORIO_PP_WHY_FIRST);
    assert_int_equal(times[0], 800);
    assert_int_equal(values[1], 3000);
    assert_int_equal(whys[1], CORIO_PP_WHY_CHANGE);
    assert_int_equal(times[1], 3800);
    assert_int_equal(values[2], 3000);
    assert_int_equal(whys[2], CORIO_PP_WHY_SILENCE);
    assert_int_equal(times[2], 8800);
    struct corio_pp_stats st;
    corio_pp_stats(&m, &st);
    assert_int_equal(st.samples, 60);
    assert_int_equal(st.windows, 12);
    assert_int_equal(st.reports, 3);
    assert_int_equal(st.limited, 1);
    assert_int_equal(st.replaced, 1);
}

static void clock_wraps(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_config c = cfg0();
    struct corio_pp_out o;
    c.window_ms = 1000;
    c.deadband_abs = 1;
    c.max_silence_ms = 3000;
    pp_init(&m, &c);
    uint32_t t0 = UINT32_MAX - 500;
    assert_int_equal(feed(&m, 7, t0, &o), NONE);
    assert_int_equal(corio_pp_poll_ms(&m, t0 + 100), 900);
    assert_int_equal(poll_at(&m, t0 + 999, &o), NONE);
    assert_int_equal(poll_at(&m, t0 + 1000, &o), 7); /* past the wrap */
    assert_int_equal(o.t_ms, t0 + 1000);
    assert_int_equal(feed(&m, 7, t0 + 1500, &o), NONE);
    assert_int_equal(poll_at(&m, t0 + 2500, &o), NONE); /* window of 7: in the band */
    assert_int_equal(poll_at(&m, t0 + 4000, &o), 7);    /* silence, across the wrap */
    assert_int_equal(o.why, CORIO_PP_WHY_SILENCE);
}

static void refusals(void **state)
{
    (void)state;
    struct corio_pp m;
    struct corio_pp_out o;
    struct corio_pp_stats st;
    struct corio_pp_config c = cfg0();
    assert_int_equal(corio_pp_init(NULL, &c), CORIO_ERR_INVAL);
    assert_int_equal(corio_pp_init(&m, NULL), CORIO_ERR_INVAL);
    c.pick = 4;
    assert_int_equal(corio_pp_init(&m, &c), CORIO_ERR_INVAL);
    c = cfg0();
    c.window_count = 1;
    assert_int_equal(corio_pp_init(&m, &c), CORIO_ERR_INVAL);
    c = cfg0();
    c.burst = 3;
    assert_int_equal(corio_pp_init(&m, &c), CORIO_ERR_INVAL);
    c = cfg0();
    c.max_silence_ms = 1000; /* silence without a deadband means nothing */
    assert_int_equal(corio_pp_init(&m, &c), CORIO_ERR_INVAL);
    c = cfg0();
    c.window_ms = 0x80000000u;
    assert_int_equal(corio_pp_init(&m, &c), CORIO_ERR_INVAL);
    c = cfg0();
    pp_init(&m, &c);
    assert_int_equal(corio_pp_sample(NULL, 1, 0, &o), CORIO_ERR_INVAL);
    assert_int_equal(corio_pp_sample(&m, 1, 0, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_pp_poll(NULL, 0, &o), CORIO_ERR_INVAL);
    assert_int_equal(corio_pp_poll(&m, 0, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_pp_poll_ms(NULL, 0), UINT32_MAX);
    assert_int_equal(corio_pp_stats(NULL, &st), CORIO_ERR_INVAL);
    assert_int_equal(corio_pp_stats(&m, NULL), CORIO_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_stage_off_passes_each_sample),
        cmocka_unit_test(count_window_aggregates),
        cmocka_unit_test(window_pick_and_extremes),
        cmocka_unit_test(time_window_closes_on_sample_or_poll),
        cmocka_unit_test(count_and_time_whichever_first),
        cmocka_unit_test(absolute_deadband),
        cmocka_unit_test(relative_deadband),
        cmocka_unit_test(absolute_and_relative_both_met),
        cmocka_unit_test(max_silence_on_sample_and_poll),
        cmocka_unit_test(token_bucket_delays_and_coalesces),
        cmocka_unit_test(stages_composed),
        cmocka_unit_test(clock_wraps),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
