/*
 * ingest.c - one gateway batch into one transaction (ingest.h).
 *
 * Each message is decoded completely before anything of it is written, so a message is
 * either stored whole (message row, samples, rollups, sequence accounting) or recorded
 * as rejected with its reason. A database error aborts the whole batch: it is rolled
 * back and not acknowledged, and the gateway's resend finds a clean slate. The devices
 * of a batch are locked first (corio_store_lock_devices), so several ingest processes
 * on one PostgreSQL database never interleave one device's sequence accounting.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cloud_int.h"
#include "corio/downlink.h"
#include "corio/error.h"
#include "ingest.h"

#define DEFAULT_MAX_EVENTS 20000
#define SUFFIX_MAX         64

struct corio_ingest {
    struct corio_ingest_opts o;
};

int corio_ingest_new(const struct corio_ingest_opts *opts, struct corio_ingest **out)
{
    if (!opts || !opts->store || !opts->verifier.open || !out)
        return CORIO_ERR_INVAL;
    struct corio_ingest *ig = calloc(1, sizeof *ig);
    if (!ig)
        return CORIO_ERR_NOSPACE;
    ig->o = *opts;
    if (!ig->o.max_events)
        ig->o.max_events = DEFAULT_MAX_EVENTS;
    *out = ig;
    return CORIO_OK;
}

void corio_ingest_free(struct corio_ingest *ig)
{
    free(ig);
}

void corio_ingest_result_free(struct corio_ingest_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nevents; i++)
        free(res->events[i].data);
    free(res->events);
    res->events = NULL;
    res->nevents = res->events_cap = 0;
}

bool corio_ingest_topic_gateway(const char *topic, const char *leaf, char gw[CORIO_ID_LEN + 1])
{
    static const char prefix[] = "corio/v1/g/";
    if (!topic || strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *id = topic + sizeof prefix - 1;
    if (strnlen(id, CORIO_ID_LEN + 1) <= CORIO_ID_LEN || !corio_store_valid_id(id, CORIO_ID_LEN) ||
        id[CORIO_ID_LEN] != '/' || strcmp(id + CORIO_ID_LEN + 1, leaf) != 0)
        return false;
    memcpy(gw, id, CORIO_ID_LEN);
    gw[CORIO_ID_LEN] = 0;
    return true;
}

/* ---- events ------------------------------------------------------------------------ */

/* Takes obj. Out of memory or over the cap only loses the live event, never data. */
static void add_event(struct corio_ingest *ig, struct corio_ingest_result *res, const char *type,
                      json_t *obj)
{
    if (!obj)
        return;
    if (res->nevents >= ig->o.max_events) {
        res->events_dropped++;
        json_decref(obj);
        return;
    }
    if (res->nevents == res->events_cap) {
        size_t cap = res->events_cap ? res->events_cap * 2 : 64;
        void *p = realloc(res->events, cap * sizeof *res->events);
        if (!p) {
            res->events_dropped++;
            json_decref(obj);
            return;
        }
        res->events = p;
        res->events_cap = cap;
    }
    char *data = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!data) {
        res->events_dropped++;
        return;
    }
    res->events[res->nevents++] = (struct corio_event){.type = type, .data = data};
}

static const char *gap_kind(enum corio_gap_kind k)
{
    return k == CORIO_GAP_TAIL ? "tail" : "seq";
}

struct gap_ctx {
    struct corio_ingest *ig;
    struct corio_ingest_result *res;
};

static int gap_event(const struct corio_gap *g, void *arg)
{
    struct gap_ctx *c = arg;
    add_event(c->ig, c->res, "gap",
              json_pack("{s:s, s:I, s:I, s:I, s:s}", "device", g->device, "epoch",
                        (json_int_t)g->epoch, "from_seq", (json_int_t)g->from_seq, "to_seq",
                        (json_int_t)g->to_seq, "kind", gap_kind(g->kind)));
    return 0;
}

/* ---- one batch, in phases -----------------------------------------------------------
 *
 * 1. every message is checked and decoded (nothing written yet), after the devices of
 *    the batch are locked: a message is either stored whole or recorded as rejected;
 * 2. all message rows go to the store at once, which says which are new;
 * 3. the samples of the new SenML messages go at once, with their rollups;
 * 4. in batch order, per new message: its live events, sequence accounting, heartbeat
 *    or presence;
 * 5. the batch's record, the commit.
 * Phases 2 and 3 let PostgreSQL take a batch in a few round trips; the order of what
 * each message changes is the same as storing the messages one after the other.
 */

