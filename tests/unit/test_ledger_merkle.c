/*
 * test_ledger_merkle.c - the verifiable log's Merkle math (ledger/merkle.c) against an
 * independent reference: RFC 9162's recursive MTH, PATH and PROOF definitions written
 * out here over plain leaf data, hashed with OpenSSL directly, plus the published
 * RFC 6962 / Certificate Transparency vectors for the eight-leaf tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "corio/error.h"
#include "harness.h"
#include "ledger_merkle.h"

/* ---- the reference: RFC 9162 §2.1 as written ----------------------------------------- */

struct leaf {
    uint8_t data[16];
    size_t len;
};

static void sha256_parts(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                         size_t clen, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    unsigned n;
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(ctx, a, alen), 1);
    if (blen)
        assert_int_equal(EVP_DigestUpdate(ctx, b, blen), 1);
    if (clen)
        assert_int_equal(EVP_DigestUpdate(ctx, c, clen), 1);
    assert_int_equal(EVP_DigestFinal_ex(ctx, out, &n), 1);
    EVP_MD_CTX_free(ctx);
}

static void ref_leaf(const struct leaf *l, uint8_t out[32])
{
    static const uint8_t zero = 0;
    sha256_parts(&zero, 1, l->data, l->len, NULL, 0, out);
}

static void ref_node(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
    static const uint8_t one = 1;
    sha256_parts(&one, 1, a, 32, b, 32, out);
}

static size_t ref_k(size_t n)
{
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* MTH(D[0:n]) for n >= 1. */
static void ref_mth(const struct leaf *d, size_t n, uint8_t out[32])
{
    if (n == 1) {
        ref_leaf(d, out);
        return;
    }
    size_t k = ref_k(n);
    uint8_t l[32], r[32];
    ref_mth(d, k, l);
    ref_mth(d + k, n - k, r);
    ref_node(l, r, out);
}

/* PATH(m, D[0:n]) appended to out. */
static void ref_path(size_t m, const struct leaf *d, size_t n, corio_merkle_hash *out, size_t *len)
{
    if (n == 1)
        return;
    size_t k = ref_k(n);
    if (m < k) {
        ref_path(m, d, k, out, len);
        ref_mth(d + k, n - k, out[(*len)++]);
    } else {
        ref_path(m - k, d + k, n - k, out, len);
        ref_mth(d, k, out[(*len)++]);
    }
}

/* SUBPROOF(m, D[0:n], b) appended to out. */
static void ref_subproof(size_t m, const struct leaf *d, size_t n, int b, corio_merkle_hash *out,
                         size_t *len)
{
    if (m == n) {
        if (!b)
            ref_mth(d, n, out[(*len)++]);
        return;
    }
    size_t k = ref_k(n);
    if (m <= k) {
        ref_subproof(m, d, k, b, out, len);
        ref_mth(d + k, n - k, out[(*len)++]);
    } else {
        ref_subproof(m - k, d + k, n - k, 0, out, len);
        ref_mth(d, k, out[(*len)++]);
    }
}

/* ---- an in-memory store of perfect subtrees, filled by the frontier ------------------- */

struct mem_tree {
    corio_merkle_hash *level[64];
    size_t cap[64];
    unsigned long reads;
};

static int mem_emit(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
    struct mem_tree *t = arg;
    if (index >= t->cap[level]) {
        size_t cap = t->cap[level] ? t->cap[level] * 2 : 16;
        while (cap <= index)
            cap *= 2;
        t->level[level] = realloc(t->level[level], cap * 32);
        assert_non_null(t->level[level]);
        t->cap[level] = cap;
    }
    memcpy(t->level[level][index], hash, 32);
    return CORIO_OK;
}

static int mem_node(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
    struct mem_tree *t = arg;
    t->reads++;
    if (level >= 64 || index >= t->cap[level])
        return CORIO_ERR_NOTFOUND;
    memcpy(out, t->level[level][index], 32);
    return CORIO_OK;
}

static void mem_free(struct mem_tree *t)
{
    for (int i = 0; i < 64; i++)
        free(t->level[i]);
    memset(t, 0, sizeof *t);
}

static void make_leaves(struct leaf *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        d[i].len = 1 + i % 9;
        for (size_t j = 0; j < d[i].len; j++)
            d[i].data[j] = (uint8_t)(i * 31 + j * 7);
    }
}

