/*
 * store.c - the rules of corio-cloud's storage, above any backend (store.h).
 *
 * Backends implement primitives; this file decides what to call: message identity and
 * deduplication, samples and rollups only for new samples, gap accounting
 * (docs/storage.md) and the tail gap of a heartbeat. Keeping the rules here means a
 * second backend cannot get them subtly different.
 *
 * It also keeps, for the open transaction, what a batch would otherwise write to the
 * same rows message after message: the sequence state of each (device, epoch), each
 * device's last-seen time, gateway, current epoch and message count, and each
 * organisation's counters. They are folded in memory with the same rules the single
 * updates follow and written once, before the commit or before a query reads them.
 * For SQLite that saves statements; for PostgreSQL it saves round trips.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "store.h"

bool corio_store_valid_id(const char *s, size_t len)
{
    if (!s || len != CORIO_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
            return false;
    }
    return true;
}

static bool id_ok(const char *s)
{
    return s && corio_store_valid_id(s, strnlen(s, CORIO_ID_LEN + 1));
}

/* The length of the UTF-8 sequence at p (RFC 3629), or 0 when it is not one. */
static size_t utf8_seq(const uint8_t *p, size_t avail)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

bool corio_store_text_ok(const char *s, size_t len)
{
    if (!s)
        return len == 0;
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] == 0)
            return false;
        size_t k = utf8_seq(p + i, len - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* The longest prefix of s that is text and at most max bytes, cut at a character. */
static size_t text_prefix(const char *s, size_t max)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t len = strnlen(s, max), i = 0;
    while (i < len) {
        size_t k = utf8_seq(p + i, len - i);
        if (!k)
            break;
        i += k;
    }
    return i;
}

static bool cstr_text_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    return n <= max && corio_store_text_ok(s, n);
}

/* ---- the open transaction's cache --------------------------------------------------- */

enum centry_kind {
    CE_EPOCH = 'e',  /* a (device, epoch)'s sequence state */
    CE_DEVICE = 'd', /* a device's folded update */
    CE_COUNTS = 'c', /* an organisation's counters */
    CE_LOADED = 'l', /* a device whose every epoch is in the cache (it is locked) */
};

struct centry {
    uint64_t h;
    char kind;
    char id[CORIO_ID_LEN + 1];    /* the device (epoch, device) or the organisation (counts) */
    char org[CORIO_ID_LEN + 1];   /* part of a device's key: updates name their owner */
    int64_t num;                  /* the epoch (epoch) */
    char owner[CORIO_ID_LEN + 1]; /* an epoch's owner (its key is (device, epoch)) */
    bool dirty;
    struct corio_epoch_state ep;
    struct {
        int64_t seen_ms;
        bool has_gw;
        char gw[CORIO_ID_LEN + 1];
        bool has_epoch;
        int64_t epoch, epoch_ms;
        int64_t delta;
    } dev;
    struct corio_store_counts cnt;
};

struct corio__store_tx {
    bool open;
    struct centry *e;
    size_t n, cap;
    uint32_t *slot; /* open addressing: entry index + 1, 0 when free */
    size_t nslot;   /* a power of two, at least twice n */
};

static uint64_t key_hash(char kind, const char *id, const char *org, int64_t num)
{
    uint64_t h = 1469598103934665603ull;
    h = (h ^ (uint8_t)kind) * 1099511628211ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (const char *p = org; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (int i = 0; i < 8; i++)
        h = (h ^ (uint8_t)((uint64_t)num >> (8 * i))) * 1099511628211ull;
    return h;
}

static int tx_rehash(struct corio__store_tx *t, size_t nslot)
{
    uint32_t *slot = calloc(nslot, sizeof *slot);
    if (!slot)
        return CORIO_ERR_NOSPACE;
    for (size_t i = 0; i < t->n; i++) {
        size_t k = (size_t)t->e[i].h & (nslot - 1);
        while (slot[k])
            k = (k + 1) & (nslot - 1);
        slot[k] = (uint32_t)(i + 1);
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    return CORIO_OK;
}

/* The entry of the key, or NULL when there is none and create is false (or on memory
 * shortage, with *rc set). *created tells a new, zeroed entry. The pointer is valid
 * until the next call. */
static struct centry *tx_entry(struct corio__store_tx *t, char kind, const char *id,
                               const char *org, int64_t num, bool create, bool *created, int *rc)
{
    *created = false;
    *rc = CORIO_OK;
    const char *o = kind == CE_DEVICE ? org : "";
    uint64_t h = key_hash(kind, id, o, num);
    if (t->nslot) {
        for (size_t k = (size_t)h & (t->nslot - 1); t->slot[k]; k = (k + 1) & (t->nslot - 1)) {
            struct centry *c = &t->e[t->slot[k] - 1];
            if (c->h == h && c->kind == kind && c->num == num && strcmp(c->id, id) == 0 &&
                strcmp(c->org, o) == 0)
                return c;
        }
    }
    if (!create)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        void *p = realloc(t->e, cap * sizeof *t->e);
        if (!p) {
            *rc = CORIO_ERR_NOSPACE;
            return NULL;
        }
        t->e = p;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->nslot && (*rc = tx_rehash(t, t->nslot ? t->nslot * 2 : 64)) < 0)
        return NULL;
    struct centry *c = &t->e[t->n];
    memset(c, 0, sizeof *c);
    c->h = h;
    c->kind = kind;
    c->num = num;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->org, sizeof c->org, "%s", o);
    size_t k = (size_t)h & (t->nslot - 1);
    while (t->slot[k])
        k = (k + 1) & (t->nslot - 1);
    t->slot[k] = (uint32_t)(++t->n);
    *created = true;
    return c;
}

