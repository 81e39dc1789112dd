/*
 * test_gateway_coap.c - CoAP ingress of the real corio-gateway (running its broker with
 * the corio plugin) against a cloud Mosquitto where the test acts as the cloud. Devices
 * are the SDK's CoAP client over DTLS (include/corio/coap.h, sdk/port/posix): they
 * authenticate with the EAT exchange (GET /auth/nonce, POST /auth), POST SenML small and
 * Block1-large, and observe their downlink. What is checked:
 * - every message arrives in the cloud exactly once, in batches, as the device's;
 * - 2.04 comes only after the message is in the outbox (checked in the 2.04 callback);
 * - with the broker SIGKILLed the device gets 5.03 (or a timeout) and its retry is
 *   stored once the broker is back;
 * - refusals: no authentication, a wrong signature, a replayed nonce, another device's
 *   path, a body above the cap, also probed with libcoap's coap-client;
 * - a message published on the broker's corio/v1/d/{id}/dn/cmd reaches the observer;
 * - presence records when a device authenticates, closes its session, or goes silent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "batch.h"
#include "corio/coap.h"
#include "corio/coap_codec.h"
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/port_posix.h"
#include "crypto_openssl.h"
#include "gateway_ident.h"
#include "harness.h"
#include "local_client.h"
#include "outbox.h"

#define ORG    "oooooooooooooooooooooooo"
#define CLIENT "/usr/bin/coap-client-openssl"

struct env {
    struct h_mosq *cloud;
    struct h_proc *gw;
    struct h_mqtt *tap; /* the test's client on the cloud broker: it is the cloud */
    struct ident gateway, device, other, meter;
    char *ca;
    const char *outbox, *registry;
    int coaps_port, loopback_port, http_port;
};

static const uint8_t approved_fw[32] = {0xaa, 0xbb};

/* The registry: the gateway, two sensors (device, other; device revoked if asked) and a
 * meter whose class lists one approved firmware digest (aabb00…00). */
static void write_registry(struct env *e, int height, bool revoke)
{
    char *text = h_strf("height %d\norg %s Org\n"
                        "gateway %s org=%s key=%s\n"
                        "device %s org=%s key=%s class=sensor revoked=%s\n"
                        "device %s org=%s key=%s class=sensor\n"
                        "device %s org=%s key=%s class=meter\n"
                        "firmware meter aabb%060d 1.0.0\n",
                        height, ORG, e->gateway.id, ORG, e->gateway.didkey, e->device.id, ORG,
                        e->device.didkey, revoke ? "yes" : "no", e->other.id, ORG, e->other.didkey,
                        e->meter.id, ORG, e->meter.didkey, 0);
    const char *tmp = h_strf("%s.tmp", e->registry);
    assert_int_equal(h_write_file(tmp, text), 0);
    assert_int_equal(rename(tmp, e->registry), 0);
}

/* The real corio-gateway with its broker (only the loopback listener for MQTT) and DTLS
 * CoAP; ready once its service client is logged in to the broker. */
static struct env *start(const char *extra)
{
    static struct env env;
    struct env *e = &env;
    memset(e, 0, sizeof *e);
    make_ident(&e->gateway);
    make_ident(&e->device);
    make_ident(&e->other);
    make_ident(&e->meter);
    e->cloud = h_mosq_start(NULL);
    assert_non_null(e->cloud);
    e->tap = h_mqtt_connect(e->cloud->port, NULL);
    assert_non_null(e->tap);
    assert_int_equal(h_mqtt_subscribe(e->tap, h_strf("corio/v1/g/%s/batch", e->gateway.id), 1),
                     CORIO_OK);
    struct h_pki *pki = h_pki_create("device-1");
    assert_non_null(pki);
    e->ca = h_read_file(pki->ca_cert, NULL);
    assert_non_null(e->ca);

    const char *key = h_strf("%s/gateway.pem", h_dir());
    assert_int_equal(corio_openssl_key_write_pem(&e->gateway.key, key), CORIO_OK);
    e->registry = h_strf("%s/registry", h_dir());
    write_registry(e, 1, false);
    const char *registry = e->registry;
    e->outbox = h_strf("%s/outbox.db", h_dir());
    e->coaps_port = h_free_port();
    e->loopback_port = h_free_port();
    e->http_port = h_free_port();
    const char *env_lines = h_broker_env_conf();
    char *conf = h_strf("gateway_id %s\nkey %s\noutbox %s\nregistry %s\n"
                        "cloud_port %d\ncloud_keepalive 5s\nack_timeout 600s\n"
                        "loopback_port %d\nmqtt_port 0\nmqtts_port 0\n"
                        "coap_address 127.0.0.1\ncoaps_port %d\ntls_cert %s\ntls_key %s\n"
                        "http_port %d\nbroker_dir %s/broker\nlog_level debug\n%s%s",
                        e->gateway.id, key, e->outbox, registry, e->cloud->port, e->loopback_port,
                        e->coaps_port, pki->server_cert, pki->server_key, e->http_port, h_dir(),
                        env_lines, extra ? extra : "");
    struct h_daemon_opts o = {
        .config = conf, .ready_log = "connected to the local broker", .timeout_ms = 20000};
    e->gw = h_daemon_start("corio-gateway", &o);
    assert_non_null(e->gw);
    return e;
}

