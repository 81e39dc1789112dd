/* test_cloud_ingest.c - the real corio-cloud with a real Mosquitto: the test plays a
 * gateway (signed batches on corio/v1/g/{gw}/batch, acks on .../ack) and a dashboard
 * (the HTTP API and the live stream). Checks: commit then ack then live events;
 * redelivery acked again and stored once; bad signatures, unknown gateways and batches
 * for another gateway never acked; rejected payloads acked and counted; restarts of
 * corio-cloud and of the broker lose nothing the gateway resends; the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include <jansson.h>

#include "../unit/test_common_http_client.h"
#include "batch.h"
#include "corio/crypto.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "crypto_openssl.h"
#include "harness.h"

#define ORG     "oooooooooooooooooooooooo"
#define ORG2    "pppppppppppppppppppppppp"
#define GW      "gggggggggggggggggggggggg"
#define GW2     "hhhhhhhhhhhhhhhhhhhhhhhh"
#define DEV     "dddddddddddddddddddddddd"
#define DEV2    "eeeeeeeeeeeeeeeeeeeeeeee"
#define FOREIGN "ffffffffffffffffffffffff"

/* ---- the world of one test ------------------------------------------------------ */

struct world {
    struct corio_key gw_key, other_key;
    struct h_mosq *mosq;
    struct h_proc *cloud;
    int http_port;
    const char *conf_text;
    struct h_mqtt *gw; /* the test's gateway client */
    uint64_t epoch;
};

static struct world W;

/* Sample times: recent, on a minute boundary, so that retention (days) keeps
 * them. Only data is stamped with the clock; every wait polls with a deadline.
 */
static int64_t T0;

static void set_t0(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    T0 = now / 60000 * 60000 - 600000;
}

static void close_keys(void *arg)
{
    (void)arg;
    corio_key_close(&W.gw_key);
    corio_key_close(&W.other_key);
}

static const char *didkey(const struct corio_key *k)
{
    uint8_t pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_key_public(k, pub), CORIO_OK);
    char out[CORIO_DIDKEY_BUF];
    assert_true(corio_didkey_format(pub, sizeof pub, out, sizeof out) > 0);
    return h_strf("%s", out);
}

static const char *url(const char *path)
{
    return h_strf("http://127.0.0.1:%d%s", W.http_port, path);
}

static struct h_proc *start_cloud(void)
{
    struct h_daemon_opts o = {.config = W.conf_text,
                              .ready_url = url("/healthz"),
                              .ready_log = "connected to the broker"};
    return h_daemon_start("corio-cloud", &o);
}

/* A broker, corio-cloud with a registry of two organisations, and the gateway
 * client. */
static void world_up(bool accept_unregistered)
{
    memset(&W, 0, sizeof W);
    set_t0();
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &W.gw_key), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &W.other_key), CORIO_OK);
    h_defer(close_keys, NULL);
    W.mosq = h_mosq_start(NULL);
    assert_non_null(W.mosq);
    const char *dir = h_dir();
    const char *registry = h_strf("%s/registry.conf", dir);
    assert_int_equal(h_write_file(registry, h_strf("org %s Test Org\norg %s Other Org\n"
                                                   "gateway %s org=%s key=%s\n"
                                                   "gateway %s org=%s key=%s\n"
                                                   "device %s org=%s gateway=%s class=sensor\n"
                                                   "device %s org=%s\n"
                                                   "device %s org=%s\n",
                                                   ORG, ORG2, GW, ORG, didkey(&W.gw_key), GW2, ORG2,
                                                   didkey(&W.other_key), DEV, ORG, GW, DEV2, ORG,
                                                   FOREIGN, ORG2)),
                     CORIO_OK);
    const char *web = h_mkdir("web");
    assert_int_equal(h_write_file(h_strf("%s/index.html", web), "<!doctype html><p>corio"),
                     CORIO_OK);
    W.http_port = h_free_port();
    W.conf_text = h_strf("org %s\ndatabase %s/cloud.db\nregistry %s\nhttp_port %d\n"
                         "broker_port %d\nweb_root %s\nlog_level debug\n"
                         "accept_unregistered %s\n",
                         ORG, dir, registry, W.http_port, W.mosq->port, web,
                         accept_unregistered ? "true" : "false");
    W.cloud = start_cloud();
    assert_non_null(W.cloud);
    struct h_mqtt_opts mo = {.client_id = GW, .persistent = true};
    W.gw = h_mqtt_connect(W.mosq->port, &mo);
    assert_non_null(W.gw);
    assert_int_equal(h_mqtt_subscribe(W.gw, "corio/v1/g/" GW "/ack", 1), CORIO_OK);
    W.epoch = 4242;
}

