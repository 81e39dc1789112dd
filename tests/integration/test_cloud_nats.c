/* test_cloud_nats.c - corio-cloud ingesting from NATS JetStream into PostgreSQL, on one
 * nats-server with its MQTT listener: the application ack reaches the gateway as MQTT
 * QoS 1 out of JetStream, even when the gateway was away while it was published; the
 * real corio-gateway publishing over MQTT with mutual TLS gets every row stored once and
 * its watermark moved by the acks; batches that are not valid are refused for good
 * (terminated in the stream, counted by reason, never acknowledged) and rejected
 * messages stored and acknowledged, without the instance minding; a dashboard's live
 * stream on one instance shows what every instance stores. nats-server holds every
 * certificate to its user's permissions here (test_cloud_nats_world.h); what they
 * refuse is test_cloud_nats_auth.c. The cluster and failure cases are in
 * test_cloud_nats_chaos.c. */
#include "test_cloud_nats_world.h"

#include "../unit/test_common_http_client.h"
#include "outbox.h"

static void acks_come_out_of_jetstream_even_to_an_away_gateway(void **state)
{
    (void)state;
    world_up(&(struct h_nats_opts){.mqtt = true}, 1);
    instance_up(0, 16);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();
    make_stream(x, 3, 4);
    assert_true(send_until_acked(x, 1, 30000));

    /* The gateway goes away; its session stays (clean session false). Its next batch
     * reaches the stream through another connection and is committed meanwhile. */
    h_mqtt_close(W.gw);
    struct h_mqtt_opts ro = mqtt_as(&W.gw_tls, "relay", false);
    struct h_mqtt *relay = h_mqtt_connect(W.nats->node[0].mqtt_port, &ro);
    assert_non_null(relay);
    publish_raw(relay, "corio/v1/g/" GW "/batch", x[1].wire, x[1].wire_len);
    bool ok;
    H_POLL(ok, stat_of(0, "batches") == 2, 15000);
    assert_true(ok);

    /* Back, without subscribing again: the ack waited in JetStream for its session and
     * comes as QoS 1 (scan_acks checks every ack's QoS). */
    W.gw = gateway_reconnect(0, false);
    H_POLL(ok, (scan_acks(W.gw, x, 3), x[1].acked), 15000);
    assert_true(ok);
    assert_false(x[2].acked);

    assert_true(send_until_acked(x, 3, 30000));
    expect_stored_once(0, 3, 4);
    /* Acknowledged batches leave the work queue. */
    H_POLL(ok, stream_messages(0) == 0, 10000);
    assert_true(ok);
    assert_true(metric_of(0, "corio_cloud_batches_acked_total") >= 3);
}

/* Whether instance 0 serves a status document of gateway gw. */
static bool gateway_status_seen(const char *gw)
{
    json_t *j = get_json(0, "/api/v1/gateways/status");
    bool seen = false;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(j, "gateways"), i, g)
    {
        const char *id = json_string_value(json_object_get(g, "id"));
        if (id && strcmp(id, gw) == 0 && json_is_object(json_object_get(g, "status")))
            seen = true;
    }
    json_decref(j);
    return seen;
}

static void real_gateway_over_mqtt_with_mutual_tls(void **state)
{
    (void)state;
    /* nats-server's MQTT listener requires a client certificate that names a user. */
    world_up(&(struct h_nats_opts){0}, 1);
    int mqtt_port = W.nats->node[0].mqtt_port;
    instance_up(0, 16);

    /* A client without a certificate is turned away. */
    struct h_mqtt_opts anon = mqtt_as(NULL, "anon", false);
    anon.timeout_ms = 2000;
    assert_null(h_mqtt_connect(mqtt_port, &anon));

    /* The gateway's outbox, written here as its plugin would. */
    const char *dir = h_dir();
    const char *pem = h_strf("%s/gateway-key.pem", dir);
    assert_int_equal(corio_openssl_key_write_pem(&W.gw_key, pem), CORIO_OK);
    const char *outbox = h_strf("%s/outbox.db", dir);
    corio_outbox *ob;
    char err[256];
    struct corio_outbox_options oo = {.path = outbox, .gateway = GW, .max_bytes = 64 << 20};
    assert_int_equal(corio_outbox_open(&oo, &ob, err, sizeof err), CORIO_OK);
    int64_t last = 0, now = wall_ms();
    for (int seq = 1; seq <= 40; seq++) {
        const char *p = h_strf("[{\"bn\":\"urn:corio:%s:\",\"bt\":%lld,\"ep\":1,\"seq\":%d,"
                               "\"n\":\"temp\",\"u\":\"Cel\",\"v\":%d}]",
                               DEV, (long long)(now / 1000 - 40 + seq), seq, seq);
        assert_int_equal(corio_outbox_append(ob, DEV, "up/json", now, 0, p, strlen(p), &last),
                         CORIO_OK);
    }
    corio_outbox_close(ob);

    int gw_http = h_free_port();
    const char *conf = h_strf("gateway_id %s\nkey %s\noutbox %s\ncloud_port %d\n"
                              "cloud_tls_ca %s\ncloud_tls_cert %s\ncloud_tls_key %s\n"
                              "batch_messages 7\nwindow 3\nack_timeout 1s\nhttp_port %d\n"
                              "run_broker false\n",
                              GW, pem, outbox, mqtt_port, h_strf("%s/ca.crt", W.ca), W.gw_tls.cert,
                              W.gw_tls.key, gw_http);
    struct h_daemon_opts go = {.config = conf, .ready_log = "connected to the cloud broker"};
    struct h_proc *gw = h_daemon_start("corio-gateway", &go);
    assert_non_null(gw);

    /* Only the cloud's acks move the watermark: once it reaches the last row, every row
     * is committed, and each exactly once. */
    const char *wm = h_strf("%s.watermark", outbox);
    uint64_t epoch;
    int64_t at = -1;
    bool ok;
    H_POLL(ok, corio_watermark_read(wm, &epoch, &at) == CORIO_OK && at >= last, 40000);
    assert_true(ok);
    json_t *d = get_json(0, "/api/v1/devices/" DEV);
    assert_int_equal(json_integer_value(json_object_get(d, "messages")), 40);
    assert_int_equal(json_integer_value(json_object_get(d, "last_seq")), 40);
    assert_int_equal(json_integer_value(json_object_get(d, "missing")), 0);
    json_decref(d);
    assert_int_equal(stat_of(0, "samples"), 40);
    assert_int_equal(stat_of(0, "rejected"), 0);
    assert_true(metric_of(0, "corio_cloud_batches_rejected_total{reason=\"signature\"}") == 0);

    /* The gateway's status document reaches corio-cloud over NATS too. */
    bool seen;
    H_POLL(seen, gateway_status_seen(GW), 40000);
    assert_true(seen);
}

