/*
 * verify.c - the signature check of gateway batches (cloud.h, docs/formats.md): a
 * COSE_Sign1, ES256, whose kid is "did:corio:<gateway>#<key number>" and whose key is
 * the one the registry holds for that gateway and number.
 *
 * A batch signed by an older key of the same gateway is refused like any other bad
 * signature: a stolen retired key must not be able to make the gateway's outbox empty.
 */
#include <stdio.h>
#include <string.h>

#include "cloud.h"
#include "corio/cose.h"
#include "corio/error.h"
#include "crypto_openssl.h"

static int cose_open(void *ctx, const struct corio_gateway_rec *gw, const uint8_t *wire, size_t len,
                     const uint8_t **payload, size_t *plen, char *why, size_t whylen)
{
    (void)ctx;
    if (gw->pubkey_len != 65) {
        snprintf(why, whylen, "no key is registered for gateway %s", gw->id);
        return CORIO_ERR_STATE;
    }
    struct corio_cose_sign1 m;
    int rc = corio_cose_sign1_decode(wire, len, &m);
    if (rc != CORIO_OK) {
        snprintf(why, whylen, "not a COSE_Sign1 (%s)", corio_strerror(rc));
        return CORIO_ERR_MALFORMED;
    }
    if (m.detached || !m.payload) {
        snprintf(why, whylen, "the batch is not embedded in its COSE_Sign1");
        return CORIO_ERR_MALFORMED;
    }
    char kid[64];
    int n = snprintf(kid, sizeof kid, "did:corio:%s#%lld", gw->id, (long long)gw->key_no);
    if (!m.kid || !m.kid_protected || m.kid_len != (size_t)n || memcmp(m.kid, kid, (size_t)n)) {
        snprintf(why, whylen, "signed with kid '%.*s', want '%s'",
                 m.kid ? (int)(m.kid_len > 60 ? 60 : m.kid_len) : 0,
                 m.kid ? (const char *)m.kid : "", kid);
        return CORIO_ERR_BADSIG;
    }
    rc = corio_cose_sign1_verify(&corio_crypto_openssl_ops, &m, gw->pubkey, gw->pubkey_len, NULL, 0,
                                 NULL, 0);
    if (rc != CORIO_OK) {
        snprintf(why, whylen, "the signature does not verify with the key of %s", kid);
        return CORIO_ERR_BADSIG;
    }
    *payload = m.payload;
    *plen = m.payload_len;
    return CORIO_OK;
}

const struct corio_batch_verifier corio_cloud_cose_verifier = {.open = cose_open};
