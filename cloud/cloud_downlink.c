/*
 * cloud_downlink.c - corio-cloud's downlink service (cloud_downlink.h; docs/downlink.md).
 *
 * Threads: the API's handlers store commands and configuration and wake the sender;
 * the sender (one thread) expires, sends and resends, and handles gateways' state
 * messages; the ingest worker calls the hooks (prepare before a batch's transaction,
 * committed after it); the follower (ledger_follow.c) fetches the ledger's registry.
 * The downlink store is thread-safe by itself; the reader connection of the telemetry
 * store is the service's own and used under its lock.
 *
 * Sending: each round gathers what is due per gateway (commands, configurations, a
 * registry relay), adds the cloud's time, signs the container and publishes it QoS 1.
 * Whatever was in a container is due again after an interval that doubles from
 * resend_min_ms to resend_max_ms, until the device's answer (through a batch, the
 * durable path) or the gateway's state message says it arrived.
 */
#include "cloud_downlink.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include "cloud_int.h"
#include "corio/downlink.h"
#include "corio/error.h"
#include "corio/senml.h"
#include "corio_log.h"
#include "crypto_openssl.h"
#include "down.h"
#include "downlink_int.h"
#include "relay.h"

#define ROUND_MS        250
#define DUE_LIMIT       512
#define ITEMS_PER_CONT  256
#define CMD_LIST_LIMIT  100
#define CMD_LIST_MAX    1000
#define STATE_QUEUE_MAX 1024

struct statemsg {
    struct statemsg *next;
    char gateway[CORIO_ID_LEN + 1];
    uint8_t *payload;
    size_t len;
};

/* A boot's clock decided in prepare, for resolve (the ingest's thread only). */
struct resolved {
    char device[CORIO_ID_LEN + 1];
    uint64_t boot;
    bool ok;
    int64_t base_ms;
};

struct corio_cloud_downlink {
    struct corio_cloud_downlink_opts o;
    char org[CORIO_ID_LEN + 1];
    pthread_mutex_t lock; /* the reader, the state queue, the flags, the stats */
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stopping, connected, wake, warned_no_key;
    struct statemsg *states, *states_tail;
    size_t nstates;
    struct corio__ledger_follow *follow;
    struct corio_cloud_downlink_stats st;
    struct resolved *res;
    size_t nres, capres;
    struct corio_dl_boot_note *notes; /* prepare's, kept for the next batch */
    size_t capnotes;
};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t now_of(const struct corio_cloud_downlink *d)
{
    return d->o.now_ms ? d->o.now_ms() : wall_ms();
}

