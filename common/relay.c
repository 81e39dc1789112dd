/*
 * relay.c - registry updates relayed from the ledger (relay.h): the registry's line
 * model, signed tree heads, block chains, and the checks of an update against the
 * registry transactions of its blocks.
 *
 * The ledger's formats are read here from their documentation (docs/ledger.md,
 * docs/ledger-contracts.md), not from ledger/: gateways and clouds never link the
 * ledger's code (DESIGN.md §2). Only what a check needs is decoded: a block's height,
 * previous hash and transactions with their status, and of the accepted registry
 * transactions their type and the ids and keys they name.
 */
#include "relay.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/did.h"
#include "corio/p256.h"
#include "corio/rotation.h"
#include "corio_registry.h"

static int refuse(char *why, size_t whylen, int code, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- the line model ---------------------------------------------------------------- */

struct entry {
    char *key;
    char *line;
};

struct corio_reglines {
    struct entry *e;
    size_t n, cap;
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

/* Splits one line into its normalised form (tokens joined by one blank, a comment
 * dropped; an org's name is the rest of the line) and its key. Returns 1 with both
 * malloc'd, 0 for a line without an entry (blank, comment), 2 for "height" (value in
 * *height), or a negative error. */
static int split(const char *s, size_t n, char **key, char **line, uint64_t *height, bool removal)
{
    char buf[4096];
    const char *toks[8];
    size_t lens[8];
    int nt = 0;
    size_t i = 0;
    /* Control characters (a CR inside a line, above all) would not read back the same. */
    for (size_t c = 0; c < n; c++)
        if (((unsigned char)s[c] < 0x20 && s[c] != '\t') || s[c] == 0x7f)
            return CORIO_ERR_MALFORMED;
    const char *rest = NULL;
    size_t rest_len = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n || s[i] == '#')
            break;
        if (nt == 2 && lens[0] == 3 && memcmp(toks[0], "org", 3) == 0) {
            rest = s + i;
            rest_len = n - i;
            while (rest_len && (rest[rest_len - 1] == ' ' || rest[rest_len - 1] == '\t'))
                rest_len--;
            break;
        }
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        if (nt < 8) {
            toks[nt] = s + start;
            lens[nt] = i - start;
        }
        nt++;
    }
    if (nt == 0)
        return 0;
    if (nt > 8)
        nt = 8; /* only the key matters here beyond the normalised text, kept below */
    if (!removal && lens[0] == 6 && memcmp(toks[0], "height", 6) == 0) {
        if (nt != 2 || lens[1] > 20)
            return CORIO_ERR_MALFORMED;
        uint64_t v = 0;
        for (size_t k = 0; k < lens[1]; k++) {
            char c = toks[1][k];
            if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10)
                return CORIO_ERR_MALFORMED;
            v = v * 10 + (uint64_t)(c - '0');
        }
        *height = v;
        return 2;
    }
    int keywords;
    if (lens[0] == 3 && memcmp(toks[0], "org", 3) == 0)
        keywords = 2;
    else if ((lens[0] == 7 && memcmp(toks[0], "gateway", 7) == 0) ||
             (lens[0] == 6 && memcmp(toks[0], "device", 6) == 0) ||
             (lens[0] == 6 && memcmp(toks[0], "orgkey", 6) == 0))
        keywords = 2;
    else if (lens[0] == 8 && memcmp(toks[0], "firmware", 8) == 0)
        keywords = 3;
    else
        return CORIO_ERR_MALFORMED;
    if (nt < keywords)
        return CORIO_ERR_MALFORMED;
    /* The key. */
    size_t k = 0;
    for (int t = 0; t < keywords; t++) {
        if (k + lens[t] + 1 >= sizeof buf)
            return CORIO_ERR_MALFORMED;
        if (t)
            buf[k++] = ' ';
        memcpy(buf + k, toks[t], lens[t]);
        k += lens[t];
    }
    buf[k] = '\0';
    if (!(*key = strdup(buf)))
        return CORIO_ERR_NOSPACE;
    if (removal) {
        *line = NULL;
        return 1;
    }
    /* The normalised line: every token again (re-read: there may be more than 8). */
    k = 0;
    i = 0;
    nt = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n || s[i] == '#' || (rest && s + i == rest))
            break;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        if (k + (i - start) + 1 >= sizeof buf)
            goto too_long;
        if (nt++)
            buf[k++] = ' ';
        memcpy(buf + k, s + start, i - start);
        k += i - start;
    }
    if (rest) {
        if (k + rest_len + 1 >= sizeof buf)
            goto too_long;
        buf[k++] = ' ';
        memcpy(buf + k, rest, rest_len);
        k += rest_len;
    }
    buf[k] = '\0';
    if (!(*line = strdup(buf))) {
        free(*key);
        return CORIO_ERR_NOSPACE;
    }
    return 1;
