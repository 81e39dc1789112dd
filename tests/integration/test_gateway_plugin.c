/*
 * test_gateway_plugin.c - the corio plugin inside a real Mosquitto: single-step EAT
 * logins accepted and refused for each reason while the broker keeps serving others,
 * topic rights, messages stored in the outbox before the PUBACK (also across a SIGKILL
 * of the broker: what its intake log held is moved into the table at the next start),
 * presence, a full outbox refusing without a PUBACK, and a device revoked while
 * connected.
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

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/p256.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "outbox.h"

#define GW "gggggggggggggggggggggggg"
#define ORG "oooooooooooooooooooooooo"

struct device {
    struct corio_key key;
    char id[CORIO_DID_ID_CHARS + 1];
    char did[CORIO_DID_BUF];
    char didkey[CORIO_DIDKEY_BUF];
    uint64_t counter;
};

struct env {
    struct h_mosq *broker;
    const char *outbox;
    const char *registry;
    struct device ok, eatonly, revoked, fw, stranger;
};

static void make_device(struct device *d)
{
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &d->key), CORIO_OK);
    uint8_t pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_key_public(&d->key, pub), CORIO_OK);
    struct corio_did did;
    assert_int_equal(corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did),
                     CORIO_OK);
    assert_true(corio_did_id_format(did.id, d->id, sizeof d->id) > 0);
    assert_true(corio_did_format(&did, d->did, sizeof d->did) > 0);
    assert_true(corio_didkey_format(pub, sizeof pub, d->didkey, sizeof d->didkey) > 0);
    d->counter = 0;
    h_defer((void (*)(void *))corio_key_close, &d->key);
}

static const uint8_t approved_fw[32] = {0xaa, 0xbb};

/* A single-step password: base64url of an EAT. */
static char *token(struct device *d, const char *aud, uint64_t counter, const uint8_t *fw)
{
    struct corio_eat_claims c = {0};
    assert_int_equal(corio_did_parse(d->did, strlen(d->did), &c.issuer), CORIO_OK);
    c.key_number = 0;
    c.aud = aud;
    c.aud_len = strlen(aud);
    c.has_counter = true;
    c.counter = counter;
    c.assurance = CORIO_EAT_REPORTED;
    if (fw) {
        c.has_firmware = true;
        memcpy(c.fw_digest, fw, 32);
        c.fw_version = "1.0.0";
        c.fw_version_len = 5;
    }
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&d->key, &c, tok, sizeof tok);
    assert_true(n > 0);
    char *text = h_strf("%*s", (int)CORIO_BASE64URL_ENCODED_LEN((size_t)n), "");
    assert_true(corio_base64url_encode(tok, (size_t)n, text,
                                       CORIO_BASE64URL_ENCODED_LEN((size_t)n) + 1) > 0);
    return text;
}

static void write_registry(struct env *e, int height, bool revoke)
{
    char *text = h_strf(
        "height %d\n"
        "org %s Test Org\n"
        "device %s org=%s key=%s class=sensor\n"
        "device %s org=%s key=%s class=sensor auth=eat\n"
        "device %s org=%s key=%s class=sensor revoked=%s\n"
        "device %s org=%s key=%s class=meter\n"
        "firmware meter %064x\n",
        height, ORG, e->ok.id, ORG, e->ok.didkey, e->eatonly.id, ORG, e->eatonly.didkey,
        e->revoked.id, ORG, e->revoked.didkey, revoke ? "yes" : "no", e->fw.id, ORG,
        e->fw.didkey, 0);
    /* The meter class lists one approved digest: aabb000…0. */
    char *fw = strstr(text, "firmware meter ");
    memcpy(fw + strlen("firmware meter "), "aabb", 4);
    char *tmp = h_strf("%s.tmp", e->registry);
    assert_int_equal(h_write_file(tmp, text), 0);
    assert_int_equal(rename(tmp, e->registry), 0);
}

