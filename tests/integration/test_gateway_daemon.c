/*
 * test_gateway_daemon.c - corio-gateway with its own broker against a real cloud
 * broker: devices' messages arrive at the cloud as signed batches; the watermark moves
 * only on the application ack (never on the broker's PUBACK) and the plugin then
 * deletes the rows; unacknowledged batches are sent again; a killed gateway broker is
 * restarted and devices carry on.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch.h"
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "crypto_openssl.h"
#include "gateway_ident.h"
#include "harness.h"
#include "outbox.h"

#define ORG "oooooooooooooooooooooooo"

struct env {
    struct h_mosq *cloud;
    struct h_proc *gw;
    struct h_mqtt *tap; /* the test's client on the cloud broker */
    struct ident gateway, device;
    const char *outbox, *watermark;
    int device_port, http_port;
    uint64_t counter;
};

static char *password(struct env *e)
{
    struct corio_eat_claims c = {0};
    corio_did_parse(e->device.did, strlen(e->device.did), &c.issuer);
    c.aud = e->gateway.id;
    c.aud_len = strlen(c.aud);
    c.has_counter = true;
    c.counter = ++e->counter;
    c.assurance = CORIO_EAT_REPORTED;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&e->device.key, &c, tok, sizeof tok);
    assert_true(n > 0);
    char *text = h_strf("%*s", (int)CORIO_BASE64URL_ENCODED_LEN((size_t)n) + 1, "");
    corio_base64url_encode(tok, (size_t)n, text, strlen(text) + 1);
    return text;
}

static struct h_mqtt *device_login(struct env *e)
{
    struct h_mqtt_opts o = {.client_id = e->device.id, .username = e->device.did,
                            .password = password(e)};
    return h_mqtt_connect(e->device_port, &o);
}

static struct env *start(const char *ack_timeout)
{
    static struct env env;
    struct env *e = &env;
    memset(e, 0, sizeof *e);
    make_ident(&e->gateway);
    make_ident(&e->device);
    e->cloud = h_mosq_start(NULL);
    assert_non_null(e->cloud);
    e->tap = h_mqtt_connect(e->cloud->port, NULL);
    assert_non_null(e->tap);
    assert_int_equal(h_mqtt_subscribe(e->tap, h_strf("corio/v1/g/%s/batch", e->gateway.id), 1),
                     CORIO_OK);

    const char *key = h_strf("%s/gateway.pem", h_dir());
    assert_int_equal(corio_openssl_key_write_pem(&e->gateway.key, key), CORIO_OK);
    const char *registry = h_strf("%s/registry", h_dir());
    assert_int_equal(h_write_file(registry, h_strf("height 1\norg %s Org\n"
                                                   "gateway %s org=%s key=%s\n"
                                                   "device %s org=%s key=%s\n",
                                                   ORG, e->gateway.id, ORG, e->gateway.didkey,
                                                   e->device.id, ORG, e->device.didkey)),
                     0);
    e->outbox = h_strf("%s/outbox.db", h_dir());
    e->watermark = h_strf("%s.watermark", e->outbox);
    e->device_port = h_free_port();
    e->http_port = h_free_port();
    const char *env_lines = h_broker_env_conf();
    char *conf = h_strf("gateway_id %s\nkey %s\noutbox %s\nregistry %s\n"
                        "cloud_port %d\ncloud_keepalive 5s\nack_timeout %s\n"
                        "loopback_port 0\nmqtt_address 127.0.0.1\nmqtt_port %d\nmqtts_port 0\n"
                        "http_port %d\nbroker_dir %s/broker\nlog_level debug\n%s",
                        e->gateway.id, key, e->outbox, registry, e->cloud->port, ack_timeout,
                        e->device_port, e->http_port, h_dir(), env_lines);
    struct h_daemon_opts o = {.config = conf, .ready_port = e->device_port};
    e->gw = h_daemon_start("corio-gateway", &o);
    assert_non_null(e->gw);
    return e;
}

/* Opens batch i received on the tap: verifies it with the gateway's key. */
static struct corio_batch open_batch(struct env *e, int i)
{
    const struct h_mqtt_msg *m = h_mqtt_msg(e->tap, i);
    assert_non_null(m);
    struct corio_batch b;
    char why[128];
    int rc = corio_batch_open(&corio_crypto_openssl_ops, m->payload, (size_t)m->len,
                              e->gateway.pub, sizeof e->gateway.pub, &b, why, sizeof why);
    if (rc != CORIO_OK)
        fail_msg("batch %d does not open: %s", i, why);
    return b;
}

static void ack(struct env *e, const struct corio_batch *b)
{
    struct corio_ack_range r = {b->first, b->last};
    uint8_t buf[64];
    int64_t n = corio_ack_encode(b->epoch, &r, 1, buf, sizeof buf);
    assert_int_equal(h_mqtt_publish(e->tap, h_strf("corio/v1/g/%s/ack", e->gateway.id), buf,
                                    (int)n, 1),
                     CORIO_OK);
}

static int64_t watermark(struct env *e)
{
    uint64_t epoch;
    int64_t id;
    return corio_watermark_read(e->watermark, &epoch, &id) == CORIO_OK ? id : -1;
}

