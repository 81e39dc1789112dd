/*
 * fuzz_eat.c - libFuzzer target for EAT decoding and verification (sdk/src/eat_*.c).
 *
 * The first byte chooses what the rest is:
 *   0     a whole token, decoded and verified as it stands;
 *   else  a claims payload, signed here with a fixed device key (kid key 0 of its DID)
 *         so that verification reaches every claim check.
 * A verified token's claims must satisfy the expectations; decoding must agree with
 * verification; every refusal must be a documented code with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cose.h"
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "crypto_openssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct corio_crypto_ops *ops = &corio_crypto_openssl_ops;
static struct corio_key key;
static uint8_t pub[65];
static char kid[CORIO_DID_BUF];
static const char AUD[] = "ab2cd3ef4gh5ij6kl7mn2op3";
static uint8_t nonce[32];

static void init(void)
{
    /* RFC 6979 A.2.5's private key; its DID is did:corio:uruaok7yhitqgcc26jlq3bd4. */
    static const uint8_t priv[32] = {0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16,
                                     0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
                                     0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12,
                                     0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};
    if (key.ops)
        return;
    struct corio_did d;
    if (corio_key_import(ops, 0, 0, priv, &key) != CORIO_OK ||
        corio_key_public(&key, pub) != CORIO_OK ||
        corio_did_from_key(ops, pub, sizeof pub, &d) != CORIO_OK)
        abort();
    d.has_key = true;
    d.key = 0;
    if (corio_did_format(&d, kid, sizeof kid) < 0)
        abort();
    for (size_t i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(0xa0 + i);
}

static int documented(int rc)
{
    return rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_UNSUPPORTED || rc == CORIO_ERR_POLICY ||
           rc == CORIO_ERR_BADSIG;
}

static void check(const uint8_t *tok, size_t len)
{
    struct corio_eat_claims c, d;
    struct corio_eat_expect e;
    memset(&e, 0, sizeof e);
    e.aud = AUD;
    e.aud_len = sizeof AUD - 1;
    e.nonce = nonce;
    e.nonce_len = sizeof nonce;
    const char *why = NULL;
    int rc = corio_eat_verify(ops, tok, len, pub, sizeof pub, &e, &c, &why);
    int dr = corio_eat_decode(tok, len, &d);
    if (rc == CORIO_OK) {
        if (why || dr != CORIO_OK || !c.nonce || c.nonce_len != sizeof nonce ||
            memcmp(c.nonce, nonce, sizeof nonce) != 0 || c.aud_len != e.aud_len ||
            memcmp(c.aud, AUD, c.aud_len) != 0 || c.issuer.has_key ||
            (c.assurance != CORIO_EAT_REPORTED && c.assurance != CORIO_EAT_ATTESTED))
            abort();
        /* Single-step on the same token: decided by the counter alone. */
        e.nonce = NULL;
        e.nonce_len = 0;
        e.last_counter = 0;
        rc = corio_eat_verify(ops, tok, len, pub, sizeof pub, &e, &c, &why);
        if (rc != CORIO_OK && (rc != CORIO_ERR_POLICY || (c.has_counter && c.counter > 0)))
            abort();
    } else {
        if (!documented(rc) || !why)
            abort();
        /* Decoding refuses what verification refused before its signature check. */
        if (rc != CORIO_ERR_BADSIG && rc != CORIO_ERR_POLICY && dr == CORIO_OK)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size == 0)
        return 0;
    if (data[0] == 0) {
        check(data + 1, size - 1);
        return 0;
    }
    size_t cap = CORIO_COSE_SIGN1_MAX(strlen(kid), size);
    uint8_t *tok = malloc(cap);
    if (!tok)
        abort();
    int n = corio_cose_sign1_sign(&key, (const uint8_t *)kid, strlen(kid), NULL, 0, data + 1,
                                  size - 1, 0, tok, cap);
    if (n <= 0)
        abort();
    check(tok, (size_t)n);
    free(tok);
    return 0;
}
