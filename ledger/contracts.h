/*
 * contracts.h - the built-in contracts of the ledger (DESIGN.md §6) as one application
 * of the engine (app.h): organisations and members, identities and key rotation, the
 * device registry, rights, proposals and votes, firmware releases and contract
 * versions. Every rule, with its refusal reason, is in docs/ledger-contracts.md.
 *
 * The public part (corio_contracts_*) is what the daemon, the API and the tests use;
 * the corio__ctr_* part is shared by contracts.c (dispatch, signatures, state hash)
 * and the contract_*.c files (one per contract).
 *
 * State lives in SQLite tables named ctr_*; every write to them goes through triggers
 * that keep a multiset hash of all their rows (app.h's helper), so the state hash
 * covers all of it and costs O(1) per row written.
 */
#ifndef CORIO_LEDGER_CONTRACTS_H
#define CORIO_LEDGER_CONTRACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ledger_app.h"
#include "tx.h"

/* ---- public -------------------------------------------------------------------------- */

/* Contracts that have versions, and the highest version this build implements. A vote
 * may activate a later version at a given height; a node whose build lacks it halts at
 * that height (begin_block fails with CORIO_ERR_UNSUPPORTED) rather than fork. */
#define CORIO_CONTRACT_VOTE_MAX 2 /* "vote": 1 yes > threshold; 2 yes >= threshold */

struct corio_contracts_opts {
    /* When set, check refuses a genesis transaction with another id: a node only ever
     * proposes the genesis its operators agreed on. apply does not look at it (it must
     * not depend on configuration). */
    bool pin_genesis;
    uint8_t genesis[CORIO_TX_ID_LEN];
    /* The highest "vote" version this node implements; 0 means
     * CORIO_CONTRACT_VOTE_MAX. Tests set 1 to play a node of an older release. */
    unsigned max_vote_version;
};

/* A contracts application with options (copied). Free with corio_contracts_app_free
 * after the engine has closed. Returns NULL when out of memory. */
struct corio_ledger_app *corio_contracts_app_new(const struct corio_contracts_opts *opts);
void corio_contracts_app_free(struct corio_ledger_app *app);

/* The contracts with default options (one static instance; serves any number of
 * nodes). */
const struct corio_ledger_app *corio_contracts_app(void);

/* Recomputes the state hash from the ctr_ tables alone (O(state)), for tests and for
 * checking a node's database. Returns CORIO_OK or CORIO_ERR_IO. */
int corio_contracts_state_recompute(sqlite3 *db, uint8_t out[32]);

/* Reads the genesis id; CORIO_ERR_NOTFOUND before the genesis. */
int corio_contracts_genesis(sqlite3 *db, uint8_t id[CORIO_TX_ID_LEN]);

/* ---- internal -------------------------------------------------------------------------- */

enum ctr_kind { CTR_ORG = 1, CTR_PERSON = 2, CTR_DEVICE = 3, CTR_GATEWAY = 4 };

enum ctr_status { CTR_OPEN = 0, CTR_PASSED = 1, CTR_REJECTED = 2, CTR_NO_QUORUM = 3, CTR_FAILED = 4 };

/* An identity that signed the transaction (its signature verified with its current
 * key). */
struct ctr_signer {
    uint8_t id[CORIO_DID_ID_LEN];
    int kind; /* enum ctr_kind; 0 for an identity the transaction creates */
    uint8_t org[CORIO_DID_ID_LEN];
};

struct ctr_ctx {
    struct corio_contracts_opts opts;
};

/* One transaction being applied. */
struct ctr_apply {
    const struct ctr_ctx *ctx;
    sqlite3 *db;
    uint64_t height;
    const uint8_t *id; /* the transaction id */
    const struct corio_tx *tx;
    struct ctr_signer signer[CORIO_TX_MAX_SIGS];
    size_t nsig;
    char *reason;
    size_t cap;
};

