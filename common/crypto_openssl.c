/*
 * crypto_openssl.c - the OpenSSL 3 backend of include/corio/crypto.h and the PEM
 * key-file helpers of Linux programs (common/crypto_openssl.h).
 *
 * Only the EVP and provider-era APIs of OpenSSL 3.0 are used, plus ECDSA_SIG for the
 * DER form of signatures and EC_POINT to derive a public key from an imported scalar
 * (neither is deprecated in 3.0). OpenSSL speaks DER signatures; Corio speaks raw
 * r || s, so every signature crosses corio_openssl_sig_*() here.
 */
#include "crypto_openssl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define GROUP_NAME "prime256v1"

/* Every failure path ends here, so OpenSSL's per-thread error queue stays clean. */
static int fail(int rc)
{
    ERR_clear_error();
    return rc;
}

int corio_openssl_sig_der_to_raw(const uint8_t *der, size_t der_len,
                                 uint8_t raw[CORIO_P256_SIG_LEN])
{
    if (!der || !raw)
        return CORIO_ERR_INVAL;
    if (der_len == 0 || der_len > CORIO_OPENSSL_SIG_DER_MAX)
        return CORIO_ERR_MALFORMED;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig)
        return fail(CORIO_ERR_MALFORMED);
    int rc = CORIO_ERR_MALFORMED;
    unsigned char again[CORIO_OPENSSL_SIG_DER_MAX];
    unsigned char *q = again;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    /* Canonical DER only: all input consumed and re-encoding gives the same bytes. */
    if ((size_t)(p - der) != der_len || i2d_ECDSA_SIG(sig, NULL) != (int)der_len ||
        i2d_ECDSA_SIG(sig, &q) != (int)der_len || memcmp(again, der, der_len) != 0)
        goto out;
    if (BN_is_negative(r) || BN_is_negative(s) || BN_num_bytes(r) > 32 || BN_num_bytes(s) > 32)
        goto out;
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        goto out;
    rc = CORIO_OK;
out:
    ECDSA_SIG_free(sig);
    return rc == CORIO_OK ? rc : fail(rc);
}

int corio_openssl_sig_raw_to_der(const uint8_t raw[CORIO_P256_SIG_LEN], uint8_t *der, size_t cap)
{
    if (!raw || !der)
        return CORIO_ERR_INVAL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL);
    BIGNUM *s = BN_bin2bn(raw + 32, 32, NULL);
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return fail(CORIO_ERR_CRYPTO);
    }
    int rc;
    int len = i2d_ECDSA_SIG(sig, NULL);
    if (len <= 0) {
        rc = fail(CORIO_ERR_CRYPTO);
    } else if ((size_t)len > cap) {
        rc = CORIO_ERR_NOSPACE;
    } else {
        unsigned char *q = der;
        rc = i2d_ECDSA_SIG(sig, &q) == len ? len : fail(CORIO_ERR_CRYPTO);
    }
    ECDSA_SIG_free(sig);
    return rc;
}

/*
 * An EC P-256 EVP_PKEY from a validated uncompressed point and, when priv is not NULL,
 * its private scalar.
 */
static int pkey_from_parts(const uint8_t pub[CORIO_P256_PUB_LEN], const BIGNUM *priv,
                           EVP_PKEY **out)
{
    int rc = CORIO_ERR_CRYPTO;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, GROUP_NAME, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, CORIO_P256_PUB_LEN) ||
        (priv && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
        goto out;
    *out = pkey;
    rc = CORIO_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc == CORIO_OK ? rc : fail(rc);
}

int corio_openssl_pkey_from_public(const uint8_t pub[CORIO_P256_PUB_LEN], EVP_PKEY **out)
{
    if (!pub || !out)
        return CORIO_ERR_INVAL;
    int rc = corio_p256_point_check(pub);
    if (rc != CORIO_OK)
        return rc;
    return pkey_from_parts(pub, NULL, out);
}

