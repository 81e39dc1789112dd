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
#include <string.h>

#include "json_int.h"
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

static bool utf8_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = corio__utf8_seq((const uint8_t *)s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

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
                             CORIO_SENML_HAS_S, CORIO_SENML_HAS_T, CORIO_SENML_HAS_UT};
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
        if ((!r->vs && r->vs_len) || (r->vs && !utf8_ok(r->vs, r->vs_len)))
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
    if ((r->bu && !utf8_ok(r->bu, strlen(r->bu))) || (r->u && !utf8_ok(r->u, strlen(r->u))))
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
/* JSON                                                                           */
/* ------------------------------------------------------------------------------ */

static void jkey(struct corio_json_w *w, bool *first, enum senml_label l)
{
    const char *label = corio__senml_labels[l].text;
    if (!*first)
        corio_json_w_raw(w, ",", 1);
    *first = false;
    corio_json_w_raw(w, "\"", 1);
    corio_json_w_raw(w, label, strlen(label));
    corio_json_w_raw(w, "\":", 2);
}

static void jstr(struct corio_json_w *w, bool *first, enum senml_label l, const char *s)
{
    if (!s)
        return;
    jkey(w, first, l);
    corio_json_w_string(w, s, strlen(s));
}

#if CORIO_SENML_FLOAT
static void jnum(struct corio_json_w *w, bool *first, enum senml_label l, bool present,
                 double v)
{
    if (!present)
        return;
    jkey(w, first, l);
    corio_json_w_double(w, v);
}
#else
/* Never called with present set: enc_add refuses numeric fields first. */
#define jnum(w, first, l, present, v) ((void)0)
#endif

static void juint(struct corio_json_w *w, bool *first, enum senml_label l, uint64_t v)
{
    jkey(w, first, l);
    corio_json_w_uint64(w, v);
}

static void json_record(struct corio_senml_enc *e, const struct corio_senml_fields *r)
{
    struct corio_json_w *w = &e->json;
    bool first = true;
    if (e->records > 0)
        corio_json_w_raw(w, ",", 1);
    corio_json_w_raw(w, "{", 1);
    jstr(w, &first, L_BN, r->bn);
    jnum(w, &first, L_BT, r->has & CORIO_SENML_HAS_BT, r->bt);
    jstr(w, &first, L_BU, r->bu);
    jnum(w, &first, L_BV, r->has & CORIO_SENML_HAS_BV, r->bv);
    jnum(w, &first, L_BS, r->has & CORIO_SENML_HAS_BS, r->bs);
    if (r->has & CORIO_SENML_HAS_BVER)
        juint(w, &first, L_BVER, r->bver);
    if (e->records == 0) {
        if (e->ext.has_seq) {
            juint(w, &first, L_EP, e->ext.ep);
            juint(w, &first, L_SEQ, e->ext.seq);
        }
        if (e->ext.has_boot) {
            juint(w, &first, L_BOOT, e->ext.boot);
            juint(w, &first, L_UPT, e->ext.upt);
        }
    }
    jstr(w, &first, L_N, r->n);
    jstr(w, &first, L_U, r->u);
    switch (r->type) {
    case CORIO_SENML_NUMBER:
        if (r->has & CORIO_SENML_HAS_VDEC) {
            jkey(w, &first, L_V);
            corio_json_w_decimal(w, r->vdec.m, r->vdec.e);
        } else {
            jnum(w, &first, L_V, true, r->v);
        }
        break;
    case CORIO_SENML_STRING:
        jkey(w, &first, L_VS);
        corio_json_w_string(w, r->vs, r->vs_len);
        break;
    case CORIO_SENML_BOOL:
        jkey(w, &first, L_VB);
        corio_json_w_bool(w, r->vb);
        break;
    case CORIO_SENML_DATA:
        jkey(w, &first, L_VD);
        corio__b64url_put(w, r->vd, r->vd_len);
        break;
    default:
        break;
    }
    jnum(w, &first, L_S, r->has & CORIO_SENML_HAS_S, r->s);
    jnum(w, &first, L_T, r->has & CORIO_SENML_HAS_T, r->t);
    jnum(w, &first, L_UT, r->has & CORIO_SENML_HAS_UT, r->ut);
    corio_json_w_raw(w, "}", 1);
}

/* ------------------------------------------------------------------------------ */
/* CBOR                                                                           */
/* ------------------------------------------------------------------------------ */

/* Integral numbers as CBOR integers (as RFC 8428's own CBOR example does), others as
 * the shortest exact float; -0 stays a float, or it would lose its sign. */
