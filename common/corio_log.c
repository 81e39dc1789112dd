/* corio_log.c - logfmt logging (corio_log.h). */
#include "corio_log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "corio/error.h"

#define TAIL_RESERVE 24                 /* room kept for " truncated=true\n" */
#define VALUE_MAX    CORIO_LOG_LINE_MAX /* one formatted value before escaping */

const char *const corio_log_level_names[] = {"debug", "info", "warn", "error", NULL};

static atomic_int g_level = CORIO_LOG_INFO;
static atomic_int g_fd = 2;
static char g_comp[64];
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;

int corio_log_level_parse(const char *s)
{
    for (int i = 0; corio_log_level_names[i]; i++)
        if (strcmp(s, corio_log_level_names[i]) == 0)
            return i;
    return CORIO_ERR_INVAL;
}

void corio_log_set_level(enum corio_log_level level)
{
    atomic_store(&g_level, (int)level);
}

enum corio_log_level corio_log_get_level(void)
{
    return (enum corio_log_level)atomic_load(&g_level);
}

bool corio_log_enabled(enum corio_log_level level)
{
    return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

void corio_log_set_comp(const char *comp)
{
    snprintf(g_comp, sizeof g_comp, "%s", comp ? comp : "");
}

void corio_log_set_fd(int fd)
{
    atomic_store(&g_fd, fd);
}

/* ---- the line being built ---------------------------------------------------------- */

struct line {
    char buf[CORIO_LOG_LINE_MAX];
    size_t len;
    bool full;      /* out of room: nothing more is added */
    bool truncated; /* something was cut: the line ends with truncated=true */
};

/* Room left before the reserved tail. */
static size_t room(const struct line *l)
{
    size_t limit = sizeof l->buf - TAIL_RESERVE;
    return l->len < limit ? limit - l->len : 0;
}

static bool put(struct line *l, const char *s, size_t n)
{
    if (l->full || n > room(l)) {
        l->full = l->truncated = true;
        return false;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

/*
 * Length of the UTF-8 sequence at s (n bytes available) and its code point, or 0 when it
 * is not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
 */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (s[0] < 0x80)
        return *cp = s[0], 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, c = s[0] & 0x1f, min = 0x80;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, c = s[0] & 0x0f, min = 0x800;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, c = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static bool needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '=' || ch == '"' || ch == '\\')
            return true;
    }
    return false;
}

/*
 * Appends a value, quoted and escaped when needed. What cannot be shown as itself is
 * escaped so that the line stays one line of valid UTF-8: control characters (C0, DEL,
 * C1), U+2028/U+2029 (line separators to some readers), and invalid bytes (\ufffd).
 */
static void put_value(struct line *l, const char *s, size_t n, bool force_quotes)
{
    if (!force_quotes && !needs_quotes(s, n)) {
        size_t fit = n < room(l) ? n : room(l);
        put(l, s, fit);
        if (fit < n)
            l->full = l->truncated = true;
        return;
    }
    if (!put(l, "\"", 1))
        return;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        char esc[8];
        const char *piece = esc;
        size_t plen = 2, adv = 1;
        uint32_t cp = 0;
        size_t seq = utf8_seq(u + i, n - i, &cp);
        esc[0] = '\\';
        if (seq == 0) {
            piece = "\\ufffd", plen = 6;
        } else if (cp == '"' || cp == '\\') {
            esc[1] = (char)cp;
        } else if (cp == '\n') {
            esc[1] = 'n';
        } else if (cp == '\r') {
            esc[1] = 'r';
        } else if (cp == '\t') {
            esc[1] = 't';
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            plen = 6, adv = seq;
        } else {
            piece = s + i, plen = seq, adv = seq;
        }
        /* keep one byte for the closing quote */
        if (plen + 1 > room(l)) {
            l->full = l->truncated = true;
            break;
        }
        put(l, piece, plen);
        i += adv;
    }
    l->buf[l->len++] = '"'; /* the reserved tail always has room for it */
}

/* Appends " key=" with key reduced to [A-Za-z0-9_.-] ("_" when nothing is left). */
static void put_key(struct line *l, const char *k, size_t n)
{
    char clean[64];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof clean; i++) {
        char ch = k[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        clean[o++] = ok ? ch : '_';
    }
    if (o == 0)
        clean[o++] = '_';
    put(l, " ", 1);
    put(l, clean, o);
    put(l, "=", 1);
}

