/*
 * test_sim.c - `corio sim` against the real corio-gateway and its broker: devices
 * made with `corio sim provision` log in with their single-step EATs, every
 * (device, epoch, seq) they produce reaches the cloud side in the gateway's signed
 * batches, and the summary says everything sent was acknowledged. The test plays the
 * cloud: it opens every batch with the gateway's key and acknowledges it. With
 * reboots and lost connections during the run, nothing is missing and no seq comes
 * twice with different content.
 */
#include <setjmp.h>
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
#include "corio/heartbeat.h"
#include "corio/senml.h"
#include "corio/topic.h"
#include "crypto_openssl.h"
#include "harness.h"

#define ORG     "oooooooooooooooooooooooo"
#define DEVICES 5
#define COUNT   20
#define MAX_SEQ 64

struct seen {
    char id[CORIO_SHORT_ID_LEN + 1];
    uint64_t epoch;     /* 0 until the first pack */
    bool epoch_changed; /* a pack came under another epoch */
    uint8_t *payload[MAX_SEQ + 1];
    size_t len[MAX_SEQ + 1];
    int copies[MAX_SEQ + 1];
    bool conflict; /* a seq came twice with different content */
    int heartbeats;
    uint64_t hb_last;
    int boot_stamped; /* packs with boot count and uptime (no time) */
    int time_stamped; /* packs without: they carry bt */
};

struct env {
    struct h_mosq *cloud;
    struct h_proc *gw;
    struct h_mqtt *tap;
    struct corio_key gw_key;
    uint8_t gw_pub[CORIO_P256_PUB_LEN];
    char gw_id[CORIO_SHORT_ID_LEN + 1];
    char gw_didkey[CORIO_DIDKEY_BUF];
    const char *dir, *summary;
    int device_port;
    int batches; /* opened and acknowledged so far */
    int ndev;
    struct seen dev[DEVICES];
    int strays; /* packs from devices the test does not know, or unreadable */
};

static struct env E;

static void free_seen(void *arg)
{
    struct env *e = arg;
    for (int d = 0; d < DEVICES; d++)
        for (int s = 0; s <= MAX_SEQ; s++)
            free(e->dev[d].payload[s]);
}

/* The cloud broker, the gateway's identity, the devices provisioned with the real
 * `corio` binary, and corio-gateway with a registry that lists them. */