too_long:
    free(*key);
    return CORIO_ERR_MALFORMED;
}

static int push(struct corio_reglines *r, char *key, char *line)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct entry *e = realloc(r->e, cap * sizeof *e);
        if (!e)
            return CORIO_ERR_NOSPACE;
        r->e = e;
        r->cap = cap;
    }
    r->e[r->n++] = (struct entry){key, line};
    return CORIO_OK;
}

void corio_reglines_free(struct corio_reglines *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->e[i].key);
        free(r->e[i].line);
    }
    free(r->e);
    free(r);
}

size_t corio_reglines_count(const struct corio_reglines *r)
{
    return r ? r->n : 0;
}

/* Calls fn for each line of text (without its end), stopping at an error. */
static int each_line(const char *text, size_t len, int (*fn)(void *, const char *, size_t, size_t),
                     void *arg)
{
    size_t line = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t end = j;
        if (end > i && text[end - 1] == '\r')
            end--;
        line++;
        int rc = fn(arg, text + i, end - i, line);
        if (rc < 0)
            return rc;
        i = j + 1;
    }
    return CORIO_OK;
}

struct parse_ctx {
    struct corio_reglines *r;
    uint64_t *height;
    bool seen_height;
    char *why;
    size_t whylen;
};

static int parse_one(void *arg, const char *s, size_t n, size_t line)
{
    struct parse_ctx *c = arg;
    char *key = NULL, *text = NULL;
    uint64_t h = 0;
    if (memchr(s, '\0', n))
        return refuse(c->why, c->whylen, CORIO_ERR_MALFORMED, "line %zu: a NUL byte", line);
    int rc = split(s, n, &key, &text, &h, false);
    if (rc == 0)
        return CORIO_OK;
    if (rc == 2) {
        if (c->seen_height)
            return refuse(c->why, c->whylen, CORIO_ERR_MALFORMED, "line %zu: a second height",
                          line);
        c->seen_height = true;
        *c->height = h;
        return CORIO_OK;
    }
    if (rc < 0)
        return refuse(c->why, c->whylen, rc, "line %zu: not a registry entry", line);
    if (push(c->r, key, text) != CORIO_OK) {
        free(key);
        free(text);
        return refuse(c->why, c->whylen, CORIO_ERR_NOSPACE, "out of memory");
    }
    return CORIO_OK;
}

int corio_reglines_parse(const char *text, size_t len, struct corio_reglines **out,
                         uint64_t *height, char *why, size_t whylen)
{
    *out = NULL;
    uint64_t h = 0;
    struct corio_reglines *r = calloc(1, sizeof *r);
    if (!r)
        return CORIO_ERR_NOSPACE;
    struct parse_ctx c = {r, &h, false, why, whylen};
    int rc = text && len ? each_line(text, len, parse_one, &c) : CORIO_OK;
    if (rc == CORIO_OK && r->n) {
        qsort(r->e, r->n, sizeof *r->e, cmp_entry);
        for (size_t i = 1; i < r->n; i++)
            if (strcmp(r->e[i - 1].key, r->e[i].key) == 0) {
                rc = refuse(why, whylen, CORIO_ERR_MALFORMED, "'%.60s' twice", r->e[i].key);
                break;
            }
    }
    if (rc != CORIO_OK) {
        corio_reglines_free(r);
        return rc;
    }
    if (height)
        *height = h;
    *out = r;
    return CORIO_OK;
}

static struct entry *find(const struct corio_reglines *r, const char *key)
{
    struct entry k = {(char *)key, NULL};
    return r->n ? bsearch(&k, r->e, r->n, sizeof *r->e, cmp_entry) : NULL;
}

