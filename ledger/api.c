/*
 * api.c - the ledger node's HTTP API (docs/ledger.md, "HTTP API"), on common's
 * corio_http: submissions, blocks, signed tree heads, proofs, an event stream of new
 * blocks, status and health. Hashes are lowercase hex; raw CBOR travels as base64url.
 * Handlers run on the HTTP server's threads and read the database through their own
 * read-only connections (WAL: readers never wait for the writer).
 */
#include "ledger_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "corio/encoding.h"
#include "corio/error.h"
#include "corio_http.h"
#include "corio_log.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static json_t *hexj(const uint8_t *p, size_t n)
{
    char buf[2 * 64 + 1];
    if (n > 64)
        return json_null();
    corio__hex(p, n, buf);
    return json_string(buf);
}

static json_t *b64j(const uint8_t *p, size_t n)
{
    size_t cap = CORIO_BASE64URL_ENCODED_LEN(n) + 1;
    char *buf = malloc(cap);
    if (!buf)
        return json_null();
    json_t *j = corio_base64url_encode(p, n, buf, cap) >= 0 ? json_string(buf) : json_null();
    free(buf);
    return j;
}

/* A decimal query parameter; def when absent. Returns 0, or -1 when malformed. */
static int query_u64(struct corio_http_req *r, const char *name, uint64_t def, uint64_t *out)
{
    const char *v = corio_http_query(r, name);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!*v || strlen(v) > 19)
        return -1;
    uint64_t x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *out = x;
    return 0;
}

static int parse_hex32(const char *s, uint8_t out[32])
{
    if (!s || strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static const char *status_word(enum corio_tx_status s)
{
    return s == CORIO_TX_ACCEPTED ? "accepted" : "refused";
}

static const char *role_word(enum corio_cons_role r)
{
    switch (r) {
    case CORIO_CONS_LEADER:
        return "leader";
    case CORIO_CONS_FOLLOWER:
        return "follower";
    case CORIO_CONS_CANDIDATE:
        return "candidate";
    default:
        return "unavailable";
    }
}

static json_t *path_json(const corio_merkle_hash *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, hexj(p[i], 32));
    return a;
}

/* ---- health, status, metrics ---------------------------------------------------------------- */

static int h_healthz(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    struct corio_ledger_status st;
    corio_ledger_status(l, &st);
    if (st.halted)
        return corio_http_reply_json(
            r, 503, json_pack("{s:s, s:s}", "status", "halted", "reason", st.halt_reason));
    return corio_http_reply_json(r, 200,
                                 json_pack("{s:s, s:I, s:s, s:b}", "status", "ok", "height",
                                           (json_int_t)st.head.height, "role", role_word(st.role),
                                           "fork", st.fork_alarms > 0));
}

static json_t *alarms_json(struct corio_ledger *l)
{
    json_t *a = json_array();
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->nalarms; i++)
        json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:I}", "peer",
                                           (json_int_t)l->alarms[i].peer, "kind", l->alarms[i].kind,
                                           "detail", l->alarms[i].detail, "at",
                                           (json_int_t)l->alarms[i].at_ms));
    pthread_mutex_unlock(&l->mu);
    return a;
}

static json_t *head_json(const struct corio_store_head *h)
{
    return json_pack("{s:I, s:o, s:I, s:o, s:o, s:I}", "height", (json_int_t)h->height,
                     "block_hash", hexj(h->block_hash, 32), "tree_size", (json_int_t)h->tree_size,
                     "root", hexj(h->root, 32), "state_hash", hexj(h->state_hash, 32), "timestamp",
                     (json_int_t)h->timestamp_ms);
}