/* ---- formatting values from a key=value printf format ------------------------------ */

struct vbuf {
    char p[VALUE_MAX];
    size_t len;
    bool cut;
};

static void vadd(struct vbuf *v, const char *s, size_t n)
{
    if (n > sizeof v->p - v->len) {
        n = sizeof v->p - v->len;
        v->cut = true;
    }
    memcpy(v->p + v->len, s, n);
    v->len += n;
}

/*
 * Formats the one conversion at f (f[0] == '%') into v, taking its arguments from ap, and
 * returns the first byte after it; NULL when the conversion is not one printf knows (the
 * compiler's format check makes that a programming error; the caller then stops taking
 * arguments, which is safe, rather than guess their types).
 */
static const char *one_conversion(const char *f, va_list *ap, struct vbuf *v, int saved_errno)
{
    char spec[32];
    size_t sl = 0;
    int stars[2], nstars = 0;
    const char *s = f + 1;
    spec[sl++] = '%';
    while (*s && strchr("-+ #0'", *s) && sl < 8)
        spec[sl++] = *s++;
    if (*s == '*') {
        stars[nstars++] = va_arg(*ap, int);
        spec[sl++] = *s++;
    } else {
        while (*s >= '0' && *s <= '9' && sl < 14)
            spec[sl++] = *s++;
    }
    if (*s == '.') {
        spec[sl++] = *s++;
        if (*s == '*') {
            stars[nstars++] = va_arg(*ap, int);
            spec[sl++] = *s++;
        } else {
            while (*s >= '0' && *s <= '9' && sl < 22)
                spec[sl++] = *s++;
        }
    }
    char len1 = 0, len2 = 0;
    if (*s && strchr("hljztLq", *s)) {
        len1 = *s;
        spec[sl++] = *s++;
        if ((len1 == 'h' || len1 == 'l') && *s == len1) {
            len2 = *s;
            spec[sl++] = *s++;
        }
    }
    char conv = *s;
    if (conv == '\0' || sl > 28)
        return NULL;
    spec[sl++] = conv;
    spec[sl] = '\0';
    s++;

    char tmp[1024];
    int n = 0;
#define FMT(val)                                                                                   \
    (nstars == 0   ? snprintf(tmp, sizeof tmp, spec, val)                                          \
     : nstars == 1 ? snprintf(tmp, sizeof tmp, spec, stars[0], val)                                \
                   : snprintf(tmp, sizeof tmp, spec, stars[0], stars[1], val))
    bool ll = len1 == 'q' || len1 == 'L' || (len1 == 'l' && len2 == 'l');
    switch (conv) {
    case '%':
        vadd(v, "%", 1);
        return s;
    case 'm': {
        char eb[128];
        const char *e = strerror_r(saved_errno, eb, sizeof eb);
        vadd(v, e, strlen(e));
        return s;
    }
    case 'n':
        (void)va_arg(*ap, void *);
        return s;
    case 'd':
    case 'i':
        if (ll)
            n = FMT(va_arg(*ap, long long));
        else if (len1 == 'l')
            n = FMT(va_arg(*ap, long));
        else if (len1 == 'j')
            n = FMT(va_arg(*ap, intmax_t));
        else if (len1 == 'z')
            n = FMT(va_arg(*ap, ssize_t));
        else if (len1 == 't')
            n = FMT(va_arg(*ap, ptrdiff_t));
        else
            n = FMT(va_arg(*ap, int));
        break;
    case 'o':
    case 'u':
    case 'x':
    case 'X':
        if (ll)
            n = FMT(va_arg(*ap, unsigned long long));
        else if (len1 == 'l')
            n = FMT(va_arg(*ap, unsigned long));
        else if (len1 == 'j')
            n = FMT(va_arg(*ap, uintmax_t));
        else if (len1 == 'z')
            n = FMT(va_arg(*ap, size_t));
        else if (len1 == 't')
            n = FMT(va_arg(*ap, ptrdiff_t));
        else
            n = FMT(va_arg(*ap, unsigned int));
        break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        if (len1 == 'L')
            n = FMT(va_arg(*ap, long double));
        else
            n = FMT(va_arg(*ap, double));
        break;
    case 'c':
        if (len1 == 'l')
            n = FMT(va_arg(*ap, wint_t));
        else
            n = FMT(va_arg(*ap, int));
        break;
    case 'p':
        n = FMT(va_arg(*ap, void *));
        break;
    case 's':
        if (len1 == 'l') {
            const wchar_t *w = va_arg(*ap, const wchar_t *);
            n = w ? FMT(w) : FMT("(null)");
        } else {
            const char *str = va_arg(*ap, const char *);
            if (!str)
                str = "(null)";
            if (sl == 2) { /* plain %s: no copy limit but the value's */
                vadd(v, str, strlen(str));
                return s;
            }
            n = FMT(str);
        }
        break;
    default:
        return NULL;
    }
#undef FMT
    if (n > 0)
        vadd(v, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    return s;
}

/* Appends the pairs of kvfmt, formatting each value from ap. */
static void put_pairs(struct line *l, const char *kvfmt, va_list *ap, int saved_errno)
{
    const char *p = kvfmt;
    bool args_ok = true;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *ks = p;
        while (*p && *p != '=' && *p != ' ' && *p != '%')
            p++;
        const char *key = ks;
        size_t kl = (size_t)(p - ks);
        if (*p == '=') {
            p++;
        } else { /* a value without a key: give it one rather than drop it */
            key = "arg", kl = 3, p = ks;
        }
        struct vbuf v;
        v.len = 0;
        v.cut = false;
        while (*p && *p != ' ') {
            if (*p != '%') {
                const char *lit = p;
                while (*p && *p != ' ' && *p != '%')
                    p++;
                vadd(&v, lit, (size_t)(p - lit));
                continue;
            }
            const char *next = args_ok ? one_conversion(p, ap, &v, saved_errno) : NULL;
            if (!next) {
                args_ok = false;
                next = p + 1;
                vadd(&v, "%", 1);
            }
            p = next;
        }
        put_key(l, key, kl);
        put_value(l, v.p, v.len, false);
        if (v.cut)
            l->truncated = true;
    }
}