/* ---- batches -------------------------------------------------------------------- */

struct bb {
    struct corio_batch b;
    struct corio_batch_msg m[32];
    char payloads[32][512];
};

static void bb_init(struct bb *x, const char *gw, uint64_t first, uint64_t last)
{
    memset(x, 0, sizeof *x);
    x->b.version = CORIO_BATCH_VERSION;
    snprintf(x->b.gateway, sizeof x->b.gateway, "%s", gw);
    x->b.epoch = W.epoch;
    x->b.first = first;
    x->b.last = last;
    x->b.made_ms = T0;
    x->b.msgs = x->m;
}

static void bb_add(struct bb *x, uint64_t id, const char *dev, const char *suffix, int64_t recv,
                   const char *payload)
{
    size_t i = x->b.count++;
    snprintf(x->payloads[i], sizeof x->payloads[i], "%s", payload);
    x->m[i] = (struct corio_batch_msg){.id = id,
                                       .device = dev,
                                       .device_len = strlen(dev),
                                       .suffix = suffix,
                                       .suffix_len = strlen(suffix),
                                       .recv_ms = recv,
                                       .payload = (const uint8_t *)x->payloads[i],
                                       .payload_len = strlen(x->payloads[i])};
}

static void bb_senml(struct bb *x, uint64_t id, const char *dev, int seq, double v)
{
    int64_t t = T0 + seq * 1000;
    bb_add(x, id, dev, "up/json", t + 30,
           h_strf("[{\"bn\":\"urn:corio:%s:\",\"bt\":%lld.0,\"ep\":1,\"seq\":%d,"
                  "\"n\":\"temp\","
                  "\"u\":\"Cel\",\"v\":%g},{\"n\":\"hum\",\"u\":\"%%RH\",\"v\":40}]",
                  dev, (long long)(t / 1000), seq, v));
}

/* Encodes, seals as the gateway does (common/batch.h, key number 0) and publishes QoS 1
 * on the batch topic of gw_topic. */
static void publish(struct bb *x, const struct corio_key *key, const char *gw_topic)
{
    int64_t n = corio_batch_encode(&x->b, NULL, 0);
    assert_true(n > 0);
    uint8_t *payload = malloc((size_t)n), *wire;
    size_t w;
    assert_int_equal(corio_batch_encode(&x->b, payload, (size_t)n), n);
    assert_int_equal(corio_batch_seal(key, x->b.gateway, 0, payload, (size_t)n, &wire, &w),
                     CORIO_OK);
    assert_int_equal(h_mqtt_publish(W.gw, h_strf("corio/v1/g/%s/batch", gw_topic), wire, (int)w, 1),
                     CORIO_OK);
    free(wire);
    free(payload);
}

/* Waits for the n-th ack (1-based) and checks it covers [first, last] of
 * W.epoch. */
static void expect_ack(int n, uint64_t first, uint64_t last)
{
    assert_true(h_mqtt_wait_count(W.gw, "corio/v1/g/" GW "/ack", n, 10000) >= n);
    const struct h_mqtt_msg *m = NULL;
    for (int i = 0, seen = 0; (m = h_mqtt_msg(W.gw, i)); i++)
        if (strstr(m->topic, "/ack") && ++seen == n)
            break;
    assert_non_null(m);
    uint64_t epoch;
    struct corio_ack_range r[4];
    assert_int_equal(corio_ack_decode(m->payload, (size_t)m->len, &epoch, r, 4), 1);
    assert_true(epoch == W.epoch);
    assert_true(r[0].first == first && r[0].last == last);
}

/* ---- the HTTP side -------------------------------------------------------------- */

static json_t *get_json(const char *path, long want_status)
{
    struct h_http_resp resp;
    assert_int_equal(h_http_get(url(path), &resp), CORIO_OK);
    if (resp.status != want_status)
        fail_msg("GET %s: %ld %s", path, resp.status, resp.body);
    json_t *j = json_loads(resp.body, 0, NULL);
    assert_non_null(j);
    return j;
}

