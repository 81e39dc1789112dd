/*
 * json.c - the strict JSON (RFC 8259) pull tokenizer, string unescaping and the
 * writer (include/corio/json.h). Number conversions are in json_num.c.
 *
 * The tokenizer is a small state machine over the input with one bit per open
 * container (object or array), so its cost is fixed whatever the input. Every call
 * works on a copy and commits only on success, so an error leaves the caller's
 * position where it was. Strings are validated once, when tokenized (escapes,
 * surrogate pairs, UTF-8, control characters), which lets the unescaping helpers
 * assume valid content.
 */
#include <limits.h>
#include <string.h>

#include "corio/json.h"
#include "corio_int.h"

enum {
    ST_VALUE,        /* a value: at the top, after ':' or after ',' in an array */
    ST_ARRAY_FIRST,  /* after '[': a value or ']' */
    ST_OBJECT_FIRST, /* after '{': a key or '}' */
    ST_KEY,          /* after ',' in an object: a key */
    ST_AFTER,        /* after a value in a container: ',' or the container's end */
    ST_DONE,         /* the top-level value is complete */
};

void corio_json_init(struct corio_json *j, const char *buf, size_t len)
{
    memset(j, 0, sizeof *j);
    j->buf = buf;
    j->len = buf ? len : 0;
    j->state = ST_VALUE;
}

size_t corio_json_offset(const struct corio_json *j)
{
    return j->pos;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct corio_json *j)
{
    while (j->pos < j->len && is_ws(j->buf[j->pos]))
        j->pos++;
}

