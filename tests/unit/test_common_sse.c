/* test_common_sse.c - Server-Sent Events over real sockets: broadcast to several clients,
 * a stalled client cut and counted (never skipped), keepalives, client limits, a client
 * that leaves, and stopping the server with streams open (ASan checks for leaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>

#include "corio/error.h"
#include "corio_http.h"
#include "corio_log.h"
#include "corio_metrics.h"
#include "test_common_http_client.h"

struct server {
    struct corio_registry *reg;
    struct corio_http *http;
    uint16_t port;
};

static int stream(struct corio_http_req *r, void *arg)
{
    (void)arg;
    return corio_http_sse_open(r);
}

static void server_start(struct server *s, const struct corio_http_opts *extra)
{
    struct corio_http_opts o = extra ? *extra : (struct corio_http_opts){0};
    s->reg = corio_registry_new();
    o.metrics = s->reg;
    assert_int_equal(corio_http_new(&s->http, &o), CORIO_OK);
    assert_int_equal(corio_http_route(s->http, "GET", "/api/v1/stream", stream, NULL), CORIO_OK);
    char err[200];
    assert_int_equal(corio_http_start(s->http, err, sizeof err), CORIO_OK);
    s->port = corio_http_port(s->http);
}

static void server_free(struct server *s)
{
    corio_http_free(s->http);
    corio_registry_free(s->reg);
}

/* Opens a stream and waits for its first comment, so it is registered when this returns. */
static void client_open(struct hc_conn *c, uint16_t port, int rcvbuf)
{
    hc_init(c, hc_connect(port, rcvbuf));
    assert_true(c->fd >= 0);
    const char *req = "GET /api/v1/stream HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n";
    assert_true(hc_send(c->fd, req, strlen(req)));
    assert_true(hc_wait_for(c, ": connected\n\n", HC_DEADLINE_MS));
    assert_int_equal(c->status, 200);
    assert_true(c->chunked);
    char v[128];
    assert_string_equal(hc_header(c, "Content-Type", v, sizeof v),
                        "text/event-stream; charset=utf-8");
    assert_string_equal(hc_header(c, "Cache-Control", v, sizeof v), "no-cache");
}

/* Polls until the server's stream count is want. */
static bool clients_become(struct server *s, unsigned want)
{
    int64_t deadline = hc_now_ms() + HC_DEADLINE_MS;
    while (corio_http_sse_clients(s->http) != want) {
        if (hc_now_ms() > deadline)
            return false;
        usleep(2000);
    }
    return true;
}

/* The value of the sample line that starts with line_prefix ("name " or "name{...} "). */
static uint64_t metric(struct server *s, const char *line_prefix)
{
    struct corio_buf b = CORIO_BUF_INIT(1 << 20);
    assert_int_equal(corio_registry_render(s->reg, &b), CORIO_OK);
    char key[256];
    snprintf(key, sizeof key, "\n%s", line_prefix);
    const char *at = strstr(corio_buf_str(&b), key);
    uint64_t v = at ? strtoull(at + strlen(key), NULL, 10) : UINT64_MAX;
    corio_buf_free(&b);
    return v;
}

static void two_clients_receive_a_broadcast(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, NULL);
    struct hc_conn a, b;
    client_open(&a, s.port, 0);
    client_open(&b, s.port, 0);
    assert_int_equal(corio_http_sse_clients(s.http), 2);

    assert_int_equal(
        corio_http_sse_broadcast(s.http, "sample", "{\"device\":\"d1\",\"v\":21.5}\nsecond line"),
        2);
    const char *want = "event: sample\ndata: {\"device\":\"d1\",\"v\":21.5}\ndata: second line\n\n";
    assert_true(hc_wait_for(&a, want, HC_DEADLINE_MS));
    assert_true(hc_wait_for(&b, want, HC_DEADLINE_MS));

    /* CR, CRLF and LF all split lines; an unnamed event has no event: line */
    assert_int_equal(corio_http_sse_broadcast(s.http, NULL, "a\rb\r\nc\n"), 2);
    want = "data: a\ndata: b\ndata: c\ndata: \n\n";
    assert_true(hc_wait_for(&a, want, HC_DEADLINE_MS));
    assert_true(hc_wait_for(&b, want, HC_DEADLINE_MS));
    assert_int_equal(a.bodylen, 0); /* nothing else arrived */

    /* an event name cannot smuggle in a line; a too large event is refused */
    assert_int_equal(corio_http_sse_broadcast(s.http, "x\ndata: forged", "d"), CORIO_ERR_INVAL);
    assert_int_equal(corio_http_sse_broadcast(s.http, "", "d"), CORIO_ERR_INVAL);
    char *huge = malloc((256u << 10) + 1);
    memset(huge, 'h', 256u << 10);
    huge[256u << 10] = '\0';
    assert_int_equal(corio_http_sse_broadcast(s.http, "big", huge), CORIO_ERR_FULL);
    free(huge);

    assert_int_equal(metric(&s, "corio_http_sse_clients "), 2);
    assert_int_equal(metric(&s, "corio_http_sse_events_total "), 2);
    hc_free(&a);
    hc_free(&b);
    server_free(&s);
}

