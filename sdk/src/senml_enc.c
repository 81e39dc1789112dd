/*
 * senml_enc.c - the SenML pack encoder (include/corio/senml.h), JSON and CBOR behind
 * one API, and the output it and the heartbeat write both formats through
 * (senml_int.h).
 *
 * Each record is checked whole before a byte of it is written, against the same rules
 * the decoder applies, so a device cannot emit a pack that the cloud will refuse. The
 * CBOR array's length is unknown until the end, so records are written from offset 0
 * and finish appends the array head and rotates it to the front; the buffer never
 * needs more room than the final pack.
 */
#include <stddef.h>
#include <string.h>

#include "corio_int.h"
#include "senml_int.h"

/* ------------------------------------------------------------------------------ */
/* Output: one call per item for both formats                                     */
/* ------------------------------------------------------------------------------ */

void corio__out_init(struct corio_senml_out *o, bool json, uint8_t *buf, size_t cap)
{
    o->json = json;
    corio_cbor_enc_init(&o->w.out, buf, cap); /* what corio_json_w_init() does */
}

int corio__out_error(const struct corio_senml_out *o)
{
    return corio_cbor_enc_error(&o->w.out);
}

int corio__out_finish(const struct corio_senml_out *o)
{
    return corio_cbor_enc_finish(&o->w.out);
}

void corio__out_raw(struct corio_senml_out *o, const void *p, size_t n)
{
    corio_cbor_put_raw(&o->w.out, p, n);
}

void corio__out_key(struct corio_senml_out *o, const char *text, int label, bool first)
{
    size_t n = strlen(text);
    char h = (char)(0x60 | n); /* CBOR: the head of a text string of n bytes */
    if (o->json) {
        corio__out_raw(o, &",\""[first], 2u - first);
    } else {
        if (label != CORIO__TEXT_LABEL) {
            /* SenML's integer labels, -6..8, are one-byte CBOR integers. */
            h = (char)(label >= 0 ? label : 0x20 | (-1 - label));
            n = 0;
        }
        corio__out_raw(o, &h, 1);
    }
    corio__out_raw(o, text, n);
    if (o->json)
        corio__out_raw(o, "\":", 2);
}

void corio__out_uint(struct corio_senml_out *o, uint64_t u)
{
    if (o->json)
        corio_json_w_uint64(&o->w, u);
    else
        corio_cbor_put_uint(&o->w.out, u);
}

/* ------------------------------------------------------------------------------ */
/* The encoder                                                                    */
/* ------------------------------------------------------------------------------ */

static int enc_error(const struct corio_senml_enc *e)
{
    return e->err != CORIO_OK ? e->err : corio__out_error(&e->out);
}

static int enc_fail(struct corio_senml_enc *e, int err)
{
    if (e->err == CORIO_OK)
        e->err = err;
    return enc_error(e);
}

void corio_senml_enc_init(struct corio_senml_enc *e, enum corio_format fmt, uint8_t *buf,
                          size_t cap)
{
    memset(e, 0, sizeof *e);
    e->version = CORIO_SENML_VERSION;
    corio__out_init(&e->out, fmt == CORIO_FORMAT_JSON, buf, cap);
    if (fmt == CORIO_FORMAT_JSON)
        corio__out_raw(&e->out, "[", 1);
    else if (fmt != CORIO_FORMAT_CBOR)
        e->err = CORIO_ERR_INVAL;
}

int corio_senml_enc_ext(struct corio_senml_enc *e, const struct corio_senml_ext *x)
{
    int rc = enc_error(e);
    if (rc != CORIO_OK)
        return rc;
    if (e->records > 0)
        return enc_fail(e, CORIO_ERR_STATE);
    if (x->has_seq && x->seq == 0)
        return enc_fail(e, CORIO_ERR_INVAL);
    e->ext = *x;
    return CORIO_OK;
}

/* ------------------------------------------------------------------------------ */
/* Checks                                                                         */
/* ------------------------------------------------------------------------------ */

#if CORIO_SENML_FLOAT
static bool is_finite(double v)
{
    return v - v == 0.0; /* false for NaN and infinities, without libm */
}
#endif