static struct env *start(int64_t max_bytes)
{
    static struct env env;
    struct env *e = &env;
    memset(e, 0, sizeof *e);
    make_device(&e->ok);
    make_device(&e->eatonly);
    make_device(&e->revoked);
    make_device(&e->fw);
    make_device(&e->stranger);
    e->outbox = h_strf("%s/outbox.db", h_dir());
    e->registry = h_strf("%s/registry", h_dir());
    write_registry(e, 1, true);
    const char *opts[] = {h_strf("outbox %s", e->outbox), "gateway " GW,
                          h_strf("registry %s", e->registry),
                          h_strf("max_bytes %lld", (long long)max_bytes), NULL};
    struct h_mosq_opts mo = {.plugin = h_lib("corio_mosquitto.so"), .plugin_opts = opts,
                             .deny_anonymous = true};
    e->broker = h_mosq_start(&mo);
    assert_non_null(e->broker);
    return e;
}

static struct h_mqtt *login(struct env *e, struct device *d, const char *client, const char *pw)
{
    struct h_mqtt_opts o = {.client_id = client ? client : d->id, .username = d->did,
                            .password = pw, .timeout_ms = 5000};
    return h_mqtt_connect(e->broker->port, &o);
}

/* Rows in the outbox for a device and suffix. */
static int rows(struct env *e, const char *device, const char *suffix);

struct count_arg {
    const char *device, *suffix;
    int n;
};

static int count_row(const struct corio_outbox_row *row, void *arg)
{
    struct count_arg *c = arg;
    if (!strcmp(row->device, c->device) && !strcmp(row->suffix, c->suffix))
        c->n++;
    return 0;
}

static int rows_of(struct env *e, const char *device, const char *suffix, bool with_intake)
{
    struct corio_outbox_options o = {.path = e->outbox, .read_only = true, .intake = with_intake};
    corio_outbox *ob;
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &ob, err, sizeof err), CORIO_OK);
    struct count_arg c = {device, suffix, 0};
    assert_true(corio_outbox_read(ob, 0, 100000, SIZE_MAX, count_row, &c) >= 0);
    corio_outbox_close(ob);
    return c.n;
}

/* What is stored: the table's rows and the intake log's records not yet moved. */
static int rows(struct env *e, const char *device, const char *suffix)
{
    return rows_of(e, device, suffix, true);
}

static void a_valid_login_publishes_into_the_outbox(void **state)
{
    (void)state;
    struct env *e = start(1 << 30);
    struct h_mqtt *c = login(e, &e->ok, NULL, token(&e->ok, GW, 1, NULL));
    assert_non_null(c);
    char *topic = h_strf("corio/v1/d/%s/up/json", e->ok.id);
    const char *msg = "[{\"n\":\"temp\",\"v\":21.5}]";
    /* Stored before the PUBACK (the table, or the intake log that rows() reads too):
     * once h_mqtt_publish returns, the row is there. */
    assert_int_equal(h_mqtt_publish(c, topic, msg, (int)strlen(msg), 1), CORIO_OK);
    assert_int_equal(rows(e, e->ok.id, "up/json"), 1);
    assert_int_equal(rows(e, e->ok.id, "presence"), 1);

    /* Rights: '#' and another device's dn/ cannot be subscribed; its own dn/ can. */
    assert_int_equal(h_mqtt_subscribe(c, "#", 1), CORIO_ERR_REFUSED);
    assert_int_equal(h_mqtt_subscribe(c, h_strf("corio/v1/d/%s/dn/#", e->ok.id), 1), CORIO_OK);
    assert_int_equal(h_mqtt_subscribe(c, h_strf("corio/v1/d/%s/dn/#", e->eatonly.id), 1),
                     CORIO_ERR_REFUSED);
    /* Disconnecting records the device offline. */
    h_mqtt_close(c);
    bool offline;
    H_POLL(offline, rows(e, e->ok.id, "presence") == 2, 5000);
    assert_true(offline);

    /* Publishing to another device's topic is denied: nothing is stored, and the broker
     * closes the connection of an MQTT 3.1.1 client that breaks its rights. */
    c = login(e, &e->ok, NULL, token(&e->ok, GW, 2, NULL));
    assert_non_null(c);
    char *foreign = h_strf("corio/v1/d/%s/up/json", e->eatonly.id);
    h_mqtt_publish(c, foreign, msg, (int)strlen(msg), 1);
    assert_int_equal(h_mqtt_wait_disconnected(c, 5000), CORIO_OK);
    assert_int_equal(rows(e, e->eatonly.id, "up/json"), 0);
}

