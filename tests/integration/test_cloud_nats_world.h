/* test_cloud_nats_world.h - what the NATS tests of corio-cloud share: nats-server (one
 * node or a three-node JetStream cluster, MQTT listener on), PostgreSQL, a registry,
 * corio-cloud ingest instances with store postgres and bus nats, and the test playing a
 * gateway on the MQTT listener: signed batches on corio/v1/g/{gw}/batch, acks on
 * corio/v1/g/{gw}/ack, and, like corio-gateway, every batch sent again until its ack
 * comes. Included by test_cloud_nats*.c.
 *
 * nats-server is configured as a deployment is (docs/scale-out.md, "Permissions"):
 * mutual TLS on the client port and the MQTT listener with certificates made by
 * `corio ca` (each organisation its own CA), and the users and permissions that
 * `corio nats auth` writes from the registry, each certificate naming its user. */
#ifndef CORIO_TEST_CLOUD_NATS_WORLD_H
#define CORIO_TEST_CLOUD_NATS_WORLD_H

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
#include <nats/nats.h>

#include "batch.h"
#include "corio/crypto.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "crypto_openssl.h"
#include "harness.h"

#define ORG  "oooooooooooooooooooooooo"
#define ORG2 "pppppppppppppppppppppppp"
#define GW   "gggggggggggggggggggggggg"
#define GW2  "hhhhhhhhhhhhhhhhhhhhhhhh"
#define DEV  "dddddddddddddddddddddddd"
#define DEV2 "eeeeeeeeeeeeeeeeeeeeeeee"
#define DEV3 "ffffffffffffffffffffffff" /* GW2's */

#define MAX_INST    4
#define MAX_BATCHES 256

struct inst {
    struct h_proc *p;
    int http;
};

/* The subject of the tests' operator certificate (world_pki). */
#define OPERATOR_CN "corio-test-operator"
#define OPERATOR_DN "CN=" OPERATOR_CN ",OU=cloud,O=did:corio:" ORG

/* A key and the certificate an organisation's CA issued for it. */
struct tls_id {
    const char *cert, *key;
};

struct world {
    struct corio_key gw_key, other_key;
    /* The organisations' CAs (ORG's, ORG2's) and what nats-server trusts: both. */
    const char *ca, *ca2, *ca_bundle, *auth;
    struct tls_id server, cloud, gw_tls, gw2_tls;
    struct h_nats *nats;
    struct h_pg *pg;
    const char *registry, *web;
    int replicas;
    struct inst inst[MAX_INST];
    int ninst;
    struct h_mqtt *gw; /* the test's gateway */
    uint64_t epoch;
    int64_t t0; /* sample times: recent, on a minute */
};

static struct world W;

static inline int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static inline void close_keys(void *arg)
{
    (void)arg;
    corio_key_close(&W.gw_key);
    corio_key_close(&W.other_key);
}

static inline const char *didkey(const struct corio_key *k)
{
    uint8_t pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_key_public(k, pub), CORIO_OK);
    char out[CORIO_DIDKEY_BUF];
    assert_true(corio_didkey_format(pub, sizeof pub, out, sizeof out) > 0);
    return h_strf("%s", out);
}

/* Runs `corio args...` (args NULL-terminated), which must succeed. */
static inline void corio_cliv(const char *const *args)
{
    const char *argv[24] = {h_bin("corio")};
    int n = 1;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out = NULL;
    int st = h_run("corio", argv, NULL, 30000, &out);
    if (st != 0)
        fail_msg("corio %s %s: status %d: %s", argv[1], argv[2], st, out ? out : "");
}

/* A new P-256 key in <dir>/<name>.pem. */
static inline const char *key_file(const char *name)
{
    struct corio_key k;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &k),
                     CORIO_OK);
    const char *path = h_strf("%s/%s.pem", h_dir(), name);
    assert_int_equal(corio_openssl_key_write_pem(&k, path), CORIO_OK);
    corio_key_close(&k);
    return path;
}

