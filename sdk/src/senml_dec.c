/*
 * senml_dec.c - the SenML pack decoder (include/corio/senml.h): the record iterator
 * and the resolver that applies base fields (RFC 8428 §4.6) and Corio's rules.
 *
 * The JSON and CBOR readers (senml_dec_json.c, senml_dec_cbor.c) turn one record
 * into a raw record whose strings still point into the message; everything after
 * that is the same for both formats. Base fields are remembered the same way, as
 * pointers into the message, so a pack costs no memory beyond the decoder and the
 * caller's buffer whatever its length.
 */
#include <string.h>

#include "senml_int.h"

static int dec_fail(struct corio_senml_dec *d, int err)
{
    if (d->err == CORIO_OK)
        d->err = err;
    return d->err;
}

static int read_record(struct corio_senml_dec *d, struct senml_raw *raw)
{
    if (d->fmt == CORIO_FORMAT_JSON)
        return corio__senml_json_record(&d->in.json, raw);
    return corio__senml_cbor_record(&d->in.cbor, raw);
}

/* Corio's extension fields: pairs, and a sequence number from 1. */
static int check_ext(const struct senml_raw *raw, struct corio_senml_ext *x)
{
    memset(x, 0, sizeof *x);
    if (HAS(raw, L_EP) != HAS(raw, L_SEQ) || HAS(raw, L_BOOT) != HAS(raw, L_UPT))
        return CORIO_ERR_MALFORMED;
    if (HAS(raw, L_SEQ)) {
        if (raw->seq == 0)
            return CORIO_ERR_MALFORMED;
        x->has_seq = true;
        x->ep = raw->ep;
        x->seq = raw->seq;
    }
    if (HAS(raw, L_BOOT)) {
        x->has_boot = true;
        x->boot = raw->boot;
        x->upt = raw->upt;
    }
    return CORIO_OK;
}

static int check_version(const struct senml_raw *raw)
{
    if (!HAS(raw, L_BVER))
        return CORIO_OK;
    if (raw->bver == 0)
        return CORIO_ERR_MALFORMED; /* a positive integer */
    if (raw->bver > CORIO_SENML_VERSION)
        return CORIO_ERR_VERSION; /* RFC 8428 §4.4: MUST NOT use the pack */
    return CORIO_OK;
}

int corio_senml_dec_init(struct corio_senml_dec *d, enum corio_format fmt, const uint8_t *msg,
                         size_t len, char *buf, size_t cap)
{
    struct senml_raw raw;
    int rc;
    memset(d, 0, sizeof *d);
    d->fmt = fmt;
    d->buf = buf;
    d->cap = cap;
    d->version = CORIO_SENML_VERSION;
    d->max_records = CORIO_SENML_MAX_RECORDS;
    d->max_name = CORIO_SENML_MAX_NAME;
    if (!buf || cap == 0 || (!msg && len) ||
        (fmt != CORIO_FORMAT_JSON && fmt != CORIO_FORMAT_CBOR))
        return dec_fail(d, CORIO_ERR_INVAL);
    if (fmt == CORIO_FORMAT_JSON) {
        struct corio_json_tok t;
        corio_json_init(&d->in.json, (const char *)msg, len);
        if ((rc = corio_json_next(&d->in.json, &t)) != CORIO_OK)
            return dec_fail(d, rc);
        if (t.type != CORIO_JSON_ARRAY)
            return dec_fail(d, CORIO_ERR_MALFORMED);
        if ((rc = corio_json_peek(&d->in.json, &t)) != CORIO_OK)
            return dec_fail(d, rc);
        if (t.type == CORIO_JSON_ARRAY_END)
            return dec_fail(d, CORIO_ERR_MALFORMED); /* an empty pack */
    } else {
        corio_cbor_dec_init(&d->in.cbor, msg, len);
        if ((rc = corio_cbor_expect_array(&d->in.cbor, &d->left)) != CORIO_OK)
            return dec_fail(d, rc);
        if (d->left == 0 ||
            (d->left == CORIO_CBOR_INDEFINITE && corio_cbor_at_break(&d->in.cbor)))
            return dec_fail(d, CORIO_ERR_MALFORMED);
    }
    /* Read the first record ahead for its extension fields and version, then go back:
     * corio_senml_dec_next() reads it again as a whole. */
    union corio_senml_in save = d->in;
    rc = read_record(d, &raw);
    d->in = save;
    if (rc == CORIO_OK)
        rc = check_ext(&raw, &d->ext);
    if (rc == CORIO_OK)
        rc = check_version(&raw);
    if (rc != CORIO_OK)
        return dec_fail(d, rc);
    if (HAS(&raw, L_BVER))
        d->version = (unsigned)raw.bver;
    return CORIO_OK;
}

