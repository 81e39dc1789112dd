/*
 * test_eat.c - Corio EATs (include/corio/eat.h, docs/eat-profile.md): tokens made by
 * one backend and verified by the other in challenge and single-step modes, the
 * claims and CoSWID layout byte for byte, the size bound, and every refusal - of the
 * verifier's expectations, of the profile's claims (crafted tokens, validly signed, so
 * each is refused for its own reason), and of the maker's inputs.
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
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"

static const struct corio_crypto_ops *psa = &corio_crypto_psa_ops;
static const struct corio_crypto_ops *ossl = &corio_crypto_openssl_ops;
static char *workdir, *startdir;

/* The device: a key per backend, its DID (from the PSA key) and the gateway's id. */
static struct corio_key dev_psa, dev_ossl, stranger;
static uint8_t pub_psa[65], pub_ossl[65], pub_stranger[65];
static struct corio_did dev_did;
static char dev_did_str[CORIO_DID_BUF];
static const char *GW = "ab2cd3ef4gh5ij6kl7mn2op3";
static uint8_t nonce[32];
static uint8_t fw_digest[32];

static int group_setup(void **state)
{
    (void)state;
    startdir = getcwd(NULL, 0);
    workdir = h_tmpdir("eat");
    if (!startdir || !workdir || chdir(workdir) != 0)
        return -1;
    if (corio_crypto_psa_init() != CORIO_OK)
        return -1;
    if (corio_key_generate(psa, 0, 0, &dev_psa) != CORIO_OK ||
        corio_key_generate(ossl, 0, 0, &dev_ossl) != CORIO_OK ||
        corio_key_generate(ossl, 0, 0, &stranger) != CORIO_OK ||
        corio_key_public(&dev_psa, pub_psa) != CORIO_OK ||
        corio_key_public(&dev_ossl, pub_ossl) != CORIO_OK ||
        corio_key_public(&stranger, pub_stranger) != CORIO_OK ||
        corio_did_from_key(psa, pub_psa, 65, &dev_did) != CORIO_OK ||
        corio_did_format(&dev_did, dev_did_str, sizeof dev_did_str) < 0)
        return -1;
    for (size_t i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(0xa0 + i);
    return corio_sha256(ossl, (const uint8_t *)"firmware image", 14, fw_digest);
}

static int group_teardown(void **state)
{
    (void)state;
    corio_key_close(&dev_psa);
    corio_key_close(&dev_ossl);
    corio_key_close(&stranger);
    corio_crypto_psa_deinit();
    int rc = chdir(startdir);
    rc |= rmdir(workdir);
    free(workdir);
    free(startdir);
    return rc;
}

static struct corio_eat_claims base_claims(void)
{
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    c.issuer = dev_did;
    c.key_number = 0;
    c.aud = GW;
    c.aud_len = strlen(GW);
    c.nonce = nonce;
    c.nonce_len = sizeof nonce;
    c.has_bootcount = true;
    c.bootcount = 17;
    c.has_firmware = true;
    memcpy(c.fw_digest, fw_digest, 32);
    c.fw_version = "1.4.2";
    c.fw_version_len = 5;
    c.fw_name = "sensor-fw";
    c.fw_name_len = 9;
    c.assurance = CORIO_EAT_REPORTED;
    return c;
}

static struct corio_eat_expect base_expect(void)
{
    struct corio_eat_expect e;
    memset(&e, 0, sizeof e);
    e.aud = GW;
    e.aud_len = strlen(GW);
    e.nonce = nonce;
    e.nonce_len = sizeof nonce;
    return e;
}

/* ---- tokens made by this module ---- */

static void made_tokens_verify_across_backends(void **state)
{
    (void)state;
    struct {
        struct corio_key *key;
        const uint8_t *pub;
    } signers[] = {{&dev_psa, pub_psa}, {&dev_ossl, pub_ossl}};
    const struct corio_crypto_ops *both[] = {psa, ossl};
    for (size_t s = 0; s < 2; s++) {
        struct corio_eat_claims c = base_claims();
        c.key_number = (uint32_t)(s + 2);
        c.has_iat = true;
        c.iat = 1764500000;
        c.has_counter = true;
        c.counter = 99;
        uint8_t tok[CORIO_EAT_MAX_SIZE];
        int n = corio_eat_make(signers[s].key, &c, tok, sizeof tok);
        assert_true(n > 0);
        for (size_t v = 0; v < 2; v++) {
            struct corio_eat_expect e = base_expect();
            struct corio_eat_claims got;
            const char *why = "unset";
            assert_int_equal(
                corio_eat_verify(both[v], tok, (size_t)n, signers[s].pub, 65, &e, &got, &why),
                CORIO_OK);
            assert_null(why);
            assert_true(corio_did_same(&got.issuer, &dev_did));
            assert_false(got.issuer.has_key);
            assert_int_equal(got.key_number, s + 2);
            assert_int_equal(got.aud_len, strlen(GW));
            assert_memory_equal(got.aud, GW, got.aud_len);
            assert_int_equal(got.nonce_len, sizeof nonce);
            assert_memory_equal(got.nonce, nonce, sizeof nonce);
            assert_true(got.has_counter);
            assert_int_equal(got.counter, 99);
            assert_true(got.has_iat);
            assert_int_equal(got.iat, 1764500000);
            assert_true(got.has_bootcount);
            assert_int_equal(got.bootcount, 17);
            assert_true(got.has_firmware);
            assert_memory_equal(got.fw_digest, fw_digest, 32);
            assert_int_equal(got.fw_version_len, 5);
            assert_memory_equal(got.fw_version, "1.4.2", 5);
            assert_int_equal(got.fw_name_len, 9);
            assert_memory_equal(got.fw_name, "sensor-fw", 9);
            assert_int_equal(got.assurance, CORIO_EAT_REPORTED);
            /* The same token in single-step mode: the counter decides. */
            e.nonce = NULL;
            e.nonce_len = 0;
            e.last_counter = 98;
            assert_int_equal(
                corio_eat_verify(both[v], tok, (size_t)n, signers[s].pub, 65, &e, &got, NULL),
                CORIO_OK);
            /* The verifier's other key: refused. */
            e = base_expect();
            const char *why2 = NULL;
            assert_int_equal(
                corio_eat_verify(both[v], tok, (size_t)n, signers[1 - s].pub, 65, &e, &got, &why2),
                CORIO_ERR_BADSIG);
            assert_string_equal(why2, "signature does not verify");
        }
    }
}

static void single_step_tokens(void **state)
{
    (void)state;
    struct corio_eat_claims c = base_claims();
    c.nonce = NULL;
    c.nonce_len = 0;
    c.has_counter = true;
    c.counter = 1000;
    c.has_firmware = false;
    c.fw_name = NULL;
    c.has_bootcount = false;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&dev_psa, &c, tok, sizeof tok);
    assert_true(n > 0);
    struct corio_eat_expect e = base_expect();
    struct corio_eat_claims got;
    const char *why;
    e.nonce = NULL;
    e.nonce_len = 0;
    e.last_counter = 999;
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub_psa, 65, &e, &got, &why), CORIO_OK);
    assert_null(got.nonce);
    assert_false(got.has_firmware);
    assert_false(got.has_bootcount);
    assert_false(got.has_iat);
    assert_null(got.fw_name);
    e.last_counter = 1000; /* the same counter again: a replay */
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    assert_string_equal(why, "counter is not above the last one seen");
    e.last_counter = 5000;
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    /* A challenge-mode verifier wants its nonce, which this token lacks. */
    e = base_expect();
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    assert_string_equal(why, "nonce is not the one issued");
    /* A challenge-mode token has no counter, so single-step refuses it. */
    c = base_claims();
    n = corio_eat_make(&dev_psa, &c, tok, sizeof tok);
    e.nonce = NULL;
    e.nonce_len = 0;
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    assert_string_equal(why, "single-step token without a counter");
}

