/*
 * cose_sign1.c - COSE_Sign1 with ES256 (include/corio/cose.h): signing in one call or
 * with the payload written in place, strict decoding, verification.
 */
#include <string.h>

#include "corio/cose.h"
#include "cose_int.h"

#define SIGN1_FLAGS (CORIO_COSE_DETACHED | CORIO_COSE_UNTAGGED)

/* Tag, array head, protected header and the empty unprotected header. */
static void put_front(struct corio_cbor_enc *e, const uint8_t *kid, size_t kid_len, unsigned flags,
                      size_t *prot_start, size_t *prot_len)
{
    if (!(flags & CORIO_COSE_UNTAGGED))
        corio_cbor_put_tag(e, CORIO_CBOR_TAG_COSE_SIGN1);
    corio_cbor_put_array(e, 4);
    corio__cose_put_protected(e, kid, kid_len, prot_start, prot_len);
    corio_cbor_put_map(e, 0);
}

int corio_cose_sign1_begin(struct corio_cose_sign1_writer *w, uint8_t *buf, size_t cap,
                           const uint8_t *kid, size_t kid_len, unsigned flags)
{
    if (!w)
        return CORIO_ERR_INVAL;
    memset(w, 0, sizeof *w);
    if ((!kid && kid_len) || (flags & ~(unsigned)CORIO_COSE_UNTAGGED))
        return CORIO_ERR_INVAL;
    w->buf = buf;
    corio_cbor_enc_init(&w->enc, buf, cap);
    put_front(&w->enc, kid, kid_len, flags, &w->protected_start, &w->protected_len);
    corio_cbor_put_bstr_begin(&w->enc, &w->payload);
    int rc = corio_cbor_enc_error(&w->enc);
    if (rc == CORIO_OK)
        w->open = 1;
    return rc;
}

struct corio_cbor_enc *corio_cose_sign1_payload(struct corio_cose_sign1_writer *w)
{
    return w && w->open ? &w->enc : NULL;
}

/* Hashes the Sig_structure and signs into sig. */
static int sign_into(const struct corio_key *key, const uint8_t *prot, size_t prot_len,
                     const uint8_t *aad, size_t aad_len, const uint8_t *payload, size_t payload_len,
                     uint8_t *sig)
{
    uint8_t hash[CORIO_SHA256_LEN];
    int rc = corio__cose_tbs_hash(key->ops, true, prot, prot_len, NULL, 0, aad, aad_len, payload,
                                  payload_len, hash);
    if (rc != CORIO_OK)
        return rc;
    return corio_sign_hash(key, hash, sig);
}

int corio_cose_sign1_end(struct corio_cose_sign1_writer *w, const struct corio_key *key,
                         const uint8_t *aad, size_t aad_len)
{
    if (!w)
        return CORIO_ERR_INVAL;
    if (!w->open)
        return CORIO_ERR_STATE;
    w->open = 0;
    if ((!aad && aad_len) || (w->buf && (!key || !key->ops)))
        return CORIO_ERR_INVAL;
    size_t pstart = w->payload.start;
    corio_cbor_put_bstr_end(&w->enc, &w->payload);
    size_t sig_start = corio_cbor_enc_len(&w->enc);
    /* Signed before it is written, so that the image needs no reserve-then-fill; when
     * counting, the zeros only count. */
    uint8_t sig[CORIO_P256_SIG_LEN] = {0};
    int rc = corio_cbor_enc_error(&w->enc);
    if (rc == CORIO_OK && w->buf) {
        /* The payload byte string now sits, shortest head and all, at the end: read
         * it back to learn where its content starts. */
        struct corio_cbor_dec d;
        const uint8_t *payload;
        size_t payload_len;
        corio_cbor_dec_init(&d, w->buf + pstart, sig_start - pstart);
        if (corio_cbor_expect_bytes(&d, &payload, &payload_len) != CORIO_OK)
            return CORIO_ERR_INVAL;
        rc = sign_into(key, w->buf + w->protected_start, w->protected_len, aad, aad_len, payload,
                       payload_len, sig);
    }
    if (rc != CORIO_OK)
        return rc;
    corio_cbor_put_bytes(&w->enc, sig, sizeof sig);
    return corio_cbor_enc_finish(&w->enc);
}