static void tx_clear(struct corio__store_tx *t)
{
    t->n = 0;
    if (t->slot)
        memset(t->slot, 0, t->nslot * sizeof *t->slot);
}

static bool in_tx(const struct corio_store *s)
{
    return s->tx && s->tx->open;
}

/* Writes what the cache holds that the database does not: the sequence states, then
 * the devices' updates (each in one call, so one round trip for PostgreSQL), then the
 * counters. */
static int tx_flush(struct corio_store *s)
{
    if (!in_tx(s))
        return CORIO_OK;
    struct corio__store_tx *t = s->tx;
    size_t ne = 0, nd = 0;
    for (size_t i = 0; i < t->n; i++) {
        ne += t->e[i].dirty && t->e[i].kind == CE_EPOCH;
        nd += t->e[i].dirty && t->e[i].kind == CE_DEVICE;
    }
    struct corio_epoch_row *er = ne ? malloc(ne * sizeof *er) : NULL;
    struct corio_device_update *du = nd ? malloc(nd * sizeof *du) : NULL;
    int rc = CORIO_OK;
    if ((ne && !er) || (nd && !du)) {
        rc = CORIO_ERR_NOSPACE;
        goto out;
    }
    ne = nd = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct centry *c = &t->e[i];
        if (!c->dirty)
            continue;
        if (c->kind == CE_EPOCH)
            er[ne++] = (struct corio_epoch_row){
                .org = c->owner, .device = c->id, .epoch = c->num, .st = c->ep};
        else if (c->kind == CE_DEVICE)
            du[nd++] = (struct corio_device_update){.org = c->org,
                                                    .id = c->id,
                                                    .seen_ms = c->dev.seen_ms,
                                                    .gateway = c->dev.has_gw ? c->dev.gw : NULL,
                                                    .has_epoch = c->dev.has_epoch,
                                                    .epoch = c->dev.epoch,
                                                    .epoch_ms = c->dev.epoch_ms,
                                                    .messages_delta = c->dev.delta};
    }
    if (ne && (rc = s->ops->epochs_put(s, er, ne)) < 0)
        goto out;
    if (nd && (rc = s->ops->devices_update(s, du, nd)) < 0)
        goto out;
    for (size_t i = 0; i < t->n; i++) {
        struct centry *c = &t->e[i];
        if (!c->dirty)
            continue;
        if (c->kind == CE_COUNTS) {
            if ((rc = s->ops->counts_add(s, c->id, &c->cnt)) < 0)
                goto out;
            memset(&c->cnt, 0, sizeof c->cnt);
        } else if (c->kind == CE_DEVICE) {
            memset(&c->dev, 0, sizeof c->dev);
        }
        c->dirty = false;
    }
    rc = CORIO_OK;
out:
    free(er);
    free(du);
    return rc;
}

static int cache_counts(struct corio_store *s, const char *org, const struct corio_store_counts *d)
{
    bool created;
    int rc;
    struct centry *c = tx_entry(s->tx, CE_COUNTS, org, NULL, 0, true, &created, &rc);
    if (!c)
        return rc;
    c->cnt.messages += d->messages;
    c->cnt.samples += d->samples;
    c->cnt.duplicates += d->duplicates;
    c->cnt.rejected += d->rejected;
    c->cnt.batches += d->batches;
    c->dirty = true;
    return CORIO_OK;
}

/* Folds a device update without presence, as the backend's device_update applies it:
 * last seen is the latest, the gateway the last one given, the current epoch the one
 * received latest (a tie goes to the later call), message counts add up. */
static int cache_device(struct corio_store *s, const struct corio_device_update *u)
{
    bool created;
    int rc;
    struct centry *c = tx_entry(s->tx, CE_DEVICE, u->id, u->org, 0, true, &created, &rc);
    if (!c)
        return rc;
    if (u->seen_ms > 0 && u->seen_ms > c->dev.seen_ms)
        c->dev.seen_ms = u->seen_ms;
    if (u->gateway) {
        c->dev.has_gw = true;
        snprintf(c->dev.gw, sizeof c->dev.gw, "%s", u->gateway);
    }
    if (u->has_epoch && (!c->dev.has_epoch || u->epoch_ms >= c->dev.epoch_ms)) {
        c->dev.has_epoch = true;
        c->dev.epoch = u->epoch;
        c->dev.epoch_ms = u->epoch_ms;
    }
    c->dev.delta += u->messages_delta;
    c->dirty = true;
    return CORIO_OK;
}

