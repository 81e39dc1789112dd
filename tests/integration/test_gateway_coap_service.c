/*
 * test_gateway_coap_service.c - the gateway's service login to its own broker (the
 * loopback listener authenticates too, DESIGN.md §3), inside a real Mosquitto with the
 * corio plugin: the service publishes for devices (stored as theirs, its up/presence as
 * their presence record) and reads their up/ and dn/; a wrong key, a replayed counter
 * and every other bad login are refused; a device cannot use the service's rights; the
 * login counter of corio-gateway's client only grows, across restarts and clock steps.
 */
#include <setjmp.h>
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
#include "crypto_openssl.h"
#include "gateway_ident.h"
#include "harness.h"
#include "local_client.h"
#include "outbox.h"

#define ORG "oooooooooooooooooooooooo"

struct env {
    struct h_mosq *broker;
    const char *outbox;
    struct ident gateway, device, other;
};

/* base64url of an EAT by key, issued as did, for aud, with a counter. */
static char *token(struct corio_key *key, const char *did, const char *aud, uint64_t counter)
{
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    assert_int_equal(corio_did_parse(did, strlen(did), &c.issuer), CORIO_OK);
    c.aud = aud;
    c.aud_len = strlen(aud);
    c.has_counter = true;
    c.counter = counter;
    c.assurance = CORIO_EAT_REPORTED;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(key, &c, tok, sizeof tok);
    assert_true(n > 0);
    char *text = h_strf("%*s", (int)CORIO_BASE64URL_ENCODED_LEN((size_t)n), "");
    assert_true(corio_base64url_encode(tok, (size_t)n, text,
                                       CORIO_BASE64URL_ENCODED_LEN((size_t)n) + 1) > 0);
    return text;
}

static struct env *start(void)
{
    static struct env env;
    struct env *e = &env;
    memset(e, 0, sizeof *e);
    make_ident(&e->gateway);
    make_ident(&e->device);
    make_ident(&e->other);
    e->outbox = h_strf("%s/outbox.db", h_dir());
    const char *registry = h_strf("%s/registry", h_dir());
    assert_int_equal(
        h_write_file(registry, h_strf("height 1\norg %s Org\n"
                                      "gateway %s org=%s key=%s\n"
                                      "device %s org=%s key=%s\n"
                                      "device %s org=%s key=%s\n",
                                      ORG, e->gateway.id, ORG, e->gateway.didkey, e->device.id, ORG,
                                      e->device.didkey, e->other.id, ORG, e->other.didkey)),
        0);
    const char *opts[] = {h_strf("outbox %s", e->outbox), h_strf("gateway %s", e->gateway.id),
                          h_strf("registry %s", registry), NULL};
    struct h_mosq_opts mo = {
        .plugin = h_lib("corio_mosquitto.so"), .plugin_opts = opts, .deny_anonymous = true};
    e->broker = h_mosq_start(&mo);
    assert_non_null(e->broker);
    return e;
}

static struct h_mqtt *login(struct env *e, const char *client, const char *user, const char *pw)
{
    struct h_mqtt_opts o = {
        .client_id = client, .username = user, .password = pw, .timeout_ms = 5000};
    return h_mqtt_connect(e->broker->port, &o);
}

static struct h_mqtt *service(struct env *e, const char *role, uint64_t counter)
{
    const char *client = role ? h_strf("%s.%s", e->gateway.id, role) : e->gateway.id;
    return login(e, client, e->gateway.did,
                 token(&e->gateway.key, e->gateway.did, e->gateway.id, counter));
}

static struct h_mqtt *device(struct env *e, struct ident *d, uint64_t counter)
{
    return login(e, d->id, d->did, token(&d->key, d->did, e->gateway.id, counter));
}

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

static int rows(struct env *e, const char *device, const char *suffix)
{
    struct corio_outbox_options o = {.path = e->outbox, .read_only = true, .intake = true};
    corio_outbox *ob;
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &ob, err, sizeof err), CORIO_OK);
    struct count_arg c = {device, suffix, 0};
    assert_true(corio_outbox_read(ob, 0, 100000, SIZE_MAX, count_row, &c) >= 0);
    corio_outbox_close(ob);
    return c.n;
}

