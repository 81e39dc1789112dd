/*
 * test_crypto_cross.c - the two backends against each other and against RFC 6979:
 * what PSA signs OpenSSL verifies and the reverse, a private scalar moves between
 * them, the RFC's deterministic signatures come out of PSA bit for bit, and both
 * refuse the high-S twin and out-of-range r and s of every signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "corio/crypto.h"
#include "corio/crypto_psa.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"

static const struct corio_crypto_ops *psa = &corio_crypto_psa_ops;
static const struct corio_crypto_ops *ossl = &corio_crypto_openssl_ops;
static char *workdir, *startdir;

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static const char *N_HEX = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

static int group_setup(void **state)
{
    (void)state;
    /* PSA ITS writes into the working directory: keep it in a temporary one. */
    startdir = getcwd(NULL, 0);
    workdir = h_tmpdir("crypto-cross");
    if (!startdir || !workdir || chdir(workdir) != 0)
        return -1;
    return corio_crypto_psa_init() == CORIO_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    corio_crypto_psa_deinit();
    int rc = chdir(startdir);
    rc |= rmdir(workdir);
    free(workdir);
    free(startdir);
    return rc;
}

/* RFC 6979 appendix A.2.5: P-256 with SHA-256. */
static const char *RFC_PRIV = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
static const char *RFC_PUB = "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
                             "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
static const struct {
    const char *msg, *r, *s;
} rfc_sigs[] = {
    {"sample", "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
     "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"},
    {"test", "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367",
     "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"},
};

static void rfc6979_vectors(void **state)
{
    (void)state;
    uint8_t priv[32], pub[65], got_pub[65];
    unhex(RFC_PRIV, priv, 32);
    unhex(RFC_PUB, pub, 65);
    struct corio_key key;
    assert_int_equal(corio_key_import(psa, 0, 0, priv, &key), CORIO_OK);
    assert_int_equal(corio_key_public(&key, got_pub), CORIO_OK);
    assert_memory_equal(got_pub, pub, 65);

    int normalised = 0;
    for (size_t i = 0; i < sizeof rfc_sigs / sizeof rfc_sigs[0]; i++) {
        const char *msg = rfc_sigs[i].msg;
        uint8_t hash[32], hash2[32], want[64], raw[64], sig[64];
        assert_int_equal(corio_sha256(psa, (const uint8_t *)msg, strlen(msg), hash), CORIO_OK);
        assert_int_equal(corio_sha256(ossl, (const uint8_t *)msg, strlen(msg), hash2), CORIO_OK);
        assert_memory_equal(hash, hash2, 32);
        unhex(rfc_sigs[i].r, want, 32);
        unhex(rfc_sigs[i].s, want + 32, 32);

        /* The backend's own output, before our rules: exactly the RFC's r and s. */
        assert_int_equal(psa->sign_hash(&key, hash, raw), CORIO_OK);
        assert_memory_equal(raw, want, 64);

        /* Through the wrapper: the same r, and s brought low. */
        assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
        assert_memory_equal(sig, want, 32);
        if (corio_p256_scalar_is_low(want + 32)) {
            assert_memory_equal(sig + 32, want + 32, 32);
        } else {
            uint8_t twin[32];
            memcpy(twin, want + 32, 32);
            assert_int_equal(corio_p256_scalar_negate(twin), CORIO_OK);
            assert_memory_equal(sig + 32, twin, 32);
            normalised++;
        }
        assert_int_equal(corio_verify_hash(psa, pub, 65, hash, sig), CORIO_OK);
        assert_int_equal(corio_verify_hash(ossl, pub, 65, hash, sig), CORIO_OK);
        /* The RFC's own high-S form is refused by our verifiers, on both backends. */
        if (!corio_p256_scalar_is_low(want + 32)) {
            assert_int_equal(corio_verify_hash(psa, pub, 65, hash, want), CORIO_ERR_BADSIG);
            assert_int_equal(corio_verify_hash(ossl, pub, 65, hash, want), CORIO_ERR_BADSIG);
        }
    }
    assert_int_equal(normalised, 1); /* "sample" has a high S, "test" a low one */
    corio_key_close(&key);
}

/*
 * Checks everything a verifier must refuse about sig (valid for pub and hash) on
 * backend ops: the high-S twin, r or s zero or >= n, a changed hash or r.
 */
