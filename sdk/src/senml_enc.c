/*
 * senml_enc.c - the SenML pack encoder (include/corio/senml.h), JSON and CBOR behind
 * one API.
 *
 * Each record is checked whole before a byte of it is written, against the same rules
 * the decoder applies, so a device cannot emit a pack that the cloud will refuse. The
 * CBOR array's length is unknown until the end, so records are written from offset 0
 * and finish moves them up by the size of the array head it then knows; the buffer
 * never needs more room than the final pack.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "corio_int.h"
#include "senml_int.h"

static int enc_error(const struct corio_senml_enc *e)
{
    if (e->err != CORIO_OK)
        return e->err;
    if (e->fmt == CORIO_FORMAT_JSON)
        return e->json.err;
    return corio_cbor_enc_error(&e->cbor);
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
    e->fmt = fmt;
    e->buf = buf;
    e->cap = buf ? cap : 0;
    e->version = CORIO_SENML_VERSION;
    corio_json_w_init(&e->json, buf, cap);
    corio_cbor_enc_init(&e->cbor, buf, cap);
    if (fmt == CORIO_FORMAT_JSON)
        corio_json_w_raw(&e->json, "[", 1);
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

#define BASE_NUMBERS (CORIO_SENML_HAS_BT | CORIO_SENML_HAS_BV | CORIO_SENML_HAS_BVER)

static bool record_ok(const struct corio_senml_enc *e, const struct corio_senml_fields *r)
{
#if CORIO_SENML_FLOAT
    const unsigned nums[] = {CORIO_SENML_HAS_BT, CORIO_SENML_HAS_BV, CORIO_SENML_HAS_BS,
                             CORIO_SENML_HAS_S,  CORIO_SENML_HAS_T,  CORIO_SENML_HAS_UT};
    const double vals[] = {r->bt, r->bv, r->bs, r->s, r->t, r->ut};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if ((r->has & nums[i]) && !is_finite(vals[i]))
            return false;
#endif
    switch (r->type) {
    case CORIO_SENML_NONE:
        break;
    case CORIO_SENML_NUMBER:
#if CORIO_SENML_FLOAT
        if (!(r->has & CORIO_SENML_HAS_VDEC) && !is_finite(r->v))
            return false;
#endif
        break;
    case CORIO_SENML_STRING:
        if ((!r->vs && r->vs_len) || (r->vs && !corio__utf8_ok(r->vs, r->vs_len)))
            return false;
        break;
    case CORIO_SENML_BOOL:
        break;
    case CORIO_SENML_DATA:
        if (!r->vd && r->vd_len)
            return false;
        break;
    default:
        return false;
    }
    if (r->has & CORIO_SENML_HAS_BVER) {
        if (r->bver < 1 || r->bver > CORIO_SENML_VERSION)
            return false;
        if (e->records > 0 && r->bver != e->version)
            return false;
    }
    if ((r->bu && !corio__utf8_ok(r->bu, strlen(r->bu))) ||
        (r->u && !corio__utf8_ok(r->u, strlen(r->u))))
        return false;
    size_t bn_len = r->bn ? strlen(r->bn) : e->bn_len;
    char first = r->bn ? r->bn[0] : e->bn_first;
    size_t n_len = r->n ? strlen(r->n) : 0;
    if (r->bn && !name_chars_ok(r->bn, bn_len))
        return false;
    if (r->n && !name_chars_ok(r->n, n_len))
        return false;
    if (r->type == CORIO_SENML_NONE && !(r->has & (CORIO_SENML_HAS_S | CORIO_SENML_HAS_BS)) &&
        !e->bs_set) {
        /* Neither a value nor a sum: only a record of base (and, first, extension)
         * fields, which sets what follows, is allowed. */
        bool ext = e->records == 0 && (e->ext.has_seq || e->ext.has_boot);
        if (r->n || r->u || (r->has & (CORIO_SENML_HAS_T | CORIO_SENML_HAS_UT)))
            return false;
        if (!r->bn && !r->bu && !(r->has & BASE_NUMBERS) && !ext)
            return false;
        return !r->bn || bn_len == 0 || (bn_len <= CORIO_SENML_MAX_NAME && alnum(first));
    }
    if (bn_len + n_len == 0 || bn_len + n_len > CORIO_SENML_MAX_NAME)
        return false;
    return alnum(bn_len > 0 ? first : r->n[0]);
}

/* ------------------------------------------------------------------------------ */
/* Writing a record: one table-driven walk for JSON and CBOR                      */
/* ------------------------------------------------------------------------------ */

/* Where each label's value comes from. */
enum src {
    S_STRZ, /* a NUL-terminated string of the fields, at off; absent when NULL */
    S_NUM,  /* a double of the fields, at off; present with its CORIO_SENML_HAS_ bit */
    S_BVER, /* the base version (CORIO_SENML_HAS_BVER) */
    S_EXT,  /* a number of the extension, at off; first record only, with its pair */
    S_VAL,  /* the value; present for the record's type */
};

