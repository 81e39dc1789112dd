/* corio_conf.c - the schema-driven config file parser (corio_conf.h). */
#include "corio_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"

#define FILE_MAX   (1u << 20) /* a config file bigger than this is not a config file */
#define SHOW_MAX   40         /* bytes of hostile text quoted back in a message */
#define MS_PER_DAY 86400000LL

struct value {
    char *text;  /* the value as written (a PATH: resolved) */
    int64_t num; /* INT, DURATION (ms), SIZE (bytes), BOOL (0/1) */
    int line;    /* 0 for a default */
};

struct entry {
    const struct corio_conf_key *key;
    struct value def;   /* .text NULL when the key has no default */
    struct value *vals; /* values from the loaded text */
    size_t n, alloc;
};

struct corio_conf {
    struct entry *e;
    size_t n;
    char *name;
    bool loaded;
};

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copies hostile text into dst for a message: printable ASCII only, at most SHOW_MAX. */
static const char *show(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < dstlen; i++) {
        if (i == SHOW_MAX) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        dst[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    dst[o] = '\0';
    return dst;
}

static const char *type_name(enum corio_conf_type t)
{
    switch (t) {
    case CORIO_CONF_STRING:
        return "string";
    case CORIO_CONF_INT:
        return "integer";
    case CORIO_CONF_BOOL:
        return "boolean";
    case CORIO_CONF_DURATION:
        return "duration";
    case CORIO_CONF_SIZE:
        return "size";
    case CORIO_CONF_PATH:
        return "path";
    }
    return "?";
}

/* Writes a duration in the largest unit that divides it exactly. */
static const char *fmt_duration(char *out, size_t outlen, int64_t ms)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{MS_PER_DAY, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(out, outlen, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return out;
        }
    snprintf(out, outlen, "%lld%s", (long long)ms, ms ? "ms" : "");
    return out;
}

static const char *fmt_size(char *out, size_t outlen, int64_t n)
{
    static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        int64_t m = (int64_t)1 << (10 * (4 - i));
        if (n != 0 && n % m == 0) {
            snprintf(out, outlen, "%lld%s", (long long)(n / m), units[i]);
            return out;
        }
    }
    snprintf(out, outlen, "%lld", (long long)n);
    return out;
}

static const char *fmt_num(char *out, size_t outlen, enum corio_conf_type t, int64_t v)
{
    if (t == CORIO_CONF_DURATION)
        return fmt_duration(out, outlen, v);
    if (t == CORIO_CONF_SIZE)
        return fmt_size(out, outlen, v);
    snprintf(out, outlen, "%lld", (long long)v);
    return out;
}

/* Reads decimal digits at *p into *out; 0 when there are none or they overflow. */
static int digits(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (*s < '0' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 1;
}

static int parse_int(const char *v, int64_t *out)
{
    const char *p = v;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    int64_t n;
    if (!digits(&p, &n) || *p != '\0')
        return 0;
    *out = neg ? -n : n;
    return 1;
}

static int parse_bool(const char *v, int64_t *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 1;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 1;
    }
    return 0;
}

/* A sum of <number><unit> terms (1h30m); "0" alone needs no unit. */
static int parse_duration(const char *v, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", MS_PER_DAY}};
    if (strcmp(v, "0") == 0)
        return *out = 0, 1;
    const char *p = v;
    int64_t total = 0;
    do {
        int64_t n;
        if (!digits(&p, &n))
            return 0;
        size_t best = 0, bestlen = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t ul = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, ul) == 0 && ul > bestlen)
                best = i, bestlen = ul;
        }
        if (bestlen == 0)
            return 0;
        p += bestlen;
        if (n > (INT64_MAX - total) / units[best].ms)
            return 0;
        total += n * units[best].ms;
    } while (*p != '\0');
    *out = total;
    return 1;
}

static int parse_size(const char *v, int64_t *out)
{
    static const struct {
        const char *unit;
        int shift;
    } units[] = {{"", 0},     {"b", 0},   {"k", 10},   {"kb", 10}, {"kib", 10},
                 {"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},  {"gb", 30},
                 {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40}};
    const char *p = v;
    int64_t n;
    if (!digits(&p, &n))
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].unit) != 0)
            continue;
        if (n > (INT64_MAX >> units[i].shift))
            return 0;
        *out = n << units[i].shift;
        return 1;
    }
    return 0;
}

