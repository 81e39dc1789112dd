/*
 * store.c - the ledger's database (ledger_store.h): schema, applying a proposal as a block in
 * one transaction, snapshots as a serialized copy of the database, and the readers the
 * API and the auditor use.
 *
 * The Merkle tree is kept as its perfect subtrees (ledger_merkle.h): appending a leaf writes
 * the leaf and every subtree it completes (two rows per leaf on average), so a root or
 * a proof is O(log n) primary-key reads. The right edge of the tree (the frontier) is
 * kept in memory by the writer and rebuilt from the table at open.
 */
#include "ledger_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "corio/error.h"
#include "corio_log.h"
#include "corio_sqlite.h"

static const char *const schema[] = {
    /* 1 */
    "CREATE TABLE ledger_meta(key TEXT PRIMARY KEY, value ANY) STRICT;"
    "CREATE TABLE ledger_blocks(height INTEGER PRIMARY KEY, hash BLOB NOT NULL,"
    " raw BLOB NOT NULL, timestamp_ms INTEGER NOT NULL, first_leaf INTEGER NOT NULL,"
    " ntxs INTEGER NOT NULL, root BLOB NOT NULL, state BLOB NOT NULL) STRICT;"
    "CREATE TABLE ledger_txs(leaf INTEGER PRIMARY KEY, id BLOB NOT NULL,"
    " height INTEGER NOT NULL, status INTEGER NOT NULL) STRICT;"
    "CREATE INDEX ledger_txs_id ON ledger_txs(id);"
    "CREATE TABLE ledger_merkle(level INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " hash BLOB NOT NULL, PRIMARY KEY(level, idx)) STRICT, WITHOUT ROWID;"
    "CREATE TABLE ledger_members(kind INTEGER NOT NULL, id INTEGER NOT NULL,"
    " address TEXT NOT NULL, api TEXT NOT NULL, PRIMARY KEY(kind, id)) STRICT;"
    "INSERT INTO ledger_meta VALUES('format', 1), ('applied_index', 0),"
    " ('members_managed', 0);",
};

enum { MEMBERS_EXPECTED = 0, MEMBERS_ALLOWED = 1 };

struct corio_ledger_block_ctx {
    sqlite3 *db;
    uint64_t height, timestamp_ms, proposer, leaf;
    size_t ntxs, tx_index;
    uint8_t id[CORIO_LEDGER_ID_LEN];
};

struct corio_store {
    sqlite3 *db;
    const struct corio_ledger_app *app;
    struct corio_store_head head;
    struct corio_merkle_frontier frontier;
    sqlite3_stmt *ins_node, *ins_tx, *ins_block, *set_applied;
};

/* ---- the block context ---------------------------------------------------------------- */

sqlite3 *corio_ledger_block_db(struct corio_ledger_block_ctx *b)
{
    return b->db;
}
uint64_t corio_ledger_block_height(const struct corio_ledger_block_ctx *b)
{
    return b->height;
}
uint64_t corio_ledger_block_time(const struct corio_ledger_block_ctx *b)
{
    return b->timestamp_ms;
}
uint64_t corio_ledger_block_proposer(const struct corio_ledger_block_ctx *b)
{
    return b->proposer;
}
size_t corio_ledger_block_ntxs(const struct corio_ledger_block_ctx *b)
{
    return b->ntxs;
}
size_t corio_ledger_block_tx_index(const struct corio_ledger_block_ctx *b)
{
    return b->tx_index;
}
uint64_t corio_ledger_block_tx_leaf(const struct corio_ledger_block_ctx *b)
{
    return b->leaf;
}
const uint8_t *corio_ledger_block_tx_id(const struct corio_ledger_block_ctx *b)
{
    return b->id;
}

/* ---- small SQL helpers ---------------------------------------------------------------- */

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        corio_logkv(CORIO_LOG_ERROR, "ledger database statement failed",
                    "sql=\"%.60s\" error=%s", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

static int meta_int(sqlite3 *db, const char *key, int64_t *out)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT value FROM ledger_meta WHERE key = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? CORIO_OK : rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
}

static int meta_set_int(sqlite3 *db, const char *key, int64_t v)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO ledger_meta VALUES(?, ?)", -1, &s, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, v);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

