/* test_common_http.c - the HTTP server over real sockets: routes and {param} captures,
 * query and headers, 400/404/405/413, JSON answers, body caps, GET /metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdatomic.h>

#include "corio/error.h"
#include "corio_http.h"
#include "corio_log.h"
#include "corio_metrics.h"
#include "test_common_http_client.h"

#define MAX_BODY 1024

static struct corio_registry *g_reg;
static struct corio_http *g_srv;
static uint16_t g_port;

static int device_get(struct corio_http_req *r, void *arg)
{
    (void)arg;
    const char *metric = corio_http_query(r, "metric");
    const char *flag = corio_http_query(r, "flag");
    return corio_http_reply_json(r, 200,
                                 json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s}", "route", "device",
                                           "id", corio_http_param(r, "id"), "metric", metric,
                                           "flag", flag, "method", corio_http_method(r), "path",
                                           corio_http_path(r)));
}

static int device_stats(struct corio_http_req *r, void *arg)
{
    (void)arg;
    return corio_http_reply_json(r, 200, json_pack("{s:s}", "route", "stats"));
}

static int device_delete(struct corio_http_req *r, void *arg)
{
    (void)arg;
    return corio_http_reply(r, 204, NULL, NULL, 0);
}

static int series_get(struct corio_http_req *r, void *arg)
{
    (void)arg;
    return corio_http_reply_json(r, 200,
                                 json_pack("{s:s, s:s}", "id", corio_http_param(r, "id"), "metric",
                                           corio_http_param(r, "metric")));
}

/* Echoes the body, its length, a request header, and sets a response header. */
static int echo(struct corio_http_req *r, void *arg)
{
    (void)arg;
    size_t len;
    const char *body = corio_http_body(r, &len);
    const char *agent = corio_http_header(r, "x-agent"); /* any case */
    int inject = corio_http_add_header(r, "X-Bad", "a\r\nSet-Cookie: owned=1");
    int bad_name = corio_http_add_header(r, "Bad Name", "x");
    corio_http_add_header(r, "X-Echo", "yes");
    return corio_http_reply_json(r, 200,
                                 json_pack("{s:s%, s:I, s:s?, s:i, s:i}", "body", body, len, "len",
                                           (json_int_t)len, "agent", agent, "inject", inject,
                                           "bad_name", bad_name));
}

static int parse_json(struct corio_http_req *r, void *arg)
{
    (void)arg;
    char err[200];
    json_t *j = corio_http_body_json(r, err, sizeof err);
    if (!j)
        return corio_http_reply_error(r, 400, "bad JSON: %s", err);
    json_t *name = json_object_get(j, "name");
    int rc = corio_http_reply_json(r, 201, json_pack("{s:O?}", "name", name));
    json_decref(j);
    return rc;
}

static atomic_int g_second_reply = 1;

static int text(struct corio_http_req *r, void *arg)
{
    (void)arg;
    int rc = corio_http_reply_text(r, 200, "plain\n");
    /* a second answer is refused (checked by the test thread) */
    atomic_store(&g_second_reply, corio_http_reply_text(r, 500, "again"));
    return rc;
}

static int silent(struct corio_http_req *r, void *arg)
{
    (void)r;
    (void)arg;
    return CORIO_ERR_IO; /* no answer: the server must answer 500 */
}

static int root(struct corio_http_req *r, void *arg)
{
    (void)arg;
    return corio_http_reply_text(r, 200, "root");
}

static int setup(void **state)
{
    (void)state;
    corio_log_set_level(CORIO_LOG_ERROR);
    g_reg = corio_registry_new();
    struct corio_http_opts o = {.max_body = MAX_BODY, .metrics = g_reg};
    assert_int_equal(corio_http_new(&g_srv, &o), CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "GET", "/api/v1/devices/{id}", device_get, NULL),
                     CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "GET", "/api/v1/devices/stats", device_stats, NULL),
                     CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "DELETE", "/api/v1/devices/{id}", device_delete, NULL),
                     CORIO_OK);
    assert_int_equal(
        corio_http_route(g_srv, "GET", "/api/v1/devices/{id}/series/{metric}", series_get, NULL),
        CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "POST", "/echo", echo, NULL), CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "PUT", "/json", parse_json, NULL), CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "GET", "/text", text, NULL), CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "GET", "/silent", silent, NULL), CORIO_OK);
    assert_int_equal(corio_http_route(g_srv, "GET", "/", root, NULL), CORIO_OK);
    char err[200];
    assert_int_equal(corio_http_start(g_srv, err, sizeof err), CORIO_OK);
    g_port = corio_http_port(g_srv);
    assert_true(g_port > 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corio_http_free(g_srv);
    corio_registry_free(g_reg);
    return 0;
}

