/*
 * registry.c - the registry file of corio-cloud (cloud.h): which organisations,
 * gateways (with their keys) and devices exist, until the ledger says so.
 *
 * The whole file is applied in one transaction or not at all, so a typo never leaves
 * half a registry behind. Entries are upserts: removing a line does not remove a
 * record (revocation belongs to the ledger).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "cloud_int.h"
#include "corio/did.h"
#include "corio/error.h"

#define LINE_MAX_BYTES     4096
#define FIELD_MAX          128
#define REGISTRY_MAX_BYTES (64 << 20)

struct line_ctx {
    const char *path;
    int line;
    char *err;
    size_t errlen;
};

static int bad(struct line_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct line_ctx *c, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s:%d: %s", c->path, c->line, what);
    return CORIO_ERR_MALFORMED;
}

static bool id_ok(const char *s)
{
    return corio_store_valid_id(s, strlen(s));
}

/* Text fields: printable, no blanks (the line is split on blanks), bounded. */
static bool field_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > FIELD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
            return false;
    return true;
}

struct kv {
    const char *key;
    const char *val;
};

/* Splits "k=v" words after the id; refuses keys not in allowed and repeated keys. */
static int parse_kv(struct line_ctx *c, char **words, int n, const char *const *allowed,
                    struct kv *out, int *nout)
{
    *nout = 0;
    for (int i = 0; i < n; i++) {
        char *eq = strchr(words[i], '=');
        if (!eq || eq == words[i])
            return bad(c, "'%.40s' is not key=value", words[i]);
        *eq = 0;
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(*a, words[i]) == 0;
        if (!known)
            return bad(c, "unknown field '%.40s'", words[i]);
        for (int k = 0; k < *nout; k++)
            if (strcmp(out[k].key, words[i]) == 0)
                return bad(c, "'%s' given twice", words[i]);
        if (!field_ok(eq + 1))
            return bad(c, "'%s' has a bad value", words[i]);
        out[(*nout)++] = (struct kv){words[i], eq + 1};
    }
    return CORIO_OK;
}

static const char *kv_get(const struct kv *kv, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].val;
    return NULL;
}

static int store_err(struct line_ctx *c, int rc)
{
    snprintf(c->err, c->errlen, "%s:%d: the database refused the entry (%s)", c->path, c->line,
             corio_strerror(rc));
    return CORIO_ERR_IO;
}