/* ---- the outbox and the cloud ------------------------------------------------------ */

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
    if (corio_outbox_open(&o, &ob, err, sizeof err) != CORIO_OK)
        return -1;
    struct count_arg c = {device, suffix, 0};
    if (corio_outbox_read(ob, 0, 1000000, SIZE_MAX, count_row, &c) < 0)
        c.n = -1;
    corio_outbox_close(ob);
    return c.n;
}

/* How many distinct outbox rows of device and suffix (with payload, when given) the
 * cloud received in signed batches; a batch sent twice counts once. */
static int in_cloud(struct env *e, const char *device, const char *suffix, const void *payload,
                    size_t len)
{
    uint64_t seen[256];
    int n = 0, count = h_mqtt_count(e->tap, NULL);
    for (int i = 0; i < count; i++) {
        const struct h_mqtt_msg *m = h_mqtt_msg(e->tap, i);
        struct corio_batch b;
        char why[128];
        if (corio_batch_open(&corio_crypto_openssl_ops, m->payload, (size_t)m->len, e->gateway.pub,
                             sizeof e->gateway.pub, &b, why, sizeof why) != CORIO_OK)
            fail_msg("batch %d does not open: %s", i, why);
        for (size_t k = 0; k < b.count; k++) {
            const struct corio_batch_msg *msg = &b.msgs[k];
            if (msg->device_len != strlen(device) || memcmp(msg->device, device, msg->device_len) ||
                msg->suffix_len != strlen(suffix) || memcmp(msg->suffix, suffix, msg->suffix_len))
                continue;
            if (payload && (msg->payload_len != len || memcmp(msg->payload, payload, len)))
                continue;
            bool dup = false;
            for (int j = 0; j < n; j++)
                dup |= seen[j] == msg->id;
            if (!dup && n < 256)
                seen[n++] = msg->id;
        }
        corio_batch_free(&b);
    }
    return n;
}

/* ---- a device: the SDK's CoAP client over DTLS ------------------------------------- */

struct dev {
    struct corio_coap c;
    struct corio_posix_dtls dtls;
    uint8_t tx[1152], rx[1152];
    struct env *e;
    const char *id;
    int opens, closes, last_close;
    int finals;
    uint64_t token, next_token;
    int result;
    uint8_t code;
    uint32_t max_age;
    uint8_t body[8192];
    size_t body_len;
    int rows_at_changed; /* up/json rows of the device when the last 2.04 came */
    int notifies;
    uint8_t note[8192];
    size_t note_len;
};

static void on_open(void *user)
{
    ((struct dev *)user)->opens++;
}

static void on_close(void *user, int err)
{
    struct dev *d = user;
    d->closes++;
    d->last_close = err;
}

static void on_response(void *user, uint64_t token, int result, const struct corio_coap_response *r)
{
    struct dev *d = user;
    d->token = token;
    d->result = result;
    if (r) {
        d->code = r->code;
        d->max_age = r->max_age_s;
        if (r->offset == 0)
            d->body_len = 0;
        assert_true(d->body_len + r->payload_len <= sizeof d->body);
        if (r->payload_len)
            memcpy(d->body + d->body_len, r->payload, r->payload_len);
        d->body_len += r->payload_len;
        /* The gateway answers 2.04 only after the broker's PUBACK, which the plugin sends
         * only once the message is stored (the outbox's table or its intake log, which
         * rows() reads too): the row must be there now. */
        if (r->code == CORIO_COAP_CHANGED && !r->more)
            d->rows_at_changed = rows(d->e, d->id, "up/json");
    }
    if (result != CORIO_OK || !r->more)
        d->finals++;
}

static void on_notify(void *user, uint64_t token, const struct corio_coap_response *r)
{
    (void)token;
    struct dev *d = user;
    if (r->offset == 0)
        d->note_len = 0;
    assert_int_equal(r->offset, d->note_len);
    assert_true(d->note_len + r->payload_len <= sizeof d->note);
    if (r->payload_len)
        memcpy(d->note + d->note_len, r->payload, r->payload_len);
    d->note_len += r->payload_len;
    if (!r->more)
        d->notifies++;
}

static const struct corio_coap_callbacks callbacks = {on_open, on_close, on_response, on_notify};

static void dev_free(void *arg)
{
    struct dev *d = arg;
    corio_posix_dtls_free(&d->dtls);
    free(d);
}

static void dev_step(struct dev *d)
{
    uint32_t ms = corio_coap_poll_ms(&d->c);
    corio_posix_dtls_wait(&d->dtls, ms > 50 ? 50 : ms, corio_coap_want_write(&d->c));
    assert_int_equal(corio_coap_process(&d->c), CORIO_OK);
}

#define DEV_UNTIL(d, cond, ms)                                                                     \
    do {                                                                                           \
        int64_t end_ = h_now_ms() + h_ms(ms);                                                      \
        while (!(cond) && h_now_ms() < end_)                                                       \
            dev_step(d);                                                                           \
        assert_true(cond);                                                                         \
    } while (0)

/* A device of identity id, connected (DTLS handshake done) to the gateway. */
static struct dev *dev_new(struct env *e, const char *id)
{
    struct dev *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->e = e;
    d->id = id;
    d->next_token = 1;
    assert_int_equal(
        corio_posix_dtls_init(&d->dtls, "127.0.0.1", (uint16_t)e->coaps_port, e->ca, "localhost"),
        CORIO_OK);
    h_defer(dev_free, d);
    struct corio_datagram dg;
    corio_posix_dtls_datagram(&d->dtls, &dg);
    struct corio_clock clk;
    struct corio_random rnd;
    corio_posix_clock(&clk);
    corio_posix_random(&rnd);
    struct corio_coap_config cfg;
    corio_coap_config_init(&cfg);
    assert_int_equal(corio_coap_init(&d->c, &cfg, &dg, &clk, &rnd, d->tx, sizeof d->tx, d->rx,
                                     sizeof d->rx, &callbacks, d),
                     CORIO_OK);
    assert_int_equal(corio_coap_start(&d->c), CORIO_OK);
    DEV_UNTIL(d, d->opens == 1, 30000);
    return d;
}

