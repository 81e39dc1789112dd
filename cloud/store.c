/*
 * store.c - the rules of corio-cloud's storage, above any backend (store.h).
 *
 * Backends implement single-row primitives; this file decides what to call: message
 * identity and deduplication, samples and rollups only for new samples, gap accounting
 * (docs/storage.md) and the tail gap of a heartbeat. Keeping the rules here means a
 * second backend cannot get them subtly different.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
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

void corio_store_close(struct corio_store *s)
{
    if (s)
        s->ops->close(s);
}

int corio_store_ping(struct corio_store *s)
{
    return s->ops->ping(s);
}

int corio_store_begin(struct corio_store *s)
{
    return s->ops->begin(s);
}

int corio_store_commit(struct corio_store *s)
{
    return s->ops->commit(s);
}

int corio_store_rollback(struct corio_store *s)
{
    return s->ops->rollback(s);
}

/* ---- registry ---------------------------------------------------------------------- */

int corio_store_put_org(struct corio_store *s, const char *id, const char *name)
{
    if (!id_ok(id))
        return CORIO_ERR_INVAL;
    return s->ops->org_put(s, id, name ? name : "");
}

int corio_store_put_gateway(struct corio_store *s, const struct corio_gateway_rec *g)
{
    if (!g || !id_ok(g->id) || !id_ok(g->org) || (g->pubkey_len != 0 && g->pubkey_len != 65) ||
        g->key_no < 0)
        return CORIO_ERR_INVAL;
    return s->ops->gateway_put(s, g);
}

