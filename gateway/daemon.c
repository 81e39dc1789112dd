/*
 * daemon.c - corio-gateway: runs the gateway's Mosquitto (with the corio plugin, which
 * writes the outbox) and forwards the outbox to the cloud.
 *
 * One thread runs the loop: the broker's supervision, the uplink's network, the
 * forwarder's step, CoAP ingress and its service client to the local broker
 * (coap_ingress.c, local_client.c), the downlink to devices (downlink.c), the local rules
 * (edge.c), the plugin's counters (read from its stats file) and the gateway's status
 * (status.c, published retained on corio/v1/g/{gw}/status), the signals.
 * The HTTP server (metrics) has its own threads and reads a snapshot of the counters
 * that the loop publishes under a mutex.
 */
#include "daemon.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "broker.h"
#include "coap_ingress.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "crypto_openssl.h"
#include "edge.h"
#include "corio_cli.h"
#include "corio_conf.h"
#include "corio_http.h"
#include "corio_log.h"
#include "corio_metrics.h"
#include "corio_sig.h"
#include "corio_x509.h"
#include "downlink.h"
#include "forwarder.h"
#include "local_client.h"
#include "outbox.h"
#include "plugin_stats.h"
#include "powercut_vfs.h"
#include "status.h"
#include "uplink.h"

static const char *const time_sources[] = {"local", "cloud", NULL};

static const struct corio_conf_key gateway_keys[] = {
    {.name = "gateway_id", .type = CORIO_CONF_STRING, .flags = CORIO_CONF_REQUIRED,
     .help = "This gateway's short id (the 24 characters of its did:corio)."},
    {.name = "key", .type = CORIO_CONF_PATH, .flags = CORIO_CONF_REQUIRED,
     .help = "The gateway's private key (PEM) that signs batches."},
    {.name = "key_number", .type = CORIO_CONF_INT, .def = "0", .min = 0, .max = 1000000,
     .help = "Which key of the gateway's DID the key file holds (0: the inception key)."},
    {.name = "outbox", .type = CORIO_CONF_PATH, .flags = CORIO_CONF_REQUIRED,
     .help = "The outbox file the Mosquitto plugin writes."},
    {.name = "watermark", .type = CORIO_CONF_PATH,
     .help = "The watermark file; default: <outbox>.watermark."},
    {.name = "cloud_host", .type = CORIO_CONF_STRING, .def = "127.0.0.1",
     .help = "The cloud broker's host."},
    {.name = "cloud_port", .type = CORIO_CONF_INT, .def = "1883", .min = 1, .max = 65535,
     .help = "The cloud broker's port."},
    {.name = "cloud_keepalive", .type = CORIO_CONF_DURATION, .def = "30s", .min = 5000,
     .max = 3600000, .help = "MQTT keepalive with the cloud broker (libmosquitto needs 5 s or "
                             "more)."},
    {.name = "cloud_tls_ca", .type = CORIO_CONF_PATH,
     .help = "CA of the cloud broker's certificate; setting it turns on TLS."},
    {.name = "cloud_tls_cert", .type = CORIO_CONF_PATH,
     .help = "This gateway's certificate for mutual TLS, issued by its organisation's CA "
             "(corio ca sign --role gateway); needs cloud_tls_ca."},
    {.name = "cloud_tls_key", .type = CORIO_CONF_PATH,
     .help = "The key of cloud_tls_cert; default: the gateway's key."},
    {.name = "window", .type = CORIO_CONF_INT, .def = "8", .min = 1, .max = 1024,
     .help = "Batches in flight before the cloud acknowledges."},
    {.name = "batch_messages", .type = CORIO_CONF_INT, .def = "500", .min = 1, .max = 100000,
     .help = "Messages per batch at most."},
    {.name = "batch_bytes", .type = CORIO_CONF_SIZE, .def = "256k", .min = 1024,
     .max = 64 << 20, .help = "Payload bytes per batch at most."},
    {.name = "ack_timeout", .type = CORIO_CONF_DURATION, .def = "10s", .min = 100,
     .max = 3600000, .help = "Resend a batch not acknowledged after this (then doubling)."},
    {.name = "run_broker", .type = CORIO_CONF_BOOL, .def = "true",
     .help = "Run the gateway's Mosquitto with the corio plugin (and restart it if it dies)."},
    {.name = "broker_bin", .type = CORIO_CONF_PATH, .def = "/usr/sbin/mosquitto",
     .help = "The Mosquitto executable."},
    {.name = "broker_dir", .type = CORIO_CONF_PATH, .def = "broker",
     .help = "Where the broker's generated configuration is written."},
    {.name = "plugin", .type = CORIO_CONF_PATH,
     .help = "corio_mosquitto.so; default: ../lib/corio_mosquitto.so next to this program."},
    {.name = "registry", .type = CORIO_CONF_PATH,
     .help = "The registry file the plugin authenticates devices with (docs/registry.md)."},
    {.name = "outbox_max_bytes", .type = CORIO_CONF_SIZE, .def = "1G", .min = 4096,
     .max = INT64_MAX,
     .help = "Cap of the outbox; past it, devices are refused and keep their messages."},
    {.name = "outbox_sync", .type = CORIO_CONF_DURATION, .def = "200ms", .min = 1,
     .max = 60000, .help = "How often the outbox's WAL is fsynced: the power-cut window."},
    {.name = "outbox_vfs", .type = CORIO_CONF_STRING,
     .help = "SQLite VFS of the outbox in the plugin; corio-powercut journals unsynced writes "
             "for power-cut tests (docs/telemetry.md). Default: SQLite's."},
    {.name = "stats_file", .type = CORIO_CONF_PATH,
     .help = "Where the plugin writes its counters for /metrics; default: <outbox>.stats."},
    {.name = "rules", .type = CORIO_CONF_PATH,
     .help = "A rules file (docs/edge-rules.md): local rules and anomaly detection; needs "
             "loopback_port."},
    {.name = "status_interval", .type = CORIO_CONF_DURATION, .def = "30s", .min = 0,
     .max = 86400000,
     .help = "How often the gateway's status goes to corio/v1/g/{gw}/status (retained); 0: "
             "never."},
    {.name = "loopback_port", .type = CORIO_CONF_INT, .def = "1883", .min = 0, .max = 65535,
     .help = "The authenticated listener on 127.0.0.1 for local services; 0: none."},
    {.name = "mqtt_address", .type = CORIO_CONF_STRING, .def = "0.0.0.0",
     .help = "Address of the device listeners."},
    {.name = "mqtt_port", .type = CORIO_CONF_INT, .def = "0", .min = 0, .max = 65535,
     .help = "Plain MQTT for devices (for closed networks only); 0: none."},
    {.name = "mqtts_port", .type = CORIO_CONF_INT, .def = "8883", .min = 0, .max = 65535,
     .help = "MQTT over TLS for devices; 0: none."},
    {.name = "ws_port", .type = CORIO_CONF_INT, .def = "0", .min = 0, .max = 65535,
     .help = "MQTT over WebSockets; 0: none."},
    {.name = "tls_cert", .type = CORIO_CONF_PATH,
     .help = "The gateway's certificate for its device listeners (mqtts_port, coaps_port), "
             "issued by its organisation's CA (corio ca sign --role gateway --dns NAME)."},
    {.name = "tls_key", .type = CORIO_CONF_PATH,
     .help = "The key of tls_cert; default: the gateway's key."},
    {.name = "tls_ca", .type = CORIO_CONF_PATH, .help = "CA for device certificates, if any."},
    {.name = "coap_address", .type = CORIO_CONF_STRING, .def = "0.0.0.0",
     .help = "Numeric address of the CoAP listeners."},
    {.name = "coap_port", .type = CORIO_CONF_INT, .def = "0", .min = 0, .max = 65535,
     .help = "Plain CoAP over UDP for devices (for closed networks only); 0: none."},
    {.name = "coaps_port", .type = CORIO_CONF_INT, .def = "5684", .min = 0, .max = 65535,
     .help = "CoAP over DTLS for devices, with tls_cert and tls_key (without them and left at "
             "its default, it stays off); 0: none."},
    {.name = "coap_max_body", .type = CORIO_CONF_SIZE, .def = "64k", .min = 1024,
     .max = 16 << 20, .help = "Largest CoAP POST body (Block1); larger is refused with 4.13."},
    {.name = "coap_session_timeout", .type = CORIO_CONF_DURATION, .def = "300s", .min = 1000,
     .max = 86400000,
     .help = "A CoAP session silent this long ends: its device is recorded offline."},
    {.name = "coap_observe_max_age", .type = CORIO_CONF_DURATION, .def = "60s", .min = 1000,
     .max = 86400000,
     .help = "Max-Age of downlink notifications: how often devices refresh their observation."},
    {.name = "coap_retry_after", .type = CORIO_CONF_DURATION, .def = "5s", .min = 1000,
     .max = 3600000, .help = "Max-Age of a 5.03 (the broker is down or refused a message)."},
    {.name = "coap_piggyback_wait", .type = CORIO_CONF_DURATION, .def = "50ms", .min = 0,
     .max = 1000,
     .help = "How long a POST waits for the broker's PUBACK before it gets an Empty ACK and a "
             "separate 2.04."},
    {.name = "service_counter", .type = CORIO_CONF_PATH,
     .help = "The counter of the gateway's service login to its broker; default: "
             "<outbox>.service-counter."},
    {.name = "downlink", .type = CORIO_CONF_BOOL, .def = "true",
     .help = "Route the cloud's commands and configuration to devices, publish dn/time and "
             "apply relayed registry updates (needs loopback_port; docs/downlink.md)."},
    {.name = "downlink_db", .type = CORIO_CONF_PATH,
     .help = "The downlink queue (SQLite); default: <outbox>.downlink."},
    {.name = "cloud_key", .type = CORIO_CONF_STRING,
     .help = "The cloud's downlink key (did:key:zDn...); without it every down container is "
             "refused."},
    {.name = "ledger_key", .type = CORIO_CONF_STRING, .flags = CORIO_CONF_LIST,
     .help = "A ledger node whose signed tree heads are trusted (did:key:zDn...; repeatable)."},
    {.name = "downlink_retry", .type = CORIO_CONF_DURATION, .def = "30s", .min = 1000,
     .max = 86400000,
     .help = "An item delivered to an online device and not answered goes again after this."},
    {.name = "downlink_max_items", .type = CORIO_CONF_INT, .def = "10000", .min = 1,
     .max = 10000000, .help = "Queued commands and configurations at most."},
    {.name = "downlink_max_per_device", .type = CORIO_CONF_INT, .def = "100", .min = 1,
     .max = 100000, .help = "Queued commands and configurations per device at most."},
    {.name = "device_time", .type = CORIO_CONF_BOOL, .def = "true",
     .help = "Publish dn/time to devices when they come online and every time_interval."},
    {.name = "time_interval", .type = CORIO_CONF_DURATION, .def = "10m", .min = 0,
     .max = 86400000, .help = "dn/time to every online device this often; 0: on connect only."},
    {.name = "time_source", .type = CORIO_CONF_STRING, .def = "local", .choices = time_sources,
     .help = "The clock dn/time tells: local (this host's) or cloud (the cloud's, from its "
             "time items; for a gateway without a real-time clock)."},
    {.name = "state_interval", .type = CORIO_CONF_DURATION, .def = "30s", .min = 1000,
     .max = 3600000, .help = "The state message to the cloud at least this often."},
    {.name = "broker_env", .type = CORIO_CONF_STRING, .flags = CORIO_CONF_LIST,
     .help = "NAME=VALUE for the broker's environment (repeatable)."},
    {.name = "broker_line", .type = CORIO_CONF_STRING, .flags = CORIO_CONF_LIST,
     .help = "A line appended to the broker's configuration (repeatable)."},
    {.name = "http_address", .type = CORIO_CONF_STRING, .def = "127.0.0.1",
     .help = "Address of the metrics endpoint."},
    {.name = "http_port", .type = CORIO_CONF_INT, .def = "0", .min = 0, .max = 65535,
     .help = "Port of /metrics and /healthz; 0 picks a free one (logged)."},
    CORIO_LOG_CONF_KEY,
    {0},
};

