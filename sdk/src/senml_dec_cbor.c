/*
 * senml_dec_cbor.c - reads one SenML-CBOR record map into the format-independent raw
 * record that senml_dec.c resolves.
 *
 * RFC 8428 §6: the labels of Table 4 are integers; any other label is text (Corio's
 * extension labels among them), so an integer outside the table or a text label we
 * do not know is an unknown field and is skipped, unless its text ends with '_'.
 * Numbers may be integers, floats or decimal fractions (tag 4). Keys may come in any
 * order and maps may be definite or indefinite; the CBOR cursor has already refused
 * anything that is not well-formed.
 */
#include <string.h>

#include "senml_int.h"

#define TAG_DECIMAL_FRACTION 4 /* RFC 8949 §3.4.4 */

static int label_of_int(int64_t v)
{
    for (int l = 0; l < L_COUNT; l++)
        if (corio__senml_labels[l].cbor != INT8_MIN && corio__senml_labels[l].cbor == v)
            return l;
    return -1;
}

static int label_of_text(const char *s, size_t n)
{
    for (int l = 0; l < L_COUNT; l++) {
        const char *text = corio__senml_labels[l].text;
        if (corio__senml_labels[l].cbor == INT8_MIN && strlen(text) == n &&
            memcmp(text, s, n) == 0)
            return l;
    }
    return -1;
}

/* A decimal fraction (RFC 8949 §3.4.4): tag 4 over [exponent, mantissa]. */
static int read_decimal(struct corio_cbor_dec *c, double *v)
{
    struct corio_cbor_dec save = *c;
    uint64_t tag, count, m = 0;
    int64_t exp = 0;
    struct corio_cbor_item it;
    bool neg = false;
    int rc = corio_cbor_expect_tag(c, &tag);
    if (rc == CORIO_OK && tag != TAG_DECIMAL_FRACTION)
        rc = CORIO_ERR_MALFORMED;
    if (rc == CORIO_OK)
        rc = corio_cbor_expect_array(c, &count);
    if (rc == CORIO_OK && count != 2)
        rc = CORIO_ERR_MALFORMED;
    if (rc == CORIO_OK)
        rc = corio_cbor_expect_int(c, &exp);
    if (rc == CORIO_OK)
        rc = corio_cbor_peek(c, &it);
    if (rc == CORIO_OK) {
        if (it.type == CORIO_CBOR_UINT) {
            rc = corio_cbor_expect_uint(c, &m);
        } else if (it.type == CORIO_CBOR_NEGINT) {
            /* -1 - u: magnitude u + 1, which 2^64 would not fit */
            rc = it.u == UINT64_MAX ? CORIO_ERR_UNSUPPORTED : corio_cbor_next(c, &it);
            m = it.u + 1;
            neg = true;
        } else if (it.type == CORIO_CBOR_TAG &&
                   (it.u == CORIO_CBOR_TAG_UBIGNUM || it.u == CORIO_CBOR_TAG_NBIGNUM)) {
            rc = CORIO_ERR_UNSUPPORTED;
        } else {
            rc = CORIO_ERR_MALFORMED;
        }
    }
    if (rc == CORIO_OK)
        rc = corio_json_decimal_to_double(neg, m, exp, v);
    if (rc != CORIO_OK)
        *c = save;
    return rc;
}

static int read_number(struct corio_cbor_dec *c, double *v)
{
    struct corio_cbor_item it;
    double x;
    int rc = corio_cbor_peek(c, &it);
    if (rc != CORIO_OK)
        return rc;
    if (it.type == CORIO_CBOR_TAG)
        rc = read_decimal(c, &x);
    else
        rc = corio_cbor_expect_number(c, &x);
    if (rc != CORIO_OK)
        return rc;
    if (x - x != 0.0)
        return CORIO_ERR_MALFORMED; /* NaN and infinities are not JSON numbers */
    *v = x;
    return CORIO_OK;
}

static int read_value(struct corio_cbor_dec *c, struct senml_raw *raw, int l)
{
    const char *s;
    size_t n;
    struct corio_senml_str *str = NULL;
    double *num = NULL;
    uint64_t *u = NULL;
    switch (l) {
    case L_BN:
        str = &raw->bn;
        break;
    case L_BU:
        str = &raw->bu;
        break;
    case L_N:
        str = &raw->n;
        break;
    case L_U:
        str = &raw->u;
        break;
    case L_VS:
        str = &raw->vs;
        break;
    case L_BT:
        num = &raw->bt;
        break;
    case L_BV:
        num = &raw->bv;
        break;
    case L_BS:
        num = &raw->bs;
        break;
    case L_V:
        num = &raw->v;
        break;
    case L_S:
        num = &raw->s;
        break;
    case L_T:
        num = &raw->t;
        break;
    case L_UT:
        num = &raw->ut;
        break;
    case L_BVER: /* RFC 8428 §6: the version is an unsigned integer only */
        u = &raw->bver;
        break;
    case L_EP:
        u = &raw->ep;
        break;
    case L_SEQ:
        u = &raw->seq;
        break;
    case L_BOOT:
        u = &raw->boot;
        break;
    case L_UPT:
        u = &raw->upt;
        break;
    case L_VB:
        return corio_cbor_expect_bool(c, &raw->vb);
    default: /* L_VD */
        return corio_cbor_expect_bytes(c, &raw->vd, &raw->vd_len);
    }
    if (num)
        return read_number(c, num);
    if (u)
        return corio_cbor_expect_uint(c, u);
    int rc = corio_cbor_expect_text(c, &s, &n);
    if (rc != CORIO_OK)
        return rc;
    str->p = s;
    str->n = n;
    str->esc = false;
    return CORIO_OK;
}

int corio__senml_cbor_record(struct corio_cbor_dec *c, struct senml_raw *raw)
{
    uint64_t pairs;
    struct corio_cbor_item it;
    int rc;
    memset(raw, 0, sizeof *raw);
    if ((rc = corio_cbor_expect_map(c, &pairs)) != CORIO_OK)
        return rc;
    bool indefinite = pairs == CORIO_CBOR_INDEFINITE;
    for (uint64_t i = 0; indefinite ? !corio_cbor_at_break(c) : i < pairs; i++) {
        int l;
        if ((rc = corio_cbor_peek(c, &it)) != CORIO_OK)
            return rc;
        if (it.type == CORIO_CBOR_UINT || it.type == CORIO_CBOR_NEGINT) {
            corio_cbor_next(c, &it);
            l = it.u <= 8 ? label_of_int(it.type == CORIO_CBOR_UINT ? (int64_t)it.u
                                                                     : -1 - (int64_t)it.u)
                          : -1;
        } else if (it.type == CORIO_CBOR_TEXT) {
            const char *s;
            size_t n;
            if ((rc = corio_cbor_expect_text(c, &s, &n)) != CORIO_OK)
                return rc;
            l = label_of_text(s, n);
            if (l < 0 && n > 0 && s[n - 1] == '_')
                return CORIO_ERR_UNSUPPORTED; /* must-understand (RFC 8428 §4.4) */
        } else {
            return CORIO_ERR_MALFORMED; /* a label is an integer or a text */
        }
        if (l < 0) {
            if ((rc = corio_cbor_skip(c)) != CORIO_OK)
                return rc;
            continue;
        }
        if (HAS(raw, l))
            return CORIO_ERR_MALFORMED; /* RFC 8949 §5.6: not a valid map */
        raw->has |= 1u << l;
        if ((rc = read_value(c, raw, l)) != CORIO_OK)
            return rc;
    }
    if (indefinite)
        return corio_cbor_expect_break(c);
    return CORIO_OK;
}
