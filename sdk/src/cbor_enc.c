/*
 * cbor_enc.c - the CBOR encoder (include/corio/cbor.h): items over a caller buffer
 * with a sticky error, a size-only mode, shortest heads and floats (RFC 8949 §4.2.1),
 * reserved and wrapped byte strings.
 *
 * Every writer checks room for its whole item before writing a byte, so after an
 * error the buffer holds exactly the items that fitted and len says how many bytes.
 */
#include <limits.h>
#include <string.h>

#include "corio/cbor.h"

void corio_cbor_enc_init(struct corio_cbor_enc *e, uint8_t *buf, size_t cap)
{
    e->buf = buf;
    e->cap = buf ? cap : SIZE_MAX;
    e->len = 0;
    e->err = CORIO_OK;
}

size_t corio_cbor_enc_len(const struct corio_cbor_enc *e)
{
    return e->len;
}

int corio_cbor_enc_error(const struct corio_cbor_enc *e)
{
    return e->err;
}

int corio_cbor_enc_finish(const struct corio_cbor_enc *e)
{
    if (e->err != CORIO_OK)
        return e->err;
    if (e->len > (size_t)INT_MAX)
        return CORIO_ERR_NOSPACE;
    return (int)e->len;
}

static int fail(struct corio_cbor_enc *e, int err)
{
    if (e->err == CORIO_OK)
        e->err = err;
    return e->err;
}

/* Writes the head of major type major with argument arg into h; returns its size. */
static size_t head(uint8_t h[9], unsigned major, uint64_t arg)
{
    size_t n = 0;
    unsigned ai = (unsigned)arg;
    if (arg >= 24) {
        /* 1, 2, 4 or 8 argument bytes: additional information 24..27. */
        for (n = 1, ai = 24; n < 8 && arg >> (8 * n) != 0; n *= 2)
            ai++;
        for (size_t i = n; i > 0; i--) {
            h[i] = (uint8_t)arg;
            arg >>= 8;
        }
    }
    h[0] = (uint8_t)(major << 5 | ai);
    return n + 1;
}

/* Appends h[0..hn) and then n bytes of body (body may be NULL: zero-filled), all or
 * nothing. In size-only mode cap is SIZE_MAX, so counting stops only at overflow. */
static int put(struct corio_cbor_enc *e, const uint8_t *h, size_t hn, const void *body,
               size_t n)
{
    if (e->err != CORIO_OK)
        return e->err;
    if (n > e->cap - e->len || hn > e->cap - e->len - n)
        return fail(e, CORIO_ERR_NOSPACE);
    if (e->buf) {
        uint8_t *p = e->buf + e->len;
        if (hn)
            memcpy(p, h, hn);
        if (body)
            memcpy(p + hn, body, n);
        else
            memset(p + hn, 0, n);
    }
    e->len += hn + n;
    return CORIO_OK;
}

/* Appends a head and then n bytes of body, as put(). */
static int put_head_body(struct corio_cbor_enc *e, unsigned major, uint64_t arg,
                         const void *body, size_t n)
{
    uint8_t h[9];
    return put(e, h, head(h, major, arg), body, n);
}

int corio_cbor_put_uint(struct corio_cbor_enc *e, uint64_t v)
{
    return put_head_body(e, 0, v, NULL, 0);
}

int corio_cbor_put_negint(struct corio_cbor_enc *e, uint64_t n)
{
    return put_head_body(e, 1, n, NULL, 0);
}

int corio_cbor_put_int(struct corio_cbor_enc *e, int64_t v)
{
    if (v >= 0)
        return put_head_body(e, 0, (uint64_t)v, NULL, 0);
    /* -1 - v without overflow: the bitwise complement of the two's complement. */
    return put_head_body(e, 1, ~(uint64_t)v, NULL, 0);
}

/* A byte (major 2) or text (major 3) string copied from p[0..n). */
static int put_string(struct corio_cbor_enc *e, unsigned major, const void *p, size_t n)
{
    if (n && !p)
        return fail(e, CORIO_ERR_INVAL);
    return put_head_body(e, major, n, p, n);
}

int corio_cbor_put_bytes(struct corio_cbor_enc *e, const void *p, size_t n)
{
    return put_string(e, 2, p, n);
}

int corio_cbor_put_text(struct corio_cbor_enc *e, const char *s, size_t n)
{
    return put_string(e, 3, s, n);
}

int corio_cbor_put_textz(struct corio_cbor_enc *e, const char *s)
{
    return put_string(e, 3, s, s ? strlen(s) : 1); /* NULL: CORIO_ERR_INVAL */
}

int corio_cbor_put_array(struct corio_cbor_enc *e, uint64_t count)
{
    return put_head_body(e, 4, count, NULL, 0);
}

int corio_cbor_put_map(struct corio_cbor_enc *e, uint64_t pairs)
{
    return put_head_body(e, 5, pairs, NULL, 0);
}

int corio_cbor_put_tag(struct corio_cbor_enc *e, uint64_t tag)
{
    return put_head_body(e, 6, tag, NULL, 0);
}

int corio_cbor_put_simple(struct corio_cbor_enc *e, uint8_t v)
{
    if (v >= 24 && v < 32) {
        return fail(e, CORIO_ERR_INVAL);
    }
    return put_head_body(e, 7, v, NULL, 0);
}

