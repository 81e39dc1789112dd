/*
 * contract_org.c - the organisations contract: the genesis that founds the ledger's
 * organisations, members (people) of an organisation admitted and removed by its own
 * threshold, and organisations admitted, changed and removed by vote (the membership
 * proposals' validation and effect). Admitting or removing an organisation changes the
 * ledger's members (contracts.c's members callback reads ctr_org), so consensus
 * membership follows these rules.
 */
#include <stdio.h>
#include <string.h>

#include "contracts.h"
#include "corio/error.h"

#define ID_ARG(x) (x), (size_t)CORIO_DID_ID_LEN

static int insert_org(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN],
                      const struct corio_tx_org *o, uint64_t height)
{
    int rc = corio__ctr_identity_create(db, id, CTR_ORG, id, o->key, height);
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(db, "INSERT INTO ctr_org VALUES(?, ?, ?, ?, ?, ?, ?, ?, 1, ?, NULL)",
                             "btiiiitti", ID_ARG(id), o->name, o->name_len,
                             (int64_t)(o->has_weight ? o->weight : 1),
                             (int64_t)(o->has_threshold ? o->threshold : 1),
                             (int64_t)(o->has_approver && o->approver), (int64_t)o->node,
                             o->address, o->address_len, o->has_api ? o->api : "",
                             o->has_api ? o->api_len : 0, (int64_t)height);
    return rc;
}

static int insert_person(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN],
                         const uint8_t org[CORIO_DID_ID_LEN], const uint8_t key[CORIO_TX_KEY_LEN],
                         uint64_t weight, uint64_t height)
{
    int rc = corio__ctr_identity_create(db, id, CTR_PERSON, org, key, height);
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(db, "INSERT INTO ctr_person VALUES(?, ?, ?, 1, ?)", "bbii", ID_ARG(id),
                             ID_ARG(org), (int64_t)weight, (int64_t)height);
    return rc;
}

/* Whether an active organisation other than except already uses the node id or the
 * address: 1 yes, 0 no, or a failure. */
static int node_taken(sqlite3 *db, uint64_t node, const char *addr, size_t alen,
                      const uint8_t *except)
{
    int64_t n;
    static const uint8_t none[CORIO_DID_ID_LEN];
    int rc = corio__ctr_int(db, &n,
                            "SELECT count(*) FROM ctr_org WHERE active = 1 AND id != ?"
                            " AND (node = ? OR address = ?)",
                            "bit", ID_ARG(except ? except : none), (int64_t)node, addr, alen);
    return rc == CORIO_OK ? n > 0 : rc;
}

/* ---- genesis ------------------------------------------------------------------------------ */

