/*
 * coap_codec.c - CoAP messages (coap_codec.h): the strict decoder, the option iterator
 * and checks, option value helpers, and the writer.
 *
 * Options are delta-encoded (RFC 7252 §3.1): each carries its number as the difference
 * from the previous one, and both delta and length use a 4-bit nibble with 1- or 2-byte
 * extensions. The extended forms start where the shorter ones end (13 + byte,
 * 269 + two bytes), so every number and length has exactly one encoding; the decoder
 * therefore needs no "minimal encoding" rule, and a decoded message re-encodes to the
 * same bytes.
 */
#include <string.h>

#include "corio/coap_codec.h"

#define PAYLOAD_MARKER 0xFFu

/* Reads a delta or length nibble's value, with its extension bytes from *pp. */
static int ext_read(unsigned nibble, const uint8_t **pp, const uint8_t *end, uint32_t *v)
{
    const uint8_t *p = *pp;
    if (nibble < 13) {
        *v = nibble;
    } else if (nibble == 13) {
        if (end - p < 1)
            return CORIO_ERR_MALFORMED;
        *v = 13u + p[0];
        p += 1;
    } else if (nibble == 14) {
        if (end - p < 2)
            return CORIO_ERR_MALFORMED;
        *v = 269u + ((uint32_t)p[0] << 8 | p[1]);
        p += 2;
    } else {
        return CORIO_ERR_MALFORMED; /* 15 is reserved outside the payload marker */
    }
    *pp = p;
    return CORIO_OK;
}

/* Reads one option at *pp (which is not the payload marker and not end), its number
 * relative to *number. */
