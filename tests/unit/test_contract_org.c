/*
 * test_contract_org.c - the organisations contract under the engine's store: the
 * genesis (accepted once, signed by every founder), members added and removed by the
 * organisation's threshold with weights, organisations admitted, changed and removed
 * by vote, and the ledger's members (the consensus node set) following admissions and
 * removals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_contract_util.h"

struct world {
    struct t_ledger l;
    struct t_id a, b, c;
};

static void world_open(struct world *w, const char *name)
{
    t_ledger_open(&w->l, name, NULL);
    t_id_new(&w->a);
    t_id_new(&w->b);
    t_id_new(&w->c);
    t_found(&w->l, SIGNERS(&w->a, &w->b, &w->c), NULL, NULL, 0);
}

static void world_close(struct world *w)
{
    t_check_state(&w->l);
    t_ledger_close(&w->l);
    t_id_free(&w->a);
    t_id_free(&w->b);
    t_id_free(&w->c);
}

static int members(struct t_ledger *l, struct corio_ledger_member *out)
{
    return corio_contracts_app()->members(NULL, t_db(l), out, CORIO_STORE_MAX_MEMBERS);
}

static void genesis_founds_once(void **state)
{
    (void)state;
    struct t_ledger l;
    struct t_id a, b, x;
    t_ledger_open(&l, "g", NULL);
    t_id_new(&a);
    t_id_new(&b);
    t_id_new(&x);
    struct corio_ledger_member m[CORIO_STORE_MAX_MEMBERS];
    assert_int_equal(members(&l, m), CORIO_ERR_NOTFOUND); /* nothing decided before genesis */

    /* Anything before the genesis is refused; so is a genesis a founder did not sign,
     * one signed by a stranger too, one with an unknown parameter. */
    struct t_args ma = t_member_args(CORIO_TX_MEMBER_ADD, &a, &x, 1);
    REFUSE(&l, t_make(&l, CORIO_TX_MEMBER_ADD, ma.buf, ma.len, T_TTL, SIGNERS(&a)),
           "no genesis yet");
    struct t_tx g = t_genesis(&l, SIGNERS(&a, &b), NULL, NULL, 0);
    struct corio_tx t;
    assert_int_equal(corio_tx_decode(g.buf, g.len, &t), CORIO_OK);
    struct t_tx one = t_make(&l, CORIO_TX_GENESIS, t.body.args, t.body.args_len, T_TTL,
                             SIGNERS(&a));
    REFUSE(&l, one, "did not sign the genesis");
    REFUSE(&l, t_make(&l, CORIO_TX_GENESIS, t.body.args, t.body.args_len, T_TTL,
                      SIGNERS(&a, &b, &x)),
           "unknown signer");
    const char *pn[] = {"vote.quorum"};
    uint64_t pv[] = {101};
    REFUSE(&l, t_genesis(&l, SIGNERS(&a, &b), pn, pv, 1), "parameter vote.quorum");
    pn[0] = "no.such";
    pv[0] = 1;
    REFUSE(&l, t_genesis(&l, SIGNERS(&a, &b), pn, pv, 1), "parameter no.such");

    struct t_result r = t_apply(&l, &g);
    assert_int_equal(r.status, CORIO_TX_ACCEPTED);
    memcpy(l.genesis, g.id, 32);
    free(g.buf);
    uint8_t gid[32];
    assert_int_equal(corio_contracts_genesis(t_db(&l), gid), CORIO_OK);
    assert_memory_equal(gid, l.genesis, 32);
    REFUSE(&l, t_genesis(&l, SIGNERS(&a, &b), NULL, NULL, 0), "already has its genesis");

    int n = members(&l, m);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].id, 1);
    assert_string_equal(m[0].address, "127.0.0.1:7001");
    assert_string_equal(m[1].api, "http://127.0.0.1:8002");
    assert_int_equal(t_int(&l, "SELECT count(*) FROM ctr_org WHERE active = 1"), 2);
    t_check_state(&l);
    t_ledger_close(&l);
    t_id_free(&a);
    t_id_free(&b);
    t_id_free(&x);
}

