/*
 * rules_conf.c - the gateway's rules file (docs/edge-rules.md) into a struct
 * corio_rules_conf (rules.h).
 *
 * The file is lines of blank-separated words: top-level settings, and blocks that
 * start with `rule <name>` or `anomaly <name>` and end with `end`. A word that starts
 * with '#' begins a comment; "..." keeps blanks inside a command argument. The parser
 * is strict and stops at the first mistake with one line "<file>:<line>: <what>";
 * text echoed from the file is cut and stripped of unprintable bytes, so a corrupt
 * file cannot garble a terminal or a log. Every input is hostile (the fuzz target
 * fuzz_rules_conf.c drives this file).
 *
 * Command arguments are encoded to CBOR here, once, so firing a rule only adds the
 * command's seq, correlation id and expiry around them.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/error.h"
#include "corio/senml.h"
#include "corio/topic.h"
#include "rules.h"

#define SHOW_MAX                  40
#define DEFAULT_MAX_INSTANCES     16384
#define DEFAULT_MAX_SERIES        4096
#define DEFAULT_COMMAND_EXPIRY_MS 60000
#define DURATION_MAX_MS           (7LL * 24 * 3600 * 1000)

enum block { TOP, RULE, ANOMALY };

struct parser {
    const char *name;
    const struct corio_rules_parse_opts *opts;
    struct corio_rules_conf *c;
    int line;
    char why[512];
    bool seen_version;
    int max_instances_line, command_expiry_line;

    enum block block;
    int block_line;
    /* the block being read; moved into c when its `end` is reached */
    struct corio_rule rule;
    struct corio_rules_detector det;
    int seen[16]; /* line of each once-only key of the block, 0 if not seen */
    int cond_line, clear_line;
    const char *cond_word, *clear_word;
    bool has_clear;
    struct corio_edge_param *params;
    int *param_lines;
    size_t nparams;
    uint8_t *blob;
    size_t blob_len;
    int blob_line;
    const char *detector_name_word;
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

#define WHY(p, ...) (say((p)->why, sizeof(p)->why, __VA_ARGS__), CORIO_ERR_MALFORMED)

/* Hostile text for a message: printable ASCII only, cut after SHOW_MAX bytes. */
static const char *show(char *dst, size_t dstlen, const char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 4 < dstlen; i++) {
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

#define SHOW(s) show((char[SHOW_MAX + 8]){0}, SHOW_MAX + 8, (s))

/* ---- names and words ---------------------------------------------------------------- */

const char *corio_severity_name(enum corio_severity s)
{
    switch (s) {
    case CORIO_SEV_INFO:
        return "info";
    case CORIO_SEV_WARNING:
        return "warning";
    case CORIO_SEV_CRITICAL:
        return "critical";
    default:
        return "none";
    }
}

const char *corio_rule_kind_name(enum corio_rule_kind k)
{
    switch (k) {
    case CORIO_RULE_ABOVE:
        return "above";
    case CORIO_RULE_BELOW:
        return "below";
    case CORIO_RULE_RATE_ABOVE:
        return "rate_above";
    case CORIO_RULE_RATE_BELOW:
        return "rate_below";
    case CORIO_RULE_ABSENT:
        return "absent";
    case CORIO_RULE_ANOMALY:
        return "anomaly";
    }
    return "?";
}

static bool is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* A rule, block, command, class or group name: [A-Za-z0-9_.-], first a letter or digit. */
static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !is_alnum(s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static bool metric_ok(const char *s)
{
    size_t n = strlen(s);
    return n <= CORIO_EDGE_METRIC_MAX && corio_senml_name_valid(s, n);
}

/* A plain decimal number: -?digits[.digits][e[+-]digits]; no hex, inf or nan. */
static bool parse_num(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t d = strspn(p, "0123456789");
    p += d;
    if (*p == '.') {
        size_t f = strspn(p + 1, "0123456789");
        if (d == 0 && f == 0)
            return false;
        p += 1 + f;
    } else if (d == 0) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        size_t e = strspn(p, "0123456789");
        if (e == 0)
            return false;
        p += e;
    }
    if (*p != '\0')
        return false;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* -?digits that fit an int64. */
static bool parse_int(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '\0')
        return false;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* A sum of <digits><unit> terms, units ms s m h d (1h30m). */
static bool parse_duration(const char *v, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *p = v;
    int64_t total = 0;
    if (*p == '\0')
        return false;
    while (*p) {
        int64_t n = 0;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (n > (INT64_MAX / 10) - 9)
                return false;
            n = n * 10 + (*p - '0');
        }
        size_t best = 0, bestlen = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t ul = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, ul) == 0 && ul > bestlen)
                best = i, bestlen = ul;
        }
        if (bestlen == 0)
            return false;
        p += bestlen;
        if (n > (INT64_MAX - total) / units[best].ms)
            return false;
        total += n * units[best].ms;
    }
    *out = total;
    return true;
}

