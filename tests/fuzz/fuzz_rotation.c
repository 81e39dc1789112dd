/*
 * fuzz_rotation.c - libFuzzer target for rotation links and chains
 * (sdk/src/rotation.c).
 *
 * The first byte chooses what the rest is:
 *   0     a chain, verified for a fixed device DID under a fixed organisation, and also
 *         read as a link (decoded, and appended to a fresh chain);
 *   else  a statement payload, made into a link signed by the device's key 0 and the
 *         organisation's key, in a chain that is then verified, so that every
 *         statement rule is reached.
 * A verified chain must report a key that it introduced; refusals must be documented
 * codes with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cose.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct corio_crypto_ops *ops = &corio_crypto_openssl_ops;
static struct corio_key dev, org;
static uint8_t dev_pub[65], org_pub[65];
static struct corio_did dev_did, org_did;
static char dev_kid[CORIO_DID_BUF], org_kid[CORIO_DID_BUF];
static struct corio_rotation_signer signer;
static struct corio_rotation_trust trust;

static void init(void)
{
    /* The device: RFC 6979 A.2.5's key. The organisation: the COSE examples' key "11". */
    static const uint8_t dev_priv[32] = {0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16,
                                         0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
                                         0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12,
                                         0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};
    static const uint8_t org_priv[32] = {0x57, 0xc9, 0x20, 0x77, 0x66, 0x41, 0x46, 0xe8,
                                         0x76, 0x76, 0x0c, 0x95, 0x20, 0xd0, 0x54, 0xaa,
                                         0x93, 0xc3, 0xaf, 0xb0, 0x4e, 0x30, 0x67, 0x05,
                                         0xdb, 0x60, 0x90, 0x30, 0x85, 0x07, 0xb4, 0xd3};
    if (dev.ops)
        return;
    if (corio_key_import(ops, 0, 0, dev_priv, &dev) != CORIO_OK ||
        corio_key_import(ops, 0, 0, org_priv, &org) != CORIO_OK ||
        corio_key_public(&dev, dev_pub) != CORIO_OK ||
        corio_key_public(&org, org_pub) != CORIO_OK ||
        corio_did_from_key(ops, dev_pub, 65, &dev_did) != CORIO_OK ||
        corio_did_from_key(ops, org_pub, 65, &org_did) != CORIO_OK)
        abort();
    dev_did.has_key = true;
    dev_did.key = 0;
    org_did.has_key = true;
    org_did.key = 0;
    if (corio_did_format(&dev_did, dev_kid, sizeof dev_kid) < 0 ||
        corio_did_format(&org_did, org_kid, sizeof org_kid) < 0)
        abort();
    signer.did = org_did;
    signer.pub = org_pub;
    signer.pub_len = 65;
    memcpy(trust.org, org_did.id, CORIO_DID_ID_LEN);
    trust.signers = &signer;
    trust.count = 1;
    trust.threshold = 1;
}

static int documented(int rc)
{
    return rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_UNSUPPORTED || rc == CORIO_ERR_POLICY ||
           rc == CORIO_ERR_BADSIG || rc == CORIO_ERR_VERSION;
}

static void verify(const uint8_t *chain, size_t len, uint32_t max_key)
{
    struct corio_rotation_result r;
    const char *why = NULL;
    int rc = corio_rotation_chain_verify(ops, &dev_did, chain, len, &trust, &r, &why);
    if (rc == CORIO_OK) {
        if (why || r.key_number != r.links || r.key_number > max_key ||
            corio_p256_point_check(r.pub) != CORIO_OK ||
            (r.key_number == 0 && memcmp(r.pub, dev_pub, 65) != 0))
            abort();
    } else if (!documented(rc) || !why) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size == 0)
        return 0;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    uint8_t start[64];
    int sn = corio_rotation_chain_start(dev_pub, 65, start, sizeof start);
    if (sn != 37)
        abort();
    if (data[0] == 0) {
        verify(rest, n, CORIO_ROTATION_MAX_LINKS);
        struct corio_rotation_statement st;
        int rc = corio_rotation_link_decode(rest, n, &st);
        if (rc == CORIO_OK && st.key_number == 0)
            abort();
        if (rc != CORIO_OK && !documented(rc))
            abort();
        uint8_t *out = malloc(n + 64);
        if (!out)
            abort();
        int an = corio_rotation_chain_append(start, 37, rest, n, out, n + 64);
        if ((an >= 0) != (rc == CORIO_OK))
            abort();
        if (an >= 0)
            verify(out, (size_t)an, 1);
        free(out);
        return 0;
    }
    size_t cap = CORIO_COSE_SIGN1_MAX(0, n) + 2 * CORIO_COSE_SIGNATURE_MAX(CORIO_DID_BUF);
    uint8_t *a = malloc(cap), *b = malloc(cap), *chain = malloc(cap + 64);
    if (!a || !b || !chain)
        abort();
    const uint8_t *aad = (const uint8_t *)CORIO_ROTATION_AAD;
    size_t aad_len = strlen(CORIO_ROTATION_AAD);
    int ln = corio_cose_sign_sign(&dev, (const uint8_t *)dev_kid, strlen(dev_kid), aad, aad_len,
                                  rest, n, CORIO_COSE_UNTAGGED, a, cap);
    if (ln <= 0)
        abort();
    ln = corio_cose_sign_add(&org, (const uint8_t *)org_kid, strlen(org_kid), aad, aad_len, a,
                             (size_t)ln, NULL, 0, b, cap);
    if (ln <= 0)
        abort();
    memcpy(chain, "\x83\x01\x58\x21", 4);
    memcpy(chain + 4, start + 4, 33);
    memcpy(chain + 37, b, (size_t)ln);
    verify(chain, 37 + (size_t)ln, 1);
    free(a);
    free(b);
    free(chain);
    return 0;
}