/* Whether pkey is an EC key on P-256. */
static int is_p256(const EVP_PKEY *pkey)
{
    char name[64];
    size_t len = 0;
    if (!EVP_PKEY_is_a(pkey, "EC") ||
        !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name,
                                        &len)) {
        ERR_clear_error();
        return 0;
    }
    return strcmp(name, GROUP_NAME) == 0;
}

/* Whether pkey carries its private part. */
static int has_private(const EVP_PKEY *pkey)
{
    BIGNUM *d = NULL;
    int ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 && d != NULL;
    BN_clear_free(d);
    if (!ok)
        ERR_clear_error();
    return ok;
}

int corio_openssl_key_from_pkey(EVP_PKEY *pkey, struct corio_key *key)
{
    if (!pkey || !key)
        return CORIO_ERR_INVAL;
    if (!is_p256(pkey) || !has_private(pkey))
        return CORIO_ERR_UNSUPPORTED;
    key->ops = &corio_crypto_openssl_ops;
    key->id = 0;
    key->obj = pkey;
    key->flags = CORIO_KEY_EXPORTABLE;
    return CORIO_OK;
}

EVP_PKEY *corio_openssl_key_pkey(const struct corio_key *key)
{
    if (!key || key->ops != &corio_crypto_openssl_ops)
        return NULL;
    return key->obj;
}

/* ---- the backend table ---- */

static int ossl_random(uint8_t *out, size_t len)
{
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(out, chunk) != 1)
            return fail(CORIO_ERR_CRYPTO);
        out += chunk;
        len -= (size_t)chunk;
    }
    return CORIO_OK;
}

static int ossl_sha256(const uint8_t *data, size_t len, uint8_t out[CORIO_SHA256_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != CORIO_SHA256_LEN)
        return fail(CORIO_ERR_CRYPTO);
    return CORIO_OK;
}

/* The state holds one EVP_MD_CTX pointer; memcpy keeps the access alias-safe. */
static EVP_MD_CTX *md_of(void *state)
{
    EVP_MD_CTX *md;
    memcpy(&md, state, sizeof md);
    return md;
}

static int ossl_sha256_start(void *state)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return fail(CORIO_ERR_CRYPTO);
    }
    memcpy(state, &md, sizeof md);
    return CORIO_OK;
}

static int ossl_sha256_update(void *state, const uint8_t *data, size_t len)
{
    return EVP_DigestUpdate(md_of(state), data, len) == 1 ? CORIO_OK : fail(CORIO_ERR_CRYPTO);
}

static void ossl_sha256_abort(void *state)
{
    EVP_MD_CTX *md = md_of(state);
    EVP_MD_CTX_free(md);
    md = NULL;
    memcpy(state, &md, sizeof md);
}

static int ossl_sha256_finish(void *state, uint8_t out[CORIO_SHA256_LEN])
{
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(md_of(state), out, &n) == 1 && n == CORIO_SHA256_LEN;
    ossl_sha256_abort(state);
    return ok ? CORIO_OK : fail(CORIO_ERR_CRYPTO);
}

static int ossl_key_generate(uint32_t id, unsigned flags, struct corio_key *key)
{
    (void)id; /* the wrapper refuses non-zero ids: this backend has no persistent keys */
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!pkey)
        return fail(CORIO_ERR_CRYPTO);
    key->id = 0;
    key->obj = pkey;
    key->flags = flags & CORIO_KEY_EXPORTABLE;
    return CORIO_OK;
}