static void wake(struct corio_cloud_downlink *d)
{
    pthread_mutex_lock(&d->lock);
    d->wake = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void wake_cb(void *ctx)
{
    wake(ctx);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The resend interval after n sends. */
static int64_t backoff(const struct corio_cloud_downlink *d, int64_t sends)
{
    int64_t v = d->o.resend_min_ms;
    for (int64_t i = 1; i < sends && v < d->o.resend_max_ms; i++)
        v *= 2;
    return v < d->o.resend_max_ms ? v : d->o.resend_max_ms;
}

/* ---- the telemetry store's view of devices and gateways --------------------------- */

struct devinfo {
    bool found;
    char gateway[CORIO_ID_LEN + 1];
};

static int keep_devinfo(const struct corio_device_info *i, void *arg)
{
    struct devinfo *di = arg;
    di->found = true;
    snprintf(di->gateway, sizeof di->gateway, "%s", i->gateway ? i->gateway : "");
    return 0;
}

/* Whether the device is this organisation's, and its gateway ("" when none known).
 * Returns CORIO_OK, CORIO_ERR_NOTFOUND or an error. */
static int device_of(struct corio_cloud_downlink *d, const char *device, struct devinfo *di)
{
    memset(di, 0, sizeof *di);
    pthread_mutex_lock(&d->lock);
    int rc = corio_store_device(d->o.reader, d->org, device, keep_devinfo, di);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* ---- JSON of stored records ---------------------------------------------------------- */

static json_t *cbor_or_null(const uint8_t *p, size_t n)
{
    json_t *j = p && n ? corio__cbor_to_json(p, n) : NULL;
    return j ? j : json_null();
}

static json_t *ms_or_null(int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static const char *status_name(int status)
{
    static const char *const names[] = {"done", "failed", "expired", "unknown"};
    return status >= 0 && status <= CORIO_CMD_STATUS_MAX ? names[status] : "?";
}

static json_t *cmd_json(const struct corio_dl_cmd *c)
{
    char cid[2 * CORIO_DL_CID_LEN + 1];
    hex(c->cid, CORIO_DL_CID_LEN, cid);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "seq", json_integer(c->seq));
    json_object_set_new(o, "cid", json_string(cid));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "args", cbor_or_null(c->args, c->args_len));
    json_object_set_new(o, "state", json_string(corio_dl_state_name(c->state)));
    json_object_set_new(o, "created", json_integer(c->created_ms));
    json_object_set_new(o, "expires", json_integer(c->expires_ms));
    json_object_set_new(o, "gateway", c->gateway[0] ? json_string(c->gateway) : json_null());
    json_object_set_new(o, "sends", json_integer(c->sends));
    json_object_set_new(o, "last_sent", ms_or_null(c->last_sent_ms));
    json_object_set_new(o, "delivered", ms_or_null(c->delivered_ms));
    json_object_set_new(o, "answered", ms_or_null(c->answered_ms));
    json_object_set_new(o, "status",
                        c->has_answer ? json_string(status_name(c->status)) : json_null());
    json_object_set_new(
        o, "error", c->has_answer && c->err ? json_string(corio_strerror(c->err)) : json_null());
    json_object_set_new(o, "result", cbor_or_null(c->result, c->result_len));
    return o;
}

static int append_cmd(const struct corio_dl_cmd *c, void *arg)
{
    json_t *j = cmd_json(c);
    return j && json_array_append_new(arg, j) == 0 ? 0 : CORIO_ERR_NOSPACE;
}

static int keep_cmd(const struct corio_dl_cmd *c, void *arg)
{
    *(json_t **)arg = cmd_json(c);
    return 0;
}

/* ---- the API --------------------------------------------------------------------------- */

static const char *device_param(struct corio_http_req *r)
{
    const char *id = corio_http_param(r, "id");
    if (!id || !corio_store_valid_id(id, strlen(id))) {
        corio_http_reply_error(r, 404, "unknown device");
        return NULL;
    }
    return id;
}

/* The device, when it is this organisation's; answers 404/500 otherwise. */
static const char *known_device(struct corio_cloud_downlink *d, struct corio_http_req *r)
{
    const char *id = device_param(r);
    if (!id)
        return NULL;
    struct devinfo di;
    int rc = device_of(d, id, &di);
    if (rc == CORIO_ERR_NOTFOUND) {
        corio_http_reply_error(r, 404, "unknown device");
        return NULL;
    }
    if (rc != CORIO_OK) {
        corio_http_reply_error(r, 500, "storage failed");
        return NULL;
    }
    return id;
}

static int h_post_command(struct corio_http_req *r, void *arg)
{
    struct corio_cloud_downlink *d = arg;
    const char *id = known_device(d, r);
    if (!id)
        return CORIO_OK;
    char err[160];
    json_t *body = corio_http_body_json(r, err, sizeof err);
    if (!body)
        return corio_http_reply_error(r, 400, "body: %s", err);
    int status = 400;
    const char *why = NULL;
    char whybuf[160] = "";
    uint8_t *args = NULL;
    size_t args_len = 0;
    json_t *name = json_object_get(body, "name"), *jargs = json_object_get(body, "args");
    json_t *expiry = json_object_get(body, "expiry"), *ttl = json_object_get(body, "ttl");
    int64_t now = now_of(d), expires = now + d->o.command_ttl_ms;
    const char *k;
    json_t *v;
    if (!json_is_object(body))
        why = "the body must be an object {name, args, expiry}";
    json_object_foreach(body, k, v)
    {
        if (!why && strcmp(k, "name") && strcmp(k, "args") && strcmp(k, "expiry") &&
            strcmp(k, "ttl")) {
            snprintf(whybuf, sizeof whybuf, "unknown key '%.40s' (name, args, expiry, ttl)", k);
            why = whybuf;
        }
    }
    if (!why && (!json_is_string(name) ||
                 !corio_cmd_name_ok(json_string_value(name), json_string_length(name))))
        why = "'name' must be 1 to 64 of A-Z a-z 0-9 _ . -";
    if (!why && expiry && ttl)
        why = "give 'expiry' (ms since 1970) or 'ttl' (ms), not both";
    if (!why && expiry) {
        if (!json_is_integer(expiry) || json_integer_value(expiry) <= now)
            why = "'expiry' must be a time in ms since 1970, in the future";
        else
            expires = json_integer_value(expiry);
    }
    if (!why && ttl) {
        if (!json_is_integer(ttl) || json_integer_value(ttl) <= 0)
            why = "'ttl' must be a positive number of ms";
        else if (json_integer_value(ttl) > d->o.command_ttl_max_ms)
            expires = now + d->o.command_ttl_max_ms + 1; /* refused just below */
        else
            expires = now + json_integer_value(ttl);
    }
    if (!why && expires - now > d->o.command_ttl_max_ms) {
        snprintf(whybuf, sizeof whybuf, "a command lives at most %" PRId64 " ms",
                 d->o.command_ttl_max_ms);
        why = whybuf;
    }
    if (!why && jargs && !json_is_null(jargs) &&
        corio__json_to_cbor(jargs, &args, &args_len, whybuf, sizeof whybuf) != CORIO_OK) {
        why = whybuf;
    }
    json_t *out = NULL;
    if (!why) {
        uint8_t cid[CORIO_DL_CID_LEN];
        int64_t seq;
        if (getrandom(cid, sizeof cid, 0) != (ssize_t)sizeof cid) {
            status = 500;
            why = "no randomness for the correlation id";
        } else if (corio_dl_cmd_add(d->o.dl, d->org, id, json_string_value(name), args, args_len,
                                    now, expires, cid, &seq) != CORIO_OK ||
                   corio_dl_cmd_get(d->o.dl, d->org, id, seq, keep_cmd, &out) != CORIO_OK || !out) {
            status = 500;
            why = "storage failed";
        } else {
            corio_logkv(CORIO_LOG_INFO, "command queued", "device=%s name=%s seq=%" PRId64, id,
                        json_string_value(name), seq);
        }
    }
    free(args);
    json_decref(body);
    if (why) {
        json_decref(out);
        return corio_http_reply_error(r, (unsigned)status, "%s", why);
    }
    wake(d);
    return corio_http_reply_json(r, 201, out);
}

static int h_get_commands(struct corio_http_req *r, void *arg)
{
    struct corio_cloud_downlink *d = arg;
    const char *id = known_device(d, r);
    if (!id)
        return CORIO_OK;
    int limit = CMD_LIST_LIMIT;
    const char *l = corio_http_query(r, "limit");
    if (l) {
        char *end;
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > CMD_LIST_MAX)
            return corio_http_reply_error(r, 400, "limit must be 1 to %d", CMD_LIST_MAX);
        limit = (int)v;
    }
    json_t *list = json_array();
    if (!list || corio_dl_cmd_list(d->o.dl, d->org, id, limit, append_cmd, list) != CORIO_OK) {
        json_decref(list);
        return corio_http_reply_error(r, 500, "storage failed");
    }
    return corio_http_reply_json(r, 200, json_pack("{s:s, s:o}", "device", id, "commands", list));
}

static int h_get_command(struct corio_http_req *r, void *arg)
{
    struct corio_cloud_downlink *d = arg;
    const char *id = known_device(d, r);
    if (!id)
        return CORIO_OK;
    const char *s = corio_http_param(r, "seq");
    char *end;
    long long seq = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || seq < 1)
        return corio_http_reply_error(r, 404, "unknown command");
    json_t *out = NULL;
    int rc = corio_dl_cmd_get(d->o.dl, d->org, id, seq, keep_cmd, &out);
    if (rc == CORIO_ERR_NOTFOUND)
        return corio_http_reply_error(r, 404, "unknown command");
    if (rc != CORIO_OK || !out) {
        json_decref(out);
        return corio_http_reply_error(r, 500, "storage failed");
    }
    return corio_http_reply_json(r, 200, out);
}

