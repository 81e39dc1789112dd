/*
 * block.c - proposals and blocks in deterministic CBOR (ledger_block.h, docs/ledger.md).
 *
 * Keys are the small unsigned integers 1..9, written in ascending order, which is the
 * deterministic order, so encoding needs no sort. Decoding first checks that the whole
 * input is deterministic CBOR (so there is exactly one encoding of each block, and
 * a hash names one block), then walks the fixed layout.
 */
#include "ledger_block.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "corio/cbor.h"
#include "corio/error.h"

/* ---- encoding ---------------------------------------------------------------------- */

static int check_tx(const struct corio_block_tx *t, bool with_result)
{
    if (!t->data && t->len)
        return CORIO_ERR_INVAL;
    if (t->len > CORIO_BLOCK_MAX_TX)
        return CORIO_ERR_INVAL;
    if (!with_result)
        return CORIO_OK;
    if (t->status == CORIO_TX_ACCEPTED)
        return t->reason_len == 0 ? CORIO_OK : CORIO_ERR_INVAL;
    if (t->status != CORIO_TX_REFUSED || t->reason_len == 0 ||
        t->reason_len > CORIO_BLOCK_MAX_REASON || !t->reason)
        return CORIO_ERR_INVAL;
    return CORIO_OK;
}

int corio_proposal_encode(const struct corio_proposal *p, uint8_t *out, size_t cap)
{
    if (!p || (!p->txs && p->ntxs) || p->ntxs > CORIO_BLOCK_MAX_TXS)
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < p->ntxs; i++) {
        int rc = check_tx(&p->txs[i], false);
        if (rc != CORIO_OK)
            return rc;
    }
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, out ? cap : 0);
    corio_cbor_put_map(&e, 4);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, CORIO_BLOCK_VERSION);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_uint(&e, p->timestamp_ms);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_uint(&e, p->proposer);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_array(&e, p->ntxs);
    for (size_t i = 0; i < p->ntxs; i++)
        corio_cbor_put_bytes(&e, p->txs[i].data, p->txs[i].len);
    return corio_cbor_enc_finish(&e);
}

int corio_block_encode(const struct corio_block *b, uint8_t *out, size_t cap)
{
    if (!b || (!b->txs && b->ntxs) || b->ntxs > CORIO_BLOCK_MAX_TXS || b->height == 0)
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < b->ntxs; i++) {
        int rc = check_tx(&b->txs[i], true);
        if (rc != CORIO_OK)
            return rc;
    }
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, out ? cap : 0);
    corio_cbor_put_map(&e, 9);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, CORIO_BLOCK_VERSION);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_uint(&e, b->height);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_bytes(&e, b->prev_hash, CORIO_BLOCK_HASH_LEN);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_uint(&e, b->timestamp_ms);
    corio_cbor_put_uint(&e, 5);
    corio_cbor_put_uint(&e, b->proposer);
    corio_cbor_put_uint(&e, 6);
    corio_cbor_put_uint(&e, b->first_leaf);
    corio_cbor_put_uint(&e, 7);
    corio_cbor_put_array(&e, b->ntxs);
    for (size_t i = 0; i < b->ntxs; i++) {
        const struct corio_block_tx *t = &b->txs[i];
        corio_cbor_put_array(&e, 3);
        corio_cbor_put_bytes(&e, t->data, t->len);
        corio_cbor_put_uint(&e, (uint64_t)t->status);
        corio_cbor_put_text(&e, t->reason_len ? t->reason : "", t->reason_len);
    }
    corio_cbor_put_uint(&e, 8);
    corio_cbor_put_bytes(&e, b->tree_root, CORIO_BLOCK_HASH_LEN);
    corio_cbor_put_uint(&e, 9);
    corio_cbor_put_bytes(&e, b->state_hash, CORIO_BLOCK_HASH_LEN);
    return corio_cbor_enc_finish(&e);
}

int corio_block_encode_alloc(const struct corio_block *b, uint8_t **out, size_t *len)
{
    if (!out || !len)
        return CORIO_ERR_INVAL;
    int n = corio_block_encode(b, NULL, 0);
    if (n < 0)
        return n;
    uint8_t *buf = malloc((size_t)n);
    if (!buf)
        return CORIO_ERR_NOSPACE;
    int m = corio_block_encode(b, buf, (size_t)n);
    if (m != n) {
        free(buf);
        return m < 0 ? m : CORIO_ERR_INVAL;
    }
    *out = buf;
    *len = (size_t)n;
    return CORIO_OK;
}

int corio_block_hash(const uint8_t *buf, size_t len, uint8_t out[CORIO_BLOCK_HASH_LEN])
{
    if ((!buf && len) || !out)
        return CORIO_ERR_INVAL;
    return SHA256(buf ? buf : (const uint8_t *)"", len, out) ? CORIO_OK : CORIO_ERR_CRYPTO;
}

/* ---- decoding ---------------------------------------------------------------------- */

