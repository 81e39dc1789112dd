/*
 * test_ledger_store.c - blocks and state in one database (ledger/store.c) with the null
 * application: the chain links, refusals are recorded, the Merkle tree in the database
 * matches an independent computation and its proofs verify, a database rebuilt from the
 * log alone reaches the same blocks and state hash, snapshots restore, a node that
 * alters a transaction ends up with other hashes, and membership is tracked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "ledger_app.h"
#include "ledger_block.h"
#include "corio/cbor.h"
#include "corio/error.h"
#include "harness.h"
#include "ledger_merkle.h"
#include "ledger_store.h"

/* ---- building null-application transactions ----------------------------------------- */

static size_t put_tx(uint8_t *buf, size_t cap, const char *key, const char *value)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_textz(&e, "put");
    corio_cbor_put_textz(&e, key);
    corio_cbor_put_bytes(&e, value, strlen(value));
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

static size_t two_tx(uint8_t *buf, size_t cap, const char *op, const char *arg)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_textz(&e, op);
    corio_cbor_put_textz(&e, arg);
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

/* The log: a list of encoded proposals, as consensus would deliver them. */
struct log {
    uint8_t *entry[64];
    size_t len[64];
    size_t n;
};

static void log_add(struct log *l, uint64_t ts, uint8_t txbuf[][128], const size_t *txlen,
                    size_t ntx)
{
    struct corio_block_tx txs[16];
    for (size_t i = 0; i < ntx; i++)
        txs[i] = (struct corio_block_tx){.data = txbuf[i], .len = txlen[i]};
    struct corio_proposal p = {.timestamp_ms = ts, .proposer = 1, .txs = txs, .ntxs = ntx};
    int n = corio_proposal_encode(&p, NULL, 0);
    assert_true(n > 0);
    l->entry[l->n] = malloc((size_t)n);
    assert_int_equal(corio_proposal_encode(&p, l->entry[l->n], (size_t)n), n);
    l->len[l->n++] = (size_t)n;
}

static void log_free(struct log *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->entry[i]);
    l->n = 0;
}

/* A fixed history: puts, an overwrite, a delete, refusals, an opaque transaction, an
 * empty block, a malformed command, a clock that goes backwards. */
static void make_log(struct log *l)
{
    memset(l, 0, sizeof *l);
    uint8_t tx[16][128];
    size_t len[16];
    len[0] = put_tx(tx[0], 128, "a", "1");
    len[1] = put_tx(tx[1], 128, "b", "2");
    len[2] = put_tx(tx[2], 128, "c", "3");
    log_add(l, 1000, tx, len, 3);
    len[0] = put_tx(tx[0], 128, "a", "one");
    len[1] = two_tx(tx[1], 128, "del", "b");
    len[2] = two_tx(tx[2], 128, "del", "zz"); /* refused: no such key */
    len[3] = two_tx(tx[3], 128, "refuse", "because the test says so");
    memcpy(tx[4], "\xff\x00 not cbor", 10);
    len[4] = 10; /* opaque: accepted */
    log_add(l, 2000, tx, len, 5);
    log_add(l, 2500, tx, len, 0);                     /* an empty block */
    len[0] = two_tx(tx[0], 128, "put", "only-a-key"); /* malformed command: refused */
    len[1] = put_tx(tx[1], 128, "d", "4");
    log_add(l, 1500, tx, len, 2); /* the leader's clock went back */
    for (int i = 0; i < 20; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i * i);
        len[i % 4] = put_tx(tx[i % 4], 128, k, v);
        if (i % 4 == 3)
            log_add(l, 3000 + (uint64_t)i, tx, len, 4);
    }
}