static int outbox_rows(struct env *e)
{
    struct corio_outbox_options o = {.path = e->outbox, .read_only = true, .intake = true};
    corio_outbox *ob;
    char err[256];
    if (corio_outbox_open(&o, &ob, err, sizeof err) != CORIO_OK)
        return -1;
    struct corio_outbox_stats st;
    corio_outbox_stats(ob, &st);
    corio_outbox_close(ob);
    return (int)st.rows;
}

static bool watermark_at_least(struct env *e, int64_t id)
{
    return watermark(e) >= id;
}

static void publish_n(struct env *e, struct h_mqtt *dev, int from, int n)
{
    char *topic = h_strf("corio/v1/d/%s/up/json", e->device.id);
    for (int i = from; i < from + n; i++) {
        char *msg = h_strf("[{\"n\":\"t\",\"v\":%d,\"ep\":1,\"seq\":%d}]", i, i);
        assert_int_equal(h_mqtt_publish(dev, topic, msg, (int)strlen(msg), 1), CORIO_OK);
    }
}

/* Counts the messages with suffix up/json in every batch received so far. */
static int json_messages(struct env *e, int *batches)
{
    int n = 0, count = h_mqtt_count(e->tap, NULL);
    for (int i = 0; i < count; i++) {
        struct corio_batch b = open_batch(e, i);
        for (size_t k = 0; k < b.count; k++)
            if (b.msgs[k].suffix_len == 7 && !memcmp(b.msgs[k].suffix, "up/json", 7))
                n++;
        corio_batch_free(&b);
    }
    if (batches)
        *batches = count;
    return n;
}

static void only_the_application_ack_moves_the_watermark(void **state)
{
    (void)state;
    struct env *e = start("60s");
    struct h_mqtt *dev = device_login(e);
    assert_non_null(dev);
    publish_n(e, dev, 1, 10);

    /* Every message arrives, signed by the gateway, with the device's identity. */
    int got;
    H_POLL(got, json_messages(e, NULL) >= 10, 10000);
    assert_int_equal(json_messages(e, NULL), 10);
    struct corio_batch b = open_batch(e, 0);
    assert_string_equal(b.gateway, e->gateway.id);
    assert_memory_equal(b.msgs[b.count - 1].device, e->device.id, 24);

    /* The cloud broker PUBACKed every batch; without the application ack nothing moves. */
    int rows = outbox_rows(e);
    assert_true(rows >= 10);
    assert_true(watermark(e) <= 0);

    int batches = h_mqtt_count(e->tap, NULL);
    int64_t last = 0;
    for (int i = 0; i < batches; i++) {
        struct corio_batch bi = open_batch(e, i);
        ack(e, &bi);
        if ((int64_t)bi.last > last)
            last = (int64_t)bi.last;
        corio_batch_free(&bi);
    }
    bool moved;
    H_POLL(moved, watermark_at_least(e, last), 10000);
    assert_true(moved);
    /* The plugin deletes what the cloud committed. */
    bool emptied;
    H_POLL(emptied, outbox_rows(e) == 0, 10000);
    assert_true(emptied);
    corio_batch_free(&b);
}

/* Whether two of the batches received so far cover the same id range: a resend. */
static bool repeated_range(struct env *e)
{
    int n = h_mqtt_count(e->tap, NULL);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            struct corio_batch a = open_batch(e, i), b = open_batch(e, j);
            bool same = a.epoch == b.epoch && a.first == b.first && a.last == b.last;
            corio_batch_free(&a);
            corio_batch_free(&b);
            if (same)
                return true;
        }
    return false;
}

static void unacknowledged_batches_are_sent_again(void **state)
{
    (void)state;
    struct env *e = start("1s");
    struct h_mqtt *dev = device_login(e);
    assert_non_null(dev);
    publish_n(e, dev, 1, 3);
    /* No ack: some batch comes again, the same range, after the timeout. */
    bool resent;
    H_POLL(resent, repeated_range(e), 15000);
    assert_true(resent);
    assert_true(watermark(e) <= 0);
}

static void a_killed_broker_is_restarted_and_devices_carry_on(void **state)
{
    (void)state;
    struct env *e = start("60s");
    struct h_mqtt *dev = device_login(e);
    assert_non_null(dev);
    publish_n(e, dev, 1, 2);
    h_mqtt_close(dev);

    /* The broker is corio-gateway's child; its pid is in the log. */
    const char *log = h_read_file(h_proc_log(e->gw), NULL);
    const char *at = strstr(log, "msg=\"broker started\" pid=");
    assert_non_null(at);
    pid_t pid = (pid_t)atoi(strstr(at, "pid=") + 4);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(h_proc_wait_log(e->gw, "broker died; restarting", 10000),
                     CORIO_OK);
    assert_int_equal(h_wait_port(e->device_port, 15000), CORIO_OK);

    dev = device_login(e);
    assert_non_null(dev);
    publish_n(e, dev, 3, 2);
    int got;
    H_POLL(got, json_messages(e, NULL) >= 4, 10000);
    assert_int_equal(json_messages(e, NULL), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(only_the_application_ack_moves_the_watermark),
        H_TEST(unacknowledged_batches_are_sent_again),
        H_TEST(a_killed_broker_is_restarted_and_devices_carry_on),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
