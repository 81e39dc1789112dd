/*
 * test_common_x509.c - organisation CAs and the certificates they issue
 * (common/corio_x509.c): what the certificates hold (names, key usage, constraints,
 * validity, serials), that they chain under OpenSSL's own verifier for TLS servers and
 * clients, that a CA of another organisation does not vouch for them, every refusal of
 * bad input, the PEM files, the start-up check of a program's own certificate, and a
 * clean OpenSSL error queue after every failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "corio/did.h"
#include "corio/error.h"
#include "corio_x509.h"
#include "crypto_openssl.h"
#include "harness.h"

static const struct corio_crypto_ops *ossl = &corio_crypto_openssl_ops;

struct party {
    struct corio_key key;
    uint8_t pub[CORIO_P256_PUB_LEN];
    char id[CORIO_DID_ID_CHARS + 1];
};

static void close_key(void *arg)
{
    corio_key_close(arg);
}

static void free_x509(void *arg)
{
    X509_free(arg);
}

static struct party *party(void)
{
    struct party *p = calloc(1, sizeof *p);
    assert_non_null(p);
    h_defer(free, p);
    assert_int_equal(corio_key_generate(ossl, 0, CORIO_KEY_EXPORTABLE, &p->key), CORIO_OK);
    h_defer(close_key, &p->key);
    assert_int_equal(corio_key_public(&p->key, p->pub), CORIO_OK);
    struct corio_did did;
    assert_int_equal(corio_did_from_key(ossl, p->pub, sizeof p->pub, &did), CORIO_OK);
    assert_true(corio_did_id_format(did.id, p->id, sizeof p->id) > 0);
    return p;
}

static X509 *scoped(X509 *x)
{
    assert_non_null(x);
    h_defer(free_x509, x);
    return x;
}

static X509 *make_ca(struct party *org, const char *name, int days)
{
    X509 *x = NULL;
    char why[256];
    struct corio_x509_ca_options o = {.org_key = &org->key, .name = name, .days = days};
    int rc = corio_x509_ca_new(&o, NULL, &x, why, sizeof why);
    if (rc != CORIO_OK)
        fail_msg("ca_new: %s", why);
    assert_int_equal(ERR_peek_error(), 0);
    return scoped(x);
}

/* The issue options for a subject, with everything else at its default. */
static struct corio_x509_issue_options opts(X509 *ca, struct party *org, struct party *subject,
                                            enum corio_x509_role role)
{
    return (struct corio_x509_issue_options){
        .ca_cert = ca, .ca_key = &org->key, .pub = subject->pub, .role = role};
}

static X509 *issue(const struct corio_x509_issue_options *o)
{
    X509 *x = NULL;
    char why[256];
    int rc = corio_x509_issue(o, &x, why, sizeof why);
    if (rc != CORIO_OK)
        fail_msg("issue: %s", why);
    return scoped(x);
}

/* Refused with rc, a reason, no certificate, and a clean error queue. */
static void refused(const struct corio_x509_issue_options *o, int rc, const char *reason)
{
    X509 *x = (X509 *)1;
    char why[256] = "";
    assert_int_equal(corio_x509_issue(o, &x, why, sizeof why), rc);
    assert_null(x);
    if (!strstr(why, reason))
        fail_msg("reason '%s' does not say '%s'", why, reason);
    assert_int_equal(ERR_peek_error(), 0);
}

/* OpenSSL's verdict on leaf under the given CAs for a TLS purpose
 * (X509_PURPOSE_SSL_SERVER or _CLIENT): X509_V_OK or the error. */
static int verify(X509 *leaf, X509 *const *cas, size_t ncas, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(ctx);
    for (size_t i = 0; i < ncas; i++)
        assert_int_equal(X509_STORE_add_cert(store, cas[i]), 1);
    X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    int ok = X509_verify_cert(ctx);
    int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return err;
}

/* The subjectAltName as "URI:a DNS:b IP:1.2.3.4 " text, scope-owned. */
static const char *sans(X509 *x)
{
    char *out = h_strf("%s", "");
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_URI || g->type == GEN_DNS) {
            const ASN1_IA5STRING *s =
                g->type == GEN_URI ? g->d.uniformResourceIdentifier : g->d.dNSName;
            out = h_strf("%s%s:%.*s ", out, g->type == GEN_URI ? "URI" : "DNS",
                         ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
        } else if (g->type == GEN_IPADD) {
            const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
            int len = ASN1_STRING_length(g->d.iPAddress);
            out = h_strf("%sIP:%d bytes:%d.%d ", out, len, a[0], a[len - 1]);
        } else {
            out = h_strf("%sother ", out);
        }
    }
    GENERAL_NAMES_free(gens);
    return out;
}