/* dirname(conf) + "/" + v for a relative v when conf names a directory; else a copy. */
static char *resolve_path(const char *conf, const char *v)
{
    const char *slash = conf ? strrchr(conf, '/') : NULL;
    if (v[0] == '/' || !slash)
        return strdup(v);
    size_t dl = (size_t)(slash - conf) + 1, vl = strlen(v);
    char *p = malloc(dl + vl + 1);
    if (!p)
        return NULL;
    memcpy(p, conf, dl);
    memcpy(p + dl, v, vl + 1);
    return p;
}

/*
 * Parses text v (NUL-terminated, trimmed) for key k into out. conf is the file name used
 * to resolve a relative PATH (NULL: none). Returns CORIO_OK, CORIO_ERR_MALFORMED with the
 * reason (no file:line prefix) in why, or CORIO_ERR_NOSPACE.
 */
static int parse_value(const struct corio_conf_key *k, const char *v, const char *conf,
                       struct value *out, char *why, size_t whylen)
{
    char shown[SHOW_MAX * 2], a[32], b[32];
    int64_t num = 0;
    int ok = 1;
    show(shown, sizeof shown, v, strlen(v));
    switch (k->type) {
    case CORIO_CONF_STRING:
        if (k->choices) {
            ok = 0;
            for (const char *const *c = k->choices; *c; c++)
                if (strcmp(*c, v) == 0)
                    ok = 1;
            if (!ok) {
                char list[256] = "";
                size_t used = 0;
                for (const char *const *c = k->choices; *c && used < sizeof list; c++)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                             c == k->choices ? "" : ", ", *c);
                say(why, whylen, "'%s' must be one of %s; got '%s'", k->name, list, shown);
                return CORIO_ERR_MALFORMED;
            }
        }
        break;
    case CORIO_CONF_PATH:
        break;
    case CORIO_CONF_INT:
        ok = parse_int(v, &num);
        break;
    case CORIO_CONF_BOOL:
        ok = parse_bool(v, &num);
        break;
    case CORIO_CONF_DURATION:
        ok = parse_duration(v, &num);
        break;
    case CORIO_CONF_SIZE:
        ok = parse_size(v, &num);
        break;
    }
    if (!ok) {
        static const char *const hint[] = {
            [CORIO_CONF_INT] = "an integer",
            [CORIO_CONF_BOOL] = "true or false",
            [CORIO_CONF_DURATION] = "a duration like 500ms, 30s, 5m, 2h or 1d",
            [CORIO_CONF_SIZE] = "a size like 4096, 64KiB or 16MiB",
        };
        say(why, whylen, "'%s' wants %s, got '%s'", k->name, hint[k->type], shown);
        return CORIO_ERR_MALFORMED;
    }
    bool numeric =
        k->type == CORIO_CONF_INT || k->type == CORIO_CONF_DURATION || k->type == CORIO_CONF_SIZE;
    if (numeric && (k->min != 0 || k->max != 0) && (num < k->min || num > k->max)) {
        say(why, whylen, "'%s' must be between %s and %s, got '%s'", k->name,
            fmt_num(a, sizeof a, k->type, k->min), fmt_num(b, sizeof b, k->type, k->max), shown);
        return CORIO_ERR_MALFORMED;
    }
    out->text = k->type == CORIO_CONF_PATH ? resolve_path(conf, v) : strdup(v);
    if (!out->text)
        return CORIO_ERR_NOSPACE;
    out->num = num;
    return CORIO_OK;
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static void clear_loaded(struct corio_conf *c)
{
    for (size_t i = 0; i < c->n; i++) {
        for (size_t j = 0; j < c->e[i].n; j++)
            free(c->e[i].vals[j].text);
        free(c->e[i].vals);
        c->e[i].vals = NULL;
        c->e[i].n = c->e[i].alloc = 0;
    }
}

