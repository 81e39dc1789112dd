/*
 * nullapp.c - the null application: enough meaning for transactions to test the engine
 * without the contracts. It accepts any transaction and keeps a small deterministic
 * state; a few CBOR commands give tests control over it:
 *
 *   ["put", key (text, 1..256 bytes), value (bytes or text, up to 64 KiB)]
 *   ["del", key]                                   refused when the key is absent
 *   ["members", [[id, "host:port", "http://host:port"], ...]]   the expected members
 *   ["refuse", reason (text)]                      always refused, with that reason
 *
 * Anything else (other bytes, other commands) is accepted and only counted. A known
 * command of the wrong shape is refused by check, and by apply (deterministically) if
 * it gets that far.
 *
 * State: null_kv(key, value) and null_meta ('acc': the multiset hash of the kv rows,
 * 'opaque': how many other transactions were accepted, 'members': the members list as
 * CBOR). The state hash is
 *   SHA-256("corio-null-v1" || acc || SHA-256(members) || opaque as 8 bytes big-endian)
 * and corio_ledger_null_state_recompute() computes it from the tables alone.
 * No caches: everything lives in the database, so snapshots and rebuilds need nothing
 * else, and one static instance serves any number of nodes in a process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "ledger_app.h"
#include "corio/cbor.h"
#include "corio/error.h"
#include "ledger_store.h"

#define KEY_MAX   256
#define VALUE_MAX 65536

enum op { OP_OPAQUE, OP_PUT, OP_DEL, OP_MEMBERS, OP_REFUSE };

struct cmd {
    enum op op;
    const char *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    const char *reason;
    size_t reason_len;
    struct corio_ledger_member members[CORIO_STORE_MAX_MEMBERS];
    size_t nmembers;
    const uint8_t *members_raw; /* the members array item, as sent */
    size_t members_raw_len;
};

/* Parses tx. Returns CORIO_OK with c filled (OP_OPAQUE for anything not a known
 * command), or CORIO_ERR_MALFORMED with a reason for a known command of the wrong
 * shape. */
static int parse(const uint8_t *tx, size_t len, struct cmd *c, char *reason, size_t cap)
{
    memset(c, 0, sizeof *c);
    if (corio_cbor_wellformed(tx, len) != CORIO_OK)
        return CORIO_OK;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, tx, len);
    uint64_t n;
    const char *op;
    size_t op_len;
    if (corio_cbor_expect_array(&d, &n) != CORIO_OK || n == 0 || n == CORIO_CBOR_INDEFINITE ||
        corio_cbor_expect_text(&d, &op, &op_len) != CORIO_OK)
        return CORIO_OK;