static struct corio_store *open_store(const char *name)
{
    struct corio_store *st = NULL;
    char err[256] = "";
    const char *path = h_strf("%s/%s.db", h_dir(), name);
    int rc = corio__store_open(path, corio_ledger_null_app(), &st, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("open %s: %s", path, err);
    return st;
}

/* Applies the log from entry `from`, with raft indexes 2, 3, ... (1 is raft's own). */
static void apply_log(struct corio_store *st, const struct log *l, size_t from, unsigned faults)
{
    for (size_t i = from; i < l->n; i++) {
        struct corio_proposal p;
        assert_int_equal(corio_proposal_decode(l->entry[i], l->len[i], &p), CORIO_OK);
        assert_int_equal(corio__store_apply(st, i + 2, &p, faults, NULL), CORIO_OK);
        corio_proposal_free(&p);
    }
}

static void hash_leaf_data(const uint8_t *data, size_t len, uint8_t out[32])
{
    uint8_t *buf = malloc(len + 1);
    buf[0] = 0;
    memcpy(buf + 1, data, len);
    SHA256(buf, len + 1, out);
    free(buf);
}

/* An independent root: RFC 9162 MTH over leaf hashes. */
static void ref_root(uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t buf[65];
    buf[0] = 1;
    ref_root(leaves, k, buf + 1);
    ref_root(leaves + k, n - k, buf + 33);
    SHA256(buf, sizeof buf, out);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void blocks_chain_and_results(void **state)
{
    (void)state;
    struct log l;
    make_log(&l);
    struct corio_store *st = open_store("a");
    struct corio_store_head h;
    corio__store_head(st, &h);
    assert_int_equal(h.height, 0);
    assert_int_equal(h.tree_size, 0);

    /* The second proposal, with its per-transaction results. */
    apply_log(st, &l, 0, 0);
    assert_int_equal(corio__store_apply(st, 2, NULL, 0, NULL), CORIO_ERR_STATE); /* again */
    corio__store_head(st, &h);
    assert_int_equal(h.height, l.n);
    assert_int_equal(h.applied_index, l.n + 1);
    sqlite3 *db = corio__store_db(st);

    /* Walk the chain: heights, links, first leaves, timestamps never going back, and
     * the leaves that make up the tree. */
    uint8_t prev[32] = {0}, leaves[64][32];
    uint64_t leaf = 0, ts = 0;
    int refused = 0;
    for (uint64_t height = 1; height <= h.height; height++) {
        uint8_t *raw;
        size_t len;
        assert_int_equal(corio__read_block(db, height, &raw, &len), CORIO_OK);
        struct corio_block b;
        assert_int_equal(corio_block_decode(raw, len, &b), CORIO_OK);
        assert_int_equal(b.height, height);
        assert_memory_equal(b.prev_hash, prev, 32);
        assert_int_equal(b.first_leaf, leaf);
        assert_true(b.timestamp_ms >= ts);
        ts = b.timestamp_ms;
        for (size_t i = 0; i < b.ntxs; i++) {
            hash_leaf_data(b.txs[i].data, b.txs[i].len, leaves[leaf + i]);
            uint64_t ht;
            uint8_t id[32], want_id[32];
            assert_int_equal(corio__read_tx_by_leaf(db, leaf + i, &ht, id), CORIO_OK);
            assert_int_equal(ht, height);
            SHA256(b.txs[i].data, b.txs[i].len, want_id);
            assert_memory_equal(id, want_id, 32);
            if (b.txs[i].status == CORIO_TX_REFUSED)
                refused++;
        }
        if (height == 2) {
            assert_int_equal(b.ntxs, 5);
            assert_int_equal(b.txs[2].status, CORIO_TX_REFUSED);
            assert_memory_equal(b.txs[2].reason, "no such key", b.txs[2].reason_len);
            assert_int_equal(b.txs[3].status, CORIO_TX_REFUSED);
            assert_memory_equal(b.txs[3].reason, "because the test says so", 24);
            assert_int_equal(b.txs[4].status, CORIO_TX_ACCEPTED);
        }
        if (height == 3)
            assert_int_equal(b.ntxs, 0);
        if (height == 4)
            assert_int_equal(b.timestamp_ms, 2500); /* not 1500 */
        leaf += b.ntxs;
        uint8_t root[32];
        ref_root(leaves, leaf ? leaf : 1, root);
        if (leaf)
            assert_memory_equal(b.tree_root, root, 32);
        assert_int_equal(corio_block_hash(raw, len, prev), CORIO_OK);
        corio_block_free(&b);
        free(raw);
    }
    assert_int_equal(refused, 3);
    assert_int_equal(leaf, h.tree_size);
    assert_memory_equal(prev, h.block_hash, 32);

    /* The state: the incremental hash equals a recomputation from the tables, and the
     * rows are what the history says. */
    uint8_t again[32];
    assert_int_equal(corio_ledger_null_state_recompute(db, again), CORIO_OK);
    assert_memory_equal(again, h.state_hash, 32);
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT group_concat(key || '=' || CAST(value AS TEXT), ',')"
                           " FROM (SELECT * FROM null_kv ORDER BY key)",
                           -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    const char *kv = (const char *)sqlite3_column_text(s, 0);
    assert_non_null(strstr(kv, "a=one,c=3,d=4,k0=v0"));
    assert_null(strstr(kv, "b="));
    sqlite3_finalize(s);

    /* Proofs from the database verify against the stored roots. */
    for (uint64_t size = 1; size <= h.tree_size; size++) {
        uint8_t root[32];
        assert_int_equal(corio__read_root(db, size, root), CORIO_OK);
        uint8_t want[32];
        ref_root(leaves, size, want);
        assert_memory_equal(root, want, 32);
        for (uint64_t m = 0; m < size; m += 3) {
            corio_merkle_hash path[CORIO_MERKLE_MAX_PROOF];
            size_t n;
            assert_int_equal(corio__read_inclusion(db, m, size, path, &n), CORIO_OK);
            assert_int_equal(corio_merkle_verify_inclusion(leaves[m], m, size, path, n, root),
                             CORIO_OK);
        }
        uint8_t full[32];
        assert_int_equal(corio__read_root(db, h.tree_size, full), CORIO_OK);
        corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
        size_t n;
        assert_int_equal(corio__read_consistency(db, size, h.tree_size, proof, &n), CORIO_OK);
        assert_int_equal(corio_merkle_verify_consistency(size, h.tree_size, root, full, proof, n),
                         CORIO_OK);
    }
    uint8_t root[32];
    assert_int_equal(corio__read_root(db, h.tree_size + 1, root), CORIO_ERR_NOTFOUND);
    uint8_t *raw;
    size_t rl;
    assert_int_equal(corio__read_block(db, h.height + 1, &raw, &rl), CORIO_ERR_NOTFOUND);

    /* A reader on its own connection sees the same head. */
    sqlite3 *ro;
    char err[256];
    assert_int_equal(corio__read_open(h_strf("%s/a.db", h_dir()), &ro, err, sizeof err), CORIO_OK);
    struct corio_store_head rh;
    assert_int_equal(corio__read_head(ro, &rh), CORIO_OK);
    assert_memory_equal(&rh, &h, sizeof h);
    sqlite3_close(ro);
    corio__store_close(st);

    /* Reopened, the store resumes where it was (the frontier comes back from disk). */
    st = open_store("a");
    struct corio_store_head h2;
    corio__store_head(st, &h2);
    assert_memory_equal(&h2, &h, sizeof h);
    corio__store_close(st);
    log_free(&l);
}

/* A node rebuilt from the log alone reaches the same blocks and state. */
static void rebuilt_from_log_is_identical(void **state)
{
    (void)state;
    struct log l;
    make_log(&l);
    struct corio_store *a = open_store("first"), *b = open_store("rebuilt");
    apply_log(a, &l, 0, 0);
    apply_log(b, &l, 0, 0);
    struct corio_store_head ha, hb;
    corio__store_head(a, &ha);
    corio__store_head(b, &hb);
    assert_memory_equal(&ha, &hb, sizeof ha);
    for (uint64_t height = 1; height <= ha.height; height++) {
        uint8_t x[32], y[32];
        assert_int_equal(corio__read_block_hash(corio__store_db(a), height, x), CORIO_OK);
        assert_int_equal(corio__read_block_hash(corio__store_db(b), height, y), CORIO_OK);
        assert_memory_equal(x, y, 32);
    }

    /* A node that alters what it applies gets other leaves, roots, blocks. */
    struct corio_store *c = open_store("forged");
    apply_log(c, &l, 0, CORIO_STORE_FAULT_ALTER_TX);
    struct corio_store_head hc;
    corio__store_head(c, &hc);
    assert_int_equal(hc.tree_size, ha.tree_size);
    assert_memory_not_equal(hc.root, ha.root, 32);
    assert_memory_not_equal(hc.block_hash, ha.block_hash, 32);
    corio__store_close(a);
    corio__store_close(b);
    corio__store_close(c);
    log_free(&l);
}

/* A snapshot taken half-way restores into an empty node, which then continues with the
 * rest of the log to the same end; a node already ahead keeps its database. */
static void snapshot_restore(void **state)
{
    (void)state;
    struct log l;
    make_log(&l);
    struct corio_store *a = open_store("src");
    size_t half = l.n / 2;
    struct log first = l;
    first.n = half;
    apply_log(a, &first, 0, 0);
    struct corio_store_head mid;
    corio__store_head(a, &mid);
    void *snap;
    size_t snap_len;
    assert_int_equal(corio__store_snapshot(a, &snap, &snap_len), CORIO_OK);
    apply_log(a, &l, half, 0);
    struct corio_store_head end;
    corio__store_head(a, &end);

    struct corio_store *b = open_store("dst");
    assert_int_equal(corio__store_restore(b, mid.applied_index + 1, snap, snap_len),
                     CORIO_ERR_MALFORMED); /* not the index it claims */
    assert_int_equal(corio__store_restore(b, mid.applied_index, snap, snap_len), CORIO_OK);
    struct corio_store_head hb;
    corio__store_head(b, &hb);
    assert_memory_equal(&hb, &mid, sizeof mid);
    apply_log(b, &l, half, 0);
    corio__store_head(b, &hb);
    assert_memory_equal(&hb, &end, sizeof end);
    uint8_t again[32];
    assert_int_equal(corio_ledger_null_state_recompute(corio__store_db(b), again), CORIO_OK);
    assert_memory_equal(again, end.state_hash, 32);
    /* Still a WAL database after the restore. */
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(corio__store_db(b), "PRAGMA journal_mode", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);

    /* Already ahead: nothing changes. */
    assert_int_equal(corio__store_restore(a, mid.applied_index, snap, snap_len), CORIO_OK);
    struct corio_store_head ha;
    corio__store_head(a, &ha);
    assert_memory_equal(&ha, &end, sizeof end);

    /* Garbage is refused. */
    struct corio_store *c = open_store("garbage");
    uint8_t junk[512];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(corio__store_restore(c, 5, junk, sizeof junk), CORIO_ERR_MALFORMED);
    sqlite3_free(snap);
    corio__store_close(a);
    corio__store_close(b);
    corio__store_close(c);
    log_free(&l);
}

static void members_tracked(void **state)
{
    (void)state;
    struct corio_store *st = open_store("m");
    struct corio_ledger_member m[8];
    assert_int_equal(corio__store_expected(st, m, 8), CORIO_ERR_NOTFOUND);

    uint8_t tx[1][128];
    size_t len[1];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, tx[0], 128);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_textz(&e, "members");
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_uint(&e, 7);
    corio_cbor_put_textz(&e, "127.0.0.1:7");
    corio_cbor_put_textz(&e, "http://127.0.0.1:70");
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_textz(&e, "127.0.0.1:3");
    corio_cbor_put_textz(&e, "");
    len[0] = (size_t)corio_cbor_enc_finish(&e);
    struct log l;
    memset(&l, 0, sizeof l);
    log_add(&l, 1, tx, len, 1);
    struct corio_store_applied out;
    struct corio_proposal p;
    assert_int_equal(corio_proposal_decode(l.entry[0], l.len[0], &p), CORIO_OK);
    assert_int_equal(corio__store_apply(st, 2, &p, 0, &out), CORIO_OK);
    corio_proposal_free(&p);
    assert_true(out.members_changed);
    assert_int_equal(out.txs[0].status, CORIO_TX_ACCEPTED);
    corio__store_applied_free(&out);
    assert_int_equal(corio__store_expected(st, m, 8), 2);
    assert_int_equal(m[0].id, 3); /* ordered by id */
    assert_string_equal(m[1].address, "127.0.0.1:7");
    assert_string_equal(m[1].api, "http://127.0.0.1:70");
    assert_int_equal(corio__store_allowed(st, m, 8), 2);

    /* The same list again is no change; a smaller list shrinks expected, not allowed. */
    uint8_t tx2[1][128];
    corio_cbor_enc_init(&e, tx2[0], 128);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_textz(&e, "members");
    corio_cbor_put_array(&e, 1);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_uint(&e, 7);
    corio_cbor_put_textz(&e, "127.0.0.1:7");
    corio_cbor_put_textz(&e, "http://127.0.0.1:70");
    len[0] = (size_t)corio_cbor_enc_finish(&e);
    log_add(&l, 2, tx2, len, 1);
    assert_int_equal(corio_proposal_decode(l.entry[1], l.len[1], &p), CORIO_OK);
    assert_int_equal(corio__store_apply(st, 3, &p, 0, &out), CORIO_OK);
    corio_proposal_free(&p);
    assert_true(out.members_changed);
    corio__store_applied_free(&out);
    assert_int_equal(corio__store_expected(st, m, 8), 1);
    assert_int_equal(corio__store_allowed(st, m, 8), 2);
    assert_int_equal(corio__store_converged(st), CORIO_OK);
    assert_int_equal(corio__store_allowed(st, m, 8), 1);
    assert_int_equal(m[0].id, 7);

    /* A malformed members command is refused. */
    uint8_t tx3[1][128];
    len[0] = two_tx(tx3[0], 128, "members", "nobody");
    log_add(&l, 3, tx3, len, 1);
    assert_int_equal(corio_proposal_decode(l.entry[2], l.len[2], &p), CORIO_OK);
    assert_int_equal(corio__store_apply(st, 4, &p, 0, &out), CORIO_OK);
    corio_proposal_free(&p);
    assert_int_equal(out.txs[0].status, CORIO_TX_REFUSED);
    assert_false(out.members_changed);
    corio__store_applied_free(&out);
    corio__store_close(st);
    log_free(&l);
}

/* An application whose refusal reasons are too long or not UTF-8: the block still
 * encodes, with a cleaned reason; a failure that is not a verdict stores nothing. */
static int odd_apply(void *ctx, struct corio_ledger_block_ctx *b, const uint8_t *tx, size_t len,
                     char *reason, size_t cap)
{
    (void)ctx;
    (void)b;
    if (len == 1 && tx[0] == 'l') {
        /* As long as it can be, ending with a sequence cut short: not UTF-8. */
        memset(reason, 'x', cap - 1);
        memcpy(reason + cap - 4, "\xc3\xa9\xc3", 3);
        reason[cap - 1] = 0;
        return CORIO_ERR_POLICY;
    }
    if (len == 1 && tx[0] == 'u') {
        snprintf(reason, cap, "bad \xff byte");
        return CORIO_ERR_POLICY;
    }
    if (len == 1 && tx[0] == 'm') {
        memset(reason, 'y', cap - 1); /* the longest valid reason */
        memcpy(reason + cap - 3, "\xc3\xa9", 2);
        reason[cap - 1] = 0;
        return CORIO_ERR_POLICY;
    }
    if (len == 1 && tx[0] == 'e') {
        reason[0] = 0;
        return CORIO_ERR_MALFORMED;
    }
    if (len == 1 && tx[0] == 'f')
        return CORIO_ERR_IO;
    return CORIO_OK;
}

static int odd_state(void *ctx, struct corio_ledger_block_ctx *b, uint8_t out[32])
{
    (void)ctx;
    memset(out, (int)corio_ledger_block_height(b), 32);
    return CORIO_OK;
}

static void reasons_cleaned(void **state)
{
    (void)state;
    static struct corio_ledger_app odd = {
        .name = "odd", .apply = odd_apply, .state_hash = odd_state};
    struct corio_store *st = NULL;
    char err[256];
    assert_int_equal(corio__store_open(h_strf("%s/odd.db", h_dir()), &odd, &st, err, sizeof err),
                     CORIO_OK);
    uint8_t tx[5][128] = {{'l'}, {'u'}, {'e'}, {'k'}, {'m'}};
    size_t len[5] = {1, 1, 1, 1, 1};
    struct log l;
    memset(&l, 0, sizeof l);
    log_add(&l, 1, tx, len, 5);
    struct corio_proposal p;
    struct corio_store_applied out;
    assert_int_equal(corio_proposal_decode(l.entry[0], l.len[0], &p), CORIO_OK);
    assert_int_equal(corio__store_apply(st, 2, &p, 0, &out), CORIO_OK);
    corio_proposal_free(&p);
    assert_string_equal(out.txs[0].reason, "refused (the reason was not valid UTF-8)");
    assert_int_equal(strlen(out.txs[4].reason), CORIO_BLOCK_MAX_REASON);
    assert_string_equal(out.txs[1].reason, "refused (the reason was not valid UTF-8)");
    assert_string_equal(out.txs[2].reason, "refused");
    assert_int_equal(out.txs[3].status, CORIO_TX_ACCEPTED);
    corio__store_applied_free(&out);
    uint8_t *raw;
    size_t rl;
    assert_int_equal(corio__read_block(corio__store_db(st), 1, &raw, &rl), CORIO_OK);
    struct corio_block b;
    assert_int_equal(corio_block_decode(raw, rl, &b), CORIO_OK);
    corio_block_free(&b);
    free(raw);

    /* A failing application: nothing of the block is stored. */
    uint8_t txf[1][128] = {{'f'}};
    size_t lf[1] = {1};
    log_add(&l, 2, txf, lf, 1);
    struct corio_store_head before, after;
    corio__store_head(st, &before);
    assert_int_equal(corio_proposal_decode(l.entry[1], l.len[1], &p), CORIO_OK);
    assert_int_equal(corio__store_apply(st, 3, &p, 0, NULL), CORIO_ERR_IO);
    corio_proposal_free(&p);
    corio__store_head(st, &after);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(corio__read_block(corio__store_db(st), 2, &raw, &rl), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio__store_skip(st, 3), CORIO_OK);
    corio__store_head(st, &after);
    assert_int_equal(after.applied_index, 3);
    assert_int_equal(after.height, 1);
    corio__store_close(st);
    log_free(&l);
}

static void sethash_is_order_free(void **state)
{
    (void)state;
    struct corio_ledger_sethash a, b;
    corio_ledger_sethash_init(&a);
    corio_ledger_sethash_init(&b);
    assert_int_equal(corio_ledger_sethash_add(&a, "x", 1), CORIO_OK);
    assert_int_equal(corio_ledger_sethash_add(&a, "y", 1), CORIO_OK);
    assert_int_equal(corio_ledger_sethash_add(&b, "y", 1), CORIO_OK);
    assert_int_equal(corio_ledger_sethash_add(&b, "x", 1), CORIO_OK);
    assert_memory_equal(a.acc, b.acc, 32);
    assert_int_equal(corio_ledger_sethash_remove(&a, "x", 1), CORIO_OK);
    assert_int_equal(corio_ledger_sethash_remove(&a, "y", 1), CORIO_OK);
    uint8_t zero[32] = {0};
    assert_memory_equal(a.acc, zero, 32);
    /* Removing from empty wraps around and adding back returns to zero. */
    assert_int_equal(corio_ledger_sethash_remove(&a, "z", 1), CORIO_OK);
    assert_memory_not_equal(a.acc, zero, 32);
    assert_int_equal(corio_ledger_sethash_add(&a, "z", 1), CORIO_OK);
    assert_memory_equal(a.acc, zero, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(blocks_chain_and_results), H_TEST(rebuilt_from_log_is_identical),
        H_TEST(snapshot_restore),         H_TEST(members_tracked),
        H_TEST(reasons_cleaned),          H_TEST(sethash_is_order_free),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
