/*
 * tx.c - the transaction envelope (tx.h): the body map, the COSE_Sign around it, the
 * per-type AAD of its signatures and the transaction id. The per-type arguments are
 * tx_args.c.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "corio/cbor.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "tx.h"

static const struct {
    unsigned type;
    const char *name;
} types[] = {
    {CORIO_TX_GENESIS, "genesis"},
    {CORIO_TX_MEMBER_ADD, "member.add"},
    {CORIO_TX_MEMBER_REMOVE, "member.remove"},
    {CORIO_TX_DID_ROTATE, "did.rotate"},
    {CORIO_TX_DEVICE_REGISTER, "device.register"},
    {CORIO_TX_DEVICE_TRANSFER, "device.transfer"},
    {CORIO_TX_DEVICE_REVOKE, "device.revoke"},
    {CORIO_TX_PROPOSAL, "proposal"},
    {CORIO_TX_VOTE, "vote"},
    {CORIO_TX_RELEASE_PROPOSE, "release.propose"},
    {CORIO_TX_RELEASE_APPROVE, "release.approve"},
};

const char *corio_tx_type_name(unsigned type)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].type == type)
            return types[i].name;
    return NULL;
}

unsigned corio_tx_type_by_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(types[i].name, name))
            return types[i].type;
    return 0;
}

int corio_tx_aad(unsigned type, char *out, size_t cap)
{
    const char *name = corio_tx_type_name(type);
    if (!name)
        return CORIO_ERR_UNSUPPORTED;
    int n = snprintf(out, cap, "%s%s", CORIO_TX_AAD_PREFIX, name);
    return n < 0 || (size_t)n >= cap ? CORIO_ERR_NOSPACE : n;
}

/* ---- body ------------------------------------------------------------------------------ */

int corio_tx_body_encode(const struct corio_tx_body *b, uint8_t *out, size_t cap)
{
    if (!b || !b->args || !b->args_len)
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, out ? cap : 0);
    corio_cbor_put_map(&e, b->has_ledger ? 6 : 5);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, CORIO_TX_VERSION);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_uint(&e, b->type);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_bytes(&e, b->nonce, CORIO_TX_NONCE_LEN);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_uint(&e, b->expires);
    if (b->has_ledger) {
        corio_cbor_put_uint(&e, 5);
        corio_cbor_put_bytes(&e, b->ledger, CORIO_TX_ID_LEN);
    }
    corio_cbor_put_uint(&e, 6);
    corio_cbor_put_raw(&e, b->args, b->args_len);
    int n = corio_cbor_enc_finish(&e);
    if (n == CORIO_ERR_NOSPACE && !out)
        n = (int)corio_cbor_enc_len(&e);
    return n;
}

static int expect_key(struct corio_cbor_dec *d, uint64_t want)
{
    uint64_t k;
    return corio_cbor_expect_uint(d, &k) == CORIO_OK && k == want ? CORIO_OK
                                                                   : CORIO_ERR_MALFORMED;
}

int corio_tx_body_decode(const uint8_t *buf, size_t len, struct corio_tx_body *b)
{
    if (!b || (!buf && len))
        return CORIO_ERR_INVAL;
    int rc = corio_cbor_deterministic(buf, len);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_POLICY ? rc : CORIO_ERR_MALFORMED;
    struct corio_tx_body out = {0};
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    uint64_t pairs, v;
    const uint8_t *p;
    size_t n;
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || (pairs != 5 && pairs != 6))
        return CORIO_ERR_MALFORMED;
    if (expect_key(&d, 1) || corio_cbor_expect_uint(&d, &v))
        return CORIO_ERR_MALFORMED;
    if (v != CORIO_TX_VERSION)
        return CORIO_ERR_VERSION;
    out.version = (unsigned)v;
    if (expect_key(&d, 2) || corio_cbor_expect_uint(&d, &v))
        return CORIO_ERR_MALFORMED;
    if (v > 0xffff || !corio_tx_type_name((unsigned)v))
        return CORIO_ERR_UNSUPPORTED;
    out.type = (unsigned)v;
    if (expect_key(&d, 3) || corio_cbor_expect_bytes(&d, &p, &n) || n != CORIO_TX_NONCE_LEN)
        return CORIO_ERR_MALFORMED;
    memcpy(out.nonce, p, n);
    if (expect_key(&d, 4) || corio_cbor_expect_uint(&d, &out.expires))
        return CORIO_ERR_MALFORMED;
    if (pairs == 6) {
        if (expect_key(&d, 5) || corio_cbor_expect_bytes(&d, &p, &n) || n != CORIO_TX_ID_LEN)
            return CORIO_ERR_MALFORMED;
        out.has_ledger = true;
        memcpy(out.ledger, p, n);
    }
    if (expect_key(&d, 6))
        return CORIO_ERR_MALFORMED;
    struct corio_cbor_item it;
    size_t start = corio_cbor_dec_offset(&d);
    if (corio_cbor_peek(&d, &it) != CORIO_OK || it.type != CORIO_CBOR_MAP ||
        corio_cbor_skip(&d) != CORIO_OK || corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    out.args = buf + start;
    out.args_len = corio_cbor_dec_offset(&d) - start;
    /* The genesis is the one transaction without a ledger id: it makes the id. */
    if ((out.type == CORIO_TX_GENESIS) == out.has_ledger)
        return CORIO_ERR_MALFORMED;
    *b = out;
    return CORIO_OK;
}

/* ---- the signed transaction ------------------------------------------------------------ */

