/*
 * test_contract_vote.c - proposals and votes: who may vote (member organisations, by
 * their threshold), one vote per organisation that a new vote replaces, no vote after
 * the close, the tally by height (quorum, threshold, weights), parameters, decisions,
 * and contract versions: a vote activates tally version 2 at a height, the rule
 * switches there, and a node whose build lacks version 2 halts at that height instead
 * of forking. Every block is also applied by two more nodes (mirrors) whose hashes must
 * match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_contract_util.h"

struct world {
    struct t_ledger l, m1, m2;
    struct t_id a, b, c, p;
};

static void world_open(struct world *w, const char *name, const char **pn, const uint64_t *pv,
                       size_t np)
{
    t_ledger_open(&w->l, name, NULL);
    t_ledger_open(&w->m1, h_strf("%s-m1", name), NULL);
    t_ledger_open(&w->m2, h_strf("%s-m2", name), NULL);
    w->l.mirror[0] = &w->m1;
    w->l.mirror[1] = &w->m2;
    w->l.nmirror = 2;
    t_id_new(&w->a);
    t_id_new(&w->b);
    t_id_new(&w->c);
    t_id_new(&w->p);
    t_found(&w->l, SIGNERS(&w->a, &w->b, &w->c), pn, pv, np);
    struct t_args m = t_member_args(CORIO_TX_MEMBER_ADD, &w->a, &w->p, 1);
    ACCEPT(&w->l, t_make(&w->l, CORIO_TX_MEMBER_ADD, m.buf, m.len, T_TTL, SIGNERS(&w->a, &w->p)));
}

static void world_close(struct world *w)
{
    t_check_state(&w->l);
    t_check_state(&w->m1);
    t_ledger_close(&w->l);
    t_ledger_close(&w->m1);
    t_ledger_close(&w->m2);
    t_id_free(&w->a);
    t_id_free(&w->b);
    t_id_free(&w->c);
    t_id_free(&w->p);
}

static struct corio_tx_proposal_payload decision(void)
{
    struct corio_tx_proposal_payload d = {.title = "pricing", .title_len = 7,
                                          .text = "5 per device per month", .text_len = 22};
    return d;
}

static int64_t col(struct t_ledger *l, const char *what, const uint8_t id[32])
{
    sqlite3_stmt *s;
    const char *sql = h_strf("SELECT %s FROM ctr_proposal WHERE id = ?", what);
    assert_int_equal(sqlite3_prepare_v2(t_db(l), sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_blob(s, 1, id, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static struct t_tx vote(struct t_ledger *l, const uint8_t id[32], struct t_id *org, uint64_t c,
                        struct t_id *signer)
{
    struct t_args v = t_vote_args(id, org, c);
    return t_make(l, CORIO_TX_VOTE, v.buf, v.len, T_TTL, &signer, 1);
}

static void who_votes_and_how_often(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "votes", NULL, NULL, 0);
    struct t_ledger *l = &w.l;
    struct corio_tx_proposal_payload d = decision();
    struct t_args pa = t_proposal_args(&w.a, CORIO_PROPOSAL_DECISION, &d, 10);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.b)), "not signed for");
    struct t_args bad = t_proposal_args(&w.a, CORIO_PROPOSAL_DECISION, &d, 200000);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, bad.buf, bad.len, T_TTL, SIGNERS(&w.a)),
           "voting period of 200000 heights is outside");
    struct t_tx prop = t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a));
    uint8_t id[32];
    memcpy(id, prop.id, 32);
    ACCEPT(l, prop);
    uint64_t closes = t_height(l) + 10;

    /* Non-members do not vote: a person is not a member organisation, an organisation
     * votes by its own signers only, an unknown proposal is refused. */
    REFUSE(l, vote(l, id, &w.p, CORIO_VOTE_YES, &w.p), "is not a member organisation");
    REFUSE(l, vote(l, id, &w.b, CORIO_VOTE_YES, &w.a), "not signed for");
    uint8_t none[32] = {1};
    REFUSE(l, vote(l, none, &w.a, CORIO_VOTE_YES, &w.a), "no such proposal");
    /* One vote per organisation: a changed vote replaces the first, a member of the
     * organisation votes for it. */
    ACCEPT(l, vote(l, id, &w.a, CORIO_VOTE_YES, &w.a));
    ACCEPT(l, vote(l, id, &w.a, CORIO_VOTE_NO, &w.p));
    ACCEPT(l, vote(l, id, &w.b, CORIO_VOTE_YES, &w.b));
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_vote"), 2);
    assert_int_equal(t_int(l, "SELECT choice FROM ctr_vote v JOIN ctr_org o ON o.id = v.org"
                              " WHERE o.node = 1"),
                     CORIO_VOTE_NO);
    t_until(l, closes - 1);
    /* The close is the start of block `closes`: a vote in it is too late. */
    REFUSE(l, vote(l, id, &w.c, CORIO_VOTE_YES, &w.c), "the vote closed at height");
    /* Tally: 1 yes, 1 no, of 3: quorum (2 of 3 >= 50 %) but not more than 50 % yes. */
    assert_int_equal(col(l, "status", id), CTR_REJECTED);
    assert_int_equal(col(l, "yes", id), 1);
    assert_int_equal(col(l, "no", id), 1);
    assert_int_equal(col(l, "total", id), 3);
    assert_int_equal(col(l, "version", id), 1);
    REFUSE(l, vote(l, id, &w.c, CORIO_VOTE_YES, &w.c), "the vote closed at height");
    world_close(&w);
}