static void start(void)
{
    struct env *e = &E;
    memset(e, 0, sizeof *e);
    h_defer(free_seen, e);
    assert_int_equal(
        corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &e->gw_key),
        CORIO_OK);
    h_defer((void (*)(void *))corio_key_close, &e->gw_key);
    assert_int_equal(corio_key_public(&e->gw_key, e->gw_pub), CORIO_OK);
    struct corio_did did;
    assert_int_equal(
        corio_did_from_key(&corio_crypto_openssl_ops, e->gw_pub, sizeof e->gw_pub, &did), CORIO_OK);
    corio_did_id_format(did.id, e->gw_id, sizeof e->gw_id);
    corio_didkey_format(e->gw_pub, sizeof e->gw_pub, e->gw_didkey, sizeof e->gw_didkey);

    e->cloud = h_mosq_start(NULL);
    assert_non_null(e->cloud);
    e->tap = h_mqtt_connect(e->cloud->port, NULL);
    assert_non_null(e->tap);
    assert_int_equal(h_mqtt_subscribe(e->tap, h_strf("corio/v1/g/%s/batch", e->gw_id), 1),
                     CORIO_OK);

    e->dir = h_strf("%s/sim", h_dir());
    e->summary = h_strf("%s/summary.json", h_dir());
    const char *lines = h_strf("%s/devices.registry", h_dir());
    char *out = NULL;
    const char *prov[] = {h_bin("corio"), "sim",   "provision", "--devices",      "5",   "--dir",
                          e->dir,         "--org", ORG,         "--registry-out", lines, NULL};
    assert_int_equal(h_run("corio-provision", prov, NULL, 20000, &out), 0);
    const char *devices = h_read_file(lines, NULL);
    assert_non_null(devices);
    for (const char *p = devices; (p = strstr(p, "device ")) != NULL; p += 7) {
        assert_true(e->ndev < DEVICES);
        memcpy(e->dev[e->ndev++].id, p + 7, CORIO_SHORT_ID_LEN);
    }
    assert_int_equal(e->ndev, DEVICES);

    const char *key = h_strf("%s/gateway.pem", h_dir());
    assert_int_equal(corio_openssl_key_write_pem(&e->gw_key, key), CORIO_OK);
    const char *registry = h_strf("%s/registry", h_dir());
    assert_int_equal(h_write_file(registry, h_strf("height 1\norg %s Org\n"
                                                   "gateway %s org=%s key=%s\n%s",
                                                   ORG, e->gw_id, ORG, e->gw_didkey, devices)),
                     0);
    e->device_port = h_free_port();
    const char *env_lines = h_broker_env_conf();
    char *conf = h_strf("gateway_id %s\nkey %s\noutbox %s/outbox.db\nregistry %s\n"
                        "cloud_port %d\ncloud_keepalive 5s\nack_timeout 5s\n"
                        "loopback_port 0\nmqtt_address 127.0.0.1\nmqtt_port %d\nmqtts_port 0\n"
                        "http_port %d\nbroker_dir %s/broker\nlog_level info\n%s",
                        e->gw_id, key, h_dir(), registry, e->cloud->port, e->device_port,
                        h_free_port(), h_dir(), env_lines);
    struct h_daemon_opts o = {.config = conf, .ready_port = e->device_port};
    e->gw = h_daemon_start("corio-gateway", &o);
    assert_non_null(e->gw);
}

static struct seen *device(struct env *e, const char *id, size_t len)
{
    for (int d = 0; d < e->ndev; d++)
        if (len == CORIO_SHORT_ID_LEN && memcmp(e->dev[d].id, id, len) == 0)
            return &e->dev[d];
    return NULL;
}

/* A pack from a batch: its identity from the first record, its bytes kept. */
static void record_pack(struct env *e, const struct corio_batch_msg *m, enum corio_format fmt)
{
    struct seen *s = device(e, m->device, m->device_len);
    char names[256];
    struct corio_senml_dec dec;
    if (!s || corio_senml_dec_init(&dec, fmt, m->payload, m->payload_len, names, sizeof names) !=
                  CORIO_OK) {
        e->strays++;
        return;
    }
    const struct corio_senml_ext *x = corio_senml_dec_ext(&dec);
    if (!x->has_seq || x->seq > MAX_SEQ) {
        e->strays++;
        return;
    }
    if (s->epoch && s->epoch != x->ep)
        s->epoch_changed = true;
    if (x->has_boot)
        s->boot_stamped++;
    else
        s->time_stamped++;
    s->epoch = x->ep;
    uint64_t q = x->seq;
    if (s->copies[q]++) {
        if (s->len[q] != m->payload_len || memcmp(s->payload[q], m->payload, m->payload_len))
            s->conflict = true;
        return;
    }
    s->payload[q] = malloc(m->payload_len ? m->payload_len : 1);
    assert_non_null(s->payload[q]);
    memcpy(s->payload[q], m->payload, m->payload_len);
    s->len[q] = m->payload_len;
}

/* Opens and acknowledges every batch that arrived since the last call, as the cloud
 * would after storing it. */
