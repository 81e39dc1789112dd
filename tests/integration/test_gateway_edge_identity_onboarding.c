/*
 * test_gateway_edge_identity_onboarding.c - onboarding end to end (docs/onboarding.md),
 * with real programs only: `corio sim provision` makes devices with claim secrets and
 * trust anchors but registers none; `corio sim run` connects them with corio-eat-v1 to
 * Mosquitto with the corio plugin, which admits them to quarantine only (nothing of
 * theirs in the outbox); `corio device claim <did> <secret>` asks each device through
 * the gateway for its EAT over H(secret ‖ claimant) and registers it on a single-node
 * corio-ledger (a wrong secret gets no answer and registers nothing); the registry
 * exported by the ledger becomes the gateway's registry file; the plugin takes the
 * devices out of quarantine and their telemetry flows; `corio device revoke`
 * decommissions one, which the gateway refuses from then on. A second test rotates the
 * simulated devices' keys mid-run, endorsed by the organisation's key.
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

#include "corio/error.h"
#include "harness.h"
#include "outbox.h"

/* ---- the command line ---------------------------------------------------------------------- */

struct run {
    int status;
    const char *out;
};

static struct run cli_run(const char *const *args, int timeout_ms)
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
    r.status = h_run("corio", argv, NULL, timeout_ms, &out);
    r.out = out ? out : "";
    return r;
}

#define CLI(...) cli_run((const char *const[]){__VA_ARGS__, NULL}, 60000)
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

static struct ident ident_new(const char *name)
{
    struct ident x;
    x.key = h_strf("%s/%s.key", h_dir(), name);
    CLI_OK("key", "new", "--out", x.key);
    struct run r = CLI_OK("did", "show", x.key);
    x.did = line_value(r.out, "did");
    x.didkey = line_value(r.out, "didkey");
    x.id = line_value(r.out, "id");
    return x;
}

/* ---- the ledger ------------------------------------------------------------------------------ */

struct ledger {
    const char *url, *id;
    struct h_proc *p;
};

static json_t *get_json(const char *url)
{
    struct h_http_resp r;
    assert_int_equal(h_http_get(url, &r), CORIO_OK);
    return json_loads(r.body, 0, NULL);
}

static struct ledger ledger_start(const struct ident *org)
{
    struct ledger l;
    int http = h_free_port(), raft = h_free_port();
    l.url = h_strf("http://127.0.0.1:%d", http);
    const char *gfile = h_strf("%s/genesis.json", h_dir());
    h_write_file(gfile, h_strf("{\"name\": \"onboarding\", \"orgs\": [{\"key\": \"%s\", \"name\":"
                               " \"Org A\", \"node\": 1, \"address\": \"127.0.0.1:%d\","
                               " \"api\": \"%s\"}]}",
                               org->didkey, raft, l.url));
    struct run r = CLI_OK("org", "genesis", "--file", gfile, "--key", org->key, "--expires", "100",
                          "--out", "genesis.cbor");
    l.id = line_value(r.out, "id");
    const char *conf = h_strf("node_id 1\nraft_address 127.0.0.1:%d\nlisten 127.0.0.1:%d\n"
                              "data_dir %s/node\nempty_block_interval 100ms\n"
                              "membership_grace 1h\naudit_interval 1s\ngenesis_id %s\n",
                              raft, http, h_dir(), l.id);
    struct h_daemon_opts o = {
        .config = conf, .ready_url = h_strf("%s/healthz", l.url), .timeout_ms = 20000};
    l.p = h_daemon_start("corio-ledger", &o);
    assert_non_null(l.p);
    bool ok;
    H_POLL(ok, ({
               json_t *s = get_json(h_strf("%s/api/v1/status", l.url));
               bool lead = !strcmp(json_string_value(json_object_get(s, "role")) ?: "", "leader");
               json_decref(s);
               lead;
           }),
           20000);
    assert_true(ok);
    CLI_OK("ledger", "submit", "--node", l.url, "genesis.cbor");
    return l;
}

static const char *expires(const struct ledger *l)
{
    json_t *j = get_json(h_strf("%s/healthz", l->url));
    long long h = (long long)json_integer_value(json_object_get(j, "height"));
    json_decref(j);
    return h_strf("%lld", h + 2000);
}

/* The ledger's registry export, written to the gateway's registry file (through a
 * rename, as a fetcher would). Returns its height line. */
static const char *export_registry(const struct ledger *l, const char *path)
{
    struct h_http_resp r;
    assert_int_equal(h_http_get(h_strf("%s/api/v1/contracts/registry", l->url), &r), CORIO_OK);
    assert_int_equal(r.status, 200);
    const char *tmp = h_strf("%s.tmp", path);
    assert_int_equal(h_write_file(tmp, r.body), 0);
    assert_int_equal(rename(tmp, path), 0);
    const char *h = strstr(r.body, "\nheight ");
    assert_non_null(h);
    return h_strf("registry %.*s applied", (int)strcspn(h + 1, "\n"), h + 1);
}

