/*
 * test_encoding.c - base32 and base58btc (include/corio/encoding.h): published test
 * vectors, round trips, strict refusal of everything the encoders never produce, and
 * the did:key spelling of P-256 keys from the did:key test vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/encoding.h"
#include "corio/error.h"
#include "corio/p256.h"

/* Hex to bytes for vectors; returns the length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* A small deterministic generator, so failures reproduce. */
static uint32_t rng_state = 0x12345678u;
static uint8_t rnd8(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (uint8_t)rng_state;
}

/* ---- base32 ---- */

static const struct {
    const char *plain, *encoded;
} rfc4648[] = {
    /* RFC 4648 section 10, lowercased and without padding. */
    {"", ""},
    {"f", "my"},
    {"fo", "mzxq"},
    {"foo", "mzxw6"},
    {"foob", "mzxw6yq"},
    {"fooba", "mzxw6ytb"},
    {"foobar", "mzxw6ytboi"},
};

static void base32_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        const char *plain = rfc4648[i].plain, *enc = rfc4648[i].encoded;
        char out[32];
        int n = corio_base32_encode((const uint8_t *)plain, strlen(plain), out, sizeof out);
        assert_int_equal(n, (int)strlen(enc));
        assert_string_equal(out, enc);
        assert_int_equal(CORIO_BASE32_ENCODED_LEN(strlen(plain)), strlen(enc));

        uint8_t back[16];
        n = corio_base32_decode(enc, strlen(enc), back, sizeof back);
        assert_int_equal(n, (int)strlen(plain));
        assert_memory_equal(back, plain, strlen(plain));
    }
}

static void base32_did_corio_id_is_24_chars(void **state)
{
    (void)state;
    uint8_t id[15];
    for (size_t i = 0; i < sizeof id; i++)
        id[i] = (uint8_t)(0xf0 + i);
    char out[25];
    assert_int_equal(corio_base32_encode(id, sizeof id, out, sizeof out), 24);
    assert_int_equal(strlen(out), 24);
    /* One byte short for the NUL. */
    assert_int_equal(corio_base32_encode(id, sizeof id, out, 24), CORIO_ERR_NOSPACE);
}

static void base32_refuses_bad_input(void **state)
{
    (void)state;
    uint8_t out[64];
    static const char *bad[] = {
        "MY",         /* upper case */
        "mY",         /* mixed case */
        "my======",   /* padding */
        "my=",        /* padding */
        "m0",         /* '0' is not in the alphabet */
        "m1",         /* nor '1' */
        "m8",         /* nor '8' */
        "m9",         /* nor '9' */
        "m ",         /* nor space */
        "my\n",       /* nor newline (and the length is impossible) */
        "m",          /* length 1 mod 8 */
        "mzx",        /* length 3 mod 8 */
        "mzxw6y",     /* length 6 mod 8 */
        "mz",         /* "f" with a non-zero trailing bit */
        "mzxr",       /* "fo" with non-zero trailing bits */
        "mzxw7",      /* "foo" with a non-zero trailing bit */
        "mzxw6yr",    /* "foob" with non-zero trailing bits */
        "mzxw6ytboj", /* "foobar" with a non-zero trailing bit */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = corio_base32_decode(bad[i], strlen(bad[i]), out, sizeof out);
        if (rc != CORIO_ERR_MALFORMED)
            fail_msg("\"%s\" gave %d", bad[i], rc);
    }
    /* An embedded NUL is a bad character, not an end. */
    assert_int_equal(corio_base32_decode("my\0\0", 4, out, sizeof out), CORIO_ERR_MALFORMED);
    /* High-bit bytes. */
    assert_int_equal(corio_base32_decode("m\xff", 2, out, sizeof out), CORIO_ERR_MALFORMED);
}