struct gateway {
    struct corio_conf *conf;
    corio_forwarder *fw;
    corio_uplink *up;
    struct corio_key key;
    unsigned key_number;
    char gateway_id[CORIO_SHORT_ID_CHARS + 1];
    struct corio_registry *reg;
    struct corio_http *http;
    corio_broker *broker;
    struct corio_broker_stats broker_st;
    corio_local_client *local; /* service client to the broker, for CoAP ingress and rules */
    corio_coap_ingress *coap;
    corio_edge *edge;          /* local rules, when a rules file is set */
    char *stats_path;          /* the plugin's counters */
    corio_outbox *ckpt;        /* checkpoints the outbox's WAL off the broker's thread */
    int64_t last_ckpt_ms;
    int64_t started_ms;        /* monotonic */
    int64_t last_stats_read_ms;
    int64_t last_status_ms;
    uint64_t refused_at_last_status;
    corio_downlink *dl;
    uint8_t cloud_key[65];
    uint8_t (*ledger_keys)[33];

    pthread_mutex_t lock; /* guards the snapshots below, read by the HTTP threads */
    struct corio_forwarder_stats fw_st;
    struct corio_uplink_stats up_st;
    struct corio_coap_ingress_stats coap_st;
    struct corio_local_client_stats local_st;
    struct corio_edge_stats edge_st;
    struct corio_plugin_totals plugin;
    uint64_t statuses_published;
    struct corio_downlink_stats dl_st;
};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int uplink_publish(void *ctx, const uint8_t *batch, size_t len)
{
    struct gateway *g = ctx;
    return corio_uplink_publish(g->up, "batch", batch, len);
}

static int uplink_seal(void *ctx, const uint8_t *payload, size_t len, uint8_t **out,
                       size_t *outlen)
{
    struct gateway *g = ctx;
    return corio_batch_seal(&g->key, g->gateway_id, g->key_number, payload, len, out, outlen) ==
                   CORIO_OK
               ? 0
               : -1;
}

static void on_connect(void *arg)
{
    struct gateway *g = arg;
    corio_forwarder_uplink_up(g->fw);
    if (g->dl)
        corio_downlink_uplink_up(g->dl);
}

static void on_message(void *arg, const char *topic, const uint8_t *payload, size_t len)
{
    struct gateway *g = arg;
    size_t n = strlen(topic);
    if (n > 4 && strcmp(topic + n - 4, "/ack") == 0) {
        if (corio_forwarder_on_ack(g->fw, payload, len, mono_ms()) != CORIO_OK)
            corio_logkv(CORIO_LOG_WARN, "malformed application ack ignored", "bytes=%zu", len);
    } else if (n > 5 && strcmp(topic + n - 5, "/down") == 0 && g->dl) {
        corio_downlink_on_down(g->dl, payload, len, wall_ms());
    }
}

/* Metrics read the snapshot the loop publishes. */
#define SNAPSHOT_GAUGE(fn_name, field)                                                         \
    static double fn_name(void *arg)                                                           \
    {                                                                                          \
        struct gateway *g = arg;                                                               \
        pthread_mutex_lock(&g->lock);                                                          \
        double v = (double)(field);                                                            \
        pthread_mutex_unlock(&g->lock);                                                        \
        return v;                                                                              \
    }
