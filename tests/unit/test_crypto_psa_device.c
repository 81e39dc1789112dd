/* test_crypto_psa_device.c - the PSA backend built as the footprint example's device
 * builds it (examples/footprint/corio_config.h): no key storage
 * (CORIO_CRYPTO_PSA_PERSISTENT 0) and no key generation or private-key export
 * (CORIO_CRYPTO_PSA_GENERATE 0), its key provisioned and imported at boot. The
 * backend's source is compiled into this test with those options, in place of the
 * library's copy. Imported keys are volatile and sign and verify as before; persistent
 * ids, corio_key_open(), generation and export are refused with CORIO_ERR_UNSUPPORTED
 * and leave nothing behind; PSA's status codes map as in every build. */
#define CORIO_CRYPTO_PSA_PERSISTENT 0
#define CORIO_CRYPTO_PSA_GENERATE   0
#include "../../sdk/crypto/psa/crypto_psa.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "corio/p256.h"

static const uint8_t scalar[CORIO_P256_SCALAR_LEN] = {
    0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16, 0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
    0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12, 0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};

static void imported_keys_work(void **state)
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
}

static void no_generation_or_export(void **state)
{
    (void)state;
    struct corio_key key;
    uint8_t priv[CORIO_P256_SCALAR_LEN];
    assert_int_equal(corio_key_generate(&corio_crypto_psa_ops, 0, 0, &key), CORIO_ERR_UNSUPPORTED);
    assert_null(key.ops);
    /* An exportable key still imports and signs; only its scalar stays inside. */
    assert_int_equal(corio_key_import(&corio_crypto_psa_ops, 0, CORIO_KEY_EXPORTABLE, scalar, &key),
                     CORIO_OK);
    memset(priv, 0xa5, sizeof priv);
    assert_int_equal(corio_key_export(&key, priv), CORIO_ERR_UNSUPPORTED);
    for (size_t i = 0; i < sizeof priv; i++)
        assert_int_equal(priv[i], 0xa5); /* nothing written on failure */
    corio_key_close(&key);
    /* A key without the flag is refused by policy first, as in every build. */
    assert_int_equal(corio_key_import(&corio_crypto_psa_ops, 0, 0, scalar, &key), CORIO_OK);
    assert_int_equal(corio_key_export(&key, priv), CORIO_ERR_POLICY);
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
    assert_null(key.ops);
}

static void status_codes(void **state)
{
    (void)state;
    /* Every code with a meaning of its own, as the specification numbers them. */
    static const struct {
        psa_status_t st;
        int err;
    } map[] = {
        {PSA_SUCCESS, CORIO_OK},
        {PSA_ERROR_INVALID_SIGNATURE, CORIO_ERR_BADSIG},
        {PSA_ERROR_DOES_NOT_EXIST, CORIO_ERR_NOTFOUND},
        {PSA_ERROR_INVALID_HANDLE, CORIO_ERR_NOTFOUND},
        {PSA_ERROR_ALREADY_EXISTS, CORIO_ERR_STATE},
        {PSA_ERROR_BAD_STATE, CORIO_ERR_STATE},
        {PSA_ERROR_NOT_PERMITTED, CORIO_ERR_POLICY},
        {PSA_ERROR_NOT_SUPPORTED, CORIO_ERR_UNSUPPORTED},
        {PSA_ERROR_INVALID_ARGUMENT, CORIO_ERR_INVAL},
        {PSA_ERROR_BUFFER_TOO_SMALL, CORIO_ERR_NOSPACE},
        {PSA_ERROR_INSUFFICIENT_MEMORY, CORIO_ERR_FULL},
        {PSA_ERROR_INSUFFICIENT_STORAGE, CORIO_ERR_FULL},
        {PSA_ERROR_STORAGE_FAILURE, CORIO_ERR_IO},
        {PSA_ERROR_DATA_CORRUPT, CORIO_ERR_IO},
        {PSA_ERROR_DATA_INVALID, CORIO_ERR_IO},
        /* The rest, inside the table's range and outside it, is a crypto failure. */
        {PSA_ERROR_GENERIC_ERROR, CORIO_ERR_CRYPTO},
        {PSA_ERROR_COMMUNICATION_FAILURE, CORIO_ERR_CRYPTO},
        {PSA_ERROR_HARDWARE_FAILURE, CORIO_ERR_CRYPTO},
        {PSA_ERROR_INSUFFICIENT_ENTROPY, CORIO_ERR_CRYPTO},
        {PSA_ERROR_CORRUPTION_DETECTED, CORIO_ERR_CRYPTO},
        {-144, CORIO_ERR_CRYPTO},
        {-154, CORIO_ERR_CRYPTO},
        {-132, CORIO_ERR_CRYPTO},
        {-1, CORIO_ERR_CRYPTO},
        {1, CORIO_ERR_CRYPTO},
        {INT32_MIN, CORIO_ERR_CRYPTO},
        {INT32_MAX, CORIO_ERR_CRYPTO},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        assert_int_equal(corio_crypto_psa_err(map[i].st), map[i].err);
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
        cmocka_unit_test(imported_keys_work),
        cmocka_unit_test(no_key_storage),
        cmocka_unit_test(no_generation_or_export),
        cmocka_unit_test(status_codes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
