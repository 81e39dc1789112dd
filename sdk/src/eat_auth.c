/*
 * eat_auth.c - the messages of "corio-eat-v1" and of claims through quarantine
 * (include/corio/eat_auth.h): a device's answer [1, EAT, chain], the broker's result
 * [1, status], a claim request [1, claimant, nonce], the claim nonce, quarantine topics.
 *
 * Decoders read hostile bytes: each first bounds the length, then requires the whole
 * input to be one deterministic CBOR item (so every head is in its shortest form and
 * nothing follows), then reads the fixed shape.
 */
#include "corio/eat_auth.h"

#include <string.h>

#include "corio/cbor.h"
#include "corio/topic.h"

int corio_eat_auth_encode(const uint8_t *eat, size_t eat_len, const uint8_t *chain,
                          size_t chain_len, uint8_t *out, size_t cap)
{
    if (!eat || !chain || !out || eat_len == 0 || chain_len == 0 || eat_len > CORIO_EAT_MAX_SIZE ||
        chain_len > CORIO_EAT_AUTH_MAX)
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, cap);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_uint(&e, CORIO_EAT_AUTH_VERSION);
    corio_cbor_put_bytes(&e, eat, eat_len);
    corio_cbor_put_bytes(&e, chain, chain_len);
    int rc = corio_cbor_enc_finish(&e);
    if (rc < 0)
        return rc;
    size_t n = corio_cbor_enc_len(&e);
    return n > CORIO_EAT_AUTH_MAX ? CORIO_ERR_INVAL : (int)n;
}

/* Opens a deterministic array of `items` whose first item is the format version. */
static int open_message(struct corio_cbor_dec *d, const uint8_t *buf, size_t len, uint64_t items)
{
    uint64_t n, version;
    int rc = corio_cbor_deterministic(buf, len);
    if (rc != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    corio_cbor_dec_init(d, buf, len);
    if (corio_cbor_expect_array(d, &n) != CORIO_OK || n < 1 ||
        corio_cbor_expect_uint(d, &version) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (version != CORIO_EAT_AUTH_VERSION)
        return CORIO_ERR_VERSION;
    return n == items ? CORIO_OK : CORIO_ERR_MALFORMED;
}

int corio_eat_auth_decode(const uint8_t *buf, size_t len, struct corio_eat_auth *out)
{
    if ((!buf && len) || !out)
        return CORIO_ERR_INVAL;
    if (len > CORIO_EAT_AUTH_MAX)
        return CORIO_ERR_POLICY;
    struct corio_cbor_dec d;
    int rc = open_message(&d, buf, len, 3);
    if (rc != CORIO_OK)
        return rc;
    struct corio_eat_auth a;
    if (corio_cbor_expect_bytes(&d, &a.eat, &a.eat_len) != CORIO_OK ||
        corio_cbor_expect_bytes(&d, &a.chain, &a.chain_len) != CORIO_OK ||
        corio_cbor_dec_finish(&d) != CORIO_OK || a.eat_len == 0 || a.chain_len == 0)
        return CORIO_ERR_MALFORMED;
    if (a.eat_len > CORIO_EAT_MAX_SIZE)
        return CORIO_ERR_POLICY;
    *out = a;
    return CORIO_OK;
}

int corio_eat_auth_result_encode(enum corio_eat_auth_status status, uint8_t *out, size_t cap)
{
    if (!out || (status != CORIO_EAT_AUTH_ADMITTED && status != CORIO_EAT_AUTH_QUARANTINED))
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, cap);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_uint(&e, CORIO_EAT_AUTH_VERSION);
    corio_cbor_put_uint(&e, (uint64_t)status);
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int)corio_cbor_enc_len(&e);
}