SNAPSHOT_GAUGE(m_watermark, g->fw_st.watermark)
SNAPSHOT_GAUGE(m_sent_through, g->fw_st.sent_through)
SNAPSHOT_GAUGE(m_inflight, g->fw_st.inflight)
SNAPSHOT_GAUGE(m_batches_sent, g->fw_st.batches_sent)
SNAPSHOT_GAUGE(m_batches_resent, g->fw_st.batches_resent)
SNAPSHOT_GAUGE(m_batches_acked, g->fw_st.batches_acked)
SNAPSHOT_GAUGE(m_messages_acked, g->fw_st.messages_acked)
SNAPSHOT_GAUGE(m_acks_ignored, g->fw_st.acks_ignored)
SNAPSHOT_GAUGE(m_acks_malformed, g->fw_st.acks_malformed)
SNAPSHOT_GAUGE(m_uplink_up, g->up_st.connected)
SNAPSHOT_GAUGE(m_uplink_connects, g->up_st.connects)
SNAPSHOT_GAUGE(m_broker_up, g->broker_st.pid > 0)
SNAPSHOT_GAUGE(m_broker_restarts, g->broker_st.deaths)
SNAPSHOT_GAUGE(m_local_up, g->local_st.connected)
SNAPSHOT_GAUGE(m_coap_sessions, g->coap_st.sessions)
SNAPSHOT_GAUGE(m_coap_bound, g->coap_st.bound)
SNAPSHOT_GAUGE(m_coap_auth_accepted, g->coap_st.auth_accepted)
SNAPSHOT_GAUGE(m_coap_auth_refused, g->coap_st.auth_refused)
SNAPSHOT_GAUGE(m_coap_stored, g->coap_st.stored)
SNAPSHOT_GAUGE(m_coap_unavailable, g->coap_st.unavailable)
SNAPSHOT_GAUGE(m_coap_denied, g->coap_st.denied)
SNAPSHOT_GAUGE(m_coap_separate, g->coap_st.separate)
SNAPSHOT_GAUGE(m_coap_relayed, g->coap_st.relayed)
SNAPSHOT_GAUGE(m_coap_presence_dropped, g->coap_st.presence_dropped)
SNAPSHOT_GAUGE(m_in, CORIO_PLUGIN_TOTAL(&g->plugin, stored))
SNAPSHOT_GAUGE(m_in_bytes, CORIO_PLUGIN_TOTAL(&g->plugin, stored_bytes))
SNAPSHOT_GAUGE(m_refused, CORIO_PLUGIN_TOTAL(&g->plugin, refused))
SNAPSHOT_GAUGE(m_dropped, CORIO_PLUGIN_TOTAL(&g->plugin, dropped))
SNAPSHOT_GAUGE(m_out_bytes, g->up_st.bytes)
SNAPSHOT_GAUGE(m_rows, g->plugin.now.rows)
SNAPSHOT_GAUGE(m_bytes, g->plugin.now.bytes)
SNAPSHOT_GAUGE(m_max_bytes, g->plugin.now.max_bytes)
SNAPSHOT_GAUGE(m_reconnects, g->up_st.connects > 0 ? g->up_st.connects - 1 : 0)
SNAPSHOT_GAUGE(m_online, g->plugin.now.devices_online)
SNAPSHOT_GAUGE(m_syncs, CORIO_PLUGIN_TOTAL(&g->plugin, syncs))
SNAPSHOT_GAUGE(m_sync_failures, CORIO_PLUGIN_TOTAL(&g->plugin, sync_failures))
SNAPSHOT_GAUGE(m_sync_ms, g->plugin.now.sync_ms / 1000.0)
SNAPSHOT_GAUGE(m_clean_start, g->plugin.now.clean_start)
SNAPSHOT_GAUGE(m_resend_requests, CORIO_PLUGIN_TOTAL(&g->plugin, resend_requests))
SNAPSHOT_GAUGE(m_resend_pending, g->plugin.now.resend_pending)
SNAPSHOT_GAUGE(m_auth_accepted, CORIO_PLUGIN_TOTAL(&g->plugin, auth_accepted))
SNAPSHOT_GAUGE(m_auth_refused, CORIO_PLUGIN_TOTAL(&g->plugin, auth_refused))
SNAPSHOT_GAUGE(m_acl_denied, CORIO_PLUGIN_TOTAL(&g->plugin, acl_denied))
SNAPSHOT_GAUGE(m_statuses, g->statuses_published)
SNAPSHOT_GAUGE(m_rules_samples, g->edge_st.rules.samples)
SNAPSHOT_GAUGE(m_rules_refused, g->edge_st.rules.samples_refused + g->edge_st.rules.packs_refused)
SNAPSHOT_GAUGE(m_rules_raised, g->edge_st.rules.raised)
SNAPSHOT_GAUGE(m_rules_cleared, g->edge_st.rules.cleared)
SNAPSHOT_GAUGE(m_rules_active, g->edge_st.rules.active)
SNAPSHOT_GAUGE(m_rules_commands, g->edge_st.rules.commands_sent)
SNAPSHOT_GAUGE(m_rules_commands_failed, g->edge_st.rules.commands_failed)
SNAPSHOT_GAUGE(m_rules_events, g->edge_st.events_stored)
SNAPSHOT_GAUGE(m_rules_events_queued, g->edge_st.events_queued)
SNAPSHOT_GAUGE(m_rules_events_dropped, g->edge_st.events_dropped)
SNAPSHOT_GAUGE(m_anomalies_started, g->edge_st.rules.anomalies_started)
SNAPSHOT_GAUGE(m_anomalies_open, g->edge_st.rules.anomalies_open)