static void quorum_weights_and_parameters(void **state)
{
    (void)state;
    const char *pn[] = {"vote.quorum"};
    uint64_t pv[] = {60};
    struct world w;
    world_open(&w, "quorum", pn, pv, 1);
    struct t_ledger *l = &w.l;
    struct corio_tx_proposal_payload d = decision();
    uint8_t id[32];
    /* 1 of 3 voting is below a 60 % quorum; 2 of 3 is above. Abstaining counts. */
    assert_int_equal(t_pass(l, &w.a, CORIO_PROPOSAL_DECISION, &d, SIGNERS(&w.a), id),
                     CTR_NO_QUORUM);
    assert_int_equal(t_pass(l, &w.a, CORIO_PROPOSAL_DECISION, &d, SIGNERS(&w.a, &w.b), id),
                     CTR_PASSED);

    /* Weights: c weighs 3 by vote; then c alone is quorate and decides. */
    struct corio_tx_org only = {.has_weight = true, .weight = 3};
    uint8_t om[64];
    int on = corio_tx_org_encode(&only, om, sizeof om);
    struct corio_tx_proposal_payload up = {.action = CORIO_MEMBERSHIP_UPDATE, .has_target = true,
                                           .has_org = true, .org = om, .org_len = (size_t)on};
    memcpy(up.target, w.c.did.id, CORIO_DID_ID_LEN);
    assert_int_equal(t_pass(l, &w.a, CORIO_PROPOSAL_MEMBERSHIP, &up, SIGNERS(&w.a, &w.b), id),
                     CTR_PASSED);
    assert_int_equal(t_pass(l, &w.a, CORIO_PROPOSAL_DECISION, &d, SIGNERS(&w.c), id), CTR_PASSED);
    assert_int_equal(col(l, "yes", id), 3);
    assert_int_equal(col(l, "total", id), 5);

    /* Parameters: only known names in range, changed by vote. */
    struct corio_tx_proposal_payload pp = {.name = "vote.quorum", .name_len = 11, .value = 101};
    struct t_args pa = t_proposal_args(&w.a, CORIO_PROPOSAL_PARAMETER, &pp, 2);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a)),
           "out of its range");
    pp.name = "vote.nonsense";
    pp.name_len = 13;
    pp.value = 1;
    pa = t_proposal_args(&w.a, CORIO_PROPOSAL_PARAMETER, &pp, 2);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a)), "unknown");
    pp.name = "vote.quorum";
    pp.name_len = 11;
    pp.value = 100;
    assert_int_equal(t_pass(l, &w.c, CORIO_PROPOSAL_PARAMETER, &pp, SIGNERS(&w.c), id),
                     CTR_PASSED);
    assert_int_equal(t_int(l, "SELECT value FROM ctr_param WHERE name = 'vote.quorum'"), 100);
    /* A period outside the new bounds fails at the close, changing nothing. */
    pp.name = "vote.period_max";
    pp.name_len = 15;
    pp.value = 5; /* below vote.period (10) */
    assert_int_equal(t_pass(l, &w.c, CORIO_PROPOSAL_PARAMETER, &pp, SIGNERS(&w.a, &w.b, &w.c), id),
                     CTR_FAILED);
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_param WHERE name = 'vote.period_max'"),
                     0);
    world_close(&w);
}