static void expectations_refused(void **state)
{
    (void)state;
    struct corio_eat_claims c = base_claims();
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&dev_ossl, &c, tok, sizeof tok);
    assert_true(n > 0);
    struct corio_eat_claims got;
    const char *why;
    struct corio_eat_expect e = base_expect();
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why), CORIO_OK);

    e.aud = "ab2cd3ef4gh5ij6kl7mn2op4";
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    assert_string_equal(why, "token is for another audience");
    e.aud = "ab2cd3ef4gh5ij6kl7mn2op3x";
    e.aud_len = 25;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    e = base_expect();
    uint8_t other[32];
    memcpy(other, nonce, 32);
    other[31] ^= 1;
    e.nonce = other;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    assert_string_equal(why, "nonce is not the one issued");
    e.nonce = nonce;
    e.nonce_len = 16; /* a prefix of the right nonce is not the nonce */
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);

    /* Assurance: a reported token under an attested record is fine; the reverse not. */
    e = base_expect();
    e.registered_assurance = CORIO_EAT_ATTESTED;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why), CORIO_OK);
    c.assurance = CORIO_EAT_ATTESTED;
    n = corio_eat_make(&dev_ossl, &c, tok, sizeof tok);
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why), CORIO_OK);
    assert_int_equal(got.assurance, CORIO_EAT_ATTESTED);
    e.registered_assurance = CORIO_EAT_REPORTED;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    assert_string_equal(why, "assurance claimed above the device record");
    e.registered_assurance = 0;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why), CORIO_OK);

    /* Firmware claims required but absent. */
    c = base_claims();
    c.has_firmware = false;
    n = corio_eat_make(&dev_ossl, &c, tok, sizeof tok);
    e = base_expect();
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why), CORIO_OK);
    e.require_firmware = true;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, &why),
                     CORIO_ERR_POLICY);
    assert_string_equal(why, "firmware claims are missing");

    /* The high-S twin of a valid token. */
    c = base_claims();
    n = corio_eat_make(&dev_psa, &c, tok, sizeof tok);
    e = base_expect();
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub_psa, 65, &e, &got, &why), CORIO_OK);
    assert_int_equal(corio_p256_scalar_negate(tok + n - 32), CORIO_OK);
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_BADSIG);
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_BADSIG);

    /* Arguments. */
    assert_int_equal(corio_eat_verify(NULL, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_INVAL);
    e.aud = NULL;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_INVAL);
    e = base_expect();
    e.nonce_len = 7;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_INVAL);
}