static void base32_limits(void **state)
{
    (void)state;
    uint8_t out[8];
    char text[8];
    assert_int_equal(corio_base32_decode("mzxw6ytboi", 10, out, 5), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_base32_decode("mzxw6ytboi", 10, out, 6), 6);
    assert_int_equal(corio_base32_decode(NULL, 0, out, 0), 0);
    assert_int_equal(corio_base32_decode(NULL, 1, out, 8), CORIO_ERR_INVAL);
    assert_int_equal(corio_base32_decode("my", 2, NULL, 8), CORIO_ERR_INVAL);
    assert_int_equal(corio_base32_encode(NULL, 0, text, 1), 0);
    assert_string_equal(text, "");
    assert_int_equal(corio_base32_encode(NULL, 0, text, 0), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_base32_encode(NULL, 3, text, 8), CORIO_ERR_INVAL);
    assert_int_equal(corio_base32_encode(out, CORIO_ENCODING_MAX_INPUT + 1, text, sizeof text),
                     CORIO_ERR_INVAL);
}

static void base32_round_trips(void **state)
{
    (void)state;
    for (int round = 0; round < 500; round++) {
        uint8_t in[80], back[80];
        char text[160];
        size_t len = rnd8() % sizeof in;
        for (size_t i = 0; i < len; i++)
            in[i] = rnd8();
        int n = corio_base32_encode(in, len, text, sizeof text);
        assert_int_equal(n, (int)CORIO_BASE32_ENCODED_LEN(len));
        assert_int_equal(corio_base32_decode(text, (size_t)n, back, sizeof back), (int)len);
        assert_memory_equal(in, back, len);
    }
}

/* ---- base58 ---- */

