/*
 * contract_identity.c - the identities contract: key rotation (DESIGN.md §3). An
 * identity's key 0 is its inception key, recorded when the identity is created (the
 * genesis, an admission, member.add, device.register); key k+1 comes with a rotation
 * link of include/corio/rotation.h, signed by the identity's current key k AND by its
 * owner organisation to the organisation's threshold (for an organisation rotating its
 * own key: by its members, since its own key is the one rotating). Every key an
 * identity ever had stays in ctr_key, so the DID document shows the history.
 */
#include <stdio.h>
#include <string.h>

#include "contracts.h"
#include "corio/error.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"

#define ID_ARG(x) (x), (size_t)CORIO_DID_ID_LEN
#define AAD       (const uint8_t *)CORIO_ROTATION_AAD, sizeof CORIO_ROTATION_AAD - 1

int corio__ctr_did_rotate(struct ctr_apply *a)
{
    struct corio_tx_rotate r;
    struct corio_rotation_statement st;
    struct corio_cose_sign m;
    char did[CORIO_DID_BUF], sdid[CORIO_DID_BUF];
    if (corio_tx_rotate_decode(a->tx->body.args, a->tx->body.args_len, &r) != CORIO_OK ||
        corio_rotation_link_decode(r.link, r.link_len, &st) != CORIO_OK ||
        corio_cose_sign_decode(r.link, r.link_len, &m) != CORIO_OK)
        return corio__ctr_refuse(a, "not a rotation link");
    corio__ctr_did_str(st.subject, sdid);
    struct ctr_identity subj;
    int rc = corio__ctr_identity(a->db, st.subject, &subj);
    if (rc == CORIO_ERR_NOTFOUND)
        return corio__ctr_refuse(a, "%s does not exist", sdid);
    if (rc != CORIO_OK)
        return rc;
    if (!subj.active)
        return corio__ctr_refuse(a, "%s is deactivated", sdid);
    if (memcmp(st.org, subj.org, CORIO_DID_ID_LEN))
        return corio__ctr_refuse(a, "the link names %s, not the owner organisation of %s",
                                 corio__ctr_did_str(st.org, did), sdid);
    if (st.key_number != subj.key_number + 1)
        return corio__ctr_refuse(a, "key number %u: the next key of %s is %u",
                                 (unsigned)st.key_number, sdid, (unsigned)subj.key_number + 1);
    uint8_t ignored[CORIO_DID_ID_LEN];
    if (corio__ctr_did_of(st.new_key, ignored) != CORIO_OK)
        return corio__ctr_refuse(a, "the new key is not a P-256 point");
    int64_t n;
    if ((rc = corio__ctr_int(a->db, &n, "SELECT count(*) FROM ctr_key WHERE key = ?", "b",
                             st.new_key, (size_t)CORIO_TX_KEY_LEN)) != CORIO_OK)
        return rc;
    if (n)
        return corio__ctr_refuse(a, "the new key was already used (by %s or another identity)",
                                 sdid);

    struct ctr_org org;
    if ((rc = corio__ctr_org(a->db, st.org, &org)) != CORIO_OK)
        return rc == CORIO_ERR_NOTFOUND ? corio__ctr_refuse(a, "no owner organisation") : rc;
    if (!org.active)
        return corio__ctr_refuse(a, "the owner organisation is not a member organisation");
    bool by_subject = false;
    uint64_t weight = 0;
    for (size_t i = 0; i < m.count; i++) {
        struct corio_cose_signature s;
        struct corio_did kid;
        if (corio_cose_sign_signature(&m, i, &s) != CORIO_OK || !s.kid ||
            corio_did_parse((const char *)s.kid, s.kid_len, &kid) != CORIO_OK || !kid.has_key)
            return corio__ctr_refuse(a, "a link signature's kid is not a did:corio key");
        corio__ctr_did_str(kid.id, did);
        bool subject = !memcmp(kid.id, st.subject, CORIO_DID_ID_LEN);
        struct ctr_identity who;
        if (subject) {
            if (by_subject)
                return corio__ctr_refuse(a, "the subject signed the link twice");
            who = subj;
        } else {
            rc = corio__ctr_identity(a->db, kid.id, &who);
            if (rc == CORIO_ERR_NOTFOUND)
                return corio__ctr_refuse(a, "unknown link signer %s", did);
            if (rc != CORIO_OK)
                return rc;
            if (!who.active)
                return corio__ctr_refuse(a, "link signer %s is deactivated", did);
        }
        if (kid.key != who.key_number)
            return corio__ctr_refuse(a, "%s signed the link with key %u, not its current key %u",
                                     did, (unsigned)kid.key, (unsigned)who.key_number);
        rc = corio_cose_sign_verify(&corio_crypto_openssl_ops, &m, &s, who.key, CORIO_TX_KEY_LEN,
                                    AAD, NULL, 0);
        if (rc == CORIO_ERR_BADSIG)
            return corio__ctr_refuse(a, "the link signature of %s does not verify", did);
        if (rc != CORIO_OK)
            return rc;
        if (subject) {
            by_subject = true;
            continue;
        }
        /* Endorsers: the organisation's key (its whole threshold) or its members. */
        if (who.kind == CTR_ORG && !memcmp(kid.id, st.org, CORIO_DID_ID_LEN)) {
            weight += org.threshold;
        } else if (who.kind == CTR_PERSON && !memcmp(who.org, st.org, CORIO_DID_ID_LEN)) {
            int64_t w;
            rc = corio__ctr_int(a->db, &w, "SELECT weight FROM ctr_person WHERE id = ?", "b",
                                ID_ARG(kid.id));
            if (rc != CORIO_OK)
                return rc;
            weight += (uint64_t)w;
        } else {
            return corio__ctr_refuse(a, "%s does not sign for the owner organisation", did);
        }
    }
    if (!by_subject)
        return corio__ctr_refuse(a, "the link is not signed by the current key of %s", sdid);
    if (weight < org.threshold)
        return corio__ctr_refuse(a,
                                 "the owner organisation's endorsement weighs %llu of the %llu it"
                                 " needs",
                                 (unsigned long long)weight, (unsigned long long)org.threshold);
    rc = corio__ctr_exec(a->db, "INSERT INTO ctr_key VALUES(?, ?, ?, ?)", "bibi",
                         ID_ARG(st.subject), (int64_t)st.key_number, st.new_key,
                         (size_t)CORIO_TX_KEY_LEN, (int64_t)a->height);
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(a->db, "UPDATE ctr_identity SET key_number = ? WHERE id = ?", "ib",
                             (int64_t)st.key_number, ID_ARG(st.subject));
    return rc;
}
