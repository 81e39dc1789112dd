/*
 * test_contract_identity.c - key rotation on the ledger: key k+1 needs a link signed by
 * key k AND the owner organisation (its key, or its members to its threshold; for an
 * organisation's own key, its members only); every refusal of the rule; the old key
 * stops signing; the history stays.
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
    struct t_args m = t_member_args(CORIO_TX_MEMBER_ADD, &w->a, &w->p, 1);
    ACCEPT(&w->l, t_make(&w->l, CORIO_TX_MEMBER_ADD, m.buf, m.len, T_TTL, SIGNERS(&w->a, &w->p)));
}

static void world_close(struct world *w)
{
    t_check_state(&w->l);
    t_ledger_close(&w->l);
    t_id_free(&w->a);
    t_id_free(&w->b);
    t_id_free(&w->p);
}

struct link {
    uint8_t buf[2048];
    size_t len;
};

/* A link for subject's key number k (made with the key object signing, which should be
 * the subject's current one), endorsed by each of endorsers. */
static struct link make_link(const struct t_id *subject, const struct corio_key *signing,
                             const uint8_t org[CORIO_DID_ID_LEN], uint32_t k,
                             const uint8_t new_key[CORIO_TX_KEY_LEN], struct t_id **endorsers,
                             size_t n)
{
    struct corio_rotation_statement st = {.key_number = k};
    memcpy(st.subject, subject->did.id, CORIO_DID_ID_LEN);
    memcpy(st.org, org, CORIO_DID_ID_LEN);
    memcpy(st.new_key, new_key, CORIO_TX_KEY_LEN);
    struct link l;
    int len = corio_rotation_link_make(signing, &st, l.buf, sizeof l.buf);
    assert_true(len > 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t out[2048];
        len = corio_rotation_link_endorse(&endorsers[i]->key, &endorsers[i]->did, l.buf,
                                          (size_t)len, out, sizeof out);
        assert_true(len > 0);
        memcpy(l.buf, out, (size_t)len);
    }
    l.len = (size_t)len;
    return l;
}

static struct t_tx rotate_tx(struct t_ledger *l, const struct link *k, struct t_id *signer)
{
    struct corio_tx_rotate r = {.link = k->buf, .link_len = k->len};
    struct t_args a;
    int n = corio_tx_rotate_encode(&r, a.buf, sizeof a.buf);
    assert_true(n > 0);
    return t_make(l, CORIO_TX_DID_ROTATE, a.buf, (size_t)n, T_TTL, &signer, 1);
}

/* The identity x now uses next's key as key number k. */
static void adopt(struct t_id *x, struct t_id *next, uint32_t k)
{
    struct corio_key old = x->key;
    x->key = next->key;
    next->key = old;
    memcpy(x->pub, next->pub, sizeof x->pub);
    x->did.key = k;
}