/* Ages are computed at render time from the snapshot's wall-clock stamps. */
static double m_oldest_age(void *arg)
{
    struct gateway *g = arg;
    pthread_mutex_lock(&g->lock);
    uint64_t oldest = g->plugin.now.oldest_ms;
    pthread_mutex_unlock(&g->lock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    return oldest && now * 1000 > (double)oldest ? now - (double)oldest / 1000.0 : 0;
}

static double m_sync_age(void *arg)
{
    struct gateway *g = arg;
    pthread_mutex_lock(&g->lock);
    uint64_t last = g->plugin.now.last_sync_ms;
    pthread_mutex_unlock(&g->lock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    return last && now * 1000 > (double)last ? now - (double)last / 1000.0 : 0;
}

static double m_stats_age(void *arg)
{
    struct gateway *g = arg;
    pthread_mutex_lock(&g->lock);
    bool have = g->plugin.have;
    int64_t at = g->plugin.read_mono_ms, wrote = (int64_t)g->plugin.now.wall_ms;
    pthread_mutex_unlock(&g->lock);
    (void)at;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    return have && wrote ? now - (double)wrote / 1000.0 : -1;
}

SNAPSHOT_GAUGE(m_dl_local_up, g->dl_st.local_up)
SNAPSHOT_GAUGE(m_dl_queued, g->dl_st.queued)
SNAPSHOT_GAUGE(m_dl_online, g->dl_st.online)
SNAPSHOT_GAUGE(m_dl_containers, g->dl_st.containers)
SNAPSHOT_GAUGE(m_dl_refused, g->dl_st.refused)
SNAPSHOT_GAUGE(m_dl_items, g->dl_st.items_queued)
SNAPSHOT_GAUGE(m_dl_duplicates, g->dl_st.duplicates)
SNAPSHOT_GAUGE(m_dl_full, g->dl_st.full)
SNAPSHOT_GAUGE(m_dl_expired, g->dl_st.expired)
SNAPSHOT_GAUGE(m_dl_delivered, g->dl_st.delivered)
SNAPSHOT_GAUGE(m_dl_answered, g->dl_st.answered)
SNAPSHOT_GAUGE(m_dl_times, g->dl_st.times)
SNAPSHOT_GAUGE(m_dl_reg_applied, g->dl_st.registry_applied)
SNAPSHOT_GAUGE(m_dl_reg_refused, g->dl_st.registry_refused)
SNAPSHOT_GAUGE(m_dl_reg_wanted, g->dl_st.registry_wanted)
SNAPSHOT_GAUGE(m_dl_reg_height, g->dl_st.registry_height)
SNAPSHOT_GAUGE(m_dl_skew, g->dl_st.clock_skew_ms)

static int register_metrics(struct gateway *g)
{
    struct {
        const char *name, *help;
        double (*fn)(void *);
    } gauges[] = {
        {"corio_gateway_watermark", "Highest outbox id the cloud has committed.", m_watermark},
        {"corio_gateway_sent_through", "Highest outbox id put into a batch.", m_sent_through},
        {"corio_gateway_batches_inflight", "Batches sent and not yet acknowledged.", m_inflight},
        {"corio_gateway_batches_sent_total", "Batches sent for the first time.", m_batches_sent},
        {"corio_gateway_batches_resent_total", "Batches sent again.", m_batches_resent},
        {"corio_gateway_batches_acked_total", "Batches the cloud acknowledged.", m_batches_acked},
        {"corio_gateway_messages_acked_total", "Messages the cloud acknowledged.",
         m_messages_acked},
        {"corio_gateway_acks_ignored_total", "Acks for another epoch or no batch in flight.",
         m_acks_ignored},
        {"corio_gateway_acks_malformed_total", "Acks that did not decode.", m_acks_malformed},
        {"corio_gateway_uplink_up", "1 while connected to the cloud broker.", m_uplink_up},
        {"corio_gateway_uplink_connects_total", "Connections made to the cloud broker.",
         m_uplink_connects},
        {"corio_gateway_broker_up", "1 while the gateway's broker runs.", m_broker_up},
        {"corio_gateway_broker_deaths_total", "Times the broker died and was restarted.",
         m_broker_restarts},
    };
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
        if (!corio_gauge_new_fn(g->reg, gauges[i].name, gauges[i].help, gauges[i].fn, g))
            return CORIO_ERR_NOSPACE;
    struct {
        const char *name, *help;
        double (*fn)(void *);
    } plugin[] = {
        {"corio_gateway_messages_in_total", "Messages the plugin committed to the outbox "
                                            "(devices' and the gateway's own).", m_in},
        {"corio_gateway_message_bytes_in_total", "Payload bytes of those messages.", m_in_bytes},
        {"corio_gateway_messages_out_total", "Messages the cloud acknowledged (committed).",
         m_messages_acked},
        {"corio_gateway_batch_bytes_out_total", "Bytes of batches handed to the uplink.",
         m_out_bytes},
        {"corio_gateway_refused_total", "Messages refused (outbox full or a write failed): not "
                                        "acknowledged, the device keeps them.", m_refused},
        {"corio_gateway_dropped_total", "Droppable-class messages dropped when the outbox was "
                                        "near full.", m_dropped},
        {"corio_gateway_outbox_rows", "Messages in the outbox.", m_rows},
        {"corio_gateway_outbox_bytes", "Accounted bytes in the outbox.", m_bytes},
        {"corio_gateway_outbox_max_bytes", "The outbox's cap.", m_max_bytes},
        {"corio_gateway_outbox_oldest_age_seconds", "Age of the oldest message in the outbox.",
         m_oldest_age},
        {"corio_gateway_outbox_syncs_total", "WAL fsyncs of the outbox.", m_syncs},
        {"corio_gateway_outbox_sync_failures_total", "Failed WAL fsyncs.", m_sync_failures},
        {"corio_gateway_outbox_last_sync_age_seconds", "Since the last WAL fsync.", m_sync_age},
        {"corio_gateway_outbox_sync_interval_seconds", "The power-cut window.", m_sync_ms},
        {"corio_gateway_outbox_clean_start", "0 when the broker started on an outbox not closed "
                                             "cleanly (a crash or a power cut).", m_clean_start},
        {"corio_gateway_resend_requests_total", "Devices asked to resend after an unclean start.",
         m_resend_requests},
        {"corio_gateway_resend_pending", "Devices still to be asked to resend.", m_resend_pending},
        {"corio_gateway_mqtt_devices_connected", "MQTT devices connected now.", m_online},
        {"corio_gateway_auth_accepted_total", "Logins the plugin accepted.", m_auth_accepted},
        {"corio_gateway_auth_refused_total", "Logins the plugin refused.", m_auth_refused},
        {"corio_gateway_acl_denied_total", "Publishes and subscriptions the plugin denied.",
         m_acl_denied},
        {"corio_gateway_uplink_reconnects_total", "Connections to the cloud broker after the "
                                                  "first.", m_reconnects},
        {"corio_gateway_plugin_stats_age_seconds", "Age of the plugin's counters (-1: none yet).",
         m_stats_age},
        {"corio_gateway_status_published_total", "Status documents published.", m_statuses},
    };
    for (size_t i = 0; i < sizeof plugin / sizeof plugin[0]; i++)
        if (!corio_gauge_new_fn(g->reg, plugin[i].name, plugin[i].help, plugin[i].fn, g))
            return CORIO_ERR_NOSPACE;
    if (g->edge) {
        struct {
            const char *name, *help;
            double (*fn)(void *);
        } rules[] = {
            {"corio_gateway_rules_samples_total", "Samples fed to the rules.", m_rules_samples},
            {"corio_gateway_rules_refused_total", "Samples and packs the rules refused.",
             m_rules_refused},
            {"corio_gateway_rules_raised_total", "Rule raises.", m_rules_raised},
            {"corio_gateway_rules_cleared_total", "Rule clears.", m_rules_cleared},
            {"corio_gateway_rules_active", "Rules raised now.", m_rules_active},
            {"corio_gateway_rules_commands_total", "Commands the rules sent.", m_rules_commands},
            {"corio_gateway_rules_commands_failed_total", "Commands not handed over.",
             m_rules_commands_failed},
            {"corio_gateway_rules_events_stored_total", "Rule and anomaly events stored.",
             m_rules_events},
            {"corio_gateway_rules_events_queued", "Events waiting for the broker.",
             m_rules_events_queued},
            {"corio_gateway_rules_events_dropped_total", "Events dropped from a full queue.",
             m_rules_events_dropped},
            {"corio_gateway_anomalies_started_total", "Anomaly episodes started.",
             m_anomalies_started},
            {"corio_gateway_anomalies_open", "Anomaly episodes open now.", m_anomalies_open},
        };
        for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
            if (!corio_gauge_new_fn(g->reg, rules[i].name, rules[i].help, rules[i].fn, g))
                return CORIO_ERR_NOSPACE;
    }
    struct {
        const char *name, *help;
        double (*fn)(void *);
    } dl[] = {
        {"corio_gateway_downlink_local_up", "1 while the downlink's client is logged in.",
         m_dl_local_up},
        {"corio_gateway_downlink_queued", "Commands and configurations queued for devices.",
         m_dl_queued},
        {"corio_gateway_devices_online", "Devices online (presence).", m_dl_online},
        {"corio_gateway_downlink_containers_total", "Down containers accepted.", m_dl_containers},
        {"corio_gateway_downlink_refused_total", "Down containers refused.", m_dl_refused},
        {"corio_gateway_downlink_items_total", "Items taken into the queue.", m_dl_items},
        {"corio_gateway_downlink_duplicates_total", "Items already queued or answered.",
         m_dl_duplicates},
        {"corio_gateway_downlink_full_total", "Items not queued: the queue was full.", m_dl_full},
        {"corio_gateway_downlink_expired_total", "Commands that expired before an answer.",
         m_dl_expired},
        {"corio_gateway_downlink_delivered_total", "Deliveries acknowledged by the broker.",
         m_dl_delivered},
        {"corio_gateway_downlink_answered_total", "Items closed by the device's answer.",
         m_dl_answered},
        {"corio_gateway_time_published_total", "dn/time messages published.", m_dl_times},
        {"corio_gateway_registry_applied_total", "Relayed registry updates applied.",
         m_dl_reg_applied},
        {"corio_gateway_registry_refused_total", "Relayed registry updates refused.",
         m_dl_reg_refused},
        {"corio_gateway_registry_wanted_total", "Times missing registry heights were asked for.",
         m_dl_reg_wanted},
        {"corio_gateway_registry_height", "The height of the registry file.", m_dl_reg_height},
        {"corio_gateway_cloud_clock_skew_ms", "The cloud's clock minus this one, ms.", m_dl_skew},
    };
    for (size_t i = 0; g->dl && i < sizeof dl / sizeof dl[0]; i++)
        if (!corio_gauge_new_fn(g->reg, dl[i].name, dl[i].help, dl[i].fn, g))
            return CORIO_ERR_NOSPACE;
    if (!g->coap)
        return CORIO_OK;
    struct {
        const char *name, *help;
        double (*fn)(void *);
    } coap[] = {
        {"corio_gateway_local_up", "1 while the service client is logged in to the broker.",
         m_local_up},
        {"corio_gateway_coap_sessions", "CoAP sessions (DTLS associations) now.", m_coap_sessions},
        {"corio_gateway_coap_bound_sessions", "CoAP sessions with an authenticated device.",
         m_coap_bound},
        {"corio_gateway_coap_auth_accepted_total", "CoAP EAT authentications accepted.",
         m_coap_auth_accepted},
        {"corio_gateway_coap_auth_refused_total", "CoAP EAT authentications refused.",
         m_coap_auth_refused},
        {"corio_gateway_coap_stored_total", "CoAP POSTs answered 2.04 after the PUBACK.",
         m_coap_stored},
        {"corio_gateway_coap_unavailable_total", "CoAP POSTs answered 5.03.", m_coap_unavailable},
        {"corio_gateway_coap_denied_total", "CoAP requests answered 4.01 or 4.03.", m_coap_denied},
        {"corio_gateway_coap_separate_total", "CoAP POSTs answered after an Empty ACK.",
         m_coap_separate},
        {"corio_gateway_coap_relayed_total", "Downlink messages handed to CoAP observers.",
         m_coap_relayed},
        {"corio_gateway_coap_presence_dropped_total", "CoAP presence records lost (queue full).",
         m_coap_presence_dropped},
    };
    for (size_t i = 0; i < sizeof coap / sizeof coap[0]; i++)
        if (!corio_gauge_new_fn(g->reg, coap[i].name, coap[i].help, coap[i].fn, g))
            return CORIO_ERR_NOSPACE;
    return CORIO_OK;
}

static int healthz(struct corio_http_req *req, void *arg)
{
    (void)arg;
    return corio_http_reply_text(req, 200, "ok\n");
}

/* ../lib/corio_mosquitto.so beside this program: where the build and packages put it. */
static char *default_plugin(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    char *path;
    return asprintf(&path, "%s/../lib/corio_mosquitto.so", exe) < 0 ? NULL : path;
}

/* The key file of a certificate key (tls_key, cloud_tls_key): the one configured, else the
 * gateway's own key. */
static const char *cert_key(const struct corio_conf *c, const char *key_name)
{
    const char *k = corio_conf_str(c, key_name);
    return k ? k : corio_conf_str(c, "key");
}

/* A certificate this gateway presents must be for the key it is used with and, when it
 * names did:corio identities, name this gateway: said at start rather than as a failed
 * handshake later. */
static int check_cert(struct gateway *g, const char *cert_name, const char *key_name)
{
    const struct corio_conf *c = g->conf;
    const char *cert = corio_conf_str(c, cert_name);
    if (!cert)
        return CORIO_OK;
    const char *keyfile = cert_key(c, key_name);
    struct corio_key other = {0};
    const struct corio_key *key = &g->key;
    int rc = CORIO_OK;
    if (corio_conf_str(c, key_name)) {
        rc = corio_openssl_key_read_pem(keyfile, &other);
        if (rc != CORIO_OK) {
            corio_logkv(CORIO_LOG_ERROR, "cannot load a TLS key", "key=%s file=%s error=%s",
                        key_name, keyfile, corio_strerror(rc));
            return CORIO_ERR_INVAL;
        }
        key = &other;
    }
    char why[512];
    rc = corio_x509_check_own(cert, key, g->gateway_id, why, sizeof why);
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "unusable TLS certificate", "key=%s error=\"%s\"", cert_name,
                    why);
    if (other.ops)
        corio_key_close(&other);
    return rc == CORIO_OK ? CORIO_OK : CORIO_ERR_INVAL;
}

static int start_broker(struct gateway *g)
{
    struct corio_conf *c = g->conf;
    if (!corio_conf_str(c, "registry")) {
        corio_logkv(CORIO_LOG_ERROR, "run_broker needs a registry file", "key=registry");
        return CORIO_ERR_INVAL;
    }
    char *plugin = corio_conf_str(c, "plugin") ? strdup(corio_conf_str(c, "plugin"))
                                                : default_plugin();
    size_t nenv = corio_conf_count(c, "broker_env"), nextra = corio_conf_count(c, "broker_line");
    const char **env = calloc(nenv + 1, sizeof *env), **extra = calloc(nextra + 1, sizeof *extra);
    for (size_t i = 0; env && i < nenv; i++)
        env[i] = corio_conf_str_at(c, "broker_env", i);
    for (size_t i = 0; extra && i < nextra; i++)
        extra[i] = corio_conf_str_at(c, "broker_line", i);
    int rc = CORIO_ERR_NOSPACE;
    char err[512] = "out of memory";
    if (plugin && env && extra) {
        struct corio_broker_options bo = {
            .bin = corio_conf_str(c, "broker_bin"), .dir = corio_conf_str(c, "broker_dir"),
            .plugin = plugin, .gateway = g->gateway_id, .outbox = corio_conf_str(c, "outbox"),
            .registry = corio_conf_str(c, "registry"),
            .outbox_max_bytes = corio_conf_int(c, "outbox_max_bytes"),
            .sync_ms = corio_conf_int(c, "outbox_sync"),
            .vfs = corio_conf_str(c, "outbox_vfs"), .stats = g->stats_path,
            .loopback_port = (int)corio_conf_int(c, "loopback_port"),
            .mqtt_address = corio_conf_str(c, "mqtt_address"),
            .mqtt_port = (int)corio_conf_int(c, "mqtt_port"),
            .mqtts_port = (int)corio_conf_int(c, "mqtts_port"),
            .ws_port = (int)corio_conf_int(c, "ws_port"),
            .tls_cert = corio_conf_str(c, "tls_cert"), .tls_key = cert_key(c, "tls_key"),
            .tls_ca = corio_conf_str(c, "tls_ca"),
            .env = env, .nenv = nenv, .extra = extra, .nextra = nextra};
        rc = corio_broker_start(&bo, &g->broker, err, sizeof err);
    }
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "cannot start the broker", "error=%s", err);
    free(plugin);
    free(env);
    free(extra);
    return rc;
}

