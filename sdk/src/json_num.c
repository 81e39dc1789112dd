/*
 * json_num.c - exact conversions between JSON number text and doubles
 * (include/corio/json.h), without libc's strtod/printf: those depend on the locale,
 * and the small C libraries of microcontrollers allocate from the heap in them.
 *
 * Text to double: numbers of at most 15 significant digits with a power of ten up to
 * 22 take one correctly rounded multiplication or division (Clinger's fast path).
 * Every other number goes through an exact decimal held as up to 800 digits, which
 * is shifted by powers of two until the 53 bits of the result and the digits below
 * them are known, then rounded to nearest, ties to even. 800 digits are more than a
 * double's longest exact halfway point needs (767 significant digits); digits
 * dropped beyond them only ever matter as "something non-zero follows", which a
 * sticky flag keeps.
 *
 * Double to text: the free-format algorithm of Steele & White as refined by Burger &
 * Dybvig ("Printing Floating-Point Numbers Quickly and Accurately", 1996), on
 * fixed-size big integers: it generates digits of v until the digits so far
 * identify v (lie inside its rounding interval), so the result is the shortest
 * string that reads back as v, and its last digit is chosen to be the closest.
 * Integers below 2^53 take a shortcut: their digits are already the shortest.
 */
#include <float.h>
#include <limits.h>
#include <string.h>

#include "corio/json.h"

#if DBL_MANT_DIG != 53 || DBL_MAX_EXP != 1024
#error "json_num.c needs IEEE 754 binary64 doubles"
#endif

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* ------------------------------------------------------------------------------ */
/* Exact decimal                                                                  */
/* ------------------------------------------------------------------------------ */

#define DEC_DIGITS 800

/* The value 0.d[0]d[1]...d[nd-1] * 10^dp, digits 0..9, no trailing zeros. */
struct dec {
    uint8_t d[DEC_DIGITS];
    int nd;
    int dp;
    bool trunc; /* non-zero digits were dropped beyond d[DEC_DIGITS - 1] */
};

static void dec_trim(struct dec *a)
{
    while (a->nd > 0 && a->d[a->nd - 1] == 0)
        a->nd--;
    if (a->nd == 0)
        a->dp = 0;
}

/* a /= 2^k for 1 <= k <= 60, keeping up to DEC_DIGITS digits. */
static void dec_rshift(struct dec *a, unsigned k)
{
    int r = 0, w = 0;
    uint64_t n = 0, mask = ((uint64_t)1 << k) - 1;
    /* Gather leading digits until the quotient has a first digit. */
    while ((n >> k) == 0) {
        if (r >= a->nd) {
            if (n == 0) {
                a->nd = 0;
                a->dp = 0;
                return;
            }
            while ((n >> k) == 0) {
                n *= 10;
                r++;
            }
            break;
        }
        n = n * 10 + a->d[r++];
    }
    a->dp -= r - 1;
    for (; r < a->nd; r++) {
        a->d[w++] = (uint8_t)(n >> k);
        n = (n & mask) * 10 + a->d[r];
    }
    while (n > 0) {
        uint8_t dig = (uint8_t)(n >> k);
        n = (n & mask) * 10;
        if (w < DEC_DIGITS)
            a->d[w++] = dig;
        else if (dig > 0)
            a->trunc = true;
    }
    a->nd = w;
    dec_trim(a);
}

/* a *= 2^k for 1 <= k <= 60, keeping up to DEC_DIGITS digits. */
static void dec_lshift(struct dec *a, unsigned k)
{
    uint64_t n = 0;
    int delta = 0;
    /* The carry out of the top digit gives the number of new leading digits. */
    for (int r = a->nd - 1; r >= 0; r--)
        n = (n + ((uint64_t)a->d[r] << k)) / 10;
    for (uint64_t c = n; c > 0; c /= 10)
        delta++;
    int w = a->nd + delta;
    n = 0;
    for (int r = a->nd - 1; r >= 0; r--) {
        n += (uint64_t)a->d[r] << k;
        uint64_t q = n / 10;
        uint8_t rem = (uint8_t)(n - 10 * q);
        w--;
        if (w < DEC_DIGITS)
            a->d[w] = rem;
        else if (rem != 0)
            a->trunc = true;
        n = q;
    }
    while (n > 0) {
        uint64_t q = n / 10;
        uint8_t rem = (uint8_t)(n - 10 * q);
        w--;
        if (w < DEC_DIGITS)
            a->d[w] = rem;
        else if (rem != 0)
            a->trunc = true;
        n = q;
    }
    a->nd += delta;
    if (a->nd > DEC_DIGITS)
        a->nd = DEC_DIGITS;
    a->dp += delta;
    dec_trim(a);
}

