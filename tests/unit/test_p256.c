/*
 * test_p256.c - our P-256 point and scalar code (sdk/src/p256.c) against OpenSSL's:
 * decompression and compression agree with EC_POINT conversion on many random keys,
 * every x OpenSSL refuses we refuse too, and the scalar rules hold at their edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "corio/error.h"
#include "corio/p256.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static const char *P_HEX = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
static const char *N_HEX = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
static const char *GX = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
static const char *GY = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

struct ossl {
    EC_GROUP *group;
    BN_CTX *bn;
};

static int setup(void **state)
{
    static struct ossl o;
    o.group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    o.bn = BN_CTX_new();
    *state = &o;
    return o.group && o.bn ? 0 : -1;
}

static int teardown(void **state)
{
    struct ossl *o = *state;
    EC_GROUP_free(o->group);
    BN_CTX_free(o->bn);
    return 0;
}

static void generator_vector(void **state)
{
    (void)state;
    uint8_t comp[33], full[65], again[33];
    comp[0] = 0x03; /* Gy is odd */
    unhex(GX, comp + 1, 32);
    assert_int_equal(corio_p256_decompress(comp, full), CORIO_OK);
    uint8_t gy[32];
    unhex(GY, gy, 32);
    assert_int_equal(full[0], 0x04);
    assert_memory_equal(full + 1, comp + 1, 32);
    assert_memory_equal(full + 33, gy, 32);
    assert_int_equal(corio_p256_point_check(full), CORIO_OK);
    assert_int_equal(corio_p256_compress(full, again), CORIO_OK);
    assert_memory_equal(again, comp, 33);
    /* The other parity gives -G, whose y is p - Gy, and it is on the curve too. */
    comp[0] = 0x02;
    assert_int_equal(corio_p256_decompress(comp, full), CORIO_OK);
    assert_memory_not_equal(full + 33, gy, 32);
    assert_int_equal(full[64] & 1, 0);
    assert_int_equal(corio_p256_point_check(full), CORIO_OK);
}

static void agrees_with_openssl_on_random_keys(void **state)
{
    struct ossl *o = *state;
    EC_POINT *pt = EC_POINT_new(o->group);
    BIGNUM *d = BN_new();
    assert_non_null(pt);
    assert_non_null(d);
    int parity[2] = {0, 0};
    for (int i = 0; i < 300; i++) {
        assert_int_equal(BN_rand_range(d, EC_GROUP_get0_order(o->group)), 1);
        if (BN_is_zero(d))
            continue;
        assert_int_equal(EC_POINT_mul(o->group, pt, d, NULL, NULL, o->bn), 1);
        uint8_t comp[33], full[65], ours[65], ours_comp[33];
        assert_int_equal(
            EC_POINT_point2oct(o->group, pt, POINT_CONVERSION_COMPRESSED, comp, sizeof comp, o->bn),
            33);
        assert_int_equal(EC_POINT_point2oct(o->group, pt, POINT_CONVERSION_UNCOMPRESSED, full,
                                            sizeof full, o->bn),
                         65);
        parity[comp[0] & 1]++;
        assert_int_equal(corio_p256_decompress(comp, ours), CORIO_OK);
        assert_memory_equal(ours, full, 65);
        assert_int_equal(corio_p256_point_check(full), CORIO_OK);
        assert_int_equal(corio_p256_compress(full, ours_comp), CORIO_OK);
        assert_memory_equal(ours_comp, comp, 33);
        assert_int_equal(corio_p256_point_parse(comp, 33, ours), CORIO_OK);
        assert_memory_equal(ours, full, 65);
        assert_int_equal(corio_p256_point_parse(full, 65, ours), CORIO_OK);
        assert_memory_equal(ours, full, 65);
        /* Any change to y takes the point off the curve. */
        full[40] ^= 0x10;
        assert_int_equal(corio_p256_point_check(full), CORIO_ERR_MALFORMED);
    }
    /* Both parities were exercised. */
    assert_true(parity[0] > 50 && parity[1] > 50);
    BN_free(d);
    EC_POINT_free(pt);
}

/* OpenSSL's verdict on 02 || x: 1 when it is a point. */
static int openssl_accepts(struct ossl *o, const uint8_t comp[33])
{
    EC_POINT *pt = EC_POINT_new(o->group);
    assert_non_null(pt);
    int ok = EC_POINT_oct2point(o->group, pt, comp, 33, o->bn) == 1;
    EC_POINT_free(pt);
    ERR_clear_error();
    return ok;
}

