/*
 * test_contract_release.c - rights and firmware releases: rights granted and withdrawn
 * by vote only; a release proposed only by a right holder; approved once k of the n
 * approver organisations signed it (the proposer's own signature counting); refusals
 * for non-approvers, repeats, unknown releases and manifests proposed twice.
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

static void world_open(struct world *w, const char *name, uint64_t k)
{
    t_ledger_open(&w->l, name, NULL);
    t_id_new(&w->a);
    t_id_new(&w->b);
    t_id_new(&w->c);
    const char *pn[] = {"release.k"};
    uint64_t pv[] = {k};
    t_found(&w->l, SIGNERS(&w->a, &w->b, &w->c), pn, pv, 1);
}

static void world_close(struct world *w)
{
    t_check_state(&w->l);
    t_ledger_close(&w->l);
    t_id_free(&w->a);
    t_id_free(&w->b);
    t_id_free(&w->c);
}

static struct corio_tx_proposal_payload right(const struct t_id *org, bool grant)
{
    struct corio_tx_proposal_payload p = {.class_ = "sensor", .class_len = 6, .grant = grant};
    memcpy(p.right_org, org->did.id, CORIO_DID_ID_LEN);
    return p;
}

static struct t_tx propose(struct t_ledger *l, struct t_id *org, uint8_t digest_byte)
{
    struct corio_tx_release r = {.class_ = "sensor", .class_len = 6, .version = "1.4.2",
                                 .version_len = 5};
    memcpy(r.org, org->did.id, CORIO_DID_ID_LEN);
    memset(r.digest, digest_byte, 32);
    struct t_args a;
    a.len = (size_t)corio_tx_release_encode(CORIO_TX_RELEASE_PROPOSE, &r, a.buf, sizeof a.buf);
    return t_make(l, CORIO_TX_RELEASE_PROPOSE, a.buf, a.len, T_TTL, &org, 1);
}

static struct t_tx approve(struct t_ledger *l, const uint8_t id[32], struct t_id *org,
                           struct t_id *signer)
{
    struct corio_tx_release r = {0};
    memcpy(r.release, id, 32);
    memcpy(r.org, org->did.id, CORIO_DID_ID_LEN);
    struct t_args a;
    a.len = (size_t)corio_tx_release_encode(CORIO_TX_RELEASE_APPROVE, &r, a.buf, sizeof a.buf);
    return t_make(l, CORIO_TX_RELEASE_APPROVE, a.buf, a.len, T_TTL, &signer, 1);
}

static void rights_by_vote(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "rights", 1);
    struct t_ledger *l = &w.l;
    struct corio_tx_proposal_payload withdraw = right(&w.a, false);
    struct t_args pa = t_proposal_args(&w.a, CORIO_PROPOSAL_RIGHTS, &withdraw, 2);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a)), "holds no right");
    /* Without a right, no release. */
    REFUSE(l, propose(l, &w.a, 1), "holds no right to release firmware for class sensor");
    struct corio_tx_proposal_payload grant = right(&w.a, true);
    uint8_t id[32];
    /* A grant that does not pass changes nothing. */
    assert_int_equal(t_pass(l, &w.b, CORIO_PROPOSAL_RIGHTS, &grant, SIGNERS(&w.b), id),
                     CTR_NO_QUORUM); /* 1 of 3 voted */
    REFUSE(l, propose(l, &w.a, 1), "holds no right");
    assert_int_equal(t_pass(l, &w.b, CORIO_PROPOSAL_RIGHTS, &grant, SIGNERS(&w.a, &w.b), id),
                     CTR_PASSED);
    pa = t_proposal_args(&w.a, CORIO_PROPOSAL_RIGHTS, &grant, 2);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a)),
           "already holds the right");
    ACCEPT(l, propose(l, &w.a, 1));
    /* k = 1 and a is an approver: its own proposal approves it. */
    assert_int_equal(t_int(l, "SELECT status FROM ctr_release"), 1);
    /* Withdrawn by vote: no more releases by a. */
    assert_int_equal(t_pass(l, &w.b, CORIO_PROPOSAL_RIGHTS, &withdraw, SIGNERS(&w.b, &w.c), id),
                     CTR_PASSED);
    REFUSE(l, propose(l, &w.a, 2), "holds no right");
    world_close(&w);
}

static void k_of_n(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "kofn", 2);
    struct t_ledger *l = &w.l;
    uint8_t id[32];
    struct corio_tx_proposal_payload grant = right(&w.a, true);
    assert_int_equal(t_pass(l, &w.a, CORIO_PROPOSAL_RIGHTS, &grant, SIGNERS(&w.a, &w.b), id),
                     CTR_PASSED);
    /* c stops being an approver (n = 2). */
    struct corio_tx_org only = {.has_approver = true, .approver = false};
    uint8_t om[64];
    int on = corio_tx_org_encode(&only, om, sizeof om);
    struct corio_tx_proposal_payload up = {.action = CORIO_MEMBERSHIP_UPDATE, .has_target = true,
                                           .has_org = true, .org = om, .org_len = (size_t)on};
    memcpy(up.target, w.c.did.id, CORIO_DID_ID_LEN);
    assert_int_equal(t_pass(l, &w.a, CORIO_PROPOSAL_MEMBERSHIP, &up, SIGNERS(&w.a, &w.b), id),
                     CTR_PASSED);

    struct t_tx p = propose(l, &w.a, 7);
    uint8_t rid[32];
    memcpy(rid, p.id, 32);
    ACCEPT(l, p);
    REFUSE(l, propose(l, &w.a, 7), "already proposed");
    assert_int_equal(t_int(l, "SELECT status FROM ctr_release"), 0); /* 1 of k = 2 */
    uint8_t none[32] = {9};
    REFUSE(l, approve(l, none, &w.b, &w.b), "no such release");
    REFUSE(l, approve(l, rid, &w.c, &w.c), "is not a release approver");
    REFUSE(l, approve(l, rid, &w.b, &w.a), "not signed for");
    REFUSE(l, approve(l, rid, &w.a, &w.a), "already approved this release");
    ACCEPT(l, approve(l, rid, &w.b, &w.b));
    assert_int_equal(t_int(l, "SELECT status FROM ctr_release"), 1);
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_approval"), 2);
    REFUSE(l, approve(l, rid, &w.b, &w.b), "already approved");
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(rights_by_vote),
        H_TEST(k_of_n),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