static int epoch_get(struct corio_store *s, const char *device, int64_t epoch,
                     struct corio_epoch_state *st)
{
    bool created;
    int rc;
    struct centry *c = tx_entry(s->tx, CE_EPOCH, device, NULL, epoch, false, &created, &rc);
    if (c) {
        *st = c->ep;
        return CORIO_OK;
    }
    /* A locked device's epochs were all loaded: one not in the cache does not exist. */
    if (tx_entry(s->tx, CE_LOADED, device, NULL, 0, false, &created, &rc))
        rc = CORIO_ERR_NOTFOUND;
    else
        rc = s->ops->epoch_get(s, device, epoch, st);
    if (rc == CORIO_ERR_NOTFOUND)
        memset(st, 0, sizeof *st);
    else if (rc < 0)
        return rc;
    if (!(c = tx_entry(s->tx, CE_EPOCH, device, NULL, epoch, true, &created, &rc)))
        return rc;
    c->ep = *st;
    return CORIO_OK;
}

static int epoch_put(struct corio_store *s, const char *org, const char *device, int64_t epoch,
                     const struct corio_epoch_state *st)
{
    bool created;
    int rc;
    struct centry *c = tx_entry(s->tx, CE_EPOCH, device, NULL, epoch, true, &created, &rc);
    if (!c)
        return rc;
    c->ep = *st;
    snprintf(c->owner, sizeof c->owner, "%s", org);
    c->dirty = true;
    return CORIO_OK;
}

/* ---- lifecycle and transactions ------------------------------------------------------ */

void corio_store_close(struct corio_store *s)
{
    if (!s)
        return;
    struct corio__store_tx *t = s->tx;
    s->tx = NULL;
    s->ops->close(s);
    if (t) {
        free(t->e);
        free(t->slot);
        free(t);
    }
}

const char *corio_store_backend(const struct corio_store *s)
{
    return s ? s->ops->name : "";
}

int corio_store_ping(struct corio_store *s)
{
    return s->ops->ping(s);
}

int corio_store_begin(struct corio_store *s)
{
    if (in_tx(s))
        return CORIO_ERR_STATE;
    if (!s->tx && !(s->tx = calloc(1, sizeof *s->tx)))
        return CORIO_ERR_NOSPACE;
    int rc = s->ops->begin(s);
    if (rc != CORIO_OK)
        return rc;
    tx_clear(s->tx);
    s->tx->open = true;
    return CORIO_OK;
}

int corio_store_commit(struct corio_store *s)
{
    if (!in_tx(s))
        return CORIO_ERR_STATE;
    int rc = tx_flush(s);
    if (rc != CORIO_OK)
        return rc; /* still open: the caller rolls back */
    rc = s->ops->commit(s);
    if (rc == CORIO_OK) {
        s->tx->open = false;
        tx_clear(s->tx);
    }
    return rc;
}

int corio_store_rollback(struct corio_store *s)
{
    if (s->tx) {
        s->tx->open = false;
        tx_clear(s->tx);
    }
    return s->ops->rollback(s);
}

/* Opens a transaction of our own when none is open; *own tells whether it did. */
static int tx_enter(struct corio_store *s, bool *own)
{
    *own = !in_tx(s);
    return *own ? corio_store_begin(s) : CORIO_OK;
}

/* Ends our own transaction: commit when rc is not an error, else roll back. */
static int tx_leave(struct corio_store *s, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc >= 0) {
        int c = corio_store_commit(s);
        if (c == CORIO_OK)
            return rc;
        rc = c;
    }
    corio_store_rollback(s);
    return rc;
}

/* ---- registry ---------------------------------------------------------------------- */

int corio_store_put_org(struct corio_store *s, const char *id, const char *name)
{
    if (!id_ok(id) || (name && !cstr_text_ok(name, 4096)))
        return CORIO_ERR_INVAL;
    int rc = tx_flush(s);
    return rc < 0 ? rc : s->ops->org_put(s, id, name ? name : "");
}

int corio_store_put_gateway(struct corio_store *s, const struct corio_gateway_rec *g)
{
    if (!g || !id_ok(g->id) || !id_ok(g->org) || (g->pubkey_len != 0 && g->pubkey_len != 65) ||
        g->key_no < 0)
        return CORIO_ERR_INVAL;
    int rc = tx_flush(s);
    return rc < 0 ? rc : s->ops->gateway_put(s, g);
}

int corio_store_put_device(struct corio_store *s, const struct corio_device_rec *d)
{
    if (!d || !id_ok(d->id) || !id_ok(d->org) || (d->gateway && *d->gateway && !id_ok(d->gateway)))
        return CORIO_ERR_INVAL;
    const char *fields[] = {d->cls, d->model, d->hw_rev, d->groups, d->assurance};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i] && !cstr_text_ok(fields[i], 4096))
            return CORIO_ERR_INVAL;
    int rc = tx_flush(s);
    return rc < 0 ? rc : s->ops->device_put(s, d);
}

int corio_store_get_gateway(struct corio_store *s, const char *id, struct corio_gateway_rec *g)
{
    if (!id_ok(id) || !g)
        return CORIO_ERR_INVAL;
    return s->ops->gateway_get(s, id, g);
}

int corio_store_device_org(struct corio_store *s, const char *id, char org[CORIO_ID_LEN + 1])
{
    if (!id_ok(id) || !org)
        return CORIO_ERR_INVAL;
    return s->ops->device_org(s, id, org);
}

/* ---- ingest ------------------------------------------------------------------------ */