#define IS(word) (op_len == sizeof(word) - 1 && memcmp(op, word, op_len) == 0)
#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(reason, cap, __VA_ARGS__);                                                        \
        return CORIO_ERR_MALFORMED;                                                                \
    } while (0)
    if (IS("put") || IS("del")) {
        c->op = IS("put") ? OP_PUT : OP_DEL;
        if (n != (c->op == OP_PUT ? 3u : 2u))
            BAD("%s takes %s", c->op == OP_PUT ? "put" : "del",
                c->op == OP_PUT ? "a key and a value" : "a key");
        if (corio_cbor_expect_text(&d, &c->key, &c->key_len) != CORIO_OK || c->key_len == 0 ||
            c->key_len > KEY_MAX)
            BAD("the key must be text of 1 to %d bytes", KEY_MAX);
        if (c->op == OP_PUT) {
            struct corio_cbor_item it;
            if (corio_cbor_next(&d, &it) != CORIO_OK ||
                (it.type != CORIO_CBOR_BYTES && it.type != CORIO_CBOR_TEXT) || it.indefinite ||
                it.len > VALUE_MAX)
                BAD("the value must be bytes or text of at most %d bytes", VALUE_MAX);
            c->value = it.ptr;
            c->value_len = it.len;
        }
    } else if (IS("refuse")) {
        c->op = OP_REFUSE;
        if (n != 2 || corio_cbor_expect_text(&d, &c->reason, &c->reason_len) != CORIO_OK ||
            c->reason_len == 0 || c->reason_len > CORIO_BLOCK_MAX_REASON)
            BAD("refuse takes a reason of 1 to %d bytes", CORIO_BLOCK_MAX_REASON);
    } else if (IS("members")) {
        c->op = OP_MEMBERS;
        uint64_t m;
        size_t start = corio_cbor_dec_offset(&d);
        if (n != 2 || corio_cbor_expect_array(&d, &m) != CORIO_OK || m == 0 ||
            m > CORIO_STORE_MAX_MEMBERS)
            BAD("members takes a list of 1 to %d members", CORIO_STORE_MAX_MEMBERS);
        for (uint64_t i = 0; i < m; i++) {
            struct corio_ledger_member *mb = &c->members[i];
            uint64_t k;
            const char *addr, *api;
            size_t alen, plen;
            if (corio_cbor_expect_array(&d, &k) != CORIO_OK || k != 3 ||
                corio_cbor_expect_uint(&d, &mb->id) != CORIO_OK || mb->id == 0 ||
                corio_cbor_expect_text(&d, &addr, &alen) != CORIO_OK || alen == 0 ||
                alen > CORIO_LEDGER_ADDRESS_MAX ||
                corio_cbor_expect_text(&d, &api, &plen) != CORIO_OK ||
                plen > CORIO_LEDGER_ADDRESS_MAX || memchr(addr, 0, alen) || memchr(api, 0, plen))
                BAD("a member is [id > 0, \"host:port\", \"http://host:port\"]");
            memcpy(mb->address, addr, alen);
            mb->address[alen] = 0;
            memcpy(mb->api, api, plen);
            mb->api[plen] = 0;
            for (uint64_t j = 0; j < i; j++)
                if (c->members[j].id == mb->id || !strcmp(c->members[j].address, mb->address))
                    BAD("member %llu is listed twice", (unsigned long long)mb->id);
        }
        c->nmembers = (size_t)m;
        c->members_raw = tx + start;
        c->members_raw_len = corio_cbor_dec_offset(&d) - start;
    } else {
        return CORIO_OK;
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        BAD("trailing data after the command");
#undef IS
#undef BAD
    return CORIO_OK;
}

/* ---- storage ------------------------------------------------------------------------- */

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? CORIO_OK : CORIO_ERR_IO;
}

static int null_open(void *ctx, sqlite3 *db, char *err, size_t errlen)
{
    (void)ctx;
    int rc = exec(db, "CREATE TABLE IF NOT EXISTS null_kv(key TEXT PRIMARY KEY,"
                      " value BLOB NOT NULL) STRICT;"
                      "CREATE TABLE IF NOT EXISTS null_meta(key TEXT PRIMARY KEY, value ANY)"
                      " STRICT;"
                      "INSERT OR IGNORE INTO null_meta VALUES('acc', zeroblob(32)),"
                      " ('opaque', 0), ('members', x'');");
    if (rc != CORIO_OK)
        snprintf(err, errlen, "null application: %s", sqlite3_errmsg(db));
    return rc;
}

