/*
 * downlink.c - corio-gateway's side of the downlink (downlink.h; docs/downlink.md).
 *
 * The queue is a SQLite file of the daemon's own, beside the outbox (which belongs to
 * the plugin): an item stays there from the container that brought it until the
 * device's answer passes through the outbox, or its expiry. Nothing here is a broker
 * queue: a publish to dn/cmd is only an attempt, made again while the device stays
 * online without answering and whenever it comes back.
 *
 * The outbox is read, never written, from the position the daemon has reached; every
 * loop takes a bounded slice of new rows, so a gateway that starts with a long outbox
 * catches up over a few loops.
 */
#include "downlink.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "corio/device.h"
#include "corio/downlink.h"
#include "corio/error.h"
#include "corio/topic.h"
#include "corio_log.h"
#include "corio_sqlite.h"
#include "crypto_openssl.h"
#include "down.h"
#include "local_client.h"
#include "outbox.h"
#include "relay.h"

#define SCAN_MS        200             /* how often online devices are checked for due items */
#define PURGE_MS       1000            /* expiry and counts */
#define REOPEN_MS      1000            /* the outbox file replaced? */
#define STATE_MIN_MS   1000            /* state messages at most this often */
#define OUTBOX_SLICE   512             /* outbox rows read per loop */
#define MAX_PENDING    4096            /* publishes awaiting the broker's PUBACK */
#define PLAUSIBLE_MS   1577836800000LL /* 2020-01-01: an earlier clock is not set */
#define CONFIG_LIFE_MS (7LL * 24 * 3600 * 1000) /* a configuration waits at most a week */

/* ---- the queue's schema ------------------------------------------------------------ */

static const char *const schema[] = {
    /* 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) STRICT;"
    "CREATE TABLE items("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"              /* 1 command, 2 configuration */
    "  cid BLOB,"                           /* command: its correlation id */
    "  version INTEGER NOT NULL DEFAULT 0," /* configuration: its version */
    "  expires_ms INTEGER NOT NULL,"        /* command: its expiry; configuration: a week */
    "  payload BLOB NOT NULL,"              /* the dn/cmd or dn/cfg payload */
    "  received_ms INTEGER NOT NULL,"
    "  deliveries INTEGER NOT NULL DEFAULT 0,"
    "  last_ms INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE UNIQUE INDEX items_cmd ON items(device, cid) WHERE kind = 1;"
    "CREATE UNIQUE INDEX items_cfg ON items(device) WHERE kind = 2;"
    "CREATE INDEX items_device ON items(device, id);"
    "CREATE TABLE done(device TEXT NOT NULL, cid BLOB NOT NULL, expires_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(device, cid)) STRICT, WITHOUT ROWID;",
};

enum stmt {
    S_INSERT_CMD,
    S_DONE_HAS,
    S_CFG_VERSION,
    S_CFG_DELETE,
    S_INSERT_CFG,
    S_COUNT_DEVICE,
    S_COUNT,
    S_DEVICE_ITEMS,
    S_TOUCH,
    S_DELIVERED,
    S_CMD_EXPIRES,
    S_CMD_DELETE,
    S_DONE_INSERT,
    S_CFG_ANSWERED,
    S_PURGE,
    S_PURGE_DONE,
    S_META_GET,
    S_META_PUT,
    S_NSTMT
};

static const char *const sql[S_NSTMT] = {
    [S_INSERT_CMD] = "INSERT OR IGNORE INTO items(device, kind, cid, expires_ms, payload, "
                     "received_ms) VALUES(?, 1, ?, ?, ?, ?)",
    [S_DONE_HAS] = "SELECT 1 FROM done WHERE device = ? AND cid = ?",
    [S_CFG_VERSION] = "SELECT version FROM items WHERE kind = 2 AND device = ?",
    [S_CFG_DELETE] = "DELETE FROM items WHERE kind = 2 AND device = ?",
    [S_INSERT_CFG] = "INSERT INTO items(device, kind, version, expires_ms, payload, received_ms) "
                     "VALUES(?, 2, ?, ?, ?, ?)",
    [S_COUNT_DEVICE] = "SELECT COUNT(*) FROM items WHERE device = ?",
    [S_COUNT] = "SELECT COUNT(*) FROM items",
    [S_DEVICE_ITEMS] = "SELECT id, kind, cid, expires_ms, payload FROM items WHERE device = ? "
                       "ORDER BY id",
    [S_TOUCH] = "UPDATE items SET last_ms = ? WHERE id = ?",
    [S_DELIVERED] = "UPDATE items SET deliveries = deliveries + 1 WHERE id = ?",
    [S_CMD_EXPIRES] = "SELECT expires_ms FROM items WHERE kind = 1 AND device = ? AND cid = ?",
    [S_CMD_DELETE] = "DELETE FROM items WHERE kind = 1 AND device = ? AND cid = ?",
    [S_DONE_INSERT] = "INSERT OR REPLACE INTO done(device, cid, expires_ms) VALUES(?, ?, ?)",
    [S_CFG_ANSWERED] = "DELETE FROM items WHERE kind = 2 AND device = ? AND version <= ?",
    [S_PURGE] = "DELETE FROM items WHERE expires_ms < ?",
    [S_PURGE_DONE] = "DELETE FROM done WHERE expires_ms < ?",
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?",
    [S_META_PUT] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)",
};