enum msg_kind { K_OTHER, K_SENML, K_HB, K_PRESENCE, K_ANSWER };

struct pmsg {
    const struct corio_batch_msg *m;
    char device[CORIO_ID_LEN + 1]; /* "" for the gateway's own records */
    char suffix[SUFFIX_MAX + 1];
    enum msg_kind kind;
    bool rejected;
    char why[CORIO_REASON_MAX];
    struct corio__cloud_senml_pack pack;
    struct corio__cloud_heartbeat hb;
    bool online;
    bool has_id; /* K_ANSWER: the device's (epoch, seq) of the result or report */
    int64_t ans_epoch, ans_seq;
    size_t first; /* a new SenML message: its first sample in the batch's arrays */
};

/* What the batch's devices may do: looked up once per batch. */
struct devstate {
    char id[CORIO_ID_LEN + 1];
    int allowed; /* 1, or 0 with why */
    char why[CORIO_REASON_MAX];
};

struct bctx {
    struct corio_ingest *ig;
    struct corio_ingest_result *res;
    const char *org;
    const char *gateway;
    int64_t gw_epoch;
    int64_t now_ms;
    struct pmsg *p;
    size_t n;
    struct devstate *dev;
    size_t ndev;
};

static int cmp_devstate(const void *a, const void *b)
{
    return strcmp(((const struct devstate *)a)->id, ((const struct devstate *)b)->id);
}

/* Whether device may send through this gateway; registers it when so configured.
 * Returns 1 yes, 0 no (why set), or an error. */
static int device_allowed(struct bctx *c, const char *device, char *why, size_t whylen)
{
    char org[CORIO_ID_LEN + 1];
    int rc = corio_store_device_org(c->ig->o.store, device, org);
    if (rc == CORIO_ERR_NOTFOUND) {
        if (!c->ig->o.accept_unregistered) {
            snprintf(why, whylen, "device %s is not registered", device);
            return 0;
        }
        struct corio_device_rec d = {.id = device, .org = c->org, .gateway = c->gateway};
        rc = corio_store_put_device(c->ig->o.store, &d);
        return rc < 0 ? rc : 1;
    }
    if (rc < 0)
        return rc;
    if (strcmp(org, c->org) != 0) {
        snprintf(why, whylen, "device %s belongs to another organisation", device);
        return 0;
    }
    return 1;
}

static struct devstate *devstate_of(struct bctx *c, const char *device)
{
    struct devstate key;
    snprintf(key.id, sizeof key.id, "%s", device);
    return bsearch(&key, c->dev, c->ndev, sizeof *c->dev, cmp_devstate);
}

static void reject_as(struct pmsg *p, const char *why)
{
    p->rejected = true;
    snprintf(p->why, sizeof p->why, "%s", why);
}

/* Phase 1a: names. The batch decoder checked ids and the device's form; the suffix is
 * free text. */
static void parse_names(struct pmsg *p)
{
    const struct corio_batch_msg *m = p->m;
    if (m->suffix_len == 0 || m->suffix_len > SUFFIX_MAX ||
        !corio_store_text_ok(m->suffix, m->suffix_len)) {
        snprintf(p->suffix, sizeof p->suffix, "?");
        reject_as(p, "bad topic suffix");
        return;
    }
    memcpy(p->suffix, m->suffix, m->suffix_len);
    p->suffix[m->suffix_len] = 0;
    if (m->device_len == 0)
        return; /* the gateway's own record: kept as a message, nothing in it is a sample */
    if (!corio_store_valid_id(m->device, m->device_len)) {
        reject_as(p, "bad device id");
        return;
    }
    memcpy(p->device, m->device, CORIO_ID_LEN);
    p->device[CORIO_ID_LEN] = 0;
}

