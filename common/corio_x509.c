/*
 * corio_x509.c - organisation CAs and the certificates they issue (corio_x509.h), with
 * OpenSSL 3's libcrypto.
 *
 * Names in the subjectAltName are built as GENERAL_NAMEs from checked text, never
 * through OpenSSL's configuration syntax ("DNS:a,IP:b"), so a name cannot smuggle in
 * another. The fixed extensions (basicConstraints, keyUsage, extendedKeyUsage, key
 * identifiers) go through X509V3_EXT_nconf_nid with constant values.
 */
#include "corio_x509.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "corio/error.h"
#include "corio/topic.h"
#include "crypto_openssl.h"

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Every failure path ends here, so OpenSSL's per-thread error queue stays clean. */
static int fail(int rc)
{
    ERR_clear_error();
    return rc;
}

static const char *const role_names[] = {
    [CORIO_X509_ROLE_GATEWAY] = "gateway",
    [CORIO_X509_ROLE_CLOUD] = "cloud",
    [CORIO_X509_ROLE_LEDGER_NODE] = "ledger-node",
};
#define NROLES (sizeof role_names / sizeof role_names[0])

const char *corio_x509_role_name(enum corio_x509_role role)
{
    return (unsigned)role < NROLES ? role_names[role] : NULL;
}

int corio_x509_role_parse(const char *name, enum corio_x509_role *role)
{
    if (!name || !role)
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < NROLES; i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *role = (enum corio_x509_role)i;
            return CORIO_OK;
        }
    }
    return CORIO_ERR_INVAL;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool corio_x509_dns_name_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            /* A label: 1 to 63 characters, neither starting nor ending with '-'. */
            if (label == 0 || label > 63 || s[i - label] == '-' || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-')
            return false;
        label++;
    }
    return true;
}

/* UTF-8 text fit for a name attribute: 1 to max bytes, no control characters (bytes
 * below 0x20 and DEL; the multi-byte sequences themselves are checked by OpenSSL). */
static bool text_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* A random positive serial of 127 bits whose top byte is never zero, so it is always
 * 16 bytes long (RFC 5280 §4.1.2.2 allows up to 20 octets). */
static int set_serial(X509 *x)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return CORIO_ERR_CRYPTO;
    b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok ? CORIO_OK : CORIO_ERR_CRYPTO;
}

static int set_validity(X509 *x, int days)
{
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -(long)CORIO_X509_BACKDATE_SECONDS) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
        return CORIO_ERR_CRYPTO;
    return CORIO_OK;
}

static int add_text(X509_NAME *name, int nid, const char *text)
{
    return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)text, -1, -1,
                                      0) == 1
               ? CORIO_OK
               : CORIO_ERR_CRYPTO;
}

/* One of the fixed extensions, with ctx naming issuer and subject. */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (!ext)
        return CORIO_ERR_CRYPTO;
    int ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? CORIO_OK : CORIO_ERR_CRYPTO;
}

static int push_string(GENERAL_NAMES *gens, int type, const char *text)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (!g || !s || ASN1_STRING_set(s, text, (int)strlen(text)) != 1) {
        GENERAL_NAME_free(g);
        ASN1_IA5STRING_free(s);
        return CORIO_ERR_CRYPTO;
    }
    GENERAL_NAME_set0_value(g, type, s);
    if (sk_GENERAL_NAME_push(gens, g) <= 0) {
        GENERAL_NAME_free(g);
        return CORIO_ERR_CRYPTO;
    }
    return CORIO_OK;
}

/* An IPv4 or IPv6 address as its 4 or 16 bytes: the length, or 0 if not an address. */
static int parse_ip(const char *text, unsigned char out[16])
{
    if (inet_pton(AF_INET, text, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, text, out) == 1)
        return 16;
    return 0;
}

static int push_ip(GENERAL_NAMES *gens, const unsigned char *addr, int len)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();
    if (!g || !s || ASN1_OCTET_STRING_set(s, addr, len) != 1) {
        GENERAL_NAME_free(g);
        ASN1_OCTET_STRING_free(s);
        return CORIO_ERR_CRYPTO;
    }
    GENERAL_NAME_set0_value(g, GEN_IPADD, s);
    if (sk_GENERAL_NAME_push(gens, g) <= 0) {
        GENERAL_NAME_free(g);
        return CORIO_ERR_CRYPTO;
    }
    return CORIO_OK;
}