/* ---- state ------------------------------------------------------------------------- */

struct dev {
    char id[CORIO_SHORT_ID_LEN + 1]; /* "" : a free slot */
    bool online;
    bool time_due;         /* dn/time owed */
    int64_t next_delivery; /* its items are due from then on (0: now) */
};

struct pending {
    int mid;
    int64_t item;
    char device[CORIO_SHORT_ID_LEN + 1];
    bool cmd;
    uint8_t cid[CORIO_CMD_CID_MAX];
    size_t cid_len;
};

struct corio_downlink {
    struct corio_downlink_options o;
    corio_local_client *local; /* borrowed */
    char gateway[CORIO_SHORT_ID_LEN + 1];
    char *outbox_path, *registry_path;
    uint8_t cloud_key[65];
    bool has_cloud_key;
    uint8_t (*ledger_keys)[33];

    sqlite3 *db;
    sqlite3_stmt *st[S_NSTMT];

    corio_outbox *ob;
    dev_t ob_dev;
    ino_t ob_ino;
    int64_t after; /* outbox rows up to this id have been read */
    int64_t last_reopen;

    struct dev *devs; /* open addressing, cap a power of two */
    size_t ndevs, cap;
    int64_t online;

    struct pending pend[MAX_PENDING];
    size_t npend;
    struct corio_state_cid *delivered; /* for the next state message */
    size_t ndelivered;

    bool state_due;
    int64_t last_state, last_scan, last_purge, last_time_round, last_refusal_log;
    uint64_t want; /* registry relays wanted from this height; 0: none */
    int64_t clock_offset;
    bool have_offset;
    struct corio_downlink_stats s;
};

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static struct dev *dev_get(corio_downlink *dl, const char *id, bool create)
{
    if (!id || strlen(id) != CORIO_SHORT_ID_LEN)
        return NULL;
    if (create && (dl->ndevs + 1) * 2 > dl->cap) {
        size_t cap = dl->cap ? dl->cap * 2 : 256;
        struct dev *nd = calloc(cap, sizeof *nd);
        if (!nd)
            return NULL;
        for (size_t i = 0; i < dl->cap; i++) {
            if (!dl->devs[i].id[0])
                continue;
            size_t j = fnv(dl->devs[i].id) & (cap - 1);
            while (nd[j].id[0])
                j = (j + 1) & (cap - 1);
            nd[j] = dl->devs[i];
        }
        free(dl->devs);
        dl->devs = nd;
        dl->cap = cap;
    }
    if (!dl->cap)
        return NULL;
    size_t j = fnv(id) & (dl->cap - 1);
    while (dl->devs[j].id[0]) {
        if (strcmp(dl->devs[j].id, id) == 0)
            return &dl->devs[j];
        j = (j + 1) & (dl->cap - 1);
    }
    if (!create)
        return NULL;
    memset(&dl->devs[j], 0, sizeof dl->devs[j]);
    memcpy(dl->devs[j].id, id, CORIO_SHORT_ID_LEN + 1);
    dl->ndevs++;
    return &dl->devs[j];
}

static sqlite3_stmt *stmt(corio_downlink *dl, enum stmt s)
{
    sqlite3_stmt *st = dl->st[s];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int64_t count(corio_downlink *dl, const char *device)
{
    sqlite3_stmt *st = stmt(dl, device ? S_COUNT_DEVICE : S_COUNT);
    if (device)
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return n;
}

static bool exec_ok(corio_downlink *dl, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        corio_logkv(CORIO_LOG_ERROR, "downlink queue failed", "what=%s error=%s", what,
                    sqlite3_errmsg(dl->db));
        return false;
    }
    return true;
}