/* Every character of s[0..n) may appear in a name (RFC 8428 §4.5.1). */
static bool name_chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == ':' || c == '.' || c == '/' || c == '_'))
            return false;
    }
    return true;
}

static bool alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

#define BIT(l) (1u << (l))

/* A record's strings as labels_of() found them: bn, bu, n, u and their lengths. */
struct strs {
    const char *p[4];
    size_t n[4];
    bool first; /* no field of the record written yet */
};

/* The labels record r carries, bit l for label l, after checking the record whole
 * against the decoder's rules; -1 when the decoder would refuse it. Fills *v. */
static int32_t labels_of(const struct corio_senml_enc *e, const struct corio_senml_fields *r,
                         struct strs *v)
{
    static const uint8_t str_label[4] = {L_BN, L_BU, L_N, L_U};
    uint32_t m;
#if CORIO_SENML_FLOAT
    const double vals[7] = {r->bt, r->bv, r->bs, 0, r->s, r->t, r->ut};
    for (unsigned i = 0; i < 7; i++)
        if (((r->has >> i) & 1u) && !is_finite(vals[i]))
            return -1;
    if (r->type == CORIO_SENML_NUMBER && !(r->has & CORIO_SENML_HAS_VDEC) && !is_finite(r->v))
        return -1;
#endif
#define MOVE(flag, l) ((r->has & (flag)) ? BIT(l) : 0u)
    m = MOVE(CORIO_SENML_HAS_BT, L_BT) | MOVE(CORIO_SENML_HAS_BV, L_BV) |
        MOVE(CORIO_SENML_HAS_BS, L_BS) | MOVE(CORIO_SENML_HAS_BVER, L_BVER) |
        MOVE(CORIO_SENML_HAS_S, L_S) | MOVE(CORIO_SENML_HAS_T, L_T) | MOVE(CORIO_SENML_HAS_UT, L_UT);
#undef MOVE
    v->p[0] = r->bn;
    v->p[1] = r->bu;
    v->p[2] = r->n;
    v->p[3] = r->u;
    for (unsigned i = 0; i < 4; i++) {
        const char *p = v->p[i];
        v->n[i] = 0;
        if (!p)
            continue;
        m |= BIT(str_label[i]);
        v->n[i] = strlen(p);
        /* Names by RFC 8428 §4.5.1, units as UTF-8. */
        if (!((i & 1u) ? corio__utf8_ok(p, v->n[i]) : name_chars_ok(p, v->n[i])))
            return -1;
    }
    if (r->type == CORIO_SENML_STRING &&
        (r->vs ? !corio__utf8_ok(r->vs, r->vs_len) : r->vs_len != 0))
        return -1;
    if (r->type == CORIO_SENML_DATA && !r->vd && r->vd_len)
        return -1;
    if ((unsigned)r->type > CORIO_SENML_DATA)
        return -1;
    if (r->type != CORIO_SENML_NONE)
        m |= BIT(r->type == CORIO_SENML_DATA ? L_VD : L_V - CORIO_SENML_NUMBER + r->type);
    if ((m & BIT(L_BVER)) &&
        (r->bver < 1 || r->bver > CORIO_SENML_VERSION || (e->records > 0 && r->bver != e->version)))
        return -1;
    if (e->records == 0) {
        if (e->ext.has_seq)
            m |= BIT(L_EP) | BIT(L_SEQ);
        if (e->ext.has_boot)
            m |= BIT(L_BOOT) | BIT(L_UPT);
    }
    size_t bn_len = v->p[0] ? v->n[0] : e->bn_len;
    char first = v->p[0] ? v->p[0][0] : e->bn_first;
    if (!(m & (BIT(L_V) | BIT(L_VS) | BIT(L_VB) | BIT(L_VD) | BIT(L_S) | BIT(L_BS))) &&
        !e->bs_set) {
        /* Neither a value nor a sum: only a record of base (and, first, extension)
         * fields, which sets what follows, is allowed. */
        if (m == 0 || (m & (BIT(L_N) | BIT(L_U) | BIT(L_T) | BIT(L_UT))))
            return -1;
        if (v->p[0] && bn_len > 0 && (bn_len > CORIO_SENML_MAX_NAME || !alnum(first)))
            return -1;
        return (int32_t)m;
    }
    if (bn_len + v->n[2] == 0 || bn_len + v->n[2] > CORIO_SENML_MAX_NAME)
        return -1;
    return alnum(bn_len > 0 ? first : v->p[2][0]) ? (int32_t)m : -1;
}