void corio_senml_dec_limits(struct corio_senml_dec *d, uint32_t max_records, size_t max_name)
{
    d->max_records = max_records;
    d->max_name = max_name;
}

const struct corio_senml_ext *corio_senml_dec_ext(const struct corio_senml_dec *d)
{
    return &d->ext;
}

unsigned corio_senml_dec_version(const struct corio_senml_dec *d)
{
    return d->version;
}

/* ------------------------------------------------------------------------------ */
/* Resolution                                                                     */
/* ------------------------------------------------------------------------------ */

/* The unescaped length of s. */
static size_t str_len(const struct corio_senml_str *s)
{
    if (!s->esc)
        return s->n;
    struct corio_json_tok t;
    struct corio_json_str it;
    size_t n = 0;
    memset(&t, 0, sizeof t);
    t.type = CORIO_JSON_STRING;
    t.ptr = s->p;
    t.len = s->n;
    t.escaped = true;
    corio_json_str_begin(&it, &t);
    while (corio_json_str_next(&it) >= 0)
        n++;
    return n;
}

/* Copies the unescaped s to out (room checked by the caller). */
static void str_copy(const struct corio_senml_str *s, char *out)
{
    if (!s->esc) {
        if (s->n)
            memcpy(out, s->p, s->n);
        return;
    }
    struct corio_json_tok t;
    struct corio_json_str it;
    int c;
    memset(&t, 0, sizeof t);
    t.type = CORIO_JSON_STRING;
    t.ptr = s->p;
    t.len = s->n;
    t.escaped = true;
    corio_json_str_begin(&it, &t);
    while ((c = corio_json_str_next(&it)) >= 0)
        *out++ = (char)c;
}

/* Hands out s: in place when it holds no escapes, else unescaped into the buffer at
 * *pos (NUL-terminated). */
static int give_str(struct corio_senml_dec *d, size_t *pos, const struct corio_senml_str *s,
                    const char **out, size_t *out_len)
{
    if (!s->esc) {
        *out = s->p ? s->p : "";
        *out_len = s->n;
        return CORIO_OK;
    }
    size_t n = str_len(s);
    if (n >= d->cap - *pos)
        return CORIO_ERR_NOSPACE;
    str_copy(s, d->buf + *pos);
    d->buf[*pos + n] = '\0';
    *out = d->buf + *pos;
    *out_len = n;
    *pos += n + 1;
    return CORIO_OK;
}

static bool is_finite(double v)
{
    return v - v == 0.0;
}

/* Labels a record without value or sum may carry (base and extension fields). */
#define HEADER_FIELDS                                                                     \
    ((1u << L_BN) | (1u << L_BT) | (1u << L_BU) | (1u << L_BV) | (1u << L_BVER) |          \
     (1u << L_EP) | (1u << L_SEQ) | (1u << L_BOOT) | (1u << L_UPT))

/* Applies raw's base fields and resolves it into *r. Returns 0 with a record in *r,
 * 1 for a record of base fields only (nothing to hand out), or an error. */