static int copy_blob(sqlite3_stmt *s, int col, uint8_t *out, size_t len)
{
    if (sqlite3_column_type(s, col) != SQLITE_BLOB || (size_t)sqlite3_column_bytes(s, col) != len)
        return CORIO_ERR_MALFORMED;
    memcpy(out, sqlite3_column_blob(s, col), len);
    return CORIO_OK;
}

/* ---- reading ---------------------------------------------------------------------------- */

int corio__read_open(const char *path, sqlite3 **db, char *err, size_t errlen)
{
    return corio_sqlite_open(path, CORIO_SQLITE_READONLY, 0, db, err, errlen);
}

int corio__read_head(sqlite3 *db, struct corio_store_head *out)
{
    struct corio_store_head h;
    memset(&h, 0, sizeof h);
    corio_merkle_empty_root(h.root);
    int64_t applied = 0;
    int rc = meta_int(db, "applied_index", &applied);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_NOTFOUND ? CORIO_ERR_MALFORMED : rc;
    h.applied_index = (uint64_t)applied;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT height, hash, timestamp_ms, first_leaf + ntxs, root, state"
                           " FROM ledger_blocks ORDER BY height DESC LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        h.height = (uint64_t)sqlite3_column_int64(s, 0);
        h.timestamp_ms = (uint64_t)sqlite3_column_int64(s, 2);
        h.tree_size = (uint64_t)sqlite3_column_int64(s, 3);
        if (copy_blob(s, 1, h.block_hash, 32) || copy_blob(s, 4, h.root, 32) ||
            copy_blob(s, 5, h.state_hash, 32))
            rc = SQLITE_CORRUPT;
        else
            rc = SQLITE_DONE;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return CORIO_ERR_IO;
    *out = h;
    return CORIO_OK;
}

int corio__read_block(sqlite3 *db, uint64_t height, uint8_t **raw, size_t *len)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT raw FROM ledger_blocks WHERE height = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_int64(s, 1, (int64_t)height);
    int rc = sqlite3_step(s), out = CORIO_ERR_IO;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) {
            out = CORIO_ERR_NOSPACE;
        } else {
            memcpy(buf, sqlite3_column_blob(s, 0), n);
            *raw = buf;
            *len = n;
            out = CORIO_OK;
        }
    } else if (rc == SQLITE_DONE) {
        out = CORIO_ERR_NOTFOUND;
    }
    sqlite3_finalize(s);
    return out;
}

int corio__read_tx_by_id(sqlite3 *db, const uint8_t id[CORIO_LEDGER_ID_LEN], uint64_t *leaf,
                         uint64_t *height)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT leaf, height FROM ledger_txs WHERE id = ? ORDER BY leaf LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_blob(s, 1, id, CORIO_LEDGER_ID_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *leaf = (uint64_t)sqlite3_column_int64(s, 0);
        *height = (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? CORIO_OK : rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
}

int corio__read_tx_by_leaf(sqlite3 *db, uint64_t leaf, uint64_t *height,
                           uint8_t id[CORIO_LEDGER_ID_LEN])
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT height, id FROM ledger_txs WHERE leaf = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_int64(s, 1, (int64_t)leaf);
    int rc = sqlite3_step(s), out;
    if (rc == SQLITE_ROW) {
        *height = (uint64_t)sqlite3_column_int64(s, 0);
        out = copy_blob(s, 1, id, CORIO_LEDGER_ID_LEN) == CORIO_OK ? CORIO_OK : CORIO_ERR_IO;
    } else {
        out = rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    }
    sqlite3_finalize(s);
    return out;
}

