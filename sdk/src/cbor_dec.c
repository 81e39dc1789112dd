/*
 * cbor_dec.c - the CBOR decoder (include/corio/cbor.h): a pull cursor over a const
 * buffer, typed getters, and the well-formed and deterministic validators.
 *
 * The cursor keeps a fixed stack of open containers so that it can refuse, at the
 * byte where it happens, everything RFC 8949 Appendix C calls not well-formed: a
 * break outside an indefinite-length item or in a map's value position, a chunk of
 * the wrong kind inside an indefinite-length string, a tag without content, input
 * that ends early. Counts are checked against the bytes left (every item takes at
 * least one byte), so a hostile count can neither overflow nor make a caller loop
 * long. Every check happens before the cursor changes, so a failed call leaves it
 * as it was.
 */
#include <string.h>

#include "corio/cbor.h"
#include "corio_int.h"

/* What an open container is (struct corio_cbor_dec.kind). Definite containers count
 * down the items they still need in .left; indefinite ones count up the items seen,
 * whose parity says whether a map's break is in a key position. */
enum {
    K_ARRAY = 1,
    K_MAP,
    K_TAG,
    K_IARRAY,
    K_IMAP,
    K_IBYTES,
    K_ITEXT,
};

void corio_cbor_dec_init(struct corio_cbor_dec *d, const uint8_t *buf, size_t len)
{
    memset(d, 0, sizeof *d);
    d->buf = buf;
    d->len = buf ? len : 0;
}

size_t corio_cbor_dec_offset(const struct corio_cbor_dec *d)
{
    return d->pos;
}

unsigned corio_cbor_dec_depth(const struct corio_cbor_dec *d)
{
    return d->depth;
}

int corio_cbor_dec_finish(const struct corio_cbor_dec *d)
{
    return d->pos == d->len && d->depth == 0 ? CORIO_OK : CORIO_ERR_MALFORMED;
}

bool corio_cbor_at_break(const struct corio_cbor_dec *d)
{
    return d->pos < d->len && d->buf[d->pos] == 0xff;
}

/* An item finished at the current level: count it, and close every definite
 * container it completes (a container is in turn one item of its parent). */
static void complete(struct corio_cbor_dec *d)
{
    while (d->depth > 0) {
        unsigned top = d->depth - 1;
        if (d->kind[top] >= K_IARRAY) {
            d->left[top]++;
            return;
        }
        if (--d->left[top] > 0)
            return;
        d->depth--;
    }
}

/* Widens an IEEE binary16 or binary32 (ebits exponent and mbits mantissa bits) to a
 * double exactly, by moving bits: no float arithmetic, so no FPU and no rounding.
 * 32-bit work until the last step, which keeps 64-bit shifts out of a 32-bit core. */
static double widen(uint32_t bits, unsigned ebits, unsigned mbits)
{
    uint32_t emax = (1u << ebits) - 1u;
    uint32_t exp = (bits >> mbits) & emax;
    uint32_t m = bits & ((1u << mbits) - 1u);
    uint32_t dexp = exp + 1023u - (emax >> 1); /* a normal number */

    if (exp == emax) {
        dexp = 0x7ff; /* infinity, or NaN with its payload kept non-zero */
    } else if (exp == 0) {
        dexp = 0;
        if (m != 0) {
            /* Subnormal here, normal as a double: shift the leading 1 into place. */
            dexp = 1024u - (emax >> 1);
            while (!(m & (1u << mbits))) {
                m <<= 1;
                dexp--;
            }
            m &= (1u << mbits) - 1u;
        }
    }
    uint32_t hi = (bits >> (ebits + mbits)) << 31 | dexp << 20;
    uint64_t out = (uint64_t)hi << 32 | (uint64_t)m << (52 - mbits);
    double v;
    memcpy(&v, &out, sizeof v);
    return v;
}