/* The service client serves CoAP ingress and the downlink; each ignores the message
 * ids it did not publish. */
static void local_up(void *arg)
{
    struct gateway *g = arg;
    if (g->coap)
        corio_coap_ingress_local_up(g->coap);
    if (g->edge)
        corio_edge_local_up(g->edge);
    if (g->dl)
        corio_downlink_local_up(g->dl);
}

static void local_down(void *arg)
{
    struct gateway *g = arg;
    if (g->coap)
        corio_coap_ingress_local_down(g->coap);
    if (g->edge)
        corio_edge_local_down(g->edge);
    if (g->dl)
        corio_downlink_local_down(g->dl);
}

static void local_puback(void *arg, int mid)
{
    struct gateway *g = arg;
    if (g->edge && corio_edge_puback(g->edge, mid))
        return;
    if (g->coap)
        corio_coap_ingress_puback(g->coap, mid);
    if (g->dl)
        corio_downlink_puback(g->dl, mid);
}

static void local_message(void *arg, const char *topic, const uint8_t *payload, size_t len)
{
    struct gateway *g = arg;
    if (g->coap)
        corio_coap_ingress_message(g->coap, topic, payload, len);
}

/* Whether CoAP ingress is on: coap_port is set, or coaps_port with the TLS certificate
 * (an explicit coaps_port without one is an error, as mqtts_port's). */
