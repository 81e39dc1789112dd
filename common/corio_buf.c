/* corio_buf.c - the bounded growable buffer (corio_buf.h). */
#include "corio_buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"

#define MIN_ALLOC 64

void corio_buf_init(struct corio_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void corio_buf_free(struct corio_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void corio_buf_reset(struct corio_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for extra more bytes plus the NUL, growing geometrically up to cap + 1. */
static int reserve(struct corio_buf *b, size_t extra)
{
    if (extra > b->cap || b->len > b->cap - extra) {
        corio_buf_free(b);
        return CORIO_ERR_FULL;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return CORIO_OK;
    size_t grown = b->alloc ? b->alloc : MIN_ALLOC;
    while (grown < need)
        grown = grown > SIZE_MAX / 2 ? SIZE_MAX : grown * 2;
    /* Never allocate more than the cap can use (cap + 1 overflows only for SIZE_MAX). */
    if (b->cap < SIZE_MAX && grown > b->cap + 1)
        grown = b->cap + 1;
    char *p = realloc(b->data, grown);
    if (!p) {
        corio_buf_free(b);
        return CORIO_ERR_NOSPACE;
    }
    b->data = p;
    b->alloc = grown;
    return CORIO_OK;
}

int corio_buf_add(struct corio_buf *b, const void *p, size_t len)
{
    int rc = reserve(b, len);
    if (rc != CORIO_OK)
        return rc;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return CORIO_OK;
}

int corio_buf_addstr(struct corio_buf *b, const char *s)
{
    return corio_buf_add(b, s, strlen(s));
}

int corio_buf_vprintf(struct corio_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        corio_buf_free(b);
        return CORIO_ERR_INVAL;
    }
    if ((size_t)n < sizeof small)
        return corio_buf_add(b, small, (size_t)n);
    int rc = reserve(b, (size_t)n);
    if (rc != CORIO_OK)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CORIO_OK;
}

int corio_buf_printf(struct corio_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = corio_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *corio_buf_str(const struct corio_buf *b)
{
    return b->data ? b->data : "";
}

size_t corio_buf_len(const struct corio_buf *b)
{
    return b->len;
}

char *corio_buf_take(struct corio_buf *b, size_t *len)
{
    char *p = b->len ? b->data : NULL;
    if (len)
        *len = b->len;
    if (!p)
        free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}