int corio_cbor_next(struct corio_cbor_dec *d, struct corio_cbor_item *out)
{
    struct corio_cbor_item it;
    size_t pos = d->pos;
    unsigned push = 0;
    size_t push_left = 0;

    if (pos >= d->len)
        return CORIO_ERR_MALFORMED;
    memset(&it, 0, sizeof it);
    uint8_t ib = d->buf[pos++];
    unsigned major = ib >> 5, ai = ib & 0x1fu;
    unsigned parent = d->depth ? d->kind[d->depth - 1] : 0;
    uint64_t arg = ai;

    it.major = (uint8_t)major;
    it.offset = d->pos;
    it.depth = d->depth;

    if (ai >= 24) {
        if (ai <= 27) {
            size_t n = (size_t)1 << (ai - 24);
            if (d->len - pos < n)
                return CORIO_ERR_MALFORMED;
            arg = 0;
            while (n--)
                arg = (arg << 8) | d->buf[pos++];
        } else if (ai < 31 || major < 2 || major == 6) {
            return CORIO_ERR_MALFORMED; /* reserved, or no indefinite form */
        }
    }
    it.u = arg;

    /* Inside an indefinite-length string only definite chunks of its type, or the
     * break, may appear. */
    if (parent >= K_IBYTES && ib != 0xff && (major != parent - 4u || ai == 31))
        return CORIO_ERR_MALFORMED;

    if (ib == 0xff) {
        if (parent < K_IARRAY)
            return CORIO_ERR_MALFORMED;
        if (parent == K_IMAP && (d->left[d->depth - 1] & 1u))
            return CORIO_ERR_MALFORMED; /* a key without its value */
        it.type = CORIO_CBOR_BREAK;
        it.u = 0;
        it.depth = d->depth - 1;
        d->pos = pos;
        d->depth--;
        complete(d);
        *out = it;
        return CORIO_OK;
    }

    /* Major types 0..6 are CORIO_CBOR_UINT .. CORIO_CBOR_TAG in order. */
    it.type = (enum corio_cbor_type)major;
    if (ai == 31) {
        /* An indefinite string, array or map (the others were refused above). */
        it.indefinite = true;
        it.u = 0;
        push = major < 4 ? major + 4 : major; /* K_IBYTES, K_ITEXT, K_IARRAY, K_IMAP */
    } else if (major == 2 || major == 3) {
        if (arg > d->len - pos)
            return CORIO_ERR_MALFORMED;
        it.ptr = d->buf + pos;
        it.len = (size_t)arg;
        pos += (size_t)arg;
    } else if (major == 4 || major == 5) {
        /* Each item takes at least one byte: a larger count is truncated input. */
        if (arg > (d->len - pos) >> (major - 4))
            return CORIO_ERR_MALFORMED;
        if (arg > 0) {
            push = major - 3; /* K_ARRAY, K_MAP */
            push_left = (size_t)arg << (major - 4);
        }
    } else if (major == 6) {
        push = K_TAG;
        push_left = 1;
    } else if (major == 7) {
        if (ai >= 20 && ai < 24) {
            it.type = (enum corio_cbor_type)(CORIO_CBOR_FALSE + (ai - 20));
        } else if (ai == 24 && arg < 32) {
            return CORIO_ERR_MALFORMED; /* reserved two-byte simple value */
        } else if (ai >= 25) {
            it.type = CORIO_CBOR_FLOAT;
            it.float_size = (uint8_t)(1u << (ai - 24));
            if (ai == 27)
                memcpy(&it.f, &arg, sizeof it.f);
            else
                it.f = ai == 25 ? widen((uint32_t)arg, 5, 10) : widen((uint32_t)arg, 8, 23);
        }
    }

    /* Every array, map or tag opens a level (an empty one closes it at once). */
    if ((push || major == 4 || major == 5) && d->depth >= CORIO_CBOR_MAX_DEPTH)
        return CORIO_ERR_UNSUPPORTED;

    d->pos = pos;
    if (push) {
        d->kind[d->depth] = (uint8_t)push;
        d->left[d->depth] = push_left;
        d->depth++;
    } else {
        complete(d);
    }
    *out = it;
    return CORIO_OK;
}

int corio_cbor_peek(const struct corio_cbor_dec *d, struct corio_cbor_item *it)
{
    struct corio_cbor_dec t = *d;
    return corio_cbor_next(&t, it);
}

int corio_cbor_skip(struct corio_cbor_dec *d)
{
    struct corio_cbor_dec t = *d;
    struct corio_cbor_item it;
    unsigned base = t.depth;
    /* Frames above base belong to this item; it ends when the last of them closes. A
     * break below base ends the container around it: no item to skip. */
    do {
        int rc = corio_cbor_next(&t, &it);
        if (rc != CORIO_OK)
            return rc;
        if (it.type == CORIO_CBOR_BREAK && it.depth < base)
            return CORIO_ERR_MALFORMED;
    } while (t.depth > base);
    *d = t;
    return CORIO_OK;
}

/* ------------------------------------------------------------------------------ */
/* Typed getters                                                                  */
/* ------------------------------------------------------------------------------ */