static int64_t stat_of(const char *key)
{
    json_t *j = get_json("/api/v1/stats", 200);
    int64_t v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

/* The value of one sample of /metrics ("name{labels}" as written), or -1. */
static double metric(const char *series)
{
    struct h_http_resp resp;
    assert_int_equal(h_http_get(url("/metrics"), &resp), CORIO_OK);
    assert_int_equal(resp.status, 200);
    const char *p = resp.body;
    size_t n = strlen(series);
    while ((p = strstr(p, series))) {
        if ((p == resp.body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

static bool metric_reaches(const char *series, double v)
{
    bool ok;
    H_POLL(ok, metric(series) >= v, 10000);
    return ok;
}

/* ---- tests ---------------------------------------------------------------------- */

static void commit_then_ack_then_events(void **state)
{
    (void)state;
    world_up(false);
    /* A dashboard's live stream, open before the batch. */
    struct hc_conn sse;
    hc_init(&sse, hc_connect((uint16_t)W.http_port, 0));
    const char *req = "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(hc_send(sse.fd, req, strlen(req)));
    assert_true(hc_wait_for(&sse, ": connected", h_ms(10000)));

    struct bb x;
    bb_init(&x, GW, 1, 5);
    bb_add(&x, 1, DEV, "presence", T0, "{\"online\":true,\"connections\":1}");
    bb_senml(&x, 2, DEV, 1, 21.5);
    bb_senml(&x, 3, DEV, 2, 22.5);
    bb_senml(&x, 5, DEV, 4, 23.5); /* seq 3 is not here: a gap */
    publish(&x, &W.gw_key, GW);
    expect_ack(1, 1, 5);

    /* The ack means committed: the API shows it at once. */
    json_t *d = get_json("/api/v1/devices/" DEV, 200);
    assert_true(json_is_true(json_object_get(d, "online")));
    assert_int_equal(json_integer_value(json_object_get(d, "last_seq")), 4);
    assert_int_equal(json_integer_value(json_object_get(d, "messages")), 3);
    assert_int_equal(json_integer_value(json_object_get(d, "missing")), 1);
    json_decref(d);
    json_t *s = get_json(h_strf("/api/v1/devices/" DEV "/series?metric=temp&from=%lld&to=%lld",
                                (long long)T0, (long long)(T0 + 60000)),
                         200);
    json_t *pts = json_object_get(s, "points");
    assert_int_equal(json_array_size(pts), 3);
    assert_true(json_number_value(json_array_get(json_array_get(pts, 2), 1)) == 23.5);
    assert_string_equal(json_string_value(json_object_get(s, "unit")), "Cel");
    json_decref(s);
    json_t *g = get_json("/api/v1/devices/" DEV "/gaps", 200);
    assert_int_equal(json_integer_value(json_object_get(g, "missing")), 1);
    json_t *g0 = json_array_get(json_object_get(g, "gaps"), 0);
    assert_int_equal(json_integer_value(json_object_get(g0, "from_seq")), 3);
    json_decref(g);

    /* The live events of the batch. */
    assert_true(hc_wait_for(&sse, "event: presence\ndata: {\"device\":\"" DEV "\",\"online\":true",
                            h_ms(10000)));
    assert_true(hc_wait_for(
        &sse, "event: sample\ndata: {\"device\":\"" DEV "\",\"metric\":\"temp\"", h_ms(10000)));
    assert_true(hc_wait_for(&sse,
                            "event: gap\ndata: {\"device\":\"" DEV "\",\"epoch\":1,"
                            "\"from_seq\":3,\"to_seq\":3,\"kind\":\"seq\"}",
                            h_ms(10000)));
    hc_free(&sse);

    assert_true(metric_reaches("corio_cloud_batches_acked_total", 1));
    assert_true(metric("corio_cloud_messages_total{result=\"new\"}") == 4);
    assert_true(metric("corio_cloud_samples_total") == 6);
    assert_true(metric("corio_cloud_ingest_seconds_count") == 1);

    /* The dashboard is served too. */
    struct h_http_resp resp;
    assert_int_equal(h_http_get(url("/"), &resp), CORIO_OK);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body, "corio"));
}

static void redelivery_is_acked_and_stored_once(void **state)
{
    (void)state;
    world_up(false);
    struct bb x;
    bb_init(&x, GW, 10, 12);
    bb_senml(&x, 10, DEV, 1, 1);
    bb_senml(&x, 11, DEV, 2, 2);
    bb_senml(&x, 12, DEV, 3, 3);
    publish(&x, &W.gw_key, GW);
    expect_ack(1, 10, 12);
    publish(&x, &W.gw_key, GW); /* the gateway did not see the ack in time */
    expect_ack(2, 10, 12);
    assert_int_equal(stat_of("messages"), 3);
    assert_int_equal(stat_of("samples"), 6);
    assert_int_equal(stat_of("duplicates"), 3);
    assert_int_equal(stat_of("batches"), 1);

    /* A resend cut differently, after the gateway's outbox was recreated (new
     * epoch). */
    W.epoch++;
    bb_init(&x, GW, 1, 2);
    bb_senml(&x, 1, DEV, 3, 3);
    bb_senml(&x, 2, DEV, 4, 4);
    publish(&x, &W.gw_key, GW);
    expect_ack(3, 1, 2);
    assert_int_equal(stat_of("messages"), 4);
    assert_int_equal(stat_of("duplicates"), 4);
    assert_true(metric("corio_cloud_messages_total{result=\"duplicate\"}") == 4);
}

static void refused_batches_are_never_acked(void **state)
{
    (void)state;
    world_up(false);
    struct bb x;
    bb_init(&x, GW, 1, 1);
    bb_senml(&x, 1, DEV, 1, 1);
    /* Signed by another gateway's key. */
    publish(&x, &W.other_key, GW);
    assert_true(metric_reaches("corio_cloud_batches_rejected_total{reason=\"signature\"}", 1));
    /* Our gateway's batch published on another gateway's topic. */
    publish(&x, &W.gw_key, GW2);
    assert_true(metric_reaches("corio_cloud_batches_rejected_total{reason=\"signature\"}", 2));
    /* A gateway the registry does not know. */
    struct bb y;
    bb_init(&y, "zzzzzzzzzzzzzzzzzzzzzzzz", 1, 1);
    bb_senml(&y, 1, DEV, 1, 1);
    publish(&y, &W.gw_key, "zzzzzzzzzzzzzzzzzzzzzzzz");
    assert_true(metric_reaches("corio_cloud_batches_rejected_total{reason=\"gateway\"}", 1));
    /* Not a COSE message at all. */
    assert_int_equal(h_mqtt_publish(W.gw, "corio/v1/g/" GW "/batch", "junk", 4, 1), CORIO_OK);
    assert_true(metric_reaches("corio_cloud_batches_rejected_total{reason=\"malformed\"}", 1));

    /* A good batch after them is the first and only one acknowledged. */
    publish(&x, &W.gw_key, GW);
    expect_ack(1, 1, 1);
    assert_int_equal(h_mqtt_count(W.gw, "corio/v1/g/" GW "/ack"), 1);
    assert_int_equal(stat_of("messages"), 1);
    assert_true(h_proc_log_contains(W.cloud, "batch refused, not acknowledged"));
}

static void rejected_payloads_are_acked_and_counted(void **state)
{
    (void)state;
    world_up(false);
    struct bb x;
    bb_init(&x, GW, 1, 4);
    bb_add(&x, 1, DEV, "up/json", T0, "{not json");
    bb_senml(&x, 2, FOREIGN, 1, 1);                    /* another organisation's device */
    bb_senml(&x, 3, "ssssssssssssssssssssssss", 1, 1); /* not registered */
    bb_senml(&x, 4, DEV2, 1, 1);
    publish(&x, &W.gw_key, GW);
    expect_ack(1, 1, 4);
    assert_int_equal(stat_of("rejected"), 3);
    assert_int_equal(stat_of("messages"), 1);
    assert_true(metric("corio_cloud_messages_total{result=\"rejected\"}") == 3);
    /* The other organisation's device got nothing; and it is not ours to list. */
    json_t *d = get_json("/api/v1/devices", 200);
    assert_int_equal(json_array_size(json_object_get(d, "devices")), 2);
    json_decref(d);
    json_t *e = get_json("/api/v1/devices/" FOREIGN, 404);
    json_decref(e);
}

static void accept_unregistered_registers(void **state)
{
    (void)state;
    world_up(true);
    struct bb x;
    bb_init(&x, GW, 1, 1);
    bb_senml(&x, 1, "ssssssssssssssssssssssss", 1, 1);
    publish(&x, &W.gw_key, GW);
    expect_ack(1, 1, 1);
    json_t *d = get_json("/api/v1/devices/ssssssssssssssssssssssss", 200);
    assert_string_equal(json_string_value(json_object_get(d, "org")), ORG);
    json_decref(d);
}

static void restart_loses_nothing(void **state)
{
    (void)state;
    world_up(false);
    struct bb x;
    bb_init(&x, GW, 1, 2);
    bb_senml(&x, 1, DEV, 1, 1);
    bb_senml(&x, 2, DEV, 2, 2);
    publish(&x, &W.gw_key, GW);
    expect_ack(1, 1, 2);

    /* SIGTERM: a clean stop. */
    assert_int_equal(h_proc_stop(W.cloud), 0);
    assert_true(h_proc_log_contains(W.cloud, "stopped"));
    /* While it is away the gateway sends; the broker may or may not keep it (the
     * harness runs it with max_queued_messages 0): nothing may depend on that. */
    struct bb y;
    bb_init(&y, GW, 3, 4);
    bb_senml(&y, 3, DEV, 3, 3);
    bb_senml(&y, 4, DEV, 4, 4);
    publish(&y, &W.gw_key, GW);
    assert_int_equal(h_proc_restart(W.cloud), CORIO_OK);
    assert_int_equal(h_wait_http_ok(url("/healthz"), 10000), CORIO_OK);
    assert_int_equal(h_proc_wait_log(W.cloud, "connected to the broker", 10000), CORIO_OK);
    /* The gateway resends what was not acknowledged, until it is. */
    int acks = h_mqtt_count(W.gw, "corio/v1/g/" GW "/ack");
    if (acks < 2) {
        publish(&y, &W.gw_key, GW);
        acks = 2;
    }
    assert_true(h_mqtt_wait_count(W.gw, "corio/v1/g/" GW "/ack", acks, 10000) >= acks);
    json_t *d = get_json("/api/v1/devices/" DEV, 200);
    assert_int_equal(json_integer_value(json_object_get(d, "last_seq")), 4);
    assert_int_equal(json_integer_value(json_object_get(d, "messages")), 4);
    assert_int_equal(json_integer_value(json_object_get(d, "missing")), 0);
    json_decref(d);
    assert_int_equal(stat_of("samples"), 8);
}

static void broker_restart(void **state)
{
    (void)state;
    world_up(false);
    struct bb x;
    bb_init(&x, GW, 1, 1);
    bb_senml(&x, 1, DEV, 1, 1);
    publish(&x, &W.gw_key, GW);
    expect_ack(1, 1, 1);
    /* The broker goes away (and forgets every session: no persistence);
     * corio-cloud reconnects and subscribes again on its own. */
    assert_int_equal(h_mosq_restart(W.mosq), CORIO_OK);
    bool ok;
    H_POLL(ok,
           metric("corio_cloud_broker_connected") == 1 &&
               h_proc_log_contains(W.cloud, "lost the broker"),
           10000);
    assert_true(ok);
    assert_int_equal(h_mqtt_wait_connected(W.gw, 10000), CORIO_OK);
    assert_int_equal(h_mqtt_subscribe(W.gw, "corio/v1/g/" GW "/ack", 1), CORIO_OK);
    /* Until corio-cloud has subscribed again a batch may go nowhere: the gateway
     * resends until an ack comes. */
    bb_init(&x, GW, 2, 2);
    bb_senml(&x, 2, DEV, 2, 2);
    int want = h_mqtt_count(W.gw, "corio/v1/g/" GW "/ack") + 1;
    H_POLL(ok,
           (publish(&x, &W.gw_key, GW),
            h_mqtt_wait_count(W.gw, "corio/v1/g/" GW "/ack", want, 500) >= want),
           20000);
    assert_true(ok);
    assert_int_equal(stat_of("messages"), 2);
}

static void command_line(void **state)
{
    (void)state;
    char *out;
    const char *help[] = {h_bin("corio-cloud"), "--help", NULL};
    assert_int_equal(h_run("corio-cloud-help", help, NULL, 10000, &out), 0);
    assert_non_null(strstr(out, "broker_host"));
    assert_non_null(strstr(out, "retain_raw"));
    const char *conf = h_strf("%s/bad.conf", h_dir());
    assert_int_equal(h_write_file(conf, "org " ORG "\nhttp_prot 8080\n"), CORIO_OK);
    const char *bad[] = {h_bin("corio-cloud"), "-c", conf, NULL};
    assert_int_equal(h_run("corio-cloud-bad", bad, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "bad.conf:2:"));
    assert_int_equal(h_write_file(conf, "org " ORG "\nretain_raw 30d\nretain_messages 1d\n"),
                     CORIO_OK);
    assert_int_equal(h_run("corio-cloud-bad", bad, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "bad.conf:3: 'retain_messages'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(commit_then_ack_then_events),
        H_TEST(redelivery_is_acked_and_stored_once),
        H_TEST(refused_batches_are_never_acked),
        H_TEST(rejected_payloads_are_acked_and_counted),
        H_TEST(accept_unregistered_registers),
        H_TEST(restart_loses_nothing),
        H_TEST(broker_restart),
        H_TEST(command_line),
    };
    return h_done(cmocka_run_group_tests_name("integration.cloud_ingest", tests, NULL, NULL));
}