/* Sends a request and waits for its final response: the code, or the error result. */
static int request(struct dev *d, uint8_t method, const char *path, int32_t format,
                   const void *payload, size_t len)
{
    struct corio_coap_request q;
    corio_coap_request_init(&q);
    q.method = method;
    q.path = path;
    q.content_format = format;
    q.payload = payload;
    q.payload_len = len;
    uint64_t token = d->next_token++;
    int finals = d->finals;
    assert_int_equal(corio_coap_request(&d->c, &q, token), CORIO_OK);
    DEV_UNTIL(d, d->finals > finals, 120000);
    assert_int_equal(d->token, token);
    return d->result == CORIO_OK ? d->code : d->result;
}

static int post(struct dev *d, const char *path, const void *payload, size_t len)
{
    return request(d, CORIO_COAP_POST, path, CORIO_COAP_FORMAT_SENML_JSON, payload, len);
}

/* An EAT of issuer signed by key for aud, carrying nonce and, when fw is not NULL, that
 * firmware digest. */
static int make_eat_fw(struct corio_key *key, const char *issuer, const char *aud,
                       const uint8_t *nonce, const uint8_t *fw, uint8_t *out, size_t cap)
{
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    assert_int_equal(corio_did_parse(issuer, strlen(issuer), &c.issuer), CORIO_OK);
    c.aud = aud;
    c.aud_len = strlen(aud);
    c.nonce = nonce;
    c.nonce_len = 32;
    c.assurance = CORIO_EAT_REPORTED;
    if (fw) {
        c.has_firmware = true;
        memcpy(c.fw_digest, fw, 32);
        c.fw_version = "1.0.0";
        c.fw_version_len = 5;
    }
    int n = corio_eat_make(key, &c, out, cap);
    assert_true(n > 0);
    return n;
}

static int make_eat(struct corio_key *key, const char *issuer, const char *aud,
                    const uint8_t *nonce, uint8_t *out, size_t cap)
{
    return make_eat_fw(key, issuer, aud, nonce, NULL, out, cap);
}

/* GET /auth/nonce: the nonce into nonce. */
static void get_nonce(struct dev *d, uint8_t nonce[32])
{
    assert_int_equal(request(d, CORIO_COAP_GET, "auth/nonce", CORIO_COAP_NO_FORMAT, NULL, 0),
                     CORIO_COAP_CONTENT);
    assert_int_equal(d->body_len, 32);
    memcpy(nonce, d->body, 32);
}

/* The EAT exchange as who, signed by signer: the code of POST /auth. The token sent is
 * left in tok (for replays). */
static int authenticate_as(struct dev *d, struct ident *who, struct corio_key *signer, uint8_t *tok,
                           int *tok_len)
{
    uint8_t nonce[32];
    get_nonce(d, nonce);
    uint8_t mine[CORIO_EAT_MAX_SIZE];
    uint8_t *t = tok ? tok : mine;
    int n = make_eat(signer, who->did, d->e->gateway.id, nonce, t, CORIO_EAT_MAX_SIZE);
    if (tok_len)
        *tok_len = n;
    return request(d, CORIO_COAP_POST, "auth", CORIO_COAP_NO_FORMAT, t, (size_t)n);
}

static void authenticate(struct dev *d, struct ident *who)
{
    assert_int_equal(authenticate_as(d, who, &who->key, NULL, NULL), CORIO_COAP_CHANGED);
}

static const char *up(struct ident *who, const char *suffix)
{
    return h_strf("d/%s/up/%s", who->id, suffix);
}

/* A SenML JSON pack of about len bytes, with the device's epoch and sequence number. */
static char *senml(int seq, size_t len)
{
    char *s = h_strf("[{\"bn\":\"urn:dev:\",\"ep\":7,\"seq\":%d,\"n\":\"t\",\"v\":%d}", seq, seq);
    while (strlen(s) + 40 < len)
        s = h_strf("%s,{\"n\":\"x%zu\",\"v\":%zu}", s, strlen(s), strlen(s) % 97);
    return h_strf("%s]", s);
}

/* ---- tests ------------------------------------------------------------------------- */