/* Phase 1b: the devices. Locks them all, then decides each once, in id order. */
static int check_devices(struct bctx *c)
{
    if (!(c->dev = calloc(c->n ? c->n : 1, sizeof *c->dev)))
        return CORIO_ERR_NOSPACE;
    for (size_t i = 0; i < c->n; i++)
        if (c->p[i].device[0] && !c->p[i].rejected)
            snprintf(c->dev[c->ndev++].id, sizeof c->dev->id, "%s", c->p[i].device);
    qsort(c->dev, c->ndev, sizeof *c->dev, cmp_devstate);
    size_t k = 0;
    for (size_t i = 0; i < c->ndev; i++)
        if (k == 0 || strcmp(c->dev[k - 1].id, c->dev[i].id) != 0)
            c->dev[k++] = c->dev[i];
    c->ndev = k;
    if (k) {
        const char **ids = malloc(k * sizeof *ids);
        if (!ids)
            return CORIO_ERR_NOSPACE;
        for (size_t i = 0; i < k; i++)
            ids[i] = c->dev[i].id;
        int rc = corio_store_lock_devices(c->ig->o.store, ids, k);
        free(ids);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < k; i++) {
        int ok = device_allowed(c, c->dev[i].id, c->dev[i].why, sizeof c->dev[i].why);
        if (ok < 0)
            return ok;
        c->dev[i].allowed = ok;
    }
    return CORIO_OK;
}

/* Phase 1c: the payload, decoded completely before anything of it is written. Returns
 * CORIO_OK (p->rejected tells) or CORIO_ERR_NOSPACE. */
static int decode(struct bctx *c, struct pmsg *p)
{
    const struct corio_batch_msg *m = p->m;
    if (p->rejected || !p->device[0])
        return CORIO_OK;
    struct devstate *d = devstate_of(c, p->device);
    if (!d || !d->allowed) {
        reject_as(p, d ? d->why : "device not checked");
        return CORIO_OK;
    }
    const char *suffix = p->suffix;
    if (strcmp(suffix, "up/json") == 0 || strcmp(suffix, "up/cbor") == 0) {
        enum corio__cloud_senml_format fmt =
            suffix[3] == 'j' ? CORIO__CLOUD_SENML_JSON : CORIO__CLOUD_SENML_CBOR;
        int rc = corio__cloud_senml_decode(fmt, m->payload, m->payload_len, p->device, m->recv_ms,
                                           &p->pack, p->why, sizeof p->why);
        if (rc == CORIO_ERR_NOSPACE)
            return rc;
        if (rc != CORIO_OK) {
            p->rejected = true;
            return CORIO_OK;
        }
        /* Text is what every backend stores: UTF-8 without NUL (a JSON "\u0000" or a
         * CBOR text string may carry one). */
        for (size_t i = 0; i < p->pack.n; i++) {
            const struct corio_value *v = &p->pack.recs[i].value;
            if (v->kind == CORIO_VALUE_STR && !corio_store_text_ok(v->str, v->len)) {
                snprintf(p->why, sizeof p->why, "record %zu: string value holds a NUL", i);
                corio__cloud_senml_pack_free(&p->pack);
                p->rejected = true;
                return CORIO_OK;
            }
        }
        p->kind = K_SENML;
        /* A pack of a device without time: dated from its boot's clock when the
         * downlink service knows it (docs/storage.md, "Time"). */
        const struct corio_ingest_hooks *h = &c->ig->o.hooks;
        int64_t t_ms;
        if (p->pack.has_boot && h->resolve &&
            h->resolve(h->ctx, p->device, p->pack.boot, p->pack.upt_ms, m->recv_ms, &t_ms) == 1) {
            for (size_t i = 0; i < p->pack.n; i++) {
                struct corio__cloud_senml_rec *r = &p->pack.recs[i];
                int64_t t = r->t_ms + (t_ms - m->recv_ms);
                if (r->rel && t >= 0)
                    r->t_ms = t;
            }
        }
    } else if (strcmp(suffix, "up/res") == 0 || strcmp(suffix, "up/cfg") == 0) {
        /* A command result or reported configuration: through the device's outbox, so
         * stored under its (epoch, seq) and counted in its sequence like a pack. What it
         * says is the downlink service's (the committed hook). One that does not decode
         * is kept as a message all the same. */
        uint64_t ep = 0, seq = 0;
        bool has = false;
        struct corio_cmd_result r;
        struct corio_cfg_reported cr;
        if (suffix[3] == 'r' &&
            corio_cmd_result_decode(m->payload, m->payload_len, &r) == CORIO_OK) {
            has = r.has_id;
            ep = r.epoch;
            seq = r.seq;
        } else if (suffix[3] == 'c' &&
                   corio_cfg_reported_decode(m->payload, m->payload_len, &cr) == CORIO_OK) {
            has = cr.has_id;
            ep = cr.epoch;
            seq = cr.seq;
        }
        p->kind = K_ANSWER;
        p->has_id = has && ep <= INT64_MAX && seq <= INT64_MAX;
        p->ans_epoch = (int64_t)ep;
        p->ans_seq = (int64_t)seq;
    } else if (strcmp(suffix, "up/hb") == 0) {
        if (corio__cloud_heartbeat_decode(m->payload, m->payload_len, &p->hb, p->why,
                                          sizeof p->why) != CORIO_OK)
            p->rejected = true;
        else
            p->kind = K_HB;
    } else if (strcmp(suffix, "presence") == 0) {
        if (corio__cloud_presence_decode(m->payload, m->payload_len, &p->online, p->why,
                                         sizeof p->why) != CORIO_OK)
            p->rejected = true;
        else
            p->kind = K_PRESENCE;
    } else if (strncmp(suffix, "up/", 3) != 0) {
        /* Events, OTA reports (other up/...) are kept as messages for the services that
         * read them; anything else is not ours. */
        char why[CORIO_REASON_MAX];
        snprintf(why, sizeof why, "unknown topic suffix '%s'", suffix);
        reject_as(p, why);
    }
    return CORIO_OK;
}