int corio__read_block_hash(sqlite3 *db, uint64_t height, uint8_t hash[32])
{
    if (height == 0) {
        memset(hash, 0, 32);
        return CORIO_OK;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT hash FROM ledger_blocks WHERE height = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_int64(s, 1, (int64_t)height);
    int rc = sqlite3_step(s), out;
    if (rc == SQLITE_ROW)
        out = copy_blob(s, 0, hash, 32) == CORIO_OK ? CORIO_OK : CORIO_ERR_IO;
    else
        out = rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    sqlite3_finalize(s);
    return out;
}

struct node_reader {
    sqlite3_stmt *s;
};

static int read_node(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
    struct node_reader *r = arg;
    sqlite3_bind_int64(r->s, 1, (int64_t)level);
    sqlite3_bind_int64(r->s, 2, (int64_t)index);
    int rc = sqlite3_step(r->s), res;
    if (rc == SQLITE_ROW)
        res = copy_blob(r->s, 0, out, 32) == CORIO_OK ? CORIO_OK : CORIO_ERR_IO;
    else
        res = rc == SQLITE_DONE ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    sqlite3_reset(r->s);
    return res;
}

static int reader_open(sqlite3 *db, struct node_reader *r)
{
    return sqlite3_prepare_v2(db, "SELECT hash FROM ledger_merkle WHERE level = ? AND idx = ?", -1,
                              &r->s, NULL) == SQLITE_OK
               ? CORIO_OK
               : CORIO_ERR_IO;
}

/* The tree's size as stored, within the caller's read transaction. */
static int stored_size(sqlite3 *db, uint64_t *size)
{
    struct corio_store_head h;
    int rc = corio__read_head(db, &h);
    if (rc == CORIO_OK)
        *size = h.tree_size;
    return rc;
}

/* Runs fn inside one read transaction, so that the size check and the reads agree. */
static int in_read_txn(sqlite3 *db, int (*fn)(sqlite3 *, void *), void *arg)
{
    bool own = sqlite3_get_autocommit(db);
    if (own && exec(db, "BEGIN") != CORIO_OK)
        return CORIO_ERR_IO;
    int rc = fn(db, arg);
    if (own)
        exec(db, "COMMIT");
    return rc;
}

struct proof_args {
    uint64_t a, b;
    uint8_t *root;
    corio_merkle_hash *proof;
    size_t *len;
    int kind; /* 0 root, 1 inclusion, 2 consistency */
};

static int proof_fn(sqlite3 *db, void *arg)
{
    struct proof_args *p = arg;
    uint64_t size;
    int rc = stored_size(db, &size);
    if (rc != CORIO_OK)
        return rc;
    struct node_reader r;
    if (reader_open(db, &r) != CORIO_OK)
        return CORIO_ERR_IO;
    switch (p->kind) {
    case 0:
        rc = p->a > size ? CORIO_ERR_NOTFOUND : corio_merkle_root(read_node, &r, p->a, p->root);
        break;
    case 1:
        rc = p->b > size || p->a >= p->b
                 ? CORIO_ERR_NOTFOUND
                 : corio_merkle_inclusion_proof(read_node, &r, p->a, p->b, p->proof,
                                                CORIO_MERKLE_MAX_PROOF, p->len);
        break;
    default:
        rc = p->b > size || p->a == 0 || p->a > p->b
                 ? CORIO_ERR_NOTFOUND
                 : corio_merkle_consistency_proof(read_node, &r, p->a, p->b, p->proof,
                                                  CORIO_MERKLE_MAX_PROOF, p->len);
    }
    sqlite3_finalize(r.s);
    return rc;
}

int corio__read_root(sqlite3 *db, uint64_t size, uint8_t root[32])
{
    struct proof_args p = {.a = size, .root = root, .kind = 0};
    return in_read_txn(db, proof_fn, &p);
}

int corio__read_inclusion(sqlite3 *db, uint64_t leaf, uint64_t size, corio_merkle_hash *path,
                          size_t *len)
{
    struct proof_args p = {.a = leaf, .b = size, .proof = path, .len = len, .kind = 1};
    return in_read_txn(db, proof_fn, &p);
}

int corio__read_consistency(sqlite3 *db, uint64_t first, uint64_t second, corio_merkle_hash *proof,
                            size_t *len)
{
    struct proof_args p = {.a = first, .b = second, .proof = proof, .len = len, .kind = 2};
    return in_read_txn(db, proof_fn, &p);
}

/* ---- opening -------------------------------------------------------------------------- */

static int prepare_writer(struct corio_store *st)
{
    const struct {
        sqlite3_stmt **s;
        const char *sql;
    } stmts[] = {
        {&st->ins_node, "INSERT INTO ledger_merkle VALUES(?, ?, ?)"},
        {&st->ins_tx, "INSERT INTO ledger_txs VALUES(?, ?, ?, ?)"},
        {&st->ins_block, "INSERT INTO ledger_blocks VALUES(?, ?, ?, ?, ?, ?, ?, ?)"},
        {&st->set_applied, "UPDATE ledger_meta SET value = ? WHERE key = 'applied_index'"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (sqlite3_prepare_v3(st->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].s,
                               NULL) != SQLITE_OK)
            return CORIO_ERR_IO;
    return CORIO_OK;
}

/* Reloads the head and the frontier from the database. */
static int load_state(struct corio_store *st)
{
    int rc = corio__read_head(st->db, &st->head);
    if (rc != CORIO_OK)
        return rc;
    struct node_reader r;
    if (reader_open(st->db, &r) != CORIO_OK)
        return CORIO_ERR_IO;
    rc = corio_merkle_frontier_load(&st->frontier, read_node, &r, st->head.tree_size);
    sqlite3_finalize(r.s);
    if (rc != CORIO_OK)
        return rc;
    uint8_t root[32];
    rc = corio_merkle_frontier_root(&st->frontier, root);
    if (rc == CORIO_OK && memcmp(root, st->head.root, 32) != 0) {
        corio_log(CORIO_LOG_ERROR, "the stored Merkle tree does not match the last block's root");
        return CORIO_ERR_MALFORMED;
    }
    return rc;
}

int corio__store_open(const char *path, const struct corio_ledger_app *app,
                      struct corio_store **out, char *err, size_t errlen)
{
    if (!app || !app->apply || !app->state_hash) {
        snprintf(err, errlen, "the application lacks apply or state_hash");
        return CORIO_ERR_INVAL;
    }
    struct corio_store *st = calloc(1, sizeof *st);
    if (!st)
        return CORIO_ERR_NOSPACE;
    st->app = app;
    int rc = corio_sqlite_open(path, 0, 0, &st->db, err, errlen);
    if (rc != CORIO_OK) {
        free(st);
        return rc;
    }
    rc = corio_sqlite_migrate(st->db, schema, sizeof schema / sizeof schema[0], err, errlen);
    if (rc == CORIO_OK && app->open)
        rc = app->open(app->ctx, st->db, err, errlen);
    if (rc == CORIO_OK && (rc = prepare_writer(st)) != CORIO_OK)
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
    if (rc == CORIO_OK && (rc = load_state(st)) != CORIO_OK)
        snprintf(err, errlen, "%s: cannot read the ledger's state (%s)", path, corio_strerror(rc));
    if (rc != CORIO_OK) {
        corio__store_close(st);
        return rc;
    }
    *out = st;
    return CORIO_OK;
}

void corio__store_close(struct corio_store *st)
{
    if (!st)
        return;
    sqlite3_finalize(st->ins_node);
    sqlite3_finalize(st->ins_tx);
    sqlite3_finalize(st->ins_block);
    sqlite3_finalize(st->set_applied);
    sqlite3_close(st->db);
    free(st);
}

sqlite3 *corio__store_db(struct corio_store *st)
{
    return st->db;
}

void corio__store_head(const struct corio_store *st, struct corio_store_head *out)
{
    *out = st->head;
}

/* ---- applying a proposal ----------------------------------------------------------------- */

static int emit_node(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
    struct corio_store *st = arg;
    sqlite3_bind_int64(st->ins_node, 1, (int64_t)level);
    sqlite3_bind_int64(st->ins_node, 2, (int64_t)index);
    sqlite3_bind_blob(st->ins_node, 3, hash, 32, SQLITE_STATIC);
    return step_done(st->ins_node);
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence, and replaces it when
 * it is not valid UTF-8 (a reason is stored as CBOR text). */
static size_t clean_reason(char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
        s[n] = 0;
    }
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        bool ok = len > 0 && i + len <= n && !(len == 2 && c < 0xc2);
        for (size_t j = 1; ok && j < len; j++)
            ok = ((unsigned char)s[i + j] & 0xc0) == 0x80;
        if (ok && len == 3) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
        }
        if (ok && len == 4) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
        }
        if (!ok) {
            snprintf(s, max + 1, "%s", "refused (the reason was not valid UTF-8)");
            return strlen(s);
        }
        i += len;
    }
    if (n == 0) {
        snprintf(s, max + 1, "%s", "refused");
        return strlen(s);
    }
    return n;
}

