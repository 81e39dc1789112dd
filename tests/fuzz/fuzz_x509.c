/*
 * fuzz_x509.c - libFuzzer target for the certificate readers of common/corio_x509.c:
 * whatever OpenSSL accepts as a DER certificate, corio_x509_dids() lists only valid
 * short ids (each the spelling of a URI SAN did:corio:<id> of the certificate), counts
 * the same with or without room to copy them, and leaves OpenSSL's error queue empty;
 * corio_x509_matches_key() answers yes or no, never anything else, for a fixed key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "corio/error.h"
#include "corio/topic.h"
#include "corio_x509.h"
#include "crypto_openssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether the certificate has the URI SAN did:corio:<id>. */
static int has_uri(X509 *x, const char *id)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int found = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_URI)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (len == 10 + CORIO_SHORT_ID_LEN && memcmp(p, "did:corio:", 10) == 0 &&
            memcmp(p + 10, id, CORIO_SHORT_ID_LEN) == 0)
            found = 1;
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct corio_key key;
    if (!key.ops) {
        uint8_t priv[32];
        memset(priv, 0x11, sizeof priv);
        if (corio_key_import(&corio_crypto_openssl_ops, 0, 0, priv, &key) != CORIO_OK)
            abort();
    }
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)size);
    ERR_clear_error();
    if (!x)
        return 0;
    char ids[4][CORIO_DID_ID_CHARS + 1];
    int n = corio_x509_dids(x, ids, 4);
    if (n < 0 || corio_x509_dids(x, NULL, 0) != n || ERR_peek_error() != 0)
        abort();
    for (int i = 0; i < n && i < 4; i++)
        if (!corio_short_id_valid(ids[i], strlen(ids[i])) || !has_uri(x, ids[i]))
            abort();
    int rc = corio_x509_matches_key(x, &key);
    if ((rc != CORIO_OK && rc != CORIO_ERR_BADSIG) || ERR_peek_error() != 0)
        abort();
    X509_free(x);
    return 0;
}