static void token_layout(void **state)
{
    (void)state;
    /* PSA signs deterministically: the same claims give the same bytes. */
    struct corio_eat_claims c = base_claims();
    uint8_t a[CORIO_EAT_MAX_SIZE], b[CORIO_EAT_MAX_SIZE];
    int na = corio_eat_make(&dev_psa, &c, a, sizeof a);
    int nb = corio_eat_make(&dev_psa, &c, b, sizeof b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na);

    struct corio_cose_sign1 m;
    assert_int_equal(corio_cose_sign1_decode(a, (size_t)na, &m), CORIO_OK);
    assert_true(m.tagged);
    assert_true(m.kid_protected);
    char kid[CORIO_DID_BUF + 2];
    snprintf(kid, sizeof kid, "%s#0", dev_did_str);
    assert_int_equal(m.kid_len, strlen(kid));
    assert_memory_equal(m.kid, kid, m.kid_len);
    assert_int_equal(corio_cbor_deterministic(m.payload, m.payload_len), CORIO_OK);

    /* Walk the claims: keys in deterministic order, values as the profile says. */
    struct corio_cbor_dec d;
    uint64_t pairs;
    corio_cbor_dec_init(&d, m.payload, m.payload_len);
    assert_int_equal(corio_cbor_expect_map(&d, &pairs), CORIO_OK);
    static const int64_t keys[] = {1, 3, 10, 265, 267, 270, 271, 273, -65538};
    assert_int_equal(pairs, sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < pairs; i++) {
        int64_t k;
        assert_int_equal(corio_cbor_expect_int(&d, &k), CORIO_OK);
        assert_int_equal(k, keys[i]);
        if (k == CORIO_EAT_EAT_PROFILE) {
            const char *s;
            size_t n;
            assert_int_equal(corio_cbor_expect_text(&d, &s, &n), CORIO_OK);
            assert_int_equal(n, strlen(CORIO_EAT_PROFILE));
            assert_memory_equal(s, CORIO_EAT_PROFILE, n);
        } else if (k == CORIO_EAT_MEASUREMENTS) {
            uint64_t cnt, fmt;
            const uint8_t *p;
            size_t n;
            assert_int_equal(corio_cbor_expect_array(&d, &cnt), CORIO_OK);
            assert_int_equal(cnt, 1);
            assert_int_equal(corio_cbor_expect_array(&d, &cnt), CORIO_OK);
            assert_int_equal(cnt, 2);
            assert_int_equal(corio_cbor_expect_uint(&d, &fmt), CORIO_OK);
            assert_int_equal(fmt, 258);
            assert_int_equal(corio_cbor_expect_bytes(&d, &p, &n), CORIO_OK);
            assert_int_equal(corio_cbor_deterministic(p, n), CORIO_OK);
            /* The CoSWID's evidence file hash is [1, digest]: find it as bytes. */
            uint8_t want[36] = {0x82, 0x01, 0x58, 0x20};
            memcpy(want + 4, fw_digest, 32);
            bool found = false;
            for (size_t q = 0; q + sizeof want <= n; q++)
                found |= memcmp(p + q, want, sizeof want) == 0;
            assert_true(found);
        } else {
            assert_int_equal(corio_cbor_skip(&d), CORIO_OK);
        }
    }
    assert_int_equal(corio_cbor_dec_finish(&d), CORIO_OK);
}

static void largest_token_fits_the_bound(void **state)
{
    (void)state;
    char aud[65], ver[33], name[33];
    uint8_t big_nonce[64];
    memset(aud, 'a', 64);
    aud[64] = 0;
    memset(ver, '9', 32);
    memset(name, 'n', 32);
    memset(big_nonce, 0xee, sizeof big_nonce);
    struct corio_eat_claims c = base_claims();
    c.key_number = UINT32_MAX;
    c.aud = aud;
    c.aud_len = 64;
    c.nonce = big_nonce;
    c.nonce_len = 64;
    c.has_counter = true;
    c.counter = UINT64_MAX;
    c.has_iat = true;
    c.iat = UINT64_MAX;
    c.bootcount = UINT64_MAX;
    c.fw_version = ver;
    c.fw_version_len = 32;
    c.fw_name = name;
    c.fw_name_len = 32;
    c.assurance = CORIO_EAT_ATTESTED;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&dev_ossl, &c, tok, sizeof tok);
    assert_true(n > 0);
    print_message("largest token: %d bytes (limit %d)\n", n, CORIO_EAT_MAX_SIZE);
    assert_true(n <= 640); /* docs/eat-profile.md states this bound */
    struct corio_eat_expect e = base_expect();
    e.aud = aud;
    e.aud_len = 64;
    e.nonce = big_nonce;
    e.nonce_len = 64;
    struct corio_eat_claims got;
    assert_int_equal(corio_eat_verify(psa, tok, (size_t)n, pub_ossl, 65, &e, &got, NULL), CORIO_OK);
    assert_int_equal(got.key_number, UINT32_MAX);
    assert_int_equal(got.counter, UINT64_MAX);
    /* Every buffer too small is refused without writing past it. */
    for (size_t cap = 0; cap < (size_t)n; cap += 7) {
        uint8_t *buf = malloc(cap ? cap : 1);
        assert_non_null(buf);
        assert_int_equal(corio_eat_make(&dev_ossl, &c, buf, cap), CORIO_ERR_NOSPACE);
        free(buf);
    }
}

static void make_refuses_claims_outside_the_profile(void **state)
{
    (void)state;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    struct corio_eat_claims c;
    char long_aud[66];
    memset(long_aud, 'a', 65);
    long_aud[65] = 0;
#define REFUSED(mutation)                                                                          \
    do {                                                                                           \
        c = base_claims();                                                                         \
        mutation;                                                                                  \
        assert_int_equal(corio_eat_make(&dev_psa, &c, tok, sizeof tok), CORIO_ERR_INVAL);          \
    } while (0)
    REFUSED(c.aud = NULL);
    REFUSED(c.aud_len = 0);
    REFUSED((c.aud = long_aud, c.aud_len = 65));
    REFUSED((c.aud = "\xc3\x28", c.aud_len = 2));     /* not UTF-8 */
    REFUSED((c.aud = "\xed\xa0\x80", c.aud_len = 3)); /* a surrogate */
    REFUSED((c.aud = "\xc0\xaf", c.aud_len = 2));     /* an overlong form */
    REFUSED(c.nonce_len = 7);
    REFUSED(c.nonce_len = 65);
    REFUSED((c.nonce = NULL, c.has_counter = false));
    REFUSED(c.fw_version = NULL);
    REFUSED(c.fw_version_len = 0);
    REFUSED(c.fw_version_len = 33);
    REFUSED(c.fw_name_len = 0);
    REFUSED((c.fw_name = "\xff", c.fw_name_len = 1));
    REFUSED(c.assurance = 0);
    REFUSED(c.assurance = 3);
#undef REFUSED
    c = base_claims();
    assert_int_equal(corio_eat_make(NULL, &c, tok, sizeof tok), CORIO_ERR_INVAL);
    assert_int_equal(corio_eat_make(&dev_psa, NULL, tok, sizeof tok), CORIO_ERR_INVAL);
    assert_int_equal(corio_eat_make(&dev_psa, &c, NULL, sizeof tok), CORIO_ERR_INVAL);
    /* A multi-byte UTF-8 name is fine. */
    c.fw_name = "f\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80";
    c.fw_name_len = 10;
    assert_true(corio_eat_make(&dev_psa, &c, tok, sizeof tok) > 0);
}

