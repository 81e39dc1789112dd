/* test_cloud_api.c - corio-cloud's HTTP API (docs/api.md) on a real HTTP server over a
 * real store: the shapes the dashboard decodes (web/src/api/decode.ts), series tiers
 * and their errors, gaps, stats, the event stream, health, and the dashboard's files
 * with their content types and refused paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "api.h"
#include "corio/error.h"
#include "corio_http.h"
#include "corio_metrics.h"
#include "harness.h"
#include "store.h"
#include "test_common_http_client.h"

#define ORG     "oooooooooooooooooooooooo"
#define ORG2    "pppppppppppppppppppppppp"
#define GW      "gggggggggggggggggggggggg"
#define DEV     "dddddddddddddddddddddddd"
#define DEV2    "eeeeeeeeeeeeeeeeeeeeeeee"
#define FOREIGN "ffffffffffffffffffffffff"
#define HOUR    3600000LL
#define BASE    1764500400000LL /* an hour boundary */
#define NOW     (BASE + 3 * HOUR)

static int64_t fixed_now(void)
{
    return NOW;
}

struct fx {
    char *dir;
    struct corio_store *writer, *reader;
    struct corio_api *api;
    struct corio_http *http;
    struct corio_registry *reg;
    uint16_t port;
    struct hc_conn c;
    json_t *j;
};

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void put_msg(struct corio_store *s, int64_t seq, int64_t t, double v)
{
    struct corio_msg_row m = {.org = ORG,
                              .device = DEV,
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
    assert_int_equal(corio_store_add_message(s, &m, &ref), 1);
    struct corio_sample_row r = {.org = ORG,
                                 .device = DEV,
                                 .metric = "temp",
                                 .t_ms = t,
                                 .msg = ref,
                                 .value = {.kind = CORIO_VALUE_NUM, .num = v}};
    assert_int_equal(corio_store_add_sample(s, &r, "Cel"), 1);
    assert_int_equal(corio_store_seq_stored(s, ORG, DEV, 1, seq, t, t, NULL, NULL), CORIO_OK);
}

static int setup_with(void **state, bool with_web)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = h_tmpdir("cloud-api");
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/cloud.db", f->dir);
    assert_int_equal(corio_store_open_sqlite(path, &f->writer, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_store_open_sqlite(path, &f->reader, err, sizeof err), CORIO_OK);
    struct corio_store *s = f->writer;
    assert_int_equal(corio_store_put_org(s, ORG, ""), CORIO_OK);
    struct corio_gateway_rec g = {.id = GW, .org = ORG};
    assert_int_equal(corio_store_put_gateway(s, &g), CORIO_OK);
    struct corio_device_rec d = {.id = DEV, .org = ORG, .gateway = GW, .model = "m1"};
    assert_int_equal(corio_store_put_device(s, &d), CORIO_OK);
    struct corio_device_rec d2 = {.id = DEV2, .org = ORG};
    assert_int_equal(corio_store_put_device(s, &d2), CORIO_OK);
    struct corio_device_rec d3 = {.id = FOREIGN, .org = ORG2};
    assert_int_equal(corio_store_put_device(s, &d3), CORIO_OK);

    /* DEV: one sample a minute for three hours (value = minute), seq 1..180 with 50
     * missing; a heartbeat that reveals a tail gap; online. A string sample too. */
    assert_int_equal(corio_store_begin(s), CORIO_OK);
    for (int i = 0; i < 180; i++)
        if (i + 1 != 50)
            put_msg(s, i + 1, BASE + (int64_t)i * 60000, (double)i);
    struct corio_gap tail;
    assert_int_equal(corio_store_heartbeat(s, ORG, DEV, 1, 183, 1, 0, NOW - 1000, &tail), 1);
    assert_int_equal(corio_store_presence(s, ORG, DEV, GW, true, NOW - 500), 1);
    struct corio_msg_row m = {.org = ORG,
                              .device = DEV,
                              .gateway = GW,
                              .gw_epoch = 1,
                              .gw_id = 999,
                              .suffix = "up/json",
                              .recv_ms = NOW - 10,
                              .stored_ms = NOW,
                              .status = CORIO_MSG_STORED};
    int64_t ref;
    assert_int_equal(corio_store_add_message(s, &m, &ref), 1);
    struct corio_sample_row r = {.org = ORG,
                                 .device = DEV,
                                 .metric = "door",
                                 .t_ms = NOW - 10,
                                 .msg = ref,
                                 .value = {.kind = CORIO_VALUE_STR, .str = "open", .len = 4}};
    assert_int_equal(corio_store_add_sample(s, &r, NULL), 1);
    assert_int_equal(corio_store_commit(s), CORIO_OK);

    char web[650];
    snprintf(web, sizeof web, "%s/web", f->dir);
    if (with_web) {
        assert_int_equal(mkdir(web, 0755), 0);
        char assets[700];
        snprintf(assets, sizeof assets, "%s/assets", web);
        assert_int_equal(mkdir(assets, 0755), 0);
        write_file(web, "index.html", "<!doctype html><title>Corio</title>");
        write_file(assets, "index-abc123.js", "console.log('corio')");
        write_file(assets, "index-abc123.css", "body{}");
        write_file(assets, "index-abc123.js.map", "{}");
        write_file(assets, ".hidden", "do not serve");
        write_file(f->dir, "secret.txt", "do not serve");
        char target[700], link[750];
        snprintf(target, sizeof target, "%s/secret.txt", f->dir);
        snprintf(link, sizeof link, "%s/link.js", assets);
        assert_int_equal(symlink(target, link), 0);
        snprintf(link, sizeof link, "%s/sub.js", assets);
        assert_int_equal(mkdir(link, 0755), 0);
    }
    struct corio_api_opts ao = {
        .store = f->reader, .org = ORG, .web_root = with_web ? web : NULL, .now_ms = fixed_now};
    assert_int_equal(corio_api_new(&ao, &f->api), CORIO_OK);
    f->reg = corio_registry_new();
    struct corio_http_opts ho = {.port = 0, .metrics = f->reg};
    assert_int_equal(corio_http_new(&f->http, &ho), CORIO_OK);
    assert_int_equal(corio_api_routes(f->api, f->http), CORIO_OK);
    assert_int_equal(corio_http_start(f->http, err, sizeof err), CORIO_OK);
    f->port = corio_http_port(f->http);
    f->c.fd = -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, true);
}