static bool coap_wanted(struct gateway *g, int *coap_port, int *coaps_port)
{
    struct corio_conf *c = g->conf;
    *coap_port = (int)corio_conf_int(c, "coap_port");
    *coaps_port = (int)corio_conf_int(c, "coaps_port");
    if (*coaps_port && !corio_conf_str(c, "tls_cert") && !corio_conf_isset(c, "coaps_port")) {
        corio_logkv(CORIO_LOG_INFO, "coaps off: no tls_cert", "coaps_port=%d", *coaps_port);
        *coaps_port = 0;
    }
    return *coap_port || *coaps_port;
}

/* The gateway's one service login to its broker (local_client.h), which CoAP ingress
 * and the downlink publish through: one client, so that two logins never race for the
 * gateway's counter. */
static int start_local(struct gateway *g)
{
    struct corio_conf *c = g->conf;
    char *counter = NULL;
    if (corio_conf_str(c, "service_counter"))
        counter = strdup(corio_conf_str(c, "service_counter"));
    else if (asprintf(&counter, "%s.service-counter", corio_conf_str(c, "outbox")) < 0)
        counter = NULL;
    if (!counter)
        return CORIO_ERR_NOSPACE;
    static const char *const subscriptions[] = {"corio/v1/d/+/dn/#", NULL};
    struct corio_local_client_options lo = {.gateway = g->gateway_id,
                                            .key = &g->key,
                                            .key_number = g->key_number,
                                            .host = "127.0.0.1",
                                            .port = (int)corio_conf_int(c, "loopback_port"),
                                            .keepalive_s = 10,
                                            .counter_path = counter,
                                            .subscribe = subscriptions,
                                            .on_up = local_up,
                                            .on_down = local_down,
                                            .on_puback = local_puback,
                                            .on_message = local_message,
                                            .arg = g};
    char err[512];
    int rc = corio_local_client_new(&lo, &g->local, err, sizeof err);
    free(counter);
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "cannot set up the service client", "error=%s", err);
    return rc;
}

/* CoAP ingress and the service client it publishes through (docs/gateway-coap.md). On
 * when coap_port is set, or coaps_port with the TLS certificate (an explicit coaps_port
 * without one is an error, as mqtts_port's). */
static int start_coap(struct gateway *g)
{
    struct corio_conf *c = g->conf;
    int coap_port, coaps_port;
    if (!coap_wanted(g, &coap_port, &coaps_port))
        return CORIO_OK;
    if (!corio_conf_int(c, "loopback_port")) {
        corio_logkv(CORIO_LOG_ERROR,
                    "CoAP ingress needs the broker's loopback listener: set loopback_port, "
                    "or coap_port 0 and coaps_port 0",
                    "key=%s", "loopback_port");
        return CORIO_ERR_INVAL;
    }
    if (!corio_conf_str(c, "registry")) {
        corio_logkv(CORIO_LOG_ERROR, "CoAP ingress needs a registry file", "key=registry");
        return CORIO_ERR_INVAL;
    }
    int64_t session_timeout = corio_conf_int(c, "coap_session_timeout");
    int64_t max_age = corio_conf_int(c, "coap_observe_max_age");
    if (session_timeout <= max_age) {
        corio_logkv(CORIO_LOG_ERROR, "coap_session_timeout must exceed coap_observe_max_age",
                    "coap_session_timeout_ms=%lld coap_observe_max_age_ms=%lld",
                    (long long)session_timeout, (long long)max_age);
        return CORIO_ERR_INVAL;
    }
    if (!g->local && start_local(g) != CORIO_OK)
        return CORIO_ERR_NOSPACE;
    char err[512];
    int rc;
    struct corio_coap_ingress_options co = {
        .gateway = g->gateway_id, .registry = corio_conf_str(c, "registry"),
        .address = corio_conf_str(c, "coap_address"), .coap_port = coap_port,
        .coaps_port = coaps_port, .tls_cert = corio_conf_str(c, "tls_cert"),
        .tls_key = cert_key(c, "tls_key"),
        .max_body = (size_t)corio_conf_int(c, "coap_max_body"),
        .session_timeout_ms = session_timeout,
        .retry_after_s = (uint32_t)(corio_conf_int(c, "coap_retry_after") / 1000),
        .observe_max_age_s = (uint32_t)(max_age / 1000),
        .piggyback_ms = (int)corio_conf_int(c, "coap_piggyback_wait"), .local = g->local};
    rc = corio_coap_ingress_new(&co, &g->coap, err, sizeof err);
    if (rc != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot start CoAP ingress", "error=%s", err);
        return rc;
    }
    return CORIO_OK;
}

/* The local rules (docs/edge-rules.md), when a rules file is set. */
static int start_edge(struct gateway *g)
{
    struct corio_conf *c = g->conf;
    const char *rules = corio_conf_str(c, "rules");
    if (!rules)
        return CORIO_OK;
    if (!corio_conf_int(c, "loopback_port")) {
        corio_logkv(CORIO_LOG_ERROR,
                    "the rules publish through the broker's loopback listener: set loopback_port",
                    "key=%s", "loopback_port");
        return CORIO_ERR_INVAL;
    }
    int rc = g->local ? CORIO_OK : start_local(g);
    if (rc != CORIO_OK)
        return rc;
    struct corio_edge_options eo = {
        .rules_path = rules, .outbox_path = corio_conf_str(c, "outbox"),
        .registry_path = corio_conf_str(c, "registry"), .gateway = g->gateway_id,
        .local = g->local, .now_ms = wall_ms()};
    char err[512];
    rc = corio_edge_new(&eo, &g->edge, err, sizeof err);
    if (rc != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot start the rules", "error=%s", err);
        return rc;
    }
    corio_logkv(CORIO_LOG_INFO, "rules loaded", "file=%s", rules);
    return CORIO_OK;
}

/* Checkpoints the outbox's WAL every second (outbox.h: the plugin leaves it to us, so
 * that its commits, which devices wait for, never carry a checkpoint's fsyncs). */
static void checkpoint(struct gateway *g, int64_t now)
{
    if (now - g->last_ckpt_ms < 1000)
        return;
    g->last_ckpt_ms = now;
    if (!g->ckpt) {
        struct corio_outbox_options o = {.path = corio_conf_str(g->conf, "outbox"),
                                         .checkpointer = true,
                                         .vfs = corio_conf_str(g->conf, "outbox_vfs")};
        char err[256];
        if (access(o.path, F_OK) != 0 || corio_outbox_open(&o, &g->ckpt, err, sizeof err) != CORIO_OK)
            return; /* not created yet */
    }
    if (corio_outbox_checkpoint(g->ckpt, NULL, NULL) != CORIO_OK) {
        corio_logkv(CORIO_LOG_WARN, "outbox checkpoint failed; reopening", "outbox=%s",
                    corio_conf_str(g->conf, "outbox"));
        corio_outbox_close(g->ckpt);
        g->ckpt = NULL;
    }
}