/* GET path; returns the status, the parsed JSON body in *json when it is JSON. */
static int get(const char *method, const char *path, struct hc_conn *c, json_t **json)
{
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     method, path);
    int status = hc_request(g_port, req, (size_t)n, c);
    if (json)
        *json = c->body ? json_loads(c->body, 0, NULL) : NULL;
    return status;
}

static void expect_error(const char *method, const char *path, int status, const char *msg)
{
    struct hc_conn c;
    json_t *j;
    assert_int_equal(get(method, path, &c, &j), status);
    char ct[128];
    assert_non_null(hc_header(&c, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/json");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), msg);
    json_decref(j);
    hc_free(&c);
}

static void routes_params_and_query(void **state)
{
    (void)state;
    struct hc_conn c;
    json_t *j;
    assert_int_equal(get("GET", "/api/v1/devices/abc%2Fdef?metric=temp%20c&flag&x=1", &c, &j), 200);
    char ct[128];
    assert_string_equal(hc_header(&c, "Content-Type", ct, sizeof ct), "application/json");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "route")), "device");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "abc/def");
    assert_string_equal(json_string_value(json_object_get(j, "metric")), "temp c");
    assert_string_equal(json_string_value(json_object_get(j, "flag")), "");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/api/v1/devices/abc%2Fdef");
    json_decref(j);
    hc_free(&c);

    /* '+' is a space in a query */
    assert_int_equal(get("GET", "/api/v1/devices/x?metric=a+b%2Bc", &c, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "metric")), "a b+c");
    assert_true(json_is_null(json_object_get(j, "flag"))); /* absent */
    json_decref(j);
    hc_free(&c);

    /* a literal segment beats a capture */
    assert_int_equal(get("GET", "/api/v1/devices/stats", &c, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "route")), "stats");
    json_decref(j);
    hc_free(&c);

    assert_int_equal(get("GET", "/api/v1/devices/d1/series/temp", &c, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "d1");
    assert_string_equal(json_string_value(json_object_get(j, "metric")), "temp");
    json_decref(j);
    hc_free(&c);

    assert_int_equal(get("DELETE", "/api/v1/devices/d1", &c, NULL), 204);
    hc_free(&c);

    assert_int_equal(get("GET", "/", &c, NULL), 200);
    assert_string_equal(c.body, "root");
    hc_free(&c);

    /* HEAD is served by GET, without a body */
    assert_int_equal(get("HEAD", "/text", &c, NULL), 200);
    assert_int_equal(c.bodylen, 0);
    hc_free(&c);
}

static void not_found_and_not_allowed(void **state)
{
    (void)state;
    expect_error("GET", "/nope", 404, "not found");
    expect_error("GET", "/api/v1/devices", 404, "not found");
    expect_error("GET", "/api/v1/devices/", 404, "not found"); /* an empty capture */
    expect_error("GET", "/api/v1/devices/a/b", 404, "not found");
    expect_error("GET", "/text/", 404, "not found");

    struct hc_conn c;
    assert_int_equal(get("POST", "/api/v1/devices/d1", &c, NULL), 405);
    char allow[128];
    assert_non_null(hc_header(&c, "Allow", allow, sizeof allow));
    assert_string_equal(allow, "GET, DELETE");
    hc_free(&c);
    expect_error("PUT", "/text", 405, "method not allowed");
}

static void malformed_paths(void **state)
{
    (void)state;
    expect_error("GET", "/api/v1/devices/%zz", 400, "malformed path or query");
    expect_error("GET", "/api/v1/devices/a%00b", 400, "malformed path or query");
    expect_error("GET", "/api/v1/devices/a%2", 400, "malformed path or query");
    expect_error("GET", "/api/v1/devices/x?metric=%0", 400, "malformed path or query");
}