static int meta_blob(corio_downlink *dl, const char *key, void *out, size_t len)
{
    sqlite3_stmt *st = stmt(dl, S_META_GET);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = CORIO_ERR_NOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == len &&
        sqlite3_column_type(st, 0) == SQLITE_BLOB) {
        memcpy(out, sqlite3_column_blob(st, 0), len);
        rc = CORIO_OK;
    }
    sqlite3_reset(st);
    return rc;
}

static void meta_put_blob(corio_downlink *dl, const char *key, const void *p, size_t len)
{
    sqlite3_stmt *st = stmt(dl, S_META_PUT);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, p, (int)len, SQLITE_STATIC);
    exec_ok(dl, st, "meta");
}

/* ---- publishing to devices ---------------------------------------------------------- */

static int publish_dn(corio_downlink *dl, enum corio_topic_kind kind, const char *device,
                      const void *payload, size_t len)
{
    char topic[CORIO_TOPIC_MAX];
    if (corio_topic_build(kind, device, topic, sizeof topic) < 0)
        return CORIO_ERR_INVAL;
    return corio_local_client_publish(dl->local, topic, payload, len);
}

static int64_t cloud_now(const corio_downlink *dl, int64_t now_ms)
{
    return dl->o.time_from_cloud ? (dl->have_offset ? now_ms + dl->clock_offset : 0) : now_ms;
}

static void send_time(corio_downlink *dl, struct dev *d, int64_t now_ms)
{
    d->time_due = false;
    int64_t t = cloud_now(dl, now_ms);
    if (t < PLAUSIBLE_MS)
        return; /* no trustworthy clock: better no time than a wrong one */
    uint8_t buf[32];
    int n = corio_device_time_encode((uint64_t)t, buf, sizeof buf);
    if (n > 0 && publish_dn(dl, CORIO_TOPIC_DN_TIME, d->id, buf, (size_t)n) > 0)
        dl->s.times++;
}

/* Publishes every queued item of an online device; expired commands are left to the
 * purge. */
static void deliver_device(corio_downlink *dl, struct dev *d, int64_t now_ms)
{
    d->next_delivery = now_ms + dl->o.retry_ms;
    sqlite3_stmt *st = stmt(dl, S_DEVICE_ITEMS);
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    /* Collect first: publishing and touching rows while the select runs is allowed by
     * SQLite but keeps the read open; the list is short (bounded per device). */
    struct item {
        int64_t id;
        int kind;
        int64_t expires;
        uint8_t cid[CORIO_CMD_CID_MAX];
        size_t cid_len;
        void *payload;
        size_t len;
    } *items = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct item *p = realloc(items, nc * sizeof *p);
            if (!p)
                break;
            items = p;
            cap = nc;
        }
        struct item *it = &items[n];
        it->id = sqlite3_column_int64(st, 0);
        it->kind = sqlite3_column_int(st, 1);
        it->expires = sqlite3_column_int64(st, 3);
        it->cid_len = (size_t)sqlite3_column_bytes(st, 2);
        if (it->cid_len > sizeof it->cid)
            it->cid_len = 0;
        if (it->cid_len)
            memcpy(it->cid, sqlite3_column_blob(st, 2), it->cid_len);
        it->len = (size_t)sqlite3_column_bytes(st, 4);
        it->payload = malloc(it->len ? it->len : 1);
        if (!it->payload)
            break;
        memcpy(it->payload, sqlite3_column_blob(st, 4), it->len);
        n++;
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        bool cmd = it->kind == 1;
        int mid = 0;
        if ((!cmd || it->expires >= now_ms) && dl->npend < MAX_PENDING)
            mid = publish_dn(dl, cmd ? CORIO_TOPIC_DN_CMD : CORIO_TOPIC_DN_CFG, d->id, it->payload,
                             it->len);
        else if (dl->npend >= MAX_PENDING)
            mid = -1;
        if (mid > 0) {
            struct pending *p = &dl->pend[dl->npend++];
            p->mid = mid;
            p->item = it->id;
            p->cmd = cmd;
            memcpy(p->device, d->id, sizeof p->device);
            p->cid_len = it->cid_len;
            memcpy(p->cid, it->cid, it->cid_len);
            sqlite3_stmt *t = stmt(dl, S_TOUCH);
            sqlite3_bind_int64(t, 1, now_ms);
            sqlite3_bind_int64(t, 2, it->id);
            exec_ok(dl, t, "touch");
        } else if (mid < 0) {
            d->next_delivery = now_ms + SCAN_MS; /* the client could not take it now */
        }
        free(it->payload);
    }
    free(items);
}

