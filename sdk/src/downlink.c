/*
 * downlink.c - the codecs of include/corio/downlink.h: commands, results, desired and
 * reported configuration, all CBOR maps with short text keys.
 *
 * Encoders write the keys in deterministic order by hand (RFC 8949 §4.2.1: shorter
 * encoded keys first, then bytewise), so no sort pass is needed:
 *   "v" < "ep" < "st" < "cfg" < "cid" < "err" < "exp" < "res" < "seq" < "ver" < "args" < "name"
 * Decoders share one walk over the map: each known key is read by the caller's table,
 * at most once; unknown keys are skipped whole (checked well-formed on the way).
 */
#include <string.h>

#include "corio/cbor.h"
#include "corio/downlink.h"

/* ---- the shared map walk ---- */

enum key_id { K_V, K_EP, K_ST, K_CFG, K_CID, K_ERR, K_EXP, K_RES, K_SEQ, K_VER, K_ARGS, K_NAME };

static const char *const key_names[] = {"v",   "ep",  "st",  "cfg", "cid",  "err",
                                        "exp", "res", "seq", "ver", "args", "name"};
#define NKEYS (sizeof key_names / sizeof key_names[0])

/* A value as the walk found it: an unsigned or signed integer, a byte string, a text
 * string, or a whole item (its bytes). */
struct val {
    uint64_t u;
    int64_t i;
    const uint8_t *p;
    size_t n;
};

/* What each key must hold in the payload at hand; each decoder has a constant table of
 * these, one byte per key. */
enum want { W_NONE, W_UINT, W_INT, W_BYTES, W_TEXT, W_ITEM, W_MAP };

static int lookup(const char *s, size_t n)
{
    for (size_t k = 0; k < NKEYS; k++)
        if (strlen(key_names[k]) == n && memcmp(key_names[k], s, n) == 0)
            return (int)k;
    return -1;
}