static void cloud_step(struct env *e)
{
    int count = h_mqtt_count(e->tap, NULL);
    for (; e->batches < count; e->batches++) {
        const struct h_mqtt_msg *msg = h_mqtt_msg(e->tap, e->batches);
        assert_non_null(msg);
        struct corio_batch b;
        char why[128];
        int rc = corio_batch_open(&corio_crypto_openssl_ops, msg->payload, (size_t)msg->len,
                                  e->gw_pub, sizeof e->gw_pub, &b, why, sizeof why);
        if (rc != CORIO_OK)
            fail_msg("batch %d does not open: %s", e->batches, why);
        for (size_t k = 0; k < b.count; k++) {
            const struct corio_batch_msg *m = &b.msgs[k];
            int kind = corio_topic_suffix_kind(m->suffix, m->suffix_len);
            if (kind == CORIO_TOPIC_UP_JSON || kind == CORIO_TOPIC_UP_CBOR) {
                record_pack(e, m,
                            kind == CORIO_TOPIC_UP_JSON ? CORIO_FORMAT_JSON : CORIO_FORMAT_CBOR);
            } else if (kind == CORIO_TOPIC_UP_HB) {
                struct seen *s = device(e, m->device, m->device_len);
                struct corio_heartbeat hb;
                if (s && corio_heartbeat_decode(corio_heartbeat_sniff(m->payload, m->payload_len),
                                                m->payload, m->payload_len, &hb) == CORIO_OK) {
                    s->heartbeats++;
                    if (hb.last_seq > s->hb_last)
                        s->hb_last = hb.last_seq;
                }
            }
        }
        struct corio_ack_range r = {b.first, b.last};
        uint8_t buf[64];
        int64_t n = corio_ack_encode(b.epoch, &r, 1, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal(
            h_mqtt_publish(e->tap, h_strf("corio/v1/g/%s/ack", e->gw_id), buf, (int)n, 1),
            CORIO_OK);
        corio_batch_free(&b);
    }
}

/* Whether every device's seqs 1..count have arrived. */
static bool complete(struct env *e, int count)
{
    cloud_step(e);
    for (int d = 0; d < e->ndev; d++)
        for (int q = 1; q <= count; q++)
            if (!e->dev[d].copies[q])
                return false;
    return true;
}

/* Runs `corio sim run` with extra arguments while playing the cloud, until it exits;
 * returns its exit status. */
static int run_sim(struct env *e, const char *const *extra)
{
    const char *argv[40] = {h_bin("corio"),
                            "sim",
                            "run",
                            "--dir",
                            e->dir,
                            "--gateway",
                            h_strf("127.0.0.1:%d", e->device_port),
                            "--gateway-id",
                            e->gw_id,
                            "--count",
                            h_strf("%d", COUNT),
                            "--rate",
                            "10",
                            "--summary",
                            e->summary,
                            "--status",
                            "1"};
    int n = 17;
    for (; extra && *extra; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    struct h_proc *sim = h_proc_start("corio-sim", argv, NULL);
    assert_non_null(sim);
    int64_t deadline = h_now_ms() + h_ms(60000);
    int status;
    while ((status = h_proc_wait_exit(sim, 100)) == CORIO_ERR_TIMEOUT) {
        cloud_step(e);
        if (h_now_ms() > deadline)
            fail_msg("corio sim run did not end in time");
    }
    return status;
}

static json_int_t summary_int(json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_integer(v))
        fail_msg("the summary has no integer '%s'", key);
    return json_integer_value(v);
}

/* The checks both tests make once the sim has ended. */
static void everything_arrived(struct env *e)
{
    bool ok;
    H_POLL(ok, complete(e, COUNT), 30000);
    for (int d = 0; d < e->ndev; d++) {
        struct seen *s = &e->dev[d];
        for (int q = 1; q <= COUNT; q++)
            if (!s->copies[q])
                fail_msg("device %s: seq %d never arrived", s->id, q);
        for (int q = COUNT + 1; q <= MAX_SEQ; q++)
            if (s->copies[q])
                fail_msg("device %s: seq %d, beyond --count", s->id, q);
        if (s->conflict)
            fail_msg("device %s: a seq came twice with different content", s->id);
        if (s->epoch_changed)
            fail_msg("device %s: its epoch changed", s->id);
    }
    assert_int_equal(e->strays, 0);

    json_error_t err;
    json_t *root = json_load_file(e->summary, 0, &err);
    if (!root)
        fail_msg("summary: %s", err.text);
    assert_int_equal(summary_int(root, "devices_count"), DEVICES);
    assert_int_equal(summary_int(root, "sent"), DEVICES * COUNT);
    assert_int_equal(summary_int(root, "acked"), DEVICES * COUNT);
    assert_int_equal(summary_int(root, "pending"), 0);
    assert_int_equal(summary_int(root, "drops"), 0);
    json_t *devs = json_object_get(root, "devices");
    assert_int_equal(json_array_size(devs), DEVICES);
    size_t i;
    json_t *dv;
    json_array_foreach(devs, i, dv)
    {
        const char *id = json_string_value(json_object_get(dv, "id"));
        assert_non_null(id);
        struct seen *s = device(e, id, strlen(id));
        assert_non_null(s);
        assert_int_equal(summary_int(dv, "epoch"), (json_int_t)s->epoch);
        assert_int_equal(summary_int(dv, "last_seq"), COUNT);
        assert_int_equal(summary_int(dv, "produced"), COUNT);
        assert_int_equal(summary_int(dv, "acked"), COUNT);
        assert_int_equal(summary_int(dv, "pending"), 0);
    }
    json_decref(root);
}

static void every_message_of_every_device_arrives(void **state)
{
    (void)state;
    start();
    const char *extra[] = {"--heartbeat", "0.5", NULL};
    assert_int_equal(run_sim(&E, extra), 0);
    everything_arrived(&E);
    char *out = h_read_file(h_strf("%s/corio-sim.log", h_dir()), NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, h_strf("sim devices=%d sent=%d acked=%d pending=0 drops=0", DEVICES,
                                       DEVICES * COUNT, DEVICES * COUNT)));
    /* Heartbeats came too, each telling how far its device had got. */
    for (int d = 0; d < E.ndev; d++) {
        assert_true(E.dev[d].heartbeats >= 1);
        assert_true(E.dev[d].hb_last <= COUNT);
    }
    /* Every device logged in at its first attempt with its own single-step token, and
     * kept its connection. */
    json_error_t err;
    json_t *root = json_load_file(E.summary, 0, &err);
    assert_non_null(root);
    size_t i;
    json_t *dv;
    json_array_foreach(json_object_get(root, "devices"), i, dv)
    {
        assert_int_equal(summary_int(dv, "boots"), 1);
        assert_int_equal(summary_int(dv, "connects"), 1);
    }
    json_decref(root);
}