static void emit(enum corio_log_level level, const char *msg, bool msg_cut, const char *kvfmt,
                 va_list *ap, int saved_errno)
{
    struct line l;
    l.len = 0;
    l.full = false;
    l.truncated = msg_cut;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char head[96];
    int hn = snprintf(head, sizeof head, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000000L,
                      corio_log_level_names[level <= CORIO_LOG_ERROR ? level : CORIO_LOG_ERROR]);
    put(&l, head, (size_t)hn);
    const char *comp = g_comp[0] ? g_comp : program_invocation_short_name;
    put_key(&l, "comp", 4);
    put_value(&l, comp, strlen(comp), false);
    put_key(&l, "msg", 3);
    put_value(&l, msg, strlen(msg), true);
    if (kvfmt)
        put_pairs(&l, kvfmt, ap, saved_errno);
    if (l.truncated) {
        memcpy(l.buf + l.len, " truncated=true", 15);
        l.len += 15;
    }
    l.buf[l.len++] = '\n';

    int fd = atomic_load(&g_fd);
    pthread_mutex_lock(&g_write_lock);
    for (size_t off = 0; off < l.len;) {
        ssize_t w = write(fd, l.buf + off, l.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere left to report a failing log */
        off += (size_t)w;
    }
    pthread_mutex_unlock(&g_write_lock);
}

void corio_log(enum corio_log_level level, const char *fmt, ...)
{
    if (!corio_log_enabled(level))
        return;
    int saved = errno;
    char msg[VALUE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, n >= (int)sizeof msg, NULL, NULL, saved);
    errno = saved;
}

void corio_logkv(enum corio_log_level level, const char *msg, const char *kvfmt, ...)
{
    if (!corio_log_enabled(level))
        return;
    int saved = errno;
    va_list ap;
    va_start(ap, kvfmt);
    emit(level, msg ? msg : "", false, kvfmt, &ap, saved);
    va_end(ap);
    errno = saved;
}