static int ossl_key_import(uint32_t id, unsigned flags, const uint8_t priv[CORIO_P256_SCALAR_LEN],
                           struct corio_key *key)
{
    (void)id;
    int rc = CORIO_ERR_CRYPTO;
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *point = group ? EC_POINT_new(group) : NULL;
    BIGNUM *d = BN_secure_new();
    EVP_PKEY *pkey = NULL;
    uint8_t pub[CORIO_P256_PUB_LEN];
    if (!point || !d || !BN_bin2bn(priv, CORIO_P256_SCALAR_LEN, d))
        goto out;
    /* OpenSSL 3.0 does not derive the public key on import: do it here. */
    BN_set_flags(d, BN_FLG_CONSTTIME);
    if (!EC_POINT_mul(group, point, d, NULL, NULL, NULL) ||
        EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, NULL) !=
            sizeof pub)
        goto out;
    rc = pkey_from_parts(pub, d, &pkey);
    if (rc != CORIO_OK)
        goto out;
    key->id = 0;
    key->obj = pkey;
    key->flags = flags & CORIO_KEY_EXPORTABLE;
out:
    BN_clear_free(d);
    EC_POINT_free(point);
    EC_GROUP_free(group);
    return rc == CORIO_OK ? rc : fail(rc);
}

static int ossl_key_open(uint32_t id, struct corio_key *key)
{
    (void)id;
    (void)key;
    return CORIO_ERR_UNSUPPORTED;
}

static int ossl_key_export(const struct corio_key *key, uint8_t priv[CORIO_P256_SCALAR_LEN])
{
    BIGNUM *d = NULL;
    int ok = EVP_PKEY_get_bn_param(key->obj, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
             BN_bn2binpad(d, priv, CORIO_P256_SCALAR_LEN) == CORIO_P256_SCALAR_LEN;
    BN_clear_free(d);
    return ok ? CORIO_OK : fail(CORIO_ERR_CRYPTO);
}

static int ossl_key_public(const struct corio_key *key, uint8_t pub[CORIO_P256_PUB_LEN])
{
    uint8_t buf[CORIO_P256_PUB_LEN];
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key->obj, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) !=
        1)
        return fail(CORIO_ERR_CRYPTO);
    /* A key read from a file may carry its point compressed. */
    return corio_p256_point_parse(buf, len, pub) == CORIO_OK ? CORIO_OK : CORIO_ERR_CRYPTO;
}

static int ossl_sign(const struct corio_key *key, const uint8_t hash[CORIO_SHA256_LEN],
                     uint8_t sig[CORIO_P256_SIG_LEN])
{
    int rc = CORIO_ERR_CRYPTO;
    uint8_t der[CORIO_OPENSSL_SIG_DER_MAX];
    size_t der_len = sizeof der;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->obj, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
        EVP_PKEY_sign(ctx, der, &der_len, hash, CORIO_SHA256_LEN) <= 0)
        goto out;
    rc = corio_openssl_sig_der_to_raw(der, der_len, sig) == CORIO_OK ? CORIO_OK : CORIO_ERR_CRYPTO;
out:
    EVP_PKEY_CTX_free(ctx);
    return rc == CORIO_OK ? rc : fail(rc);
}

static int ossl_verify(const uint8_t pub[CORIO_P256_PUB_LEN], const uint8_t hash[CORIO_SHA256_LEN],
                       const uint8_t sig[CORIO_P256_SIG_LEN])
{
    uint8_t der[CORIO_OPENSSL_SIG_DER_MAX];
    int der_len = corio_openssl_sig_raw_to_der(sig, der, sizeof der);
    if (der_len < 0)
        return der_len;
    EVP_PKEY *pkey = NULL;
    int rc = pkey_from_parts(pub, NULL, &pkey);
    if (rc != CORIO_OK)
        return rc;
    rc = CORIO_ERR_CRYPTO;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx && EVP_PKEY_verify_init(ctx) > 0 &&
        EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0) {
        int v = EVP_PKEY_verify(ctx, der, (size_t)der_len, hash, CORIO_SHA256_LEN);
        rc = v == 1 ? CORIO_OK : v == 0 ? CORIO_ERR_BADSIG : CORIO_ERR_CRYPTO;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rc == CORIO_OK ? rc : fail(rc);
}

static void ossl_key_close(struct corio_key *key)
{
    EVP_PKEY_free(key->obj);
    key->obj = NULL;
}