/* Reads one whole item of the input base and returns its bytes. */
static int take_item(const uint8_t *base, struct corio_cbor_dec *d, struct val *v)
{
    size_t start = corio_cbor_dec_offset(d);
    int rc = corio_cbor_skip(d);
    if (rc != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    v->p = base + start;
    v->n = corio_cbor_dec_offset(d) - start;
    return CORIO_OK;
}

/*
 * Walks the map in buf: for each key the table wants (want[k] != W_NONE), reads the
 * value into vals[k] and sets bit k of *seen. Returns CORIO_OK, CORIO_ERR_MALFORMED or
 * CORIO_ERR_VERSION ("v" other than 1; "v" is always understood).
 */
static int walk(const uint8_t *buf, size_t len, const uint8_t want[NKEYS], struct val vals[NKEYS],
                uint32_t *seen)
{
    struct corio_cbor_dec d;
    uint64_t pairs;
    *seen = 0;
    corio_cbor_dec_init(&d, buf, len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE ||
        pairs > CORIO_DL_MAX_PAIRS)
        return CORIO_ERR_MALFORMED;
    for (unsigned i = (unsigned)pairs; i > 0; i--) {
        const char *ks;
        size_t kn;
        struct corio_cbor_item it;
        if (corio_cbor_peek(&d, &it) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (it.type != CORIO_CBOR_TEXT) {
            /* Only text keys are ours; others are skipped as unknown. */
            if (corio_cbor_skip(&d) != CORIO_OK || corio_cbor_skip(&d) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            continue;
        }
        if (corio_cbor_expect_text(&d, &ks, &kn) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        int k = lookup(ks, kn);
        enum want w = k < 0 ? W_NONE : k == K_V ? W_UINT : (enum want)want[k];
        if (w == W_NONE) {
            if (corio_cbor_skip(&d) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            continue;
        }
        if (*seen & (1u << k))
            return CORIO_ERR_MALFORMED; /* a key twice */
        *seen |= 1u << k;
        struct val *v = &vals[k];
        /* The value's head, for the kinds read from it; a value that does not decode
         * is malformed whatever the key wants. */
        if (corio_cbor_peek(&d, &it) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        int rc = CORIO_OK;
        switch (w) {
        /* Integers as corio_cbor_expect_uint() and _int() read them, from the head
         * already seen: a device's image then needs neither. */
        case W_UINT:
            if (it.type != CORIO_CBOR_UINT)
                return CORIO_ERR_MALFORMED;
            v->u = it.u;
            rc = corio_cbor_skip(&d);
            break;
        case W_INT:
            if ((it.type != CORIO_CBOR_UINT && it.type != CORIO_CBOR_NEGINT) ||
                it.u > (uint64_t)INT64_MAX)
                return CORIO_ERR_MALFORMED;
            v->i = it.type == CORIO_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
            rc = corio_cbor_skip(&d);
            break;
        case W_BYTES:
            rc = corio_cbor_expect_bytes(&d, &v->p, &v->n);
            break;
        case W_TEXT: {
            const char *t = NULL;
            rc = corio_cbor_expect_text(&d, &t, &v->n);
            v->p = (const uint8_t *)t;
            break;
        }
        case W_MAP:
            if (it.type != CORIO_CBOR_MAP)
                return CORIO_ERR_MALFORMED;
            rc = take_item(buf, &d, v);
            break;
        case W_ITEM:
            rc = take_item(buf, &d, v);
            break;
        case W_NONE:
            break;
        }
        if (rc != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (k == K_V && v->u != CORIO_DL_VERSION)
            return CORIO_ERR_VERSION;
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}

#define HAS(seen, k) (((seen) >> (k)) & 1u)

static bool cid_ok(const uint8_t *cid, size_t n)
{
    return cid && n >= 1 && n <= CORIO_CMD_CID_MAX;
}

/* An "err" as decoded (any CBOR integer) fits a corio_err; encoders take an int32_t,
 * which needs the sign check only. */
static bool err_ok(int64_t e)
{
    return e <= 0 && e >= INT32_MIN;
}

/* True when p[0..n) is exactly one well-formed item. */
static bool item_ok(const uint8_t *p, size_t n)
{
    return p && n && corio_cbor_wellformed(p, n) == CORIO_OK;
}

/* True when p[0..n) is exactly one well-formed map. */
static bool map_ok(const uint8_t *p, size_t n)
{
    return item_ok(p, n) && (p[0] >> 5) == 5;
}

static int finish(struct corio_cbor_enc *e)
{
    int rc = corio_cbor_enc_finish(e);
    return rc < 0 ? rc : (int)corio_cbor_enc_len(e);
}

/* ---- commands ---- */

bool corio_cmd_name_ok(const char *s, size_t n)
{
    if (!s || n < 1 || n > CORIO_CMD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        /* Letters of either case fold onto 'a'..'z' with bit 5 set; no other byte does. */
        if (!((c | 0x20u) - 'a' < 26u || c - '0' < 10u || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int corio_cmd_encode(const struct corio_cmd *c, uint8_t *buf, size_t cap)
{
    if (!c || !cid_ok(c->cid, c->cid_len) || c->seq == 0 ||
        !corio_cmd_name_ok(c->name, c->name_len) || (c->args_len && !item_ok(c->args, c->args_len)))
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, c->args_len ? 5u : 4u);
    corio_cbor_put_textz(&e, "cid");
    corio_cbor_put_bytes(&e, c->cid, c->cid_len);
    corio_cbor_put_textz(&e, "exp");
    corio_cbor_put_uint(&e, c->exp_ms);
    corio_cbor_put_textz(&e, "seq");
    corio_cbor_put_uint(&e, c->seq);
    if (c->args_len) {
        corio_cbor_put_textz(&e, "args");
        corio_cbor_put_raw(&e, c->args, c->args_len);
    }
    corio_cbor_put_textz(&e, "name");
    corio_cbor_put_text(&e, c->name, c->name_len);
    return finish(&e);
}

int corio_cmd_decode(const uint8_t *buf, size_t len, struct corio_cmd *c)
{
    if ((!buf && len) || !c)
        return CORIO_ERR_INVAL;
    static const uint8_t want[NKEYS] = {[K_CID] = W_BYTES,
                                        [K_EXP] = W_UINT,
                                        [K_SEQ] = W_UINT,
                                        [K_ARGS] = W_ITEM,
                                        [K_NAME] = W_TEXT};
    struct val v[NKEYS];
    uint32_t seen;
    memset(v, 0, sizeof v);
    int rc = walk(buf, len, want, v, &seen);
    if (rc != CORIO_OK)
        return rc;
    if (!HAS(seen, K_CID) || !HAS(seen, K_EXP) || !HAS(seen, K_SEQ) || !HAS(seen, K_NAME) ||
        !cid_ok(v[K_CID].p, v[K_CID].n) || v[K_SEQ].u == 0 ||
        !corio_cmd_name_ok((const char *)v[K_NAME].p, v[K_NAME].n))
        return CORIO_ERR_MALFORMED;
    memset(c, 0, sizeof *c);
    c->cid = v[K_CID].p;
    c->cid_len = v[K_CID].n;
    c->exp_ms = v[K_EXP].u;
    c->seq = v[K_SEQ].u;
    c->name = (const char *)v[K_NAME].p;
    c->name_len = v[K_NAME].n;
    if (HAS(seen, K_ARGS)) {
        c->args = v[K_ARGS].p;
        c->args_len = v[K_ARGS].n;
    }
    return CORIO_OK;
}

/* ---- results ---- */

int corio_cmd_result_encode(const struct corio_cmd_result *r, uint8_t *buf, size_t cap)
{
    if (!r || !cid_ok(r->cid, r->cid_len) || r->status > CORIO_CMD_STATUS_MAX || r->err > 0 ||
        (r->res_len && !item_ok(r->res, r->res_len)))
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    unsigned pairs = 4u + (r->has_id ? 2u : 0u) + (r->res_len ? 1u : 0u);
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, pairs);
    corio_cbor_put_textz(&e, "v");
    corio_cbor_put_uint(&e, CORIO_DL_VERSION);
    if (r->has_id) {
        corio_cbor_put_textz(&e, "ep");
        corio_cbor_put_uint(&e, r->epoch);
    }
    corio_cbor_put_textz(&e, "st");
    corio_cbor_put_uint(&e, r->status);
    corio_cbor_put_textz(&e, "cid");
    corio_cbor_put_bytes(&e, r->cid, r->cid_len);
    corio_cbor_put_textz(&e, "err");
    corio_cbor_put_int(&e, r->err);
    if (r->res_len) {
        corio_cbor_put_textz(&e, "res");
        corio_cbor_put_raw(&e, r->res, r->res_len);
    }
    if (r->has_id) {
        corio_cbor_put_textz(&e, "seq");
        corio_cbor_put_uint(&e, r->seq);
    }
    return finish(&e);
}

/* "ep" and "seq" come together or not at all; seq is at least 1 (as in SenML). */
static int identity(uint32_t seen, const struct val *v, bool *has, uint64_t *epoch, uint64_t *seq)
{
    if (HAS(seen, K_EP) != HAS(seen, K_SEQ))
        return CORIO_ERR_MALFORMED;
    *has = HAS(seen, K_EP);
    *epoch = *has ? v[K_EP].u : 0;
    *seq = *has ? v[K_SEQ].u : 0;
    return *has && *seq == 0 ? CORIO_ERR_MALFORMED : CORIO_OK;
}

int corio_cmd_result_decode(const uint8_t *buf, size_t len, struct corio_cmd_result *r)
{
    if ((!buf && len) || !r)
        return CORIO_ERR_INVAL;
    static const uint8_t want[NKEYS] = {[K_EP] = W_UINT, [K_ST] = W_UINT,  [K_CID] = W_BYTES,
                                        [K_ERR] = W_INT, [K_RES] = W_ITEM, [K_SEQ] = W_UINT};
    struct val v[NKEYS];
    uint32_t seen;
    memset(v, 0, sizeof v);
    int rc = walk(buf, len, want, v, &seen);
    if (rc != CORIO_OK)
        return rc;
    if (!HAS(seen, K_V) || !HAS(seen, K_ST) || !HAS(seen, K_CID) ||
        !cid_ok(v[K_CID].p, v[K_CID].n) || v[K_ST].u > CORIO_CMD_STATUS_MAX ||
        (HAS(seen, K_ERR) && !err_ok(v[K_ERR].i)))
        return CORIO_ERR_MALFORMED;
    memset(r, 0, sizeof *r);
    if (identity(seen, v, &r->has_id, &r->epoch, &r->seq) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    r->cid = v[K_CID].p;
    r->cid_len = v[K_CID].n;
    r->status = (uint8_t)v[K_ST].u;
    r->err = (int32_t)v[K_ERR].i;
    if (HAS(seen, K_RES)) {
        r->res = v[K_RES].p;
        r->res_len = v[K_RES].n;
    }
    return CORIO_OK;
}

/* ---- desired configuration ---- */

int corio_cfg_desired_encode(const struct corio_cfg_desired *c, uint8_t *buf, size_t cap)
{
    if (!c || c->version == 0 || !map_ok(c->cfg, c->cfg_len))
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 3);
    corio_cbor_put_textz(&e, "v");
    corio_cbor_put_uint(&e, CORIO_DL_VERSION);
    corio_cbor_put_textz(&e, "cfg");
    corio_cbor_put_raw(&e, c->cfg, c->cfg_len);
    corio_cbor_put_textz(&e, "ver");
    corio_cbor_put_uint(&e, c->version);
    return finish(&e);
}

int corio_cfg_desired_decode(const uint8_t *buf, size_t len, struct corio_cfg_desired *c)
{
    if ((!buf && len) || !c)
        return CORIO_ERR_INVAL;
    static const uint8_t want[NKEYS] = {[K_CFG] = W_MAP, [K_VER] = W_UINT};
    struct val v[NKEYS];
    uint32_t seen;
    memset(v, 0, sizeof v);
    int rc = walk(buf, len, want, v, &seen);
    if (rc != CORIO_OK)
        return rc;
    if (!HAS(seen, K_V) || !HAS(seen, K_CFG) || !HAS(seen, K_VER) || v[K_VER].u == 0)
        return CORIO_ERR_MALFORMED;
    c->version = v[K_VER].u;
    c->cfg = v[K_CFG].p;
    c->cfg_len = v[K_CFG].n;
    return CORIO_OK;
}

/* ---- reported configuration ---- */

int corio_cfg_reported_encode(const struct corio_cfg_reported *c, uint8_t *buf, size_t cap)
{
    if (!c || c->status > CORIO_CFG_REFUSED || c->err > 0 ||
        (c->cfg_len && !map_ok(c->cfg, c->cfg_len)))
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    uint64_t pairs = 4u + (c->has_id ? 2u : 0u) + (c->cfg_len ? 1u : 0u);
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, pairs);
    corio_cbor_put_textz(&e, "v");
    corio_cbor_put_uint(&e, CORIO_DL_VERSION);
    if (c->has_id) {
        corio_cbor_put_textz(&e, "ep");
        corio_cbor_put_uint(&e, c->epoch);
    }
    corio_cbor_put_textz(&e, "st");
    corio_cbor_put_uint(&e, c->status);
    if (c->cfg_len) {
        corio_cbor_put_textz(&e, "cfg");
        corio_cbor_put_raw(&e, c->cfg, c->cfg_len);
    }
    corio_cbor_put_textz(&e, "err");
    corio_cbor_put_int(&e, c->err);
    if (c->has_id) {
        corio_cbor_put_textz(&e, "seq");
        corio_cbor_put_uint(&e, c->seq);
    }
    corio_cbor_put_textz(&e, "ver");
    corio_cbor_put_uint(&e, c->version);
    return finish(&e);
}

int corio_cfg_reported_decode(const uint8_t *buf, size_t len, struct corio_cfg_reported *c)
{
    if ((!buf && len) || !c)
        return CORIO_ERR_INVAL;
    static const uint8_t want[NKEYS] = {[K_EP] = W_UINT, [K_ST] = W_UINT,  [K_CFG] = W_MAP,
                                        [K_ERR] = W_INT, [K_SEQ] = W_UINT, [K_VER] = W_UINT};
    struct val v[NKEYS];
    uint32_t seen;
    memset(v, 0, sizeof v);
    int rc = walk(buf, len, want, v, &seen);
    if (rc != CORIO_OK)
        return rc;
    if (!HAS(seen, K_V) || !HAS(seen, K_ST) || !HAS(seen, K_VER) || v[K_ST].u > CORIO_CFG_REFUSED ||
        (HAS(seen, K_ERR) && !err_ok(v[K_ERR].i)))
        return CORIO_ERR_MALFORMED;
    memset(c, 0, sizeof *c);
    if (identity(seen, v, &c->has_id, &c->epoch, &c->seq) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    c->version = v[K_VER].u;
    c->status = (uint8_t)v[K_ST].u;
    c->err = (int32_t)v[K_ERR].i;
    if (HAS(seen, K_CFG)) {
        c->cfg = v[K_CFG].p;
        c->cfg_len = v[K_CFG].n;
    }
    return CORIO_OK;
}
