/*
 * contract_device.c - the device registry: register (the claim of DESIGN.md §3),
 * transfer between organisations, revoke. Gateways are registered the same way, with
 * kind "gateway", so the registry export (api_views.c) lists both.
 *
 * The claim: the owner organisation signs (its threshold), and carries the device's
 * EAT, signed by the device's key 0, with aud = the claiming organisation's short id
 * and a 32-byte nonce. The device signs such a token only for a nonce equal to
 * H(secret ‖ claimant) over the secret printed with it (docs/ledger-contracts.md,
 * "Onboarding"), so a gateway that merely sees the device cannot make a claim; the
 * ledger cannot recompute the nonce (it never learns the secret) and checks everything
 * else: the signature, the issuer, the audience, the nonce's presence and size, and
 * that the token's assurance equals the record's.
 */
#include <stdio.h>
#include <string.h>

#include "contracts.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "crypto_openssl.h"

#define ID_ARG(x) (x), (size_t)CORIO_DID_ID_LEN
#define CLAIM_NONCE_LEN 32

struct device_row {
    uint8_t org[CORIO_DID_ID_LEN];
    int kind;
    bool revoked;
};

static int device_get(struct ctr_apply *a, const uint8_t id[CORIO_DID_ID_LEN],
                      struct device_row *d)
{
    char did[CORIO_DID_BUF];
    sqlite3_stmt *s;
    int rc = corio__ctr_query(a->db, &s, "SELECT org, kind, revoked FROM ctr_device WHERE id = ?",
                              "b", ID_ARG(id));
    if (rc == CORIO_ERR_NOTFOUND)
        return corio__ctr_refuse(a, "%s is not a registered device", corio__ctr_did_str(id, did));
    if (rc != CORIO_OK)
        return rc;
    if (sqlite3_column_bytes(s, 0) != CORIO_DID_ID_LEN) {
        sqlite3_finalize(s);
        return CORIO_ERR_IO;
    }
    memcpy(d->org, sqlite3_column_blob(s, 0), CORIO_DID_ID_LEN);
    d->kind = sqlite3_column_int(s, 1);
    d->revoked = sqlite3_column_int(s, 2) != 0;
    sqlite3_finalize(s);
    if (d->revoked)
        return corio__ctr_refuse(a, "%s is revoked", corio__ctr_did_str(id, did));
    return CORIO_OK;
}

