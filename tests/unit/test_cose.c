/*
 * test_cose.c - COSE_Sign1 and COSE_Sign (include/corio/cose.h): the COSE WG examples
 * and RFC 9052 appendix C verified (and their failure cases refused for the reason
 * they were made for), signatures from each backend verified by the other, high-S
 * twins refused, every decoding rule, detached payloads, external aad, the in-place
 * writer, size-only mode and every too-small buffer.
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

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/crypto_psa.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"

static const struct corio_crypto_ops *psa = &corio_crypto_psa_ops;
static const struct corio_crypto_ops *ossl = &corio_crypto_openssl_ops;
static char *workdir, *startdir;

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_int_equal(strlen(hex) % 2, 0);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    startdir = getcwd(NULL, 0);
    workdir = h_tmpdir("cose");
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

/* ---- published examples ---- */

/* Key "11" of the COSE examples (RFC 9052 appendix C; cose-wg/Examples). */
static const char *KEY11_PUB = "04bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff"
                               "20138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e";
static const char *KEY11_PRIV = "57c92077664146e876760c9520d054aa93c3afb04e306705db6090308507b4d3";
static const char *CONTENT = "This is the content.";

/* RFC 9052 C.2.1: 18([h'a10126', {4: '11'}, 'This is the content.', sig]). */
static const char *C21 =
    "d28443a10126a10442313154546869732069732074686520636f6e74656e742e58408eb33e4ca31d1c465ab0"
    "5aac34cc6b23d58fef5c083106c4d25a91aef0b0117e2af9a291aa32e14ab834dc56ed2a223444547e01f11d3b"
    "0916e5a4c345cacb36";
/* cose-wg/Examples sign1-tests/sign-pass-01: protected h'a0', alg unprotected. */
static const char *SIGN1_PASS_01 =
    "d28441a0a201260442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766c5"
    "dc5ba5b8dca25dab3c2e56a551ce5705b793914348e11a02e5f0344bf2d4ee5c7fd75a68a9f5e0b3cc1f1fc140"
    "9c189566586ff9d610";
/* sign1-tests/sign-pass-02: external aad 11aa22bb33cc44dd55006699. */
static const char *SIGN1_PASS_02 =
    "d28443a10126a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766c5"
    "dc5ba5b8dca25dab3c2e56a551ce5705b793914348e155388b10c4f1b59a6733eab416870a945111a4b2fbdbef"
    "33a77234b1deff2f9b";
static const char *AAD_02 = "11aa22bb33cc44dd55006699";
/* sign1-tests/sign-pass-03: no tag; its S is high. */
static const char *SIGN1_PASS_03 =
    "8443a10126a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766c5dc5b"
    "a5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba939295b97c4bdb847"
    "782bff384c5794";
/* The failure cases, all with pass-03's (high-S) signature unless noted. */
static const char *SIGN1_FAIL_01 = /* tag 998 */
    "d903e68443a10126a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766"
    "c5dc5ba5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba939295b97c4"
    "bdb847782bff384c5794";
static const char *SIGN1_FAIL_02 = /* payload changed: '.' became '/' */
    "d28443a10126a10442313154546869732069732074686520636f6e74656e742f5840eae868ecc176883766c5dc"
    "5ba5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba939295b97c4bdb8"
    "47782bff384c5794";
static const char *SIGN1_FAIL_03 = /* alg -999 */
    "d28445a1013903e6a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766"
    "c5dc5ba5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba939295b97c4"
    "bdb847782bff384c5794";
static const char *SIGN1_FAIL_04 = /* alg "unknown" */
    "d2844aa10167756e6b6e6f776ea10442313154546869732069732074686520636f6e74656e742e5840eae868ec"
    "c176883766c5dc5ba5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba9"
    "39295b97c4bdb847782bff384c5794";
static const char *SIGN1_FAIL_06 = /* protected header gained {3: 0} */
    "d28445a201260300a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766"
    "c5dc5ba5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba939295b97c4"
    "bdb847782bff384c5794";
static const char *SIGN1_FAIL_07 = /* protected header lost {3: 0} (low-S signature) */
    "d28443a10126a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766c5dc"
    "5ba5b8dca25dab3c2e56a551ce5705b793914348e172727f48461fabbba2e343492ddecac3983686250bc68e9f"
    "1a7a07d41225b59f";
/* RFC 9052 C.1.1, a COSE_Sign with one signer; its S is high. */
static const char *C11 =
    "d8628440a054546869732069732074686520636f6e74656e742e818343a10126a1044231315840e2aeafd40d69"
    "d19dfe6e52077c5d7ff4e408282cbefb5d06cbf414af2e19d982ac45ac98b8544c908b4507de1e90b717c3d348"
    "16fe926a2b98f53afd2fa0f30a";
/* cose-wg/Examples sign-tests/sign-pass-02: COSE_Sign with external aad. */
static const char *SIGN_PASS_02 =
    "d8628440a054546869732069732074686520636f6e74656e742e818343a10126a1044231315840cbb8dad9beaf"
    "b890e1a414124d8bfbc26bedf2a94fcb5a882432bff6d63e15f574eeb2ab51d83fa2cbf62672ebf4c7d993b0f4"
    "c2447647d831ba57cca86b930a";

/* Replaces the S half of the 64-byte signature at sig with n - S. */
static void twin(uint8_t *sig)
{
    assert_int_equal(corio_p256_scalar_negate(sig + 32), CORIO_OK);
}

