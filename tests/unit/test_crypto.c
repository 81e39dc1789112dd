/*
 * test_crypto.c - the backend-independent rules of sdk/src/crypto.c, checked with a
 * scripted backend that records what reaches it: signers hand out low S only,
 * verifiers refuse bad signatures and points before the backend sees them, hash and
 * key handles follow their documented states.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "corio/crypto.h"
#include "corio/error.h"

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
static const char *G_UNCOMPRESSED =
    "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

/* What the scripted backend does and saw. */
static struct {
    int calls_verify, calls_sign, calls_export, calls_import, calls_close, calls_destroy;
    int calls_update, calls_abort;
    uint8_t verify_pub[65];
    uint8_t sign_result[64];
    uint8_t public_result[65];
    int rc_generate, rc_update, rc_destroy, rc_verify;
} fake;

static int f_random(uint8_t *out, size_t len)
{
    memset(out, 0xa5, len);
    return CORIO_OK;
}
static int f_sha256(const uint8_t *d, size_t n, uint8_t out[32])
{
    (void)d;
    memset(out, (int)n, 32);
    return CORIO_OK;
}
static int f_start(void *s)
{
    memset(s, 0x5a, 8);
    return CORIO_OK;
}
static int f_update(void *s, const uint8_t *d, size_t n)
{
    (void)s;
    (void)d;
    (void)n;
    fake.calls_update++;
    return fake.rc_update;
}
static int f_finish(void *s, uint8_t out[32])
{
    (void)s;
    memset(out, 0x11, 32);
    return CORIO_OK;
}
static void f_abort(void *s)
{
    (void)s;
    fake.calls_abort++;
}
static int f_generate(uint32_t id, unsigned flags, struct corio_key *key)
{
    key->id = id ? id : 77;
    key->flags = flags | (id ? CORIO_KEY_PERSISTENT : 0u);
    return fake.rc_generate;
}
static int f_import(uint32_t id, unsigned flags, const uint8_t priv[32], struct corio_key *key)
{
    (void)priv;
    fake.calls_import++;
    return f_generate(id, flags, key);
}
static int f_open(uint32_t id, struct corio_key *key)
{
    key->id = id;
    key->flags = CORIO_KEY_PERSISTENT;
    return CORIO_OK;
}
static int f_export(const struct corio_key *key, uint8_t priv[32])
{
    (void)key;
    fake.calls_export++;
    memset(priv, 0x01, 32);
    return CORIO_OK;
}
static int f_public(const struct corio_key *key, uint8_t pub[65])
{
    (void)key;
    memcpy(pub, fake.public_result, 65);
    return CORIO_OK;
}
static int f_sign(const struct corio_key *key, const uint8_t hash[32], uint8_t sig[64])
{
    (void)key;
    (void)hash;
    fake.calls_sign++;
    memcpy(sig, fake.sign_result, 64);
    return CORIO_OK;
}
static int f_verify(const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64])
{
    (void)hash;
    (void)sig;
    fake.calls_verify++;
    memcpy(fake.verify_pub, pub, 65);
    return fake.rc_verify;
}
static void f_close(struct corio_key *key)
{
    (void)key;
    fake.calls_close++;
}
static int f_destroy(struct corio_key *key)
{
    (void)key;
    fake.calls_destroy++;
    return fake.rc_destroy;
}

static const struct corio_crypto_ops fake_ops = {
    .name = "fake",
    .caps = 0,
    .random = f_random,
    .sha256 = f_sha256,
    .sha256_start = f_start,
    .sha256_update = f_update,
    .sha256_finish = f_finish,
    .sha256_abort = f_abort,
    .key_generate = f_generate,
    .key_import = f_import,
    .key_open = f_open,
    .key_export = f_export,
    .key_public = f_public,
    .sign_hash = f_sign,
    .verify_hash = f_verify,
    .key_close = f_close,
    .key_destroy = f_destroy,
};

static struct corio_crypto_ops fake_persistent_ops;

static int reset(void **state)
{
    (void)state;
    memset(&fake, 0, sizeof fake);
    unhex(G_UNCOMPRESSED, fake.public_result, 65);
    fake_persistent_ops = fake_ops;
    fake_persistent_ops.caps = CORIO_CRYPTO_CAP_PERSISTENT;
    return 0;
}

static void make_key(struct corio_key *key, unsigned flags)
{
    assert_int_equal(corio_key_generate(&fake_ops, 0, flags, key), CORIO_OK);
    assert_ptr_equal(key->ops, &fake_ops);
}

static void signer_hands_out_low_s(void **state)
{
    (void)state;
    struct corio_key key;
    make_key(&key, 0);
    uint8_t hash[32] = {1}, sig[64], n[32];
    unhex(N_HEX, n, 32);
    /* The backend returns s = n - 2 (high): the caller gets s = 2. */
    memset(fake.sign_result, 0, 64);
    fake.sign_result[31] = 9;
    memcpy(fake.sign_result + 32, n, 32);
    fake.sign_result[63] = (uint8_t)(fake.sign_result[63] - 2);
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
    uint8_t two[32] = {0};
    two[31] = 2;
    assert_memory_equal(sig + 32, two, 32);
    assert_memory_equal(sig, fake.sign_result, 32);

    /* A low S passes unchanged. */
    fake.sign_result[63] = 3;
    memset(fake.sign_result + 32, 0, 31);
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
    assert_memory_equal(sig, fake.sign_result, 64);
    corio_key_close(&key);
}

