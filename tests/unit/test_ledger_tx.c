/*
 * test_ledger_tx.c - the transaction format (ledger/tx.c, tx_args.c) alone: the body's
 * one encoding and its refusals, signing by several DIDs with the per-type AAD, the id
 * as the hash of the body whatever the signatures, and the strict argument codecs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "corio/cbor.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "tx.h"

#define OPS (&corio_crypto_openssl_ops)

static size_t vote_args(uint8_t *out, size_t cap)
{
    struct corio_tx_vote v = {.choice = CORIO_VOTE_YES};
    memset(v.proposal, 0xaa, 32);
    memset(v.org, 0xbb, 15);
    int n = corio_tx_vote_encode(&v, out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static size_t body(unsigned type, bool ledger, const uint8_t *args, size_t alen, uint8_t *out,
                   size_t cap)
{
    struct corio_tx_body b = {.type = type, .expires = 500, .has_ledger = ledger, .args = args,
                              .args_len = alen};
    memset(b.nonce, 0x11, sizeof b.nonce);
    memset(b.ledger, 0x22, sizeof b.ledger);
    int n = corio_tx_body_encode(&b, out, cap);
    assert_true(n > 0);
    assert_int_equal(corio_tx_body_encode(&b, NULL, 0), n);
    return (size_t)n;
}

static void body_one_encoding(void **state)
{
    (void)state;
    uint8_t args[128], buf[512];
    size_t al = vote_args(args, sizeof args);
    size_t n = body(CORIO_TX_VOTE, true, args, al, buf, sizeof buf);
    struct corio_tx_body b;
    assert_int_equal(corio_tx_body_decode(buf, n, &b), CORIO_OK);
    assert_int_equal(b.type, CORIO_TX_VOTE);
    assert_int_equal(b.expires, 500);
    assert_true(b.has_ledger);
    assert_int_equal(b.args_len, al);
    assert_int_equal(corio_cbor_deterministic(buf, n), CORIO_OK);
    /* {1: 1, 2: 41, 3: h'11..', 4: 500, 5: h'22..', 6: {...}} */
    static const uint8_t head[] = {0xa6, 0x01, 0x01, 0x02, 0x18, 0x29, 0x03, 0x50};
    assert_memory_equal(buf, head, sizeof head);

    /* Refusals: another version, an unknown type, a short nonce, the genesis with a
     * ledger id and another type without, keys out of order, trailing bytes. */
    uint8_t bad[512];
    memcpy(bad, buf, n);
    bad[2] = 0x02;
    assert_int_equal(corio_tx_body_decode(bad, n, &b), CORIO_ERR_VERSION);
    memcpy(bad, buf, n);
    bad[5] = 0x63; /* type 99 */
    assert_int_equal(corio_tx_body_decode(bad, n, &b), CORIO_ERR_UNSUPPORTED);
    uint8_t g[512];
    size_t gn = body(CORIO_TX_GENESIS, true, args, al, g, sizeof g);
    assert_int_equal(corio_tx_body_decode(g, gn, &b), CORIO_ERR_MALFORMED);
    gn = body(CORIO_TX_VOTE, false, args, al, g, sizeof g);
    assert_int_equal(corio_tx_body_decode(g, gn, &b), CORIO_ERR_MALFORMED);
    memcpy(bad, buf, n);
    bad[0] = 0xa6;
    bad[1] = 0x02; /* key 2 first: not deterministic */
    bad[2] = 0x01;
    assert_int_not_equal(corio_tx_body_decode(bad, n, &b), CORIO_OK);
    memcpy(bad, buf, n);
    bad[n] = 0x00;
    assert_int_equal(corio_tx_body_decode(bad, n + 1, &b), CORIO_ERR_MALFORMED);
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, bad, sizeof bad);
    corio_cbor_put_map(&e, 5);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_uint(&e, CORIO_TX_GENESIS);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_bytes(&e, args, 15); /* 15-byte nonce */
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 6);
    corio_cbor_put_map(&e, 0);
    int bn = corio_cbor_enc_finish(&e);
    assert_int_equal(corio_tx_body_decode(bad, (size_t)bn, &b), CORIO_ERR_MALFORMED);
}