static int meta_get(sqlite3 *db, const char *key, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v2(db, "SELECT value FROM null_meta WHERE key = ?", -1, out, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_text(*out, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(*out) != SQLITE_ROW) {
        sqlite3_finalize(*out);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

static int meta_put_blob(sqlite3 *db, const char *key, const void *v, size_t n)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "UPDATE null_meta SET value = ? WHERE key = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_blob(s, 1, n ? v : "", (int)n, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

static int acc_get(sqlite3 *db, struct corio_ledger_sethash *h)
{
    sqlite3_stmt *s;
    int rc = meta_get(db, "acc", &s);
    if (rc != CORIO_OK)
        return rc;
    if (sqlite3_column_bytes(s, 0) != 32)
        rc = CORIO_ERR_IO;
    else
        memcpy(h->acc, sqlite3_column_blob(s, 0), 32);
    sqlite3_finalize(s);
    return rc;
}

/* The multiset item of a kv row: key length (4 bytes big-endian), key, value. */
static int item_update(struct corio_ledger_sethash *h, const char *key, size_t klen,
                       const void *value, size_t vlen, bool add)
{
    uint8_t *item = malloc(4 + klen + vlen);
    if (!item)
        return CORIO_ERR_NOSPACE;
    item[0] = (uint8_t)(klen >> 24);
    item[1] = (uint8_t)(klen >> 16);
    item[2] = (uint8_t)(klen >> 8);
    item[3] = (uint8_t)klen;
    memcpy(item + 4, key, klen);
    if (vlen)
        memcpy(item + 4 + klen, value, vlen);
    int rc = add ? corio_ledger_sethash_add(h, item, 4 + klen + vlen)
                 : corio_ledger_sethash_remove(h, item, 4 + klen + vlen);
    free(item);
    return rc;
}

/* Removes the row's current item from h if the row exists; *found says whether it did. */
static int remove_old(sqlite3 *db, struct corio_ledger_sethash *h, const char *key, size_t klen,
                      bool *found)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT value FROM null_kv WHERE key = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(s), out = CORIO_OK;
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        out = item_update(h, key, klen, sqlite3_column_blob(s, 0),
                          (size_t)sqlite3_column_bytes(s, 0), false);
    else if (rc != SQLITE_DONE)
        out = CORIO_ERR_IO;
    sqlite3_finalize(s);
    return out;
}

static int null_check(void *ctx, sqlite3 *db, const uint8_t *tx, size_t len, char *reason,
                      size_t cap)
{
    (void)ctx;
    (void)db;
    struct cmd c;
    return parse(tx, len, &c, reason, cap);
}

static int null_apply(void *ctx, struct corio_ledger_block_ctx *b, const uint8_t *tx, size_t len,
                      char *reason, size_t cap)
{
    (void)ctx;
    sqlite3 *db = corio_ledger_block_db(b);
    struct cmd c;
    int rc = parse(tx, len, &c, reason, cap);
    if (rc != CORIO_OK)
        return rc;
    switch (c.op) {
    case OP_REFUSE:
        snprintf(reason, cap, "%.*s", (int)c.reason_len, c.reason);
        return CORIO_ERR_POLICY;
    case OP_OPAQUE:
        return exec(db, "UPDATE null_meta SET value = value + 1 WHERE key = 'opaque'");
    case OP_MEMBERS:
        return meta_put_blob(db, "members", c.members_raw, c.members_raw_len);
    case OP_PUT:
    case OP_DEL:
        break;
    }
    struct corio_ledger_sethash h;
    bool found;
    if ((rc = acc_get(db, &h)) != CORIO_OK || (rc = remove_old(db, &h, c.key, c.key_len, &found)))
        return rc;
    if (c.op == OP_DEL && !found) {
        snprintf(reason, cap, "no such key");
        return CORIO_ERR_POLICY;
    }
    sqlite3_stmt *s;
    const char *sql = c.op == OP_PUT ? "INSERT OR REPLACE INTO null_kv VALUES(?, ?)"
                                     : "DELETE FROM null_kv WHERE key = ?";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_bind_text(s, 1, c.key, (int)c.key_len, SQLITE_STATIC);
    if (c.op == OP_PUT)
        sqlite3_bind_blob(s, 2, c.value_len ? (const void *)c.value : "", (int)c.value_len,
                          SQLITE_STATIC);
    rc = sqlite3_step(s) == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
    sqlite3_finalize(s);
    if (rc == CORIO_OK && c.op == OP_PUT)
        rc = item_update(&h, c.key, c.key_len, c.value, c.value_len, true);
    if (rc == CORIO_OK)
        rc = meta_put_blob(db, "acc", h.acc, 32);
    return rc;
}

/* The state hash from the accumulator, the members and the opaque count. */
static int digest(sqlite3 *db, const uint8_t acc[32], uint8_t out[32])
{
    sqlite3_stmt *s;
    int rc = meta_get(db, "members", &s);
    if (rc != CORIO_OK)
        return rc;
    uint8_t mh[32];
    SHA256(sqlite3_column_bytes(s, 0) ? sqlite3_column_blob(s, 0) : (const void *)"",
           (size_t)sqlite3_column_bytes(s, 0), mh);
    sqlite3_finalize(s);
    if ((rc = meta_get(db, "opaque", &s)) != CORIO_OK)
        return rc;
    uint64_t opaque = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    uint8_t buf[13 + 32 + 32 + 8];
    memcpy(buf, "corio-null-v1", 13);
    memcpy(buf + 13, acc, 32);
    memcpy(buf + 45, mh, 32);
    for (int i = 0; i < 8; i++)
        buf[77 + i] = (uint8_t)(opaque >> (56 - 8 * i));
    return SHA256(buf, sizeof buf, out) ? CORIO_OK : CORIO_ERR_CRYPTO;
}

static int null_state_hash(void *ctx, struct corio_ledger_block_ctx *b, uint8_t out[32])
{
    (void)ctx;
    sqlite3 *db = corio_ledger_block_db(b);
    struct corio_ledger_sethash h;
    int rc = acc_get(db, &h);
    return rc == CORIO_OK ? digest(db, h.acc, out) : rc;
}

int corio_ledger_null_state_recompute(sqlite3 *db, uint8_t out[32])
{
    struct corio_ledger_sethash h;
    corio_ledger_sethash_init(&h);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM null_kv", -1, &s, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    int rc, res = CORIO_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && res == CORIO_OK)
        res = item_update(&h, (const char *)sqlite3_column_text(s, 0),
                          (size_t)sqlite3_column_bytes(s, 0), sqlite3_column_blob(s, 1),
                          (size_t)sqlite3_column_bytes(s, 1), true);
    sqlite3_finalize(s);
    if (res != CORIO_OK)
        return res;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return CORIO_ERR_IO;
    return digest(db, h.acc, out);
}

static int null_members(void *ctx, sqlite3 *db, struct corio_ledger_member *out, size_t max)
{
    (void)ctx;
    sqlite3_stmt *s;
    int rc = meta_get(db, "members", &s);
    if (rc != CORIO_OK)
        return rc;
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    if (n == 0) {
        sqlite3_finalize(s);
        return CORIO_ERR_NOTFOUND;
    }
    /* Re-parse the stored list through the command parser: ["members", <list>]. */
    uint8_t *tx = malloc(9 + n);
    if (!tx) {
        sqlite3_finalize(s);
        return CORIO_ERR_NOSPACE;
    }
    static const uint8_t head[9] = {0x82, 0x67, 'm', 'e', 'm', 'b', 'e', 'r', 's'};
    memcpy(tx, head, 9);
    memcpy(tx + 9, sqlite3_column_blob(s, 0), n);
    sqlite3_finalize(s);
    struct cmd *c = malloc(sizeof *c);
    char reason[64];
    rc = c ? parse(tx, 9 + n, c, reason, sizeof reason) : CORIO_ERR_NOSPACE;
    if (rc == CORIO_OK && c->op != OP_MEMBERS)
        rc = CORIO_ERR_IO;
    if (rc == CORIO_OK) {
        for (size_t i = 0; i < c->nmembers && i < max; i++)
            out[i] = c->members[i];
        rc = (int)c->nmembers;
    }
    free(c);
    free(tx);
    return rc;
}

static struct corio_ledger_app null_app = {
    .name = "null",
    .open = null_open,
    .check = null_check,
    .apply = null_apply,
    .state_hash = null_state_hash,
    .members = null_members,
};

const struct corio_ledger_app *corio_ledger_null_app(void)
{
    return &null_app;
}