int corio_eat_auth_result_decode(const uint8_t *buf, size_t len, enum corio_eat_auth_status *status)
{
    if ((!buf && len) || !status)
        return CORIO_ERR_INVAL;
    if (len > 16)
        return CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    int rc = open_message(&d, buf, len, 2);
    if (rc != CORIO_OK)
        return rc;
    uint64_t s;
    if (corio_cbor_expect_uint(&d, &s) != CORIO_OK || corio_cbor_dec_finish(&d) != CORIO_OK ||
        (s != CORIO_EAT_AUTH_ADMITTED && s != CORIO_EAT_AUTH_QUARANTINED))
        return CORIO_ERR_MALFORMED;
    *status = (enum corio_eat_auth_status)s;
    return CORIO_OK;
}

int corio_claim_request_encode(const struct corio_claim_request *r, uint8_t *out, size_t cap)
{
    if (!r || !out)
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, cap);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_uint(&e, CORIO_EAT_AUTH_VERSION);
    corio_cbor_put_bytes(&e, r->claimant, sizeof r->claimant);
    corio_cbor_put_bytes(&e, r->nonce, sizeof r->nonce);
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int)corio_cbor_enc_len(&e);
}

int corio_claim_request_decode(const uint8_t *buf, size_t len, struct corio_claim_request *r)
{
    if ((!buf && len) || !r)
        return CORIO_ERR_INVAL;
    if (len > 64)
        return CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    int rc = open_message(&d, buf, len, 3);
    if (rc != CORIO_OK)
        return rc;
    const uint8_t *id, *nonce;
    size_t id_len, nonce_len;
    if (corio_cbor_expect_bytes(&d, &id, &id_len) != CORIO_OK ||
        corio_cbor_expect_bytes(&d, &nonce, &nonce_len) != CORIO_OK ||
        corio_cbor_dec_finish(&d) != CORIO_OK || id_len != sizeof r->claimant ||
        nonce_len != sizeof r->nonce)
        return CORIO_ERR_MALFORMED;
    memcpy(r->claimant, id, id_len);
    memcpy(r->nonce, nonce, nonce_len);
    return CORIO_OK;
}

int corio_claim_nonce(const struct corio_crypto_ops *ops, const char *secret, size_t secret_len,
                      const uint8_t claimant[CORIO_DID_ID_LEN], uint8_t nonce[CORIO_SHA256_LEN])
{
    if (!ops || !secret || !claimant || !nonce || secret_len == 0 ||
        secret_len > CORIO_CLAIM_SECRET_MAX)
        return CORIO_ERR_INVAL;
    struct corio_sha256 h;
    memset(&h, 0, sizeof h);
    int rc = corio_sha256_start(&h, ops);
    if (rc == CORIO_OK)
        rc = corio_sha256_update(&h, (const uint8_t *)secret, secret_len);
    if (rc == CORIO_OK)
        rc = corio_sha256_update(&h, claimant, CORIO_DID_ID_LEN);
    if (rc == CORIO_OK)
        return corio_sha256_finish(&h, nonce);
    corio_sha256_abort(&h);
    return rc;
}

int corio_quarantine_topic(const char *id, const char *suffix, char *out, size_t cap)
{
    if (!id || !suffix || !out || !corio_short_id_valid(id, strlen(id)))
        return CORIO_ERR_INVAL;
    size_t sl = strlen(suffix);
    if (sl < 4 || (strncmp(suffix, "up/", 3) != 0 && strncmp(suffix, "dn/", 3) != 0) ||
        strpbrk(suffix, "+#") != NULL)
        return CORIO_ERR_INVAL;
    size_t pl = sizeof CORIO_QUARANTINE_PREFIX - 1;
    size_t n = pl + CORIO_SHORT_ID_LEN + 1 + sl;
    if (n + 1 > cap)
        return CORIO_ERR_NOSPACE;
    memcpy(out, CORIO_QUARANTINE_PREFIX, pl);
    memcpy(out + pl, id, CORIO_SHORT_ID_LEN);
    out[pl + CORIO_SHORT_ID_LEN] = '/';
    memcpy(out + pl + CORIO_SHORT_ID_LEN + 1, suffix, sl + 1);
    return (int)n;
}