static void build(struct mem_tree *t, struct corio_merkle_frontier *f, const struct leaf *d,
                  size_t n)
{
    memset(t, 0, sizeof *t);
    corio_merkle_frontier_init(f);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        assert_int_equal(corio_merkle_leaf_hash(d[i].data, d[i].len, h), CORIO_OK);
        assert_int_equal(corio_merkle_frontier_append(f, h, mem_emit, t), CORIO_OK);
    }
}

static void hex32(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* ---- tests ---------------------------------------------------------------------------- */

/* The RFC 6962 test tree: eight leaves, the roots of every prefix, and a few proofs
 * as Certificate Transparency publishes them. */
static const char *const ct_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void ct_leaves(struct leaf d[8])
{
    static const uint8_t raw[8][16] = {
        {0},
        {0x00},
        {0x10},
        {0x20, 0x21},
        {0x30, 0x31},
        {0x40, 0x41, 0x42, 0x43},
        {0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
        {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e,
         0x6f},
    };
    static const size_t lens[8] = {0, 1, 1, 2, 2, 4, 8, 16};
    for (int i = 0; i < 8; i++) {
        memcpy(d[i].data, raw[i], sizeof d[i].data);
        d[i].len = lens[i];
    }
}

static void ct_vectors(void **state)
{
    (void)state;
    struct leaf d[8];
    ct_leaves(d);
    struct mem_tree t;
    struct corio_merkle_frontier f;
    uint8_t want[32], got[32];
    corio_merkle_frontier_init(&f);
    memset(&t, 0, sizeof t);
    for (int n = 1; n <= 8; n++) {
        uint8_t h[32];
        assert_int_equal(corio_merkle_leaf_hash(d[n - 1].data, d[n - 1].len, h), CORIO_OK);
        assert_int_equal(corio_merkle_frontier_append(&f, h, mem_emit, &t), CORIO_OK);
        hex32(ct_roots[n - 1], want);
        assert_int_equal(corio_merkle_frontier_root(&f, got), CORIO_OK);
        assert_memory_equal(got, want, 32);
        assert_int_equal(corio_merkle_root(mem_node, &t, (uint64_t)n, got), CORIO_OK);
        assert_memory_equal(got, want, 32);
    }

    static const struct {
        int kind; /* 0 inclusion (a = index), 1 consistency (a = first) */
        uint64_t a, n;
        size_t len;
        const char *hashes[3];
    } vec[] = {
        {0,
         0,
         8,
         3,
         {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {0,
         5,
         8,
         3,
         {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
        {1,
         1,
         8,
         3,
         {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {1,
         6,
         8,
         3,
         {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
        {1,
         2,
         5,
         2,
         {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    };
    for (size_t v = 0; v < sizeof vec / sizeof vec[0]; v++) {
        corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
        size_t len = 0;
        if (vec[v].kind == 0)
            assert_int_equal(corio_merkle_inclusion_proof(mem_node, &t, vec[v].a, vec[v].n, proof,
                                                          CORIO_MERKLE_MAX_PROOF, &len),
                             CORIO_OK);
        else
            assert_int_equal(corio_merkle_consistency_proof(mem_node, &t, vec[v].a, vec[v].n, proof,
                                                            CORIO_MERKLE_MAX_PROOF, &len),
                             CORIO_OK);
        assert_int_equal(len, vec[v].len);
        for (size_t i = 0; i < len; i++) {
            hex32(vec[v].hashes[i], want);
            assert_memory_equal(proof[i], want, 32);
        }
        uint8_t root_n[32], root_a[32];
        hex32(ct_roots[vec[v].n - 1], root_n);
        if (vec[v].kind == 0) {
            uint8_t leaf[32];
            ref_leaf(&d[vec[v].a], leaf);
            assert_int_equal(
                corio_merkle_verify_inclusion(leaf, vec[v].a, vec[v].n, proof, len, root_n),
                CORIO_OK);
        } else {
            hex32(ct_roots[vec[v].a - 1], root_a);
            assert_int_equal(
                corio_merkle_verify_consistency(vec[v].a, vec[v].n, root_a, root_n, proof, len),
                CORIO_OK);
        }
    }
    mem_free(&t);
}

/* Every tree size up to 70 and a few larger: roots, every inclusion proof and every
 * consistency proof equal the reference's, verify, and stop verifying when anything in
 * them changes. */
static void against_reference(void **state)
{
    (void)state;
    static const size_t sizes_extra[] = {127, 128, 129, 255, 256, 257, 1000, 1025};
    struct leaf *d = calloc(1025, sizeof *d);
    assert_non_null(d);
    make_leaves(d, 1025);

    for (size_t s = 1; s <= 70 + sizeof sizes_extra / sizeof sizes_extra[0]; s++) {
        size_t n = s <= 70 ? s : sizes_extra[s - 71];
        bool exhaustive = n <= 70;
        struct mem_tree t;
        struct corio_merkle_frontier f;
        build(&t, &f, d, n);

        uint8_t want[32], got[32];
        ref_mth(d, n, want);
        assert_int_equal(corio_merkle_frontier_root(&f, got), CORIO_OK);
        assert_memory_equal(got, want, 32);
        assert_int_equal(corio_merkle_root(mem_node, &t, n, got), CORIO_OK);
        assert_memory_equal(got, want, 32);

        /* The frontier reloaded from the stored subtrees is the same. */
        struct corio_merkle_frontier g;
        assert_int_equal(corio_merkle_frontier_load(&g, mem_node, &t, n), CORIO_OK);
        assert_int_equal(g.size, n);
        assert_int_equal(corio_merkle_frontier_root(&g, got), CORIO_OK);
        assert_memory_equal(got, want, 32);

        for (size_t m = 0; m < n; m += exhaustive ? 1 : 37) {
            corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF], ref[CORIO_MERKLE_MAX_PROOF];
            size_t len = 0, rlen = 0;
            assert_int_equal(corio_merkle_inclusion_proof(mem_node, &t, m, n, proof,
                                                          CORIO_MERKLE_MAX_PROOF, &len),
                             CORIO_OK);
            ref_path(m, d, n, ref, &rlen);
            assert_int_equal(len, rlen);
            assert_int_equal(corio_merkle_inclusion_len(m, n), rlen);
            if (len)
                assert_memory_equal(proof, ref, len * 32);
            uint8_t leaf[32];
            ref_leaf(&d[m], leaf);
            assert_int_equal(corio_merkle_verify_inclusion(leaf, m, n, proof, len, want), CORIO_OK);
            /* Another leaf, another index, a flipped bit, a dropped hash: refused. */
            uint8_t other[32];
            ref_leaf(&d[(m + 1) % 1025], other);
            assert_int_equal(corio_merkle_verify_inclusion(other, m, n, proof, len, want),
                             CORIO_ERR_BADSIG);
            if (n > 1) {
                uint64_t m2 = (m + 1) % n;
                int rc = corio_merkle_verify_inclusion(leaf, m2, n, proof, len, want);
                assert_true(rc == CORIO_ERR_BADSIG || rc == CORIO_ERR_MALFORMED);
            }
            for (size_t i = 0; i < len; i++) {
                proof[i][i % 32] ^= 0x40;
                assert_int_equal(corio_merkle_verify_inclusion(leaf, m, n, proof, len, want),
                                 CORIO_ERR_BADSIG);
                proof[i][i % 32] ^= 0x40;
            }
            if (len)
                assert_int_equal(corio_merkle_verify_inclusion(leaf, m, n, proof, len - 1, want),
                                 CORIO_ERR_MALFORMED);
        }

        for (size_t m = 1; m <= n; m += exhaustive ? 1 : 53) {
            corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF], ref[CORIO_MERKLE_MAX_PROOF];
            size_t len = 0, rlen = 0;
            assert_int_equal(corio_merkle_consistency_proof(mem_node, &t, m, n, proof,
                                                            CORIO_MERKLE_MAX_PROOF, &len),
                             CORIO_OK);
            ref_subproof(m, d, n, 1, ref, &rlen);
            assert_int_equal(len, rlen);
            assert_int_equal(corio_merkle_consistency_len(m, n), rlen);
            if (len)
                assert_memory_equal(proof, ref, len * 32);
            uint8_t old[32];
            ref_mth(d, m, old);
            assert_int_equal(corio_merkle_verify_consistency(m, n, old, want, proof, len),
                             CORIO_OK);
            for (size_t i = 0; i < len; i++) {
                proof[i][31 - i % 32] ^= 0x01;
                assert_int_equal(corio_merkle_verify_consistency(m, n, old, want, proof, len),
                                 CORIO_ERR_BADSIG);
                proof[i][31 - i % 32] ^= 0x01;
            }
            /* A different old tree (one leaf changed) is not consistent with this one. */
            if (m < n) {
                struct leaf saved = d[m - 1];
                d[m - 1].data[0] ^= 0xff;
                uint8_t forged[32];
                ref_mth(d, m, forged);
                d[m - 1] = saved;
                assert_int_equal(corio_merkle_verify_consistency(m, n, forged, want, proof, len),
                                 CORIO_ERR_BADSIG);
            }
        }
        mem_free(&t);
    }
    free(d);
}

/* Proofs in a big tree read O(log n) stored subtrees, not the tree. */
static void proofs_read_log_n_nodes(void **state)
{
    (void)state;
    const size_t n = 300007;
    struct mem_tree t;
    memset(&t, 0, sizeof t);
    struct corio_merkle_frontier f;
    corio_merkle_frontier_init(&f);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        uint32_t v = (uint32_t)i;
        assert_int_equal(corio_merkle_leaf_hash(&v, sizeof v, h), CORIO_OK);
        assert_int_equal(corio_merkle_frontier_append(&f, h, mem_emit, &t), CORIO_OK);
    }
    uint8_t root[32], root2[32];
    assert_int_equal(corio_merkle_frontier_root(&f, root), CORIO_OK);
    t.reads = 0;
    assert_int_equal(corio_merkle_root(mem_node, &t, n, root2), CORIO_OK);
    assert_memory_equal(root, root2, 32);
    assert_true(t.reads <= 19); /* one per set bit of n */

    static const uint64_t idx[] = {0, 1, 150000, 262143, 262144, 300000, 300006};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
        size_t len;
        t.reads = 0;
        assert_int_equal(corio_merkle_inclusion_proof(mem_node, &t, idx[i], n, proof,
                                                      CORIO_MERKLE_MAX_PROOF, &len),
                         CORIO_OK);
        assert_true(t.reads <= 2 * 19 + 2);
        uint8_t leaf[32];
        uint32_t v = (uint32_t)idx[i];
        assert_int_equal(corio_merkle_leaf_hash(&v, sizeof v, leaf), CORIO_OK);
        assert_int_equal(corio_merkle_verify_inclusion(leaf, idx[i], n, proof, len, root),
                         CORIO_OK);
        t.reads = 0;
        uint64_t first = idx[i] + 1;
        assert_int_equal(corio_merkle_consistency_proof(mem_node, &t, first, n, proof,
                                                        CORIO_MERKLE_MAX_PROOF, &len),
                         CORIO_OK);
        assert_true(t.reads <= 3 * 19 + 2);
        uint8_t old[32];
        assert_int_equal(corio_merkle_root(mem_node, &t, first, old), CORIO_OK);
        assert_int_equal(corio_merkle_verify_consistency(first, n, old, root, proof, len),
                         CORIO_OK);
    }
    mem_free(&t);
}

static int fail_at_level2(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
    (void)arg;
    (void)index;
    (void)hash;
    return level == 2 ? CORIO_ERR_IO : CORIO_OK;
}

static void edges(void **state)
{
    (void)state;
    uint8_t empty[32], r[32] = {0}, leaf[32] = {0};
    corio_merkle_empty_root(empty);
    struct corio_merkle_frontier f;
    corio_merkle_frontier_init(&f);
    assert_int_equal(corio_merkle_frontier_root(&f, r), CORIO_OK);
    assert_memory_equal(r, empty, 32);
    uint8_t sha_empty[32];
    sha256_parts("", 0, NULL, 0, NULL, 0, sha_empty);
    assert_memory_equal(empty, sha_empty, 32);
    memset(r, 0x55, sizeof r);

    /* Consistency with the empty tree and with itself. */
    assert_int_equal(corio_merkle_verify_consistency(0, 5, empty, r, NULL, 0), CORIO_OK);
    assert_int_equal(corio_merkle_verify_consistency(0, 5, r, r, NULL, 0), CORIO_ERR_BADSIG);
    assert_int_equal(corio_merkle_verify_consistency(5, 5, r, r, NULL, 0), CORIO_OK);
    assert_int_equal(corio_merkle_verify_consistency(5, 5, r, empty, NULL, 0), CORIO_ERR_BADSIG);
    corio_merkle_hash one[1] = {{0}};
    assert_int_equal(corio_merkle_verify_consistency(5, 5, r, r, one, 1), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_merkle_verify_consistency(6, 5, r, r, NULL, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_merkle_verify_consistency(3, 5, r, r, NULL, 0), CORIO_ERR_MALFORMED);

    /* Indexes outside the tree. */
    assert_int_equal(corio_merkle_verify_inclusion(leaf, 5, 5, NULL, 0, r), CORIO_ERR_INVAL);
    assert_int_equal(corio_merkle_verify_inclusion(leaf, 0, 1, NULL, 0, leaf), CORIO_OK);
    assert_int_equal(corio_merkle_inclusion_len(5, 5), 0);
    assert_int_equal(corio_merkle_consistency_len(0, 5), 0);
    struct mem_tree t;
    memset(&t, 0, sizeof t);
    corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
    size_t len;
    assert_int_equal(corio_merkle_inclusion_proof(mem_node, &t, 3, 3, proof, 64, &len),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_merkle_consistency_proof(mem_node, &t, 0, 3, proof, 64, &len),
                     CORIO_ERR_INVAL);
    /* A store missing a node: its error comes back. */
    assert_int_equal(corio_merkle_inclusion_proof(mem_node, &t, 1, 3, proof, 64, &len),
                     CORIO_ERR_NOTFOUND);

    /* A proof array too small. */
    struct leaf d[8];
    make_leaves(d, 8);
    build(&t, &f, d, 8);
    assert_int_equal(corio_merkle_inclusion_proof(mem_node, &t, 3, 8, proof, 2, &len),
                     CORIO_ERR_NOSPACE);
    assert_int_equal(corio_merkle_inclusion_proof(mem_node, &t, 3, 8, proof, 3, &len), CORIO_OK);
    assert_int_equal(len, 3);

    /* An emit failure half-way up leaves the frontier as it was. */
    corio_merkle_frontier_init(&f);
    uint8_t h[32] = {1};
    for (int i = 0; i < 7; i++)
        assert_int_equal(corio_merkle_frontier_append(&f, h, NULL, NULL), CORIO_OK);
    struct corio_merkle_frontier before = f;
    assert_int_equal(corio_merkle_frontier_append(&f, h, fail_at_level2, NULL), CORIO_ERR_IO);
    assert_memory_equal(&f, &before, sizeof f);
    assert_int_equal(corio_merkle_frontier_append(&f, h, NULL, NULL), CORIO_OK);
    assert_int_equal(f.size, 8);
    mem_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(ct_vectors),
        H_TEST(against_reference),
        H_TEST(proofs_read_log_n_nodes),
        H_TEST(edges),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
