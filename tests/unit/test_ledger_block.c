/*
 * test_ledger_block.c - proposals and blocks (ledger/block.c): exact bytes for known
 * values, round trips, and every way a hostile encoding is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger_block.h"
#include "corio/error.h"
#include "harness.h"

static void proposal_bytes(void **state)
{
    (void)state;
    static const uint8_t tx0[] = {0x01};
    struct corio_block_tx txs[2] = {{.data = tx0, .len = 1}, {.data = NULL, .len = 0}};
    struct corio_proposal p = {.timestamp_ms = 1000, .proposer = 7, .txs = txs, .ntxs = 2};
    /* {1: 1, 2: 1000, 3: 7, 4: [h'01', h'']} */
    static const uint8_t want[] = {0xa4, 0x01, 0x01, 0x02, 0x19, 0x03, 0xe8,
                                   0x03, 0x07, 0x04, 0x82, 0x41, 0x01, 0x40};
    uint8_t buf[64];
    assert_int_equal(corio_proposal_encode(&p, NULL, 0), sizeof want);
    assert_int_equal(corio_proposal_encode(&p, buf, sizeof buf), sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(corio_proposal_encode(&p, buf, sizeof want - 1), CORIO_ERR_NOSPACE);

    struct corio_proposal q;
    assert_int_equal(corio_proposal_decode(want, sizeof want, &q), CORIO_OK);
    assert_int_equal(q.version, 1);
    assert_int_equal(q.timestamp_ms, 1000);
    assert_int_equal(q.proposer, 7);
    assert_int_equal(q.ntxs, 2);
    assert_int_equal(q.txs[0].len, 1);
    assert_int_equal(q.txs[0].data[0], 0x01);
    assert_int_equal(q.txs[1].len, 0);
    corio_proposal_free(&q);

    /* Empty proposal: allowed (a leader may need a block to carry nothing). */
    struct corio_proposal e = {.timestamp_ms = 0, .proposer = 1};
    int n = corio_proposal_encode(&e, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio_proposal_decode(buf, (size_t)n, &q), CORIO_OK);
    assert_int_equal(q.ntxs, 0);
    assert_null(q.txs);
    corio_proposal_free(&q);
}

static void sample_block(struct corio_block *b, struct corio_block_tx txs[3])
{
    static const uint8_t a[] = "put a 1", c[] = "garbage";
    memset(b, 0, sizeof *b);
    txs[0] = (struct corio_block_tx){.data = a, .len = sizeof a - 1};
    txs[1] = (struct corio_block_tx){.data = c,
                                     .len = sizeof c - 1,
                                     .status = CORIO_TX_REFUSED,
                                     .reason = "not a command",
                                     .reason_len = 13};
    txs[2] = (struct corio_block_tx){.data = a, .len = 3};
    b->height = 42;
    memset(b->prev_hash, 0xaa, 32);
    b->timestamp_ms = 1764500000123ull;
    b->proposer = 3;
    b->first_leaf = 1000;
    b->txs = txs;
    b->ntxs = 3;
    memset(b->tree_root, 0xbb, 32);
    memset(b->state_hash, 0xcc, 32);
}