struct burst {
    struct corio_http *http;
    int id;
};

#define BURST_THREADS 4
#define BURST_EVENTS  200

static void *burst_main(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < BURST_EVENTS; i++) {
        char data[32];
        snprintf(data, sizeof data, "%d:%d", b->id, i);
        corio_http_sse_broadcast(b->http, "n", data);
    }
    return NULL;
}

static void broadcast_from_many_threads(void **state)
{
    (void)state;
    struct server s;
    struct corio_http_opts o = {.sse_queue_bytes = 1u << 20};
    server_start(&s, &o);
    struct hc_conn a;
    client_open(&a, s.port, 0);
    pthread_t t[BURST_THREADS];
    struct burst b[BURST_THREADS];
    for (int i = 0; i < BURST_THREADS; i++) {
        b[i] = (struct burst){s.http, i};
        assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
    }
    for (int i = 0; i < BURST_THREADS; i++)
        pthread_join(t[i], NULL);
    /* every event arrives, whole, each thread's in its order */
    int next[BURST_THREADS] = {0};
    for (int n = 0; n < BURST_THREADS * BURST_EVENTS; n++) {
        assert_true(hc_wait_for(&a, "event: n\ndata: ", HC_DEADLINE_MS));
        int64_t deadline = hc_now_ms() + HC_DEADLINE_MS;
        while (!strstr(a.body, "\n\n")) {
            assert_true(hc_now_ms() < deadline);
            hc_pump(&a, 100);
        }
        int id, i;
        assert_int_equal(sscanf(a.body, "%d:%d\n\n", &id, &i), 2);
        assert_int_equal(i, next[id]);
        next[id]++;
    }
    hc_free(&a);
    server_free(&s);
}

static void stalled_client_is_cut_and_counted(void **state)
{
    (void)state;
    struct server s;
    struct corio_http_opts o = {.sse_queue_bytes = 64u << 10};
    server_start(&s, &o);
    struct hc_conn fast, stalled;
    client_open(&stalled, s.port, 4096); /* a small window fills sooner */
    client_open(&fast, s.port, 0);

    /* Broadcast in step with the fast client until the stalled one is cut. */
    char data[4096];
    int sent = 0;
    int64_t deadline = hc_now_ms() + 60000;
    while (metric(&s, "corio_http_sse_slow_disconnects_total ") == 0) {
        assert_true(hc_now_ms() < deadline);
        int n = snprintf(data, sizeof data, "seq=%06d ", sent);
        memset(data + n, 'p', sizeof data - (size_t)n - 1);
        data[sizeof data - 1] = '\0';
        int got = corio_http_sse_broadcast(s.http, "sample", data);
        assert_true(got >= 1);
        char want[32];
        snprintf(want, sizeof want, "data: seq=%06d ", sent);
        assert_true(hc_wait_for(&fast, want, HC_DEADLINE_MS));
        sent++;
    }
    assert_int_equal(metric(&s, "corio_http_sse_slow_disconnects_total "), 1);
    /* the stalled stream goes away; the fast one stays and keeps receiving */
    assert_true(clients_become(&s, 1));
    assert_int_equal(corio_http_sse_broadcast(s.http, "sample", "after"), 1);
    assert_true(hc_wait_for(&fast, "data: after\n\n", HC_DEADLINE_MS));

    /* The stalled client now reads: it gets a gap-free prefix of the events, then the
     * connection ends. Nothing in the middle was skipped. */
    hc_read_to_eof(&stalled, HC_DEADLINE_MS);
    assert_true(stalled.eof);
    int expect = 0;
    const char *p = stalled.body ? stalled.body : "";
    while ((p = strstr(p, "data: seq=")) != NULL) {
        int seq = atoi(p + 10);
        if (!strstr(p, "\n\n"))
            break; /* a last event cut mid-way: the connection was closed under it */
        assert_int_equal(seq, expect);
        expect++;
        p += 10;
    }
    assert_true(expect < sent);
    hc_free(&stalled);
    hc_free(&fast);
    server_free(&s);
}