struct slot {
    uint8_t src;
    uint8_t off;  /* offsetof in corio_senml_fields (S_STRZ, S_NUM) or corio_senml_ext */
    uint8_t what; /* S_NUM: the CORIO_SENML_HAS_ bit; S_VAL: the type; S_EXT: 0 seq, 1 boot */
};

#define F(m) ((uint8_t)offsetof(struct corio_senml_fields, m))
#define X(m) ((uint8_t)offsetof(struct corio_senml_ext, m))
static const struct slot slots[L_COUNT] = {
    [L_BN] = {S_STRZ, F(bn), 0},
    [L_BT] = {S_NUM, F(bt), CORIO_SENML_HAS_BT},
    [L_BU] = {S_STRZ, F(bu), 0},
    [L_BV] = {S_NUM, F(bv), CORIO_SENML_HAS_BV},
    [L_BS] = {S_NUM, F(bs), CORIO_SENML_HAS_BS},
    [L_BVER] = {S_BVER, 0, 0},
    [L_N] = {S_STRZ, F(n), 0},
    [L_U] = {S_STRZ, F(u), 0},
    [L_V] = {S_VAL, 0, CORIO_SENML_NUMBER},
    [L_VS] = {S_VAL, 0, CORIO_SENML_STRING},
    [L_VB] = {S_VAL, 0, CORIO_SENML_BOOL},
    [L_VD] = {S_VAL, 0, CORIO_SENML_DATA},
    [L_S] = {S_NUM, F(s), CORIO_SENML_HAS_S},
    [L_T] = {S_NUM, F(t), CORIO_SENML_HAS_T},
    [L_UT] = {S_NUM, F(ut), CORIO_SENML_HAS_UT},
    [L_EP] = {S_EXT, X(ep), 0},
    [L_SEQ] = {S_EXT, X(seq), 0},
    [L_BOOT] = {S_EXT, X(boot), 1},
    [L_UPT] = {S_EXT, X(upt), 1},
};
#undef F
#undef X

/* The order labels are written in. CBOR: the bytewise order of the keys' encodings
 * (RFC 8949 §4.2.1): 0..8, then -1..-6, then the text labels, shorter first. JSON:
 * base fields, the extension, then the record's own, as the cloud's examples read. */
static const uint8_t cbor_order[L_COUNT] = {L_N,  L_U,  L_V,    L_VS,  L_VB,  L_S,  L_T,
                                            L_UT, L_VD, L_BVER, L_BN,  L_BT,  L_BU, L_BV,
                                            L_BS, L_EP, L_SEQ,  L_UPT, L_BOOT};
static const uint8_t json_order[L_COUNT] = {L_BN,  L_BT,   L_BU,  L_BV, L_BS, L_BVER, L_EP,
                                            L_SEQ, L_BOOT, L_UPT, L_N,  L_U,  L_V,    L_VS,
                                            L_VB,  L_VD,   L_S,   L_T,  L_UT};

static bool present(const struct corio_senml_enc *e, const struct corio_senml_fields *r, unsigned l)
{
    const struct slot *sl = &slots[l];
    const char *base = (const char *)r;
    switch (sl->src) {
    case S_STRZ: {
        const char *p;
        memcpy(&p, base + sl->off, sizeof p);
        return p != NULL;
    }
    case S_NUM:
        return (r->has & sl->what) != 0;
    case S_BVER:
        return (r->has & CORIO_SENML_HAS_BVER) != 0;
    case S_EXT:
        return e->records == 0 && (sl->what ? e->ext.has_boot : e->ext.has_seq);
    default:
        return r->type == sl->what;
    }
}

#if CORIO_SENML_FLOAT
/* Integral numbers as CBOR integers (as RFC 8428's own CBOR example does), others as
 * the shortest exact float; -0 stays a float, or it would lose its sign. */
static void cnum(struct corio_cbor_enc *c, double v)
{
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
        int64_t i = (int64_t)v;
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        if ((double)i == v && !(i == 0 && (bits >> 63))) {
            corio_cbor_put_int(c, i);
            return;
        }
    }
    corio_cbor_put_double(c, v);
}

static void put_num(struct corio_senml_enc *e, double v)
{
    if (e->fmt == CORIO_FORMAT_JSON)
        corio_json_w_double(&e->json, v);
    else
        cnum(&e->cbor, v);
}
#endif