static int h_put_config(struct corio_http_req *r, void *arg)
{
    struct corio_cloud_downlink *d = arg;
    const char *id = known_device(d, r);
    if (!id)
        return CORIO_OK;
    char err[160];
    json_t *body = corio_http_body_json(r, err, sizeof err);
    if (!body)
        return corio_http_reply_error(r, 400, "body: %s", err);
    if (!json_is_object(body)) {
        json_decref(body);
        return corio_http_reply_error(r, 400, "the desired configuration must be an object");
    }
    uint8_t *cfg;
    size_t len;
    uint64_t version;
    int rc = corio__json_to_cbor(body, &cfg, &len, err, sizeof err);
    json_decref(body);
    if (rc != CORIO_OK)
        return corio_http_reply_error(r, 400, "configuration: %s", err);
    rc = corio_dl_cfg_set(d->o.dl, d->org, id, cfg, len, now_of(d), &version);
    free(cfg);
    if (rc != CORIO_OK)
        return corio_http_reply_error(r, 500, "storage failed");
    corio_logkv(CORIO_LOG_INFO, "configuration set", "device=%s version=%" PRIu64, id, version);
    wake(d);
    return corio_http_reply_json(
        r, 200, json_pack("{s:s, s:I}", "device", id, "version", (json_int_t)version));
}

static int keep_cfg(const struct corio_dl_cfg *c, void *arg)
{
    json_t *o = json_object();
    if (!o)
        return CORIO_ERR_NOSPACE;
    bool in_sync = c->version > 0 && c->has_reported && c->reported_version == c->version &&
                   c->reported_status == CORIO_CFG_APPLIED;
    json_object_set_new(o, "device", json_string(c->device));
    json_object_set_new(o, "desired",
                        c->version ? cbor_or_null(c->desired, c->desired_len) : json_null());
    json_object_set_new(o, "version", json_integer((json_int_t)c->version));
    json_object_set_new(o, "set", ms_or_null(c->set_ms));
    json_object_set_new(o, "sends", json_integer(c->sends));
    json_object_set_new(o, "reported",
                        c->has_reported ? cbor_or_null(c->reported, c->reported_len) : json_null());
    json_object_set_new(o, "reported_version",
                        c->has_reported ? json_integer((json_int_t)c->reported_version)
                                        : json_null());
    json_object_set_new(
        o, "reported_status",
        c->has_reported
            ? json_string(c->reported_status == CORIO_CFG_APPLIED ? "applied" : "refused")
            : json_null());
    json_object_set_new(o, "reported_error",
                        c->has_reported && c->reported_err
                            ? json_string(corio_strerror(c->reported_err))
                            : json_null());
    json_object_set_new(o, "reported_at", ms_or_null(c->reported_ms));
    json_object_set_new(o, "in_sync", json_boolean(in_sync));
    *(json_t **)arg = o;
    return 0;
}

static int h_get_config(struct corio_http_req *r, void *arg)
{
    struct corio_cloud_downlink *d = arg;
    const char *id = known_device(d, r);
    if (!id)
        return CORIO_OK;
    json_t *out = NULL;
    int rc = corio_dl_cfg_get(d->o.dl, d->org, id, keep_cfg, &out);
    if (rc == CORIO_ERR_NOTFOUND)
        return corio_http_reply_json(
            r, 200,
            json_pack("{s:s, s:n, s:i, s:n, s:i, s:n, s:n, s:n, s:n, s:n, s:b}", "device", id,
                      "desired", "version", 0, "set", "sends", 0, "reported", "reported_version",
                      "reported_status", "reported_error", "reported_at", "in_sync", 0));
    if (rc != CORIO_OK || !out) {
        json_decref(out);
        return corio_http_reply_error(r, 500, "storage failed");
    }
    return corio_http_reply_json(r, 200, out);
}

static int append_boot(const struct corio_dl_boot *b, void *arg)
{
    json_t *j = json_pack("{s:I, s:I, s:I, s:b}", "boot", (json_int_t)b->boot, "base",
                          (json_int_t)b->base_ms, "heartbeats", (json_int_t)b->heartbeats, "dates",
                          b->heartbeats > 0);
    return j && json_array_append_new(arg, j) == 0 ? 0 : CORIO_ERR_NOSPACE;
}

static int h_get_time(struct corio_http_req *r, void *arg)
{
    struct corio_cloud_downlink *d = arg;
    const char *id = known_device(d, r);
    if (!id)
        return CORIO_OK;
    json_t *boots = json_array();
    int64_t untimed = 0;
    if (!boots || corio_dl_boots(d->o.dl, d->org, id, append_boot, boots) != CORIO_OK ||
        corio_dl_untimed_count(d->o.dl, d->org, id, &untimed) != CORIO_OK) {
        json_decref(boots);
        return corio_http_reply_error(r, 500, "storage failed");
    }
    return corio_http_reply_json(
        r, 200,
        json_pack("{s:s, s:o, s:I}", "device", id, "boots", boots, "untimed", (json_int_t)untimed));
}

struct gw_list {
    json_t *arr;
    const char *org;
};

static int append_gw(const struct corio_dl_gw *g, void *arg)
{
    struct gw_list *l = arg;
    if (strcmp(g->org, l->org) != 0)
        return 0;
    json_t *j = json_pack(
        "{s:s, s:o, s:o, s:o, s:I, s:o, s:o, s:I}", "id", g->id, "registry_height",
        g->has_state ? json_integer((json_int_t)g->height) : json_null(), "want",
        g->want ? json_integer((json_int_t)g->want) : json_null(), "state_at",
        ms_or_null(g->state_ms), "relay_height", (json_int_t)g->relay_height, "relay_sent",
        ms_or_null(g->relay_sent_ms), "queued",
        g->has_state ? json_integer(g->queued) : json_null(), "relays", (json_int_t)g->relays);
    if (j && g->has_state)
        json_object_set_new(j, "online", json_integer(g->online));
    return j && json_array_append_new(l->arr, j) == 0 ? 0 : CORIO_ERR_NOSPACE;
}

static int h_gateways(struct corio_http_req *r, void *arg)
{
    struct corio_cloud_downlink *d = arg;
    struct gw_list l = {json_array(), d->org};
    if (!l.arr || corio_dl_gw_list(d->o.dl, append_gw, &l) != CORIO_OK) {
        json_decref(l.arr);
        return corio_http_reply_error(r, 500, "storage failed");
    }
    struct corio__ledger_view v = {0};
    if (d->follow)
        corio__ledger_follow_view(d->follow, &v);
    return corio_http_reply_json(
        r, 200,
        json_pack("{s:o, s:o, s:o}", "gateways", l.arr, "registry_height",
                  v.ready ? json_integer((json_int_t)v.export_height) : json_null(),
                  "ledger_height",
                  v.ready ? json_integer((json_int_t)v.head_height) : json_null()));
}