/* Reads the plugin's stats file (plugin_stats.h) into the totals; every half second. */
static void read_plugin_stats(struct gateway *g, int64_t now)
{
    if (now - g->last_stats_read_ms < 500)
        return;
    g->last_stats_read_ms = now;
    struct corio_plugin_stats st;
    if (corio_plugin_stats_read(g->stats_path, &st) != CORIO_OK)
        return;
    pthread_mutex_lock(&g->lock);
    corio_plugin_totals_update(&g->plugin, &st, now);
    pthread_mutex_unlock(&g->lock);
}

/* Publishes the gateway's status (status.h), retained, when due or when stopping. */
static void publish_status(struct gateway *g, int64_t now, bool stopping)
{
    int64_t interval = corio_conf_int(g->conf, "status_interval");
    if (!interval || (!stopping && now - g->last_status_ms < interval))
        return;
    struct corio_uplink_stats up;
    corio_uplink_stats(g->up, &up);
    if (!up.connected)
        return;
    g->last_status_ms = now;
    int64_t wall = wall_ms();
    pthread_mutex_lock(&g->lock);
    uint64_t refused = CORIO_PLUGIN_TOTAL(&g->plugin, refused);
    struct corio_gw_status_in in = {
        .gateway = g->gateway_id, .now_ms = wall, .uptime_ms = now - g->started_ms,
        .stopping = stopping, .broker_up = !corio_conf_bool(g->conf, "run_broker") ||
                                            g->broker_st.pid > 0,
        .uplink_up = true,
        .plugin_fresh = g->plugin.have && (int64_t)g->plugin.now.wall_ms > wall - 5000,
        .plugin = &g->plugin, .messages_out = g->fw_st.messages_acked,
        .batches_out = g->fw_st.batches_acked, .inflight = g->fw_st.inflight,
        .watermark = g->fw_st.watermark, .uplink_connects = up.connects,
        .coap_devices = g->coap_st.bound, .rules_on = g->edge != NULL,
        .rules_active = g->edge_st.rules.active, .rules_raised = g->edge_st.rules.raised,
        .anomalies_open = g->edge_st.rules.anomalies_open,
        .refused_since_last = refused - g->refused_at_last_status};
    char *json = corio_gw_status_json(&in);
    pthread_mutex_unlock(&g->lock);
    g->refused_at_last_status = refused;
    if (json && corio_uplink_publish_retained(g->up, "status", (const uint8_t *)json,
                                              strlen(json)) == 0) {
        pthread_mutex_lock(&g->lock);
        g->statuses_published++;
        pthread_mutex_unlock(&g->lock);
    }
    free(json);
}

static int uplink_publish_up(void *ctx, const char *suffix, const uint8_t *payload, size_t len)
{
    struct gateway *g = ctx;
    return corio_uplink_publish(g->up, suffix, payload, len);
}

/* The downlink (downlink.h): on unless turned off or without the loopback listener. */
static int start_downlink(struct gateway *g)
{
    struct corio_conf *c = g->conf;
    int loopback = (int)corio_conf_int(c, "loopback_port");
    if (!corio_conf_bool(c, "downlink") || !loopback)
        return CORIO_OK;
    const char *ck = corio_conf_str(c, "cloud_key");
    if (ck && corio_didkey_parse(ck, strlen(ck), g->cloud_key) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cloud_key is not a P-256 did:key", "cloud_key=%s", ck);
        return CORIO_ERR_INVAL;
    }
    size_t nk = corio_conf_count(c, "ledger_key");
    g->ledger_keys = calloc(nk ? nk : 1, sizeof *g->ledger_keys);
    if (!g->ledger_keys)
        return CORIO_ERR_NOSPACE;
    for (size_t i = 0; i < nk; i++) {
        const char *s = corio_conf_str_at(c, "ledger_key", i);
        uint8_t pub[65];
        if (corio_didkey_parse(s, strlen(s), pub) != CORIO_OK ||
            corio_p256_compress(pub, g->ledger_keys[i]) != CORIO_OK) {
            corio_logkv(CORIO_LOG_ERROR, "ledger_key is not a P-256 did:key", "ledger_key=%s", s);
            return CORIO_ERR_INVAL;
        }
    }
    if (!g->local && start_local(g) != CORIO_OK)
        return CORIO_ERR_NOSPACE;
    char *db = NULL;
    const char *outbox = corio_conf_str(c, "outbox");
    if (corio_conf_str(c, "downlink_db"))
        db = strdup(corio_conf_str(c, "downlink_db"));
    else if (asprintf(&db, "%s.downlink", outbox) < 0)
        db = NULL;
    int rc = CORIO_ERR_NOSPACE;
    char err[512] = "out of memory";
    if (db) {
        struct corio_downlink_options o = {
            .gateway = g->gateway_id,
            .key = &g->key,
            .key_number = g->key_number,
            .db_path = db,
            .outbox_path = outbox,
            .registry_path = corio_conf_str(c, "registry"),
            .local = g->local,
            .cloud_key = ck ? g->cloud_key : NULL,
            .ledger_keys = (const uint8_t(*)[33])g->ledger_keys,
            .nledger_keys = nk,
            .retry_ms = corio_conf_int(c, "downlink_retry"),
            .time_interval_ms = corio_conf_int(c, "time_interval"),
            .state_interval_ms = corio_conf_int(c, "state_interval"),
            .device_time = corio_conf_bool(c, "device_time"),
            .time_from_cloud = strcmp(corio_conf_str(c, "time_source"), "cloud") == 0,
            .max_items = corio_conf_int(c, "downlink_max_items"),
            .max_per_device = corio_conf_int(c, "downlink_max_per_device"),
            .publish_up = uplink_publish_up,
            .ctx = g};
        rc = corio_downlink_new(&o, &g->dl, err, sizeof err);
    }
    free(db);
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "cannot set up the downlink", "error=%s", err);
    else if (!ck)
        corio_logkv(CORIO_LOG_WARN, "no cloud_key: down containers will be refused",
                    "key=cloud_key");
    return rc;
}