static void senml_reaches_the_cloud_once_after_the_outbox_commit(void **state)
{
    (void)state;
    struct env *e = start(NULL);
    struct dev *d = dev_new(e, e->device.id);
    authenticate(d, &e->device);
    /* Presence: online from the authentication, through the service. */
    int online;
    H_POLL(online, rows(e, e->device.id, "presence") == 1, 10000);
    assert_true(online);

    char *small = senml(1, 60);
    assert_int_equal(post(d, up(&e->device, "json"), small, strlen(small)), CORIO_COAP_CHANGED);
    assert_int_equal(d->rows_at_changed, 1);
    /* Block1: 6000 bytes in 1024-byte blocks. */
    char *large = senml(2, 6000);
    assert_true(strlen(large) > 5000);
    assert_int_equal(post(d, up(&e->device, "json"), large, strlen(large)), CORIO_COAP_CHANGED);
    assert_int_equal(d->rows_at_changed, 2);
    char *third = senml(3, 200);
    assert_int_equal(post(d, up(&e->device, "json"), third, strlen(third)), CORIO_COAP_CHANGED);
    assert_int_equal(d->rows_at_changed, 3);

    /* In the cloud: each once, whole, as the device's message, with its presence. */
    int got;
    H_POLL(got, in_cloud(e, e->device.id, "up/json", NULL, 0) >= 3, 15000);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", small, strlen(small)), 1);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", large, strlen(large)), 1);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", third, strlen(third)), 1);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", NULL, 0), 3);
    const char *on = "{\"online\":true,\"connections\":1,\"transport\":\"coap\"}";
    assert_int_equal(in_cloud(e, e->device.id, "presence", on, strlen(on)), 1);
    /* Other suffixes map to their topics. */
    const char *hb = "{\"up\":5}";
    assert_int_equal(post(d, up(&e->device, "hb"), hb, strlen(hb)), CORIO_COAP_CHANGED);
    assert_int_equal(rows(e, e->device.id, "up/hb"), 1);
    assert_int_equal(d->closes, 0);
}

static void a_killed_broker_gives_503_and_the_retry_is_stored(void **state)
{
    (void)state;
    struct env *e = start(NULL);
    struct dev *d = dev_new(e, e->device.id);
    authenticate(d, &e->device);
    char *before = senml(1, 80);
    assert_int_equal(post(d, up(&e->device, "json"), before, strlen(before)), CORIO_COAP_CHANGED);

    const char *log = h_read_file(h_proc_log(e->gw), NULL);
    const char *at = strstr(log, "msg=\"broker started\" pid=");
    assert_non_null(at);
    pid_t pid = (pid_t)atoi(strstr(at, "pid=") + 4);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(h_proc_wait_log(e->gw, "broker died; restarting", 10000), CORIO_OK);

    /* The device keeps the message until a 2.04: the first answer cannot be one. */
    char *after = senml(2, 80);
    int code = post(d, up(&e->device, "json"), after, strlen(after));
    assert_true(code == CORIO_COAP_SERVICE_UNAVAILABLE || code == CORIO_ERR_TIMEOUT);
    if (code == CORIO_COAP_SERVICE_UNAVAILABLE)
        assert_int_equal(d->max_age, 5); /* coap_retry_after */
    int tries = 1;
    int64_t end = h_now_ms() + h_ms(30000);
    while (code != CORIO_COAP_CHANGED && h_now_ms() < end) {
        /* A device would wait Max-Age; the test polls faster. */
        int64_t pause = h_now_ms() + 200;
        while (h_now_ms() < pause)
            dev_step(d);
        code = post(d, up(&e->device, "json"), after, strlen(after));
        tries++;
    }
    assert_int_equal(code, CORIO_COAP_CHANGED);
    assert_true(tries > 1);
    int got;
    H_POLL(got, in_cloud(e, e->device.id, "up/json", after, strlen(after)) >= 1, 15000);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", after, strlen(after)), 1);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", before, strlen(before)), 1);
}

