/*
 * test_cli_ca.c - the `corio ca` command as operators run it: an organisation's CA made
 * from its key, certificates issued for a gateway, a cloud broker, corio-cloud and a
 * ledger node, each checked by the openssl command (`openssl verify -x509_strict` for
 * TLS servers and clients, the names with `openssl x509`), a certificate that another
 * organisation's CA does not vouch for, and every refusal with its exit code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

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

static int openssl(char **out, ...)
{
    const char *argv[40] = {"openssl"};
    int n = 1;
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 39)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *o = NULL;
    int st = h_run("openssl", argv, NULL, 30000, &o);
    if (out)
        *out = o ? o : h_strf("%s", "");
    return st;
}

/* The value of a "name value" line of the CLI's output. */
static const char *field(const char *out, const char *name)
{
    const char *want = h_strf("%s ", name);
    for (const char *p = out; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > strlen(want) && strncmp(p, want, strlen(want)) == 0)
            return h_strf("%.*s", (int)(len - strlen(want)), p + strlen(want));
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

static void contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("'%s' not in:\n%s", needle, hay ? hay : "(null)");
}

/* A key made by `corio key new`: its path, and its short id in *id. */
static const char *new_key(const char *name, const char **id)
{
    const char *path = h_strf("%s/%s.pem", h_dir(), name);
    char *out;
    assert_int_equal(corio(&out, "key", "new", "--out", path, NULL), 0);
    if (id)
        *id = field(out, "id");
    return path;
}