static void every_bad_login_is_refused_and_others_keep_working(void **state)
{
    (void)state;
    struct env *e = start(1 << 30);
    assert_non_null(login(e, &e->ok, NULL, token(&e->ok, GW, 5, NULL)));
    /* Replayed counter, a lower counter, another gateway's audience. */
    assert_null(login(e, &e->ok, NULL, token(&e->ok, GW, 5, NULL)));
    assert_null(login(e, &e->ok, NULL, token(&e->ok, GW, 4, NULL)));
    assert_null(login(e, &e->ok, NULL, token(&e->ok, "hhhhhhhhhhhhhhhhhhhhhhhh", 6, NULL)));
    /* A client id that is not the DID's short id. */
    assert_null(login(e, &e->ok, e->eatonly.id, token(&e->ok, GW, 7, NULL)));
    /* A token signed by another key. */
    assert_null(login(e, &e->ok, NULL, token(&e->stranger, GW, 8, NULL)));
    /* Unregistered, revoked, AUTH-capable. */
    assert_null(login(e, &e->stranger, NULL, token(&e->stranger, GW, 1, NULL)));
    assert_null(login(e, &e->revoked, NULL, token(&e->revoked, GW, 1, NULL)));
    assert_null(login(e, &e->eatonly, NULL, token(&e->eatonly, GW, 1, NULL)));
    /* Garbage passwords. */
    assert_null(login(e, &e->ok, NULL, "not base64url!"));
    assert_null(login(e, &e->ok, NULL, "AAAA"));
    /* Firmware: the meter class requires an approved digest. */
    assert_null(login(e, &e->fw, NULL, token(&e->fw, GW, 1, NULL)));
    uint8_t other[32] = {1};
    assert_null(login(e, &e->fw, NULL, token(&e->fw, GW, 2, other)));
    assert_non_null(login(e, &e->fw, NULL, token(&e->fw, GW, 3, approved_fw)));
    /* After all that the broker still serves a good login. */
    assert_non_null(login(e, &e->ok, NULL, token(&e->ok, GW, 9, NULL)));
}

static void a_high_s_twin_is_refused(void **state)
{
    (void)state;
    struct env *e = start(1 << 30);
    char *good = token(&e->ok, GW, 1, NULL);
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_base64url_decode(good, strlen(good), tok, sizeof tok);
    assert_true(n > 64);
    /* The signature is the last 64 bytes: r || s. Replace s by n - s. */
    assert_int_equal(corio_p256_scalar_negate(tok + n - 32), CORIO_OK);
    char twin[CORIO_BASE64URL_ENCODED_LEN(CORIO_EAT_MAX_SIZE) + 1];
    assert_true(corio_base64url_encode(tok, (size_t)n, twin, sizeof twin) > 0);
    assert_null(login(e, &e->ok, NULL, twin));
    assert_non_null(login(e, &e->ok, NULL, good));
}

static void a_device_revoked_while_connected_is_disconnected(void **state)
{
    (void)state;
    struct env *e = start(1 << 30);
    write_registry(e, 2, false); /* height 2: not revoked */
    /* The plugin re-reads the registry on its tick. */
    assert_int_equal(h_proc_wait_log(e->broker->proc, "registry height 2 applied", 10000),
                     CORIO_OK);
    struct h_mqtt *c = login(e, &e->revoked, NULL, token(&e->revoked, GW, 1, NULL));
    assert_non_null(c);
    write_registry(e, 3, true);
    assert_int_equal(h_mqtt_wait_disconnected(c, 10000), CORIO_OK);
    h_mqtt_close(c);
    assert_null(login(e, &e->revoked, NULL, token(&e->revoked, GW, 100, NULL)));
    /* A registry with a lower height is ignored. */
    write_registry(e, 1, false);
    assert_int_equal(h_proc_wait_log(e->broker->proc, "is below the applied", 10000), CORIO_OK);
    assert_null(login(e, &e->revoked, NULL, token(&e->revoked, GW, 101, NULL)));
}