static void invalid_batches_are_refused_for_good(void **state)
{
    (void)state;
    world_up(&(struct h_nats_opts){.mqtt = true}, 1);
    instance_up(0, 16);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();

    /* Not a batch; signed by a key that is not the gateway's. */
    static const char junk[] = "\xd2\x84\x43\xa1\x01\x26\xa0\x44junk";
    publish_raw(W.gw, "corio/v1/g/" GW "/batch", junk, sizeof junk - 1);
    bb_init(&x[0], GW, 1, 1);
    bb_senml(&x[0], 1, DEV, 1);
    bb_seal(&x[0], &W.other_key);
    publish(&x[0]);
    /* A gateway nobody registered; not a gateway id at all. No gateway's certificate may
     * publish there; the operator's may, and corio-cloud refuses them all the same. */
    struct tls_id op = issue(W.ca, "operator", "cloud", "--cn", OPERATOR_CN, NULL);
    natsStatus st;
    natsConnection *nc = nats_as(&op, &st);
    if (!nc)
        fail_msg("the operator's NATS connection: %s", natsStatus_GetText(st));
    bb_init(&x[1], "zzzzzzzzzzzzzzzzzzzzzzzz", 1, 1);
    bb_senml(&x[1], 1, DEV, 1);
    bb_seal(&x[1], &W.gw_key);
    assert_int_equal(natsConnection_Publish(nc, "corio.v1.g.zzzzzzzzzzzzzzzzzzzzzzzz.batch",
                                            x[1].wire, (int)x[1].wire_len),
                     NATS_OK);
    assert_int_equal(
        natsConnection_Publish(nc, "corio.v1.g.NOT-A-GATEWAY.batch", x[1].wire, (int)x[1].wire_len),
        NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(nc, h_ms(5000)), NATS_OK);

    /* A valid batch with one message that is not SenML, one that names another device,
     * and a good one: the bad ones are recorded as rejected, the batch acknowledged. */
    bb_init(&x[2], GW, 10, 12);
    bb_add(&x[2], 10, DEV, "up/json", W.t0, "{\"not\":\"a pack\"}");
    bb_add(&x[2], 11, DEV, "up/json", W.t0,
           "[{\"bn\":\"urn:corio:" DEV2 ":\",\"n\":\"t\",\"v\":1}]");
    bb_senml(&x[2], 12, DEV, 1);
    bb_seal(&x[2], &W.gw_key);
    assert_true(send_until_acked(&x[2], 1, 30000));

    bool ok;
    H_POLL(ok, metric_of(0, "corio_cloud_batches_received_total") >= 5, 15000);
    assert_true(ok);
    assert_true(metric_of(0, "corio_cloud_batches_rejected_total{reason=\"malformed\"}") == 1);
    assert_true(metric_of(0, "corio_cloud_batches_rejected_total{reason=\"signature\"}") == 1);
    assert_true(metric_of(0, "corio_cloud_batches_rejected_total{reason=\"gateway\"}") == 1);
    assert_true(metric_of(0, "corio_cloud_batches_rejected_total{reason=\"topic\"}") == 1);
    assert_true(metric_of(0, "corio_cloud_messages_total{result=\"rejected\"}") == 2);
    assert_int_equal(stat_of(0, "rejected"), 2);
    assert_int_equal(stat_of(0, "messages"), 1);
    /* Refused ones are terminated, not left to come back: the stream empties and
     * nothing was delivered twice. Only the valid batch was acknowledged. */
    H_POLL(ok, stream_messages(0) == 0, 10000);
    assert_true(ok);
    assert_true(metric_of(0, "corio_cloud_batches_redelivered_total") == 0);
    scan_acks(W.gw, x, 3);
    assert_false(x[0].acked);
    assert_true(x[2].acked);
    assert_true(h_proc_alive(W.inst[0].p));
}