void corio_conf_free(struct corio_conf *c)
{
    if (!c)
        return;
    clear_loaded(c);
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].def.text);
    free(c->e);
    free(c->name);
    free(c);
}

int corio_conf_new(struct corio_conf **out, const struct corio_conf_key *keys, char *err,
                   size_t errlen)
{
    *out = NULL;
    size_t n = 0;
    while (keys[n].name)
        n++;
    struct corio_conf *c = calloc(1, sizeof *c);
    if (!c)
        return CORIO_ERR_NOSPACE;
    c->e = calloc(n ? n : 1, sizeof *c->e);
    if (!c->e) {
        free(c);
        return CORIO_ERR_NOSPACE;
    }
    c->n = n;
    int rc = CORIO_OK;
    for (size_t i = 0; i < n && rc == CORIO_OK; i++) {
        const struct corio_conf_key *k = &keys[i];
        c->e[i].key = k;
        rc = CORIO_ERR_INVAL;
        if (!valid_name(k->name))
            say(err, errlen, "schema: bad key name '%s'", k->name);
        else if (k->type > CORIO_CONF_PATH)
            say(err, errlen, "schema: '%s' has an unknown type", k->name);
        else if (k->min > k->max)
            say(err, errlen, "schema: '%s' has min > max", k->name);
        else if (k->choices && k->type != CORIO_CONF_STRING)
            say(err, errlen, "schema: '%s' has choices but is not a string", k->name);
        else if ((k->flags & CORIO_CONF_REQUIRED) && k->def)
            say(err, errlen, "schema: '%s' is required and has a default", k->name);
        else
            rc = CORIO_OK;
        for (size_t j = 0; j < i && rc == CORIO_OK; j++)
            if (strcmp(keys[j].name, k->name) == 0) {
                say(err, errlen, "schema: '%s' declared twice", k->name);
                rc = CORIO_ERR_INVAL;
            }
        if (rc == CORIO_OK && k->def) {
            char why[256];
            rc = parse_value(k, k->def, NULL, &c->e[i].def, why, sizeof why);
            if (rc == CORIO_ERR_MALFORMED) {
                say(err, errlen, "schema: default of '%s': %s", k->name, why);
                rc = CORIO_ERR_INVAL;
            }
        }
    }
    if (rc != CORIO_OK) {
        corio_conf_free(c);
        return rc;
    }
    *out = c;
    return CORIO_OK;
}

/* Edit distance between a (length al) and b, both cut to 64 bytes. */
static size_t distance(const char *a, size_t al, const char *b)
{
    size_t bl = strlen(b);
    if (al > 64)
        al = 64;
    if (bl > 64)
        bl = 64;
    size_t row[65];
    for (size_t j = 0; j <= bl; j++)
        row[j] = j;
    for (size_t i = 1; i <= al; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bl; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bl];
}

static struct entry *find(const struct corio_conf *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->e[i].key->name) == len && memcmp(c->e[i].key->name, name, len) == 0)
            return &c->e[i];
    return NULL;
}

static int unknown_key(const struct corio_conf *c, const char *name, size_t len, char *why,
                       size_t whylen)
{
    char shown[SHOW_MAX * 2];
    const char *best = NULL;
    size_t bestd = 3; /* suggest only close matches */
    for (size_t i = 0; i < c->n; i++) {
        size_t d = distance(name, len, c->e[i].key->name);
        if (d < bestd && d < len) {
            bestd = d;
            best = c->e[i].key->name;
        }
    }
    show(shown, sizeof shown, name, len);
    if (memchr(name, '=', len))
        say(why, whylen, "unknown key '%s' (write 'key value', without '=')", shown);
    else if (best)
        say(why, whylen, "unknown key '%s' (did you mean '%s'?)", shown, best);
    else
        say(why, whylen, "unknown key '%s'", shown);
    return CORIO_ERR_MALFORMED;
}

