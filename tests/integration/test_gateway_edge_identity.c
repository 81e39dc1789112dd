/*
 * test_gateway_edge_identity.c - identity at the edge, attacked: the corio plugin in a
 * real Mosquitto 2.0 against MQTT 5 enhanced authentication (corio-eat-v1) driven by the
 * SDK's own client (libmosquitto cannot answer an AUTH challenge), and single-step
 * logins by libmosquitto. Each attack is refused with its reason in the broker's log
 * and the matching reason code (0x87, or 0x8C for an unknown method) while the broker
 * keeps serving everyone else: a wrong signature, a high-S twin, a replayed answer, a
 * token for another gateway, a counter that does not increase, single-step from an
 * AUTH-capable device, a client id that is not the short id, an old key after a
 * rotation, key 0 with a stale registry, a revoked DID (also while connected), an
 * unapproved firmware, an unclaimed device outside quarantine, another device's topic,
 * '#', malformed and oversized AUTH data. Rotation chains endorsed by the organisation
 * are accepted ahead of the registry, and a key number never goes backwards, also
 * across a broker restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/eat_auth.h"
#include "corio/encoding.h"
#include "corio/mqtt.h"
#include "corio/p256.h"
#include "corio/port_posix.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "outbox.h"

#define GW       "gggggggggggggggggggggggg"
#define OTHER_GW "hhhhhhhhhhhhhhhhhhhhhhhh"
#define MAX_KEYS 4

/* ---- identities ---------------------------------------------------------------------------- */

struct org {
    struct corio_key key;
    struct corio_did did; /* with key 0 */
    char id[CORIO_DID_ID_CHARS + 1];
    char didkey[CORIO_DIDKEY_BUF];
};

struct dev {
    struct corio_key key[MAX_KEYS];
    int nkeys;
    char id[CORIO_DID_ID_CHARS + 1];
    char did[CORIO_DID_BUF];
    char didkey[MAX_KEYS][CORIO_DIDKEY_BUF];
    uint8_t chain[MAX_KEYS][2048]; /* chain[k] leads from key 0 to key k */
    size_t chain_len[MAX_KEYS];
};

static void key_new(struct corio_key *k, uint8_t pub[CORIO_P256_PUB_LEN])
{
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, k), CORIO_OK);
    assert_int_equal(corio_key_public(k, pub), CORIO_OK);
    h_defer((void (*)(void *))corio_key_close, k);
}

static struct org *org_new(void)
{
    struct org *o = calloc(1, sizeof *o);
    assert_non_null(o);
    h_defer(free, o);
    uint8_t pub[CORIO_P256_PUB_LEN];
    key_new(&o->key, pub);
    assert_int_equal(corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &o->did),
                     CORIO_OK);
    o->did.has_key = true;
    o->did.key = 0;
    assert_true(corio_did_id_format(o->did.id, o->id, sizeof o->id) > 0);
    assert_true(corio_didkey_format(pub, sizeof pub, o->didkey, sizeof o->didkey) > 0);
    return o;
}

static struct dev *dev_new(void)
{
    struct dev *d = calloc(1, sizeof *d);
    assert_non_null(d);
    h_defer(free, d);
    uint8_t pub[CORIO_P256_PUB_LEN];
    key_new(&d->key[0], pub);
    d->nkeys = 1;
    struct corio_did did;
    assert_int_equal(corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did),
                     CORIO_OK);
    assert_true(corio_did_id_format(did.id, d->id, sizeof d->id) > 0);
    assert_true(corio_did_format(&did, d->did, sizeof d->did) > 0);
    assert_true(corio_didkey_format(pub, sizeof pub, d->didkey[0], sizeof d->didkey[0]) > 0);
    int n = corio_rotation_chain_start(pub, sizeof pub, d->chain[0], sizeof d->chain[0]);
    assert_true(n > 0);
    d->chain_len[0] = (size_t)n;
    return d;
}

/* Rotates d to a new key, signed by its current key and endorsed by endorser (its
 * organisation's key, or another organisation's to make a bad link). */
static void rotate(struct dev *d, const struct org *owner, const struct org *endorser)
{
    int k = d->nkeys;
    assert_true(k < MAX_KEYS);
    uint8_t pub[CORIO_P256_PUB_LEN];
    key_new(&d->key[k], pub);
    assert_true(corio_didkey_format(pub, sizeof pub, d->didkey[k], sizeof d->didkey[k]) > 0);
    struct corio_rotation_statement st = {.key_number = (uint32_t)k};
    struct corio_did did;
    assert_int_equal(corio_did_parse(d->did, strlen(d->did), &did), CORIO_OK);
    memcpy(st.subject, did.id, sizeof st.subject);
    memcpy(st.org, owner->did.id, sizeof st.org);
    assert_int_equal(corio_p256_compress(pub, st.new_key), CORIO_OK);
    uint8_t link[1024], endorsed[1024];
    int n = corio_rotation_link_make(&d->key[k - 1], &st, link, sizeof link);
    assert_true(n > 0);
    n = corio_rotation_link_endorse(&endorser->key, &endorser->did, link, (size_t)n, endorsed,
                                    sizeof endorsed);
    assert_true(n > 0);
    n = corio_rotation_chain_append(d->chain[k - 1], d->chain_len[k - 1], endorsed, (size_t)n,
                                    d->chain[k], sizeof d->chain[k]);
    assert_true(n > 0);
    d->chain_len[k] = (size_t)n;
    d->nkeys++;
}

