/*
 * contract_rights.c - the rights contract: which organisation may release firmware for
 * which device class. Rights are granted and withdrawn only by vote (a rights
 * proposal); this file checks such a proposal when it is made and applies it when it
 * passes. The releases contract reads ctr_right.
 */
#include <stdio.h>
#include <string.h>

#include "contracts.h"
#include "corio/error.h"

#define ID_ARG(x) (x), (size_t)CORIO_DID_ID_LEN

/* The rule, when proposed and again when it passes. */
static int rights_valid(sqlite3 *db, const struct corio_tx_proposal_payload *p, char *reason,
                        size_t cap)
{
    char did[CORIO_DID_BUF];
    struct ctr_org o;
    int rc = corio__ctr_org(db, p->right_org, &o);
    if (rc == CORIO_ERR_NOTFOUND || (rc == CORIO_OK && !o.active)) {
        snprintf(reason, cap, "%s is not a member organisation",
                 corio__ctr_did_str(p->right_org, did));
        return CORIO_ERR_POLICY;
    }
    if (rc != CORIO_OK)
        return rc;
    int64_t n;
    rc = corio__ctr_int(db, &n, "SELECT count(*) FROM ctr_right WHERE org = ? AND class = ?", "bt",
                        ID_ARG(p->right_org), p->class_, p->class_len);
    if (rc != CORIO_OK)
        return rc;
    if (p->grant && n) {
        snprintf(reason, cap, "%s already holds the right for class %.*s", did, (int)p->class_len,
                 p->class_);
        return CORIO_ERR_POLICY;
    }
    if (!p->grant && !n) {
        snprintf(reason, cap, "%s holds no right for class %.*s", did, (int)p->class_len,
                 p->class_);
        return CORIO_ERR_POLICY;
    }
    return CORIO_OK;
}

int corio__ctr_rights_check(struct ctr_apply *a, const struct corio_tx_proposal_payload *p)
{
    return rights_valid(a->db, p, a->reason, a->cap);
}

int corio__ctr_rights_effect(sqlite3 *db, uint64_t height, const uint8_t *payload, size_t len,
                             char *reason, size_t cap)
{
    struct corio_tx_proposal_payload p;
    if (corio_tx_payload_decode(CORIO_PROPOSAL_RIGHTS, payload, len, &p) != CORIO_OK) {
        snprintf(reason, cap, "malformed rights payload");
        return CORIO_ERR_POLICY;
    }
    int rc = rights_valid(db, &p, reason, cap);
    if (rc != CORIO_OK)
        return rc;
    if (p.grant)
        return corio__ctr_exec(db, "INSERT INTO ctr_right VALUES(?, ?, ?)", "bti",
                               ID_ARG(p.right_org), p.class_, p.class_len, (int64_t)height);
    return corio__ctr_exec(db, "DELETE FROM ctr_right WHERE org = ? AND class = ?", "bt",
                           ID_ARG(p.right_org), p.class_, p.class_len);
}
