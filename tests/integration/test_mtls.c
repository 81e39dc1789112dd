/*
 * test_mtls.c - mutual TLS from end to end with certificates made by `corio ca`
 * (DESIGN.md §3, docs/identity.md "Certificates"): the cloud broker - Mosquitto with
 * its ACL, or nats-server's MQTT listener with the users of `corio nats auth` - accepts
 * only clients with a certificate from an organisation's CA it trusts; the real
 * corio-gateway connects with its certificate, the real corio-cloud with its own, and
 * the batches are stored.
 *
 * - A gateway certificate from another organisation's CA is refused at TLS when the
 *   broker does not trust that CA.
 * - When it does (a broker shared by organisations), any trusted CA can mint a
 *   certificate naming any gateway: the batches signed by the wrong key are then
 *   refused by corio-cloud, and a batch naming another organisation's device has that
 *   message rejected (tests/unit/test_cloud_ingest.c, test_foreign_and_unregistered_
 *   devices, covers the rules; here the real programs).
 * - Devices (`corio sim`, over libcorio's POSIX TLS transport) reach the gateway's
 *   mqtts listener and verify its certificate against the trust anchor provisioning
 *   left each of them (DIR/<id>.ca.pem); another organisation's anchor, or another
 *   name, and they refuse it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "corio/error.h"
#include "harness.h"
#include "outbox.h"

/* One organisation: its key, its id, and its CA (made with corio ca new). */
struct org {
    const char *key, *id, *ca_dir, *ca_crt;
};

/* A gateway's identity: key file, short id, did:key. */
struct ident {
    const char *key, *id, *didkey;
};

enum broker_kind { MOSQUITTO, NATS };

struct world {
    struct org a, b;
    struct ident gw_a, gw_b, dev_a, dev_b, svc;
    const char *broker_crt; /* the cloud broker's server certificate (CA A) */
    const char *cloud_crt;  /* corio-cloud's client certificate (CA A) */
    const char *registry;   /* both organisations, their gateways and devices */
    struct h_mosq *mosq;
    struct h_nats *nats;
    struct h_proc *broker; /* whichever runs */
    int broker_port;
    struct h_proc *cloud;
    int cloud_http;
};

static struct world W;

/* ---- the corio command ---- */