/* ---- answers --------------------------------------------------------------------------------- */

static const uint8_t approved_fw[32] = {0xaa, 0xbb};

enum mode {
    GOOD,        /* a proper answer */
    FOREIGN_KEY, /* the token signed by another device's key, under this DID's kid */
    HIGH_S,      /* a proper token whose s is replaced by n - s */
    FIXED,       /* the bytes in fixed, whatever the nonce */
};

/* How a client answers the nonce. */
struct plan {
    enum mode mode;
    struct dev *d;      /* whose token */
    uint32_t key_no;    /* signed by key key_no, chain to it */
    int chain_key;      /* the chain presented: to this key (-1: to key_no) */
    const char *aud;    /* NULL: GW */
    const uint8_t *fw;  /* firmware claims with this digest */
    struct dev *signer; /* FOREIGN_KEY */
    const uint8_t *fixed;
    size_t fixed_len;
};

/* Writes the answer to nonce into out; returns its length. */
static size_t answer(const struct plan *p, const uint8_t *nonce, size_t nonce_len, uint8_t *out,
                     size_t cap)
{
    if (p->mode == FIXED) {
        assert_true(p->fixed_len <= cap);
        if (p->fixed_len)
            memcpy(out, p->fixed, p->fixed_len);
        return p->fixed_len;
    }
    struct corio_eat_claims c = {0};
    assert_int_equal(corio_did_parse(p->d->did, strlen(p->d->did), &c.issuer), CORIO_OK);
    c.key_number = p->key_no;
    c.aud = p->aud ? p->aud : GW;
    c.aud_len = strlen(c.aud);
    c.nonce = nonce;
    c.nonce_len = nonce_len;
    c.assurance = CORIO_EAT_REPORTED;
    c.has_bootcount = true;
    c.bootcount = 3;
    if (p->fw) {
        c.has_firmware = true;
        memcpy(c.fw_digest, p->fw, 32);
        c.fw_version = "1.0.0";
        c.fw_version_len = 5;
    }
    const struct corio_key *k = p->mode == FOREIGN_KEY ? &p->signer->key[0] : &p->d->key[p->key_no];
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(k, &c, tok, sizeof tok);
    assert_true(n > 64);
    if (p->mode == HIGH_S)
        assert_int_equal(corio_p256_scalar_negate(tok + n - 32), CORIO_OK);
    int ck = p->chain_key >= 0 ? p->chain_key : (int)p->key_no;
    n = corio_eat_auth_encode(tok, (size_t)n, p->d->chain[ck], p->d->chain_len[ck], out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

/* ---- an MQTT 5 client that answers the challenge: the SDK's ------------------------------- */

struct edge {
    struct corio_posix_tcp tcp;
    struct corio_transport tp;
    struct corio_clock clk;
    struct corio_random rnd;
    struct corio_mqtt m;
    char client_id[64];
    char method[32];
    struct plan plan;
    uint8_t tx[24576], rx[8192];
    uint8_t answer[20000];
    size_t answer_len;
    bool got_nonce;
    bool connected, failed, closed;
    int err;
    uint8_t reason;
    enum corio_eat_auth_status status;
    bool pub_done;
    int pub_result;
    uint8_t pub_reason;
    bool sub_done;
    uint8_t sub_reason;
};

static int edge_auth(void *user, enum corio_mqtt_auth_step step, const uint8_t *in, size_t in_len,
                     const uint8_t **out, size_t *out_len)
{
    struct edge *e = user;
    *out = NULL;
    *out_len = 0;
    if (step == CORIO_MQTT_AUTH_CONTINUE) {
        e->got_nonce = true;
        assert_int_equal(in_len, CORIO_EAT_AUTH_NONCE_LEN);
        e->answer_len = answer(&e->plan, in, in_len, e->answer, sizeof e->answer);
        *out = e->answer;
        *out_len = e->answer_len;
    } else if (step == CORIO_MQTT_AUTH_SUCCESS) {
        assert_int_equal(corio_eat_auth_result_decode(in, in_len, &e->status), CORIO_OK);
    }
    return CORIO_OK;
}

static void edge_on_connect(void *user, const struct corio_mqtt_connack *ack)
{
    (void)ack;
    ((struct edge *)user)->connected = true;
}

static void edge_on_disconnect(void *user, int err, uint8_t reason)
{
    struct edge *e = user;
    if (err == CORIO_OK)
        return;
    if (!e->failed && !e->closed) {
        e->err = err;
        e->reason = reason;
        if (e->connected)
            e->closed = true;
        else
            e->failed = true;
    }
    corio_mqtt_disconnect(&e->m, 0); /* no retries: each attempt is a new client */
}

static void edge_on_publish_done(void *user, uint64_t token, int result, uint8_t reason)
{
    (void)token;
    struct edge *e = user;
    e->pub_done = true;
    e->pub_result = result;
    e->pub_reason = reason;
}

static void edge_on_subscribe(void *user, const char *f, uint16_t len, uint8_t reason)
{
    (void)f;
    (void)len;
    struct edge *e = user;
    e->sub_done = true;
    e->sub_reason = reason;
}

static const struct corio_mqtt_callbacks edge_callbacks = {
    .on_connect = edge_on_connect,
    .on_disconnect = edge_on_disconnect,
    .on_publish_done = edge_on_publish_done,
    .on_subscribe = edge_on_subscribe,
    .auth = edge_auth,
};

static void edge_free(void *arg)
{
    struct edge *e = arg;
    e->tp.close(e->tp.ctx);
    free(e);
}

/* Runs the client until *flag is true or the deadline passes. */
static bool edge_run(struct edge *e, const bool *flag, int timeout_ms)
{
    int64_t deadline = h_now_ms() + h_ms(timeout_ms);
    while (!*flag && h_now_ms() < deadline) {
        uint32_t w = corio_mqtt_poll_ms(&e->m);
        corio_posix_tcp_wait(&e->tcp, w < 20 ? w : 20, corio_mqtt_want_write(&e->m));
        corio_mqtt_process(&e->m);
    }
    return *flag;
}

/* Connects with enhanced authentication (method NULL: corio-eat-v1) as client id (NULL:
 * the plan's device) and waits for the outcome: e->connected, or e->failed with err and
 * reason. */
static struct edge *edge_connect(int port, const char *client_id, const char *method,
                                 struct plan plan)
{
    struct edge *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->client_id, sizeof e->client_id, "%s", client_id ? client_id : plan.d->id);
    snprintf(e->method, sizeof e->method, "%s", method ? method : CORIO_EAT_AUTH_METHOD);
    e->plan = plan;
    assert_int_equal(corio_posix_tcp_init(&e->tcp, "127.0.0.1", (uint16_t)port, 5000), CORIO_OK);
    corio_posix_tcp_transport(&e->tcp, &e->tp);
    h_defer(edge_free, e);
    corio_posix_clock(&e->clk);
    corio_posix_random(&e->rnd);
    struct corio_mqtt_config c;
    corio_mqtt_config_init(&c);
    c.client_id = e->client_id;
    c.client_id_len = (uint16_t)strlen(e->client_id);
    c.auth_method = e->method;
    c.auth_method_len = (uint16_t)strlen(e->method);
    assert_int_equal(corio_mqtt_init(&e->m, &c, &e->tp, &e->clk, &e->rnd, e->tx, sizeof e->tx,
                                     e->rx, sizeof e->rx, &edge_callbacks, e),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_connect(&e->m), CORIO_OK);
    bool done = false;
    int64_t deadline = h_now_ms() + h_ms(10000);
    while (!(done = e->connected || e->failed) && h_now_ms() < deadline) {
        uint32_t w = corio_mqtt_poll_ms(&e->m);
        corio_posix_tcp_wait(&e->tcp, w < 20 ? w : 20, corio_mqtt_want_write(&e->m));
        corio_mqtt_process(&e->m);
    }
    assert_true(done);
    return e;
}

/* QoS 1 publish; returns the PUBACK reason code, or -1 when the connection ended. */
static int edge_publish(struct edge *e, const char *topic, const char *payload)
{
    struct corio_mqtt_publish m = {.topic = topic,
                                   .topic_len = (uint16_t)strlen(topic),
                                   .payload = (const uint8_t *)payload,
                                   .payload_len = strlen(payload),
                                   .qos = 1};
    e->pub_done = false;
    assert_int_equal(corio_mqtt_publish(&e->m, &m, 1), CORIO_OK);
    bool stop = false;
    int64_t deadline = h_now_ms() + h_ms(5000);
    while (!(stop = e->pub_done || e->closed) && h_now_ms() < deadline) {
        corio_posix_tcp_wait(&e->tcp, 20, corio_mqtt_want_write(&e->m));
        corio_mqtt_process(&e->m);
    }
    assert_true(stop);
    return e->pub_done && e->pub_result != CORIO_ERR_CLOSED ? e->pub_reason : -1;
}

/* A publish the broker must deny: Mosquitto 2.0.11 answers PUBACK 0x87 and closes the
 * connection (or closes it first). */
static void denied(struct edge *e, const char *topic)
{
    int rc = edge_publish(e, topic, "[{\"v\":1}]");
    assert_true(rc == 0x87 || rc == -1);
    assert_true(edge_run(e, &e->closed, 5000));
}

/* A PUBACK that accepts: 0x00, or 0x10 when nobody subscribes (Mosquitto's). */
static bool accepted(int reason)
{
    return reason == 0x00 || reason == 0x10;
}

/* SUBSCRIBE; returns the SUBACK reason code. */
static int edge_subscribe(struct edge *e, const char *filter)
{
    e->sub_done = false;
    assert_int_equal(
        corio_mqtt_subscribe(&e->m, filter, (uint16_t)strlen(filter), CORIO_MQTT_SUB_QOS(1)),
        CORIO_OK);
    assert_true(edge_run(e, &e->sub_done, 5000));
    return e->sub_reason;
}

/* ---- the gateway ------------------------------------------------------------------------------
 */

struct env {
    struct h_mosq *broker;
    const char *outbox, *registry;
    struct org *org;
    int height;
};

/* Writes the registry (text after the height line) at the next height; mtime_ago: its
 * modification time that many seconds in the past (a registry fetched long ago). */
static void registry(struct env *e, const char *body, int mtime_ago)
{
    e->height++;
    char *text = h_strf("height %d\norg %s Test Org\norgkey %s key=%s key_no=0\n%s", e->height,
                        e->org->id, e->org->id, e->org->didkey, body);
    char *tmp = h_strf("%s.tmp", e->registry);
    assert_int_equal(h_write_file(tmp, text), 0);
    if (mtime_ago) {
        struct timeval tv[2];
        gettimeofday(&tv[0], NULL);
        tv[0].tv_sec -= mtime_ago;
        tv[1] = tv[0];
        assert_int_equal(utimes(tmp, tv), 0);
    }
    assert_int_equal(rename(tmp, e->registry), 0);
    if (e->broker)
        assert_int_equal(h_proc_wait_log(e->broker->proc,
                                         h_strf("registry height %d applied", e->height), 10000),
                         CORIO_OK);
}

static struct env *start(const char *body)
{
    struct env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    h_defer(free, e);
    e->org = org_new();
    e->outbox = h_strf("%s/outbox.db", h_dir());
    e->registry = h_strf("%s/registry", h_dir());
    registry(e, body, 0);
    const char *opts[] = {h_strf("outbox %s", e->outbox), "gateway " GW,
                          h_strf("registry %s", e->registry), "registry_max_age 600", NULL};
    struct h_mosq_opts mo = {
        .plugin = h_lib("corio_mosquitto.so"), .plugin_opts = opts, .deny_anonymous = true};
    e->broker = h_mosq_start(&mo);
    assert_non_null(e->broker);
    return e;
}

/* The device's line with the env's organisation. */
static const char *dline(struct env *e, const struct dev *d, int key_no, const char *extra)
{
    return h_strf("device %s org=%s key=%s key_no=%d class=sensor %s\n", d->id, e->org->id,
                  d->didkey[key_no], key_no, extra ? extra : "");
}

/* Waits for the broker to log a refusal of id whose reason contains why. */
static void refused(struct env *e, const char *id, const char *why)
{
    const char *log = h_proc_log(e->broker->proc);
    int64_t deadline = h_now_ms() + h_ms(5000);
    for (;;) {
        size_t len;
        char *text = h_read_file(log, &len);
        bool found = false;
        for (char *l = text; l && *l && !found;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl = '\0';
            found = strstr(l, h_strf("refused %s (", id)) && strstr(l, why);
            l = nl ? nl + 1 : NULL;
        }
        if (found)
            return;
        if (h_now_ms() > deadline)
            fail_msg("no refusal of %s for '%s' in %s", id, why, log);
        struct h_poll p;
        h_poll_init(&p, 20);
        h_poll_next(&p);
    }
}

/* The connection was refused with CONNACK reason code rc. */
static void assert_refused(struct edge *c, uint8_t rc)
{
    assert_true(c->failed);
    assert_int_equal(c->err, CORIO_ERR_REFUSED);
    assert_int_equal(c->reason, rc);
}

static struct plan good(struct dev *d, uint32_t key_no)
{
    return (struct plan){.mode = GOOD, .d = d, .key_no = key_no, .chain_key = -1};
}

/* ---- outbox rows -------------------------------------------------------------------------------
 */

struct count_arg {
    const char *device, *suffix;
    int n;
};

static int count_row(const struct corio_outbox_row *row, void *arg)
{
    struct count_arg *c = arg;
    if (!strcmp(row->device, c->device) && (!c->suffix || !strcmp(row->suffix, c->suffix)))
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

/* ---- single-step ------------------------------------------------------------------------------
 */

static char *single_token(struct dev *d, uint64_t counter)
{
    struct corio_eat_claims c = {0};
    assert_int_equal(corio_did_parse(d->did, strlen(d->did), &c.issuer), CORIO_OK);
    c.aud = GW;
    c.aud_len = strlen(GW);
    c.has_counter = true;
    c.counter = counter;
    c.assurance = CORIO_EAT_REPORTED;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&d->key[0], &c, tok, sizeof tok);
    assert_true(n > 0);
    char *text = h_strf("%*s", (int)CORIO_BASE64URL_ENCODED_LEN((size_t)n), "");
    assert_true(corio_base64url_encode(tok, (size_t)n, text,
                                       CORIO_BASE64URL_ENCODED_LEN((size_t)n) + 1) > 0);
    return text;
}

static struct h_mqtt *single_step(struct env *e, struct dev *d, uint64_t counter)
{
    struct h_mqtt_opts o = {.client_id = d->id,
                            .username = d->did,
                            .password = single_token(d, counter),
                            .timeout_ms = 5000};
    return h_mqtt_connect(e->broker->port, &o);
}

/* ---- the tests ----------------------------------------------------------------------------------
 */

static void a_registered_device_is_admitted_and_publishes(void **state)
{
    (void)state;
    struct dev *d = dev_new();
    struct env *e = start("");
    registry(e, dline(e, d, 0, "auth=eat"), 0);
    struct edge *c = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_true(c->connected);
    assert_true(c->got_nonce);
    assert_int_equal(c->status, CORIO_EAT_AUTH_ADMITTED);
    /* Its own topics; stored before the PUBACK (rows() reads the intake log too);
     * presence recorded. */
    assert_true(accepted(edge_publish(c, h_strf("corio/v1/d/%s/up/json", d->id), "[{\"v\":1}]")));
    assert_int_equal(rows(e, d->id, "up/json"), 1);
    assert_int_equal(rows(e, d->id, "presence"), 1);
    assert_int_equal(edge_subscribe(c, h_strf("corio/v1/d/%s/dn/#", d->id)), 1);
    /* '#', another device's downlink and uplink, the quarantine space: refused. */
    struct dev *other = dev_new();
    assert_int_equal(edge_subscribe(c, "#"), 0x87);
    assert_int_equal(edge_subscribe(c, h_strf("corio/v1/d/%s/dn/#", other->id)), 0x87);
    assert_int_equal(edge_subscribe(c, h_strf("corio/v1/q/%s/dn/#", d->id)), 0x87);
    assert_true(c->connected && !c->closed);
    assert_int_equal(
        h_proc_wait_log(e->broker->proc, h_strf("denied %s subscribe on #", d->id), 5000),
        CORIO_OK);
    /* Publishing on another device's topic, or in quarantine: refused and the connection
     * closed; nothing stored. */
    denied(c, h_strf("corio/v1/d/%s/up/json", other->id));
    c = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    denied(c, h_strf("corio/v1/q/%s/up/claim", d->id));
    assert_int_equal(rows(e, other->id, NULL), 0);
    assert_int_equal(rows(e, d->id, "up/json"), 1);
    assert_int_equal(
        h_proc_wait_log(e->broker->proc,
                        h_strf("denied %s publish on corio/v1/d/%s/up/json", d->id, other->id),
                        5000),
        CORIO_OK);
}

static void bad_tokens_are_refused_and_others_keep_working(void **state)
{
    (void)state;
    struct dev *d = dev_new(), *stranger = dev_new(), *other = dev_new();
    struct env *e = start("");
    registry(e, h_strf("%s%s", dline(e, d, 0, "auth=eat"), dline(e, other, 0, NULL)), 0);

    /* A token signed by another key under this DID's kid. */
    struct plan p = good(d, 0);
    p.mode = FOREIGN_KEY;
    p.signer = stranger;
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, d->id, "signature");

    /* The high-S twin of a valid signature. */
    p = good(d, 0);
    p.mode = HIGH_S;
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, d->id, "signature");

    /* A token for another gateway. */
    p = good(d, 0);
    p.aud = OTHER_GW;
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, d->id, "aud");

    /* Replay: a valid answer captured from one connection, sent on the next. */
    struct edge *c = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_true(c->connected);
    p = (struct plan){.mode = FIXED, .d = d, .fixed = c->answer, .fixed_len = c->answer_len};
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, d->id, "nonce");

    /* The client id is not the token's short id: another registered device's, or not a
     * short id at all (refused before a nonce is spent). */
    assert_refused(edge_connect(e->broker->port, other->id, NULL, good(d, 0)), 0x87);
    refused(e, other->id, "issuer is not the client id");
    struct edge *x = edge_connect(e->broker->port, "not-a-short-id", NULL, good(d, 0));
    assert_refused(x, 0x87);
    assert_false(x->got_nonce);
    refused(e, "not-a-short-id", "not a short id");

    /* An unknown authentication method: 0x8C. */
    assert_refused(edge_connect(e->broker->port, NULL, "SCRAM-SHA-1", good(d, 0)), 0x8C);
    refused(e, d->id, "unknown authentication method");

    /* The connection admitted before was never disturbed, and a new one is admitted. */
    assert_true(accepted(edge_publish(c, h_strf("corio/v1/d/%s/up/json", d->id), "[]")));
    assert_true(edge_connect(e->broker->port, NULL, NULL, good(other, 0))->connected);
}

