/* test_cloud_nats_auth.c - nats-server's users and permissions as `corio nats auth`
 * writes them (docs/scale-out.md, "Permissions"), against the real nats-server 2.9 and
 * corio-cloud: a gateway's certificate cannot put a fake ack or a batch on another
 * gateway's subjects, cannot read another's acks, cannot put events on the dashboards'
 * live subject, and its own batches are stored and acknowledged all the same; gateways
 * speak MQTT only and corio-cloud NATS only, and a certificate that names no user is
 * turned away; corio-cloud's certificate reaches the stream, its consumer, the acks and
 * the live subject, and nothing else of JetStream. */
#include "test_cloud_nats_world.h"

/* Whether nats-server logged the refusal of what user tried on subject ("Publish" or
 * "Subscription"), waiting a while: the proof that it was refused, not lost. */
static bool refused(const char *what, const char *user, const char *subject)
{
    const char *line = h_strf("%s Violation - User \"%s\", Subject \"%s\"", what, user, subject);
    bool seen;
    H_POLL(seen, h_proc_log_contains(W.nats->node[0].proc, line), 10000);
    if (!seen)
        fprintf(stderr, "not in nats-server's log: %s\n", line);
    return seen;
}

/* GW2 on the MQTT listener with its certificate, QoS 1 on its own ack topic. */
static struct h_mqtt *other_gateway_connect(void)
{
    struct h_mqtt_opts mo = mqtt_as(&W.gw2_tls, GW2, true);
    struct h_mqtt *c = h_mqtt_connect(W.nats->node[0].mqtt_port, &mo);
    assert_non_null(c);
    assert_int_equal(h_mqtt_subscribe(c, "corio/v1/g/" GW2 "/ack", 1), CORIO_OK);
    return c;
}