int corio_cloud_downlink_routes(struct corio_cloud_downlink *d, struct corio_http *http)
{
    static const struct {
        const char *method, *pattern;
        corio_http_handler fn;
    } routes[] = {
        {"POST", "/api/v1/devices/{id}/commands", h_post_command},
        {"GET", "/api/v1/devices/{id}/commands", h_get_commands},
        {"GET", "/api/v1/devices/{id}/commands/{seq}", h_get_command},
        {"PUT", "/api/v1/devices/{id}/config", h_put_config},
        {"GET", "/api/v1/devices/{id}/config", h_get_config},
        {"GET", "/api/v1/devices/{id}/time", h_get_time},
        {"GET", "/api/v1/gateways", h_gateways},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = corio_http_route(http, routes[i].method, routes[i].pattern, routes[i].fn, d);
        if (rc != CORIO_OK)
            return rc;
    }
    return CORIO_OK;
}

/* ---- the ingest's hooks ----------------------------------------------------------------- */

static bool dev_id(const struct corio_batch_msg *m, char out[CORIO_ID_LEN + 1])
{
    if (m->device_len != CORIO_ID_LEN || !corio_store_valid_id(m->device, m->device_len))
        return false;
    memcpy(out, m->device, CORIO_ID_LEN);
    out[CORIO_ID_LEN] = '\0';
    return true;
}

static bool suffix_is(const struct corio_batch_msg *m, const char *s)
{
    return m->suffix_len == strlen(s) && memcmp(m->suffix, s, m->suffix_len) == 0;
}

/* The pack's extension fields, read from its first record only. */
static bool pack_ext(const struct corio_batch_msg *m, struct corio_senml_ext *x)
{
    enum corio_format fmt;
    if (suffix_is(m, "up/cbor"))
        fmt = CORIO_FORMAT_CBOR;
    else if (suffix_is(m, "up/json"))
        fmt = CORIO_FORMAT_JSON;
    else
        return false;
    char scratch[CORIO_SENML_MAX_NAME + 1 + 256];
    struct corio_senml_dec dec;
    if (corio_senml_dec_init(&dec, fmt, m->payload, m->payload_len, scratch, sizeof scratch) !=
        CORIO_OK)
        return false;
    *x = *corio_senml_dec_ext(&dec);
    return true;
}

static struct resolved *resolved_find(struct corio_cloud_downlink *d, const char *device,
                                      uint64_t boot)
{
    for (size_t i = 0; i < d->nres; i++)
        if (d->res[i].boot == boot && strcmp(d->res[i].device, device) == 0)
            return &d->res[i];
    return NULL;
}

/* Before the batch's transaction: heartbeats and packs bound each boot's clock (a boot's
 * uptime 0 was at or before the receive time minus the uptime carried); a boot with a
 * heartbeat dates its packs (heartbeats are sent live, not from the outbox: their bound
 * is within the uplink's latency and the second the heartbeat rounds its uptime to).
 * Packs of a boot that cannot be dated are flagged by identity before anything is
 * stored, so that a crash cannot store one unflagged. */
static int prepare(void *ctx, const char *org, const struct corio_batch *b, int64_t now_ms)
{
    struct corio_cloud_downlink *d = ctx;
    (void)now_ms;
    d->nres = 0;
    char dev[CORIO_ID_LEN + 1];
    int rc;
    if (b->count > d->capnotes) {
        struct corio_dl_boot_note *p = realloc(d->notes, b->count * sizeof *p);
        if (!p)
            return CORIO_ERR_NOSPACE;
        d->notes = p;
        d->capnotes = b->count;
    }
    size_t nnotes = 0;
    bool any_boot = false; /* most batches have none: their packs are read once here */
    for (size_t i = 0; i < b->count; i++) {
        const struct corio_batch_msg *m = &b->msgs[i];
        if (!dev_id(m, dev))
            continue;
        struct corio_dl_boot_note *note = &d->notes[nnotes];
        memcpy(note->device, dev, sizeof note->device);
        if (suffix_is(m, "up/hb")) {
            struct corio__cloud_heartbeat hb;
            char why[64];
            if (corio__cloud_heartbeat_decode(m->payload, m->payload_len, &hb, why, sizeof why) ==
                    CORIO_OK &&
                hb.uptime_s <= INT64_MAX / 1000 && hb.boot >= 0) {
                note->boot = (uint64_t)hb.boot;
                note->bound_ms = m->recv_ms - hb.uptime_s * 1000;
                note->from_heartbeat = true;
                nnotes++;
            }
            continue;
        }
        struct corio_senml_ext x;
        if (!pack_ext(m, &x) || !x.has_boot || x.upt > (uint64_t)INT64_MAX ||
            x.boot > (uint64_t)INT64_MAX)
            continue; /* out of range: the ingest rejects it */
        any_boot = true;
        note->boot = x.boot;
        note->bound_ms = m->recv_ms - (int64_t)x.upt;
        note->from_heartbeat = false;
        nnotes++;
    }
    if ((rc = corio_dl_boot_notes(d->o.dl, org, d->notes, nnotes)) != CORIO_OK)
        return rc;
    for (size_t i = 0; any_boot && i < b->count; i++) {
        const struct corio_batch_msg *m = &b->msgs[i];
        struct corio_senml_ext x;
        if (!dev_id(m, dev) || !pack_ext(m, &x) || !x.has_boot || x.upt > (uint64_t)INT64_MAX ||
            x.boot > (uint64_t)INT64_MAX)
            continue; /* out of range: the ingest rejects it */
        struct resolved *r = resolved_find(d, dev, x.boot);
        if (!r) {
            if (d->nres == d->capres) {
                size_t cap = d->capres ? d->capres * 2 : 64;
                struct resolved *p = realloc(d->res, cap * sizeof *p);
                if (!p)
                    return CORIO_ERR_NOSPACE;
                d->res = p;
                d->capres = cap;
            }
            r = &d->res[d->nres++];
            memset(r, 0, sizeof *r);
            memcpy(r->device, dev, sizeof r->device);
            r->boot = x.boot;
            struct corio_dl_boot bt;
            rc = corio_dl_boot_get(d->o.dl, dev, x.boot, &bt);
            if (rc != CORIO_OK && rc != CORIO_ERR_NOTFOUND)
                return rc;
            r->ok = rc == CORIO_OK && bt.heartbeats > 0;
            r->base_ms = r->ok ? bt.base_ms : 0;
        }
        if (r->ok)
            continue;
        struct corio_msg_row row = {.device = dev,
                                    .has_seq = x.has_seq && x.seq > 0,
                                    .epoch = (int64_t)x.ep,
                                    .seq = (int64_t)x.seq,
                                    .gateway = b->gateway,
                                    .gw_epoch = (int64_t)b->epoch,
                                    .gw_id = (int64_t)m->id};
        char mid[CORIO_MID_MAX + 1];
        corio_store_message_id(&row, mid, sizeof mid);
        if ((rc = corio_dl_untimed_add(d->o.dl, org, dev, mid, x.boot, x.upt, m->recv_ms)) !=
            CORIO_OK)
            return rc;
        pthread_mutex_lock(&d->lock);
        d->st.untimed++;
        pthread_mutex_unlock(&d->lock);
    }
    return CORIO_OK;
}