static int ossl_key_destroy(struct corio_key *key)
{
    ossl_key_close(key);
    return CORIO_OK;
}

const struct corio_crypto_ops corio_crypto_openssl_ops = {
    .name = "openssl",
    .caps = 0,
    .random = ossl_random,
    .sha256 = ossl_sha256,
    .sha256_start = ossl_sha256_start,
    .sha256_update = ossl_sha256_update,
    .sha256_finish = ossl_sha256_finish,
    .sha256_abort = ossl_sha256_abort,
    .key_generate = ossl_key_generate,
    .key_import = ossl_key_import,
    .key_open = ossl_key_open,
    .key_export = ossl_key_export,
    .key_public = ossl_key_public,
    .sign_hash = ossl_sign,
    .verify_hash = ossl_verify,
    .key_close = ossl_key_close,
    .key_destroy = ossl_key_destroy,
};

/* ---- PEM key files ---- */

/* Refuses to prompt for a passphrase and notes that one was wanted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(int *)u = 1;
    return -1;
}

int corio_openssl_key_read_pem(const char *path, struct corio_key *key)
{
    if (!path || !key)
        return CORIO_ERR_INVAL;
    memset(key, 0, sizeof *key);
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    int wanted_passphrase = 0;
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, &wanted_passphrase);
    int read_error = ferror(f);
    fclose(f);
    if (!pkey) {
        if (wanted_passphrase)
            return fail(CORIO_ERR_UNSUPPORTED);
        return fail(read_error ? CORIO_ERR_IO : CORIO_ERR_MALFORMED);
    }
    int rc = corio_openssl_key_from_pkey(pkey, key);
    if (rc == CORIO_OK) {
        /* A tampered or truncated file could pair a scalar with the wrong point. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!ctx || EVP_PKEY_pairwise_check(ctx) != 1)
            rc = CORIO_ERR_MALFORMED;
        EVP_PKEY_CTX_free(ctx);
        if (rc != CORIO_OK)
            memset(key, 0, sizeof *key);
    }
    if (rc != CORIO_OK)
        EVP_PKEY_free(pkey);
    return rc == CORIO_OK ? rc : fail(rc);
}

/* Writes the whole PEM to fd and syncs it. */
static int write_pem_fd(int fd, EVP_PKEY *pkey)
{
    BIO *bio = BIO_new_fd(fd, BIO_NOCLOSE);
    if (!bio)
        return CORIO_ERR_CRYPTO;
    int ok = PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
             BIO_flush(bio) == 1;
    BIO_free(bio);
    if (!ok)
        return CORIO_ERR_IO;
    return fsync(fd) == 0 ? CORIO_OK : CORIO_ERR_IO;
}

int corio_openssl_key_write_pem(const struct corio_key *key, const char *path)
{
    if (!key || !path || !key->ops)
        return CORIO_ERR_INVAL;
    EVP_PKEY *pkey = corio_openssl_key_pkey(key);
    if (!pkey)
        return CORIO_ERR_INVAL;
    if (!(key->flags & CORIO_KEY_EXPORTABLE))
        return CORIO_ERR_POLICY;
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".XXXXXX");
    if (!tmp)
        return CORIO_ERR_IO;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", sizeof ".XXXXXX");
    int fd = mkstemp(tmp); /* mode 0600, whatever the umask */
    if (fd < 0) {
        free(tmp);
        return CORIO_ERR_IO;
    }
    int rc = fchmod(fd, S_IRUSR | S_IWUSR) == 0 ? write_pem_fd(fd, pkey) : CORIO_ERR_IO;
    if (close(fd) != 0 && rc == CORIO_OK)
        rc = CORIO_ERR_IO;
    /* link() never replaces an existing file, which rename() would. */
    if (rc == CORIO_OK && link(tmp, path) != 0)
        rc = errno == EEXIST ? CORIO_ERR_STATE : CORIO_ERR_IO;
    unlink(tmp);
    free(tmp);
    return rc == CORIO_OK ? rc : fail(rc);
}
