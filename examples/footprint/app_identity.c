/*
 * app_identity.c - the device's identity in the footprint example: its provisioned
 * P-256 key, imported into the PSA backend at boot, and the names made from it
 * (DESIGN.md §3): the short id, base32 of the first 15 bytes of SHA-256 over the
 * compressed public key, which is the MQTT client id. With the DID module (did.h) the
 * SDK makes it. The device makes no did:key: the gateway resolves its key from the
 * registry (DESIGN.md §3), so base58 and the multicodec stay out of the image.
 */
#include <string.h>

#include "board.h"
#include "corio/crypto_psa.h"
#include "corio/encoding.h"
#include "fp_app.h"

#if FP_HAVE_DID
#include "corio/did.h"
#endif

static struct corio_key key;
static uint8_t id[15]; /* the first 15 bytes of the SHA-256 (CORIO_DID_ID_LEN) */
static char short_id[25];

int fp_identity_init(void)
{
    uint8_t priv[CORIO_P256_SCALAR_LEN];
    int err;

    err = board_identity_scalar(priv);
    if (err == 0)
        err = corio_key_import(&corio_crypto_psa_ops, 0, 0, priv, &key);
    memset(priv, 0, sizeof priv);
    if (err != CORIO_OK)
        return err;
#if FP_HAVE_DID
    {
        /* did.h takes the key in either form and hashes the compressed one, so the
         * uncompressed form PSA exports goes as it is. */
        uint8_t pub[CORIO_P256_PUB_LEN];
        struct corio_did did;

        err = corio_key_public(&key, pub);
        if (err == CORIO_OK)
            err = corio_did_from_key(&corio_crypto_psa_ops, pub, sizeof pub, &did);
        if (err == CORIO_OK) {
            memcpy(id, did.id, sizeof id);
            err = corio_did_id_format(did.id, short_id, sizeof short_id);
        }
    }
#else
    {
        uint8_t pub[CORIO_P256_PUB_COMPRESSED];
        uint8_t hash[CORIO_SHA256_LEN];

        err = corio_key_public_compressed(&key, pub);
        if (err == CORIO_OK)
            err = corio_sha256(&corio_crypto_psa_ops, pub, sizeof pub, hash);
        memcpy(id, hash, sizeof id);
        if (err == CORIO_OK)
            err = corio_base32_encode(id, sizeof id, short_id, sizeof short_id);
    }
#endif
    return err < 0 ? err : CORIO_OK;
}

const struct corio_key *fp_identity_key(void)
{
    return &key;
}

const char *fp_short_id(void)
{
    return short_id;
}

const uint8_t *fp_identity_id(void)
{
    return id;
}