static int resolve(void *ctx, const char *device, uint64_t boot, uint64_t upt_ms, int64_t recv_ms,
                   int64_t *t_ms)
{
    struct corio_cloud_downlink *d = ctx;
    (void)recv_ms;
    struct resolved *r = resolved_find(d, device, boot);
    if (!r || !r->ok || upt_ms > (uint64_t)INT64_MAX - (uint64_t)r->base_ms)
        return 0;
    *t_ms = r->base_ms + (int64_t)upt_ms;
    return 1;
}

/* After the commit: answers close commands, reports update the twin. Device rows of
 * another organisation were rejected by the ingest and are skipped here too. */
static void committed(void *ctx, const char *org, const struct corio_batch *b, int64_t now_ms)
{
    struct corio_cloud_downlink *d = ctx;
    char dev[CORIO_ID_LEN + 1];
    for (size_t i = 0; i < b->count; i++) {
        const struct corio_batch_msg *m = &b->msgs[i];
        bool res = suffix_is(m, "up/res"), cfg = suffix_is(m, "up/cfg");
        if ((!res && !cfg) || !dev_id(m, dev))
            continue;
        char owner[CORIO_ID_LEN + 1];
        pthread_mutex_lock(&d->lock);
        int rc = corio_store_device_org(d->o.reader, dev, owner);
        pthread_mutex_unlock(&d->lock);
        if (rc != CORIO_OK || strcmp(owner, org) != 0 || strcmp(org, d->org) != 0)
            continue;
        if (res) {
            struct corio_cmd_result r;
            if (corio_cmd_result_decode(m->payload, m->payload_len, &r) != CORIO_OK)
                continue;
            rc = corio_dl_cmd_answer(d->o.dl, dev, r.cid, r.cid_len, r.status, r.err, r.res,
                                     r.res_len, now_ms);
            if (rc == 1) {
                pthread_mutex_lock(&d->lock);
                d->st.results++;
                pthread_mutex_unlock(&d->lock);
                char cid[2 * CORIO_CMD_CID_MAX + 1];
                hex(r.cid, r.cid_len, cid);
                corio_logkv(CORIO_LOG_INFO, "command answered", "device=%s cid=%s status=%s", dev,
                            cid, status_name(r.status));
            }
        } else {
            struct corio_cfg_reported r;
            if (corio_cfg_reported_decode(m->payload, m->payload_len, &r) != CORIO_OK ||
                r.version > INT64_MAX)
                continue;
            if (corio_dl_cfg_reported(d->o.dl, org, dev, r.version, r.status, r.err, r.cfg,
                                      r.cfg_len, m->recv_ms) == 1) {
                pthread_mutex_lock(&d->lock);
                d->st.reports++;
                pthread_mutex_unlock(&d->lock);
            }
        }
    }
}

struct corio_ingest_hooks corio_cloud_downlink_hooks(struct corio_cloud_downlink *d)
{
    return (struct corio_ingest_hooks){
        .prepare = prepare, .resolve = resolve, .committed = committed, .ctx = d};
}

/* ---- the sender ---------------------------------------------------------------------- */

/* What goes to one gateway in this round. */
struct outgoing {
    char gateway[CORIO_ID_LEN + 1];
    struct corio_down_item *items;
    size_t n, cap;
    /* What to mark once sent. */
    int64_t *cmd_seqs, *cmd_sends;
    size_t ncmds;
    char (*cfg_devices)[CORIO_ID_LEN + 1];
    int64_t *cfg_sends;
    size_t ncfgs;
    bool relay;
    uint64_t relay_height;
    uint8_t **owned; /* payloads and blocks made for this round */
    size_t nowned, capowned, owned_len;
    char *update;
};

struct round {
    struct corio_cloud_downlink *d;
    int64_t now;
    struct outgoing *out;
    size_t nout;
    bool oom;
};

static struct outgoing *out_for(struct round *r, const char *gateway)
{
    for (size_t i = 0; i < r->nout; i++)
        if (strcmp(r->out[i].gateway, gateway) == 0)
            return &r->out[i];
    struct outgoing *p = realloc(r->out, (r->nout + 1) * sizeof *p);
    if (!p) {
        r->oom = true;
        return NULL;
    }
    r->out = p;
    struct outgoing *o = &r->out[r->nout++];
    memset(o, 0, sizeof *o);
    snprintf(o->gateway, sizeof o->gateway, "%s", gateway);
    return o;
}

static bool own(struct outgoing *o, uint8_t *p)
{
    if (o->nowned == o->capowned) {
        size_t cap = o->capowned ? o->capowned * 2 : 16;
        uint8_t **np = realloc(o->owned, cap * sizeof *np);
        if (!np)
            return false;
        o->owned = np;
        o->capowned = cap;
    }
    o->owned[o->nowned++] = p;
    return true;
}

static struct corio_down_item *add_item(struct outgoing *o)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        struct corio_down_item *p = realloc(o->items, cap * sizeof *p);
        if (!p)
            return NULL;
        o->items = p;
        o->cap = cap;
    }
    struct corio_down_item *it = &o->items[o->n++];
    memset(it, 0, sizeof *it);
    return it;
}

static void out_free(struct outgoing *o)
{
    for (size_t i = 0; i < o->nowned; i++)
        free(o->owned[i]);
    for (size_t i = 0; i < o->n; i++)
        if (o->items[i].kind == CORIO_DOWN_REGISTRY)
            free(o->items[i].blocks);
    free(o->owned);
    free(o->items);
    free(o->cmd_seqs);
    free(o->cmd_sends);
    free(o->cfg_devices);
    free(o->cfg_sends);
    free(o->update);
}

/* Encodes a payload into a buffer the outgoing container owns (its length in
 * o->owned_len); NULL when it cannot. */
static uint8_t *owned_copy(struct outgoing *o, int n, uint8_t *buf)
{
    if (n <= 0 || !buf || !own(o, buf)) {
        free(buf);
        return NULL;
    }
    o->owned_len = (size_t)n;
    return buf;
}

