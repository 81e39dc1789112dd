/*
 * corio_registry.c - the registry file parser (corio_registry.h, docs/registry.md).
 */
#include "corio_registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/error.h"

#define LINE_MAX_BYTES 4096
#define FILE_MAX_BYTES (64u << 20)

struct parser {
    const char *name;
    int line;
    char *err;
    size_t errlen;
    struct corio_reg *r;
    size_t cap_orgs, cap_gateways, cap_devices, cap_firmware;
    bool seen_height;
};

static int bad(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct parser *p, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "%s:%d: %s", p->name, p->line, what);
    return CORIO_ERR_MALFORMED;
}

static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : 16;
    void *g = realloc(arr, c * size);
    if (g)
        *cap = c;
    return g;
}

static bool is_short_id(const char *s)
{
    uint8_t id[CORIO_DID_ID_LEN];
    return strlen(s) == CORIO_REG_ID_CHARS && corio_did_id_parse(s, strlen(s), id) == CORIO_OK;
}

/* Copies a bounded printable value. */
static int text(struct parser *p, const char *key, const char *v, char *out, size_t cap)
{
    size_t n = strlen(v);
    if (n >= cap)
        return bad(p, "%s is longer than %zu bytes", key, cap - 1);
    memcpy(out, v, n + 1);
    return CORIO_OK;
}

static int id_value(struct parser *p, const char *key, const char *v, char out[CORIO_REG_ID_CHARS + 1])
{
    if (!is_short_id(v))
        return bad(p, "%s '%.40s' is not a short id", key, v);
    memcpy(out, v, CORIO_REG_ID_CHARS + 1);
    return CORIO_OK;
}

static int key_value(struct parser *p, const char *v, uint8_t out[CORIO_P256_PUB_LEN])
{
    if (corio_didkey_parse(v, strlen(v), out) != CORIO_OK)
        return bad(p, "key '%.40s' is not a P-256 did:key", v);
    return CORIO_OK;
}

static int uint_value(struct parser *p, const char *key, const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || n > max)
        return bad(p, "%s '%.40s' is not a number up to %llu", key, v, (unsigned long long)max);
    *out = n;
    return CORIO_OK;
}

static int bool_value(struct parser *p, const char *key, const char *v, bool *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true"))
        *out = true;
    else if (!strcmp(v, "no") || !strcmp(v, "false"))
        *out = false;
    else
        return bad(p, "%s must be yes or no", key);
    return CORIO_OK;
}

/* Whether key k appears among the first n "k=v" tokens (already split, so k ends at
 * its NUL). */
static bool repeated(char **toks, int n, const char *k)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(toks[i], k))
            return true;
    return false;
}

/* Splits "k=v" in place; returns false when there is no '='. */
static bool split_kv(char *tok, char **k, char **v)
{
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok)
        return false;
    *eq = '\0';
    *k = tok;
    *v = eq + 1;
    return true;
}

static int parse_org(struct parser *p, char *id, char *rest)
{
    struct corio_reg *r = p->r;
    struct corio_reg_org *arr = grow(r->orgs, &p->cap_orgs, r->norgs, sizeof *arr);
    if (!arr)
        return bad(p, "out of memory");
    r->orgs = arr;
    struct corio_reg_org *o = &arr[r->norgs];
    memset(o, 0, sizeof *o);
    int rc = id_value(p, "org id", id, o->id);
    if (rc == CORIO_OK && rest)
        rc = text(p, "org name", rest, o->name, sizeof o->name);
    if (rc == CORIO_OK)
        r->norgs++;
    return rc;
}

/* "orgkey <org id> key=<did:key> [key_no=<n>]": the current key of an organisation
 * listed above, which endorses its devices' key rotations. */