static int resolve(struct corio_senml_dec *d, const struct senml_raw *raw,
                   struct corio_senml_record *r)
{
    struct corio_senml_ext x;
    int rc;
    if (d->index > 0 &&
        (HAS(raw, L_EP) || HAS(raw, L_SEQ) || HAS(raw, L_BOOT) || HAS(raw, L_UPT)))
        return CORIO_ERR_MALFORMED; /* they identify the pack: first record only */
    if ((rc = check_ext(raw, &x)) != CORIO_OK)
        return rc;
    if ((rc = check_version(raw)) != CORIO_OK)
        return rc;
    if (HAS(raw, L_BVER)) {
        if (d->index == 0)
            d->version = (unsigned)raw->bver;
        else if (raw->bver != d->version)
            return CORIO_ERR_MALFORMED; /* RFC 8428 §4.4: one version per pack */
    }
    int values = HAS(raw, L_V) + HAS(raw, L_VS) + HAS(raw, L_VB) + HAS(raw, L_VD);
    bool has_bs = d->has_bs || HAS(raw, L_BS);
    bool base_only = false;
    if (values > 1)
        return CORIO_ERR_MALFORMED; /* RFC 8428 §4.2: exactly one value */
    if (values == 0 && !HAS(raw, L_S) && !has_bs) {
        /* No value and no sum: refused (RFC 8428 §4.2) unless the record carries
         * nothing but base and extension fields, as the first record of RFC 8428
         * §5.1.7's example does; such a record only sets what follows. */
        if (HAS(raw, L_N) || HAS(raw, L_U) || HAS(raw, L_T) || HAS(raw, L_UT) ||
            (raw->has & HEADER_FIELDS) == 0)
            return CORIO_ERR_MALFORMED;
        base_only = true;
    }

    /* Base fields apply to this record and the ones after it. */
    if (HAS(raw, L_BN))
        d->bn = raw->bn;
    if (HAS(raw, L_BU))
        d->bu = raw->bu;
    if (HAS(raw, L_BT)) {
        d->bt = raw->bt;
        d->has_bt = true;
    }
    if (HAS(raw, L_BV)) {
        d->bv = raw->bv;
        d->has_bv = true;
    }
    if (HAS(raw, L_BS)) {
        d->bs = raw->bs;
        d->has_bs = true;
    }

    if (base_only)
        return 1;

    memset(r, 0, sizeof *r);
    r->index = d->index;

    /* Name = bn + n, in the caller's buffer. */
    static const struct corio_senml_str none = {NULL, 0, false};
    const struct corio_senml_str *n = HAS(raw, L_N) ? &raw->n : &none;
    size_t bn_len = str_len(&d->bn), n_len = str_len(n);
    if (bn_len > d->max_name || n_len > d->max_name - bn_len)
        return CORIO_ERR_UNSUPPORTED;
    size_t name_len = bn_len + n_len;
    if (name_len >= d->cap)
        return CORIO_ERR_NOSPACE;
    str_copy(&d->bn, d->buf);
    str_copy(n, d->buf + bn_len);
    d->buf[name_len] = '\0';
    if (!corio_senml_name_valid(d->buf, name_len))
        return CORIO_ERR_MALFORMED;
    r->name = d->buf;
    r->name_len = name_len;
    size_t pos = name_len + 1;

    const struct corio_senml_str *unit = HAS(raw, L_U) ? &raw->u : &d->bu;
    if ((rc = give_str(d, &pos, unit, &r->unit, &r->unit_len)) != CORIO_OK)
        return rc;