/* ---- crafted tokens: each claim rule ---- */

struct claim {
    int64_t key;
    uint8_t val[1100];
    size_t len;
};

struct claimset {
    struct claim c[16];
    size_t n;
};

static struct claim *slot(struct claimset *s, int64_t key)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i].key == key)
            return &s->c[i];
    assert_true(s->n < 16);
    s->c[s->n].key = key;
    return &s->c[s->n++];
}

static void drop(struct claimset *s, int64_t key)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i].key == key) {
            s->c[i] = s->c[--s->n];
            return;
        }
}

static struct corio_cbor_enc *val(struct claimset *s, int64_t key, struct corio_cbor_enc *e)
{
    struct claim *c = slot(s, key);
    corio_cbor_enc_init(e, c->val, sizeof c->val);
    return e;
}

static void done(struct claimset *s, int64_t key, struct corio_cbor_enc *e)
{
    int n = corio_cbor_enc_finish(e);
    assert_true(n > 0);
    slot(s, key)->len = (size_t)n;
}

static void set_text(struct claimset *s, int64_t key, const char *t)
{
    struct corio_cbor_enc e;
    corio_cbor_put_textz(val(s, key, &e), t);
    done(s, key, &e);
}

static void set_uint(struct claimset *s, int64_t key, uint64_t v)
{
    struct corio_cbor_enc e;
    corio_cbor_put_uint(val(s, key, &e), v);
    done(s, key, &e);
}

static void set_hex(struct claimset *s, int64_t key, const char *hex)
{
    struct claim *c = slot(s, key);
    c->len = strlen(hex) / 2;
    for (size_t i = 0; i < c->len; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        c->val[i] = (uint8_t)v;
    }
}

/* CoSWID variations. */
struct coswid_opts {
    int64_t alg;
    size_t digest_len;
    bool no_evidence, no_file, file_array, no_fs_name, with_payload, no_tag_version;
    size_t tag_id_len;
    bool unsorted;
};