static void ca_and_certificates_verify_with_openssl(void **state)
{
    (void)state;
    const char *org_id, *gw_id, *node_id;
    const char *org = new_key("org", &org_id);
    const char *gw = new_key("gw", &gw_id);
    const char *node = new_key("node", &node_id);
    const char *svc = new_key("cloud", NULL);
    const char *ca = h_strf("%s/ca", h_dir());
    char *out;
    assert_int_equal(
        corio(&out, "ca", "new", "--org-key", org, "--out", ca, "--name", "Example Org", NULL), 0);
    const char *ca_crt = h_strf("%s/ca.crt", ca);
    assert_string_equal(field(out, "cert"), ca_crt);
    assert_string_equal(field(out, "uri"), h_strf("did:corio:%s", org_id));
    assert_string_equal(field(out, "subject"), h_strf("CN=did:corio:%s,O=Example Org", org_id));
    assert_non_null(field(out, "not_after"));
    assert_int_equal(strlen(field(out, "sha256")), 64);
    /* The directory is private; ca.key leads to the organisation's key, not a copy. */
    struct stat st;
    assert_int_equal(stat(ca, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char target[PATH_MAX] = "", org_abs[PATH_MAX];
    assert_true(readlink(h_strf("%s/ca.key", ca), target, sizeof target - 1) > 0);
    assert_non_null(realpath(org, org_abs));
    assert_string_equal(target, org_abs);
    assert_int_equal(stat(ca_crt, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* The CA: self-signed, a CA for end entities, naming the organisation. */
    assert_int_equal(openssl(&out, "verify", "-x509_strict", "-CAfile", ca_crt, ca_crt, NULL), 0);
    assert_int_equal(openssl(&out, "x509", "-in", ca_crt, "-noout", "-text", NULL), 0);
    contains(out, "CA:TRUE, pathlen:0");
    contains(out, "Certificate Sign, CRL Sign");
    contains(out, h_strf("URI:did:corio:%s", org_id));
    contains(out, "ecdsa-with-SHA256");

    /* The gateway: serves its devices and connects to the cloud. */
    const char *gw_crt = h_strf("%s/gw.crt", h_dir());
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                           "--dns", "gateway.local", "--ip", "127.0.0.1", "--out", gw_crt, NULL),
                     0);
    assert_string_equal(field(out, "uri"), h_strf("did:corio:%s", gw_id));
    assert_string_equal(field(out, "dns"), "gateway.local");
    assert_string_equal(field(out, "ip"), "127.0.0.1");
    assert_string_equal(field(out, "subject"),
                        h_strf("CN=%s,OU=gateway,O=did:corio:%s", gw_id, org_id));
    for (int i = 0; i < 2; i++) {
        const char *purpose = i ? "sslclient" : "sslserver";
        if (openssl(&out, "verify", "-x509_strict", "-purpose", purpose, "-CAfile", ca_crt, gw_crt,
                    NULL) != 0)
            fail_msg("openssl verify -purpose %s: %s", purpose, out);
    }
    assert_int_equal(openssl(&out, "verify", "-x509_strict", "-CAfile", ca_crt, "-verify_hostname",
                             "gateway.local", "-verify_ip", "127.0.0.1", gw_crt, NULL),
                     0);
    assert_int_not_equal(
        openssl(&out, "verify", "-CAfile", ca_crt, "-verify_hostname", "other.local", gw_crt, NULL),
        0);
    assert_int_equal(openssl(&out, "x509", "-in", gw_crt, "-noout", "-ext",
                             "subjectAltName,basicConstraints,keyUsage,extendedKeyUsage", NULL),
                     0);
    contains(out, h_strf("URI:did:corio:%s, DNS:gateway.local, IP Address:127.0.0.1", gw_id));
    contains(out, "CA:FALSE");
    contains(out, "Digital Signature");
    contains(out, "TLS Web Server Authentication, TLS Web Client Authentication");

    /* The cloud broker's server certificate, from the key's did:key; corio-cloud's
     * client certificate, named for its default client id. */
    char *ident;
    assert_int_equal(corio(&ident, "did", "show", svc, NULL), 0);
    const char *broker_crt = h_strf("%s/broker.crt", h_dir());
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--pub", field(ident, "didkey"),
                           "--role", "cloud", "--dns", "localhost", "--ip", "127.0.0.1", "--ip",
                           "::1", "--cn", "cloud broker", "--days", "30", "--out", broker_crt,
                           NULL),
                     0);
    assert_null(field(out, "uri"));
    contains(out, "ip ::1");
    assert_int_equal(openssl(&out, "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile",
                             ca_crt, "-verify_ip", "::1", broker_crt, NULL),
                     0);
    assert_int_equal(openssl(&out, "x509", "-in", broker_crt, "-noout", "-subject", "-dates",
                             "-ext", "subjectAltName", NULL),
                     0);
    contains(out, "CN = cloud broker");
    contains(out, "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    const char *client_crt = h_strf("%s/cloud-client.crt", h_dir());
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", svc, "--role", "cloud", "--out",
                           client_crt, NULL),
                     0);
    assert_string_equal(field(out, "subject"),
                        h_strf("CN=corio-cloud-%s,OU=cloud,O=did:corio:%s", org_id, org_id));
    assert_int_equal(openssl(&out, "verify", "-x509_strict", "-purpose", "sslclient", "-CAfile",
                             ca_crt, client_crt, NULL),
                     0);

    /* A ledger node, and a gateway whose key has rotated (named by --did). */
    const char *node_crt = h_strf("%s/node.crt", h_dir());
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", node, "--role", "ledger-node",
                           "--node-id", "3", "--dns", "ledger.example.org", "--out", node_crt,
                           NULL),
                     0);
    assert_string_equal(field(out, "uri"), h_strf("did:corio:%s", node_id));
    contains(out, "uri urn:corio:ledger:node:3\n");
    assert_string_equal(field(out, "subject"),
                        h_strf("CN=%s,OU=ledger-node,O=did:corio:%s", node_id, org_id));
    const char *rot_crt = h_strf("%s/rotated.crt", h_dir());
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", node, "--role", "gateway",
                           "--did", h_strf("did:corio:%s", gw_id), "--out", rot_crt, NULL),
                     0);
    assert_string_equal(field(out, "uri"), h_strf("did:corio:%s", gw_id));
    assert_int_equal(
        openssl(&out, "verify", "-x509_strict", "-CAfile", ca_crt, node_crt, rot_crt, NULL), 0);

    /* Another organisation's CA does not vouch for these; a bundle of both does. */
    const char *other = new_key("other-org", NULL);
    const char *other_ca = h_strf("%s/other-ca", h_dir());
    assert_int_equal(corio(&out, "ca", "new", "--org-key", other, "--out", other_ca, NULL), 0);
    const char *other_crt = h_strf("%s/ca.crt", other_ca);
    assert_int_not_equal(openssl(&out, "verify", "-CAfile", other_crt, gw_crt, NULL), 0);
    contains(out, "unable to get local issuer certificate");
    const char *bundle = h_strf("%s/bundle.pem", h_dir());
    assert_int_equal(h_write_file(bundle, h_strf("%s%s", h_read_file(other_crt, NULL),
                                                 h_read_file(ca_crt, NULL))),
                     CORIO_OK);
    assert_int_equal(openssl(&out, "verify", "-CAfile", bundle, gw_crt, NULL), 0);

    /* The organisation's key given explicitly, wherever ca.key points. */
    assert_int_equal(unlink(h_strf("%s/ca.key", ca)), 0);
    const char *again = h_strf("%s/gw-2.crt", h_dir());
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--org-key", org, "--key", gw, "--role",
                           "gateway", "--out", again, NULL),
                     0);
    assert_int_equal(openssl(&out, "verify", "-CAfile", ca_crt, again, NULL), 0);
}

