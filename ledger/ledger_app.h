/*
 * ledger_app.h - the ledger engine's application interface: what the transaction format and
 * the contracts plug into. The engine orders transactions (consensus), turns each
 * committed proposal into a block, keeps the Merkle log, signs tree heads and serves
 * the API; the application decides what a transaction means.
 *
 * The engine calls the application from two places:
 *
 *   - check (HTTP threads, concurrently, before a transaction is proposed): cheap
 *     validation (format, signatures) with a read-only database connection. A refusal
 *     goes back to the client and the transaction never reaches the log. Passing check
 *     is no promise: the state may change before the transaction is applied.
 *   - apply (the engine's loop thread, once per block, on every node, in log order):
 *     begin_block, then apply for each transaction in order, then end_block, then
 *     state_hash and members, all inside the one SQLite transaction that also stores the
 *     block and the Merkle log, so block and state commit atomically. Each transaction
 *     runs inside its own savepoint: a refused transaction's writes are rolled back,
 *     and it is still recorded in the block and the log with its reason, so that every
 *     node agrees on what happened to it.
 *
 * Determinism is the application's duty: apply, end_block, state_hash and members
 * may depend only on the database and on what the block context gives (height,
 * timestamp, proposer, the transaction), never on the local clock, randomness, the
 * node's identity or files. A node that computes another state hash has forked, and
 * its peers will say so (docs/ledger.md, "Honest nodes").
 *
 * Return codes, everywhere: CORIO_OK; CORIO_ERR_POLICY or CORIO_ERR_MALFORMED to refuse
 * a transaction (with a reason of at most CORIO_BLOCK_MAX_REASON bytes, UTF-8); any
 * other negative code is a failure of the node, not a verdict on the transaction (I/O,
 * out of memory): the engine then stops applying and halts rather than guess, because
 * another node may not fail the same way.
 */
#ifndef CORIO_LEDGER_APP_H
#define CORIO_LEDGER_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ledger_block.h"

#define CORIO_LEDGER_ID_LEN      32
#define CORIO_LEDGER_ADDRESS_MAX 255

/* The block being applied, as the application sees it (accessors below). */
struct corio_ledger_block_ctx;

/* A member of the ledger as the application decides it: the consensus id of its node,
 * the node's raft address and the base URL of its HTTP API. */
struct corio_ledger_member {
    uint64_t id;
    char address[CORIO_LEDGER_ADDRESS_MAX + 1]; /* "host:port" */
    char api[CORIO_LEDGER_ADDRESS_MAX + 1];     /* "http://host:port", may be "" */
};

/* What an application's extra route answers (see routes below): a status, a body
 * (malloc'd, NUL-terminated; the caller frees it) and its content type (static). */
struct corio_ledger_view {
    unsigned status;
    char *body;
    size_t len;
    const char *content_type;
};

struct corio_ledger_app {
    const char *name; /* for logs and /api/v1/status, e.g. "null" */
    void *ctx;        /* passed to every callback */

    /*
     * Creates or migrates the application's tables in the ledger database (the
     * engine's own tables are named ledger_*; use another prefix). Called once when
     * the node opens its database, on the engine's connection. Optional.
     */
    int (*open)(void *ctx, sqlite3 *db, char *err, size_t errlen);

    /*
     * Cheap validation before proposing (see above). db is read-only and belongs to
     * the calling thread for the call. Optional: NULL accepts everything.
     */
    int (*check)(void *ctx, sqlite3 *db, const uint8_t *tx, size_t len, char *reason,
                 size_t reason_cap);

    /*
     * The transaction's id: DESIGN.md §6 makes it the hash of the unsigned body, since
     * signatures are malleable. Must succeed for any bytes the application could see
     * (a malformed transaction too), deterministically; any thread. Optional: NULL
     * means SHA-256 of the whole transaction.
     */
    int (*tx_id)(void *ctx, const uint8_t *tx, size_t len, uint8_t id[CORIO_LEDGER_ID_LEN]);

    /* Called before the first and after the last transaction of every block (an empty
     * block too), in the block's database transaction: height-based rules (a voting
     * period that ends) go here. Optional. */
    int (*begin_block)(void *ctx, struct corio_ledger_block_ctx *b);
    int (*end_block)(void *ctx, struct corio_ledger_block_ctx *b);

