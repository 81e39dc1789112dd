/*
 * ledger_merkle.h - the verifiable log's Merkle tree (RFC 9162 §2.1): leaf and node hashes,
 * roots, inclusion and consistency proofs, and their offline verification.
 *
 * This file and merkle.c depend on nothing of the daemon (no SQLite, no raft, no
 * threads): the `corio` command line links them to check proofs it was handed.
 *
 *   leaf hash  = SHA-256(0x00 || entry)
 *   node hash  = SHA-256(0x01 || left || right)
 *   empty tree = SHA-256("")
 *
 * A tree of n leaves is stored as its "perfect" subtrees: the subtree at (level L,
 * index i) covers leaves [i * 2^L, (i + 1) * 2^L) and exists once all of them do. Every
 * root, proof and consistency proof needs only O(log n) of them, which the caller
 * supplies through a corio_merkle_node_fn (tree.c reads them from SQLite; the tests
 * from memory). corio_merkle_frontier builds them incrementally as leaves arrive.
 *
 * Errors: CORIO_ERR_INVAL (a NULL argument, an index or size out of range for the
 * call), CORIO_ERR_NOSPACE (the proof does not fit the caller's array),
 * CORIO_ERR_BADSIG (a proof that does not verify: the same code as a signature that
 * does not, since both mean "this evidence is false"), CORIO_ERR_MALFORMED (a proof of
 * the wrong length for its sizes), CORIO_ERR_CRYPTO (the hash failed), and whatever
 * the node function returns.
 */
#ifndef CORIO_LEDGER_MERKLE_H
#define CORIO_LEDGER_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define CORIO_MERKLE_HASH_LEN 32
/* The longest inclusion or consistency proof of a tree with fewer than 2^63 leaves. */
#define CORIO_MERKLE_MAX_PROOF 64

typedef uint8_t corio_merkle_hash[CORIO_MERKLE_HASH_LEN];

/* SHA-256(0x00 || data). Returns CORIO_OK or CORIO_ERR_CRYPTO. */
int corio_merkle_leaf_hash(const void *data, size_t len, uint8_t out[CORIO_MERKLE_HASH_LEN]);

/* SHA-256(0x01 || left || right); out may alias either input. Returns CORIO_OK or
 * CORIO_ERR_CRYPTO. */
int corio_merkle_node_hash(const uint8_t left[CORIO_MERKLE_HASH_LEN],
                           const uint8_t right[CORIO_MERKLE_HASH_LEN],
                           uint8_t out[CORIO_MERKLE_HASH_LEN]);

/* The root of the empty tree, SHA-256(""). */
void corio_merkle_empty_root(uint8_t out[CORIO_MERKLE_HASH_LEN]);

/*
 * Supplies the hash of the perfect subtree at (level, index): leaves
 * [index << level, (index + 1) << level). Level 0 is a leaf hash. Returns CORIO_OK or
 * a negative error that the calling function passes on.
 */
typedef int (*corio_merkle_node_fn)(void *arg, unsigned level, uint64_t index,
                                    uint8_t out[CORIO_MERKLE_HASH_LEN]);

/*
 * MTH(D[begin:end]) of RFC 9162 for a tree of at least end leaves, from at most
 * 2 * log2(end - begin) node reads when the range is one the proofs use. begin < end.
 */
int corio_merkle_range_root(corio_merkle_node_fn fn, void *arg, uint64_t begin, uint64_t end,
                            uint8_t out[CORIO_MERKLE_HASH_LEN]);

/* The root of the first size leaves (size 0: the empty root). */
int corio_merkle_root(corio_merkle_node_fn fn, void *arg, uint64_t size,
                      uint8_t out[CORIO_MERKLE_HASH_LEN]);

/*
 * PATH(index, D[0:size]) (RFC 9162 §2.1.3.1): the audit path of leaf index in the tree
 * of size leaves, written to path[0 .. *len) (leaf side first). index < size; max is
 * the capacity of path (CORIO_MERKLE_MAX_PROOF always suffices).
 */
int corio_merkle_inclusion_proof(corio_merkle_node_fn fn, void *arg, uint64_t index, uint64_t size,
                                 corio_merkle_hash *path, size_t max, size_t *len);

