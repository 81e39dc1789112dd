/*
 * api_views.c - the contracts' read-only views (api_views.h): the ctr_ tables as JSON,
 * DID documents for did:corio, and the registry export. Binary ids are printed as
 * DIDs or short ids, hashes as lowercase hex; CBOR payloads of proposals are decoded
 * into JSON per kind, so clients never parse CBOR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_views.h"
#include "contracts.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio_buf.h"
#include "ledger_store.h"

#define PREFIX  "/api/v1/contracts/"
#define RESOLVE "/1.0/identifiers/"

static const char *const kind_names[] = {"", "organisation", "person", "device", "gateway"};
static const char *const status_names[] = {"open", "passed", "rejected", "no quorum", "failed"};
static const char *const proposal_kinds[] = {"",        "membership", "rights",
                                             "parameter", "version",  "decision"};

/* ---- small helpers ------------------------------------------------------------------------- */

static json_t *hex(const void *p, size_t n)
{
    char buf[129];
    if (n > 64)
        return json_null();
    for (size_t i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", ((const uint8_t *)p)[i]);
    buf[2 * n] = 0;
    return json_string(buf);
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
            !strchr("0123456789abcdef", s[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* A column holding a 15-byte id as "did:corio:<id>" (or null). */
static json_t *did_col(sqlite3_stmt *s, int col)
{
    if (sqlite3_column_bytes(s, col) != CORIO_DID_ID_LEN)
        return json_null();
    char buf[CORIO_DID_BUF];
    return json_string(corio__ctr_did_str(sqlite3_column_blob(s, col), buf));
}

static json_t *text_col(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? json_stringn((const char *)t, (size_t)sqlite3_column_bytes(s, col)) : json_null();
}

static json_t *int_col(sqlite3_stmt *s, int col)
{
    return sqlite3_column_type(s, col) == SQLITE_NULL ? json_null()
                                                       : json_integer(sqlite3_column_int64(s, col));
}

/* Runs sql (one 'b' parameter when id is not NULL) and makes each row an object with
 * the named columns; a name "did:x" prints column x as a DID, "hex:x" as hex, "bool:x"
 * as a boolean. Returns an array, or NULL on an SQLite error. */
static json_t *rows(sqlite3 *db, const char *sql, const void *id, size_t idlen,
                    const char *const *names, int ncols)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    if (id)
        sqlite3_bind_blob(s, 1, id, (int)idlen, SQLITE_STATIC);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int c = 0; c < ncols; c++) {
            const char *n = names[c];
            json_t *v;
            if (!strncmp(n, "did:", 4)) {
                v = did_col(s, c);
                n += 4;
            } else if (!strncmp(n, "hex:", 4)) {
                v = hex(sqlite3_column_blob(s, c), (size_t)sqlite3_column_bytes(s, c));
                n += 4;
            } else if (!strncmp(n, "bool:", 5)) {
                v = json_boolean(sqlite3_column_int(s, c));
                n += 5;
            } else if (sqlite3_column_type(s, c) == SQLITE_TEXT) {
                v = text_col(s, c);
            } else {
                v = int_col(s, c);
            }
            json_object_set_new(o, n, v);
        }
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

#define ROWS(db, sql, id, len, ...)                                                                \
    rows(db, sql, id, len, (const char *const[]){__VA_ARGS__},                                      \
         (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* ---- views -------------------------------------------------------------------------------------- */

static json_t *view_orgs(sqlite3 *db, const uint8_t *id)
{
    const char *sql = id ? "SELECT id, name, weight, threshold, approver, node, address, api,"
                           " active, admitted, removed FROM ctr_org WHERE id = ?"
                         : "SELECT id, name, weight, threshold, approver, node, address, api,"
                           " active, admitted, removed FROM ctr_org ORDER BY node";
    return ROWS(db, sql, id, CORIO_DID_ID_LEN, "did:did", "name", "weight", "threshold",
                "bool:approver", "node", "address", "api", "bool:active", "admitted", "removed");
}

static json_t *view_members(sqlite3 *db, const uint8_t *org)
{
    return ROWS(db,
                "SELECT p.id, p.weight, p.active, p.added, i.key_number FROM ctr_person p"
                " JOIN ctr_identity i ON i.id = p.id WHERE p.org = ? ORDER BY p.added, p.id",
                org, CORIO_DID_ID_LEN, "did:did", "weight", "bool:active", "added", "key_number");
}

static const char DEVICE_COLS[] =
    "SELECT d.id, d.org, d.kind, d.class, d.model, d.hw, d.auth, d.assurance, d.gateway,"
    " d.revoked, d.registered, d.updated, i.key_number FROM ctr_device d"
    " JOIN ctr_identity i ON i.id = d.id ";

static json_t *device_rows(sqlite3 *db, const char *where, const uint8_t *id)
{
    char sql[512];
    snprintf(sql, sizeof sql, "%s%s", DEVICE_COLS, where);
    json_t *arr = ROWS(db, sql, id, CORIO_DID_ID_LEN, "did:did", "did:org", "kind", "class",
                       "model", "hw", "auth", "assurance", "did:gateway", "bool:revoked",
                       "registered", "updated", "key_number");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        json_int_t k = json_integer_value(json_object_get(o, "kind"));
        json_int_t a = json_integer_value(json_object_get(o, "auth"));
        json_int_t s = json_integer_value(json_object_get(o, "assurance"));
        json_object_set_new(o, "kind", json_string(k == CTR_GATEWAY ? "gateway" : "device"));
        json_object_set_new(o, "auth", json_string(a == CORIO_DEVICE_AUTH_EAT ? "eat" : "single"));
        json_object_set_new(o, "assurance", json_string(s == 2 ? "attested" : "reported"));
    }
    return arr;
}

/* An identity with its whole key history (did:key form). */
static json_t *view_identity(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN])
{
    json_t *idt = ROWS(db,
                       "SELECT id, kind, org, key_number, active, created FROM ctr_identity"
                       " WHERE id = ?",
                       id, CORIO_DID_ID_LEN, "did:did", "kind", "did:org", "key_number",
                       "bool:active", "created");
    if (!idt || json_array_size(idt) == 0)
        return idt;
    json_t *o = json_incref(json_array_get(idt, 0));
    json_decref(idt);
    json_int_t k = json_integer_value(json_object_get(o, "kind"));
    json_object_set_new(o, "kind",
                        json_string(k >= 1 && k <= 4 ? kind_names[k] : "unknown"));
    sqlite3_stmt *s;
    json_t *keys = json_array();
    if (sqlite3_prepare_v2(db, "SELECT number, key, height FROM ctr_key WHERE id = ? ORDER BY number",
                           -1, &s, NULL) != SQLITE_OK) {
        json_decref(o);
        json_decref(keys);
        return NULL;
    }
    sqlite3_bind_blob(s, 1, id, CORIO_DID_ID_LEN, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        char dk[CORIO_DIDKEY_BUF];
        if (corio_didkey_format(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), dk,
                                sizeof dk) < 0)
            snprintf(dk, sizeof dk, "?");
        json_array_append_new(keys, json_pack("{s:I, s:s, s:I}", "number",
                                              (json_int_t)sqlite3_column_int64(s, 0), "key", dk,
                                              "height", (json_int_t)sqlite3_column_int64(s, 2)));
    }
    sqlite3_finalize(s);
    json_object_set_new(o, "keys", keys);
    return o;
}

/* A proposal's payload, decoded per kind. */
static json_t *payload_json(int kind, const uint8_t *p, size_t len)
{
    struct corio_tx_proposal_payload pl;
    char did[CORIO_DID_BUF];
    if (corio_tx_payload_decode((uint64_t)kind, p, len, &pl) != CORIO_OK)
        return json_null();
    switch (kind) {
    case CORIO_PROPOSAL_MEMBERSHIP: {
        static const char *const actions[] = {"", "admit", "remove", "update"};
        json_t *o = json_pack("{s:s}", "action", actions[pl.action]);
        struct corio_tx_org org;
        if (pl.has_target)
            json_object_set_new(o, "org", json_string(corio__ctr_did_str(pl.target, did)));
        if (pl.has_org && corio_tx_org_decode(pl.org, pl.org_len, &org) == CORIO_OK) {
            uint8_t id[CORIO_DID_ID_LEN];
            if (org.has_key && corio__ctr_did_of(org.key, id) == CORIO_OK)
                json_object_set_new(o, "org", json_string(corio__ctr_did_str(id, did)));
            if (org.has_name)
                json_object_set_new(o, "name", json_stringn(org.name, org.name_len));
            if (org.has_weight)
                json_object_set_new(o, "weight", json_integer((json_int_t)org.weight));
            if (org.has_threshold)
                json_object_set_new(o, "threshold", json_integer((json_int_t)org.threshold));
            if (org.has_approver)
                json_object_set_new(o, "approver", json_boolean(org.approver));
            if (org.has_node)
                json_object_set_new(o, "node", json_integer((json_int_t)org.node));
            if (org.has_address)
                json_object_set_new(o, "address", json_stringn(org.address, org.address_len));
            if (org.has_api)
                json_object_set_new(o, "api", json_stringn(org.api, org.api_len));
        }
        return o;
    }
    case CORIO_PROPOSAL_RIGHTS:
        return json_pack("{s:s, s:s%, s:b}", "org", corio__ctr_did_str(pl.right_org, did), "class",
                         pl.class_, pl.class_len, "grant", pl.grant);
    case CORIO_PROPOSAL_PARAMETER:
        return json_pack("{s:s%, s:I}", "name", pl.name, pl.name_len, "value",
                         (json_int_t)pl.value);
    case CORIO_PROPOSAL_VERSION:
        return json_pack("{s:s%, s:I, s:I}", "contract", pl.name, pl.name_len, "version",
                         (json_int_t)pl.value, "height", (json_int_t)pl.height);
    default:
        return json_pack("{s:s%, s:s%}", "title", pl.title, pl.title_len, "text", pl.text,
                         pl.text_len);
    }
}

static json_t *view_proposals(sqlite3 *db, const uint8_t *id)
{
    const char *sql = id ? "SELECT id, org, kind, created, closes, status, yes, no, abstain,"
                           " total, version, result, payload FROM ctr_proposal WHERE id = ?"
                         : "SELECT id, org, kind, created, closes, status, yes, no, abstain,"
                           " total, version, result, payload FROM ctr_proposal"
                           " ORDER BY created DESC, id";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    if (id)
        sqlite3_bind_blob(s, 1, id, CORIO_TX_ID_LEN, SQLITE_STATIC);
    json_t *arr = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        int kind = sqlite3_column_int(s, 2), status = sqlite3_column_int(s, 5);
        json_t *o = json_pack(
            "{s:o, s:o, s:s, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I, s:o}, s:o, s:o}", "id",
            hex(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0)), "org",
            did_col(s, 1), "kind", kind >= 1 && kind <= 5 ? proposal_kinds[kind] : "unknown",
            "created", (json_int_t)sqlite3_column_int64(s, 3), "closes",
            (json_int_t)sqlite3_column_int64(s, 4), "status",
            status >= 0 && status <= 4 ? status_names[status] : "unknown", "tally", "yes",
            (json_int_t)sqlite3_column_int64(s, 6), "no", (json_int_t)sqlite3_column_int64(s, 7),
            "abstain", (json_int_t)sqlite3_column_int64(s, 8), "total",
            (json_int_t)sqlite3_column_int64(s, 9), "version", int_col(s, 10), "result",
            text_col(s, 11), "payload",
            payload_json(kind, sqlite3_column_blob(s, 12), (size_t)sqlite3_column_bytes(s, 12)));
        if (o) {
            json_t *votes = ROWS(db,
                                 "SELECT org, choice, height FROM ctr_vote WHERE proposal = ?"
                                 " ORDER BY org",
                                 sqlite3_column_blob(s, 0), CORIO_TX_ID_LEN, "did:org", "choice",
                                 "height");
            size_t i;
            json_t *v;
            json_array_foreach(votes, i, v)
            {
                static const char *const choices[] = {"", "yes", "no", "abstain"};
                json_int_t c = json_integer_value(json_object_get(v, "choice"));
                json_object_set_new(v, "choice", json_string(c >= 1 && c <= 3 ? choices[c] : "?"));
            }
            json_object_set_new(o, "votes", votes ? votes : json_array());
            json_array_append_new(arr, o);
        }
    }
    sqlite3_finalize(s);
    return arr;
}