static size_t coswid(const struct coswid_opts *o, uint8_t *out, size_t cap)
{
    struct corio_cbor_enc e;
    uint8_t digest[64];
    memset(digest, 0x5a, sizeof digest);
    corio_cbor_enc_init(&e, out, cap);
    size_t pairs = 3 + !o->no_evidence + !o->no_tag_version + o->with_payload;
    corio_cbor_put_map(&e, pairs);
    if (o->unsorted) { /* tag-version first: not deterministic */
        corio_cbor_put_uint(&e, 12);
        corio_cbor_put_uint(&e, 0);
    }
    corio_cbor_put_uint(&e, 0);
    corio_cbor_put_bytes(&e, digest, o->tag_id_len ? o->tag_id_len : 16);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_textz(&e, "firmware");
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_map(&e, 2);
    corio_cbor_put_uint(&e, 31);
    corio_cbor_put_textz(&e, dev_did_str);
    corio_cbor_put_uint(&e, 33);
    corio_cbor_put_uint(&e, 1);
    if (!o->no_evidence) {
        corio_cbor_put_uint(&e, 3);
        corio_cbor_put_map(&e, 1);
        corio_cbor_put_uint(&e, o->no_file ? 35 : 17);
        if (o->no_file) {
            corio_cbor_put_uint(&e, 1764500000);
        } else {
            if (o->file_array)
                corio_cbor_put_array(&e, 2);
            for (int f = 0; f < (o->file_array ? 2 : 1); f++) {
                corio_cbor_put_map(&e, o->no_fs_name ? 1 : 2);
                corio_cbor_put_uint(&e, 7);
                corio_cbor_put_array(&e, 2);
                corio_cbor_put_int(&e, o->alg ? o->alg : 1);
                corio_cbor_put_bytes(&e, digest, o->digest_len ? o->digest_len : 32);
                if (!o->no_fs_name) {
                    corio_cbor_put_uint(&e, 24);
                    corio_cbor_put_textz(&e, "firmware");
                }
            }
        }
    }
    if (o->with_payload) {
        corio_cbor_put_uint(&e, 6);
        corio_cbor_put_map(&e, 0);
    }
    if (!o->no_tag_version && !o->unsorted) {
        corio_cbor_put_uint(&e, 12);
        corio_cbor_put_uint(&e, 0);
    }
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

static void set_measurements(struct claimset *s, const struct coswid_opts *o)
{
    uint8_t cw[512];
    size_t n = coswid(o, cw, sizeof cw);
    struct corio_cbor_enc e;
    val(s, CORIO_EAT_MEASUREMENTS, &e);
    corio_cbor_put_array(&e, 1);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_uint(&e, 258);
    corio_cbor_put_bytes(&e, cw, n);
    done(s, CORIO_EAT_MEASUREMENTS, &e);
}

static struct claimset good_set(void)
{
    struct claimset s;
    memset(&s, 0, sizeof s);
    struct corio_cbor_enc e;
    set_text(&s, CORIO_EAT_ISS, dev_did_str);
    set_text(&s, CORIO_EAT_AUD, GW);
    corio_cbor_put_bytes(val(&s, CORIO_EAT_NONCE, &e), nonce, sizeof nonce);
    done(&s, CORIO_EAT_NONCE, &e);
    set_text(&s, CORIO_EAT_EAT_PROFILE, CORIO_EAT_PROFILE);
    set_uint(&s, CORIO_EAT_ASSURANCE, 1);
    set_uint(&s, CORIO_EAT_BOOTCOUNT, 3);
    val(&s, CORIO_EAT_SWVERSION, &e);
    corio_cbor_put_array(&e, 1);
    corio_cbor_put_textz(&e, "1.2.0");
    done(&s, CORIO_EAT_SWVERSION, &e);
    struct coswid_opts o = {0};
    set_measurements(&s, &o);
    return s;
}

/* Orders claims by the bytes of their encoded keys (RFC 8949 §4.2.1); done here rather
 * than with corio_cbor_sort_map() so that values too deep for the codec can be sent. */
static int key_order(const void *a, const void *b)
{
    uint8_t ka[9], kb[9];
    struct corio_cbor_enc ea, eb;
    corio_cbor_enc_init(&ea, ka, sizeof ka);
    corio_cbor_enc_init(&eb, kb, sizeof kb);
    corio_cbor_put_int(&ea, ((const struct claim *)a)->key);
    corio_cbor_put_int(&eb, ((const struct claim *)b)->key);
    size_t na = corio_cbor_enc_len(&ea), nb = corio_cbor_enc_len(&eb);
    int c = memcmp(ka, kb, na < nb ? na : nb);
    return c ? c : (int)na - (int)nb;
}

/* Signs the claim set (sorted unless told) with the device's PSA key, kid as given. */
static size_t sign_set(const struct claimset *set, const char *kid, bool sorted, unsigned flags,
                       uint8_t *tok, size_t cap)
{
    static uint8_t payload[4096];
    static struct claimset s;
    s = *set;
    if (sorted)
        qsort(s.c, s.n, sizeof s.c[0], key_order);
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, payload, sizeof payload);
    corio_cbor_put_map(&e, s.n);
    for (size_t i = 0; i < s.n; i++) {
        corio_cbor_put_int(&e, s.c[i].key);
        corio_cbor_put_raw(&e, s.c[i].val, s.c[i].len);
    }
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    int t = corio_cose_sign1_sign(&dev_psa, (const uint8_t *)kid, kid ? strlen(kid) : 0, NULL, 0,
                                  payload, (size_t)n, flags, tok, cap);
    assert_true(t > 0);
    return (size_t)t;
}

static char default_kid[CORIO_DID_BUF + 4];

static int check_set(const struct claimset *s, const char **why)
{
    static uint8_t tok[8192];
    size_t n = sign_set(s, default_kid, true, 0, tok, sizeof tok);
    struct corio_eat_expect e = base_expect();
    struct corio_eat_claims got;
    return corio_eat_verify(ossl, tok, n, pub_psa, 65, &e, &got, why);
}

#define EXPECT_SET(set, code, reason)                                                              \
    do {                                                                                           \
        const char *why_ = NULL;                                                                   \
        int rc_ = check_set(&(set), &why_);                                                        \
        if (rc_ != (code))                                                                         \
            fail_msg("line %d: got %d (%s), want %d", __LINE__, rc_, why_ ? why_ : "-", (code));   \
        const char *want_ = (reason);                                                              \
        if (want_ && (!why_ || strcmp(why_, want_) != 0))                                          \
            fail_msg("line %d: reason \"%s\", want \"%s\"", __LINE__, why_ ? why_ : "-", want_);   \
    } while (0)