/* An organisation's CA (corio ca new), its directory named after the organisation. */
static inline const char *make_ca(const char *org)
{
    const char *dir = h_strf("%s/ca-%s", h_dir(), org);
    const char *args[] = {"ca",        "new",
                          "--org-key", key_file(h_strf("org-%s", org)),
                          "--org-id",  h_strf("did:corio:%s", org),
                          "--out",     dir,
                          NULL};
    corio_cliv(args);
    return dir;
}

/* A certificate from the CA in dir for a new key; more options of `corio ca sign`
 * (NULL-terminated) after role. */
static inline struct tls_id issue(const char *dir, const char *name, const char *role, ...)
{
    struct tls_id id = {h_strf("%s/%s.crt", h_dir(), name), key_file(name)};
    const char *args[20] = {"ca", "sign",  "--ca", dir,     "--role",
                            role, "--key", id.key, "--out", id.cert};
    int n = 10;
    va_list ap;
    va_start(ap, role);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 19)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    corio_cliv(args);
    return id;
}

/* The certificates of the world: ORG's CA issues nats-server's, corio-cloud's and
 * GW's; ORG2's CA issues GW2's. Then nats-server's users, from the registry. */
static inline void world_pki(void)
{
    W.ca = make_ca(ORG);
    W.ca2 = make_ca(ORG2);
    W.server = issue(W.ca, "nats-server", "cloud", "--cn", "nats", "--dns", "localhost", "--ip",
                     "127.0.0.1", NULL);
    W.cloud = issue(W.ca, "corio-cloud", "cloud", NULL);
    W.gw_tls =
        issue(W.ca, "gw-tls", "gateway", "--did", "did:corio:" GW, "--dns", "gateway.local", NULL);
    W.gw2_tls = issue(W.ca2, "gw2-tls", "gateway", "--did", "did:corio:" GW2, NULL);
    W.ca_bundle = h_strf("%s/ca-bundle.pem", h_dir());
    assert_int_equal(
        h_write_file(W.ca_bundle, h_strf("%s%s", h_read_file(h_strf("%s/ca.crt", W.ca), NULL),
                                         h_read_file(h_strf("%s/ca.crt", W.ca2), NULL))),
        CORIO_OK);
    const char *auth = h_strf("%s/nats-auth.conf", h_dir());
    const char *args[] = {"nats",     "auth",  "--org", ORG, "--registry",
                          W.registry, "--out", auth,    NULL};
    corio_cliv(args);
    const char *text = h_read_file(auth, NULL);
    assert_non_null(text);
    /* One user more than a deployment has, named by OPERATOR's certificate (issued by the
     * tests that use it): it may put anything on the stream, as no gateway may, to show
     * that corio-cloud still refuses what should never come. */
    const char *end = strstr(text, "\n  ]\n}\n");
    assert_non_null(end);
    W.auth = h_strf("%.*s\n    { user: \"%s\", allowed_connection_types: [\"STANDARD\"],\n"
                    "      permissions: { publish: { allow: [\"corio.v1.g.*.batch\"] },\n"
                    "                     subscribe: { deny: [\">\"] } } }%s",
                    (int)(end - text), text, OPERATOR_DN, end);
}

/* PostgreSQL, the registry, the gateways' keys and certificates; nats-server as nopts
 * says, with mutual TLS and the users of `corio nats auth` on its client port and MQTT
 * listener. */