/* Writes label l's key and value. */
static void put_field(struct corio_senml_enc *e, const struct corio_senml_fields *r, unsigned l,
                      bool first)
{
    const struct slot *sl = &slots[l];
    const char *text = corio__senml_labels[l].text;
    bool json = e->fmt == CORIO_FORMAT_JSON;
    struct corio_json_w *w = &e->json;
    struct corio_cbor_enc *c = &e->cbor;
    uint64_t u;

    if (json) {
        corio_json_w_raw(w, &",\""[first], 2u - first);
        corio_json_w_raw(w, text, strlen(text));
        corio_json_w_raw(w, "\":", 2);
    } else if (corio__senml_labels[l].cbor != INT8_MIN) {
        corio_cbor_put_int(c, corio__senml_labels[l].cbor);
    } else {
        corio_cbor_put_textz(c, text);
    }
    switch (sl->src) {
    case S_STRZ: {
        const char *p;
        memcpy(&p, (const char *)r + sl->off, sizeof p);
        if (json)
            corio_json_w_string(w, p, strlen(p));
        else
            corio_cbor_put_textz(c, p);
        return;
    }
    case S_NUM:
#if CORIO_SENML_FLOAT
    {
        double v;
        memcpy(&v, (const char *)r + sl->off, sizeof v);
        put_num(e, v);
    }
#endif
        return; /* without CORIO_SENML_FLOAT enc_add refused the record first */
    case S_BVER:
        u = r->bver;
        break;
    case S_EXT:
        memcpy(&u, (const char *)&e->ext + sl->off, sizeof u);
        break;
    default:
        switch (r->type) {
        case CORIO_SENML_NUMBER:
            if (!(r->has & CORIO_SENML_HAS_VDEC)) {
#if CORIO_SENML_FLOAT
                put_num(e, r->v);
#endif
            } else if (json) {
                corio_json_w_decimal(w, r->vdec.m, r->vdec.e);
            } else {
                /* m * 10^e exactly: an integer, or a decimal fraction (RFC 8949 §3.4.4). */
                if (r->vdec.e != 0) {
                    corio_cbor_put_tag(c, 4);
                    corio_cbor_put_array(c, 2);
                    corio_cbor_put_int(c, r->vdec.e);
                }
                corio_cbor_put_int(c, r->vdec.m);
            }
            return;
        case CORIO_SENML_STRING:
            if (json)
                corio_json_w_string(w, r->vs, r->vs_len);
            else
                corio_cbor_put_text(c, r->vs, r->vs_len);
            return;
        case CORIO_SENML_BOOL:
            if (json)
                corio_json_w_bool(w, r->vb);
            else
                corio_cbor_put_bool(c, r->vb);
            return;
        default: /* CORIO_SENML_DATA */
            if (json)
                corio__b64url_put(w, r->vd, r->vd_len);
            else
                corio_cbor_put_bytes(c, r->vd, r->vd_len);
            return;
        }
    }
    if (json)
        corio_json_w_uint64(w, u);
    else
        corio_cbor_put_uint(c, u);
}

static void put_record(struct corio_senml_enc *e, const struct corio_senml_fields *r)
{
    bool json = e->fmt == CORIO_FORMAT_JSON;
    const uint8_t *order = json ? json_order : cbor_order;
    bool first = true;
    if (json) {
        corio_json_w_raw(&e->json, &",{"[e->records == 0], 2u - (e->records == 0));
    } else {
        uint64_t pairs = 0;
        for (unsigned l = 0; l < L_COUNT; l++)
            pairs += present(e, r, l);
        corio_cbor_put_map(&e->cbor, pairs);
    }
    for (unsigned i = 0; i < L_COUNT; i++) {
        if (!present(e, r, order[i]))
            continue;
        put_field(e, r, order[i], first);
        first = false;
    }
    if (json)
        corio_json_w_raw(&e->json, "}", 1);
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
    if (!record_ok(e, r))
        return enc_fail(e, CORIO_ERR_INVAL);
    put_record(e, r);
    rc = enc_error(e);
    if (rc != CORIO_OK)
        return rc;
    if (r->bn) {
        e->bn_len = strlen(r->bn);
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
    int rc = enc_error(e);
    if (rc != CORIO_OK)
        return rc;
    if (e->records == 0)
        return enc_fail(e, CORIO_ERR_INVAL);
    if (e->fmt == CORIO_FORMAT_JSON) {
        corio_json_w_raw(&e->json, "]", 1);
        rc = corio_json_w_finish(&e->json);
        if (rc >= 0)
            e->err = CORIO_ERR_STATE; /* finished: later calls are refused */
        return rc;
    }
    /* Move the records up by the array head's size and write the head in front. */
    uint8_t head[9];
    struct corio_cbor_enc h;
    corio_cbor_enc_init(&h, head, sizeof head);
    corio_cbor_put_array(&h, e->records);
    size_t hn = corio_cbor_enc_len(&h);
    size_t len = corio_cbor_enc_len(&e->cbor);
    if (e->buf) {
        if (hn > e->cap - len)
            return enc_fail(e, CORIO_ERR_NOSPACE);
        memmove(e->buf + hn, e->buf, len);
        memcpy(e->buf, head, hn);
    }
    if (len > (size_t)INT_MAX - hn)
        return enc_fail(e, CORIO_ERR_NOSPACE);
    e->err = CORIO_ERR_STATE;
    return (int)(hn + len);
}
