/*
 * crypto.c - the backend-independent half of include/corio/crypto.h.
 *
 * Every call goes through here so that the ES256 rules hold whatever the backend:
 * arguments are checked once, signers hand out low-S signatures only, and verifiers
 * refuse out-of-range and high-S signatures and invalid public keys before a backend
 * sees them (backends differ in what they tolerate; Corio must not).
 */
#include "corio/crypto.h"

#include <string.h>

#include "corio/error.h"

int corio_random(const struct corio_crypto_ops *ops, uint8_t *out, size_t len)
{
    if (!ops || (!out && len))
        return CORIO_ERR_INVAL;
    if (len == 0)
        return CORIO_OK;
    return ops->random(out, len);
}

int corio_sha256(const struct corio_crypto_ops *ops, const uint8_t *data, size_t len,
                 uint8_t out[CORIO_SHA256_LEN])
{
    static const uint8_t empty[1] = {0};
    if (!ops || !out || (!data && len))
        return CORIO_ERR_INVAL;
    /* Backends get a valid pointer even for an empty message. */
    return ops->sha256(data ? data : empty, len, out);
}

int corio_sha256_start(struct corio_sha256 *h, const struct corio_crypto_ops *ops)
{
    if (!h || !ops)
        return CORIO_ERR_INVAL;
    if (h->ops)
        return CORIO_ERR_STATE;
    memset(&h->state, 0, sizeof h->state);
    int rc = ops->sha256_start(h->state.bytes);
    if (rc == CORIO_OK)
        h->ops = ops;
    return rc;
}

int corio_sha256_update(struct corio_sha256 *h, const uint8_t *data, size_t len)
{
    if (!h || (!data && len))
        return CORIO_ERR_INVAL;
    if (!h->ops)
        return CORIO_ERR_STATE;
    if (len == 0)
        return CORIO_OK;
    int rc = h->ops->sha256_update(h->state.bytes, data, len);
    if (rc != CORIO_OK)
        corio_sha256_abort(h);
    return rc;
}

int corio_sha256_finish(struct corio_sha256 *h, uint8_t out[CORIO_SHA256_LEN])
{
    if (!h || !out)
        return CORIO_ERR_INVAL;
    if (!h->ops)
        return CORIO_ERR_STATE;
    int rc = h->ops->sha256_finish(h->state.bytes, out);
    h->ops = NULL;
    return rc;
}

void corio_sha256_abort(struct corio_sha256 *h)
{
    if (!h || !h->ops)
        return;
    h->ops->sha256_abort(h->state.bytes);
    h->ops = NULL;
}

static void key_clear(struct corio_key *key)
{
    key->ops = NULL;
    key->id = 0;
    key->obj = NULL;
    key->flags = 0;
}

/* Shared checks of generate and import; the key is emptied first so a failure leaves it so. */
static int make_args_ok(const struct corio_crypto_ops *ops, uint32_t id, unsigned flags,
                        struct corio_key *key)
{
    if (!ops || !key)
        return CORIO_ERR_INVAL;
    key_clear(key);
    if (flags & ~CORIO_KEY_EXPORTABLE)
        return CORIO_ERR_INVAL;
    if (id != 0 && !(ops->caps & CORIO_CRYPTO_CAP_PERSISTENT))
        return CORIO_ERR_UNSUPPORTED;
    return CORIO_OK;
}

/* Records the backend in a key it has just filled, or empties it after a failure. */
static int key_made(const struct corio_crypto_ops *ops, struct corio_key *key, int rc)
{
    if (rc == CORIO_OK)
        key->ops = ops;
    else
        key_clear(key);
    return rc;
}

int corio_key_generate(const struct corio_crypto_ops *ops, uint32_t id, unsigned flags,
                       struct corio_key *key)
{
    int rc = make_args_ok(ops, id, flags, key);
    if (rc != CORIO_OK)
        return rc;
    return key_made(ops, key, ops->key_generate(id, flags, key));
}

int corio_key_import(const struct corio_crypto_ops *ops, uint32_t id, unsigned flags,
                     const uint8_t priv[CORIO_P256_SCALAR_LEN], struct corio_key *key)
{
    int rc = make_args_ok(ops, id, flags, key);
    if (rc != CORIO_OK)
        return rc;
    if (!priv || !corio_p256_scalar_check(priv))
        return CORIO_ERR_INVAL;
    return key_made(ops, key, ops->key_import(id, flags, priv, key));
}

int corio_key_open(const struct corio_crypto_ops *ops, uint32_t id, struct corio_key *key)
{
    if (!ops || !key)
        return CORIO_ERR_INVAL;
    key_clear(key);
    if (id == 0)
        return CORIO_ERR_INVAL;
    if (!(ops->caps & CORIO_CRYPTO_CAP_PERSISTENT))
        return CORIO_ERR_UNSUPPORTED;
    return key_made(ops, key, ops->key_open(id, key));
}