static uint8_t *encoded_cmd(const struct corio_cmd *c, struct outgoing *o)
{
    int n = corio_cmd_encode(c, NULL, 0);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && corio_cmd_encode(c, buf, (size_t)n) != n) {
        free(buf);
        buf = NULL;
    }
    return owned_copy(o, n, buf);
}

static uint8_t *encoded_cfg(const struct corio_cfg_desired *c, struct outgoing *o)
{
    int n = corio_cfg_desired_encode(c, NULL, 0);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && corio_cfg_desired_encode(c, buf, (size_t)n) != n) {
        free(buf);
        buf = NULL;
    }
    return owned_copy(o, n, buf);
}

static int due_cmd(const struct corio_dl_cmd *c, void *arg)
{
    struct round *r = arg;
    struct corio_cloud_downlink *d = r->d;
    struct devinfo di;
    if (strcmp(c->org, d->org) != 0 || device_of(d, c->device, &di) != CORIO_OK || !di.gateway[0])
        return 0; /* no gateway known yet: it stays queued */
    struct outgoing *o = out_for(r, di.gateway);
    if (!o || o->ncmds >= ITEMS_PER_CONT)
        return 0;
    struct corio_cmd cmd = {.cid = c->cid,
                            .cid_len = CORIO_DL_CID_LEN,
                            .exp_ms = (uint64_t)c->expires_ms,
                            .seq = (uint64_t)c->seq,
                            .name = c->name,
                            .name_len = strlen(c->name),
                            .args = c->args_len ? c->args : NULL,
                            .args_len = c->args_len};
    int64_t *seqs = realloc(o->cmd_seqs, (o->ncmds + 1) * sizeof *seqs);
    if (seqs)
        o->cmd_seqs = seqs;
    int64_t *sends = realloc(o->cmd_sends, (o->ncmds + 1) * sizeof *sends);
    if (sends)
        o->cmd_sends = sends;
    uint8_t *buf = encoded_cmd(&cmd, o);
    struct corio_down_item *it = buf && seqs && sends ? add_item(o) : NULL;
    if (!it) {
        r->oom = true;
        return 0;
    }
    int n = (int)o->owned_len;
    it->kind = CORIO_DOWN_COMMAND;
    memcpy(it->device, c->device, sizeof it->device);
    it->payload = (struct corio_bytes){buf, (size_t)n};
    o->cmd_seqs[o->ncmds] = c->seq;
    o->cmd_sends[o->ncmds] = c->sends;
    o->ncmds++;
    return 0;
}

static int due_cfg(const struct corio_dl_cfg *c, void *arg)
{
    struct round *r = arg;
    struct corio_cloud_downlink *d = r->d;
    struct devinfo di;
    if (strcmp(c->org, d->org) != 0 || device_of(d, c->device, &di) != CORIO_OK || !di.gateway[0])
        return 0;
    struct outgoing *o = out_for(r, di.gateway);
    if (!o || o->ncfgs >= ITEMS_PER_CONT)
        return 0;
    struct corio_cfg_desired cfg = {c->version, c->desired, c->desired_len};
    char(*devs)[CORIO_ID_LEN + 1] = realloc(o->cfg_devices, (o->ncfgs + 1) * sizeof *devs);
    if (devs)
        o->cfg_devices = devs;
    int64_t *sends = realloc(o->cfg_sends, (o->ncfgs + 1) * sizeof *sends);
    if (sends)
        o->cfg_sends = sends;
    uint8_t *buf = encoded_cfg(&cfg, o);
    struct corio_down_item *it = buf && devs && sends ? add_item(o) : NULL;
    if (!it) {
        r->oom = true;
        return 0;
    }
    int n = (int)o->owned_len;
    it->kind = CORIO_DOWN_CONFIG;
    memcpy(it->device, c->device, sizeof it->device);
    it->payload = (struct corio_bytes){buf, (size_t)n};
    memcpy(o->cfg_devices[o->ncfgs], c->device, CORIO_ID_LEN + 1);
    o->cfg_sends[o->ncfgs] = c->sends;
    o->ncfgs++;
    return 0;
}

/* Builds the registry item that brings a gateway at `base` to the latest export. */
static void relay_item(struct round *r, struct outgoing *o, uint64_t base,
                       const struct corio__ledger_view *v)
{
    struct corio_cloud_downlink *d = r->d;
    uint64_t got;
    char *latest = NULL, *old = NULL;
    size_t llen = 0, olen = 0;
    if (corio_dl_export_get(d->o.dl, v->export_height, &got, &latest, &llen) != CORIO_OK)
        return;
    /* An update from the gateway's height, when that export and the blocks since are
     * here; else a whole registry (its content then rests on the cloud's signature). */
    if (base && (v->head_height - base > d->o.relay_max_blocks || base + 1 < v->low ||
                 corio_dl_export_get(d->o.dl, base, &got, &old, &olen) != CORIO_OK))
        base = 0;
    struct corio_reglines *a = NULL, *b = NULL;
    char why[128];
    size_t ulen = 0;
    char *update = NULL;
    if (corio_reglines_parse(latest, llen, &b, NULL, why, sizeof why) == CORIO_OK &&
        (!base || corio_reglines_parse(old, olen, &a, NULL, why, sizeof why) == CORIO_OK))
        update = corio_reglines_diff(base ? a : NULL, b, &ulen);
    corio_reglines_free(a);
    corio_reglines_free(b);
    free(latest);
    free(old);
    if (!update)
        return;
    uint64_t first = base ? base + 1 : v->export_height;
    size_t nb = (size_t)(v->head_height - first + 1);
    struct corio_bytes *blocks = calloc(nb, sizeof *blocks);
    bool ok = blocks != NULL;
    for (size_t i = 0; ok && i < nb; i++) {
        uint8_t *data;
        size_t len;
        ok = corio_dl_block_get(d->o.dl, first + i, &data, &len) == CORIO_OK;
        if (ok && !own(o, data)) {
            free(data);
            ok = false;
        }
        if (ok)
            blocks[i] = (struct corio_bytes){data, len};
    }
    struct corio_down_item *it = ok ? add_item(o) : NULL;
    if (!it) {
        free(blocks);
        free(update);
        return;
    }
    uint8_t *sth = malloc(v->sth_len);
    if (!sth || !own(o, sth)) {
        free(sth);
        o->n--;
        free(blocks);
        free(update);
        return;
    }
    memcpy(sth, v->sth, v->sth_len);
    it->kind = CORIO_DOWN_REGISTRY;
    it->height = v->export_height;
    it->base = base;
    it->update = (struct corio_bytes){(const uint8_t *)update, ulen};
    it->blocks = blocks;
    it->nblocks = nb;
    it->sth = (struct corio_bytes){sth, v->sth_len};
    free(o->update);
    o->update = update;
    o->relay = true;
    o->relay_height = v->export_height;
}

