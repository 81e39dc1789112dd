/*
 * ingest.c - one gateway batch into one transaction (ingest.h).
 *
 * Each message is decoded completely before anything of it is written, so a message is
 * either stored whole (message row, samples, rollups, sequence accounting) or recorded
 * as rejected with its reason. A database error aborts the whole batch: it is rolled
 * back and not acknowledged, and the gateway's resend finds a clean slate.
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

/* ---- one message ------------------------------------------------------------------- */

struct msg_ctx {
    struct corio_ingest *ig;
    struct corio_ingest_result *res;
    const char *org;
    const char *gateway;
    int64_t gw_epoch;
    int64_t now_ms;
};

/* Records m as rejected for why; returns the store's answer (>= 0) or an error. */
static int reject(struct msg_ctx *c, const struct corio_batch_msg *m, const char *device,
                  const char *suffix, const char *why)
{
    struct corio_msg_row row = {
        .org = c->org,
        .device = device,
        .gateway = c->gateway,
        .gw_epoch = c->gw_epoch,
        .gw_id = (int64_t)m->id,
        .suffix = suffix,
        .recv_ms = m->recv_ms,
        .stored_ms = c->now_ms,
        .status = CORIO_MSG_REJECTED,
        .reason = why,
    };
    int64_t ref;
    int rc = corio_store_add_message(c->ig->o.store, &row, &ref);
    if (rc == 1)
        c->res->rejected++;
    else if (rc == 0)
        c->res->duplicates++;
    return rc;
}

/* Inserts the message row; 1 new, 0 duplicate, or an error. */
static int insert(struct msg_ctx *c, const struct corio_batch_msg *m, const char *device,
                  const char *suffix, bool has_seq, int64_t epoch, int64_t seq, int64_t *ref)
{
    struct corio_msg_row row = {
        .org = c->org,
        .device = device,
        .has_seq = has_seq,
        .epoch = epoch,
        .seq = seq,
        .gateway = c->gateway,
        .gw_epoch = c->gw_epoch,
        .gw_id = (int64_t)m->id,
        .suffix = suffix,
        .recv_ms = m->recv_ms,
        .stored_ms = c->now_ms,
        .status = CORIO_MSG_STORED,
    };
    int rc = corio_store_add_message(c->ig->o.store, &row, ref);
    if (rc == 1)
        c->res->stored++;
    else if (rc == 0)
        c->res->duplicates++;
    return rc;
}

static int ingest_senml(struct msg_ctx *c, const struct corio_batch_msg *m, const char *device,
                        const char *suffix, enum corio__cloud_senml_format fmt)
{
    struct corio__cloud_senml_pack pack;
    char why[CORIO_REASON_MAX];
    int rc = corio__cloud_senml_decode(fmt, m->payload, m->payload_len, device, m->recv_ms, &pack,
                                       why, sizeof why);
    if (rc == CORIO_ERR_NOSPACE)
        return rc;
    if (rc != CORIO_OK)
        return reject(c, m, device, suffix, why);
    const struct corio_ingest_hooks *h = &c->ig->o.hooks;
    int64_t t_ms;
    if (pack.has_boot && h->resolve &&
        h->resolve(h->ctx, device, pack.boot, pack.upt_ms, m->recv_ms, &t_ms) == 1) {
        /* Times that came from the receive time move to the device's own clock. */
        for (size_t i = 0; i < pack.n; i++) {
            struct corio__cloud_senml_rec *r = &pack.recs[i];
            int64_t t = r->t_ms + (t_ms - m->recv_ms);
            if (r->rel && t >= 0)
                r->t_ms = t;
        }
    }
    int64_t ref;
    rc = insert(c, m, device, suffix, pack.has_seq, pack.epoch, pack.seq, &ref);
    if (rc != 1)
        goto out;
    struct corio_store *s = c->ig->o.store;
    for (size_t i = 0; i < pack.n; i++) {
        const struct corio__cloud_senml_rec *r = &pack.recs[i];
        struct corio_sample_row row = {.org = c->org,
                                       .device = device,
                                       .metric = r->name,
                                       .t_ms = r->t_ms,
                                       .msg = ref,
                                       .value = r->value};
        int n = corio_store_add_sample(s, &row, r->unit);
        if (n < 0) {
            rc = n;
            goto out;
        }
        if (n == 1) {
            c->res->samples++;
            json_t *v = corio__cloud_value_json(&r->value);
            add_event(c->ig, c->res, "sample",
                      v ? json_pack("{s:s, s:s, s:I, s:o}", "device", device, "metric", r->name,
                                    "t", (json_int_t)r->t_ms, "v", v)
                        : NULL);
        }
    }
    if (pack.has_seq) {
        struct gap_ctx g = {c->ig, c->res};
        int g_rc = corio_store_seq_stored(s, c->org, device, pack.epoch, pack.seq, m->recv_ms,
                                          c->now_ms, gap_event, &g);
        if (g_rc < 0)
            rc = g_rc;
    }
out:
    corio__cloud_senml_pack_free(&pack);
    return rc;
}