static void dec_shift(struct dec *a, int k)
{
    while (k > 60) {
        dec_lshift(a, 60);
        k -= 60;
    }
    while (k < -60) {
        dec_rshift(a, 60);
        k += 60;
    }
    if (k > 0)
        dec_lshift(a, (unsigned)k);
    else if (k < 0)
        dec_rshift(a, (unsigned)-k);
}

/* Whether rounding a to an integer (its first dp digits) goes up: more than half,
 * or exactly half and the integer is odd. */
static bool dec_round_up(const struct dec *a)
{
    int i = a->dp;
    if (i < 0 || i >= a->nd)
        return false;
    if (a->d[i] == 5 && i + 1 == a->nd) {
        if (a->trunc)
            return true;
        return i > 0 && (a->d[i - 1] & 1);
    }
    return a->d[i] >= 5;
}

/* The integer nearest a (which is below 2^54 here). */
static uint64_t dec_rounded(const struct dec *a)
{
    uint64_t n = 0;
    for (int i = 0; i < a->dp; i++)
        n = n * 10 + (i < a->nd ? a->d[i] : 0);
    if (dec_round_up(a))
        n++;
    return n;
}

/* Bit counts for shifting a decimal point by i places: floor(i * log2(10)). */
static const uint8_t powtab[] = {1, 3, 6, 9, 13, 16, 19, 23, 26};

/* Converts a (destroyed) to the nearest double's bits without sign. Returns
 * CORIO_OK or CORIO_ERR_UNSUPPORTED for overflow. */
static int dec_to_bits(struct dec *a, uint64_t *bits)
{
    int exp = 0;
    if (a->nd == 0 || a->dp < -330) {
        *bits = 0;
        return CORIO_OK;
    }
    if (a->dp > 310)
        return CORIO_ERR_UNSUPPORTED;
    /* Scale into [0.5, 1), counting the powers of two. */
    while (a->dp > 0) {
        int n = a->dp >= (int)sizeof powtab ? 27 : powtab[a->dp];
        dec_shift(a, -n);
        exp += n;
    }
    while (a->dp < 0 || (a->dp == 0 && a->d[0] < 5)) {
        int n = -a->dp >= (int)sizeof powtab ? 27 : powtab[-a->dp];
        dec_shift(a, n);
        exp -= n;
    }
    /* Now a * 2^exp with a in [0.5, 1) is the value: as 1.f * 2^(exp-1). */
    exp--;
    if (exp < -1022) {
        /* Subnormal: fix the exponent at the minimum and let the mantissa shrink. */
        dec_shift(a, -(-1022 - exp));
        exp = -1022;
    }
    if (exp > 1023)
        return CORIO_ERR_UNSUPPORTED;
    dec_shift(a, 53);
    uint64_t mant = dec_rounded(a);
    if (mant == (uint64_t)1 << 53) { /* rounding carried into a new bit */
        mant >>= 1;
        exp++;
        if (exp > 1023)
            return CORIO_ERR_UNSUPPORTED;
    }
    uint64_t biased = (mant >> 52) ? (uint64_t)(exp + 1023) : 0;
    *bits = (mant & (((uint64_t)1 << 52) - 1)) | (biased << 52);
    return CORIO_OK;
}

static const double pow10tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Clinger's fast path: m * 10^e10 is exact in one rounding when m < 2^53 and 10^|e10|
 * is an exact double; it needs arithmetic in double precision, not wider. */
static bool fast_path(uint64_t m, long long e10, double *v)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    if (m > ((uint64_t)1 << 53) || e10 < -22 || e10 > 22)
        return false;
    volatile double x = (double)m; /* volatile: no fused or reordered arithmetic */
    if (e10 >= 0)
        x = x * pow10tab[(int)e10];
    else
        x = x / pow10tab[(int)-e10];
    *v = x;
    return true;
#else
    (void)m;
    (void)e10;
    (void)v;
    return false;