static void sign1_published_examples_verify(void **state)
{
    (void)state;
    uint8_t pub[65], msg[256], aad[16];
    unhex(KEY11_PUB, pub, sizeof pub);
    size_t aad_len = unhex(AAD_02, aad, sizeof aad);
    const struct corio_crypto_ops *both[] = {psa, ossl};
    for (size_t b = 0; b < 2; b++) {
        struct corio_cose_sign1 m;
        size_t n = unhex(C21, msg, sizeof msg);
        assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
        assert_true(m.tagged);
        assert_false(m.detached);
        assert_int_equal(m.payload_len, strlen(CONTENT));
        assert_memory_equal(m.payload, CONTENT, m.payload_len);
        assert_int_equal(m.kid_len, 2);
        assert_memory_equal(m.kid, "11", 2);
        assert_false(m.kid_protected);
        assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, NULL, 0, NULL, 0), CORIO_OK);

        n = unhex(SIGN1_PASS_01, msg, sizeof msg);
        assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
        assert_int_equal(m.protected_len, 0); /* h'a0', an empty map, is signed as h'' */
        assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, NULL, 0, NULL, 0), CORIO_OK);

        n = unhex(SIGN1_PASS_02, msg, sizeof msg);
        assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
        assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, aad, aad_len, NULL, 0),
                         CORIO_OK);
        /* The aad is bound: without it, or with another one, the signature fails. */
        assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, NULL, 0, NULL, 0),
                         CORIO_ERR_BADSIG);
        aad[0] ^= 1;
        assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, aad, aad_len, NULL, 0),
                         CORIO_ERR_BADSIG);
        aad[0] ^= 1;
    }
}

static void sign1_high_s_example_is_refused_and_its_twin_verifies(void **state)
{
    (void)state;
    uint8_t pub[65], msg[256];
    unhex(KEY11_PUB, pub, sizeof pub);
    size_t n = unhex(SIGN1_PASS_03, msg, sizeof msg);
    struct corio_cose_sign1 m;
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
    assert_false(m.tagged);
    assert_false(corio_p256_scalar_is_low(m.signature + 32));
    /* sign-pass-03 is a valid ECDSA signature, but its S is high: malleable, refused. */
    assert_int_equal(corio_cose_sign1_verify(psa, &m, pub, 65, NULL, 0, NULL, 0), CORIO_ERR_BADSIG);
    assert_int_equal(corio_cose_sign1_verify(ossl, &m, pub, 65, NULL, 0, NULL, 0),
                     CORIO_ERR_BADSIG);
    twin(msg + n - 64);
    assert_int_equal(corio_cose_sign1_verify(psa, &m, pub, 65, NULL, 0, NULL, 0), CORIO_OK);
    assert_int_equal(corio_cose_sign1_verify(ossl, &m, pub, 65, NULL, 0, NULL, 0), CORIO_OK);
}

static void sign1_failure_examples_fail_for_their_reason(void **state)
{
    (void)state;
    uint8_t pub[65], msg[256];
    struct corio_cose_sign1 m;
    unhex(KEY11_PUB, pub, sizeof pub);
    size_t n = unhex(SIGN1_FAIL_01, msg, sizeof msg);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_MALFORMED);
    n = unhex(SIGN1_FAIL_03, msg, sizeof msg);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_UNSUPPORTED);
    n = unhex(SIGN1_FAIL_04, msg, sizeof msg);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_UNSUPPORTED);
    /* The changed payload and the changed protected headers: refused for the high S,
     * and still refused once S is brought low, so the change itself is caught. */
    const char *changed[] = {SIGN1_FAIL_02, SIGN1_FAIL_06};
    for (size_t i = 0; i < 2; i++) {
        n = unhex(changed[i], msg, sizeof msg);
        assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
        assert_int_equal(corio_cose_sign1_verify(ossl, &m, pub, 65, NULL, 0, NULL, 0),
                         CORIO_ERR_BADSIG);
        twin(msg + n - 64);
        assert_int_equal(corio_cose_sign1_verify(ossl, &m, pub, 65, NULL, 0, NULL, 0),
                         CORIO_ERR_BADSIG);
        assert_int_equal(corio_cose_sign1_verify(psa, &m, pub, 65, NULL, 0, NULL, 0),
                         CORIO_ERR_BADSIG);
    }
    n = unhex(SIGN1_FAIL_07, msg, sizeof msg);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
    assert_true(corio_p256_scalar_is_low(m.signature + 32));
    assert_int_equal(corio_cose_sign1_verify(ossl, &m, pub, 65, NULL, 0, NULL, 0),
                     CORIO_ERR_BADSIG);
    assert_int_equal(corio_cose_sign1_verify(psa, &m, pub, 65, NULL, 0, NULL, 0), CORIO_ERR_BADSIG);
}