int corio_cose_sign1_sign(const struct corio_key *key, const uint8_t *kid, size_t kid_len,
                          const uint8_t *aad, size_t aad_len, const uint8_t *payload,
                          size_t payload_len, unsigned flags, uint8_t *out, size_t cap)
{
    if ((!kid && kid_len) || (!aad && aad_len) || (!payload && payload_len) ||
        (flags & ~(unsigned)SIGN1_FLAGS) || (out && (!key || !key->ops)))
        return CORIO_ERR_INVAL;
    if (!(flags & CORIO_COSE_DETACHED)) {
        struct corio_cose_sign1_writer w;
        int rc = corio_cose_sign1_begin(&w, out, cap, kid, kid_len, flags);
        if (rc != CORIO_OK)
            return rc;
        corio_cbor_put_raw(&w.enc, payload, payload_len);
        return corio_cose_sign1_end(&w, key, aad, aad_len);
    }
    struct corio_cbor_enc e;
    size_t prot_start, prot_len;
    uint8_t *sig = NULL;
    corio_cbor_enc_init(&e, out, cap);
    put_front(&e, kid, kid_len, flags, &prot_start, &prot_len);
    corio_cbor_put_null(&e);
    corio_cbor_put_bytes_reserve(&e, CORIO_P256_SIG_LEN, &sig);
    int total = corio_cbor_enc_finish(&e);
    if (total < 0 || !out)
        return total;
    int rc = sign_into(key, out + prot_start, prot_len, aad, aad_len, payload, payload_len, sig);
    return rc == CORIO_OK ? total : rc;
}

int corio_cose_sign1_decode(const uint8_t *msg, size_t len, struct corio_cose_sign1 *m)
{
    if ((!msg && len) || !m)
        return CORIO_ERR_INVAL;
    struct corio_cose_sign1 r;
    struct corio_cbor_dec d;
    struct corio_cbor_item it;
    memset(&r, 0, sizeof r);
    corio_cbor_dec_init(&d, msg, len);
    if (corio_cbor_peek(&d, &it) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (it.type == CORIO_CBOR_TAG) {
        uint64_t tag;
        if (it.u != CORIO_CBOR_TAG_COSE_SIGN1 || corio_cbor_expect_tag(&d, &tag) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        r.tagged = true;
    }
    uint64_t n;
    if (corio_cbor_expect_array(&d, &n) != CORIO_OK || n != 4)
        return CORIO_ERR_MALFORMED;
    if (corio_cbor_expect_bytes(&d, &r.protected_hdr, &r.protected_len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    struct corio__cose_hdrs h;
    int rc = corio__cose_headers(r.protected_hdr, r.protected_len, &d, CORIO__COSE_SIGNER, &h);
    if (rc != CORIO_OK)
        return rc;
    if (corio_cbor_expect_null(&d) == CORIO_OK)
        r.detached = true;
    else if (corio_cbor_expect_bytes(&d, &r.payload, &r.payload_len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    const uint8_t *sig;
    size_t sig_len;
    if (corio_cbor_expect_bytes(&d, &sig, &sig_len) != CORIO_OK || sig_len != CORIO_P256_SIG_LEN)
        return CORIO_ERR_MALFORMED;
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (h.protected_empty)
        r.protected_len = 0;
    r.signature = sig;
    r.kid = h.kid;
    r.kid_len = h.kid_len;
    r.kid_protected = h.kid_protected;
    *m = r;
    return CORIO_OK;
}

int corio_cose_sign1_verify(const struct corio_crypto_ops *ops, const struct corio_cose_sign1 *m,
                            const uint8_t *pub, size_t pub_len, const uint8_t *aad, size_t aad_len,
                            const uint8_t *detached, size_t detached_len)
{
    if (!ops || !m || !m->signature || !pub || (!aad && aad_len))
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
    int rc = corio__cose_tbs_hash(ops, true, m->protected_hdr, m->protected_len, NULL, 0, aad,
                                  aad_len, payload, payload_len, hash);
    if (rc != CORIO_OK)
        return rc;
    return corio_verify_hash(ops, pub, pub_len, hash, m->signature);
}