#endif
}

static int finish_double(bool neg, int rc, uint64_t bits, double *v)
{
    if (rc != CORIO_OK)
        return rc;
    if (neg)
        bits |= (uint64_t)1 << 63;
    *v = from_bits(bits);
    return CORIO_OK;
}

#define DP_CLAMP 100000 /* far beyond any double's decimal exponent */

static int clamp_dp(long long dp)
{
    if (dp > DP_CLAMP)
        return DP_CLAMP;
    if (dp < -DP_CLAMP)
        return -DP_CLAMP;
    return (int)dp;
}

int corio_json_number(const struct corio_json_tok *t, double *v)
{
    if (t->type != CORIO_JSON_NUMBER)
        return CORIO_ERR_INVAL;
    const char *p = t->ptr, *end = t->ptr + t->len;
    bool neg = false;
    struct dec a;
    long long dp = 0; /* digits before the point, leading zeros not counted */
    long long nsig = 0;
    a.nd = 0;
    a.trunc = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    bool frac = false;
    for (; p < end; p++) {
        if (*p == '.') {
            frac = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        uint8_t dig = (uint8_t)(*p - '0');
        if (nsig == 0 && dig == 0) {
            if (frac)
                dp--; /* 0.00ddd: the point moves left */
            continue;
        }
        nsig++;
        if (!frac)
            dp++;
        if (a.nd < DEC_DIGITS)
            a.d[a.nd++] = dig;
        else if (dig != 0)
            a.trunc = true;
    }
    long long e = 0;
    if (p < end) { /* 'e' or 'E' */
        bool eneg = false;
        p++;
        if (*p == '+' || *p == '-')
            eneg = *p++ == '-';
        for (; p < end; p++)
            if (e < 1000000000LL)
                e = e * 10 + (*p - '0');
        if (eneg)
            e = -e;
    }
    if (a.nd == 0) {
        *v = neg ? -0.0 : 0.0;
        return CORIO_OK;
    }
    /* Trailing zeros in m: the fast path sees 1500 as 15e2. */
    int nd = a.nd;
    while (a.d[nd - 1] == 0)
        nd--;
    if (nsig <= 15 && !a.trunc) {
        uint64_t mm = 0;
        for (int i = 0; i < nd; i++)
            mm = mm * 10 + a.d[i];
        double x;
        if (fast_path(mm, dp + e - nd, &x)) {
            *v = neg ? -x : x;
            return CORIO_OK;
        }
    }
    a.dp = clamp_dp(dp + e);
    dec_trim(&a);
    uint64_t bits = 0;
    int rc = dec_to_bits(&a, &bits);
    return finish_double(neg, rc, bits, v);
}

int corio_json_decimal_to_double(bool neg, uint64_t mantissa, int64_t exp10, double *v)
{
    struct dec a;
    char tmp[CORIO_JSON_INT_MAX];
    int n = corio_json_fmt_uint64(mantissa, tmp);
    a.trunc = false;
    a.nd = n;
    for (int i = 0; i < n; i++)
        a.d[i] = (uint8_t)(tmp[i] - '0');
    if (mantissa == 0) {
        *v = neg ? -0.0 : 0.0;
        return CORIO_OK;
    }
    int nd = n;
    while (a.d[nd - 1] == 0)
        nd--;
    long long e = exp10 > 1000000000 ? 1000000000 : exp10 < -1000000000 ? -1000000000 : exp10;
    if (nd <= 15) {
        double x;
        uint64_t mm = 0;
        for (int i = 0; i < nd; i++)
            mm = mm * 10 + a.d[i];
        if (fast_path(mm, n + e - nd, &x)) {
            *v = neg ? -x : x;
            return CORIO_OK;
        }
    }
    a.dp = clamp_dp(n + e);
    dec_trim(&a);
    uint64_t bits = 0;
    int rc = dec_to_bits(&a, &bits);
    return finish_double(neg, rc, bits, v);
}

/* ------------------------------------------------------------------------------ */
/* Integers                                                                       */
/* ------------------------------------------------------------------------------ */

/* The magnitude of an integer token; CORIO_ERR_MALFORMED if it has a fraction or an
 * exponent, CORIO_ERR_UNSUPPORTED beyond 2^64 - 1. */
static int int_magnitude(const struct corio_json_tok *t, bool *neg, uint64_t *mag)
{
    if (t->type != CORIO_JSON_NUMBER)
        return CORIO_ERR_INVAL;
    const char *p = t->ptr, *end = t->ptr + t->len;
    *neg = p < end && *p == '-';
    if (*neg)
        p++;
    uint64_t v = 0;
    bool over = false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return CORIO_ERR_MALFORMED;
        unsigned dig = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - dig) / 10)
            over = true;
        else
            v = v * 10 + dig;
    }
    if (over)
        return CORIO_ERR_UNSUPPORTED;
    *mag = v;
    return CORIO_OK;
}