static void refusals(const struct corio_crypto_ops *ops, const uint8_t pub[65],
                     const uint8_t hash[32], const uint8_t sig[64])
{
    uint8_t n[32], bad[64], h[32];
    unhex(N_HEX, n, 32);

    /* The twin (r, n - s) is a valid ECDSA signature: the backend alone accepts it... */
    memcpy(bad, sig, 64);
    assert_int_equal(corio_p256_scalar_negate(bad + 32), CORIO_OK);
    assert_int_equal(ops->verify_hash(pub, hash, bad), CORIO_OK);
    /* ...and Corio's verifier does not. */
    assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);

    memcpy(bad, sig, 64);
    memset(bad, 0, 32);
    assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memcpy(bad, n, 32);
    assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memset(bad, 0xff, 32);
    assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memcpy(bad, sig, 64);
    memset(bad + 32, 0, 32);
    assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memcpy(bad + 32, n, 32);
    assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    /* s + n, when it fits in 32 bytes, is congruent to s but out of range. */
    memcpy(bad, sig, 64);
    unsigned carry = 0;
    for (int k = 31; k >= 0; k--) {
        unsigned v = (unsigned)bad[32 + k] + n[k] + carry;
        bad[32 + k] = (uint8_t)v;
        carry = v >> 8;
    }
    if (!carry)
        assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);

    memcpy(bad, sig, 64);
    bad[10] ^= 0x40;
    if (corio_p256_sig_check(bad) == CORIO_OK)
        assert_int_equal(corio_verify_hash(ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memcpy(h, hash, 32);
    h[31] ^= 1;
    assert_int_equal(corio_verify_hash(ops, pub, 65, h, sig), CORIO_ERR_BADSIG);
}

static void sign_here_verify_there(const struct corio_crypto_ops *signer,
                                   const struct corio_crypto_ops *verifier, int rounds)
{
    struct corio_key key;
    uint8_t pub[65], comp[33];
    assert_int_equal(corio_key_generate(signer, 0, 0, &key), CORIO_OK);
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    assert_int_equal(corio_key_public_compressed(&key, comp), CORIO_OK);
    for (int i = 0; i < rounds; i++) {
        uint8_t msg[64], hash[32], other[32], sig[64];
        size_t len = (size_t)i % sizeof msg;
        assert_int_equal(corio_random(signer, msg, len), CORIO_OK);
        assert_int_equal(corio_sha256(signer, msg, len, hash), CORIO_OK);
        assert_int_equal(corio_sha256(verifier, msg, len, other), CORIO_OK);
        assert_memory_equal(hash, other, 32);
        assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
        assert_int_equal(corio_p256_sig_check(sig), CORIO_OK);
        assert_int_equal(corio_verify_hash(verifier, pub, 65, hash, sig), CORIO_OK);
        assert_int_equal(corio_verify_hash(verifier, comp, 33, hash, sig), CORIO_OK);
        assert_int_equal(corio_verify_hash(signer, pub, 65, hash, sig), CORIO_OK);
        if (i % 10 == 0) {
            refusals(verifier, pub, hash, sig);
            refusals(signer, pub, hash, sig);
        }
    }
    corio_key_close(&key);
}

static void psa_signs_openssl_verifies(void **state)
{
    (void)state;
    sign_here_verify_there(psa, ossl, 200);
}

static void openssl_signs_psa_verifies(void **state)
{
    (void)state;
    sign_here_verify_there(ossl, psa, 200);
}

/* Makes a key in from, moves its scalar to to, and checks both sign for the same point. */
static void move_scalar(const struct corio_crypto_ops *from, const struct corio_crypto_ops *to)
{
    struct corio_key a, b;
    uint8_t priv[32], pub_a[65], pub_b[65], hash[32], sig[64];
    assert_int_equal(corio_key_generate(from, 0, CORIO_KEY_EXPORTABLE, &a), CORIO_OK);
    assert_int_equal(corio_key_export(&a, priv), CORIO_OK);
    assert_int_equal(corio_key_import(to, 0, CORIO_KEY_EXPORTABLE, priv, &b), CORIO_OK);
    assert_int_equal(corio_key_public(&a, pub_a), CORIO_OK);
    assert_int_equal(corio_key_public(&b, pub_b), CORIO_OK);
    assert_memory_equal(pub_a, pub_b, 65);
    uint8_t back[32];
    assert_int_equal(corio_key_export(&b, back), CORIO_OK);
    assert_memory_equal(back, priv, 32);

    assert_int_equal(corio_random(from, hash, sizeof hash), CORIO_OK);
    assert_int_equal(corio_sign_hash(&b, hash, sig), CORIO_OK);
    assert_int_equal(corio_verify_hash(from, pub_a, 65, hash, sig), CORIO_OK);
    assert_int_equal(corio_sign_hash(&a, hash, sig), CORIO_OK);
    assert_int_equal(corio_verify_hash(to, pub_b, 65, hash, sig), CORIO_OK);
    corio_key_close(&a);
    corio_key_close(&b);
}

static void private_scalar_moves_between_backends(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        move_scalar(ossl, psa);
        move_scalar(psa, ossl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc6979_vectors),
        cmocka_unit_test(psa_signs_openssl_verifies),
        cmocka_unit_test(openssl_signs_psa_verifies),
        cmocka_unit_test(private_scalar_moves_between_backends),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