static int h_status(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    struct corio_ledger_status st;
    corio_ledger_status(l, &st);
    json_t *config = json_array(), *peers = json_array();
    for (size_t i = 0; i < st.nconfig; i++)
        json_array_append_new(config, json_pack("{s:I, s:s, s:b}", "id",
                                                (json_int_t)st.config[i].id, "address",
                                                st.config[i].address, "voter", st.config[i].voter));
    json_t *expected = st.nexpected < 0 ? json_null() : json_array();
    for (int i = 0; i < st.nexpected; i++)
        json_array_append_new(
            expected, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)st.expected[i].id, "address",
                                st.expected[i].address, "api", st.expected[i].api));
    for (size_t i = 0; i < st.npeers; i++) {
        const struct corio_ledger_peer_view *p = &st.peers[i];
        json_array_append_new(
            peers, json_pack("{s:I, s:s, s:b, s:I, s:I, s:I, s:b, s:s}", "id", (json_int_t)p->id,
                             "api", p->api, "seen", p->seen, "tree_size", (json_int_t)p->tree_size,
                             "height", (json_int_t)p->height, "checked", (json_int_t)p->checked_ms,
                             "fork", p->alarm, "error", p->error));
    }
    json_t *body = json_pack(
        "{s:I, s:s, s:s, s:I, s:s, s:I, s:o, s:b, s:s, s:o, s:o, s:o, s:o, s:I, s:I}", "node",
        (json_int_t)st.node_id, "application", l->app->name ? l->app->name : "", "role",
        role_word(st.role), "leader", (json_int_t)st.leader_id, "leader_api", st.leader_api, "term",
        (json_int_t)st.term, "head", head_json(&st.head), "halted", st.halted, "halt_reason",
        st.halt_reason, "configuration", config, "members", expected, "peers", peers, "alarms",
        alarms_json(l), "fork_alarms", (json_int_t)st.fork_alarms, "queued", (json_int_t)st.queued);
    return corio_http_reply_json(r, 200, body);
}

/* ---- submissions -------------------------------------------------------------------------- */

static int h_submit(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    size_t len;
    const char *body = corio_http_body(r, &len);
    const char *w = corio_http_query(r, "wait");
    bool wait = !(w && (!strcmp(w, "false") || !strcmp(w, "0") || !strcmp(w, "no")));
    if (len == 0)
        return corio_http_reply_error(r, 400, "the body must be the transaction (CBOR)");
    struct corio_ledger_submit out;
    int rc = corio_ledger_submit(l, (const uint8_t *)body, len, wait, &out);
    json_t *id = hexj(out.id, 32);
    switch (rc) {
    case CORIO_OK:
        return corio_http_reply_json(r, 200,
                                     json_pack("{s:o, s:I, s:I, s:s, s:s}", "id", id, "height",
                                               (json_int_t)out.height, "leaf", (json_int_t)out.leaf,
                                               "status", status_word(out.status), "reason",
                                               out.reason));
    case CORIO_ERR_AGAIN:
        return corio_http_reply_json(r, 202, json_pack("{s:o, s:s}", "id", id, "status", "queued"));
    case CORIO_ERR_POLICY:
    case CORIO_ERR_MALFORMED:
        return corio_http_reply_json(r, 422,
                                     json_pack("{s:s, s:o}", "error", out.reason, "id", id));
    case CORIO_ERR_REFUSED:
        if (out.leader_api[0]) {
            char location[CORIO_LEDGER_ADDRESS_MAX + 32];
            snprintf(location, sizeof location, "%s/api/v1/tx", out.leader_api);
            corio_http_add_header(r, "Location", location);
            return corio_http_reply_json(
                r, 307,
                json_pack("{s:s, s:I, s:s, s:o}", "error", "this node is not the leader", "leader",
                          (json_int_t)out.leader_id, "leader_api", out.leader_api, "id", id));
        }
        corio_http_add_header(r, "Retry-After", "1");
        return corio_http_reply_json(
            r, 503,
            json_pack("{s:s, s:o}", "error", "no leader is known right now; retry", "id", id));
    case CORIO_ERR_FULL:
        corio_http_add_header(r, "Retry-After", "1");
        return corio_http_reply_json(
            r, 503,
            json_pack("{s:s, s:o}", "error", "too many transactions are waiting; retry", "id", id));
    case CORIO_ERR_CLOSED:
        return corio_http_reply_json(
            r, 503, json_pack("{s:s, s:o}", "error", "this node is halted or stopping", "id", id));
    case CORIO_ERR_INVAL:
        json_decref(id);
        return corio_http_reply_error(r, 413, "a transaction is at most %u bytes",
                                      (unsigned)CORIO_BLOCK_MAX_TX);
    default:
        return corio_http_reply_json(
            r, rc == CORIO_ERR_TIMEOUT ? 504 : 503,
            json_pack("{s:s, s:o}", "error",
                      "the outcome is unknown (leadership changed or the wait ended); ask "
                      "GET /api/v1/tx/{id} later",
                      "id", id));
    }
}

