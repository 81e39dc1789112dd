/*
 * test_cli_nats.c - `corio nats auth` as operators run it: nats-server's users written
 * from a registry, extra gateways and corio-cloud's certificate, which nats-server 2.9
 * itself reads as valid configuration; the default corio-cloud user is the subject that
 * `corio ca sign --role cloud` gives; corio-cloud on bus mosquitto is an MQTT user; the
 * output file is replaced whole; every refusal with its exit code. What the permissions allow and
 * refuse on a running server is test_cloud_nats_auth.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <unistd.h>

#include "corio/crypto.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "crypto_openssl.h"
#include "harness.h"

#define GA "aaaaaaaaaaaaaaaaaaaaaaaa"
#define GB "bbbbbbbbbbbbbbbbbbbbbbbb"
#define GC "cccccccccccccccccccccccc"

/* Runs `corio <args...>`: its exit status, its output in *out (scope-owned). */
static int corio(char **out, ...)
{
    const char *argv[40] = {h_bin("corio")};
    int n = 1;
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 39)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *o = NULL;
    int st = h_run("corio", argv, NULL, 30000, &o);
    if (out)
        *out = o ? o : h_strf("%s", "");
    return st;
}

static void contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' not in:\n%s", needle, hay ? hay : "(null)");
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A new key's did:key. */
static const char *new_didkey(void)
{
    struct corio_key k;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &k), CORIO_OK);
    uint8_t pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_key_public(&k, pub), CORIO_OK);
    corio_key_close(&k);
    char out[CORIO_DIDKEY_BUF];
    assert_true(corio_didkey_format(pub, sizeof pub, out, sizeof out) > 0);
    return h_strf("%s", out);
}

/* A registry of organisation org with gateways GA and GB. */
static const char *registry(const char *org)
{
    const char *path = h_strf("%s/registry", h_dir());
    assert_int_equal(h_write_file(path, h_strf("org %s Example\ngateway %s org=%s key=%s\n"
                                               "gateway %s org=%s key=%s\n",
                                               org, GB, org, new_didkey(), GA, org, new_didkey())),
                     CORIO_OK);
    return path;
}

/* What nats-server 2.9 says of a configuration that includes auth (its -t). */
static int nats_server_accepts(const char *auth, char **out)
{
    const char *dir = h_mkdir("nats-check");
    assert_int_equal(h_write_file(h_strf("%s/auth.conf", dir), auth), CORIO_OK);
    const char *conf = h_strf("%s/nats.conf", dir);
    assert_int_equal(
        h_write_file(conf, "server_name: check\nlisten: 127.0.0.1:-1\ninclude auth.conf\n"),
        CORIO_OK);
    const char *argv[] = {"/usr/sbin/nats-server", "-c", conf, "-t", NULL};
    return h_run("nats-server", argv, NULL, 30000, out);
}

/* An organisation's CA and corio-cloud's certificate from it; the org's id in *org. */
static const char *cloud_cert(const char **org, const char *cn)
{
    char *out;
    const char *org_key = h_strf("%s/org.pem", h_dir());
    if (access(org_key, F_OK) != 0)
        assert_int_equal(corio(&out, "key", "new", "--out", org_key, NULL), 0);
    assert_int_equal(corio(&out, "did", "show", org_key, NULL), 0);
    const char *id = strstr(out, "\nid ");
    assert_non_null(id);
    *org = h_strf("%.24s", id + 4);
    const char *ca = h_strf("%s/ca", h_dir());
    if (access(h_strf("%s/ca.crt", ca), F_OK) != 0)
        assert_int_equal(corio(&out, "ca", "new", "--org-key", org_key, "--out", ca, NULL), 0);
    static int serial;
    const char *key = h_strf("%s/cloud-%d.pem", h_dir(), ++serial);
    assert_int_equal(corio(&out, "key", "new", "--out", key, NULL), 0);
    const char *crt = h_strf("%s.crt", key);
    if (cn)
        assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", key, "--role", "cloud",
                               "--cn", cn, "--out", crt, NULL),
                         0);
    else
        assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", key, "--role", "cloud",
                               "--out", crt, NULL),
                         0);
    return crt;
}