static void sign_published_examples_verify(void **state)
{
    (void)state;
    uint8_t pub[65], msg[256], aad[16];
    unhex(KEY11_PUB, pub, sizeof pub);
    size_t aad_len = unhex(AAD_02, aad, sizeof aad);
    struct corio_cose_sign m;
    struct corio_cose_signature s;
    size_t n = unhex(SIGN_PASS_02, msg, sizeof msg);
    assert_int_equal(corio_cose_sign_decode(msg, n, &m), CORIO_OK);
    assert_true(m.tagged);
    assert_int_equal(m.count, 1);
    assert_int_equal(m.protected_len, 0);
    assert_memory_equal(m.payload, CONTENT, strlen(CONTENT));
    assert_int_equal(corio_cose_sign_signature(&m, 0, &s), CORIO_OK);
    assert_memory_equal(s.kid, "11", 2);
    assert_int_equal(corio_cose_sign_signature(&m, 1, &s), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_cose_sign_signature(&m, 0, &s), CORIO_OK);
    assert_int_equal(corio_cose_sign_verify(psa, &m, &s, pub, 65, aad, aad_len, NULL, 0), CORIO_OK);
    assert_int_equal(corio_cose_sign_verify(ossl, &m, &s, pub, 65, aad, aad_len, NULL, 0),
                     CORIO_OK);
    assert_int_equal(corio_cose_sign_verify(ossl, &m, &s, pub, 65, NULL, 0, NULL, 0),
                     CORIO_ERR_BADSIG);

    /* C.1.1: high S, refused; its twin verifies. */
    n = unhex(C11, msg, sizeof msg);
    assert_int_equal(corio_cose_sign_decode(msg, n, &m), CORIO_OK);
    assert_int_equal(corio_cose_sign_signature(&m, 0, &s), CORIO_OK);
    assert_int_equal(corio_cose_sign_verify(psa, &m, &s, pub, 65, NULL, 0, NULL, 0),
                     CORIO_ERR_BADSIG);
    assert_int_equal(corio_cose_sign_verify(ossl, &m, &s, pub, 65, NULL, 0, NULL, 0),
                     CORIO_ERR_BADSIG);
    twin(msg + n - 64);
    assert_int_equal(corio_cose_sign_verify(psa, &m, &s, pub, 65, NULL, 0, NULL, 0), CORIO_OK);
    assert_int_equal(corio_cose_sign_verify(ossl, &m, &s, pub, 65, NULL, 0, NULL, 0), CORIO_OK);
}

/* ---- our own messages, both backends ---- */

static void new_key(const struct corio_crypto_ops *ops, struct corio_key *k, uint8_t pub[65])
{
    assert_int_equal(corio_key_generate(ops, 0, 0, k), CORIO_OK);
    assert_int_equal(corio_key_public(k, pub), CORIO_OK);
}

static void sign1_interoperates_between_backends(void **state)
{
    (void)state;
    const struct corio_crypto_ops *both[] = {psa, ossl};
    const uint8_t kid[] = "did:corio:uruaok7yhitqgcc26jlq3bd4#3";
    const uint8_t payload[] = "\x01\x02 some payload";
    const uint8_t aad[] = "context";
    for (size_t a = 0; a < 2; a++) {
        struct corio_key k;
        uint8_t pub[65], other_pub[65], msg[512];
        struct corio_key other;
        new_key(both[a], &k, pub);
        new_key(both[1 - a], &other, other_pub);
        for (unsigned flags = 0; flags < 4; flags++) {
            int n = corio_cose_sign1_sign(&k, kid, sizeof kid - 1, aad, sizeof aad - 1, payload,
                                          sizeof payload - 1, flags, msg, sizeof msg);
            assert_true(n > 0);
            /* Size-only mode counts exactly what was written. */
            assert_int_equal(corio_cose_sign1_sign(NULL, kid, sizeof kid - 1, aad, sizeof aad - 1,
                                                   payload, sizeof payload - 1, flags, NULL, 0),
                             n);
            assert_true((size_t)n <= CORIO_COSE_SIGN1_MAX(sizeof kid - 1, sizeof payload - 1));
            assert_int_equal(corio_cbor_wellformed(msg, (size_t)n), CORIO_OK);
            assert_int_equal(msg[0] == 0xd2, !(flags & CORIO_COSE_UNTAGGED));
            struct corio_cose_sign1 m;
            assert_int_equal(corio_cose_sign1_decode(msg, (size_t)n, &m), CORIO_OK);
            assert_int_equal(m.detached, (flags & CORIO_COSE_DETACHED) != 0);
            assert_true(m.kid_protected);
            assert_memory_equal(m.kid, kid, sizeof kid - 1);
            /* The protected header is exactly {1: -7, 4: kid}. */
            assert_int_equal(m.protected_len, 4 + 2 + sizeof kid - 1);
            assert_memory_equal(m.protected_hdr, "\xa2\x01\x26\x04\x58\x24", 6);
            const uint8_t *det = m.detached ? payload : NULL;
            size_t det_len = m.detached ? sizeof payload - 1 : 0;
            for (size_t b = 0; b < 2; b++) {
                assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, aad, sizeof aad - 1,
                                                         det, det_len),
                                 CORIO_OK);
                assert_int_equal(corio_cose_sign1_verify(both[b], &m, other_pub, 65, aad,
                                                         sizeof aad - 1, det, det_len),
                                 CORIO_ERR_BADSIG);
                assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, aad, sizeof aad - 2,
                                                         det, det_len),
                                 CORIO_ERR_BADSIG);
            }
            if (m.detached) {
                assert_int_equal(corio_cose_sign1_verify(ossl, &m, pub, 65, aad, sizeof aad - 1,
                                                         payload, sizeof payload - 2),
                                 CORIO_ERR_BADSIG);
                assert_int_equal(
                    corio_cose_sign1_verify(ossl, &m, pub, 65, aad, sizeof aad - 1, NULL, 0),
                    CORIO_ERR_INVAL);
            } else {
                assert_int_equal(
                    corio_cose_sign1_verify(ossl, &m, pub, 65, aad, sizeof aad - 1, payload, 1),
                    CORIO_ERR_INVAL);
                /* One flipped payload bit. */
                msg[n - 64 - 3] ^= 0x10;
                assert_int_equal(
                    corio_cose_sign1_verify(ossl, &m, pub, 65, aad, sizeof aad - 1, NULL, 0),
                    CORIO_ERR_BADSIG);
                msg[n - 64 - 3] ^= 0x10;
            }
            /* Our signers write low S; the high-S twin of the same signature is refused. */
            assert_true(corio_p256_scalar_is_low(m.signature + 32));
            twin(msg + n - 64);
            for (size_t b = 0; b < 2; b++)
                assert_int_equal(corio_cose_sign1_verify(both[b], &m, pub, 65, aad, sizeof aad - 1,
                                                         det, det_len),
                                 CORIO_ERR_BADSIG);
        }
        corio_key_close(&k);
        corio_key_close(&other);
    }
}

