/*
 * contracts.c - the contracts application (contracts.h): the ctr_ tables and the
 * triggers that keep their multiset hash, the checks every transaction passes before
 * its contract sees it (format, ledger id, expiry, replay, every signature against the
 * signer's current key), the dispatch to contract_*.c, the height rules, the members
 * the organisations contract decides, and the SQL helpers the contracts share.
 *
 * check and apply run the same checks: apply never trusts that check ran (a dishonest
 * leader may propose anything), and check is only the cheap part (no contract rules).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "api_views.h"
#include "contracts.h"
#include "corio/cbor.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "corio_log.h"
#include "crypto_openssl.h"
#include "ledger_store.h"

#define SCHEMA_VERSION 1

/* Every table of the contracts' state; all of them are covered by the state hash. */
static const char *const tables[][2] = {
    {"ctr_meta", "key TEXT PRIMARY KEY, value ANY"},
    {"ctr_param", "name TEXT PRIMARY KEY, value INTEGER NOT NULL"},
    {"ctr_identity", "id BLOB PRIMARY KEY, kind INTEGER NOT NULL, org BLOB NOT NULL,"
                     " key_number INTEGER NOT NULL, active INTEGER NOT NULL,"
                     " created INTEGER NOT NULL"},
    {"ctr_key", "id BLOB NOT NULL, number INTEGER NOT NULL, key BLOB NOT NULL,"
                " height INTEGER NOT NULL, PRIMARY KEY(id, number)"},
    {"ctr_org", "id BLOB PRIMARY KEY, name TEXT NOT NULL, weight INTEGER NOT NULL,"
                " threshold INTEGER NOT NULL, approver INTEGER NOT NULL, node INTEGER NOT NULL,"
                " address TEXT NOT NULL, api TEXT NOT NULL, active INTEGER NOT NULL,"
                " admitted INTEGER NOT NULL, removed INTEGER"},
    {"ctr_person", "id BLOB PRIMARY KEY, org BLOB NOT NULL, weight INTEGER NOT NULL,"
                   " active INTEGER NOT NULL, added INTEGER NOT NULL"},
    {"ctr_device", "id BLOB PRIMARY KEY, org BLOB NOT NULL, kind INTEGER NOT NULL,"
                   " class TEXT NOT NULL, model TEXT NOT NULL, hw TEXT NOT NULL,"
                   " auth INTEGER NOT NULL, assurance INTEGER NOT NULL, gateway BLOB,"
                   " revoked INTEGER NOT NULL, registered INTEGER NOT NULL,"
                   " updated INTEGER NOT NULL"},
    {"ctr_right", "org BLOB NOT NULL, class TEXT NOT NULL, height INTEGER NOT NULL,"
                  " PRIMARY KEY(org, class)"},
    {"ctr_proposal", "id BLOB PRIMARY KEY, org BLOB NOT NULL, kind INTEGER NOT NULL,"
                     " payload BLOB NOT NULL, created INTEGER NOT NULL, closes INTEGER NOT NULL,"
                     " status INTEGER NOT NULL, yes INTEGER NOT NULL, no INTEGER NOT NULL,"
                     " abstain INTEGER NOT NULL, total INTEGER NOT NULL, version INTEGER,"
                     " result TEXT NOT NULL"},
    {"ctr_vote", "proposal BLOB NOT NULL, org BLOB NOT NULL, choice INTEGER NOT NULL,"
                 " height INTEGER NOT NULL, PRIMARY KEY(proposal, org)"},
    {"ctr_release", "id BLOB PRIMARY KEY, org BLOB NOT NULL, class TEXT NOT NULL,"
                    " digest BLOB NOT NULL, version TEXT NOT NULL, created INTEGER NOT NULL,"
                    " status INTEGER NOT NULL, approved INTEGER, UNIQUE(class, digest)"},
    {"ctr_approval", "release BLOB NOT NULL, org BLOB NOT NULL, height INTEGER NOT NULL,"
                     " PRIMARY KEY(release, org)"},
    {"ctr_version", "contract TEXT NOT NULL, version INTEGER NOT NULL, height INTEGER NOT NULL,"
                    " proposal BLOB NOT NULL, PRIMARY KEY(contract, version)"},
    {"ctr_seen", "id BLOB PRIMARY KEY, expires INTEGER NOT NULL"},
};
#define NTABLES (sizeof tables / sizeof tables[0])

static const char INDEXES[] =
    "CREATE INDEX IF NOT EXISTS ctr_seen_expires ON ctr_seen(expires);"
    "CREATE INDEX IF NOT EXISTS ctr_proposal_open ON ctr_proposal(status, closes);"
    "CREATE INDEX IF NOT EXISTS ctr_device_org ON ctr_device(org);"
    "CREATE INDEX IF NOT EXISTS ctr_device_gateway ON ctr_device(gateway);"
    "CREATE INDEX IF NOT EXISTS ctr_person_org ON ctr_person(org);"
    "CREATE INDEX IF NOT EXISTS ctr_key_key ON ctr_key(key);";

/* ---- SQL helpers ---------------------------------------------------------------------- */