static int setup_noweb(void **state)
{
    return setup_with(state, false);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hc_free(&f->c);
    json_decref(f->j);
    corio_http_free(f->http);
    corio_registry_free(f->reg);
    corio_api_free(f->api);
    corio_store_close(f->reader);
    corio_store_close(f->writer);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->dir);
    free(f);
    return 0;
}

/* GET path; returns the status, keeps the response in f->c and its JSON (if any) in f->j. */
static int get(struct fx *f, const char *path)
{
    hc_free(&f->c);
    json_decref(f->j);
    f->j = NULL;
    char req[1024];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    int status = hc_request(f->port, req, (size_t)n, &f->c);
    char ct[128];
    if (f->c.body && hc_header(&f->c, "Content-Type", ct, sizeof ct) &&
        strncmp(ct, "application/json", 16) == 0) {
        f->j = json_loads(f->c.body, 0, NULL);
        assert_non_null(f->j);
    }
    return status;
}

static const char *error_of(struct fx *f)
{
    assert_non_null(f->j);
    const char *e = json_string_value(json_object_get(f->j, "error"));
    assert_non_null(e);
    return e;
}

static void test_devices(void **state)
{
    struct fx *f = *state;
    assert_int_equal(get(f, "/api/v1/devices"), 200);
    json_t *list = json_object_get(f->j, "devices");
    assert_int_equal(json_array_size(list), 2); /* not the other organisation's */
    json_t *d = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(d, "id")), DEV);
    assert_string_equal(json_string_value(json_object_get(d, "did")), "did:corio:" DEV);
    assert_string_equal(json_string_value(json_object_get(d, "org")), ORG);
    assert_string_equal(json_string_value(json_object_get(d, "gateway")), GW);
    assert_true(json_is_true(json_object_get(d, "online")));
    assert_int_equal(json_integer_value(json_object_get(d, "last_seen")), NOW - 10);
    assert_int_equal(json_integer_value(json_object_get(d, "last_seq")), 180);
    assert_int_equal(json_integer_value(json_object_get(d, "epoch")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "messages")), 179);
    /* 50 is a hole; 181 and 182 were acknowledged by the gateway (last 183, 1 pending). */
    assert_int_equal(json_integer_value(json_object_get(d, "missing")), 3);
    json_t *metrics = json_object_get(d, "metrics");
    assert_int_equal(json_array_size(metrics), 2);
    assert_string_equal(json_string_value(json_array_get(metrics, 0)), "door");
    assert_string_equal(json_string_value(json_array_get(metrics, 1)), "temp");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "registry"), "model")),
                        "m1");
    /* A device never heard from: nulls, not zeros. */
    json_t *d2 = json_array_get(list, 1);
    assert_false(json_is_true(json_object_get(d2, "online")));
    assert_true(json_is_null(json_object_get(d2, "last_seen")));
    assert_true(json_is_null(json_object_get(d2, "last_seq")));
    assert_true(json_is_null(json_object_get(d2, "epoch")));
    assert_int_equal(json_integer_value(json_object_get(d2, "messages")), 0);

    assert_int_equal(get(f, "/api/v1/devices/" DEV), 200);
    assert_string_equal(json_string_value(json_object_get(f->j, "id")), DEV);
    assert_int_equal(get(f, "/api/v1/devices/" FOREIGN), 404);
    assert_string_equal(error_of(f), "unknown device");
    assert_int_equal(get(f, "/api/v1/devices/zzzzzzzzzzzzzzzzzzzzzzzz"), 404);
    assert_int_equal(get(f, "/api/v1/devices/NOT-AN-ID"), 404);
    assert_string_equal(error_of(f), "unknown device");
    assert_int_equal(get(f, "/api/v1/nothing"), 404);
}

