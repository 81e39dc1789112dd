/*
 * status.c - the plugin's totals and the gateway's status document (status.h).
 */
#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "corio/error.h"

/* The counters that grow (the rest are gauges or identities). */
static const size_t counters[] = {
    offsetof(struct corio_plugin_stats, stored),
    offsetof(struct corio_plugin_stats, stored_bytes),
    offsetof(struct corio_plugin_stats, refused),
    offsetof(struct corio_plugin_stats, dropped),
    offsetof(struct corio_plugin_stats, deleted),
    offsetof(struct corio_plugin_stats, syncs),
    offsetof(struct corio_plugin_stats, sync_failures),
    offsetof(struct corio_plugin_stats, auth_accepted),
    offsetof(struct corio_plugin_stats, auth_refused),
    offsetof(struct corio_plugin_stats, acl_denied),
    offsetof(struct corio_plugin_stats, resend_requests),
};

static uint64_t get(const struct corio_plugin_stats *s, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)s + off, sizeof v);
    return v;
}

static void add(struct corio_plugin_stats *s, size_t off, uint64_t n)
{
    uint64_t v = get(s, off) + n;
    memcpy((char *)s + off, &v, sizeof v);
}

void corio_plugin_totals_update(struct corio_plugin_totals *t, const struct corio_plugin_stats *st,
                                int64_t mono_ms)
{
    if (t->have && (st->pid != t->now.pid || st->started_ms != t->now.started_ms)) {
        for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
            add(&t->base, counters[i], get(&t->now, counters[i]));
    }
    t->now = *st;
    t->have = true;
    t->read_mono_ms = mono_ms;
}

uint64_t corio_plugin_total(const struct corio_plugin_totals *t, size_t offset)
{
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        if (counters[i] == offset)
            return get(&t->base, offset) + get(&t->now, offset);
    return get(&t->now, offset);
}

char *corio_gw_status_json(const struct corio_gw_status_in *in)
{
    const struct corio_plugin_totals *t = in->plugin;
    const struct corio_plugin_stats *p = &t->now;
    json_t *reasons = json_array();
    if (!reasons)
        return NULL;
    if (!in->broker_up)
        json_array_append_new(reasons, json_string("broker down"));
    else if (!in->plugin_fresh)
        json_array_append_new(reasons, json_string("no word from the plugin"));
    if (p->max_bytes && p->bytes * 10 >= p->max_bytes * 9)
        json_array_append_new(reasons, json_string("outbox 90% full"));
    if (p->sync_failures && p->last_sync_ms + 2 * p->sync_ms < (uint64_t)in->now_ms)
        json_array_append_new(reasons, json_string("outbox sync failing"));
    if (in->refused_since_last)
        json_array_append_new(reasons, json_string("messages refused"));
    const char *status = in->stopping                ? "stopped"
                         : json_array_size(reasons) ? "degraded"
                                                     : "ok";
    int64_t oldest_age = p->oldest_ms && (int64_t)p->oldest_ms < in->now_ms
                             ? in->now_ms - (int64_t)p->oldest_ms
                             : 0;
    json_t *j = json_pack(
        "{s:i, s:s, s:I, s:s, s:o, s:I,"
        " s:{s:I, s:I, s:I, s:I, s:I},"
        " s:{s:I, s:I, s:I, s:I},"
        " s:{s:I, s:I, s:i, s:I},"
        " s:{s:b, s:I},"
        " s:{s:I, s:I},"
        " s:{s:b, s:I, s:I, s:I, s:I}}",
        "v", CORIO_GW_STATUS_VERSION, "gateway", in->gateway, "t", (json_int_t)in->now_ms,
        "status", status, "reasons", reasons, "uptime_s", (json_int_t)(in->uptime_ms / 1000),
        "outbox", "rows", (json_int_t)p->rows, "bytes", (json_int_t)p->bytes, "max_bytes",
        (json_int_t)p->max_bytes, "oldest_age_ms", (json_int_t)oldest_age, "epoch",
        (json_int_t)(p->epoch & INT64_MAX),
        "in", "messages", (json_int_t)CORIO_PLUGIN_TOTAL(t, stored), "bytes",
        (json_int_t)CORIO_PLUGIN_TOTAL(t, stored_bytes), "refused",
        (json_int_t)CORIO_PLUGIN_TOTAL(t, refused), "dropped",
        (json_int_t)CORIO_PLUGIN_TOTAL(t, dropped),
        "out", "messages", (json_int_t)in->messages_out, "batches", (json_int_t)in->batches_out,
        "inflight", in->inflight, "watermark", (json_int_t)in->watermark,
        "uplink", "up", in->uplink_up, "connects", (json_int_t)in->uplink_connects,
        "devices", "mqtt", (json_int_t)p->devices_online, "coap", (json_int_t)in->coap_devices,
        "power", "clean_start", p->clean_start != 0, "sync_ms", (json_int_t)p->sync_ms,
        "last_sync_age_ms",
        (json_int_t)(p->last_sync_ms && (int64_t)p->last_sync_ms < in->now_ms
                         ? in->now_ms - (int64_t)p->last_sync_ms
                         : 0),
        "resend_requests", (json_int_t)CORIO_PLUGIN_TOTAL(t, resend_requests), "resend_pending",
        (json_int_t)p->resend_pending);
    if (!j)
        return NULL;
    if (in->rules_on) {
        json_t *r = json_pack("{s:I, s:I, s:I}", "active", (json_int_t)in->rules_active, "raised",
                              (json_int_t)in->rules_raised, "anomalies_open",
                              (json_int_t)in->anomalies_open);
        if (!r || json_object_set_new(j, "rules", r) != 0) {
            json_decref(j);
            return NULL;
        }
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

int corio_gw_status_will(const char *gateway, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "{\"v\":%d,\"gateway\":\"%s\",\"status\":\"lost\"}",
                     CORIO_GW_STATUS_VERSION, gateway);
    return n < 0 || (size_t)n >= cap ? CORIO_ERR_NOSPACE : n;
}