static void malformed_and_oversized_auth_data_is_refused(void **state)
{
    (void)state;
    struct dev *d = dev_new(), *stranger = dev_new();
    struct env *e = start("");
    registry(e, dline(e, d, 0, "auth=eat"), 0);

    /* A valid answer to take apart. */
    struct edge *ok = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_true(ok->connected);
    struct corio_eat_auth a;
    assert_int_equal(corio_eat_auth_decode(ok->answer, ok->answer_len, &a), CORIO_OK);
    uint8_t *buf = (uint8_t *)h_strf("%*s", 16384, "");
    size_t eat_len = a.eat_len;
    uint8_t eat[CORIO_EAT_MAX_SIZE];
    memcpy(eat, a.eat, eat_len);

    struct bad {
        const char *what;
        const uint8_t *bytes;
        size_t len;
        const char *why;
    } cases[16];
    int n = 0;
    static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef};
    static const uint8_t v2[] = {0x83, 0x02, 0x41, 0x00, 0x41, 0x00};
    static const uint8_t indefinite[] = {0x9f, 0x01, 0x41, 0x00, 0x41, 0x00, 0xff};
    static const uint8_t empty[] = {0x83, 0x01, 0x40, 0x40};
    cases[n++] = (struct bad){"garbage", garbage, sizeof garbage, "not a corio-eat-v1"};
    cases[n++] = (struct bad){"version 2", v2, sizeof v2, "unknown version"};
    cases[n++] = (struct bad){"indefinite", indefinite, sizeof indefinite, "not a corio-eat-v1"};
    cases[n++] = (struct bad){"empty parts", empty, sizeof empty, "not a corio-eat-v1"};
    cases[n++] = (struct bad){"nothing", NULL, 0, "not a corio-eat-v1"};
    /* Truncated, and with a byte after the item. */
    uint8_t *trunc = malloc(ok->answer_len);
    h_defer(free, trunc);
    memcpy(trunc, ok->answer, ok->answer_len);
    cases[n++] = (struct bad){"truncated", trunc, ok->answer_len - 1, "not a corio-eat-v1"};
    uint8_t *trail = malloc(ok->answer_len + 1);
    h_defer(free, trail);
    memcpy(trail, ok->answer, ok->answer_len);
    trail[ok->answer_len] = 0;
    cases[n++] = (struct bad){"trailing", trail, ok->answer_len + 1, "not a corio-eat-v1"};
    /* The EAT: not COSE; its kid's DID spoiled ("did:corio:" becomes "did:corjo:"). */
    uint8_t *notcose = malloc(64);
    h_defer(free, notcose);
    int m =
        corio_eat_auth_encode(garbage, sizeof garbage, d->chain[0], d->chain_len[0], notcose, 64);
    assert_true(m > 0);
    cases[n++] = (struct bad){"EAT not COSE", notcose, (size_t)m, "does not decode"};
    uint8_t badkid[CORIO_EAT_MAX_SIZE];
    memcpy(badkid, eat, eat_len);
    uint8_t *k = NULL;
    for (size_t i = 0; i + 10 <= eat_len && !k; i++)
        if (!memcmp(badkid + i, "did:corio:", 10))
            k = badkid + i;
    assert_non_null(k);
    k[6] = 'j';
    uint8_t *kidbad = malloc(2048);
    h_defer(free, kidbad);
    m = corio_eat_auth_encode(badkid, eat_len, d->chain[0], d->chain_len[0], kidbad, 2048);
    assert_true(m > 0);
    cases[n++] = (struct bad){"kid not a DID", kidbad, (size_t)m, "does not decode"};
    /* The chain: garbage, and another device's inception key (registry key path skips
     * the chain, so use an unregistered device for that one below). */
    uint8_t *chainbad = malloc(2048);
    h_defer(free, chainbad);
    for (int i = 0; i < n; i++) {
        struct plan p = {.mode = FIXED, .d = d, .fixed = cases[i].bytes, .fixed_len = cases[i].len};
        print_message("case %s\n", cases[i].what);
        assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
        refused(e, d->id, cases[i].why);
    }
    /* An unregistered device (registry fresh: quarantine if accepted) with a broken or
     * foreign chain. */
    struct plan p = good(stranger, 0);
    static const uint8_t junk_chain[] = {0x82, 0x01, 0x41, 0x00};
    struct edge *probe = edge_connect(e->broker->port, NULL, NULL, good(stranger, 0));
    assert_true(probe->connected);
    assert_int_equal(probe->status, CORIO_EAT_AUTH_QUARANTINED);
    struct corio_eat_auth sa;
    assert_int_equal(corio_eat_auth_decode(probe->answer, probe->answer_len, &sa), CORIO_OK);
    m = corio_eat_auth_encode(sa.eat, sa.eat_len, junk_chain, sizeof junk_chain, chainbad, 2048);
    assert_true(m > 0);
    p = (struct plan){.mode = FIXED, .d = stranger, .fixed = chainbad, .fixed_len = (size_t)m};
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, stranger->id, "rotation chain refused: chain is malformed");
    p = good(stranger, 0);
    memcpy(stranger->chain[1], d->chain[0], d->chain_len[0]);
    stranger->chain_len[1] = d->chain_len[0];
    p.chain_key = 1; /* d's inception key as stranger's */
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, stranger->id, "inception key is not the DID's");

    /* Oversized: more than CORIO_EAT_AUTH_MAX bytes (a valid shape around a huge chain). */
    size_t big = CORIO_EAT_AUTH_MAX + 100;
    memset(buf, 0, 16384);
    uint8_t *huge = malloc(20000);
    h_defer(free, huge);
    m = corio_eat_auth_encode(eat, eat_len, buf, big - eat_len, huge, 20000);
    assert_int_equal(m, CORIO_ERR_INVAL); /* our encoder will not even make one */
    buf[0] = 0x83;
    buf[1] = 0x01;
    buf[2] = 0x59;
    buf[3] = (uint8_t)(eat_len >> 8);
    buf[4] = (uint8_t)eat_len;
    memcpy(buf + 5, eat, eat_len);
    size_t rest = big - 5 - eat_len - 3;
    buf[5 + eat_len] = 0x59;
    buf[6 + eat_len] = (uint8_t)(rest >> 8);
    buf[7 + eat_len] = (uint8_t)rest;
    p = (struct plan){.mode = FIXED, .d = d, .fixed = buf, .fixed_len = big};
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, d->id, h_strf("AUTH data of %zu bytes", big));

    /* None of that disturbed the device's session (a refused attempt takes nothing
     * over), and a new login is still admitted. */
    assert_true(accepted(edge_publish(ok, h_strf("corio/v1/d/%s/up/json", d->id), "[]")));
    assert_true(edge_connect(e->broker->port, NULL, NULL, good(d, 0))->connected);
}