static void reboots_and_lost_connections_lose_and_repeat_nothing(void **state)
{
    (void)state;
    start();
    const char *extra[] = {
        "--reboot-every",     "0.4", "--netloss-every", "0.7", "--format", "cbor",
        "--no-time-fraction", "0.5", "--seed",          "7",   NULL};
    assert_int_equal(run_sim(&E, extra), 0);
    everything_arrived(&E);
    /* It did reboot and lose connections: the summary counts them. */
    json_error_t err;
    json_t *root = json_load_file(E.summary, 0, &err);
    assert_non_null(root);
    assert_true(summary_int(root, "boots") > DEVICES);
    assert_true(summary_int(root, "netlosses") > 0);
    /* Devices without time stamped boot count and uptime, the others the time. */
    size_t i;
    json_t *dv;
    int without = 0;
    json_array_foreach(json_object_get(root, "devices"), i, dv)
    {
        const char *id = json_string_value(json_object_get(dv, "id"));
        struct seen *s = device(&E, id, strlen(id));
        assert_non_null(s);
        if (json_is_true(json_object_get(dv, "no_time"))) {
            without++;
            assert_int_equal(s->time_stamped, 0);
            assert_true(s->boot_stamped > 0);
        } else {
            assert_int_equal(s->boot_stamped, 0);
            assert_true(s->time_stamped > 0);
        }
    }
    assert_true(without > 0 && without < DEVICES); /* seed 7 gives a mix */
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(every_message_of_every_device_arrives),
        H_TEST(reboots_and_lost_connections_lose_and_repeat_nothing),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