#define T(type) (1u << (type))
/* Checks get() makes beyond the type, above the type bits. */
#define G_DEFINITE (1u << 20) /* an indefinite string is CORIO_ERR_UNSUPPORTED */
#define G_UTF8 (1u << 21)     /* the text must be UTF-8 */
#define G_INT64 (1u << 22)    /* the argument must fit int64_t (as -1 - u for NEGINT) */

/* The one reader behind every getter: reads the next item on a copy and commits only
 * if its type is one of want's type bits and it passes want's checks. */
static int get(struct corio_cbor_dec *d, struct corio_cbor_item *it, uint32_t want)
{
    struct corio_cbor_dec t = *d;
    int rc = corio_cbor_next(&t, it);
    if (rc != CORIO_OK)
        return rc;
    if (!(want & T(it->type)) || ((want & G_INT64) && it->u > (uint64_t)INT64_MAX))
        return CORIO_ERR_MALFORMED;
    if ((want & G_DEFINITE) && it->indefinite)
        return CORIO_ERR_UNSUPPORTED;
    if ((want & G_UTF8) && !corio__utf8_ok(it->ptr, it->len))
        return CORIO_ERR_MALFORMED;
    if (it->indefinite)
        it->u = CORIO_CBOR_INDEFINITE; /* the count of an indefinite container */
    *d = t;
    return CORIO_OK;
}

/* An item of one of want's types: its head's argument (CORIO_CBOR_INDEFINITE for an
 * indefinite container). */
static int get_u(struct corio_cbor_dec *d, uint64_t *v, uint32_t want)
{
    struct corio_cbor_item it;
    int rc = get(d, &it, want);
    if (rc == CORIO_OK)
        *v = it.u;
    return rc;
}

int corio_cbor_expect_uint(struct corio_cbor_dec *d, uint64_t *v)
{
    return get_u(d, v, T(CORIO_CBOR_UINT));
}

int corio_cbor_expect_int(struct corio_cbor_dec *d, int64_t *v)
{
    struct corio_cbor_item it;
    int rc = get(d, &it, T(CORIO_CBOR_UINT) | T(CORIO_CBOR_NEGINT) | G_INT64);
    if (rc == CORIO_OK)
        *v = it.type == CORIO_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
    return rc;
}

/* A definite string of type (with want's checks): its content. */
static int get_string(struct corio_cbor_dec *d, const void **p, size_t *n, uint32_t want)
{
    struct corio_cbor_item it;
    int rc = get(d, &it, want | G_DEFINITE);
    if (rc == CORIO_OK) {
        *p = it.ptr;
        *n = it.len;
    }
    return rc;
}

int corio_cbor_expect_bytes(struct corio_cbor_dec *d, const uint8_t **p, size_t *n)
{
    return get_string(d, (const void **)p, n, T(CORIO_CBOR_BYTES));
}

int corio_cbor_expect_text(struct corio_cbor_dec *d, const char **s, size_t *n)
{
    return get_string(d, (const void **)s, n, T(CORIO_CBOR_TEXT) | G_UTF8);
}

int corio_cbor_expect_array(struct corio_cbor_dec *d, uint64_t *count)
{
    return get_u(d, count, T(CORIO_CBOR_ARRAY));
}

int corio_cbor_expect_map(struct corio_cbor_dec *d, uint64_t *pairs)
{
    return get_u(d, pairs, T(CORIO_CBOR_MAP));
}

int corio_cbor_expect_tag(struct corio_cbor_dec *d, uint64_t *tag)
{
    return get_u(d, tag, T(CORIO_CBOR_TAG));
}

int corio_cbor_expect_bool(struct corio_cbor_dec *d, bool *v)
{
    struct corio_cbor_item it;
    int rc = get(d, &it, T(CORIO_CBOR_FALSE) | T(CORIO_CBOR_TRUE));
    if (rc == CORIO_OK)
        *v = it.type == CORIO_CBOR_TRUE;
    return rc;
}

int corio_cbor_expect_null(struct corio_cbor_dec *d)
{
    struct corio_cbor_item it;
    return get(d, &it, T(CORIO_CBOR_NULL));
}

int corio_cbor_expect_simple(struct corio_cbor_dec *d, uint8_t *v)
{
    struct corio_cbor_item it;
    int rc = get(d, &it,
                 T(CORIO_CBOR_SIMPLE) | T(CORIO_CBOR_FALSE) | T(CORIO_CBOR_TRUE) |
                     T(CORIO_CBOR_NULL) | T(CORIO_CBOR_UNDEFINED));
    if (rc == CORIO_OK)
        *v = (uint8_t)it.u;
    return rc;
}

