/*
 * senml_dec_json.c - reads one SenML-JSON record object into the format-independent
 * raw record that senml_dec.c resolves. Labels are compared after JSON unescaping
 * ("\u0076" is "v"); strings stay in the message until the resolver needs them.
 */
#include <string.h>

#include "senml_int.h"

static int label_of(const struct corio_json_tok *k)
{
    for (int l = 0; l < L_COUNT; l++) {
        const char *text = corio__senml_labels[l].text;
        if (corio_json_string_eq(k, text, strlen(text)))
            return l;
    }
    return -1;
}

/* RFC 8428 §4.4: a label ending with '_' must be understood. */
static bool must_understand(const struct corio_json_tok *k)
{
    struct corio_json_str it;
    int c, last = -1;
    corio_json_str_begin(&it, k);
    while ((c = corio_json_str_next(&it)) >= 0)
        last = c;
    return last == '_';
}

static double *number_slot(struct senml_raw *raw, int l)
{
    switch (l) {
    case L_BT:
        return &raw->bt;
    case L_BV:
        return &raw->bv;
    case L_BS:
        return &raw->bs;
    case L_V:
        return &raw->v;
    case L_S:
        return &raw->s;
    case L_T:
        return &raw->t;
    case L_UT:
        return &raw->ut;
    default:
        return NULL;
    }
}

static uint64_t *uint_slot(struct senml_raw *raw, int l)
{
    switch (l) {
    case L_BVER:
        return &raw->bver;
    case L_EP:
        return &raw->ep;
    case L_SEQ:
        return &raw->seq;
    case L_BOOT:
        return &raw->boot;
    case L_UPT:
        return &raw->upt;
    default:
        return NULL;
    }
}

static struct corio_senml_str *string_slot(struct senml_raw *raw, int l)
{
    switch (l) {
    case L_BN:
        return &raw->bn;
    case L_BU:
        return &raw->bu;
    case L_N:
        return &raw->n;
    case L_U:
        return &raw->u;
    case L_VS:
        return &raw->vs;
    case L_VD:
        return &raw->vd_text;
    default:
        return NULL;
    }
}

static int not_end(int rc)
{
    return rc == CORIO_ERR_NOTFOUND ? CORIO_ERR_MALFORMED : rc;
}

int corio__senml_json_record(struct corio_json *j, struct senml_raw *raw)
{
    struct corio_json_tok t, k;
    int rc;
    memset(raw, 0, sizeof *raw);
    if ((rc = corio_json_next(j, &t)) != CORIO_OK)
        return not_end(rc);
    if (t.type != CORIO_JSON_OBJECT)
        return CORIO_ERR_MALFORMED;
    for (;;) {
        if ((rc = corio_json_next(j, &k)) != CORIO_OK)
            return not_end(rc);
        if (k.type == CORIO_JSON_OBJECT_END)
            return CORIO_OK;
        int l = label_of(&k);
        if (l < 0) {
            if (must_understand(&k))
                return CORIO_ERR_UNSUPPORTED;
            if ((rc = corio_json_skip(j)) != CORIO_OK)
                return rc;
            continue;
        }
        if (HAS(raw, l))
            return CORIO_ERR_MALFORMED; /* which of the two would count? */
        raw->has |= 1u << l;
        if ((rc = corio_json_next(j, &t)) != CORIO_OK)
            return not_end(rc);
        double *num = number_slot(raw, l);
        uint64_t *u = uint_slot(raw, l);
        struct corio_senml_str *str = string_slot(raw, l);
        if (num) {
            if (t.type != CORIO_JSON_NUMBER)
                return CORIO_ERR_MALFORMED;
            if ((rc = corio_json_number(&t, num)) != CORIO_OK)
                return rc;
        } else if (u) {
            if (t.type != CORIO_JSON_NUMBER)
                return CORIO_ERR_MALFORMED;
            if ((rc = corio_json_uint64(&t, u)) != CORIO_OK)
                return rc;
        } else if (str) {
            if (t.type != CORIO_JSON_STRING)
                return CORIO_ERR_MALFORMED;
            str->p = t.ptr;
            str->n = t.len;
            str->esc = t.escaped;
        } else { /* L_VB */
            if (t.type != CORIO_JSON_TRUE && t.type != CORIO_JSON_FALSE)
                return CORIO_ERR_MALFORMED;
            raw->vb = t.type == CORIO_JSON_TRUE;
        }
    }
}
