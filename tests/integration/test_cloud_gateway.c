/* test_cloud_gateway.c - the gateway-to-cloud contract between the real programs: the
 * test writes a gateway outbox as the Mosquitto plugin would, the real corio-gateway
 * forwards it in sealed batches through a real Mosquitto, and the real corio-cloud
 * commits and acknowledges. Checks that every row arrives exactly once, that the
 * gateway's watermark moves only through corio-cloud's acks, and that killing
 * corio-cloud (SIGKILL) in the middle of the stream loses and doubles nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include <jansson.h>

#include "corio/crypto.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "outbox.h"

#define ORG "oooooooooooooooooooooooo"
#define GW  "gggggggggggggggggggggggg"
#define DEV "dddddddddddddddddddddddd"

struct world {
    struct corio_key key;
    struct h_mosq *mosq;
    struct h_proc *cloud, *gateway;
    int http_port, gw_http_port;
    const char *outbox_path, *watermark_path;
    corio_outbox *outbox;
    int64_t last_id;
    int seq;
};

static struct world W;

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void cleanup(void *arg)
{
    (void)arg;
    corio_outbox_close(W.outbox);
    W.outbox = NULL;
    corio_key_close(&W.key);
}

static const char *url(const char *path)
{
    return h_strf("http://127.0.0.1:%d%s", W.http_port, path);
}

static void world_up(void)
{
    memset(&W, 0, sizeof W);
    h_defer(cleanup, NULL);
    const char *dir = h_dir();
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &W.key),
                     CORIO_OK);
    const char *pem = h_strf("%s/gateway-key.pem", dir);
    assert_int_equal(corio_openssl_key_write_pem(&W.key, pem), CORIO_OK);
    uint8_t pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_key_public(&W.key, pub), CORIO_OK);
    char didkey[CORIO_DIDKEY_BUF];
    assert_true(corio_didkey_format(pub, sizeof pub, didkey, sizeof didkey) > 0);

    W.mosq = h_mosq_start(NULL);
    assert_non_null(W.mosq);

    /* The cloud. */
    const char *registry = h_strf("%s/registry.conf", dir);
    assert_int_equal(h_write_file(registry, h_strf("org %s\ngateway %s org=%s key=%s\n"
                                                   "device %s org=%s gateway=%s\n",
                                                   ORG, GW, ORG, didkey, DEV, ORG, GW)),
                     CORIO_OK);
    W.http_port = h_free_port();
    const char *conf = h_strf("org %s\ndatabase %s/cloud.db\nregistry %s\nhttp_port %d\n"
                              "broker_port %d\nweb_root %s\n",
                              ORG, dir, registry, W.http_port, W.mosq->port, dir);
    struct h_daemon_opts co = {
        .config = conf, .ready_url = url("/healthz"), .ready_log = "connected to the broker"};
    W.cloud = h_daemon_start("corio-cloud", &co);
    assert_non_null(W.cloud);

    /* The gateway's outbox, written here as the plugin writes it. */
    W.outbox_path = h_strf("%s/outbox.db", dir);
    W.watermark_path = h_strf("%s/outbox.db.watermark", dir);
    struct corio_outbox_options oo = {.path = W.outbox_path, .gateway = GW, .max_bytes = 64 << 20};
    char err[256];
    if (corio_outbox_open(&oo, &W.outbox, err, sizeof err) != CORIO_OK)
        fail_msg("outbox: %s", err);
}

static void gateway_up(void)
{
    /* Small batches and a short ack timeout, so a stream of rows is many batches and a
     * lost one is resent soon. Only the forwarder runs: the test writes the outbox that
     * the gateway's own Mosquitto and plugin would. */
    W.gw_http_port = h_free_port();
    const char *conf = h_strf("gateway_id %s\nkey %s/gateway-key.pem\noutbox %s\n"
                              "cloud_port %d\nbatch_messages 7\nwindow 3\nack_timeout 500ms\n"
                              "http_port %d\nrun_broker false\n",
                              GW, h_dir(), W.outbox_path, W.mosq->port, W.gw_http_port);
    struct h_daemon_opts go = {.config = conf, .ready_log = "connected to the cloud broker"};
    W.gateway = h_daemon_start("corio-gateway", &go);
    assert_non_null(W.gateway);
}