static void members_by_threshold_and_weight(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "members");
    struct t_id p, q, r;
    t_id_new(&p);
    t_id_new(&q);
    t_id_new(&r);
    struct t_ledger *l = &w.l;

    struct t_args ap = t_member_args(CORIO_TX_MEMBER_ADD, &w.a, &p, 2);
    /* The newcomer proves its key; the organisation consents. */
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, ap.buf, ap.len, T_TTL, SIGNERS(&w.a)),
           "did not sign with its key 0");
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, ap.buf, ap.len, T_TTL, SIGNERS(&p)),
           "not signed for");
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, ap.buf, ap.len, T_TTL, SIGNERS(&w.b, &p)),
           "not signed for");
    ACCEPT(l, t_make(l, CORIO_TX_MEMBER_ADD, ap.buf, ap.len, T_TTL, SIGNERS(&w.a, &p)));
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, ap.buf, ap.len, T_TTL, SIGNERS(&w.a, &p)),
           "already exists");
    /* A member signs for its organisation (threshold 1, weight 2). */
    struct t_args aq = t_member_args(CORIO_TX_MEMBER_ADD, &w.a, &q, 1);
    ACCEPT(l, t_make(l, CORIO_TX_MEMBER_ADD, aq.buf, aq.len, T_TTL, SIGNERS(&p, &q)));
    /* ... but not for another organisation. */
    struct t_args ar = t_member_args(CORIO_TX_MEMBER_ADD, &w.b, &r, 1);
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, ar.buf, ar.len, T_TTL, SIGNERS(&p, &r)),
           "not signed for");

    /* Raise a's threshold to 3 by vote: then p (2) alone is not enough, p + q (3) is,
     * a's own key is. */
    struct corio_tx_org only = {.has_threshold = true, .threshold = 3};
    uint8_t om[256];
    int on = corio_tx_org_encode(&only, om, sizeof om);
    assert_true(on > 0);
    struct corio_tx_proposal_payload pl = {.action = CORIO_MEMBERSHIP_UPDATE, .has_target = true,
                                           .has_org = true, .org = om, .org_len = (size_t)on};
    memcpy(pl.target, w.a.did.id, CORIO_DID_ID_LEN);
    struct t_args pa = t_proposal_args(&w.a, CORIO_PROPOSAL_MEMBERSHIP, &pl, 3);
    struct t_tx prop = t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a));
    uint8_t pid[32];
    memcpy(pid, prop.id, 32);
    ACCEPT(l, prop);
    uint64_t closes = t_height(l) + 3;
    struct t_args va = t_vote_args(pid, &w.a, CORIO_VOTE_YES);
    struct t_args vb = t_vote_args(pid, &w.b, CORIO_VOTE_YES);
    ACCEPT(l, t_make(l, CORIO_TX_VOTE, va.buf, va.len, T_TTL, SIGNERS(&w.a)));
    ACCEPT(l, t_make(l, CORIO_TX_VOTE, vb.buf, vb.len, T_TTL, SIGNERS(&w.b)));
    t_until(l, closes);
    assert_int_equal(t_int(l, "SELECT threshold FROM ctr_org WHERE node = 1"), 3);

    struct t_args ar2 = t_member_args(CORIO_TX_MEMBER_ADD, &w.a, &r, 1);
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, ar2.buf, ar2.len, T_TTL, SIGNERS(&p, &r)),
           "weight is 2 of the 3");
    ACCEPT(l, t_make(l, CORIO_TX_MEMBER_ADD, ar2.buf, ar2.len, T_TTL, SIGNERS(&p, &q, &r)));

    /* Removal: by the organisation; afterwards the person's signature counts for
     * nothing and is refused outright. */
    struct t_args rq = t_member_args(CORIO_TX_MEMBER_REMOVE, &w.a, &q, 0);
    struct t_args rqb = t_member_args(CORIO_TX_MEMBER_REMOVE, &w.b, &q, 0);
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_REMOVE, rqb.buf, rqb.len, T_TTL, SIGNERS(&w.b)),
           "is not a member of");
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_REMOVE, rq.buf, rq.len, T_TTL, SIGNERS(&q)),
           "weight is 1 of the 3");
    ACCEPT(l, t_make(l, CORIO_TX_MEMBER_REMOVE, rq.buf, rq.len, T_TTL, SIGNERS(&w.a)));
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_REMOVE, rq.buf, rq.len, T_TTL, SIGNERS(&w.a)),
           "is not a member of");
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_REMOVE, rq.buf, rq.len, T_TTL, SIGNERS(&q)),
           "is deactivated");
    t_id_free(&p);
    t_id_free(&q);
    t_id_free(&r);
    world_close(&w);
}