static void test_series_raw(void **state)
{
    struct fx *f = *state;
    /* Defaults: the hour before now. */
    assert_int_equal(get(f, "/api/v1/devices/" DEV "/series?metric=temp"), 200);
    assert_string_equal(json_string_value(json_object_get(f->j, "device")), DEV);
    assert_string_equal(json_string_value(json_object_get(f->j, "metric")), "temp");
    assert_string_equal(json_string_value(json_object_get(f->j, "unit")), "Cel");
    assert_int_equal(json_integer_value(json_object_get(f->j, "step")), 0);
    json_t *pts = json_object_get(f->j, "points");
    assert_int_equal(json_array_size(pts), 60);
    json_t *p0 = json_array_get(pts, 0);
    assert_int_equal(json_integer_value(json_array_get(p0, 0)), BASE + 2 * HOUR);
    assert_true(json_number_value(json_array_get(p0, 1)) == 120.0);

    char path[256];
    snprintf(path, sizeof path,
             "/api/v1/devices/" DEV "/series?metric=temp&from=%lld&to=%lld&step=0", (long long)BASE,
             (long long)(BASE + 5 * 60000));
    assert_int_equal(get(f, path), 200);
    pts = json_object_get(f->j, "points");
    assert_int_equal(json_array_size(pts), 5);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(pts, 4), 0)),
                     BASE + 4 * 60000);

    /* Strings come as strings (the dashboard counts them as skipped). */
    assert_int_equal(get(f, "/api/v1/devices/" DEV "/series?metric=door"), 200);
    pts = json_object_get(f->j, "points");
    assert_int_equal(json_array_size(pts), 1);
    assert_string_equal(json_string_value(json_array_get(json_array_get(pts, 0), 1)), "open");
    assert_string_equal(json_string_value(json_object_get(f->j, "unit")), "");
}

