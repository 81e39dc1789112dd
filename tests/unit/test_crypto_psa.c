/*
 * test_crypto_psa.c - the PSA backend (sdk/crypto/psa) on mbedTLS 2.28: SHA-256
 * vectors one-shot and in chunks, deterministic signing, volatile and persistent keys
 * (in a temporary working directory, where mbedTLS keeps its PSA ITS files), export
 * policy and error mapping.
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
#include "corio/crypto_psa.h"
#include "corio/error.h"
#include "harness.h"

static const struct corio_crypto_ops *psa = &corio_crypto_psa_ops;
static char *workdir;
static char *startdir;

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* Files in the working directory (PSA ITS keeps one per persistent key). */
static int count_files(void)
{
    DIR *d = opendir(".");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    startdir = getcwd(NULL, 0);
    workdir = h_tmpdir("crypto-psa");
    if (!startdir || !workdir || chdir(workdir) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    corio_crypto_psa_deinit();
    /* Leave nothing behind: remove whatever key files a failed test left. */
    DIR *d = opendir(".");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            unlink(e->d_name);
    }
    if (d)
        closedir(d);
    int rc = chdir(startdir);
    rmdir(workdir);
    free(workdir);
    free(startdir);
    return rc;
}

static void needs_init(void **state)
{
    (void)state;
    uint8_t buf[8], out[32];
    struct corio_key key;
    assert_int_equal(corio_random(psa, buf, sizeof buf), CORIO_ERR_STATE);
    assert_int_equal(corio_sha256(psa, buf, sizeof buf, out), CORIO_ERR_STATE);
    assert_int_equal(corio_key_generate(psa, 0, 0, &key), CORIO_ERR_STATE);
    assert_null(key.ops);
    assert_int_equal(corio_crypto_psa_init(), CORIO_OK);
    assert_int_equal(corio_crypto_psa_init(), CORIO_OK); /* once is enough; again is harmless */
    assert_int_equal(corio_random(psa, buf, sizeof buf), CORIO_OK);
    assert_true(psa->caps & CORIO_CRYPTO_CAP_DETERMINISTIC); /* Debian's 2.28 has RFC 6979 */
    assert_true(psa->caps & CORIO_CRYPTO_CAP_PERSISTENT);
}

static void sha256_vectors(void **state)
{
    (void)state;
    uint8_t out[32], want[32];
    /* FIPS 180-2 examples. */
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    assert_int_equal(corio_sha256(psa, (const uint8_t *)"abc", 3, out), CORIO_OK);
    assert_memory_equal(out, want, 32);
    unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
    assert_int_equal(corio_sha256(psa, NULL, 0, out), CORIO_OK);
    assert_memory_equal(out, want, 32);

    /* One million 'a', fed in uneven chunks as a firmware image would be. */
    static uint8_t chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    struct corio_sha256 h = {0};
    assert_int_equal(corio_sha256_start(&h, psa), CORIO_OK);
    size_t left = 1000000, step = 1;
    while (left > 0) {
        size_t n = step < left ? step : left;
        assert_int_equal(corio_sha256_update(&h, chunk, n), CORIO_OK);
        left -= n;
        step = step % 983 + 13; /* 13 to 995 bytes */
    }
    assert_int_equal(corio_sha256_finish(&h, out), CORIO_OK);
    unhex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", want, 32);
    assert_memory_equal(out, want, 32);

    /* An aborted hash leaves the context reusable. */
    assert_int_equal(corio_sha256_start(&h, psa), CORIO_OK);
    assert_int_equal(corio_sha256_update(&h, chunk, 10), CORIO_OK);
    corio_sha256_abort(&h);
    assert_int_equal(corio_sha256_start(&h, psa), CORIO_OK);
    assert_int_equal(corio_sha256_update(&h, (const uint8_t *)"abc", 3), CORIO_OK);
    assert_int_equal(corio_sha256_finish(&h, out), CORIO_OK);
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    assert_memory_equal(out, want, 32);
}

static void volatile_keys_sign_and_verify(void **state)
{
    (void)state;
    struct corio_key key;
    assert_int_equal(corio_key_generate(psa, 0, 0, &key), CORIO_OK);
    assert_ptr_equal(key.ops, psa);
    assert_false(key.flags & CORIO_KEY_PERSISTENT);
    uint8_t pub[65], comp[33], hash[32], sig[64], sig2[64], priv[32];
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    assert_int_equal(corio_key_public_compressed(&key, comp), CORIO_OK);
    assert_memory_equal(comp + 1, pub + 1, 32);
    assert_int_equal(corio_sha256(psa, (const uint8_t *)"corio", 5, hash), CORIO_OK);
    assert_int_equal(corio_sign_hash(&key, hash, sig), CORIO_OK);
    assert_int_equal(corio_p256_sig_check(sig), CORIO_OK);
    /* Deterministic: the same hash gives the same signature. */
    assert_int_equal(corio_sign_hash(&key, hash, sig2), CORIO_OK);
    assert_memory_equal(sig, sig2, 64);
    assert_int_equal(corio_verify_hash(psa, pub, 65, hash, sig), CORIO_OK);
    assert_int_equal(corio_verify_hash(psa, comp, 33, hash, sig), CORIO_OK);
    hash[0] ^= 1;
    assert_int_equal(corio_verify_hash(psa, pub, 65, hash, sig), CORIO_ERR_BADSIG);
    /* Not made exportable: the scalar stays inside. */
    assert_int_equal(corio_key_export(&key, priv), CORIO_ERR_POLICY);
    corio_key_close(&key);
    assert_null(key.ops);
}