static int bind_all(sqlite3_stmt *s, const char *fmt, va_list ap)
{
    int i = 1, rc = SQLITE_OK;
    for (const char *f = fmt; f && *f && rc == SQLITE_OK; f++, i++) {
        switch (*f) {
        case 'i':
            rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
            break;
        case 'b':
        case 'B': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            if (*f == 'B' && !p)
                rc = sqlite3_bind_null(s, i);
            else
                rc = sqlite3_bind_blob(s, i, n ? p : "", (int)n, SQLITE_TRANSIENT);
            break;
        }
        case 't': {
            const char *p = va_arg(ap, const char *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_text(s, i, n ? p : "", (int)n, SQLITE_TRANSIENT);
            break;
        }
        case 'z':
            rc = sqlite3_bind_text(s, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        case 'n':
            rc = sqlite3_bind_null(s, i);
            break;
        default:
            rc = SQLITE_MISUSE;
        }
    }
    return rc == SQLITE_OK ? CORIO_OK : CORIO_ERR_IO;
}

static void sql_failed(sqlite3 *db, const char *sql)
{
    corio_logkv(CORIO_LOG_ERROR, "contracts: SQL failed", "error=%s sql=\"%.60s\"",
                sqlite3_errmsg(db), sql);
}

int corio__ctr_exec(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        sql_failed(db, sql);
        return CORIO_ERR_IO;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = bind_all(s, fmt, ap);
    va_end(ap);
    if (rc == CORIO_OK) {
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW)
            ;
        if (r != SQLITE_DONE) {
            sql_failed(db, sql);
            rc = CORIO_ERR_IO;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

static int vquery(sqlite3 *db, sqlite3_stmt **out, const char *sql, const char *fmt, va_list ap)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        sql_failed(db, sql);
        return CORIO_ERR_IO;
    }
    int rc = bind_all(s, fmt, ap);
    if (rc == CORIO_OK) {
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            *out = s;
            return CORIO_OK;
        }
        if (r == SQLITE_DONE) {
            rc = CORIO_ERR_NOTFOUND;
        } else {
            sql_failed(db, sql);
            rc = CORIO_ERR_IO;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

int corio__ctr_query(sqlite3 *db, sqlite3_stmt **out, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vquery(db, out, sql, fmt, ap);
    va_end(ap);
    return rc;
}

int corio__ctr_int(sqlite3 *db, int64_t *v, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s;
    va_list ap;
    va_start(ap, fmt);
    int rc = vquery(db, &s, sql, fmt, ap);
    va_end(ap);
    if (rc != CORIO_OK)
        return rc;
    *v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return CORIO_OK;
}

int corio__ctr_refuse(struct ctr_apply *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, a->cap, fmt, ap);
    va_end(ap);
    return CORIO_ERR_POLICY;
}

/* ---- parameters and versions ---------------------------------------------------------- */

static const struct param {
    const char *name;
    uint64_t def, min, max;
} params[] = {
    {"vote.quorum", 50, 0, 100},      /* % of the organisations' weight that must vote */
    {"vote.threshold", 50, 1, 100},   /* % of yes among yes + no (see the vote contract) */
    {"vote.period", 10, 1, 10000000}, /* heights a proposal stays open by default */
    {"vote.period_min", 1, 1, 10000000},
    {"vote.period_max", 100000, 1, 10000000},
    {"release.k", 1, 1, CORIO_TX_MAX_ORGS}, /* approvals a release needs */
    {"tx.ttl_max", 10000, 1, 10000000},     /* the furthest expiry a transaction may name */
};

static const struct param *param_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (strlen(params[i].name) == len && !memcmp(params[i].name, name, len))
            return &params[i];
    return NULL;
}

bool corio__ctr_param_valid(const char *name, size_t len, uint64_t value)
{
    const struct param *p = param_find(name, len);
    return p && value >= p->min && value <= p->max;
}

int corio__ctr_param(sqlite3 *db, const char *name, uint64_t *v)
{
    const struct param *p = param_find(name, strlen(name));
    if (!p)
        return CORIO_ERR_INVAL;
    int64_t x;
    int rc = corio__ctr_int(db, &x, "SELECT value FROM ctr_param WHERE name = ?", "z", name);
    if (rc == CORIO_ERR_NOTFOUND) {
        *v = p->def;
        return CORIO_OK;
    }
    if (rc == CORIO_OK)
        *v = (uint64_t)x;
    return rc;
}

int corio__ctr_param_set(sqlite3 *db, const char *name, size_t len, uint64_t value)
{
    return corio__ctr_exec(db,
                           "INSERT INTO ctr_param VALUES(?, ?) ON CONFLICT(name) DO UPDATE"
                           " SET value = excluded.value",
                           "ti", name, len, (int64_t)value);
}

int corio__ctr_version(sqlite3 *db, const char *contract, uint64_t height, uint64_t *v)
{
    int64_t x;
    int rc = corio__ctr_int(
        db, &x, "SELECT max(version) FROM ctr_version WHERE contract = ? AND height <= ?", "zi",
        contract, (int64_t)height);
    if (rc != CORIO_OK)
        return rc;
    *v = x > 0 ? (uint64_t)x : 1;
    return CORIO_OK;
}

/* The highest version of a contract this node implements (0: it knows no such
 * contract, so any version of it is one it lacks). */
static uint64_t supported(const struct ctr_ctx *ctx, const char *contract, size_t len)
{
    if (len == 4 && !memcmp(contract, "vote", 4))
        return ctx->opts.max_vote_version ? ctx->opts.max_vote_version : CORIO_CONTRACT_VOTE_MAX;
    static const char *const v1[] = {"org", "identity", "device", "rights", "release"};
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++)
        if (strlen(v1[i]) == len && !memcmp(v1[i], contract, len))
            return 1;
    return 0;
}