static void invalid_x_refused_like_openssl(void **state)
{
    struct ossl *o = *state;
    int accepted = 0, refused = 0;
    for (int i = 0; i < 600; i++) {
        uint8_t comp[33], full[65];
        comp[0] = (uint8_t)(0x02 | (i & 1));
        if (i < 64) {
            /* Small x: 0, 1, 2, ... (x = 0 has no square root, for one). */
            memset(comp + 1, 0, 32);
            comp[32] = (uint8_t)(i / 2);
        } else {
            assert_int_equal(RAND_bytes(comp + 1, 32), 1);
            comp[1] &= 0x7f; /* keep x below p, so only the square root decides */
        }
        int theirs = openssl_accepts(o, comp);
        int ours = corio_p256_decompress(comp, full);
        if (theirs) {
            assert_int_equal(ours, CORIO_OK);
            accepted++;
        } else {
            assert_int_equal(ours, CORIO_ERR_MALFORMED);
            refused++;
        }
    }
    /* About half of all x are abscissas: both outcomes must have been seen plenty. */
    assert_true(accepted > 200 && refused > 200);
}

/* x += v, big-endian 32 bytes. */
static void add_small(uint8_t *x, unsigned v)
{
    for (int k = 31; k >= 0; k--) {
        v += x[k];
        x[k] = (uint8_t)v;
        v >>= 8;
    }
}

static void x_at_or_above_p_refused(void **state)
{
    struct ossl *o = *state;
    uint8_t comp[33], full[65];
    static const unsigned bumps[] = {0, 1, 3, 5, 0x1000};
    for (size_t i = 0; i < sizeof bumps / sizeof bumps[0]; i++) {
        for (uint8_t prefix = 2; prefix <= 3; prefix++) {
            comp[0] = prefix;
            unhex(P_HEX, comp + 1, 32);
            add_small(comp + 1, bumps[i]); /* p + bump: congruent to a small x */
            assert_int_equal(corio_p256_decompress(comp, full), CORIO_ERR_MALFORMED);
            assert_false(openssl_accepts(o, comp));
        }
    }
    memset(comp + 1, 0xff, 32);
    assert_int_equal(corio_p256_decompress(comp, full), CORIO_ERR_MALFORMED);

    /*
     * An uncompressed point whose x is written as x + p: congruent, so on the curve
     * mod p, but not a canonical encoding. A small valid x leaves room below 2^256.
     */
    int found = 0;
    for (uint8_t small = 1; small < 64 && !found; small++) {
        uint8_t c[33], pt[65];
        memset(c, 0, sizeof c);
        c[0] = 0x02;
        c[32] = small;
        if (corio_p256_decompress(c, pt) != CORIO_OK)
            continue;
        found = 1;
        assert_int_equal(corio_p256_point_check(pt), CORIO_OK);
        unhex(P_HEX, pt + 1, 32);
        add_small(pt + 1, small);
        assert_int_equal(corio_p256_point_check(pt), CORIO_ERR_MALFORMED);
    }
    assert_true(found);
}

