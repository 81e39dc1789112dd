/* test_common_metrics.c - the exact Prometheus text format, name checks, and lock-free
 * updates from many threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"
#include "corio_buf.h"
#include "corio_metrics.h"

static char *render(struct corio_registry *r)
{
    struct corio_buf b = CORIO_BUF_INIT(1 << 20);
    assert_int_equal(corio_registry_render(r, &b), CORIO_OK);
    char *s = corio_buf_take(&b, NULL);
    return s ? s : strdup("");
}

static double quarter(void *arg)
{
    return *(double *)arg;
}

static void exposition_format(void **state)
{
    (void)state;
    struct corio_registry *r = corio_registry_new();
    struct corio_counter *msgs =
        corio_counter_new(r, "corio_test_messages_total", "Messages stored.");
    static const char *const reasons[] = {"full", "io", "we\"ird\\val\nue", NULL};
    struct corio_counter *drops[3];
    assert_int_equal(corio_counter_new_labeled(r, "corio_test_drops_total",
                                               "Dropped: a \\ b\nnext line \"quoted\".", "reason",
                                               reasons, drops),
                     CORIO_OK);
    struct corio_gauge *depth = corio_gauge_new(r, "corio_test_depth", "Queue depth.");
    static const char *const states[] = {"up", "down", NULL};
    struct corio_gauge *links[2];
    assert_int_equal(
        corio_gauge_new_labeled(r, "corio_test_links", "Links by state.", "state", states, links),
        CORIO_OK);
    double q = 0.25;
    assert_non_null(corio_gauge_new_fn(r, "corio_test_ratio", "A computed ratio.", quarter, &q));
    static const double bounds[] = {0.005, 0.1, 1, 2.5};
    struct corio_histogram *lat =
        corio_histogram_new(r, "corio_test_latency_seconds", "Latency.", bounds, 4);
    assert_non_null(msgs);
    assert_non_null(depth);
    assert_non_null(lat);

    corio_counter_add(msgs, 3);
    corio_counter_inc(msgs);
    corio_counter_inc(drops[0]);
    corio_counter_add(drops[2], 7);
    corio_gauge_set(depth, 10);
    corio_gauge_add(depth, -15);
    corio_gauge_set(links[1], 2);
    corio_histogram_observe(lat, 0.001);
    corio_histogram_observe(lat, 0.005); /* on a bound: le is inclusive */
    corio_histogram_observe(lat, 0.05);
    corio_histogram_observe(lat, 3);
    assert_int_equal(corio_histogram_count(lat), 4);

    char *text = render(r);
    assert_string_equal(text,
                        "# HELP corio_test_messages_total Messages stored.\n"
                        "# TYPE corio_test_messages_total counter\n"
                        "corio_test_messages_total 4\n"
                        "# HELP corio_test_drops_total Dropped: a \\\\ b\\nnext line \"quoted\".\n"
                        "# TYPE corio_test_drops_total counter\n"
                        "corio_test_drops_total{reason=\"full\"} 1\n"
                        "corio_test_drops_total{reason=\"io\"} 0\n"
                        "corio_test_drops_total{reason=\"we\\\"ird\\\\val\\nue\"} 7\n"
                        "# HELP corio_test_depth Queue depth.\n"
                        "# TYPE corio_test_depth gauge\n"
                        "corio_test_depth -5\n"
                        "# HELP corio_test_links Links by state.\n"
                        "# TYPE corio_test_links gauge\n"
                        "corio_test_links{state=\"up\"} 0\n"
                        "corio_test_links{state=\"down\"} 2\n"
                        "# HELP corio_test_ratio A computed ratio.\n"
                        "# TYPE corio_test_ratio gauge\n"
                        "corio_test_ratio 0.25\n"
                        "# HELP corio_test_latency_seconds Latency.\n"
                        "# TYPE corio_test_latency_seconds histogram\n"
                        "corio_test_latency_seconds_bucket{le=\"0.005\"} 2\n"
                        "corio_test_latency_seconds_bucket{le=\"0.1\"} 3\n"
                        "corio_test_latency_seconds_bucket{le=\"1\"} 3\n"
                        "corio_test_latency_seconds_bucket{le=\"2.5\"} 3\n"
                        "corio_test_latency_seconds_bucket{le=\"+Inf\"} 4\n"
                        "corio_test_latency_seconds_sum 3.056\n"
                        "corio_test_latency_seconds_count 4\n");
    free(text);

    /* special values are spelled as Prometheus reads them */
    q = NAN;
    text = render(r);
    assert_non_null(strstr(text, "corio_test_ratio NaN\n"));
    free(text);
    q = -INFINITY;
    text = render(r);
    assert_non_null(strstr(text, "corio_test_ratio -Inf\n"));
    free(text);
    corio_registry_free(r);
}