static void signer_refuses_broken_backend_output(void **state)
{
    (void)state;
    struct corio_key key;
    make_key(&key, 0);
    uint8_t hash[32] = {1}, sig[64], n[32];
    unhex(N_HEX, n, 32);
    memset(sig, 0xee, sizeof sig);
    memset(fake.sign_result, 0, 64); /* r = s = 0 */
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_ERR_CRYPTO);
    memset(fake.sign_result, 0, 32);
    fake.sign_result[31] = 1;
    memcpy(fake.sign_result + 32, n, 32); /* s = n */
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_ERR_CRYPTO);
    for (size_t i = 0; i < sizeof sig; i++)
        assert_int_equal(sig[i], 0xee); /* nothing written on failure */
    corio_key_close(&key);
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_ERR_INVAL); /* empty key */
}

static void verifier_refuses_before_backend(void **state)
{
    (void)state;
    uint8_t pub[65], hash[32] = {2}, sig[64], n[32];
    unhex(G_UNCOMPRESSED, pub, 65);
    unhex(N_HEX, n, 32);
    memset(sig, 0, sizeof sig);
    sig[31] = 1;
    sig[63] = 1;
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, sig), CORIO_OK);
    assert_int_equal(fake.calls_verify, 1);

    uint8_t bad[64];
    /* High S: n - 1. */
    memcpy(bad, sig, 64);
    memcpy(bad + 32, n, 32);
    bad[63]--;
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    /* r = 0, r = n, s = 0, s = n, r = 2^256 - 1. */
    memcpy(bad, sig, 64);
    memset(bad, 0, 32);
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memcpy(bad, n, 32);
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memset(bad, 0xff, 32);
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memcpy(bad, sig, 64);
    memset(bad + 32, 0, 32);
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    memcpy(bad + 32, n, 32);
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, bad), CORIO_ERR_BADSIG);
    /* A point off the curve, a bad prefix, a bad length. */
    uint8_t off[65];
    memcpy(off, pub, 65);
    off[64] ^= 1;
    assert_int_equal(corio_verify_hash(&fake_ops, off, 65, hash, sig), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 64, hash, sig), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_verify_hash(&fake_ops, NULL, 65, hash, sig), CORIO_ERR_INVAL);
    assert_int_equal(fake.calls_verify, 1); /* none of these reached the backend */

    /* A compressed key reaches the backend decompressed. */
    uint8_t comp[33];
    assert_int_equal(corio_p256_compress(pub, comp), CORIO_OK);
    memset(fake.verify_pub, 0, 65);
    assert_int_equal(corio_verify_hash(&fake_ops, comp, 33, hash, sig), CORIO_OK);
    assert_memory_equal(fake.verify_pub, pub, 65);

    /* The backend's refusal is passed on. */
    fake.rc_verify = CORIO_ERR_BADSIG;
    assert_int_equal(corio_verify_hash(&fake_ops, pub, 65, hash, sig), CORIO_ERR_BADSIG);
}