/* The map head and its version; the map must have want pairs for that version. */
static int expect_head(struct corio_cbor_dec *d, uint64_t want_pairs)
{
    uint64_t pairs, key, version;
    if (corio_cbor_expect_map(d, &pairs) != CORIO_OK || pairs == 0 ||
        corio_cbor_expect_uint(d, &key) != CORIO_OK || key != 1 ||
        corio_cbor_expect_uint(d, &version) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (version != CORIO_BLOCK_VERSION)
        return CORIO_ERR_VERSION;
    return pairs == want_pairs ? CORIO_OK : CORIO_ERR_MALFORMED;
}

static int expect_key(struct corio_cbor_dec *d, uint64_t want)
{
    uint64_t key;
    if (corio_cbor_expect_uint(d, &key) != CORIO_OK || key != want)
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}

static int expect_hash(struct corio_cbor_dec *d, uint8_t out[CORIO_BLOCK_HASH_LEN])
{
    const uint8_t *p;
    size_t n;
    if (corio_cbor_expect_bytes(d, &p, &n) != CORIO_OK || n != CORIO_BLOCK_HASH_LEN)
        return CORIO_ERR_MALFORMED;
    memcpy(out, p, n);
    return CORIO_OK;
}

/* The transaction array: a head and count entries, each a byte string (proposal) or
 * [bytes, status, reason] (block). */
static int expect_txs(struct corio_cbor_dec *d, bool with_result, struct corio_block_tx **out,
                      size_t *nout)
{
    uint64_t count;
    if (corio_cbor_expect_array(d, &count) != CORIO_OK || count == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    if (count > CORIO_BLOCK_MAX_TXS)
        return CORIO_ERR_MALFORMED;
    struct corio_block_tx *txs = NULL;
    if (count) {
        txs = calloc((size_t)count, sizeof *txs);
        if (!txs)
            return CORIO_ERR_NOSPACE;
    }
    for (uint64_t i = 0; i < count; i++) {
        struct corio_block_tx *t = &txs[i];
        uint64_t n, status;
        if (with_result && (corio_cbor_expect_array(d, &n) != CORIO_OK || n != 3))
            goto bad;
        if (corio_cbor_expect_bytes(d, &t->data, &t->len) != CORIO_OK ||
            t->len > CORIO_BLOCK_MAX_TX)
            goto bad;
        if (!with_result)
            continue;
        if (corio_cbor_expect_uint(d, &status) != CORIO_OK ||
            corio_cbor_expect_text(d, &t->reason, &t->reason_len) != CORIO_OK)
            goto bad;
        if (status == CORIO_TX_ACCEPTED && t->reason_len == 0)
            t->status = CORIO_TX_ACCEPTED;
        else if (status == CORIO_TX_REFUSED && t->reason_len > 0 &&
                 t->reason_len <= CORIO_BLOCK_MAX_REASON)
            t->status = CORIO_TX_REFUSED;
        else
            goto bad;
    }
    *out = txs;
    *nout = (size_t)count;
    return CORIO_OK;
bad:
    free(txs);
    return CORIO_ERR_MALFORMED;
}

int corio_proposal_decode(const uint8_t *buf, size_t len, struct corio_proposal *p)
{
    if ((!buf && len) || !p)
        return CORIO_ERR_INVAL;
    int rc = corio_cbor_deterministic(buf, len);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_POLICY ? rc : CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    struct corio_proposal out = {.version = CORIO_BLOCK_VERSION};
    rc = expect_head(&d, 4);
    if (rc != CORIO_OK)
        return rc;
    if (expect_key(&d, 2) != CORIO_OK || corio_cbor_expect_uint(&d, &out.timestamp_ms) ||
        expect_key(&d, 3) != CORIO_OK || corio_cbor_expect_uint(&d, &out.proposer) ||
        expect_key(&d, 4) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    rc = expect_txs(&d, false, &out.txs, &out.ntxs);
    if (rc != CORIO_OK)
        return rc;
    if (corio_cbor_dec_finish(&d) != CORIO_OK) {
        free(out.txs);
        return CORIO_ERR_MALFORMED;
    }
    *p = out;
    return CORIO_OK;
}

void corio_proposal_free(struct corio_proposal *p)
{
    if (!p)
        return;
    free(p->txs);
    p->txs = NULL;
    p->ntxs = 0;
}

int corio_block_decode(const uint8_t *buf, size_t len, struct corio_block *b)
{
    if ((!buf && len) || !b)
        return CORIO_ERR_INVAL;
    int rc = corio_cbor_deterministic(buf, len);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_POLICY ? rc : CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    struct corio_block out;
    memset(&out, 0, sizeof out);
    out.version = CORIO_BLOCK_VERSION;
    rc = expect_head(&d, 9);
    if (rc != CORIO_OK)
        return rc;
    if (expect_key(&d, 2) != CORIO_OK || corio_cbor_expect_uint(&d, &out.height) ||
        out.height == 0 || expect_key(&d, 3) != CORIO_OK ||
        expect_hash(&d, out.prev_hash) != CORIO_OK || expect_key(&d, 4) != CORIO_OK ||
        corio_cbor_expect_uint(&d, &out.timestamp_ms) || expect_key(&d, 5) != CORIO_OK ||
        corio_cbor_expect_uint(&d, &out.proposer) || expect_key(&d, 6) != CORIO_OK ||
        corio_cbor_expect_uint(&d, &out.first_leaf) || expect_key(&d, 7) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    rc = expect_txs(&d, true, &out.txs, &out.ntxs);
    if (rc != CORIO_OK)
        return rc;
    if (expect_key(&d, 8) != CORIO_OK || expect_hash(&d, out.tree_root) != CORIO_OK ||
        expect_key(&d, 9) != CORIO_OK || expect_hash(&d, out.state_hash) != CORIO_OK ||
        corio_cbor_dec_finish(&d) != CORIO_OK || out.first_leaf > UINT64_MAX - out.ntxs) {
        free(out.txs);
        return CORIO_ERR_MALFORMED;
    }
    *b = out;
    return CORIO_OK;
}

void corio_block_free(struct corio_block *b)
{
    if (!b)
        return;
    free(b->txs);
    b->txs = NULL;
    b->ntxs = 0;
}