static void block_round_trip(void **state)
{
    (void)state;
    struct corio_block b, c;
    struct corio_block_tx txs[3];
    sample_block(&b, txs);
    uint8_t *buf;
    size_t len;
    assert_int_equal(corio_block_encode_alloc(&b, &buf, &len), CORIO_OK);
    assert_int_equal(corio_block_decode(buf, len, &c), CORIO_OK);
    assert_int_equal(c.height, 42);
    assert_memory_equal(c.prev_hash, b.prev_hash, 32);
    assert_int_equal(c.timestamp_ms, b.timestamp_ms);
    assert_int_equal(c.proposer, 3);
    assert_int_equal(c.first_leaf, 1000);
    assert_int_equal(c.ntxs, 3);
    assert_int_equal(c.txs[1].status, CORIO_TX_REFUSED);
    assert_int_equal(c.txs[1].reason_len, 13);
    assert_memory_equal(c.txs[1].reason, "not a command", 13);
    assert_int_equal(c.txs[0].status, CORIO_TX_ACCEPTED);
    assert_memory_equal(c.txs[2].data, "put", 3);
    assert_memory_equal(c.tree_root, b.tree_root, 32);
    assert_memory_equal(c.state_hash, b.state_hash, 32);

    /* Re-encoding the decoded block gives the same bytes, hence the same hash. */
    uint8_t *again;
    size_t again_len;
    assert_int_equal(corio_block_encode_alloc(&c, &again, &again_len), CORIO_OK);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, buf, len);
    uint8_t h1[32], h2[32];
    assert_int_equal(corio_block_hash(buf, len, h1), CORIO_OK);
    assert_int_equal(corio_block_hash(again, again_len, h2), CORIO_OK);
    assert_memory_equal(h1, h2, 32);
    /* One changed field changes the hash. */
    c.timestamp_ms++;
    free(again);
    assert_int_equal(corio_block_encode_alloc(&c, &again, &again_len), CORIO_OK);
    assert_int_equal(corio_block_hash(again, again_len, h2), CORIO_OK);
    assert_memory_not_equal(h1, h2, 32);
    free(again);
    corio_block_free(&c);

    /* Every truncation is refused, never read past. */
    for (size_t i = 0; i < len; i++) {
        uint8_t *cut = malloc(i ? i : 1);
        memcpy(cut, buf, i);
        assert_int_not_equal(corio_block_decode(cut, i, &c), CORIO_OK);
        free(cut);
    }
    /* Trailing bytes are refused. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0x00;
    assert_int_equal(corio_block_decode(longer, len + 1, &c), CORIO_ERR_MALFORMED);
    free(longer);
    free(buf);
}

static void encode_refusals(void **state)
{
    (void)state;
    struct corio_block b;
    struct corio_block_tx txs[3];
    uint8_t buf[512];
    sample_block(&b, txs);
    b.height = 0;
    assert_int_equal(corio_block_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    sample_block(&b, txs);
    txs[0].reason = "x";
    txs[0].reason_len = 1; /* accepted with a reason */
    assert_int_equal(corio_block_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    sample_block(&b, txs);
    txs[1].reason_len = 0; /* refused without one */
    assert_int_equal(corio_block_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    sample_block(&b, txs);
    txs[1].status = (enum corio_tx_status)2;
    assert_int_equal(corio_block_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    sample_block(&b, txs);
    txs[1].reason_len = CORIO_BLOCK_MAX_REASON + 1;
    assert_int_equal(corio_block_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    sample_block(&b, txs);
    txs[0].len = CORIO_BLOCK_MAX_TX + 1;
    assert_int_equal(corio_block_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
}

/* Hand-written encodings that break one rule each. */
static void decode_refusals(void **state)
{
    (void)state;
    struct corio_proposal p;
    struct corio_block b;
    static const struct {
        const char *what;
        uint8_t bytes[24];
        size_t len;
        int want;
    } bad_proposals[] = {
        {"version 2", {0xa4, 0x01, 0x02, 0x02, 0x00, 0x03, 0x00, 0x04, 0x80}, 9, CORIO_ERR_VERSION},
        {"three keys", {0xa3, 0x01, 0x01, 0x02, 0x00, 0x03, 0x00}, 7, CORIO_ERR_MALFORMED},
        {"five keys",
         {0xa5, 0x01, 0x01, 0x02, 0x00, 0x03, 0x00, 0x04, 0x80, 0x05, 0x00},
         11,
         CORIO_ERR_MALFORMED},
        {"keys out of order",
         {0xa4, 0x01, 0x01, 0x03, 0x00, 0x02, 0x00, 0x04, 0x80},
         9,
         CORIO_ERR_POLICY},
        {"long-form integer",
         {0xa4, 0x01, 0x01, 0x02, 0x18, 0x05, 0x03, 0x00, 0x04, 0x80},
         10,
         CORIO_ERR_POLICY},
        {"indefinite array",
         {0xa4, 0x01, 0x01, 0x02, 0x00, 0x03, 0x00, 0x04, 0x9f, 0xff},
         10,
         CORIO_ERR_POLICY},
        {"text transaction",
         {0xa4, 0x01, 0x01, 0x02, 0x00, 0x03, 0x00, 0x04, 0x81, 0x61, 0x41},
         11,
         CORIO_ERR_MALFORMED},
        {"negative timestamp",
         {0xa4, 0x01, 0x01, 0x02, 0x20, 0x03, 0x00, 0x04, 0x80},
         9,
         CORIO_ERR_MALFORMED},
        {"not a map", {0x80}, 1, CORIO_ERR_MALFORMED},
        {"empty", {0}, 0, CORIO_ERR_MALFORMED},
        {"two items",
         {0xa4, 0x01, 0x01, 0x02, 0x00, 0x03, 0x00, 0x04, 0x80, 0x00},
         10,
         CORIO_ERR_MALFORMED},
    };
    for (size_t i = 0; i < sizeof bad_proposals / sizeof bad_proposals[0]; i++) {
        int rc = corio_proposal_decode(bad_proposals[i].bytes, bad_proposals[i].len, &p);
        if (rc != bad_proposals[i].want)
            fail_msg("%s: got %d, want %d", bad_proposals[i].what, rc, bad_proposals[i].want);
    }

    /* Blocks: take a good encoding and patch one thing at a time. */
    struct corio_block good;
    struct corio_block_tx txs[3];
    sample_block(&good, txs);
    uint8_t *buf;
    size_t len;
    assert_int_equal(corio_block_encode_alloc(&good, &buf, &len), CORIO_OK);

    /* The refused transaction's entry: 0x83, bstr "garbage", 0x01, text "not a command". */
    uint8_t *at = memmem(buf, len, "\x83\x47garbage\x01\x6dnot a command", 24);
    assert_non_null(at);
    at[9] = 0x02; /* status 2 */
    assert_int_equal(corio_block_decode(buf, len, &b), CORIO_ERR_MALFORMED);
    at[9] = 0x00; /* accepted, but with a reason */
    assert_int_equal(corio_block_decode(buf, len, &b), CORIO_ERR_MALFORMED);
    at[9] = 0x01;
    at[11] = 0xff; /* invalid UTF-8 in the reason */
    assert_int_equal(corio_block_decode(buf, len, &b), CORIO_ERR_MALFORMED);
    at[11] = 'o';
    assert_int_equal(corio_block_decode(buf, len, &b), CORIO_OK);
    corio_block_free(&b);

    /* Height 0. */
    uint8_t *h = memmem(buf, len, "\x02\x18\x2a", 3);
    assert_non_null(h);
    h[2] = 0x00;
    assert_int_equal(corio_block_decode(buf, len, &b), CORIO_ERR_POLICY); /* non-shortest */
    h[1] = 0x00;                                                          /* 0 and a key */
    assert_int_not_equal(corio_block_decode(buf, len, &b), CORIO_OK);
    free(buf);

    /* A 31-byte hash. */
    good.height = 1;
    assert_int_equal(corio_block_encode_alloc(&good, &buf, &len), CORIO_OK);
    uint8_t *ph = memmem(buf, len, "\x03\x58\x20", 3);
    assert_non_null(ph);
    ph[2] = 0x1f;
    assert_int_not_equal(corio_block_decode(buf, len, &b), CORIO_OK);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(proposal_bytes),
        H_TEST(block_round_trip),
        H_TEST(encode_refusals),
        H_TEST(decode_refusals),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