int corio__ctr_genesis(struct ctr_apply *a)
{
    struct corio_tx_genesis g;
    if (corio_tx_genesis_decode(a->tx->body.args, a->tx->body.args_len, &g) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed genesis arguments");
    uint8_t ids[CORIO_TX_MAX_ORGS][CORIO_DID_ID_LEN];
    struct corio_tx_org orgs[CORIO_TX_MAX_ORGS];
    size_t n = 0, pos = 0, il;
    const uint8_t *item;
    char did[CORIO_DID_BUF];
    int rc;
    while ((rc = corio_tx_item_next(g.orgs, g.orgs_len, &pos, &item, &il)) == 1) {
        struct corio_tx_org *o = &orgs[n];
        if (n == CORIO_TX_MAX_ORGS || corio_tx_org_decode(item, il, o) != CORIO_OK)
            return corio__ctr_refuse(a, "malformed genesis organisation");
        if (!o->has_key || !o->has_name || !o->has_node || !o->has_address)
            return corio__ctr_refuse(a, "a founding organisation needs a key, a name, a node id"
                                        " and a node address");
        if (corio__ctr_did_of(o->key, ids[n]) != CORIO_OK)
            return corio__ctr_refuse(a, "a founding organisation's key is not a P-256 point");
        for (size_t j = 0; j < n; j++) {
            if (!memcmp(ids[j], ids[n], CORIO_DID_ID_LEN))
                return corio__ctr_refuse(a, "%s is founded twice",
                                         corio__ctr_did_str(ids[n], did));
            if (orgs[j].node == o->node ||
                (orgs[j].address_len == o->address_len &&
                 !memcmp(orgs[j].address, o->address, o->address_len)))
                return corio__ctr_refuse(a, "two founding organisations share a node id or"
                                            " address");
        }
        if (corio_tx_signed_by(a->tx, ids[n]) < 0)
            return corio__ctr_refuse(a, "founding organisation %s did not sign the genesis",
                                     corio__ctr_did_str(ids[n], did));
        n++;
    }
    if (rc < 0 || n == 0)
        return corio__ctr_refuse(a, "the genesis founds no organisation");
    if (a->tx->nsig != n)
        return corio__ctr_refuse(a, "only the founding organisations sign the genesis");
    if (g.has_params) {
        const char *name;
        size_t nl;
        uint64_t v;
        pos = 0;
        while ((rc = corio_tx_param_next(g.params, g.params_len, &pos, &name, &nl, &v)) == 1) {
            if (!corio__ctr_param_valid(name, nl, v))
                return corio__ctr_refuse(a, "parameter %.*s: unknown, or %llu is out of its range",
                                         (int)nl, name, (unsigned long long)v);
            if ((rc = corio__ctr_param_set(a->db, name, nl, v)) != CORIO_OK)
                return rc;
        }
    }
    rc = corio__ctr_exec(a->db, "INSERT INTO ctr_meta VALUES('genesis', ?), ('name', ?)", "bt",
                         a->id, (size_t)CORIO_TX_ID_LEN, g.name, g.name_len);
    for (size_t i = 0; rc == CORIO_OK && i < n; i++) {
        rc = insert_org(a->db, ids[i], &orgs[i], a->height);
        if (rc != CORIO_OK || !orgs[i].has_members)
            continue;
        size_t mp = 0;
        uint8_t key[CORIO_TX_KEY_LEN], pid[CORIO_DID_ID_LEN];
        uint64_t w;
        int r;
        while (rc == CORIO_OK &&
               (r = corio_tx_member_next(orgs[i].members, orgs[i].members_len, &mp, key, &w)) ==
                   1) {
            if (corio__ctr_did_of(key, pid) != CORIO_OK)
                return corio__ctr_refuse(a, "a founding member's key is not a P-256 point");
            struct ctr_identity idt;
            r = corio__ctr_identity(a->db, pid, &idt);
            if (r == CORIO_OK)
                return corio__ctr_refuse(a, "%s is named twice in the genesis",
                                         corio__ctr_did_str(pid, did));
            if (r != CORIO_ERR_NOTFOUND)
                return r;
            rc = insert_person(a->db, pid, ids[i], key, w, a->height);
        }
    }
    /* A member key equal to a founding organisation's key would name the same DID:
     * caught above only if the organisation came first, so check the other way too. */
    for (size_t i = 0; rc == CORIO_OK && i < n; i++) {
        int64_t c;
        rc = corio__ctr_int(a->db, &c, "SELECT count(*) FROM ctr_person WHERE id = ?", "b",
                            ID_ARG(ids[i]));
        if (rc == CORIO_OK && c)
            return corio__ctr_refuse(a, "%s is named twice in the genesis",
                                     corio__ctr_did_str(ids[i], did));
    }
    return rc;
}

/* ---- members (people) -------------------------------------------------------------------------- */

int corio__ctr_member_add(struct ctr_apply *a)
{
    struct corio_tx_member m;
    char did[CORIO_DID_BUF];
    if (corio_tx_member_decode(CORIO_TX_MEMBER_ADD, a->tx->body.args, a->tx->body.args_len, &m))
        return corio__ctr_refuse(a, "malformed member arguments");
    uint8_t pid[CORIO_DID_ID_LEN];
    if (corio__ctr_did_of(m.key, pid) != CORIO_OK)
        return corio__ctr_refuse(a, "the member's key is not a P-256 point");
    struct ctr_identity idt;
    int rc = corio__ctr_identity(a->db, pid, &idt);
    if (rc == CORIO_OK)
        return corio__ctr_refuse(a, "%s already exists", corio__ctr_did_str(pid, did));
    if (rc != CORIO_ERR_NOTFOUND)
        return rc;
    if (corio_tx_signed_by(a->tx, pid) < 0)
        return corio__ctr_refuse(a, "the new member %s did not sign with its key 0",
                                 corio__ctr_did_str(pid, did));
    if ((rc = corio__ctr_require_org(a, m.org, NULL)) != CORIO_OK)
        return rc;
    return insert_person(a->db, pid, m.org, m.key, m.weight, a->height);
}

int corio__ctr_member_remove(struct ctr_apply *a)
{
    struct corio_tx_member m;
    char did[CORIO_DID_BUF], odid[CORIO_DID_BUF];
    if (corio_tx_member_decode(CORIO_TX_MEMBER_REMOVE, a->tx->body.args, a->tx->body.args_len,
                               &m))
        return corio__ctr_refuse(a, "malformed member arguments");
    int64_t n;
    int rc = corio__ctr_int(a->db, &n,
                            "SELECT count(*) FROM ctr_person WHERE id = ? AND org = ? AND active = 1",
                            "bb", ID_ARG(m.person), ID_ARG(m.org));
    if (rc != CORIO_OK)
        return rc;
    if (!n)
        return corio__ctr_refuse(a, "%s is not a member of %s", corio__ctr_did_str(m.person, did),
                                 corio__ctr_did_str(m.org, odid));
    if ((rc = corio__ctr_require_org(a, m.org, NULL)) != CORIO_OK)
        return rc;
    rc = corio__ctr_exec(a->db, "UPDATE ctr_person SET active = 0 WHERE id = ?", "b",
                         ID_ARG(m.person));
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(a->db, "UPDATE ctr_identity SET active = 0 WHERE id = ?", "b",
                             ID_ARG(m.person));
    return rc;
}

/* ---- membership proposals ------------------------------------------------------------------------ */

/* The rules of a membership change, when proposed and again when it passes (the state
 * may have changed in between). Writes a reason and returns CORIO_ERR_POLICY when it
 * cannot happen. */
static int membership_valid(sqlite3 *db, const struct corio_tx_proposal_payload *p,
                            struct corio_tx_org *o, uint8_t id[CORIO_DID_ID_LEN], char *reason,
                            size_t cap)
{
    char did[CORIO_DID_BUF];
    int rc;
    memset(o, 0, sizeof *o);
    if (p->has_org && corio_tx_org_decode(p->org, p->org_len, o) != CORIO_OK) {
        snprintf(reason, cap, "malformed organisation");
        return CORIO_ERR_POLICY;
    }
    if (o->has_members) {
        snprintf(reason, cap, "people join an organisation with member.add, not by vote");
        return CORIO_ERR_POLICY;
    }
    if (p->action == CORIO_MEMBERSHIP_ADMIT) {
        if (!o->has_name || !o->has_node || !o->has_address) {
            snprintf(reason, cap, "an admission names the organisation, its node id and its"
                                  " node address");
            return CORIO_ERR_POLICY;
        }
        if (corio__ctr_did_of(o->key, id) != CORIO_OK) {
            snprintf(reason, cap, "the organisation's key is not a P-256 point");
            return CORIO_ERR_POLICY;
        }
        struct ctr_identity idt;
        rc = corio__ctr_identity(db, id, &idt);
        if (rc == CORIO_OK) {
            snprintf(reason, cap, "%s already exists", corio__ctr_did_str(id, did));
            return CORIO_ERR_POLICY;
        }
        if (rc != CORIO_ERR_NOTFOUND)
            return rc;
    } else {
        memcpy(id, p->target, CORIO_DID_ID_LEN);
        struct ctr_org org;
        rc = corio__ctr_org(db, id, &org);
        if (rc == CORIO_ERR_NOTFOUND || (rc == CORIO_OK && !org.active)) {
            snprintf(reason, cap, "%s is not a member organisation", corio__ctr_did_str(id, did));
            return CORIO_ERR_POLICY;
        }
        if (rc != CORIO_OK)
            return rc;
        if (p->action == CORIO_MEMBERSHIP_REMOVE) {
            int64_t n;
            rc = corio__ctr_int(db, &n, "SELECT count(*) FROM ctr_org WHERE active = 1", "");
            if (rc != CORIO_OK)
                return rc;
            if (n < 2) {
                snprintf(reason, cap, "the last organisation cannot be removed");
                return CORIO_ERR_POLICY;
            }
            return CORIO_OK;
        }
        if (o->has_node != o->has_address) {
            snprintf(reason, cap, "a node changes its id and address together");
            return CORIO_ERR_POLICY;
        }
    }
    if (o->has_node) {
        rc = node_taken(db, o->node, o->address, o->address_len, id);
        if (rc < 0)
            return rc;
        if (rc) {
            snprintf(reason, cap, "node %llu or its address is already another organisation's",
                     (unsigned long long)o->node);
            return CORIO_ERR_POLICY;
        }
    }
    return CORIO_OK;
}

int corio__ctr_membership_check(struct ctr_apply *a, const struct corio_tx_proposal_payload *p)
{
    struct corio_tx_org o;
    uint8_t id[CORIO_DID_ID_LEN];
    char did[CORIO_DID_BUF];
    int rc = membership_valid(a->db, p, &o, id, a->reason, a->cap);
    if (rc != CORIO_OK)
        return rc;
    if (p->action == CORIO_MEMBERSHIP_ADMIT && corio_tx_signed_by(a->tx, id) < 0)
        return corio__ctr_refuse(a, "the organisation to admit, %s, did not sign with its key 0",
                                 corio__ctr_did_str(id, did));
    return CORIO_OK;
}

int corio__ctr_membership_effect(sqlite3 *db, uint64_t height, const uint8_t *payload, size_t len,
                                 char *reason, size_t cap)
{
    struct corio_tx_proposal_payload p;
    struct corio_tx_org o;
    uint8_t id[CORIO_DID_ID_LEN];
    if (corio_tx_payload_decode(CORIO_PROPOSAL_MEMBERSHIP, payload, len, &p) != CORIO_OK) {
        snprintf(reason, cap, "malformed membership payload");
        return CORIO_ERR_POLICY;
    }
    int rc = membership_valid(db, &p, &o, id, reason, cap);
    if (rc != CORIO_OK)
        return rc;
    switch (p.action) {
    case CORIO_MEMBERSHIP_ADMIT:
        return insert_org(db, id, &o, height);
    case CORIO_MEMBERSHIP_REMOVE:
        rc = corio__ctr_exec(db, "UPDATE ctr_org SET active = 0, removed = ? WHERE id = ?", "ib",
                             (int64_t)height, ID_ARG(id));
        if (rc == CORIO_OK)
            rc = corio__ctr_exec(db, "UPDATE ctr_identity SET active = 0 WHERE id = ?", "b",
                                 ID_ARG(id));
        if (rc == CORIO_OK)
            rc = corio__ctr_exec(db, "DELETE FROM ctr_right WHERE org = ?", "b", ID_ARG(id));
        return rc;
    default:
        break;
    }
    rc = CORIO_OK;
    if (o.has_name)
        rc = corio__ctr_exec(db, "UPDATE ctr_org SET name = ? WHERE id = ?", "tb", o.name,
                             o.name_len, ID_ARG(id));
    if (rc == CORIO_OK && o.has_weight)
        rc = corio__ctr_exec(db, "UPDATE ctr_org SET weight = ? WHERE id = ?", "ib",
                             (int64_t)o.weight, ID_ARG(id));
    if (rc == CORIO_OK && o.has_threshold)
        rc = corio__ctr_exec(db, "UPDATE ctr_org SET threshold = ? WHERE id = ?", "ib",
                             (int64_t)o.threshold, ID_ARG(id));
    if (rc == CORIO_OK && o.has_approver)
        rc = corio__ctr_exec(db, "UPDATE ctr_org SET approver = ? WHERE id = ?", "ib",
                             (int64_t)o.approver, ID_ARG(id));
    if (rc == CORIO_OK && o.has_node)
        rc = corio__ctr_exec(db, "UPDATE ctr_org SET node = ?, address = ? WHERE id = ?", "itb",
                             (int64_t)o.node, o.address, o.address_len, ID_ARG(id));
    if (rc == CORIO_OK && o.has_api)
        rc = corio__ctr_exec(db, "UPDATE ctr_org SET api = ? WHERE id = ?", "tb", o.api,
                             o.api_len, ID_ARG(id));
    return rc;
}
