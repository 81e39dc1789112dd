/*
 * contract_release.c - firmware releases: an organisation that holds the right for a
 * device class proposes a release (the digest of its manifest, and a version); the
 * release is approved once k of the n approver organisations have signed it (k is the
 * parameter release.k, n the active organisations marked approver; both change only by
 * vote). The proposer's own signature counts as its approval when it is an approver.
 * Approved releases are what gateways accept as running firmware (the registry export).
 */
#include <stdio.h>
#include <string.h>

#include "contracts.h"
#include "corio/error.h"

#define ID_ARG(x) (x), (size_t)CORIO_DID_ID_LEN
#define TX_ARG(x) (x), (size_t)CORIO_TX_ID_LEN

/* Records org's approval of release id and approves the release when enough active
 * approvers have signed. */
static int approve(struct ctr_apply *a, const uint8_t id[CORIO_TX_ID_LEN],
                   const uint8_t org[CORIO_DID_ID_LEN])
{
    int rc = corio__ctr_exec(a->db, "INSERT INTO ctr_approval VALUES(?, ?, ?)", "bbi", TX_ARG(id),
                             ID_ARG(org), (int64_t)a->height);
    int64_t n;
    uint64_t k;
    if (rc == CORIO_OK)
        rc = corio__ctr_int(a->db, &n,
                            "SELECT count(*) FROM ctr_approval p JOIN ctr_org o ON o.id = p.org"
                            " WHERE p.release = ? AND o.active = 1 AND o.approver = 1",
                            "b", TX_ARG(id));
    if (rc == CORIO_OK)
        rc = corio__ctr_param(a->db, "release.k", &k);
    if (rc == CORIO_OK && (uint64_t)n >= k)
        rc = corio__ctr_exec(a->db, "UPDATE ctr_release SET status = 1, approved = ? WHERE id = ?",
                             "ib", (int64_t)a->height, TX_ARG(id));
    return rc;
}

int corio__ctr_release_propose(struct ctr_apply *a)
{
    struct corio_tx_release r;
    char did[CORIO_DID_BUF];
    if (corio_tx_release_decode(CORIO_TX_RELEASE_PROPOSE, a->tx->body.args, a->tx->body.args_len,
                                &r) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed release arguments");
    int rc = corio__ctr_require_org(a, r.org, NULL);
    if (rc != CORIO_OK)
        return rc;
    int64_t n;
    rc = corio__ctr_int(a->db, &n, "SELECT count(*) FROM ctr_right WHERE org = ? AND class = ?",
                        "bt", ID_ARG(r.org), r.class_, r.class_len);
    if (rc != CORIO_OK)
        return rc;
    if (!n)
        return corio__ctr_refuse(a, "%s holds no right to release firmware for class %.*s",
                                 corio__ctr_did_str(r.org, did), (int)r.class_len, r.class_);
    rc = corio__ctr_int(a->db, &n, "SELECT count(*) FROM ctr_release WHERE class = ? AND digest = ?",
                        "tb", r.class_, r.class_len, r.digest, (size_t)32);
    if (rc != CORIO_OK)
        return rc;
    if (n)
        return corio__ctr_refuse(a, "this manifest was already proposed for class %.*s",
                                 (int)r.class_len, r.class_);
    rc = corio__ctr_exec(a->db, "INSERT INTO ctr_release VALUES(?, ?, ?, ?, ?, ?, 0, NULL)",
                         "bbtbti", TX_ARG(a->id), ID_ARG(r.org), r.class_, r.class_len, r.digest,
                         (size_t)32, r.version, r.version_len, (int64_t)a->height);
    struct ctr_org o;
    if (rc == CORIO_OK)
        rc = corio__ctr_org(a->db, r.org, &o);
    if (rc == CORIO_OK && o.approver)
        rc = approve(a, a->id, r.org);
    return rc;
}

int corio__ctr_release_approve(struct ctr_apply *a)
{
    struct corio_tx_release r;
    char did[CORIO_DID_BUF];
    if (corio_tx_release_decode(CORIO_TX_RELEASE_APPROVE, a->tx->body.args, a->tx->body.args_len,
                                &r) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed release arguments");
    int64_t status;
    int rc = corio__ctr_int(a->db, &status, "SELECT status FROM ctr_release WHERE id = ?", "b",
                            TX_ARG(r.release));
    if (rc == CORIO_ERR_NOTFOUND)
        return corio__ctr_refuse(a, "no such release");
    if (rc != CORIO_OK)
        return rc;
    if (status != 0)
        return corio__ctr_refuse(a, "the release is already approved");
    struct ctr_org o;
    rc = corio__ctr_org(a->db, r.org, &o);
    if (rc == CORIO_OK && o.active && !o.approver)
        return corio__ctr_refuse(a, "%s is not a release approver", corio__ctr_did_str(r.org, did));
    if (rc != CORIO_OK && rc != CORIO_ERR_NOTFOUND)
        return rc;
    if ((rc = corio__ctr_require_org(a, r.org, NULL)) != CORIO_OK)
        return rc;
    int64_t n;
    rc = corio__ctr_int(a->db, &n, "SELECT count(*) FROM ctr_approval WHERE release = ? AND org = ?",
                        "bb", TX_ARG(r.release), ID_ARG(r.org));
    if (rc != CORIO_OK)
        return rc;
    if (n)
        return corio__ctr_refuse(a, "%s already approved this release",
                                 corio__ctr_did_str(r.org, did));
    return approve(a, r.release, r.org);
}
