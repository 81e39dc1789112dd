/*
 * status.h - what corio-gateway says about itself: the plugin's counters carried across
 * broker restarts, and the gateway's status (docs/formats.md, "Gateway status") that it
 * publishes retained on corio/v1/g/{gw}/status and serves on /metrics. (The signed state
 * message of the downlink, corio/v1/g/{gw}/state, is another document: downlink.h.)
 */
#ifndef CORIO_GATEWAY_STATUS_H
#define CORIO_GATEWAY_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin_stats.h"

#define CORIO_GW_STATUS_VERSION 1

/*
 * The plugin's counters as totals over the daemon's life: each broker start begins its
 * counters at zero, so when the stats file names another broker (pid and start time),
 * what the previous one counted last is added to the base.
 */
struct corio_plugin_totals {
    struct corio_plugin_stats now;  /* the latest file, as read */
    struct corio_plugin_stats base; /* counted by brokers before the current one */
    bool have;                      /* a file was read */
    int64_t read_mono_ms;           /* when (daemon's monotonic clock) */
};

/* Folds a freshly read stats file in. */
void corio_plugin_totals_update(struct corio_plugin_totals *t, const struct corio_plugin_stats *st,
                                int64_t mono_ms);

/* A counter of the plugin's as a total: base + now (by offset in struct corio_plugin_stats). */
uint64_t corio_plugin_total(const struct corio_plugin_totals *t, size_t offset);
#define CORIO_PLUGIN_TOTAL(t, field) \
    corio_plugin_total((t), offsetof(struct corio_plugin_stats, field))

/* What the gateway's status is made of. */
struct corio_gw_status_in {
    const char *gateway;
    int64_t now_ms;     /* wall clock */
    int64_t uptime_ms;  /* the daemon's */
    bool stopping;      /* the last status before a clean shutdown */
    bool broker_up;
    bool uplink_up;
    bool plugin_fresh;  /* the stats file is recent (the plugin is alive and ticking) */
    const struct corio_plugin_totals *plugin;
    uint64_t messages_out;      /* acknowledged by the cloud */
    uint64_t batches_out;
    int inflight;
    int64_t watermark;
    uint64_t uplink_connects;
    uint64_t coap_devices;      /* CoAP sessions with an authenticated device */
    bool rules_on;
    uint64_t rules_active, rules_raised, anomalies_open;
    uint64_t refused_since_last; /* refusals since the previous status: "degraded" */
};

/*
 * The status as JSON (format version 1): a malloc'd NUL-terminated string the caller
 * frees, or NULL when memory ran out. Status: "stopped" when stopping; "degraded" when
 * the broker or the plugin is not running, the outbox is 90 % full, the last sync failed,
 * or messages were refused since the previous status (each reason listed); else "ok".
 */
char *corio_gw_status_json(const struct corio_gw_status_in *in);

/* The last will the uplink leaves on the status topic: {"v":1,"gateway":..,"status":"lost"}.
 * Writes it into buf and returns its length, or a negative corio_err. */
int corio_gw_status_will(const char *gateway, char *buf, size_t cap);

#endif /* CORIO_GATEWAY_STATUS_H */