/* ---- the gateway -------------------------------------------------------------------------------
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

static int rows(const char *outbox, const char *device, const char *suffix)
{
    struct corio_outbox_options o = {.path = outbox, .read_only = true, .intake = true};
    corio_outbox *ob;
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &ob, err, sizeof err), CORIO_OK);
    struct count_arg c = {device, suffix, 0};
    assert_true(corio_outbox_read(ob, 0, 1000000, SIZE_MAX, count_row, &c) >= 0);
    corio_outbox_close(ob);
    return c.n;
}

static struct h_mosq *gateway_start(const char *gw, const char *outbox, const char *registry)
{
    const char *opts[] = {h_strf("outbox %s", outbox), h_strf("gateway %s", gw),
                          h_strf("registry %s", registry), "registry_max_age 600", NULL};
    struct h_mosq_opts mo = {
        .plugin = h_lib("corio_mosquitto.so"), .plugin_opts = opts, .deny_anonymous = true};
    struct h_mosq *m = h_mosq_start(&mo);
    assert_non_null(m);
    return m;
}

/* The claim lines of `corio sim provision --claims`: "did:corio:<id> <secret>". */
struct claim {
    char did[64], id[32], secret[80];
};

static int read_claims(const char *path, struct claim *out, int max)
{
    size_t len;
    char *text = h_read_file(path, &len);
    assert_non_null(text);
    int n = 0;
    for (char *l = text; *l && n < max;) {
        char *nl = strchr(l, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_int_equal(sscanf(l, "%63s %79s", out[n].did, out[n].secret), 2);
        assert_int_equal(strncmp(out[n].did, "did:corio:", 10), 0);
        snprintf(out[n].id, sizeof out[n].id, "%s", out[n].did + 10);
        n++;
        l = nl + 1;
    }
    return n;
}

static json_t *summary_device(json_t *summary, const char *id)
{
    json_t *devs = json_object_get(summary, "devices");
    for (size_t i = 0; i < json_array_size(devs); i++) {
        json_t *d = json_array_get(devs, i);
        if (!strcmp(json_string_value(json_object_get(d, "id")), id))
            return d;
    }
    fail_msg("device %s not in the summary", id);
    return NULL;
}

/* ---- the tests ---------------------------------------------------------------------------------
 */

#define DEVICES 3
#define PACKS   5

static void sim_devices_onboard_through_quarantine_and_the_ledger(void **state)
{
    (void)state;
    struct ident org = ident_new("org-a"), gw = ident_new("gateway");
    struct ledger l = ledger_start(&org);
    const char *exp = expires(&l);
#define TX(...) __VA_ARGS__, "--ledger", l.id, "--expires", exp, "--key", org.key, "--node", l.url

    /* The gateway is registered first (its EAT over a claim nonce, made offline). */
    const char *gnonce =
        h_strf("%.64s", CLI_OK("device", "claim-nonce", "--org", org.id, "gw-secret").out);
    struct run r = CLI_OK("eat", "make", "--key", gw.key, "--aud", org.id, "--nonce", gnonce);
    const char *geat = h_strf("%.*s", (int)strcspn(r.out, "\n"), r.out);
    CLI_OK("device", "claim",
           TX("--org", org.id, "--kind", "gateway", "--device-key", gw.didkey, "--eat", geat,
              "--class", "gateway", "--model", "g-1", "--hw", "a", "--out", "gw.cbor"));

    const char *registry = h_strf("%s/registry", h_dir()),
               *outbox = h_strf("%s/outbox.db", h_dir());
    export_registry(&l, registry);
    struct h_mosq *broker = gateway_start(gw.id, outbox, registry);
    const char *gateway = h_strf("127.0.0.1:%d", broker->port);

    /* Provisioning: keys, flash, claim secrets, the gateway's TLS CA and the OTA anchor. */
    struct h_pki *pki = h_pki_create("unused");
    assert_non_null(pki);
    const char *dir = h_strf("%s/sim", h_dir()), *claims_file = h_strf("%s/claims", h_dir());
    CLI_OK("sim", "provision", "--dir", dir, "--devices", h_strf("%d", DEVICES), "--org", org.id,
           "--registry-out", h_strf("%s/unused-registry-lines", h_dir()), "--claims", claims_file,
           "--gateway-ca", pki->ca_cert, "--ota-anchor", org.didkey);
    struct claim claims[DEVICES];
    assert_int_equal(read_claims(claims_file, claims, DEVICES), DEVICES);
    for (int i = 0; i < DEVICES; i++) {
        char *prov = h_read_file(h_strf("%s/%s.prov", dir, claims[i].id), NULL);
        assert_non_null(prov);
        assert_non_null(strstr(prov, h_strf("secret %s\n", claims[i].secret)));
        assert_non_null(strstr(prov, h_strf("ota-anchor %s\n", org.didkey)));
        assert_non_null(strstr(prov, h_strf("gateway-ca %s.ca.pem\n", claims[i].id)));
        assert_non_null(h_read_file(h_strf("%s/%s.ca.pem", dir, claims[i].id), NULL));
    }

    /* The devices run, unclaimed: quarantine only. */
    const char *summary = h_strf("%s/summary.json", h_dir());
    const char *argv[] = {h_bin("corio"),
                          "sim",
                          "run",
                          "--dir",
                          dir,
                          "--gateway",
                          gateway,
                          "--gateway-id",
                          gw.id,
                          "--count",
                          h_strf("%d", PACKS),
                          "--rate",
                          "5",
                          "--heartbeat",
                          "0",
                          "--drain-timeout",
                          "120",
                          "--status",
                          "1",
                          "--summary",
                          summary,
                          NULL};
    struct h_proc *sim = h_proc_start("sim", argv, NULL);
    assert_non_null(sim);
    for (int i = 0; i < DEVICES; i++)
        assert_int_equal(
            h_proc_wait_log(broker->proc,
                            h_strf("%s is not registered: admitted to quarantine", claims[i].id),
                            20000),
            CORIO_OK);
    assert_int_equal(h_proc_wait_log(sim, "quarantined=3", 20000), CORIO_OK);
    for (int i = 0; i < DEVICES; i++)
        assert_int_equal(rows(outbox, claims[i].id, NULL), 0);

    /* A claim with the wrong secret: the device signs nothing, nothing is registered. */
    r = CLI("device", "claim", claims[0].did, "not-the-secret", "--gateway", gateway,
            "--gateway-key", gw.key, "--timeout", "3", "--org", org.id, "--class", "sim-sensor",
            "--model", "sim-1", "--hw", "1", TX("--out", "wrong.cbor"));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "no answer from device"));
    json_t *j = get_json(h_strf("%s/api/v1/contracts/devices/%s", l.url, claims[0].id));
    assert_non_null(json_object_get(j, "error"));
    json_decref(j);

    /* The owner claims each device with what its QR code holds. */
    for (int i = 0; i < DEVICES; i++) {
        r = CLI_OK("device", "claim", claims[i].did, claims[i].secret, "--gateway", gateway,
                   "--gateway-key", gw.key, "--org", org.id, "--class", "sim-sensor", "--model",
                   "sim-1", "--hw", "1", TX("--out", h_strf("claim-%d.cbor", i)));
        assert_non_null(strstr(r.out, "\"accepted\""));
        assert_non_null(strstr(r.out, h_strf("device %s answered the claim", claims[i].id)));
        j = get_json(h_strf("%s/api/v1/contracts/devices/%s", l.url, claims[i].id));
        assert_string_equal(json_string_value(json_object_get(j, "auth")) ?: "", "eat");
        json_decref(j);
    }

    /* The registry from the ledger reaches the gateway: out of quarantine, telemetry. */
    assert_int_equal(h_proc_wait_log(broker->proc, export_registry(&l, registry), 10000), CORIO_OK);
    for (int i = 0; i < DEVICES; i++)
        assert_int_equal(h_proc_wait_log(broker->proc,
                                         h_strf("%s registered (leaves quarantine)", claims[i].id),
                                         10000),
                         CORIO_OK);
    assert_int_equal(h_proc_wait_exit(sim, 120000), 0);
    json_error_t jerr;
    json_t *s = json_load_file(summary, 0, &jerr);
    assert_non_null(s);
    assert_int_equal(json_integer_value(json_object_get(s, "acked")), DEVICES * PACKS);
    /* Each answered (a request repeated before its answer arrived may be answered twice). */
    assert_true(json_integer_value(json_object_get(s, "claims")) >= DEVICES);
    for (int i = 0; i < DEVICES; i++) {
        assert_int_equal(rows(outbox, claims[i].id, "up/json"), PACKS);
        json_t *d = summary_device(s, claims[i].id);
        assert_true(json_is_false(json_object_get(d, "quarantined")));
    }
    json_decref(s);

    /* Decommissioning: the owner revokes the first device of the directory (a run of
     * one device runs that one: ids sorted); the gateway refuses it from then on, and its
     * pack stays pending. */
    const char *first = claims[0].id;
    for (int i = 1; i < DEVICES; i++)
        if (strcmp(claims[i].id, first) < 0)
            first = claims[i].id;
    CLI_OK("device", "revoke", TX("--device", first, "--out", "revoke.cbor"));
    assert_int_equal(h_proc_wait_log(broker->proc, export_registry(&l, registry), 10000), CORIO_OK);
    const char *again[] = {h_bin("corio"),
                           "sim",
                           "run",
                           "--dir",
                           dir,
                           "--gateway",
                           gateway,
                           "--gateway-id",
                           gw.id,
                           "--devices",
                           "1",
                           "--count",
                           "1",
                           "--heartbeat",
                           "0",
                           "--drain-timeout",
                           "3",
                           NULL};
    struct h_proc *sim2 = h_proc_start("sim-revoked", again, NULL);
    assert_int_equal(h_proc_wait_exit(sim2, 60000), 1);
    assert_int_equal(
        h_proc_wait_log(broker->proc, h_strf("refused %s (corio-eat-v1): revoked", first), 5000),
        CORIO_OK);
    assert_int_equal(rows(outbox, first, "up/json"), PACKS);