/* ------------------------------------------------------------------------------ */
/* Writing a record: one table-driven walk for JSON and CBOR                      */
/* ------------------------------------------------------------------------------ */

/* Where a label's value comes from, when it is one of the record's strings (1 + its
 * index in struct strs) or a number of the extension (0x80 | its offset in
 * corio_senml_ext); 0 for the others. */
#define X(m) (0x80 | offsetof(struct corio_senml_ext, m))
static const uint8_t src[L_COUNT] = {
    [L_BN] = 1,     [L_BU] = 2,       [L_N] = 3,         [L_U] = 4,
    [L_EP] = X(ep), [L_SEQ] = X(seq), [L_BOOT] = X(boot), [L_UPT] = X(upt),
};
#undef X

/* The order labels are written in: CBOR in label order (senml_int.h), JSON base
 * fields, the extension, then the record's own, as the cloud's examples read. */
static const uint8_t json_order[L_COUNT] = {L_BN,  L_BT,   L_BU,  L_BV, L_BS, L_BVER, L_EP,
                                            L_SEQ, L_BOOT, L_UPT, L_N,  L_U,  L_V,    L_VS,
                                            L_VB,  L_VD,   L_S,   L_T,  L_UT};

#if CORIO_SENML_FLOAT
/* Integral numbers as CBOR integers (as RFC 8428's own CBOR example does), others as
 * the shortest exact float; -0 stays a float, or it would lose its sign. */
static void put_num(struct corio_senml_out *o, double v)
{
    if (o->json) {
        corio_json_w_double(&o->w, v);
        return;
    }
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
        int64_t i = (int64_t)v;
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        if ((double)i == v && !(i == 0 && (bits >> 63))) {
            corio_cbor_put_int(&o->w.out, i);
            return;
        }
    }
    corio_cbor_put_double(&o->w.out, v);
}
#endif

/* Writes label l's key and value. */
static void put_field(struct corio_senml_enc *e, const struct corio_senml_fields *r,
                      struct strs *v, unsigned l)
{
    struct corio_senml_out *o = &e->out;
    unsigned s = src[l];
    const char *p;
    size_t n;
    uint64_t u;

    corio__out_key(o, corio__senml_labels[l].text, corio__senml_labels[l].cbor, v->first);
    v->first = false;
    if (s >= 0x80) {
        memcpy(&u, (const char *)&e->ext + (s & 0x7fu), sizeof u);
        corio__out_uint(o, u);
        return;
    }
    if (s != 0) {
        p = v->p[s - 1];
        n = v->n[s - 1];
    } else if (l == L_VS) {
        p = r->vs;
        n = r->vs_len;
    } else if (l == L_BVER) {
        corio__out_uint(o, r->bver);
        return;
    } else if (l == L_VB) {
        if (o->json)
            corio__out_raw(o, r->vb ? "true" : "false", r->vb ? 4u : 5u);
        else
            corio__out_raw(o, r->vb ? "\xf5" : "\xf4", 1);
        return;
#if CORIO_SENML_VD
    } else if (l == L_VD) {
        if (o->json)
            corio__b64url_put(&o->w, r->vd, r->vd_len);
        else
            corio_cbor_put_bytes(&o->w.out, r->vd, r->vd_len);
        return;
#endif
    } else if (l == L_V && (r->has & CORIO_SENML_HAS_VDEC)) {
        if (o->json) {
            corio_json_w_decimal(&o->w, r->vdec.m, r->vdec.e);
            return;
        }
        /* m * 10^e exactly: an integer, or a decimal fraction (RFC 8949 §3.4.4). */
        if (r->vdec.e != 0) {
            corio__out_raw(o, "\xc4\x82", 2); /* tag 4, [e, m] */
            corio_cbor_put_int(&o->w.out, r->vdec.e);
        }
        corio_cbor_put_int(&o->w.out, r->vdec.m);
        return;
    } else {
#if CORIO_SENML_FLOAT
        put_num(o, l == L_V    ? r->v
                   : l == L_BT ? r->bt
                   : l == L_BV ? r->bv
                   : l == L_BS ? r->bs
                   : l == L_S  ? r->s
                   : l == L_T  ? r->t
                               : r->ut);
#endif
        return; /* without CORIO_SENML_FLOAT (or CORIO_SENML_VD) enc_add refused it first */
    }
    if (o->json)
        corio_json_w_string(&o->w, p, n);
    else
        corio_cbor_put_text(&o->w.out, p, n);
}