static void single_step_rules_hold_next_to_enhanced(void **state)
{
    (void)state;
    struct dev *single = dev_new(), *eat = dev_new(), *learner = dev_new();
    struct env *e = start("");
    registry(e,
             h_strf("%s%s%s", dline(e, single, 0, NULL), dline(e, eat, 0, "auth=eat"),
                    dline(e, learner, 0, NULL)),
             0);
    /* A counter that does not increase. */
    assert_non_null(single_step(e, single, 5));
    assert_null(single_step(e, single, 5));
    refused(e, single->id, "counter");
    assert_null(single_step(e, single, 4));
    assert_non_null(single_step(e, single, 6));
    /* Single-step from a device the registry lists as AUTH-capable. */
    assert_null(single_step(e, eat, 1));
    refused(e, eat->id, "registered as AUTH-capable");
    /* ... and from one that has answered the challenge before (registered auth=single):
     * a token without a nonce could be one it made long ago. */
    assert_non_null(single_step(e, learner, 1));
    assert_true(edge_connect(e->broker->port, NULL, NULL, good(learner, 0))->connected);
    assert_null(single_step(e, learner, 2));
    refused(e, learner->id, "has logged in with corio-eat-v1 before");
    /* Also across a restart: the state file remembers. */
    assert_int_equal(h_mosq_restart(e->broker), CORIO_OK);
    assert_null(single_step(e, learner, 3));
    assert_non_null(single_step(e, single, 7));
}