static int opt_read(const uint8_t **pp, const uint8_t *end, uint16_t *number,
                    struct corio_coap_option *o)
{
    const uint8_t *p = *pp;
    unsigned b = *p++;
    uint32_t delta, len;
    if (ext_read(b >> 4, &p, end, &delta) != CORIO_OK ||
        ext_read(b & 0x0Fu, &p, end, &len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if ((uint32_t)*number + delta > 0xFFFFu || len > (size_t)(end - p))
        return CORIO_ERR_MALFORMED;
    *number = (uint16_t)(*number + delta);
    o->number = *number;
    o->len = (uint16_t)len;
    o->value = p;
    *pp = p + len;
    return CORIO_OK;
}

int corio_coap_decode(const uint8_t *buf, size_t len, struct corio_coap_msg *m)
{
    if (!buf || !m)
        return CORIO_ERR_INVAL;
    memset(m, 0, sizeof *m);
    if (len < CORIO_COAP_HEADER_LEN)
        return CORIO_ERR_MALFORMED;
    m->type = (uint8_t)((buf[0] >> 4) & 3u);
    m->code = buf[1];
    m->mid = (uint16_t)(buf[2] << 8 | buf[3]);
    if ((buf[0] >> 6) != 1)
        return CORIO_ERR_VERSION;
    unsigned tkl = buf[0] & 0x0Fu;
    if (tkl > CORIO_COAP_MAX_TOKEN || tkl > len - CORIO_COAP_HEADER_LEN)
        return CORIO_ERR_MALFORMED;
    if (m->code == CORIO_COAP_EMPTY && len != CORIO_COAP_HEADER_LEN)
        return CORIO_ERR_MALFORMED; /* RFC 7252 §4.1: nothing after the message id */
    m->token_len = (uint8_t)tkl;
    memcpy(m->token, buf + CORIO_COAP_HEADER_LEN, tkl);

    const uint8_t *p = buf + CORIO_COAP_HEADER_LEN + tkl, *end = buf + len;
    const uint8_t *opts = p;
    uint16_t number = 0;
    while (p < end && *p != PAYLOAD_MARKER) {
        struct corio_coap_option o;
        if (opt_read(&p, end, &number, &o) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    }
    m->options = opts;
    m->options_len = (size_t)(p - opts);
    if (p < end) {
        p++; /* the marker */
        if (p == end)
            return CORIO_ERR_MALFORMED; /* RFC 7252 §3: a marker with no payload */
        m->payload = p;
        m->payload_len = (size_t)(end - p);
    }
    return CORIO_OK;
}

void corio_coap_opt_iter_init(struct corio_coap_opt_iter *it, const struct corio_coap_msg *m)
{
    if (!it)
        return;
    it->p = m ? m->options : NULL;
    it->end = m && m->options ? m->options + m->options_len : NULL;
    it->number = 0;
}

int corio_coap_opt_next(struct corio_coap_opt_iter *it, struct corio_coap_option *opt)
{
    if (!it || !opt)
        return CORIO_ERR_INVAL;
    if (!it->p || it->p >= it->end)
        return CORIO_ERR_NOTFOUND;
    if (*it->p == PAYLOAD_MARKER || opt_read(&it->p, it->end, &it->number, opt) != CORIO_OK) {
        it->p = it->end;
        return CORIO_ERR_MALFORMED;
    }
    return CORIO_OK;
}

int corio_coap_opt_find(const struct corio_coap_msg *m, uint16_t number,
                        struct corio_coap_option *opt)
{
    struct corio_coap_opt_iter it;
    struct corio_coap_option o;
    if (!m)
        return CORIO_ERR_INVAL;
    corio_coap_opt_iter_init(&it, m);
    while (corio_coap_opt_next(&it, &o) == CORIO_OK) {
        if (o.number == number) {
            if (opt)
                *opt = o;
            return CORIO_OK;
        }
        if (o.number > number)
            break;
    }
    return CORIO_ERR_NOTFOUND;
}

size_t corio_coap_opt_count(const struct corio_coap_msg *m, uint16_t number)
{
    struct corio_coap_opt_iter it;
    struct corio_coap_option o;
    size_t n = 0;
    if (!m)
        return 0;
    corio_coap_opt_iter_init(&it, m);
    while (corio_coap_opt_next(&it, &o) == CORIO_OK && o.number <= number)
        n += o.number == number;
    return n;
}

/* The options the SDK recognises, with their value length ranges and whether they may
 * repeat (RFC 7252 table 4, RFC 7641 §2, RFC 7959 §2.1 and §4). */
static const struct known {
    uint16_t number;
    uint16_t min, max;
    bool repeatable;
} known[] = {
    {CORIO_COAP_OPT_IF_MATCH, 0, 8, true},
    {CORIO_COAP_OPT_URI_HOST, 1, 255, false},
    {CORIO_COAP_OPT_ETAG, 1, 8, true},
    {CORIO_COAP_OPT_IF_NONE_MATCH, 0, 0, false},
    {CORIO_COAP_OPT_OBSERVE, 0, 3, false},
    {CORIO_COAP_OPT_URI_PORT, 0, 2, false},
    {CORIO_COAP_OPT_LOCATION_PATH, 0, 255, true},
    {CORIO_COAP_OPT_URI_PATH, 0, 255, true},
    {CORIO_COAP_OPT_CONTENT_FORMAT, 0, 2, false},
    {CORIO_COAP_OPT_MAX_AGE, 0, 4, false},
    {CORIO_COAP_OPT_URI_QUERY, 0, 255, true},
    {CORIO_COAP_OPT_ACCEPT, 0, 2, false},
    {CORIO_COAP_OPT_LOCATION_QUERY, 0, 255, true},
    {CORIO_COAP_OPT_BLOCK2, 0, 3, false},
    {CORIO_COAP_OPT_BLOCK1, 0, 3, false},
    {CORIO_COAP_OPT_SIZE2, 0, 4, false},
    {CORIO_COAP_OPT_PROXY_URI, 1, 1034, false},
    {CORIO_COAP_OPT_PROXY_SCHEME, 1, 255, false},
    {CORIO_COAP_OPT_SIZE1, 0, 4, false},
};

int corio_coap_options_check(const struct corio_coap_msg *m, uint16_t *bad)
{
    struct corio_coap_opt_iter it;
    struct corio_coap_option o;
    uint16_t prev = 0;
    bool first = true;
    int rc;
    if (!m)
        return CORIO_ERR_INVAL;
    corio_coap_opt_iter_init(&it, m);
    while ((rc = corio_coap_opt_next(&it, &o)) == CORIO_OK) {
        const struct known *k = NULL;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (known[i].number == o.number)
                k = &known[i];
        bool recognised =
            k && o.len >= k->min && o.len <= k->max && (k->repeatable || first || prev != o.number);
        prev = o.number;
        first = false;
        if (!recognised && (o.number & 1u)) {
            if (bad)
                *bad = o.number;
            return CORIO_ERR_UNSUPPORTED;
        }
    }
    return rc == CORIO_ERR_NOTFOUND ? CORIO_OK : rc;
}

int corio_coap_opt_uint(const struct corio_coap_option *opt, uint32_t *v)
{
    if (!opt || !v || (opt->len && !opt->value))
        return CORIO_ERR_INVAL;
    if (opt->len > 4)
        return CORIO_ERR_MALFORMED;
    uint32_t x = 0;
    for (uint16_t i = 0; i < opt->len; i++)
        x = x << 8 | opt->value[i];
    *v = x;
    return CORIO_OK;
}

int corio_coap_block_get(const struct corio_coap_option *opt, struct corio_coap_block *b)
{
    uint32_t v;
    if (!opt || !b)
        return CORIO_ERR_INVAL;
    if (opt->len > 3 || corio_coap_opt_uint(opt, &v) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if ((v & 7u) == 7u)
        return CORIO_ERR_MALFORMED; /* RFC 7959 §2.2: SZX 7 is reserved */
    b->num = v >> 4;
    b->more = (v & 8u) != 0;
    b->szx = (uint8_t)(v & 7u);
    return CORIO_OK;
}

uint32_t corio_coap_block_value(const struct corio_coap_block *b)
{
    return b ? (b->num << 4) | (b->more ? 8u : 0u) | (b->szx & 7u) : 0;
}

/* ---------------------------------------------------------------------------------
 * The writer
 */

/* Room for n more bytes; sets the sticky error when there is none. NULL while
 * counting or after an error. */
static uint8_t *reserve(struct corio_coap_writer *w, size_t n)
{
    if (w->err)
        return NULL;
    if (!w->buf) {
        w->len += n;
        return NULL;
    }
    if (w->cap - w->len < n) {
        w->err = CORIO_ERR_NOSPACE;
        return NULL;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

void corio_coap_write_begin(struct corio_coap_writer *w, uint8_t *buf, size_t cap, uint8_t type,
                            uint8_t code, uint16_t mid, const uint8_t *token, uint8_t token_len)
{
    if (!w)
        return;
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    if ((!buf && cap) || type > CORIO_COAP_RST || token_len > CORIO_COAP_MAX_TOKEN ||
        (token_len && !token)) {
        w->err = CORIO_ERR_INVAL;
        return;
    }
    uint8_t *p = reserve(w, CORIO_COAP_HEADER_LEN + token_len);
    if (!p)
        return;
    p[0] = (uint8_t)(0x40u | (unsigned)type << 4 | token_len);
    p[1] = code;
    p[2] = (uint8_t)(mid >> 8);
    p[3] = (uint8_t)mid;
    if (token_len)
        memcpy(p + 4, token, token_len);
}

/* The nibble and extension bytes for a delta or length v (<= 65535 + 269). */
static unsigned ext_nibble(uint32_t v, size_t *ext)
{
    if (v < 13) {
        *ext = 0;
        return v;
    }
    if (v < 269) {
        *ext = 1;
        return 13;
    }
    *ext = 2;
    return 14;
}

static uint8_t *ext_put(uint8_t *p, uint32_t v, size_t ext)
{
    if (ext == 1) {
        *p++ = (uint8_t)(v - 13u);
    } else if (ext == 2) {
        uint32_t x = v - 269u;
        *p++ = (uint8_t)(x >> 8);
        *p++ = (uint8_t)x;
    }
    return p;
}

void corio_coap_write_option(struct corio_coap_writer *w, uint16_t number, const void *value,
                             size_t len)
{
    if (!w || w->err)
        return;
    if (number < w->last || w->payload || (len && !value) || len > 0xFFFFu) {
        w->err = CORIO_ERR_INVAL;
        return;
    }
    uint32_t delta = (uint32_t)number - w->last;
    size_t dext, lext;
    unsigned dn = ext_nibble(delta, &dext), ln = ext_nibble((uint32_t)len, &lext);
    uint8_t *p = reserve(w, 1 + dext + lext + len);
    w->last = number;
    if (!p)
        return;
    *p++ = (uint8_t)(dn << 4 | ln);
    p = ext_put(p, delta, dext);
    p = ext_put(p, (uint32_t)len, lext);
    if (len)
        memcpy(p, value, len);
}

void corio_coap_write_uint(struct corio_coap_writer *w, uint16_t number, uint32_t v)
{
    uint8_t b[4];
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8)
        if (n || (v >> shift) & 0xFFu)
            b[n++] = (uint8_t)(v >> shift);
    corio_coap_write_option(w, number, b, n);
}

/* Writes s[0 .. len) split at sep, one option per piece. */
static void write_split(struct corio_coap_writer *w, uint16_t number, const char *s, size_t len,
                        char sep)
{
    if (!w || w->err)
        return;
    if (len && !s) {
        w->err = CORIO_ERR_INVAL;
        return;
    }
    size_t start = 0;
    if (len == 0)
        return;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != sep)
            continue;
        if (i - start > 255) {
            w->err = CORIO_ERR_INVAL;
            return;
        }
        corio_coap_write_option(w, number, s + start, i - start);
        start = i + 1;
    }
}

void corio_coap_write_path(struct corio_coap_writer *w, uint16_t number, const char *path,
                           size_t len)
{
    if (path && len && path[0] == '/') {
        path++;
        len--;
    }
    write_split(w, number, path, len, '/');
}

void corio_coap_write_query(struct corio_coap_writer *w, const char *query, size_t len)
{
    write_split(w, CORIO_COAP_OPT_URI_QUERY, query, len, '&');
}

void corio_coap_write_payload(struct corio_coap_writer *w, const void *payload, size_t len)
{
    if (!w || w->err || len == 0)
        return;
    if (w->payload || !payload) {
        w->err = CORIO_ERR_INVAL;
        return;
    }
    w->payload = true;
    uint8_t *p = reserve(w, 1 + len);
    if (!p)
        return;
    p[0] = PAYLOAD_MARKER;
    memcpy(p + 1, payload, len);
}

int corio_coap_write_end(const struct corio_coap_writer *w)
{
    if (!w)
        return CORIO_ERR_INVAL;
    if (w->err)
        return w->err;
    if (w->len > 0x7FFFFFFFu)
        return CORIO_ERR_NOSPACE;
    return (int)w->len;
}
