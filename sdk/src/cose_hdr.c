/*
 * cose_hdr.c - the parts of COSE (RFC 9052) that COSE_Sign1 and COSE_Sign share:
 * strict header parsing (cose_int.h, rules in include/corio/cose.h), the signer's
 * protected header, and the Sig_structure hash computed as a stream, so that neither
 * a device nor a server needs a buffer the size of the payload twice.
 */
#include "cose_int.h"

#include <string.h>

/* One header label: an int or a text string. */
struct label {
    bool text;
    bool prot; /* in the protected bucket */
    int64_t i;
    const char *t;
    size_t tlen;
};

struct hdr_ctx {
    struct label labels[CORIO_COSE_MAX_HEADERS];
    size_t n;
    bool has_alg;
    bool alg_es256;
    const uint8_t *kid;
    size_t kid_len;
    bool kid_prot;
    const uint8_t *crit; /* the crit array item, inside the protected bytes */
    size_t crit_len;
    size_t prot_labels; /* labels in the protected bucket */
};

static int read_label(struct corio_cbor_dec *d, struct label *l)
{
    struct corio_cbor_item it;
    if (corio_cbor_peek(d, &it) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    memset(l, 0, sizeof *l);
    if (it.type == CORIO_CBOR_UINT || it.type == CORIO_CBOR_NEGINT) {
        /* Labels beyond int64 are well-formed CBOR but no COSE label: refuse them. */
        return corio_cbor_expect_int(d, &l->i) == CORIO_OK ? CORIO_OK : CORIO_ERR_MALFORMED;
    }
    if (it.type == CORIO_CBOR_TEXT) {
        l->text = true;
        return corio_cbor_expect_text(d, &l->t, &l->tlen) == CORIO_OK ? CORIO_OK
                                                                      : CORIO_ERR_MALFORMED;
    }
    return CORIO_ERR_MALFORMED;
}

static bool label_same(const struct label *a, const struct label *b)
{
    if (a->text != b->text)
        return false;
    if (!a->text)
        return a->i == b->i;
    return a->tlen == b->tlen && (a->tlen == 0 || memcmp(a->t, b->t, a->tlen) == 0);
}

static bool label_is(const struct label *l, int64_t v)
{
    return !l->text && l->i == v;
}

static int read_alg(struct corio_cbor_dec *d, struct hdr_ctx *h)
{
    struct corio_cbor_item it;
    if (corio_cbor_peek(d, &it) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    h->has_alg = true;
    if (it.type == CORIO_CBOR_TEXT) {
        /* A text algorithm name is legal COSE, just not ES256. */
        const char *s;
        size_t n;
        h->alg_es256 = false;
        return corio_cbor_expect_text(d, &s, &n) == CORIO_OK ? CORIO_OK : CORIO_ERR_MALFORMED;
    }
    int64_t alg;
    if (corio_cbor_expect_int(d, &alg) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    h->alg_es256 = alg == CORIO_COSE_ALG_ES256;
    return CORIO_OK;
}

/* crit: a non-empty array of labels; checked against the whole pair at the end. */
static int read_crit(struct corio_cbor_dec *d, struct hdr_ctx *h, const uint8_t *base)
{
    size_t start = corio_cbor_dec_offset(d);
    uint64_t n;
    int rc = corio_cbor_expect_array(d, &n);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_UNSUPPORTED ? rc : CORIO_ERR_MALFORMED;
    if (n == 0 || n == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    for (uint64_t i = 0; i < n; i++) {
        struct label l;
        if (read_label(d, &l) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    }
    h->crit = base + start;
    h->crit_len = corio_cbor_dec_offset(d) - start;
    return CORIO_OK;
}

/* One bucket: a definite map of label => value. base is the start of d's input. */
static int bucket(struct corio_cbor_dec *d, bool prot, const uint8_t *base, struct hdr_ctx *h)
{
    uint64_t pairs;
    int rc = corio_cbor_expect_map(d, &pairs);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_UNSUPPORTED ? rc : CORIO_ERR_MALFORMED;
    if (pairs == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    for (uint64_t p = 0; p < pairs; p++) {
        struct label l;
        if (read_label(d, &l) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        l.prot = prot;
        /* RFC 9052 §3: a label appears once, in one bucket. */
        for (size_t j = 0; j < h->n; j++)
            if (label_same(&h->labels[j], &l))
                return CORIO_ERR_MALFORMED;
        if (h->n == CORIO_COSE_MAX_HEADERS)
            return CORIO_ERR_UNSUPPORTED;
        h->labels[h->n++] = l;

        if (label_is(&l, CORIO_COSE_HDR_ALG)) {
            rc = read_alg(d, h);
        } else if (label_is(&l, CORIO_COSE_HDR_CRIT)) {
            /* crit is only meaningful where it is integrity-protected. */
            rc = prot ? read_crit(d, h, base) : CORIO_ERR_MALFORMED;
        } else if (label_is(&l, CORIO_COSE_HDR_KID)) {
            rc = corio_cbor_expect_bytes(d, &h->kid, &h->kid_len) == CORIO_OK ? CORIO_OK
                                                                              : CORIO_ERR_MALFORMED;
            h->kid_prot = prot;
        } else {
            rc = corio_cbor_skip(d);
        }
        if (rc != CORIO_OK)
            return rc;
    }
    return CORIO_OK;
}

/* Every label crit lists must be in the protected bucket and be one we act on. */
static int check_crit(const struct hdr_ctx *h)
{
    struct corio_cbor_dec d;
    uint64_t n;
    corio_cbor_dec_init(&d, h->crit, h->crit_len);
    if (corio_cbor_expect_array(&d, &n) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    for (uint64_t i = 0; i < n; i++) {
        struct label l;
        if (read_label(&d, &l) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        bool present = false;
        for (size_t j = 0; j < h->n; j++)
            if (h->labels[j].prot && label_same(&h->labels[j], &l))
                present = true;
        if (!present)
            return CORIO_ERR_MALFORMED;
        if (!label_is(&l, CORIO_COSE_HDR_ALG) && !label_is(&l, CORIO_COSE_HDR_KID))
            return CORIO_ERR_UNSUPPORTED;
    }
    return CORIO_OK;
}

int corio__cose_headers(const uint8_t *prot, size_t prot_len, struct corio_cbor_dec *d,
                        enum corio__cose_role role, struct corio__cose_hdrs *out)
{
    struct hdr_ctx h;
    memset(&h, 0, sizeof h);
    int rc;
    if (prot_len > 0) {
        /* The protected byte string holds exactly one map and nothing else. */
        struct corio_cbor_dec pd;
        corio_cbor_dec_init(&pd, prot, prot_len);
        rc = bucket(&pd, true, prot, &h);
        if (rc != CORIO_OK)
            return rc;
        if (corio_cbor_dec_finish(&pd) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    }
    h.prot_labels = h.n;
    rc = bucket(d, false, NULL, &h);
    if (rc != CORIO_OK)
        return rc;
    if (h.crit && (rc = check_crit(&h)) != CORIO_OK)
        return rc;
    if (role == CORIO__COSE_BODY) {
        if (h.has_alg)
            return CORIO_ERR_POLICY;
    } else {
        if (!h.has_alg)
            return CORIO_ERR_MALFORMED;
        if (!h.alg_es256)
            return CORIO_ERR_UNSUPPORTED;
    }
    out->kid = h.kid;
    out->kid_len = h.kid_len;
    out->kid_protected = h.kid_prot;
    out->protected_empty = h.prot_labels == 0;
    return CORIO_OK;
}

int corio__cose_put_protected(struct corio_cbor_enc *e, const uint8_t *kid, size_t kid_len,
                              size_t *content_start, size_t *content_len)
{
    struct corio_cbor_wrap w;
    corio_cbor_put_bstr_begin(e, &w);
    size_t m = corio_cbor_enc_len(e);
    /* Labels 1 and 4 in this order: the map is already in deterministic order. */
    corio_cbor_put_map(e, kid_len ? 2 : 1);
    corio_cbor_put_uint(e, CORIO_COSE_HDR_ALG);
    corio_cbor_put_int(e, CORIO_COSE_ALG_ES256);
    if (kid_len) {
        corio_cbor_put_uint(e, CORIO_COSE_HDR_KID);
        corio_cbor_put_bytes(e, kid, kid_len);
    }
    size_t n = corio_cbor_enc_len(e) - m;
    int rc = corio_cbor_put_bstr_end(e, &w);
    *content_len = n;
    *content_start = corio_cbor_enc_len(e) - n;
    return rc;
}

/* Writes the head of a byte string of length n into h; returns its size. The argument
 * is 1, 2, 4 or 8 bytes wide, as wide as n needs (additional information 24..27); a
 * size_t is the widest n can be, which keeps 64-bit arithmetic off 32-bit devices. */
static size_t bstr_head(uint8_t h[9], size_t n)
{
    if (n < 24) {
        h[0] = (uint8_t)(0x40u | n);
        return 1;
    }
    size_t w = 1;
    unsigned ai = 24;
    while (w < sizeof n && (n >> (8u * w)) != 0) {
        w <<= 1;
        ai++;
    }
    h[0] = (uint8_t)(0x40u | ai);
    for (size_t i = 0; i < w; i++)
        h[1 + i] = (uint8_t)(n >> (8u * (w - 1 - i)));
    return 1 + w;
}

static int feed_bstr(struct corio_sha256 *h, const uint8_t *p, size_t n)
{
    uint8_t head[9];
    int rc = corio_sha256_update(h, head, bstr_head(head, n));
    if (rc == CORIO_OK && n)
        rc = corio_sha256_update(h, p, n);
    return rc;
}

int corio__cose_tbs_hash(const struct corio_crypto_ops *ops, bool sign1, const uint8_t *body_prot,
                         size_t body_len, const uint8_t *sign_prot, size_t sign_len,
                         const uint8_t *aad, size_t aad_len, const uint8_t *payload,
                         size_t payload_len, uint8_t hash[CORIO_SHA256_LEN])
{
    /* 0x84 "Signature1" or 0x85 "Signature": an array head and a short text. */
    static const uint8_t ctx1[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
    static const uint8_t ctxn[] = {0x85, 0x69, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e'};
    struct corio_sha256 h;
    memset(&h, 0, sizeof h);
    int rc = corio_sha256_start(&h, ops);
    if (rc != CORIO_OK)
        return rc;
    rc = sign1 ? corio_sha256_update(&h, ctx1, sizeof ctx1)
               : corio_sha256_update(&h, ctxn, sizeof ctxn);
    if (rc == CORIO_OK)
        rc = feed_bstr(&h, body_prot, body_len);
    if (rc == CORIO_OK && !sign1)
        rc = feed_bstr(&h, sign_prot, sign_len);
    if (rc == CORIO_OK)
        rc = feed_bstr(&h, aad, aad_len);
    if (rc == CORIO_OK)
        rc = feed_bstr(&h, payload, payload_len);
    if (rc != CORIO_OK) {
        corio_sha256_abort(&h); /* update already aborted; harmless on an idle context */
        return rc;
    }
    return corio_sha256_finish(&h, hash);
}