static int kid_of(const struct corio_did *signer, char kid[CORIO_DID_BUF])
{
    if (!signer || !signer->has_key)
        return CORIO_ERR_INVAL;
    return corio_did_format(signer, kid, CORIO_DID_BUF);
}

int corio_tx_sign(const struct corio_key *key, const struct corio_did *signer, const uint8_t *body,
                  size_t body_len, uint8_t *out, size_t cap)
{
    struct corio_tx_body b;
    char kid[CORIO_DID_BUF], aad[CORIO_TX_AAD_MAX];
    int rc = corio_tx_body_decode(body, body_len, &b);
    if (rc != CORIO_OK)
        return rc;
    int kl = kid_of(signer, kid);
    if (kl < 0)
        return kl;
    int al = corio_tx_aad(b.type, aad, sizeof aad);
    if (al < 0)
        return al;
    return corio_cose_sign_sign(key, (const uint8_t *)kid, (size_t)kl, (const uint8_t *)aad,
                                (size_t)al, body, body_len, 0, out, cap);
}

int corio_tx_add_signature(const struct corio_key *key, const struct corio_did *signer,
                           const uint8_t *tx, size_t len, uint8_t *out, size_t cap)
{
    struct corio_tx t;
    char kid[CORIO_DID_BUF], aad[CORIO_TX_AAD_MAX];
    int rc = corio_tx_decode(tx, len, &t);
    if (rc != CORIO_OK)
        return rc;
    int kl = kid_of(signer, kid);
    if (kl < 0)
        return kl;
    if (corio_tx_signed_by(&t, signer->id) >= 0)
        return CORIO_ERR_POLICY;
    int al = corio_tx_aad(t.body.type, aad, sizeof aad);
    if (al < 0)
        return al;
    return corio_cose_sign_add(key, (const uint8_t *)kid, (size_t)kl, (const uint8_t *)aad,
                               (size_t)al, tx, len, NULL, 0, out, cap);
}

int corio_tx_decode(const uint8_t *tx, size_t len, struct corio_tx *t)
{
    if (!t || (!tx && len))
        return CORIO_ERR_INVAL;
    if (len > CORIO_TX_MAX)
        return CORIO_ERR_POLICY;
    struct corio_tx out;
    memset(&out, 0, sizeof out);
    int rc = corio_cose_sign_decode(tx, len, &out.cose);
    if (rc != CORIO_OK)
        return rc;
    /* One spelling: the tag, an embedded payload, an empty body header (signers' headers
     * are protected by their own signatures). */
    if (!out.cose.tagged || out.cose.detached || out.cose.protected_len != 0)
        return CORIO_ERR_MALFORMED;
    out.nsig = out.cose.count;
    for (size_t i = 0; i < out.nsig; i++) {
        struct corio_cose_signature s;
        if ((rc = corio_cose_sign_signature(&out.cose, i, &s)) != CORIO_OK)
            return rc;
        if (!s.kid || !s.kid_protected ||
            corio_did_parse((const char *)s.kid, s.kid_len, &out.signer[i]) != CORIO_OK ||
            !out.signer[i].has_key)
            return CORIO_ERR_MALFORMED;
        for (size_t j = 0; j < i; j++)
            if (corio_did_same(&out.signer[i], &out.signer[j]))
                return CORIO_ERR_POLICY;
    }
    out.body_raw = out.cose.payload;
    out.body_len = out.cose.payload_len;
    if ((rc = corio_tx_body_decode(out.body_raw, out.body_len, &out.body)) != CORIO_OK)
        return rc;
    *t = out;
    return CORIO_OK;
}

int corio_tx_verify(const struct corio_crypto_ops *ops, const struct corio_tx *t, size_t i,
                    const uint8_t *pub, size_t pub_len)
{
    if (!t || i >= t->nsig)
        return CORIO_ERR_INVAL;
    char aad[CORIO_TX_AAD_MAX];
    int al = corio_tx_aad(t->body.type, aad, sizeof aad);
    if (al < 0)
        return al;
    struct corio_cose_signature s;
    int rc = corio_cose_sign_signature(&t->cose, i, &s);
    if (rc != CORIO_OK)
        return rc;
    return corio_cose_sign_verify(ops, &t->cose, &s, pub, pub_len, (const uint8_t *)aad,
                                  (size_t)al, NULL, 0);
}

int corio_tx_signed_by(const struct corio_tx *t, const uint8_t id[CORIO_DID_ID_LEN])
{
    for (size_t i = 0; t && i < t->nsig; i++)
        if (!memcmp(t->signer[i].id, id, CORIO_DID_ID_LEN))
            return (int)i;
    return -1;
}

int corio_tx_id(const uint8_t *tx, size_t len, uint8_t id[CORIO_TX_ID_LEN])
{
    struct corio_cose_sign m;
    if (tx && corio_cose_sign_decode(tx, len, &m) == CORIO_OK && !m.detached)
        return SHA256(m.payload_len ? m.payload : (const uint8_t *)"", m.payload_len, id)
                   ? CORIO_OK
                   : CORIO_ERR_CRYPTO;
    static const char junk[] = "corio-tx-undecodable";
    struct corio_sha256 h = {0};
    int rc = corio_sha256_start(&h, &corio_crypto_openssl_ops);
    if (rc == CORIO_OK)
        rc = corio_sha256_update(&h, (const uint8_t *)junk, sizeof junk - 1);
    if (rc == CORIO_OK && len)
        rc = corio_sha256_update(&h, tx, len);
    if (rc == CORIO_OK)
        return corio_sha256_finish(&h, id) == CORIO_OK ? CORIO_OK : CORIO_ERR_CRYPTO;
    corio_sha256_abort(&h);
    return CORIO_ERR_CRYPTO;
}