int corio_json_uint64(const struct corio_json_tok *t, uint64_t *v)
{
    bool neg;
    uint64_t mag;
    int rc = int_magnitude(t, &neg, &mag);
    if (rc != CORIO_OK)
        return rc;
    if (neg)
        return CORIO_ERR_MALFORMED;
    *v = mag;
    return CORIO_OK;
}

int corio_json_int64(const struct corio_json_tok *t, int64_t *v)
{
    bool neg;
    uint64_t mag;
    int rc = int_magnitude(t, &neg, &mag);
    if (rc != CORIO_OK)
        return rc;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return CORIO_ERR_UNSUPPORTED;
        *v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return CORIO_ERR_UNSUPPORTED;
        *v = (int64_t)mag;
    }
    return CORIO_OK;
}

/* v / 10 and its remainder with 32-bit divisions only: a 64-bit division would pull
 * libgcc's __udivdi3 and __umoddi3 into a 32-bit device's image. Long division in
 * 16-bit digits, each step dividing a value below 10 * 2^16. */
static uint64_t div10(uint64_t v, unsigned *rem)
{
    uint32_t w[2] = {(uint32_t)(v >> 32), (uint32_t)v}, r = 0;
    for (int i = 0; i < 2; i++) {
        uint32_t hi = r << 16 | w[i] >> 16, qh = hi / 10u;
        uint32_t lo = (hi - qh * 10u) << 16 | (w[i] & 0xFFFFu), ql = lo / 10u;
        r = lo - ql * 10u;
        w[i] = qh << 16 | ql;
    }
    *rem = r;
    return (uint64_t)w[0] << 32 | w[1];
}

int corio_json_fmt_uint64(uint64_t v, char *out)
{
    char tmp[CORIO_JSON_INT_MAX];
    char *p = tmp + sizeof tmp - 1;
    *p = '\0';
    do {
        unsigned r;
        v = div10(v, &r);
        *--p = (char)('0' + r);
    } while (v > 0);
    int n = (int)(tmp + sizeof tmp - 1 - p);
    memcpy(out, p, (size_t)n + 1);
    return n;
}

int corio_json_fmt_int64(int64_t v, char *out)
{
    if (v >= 0)
        return corio_json_fmt_uint64((uint64_t)v, out);
    out[0] = '-';
    return 1 + corio_json_fmt_uint64((uint64_t)0 - (uint64_t)v, out + 1);
}

/* ------------------------------------------------------------------------------ */
/* Double to shortest text                                                        */
/* ------------------------------------------------------------------------------ */

/* Enough for the largest scaled value the algorithm meets (below 2^1090). */
#define BIG_WORDS 36

struct big {
    uint32_t w[BIG_WORDS]; /* little-endian */
    unsigned n;            /* words in use; no leading zero words */
    bool over;             /* a result did not fit: the output is not to be trusted */
};

static void big_norm(struct big *b)
{
    while (b->n > 0 && b->w[b->n - 1] == 0)
        b->n--;
}

static void big_set(struct big *b, uint64_t v)
{
    b->w[0] = (uint32_t)v;
    b->w[1] = (uint32_t)(v >> 32);
    b->n = 2;
    b->over = false;
    big_norm(b);
}

static void big_mul_small(struct big *b, uint32_t m)
{
    uint64_t carry = 0;
    for (unsigned i = 0; i < b->n; i++) {
        uint64_t x = (uint64_t)b->w[i] * m + carry;
        b->w[i] = (uint32_t)x;
        carry = x >> 32;
    }
    if (carry) {
        if (b->n >= BIG_WORDS) {
            b->over = true;
            return;
        }
        b->w[b->n++] = (uint32_t)carry;
    }
}