/* The short id a 65-byte public key founds, into id (25 bytes). */
static int id_of_key(const uint8_t pub[CORIO_P256_PUB_LEN], char id[CORIO_DID_ID_CHARS + 1])
{
    struct corio_did did;
    int rc = corio_did_from_key(&corio_crypto_openssl_ops, pub, CORIO_P256_PUB_LEN, &did);
    if (rc != CORIO_OK)
        return rc;
    return corio_did_id_format(did.id, id, CORIO_DID_ID_CHARS + 1) < 0 ? CORIO_ERR_INVAL : CORIO_OK;
}

int corio_x509_ca_new(const struct corio_x509_ca_options *o, const char *org_id, X509 **out,
                      char *why, size_t whylen)
{
    say(why, whylen, "%s", "");
    if (out)
        *out = NULL;
    if (!o || !o->org_key || !out) {
        say(why, whylen, "missing argument");
        return CORIO_ERR_INVAL;
    }
    *out = NULL;
    EVP_PKEY *pkey = corio_openssl_key_pkey(o->org_key);
    if (!pkey) {
        say(why, whylen, "the organisation's key is not an OpenSSL key");
        return CORIO_ERR_UNSUPPORTED;
    }
    int days = o->days ? o->days : CORIO_X509_CA_DAYS_DEFAULT;
    if (days < 1 || days > CORIO_X509_CA_DAYS_MAX) {
        say(why, whylen, "validity of %d days: want 1 to %d", days, CORIO_X509_CA_DAYS_MAX);
        return CORIO_ERR_INVAL;
    }
    if (o->name && !text_valid(o->name, CORIO_X509_CN_MAX)) {
        say(why, whylen,
            "the organisation's name must be 1 to %d bytes without control "
            "characters",
            CORIO_X509_CN_MAX);
        return CORIO_ERR_INVAL;
    }
    char id[CORIO_DID_ID_CHARS + 1];
    uint8_t pub[CORIO_P256_PUB_LEN];
    int rc = corio_key_public(o->org_key, pub);
    if (rc != CORIO_OK) {
        say(why, whylen, "cannot read the organisation's public key: %s", corio_strerror(rc));
        return rc;
    }
    if (org_id) {
        if (!corio_short_id_valid(org_id, strlen(org_id))) {
            say(why, whylen, "'%s' is not a short id", org_id);
            return CORIO_ERR_INVAL;
        }
        snprintf(id, sizeof id, "%s", org_id);
    } else if ((rc = id_of_key(pub, id)) != CORIO_OK) {
        say(why, whylen, "cannot derive the organisation's id: %s", corio_strerror(rc));
        return rc;
    }
    char did[CORIO_DID_PREFIX_LEN + CORIO_DID_ID_CHARS + 1];
    snprintf(did, sizeof did, CORIO_DID_PREFIX "%s", id);

    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    rc = CORIO_ERR_CRYPTO;
    if (!x || !name || !gens)
        goto out;
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x) != CORIO_OK ||
        set_validity(x, days) != CORIO_OK)
        goto out;
    if (o->name && add_text(name, NID_organizationName, o->name) != CORIO_OK)
        goto out;
    if (add_text(name, NID_commonName, did) != CORIO_OK || X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1)
        goto out;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != CORIO_OK ||
        add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != CORIO_OK ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") != CORIO_OK ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != CORIO_OK)
        goto out;
    if (push_string(gens, GEN_URI, did) != CORIO_OK ||
        X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
        goto out;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto out;
    *out = x;
    x = NULL;
    rc = CORIO_OK;
out:
    if (rc != CORIO_OK)
        say(why, whylen, "OpenSSL could not make the certificate");
    X509_free(x);
    X509_NAME_free(name);
    GENERAL_NAMES_free(gens);
    return rc == CORIO_OK ? rc : fail(rc);
}

/* The UTF-8 text of the first attribute nid of name into buf, or false. */
static bool name_text(const X509_NAME *name, int nid, char *buf, size_t cap)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0)
        return false;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *utf8 = NULL;
    int n = s ? ASN1_STRING_to_UTF8(&utf8, s) : -1;
    bool ok = n >= 0 && (size_t)n < cap && memchr(utf8, '\0', (size_t)n) == NULL;
    if (ok) {
        memcpy(buf, utf8, (size_t)n);
        buf[n] = '\0';
    }
    OPENSSL_free(utf8);
    return ok;
}