static json_t *view_releases(sqlite3 *db)
{
    json_t *arr = ROWS(db,
                       "SELECT id, org, class, digest, version, created, status, approved"
                       " FROM ctr_release ORDER BY created, id",
                       NULL, 0, "hex:id", "did:org", "class", "hex:digest", "version", "created",
                       "status", "approved");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        uint8_t id[32];
        if (unhex(json_string_value(json_object_get(o, "id")), id, 32) == 0)
            json_object_set_new(o, "approvals",
                                ROWS(db,
                                     "SELECT org, height FROM ctr_approval WHERE release = ?"
                                     " ORDER BY height, org",
                                     id, 32, "did:org", "height"));
        json_int_t st = json_integer_value(json_object_get(o, "status"));
        json_object_set_new(o, "status", json_string(st ? "approved" : "pending"));
    }
    return arr;
}

static json_t *view_params(sqlite3 *db)
{
    static const char *const names[] = {"vote.quorum",     "vote.threshold", "vote.period",
                                        "vote.period_min", "vote.period_max", "release.k",
                                        "tx.ttl_max"};
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        uint64_t v;
        if (corio__ctr_param(db, names[i], &v) != CORIO_OK) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, names[i], json_integer((json_int_t)v));
    }
    json_t *versions = ROWS(db,
                            "SELECT contract, version, height FROM ctr_version"
                            " ORDER BY contract, version",
                            NULL, 0, "contract", "version", "height");
    json_t *ret = json_pack("{s:o, s:o}", "params", o, "versions",
                            versions ? versions : json_array());
    return ret;
}

