/*
 * ledger_store.h - the ledger's SQLite database (internal to the engine): blocks, the
 * transaction index, the Merkle tree's perfect subtrees, membership bookkeeping and the
 * application's tables, in one file, so that a block and the state it produces commit
 * in one transaction. docs/ledger.md describes the tables.
 *
 * One connection writes (the engine's loop thread, through struct corio_store); any
 * number of read-only connections read through the corio__read_* functions, which take
 * a connection and start their own read transaction where they need a consistent view.
 */
#ifndef CORIO_LEDGER_STORE_H
#define CORIO_LEDGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ledger_app.h"
#include "ledger_block.h"
#include "ledger_merkle.h"

#define CORIO_STORE_MAX_MEMBERS 64

struct corio_store;

/* The last block, the tree after it, and the last consensus index applied. */
struct corio_store_head {
    uint64_t height; /* 0: no block yet */
    uint8_t block_hash[32];
    uint64_t timestamp_ms;
    uint64_t tree_size;
    uint8_t root[32];
    uint8_t state_hash[32];
    uint64_t applied_index;
};

/* What applying one proposal produced. */
struct corio_store_tx_result {
    uint64_t leaf;
    uint8_t id[CORIO_LEDGER_ID_LEN];
    enum corio_tx_status status;
    char reason[CORIO_BLOCK_MAX_REASON + 1];
};

struct corio_store_applied {
    struct corio_store_head head; /* after the block */
    struct corio_store_tx_result *txs;
    size_t ntxs;
    bool members_changed; /* the application's expected set changed with this block */
};

/* Test-only faults (config key test_fault_alter_tx). */
#define CORIO_STORE_FAULT_ALTER_TX 0x1u /* flip a bit of each block's first transaction */

/*
 * Opens (creating) the database at path, migrates the engine's schema, and lets the
 * application create its tables. Returns CORIO_OK, CORIO_ERR_IO or CORIO_ERR_VERSION
 * with a message in err.
 */
int corio__store_open(const char *path, const struct corio_ledger_app *app,
                      struct corio_store **out, char *err, size_t errlen);
void corio__store_close(struct corio_store *st);

/* The writer connection (loop thread only). */
sqlite3 *corio__store_db(struct corio_store *st);

void corio__store_head(const struct corio_store *st, struct corio_store_head *out);

/*
 * Turns the proposal committed at consensus index into the next block: runs the
 * application, extends the Merkle tree, stores block, index and state, all in one
 * transaction. faults: CORIO_STORE_FAULT_*. out (may be NULL) receives the results;
 * free with corio__store_applied_free.
 * Returns CORIO_OK; CORIO_ERR_STATE when index is not beyond the applied index (the
 * caller skips those); a negative failure (CORIO_ERR_IO, or the application's
 * failure code) after which nothing was stored.
 */
int corio__store_apply(struct corio_store *st, uint64_t index, const struct corio_proposal *p,
                       unsigned faults, struct corio_store_applied *out);
void corio__store_applied_free(struct corio_store_applied *a);

/* Records that index was applied without a block (a proposal that does not decode). */
int corio__store_skip(struct corio_store *st, uint64_t index);

/* A consistent copy of the whole database (sqlite3_malloc'd; free with sqlite3_free). */
int corio__store_snapshot(struct corio_store *st, void **data, size_t *len);

/*
 * Replaces the database with a snapshot of index, unless the database already holds
 * index or later (then nothing changes). The application's reload is called. Returns
 * CORIO_OK, CORIO_ERR_MALFORMED (not a ledger database, or not of index) or
 * CORIO_ERR_IO.
 */
int corio__store_restore(struct corio_store *st, uint64_t index, const void *data, size_t len);

/*
 * Membership bookkeeping. The expected set is the application's answer after the last
 * block; the allowed set is every member expected since the consensus configuration
 * last matched (docs/ledger.md, "Membership"). Each returns a count or a negative
 * error; CORIO_ERR_NOTFOUND from expected when the application does not decide.
 */
int corio__store_expected(struct corio_store *st, struct corio_ledger_member *out, size_t max);
int corio__store_allowed(struct corio_store *st, struct corio_ledger_member *out, size_t max);
/* The configuration matched the expected set: the allowed set becomes it. */
int corio__store_converged(struct corio_store *st);
/* While the application does not decide membership, the allowed set is whatever the
 * consensus configuration is (founding members are trusted by definition). */
int corio__store_set_allowed(struct corio_store *st, const struct corio_ledger_member *m, size_t n);

/* ---- reading (any connection) -------------------------------------------------------- */

/* Opens a read-only connection to the database at path. */
int corio__read_open(const char *path, sqlite3 **db, char *err, size_t errlen);

int corio__read_head(sqlite3 *db, struct corio_store_head *out);
/* The block at height, malloc'd (free()). CORIO_ERR_NOTFOUND beyond the head. */
int corio__read_block(sqlite3 *db, uint64_t height, uint8_t **raw, size_t *len);
/* The leaf index and block height of the transaction with this id (the first one if
 * several share it). CORIO_ERR_NOTFOUND. */
int corio__read_tx_by_id(sqlite3 *db, const uint8_t id[CORIO_LEDGER_ID_LEN], uint64_t *leaf,
                         uint64_t *height);
/* The height and id of the transaction at leaf. */
int corio__read_tx_by_leaf(sqlite3 *db, uint64_t leaf, uint64_t *height,
                           uint8_t id[CORIO_LEDGER_ID_LEN]);
/* The root of the first size leaves (size <= the tree's size). */
int corio__read_root(sqlite3 *db, uint64_t size, uint8_t root[32]);
/* The block hash at height (zeros for height 0). */
int corio__read_block_hash(sqlite3 *db, uint64_t height, uint8_t hash[32]);
/* Proofs within the stored tree (sizes <= the tree's size). */
int corio__read_inclusion(sqlite3 *db, uint64_t leaf, uint64_t size, corio_merkle_hash *path,
                          size_t *len);
int corio__read_consistency(sqlite3 *db, uint64_t first, uint64_t second, corio_merkle_hash *proof,
                            size_t *len);

#endif /* CORIO_LEDGER_STORE_H */
