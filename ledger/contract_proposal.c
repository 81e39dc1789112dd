/*
 * contract_proposal.c - proposals and votes: membership, rights, parameters, contract
 * versions and free-text decisions. A member organisation proposes (by its threshold);
 * the proposal is open from the block that records it until its closing height
 * (created + period, counted in ledger height, never wall-clock); each member
 * organisation casts one vote, with its weight, and may change it until the close (a
 * new vote replaces the old one). The tally runs in begin_block of the closing height,
 * before that block's transactions, so a vote in that block is after the close.
 *
 * The tally is itself a versioned contract ("vote"): version 1 passes when
 * yes > threshold% of (yes + no); version 2, when yes >= threshold% of (yes + no) with
 * at least one yes. A version proposal activates a later version at a given height;
 * contracts.c halts a node whose build lacks it. In both versions the quorum is the
 * share of the active organisations' total weight that voted (abstentions count).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts.h"
#include "corio/error.h"

#define ID_ARG(x) (x), (size_t)CORIO_DID_ID_LEN
#define TX_ARG(x) (x), (size_t)CORIO_TX_ID_LEN

static int version_check(struct ctr_apply *a, const struct corio_tx_proposal_payload *p,
                         uint64_t closes)
{
    char name[CORIO_TX_NAME_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)p->name_len, p->name);
    int64_t newest;
    int rc = corio__ctr_int(a->db, &newest,
                            "SELECT coalesce(max(version), 1) FROM ctr_version WHERE contract = ?",
                            "z", name);
    if (rc != CORIO_OK)
        return rc;
    if (p->value <= (uint64_t)newest)
        return corio__ctr_refuse(a, "version %llu of %s is not newer than version %lld, in force"
                                    " or scheduled",
                                 (unsigned long long)p->value, name, (long long)newest);
    if (p->height <= closes)
        return corio__ctr_refuse(a, "activation at height %llu is not after the vote closes at"
                                    " height %llu",
                                 (unsigned long long)p->height, (unsigned long long)closes);
    return CORIO_OK;
}

int corio__ctr_proposal(struct ctr_apply *a)
{
    struct corio_tx_proposal p;
    struct corio_tx_proposal_payload pl;
    if (corio_tx_proposal_decode(a->tx->body.args, a->tx->body.args_len, &p) != CORIO_OK ||
        corio_tx_payload_decode(p.kind, p.payload, p.payload_len, &pl) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed proposal arguments");
    int rc = corio__ctr_require_org(a, p.org, NULL);
    if (rc != CORIO_OK)
        return rc;
    uint64_t period, lo, hi;
    if ((rc = corio__ctr_param(a->db, "vote.period", &period)) != CORIO_OK ||
        (rc = corio__ctr_param(a->db, "vote.period_min", &lo)) != CORIO_OK ||
        (rc = corio__ctr_param(a->db, "vote.period_max", &hi)) != CORIO_OK)
        return rc;
    if (p.has_period)
        period = p.period;
    if (period < lo || period > hi)
        return corio__ctr_refuse(a, "a voting period of %llu heights is outside [%llu, %llu]",
                                 (unsigned long long)period, (unsigned long long)lo,
                                 (unsigned long long)hi);
    uint64_t closes = a->height + period;
    switch (p.kind) {
    case CORIO_PROPOSAL_MEMBERSHIP:
        rc = corio__ctr_membership_check(a, &pl);
        break;
    case CORIO_PROPOSAL_RIGHTS:
        rc = corio__ctr_rights_check(a, &pl);
        break;
    case CORIO_PROPOSAL_PARAMETER:
        if (!corio__ctr_param_valid(pl.name, pl.name_len, pl.value))
            rc = corio__ctr_refuse(a, "parameter %.*s: unknown, or %llu is out of its range",
                                   (int)pl.name_len, pl.name, (unsigned long long)pl.value);
        break;
    case CORIO_PROPOSAL_VERSION:
        rc = version_check(a, &pl, closes);
        break;
    default: /* a decision: free text, recorded with its outcome */
        break;
    }
    if (rc != CORIO_OK)
        return rc;
    return corio__ctr_exec(a->db,
                           "INSERT INTO ctr_proposal VALUES(?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, NULL,"
                           " '')",
                           "bbibii", TX_ARG(a->id), ID_ARG(p.org), (int64_t)p.kind, p.payload,
                           p.payload_len, (int64_t)a->height, (int64_t)closes);
}