static void sign1_without_kid_and_with_empty_payload(void **state)
{
    (void)state;
    struct corio_key k;
    uint8_t pub[65], msg[128];
    new_key(ossl, &k, pub);
    int n = corio_cose_sign1_sign(&k, NULL, 0, NULL, 0, NULL, 0, 0, msg, sizeof msg);
    assert_true(n > 0);
    struct corio_cose_sign1 m;
    assert_int_equal(corio_cose_sign1_decode(msg, (size_t)n, &m), CORIO_OK);
    assert_null(m.kid);
    assert_false(m.detached);
    assert_int_equal(m.payload_len, 0);
    assert_int_equal(m.protected_len, 3);
    assert_int_equal(corio_cose_sign1_verify(psa, &m, pub, 65, NULL, 0, NULL, 0), CORIO_OK);
    uint8_t comp[33];
    assert_int_equal(corio_key_public_compressed(&k, comp), CORIO_OK);
    assert_int_equal(corio_cose_sign1_verify(psa, &m, comp, 33, NULL, 0, NULL, 0), CORIO_OK);
    assert_int_equal(corio_cose_sign1_verify(psa, &m, comp, 32, NULL, 0, NULL, 0),
                     CORIO_ERR_MALFORMED);
    corio_key_close(&k);
}

static void sign1_writer_matches_one_shot_signing(void **state)
{
    (void)state;
    uint8_t priv[32];
    struct corio_key k;
    unhex(KEY11_PRIV, priv, sizeof priv);
    /* PSA signs deterministically, so both ways must give the very same bytes. */
    assert_int_equal(corio_key_import(psa, 0, 0, priv, &k), CORIO_OK);
    uint8_t a[256], b[256], payload[64];
    struct corio_cbor_enc pe;
    corio_cbor_enc_init(&pe, payload, sizeof payload);
    corio_cbor_put_map(&pe, 2);
    corio_cbor_put_uint(&pe, 1);
    corio_cbor_put_textz(&pe, "one");
    corio_cbor_put_uint(&pe, 2);
    corio_cbor_put_bytes(&pe, "\x00\x01\x02", 3);
    int plen = corio_cbor_enc_finish(&pe);
    assert_true(plen > 0);

    struct corio_cose_sign1_writer w;
    assert_int_equal(corio_cose_sign1_begin(&w, a, sizeof a, (const uint8_t *)"k", 1, 0), CORIO_OK);
    struct corio_cbor_enc *e = corio_cose_sign1_payload(&w);
    assert_non_null(e);
    corio_cbor_put_map(e, 2);
    corio_cbor_put_uint(e, 2);
    corio_cbor_put_bytes(e, "\x00\x01\x02", 3);
    corio_cbor_put_uint(e, 1);
    corio_cbor_put_textz(e, "one");
    size_t map_start = corio_cbor_enc_len(e) - ((size_t)plen);
    assert_int_equal(corio_cbor_sort_map(e, map_start), CORIO_OK);
    int na = corio_cose_sign1_end(&w, &k, NULL, 0);
    assert_true(na > 0);
    assert_null(corio_cose_sign1_payload(&w));
    assert_int_equal(corio_cose_sign1_end(&w, &k, NULL, 0), CORIO_ERR_STATE);
    int nb = corio_cose_sign1_sign(&k, (const uint8_t *)"k", 1, NULL, 0, payload, (size_t)plen, 0,
                                   b, sizeof b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na);

    /* Counting mode: the same length, no key needed. */
    assert_int_equal(corio_cose_sign1_begin(&w, NULL, 0, (const uint8_t *)"k", 1, 0), CORIO_OK);
    corio_cbor_put_raw(corio_cose_sign1_payload(&w), payload, (size_t)plen);
    assert_int_equal(corio_cose_sign1_end(&w, NULL, NULL, 0), na);
    /* A writer cannot detach its payload. */
    assert_int_equal(corio_cose_sign1_begin(&w, a, sizeof a, NULL, 0, CORIO_COSE_DETACHED),
                     CORIO_ERR_INVAL);
    corio_key_close(&k);
}

static void sign1_refuses_every_short_buffer(void **state)
{
    (void)state;
    struct corio_key k;
    uint8_t pub[65], full[512];
    new_key(psa, &k, pub);
    const uint8_t payload[100] = {7};
    for (unsigned flags = 0; flags < 4; flags++) {
        int n = corio_cose_sign1_sign(&k, (const uint8_t *)"kid", 3, NULL, 0, payload,
                                      sizeof payload, flags, full, sizeof full);
        assert_true(n > 0);
        for (size_t cap = 0; cap < (size_t)n; cap++) {
            uint8_t *buf = malloc(cap ? cap : 1); /* exact size: ASan sees any overrun */
            assert_non_null(buf);
            assert_int_equal(corio_cose_sign1_sign(&k, (const uint8_t *)"kid", 3, NULL, 0, payload,
                                                   sizeof payload, flags, buf, cap),
                             CORIO_ERR_NOSPACE);
            free(buf);
        }
    }
    assert_int_equal(corio_cose_sign1_sign(&k, NULL, 1, NULL, 0, NULL, 0, 0, full, sizeof full),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_cose_sign1_sign(&k, NULL, 0, NULL, 0, NULL, 0, 0x4, full, sizeof full),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_cose_sign1_sign(NULL, NULL, 0, NULL, 0, NULL, 0, 0, full, sizeof full),
                     CORIO_ERR_INVAL);
    corio_key_close(&k);
}

