/*
 * test_gateway_edge.c - corio-gateway's local rules, /metrics and status, against its own
 * broker and a real cloud broker: a device's sample above a threshold makes the rule
 * send the device a command through the gateway's service client and record an event
 * as the gateway's own record (device '', suffix edge/rule), which goes upstream in a
 * signed batch; a device that never speaks raises an absence rule; the plugin's
 * counters (messages in, refusals) reach /metrics; the gateway's status arrives retained
 * on corio/v1/g/{gw}/status, says "degraded" when messages were refused, "stopped" after
 * a clean stop, and the last will says "lost" when the gateway dies.
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
#include <jansson.h>

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
    struct ident gateway, device, quiet;
    const char *outbox;
    int device_port, http_port;
    uint64_t counter;
};

static struct h_mqtt *device_login(struct env *e)
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
    struct h_mqtt_opts o = {.client_id = e->device.id, .username = e->device.did,
                            .password = text};
    return h_mqtt_connect(e->device_port, &o);
}

static struct env *start(const char *extra)
{
    static struct env env;
    struct env *e = &env;
    memset(e, 0, sizeof *e);
    make_ident(&e->gateway);
    make_ident(&e->device);
    make_ident(&e->quiet);
    e->cloud = h_mosq_start(NULL);
    assert_non_null(e->cloud);
    e->tap = h_mqtt_connect(e->cloud->port, NULL);
    assert_non_null(e->tap);
    assert_int_equal(h_mqtt_subscribe(e->tap, h_strf("corio/v1/g/%s/#", e->gateway.id), 1),
                     CORIO_OK);

    const char *key = h_strf("%s/gateway.pem", h_dir());
    assert_int_equal(corio_openssl_key_write_pem(&e->gateway.key, key), CORIO_OK);
    const char *registry = h_strf("%s/registry", h_dir());
    assert_int_equal(h_write_file(registry, h_strf("height 1\norg %s Org\n"
                                                   "gateway %s org=%s key=%s\n"
                                                   "device %s org=%s key=%s class=freezer\n"
                                                   "device %s org=%s key=%s\n",
                                                   ORG, e->gateway.id, ORG, e->gateway.didkey,
                                                   e->device.id, ORG, e->device.didkey,
                                                   e->quiet.id, ORG, e->quiet.didkey)),
                     0);
    const char *rules = h_strf("%s/rules.conf", h_dir());
    assert_int_equal(h_write_file(rules, h_strf("version 1\n"
                                                "rule hot\n"
                                                "    devices class:freezer\n"
                                                "    metric  t\n"
                                                "    above 30\n"
                                                "    clear_below 20\n"
                                                "    alert warning\n"
                                                "    command self fan speed=3\n"
                                                "    event\n"
                                                "end\n"
                                                "rule silent\n"
                                                "    devices %s\n"
                                                "    metric  t\n"
                                                "    absent  2s\n"
                                                "    event\n"
                                                "end\n",
                                                e->quiet.id)),
                     0);
    e->outbox = h_strf("%s/outbox.db", h_dir());
    e->device_port = h_free_port();
    e->http_port = h_free_port();
    const char *env_lines = h_broker_env_conf();
    char *conf = h_strf("gateway_id %s\nkey %s\noutbox %s\nregistry %s\nrules %s\n"
                        "cloud_port %d\ncloud_keepalive 5s\nack_timeout 60s\nstatus_interval 1s\n"
                        "loopback_port %d\nmqtt_address 127.0.0.1\nmqtt_port %d\nmqtts_port 0\n"
                        "http_port %d\nbroker_dir %s/broker\nlog_level debug\n%s%s",
                        e->gateway.id, key, e->outbox, registry, rules, e->cloud->port,
                        h_free_port(), e->device_port, e->http_port, h_dir(), env_lines,
                        extra ? extra : "");
    struct h_daemon_opts o = {.config = conf, .ready_port = e->device_port};
    e->gw = h_daemon_start("corio-gateway", &o);
    assert_non_null(e->gw);
    return e;
}

/* The gateway's own records (device '') with this suffix in the outbox whose payload
 * holds needle. */
struct find {
    const char *suffix, *needle;
    int n;
};

static int find_row(const struct corio_outbox_row *row, void *arg)
{
    struct find *f = arg;
    if (!row->device[0] && strcmp(row->suffix, f->suffix) == 0 &&
        memmem(row->payload, row->payload_len, f->needle, strlen(f->needle)))
        f->n++;
    return 0;
}