/* ---- blocks ---------------------------------------------------------------------------------- */

static json_t *block_json(const uint8_t *raw, size_t len, sqlite3 *db)
{
    struct corio_block b;
    if (corio_block_decode(raw, len, &b) != CORIO_OK)
        return NULL;
    uint8_t hash[32];
    corio_block_hash(raw, len, hash);
    json_t *txs = json_array();
    for (size_t i = 0; i < b.ntxs; i++) {
        uint8_t id[32];
        uint64_t height;
        json_t *idj = corio__read_tx_by_leaf(db, b.first_leaf + i, &height, id) == CORIO_OK
                          ? hexj(id, 32)
                          : json_null();
        json_t *t = json_pack("{s:I, s:o, s:s, s:o}", "leaf", (json_int_t)(b.first_leaf + i), "id",
                              idj, "status", status_word(b.txs[i].status), "tx",
                              b64j(b.txs[i].data, b.txs[i].len));
        if (b.txs[i].status == CORIO_TX_REFUSED)
            json_object_set_new(t, "reason", json_stringn(b.txs[i].reason, b.txs[i].reason_len));
        json_array_append_new(txs, t);
    }
    json_t *j = json_pack(
        "{s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "version",
        (json_int_t)b.version, "height", (json_int_t)b.height, "hash", hexj(hash, 32), "prev_hash",
        hexj(b.prev_hash, 32), "timestamp", (json_int_t)b.timestamp_ms, "proposer",
        (json_int_t)b.proposer, "first_leaf", (json_int_t)b.first_leaf, "tree_size",
        (json_int_t)(b.first_leaf + b.ntxs), "tree_root", hexj(b.tree_root, 32), "state_hash",
        hexj(b.state_hash, 32), "transactions", txs, "cbor", b64j(raw, len));
    corio_block_free(&b);
    return j;
}

static int reply_block(struct corio_http_req *r, struct corio_ledger *l, uint64_t height)
{
    sqlite3 *db = corio__reader_get(l);
    if (!db)
        return corio_http_reply_error(r, 500, "the database cannot be read");
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = corio__read_block(db, height, &raw, &len);
    int out;
    if (rc == CORIO_ERR_NOTFOUND) {
        out = corio_http_reply_error(r, 404, "no block at height %llu", (unsigned long long)height);
    } else if (rc != CORIO_OK) {
        out = corio_http_reply_error(r, 500, "the block cannot be read");
    } else {
        const char *format = corio_http_query(r, "format");
        if (format && !strcmp(format, "cbor")) {
            out = corio_http_reply(r, 200, "application/cbor", raw, len);
        } else {
            json_t *j = block_json(raw, len, db);
            out = j ? corio_http_reply_json(r, 200, j)
                    : corio_http_reply_error(r, 500, "a stored block does not decode");
        }
    }
    free(raw);
    corio__reader_put(l, db);
    return out;
}

static int h_block(struct corio_http_req *r, void *arg)
{
    const char *p = corio_http_param(r, "height");
    uint64_t height = 0;
    if (!p || !*p || strlen(p) > 19)
        return corio_http_reply_error(r, 400, "height must be a positive integer");
    for (const char *c = p; *c; c++) {
        if (*c < '0' || *c > '9')
            return corio_http_reply_error(r, 400, "height must be a positive integer");
        height = height * 10 + (uint64_t)(*c - '0');
    }
    if (height == 0)
        return corio_http_reply_error(r, 400, "heights start at 1");
    return reply_block(r, arg, height);
}