/* ---- decoding rules ---- */

/* Builds [bstr(prot), unprot, payload_item, bstr(sig of sig_len)] (tag 18 if tagged). */
static size_t build_sign1(uint8_t *out, size_t cap, bool tagged, const char *prot_hex,
                          const char *unprot_hex, const char *payload_item_hex, size_t sig_len)
{
    uint8_t prot[256], unprot[256], item[256], sig[80];
    size_t np = unhex(prot_hex, prot, sizeof prot);
    size_t nu = unhex(unprot_hex, unprot, sizeof unprot);
    size_t ni = unhex(payload_item_hex, item, sizeof item);
    memset(sig, 0x11, sizeof sig);
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, cap);
    if (tagged)
        corio_cbor_put_tag(&e, 18);
    corio_cbor_put_array(&e, 4);
    corio_cbor_put_bytes(&e, prot, np);
    corio_cbor_put_raw(&e, unprot, nu);
    corio_cbor_put_raw(&e, item, ni);
    corio_cbor_put_bytes(&e, sig, sig_len);
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

static void sign1_header_rules(void **state)
{
    (void)state;
    static const struct {
        const char *prot, *unprot;
        int want;
        const char *what;
    } cases[] = {
        {"a10126", "a0", CORIO_OK, "alg protected"},
        {"", "a10126", CORIO_OK, "alg unprotected, empty protected"},
        {"a0", "a10126", CORIO_OK, "alg unprotected, protected {}"},
        {"", "a0", CORIO_ERR_MALFORMED, "no alg"},
        {"a10126", "a10126", CORIO_ERR_MALFORMED, "alg in both buckets"},
        {"a2012604416b", "a104416b", CORIO_ERR_MALFORMED, "kid in both buckets"},
        {"a10126", "a2 044131 044132", CORIO_ERR_MALFORMED, "kid twice in one bucket"},
        {"a2 0126 0126", "a0", CORIO_ERR_MALFORMED, "alg twice in one bucket"},
        {"a10127", "a0", CORIO_ERR_UNSUPPORTED, "alg -8 (EdDSA)"},
        {"a10122", "a0", CORIO_ERR_UNSUPPORTED, "alg -3"},
        {"a101 654553323536", "a0", CORIO_ERR_UNSUPPORTED, "alg as text"},
        {"a10140", "a0", CORIO_ERR_MALFORMED, "alg as bytes"},
        {"a101 3bffffffffffffffff", "a0", CORIO_ERR_MALFORMED, "alg beyond int64"},
        {"01", "a0", CORIO_ERR_MALFORMED, "protected is not a map"},
        {"80", "a0", CORIO_ERR_MALFORMED, "protected is an array"},
        {"a10126 00", "a0", CORIO_ERR_MALFORMED, "bytes after the protected map"},
        {"bf0126ff", "a0", CORIO_ERR_MALFORMED, "indefinite protected map"},
        {"a10126", "bfff", CORIO_ERR_MALFORMED, "indefinite unprotected map"},
        {"a10126", "80", CORIO_ERR_MALFORMED, "unprotected is an array"},
        {"a1", "a0", CORIO_ERR_MALFORMED, "truncated protected map"},
        {"a2 0126 04416b", "a0", CORIO_OK, "kid protected"},
        {"a2 0126 046161", "a0", CORIO_ERR_MALFORMED, "kid as text"},
        {"a2 0126 410100", "a0", CORIO_ERR_MALFORMED, "bytes label"},
        {"a2 0126 f93c0000", "a0", CORIO_ERR_MALFORMED, "float label"},
        {"a2 0126 617801", "a0", CORIO_OK, "text label, ignored"},
        {"a3 0126 617801 617802", "a0", CORIO_ERR_MALFORMED, "text label twice"},
        {"a2 0126 3bffffffffffffffff00", "a0", CORIO_ERR_MALFORMED, "label beyond int64"},
        {"a2 0126 186300", "a0", CORIO_OK, "unknown int label, ignored"},
        {"a2 0126 1863 8201a0", "a0", CORIO_OK, "unknown label with a nested value"},
        {"a2 0126 030a", "a0", CORIO_OK, "content type, ignored"},
    };
    uint8_t msg[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char prot[128], unprot[128];
        size_t o = 0;
        /* Let the table use spaces for readability. */
        for (const char *c = cases[i].prot; *c; c++)
            if (*c != ' ')
                prot[o++] = *c;
        prot[o] = 0;
        o = 0;
        for (const char *c = cases[i].unprot; *c; c++)
            if (*c != ' ')
                unprot[o++] = *c;
        unprot[o] = 0;
        size_t n = build_sign1(msg, sizeof msg, true, prot, unprot, "41ff", 64);
        struct corio_cose_sign1 m;
        int rc = corio_cose_sign1_decode(msg, n, &m);
        if (rc != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, rc, cases[i].want);
    }
}

