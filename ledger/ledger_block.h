/*
 * ledger_block.h - the ledger's two wire formats below the transactions: the proposal a leader
 * puts into the Raft log, and the block every node derives from it when it applies it.
 * Both are deterministic CBOR (RFC 8949 §4.2.1) maps with small unsigned keys and a
 * format version; docs/ledger.md describes them for people.
 *
 * A proposal is the leader's input: its clock reading and the transactions, in order.
 * Blocks cannot be built at proposal time (the leader pipelines proposals before
 * earlier ones are applied, so it does not know the previous block's hash or the
 * state after it); they are computed at apply time from the proposal and the chain so
 * far, identically on every node:
 *
 *   proposal = {1: 1, 2: timestamp_ms, 3: proposer, 4: [tx, ...]}
 *   block    = {1: 1, 2: height, 3: prev_hash, 4: timestamp_ms, 5: proposer,
 *               6: first_leaf, 7: [[tx, status, reason], ...], 8: tree_root,
 *               9: state_hash}
 *
 * Transactions are opaque bytes here; status is 0 (accepted) or 1 (refused by the
 * application, with a reason). Refused transactions stay in the block and in the
 * Merkle log, so every node records the same history. The block hash is SHA-256 of the
 * block's encoding; the first block's prev_hash is 32 zero bytes.
 *
 * Decoding is strict: only deterministic encodings, exactly the keys above, hashes of
 * 32 bytes, at most CORIO_BLOCK_MAX_TXS transactions of at most CORIO_BLOCK_MAX_TX
 * bytes, reasons of valid UTF-8 up to CORIO_BLOCK_MAX_REASON bytes, a known version
 * (else CORIO_ERR_VERSION). Decoded views point into the caller's buffer.
 */
#ifndef CORIO_LEDGER_BLOCK_H
#define CORIO_LEDGER_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CORIO_BLOCK_VERSION    1
#define CORIO_BLOCK_HASH_LEN   32
#define CORIO_BLOCK_MAX_TXS    65536
#define CORIO_BLOCK_MAX_TX     (1u << 20) /* one transaction, bytes */
#define CORIO_BLOCK_MAX_REASON 256        /* a refusal's reason, bytes */

enum corio_tx_status {
    CORIO_TX_ACCEPTED = 0,
    CORIO_TX_REFUSED = 1,
};

/* A transaction inside a proposal or a block; pointers into the decoded buffer (or the
 * caller's memory when encoding). reason is not NUL-terminated. */
struct corio_block_tx {
    const uint8_t *data;
    size_t len;
    enum corio_tx_status status; /* blocks only */
    const char *reason;          /* blocks only; "" (len 0) when accepted */
    size_t reason_len;
};

struct corio_proposal {
    unsigned version;
    uint64_t timestamp_ms; /* the leader's clock when it proposed */
    uint64_t proposer;     /* the leader's node id */
    struct corio_block_tx *txs;
    size_t ntxs;
};

struct corio_block {
    unsigned version;
    uint64_t height; /* 1 for the first block */
    uint8_t prev_hash[CORIO_BLOCK_HASH_LEN];
    uint64_t timestamp_ms;
    uint64_t proposer;
    uint64_t first_leaf; /* the Merkle tree's size before this block */
    struct corio_block_tx *txs;
    size_t ntxs;
    uint8_t tree_root[CORIO_BLOCK_HASH_LEN];  /* after this block's transactions */
    uint8_t state_hash[CORIO_BLOCK_HASH_LEN]; /* the application's, after this block */
};

/*
 * Encodes p into out[0..cap) (out NULL: only count). Returns the length,
 * CORIO_ERR_NOSPACE, or CORIO_ERR_INVAL (too many or too long transactions).
 */
int corio_proposal_encode(const struct corio_proposal *p, uint8_t *out, size_t cap);

/*
 * Decodes buf[0..len). On success p->txs is an array the caller frees with
 * corio_proposal_free (its entries point into buf). Returns CORIO_OK,
 * CORIO_ERR_MALFORMED, CORIO_ERR_POLICY (well-formed but not deterministic),
 * CORIO_ERR_VERSION, CORIO_ERR_NOSPACE (no memory).
 */
int corio_proposal_decode(const uint8_t *buf, size_t len, struct corio_proposal *p);
void corio_proposal_free(struct corio_proposal *p);

/* Encodes b into out[0..cap) (out NULL: only count). Returns the length,
 * CORIO_ERR_NOSPACE or CORIO_ERR_INVAL (limits, a status other than the two, a reason
 * on an accepted transaction or none on a refused one). */
int corio_block_encode(const struct corio_block *b, uint8_t *out, size_t cap);

/* Encodes b into a malloc'd buffer (*out, *len; free with free()). Returns CORIO_OK,
 * CORIO_ERR_INVAL or CORIO_ERR_NOSPACE. */
int corio_block_encode_alloc(const struct corio_block *b, uint8_t **out, size_t *len);

/* Decodes buf[0..len) as corio_proposal_decode does; free with corio_block_free. */
int corio_block_decode(const uint8_t *buf, size_t len, struct corio_block *b);
void corio_block_free(struct corio_block *b);

/* SHA-256 of an encoded block. Returns CORIO_OK or CORIO_ERR_CRYPTO. */
int corio_block_hash(const uint8_t *buf, size_t len, uint8_t out[CORIO_BLOCK_HASH_LEN]);

#endif /* CORIO_LEDGER_BLOCK_H */