static void put_record(struct corio_senml_enc *e, const struct corio_senml_fields *r,
                       uint32_t m, struct strs *v)
{
    bool json = e->out.json;
    /* JSON: ",{" ("{" first); CBOR: the map head, one byte for up to 23 pairs. */
    uint8_t open[2] = {',', '{'};
    size_t n = e->records == 0 ? 1 : 2;
    if (!json) {
        unsigned pairs = 0;
        for (uint32_t b = m; b; b &= b - 1)
            pairs++;
        open[1] = (uint8_t)(0xa0 | pairs); /* L_COUNT < 24 */
        n = 1;
    }
    corio__out_raw(&e->out, open + 2 - n, n);
    v->first = true;
    for (unsigned i = 0; i < L_COUNT; i++) {
        unsigned l = json ? json_order[i] : i;
        if ((m >> l) & 1u)
            put_field(e, r, v, l);
    }
    if (json)
        corio__out_raw(&e->out, "}", 1);
}

int corio_senml_enc_add(struct corio_senml_enc *e, const struct corio_senml_fields *r)
{
    int rc = enc_error(e);
    if (rc != CORIO_OK)
        return rc;
    if (e->records >= CORIO_SENML_MAX_RECORDS)
        return enc_fail(e, CORIO_ERR_UNSUPPORTED);
#if !CORIO_SENML_FLOAT
    if ((r->type == CORIO_SENML_NUMBER && !(r->has & CORIO_SENML_HAS_VDEC)) ||
        (r->has & (CORIO_SENML_HAS_BT | CORIO_SENML_HAS_BV | CORIO_SENML_HAS_BS |
                   CORIO_SENML_HAS_S | CORIO_SENML_HAS_T | CORIO_SENML_HAS_UT)))
        return enc_fail(e, CORIO_ERR_UNSUPPORTED);
#endif
#if !CORIO_SENML_VD
    if (r->type == CORIO_SENML_DATA)
        return enc_fail(e, CORIO_ERR_UNSUPPORTED);
#endif
    struct strs v;
    int32_t m = labels_of(e, r, &v);
    if (m < 0)
        return enc_fail(e, CORIO_ERR_INVAL);
    put_record(e, r, (uint32_t)m, &v);
    rc = enc_error(e);
    if (rc != CORIO_OK)
        return rc;
    if (r->bn) {
        e->bn_len = v.n[0];
        e->bn_first = r->bn[0];
    }
    if (r->has & CORIO_SENML_HAS_BS)
        e->bs_set = true;
    if (r->has & CORIO_SENML_HAS_BVER)
        e->version = r->bver;
    e->records++;
    return CORIO_OK;
}

int corio_senml_enc_finish(struct corio_senml_enc *e)
{
    struct corio_senml_out *o = &e->out;
    int rc = enc_error(e);
    if (rc != CORIO_OK)
        return rc;
    if (e->records == 0)
        return enc_fail(e, CORIO_ERR_INVAL);
    if (o->json) {
        corio__out_raw(o, "]", 1);
    } else {
        /* Append the array head, then rotate it in front of the records. */
        struct corio_cbor_enc *c = &o->w.out;
        size_t len = c->len;
        corio_cbor_put_array(c, e->records);
        size_t hn = c->len - len; /* 0 when it did not fit */
        if (c->buf && hn) {
            uint8_t head[9];
            memcpy(head, c->buf + len, hn);
            memmove(c->buf + hn, c->buf, len);
            memcpy(c->buf, head, hn);
        }
    }
    rc = corio__out_finish(o);
    if (rc >= 0)
        e->err = CORIO_ERR_STATE; /* finished: later calls are refused */
    return rc;
}