static void rotation_chains_and_key_numbers_never_going_backwards(void **state)
{
    (void)state;
    struct dev *d = dev_new(), *rogue = dev_new(), *solo = dev_new();
    struct env *e = start("");
    struct org *other_org = org_new();
    rotate(d, e->org, e->org);        /* key 1, endorsed by its organisation */
    rotate(d, e->org, e->org);        /* key 2 */
    rotate(rogue, e->org, other_org); /* key 1, endorsed by a stranger */
    rotate(solo, e->org, e->org);     /* key 1, which the registry will know */
    registry(e,
             h_strf("%s%s%s", dline(e, d, 0, "auth=eat"), dline(e, rogue, 0, "auth=eat"),
                    dline(e, solo, 1, "auth=eat")),
             0);

    /* The registry knows key 0; the device presents key 1 with its chain: accepted ahead
     * of the registry, on the organisation's endorsement. */
    struct edge *c = edge_connect(e->broker->port, NULL, NULL, good(d, 1));
    assert_true(c->connected);
    assert_int_equal(c->status, CORIO_EAT_AUTH_ADMITTED);
    /* Now key 0 goes backwards, even though the registry still names it. */
    assert_refused(edge_connect(e->broker->port, NULL, NULL, good(d, 0)), 0x87);
    refused(e, d->id, "key number 0 goes backwards: key 1 was seen");
    /* A chain that stops short of the token's key. */
    struct plan p = good(d, 2);
    p.chain_key = 1;
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, d->id, "leads to key 1, the EAT is signed by key 2");
    /* A link endorsed by another organisation. */
    assert_refused(edge_connect(e->broker->port, NULL, NULL, good(rogue, 1)), 0x87);
    refused(e, rogue->id, "rotation chain refused");
    /* The highest key seen survives a restart; then key 2, after which key 1 is old. */
    assert_int_equal(h_mosq_restart(e->broker), CORIO_OK);
    assert_refused(edge_connect(e->broker->port, NULL, NULL, good(d, 0)), 0x87);
    assert_true(edge_connect(e->broker->port, NULL, NULL, good(d, 2))->connected);
    assert_refused(edge_connect(e->broker->port, NULL, NULL, good(d, 1)), 0x87);
    refused(e, d->id, "key number 1 goes backwards: key 2 was seen");

    /* The ledger catches up: the registry names key 2. Connections holding an older key
     * are disconnected; key 1 is an old key after a rotation. */
    struct edge *held = edge_connect(e->broker->port, NULL, NULL, good(d, 2));
    assert_true(held->connected);
    registry(e,
             h_strf("%s%s%s", dline(e, d, 2, "auth=eat"), dline(e, rogue, 0, "auth=eat"),
                    dline(e, solo, 1, "auth=eat")),
             0);
    assert_true(edge_run(held, &held->closed, 10000));
    assert_true(edge_connect(e->broker->port, NULL, NULL, good(d, 2))->connected);
    /* A device whose key 0 this gateway never saw, registered at key 1: key 0 is an old
     * key after a rotation. */
    assert_refused(edge_connect(e->broker->port, NULL, NULL, good(solo, 0)), 0x87);
    refused(e, solo->id, "signed by key 0, an old key after a rotation (the registry's is key 1)");
    assert_true(edge_connect(e->broker->port, NULL, NULL, good(solo, 1))->connected);
}