static void test_series_stepped(void **state)
{
    struct fx *f = *state;
    char path[256];
    /* 5-minute buckets over the first hour, from the 1-minute rollups. */
    snprintf(path, sizeof path,
             "/api/v1/devices/" DEV "/series?metric=temp&from=%lld&to=%lld&step=300",
             (long long)BASE, (long long)(BASE + HOUR));
    assert_int_equal(get(f, path), 200);
    assert_int_equal(json_integer_value(json_object_get(f->j, "step")), 300);
    json_t *pts = json_object_get(f->j, "points");
    assert_int_equal(json_array_size(pts), 12);
    json_t *b = json_array_get(pts, 1); /* minutes 5..9 */
    assert_int_equal(json_array_size(b), 5);
    assert_int_equal(json_integer_value(json_array_get(b, 0)), BASE + 300000);
    assert_true(json_number_value(json_array_get(b, 1)) == 5.0);
    assert_true(json_number_value(json_array_get(b, 2)) == 9.0);
    assert_true(json_number_value(json_array_get(b, 3)) == 7.0);
    assert_int_equal(json_integer_value(json_array_get(b, 4)), 5);
    /* The bucket holding the missing seq 50 (minute 49) has four samples. */
    b = json_array_get(pts, 9);
    assert_int_equal(json_integer_value(json_array_get(b, 4)), 4);

    /* One-hour buckets from the 1-hour tier. */
    snprintf(path, sizeof path,
             "/api/v1/devices/" DEV "/series?metric=temp&from=%lld&to=%lld&step=3600",
             (long long)BASE, (long long)NOW);
    assert_int_equal(get(f, path), 200);
    pts = json_object_get(f->j, "points");
    assert_int_equal(json_array_size(pts), 3);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(pts, 2), 4)), 60);

    /* A step below a minute buckets the raw samples. */
    snprintf(path, sizeof path,
             "/api/v1/devices/" DEV "/series?metric=temp&from=%lld&to=%lld&step=30",
             (long long)BASE, (long long)(BASE + 120000));
    assert_int_equal(get(f, path), 200);
    assert_int_equal(json_array_size(json_object_get(f->j, "points")), 2);
}

static void test_series_errors(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *query;
        int status;
        const char *error;
    } cases[] = {
        {"", 400, "metric is required"},
        {"?metric=", 400, "metric is required"},
        {"?metric=temp&from=abc", 400, "from must be"},
        {"?metric=temp&from=-5", 400, "from must be"},
        {"?metric=temp&to=1.5", 400, "to must be"},
        {"?metric=temp&step=-1", 400, "step must be"},
        {"?metric=temp&step=1.5", 400, "step must be"},
        {"?metric=temp&step=99999999999", 400, "step must be"},
        {"?metric=temp&from=10&to=5", 400, "from is after to"},
        {"?metric=nope", 404, "unknown metric"},
        {"?metric=bad%20name", 404, "unknown metric"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/devices/" DEV "/series%s", cases[i].query);
        int status = get(f, path);
        if (status != cases[i].status || !strstr(error_of(f), cases[i].error))
            fail_msg("%s: %d '%s', want %d '%s'", cases[i].query, status, f->j ? error_of(f) : "",
                     cases[i].status, cases[i].error);
    }
    assert_int_equal(get(f, "/api/v1/devices/" FOREIGN "/series?metric=temp"), 404);
    assert_string_equal(error_of(f), "unknown device");
    assert_int_equal(get(f, "/api/v1/devices/" DEV2 "/series?metric=temp"), 404);
    assert_string_equal(error_of(f), "unknown metric");
}