/* Refuses the transaction: writes the reason and returns CORIO_ERR_POLICY. */
int corio__ctr_refuse(struct ctr_apply *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * SQL with bound arguments. fmt has one letter per parameter: 'i' int64_t, 'b' blob
 * (const void *, size_t), 'B' the same or NULL when the pointer is NULL, 't' text (const char *, size_t), 'z' NUL-terminated text,
 * 'n' NULL (no argument). exec runs a statement to completion; query prepares and
 * steps once and returns the statement (on SQLITE_ROW) in *out, which the caller
 * finalizes, or CORIO_ERR_NOTFOUND (no row; nothing to finalize). Both return
 * CORIO_ERR_IO on an SQLite error.
 */
int corio__ctr_exec(sqlite3 *db, const char *sql, const char *fmt, ...);
int corio__ctr_query(sqlite3 *db, sqlite3_stmt **out, const char *sql, const char *fmt, ...);
/* The one integer a query returns (CORIO_ERR_NOTFOUND without a row; NULL reads 0). */
int corio__ctr_int(sqlite3 *db, int64_t *v, const char *sql, const char *fmt, ...);

/* A parameter's value (its default when genesis did not set it). */
int corio__ctr_param(sqlite3 *db, const char *name, uint64_t *v);
/* Whether name is a parameter and value is in its range. */
bool corio__ctr_param_valid(const char *name, size_t len, uint64_t value);
/* Sets a parameter (no range check). */
int corio__ctr_param_set(sqlite3 *db, const char *name, size_t len, uint64_t value);

/* The version of a contract in force at height (1 unless a vote activated another). */
int corio__ctr_version(sqlite3 *db, const char *contract, uint64_t height, uint64_t *v);

/* The identity's row: kind, owner organisation, current key number and key (33 bytes),
 * whether it is active. CORIO_ERR_NOTFOUND when it does not exist. */
struct ctr_identity {
    int kind;
    uint8_t org[CORIO_DID_ID_LEN];
    uint32_t key_number;
    uint8_t key[CORIO_TX_KEY_LEN];
    bool active;
};
int corio__ctr_identity(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN], struct ctr_identity *out);
/* Creates an identity with its key 0. */
int corio__ctr_identity_create(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN], int kind,
                               const uint8_t org[CORIO_DID_ID_LEN],
                               const uint8_t key[CORIO_TX_KEY_LEN], uint64_t height);
/* The short id a key founds (SHA-256, first 15 bytes); CORIO_ERR_MALFORMED when the key
 * is not a P-256 point. */
int corio__ctr_did_of(const uint8_t key[CORIO_TX_KEY_LEN], uint8_t id[CORIO_DID_ID_LEN]);
/* "did:corio:<id>" into a static-free buffer of CORIO_DID_BUF. */
const char *corio__ctr_did_str(const uint8_t id[CORIO_DID_ID_LEN], char buf[CORIO_DID_BUF]);

/* An organisation's row. CORIO_ERR_NOTFOUND when there is none. */
struct ctr_org {
    uint64_t weight, threshold, node;
    bool approver, active;
};
int corio__ctr_org(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN], struct ctr_org *out);

/*
 * Whether the transaction's signers act for the organisation: its own key counts for
 * its whole threshold, each active member (person) for its weight; the sum must reach
 * the threshold. A signer equal to exclude (may be NULL) does not count. On "no",
 * refuses with a reason naming the organisation and returns CORIO_ERR_POLICY; CORIO_OK
 * on "yes"; other negative codes are failures.
 */
int corio__ctr_require_org(struct ctr_apply *a, const uint8_t org[CORIO_DID_ID_LEN],
                           const uint8_t *exclude);

/* Contract entry points, one per transaction type (contract_*.c). Each returns CORIO_OK,
 * a refusal (CORIO_ERR_POLICY or CORIO_ERR_MALFORMED with a reason), or a failure. */
int corio__ctr_genesis(struct ctr_apply *a);
int corio__ctr_member_add(struct ctr_apply *a);
int corio__ctr_member_remove(struct ctr_apply *a);
int corio__ctr_did_rotate(struct ctr_apply *a);
int corio__ctr_device_register(struct ctr_apply *a);
int corio__ctr_device_transfer(struct ctr_apply *a);
int corio__ctr_device_revoke(struct ctr_apply *a);
int corio__ctr_proposal(struct ctr_apply *a);
int corio__ctr_vote(struct ctr_apply *a);
int corio__ctr_release_propose(struct ctr_apply *a);
int corio__ctr_release_approve(struct ctr_apply *a);

/* Height rules, from begin_block: close the proposals whose period ended and apply
 * what passed (contract_proposal.c). */
int corio__ctr_close_proposals(sqlite3 *db, uint64_t height, const struct ctr_ctx *ctx);

/* Effects of a passed proposal, by kind: CORIO_OK, or CORIO_ERR_POLICY with a reason
 * (the proposal is then recorded as passed but failed), or a failure. */
int corio__ctr_membership_effect(sqlite3 *db, uint64_t height, const uint8_t *payload, size_t len,
                                 char *reason, size_t cap);
int corio__ctr_rights_effect(sqlite3 *db, uint64_t height, const uint8_t *payload, size_t len,
                             char *reason, size_t cap);

/* Validation of a proposal's payload when it is made (contract_org.c,
 * contract_rights.c): CORIO_OK or a refusal through a. */
int corio__ctr_membership_check(struct ctr_apply *a, const struct corio_tx_proposal_payload *p);
int corio__ctr_rights_check(struct ctr_apply *a, const struct corio_tx_proposal_payload *p);

/* Keys that the transaction itself introduces (key 0 of identities it creates), so
 * that their signatures can be checked before they exist: writes at most max pairs
 * and returns how many (contract_org.c, for genesis, member.add and admissions). */
struct ctr_incept {
    uint8_t id[CORIO_DID_ID_LEN];
    uint8_t key[CORIO_TX_KEY_LEN];
};
int corio__ctr_incepting(const struct corio_tx *tx, struct ctr_incept *out, size_t max);

#endif /* CORIO_LEDGER_CONTRACTS_H */