static int h_block_latest(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    struct corio_ledger_status st;
    corio_ledger_status(l, &st);
    if (st.head.height == 0)
        return corio_http_reply_error(r, 404, "no block yet");
    return reply_block(r, l, st.head.height);
}

/* ---- tree heads and proofs ------------------------------------------------------------------- */

static int h_tree_head(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    uint8_t sth[CORIO_STH_MAX];
    struct corio_sth s;
    int n = corio__sth_current(l, sth, &s);
    if (n < 0)
        return corio_http_reply_error(r, 500, "cannot sign the tree head: %s", corio_strerror(n));
    struct corio_ledger_status st;
    corio_ledger_status(l, &st);
    json_t *j = json_pack(
        "{s:I, s:I, s:o, s:I, s:o, s:o, s:I, s:o, s:o, s:b, s:o}", "node", (json_int_t)s.node,
        "tree_size", (json_int_t)s.tree_size, "root", hexj(s.root, 32), "height",
        (json_int_t)s.height, "block_hash", hexj(s.block_hash, 32), "state_hash",
        hexj(s.state_hash, 32), "timestamp", (json_int_t)s.timestamp_ms, "key", hexj(l->pub, 33),
        "sth", b64j(sth, (size_t)n), "fork", st.fork_alarms > 0, "alarms", alarms_json(l));
    if (l->cert_der)
        json_object_set_new(j, "cert", b64j(l->cert_der, l->cert_der_len));
    return corio_http_reply_json(r, 200, j);
}

/* The transaction at leaf and its leaf hash, from its block. */
static int tx_at(sqlite3 *db, uint64_t leaf, uint64_t height, uint8_t **tx, size_t *txlen,
                 struct corio_block_tx *meta)
{
    uint8_t *raw;
    size_t len;
    int rc = corio__read_block(db, height, &raw, &len);
    if (rc != CORIO_OK)
        return rc;
    struct corio_block b;
    rc = corio_block_decode(raw, len, &b);
    if (rc == CORIO_OK) {
        if (leaf < b.first_leaf || leaf - b.first_leaf >= b.ntxs) {
            rc = CORIO_ERR_MALFORMED;
        } else {
            const struct corio_block_tx *t = &b.txs[leaf - b.first_leaf];
            *tx = malloc(t->len + t->reason_len + 1);
            if (!*tx) {
                rc = CORIO_ERR_NOSPACE;
            } else {
                memcpy(*tx, t->data, t->len);
                memcpy(*tx + t->len, t->reason, t->reason_len);
                (*tx)[t->len + t->reason_len] = 0;
                *txlen = t->len;
                *meta = *t;
                meta->data = *tx;
                meta->reason = (const char *)*tx + t->len;
            }
        }
        corio_block_free(&b);
    }
    free(raw);
    return rc;
}

/* Answers an inclusion proof for leaf against size (0: the current tree). */
static int reply_inclusion(struct corio_http_req *r, struct corio_ledger *l, sqlite3 *db,
                           uint64_t leaf, uint64_t size, const uint8_t *id)
{
    struct corio_store_head h;
    if (corio__read_head(db, &h) != CORIO_OK)
        return corio_http_reply_error(r, 500, "the database cannot be read");
    if (size == 0)
        size = h.tree_size;
    if (size > h.tree_size)
        return corio_http_reply_error(r, 404, "the tree has %llu leaves",
                                      (unsigned long long)h.tree_size);
    if (leaf >= size)
        return corio_http_reply_error(r, 404, "leaf %llu is not in a tree of %llu leaves",
                                      (unsigned long long)leaf, (unsigned long long)size);
    uint64_t height;
    uint8_t txid[32];
    if (corio__read_tx_by_leaf(db, leaf, &height, txid) != CORIO_OK)
        return corio_http_reply_error(r, 500, "leaf %llu is missing", (unsigned long long)leaf);
    uint8_t *tx = NULL;
    size_t txlen = 0;
    struct corio_block_tx meta;
    if (tx_at(db, leaf, height, &tx, &txlen, &meta) != CORIO_OK)
        return corio_http_reply_error(r, 500, "the block of leaf %llu cannot be read",
                                      (unsigned long long)leaf);
    corio_merkle_hash path[CORIO_MERKLE_MAX_PROOF];
    size_t n = 0;
    uint8_t root[32], leaf_hash[32];
    int rc = corio__read_inclusion(db, leaf, size, path, &n);
    if (rc == CORIO_OK)
        rc = corio__read_root(db, size, root);
    if (rc == CORIO_OK)
        rc = corio_merkle_leaf_hash(tx, txlen, leaf_hash);
    if (rc != CORIO_OK) {
        free(tx);
        return corio_http_reply_error(r, 500, "cannot make the proof: %s", corio_strerror(rc));
    }
    json_t *j = json_pack("{s:o, s:I, s:I, s:s, s:o, s:I, s:o, s:o, s:o}", "id",
                          hexj(id ? id : txid, 32), "leaf", (json_int_t)leaf, "height",
                          (json_int_t)height, "status", status_word(meta.status), "tx",
                          b64j(tx, txlen), "tree_size", (json_int_t)size, "root", hexj(root, 32),
                          "leaf_hash", hexj(leaf_hash, 32), "path", path_json(path, n));
    if (meta.status == CORIO_TX_REFUSED)
        json_object_set_new(j, "reason", json_stringn(meta.reason, meta.reason_len));
    free(tx);
    (void)l;
    return corio_http_reply_json(r, 200, j);
}