static int apply_line(struct corio_store *s, struct line_ctx *c, char *text)
{
    char *words[16];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(text, " \t", &save); w;
         w = strtok_r(NULL, " \t", &save)) {
        if (n == 16)
            return bad(c, "too many fields");
        words[n++] = w;
    }
    if (n == 0 || words[0][0] == '#')
        return CORIO_OK;
    if (n < 2)
        return bad(c, "'%.40s' needs an id", words[0]);
    const char *id = words[1];
    if (!id_ok(id))
        return bad(c, "'%.40s' is not a short id (24 characters of a-z, 2-7)", id);
    struct kv kv[16];
    int nkv;
    int rc;
    if (strcmp(words[0], "org") == 0) {
        char name[256] = "";
        for (int i = 2; i < n; i++) {
            size_t l = strlen(name);
            snprintf(name + l, sizeof name - l, "%s%s", i > 2 ? " " : "", words[i]);
        }
        rc = corio_store_put_org(s, id, name);
        return rc < 0 ? store_err(c, rc) : CORIO_OK;
    }
    if (strcmp(words[0], "gateway") == 0) {
        static const char *const allowed[] = {"org", "key", "key_no", NULL};
        if ((rc = parse_kv(c, words + 2, n - 2, allowed, kv, &nkv)) != CORIO_OK)
            return rc;
        const char *org = kv_get(kv, nkv, "org"), *key = kv_get(kv, nkv, "key"),
                   *key_no = kv_get(kv, nkv, "key_no");
        if (!org || !id_ok(org))
            return bad(c, "a gateway needs org=<short id>");
        if (!key)
            return bad(c, "a gateway needs key=did:key:... (its batches are verified with it)");
        struct corio_gateway_rec g = {.pubkey_len = 65};
        snprintf(g.id, sizeof g.id, "%s", id);
        snprintf(g.org, sizeof g.org, "%s", org);
        if (corio_didkey_parse(key, strlen(key), g.pubkey) != CORIO_OK)
            return bad(c, "key is not a did:key of a P-256 public key");
        if (key_no) {
            char *end;
            errno = 0;
            long long k = strtoll(key_no, &end, 10);
            if (errno || *end || k < 0 || key_no[0] < '0' || key_no[0] > '9')
                return bad(c, "key_no must be a number >= 0");
            g.key_no = k;
        }
        rc = corio_store_put_gateway(s, &g);
        return rc < 0 ? store_err(c, rc) : CORIO_OK;
    }
    if (strcmp(words[0], "device") == 0) {
        static const char *const allowed[] = {"org",    "gateway", "class",     "model",
                                              "hw_rev", "groups",  "assurance", NULL};
        if ((rc = parse_kv(c, words + 2, n - 2, allowed, kv, &nkv)) != CORIO_OK)
            return rc;
        const char *org = kv_get(kv, nkv, "org"), *gw = kv_get(kv, nkv, "gateway");
        if (!org || !id_ok(org))
            return bad(c, "a device needs org=<short id>");
        if (gw && !id_ok(gw))
            return bad(c, "gateway must be a short id");
        struct corio_device_rec d = {
            .id = id,
            .org = org,
            .gateway = gw,
            .cls = kv_get(kv, nkv, "class"),
            .model = kv_get(kv, nkv, "model"),
            .hw_rev = kv_get(kv, nkv, "hw_rev"),
            .groups = kv_get(kv, nkv, "groups"),
            .assurance = kv_get(kv, nkv, "assurance"),
        };
        rc = corio_store_put_device(s, &d);
        return rc < 0 ? store_err(c, rc) : CORIO_OK;
    }
    return bad(c, "unknown entry '%.40s' (org, gateway or device)", words[0]);
}

int corio_cloud_registry_load_buf(struct corio_store *s, const char *name, const char *text,
                                  size_t len, char *err, size_t errlen)
{
    struct line_ctx c = {.path = name, .err = err, .errlen = errlen};
    if (corio_store_begin(s) != CORIO_OK) {
        snprintf(err, errlen, "%s: the database cannot begin a transaction", name);
        return CORIO_ERR_IO;
    }
    int rc = CORIO_OK;
    char buf[LINE_MAX_BYTES + 1];
    size_t at = 0;
    while (rc == CORIO_OK && at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        c.line++;
        if (n > LINE_MAX_BYTES) {
            rc = bad(&c, "line longer than %d bytes", LINE_MAX_BYTES);
            break;
        }
        memcpy(buf, text + at, n);
        at += n + (nl ? 1 : 0);
        if (n > 0 && buf[n - 1] == '\r')
            n--;
        buf[n] = 0;
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t') {
                rc = bad(&c, "control character in the line");
                break;
            }
        }
        if (rc == CORIO_OK)
            rc = apply_line(s, &c, buf);
    }
    if (rc != CORIO_OK) {
        corio_store_rollback(s);
        return rc;
    }
    if (corio_store_commit(s) != CORIO_OK) {
        snprintf(err, errlen, "%s: the database cannot commit", name);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

int corio_cloud_registry_load(struct corio_store *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CORIO_ERR_IO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = CORIO_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= REGISTRY_MAX_BYTES) {
                snprintf(err, errlen, "%s: larger than %d bytes", path, REGISTRY_MAX_BYTES);
                rc = CORIO_ERR_MALFORMED;
                break;
            }
            cap = cap ? cap * 2 : 65536;
            char *p = realloc(text, cap);
            if (!p) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = CORIO_ERR_NOSPACE;
                break;
            }
            text = p;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (rc == CORIO_OK && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = CORIO_ERR_IO;
    }
    fclose(f);
    if (rc == CORIO_OK)
        rc = corio_cloud_registry_load_buf(s, path, text ? text : "", len, err, errlen);
    free(text);
    return rc;
}