/* Gateways are listed first and relayed to after: the store's lock is held while it
 * lists, and a relay reads the store. */
struct gw_array {
    struct corio_dl_gw *g;
    size_t n, cap;
};

static int collect_gw(const struct corio_dl_gw *g, void *arg)
{
    struct gw_array *a = arg;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct corio_dl_gw *p = realloc(a->g, cap * sizeof *p);
        if (!p)
            return CORIO_ERR_NOSPACE;
        a->g = p;
        a->cap = cap;
    }
    a->g[a->n++] = *g;
    return 0;
}

static void due_relays(struct round *r, const struct corio__ledger_view *v)
{
    struct corio_cloud_downlink *d = r->d;
    struct gw_array a = {0};
    if (corio_dl_gw_list(d->o.dl, collect_gw, &a) != CORIO_OK) {
        free(a.g);
        return;
    }
    for (size_t i = 0; i < a.n; i++) {
        const struct corio_dl_gw *g = &a.g[i];
        /* Only gateways that said where they are (state messages) get relays: an update
         * is relative to a height. */
        if (strcmp(g->org, d->org) != 0 || !g->has_state)
            continue;
        uint64_t target = v->export_height, base = g->want ? g->want : g->height;
        if (base >= target)
            continue;
        if (g->relay_height >= target && r->now - g->relay_sent_ms < 2 * d->o.resend_min_ms)
            continue; /* sent lately; its state message has not caught up yet */
        struct outgoing *o = out_for(r, g->id);
        if (o)
            relay_item(r, o, base, v);
    }
    free(a.g);
}

static void send_round(struct corio_cloud_downlink *d, int64_t now)
{
    struct round r = {.d = d, .now = now};
    int64_t expired = 0;
    if (corio_dl_cmd_expire(d->o.dl, now, &expired) == CORIO_OK && expired) {
        pthread_mutex_lock(&d->lock);
        d->st.expired += (uint64_t)expired;
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_lock(&d->lock);
    bool up = d->connected;
    pthread_mutex_unlock(&d->lock);
    if (!up || !d->o.key)
        return;
    corio_dl_cmd_due(d->o.dl, now, DUE_LIMIT, due_cmd, &r);
    corio_dl_cfg_due(d->o.dl, now, DUE_LIMIT, due_cfg, &r);
    if (d->follow) {
        struct corio__ledger_view v;
        corio__ledger_follow_view(d->follow, &v);
        if (v.ready && v.export_height)
            due_relays(&r, &v);
    }
    for (size_t i = 0; i < r.nout; i++) {
        struct outgoing *o = &r.out[i];
        if (!o->n)
            continue;
        struct corio_down_item *t = add_item(o);
        if (t) {
            t->kind = CORIO_DOWN_TIME;
            t->time_ms = (uint64_t)now;
        }
        struct corio_down c = {.made_ms = (uint64_t)now, .items = o->items, .nitems = o->n};
        memcpy(c.gateway, o->gateway, sizeof c.gateway);
        int64_t n = corio_down_encode(&c, NULL, 0);
        uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL, *wire = NULL;
        size_t wlen = 0;
        char topic[64];
        snprintf(topic, sizeof topic, "corio/v1/g/%s/down", o->gateway);
        bool sent = buf && corio_down_encode(&c, buf, (size_t)n) == n &&
                    corio_down_seal(d->o.key, buf, (size_t)n, &wire, &wlen) == CORIO_OK &&
                    d->o.publish(d->o.ctx, topic, wire, wlen) == 0;
        free(buf);
        free(wire);
        pthread_mutex_lock(&d->lock);
        if (sent) {
            d->st.containers++;
            d->st.commands_sent += o->ncmds;
            d->st.configs_sent += o->ncfgs;
            d->st.relays_sent += o->relay;
        } else {
            d->st.publish_failed++;
        }
        pthread_mutex_unlock(&d->lock);
        if (!sent) {
            corio_logkv(CORIO_LOG_WARN, "downlink container not sent", "gateway=%s items=%zu",
                        o->gateway, o->n);
            continue;
        }
        for (size_t k = 0; k < o->ncmds; k++)
            corio_dl_cmd_sent(d->o.dl, o->cmd_seqs[k], o->gateway, now,
                              now + backoff(d, o->cmd_sends[k] + 1));
        for (size_t k = 0; k < o->ncfgs; k++)
            corio_dl_cfg_sent(d->o.dl, o->cfg_devices[k], now,
                              now + backoff(d, o->cfg_sends[k] + 1));
        if (o->relay)
            corio_dl_gw_relayed(d->o.dl, o->gateway, o->relay_height, now);
        corio_logkv(CORIO_LOG_DEBUG, "downlink container sent",
                    "gateway=%s commands=%zu configurations=%zu relay=%d bytes=%zu", o->gateway,
                    o->ncmds, o->ncfgs, o->relay, wlen);
    }
    for (size_t i = 0; i < r.nout; i++)
        out_free(&r.out[i]);
    free(r.out);
}

/* A gateway's state message: checked with its key, then its height and deliveries. */
static void take_state(struct corio_cloud_downlink *d, struct statemsg *m, int64_t now)
{
    struct corio_gateway_rec gw;
    pthread_mutex_lock(&d->lock);
    int rc = corio_store_get_gateway(d->o.reader, m->gateway, &gw);
    pthread_mutex_unlock(&d->lock);
    char why[160] = "";
    struct corio_gw_state s;
    if (rc == CORIO_OK && (strcmp(gw.org, d->org) != 0 || gw.pubkey_len != 65))
        rc = CORIO_ERR_POLICY;
    if (rc == CORIO_OK)
        rc = corio_state_open(&corio_crypto_openssl_ops, m->payload, m->len, gw.pubkey,
                              gw.pubkey_len, (unsigned)gw.key_no, &s, why, sizeof why);
    if (rc == CORIO_OK && strcmp(s.gateway, m->gateway) != 0) {
        corio_state_free(&s);
        rc = CORIO_ERR_POLICY;
    }
    if (rc != CORIO_OK) {
        pthread_mutex_lock(&d->lock);
        d->st.states_refused++;
        pthread_mutex_unlock(&d->lock);
        corio_logkv(CORIO_LOG_WARN, "gateway state refused", "gateway=%s error=%s why=%s",
                    m->gateway, corio_strerror(rc), why);
        return;
    }
    corio_dl_gw_state(
        d->o.dl, gw.org, m->gateway, s.registry_height > INT64_MAX ? 0 : s.registry_height,
        s.want > INT64_MAX ? 0 : s.want, s.queued > INT64_MAX ? INT64_MAX : (int64_t)s.queued,
        s.online > INT64_MAX ? INT64_MAX : (int64_t)s.online,
        s.made_ms > INT64_MAX ? INT64_MAX : (int64_t)s.made_ms);
    for (size_t i = 0; i < s.ndelivered; i++)
        corio_dl_cmd_delivered(d->o.dl, s.delivered[i].device, s.delivered[i].cid,
                               s.delivered[i].cid_len, now);
    corio_state_free(&s);
    pthread_mutex_lock(&d->lock);
    d->st.states++;
    pthread_mutex_unlock(&d->lock);
}

static void *sender_main(void *arg)
{
    struct corio_cloud_downlink *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        struct statemsg *m = d->states;
        if (m) {
            d->states = m->next;
            if (!d->states)
                d->states_tail = NULL;
            d->nstates--;
            pthread_mutex_unlock(&d->lock);
            take_state(d, m, now_of(d));
            free(m->payload);
            free(m);
            pthread_mutex_lock(&d->lock);
            d->wake = true; /* a gateway behind may need a relay now */
            continue;
        }
        d->wake = false;
        pthread_mutex_unlock(&d->lock);
        send_round(d, now_of(d));
        pthread_mutex_lock(&d->lock);
        if (d->wake || d->stopping || d->states)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += ROUND_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->cond, &d->lock, &ts);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* ---- life ------------------------------------------------------------------------------- */

int corio_cloud_downlink_new(const struct corio_cloud_downlink_opts *o,
                             struct corio_cloud_downlink **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!o || !o->org || !corio_store_valid_id(o->org, strlen(o->org)) || !o->dl || !o->reader ||
        !o->publish) {
        snprintf(err, errlen, "the downlink needs the organisation, its stores and a publisher");
        return CORIO_ERR_INVAL;
    }
    struct corio_cloud_downlink *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    d->o = *o;
    snprintf(d->org, sizeof d->org, "%s", o->org);
    d->o.org = d->org;
    if (d->o.resend_min_ms <= 0)
        d->o.resend_min_ms = 5000;
    if (d->o.resend_max_ms < d->o.resend_min_ms)
        d->o.resend_max_ms = d->o.resend_min_ms;
    if (d->o.command_ttl_ms <= 0)
        d->o.command_ttl_ms = 300000;
    if (d->o.command_ttl_max_ms < d->o.command_ttl_ms)
        d->o.command_ttl_max_ms = d->o.command_ttl_ms;
    if (!d->o.relay_max_blocks)
        d->o.relay_max_blocks = 1000;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = d;
    return CORIO_OK;
}

