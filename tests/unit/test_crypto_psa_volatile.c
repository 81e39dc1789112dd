/* test_crypto_psa_volatile.c - the PSA backend built as a device without key storage
 * builds it (CORIO_CRYPTO_PSA_PERSISTENT 0, as examples/footprint does): the backend's
 * source is compiled into this test with the option off, in place of the library's
 * copy. Volatile keys import, sign, verify and close as before; persistent ids and
 * corio_key_open() are refused with CORIO_ERR_UNSUPPORTED. */
#define CORIO_CRYPTO_PSA_PERSISTENT 0
#include "../../sdk/crypto/psa/crypto_psa.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "corio/p256.h"

static const uint8_t scalar[CORIO_P256_SCALAR_LEN] = {
    0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16, 0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
    0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12, 0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};

static void volatile_keys_work(void **state)
{
    (void)state;
    struct corio_key key;
    uint8_t hash[CORIO_SHA256_LEN], sig[CORIO_P256_SIG_LEN], pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_sha256(&corio_crypto_psa_ops, (const uint8_t *)"sample", 6, hash),
                     CORIO_OK);
    assert_int_equal(corio_key_import(&corio_crypto_psa_ops, 0, 0, scalar, &key), CORIO_OK);
    assert_int_equal(key.flags & CORIO_KEY_PERSISTENT, 0);
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
    assert_int_equal(corio_verify_hash(&corio_crypto_psa_ops, pub, sizeof pub, hash, sig),
                     CORIO_OK);
    sig[5] ^= 1;
    assert_int_equal(corio_verify_hash(&corio_crypto_psa_ops, pub, sizeof pub, hash, sig),
                     CORIO_ERR_BADSIG);
    corio_key_close(&key);
    /* A generated key is volatile too. */
    assert_int_equal(corio_key_generate(&corio_crypto_psa_ops, 0, 0, &key), CORIO_OK);
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
    corio_key_close(&key);
}

static void no_key_storage(void **state)
{
    (void)state;
    struct corio_key key;
    assert_int_equal(corio_crypto_psa_ops.caps & CORIO_CRYPTO_CAP_PERSISTENT, 0);
    assert_null(corio_crypto_psa_ops.key_open);
    assert_int_equal(corio_key_open(&corio_crypto_psa_ops, 7, &key), CORIO_ERR_UNSUPPORTED);
    assert_null(key.ops);
    assert_int_equal(corio_key_import(&corio_crypto_psa_ops, 7, 0, scalar, &key),
                     CORIO_ERR_UNSUPPORTED);
    assert_int_equal(corio_key_generate(&corio_crypto_psa_ops, 7, 0, &key), CORIO_ERR_UNSUPPORTED);
    assert_null(key.ops);
}

static int setup(void **state)
{
    (void)state;
    return corio_crypto_psa_init() == CORIO_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    corio_crypto_psa_deinit();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(volatile_keys_work),
        cmocka_unit_test(no_key_storage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