static void big_mul_pow10(struct big *b, int k)
{
    static const uint32_t p10[] = {1,      10,      100,      1000,      10000,
                                   100000, 1000000, 10000000, 100000000, 1000000000};
    while (k >= 9) {
        big_mul_small(b, p10[9]);
        k -= 9;
    }
    if (k > 0)
        big_mul_small(b, p10[k]);
}

static void big_shl(struct big *b, unsigned bits)
{
    unsigned words = bits / 32, sh = bits % 32;
    if (b->n == 0)
        return;
    if (b->n + words + 1 > BIG_WORDS) {
        b->over = true;
        return;
    }
    b->w[b->n] = 0;
    for (unsigned i = b->n + 1; i-- > 0;) {
        uint32_t hi = b->w[i] << sh;
        uint32_t lo = (sh && i > 0) ? b->w[i - 1] >> (32 - sh) : 0;
        b->w[i + words] = hi | lo;
    }
    for (unsigned i = 0; i < words; i++)
        b->w[i] = 0;
    b->n += words + 1;
    big_norm(b);
}

static int big_cmp(const struct big *a, const struct big *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (unsigned i = a->n; i-- > 0;)
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

static void big_add(struct big *out, const struct big *a, const struct big *b)
{
    unsigned n = a->n > b->n ? a->n : b->n;
    uint64_t carry = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = carry;
        if (i < a->n)
            x += a->w[i];
        if (i < b->n)
            x += b->w[i];
        out->w[i] = (uint32_t)x;
        carry = x >> 32;
    }
    out->n = n;
    out->over = a->over || b->over;
    if (carry) {
        if (n >= BIG_WORDS)
            out->over = true;
        else
            out->w[out->n++] = (uint32_t)carry;
    }
}

/* a -= b, for a >= b. */
static void big_sub(struct big *a, const struct big *b)
{
    int64_t borrow = 0;
    for (unsigned i = 0; i < a->n; i++) {
        int64_t x = (int64_t)a->w[i] - (i < b->n ? (int64_t)b->w[i] : 0) - borrow;
        borrow = x < 0;
        a->w[i] = (uint32_t)(x + (borrow ? ((int64_t)1 << 32) : 0));
    }
    big_norm(a);
}

/*
 * The shortest digits of v = f * 2^e (f > 0): writes them to digits (at most 17) and
 * returns their count; *k10 receives the decimal exponent k with v = 0.d1d2... * 10^k.
 * Returns -1 if a big integer overflowed (not expected for any double).
 */
static int shortest_digits(uint64_t f, int e, bool unequal_gaps, char *digits, int *k10)
{
    struct big r, s, mp, mm, tmp;
    bool even = (f & 1) == 0;
    if (e >= 0) {
        big_set(&r, f);
        big_set(&s, 1);
        big_set(&mp, 1);
        big_shl(&mp, (unsigned)e);
        mm = mp;
        if (unequal_gaps) {
            big_shl(&r, (unsigned)e + 2);
            big_set(&s, 4);
            big_shl(&mp, 1);
        } else {
            big_shl(&r, (unsigned)e + 1);
            big_set(&s, 2);
        }
    } else {
        big_set(&r, f);
        big_set(&s, 1);
        big_set(&mp, 1);
        big_set(&mm, 1);
        if (unequal_gaps) {
            big_shl(&r, 2);
            big_shl(&s, (unsigned)(2 - e));
            big_set(&mp, 2);
        } else {
            big_shl(&r, 1);
            big_shl(&s, (unsigned)(1 - e));
        }
    }
    /* Estimate k = ceil(log10(v)) from the bit length; it is exact or one too small,
     * never too large, and the loop below corrects it. */
    int bits = 0;
    for (uint64_t x = f; x; x >>= 1)
        bits++;
    double est = (double)(e + bits - 1) * 0.30102999566398119521 - 1e-10;
    int k = (int)est;
    if ((double)k < est)
        k++;
    if (k >= 0)
        big_mul_pow10(&s, k);
    else {
        big_mul_pow10(&r, -k);
        big_mul_pow10(&mp, -k);
        big_mul_pow10(&mm, -k);
    }
    for (;;) {
        big_add(&tmp, &r, &mp);
        int c = big_cmp(&tmp, &s);
        if (even ? c < 0 : c <= 0)
            break;
        big_mul_small(&s, 10);
        k++;
    }
    int nd = 0;
    for (;;) {
        big_mul_small(&r, 10);
        big_mul_small(&mp, 10);
        big_mul_small(&mm, 10);
        int dig = 0;
        while (big_cmp(&r, &s) >= 0) {
            big_sub(&r, &s);
            dig++;
        }
        int c1 = big_cmp(&r, &mm);
        big_add(&tmp, &r, &mp);
        int c2 = big_cmp(&tmp, &s);
        bool low = even ? c1 <= 0 : c1 < 0;   /* the digits so far, rounded down, are v */
        bool high = even ? c2 >= 0 : c2 > 0; /* ... rounded up */
        if (r.over || s.over || mp.over || mm.over || tmp.over || nd >= 17 || dig > 9)
            return -1;
        if (!low && !high) {
            digits[nd++] = (char)('0' + dig);
            continue;
        }
        if (low && high) {
            /* Both roundings identify v: take the closer one, ties to even. */
            tmp = r;
            big_shl(&tmp, 1);
            int c = big_cmp(&tmp, &s);
            if (c > 0 || (c == 0 && (dig & 1)))
                dig++;
        } else if (high)
            dig++;
        digits[nd++] = (char)('0' + dig);
        break;
    }
    *k10 = k;
    return nd;
}