    if (HAS(raw, L_V)) {
        r->type = CORIO_SENML_NUMBER;
        r->v = d->has_bv ? d->bv + raw->v : raw->v; /* -0 stays -0 without bv */
        if (!is_finite(r->v))
            return CORIO_ERR_UNSUPPORTED;
    } else if (HAS(raw, L_VS)) {
        r->type = CORIO_SENML_STRING;
        if ((rc = give_str(d, &pos, &raw->vs, &r->vs, &r->vs_len)) != CORIO_OK)
            return rc;
    } else if (HAS(raw, L_VB)) {
        r->type = CORIO_SENML_BOOL;
        r->vb = raw->vb;
    } else if (HAS(raw, L_VD)) {
        r->type = CORIO_SENML_DATA;
        if (d->fmt == CORIO_FORMAT_JSON) {
            int n_out = corio__b64url_decode(&raw->vd_text, (uint8_t *)d->buf + pos,
                                             d->cap - pos);
            if (n_out < 0)
                return n_out;
            r->vd = (const uint8_t *)d->buf + pos;
            r->vd_len = (size_t)n_out;
        } else {
            r->vd = raw->vd;
            r->vd_len = raw->vd_len;
        }
    }
    if (HAS(raw, L_S) || d->has_bs) {
        r->has_sum = true;
        if (d->has_bs && HAS(raw, L_S))
            r->sum = d->bs + raw->s;
        else
            r->sum = d->has_bs ? d->bs : raw->s;
        if (!is_finite(r->sum))
            return CORIO_ERR_UNSUPPORTED;
    }
    if (d->has_bt && HAS(raw, L_T))
        r->time = d->bt + raw->t;
    else
        r->time = d->has_bt ? d->bt : HAS(raw, L_T) ? raw->t : 0.0;
    if (!is_finite(r->time))
        return CORIO_ERR_UNSUPPORTED;
    r->time_relative = r->time < CORIO_SENML_RELATIVE_LIMIT;
    if (HAS(raw, L_UT)) {
        r->has_ut = true;
        r->ut = raw->ut;
    }
    return 0;
}

/* At a record boundary: whether the pack has ended (and nothing follows it). Returns
 * 1 if ended, 0 if a record follows, or an error. */
static int at_end(struct corio_senml_dec *d)
{
    int rc;
    if (d->fmt == CORIO_FORMAT_JSON) {
        struct corio_json_tok t;
        if ((rc = corio_json_peek(&d->in.json, &t)) != CORIO_OK)
            return rc == CORIO_ERR_NOTFOUND ? CORIO_ERR_MALFORMED : rc;
        if (t.type != CORIO_JSON_ARRAY_END)
            return 0;
        corio_json_next(&d->in.json, &t);
        return corio_json_finish(&d->in.json) == CORIO_OK ? 1 : CORIO_ERR_MALFORMED;
    }
    if (d->left == CORIO_CBOR_INDEFINITE) {
        if (!corio_cbor_at_break(&d->in.cbor))
            return 0;
        if ((rc = corio_cbor_expect_break(&d->in.cbor)) != CORIO_OK)
            return rc;
    } else if (d->left > 0)
        return 0;
    return corio_cbor_dec_finish(&d->in.cbor) == CORIO_OK ? 1 : CORIO_ERR_MALFORMED;
}

int corio_senml_dec_next(struct corio_senml_dec *d, struct corio_senml_record *r)
{
    struct senml_raw raw;
    int rc;
    if (d->err != CORIO_OK)
        return d->err;
    if (d->done)
        return 0;
    for (;;) {
        rc = at_end(d);
        if (rc < 0)
            return dec_fail(d, rc);
        if (rc == 1) {
            d->done = true;
            return 0;
        }
        if (d->index >= d->max_records)
            return dec_fail(d, CORIO_ERR_UNSUPPORTED);
        if ((rc = read_record(d, &raw)) != CORIO_OK)
            return dec_fail(d, rc);
        if (d->fmt == CORIO_FORMAT_CBOR && d->left != CORIO_CBOR_INDEFINITE)
            d->left--;
        rc = resolve(d, &raw, r);
        if (rc < 0)
            return dec_fail(d, rc);
        d->index++;
        if (rc == 0)
            return 1;
    }
}