/*
 * PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1): the consistency proof between the
 * trees of first and second leaves, 0 < first <= second, written to proof[0 .. *len).
 * first == second gives the empty proof.
 */
int corio_merkle_consistency_proof(corio_merkle_node_fn fn, void *arg, uint64_t first,
                                   uint64_t second, corio_merkle_hash *proof, size_t max,
                                   size_t *len);

/*
 * Verifies that leaf (a leaf hash) is entry index of the tree of size leaves whose root
 * is root, with the audit path path[0 .. len) (RFC 9162 §2.1.3.2).
 * Returns CORIO_OK only when it is; CORIO_ERR_BADSIG when the path leads to another
 * root; CORIO_ERR_MALFORMED when the path's length cannot be right for index and size;
 * CORIO_ERR_INVAL when index >= size or an argument is NULL.
 */
int corio_merkle_verify_inclusion(const uint8_t leaf[CORIO_MERKLE_HASH_LEN], uint64_t index,
                                  uint64_t size, const corio_merkle_hash *path, size_t len,
                                  const uint8_t root[CORIO_MERKLE_HASH_LEN]);

/*
 * Verifies that the tree of second leaves with root second_root extends the tree of
 * first leaves with root first_root, with proof[0 .. len) (RFC 9162 §2.1.4.2).
 * first == second needs an empty proof and equal roots; first == 0 needs an empty proof
 * and the empty root as first_root (every tree extends the empty one).
 * Returns CORIO_OK only when it does; CORIO_ERR_BADSIG when the proof does not connect
 * the two roots; CORIO_ERR_MALFORMED for a proof of the wrong length; CORIO_ERR_INVAL
 * when first > second or an argument is NULL.
 */
int corio_merkle_verify_consistency(uint64_t first, uint64_t second,
                                    const uint8_t first_root[CORIO_MERKLE_HASH_LEN],
                                    const uint8_t second_root[CORIO_MERKLE_HASH_LEN],
                                    const corio_merkle_hash *proof, size_t len);

/* The length of PATH(index, D[0:size]) and of PROOF(first, D[0:second]), computed from
 * the sizes alone (what a verifier expects); 0 for arguments out of range. */
size_t corio_merkle_inclusion_len(uint64_t index, uint64_t size);
size_t corio_merkle_consistency_len(uint64_t first, uint64_t second);

/*
 * The right edge of a growing tree: for each set bit L of size, node[L] is the root of
 * the perfect subtree of 2^L leaves that the bit stands for. 64 levels hold any size.
 * Appending a leaf completes one perfect subtree per level it carries through; root
 * folds the edge. Cheap to copy (2 KiB); the caller owns it.
 */
struct corio_merkle_frontier {
    uint64_t size;
    uint8_t node[64][CORIO_MERKLE_HASH_LEN];
};

/* An empty frontier. */
void corio_merkle_frontier_init(struct corio_merkle_frontier *f);

/*
 * Called by append for every perfect subtree the new leaf completes, lowest level
 * first: (0, leaf index, leaf hash), then (1, index >> 1, ...), and so on. A negative
 * return stops the append, which then returns it and leaves f unchanged.
 */
typedef int (*corio_merkle_emit_fn)(void *arg, unsigned level, uint64_t index,
                                    const uint8_t hash[CORIO_MERKLE_HASH_LEN]);

/* Appends a leaf hash (emit may be NULL). Returns CORIO_OK, CORIO_ERR_FULL at 2^63
 * leaves, CORIO_ERR_CRYPTO, or emit's error. */
int corio_merkle_frontier_append(struct corio_merkle_frontier *f,
                                 const uint8_t leaf[CORIO_MERKLE_HASH_LEN],
                                 corio_merkle_emit_fn emit, void *arg);

/* The root of the tree the frontier stands for (the empty root for size 0). */
int corio_merkle_frontier_root(const struct corio_merkle_frontier *f,
                               uint8_t out[CORIO_MERKLE_HASH_LEN]);

/*
 * Rebuilds the frontier of a tree of size leaves from its stored perfect subtrees
 * (one read per set bit of size).
 */
int corio_merkle_frontier_load(struct corio_merkle_frontier *f, corio_merkle_node_fn fn, void *arg,
                               uint64_t size);

#endif /* CORIO_LEDGER_MERKLE_H */