struct apply_ctx {
    struct corio_reglines *r;
    char *why;
    size_t whylen;
};

static int apply_one(void *arg, const char *s, size_t n, size_t line)
{
    struct apply_ctx *c = arg;
    bool removal = false;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] == '-') {
        removal = true;
        i++;
    }
    char *key = NULL, *text = NULL;
    uint64_t h;
    if (memchr(s, '\0', n))
        return refuse(c->why, c->whylen, CORIO_ERR_MALFORMED, "update line %zu: a NUL byte", line);
    int rc = split(s + i, n - i, &key, &text, &h, removal);
    if (rc == 0 && !removal)
        return CORIO_OK;
    if (rc != 1)
        return refuse(c->why, c->whylen, rc < 0 ? rc : CORIO_ERR_MALFORMED,
                      "update line %zu: not an entry", line);
    struct entry *e = find(c->r, key);
    if (removal) {
        free(key);
        if (!e)
            return CORIO_OK;
        free(e->key);
        free(e->line);
        size_t at = (size_t)(e - c->r->e);
        memmove(e, e + 1, (c->r->n - at - 1) * sizeof *e);
        c->r->n--;
        return CORIO_OK;
    }
    if (e) {
        free(key);
        free(e->line);
        e->line = text;
        return CORIO_OK;
    }
    if (push(c->r, key, text) != CORIO_OK) {
        free(key);
        free(text);
        return refuse(c->why, c->whylen, CORIO_ERR_NOSPACE, "out of memory");
    }
    /* Keep the order: move the new entry into its place. */
    struct entry ne = c->r->e[c->r->n - 1];
    size_t lo = 0, hi = c->r->n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(c->r->e[mid].key, ne.key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&c->r->e[lo + 1], &c->r->e[lo], (c->r->n - 1 - lo) * sizeof ne);
    c->r->e[lo] = ne;
    return CORIO_OK;
}

int corio_reglines_apply(struct corio_reglines *r, const char *update, size_t len, char *why,
                         size_t whylen)
{
    struct apply_ctx c = {r, why, whylen};
    return update && len ? each_line(update, len, apply_one, &c) : CORIO_OK;
}

/* A growable text buffer. */
struct text {
    char *p;
    size_t n, cap;
    bool oom;
};

static void add(struct text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = '\0';
}

static void adds(struct text *t, const char *s)
{
    add(t, s, strlen(s));
}

static char *done(struct text *t, size_t *len)
{
    if (!t->p && !t->oom)
        add(t, "", 0);
    if (t->oom) {
        free(t->p);
        return NULL;
    }
    *len = t->n;
    return t->p;
}

char *corio_reglines_format(const struct corio_reglines *r, uint64_t height, size_t *len)
{
    struct text t = {0};
    char h[40];
    snprintf(h, sizeof h, "height %llu\n", (unsigned long long)height);
    adds(&t, h);
    for (size_t i = 0; r && i < r->n; i++) {
        adds(&t, r->e[i].line);
        adds(&t, "\n");
    }
    return done(&t, len);
}

char *corio_reglines_diff(const struct corio_reglines *from, const struct corio_reglines *to,
                          size_t *len)
{
    struct text t = {0};
    size_t i = 0, j = 0, nf = from ? from->n : 0, nt = to ? to->n : 0;
    while (i < nf || j < nt) {
        int c = i >= nf ? 1 : j >= nt ? -1 : strcmp(from->e[i].key, to->e[j].key);
        if (c < 0) {
            adds(&t, "- ");
            adds(&t, from->e[i++].key);
            adds(&t, "\n");
        } else if (c > 0) {
            adds(&t, to->e[j++].line);
            adds(&t, "\n");
        } else {
            if (strcmp(from->e[i].line, to->e[j].line) != 0) {
                adds(&t, to->e[j].line);
                adds(&t, "\n");
            }
            i++;
            j++;
        }
    }
    return done(&t, len);
}

/* ---- signed tree heads ------------------------------------------------------------- */

static int key(struct corio_cbor_dec *d, uint64_t want)
{
    uint64_t k;
    return corio_cbor_expect_uint(d, &k) == CORIO_OK && k == want ? CORIO_OK : CORIO_ERR_MALFORMED;
}