void corio_store_message_id(const struct corio_msg_row *m, char *mid, size_t len)
{
    if (m->has_seq && m->device)
        snprintf(mid, len, "d:%s:%" PRId64 ":%" PRId64, m->device, m->epoch, m->seq);
    else
        snprintf(mid, len, "g:%s:%" PRId64 ":%" PRId64, m->gateway, m->gw_epoch, m->gw_id);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int load_epoch(void *arg, const struct corio_epoch_row *row)
{
    struct corio_store *s = arg;
    bool created;
    int rc;
    struct centry *c =
        tx_entry(s->tx, CE_EPOCH, row->device, NULL, row->epoch, true, &created, &rc);
    if (!c)
        return rc;
    if (created) {
        c->ep = row->st;
        snprintf(c->owner, sizeof c->owner, "%s", row->org);
    }
    return 0;
}

int corio_store_lock_devices(struct corio_store *s, const char *const *ids, size_t n)
{
    if (!in_tx(s))
        return CORIO_ERR_STATE;
    if (n && !ids)
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!id_ok(ids[i]))
            return CORIO_ERR_INVAL;
    if (n == 0)
        return CORIO_OK;
    const char **v = malloc(n * sizeof *v);
    if (!v)
        return CORIO_ERR_NOSPACE;
    memcpy(v, ids, n * sizeof *v);
    /* One order for every writer: two transactions cannot each hold what the other
     * waits for. */
    qsort(v, n, sizeof *v, cmp_str_ptr);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
            v[k++] = v[i];
    int rc = s->ops->lock_devices(s, v, k);
    /* Now that nobody else changes them, their sequence states come in one go. */
    if (rc == CORIO_OK)
        rc = s->ops->epochs_load(s, v, k, load_epoch, s);
    for (size_t i = 0; rc == CORIO_OK && i < k; i++) {
        bool created;
        if (!tx_entry(s->tx, CE_LOADED, v[i], NULL, 0, true, &created, &rc))
            break;
    }
    free(v);
    return rc;
}

static bool msg_row_ok(const struct corio_msg_row *m)
{
    return id_ok(m->org) && id_ok(m->gateway) && (!m->device || id_ok(m->device)) &&
           (!m->has_seq || (m->device && m->epoch >= 0 && m->seq >= 1)) && m->gw_epoch >= 0 &&
           m->gw_id >= 0 && m->suffix && cstr_text_ok(m->suffix, 256) &&
           (m->status == CORIO_MSG_STORED || m->status == CORIO_MSG_REJECTED);
}

struct keyed {
    const char *key;
    size_t i;
};

static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

int corio_store_add_messages(struct corio_store *s, const struct corio_msg_row *m, size_t n,
                             int64_t *ref, uint8_t *is_new)
{
    if ((n && (!m || !ref || !is_new)))
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!msg_row_ok(&m[i]))
            return CORIO_ERR_INVAL;
    if (n == 0)
        return 0;
    char(*mids)[CORIO_MID_MAX + 1] = malloc(n * sizeof *mids);
    struct keyed *order = malloc(n * sizeof *order);
    struct corio_msg_row *rows = malloc(n * sizeof *rows);
    const char **rmids = malloc(n * sizeof *rmids);
    size_t *back = malloc(n * sizeof *back);
    int64_t *rref = malloc(n * sizeof *rref);
    uint8_t *rnew = malloc(n);
    int rc = CORIO_ERR_NOSPACE;
    bool own = false;
    if (!mids || !order || !rows || !rmids || !back || !rref || !rnew)
        goto out;
    for (size_t i = 0; i < n; i++) {
        corio_store_message_id(&m[i], mids[i], sizeof mids[i]);
        order[i] = (struct keyed){mids[i], i};
        is_new[i] = 0;
        ref[i] = 0;
    }
    /* The same identity twice in one call is one message: the first occurrence counts,
     * and the backend never sees the repeats. */
    qsort(order, n, sizeof *order, cmp_keyed);
    uint8_t *first = rnew; /* reused as scratch: 1 for the first occurrence of a mid */
    memset(first, 0, n);
    for (size_t k = 0; k < n; k++)
        if (k == 0 || strcmp(order[k - 1].key, order[k].key) != 0)
            first[order[k].i] = 1;
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!first[i])
            continue;
        rows[r] = m[i];
        rows[r].reason_len = m[i].reason ? text_prefix(m[i].reason, CORIO_REASON_MAX) : 0;
        rmids[r] = mids[i];
        back[r] = i;
        r++;
    }
    if ((rc = tx_enter(s, &own)) < 0)
        goto out;
    rc = s->ops->messages_insert(s, rows, rmids, r, rref, rnew);
    int created = 0;
    for (size_t k = 0; rc >= 0 && k < r; k++) {
        if (!rnew[k])
            continue;
        is_new[back[k]] = 1;
        ref[back[k]] = rref[k];
        created++;
    }
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        const struct corio_msg_row *x = &m[i];
        struct corio_store_counts d = {0};
        if (!is_new[i])
            d.duplicates = 1;
        else if (x->status == CORIO_MSG_REJECTED)
            d.rejected = 1;
        else
            d.messages = 1;
        rc = cache_counts(s, x->org, &d);
        if (rc >= 0 && is_new[i] && x->status == CORIO_MSG_STORED && x->device) {
            struct corio_device_update u = {
                .org = x->org,
                .id = x->device,
                .seen_ms = x->recv_ms,
                .gateway = x->gateway,
                .messages_delta = x->has_seq ? 1 : 0,
            };
            rc = cache_device(s, &u);
        }
    }
    rc = tx_leave(s, own, rc < 0 ? rc : created);