static void version_proposal_rules(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "version", NULL, NULL, 0);
    struct t_ledger *l = &w.l;
    struct corio_tx_proposal_payload v = {.name = "vote", .name_len = 4, .value = 2, .height = 5};
    struct t_args pa = t_proposal_args(&w.a, CORIO_PROPOSAL_VERSION, &v, 2);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a)),
           "is not after the vote closes");
    v.value = 1;
    v.height = 1000;
    pa = t_proposal_args(&w.a, CORIO_PROPOSAL_VERSION, &v, 2);
    REFUSE(l, t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&w.a)),
           "is not newer");
    world_close(&w);
}

static void version_two_takes_over_and_an_old_node_halts(void **state)
{
    (void)state;
    struct corio_contracts_opts o = {.max_vote_version = 1};
    struct corio_ledger_app *old_app = corio_contracts_app_new(&o);
    assert_non_null(old_app);
    struct t_ledger l, old;
    t_ledger_open(&l, "new", NULL);
    t_ledger_open(&old, "old", old_app);
    l.mirror[0] = &old;
    l.nmirror = 1;
    struct t_id a, b;
    t_id_new(&a);
    t_id_new(&b);
    t_found(&l, SIGNERS(&a, &b), NULL, NULL, 0);
    struct corio_tx_proposal_payload d = decision();
    uint8_t id[32];
    /* A tie (1 yes, 1 no) under version 1: not more than 50 %, rejected. */
    struct t_args pa = t_proposal_args(&a, CORIO_PROPOSAL_DECISION, &d, 2);
    struct t_tx p1 = t_make(&l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&a));
    memcpy(id, p1.id, 32);
    ACCEPT(&l, p1);
    struct t_tx v1 = vote(&l, id, &a, CORIO_VOTE_YES, &a), v2 = vote(&l, id, &b, CORIO_VOTE_NO, &b);
    uint8_t *txs[2] = {v1.buf, v2.buf};
    size_t lens[2] = {v1.len, v2.len};
    t_block(&l, txs, lens, 2, NULL);
    free(v1.buf);
    free(v2.buf);
    t_until(&l, t_height(&l) + 1);
    assert_int_equal(col(&l, "status", id), CTR_REJECTED);

    /* Activate tally version 2 at height H. */
    uint64_t H = t_height(&l) + 10;
    struct corio_tx_proposal_payload v = {.name = "vote", .name_len = 4, .value = 2, .height = H};
    assert_int_equal(t_pass(&l, &a, CORIO_PROPOSAL_VERSION, &v, SIGNERS(&a, &b), id), CTR_PASSED);
    assert_int_equal(t_int(&l, "SELECT version FROM ctr_version WHERE contract = 'vote'"), 2);
    /* The old node followed so far (the mirror check), up to the block before H. */
    t_until(&l, H - 1);
    l.nmirror = 0;
    struct corio_proposal empty = {.timestamp_ms = l.ts + 1000, .proposer = 1};
    assert_int_equal(corio__store_apply(old.st, ++old.index, &empty, 0, NULL),
                     CORIO_ERR_UNSUPPORTED);
    struct corio_store_head oh;
    corio__store_head(old.st, &oh);
    assert_int_equal(oh.height, H - 1); /* halted: nothing stored at H */

    /* The same tie under version 2 passes. */
    t_until(&l, H);
    pa = t_proposal_args(&a, CORIO_PROPOSAL_DECISION, &d, 2);
    struct t_tx p2 = t_make(&l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, SIGNERS(&a));
    memcpy(id, p2.id, 32);
    ACCEPT(&l, p2);
    v1 = vote(&l, id, &a, CORIO_VOTE_YES, &a);
    v2 = vote(&l, id, &b, CORIO_VOTE_NO, &b);
    txs[0] = v1.buf;
    txs[1] = v2.buf;
    lens[0] = v1.len;
    lens[1] = v2.len;
    t_block(&l, txs, lens, 2, NULL);
    free(v1.buf);
    free(v2.buf);
    t_until(&l, t_height(&l) + 1);
    assert_int_equal(col(&l, "status", id), CTR_PASSED);
    assert_int_equal(col(&l, "version", id), 2);
    t_check_state(&l);
    t_ledger_close(&l);
    t_ledger_close(&old);
    corio_contracts_app_free(old_app);
    t_id_free(&a);
    t_id_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(who_votes_and_how_often),
        H_TEST(quorum_weights_and_parameters),
        H_TEST(version_proposal_rules),
        H_TEST(version_two_takes_over_and_an_old_node_halts),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