static void crafted_claims_each_rule(void **state)
{
    (void)state;
    snprintf(default_kid, sizeof default_kid, "%s#0", dev_did_str);
    struct claimset s = good_set();
    EXPECT_SET(s, CORIO_OK, NULL);

    /* Required claims. */
    s = good_set();
    drop(&s, CORIO_EAT_ISS);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "iss is missing");
    s = good_set();
    drop(&s, CORIO_EAT_AUD);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "aud is missing");
    s = good_set();
    drop(&s, CORIO_EAT_EAT_PROFILE);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "eat_profile is missing");
    s = good_set();
    drop(&s, CORIO_EAT_ASSURANCE);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "assurance is missing");
    s = good_set();
    drop(&s, CORIO_EAT_NONCE);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "neither eat_nonce nor counter");
    s = good_set();
    drop(&s, CORIO_EAT_MEASUREMENTS);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swversion and measurements come together");
    s = good_set();
    drop(&s, CORIO_EAT_SWVERSION);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swversion and measurements come together");
    s = good_set();
    drop(&s, CORIO_EAT_SWVERSION);
    drop(&s, CORIO_EAT_MEASUREMENTS);
    drop(&s, CORIO_EAT_BOOTCOUNT);
    EXPECT_SET(s, CORIO_OK, NULL);

    /* iss. */
    s = good_set();
    set_text(&s, CORIO_EAT_ISS, "did:corio:uruaok7yhitqgcc26jlq3bd4#0");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "iss is not a did:corio");
    s = good_set();
    set_text(&s, CORIO_EAT_ISS, "device-17");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "iss is not a did:corio");
    s = good_set();
    set_uint(&s, CORIO_EAT_ISS, 1);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "iss is not a did:corio");
    s = good_set();
    set_text(&s, CORIO_EAT_ISS, "did:corio:uruaok7yhitqgcc26jlq3bd4");
    EXPECT_SET(s, CORIO_ERR_POLICY, "kid is not a key of the issuer");

    /* aud. */
    s = good_set();
    set_text(&s, CORIO_EAT_AUD, "");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "aud is not 1 to 64 bytes of text");
    s = good_set();
    set_text(&s, CORIO_EAT_AUD,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "aud is not 1 to 64 bytes of text");
    s = good_set();
    set_hex(&s, CORIO_EAT_AUD, "81626162"); /* ["ab"]: an array of audiences */
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "aud is not 1 to 64 bytes of text");
    s = good_set();
    set_hex(&s, CORIO_EAT_AUD, "62c328"); /* invalid UTF-8 */
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "aud is not 1 to 64 bytes of text");

    /* eat_nonce. */
    s = good_set();
    set_hex(&s, CORIO_EAT_NONCE, "4700000000000000");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "eat_nonce is not 8 to 64 bytes");
    s = good_set();
    set_hex(&s, CORIO_EAT_NONCE, "8148a0a1a2a3a4a5a6a7"); /* array form */
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "eat_nonce is not 8 to 64 bytes");
    {
        char hex[2 * 67 + 1] = "5841";
        for (int i = 0; i < 65; i++)
            strcat(hex, "00");
        s = good_set();
        set_hex(&s, CORIO_EAT_NONCE, hex);
        EXPECT_SET(s, CORIO_ERR_MALFORMED, "eat_nonce is not 8 to 64 bytes");
    }

    /* eat_profile. */
    s = good_set();
    set_text(&s, CORIO_EAT_EAT_PROFILE, "tag:corio.dev,2025:eat/2");
    EXPECT_SET(s, CORIO_ERR_UNSUPPORTED, "another EAT profile");
    s = good_set();
    set_hex(&s, CORIO_EAT_EAT_PROFILE, "4401020304"); /* an OID */
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "eat_profile is not text");

    /* Integers. */
    s = good_set();
    set_hex(&s, CORIO_EAT_IAT, "20");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "iat is not an unsigned integer");
    s = good_set();
    set_hex(&s, CORIO_EAT_IAT, "fb41da4ad0a8000000"); /* a float date */
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "iat is not an unsigned integer");
    s = good_set();
    set_hex(&s, CORIO_EAT_IAT, "c11a6929a0a0"); /* tag 1 */
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "iat is not an unsigned integer");
    s = good_set();
    set_hex(&s, CORIO_EAT_BOOTCOUNT, "20");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "bootcount is not an unsigned integer");
    s = good_set();
    set_hex(&s, CORIO_EAT_COUNTER, "20");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "counter is not an unsigned integer");
    s = good_set();
    set_uint(&s, CORIO_EAT_ASSURANCE, 0);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "assurance is not 1 or 2");
    s = good_set();
    set_uint(&s, CORIO_EAT_ASSURANCE, 3);
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "assurance is not 1 or 2");
    s = good_set();
    set_text(&s, CORIO_EAT_ASSURANCE, "reported");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "assurance is not 1 or 2");

    /* swname, swversion. */
    s = good_set();
    set_text(&s, CORIO_EAT_SWNAME, "");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swname is not 1 to 32 bytes of text");
    s = good_set();
    set_text(&s, CORIO_EAT_SWNAME, "123456789012345678901234567890123");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swname is not 1 to 32 bytes of text");
    s = good_set();
    set_text(&s, CORIO_EAT_SWVERSION, "1.2.0");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swversion is not [version, ?scheme]");
    s = good_set();
    set_hex(&s, CORIO_EAT_SWVERSION, "8265312e322e30194000"); /* semver */
    EXPECT_SET(s, CORIO_OK, NULL);
    s = good_set();
    set_hex(&s, CORIO_EAT_SWVERSION, "8265312e322e306173");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swversion is not [version, ?scheme]");
    s = good_set();
    set_hex(&s, CORIO_EAT_SWVERSION, "80");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swversion is not [version, ?scheme]");
    s = good_set();
    set_hex(&s, CORIO_EAT_SWVERSION, "83606000");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "swversion is not [version, ?scheme]");

    /* measurements and the CoSWID inside. */
    s = good_set();
    set_hex(&s, CORIO_EAT_MEASUREMENTS, "81820040");
    EXPECT_SET(s, CORIO_ERR_UNSUPPORTED, "measurement is not a CoSWID");
    s = good_set();
    set_hex(&s, CORIO_EAT_MEASUREMENTS, "80");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "measurements is not one [format, bytes]");
    s = good_set();
    set_hex(&s, CORIO_EAT_MEASUREMENTS,
            "8182190102"
            "6161");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "measurement is not a byte string");
    s = good_set();
    set_hex(&s, CORIO_EAT_MEASUREMENTS, "8282190102408219010240");
    EXPECT_SET(s, CORIO_ERR_MALFORMED, "measurements is not one [format, bytes]");
    struct {
        struct coswid_opts o;
        int code;
        const char *why;
    } cw[] = {
        {{.alg = 7}, CORIO_ERR_UNSUPPORTED, "firmware hash is not SHA-256"},
        {{.alg = -16}, CORIO_ERR_UNSUPPORTED, "firmware hash is not SHA-256"},
        {{.digest_len = 31}, CORIO_ERR_MALFORMED, "firmware digest is not 32 bytes"},
        {{.digest_len = 48}, CORIO_ERR_MALFORMED, "firmware digest is not 32 bytes"},
        {{.no_evidence = true}, CORIO_ERR_MALFORMED, "CoSWID lacks a required item"},
        {{.no_tag_version = true}, CORIO_ERR_MALFORMED, "CoSWID lacks a required item"},
        {{.no_file = true}, CORIO_ERR_MALFORMED, "CoSWID evidence has no file"},
        {{.file_array = true},
         CORIO_ERR_MALFORMED,
         "CoSWID evidence does not hold exactly one file"},
        {{.no_fs_name = true}, CORIO_ERR_MALFORMED, "CoSWID file entry lacks fs-name or hash"},
        {{.with_payload = true}, CORIO_ERR_MALFORMED, "CoSWID holds a payload, not evidence"},
        {{.tag_id_len = 15}, CORIO_ERR_MALFORMED, "CoSWID tag-id is malformed"},
        {{.unsorted = true}, CORIO_ERR_MALFORMED, "CoSWID is not deterministic CBOR"},
    };
    for (size_t i = 0; i < sizeof cw / sizeof cw[0]; i++) {
        s = good_set();
        set_measurements(&s, &cw[i].o);
        const char *why = NULL;
        int rc = check_set(&s, &why);
        if (rc != cw[i].code || !why || strcmp(why, cw[i].why) != 0)
            fail_msg("coswid case %zu: got %d (%s)", i, rc, why ? why : "-");
    }

    /* Unknown claims are ignored; so are text-named ones. */
    s = good_set();
    set_hex(&s, 99, "a10102");
    EXPECT_SET(s, CORIO_OK, NULL);
    s = good_set();
    set_hex(&s, -70000, "f5");
    EXPECT_SET(s, CORIO_OK, NULL);
    /* A claim value nested too deep for the decoder. */
    {
        char hex[80] = "";
        for (int i = 0; i < CORIO_CBOR_MAX_DEPTH; i++)
            strcat(hex, "81");
        strcat(hex, "00");
        s = good_set();
        set_hex(&s, 99, hex);
        EXPECT_SET(s, CORIO_ERR_UNSUPPORTED, "claims nest too deep");
    }
    /* A token larger than the profile allows. */
    {
        s = good_set();
        struct corio_cbor_enc e;
        static uint8_t filler[1000];
        corio_cbor_put_bytes(val(&s, 99, &e), filler, sizeof filler);
        done(&s, 99, &e);
        EXPECT_SET(s, CORIO_ERR_POLICY, "token larger than the profile allows");
    }
}

