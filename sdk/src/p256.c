/*
 * p256.c - P-256 point compression, decompression and validation, and the scalar
 * rules of ES256 signatures (include/corio/p256.h).
 *
 * Field elements are eight 32-bit limbs, least significant first, kept in Montgomery
 * form (a * 2^256 mod p) while we compute, so that one generic multiplication routine
 * (CIOS) serves everything. The code favours being obviously right over being fast or
 * constant time: it only ever sees public keys and signatures. Scalars mod n are only
 * compared and subtracted, which is done on the big-endian bytes directly.
 */
#include "corio/p256.h"

#include <string.h>

#include "corio/error.h"

#define LIMBS 8

typedef uint32_t fe[LIMBS];

/* p = 2^256 - 2^224 + 2^192 + 2^96 - 1 */
static const fe P = {0xffffffff, 0xffffffff, 0xffffffff, 0x00000000,
                     0x00000000, 0x00000000, 0x00000001, 0xffffffff};

/* 2^512 mod p: multiplying by it converts into Montgomery form. */
static const fe RR = {0x00000003, 0x00000000, 0xffffffff, 0xfffffffb,
                      0xfffffffe, 0xffffffff, 0xfffffffd, 0x00000004};

/* The curve's b, big-endian as SEC 2 prints it. */
static const uint8_t B_BYTES[32] = {
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc,
    0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b};