static bool top_is_object(const struct corio_json *j)
{
    unsigned i = j->depth - 1;
    return (j->stack[i / 8] >> (i % 8)) & 1u;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at p (the caller checked there are 4 bytes); -1 if not hex. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Scans the string whose opening quote is at j->pos; on success fills t's content
 * and moves past the closing quote. */
static int scan_string(struct corio_json *j, struct corio_json_tok *t)
{
    const char *b = j->buf;
    size_t n = j->len, i = j->pos + 1;
    bool escaped = false;
    for (;;) {
        if (i >= n)
            return CORIO_ERR_MALFORMED;
        uint8_t c = (uint8_t)b[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return CORIO_ERR_MALFORMED;
        if (c == '\\') {
            escaped = true;
            if (i + 1 >= n)
                return CORIO_ERR_MALFORMED;
            switch (b[i + 1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                i += 2;
                continue;
            case 'u':
                break;
            default:
                return CORIO_ERR_MALFORMED;
            }
            if (n - i < 6)
                return CORIO_ERR_MALFORMED;
            long cp = hex4(b + i + 2);
            if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
                return CORIO_ERR_MALFORMED; /* not hex, or a lone low surrogate */
            i += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (n - i < 6 || b[i] != '\\' || b[i + 1] != 'u')
                    return CORIO_ERR_MALFORMED; /* a lone high surrogate */
                long lo = hex4(b + i + 2);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return CORIO_ERR_MALFORMED;
                i += 6;
            }
            continue;
        }
        size_t k = corio__utf8_seq((const uint8_t *)b + i, n - i);
        if (k == 0)
            return CORIO_ERR_MALFORMED;
        i += k;
    }
    t->ptr = b + j->pos + 1;
    t->len = i - (j->pos + 1);
    t->escaped = escaped;
    j->pos = i + 1;
    return CORIO_OK;
}

/* Scans a number at j->pos per RFC 8259 §6's grammar. */
static int scan_number(struct corio_json *j, struct corio_json_tok *t)
{
    const char *b = j->buf;
    size_t n = j->len, i = j->pos;
    if (b[i] == '-')
        i++;
    if (i >= n)
        return CORIO_ERR_MALFORMED;
    if (b[i] == '0')
        i++;
    else if (b[i] >= '1' && b[i] <= '9')
        while (i < n && b[i] >= '0' && b[i] <= '9')
            i++;
    else
        return CORIO_ERR_MALFORMED;
    if (i < n && b[i] == '.') {
        i++;
        if (i >= n || b[i] < '0' || b[i] > '9')
            return CORIO_ERR_MALFORMED;
        while (i < n && b[i] >= '0' && b[i] <= '9')
            i++;
    }
    if (i < n && (b[i] == 'e' || b[i] == 'E')) {
        i++;
        if (i < n && (b[i] == '+' || b[i] == '-'))
            i++;
        if (i >= n || b[i] < '0' || b[i] > '9')
            return CORIO_ERR_MALFORMED;
        while (i < n && b[i] >= '0' && b[i] <= '9')
            i++;
    }
    t->ptr = b + j->pos;
    t->len = i - j->pos;
    j->pos = i;
    return CORIO_OK;
}

static int scan_literal(struct corio_json *j, const char *word, size_t wn)
{
    if (j->len - j->pos < wn || memcmp(j->buf + j->pos, word, wn) != 0)
        return CORIO_ERR_MALFORMED;
    j->pos += wn;
    return CORIO_OK;
}

/* A value begins at j->pos (whitespace skipped, not at the end). */
static int scan_value(struct corio_json *j, struct corio_json_tok *t)
{
    char c = j->buf[j->pos];
    int rc;
    t->ptr = j->buf + j->pos;
    t->len = 1;
    t->escaped = false;
    t->depth = j->depth;
    t->offset = j->pos;
    if (c == '{' || c == '[') {
        if (j->depth >= CORIO_JSON_MAX_DEPTH)
            return CORIO_ERR_UNSUPPORTED;
        unsigned i = j->depth;
        if (c == '{')
            j->stack[i / 8] = (uint8_t)(j->stack[i / 8] | (1u << (i % 8)));
        else
            j->stack[i / 8] = (uint8_t)(j->stack[i / 8] & ~(1u << (i % 8)));
        j->depth++;
        j->pos++;
        t->type = c == '{' ? CORIO_JSON_OBJECT : CORIO_JSON_ARRAY;
        j->state = c == '{' ? ST_OBJECT_FIRST : ST_ARRAY_FIRST;
        return CORIO_OK;
    }
    if (c == '"') {
        t->type = CORIO_JSON_STRING;
        rc = scan_string(j, t);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        t->type = CORIO_JSON_NUMBER;
        rc = scan_number(j, t);
    } else if (c == 't') {
        t->type = CORIO_JSON_TRUE;
        t->len = 4;
        rc = scan_literal(j, "true", 4);
    } else if (c == 'f') {
        t->type = CORIO_JSON_FALSE;
        t->len = 5;
        rc = scan_literal(j, "false", 5);
    } else if (c == 'n') {
        t->type = CORIO_JSON_NULL;
        t->len = 4;
        rc = scan_literal(j, "null", 4);
    } else
        return CORIO_ERR_MALFORMED;
    if (rc != CORIO_OK)
        return rc;
    j->state = j->depth == 0 ? ST_DONE : ST_AFTER;
    return CORIO_OK;
}

static int scan_key(struct corio_json *j, struct corio_json_tok *t)
{
    if (j->buf[j->pos] != '"')
        return CORIO_ERR_MALFORMED;
    t->type = CORIO_JSON_KEY;
    t->depth = j->depth;
    t->offset = j->pos;
    int rc = scan_string(j, t);
    if (rc != CORIO_OK)
        return rc;
    skip_ws(j);
    if (j->pos >= j->len || j->buf[j->pos] != ':')
        return CORIO_ERR_MALFORMED;
    j->pos++;
    j->state = ST_VALUE;
    return CORIO_OK;
}

static void scan_end(struct corio_json *j, struct corio_json_tok *t, bool object)
{
    j->depth--;
    t->type = object ? CORIO_JSON_OBJECT_END : CORIO_JSON_ARRAY_END;
    t->ptr = j->buf + j->pos;
    t->len = 1;
    t->escaped = false;
    t->depth = j->depth;
    t->offset = j->pos;
    j->pos++;
    j->state = j->depth == 0 ? ST_DONE : ST_AFTER;
}

int corio_json_next(struct corio_json *j, struct corio_json_tok *t)
{
    struct corio_json c = *j;
    struct corio_json_tok k;
    int rc;
    for (;;) {
        skip_ws(&c);
        if (c.state == ST_DONE)
            return c.pos == c.len ? CORIO_ERR_NOTFOUND : CORIO_ERR_MALFORMED;
        if (c.pos >= c.len)
            return CORIO_ERR_MALFORMED;
        char ch = c.buf[c.pos];
        switch (c.state) {
        case ST_AFTER:
            if (ch == ',') {
                c.pos++;
                c.state = top_is_object(&c) ? ST_KEY : ST_VALUE;
                continue;
            }
            if (ch == (top_is_object(&c) ? '}' : ']')) {
                scan_end(&c, &k, ch == '}');
                rc = CORIO_OK;
                break;
            }
            return CORIO_ERR_MALFORMED;
        case ST_ARRAY_FIRST:
            if (ch == ']') {
                scan_end(&c, &k, false);
                rc = CORIO_OK;
            } else
                rc = scan_value(&c, &k);
            break;
        case ST_OBJECT_FIRST:
            if (ch == '}') {
                scan_end(&c, &k, true);
                rc = CORIO_OK;
            } else
                rc = scan_key(&c, &k);
            break;
        case ST_KEY:
            rc = scan_key(&c, &k);
            break;
        default:
            rc = scan_value(&c, &k);
            break;
        }
        if (rc != CORIO_OK)
            return rc;
        *j = c;
        *t = k;
        return CORIO_OK;
    }
}

int corio_json_peek(const struct corio_json *j, struct corio_json_tok *t)
{
    struct corio_json c = *j;
    return corio_json_next(&c, t);
}

int corio_json_skip(struct corio_json *j)
{
    struct corio_json c = *j;
    struct corio_json_tok t, u;
    int rc = corio_json_next(&c, &t);
    if (rc == CORIO_ERR_NOTFOUND)
        return CORIO_ERR_MALFORMED;
    if (rc != CORIO_OK)
        return rc;
    if (t.type == CORIO_JSON_KEY || t.type == CORIO_JSON_OBJECT_END ||
        t.type == CORIO_JSON_ARRAY_END)
        return CORIO_ERR_MALFORMED;
    if (t.type == CORIO_JSON_OBJECT || t.type == CORIO_JSON_ARRAY) {
        do {
            rc = corio_json_next(&c, &u);
            if (rc == CORIO_ERR_NOTFOUND)
                return CORIO_ERR_MALFORMED;
            if (rc != CORIO_OK)
                return rc;
        } while (!((u.type == CORIO_JSON_OBJECT_END || u.type == CORIO_JSON_ARRAY_END) &&
                   u.depth == t.depth));
    }
    *j = c;
    return CORIO_OK;
}

int corio_json_finish(const struct corio_json *j)
{
    struct corio_json c = *j;
    skip_ws(&c);
    return c.state == ST_DONE && c.pos == c.len ? CORIO_OK : CORIO_ERR_MALFORMED;
}

/* ------------------------------------------------------------------------------ */
/* Strings                                                                        */
/* ------------------------------------------------------------------------------ */

void corio_json_str_begin(struct corio_json_str *s, const struct corio_json_tok *t)
{
    s->p = t->ptr;
    s->end = t->ptr + t->len;
    s->npend = 0;
    s->ipend = 0;
}

/* Writes code point cp as UTF-8 into out; returns the length. */
static uint8_t put_utf8(uint8_t out[4], unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

int corio_json_str_next(struct corio_json_str *s)
{
    if (s->ipend < s->npend)
        return s->pend[s->ipend++];
    if (s->p >= s->end)
        return -1;
    uint8_t c = (uint8_t)*s->p;
    if (c != '\\') {
        s->p++;
        return c;
    }
    char e = s->p[1];
    s->p += 2;
    switch (e) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default: /* '"', '\\', '/' stand for themselves */
        return (uint8_t)e;
    }
    unsigned long cp = (unsigned long)hex4(s->p);
    s->p += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned long lo = (unsigned long)hex4(s->p + 2);
        s->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    s->npend = put_utf8(s->pend, cp);
    s->ipend = 1;
    return s->pend[0];
}

int corio_json_unescape(const struct corio_json_tok *t, char *out, size_t cap)
{
    if (t->type != CORIO_JSON_KEY && t->type != CORIO_JSON_STRING)
        return CORIO_ERR_INVAL;
    size_t n = 0;
    if (!t->escaped) {
        n = t->len;
        if (n > (size_t)INT_MAX)
            return CORIO_ERR_INVAL;
        if (out) {
            if (n >= cap)
                return CORIO_ERR_NOSPACE;
            memcpy(out, t->ptr, n);
            out[n] = '\0';
        }
        return (int)n;
    }
    struct corio_json_str s;
    int c;
    corio_json_str_begin(&s, t);
    while ((c = corio_json_str_next(&s)) >= 0) {
        if (out) {
            if (n + 1 >= cap)
                return CORIO_ERR_NOSPACE;
            out[n] = (char)c;
        }
        n++;
    }
    if (n > (size_t)INT_MAX)
        return CORIO_ERR_INVAL;
    if (out) {
        if (n >= cap)
            return CORIO_ERR_NOSPACE;
        out[n] = '\0';
    }
    return (int)n;
}

bool corio_json_string_eq(const struct corio_json_tok *t, const char *s, size_t n)
{
    if (t->type != CORIO_JSON_KEY && t->type != CORIO_JSON_STRING)
        return false;
    if (!t->escaped)
        return t->len == n && (n == 0 || memcmp(t->ptr, s, n) == 0);
    struct corio_json_str it;
    size_t i = 0;
    int c;
    corio_json_str_begin(&it, t);
    while ((c = corio_json_str_next(&it)) >= 0) {
        if (i >= n || (uint8_t)s[i] != c)
            return false;
        i++;
    }
    return i == n;
}

/* ------------------------------------------------------------------------------ */
/* Writer                                                                         */
/* ------------------------------------------------------------------------------ */

void corio_json_w_init(struct corio_json_w *w, uint8_t *buf, size_t cap)
{
    corio_cbor_enc_init(&w->out, buf, cap);
}

size_t corio_json_w_len(const struct corio_json_w *w)
{
    return corio_cbor_enc_len(&w->out);
}

int corio_json_w_finish(const struct corio_json_w *w)
{
    return corio_cbor_enc_finish(&w->out);
}

static int w_fail(struct corio_json_w *w, int err)
{
    if (w->out.err == CORIO_OK)
        w->out.err = err;
    return w->out.err;
}

int corio_json_w_raw(struct corio_json_w *w, const char *s, size_t n)
{
    return corio_cbor_put_raw(&w->out, s, n);
}

int corio_json_w_string(struct corio_json_w *w, const char *s, size_t n)
{
    /* The characters with a two-character escape, and the escapes' second bytes. */
    static const char esc[] = "\"\\\b\f\n\r\t", rep[] = "\"\\bfnrt";
    size_t out = 2;
    if (w->out.err != CORIO_OK)
        return w->out.err;
    if (!s && n)
        return w_fail(w, CORIO_ERR_INVAL);
    /* Pass 0 validates and sizes, so that a string is written whole or not at all;
     * pass 1 writes. */
    for (uint8_t *p = NULL;; p = w->out.buf + w->out.len + 1) {
        for (size_t i = 0; i < n;) {
            uint8_t c = (uint8_t)s[i];
            char t[6];
            const char *from = t;
            size_t k = 2, used = 1;
            t[0] = '\\';
            const char *e = memchr(esc, c, sizeof esc - 1); /* esc holds no NUL */
            if (e) {
                t[1] = rep[e - esc];
            } else if (c < 0x20) {
                memcpy(t + 1, "u00", 3);
                t[4] = (char)('0' + (c >> 4));
                t[5] = (char)((c & 15) < 10 ? '0' + (c & 15) : 'a' - 10 + (c & 15));
                k = 6;
            } else {
                k = used = corio__utf8_seq((const uint8_t *)s + i, n - i);
                if (k == 0)
                    return w_fail(w, CORIO_ERR_INVAL);
                from = s + i;
            }
            if (p) {
                memcpy(p, from, k);
                p += k;
            } else {
                out += k;
            }
            i += used;
        }
        if (p)
            break;
        if (out > w->out.cap - w->out.len)
            return w_fail(w, CORIO_ERR_NOSPACE);
        if (!w->out.buf)
            break;
        w->out.buf[w->out.len] = '"';
        w->out.buf[w->out.len + out - 1] = '"';
    }
    w->out.len += out;
    return CORIO_OK;
}

int corio_json_w_double(struct corio_json_w *w, double v)
{
    char tmp[CORIO_JSON_DOUBLE_MAX];
    if (w->out.err != CORIO_OK)
        return w->out.err;
    int n = corio_json_fmt_double(v, tmp);
    if (n < 0)
        return w_fail(w, n);
    return corio_cbor_put_raw(&w->out, tmp, (size_t)n);
}

int corio_json_w_uint64(struct corio_json_w *w, uint64_t v)
{
    char tmp[CORIO_JSON_INT_MAX];
    int n = corio_json_fmt_uint64(v, tmp);
    return corio_cbor_put_raw(&w->out, tmp, (size_t)n);
}

int corio_json_w_int64(struct corio_json_w *w, int64_t v)
{
    char tmp[CORIO_JSON_INT_MAX];
    int n = corio_json_fmt_int64(v, tmp);
    return corio_cbor_put_raw(&w->out, tmp, (size_t)n);
}

int corio_json_w_decimal(struct corio_json_w *w, int64_t m, int e)
{
    /* At most 33 bytes: "-", 20 digits, "e" and "-2147483648" (and its NUL). */
    char tmp[40], digits[CORIO_JSON_INT_MAX];
    char *p = tmp;
    int nd = corio_json_fmt_uint64(m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m, digits);
    /* Fraction digits: with a point when -CORIO_JSON_DECIMAL_POINT_MAX <= e < 0, the
     * digits padded with zeros in front to have one before the point (0.0042). */
    int k = e < 0 && e >= -CORIO_JSON_DECIMAL_POINT_MAX ? -e : 0;
    int width = nd > k ? nd : k + 1;
    if (m < 0)
        *p++ = '-';
    for (int i = 0; i < width; i++) {
        int j = i - (width - nd);
        if (k && i == width - k)
            *p++ = '.';
        *p++ = j >= 0 ? digits[j] : '0';
    }
    if (!k && e != 0) {
        *p++ = 'e';
        if (e < 0)
            *p++ = '-';
        p += corio_json_fmt_uint64(e < 0 ? 0u - (unsigned)e : (unsigned)e, p);
    }
    return corio_cbor_put_raw(&w->out, tmp, (size_t)(p - tmp));
}

int corio_json_w_bool(struct corio_json_w *w, bool v)
{
    return v ? corio_cbor_put_raw(&w->out, "true", 4) : corio_cbor_put_raw(&w->out, "false", 5);
}