/* W3C DID Resolution (https://www.w3.org/TR/did-resolution/): the resolution result for
 * a did:corio. The document lists the current key as a Multikey. */
static int resolve(sqlite3 *db, const char *did, struct corio_ledger_view *out, json_t **body)
{
    struct corio_did d;
    if (corio_did_parse(did, strlen(did), &d) != CORIO_OK || d.has_key) {
        out->status = 400;
        *body = json_pack("{s:s, s:n, s:{s:s}, s:{}}", "@context", "https://w3id.org/did-resolution/v1",
                          "didDocument", "didResolutionMetadata", "error", "invalidDid",
                          "didDocumentMetadata");
        return CORIO_OK;
    }
    json_t *idt = view_identity(db, d.id);
    if (!idt)
        return CORIO_ERR_IO;
    if (json_is_array(idt)) { /* no such identity */
        json_decref(idt);
        out->status = 404;
        *body = json_pack("{s:s, s:n, s:{s:s}, s:{}}", "@context", "https://w3id.org/did-resolution/v1",
                          "didDocument", "didResolutionMetadata", "error", "notFound",
                          "didDocumentMetadata");
        return CORIO_OK;
    }
    char self[CORIO_DID_BUF];
    corio__ctr_did_str(d.id, self);
    json_int_t n = json_integer_value(json_object_get(idt, "key_number"));
    json_t *keys = json_object_get(idt, "keys");
    const char *dk = json_string_value(json_object_get(json_array_get(keys, (size_t)n), "key"));
    char vm[CORIO_DID_BUF + 12];
    snprintf(vm, sizeof vm, "%s#%lld", self, (long long)n);
    json_t *doc = json_pack("{s:[s,s], s:s, s:O, s:[{s:s, s:s, s:s, s:s}], s:[s], s:[s]}",
                            "@context", "https://www.w3.org/ns/did/v1",
                            "https://w3id.org/security/multikey/v1", "id", self, "controller",
                            json_object_get(idt, "org"), "verificationMethod", "id", vm, "type",
                            "Multikey", "controller", self, "publicKeyMultibase",
                            dk && strlen(dk) > CORIO_DIDKEY_PREFIX_LEN ? dk + CORIO_DIDKEY_PREFIX_LEN
                                                                       : "",
                            "authentication", vm, "assertionMethod", vm);
    json_t *meta = json_pack("{s:I, s:s%, s:b}", "created",
                             json_integer_value(json_object_get(idt, "created")), "versionId",
                             vm + strlen(self) + 1, strlen(vm) - strlen(self) - 1, "deactivated",
                             !json_is_true(json_object_get(idt, "active")));
    json_object_set_new(meta, "updated",
                        json_incref(json_object_get(json_array_get(keys, (size_t)n), "height")));
    json_object_set_new(meta, "corio", json_pack("{s:O, s:O}", "kind", json_object_get(idt, "kind"),
                                                 "keys", keys));
    json_decref(idt);
    out->status = 200;
    *body = json_pack("{s:s, s:o, s:{s:s}, s:o}", "@context", "https://w3id.org/did-resolution/v1",
                      "didDocument", doc, "didResolutionMetadata", "contentType",
                      "application/did+ld+json", "didDocumentMetadata", meta);
    return CORIO_OK;
}