#if CORIO_SENML_FLOAT
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
#else
#define cnum(c, v) ((void)0) /* never reached: enc_add refuses numbers first */
#endif

/* m * 10^e exactly: an integer, or a decimal fraction (RFC 8949 §3.4.4). */
static void cdec(struct corio_cbor_enc *c, const struct corio_senml_decimal *d)
{
    if (d->e != 0) {
        corio_cbor_put_tag(c, 4);
        corio_cbor_put_array(c, 2);
        corio_cbor_put_int(c, d->e);
    }
    corio_cbor_put_int(c, d->m);
}

static void ckey(struct corio_cbor_enc *c, enum senml_label l)
{
    if (corio__senml_labels[l].cbor != INT8_MIN)
        corio_cbor_put_int(c, corio__senml_labels[l].cbor);
    else
        corio_cbor_put_textz(c, corio__senml_labels[l].text);
}

static void cbor_record(struct corio_senml_enc *e, const struct corio_senml_fields *r)
{
    struct corio_cbor_enc *c = &e->cbor;
    bool ext_seq = e->records == 0 && e->ext.has_seq;
    bool ext_boot = e->records == 0 && e->ext.has_boot;
    uint64_t pairs = 0;
    pairs += (r->bn != NULL) + (r->bu != NULL) + (r->n != NULL) + (r->u != NULL);
    for (unsigned bit = 0; bit < 7; bit++)
        pairs += (r->has >> bit) & 1u;
    pairs += r->type != CORIO_SENML_NONE;
    pairs += 2u * ext_seq + 2u * ext_boot;
    corio_cbor_put_map(c, pairs);
    /* Keys in the bytewise order of their encodings (RFC 8949 §4.2.1): 0..8, then
     * -1..-6, then the text labels, shorter first. */
    if (r->n) {
        ckey(c, L_N);
        corio_cbor_put_textz(c, r->n);
    }
    if (r->u) {
        ckey(c, L_U);
        corio_cbor_put_textz(c, r->u);
    }
    if (r->type == CORIO_SENML_NUMBER) {
        ckey(c, L_V);
        if (r->has & CORIO_SENML_HAS_VDEC)
            cdec(c, &r->vdec);
        else
            cnum(c, r->v);
    } else if (r->type == CORIO_SENML_STRING) {
        ckey(c, L_VS);
        corio_cbor_put_text(c, r->vs, r->vs_len);
    } else if (r->type == CORIO_SENML_BOOL) {
        ckey(c, L_VB);
        corio_cbor_put_bool(c, r->vb);
    }
    if (r->has & CORIO_SENML_HAS_S) {
        ckey(c, L_S);
        cnum(c, r->s);
    }
    if (r->has & CORIO_SENML_HAS_T) {
        ckey(c, L_T);
        cnum(c, r->t);
    }
    if (r->has & CORIO_SENML_HAS_UT) {
        ckey(c, L_UT);
        cnum(c, r->ut);
    }
    if (r->type == CORIO_SENML_DATA) {
        ckey(c, L_VD);
        corio_cbor_put_bytes(c, r->vd, r->vd_len);
    }
    if (r->has & CORIO_SENML_HAS_BVER) {
        ckey(c, L_BVER);
        corio_cbor_put_uint(c, r->bver);
    }
    if (r->bn) {
        ckey(c, L_BN);
        corio_cbor_put_textz(c, r->bn);
    }
    if (r->has & CORIO_SENML_HAS_BT) {
        ckey(c, L_BT);
        cnum(c, r->bt);
    }
    if (r->bu) {
        ckey(c, L_BU);
        corio_cbor_put_textz(c, r->bu);
    }
    if (r->has & CORIO_SENML_HAS_BV) {
        ckey(c, L_BV);
        cnum(c, r->bv);
    }
    if (r->has & CORIO_SENML_HAS_BS) {
        ckey(c, L_BS);
        cnum(c, r->bs);
    }
    if (ext_seq) {
        ckey(c, L_EP);
        corio_cbor_put_uint(c, e->ext.ep);
        ckey(c, L_SEQ);
        corio_cbor_put_uint(c, e->ext.seq);
    }
    if (ext_boot) {
        ckey(c, L_UPT);
        corio_cbor_put_uint(c, e->ext.upt);
        ckey(c, L_BOOT);
        corio_cbor_put_uint(c, e->ext.boot);
    }
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
    if (e->fmt == CORIO_FORMAT_JSON)
        json_record(e, r);
    else
        cbor_record(e, r);
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