static void test_gaps_and_stats(void **state)
{
    struct fx *f = *state;
    assert_int_equal(get(f, "/api/v1/devices/" DEV "/gaps"), 200);
    assert_string_equal(json_string_value(json_object_get(f->j, "device")), DEV);
    assert_int_equal(json_integer_value(json_object_get(f->j, "missing")), 3);
    json_t *gaps = json_object_get(f->j, "gaps");
    assert_int_equal(json_array_size(gaps), 2);
    json_t *g = json_array_get(gaps, 0);
    assert_string_equal(json_string_value(json_object_get(g, "kind")), "seq");
    assert_int_equal(json_integer_value(json_object_get(g, "epoch")), 1);
    assert_int_equal(json_integer_value(json_object_get(g, "from_seq")), 50);
    assert_int_equal(json_integer_value(json_object_get(g, "to_seq")), 50);
    assert_true(json_is_integer(json_object_get(g, "detected")));
    g = json_array_get(gaps, 1);
    assert_string_equal(json_string_value(json_object_get(g, "kind")), "tail");
    assert_int_equal(json_integer_value(json_object_get(g, "from_seq")), 181);
    assert_int_equal(json_integer_value(json_object_get(g, "to_seq")), 182);
    assert_int_equal(json_integer_value(json_object_get(g, "detected")), NOW - 1000);
    assert_int_equal(get(f, "/api/v1/devices/" FOREIGN "/gaps"), 404);

    assert_int_equal(get(f, "/api/v1/stats"), 200);
    static const struct {
        const char *key;
        int64_t want;
    } want[] = {{"devices", 2}, {"online", 1},     {"messages", 180}, {"samples", 180},
                {"missing", 3}, {"duplicates", 0}, {"rejected", 0},   {"batches", 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *v = json_object_get(f->j, want[i].key);
        if (!json_is_integer(v) || json_integer_value(v) != want[i].want)
            fail_msg("stats.%s", want[i].key);
    }
}

static void test_stream_health_metrics(void **state)
{
    struct fx *f = *state;
    assert_int_equal(get(f, "/healthz"), 200);
    assert_string_equal(f->c.body, "ok\n");
    assert_int_equal(get(f, "/metrics"), 200);
    assert_non_null(strstr(f->c.body, "corio_http_requests_total"));

    hc_free(&f->c);
    hc_init(&f->c, hc_connect(f->port, 0));
    const char *req = "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(hc_send(f->c.fd, req, strlen(req)));
    assert_true(hc_wait_for(&f->c, ": connected", HC_DEADLINE_MS));
    char ct[128];
    assert_non_null(hc_header(&f->c, "Content-Type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/event-stream"));
    assert_int_equal(corio_http_sse_broadcast(f->http, "sample", "{\"device\":\"" DEV "\"}"), 1);
    assert_true(
        hc_wait_for(&f->c, "event: sample\ndata: {\"device\":\"" DEV "\"}\n\n", HC_DEADLINE_MS));
}

static void test_dashboard_files(void **state)
{
    struct fx *f = *state;
    char ct[128];
    assert_int_equal(get(f, "/"), 200);
    assert_string_equal(f->c.body, "<!doctype html><title>Corio</title>");
    assert_string_equal(hc_header(&f->c, "Content-Type", ct, sizeof ct),
                        "text/html; charset=utf-8");
    assert_int_equal(get(f, "/assets/index-abc123.js"), 200);
    assert_string_equal(f->c.body, "console.log('corio')");
    assert_string_equal(hc_header(&f->c, "Content-Type", ct, sizeof ct),
                        "text/javascript; charset=utf-8");
    assert_non_null(strstr(hc_header(&f->c, "Cache-Control", ct, sizeof ct), "immutable"));
    assert_int_equal(get(f, "/assets/index-abc123.css"), 200);
    assert_string_equal(hc_header(&f->c, "Content-Type", ct, sizeof ct), "text/css; charset=utf-8");
    assert_int_equal(get(f, "/assets/index-abc123.js.map"), 200);
    assert_string_equal(hc_header(&f->c, "Content-Type", ct, sizeof ct), "application/json");

    /* Nothing outside web_root/assets, whatever the spelling. */
    static const char *const refused[] = {
        "/assets/..%2Fsecret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/assets/%2E%2E",
        "/assets/..",
        "/assets/.hidden",
        "/assets/link.js",
        "/assets/sub.js",
        "/assets/missing.js",
        "/assets/a%5C..%5Cb",
        "/index.html/..",
        "/../secret.txt",
        "/assets/",
        "/secret.txt",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int status = get(f, refused[i]);
        if (status != 404 && status != 400)
            fail_msg("%s answered %d", refused[i], status);
        if (f->c.body && strstr(f->c.body, "do not serve"))
            fail_msg("%s served the secret", refused[i]);
    }
    assert_string_equal(corio_api_content_type("x.woff2"), "font/woff2");
    assert_string_equal(corio_api_content_type("x"), "application/octet-stream");
}

static void test_no_dashboard(void **state)
{
    struct fx *f = *state;
    assert_int_equal(get(f, "/"), 404);
    assert_non_null(strstr(error_of(f), "no dashboard"));
    assert_int_equal(get(f, "/api/v1/stats"), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_stepped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_health_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_dashboard, setup_noweb, teardown),
    };
    return cmocka_run_group_tests_name("cloud_api", tests, NULL, NULL);
}
