/*
 * test_contract_envelope.c - what every transaction passes before its contract sees it,
 * on the apply path (never trusting check) and on check: replay, expiry, the ledger id,
 * signatures that do not verify, high-S twins of valid signatures, a signer's old or
 * future key number, unknown signers, junk; and that check refuses the same things
 * without a block, plus the configured genesis pin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_contract_util.h"

struct world {
    struct t_ledger l;
    struct t_id a, b, p;
};

static void world_open(struct world *w, const char *name)
{
    t_ledger_open(&w->l, name, NULL);
    t_id_new(&w->a);
    t_id_new(&w->b);
    t_id_new(&w->p);
    t_found(&w->l, SIGNERS(&w->a, &w->b), NULL, NULL, 0);
}

static void world_close(struct world *w)
{
    t_check_state(&w->l);
    t_ledger_close(&w->l);
    t_id_free(&w->a);
    t_id_free(&w->b);
    t_id_free(&w->p);
}

/* The signature bytes of signature i inside the transaction buffer. */
static uint8_t *sig_of(struct t_tx *t, size_t i)
{
    struct corio_tx d;
    assert_int_equal(corio_tx_decode(t->buf, t->len, &d), CORIO_OK);
    struct corio_cose_signature s;
    assert_int_equal(corio_cose_sign_signature(&d.cose, i, &s), CORIO_OK);
    return t->buf + (s.signature - t->buf);
}

/* s := n - s (the high-S twin: the same signature, mathematically valid). */
static void to_high_s(uint8_t *sig)
{
    static const uint8_t n[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                                  0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                                  0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
    uint8_t *s = sig + 32;
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int v = n[i] - s[i] - borrow;
        borrow = v < 0;
        s[i] = (uint8_t)(v + (borrow ? 256 : 0));
    }
}

static struct t_tx add_p(struct world *w, struct t_id *signer)
{
    struct t_args a = t_member_args(CORIO_TX_MEMBER_ADD, &w->a, &w->p, 1);
    return signer ? t_make(&w->l, CORIO_TX_MEMBER_ADD, a.buf, a.len, T_TTL, SIGNERS(&w->a, signer))
                  : t_make(&w->l, CORIO_TX_MEMBER_ADD, a.buf, a.len, T_TTL, SIGNERS(&w->a));
}

static void replay_expiry_and_ledger(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "replay");
    struct t_ledger *l = &w.l;
    struct t_tx t = add_p(&w, &w.p);
    struct t_result r = t_apply(l, &t);
    assert_int_equal(r.status, CORIO_TX_ACCEPTED);
    /* The same transaction again, and with its signatures re-made (a new encoding of the
     * same body: same id). */
    r = t_apply(l, &t);
    assert_int_equal(r.status, CORIO_TX_REFUSED);
    assert_non_null(strstr(r.reason, "replayed"));
    struct corio_tx d;
    assert_int_equal(corio_tx_decode(t.buf, t.len, &d), CORIO_OK);
    uint8_t again[4096];
    int n = corio_tx_sign(&w.p.key, &w.p.did, d.body_raw, d.body_len, again, sizeof again);
    assert_true(n > 0);
    uint8_t again2[4096];
    n = corio_tx_add_signature(&w.a.key, &w.a.did, again, (size_t)n, again2, sizeof again2);
    assert_true(n > 0);
    struct t_tx t2 = {.buf = again2, .len = (size_t)n};
    r = t_apply(l, &t2);
    assert_int_equal(r.status, CORIO_TX_REFUSED);
    assert_non_null(strstr(r.reason, "replayed"));
    free(t.buf);

    /* Expiry: the body names the last height; the furthest it may name is tx.ttl_max. */
    struct t_id q;
    t_id_new(&q);
    struct t_args aq = t_member_args(CORIO_TX_MEMBER_ADD, &w.a, &q, 1);
    struct t_tx old = t_make(l, CORIO_TX_MEMBER_ADD, aq.buf, aq.len, 1, SIGNERS(&w.a, &q));
    t_until(l, t_height(l) + 3);
    REFUSE(l, old, "expired at height");
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, aq.buf, aq.len, 20000, SIGNERS(&w.a, &q)),
           "expires too far ahead");

    /* Another ledger's transaction. */
    uint8_t mine[32];
    memcpy(mine, l->genesis, 32);
    l->genesis[0] ^= 1;
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, aq.buf, aq.len, T_TTL, SIGNERS(&w.a, &q)),
           "another ledger");
    memcpy(l->genesis, mine, 32);
    ACCEPT(l, t_make(l, CORIO_TX_MEMBER_ADD, aq.buf, aq.len, T_TTL, SIGNERS(&w.a, &q)));
    /* Remembered ids are forgotten once they expire (they could not apply anyway). */
    int64_t before = t_int(l, "SELECT count(*) FROM ctr_seen");
    t_until(l, t_height(l) + T_TTL + 2);
    assert_true(t_int(l, "SELECT count(*) FROM ctr_seen") < before);
    t_id_free(&q);
    world_close(&w);
}