int corio_cloud_downlink_start(struct corio_cloud_downlink *d, char *err, size_t errlen)
{
    if (!d->o.key)
        corio_logkv(CORIO_LOG_WARN,
                    "no downlink_key: commands and configuration are stored "
                    "but not sent",
                    "key=downlink_key");
    if (d->o.ledger_url) {
        struct corio__ledger_follow_opts fo = {
            .url = d->o.ledger_url,
            .poll_ms = d->o.ledger_poll_ms > 0 ? d->o.ledger_poll_ms : 2000,
            .max_blocks = d->o.relay_max_blocks,
            .refresh_ms = d->o.relay_refresh_ms,
            .dl = d->o.dl,
            .writer = d->o.writer,
            .org = d->org,
            .changed = wake_cb,
            .ctx = d};
        int rc = corio__ledger_follow_start(&fo, &d->follow, err, errlen);
        if (rc != CORIO_OK)
            return rc;
    }
    if (pthread_create(&d->thread, NULL, sender_main, d) != 0) {
        snprintf(err, errlen, "cannot start the downlink sender");
        return CORIO_ERR_IO;
    }
    d->started = true;
    return CORIO_OK;
}

void corio_cloud_downlink_free(struct corio_cloud_downlink *d)
{
    if (!d)
        return;
    corio__ledger_follow_stop(d->follow);
    if (d->started) {
        pthread_mutex_lock(&d->lock);
        d->stopping = true;
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    }
    while (d->states) {
        struct statemsg *m = d->states;
        d->states = m->next;
        free(m->payload);
        free(m);
    }
    free(d->res);
    free(d->notes);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void corio_cloud_downlink_connected(struct corio_cloud_downlink *d, bool up)
{
    pthread_mutex_lock(&d->lock);
    d->connected = up;
    d->wake = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

void corio_cloud_downlink_on_state(struct corio_cloud_downlink *d, const char *topic,
                                   const uint8_t *payload, size_t len)
{
    char gw[CORIO_ID_LEN + 1];
    if (!corio_ingest_topic_gateway(topic, "state", gw) || len > (1u << 20))
        return;
    struct statemsg *m = calloc(1, sizeof *m);
    if (!m || !(m->payload = malloc(len ? len : 1))) {
        free(m);
        return;
    }
    memcpy(m->payload, payload, len);
    m->len = len;
    memcpy(m->gateway, gw, sizeof m->gateway);
    pthread_mutex_lock(&d->lock);
    if (d->nstates >= STATE_QUEUE_MAX) {
        /* The gateway sends its state again on its interval: nothing is lost for good. */
        d->st.states_refused++;
        pthread_mutex_unlock(&d->lock);
        free(m->payload);
        free(m);
        return;
    }
    if (d->states_tail)
        d->states_tail->next = m;
    else
        d->states = m;
    d->states_tail = m;
    d->nstates++;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

void corio_cloud_downlink_stats(struct corio_cloud_downlink *d,
                                struct corio_cloud_downlink_stats *st)
{
    pthread_mutex_lock(&d->lock);
    *st = d->st;
    pthread_mutex_unlock(&d->lock);
    if (d->follow) {
        struct corio__ledger_follow_stats fs;
        corio__ledger_follow_stats(d->follow, &fs);
        st->ledger_polls = fs.polls;
        st->ledger_failures = fs.failures;
        st->ledger_exports = fs.exports;
        st->ledger_height = fs.head_height;
    }
}