static int check_issue(const struct corio_x509_issue_options *o, EVP_PKEY *ca_pkey, char *why,
                       size_t whylen)
{
    if (X509_check_ca(o->ca_cert) < 1) {
        say(why, whylen, "the CA certificate is not a CA's (basicConstraints CA:TRUE)");
        return CORIO_ERR_INVAL;
    }
    if (X509_check_private_key(o->ca_cert, ca_pkey) != 1) {
        say(why, whylen, "the CA certificate is not for the key given to sign with");
        return CORIO_ERR_INVAL;
    }
    if (!corio_x509_role_name(o->role)) {
        say(why, whylen, "unknown role %d", (int)o->role);
        return CORIO_ERR_INVAL;
    }
    if ((o->role == CORIO_X509_ROLE_LEDGER_NODE) != (o->node_id != 0)) {
        say(why, whylen,
            o->node_id ? "only a ledger node's certificate names a node id"
                       : "a ledger node's certificate names its node id");
        return CORIO_ERR_INVAL;
    }
    if (o->ndns + o->nip + 2 > CORIO_X509_MAX_NAMES) {
        say(why, whylen, "too many names (at most %d)", CORIO_X509_MAX_NAMES - 2);
        return CORIO_ERR_INVAL;
    }
    for (size_t i = 0; i < o->ndns; i++) {
        if (!corio_x509_dns_name_valid(o->dns[i])) {
            say(why, whylen, "'%s' is not a host name", o->dns[i] ? o->dns[i] : "(null)");
            return CORIO_ERR_INVAL;
        }
    }
    unsigned char addr[16];
    for (size_t i = 0; i < o->nip; i++) {
        if (!o->ip[i] || parse_ip(o->ip[i], addr) == 0) {
            say(why, whylen, "'%s' is not an IPv4 or IPv6 address", o->ip[i] ? o->ip[i] : "(null)");
            return CORIO_ERR_INVAL;
        }
    }
    if (o->did_id && !corio_short_id_valid(o->did_id, strlen(o->did_id))) {
        say(why, whylen, "'%s' is not a short id", o->did_id);
        return CORIO_ERR_INVAL;
    }
    if (o->cn && !text_valid(o->cn, CORIO_X509_CN_MAX)) {
        say(why, whylen, "the common name must be 1 to %d bytes without control characters",
            CORIO_X509_CN_MAX);
        return CORIO_ERR_INVAL;
    }
    int days = o->days ? o->days : CORIO_X509_LEAF_DAYS_DEFAULT;
    if (days < 1 || days > CORIO_X509_LEAF_DAYS_MAX) {
        say(why, whylen, "validity of %d days: want 1 to %d", days, CORIO_X509_LEAF_DAYS_MAX);
        return CORIO_ERR_INVAL;
    }
    return CORIO_OK;
}

