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
 * double exactly, by moving bits: no float arithmetic, so no FPU and no rounding. */
static double widen(uint64_t bits, unsigned ebits, unsigned mbits)
{
    uint64_t sign = bits >> (ebits + mbits);
    uint64_t emax = (1u << ebits) - 1u;
    uint64_t exp = (bits >> mbits) & emax;
    uint64_t m = bits & ((1ull << mbits) - 1u);
    int bias = (int)(emax >> 1);
    uint64_t dexp, out;

    if (exp == emax) {
        dexp = 0x7ff; /* infinity, or NaN with its payload kept non-zero */
    } else if (exp == 0 && m == 0) {
        dexp = 0;
    } else if (exp == 0) {
        /* Subnormal here, normal as a double: shift the leading 1 into place. */
        int e = 1 - bias;
        while (!(m & (1ull << mbits))) {
            m <<= 1;
            e--;
        }
        m &= (1ull << mbits) - 1u;
        dexp = (uint64_t)(e + 1023);
    } else {
        dexp = (uint64_t)((int)exp - bias + 1023);
    }
    out = (sign << 63) | (dexp << 52) | (m << (52 - mbits));
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
    int opens = 0;

    memset(&it, 0, sizeof it);
    if (pos >= d->len)
        return CORIO_ERR_MALFORMED;
    uint8_t ib = d->buf[pos++];
    unsigned major = ib >> 5, ai = ib & 0x1fu;
    unsigned parent = d->depth ? d->kind[d->depth - 1] : 0;
    uint64_t arg = ai;

    it.major = (uint8_t)major;
    it.offset = d->pos;
    it.depth = d->depth;

    if (ai >= 24 && ai <= 27) {
        size_t n = (size_t)1 << (ai - 24);
        if (d->len - pos < n)
            return CORIO_ERR_MALFORMED;
        arg = 0;
        for (size_t i = 0; i < n; i++)
            arg = (arg << 8) | d->buf[pos + i];
        pos += n;
    } else if (ai >= 28 && ai <= 30) {
        return CORIO_ERR_MALFORMED; /* reserved */
    } else if (ai == 31 && (major == 0 || major == 1 || major == 6)) {
        return CORIO_ERR_MALFORMED; /* no indefinite form */
    }
    it.u = arg;

    /* Inside an indefinite-length string only definite chunks of its type, or the
     * break, may appear. */
    if ((parent == K_IBYTES || parent == K_ITEXT) && ib != 0xff &&
        (major != (parent == K_IBYTES ? 2u : 3u) || ai == 31))
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

    switch (major) {
    case 0:
        it.type = CORIO_CBOR_UINT;
        break;
    case 1:
        it.type = CORIO_CBOR_NEGINT;
        break;
    case 2:
    case 3:
        it.type = major == 2 ? CORIO_CBOR_BYTES : CORIO_CBOR_TEXT;
        if (ai == 31) {
            it.indefinite = true;
            it.u = 0;
            opens = 1;
            push = major == 2 ? K_IBYTES : K_ITEXT;
        } else {
            if (arg > d->len - pos)
                return CORIO_ERR_MALFORMED;
            it.ptr = d->buf + pos;
            it.len = (size_t)arg;
            pos += (size_t)arg;
        }
        break;
    case 4:
    case 5:
        it.type = major == 4 ? CORIO_CBOR_ARRAY : CORIO_CBOR_MAP;
        opens = 1;
        if (ai == 31) {
            it.indefinite = true;
            it.u = 0;
            push = major == 4 ? K_IARRAY : K_IMAP;
        } else {
            /* Each item takes at least one byte: a larger count is truncated input. */
            size_t room = d->len - pos;
            if (major == 5)
                room /= 2;
            if (arg > room)
                return CORIO_ERR_MALFORMED;
            if (arg > 0) {
                push = major == 4 ? K_ARRAY : K_MAP;
                push_left = major == 4 ? (size_t)arg : 2 * (size_t)arg;
            }
        }
        break;
    case 6:
        it.type = CORIO_CBOR_TAG;
        opens = 1;
        push = K_TAG;
        push_left = 1;
        break;
    default: /* 7 */
        if (ai < 20) {
            it.type = CORIO_CBOR_SIMPLE;
        } else if (ai < 24) {
            static const enum corio_cbor_type fixed[4] = {
                CORIO_CBOR_FALSE, CORIO_CBOR_TRUE, CORIO_CBOR_NULL, CORIO_CBOR_UNDEFINED};
            it.type = fixed[ai - 20];
        } else if (ai == 24) {
            if (arg < 32)
                return CORIO_ERR_MALFORMED; /* reserved two-byte simple value */
            it.type = CORIO_CBOR_SIMPLE;
        } else {
            it.type = CORIO_CBOR_FLOAT;
            it.float_size = (uint8_t)(1u << (ai - 24));
            if (ai == 25) {
                it.f = widen(arg, 5, 10);
            } else if (ai == 26) {
                it.f = widen(arg, 8, 23);
            } else {
                memcpy(&it.f, &arg, sizeof it.f);
            }
        }
        break;
    }

    if (opens && d->depth >= CORIO_CBOR_MAX_DEPTH)
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
    int rc = corio_cbor_next(&t, &it);
    if (rc != CORIO_OK)
        return rc;
    if (it.type == CORIO_CBOR_BREAK)
        return CORIO_ERR_MALFORMED;
    /* Frames above base belong to this item; it ends when the last of them closes. */
    while (t.depth > base) {
        rc = corio_cbor_next(&t, &it);
        if (rc != CORIO_OK)
            return rc;
    }
    *d = t;
    return CORIO_OK;
}