static int by_id(const void *a, const void *b)
{
    const struct corio_ledger_member *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Writes the application's expected members after a block; returns whether they
 * changed (1), 0, or a negative error. */
static int record_members(struct corio_store *st)
{
    if (!st->app->members)
        return 0;
    struct corio_ledger_member now[CORIO_STORE_MAX_MEMBERS], before[CORIO_STORE_MAX_MEMBERS];
    int n = st->app->members(st->app->ctx, st->db, now, CORIO_STORE_MAX_MEMBERS);
    if (n == CORIO_ERR_NOTFOUND)
        return 0;
    if (n < 0)
        return n;
    if (n > CORIO_STORE_MAX_MEMBERS)
        return CORIO_ERR_FULL;
    qsort(now, (size_t)n, sizeof now[0], by_id);
    int m = corio__store_expected(st, before, CORIO_STORE_MAX_MEMBERS);
    bool same = m == n;
    for (int i = 0; same && i < n; i++)
        same = now[i].id == before[i].id && !strcmp(now[i].address, before[i].address) &&
               !strcmp(now[i].api, before[i].api);
    if (same)
        return 0;
    /* Expected becomes now; allowed grows by now (members leaving stay allowed until
     * the configuration has converged). */
    if (exec(st->db, "DELETE FROM ledger_members WHERE kind = 0") != CORIO_OK)
        return CORIO_ERR_IO;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO ledger_members VALUES(?, ?, ?, ?)", -1,
                           &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    int rc = CORIO_OK;
    for (int kind = 0; kind <= 1 && rc == CORIO_OK; kind++)
        for (int i = 0; i < n && rc == CORIO_OK; i++) {
            sqlite3_bind_int(s, 1, kind);
            sqlite3_bind_int64(s, 2, (int64_t)now[i].id);
            sqlite3_bind_text(s, 3, now[i].address, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, now[i].api, -1, SQLITE_STATIC);
            rc = step_done(s);
        }
    sqlite3_finalize(s);
    if (rc == CORIO_OK)
        rc = meta_set_int(st->db, "members_managed", 1);
    return rc == CORIO_OK ? 1 : rc;
}

int corio__store_apply(struct corio_store *st, uint64_t index, const struct corio_proposal *p,
                       unsigned faults, struct corio_store_applied *out)
{
    if (index <= st->head.applied_index)
        return CORIO_ERR_STATE;
    const struct corio_ledger_app *app = st->app;
    struct corio_store_tx_result *res = NULL;
    struct corio_block_tx *btx = NULL;
    uint8_t *altered = NULL, *raw = NULL;
    size_t raw_len = 0;
    if (p->ntxs) {
        res = calloc(p->ntxs, sizeof *res);
        btx = calloc(p->ntxs, sizeof *btx);
        if (!res || !btx) {
            free(res);
            free(btx);
            return CORIO_ERR_NOSPACE;
        }
    }
    if (exec(st->db, "BEGIN IMMEDIATE") != CORIO_OK) {
        free(res);
        free(btx);
        return CORIO_ERR_IO;
    }

    struct corio_ledger_block_ctx b = {
        .db = st->db,
        .height = st->head.height + 1,
        .timestamp_ms =
            p->timestamp_ms > st->head.timestamp_ms ? p->timestamp_ms : st->head.timestamp_ms,
        .proposer = p->proposer,
        .ntxs = p->ntxs,
    };
    struct corio_merkle_frontier tree = st->frontier;
    int rc = app->begin_block ? app->begin_block(app->ctx, &b) : CORIO_OK;
    for (size_t i = 0; rc == CORIO_OK && i < p->ntxs; i++) {
        const uint8_t *tx = p->txs[i].data;
        size_t len = p->txs[i].len;
        if ((faults & CORIO_STORE_FAULT_ALTER_TX) && i == 0) {
            /* Test only: this node changes what it was given, as a dishonest or broken
             * node would; its peers must notice. */
            altered = malloc(len + 1);
            if (!altered) {
                rc = CORIO_ERR_NOSPACE;
                break;
            }
            memcpy(altered, tx, len);
            if (len)
                altered[len - 1] ^= 0x01;
            else
                altered[len++] = 0x00;
            tx = altered;
        }
        struct corio_store_tx_result *r = &res[i];
        r->leaf = tree.size;
        if (app->tx_id)
            rc = app->tx_id(app->ctx, tx, len, r->id);
        else
            rc = SHA256(tx ? tx : (const uint8_t *)"", len, r->id) ? CORIO_OK : CORIO_ERR_CRYPTO;
        if (rc != CORIO_OK)
            break;
        b.tx_index = i;
        b.leaf = r->leaf;
        memcpy(b.id, r->id, sizeof b.id);
        if ((rc = exec(st->db, "SAVEPOINT ledger_tx")) != CORIO_OK)
            break;
        r->reason[0] = 0;
        int verdict = app->apply(app->ctx, &b, tx, len, r->reason, sizeof r->reason);
        if (verdict == CORIO_OK) {
            r->status = CORIO_TX_ACCEPTED;
            r->reason[0] = 0;
            rc = exec(st->db, "RELEASE ledger_tx");
        } else if (verdict == CORIO_ERR_POLICY || verdict == CORIO_ERR_MALFORMED) {
            r->status = CORIO_TX_REFUSED;
            r->reason[sizeof r->reason - 1] = 0;
            clean_reason(r->reason, CORIO_BLOCK_MAX_REASON);
            rc = exec(st->db, "ROLLBACK TO ledger_tx");
            if (rc == CORIO_OK)
                rc = exec(st->db, "RELEASE ledger_tx");
        } else {
            corio_logkv(CORIO_LOG_ERROR, "the application failed to apply a transaction",
                        "height=%llu index=%zu error=%s", (unsigned long long)b.height, i,
                        corio_strerror(verdict));
            rc = verdict;
            break;
        }
        btx[i] = (struct corio_block_tx){.data = tx,
                                         .len = len,
                                         .status = r->status,
                                         .reason = r->reason,
                                         .reason_len = strlen(r->reason)};
        uint8_t leaf[32];
        if (rc == CORIO_OK)
            rc = corio_merkle_leaf_hash(tx, len, leaf);
        if (rc == CORIO_OK)
            rc = corio_merkle_frontier_append(&tree, leaf, emit_node, st);
        if (rc == CORIO_OK) {
            sqlite3_bind_int64(st->ins_tx, 1, (int64_t)r->leaf);
            sqlite3_bind_blob(st->ins_tx, 2, r->id, 32, SQLITE_STATIC);
            sqlite3_bind_int64(st->ins_tx, 3, (int64_t)b.height);
            sqlite3_bind_int(st->ins_tx, 4, (int)r->status);
            rc = step_done(st->ins_tx);
        }
    }
    if (rc == CORIO_OK && app->end_block)
        rc = app->end_block(app->ctx, &b);

    struct corio_block blk = {
        .height = b.height,
        .timestamp_ms = b.timestamp_ms,
        .proposer = p->proposer,
        .first_leaf = st->head.tree_size,
        .txs = btx,
        .ntxs = p->ntxs,
    };
    memcpy(blk.prev_hash, st->head.block_hash, 32);
    if (rc == CORIO_OK)
        rc = corio_merkle_frontier_root(&tree, blk.tree_root);
    if (rc == CORIO_OK)
        rc = app->state_hash(app->ctx, &b, blk.state_hash);
    int members = 0;
    if (rc == CORIO_OK)
        rc = members = record_members(st);
    if (rc > 0)
        rc = CORIO_OK;
    if (rc == CORIO_OK)
        rc = corio_block_encode_alloc(&blk, &raw, &raw_len);
    struct corio_store_head head = st->head;
    if (rc == CORIO_OK) {
        head.height = blk.height;
        head.timestamp_ms = blk.timestamp_ms;
        head.tree_size = tree.size;
        memcpy(head.root, blk.tree_root, 32);
        memcpy(head.state_hash, blk.state_hash, 32);
        head.applied_index = index;
        rc = corio_block_hash(raw, raw_len, head.block_hash);
    }
    if (rc == CORIO_OK) {
        sqlite3_stmt *s = st->ins_block;
        sqlite3_bind_int64(s, 1, (int64_t)head.height);
        sqlite3_bind_blob(s, 2, head.block_hash, 32, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, raw, (int)raw_len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, (int64_t)head.timestamp_ms);
        sqlite3_bind_int64(s, 5, (int64_t)blk.first_leaf);
        sqlite3_bind_int64(s, 6, (int64_t)blk.ntxs);
        sqlite3_bind_blob(s, 7, head.root, 32, SQLITE_STATIC);
        sqlite3_bind_blob(s, 8, head.state_hash, 32, SQLITE_STATIC);
        rc = step_done(s);
    }
    if (rc == CORIO_OK) {
        sqlite3_bind_int64(st->set_applied, 1, (int64_t)index);
        rc = step_done(st->set_applied);
    }
    if (rc == CORIO_OK)
        rc = exec(st->db, "COMMIT");
    free(raw);
    free(btx);
    free(altered);
    if (rc != CORIO_OK) {
        exec(st->db, "ROLLBACK");
        free(res);
        return rc;
    }
    st->frontier = tree;
    st->head = head;
    if (out) {
        out->head = head;
        out->txs = res;
        out->ntxs = p->ntxs;
        out->members_changed = members > 0;
    } else {
        free(res);
    }
    return CORIO_OK;
}

void corio__store_applied_free(struct corio_store_applied *a)
{
    if (!a)
        return;
    free(a->txs);
    a->txs = NULL;
    a->ntxs = 0;
}

int corio__store_skip(struct corio_store *st, uint64_t index)
{
    if (index <= st->head.applied_index)
        return CORIO_ERR_STATE;
    sqlite3_bind_int64(st->set_applied, 1, (int64_t)index);
    int rc = step_done(st->set_applied);
    if (rc == CORIO_OK)
        st->head.applied_index = index;
    return rc;
}

/* ---- snapshots ----------------------------------------------------------------------- */

int corio__store_snapshot(struct corio_store *st, void **data, size_t *len)
{
    sqlite3_int64 size = 0;
    unsigned char *img = sqlite3_serialize(st->db, "main", &size, 0);
    if (!img || size < 100)
        return CORIO_ERR_IO;
    /* Bytes 18 and 19 say "WAL" (2); an in-memory copy must say "rollback" (1) to be
     * opened by sqlite3_deserialize. The backup into the node's WAL database on restore
     * sets them back. */
    img[18] = img[19] = 1;
    *data = img;
    *len = (size_t)size;
    return CORIO_OK;
}

int corio__store_restore(struct corio_store *st, uint64_t index, const void *data, size_t len)
{
    if (st->head.applied_index >= index) {
        corio_logkv(CORIO_LOG_INFO, "snapshot not needed: the database is already there",
                    "snapshot_index=%llu applied_index=%llu", (unsigned long long)index,
                    (unsigned long long)st->head.applied_index);
        return CORIO_OK;
    }
    if (len < 100 || len > (size_t)INT64_MAX)
        return CORIO_ERR_MALFORMED;
    unsigned char *copy = sqlite3_malloc64(len);
    if (!copy)
        return CORIO_ERR_NOSPACE;
    memcpy(copy, data, len);
    copy[18] = copy[19] = 1;
    sqlite3 *mem = NULL;
    if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        sqlite3_free(copy);
        sqlite3_close(mem);
        return CORIO_ERR_IO;
    }
    int rc = sqlite3_deserialize(mem, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
                                 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) ==
                     SQLITE_OK
                 ? CORIO_OK
                 : CORIO_ERR_MALFORMED;
    int version = 0;
    int64_t applied = -1, format = 0;
    if (rc == CORIO_OK &&
        (corio_sqlite_user_version(mem, &version) != CORIO_OK ||
         version != (int)(sizeof schema / sizeof schema[0]) ||
         meta_int(mem, "format", &format) != CORIO_OK || format != 1 ||
         meta_int(mem, "applied_index", &applied) != CORIO_OK || (uint64_t)applied != index)) {
        corio_logkv(CORIO_LOG_ERROR,
                    "refusing a snapshot that is not a ledger database of its index",
                    "index=%llu schema=%d applied_index=%lld", (unsigned long long)index, version,
                    (long long)applied);
        rc = CORIO_ERR_MALFORMED;
    }
    if (rc == CORIO_OK) {
        sqlite3_backup *bk = sqlite3_backup_init(st->db, "main", mem, "main");
        if (!bk || sqlite3_backup_step(bk, -1) != SQLITE_DONE)
            rc = CORIO_ERR_IO;
        if (sqlite3_backup_finish(bk) != SQLITE_OK)
            rc = CORIO_ERR_IO;
        if (rc != CORIO_OK)
            corio_logkv(CORIO_LOG_ERROR, "cannot copy a snapshot into the database", "error=%s",
                        sqlite3_errmsg(st->db));
    }
    sqlite3_close(mem);
    if (rc == CORIO_OK)
        rc = load_state(st);
    if (rc == CORIO_OK && st->app->reload)
        st->app->reload(st->app->ctx, st->db);
    if (rc == CORIO_OK)
        corio_logkv(CORIO_LOG_INFO, "restored a snapshot", "index=%llu height=%llu tree_size=%llu",
                    (unsigned long long)index, (unsigned long long)st->head.height,
                    (unsigned long long)st->head.tree_size);
    return rc;
}