static void the_service_publishes_for_devices_and_reads_their_topics(void **state)
{
    (void)state;
    struct env *e = start();
    struct h_mqtt *svc = service(e, NULL, 1);
    assert_non_null(svc);

    /* A CoAP device's message, published by the service: stored as the device's, before
     * the PUBACK. */
    const char *msg = "[{\"n\":\"t\",\"v\":1}]";
    assert_int_equal(h_mqtt_publish(svc, h_strf("corio/v1/d/%s/up/json", e->device.id), msg,
                                    (int)strlen(msg), 1),
                     CORIO_OK);
    assert_int_equal(rows(e, e->device.id, "up/json"), 1);
    /* Its presence record becomes the device's presence. */
    const char *online = "{\"online\":true,\"connections\":1,\"transport\":\"coap\"}";
    assert_int_equal(h_mqtt_publish(svc, h_strf("corio/v1/d/%s/up/presence", e->device.id), online,
                                    (int)strlen(online), 1),
                     CORIO_OK);
    assert_int_equal(rows(e, e->device.id, "presence"), 1);
    assert_int_equal(rows(e, e->device.id, "up/presence"), 0);

    /* It reads every device's up/ and dn/. */
    assert_int_equal(h_mqtt_subscribe(svc, "corio/v1/d/+/up/#", 1), CORIO_OK);
    assert_int_equal(h_mqtt_subscribe(svc, "corio/v1/d/+/dn/#", 1), CORIO_OK);
    struct h_mqtt *dev = device(e, &e->device, 1);
    assert_non_null(dev);
    assert_int_equal(h_mqtt_subscribe(dev, h_strf("corio/v1/d/%s/dn/#", e->device.id), 1),
                     CORIO_OK);
    assert_int_equal(h_mqtt_publish(dev, h_strf("corio/v1/d/%s/up/json", e->device.id), msg,
                                    (int)strlen(msg), 1),
                     CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(svc, "corio/v1/d/+/up/#", 1, 5000), 1);
    /* It publishes a device's downlink, which the device receives. */
    assert_int_equal(
        h_mqtt_publish(svc, h_strf("corio/v1/d/%s/dn/cmd", e->device.id), "\xa0", 1, 1), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(dev, "corio/v1/d/+/dn/cmd", 1, 5000), 1);
    assert_int_equal(h_mqtt_wait_count(svc, "corio/v1/d/+/dn/#", 1, 5000), 1);

    /* A second local program logs in as "<gateway>.<role>"; the first stays. */
    struct h_mqtt *rules = service(e, "rules", 2);
    assert_non_null(rules);
    assert_true(h_mqtt_connected(svc));

    /* Nothing outside the devices' up/ and dn/. */
    assert_int_equal(h_mqtt_subscribe(svc, "#", 1), CORIO_ERR_REFUSED);
    assert_int_equal(h_mqtt_subscribe(svc, "corio/v1/d/+/#", 1), CORIO_ERR_REFUSED);
    assert_int_equal(h_mqtt_subscribe(svc, h_strf("corio/v1/g/%s/#", e->gateway.id), 1),
                     CORIO_ERR_REFUSED);
    h_mqtt_publish(svc, h_strf("corio/v1/g/%s/batch", e->gateway.id), "x", 1, 1);
    assert_int_equal(h_mqtt_wait_disconnected(svc, 5000), CORIO_OK);
}

static void a_wrong_service_login_is_refused(void **state)
{
    (void)state;
    struct env *e = start();
    const char *gw = e->gateway.id, *gwdid = e->gateway.did;
    /* Signed by another key: a device's key cannot log in as the gateway. */
    assert_null(login(e, gw, gwdid, token(&e->device.key, gwdid, gw, 1)));
    assert_null(login(e, gw, gwdid, token(&e->other.key, gwdid, gw, 2)));
    /* Another audience, a device's DID as the username, a malformed role, garbage. */
    assert_null(login(e, gw, gwdid, token(&e->gateway.key, gwdid, "hhhhhhhhhhhhhhhhhhhhhhhh", 3)));
    assert_null(login(e, gw, e->device.did, token(&e->device.key, e->device.did, gw, 4)));
    assert_null(login(e, h_strf("%s.Bad!", gw), gwdid, token(&e->gateway.key, gwdid, gw, 5)));
    assert_null(login(e, gw, gwdid, "AAAA"));
    assert_null(login(e, gw, NULL, NULL));

    assert_non_null(service(e, NULL, 10));
    /* A replayed or lower counter. */
    assert_null(service(e, "other", 10));
    assert_null(service(e, "other", 9));
    assert_non_null(service(e, "other", 11));
}