static int h_tx(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    uint8_t id[32];
    if (parse_hex32(corio_http_param(r, "id"), id) != 0)
        return corio_http_reply_error(r, 400, "a transaction id is 64 lowercase hex digits");
    uint64_t size;
    if (query_u64(r, "tree_size", 0, &size) != 0)
        return corio_http_reply_error(r, 400, "tree_size must be an integer");
    sqlite3 *db = corio__reader_get(l);
    if (!db)
        return corio_http_reply_error(r, 500, "the database cannot be read");
    int out;
    /* One read transaction for the lookup and the proof. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    uint64_t leaf, height;
    int rc = corio__read_tx_by_id(db, id, &leaf, &height);
    if (rc == CORIO_ERR_NOTFOUND)
        out = corio_http_reply_error(r, 404, "no such transaction");
    else if (rc != CORIO_OK)
        out = corio_http_reply_error(r, 500, "the database cannot be read");
    else
        out = reply_inclusion(r, l, db, leaf, size, id);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    corio__reader_put(l, db);
    return out;
}

static int h_inclusion(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    uint64_t leaf, size;
    if (!corio_http_query(r, "leaf") || query_u64(r, "leaf", 0, &leaf) != 0 ||
        query_u64(r, "tree_size", 0, &size) != 0)
        return corio_http_reply_error(r, 400, "leaf (and optionally tree_size) must be integers");
    sqlite3 *db = corio__reader_get(l);
    if (!db)
        return corio_http_reply_error(r, 500, "the database cannot be read");
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    int out = reply_inclusion(r, l, db, leaf, size, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    corio__reader_put(l, db);
    return out;
}

static int h_consistency(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    uint64_t first, second;
    if (!corio_http_query(r, "first") || query_u64(r, "first", 0, &first) != 0 ||
        query_u64(r, "second", 0, &second) != 0)
        return corio_http_reply_error(r, 400, "first (and optionally second) must be integers");
    sqlite3 *db = corio__reader_get(l);
    if (!db)
        return corio_http_reply_error(r, 500, "the database cannot be read");
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    struct corio_store_head h;
    int out;
    if (corio__read_head(db, &h) != CORIO_OK) {
        out = corio_http_reply_error(r, 500, "the database cannot be read");
    } else {
        if (second == 0)
            second = h.tree_size;
        corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
        size_t n = 0;
        uint8_t r1[32], r2[32];
        if (first == 0 || first > second || second > h.tree_size) {
            out =
                corio_http_reply_error(r, 404, "need 0 < first <= second <= %llu (the tree's size)",
                                       (unsigned long long)h.tree_size);
        } else if (corio__read_consistency(db, first, second, proof, &n) != CORIO_OK ||
                   corio__read_root(db, first, r1) != CORIO_OK ||
                   corio__read_root(db, second, r2) != CORIO_OK) {
            out = corio_http_reply_error(r, 500, "cannot make the proof");
        } else {
            out = corio_http_reply_json(r, 200,
                                        json_pack("{s:I, s:I, s:o, s:o, s:o}", "first",
                                                  (json_int_t)first, "second", (json_int_t)second,
                                                  "first_root", hexj(r1, 32), "second_root",
                                                  hexj(r2, 32), "proof", path_json(proof, n)));
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    corio__reader_put(l, db);
    return out;
}

/* ---- the application's views ------------------------------------------------------------------
 */

int corio__path_decode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int v = 0;
            for (int k = 1; k <= 2; k++) {
                char h = p[k];
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (d < 0)
                    return -1;
                v = v * 16 + d;
            }
            if (v == 0)
                return -1;
            c = v;
            p += 2;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = 0;
    return 0;
}