/* ---- membership bookkeeping ------------------------------------------------------------ */

static int read_members(sqlite3 *db, int kind, struct corio_ledger_member *out, size_t max)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, address, api FROM ledger_members WHERE kind = ? ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_int(s, 1, kind);
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((size_t)n < max) {
            out[n].id = (uint64_t)sqlite3_column_int64(s, 0);
            snprintf(out[n].address, sizeof out[n].address, "%s",
                     (const char *)sqlite3_column_text(s, 1));
            snprintf(out[n].api, sizeof out[n].api, "%s", (const char *)sqlite3_column_text(s, 2));
        }
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : CORIO_ERR_IO;
}

int corio__store_expected(struct corio_store *st, struct corio_ledger_member *out, size_t max)
{
    int64_t managed = 0;
    if (meta_int(st->db, "members_managed", &managed) != CORIO_OK)
        return CORIO_ERR_IO;
    if (!managed)
        return CORIO_ERR_NOTFOUND;
    return read_members(st->db, MEMBERS_EXPECTED, out, max);
}

int corio__store_allowed(struct corio_store *st, struct corio_ledger_member *out, size_t max)
{
    return read_members(st->db, MEMBERS_ALLOWED, out, max);
}

int corio__store_converged(struct corio_store *st)
{
    int rc =
        exec(st->db, "BEGIN IMMEDIATE;"
                     "DELETE FROM ledger_members WHERE kind = 1;"
                     "INSERT INTO ledger_members SELECT 1, id, address, api FROM ledger_members"
                     " WHERE kind = 0;"
                     "COMMIT;");
    if (rc != CORIO_OK && !sqlite3_get_autocommit(st->db))
        exec(st->db, "ROLLBACK");
    return rc;
}

int corio__store_set_allowed(struct corio_store *st, const struct corio_ledger_member *m, size_t n)
{
    if (exec(st->db, "BEGIN IMMEDIATE; DELETE FROM ledger_members WHERE kind = 1;") != CORIO_OK)
        goto fail;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO ledger_members VALUES(1, ?, ?, ?)", -1, &s, NULL) !=
        SQLITE_OK)
        goto fail;
    int rc = CORIO_OK;
    for (size_t i = 0; i < n && rc == CORIO_OK; i++) {
        sqlite3_bind_int64(s, 1, (int64_t)m[i].id);
        sqlite3_bind_text(s, 2, m[i].address, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, m[i].api, -1, SQLITE_STATIC);
        rc = step_done(s);
    }
    sqlite3_finalize(s);
    if (rc == CORIO_OK && exec(st->db, "COMMIT") == CORIO_OK)
        return CORIO_OK;
fail:
    if (!sqlite3_get_autocommit(st->db))
        exec(st->db, "ROLLBACK");
    return CORIO_ERR_IO;
}