static int ingest_heartbeat(struct msg_ctx *c, const struct corio_batch_msg *m, const char *device,
                            const char *suffix)
{
    struct corio__cloud_heartbeat hb;
    char why[CORIO_REASON_MAX];
    if (corio__cloud_heartbeat_decode(m->payload, m->payload_len, &hb, why, sizeof why) != CORIO_OK)
        return reject(c, m, device, suffix, why);
    int64_t ref;
    int rc = insert(c, m, device, suffix, false, 0, 0, &ref);
    if (rc != 1)
        return rc;
    struct corio_gap tail;
    int t = corio_store_heartbeat(c->ig->o.store, c->org, device, hb.epoch, hb.last, hb.pending,
                                  hb.drops, m->recv_ms, &tail);
    if (t < 0)
        return t;
    if (t == 1) {
        struct gap_ctx g = {c->ig, c->res};
        gap_event(&tail, &g);
    }
    return rc;
}

static int ingest_presence(struct msg_ctx *c, const struct corio_batch_msg *m, const char *device,
                           const char *suffix)
{
    bool online;
    char why[CORIO_REASON_MAX];
    if (corio__cloud_presence_decode(m->payload, m->payload_len, &online, why, sizeof why) !=
        CORIO_OK)
        return reject(c, m, device, suffix, why);
    int64_t ref;
    int rc = insert(c, m, device, suffix, false, 0, 0, &ref);
    if (rc != 1)
        return rc;
    int p = corio_store_presence(c->ig->o.store, c->org, device, c->gateway, online, m->recv_ms);
    if (p < 0)
        return p;
    if (p == 1)
        add_event(c->ig, c->res, "presence",
                  json_pack("{s:s, s:b, s:I}", "device", device, "online", online, "t",
                            (json_int_t)m->recv_ms));
    return rc;
}

/* A command result (up/res) or reported configuration (up/cfg): stored as a message,
 * under the device's (epoch, seq) when it carries one, so that it counts in the
 * device's sequence like a pack. What it says is the downlink service's (committed
 * hook); one that does not decode is kept as a message all the same. */
static int ingest_answer(struct msg_ctx *c, const struct corio_batch_msg *m, const char *device,
                         const char *suffix)
{
    bool has_id = false;
    uint64_t epoch = 0, seq = 0;
    if (strcmp(suffix, "up/res") == 0) {
        struct corio_cmd_result r;
        if (corio_cmd_result_decode(m->payload, m->payload_len, &r) == CORIO_OK) {
            has_id = r.has_id;
            epoch = r.epoch;
            seq = r.seq;
        }
    } else {
        struct corio_cfg_reported r;
        if (corio_cfg_reported_decode(m->payload, m->payload_len, &r) == CORIO_OK) {
            has_id = r.has_id;
            epoch = r.epoch;
            seq = r.seq;
        }
    }
    if (epoch > INT64_MAX || seq > INT64_MAX)
        has_id = false;
    int64_t ref;
    int rc = insert(c, m, device, suffix, has_id, (int64_t)epoch, (int64_t)seq, &ref);
    if (rc == 1 && has_id) {
        struct gap_ctx g = {c->ig, c->res};
        int g_rc = corio_store_seq_stored(c->ig->o.store, c->org, device, (int64_t)epoch,
                                          (int64_t)seq, m->recv_ms, c->now_ms, gap_event, &g);
        if (g_rc < 0)
            return g_rc;
    }
    return rc;
}