static void users_from_the_registry_and_certificates(void **state)
{
    (void)state;
    const char *org;
    const char *crt = cloud_cert(&org, NULL);
    const char *reg = registry(org);
    const char *file = h_strf("%s/auth.conf", h_dir());
    char *out;
    assert_int_equal(corio(&out, "nats", "auth", "--org", h_strf("did:corio:%s", org), "--registry",
                           reg, "--gateway", "did:corio:" GC, "--gateway", GA, "--cloud-cert", crt,
                           "--out", file, NULL),
                     0);
    contains(out, "3 gateway(s), 1 corio-cloud user(s)");
    const char *text = h_read_file(file, NULL);
    assert_non_null(text);

    /* corio-cloud's subject as the certificate has it; what it may do. */
    const char *dn = h_strf("CN=corio-cloud-%s,OU=cloud,O=did:corio:%s", org, org);
    contains(text, h_strf("user: \"%s\"\n      allowed_connection_types: [\"STANDARD\"]", dn));
    contains(text,
             "\"$JS.API.STREAM.INFO.CORIO_BATCHES\", \"$JS.API.STREAM.CREATE.CORIO_BATCHES\"");
    contains(text, "\"$JS.API.CONSUMER.DURABLE.CREATE.CORIO_BATCHES.corio-ingest\"");
    contains(text, "\"$JS.API.CONSUMER.MSG.NEXT.CORIO_BATCHES.corio-ingest\", "
                   "\"$JS.ACK.CORIO_BATCHES.corio-ingest.>\"");
    contains(text, "\"corio.v1.g.*.ack\", \"$MQTT.msgs.corio.v1.g.*.ack\"");
    contains(text, h_strf("subscribe: { allow: [\"_INBOX.>\", \"corio.v1.o.%s.live\", "
                          "\"corio.v1.g.*.status\"] }",
                          org));
    /* One user per gateway, once each, in id order, each held to its own subjects. */
    assert_int_equal(count(text, "allowed_connection_types: [\"MQTT\"]"), 3);
    assert_int_equal(count(text, "user: \"did:corio:" GA "\""), 1);
    const char *a = strstr(text, "did:corio:" GA), *b = strstr(text, "did:corio:" GB),
               *c = strstr(text, "did:corio:" GC);
    assert_true(a && b && c && a < b && b < c);
    contains(text,
             "publish: { allow: [\"corio.v1.g." GB ".batch\", \"corio.v1.g." GB ".state\", "
             "\"corio.v1.g." GB ".status\"] }\n"
             "        subscribe: { allow: [\"corio.v1.g." GB ".ack\", \"corio.v1.g." GB
             ".down\", \"$MQTT.sub.>\"] }");
    /* nats-server reads it. */
    assert_int_equal(nats_server_accepts(text, &out), 0);
    contains(out, "is valid");

    /* Without --cloud-cert, the same user: the default is what corio ca sign makes. */
    assert_int_equal(
        corio(&out, "nats", "auth", "--org", org, "--registry", reg, "--gateway", GC, NULL), 0);
    assert_string_equal(out, text);

    /* Another stream and consumer; two corio-cloud certificates; --out replaced whole. */
    const char *crt2 = cloud_cert(&org, "ingest-2");
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", GB, "--cloud-cert", crt,
                           "--cloud-cert", crt2, "--stream", "B2", "--consumer", "in_2", "--out",
                           file, NULL),
                     0);
    text = h_read_file(file, NULL);
    assert_int_equal(count(text, "allowed_connection_types: [\"STANDARD\"]"), 2);
    contains(text, h_strf("user: \"CN=ingest-2,OU=cloud,O=did:corio:%s\"", org));
    contains(text, "\"$JS.API.CONSUMER.MSG.NEXT.B2.in_2\", \"$JS.ACK.B2.in_2.>\"");
    assert_null(strstr(text, "CORIO_BATCHES\""));
    assert_null(strstr(text, GA));
    assert_int_equal(nats_server_accepts(text, &out), 0);
    /* corio-cloud on bus mosquitto, nats-server its MQTT broker: an MQTT user with what
     * the cloud broker's Mosquitto ACL gives it. */
    assert_int_equal(
        corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--bus", "mosquitto", NULL), 0);
    contains(out, h_strf("user: \"%s\"\n      allowed_connection_types: [\"MQTT\"]", dn));
    contains(out, "publish: { allow: [\"corio.v1.g.*.ack\", \"corio.v1.g.*.down\"] }\n"
                  "        subscribe: { allow: [\"corio.v1.g.*.batch\", \"corio.v1.g.*.state\", "
                  "\"corio.v1.g.*.status\", "
                  "\"$MQTT.sub.>\"] }");
    assert_null(strstr(out, "$JS."));
    assert_null(strstr(out, "STANDARD"));
    assert_int_equal(nats_server_accepts(out, &out), 0);
    DIR *d = opendir(h_dir());
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, "auth.conf.tmp"))
            fail_msg("left behind: %s", e->d_name);
    closedir(d);
}

static void bad_input_is_refused(void **state)
{
    (void)state;
    const char *org;
    cloud_cert(&org, NULL);
    const char *reg = registry(org);
    char *out;
    /* Usage. */
    assert_int_equal(corio(&out, "nats", "auth", "--registry", reg, NULL), 2);
    contains(out, "--org is required");
    assert_int_equal(corio(&out, "nats", "auth", "--org", "did:corio:x", "--registry", reg, NULL),
                     2);
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, NULL), 2);
    contains(out, "no gateways");
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", "NOT-AN-ID", NULL), 2);
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--stream",
                           "CORIO.BATCHES", NULL),
                     2);
    assert_int_equal(
        corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--consumer", "in\"gest", NULL),
        2);
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "extra", NULL), 2);
    assert_int_equal(
        corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--bus", "mqtt", NULL), 2);
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--bus",
                           "mosquitto", "--stream", "S", NULL),
                     2);
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--bogus", NULL),
                     2);
    /* Bad input: a registry that does not parse, a missing or non-certificate file, a
     * subject nats-server's configuration could not carry as it is. */
    const char *bad = h_strf("%s/bad-registry", h_dir());
    assert_int_equal(h_write_file(bad, "gateway nope\n"), CORIO_OK);
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--registry", bad, NULL), 3);
    contains(out, "bad-registry:1:");
    assert_int_equal(
        corio(&out, "nats", "auth", "--org", org, "--registry", h_strf("%s/none", h_dir()), NULL),
        3);
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--cloud-cert",
                           h_strf("%s/none.crt", h_dir()), NULL),
                     3);
    assert_int_equal(
        corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--cloud-cert", reg, NULL), 3);
    const char *quoted = cloud_cert(&org, "ingest \"2\"");
    assert_int_equal(
        corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--cloud-cert", quoted, NULL),
        3);
    contains(out, "need escaping");
    /* Nothing was written on a refusal. */
    const char *file = h_strf("%s/never.conf", h_dir());
    assert_int_equal(corio(&out, "nats", "auth", "--org", org, "--gateway", GA, "--cloud-cert",
                           quoted, "--out", file, NULL),
                     3);
    assert_int_not_equal(access(file, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(users_from_the_registry_and_certificates),
        H_TEST(bad_input_is_refused),
    };
    return h_done(cmocka_run_group_tests_name("integration.cli_nats", tests, NULL, NULL));
}