static char *corio_v(const char *const *args, int want)
{
    const char *argv[48] = {h_bin("corio")};
    int n = 1;
    for (int i = 0; args[i] && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out = NULL;
    int st = h_run("corio", argv, NULL, 60000, &out);
    if (st != want)
        fail_msg("corio %s %s: status %d, want %d:\n%s", args[0], args[1], st, want,
                 out ? out : "");
    return out ? out : h_strf("%s", "");
}

#define CORIO(want, ...) corio_v((const char *const[]){__VA_ARGS__, NULL}, want)

static const char *field(const char *out, const char *name)
{
    const char *want = h_strf("\n%s ", name);
    const char *text = h_strf("\n%s", out);
    const char *p = strstr(text, want);
    assert_non_null(p);
    p += strlen(want);
    return h_strf("%.*s", (int)strcspn(p, "\n"), p);
}

static struct ident new_ident(const char *name)
{
    struct ident i;
    i.key = h_strf("%s/%s.pem", h_dir(), name);
    const char *out = CORIO(0, "key", "new", "--out", i.key);
    i.id = field(out, "id");
    i.didkey = field(out, "didkey");
    return i;
}

static struct org new_org(const char *name)
{
    struct ident k = new_ident(h_strf("%s-key", name));
    struct org o = {.key = k.key, .id = k.id, .ca_dir = h_strf("%s/%s-ca", h_dir(), name)};
    CORIO(0, "ca", "new", "--org-key", o.key, "--out", o.ca_dir, "--name", name);
    o.ca_crt = h_strf("%s/ca.crt", o.ca_dir);
    return o;
}

/* A certificate from org's CA for key, with extra arguments (role, names). */
static const char *issue(const struct org *o, const char *key, const char *name, const char *role,
                         const char *extra1, const char *extra2)
{
    const char *crt = h_strf("%s/%s.crt", h_dir(), name);
    if (extra1 && extra2)
        CORIO(0, "ca", "sign", "--ca", o->ca_dir, "--key", key, "--role", role, "--out", crt,
              extra1, extra2);
    else
        CORIO(0, "ca", "sign", "--ca", o->ca_dir, "--key", key, "--role", role, "--out", crt);
    return crt;
}

static const char *concat_files(const char *name, const char *a, const char *b)
{
    const char *path = h_strf("%s/%s", h_dir(), name);
    const char *ta = h_read_file(a, NULL), *tb = b ? h_read_file(b, NULL) : "";
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_equal(h_write_file(path, h_strf("%s%s", ta, tb)), CORIO_OK);
    return path;
}

/* ---- the world: two organisations, the cloud broker, corio-cloud ---- */

static void identities(void)
{
    memset(&W, 0, sizeof W);
    W.a = new_org("org-a");
    W.b = new_org("org-b");
    W.gw_a = new_ident("gw-a");
    W.gw_b = new_ident("gw-b");
    W.dev_a = new_ident("dev-a");
    W.dev_b = new_ident("dev-b");
    W.svc = new_ident("cloud");
    /* The broker's server certificate and corio-cloud's client certificate, from
     * organisation A's CA (A runs the cloud). */
    W.broker_crt = h_strf("%s/broker.crt", h_dir());
    CORIO(0, "ca", "sign", "--ca", W.a.ca_dir, "--key", W.svc.key, "--role", "cloud", "--dns",
          "localhost", "--ip", "127.0.0.1", "--cn", "cloud-broker", "--out", W.broker_crt);
    W.cloud_crt = issue(&W.a, W.svc.key, "cloud-client", "cloud", NULL, NULL);
    W.registry = h_strf("%s/registry", h_dir());
    assert_int_equal(
        h_write_file(W.registry, h_strf("height 1\norg %s A\norg %s B\n"
                                        "gateway %s org=%s key=%s key_no=0\n"
                                        "gateway %s org=%s key=%s key_no=0\n"
                                        "device %s org=%s key=%s gateway=%s\n"
                                        "device %s org=%s key=%s gateway=%s\n",
                                        W.a.id, W.b.id, W.gw_a.id, W.a.id, W.gw_a.didkey, W.gw_b.id,
                                        W.b.id, W.gw_b.didkey, W.dev_a.id, W.a.id, W.dev_a.didkey,
                                        W.gw_a.id, W.dev_b.id, W.b.id, W.dev_b.didkey, W.gw_b.id)),
        CORIO_OK);
}

/* The cloud broker requiring a client certificate from a CA of the bundle. Both name
 * each client by its certificate and hold it to its own topics: Mosquitto by the CN and
 * an ACL, nats-server by the URI SAN (or subject) and its users' permissions. */
static void broker_up(enum broker_kind kind, const char *bundle)
{
    if (kind == MOSQUITTO) {
        const char *acl = h_strf("%s/acl", h_dir());
        assert_int_equal(h_write_file(acl, h_strf("pattern write corio/v1/g/%%u/batch\n"
                                                  "pattern write corio/v1/g/%%u/state\n"
                                                  "pattern write corio/v1/g/%%u/status\n"
                                                  "pattern read corio/v1/g/%%u/ack\n"
                                                  "pattern read corio/v1/g/%%u/down\n"
                                                  "user corio-cloud-%s\n"
                                                  "topic read corio/v1/g/+/batch\n"
                                                  "topic read corio/v1/g/+/state\n"
                                                  "topic read corio/v1/g/+/status\n"
                                                  "topic write corio/v1/g/+/ack\n"
                                                  "topic write corio/v1/g/+/down\n",
                                                  W.a.id)),
                         CORIO_OK);
        struct h_mosq_opts mo = {.listeners = 1,
                                 .listener[0] = {.certfile = W.broker_crt,
                                                 .keyfile = W.svc.key,
                                                 .cafile = bundle,
                                                 .require_certificate = true,
                                                 .extra = "use_identity_as_username true\n"
                                                          "use_username_as_clientid true"},
                                 .deny_anonymous = true,
                                 .extra = h_strf("acl_file %s", acl)};
        W.mosq = h_mosq_start(&mo);
        assert_non_null(W.mosq);
        W.broker = W.mosq->proc;
        W.broker_port = W.mosq->port;
    } else {
        /* The users `corio nats auth` writes from the registry: corio-cloud, on bus
         * mosquitto, by its certificate's subject; each gateway by its URI SAN. */
        const char *auth = h_strf("%s/nats-auth.conf", h_dir());
        CORIO(0, "nats", "auth", "--org", W.a.id, "--registry", W.registry, "--cloud-cert",
              W.cloud_crt, "--bus", "mosquitto", "--out", auth);
        struct h_nats_opts no = {.mqtt = true,
                                 .mqtt_tls = true,
                                 .certfile = W.broker_crt,
                                 .keyfile = W.svc.key,
                                 .cafile = bundle,
                                 .verify = true,
                                 .auth = h_read_file(auth, NULL)};
        W.nats = h_nats_start(&no);
        assert_non_null(W.nats);
        W.broker = W.nats->node[0].proc;
        W.broker_port = W.nats->node[0].mqtt_port;
    }
    /* No certificate, no connection. */
    struct h_mqtt_opts anon = {.client_id = "anon", .cafile = W.a.ca_crt, .timeout_ms = 2000};
    assert_null(h_mqtt_connect(W.broker_port, &anon));
}

static void cloud_up(void)
{
    W.cloud_http = h_free_port();
    const char *conf = h_strf("org %s\ndatabase %s/cloud.db\nregistry %s\nhttp_port %d\n"
                              "web_root %s\nbroker_port %d\nbroker_tls_ca %s\n"
                              "broker_tls_cert %s\nbroker_tls_key %s\n",
                              W.a.id, h_dir(), W.registry, W.cloud_http, h_dir(), W.broker_port,
                              W.a.ca_crt, W.cloud_crt, W.svc.key);
    struct h_daemon_opts co = {.config = conf,
                               .ready_url = h_strf("http://127.0.0.1:%d/healthz", W.cloud_http),
                               .ready_log = "connected to the broker",
                               .timeout_ms = 20000};
    W.cloud = h_daemon_start("corio-cloud", &co);
    assert_non_null(W.cloud);
}

static void world_up(enum broker_kind kind, bool shared)
{
    identities();
    /* The broker trusts organisation A's CA; a shared one B's too. */
    const char *bundle = concat_files("ca-bundle.pem", W.a.ca_crt, shared ? W.b.ca_crt : NULL);
    broker_up(kind, bundle);
    cloud_up();
}

/* ---- gateways ---- */

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* An outbox with n SenML packs of dev, written as the gateway's plugin would: the id of
 * its last row. */
static int64_t outbox_with(const char *path, const char *gw_id, const char *dev, int n)
{
    corio_outbox *ob;
    char err[256];
    struct corio_outbox_options oo = {.path = path, .gateway = gw_id, .max_bytes = 64 << 20};
    if (corio_outbox_open(&oo, &ob, err, sizeof err) != CORIO_OK)
        fail_msg("outbox: %s", err);
    int64_t last = 0, now = wall_ms();
    for (int seq = 1; seq <= n; seq++) {
        const char *p = h_strf("[{\"bn\":\"urn:corio:%s:\",\"bt\":%lld,\"ep\":1,\"seq\":%d,"
                               "\"n\":\"temp\",\"u\":\"Cel\",\"v\":%d}]",
                               dev, (long long)(now / 1000 - n + seq), seq, seq);
        assert_int_equal(corio_outbox_append(ob, dev, "up/json", now, 0, p, strlen(p), &last),
                         CORIO_OK);
    }
    corio_outbox_close(ob);
    return last;
}

struct gw {
    struct h_proc *proc;
    const char *outbox, *watermark;
    int http;
};

/* corio-gateway forwarding an outbox (its broker not run: the test wrote the outbox)
 * with TLS to the cloud broker, its certificate and key. */
static struct gw gateway_up(const char *name, const char *id, const char *key, const char *crt,
                            const char *outbox, const char *ready_log)
{
    struct gw g = {
        .outbox = outbox, .watermark = h_strf("%s.watermark", outbox), .http = h_free_port()};
    const char *conf = h_strf("gateway_id %s\nkey %s\noutbox %s\ncloud_port %d\n"
                              "cloud_tls_ca %s\ncloud_tls_cert %s\n"
                              "batch_messages 7\nwindow 3\nack_timeout 1s\nhttp_port %d\n"
                              "run_broker false\nlog_level info\n",
                              id, key, outbox, W.broker_port, W.a.ca_crt, crt, g.http);
    (void)name;
    struct h_daemon_opts go = {.config = conf, .ready_log = ready_log, .timeout_ms = 20000};
    g.proc = h_daemon_start("corio-gateway", &go);
    assert_non_null(g.proc);
    return g;
}

static bool watermark_at_least(const struct gw *g, int64_t id, int timeout_ms)
{
    uint64_t epoch;
    int64_t at = -1;
    bool ok;
    H_POLL(ok, corio_watermark_read(g->watermark, &epoch, &at) == CORIO_OK && at >= id, timeout_ms);
    return ok;
}

/* A sample of a /metrics page ("name" or "name{labels}"), or -1. */
static double metric_at(int port, const char *series)
{
    struct h_http_resp resp;
    if (h_http_get(h_strf("http://127.0.0.1:%d/metrics", port), &resp) != CORIO_OK ||
        resp.status != 200)
        return -1;
    size_t n = strlen(series);
    for (const char *p = resp.body; (p = strstr(p, series)); p += n)
        if ((p == resp.body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static json_t *cloud_json(const char *path)
{
    struct h_http_resp resp;
    assert_int_equal(h_http_get(h_strf("http://127.0.0.1:%d%s", W.cloud_http, path), &resp),
                     CORIO_OK);
    assert_int_equal(resp.status, 200);
    json_t *j = json_loads(resp.body, 0, NULL);
    assert_non_null(j);
    return j;
}

static json_int_t stat_of(const char *name)
{
    json_t *s = cloud_json("/api/v1/stats");
    json_int_t v = json_integer_value(json_object_get(s, name));
    json_decref(s);
    return v;
}

/* Packs stored, over every device. */
static json_int_t packs_stored(void)
{
    json_t *all = cloud_json("/api/v1/devices");
    json_int_t n = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(all, "devices"), i, d) n +=
        json_integer_value(json_object_get(d, "messages"));
    json_decref(all);
    return n;
}

static json_int_t device_messages(const char *dev)
{
    json_t *d = cloud_json(h_strf("/api/v1/devices/%s", dev));
    json_int_t v = json_integer_value(json_object_get(d, "messages"));
    json_decref(d);
    return v;
}

/* ---- the tests ---- */

/* Organisation A's gateway with its certificate: every row stored once. */
static void own_certificate_stored(enum broker_kind kind)
{
    world_up(kind, false);
    const char *crt = issue(&W.a, W.gw_a.key, "gw-a", "gateway", NULL, NULL);
    const char *outbox = h_strf("%s/gw-a-outbox.db", h_dir());
    int64_t last = outbox_with(outbox, W.gw_a.id, W.dev_a.id, 30);
    struct gw g =
        gateway_up("gw-a", W.gw_a.id, W.gw_a.key, crt, outbox, "connected to the cloud broker");
    assert_true(watermark_at_least(&g, last, 40000));
    assert_int_equal(device_messages(W.dev_a.id), 30);
    assert_int_equal(stat_of("rejected"), 0);
    assert_true(metric_at(g.http, "corio_gateway_uplink_connects_total") >= 1);
}

/* A certificate from organisation B's CA, which the broker does not trust: the
 * handshake fails, the gateway says so and never connects, nothing reaches the cloud. */
static void untrusted_ca_refused_at_tls(enum broker_kind kind)
{
    world_up(kind, false);
    const char *crt = issue(&W.b, W.gw_b.key, "gw-b", "gateway", NULL, NULL);
    /* The test's own client with that certificate is refused too. */
    struct h_mqtt_opts mo = {.client_id = W.gw_b.id,
                             .cafile = W.a.ca_crt,
                             .certfile = crt,
                             .keyfile = W.gw_b.key,
                             .timeout_ms = 2000};
    assert_null(h_mqtt_connect(W.broker_port, &mo));
    const char *outbox = h_strf("%s/gw-b-outbox.db", h_dir());
    outbox_with(outbox, W.gw_b.id, W.dev_b.id, 5);
    struct gw g =
        gateway_up("gw-b", W.gw_b.id, W.gw_b.key, crt, outbox, "TLS with the cloud broker failed");
    /* The broker refused the certificate (Mosquitto: OpenSSL's "certificate verify
     * failed"; nats-server: its TLS handshake error). */
    assert_int_equal(
        h_proc_wait_log(W.broker,
                        kind == MOSQUITTO ? "certificate verify failed" : "TLS handshake error",
                        10000),
        CORIO_OK);
    assert_int_equal(metric_at(g.http, "corio_gateway_uplink_connects_total"), 0);
    assert_int_equal(metric_at(g.http, "corio_gateway_uplink_up"), 0);
    assert_int_equal(metric_at(W.cloud_http, "corio_cloud_batches_received_total"), 0);
    assert_true(h_proc_alive(g.proc));
}

/* A broker shared with organisation B trusts B's CA. B's CA mints a certificate that
 * names A's gateway for B's own key; the TLS connection and the broker's rights let it
 * through, but its batches are signed by B's key: corio-cloud refuses them. B's real
 * gateway relays a message of A's device: that message is rejected, B's own stored. */
static void shared_broker_signed_batches_decide(enum broker_kind kind)
{
    world_up(kind, true);
    const char *forged = issue(&W.b, W.gw_b.key, "forged-gw-a", "gateway", "--did",
                               h_strf("did:corio:%s", W.gw_a.id));
    const char *outbox = h_strf("%s/forged-outbox.db", h_dir());
    outbox_with(outbox, W.gw_a.id, W.dev_a.id, 5);
    struct gw rogue =
        gateway_up("rogue", W.gw_a.id, W.gw_b.key, forged, outbox, "connected to the cloud broker");
    bool ok;
    H_POLL(ok,
           metric_at(W.cloud_http, "corio_cloud_batches_rejected_total{reason=\"signature\"}") >= 1,
           20000);
    assert_true(ok);
    assert_int_equal(metric_at(W.cloud_http, "corio_cloud_batches_acked_total"), 0);
    assert_int_equal(stat_of("messages"), 0);
    assert_true(h_proc_log_contains(W.cloud, "signature does not verify"));
    uint64_t epoch;
    int64_t at = -1;
    assert_true(corio_watermark_read(rogue.watermark, &epoch, &at) != CORIO_OK || at <= 0);
    assert_int_equal(h_proc_stop(rogue.proc), 0);

    /* B's own gateway, with its own certificate, relays one message of A's device among
     * its device's: the batch is committed and acknowledged, A's message rejected. */
    const char *crt_b = issue(&W.b, W.gw_b.key, "gw-b", "gateway", NULL, NULL);
    const char *ob = h_strf("%s/gw-b-outbox.db", h_dir());
    corio_outbox *o;
    char err[256];
    struct corio_outbox_options oo = {.path = ob, .gateway = W.gw_b.id, .max_bytes = 64 << 20};
    if (corio_outbox_open(&oo, &o, err, sizeof err) != CORIO_OK)
        fail_msg("outbox: %s", err);
    int64_t last = 0, now = wall_ms();
    for (int i = 1; i <= 3; i++) {
        const char *dev = i == 2 ? W.dev_a.id : W.dev_b.id;
        int seq = i == 3 ? 2 : 1;
        const char *p = h_strf("[{\"bn\":\"urn:corio:%s:\",\"bt\":%lld,\"ep\":1,\"seq\":%d,"
                               "\"n\":\"temp\",\"v\":%d}]",
                               dev, (long long)(now / 1000), seq, i);
        assert_int_equal(corio_outbox_append(o, dev, "up/json", now, 0, p, strlen(p), &last),
                         CORIO_OK);
    }
    corio_outbox_close(o);
    struct gw gb =
        gateway_up("gw-b", W.gw_b.id, W.gw_b.key, crt_b, ob, "connected to the cloud broker");
    assert_true(watermark_at_least(&gb, last, 40000));
    /* The API shows organisation A's view: its device got nothing. B's rows are counted
     * by the metrics (this corio-cloud serves A; B's data is B's). */
    assert_int_equal(device_messages(W.dev_a.id), 0);
    assert_int_equal(metric_at(W.cloud_http, "corio_cloud_messages_total{result=\"new\"}"), 2);
    assert_int_equal(metric_at(W.cloud_http, "corio_cloud_messages_total{result=\"rejected\"}"), 1);
    assert_true(metric_at(W.cloud_http, "corio_cloud_batches_acked_total") >= 1);
}

static void mosquitto_own_certificate(void **state)
{
    (void)state;
    own_certificate_stored(MOSQUITTO);
}

static void mosquitto_untrusted_ca(void **state)
{
    (void)state;
    untrusted_ca_refused_at_tls(MOSQUITTO);
}

static void mosquitto_shared_broker(void **state)
{
    (void)state;
    shared_broker_signed_batches_decide(MOSQUITTO);
}

static void nats_own_certificate(void **state)
{
    (void)state;
    own_certificate_stored(NATS);
}

static void nats_untrusted_ca(void **state)
{
    (void)state;
    untrusted_ca_refused_at_tls(NATS);
}

static void nats_shared_broker(void **state)
{
    (void)state;
    shared_broker_signed_batches_decide(NATS);
}

/* ---- devices to the gateway ---- */

/* Devices verify the gateway's certificate with the trust anchor provisioning left
 * them, over the whole path: sim → mqtts → gateway → mutual TLS → cloud broker →
 * corio-cloud. */
static void devices_verify_the_gateway(void **state)
{
    (void)state;
    identities();
    /* One certificate for the gateway's key serves its devices (a DNS name they know)
     * and identifies it to the cloud broker. */
    const char *crt = issue(&W.a, W.gw_a.key, "gw-a", "gateway", "--dns", "localhost");
    const char *devdir = h_strf("%s/devices", h_dir());
    const char *lines = h_strf("%s/devices.reg", h_dir());
    /* Each provisioned with its trust anchor for the gateway, the organisation's CA. */
    CORIO(0, "sim", "provision", "--devices", "3", "--dir", devdir, "--org", W.a.id,
          "--gateway-ca", W.a.ca_crt, "--registry-out", lines);
    /* The trust anchor, where provisioning leaves it. */
    const char *reg = h_read_file(lines, NULL);
    assert_non_null(reg);
    const char *registry = h_strf("%s/registry-with-devices", h_dir());
    assert_int_equal(h_write_file(registry, h_strf("%s%s", h_read_file(W.registry, NULL),
                                                   h_read_file(lines, NULL))),
                     CORIO_OK);
    W.registry = registry;
    broker_up(MOSQUITTO, W.a.ca_crt);
    cloud_up();

    int mqtts = h_free_port();
    const char *env_lines = h_broker_env_conf();
    const char *conf =
        h_strf("gateway_id %s\nkey %s\noutbox %s/outbox.db\nregistry %s\n"
               "cloud_port %d\ncloud_tls_ca %s\ncloud_tls_cert %s\n"
               "loopback_port 0\nmqtt_address 127.0.0.1\nmqtt_port 0\nmqtts_port %d\n"
               "tls_cert %s\ncoaps_port 0\nhttp_port %d\nbroker_dir %s/broker\n"
               "ack_timeout 2s\nlog_level info\n%s",
               W.gw_a.id, W.gw_a.key, h_dir(), registry, W.broker_port, W.a.ca_crt, crt, mqtts, crt,
               h_free_port(), h_dir(), env_lines);
    struct h_daemon_opts go = {.config = conf, .ready_port = mqtts, .timeout_ms = 20000};
    struct h_proc *gw = h_daemon_start("corio-gateway", &go);
    assert_non_null(gw);
    assert_int_equal(h_proc_wait_log(gw, "connected to the cloud broker", 20000), CORIO_OK);

    /* Verified against the provisioned anchor, by its DNS name. */
    const char *gwaddr = h_strf("127.0.0.1:%d", mqtts);
    const char *summary = h_strf("%s/summary.json", h_dir());
    char *out = CORIO(0, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id",
                      W.gw_a.id, "--tls", "--server-name", "localhost", "--count", "5", "--rate",
                      "20", "--heartbeat", "0", "--status", "0", "--summary", summary);
    if (!strstr(out, "sim devices=3 sent=15 acked=15 pending=0"))
        fail_msg("sim: %s", out);
    bool ok;
    H_POLL(ok, packs_stored() == 15, 30000);
    assert_true(ok);
    assert_int_equal(stat_of("rejected"), 0);
    /* Reboots and lost connections: every new TLS session verifies again, and nothing
     * is lost or doubled. */
    out = CORIO(0, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id", W.gw_a.id,
                "--tls", "--server-name", "localhost", "--count", "10", "--rate", "10",
                "--reboot-every", "0.4", "--netloss-every", "0.5", "--seed", "3", "--heartbeat",
                "0", "--status", "0", "--summary", summary);
    if (!strstr(out, "sim devices=3 sent=30 acked=30 pending=0"))
        fail_msg("sim: %s", out);
    H_POLL(ok, packs_stored() == 45, 30000);
    assert_true(ok);
    json_error_t jerr;
    json_t *sum = json_load_file(summary, 0, &jerr);
    assert_non_null(sum);
    assert_true(json_integer_value(json_object_get(sum, "boots")) > 3);
    assert_true(json_integer_value(json_object_get(sum, "netlosses")) > 0);
    json_decref(sum);

    /* Another organisation's anchor: the devices refuse the gateway, nothing is sent. */
    out = CORIO(1, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id", W.gw_a.id,
                "--ca", W.b.ca_crt, "--server-name", "localhost", "--count", "1", "--heartbeat",
                "0", "--status", "0", "--drain-timeout", "1");
    assert_non_null(strstr(out, "TLS with the gateway failed: its certificate does not verify"));
    assert_non_null(strstr(out, "acked=0"));
    /* The right anchor but a name the certificate does not carry. */
    out =
        CORIO(1, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id", W.gw_a.id,
              "--tls", "--count", "1", "--heartbeat", "0", "--status", "0", "--drain-timeout", "1");
    assert_non_null(strstr(out, "its certificate does not verify"));
    assert_int_equal(packs_stored(), 45);
    /* A trust anchor that is not a certificate; an option without TLS. */
    const char *junk = h_strf("%s/junk.pem", h_dir());
    assert_int_equal(h_write_file(junk, "not a certificate\n"), CORIO_OK);
    CORIO(3, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id", W.gw_a.id, "--ca",
          junk, "--count", "1");
    CORIO(3, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id", W.gw_a.id, "--ca",
          h_strf("%s/none.pem", h_dir()), "--count", "1");
    CORIO(2, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id", W.gw_a.id,
          "--server-name", "localhost", "--count", "1");
    /* A device provisioned without an anchor cannot use TLS. */
    const char *first = strstr(reg, "device ") + 7;
    assert_int_equal(unlink(h_strf("%s/%.24s.ca.pem", devdir, first)), 0);
    out = CORIO(3, "sim", "run", "--dir", devdir, "--gateway", gwaddr, "--gateway-id", W.gw_a.id,
                "--tls", "--server-name", "localhost", "--count", "1");
    assert_non_null(strstr(out, "no trust anchor for the gateway"));
}

/* corio-gateway checks its certificates at start: for its key, naming it. */
static void gateway_refuses_a_certificate_not_its_own(void **state)
{
    (void)state;
    identities();
    const char *other = issue(&W.a, W.gw_b.key, "gw-b", "gateway", NULL, NULL);
    const char *outbox = h_strf("%s/outbox.db", h_dir());
    const char *conf = h_strf("gateway_id %s\nkey %s\noutbox %s\ncloud_port %d\n"
                              "cloud_tls_ca %s\ncloud_tls_cert %s\nrun_broker false\n",
                              W.gw_a.id, W.gw_a.key, outbox, h_free_port(), W.a.ca_crt, other);
    const char *path = h_strf("%s/gw.conf", h_dir());
    assert_int_equal(h_write_file(path, conf), CORIO_OK);
    const char *argv[] = {h_bin("corio-gateway"), "-c", path, NULL};
    char *out;
    assert_int_equal(h_run("corio-gateway", argv, NULL, 20000, &out), 1);
    assert_non_null(strstr(out, "the certificate is for another key"));
    /* For its key but naming another gateway. */
    const char *named =
        issue(&W.a, W.gw_a.key, "gw-a-as-b", "gateway", "--did", h_strf("did:corio:%s", W.gw_b.id));
    assert_int_equal(
        h_write_file(path, h_strf("gateway_id %s\nkey %s\noutbox %s\ncloud_port %d\n"
                                  "cloud_tls_ca %s\ncloud_tls_cert %s\n"
                                  "run_broker false\n",
                                  W.gw_a.id, W.gw_a.key, outbox, h_free_port(), W.a.ca_crt, named)),
        CORIO_OK);
    assert_int_equal(h_run("corio-gateway", argv, NULL, 20000, &out), 1);
    assert_non_null(strstr(out, h_strf("names did:corio:%s", W.gw_b.id)));
    /* A certificate without its CA. */
    assert_int_equal(h_write_file(path, h_strf("gateway_id %s\nkey %s\noutbox %s\n"
                                               "cloud_tls_cert %s\nrun_broker false\n",
                                               W.gw_a.id, W.gw_a.key, outbox, other)),
                     CORIO_OK);
    assert_int_equal(h_run("corio-gateway", argv, NULL, 20000, &out), 1);
    assert_non_null(strstr(out, "cloud_tls_cert needs cloud_tls_ca"));
}

/* ---- ledger nodes ---- */

/* The role of a ledger node by its /api/v1/status, or "" when it does not answer. */
static const char *ledger_role(int http)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/api/v1/status", http), &r) != CORIO_OK ||
        r.status != 200)
        return "";
    json_t *j = json_loads(r.body, 0, NULL);
    const char *role = h_strf("%s", j ? json_string_value(json_object_get(j, "role")) : "");
    json_decref(j);
    return role;
}

/* Two organisations' ledger nodes, each with a certificate from its own organisation's
 * CA naming its consensus id (corio ca sign --role ledger-node --node-id), each trusting
 * both CAs: the mutual-TLS raft transport accepts them and they elect a leader. */
static void ledger_nodes_of_two_organisations(void **state)
{
    (void)state;
    identities();
    struct org *orgs[2] = {&W.a, &W.b};
    int raft[2], http[2];
    const char *crt[2], *key[2];
    for (int i = 0; i < 2; i++) {
        raft[i] = h_free_port();
        http[i] = h_free_port();
        key[i] = new_ident(h_strf("node-%d", i + 1)).key;
        crt[i] = h_strf("%s/node-%d.crt", h_dir(), i + 1);
        CORIO(0, "ca", "sign", "--ca", orgs[i]->ca_dir, "--key", key[i], "--role", "ledger-node",
              "--node-id", h_strf("%d", i + 1), "--ip", "127.0.0.1", "--out", crt[i]);
    }
    struct h_proc *node[2];
    for (int i = 0; i < 2; i++) {
        const char *conf = h_strf(
            "app null\nnode_id %d\nraft_address 127.0.0.1:%d\nlisten 127.0.0.1:%d\n"
            "data_dir %s/ledger-%d\nelection_timeout 1s\nheartbeat 100ms\n"
            "member 1 127.0.0.1:%d http://127.0.0.1:%d\nmember 2 127.0.0.1:%d http://127.0.0.1:%d\n"
            "tls_cert %s\ntls_key %s\ntls_ca %s\ntls_ca %s\n",
            i + 1, raft[i], http[i], h_dir(), i + 1, raft[0], http[0], raft[1], http[1], crt[i],
            key[i], W.a.ca_crt, W.b.ca_crt);
        struct h_daemon_opts o = {.config = conf,
                                  .ready_url = h_strf("http://127.0.0.1:%d/healthz", http[i]),
                                  .timeout_ms = 20000};
        node[i] = h_daemon_start("corio-ledger", &o);
        assert_non_null(node[i]);
    }
    bool ok;
    H_POLL(ok,
           (strcmp(ledger_role(http[0]), "leader") == 0 &&
            strcmp(ledger_role(http[1]), "follower") == 0) ||
               (strcmp(ledger_role(http[1]), "leader") == 0 &&
                strcmp(ledger_role(http[0]), "follower") == 0),
           30000);
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(mosquitto_own_certificate),
        H_TEST(mosquitto_untrusted_ca),
        H_TEST(mosquitto_shared_broker),
        H_TEST(nats_own_certificate),
        H_TEST(nats_untrusted_ca),
        H_TEST(nats_shared_broker),
        H_TEST(devices_verify_the_gateway),
        H_TEST(gateway_refuses_a_certificate_not_its_own),
        H_TEST(ledger_nodes_of_two_organisations),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