static int want_duration(struct parser *p, const char *key, const char *v, int64_t lo, int64_t hi,
                         int64_t *out)
{
    if (!parse_duration(v, out))
        return WHY(p, "'%s' wants a duration like 500ms, 30s, 5m, 2h or 1d, got '%s'", key,
                   SHOW(v));
    if (*out < lo || *out > hi)
        return WHY(p, "'%s' must be between %lldms and %lldms, got '%s'", key, (long long)lo,
                   (long long)hi, SHOW(v));
    return CORIO_OK;
}

static int want_number(struct parser *p, const char *key, const char *v, double *out)
{
    if (!parse_num(v, out))
        return WHY(p, "'%s' wants a number like 42, -3.5 or 1e3, got '%s'", key, SHOW(v));
    return CORIO_OK;
}

static int want_severity(struct parser *p, const char *v, enum corio_severity *out)
{
    static const enum corio_severity all[] = {CORIO_SEV_INFO, CORIO_SEV_WARNING,
                                              CORIO_SEV_CRITICAL};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(v, corio_severity_name(all[i])) == 0)
            return *out = all[i], CORIO_OK;
    return WHY(p, "'alert' wants info, warning or critical, got '%s'", SHOW(v));
}

/* Whether s is valid UTF-8 (RFC 3629: no overlongs, surrogates or beyond U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- freeing ------------------------------------------------------------------------ */

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_select(struct corio_rules_select *s)
{
    free(s->ids);
    free_strs(s->classes, s->nclasses);
    free_strs(s->groups, s->ngroups);
    memset(s, 0, sizeof *s);
}

static void free_cmds(struct corio_rules_command *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].args);
    free(c);
}

static void free_rule(struct corio_rule *r)
{
    free_select(&r->select);
    free_cmds(r->raise_cmds, r->nraise);
    free_cmds(r->clear_cmds, r->nclear);
    memset(r, 0, sizeof *r);
}

static void free_detector(struct corio_rules_detector *d)
{
    free_select(&d->select);
    free_strs(d->metrics, d->nmetrics);
    if (d->model && d->model->free)
        d->model->free(d->model_inst);
    memset(d, 0, sizeof *d);
}

static void free_params(struct parser *p)
{
    for (size_t i = 0; i < p->nparams; i++) {
        free((char *)p->params[i].key);
        free((char *)p->params[i].value);
    }
    free(p->params);
    free(p->param_lines);
    p->params = NULL;
    p->param_lines = NULL;
    p->nparams = 0;
    free(p->blob);
    p->blob = NULL;
    p->blob_len = 0;
}

void corio_rules_conf_free(struct corio_rules_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrules; i++)
        free_rule(&c->rules[i]);
    free(c->rules);
    for (size_t i = 0; i < c->ndetectors; i++)
        free_detector(&c->detectors[i]);
    free(c->detectors);
    free(c->name);
    free(c);
}

/* ---- pieces of lines ---------------------------------------------------------------- */

static int push_str(char ***v, size_t *n, const char *s)
{
    char **grown = realloc(*v, (*n + 1) * sizeof **v);
    if (!grown)
        return CORIO_ERR_NOSPACE;
    *v = grown;
    if (!(grown[*n] = strdup(s)))
        return CORIO_ERR_NOSPACE;
    (*n)++;
    return CORIO_OK;
}

/* devices all | <id> | class:<name> | group:<name> ... */
static int parse_select(struct parser *p, char **w, size_t n, struct corio_rules_select *s)
{
    if (n == 0)
        return WHY(p, "'devices' needs all, device ids, class:<name> or group:<name>");
    if (n > CORIO_RULES_MAX_SELECT)
        return WHY(p, "'devices' lists more than %d selectors", CORIO_RULES_MAX_SELECT);
    for (size_t i = 0; i < n; i++) {
        const char *v = w[i];
        int rc = CORIO_OK;
        if (strcmp(v, "all") == 0) {
            if (n != 1)
                return WHY(p, "'devices all' cannot be combined with other selectors");
            s->all = true;
        } else if (strncmp(v, "class:", 6) == 0 || strncmp(v, "group:", 6) == 0) {
            if (!name_ok(v + 6, CORIO_RULES_NAME_MAX))
                return WHY(p, "'%s' is not a valid %.5s name (letters, digits, _ . -)", SHOW(v + 6),
                           v);
            rc = v[0] == 'c' ? push_str(&s->classes, &s->nclasses, v + 6)
                             : push_str(&s->groups, &s->ngroups, v + 6);
        } else if (corio_short_id_valid(v, strlen(v))) {
            void *grown = realloc(s->ids, (s->nids + 1) * sizeof *s->ids);
            if (!grown)
                return CORIO_ERR_NOSPACE;
            s->ids = grown;
            memcpy(s->ids[s->nids++], v, CORIO_EDGE_DEVICE_LEN + 1);
        } else {
            return WHY(p,
                       "'%s' is not a device selector (write all, a 24-character device id, "
                       "class:<name> or group:<name>)",
                       SHOW(v));
        }
        if (rc != CORIO_OK)
            return rc;
    }
    return CORIO_OK;
}

/* Whether v is written as an integer: an optional sign and digits. */
static bool integer_form(const char *v)
{
    const char *d = v + (*v == '-' || *v == '+');
    return *d != '\0' && strspn(d, "0123456789") == strlen(d);
}