int corio_store_put_device(struct corio_store *s, const struct corio_device_rec *d)
{
    if (!d || !id_ok(d->id) || !id_ok(d->org) || (d->gateway && *d->gateway && !id_ok(d->gateway)))
        return CORIO_ERR_INVAL;
    return s->ops->device_put(s, d);
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

int corio_store_add_message(struct corio_store *s, const struct corio_msg_row *m, int64_t *ref)
{
    if (!m || !ref || !id_ok(m->org) || !id_ok(m->gateway) || (m->device && !id_ok(m->device)) ||
        (m->has_seq && (!m->device || m->epoch < 0 || m->seq < 1)) || m->gw_epoch < 0 ||
        m->gw_id < 0 || !m->suffix ||
        (m->status != CORIO_MSG_STORED && m->status != CORIO_MSG_REJECTED))
        return CORIO_ERR_INVAL;
    char mid[CORIO_MID_MAX + 1];
    corio_store_message_id(m, mid, sizeof mid);
    int rc = s->ops->message_insert(s, mid, m, ref);
    if (rc < 0)
        return rc;
    struct corio_store_counts d = {0};
    if (rc == 0)
        d.duplicates = 1;
    else if (m->status == CORIO_MSG_REJECTED)
        d.rejected = 1;
    else
        d.messages = 1;
    int rc2 = s->ops->counts_add(s, m->org, &d);
    if (rc2 < 0)
        return rc2;
    if (rc == 1 && m->status == CORIO_MSG_STORED && m->device) {
        struct corio_device_update u = {
            .org = m->org,
            .id = m->device,
            .seen_ms = m->recv_ms,
            .gateway = m->gateway,
            .messages_delta = m->has_seq ? 1 : 0,
        };
        rc2 = s->ops->device_update(s, &u);
        if (rc2 < 0)
            return rc2;
    }
    return rc;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int corio_store_add_sample(struct corio_store *s, const struct corio_sample_row *r,
                           const char *unit)
{
    if (!r || !id_ok(r->org) || !id_ok(r->device) || !r->metric || !*r->metric || r->t_ms < 0 ||
        strlen(r->metric) > CORIO_METRIC_MAX || (unit && strlen(unit) > CORIO_UNIT_MAX))
        return CORIO_ERR_INVAL;
    switch (r->value.kind) {
    case CORIO_VALUE_NUM:
        if (!isfinite(r->value.num))
            return CORIO_ERR_INVAL;
        break;
    case CORIO_VALUE_STR:
        if (!r->value.str && r->value.len)
            return CORIO_ERR_INVAL;
        break;
    case CORIO_VALUE_DATA:
        if (!r->value.data && r->value.len)
            return CORIO_ERR_INVAL;
        break;
    case CORIO_VALUE_BOOL:
        break;
    default:
        return CORIO_ERR_INVAL;
    }
    int rc = s->ops->sample_insert(s, r);
    if (rc <= 0)
        return rc;
    int rc2 = s->ops->metric_put(s, r->org, r->device, r->metric, unit ? unit : "", r->value.kind);
    if (rc2 < 0)
        return rc2;
    struct corio_store_counts d = {.samples = 1};
    if ((rc2 = s->ops->counts_add(s, r->org, &d)) < 0)
        return rc2;
    if (r->value.kind != CORIO_VALUE_NUM)
        return rc;
    /* Rollups only ever see a sample that was just inserted, so a rollup stays equal
     * to the aggregate of the raw samples whatever arrives twice. */
    int64_t b1m = floor_div(r->t_ms, CORIO_TIER_1M_MS) * CORIO_TIER_1M_MS;
    int64_t b1h = floor_div(r->t_ms, CORIO_TIER_1H_MS) * CORIO_TIER_1H_MS;
    if ((rc2 = s->ops->rollup_add(s, CORIO_TIER_1M, r->org, r->device, r->metric, b1m,
                                  r->value.num)) < 0 ||
        (rc2 = s->ops->rollup_add(s, CORIO_TIER_1H, r->org, r->device, r->metric, b1h,
                                  r->value.num)) < 0)
        return rc2;
    return rc;
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

int corio_store_seq_stored(struct corio_store *s, const char *org, const char *device,
                           int64_t epoch, int64_t seq, int64_t recv_ms, int64_t now_ms,
                           corio_gap_fn fn, void *arg)
{
    if (!id_ok(org) || !id_ok(device) || epoch < 0 || seq < 1)
        return CORIO_ERR_INVAL;
    struct corio_epoch_state st;
    int rc = s->ops->epoch_get(s, device, epoch, &st);
    if (rc == CORIO_ERR_NOTFOUND)
        memset(&st, 0, sizeof st);
    else if (rc < 0)
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
    if ((rc = s->ops->epoch_put(s, org, device, epoch, &st)) < 0)
        return rc;
    struct corio_device_update u = {
        .org = org, .id = device, .has_epoch = true, .epoch = epoch, .epoch_ms = recv_ms};
    rc = s->ops->device_update(s, &u);
    return rc < 0 ? rc : CORIO_OK;
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

int corio_store_heartbeat(struct corio_store *s, const char *org, const char *device, int64_t epoch,
                          int64_t last, int64_t pending, int64_t drops, int64_t recv_ms,
                          struct corio_gap *tail)
{
    if (!id_ok(org) || !id_ok(device) || epoch < 0 || last < 0 || pending < 0 || drops < 0 ||
        pending > last || !tail)
        return CORIO_ERR_INVAL;
    struct corio_epoch_state st;
    int rc = s->ops->epoch_get(s, device, epoch, &st);
    if (rc == CORIO_ERR_NOTFOUND)
        memset(&st, 0, sizeof st);
    else if (rc < 0)
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
    if ((rc = s->ops->epoch_put(s, org, device, epoch, &st)) < 0)
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

int corio_store_presence(struct corio_store *s, const char *org, const char *device,
                         const char *gateway, bool online, int64_t t_ms)
{
    if (!id_ok(org) || !id_ok(device) || (gateway && !id_ok(gateway)))
        return CORIO_ERR_INVAL;
    struct corio_device_update u = {.org = org,
                                    .id = device,
                                    .seen_ms = t_ms,
                                    .gateway = gateway,
                                    .has_presence = true,
                                    .online = online,
                                    .presence_ms = t_ms};
    return s->ops->device_update(s, &u); /* 1 applied, 0 stale */
}

int corio_store_record_batch(struct corio_store *s, const struct corio_batch_rec *b)
{
    if (!b || !id_ok(b->org) || !id_ok(b->gateway) || b->gw_epoch < 0 || b->first_id < 0 ||
        b->last_id < b->first_id)
        return CORIO_ERR_INVAL;
    int rc = s->ops->batch_record(s, b);
    if (rc == 1) {
        struct corio_store_counts d = {.batches = 1};
        int rc2 = s->ops->counts_add(s, b->org, &d);
        if (rc2 < 0)
            return rc2;
    }
    return rc;
}

/* ---- queries ----------------------------------------------------------------------- */

int corio_store_devices(struct corio_store *s, const char *org, corio_device_fn fn, void *arg)
{
    if (!id_ok(org) || !fn)
        return CORIO_ERR_INVAL;
    return s->ops->devices(s, org, NULL, fn, arg);
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
    struct one_device o = {.fn = fn, .arg = arg};
    int rc = s->ops->devices(s, org, id, one_device_cb, &o);
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
    char o[CORIO_ID_LEN + 1];
    int rc = s->ops->device_org(s, device, o);
    if (rc < 0)
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
    return s->ops->stats(s, org, st);
}

int corio_store_retain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms,
                       int64_t *deleted)
{
    if (!r || r->raw_ms < 0 || r->rollup_1m_ms < 0 || r->rollup_1h_ms < 0 || r->messages_ms < 0)
        return CORIO_ERR_INVAL;
    int64_t n = 0;
    int rc = s->ops->retain(s, r, now_ms, &n);
    if (deleted)
        *deleted = n;
    return rc;
}