static void a_gateway_cannot_speak_for_another(void **state)
{
    (void)state;
    world_up(&(struct h_nats_opts){0}, 1);
    instance_up(0, 16);
    W.gw = gateway_connect(0);
    struct h_mqtt *b = other_gateway_connect();
    struct bb *x = batches_new();
    make_stream(x, 2, 4);

    /* B may not read A's acks, by name or by wildcard, nor where nats-server delivers
     * QoS 1 subscriptions. */
    static const char *const reads[] = {"corio/v1/g/" GW "/ack", "corio/v1/g/+/ack", "#",
                                        "$MQTT/sub/#", "$MQTT/msgs/#"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        for (int qos = 0; qos <= 1; qos++)
            if (h_mqtt_subscribe(b, reads[i], qos) != CORIO_ERR_REFUSED)
                fail_msg("gateway B subscribed to %s at QoS %d", reads[i], qos);
    assert_true(refused("Subscription", "did:corio:" GW2, "corio.v1.g." GW ".ack"));

    /* A fake ack of A's first batch, which would make A delete it from its outbox: B
     * publishes it as MQTT does (QoS 0 and 1) and straight into $MQTT_msgs, and A's
     * batch itself. nats-server acknowledges a QoS 1 publish it refuses all the same. */
    uint8_t fake[64];
    struct corio_ack_range r = {x[0].b.first, x[0].b.last};
    int64_t n = corio_ack_encode(W.epoch, &r, 1, fake, sizeof fake);
    assert_true(n > 0);
    assert_int_equal(h_mqtt_publish(b, "corio/v1/g/" GW "/ack", fake, (int)n, 1), CORIO_OK);
    assert_int_equal(h_mqtt_publish(b, "corio/v1/g/" GW "/ack", fake, (int)n, 0), CORIO_OK);
    assert_int_equal(h_mqtt_publish(b, "$MQTT/msgs/corio/v1/g/" GW "/ack", fake, (int)n, 1),
                     CORIO_OK);
    assert_int_equal(h_mqtt_publish(b, "corio/v1/g/" GW "/batch", x[0].wire, (int)x[0].wire_len, 1),
                     CORIO_OK);
    /* And an event for the organisation's dashboards, in the form instances share. */
    static const char live[] = "corio-live-1 0123456789abcdef\ngap\n{\"from\":\"gateway B\"}\n";
    assert_int_equal(h_mqtt_publish(b, "corio/v1/o/" ORG "/live", live, (int)strlen(live), 1),
                     CORIO_OK);
    assert_true(refused("Publish", "did:corio:" GW2, "corio.v1.g." GW ".ack"));
    assert_true(refused("Publish", "did:corio:" GW2, "$MQTT.msgs.corio.v1.g." GW ".ack"));
    assert_true(refused("Publish", "did:corio:" GW2, "corio.v1.g." GW ".batch"));
    assert_true(refused("Publish", "did:corio:" GW2, "corio.v1.o." ORG ".live"));

    /* A sends its second batch and gets its ack at QoS 1 (scan_acks checks every ack's
     * QoS: a fake at QoS 0 would fail it). Had the fake reached $MQTT_msgs, A's QoS 1
     * subscription would have delivered it first, in stream order. */
    assert_true(send_until_acked(&x[1], 1, 30000));
    scan_acks(W.gw, x, 2);
    assert_false(x[0].acked);
    assert_int_equal(stat_of(0, "batches"), 1);
    assert_int_equal(stat_of(0, "messages"), 4);
    assert_true(metric_of(0, "corio_cloud_live_received_total") <= 0);

    /* B's own batch, on its own topic, is stored and acknowledged to B. */
    struct bb *y = batches_new();
    bb_init(&y[0], GW2, 1, 2);
    bb_senml(&y[0], 1, DEV3, 1);
    bb_senml(&y[0], 2, DEV3, 2);
    bb_seal(&y[0], &W.other_key);
    bool ok;
    H_POLL(ok,
           (publish_raw(b, "corio/v1/g/" GW2 "/batch", y[0].wire, y[0].wire_len),
            h_mqtt_wait_count(b, "corio/v1/g/" GW2 "/ack", 1, 3000) >= 1 &&
                (scan_acks(b, y, 1), y[0].acked)),
           30000);
    assert_true(ok);
    /* A's outbox was never told that its first batch is stored: it sends it again. */
    assert_true(send_until_acked(x, 2, 30000));
    assert_int_equal(stat_of(0, "messages"), 8);
    h_mqtt_close(b);
}

static void certificates_connect_only_as_their_user(void **state)
{
    (void)state;
    world_up(&(struct h_nats_opts){0}, 1);
    int mqtt = W.nats->node[0].mqtt_port;

    /* A gateway speaks MQTT only: over NATS it could subscribe where nats-server
     * delivers every QoS 1 subscription ($MQTT.sub.>, which its MQTT sessions need). */
    natsStatus st;
    assert_null(nats_as(&W.gw2_tls, &st));
    assert_int_not_equal(st, NATS_OK);
    /* corio-cloud speaks NATS only. */
    struct h_mqtt_opts mo = mqtt_as(&W.cloud, "corio-cloud", false);
    mo.timeout_ms = 3000;
    assert_null(h_mqtt_connect(mqtt, &mo));
    /* A gateway the organisation certified but nats-server's users do not list (not in
     * the registry when they were written) is turned away. */
    struct tls_id stranger = issue(W.ca, "stranger", "gateway", NULL);
    mo = mqtt_as(&stranger, "stranger", false);
    mo.timeout_ms = 3000;
    assert_null(h_mqtt_connect(mqtt, &mo));
    /* The gateways' and corio-cloud's own connections. */
    struct h_mqtt *a = gateway_connect(0);
    h_mqtt_close(a);
    mo = mqtt_as(&W.gw2_tls, GW2, false);
    struct h_mqtt *b = h_mqtt_connect(mqtt, &mo);
    assert_non_null(b);
    h_mqtt_close(b);
    assert_non_null(nats_as(&W.cloud, &st));
}

/* The user corio-cloud's certificate names reaches what ingest needs: tried with its
 * certificate, beside a running instance that works with it. */
static void corio_cloud_reaches_only_what_ingest_needs(void **state)
{
    (void)state;
    world_up(&(struct h_nats_opts){0}, 1);
    instance_up(0, 16);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();
    make_stream(x, 1, 4);
    assert_true(send_until_acked(x, 1, 30000));

    natsStatus st;
    natsConnection *nc = nats_as(&W.cloud, &st);
    if (!nc)
        fail_msg("corio-cloud's NATS connection: %s", natsStatus_GetText(st));
    const char *cloud = "CN=corio-cloud-" ORG ",OU=cloud,O=did:corio:" ORG;
    /* It cannot forge a gateway's batch or state, delete the stream or the MQTT
     * sessions, or read where MQTT QoS 1 subscriptions are delivered. */
    assert_int_equal(natsConnection_Publish(nc, "corio.v1.g." GW ".batch", "x", 1), NATS_OK);
    assert_int_equal(natsConnection_Publish(nc, "corio.v1.g." GW ".state", "x", 1), NATS_OK);
    natsMsg *reply = NULL;
    assert_int_not_equal(
        natsConnection_Request(&reply, nc, "$JS.API.STREAM.DELETE.CORIO_BATCHES", NULL, 0, 500),
        NATS_OK);
    assert_int_not_equal(
        natsConnection_Request(&reply, nc, "$JS.API.STREAM.DELETE.$MQTT_sess", NULL, 0, 500),
        NATS_OK);
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&sub, nc, "$MQTT.sub.>"), NATS_OK);
    assert_true(refused("Publish", cloud, "corio.v1.g." GW ".batch"));
    assert_true(refused("Publish", cloud, "corio.v1.g." GW ".state"));
    assert_true(refused("Publish", cloud, "$JS.API.STREAM.DELETE.CORIO_BATCHES"));
    assert_true(refused("Publish", cloud, "$JS.API.STREAM.DELETE.$MQTT_sess"));
    assert_true(refused("Subscription", cloud, "$MQTT.sub.>"));
    natsSubscription_Destroy(sub);

    /* The instance carried on with the same certificate: the stream is intact and the
     * next batch is stored and acknowledged. */
    assert_int_equal(stat_of(0, "batches"), 1);
    struct bb *y = batches_new();
    bb_init(&y[0], GW, 100, 101);
    bb_senml(&y[0], 100, DEV, 100);
    bb_senml(&y[0], 101, DEV, 101);
    bb_seal(&y[0], &W.gw_key);
    assert_true(send_until_acked(y, 1, 30000));
    assert_int_equal(stat_of(0, "batches"), 2);
    assert_true(metric_of(0, "corio_cloud_batches_rejected_total{reason=\"malformed\"}") == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_gateway_cannot_speak_for_another),
        H_TEST(certificates_connect_only_as_their_user),
        H_TEST(corio_cloud_reaches_only_what_ingest_needs),
    };
    return h_done(cmocka_run_group_tests_name("integration.cloud_nats_auth", tests, NULL, NULL));
}