static void every_refusal(void **state)
{
    (void)state;
    struct env *e = start("coap_max_body 4k\n");
    char *msg = senml(1, 60);
    struct dev *d = dev_new(e, e->device.id);

    /* Not authenticated: 4.01, on a path that has no resource yet and on one that has. */
    assert_int_equal(post(d, up(&e->device, "json"), msg, strlen(msg)), CORIO_COAP_UNAUTHORIZED);
    struct dev *o = dev_new(e, e->other.id);
    authenticate(o, &e->other);
    assert_int_equal(post(d, up(&e->other, "json"), msg, strlen(msg)), CORIO_COAP_UNAUTHORIZED);
    /* An EAT without a nonce issued on this session. */
    uint8_t zero[32] = {0}, tok[CORIO_EAT_MAX_SIZE];
    int n = make_eat(&e->device.key, e->device.did, e->gateway.id, zero, tok, sizeof tok);
    assert_int_equal(request(d, CORIO_COAP_POST, "auth", CORIO_COAP_NO_FORMAT, tok, (size_t)n),
                     CORIO_COAP_UNAUTHORIZED);
    /* A wrong signature: the device's DID, another key. */
    assert_int_equal(authenticate_as(d, &e->device, &e->other.key, NULL, NULL),
                     CORIO_COAP_UNAUTHORIZED);
    /* Another gateway's audience. */
    uint8_t nonce[32];
    get_nonce(d, nonce);
    n = make_eat(&e->device.key, e->device.did, "hhhhhhhhhhhhhhhhhhhhhhhh", nonce, tok, sizeof tok);
    assert_int_equal(request(d, CORIO_COAP_POST, "auth", CORIO_COAP_NO_FORMAT, tok, (size_t)n),
                     CORIO_COAP_UNAUTHORIZED);
    assert_int_equal(post(d, up(&e->device, "json"), msg, strlen(msg)), CORIO_COAP_UNAUTHORIZED);

    /* A good exchange, then its token again: on the same session after a new nonce, and
     * on another session (a captured token), it is refused. */
    uint8_t good[CORIO_EAT_MAX_SIZE];
    int good_len;
    assert_int_equal(authenticate_as(d, &e->device, &e->device.key, good, &good_len),
                     CORIO_COAP_CHANGED);
    get_nonce(d, nonce);
    assert_int_equal(
        request(d, CORIO_COAP_POST, "auth", CORIO_COAP_NO_FORMAT, good, (size_t)good_len),
        CORIO_COAP_UNAUTHORIZED);
    struct dev *thief = dev_new(e, e->device.id);
    assert_int_equal(
        request(thief, CORIO_COAP_POST, "auth", CORIO_COAP_NO_FORMAT, good, (size_t)good_len),
        CORIO_COAP_UNAUTHORIZED);
    get_nonce(thief, nonce);
    assert_int_equal(
        request(thief, CORIO_COAP_POST, "auth", CORIO_COAP_NO_FORMAT, good, (size_t)good_len),
        CORIO_COAP_UNAUTHORIZED);
    assert_int_equal(post(thief, up(&e->device, "json"), msg, strlen(msg)),
                     CORIO_COAP_UNAUTHORIZED);

    /* Authenticated: its own paths only. */
    assert_int_equal(post(d, up(&e->device, "json"), msg, strlen(msg)), CORIO_COAP_CHANGED);
    assert_int_equal(post(d, up(&e->other, "json"), msg, strlen(msg)), CORIO_COAP_FORBIDDEN);
    assert_int_equal(post(d, h_strf("d/%s/up/json", "aaaaaaaaaaaaaaaaaaaaaaaa"), msg, strlen(msg)),
                     CORIO_COAP_FORBIDDEN);
    assert_int_equal(post(d, up(&e->device, "nosuch"), msg, strlen(msg)), CORIO_COAP_NOT_FOUND);
    assert_int_equal(request(d, CORIO_COAP_GET, h_strf("d/%s/dn/cmd", e->other.id),
                             CORIO_COAP_NO_FORMAT, NULL, 0),
                     CORIO_COAP_FORBIDDEN);
    assert_int_equal(post(d, up(&e->device, "json"), "", 0), CORIO_COAP_BAD_REQUEST);
    /* Above coap_max_body: refused from the first block by its Size1. */
    char *big = senml(2, 6000);
    assert_int_equal(post(d, up(&e->device, "json"), big, strlen(big)),
                     CORIO_COAP_REQUEST_ENTITY_TOO_LARGE);
    /* The refused ones never reached the outbox; the accepted one did. */
    assert_int_equal(rows(e, e->device.id, "up/json"), 1);
    assert_int_equal(rows(e, e->other.id, "up/json"), 0);

    /* libcoap's own client, as an independent party: no EAT, so 4.01. */
    const char *argv[] = {
        CLIENT, "-m",
        "post", "-e",
        "[]",   "-B",
        "10",   h_strf("coaps://127.0.0.1:%d/%s", e->coaps_port, up(&e->device, "json")),
        NULL};
    char *out = NULL;
    h_run("coap-client", argv, NULL, 30000, &out);
    assert_non_null(out);
    assert_non_null(strstr(out, "4.01"));
    assert_int_equal(rows(e, e->device.id, "up/json"), 1);
}

/* A local program (the test) logged in to the gateway's broker as the gateway's service
 * ("<gateway>.test"), which may publish any device's downlink. */
static struct h_mqtt *service_login(struct env *e)
{
    const char *counter = h_strf("%s/test-counter", h_dir());
    uint64_t ctr;
    char err[256];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    assert_int_equal(corio_local_counter_next(counter,
                                              (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, &ctr,
                                              err, sizeof err),
                     CORIO_OK);
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    corio_did_parse(e->gateway.did, strlen(e->gateway.did), &c.issuer);
    c.aud = e->gateway.id;
    c.aud_len = strlen(c.aud);
    c.has_counter = true;
    c.counter = ctr;
    c.assurance = CORIO_EAT_REPORTED;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&e->gateway.key, &c, tok, sizeof tok);
    assert_true(n > 0);
    char *pw = h_strf("%*s", (int)CORIO_BASE64URL_ENCODED_LEN((size_t)n), "");
    corio_base64url_encode(tok, (size_t)n, pw, strlen(pw) + 1);
    struct h_mqtt_opts mo = {
        .client_id = h_strf("%s.test", e->gateway.id), .username = e->gateway.did, .password = pw};
    struct h_mqtt *svc = h_mqtt_connect(e->loopback_port, &mo);
    assert_non_null(svc);
    return svc;
}

static void observe_relays_the_brokers_downlink(void **state)
{
    (void)state;
    struct env *e = start(NULL);
    struct dev *d = dev_new(e, e->device.id);
    authenticate(d, &e->device);
    struct corio_coap_request q;
    corio_coap_request_init(&q);
    q.path = h_strf("d/%s/dn/cmd", e->device.id);
    assert_int_equal(corio_coap_observe(&d->c, &q, 1000), CORIO_OK);
    DEV_UNTIL(d, d->notifies == 1, 20000); /* the state now: nothing yet */
    assert_int_equal(d->note_len, 0);

    struct h_mqtt *svc = service_login(e);

    const uint8_t cmd[] = {0xa2, 0x01, 0x07, 0x02, 0x63, 'r', 'u', 'n'}; /* {1: 7, 2: "run"} */
    assert_int_equal(
        h_mqtt_publish(svc, h_strf("corio/v1/d/%s/dn/cmd", e->device.id), cmd, sizeof cmd, 1),
        CORIO_OK);
    DEV_UNTIL(d, d->notifies == 2, 20000);
    assert_int_equal(d->note_len, sizeof cmd);
    assert_memory_equal(d->note, cmd, sizeof cmd);

    /* A notification larger than a block comes whole (Block2). */
    static uint8_t large[3000];
    for (size_t i = 0; i < sizeof large; i++)
        large[i] = (uint8_t)(i * 7);
    assert_int_equal(
        h_mqtt_publish(svc, h_strf("corio/v1/d/%s/dn/cmd", e->device.id), large, sizeof large, 1),
        CORIO_OK);
    DEV_UNTIL(d, d->notifies == 3, 20000);
    assert_int_equal(d->note_len, sizeof large);
    assert_memory_equal(d->note, large, sizeof large);
    /* Another device's downlink is not ours. */
    assert_int_equal(
        h_mqtt_publish(svc, h_strf("corio/v1/d/%s/dn/cmd", e->other.id), cmd, sizeof cmd, 1),
        CORIO_OK);
    int64_t window = h_now_ms() + 300;
    while (h_now_ms() < window)
        dev_step(d);
    assert_int_equal(d->notifies, 3);
    assert_int_equal(d->closes, 0);
}