static void post(const char *path, const char *body, size_t len, struct hc_conn *c)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Agent: tester/1\r\n"
                     "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                     path, len);
    char *req = malloc((size_t)n + len);
    memcpy(req, head, (size_t)n);
    memcpy(req + n, body, len);
    hc_request(g_port, req, (size_t)n + len, c);
    free(req);
}

static void bodies_headers_and_caps(void **state)
{
    (void)state;
    struct hc_conn c;
    static const char body[] = "hello\0world";
    post("/echo", body, sizeof body - 1, &c);
    assert_int_equal(c.status, 200);
    char v[64];
    assert_string_equal(hc_header(&c, "X-Echo", v, sizeof v), "yes");
    assert_null(hc_header(&c, "X-Bad", v, sizeof v));
    assert_null(hc_header(&c, "Set-Cookie", v, sizeof v));
    json_t *j = json_loadb(c.body, c.bodylen, JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "len")), 11);
    assert_int_equal(json_string_length(json_object_get(j, "body")), 11);
    assert_memory_equal(json_string_value(json_object_get(j, "body")), body, 11);
    assert_string_equal(json_string_value(json_object_get(j, "agent")), "tester/1");
    assert_int_equal(json_integer_value(json_object_get(j, "inject")), CORIO_ERR_INVAL);
    assert_int_equal(json_integer_value(json_object_get(j, "bad_name")), CORIO_ERR_INVAL);
    json_decref(j);
    hc_free(&c);

    /* exactly the cap is fine */
    char *big = malloc(MAX_BODY + 1);
    memset(big, 'b', MAX_BODY + 1);
    post("/echo", big, MAX_BODY, &c);
    assert_int_equal(c.status, 200);
    j = json_loads(c.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "len")), MAX_BODY);
    json_decref(j);
    hc_free(&c);

    /* one byte more, announced: 413 before the body is even sent */
    char req[256];
    int n = snprintf(req, sizeof req,
                     "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n",
                     MAX_BODY + 1);
    assert_int_equal(hc_request(g_port, req, (size_t)n, &c), 413);
    j = json_loads(c.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "request body larger than 1024 bytes");
    json_decref(j);
    hc_free(&c);

    /* an absurd or negative length too */
    n = snprintf(req, sizeof req,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Content-Length: 99999999999999999999999\r\n\r\n");
    assert_int_equal(hc_request(g_port, req, (size_t)n, &c), 413);
    hc_free(&c);

    /* chunked, without a length: cut when it passes the cap */
    char chunked[4096];
    n = snprintf(chunked, sizeof chunked,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(chunked + n, sizeof chunked - (size_t)n, "200\r\n");
        memset(chunked + n, 'c', 0x200);
        n += 0x200;
        n += snprintf(chunked + n, sizeof chunked - (size_t)n, "\r\n");
    }
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "0\r\n\r\n");
    assert_int_equal(hc_request(g_port, chunked, (size_t)n, &c), 413);
    hc_free(&c);
    free(big);

    /* a chunked body that goes on and on is cut off: no answer, the connection closes */
    size_t huge_len = 8u << 20, hn = 0;
    char *huge = malloc(huge_len + 4096);
    hn += (size_t)sprintf(huge, "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n");
    while (hn + 0x10000 + 16 < huge_len) {
        hn += (size_t)sprintf(huge + hn, "10000\r\n");
        memset(huge + hn, 'h', 0x10000);
        hn += 0x10000;
        hn += (size_t)sprintf(huge + hn, "\r\n");
    }
    hn += (size_t)sprintf(huge + hn, "0\r\n\r\n");
    assert_int_equal(hc_request(g_port, huge, hn, &c), 0);
    hc_free(&c);
    free(huge);

    /* JSON bodies */
    static const char good[] = "{\"name\": \"pump-1\"}";
    n = snprintf(req, sizeof req,
                 "PUT /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 sizeof good - 1, good);
    assert_int_equal(hc_request(g_port, req, (size_t)n, &c), 201);
    assert_string_equal(c.body, "{\"name\":\"pump-1\"}");
    hc_free(&c);
    static const char dup[] = "{\"a\": 1, \"a\": 2}";
    n = snprintf(req, sizeof req,
                 "PUT /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 sizeof dup - 1, dup);
    assert_int_equal(hc_request(g_port, req, (size_t)n, &c), 400);
    assert_non_null(strstr(c.body, "bad JSON: line 1 column"));
    hc_free(&c);
}

static void unanswered_handler_gives_500(void **state)
{
    (void)state;
    expect_error("GET", "/silent", 500, "internal error");
    struct hc_conn c;
    assert_int_equal(get("GET", "/text", &c, NULL), 200);
    char ct[128];
    assert_string_equal(hc_header(&c, "Content-Type", ct, sizeof ct), "text/plain; charset=utf-8");
    assert_string_equal(c.body, "plain\n");
    assert_int_equal(atomic_load(&g_second_reply), CORIO_ERR_STATE);
    hc_free(&c);
}

static void keep_alive_serves_several_requests(void **state)
{
    (void)state;
    struct hc_conn c;
    hc_init(&c, hc_connect(g_port, 0));
    const char *req = "GET /text HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        assert_true(hc_send(c.fd, req, strlen(req)));
        assert_true(hc_wait_for(&c, "plain\n", HC_DEADLINE_MS));
        c.have_headers = false; /* the next response starts with headers again */
        c.bodylen = 0;
    }
    hc_free(&c);
}

