/*
 * test_crypto_openssl.c - the OpenSSL 3 backend (common/crypto_openssl.c): hashing,
 * keys, strict DER <-> raw signature conversion, and PEM key files (mode 0600, never
 * overwritten, foreign and encrypted keys refused), with a clean OpenSSL error queue
 * after every failure.
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
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "corio/crypto.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"

static const struct corio_crypto_ops *ossl = &corio_crypto_openssl_ops;
static char *dir;

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* A path inside the test's directory (static buffer: one at a time). */
static const char *path_of(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static int group_setup(void **state)
{
    (void)state;
    dir = h_tmpdir("crypto-openssl");
    return dir ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    static const char *files[] = {"a.pem",    "garbage.pem",  "enc.pem",   "p384.pem",
                                  "sec1.pem", "mismatch.pem", "empty.pem", "x.pem"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(path_of(files[i]));
    rmdir(dir);
    free(dir);
    return 0;
}

static void sha256_and_random(void **state)
{
    (void)state;
    uint8_t out[32], want[32];
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    assert_int_equal(corio_sha256(ossl, (const uint8_t *)"abc", 3, out), CORIO_OK);
    assert_memory_equal(out, want, 32);
    struct corio_sha256 h = {0};
    assert_int_equal(corio_sha256_start(&h, ossl), CORIO_OK);
    assert_int_equal(corio_sha256_update(&h, (const uint8_t *)"a", 1), CORIO_OK);
    assert_int_equal(corio_sha256_update(&h, (const uint8_t *)"bc", 2), CORIO_OK);
    assert_int_equal(corio_sha256_finish(&h, out), CORIO_OK);
    assert_memory_equal(out, want, 32);
    /* Aborting frees the OpenSSL context (ASan's leak check would see it otherwise). */
    assert_int_equal(corio_sha256_start(&h, ossl), CORIO_OK);
    corio_sha256_abort(&h);

    uint8_t r1[32] = {0}, r2[32] = {0};
    assert_int_equal(corio_random(ossl, r1, sizeof r1), CORIO_OK);
    assert_int_equal(corio_random(ossl, r2, sizeof r2), CORIO_OK);
    assert_memory_not_equal(r1, r2, 32);
}

static void keys_sign_and_verify(void **state)
{
    (void)state;
    struct corio_key key;
    uint8_t pub[65], hash[32] = {3}, sig[64], sig2[64], priv[32];
    assert_false(ossl->caps & CORIO_CRYPTO_CAP_DETERMINISTIC); /* OpenSSL 3.0 */
    assert_int_equal(corio_key_generate(ossl, 0, 0, &key), CORIO_OK);
    assert_non_null(corio_openssl_key_pkey(&key));
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
    assert_int_equal(corio_sign_hash(&key, hash, sig2), CORIO_OK);
    /* Randomized nonces: two valid, different signatures. */
    assert_memory_not_equal(sig, sig2, 64);
    assert_int_equal(corio_verify_hash(ossl, pub, 65, hash, sig), CORIO_OK);
    assert_int_equal(corio_verify_hash(ossl, pub, 65, hash, sig2), CORIO_OK);
    sig[5] ^= 1;
    assert_int_equal(corio_verify_hash(ossl, pub, 65, hash, sig), CORIO_ERR_BADSIG);
    assert_int_equal(ERR_peek_error(), 0);
    assert_int_equal(corio_key_export(&key, priv), CORIO_ERR_POLICY);
    corio_key_close(&key);

    /* No persistent ids in this backend. */
    assert_int_equal(corio_key_generate(ossl, 1, 0, &key), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(corio_key_open(ossl, 1, &key), CORIO_ERR_UNSUPPORTED);
}

static void import_derives_the_public_key(void **state)
{
    (void)state;
    /* RFC 6979 A.2.5's key, whose public point the RFC prints. */
    uint8_t priv[32], want[65], pub[65], back[32];
    unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", priv, 32);
    unhex("0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
          "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
          want, 65);
    struct corio_key key;
    assert_int_equal(corio_key_import(ossl, 0, CORIO_KEY_EXPORTABLE, priv, &key), CORIO_OK);
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    assert_memory_equal(pub, want, 65);
    assert_int_equal(corio_key_export(&key, back), CORIO_OK);
    assert_memory_equal(back, priv, 32);
    corio_key_close(&key);
}

static void der_conversion(void **state)
{
    (void)state;
    uint8_t raw[64], back[64], der[CORIO_OPENSSL_SIG_DER_MAX];
    /* r = 1, s = 2: the shortest DER. */
    memset(raw, 0, sizeof raw);
    raw[31] = 1;
    raw[63] = 2;
    static const uint8_t small[] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02};
    assert_int_equal(corio_openssl_sig_raw_to_der(raw, der, sizeof der), (int)sizeof small);
    assert_memory_equal(der, small, sizeof small);
    assert_int_equal(corio_openssl_sig_der_to_raw(small, sizeof small, back), CORIO_OK);
    assert_memory_equal(back, raw, 64);
    /* High bits set: each INTEGER needs a leading zero, the longest case (72 bytes). */
    memset(raw, 0xff, sizeof raw);
    assert_int_equal(corio_openssl_sig_raw_to_der(raw, der, sizeof der), 72);
    assert_int_equal(corio_openssl_sig_der_to_raw(der, 72, back), CORIO_OK);
    assert_memory_equal(back, raw, 64);
    assert_int_equal(corio_openssl_sig_raw_to_der(raw, der, 71), CORIO_ERR_NOSPACE);

    static const struct {
        const char *what;
        uint8_t der[12];
        size_t len;
    } bad[] = {
        {"empty", {0}, 0},
        {"truncated", {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01}, 7},
        {"trailing byte", {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00}, 9},
        {"extra leading zero", {0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02}, 9},
        {"negative r", {0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x02}, 8},
        {"long-form length", {0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02}, 9},
        {"wrong tag", {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02}, 8},
        {"one integer", {0x30, 0x03, 0x02, 0x01, 0x01}, 5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = corio_openssl_sig_der_to_raw(bad[i].der, bad[i].len, back);
        if (rc != CORIO_ERR_MALFORMED)
            fail_msg("%s: %d", bad[i].what, rc);
    }
    /* r of 33 significant bytes does not fit a P-256 signature. */
    uint8_t wide[2 + 2 + 33 + 3];
    size_t k = 0;
    wide[k++] = 0x30;
    wide[k++] = 2 + 33 + 3;
    wide[k++] = 0x02;
    wide[k++] = 33;
    wide[k++] = 0x01;
    memset(wide + k, 0, 32);
    k += 32;
    wide[k++] = 0x02;
    wide[k++] = 0x01;
    wide[k++] = 0x01;
    assert_int_equal(k, sizeof wide);
    assert_int_equal(corio_openssl_sig_der_to_raw(wide, sizeof wide, back), CORIO_ERR_MALFORMED);
    assert_int_equal(ERR_peek_error(), 0);
}

static void public_key_import(void **state)
{
    (void)state;
    uint8_t pub[65];
    unhex("0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
          "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
          pub, 65);
    EVP_PKEY *pkey = NULL;
    assert_int_equal(corio_openssl_pkey_from_public(pub, &pkey), CORIO_OK);
    assert_non_null(pkey);
    assert_true(EVP_PKEY_is_a(pkey, "EC"));
    uint8_t out[65];
    size_t len = 0;
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, out, sizeof out, &len), 1);
    assert_int_equal(len, 65);
    assert_memory_equal(out, pub, 65);
    EVP_PKEY_free(pkey);
    pub[64] ^= 1;
    pkey = NULL;
    assert_int_equal(corio_openssl_pkey_from_public(pub, &pkey), CORIO_ERR_MALFORMED);
    assert_null(pkey);
}

static void pem_round_trip_mode_0600(void **state)
{
    (void)state;
    struct corio_key key, back;
    uint8_t priv[32], priv2[32], pub[65], pub2[65], hash[32] = {5}, sig[64];
    assert_int_equal(corio_key_generate(ossl, 0, CORIO_KEY_EXPORTABLE, &key), CORIO_OK);
    mode_t old = umask(0); /* a permissive umask must not widen the key file */
    int rc = corio_openssl_key_write_pem(&key, path_of("a.pem"));
    umask(old);
    assert_int_equal(rc, CORIO_OK);
    struct stat st;
    assert_int_equal(stat(path_of("a.pem"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    FILE *f = fopen(path_of("a.pem"), "r");
    assert_non_null(f);
    char line[64] = {0};
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "-----BEGIN PRIVATE KEY-----\n"); /* PKCS#8, unencrypted */

    /* Never replaced. */
    assert_int_equal(corio_openssl_key_write_pem(&key, path_of("a.pem")), CORIO_ERR_STATE);

    assert_int_equal(corio_openssl_key_read_pem(path_of("a.pem"), &back), CORIO_OK);
    assert_true(back.flags & CORIO_KEY_EXPORTABLE);
    assert_int_equal(corio_key_export(&key, priv), CORIO_OK);
    assert_int_equal(corio_key_export(&back, priv2), CORIO_OK);
    assert_memory_equal(priv, priv2, 32);
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    assert_int_equal(corio_key_public(&back, pub2), CORIO_OK);
    assert_memory_equal(pub, pub2, 65);
    assert_int_equal(corio_sign_hash(&back, hash, sig), CORIO_OK);
    assert_int_equal(corio_verify_hash(ossl, pub, 65, hash, sig), CORIO_OK);
    corio_key_close(&back);
    corio_key_close(&key);

    /* A key not made exportable is not written; another backend's key neither. */
    assert_int_equal(corio_key_generate(ossl, 0, 0, &key), CORIO_OK);
    assert_int_equal(corio_openssl_key_write_pem(&key, path_of("x.pem")), CORIO_ERR_POLICY);
    corio_key_close(&key);
    assert_int_equal(access(path_of("x.pem"), F_OK), -1);
    assert_int_equal(corio_openssl_key_write_pem(&key, path_of("x.pem")), CORIO_ERR_INVAL);

    /* A directory that does not exist. */
    assert_int_equal(corio_key_generate(ossl, 0, CORIO_KEY_EXPORTABLE, &key), CORIO_OK);
    assert_int_equal(corio_openssl_key_write_pem(&key, path_of("no-such-dir/k.pem")), CORIO_ERR_IO);
    corio_key_close(&key);
    assert_int_equal(ERR_peek_error(), 0);
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Writes pkey with a PEM writer that takes a BIO. */
static void write_key(const char *name, EVP_PKEY *pkey, int traditional, const char *pass)
{
    BIO *bio = BIO_new_file(path_of(name), "w");
    assert_non_null(bio);
    int ok;
    if (traditional)
        ok = PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL);
    else if (pass)
        ok = PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), pass, (int)strlen(pass),
                                           NULL, NULL);
    else
        ok = PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    BIO_free(bio);
    assert_int_equal(ok, 1);
}

static void pem_refusals(void **state)
{
    (void)state;
    struct corio_key key;
    assert_int_equal(corio_openssl_key_read_pem(path_of("missing.pem"), &key), CORIO_ERR_NOTFOUND);
    assert_null(key.ops);
    write_file("garbage.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assert_int_equal(corio_openssl_key_read_pem(path_of("garbage.pem"), &key), CORIO_ERR_MALFORMED);
    write_file("empty.pem", "");
    assert_int_equal(corio_openssl_key_read_pem(path_of("empty.pem"), &key), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_openssl_key_read_pem(dir, &key), CORIO_ERR_IO); /* a directory */

    /* An encrypted key: refused without ever prompting for a passphrase. */
    EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(p256);
    write_key("enc.pem", p256, 0, "secret");
    assert_int_equal(corio_openssl_key_read_pem(path_of("enc.pem"), &key), CORIO_ERR_UNSUPPORTED);

    /* SEC 1 ("BEGIN EC PRIVATE KEY") is read too. */
    write_key("sec1.pem", p256, 1, NULL);
    assert_int_equal(corio_openssl_key_read_pem(path_of("sec1.pem"), &key), CORIO_OK);
    corio_key_close(&key);

    /* Another curve. */
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(p384);
    write_key("p384.pem", p384, 0, NULL);
    assert_int_equal(corio_openssl_key_read_pem(path_of("p384.pem"), &key), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(corio_openssl_key_from_pkey(p384, &key), CORIO_ERR_UNSUPPORTED);
    EVP_PKEY_free(p384);

    /* A scalar paired with someone else's point: the pairwise check catches it. */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(other);
    BIGNUM *d = NULL;
    uint8_t other_pub[65];
    size_t len = 0;
    assert_int_equal(EVP_PKEY_get_bn_param(p256, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
    assert_int_equal(EVP_PKEY_get_octet_string_param(other, OSSL_PKEY_PARAM_PUB_KEY, other_pub,
                                                     sizeof other_pub, &len),
                     1);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    assert_non_null(bld);
    assert_int_equal(
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, other_pub, len),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d), 1);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *mixed = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &mixed, EVP_PKEY_KEYPAIR, params), 1);
    write_key("mismatch.pem", mixed, 0, NULL);
    assert_int_equal(corio_openssl_key_read_pem(path_of("mismatch.pem"), &key),
                     CORIO_ERR_MALFORMED);
    assert_null(key.ops);
    EVP_PKEY_free(mixed);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    EVP_PKEY_free(other);
    EVP_PKEY_free(p256);
    assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_and_random),
        cmocka_unit_test(keys_sign_and_verify),
        cmocka_unit_test(import_derives_the_public_key),
        cmocka_unit_test(der_conversion),
        cmocka_unit_test(public_key_import),
        cmocka_unit_test(pem_round_trip_mode_0600),
        cmocka_unit_test(pem_refusals),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