int corio_x509_issue(const struct corio_x509_issue_options *o, X509 **out, char *why, size_t whylen)
{
    say(why, whylen, "%s", "");
    if (out)
        *out = NULL;
    if (!o || !o->ca_cert || !o->ca_key || !o->pub || !out || (o->ndns && !o->dns) ||
        (o->nip && !o->ip)) {
        say(why, whylen, "missing argument");
        return CORIO_ERR_INVAL;
    }
    *out = NULL;
    EVP_PKEY *ca_pkey = corio_openssl_key_pkey(o->ca_key);
    if (!ca_pkey) {
        say(why, whylen, "the CA's key is not an OpenSSL key");
        return CORIO_ERR_UNSUPPORTED;
    }
    int rc = check_issue(o, ca_pkey, why, whylen);
    if (rc != CORIO_OK)
        return fail(rc);
    EVP_PKEY *subject_pkey = NULL;
    rc = corio_openssl_pkey_from_public(o->pub, &subject_pkey);
    if (rc != CORIO_OK) {
        say(why, whylen, "the subject's public key is not a P-256 point");
        return fail(rc);
    }
    if (EVP_PKEY_eq(subject_pkey, ca_pkey) == 1) {
        EVP_PKEY_free(subject_pkey);
        say(why, whylen, "the subject's key is the CA's own key");
        return fail(CORIO_ERR_INVAL);
    }

    /* The subject's identity and names. */
    char id[CORIO_DID_ID_CHARS + 1] = "";
    bool with_uri = o->did_id || o->role != CORIO_X509_ROLE_CLOUD;
    if (o->did_id)
        snprintf(id, sizeof id, "%s", o->did_id);
    else if (with_uri && (rc = id_of_key(o->pub, id)) != CORIO_OK) {
        EVP_PKEY_free(subject_pkey);
        say(why, whylen, "cannot derive the subject's id: %s", corio_strerror(rc));
        return fail(rc);
    }
    char org_did[CORIO_X509_CN_MAX + 1] = "", cn[CORIO_X509_CN_MAX + 1];
    const X509_NAME *ca_name = X509_get_subject_name(o->ca_cert);
    struct corio_did parsed;
    bool have_org = name_text(ca_name, NID_commonName, org_did, sizeof org_did) &&
                    corio_did_parse(org_did, strlen(org_did), &parsed) == CORIO_OK &&
                    !parsed.has_key;
    if (o->cn)
        snprintf(cn, sizeof cn, "%s", o->cn);
    else if (o->role == CORIO_X509_ROLE_CLOUD)
        snprintf(cn, sizeof cn, "corio-cloud-%.24s",
                 have_org ? org_did + CORIO_DID_PREFIX_LEN : "unnamed");
    else
        snprintf(cn, sizeof cn, "%s", id);
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    rc = CORIO_ERR_CRYPTO;
    if (!x || !name || !gens)
        goto out;
    int days = o->days ? o->days : CORIO_X509_LEAF_DAYS_DEFAULT;
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x) != CORIO_OK ||
        set_validity(x, days) != CORIO_OK)
        goto out;
    if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(o->ca_cert)) > 0) {
        say(why, whylen, "%d days would outlive the CA certificate", days);
        rc = CORIO_ERR_INVAL;
        goto out;
    }
    if ((have_org && add_text(name, NID_organizationName, org_did) != CORIO_OK) ||
        add_text(name, NID_organizationalUnitName, corio_x509_role_name(o->role)) != CORIO_OK ||
        add_text(name, NID_commonName, cn) != CORIO_OK || X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, ca_name) != 1 || X509_set_pubkey(x, subject_pkey) != 1)
        goto out;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, o->ca_cert, x, NULL, NULL, 0);
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != CORIO_OK ||
        add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != CORIO_OK ||
        add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") != CORIO_OK ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") != CORIO_OK ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != CORIO_OK)
        goto out;
    if (with_uri) {
        char did[CORIO_DID_PREFIX_LEN + CORIO_DID_ID_CHARS + 1];
        snprintf(did, sizeof did, CORIO_DID_PREFIX "%s", id);
        if (push_string(gens, GEN_URI, did) != CORIO_OK)
            goto out;
    }
    if (o->node_id) {
        char urn[sizeof CORIO_X509_LEDGER_NODE_URI + 20];
        snprintf(urn, sizeof urn, CORIO_X509_LEDGER_NODE_URI "%llu",
                 (unsigned long long)o->node_id);
        if (push_string(gens, GEN_URI, urn) != CORIO_OK)
            goto out;
    }
    for (size_t i = 0; i < o->ndns; i++)
        if (push_string(gens, GEN_DNS, o->dns[i]) != CORIO_OK)
            goto out;
    for (size_t i = 0; i < o->nip; i++) {
        unsigned char addr[16];
        int len = parse_ip(o->ip[i], addr);
        if (push_ip(gens, addr, len) != CORIO_OK)
            goto out;
    }
    if (sk_GENERAL_NAME_num(gens) > 0 &&
        X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
        goto out;
    if (X509_sign(x, ca_pkey, EVP_sha256()) <= 0)
        goto out;
    *out = x;
    x = NULL;
    rc = CORIO_OK;
out:
    if (rc == CORIO_ERR_CRYPTO)
        say(why, whylen, "OpenSSL could not make the certificate");
    X509_free(x);
    X509_NAME_free(name);
    GENERAL_NAMES_free(gens);
    EVP_PKEY_free(subject_pkey);
    return rc == CORIO_OK ? rc : fail(rc);
}