static void metrics_endpoint(void **state)
{
    (void)state;
    struct hc_conn c;
    assert_int_equal(get("GET", "/metrics", &c, NULL), 200);
    char ct[128];
    assert_string_equal(hc_header(&c, "Content-Type", ct, sizeof ct),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(c.body, "# TYPE corio_http_requests_total counter\n"));
    assert_non_null(strstr(c.body, "# TYPE corio_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(c.body, "corio_http_sse_clients 0\n"));
    /* earlier tests answered 4xx and 5xx; this request is counted once answered */
    const char *c4 = strstr(c.body, "corio_http_requests_total{code=\"4xx\"} ");
    const char *c5 = strstr(c.body, "corio_http_requests_total{code=\"5xx\"} ");
    assert_non_null(c4);
    assert_non_null(c5);
    assert_true(atoi(c4 + strlen("corio_http_requests_total{code=\"4xx\"} ")) >= 10);
    assert_true(atoi(c5 + strlen("corio_http_requests_total{code=\"5xx\"} ")) >= 1);
    hc_free(&c);
}

static void route_declarations_are_checked(void **state)
{
    (void)state;
    struct corio_http *s;
    assert_int_equal(corio_http_new(&s, NULL), CORIO_OK);
    assert_int_equal(corio_http_route(s, "GET", "no-slash", root, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_http_route(s, "get", "/x", root, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_http_route(s, "GET", "/a/{}", root, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_http_route(s, "GET", "/a/{Bad}", root, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_http_route(s, "GET", "/a/x{y}", root, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_http_route(s, "GET", "/a/{x}", root, NULL), CORIO_OK);
    assert_int_equal(corio_http_route(s, "GET", "/a/{y}", root, NULL), CORIO_ERR_INVAL); /* same */
    assert_int_equal(corio_http_route(s, "POST", "/a/{y}", root, NULL), CORIO_OK);
    /* a second server cannot register the same metrics in one registry */
    struct corio_http *s2;
    struct corio_http_opts o = {.metrics = g_reg};
    assert_int_equal(corio_http_new(&s2, &o), CORIO_ERR_INVAL);
    /* a port in use is a clear error */
    struct corio_http_opts busy = {.port = g_port};
    assert_int_equal(corio_http_new(&s2, &busy), CORIO_OK);
    char err[200];
    assert_int_equal(corio_http_start(s2, err, sizeof err), CORIO_ERR_IO);
    assert_non_null(strstr(err, "Address already in use"));
    corio_http_free(s2);
    struct corio_http_opts bad = {.address = "not-an-address"};
    assert_int_equal(corio_http_new(&s2, &bad), CORIO_OK);
    assert_int_equal(corio_http_start(s2, err, sizeof err), CORIO_ERR_IO);
    assert_non_null(strstr(err, "bad listen address 'not-an-address'"));
    corio_http_free(s2);
    corio_http_free(s); /* never started */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_params_and_query),
        cmocka_unit_test(not_found_and_not_allowed),
        cmocka_unit_test(malformed_paths),
        cmocka_unit_test(bodies_headers_and_caps),
        cmocka_unit_test(unanswered_handler_gives_500),
        cmocka_unit_test(keep_alive_serves_several_requests),
        cmocka_unit_test(metrics_endpoint),
        cmocka_unit_test(route_declarations_are_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