void corio_downlink_puback(corio_downlink *dl, int mid)
{
    for (size_t i = 0; i < dl->npend; i++) {
        if (dl->pend[i].mid != mid)
            continue;
        struct pending p = dl->pend[i];
        dl->pend[i] = dl->pend[--dl->npend];
        dl->s.delivered++;
        sqlite3_stmt *st = stmt(dl, S_DELIVERED);
        sqlite3_bind_int64(st, 1, p.item);
        exec_ok(dl, st, "delivered");
        if (p.cmd && p.cid_len && dl->ndelivered < CORIO_STATE_MAX_CIDS) {
            struct corio_state_cid *c = &dl->delivered[dl->ndelivered++];
            memcpy(c->device, p.device, sizeof c->device);
            memcpy(c->cid, p.cid, p.cid_len);
            c->cid_len = p.cid_len;
            dl->state_due = true;
        }
        return;
    }
}

void corio_downlink_local_up(corio_downlink *dl)
{
    /* Everything owed to online devices goes now (a broker restart lost nothing of ours,
     * but its publishes in flight are gone). */
    for (size_t i = 0; i < dl->cap; i++)
        if (dl->devs[i].id[0] && dl->devs[i].online)
            dl->devs[i].next_delivery = 0;
}

void corio_downlink_local_down(corio_downlink *dl)
{
    dl->npend = 0; /* those publishes are lost with the connection; they go again */
}

/* ---- the outbox: presence and answers ----------------------------------------------- */

static void went_online(corio_downlink *dl, struct dev *d)
{
    if (d->online)
        return;
    d->online = true;
    d->time_due = dl->o.device_time;
    d->next_delivery = 0;
    dl->online++;
}

static void went_offline(corio_downlink *dl, struct dev *d)
{
    if (!d->online)
        return;
    d->online = false;
    d->time_due = false;
    dl->online--;
}

static void answered_command(corio_downlink *dl, const char *device, const uint8_t *payload,
                             size_t len)
{
    struct corio_cmd_result r;
    if (corio_cmd_result_decode(payload, len, &r) != CORIO_OK)
        return;
    sqlite3_stmt *st = stmt(dl, S_CMD_EXPIRES);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, r.cid, (int)r.cid_len, SQLITE_STATIC);
    bool queued = sqlite3_step(st) == SQLITE_ROW;
    int64_t expires = queued ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (!queued)
        return; /* a local command of the rules engine, or one answered before */
    st = stmt(dl, S_DONE_INSERT);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, r.cid, (int)r.cid_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, expires);
    exec_ok(dl, st, "done");
    st = stmt(dl, S_CMD_DELETE);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, r.cid, (int)r.cid_len, SQLITE_STATIC);
    if (exec_ok(dl, st, "answered") && sqlite3_changes(dl->db) > 0)
        dl->s.answered++;
}

static void answered_config(corio_downlink *dl, const char *device, const uint8_t *payload,
                            size_t len)
{
    struct corio_cfg_reported r;
    if (corio_cfg_reported_decode(payload, len, &r) != CORIO_OK || r.version == 0 ||
        r.version > INT64_MAX)
        return;
    sqlite3_stmt *st = stmt(dl, S_CFG_ANSWERED);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)r.version);
    if (exec_ok(dl, st, "answered") && sqlite3_changes(dl->db) > 0)
        dl->s.answered++;
}

static int on_row(const struct corio_outbox_row *row, void *arg)
{
    corio_downlink *dl = arg;
    dl->after = row->id;
    if (!row->device || !*row->device || strcmp(row->device, dl->gateway) == 0)
        return 0;
    if (strcmp(row->suffix, "presence") == 0) {
        json_t *j = json_loadb((const char *)row->payload, row->payload_len, 0, NULL);
        json_t *on = json_object_get(j, "online");
        struct dev *d = json_is_boolean(on) ? dev_get(dl, row->device, true) : NULL;
        if (d) {
            if (json_is_true(on))
                went_online(dl, d);
            else
                went_offline(dl, d);
        }
        json_decref(j);
        return 0;
    }
    if (strncmp(row->suffix, "up/", 3) != 0)
        return 0;
    /* It sent something: it was online then (whatever presence record was missed). */
    struct dev *d = dev_get(dl, row->device, true);
    if (d)
        went_online(dl, d);
    if (strcmp(row->suffix, "up/res") == 0)
        answered_command(dl, row->device, row->payload, row->payload_len);
    else if (strcmp(row->suffix, "up/cfg") == 0)
        answered_config(dl, row->device, row->payload, row->payload_len);
    return 0;
}