#undef TX
}

static void sim_devices_rotate_their_keys_mid_run(void **state)
{
    (void)state;
    struct ident org = ident_new("org"), gw = ident_new("gateway");
    const char *dir = h_strf("%s/sim", h_dir()), *lines = h_strf("%s/lines", h_dir());
    CLI_OK("sim", "provision", "--dir", dir, "--devices", "4", "--org", org.id, "--registry-out",
           lines);
    /* The registry knows key 0 of each device (as auth=eat) and the organisation's key. */
    char *body = h_read_file(lines, NULL);
    assert_non_null(body);
    const char *registry = h_strf("%s/registry", h_dir()),
               *outbox = h_strf("%s/outbox.db", h_dir());
    char *text =
        h_strf("height 1\norg %s Org\norgkey %s key=%s key_no=0\n", org.id, org.id, org.didkey);
    for (char *l = body; *l;) {
        char *nl = strchr(l, '\n');
        *nl = '\0';
        text = h_strf("%s%s auth=eat\n", text, l);
        l = nl + 1;
    }
    assert_int_equal(h_write_file(registry, text), 0);
    struct h_mosq *broker = gateway_start(gw.id, outbox, registry);
    const char *summary = h_strf("%s/summary.json", h_dir());
    const char *argv[] = {h_bin("corio"),
                          "sim",
                          "run",
                          "--dir",
                          dir,
                          "--gateway",
                          h_strf("127.0.0.1:%d", broker->port),
                          "--gateway-id",
                          gw.id,
                          "--count",
                          "20",
                          "--rate",
                          "10",
                          "--rotate-every",
                          "0.6",
                          "--org-key",
                          org.key,
                          "--heartbeat",
                          "0",
                          "--summary",
                          summary,
                          NULL};
    struct h_proc *sim = h_proc_start("sim", argv, NULL);
    assert_int_equal(h_proc_wait_exit(sim, 120000), 0);
    json_error_t jerr;
    json_t *s = json_load_file(summary, 0, &jerr);
    assert_non_null(s);
    assert_int_equal(json_integer_value(json_object_get(s, "acked")), 80);
    /* Two rotations fit a device's default buffer; every device made them. */
    assert_true(json_integer_value(json_object_get(s, "rotations")) >= 4);
    json_t *devs = json_object_get(s, "devices");
    uint64_t max_key = 0;
    for (size_t i = 0; i < json_array_size(devs); i++) {
        uint64_t k =
            (uint64_t)json_integer_value(json_object_get(json_array_get(devs, i), "key_no"));
        max_key = k > max_key ? k : max_key;
    }
    assert_true(max_key >= 1);
    json_decref(s);
    /* The gateway saw the new keys (the chain endorsed by the organisation) and never
     * refused a device. */
    assert_false(h_proc_log_contains(broker->proc, "refused"));

    /* A second run continues with the keys on file; key numbers never go backwards. */
    const char *again[] = {h_bin("corio"),
                           "sim",
                           "run",
                           "--dir",
                           dir,
                           "--gateway",
                           h_strf("127.0.0.1:%d", broker->port),
                           "--gateway-id",
                           gw.id,
                           "--count",
                           "2",
                           "--rate",
                           "10",
                           "--org-key",
                           org.key,
                           "--heartbeat",
                           "0",
                           NULL};
    assert_int_equal(h_proc_wait_exit(h_proc_start("sim-again", again, NULL), 60000), 0);
    assert_false(h_proc_log_contains(broker->proc, "refused"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(sim_devices_onboard_through_quarantine_and_the_ledger),
        H_TEST(sim_devices_rotate_their_keys_mid_run),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