static int hash32(struct corio_cbor_dec *d, uint64_t k, uint8_t out[32])
{
    const uint8_t *p;
    size_t n;
    if (key(d, k) != CORIO_OK || corio_cbor_expect_bytes(d, &p, &n) != CORIO_OK || n != 32)
        return CORIO_ERR_MALFORMED;
    memcpy(out, p, 32);
    return CORIO_OK;
}

static int uintk(struct corio_cbor_dec *d, uint64_t k, uint64_t *v)
{
    return key(d, k) == CORIO_OK && corio_cbor_expect_uint(d, v) == CORIO_OK ? CORIO_OK
                                                                             : CORIO_ERR_MALFORMED;
}

int corio_relay_sth_verify(const struct corio_crypto_ops *ops, const uint8_t *sth, size_t len,
                           const uint8_t (*keys)[33], size_t nkeys, struct corio_relay_sth *out)
{
    struct corio_cose_sign1 m;
    if (!ops || (!sth && len) || !out || corio_cose_sign1_decode(sth, len, &m) != CORIO_OK ||
        m.detached || !m.kid || m.kid_len != 33)
        return CORIO_ERR_MALFORMED;
    uint8_t point[CORIO_P256_PUB_LEN];
    if (corio_p256_point_parse(m.kid, m.kid_len, point) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    bool trusted = false;
    for (size_t i = 0; i < nkeys && !trusted; i++)
        trusted = memcmp(keys[i], m.kid, 33) == 0;
    if (!trusted)
        return CORIO_ERR_POLICY;
    int rc = corio_cose_sign1_verify(ops, &m, point, sizeof point, NULL, 0, NULL, 0);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_BADSIG ? rc : CORIO_ERR_MALFORMED;
    if (corio_cbor_deterministic(m.payload, m.payload_len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    uint64_t pairs, version;
    struct corio_relay_sth s;
    corio_cbor_dec_init(&d, m.payload, m.payload_len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || uintk(&d, 1, &version) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (version != 1)
        return CORIO_ERR_VERSION;
    if (pairs != 8 || uintk(&d, 2, &s.tree_size) || hash32(&d, 3, s.root) ||
        uintk(&d, 4, &s.height) || hash32(&d, 5, s.block_hash) || hash32(&d, 6, s.state_hash) ||
        uintk(&d, 7, &s.timestamp_ms) || uintk(&d, 8, &s.node) ||
        corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    memcpy(s.signer, m.kid, 33);
    *out = s;
    return CORIO_OK;
}

/* ---- blocks ------------------------------------------------------------------------ */

/* A block's head, and where its transactions are. */
struct block {
    uint64_t height;
    uint8_t prev[32], hash[32];
    struct corio_cbor_dec txs; /* positioned at the transactions array's items */
    uint64_t ntxs;
};

static int block_open(const struct corio_crypto_ops *ops, const uint8_t *p, size_t n,
                      struct block *b)
{
    if (corio_cbor_deterministic(p, n) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    uint64_t pairs, version, v;
    corio_cbor_dec_init(&d, p, n);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs != 9 ||
        uintk(&d, 1, &version) != CORIO_OK || version != 1 || uintk(&d, 2, &b->height) ||
        hash32(&d, 3, b->prev) || uintk(&d, 4, &v) || uintk(&d, 5, &v) || uintk(&d, 6, &v) ||
        key(&d, 7) != CORIO_OK || corio_cbor_expect_array(&d, &b->ntxs) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    b->txs = d;
    /* The rest must be well-formed, which corio_cbor_deterministic checked. */
    return corio_sha256(ops, p, n, b->hash) == CORIO_OK ? CORIO_OK : CORIO_ERR_MALFORMED;
}

int corio_relay_block_head(const struct corio_crypto_ops *ops, const uint8_t *block, size_t len,
                           uint64_t *height, uint8_t prev[32], uint8_t hash[32])
{
    struct block b;
    if (!ops || (!block && len) || block_open(ops, block, len, &b) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    *height = b.height;
    memcpy(prev, b.prev, 32);
    memcpy(hash, b.hash, 32);
    return CORIO_OK;
}

/* The registry transactions of interest (docs/ledger-contracts.md). */
enum { TX_ROTATE = 20, TX_REGISTER = 30, TX_TRANSFER = 31, TX_REVOKE = 32 };

/* What one accepted registry transaction says. */
struct fact {
    unsigned type;
    char subject[25];                /* the device or gateway (or, for a rotation, any identity) */
    char org[25];                    /* register: the owner; transfer: the new owner */
    uint8_t key[CORIO_P256_PUB_LEN]; /* register: key 0; rotate: the new key */
    uint32_t key_number;
    uint64_t kind; /* register: 1 device, 2 gateway */
};

struct facts {
    struct fact *f;
    size_t n, cap;
};

static int id_from(const uint8_t *p, size_t n, char out[25])
{
    return n == CORIO_DID_ID_LEN && corio_did_id_format(p, out, 25) == CORIO_DID_ID_CHARS
               ? CORIO_OK
               : CORIO_ERR_MALFORMED;
}

/* Reads the args map's byte strings under keys 1..3 and the uint under key 3. */
struct args {
    const uint8_t *b[4];
    size_t n[4];
    uint64_t u3;
    bool has_u3;
};

static int read_args(const uint8_t *p, size_t n, struct args *a)
{
    struct corio_cbor_dec d;
    uint64_t pairs;
    memset(a, 0, sizeof *a);
    corio_cbor_dec_init(&d, p, n);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    for (uint64_t i = 0; i < pairs; i++) {
        uint64_t k;
        struct corio_cbor_item it;
        if (corio_cbor_expect_uint(&d, &k) != CORIO_OK || corio_cbor_peek(&d, &it) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (k >= 1 && k <= 3 && it.type == CORIO_CBOR_BYTES) {
            if (corio_cbor_expect_bytes(&d, &a->b[k], &a->n[k]) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
        } else if (k == 3 && it.type == CORIO_CBOR_UINT) {
            if (corio_cbor_expect_uint(&d, &a->u3) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            a->has_u3 = true;
        } else if (corio_cbor_skip(&d) != CORIO_OK) {
            return CORIO_ERR_MALFORMED;
        }
    }
    return CORIO_OK;
}

/* Turns one accepted transaction into a fact, when it is a registry transaction. A
 * transaction the ledger accepted that does not decode here is an error: the gateway
 * would otherwise skip what it cannot read. */
static int tx_fact(const struct corio_crypto_ops *ops, const uint8_t *tx, size_t len,
                   struct fact *f, bool *relevant)
{
    struct corio_cose_sign m;
    *relevant = false;
    if (corio_cose_sign_decode(tx, len, &m) != CORIO_OK || m.detached || !m.payload)
        return CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    uint64_t pairs, type = 0;
    corio_cbor_dec_init(&d, m.payload, m.payload_len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    const uint8_t *args = NULL;
    size_t args_len = 0;
    for (uint64_t i = 0; i < pairs; i++) {
        uint64_t k;
        if (corio_cbor_expect_uint(&d, &k) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (k == 2) {
            if (corio_cbor_expect_uint(&d, &type) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
        } else if (k == 6) {
            size_t start = corio_cbor_dec_offset(&d);
            if (corio_cbor_skip(&d) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            args = m.payload + start;
            args_len = corio_cbor_dec_offset(&d) - start;
        } else if (corio_cbor_skip(&d) != CORIO_OK) {
            return CORIO_ERR_MALFORMED;
        }
    }
    if (type != TX_ROTATE && type != TX_REGISTER && type != TX_TRANSFER && type != TX_REVOKE)
        return CORIO_OK;
    struct args a;
    if (!args || read_args(args, args_len, &a) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    memset(f, 0, sizeof *f);
    f->type = (unsigned)type;
    if (type == TX_REGISTER) {
        struct corio_did did;
        if (id_from(a.b[1], a.n[1], f->org) != CORIO_OK || a.n[2] != 33 ||
            corio_p256_point_parse(a.b[2], 33, f->key) != CORIO_OK || !a.has_u3 ||
            corio_did_from_key(ops, a.b[2], 33, &did) != CORIO_OK ||
            corio_did_id_format(did.id, f->subject, sizeof f->subject) != CORIO_DID_ID_CHARS)
            return CORIO_ERR_MALFORMED;
        f->kind = a.u3;
    } else if (type == TX_TRANSFER) {
        if (id_from(a.b[1], a.n[1], f->subject) != CORIO_OK ||
            id_from(a.b[3], a.n[3], f->org) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    } else if (type == TX_REVOKE) {
        if (id_from(a.b[1], a.n[1], f->subject) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    } else {
        struct corio_rotation_statement st;
        if (!a.b[1] || corio_rotation_link_decode(a.b[1], a.n[1], &st) != CORIO_OK ||
            corio_did_id_format(st.subject, f->subject, sizeof f->subject) != CORIO_DID_ID_CHARS ||
            corio_p256_point_parse(st.new_key, sizeof st.new_key, f->key) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        f->key_number = st.key_number;
    }
    *relevant = true;
    return CORIO_OK;
}

/* Collects the facts of block b's accepted transactions. */
static int block_facts(const struct corio_crypto_ops *ops, struct block *b, struct facts *out,
                       char *why, size_t whylen)
{
    struct corio_cbor_dec d = b->txs;
    for (uint64_t i = 0; i < b->ntxs; i++) {
        uint64_t three, status;
        const uint8_t *tx;
        size_t len;
        const char *reason;
        size_t rlen;
        if (corio_cbor_expect_array(&d, &three) != CORIO_OK || three != 3 ||
            corio_cbor_expect_bytes(&d, &tx, &len) != CORIO_OK ||
            corio_cbor_expect_uint(&d, &status) != CORIO_OK ||
            corio_cbor_expect_text(&d, &reason, &rlen) != CORIO_OK)
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "block %llu: a malformed transaction",
                          (unsigned long long)b->height);
        if (status != 0)
            continue; /* refused by the ledger: it changed nothing */
        struct fact f;
        bool relevant;
        if (tx_fact(ops, tx, len, &f, &relevant) != CORIO_OK)
            return refuse(why, whylen, CORIO_ERR_MALFORMED,
                          "block %llu: an accepted transaction does not decode",
                          (unsigned long long)b->height);
        if (!relevant)
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            struct fact *p = realloc(out->f, cap * sizeof *p);
            if (!p)
                return refuse(why, whylen, CORIO_ERR_NOSPACE, "out of memory");
            out->f = p;
            out->cap = cap;
        }
        out->f[out->n++] = f;
    }
    return CORIO_OK;
}

/* ---- the checks -------------------------------------------------------------------- */

/* An identity (device or gateway) as a registry shows it. */
struct ident {
    bool present, revoked, is_gateway, has_key;
    const char *org;
    const uint8_t *key;
    uint32_t key_number;
};

static struct ident ident_of(const struct corio_reg *r, const char *id)
{
    struct ident x = {0};
    const struct corio_reg_device *d = corio_reg_device(r, id);
    if (d) {
        x = (struct ident){true, d->revoked, false, d->has_key, d->org, d->key, d->key_number};
        return x;
    }
    const struct corio_reg_gateway *g = corio_reg_gateway(r, id);
    if (g)
        x = (struct ident){true, false, true, true, g->org, g->key, g->key_number};
    return x;
}

static const struct fact *last_fact(const struct facts *fs, unsigned type, const char *subject)
{
    for (size_t i = fs->n; i-- > 0;)
        if (fs->f[i].type == type && strcmp(fs->f[i].subject, subject) == 0)
            return &fs->f[i];
    return NULL;
}

/* Checks one identity that appears in the new registry against the facts. */
static int check_ident(const struct corio_reg *old, const struct corio_reg *neu, const char *id,
                       const struct facts *fs, char *why, size_t whylen)
{
    struct ident o = ident_of(old, id), n = ident_of(neu, id);
    if (!n.present)
        return CORIO_OK;
    if (!o.present) {
        const struct fact *reg = last_fact(fs, TX_REGISTER, id);
        if (!reg || (reg->kind == 2) != n.is_gateway)
            return refuse(why, whylen, CORIO_ERR_POLICY,
                          "%s appears without a claim in the relayed blocks", id);
        o = (struct ident){true, false, n.is_gateway, true, reg->org, reg->key, 0};
    }
    if (o.revoked && !n.revoked)
        return refuse(why, whylen, CORIO_ERR_POLICY, "%s was revoked and comes back", id);
    if (strcmp(o.org, n.org) != 0) {
        const struct fact *t = last_fact(fs, TX_TRANSFER, id);
        if (!t || strcmp(t->org, n.org) != 0)
            return refuse(why, whylen, CORIO_ERR_POLICY,
                          "%s changes owner without a transfer in the relayed blocks", id);
    }
    if (n.has_key && (!o.has_key || o.key_number != n.key_number ||
                      memcmp(o.key, n.key, CORIO_P256_PUB_LEN) != 0)) {
        const struct fact *rot = last_fact(fs, TX_ROTATE, id);
        if (!rot || rot->key_number != n.key_number ||
            memcmp(rot->key, n.key, CORIO_P256_PUB_LEN) != 0)
            return refuse(why, whylen, CORIO_ERR_POLICY,
                          "%s changes key without its rotation in the relayed blocks", id);
    }
    return CORIO_OK;
}

/* An organisation's key (its orgkey line) endorses its devices' rotations at the
 * gateway: it changes only with the organisation's own rotation in the blocks. A key for
 * an organisation the gateway held without one must be key 0 (its founding key, which
 * the gateway cannot check offline). */
static int check_orgkeys(const struct corio_reg *old, const struct corio_reg *neu,
                         const struct facts *fs, char *why, size_t whylen)
{
    for (size_t i = 0; i < neu->norgs; i++) {
        const struct corio_reg_org *n = &neu->orgs[i], *o = corio_reg_org(old, n->id);
        if (!n->has_key)
            continue;
        bool same = o && o->has_key && o->key_number == n->key_number &&
                    memcmp(o->key, n->key, CORIO_P256_PUB_LEN) == 0;
        if (same || ((!o || !o->has_key) && n->key_number == 0))
            continue;
        const struct fact *rot = last_fact(fs, TX_ROTATE, n->id);
        if (!rot || rot->key_number != n->key_number ||
            memcmp(rot->key, n->key, CORIO_P256_PUB_LEN) != 0)
            return refuse(why, whylen, CORIO_ERR_POLICY,
                          "organisation %s changes key without its rotation in the relayed blocks",
                          n->id);
    }
    return CORIO_OK;
}

static int check(const struct corio_reg *old, const struct corio_reg *neu, const struct facts *fs,
                 char *why, size_t whylen)
{
    int rc = check_orgkeys(old, neu, fs, why, whylen);
    if (rc != CORIO_OK)
        return rc;
    for (size_t i = 0; i < neu->ndevices; i++)
        if ((rc = check_ident(old, neu, neu->devices[i].id, fs, why, whylen)) != CORIO_OK)
            return rc;
    for (size_t i = 0; i < neu->ngateways; i++)
        if ((rc = check_ident(old, neu, neu->gateways[i].id, fs, why, whylen)) != CORIO_OK)
            return rc;
    /* Every revocation the blocks carry is in the update: the identity is revoked or
     * gone (the export leaves revoked gateways out). Devices revoked before are too. */
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->f[i].type != TX_REVOKE)
            continue;
        struct ident n = ident_of(neu, fs->f[i].subject);
        if (n.present && (n.is_gateway || !n.revoked))
            return refuse(why, whylen, CORIO_ERR_POLICY,
                          "%s is revoked in the relayed blocks but not in the update",
                          fs->f[i].subject);
    }
    for (size_t i = 0; i < old->ndevices; i++) {
        struct ident n = ident_of(neu, old->devices[i].id);
        if (old->devices[i].revoked && n.present && !n.revoked)
            return refuse(why, whylen, CORIO_ERR_POLICY, "%s was revoked and comes back",
                          old->devices[i].id);
    }
    return CORIO_OK;
}

int corio_relay_verify(const struct corio_crypto_ops *ops, const uint8_t (*keys)[33], size_t nkeys,
                       const char *cur, size_t cur_len, uint64_t cur_height, const uint8_t *anchor,
                       const struct corio_down_item *it, struct corio_relay_result *res, char *why,
                       size_t whylen)
{
    memset(res, 0, sizeof *res);
    if (!ops || !it || it->kind != CORIO_DOWN_REGISTRY)
        return CORIO_ERR_INVAL;
    if (it->height <= cur_height)
        return refuse(why, whylen, CORIO_ERR_STATE, "height %llu is not above the %llu held",
                      (unsigned long long)it->height, (unsigned long long)cur_height);
    if (it->base != 0 && it->base != cur_height)
        return refuse(why, whylen, CORIO_ERR_STATE, "an update from %llu; the registry is at %llu",
                      (unsigned long long)it->base, (unsigned long long)cur_height);
    int rc = corio_relay_sth_verify(ops, it->sth.p, it->sth.n, keys, nkeys, &res->sth);
    if (rc != CORIO_OK)
        return refuse(why, whylen, rc,
                      rc == CORIO_ERR_POLICY ? "the tree head's signer is not a trusted ledger node"
                                             : "the tree head does not verify");
    /* The chain: first .. top, hashing up to the signed head. */
    uint64_t first = it->base ? it->base + 1 : it->height;
    if (it->nblocks == 0 || res->sth.height != first + it->nblocks - 1 ||
        res->sth.height < it->height)
        return refuse(why, whylen, CORIO_ERR_POLICY,
                      "blocks %llu.. (%zu) do not end at the tree head's height %llu",
                      (unsigned long long)first, it->nblocks, (unsigned long long)res->sth.height);
    struct facts fs = {0};
    uint8_t prev_hash[32];
    bool have_prev = false;
    for (size_t i = 0; i < it->nblocks; i++) {
        struct block b;
        if (block_open(ops, it->blocks[i].p, it->blocks[i].n, &b) != CORIO_OK) {
            free(fs.f);
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "block %zu does not decode", i);
        }
        bool linked = have_prev ? memcmp(b.prev, prev_hash, 32) == 0
                                : !(it->base && anchor) || memcmp(b.prev, anchor, 32) == 0;
        if (b.height != first + i || !linked) {
            free(fs.f);
            return refuse(why, whylen, CORIO_ERR_POLICY,
                          b.height != first + i
                              ? "block %llu is out of order"
                              : "block %llu does not follow the last block applied",
                          (unsigned long long)b.height);
        }
        memcpy(prev_hash, b.hash, 32);
        have_prev = true;
        if (b.height == it->height)
            memcpy(res->anchor, b.hash, 32);
        if (it->base && b.height <= it->height &&
            (rc = block_facts(ops, &b, &fs, why, whylen)) != CORIO_OK) {
            free(fs.f);
            return rc;
        }
    }
    if (memcmp(prev_hash, res->sth.block_hash, 32) != 0) {
        free(fs.f);
        return refuse(why, whylen, CORIO_ERR_POLICY, "the blocks do not hash to the tree head");
    }
    res->transactions = fs.n;
    /* The new registry. */
    struct corio_reglines *lines;
    uint64_t ignored;
    rc = corio_reglines_parse(it->base ? cur : NULL, it->base ? cur_len : 0, &lines, &ignored, why,
                              whylen);
    if (rc == CORIO_OK)
        rc = corio_reglines_apply(lines, (const char *)it->update.p, it->update.n, why, whylen);
    if (rc == CORIO_OK && !(res->text = corio_reglines_format(lines, it->height, &res->len)))
        rc = refuse(why, whylen, CORIO_ERR_NOSPACE, "out of memory");
    corio_reglines_free(lines);
    if (rc != CORIO_OK) {
        free(fs.f);
        return rc;
    }
    struct corio_reg *neu = NULL, *old = NULL;
    char err[256];
    rc = corio_reg_parse("relayed registry", res->text, res->len, &neu, err, sizeof err);
    if (rc != CORIO_OK) {
        rc = refuse(why, whylen, CORIO_ERR_MALFORMED, "%s", err);
    } else if (it->base) {
        rc = corio_reg_parse("registry", cur, cur_len, &old, err, sizeof err);
        if (rc != CORIO_OK)
            rc = refuse(why, whylen, CORIO_ERR_MALFORMED, "the registry held: %s", err);
        else
            rc = check(old, neu, &fs, why, whylen);
    }
    corio_reg_free(neu);
    corio_reg_free(old);
    free(fs.f);
    if (rc != CORIO_OK) {
        free(res->text);
        res->text = NULL;
        return rc;
    }
    res->height = it->height;
    return CORIO_OK;
}