static void names_are_checked(void **state)
{
    (void)state;
    struct corio_registry *r = corio_registry_new();
    struct corio_counter *out[2];
    static const char *const vals[] = {"a", "b", NULL};
    static const char *const dup_vals[] = {"a", "a", NULL};
    static const char *const no_vals[] = {NULL};
    static const double bounds[] = {1, 2};
    static const double unsorted[] = {2, 1};
    static const double inf[] = {1, INFINITY};

    assert_null(corio_counter_new(r, "", "x"));
    assert_null(corio_counter_new(r, "9lives", "x"));
    assert_null(corio_counter_new(r, "has-dash", "x"));
    assert_null(corio_counter_new(r, "has space", "x"));
    assert_non_null(corio_counter_new(r, "ok:colon_total", "x"));
    assert_null(corio_counter_new(r, "ok:colon_total", "again"));    /* duplicate */
    assert_null(corio_gauge_new(r, "ok:colon_total", "as a gauge")); /* any kind */
    assert_int_equal(corio_counter_new_labeled(r, "l1", "x", "__reserved", vals, out),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_counter_new_labeled(r, "l2", "x", "bad-label", vals, out),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_counter_new_labeled(r, "l3", "x", "l", dup_vals, out), CORIO_ERR_INVAL);
    assert_int_equal(corio_counter_new_labeled(r, "l4", "x", "l", no_vals, out), CORIO_ERR_INVAL);
    assert_int_equal(corio_counter_new_labeled(r, "l5", "x", "l", vals, out), CORIO_OK);
    assert_null(corio_histogram_new(r, "h1", "x", unsorted, 2));
    assert_null(corio_histogram_new(r, "h2", "x", inf, 2));
    assert_null(corio_histogram_new(r, "h3", "x", bounds, 0));
    assert_non_null(corio_histogram_new(r, "h4", "x", bounds, 2));
    assert_null(corio_gauge_new_fn(r, "f", "x", NULL, NULL));
    /* NULL handles are ignored by updates */
    corio_counter_inc(NULL);
    corio_gauge_set(NULL, 1);
    corio_histogram_observe(NULL, 1);
    assert_int_equal(corio_counter_get(NULL), 0);
    corio_registry_free(r);
}

struct hammer {
    struct corio_counter *c;
    struct corio_gauge *g;
    struct corio_histogram *h;
};

#define THREADS 4
#define ROUNDS  100000

static void *hammer_main(void *arg)
{
    struct hammer *x = arg;
    for (int i = 0; i < ROUNDS; i++) {
        corio_counter_inc(x->c);
        corio_gauge_add(x->g, (i & 1) ? 1 : -1);
        corio_histogram_observe(x->h, (i % 4) * 0.5); /* 0, .5, 1, 1.5 */
    }
    return NULL;
}

static void updates_from_many_threads_add_up(void **state)
{
    (void)state;
    struct corio_registry *r = corio_registry_new();
    static const double bounds[] = {0.5, 1};
    struct hammer x = {corio_counter_new(r, "c_total", "c"), corio_gauge_new(r, "g", "g"),
                       corio_histogram_new(r, "h", "h", bounds, 2)};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &x), 0);
    /* render while they run: it must neither block them nor break */
    for (int i = 0; i < 20; i++)
        free(render(r));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(corio_counter_get(x.c), THREADS * ROUNDS);
    assert_int_equal(corio_gauge_get(x.g), 0);
    assert_int_equal(corio_histogram_count(x.h), THREADS * ROUNDS);
    char *text = render(r);
    /* per thread: 25000 each of 0, .5, 1, 1.5 → sum 75000; buckets .5: 50000, 1: 75000 */
    assert_non_null(strstr(text, "h_bucket{le=\"0.5\"} 200000\n"));
    assert_non_null(strstr(text, "h_bucket{le=\"1\"} 300000\n"));
    assert_non_null(strstr(text, "h_bucket{le=\"+Inf\"} 400000\n"));
    assert_non_null(strstr(text, "h_sum 300000\n"));
    assert_non_null(strstr(text, "h_count 400000\n"));
    free(text);
    corio_registry_free(r);
}

static void render_respects_the_cap(void **state)
{
    (void)state;
    struct corio_registry *r = corio_registry_new();
    assert_non_null(corio_counter_new(r, "a_total", "A fairly long help text for a counter."));
    struct corio_buf b = CORIO_BUF_INIT(20);
    assert_int_equal(corio_registry_render(r, &b), CORIO_ERR_FULL);
    assert_int_equal(corio_buf_len(&b), 0);
    corio_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exposition_format),
        cmocka_unit_test(names_are_checked),
        cmocka_unit_test(updates_from_many_threads_add_up),
        cmocka_unit_test(render_respects_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