/* Phase 4: what a new message changes beyond its rows, and its live events. */
static int apply(struct bctx *c, struct pmsg *p, const struct corio_sample_row *rows,
                 const uint8_t *inserted)
{
    struct corio_store *s = c->ig->o.store;
    const struct corio_batch_msg *m = p->m;
    struct gap_ctx g = {c->ig, c->res};
    switch (p->kind) {
    case K_SENML:
        for (size_t i = 0; i < p->pack.n; i++) {
            if (!inserted[p->first + i])
                continue;
            const struct corio_sample_row *r = &rows[p->first + i];
            json_t *v = corio__cloud_value_json(&r->value);
            add_event(c->ig, c->res, "sample",
                      v ? json_pack("{s:s, s:s, s:I, s:o}", "device", p->device, "metric",
                                    r->metric, "t", (json_int_t)r->t_ms, "v", v)
                        : NULL);
        }
        if (p->pack.has_seq)
            return corio_store_seq_stored(s, c->org, p->device, p->pack.epoch, p->pack.seq,
                                          m->recv_ms, c->now_ms, gap_event, &g);
        return CORIO_OK;
    case K_HB: {
        struct corio_gap tail;
        int t = corio_store_heartbeat(s, c->org, p->device, p->hb.epoch, p->hb.last, p->hb.pending,
                                      p->hb.drops, m->recv_ms, &tail);
        if (t == 1)
            gap_event(&tail, &g);
        return t < 0 ? t : CORIO_OK;
    }
    case K_PRESENCE: {
        int r = corio_store_presence(s, c->org, p->device, c->gateway, p->online, m->recv_ms);
        if (r == 1)
            add_event(c->ig, c->res, "presence",
                      json_pack("{s:s, s:b, s:I}", "device", p->device, "online", p->online, "t",
                                (json_int_t)m->recv_ms));
        return r < 0 ? r : CORIO_OK;
    }
    case K_ANSWER:
        if (p->has_id)
            return corio_store_seq_stored(s, c->org, p->device, p->ans_epoch, p->ans_seq,
                                          m->recv_ms, c->now_ms, gap_event, &g);
        return CORIO_OK;
    case K_OTHER:
        break;
    }
    return CORIO_OK;
}