static void live_close(void *arg)
{
    hc_free(arg);
}

/* Opens instance i's live stream (closed at the test's end); it is open once the server
 * says so. */
static void live_open(struct hc_conn *sse, int i)
{
    hc_init(sse, hc_connect((uint16_t)W.inst[i].http, 0));
    h_defer(live_close, sse);
    const char *req = "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(hc_send(sse->fd, req, strlen(req)));
    assert_true(hc_wait_for(sse, ": connected", h_ms(10000)));
}

static int live_count(struct hc_conn *sse, const char *needle, int want)
{
    int n = 0;
    while (n < want && hc_wait_for(sse, needle, h_ms(15000)))
        n++;
    return n;
}

static void every_instance_streams_what_any_instance_stores(void **state)
{
    (void)state;
    enum { BATCHES = 8, PER = 4, SAMPLES = BATCHES * PER * 2 };
    world_up(&(struct h_nats_opts){.mqtt = true}, 1);
    /* One batch a fetch, so that both instances take some. */
    instance_up(0, 1);
    instance_up(1, 1);
    static struct hc_conn sse[2];
    live_open(&sse[0], 0);
    live_open(&sse[1], 1);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();
    make_stream(x, BATCHES, PER);
    assert_true(send_until_acked(x, BATCHES, 60000));
    expect_stored_once(0, BATCHES, PER);

    /* Each stream shows every sample once, whichever instance stored it: without the
     * sharing, the two streams would split them. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(live_count(&sse[i], "event: sample\n", SAMPLES), SAMPLES);
        assert_false(hc_wait_for(&sse[i], "event: sample\n", 500));
    }
    /* Every event an instance shared (the samples, and gaps that open when batches are
     * stored out of order) reached the other. An instance counts what it shared once
     * its message is out, which may be just after the other has broadcast it. */
    double shared = 0, received = 0;
    bool ok;
    H_POLL(ok,
           (shared = metric_of(0, "corio_cloud_live_shared_total") +
                     metric_of(1, "corio_cloud_live_shared_total"),
            received = metric_of(0, "corio_cloud_live_received_total") +
                       metric_of(1, "corio_cloud_live_received_total"),
            shared == received && shared >= SAMPLES),
           10000);
    assert_true(ok);
    assert_true(metric_of(0, "corio_cloud_live_unshared_total") == 0);
    assert_true(metric_of(1, "corio_cloud_live_refused_total") == 0);
}

/* Whatever arrives on the organisation's live subject is checked before a dashboard
 * sees it: a malformed message is refused whole and counted, the instance carries on. */
static void malformed_live_messages_are_refused(void **state)
{
    (void)state;
    world_up(&(struct h_nats_opts){.mqtt = true}, 1);
    instance_up(0, 16);
    static struct hc_conn sse;
    live_open(&sse, 0);
    /* Only corio-cloud's certificate may publish there (gateways may not: see
     * test_cloud_nats_auth.c): an instance of another version, say. */
    natsStatus st;
    natsConnection *c = nats_as(&W.cloud, &st);
    if (!c)
        fail_msg("corio-cloud's NATS connection: %s", natsStatus_GetText(st));
    static const char bad[] = "corio-live-1 0123456789abcdef\nsample\n{\"fake\":1}\nsample\n";
    static const char good[] = "corio-live-1 0123456789abcdef\ngap\n{\"from\":\"peer\"}\n";
    const char *subject = "corio.v1.o." ORG ".live";
    assert_int_equal(natsConnection_Publish(c, subject, bad, (int)strlen(bad)), NATS_OK);
    assert_int_equal(natsConnection_Publish(c, subject, good, (int)strlen(good)), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(c, h_ms(5000)), NATS_OK);
    assert_true(hc_wait_for(&sse, "event: gap\ndata: {\"from\":\"peer\"}", h_ms(15000)));
    bool ok;
    H_POLL(ok, metric_of(0, "corio_cloud_live_refused_total") == 1, 10000);
    assert_true(ok);
    assert_null(memmem(sse.body ? sse.body : "", sse.bodylen, "fake", 4));
    assert_true(metric_of(0, "corio_cloud_live_received_total") == 1);
    assert_true(h_proc_alive(W.inst[0].p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(acks_come_out_of_jetstream_even_to_an_away_gateway),
        H_TEST(real_gateway_over_mqtt_with_mutual_tls),
        H_TEST(invalid_batches_are_refused_for_good),
        H_TEST(every_instance_streams_what_any_instance_stores),
        H_TEST(malformed_live_messages_are_refused),
    };
    return h_done(cmocka_run_group_tests_name("integration.cloud_nats", tests, NULL, NULL));
}