int corio_key_export(const struct corio_key *key, uint8_t priv[CORIO_P256_SCALAR_LEN])
{
    if (!key || !key->ops || !priv)
        return CORIO_ERR_INVAL;
    if (!(key->flags & CORIO_KEY_EXPORTABLE))
        return CORIO_ERR_POLICY;
    uint8_t tmp[CORIO_P256_SCALAR_LEN];
    int rc = key->ops->key_export(key, tmp);
    if (rc == CORIO_OK && !corio_p256_scalar_check(tmp))
        rc = CORIO_ERR_CRYPTO;
    if (rc == CORIO_OK)
        memcpy(priv, tmp, sizeof tmp);
    /* The copy on our stack is a secret; a volatile pointer keeps the wipe from being elided. */
    volatile uint8_t *wipe = tmp;
    for (size_t i = 0; i < sizeof tmp; i++)
        wipe[i] = 0;
    return rc;
}

int corio_key_public(const struct corio_key *key, uint8_t pub[CORIO_P256_PUB_LEN])
{
    if (!key || !key->ops || !pub)
        return CORIO_ERR_INVAL;
    uint8_t tmp[CORIO_P256_PUB_LEN];
    int rc = key->ops->key_public(key, tmp);
    if (rc != CORIO_OK)
        return rc;
    if (CORIO_CRYPTO_POINT_CHECK ? corio_p256_point_check(tmp) != CORIO_OK : tmp[0] != 0x04)
        return CORIO_ERR_CRYPTO;
    memcpy(pub, tmp, sizeof tmp);
    return CORIO_OK;
}

int corio_key_public_compressed(const struct corio_key *key, uint8_t pub[CORIO_P256_PUB_COMPRESSED])
{
    if (!pub)
        return CORIO_ERR_INVAL;
    uint8_t full[CORIO_P256_PUB_LEN];
    int rc = corio_key_public(key, full);
    if (rc != CORIO_OK)
        return rc;
#if CORIO_CRYPTO_POINT_CHECK
    return corio_p256_compress(full, pub) == CORIO_OK ? CORIO_OK : CORIO_ERR_CRYPTO;
#else
    pub[0] = (uint8_t)(0x02 | (full[64] & 1u)); /* x, and the parity of y */
    memcpy(pub + 1, full + 1, CORIO_P256_SCALAR_LEN);
    return CORIO_OK;
#endif
}

void corio_key_close(struct corio_key *key)
{
    if (!key || !key->ops)
        return;
    key->ops->key_close(key);
    key_clear(key);
}

int corio_key_destroy(struct corio_key *key)
{
    if (!key || !key->ops)
        return CORIO_ERR_INVAL;
    int rc = key->ops->key_destroy(key);
    key_clear(key);
    return rc;
}

int corio_sign_hash(const struct corio_key *key, const uint8_t hash[CORIO_SHA256_LEN],
                    uint8_t sig[CORIO_P256_SIG_LEN])
{
    if (!key || !key->ops || !hash || !sig)
        return CORIO_ERR_INVAL;
    uint8_t tmp[CORIO_P256_SIG_LEN];
    int rc = key->ops->sign_hash(key, hash, tmp);
    if (rc != CORIO_OK)
        return rc;
    /* A backend that hands out r or s out of range is broken: never pass that on. */
    if (corio_p256_sig_normalize(tmp) != CORIO_OK)
        return CORIO_ERR_CRYPTO;
    memcpy(sig, tmp, sizeof tmp);
    return CORIO_OK;
}

int corio_verify_hash(const struct corio_crypto_ops *ops, const uint8_t *pub, size_t pub_len,
                      const uint8_t hash[CORIO_SHA256_LEN], const uint8_t sig[CORIO_P256_SIG_LEN])
{
    if (!ops || !pub || !hash || !sig)
        return CORIO_ERR_INVAL;
    int rc = corio_p256_sig_check(sig);
    if (rc != CORIO_OK)
        return rc;
#if CORIO_CRYPTO_POINT_CHECK
    uint8_t point[CORIO_P256_PUB_LEN];
    rc = corio_p256_point_parse(pub, pub_len, point);
    if (rc != CORIO_OK)
        return rc;
    return ops->verify_hash(point, hash, sig);
#else
    /* The backend checks the point is on the curve (see crypto.h). */
    if (pub_len == CORIO_P256_PUB_COMPRESSED)
        return CORIO_ERR_UNSUPPORTED;
    if (pub_len != CORIO_P256_PUB_LEN || pub[0] != 0x04)
        return CORIO_ERR_MALFORMED;
    return ops->verify_hash(pub, hash, sig);
#endif
}
