/* test_eat_challenge.c - corio_eat_make() built as a device that only answers a
 * verifier's nonce builds it (CORIO_EAT_MAKE_OPTIONAL 0, as examples/footprint does).
 * The maker's source is compiled into this test under another name with the option off,
 * next to the library's: a challenge-mode token comes out byte for byte as the full
 * build makes it and verifies; iat, swname and the single-step counter are refused
 * with CORIO_ERR_UNSUPPORTED. */
#define CORIO_EAT_MAKE_OPTIONAL 0
#define corio_eat_make          eat_make_challenge
#include "../../sdk/src/eat_make.c"
#undef corio_eat_make

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "corio/crypto_psa.h"
#include "corio/did.h"

/* The library's maker, built with every claim (eat.h declared it under the name above). */
int corio_eat_make(const struct corio_key *key, const struct corio_eat_claims *c, uint8_t *out,
                   size_t cap);

static const uint8_t scalar[CORIO_P256_SCALAR_LEN] = {
    0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16, 0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
    0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12, 0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};
static const char GW[] = "ab2cd3ef4gh5ij6kl7mn2op3";

static struct corio_key key;
static uint8_t pub[CORIO_P256_PUB_LEN];
static struct corio_did did;
static uint8_t nonce[16];

/* What the footprint example's device puts in its answer to corio-eat-v1. */
static struct corio_eat_claims claims(void)
{
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    c.issuer = did;
    c.key_number = 3;
    c.aud = GW;
    c.aud_len = sizeof GW - 1;
    c.nonce = nonce;
    c.nonce_len = sizeof nonce;
    c.has_bootcount = true;
    c.bootcount = 4242;
    c.has_firmware = true;
    memset(c.fw_digest, 0x5a, sizeof c.fw_digest);
    c.fw_version = "1.0.0";
    c.fw_version_len = 5;
    c.assurance = CORIO_EAT_REPORTED;
    return c;
}

static void challenge_token_as_full_build(void **state)
{
    (void)state;
    struct corio_eat_claims c = claims();
    uint8_t a[CORIO_EAT_MAX_SIZE], b[CORIO_EAT_MAX_SIZE];
    int na = eat_make_challenge(&key, &c, a, sizeof a);
    int nb = corio_eat_make(&key, &c, b, sizeof b);
    assert_true(na > 0);
    /* PSA signs deterministically (RFC 6979): equal inputs, equal tokens. */
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na);

    struct corio_eat_expect e;
    struct corio_eat_claims got;
    const char *why = "unset";
    memset(&e, 0, sizeof e);
    e.aud = GW;
    e.aud_len = sizeof GW - 1;
    e.nonce = nonce;
    e.nonce_len = sizeof nonce;
    e.require_firmware = true;
    assert_int_equal(
        corio_eat_verify(&corio_crypto_psa_ops, a, (size_t)na, pub, sizeof pub, &e, &got, &why),
        CORIO_OK);
    assert_null(why);
    assert_true(corio_did_same(&got.issuer, &did));
    assert_int_equal(got.key_number, 3);
    assert_int_equal(got.bootcount, 4242);
    assert_false(got.has_iat);
    assert_false(got.has_counter);
    assert_null(got.fw_name);

    /* Without firmware, and with the first and last nonce sizes. */
    c.has_firmware = false;
    c.nonce_len = CORIO_EAT_NONCE_MIN;
    na = eat_make_challenge(&key, &c, a, sizeof a);
    nb = corio_eat_make(&key, &c, b, sizeof b);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na);
}

static void optional_claims_refused(void **state)
{
    (void)state;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    struct corio_eat_claims c = claims();
    c.has_iat = true;
    c.iat = 1764500000;
    assert_int_equal(eat_make_challenge(&key, &c, tok, sizeof tok), CORIO_ERR_UNSUPPORTED);
    c = claims();
    c.fw_name = "sensor-fw";
    c.fw_name_len = 9;
    assert_int_equal(eat_make_challenge(&key, &c, tok, sizeof tok), CORIO_ERR_UNSUPPORTED);
    c = claims();
    c.has_counter = true;
    c.counter = 7;
    assert_int_equal(eat_make_challenge(&key, &c, tok, sizeof tok), CORIO_ERR_UNSUPPORTED);
    /* No nonce and no counter: nothing would make it fresh, as in the full build. */
    c = claims();
    c.nonce = NULL;
    c.nonce_len = 0;
    assert_int_equal(eat_make_challenge(&key, &c, tok, sizeof tok), CORIO_ERR_INVAL);
    /* The other checks of the maker's inputs stay. */
    c = claims();
    c.aud_len = 0;
    assert_int_equal(eat_make_challenge(&key, &c, tok, sizeof tok), CORIO_ERR_INVAL);
    c = claims();
    c.assurance = 3;
    assert_int_equal(eat_make_challenge(&key, &c, tok, sizeof tok), CORIO_ERR_INVAL);
    c = claims();
    assert_int_equal(eat_make_challenge(&key, &c, tok, 40), CORIO_ERR_NOSPACE);
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(0x30 + i);
    if (corio_crypto_psa_init() != CORIO_OK ||
        corio_key_import(&corio_crypto_psa_ops, 0, 0, scalar, &key) != CORIO_OK ||
        corio_key_public(&key, pub) != CORIO_OK ||
        corio_did_from_key(&corio_crypto_psa_ops, pub, sizeof pub, &did) != CORIO_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corio_key_close(&key);
    corio_crypto_psa_deinit();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(challenge_token_as_full_build),
        cmocka_unit_test(optional_claims_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