/* ---- identities and organisations ------------------------------------------------------- */

const char *corio__ctr_did_str(const uint8_t id[CORIO_DID_ID_LEN], char buf[CORIO_DID_BUF])
{
    struct corio_did d = {.has_key = false};
    memcpy(d.id, id, CORIO_DID_ID_LEN);
    if (corio_did_format(&d, buf, CORIO_DID_BUF) < 0)
        snprintf(buf, CORIO_DID_BUF, "did:corio:?");
    return buf;
}

int corio__ctr_did_of(const uint8_t key[CORIO_TX_KEY_LEN], uint8_t id[CORIO_DID_ID_LEN])
{
    struct corio_did d;
    int rc = corio_did_from_key(&corio_crypto_openssl_ops, key, CORIO_TX_KEY_LEN, &d);
    if (rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_INVAL)
        return CORIO_ERR_MALFORMED;
    if (rc != CORIO_OK)
        return rc;
    memcpy(id, d.id, CORIO_DID_ID_LEN);
    return CORIO_OK;
}

int corio__ctr_identity(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN], struct ctr_identity *out)
{
    sqlite3_stmt *s;
    int rc =
        corio__ctr_query(db, &s,
                         "SELECT i.kind, i.org, i.key_number, k.key, i.active FROM ctr_identity i"
                         " JOIN ctr_key k ON k.id = i.id AND k.number = i.key_number"
                         " WHERE i.id = ?",
                         "b", id, (size_t)CORIO_DID_ID_LEN);
    if (rc != CORIO_OK)
        return rc;
    memset(out, 0, sizeof *out);
    out->kind = sqlite3_column_int(s, 0);
    out->key_number = (uint32_t)sqlite3_column_int64(s, 2);
    out->active = sqlite3_column_int(s, 4) != 0;
    if (sqlite3_column_bytes(s, 1) != CORIO_DID_ID_LEN ||
        sqlite3_column_bytes(s, 3) != CORIO_TX_KEY_LEN) {
        sqlite3_finalize(s);
        return CORIO_ERR_IO;
    }
    memcpy(out->org, sqlite3_column_blob(s, 1), CORIO_DID_ID_LEN);
    memcpy(out->key, sqlite3_column_blob(s, 3), CORIO_TX_KEY_LEN);
    sqlite3_finalize(s);
    return CORIO_OK;
}

int corio__ctr_identity_create(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN], int kind,
                               const uint8_t org[CORIO_DID_ID_LEN],
                               const uint8_t key[CORIO_TX_KEY_LEN], uint64_t height)
{
    int rc = corio__ctr_exec(db, "INSERT INTO ctr_identity VALUES(?, ?, ?, 0, 1, ?)", "bibi", id,
                             (size_t)CORIO_DID_ID_LEN, (int64_t)kind, org, (size_t)CORIO_DID_ID_LEN,
                             (int64_t)height);
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(db, "INSERT INTO ctr_key VALUES(?, 0, ?, ?)", "bbi", id,
                             (size_t)CORIO_DID_ID_LEN, key, (size_t)CORIO_TX_KEY_LEN,
                             (int64_t)height);
    return rc;
}

int corio__ctr_org(sqlite3 *db, const uint8_t id[CORIO_DID_ID_LEN], struct ctr_org *out)
{
    sqlite3_stmt *s;
    int rc = corio__ctr_query(db, &s,
                              "SELECT weight, threshold, node, approver, active FROM ctr_org"
                              " WHERE id = ?",
                              "b", id, (size_t)CORIO_DID_ID_LEN);
    if (rc != CORIO_OK)
        return rc;
    out->weight = (uint64_t)sqlite3_column_int64(s, 0);
    out->threshold = (uint64_t)sqlite3_column_int64(s, 1);
    out->node = (uint64_t)sqlite3_column_int64(s, 2);
    out->approver = sqlite3_column_int(s, 3) != 0;
    out->active = sqlite3_column_int(s, 4) != 0;
    sqlite3_finalize(s);
    return CORIO_OK;
}

int corio__ctr_require_org(struct ctr_apply *a, const uint8_t org[CORIO_DID_ID_LEN],
                           const uint8_t *exclude)
{
    char did[CORIO_DID_BUF];
    struct ctr_org o;
    int rc = corio__ctr_org(a->db, org, &o);
    if (rc == CORIO_ERR_NOTFOUND || (rc == CORIO_OK && !o.active))
        return corio__ctr_refuse(a, "%s is not a member organisation",
                                 corio__ctr_did_str(org, did));
    if (rc != CORIO_OK)
        return rc;
    uint64_t sum = 0;
    for (size_t i = 0; i < a->nsig; i++) {
        const struct ctr_signer *s = &a->signer[i];
        if (exclude && !memcmp(s->id, exclude, CORIO_DID_ID_LEN))
            continue;
        if (s->kind == CTR_ORG && !memcmp(s->id, org, CORIO_DID_ID_LEN)) {
            sum += o.threshold;
        } else if (s->kind == CTR_PERSON && !memcmp(s->org, org, CORIO_DID_ID_LEN)) {
            int64_t w;
            rc = corio__ctr_int(a->db, &w,
                                "SELECT weight FROM ctr_person WHERE id = ? AND active = 1", "b",
                                s->id, (size_t)CORIO_DID_ID_LEN);
            if (rc == CORIO_OK)
                sum += (uint64_t)w;
            else if (rc != CORIO_ERR_NOTFOUND)
                return rc;
        }
    }
    if (sum < o.threshold)
        return corio__ctr_refuse(a,
                                 "not signed for %s: its signers' weight is %llu of the %llu"
                                 " it needs",
                                 corio__ctr_did_str(org, did), (unsigned long long)sum,
                                 (unsigned long long)o.threshold);
    return CORIO_OK;
}