static int parse_orgkey(struct parser *p, char *id, char **toks, int ntoks)
{
    struct corio_reg *r = p->r;
    struct corio_reg_org *o = NULL;
    for (size_t i = 0; i < r->norgs && !o; i++)
        if (!strcmp(r->orgs[i].id, id))
            o = &r->orgs[i];
    if (!o)
        return bad(p, "orgkey for '%.40s', which no org line above names", id);
    if (o->has_key)
        return bad(p, "a second orgkey for %s", id);
    bool has_key = false;
    int rc = CORIO_OK;
    for (int i = 0; rc == CORIO_OK && i < ntoks; i++) {
        char *k, *v;
        uint64_t n;
        if (!split_kv(toks[i], &k, &v))
            return bad(p, "'%.40s' is not key=value", toks[i]);
        if (repeated(toks, i, k))
            return bad(p, "'%.40s' given twice", k);
        if (!strcmp(k, "key"))
            rc = key_value(p, v, o->key), has_key = true;
        else if (!strcmp(k, "key_no")) {
            rc = uint_value(p, k, v, UINT32_MAX, &n);
            o->key_number = (uint32_t)n;
        } else
            return bad(p, "unknown field '%.40s' of an orgkey", k);
    }
    if (rc == CORIO_OK && !has_key)
        return bad(p, "an orgkey needs key=did:key:...");
    if (rc == CORIO_OK)
        o->has_key = true;
    return rc;
}

static int parse_gateway(struct parser *p, char *id, char **toks, int ntoks)
{
    struct corio_reg *r = p->r;
    struct corio_reg_gateway *arr = grow(r->gateways, &p->cap_gateways, r->ngateways, sizeof *arr);
    if (!arr)
        return bad(p, "out of memory");
    r->gateways = arr;
    struct corio_reg_gateway *g = &arr[r->ngateways];
    memset(g, 0, sizeof *g);
    int rc = id_value(p, "gateway id", id, g->id);
    bool has_org = false, has_key = false;
    for (int i = 0; rc == CORIO_OK && i < ntoks; i++) {
        char *k, *v;
        uint64_t n;
        if (!split_kv(toks[i], &k, &v))
            return bad(p, "'%.40s' is not key=value", toks[i]);
        if (repeated(toks, i, k))
            return bad(p, "'%.40s' given twice", k);
        if (!strcmp(k, "org"))
            rc = id_value(p, k, v, g->org), has_org = true;
        else if (!strcmp(k, "key"))
            rc = key_value(p, v, g->key), has_key = true;
        else if (!strcmp(k, "key_no")) {
            rc = uint_value(p, k, v, UINT32_MAX, &n);
            g->key_number = (uint32_t)n;
        } else
            return bad(p, "unknown field '%.40s' of a gateway", k);
    }
    if (rc == CORIO_OK && !has_org)
        return bad(p, "a gateway needs org=<short id>");
    if (rc == CORIO_OK && !has_key)
        return bad(p, "a gateway needs key=did:key:... (its batches are verified with it)");
    if (rc == CORIO_OK)
        r->ngateways++;
    return rc;
}

static int parse_device(struct parser *p, char *id, char **toks, int ntoks)
{
    struct corio_reg *r = p->r;
    struct corio_reg_device *arr = grow(r->devices, &p->cap_devices, r->ndevices, sizeof *arr);
    if (!arr)
        return bad(p, "out of memory");
    r->devices = arr;
    struct corio_reg_device *d = &arr[r->ndevices];
    memset(d, 0, sizeof *d);
    d->auth = CORIO_REG_AUTH_SINGLE;
    d->assurance = CORIO_EAT_REPORTED;
    int rc = id_value(p, "device id", id, d->id);
    bool has_org = false;
    for (int i = 0; rc == CORIO_OK && i < ntoks; i++) {
        char *k, *v;
        uint64_t n;
        if (!split_kv(toks[i], &k, &v))
            return bad(p, "'%.40s' is not key=value", toks[i]);
        if (repeated(toks, i, k))
            return bad(p, "'%.40s' given twice", k);
        if (!strcmp(k, "org"))
            rc = id_value(p, k, v, d->org), has_org = true;
        else if (!strcmp(k, "gateway"))
            rc = id_value(p, k, v, d->gateway);
        else if (!strcmp(k, "class"))
            rc = text(p, k, v, d->cls, sizeof d->cls);
        else if (!strcmp(k, "model"))
            rc = text(p, k, v, d->model, sizeof d->model);
        else if (!strcmp(k, "hw_rev"))
            rc = text(p, k, v, d->hw_rev, sizeof d->hw_rev);
        else if (!strcmp(k, "groups"))
            rc = text(p, k, v, d->groups, sizeof d->groups);
        else if (!strcmp(k, "key"))
            rc = key_value(p, v, d->key), d->has_key = true;
        else if (!strcmp(k, "key_no")) {
            rc = uint_value(p, k, v, UINT32_MAX, &n);
            d->key_number = (uint32_t)n;
        } else if (!strcmp(k, "auth")) {
            if (!strcmp(v, "single"))
                d->auth = CORIO_REG_AUTH_SINGLE;
            else if (!strcmp(v, "eat"))
                d->auth = CORIO_REG_AUTH_EAT;
            else
                rc = bad(p, "auth must be single or eat");
        } else if (!strcmp(k, "assurance")) {
            if (!strcmp(v, "reported"))
                d->assurance = CORIO_EAT_REPORTED;
            else if (!strcmp(v, "attested"))
                d->assurance = CORIO_EAT_ATTESTED;
            else
                rc = bad(p, "assurance must be reported or attested");
        } else if (!strcmp(k, "revoked"))
            rc = bool_value(p, k, v, &d->revoked);
        else
            return bad(p, "unknown field '%.40s' of a device", k);
    }
    if (rc == CORIO_OK && !has_org)
        return bad(p, "a device needs org=");
    if (rc == CORIO_OK)
        r->ndevices++;
    return rc;
}