static bool blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Parses one line (len bytes, no line end, no NUL) numbered lineno. */
static int parse_line(struct corio_conf *c, const char *line, size_t len, int lineno, char *why,
                      size_t whylen)
{
    size_t i = 0;
    while (i < len && blank(line[i]))
        i++;
    if (i == len || line[i] == '#')
        return CORIO_OK;
    size_t ks = i;
    while (i < len && !blank(line[i]))
        i++;
    size_t kl = i - ks;
    while (i < len && blank(line[i]))
        i++;
    size_t ve = len;
    while (ve > i && blank(line[ve - 1]))
        ve--;

    struct entry *e = find(c, line + ks, kl);
    if (!e)
        return unknown_key(c, line + ks, kl, why, whylen);
    const struct corio_conf_key *k = e->key;
    if (i == ve) {
        say(why, whylen, "'%s' needs a value", k->name);
        return CORIO_ERR_MALFORMED;
    }
    for (size_t j = i; j < ve; j++) {
        unsigned char ch = (unsigned char)line[j];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            say(why, whylen, "control character 0x%02x in the value of '%s'", ch, k->name);
            return CORIO_ERR_MALFORMED;
        }
    }
    if (e->n > 0 && !(k->flags & CORIO_CONF_LIST)) {
        say(why, whylen, "'%s' given twice (first at line %d)", k->name, e->vals[0].line);
        return CORIO_ERR_MALFORMED;
    }
    char v[CORIO_CONF_LINE_MAX + 1];
    memcpy(v, line + i, ve - i);
    v[ve - i] = '\0';
    if (e->n == e->alloc) {
        size_t grown = e->alloc ? e->alloc * 2 : 2;
        struct value *p = realloc(e->vals, grown * sizeof *p);
        if (!p)
            return CORIO_ERR_NOSPACE;
        e->vals = p;
        e->alloc = grown;
    }
    struct value *val = &e->vals[e->n];
    int rc = parse_value(k, v, c->name, val, why, whylen);
    if (rc != CORIO_OK)
        return rc;
    val->line = lineno;
    e->n++;
    return CORIO_OK;
}

int corio_conf_load_buf(struct corio_conf *c, const char *name, const char *text, size_t len,
                        char *err, size_t errlen)
{
    if (c->loaded)
        return CORIO_ERR_STATE;
    c->loaded = true;
    free(c->name);
    c->name = strdup(name ? name : "");
    if (!c->name)
        return CORIO_ERR_NOSPACE;
    char why[512];
    int rc = CORIO_OK, lineno = 0;
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3; /* a UTF-8 byte order mark from a Windows editor */
    while (pos < len && rc == CORIO_OK) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t ll = end - pos;
        lineno++;
        if (ll > 0 && text[pos + ll - 1] == '\r')
            ll--;
        if (ll > CORIO_CONF_LINE_MAX) {
            say(why, sizeof why, "line longer than %d bytes", CORIO_CONF_LINE_MAX);
            rc = CORIO_ERR_MALFORMED;
        } else if (memchr(text + pos, '\0', ll)) {
            say(why, sizeof why, "NUL byte in line");
            rc = CORIO_ERR_MALFORMED;
        } else {
            rc = parse_line(c, text + pos, ll, lineno, why, sizeof why);
        }
        if (rc == CORIO_ERR_MALFORMED)
            say(err, errlen, "%s:%d: %s", c->name, lineno, why);
        pos = end + 1;
    }
    for (size_t i = 0; i < c->n && rc == CORIO_OK; i++)
        if ((c->e[i].key->flags & CORIO_CONF_REQUIRED) && c->e[i].n == 0) {
            say(err, errlen, "%s: missing required key '%s'", c->name, c->e[i].key->name);
            rc = CORIO_ERR_MALFORMED;
        }
    if (rc != CORIO_OK)
        clear_loaded(c);
    return rc;
}

int corio_conf_load_file(struct corio_conf *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        say(err, errlen, "%s: %s", path, strerror(errno));
        return CORIO_ERR_IO;
    }
    char *buf = malloc(FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return CORIO_ERR_NOSPACE;
    }
    size_t len = fread(buf, 1, FILE_MAX + 1, f);
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    int rc;
    if (bad) {
        say(err, errlen, "%s: %s", path, strerror(saved));
        rc = CORIO_ERR_IO;
    } else if (len > FILE_MAX) {
        say(err, errlen, "%s: larger than %u bytes", path, FILE_MAX);
        rc = CORIO_ERR_MALFORMED;
    } else {
        rc = corio_conf_load_buf(c, path, buf, len, err, errlen);
    }
    free(buf);
    return rc;
}

