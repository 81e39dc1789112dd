/*
 * verify.c - the signature check of gateway batches (cloud.h, docs/formats.md), over
 * common/batch.h's corio_batch_open (COSE_Sign1, ES256, external AAD "corio-batch-v1",
 * the batch's gateway must be the signer).
 *
 * What the registry adds: the signer named by the kid must be the gateway whose topic
 * the batch came on, with the key number the registry holds for it, and the key checked
 * is that registered key. A batch signed by an older key of the same gateway is refused
 * like any other bad signature: a stolen retired key must not be able to make the
 * gateway's outbox empty.
 */
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "cloud.h"
#include "corio/error.h"
#include "crypto_openssl.h"

static int cose_open(void *ctx, const struct corio_gateway_rec *gw, const uint8_t *wire, size_t len,
                     struct corio_batch *b, char *why, size_t whylen)
{
    (void)ctx;
    memset(b, 0, sizeof *b);
    if (gw->pubkey_len != 65) {
        snprintf(why, whylen, "no key is registered for gateway %s", gw->id);
        return CORIO_ERR_STATE;
    }
    char signer[CORIO_SHORT_ID_CHARS + 1];
    unsigned key_no;
    if (corio_batch_signer(wire, len, signer, &key_no) != CORIO_OK) {
        snprintf(why, whylen, "not a sealed batch (a COSE_Sign1 whose kid names a gateway key)");
        return CORIO_ERR_MALFORMED;
    }
    if (strcmp(signer, gw->id) != 0 || (int64_t)key_no != gw->key_no) {
        snprintf(why, whylen, "signed by did:corio:%s#%u, want did:corio:%s#%lld", signer, key_no,
                 gw->id, (long long)gw->key_no);
        return CORIO_ERR_BADSIG;
    }
    return corio_batch_open(&corio_crypto_openssl_ops, wire, len, gw->pubkey, gw->pubkey_len, b,
                            why, whylen);
}

const struct corio_batch_verifier corio_cloud_cose_verifier = {.open = cose_open};