static void sign1_crit_rules(void **state)
{
    (void)state;
    static const struct {
        const char *prot, *unprot;
        int want;
        const char *what;
    } cases[] = {
        {"a20126028101", "a0", CORIO_OK, "crit [alg]"},
        {"a301260281040441 6b", "a0", CORIO_OK, "crit [kid] with kid"},
        {"a301260281030300", "a0", CORIO_ERR_UNSUPPORTED, "crit [3], not understood"},
        {"a3012602816178617801", "a0", CORIO_ERR_UNSUPPORTED, "crit [\"x\"], not understood"},
        {"a20126028104", "a0", CORIO_ERR_MALFORMED, "crit [kid] without kid"},
        {"a20126028104", "a104416b", CORIO_ERR_MALFORMED, "crit [kid], kid unprotected"},
        {"a201260280", "a0", CORIO_ERR_MALFORMED, "crit []"},
        {"a2012602 01", "a0", CORIO_ERR_MALFORMED, "crit not an array"},
        {"a201260281 40", "a0", CORIO_ERR_MALFORMED, "crit lists bytes"},
        {"a2012602 9f01ff", "a0", CORIO_ERR_MALFORMED, "crit indefinite"},
        {"a10126", "a1028101", CORIO_ERR_MALFORMED, "crit unprotected"},
    };
    uint8_t msg[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char prot[128];
        size_t o = 0;
        for (const char *c = cases[i].prot; *c; c++)
            if (*c != ' ')
                prot[o++] = *c;
        prot[o] = 0;
        size_t n = build_sign1(msg, sizeof msg, false, prot, cases[i].unprot, "f6", 64);
        struct corio_cose_sign1 m;
        int rc = corio_cose_sign1_decode(msg, n, &m);
        if (rc != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, rc, cases[i].want);
    }
}

static void sign1_structure_rules(void **state)
{
    (void)state;
    uint8_t msg[512];
    struct corio_cose_sign1 m;
    size_t n;
    n = build_sign1(msg, sizeof msg, true, "a10126", "a0", "40", 64);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
    /* A trailing byte, and every truncation. */
    msg[n] = 0x00;
    assert_int_equal(corio_cose_sign1_decode(msg, n + 1, &m), CORIO_ERR_MALFORMED);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *t = malloc(cut ? cut : 1);
        assert_non_null(t);
        memcpy(t, msg, cut);
        assert_int_equal(corio_cose_sign1_decode(cut ? t : NULL, cut, &m), CORIO_ERR_MALFORMED);
        free(t);
    }
    n = build_sign1(msg, sizeof msg, true, "a10126", "a0", "40", 63);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_MALFORMED);
    n = build_sign1(msg, sizeof msg, true, "a10126", "a0", "40", 65);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_MALFORMED);
    n = build_sign1(msg, sizeof msg, true, "a10126", "a0", "6161", 64); /* text payload */
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_MALFORMED);
    n = build_sign1(msg, sizeof msg, true, "a10126", "a0", "f7", 64); /* undefined payload */
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_MALFORMED);
    n = build_sign1(msg, sizeof msg, true, "a10126", "a0", "f6", 64);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
    assert_true(m.detached);
    assert_null(m.payload);

    static const char *bad[] = {
        "",
        "f6",
        "d8628443a10126a0405840", /* tag 98 on a COSE_Sign1 (and truncated anyway) */
        "83 43a10126 a0 40",
        "a0",
        "9f43a10126a04040ff", /* indefinite array */
        "8463a10126a0405840", /* protected as text */
        "d2d28443a10126a040", /* tag twice */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char clean[64];
        size_t o = 0;
        for (const char *c = bad[i]; *c; c++)
            if (*c != ' ')
                clean[o++] = *c;
        clean[o] = 0;
        n = unhex(clean, msg, sizeof msg);
        if (corio_cose_sign1_decode(n ? msg : NULL, n, &m) != CORIO_ERR_MALFORMED)
            fail_msg("accepted %s", bad[i]);
    }
    /* A signature that is a text string. */
    n = build_sign1(msg, sizeof msg, false, "a10126", "a0", "40", 64);
    msg[n - 64 - 2] = 0x78; /* 0x58 0x40 -> text of 64 */
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_cose_sign1_decode(NULL, 3, &m), CORIO_ERR_INVAL);
    assert_int_equal(corio_cose_sign1_decode(msg, n, NULL), CORIO_ERR_INVAL);
}

static void sign1_header_limits(void **state)
{
    (void)state;
    uint8_t msg[1024];
    struct corio_cose_sign1 m;
    char prot[256];
    /* 16 labels: alg and 15 others, the most a header pair may hold. */
    size_t o = (size_t)sprintf(prot, "b00126");
    for (int l = 10; l < 25; l++)
        o += (size_t)(l < 24 ? sprintf(prot + o, "%02x00", l) : sprintf(prot + o, "18%02x00", l));
    size_t n = build_sign1(msg, sizeof msg, false, prot, "a0", "40", 64);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_OK);
    /* ... and one more in the unprotected bucket is one too many. */
    n = build_sign1(msg, sizeof msg, false, prot, "a1186300", "40", 64);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_UNSUPPORTED);

    /* A header value nested beyond the decoder's depth. */
    o = (size_t)sprintf(prot, "a201261863");
    for (int d = 0; d < CORIO_CBOR_MAX_DEPTH; d++)
        o += (size_t)sprintf(prot + o, "81");
    sprintf(prot + o, "00");
    n = build_sign1(msg, sizeof msg, false, prot, "a0", "40", 64);
    assert_int_equal(corio_cose_sign1_decode(msg, n, &m), CORIO_ERR_UNSUPPORTED);
}

/* ---- COSE_Sign ---- */

