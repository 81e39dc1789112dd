/*
 * test_downlink_ledger.c - a registry change on the ledger reaches a gateway through the
 * cloud (docs/downlink.md, "Registry relay"): a real single-node corio-ledger running
 * the contracts (driven by the `corio` command line, as test_ledger_contracts.c does),
 * corio-cloud following it, corio-gateway trusting the node's tree-head key, and a
 * `corio sim` device claimed on the ledger. The gateway starts from a registry fetched
 * by hand; the cloud relays the ledger's registry to it; the device connects; its
 * revocation on the ledger is relayed as an update the gateway checks against the
 * blocks (a signed tree head, the hash chain from the last block it applied, the
 * revocation transaction), applies to its registry file, and the plugin disconnects the
 * device.
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

#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "corio/topic.h"
#include "crypto_openssl.h"
#include "harness.h"

struct run {
    int status;
    const char *out;
};

static struct run cli_run(const char *const *args)
{
    const char *argv[48] = {h_bin("corio")};
    size_t n = 1;
    for (; args[n - 1]; n++) {
        assert_true(n < 47);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    char *out = NULL;
    struct run r;
    r.status = h_run("corio", argv, NULL, 30000, &out);
    r.out = out ? out : "";
    return r;
}

#define CLI(...) cli_run((const char *const[]){__VA_ARGS__, NULL})
#define CLI_OK(...)                                                                                \
    ({                                                                                             \
        struct run r_ = CLI(__VA_ARGS__);                                                          \
        if (r_.status != 0)                                                                        \
            fail_msg("corio exited %d:\n%s", r_.status, r_.out);                                   \
        r_;                                                                                        \
    })

static const char *line_value(const char *out, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, name, nl) && p[nl] == ' ') {
            const char *v = p + nl + 1;
            return h_strf("%.*s", (int)strcspn(v, "\n"), v);
        }
    }
    fail_msg("no '%s' line in:\n%s", name, out);
    return NULL;
}

struct ident {
    const char *key, *did, *didkey, *id;
};

/* An identity from a key file (made with `corio key new` when absent). */
static struct ident ident_of(const char *key)
{
    struct ident x = {.key = key};
    struct run r = CLI_OK("did", "show", key);
    x.did = line_value(r.out, "did");
    x.didkey = line_value(r.out, "didkey");
    x.id = line_value(r.out, "id");
    return x;
}

static struct ident ident_new(const char *name)
{
    const char *key = h_strf("%s/%s.key", h_dir(), name);
    CLI_OK("key", "new", "--out", key);
    return ident_of(key);
}

static json_t *get_json(const char *url)
{
    struct h_http_resp r;
    assert_int_equal(h_http_get(url, &r), CORIO_OK);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", url, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    return j;
}

static bool ledger_leads(void *arg)
{
    json_t *j = get_json(h_strf("%s/api/v1/status", (const char *)arg));
    bool ok = !strcmp(json_string_value(json_object_get(j, "role")) ?: "", "leader");
    json_decref(j);
    return ok;
}

static uint64_t ledger_height(const char *url)
{
    json_t *j = get_json(h_strf("%s/healthz", url));
    uint64_t h = (uint64_t)json_integer_value(json_object_get(j, "height"));
    json_decref(j);
    return h;
}

/* Claims a device or gateway for the organisation with its EAT. */
static void claim(const char *url, const struct ident *org, const struct ident *dev,
                  const char *kind, const char *secret, const char *ledger, const char *exp,
                  const char *gateway)
{
    const char *nonce =
        h_strf("%.64s", CLI_OK("device", "claim-nonce", "--org", org->id, secret).out);
    struct run r = CLI_OK("eat", "make", "--key", dev->key, "--aud", org->id, "--nonce", nonce);
    const char *eat = h_strf("%.*s", (int)strcspn(r.out, "\n"), r.out);
    const char *out = h_strf("claim-%s.cbor", dev->id);
    if (gateway)
        r = CLI_OK("device", "claim", "--org", org->id, "--device-key", dev->didkey, "--eat", eat,
                   "--class", "sim-sensor", "--model", "sim-1", "--hw", "a", "--kind", kind,
                   "--gateway", gateway, "--key", org->key, "--ledger", ledger, "--expires", exp,
                   "--out", out, "--node", url);
    else
        r = CLI_OK("device", "claim", "--org", org->id, "--device-key", dev->didkey, "--eat", eat,
                   "--class", "gateway", "--model", "gw-1", "--hw", "a", "--kind", kind, "--key",
                   org->key, "--ledger", ledger, "--expires", exp, "--out", out, "--node", url);
    assert_non_null(strstr(r.out, "\"accepted\""));
}