static void bad_input_is_refused(void **state)
{
    (void)state;
    const char *org = new_key("org", NULL);
    const char *gw = new_key("gw", NULL);
    const char *ca = h_strf("%s/ca", h_dir());
    const char *out_crt = h_strf("%s/x.crt", h_dir());
    char *out;
    /* ca new: usage, a missing or non-key file, an existing CA. */
    assert_int_equal(corio(&out, "ca", "new", "--out", ca, NULL), 2);
    assert_int_equal(corio(&out, "ca", "new", "--org-key", org, NULL), 2);
    assert_int_equal(corio(&out, "ca", "new", "--org-key", org, "--out", ca, "--days", "0", NULL),
                     2);
    assert_int_equal(
        corio(&out, "ca", "new", "--org-key", org, "--out", ca, "--days", "99999", NULL), 2);
    assert_int_equal(
        corio(&out, "ca", "new", "--org-key", org, "--out", ca, "--org-id", "did:corio:x", NULL),
        2);
    assert_int_equal(corio(&out, "ca", "new", "--org-key", org, "--out", ca, "extra", NULL), 2);
    assert_int_equal(
        corio(&out, "ca", "new", "--org-key", org, "--out", ca, "--name", "bad\001name", NULL), 2);
    assert_int_equal(
        corio(&out, "ca", "new", "--org-key", h_strf("%s/none.pem", h_dir()), "--out", ca, NULL),
        3);
    const char *notkey = h_strf("%s/notkey.pem", h_dir());
    assert_int_equal(h_write_file(notkey, "hello\n"), CORIO_OK);
    assert_int_equal(corio(&out, "ca", "new", "--org-key", notkey, "--out", ca, NULL), 3);
    assert_int_equal(corio(&out, "ca", "new", "--org-key", org, "--out", ca, "--days", "100", NULL),
                     0);
    const char *first = h_read_file(h_strf("%s/ca.crt", ca), NULL);
    assert_int_equal(corio(&out, "ca", "new", "--org-key", gw, "--out", ca, NULL), 3);
    contains(out, "not replacing");
    assert_string_equal(h_read_file(h_strf("%s/ca.crt", ca), NULL), first);

    /* ca sign: usage errors. */
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--out", out_crt, NULL), 2);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "device", "--out",
                           out_crt, NULL),
                     2);
    assert_int_equal(
        corio(&out, "ca", "sign", "--ca", ca, "--role", "gateway", "--out", out_crt, NULL), 2);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--pub", gw, "--role",
                           "gateway", "--out", out_crt, NULL),
                     2);
    static const char *const bad_dns[] = {"a,DNS:evil", "*.example.org", "-x", "a..b", ""};
    for (size_t i = 0; i < sizeof bad_dns / sizeof bad_dns[0]; i++)
        assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                               "--dns", bad_dns[i], "--out", out_crt, NULL),
                         2);
    static const char *const bad_ip[] = {"1.2.3", "256.1.1.1", "localhost", "::g"};
    for (size_t i = 0; i < sizeof bad_ip / sizeof bad_ip[0]; i++)
        assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                               "--ip", bad_ip[i], "--out", out_crt, NULL),
                         2);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                           "--did", "did:corio:aaaaaaaaaaaaaaaaaaaaaaaa#1", "--out", out_crt, NULL),
                     2);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                           "--days", "3651", "--out", out_crt, NULL),
                     2);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "ledger-node",
                           "--out", out_crt, NULL),
                     2);
    contains(out, "needs --node-id");
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                           "--node-id", "2", "--out", out_crt, NULL),
                     2);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "ledger-node",
                           "--node-id", "0", "--out", out_crt, NULL),
                     2);
    /* Bad input: the CA's own key, a leaf longer than the CA, a missing CA, a key that is
     * not the CA's, a public key that is not one. */
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", org, "--role", "gateway",
                           "--out", out_crt, NULL),
                     3);
    contains(out, "CA's own key");
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                           "--days", "101", "--out", out_crt, NULL),
                     3);
    contains(out, "outlive the CA");
    assert_int_equal(corio(&out, "ca", "sign", "--ca", h_strf("%s/nope", h_dir()), "--key", gw,
                           "--role", "gateway", "--out", out_crt, NULL),
                     3);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--org-key", gw, "--key", gw, "--role",
                           "gateway", "--out", out_crt, NULL),
                     3);
    contains(out, "not the key of");
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--pub", "did:key:zDnNotAKey", "--role",
                           "gateway", "--out", out_crt, NULL),
                     3);
    /* Nothing was written by any refusal; an existing certificate is never replaced. */
    assert_int_not_equal(access(out_crt, F_OK), 0);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                           "--days", "10", "--out", out_crt, NULL),
                     0);
    const char *issued = h_read_file(out_crt, NULL);
    assert_int_equal(corio(&out, "ca", "sign", "--ca", ca, "--key", gw, "--role", "gateway",
                           "--days", "10", "--out", out_crt, NULL),
                     3);
    assert_string_equal(h_read_file(out_crt, NULL), issued);
    /* Help. */
    assert_int_equal(corio(&out, "ca", "sign", "--help", NULL), 0);
    contains(out, "--role");
    assert_int_equal(corio(&out, "ca", "--help", NULL), 0);
    contains(out, "corio ca new");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(ca_and_certificates_verify_with_openssl),
        H_TEST(bad_input_is_refused),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