static inline void world_up(const struct h_nats_opts *nopts, int replicas)
{
    memset(&W, 0, sizeof W);
    W.t0 = wall_ms() / 60000 * 60000 - 600000;
    W.epoch = 4242;
    W.replicas = replicas;
    assert_int_equal(
        corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &W.gw_key),
        CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &W.other_key), CORIO_OK);
    h_defer(close_keys, NULL);
    static const char *const conf[] = {"fsync = off", "full_page_writes = off", NULL};
    W.pg = h_pg_start(&(struct h_pg_opts){.dbname = "corio", .conf = conf});
    assert_non_null(W.pg);
    const char *dir = h_dir();
    W.registry = h_strf("%s/registry.conf", dir);
    assert_int_equal(
        h_write_file(W.registry,
                     h_strf("org %s Test Org\norg %s Other Org\n"
                            "gateway %s org=%s key=%s\ngateway %s org=%s key=%s\n"
                            "device %s org=%s gateway=%s\ndevice %s org=%s\n"
                            "device %s org=%s gateway=%s\n",
                            ORG, ORG2, GW, ORG, didkey(&W.gw_key), GW2, ORG2, didkey(&W.other_key),
                            DEV, ORG, GW, DEV2, ORG, DEV3, ORG2, GW2)),
        CORIO_OK);
    world_pki();
    struct h_nats_opts no = *nopts;
    no.mqtt = true;
    no.mqtt_tls = true;
    no.certfile = W.server.cert;
    no.keyfile = W.server.key;
    no.cafile = W.ca_bundle;
    no.verify = true;
    no.auth = W.auth;
    W.nats = h_nats_start(&no);
    assert_non_null(W.nats);
    W.web = h_mkdir("web");
    assert_int_equal(h_write_file(h_strf("%s/index.html", W.web), "<!doctype html>"), CORIO_OK);
}

static inline const char *inst_url(int i, const char *path)
{
    return h_strf("http://127.0.0.1:%d%s", W.inst[i].http, path);
}

/* Starts ingest instance i (its own HTTP port); ready once it consumes the stream. */
static inline void instance_up(int i, int fetch)
{
    W.inst[i].http = h_free_port();
    const char *conf = h_strf("org %s\nstore postgres\npg_conninfo %s\nregistry %s\n"
                              "http_port %d\nweb_root %s\nlog_level debug\nbus nats\n"
                              "nats_url %s\nnats_replicas %d\nnats_ack_wait 2s\nnats_fetch %d\n"
                              "client_id ingest-%d\nnats_stream_max_bytes 64MiB\n"
                              "nats_tls_ca %s/ca.crt\nnats_tls_cert %s\nnats_tls_key %s\n",
                              ORG, W.pg->conninfo, W.registry, W.inst[i].http, W.web, W.nats->url,
                              W.replicas, fetch, i, W.ca, W.cloud.cert, W.cloud.key);
    struct h_daemon_opts o = {.config = conf,
                              .ready_url = inst_url(i, "/healthz"),
                              .ready_log = "consuming batches",
                              .timeout_ms = 20000};
    W.inst[i].p = h_daemon_start("corio-cloud", &o);
    assert_non_null(W.inst[i].p);
    if (i >= W.ninst)
        W.ninst = i + 1;
}

/* MQTT options for a client with the certificate id (NULL: none), trusting nats-server's
 * certificate. */
static inline struct h_mqtt_opts mqtt_as(const struct tls_id *id, const char *client_id,
                                         bool persistent)
{
    return (struct h_mqtt_opts){.client_id = client_id,
                                .persistent = persistent,
                                .cafile = h_strf("%s/ca.crt", W.ca),
                                .certfile = id ? id->cert : NULL,
                                .keyfile = id ? id->key : NULL};
}

/* The test's gateway on node's MQTT listener with its certificate: client id = the
 * gateway's id, a persistent session; subscribe to its ack topic (QoS 1) or not. */
static inline struct h_mqtt *gateway_reconnect(int node, bool subscribe)
{
    struct h_mqtt_opts mo = mqtt_as(&W.gw_tls, GW, true);
    struct h_mqtt *c = h_mqtt_connect(W.nats->node[node].mqtt_port, &mo);
    assert_non_null(c);
    if (subscribe)
        assert_int_equal(h_mqtt_subscribe(c, "corio/v1/g/" GW "/ack", 1), CORIO_OK);
    return c;
}

static inline struct h_mqtt *gateway_connect(int node)
{
    return gateway_reconnect(node, true);
}

struct nats_client {
    natsOptions *o;
    natsConnection *c;
};