static int gateway_records(struct env *e, const char *suffix, const char *needle)
{
    struct corio_outbox_options o = {.path = e->outbox, .read_only = true, .intake = true};
    corio_outbox *ob;
    char err[256];
    if (corio_outbox_open(&o, &ob, err, sizeof err) != CORIO_OK)
        return -1;
    struct find f = {suffix, needle, 0};
    corio_outbox_read(ob, 0, 100000, SIZE_MAX, find_row, &f);
    corio_outbox_close(ob);
    return f.n;
}

/* The value of a metric line "name value" on /metrics, or -1. */
static double metric(struct env *e, const char *name)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/metrics", e->http_port), &r) != CORIO_OK ||
        r.status != 200)
        return -1;
    const char *at = r.body;
    size_t n = strlen(name);
    while ((at = strstr(at, name))) {
        if ((at == r.body || at[-1] == '\n') && at[n] == ' ')
            return atof(at + n + 1);
        at += n;
    }
    return -1;
}

/* The latest status on the tap, parsed (NULL when none yet); the caller decrefs. */
static json_t *latest_status(struct h_mqtt *tap, const char *gw)
{
    char *topic = h_strf("corio/v1/g/%s/status", gw);
    json_t *j = NULL;
    for (int i = h_mqtt_count(tap, NULL) - 1; i >= 0 && !j; i--) {
        const struct h_mqtt_msg *m = h_mqtt_msg(tap, i);
        if (strcmp(m->topic, topic) == 0)
            j = json_loadb((const char *)m->payload, (size_t)m->len, 0, NULL);
    }
    return j;
}

static bool status_is(struct env *e, const char *status)
{
    json_t *j = latest_status(e->tap, e->gateway.id);
    bool yes = j && strcmp(json_string_value(json_object_get(j, "status")), status) == 0;
    json_decref(j);
    return yes;
}

/* Gateway records with this suffix in the batches received on the tap. */
static int batched_gateway_records(struct env *e, const char *suffix)
{
    int n = 0;
    char *topic = h_strf("corio/v1/g/%s/batch", e->gateway.id);
    for (int i = 0; i < h_mqtt_count(e->tap, NULL); i++) {
        const struct h_mqtt_msg *m = h_mqtt_msg(e->tap, i);
        if (strcmp(m->topic, topic) != 0)
            continue;
        struct corio_batch b;
        char why[128];
        if (corio_batch_open(&corio_crypto_openssl_ops, m->payload, (size_t)m->len,
                             e->gateway.pub, sizeof e->gateway.pub, &b, why, sizeof why) !=
            CORIO_OK)
            continue;
        for (size_t k = 0; k < b.count; k++)
            if (b.msgs[k].device_len == 0 && b.msgs[k].suffix_len == strlen(suffix) &&
                !memcmp(b.msgs[k].suffix, suffix, strlen(suffix)))
                n++;
        corio_batch_free(&b);
    }
    return n;
}