int corio_cbor_expect_float(struct corio_cbor_dec *d, double *v)
{
    struct corio_cbor_item it;
    int rc = get(d, &it, T(CORIO_CBOR_FLOAT));
    if (rc == CORIO_OK)
        *v = it.f;
    return rc;
}

int corio_cbor_expect_number(struct corio_cbor_dec *d, double *v)
{
    struct corio_cbor_item it;
    int rc = get(d, &it, T(CORIO_CBOR_FLOAT) | T(CORIO_CBOR_UINT) | T(CORIO_CBOR_NEGINT));
    if (rc != CORIO_OK)
        return rc;
    if (it.type == CORIO_CBOR_FLOAT)
        *v = it.f;
    else if (it.type == CORIO_CBOR_UINT)
        *v = (double)it.u;
    else
        /* -(u + 1) rounded once: -1.0 - (double)u would round twice (u's conversion,
         * then the sum), which for |v| above 2^53 can miss the nearest double. */
        *v = it.u == UINT64_MAX ? -18446744073709551616.0 : -(double)(it.u + 1);
    return CORIO_OK;
}

int corio_cbor_expect_break(struct corio_cbor_dec *d)
{
    struct corio_cbor_item it;
    return get(d, &it, T(CORIO_CBOR_BREAK));
}

/* ------------------------------------------------------------------------------ */
/* Validators                                                                     */
/* ------------------------------------------------------------------------------ */

int corio_cbor_wellformed(const uint8_t *buf, size_t len)
{
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    int rc = corio_cbor_skip(&d);
    if (rc != CORIO_OK)
        return rc;
    return d.pos == d.len ? CORIO_OK : CORIO_ERR_MALFORMED;
}

/* Bytewise lexicographic order of two encodings; a proper prefix sorts first. */
static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Whether the head of it (at buf + it->offset) is the shortest for its argument. */
static int head_is_shortest(const uint8_t *buf, const struct corio_cbor_item *it)
{
    unsigned ai = buf[it->offset] & 0x1fu;
    switch (ai) {
    case 24: return it->u >= 24;
    case 25: return it->u > 0xffu;
    case 26: return it->u > 0xffffu;
    case 27: return it->u > 0xffffffffu;
    default: return 1;
    }
}

/* Whether a float item is exactly what the encoder writes for its value. */
static int float_is_shortest(const uint8_t *buf, const struct corio_cbor_item *it)
{
    uint8_t tmp[9];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, tmp, sizeof tmp);
    corio_cbor_put_double(&e, it->f);
    size_t n = corio_cbor_enc_len(&e);
    return n == 1u + it->float_size && memcmp(tmp, buf + it->offset, n) == 0;
}

int corio_cbor_deterministic(const uint8_t *buf, size_t len)
{
    struct corio_cbor_dec d;
    struct corio_cbor_item it;
    /* Per open map: where the key being read starts, and the previous key. */
    size_t key_at[CORIO_CBOR_MAX_DEPTH];
    size_t prev_at[CORIO_CBOR_MAX_DEPTH], prev_end[CORIO_CBOR_MAX_DEPTH];
    int policy = 0;

    corio_cbor_dec_init(&d, buf, len);
    do {
        if (d.depth > 0 && d.kind[d.depth - 1] == K_MAP) {
            unsigned lvl = d.depth - 1;
            if ((d.left[lvl] & 1u) == 0) {
                key_at[lvl] = d.pos;
            } else {
                /* The value starts here, so the key just ended. */
                if (prev_end[lvl] != 0 &&
                    bytes_cmp(buf + prev_at[lvl], prev_end[lvl] - prev_at[lvl],
                              buf + key_at[lvl], d.pos - key_at[lvl]) >= 0)
                    policy = 1;
                prev_at[lvl] = key_at[lvl];
                prev_end[lvl] = d.pos;
            }
        }
        int rc = corio_cbor_next(&d, &it);
        if (rc != CORIO_OK)
            return rc;
        if (it.type == CORIO_CBOR_MAP && !it.indefinite && it.u > 0)
            prev_end[it.depth] = 0; /* no key seen yet; a key never ends at offset 0 */
        if (it.indefinite)
            policy = 1;
        else if (it.type == CORIO_CBOR_FLOAT)
            policy |= !float_is_shortest(buf, &it);
        else if (it.type != CORIO_CBOR_BREAK)
            policy |= !head_is_shortest(buf, &it);
    } while (d.depth > 0);

    if (d.pos != d.len)
        return CORIO_ERR_MALFORMED;
    return policy ? CORIO_ERR_POLICY : CORIO_OK;
}
