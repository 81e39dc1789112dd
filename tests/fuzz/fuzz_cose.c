/*
 * fuzz_cose.c - libFuzzer target for COSE_Sign1 and COSE_Sign decoding, verification
 * and signing (sdk/src/cose_*.c).
 *
 * The input is a message. Whatever decodes must point inside the input and verify
 * without crashing (against a fixed key, with and without a detached payload); every
 * signature of a COSE_Sign must be readable; and adding a signature to a COSE_Sign
 * must give a message that decodes with one more signature, which verifies. Errors
 * must be the documented ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cose.h"
#include "corio/error.h"
#include "crypto_openssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct corio_crypto_ops *ops = &corio_crypto_openssl_ops;
static struct corio_key key;
static uint8_t pub[65];
static const uint8_t detached[] = "detached payload";

static void init(void)
{
    /* RFC 6979 A.2.5's private key: a fixed signer, so seeds it signed verify. */
    static const uint8_t priv[32] = {0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16,
                                     0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
                                     0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12,
                                     0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};
    if (key.ops)
        return;
    if (corio_key_import(ops, 0, 0, priv, &key) != CORIO_OK ||
        corio_key_public(&key, pub) != CORIO_OK)
        abort();
}

static void inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    if (n && (!p || p < data || p + n > data + size))
        abort();
}

static int known(int rc)
{
    return rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_UNSUPPORTED || rc == CORIO_ERR_POLICY;
}

static int verdict(int rc)
{
    return rc == CORIO_OK || rc == CORIO_ERR_BADSIG;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    struct corio_cose_sign1 m1;
    int rc = corio_cose_sign1_decode(data, size, &m1);
    if (rc == CORIO_OK) {
        inside(m1.protected_hdr, m1.protected_len, data, size);
        inside(m1.kid, m1.kid_len, data, size);
        inside(m1.payload, m1.payload_len, data, size);
        inside(m1.signature, 64, data, size);
        if (m1.detached != (m1.payload == NULL))
            abort();
        rc = corio_cose_sign1_verify(ops, &m1, pub, sizeof pub, NULL, 0,
                                     m1.detached ? detached : NULL,
                                     m1.detached ? sizeof detached - 1 : 0);
        if (!verdict(rc))
            abort();
    } else if (!known(rc)) {
        abort();
    }

    struct corio_cose_sign m;
    rc = corio_cose_sign_decode(data, size, &m);
    if (rc != CORIO_OK) {
        if (!known(rc))
            abort();
        return 0;
    }
    if (m.count == 0 || m.count > CORIO_COSE_MAX_SIGNATURES)
        abort();
    inside(m.payload, m.payload_len, data, size);
    const uint8_t *det = m.detached ? detached : NULL;
    size_t det_len = m.detached ? sizeof detached - 1 : 0;
    for (size_t i = 0; i < m.count; i++) {
        struct corio_cose_signature s;
        if (corio_cose_sign_signature(&m, i, &s) != CORIO_OK)
            abort();
        inside(s.kid, s.kid_len, data, size);
        inside(s.signature, 64, data, size);
        if (!verdict(corio_cose_sign_verify(ops, &m, &s, pub, sizeof pub, NULL, 0, det, det_len)))
            abort();
    }
    struct corio_cose_signature none;
    if (corio_cose_sign_signature(&m, m.count, &none) != CORIO_ERR_NOTFOUND)
        abort();

    size_t cap = size + CORIO_COSE_SIGNATURE_MAX(3);
    uint8_t *out = malloc(cap);
    if (!out)
        abort();
    int n = corio_cose_sign_add(&key, (const uint8_t *)"fuz", 3, NULL, 0, data, size, det, det_len,
                                out, cap);
    if (m.count == CORIO_COSE_MAX_SIGNATURES) {
        if (n != CORIO_ERR_UNSUPPORTED)
            abort();
    } else {
        struct corio_cose_sign m2;
        struct corio_cose_signature s;
        if (n <= 0 || corio_cose_sign_decode(out, (size_t)n, &m2) != CORIO_OK ||
            m2.count != m.count + 1 || m2.tagged != m.tagged ||
            corio_cose_sign_signature(&m2, m.count, &s) != CORIO_OK ||
            corio_cose_sign_verify(ops, &m2, &s, pub, sizeof pub, NULL, 0, det, det_len) !=
                CORIO_OK)
            abort();
    }
    free(out);
    return 0;
}