int corio__ctr_device_register(struct ctr_apply *a)
{
    struct corio_tx_device_register r;
    char did[CORIO_DID_BUF], odid[CORIO_DID_BUF];
    if (corio_tx_device_register_decode(a->tx->body.args, a->tx->body.args_len, &r) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed device registration arguments");
    uint8_t id[CORIO_DID_ID_LEN];
    if (corio__ctr_did_of(r.key, id) != CORIO_OK)
        return corio__ctr_refuse(a, "the device key is not a P-256 point");
    corio__ctr_did_str(id, did);
    struct ctr_identity idt;
    int rc = corio__ctr_identity(a->db, id, &idt);
    if (rc == CORIO_OK)
        return corio__ctr_refuse(a, "%s is already registered", did);
    if (rc != CORIO_ERR_NOTFOUND)
        return rc;
    if ((rc = corio__ctr_require_org(a, r.org, NULL)) != CORIO_OK)
        return rc;

    /* The claim: the device's own token, for this organisation. */
    struct corio_eat_claims c;
    const char *why = NULL;
    if (corio_eat_decode(r.eat, r.eat_len, &c) != CORIO_OK)
        return corio__ctr_refuse(a, "the device's EAT does not decode");
    if (memcmp(c.issuer.id, id, CORIO_DID_ID_LEN) || c.key_number != 0)
        return corio__ctr_refuse(a, "the EAT is not signed by key 0 of %s", did);
    if (!c.nonce || c.nonce_len != CLAIM_NONCE_LEN)
        return corio__ctr_refuse(a, "the EAT carries no %d-byte claim nonce", CLAIM_NONCE_LEN);
    char aud[CORIO_DID_ID_CHARS + 1];
    if (corio_did_id_format(r.org, aud, sizeof aud) < 0)
        return CORIO_ERR_INVAL;
    struct corio_eat_expect e = {
        .aud = aud,
        .aud_len = CORIO_DID_ID_CHARS,
        .nonce = c.nonce,
        .nonce_len = c.nonce_len,
        .registered_assurance = (uint8_t)r.assurance,
    };
    struct corio_eat_claims ok;
    rc = corio_eat_verify(&corio_crypto_openssl_ops, r.eat, r.eat_len, r.key, CORIO_TX_KEY_LEN, &e,
                          &ok, &why);
    if (rc == CORIO_ERR_BADSIG)
        return corio__ctr_refuse(a, "the EAT's signature does not verify with the device key");
    if (rc != CORIO_OK)
        return corio__ctr_refuse(a, "the EAT is refused: %s (the claim is for %s)",
                                 why ? why : corio_strerror(rc), corio__ctr_did_str(r.org, odid));
    if (ok.assurance != r.assurance)
        return corio__ctr_refuse(a, "the device reports assurance %u, the record says %u",
                                 (unsigned)ok.assurance, (unsigned)r.assurance);

    if (r.has_gateway) {
        if (r.kind == CORIO_DEVICE_KIND_GATEWAY)
            return corio__ctr_refuse(a, "a gateway is not pinned to a gateway");
        struct device_row gw;
        if ((rc = device_get(a, r.gateway, &gw)) != CORIO_OK)
            return rc;
        if (gw.kind != CTR_GATEWAY || memcmp(gw.org, r.org, CORIO_DID_ID_LEN))
            return corio__ctr_refuse(a, "%s is not a gateway of the same organisation",
                                     corio__ctr_did_str(r.gateway, odid));
    }
    int kind = r.kind == CORIO_DEVICE_KIND_GATEWAY ? CTR_GATEWAY : CTR_DEVICE;
    rc = corio__ctr_identity_create(a->db, id, kind, r.org, r.key, a->height);
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(a->db,
                             "INSERT INTO ctr_device VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                             "bbitttiiBii", ID_ARG(id),
                             ID_ARG(r.org), (int64_t)kind, r.class_, r.class_len, r.model,
                             r.model_len, r.hw, r.hw_len, (int64_t)r.auth, (int64_t)r.assurance,
                             r.has_gateway ? r.gateway : NULL, (size_t)CORIO_DID_ID_LEN,
                             (int64_t)a->height,
                             (int64_t)a->height);
    return rc;
}

/* Devices pinned to a gateway that changes hands or is revoked lose the pin. */
static int unpin(struct ctr_apply *a, const uint8_t gw[CORIO_DID_ID_LEN])
{
    return corio__ctr_exec(a->db,
                           "UPDATE ctr_device SET gateway = NULL, updated = ? WHERE gateway = ?",
                           "ib", (int64_t)a->height, ID_ARG(gw));
}

int corio__ctr_device_transfer(struct ctr_apply *a)
{
    struct corio_tx_device_ref t;
    char did[CORIO_DID_BUF], odid[CORIO_DID_BUF];
    if (corio_tx_device_ref_decode(CORIO_TX_DEVICE_TRANSFER, a->tx->body.args,
                                   a->tx->body.args_len, &t) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed transfer arguments");
    struct device_row d;
    int rc = device_get(a, t.device, &d);
    if (rc != CORIO_OK)
        return rc;
    if (memcmp(d.org, t.from, CORIO_DID_ID_LEN))
        return corio__ctr_refuse(a, "%s does not belong to %s", corio__ctr_did_str(t.device, did),
                                 corio__ctr_did_str(t.from, odid));
    if (!memcmp(t.from, t.to, CORIO_DID_ID_LEN))
        return corio__ctr_refuse(a, "a transfer goes to another organisation");
    /* Both organisations sign: the giver and the taker. */
    if ((rc = corio__ctr_require_org(a, t.from, NULL)) != CORIO_OK ||
        (rc = corio__ctr_require_org(a, t.to, NULL)) != CORIO_OK)
        return rc;
    rc = corio__ctr_exec(a->db,
                         "UPDATE ctr_device SET org = ?, gateway = NULL, updated = ? WHERE id = ?",
                         "bib", ID_ARG(t.to), (int64_t)a->height, ID_ARG(t.device));
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(a->db, "UPDATE ctr_identity SET org = ? WHERE id = ?", "bb",
                             ID_ARG(t.to), ID_ARG(t.device));
    if (rc == CORIO_OK && d.kind == CTR_GATEWAY)
        rc = unpin(a, t.device);
    return rc;
}

int corio__ctr_device_revoke(struct ctr_apply *a)
{
    struct corio_tx_device_ref t;
    if (corio_tx_device_ref_decode(CORIO_TX_DEVICE_REVOKE, a->tx->body.args, a->tx->body.args_len,
                                   &t) != CORIO_OK)
        return corio__ctr_refuse(a, "malformed revoke arguments");
    struct device_row d;
    int rc = device_get(a, t.device, &d);
    if (rc != CORIO_OK)
        return rc;
    if ((rc = corio__ctr_require_org(a, d.org, NULL)) != CORIO_OK)
        return rc;
    rc = corio__ctr_exec(a->db, "UPDATE ctr_device SET revoked = 1, updated = ? WHERE id = ?", "ib",
                         (int64_t)a->height, ID_ARG(t.device));
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(a->db, "UPDATE ctr_identity SET active = 0 WHERE id = ?", "b",
                             ID_ARG(t.device));
    if (rc == CORIO_OK && d.kind == CTR_GATEWAY)
        rc = unpin(a, t.device);
    return rc;
}