static void crafted_tokens_structure(void **state)
{
    (void)state;
    snprintf(default_kid, sizeof default_kid, "%s#0", dev_did_str);
    static uint8_t tok[8192];
    struct corio_eat_expect e = base_expect();
    struct corio_eat_claims got;
    const char *why;
    struct claimset s = good_set();

    /* Claims not in deterministic order. */
    size_t n = sign_set(&s, default_kid, false, 0, tok, sizeof tok);
    assert_int_equal(corio_eat_verify(ossl, tok, n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(why, "claims are not deterministic CBOR");

    /* kid: absent, not a DID, a DID without a key number, another identity. */
    const char *kids[] = {NULL, "device-key", "did:corio:uruaok7yhitqgcc26jlq3bd4", "#0"};
    for (size_t i = 0; i < 4; i++) {
        n = sign_set(&s, kids[i], true, 0, tok, sizeof tok);
        assert_int_equal(corio_eat_verify(ossl, tok, n, pub_psa, 65, &e, &got, &why),
                         CORIO_ERR_MALFORMED);
        assert_string_equal(why, "kid is not a did:corio key reference");
    }
    n = sign_set(&s, "did:corio:uruaok7yhitqgcc26jlq3bd4#0", true, 0, tok, sizeof tok);
    assert_int_equal(corio_eat_verify(ossl, tok, n, pub_psa, 65, &e, &got, &why), CORIO_ERR_POLICY);
    assert_string_equal(why, "kid is not a key of the issuer");

    /* Detached claims; an untagged token is accepted. */
    n = sign_set(&s, default_kid, true, CORIO_COSE_DETACHED, tok, sizeof tok);
    assert_int_equal(corio_eat_verify(ossl, tok, n, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(why, "claims are detached");
    n = sign_set(&s, default_kid, true, CORIO_COSE_UNTAGGED, tok, sizeof tok);
    assert_int_equal(corio_eat_verify(ossl, tok, n, pub_psa, 65, &e, &got, &why), CORIO_OK);

    /* Claims that are not a map, or have a key of another type. */
    uint8_t payload[16] = {0x80};
    int t = corio_cose_sign1_sign(&dev_psa, (const uint8_t *)default_kid, strlen(default_kid), NULL,
                                  0, payload, 1, 0, tok, sizeof tok);
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)t, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(why, "claims are not a map");
    const uint8_t float_key[] = {0xa1, 0xf9, 0x3c, 0x00, 0x00};
    t = corio_cose_sign1_sign(&dev_psa, (const uint8_t *)default_kid, strlen(default_kid), NULL, 0,
                              float_key, sizeof float_key, 0, tok, sizeof tok);
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)t, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(why, "claim key is not an integer or text");

    /* Not a COSE_Sign1 at all; a COSE_Sign1 with trailing bytes. */
    assert_int_equal(
        corio_eat_verify(ossl, (const uint8_t *)"\xa0", 1, pub_psa, 65, &e, &got, &why),
        CORIO_ERR_MALFORMED);
    assert_string_equal(why, "not a COSE_Sign1 with ES256");
    n = sign_set(&s, default_kid, true, 0, tok, sizeof tok);
    tok[n] = 0;
    assert_int_equal(corio_eat_verify(ossl, tok, n + 1, pub_psa, 65, &e, &got, &why),
                     CORIO_ERR_MALFORMED);

    /* The unverified decoder reads a good token and refuses the rest alike. */
    assert_int_equal(corio_eat_decode(tok, n, &got), CORIO_OK);
    assert_true(corio_did_same(&got.issuer, &dev_did));
    assert_int_equal(corio_eat_decode(tok, n + 1, &got), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_eat_decode(NULL, 4, &got), CORIO_ERR_INVAL);
    assert_int_equal(corio_eat_decode(tok, n, NULL), CORIO_ERR_INVAL);
}

/* ---- the worked example of docs/eat-profile.md ---- */

static const char *EXAMPLE_FULL =
    "d284582aa201260458246469643a636f72696f3a757275616f6b37796869747167636332366a6c7133626434"
    "2330a059012daa0178226469643a636f72696f3a757275616f6b37796869747167636332366a6c7133626434"
    "037818616232636433656634676835696a366b6c376d6e326f7033061a692c22200a5820a0a1a2a3a4a5a6a7"
    "a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf19010978187461673a636f72696f2e6465762c32"
    "3032353a6561742f3119010b0719010e6764656d6f2d667719010f8165312e302e301901118182190102587d"
    "a500506fddac05bd6ff6a45c88d925a373292b016764656d6f2d667702a2181f78226469643a636f72696f3a"
    "757275616f6b37796869747167636332366a6c713362643418210103a111a207820158201df2f3853d10a305"
    "aa52d36fd4a03f5721d7ce7daef6f7e5e8d51074d31361f11818686669726d776172650c003a000100010158"
    "4001a1abf6cf512348b9ccdd49f8fdaf7120136a7b89c77cfad2b7aed0b370e4af5507bafa6f9b40001f88c1"
    "bb69a1d8e8538fcfcb1d4834e72d44ba9dd15a4168";
static const char *EXAMPLE_SINGLE_STEP =
    "d284582aa201260458246469643a636f72696f3a757275616f6b37796869747167636332366a6c7133626434"
    "2330a0586ba50178226469643a636f72696f3a757275616f6b37796869747167636332366a6c713362643403"
    "7818616232636433656634676835696a366b6c376d6e326f703319010978187461673a636f72696f2e646576"
    "2c323032353a6561742f313a00010000182a3a0001000101584097a889a6ccafc5fffd3e183f47212f6507ec"
    "ee35bea98987291ff7594a4f606913bcf29c76fd82f4c63d99b8c32b0bc9ac0a89e81a7789eec643ca1acbb2"
    "5aa6";

static void hexcmp(const uint8_t *got, size_t n, const char *want)
{
    char *h = malloc(2 * n + 1);
    assert_non_null(h);
    for (size_t i = 0; i < n; i++)
        snprintf(h + 2 * i, 3, "%02x", got[i]);
    assert_string_equal(h, want);
    free(h);
}

static void profile_examples_are_reproduced(void **state)
{
    (void)state;
    /* RFC 6979 A.2.5's key, signing deterministically through PSA. */
    static const char *priv_hex =
        "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
    uint8_t priv[32], pub[65];
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal(sscanf(priv_hex + 2 * i, "%2x", &v), 1);
        priv[i] = (uint8_t)v;
    }
    assert_true(psa->caps & CORIO_CRYPTO_CAP_DETERMINISTIC);
    struct corio_key k;
    assert_int_equal(corio_key_import(psa, 0, 0, priv, &k), CORIO_OK);
    assert_int_equal(corio_key_public(&k, pub), CORIO_OK);
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    assert_int_equal(corio_did_from_key(psa, pub, 65, &c.issuer), CORIO_OK);
    c.aud = GW;
    c.aud_len = strlen(GW);
    c.nonce = nonce;
    c.nonce_len = sizeof nonce;
    c.has_iat = true;
    c.iat = 1764500000;
    c.has_bootcount = true;
    c.bootcount = 7;
    c.has_firmware = true;
    assert_int_equal(corio_sha256(psa, (const uint8_t *)"firmware image", 14, c.fw_digest),
                     CORIO_OK);
    c.fw_version = "1.0.0";
    c.fw_version_len = 5;
    c.fw_name = "demo-fw";
    c.fw_name_len = 7;
    c.assurance = CORIO_EAT_REPORTED;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&k, &c, tok, sizeof tok);
    assert_int_equal(n, 417);
    hexcmp(tok, (size_t)n, EXAMPLE_FULL);
    struct corio_eat_expect e = base_expect();
    e.require_firmware = true;
    struct corio_eat_claims got;
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub, 65, &e, &got, NULL), CORIO_OK);

    c.nonce = NULL;
    c.nonce_len = 0;
    c.has_counter = true;
    c.counter = 42;
    c.has_iat = false;
    c.has_bootcount = false;
    c.has_firmware = false;
    c.fw_name = NULL;
    n = corio_eat_make(&k, &c, tok, sizeof tok);
    assert_int_equal(n, 222);
    hexcmp(tok, (size_t)n, EXAMPLE_SINGLE_STEP);
    e = base_expect();
    e.nonce = NULL;
    e.nonce_len = 0;
    e.last_counter = 41;
    assert_int_equal(corio_eat_verify(ossl, tok, (size_t)n, pub, 65, &e, &got, NULL), CORIO_OK);
    corio_key_close(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(made_tokens_verify_across_backends),
        cmocka_unit_test(single_step_tokens),
        cmocka_unit_test(expectations_refused),
        cmocka_unit_test(token_layout),
        cmocka_unit_test(largest_token_fits_the_bound),
        cmocka_unit_test(make_refuses_claims_outside_the_profile),
        cmocka_unit_test(crafted_claims_each_rule),
        cmocka_unit_test(crafted_tokens_structure),
        cmocka_unit_test(profile_examples_are_reproduced),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