static void keepalives_arrive_and_leavers_are_noticed(void **state)
{
    (void)state;
    struct server s;
    struct corio_http_opts o = {.sse_keepalive_ms = 20};
    server_start(&s, &o);
    struct hc_conn a, b;
    client_open(&a, s.port, 0);
    client_open(&b, s.port, 0);
    assert_true(hc_wait_for(&a, ": keepalive\n\n", HC_DEADLINE_MS));
    assert_true(hc_wait_for(&a, ": keepalive\n\n", HC_DEADLINE_MS));
    /* b leaves; the next keepalive finds its socket closed */
    hc_free(&b);
    assert_true(clients_become(&s, 1));
    assert_int_equal(metric(&s, "corio_http_sse_slow_disconnects_total "), 0);
    hc_free(&a);
    assert_true(clients_become(&s, 0));
    server_free(&s);
}

static void client_limit(void **state)
{
    (void)state;
    struct server s;
    struct corio_http_opts o = {.sse_max_clients = 1};
    server_start(&s, &o);
    struct hc_conn a, b;
    client_open(&a, s.port, 0);
    const char *req = "GET /api/v1/stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_int_equal(hc_request(s.port, req, strlen(req), &b), 503);
    assert_string_equal(b.body, "{\"error\":\"too many event streams\"}");
    hc_free(&b);
    hc_free(&a);
    server_free(&s);
}

static void stop_with_streams_open(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, NULL);
    struct hc_conn c[3];
    for (int i = 0; i < 3; i++)
        client_open(&c[i], s.port, 0);
    assert_int_equal(corio_http_sse_broadcast(s.http, "presence", "{\"online\":true}"), 3);
    for (int i = 0; i < 2; i++)
        assert_true(hc_wait_for(&c[i], "data: {\"online\":true}\n\n", HC_DEADLINE_MS));
    /* c[0] and c[1] are idle (their streams suspended); c[2] has not read its event. */
    corio_http_stop(s.http);
    assert_int_equal(corio_http_sse_clients(s.http), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(hc_read_to_eof(&c[i], HC_DEADLINE_MS));
        hc_free(&c[i]);
    }
    /* a broadcast after stop reaches nobody; stop again is harmless */
    assert_int_equal(corio_http_sse_broadcast(s.http, "x", "y"), 0);
    corio_http_stop(s.http);
    server_free(&s);
}

static void stop_while_a_stalled_stream_is_blocked(void **state)
{
    (void)state;
    struct server s;
    struct corio_http_opts o = {.sse_queue_bytes = 8u << 20};
    server_start(&s, &o);
    struct hc_conn c;
    client_open(&c, s.port, 4096);
    /* fill the socket: the connection is now blocked in a write, not suspended */
    char data[8192];
    memset(data, 'z', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    for (int i = 0; i < 200; i++)
        assert_int_equal(corio_http_sse_broadcast(s.http, "fill", data), 1);
    server_free(&s); /* stop + free with the stream stuck; must neither hang nor leak */
    hc_free(&c);
}

int main(void)
{
    corio_log_set_level(CORIO_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_clients_receive_a_broadcast),
        cmocka_unit_test(broadcast_from_many_threads),
        cmocka_unit_test(stalled_client_is_cut_and_counted),
        cmocka_unit_test(keepalives_arrive_and_leavers_are_noticed),
        cmocka_unit_test(client_limit),
        cmocka_unit_test(stop_with_streams_open),
        cmocka_unit_test(stop_while_a_stalled_stream_is_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