static void signed_by_several(void **state)
{
    (void)state;
    struct corio_key k1, k2;
    assert_int_equal(corio_key_generate(OPS, 0, 0, &k1), CORIO_OK);
    assert_int_equal(corio_key_generate(OPS, 0, 0, &k2), CORIO_OK);
    uint8_t p1[33], p2[33];
    corio_key_public_compressed(&k1, p1);
    corio_key_public_compressed(&k2, p2);
    struct corio_did d1, d2;
    corio_did_from_key(OPS, p1, 33, &d1);
    corio_did_from_key(OPS, p2, 33, &d2);
    d1.has_key = d2.has_key = true;
    d1.key = 0;
    d2.key = 7;
    uint8_t args[128], b[512], t1[1024], t2[1024];
    size_t al = vote_args(args, sizeof args);
    size_t bl = body(CORIO_TX_VOTE, true, args, al, b, sizeof b);
    int n1 = corio_tx_sign(&k1, &d1, b, bl, t1, sizeof t1);
    assert_true(n1 > 0);
    assert_int_equal(corio_tx_sign(&k1, &d1, b, bl, NULL, 0), n1);
    int n2 = corio_tx_add_signature(&k2, &d2, t1, (size_t)n1, t2, sizeof t2);
    assert_true(n2 > n1);
    assert_int_equal(corio_tx_add_signature(&k1, &d1, t2, (size_t)n2, t1, sizeof t1),
                     CORIO_ERR_POLICY);
    struct corio_tx t;
    assert_int_equal(corio_tx_decode(t2, (size_t)n2, &t), CORIO_OK);
    assert_int_equal(t.nsig, 2);
    assert_int_equal(t.signer[1].key, 7);
    assert_int_equal(corio_tx_signed_by(&t, d2.id), 1);
    assert_int_equal(corio_tx_verify(OPS, &t, 0, p1, 33), CORIO_OK);
    assert_int_equal(corio_tx_verify(OPS, &t, 1, p2, 33), CORIO_OK);
    assert_int_equal(corio_tx_verify(OPS, &t, 1, p1, 33), CORIO_ERR_BADSIG);
    /* The id is SHA-256 of the body, with one signature or two. */
    uint8_t id1[32], id2[32], want[32];
    SHA256(b, bl, want);
    corio_tx_id(t1, (size_t)n1, id1);
    corio_tx_id(t2, (size_t)n2, id2);
    assert_memory_equal(id1, want, 32);
    assert_memory_equal(id2, want, 32);
    /* Junk gets an id too, not the hash of its bytes. */
    uint8_t jid[32];
    assert_int_equal(corio_tx_id(b, bl, jid), CORIO_OK);
    assert_memory_not_equal(jid, want, 32);
    /* The AAD names the type: a vote signature fails as a member.add signature. */
    char aad[CORIO_TX_AAD_MAX];
    assert_int_equal(corio_tx_aad(CORIO_TX_VOTE, aad, sizeof aad), 16);
    assert_string_equal(aad, "corio-tx-v1:vote");
    t.body.type = CORIO_TX_MEMBER_ADD;
    assert_int_equal(corio_tx_verify(OPS, &t, 0, p1, 33), CORIO_ERR_BADSIG);
    /* Untagged is refused (one spelling). */
    assert_int_equal(t2[0], 0xd8);
    assert_int_equal(corio_tx_decode(t2 + 2, (size_t)n2 - 2, &t), CORIO_ERR_MALFORMED);
    corio_key_close(&k1);
    corio_key_close(&k2);
}

static void strict_arguments(void **state)
{
    (void)state;
    struct corio_tx_device_register r = {.kind = 1, .auth = 2, .assurance = 1, .class_ = "sensor",
                                         .class_len = 6, .model = "th-1", .model_len = 4,
                                         .hw = "rev b", .hw_len = 5, .eat = (const uint8_t *)"x",
                                         .eat_len = 1};
    uint8_t buf[512];
    int n = corio_tx_device_register_encode(&r, buf, sizeof buf);
    assert_true(n > 0);
    const char *why = NULL;
    /* "rev b": a space is not a name character (the registry file is space-separated). */
    assert_int_equal(corio_tx_args_check(CORIO_TX_DEVICE_REGISTER, buf, (size_t)n, &why),
                     CORIO_ERR_MALFORMED);
    assert_non_null(why);
    r.hw = "rev-b";
    n = corio_tx_device_register_encode(&r, buf, sizeof buf);
    assert_int_equal(corio_tx_args_check(CORIO_TX_DEVICE_REGISTER, buf, (size_t)n, &why), CORIO_OK);
    struct corio_tx_device_register d;
    assert_int_equal(corio_tx_device_register_decode(buf, (size_t)n, &d), CORIO_OK);
    assert_int_equal(d.class_len, 6);
    assert_false(d.has_gateway);
    /* Out of range, unknown key, missing required key. */
    r.kind = 3;
    n = corio_tx_device_register_encode(&r, buf, sizeof buf);
    assert_int_equal(corio_tx_device_register_decode(buf, (size_t)n, &d), CORIO_ERR_MALFORMED);
    uint8_t vb[128];
    size_t vl = vote_args(vb, sizeof vb);
    vb[0] = 0xa4; /* one more pair: key 4 */
    vb[vl] = 0x04;
    vb[vl + 1] = 0x00;
    struct corio_tx_vote v;
    assert_int_equal(corio_tx_vote_decode(vb, vl + 2, &v), CORIO_ERR_MALFORMED);
    vb[0] = 0xa2;
    assert_int_equal(corio_tx_vote_decode(vb, vl - 2, &v), CORIO_ERR_MALFORMED);
    /* Membership payloads: admit needs an organisation with a key, remove a target. */
    struct corio_tx_proposal_payload p = {.action = CORIO_MEMBERSHIP_REMOVE};
    n = corio_tx_payload_encode(CORIO_PROPOSAL_MEMBERSHIP, &p, buf, sizeof buf);
    struct corio_tx_proposal_payload q;
    assert_int_equal(corio_tx_payload_decode(CORIO_PROPOSAL_MEMBERSHIP, buf, (size_t)n, &q),
                     CORIO_ERR_MALFORMED);
    p.has_target = true;
    n = corio_tx_payload_encode(CORIO_PROPOSAL_MEMBERSHIP, &p, buf, sizeof buf);
    assert_int_equal(corio_tx_payload_decode(CORIO_PROPOSAL_MEMBERSHIP, buf, (size_t)n, &q),
                     CORIO_OK);
    assert_int_equal(corio_tx_type_by_name("device.register"), CORIO_TX_DEVICE_REGISTER);
    assert_null(corio_tx_type_name(2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_one_encoding),
        cmocka_unit_test(signed_by_several),
        cmocka_unit_test(strict_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