int corio_cbor_put_bool(struct corio_cbor_enc *e, bool v)
{
    return put_head_body(e, 7, v ? 21u : 20u, NULL, 0);
}

int corio_cbor_put_null(struct corio_cbor_enc *e)
{
    return put_head_body(e, 7, 22, NULL, 0);
}

int corio_cbor_put_undefined(struct corio_cbor_enc *e)
{
    return put_head_body(e, 7, 23, NULL, 0);
}

/*
 * The shortest of binary16/32/64 that holds v exactly, written as an item into h;
 * returns its size (3, 5 or 9). Pure integer work on the bits: a C cast from double
 * to float is undefined when out of range, and bits also keep -0.0 and subnormals
 * exact. v = (2^52 + m) * 2^(e - 52) for a normal double; a narrower format holds it
 * when e is in its range and the low mantissa bits it lacks are zero.
 */
static size_t float_item(uint8_t h[9], double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    uint64_t sign = b >> 63;
    unsigned bexp = (unsigned)((b >> 52) & 0x7ffu);
    uint64_t m = b & 0xfffffffffffffull;
    uint64_t half = 0, single = 0;
    int fits_half = 0, fits_single = 0;

    if (bexp == 0x7ffu) {
        half = m ? 0x7e00u : (sign << 15) | 0x7c00u;
        fits_half = 1;
    } else if (bexp == 0) {
        /* Zero fits binary16; a double subnormal (< 2^-1022) fits nothing narrower. */
        fits_half = m == 0;
        half = sign << 15;
    } else {
        int e = (int)bexp - 1023;
        uint64_t full = (1ull << 52) | m;
        if (e >= -14 && e <= 15 && (m & ((1ull << 42) - 1)) == 0) {
            half = (sign << 15) | ((uint64_t)(e + 15) << 10) | (m >> 42);
            fits_half = 1;
        } else if (e >= -24 && e < -14) {
            unsigned shift = (unsigned)(28 - e); /* 43..52 */
            if ((full & ((1ull << shift) - 1)) == 0) {
                half = (sign << 15) | (full >> shift);
                fits_half = 1;
            }
        }
        if (!fits_half) {
            if (e >= -126 && e <= 127 && (m & ((1ull << 29) - 1)) == 0) {
                single = (sign << 31) | ((uint64_t)(e + 127) << 23) | (m >> 29);
                fits_single = 1;
            } else if (e >= -149 && e < -126) {
                unsigned shift = (unsigned)(-97 - e); /* 30..52 */
                if ((full & ((1ull << shift) - 1)) == 0) {
                    single = (sign << 31) | (full >> shift);
                    fits_single = 1;
                }
            }
        }
    }

    uint64_t bits;
    size_t n;
    if (fits_half) {
        h[0] = 0xf9;
        bits = half;
        n = 2;
    } else if (fits_single) {
        h[0] = 0xfa;
        bits = single;
        n = 4;
    } else {
        h[0] = 0xfb;
        bits = b;
        n = 8;
    }
    for (size_t i = 0; i < n; i++)
        h[n - i] = (uint8_t)(bits >> (8 * i));
    return n + 1;
}

int corio_cbor_put_double(struct corio_cbor_enc *e, double v)
{
    uint8_t h[9];
    return put(e, h, float_item(h, v), NULL, 0);
}

int corio_cbor_put_float(struct corio_cbor_enc *e, float v)
{
    return corio_cbor_put_double(e, (double)v);
}

int corio_cbor_put_raw(struct corio_cbor_enc *e, const void *p, size_t n)
{
    if (n && !p)
        return fail(e, CORIO_ERR_INVAL);
    return put(e, p, n, NULL, 0);
}

int corio_cbor_put_bytes_reserve(struct corio_cbor_enc *e, size_t n, uint8_t **content)
{
    *content = NULL;
    if (put_head_body(e, 2, n, NULL, n) != CORIO_OK)
        return e->err;
    if (e->buf)
        *content = e->buf + e->len - n;
    return CORIO_OK;
}

/* The open wrap holds a one-byte head (an empty byte string, 0x40) until it ends. */
int corio_cbor_put_bstr_begin(struct corio_cbor_enc *e, struct corio_cbor_wrap *w)
{
    static const uint8_t empty = 0x40;
    w->start = e->len;
    return corio_cbor_put_raw(e, &empty, 1);
}

int corio_cbor_put_bstr_end(struct corio_cbor_enc *e, const struct corio_cbor_wrap *w)
{
    if (e->err != CORIO_OK)
        return e->err;
    if (w->start >= e->len || (e->buf && e->buf[w->start] != 0x40))
        return fail(e, CORIO_ERR_INVAL);
    size_t content = e->len - w->start - 1;
    uint8_t h[9];
    size_t hn = head(h, 2, content);
    /* Grow by the head's extra bytes, then move the content up behind the head. */
    if (put(e, NULL, 0, NULL, hn - 1) != CORIO_OK)
        return e->err;
    if (e->buf) {
        memmove(e->buf + w->start + hn, e->buf + w->start + 1, content);
        memcpy(e->buf + w->start, h, hn);
    }
    return CORIO_OK;
}