/* One argument value: "text", true/false, an integer, a number, or a bare word. */
static int put_value(struct parser *p, struct corio_cbor_enc *e, const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return WHY(p, "a command argument has an empty value (write \"\" for empty text)");
    if (v[0] == '"') {
        if (n < 2 || v[n - 1] != '"' || memchr(v + 1, '"', n - 2))
            return WHY(p, "a quote must wrap a whole value: '%s'", SHOW(v));
        if (!utf8_ok((const unsigned char *)v + 1, n - 2))
            return WHY(p, "command argument text is not UTF-8");
        corio_cbor_put_text(e, v + 1, n - 2);
        return CORIO_OK;
    }
    if (strchr(v, '"'))
        return WHY(p, "a quote must wrap a whole value: '%s'", SHOW(v));
    int64_t i;
    double d;
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
        corio_cbor_put_bool(e, v[0] == 't');
    else if (parse_int(v, &i))
        corio_cbor_put_int(e, i);
    else if (integer_form(v))
        return WHY(p, "integer argument '%s' is out of range", SHOW(v));
    else if (parse_num(v, &d))
        corio_cbor_put_double(e, d);
    else if (!utf8_ok((const unsigned char *)v, n))
        return WHY(p, "command argument text is not UTF-8");
    else
        corio_cbor_put_text(e, v, n);
    return CORIO_OK;
}

/* command|clear_command <self|id> <name> [value | key=value ...] */
static int parse_command(struct parser *p, const char *kw, char **w, size_t n,
                         struct corio_rules_command **list, size_t *count)
{
    if (n < 2)
        return WHY(p,
                   "'%s' needs a device (an id or self), a command name and optional "
                   "key=value arguments",
                   kw);
    if (*count >= CORIO_RULES_MAX_COMMANDS)
        return WHY(p, "more than %d '%s' lines in one rule", CORIO_RULES_MAX_COMMANDS, kw);
    struct corio_rules_command c = {.line = p->line};
    if (strcmp(w[0], "self") == 0)
        c.self = true;
    else if (corio_short_id_valid(w[0], strlen(w[0])))
        memcpy(c.device, w[0], CORIO_EDGE_DEVICE_LEN + 1);
    else
        return WHY(p, "'%s' is not a device: write self or a 24-character device id", SHOW(w[0]));
    if (!name_ok(w[1], CORIO_RULES_NAME_MAX))
        return WHY(p, "'%s' is not a command name (letters, digits, _ . -; at most %d)", SHOW(w[1]),
                   CORIO_RULES_NAME_MAX);
    snprintf(c.name, sizeof c.name, "%s", w[1]);
    char **a = w + 2;
    size_t na = n - 2;
    if (na > CORIO_RULES_MAX_ARGS)
        return WHY(p, "more than %d command arguments", CORIO_RULES_MAX_ARGS);
    if (na > 0) {
        uint8_t buf[CORIO_RULES_ARGS_MAX];
        struct corio_cbor_enc e;
        corio_cbor_enc_init(&e, buf, sizeof buf);
        bool bare = na == 1 && (a[0][0] == '"' || !strchr(a[0], '='));
        int rc;
        if (bare) {
            if ((rc = put_value(p, &e, a[0])) != CORIO_OK)
                return rc;
        } else {
            corio_cbor_put_map(&e, na);
            for (size_t i = 0; i < na; i++) {
                char *eq = a[i][0] == '"' ? NULL : strchr(a[i], '=');
                if (!eq)
                    return WHY(p, "'%s': write arguments as key=value (or give a single value)",
                               SHOW(a[i]));
                *eq = '\0';
                if (!name_ok(a[i], CORIO_RULES_NAME_MAX))
                    return WHY(p, "'%s' is not an argument name (letters, digits, _ . -)",
                               SHOW(a[i]));
                for (size_t j = 0; j < i; j++)
                    if (strcmp(a[j], a[i]) == 0)
                        return WHY(p, "argument '%s' given twice", a[i]);
                corio_cbor_put_textz(&e, a[i]);
                if ((rc = put_value(p, &e, eq + 1)) != CORIO_OK)
                    return rc;
            }
            corio_cbor_sort_map(&e, 0);
        }
        int len = corio_cbor_enc_finish(&e);
        if (len == CORIO_ERR_NOSPACE)
            return WHY(p, "command arguments take more than %d bytes", CORIO_RULES_ARGS_MAX);
        if (len < 0)
            return WHY(p, "command arguments cannot be encoded (%s)", corio_strerror(len));
        if (!(c.args = malloc((size_t)len)))
            return CORIO_ERR_NOSPACE;
        memcpy(c.args, buf, (size_t)len);
        c.args_len = (size_t)len;
    }
    struct corio_rules_command *grown = realloc(*list, (*count + 1) * sizeof *grown);
    if (!grown) {
        free(c.args);
        return CORIO_ERR_NOSPACE;
    }
    *list = grown;
    grown[(*count)++] = c;
    return CORIO_OK;
}

/* ---- files -------------------------------------------------------------------------- */