/* Proposes a membership change by a, has a and b vote yes, closes it. Returns the
 * proposal's status. */
static int64_t membership_vote(struct world *w, const struct corio_tx_proposal_payload *pl,
                               struct t_id *extra_signer)
{
    struct t_ledger *l = &w->l;
    struct t_args pa = t_proposal_args(&w->a, CORIO_PROPOSAL_MEMBERSHIP, pl, 3);
    struct t_tx prop = extra_signer ? t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL,
                                             SIGNERS(&w->a, extra_signer))
                                    : t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL,
                                             SIGNERS(&w->a));
    uint8_t pid[32];
    memcpy(pid, prop.id, 32);
    ACCEPT(l, prop);
    uint64_t closes = t_height(l) + 3;
    struct t_args va = t_vote_args(pid, &w->a, CORIO_VOTE_YES);
    struct t_args vb = t_vote_args(pid, &w->b, CORIO_VOTE_YES);
    ACCEPT(l, t_make(l, CORIO_TX_VOTE, va.buf, va.len, T_TTL, SIGNERS(&w->a)));
    ACCEPT(l, t_make(l, CORIO_TX_VOTE, vb.buf, vb.len, T_TTL, SIGNERS(&w->b)));
    t_until(l, closes);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(t_db(l), "SELECT status FROM ctr_proposal WHERE id = ?",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(s, 1, pid, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t st = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return st;
}

static void organisations_admitted_and_removed_by_vote(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "admit");
    struct t_ledger *l = &w.l;
    struct t_id d;
    t_id_new(&d);
    struct t_args om = t_org_map(&d, 4, true);
    struct corio_tx_proposal_payload pl = {.action = CORIO_MEMBERSHIP_ADMIT, .has_org = true,
                                           .org = om.buf, .org_len = om.len};
    struct t_args pa = t_proposal_args(&w.a, CORIO_PROPOSAL_MEMBERSHIP, &pl, 3);
    /* The newcomer must prove its key; a non-member cannot propose. */
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a)),
           "did not sign with its key 0");
    struct t_args pd = t_proposal_args(&d, CORIO_PROPOSAL_MEMBERSHIP, &pl, 3);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pd.buf, pd.len, T_TTL, SIGNERS(&d)),
           "is not a member organisation");
    /* A node id already in use. */
    struct t_args dup = t_org_map(&d, 2, true);
    struct corio_tx_proposal_payload pdup = pl;
    pdup.org = dup.buf;
    pdup.org_len = dup.len;
    struct t_args pda = t_proposal_args(&w.a, CORIO_PROPOSAL_MEMBERSHIP, &pdup, 3);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pda.buf, pda.len, T_TTL, SIGNERS(&w.a, &d)),
           "already another organisation's");

    assert_int_equal(membership_vote(&w, &pl, &d), CTR_PASSED);
    struct corio_ledger_member m[CORIO_STORE_MAX_MEMBERS];
    assert_int_equal(members(l, m), 4);
    assert_int_equal(m[3].id, 4);
    /* d is a member now: it votes and proposes. */
    struct t_id p;
    t_id_new(&p);
    struct t_args ap = t_member_args(CORIO_TX_MEMBER_ADD, &d, &p, 1);
    ACCEPT(l, t_make(l, CORIO_TX_MEMBER_ADD, ap.buf, ap.len, T_TTL, SIGNERS(&d, &p)));

    /* Removal by vote: the node leaves the member set, d's key stops counting. */
    struct corio_tx_proposal_payload rm = {.action = CORIO_MEMBERSHIP_REMOVE, .has_target = true};
    memcpy(rm.target, d.did.id, CORIO_DID_ID_LEN);
    /* With 4 organisations of weight 1, a and b are half: quorum 50 % is met, but
     * 2 yes of 2 passes. */
    assert_int_equal(membership_vote(&w, &rm, NULL), CTR_PASSED);
    assert_int_equal(members(l, m), 3);
    struct t_id q;
    t_id_new(&q);
    struct t_args aq = t_member_args(CORIO_TX_MEMBER_ADD, &d, &q, 1);
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, aq.buf, aq.len, T_TTL, SIGNERS(&d, &q)),
           "deactivated");
    REFUSE(l, t_make(l, CORIO_TX_MEMBER_ADD, aq.buf, aq.len, T_TTL, SIGNERS(&w.a, &q)),
           "not a member organisation");
    /* Removing a removed organisation is refused when proposed. */
    struct t_args pr = t_proposal_args(&w.a, CORIO_PROPOSAL_MEMBERSHIP, &rm, 3);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pr.buf, pr.len, T_TTL, SIGNERS(&w.a)),
           "not a member organisation");
    t_id_free(&d);
    t_id_free(&p);
    t_id_free(&q);
    world_close(&w);
}