static void sign_several_signers_across_backends(void **state)
{
    (void)state;
    struct corio_key a, b, c;
    uint8_t pa[65], pb[65], pc[65];
    new_key(psa, &a, pa);
    new_key(ossl, &b, pb);
    new_key(psa, &c, pc);
    const uint8_t payload[] = "ledger transaction body";
    const uint8_t aad[] = "aad";
    uint8_t m1[512], m2[512], m3[512];
    for (unsigned flags = 0; flags < 4; flags++) {
        bool det = flags & CORIO_COSE_DETACHED;
        const uint8_t *dp = det ? payload : NULL;
        size_t dl = det ? sizeof payload - 1 : 0;
        int n1 = corio_cose_sign_sign(&a, (const uint8_t *)"a", 1, aad, 3, payload,
                                      sizeof payload - 1, flags, m1, sizeof m1);
        assert_true(n1 > 0);
        assert_int_equal(corio_cose_sign_sign(NULL, (const uint8_t *)"a", 1, aad, 3, payload,
                                              sizeof payload - 1, flags, NULL, 0),
                         n1);
        int n2 = corio_cose_sign_add(&b, (const uint8_t *)"bb", 2, aad, 3, m1, (size_t)n1, dp, dl,
                                     m2, sizeof m2);
        assert_true(n2 > n1);
        assert_true((size_t)(n2 - n1) <= CORIO_COSE_SIGNATURE_MAX(2));
        int n3 = corio_cose_sign_add(&c, NULL, 0, NULL, 0, m2, (size_t)n2, dp, dl, m3, sizeof m3);
        assert_true(n3 > n2);
        struct corio_cose_sign m;
        assert_int_equal(corio_cose_sign_decode(m3, (size_t)n3, &m), CORIO_OK);
        assert_int_equal(m.count, 3);
        assert_int_equal(m.tagged, !(flags & CORIO_COSE_UNTAGGED));
        assert_int_equal(m.detached, det);
        const uint8_t *pubs[] = {pa, pb, pc};
        const char *kids[] = {"a", "bb", NULL};
        for (size_t i = 0; i < 3; i++) {
            struct corio_cose_signature s;
            assert_int_equal(corio_cose_sign_signature(&m, i, &s), CORIO_OK);
            if (kids[i]) {
                assert_int_equal(s.kid_len, strlen(kids[i]));
                assert_memory_equal(s.kid, kids[i], s.kid_len);
                assert_true(s.kid_protected);
            } else {
                assert_null(s.kid);
            }
            const uint8_t *want_aad = i < 2 ? aad : NULL;
            size_t want_aad_len = i < 2 ? 3 : 0;
            assert_int_equal(
                corio_cose_sign_verify(psa, &m, &s, pubs[i], 65, want_aad, want_aad_len, dp, dl),
                CORIO_OK);
            assert_int_equal(
                corio_cose_sign_verify(ossl, &m, &s, pubs[i], 65, want_aad, want_aad_len, dp, dl),
                CORIO_OK);
            assert_int_equal(corio_cose_sign_verify(ossl, &m, &s, pubs[(i + 1) % 3], 65, want_aad,
                                                    want_aad_len, dp, dl),
                             CORIO_ERR_BADSIG);
        }
    }
    /* A detached message needs its payload to add a signature; an embedded one must not
     * get one. */
    int n1 = corio_cose_sign_sign(&a, NULL, 0, NULL, 0, payload, sizeof payload - 1,
                                  CORIO_COSE_DETACHED, m1, sizeof m1);
    assert_int_equal(
        corio_cose_sign_add(&b, NULL, 0, NULL, 0, m1, (size_t)n1, NULL, 0, m2, sizeof m2),
        CORIO_ERR_INVAL);
    n1 = corio_cose_sign_sign(&a, NULL, 0, NULL, 0, payload, sizeof payload - 1, 0, m1, sizeof m1);
    assert_int_equal(
        corio_cose_sign_add(&b, NULL, 0, NULL, 0, m1, (size_t)n1, payload, 1, m2, sizeof m2),
        CORIO_ERR_INVAL);
    /* Output overlapping the input. */
    assert_int_equal(
        corio_cose_sign_add(&b, NULL, 0, NULL, 0, m1, (size_t)n1, NULL, 0, m1 + 10, sizeof m1 - 10),
        CORIO_ERR_INVAL);
    /* Every too-small buffer for add. */
    int n2 = corio_cose_sign_add(&b, (const uint8_t *)"bb", 2, NULL, 0, m1, (size_t)n1, NULL, 0, m2,
                                 sizeof m2);
    assert_true(n2 > 0);
    for (size_t cap = 0; cap < (size_t)n2; cap++) {
        uint8_t *buf = malloc(cap ? cap : 1);
        assert_non_null(buf);
        assert_int_equal(corio_cose_sign_add(&b, (const uint8_t *)"bb", 2, NULL, 0, m1, (size_t)n1,
                                             NULL, 0, buf, cap),
                         CORIO_ERR_NOSPACE);
        free(buf);
    }
    corio_key_close(&a);
    corio_key_close(&b);
    corio_key_close(&c);
}