static char *resolve_path(const char *conf, const char *v)
{
    const char *slash = conf ? strrchr(conf, '/') : NULL;
    if (v[0] == '/' || !slash)
        return strdup(v);
    size_t dl = (size_t)(slash - conf) + 1, vl = strlen(v);
    char *path = malloc(dl + vl + 1);
    if (!path)
        return NULL;
    memcpy(path, conf, dl);
    memcpy(path + dl, v, vl + 1);
    return path;
}

/* Reads a whole file of at most max bytes into *out (malloc'd, NUL after the end). */
static int read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                     size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        say(why, whylen, "%s: %s", path, strerror(errno));
        return CORIO_ERR_IO;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? CORIO_OK : CORIO_ERR_NOSPACE;
    while (rc == CORIO_OK) {
        if (n == cap) {
            if (cap > max) {
                say(why, whylen, "%s: larger than %zu bytes", path, max);
                rc = CORIO_ERR_MALFORMED;
                break;
            }
            char *grown = realloc(buf, cap * 2 + 1);
            if (!grown) {
                rc = CORIO_ERR_NOSPACE;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                say(why, whylen, "%s: %s", path, strerror(errno));
                rc = CORIO_ERR_IO;
            }
            break;
        }
    }
    fclose(f);
    if (rc == CORIO_OK && n > max) {
        say(why, whylen, "%s: larger than %zu bytes", path, max);
        rc = CORIO_ERR_MALFORMED;
    }
    if (rc != CORIO_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CORIO_OK;
}

/* ---- blocks ------------------------------------------------------------------------- */

/* Once-only keys of blocks: their slot in parser.seen. */
enum seen_key {
    K_DEVICES,
    K_METRIC,
    K_WINDOW,
    K_ALERT,
    K_EXPIRES,
    K_EVENT,
    K_METRICS,
    K_DETECTOR,
    K_MAX_SERIES,
    K_MODEL_FILE,
    K_COUNT
};

static int once(struct parser *p, enum seen_key k, const char *kw)
{
    if (p->seen[k])
        return WHY(p, "'%s' given twice in this block (first at line %d)", kw, p->seen[k]);
    p->seen[k] = p->line;
    return CORIO_OK;
}

static int need_args(struct parser *p, const char *kw, size_t n, size_t want)
{
    if (n < want)
        return WHY(p, "'%s' needs a value", kw);
    if (n > want)
        return WHY(p, "'%s' takes %zu value%s, got %zu", kw, want, want == 1 ? "" : "s", n);
    return CORIO_OK;
}

static bool name_taken(const struct corio_rules_conf *c, const char *name, int *line)
{
    for (size_t i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].name, name) == 0)
            return *line = c->rules[i].line, true;
    for (size_t i = 0; i < c->ndetectors; i++)
        if (strcmp(c->detectors[i].name, name) == 0)
            return *line = c->detectors[i].line, true;
    return false;
}

static int open_block(struct parser *p, enum block b, const char *kw, char **w, size_t n)
{
    int rc = need_args(p, kw, n, 1);
    if (rc != CORIO_OK)
        return rc;
    if (!name_ok(w[0], CORIO_RULES_NAME_MAX))
        return WHY(p, "'%s' is not a %s name (letters, digits, _ . -; at most %d)", SHOW(w[0]), kw,
                   CORIO_RULES_NAME_MAX);
    int first;
    if (name_taken(p->c, w[0], &first))
        return WHY(p, "the name '%s' is already used at line %d", w[0], first);
    if (b == RULE && p->c->nrules >= CORIO_RULES_MAX_RULES)
        return WHY(p, "more than %d rules", CORIO_RULES_MAX_RULES);
    if (b == ANOMALY && p->c->ndetectors >= CORIO_RULES_MAX_DETECTORS)
        return WHY(p, "more than %d anomaly blocks", CORIO_RULES_MAX_DETECTORS);
    p->block = b;
    p->block_line = p->line;
    memset(p->seen, 0, sizeof p->seen);
    p->cond_line = p->clear_line = 0;
    p->has_clear = false;
    if (b == RULE) {
        memset(&p->rule, 0, sizeof p->rule);
        snprintf(p->rule.name, sizeof p->rule.name, "%s", w[0]);
        p->rule.line = p->line;
        p->rule.expires_ms = p->c->command_expiry_ms;
    } else {
        memset(&p->det, 0, sizeof p->det);
        snprintf(p->det.name, sizeof p->det.name, "%s", w[0]);
        p->det.line = p->line;
        p->det.max_series = DEFAULT_MAX_SERIES;
        p->det.model = NULL;
    }
    return CORIO_OK;
}

static const struct {
    const char *word;
    enum corio_rule_kind kind;
} conditions[] = {
    {"above", CORIO_RULE_ABOVE},           {"below", CORIO_RULE_BELOW},
    {"rate_above", CORIO_RULE_RATE_ABOVE}, {"rate_below", CORIO_RULE_RATE_BELOW},
    {"absent", CORIO_RULE_ABSENT},
};