static void bad_and_high_s_signatures(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "sigs");
    struct t_ledger *l = &w.l;
    /* A flipped bit in either signature. */
    for (size_t i = 0; i < 2; i++) {
        struct t_tx t = add_p(&w, &w.p);
        sig_of(&t, i)[5] ^= 0x40;
        REFUSE(l, t, "does not verify");
    }
    /* The high-S twin of a valid signature is refused too: one valid form only. */
    struct t_tx t = add_p(&w, &w.p);
    to_high_s(sig_of(&t, 1));
    REFUSE(l, t, "does not verify");
    /* A signature made for another transaction type (another AAD) on the same body. */
    struct t_args a = t_member_args(CORIO_TX_MEMBER_ADD, &w.a, &w.p, 1);
    struct corio_tx_body b = {.type = CORIO_TX_MEMBER_ADD, .args = a.buf, .args_len = a.len,
                              .expires = t_height(l) + 10, .has_ledger = true};
    memcpy(b.ledger, l->genesis, 32);
    uint8_t body[4096], tx[4096];
    int bl = corio_tx_body_encode(&b, body, sizeof body);
    assert_true(bl > 0);
    char kid[CORIO_DID_BUF];
    int kl = corio_did_format(&w.a.did, kid, sizeof kid);
    int n = corio_cose_sign_sign(&w.a.key, (const uint8_t *)kid, (size_t)kl,
                             (const uint8_t *)"corio-tx-v1:vote", 16, body, (size_t)bl, 0, tx,
                             sizeof tx);
    assert_true(n > 0);
    struct t_tx wrong = {.buf = malloc((size_t)n), .len = (size_t)n};
    memcpy(wrong.buf, tx, (size_t)n);
    REFUSE(l, wrong, "does not verify");
    /* Still nothing applied; the genuine one goes through. */
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_person"), 0);
    ACCEPT(l, add_p(&w, &w.p));
    world_close(&w);
}

static void signer_rules(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "signers");
    struct t_ledger *l = &w.l;
    struct t_id x;
    t_id_new(&x);
    /* An identity the ledger does not know. */
    REFUSE(l, add_p(&w, &x), "unknown signer");
    /* A key number that is not the signer's current one. */
    w.a.did.key = 1;
    REFUSE(l, add_p(&w, &w.p), "signed with key 1; its current key is 0");
    w.a.did.key = 0;
    /* Not a transaction at all. */
    struct t_tx junk = {.buf = malloc(4), .len = 4};
    memcpy(junk.buf, "\x01\x02\x03\x04", 4);
    REFUSE(l, junk, "not a transaction");
    t_id_free(&x);
    world_close(&w);
}

static void check_refuses_before_a_block(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "check");
    struct t_ledger *l = &w.l;
    const struct corio_ledger_app *app = corio_contracts_app();
    char reason[CORIO_BLOCK_MAX_REASON + 1];
    struct t_tx ok = add_p(&w, &w.p);
    reason[0] = 0;
    assert_int_equal(app->check(app->ctx, t_db(l), ok.buf, ok.len, reason, sizeof reason),
                     CORIO_OK);
    struct t_tx bad = add_p(&w, &w.p);
    sig_of(&bad, 0)[9] ^= 1;
    assert_int_equal(app->check(app->ctx, t_db(l), bad.buf, bad.len, reason, sizeof reason),
                     CORIO_ERR_POLICY);
    assert_non_null(strstr(reason, "does not verify"));
    assert_int_equal(t_apply(l, &ok).status, CORIO_TX_ACCEPTED);
    assert_int_equal(app->check(app->ctx, t_db(l), ok.buf, ok.len, reason, sizeof reason),
                     CORIO_ERR_POLICY);
    assert_non_null(strstr(reason, "replayed"));
    free(ok.buf);
    free(bad.buf);

    /* The genesis pin: a node proposes only the genesis it was configured with. */
    struct t_ledger fresh;
    t_ledger_open(&fresh, "fresh", NULL);
    struct t_tx g = t_genesis(&fresh, SIGNERS(&w.a), NULL, NULL, 0);
    struct corio_contracts_opts o = {.pin_genesis = true};
    memcpy(o.genesis, g.id, 32);
    struct corio_ledger_app *pinned = corio_contracts_app_new(&o);
    assert_non_null(pinned);
    assert_int_equal(pinned->check(pinned->ctx, t_db(&fresh), g.buf, g.len, reason, sizeof reason),
                     CORIO_OK);
    struct t_tx other = t_genesis(&fresh, SIGNERS(&w.b), NULL, NULL, 0);
    assert_int_equal(
        pinned->check(pinned->ctx, t_db(&fresh), other.buf, other.len, reason, sizeof reason),
        CORIO_ERR_POLICY);
    assert_non_null(strstr(reason, "not the genesis this node is configured with"));
    corio_contracts_app_free(pinned);
    free(g.buf);
    free(other.buf);
    t_ledger_close(&fresh);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(replay_expiry_and_ledger),
        H_TEST(bad_and_high_s_signatures),
        H_TEST(signer_rules),
        H_TEST(check_refuses_before_a_block),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