static void presence_follows_the_session(void **state)
{
    (void)state;
    struct env *e = start("coap_observe_max_age 1s\ncoap_session_timeout 2s\n");
    struct dev *d = dev_new(e, e->device.id);
    authenticate(d, &e->device);
    bool ok;
    H_POLL(ok, rows(e, e->device.id, "presence") == 1, 10000);
    assert_true(ok);
    /* The device closes its session (close_notify): offline. */
    assert_int_equal(corio_coap_stop(&d->c), CORIO_OK);
    DEV_UNTIL(d, corio_coap_state(&d->c) == CORIO_COAP_STOPPED, 10000);
    H_POLL(ok, rows(e, e->device.id, "presence") == 2, 10000);
    assert_true(ok);
    /* A device that goes silent is offline after coap_session_timeout. */
    struct dev *s = dev_new(e, e->device.id);
    authenticate(s, &e->device);
    H_POLL(ok, rows(e, e->device.id, "presence") == 3, 10000);
    assert_true(ok);
    H_POLL(ok, rows(e, e->device.id, "presence") == 4, 15000);
    assert_true(ok);
    /* Its session needs a new authentication. */
    char *msg = senml(1, 60);
    assert_int_equal(post(s, up(&e->device, "json"), msg, strlen(msg)), CORIO_COAP_UNAUTHORIZED);
    const char *off = "{\"online\":false,\"connections\":0,\"transport\":\"coap\"}";
    int got;
    H_POLL(got, in_cloud(e, e->device.id, "presence", off, strlen(off)) >= 2, 15000);
    assert_int_equal(in_cloud(e, e->device.id, "presence", off, strlen(off)), 2);
}

/* A gateway metric from /metrics (-1 when absent). */
static double metric(struct env *e, const char *name)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/metrics", e->http_port), &r) != CORIO_OK ||
        r.status != 200)
        return -1;
    const char *at = strstr(r.body, h_strf("\n%s ", name));
    return at ? atof(at + strlen(name) + 2) : -1;
}

/* With no time to wait for the PUBACK, every POST gets an Empty ACK and its 2.04 as a
 * separate response; still only after the commit, and stored once. */
static void separate_responses_after_an_empty_ack(void **state)
{
    (void)state;
    struct env *e = start("coap_piggyback_wait 0\n");
    struct dev *d = dev_new(e, e->device.id);
    authenticate(d, &e->device);
    char *small = senml(1, 60), *large = senml(2, 4000);
    assert_int_equal(post(d, up(&e->device, "json"), small, strlen(small)), CORIO_COAP_CHANGED);
    assert_int_equal(d->rows_at_changed, 1);
    assert_int_equal(post(d, up(&e->device, "json"), large, strlen(large)), CORIO_COAP_CHANGED);
    assert_int_equal(d->rows_at_changed, 2);
    bool ok;
    H_POLL(ok, metric(e, "corio_gateway_coap_separate_total") == 2, 5000);
    assert_true(ok);
    assert_int_equal(metric(e, "corio_gateway_coap_stored_total"), 2);
    int got;
    H_POLL(got, in_cloud(e, e->device.id, "up/json", NULL, 0) >= 2, 15000);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", small, strlen(small)), 1);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", large, strlen(large)), 1);
}

/* ---- raw CoAP over plain UDP (coap_port), to repeat a message id at will ---------- */