static double metric(int port, const char *name)
{
    struct h_http_resp resp;
    if (h_http_get(h_strf("http://127.0.0.1:%d/metrics", port), &resp) != CORIO_OK ||
        resp.status != 200)
        return -1;
    size_t n = strlen(name);
    for (const char *p = resp.body; (p = strstr(p, name)); p += n)
        if ((p == resp.body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static bool device_online(const char *url, bool want)
{
    struct h_http_resp r;
    if (h_http_get(url, &r) != CORIO_OK || r.status != 200)
        return false;
    json_t *j = json_loads(r.body, 0, NULL);
    bool ok = j && json_is_true(json_object_get(j, "online")) == want;
    json_decref(j);
    return ok;
}

/* The gateway reports the registry height the cloud relayed last. */
static bool gateway_caught_up(const char *api)
{
    json_t *j = get_json(api);
    json_t *g = json_array_get(json_object_get(j, "gateways"), 0);
    json_t *h = json_object_get(g, "registry_height"),
           *want = json_object_get(j, "registry_height");
    bool ok = json_is_integer(h) && json_is_integer(want) &&
              json_integer_value(h) == json_integer_value(want);
    json_decref(j);
    return ok;
}

static void a_revocation_on_the_ledger_disconnects_the_device_at_the_gateway(void **state)
{
    (void)state;
    const char *dir = h_dir();
    struct ident org = ident_new("org");
    int http_port = h_free_port(), raft_port = h_free_port();
    const char *url = h_strf("http://127.0.0.1:%d", http_port);

    /* The ledger: one node, the contracts, a genesis founding the organisation. */
    const char *gfile = h_strf("%s/genesis.json", dir);
    h_write_file(gfile, h_strf("{\"name\": \"relay ledger\", \"orgs\": [{\"key\": \"%s\", "
                               "\"name\": \"Org\", \"node\": 1, \"address\": \"127.0.0.1:%d\", "
                               "\"api\": \"%s\"}]}",
                               org.didkey, raft_port, url));
    struct run r = CLI_OK("org", "genesis", "--file", gfile, "--key", org.key, "--expires", "100",
                          "--out", "genesis.cbor");
    const char *ledger = line_value(r.out, "id");
    const char *lconf = h_strf("node_id 1\nraft_address 127.0.0.1:%d\nlisten 127.0.0.1:%d\n"
                               "data_dir %s/node\nempty_block_interval 300ms\n"
                               "membership_grace 1h\ngenesis_id %s\n",
                               raft_port, http_port, dir, ledger);
    struct h_daemon_opts lo = {
        .config = lconf, .ready_url = h_strf("%s/healthz", url), .timeout_ms = 20000};
    struct h_proc *node = h_daemon_start("corio-ledger", &lo);
    assert_non_null(node);
    assert_int_equal(h_wait_until(ledger_leads, (void *)url, 20000), CORIO_OK);
    CLI_OK("ledger", "submit", "--node", url, "genesis.cbor");
    const char *exp = h_strf("%llu", (unsigned long long)ledger_height(url) + 5000);

    /* The gateway and a sim device, claimed on the ledger by the organisation. */
    struct corio_key gwk;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &gwk),
                     CORIO_OK);
    const char *gw_pem = h_strf("%s/gateway.pem", dir);
    assert_int_equal(corio_openssl_key_write_pem(&gwk, gw_pem), CORIO_OK);
    corio_key_close(&gwk);
    struct ident gw = ident_of(gw_pem);
    claim(url, &org, &gw, "gateway", "gw-secret", ledger, exp, NULL);
    const char *simdir = h_strf("%s/sim", dir);
    const char *prov[] = {h_bin("corio"), "sim",  "provision", "--devices", "1",
                          "--dir",        simdir, "--org",     org.id,      NULL};
    char *pout = NULL;
    assert_int_equal(h_run("corio-provision", prov, NULL, 20000, &pout), 0);
    const char *p = strstr(pout, "device ");
    assert_non_null(p);
    const char *dev_id = h_strf("%.24s", p + 7);
    struct ident dev = ident_of(h_strf("%s/%s.pem", simdir, dev_id));
    assert_string_equal(dev.id, dev_id);
    claim(url, &org, &dev, "device", "dev-secret", ledger, exp, gw.id);

    /* The node's tree-head key, which the gateway trusts. */
    json_t *th = get_json(h_strf("%s/api/v1/tree-head", url));
    const char *hexkey = json_string_value(json_object_get(th, "key"));
    assert_non_null(hexkey);
    uint8_t comp[33], full[65];
    for (int i = 0; i < 33; i++)
        sscanf(hexkey + 2 * i, "%2hhx", &comp[i]);
    json_decref(th);
    assert_int_equal(corio_p256_decompress(comp, full), CORIO_OK);
    char node_didkey[CORIO_DIDKEY_BUF];
    assert_true(corio_didkey_format(full, sizeof full, node_didkey, sizeof node_didkey) > 0);

    /* The gateway's registry: the export as it is now, fetched by hand. */
    struct h_http_resp reg;
    assert_int_equal(h_http_get(h_strf("%s/api/v1/contracts/registry", url), &reg), CORIO_OK);
    assert_int_equal(reg.status, 200);
    assert_non_null(strstr(reg.body, dev.id));
    const char *registry = h_strf("%s/registry", dir);
    assert_int_equal(h_write_file(registry, reg.body), 0);

    /* The cloud follows the ledger; the gateway trusts the cloud and the node. */
    struct corio_key ck;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &ck),
                     CORIO_OK);
    assert_int_equal(corio_openssl_key_write_pem(&ck, h_strf("%s/downlink.pem", dir)), CORIO_OK);
    uint8_t cpub[65];
    char cloud_didkey[CORIO_DIDKEY_BUF];
    assert_int_equal(corio_key_public(&ck, cpub), CORIO_OK);
    corio_didkey_format(cpub, sizeof cpub, cloud_didkey, sizeof cloud_didkey);
    corio_key_close(&ck);
    struct h_mosq *mosq = h_mosq_start(NULL);
    assert_non_null(mosq);
    int cloud_http = h_free_port();
    const char *cconf = h_strf("org %s\ndatabase %s/cloud.db\nhttp_port %d\nbroker_port %d\n"
                               "web_root %s\ndownlink_key %s/downlink.pem\nresend_min 1s\n"
                               "resend_max 2s\nledger_url %s\nledger_poll 300ms\n",
                               org.id, dir, cloud_http, mosq->port, dir, dir, url);
    struct h_daemon_opts co = {.config = cconf,
                               .ready_url = h_strf("http://127.0.0.1:%d/healthz", cloud_http),
                               .ready_log = "connected to the broker"};
    struct h_proc *cloud = h_daemon_start("corio-cloud", &co);
    assert_non_null(cloud);
    assert_int_equal(h_proc_wait_log(cloud, "registry export from the ledger", h_ms(20000)),
                     CORIO_OK);

    int device_port = h_free_port(), gw_http = h_free_port();
    const char *env_lines = h_broker_env_conf();
    const char *gconf =
        h_strf("gateway_id %s\nkey %s\noutbox %s/outbox.db\nregistry %s\ncloud_port %d\n"
               "cloud_keepalive 5s\nack_timeout 2s\nloopback_port %d\nmqtt_address 127.0.0.1\n"
               "mqtt_port %d\nmqtts_port 0\nhttp_port %d\nbroker_dir %s/broker\ncloud_key %s\n"
               "ledger_key %s\nstate_interval 1s\nlog_level info\n%s",
               gw.id, gw_pem, dir, registry, mosq->port, h_free_port(), device_port, gw_http, dir,
               cloud_didkey, node_didkey, env_lines);
    struct h_daemon_opts go = {.config = gconf, .ready_port = device_port};
    struct h_proc *gateway = h_daemon_start("corio-gateway", &go);
    assert_non_null(gateway);

    /* The device connects and its messages reach the cloud (which knows it from the
     * ledger); the gateway catches up with the registry the cloud holds. */
    const char *argv[] = {h_bin("corio"),
                          "sim",
                          "run",
                          "--dir",
                          simdir,
                          "--gateway",
                          h_strf("127.0.0.1:%d", device_port),
                          "--gateway-id",
                          gw.id,
                          "--rate",
                          "2",
                          "--duration",
                          "600",
                          "--status",
                          "1",
                          "--heartbeat",
                          "1",
                          NULL};
    struct h_proc *sim = h_proc_start("corio-sim", argv, NULL);
    assert_non_null(sim);
    const char *dev_url = h_strf("http://127.0.0.1:%d/api/v1/devices/%s", cloud_http, dev.id);
    bool ok;
    H_POLL(ok, device_online(dev_url, true), 30000);
    assert_true(ok);
    const char *gws = h_strf("http://127.0.0.1:%d/api/v1/gateways", cloud_http);
    H_POLL(ok, gateway_caught_up(gws), 30000);
    assert_true(ok);

    /* The organisation revokes the device on the ledger. */
    CLI_OK("device", "revoke", "--device", dev.id, "--key", org.key, "--ledger", ledger,
           "--expires", exp, "--out", "revoke.cbor", "--node", url);
    /* The relay reaches the gateway, checked against the revocation in its block, and
     * the plugin disconnects the device. */
    assert_int_equal(
        h_proc_wait_log(gateway, h_strf("corio: %s revoked: disconnected", dev.id), h_ms(30000)),
        CORIO_OK);
    assert_true(h_proc_log_contains(gateway, "msg=\"registry updated from the ledger\""));
    assert_true(h_proc_log_contains(gateway, "transactions=1"));
    const char *file = h_read_file(registry, NULL);
    assert_non_null(file);
    const char *line = strstr(file, h_strf("device %s", dev.id));
    assert_non_null(line);
    assert_true(strstr(line, "revoked=yes") && strstr(line, "revoked=yes") < strchr(line, '\n'));
    assert_true(metric(gw_http, "corio_gateway_registry_applied_total") >= 1);
    assert_true(metric(gw_http, "corio_gateway_registry_refused_total") == 0);
    /* It cannot come back: the cloud sees it offline, and it stays so. */
    H_POLL(ok, device_online(dev_url, false), 30000);
    assert_true(ok);
    H_POLL(ok, gateway_caught_up(gws), 30000);
    assert_true(ok);
    h_proc_stop(sim);
    (void)node;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_revocation_on_the_ledger_disconnects_the_device_at_the_gateway),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