static void key_zero_without_the_registry_needs_a_young_registry(void **state)
{
    (void)state;
    struct dev *newcomer = dev_new(), *registered = dev_new();
    struct env *e = start("");
    /* A registry written two hours ago (registry_max_age is 600 s). */
    registry(e, dline(e, registered, 0, "auth=eat"), 7200);
    struct edge *c = edge_connect(e->broker->port, NULL, NULL, good(newcomer, 0));
    assert_refused(c, 0x87);
    refused(e, newcomer->id, "key 0 without the registry needs one younger than 600 s");
    /* A registered device does not depend on the registry's age. */
    assert_true(edge_connect(e->broker->port, NULL, NULL, good(registered, 0))->connected);
    /* Key 1 of an unknown device is never accepted without the registry. */
    rotate(newcomer, e->org, e->org);
    registry(e, dline(e, registered, 0, "auth=eat"), 0);
    assert_refused(edge_connect(e->broker->port, NULL, NULL, good(newcomer, 1)), 0x87);
    refused(e, newcomer->id, "only key 0 is accepted without the registry");
    /* A fresh registry: key 0 is accepted, into quarantine. */
    c = edge_connect(e->broker->port, NULL, NULL, good(newcomer, 0));
    assert_true(c->connected);
    assert_int_equal(c->status, CORIO_EAT_AUTH_QUARANTINED);
}