static int raw_open(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

struct raw_reply {
    uint8_t buf[1500];
    struct corio_coap_msg m;
    uint32_t block1; /* 0xffffffff: none */
};

/* Sends a CON request and returns the response that carries its message id (the ACK). */
static void raw_request(int fd, uint16_t mid, uint8_t code, const char *path, const void *payload,
                        size_t len, int32_t block1, uint32_t size1, struct raw_reply *r)
{
    uint8_t buf[1500], token[4] = {(uint8_t)(mid >> 8), (uint8_t)mid, 0xc0, 0xa9};
    struct corio_coap_writer w;
    corio_coap_write_begin(&w, buf, sizeof buf, CORIO_COAP_CON, code, mid, token, sizeof token);
    corio_coap_write_path(&w, CORIO_COAP_OPT_URI_PATH, path, strlen(path));
    if (block1 >= 0)
        corio_coap_write_uint(&w, CORIO_COAP_OPT_BLOCK1, (uint32_t)block1);
    if (size1)
        corio_coap_write_uint(&w, CORIO_COAP_OPT_SIZE1, size1);
    corio_coap_write_payload(&w, payload, len);
    int n = corio_coap_write_end(&w);
    assert_true(n > 0);
    assert_int_equal(send(fd, buf, (size_t)n, 0), n);
    int64_t end = h_now_ms() + h_ms(5000);
    while (h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t got = recv(fd, r->buf, sizeof r->buf, 0);
        if (got <= 0 || corio_coap_decode(r->buf, (size_t)got, &r->m) != CORIO_OK ||
            r->m.mid != mid || r->m.type != CORIO_COAP_ACK)
            continue;
        r->block1 = 0xffffffff;
        struct corio_coap_option o;
        if (corio_coap_opt_find(&r->m, CORIO_COAP_OPT_BLOCK1, &o) == CORIO_OK) {
            r->block1 = 0;
            for (uint16_t i = 0; i < o.len; i++)
                r->block1 = r->block1 << 8 | o.value[i];
        }
        return;
    }
    fail_msg("no answer to message id %u", mid);
}

static void a_retransmission_is_answered_alike_and_stored_once(void **state)
{
    (void)state;
    int coap_port = h_free_port();
    struct env *e = start(h_strf("coap_port %d\n", coap_port));
    int fd = raw_open(coap_port);
    struct raw_reply r;
    /* A retransmitted nonce request gets the same nonce, a new request a new one. */
    uint8_t nonce[32];
    raw_request(fd, 1, CORIO_COAP_GET, "auth/nonce", NULL, 0, -1, 0, &r);
    assert_int_equal(r.m.code, CORIO_COAP_CONTENT);
    assert_int_equal(r.m.payload_len, 32);
    memcpy(nonce, r.m.payload, 32);
    raw_request(fd, 1, CORIO_COAP_GET, "auth/nonce", NULL, 0, -1, 0, &r);
    assert_memory_equal(r.m.payload, nonce, 32);
    raw_request(fd, 4, CORIO_COAP_GET, "auth/nonce", NULL, 0, -1, 0, &r);
    assert_int_equal(r.m.payload_len, 32);
    assert_memory_not_equal(r.m.payload, nonce, 32);
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = make_eat(&e->device.key, e->device.did, e->gateway.id, r.m.payload, tok, sizeof tok);
    raw_request(fd, 2, CORIO_COAP_POST, "auth", tok, (size_t)n, -1, 0, &r);
    assert_int_equal(r.m.code, CORIO_COAP_CHANGED);
    /* The same CON twice (its ACK was "lost"): the same 2.04, one row. */
    const char *path = up(&e->device, "json");
    char *msg = senml(1, 60);
    for (int i = 0; i < 2; i++) {
        raw_request(fd, 3, CORIO_COAP_POST, path, msg, strlen(msg), -1, 0, &r);
        assert_int_equal(r.m.code, CORIO_COAP_CHANGED);
    }
    assert_int_equal(rows(e, e->device.id, "up/json"), 1);
    /* Block1 in 64-byte blocks, block 0 sent twice: 2.31 both times, one whole body. */
    char pad[121];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    char *body = h_strf("[{\"ep\":7,\"seq\":2,\"n\":\"t\",\"vs\":\"%s\"}]", pad);
    size_t len = strlen(body);
    assert_true(len > 128 && len <= 192);
    for (int i = 0; i < 2; i++) {
        raw_request(fd, 10, CORIO_COAP_POST, path, body, 64, 0 << 4 | 1 << 3 | 2, (uint32_t)len,
                    &r);
        assert_int_equal(r.m.code, CORIO_COAP_CONTINUE);
        assert_int_equal(r.block1, 0 << 4 | 1 << 3 | 2);
    }
    raw_request(fd, 11, CORIO_COAP_POST, path, body + 64, 64, 1 << 4 | 1 << 3 | 2, 0, &r);
    assert_int_equal(r.m.code, CORIO_COAP_CONTINUE);
    /* Out of order: block 3 before block 2 ends the transfer. */
    raw_request(fd, 12, CORIO_COAP_POST, path, body + 128, len - 128, 3 << 4 | 2, 0, &r);
    assert_int_equal(r.m.code, CORIO_COAP_REQUEST_ENTITY_INCOMPLETE);
    for (int i = 0; i < 2; i++) {
        raw_request(fd, 20, CORIO_COAP_POST, path, body, 64, 0 << 4 | 1 << 3 | 2, (uint32_t)len,
                    &r);
        raw_request(fd, 21, CORIO_COAP_POST, path, body + 64, 64, 1 << 4 | 1 << 3 | 2, 0, &r);
        assert_int_equal(r.m.code, CORIO_COAP_CONTINUE);
    }
    for (int i = 0; i < 2; i++) {
        raw_request(fd, 22, CORIO_COAP_POST, path, body + 128, len - 128, 2 << 4 | 2, 0, &r);
        assert_int_equal(r.m.code, CORIO_COAP_CHANGED);
        assert_int_equal(r.block1, 2 << 4 | 2);
    }
    assert_int_equal(rows(e, e->device.id, "up/json"), 2);
    int got;
    H_POLL(got, in_cloud(e, e->device.id, "up/json", body, len) >= 1, 15000);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", body, len), 1);
    assert_int_equal(in_cloud(e, e->device.id, "up/json", NULL, 0), 2);
    /* A block of the wrong size, and an SZX of 7, are bad requests. */
    raw_request(fd, 30, CORIO_COAP_POST, path, body, 60, 0 << 4 | 1 << 3 | 2, 0, &r);
    assert_int_equal(r.m.code, CORIO_COAP_BAD_REQUEST);
    raw_request(fd, 31, CORIO_COAP_POST, path, body, 64, 0 << 4 | 1 << 3 | 7, 0, &r);
    assert_int_equal(r.m.code, CORIO_COAP_BAD_REQUEST);
    close(fd);
}

/* A class with approved firmware: its devices must prove they run one of the images. */
static void the_firmware_policy_holds(void **state)
{
    (void)state;
    struct env *e = start(NULL);
    struct dev *d = dev_new(e, e->meter.id);
    uint8_t nonce[32], tok[CORIO_EAT_MAX_SIZE], other[32] = {1};
    const uint8_t *fws[] = {NULL, other, approved_fw};
    const int want[] = {CORIO_COAP_UNAUTHORIZED, CORIO_COAP_UNAUTHORIZED, CORIO_COAP_CHANGED};
    for (int i = 0; i < 3; i++) {
        get_nonce(d, nonce);
        int n =
            make_eat_fw(&e->meter.key, e->meter.did, e->gateway.id, nonce, fws[i], tok, sizeof tok);
        assert_int_equal(request(d, CORIO_COAP_POST, "auth", CORIO_COAP_NO_FORMAT, tok, (size_t)n),
                         want[i]);
    }
    char *msg = senml(1, 60);
    assert_int_equal(post(d, up(&e->meter, "json"), msg, strlen(msg)), CORIO_COAP_CHANGED);
}

/* A registry at a higher height that revokes a device unbinds its sessions at once:
 * offline, no more POSTs, no new authentication; a lower height is ignored. */
static void a_revoked_device_is_cut_off(void **state)
{
    (void)state;
    struct env *e = start(NULL);
    struct dev *d = dev_new(e, e->device.id);
    authenticate(d, &e->device);
    char *msg = senml(1, 60);
    assert_int_equal(post(d, up(&e->device, "json"), msg, strlen(msg)), CORIO_COAP_CHANGED);
    struct corio_coap_request q;
    corio_coap_request_init(&q);
    q.path = h_strf("d/%s/dn/cmd", e->device.id);
    assert_int_equal(corio_coap_observe(&d->c, &q, 1000), CORIO_OK);
    DEV_UNTIL(d, d->notifies == 1, 20000);
    write_registry(e, 2, true);
    bool ok;
    H_POLL(ok, rows(e, e->device.id, "presence") == 2, 10000);
    assert_true(ok);
    /* The next downlink message ends its observation with 4.01 instead of reaching it. */
    struct h_mqtt *svc = service_login(e);
    int finals = d->finals;
    assert_int_equal(
        h_mqtt_publish(svc, h_strf("corio/v1/d/%s/dn/cmd", e->device.id), "\xa0", 1, 1), CORIO_OK);
    DEV_UNTIL(d, d->finals == finals + 1, 20000);
    assert_int_equal(d->token, 1000);
    assert_int_equal(d->code, CORIO_COAP_UNAUTHORIZED);
    assert_int_equal(d->notifies, 1);
    assert_int_equal(post(d, up(&e->device, "json"), msg, strlen(msg)), CORIO_COAP_UNAUTHORIZED);
    assert_int_equal(authenticate_as(d, &e->device, &e->device.key, NULL, NULL),
                     CORIO_COAP_UNAUTHORIZED);
    assert_true(h_proc_log_contains(e->gw, "why=revoked"));
    /* Height 1 again (not revoked) does not roll the registry back. */
    write_registry(e, 1, false);
    int64_t window = h_now_ms() + 1500; /* the registry is re-read every second */
    while (h_now_ms() < window)
        dev_step(d);
    assert_int_equal(authenticate_as(d, &e->device, &e->device.key, NULL, NULL),
                     CORIO_COAP_UNAUTHORIZED);
    assert_int_equal(rows(e, e->device.id, "up/json"), 1);
}

/* A full outbox: the plugin refuses the service's PUBLISH (it closes the connection
 * without a PUBACK), and the device gets 5.03 with Max-Age, never a 2.04 for a message
 * that was not stored. */
static void a_full_outbox_gives_503(void **state)
{
    (void)state;
    struct env *e = start("outbox_max_bytes 4096\n");
    struct dev *d = dev_new(e, e->device.id);
    authenticate(d, &e->device);
    char *msg = senml(1, 1500);
    int stored = 0, code = CORIO_COAP_CHANGED;
    for (int i = 0; i < 10 && code == CORIO_COAP_CHANGED; i++) {
        code = post(d, up(&e->device, "json"), msg, strlen(msg));
        if (code == CORIO_COAP_CHANGED)
            stored++;
    }
    assert_int_equal(code, CORIO_COAP_SERVICE_UNAVAILABLE);
    assert_int_equal(d->max_age, 5);
    assert_true(stored >= 1);
    assert_int_equal(rows(e, e->device.id, "up/json"), stored);
    assert_true(h_proc_log_contains(e->gw, "outbox full"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(senml_reaches_the_cloud_once_after_the_outbox_commit),
        H_TEST(a_killed_broker_gives_503_and_the_retry_is_stored),
        H_TEST(every_refusal),
        H_TEST(observe_relays_the_brokers_downlink),
        H_TEST(presence_follows_the_session),
        H_TEST(separate_responses_after_an_empty_ack),
        H_TEST(a_retransmission_is_answered_alike_and_stored_once),
        H_TEST(the_firmware_policy_holds),
        H_TEST(a_revoked_device_is_cut_off),
        H_TEST(a_full_outbox_gives_503),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