/* Phases 1 to 4; the caller opened the transaction and commits or rolls back. */
static int ingest_messages(struct bctx *c)
{
    struct corio_store *s = c->ig->o.store;
    struct corio_msg_row *rows = NULL;
    int64_t *ref = NULL;
    uint8_t *is_new = NULL, *inserted = NULL;
    struct corio_sample_row *srows = NULL;
    const char **units = NULL;
    int rc = CORIO_ERR_NOSPACE;

    for (size_t i = 0; i < c->n; i++)
        parse_names(&c->p[i]);
    if ((rc = check_devices(c)) < 0)
        goto out;
    size_t nsamples = 0;
    for (size_t i = 0; i < c->n; i++) {
        if ((rc = decode(c, &c->p[i])) < 0)
            goto out;
        if (c->p[i].kind == K_SENML)
            nsamples += c->p[i].pack.n;
    }

    rc = CORIO_ERR_NOSPACE;
    size_t n = c->n;
    if (!(rows = calloc(n ? n : 1, sizeof *rows)) || !(ref = calloc(n ? n : 1, sizeof *ref)) ||
        !(is_new = calloc(n ? n : 1, 1)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct pmsg *p = &c->p[i];
        rows[i] = (struct corio_msg_row){
            .org = c->org,
            .device = p->device[0] ? p->device : NULL,
            .gateway = c->gateway,
            .gw_epoch = c->gw_epoch,
            .gw_id = (int64_t)p->m->id,
            .suffix = p->suffix,
            .recv_ms = p->m->recv_ms,
            .stored_ms = c->now_ms,
            .status = p->rejected ? CORIO_MSG_REJECTED : CORIO_MSG_STORED,
            .reason = p->rejected ? p->why : NULL,
        };
        /* A rejected message's own fields are not trusted: it keeps the gateway
         * identity, and its seq (if any) stays in a gap. */
        if (!p->rejected && p->kind == K_SENML && p->pack.has_seq) {
            rows[i].has_seq = true;
            rows[i].epoch = p->pack.epoch;
            rows[i].seq = p->pack.seq;
        } else if (!p->rejected && p->kind == K_ANSWER && p->has_id) {
            rows[i].has_seq = true;
            rows[i].epoch = p->ans_epoch;
            rows[i].seq = p->ans_seq;
        }
    }
    if ((rc = corio_store_add_messages(s, rows, n, ref, is_new)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!is_new[i])
            c->res->duplicates++;
        else if (c->p[i].rejected)
            c->res->rejected++;
        else
            c->res->stored++;
    }

    /* Only the samples of new messages: a duplicate's were stored with it. */
    rc = CORIO_ERR_NOSPACE;
    if (!(srows = calloc(nsamples ? nsamples : 1, sizeof *srows)) ||
        !(units = calloc(nsamples ? nsamples : 1, sizeof *units)) ||
        !(inserted = calloc(nsamples ? nsamples : 1, 1)))
        goto out;
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        struct pmsg *p = &c->p[i];
        if (p->kind != K_SENML || !is_new[i])
            continue;
        p->first = ns;
        for (size_t k = 0; k < p->pack.n; k++) {
            const struct corio__cloud_senml_rec *r = &p->pack.recs[k];
            srows[ns] = (struct corio_sample_row){.org = c->org,
                                                  .device = p->device,
                                                  .metric = r->name,
                                                  .t_ms = r->t_ms,
                                                  .msg = ref[i],
                                                  .value = r->value};
            units[ns++] = r->unit;
        }
    }
    rc = ns ? corio_store_add_samples(s, srows, units, ns, inserted) : 0;
    if (rc < 0)
        goto out;
    c->res->samples += rc;

    for (size_t i = 0; i < n; i++) {
        if (!is_new[i] || c->p[i].rejected)
            continue;
        if ((rc = apply(c, &c->p[i], srows, inserted)) < 0)
            goto out;
    }
    rc = CORIO_OK;
out:
    free(rows);
    free(ref);
    free(is_new);
    free(srows);
    free(units);
    free(inserted);
    return rc;
}

/* ---- batches ----------------------------------------------------------------------- */