static int rule_line(struct parser *p, const char *kw, char **w, size_t n)
{
    struct corio_rule *r = &p->rule;
    int rc;
    for (size_t i = 0; i < sizeof conditions / sizeof conditions[0]; i++) {
        if (strcmp(kw, conditions[i].word) != 0)
            continue;
        if (p->cond_line)
            return WHY(p, "a rule has one condition; this one has '%s' at line %d already",
                       p->cond_word, p->cond_line);
        if ((rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        r->kind = conditions[i].kind;
        if (r->kind == CORIO_RULE_ABSENT)
            rc = want_duration(p, kw, w[0], 1000, DURATION_MAX_MS, &r->absent_ms);
        else
            rc = want_number(p, kw, w[0], &r->limit);
        if (rc != CORIO_OK)
            return rc;
        p->cond_line = p->line;
        p->cond_word = conditions[i].word;
        return CORIO_OK;
    }
    if (strcmp(kw, "clear_below") == 0 || strcmp(kw, "clear_above") == 0) {
        if (p->clear_line)
            return WHY(p, "a rule has one clear level; this one has '%s' at line %d already",
                       p->clear_word, p->clear_line);
        if ((rc = need_args(p, kw, n, 1)) != CORIO_OK ||
            (rc = want_number(p, kw, w[0], &r->clear)) != CORIO_OK)
            return rc;
        p->clear_line = p->line;
        p->clear_word = kw[6] == 'b' ? "clear_below" : "clear_above";
        p->has_clear = true;
        return CORIO_OK;
    }
    if (strcmp(kw, "devices") == 0) {
        if ((rc = once(p, K_DEVICES, kw)) != CORIO_OK)
            return rc;
        return parse_select(p, w, n, &r->select);
    }
    if (strcmp(kw, "metric") == 0) {
        if ((rc = once(p, K_METRIC, kw)) != CORIO_OK || (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        if (!metric_ok(w[0]))
            return WHY(p,
                       "'%s' is not a metric name (SenML: letters, digits, - : . / _, first a "
                       "letter or digit, at most %d bytes)",
                       SHOW(w[0]), CORIO_EDGE_METRIC_MAX);
        snprintf(r->metric, sizeof r->metric, "%s", w[0]);
        return CORIO_OK;
    }
    if (strcmp(kw, "window") == 0) {
        if ((rc = once(p, K_WINDOW, kw)) != CORIO_OK || (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        return want_duration(p, kw, w[0], 100, DURATION_MAX_MS, &r->window_ms);
    }
    if (strcmp(kw, "alert") == 0) {
        if ((rc = once(p, K_ALERT, kw)) != CORIO_OK || (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        return want_severity(p, w[0], &r->alert);
    }
    if (strcmp(kw, "expires") == 0) {
        if ((rc = once(p, K_EXPIRES, kw)) != CORIO_OK || (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        return want_duration(p, kw, w[0], 1000, DURATION_MAX_MS, &r->expires_ms);
    }
    if (strcmp(kw, "event") == 0) {
        if ((rc = once(p, K_EVENT, kw)) != CORIO_OK || (rc = need_args(p, kw, n, 0)) != CORIO_OK)
            return rc;
        r->event = true;
        return CORIO_OK;
    }
    if (strcmp(kw, "command") == 0)
        return parse_command(p, kw, w, n, &r->raise_cmds, &r->nraise);
    if (strcmp(kw, "clear_command") == 0)
        return parse_command(p, kw, w, n, &r->clear_cmds, &r->nclear);
    return WHY(p,
               "unknown key '%s' in a rule (known: devices, metric, above, below, rate_above, "
               "rate_below, absent, clear_below, clear_above, window, alert, command, "
               "clear_command, expires, event, end)",
               SHOW(kw));
}

static int end_rule(struct parser *p)
{
    struct corio_rule *r = &p->rule;
    const char *nm = r->name;
    int end_line = p->line;
    p->line = r->line; /* block-level mistakes name the rule's first line */
    if (!p->seen[K_DEVICES])
        return WHY(p, "rule '%s' needs a 'devices' line", nm);
    if (!p->seen[K_METRIC])
        return WHY(p, "rule '%s' needs a 'metric' line", nm);
    if (!p->cond_line)
        return WHY(p, "rule '%s' needs a condition: above, below, rate_above, rate_below or absent",
                   nm);
    bool rate = r->kind == CORIO_RULE_RATE_ABOVE || r->kind == CORIO_RULE_RATE_BELOW;
    bool up = r->kind == CORIO_RULE_ABOVE || r->kind == CORIO_RULE_RATE_ABOVE;
    if (rate && !p->seen[K_WINDOW])
        return WHY(p, "rule '%s' needs a 'window' line for %s", nm, p->cond_word);
    if (!rate && p->seen[K_WINDOW]) {
        p->line = p->seen[K_WINDOW];
        return WHY(p, "'window' applies to rate_above and rate_below only");
    }
    if (p->has_clear) {
        p->line = p->clear_line;
        if (r->kind == CORIO_RULE_ABSENT)
            return WHY(p, "an absence clears when a sample arrives: '%s' does not apply",
                       p->clear_word);
        if (up && strcmp(p->clear_word, "clear_below") != 0)
            return WHY(p, "'%s' clears with clear_below, not clear_above", p->cond_word);
        if (!up && strcmp(p->clear_word, "clear_above") != 0)
            return WHY(p, "'%s' clears with clear_above, not clear_below", p->cond_word);
        if (up && r->clear > r->limit)
            return WHY(p, "clear_below (%g) must not be above the %s limit (%g)", r->clear,
                       p->cond_word, r->limit);
        if (!up && r->clear < r->limit)
            return WHY(p, "clear_above (%g) must not be below the %s limit (%g)", r->clear,
                       p->cond_word, r->limit);
    } else {
        r->clear = r->limit;
    }
    struct corio_rule *grown = realloc(p->c->rules, (p->c->nrules + 1) * sizeof *grown);
    if (!grown)
        return CORIO_ERR_NOSPACE;
    p->c->rules = grown;
    grown[p->c->nrules++] = *r;
    memset(r, 0, sizeof *r);
    p->line = end_line;
    return CORIO_OK;
}

static int anomaly_line(struct parser *p, const char *kw, char **w, size_t n)
{
    struct corio_rules_detector *d = &p->det;
    int rc;
    if (strcmp(kw, "devices") == 0) {
        if ((rc = once(p, K_DEVICES, kw)) != CORIO_OK)
            return rc;
        return parse_select(p, w, n, &d->select);
    }
    if (strcmp(kw, "metrics") == 0) {
        if ((rc = once(p, K_METRICS, kw)) != CORIO_OK)
            return rc;
        if (n == 0)
            return WHY(p, "'metrics' needs metric names, or * for every metric");
        if (n > CORIO_RULES_MAX_SELECT)
            return WHY(p, "'metrics' lists more than %d names", CORIO_RULES_MAX_SELECT);
        if (strcmp(w[0], "*") == 0) {
            if (n != 1)
                return WHY(p, "'metrics *' cannot be combined with names");
            d->all_metrics = true;
            return CORIO_OK;
        }
        for (size_t i = 0; i < n; i++) {
            if (!metric_ok(w[i]))
                return WHY(p,
                           "'%s' is not a metric name (SenML: letters, digits, - : . / _, "
                           "first a letter or digit, at most %d bytes)",
                           SHOW(w[i]), CORIO_EDGE_METRIC_MAX);
            if ((rc = push_str(&d->metrics, &d->nmetrics, w[i])) != CORIO_OK)
                return rc;
        }
        return CORIO_OK;
    }
    if (strcmp(kw, "detector") == 0) {
        if ((rc = once(p, K_DETECTOR, kw)) != CORIO_OK || (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        const struct corio_edge_model *const *models =
            p->opts && p->opts->models ? p->opts->models : corio_edge_models;
        for (size_t i = 0; models[i]; i++)
            if (strcmp(models[i]->name, w[0]) == 0)
                d->model = models[i];
        if (!d->model) {
            char known[160] = "";
            for (size_t i = 0; models[i]; i++) {
                size_t kl = strlen(known);
                snprintf(known + kl, sizeof known - kl, "%s%s", i ? ", " : "", models[i]->name);
            }
            return WHY(p, "unknown detector '%s' (known: %s)", SHOW(w[0]), known);
        }
        return CORIO_OK;
    }
    if (strcmp(kw, "max_series") == 0) {
        int64_t v;
        if ((rc = once(p, K_MAX_SERIES, kw)) != CORIO_OK ||
            (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        if (!parse_int(w[0], &v) || v < 1 || v > 1000000)
            return WHY(p, "'max_series' must be a whole number between 1 and 1000000, got '%s'",
                       SHOW(w[0]));
        d->max_series = (size_t)v;
        return CORIO_OK;
    }
    if (strcmp(kw, "alert") == 0) {
        if ((rc = once(p, K_ALERT, kw)) != CORIO_OK || (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        return want_severity(p, w[0], &d->alert);
    }
    if (strcmp(kw, "model_file") == 0) {
        if ((rc = once(p, K_MODEL_FILE, kw)) != CORIO_OK ||
            (rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        if (!p->opts || !p->opts->read_files)
            return WHY(p, "model files are not read when parsing text (load the rules file)");
        char *path = resolve_path(p->name, w[0]);
        if (!path)
            return CORIO_ERR_NOSPACE;
        char *blob;
        rc =
            read_file(path, CORIO_RULES_MODEL_FILE_MAX, &blob, &p->blob_len, p->why, sizeof p->why);
        free(path);
        if (rc != CORIO_OK)
            return rc;
        p->blob = (uint8_t *)blob;
        p->blob_line = p->line;
        return CORIO_OK;
    }
    /* Anything else is a parameter of the model: `key value`. */
    if (!name_ok(kw, CORIO_RULES_NAME_MAX))
        return WHY(p, "'%s' is not a key", SHOW(kw));
    if (n != 1)
        return WHY(p, "model parameter '%s' takes one value, got %zu", SHOW(kw), n);
    for (size_t i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i].key, kw) == 0)
            return WHY(p, "'%s' given twice in this block (first at line %d)", kw,
                       p->param_lines[i]);
    if (p->nparams >= CORIO_RULES_MAX_PARAMS)
        return WHY(p, "more than %d model parameters", CORIO_RULES_MAX_PARAMS);
    struct corio_edge_param *gp = realloc(p->params, (p->nparams + 1) * sizeof *gp);
    if (!gp)
        return CORIO_ERR_NOSPACE;
    p->params = gp;
    int *gl = realloc(p->param_lines, (p->nparams + 1) * sizeof *gl);
    if (!gl)
        return CORIO_ERR_NOSPACE;
    p->param_lines = gl;
    char *k = strdup(kw), *v = strdup(w[0]);
    if (!k || !v) {
        free(k);
        free(v);
        return CORIO_ERR_NOSPACE;
    }
    gp[p->nparams] = (struct corio_edge_param){.key = k, .value = v};
    gl[p->nparams] = p->line;
    p->nparams++;
    return CORIO_OK;
}

static int end_anomaly(struct parser *p)
{
    struct corio_rules_detector *d = &p->det;
    int end_line = p->line;
    p->line = d->line;
    if (!p->seen[K_DEVICES])
        return WHY(p, "anomaly block '%s' needs a 'devices' line", d->name);
    if (!p->seen[K_METRICS])
        return WHY(p, "anomaly block '%s' needs a 'metrics' line (names, or *)", d->name);
    if (!d->model)
        d->model = corio_edge_model_find("ewma");
    if (!d->model || !d->model->init || !d->model->infer)
        return WHY(p, "anomaly block '%s': no usable detector", d->name);
    size_t bad = p->nparams;
    char why[400] = "";
    int rc = d->model->init(&d->model_inst, &d->shape, p->blob, p->blob_len, p->params, p->nparams,
                            &bad, why, sizeof why);
    if (rc == CORIO_ERR_NOSPACE)
        return rc;
    if (rc != CORIO_OK) {
        p->line = bad < p->nparams ? p->param_lines[bad] : p->blob_line ? p->blob_line : d->line;
        return WHY(p, "%s", why[0] ? why : "the detector refused its parameters");
    }
    if (d->shape.window > CORIO_EDGE_WINDOW_MAX || d->shape.state_size > CORIO_EDGE_STATE_MAX)
        return WHY(p,
                   "anomaly block '%s': the detector asks for more memory per series than "
                   "allowed",
                   d->name);
    struct corio_rules_detector *grown =
        realloc(p->c->detectors, (p->c->ndetectors + 1) * sizeof *grown);
    if (!grown)
        return CORIO_ERR_NOSPACE;
    p->c->detectors = grown;
    grown[p->c->ndetectors++] = *d;
    memset(d, 0, sizeof *d);
    free_params(p);
    p->line = end_line;
    return CORIO_OK;
}

static int top_line(struct parser *p, const char *kw, char **w, size_t n)
{
    int rc;
    if (strcmp(kw, "version") == 0) {
        if (p->seen_version)
            return WHY(p, "'version' given twice");
        if ((rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        if (strcmp(w[0], "1") != 0)
            return WHY(p, "rules file version '%s' is not known (this program reads version 1)",
                       SHOW(w[0]));
        p->seen_version = true;
        return CORIO_OK;
    }
    if (!p->seen_version)
        return WHY(p, "the rules file must start with 'version 1'");
    if (strcmp(kw, "rule") == 0)
        return open_block(p, RULE, kw, w, n);
    if (strcmp(kw, "anomaly") == 0)
        return open_block(p, ANOMALY, kw, w, n);
    if (strcmp(kw, "max_instances") == 0) {
        int64_t v;
        if (p->max_instances_line)
            return WHY(p, "'max_instances' given twice (first at line %d)", p->max_instances_line);
        if ((rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        if (!parse_int(w[0], &v) || v < 1 || v > 10000000)
            return WHY(p,
                       "'max_instances' must be a whole number between 1 and 10000000, got "
                       "'%s'",
                       SHOW(w[0]));
        if (p->c->nrules || p->c->ndetectors)
            return WHY(p, "'max_instances' must come before the first block");
        p->c->max_instances = (size_t)v;
        p->max_instances_line = p->line;
        return CORIO_OK;
    }
    if (strcmp(kw, "command_expiry") == 0) {
        if (p->command_expiry_line)
            return WHY(p, "'command_expiry' given twice (first at line %d)",
                       p->command_expiry_line);
        if ((rc = need_args(p, kw, n, 1)) != CORIO_OK)
            return rc;
        if (p->c->nrules || p->c->ndetectors)
            return WHY(p, "'command_expiry' must come before the first block");
        p->command_expiry_line = p->line;
        return want_duration(p, kw, w[0], 1000, DURATION_MAX_MS, &p->c->command_expiry_ms);
    }
    if (strcmp(kw, "end") == 0)
        return WHY(p, "'end' without a block");
    return WHY(p,
               "unknown key '%s' (known here: version, max_instances, command_expiry, rule, "
               "anomaly)",
               SHOW(kw));
}

/* Splits line[0..len) into words in scratch; returns how many, or an error. */
static int split(struct parser *p, const char *line, size_t len, char *scratch, char **words,
                 size_t maxwords)
{
    size_t i = 0, o = 0, n = 0;
    for (size_t j = 0; j < len; j++) {
        unsigned char ch = (unsigned char)line[j];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return WHY(p, "control character 0x%02x in line", ch);
    }
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len || line[i] == '#')
            break;
        if (n == maxwords)
            return WHY(p, "too many words in line");
        words[n++] = scratch + o;
        bool quoted = false;
        while (i < len && (quoted || (line[i] != ' ' && line[i] != '\t'))) {
            if (line[i] == '"')
                quoted = !quoted;
            scratch[o++] = line[i++];
        }
        if (quoted)
            return WHY(p, "a quote is not closed");
        scratch[o++] = '\0';
    }
    return (int)n;
}

static int parse_line(struct parser *p, const char *line, size_t len, char *scratch, char **words,
                      size_t maxwords)
{
    int n = split(p, line, len, scratch, words, maxwords);
    if (n <= 0)
        return n;
    const char *kw = words[0];
    char **w = words + 1;
    size_t nw = (size_t)n - 1;
    if (p->block == TOP)
        return top_line(p, kw, w, nw);
    if (strcmp(kw, "rule") == 0 || strcmp(kw, "anomaly") == 0)
        return WHY(p, "'%s' inside the %s block of line %d: close it with 'end' first", kw,
                   p->block == RULE ? "rule" : "anomaly", p->block_line);
    if (strcmp(kw, "end") == 0) {
        int rc = need_args(p, kw, nw, 0);
        if (rc != CORIO_OK)
            return rc;
        enum block b = p->block;
        p->block = TOP;
        return b == RULE ? end_rule(p) : end_anomaly(p);
    }
    return p->block == RULE ? rule_line(p, kw, w, nw) : anomaly_line(p, kw, w, nw);
}

int corio_rules_conf_parse(const char *name, const char *text, size_t len,
                           const struct corio_rules_parse_opts *opts, struct corio_rules_conf **out,
                           char *err, size_t errlen)
{
    if (!out || (!text && len > 0))
        return CORIO_ERR_INVAL;
    *out = NULL;
    if (!name)
        name = "rules";
    struct parser p = {.name = name, .opts = opts};
    char *scratch = malloc(CORIO_RULES_LINE_MAX + 1);
    char **words = malloc((CORIO_RULES_LINE_MAX / 2 + 1) * sizeof *words);
    p.c = calloc(1, sizeof *p.c);
    if (!scratch || !words || !p.c || !(p.c->name = strdup(name))) {
        free(scratch);
        free(words);
        corio_rules_conf_free(p.c);
        return CORIO_ERR_NOSPACE;
    }
    p.c->max_instances = DEFAULT_MAX_INSTANCES;
    p.c->command_expiry_ms = DEFAULT_COMMAND_EXPIRY_MS;
    int rc = CORIO_OK;
    size_t pos = 0;
    if (len > CORIO_RULES_FILE_MAX) {
        rc = CORIO_ERR_MALFORMED;
        say(err, errlen, "%s: larger than %d bytes", name, CORIO_RULES_FILE_MAX);
        goto out;
    }
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len && rc == CORIO_OK) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t ll = end - pos;
        p.line++;
        if (ll > 0 && text[pos + ll - 1] == '\r')
            ll--;
        if (ll > CORIO_RULES_LINE_MAX)
            rc = WHY(&p, "line longer than %d bytes", CORIO_RULES_LINE_MAX);
        else if (memchr(text + pos, '\0', ll))
            rc = WHY(&p, "NUL byte in line");
        else
            rc = parse_line(&p, text + pos, ll, scratch, words, CORIO_RULES_LINE_MAX / 2 + 1);
        pos = end + 1;
    }
    if (rc == CORIO_OK && p.block != TOP) {
        p.line = p.block_line;
        rc = WHY(&p, "the %s block '%s' has no 'end'", p.block == RULE ? "rule" : "anomaly",
                 p.block == RULE ? p.rule.name : p.det.name);
    }
    if (rc == CORIO_OK && !p.seen_version) {
        rc = CORIO_ERR_MALFORMED;
        say(err, errlen, "%s: the rules file must start with 'version 1'", name);
        goto out;
    }
    if (rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_IO)
        say(err, errlen, "%s:%d: %s", name, p.line, p.why);
    else if (rc == CORIO_ERR_NOSPACE)
        say(err, errlen, "%s: out of memory", name);
out:
    free_rule(&p.rule);
    free_select(&p.det.select);
    free_strs(p.det.metrics, p.det.nmetrics);
    if (p.det.model && p.det.model->free && p.det.model_inst)
        p.det.model->free(p.det.model_inst);
    free_params(&p);
    free(scratch);
    free(words);
    if (rc != CORIO_OK) {
        corio_rules_conf_free(p.c);
        return rc;
    }
    *out = p.c;
    return CORIO_OK;
}

int corio_rules_conf_load(const char *path, struct corio_rules_conf **out, char *err, size_t errlen)
{
    if (!path || !out)
        return CORIO_ERR_INVAL;
    char *text;
    size_t len;
    int rc = read_file(path, CORIO_RULES_FILE_MAX, &text, &len, err, errlen);
    if (rc != CORIO_OK)
        return rc;
    struct corio_rules_parse_opts opts = {.read_files = true};
    rc = corio_rules_conf_parse(path, text, len, &opts, out, err, errlen);
    free(text);
    return rc;
}