/* Whether device may send through this gateway; registers it when so configured.
 * Returns 1 yes, 0 no (why set), or an error. */
static int device_allowed(struct msg_ctx *c, const char *device, char *why, size_t whylen)
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

static int ingest_msg(struct msg_ctx *c, const struct corio_batch_msg *m)
{
    c->res->messages++;
    char suffix[SUFFIX_MAX + 1];
    char device[CORIO_ID_LEN + 1] = "";
    char why[CORIO_REASON_MAX];
    /* The batch decoder checked ids and the device's form; the suffix is free text. */
    if (m->suffix_len == 0 || m->suffix_len > SUFFIX_MAX || memchr(m->suffix, 0, m->suffix_len))
        return reject(c, m, NULL, "?", "bad topic suffix");
    memcpy(suffix, m->suffix, m->suffix_len);
    suffix[m->suffix_len] = 0;
    if (m->device_len == 0) {
        /* The gateway's own record: kept as a message, nothing in it is a sample. */
        int64_t ref;
        int rc = insert(c, m, NULL, suffix, false, 0, 0, &ref);
        return rc < 0 ? rc : CORIO_OK;
    }
    if (!corio_store_valid_id(m->device, m->device_len))
        return reject(c, m, NULL, suffix, "bad device id");
    memcpy(device, m->device, CORIO_ID_LEN);
    int ok = device_allowed(c, device, why, sizeof why);
    if (ok < 0)
        return ok;
    if (ok == 0)
        return reject(c, m, device, suffix, why);

    int rc;
    if (strcmp(suffix, "up/json") == 0)
        rc = ingest_senml(c, m, device, suffix, CORIO__CLOUD_SENML_JSON);
    else if (strcmp(suffix, "up/cbor") == 0)
        rc = ingest_senml(c, m, device, suffix, CORIO__CLOUD_SENML_CBOR);
    else if (strcmp(suffix, "up/hb") == 0)
        rc = ingest_heartbeat(c, m, device, suffix);
    else if (strcmp(suffix, "presence") == 0)
        rc = ingest_presence(c, m, device, suffix);
    else if (strcmp(suffix, "up/res") == 0 || strcmp(suffix, "up/cfg") == 0)
        rc = ingest_answer(c, m, device, suffix);
    else if (strncmp(suffix, "up/", 3) == 0) {
        /* Events, command results, reported configuration, OTA reports: kept as
         * messages for the services that read them; they carry no samples. */
        int64_t ref;
        rc = insert(c, m, device, suffix, false, 0, 0, &ref);
    } else {
        snprintf(why, sizeof why, "unknown topic suffix '%s'", suffix);
        rc = reject(c, m, device, suffix, why);
    }
    return rc < 0 ? rc : CORIO_OK;
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
    struct msg_ctx c = {.ig = ig,
                        .res = res,
                        .org = gw.org,
                        .gateway = b->gateway,
                        .gw_epoch = (int64_t)b->epoch,
                        .now_ms = now_ms};
    const struct corio_ingest_hooks *h = &ig->o.hooks;
    if (h->prepare && (rc = h->prepare(h->ctx, gw.org, b, now_ms)) < 0) {
        snprintf(res->why, sizeof res->why, "the downlink service could not prepare the batch");
        return rc == CORIO_ERR_NOSPACE ? rc : CORIO_ERR_IO;
    }
    if ((rc = corio_store_begin(s)) != CORIO_OK) {
        snprintf(res->why, sizeof res->why, "database: cannot begin");
        return rc;
    }
    for (size_t i = 0; i < b->count; i++) {
        if ((rc = ingest_msg(&c, &b->msgs[i])) < 0)
            goto fail;
    }
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
    int64_t n = corio_ack_encode(b->epoch, &range, 1, res->ack, sizeof res->ack);
    if (n < 0) {
        snprintf(res->why, sizeof res->why, "cannot encode the ack");
        return (int)n;
    }
    res->ack_len = (size_t)n;
    return CORIO_OK;
fail:
    corio_store_rollback(s);
    corio_ingest_result_free(res);
    res->messages = res->stored = res->duplicates = res->rejected = res->samples = 0;
    res->events_dropped = 0;
    snprintf(res->why, sizeof res->why, "%s; rolled back",
             rc == CORIO_ERR_NOSPACE ? "out of memory" : "database failed");
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