static const struct {
    const char *hex, *encoded;
} base58_vectors[] = {
    /* Bitcoin Core's base58_encode_decode.json. */
    {"", ""},
    {"61", "2g"},
    {"626262", "a3gV"},
    {"636363", "aPEr"},
    {"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
    {"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
    {"516b6fcd0f", "ABnLTmg"},
    {"bf4f89001e670274dd", "3SEo3LWLoPntC"},
    {"572e4794", "3EFU7m"},
    {"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
    {"10c8511e", "Rt5zm"},
    {"00000000000000000000", "1111111111"},
    /* draft-msporny-base58 examples. */
    {"48656c6c6f20576f726c6421", "2NEpo7TZRRrLZSi2U"},
    {"0000287fb4cd", "11233QC4"},
    {"00", "1"},
};

static void base58_known_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof base58_vectors / sizeof base58_vectors[0]; i++) {
        uint8_t bin[64], back[64];
        size_t len = unhex(base58_vectors[i].hex, bin, sizeof bin);
        const char *enc = base58_vectors[i].encoded;
        char out[96];
        int n = corio_base58_encode(bin, len, out, sizeof out);
        assert_int_equal(n, (int)strlen(enc));
        assert_string_equal(out, enc);
        n = corio_base58_decode(enc, strlen(enc), back, sizeof back);
        assert_int_equal(n, (int)len);
        assert_memory_equal(back, bin, len);
    }
}

static void base58_refuses_bad_input(void **state)
{
    (void)state;
    uint8_t out[64];
    static const char *bad[] = {"0", "O", "I", "l", "2g ", " 2g", "2g\n", "+", "z-z", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = corio_base58_decode(bad[i], strlen(bad[i]), out, sizeof out);
        if (rc != CORIO_ERR_MALFORMED)
            fail_msg("\"%s\" gave %d", bad[i], rc);
    }
    assert_int_equal(corio_base58_decode("2g\0", 3, out, sizeof out), CORIO_ERR_MALFORMED);
}

static void base58_limits(void **state)
{
    (void)state;
    uint8_t out[32];
    char text[32];
    /* "a3gV" is 3 bytes: two do not hold it, whatever the bound says. */
    assert_int_equal(corio_base58_decode("a3gV", 4, out, 2), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_base58_decode("a3gV", 4, out, 3), 3);
    assert_int_equal(corio_base58_decode("111", 3, out, 2), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_base58_decode("111", 3, out, 3), 3);
    assert_int_equal(corio_base58_decode(NULL, 0, out, 0), 0);
    assert_int_equal(corio_base58_decode(NULL, 2, out, 8), CORIO_ERR_INVAL);
    static const uint8_t bbb[3] = {0x62, 0x62, 0x62};
    assert_int_equal(corio_base58_encode(bbb, 3, text, 4), CORIO_ERR_NOSPACE); /* no room for NUL */
    assert_int_equal(corio_base58_encode(bbb, 3, text, 5), 4);
    static const uint8_t zeros[3] = {0, 0, 0};
    assert_int_equal(corio_base58_encode(zeros, 3, text, 3), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_base58_encode(zeros, 3, text, 4), 3);
    assert_string_equal(text, "111");
    assert_int_equal(corio_base58_encode(NULL, 0, text, 1), 0);
    assert_int_equal(corio_base58_encode(bbb, 3, NULL, 8), CORIO_ERR_INVAL);
}

static void base58_round_trips_within_bounds(void **state)
{
    (void)state;
    for (int round = 0; round < 500; round++) {
        uint8_t in[70], back[70];
        char text[CORIO_BASE58_ENCODED_MAX(70) + 1];
        size_t len = rnd8() % sizeof in;
        size_t zeros = rnd8() % 4;
        for (size_t i = 0; i < len; i++)
            in[i] = i < zeros ? 0 : rnd8();
        /* The documented bounds are enough, exactly as promised. */
        int n = corio_base58_encode(in, len, text, CORIO_BASE58_ENCODED_MAX(len) + 1);
        assert_true(n >= 0);
        assert_int_equal(strlen(text), (size_t)n);
        assert_true((size_t)n <= CORIO_BASE58_ENCODED_MAX(len));
        assert_true(len <= CORIO_BASE58_DECODED_MAX((size_t)n));
        int m = corio_base58_decode(text, (size_t)n, back, sizeof back);
        assert_int_equal(m, (int)len);
        assert_memory_equal(in, back, len);
    }
}

/* ---- did:key spelling of a P-256 key ---- */

static const struct {
    const char *multibase, *x, *y;
} did_key_vectors[] = {
    /* w3c-ccg did-method-key test vectors (P-256), x and y from their JWKs. */
    {"zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
     "7f235830dd3defa722ef1aa249d6a0ddbba4f990b0817538933f573640653542",
     "856da88d335f1fb25b8bcfbe089528dce09b1f7cb99fdd60f88300f4c2cc6d35"},
    {"zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
     "8a0ac59a2d3086e8a12a78fd4773a6d52a0ca61ef6c1419e15a05bcc6dafce7b",
     "79fb17e5bd74c7cca3cab8f89f2de919f2dc63b5dbcb52b382a39daa7b2b2483"},
};

static void did_key_vectors_decode_to_their_points(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof did_key_vectors / sizeof did_key_vectors[0]; i++) {
        const char *mb = did_key_vectors[i].multibase + 1; /* after multibase 'z' */
        uint8_t raw[64], full[65], x[32], y[32];
        int n = corio_base58_decode(mb, strlen(mb), raw, sizeof raw);
        assert_int_equal(n, 35);
        assert_int_equal(raw[0], 0x80); /* varint of multicodec p256-pub, 0x1200 */
        assert_int_equal(raw[1], 0x24);
        unhex(did_key_vectors[i].x, x, sizeof x);
        unhex(did_key_vectors[i].y, y, sizeof y);
        assert_memory_equal(raw + 3, x, 32);
        assert_int_equal(corio_p256_decompress(raw + 2, full), CORIO_OK);
        assert_memory_equal(full + 1, x, 32);
        assert_memory_equal(full + 33, y, 32);

        char again[64];
        assert_int_equal(corio_base58_encode(raw, 35, again, sizeof again), (int)strlen(mb));
        assert_string_equal(again, mb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base32_rfc4648_vectors),
        cmocka_unit_test(base32_did_corio_id_is_24_chars),
        cmocka_unit_test(base32_refuses_bad_input),
        cmocka_unit_test(base32_limits),
        cmocka_unit_test(base32_round_trips),
        cmocka_unit_test(base58_known_vectors),
        cmocka_unit_test(base58_refuses_bad_input),
        cmocka_unit_test(base58_limits),
        cmocka_unit_test(base58_round_trips_within_bounds),
        cmocka_unit_test(did_key_vectors_decode_to_their_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