static void read_outbox(corio_downlink *dl, int64_t now_ms)
{
    if (dl->ob && now_ms - dl->last_reopen >= REOPEN_MS) {
        /* A recreated outbox is a new file with a new epoch and ids from 1 again. */
        dl->last_reopen = now_ms;
        struct stat sb;
        if (stat(dl->outbox_path, &sb) != 0 || sb.st_dev != dl->ob_dev || sb.st_ino != dl->ob_ino) {
            corio_outbox_close(dl->ob);
            dl->ob = NULL;
            dl->after = 0;
        }
    }
    if (!dl->ob) {
        if (now_ms - dl->last_reopen < REOPEN_MS && dl->last_reopen)
            return;
        dl->last_reopen = now_ms;
        struct corio_outbox_options oo = {.path = dl->outbox_path, .read_only = true};
        char err[256];
        struct stat sb;
        if (stat(dl->outbox_path, &sb) != 0 ||
            corio_outbox_open(&oo, &dl->ob, err, sizeof err) != CORIO_OK)
            return; /* the plugin has not made it yet */
        dl->ob_dev = sb.st_dev;
        dl->ob_ino = sb.st_ino;
    }
    int n = corio_outbox_read(dl->ob, dl->after, OUTBOX_SLICE, 1u << 20, on_row, dl);
    if (n < 0) {
        corio_outbox_close(dl->ob);
        dl->ob = NULL;
    }
}

/* ---- containers from the cloud ------------------------------------------------------ */

static void take_command(corio_downlink *dl, const struct corio_down_item *it, int64_t now_ms)
{
    struct corio_cmd c;
    if (corio_cmd_decode(it->payload.p, it->payload.n, &c) != CORIO_OK)
        return; /* the container decoder checked it */
    if (c.exp_ms > INT64_MAX || (int64_t)c.exp_ms < now_ms) {
        dl->s.expired++;
        return;
    }
    sqlite3_stmt *st = stmt(dl, S_DONE_HAS);
    sqlite3_bind_text(st, 1, it->device, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, c.cid, (int)c.cid_len, SQLITE_STATIC);
    bool done = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    if (done) {
        dl->s.duplicates++; /* answered already: a resend that crossed the answer */
        return;
    }
    if (dl->s.queued >= dl->o.max_items || count(dl, it->device) >= dl->o.max_per_device) {
        dl->s.full++;
        return;
    }
    st = stmt(dl, S_INSERT_CMD);
    sqlite3_bind_text(st, 1, it->device, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, c.cid, (int)c.cid_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)c.exp_ms);
    sqlite3_bind_blob(st, 4, it->payload.p, (int)it->payload.n, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms);
    if (!exec_ok(dl, st, "queue"))
        return;
    if (sqlite3_changes(dl->db) == 0) {
        dl->s.duplicates++;
        return;
    }
    dl->s.items_queued++;
    dl->s.queued++;
    struct dev *d = dev_get(dl, it->device, true);
    if (d)
        d->next_delivery = 0;
}