int corio_contracts_genesis(sqlite3 *db, uint8_t id[CORIO_TX_ID_LEN])
{
    sqlite3_stmt *s;
    int rc = corio__ctr_query(db, &s, "SELECT value FROM ctr_meta WHERE key = 'genesis'", "");
    if (rc != CORIO_OK)
        return rc;
    if (sqlite3_column_bytes(s, 0) == CORIO_TX_ID_LEN)
        memcpy(id, sqlite3_column_blob(s, 0), CORIO_TX_ID_LEN);
    else
        rc = CORIO_ERR_IO;
    sqlite3_finalize(s);
    return rc;
}

/* ---- the state hash ----------------------------------------------------------------------- */

/* One row as a multiset item: the CBOR array [table, column values...]. Integers,
 * text, blobs and NULL are all the contracts store. */
static int row_item(sqlite3_value **v, int n, uint8_t **out, size_t *len)
{
    size_t cap = 16;
    for (int i = 0; i < n; i++)
        cap += 9 + (size_t)sqlite3_value_bytes(v[i]);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return CORIO_ERR_NOSPACE;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_array(&e, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        switch (sqlite3_value_type(v[i])) {
        case SQLITE_INTEGER:
            corio_cbor_put_int(&e, sqlite3_value_int64(v[i]));
            break;
        case SQLITE_TEXT:
            corio_cbor_put_text(&e, (const char *)sqlite3_value_text(v[i]),
                                (size_t)sqlite3_value_bytes(v[i]));
            break;
        case SQLITE_BLOB:
            corio_cbor_put_bytes(&e, sqlite3_value_blob(v[i]), (size_t)sqlite3_value_bytes(v[i]));
            break;
        case SQLITE_NULL:
            corio_cbor_put_null(&e);
            break;
        default: /* a float: the contracts never store one */
            free(buf);
            return CORIO_ERR_INVAL;
        }
    }
    int r = corio_cbor_enc_finish(&e);
    if (r < 0) {
        free(buf);
        return r;
    }
    *out = buf;
    *len = (size_t)r;
    return CORIO_OK;
}

/* ctr_acc_add(acc, table, values...) and ctr_acc_sub(...): the accumulator with one row
 * added or removed. Called by the triggers made in ctr_open. */
static void acc_fn(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    int sign = (int)(intptr_t)sqlite3_user_data(c);
    struct corio_ledger_sethash h;
    if (argc < 2 || sqlite3_value_bytes(argv[0]) != 32) {
        sqlite3_result_error(c, "ctr_acc: bad accumulator", -1);
        return;
    }
    memcpy(h.acc, sqlite3_value_blob(argv[0]), 32);
    uint8_t *item;
    size_t len;
    if (row_item(argv + 1, argc - 1, &item, &len) != CORIO_OK) {
        sqlite3_result_error(c, "ctr_acc: cannot encode the row", -1);
        return;
    }
    int rc = sign > 0 ? corio_ledger_sethash_add(&h, item, len)
                      : corio_ledger_sethash_remove(&h, item, len);
    free(item);
    if (rc != CORIO_OK) {
        sqlite3_result_error(c, "ctr_acc: hash failed", -1);
        return;
    }
    sqlite3_result_blob(c, h.acc, 32, SQLITE_TRANSIENT);
}