/* Lays out digits[0..nd) with decimal exponent n (value 0.d1d2... * 10^n) as
 * ECMAScript's Number::toString does. */
static int layout(bool neg, const char *digits, int nd, int n, char *out)
{
    char *p = out;
    if (neg)
        *p++ = '-';
    if (nd <= n && n <= 21) {
        memcpy(p, digits, (size_t)nd);
        p += nd;
        for (int i = nd; i < n; i++)
            *p++ = '0';
    } else if (0 < n && n <= 21) {
        memcpy(p, digits, (size_t)n);
        p += n;
        *p++ = '.';
        memcpy(p, digits + n, (size_t)(nd - n));
        p += nd - n;
    } else if (-6 < n && n <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -n; i++)
            *p++ = '0';
        memcpy(p, digits, (size_t)nd);
        p += nd;
    } else {
        int x = n - 1;
        *p++ = digits[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)(nd - 1));
            p += nd - 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        if (x < 0)
            x = -x;
        char tmp[4];
        int t = 0;
        do {
            tmp[t++] = (char)('0' + x % 10);
            x /= 10;
        } while (x > 0);
        while (t > 0)
            *p++ = tmp[--t];
    }
    *p = '\0';
    return (int)(p - out);
}

int corio_json_fmt_double(double v, char *out)
{
    uint64_t b = to_bits(v);
    bool neg = (b >> 63) != 0;
    unsigned bexp = (unsigned)((b >> 52) & 0x7ff);
    uint64_t frac = b & (((uint64_t)1 << 52) - 1);
    char digits[20];
    int nd, k;
    if (bexp == 0x7ff) {
        out[0] = '\0';
        return CORIO_ERR_INVAL;
    }
    if (bexp == 0 && frac == 0) {
        if (neg) {
            memcpy(out, "-0", 3);
            return 2;
        }
        memcpy(out, "0", 2);
        return 1;
    }
    double mag = neg ? -v : v;
    if (mag < 9007199254740992.0 && (double)(uint64_t)mag == mag) {
        /* An integer below 2^53: its digits are the shortest. */
        char tmp[CORIO_JSON_INT_MAX];
        nd = corio_json_fmt_uint64((uint64_t)mag, tmp);
        k = nd;
        while (nd > 1 && tmp[nd - 1] == '0')
            nd--;
        memcpy(digits, tmp, (size_t)nd);
        return layout(neg, digits, nd, k, out);
    }
    uint64_t f;
    int e;
    bool unequal;
    if (bexp == 0) {
        f = frac;
        e = -1074;
        unequal = false;
    } else {
        f = frac | ((uint64_t)1 << 52);
        e = (int)bexp - 1075;
        unequal = frac == 0 && bexp > 1;
    }
    nd = shortest_digits(f, e, unequal, digits, &k);
    if (nd < 0) {
        out[0] = '\0';
        return CORIO_ERR_UNSUPPORTED;
    }
    return layout(neg, digits, nd, k, out);
}