static void take_config(corio_downlink *dl, const struct corio_down_item *it, int64_t now_ms)
{
    struct corio_cfg_desired c;
    if (corio_cfg_desired_decode(it->payload.p, it->payload.n, &c) != CORIO_OK ||
        c.version > INT64_MAX)
        return;
    sqlite3_stmt *st = stmt(dl, S_CFG_VERSION);
    sqlite3_bind_text(st, 1, it->device, -1, SQLITE_STATIC);
    bool has = sqlite3_step(st) == SQLITE_ROW;
    int64_t v = has ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (has && v >= (int64_t)c.version) {
        dl->s.duplicates++;
        return;
    }
    if (!has &&
        (dl->s.queued >= dl->o.max_items || count(dl, it->device) >= dl->o.max_per_device)) {
        dl->s.full++;
        return;
    }
    if (sqlite3_exec(dl->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return;
    st = stmt(dl, S_CFG_DELETE);
    sqlite3_bind_text(st, 1, it->device, -1, SQLITE_STATIC);
    bool ok = exec_ok(dl, st, "configuration");
    st = stmt(dl, S_INSERT_CFG);
    sqlite3_bind_text(st, 1, it->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)c.version);
    /* A device that never comes back here (it moved to another gateway) does not hold a
     * place for ever; the cloud sends it again while the device is not in sync. */
    sqlite3_bind_int64(st, 3, now_ms + CONFIG_LIFE_MS);
    sqlite3_bind_blob(st, 4, it->payload.p, (int)it->payload.n, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms);
    ok = ok && exec_ok(dl, st, "configuration");
    sqlite3_exec(dl->db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (!ok)
        return;
    dl->s.items_queued++;
    if (!has)
        dl->s.queued++;
    struct dev *d = dev_get(dl, it->device, true);
    if (d)
        d->next_delivery = 0;
}

/* Reads a whole file (NUL-terminated); NULL when it cannot. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 8192;
            char *p = realloc(buf, nc);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Writes text to path atomically: a temporary file, fsync, rename, fsync of the
 * directory. Returns CORIO_OK or CORIO_ERR_IO. */
static int write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[4096], dir[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.relay-tmp", path) >= sizeof tmp)
        return CORIO_ERR_IO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return CORIO_ERR_IO;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    bool ok = off == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return CORIO_ERR_IO;
    }
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return CORIO_OK;
}

static void take_registry(corio_downlink *dl, const struct corio_down_item *it)
{
    if (!dl->registry_path) {
        dl->s.registry_refused++;
        return;
    }
    size_t len = 0;
    char *cur = slurp(dl->registry_path, &len);
    uint64_t height = 0;
    struct corio_reglines *lines;
    char why[256] = "";
    if (cur && corio_reglines_parse(cur, len, &lines, &height, why, sizeof why) == CORIO_OK)
        corio_reglines_free(lines);
    else if (cur)
        height = 0; /* a file that does not parse is replaced only by a whole registry */
    dl->s.registry_height = height;
    uint8_t anchor[32], anchor_height[8];
    bool have_anchor = meta_blob(dl, "anchor", anchor, sizeof anchor) == CORIO_OK &&
                       meta_blob(dl, "anchor_height", anchor_height, 8) == CORIO_OK;
    uint64_t ah = 0;
    for (int i = 0; have_anchor && i < 8; i++)
        ah = ah << 8 | anchor_height[i];
    if (ah != height)
        have_anchor = false; /* the file was replaced by hand since */
    struct corio_relay_result res;
    int rc = corio_relay_verify(&corio_crypto_openssl_ops, (const uint8_t(*)[33])dl->ledger_keys,
                                dl->o.nledger_keys, cur ? cur : "", cur ? len : 0, height,
                                have_anchor ? anchor : NULL, it, &res, why, sizeof why);
    free(cur);
    if (rc == CORIO_ERR_STATE && it->height <= height)
        return; /* old news: a relay that crossed another */
    if (rc == CORIO_ERR_STATE) {
        dl->want = height;
        dl->state_due = true;
        dl->s.registry_wanted++;
        corio_logkv(CORIO_LOG_INFO, "registry heights missing; asking the cloud",
                    "height=%" PRIu64 " update_base=%" PRIu64 " update_height=%" PRIu64, height,
                    it->base, it->height);
        return;
    }
    if (rc != CORIO_OK) {
        dl->s.registry_refused++;
        dl->want = height;
        dl->state_due = true;
        corio_logkv(CORIO_LOG_ERROR, "registry update refused", "height=%" PRIu64 " error=%s",
                    it->height, why);
        return;
    }
    if (write_atomic(dl->registry_path, res.text, res.len) != CORIO_OK) {
        free(res.text);
        dl->s.registry_refused++;
        corio_logkv(CORIO_LOG_ERROR, "cannot write the registry file", "path=%s error=%s",
                    dl->registry_path, strerror(errno));
        return;
    }
    free(res.text);
    uint8_t h8[8];
    for (int i = 0; i < 8; i++)
        h8[i] = (uint8_t)(res.height >> (56 - 8 * i));
    meta_put_blob(dl, "anchor", res.anchor, sizeof res.anchor);
    meta_put_blob(dl, "anchor_height", h8, sizeof h8);
    dl->s.registry_applied++;
    dl->s.registry_height = res.height;
    dl->want = 0;
    dl->state_due = true;
    corio_logkv(CORIO_LOG_INFO, "registry updated from the ledger",
                "height=%" PRIu64 " base=%" PRIu64 " transactions=%zu sth_height=%" PRIu64
                " node=%" PRIu64,
                res.height, it->base, res.transactions, res.sth.height, res.sth.node);
}

void corio_downlink_on_down(corio_downlink *dl, const uint8_t *wire, size_t len, int64_t now_ms)
{
    char why[256] = "";
    struct corio_down d;
    int rc = dl->has_cloud_key
                 ? corio_down_open(&corio_crypto_openssl_ops, wire, len, dl->cloud_key,
                                   sizeof dl->cloud_key, &d, why, sizeof why)
                 : CORIO_ERR_STATE;
    if (rc == CORIO_OK && strcmp(d.gateway, dl->gateway) != 0) {
        snprintf(why, sizeof why, "addressed to %s", d.gateway);
        corio_down_free(&d);
        rc = CORIO_ERR_POLICY;
    }
    if (rc != CORIO_OK) {
        dl->s.refused++;
        if (now_ms - dl->last_refusal_log >= 60000) {
            dl->last_refusal_log = now_ms;
            corio_logkv(CORIO_LOG_WARN, "downlink container refused", "bytes=%zu error=%s", len,
                        rc == CORIO_ERR_STATE ? "no cloud_key configured" : why);
        }
        return;
    }
    dl->s.containers++;
    for (size_t i = 0; i < d.nitems; i++) {
        const struct corio_down_item *it = &d.items[i];
        switch (it->kind) {
        case CORIO_DOWN_COMMAND:
            take_command(dl, it, now_ms);
            break;
        case CORIO_DOWN_CONFIG:
            take_config(dl, it, now_ms);
            break;
        case CORIO_DOWN_REGISTRY:
            take_registry(dl, it);
            break;
        case CORIO_DOWN_TIME:
            if (it->time_ms <= INT64_MAX) {
                dl->clock_offset = (int64_t)it->time_ms - now_ms;
                dl->have_offset = true;
                dl->s.clock_skew_ms = dl->clock_offset;
            }
            break;
        }
    }
    corio_down_free(&d);
}

/* ---- the state message -------------------------------------------------------------- */

static void send_state(corio_downlink *dl, int64_t now_ms)
{
    dl->last_state = now_ms;
    if (!dl->o.publish_up)
        return;
    struct corio_gw_state s = {.made_ms = (uint64_t)(now_ms > 0 ? now_ms : 0),
                               .registry_height = dl->s.registry_height,
                               .want = dl->want,
                               .queued = (uint64_t)dl->s.queued,
                               .online = (uint64_t)dl->online,
                               .delivered = dl->delivered,
                               .ndelivered = dl->ndelivered};
    memcpy(s.gateway, dl->gateway, sizeof s.gateway);
    int64_t n = corio_state_encode(&s, NULL, 0);
    if (n <= 0)
        return;
    uint8_t *buf = malloc((size_t)n), *wire = NULL;
    size_t wlen = 0;
    if (buf && corio_state_encode(&s, buf, (size_t)n) == n &&
        corio_state_seal(dl->o.key, dl->gateway, dl->o.key_number, buf, (size_t)n, &wire, &wlen) ==
            CORIO_OK &&
        dl->o.publish_up(dl->o.ctx, "state", wire, wlen) == 0) {
        dl->ndelivered = 0;
        dl->state_due = false;
    }
    free(buf);
    free(wire);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void purge(corio_downlink *dl, int64_t now_ms)
{
    dl->last_purge = now_ms;
    sqlite3_stmt *st = stmt(dl, S_PURGE);
    sqlite3_bind_int64(st, 1, now_ms);
    if (exec_ok(dl, st, "expiry"))
        dl->s.expired += (uint64_t)sqlite3_changes(dl->db);
    st = stmt(dl, S_PURGE_DONE);
    sqlite3_bind_int64(st, 1, now_ms);
    exec_ok(dl, st, "expiry");
    dl->s.queued = count(dl, NULL);
}

void corio_downlink_run(corio_downlink *dl, int64_t now_ms)
{
    read_outbox(dl, now_ms);
    if (now_ms - dl->last_purge >= PURGE_MS)
        purge(dl, now_ms);
    bool up = corio_local_client_connected(dl->local);
    if (up && dl->o.time_interval_ms > 0 &&
        now_ms - dl->last_time_round >= dl->o.time_interval_ms) {
        dl->last_time_round = now_ms;
        for (size_t i = 0; i < dl->cap; i++)
            if (dl->devs[i].id[0] && dl->devs[i].online)
                dl->devs[i].time_due = dl->o.device_time;
    }
    if (up && now_ms - dl->last_scan >= SCAN_MS) {
        dl->last_scan = now_ms;
        for (size_t i = 0; i < dl->cap; i++) {
            struct dev *d = &dl->devs[i];
            if (!d->id[0] || !d->online)
                continue;
            if (d->time_due)
                send_time(dl, d, now_ms);
            if (d->next_delivery <= now_ms)
                deliver_device(dl, d, now_ms);
        }
    }
    if ((dl->state_due && now_ms - dl->last_state >= STATE_MIN_MS) ||
        now_ms - dl->last_state >= dl->o.state_interval_ms)
        send_state(dl, now_ms);
    dl->s.local_up = up;
    dl->s.online = dl->online;
}

void corio_downlink_uplink_up(corio_downlink *dl)
{
    dl->state_due = true;
    dl->last_state = 0;
}

void corio_downlink_stats(const corio_downlink *dl, struct corio_downlink_stats *st)
{
    *st = dl->s;
}

/* ---- setup --------------------------------------------------------------------------- */

void corio_downlink_free(corio_downlink *dl)
{
    if (!dl)
        return;
    for (size_t i = 0; i < S_NSTMT; i++)
        sqlite3_finalize(dl->st[i]);
    if (dl->db)
        sqlite3_close(dl->db);
    corio_outbox_close(dl->ob);
    free(dl->devs);
    free(dl->delivered);
    free(dl->ledger_keys);
    free(dl->outbox_path);
    free(dl->registry_path);
    free(dl);
}

int corio_downlink_new(const struct corio_downlink_options *o, corio_downlink **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (!o->gateway || strlen(o->gateway) != CORIO_SHORT_ID_LEN || !o->key || !o->db_path ||
        !o->outbox_path || !o->local) {
        snprintf(err, errlen, "the downlink needs the gateway id, key, queue, outbox and client");
        return CORIO_ERR_INVAL;
    }
    corio_downlink *dl = calloc(1, sizeof *dl);
    if (!dl) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    dl->o = *o;
    memcpy(dl->gateway, o->gateway, sizeof dl->gateway);
    dl->o.gateway = dl->gateway;
    dl->outbox_path = strdup(o->outbox_path);
    dl->registry_path = o->registry_path ? strdup(o->registry_path) : NULL;
    dl->delivered = calloc(CORIO_STATE_MAX_CIDS, sizeof *dl->delivered);
    dl->ledger_keys = calloc(o->nledger_keys ? o->nledger_keys : 1, sizeof *dl->ledger_keys);
    if (!dl->outbox_path || (o->registry_path && !dl->registry_path) || !dl->delivered ||
        !dl->ledger_keys) {
        corio_downlink_free(dl);
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    if (o->nledger_keys)
        memcpy(dl->ledger_keys, o->ledger_keys, o->nledger_keys * sizeof *dl->ledger_keys);
    if (o->cloud_key) {
        memcpy(dl->cloud_key, o->cloud_key, sizeof dl->cloud_key);
        dl->has_cloud_key = true;
    }
    if (dl->o.retry_ms <= 0)
        dl->o.retry_ms = 30000;
    if (dl->o.state_interval_ms <= 0)
        dl->o.state_interval_ms = 30000;
    if (dl->o.max_items <= 0)
        dl->o.max_items = 10000;
    if (dl->o.max_per_device <= 0)
        dl->o.max_per_device = 100;

    int rc = corio_sqlite_open(o->db_path, 0, 0, &dl->db, err, errlen);
    if (rc == CORIO_OK)
        rc = corio_sqlite_migrate(dl->db, schema, sizeof schema / sizeof schema[0], err, errlen);
    for (size_t i = 0; rc == CORIO_OK && i < S_NSTMT; i++)
        if (sqlite3_prepare_v2(dl->db, sql[i], -1, &dl->st[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", o->db_path, sqlite3_errmsg(dl->db));
            rc = CORIO_ERR_IO;
        }
    if (rc != CORIO_OK) {
        corio_downlink_free(dl);
        return rc;
    }
    dl->s.queued = count(dl, NULL);
    /* The registry height held now, for the first state message. */
    if (dl->registry_path) {
        size_t len;
        char *cur = slurp(dl->registry_path, &len);
        struct corio_reglines *lines;
        char why[64];
        if (cur && corio_reglines_parse(cur, len, &lines, &dl->s.registry_height, why,
                                        sizeof why) == CORIO_OK)
            corio_reglines_free(lines);
        free(cur);
    }
    dl->local = o->local;
    dl->state_due = true;
    *out = dl;
    return CORIO_OK;
}