int corio_x509_write_pem(X509 *cert, const char *path)
{
    if (!cert || !path)
        return CORIO_ERR_INVAL;
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".XXXXXX");
    if (!tmp)
        return CORIO_ERR_IO;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", sizeof ".XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return CORIO_ERR_IO;
    }
    int rc = CORIO_ERR_IO;
    BIO *bio = fchmod(fd, 0644) == 0 ? BIO_new_fd(fd, BIO_NOCLOSE) : NULL;
    if (bio && PEM_write_bio_X509(bio, cert) == 1 && BIO_flush(bio) == 1 && fsync(fd) == 0)
        rc = CORIO_OK;
    BIO_free(bio);
    if (close(fd) != 0 && rc == CORIO_OK)
        rc = CORIO_ERR_IO;
    /* link() never replaces an existing file, which rename() would. */
    if (rc == CORIO_OK && link(tmp, path) != 0)
        rc = errno == EEXIST ? CORIO_ERR_STATE : CORIO_ERR_IO;
    unlink(tmp);
    free(tmp);
    return rc == CORIO_OK ? rc : fail(rc);
}

int corio_x509_read_pem(const char *path, X509 **out)
{
    if (!path || !out)
        return CORIO_ERR_INVAL;
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x)
        return fail(CORIO_ERR_MALFORMED);
    *out = x;
    return CORIO_OK;
}

int corio_x509_dids(X509 *cert, char (*ids)[CORIO_DID_ID_CHARS + 1], size_t max)
{
    if (!cert || (max && !ids))
        return CORIO_ERR_INVAL;
    int crit = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (!gens) {
        ERR_clear_error();
        return 0;
    }
    int found = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_URI)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        struct corio_did did;
        if (len <= 0 || corio_did_parse((const char *)p, (size_t)len, &did) != CORIO_OK ||
            did.has_key)
            continue;
        if ((size_t)found < max)
            corio_did_id_format(did.id, ids[found], CORIO_DID_ID_CHARS + 1);
        found++;
    }
    GENERAL_NAMES_free(gens);
    return found;
}

int corio_x509_matches_key(X509 *cert, const struct corio_key *key)
{
    uint8_t pub[CORIO_P256_PUB_LEN];
    if (!cert || !key || corio_key_public(key, pub) != CORIO_OK)
        return CORIO_ERR_INVAL;
    EVP_PKEY *pk = NULL;
    if (corio_openssl_pkey_from_public(pub, &pk) != CORIO_OK)
        return fail(CORIO_ERR_INVAL);
    const EVP_PKEY *theirs = X509_get0_pubkey(cert);
    int same = theirs && EVP_PKEY_eq(theirs, pk) == 1;
    EVP_PKEY_free(pk);
    return same ? CORIO_OK : fail(CORIO_ERR_BADSIG);
}

int corio_x509_check_own(const char *cert_path, const struct corio_key *key, const char *short_id,
                         char *why, size_t whylen)
{
    say(why, whylen, "%s", "");
    if (!cert_path || !key || !short_id) {
        say(why, whylen, "missing argument");
        return CORIO_ERR_INVAL;
    }
    X509 *x = NULL;
    int rc = corio_x509_read_pem(cert_path, &x);
    if (rc != CORIO_OK) {
        say(why, whylen, "%s: %s", cert_path,
            rc == CORIO_ERR_MALFORMED ? "no PEM certificate in it" : corio_strerror(rc));
        return rc;
    }
    rc = corio_x509_matches_key(x, key);
    if (rc != CORIO_OK) {
        say(why, whylen, "%s: the certificate is for another key", cert_path);
        X509_free(x);
        return rc == CORIO_ERR_BADSIG ? rc : CORIO_ERR_INVAL;
    }
    char ids[CORIO_X509_MAX_NAMES][CORIO_DID_ID_CHARS + 1];
    int n = corio_x509_dids(x, ids, CORIO_X509_MAX_NAMES);
    X509_free(x);
    if (n <= 0)
        return CORIO_OK;
    for (int i = 0; i < n && i < CORIO_X509_MAX_NAMES; i++)
        if (strcmp(ids[i], short_id) == 0)
            return CORIO_OK;
    say(why, whylen, "%s: the certificate names did:corio:%s, not did:corio:%s", cert_path, ids[0],
        short_id);
    return CORIO_ERR_POLICY;
}