int corio__ctr_vote(struct ctr_apply *a)
{
    struct corio_tx_vote v;
    if (corio_tx_vote_decode(a->tx->body.args, a->tx->body.args_len, &v) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed vote arguments");
    sqlite3_stmt *s;
    int rc = corio__ctr_query(a->db, &s, "SELECT status, closes FROM ctr_proposal WHERE id = ?",
                              "b", TX_ARG(v.proposal));
    if (rc == CORIO_ERR_NOTFOUND)
        return corio__ctr_refuse(a, "no such proposal");
    if (rc != CORIO_OK)
        return rc;
    int status = sqlite3_column_int(s, 0);
    uint64_t closes = (uint64_t)sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    if (status != CTR_OPEN || a->height >= closes)
        return corio__ctr_refuse(a, "the vote closed at height %llu", (unsigned long long)closes);
    /* Only member organisations vote, each by its own threshold. */
    if ((rc = corio__ctr_require_org(a, v.org, NULL)) != CORIO_OK)
        return rc;
    return corio__ctr_exec(a->db,
                           "INSERT INTO ctr_vote VALUES(?, ?, ?, ?) ON CONFLICT(proposal, org)"
                           " DO UPDATE SET choice = excluded.choice, height = excluded.height",
                           "bbii", TX_ARG(v.proposal), ID_ARG(v.org), (int64_t)v.choice,
                           (int64_t)a->height);
}

/* ---- the close ---------------------------------------------------------------------------- */

static int parameter_effect(sqlite3 *db, const uint8_t *payload, size_t len, char *reason,
                            size_t cap)
{
    struct corio_tx_proposal_payload p;
    if (corio_tx_payload_decode(CORIO_PROPOSAL_PARAMETER, payload, len, &p) != CORIO_OK ||
        !corio__ctr_param_valid(p.name, p.name_len, p.value)) {
        snprintf(reason, cap, "invalid parameter");
        return CORIO_ERR_POLICY;
    }
    int rc = corio__ctr_param_set(db, p.name, p.name_len, p.value);
    uint64_t period, lo, hi;
    if (rc == CORIO_OK && ((rc = corio__ctr_param(db, "vote.period", &period)) != CORIO_OK ||
                           (rc = corio__ctr_param(db, "vote.period_min", &lo)) != CORIO_OK ||
                           (rc = corio__ctr_param(db, "vote.period_max", &hi)) != CORIO_OK))
        return rc;
    if (rc == CORIO_OK && (period < lo || period > hi)) {
        snprintf(reason, cap, "vote.period must stay within [vote.period_min, vote.period_max]");
        return CORIO_ERR_POLICY;
    }
    return rc;
}

static int version_effect(sqlite3 *db, const uint8_t id[CORIO_TX_ID_LEN], const uint8_t *payload,
                          size_t len, char *reason, size_t cap)
{
    struct corio_tx_proposal_payload p;
    if (corio_tx_payload_decode(CORIO_PROPOSAL_VERSION, payload, len, &p) != CORIO_OK) {
        snprintf(reason, cap, "malformed version payload");
        return CORIO_ERR_POLICY;
    }
    int64_t newest;
    int rc = corio__ctr_int(db, &newest,
                            "SELECT coalesce(max(version), 1) FROM ctr_version WHERE contract = ?",
                            "t", p.name, p.name_len);
    if (rc != CORIO_OK)
        return rc;
    if (p.value <= (uint64_t)newest) {
        snprintf(reason, cap, "a version as new is already scheduled");
        return CORIO_ERR_POLICY;
    }
    return corio__ctr_exec(db, "INSERT INTO ctr_version VALUES(?, ?, ?, ?)", "tiib", p.name,
                           p.name_len, (int64_t)p.value, (int64_t)p.height, TX_ARG(id));
}

static int effect(sqlite3 *db, uint64_t height, const uint8_t id[CORIO_TX_ID_LEN], int kind,
                  const uint8_t *payload, size_t len, char *reason, size_t cap)
{
    switch (kind) {
    case CORIO_PROPOSAL_MEMBERSHIP:
        return corio__ctr_membership_effect(db, height, payload, len, reason, cap);
    case CORIO_PROPOSAL_RIGHTS:
        return corio__ctr_rights_effect(db, height, payload, len, reason, cap);
    case CORIO_PROPOSAL_PARAMETER:
        return parameter_effect(db, payload, len, reason, cap);
    case CORIO_PROPOSAL_VERSION:
        return version_effect(db, id, payload, len, reason, cap);
    default:
        return CORIO_OK;
    }
}

static int weight_of(sqlite3 *db, const uint8_t id[CORIO_TX_ID_LEN], int choice, int64_t *w)
{
    return corio__ctr_int(db, w,
                          "SELECT coalesce(sum(o.weight), 0) FROM ctr_vote v JOIN ctr_org o"
                          " ON o.id = v.org WHERE v.proposal = ? AND v.choice = ? AND o.active = 1",
                          "bi", TX_ARG(id), (int64_t)choice);
}

/* Tallies and closes one proposal. */
static int close_one(sqlite3 *db, uint64_t height, const uint8_t id[CORIO_TX_ID_LEN], int kind,
                     const uint8_t *payload, size_t len)
{
    int64_t yes, no, abstain, total;
    uint64_t quorum, threshold, version;
    int rc;
    if ((rc = weight_of(db, id, CORIO_VOTE_YES, &yes)) != CORIO_OK ||
        (rc = weight_of(db, id, CORIO_VOTE_NO, &no)) != CORIO_OK ||
        (rc = weight_of(db, id, CORIO_VOTE_ABSTAIN, &abstain)) != CORIO_OK ||
        (rc = corio__ctr_int(db, &total,
                             "SELECT coalesce(sum(weight), 0) FROM ctr_org WHERE active = 1",
                             "")) != CORIO_OK ||
        (rc = corio__ctr_param(db, "vote.quorum", &quorum)) != CORIO_OK ||
        (rc = corio__ctr_param(db, "vote.threshold", &threshold)) != CORIO_OK ||
        (rc = corio__ctr_version(db, "vote", height, &version)) != CORIO_OK)
        return rc;
    int status;
    char result[CORIO_BLOCK_MAX_REASON] = "";
    bool quorate = (uint64_t)(yes + no + abstain) * 100 >= quorum * (uint64_t)total;
    bool pass = version >= 2 ? yes > 0 && (uint64_t)yes * 100 >= threshold * (uint64_t)(yes + no)
                             : (uint64_t)yes * 100 > threshold * (uint64_t)(yes + no);
    if (!quorate) {
        status = CTR_NO_QUORUM;
        snprintf(result, sizeof result, "no quorum");
    } else if (!pass) {
        status = CTR_REJECTED;
        snprintf(result, sizeof result, "rejected");
    } else {
        /* Its effect in a savepoint: a change that no longer fits the state (the node
         * id was taken meanwhile) leaves nothing half done. */
        if ((rc = corio__ctr_exec(db, "SAVEPOINT ctr_effect", "")) != CORIO_OK)
            return rc;
        rc = effect(db, height, id, kind, payload, len, result, sizeof result);
        if (rc == CORIO_OK) {
            status = CTR_PASSED;
            snprintf(result, sizeof result, "passed");
            rc = corio__ctr_exec(db, "RELEASE ctr_effect", "");
        } else if (rc == CORIO_ERR_POLICY) {
            status = CTR_FAILED;
            rc = corio__ctr_exec(db, "ROLLBACK TO ctr_effect", "");
            if (rc == CORIO_OK)
                rc = corio__ctr_exec(db, "RELEASE ctr_effect", "");
        } else {
            return rc;
        }
        if (rc != CORIO_OK)
            return rc;
    }
    return corio__ctr_exec(db,
                           "UPDATE ctr_proposal SET status = ?, yes = ?, no = ?, abstain = ?,"
                           " total = ?, version = ?, result = ? WHERE id = ?",
                           "iiiiiizb", (int64_t)status, yes, no, abstain, total, (int64_t)version,
                           result, TX_ARG(id));
}

int corio__ctr_close_proposals(sqlite3 *db, uint64_t height, const struct ctr_ctx *ctx)
{
    (void)ctx;
    for (;;) {
        /* One at a time, in (closing height, id) order: an effect may change what the
         * next tally counts (an organisation removed), identically on every node. */
        sqlite3_stmt *s;
        int rc = corio__ctr_query(db, &s,
                                  "SELECT id, kind, payload FROM ctr_proposal WHERE status = 0"
                                  " AND closes <= ? ORDER BY closes, id LIMIT 1",
                                  "i", (int64_t)height);
        if (rc == CORIO_ERR_NOTFOUND)
            return CORIO_OK;
        if (rc != CORIO_OK)
            return rc;
        uint8_t id[CORIO_TX_ID_LEN];
        int kind = sqlite3_column_int(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 2);
        uint8_t *payload = malloc(len ? len : 1);
        if (!payload || sqlite3_column_bytes(s, 0) != CORIO_TX_ID_LEN) {
            free(payload);
            sqlite3_finalize(s);
            return payload ? CORIO_ERR_IO : CORIO_ERR_NOSPACE;
        }
        memcpy(id, sqlite3_column_blob(s, 0), CORIO_TX_ID_LEN);
        if (len)
            memcpy(payload, sqlite3_column_blob(s, 2), len);
        sqlite3_finalize(s);
        rc = close_one(db, height, id, kind, payload, len);
        free(payload);
        if (rc != CORIO_OK)
            return rc;
    }
}
