/*
 * cose_sign.c - COSE_Sign with ES256 signers (include/corio/cose.h): a message signed
 * by one key, then extended signer by signer (a rotation statement is signed by the old
 * key on the device and by the organisation elsewhere), strict decoding, and
 * verification of one signature at a time.
 */
#include <string.h>

#include "corio/cose.h"
#include "cose_int.h"

#define SIGN_FLAGS (CORIO_COSE_DETACHED | CORIO_COSE_UNTAGGED)

/* One COSE_Signature: [protected, unprotected, signature]. */
static int parse_signature(struct corio_cbor_dec *d, struct corio_cose_signature *s)
{
    uint64_t n;
    int rc = corio_cbor_expect_array(d, &n);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_UNSUPPORTED ? rc : CORIO_ERR_MALFORMED;
    if (n != 3)
        return CORIO_ERR_MALFORMED;
    memset(s, 0, sizeof *s);
    if (corio_cbor_expect_bytes(d, &s->protected_hdr, &s->protected_len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    struct corio__cose_hdrs h;
    rc = corio__cose_headers(s->protected_hdr, s->protected_len, d, CORIO__COSE_SIGNER, &h);
    if (rc != CORIO_OK)
        return rc;
    size_t sig_len;
    if (corio_cbor_expect_bytes(d, &s->signature, &sig_len) != CORIO_OK ||
        sig_len != CORIO_P256_SIG_LEN)
        return CORIO_ERR_MALFORMED;
    if (h.protected_empty)
        s->protected_len = 0;
    s->kid = h.kid;
    s->kid_len = h.kid_len;
    s->kid_protected = h.kid_protected;
    return CORIO_OK;
}

int corio_cose_sign_decode(const uint8_t *msg, size_t len, struct corio_cose_sign *m)
{
    if ((!msg && len) || !m)
        return CORIO_ERR_INVAL;
    struct corio_cose_sign r;
    struct corio_cbor_dec d;
    struct corio_cbor_item it;
    memset(&r, 0, sizeof r);
    corio_cbor_dec_init(&d, msg, len);
    if (corio_cbor_peek(&d, &it) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (it.type == CORIO_CBOR_TAG) {
        uint64_t tag;
        if (it.u != CORIO_CBOR_TAG_COSE_SIGN || corio_cbor_expect_tag(&d, &tag) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        r.tagged = true;
    }
    uint64_t n;
    if (corio_cbor_expect_array(&d, &n) != CORIO_OK || n != 4)
        return CORIO_ERR_MALFORMED;
    size_t body_start = corio_cbor_dec_offset(&d);
    if (corio_cbor_expect_bytes(&d, &r.protected_hdr, &r.protected_len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    struct corio__cose_hdrs h;
    int rc = corio__cose_headers(r.protected_hdr, r.protected_len, &d, CORIO__COSE_BODY, &h);
    if (rc != CORIO_OK)
        return rc;
    if (h.protected_empty)
        r.protected_len = 0;
    if (corio_cbor_expect_null(&d) == CORIO_OK)
        r.detached = true;
    else if (corio_cbor_expect_bytes(&d, &r.payload, &r.payload_len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    size_t body_end = corio_cbor_dec_offset(&d);
    if (corio_cbor_expect_array(&d, &n) != CORIO_OK || n == 0 || n == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    if (n > CORIO_COSE_MAX_SIGNATURES)
        return CORIO_ERR_UNSUPPORTED;
    size_t sigs_start = corio_cbor_dec_offset(&d);
    for (uint64_t i = 0; i < n; i++) {
        struct corio_cose_signature s;
        if ((rc = parse_signature(&d, &s)) != CORIO_OK)
            return rc;
    }
    size_t sigs_end = corio_cbor_dec_offset(&d);
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    r.count = (size_t)n;
    r.body = msg + body_start;
    r.body_len = body_end - body_start;
    r.sigs = msg + sigs_start;
    r.sigs_len = sigs_end - sigs_start;
    *m = r;
    return CORIO_OK;
}

int corio_cose_sign_signature(const struct corio_cose_sign *m, size_t i,
                              struct corio_cose_signature *s)
{
    if (!m || !s || !m->sigs)
        return CORIO_ERR_INVAL;
    if (i >= m->count)
        return CORIO_ERR_NOTFOUND;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, m->sigs, m->sigs_len);
    for (size_t k = 0; k < i; k++)
        if (corio_cbor_skip(&d) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    return parse_signature(&d, s);
}

/* Appends a COSE_Signature by key and returns where its pieces went. */
static void put_signature(struct corio_cbor_enc *e, const uint8_t *kid, size_t kid_len,
                          size_t *prot_start, size_t *prot_len, uint8_t **sig)
{
    corio_cbor_put_array(e, 3);
    corio__cose_put_protected(e, kid, kid_len, prot_start, prot_len);
    corio_cbor_put_map(e, 0);
    corio_cbor_put_bytes_reserve(e, CORIO_P256_SIG_LEN, sig);
}

static int sign_into(const struct corio_key *key, const uint8_t *body_prot, size_t body_len,
                     const uint8_t *prot, size_t prot_len, const uint8_t *aad, size_t aad_len,
                     const uint8_t *payload, size_t payload_len, uint8_t *sig)
{
    uint8_t hash[CORIO_SHA256_LEN];
    int rc = corio__cose_tbs_hash(key->ops, false, body_prot, body_len, prot, prot_len, aad,
                                  aad_len, payload, payload_len, hash);
    if (rc != CORIO_OK)
        return rc;
    return corio_sign_hash(key, hash, sig);
}

int corio_cose_sign_sign(const struct corio_key *key, const uint8_t *kid, size_t kid_len,
                         const uint8_t *aad, size_t aad_len, const uint8_t *payload,
                         size_t payload_len, unsigned flags, uint8_t *out, size_t cap)
{
    if ((!kid && kid_len) || (!aad && aad_len) || (!payload && payload_len) ||
        (flags & ~(unsigned)SIGN_FLAGS) || (out && (!key || !key->ops)))
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    size_t prot_start, prot_len;
    uint8_t *sig = NULL;
    corio_cbor_enc_init(&e, out, cap);
    if (!(flags & CORIO_COSE_UNTAGGED))
        corio_cbor_put_tag(&e, CORIO_CBOR_TAG_COSE_SIGN);
    corio_cbor_put_array(&e, 4);
    corio_cbor_put_bytes(&e, NULL, 0); /* the body's protected header: empty */
    corio_cbor_put_map(&e, 0);
    if (flags & CORIO_COSE_DETACHED)
        corio_cbor_put_null(&e);
    else
        corio_cbor_put_bytes(&e, payload, payload_len);
    corio_cbor_put_array(&e, 1);
    put_signature(&e, kid, kid_len, &prot_start, &prot_len, &sig);
    int total = corio_cbor_enc_finish(&e);
    if (total < 0 || !out)
        return total;
    int rc = sign_into(key, NULL, 0, out + prot_start, prot_len, aad, aad_len, payload, payload_len,
                       sig);
    return rc == CORIO_OK ? total : rc;
}

int corio_cose_sign_add(const struct corio_key *key, const uint8_t *kid, size_t kid_len,
                        const uint8_t *aad, size_t aad_len, const uint8_t *msg, size_t msg_len,
                        const uint8_t *detached, size_t detached_len, uint8_t *out, size_t cap)
{
    if (!key || !key->ops || (!kid && kid_len) || (!aad && aad_len) || !msg || !out)
        return CORIO_ERR_INVAL;
    /* The copy below would read what it writes. */
    uintptr_t o = (uintptr_t)out, i = (uintptr_t)msg;
    if (o < i + msg_len && i < o + cap)
        return CORIO_ERR_INVAL;
    struct corio_cose_sign m;
    int rc = corio_cose_sign_decode(msg, msg_len, &m);
    if (rc != CORIO_OK)
        return rc;
    const uint8_t *payload = m.payload;
    size_t payload_len = m.payload_len;
    if (m.detached) {
        if (!detached)
            return CORIO_ERR_INVAL;
        payload = detached;
        payload_len = detached_len;
    } else if (detached || detached_len) {
        return CORIO_ERR_INVAL;
    }
    if (m.count >= CORIO_COSE_MAX_SIGNATURES)
        return CORIO_ERR_UNSUPPORTED;
    struct corio_cbor_enc e;
    size_t prot_start, prot_len;
    uint8_t *sig = NULL;
    corio_cbor_enc_init(&e, out, cap);
    if (m.tagged)
        corio_cbor_put_tag(&e, CORIO_CBOR_TAG_COSE_SIGN);
    corio_cbor_put_array(&e, 4);
    corio_cbor_put_raw(&e, m.body, m.body_len);
    corio_cbor_put_array(&e, m.count + 1);
    corio_cbor_put_raw(&e, m.sigs, m.sigs_len);
    put_signature(&e, kid, kid_len, &prot_start, &prot_len, &sig);
    int total = corio_cbor_enc_finish(&e);
    if (total < 0)
        return total;
    rc = sign_into(key, m.protected_hdr, m.protected_len, out + prot_start, prot_len, aad, aad_len,
                   payload, payload_len, sig);
    return rc == CORIO_OK ? total : rc;
}

int corio_cose_sign_verify(const struct corio_crypto_ops *ops, const struct corio_cose_sign *m,
                           const struct corio_cose_signature *s, const uint8_t *pub, size_t pub_len,
                           const uint8_t *aad, size_t aad_len, const uint8_t *detached,
                           size_t detached_len)
{
    if (!ops || !m || !s || !s->signature || !pub || (!aad && aad_len))
        return CORIO_ERR_INVAL;
    const uint8_t *payload = m->payload;
    size_t payload_len = m->payload_len;
    if (m->detached) {
        if (!detached)
            return CORIO_ERR_INVAL;
        payload = detached;
        payload_len = detached_len;
    } else if (detached || detached_len) {
        return CORIO_ERR_INVAL;
    }
    uint8_t hash[CORIO_SHA256_LEN];
    int rc = corio__cose_tbs_hash(ops, false, m->protected_hdr, m->protected_len, s->protected_hdr,
                                  s->protected_len, aad, aad_len, payload, payload_len, hash);
    if (rc != CORIO_OK)
        return rc;
    return corio_verify_hash(ops, pub, pub_len, hash, s->signature);
}