/* The entry for name, which must exist and be of one of the types in mask. */
static const struct entry *must(const struct corio_conf *c, const char *name, unsigned mask)
{
    const struct entry *e = find(c, name, strlen(name));
    if (!e) {
        fprintf(stderr, "corio_conf: '%s' is not in the schema\n", name);
        abort();
    }
    if (!(mask & (1u << e->key->type))) {
        fprintf(stderr, "corio_conf: '%s' is a %s\n", name, type_name(e->key->type));
        abort();
    }
    return e;
}

#define TEXTUAL (1u << CORIO_CONF_STRING | 1u << CORIO_CONF_PATH)
#define NUMERIC (1u << CORIO_CONF_INT | 1u << CORIO_CONF_DURATION | 1u << CORIO_CONF_SIZE)
#define ANY     0x3fu

static const struct value *value_at(const struct entry *e, size_t i)
{
    if (e->n > 0)
        return i < e->n ? &e->vals[i] : NULL;
    return i == 0 && e->def.text ? &e->def : NULL;
}

const char *corio_conf_str(const struct corio_conf *c, const char *name)
{
    return corio_conf_str_at(c, name, 0);
}

int64_t corio_conf_int(const struct corio_conf *c, const char *name)
{
    return corio_conf_int_at(c, name, 0);
}

bool corio_conf_bool(const struct corio_conf *c, const char *name)
{
    const struct value *v = value_at(must(c, name, 1u << CORIO_CONF_BOOL), 0);
    return v && v->num != 0;
}

size_t corio_conf_count(const struct corio_conf *c, const char *name)
{
    const struct entry *e = must(c, name, ANY);
    return e->n > 0 ? e->n : (e->def.text ? 1 : 0);
}

const char *corio_conf_str_at(const struct corio_conf *c, const char *name, size_t i)
{
    const struct value *v = value_at(must(c, name, TEXTUAL), i);
    return v ? v->text : NULL;
}

int64_t corio_conf_int_at(const struct corio_conf *c, const char *name, size_t i)
{
    const struct value *v = value_at(must(c, name, NUMERIC), i);
    return v ? v->num : 0;
}

bool corio_conf_isset(const struct corio_conf *c, const char *name)
{
    return must(c, name, ANY)->n > 0;
}

int corio_conf_line(const struct corio_conf *c, const char *name)
{
    const struct entry *e = must(c, name, ANY);
    return e->n > 0 ? e->vals[0].line : 0;
}

const char *corio_conf_name(const struct corio_conf *c)
{
    return c->name ? c->name : "";
}

void corio_conf_help(FILE *out, const struct corio_conf_key *keys)
{
    fprintf(out, "Configuration file: one \"key value\" per line; # starts a comment.\n"
                 "Durations take a unit (ms, s, m, h, d); sizes may (KiB, MiB, GiB).\n"
                 "Keys:\n");
    for (const struct corio_conf_key *k = keys; k->name; k++) {
        char a[32], b[32];
        fprintf(out, "  %s <%s>", k->name, type_name(k->type));
        bool numeric = k->type == CORIO_CONF_INT || k->type == CORIO_CONF_DURATION ||
                       k->type == CORIO_CONF_SIZE;
        if (numeric && (k->min != 0 || k->max != 0))
            fprintf(out, " %s..%s", fmt_num(a, sizeof a, k->type, k->min),
                    fmt_num(b, sizeof b, k->type, k->max));
        if (k->choices) {
            fputs(" one of", out);
            for (const char *const *ch = k->choices; *ch; ch++)
                fprintf(out, "%s %s", ch == k->choices ? "" : ",", *ch);
        }
        if (k->flags & CORIO_CONF_REQUIRED)
            fputs(", required", out);
        if (k->flags & CORIO_CONF_LIST)
            fputs(", may repeat", out);
        if (k->def)
            fprintf(out, ", default %s", k->def);
        fprintf(out, "\n      %s\n", k->help ? k->help : "");
    }
}
