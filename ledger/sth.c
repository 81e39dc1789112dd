/*
 * sth.c - signed tree heads as COSE_Sign1 over a deterministic CBOR payload (ledger_sth.h).
 */
#include "ledger_sth.h"

#include <string.h>

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/error.h"
#include "corio/p256.h"

int corio_sth_payload_encode(const struct corio_sth *s, uint8_t *out, size_t cap)
{
    if (!s)
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, out ? cap : 0);
    corio_cbor_put_map(&e, 8);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, CORIO_STH_VERSION);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_uint(&e, s->tree_size);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_bytes(&e, s->root, 32);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_uint(&e, s->height);
    corio_cbor_put_uint(&e, 5);
    corio_cbor_put_bytes(&e, s->block_hash, 32);
    corio_cbor_put_uint(&e, 6);
    corio_cbor_put_bytes(&e, s->state_hash, 32);
    corio_cbor_put_uint(&e, 7);
    corio_cbor_put_uint(&e, s->timestamp_ms);
    corio_cbor_put_uint(&e, 8);
    corio_cbor_put_uint(&e, s->node);
    return corio_cbor_enc_finish(&e);
}

static int key_uint(struct corio_cbor_dec *d, uint64_t key, uint64_t *v)
{
    uint64_t k;
    if (corio_cbor_expect_uint(d, &k) != CORIO_OK || k != key ||
        corio_cbor_expect_uint(d, v) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}

static int key_hash(struct corio_cbor_dec *d, uint64_t key, uint8_t out[32])
{
    uint64_t k;
    const uint8_t *p;
    size_t n;
    if (corio_cbor_expect_uint(d, &k) != CORIO_OK || k != key ||
        corio_cbor_expect_bytes(d, &p, &n) != CORIO_OK || n != 32)
        return CORIO_ERR_MALFORMED;
    memcpy(out, p, 32);
    return CORIO_OK;
}

int corio_sth_payload_decode(const uint8_t *buf, size_t len, struct corio_sth *s)
{
    if ((!buf && len) || !s)
        return CORIO_ERR_INVAL;
    int rc = corio_cbor_deterministic(buf, len);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_POLICY ? rc : CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    uint64_t pairs, version;
    struct corio_sth out;
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || key_uint(&d, 1, &version) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (version != CORIO_STH_VERSION)
        return CORIO_ERR_VERSION;
    if (pairs != 8 || key_uint(&d, 2, &out.tree_size) || key_hash(&d, 3, out.root) ||
        key_uint(&d, 4, &out.height) || key_hash(&d, 5, out.block_hash) ||
        key_hash(&d, 6, out.state_hash) || key_uint(&d, 7, &out.timestamp_ms) ||
        key_uint(&d, 8, &out.node) || corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    *s = out;
    return CORIO_OK;
}

int corio_sth_sign(const struct corio_sth *s, const struct corio_key *key, uint8_t *out, size_t cap)
{
    uint8_t payload[160], kid[CORIO_P256_PUB_COMPRESSED];
    int n = corio_sth_payload_encode(s, payload, sizeof payload);
    if (n < 0)
        return n;
    int rc = corio_key_public_compressed(key, kid);
    if (rc != CORIO_OK)
        return rc;
    return corio_cose_sign1_sign(key, kid, sizeof kid, NULL, 0, payload, (size_t)n, 0, out, cap);
}

int corio_sth_verify(const struct corio_crypto_ops *ops, const uint8_t *msg, size_t len,
                     const uint8_t *expect, struct corio_sth *s,
                     uint8_t signer[CORIO_P256_PUB_COMPRESSED])
{
    if (!ops || (!msg && len) || !s)
        return CORIO_ERR_INVAL;
    struct corio_cose_sign1 m;
    int rc = corio_cose_sign1_decode(msg, len, &m);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_UNSUPPORTED ? rc : CORIO_ERR_MALFORMED;
    if (m.detached || !m.kid || m.kid_len != CORIO_P256_PUB_COMPRESSED)
        return CORIO_ERR_MALFORMED;
    uint8_t point[CORIO_P256_PUB_LEN];
    if (corio_p256_point_parse(m.kid, m.kid_len, point) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (expect && memcmp(expect, m.kid, CORIO_P256_PUB_COMPRESSED) != 0)
        return CORIO_ERR_POLICY;
    rc = corio_cose_sign1_verify(ops, &m, point, sizeof point, NULL, 0, NULL, 0);
    if (rc != CORIO_OK)
        return rc;
    struct corio_sth out;
    rc = corio_sth_payload_decode(m.payload, m.payload_len, &out);
    if (rc != CORIO_OK)
        return rc;
    *s = out;
    if (signer)
        memcpy(signer, m.kid, CORIO_P256_PUB_COMPRESSED);
    return CORIO_OK;
}