static void an_unclaimed_device_stays_in_quarantine(void **state)
{
    (void)state;
    struct dev *d = dev_new(), *other = dev_new();
    struct env *e = start("");
    registry(e, dline(e, other, 0, "auth=eat"), 0);
    struct edge *c = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_true(c->connected);
    assert_int_equal(c->status, CORIO_EAT_AUTH_QUARANTINED);
    assert_int_equal(h_proc_wait_log(e->broker->proc,
                                     h_strf("%s is not registered: admitted to quarantine", d->id),
                                     5000),
                     CORIO_OK);
    /* The quarantine space takes its messages (0x10: nobody listens) without storing
     * them; it may read its own quarantine downlink only. */
    assert_int_equal(edge_publish(c, h_strf("corio/v1/q/%s/up/hello", d->id), "hi"), 0x10);
    assert_int_equal(edge_subscribe(c, h_strf("corio/v1/d/%s/dn/#", d->id)), 0x87);
    assert_int_equal(edge_subscribe(c, "#"), 0x87);
    assert_int_equal(edge_subscribe(c, h_strf("corio/v1/q/%s/dn/#", d->id)), 1);
    /* Its telemetry topic, and another device's quarantine space: refused, closed. */
    denied(c, h_strf("corio/v1/d/%s/up/json", d->id));
    c = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_int_equal(c->status, CORIO_EAT_AUTH_QUARANTINED);
    denied(c, h_strf("corio/v1/q/%s/up/hello", other->id));
    c = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_int_equal(rows(e, d->id, NULL), 0); /* no presence either */
    /* Single-step cannot reach quarantine. */
    assert_null(single_step(e, d, 1));
    refused(e, d->id, "not registered");
    /* Once registered, the quarantined connection is disconnected and the next one is
     * admitted. */
    registry(e, h_strf("%s%s", dline(e, other, 0, "auth=eat"), dline(e, d, 0, "auth=eat")), 0);
    assert_true(edge_run(c, &c->closed, 10000));
    struct edge *again = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_true(again->connected);
    assert_int_equal(again->status, CORIO_EAT_AUTH_ADMITTED);
    assert_true(accepted(edge_publish(again, h_strf("corio/v1/d/%s/up/json", d->id), "[]")));
    assert_int_equal(rows(e, d->id, "up/json"), 1);
}

