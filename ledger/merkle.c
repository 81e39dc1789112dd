/*
 * merkle.c - RFC 9162 §2.1 Merkle tree math for the ledger's verifiable log (ledger_merkle.h).
 *
 * Proof generation follows the RFC's recursive definitions (PATH, PROOF, SUBPROOF)
 * literally, with MTH of a range computed from stored perfect subtrees. Every range the
 * recursion meets is either an aligned perfect subtree (one read) or a suffix of the
 * tree that splits into such subtrees along the binary digits of its size, so a proof
 * costs O(log n) reads. Verification follows the RFC's iterative algorithms.
 */
#include "ledger_merkle.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "corio/error.h"

int corio_merkle_leaf_hash(const void *data, size_t len, uint8_t out[CORIO_MERKLE_HASH_LEN])
{
    static const uint8_t prefix = 0x00;
    if ((!data && len) || !out)
        return CORIO_ERR_INVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return CORIO_ERR_CRYPTO;
    unsigned n = 0;
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, &prefix, 1) == 1 &&
             (len == 0 || EVP_DigestUpdate(ctx, data, len) == 1) &&
             EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == CORIO_MERKLE_HASH_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? CORIO_OK : CORIO_ERR_CRYPTO;
}

int corio_merkle_node_hash(const uint8_t left[CORIO_MERKLE_HASH_LEN],
                           const uint8_t right[CORIO_MERKLE_HASH_LEN],
                           uint8_t out[CORIO_MERKLE_HASH_LEN])
{
    uint8_t buf[1 + 2 * CORIO_MERKLE_HASH_LEN];
    buf[0] = 0x01;
    memcpy(buf + 1, left, CORIO_MERKLE_HASH_LEN);
    memcpy(buf + 1 + CORIO_MERKLE_HASH_LEN, right, CORIO_MERKLE_HASH_LEN);
    return SHA256(buf, sizeof buf, out) ? CORIO_OK : CORIO_ERR_CRYPTO;
}

void corio_merkle_empty_root(uint8_t out[CORIO_MERKLE_HASH_LEN])
{
    /* SHA-256 of the empty string. */
    static const uint8_t empty[CORIO_MERKLE_HASH_LEN] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
        0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
        0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
    memcpy(out, empty, CORIO_MERKLE_HASH_LEN);
}

