/*
 * test_contract_util.h - what the contract tests share: identities with real P-256 keys,
 * signed transactions of every type, and a ledger (the engine's store with the
 * contracts application) that applies blocks the way every node does, so each test
 * states a rule as "this transaction is accepted" or "this one is refused, because".
 * Header-only; every function is static. Tests use the harness (H_TEST) for h_dir().
 */
#ifndef TEST_CONTRACT_UTIL_H
#define TEST_CONTRACT_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_app.h"
#include "ledger_block.h"
#include "contracts.h"
#include "corio/cbor.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "ledger_store.h" /* cloud/ has a store.h too */
#include "tx.h"

#define OPS (&corio_crypto_openssl_ops)

/* An identity: its current key, DID (with the key number) and short id. */
struct t_id {
    struct corio_key key;
    uint8_t pub[CORIO_TX_KEY_LEN]; /* current key, compressed */
    uint8_t key0[CORIO_TX_KEY_LEN];
    struct corio_did did; /* has_key, key = current number */
    char short_id[CORIO_DID_ID_CHARS + 1];
};

static inline void t_id_new(struct t_id *x)
{
    memset(x, 0, sizeof *x);
    assert_int_equal(corio_key_generate(OPS, 0, 0, &x->key), CORIO_OK);
    assert_int_equal(corio_key_public_compressed(&x->key, x->pub), CORIO_OK);
    memcpy(x->key0, x->pub, sizeof x->pub);
    assert_int_equal(corio_did_from_key(OPS, x->pub, sizeof x->pub, &x->did), CORIO_OK);
    x->did.has_key = true;
    x->did.key = 0;
    assert_int_equal(corio_did_id_format(x->did.id, x->short_id, sizeof x->short_id),
                     CORIO_DID_ID_CHARS);
}

static inline void t_id_free(struct t_id *x)
{
    corio_key_close(&x->key);
}

/* The ledger under test: a store of its own with an application. */
struct t_ledger {
    struct corio_store *st;
    uint64_t index;
    uint8_t genesis[CORIO_TX_ID_LEN];
    uint64_t ts;
    /* Other nodes that apply every block too: their block and state hashes must equal
     * this one's after each block (determinism across nodes). */
    struct t_ledger *mirror[4];
    size_t nmirror;
};