/* GET of one of the application's routes (ledger_app.h, routes and route). */
static int h_app_route(struct corio_http_req *r, void *arg)
{
    struct corio_ledger *l = arg;
    char path[1024];
    if (corio__path_decode(corio_http_path(r), path, sizeof path) != 0)
        return corio_http_reply_error(r, 400, "the path does not decode");
    sqlite3 *db = corio__reader_get(l);
    if (!db)
        return corio_http_reply_error(r, 500, "the database cannot be read");
    struct corio_ledger_view v = {0};
    int rc = l->app->route(l->app->ctx, db, path, &v);
    corio__reader_put(l, db);
    int out;
    if (rc == 1 && v.status >= 100 && v.status <= 599)
        out = corio_http_reply(r, v.status, v.content_type ? v.content_type : "application/json",
                               v.body ? v.body : "", v.body ? v.len : 0);
    else if (rc == 0)
        out = corio_http_reply_error(r, 404, "no such resource");
    else
        out = corio_http_reply_error(r, 500, "the view cannot be read: %s",
                                     corio_strerror(rc < 0 ? rc : CORIO_ERR_IO));
    free(v.body);
    return out;
}

/* ---- the event stream ------------------------------------------------------------------------ */

static int h_stream(struct corio_http_req *r, void *arg)
{
    (void)arg;
    return corio_http_sse_open(r);
}

void corio__api_block_event(struct corio_ledger *l, const struct corio_store_head *h, size_t ntxs)
{
    if (!l->http || !corio_http_sse_clients(l->http))
        return;
    json_t *j = head_json(h);
    json_object_set_new(j, "transactions", json_integer((json_int_t)ntxs));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text)
        corio_http_sse_broadcast(l->http, "block", text);
    free(text);
}

int corio__api_routes(struct corio_ledger *l)
{
    const struct {
        const char *method, *pattern;
        corio_http_handler fn;
    } routes[] = {
        {"GET", "/healthz", h_healthz},
        {"GET", "/api/v1/status", h_status},
        {"POST", "/api/v1/tx", h_submit},
        {"GET", "/api/v1/tx/{id}", h_tx},
        {"GET", "/api/v1/blocks/latest", h_block_latest},
        {"GET", "/api/v1/blocks/{height}", h_block},
        {"GET", "/api/v1/tree-head", h_tree_head},
        {"GET", "/api/v1/proof/inclusion", h_inclusion},
        {"GET", "/api/v1/proof/consistency", h_consistency},
        {"GET", "/api/v1/stream", h_stream},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = corio_http_route(l->http, routes[i].method, routes[i].pattern, routes[i].fn, l);
        if (rc != CORIO_OK)
            return rc;
    }
    if (!l->app->route || !l->app->routes)
        return CORIO_OK;
    for (const char *const *p = l->app->routes; *p; p++) {
        int rc = corio_http_route(l->http, "GET", *p, h_app_route, l);
        if (rc != CORIO_OK) {
            corio_logkv(CORIO_LOG_ERROR, "the application's route cannot be served",
                        "pattern=%s error=%s", *p, corio_strerror(rc));
            return rc;
        }
    }
    return CORIO_OK;
}