static void a_full_outbox_refuses_without_a_puback(void **state)
{
    (void)state;
    /* The smallest cap: room for the presence record and two messages of 1500 bytes. */
    struct env *e = start(4096);
    struct h_mqtt *c = login(e, &e->ok, NULL, token(&e->ok, GW, 1, NULL));
    assert_non_null(c);
    char payload[1500];
    memset(payload, 'x', sizeof payload);
    char *topic = h_strf("corio/v1/d/%s/up/json", e->ok.id);
    int accepted = 0;
    for (;;) {
        int mid, before = h_mqtt_disconnects(c);
        assert_int_equal(h_mqtt_publish_nowait(c, topic, payload, sizeof payload, 1, false, &mid),
                         CORIO_OK);
        /* Either the PUBACK comes, or the broker closes the connection without one. */
        bool settled;
        H_POLL(settled, h_mqtt_wait_published(c, mid, 50) == CORIO_OK ||
                            h_mqtt_disconnects(c) > before, 10000);
        assert_true(settled);
        if (h_mqtt_disconnects(c) > before)
            break;
        accepted++;
    }
    assert_int_equal(accepted, 2);
    h_mqtt_close(c);
    assert_int_equal(rows(e, e->ok.id, "up/json"), accepted);
}

/* Every PUBACKed message is stored when the broker dies without warning: in the table,
 * or in the intake log, from which the next start moves it into the table. The broker
 * is frozen in the middle of a burst (likely between storing messages and its tick's
 * move into the table), then SIGKILLed. */
static void acknowledged_messages_survive_a_sigkill_of_the_broker(void **state)
{
    (void)state;
    struct env *e = start(1 << 30);
    struct h_mqtt *c = login(e, &e->ok, NULL, token(&e->ok, GW, 1, NULL));
    assert_non_null(c);
    char *topic = h_strf("corio/v1/d/%s/up/json", e->ok.id);
    enum { N = 3000, ACKED = 1000 };
    static int mids[N];
    for (int i = 0; i < N; i++) {
        const char *msg = h_strf("[{\"n\":\"temp\",\"v\":%d}]", i);
        assert_int_equal(h_mqtt_publish_nowait(c, topic, msg, (int)strlen(msg), 1, false, &mids[i]),
                         CORIO_OK);
    }
    for (int i = 0; i < ACKED; i++)
        assert_int_equal(h_mqtt_wait_published(c, mids[i], 10000), CORIO_OK);
    assert_int_equal(h_proc_signal(e->broker->proc, SIGSTOP), CORIO_OK);
    int stored = rows(e, e->ok.id, "up/json"), in_table = rows_of(e, e->ok.id, "up/json", false);
    assert_true(stored >= ACKED && stored <= N);
    assert_true(h_proc_kill(e->broker->proc) >= 0);
    print_message("frozen and killed with %d messages stored: %d in the table, %d in the intake "
                  "log\n",
                  stored, in_table, stored - in_table);
    h_mqtt_close(c);

    /* The next start moves the log's records into the table, once. */
    assert_int_equal(h_mosq_restart(e->broker), CORIO_OK);
    assert_int_equal(rows_of(e, e->ok.id, "up/json", false), stored);
    assert_int_equal(rows(e, e->ok.id, "up/json"), stored);
    if (in_table < stored)
        assert_int_equal(h_proc_wait_log(e->broker->proc, "from its intake log", 5000), CORIO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_valid_login_publishes_into_the_outbox),
        H_TEST(every_bad_login_is_refused_and_others_keep_working),
        H_TEST(a_high_s_twin_is_refused),
        H_TEST(a_device_revoked_while_connected_is_disconnected),
        H_TEST(a_full_outbox_refuses_without_a_puback),
        H_TEST(acknowledged_messages_survive_a_sigkill_of_the_broker),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