static void rules_act_locally_and_their_events_go_upstream(void **state)
{
    (void)state;
    struct env *e = start(NULL);
    /* Commands go out through the service client: a rule firing before it logged in
     * would be counted as not sent (commands are not queued, they expire). */
    assert_int_equal(h_proc_wait_log(e->gw, "connected to the local broker", 10000), CORIO_OK);
    struct h_mqtt *dev = device_login(e);
    assert_non_null(dev);
    char *dn = h_strf("corio/v1/d/%s/dn/#", e->device.id);
    assert_int_equal(h_mqtt_subscribe(dev, dn, 1), CORIO_OK);
    char *up = h_strf("corio/v1/d/%s/up/json", e->device.id);
    const char *cool = "[{\"ep\":1,\"seq\":1,\"n\":\"t\",\"v\":25}]";
    const char *warm = "[{\"ep\":1,\"seq\":2,\"n\":\"t\",\"v\":35}]";
    assert_int_equal(h_mqtt_publish(dev, up, cool, (int)strlen(cool), 1), CORIO_OK);
    assert_int_equal(h_mqtt_publish(dev, up, warm, (int)strlen(warm), 1), CORIO_OK);

    /* The command comes to the device, from the gateway itself. */
    assert_int_equal(h_mqtt_wait_count(dev, dn, 1, 10000), 1);
    const struct h_mqtt_msg *cmd = h_mqtt_msg(dev, 0);
    assert_non_null(strstr(cmd->topic, "/dn/cmd"));
    assert_non_null(memmem(cmd->payload, (size_t)cmd->len, "fan", 3));
    assert_non_null(memmem(cmd->payload, (size_t)cmd->len, "speed", 5));

    /* The raise is the gateway's own record in the outbox, and goes upstream. */
    bool stored;
    H_POLL(stored, gateway_records(e, "edge/rule", "\"rule\":\"hot\",\"state\":\"raised\"") == 1,
           10000);
    assert_true(stored);
    /* A device named by id that never speaks raises its absence rule. */
    H_POLL(stored, gateway_records(e, "edge/rule", "\"rule\":\"silent\"") == 1, 15000);
    assert_true(stored);
    bool sent;
    H_POLL(sent, batched_gateway_records(e, "edge/rule") >= 2, 15000);
    assert_true(sent);

    /* Back below the clear level: cleared, once. */
    const char *cold = "[{\"ep\":1,\"seq\":3,\"n\":\"t\",\"v\":15}]";
    assert_int_equal(h_mqtt_publish(dev, up, cold, (int)strlen(cold), 1), CORIO_OK);
    H_POLL(stored, gateway_records(e, "edge/rule", "\"rule\":\"hot\",\"state\":\"cleared\"") == 1,
           10000);
    assert_true(stored);

    /* /metrics shows the plugin's counters and the rules'. */
    bool counted;
    H_POLL(counted, metric(e, "corio_gateway_messages_in_total") >= 3 + 3, 10000);
    assert_true(counted);
    H_POLL(counted, metric(e, "corio_gateway_rules_raised_total") == 2, 10000);
    assert_true(counted);
    assert_true(metric(e, "corio_gateway_rules_cleared_total") == 1);
    assert_true(metric(e, "corio_gateway_rules_commands_total") == 1);
    H_POLL(counted, metric(e, "corio_gateway_rules_events_stored_total") == 3, 10000);
    assert_true(counted);
    assert_true(metric(e, "corio_gateway_outbox_rows") >= 6);
    assert_true(metric(e, "corio_gateway_refused_total") == 0);
    assert_true(metric(e, "corio_gateway_mqtt_devices_connected") == 1);
    assert_true(metric(e, "corio_gateway_outbox_clean_start") == 1);

    /* The status, retained on the cloud broker. */
    bool ok;
    H_POLL(ok, status_is(e, "ok"), 10000);
    assert_true(ok);
    json_t *j = latest_status(e->tap, e->gateway.id);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "in"), "messages")) >= 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "devices"), "mqtt")), 1);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "rules"), "raised")) >= 1);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "outbox"), "rows")) >= 3);
    json_decref(j);

    /* A clean stop leaves "stopped"; a later subscriber gets it from the broker. */
    h_mqtt_close(dev);
    assert_int_equal(h_proc_stop(e->gw), 0);
    struct h_mqtt *late = h_mqtt_connect(e->cloud->port, NULL);
    assert_int_equal(h_mqtt_subscribe(late, h_strf("corio/v1/g/%s/status", e->gateway.id), 1),
                     CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(late, NULL, 1, 5000), 1);
    j = latest_status(late, e->gateway.id);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "stopped");
    json_decref(j);
}

static void refusals_reach_metrics_and_status_and_death_leaves_lost(void **state)
{
    (void)state;
    struct env *e = start("outbox_max_bytes 4096\n");
    struct h_mqtt *dev = device_login(e);
    assert_non_null(dev);
    char *up = h_strf("corio/v1/d/%s/up/json", e->device.id);
    char big[1200];
    int n = snprintf(big, sizeof big, "[{\"ep\":1,\"seq\":1,\"n\":\"s\",\"vs\":\"%0900d\"}]", 0);
    /* Nothing is acknowledged upstream, so the 4 KiB outbox fills: refused, not PUBACKed. */
    for (int i = 0; i < 6; i++)
        h_mqtt_publish_nowait(dev, up, big, n, 1, false, NULL);
    bool refused;
    H_POLL(refused, metric(e, "corio_gateway_refused_total") >= 1, 15000);
    assert_true(refused);
    assert_true(h_mqtt_disconnects(dev) >= 1);
    bool degraded;
    H_POLL(degraded, status_is(e, "degraded"), 10000);
    assert_true(degraded);
    json_t *j = latest_status(e->tap, e->gateway.id);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "in"), "refused")) >= 1);
    json_decref(j);

    /* Dead without a word: the broker publishes the gateway's will. */
    h_mqtt_close(dev);
    h_proc_kill(e->gw);
    bool lost;
    H_POLL(lost, status_is(e, "lost"), 15000);
    assert_true(lost);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(rules_act_locally_and_their_events_go_upstream),
        H_TEST(refusals_reach_metrics_and_status_and_death_leaves_lost),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