/* Appends n SenML messages (seq continuing) and a heartbeat saying all were sent. */
static void append(int n)
{
    int64_t now = wall_ms();
    for (int i = 0; i < n; i++) {
        W.seq++;
        const char *p = h_strf("[{\"bn\":\"urn:corio:%s:\",\"bt\":%lld.%03lld,\"ep\":1,\"seq\":%d,"
                               "\"n\":\"temp\",\"u\":\"Cel\",\"v\":%d}]",
                               DEV, (long long)((now + W.seq) / 1000),
                               (long long)((now + W.seq) % 1000), W.seq, W.seq);
        assert_int_equal(
            corio_outbox_append(W.outbox, DEV, "up/json", now, 0, p, strlen(p), &W.last_id),
            CORIO_OK);
    }
    const char *hb =
        h_strf("{\"up\":1,\"bc\":1,\"ep\":1,\"last\":%d,\"pending\":0,\"drops\":0}", W.seq);
    assert_int_equal(
        corio_outbox_append(W.outbox, DEV, "up/hb", now, 0, hb, strlen(hb), &W.last_id), CORIO_OK);
}

static bool watermark_reaches(int64_t id)
{
    uint64_t epoch;
    int64_t at = -1;
    bool ok;
    H_POLL(ok, corio_watermark_read(W.watermark_path, &epoch, &at) == CORIO_OK && at >= id, 20000);
    return ok;
}

/* A sample of a /metrics page ("name" or "name{labels}"), or -1. */
static double metric_at(int port, const char *series)
{
    struct h_http_resp resp;
    if (h_http_get(h_strf("http://127.0.0.1:%d/metrics", port), &resp) != CORIO_OK ||
        resp.status != 200)
        return -1;
    size_t n = strlen(series);
    for (const char *p = resp.body; (p = strstr(p, series)); p += n)
        if ((p == resp.body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static json_t *get_json(const char *path)
{
    struct h_http_resp resp;
    assert_int_equal(h_http_get(url(path), &resp), CORIO_OK);
    assert_int_equal(resp.status, 200);
    json_t *j = json_loads(resp.body, 0, NULL);
    assert_non_null(j);
    return j;
}

/* The device and the totals say every message is there once. */
static void expect_all_once(void)
{
    json_t *d = get_json("/api/v1/devices/" DEV);
    assert_int_equal(json_integer_value(json_object_get(d, "last_seq")), W.seq);
    assert_int_equal(json_integer_value(json_object_get(d, "messages")), W.seq);
    assert_int_equal(json_integer_value(json_object_get(d, "missing")), 0);
    json_decref(d);
    json_t *s = get_json("/api/v1/stats");
    assert_int_equal(json_integer_value(json_object_get(s, "samples")), W.seq);
    assert_int_equal(json_integer_value(json_object_get(s, "rejected")), 0);
    json_decref(s);
    json_t *r = get_json(h_strf("/api/v1/devices/%s/series?metric=temp&from=%lld", DEV,
                                (long long)(wall_ms() - 3600000)));
    assert_int_equal(json_array_size(json_object_get(r, "points")), (size_t)W.seq);
    json_decref(r);
}

static void forwards_everything_once(void **state)
{
    (void)state;
    world_up();
    append(30);
    gateway_up();
    assert_true(watermark_reaches(W.last_id));
    expect_all_once();
    /* More rows while both run. */
    append(25);
    assert_true(watermark_reaches(W.last_id));
    expect_all_once();
    struct h_http_resp resp;
    assert_int_equal(h_http_get(url("/metrics"), &resp), CORIO_OK);
    assert_null(strstr(resp.body, "corio_cloud_batches_rejected_total{reason=\"signature\"} 1"));
}

static void cloud_killed_midstream(void **state)
{
    (void)state;
    world_up();
    gateway_up();
    append(20);
    assert_true(watermark_reaches(W.last_id));
    /* corio-cloud freezes while rows keep coming: its broker session fills, the gateway
     * times out and sends again. Then it dies without warning, and comes back. */
    assert_int_equal(h_proc_signal(W.cloud, SIGSTOP), CORIO_OK);
    double resent0 = metric_at(W.gw_http_port, "corio_gateway_batches_resent_total");
    append(60);
    bool ok;
    H_POLL(ok, metric_at(W.gw_http_port, "corio_gateway_batches_resent_total") > resent0, 20000);
    assert_true(ok);
    assert_int_equal(h_proc_kill(W.cloud), 128 + SIGKILL);
    append(20);
    assert_int_equal(h_proc_restart(W.cloud), CORIO_OK);
    assert_int_equal(h_wait_http_ok(url("/healthz"), 10000), CORIO_OK);
    /* The watermark catches up through resends; every message is there once, and the
     * copies that arrived twice were recognised as duplicates. */
    assert_true(watermark_reaches(W.last_id));
    expect_all_once();
    json_t *st = get_json("/api/v1/stats");
    assert_true(json_integer_value(json_object_get(st, "duplicates")) > 0);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(forwards_everything_once),
        H_TEST(cloud_killed_midstream),
    };
    return h_done(cmocka_run_group_tests_name("integration.cloud_gateway", tests, NULL, NULL));
}