static int hexdigest(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
            !strchr("0123456789abcdef", s[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int parse_firmware(struct parser *p, char *cls, char **toks, int ntoks)
{
    struct corio_reg *r = p->r;
    if (ntoks < 1 || ntoks > 2)
        return bad(p, "firmware needs: firmware <class> <sha256 hex> [<version>]");
    struct corio_reg_firmware *arr = grow(r->firmware, &p->cap_firmware, r->nfirmware, sizeof *arr);
    if (!arr)
        return bad(p, "out of memory");
    r->firmware = arr;
    struct corio_reg_firmware *f = &arr[r->nfirmware];
    memset(f, 0, sizeof *f);
    int rc = text(p, "class", cls, f->cls, sizeof f->cls);
    if (rc == CORIO_OK && hexdigest(toks[0], f->digest) != 0)
        rc = bad(p, "'%.40s' is not a lowercase hex SHA-256 digest", toks[0]);
    if (rc == CORIO_OK && ntoks == 2)
        rc = text(p, "version", toks[1], f->version, sizeof f->version);
    if (rc == CORIO_OK)
        r->nfirmware++;
    return rc;
}

static int parse_line(struct parser *p, char *line)
{
    char *toks[32];
    int n = 0;
    char *org_name = NULL;
    for (char *s = line; *s;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            break;
        if (n == 2 && !strcmp(toks[0], "org")) {
            org_name = s; /* the rest of the line, trailing blanks trimmed */
            size_t len = strlen(s);
            while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                s[--len] = '\0';
            break;
        }
        if (n == (int)(sizeof toks / sizeof toks[0]))
            return bad(p, "too many fields");
        toks[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
    if (n == 0)
        return CORIO_OK;
    if (!strcmp(toks[0], "height")) {
        if (n != 2 || p->seen_height)
            return bad(p, "one 'height <n>' line");
        p->seen_height = true;
        return uint_value(p, "height", toks[1], UINT64_MAX, &p->r->height);
    }
    if (n < 2)
        return bad(p, "'%.40s' needs an id", toks[0]);
    if (!strcmp(toks[0], "org"))
        return parse_org(p, toks[1], org_name);
    if (!strcmp(toks[0], "orgkey"))
        return parse_orgkey(p, toks[1], toks + 2, n - 2);
    if (!strcmp(toks[0], "gateway"))
        return parse_gateway(p, toks[1], toks + 2, n - 2);
    if (!strcmp(toks[0], "device"))
        return parse_device(p, toks[1], toks + 2, n - 2);
    if (!strcmp(toks[0], "firmware"))
        return parse_firmware(p, toks[1], toks + 2, n - 2);
    return bad(p, "unknown entry '%.40s' (org, orgkey, gateway, device, firmware, height)",
               toks[0]);
}

static int cmp_device(const void *a, const void *b)
{
    return strcmp(((const struct corio_reg_device *)a)->id,
                  ((const struct corio_reg_device *)b)->id);
}

int corio_reg_parse(const char *name, const char *text_in, size_t len,
                         struct corio_reg **out, char *err, size_t errlen)
{
    *out = NULL;
    struct parser p = {.name = name, .err = err, .errlen = errlen};
    p.r = calloc(1, sizeof *p.r);
    if (!p.r)
        return bad(&p, "out of memory");
    char line[LINE_MAX_BYTES + 1];
    size_t pos = 0;
    int rc = CORIO_OK;
    while (pos < len && rc == CORIO_OK) {
        p.line++;
        const char *nl = memchr(text_in + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text_in + pos)) : len - pos;
        if (n > LINE_MAX_BYTES) {
            rc = bad(&p, "line longer than %d bytes", LINE_MAX_BYTES);
            break;
        }
        memcpy(line, text_in + pos, n);
        line[n] = '\0';
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0';
        for (size_t i = 0; line[i]; i++)
            if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
                rc = bad(&p, "control character in the line");
                break;
            }
        if (rc == CORIO_OK && memchr(text_in + pos, '\0', n))
            rc = bad(&p, "NUL byte in the line");
        if (rc == CORIO_OK)
            rc = parse_line(&p, line);
        pos += n + (nl ? 1 : 0);
    }
    if (rc == CORIO_OK && p.r->ndevices > 1) {
        qsort(p.r->devices, p.r->ndevices, sizeof *p.r->devices, cmp_device);
        for (size_t i = 1; i < p.r->ndevices; i++)
            if (!strcmp(p.r->devices[i].id, p.r->devices[i - 1].id)) {
                p.line = 0;
                rc = bad(&p, "device %s is listed twice", p.r->devices[i].id);
                break;
            }
    }
    if (rc != CORIO_OK) {
        corio_reg_free(p.r);
        return rc;
    }
    *out = p.r;
    return CORIO_OK;
}

int corio_reg_load(const char *path, struct corio_reg **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return e == ENOENT ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = CORIO_OK;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16384;
            char *g = cap <= FILE_MAX_BYTES ? realloc(buf, cap) : NULL;
            if (!g) {
                snprintf(err, errlen, "%s: larger than %u bytes or out of memory", path,
                         FILE_MAX_BYTES);
                rc = CORIO_ERR_IO;
                break;
            }
            buf = g;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s: read error", path);
                rc = CORIO_ERR_IO;
            }
            break;
        }
        len += n;
    }
    fclose(f);
    if (rc == CORIO_OK)
        rc = corio_reg_parse(path, buf ? buf : "", len, out, err, errlen);
    free(buf);
    return rc;
}