static inline void t_ledger_open(struct t_ledger *l, const char *name, const struct corio_ledger_app *app)
{
    memset(l, 0, sizeof *l);
    char err[256] = "";
    const char *path = h_strf("%s/%s.db", h_dir(), name);
    int rc = corio__store_open(path, app ? app : corio_contracts_app(), &l->st, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("store open: %s", err);
    l->ts = 1000;
}

static inline void t_ledger_close(struct t_ledger *l)
{
    corio__store_close(l->st);
    l->st = NULL;
}

static inline uint64_t t_height(struct t_ledger *l)
{
    struct corio_store_head h;
    corio__store_head(l->st, &h);
    return h.height;
}

static sqlite3 *t_db(struct t_ledger *l)
{
    return corio__store_db(l->st);
}

struct t_result {
    enum corio_tx_status status;
    char reason[CORIO_BLOCK_MAX_REASON + 1];
};

/* Applies one block of n transactions; res may be NULL. */
static inline void t_block(struct t_ledger *l, uint8_t *const *txs, const size_t *lens, size_t n,
                    struct t_result *res)
{
    struct corio_block_tx btx[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        btx[i] = (struct corio_block_tx){.data = txs[i], .len = lens[i]};
    struct corio_proposal p = {.timestamp_ms = l->ts += 1000, .proposer = 1, .txs = btx, .ntxs = n};
    struct corio_store_applied out;
    int rc = corio__store_apply(l->st, ++l->index, &p, 0, &out);
    assert_int_equal(rc, CORIO_OK);
    for (size_t i = 0; res && i < n; i++) {
        res[i].status = out.txs[i].status;
        snprintf(res[i].reason, sizeof res[i].reason, "%s", out.txs[i].reason);
    }
    corio__store_applied_free(&out);
    struct corio_store_head mine, theirs;
    corio__store_head(l->st, &mine);
    for (size_t m = 0; m < l->nmirror; m++) {
        struct t_ledger *o = l->mirror[m];
        assert_int_equal(corio__store_apply(o->st, ++o->index, &p, 0, NULL), CORIO_OK);
        corio__store_head(o->st, &theirs);
        assert_int_equal(theirs.height, mine.height);
        assert_memory_equal(theirs.state_hash, mine.state_hash, 32);
        assert_memory_equal(theirs.block_hash, mine.block_hash, 32);
    }
}

/* Empty blocks until the ledger's height is h. */
static inline void t_until(struct t_ledger *l, uint64_t h)
{
    while (t_height(l) < h)
        t_block(l, NULL, NULL, 0, NULL);
}

/* A signed transaction (malloc'd, *len): the body of type with args, expiring
 * ttl heights after the next one, signed by each identity in signers[0..n). */
struct t_tx {
    uint8_t *buf;
    size_t len;
    uint8_t id[32];
};

static inline struct t_tx t_make(struct t_ledger *l, unsigned type, const uint8_t *args, size_t alen,
                          uint64_t ttl, struct t_id **signers, size_t n)
{
    struct corio_tx_body b = {.type = type, .args = args, .args_len = alen};
    b.expires = t_height(l) + 1 + ttl;
    b.has_ledger = type != CORIO_TX_GENESIS;
    memcpy(b.ledger, l->genesis, sizeof b.ledger);
    assert_int_equal(corio_random(OPS, b.nonce, sizeof b.nonce), CORIO_OK);
    uint8_t body[CORIO_TX_MAX];
    int bl = corio_tx_body_encode(&b, body, sizeof body);
    assert_true(bl > 0);
    struct t_tx t = {.buf = malloc(CORIO_TX_MAX)};
    assert_non_null(t.buf);
    int len = corio_tx_sign(&signers[0]->key, &signers[0]->did, body, (size_t)bl, t.buf,
                            CORIO_TX_MAX);
    assert_true(len > 0);
    for (size_t i = 1; i < n; i++) {
        uint8_t *next = malloc(CORIO_TX_MAX);
        assert_non_null(next);
        len = corio_tx_add_signature(&signers[i]->key, &signers[i]->did, t.buf, (size_t)len,
                                     next, CORIO_TX_MAX);
        assert_true(len > 0);
        free(t.buf);
        t.buf = next;
    }
    t.len = (size_t)len;
    assert_int_equal(corio_tx_id(t.buf, t.len, t.id), CORIO_OK);
    return t;
}

/* The signers as a compound literal: SIGNERS(&a, &b). */
#define SIGNERS(...) (struct t_id *[]){__VA_ARGS__}, (sizeof((struct t_id *[]){__VA_ARGS__}) / sizeof(struct t_id *))

#define T_TTL 100

/* Applies one transaction alone in a block and returns its result. */
static inline struct t_result t_apply(struct t_ledger *l, struct t_tx *t)
{
    struct t_result r;
    uint8_t *p = t->buf;
    t_block(l, &p, &t->len, 1, &r);
    return r;
}

/* Applies a transaction, frees it, and checks that it was accepted. */
#define ACCEPT(l, t)                                                                               \
    do {                                                                                           \
        struct t_tx t_ = (t);                                                                      \
        struct t_result r_ = t_apply((l), &t_);                                                    \
        free(t_.buf);                                                                              \
        if (r_.status != CORIO_TX_ACCEPTED)                                                        \
            fail_msg("refused, expected accepted: %s", r_.reason);                                 \
    } while (0)

/* ... that it was refused with a reason containing why. */
#define REFUSE(l, t, why)                                                                          \
    do {                                                                                           \
        struct t_tx t_ = (t);                                                                      \
        struct t_result r_ = t_apply((l), &t_);                                                    \
        free(t_.buf);                                                                              \
        if (r_.status != CORIO_TX_REFUSED)                                                         \
            fail_msg("accepted, expected refused (%s)", (why));                                    \
        if (!strstr(r_.reason, (why)))                                                             \
            fail_msg("refused for \"%s\", expected \"%s\"", r_.reason, (why));                    \
    } while (0)

/* ---- arguments of each type ------------------------------------------------------------- */

struct t_args {
    uint8_t buf[8192];
    size_t len;
};

static inline struct t_args t_org_map(const struct t_id *o, uint64_t node, bool with_key)
{
    struct t_args a;
    struct corio_tx_org m = {.has_key = with_key, .has_name = true, .has_weight = true,
                             .has_threshold = true, .has_approver = true, .has_node = true,
                             .has_address = true, .has_api = true};
    memcpy(m.key, o->key0, sizeof m.key);
    m.name = o->short_id;
    m.name_len = strlen(o->short_id);
    m.weight = 1;
    m.threshold = 1;
    m.approver = true;
    m.node = node;
    char *addr = h_strf("127.0.0.1:%llu", 7000 + (unsigned long long)node);
    char *api = h_strf("http://127.0.0.1:%llu", 8000 + (unsigned long long)node);
    m.address = addr;
    m.address_len = strlen(addr);
    m.api = api;
    m.api_len = strlen(api);
    int n = corio_tx_org_encode(&m, a.buf, sizeof a.buf);
    assert_true(n > 0);
    a.len = (size_t)n;
    return a;
}

/* Genesis for orgs[0..n) (nodes 1..n), params as name/value pairs (nparams). */
static inline struct t_tx t_genesis(struct t_ledger *l, struct t_id **orgs, size_t n, const char **pnames,
                             const uint64_t *pvalues, size_t nparams)
{
    uint8_t arr[8192];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, arr, sizeof arr);
    corio_cbor_put_array(&e, n);
    for (size_t i = 0; i < n; i++) {
        struct t_args m = t_org_map(orgs[i], i + 1, true);
        corio_cbor_put_raw(&e, m.buf, m.len);
    }
    int al = corio_cbor_enc_finish(&e);
    assert_true(al > 0);
    uint8_t pm[1024];
    corio_cbor_enc_init(&e, pm, sizeof pm);
    corio_cbor_put_map(&e, nparams);
    for (size_t i = 0; i < nparams; i++) {
        corio_cbor_put_textz(&e, pnames[i]);
        corio_cbor_put_uint(&e, pvalues[i]);
    }
    assert_int_equal(corio_cbor_sort_map(&e, 0), CORIO_OK);
    int pl = corio_cbor_enc_finish(&e);
    assert_true(pl > 0);
    struct corio_tx_genesis g = {.orgs = arr, .orgs_len = (size_t)al, .has_params = nparams > 0,
                                 .params = pm, .params_len = (size_t)pl, .name = "test ledger",
                                 .name_len = 11};
    struct t_args a;
    int n2 = corio_tx_genesis_encode(&g, a.buf, sizeof a.buf);
    assert_true(n2 > 0);
    return t_make(l, CORIO_TX_GENESIS, a.buf, (size_t)n2, T_TTL, orgs, n);
}

/* Applies the genesis and remembers the ledger id. */
static inline void t_found(struct t_ledger *l, struct t_id **orgs, size_t n, const char **pnames,
                    const uint64_t *pvalues, size_t nparams)
{
    struct t_tx g = t_genesis(l, orgs, n, pnames, pvalues, nparams);
    struct t_result r = t_apply(l, &g);
    if (r.status != CORIO_TX_ACCEPTED)
        fail_msg("genesis refused: %s", r.reason);
    memcpy(l->genesis, g.id, sizeof l->genesis);
    free(g.buf);
}

static inline struct t_args t_member_args(unsigned type, const struct t_id *org, const struct t_id *p,
                                   uint64_t weight)
{
    struct t_args a;
    struct corio_tx_member m = {.has_key = type == CORIO_TX_MEMBER_ADD,
                                .has_person = type == CORIO_TX_MEMBER_REMOVE,
                                .has_weight = type == CORIO_TX_MEMBER_ADD,
                                .weight = weight};
    memcpy(m.org, org->did.id, CORIO_DID_ID_LEN);
    memcpy(m.key, p->key0, CORIO_TX_KEY_LEN);
    memcpy(m.person, p->did.id, CORIO_DID_ID_LEN);
    int n = corio_tx_member_encode(type, &m, a.buf, sizeof a.buf);
    assert_true(n > 0);
    a.len = (size_t)n;
    return a;
}

/* A proposal's args: kind, payload (encoded), period (0: default). */
static inline struct t_args t_proposal_args(const struct t_id *org, uint64_t kind,
                                     const struct corio_tx_proposal_payload *pl, uint64_t period)
{
    uint8_t payload[4096];
    int pn = corio_tx_payload_encode(kind, pl, payload, sizeof payload);
    assert_true(pn > 0);
    struct corio_tx_proposal p = {.kind = kind, .has_period = period > 0, .period = period,
                                  .payload = payload, .payload_len = (size_t)pn};
    memcpy(p.org, org->did.id, CORIO_DID_ID_LEN);
    struct t_args a;
    int n = corio_tx_proposal_encode(&p, a.buf, sizeof a.buf);
    assert_true(n > 0);
    a.len = (size_t)n;
    return a;
}

static inline struct t_args t_vote_args(const uint8_t proposal[32], const struct t_id *org, uint64_t choice)
{
    struct corio_tx_vote v = {.choice = choice};
    memcpy(v.proposal, proposal, 32);
    memcpy(v.org, org->did.id, CORIO_DID_ID_LEN);
    struct t_args a;
    int n = corio_tx_vote_encode(&v, a.buf, sizeof a.buf);
    assert_true(n > 0);
    a.len = (size_t)n;
    return a;
}

/* The device's claim token: aud = the claiming organisation, a 32-byte nonce. */
static inline size_t t_eat(const struct t_id *dev, const char *aud, size_t nonce_len, uint8_t assurance,
                    uint8_t *out, size_t cap)
{
    uint8_t nonce[64];
    assert_int_equal(corio_random(OPS, nonce, sizeof nonce), CORIO_OK);
    struct corio_eat_claims c = {.issuer = dev->did, .key_number = dev->did.key, .aud = aud,
                                 .aud_len = strlen(aud), .nonce = nonce, .nonce_len = nonce_len,
                                 .assurance = assurance};
    c.issuer.has_key = false;
    int n = corio_eat_make(&dev->key, &c, out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static inline struct t_args t_register_args(const struct t_id *org, const struct t_id *dev, uint64_t kind,
                                     const uint8_t *eat, size_t eat_len, const struct t_id *gw)
{
    struct corio_tx_device_register r = {.kind = kind, .auth = CORIO_DEVICE_AUTH_EAT,
                                         .assurance = 1, .class_ = "sensor", .class_len = 6,
                                         .model = "th-1", .model_len = 4, .hw = "rev-b",
                                         .hw_len = 5, .eat = eat, .eat_len = eat_len,
                                         .has_gateway = gw != NULL};
    memcpy(r.org, org->did.id, CORIO_DID_ID_LEN);
    memcpy(r.key, dev->key0, CORIO_TX_KEY_LEN);
    if (gw)
        memcpy(r.gateway, gw->did.id, CORIO_DID_ID_LEN);
    struct t_args a;
    int n = corio_tx_device_register_encode(&r, a.buf, sizeof a.buf);
    assert_true(n > 0);
    a.len = (size_t)n;
    return a;
}

/* Registers dev for org (signed by org) and checks it was accepted. */
static inline void t_register(struct t_ledger *l, struct t_id *org, struct t_id *dev, uint64_t kind)
{
    uint8_t eat[1024];
    size_t el = t_eat(dev, org->short_id, 32, 1, eat, sizeof eat);
    struct t_args a = t_register_args(org, dev, kind, eat, el, NULL);
    ACCEPT(l, t_make(l, CORIO_TX_DEVICE_REGISTER, a.buf, a.len, T_TTL, SIGNERS(org)));
}

/* Proposes (by proposer, period 2), has every voter vote yes in one block, and runs
 * the ledger to the close. Returns the proposal's status; *id receives its id. */
static inline int64_t t_pass(struct t_ledger *l, struct t_id *proposer, uint64_t kind,
                             const struct corio_tx_proposal_payload *pl, struct t_id **voters,
                             size_t n, uint8_t id[32])
{
    struct t_args pa = t_proposal_args(proposer, kind, pl, 2);
    struct t_tx prop = t_make(l, CORIO_TX_PROPOSAL, pa.buf, pa.len, T_TTL, &proposer, 1);
    uint8_t pid[32];
    memcpy(pid, prop.id, 32);
    if (id)
        memcpy(id, pid, 32);
    ACCEPT(l, prop);
    uint64_t closes = t_height(l) + 2;
    struct t_tx v[16];
    uint8_t *txs[16];
    size_t lens[16];
    struct t_result r[16];
    for (size_t i = 0; i < n; i++) {
        struct t_args va = t_vote_args(pid, voters[i], CORIO_VOTE_YES);
        v[i] = t_make(l, CORIO_TX_VOTE, va.buf, va.len, T_TTL, &voters[i], 1);
        txs[i] = v[i].buf;
        lens[i] = v[i].len;
    }
    t_block(l, txs, lens, n, r);
    for (size_t i = 0; i < n; i++) {
        if (r[i].status != CORIO_TX_ACCEPTED)
            fail_msg("vote refused: %s", r[i].reason);
        free(v[i].buf);
    }
    t_until(l, closes);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(corio__store_db(l->st),
                                        "SELECT status FROM ctr_proposal WHERE id = ?", -1, &s,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(s, 1, pid, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t st = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return st;
}

/* An int from the contracts' tables. */
static inline int64_t t_int(struct t_ledger *l, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(t_db(l), sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The state hash the trigger-kept accumulator gives equals a full recomputation. */
static inline void t_check_state(struct t_ledger *l)
{
    struct corio_store_head h;
    corio__store_head(l->st, &h);
    uint8_t full[32];
    assert_int_equal(corio_contracts_state_recompute(t_db(l), full), CORIO_OK);
    assert_memory_equal(full, h.state_hash, 32);
}

#endif /* TEST_CONTRACT_UTIL_H */
