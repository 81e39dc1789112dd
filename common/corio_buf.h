/*
 * corio_buf.h - a bounded growable buffer for bodies and text (after curl's dynbuf).
 *
 * Every buffer has a mandatory cap: it never holds more than cap bytes, so a hostile
 * peer cannot make it grow without bound. A failed append (the cap would be passed, or
 * memory ran out) frees what the buffer held, so the caller never has to clean up a
 * half-built body on the error path: it just returns the error. The contents are always
 * NUL-terminated, so a text buffer can be used as a C string.
 *
 * The struct is public so that buffers can live on the stack or inside other structs;
 * treat its fields as read-only and use the functions below.
 */
#ifndef CORIO_BUF_H
#define CORIO_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct corio_buf {
    char *data;   /* NULL until something is added; NUL-terminated otherwise */
    size_t len;   /* bytes held, not counting the terminating NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* the most len may ever be */
};

/* A static initialiser: struct corio_buf b = CORIO_BUF_INIT(4096); */
#define CORIO_BUF_INIT(max)                                                                        \
    {                                                                                              \
        NULL, 0, 0, (max)                                                                          \
    }

/* Makes b an empty buffer that will hold at most cap bytes. Allocates nothing. */
void corio_buf_init(struct corio_buf *b, size_t cap);

/* Frees what b holds; b stays usable (empty, same cap). NULL is fine. */
void corio_buf_free(struct corio_buf *b);

/* Empties b but keeps its memory for reuse. */
void corio_buf_reset(struct corio_buf *b);

/*
 * Appends len bytes from p (which may be NULL when len is 0).
 * Returns CORIO_OK; CORIO_ERR_FULL when the result would pass the cap; CORIO_ERR_NOSPACE
 * when memory ran out. On any failure b has been freed (it is empty, cap unchanged).
 */
int corio_buf_add(struct corio_buf *b, const void *p, size_t len);

/* corio_buf_add of a NUL-terminated string (without its NUL). Same returns. */
int corio_buf_addstr(struct corio_buf *b, const char *s);

/* Appends printf-formatted text. Same returns as corio_buf_add; CORIO_ERR_INVAL on a
 * format error. */
int corio_buf_printf(struct corio_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int corio_buf_vprintf(struct corio_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The contents as a C string: "" when empty, never NULL. Owned by b. */
const char *corio_buf_str(const struct corio_buf *b);

/* Bytes held. */
size_t corio_buf_len(const struct corio_buf *b);

/*
 * Hands the contents to the caller, who frees them with free(); b is left empty.
 * *len (when len is not NULL) gets the length. Returns NULL when b is empty.
 */
char *corio_buf_take(struct corio_buf *b, size_t *len);

#endif /* CORIO_BUF_H */