/* ---- the registry export ------------------------------------------------------------------------------ */

static int export_rows(sqlite3 *db, struct corio_buf *b)
{
    sqlite3_stmt *s;
    char id[CORIO_DID_ID_CHARS + 1], org[CORIO_DID_ID_CHARS + 1], gw[CORIO_DID_ID_CHARS + 1];
    char dk[CORIO_DIDKEY_BUF];
    int rc = CORIO_OK;
    /* Each organisation with its current key (orgkey), which gateways trust to endorse
     * its devices' key rotations offline (docs/registry.md). */
    if (sqlite3_prepare_v2(db,
                           "SELECT o.id, o.name, k.key, i.key_number FROM ctr_org o"
                           " JOIN ctr_identity i ON i.id = o.id"
                           " JOIN ctr_key k ON k.id = o.id AND k.number = i.key_number"
                           " WHERE o.active = 1 ORDER BY o.node",
                           -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    while (rc == CORIO_OK && sqlite3_step(s) == SQLITE_ROW) {
        corio_did_id_format(sqlite3_column_blob(s, 0), id, sizeof id);
        rc = corio_buf_printf(b, "org %s %s\n", id, (const char *)sqlite3_column_text(s, 1));
        if (rc == CORIO_OK &&
            corio_didkey_format(sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2), dk,
                                sizeof dk) < 0)
            rc = CORIO_ERR_IO;
        if (rc == CORIO_OK)
            rc = corio_buf_printf(b, "orgkey %s key=%s key_no=%lld\n", id, dk,
                                  (long long)sqlite3_column_int64(s, 3));
    }
    sqlite3_finalize(s);
    if (rc != CORIO_OK)
        return rc;
    if (sqlite3_prepare_v2(db,
                           "SELECT d.id, d.org, d.kind, d.class, d.model, d.hw, d.auth,"
                           " d.assurance, d.gateway, d.revoked OR o.active = 0, k.key,"
                           " i.key_number FROM ctr_device d"
                           " JOIN ctr_org o ON o.id = d.org"
                           " JOIN ctr_identity i ON i.id = d.id"
                           " JOIN ctr_key k ON k.id = d.id AND k.number = i.key_number"
                           " ORDER BY d.kind DESC, d.id",
                           -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    while (rc == CORIO_OK && sqlite3_step(s) == SQLITE_ROW) {
        corio_did_id_format(sqlite3_column_blob(s, 0), id, sizeof id);
        corio_did_id_format(sqlite3_column_blob(s, 1), org, sizeof org);
        if (corio_didkey_format(sqlite3_column_blob(s, 10), (size_t)sqlite3_column_bytes(s, 10),
                                dk, sizeof dk) < 0) {
            rc = CORIO_ERR_IO;
            break;
        }
        bool revoked = sqlite3_column_int(s, 9) != 0;
        long long key_no = sqlite3_column_int64(s, 11);
        if (sqlite3_column_int(s, 2) == CTR_GATEWAY) {
            /* The format has no revoked gateways: they are left out. */
            if (!revoked)
                rc = corio_buf_printf(b, "gateway %s org=%s key=%s key_no=%lld\n", id, org, dk,
                                      key_no);
            continue;
        }
        rc = corio_buf_printf(b, "device %s org=%s key=%s key_no=%lld class=%s model=%s hw_rev=%s", id,
                              org, dk, key_no, (const char *)sqlite3_column_text(s, 3),
                              (const char *)sqlite3_column_text(s, 4),
                              (const char *)sqlite3_column_text(s, 5));
        if (rc == CORIO_OK && sqlite3_column_bytes(s, 8) == CORIO_DID_ID_LEN) {
            corio_did_id_format(sqlite3_column_blob(s, 8), gw, sizeof gw);
            rc = corio_buf_printf(b, " gateway=%s", gw);
        }
        if (rc == CORIO_OK)
            rc = corio_buf_printf(b, " auth=%s assurance=%s revoked=%s\n",
                                  sqlite3_column_int(s, 6) == CORIO_DEVICE_AUTH_EAT ? "eat"
                                                                                    : "single",
                                  sqlite3_column_int(s, 7) == 2 ? "attested" : "reported",
                                  revoked ? "yes" : "no");
    }
    sqlite3_finalize(s);
    if (rc != CORIO_OK)
        return rc;
    if (sqlite3_prepare_v2(db,
                           "SELECT class, digest, version FROM ctr_release WHERE status = 1"
                           " ORDER BY class, approved, id",
                           -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    while (rc == CORIO_OK && sqlite3_step(s) == SQLITE_ROW) {
        const uint8_t *d = sqlite3_column_blob(s, 1);
        char h[65];
        for (int i = 0; i < 32 && sqlite3_column_bytes(s, 1) == 32; i++)
            snprintf(h + 2 * i, 3, "%02x", d[i]);
        h[64] = 0;
        rc = corio_buf_printf(b, "firmware %s %s %s\n", (const char *)sqlite3_column_text(s, 0), h,
                              (const char *)sqlite3_column_text(s, 2));
    }
    sqlite3_finalize(s);
    return rc;
}

int corio_ledger_registry_export(sqlite3 *db, char **text, size_t *len)
{
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    uint8_t g[CORIO_TX_ID_LEN];
    struct corio_store_head head;
    struct corio_buf b;
    corio_buf_init(&b, 256u << 20);
    int rc = corio_contracts_genesis(db, g);
    if (rc == CORIO_OK)
        rc = corio__read_head(db, &head);
    if (rc == CORIO_OK)
        rc = corio_buf_printf(&b,
                              "# the corio ledger's registry at height %llu (docs/registry.md)\n"
                              "height %llu\n",
                              (unsigned long long)head.height, (unsigned long long)head.height);
    if (rc == CORIO_OK)
        rc = export_rows(db, &b);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != CORIO_OK) {
        corio_buf_free(&b);
        return rc;
    }
    *text = corio_buf_take(&b, len);
    return *text ? CORIO_OK : CORIO_ERR_NOSPACE;
}

/* ---- routing ------------------------------------------------------------------------------------------------ */

static int id_arg(const char *s, size_t n, uint8_t id[CORIO_DID_ID_LEN])
{
    struct corio_did d;
    if (n == CORIO_DID_ID_CHARS)
        return corio_did_id_parse(s, n, id);
    if (corio_did_parse(s, n, &d) != CORIO_OK || d.has_key)
        return CORIO_ERR_MALFORMED;
    memcpy(id, d.id, CORIO_DID_ID_LEN);
    return CORIO_OK;
}

static json_t *error_body(unsigned status, const char *what, struct corio_ledger_view *out)
{
    out->status = status;
    return json_pack("{s:s}", "error", what);
}

/* A JSON answer for a view that is an array of one row or none. */
static json_t *one(json_t *arr, struct corio_ledger_view *out, const char *what)
{
    if (!arr)
        return NULL;
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return error_body(404, what, out);
    }
    json_t *o = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return o;
}

static json_t *route_json(sqlite3 *db, const char *r, struct corio_ledger_view *out)
{
    uint8_t id[CORIO_TX_ID_LEN];
    const char *slash = strchr(r, '/');
    size_t head = slash ? (size_t)(slash - r) : strlen(r);
    const char *rest = slash ? slash + 1 : NULL;
#define IS(w) (head == sizeof(w) - 1 && !strncmp(r, w, head))
    if (IS("orgs")) {
        if (!rest)
            return view_orgs(db, NULL);
        const char *s2 = strchr(rest, '/');
        size_t n = s2 ? (size_t)(s2 - rest) : strlen(rest);
        if (id_arg(rest, n, id) != CORIO_OK)
            return error_body(400, "not an organisation id", out);
        if (!s2)
            return one(view_orgs(db, id), out, "no such organisation");
        if (!strcmp(s2, "/members"))
            return view_members(db, id);
        if (!strcmp(s2, "/devices"))
            return device_rows(db, "WHERE d.org = ? ORDER BY d.id", id);
        return error_body(404, "no such view", out);
    }
    if (IS("identities") && rest) {
        if (id_arg(rest, strlen(rest), id) != CORIO_OK)
            return error_body(400, "not an id", out);
        json_t *o = view_identity(db, id);
        if (o && json_is_array(o)) {
            json_decref(o);
            return error_body(404, "no such identity", out);
        }
        return o;
    }
    if (IS("devices") && rest) {
        if (id_arg(rest, strlen(rest), id) != CORIO_OK)
            return error_body(400, "not a device id", out);
        return one(device_rows(db, "WHERE d.id = ?", id), out, "no such device");
    }
    if (IS("rights") && !rest)
        return ROWS(db, "SELECT org, class, height FROM ctr_right ORDER BY class, org", NULL, 0,
                    "did:org", "class", "height");
    if (IS("params") && !rest)
        return view_params(db);
    if (IS("releases") && !rest)
        return view_releases(db);
    if (IS("proposals")) {
        if (!rest)
            return view_proposals(db, NULL);
        if (unhex(rest, id, CORIO_TX_ID_LEN) != 0)
            return error_body(400, "a proposal id is 64 lowercase hex digits", out);
        return one(view_proposals(db, id), out, "no such proposal");
    }
#undef IS
    return error_body(404, "no such view", out);
}

int corio_ledger_view_route(sqlite3 *db, const char *path, struct corio_ledger_view *out)
{
    bool resolver = !strncmp(path, RESOLVE, sizeof RESOLVE - 1);
    if (!resolver && strncmp(path, PREFIX, sizeof PREFIX - 1))
        return 0;
    memset(out, 0, sizeof *out);
    out->status = 200;
    out->content_type = "application/json";
    if (!resolver && !strcmp(path + sizeof PREFIX - 1, "registry")) {
        int rc = corio_ledger_registry_export(db, &out->body, &out->len);
        if (rc == CORIO_ERR_NOTFOUND) {
            out->status = 404;
            out->body = strdup("the ledger has no genesis yet\n");
            out->len = out->body ? strlen(out->body) : 0;
            rc = out->body ? CORIO_OK : CORIO_ERR_NOSPACE;
        }
        out->content_type = "text/plain; charset=utf-8";
        return rc == CORIO_OK ? 1 : rc;
    }
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    json_t *body = NULL;
    int rc = CORIO_OK;
    if (resolver) {
        rc = resolve(db, path + sizeof RESOLVE - 1, out, &body);
        out->content_type = "application/did-resolution+json";
    } else {
        body = route_json(db, path + sizeof PREFIX - 1, out);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != CORIO_OK || !body) {
        json_decref(body);
        return rc != CORIO_OK ? rc : CORIO_ERR_IO;
    }
    out->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!out->body)
        return CORIO_ERR_NOSPACE;
    out->len = strlen(out->body);
    return 1;
}