static void hash_states(void **state)
{
    (void)state;
    struct corio_sha256 h;
    memset(&h, 0, sizeof h);
    uint8_t out[32];
    const uint8_t data[3] = {1, 2, 3};
    assert_int_equal(corio_sha256_update(&h, data, 3), CORIO_ERR_STATE);
    assert_int_equal(corio_sha256_finish(&h, out), CORIO_ERR_STATE);
    corio_sha256_abort(&h); /* idle: nothing happens */
    assert_int_equal(fake.calls_abort, 0);

    assert_int_equal(corio_sha256_start(&h, &fake_ops), CORIO_OK);
    assert_int_equal(corio_sha256_start(&h, &fake_ops), CORIO_ERR_STATE);
    assert_int_equal(corio_sha256_update(&h, data, 3), CORIO_OK);
    assert_int_equal(corio_sha256_update(&h, NULL, 0), CORIO_OK);
    assert_int_equal(fake.calls_update, 1); /* empty updates need no backend */
    assert_int_equal(corio_sha256_update(&h, NULL, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_sha256_finish(&h, out), CORIO_OK);
    assert_null(h.ops);
    assert_int_equal(corio_sha256_finish(&h, out), CORIO_ERR_STATE);

    /* A failed update aborts the backend's hash and leaves h idle. */
    assert_int_equal(corio_sha256_start(&h, &fake_ops), CORIO_OK);
    fake.rc_update = CORIO_ERR_CRYPTO;
    assert_int_equal(corio_sha256_update(&h, data, 3), CORIO_ERR_CRYPTO);
    assert_int_equal(fake.calls_abort, 1);
    assert_null(h.ops);
    assert_int_equal(corio_sha256_update(&h, data, 3), CORIO_ERR_STATE);

    assert_int_equal(corio_sha256(&fake_ops, NULL, 0, out), CORIO_OK);
    assert_int_equal(corio_sha256(&fake_ops, NULL, 1, out), CORIO_ERR_INVAL);
    assert_int_equal(corio_sha256(NULL, data, 3, out), CORIO_ERR_INVAL);
    assert_int_equal(corio_random(&fake_ops, NULL, 0), CORIO_OK);
    assert_int_equal(corio_random(&fake_ops, NULL, 4), CORIO_ERR_INVAL);
}

static void key_rules(void **state)
{
    (void)state;
    struct corio_key key;
    uint8_t priv[32], n[32];
    unhex(N_HEX, n, 32);

    /* Unknown flags, backend-owned flags and persistent ids on a backend without them. */
    assert_int_equal(corio_key_generate(&fake_ops, 0, 0x100, &key), CORIO_ERR_INVAL);
    assert_int_equal(corio_key_generate(&fake_ops, 0, CORIO_KEY_PERSISTENT, &key), CORIO_ERR_INVAL);
    assert_int_equal(corio_key_generate(&fake_ops, 5, 0, &key), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(corio_key_open(&fake_ops, 5, &key), CORIO_ERR_UNSUPPORTED);
    assert_null(key.ops);
    assert_int_equal(corio_key_open(&fake_persistent_ops, 0, &key), CORIO_ERR_INVAL);
    assert_int_equal(corio_key_open(&fake_persistent_ops, 5, &key), CORIO_OK);
    assert_ptr_equal(key.ops, &fake_persistent_ops);
    assert_true(key.flags & CORIO_KEY_PERSISTENT);
    corio_key_close(&key);
    assert_int_equal(corio_key_generate(&fake_persistent_ops, 5, 0, &key), CORIO_OK);
    corio_key_close(&key);

    /* A failed generate leaves the handle empty. */
    fake.rc_generate = CORIO_ERR_FULL;
    assert_int_equal(corio_key_generate(&fake_ops, 0, 0, &key), CORIO_ERR_FULL);
    assert_null(key.ops);
    assert_int_equal(key.id, 0);
    fake.rc_generate = CORIO_OK;

    /* Scalars outside [1, n-1] never reach the backend. */
    memset(priv, 0, 32);
    assert_int_equal(corio_key_import(&fake_ops, 0, 0, priv, &key), CORIO_ERR_INVAL);
    assert_int_equal(corio_key_import(&fake_ops, 0, 0, n, &key), CORIO_ERR_INVAL);
    memset(priv, 0xff, 32);
    assert_int_equal(corio_key_import(&fake_ops, 0, 0, priv, &key), CORIO_ERR_INVAL);
    assert_int_equal(fake.calls_import, 0);
    priv[0] = 0x01;
    assert_int_equal(corio_key_import(&fake_ops, 0, 0, priv, &key), CORIO_OK);
    assert_int_equal(fake.calls_import, 1);

    /* Export needs CORIO_KEY_EXPORTABLE; the backend is not asked otherwise. */
    assert_int_equal(corio_key_export(&key, priv), CORIO_ERR_POLICY);
    assert_int_equal(fake.calls_export, 0);
    int closes = fake.calls_close;
    corio_key_close(&key);
    assert_int_equal(fake.calls_close, closes + 1);
    assert_null(key.ops);
    corio_key_close(&key); /* empty: nothing happens */
    assert_int_equal(fake.calls_close, closes + 1);
    make_key(&key, CORIO_KEY_EXPORTABLE);
    assert_int_equal(corio_key_export(&key, priv), CORIO_OK);
    assert_int_equal(fake.calls_export, 1);

    /* Public keys are checked on the way out, and compressed from the same point. */
    uint8_t pub[65], comp[33];
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    assert_memory_equal(pub, fake.public_result, 65);
    assert_int_equal(corio_key_public_compressed(&key, comp), CORIO_OK);
    assert_int_equal(comp[0], 0x03);
    assert_memory_equal(comp + 1, pub + 1, 32);
    fake.public_result[64] ^= 1;
    assert_int_equal(corio_key_public(&key, pub), CORIO_ERR_CRYPTO);
    assert_int_equal(corio_key_public_compressed(&key, comp), CORIO_ERR_CRYPTO);

    /* Destroy empties the handle even when the backend fails. */
    fake.rc_destroy = CORIO_ERR_IO;
    assert_int_equal(corio_key_destroy(&key), CORIO_ERR_IO);
    assert_null(key.ops);
    assert_int_equal(corio_key_destroy(&key), CORIO_ERR_INVAL);
    assert_int_equal(fake.calls_destroy, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(signer_hands_out_low_s, reset),
        cmocka_unit_test_setup(signer_refuses_broken_backend_output, reset),
        cmocka_unit_test_setup(verifier_refuses_before_backend, reset),
        cmocka_unit_test_setup(hash_states, reset),
        cmocka_unit_test_setup(key_rules, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