static int start(struct gateway *g)
{
    struct corio_conf *c = g->conf;
    char err[256];
    int rc;
    const char *id = corio_conf_str(c, "gateway_id");

    if (strlen(id) != CORIO_SHORT_ID_CHARS) {
        corio_logkv(CORIO_LOG_ERROR, "gateway_id is not a short id", "gateway_id=%s", id);
        return CORIO_ERR_INVAL;
    }
    snprintf(g->gateway_id, sizeof g->gateway_id, "%s", id);
    g->key_number = (unsigned)corio_conf_int(c, "key_number");
    rc = corio_openssl_key_read_pem(corio_conf_str(c, "key"), &g->key);
    if (rc != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot load the gateway key", "file=%s error=%s",
                    corio_conf_str(c, "key"), corio_strerror(rc));
        return CORIO_ERR_INVAL;
    }
    if (corio_conf_str(c, "cloud_tls_cert") && !corio_conf_str(c, "cloud_tls_ca")) {
        corio_logkv(CORIO_LOG_ERROR, "cloud_tls_cert needs cloud_tls_ca", "key=cloud_tls_ca");
        return CORIO_ERR_INVAL;
    }
    if (check_cert(g, "cloud_tls_cert", "cloud_tls_key") != CORIO_OK ||
        check_cert(g, "tls_cert", "tls_key") != CORIO_OK)
        return CORIO_ERR_INVAL;
    if (corio_conf_str(c, "stats_file"))
        g->stats_path = strdup(corio_conf_str(c, "stats_file"));
    else if (asprintf(&g->stats_path, "%s.stats", corio_conf_str(c, "outbox")) < 0)
        g->stats_path = NULL;
    if (!g->stats_path)
        return CORIO_ERR_NOSPACE;
    g->started_ms = mono_ms();
    const char *vfs = corio_conf_str(c, "outbox_vfs");
    if (vfs && strcmp(vfs, CORIO_POWERCUT_VFS) == 0 && corio_powercut_vfs_register() != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot register the VFS", "outbox_vfs=%s", vfs);
        return CORIO_ERR_IO;
    }
    if (corio_conf_bool(c, "run_broker") && start_broker(g) != CORIO_OK)
        return CORIO_ERR_INVAL;
    if (start_coap(g) != CORIO_OK || start_edge(g) != CORIO_OK)
        return CORIO_ERR_INVAL;
    char will[128];
    if (corio_gw_status_will(id, will, sizeof will) < 0)
        return CORIO_ERR_INVAL;
    struct corio_uplink_options uo = {
        .gateway = id, .host = corio_conf_str(c, "cloud_host"),
        .port = (int)corio_conf_int(c, "cloud_port"),
        .keepalive_s = (int)(corio_conf_int(c, "cloud_keepalive") / 1000),
        .tls_ca = corio_conf_str(c, "cloud_tls_ca"), .tls_cert = corio_conf_str(c, "cloud_tls_cert"),
        .tls_key = corio_conf_str(c, "cloud_tls_cert") ? cert_key(c, "cloud_tls_key") : NULL,
        .max_inflight = (int)corio_conf_int(c, "window") * 2,
        .will_suffix = corio_conf_int(c, "status_interval") ? "status" : NULL,
        .will_payload = will,
        .on_connect = on_connect, .on_message = on_message, .arg = g};
    if (corio_uplink_new(&uo, &g->up, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot set up the uplink", "error=%s", err);
        return CORIO_ERR_INVAL;
    }
    if (start_downlink(g) != CORIO_OK)
        return CORIO_ERR_INVAL;
    struct corio_forwarder_options fo = {
        .outbox_path = corio_conf_str(c, "outbox"),
        .watermark_path = corio_conf_str(c, "watermark"),
        .gateway = id,
        .window = (int)corio_conf_int(c, "window"),
        .batch_max_messages = (int)corio_conf_int(c, "batch_messages"),
        .batch_max_bytes = (size_t)corio_conf_int(c, "batch_bytes"),
        .ack_timeout_ms = corio_conf_int(c, "ack_timeout"),
        .uplink = {.publish = uplink_publish, .seal = uplink_seal, .ctx = g}};
    if (corio_forwarder_new(&fo, &g->fw, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot set up the forwarder", "error=%s", err);
        return CORIO_ERR_INVAL;
    }

    g->reg = corio_registry_new();
    struct corio_http_opts ho = {.address = corio_conf_str(c, "http_address"),
                                 .port = (uint16_t)corio_conf_int(c, "http_port"),
                                 .metrics = g->reg};
    if (!g->reg || register_metrics(g) != CORIO_OK || corio_http_new(&g->http, &ho) != CORIO_OK ||
        corio_http_route(g->http, "GET", "/healthz", healthz, g) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot set up the HTTP server", "error=\"out of memory\"");
        return CORIO_ERR_NOSPACE;
    }
    if (corio_http_start(g->http, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot start the HTTP server", "error=%s", err);
        return CORIO_ERR_IO;
    }
    corio_logkv(CORIO_LOG_INFO, "corio-gateway running", "gateway=%s http_port=%u outbox=%s", id,
                (unsigned)corio_http_port(g->http), fo.outbox_path);
    return CORIO_OK;
}

static void stop(struct gateway *g)
{
    if (g->http) {
        corio_http_stop(g->http);
        corio_http_free(g->http);
    }
    if (g->up && g->fw) {
        /* The last status says the gateway stopped on purpose (not "lost", its will). */
        publish_status(g, mono_ms(), true);
        corio_uplink_run_once(g->up, 100, mono_ms());
    }
    corio_edge_free(g->edge);
    g->edge = NULL;
    /* CoAP devices are recorded offline while the broker still takes the records. */
    corio_downlink_free(g->dl);
    g->dl = NULL;
    corio_coap_ingress_free(g->coap, 2000);
    g->coap = NULL;
    free(g->ledger_keys);
    g->ledger_keys = NULL;
    corio_local_client_free(g->local);
    g->local = NULL;
    corio_broker_stop(g->broker, 10000);
    g->broker = NULL;
    corio_forwarder_free(g->fw); /* writes the last watermark */
    corio_outbox_close(g->ckpt);
    g->ckpt = NULL;
    corio_uplink_free(g->up);
    if (g->key.ops)
        corio_key_close(&g->key);
    corio_registry_free(g->reg);
    free(g->stats_path);
}

int corio_gateway_main(int argc, char **argv)
{
    struct corio_cli cli = {.prog = "corio-gateway", .version = CORIO_VERSION_STRING,
                            .summary = "Forwards the gateway outbox to the cloud in signed "
                                       "batches; only the cloud's ack moves the watermark.",
                            .keys = gateway_keys};
    struct gateway g = {0};
    int rc = corio_cli_start(&cli, argc, argv, &g.conf);
    if (rc != CORIO_CLI_RUN)
        return rc;
    corio_log_set_comp("gateway");
    corio_log_set_level(corio_log_level_parse(corio_conf_str(g.conf, "log_level")));
    pthread_mutex_init(&g.lock, NULL);
    if (corio_sig_init() != CORIO_OK || start(&g) != CORIO_OK) {
        stop(&g);
        corio_conf_free(g.conf);
        return 1;
    }

    int64_t last_error_log = 0;
    while (!corio_sig_stop_requested()) {
        int64_t now = mono_ms();
        if (g.broker)
            corio_broker_check(g.broker, now);
        if (g.coap) {
            /* CoAP and the service client wait here; the uplink only polls. */
            corio_coap_ingress_wait(g.coap, 20);
            now = mono_ms();
            corio_local_client_run(g.local, 0, now);
            corio_coap_ingress_run(g.coap, now);
            corio_uplink_run_once(g.up, 0, now);
        } else {
            corio_uplink_run_once(g.up, 20, now);
            if (g.local)
                corio_local_client_run(g.local, 0, now);
        }
        if (g.dl)
            corio_downlink_run(g.dl, wall_ms());
        if (g.edge)
            corio_edge_step(g.edge, wall_ms());
        read_plugin_stats(&g, now);
        publish_status(&g, now, false);
        checkpoint(&g, now);
        int sent = corio_forwarder_step(g.fw, mono_ms());
        if (sent < 0 && now - last_error_log > 5000) {
            corio_logkv(CORIO_LOG_ERROR, "cannot read the outbox", "error=%s",
                        corio_strerror(sent));
            last_error_log = now;
        }
        pthread_mutex_lock(&g.lock);
        corio_forwarder_stats(g.fw, &g.fw_st);
        corio_uplink_stats(g.up, &g.up_st);
        if (g.broker)
            corio_broker_stats(g.broker, &g.broker_st);
        if (g.dl)
            corio_downlink_stats(g.dl, &g.dl_st);
        if (g.coap)
            corio_coap_ingress_stats(g.coap, &g.coap_st);
        if (g.local)
            corio_local_client_stats(g.local, &g.local_st);
        if (g.edge)
            corio_edge_stats(g.edge, &g.edge_st);
        pthread_mutex_unlock(&g.lock);
    }
    corio_logkv(CORIO_LOG_INFO, "corio-gateway stopping", "signal=%d", corio_sig_last());
    stop(&g);
    corio_conf_free(g.conf);
    pthread_mutex_destroy(&g.lock);
    return 0;
}