/* (p + 1) / 4, the exponent of the square root (p = 3 mod 4). */
static const uint8_t SQRT_EXP[32] = {
    0x3f, 0xff, 0xff, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* n, the order of the base point. */
static const uint8_t N_BYTES[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

/* (n - 1) / 2: the largest low S. */
static const uint8_t HALF_N_BYTES[32] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

/* Big-endian numbers of one length compare as memcmp() orders their bytes. */
#define BYTES_CMP(a, b) memcmp((a), (b), 32)

static int fe_cmp(const fe a, const fe b)
{
    for (size_t i = LIMBS; i-- > 0;) {
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

/* r = a - b over 256 bits; returns the borrow out. */
static uint32_t fe_sub_raw(fe r, const fe a, const fe b)
{
    uint64_t borrow = 0;
    for (size_t i = 0; i < LIMBS; i++) {
        uint64_t d = (uint64_t)a[i] - b[i] - borrow;
        r[i] = (uint32_t)d;
        borrow = (d >> 32) & 1;
    }
    return (uint32_t)borrow;
}

/* r = a + b over 256 bits; returns the carry out. */
static uint32_t fe_add_raw(fe r, const fe a, const fe b)
{
    uint64_t carry = 0;
    for (size_t i = 0; i < LIMBS; i++) {
        uint64_t s = (uint64_t)a[i] + b[i] + carry;
        r[i] = (uint32_t)s;
        carry = s >> 32;
    }
    return (uint32_t)carry;
}

/* r = a + b mod p, for a, b < p. */
static void fe_add(fe r, const fe a, const fe b)
{
    uint32_t carry = fe_add_raw(r, a, b);
    if (carry || fe_cmp(r, P) >= 0)
        (void)fe_sub_raw(r, r, P);
}

/* r = a - b mod p, for a, b < p. */
static void fe_sub(fe r, const fe a, const fe b)
{
    if (fe_sub_raw(r, a, b))
        (void)fe_add_raw(r, r, P);
}

/*
 * r = a * b / 2^256 mod p (Montgomery multiplication, CIOS). Because p = -1 mod 2^32,
 * the per-word factor -p^-1 mod 2^32 is 1, so m is simply the low word. r may alias
 * a or b.
 */
static void fe_mul(fe r, const fe a, const fe b)
{
    uint32_t t[LIMBS + 2] = {0};
    for (size_t i = 0; i < LIMBS; i++) {
        uint64_t c = 0;
        for (size_t j = 0; j < LIMBS; j++) {
            c += (uint64_t)a[j] * b[i] + t[j];
            t[j] = (uint32_t)c;
            c >>= 32;
        }
        c += t[LIMBS];
        t[LIMBS] = (uint32_t)c;
        t[LIMBS + 1] = (uint32_t)(c >> 32);

        uint32_t m = t[0];
        c = ((uint64_t)m * P[0] + t[0]) >> 32;
        for (size_t j = 1; j < LIMBS; j++) {
            c += (uint64_t)m * P[j] + t[j];
            t[j - 1] = (uint32_t)c;
            c >>= 32;
        }
        c += t[LIMBS];
        t[LIMBS - 1] = (uint32_t)c;
        t[LIMBS] = t[LIMBS + 1] + (uint32_t)(c >> 32);
    }
    /* t < 2p here: one conditional subtraction reduces it. */
    fe out;
    memcpy(out, t, sizeof out);
    if (t[LIMBS] != 0 || fe_cmp(out, P) >= 0)
        (void)fe_sub_raw(out, out, P);
    memcpy(r, out, sizeof out);
}

/* Big-endian 32 bytes to limbs; returns 0 when the value is not below p. */
static int fe_from_bytes(fe r, const uint8_t *in)
{
    for (size_t i = 0; i < LIMBS; i++) {
        const uint8_t *w = in + 28 - 4 * i;
        r[i] = (uint32_t)w[0] << 24 | (uint32_t)w[1] << 16 | (uint32_t)w[2] << 8 | w[3];
    }
    return fe_cmp(r, P) < 0;
}

static void fe_to_bytes(uint8_t *out, const fe a)
{
    for (size_t i = 0; i < LIMBS; i++) {
        uint8_t *w = out + 28 - 4 * i;
        w[0] = (uint8_t)(a[i] >> 24);
        w[1] = (uint8_t)(a[i] >> 16);
        w[2] = (uint8_t)(a[i] >> 8);
        w[3] = (uint8_t)a[i];
    }
}

static void fe_to_mont(fe r, const fe a)
{
    fe_mul(r, a, RR);
}

static void fe_from_mont(fe r, const fe a)
{
    static const fe ONE = {1, 0, 0, 0, 0, 0, 0, 0};
    fe_mul(r, a, ONE);
}

/* r = x^3 - 3x + b for x in Montgomery form; r in Montgomery form. */
static void curve_rhs(fe r, const fe x)
{
    fe b, t, x3;
    (void)fe_from_bytes(b, B_BYTES);
    fe_to_mont(b, b);
    fe_mul(t, x, x);
    fe_mul(x3, t, x);
    fe_add(t, x, x);
    fe_add(t, t, x);
    fe_sub(r, x3, t);
    fe_add(r, r, b);
}

/* r = a^e for a in Montgomery form and e big-endian 32 bytes; square and multiply. */
static void fe_pow(fe r, const fe a, const uint8_t *e)
{
    static const fe ONE = {1, 0, 0, 0, 0, 0, 0, 0};
    fe acc;
    fe_to_mont(acc, ONE);
    for (size_t i = 0; i < 32; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            fe_mul(acc, acc, acc);
            if ((e[i] >> bit) & 1)
                fe_mul(acc, acc, a);
        }
    }
    memcpy(r, acc, sizeof acc);
}

int corio_p256_point_check(const uint8_t pub[CORIO_P256_PUB_LEN])
{
    if (!pub)
        return CORIO_ERR_INVAL;
    if (pub[0] != 0x04)
        return CORIO_ERR_MALFORMED;
    fe x, y, lhs, rhs;
    if (!fe_from_bytes(x, pub + 1) || !fe_from_bytes(y, pub + 33))
        return CORIO_ERR_MALFORMED;
    fe_to_mont(x, x);
    fe_to_mont(y, y);
    fe_mul(lhs, y, y);
    curve_rhs(rhs, x);
    return fe_cmp(lhs, rhs) == 0 ? CORIO_OK : CORIO_ERR_MALFORMED;
}

int corio_p256_decompress(const uint8_t in[CORIO_P256_PUB_COMPRESSED],
                          uint8_t out[CORIO_P256_PUB_LEN])
{
    if (!in || !out)
        return CORIO_ERR_INVAL;
    if (in[0] != 0x02 && in[0] != 0x03)
        return CORIO_ERR_MALFORMED;
    fe x, rhs, y, check;
    if (!fe_from_bytes(x, in + 1))
        return CORIO_ERR_MALFORMED;
    fe_to_mont(x, x);
    curve_rhs(rhs, x);
    fe_pow(y, rhs, SQRT_EXP);
    fe_mul(check, y, y);
    if (fe_cmp(check, rhs) != 0)
        return CORIO_ERR_MALFORMED; /* rhs is not a square: no point has this x */
    fe_from_mont(y, y);
    unsigned want_odd = in[0] & 1u;
    if ((y[0] & 1u) != want_odd) {
        static const fe ZERO = {0, 0, 0, 0, 0, 0, 0, 0};
        /* y = 0 has no odd twin; P-256 has prime order, so no such point exists. */
        if (fe_cmp(y, ZERO) == 0)
            return CORIO_ERR_MALFORMED;
        (void)fe_sub_raw(y, P, y);
    }
    out[0] = 0x04;
    memcpy(out + 1, in + 1, 32);
    fe_to_bytes(out + 33, y);
    return CORIO_OK;
}

int corio_p256_compress(const uint8_t in[CORIO_P256_PUB_LEN],
                        uint8_t out[CORIO_P256_PUB_COMPRESSED])
{
    if (!in || !out)
        return CORIO_ERR_INVAL;
    int rc = corio_p256_point_check(in);
    if (rc != CORIO_OK)
        return rc;
    out[0] = (uint8_t)(0x02 | (in[64] & 1u));
    memmove(out + 1, in + 1, 32);
    return CORIO_OK;
}

int corio_p256_point_parse(const uint8_t *in, size_t in_len, uint8_t out[CORIO_P256_PUB_LEN])
{
    if (!in || !out)
        return CORIO_ERR_INVAL;
    if (in_len == CORIO_P256_PUB_COMPRESSED)
        return corio_p256_decompress(in, out);
    if (in_len != CORIO_P256_PUB_LEN)
        return CORIO_ERR_MALFORMED;
    int rc = corio_p256_point_check(in);
    if (rc == CORIO_OK)
        memmove(out, in, CORIO_P256_PUB_LEN);
    return rc;
}

int corio_p256_scalar_check(const uint8_t s[CORIO_P256_SCALAR_LEN])
{
    if (!s)
        return 0;
    uint8_t any = 0;
    for (size_t i = 0; i < 32; i++)
        any |= s[i];
    return any != 0 && BYTES_CMP(s, N_BYTES) < 0;
}

int corio_p256_scalar_is_low(const uint8_t s[CORIO_P256_SCALAR_LEN])
{
    return s != NULL && BYTES_CMP(s, HALF_N_BYTES) <= 0;
}

int corio_p256_scalar_negate(uint8_t s[CORIO_P256_SCALAR_LEN])
{
    if (!corio_p256_scalar_check(s))
        return CORIO_ERR_INVAL;
    unsigned borrow = 0;
    for (size_t i = 32; i-- > 0;) {
        unsigned d = (unsigned)N_BYTES[i] - s[i] - borrow;
        s[i] = (uint8_t)d;
        borrow = (d >> 8) & 1u;
    }
    return CORIO_OK;
}

int corio_p256_sig_check(const uint8_t sig[CORIO_P256_SIG_LEN])
{
    if (!sig)
        return CORIO_ERR_INVAL;
    if (!corio_p256_scalar_check(sig) || !corio_p256_scalar_check(sig + 32) ||
        !corio_p256_scalar_is_low(sig + 32))
        return CORIO_ERR_BADSIG;
    return CORIO_OK;
}

int corio_p256_sig_normalize(uint8_t sig[CORIO_P256_SIG_LEN])
{
    if (!sig)
        return CORIO_ERR_INVAL;
    if (!corio_p256_scalar_check(sig) || !corio_p256_scalar_check(sig + 32))
        return CORIO_ERR_BADSIG;
    if (!corio_p256_scalar_is_low(sig + 32))
        (void)corio_p256_scalar_negate(sig + 32);
    return CORIO_OK;
}
