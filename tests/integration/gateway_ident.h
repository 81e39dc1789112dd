/*
 * gateway_ident.h - an identity for the gateway integration tests (test_gateway_*.c):
 * a fresh P-256 key with its short id, did:corio and did:key, closed when the test
 * ends. Static functions in a header: each test is one program.
 */
#ifndef CORIO_TESTS_GATEWAY_IDENT_H
#define CORIO_TESTS_GATEWAY_IDENT_H

#include "corio/did.h"
#include "crypto_openssl.h"
#include "harness.h"

struct ident {
    struct corio_key key;
    uint8_t pub[CORIO_P256_PUB_LEN];
    char id[CORIO_DID_ID_CHARS + 1];
    char did[CORIO_DID_BUF];
    char didkey[CORIO_DIDKEY_BUF];
};

static void make_ident(struct ident *i)
{
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE,
                                        &i->key),
                     CORIO_OK);
    assert_int_equal(corio_key_public(&i->key, i->pub), CORIO_OK);
    struct corio_did did;
    assert_int_equal(corio_did_from_key(&corio_crypto_openssl_ops, i->pub, sizeof i->pub, &did),
                     CORIO_OK);
    corio_did_id_format(did.id, i->id, sizeof i->id);
    corio_did_format(&did, i->did, sizeof i->did);
    corio_didkey_format(i->pub, sizeof i->pub, i->didkey, sizeof i->didkey);
    h_defer((void (*)(void *))corio_key_close, &i->key);
}

#endif /* CORIO_TESTS_GATEWAY_IDENT_H */