/* The largest power of two strictly below n (n >= 2): RFC 9162's k. */
static uint64_t split(uint64_t n)
{
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

static bool is_pow2(uint64_t n)
{
    return n && !(n & (n - 1));
}

int corio_merkle_range_root(corio_merkle_node_fn fn, void *arg, uint64_t begin, uint64_t end,
                            uint8_t out[CORIO_MERKLE_HASH_LEN])
{
    if (!fn || !out || begin >= end)
        return CORIO_ERR_INVAL;
    uint64_t n = end - begin;
    if (is_pow2(n) && (begin & (n - 1)) == 0) {
        unsigned level = (unsigned)__builtin_ctzll(n);
        return fn(arg, level, begin >> level, out);
    }
    uint64_t k = split(n);
    uint8_t left[CORIO_MERKLE_HASH_LEN], right[CORIO_MERKLE_HASH_LEN];
    int rc = corio_merkle_range_root(fn, arg, begin, begin + k, left);
    if (rc == CORIO_OK)
        rc = corio_merkle_range_root(fn, arg, begin + k, end, right);
    if (rc == CORIO_OK)
        rc = corio_merkle_node_hash(left, right, out);
    return rc;
}

int corio_merkle_root(corio_merkle_node_fn fn, void *arg, uint64_t size,
                      uint8_t out[CORIO_MERKLE_HASH_LEN])
{
    if (!out)
        return CORIO_ERR_INVAL;
    if (size == 0) {
        corio_merkle_empty_root(out);
        return CORIO_OK;
    }
    return corio_merkle_range_root(fn, arg, 0, size, out);
}

/* A proof being written: the node source and the output array, or only a count. */
struct proof {
    corio_merkle_node_fn fn;
    void *arg;
    corio_merkle_hash *out; /* NULL: count only */
    size_t max, len;
};

static int proof_add_range(struct proof *p, uint64_t begin, uint64_t end)
{
    if (!p->out) {
        p->len++;
        return CORIO_OK;
    }
    if (p->len >= p->max)
        return CORIO_ERR_NOSPACE;
    int rc = corio_merkle_range_root(p->fn, p->arg, begin, end, p->out[p->len]);
    if (rc == CORIO_OK)
        p->len++;
    return rc;
}

/* PATH(m, D[begin:end]) with m an absolute leaf index inside the range. */
static int path(struct proof *p, uint64_t m, uint64_t begin, uint64_t end)
{
    uint64_t n = end - begin;
    if (n == 1)
        return CORIO_OK;
    uint64_t k = split(n);
    int rc;
    if (m < begin + k) {
        rc = path(p, m, begin, begin + k);
        if (rc == CORIO_OK)
            rc = proof_add_range(p, begin + k, end);
    } else {
        rc = path(p, m, begin + k, end);
        if (rc == CORIO_OK)
            rc = proof_add_range(p, begin, begin + k);
    }
    return rc;
}

/* SUBPROOF(m, D[begin:end], whole) with m a count of leaves from begin. */
static int subproof(struct proof *p, uint64_t m, uint64_t begin, uint64_t end, bool whole)
{
    uint64_t n = end - begin;
    if (m == n)
        return whole ? CORIO_OK : proof_add_range(p, begin, end);
    uint64_t k = split(n);
    int rc;
    if (m <= k) {
        rc = subproof(p, m, begin, begin + k, whole);
        if (rc == CORIO_OK)
            rc = proof_add_range(p, begin + k, end);
    } else {
        rc = subproof(p, m - k, begin + k, end, false);
        if (rc == CORIO_OK)
            rc = proof_add_range(p, begin, begin + k);
    }
    return rc;
}

int corio_merkle_inclusion_proof(corio_merkle_node_fn fn, void *arg, uint64_t index, uint64_t size,
                                 corio_merkle_hash *path_out, size_t max, size_t *len)
{
    if (!fn || !path_out || !len || index >= size)
        return CORIO_ERR_INVAL;
    struct proof p = {fn, arg, path_out, max, 0};
    int rc = path(&p, index, 0, size);
    if (rc == CORIO_OK)
        *len = p.len;
    return rc;
}

int corio_merkle_consistency_proof(corio_merkle_node_fn fn, void *arg, uint64_t first,
                                   uint64_t second, corio_merkle_hash *proof_out, size_t max,
                                   size_t *len)
{
    if (!fn || !proof_out || !len || first == 0 || first > second)
        return CORIO_ERR_INVAL;
    struct proof p = {fn, arg, proof_out, max, 0};
    int rc = subproof(&p, first, 0, second, true);
    if (rc == CORIO_OK)
        *len = p.len;
    return rc;
}

size_t corio_merkle_inclusion_len(uint64_t index, uint64_t size)
{
    if (index >= size)
        return 0;
    struct proof p = {NULL, NULL, NULL, 0, 0};
    path(&p, index, 0, size);
    return p.len;
}

size_t corio_merkle_consistency_len(uint64_t first, uint64_t second)
{
    if (first == 0 || first > second)
        return 0;
    struct proof p = {NULL, NULL, NULL, 0, 0};
    subproof(&p, first, 0, second, true);
    return p.len;
}

int corio_merkle_verify_inclusion(const uint8_t leaf[CORIO_MERKLE_HASH_LEN], uint64_t index,
                                  uint64_t size, const corio_merkle_hash *path_in, size_t len,
                                  const uint8_t root[CORIO_MERKLE_HASH_LEN])
{
    if (!leaf || !root || (!path_in && len) || index >= size)
        return CORIO_ERR_INVAL;
    if (len != corio_merkle_inclusion_len(index, size))
        return CORIO_ERR_MALFORMED;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[CORIO_MERKLE_HASH_LEN];
    memcpy(r, leaf, sizeof r);
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return CORIO_ERR_BADSIG;
        int rc;
        if ((fn & 1) || fn == sn) {
            rc = corio_merkle_node_hash(path_in[i], r, r);
            if (!(fn & 1)) {
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            rc = corio_merkle_node_hash(r, path_in[i], r);
        }
        if (rc != CORIO_OK)
            return rc;
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(r, root, sizeof r) != 0)
        return CORIO_ERR_BADSIG;
    return CORIO_OK;
}

int corio_merkle_verify_consistency(uint64_t first, uint64_t second,
                                    const uint8_t first_root[CORIO_MERKLE_HASH_LEN],
                                    const uint8_t second_root[CORIO_MERKLE_HASH_LEN],
                                    const corio_merkle_hash *proof_in, size_t len)
{
    if (!first_root || !second_root || (!proof_in && len) || first > second)
        return CORIO_ERR_INVAL;
    if (first == 0 || first == second) {
        if (len != 0)
            return CORIO_ERR_MALFORMED;
        uint8_t want[CORIO_MERKLE_HASH_LEN];
        if (first == 0)
            corio_merkle_empty_root(want);
        else
            memcpy(want, second_root, sizeof want);
        return memcmp(first_root, want, sizeof want) == 0 ? CORIO_OK : CORIO_ERR_BADSIG;
    }
    if (len == 0 || len != corio_merkle_consistency_len(first, second))
        return CORIO_ERR_MALFORMED;

    /* RFC 9162 §2.1.4.2; a first size that is a power of two starts from first_root,
     * as if it were prepended to the proof. */
    size_t i = 0;
    const uint8_t *start;
    if (is_pow2(first)) {
        start = first_root;
    } else {
        start = proof_in[0];
        i = 1;
    }
    uint64_t fn = first - 1, sn = second - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[CORIO_MERKLE_HASH_LEN], sr[CORIO_MERKLE_HASH_LEN];
    memcpy(fr, start, sizeof fr);
    memcpy(sr, start, sizeof sr);
    for (; i < len; i++) {
        const uint8_t *c = proof_in[i];
        if (sn == 0)
            return CORIO_ERR_BADSIG;
        int rc;
        if ((fn & 1) || fn == sn) {
            rc = corio_merkle_node_hash(c, fr, fr);
            if (rc == CORIO_OK)
                rc = corio_merkle_node_hash(c, sr, sr);
            if (!(fn & 1)) {
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            rc = corio_merkle_node_hash(sr, c, sr);
        }
        if (rc != CORIO_OK)
            return rc;
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(fr, first_root, sizeof fr) != 0 ||
        memcmp(sr, second_root, sizeof sr) != 0)
        return CORIO_ERR_BADSIG;
    return CORIO_OK;
}

void corio_merkle_frontier_init(struct corio_merkle_frontier *f)
{
    memset(f, 0, sizeof *f);
}

int corio_merkle_frontier_append(struct corio_merkle_frontier *f,
                                 const uint8_t leaf[CORIO_MERKLE_HASH_LEN],
                                 corio_merkle_emit_fn emit, void *arg)
{
    if (!f || !leaf)
        return CORIO_ERR_INVAL;
    if (f->size >= ((uint64_t)1 << 63))
        return CORIO_ERR_FULL;
    uint64_t index = f->size;
    uint8_t carry[CORIO_MERKLE_HASH_LEN];
    memcpy(carry, leaf, sizeof carry);
    int rc = emit ? emit(arg, 0, index, carry) : CORIO_OK;
    unsigned level = 0;
    /* Each set low bit of the old size is a finished left sibling to merge with. Nothing
     * in f changes until every emit succeeded. */
    while (rc == CORIO_OK && (index >> level) & 1) {
        rc = corio_merkle_node_hash(f->node[level], carry, carry);
        level++;
        if (rc == CORIO_OK && emit)
            rc = emit(arg, level, index >> level, carry);
    }
    if (rc != CORIO_OK)
        return rc;
    memcpy(f->node[level], carry, sizeof carry);
    f->size = index + 1;
    return CORIO_OK;
}

int corio_merkle_frontier_root(const struct corio_merkle_frontier *f,
                               uint8_t out[CORIO_MERKLE_HASH_LEN])
{
    if (!f || !out)
        return CORIO_ERR_INVAL;
    if (f->size == 0) {
        corio_merkle_empty_root(out);
        return CORIO_OK;
    }
    /* Fold from the smallest subtree (rightmost) to the largest (leftmost). */
    unsigned low = (unsigned)__builtin_ctzll(f->size);
    uint8_t acc[CORIO_MERKLE_HASH_LEN];
    memcpy(acc, f->node[low], sizeof acc);
    for (unsigned l = low + 1; l < 64; l++) {
        if ((f->size >> l) & 1) {
            int rc = corio_merkle_node_hash(f->node[l], acc, acc);
            if (rc != CORIO_OK)
                return rc;
        }
    }
    memcpy(out, acc, sizeof acc);
    return CORIO_OK;
}

int corio_merkle_frontier_load(struct corio_merkle_frontier *f, corio_merkle_node_fn fn, void *arg,
                               uint64_t size)
{
    if (!f || !fn || size >= ((uint64_t)1 << 63))
        return CORIO_ERR_INVAL;
    struct corio_merkle_frontier tmp;
    corio_merkle_frontier_init(&tmp);
    /* The subtree for bit L starts after every higher bit's leaves. */
    uint64_t begin = 0;
    for (int l = 63; l >= 0; l--) {
        if (!((size >> l) & 1))
            continue;
        int rc = fn(arg, (unsigned)l, begin >> l, tmp.node[l]);
        if (rc != CORIO_OK)
            return rc;
        begin += (uint64_t)1 << l;
    }
    tmp.size = size;
    *f = tmp;
    return CORIO_OK;
}
