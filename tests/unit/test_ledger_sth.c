/*
 * test_ledger_sth.c - signed tree heads (ledger/sth.c): exact payload bytes, signing
 * with OpenSSL and verifying with both backends, and every refusal: another key, a
 * changed byte, a kid that is not a key, payloads of another version or shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/crypto_psa.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "ledger_sth.h"

static struct corio_sth sample(void)
{
    struct corio_sth s = {
        .tree_size = 1000, .height = 42, .timestamp_ms = 1764500000123ull, .node = 3};
    memset(s.root, 0x11, 32);
    memset(s.block_hash, 0x22, 32);
    memset(s.state_hash, 0x33, 32);
    return s;
}

static void payload_bytes(void **state)
{
    (void)state;
    struct corio_sth s = sample();
    uint8_t buf[200];
    int n = corio_sth_payload_encode(&s, buf, sizeof buf);
    assert_true(n > 0);
    /* {1: 1, 2: 1000, 3: h'11..', 4: 42, 5: h'22..', 6: h'33..', 7: ts, 8: 3} */
    uint8_t want[200];
    size_t w = 0;
    want[w++] = 0xa8;
    want[w++] = 0x01, want[w++] = 0x01;
    want[w++] = 0x02, want[w++] = 0x19, want[w++] = 0x03, want[w++] = 0xe8;
    want[w++] = 0x03, want[w++] = 0x58, want[w++] = 0x20;
    memset(want + w, 0x11, 32), w += 32;
    want[w++] = 0x04, want[w++] = 0x18, want[w++] = 0x2a;
    want[w++] = 0x05, want[w++] = 0x58, want[w++] = 0x20;
    memset(want + w, 0x22, 32), w += 32;
    want[w++] = 0x06, want[w++] = 0x58, want[w++] = 0x20;
    memset(want + w, 0x33, 32), w += 32;
    want[w++] = 0x07, want[w++] = 0x1b;
    for (int i = 7; i >= 0; i--)
        want[w++] = (uint8_t)(s.timestamp_ms >> (8 * i));
    want[w++] = 0x08, want[w++] = 0x03;
    assert_int_equal(n, w);
    assert_memory_equal(buf, want, w);
    assert_int_equal(corio_cbor_deterministic(buf, (size_t)n), CORIO_OK);
    struct corio_sth d;
    assert_int_equal(corio_sth_payload_decode(buf, (size_t)n, &d), CORIO_OK);
    assert_memory_equal(&d, &s, sizeof s);

    /* Refusals. */
    buf[2] = 0x02; /* version 2 */
    assert_int_equal(corio_sth_payload_decode(buf, (size_t)n, &d), CORIO_ERR_VERSION);
    buf[2] = 0x01;
    buf[0] = 0xa7; /* one pair fewer than present */
    assert_int_not_equal(corio_sth_payload_decode(buf, (size_t)n, &d), CORIO_OK);
    buf[0] = 0xa8;
    buf[9] = 0x1f; /* a 31-byte root */
    assert_int_not_equal(corio_sth_payload_decode(buf, (size_t)n, &d), CORIO_OK);
    buf[9] = 0x20;
    static const uint8_t long_form[] = {0xa8, 0x01, 0x18, 0x01}; /* version as 0x18 0x01 */
    assert_int_equal(corio_sth_payload_decode(long_form, sizeof long_form, &d),
                     CORIO_ERR_MALFORMED);
    for (int i = 0; i < n; i++)
        assert_int_not_equal(corio_sth_payload_decode(buf, (size_t)i, &d), CORIO_OK);
}