out:
    free(mids);
    free(order);
    free(rows);
    free(rmids);
    free(back);
    free(rref);
    free(rnew);
    return rc;
}

int corio_store_add_message(struct corio_store *s, const struct corio_msg_row *m, int64_t *ref)
{
    if (!m || !ref)
        return CORIO_ERR_INVAL;
    uint8_t is_new;
    return corio_store_add_messages(s, m, 1, ref, &is_new);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static bool sample_row_ok(const struct corio_sample_row *r, const char *unit)
{
    if (!id_ok(r->org) || !id_ok(r->device) || !r->metric || !*r->metric || r->t_ms < 0 ||
        !cstr_text_ok(r->metric, CORIO_METRIC_MAX) || (unit && !cstr_text_ok(unit, CORIO_UNIT_MAX)))
        return false;
    switch (r->value.kind) {
    case CORIO_VALUE_NUM:
        return isfinite(r->value.num);
    case CORIO_VALUE_STR:
        return (r->value.str || !r->value.len) && corio_store_text_ok(r->value.str, r->value.len);
    case CORIO_VALUE_DATA:
        return r->value.data || !r->value.len;
    case CORIO_VALUE_BOOL:
        return true;
    }
    return false;
}

/* Orders sample rows by their key, then by position. */
struct skey {
    const struct corio_sample_row *r;
    size_t i;
};

static int cmp_skey(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    int c = strcmp(x->r->device, y->r->device);
    if (!c)
        c = strcmp(x->r->metric, y->r->metric);
    if (!c)
        c = (x->r->t_ms > y->r->t_ms) - (x->r->t_ms < y->r->t_ms);
    if (!c)
        c = (x->r->msg > y->r->msg) - (x->r->msg < y->r->msg);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Orders by (device, metric) only, then by position. */
static int cmp_metric(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    int c = strcmp(x->r->device, y->r->device);
    if (!c)
        c = strcmp(x->r->metric, y->r->metric);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* A numeric sample's contribution to one tier's bucket. */
struct contrib {
    enum corio_tier tier;
    int64_t bucket;
    const struct corio_sample_row *r;
    size_t i;
};

static int cmp_contrib(const void *a, const void *b)
{
    const struct contrib *x = a, *y = b;
    int c = (int)x->tier - (int)y->tier;
    if (!c)
        c = strcmp(x->r->device, y->r->device);
    if (!c)
        c = strcmp(x->r->metric, y->r->metric);
    if (!c)
        c = (x->bucket > y->bucket) - (x->bucket < y->bucket);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Descriptors and rollups of the samples just inserted (ok[i] set). */
static int after_samples(struct corio_store *s, const struct corio_sample_row *r,
                         const char *const *units, size_t n, const uint8_t *ok, size_t nok)
{
    struct skey *byname = malloc(nok * sizeof *byname);
    struct corio_metric_row *mrows = malloc(nok * sizeof *mrows);
    struct contrib *cb = malloc(2 * nok * sizeof *cb);
    struct corio_rollup_row *rr = malloc(2 * nok * sizeof *rr);
    int rc = CORIO_ERR_NOSPACE;
    if (!byname || !mrows || !cb || !rr)
        goto out;
    size_t k = 0, nc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        byname[k++] = (struct skey){&r[i], i};
        struct corio_store_counts d = {.samples = 1};
        if ((rc = cache_counts(s, r[i].org, &d)) < 0)
            goto out;
        if (r[i].value.kind != CORIO_VALUE_NUM)
            continue;
        cb[nc++] = (struct contrib){
            CORIO_TIER_1M, floor_div(r[i].t_ms, CORIO_TIER_1M_MS) * CORIO_TIER_1M_MS, &r[i], i};
        cb[nc++] = (struct contrib){
            CORIO_TIER_1H, floor_div(r[i].t_ms, CORIO_TIER_1H_MS) * CORIO_TIER_1H_MS, &r[i], i};
    }
    /* One descriptor per metric, as if each sample had set it in turn: the last
     * non-empty unit, the last value's type. */
    qsort(byname, k, sizeof *byname, cmp_metric);
    size_t nm = 0;
    for (size_t j = 0; j < k; j++) {
        const struct corio_sample_row *x = byname[j].r;
        const char *u = units && units[byname[j].i] ? units[byname[j].i] : "";
        if (nm == 0 || strcmp(mrows[nm - 1].device, x->device) != 0 ||
            strcmp(mrows[nm - 1].name, x->metric) != 0)
            mrows[nm++] = (struct corio_metric_row){
                .org = x->org, .device = x->device, .name = x->metric, .unit = ""};
        if (*u)
            mrows[nm - 1].unit = u;
        mrows[nm - 1].kind = x->value.kind;
    }
    if ((rc = s->ops->metrics_put(s, mrows, nm)) < 0)
        goto out;
    /* Rollups only ever see samples that were just inserted, so a rollup stays equal
     * to the aggregate of the raw samples whatever arrives twice. */
    qsort(cb, nc, sizeof *cb, cmp_contrib);
    size_t nr = 0;
    for (size_t j = 0; j < nc; j++) {
        const struct contrib *c = &cb[j];
        double v = c->r->value.num;
        struct corio_rollup_row *last = nr ? &rr[nr - 1] : NULL;
        if (last && last->tier == c->tier && last->bucket_ms == c->bucket &&
            strcmp(last->device, c->r->device) == 0 && strcmp(last->metric, c->r->metric) == 0) {
            last->min = v < last->min ? v : last->min;
            last->max = v > last->max ? v : last->max;
            last->sum += v;
            last->count++;
        } else {
            rr[nr++] = (struct corio_rollup_row){.tier = c->tier,
                                                 .org = c->r->org,
                                                 .device = c->r->device,
                                                 .metric = c->r->metric,
                                                 .bucket_ms = c->bucket,
                                                 .min = v,
                                                 .max = v,
                                                 .sum = v,
                                                 .count = 1};
        }
    }
    rc = nr ? s->ops->rollups_merge(s, rr, nr) : CORIO_OK;
out:
    free(byname);
    free(mrows);
    free(cb);
    free(rr);
    return rc;
}

int corio_store_add_samples(struct corio_store *s, const struct corio_sample_row *r,
                            const char *const *units, size_t n, uint8_t *inserted)
{
    if (n && (!r || !inserted))
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!sample_row_ok(&r[i], units ? units[i] : NULL))
            return CORIO_ERR_INVAL;
    if (n == 0)
        return 0;
    struct skey *order = malloc(n * sizeof *order);
    struct corio_sample_row *rows = malloc(n * sizeof *rows);
    size_t *back = malloc(n * sizeof *back);
    uint8_t *rins = malloc(n);
    int rc = CORIO_ERR_NOSPACE;
    bool own = false;
    if (!order || !rows || !back || !rins)
        goto out;
    for (size_t i = 0; i < n; i++) {
        order[i] = (struct skey){&r[i], i};
        inserted[i] = 0;
    }
    /* A key twice in one call is one sample: the first occurrence. */
    qsort(order, n, sizeof *order, cmp_skey);
    memset(rins, 0, n);
    for (size_t k = 0; k < n; k++) {
        const struct skey *p = k ? &order[k - 1] : NULL, *q = &order[k];
        if (!p || strcmp(p->r->device, q->r->device) || strcmp(p->r->metric, q->r->metric) ||
            p->r->t_ms != q->r->t_ms || p->r->msg != q->r->msg)
            rins[q->i] = 1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (rins[i]) {
            rows[m] = r[i];
            back[m++] = i;
        }
    if ((rc = tx_enter(s, &own)) < 0)
        goto out;
    rc = s->ops->samples_insert(s, rows, m, rins);
    size_t nok = 0;
    for (size_t k = 0; rc >= 0 && k < m; k++)
        if (rins[k]) {
            inserted[back[k]] = 1;
            nok++;
        }
    if (rc >= 0 && nok)
        rc = after_samples(s, r, units, n, inserted, nok);
    rc = tx_leave(s, own, rc < 0 ? rc : (int)nok);
out:
    free(order);
    free(rows);
    free(back);
    free(rins);
    return rc;
}

int corio_store_add_sample(struct corio_store *s, const struct corio_sample_row *r,
                           const char *unit)
{
    if (!r)
        return CORIO_ERR_INVAL;
    uint8_t ins;
    const char *units[1] = {unit};
    return corio_store_add_samples(s, r, units, 1, &ins);
}

static int new_gap(struct corio_store *s, const char *org, const char *device, int64_t epoch,
                   int64_t from, int64_t to, int64_t detected_ms, corio_gap_fn fn, void *arg)
{
    struct corio_gap g = {.device = device,
                          .epoch = epoch,
                          .from_seq = from,
                          .to_seq = to,
                          .kind = CORIO_GAP_SEQ,
                          .detected_ms = detected_ms};
    int rc = s->ops->gap_insert(s, org, &g);
    if (rc < 0)
        return rc;
    if (fn && (rc = fn(&g, arg)) != 0)
        return rc < 0 ? rc : CORIO_OK;
    return CORIO_OK;
}

static int seq_stored(struct corio_store *s, const char *org, const char *device, int64_t epoch,
                      int64_t seq, int64_t recv_ms, int64_t now_ms, corio_gap_fn fn, void *arg)
{
    struct corio_epoch_state st;
    int rc = epoch_get(s, device, epoch, &st);
    if (rc < 0)
        return rc;
    if (seq > st.max_seq) {
        if (seq > st.max_seq + 1 &&
            (rc = new_gap(s, org, device, epoch, st.max_seq + 1, seq - 1, now_ms, fn, arg)) < 0)
            return rc;
        st.max_seq = seq;
    } else {
        /* Below the highest: it can only be a sequence number a gap holds (the same
         * identity again is a duplicate and never gets here). */
        struct corio_gap g;
        rc = s->ops->gap_find(s, device, epoch, seq, &g);
        if (rc == CORIO_OK) {
            if ((rc = s->ops->gap_delete(s, device, epoch, g.from_seq)) < 0)
                return rc;
            if (g.from_seq < seq && (rc = new_gap(s, org, device, epoch, g.from_seq, seq - 1,
                                                  g.detected_ms, fn, arg)) < 0)
                return rc;
            if (seq < g.to_seq && (rc = new_gap(s, org, device, epoch, seq + 1, g.to_seq,
                                                g.detected_ms, fn, arg)) < 0)
                return rc;
        } else if (rc != CORIO_ERR_NOTFOUND) {
            return rc;
        }
    }
    st.stored++;
    if ((rc = epoch_put(s, org, device, epoch, &st)) < 0)
        return rc;
    struct corio_device_update u = {
        .org = org, .id = device, .has_epoch = true, .epoch = epoch, .epoch_ms = recv_ms};
    return cache_device(s, &u);
}

int corio_store_seq_stored(struct corio_store *s, const char *org, const char *device,
                           int64_t epoch, int64_t seq, int64_t recv_ms, int64_t now_ms,
                           corio_gap_fn fn, void *arg)
{
    if (!id_ok(org) || !id_ok(device) || epoch < 0 || seq < 1)
        return CORIO_ERR_INVAL;
    bool own;
    int rc = tx_enter(s, &own);
    if (rc < 0)
        return rc;
    rc = seq_stored(s, org, device, epoch, seq, recv_ms, now_ms, fn, arg);
    return tx_leave(s, own, rc < 0 ? rc : CORIO_OK);
}

/* The tail gap of an epoch's state: [max+1, last-pending], or false when there is none. */
static bool tail_of(const struct corio_epoch_state *st, int64_t *from, int64_t *to)
{
    if (!st->has_hb)
        return false;
    int64_t acked = st->hb_last - st->hb_pending;
    if (acked <= st->max_seq)
        return false;
    *from = st->max_seq + 1;
    *to = acked;
    return true;
}

static int heartbeat(struct corio_store *s, const char *org, const char *device, int64_t epoch,
                     int64_t last, int64_t pending, int64_t drops, int64_t recv_ms,
                     struct corio_gap *tail)
{
    struct corio_epoch_state st;
    int rc = epoch_get(s, device, epoch, &st);
    if (rc < 0)
        return rc;
    if (st.has_hb && st.hb_ms > recv_ms)
        return 0; /* an older heartbeat arriving late says less than the one we have */
    int64_t of = 0, ot = 0, nf, nt;
    bool had = tail_of(&st, &of, &ot);
    st.has_hb = true;
    st.hb_last = last;
    st.hb_pending = pending;
    st.hb_drops = drops;
    st.hb_ms = recv_ms;
    if ((rc = epoch_put(s, org, device, epoch, &st)) < 0)
        return rc;
    if (!tail_of(&st, &nf, &nt) || (had && of == nf && ot == nt))
        return 0;
    *tail = (struct corio_gap){.device = device,
                               .epoch = epoch,
                               .from_seq = nf,
                               .to_seq = nt,
                               .kind = CORIO_GAP_TAIL,
                               .detected_ms = recv_ms};
    return 1;
}

int corio_store_heartbeat(struct corio_store *s, const char *org, const char *device, int64_t epoch,
                          int64_t last, int64_t pending, int64_t drops, int64_t recv_ms,
                          struct corio_gap *tail)
{
    if (!id_ok(org) || !id_ok(device) || epoch < 0 || last < 0 || pending < 0 || drops < 0 ||
        pending > last || !tail)
        return CORIO_ERR_INVAL;
    bool own;
    int rc = tx_enter(s, &own);
    if (rc < 0)
        return rc;
    rc = heartbeat(s, org, device, epoch, last, pending, drops, recv_ms, tail);
    return tx_leave(s, own, rc);
}

int corio_store_presence(struct corio_store *s, const char *org, const char *device,
                         const char *gateway, bool online, int64_t t_ms)
{
    if (!id_ok(org) || !id_ok(device) || (gateway && !id_ok(gateway)))
        return CORIO_ERR_INVAL;
    bool own;
    int rc = tx_enter(s, &own);
    if (rc < 0)
        return rc;
    /* Last seen and gateway fold like any other update; whether the presence applies
     * depends on what is stored, so it goes to the database at once. */
    struct corio_device_update u = {.org = org, .id = device, .seen_ms = t_ms, .gateway = gateway};
    rc = cache_device(s, &u);
    if (rc >= 0) {
        struct corio_device_update p = {
            .org = org, .id = device, .has_presence = true, .online = online, .presence_ms = t_ms};
        rc = s->ops->device_update(s, &p); /* 1 applied, 0 stale */
    }
    return tx_leave(s, own, rc);
}

int corio_store_record_batch(struct corio_store *s, const struct corio_batch_rec *b)
{
    if (!b || !id_ok(b->org) || !id_ok(b->gateway) || b->gw_epoch < 0 || b->first_id < 0 ||
        b->last_id < b->first_id)
        return CORIO_ERR_INVAL;
    bool own;
    int rc = tx_enter(s, &own);
    if (rc < 0)
        return rc;
    rc = s->ops->batch_record(s, b);
    if (rc == 1) {
        struct corio_store_counts d = {.batches = 1};
        int rc2 = cache_counts(s, b->org, &d);
        if (rc2 < 0)
            rc = rc2;
    }
    return tx_leave(s, own, rc);
}

/* ---- queries ----------------------------------------------------------------------- */

int corio_store_devices(struct corio_store *s, const char *org, corio_device_fn fn, void *arg)
{
    if (!id_ok(org) || !fn)
        return CORIO_ERR_INVAL;
    int rc = tx_flush(s);
    return rc < 0 ? rc : s->ops->devices(s, org, NULL, fn, arg);
}

struct one_device {
    corio_device_fn fn;
    void *arg;
    bool found;
};

static int one_device_cb(const struct corio_device_info *d, void *arg)
{
    struct one_device *o = arg;
    o->found = true;
    return o->fn(d, o->arg);
}

int corio_store_device(struct corio_store *s, const char *org, const char *id, corio_device_fn fn,
                       void *arg)
{
    if (!id_ok(org) || !id_ok(id) || !fn)
        return CORIO_ERR_INVAL;
    int rc = tx_flush(s);
    if (rc < 0)
        return rc;
    struct one_device o = {.fn = fn, .arg = arg};
    rc = s->ops->devices(s, org, id, one_device_cb, &o);
    if (rc != CORIO_OK)
        return rc;
    return o.found ? CORIO_OK : CORIO_ERR_NOTFOUND;
}

int corio_store_metric(struct corio_store *s, const char *org, const char *device, const char *name,
                       struct corio_metric_info *mi)
{
    if (!id_ok(org) || !id_ok(device) || !name || !mi)
        return CORIO_ERR_INVAL;
    return s->ops->metric_get(s, org, device, name, mi);
}

enum corio_tier corio_store_tier_for_step(int64_t step_ms)
{
    if (step_ms < CORIO_TIER_1M_MS)
        return CORIO_TIER_RAW;
    if (step_ms < CORIO_TIER_1H_MS)
        return CORIO_TIER_1M;
    return CORIO_TIER_1H;
}

int corio_store_series(struct corio_store *s, const char *org, const char *device,
                       const char *metric, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                       int64_t limit, corio_point_fn fn, void *arg)
{
    if (!id_ok(org) || !id_ok(device) || !metric || !fn || step_ms < 0 || limit < 1 ||
        to_ms < from_ms)
        return CORIO_ERR_INVAL;
    enum corio_tier tier = step_ms ? corio_store_tier_for_step(step_ms) : CORIO_TIER_RAW;
    return s->ops->series(s, org, device, metric, tier, from_ms, to_ms, step_ms, limit, fn, arg);
}

struct gap_sum {
    corio_gap_fn fn;
    void *arg;
    const char *device;
    int64_t total;
};

static int gap_sum_cb(const struct corio_gap *g, void *arg)
{
    struct gap_sum *gs = arg;
    gs->total += g->to_seq - g->from_seq + 1;
    return gs->fn(g, gs->arg);
}

static int tail_cb(int64_t epoch, const struct corio_epoch_state *st, void *arg)
{
    struct gap_sum *gs = arg;
    struct corio_gap g = {
        .device = gs->device, .epoch = epoch, .kind = CORIO_GAP_TAIL, .detected_ms = st->hb_ms};
    if (!tail_of(st, &g.from_seq, &g.to_seq))
        return 0;
    return gap_sum_cb(&g, arg);
}

int corio_store_gaps(struct corio_store *s, const char *org, const char *device, corio_gap_fn fn,
                     void *arg, int64_t *missing)
{
    if (!id_ok(org) || !id_ok(device) || !fn || !missing)
        return CORIO_ERR_INVAL;
    int rc = tx_flush(s);
    if (rc < 0)
        return rc;
    char o[CORIO_ID_LEN + 1];
    if ((rc = s->ops->device_org(s, device, o)) < 0)
        return rc;
    if (strcmp(o, org) != 0)
        return CORIO_ERR_NOTFOUND;
    struct gap_sum gs = {.fn = fn, .arg = arg, .device = device};
    rc = s->ops->gaps(s, org, device, gap_sum_cb, &gs);
    if (rc == CORIO_OK)
        rc = s->ops->epochs(s, org, device, tail_cb, &gs);
    if (rc == CORIO_OK)
        *missing = gs.total;
    return rc;
}

int corio_store_stats(struct corio_store *s, const char *org, struct corio_store_stats *st)
{
    if (!id_ok(org) || !st)
        return CORIO_ERR_INVAL;
    int rc = tx_flush(s);
    return rc < 0 ? rc : s->ops->stats(s, org, st);
}

static bool retention_ok(const struct corio_retention *r)
{
    return r && r->raw_ms >= 0 && r->rollup_1m_ms >= 0 && r->rollup_1h_ms >= 0 &&
           r->messages_ms >= 0;
}

int corio_store_retain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms,
                       int64_t *deleted)
{
    if (!retention_ok(r))
        return CORIO_ERR_INVAL;
    if (in_tx(s))
        return CORIO_ERR_STATE;
    int64_t n = 0;
    int rc = s->ops->retain(s, r, now_ms, &n);
    if (deleted)
        *deleted = n;
    return rc;
}

int corio_store_maintain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms)
{
    if (!retention_ok(r) || now_ms < 0)
        return CORIO_ERR_INVAL;
    if (in_tx(s))
        return CORIO_ERR_STATE;
    return s->ops->maintain ? s->ops->maintain(s, r, now_ms) : CORIO_OK;
}