static inline void nats_client_close(void *arg)
{
    struct nats_client *n = arg;
    if (n->c) {
        natsConnection_Close(n->c);
        natsConnection_Destroy(n->c);
    }
    natsOptions_Destroy(n->o);
    free(n);
}

/* A NATS connection to the client port of node 0 with the certificate id (closed when
 * the scope ends); NULL when nats-server refuses it, with the reason in *st. */
static inline natsConnection *nats_as(const struct tls_id *id, natsStatus *st)
{
    struct nats_client *n = calloc(1, sizeof *n);
    assert_non_null(n);
    h_defer(nats_client_close, n);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", W.nats->node[0].port);
    natsStatus s = natsOptions_Create(&n->o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(n->o, url);
    if (s == NATS_OK)
        s = natsOptions_SetSecure(n->o, true);
    if (s == NATS_OK)
        s = natsOptions_LoadCATrustedCertificates(n->o, h_strf("%s/ca.crt", W.ca));
    if (s == NATS_OK)
        s = natsOptions_LoadCertificatesChain(n->o, id->cert, id->key);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(n->o, h_ms(5000));
    assert_int_equal(s, NATS_OK);
    s = natsConnection_Connect(&n->c, n->o);
    if (st)
        *st = s;
    if (s != NATS_OK) {
        n->c = NULL;
        return NULL;
    }
    return n->c;
}

/* ---- batches ------------------------------------------------------------------------- */

struct bb {
    struct corio_batch b;
    struct corio_batch_msg m[16];
    char payloads[16][320];
    uint8_t *wire;
    size_t wire_len;
    bool acked;
};

static inline void free_batches(void *arg)
{
    struct bb *x = arg;
    for (int i = 0; i < MAX_BATCHES; i++)
        free(x[i].wire);
    free(x);
}

/* An array of MAX_BATCHES batches that the scope frees. */
static inline struct bb *batches_new(void)
{
    struct bb *x = calloc(MAX_BATCHES, sizeof *x);
    assert_non_null(x);
    h_defer(free_batches, x);
    return x;
}

static inline void bb_init(struct bb *x, const char *gw, uint64_t first, uint64_t last)
{
    free(x->wire);
    memset(x, 0, sizeof *x);
    x->b.version = CORIO_BATCH_VERSION;
    snprintf(x->b.gateway, sizeof x->b.gateway, "%s", gw);
    x->b.epoch = W.epoch;
    x->b.first = first;
    x->b.last = last;
    x->b.made_ms = W.t0;
    x->b.msgs = x->m;
}

static inline void bb_add(struct bb *x, uint64_t id, const char *dev, const char *suffix,
                          int64_t recv, const char *payload)
{
    size_t i = x->b.count++;
    assert_true(i < 16);
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

/* A SenML message of dev with seq (epoch 1): two samples, temp = seq, hum = 40. */
static inline void bb_senml(struct bb *x, uint64_t id, const char *dev, int seq)
{
    int64_t t = W.t0 + seq * 1000;
    char p[320];
    snprintf(p, sizeof p,
             "[{\"bn\":\"urn:corio:%s:\",\"bt\":%lld.0,\"ep\":1,\"seq\":%d,\"n\":\"temp\","
             "\"u\":\"Cel\",\"v\":%d},{\"n\":\"hum\",\"u\":\"%%RH\",\"v\":40}]",
             dev, (long long)(t / 1000), seq, seq);
    bb_add(x, id, dev, "up/json", t + 30, p);
}

/* Encodes and seals x as gateway key's owner would (key number 0). */
static inline void bb_seal(struct bb *x, const struct corio_key *key)
{
    int64_t n = corio_batch_encode(&x->b, NULL, 0);
    assert_true(n > 0);
    uint8_t *payload = malloc((size_t)n);
    assert_non_null(payload);
    assert_int_equal(corio_batch_encode(&x->b, payload, (size_t)n), n);
    free(x->wire);
    x->wire = NULL;
    assert_int_equal(
        corio_batch_seal(key, x->b.gateway, 0, payload, (size_t)n, &x->wire, &x->wire_len),
        CORIO_OK);
    free(payload);
}

/* n batches of per messages each, ids from 1: batch k holds seqs (k*per+1 ..). Each
 * message alternates between DEV and DEV2, whose seqs count separately. */
static inline void make_stream(struct bb *x, int n, int per)
{
    int seq[2] = {0, 0};
    uint64_t id = 1;
    for (int k = 0; k < n; k++) {
        bb_init(&x[k], GW, id, id + (uint64_t)per - 1);
        for (int i = 0; i < per; i++, id++) {
            int d = (int)(id % 2);
            bb_senml(&x[k], id, d ? DEV : DEV2, ++seq[d]);
        }
        bb_seal(&x[k], &W.gw_key);
    }
}

static inline void publish_raw(struct h_mqtt *c, const char *topic, const void *wire, size_t len)
{
    /* QoS 1 without waiting: libmosquitto keeps it for the next connection if the
     * listener is away; the ack (or its absence) is what counts. */
    assert_int_equal(h_mqtt_publish_nowait(c, topic, wire, (int)len, 1, false, NULL), CORIO_OK);
}

static inline void publish(struct bb *x)
{
    publish_raw(W.gw, "corio/v1/g/" GW "/batch", x->wire, x->wire_len);
}

/* Marks the batches whose range an ack received on c covers; returns how many acks of
 * QoS 1 were seen (all must be: checked here). */
static inline int scan_acks(struct h_mqtt *c, struct bb *x, int n)
{
    int acks = 0;
    const struct h_mqtt_msg *m;
    for (int i = 0; (m = h_mqtt_msg(c, i)); i++) {
        if (!strstr(m->topic, "/ack"))
            continue;
        acks++;
        assert_int_equal(m->qos, 1);
        uint64_t epoch;
        struct corio_ack_range r[4];
        int k = corio_ack_decode(m->payload, (size_t)m->len, &epoch, r, 4);
        assert_true(k >= 1);
        for (int j = 0; j < n; j++)
            for (int q = 0; q < k; q++)
                if (epoch == x[j].b.epoch && r[q].first == x[j].b.first && r[q].last == x[j].b.last)
                    x[j].acked = true;
    }
    return acks;
}

static inline int count_acked(struct bb *x, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += x[i].acked;
    return k;
}

/* As corio-gateway does: sends every batch not acknowledged yet, waits for acks a
 * while, and again, until all are acknowledged or the deadline passes. */
static inline bool send_until_acked(struct bb *x, int n, int timeout_ms)
{
    int64_t deadline = h_now_ms() + h_ms(timeout_ms);
    while (h_now_ms() < deadline) {
        scan_acks(W.gw, x, n);
        for (int i = 0; i < n; i++)
            if (!x[i].acked && h_mqtt_connected(W.gw))
                publish(&x[i]);
        bool all;
        H_POLL(all, (scan_acks(W.gw, x, n), count_acked(x, n) == n), 3000);
        if (all)
            return true;
    }
    return false;
}

/* ---- what the instances say -------------------------------------------------------- */

static inline json_t *get_json(int i, const char *path)
{
    struct h_http_resp resp;
    assert_int_equal(h_http_get(inst_url(i, path), &resp), CORIO_OK);
    if (resp.status != 200)
        fail_msg("GET %s: %ld %s", path, resp.status, resp.body);
    json_t *j = json_loads(resp.body, 0, NULL);
    assert_non_null(j);
    return j;
}

static inline int64_t stat_of(int i, const char *key)
{
    json_t *j = get_json(i, "/api/v1/stats");
    int64_t v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

/* One sample of instance i's /metrics ("name{labels}" as written), or -1. */
static inline double metric_of(int i, const char *series)
{
    struct h_http_resp resp;
    if (h_http_get(inst_url(i, "/metrics"), &resp) != CORIO_OK || resp.status != 200)
        return -1;
    size_t n = strlen(series);
    for (const char *p = resp.body; (p = strstr(p, series)); p += n)
        if ((p == resp.body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* Every message of n batches of per messages is stored once: the counters, both
 * devices' sequence state, their series. */
static inline void expect_stored_once(int i, int n, int per)
{
    int total = n * per;
    assert_int_equal(stat_of(i, "messages"), total);
    assert_int_equal(stat_of(i, "samples"), 2 * total);
    assert_int_equal(stat_of(i, "rejected"), 0);
    assert_int_equal(stat_of(i, "missing"), 0);
    assert_int_equal(stat_of(i, "batches"), n);
    const char *devs[2] = {DEV2, DEV};
    for (int d = 0; d < 2; d++) {
        int want = total / 2 + (d == 1 && total % 2);
        json_t *j = get_json(i, h_strf("/api/v1/devices/%s", devs[d]));
        assert_int_equal(json_integer_value(json_object_get(j, "last_seq")), want);
        assert_int_equal(json_integer_value(json_object_get(j, "messages")), want);
        assert_int_equal(json_integer_value(json_object_get(j, "missing")), 0);
        json_decref(j);
        /* The 1-minute rollups hold every sample once. */
        j = get_json(i, h_strf("/api/v1/devices/%s/series?metric=temp&from=%lld&to=%lld&step=60",
                               devs[d], (long long)(W.t0 - 3600000), (long long)(W.t0 + 3600000)));
        json_t *pts = json_object_get(j, "points");
        int64_t count = 0;
        for (size_t k = 0; k < json_array_size(pts); k++)
            count += json_integer_value(json_array_get(json_array_get(pts, k), 4));
        assert_int_equal(count, want);
        json_decref(j);
    }
}

/* The number of messages the stream holds (monitoring port of node), or -1. */
static inline long stream_messages(int node)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/jsz?streams=true", W.nats->node[node].http_port),
                   &r) != CORIO_OK ||
        r.status != 200)
        return -1;
    /* Some of its numbers are above INT64_MAX (reserved_memory: -1 as unsigned). */
    json_t *j = json_loads(r.body, JSON_DECODE_INT_AS_REAL, NULL);
    long v = -1;
    json_t *acc = json_object_get(j, "account_details");
    for (size_t a = 0; a < json_array_size(acc); a++) {
        json_t *sd = json_object_get(json_array_get(acc, a), "stream_detail");
        for (size_t s = 0; s < json_array_size(sd); s++) {
            json_t *st = json_array_get(sd, s);
            const char *name = json_string_value(json_object_get(st, "name"));
            if (name && strcmp(name, "CORIO_BATCHES") == 0)
                v = (long)json_number_value(
                    json_object_get(json_object_get(st, "state"), "messages"));
        }
    }
    json_decref(j);
    return v;
}

/* The server name of the stream's leader as node sees it, or NULL. */
static inline const char *stream_leader(int node)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/jsz?streams=true", W.nats->node[node].http_port),
                   &r) != CORIO_OK ||
        r.status != 200)
        return NULL;
    json_t *j = json_loads(r.body, JSON_DECODE_INT_AS_REAL, NULL);
    const char *leader = NULL;
    json_t *acc = json_object_get(j, "account_details");
    for (size_t a = 0; a < json_array_size(acc); a++) {
        json_t *sd = json_object_get(json_array_get(acc, a), "stream_detail");
        for (size_t s = 0; s < json_array_size(sd); s++) {
            json_t *st = json_array_get(sd, s);
            const char *l =
                json_string_value(json_object_get(json_object_get(st, "cluster"), "leader"));
            const char *name = json_string_value(json_object_get(st, "name"));
            if (name && strcmp(name, "CORIO_BATCHES") == 0 && l)
                leader = h_strf("%s", l);
        }
    }
    json_decref(j);
    return leader;
}

#endif /* CORIO_TEST_CLOUD_NATS_WORLD_H */