/* ------------------------------------------------------------------------------ */
/* Typed getters                                                                  */
/* ------------------------------------------------------------------------------ */

/* Reads the next item on a copy and commits only if it is of the wanted type. */
static int take(struct corio_cbor_dec *d, struct corio_cbor_item *it,
                enum corio_cbor_type type, struct corio_cbor_dec *t)
{
    *t = *d;
    int rc = corio_cbor_next(t, it);
    if (rc != CORIO_OK)
        return rc;
    return it->type == type ? CORIO_OK : CORIO_ERR_MALFORMED;
}

int corio_cbor_expect_uint(struct corio_cbor_dec *d, uint64_t *v)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take(d, &it, CORIO_CBOR_UINT, &t);
    if (rc != CORIO_OK)
        return rc;
    *v = it.u;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_int(struct corio_cbor_dec *d, int64_t *v)
{
    struct corio_cbor_dec t = *d;
    struct corio_cbor_item it;
    int rc = corio_cbor_next(&t, &it);
    if (rc != CORIO_OK)
        return rc;
    if ((it.type != CORIO_CBOR_UINT && it.type != CORIO_CBOR_NEGINT) ||
        it.u > (uint64_t)INT64_MAX)
        return CORIO_ERR_MALFORMED;
    *v = it.type == CORIO_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
    *d = t;
    return CORIO_OK;
}

static int take_string(struct corio_cbor_dec *d, enum corio_cbor_type type,
                       struct corio_cbor_item *it, struct corio_cbor_dec *t)
{
    int rc = take(d, it, type, t);
    if (rc != CORIO_OK)
        return rc;
    return it->indefinite ? CORIO_ERR_UNSUPPORTED : CORIO_OK;
}

int corio_cbor_expect_bytes(struct corio_cbor_dec *d, const uint8_t **p, size_t *n)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take_string(d, CORIO_CBOR_BYTES, &it, &t);
    if (rc != CORIO_OK)
        return rc;
    *p = it.ptr;
    *n = it.len;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_text(struct corio_cbor_dec *d, const char **s, size_t *n)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take_string(d, CORIO_CBOR_TEXT, &it, &t);
    if (rc != CORIO_OK)
        return rc;
    if (!corio__utf8_ok(it.ptr, it.len))
        return CORIO_ERR_MALFORMED;
    *s = (const char *)it.ptr;
    *n = it.len;
    *d = t;
    return CORIO_OK;
}

static int expect_container(struct corio_cbor_dec *d, enum corio_cbor_type type,
                            uint64_t *count)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take(d, &it, type, &t);
    if (rc != CORIO_OK)
        return rc;
    *count = it.indefinite ? CORIO_CBOR_INDEFINITE : it.u;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_array(struct corio_cbor_dec *d, uint64_t *count)
{
    return expect_container(d, CORIO_CBOR_ARRAY, count);
}

int corio_cbor_expect_map(struct corio_cbor_dec *d, uint64_t *pairs)
{
    return expect_container(d, CORIO_CBOR_MAP, pairs);
}

int corio_cbor_expect_tag(struct corio_cbor_dec *d, uint64_t *tag)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take(d, &it, CORIO_CBOR_TAG, &t);
    if (rc != CORIO_OK)
        return rc;
    *tag = it.u;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_bool(struct corio_cbor_dec *d, bool *v)
{
    struct corio_cbor_dec t = *d;
    struct corio_cbor_item it;
    int rc = corio_cbor_next(&t, &it);
    if (rc != CORIO_OK)
        return rc;
    if (it.type != CORIO_CBOR_FALSE && it.type != CORIO_CBOR_TRUE)
        return CORIO_ERR_MALFORMED;
    *v = it.type == CORIO_CBOR_TRUE;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_null(struct corio_cbor_dec *d)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take(d, &it, CORIO_CBOR_NULL, &t);
    if (rc != CORIO_OK)
        return rc;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_simple(struct corio_cbor_dec *d, uint8_t *v)
{
    struct corio_cbor_dec t = *d;
    struct corio_cbor_item it;
    int rc = corio_cbor_next(&t, &it);
    if (rc != CORIO_OK)
        return rc;
    if (it.type < CORIO_CBOR_SIMPLE || it.type > CORIO_CBOR_UNDEFINED)
        return CORIO_ERR_MALFORMED;
    *v = (uint8_t)it.u;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_float(struct corio_cbor_dec *d, double *v)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take(d, &it, CORIO_CBOR_FLOAT, &t);
    if (rc != CORIO_OK)
        return rc;
    *v = it.f;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_number(struct corio_cbor_dec *d, double *v)
{
    struct corio_cbor_dec t = *d;
    struct corio_cbor_item it;
    int rc = corio_cbor_next(&t, &it);
    if (rc != CORIO_OK)
        return rc;
    if (it.type == CORIO_CBOR_FLOAT)
        *v = it.f;
    else if (it.type == CORIO_CBOR_UINT)
        *v = (double)it.u;
    else if (it.type == CORIO_CBOR_NEGINT)
        /* -(u + 1) rounded once: -1.0 - (double)u would round twice (u's conversion,
         * then the sum), which for |v| above 2^53 can miss the nearest double. */
        *v = it.u == UINT64_MAX ? -18446744073709551616.0 : -(double)(it.u + 1);
    else
        return CORIO_ERR_MALFORMED;
    *d = t;
    return CORIO_OK;
}

int corio_cbor_expect_break(struct corio_cbor_dec *d)
{
    struct corio_cbor_dec t;
    struct corio_cbor_item it;
    int rc = take(d, &it, CORIO_CBOR_BREAK, &t);
    if (rc != CORIO_OK)
        return rc;
    *d = t;
    return CORIO_OK;
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