/* The UTF-8 value of the first nid attribute of a name. */
static const char *attr(const X509_NAME *name, int nid)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0)
        return NULL;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    return h_strf("%.*s", ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
}

/* The validity span in seconds. */
static long span(X509 *x)
{
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)),
                     1);
    return (long)days * 86400 + secs;
}

static void ca_certificate_names_the_organisation(void **state)
{
    (void)state;
    struct party *org = party();
    X509 *ca = make_ca(org, "Example Org", 0);
    assert_int_equal(X509_get_version(ca), X509_VERSION_3);
    const char *did = h_strf("did:corio:%s", org->id);
    assert_string_equal(attr(X509_get_subject_name(ca), NID_commonName), did);
    assert_string_equal(attr(X509_get_subject_name(ca), NID_organizationName), "Example Org");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);
    assert_string_equal(sans(ca), h_strf("URI:%s ", did));
    /* Self-signed with the organisation's key, a CA for end entities only. */
    assert_int_equal(corio_x509_matches_key(ca, &org->key), CORIO_OK);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_get_pathlen(ca), 0);
    uint32_t ku = X509_get_key_usage(ca);
    assert_true(ku & KU_KEY_CERT_SIGN);
    assert_true(ku & KU_CRL_SIGN);
    assert_false(ku & KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
    assert_int_equal(verify(ca, &ca, 1, X509_PURPOSE_ANY), X509_V_OK);
    assert_non_null(X509_get0_subject_key_id(ca));
    /* Ten years by default, dated an hour back. */
    assert_int_equal(span(ca),
                     (long)CORIO_X509_CA_DAYS_DEFAULT * 86400 + CORIO_X509_BACKDATE_SECONDS);
    assert_true(X509_cmp_current_time(X509_get0_notBefore(ca)) < 0);
    /* The name is optional; the days are honoured. */
    X509 *plain = make_ca(org, NULL, 30);
    assert_null(attr(X509_get_subject_name(plain), NID_organizationName));
    assert_int_equal(span(plain), 30L * 86400 + CORIO_X509_BACKDATE_SECONDS);
    /* A rotated organisation names its DID. */
    X509 *x = NULL;
    char why[128];
    struct corio_x509_ca_options o = {.org_key = &org->key};
    assert_int_equal(corio_x509_ca_new(&o, "aaaaaaaaaaaaaaaaaaaaaaaa", &x, why, sizeof why),
                     CORIO_OK);
    scoped(x);
    assert_string_equal(attr(X509_get_subject_name(x), NID_commonName),
                        "did:corio:aaaaaaaaaaaaaaaaaaaaaaaa");
}