static void sign_and_verify(void **state)
{
    (void)state;
    struct corio_key key, other;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &key), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &other), CORIO_OK);
    uint8_t pub[33], pub2[33];
    assert_int_equal(corio_key_public_compressed(&key, pub), CORIO_OK);
    assert_int_equal(corio_key_public_compressed(&other, pub2), CORIO_OK);
    struct corio_sth s = sample();
    uint8_t msg[CORIO_STH_MAX];
    int n = corio_sth_sign(&s, &key, msg, sizeof msg);
    assert_true(n > 0 && n <= CORIO_STH_MAX);

    struct corio_sth d;
    uint8_t signer[33];
    assert_int_equal(corio_sth_verify(&corio_crypto_openssl_ops, msg, (size_t)n, NULL, &d, signer),
                     CORIO_OK);
    assert_memory_equal(&d, &s, sizeof s);
    assert_memory_equal(signer, pub, 33);
    assert_int_equal(corio_sth_verify(&corio_crypto_openssl_ops, msg, (size_t)n, pub, &d, NULL),
                     CORIO_OK);
    assert_int_equal(corio_sth_verify(&corio_crypto_openssl_ops, msg, (size_t)n, pub2, &d, NULL),
                     CORIO_ERR_POLICY);
    /* The other backend agrees. */
    assert_int_equal(corio_crypto_psa_init(), CORIO_OK);
    assert_int_equal(corio_sth_verify(&corio_crypto_psa_ops, msg, (size_t)n, pub, &d, NULL),
                     CORIO_OK);
    /* It is a tagged COSE_Sign1 whose kid is the key. */
    struct corio_cose_sign1 m;
    assert_int_equal(corio_cose_sign1_decode(msg, (size_t)n, &m), CORIO_OK);
    assert_true(m.tagged);
    assert_int_equal(m.kid_len, 33);
    assert_memory_equal(m.kid, pub, 33);

    /* Every changed byte is refused (most as a bad signature). */
    for (int i = 0; i < n; i++) {
        msg[i] ^= 0x04;
        assert_int_not_equal(
            corio_sth_verify(&corio_crypto_openssl_ops, msg, (size_t)n, NULL, &d, NULL), CORIO_OK);
        msg[i] ^= 0x04;
    }
    /* A signature by another key under this kid. */
    uint8_t forged[CORIO_STH_MAX];
    uint8_t payload[200];
    int pl = corio_sth_payload_encode(&s, payload, sizeof payload);
    int fn = corio_cose_sign1_sign(&other, pub, 33, NULL, 0, payload, (size_t)pl, 0, forged,
                                   sizeof forged);
    assert_true(fn > 0);
    assert_int_equal(
        corio_sth_verify(&corio_crypto_openssl_ops, forged, (size_t)fn, NULL, &d, NULL),
        CORIO_ERR_BADSIG);
    /* A kid that is not a key, and no kid. */
    uint8_t junk[33];
    memset(junk, 0x07, sizeof junk);
    fn = corio_cose_sign1_sign(&key, junk, sizeof junk, NULL, 0, payload, (size_t)pl, 0, forged,
                               sizeof forged);
    assert_int_equal(
        corio_sth_verify(&corio_crypto_openssl_ops, forged, (size_t)fn, NULL, &d, NULL),
        CORIO_ERR_MALFORMED);
    fn = corio_cose_sign1_sign(&key, NULL, 0, NULL, 0, payload, (size_t)pl, 0, forged,
                               sizeof forged);
    assert_int_equal(
        corio_sth_verify(&corio_crypto_openssl_ops, forged, (size_t)fn, NULL, &d, NULL),
        CORIO_ERR_MALFORMED);
    /* A valid signature over something that is not a tree head. */
    fn = corio_cose_sign1_sign(&key, pub, 33, NULL, 0, (const uint8_t *)"\xa0", 1, 0, forged,
                               sizeof forged);
    assert_int_equal(
        corio_sth_verify(&corio_crypto_openssl_ops, forged, (size_t)fn, NULL, &d, NULL),
        CORIO_ERR_MALFORMED);
    corio_key_close(&key);
    corio_key_close(&other);
    corio_crypto_psa_deinit();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(payload_bytes),
        H_TEST(sign_and_verify),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