static void a_device_cannot_use_the_service_rights(void **state)
{
    (void)state;
    struct env *e = start();
    struct h_mqtt *dev = device(e, &e->device, 1);
    assert_non_null(dev);
    /* It reads no other device's topics, not even its own up/. */
    assert_int_equal(h_mqtt_subscribe(dev, "corio/v1/d/+/up/#", 1), CORIO_ERR_REFUSED);
    assert_int_equal(h_mqtt_subscribe(dev, "corio/v1/d/+/dn/#", 1), CORIO_ERR_REFUSED);
    assert_int_equal(h_mqtt_subscribe(dev, h_strf("corio/v1/d/%s/up/#", e->device.id), 1),
                     CORIO_ERR_REFUSED);
    /* Its own up/presence is an ordinary message, never a presence record. */
    const char *fake = "{\"online\":false}";
    assert_int_equal(h_mqtt_publish(dev, h_strf("corio/v1/d/%s/up/presence", e->device.id), fake,
                                    (int)strlen(fake), 1),
                     CORIO_OK);
    assert_int_equal(rows(e, e->device.id, "up/presence"), 1);
    assert_int_equal(rows(e, e->device.id, "presence"), 1); /* its own login's */
    /* It cannot publish another device's messages or any downlink. */
    h_mqtt_publish(dev, h_strf("corio/v1/d/%s/dn/cmd", e->device.id), "x", 1, 1);
    assert_int_equal(h_mqtt_wait_disconnected(dev, 5000), CORIO_OK);
    h_mqtt_close(dev);
    dev = device(e, &e->device, 2);
    assert_non_null(dev);
    h_mqtt_publish(dev, h_strf("corio/v1/d/%s/up/json", e->other.id), "x", 1, 1);
    assert_int_equal(h_mqtt_wait_disconnected(dev, 5000), CORIO_OK);
    h_mqtt_close(dev);
    assert_int_equal(rows(e, e->other.id, "up/json"), 0);
    /* Nor take the gateway's client id, with its own DID or the gateway's. */
    assert_null(login(e, e->gateway.id, e->device.did,
                      token(&e->device.key, e->device.did, e->gateway.id, 3)));
    assert_null(login(e, h_strf("%s.x", e->gateway.id), e->gateway.did,
                      token(&e->device.key, e->gateway.did, e->gateway.id, 4)));
}

static void the_login_counter_only_grows(void **state)
{
    (void)state;
    const char *path = h_strf("%s/counter", h_dir());
    char err[256];
    uint64_t a, b, c, d;
    /* No file: the clock. */
    assert_int_equal(corio_local_counter_next(path, 1000000, &a, err, sizeof err), CORIO_OK);
    assert_int_equal(a, 1000000);
    /* The same millisecond again, or a clock that stepped back: one above the stored. */
    assert_int_equal(corio_local_counter_next(path, 1000000, &b, err, sizeof err), CORIO_OK);
    assert_int_equal(b, 1000001);
    assert_int_equal(corio_local_counter_next(path, 5, &c, err, sizeof err), CORIO_OK);
    assert_int_equal(c, 1000002);
    /* It is on disk in its versioned form (what a restart reads). */
    assert_string_equal(h_read_file(path, NULL), "corio-counter 1 1000002\n");
    /* A damaged or lost file falls back to the clock. */
    assert_int_equal(h_write_file(path, "garbage"), 0);
    assert_int_equal(corio_local_counter_next(path, 2000000, &d, err, sizeof err), CORIO_OK);
    assert_int_equal(d, 2000000);
    /* A file that cannot be written is an error, never a counter. */
    assert_int_equal(
        corio_local_counter_next(h_strf("%s/no/such/dir/counter", h_dir()), 1, &d, err, sizeof err),
        CORIO_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(the_service_publishes_for_devices_and_reads_their_topics),
        H_TEST(a_wrong_service_login_is_refused),
        H_TEST(a_device_cannot_use_the_service_rights),
        H_TEST(the_login_counter_only_grows),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