void corio_reg_free(struct corio_reg *r)
{
    if (!r)
        return;
    free(r->orgs);
    free(r->gateways);
    free(r->devices);
    free(r->firmware);
    free(r);
}

const struct corio_reg_device *corio_reg_device(const struct corio_reg *r,
                                                     const char *id)
{
    struct corio_reg_device key;
    snprintf(key.id, sizeof key.id, "%s", id);
    return r->ndevices ? bsearch(&key, r->devices, r->ndevices, sizeof key, cmp_device) : NULL;
}

const struct corio_reg_gateway *corio_reg_gateway(const struct corio_reg *r,
                                                       const char *id)
{
    for (size_t i = 0; i < r->ngateways; i++)
        if (!strcmp(r->gateways[i].id, id))
            return &r->gateways[i];
    return NULL;
}

const struct corio_reg_org *corio_reg_org(const struct corio_reg *r, const char *id)
{
    for (size_t i = 0; i < r->norgs; i++)
        if (!strcmp(r->orgs[i].id, id))
            return &r->orgs[i];
    return NULL;
}

bool corio_reg_firmware_ok(const struct corio_reg *r, const char *cls,
                                const uint8_t digest[32])
{
    bool any = false;
    for (size_t i = 0; i < r->nfirmware; i++) {
        if (strcmp(r->firmware[i].cls, cls) != 0)
            continue;
        any = true;
        if (!memcmp(r->firmware[i].digest, digest, 32))
            return true;
    }
    return !any;
}

bool corio_reg_has_firmware(const struct corio_reg *r, const char *cls)
{
    for (size_t i = 0; i < r->nfirmware; i++)
        if (!strcmp(r->firmware[i].cls, cls))
            return true;
    return false;
}