static void bad_prefixes_and_lengths(void **state)
{
    (void)state;
    uint8_t comp[33], full[65], out[65];
    comp[0] = 0x03;
    unhex(GX, comp + 1, 32);
    assert_int_equal(corio_p256_decompress(comp, full), CORIO_OK);
    static const uint8_t prefixes[] = {0x00, 0x01, 0x04, 0x05, 0x06, 0x07, 0x82, 0xff};
    for (size_t i = 0; i < sizeof prefixes; i++) {
        uint8_t c[33], f[65];
        memcpy(c, comp, 33);
        memcpy(f, full, 65);
        c[0] = prefixes[i];
        assert_int_equal(corio_p256_decompress(c, out), CORIO_ERR_MALFORMED);
        if (prefixes[i] != 0x04) {
            f[0] = prefixes[i];
            assert_int_equal(corio_p256_point_check(f), CORIO_ERR_MALFORMED);
            assert_int_equal(corio_p256_compress(f, c), CORIO_ERR_MALFORMED);
        }
    }
    static const size_t lens[] = {0, 1, 32, 34, 64, 66, 97};
    uint8_t big[97] = {0};
    memcpy(big, full, 65);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        assert_int_equal(corio_p256_point_parse(big, lens[i], out), CORIO_ERR_MALFORMED);
    /* All zeros: the "point at infinity" spelled as coordinates is not on the curve. */
    memset(big, 0, 65);
    big[0] = 0x04;
    assert_int_equal(corio_p256_point_check(big), CORIO_ERR_MALFORMED);

    assert_int_equal(corio_p256_point_check(NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_p256_decompress(NULL, out), CORIO_ERR_INVAL);
    assert_int_equal(corio_p256_decompress(comp, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_p256_compress(full, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_p256_point_parse(NULL, 33, out), CORIO_ERR_INVAL);
}

static void scalar_rules_at_the_edges(void **state)
{
    (void)state;
    uint8_t n[32], s[32], zero[32] = {0}, one[32] = {0}, max[32];
    one[31] = 1;
    memset(max, 0xff, 32);
    unhex(N_HEX, n, 32);

    assert_false(corio_p256_scalar_check(zero));
    assert_true(corio_p256_scalar_check(one));
    assert_false(corio_p256_scalar_check(n));
    assert_false(corio_p256_scalar_check(max));
    assert_false(corio_p256_scalar_check(NULL));
    memcpy(s, n, 32);
    s[31]--; /* n - 1 */
    assert_true(corio_p256_scalar_check(s));

    /* (n-1)/2 is the largest low S; (n+1)/2 the smallest high one. */
    uint8_t half[32];
    unhex("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8", half, 32);
    assert_true(corio_p256_scalar_is_low(half));
    half[31]++;
    assert_false(corio_p256_scalar_is_low(half));
    assert_true(corio_p256_scalar_is_low(one));
    assert_false(corio_p256_scalar_is_low(s)); /* n - 1 */

    /* n - (n - 1) = 1, and negating twice is the identity. */
    assert_int_equal(corio_p256_scalar_negate(s), CORIO_OK);
    assert_memory_equal(s, one, 32);
    uint8_t r[32], orig[32];
    assert_int_equal(RAND_bytes(r, 32), 1);
    r[0] &= 0x7f;
    memcpy(orig, r, 32);
    assert_int_equal(corio_p256_scalar_negate(r), CORIO_OK);
    assert_false(corio_p256_scalar_is_low(r));
    assert_int_equal(corio_p256_scalar_negate(r), CORIO_OK);
    assert_memory_equal(r, orig, 32);
    /* Out of range: refused and left alone. */
    memcpy(r, n, 32);
    assert_int_equal(corio_p256_scalar_negate(r), CORIO_ERR_INVAL);
    assert_memory_equal(r, n, 32);
    assert_int_equal(corio_p256_scalar_negate(zero), CORIO_ERR_INVAL);
}

static void signature_rules(void **state)
{
    (void)state;
    uint8_t sig[64], n[32];
    unhex(N_HEX, n, 32);
    memset(sig, 0, sizeof sig);
    sig[31] = 5;
    sig[63] = 7;
    assert_int_equal(corio_p256_sig_check(sig), CORIO_OK);
    assert_int_equal(corio_p256_sig_normalize(sig), CORIO_OK);
    assert_int_equal(sig[63], 7); /* already low */

    /* s = n - 7 is high: check refuses, normalise turns it into 7. */
    memcpy(sig + 32, n, 32);
    sig[63] = (uint8_t)(sig[63] - 7);
    assert_int_equal(corio_p256_sig_check(sig), CORIO_ERR_BADSIG);
    assert_int_equal(corio_p256_sig_normalize(sig), CORIO_OK);
    uint8_t seven[32] = {0};
    seven[31] = 7;
    assert_memory_equal(sig + 32, seven, 32);
    assert_int_equal(corio_p256_sig_check(sig), CORIO_OK);

    /* r or s zero or >= n. */
    uint8_t bad[64];
    memcpy(bad, sig, 64);
    memset(bad, 0, 32);
    assert_int_equal(corio_p256_sig_check(bad), CORIO_ERR_BADSIG);
    assert_int_equal(corio_p256_sig_normalize(bad), CORIO_ERR_BADSIG);
    memcpy(bad, n, 32);
    assert_int_equal(corio_p256_sig_check(bad), CORIO_ERR_BADSIG);
    memcpy(bad, sig, 64);
    memset(bad + 32, 0, 32);
    assert_int_equal(corio_p256_sig_check(bad), CORIO_ERR_BADSIG);
    memcpy(bad + 32, n, 32);
    assert_int_equal(corio_p256_sig_check(bad), CORIO_ERR_BADSIG);
    assert_int_equal(corio_p256_sig_normalize(bad), CORIO_ERR_BADSIG);
    assert_memory_equal(bad + 32, n, 32);
    assert_int_equal(corio_p256_sig_check(NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_p256_sig_normalize(NULL), CORIO_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generator_vector),
        cmocka_unit_test(agrees_with_openssl_on_random_keys),
        cmocka_unit_test(invalid_x_refused_like_openssl),
        cmocka_unit_test(x_at_or_above_p_refused),
        cmocka_unit_test(bad_prefixes_and_lengths),
        cmocka_unit_test(scalar_rules_at_the_edges),
        cmocka_unit_test(signature_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