static void admission_fails_when_the_node_is_taken_meanwhile(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "meanwhile");
    struct t_ledger *l = &w.l;
    struct t_id d, e;
    t_id_new(&d);
    t_id_new(&e);
    /* Two admissions for node 5 in flight; the first to close wins, the second is
     * recorded as passed but failed, with nothing applied. */
    struct t_args od = t_org_map(&d, 5, true), oe = t_org_map(&e, 5, true);
    struct corio_tx_proposal_payload pd = {.action = CORIO_MEMBERSHIP_ADMIT, .has_org = true,
                                           .org = od.buf, .org_len = od.len};
    struct corio_tx_proposal_payload pe = pd;
    pe.org = oe.buf;
    pe.org_len = oe.len;
    struct t_args ad = t_proposal_args(&w.a, CORIO_PROPOSAL_MEMBERSHIP, &pd, 2);
    struct t_args ae = t_proposal_args(&w.a, CORIO_PROPOSAL_MEMBERSHIP, &pe, 2);
    struct t_tx td = t_make(l, CORIO_TX_PROPOSAL, ad.buf, ad.len, T_TTL, SIGNERS(&w.a, &d));
    struct t_tx te = t_make(l, CORIO_TX_PROPOSAL, ae.buf, ae.len, T_TTL, SIGNERS(&w.a, &e));
    uint8_t *txs[2] = {td.buf, te.buf};
    size_t lens[2] = {td.len, te.len};
    struct t_result r[2];
    t_block(l, txs, lens, 2, r);
    assert_int_equal(r[0].status, CORIO_TX_ACCEPTED);
    assert_int_equal(r[1].status, CORIO_TX_ACCEPTED);
    struct t_tx votes[4];
    const uint8_t *ids[2] = {td.id, te.id};
    for (int i = 0; i < 2; i++) {
        struct t_args va = t_vote_args(ids[i], &w.a, CORIO_VOTE_YES);
        struct t_args vb = t_vote_args(ids[i], &w.b, CORIO_VOTE_YES);
        votes[2 * i] = t_make(l, CORIO_TX_VOTE, va.buf, va.len, T_TTL, SIGNERS(&w.a));
        votes[2 * i + 1] = t_make(l, CORIO_TX_VOTE, vb.buf, vb.len, T_TTL, SIGNERS(&w.b));
    }
    uint8_t *vt[4];
    size_t vl[4];
    for (int i = 0; i < 4; i++) {
        vt[i] = votes[i].buf;
        vl[i] = votes[i].len;
    }
    struct t_result vr[4];
    t_block(l, vt, vl, 4, vr);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(vr[i].status, CORIO_TX_ACCEPTED);
        free(votes[i].buf);
    }
    t_until(l, t_height(l) + 1);
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_org WHERE node = 5"), 1);
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_proposal WHERE status = 1"), 1);
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_proposal WHERE status = 4"
                              " AND result LIKE '%already another%'"),
                     1);
    free(td.buf);
    free(te.buf);
    t_id_free(&d);
    t_id_free(&e);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(genesis_founds_once),
        H_TEST(members_by_threshold_and_weight),
        H_TEST(organisations_admitted_and_removed_by_vote),
        H_TEST(admission_fails_when_the_node_is_taken_meanwhile),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