static void person_rotates(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "person");
    struct t_ledger *l = &w.l;
    struct t_id k1, k2, k3;
    t_id_new(&k1);
    t_id_new(&k2);
    t_id_new(&k3);

    /* Without the organisation, with a stranger organisation, naming another one. */
    struct link lk = make_link(&w.p, &w.p.key, w.a.did.id, 1, k1.pub, NULL, 0);
    REFUSE(l, rotate_tx(l, &lk, &w.p), "endorsement weighs 0 of the 1");
    lk = make_link(&w.p, &w.p.key, w.a.did.id, 1, k1.pub, SIGNERS(&w.b));
    REFUSE(l, rotate_tx(l, &lk, &w.p), "does not sign for the owner organisation");
    lk = make_link(&w.p, &w.p.key, w.b.did.id, 1, k1.pub, SIGNERS(&w.b));
    REFUSE(l, rotate_tx(l, &lk, &w.p), "not the owner organisation");
    /* Skipping a number, a key of another identity, a link not signed by key 0. */
    lk = make_link(&w.p, &w.p.key, w.a.did.id, 2, k1.pub, SIGNERS(&w.a));
    REFUSE(l, rotate_tx(l, &lk, &w.p), "the next key of");
    lk = make_link(&w.p, &w.p.key, w.a.did.id, 1, w.b.pub, SIGNERS(&w.a));
    REFUSE(l, rotate_tx(l, &lk, &w.p), "already used");
    lk = make_link(&w.p, &k2.key, w.a.did.id, 1, k1.pub, SIGNERS(&w.a));
    REFUSE(l, rotate_tx(l, &lk, &w.p), "does not verify");

    /* The rule kept: key 0 and the organisation. Anyone may carry the link. */
    lk = make_link(&w.p, &w.p.key, w.a.did.id, 1, k1.pub, SIGNERS(&w.a));
    ACCEPT(l, rotate_tx(l, &lk, &w.b));
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_key WHERE number = 1"), 1);
    /* Key 0 no longer signs; the same link again is refused (it goes backwards now). */
    struct t_id q;
    t_id_new(&q);
    struct t_args m = t_member_args(CORIO_TX_MEMBER_ADD, &w.a, &q, 1);
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, m.buf, m.len, T_TTL, SIGNERS(&w.p, &q)),
           "signed with key 0; its current key is 1");
    REFUSE(l, rotate_tx(l, &lk, &w.b), "key number 1: the next key");
    adopt(&w.p, &k1, 1);
    ACCEPT(l, t_make(l, CORIO_TX_MEMBER_ADD, m.buf, m.len, T_TTL, SIGNERS(&w.p, &q)));

    /* Key 2: signed by the old key 0 (which the kid would call key 1) is refused; a
     * member endorsing for its organisation counts. Going back to an earlier key is
     * refused. */
    lk = make_link(&w.p, &k1.key /* the retired key 0 */, w.a.did.id, 2, k2.pub, SIGNERS(&w.a));
    REFUSE(l, rotate_tx(l, &lk, &w.b), "does not verify");
    lk = make_link(&w.p, &w.p.key, w.a.did.id, 2, w.p.key0, SIGNERS(&w.a));
    REFUSE(l, rotate_tx(l, &lk, &w.b), "already used");
    lk = make_link(&w.p, &w.p.key, w.a.did.id, 2, k2.pub, SIGNERS(&q));
    ACCEPT(l, rotate_tx(l, &lk, &w.b));
    assert_int_equal(t_int(l, "SELECT key_number FROM ctr_identity WHERE kind = 2"
                              " ORDER BY key_number DESC LIMIT 1"),
                     2);
    t_id_free(&k1);
    t_id_free(&k2);
    t_id_free(&k3);
    t_id_free(&q);
    world_close(&w);
}

static void organisation_and_device_rotate(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "org");
    struct t_ledger *l = &w.l;
    struct t_id k1, dev, d1;
    t_id_new(&k1);
    t_id_new(&dev);
    t_id_new(&d1);
    /* An organisation's own key cannot endorse itself: its members must. */
    struct link lk = make_link(&w.a, &w.a.key, w.a.did.id, 1, k1.pub, NULL, 0);
    REFUSE(l, rotate_tx(l, &lk, &w.a), "endorsement weighs 0 of the 1");
    lk = make_link(&w.a, &w.a.key, w.a.did.id, 1, k1.pub, SIGNERS(&w.p));
    ACCEPT(l, rotate_tx(l, &lk, &w.a));
    adopt(&w.a, &k1, 1);
    /* The organisation signs with key 1 now. */
    t_register(l, &w.a, &dev, CORIO_DEVICE_KIND_DEVICE);
    /* A device rotates with its organisation's endorsement, not alone. */
    lk = make_link(&dev, &dev.key, w.a.did.id, 1, d1.pub, NULL, 0);
    REFUSE(l, rotate_tx(l, &lk, &dev), "endorsement weighs 0");
    lk = make_link(&dev, &dev.key, w.a.did.id, 1, d1.pub, SIGNERS(&w.a));
    ACCEPT(l, rotate_tx(l, &lk, &dev));
    assert_int_equal(t_int(l, "SELECT key_number FROM ctr_identity WHERE kind = 3"), 1);
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_key"), 6); /* a, b, p, dev: 4 + 2 */
    t_id_free(&k1);
    t_id_free(&dev);
    t_id_free(&d1);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(person_rotates),
        H_TEST(organisation_and_device_rotate),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