static void a_revoked_device_is_refused_and_disconnected(void **state)
{
    (void)state;
    struct dev *d = dev_new(), *other = dev_new();
    struct env *e = start("");
    registry(e, h_strf("%s%s", dline(e, d, 0, "auth=eat"), dline(e, other, 0, "auth=eat")), 0);
    struct edge *c = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    struct edge *o = edge_connect(e->broker->port, NULL, NULL, good(other, 0));
    assert_true(c->connected && o->connected);
    registry(e,
             h_strf("%s%s", dline(e, d, 0, "auth=eat revoked=yes"), dline(e, other, 0, "auth=eat")),
             0);
    assert_true(edge_run(c, &c->closed, 10000));
    assert_int_equal(h_proc_wait_log(e->broker->proc, h_strf("%s revoked", d->id), 5000), CORIO_OK);
    struct edge *x = edge_connect(e->broker->port, NULL, NULL, good(d, 0));
    assert_refused(x, 0x87);
    assert_false(x->got_nonce); /* refused before a nonce is spent */
    refused(e, d->id, "revoked");
    /* The other device was not touched. */
    assert_false(o->closed);
    assert_true(accepted(edge_publish(o, h_strf("corio/v1/d/%s/up/json", other->id), "[]")));
}

static void firmware_must_be_approved(void **state)
{
    (void)state;
    struct dev *d = dev_new();
    struct env *e = start("");
    registry(e,
             h_strf("device %s org=%s key=%s class=meter auth=eat\nfirmware meter %s\n", d->id,
                    e->org->id, d->didkey[0],
                    "aabb000000000000000000000000000000000000000000000000000000000000"),
             0);
    assert_refused(edge_connect(e->broker->port, NULL, NULL, good(d, 0)), 0x87);
    refused(e, d->id, "firmware");
    static const uint8_t unapproved[32] = {0x01};
    struct plan p = good(d, 0);
    p.fw = unapproved;
    assert_refused(edge_connect(e->broker->port, NULL, NULL, p), 0x87);
    refused(e, d->id, "firmware not approved for its class");
    p.fw = approved_fw;
    assert_true(edge_connect(e->broker->port, NULL, NULL, p)->connected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_registered_device_is_admitted_and_publishes),
        H_TEST(bad_tokens_are_refused_and_others_keep_working),
        H_TEST(malformed_and_oversized_auth_data_is_refused),
        H_TEST(single_step_rules_hold_next_to_enhanced),
        H_TEST(rotation_chains_and_key_numbers_never_going_backwards),
        H_TEST(key_zero_without_the_registry_needs_a_young_registry),
        H_TEST(an_unclaimed_device_stays_in_quarantine),
        H_TEST(a_revoked_device_is_refused_and_disconnected),
        H_TEST(firmware_must_be_approved),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