static int register_functions(sqlite3 *db)
{
    int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    if (sqlite3_create_function_v2(db, "ctr_acc_add", -1, f, (void *)(intptr_t)1, acc_fn, NULL,
                                   NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function_v2(db, "ctr_acc_sub", -1, f, (void *)(intptr_t)-1, acc_fn, NULL,
                                   NULL, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    return CORIO_OK;
}

/* Appends "PREFIX.c1, PREFIX.c2, ..." of table t to buf. */
static int column_list(sqlite3 *db, const char *t, const char *prefix, char *buf, size_t cap)
{
    sqlite3_stmt *s;
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", t);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    size_t n = strlen(buf);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int w =
            snprintf(buf + n, cap - n, ", %s.%s", prefix, (const char *)sqlite3_column_text(s, 1));
        if (w < 0 || (size_t)w >= cap - n) {
            sqlite3_finalize(s);
            return CORIO_ERR_NOSPACE;
        }
        n += (size_t)w;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

/* The triggers that keep ctr_acc equal to the multiset hash of every row. (No table
 * is written with INSERT OR REPLACE: its implicit delete fires no trigger.) */
static int make_triggers(sqlite3 *db, const char *t)
{
    char newc[1024] = "", oldc[1024] = "", sql[8192];
    int rc = column_list(db, t, "NEW", newc, sizeof newc);
    if (rc == CORIO_OK)
        rc = column_list(db, t, "OLD", oldc, sizeof oldc);
    if (rc != CORIO_OK)
        return rc;
    int w =
        snprintf(sql, sizeof sql,
                 "CREATE TRIGGER IF NOT EXISTS %s_hi AFTER INSERT ON %s BEGIN"
                 " UPDATE ctr_acc SET acc = ctr_acc_add(acc, '%s'%s); END;"
                 "CREATE TRIGGER IF NOT EXISTS %s_hd AFTER DELETE ON %s BEGIN"
                 " UPDATE ctr_acc SET acc = ctr_acc_sub(acc, '%s'%s); END;"
                 "CREATE TRIGGER IF NOT EXISTS %s_hu AFTER UPDATE ON %s BEGIN"
                 " UPDATE ctr_acc SET acc = ctr_acc_add(ctr_acc_sub(acc, '%s'%s), '%s'%s); END;",
                 t, t, t, newc, t, t, t, oldc, t, t, t, oldc, t, newc);
    if (w < 0 || (size_t)w >= sizeof sql)
        return CORIO_ERR_NOSPACE;
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? CORIO_OK : CORIO_ERR_IO;
}

static int digest(const uint8_t acc[32], uint8_t out[32])
{
    uint8_t buf[18 + 32];
    memcpy(buf, "corio-contracts-v1", 18);
    memcpy(buf + 18, acc, 32);
    return SHA256(buf, sizeof buf, out) ? CORIO_OK : CORIO_ERR_CRYPTO;
}

int corio_contracts_state_recompute(sqlite3 *db, uint8_t out[32])
{
    struct corio_ledger_sethash h;
    corio_ledger_sethash_init(&h);
    for (size_t t = 0; t < NTABLES; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT '%s', * FROM %s", tables[t][0], tables[t][0]);
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
            return CORIO_ERR_IO;
        int n = sqlite3_column_count(s), rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            sqlite3_value *v[32];
            for (int i = 0; i < n && i < 32; i++)
                v[i] = sqlite3_column_value(s, i);
            uint8_t *item;
            size_t len;
            int r = row_item(v, n < 32 ? n : 32, &item, &len);
            if (r == CORIO_OK) {
                r = corio_ledger_sethash_add(&h, item, len);
                free(item);
            }
            if (r != CORIO_OK) {
                sqlite3_finalize(s);
                return CORIO_ERR_IO;
            }
        }
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            return CORIO_ERR_IO;
    }
    return digest(h.acc, out);
}

/* ---- the application's callbacks --------------------------------------------------------------
 */

static int ctr_open(void *ctx, sqlite3 *db, char *err, size_t errlen)
{
    (void)ctx;
    int rc = register_functions(db);
    char sql[1024];
    for (size_t t = 0; rc == CORIO_OK && t < NTABLES; t++) {
        snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s(%s) STRICT", tables[t][0],
                 tables[t][1]);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            rc = CORIO_ERR_IO;
    }
    if (rc == CORIO_OK &&
        sqlite3_exec(db,
                     "CREATE TABLE IF NOT EXISTS ctr_acc(one INTEGER PRIMARY KEY CHECK(one = 1),"
                     " acc BLOB NOT NULL) STRICT;"
                     "INSERT OR IGNORE INTO ctr_acc VALUES(1, zeroblob(32));",
                     NULL, NULL, NULL) != SQLITE_OK)
        rc = CORIO_ERR_IO;
    for (size_t t = 0; rc == CORIO_OK && t < NTABLES; t++)
        rc = make_triggers(db, tables[t][0]);
    if (rc == CORIO_OK && sqlite3_exec(db, INDEXES, NULL, NULL, NULL) != SQLITE_OK)
        rc = CORIO_ERR_IO;
    int64_t v = 0;
    if (rc == CORIO_OK) {
        int r = corio__ctr_int(db, &v, "SELECT value FROM ctr_meta WHERE key = 'schema'", "");
        if (r == CORIO_ERR_NOTFOUND)
            rc = corio__ctr_exec(db, "INSERT INTO ctr_meta VALUES('schema', ?)", "i",
                                 (int64_t)SCHEMA_VERSION);
        else if (r != CORIO_OK)
            rc = r;
        else if (v != SCHEMA_VERSION)
            rc = CORIO_ERR_VERSION;
    }
    if (rc != CORIO_OK)
        snprintf(err, errlen, "contracts: %s",
                 rc == CORIO_ERR_VERSION ? "the database has a newer contracts schema"
                                         : sqlite3_errmsg(db));
    return rc;
}

static void ctr_reload(void *ctx, sqlite3 *db)
{
    (void)ctx;
    if (register_functions(db) != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "contracts: cannot register functions after a restore",
                    "error=%s", sqlite3_errmsg(db));
}

static int ctr_tx_id(void *ctx, const uint8_t *tx, size_t len, uint8_t id[CORIO_LEDGER_ID_LEN])
{
    (void)ctx;
    return corio_tx_id(tx, len, id);
}

/* Keys the transaction introduces, by type. */
int corio__ctr_incepting(const struct corio_tx *tx, struct ctr_incept *out, size_t max)
{
    size_t n = 0;
    const uint8_t *args = tx->body.args;
    size_t len = tx->body.args_len;
    if (tx->body.type == CORIO_TX_GENESIS) {
        struct corio_tx_genesis g;
        if (corio_tx_genesis_decode(args, len, &g) != CORIO_OK)
            return 0;
        size_t pos = 0, il;
        const uint8_t *item;
        struct corio_tx_org o;
        while (n < max && corio_tx_item_next(g.orgs, g.orgs_len, &pos, &item, &il) == 1)
            if (corio_tx_org_decode(item, il, &o) == CORIO_OK && o.has_key &&
                corio__ctr_did_of(o.key, out[n].id) == CORIO_OK)
                memcpy(out[n++].key, o.key, CORIO_TX_KEY_LEN);
    } else if (tx->body.type == CORIO_TX_MEMBER_ADD) {
        struct corio_tx_member m;
        if (corio_tx_member_decode(CORIO_TX_MEMBER_ADD, args, len, &m) == CORIO_OK && max &&
            corio__ctr_did_of(m.key, out[0].id) == CORIO_OK) {
            memcpy(out[0].key, m.key, CORIO_TX_KEY_LEN);
            n = 1;
        }
    } else if (tx->body.type == CORIO_TX_PROPOSAL) {
        struct corio_tx_proposal p;
        struct corio_tx_proposal_payload pl;
        struct corio_tx_org o;
        if (corio_tx_proposal_decode(args, len, &p) == CORIO_OK &&
            p.kind == CORIO_PROPOSAL_MEMBERSHIP &&
            corio_tx_payload_decode(p.kind, p.payload, p.payload_len, &pl) == CORIO_OK &&
            pl.action == CORIO_MEMBERSHIP_ADMIT &&
            corio_tx_org_decode(pl.org, pl.org_len, &o) == CORIO_OK && max &&
            corio__ctr_did_of(o.key, out[0].id) == CORIO_OK) {
            memcpy(out[0].key, o.key, CORIO_TX_KEY_LEN);
            n = 1;
        }
    }
    return (int)n;
}

/*
 * What check and apply both do before any contract rule: decode, the ledger id, the
 * expiry, replay, and every signature against its signer's current key (or against a
 * key 0 the transaction introduces). height is the height the transaction would be
 * applied at. Fills a->signer.
 */
static int prepare(struct ctr_apply *a, struct corio_tx *t, const uint8_t *raw, size_t len)
{
    int rc = corio_tx_decode(raw, len, t);
    if (rc != CORIO_OK) {
        snprintf(a->reason, a->cap, "not a transaction of this ledger (%s)", corio_strerror(rc));
        return CORIO_ERR_MALFORMED;
    }
    a->tx = t;
    const char *why = NULL;
    if (corio_tx_args_check(t->body.type, t->body.args, t->body.args_len, &why) != CORIO_OK) {
        snprintf(a->reason, a->cap, "%s", why);
        return CORIO_ERR_MALFORMED;
    }
    uint8_t genesis[CORIO_TX_ID_LEN];
    rc = corio_contracts_genesis(a->db, genesis);
    if (rc != CORIO_OK && rc != CORIO_ERR_NOTFOUND)
        return rc;
    bool have_genesis = rc == CORIO_OK;
    if (t->body.type == CORIO_TX_GENESIS) {
        if (have_genesis)
            return corio__ctr_refuse(a, "the ledger already has its genesis");
    } else if (!have_genesis) {
        return corio__ctr_refuse(a, "the ledger has no genesis yet");
    } else if (memcmp(t->body.ledger, genesis, CORIO_TX_ID_LEN)) {
        return corio__ctr_refuse(a, "made for another ledger (its ledger id is not this"
                                    " ledger's genesis)");
    }
    uint64_t ttl;
    if ((rc = corio__ctr_param(a->db, "tx.ttl_max", &ttl)) != CORIO_OK)
        return rc;
    if (t->body.expires < a->height)
        return corio__ctr_refuse(a, "expired at height %llu", (unsigned long long)t->body.expires);
    if (t->body.expires - a->height > ttl)
        return corio__ctr_refuse(a, "expires too far ahead: at most %llu heights from now",
                                 (unsigned long long)ttl);
    int64_t seen;
    rc = corio__ctr_int(a->db, &seen, "SELECT expires FROM ctr_seen WHERE id = ?", "b", a->id,
                        (size_t)CORIO_TX_ID_LEN);
    if (rc == CORIO_OK)
        return corio__ctr_refuse(a, "replayed: this transaction was already applied");
    if (rc != CORIO_ERR_NOTFOUND)
        return rc;

    struct ctr_incept inc[CORIO_TX_MAX_ORGS];
    int ninc = corio__ctr_incepting(t, inc, CORIO_TX_MAX_ORGS);
    a->nsig = t->nsig;
    for (size_t i = 0; i < t->nsig; i++) {
        const struct corio_did *d = &t->signer[i];
        struct ctr_signer *s = &a->signer[i];
        char did[CORIO_DID_BUF];
        corio__ctr_did_str(d->id, did);
        memcpy(s->id, d->id, CORIO_DID_ID_LEN);
        struct ctr_identity idt;
        const uint8_t *key = NULL;
        rc = corio__ctr_identity(a->db, d->id, &idt);
        if (rc == CORIO_OK) {
            if (!idt.active)
                return corio__ctr_refuse(a, "signer %s is deactivated", did);
            if (d->key != idt.key_number)
                return corio__ctr_refuse(a, "%s signed with key %u; its current key is %u", did,
                                         (unsigned)d->key, (unsigned)idt.key_number);
            s->kind = idt.kind;
            memcpy(s->org, idt.org, CORIO_DID_ID_LEN);
            key = idt.key;
        } else if (rc == CORIO_ERR_NOTFOUND) {
            for (int j = 0; j < ninc && !key; j++)
                if (!memcmp(inc[j].id, d->id, CORIO_DID_ID_LEN))
                    key = inc[j].key;
            if (!key)
                return corio__ctr_refuse(a, "unknown signer %s", did);
            if (d->key != 0)
                return corio__ctr_refuse(a, "%s is new: it signs with key 0", did);
            s->kind = 0;
            memset(s->org, 0, CORIO_DID_ID_LEN);
        } else {
            return rc;
        }
        rc = corio_tx_verify(&corio_crypto_openssl_ops, t, i, key, CORIO_TX_KEY_LEN);
        if (rc == CORIO_ERR_BADSIG)
            return corio__ctr_refuse(a, "the signature of %s does not verify", did);
        if (rc != CORIO_OK)
            return rc == CORIO_ERR_MALFORMED ? corio__ctr_refuse(a, "bad signature by %s", did)
                                             : rc;
    }
    return CORIO_OK;
}

static int ctr_check(void *ctx, sqlite3 *db, const uint8_t *raw, size_t len, char *reason,
                     size_t cap)
{
    const struct ctr_ctx *c = ctx;
    struct corio_store_head head;
    int rc = corio__read_head(db, &head);
    if (rc != CORIO_OK) {
        snprintf(reason, cap, "the node cannot read its ledger");
        return rc;
    }
    uint8_t id[CORIO_TX_ID_LEN];
    if ((rc = corio_tx_id(raw, len, id)) != CORIO_OK)
        return rc;
    struct corio_tx *t = malloc(sizeof *t);
    if (!t)
        return CORIO_ERR_NOSPACE;
    struct ctr_apply a = {
        .ctx = c, .db = db, .height = head.height + 1, .id = id, .reason = reason, .cap = cap};
    rc = prepare(&a, t, raw, len);
    if (rc == CORIO_OK && t->body.type == CORIO_TX_GENESIS && c->opts.pin_genesis &&
        memcmp(id, c->opts.genesis, CORIO_TX_ID_LEN))
        rc = corio__ctr_refuse(&a, "not the genesis this node is configured with");
    /* Only here, never in apply: a version this node lacks is refused when submitted to
     * it (a typo would halt every node at the activation height), while a proposal made
     * elsewhere still applies identically on every node. */
    struct corio_tx_proposal p;
    struct corio_tx_proposal_payload pl;
    if (rc == CORIO_OK && t->body.type == CORIO_TX_PROPOSAL &&
        corio_tx_proposal_decode(t->body.args, t->body.args_len, &p) == CORIO_OK &&
        p.kind == CORIO_PROPOSAL_VERSION &&
        corio_tx_payload_decode(p.kind, p.payload, p.payload_len, &pl) == CORIO_OK &&
        pl.value > supported(c, pl.name, pl.name_len))
        rc = corio__ctr_refuse(&a, "this node does not implement version %llu of %.*s",
                               (unsigned long long)pl.value, (int)pl.name_len, pl.name);
    free(t);
    return rc;
}

static int dispatch(struct ctr_apply *a)
{
    switch (a->tx->body.type) {
    case CORIO_TX_GENESIS:
        return corio__ctr_genesis(a);
    case CORIO_TX_MEMBER_ADD:
        return corio__ctr_member_add(a);
    case CORIO_TX_MEMBER_REMOVE:
        return corio__ctr_member_remove(a);
    case CORIO_TX_DID_ROTATE:
        return corio__ctr_did_rotate(a);
    case CORIO_TX_DEVICE_REGISTER:
        return corio__ctr_device_register(a);
    case CORIO_TX_DEVICE_TRANSFER:
        return corio__ctr_device_transfer(a);
    case CORIO_TX_DEVICE_REVOKE:
        return corio__ctr_device_revoke(a);
    case CORIO_TX_PROPOSAL:
        return corio__ctr_proposal(a);
    case CORIO_TX_VOTE:
        return corio__ctr_vote(a);
    case CORIO_TX_RELEASE_PROPOSE:
        return corio__ctr_release_propose(a);
    case CORIO_TX_RELEASE_APPROVE:
        return corio__ctr_release_approve(a);
    }
    return corio__ctr_refuse(a, "unknown transaction type");
}

static int ctr_apply(void *ctx, struct corio_ledger_block_ctx *b, const uint8_t *raw, size_t len,
                     char *reason, size_t cap)
{
    struct corio_tx *t = malloc(sizeof *t);
    if (!t)
        return CORIO_ERR_NOSPACE;
    struct ctr_apply a = {.ctx = ctx,
                          .db = corio_ledger_block_db(b),
                          .height = corio_ledger_block_height(b),
                          .id = corio_ledger_block_tx_id(b),
                          .reason = reason,
                          .cap = cap};
    int rc = prepare(&a, t, raw, len);
    if (rc == CORIO_OK)
        rc = dispatch(&a);
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(a.db, "INSERT INTO ctr_seen VALUES(?, ?)", "bi", a.id,
                             (size_t)CORIO_TX_ID_LEN, (int64_t)t->body.expires);
    if ((rc == CORIO_ERR_POLICY || rc == CORIO_ERR_MALFORMED) && !reason[0])
        snprintf(reason, cap, "refused (%s)", corio_strerror(rc));
    free(t);
    return rc;
}

static int ctr_begin_block(void *ctx, struct corio_ledger_block_ctx *b)
{
    const struct ctr_ctx *c = ctx;
    sqlite3 *db = corio_ledger_block_db(b);
    uint64_t h = corio_ledger_block_height(b);
    /* A contract version in force that this build lacks: halt rather than fork. */
    sqlite3_stmt *s;
    int rc = corio__ctr_query(db, &s,
                              "SELECT contract, max(version) FROM ctr_version WHERE height <= ?"
                              " GROUP BY contract",
                              "i", (int64_t)h);
    if (rc == CORIO_OK) {
        do {
            const char *name = (const char *)sqlite3_column_text(s, 0);
            size_t nl = (size_t)sqlite3_column_bytes(s, 0);
            uint64_t v = (uint64_t)sqlite3_column_int64(s, 1);
            if (v > supported(c, name, nl)) {
                corio_logkv(CORIO_LOG_ERROR,
                            "contracts: a contract version in force is not in this build;"
                            " halting rather than forking: upgrade the node",
                            "contract=%.*s version=%llu height=%llu", (int)nl, name,
                            (unsigned long long)v, (unsigned long long)h);
                rc = CORIO_ERR_UNSUPPORTED;
            }
        } while (rc == CORIO_OK && sqlite3_step(s) == SQLITE_ROW);
        sqlite3_finalize(s);
    } else if (rc == CORIO_ERR_NOTFOUND) {
        rc = CORIO_OK;
    }
    if (rc == CORIO_OK)
        rc = corio__ctr_exec(db, "DELETE FROM ctr_seen WHERE expires < ?", "i", (int64_t)h);
    if (rc == CORIO_OK)
        rc = corio__ctr_close_proposals(db, h, c);
    return rc;
}

static int ctr_state_hash(void *ctx, struct corio_ledger_block_ctx *b, uint8_t out[32])
{
    (void)ctx;
    sqlite3_stmt *s;
    int rc = corio__ctr_query(corio_ledger_block_db(b), &s, "SELECT acc FROM ctr_acc", "");
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_NOTFOUND ? CORIO_ERR_IO : rc;
    if (sqlite3_column_bytes(s, 0) != 32) {
        sqlite3_finalize(s);
        return CORIO_ERR_IO;
    }
    uint8_t acc[32];
    memcpy(acc, sqlite3_column_blob(s, 0), 32);
    sqlite3_finalize(s);
    return digest(acc, out);
}

static int ctr_members(void *ctx, sqlite3 *db, struct corio_ledger_member *out, size_t max)
{
    (void)ctx;
    uint8_t g[CORIO_TX_ID_LEN];
    int rc = corio_contracts_genesis(db, g);
    if (rc != CORIO_OK)
        return rc;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT node, address, api FROM ctr_org WHERE active = 1 ORDER BY node",
                           -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    size_t n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n < max) {
            out[n].id = (uint64_t)sqlite3_column_int64(s, 0);
            snprintf(out[n].address, sizeof out[n].address, "%s", sqlite3_column_text(s, 1));
            snprintf(out[n].api, sizeof out[n].api, "%s", sqlite3_column_text(s, 2));
        }
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? (int)n : CORIO_ERR_IO;
}

static void ctr_close(void *ctx)
{
    (void)ctx;
}

/* The views of api_views.c, served by the engine's HTTP API (docs/ledger-contracts.md,
 * "API views"): one pattern per depth under the prefix, and W3C DID Resolution. */
static const char *const view_routes[] = {
    "/api/v1/contracts/{a}",
    "/api/v1/contracts/{a}/{b}",
    "/api/v1/contracts/{a}/{b}/{c}",
    "/1.0/identifiers/{did}",
    NULL,
};

static int ctr_route(void *ctx, sqlite3 *db, const char *path, struct corio_ledger_view *out)
{
    (void)ctx;
    return corio_ledger_view_route(db, path, out);
}

static struct ctr_ctx default_ctx;
static const struct corio_ledger_app default_app = {
    .name = "contracts",
    .ctx = &default_ctx,
    .open = ctr_open,
    .check = ctr_check,
    .tx_id = ctr_tx_id,
    .begin_block = ctr_begin_block,
    .apply = ctr_apply,
    .state_hash = ctr_state_hash,
    .members = ctr_members,
    .routes = view_routes,
    .route = ctr_route,
    .reload = ctr_reload,
    .close = ctr_close,
};

const struct corio_ledger_app *corio_contracts_app(void)
{
    return &default_app;
}

struct corio_ledger_app *corio_contracts_app_new(const struct corio_contracts_opts *opts)
{
    struct corio_ledger_app *app = malloc(sizeof *app);
    struct ctr_ctx *c = calloc(1, sizeof *c);
    if (!app || !c) {
        free(app);
        free(c);
        return NULL;
    }
    if (opts)
        c->opts = *opts;
    *app = default_app;
    app->ctx = c;
    return app;
}

void corio_contracts_app_free(struct corio_ledger_app *app)
{
    if (app) {
        free(app->ctx);
        free(app);
    }
}