static void export_and_import_round_trip(void **state)
{
    (void)state;
    struct corio_key a, b;
    uint8_t priv[32], pub_a[65], pub_b[65], hash[32] = {7}, sig[64];
    assert_int_equal(corio_key_generate(psa, 0, CORIO_KEY_EXPORTABLE, &a), CORIO_OK);
    assert_int_equal(corio_key_export(&a, priv), CORIO_OK);
    assert_true(corio_p256_scalar_check(priv));
    assert_int_equal(corio_key_import(psa, 0, 0, priv, &b), CORIO_OK);
    assert_int_equal(corio_key_public(&a, pub_a), CORIO_OK);
    assert_int_equal(corio_key_public(&b, pub_b), CORIO_OK);
    assert_memory_equal(pub_a, pub_b, 65);
    /* Same scalar, deterministic nonce: the same signature from both handles. */
    uint8_t sig_a[64];
    assert_int_equal(corio_sign_hash(&a, hash, sig_a), CORIO_OK);
    assert_int_equal(corio_sign_hash(&b, hash, sig), CORIO_OK);
    assert_memory_equal(sig_a, sig, 64);
    assert_int_equal(corio_key_export(&b, priv), CORIO_ERR_POLICY);
    assert_int_equal(corio_key_destroy(&a), CORIO_OK);
    corio_key_close(&b);
}

static void persistent_keys_survive_a_restart(void **state)
{
    (void)state;
    const uint32_t id = 0x1234;
    struct corio_key key, again;
    uint8_t pub[65], pub2[65], hash[32] = {9}, sig[64];
    int before = count_files();
    assert_int_equal(corio_key_generate(psa, id, 0, &key), CORIO_OK);
    assert_true(key.flags & CORIO_KEY_PERSISTENT);
    assert_int_equal(key.id, id);
    assert_int_equal(count_files(), before + 1); /* stored in the working directory */
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    /* The id is taken. */
    assert_int_equal(corio_key_generate(psa, id, 0, &again), CORIO_ERR_STATE);
    assert_null(again.ops);
    corio_key_close(&key);

    /* A restart of the crypto library: the key is read back from storage. */
    corio_crypto_psa_deinit();
    assert_int_equal(corio_crypto_psa_init(), CORIO_OK);
    assert_int_equal(corio_key_open(psa, id, &again), CORIO_OK);
    assert_true(again.flags & CORIO_KEY_PERSISTENT);
    assert_false(again.flags & CORIO_KEY_EXPORTABLE);
    assert_int_equal(corio_key_public(&again, pub2), CORIO_OK);
    assert_memory_equal(pub, pub2, 65);
    assert_int_equal(corio_sign_hash(&again, hash, sig), CORIO_OK);
    assert_int_equal(corio_verify_hash(psa, pub, 65, hash, sig), CORIO_OK);
    assert_int_equal(corio_key_export(&again, hash), CORIO_ERR_POLICY);

    /* Destroy erases it. */
    assert_int_equal(corio_key_destroy(&again), CORIO_OK);
    assert_null(again.ops);
    assert_int_equal(count_files(), before);
    assert_int_equal(corio_key_open(psa, id, &again), CORIO_ERR_NOTFOUND);
}

static void persistent_import_is_exportable_when_asked(void **state)
{
    (void)state;
    const uint32_t id = 0x3fffffff; /* the top of PSA's user range */
    uint8_t priv[32], back[32];
    unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", priv, 32);
    struct corio_key key;
    assert_int_equal(corio_key_import(psa, id, CORIO_KEY_EXPORTABLE, priv, &key), CORIO_OK);
    corio_key_close(&key);
    assert_int_equal(corio_key_open(psa, id, &key), CORIO_OK);
    assert_true(key.flags & CORIO_KEY_EXPORTABLE);
    assert_int_equal(corio_key_export(&key, back), CORIO_OK);
    assert_memory_equal(back, priv, 32);
    assert_int_equal(corio_key_destroy(&key), CORIO_OK);
}

static void bad_ids_and_exhaustion(void **state)
{
    (void)state;
    struct corio_key key;
    assert_int_equal(corio_key_generate(psa, 0x40000000u, 0, &key), CORIO_ERR_INVAL);
    assert_int_equal(corio_key_open(psa, 0x40000000u, &key), CORIO_ERR_INVAL);
    assert_int_equal(corio_key_open(psa, 0, &key), CORIO_ERR_INVAL);
    assert_int_equal(corio_key_open(psa, 4242, &key), CORIO_ERR_NOTFOUND);

    /* Volatile keys take key slots; running out is CORIO_ERR_FULL, not a crash. */
    static struct corio_key keys[256];
    int made = 0, rc = CORIO_OK;
    while (made < 256) {
        rc = corio_key_generate(psa, 0, 0, &keys[made]);
        if (rc != CORIO_OK)
            break;
        made++;
    }
    assert_int_equal(rc, CORIO_ERR_FULL);
    assert_true(made > 0);
    for (int i = 0; i < made; i++)
        corio_key_close(&keys[i]);
    /* And the slots come back. */
    assert_int_equal(corio_key_generate(psa, 0, 0, &key), CORIO_OK);
    corio_key_close(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(needs_init),
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(volatile_keys_sign_and_verify),
        cmocka_unit_test(export_and_import_round_trip),
        cmocka_unit_test(persistent_keys_survive_a_restart),
        cmocka_unit_test(persistent_import_is_exportable_when_asked),
        cmocka_unit_test(bad_ids_and_exhaustion),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