static void sign_signature_limit(void **state)
{
    (void)state;
    struct corio_key k;
    uint8_t pub[65];
    static uint8_t a[8192], b[8192];
    new_key(ossl, &k, pub);
    int n = corio_cose_sign_sign(&k, NULL, 0, NULL, 0, (const uint8_t *)"x", 1, 0, a, sizeof a);
    for (int i = 1; i < CORIO_COSE_MAX_SIGNATURES; i++) {
        uint8_t *from = i % 2 ? a : b, *to = i % 2 ? b : a;
        n = corio_cose_sign_add(&k, NULL, 0, NULL, 0, from, (size_t)n, NULL, 0, to, sizeof a);
        assert_true(n > 0);
    }
    uint8_t *last = CORIO_COSE_MAX_SIGNATURES % 2 ? a : b;
    struct corio_cose_sign m;
    assert_int_equal(corio_cose_sign_decode(last, (size_t)n, &m), CORIO_OK);
    assert_int_equal(m.count, CORIO_COSE_MAX_SIGNATURES);
    struct corio_cose_signature s;
    assert_int_equal(corio_cose_sign_signature(&m, CORIO_COSE_MAX_SIGNATURES - 1, &s), CORIO_OK);
    assert_int_equal(corio_cose_sign_verify(psa, &m, &s, pub, 65, NULL, 0, NULL, 0), CORIO_OK);
    assert_int_equal(corio_cose_sign_add(&k, NULL, 0, NULL, 0, last, (size_t)n, NULL, 0,
                                         last == a ? b : a, sizeof a),
                     CORIO_ERR_UNSUPPORTED);
    /* The same message with one more signature, copied by hand, is refused to decode. */
    uint8_t *more = last == a ? b : a;
    assert_int_equal(last[0], 0xd8);
    assert_int_equal(last[1], 0x62);
    size_t sigs_head = (size_t)(m.sigs - last) - 1;
    assert_int_equal(last[sigs_head], 0x90); /* array of 16 */
    memcpy(more, last, (size_t)n);
    more[sigs_head] = 0x91;
    memcpy(more + n, m.sigs, m.sigs_len / CORIO_COSE_MAX_SIGNATURES);
    assert_int_equal(
        corio_cose_sign_decode(more, (size_t)n + m.sigs_len / CORIO_COSE_MAX_SIGNATURES, &m),
        CORIO_ERR_UNSUPPORTED);
    corio_key_close(&k);
}

static void sign_decoding_rules(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        int want;
        const char *what;
    } cases[] = {
        {"8440a040 8183 43a10126 a0 5840 %s", CORIO_OK, "minimal"},
        {"8443a10126a040 8183 43a10126 a0 5840 %s", CORIO_ERR_POLICY, "alg in the body"},
        {"8440a10126 40 8183 43a10126 a0 5840 %s", CORIO_ERR_POLICY,
         "alg in the body, unprotected"},
        {"8440a040 80", CORIO_ERR_MALFORMED, "no signatures"},
        {"8440a040 f6", CORIO_ERR_MALFORMED, "signatures not an array"},
        {"8440a040 9f83 43a10126 a0 5840 %s ff", CORIO_ERR_MALFORMED, "indefinite signatures"},
        {"8440a040 8183 43a10127 a0 5840 %s", CORIO_ERR_UNSUPPORTED, "an EdDSA signer"},
        {"8440a040 8182 43a10126 a0", CORIO_ERR_MALFORMED, "signature of 2 items"},
        {"8440a040 8183 43a10126 a0 5840 %s 00", CORIO_ERR_MALFORMED, "trailing byte"},
        {"d2 8440a040 8183 43a10126 a0 5840 %s", CORIO_ERR_MALFORMED, "tag 18 on a COSE_Sign"},
        {"8340a040", CORIO_ERR_MALFORMED, "array of 3"},
        {"8440a0f6 8183 43a10126 a0 5840 %s", CORIO_OK, "detached"},
        {"8440a040 8183 43a10126 a0 583f %s", CORIO_ERR_MALFORMED, "63-byte signature"},
        {"8443a10300a040 8183 43a10126 a0 5840 %s", CORIO_OK, "body content type"},
        {"8441a0 a1044131 40 8183 43a10126 a0 5840 %s", CORIO_OK, "body kid"},
        {"8440a040 8183 43a10126 a0 5840 %s 8183", CORIO_ERR_MALFORMED, "stray items"},
    };
    char sig[129], hex[512];
    memset(sig, '7', 128);
    sig[128] = 0;
    uint8_t msg[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Spaces are for reading; %s stands for 64 signature bytes. */
        size_t o = 0;
        for (const char *c = cases[i].hex; *c; c++) {
            if (c[0] == '%' && c[1] == 's') {
                memcpy(hex + o, sig, 128);
                o += 128;
                c++;
            } else if (*c != ' ') {
                hex[o++] = *c;
            }
        }
        hex[o] = 0;
        size_t n = unhex(hex, msg, sizeof msg);
        struct corio_cose_sign m;
        int rc = corio_cose_sign_decode(msg, n, &m);
        if (rc != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, rc, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sign1_published_examples_verify),
        cmocka_unit_test(sign1_high_s_example_is_refused_and_its_twin_verifies),
        cmocka_unit_test(sign1_failure_examples_fail_for_their_reason),
        cmocka_unit_test(sign_published_examples_verify),
        cmocka_unit_test(sign1_interoperates_between_backends),
        cmocka_unit_test(sign1_without_kid_and_with_empty_payload),
        cmocka_unit_test(sign1_writer_matches_one_shot_signing),
        cmocka_unit_test(sign1_refuses_every_short_buffer),
        cmocka_unit_test(sign1_header_rules),
        cmocka_unit_test(sign1_crit_rules),
        cmocka_unit_test(sign1_structure_rules),
        cmocka_unit_test(sign1_header_limits),
        cmocka_unit_test(sign_several_signers_across_backends),
        cmocka_unit_test(sign_signature_limit),
        cmocka_unit_test(sign_decoding_rules),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