int corio_ingest_decoded(struct corio_ingest *ig, const struct corio_batch *b, int64_t now_ms,
                         struct corio_ingest_result *res)
{
    if (!ig || !b || !res)
        return CORIO_ERR_INVAL;
    memset(res, 0, sizeof *res);
    struct corio_store *s = ig->o.store;
    snprintf(res->gateway, sizeof res->gateway, "%s", b->gateway);
    res->epoch = b->epoch;
    res->first = b->first;
    res->last = b->last;
    if (b->epoch > INT64_MAX || b->last > INT64_MAX || b->first > b->last) {
        snprintf(res->why, sizeof res->why, "batch epoch or ids out of range");
        return CORIO_ERR_POLICY;
    }
    struct corio_gateway_rec gw;
    int rc = corio_store_get_gateway(s, b->gateway, &gw);
    if (rc != CORIO_OK) {
        snprintf(res->why, sizeof res->why, "gateway %s is %s", b->gateway,
                 rc == CORIO_ERR_NOTFOUND ? "not registered" : "not readable");
        return rc == CORIO_ERR_INVAL ? CORIO_ERR_POLICY : rc;
    }
    struct bctx c = {.ig = ig,
                     .res = res,
                     .org = gw.org,
                     .gateway = b->gateway,
                     .gw_epoch = (int64_t)b->epoch,
                     .now_ms = now_ms,
                     .n = b->count};
    if (!(c.p = calloc(b->count ? b->count : 1, sizeof *c.p))) {
        snprintf(res->why, sizeof res->why, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    for (size_t i = 0; i < b->count; i++)
        c.p[i].m = &b->msgs[i];
    res->messages = (int64_t)b->count;
    const struct corio_ingest_hooks *h = &ig->o.hooks;
    if (h->prepare && (rc = h->prepare(h->ctx, gw.org, b, now_ms)) < 0) {
        snprintf(res->why, sizeof res->why, "the downlink service could not prepare the batch");
        rc = rc == CORIO_ERR_NOSPACE ? rc : CORIO_ERR_IO;
        goto done;
    }
    if ((rc = corio_store_begin(s)) != CORIO_OK) {
        snprintf(res->why, sizeof res->why, "database: cannot begin");
        goto done;
    }
    if ((rc = ingest_messages(&c)) < 0)
        goto fail;
    struct corio_batch_rec br = {.org = gw.org,
                                 .gateway = b->gateway,
                                 .gw_epoch = (int64_t)b->epoch,
                                 .first_id = (int64_t)b->first,
                                 .last_id = (int64_t)b->last,
                                 .received_ms = now_ms,
                                 .n_new = res->stored,
                                 .n_dup = res->duplicates,
                                 .n_rejected = res->rejected};
    if ((rc = corio_store_record_batch(s, &br)) < 0)
        goto fail;
    res->new_batch = rc == 1;
    if ((rc = corio_store_commit(s)) != CORIO_OK)
        goto fail;
    if (h->committed)
        h->committed(h->ctx, gw.org, b, now_ms);

    /* Every message of the range is now stored, known or recorded as rejected. */
    struct corio_ack_range range = {b->first, b->last};
    int64_t alen = corio_ack_encode(b->epoch, &range, 1, res->ack, sizeof res->ack);
    if (alen < 0) {
        snprintf(res->why, sizeof res->why, "cannot encode the ack");
        rc = (int)alen;
        goto done;
    }
    res->ack_len = (size_t)alen;
    rc = CORIO_OK;
    goto done;
fail:
    corio_store_rollback(s);
    corio_ingest_result_free(res);
    res->messages = res->stored = res->duplicates = res->rejected = res->samples = 0;
    res->events_dropped = 0;
    snprintf(res->why, sizeof res->why, "%s; rolled back",
             rc == CORIO_ERR_NOSPACE ? "out of memory" : "database failed");
done:
    for (size_t i = 0; i < c.n; i++)
        corio__cloud_senml_pack_free(&c.p[i].pack);
    free(c.p);
    free(c.dev);
    return rc;
}

int corio_ingest_batch(struct corio_ingest *ig, const char *topic, const uint8_t *wire, size_t len,
                       int64_t now_ms, struct corio_ingest_result *res)
{
    if (!ig || !res || (!wire && len))
        return CORIO_ERR_INVAL;
    memset(res, 0, sizeof *res);
    char gw_id[CORIO_ID_LEN + 1];
    if (!corio_ingest_topic_gateway(topic, "batch", gw_id)) {
        snprintf(res->why, sizeof res->why, "not a batch topic");
        return CORIO_ERR_INVAL;
    }
    snprintf(res->gateway, sizeof res->gateway, "%s", gw_id);
    struct corio_gateway_rec gw;
    int rc = corio_store_get_gateway(ig->o.store, gw_id, &gw);
    if (rc != CORIO_OK) {
        snprintf(res->why, sizeof res->why, "gateway is %s",
                 rc == CORIO_ERR_NOTFOUND ? "not registered" : "not readable");
        return rc;
    }
    struct corio_batch b;
    rc = ig->o.verifier.open(ig->o.verifier.ctx, &gw, wire, len, &b, res->why, sizeof res->why);
    if (rc != CORIO_OK) {
        if (rc == CORIO_ERR_STATE)
            rc = CORIO_ERR_BADSIG; /* nothing can verify it: the same as a bad signature */
        else if (rc != CORIO_ERR_BADSIG && rc != CORIO_ERR_VERSION)
            rc = CORIO_ERR_MALFORMED; /* not a valid sealed batch */
        return rc;
    }
    if (strcmp(b.gateway, gw_id) != 0) {
        snprintf(res->why, sizeof res->why, "batch of gateway %s on the topic of %s", b.gateway,
                 gw_id);
        corio_batch_free(&b);
        return CORIO_ERR_POLICY;
    }
    rc = corio_ingest_decoded(ig, &b, now_ms, res);
    corio_batch_free(&b);
    return rc;
}
