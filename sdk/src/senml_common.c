/*
 * senml_common.c - what both SenML directions use: the label table, the RFC 8428
 * §4.5.1 name rule and base64url (RFC 4648 §5, no padding) for JSON data values.
 */
#include <string.h>

#include "senml_int.h"

const struct senml_label_info corio__senml_labels[L_COUNT] = {
    [L_BN] = {"bn", -2},
    [L_BT] = {"bt", -3},
    [L_BU] = {"bu", -4},
    [L_BV] = {"bv", -5},
    [L_BS] = {"bs", -6},
    [L_BVER] = {"bver", -1},
    [L_N] = {"n", 0},
    [L_U] = {"u", 1},
    [L_V] = {"v", 2},
    [L_VS] = {"vs", 3},
    [L_VB] = {"vb", 4},
    [L_VD] = {"vd", 8},
    [L_S] = {"s", 5},
    [L_T] = {"t", 6},
    [L_UT] = {"ut", 7},
    [L_EP] = {CORIO_SENML_LABEL_EPOCH, INT8_MIN},
    [L_SEQ] = {CORIO_SENML_LABEL_SEQ, INT8_MIN},
    [L_BOOT] = {CORIO_SENML_LABEL_BOOT, INT8_MIN},
    [L_UPT] = {CORIO_SENML_LABEL_UPTIME, INT8_MIN},
};

static bool alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool corio_senml_name_valid(const char *s, size_t n)
{
    if (n == 0 || !alnum(s[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!alnum(c) && c != '-' && c != ':' && c != '.' && c != '/' && c != '_')
            return false;
    }
    return true;
}

int corio__b64url_put(struct corio_json_w *w, const uint8_t *p, size_t n)
{
    int rc = w->out.err;
    if (rc != CORIO_OK)
        return rc;
    if (n > 0 && !p)
        rc = CORIO_ERR_INVAL;
    else if (n / 3 > (SIZE_MAX - 6) / 4) /* the encoded length would overflow */
        rc = CORIO_ERR_NOSPACE;
    size_t chars = CORIO__B64URL_LEN(n);
    /* Room for the whole string first, so that it is written whole or not. */
    if (rc == CORIO_OK && chars + 2 > w->out.cap - w->out.len)
        rc = CORIO_ERR_NOSPACE;
    if (rc != CORIO_OK) {
        w->out.err = rc;
        return rc;
    }
    if (w->out.buf) {
        uint8_t *o = w->out.buf + w->out.len;
        *o++ = '"';
        for (size_t k = 0; k < chars; k++) {
            /* Character k holds bits 6k.. of the input: byte i from bit s of it. */
            size_t i = k / 4 * 3 + (k & 3) * 3 / 4;
            unsigned s = (unsigned)(k & 3) * 6 & 7;
            unsigned v = (unsigned)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0u);
            v = (v >> (10 - s)) & 63u;
            *o++ = (uint8_t)(v < 26 ? 'A' + v : v < 52 ? 'a' - 26 + v : v < 62 ? '0' - 52 + v : v == 62 ? '-' : '_');
        }
        *o = '"';
    }
    w->out.len += chars + 2;
    return CORIO_OK;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int corio__b64url_decode(const struct corio_senml_str *s, uint8_t *out, size_t cap)
{
    struct corio_json_tok t;
    struct corio_json_str it;
    uint32_t acc = 0;
    unsigned nacc = 0;
    size_t n = 0;
    int c;
    memset(&t, 0, sizeof t);
    t.type = CORIO_JSON_STRING;
    t.ptr = s->p;
    t.len = s->n;
    t.escaped = s->esc;
    corio_json_str_begin(&it, &t);
    while ((c = corio_json_str_next(&it)) >= 0) {
        int v = b64val(c);
        if (v < 0)
            return CORIO_ERR_MALFORMED;
        acc = (acc << 6) | (uint32_t)v;
        if (++nacc == 4) {
            if (cap - n < 3)
                return CORIO_ERR_NOSPACE;
            out[n++] = (uint8_t)(acc >> 16);
            out[n++] = (uint8_t)(acc >> 8);
            out[n++] = (uint8_t)acc;
            acc = 0;
            nacc = 0;
        }
    }
    if (nacc == 1)
        return CORIO_ERR_MALFORMED;
    if (nacc == 2) {
        if (acc & 0xf)
            return CORIO_ERR_MALFORMED; /* only one spelling per byte string */
        if (cap - n < 1)
            return CORIO_ERR_NOSPACE;
        out[n++] = (uint8_t)(acc >> 4);
    } else if (nacc == 3) {
        if (acc & 0x3)
            return CORIO_ERR_MALFORMED;
        if (cap - n < 2)
            return CORIO_ERR_NOSPACE;
        out[n++] = (uint8_t)(acc >> 10);
        out[n++] = (uint8_t)(acc >> 2);
    }
    if (n > (size_t)INT32_MAX)
        return CORIO_ERR_NOSPACE;
    return (int)n;
}