    /*
     * Applies one transaction (the current one of b). CORIO_OK accepts it; a refusal
     * (CORIO_ERR_POLICY, CORIO_ERR_MALFORMED) with a non-empty reason rolls back its
     * writes and records it as refused. Required.
     */
    int (*apply)(void *ctx, struct corio_ledger_block_ctx *b, const uint8_t *tx, size_t len,
                 char *reason, size_t reason_cap);

    /* The application's state hash after the block (32 bytes). Required. */
    int (*state_hash)(void *ctx, struct corio_ledger_block_ctx *b, uint8_t out[32]);

    /*
     * The members the ledger should have after the block: writes at most max into out
     * and returns how many there are, or CORIO_ERR_NOTFOUND when the application does
     * not (yet) decide membership (the consensus configuration is then left alone).
     * Called after every block. The engine makes the consensus configuration follow
     * this set and halts the node when the configuration holds a member the set never
     * admitted (docs/ledger.md, "Membership"). Optional: NULL is "not deciding".
     */
    int (*members)(void *ctx, sqlite3 *db, struct corio_ledger_member *out, size_t max);

    /*
     * Extra read-only GET routes of the HTTP API (views of the application's state).
     * routes lists corio_http patterns ("/api/v1/contracts/{a}", one {name} per
     * segment), ending with NULL; the engine serves GET (and HEAD) of each by calling
     * route on an HTTP thread with one of its read-only connections and the request's
     * path, percent-decoded, without the query. route returns 1 with *out filled (any
     * status; out->body malloc'd, which the engine frees), 0 when the path is not one
     * of its views (the engine answers 404), or a negative failure (500). Optional:
     * both NULL serve nothing more. The patterns must not shadow the engine's own
     * routes (docs/ledger.md, "HTTP API").
     */
    const char *const *routes;
    int (*route)(void *ctx, sqlite3 *db, const char *path, struct corio_ledger_view *out);

    /* The database was replaced by a snapshot from another node: drop any cache.
     * Optional. */
    void (*reload)(void *ctx, sqlite3 *db);

    /* The node is closing. Optional. */
    void (*close)(void *ctx);
};

/* ---- the block context (valid during the callbacks that receive it) ------------------ */

/* The connection of the block's transaction: read and write the application's tables
 * through it, never commit or roll back. */
sqlite3 *corio_ledger_block_db(struct corio_ledger_block_ctx *b);
uint64_t corio_ledger_block_height(const struct corio_ledger_block_ctx *b);
/* The block's time (ms since the epoch): the leader's clock when it proposed, never
 * earlier than the previous block's. The only clock an application may read. */
uint64_t corio_ledger_block_time(const struct corio_ledger_block_ctx *b);
/* The consensus id of the node that proposed the block. */
uint64_t corio_ledger_block_proposer(const struct corio_ledger_block_ctx *b);
/* The number of transactions in the block. */
size_t corio_ledger_block_ntxs(const struct corio_ledger_block_ctx *b);
/* During apply: the position of the transaction in the block, its leaf index in the
 * Merkle log, and its id. */
size_t corio_ledger_block_tx_index(const struct corio_ledger_block_ctx *b);
uint64_t corio_ledger_block_tx_leaf(const struct corio_ledger_block_ctx *b);
const uint8_t *corio_ledger_block_tx_id(const struct corio_ledger_block_ctx *b);

/* ---- helpers for applications --------------------------------------------------------- */

/*
 * An order-independent digest of a set of items (a multiset hash): the sum, modulo
 * 2^256, of SHA-256 of each item. Adding and removing an item costs one hash, so a
 * state hash can follow every write without reading the whole state. It is a checksum
 * against divergence between honest nodes, not a commitment an adversary cannot
 * forge: sums of hashes admit collisions found with generalised birthday attacks.
 */
struct corio_ledger_sethash {
    uint8_t acc[32]; /* big-endian */
};
void corio_ledger_sethash_init(struct corio_ledger_sethash *h);
int corio_ledger_sethash_add(struct corio_ledger_sethash *h, const void *item, size_t len);
int corio_ledger_sethash_remove(struct corio_ledger_sethash *h, const void *item, size_t len);

/* The null application: see nullapp.c. */
const struct corio_ledger_app *corio_ledger_null_app(void);

/* Recomputes the null application's state hash from its tables alone (O(state)), for
 * tests and for checking a node's database. */
int corio_ledger_null_state_recompute(sqlite3 *db, uint8_t out[32]);

#endif /* CORIO_LEDGER_APP_H */