static void ca_refuses_bad_input(void **state)
{
    (void)state;
    struct party *org = party();
    X509 *x = NULL;
    char why[256];
    struct corio_x509_ca_options o = {.org_key = &org->key, .days = -1};
    assert_int_equal(corio_x509_ca_new(&o, NULL, &x, why, sizeof why), CORIO_ERR_INVAL);
    assert_non_null(strstr(why, "days"));
    o.days = CORIO_X509_CA_DAYS_MAX + 1;
    assert_int_equal(corio_x509_ca_new(&o, NULL, &x, why, sizeof why), CORIO_ERR_INVAL);
    o.days = 0;
    o.name = "";
    assert_int_equal(corio_x509_ca_new(&o, NULL, &x, why, sizeof why), CORIO_ERR_INVAL);
    o.name = "Tab\there";
    assert_int_equal(corio_x509_ca_new(&o, NULL, &x, why, sizeof why), CORIO_ERR_INVAL);
    char longname[CORIO_X509_CN_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    o.name = longname;
    assert_int_equal(corio_x509_ca_new(&o, NULL, &x, why, sizeof why), CORIO_ERR_INVAL);
    longname[CORIO_X509_CN_MAX] = 0; /* exactly the limit */
    assert_int_equal(corio_x509_ca_new(&o, NULL, &x, why, sizeof why), CORIO_OK);
    scoped(x);
    x = NULL;
    o.name = NULL;
    assert_int_equal(corio_x509_ca_new(&o, "NOT-AN-ID", &x, why, sizeof why), CORIO_ERR_INVAL);
    assert_int_equal(corio_x509_ca_new(NULL, NULL, &x, why, sizeof why), CORIO_ERR_INVAL);
    struct corio_key empty = {0};
    o.org_key = &empty;
    assert_int_equal(corio_x509_ca_new(&o, NULL, &x, why, sizeof why), CORIO_ERR_UNSUPPORTED);
    assert_null(x);
    assert_int_equal(ERR_peek_error(), 0);
}

static void gateway_certificate_chains_for_server_and_client(void **state)
{
    (void)state;
    struct party *org = party(), *gw = party();
    X509 *ca = make_ca(org, "Example Org", 0);
    struct corio_x509_issue_options o = opts(ca, org, gw, CORIO_X509_ROLE_GATEWAY);
    const char *dns[] = {"gateway.local", "localhost"};
    const char *ip[] = {"127.0.0.1", "::1"};
    o.dns = dns;
    o.ndns = 2;
    o.ip = ip;
    o.nip = 2;
    X509 *x = issue(&o);
    assert_int_equal(ERR_peek_error(), 0);
    /* Names: the gateway's DID first, then what it serves under. */
    assert_string_equal(sans(x), h_strf("URI:did:corio:%s DNS:gateway.local DNS:localhost "
                                        "IP:4 bytes:127.1 IP:16 bytes:0.1 ",
                                        gw->id));
    const X509_NAME *sub = X509_get_subject_name(x);
    assert_string_equal(attr(sub, NID_commonName), gw->id);
    assert_string_equal(attr(sub, NID_organizationalUnitName), "gateway");
    assert_string_equal(attr(sub, NID_organizationName), h_strf("did:corio:%s", org->id));
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
    char ids[2][CORIO_DID_ID_CHARS + 1];
    assert_int_equal(corio_x509_dids(x, ids, 2), 1);
    assert_string_equal(ids[0], gw->id);
    /* For the gateway's key; an end entity that signs handshakes, serves and connects. */
    assert_int_equal(corio_x509_matches_key(x, &gw->key), CORIO_OK);
    assert_int_equal(corio_x509_matches_key(x, &org->key), CORIO_ERR_BADSIG);
    assert_int_equal(X509_check_ca(x), 0);
    assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    assert_non_null(X509_get0_authority_key_id(x));
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(ca)), 0);
    assert_int_equal(span(x),
                     (long)CORIO_X509_LEAF_DAYS_DEFAULT * 86400 + CORIO_X509_BACKDATE_SECONDS);
    assert_int_equal(X509_check_host(x, "gateway.local", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_host(x, "other.local", 0, 0, NULL), 0);
    /* OpenSSL's own verifier, strict, for both ends of TLS. */
    assert_int_equal(verify(x, &ca, 1, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    assert_int_equal(verify(x, &ca, 1, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    /* Another organisation's CA does not vouch for it, even with the same name. */
    struct party *other = party();
    X509 *other_ca = make_ca(other, "Example Org", 0);
    assert_int_equal(verify(x, &other_ca, 1, X509_PURPOSE_SSL_CLIENT),
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    /* In a bundle of both, it chains to its own. */
    X509 *bundle[] = {other_ca, ca};
    assert_int_equal(verify(x, bundle, 2, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    /* Serials: positive, 16 bytes, never the same twice. */
    X509 *y = issue(&o);
    BIGNUM *a = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    BIGNUM *b = ASN1_INTEGER_to_BN(X509_get0_serialNumber(y), NULL);
    assert_false(BN_is_negative(a));
    assert_int_equal(BN_num_bytes(a), 16);
    assert_int_equal(BN_num_bits(a), 127);
    assert_int_not_equal(BN_cmp(a, b), 0);
    BN_free(a);
    BN_free(b);
}

static void cloud_and_ledger_node_roles(void **state)
{
    (void)state;
    struct party *org = party(), *svc = party(), *node = party();
    X509 *ca = make_ca(org, NULL, 0);
    /* corio-cloud's client certificate: named for its default client id, no SAN. */
    struct corio_x509_issue_options o = opts(ca, org, svc, CORIO_X509_ROLE_CLOUD);
    X509 *client = issue(&o);
    assert_string_equal(attr(X509_get_subject_name(client), NID_commonName),
                        h_strf("corio-cloud-%s", org->id));
    assert_string_equal(attr(X509_get_subject_name(client), NID_organizationalUnitName), "cloud");
    assert_null(X509_get_ext_d2i(client, NID_subject_alt_name, NULL, NULL));
    assert_int_equal(corio_x509_dids(client, NULL, 0), 0);
    assert_int_equal(verify(client, &ca, 1, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    /* The cloud broker's server certificate: its names, another CN. */
    const char *dns[] = {"broker.example.org"};
    o.dns = dns;
    o.ndns = 1;
    o.cn = "broker.example.org";
    X509 *server = issue(&o);
    assert_string_equal(sans(server), "DNS:broker.example.org ");
    assert_string_equal(attr(X509_get_subject_name(server), NID_commonName), "broker.example.org");
    assert_int_equal(verify(server, &ca, 1, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    /* A cloud service may carry a DID when asked. */
    o.did_id = "bbbbbbbbbbbbbbbbbbbbbbbb";
    assert_string_equal(sans(issue(&o)),
                        "URI:did:corio:bbbbbbbbbbbbbbbbbbbbbbbb DNS:broker.example.org ");
    /* A ledger node: its own DID and its consensus id, CN its short id. */
    struct corio_x509_issue_options n = opts(ca, org, node, CORIO_X509_ROLE_LEDGER_NODE);
    n.node_id = 18446744073709551615ull;
    X509 *ln = issue(&n);
    assert_string_equal(sans(ln), h_strf("URI:did:corio:%s URI:urn:corio:ledger:node:"
                                         "18446744073709551615 ",
                                         node->id));
    assert_string_equal(attr(X509_get_subject_name(ln), NID_organizationalUnitName), "ledger-node");
    assert_string_equal(attr(X509_get_subject_name(ln), NID_commonName), node->id);
    /* A gateway whose key rotated is named by its DID, not by the new key's hash. */
    struct corio_x509_issue_options g = opts(ca, org, node, CORIO_X509_ROLE_GATEWAY);
    g.did_id = "cccccccccccccccccccccccc";
    X509 *rot = issue(&g);
    assert_string_equal(sans(rot), "URI:did:corio:cccccccccccccccccccccccc ");
    assert_string_equal(attr(X509_get_subject_name(rot), NID_commonName),
                        "cccccccccccccccccccccccc");
    /* Roles by name. */
    enum corio_x509_role r;
    for (int i = CORIO_X509_ROLE_GATEWAY; i <= CORIO_X509_ROLE_LEDGER_NODE; i++) {
        assert_int_equal(corio_x509_role_parse(corio_x509_role_name((enum corio_x509_role)i), &r),
                         CORIO_OK);
        assert_int_equal(r, i);
    }
    assert_int_equal(corio_x509_role_parse("device", &r), CORIO_ERR_INVAL);
    assert_int_equal(corio_x509_role_parse("Gateway", &r), CORIO_ERR_INVAL);
    assert_null(corio_x509_role_name((enum corio_x509_role)7));
}

static void host_names(void **state)
{
    (void)state;
    static const char *const good[] = {
        "localhost", "a", "gw-1.example.org", "1.2.3.4", "xn--bcher-kva.example", "A.B.C"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!corio_x509_dns_name_valid(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    char label64[80], long254[300];
    memset(label64, 'a', 64);
    label64[64] = 0;
    for (int i = 0; i < 254; i++)
        long254[i] = i % 2 ? '.' : 'a';
    long254[253] = 'a'; /* 254 characters ending in a label */
    long254[254] = 0;
    const char *bad[] = {
        "",    ".",          "a.",  ".a",        "a..b", "-a",    "a-",   "a.-b", "*.example.org",
        "a b", "a,DNS:evil", "a_b", "é.example", "a/b",  label64, long254};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (corio_x509_dns_name_valid(bad[i]))
            fail_msg("'%s' should be refused", bad[i]);
    assert_false(corio_x509_dns_name_valid(NULL));
    label64[63] = 0;
    assert_true(corio_x509_dns_name_valid(label64));
    long254[253] = 0; /* 253 characters, the most */
    assert_true(corio_x509_dns_name_valid(long254));
}

static void issue_refuses_bad_input(void **state)
{
    (void)state;
    struct party *org = party(), *gw = party(), *other = party();
    X509 *ca = make_ca(org, NULL, 10);
    struct corio_x509_issue_options o = opts(ca, org, gw, CORIO_X509_ROLE_GATEWAY);
    o.days = 5;

    /* The subject key is the CA's own. */
    struct corio_x509_issue_options self = o;
    self.pub = org->pub;
    refused(&self, CORIO_ERR_INVAL, "CA's own key");
    /* The CA certificate is not for the signing key. */
    struct corio_x509_issue_options wrong = o;
    wrong.ca_key = &other->key;
    refused(&wrong, CORIO_ERR_INVAL, "not for the key");
    /* An end-entity certificate is not a CA. */
    X509 *leaf = issue(&o);
    struct corio_x509_issue_options notca = opts(leaf, gw, other, CORIO_X509_ROLE_GATEWAY);
    notca.days = 1;
    refused(&notca, CORIO_ERR_INVAL, "not a CA");
    /* Names. */
    struct corio_x509_issue_options n = o;
    const char *bad_dns[] = {"ok.example", "a,DNS:evil.example"};
    n.dns = bad_dns;
    n.ndns = 2;
    refused(&n, CORIO_ERR_INVAL, "not a host name");
    n = o;
    const char *bad_ip[] = {"1.2.3"};
    n.ip = bad_ip;
    n.nip = 1;
    refused(&n, CORIO_ERR_INVAL, "not an IPv4 or IPv6 address");
    const char *bad_ip6[] = {"::g"};
    n.ip = bad_ip6;
    refused(&n, CORIO_ERR_INVAL, "not an IPv4 or IPv6 address");
    const char *names[CORIO_X509_MAX_NAMES];
    for (int i = 0; i < CORIO_X509_MAX_NAMES; i++)
        names[i] = "a.example";
    n = o;
    n.dns = names;
    n.ndns = CORIO_X509_MAX_NAMES - 1;
    refused(&n, CORIO_ERR_INVAL, "too many names");
    n.ndns = CORIO_X509_MAX_NAMES - 2; /* with the URIs a ledger node may have, the most */
    issue(&n);
    /* Node ids: a ledger node's, and only a ledger node's. */
    n = o;
    n.node_id = 3;
    refused(&n, CORIO_ERR_INVAL, "only a ledger node");
    n.role = CORIO_X509_ROLE_LEDGER_NODE;
    n.node_id = 0;
    refused(&n, CORIO_ERR_INVAL, "names its node id");
    n = o;
    n.did_id = "did:corio:aaaaaaaaaaaaaaaaaaaaaaaa"; /* the short id only */
    refused(&n, CORIO_ERR_INVAL, "not a short id");
    n = o;
    n.cn = "line\nbreak";
    refused(&n, CORIO_ERR_INVAL, "common name");
    n.cn = "";
    refused(&n, CORIO_ERR_INVAL, "common name");
    n = o;
    n.role = (enum corio_x509_role)9;
    refused(&n, CORIO_ERR_INVAL, "role");
    /* Days: in range, and never past the CA's own end (10 days here). */
    n = o;
    n.days = -3;
    refused(&n, CORIO_ERR_INVAL, "days");
    n.days = CORIO_X509_LEAF_DAYS_MAX + 1;
    refused(&n, CORIO_ERR_INVAL, "days");
    n.days = 11;
    refused(&n, CORIO_ERR_INVAL, "outlive the CA");
    n.days = 9;
    assert_int_equal(span(issue(&n)), 9L * 86400 + CORIO_X509_BACKDATE_SECONDS);
    n.days = 0; /* the default year is longer than this CA */
    refused(&n, CORIO_ERR_INVAL, "outlive the CA");
    /* A public key that is not a point. */
    uint8_t junk[CORIO_P256_PUB_LEN];
    memcpy(junk, gw->pub, sizeof junk);
    junk[64] ^= 1;
    n = o;
    n.pub = junk;
    refused(&n, CORIO_ERR_MALFORMED, "not a P-256 point");
    /* Missing arguments. */
    n = o;
    n.ca_cert = NULL;
    refused(&n, CORIO_ERR_INVAL, "missing");
    n = o;
    n.ndns = 1; /* but no array */
    refused(&n, CORIO_ERR_INVAL, "missing");
    assert_int_equal(corio_x509_issue(NULL, NULL, NULL, 0), CORIO_ERR_INVAL);
}

static void pem_files(void **state)
{
    (void)state;
    struct party *org = party(), *gw = party();
    X509 *ca = make_ca(org, NULL, 0);
    struct corio_x509_issue_options o = opts(ca, org, gw, CORIO_X509_ROLE_GATEWAY);
    X509 *x = issue(&o);
    const char *path = h_strf("%s/gw.crt", h_dir());
    assert_int_equal(corio_x509_write_pem(x, path), CORIO_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* Never replaced. */
    assert_int_equal(corio_x509_write_pem(ca, path), CORIO_ERR_STATE);
    assert_int_equal(ERR_peek_error(), 0);
    X509 *back = NULL;
    assert_int_equal(corio_x509_read_pem(path, &back), CORIO_OK);
    scoped(back);
    assert_int_equal(X509_cmp(back, x), 0);
    assert_int_equal(corio_x509_write_pem(x, h_strf("%s/no/such/dir.crt", h_dir())), CORIO_ERR_IO);
    /* Reading: missing, not a certificate. */
    X509 *none = (X509 *)1;
    assert_int_equal(corio_x509_read_pem(h_strf("%s/missing.crt", h_dir()), &none),
                     CORIO_ERR_NOTFOUND);
    assert_null(none);
    const char *junk = h_strf("%s/junk.crt", h_dir());
    assert_int_equal(h_write_file(junk, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                        "-----END CERTIFICATE-----\n"),
                     CORIO_OK);
    assert_int_equal(corio_x509_read_pem(junk, &none), CORIO_ERR_MALFORMED);
    assert_int_equal(ERR_peek_error(), 0);
    const char *key = h_strf("%s/key.pem", h_dir());
    assert_int_equal(corio_openssl_key_write_pem(&gw->key, key), CORIO_OK);
    assert_int_equal(corio_x509_read_pem(key, &none), CORIO_ERR_MALFORMED);
    assert_int_equal(ERR_peek_error(), 0);
}

static void a_program_checks_its_own_certificate(void **state)
{
    (void)state;
    struct party *org = party(), *gw = party(), *other = party();
    X509 *ca = make_ca(org, NULL, 0);
    struct corio_x509_issue_options o = opts(ca, org, gw, CORIO_X509_ROLE_GATEWAY);
    const char *mine = h_strf("%s/mine.crt", h_dir());
    assert_int_equal(corio_x509_write_pem(issue(&o), mine), CORIO_OK);
    char why[256];
    assert_int_equal(corio_x509_check_own(mine, &gw->key, gw->id, why, sizeof why), CORIO_OK);
    /* The certificate of another key. */
    assert_int_equal(corio_x509_check_own(mine, &other->key, gw->id, why, sizeof why),
                     CORIO_ERR_BADSIG);
    assert_non_null(strstr(why, "another key"));
    /* For this key, but naming another gateway. */
    assert_int_equal(corio_x509_check_own(mine, &gw->key, other->id, why, sizeof why),
                     CORIO_ERR_POLICY);
    assert_non_null(strstr(why, gw->id));
    /* A certificate without DIDs (another CA's way) is judged by its key alone. */
    struct corio_x509_issue_options c = opts(ca, org, gw, CORIO_X509_ROLE_CLOUD);
    const char *plain = h_strf("%s/plain.crt", h_dir());
    assert_int_equal(corio_x509_write_pem(issue(&c), plain), CORIO_OK);
    assert_int_equal(corio_x509_check_own(plain, &gw->key, other->id, why, sizeof why), CORIO_OK);
    assert_int_equal(
        corio_x509_check_own(h_strf("%s/none.crt", h_dir()), &gw->key, gw->id, why, sizeof why),
        CORIO_ERR_NOTFOUND);
    assert_non_null(strstr(why, "none.crt"));
    assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(ca_certificate_names_the_organisation),
        H_TEST(ca_refuses_bad_input),
        H_TEST(gateway_certificate_chains_for_server_and_client),
        H_TEST(cloud_and_ledger_node_roles),
        H_TEST(host_names),
        H_TEST(issue_refuses_bad_input),
        H_TEST(pem_files),
        H_TEST(a_program_checks_its_own_certificate),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
