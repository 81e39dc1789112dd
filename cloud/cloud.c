/*
 * cloud.c - the corio-cloud daemon (cloud.h): configuration, the bus the batches come
 * from (an MQTT broker, or NATS JetStream), the ingest worker, the HTTP API, metrics,
 * and an orderly stop on SIGTERM.
 *
 * Where each step runs, and why:
 *   - bus mosquitto: libmosquitto's thread receives a batch and copies it into a bounded
 *     queue, nothing more: a slow database must never stall the MQTT connection
 *     (keepalives, PUBACKs). When the queue is full the batch is dropped and counted;
 *     the broker has already PUBACKed it, but only our application ack moves the
 *     gateway's watermark, so the gateway sends it again after its ack timeout.
 *   - bus nats: the worker pulls batches from the JetStream stream itself, and
 *     acknowledges each to JetStream only after its commit and its application ack; a
 *     batch it fails to store goes back to the stream (delivered again later, to any
 *     instance), and the worker backs off while the database is away. Several
 *     instances share the stream's consumer (docs/scale-out.md).
 *   - the ingest worker is the only writer of its process: verify, decode, one
 *     transaction, then the ack and only then the live events, so a dashboard never
 *     shows what a crash could still take away. Retention and partition upkeep run in
 *     the same thread between batches.
 *   - an ack that cannot be published (the broker is away) is not retried here: the
 *     gateway resends the batch, we find every message a duplicate and ack again.
 *   - gateways' status documents (corio/v1/g/+/status) take the same queue and worker,
 *     which checks the gateway is one of this organisation's and keeps the latest
 *     (gwstate.c); their signed state messages (corio/v1/g/+/state) go to the downlink.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <mosquitto.h>

#include "api.h"
#include "bus_nats.h"
#include "live_share.h"
#include "cloud.h"
#include "corio/error.h"
#include "corio_cli.h"
#include "corio_http.h"
#include "corio_log.h"
#include "corio_metrics.h"
#include "corio_sig.h"
#include "crypto_openssl.h"
#include "dl_store.h"
#include "cloud_downlink.h"
#include "gwstate.h"

#define BATCH_TOPIC "corio/v1/g/+/batch"
#define STATE_TOPIC "corio/v1/g/+/state"
#define STATUS_TOPIC "corio/v1/g/+/status"

/* ---- configuration ----------------------------------------------------------------- */

static const char *const store_choices[] = {"sqlite", "postgres", NULL};
static const char *const bus_choices[] = {"mosquitto", "nats", NULL};

const struct corio_conf_key corio_cloud_conf_keys[] = {
    {.name = "log_level",
     .type = CORIO_CONF_STRING,
     .def = "info",
     .choices = corio_log_level_names,
     .help = "Least severe log level written."},
    {.name = "org",
     .type = CORIO_CONF_STRING,
     .flags = CORIO_CONF_REQUIRED,
     .help = "Short id of the organisation this cloud serves; the API shows its data only."},
    {.name = "store",
     .type = CORIO_CONF_STRING,
     .def = "sqlite",
     .choices = store_choices,
     .help = "Storage backend: sqlite (the file 'database') or postgres ('pg_conninfo')."},
    {.name = "database",
     .type = CORIO_CONF_PATH,
     .def = "corio-cloud.db",
     .help = "SQLite database (created and migrated on start)."},
    {.name = "pg_conninfo",
     .type = CORIO_CONF_STRING,
     .help = "PostgreSQL connection string for store postgres, e.g. 'host=db dbname=corio "
             "user=corio' (schema created and migrated on start)."},
    {.name = "bus",
     .type = CORIO_CONF_STRING,
     .def = "mosquitto",
     .choices = bus_choices,
     .help = "Where batches come from: mosquitto (an MQTT broker, broker_*) or nats (a "
             "JetStream stream fed by nats-server's MQTT listener, nats_*)."},
    {.name = "nats_url",
     .type = CORIO_CONF_STRING,
     .def = "nats://127.0.0.1:4222",
     .help = "NATS server URLs, comma-separated."},
    {.name = "nats_tls_ca",
     .type = CORIO_CONF_PATH,
     .help = "CA file of the NATS servers' certificates; set to use TLS."},
    {.name = "nats_tls_cert",
     .type = CORIO_CONF_PATH,
     .help = "Client certificate for NATS (mutual TLS)."},
    {.name = "nats_tls_key", .type = CORIO_CONF_PATH, .help = "Key of nats_tls_cert."},
    {.name = "nats_stream",
     .type = CORIO_CONF_STRING,
     .def = "CORIO_BATCHES",
     .help = "JetStream stream of batches (subjects corio.v1.g.*.batch); made when missing."},
    {.name = "nats_consumer",
     .type = CORIO_CONF_STRING,
     .def = "corio-ingest",
     .help = "Durable pull consumer that every ingest instance shares; made when missing."},
    {.name = "nats_replicas",
     .type = CORIO_CONF_INT,
     .def = "1",
     .min = 1,
     .max = 5,
     .help = "Replicas of the stream when this instance makes it (3 in a 3-node cluster)."},
    {.name = "nats_ack_wait",
     .type = CORIO_CONF_DURATION,
     .def = "30s",
     .min = 500,
     .max = 3600000,
     .help = "A batch not acknowledged by then (its instance died) is delivered again."},
    {.name = "nats_fetch",
     .type = CORIO_CONF_INT,
     .def = "16",
     .min = 1,
     .max = 1024,
     .help = "Batches pulled from the stream at a time."},
    {.name = "nats_stream_max_bytes",
     .type = CORIO_CONF_SIZE,
     .def = "0",
     .min = 0,
     .max = 1LL << 42,
     .help = "Size limit of the stream when this instance makes it (JetStream reserves it "
             "in the servers' store); beyond it new batches are refused and their gateways "
             "resend them. 0: only the servers' own limits."},
    {.name = "registry",
     .type = CORIO_CONF_PATH,
     .help = "Registry file of organisations, gateways (with keys) and devices, loaded on "
             "start (cloud/README.md)."},
    {.name = "accept_unregistered",
     .type = CORIO_CONF_BOOL,
     .def = "false",
     .help = "Register unknown devices under their gateway's organisation instead of "
             "rejecting their messages."},
    {.name = "http_address",
     .type = CORIO_CONF_STRING,
     .def = "127.0.0.1",
     .help = "Numeric IPv4 or IPv6 address the API and dashboard listen on."},
    {.name = "http_port",
     .type = CORIO_CONF_INT,
     .def = "8080",
     .min = 0,
     .max = 65535,
     .help = "Port of the API and dashboard (0: any free port, logged)."},
    {.name = "http_threads",
     .type = CORIO_CONF_INT,
     .def = "4",
     .min = 1,
     .max = 64,
     .help = "Threads answering HTTP requests."},
    {.name = "sse_max_clients",
     .type = CORIO_CONF_INT,
     .def = "256",
     .min = 1,
     .max = 100000,
     .help = "Most live event streams open at once."},
    {.name = "web_root",
     .type = CORIO_CONF_PATH,
     .def = "web/dist",
     .help = "The built dashboard (index.html and assets/)."},
    {.name = "broker_host",
     .type = CORIO_CONF_STRING,
     .def = "127.0.0.1",
     .help = "Cloud MQTT broker the gateways publish their batches to."},
    {.name = "broker_port",
     .type = CORIO_CONF_INT,
     .def = "1883",
     .min = 1,
     .max = 65535,
     .help = "Port of the cloud broker."},
    {.name = "broker_keepalive",
     .type = CORIO_CONF_DURATION,
     .def = "30s",
     .min = 5000,
     .max = 3600000,
     .help = "MQTT keepalive."},
    {.name = "broker_tls_ca",
     .type = CORIO_CONF_PATH,
     .help = "CA file of the broker's certificate; set to use TLS."},
    {.name = "broker_tls_cert",
     .type = CORIO_CONF_PATH,
     .help = "Client certificate for the broker (mutual TLS)."},
    {.name = "broker_tls_key", .type = CORIO_CONF_PATH, .help = "Key of broker_tls_cert."},
    {.name = "client_id",
     .type = CORIO_CONF_STRING,
     .help = "MQTT client id; stable, so the broker keeps the session (default "
             "corio-cloud-<org>)."},
    {.name = "queue_batches",
     .type = CORIO_CONF_INT,
     .def = "256",
     .min = 1,
     .max = 1000000,
     .help = "Batches waiting for the ingest worker at most; more are dropped (and resent "
             "by their gateway)."},
    {.name = "queue_bytes",
     .type = CORIO_CONF_SIZE,
     .def = "64MiB",
     .min = 1 << 20,
     .max = 1LL << 34,
     .help = "Bytes of batches waiting for the ingest worker at most."},
    {.name = "retain_raw",
     .type = CORIO_CONF_DURATION,
     .def = "30d",
     .help = "How long raw samples are kept (0: for ever)."},
    {.name = "retain_1m",
     .type = CORIO_CONF_DURATION,
     .def = "365d",
     .help = "How long 1-minute rollups are kept (0: for ever)."},
    {.name = "retain_1h",
     .type = CORIO_CONF_DURATION,
     .def = "0",
     .help = "How long 1-hour rollups are kept (0: for ever)."},
    {.name = "retain_messages",
     .type = CORIO_CONF_DURATION,
     .def = "30d",
     .help = "How long message identities are kept for deduplication (0: for ever); at "
             "least retain_raw."},
    {.name = "downlink_key",
     .type = CORIO_CONF_PATH,
     .help = "The key (PEM) that signs downlink containers to gateways; gateways trust its "
             "did:key as cloud_key. Without it commands and configuration are stored but "
             "not sent."},
    {.name = "command_ttl",
     .type = CORIO_CONF_DURATION,
     .def = "5m",
     .min = 1000,
     .max = 604800000,
     .help = "A command's life when the API request gives no expiry."},
    {.name = "command_ttl_max",
     .type = CORIO_CONF_DURATION,
     .def = "7d",
     .min = 1000,
     .max = 31536000000LL,
     .help = "The longest life a command may be given."},
    {.name = "resend_min",
     .type = CORIO_CONF_DURATION,
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .help = "A command or configuration not answered is sent again after this, doubling."},
    {.name = "resend_max",
     .type = CORIO_CONF_DURATION,
     .def = "5m",
     .min = 100,
     .max = 86400000,
     .help = "The longest interval between two sends of the same command or configuration."},
    {.name = "ledger_url",
     .type = CORIO_CONF_STRING,
     .help = "A corio-ledger node (http://host:port) whose registry is followed and relayed "
             "to gateways (docs/downlink.md)."},
    {.name = "ledger_poll",
     .type = CORIO_CONF_DURATION,
     .def = "2s",
     .min = 100,
     .max = 3600000,
     .help = "How often the ledger is polled."},
    {.name = "relay_refresh",
     .type = CORIO_CONF_DURATION,
     .def = "10m",
     .min = 0,
     .max = 86400000,
     .help = "An unchanged registry is relayed to gateways at the ledger's newer height this "
             "often, so that their registry files stay young (0: only on changes)."},
    {.name = "relay_max_blocks",
     .type = CORIO_CONF_INT,
     .def = "1000",
     .min = 1,
     .max = 4096,
     .help = "Ledger blocks kept and relayed at most; a gateway further behind gets a whole "
             "registry, which it cannot check against blocks."},
    {.name = "retention_interval",
     .type = CORIO_CONF_DURATION,
     .def = "1h",
     .min = 1000,
     .max = 86400000,
     .help = "How often retention and partition upkeep run."},
    {0},
};

/* ---- state ------------------------------------------------------------------------- */

struct qitem {
    struct qitem *next;
    char *topic;
    uint8_t *payload;
    size_t len;
    int64_t arrived_mono_ms;
};

struct metrics {
    struct corio_registry *reg;
    struct corio_counter *received, *acked, *failed, *dropped, *ack_failed, *redelivered;
    struct corio_counter *rejected[5];
    struct corio_counter *msgs[3];
    struct corio_counter *samples, *events_dropped, *retention_deleted;
    struct corio_counter *live_shared, *live_unshared, *live_received, *live_refused;
    struct corio_histogram *latency;
    struct corio_gauge *queue, *connected;
};

enum { REJ_TOPIC, REJ_GATEWAY, REJ_SIGNATURE, REJ_MALFORMED, REJ_FOREIGN };
static const char *const rejected_reasons[] = {"topic",     "gateway",       "signature",
                                               "malformed", "other_gateway", NULL};
enum { MSG_NEW, MSG_DUP, MSG_REJ };
static const char *const msg_results[] = {"new", "duplicate", "rejected", NULL};

struct cloud {
    struct corio_conf *conf;
    char org[CORIO_ID_LEN + 1];
    char client_id[128];
    struct corio_store *writer, *reader, *dl_reader, *dl_writer;
    struct corio_dl_store *dl;
    struct corio_cloud_downlink *downlink;
    struct corio_key downlink_key;
    bool has_downlink_key;
    struct corio_ingest *ingest;
    struct corio_api *api;
    struct corio_gwstate *gwstate;
    struct corio_http *http;
    struct mosquitto *mosq;
    bool mosq_lib, mosq_started;
    struct corio_bus_nats *nats; /* bus nats */
    int nats_fetch;
    char instance[CORIO_LIVE_INSTANCE_LEN + 1]; /* names this process to the others */
    struct metrics m;
    struct corio_retention retention;
    int64_t retention_interval_ms;

    pthread_t worker;
    bool worker_started;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct qitem *head, *tail;
    size_t qlen, qbytes, qmax, qmax_bytes;
    bool stopping;
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

static void qitem_free(struct qitem *q)
{
    if (!q)
        return;
    free(q->topic);
    free(q->payload);
    free(q);
}

/* ---- MQTT (libmosquitto's thread) -------------------------------------------------- */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    struct cloud *c = arg;
    if (rc != 0) {
        corio_logkv(CORIO_LOG_WARN, "broker refused the connection", "reason=%s",
                    mosquitto_connack_string(rc));
        return;
    }
    corio_gauge_set(c->m.connected, 1);
    int s = mosquitto_subscribe(m, NULL, BATCH_TOPIC, 1);
    if (s == MOSQ_ERR_SUCCESS)
        s = mosquitto_subscribe(m, NULL, STATE_TOPIC, 1);
    if (s == MOSQ_ERR_SUCCESS)
        s = mosquitto_subscribe(m, NULL, STATUS_TOPIC, 1);
    if (c->downlink)
        corio_cloud_downlink_connected(c->downlink, true);
    if (s != MOSQ_ERR_SUCCESS)
        corio_logkv(CORIO_LOG_ERROR, "cannot subscribe", "topic=%s error=%s", BATCH_TOPIC,
                    mosquitto_strerror(s));
    else
        corio_logkv(CORIO_LOG_INFO, "connected to the broker", "client_id=%s topic=%s",
                    c->client_id, BATCH_TOPIC);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    struct cloud *c = arg;
    corio_gauge_set(c->m.connected, 0);
    if (c->downlink)
        corio_cloud_downlink_connected(c->downlink, false);
    if (rc != 0)
        corio_logkv(CORIO_LOG_WARN, "lost the broker; reconnecting", "error=%s",
                    mosquitto_strerror(rc));
}

/* Queues a copy of a message for the ingest worker; counts and logs what it cannot. */
static void enqueue(struct cloud *c, const char *topic, const void *payload, size_t len)
{
    struct qitem *q = calloc(1, sizeof *q);
    if (q) {
        q->topic = strdup(topic);
        q->payload = malloc(len ? len : 1);
        q->len = len;
        q->arrived_mono_ms = mono_ms();
    }
    if (!q || !q->topic || !q->payload) {
        qitem_free(q);
        corio_counter_inc(c->m.dropped);
        corio_logkv(CORIO_LOG_ERROR, "out of memory: batch dropped", "topic=%s", topic);
        return;
    }
    if (len)
        memcpy(q->payload, payload, len);
    pthread_mutex_lock(&c->qlock);
    bool full = c->qlen >= c->qmax || c->qbytes + len > c->qmax_bytes;
    if (!full) {
        if (c->tail)
            c->tail->next = q;
        else
            c->head = q;
        c->tail = q;
        c->qlen++;
        c->qbytes += len;
        corio_gauge_set(c->m.queue, (int64_t)c->qlen);
        pthread_cond_signal(&c->qcond);
    }
    pthread_mutex_unlock(&c->qlock);
    if (full) {
        corio_counter_inc(c->m.dropped);
        corio_logkv(CORIO_LOG_WARN, "ingest queue full: batch dropped, its gateway will resend",
                    "topic=%s bytes=%zu", topic, len);
        qitem_free(q);
    }
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    struct cloud *c = arg;
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    size_t tl = strlen(msg->topic);
    if (tl > 6 && strcmp(msg->topic + tl - 6, "/state") == 0) {
        if (c->downlink)
            corio_cloud_downlink_on_state(c->downlink, msg->topic, msg->payload, len);
        return;
    }
    bool status = tl > 7 && strcmp(msg->topic + tl - 7, "/status") == 0;
    if (!status)
        corio_counter_inc(c->m.received);
    enqueue(c, msg->topic, msg->payload, len);
}

/* A gateway's status document from NATS (corio.v1.g.{gw}.status): queued for the worker
 * as its MQTT topic, as on_message queues it. */
static void on_nats_status(void *arg, const char *subject, const uint8_t *data, size_t len)
{
    static const char prefix[] = "corio.v1.g.";
    size_t sl = strlen(subject);
    char topic[96];
    if (sl <= sizeof prefix - 1 + sizeof ".status" - 1 || sl >= sizeof topic ||
        strncmp(subject, prefix, sizeof prefix - 1) != 0)
        return; /* the subscription's wildcard admits nothing else */
    snprintf(topic, sizeof topic, "corio/v1/g/%.*s/status",
             (int)(sl - (sizeof prefix - 1) - (sizeof ".status" - 1)), subject + sizeof prefix - 1);
    enqueue(arg, topic, data, len);
}
/* ---- the ingest worker ------------------------------------------------------------- */

static void count_refusal(struct cloud *c, int rc)
{
    int reason;
    switch (rc) {
    case CORIO_ERR_INVAL:
        reason = REJ_TOPIC;
        break;
    case CORIO_ERR_NOTFOUND:
        reason = REJ_GATEWAY;
        break;
    case CORIO_ERR_BADSIG:
        reason = REJ_SIGNATURE;
        break;
    case CORIO_ERR_POLICY:
        reason = REJ_FOREIGN;
        break;
    default:
        reason = REJ_MALFORMED;
    }
    corio_counter_inc(c->m.rejected[reason]);
}

/* A gateway's status: kept when the gateway is one of this organisation's. */
static void handle_status(struct cloud *c, const char *topic, const uint8_t *payload, size_t len)
{
    static const char prefix[] = "corio/v1/g/";
    char gw[CORIO_ID_LEN + 1] = "";
    const char *id = topic + sizeof prefix - 1;
    if (strlen(topic) == sizeof prefix - 1 + CORIO_ID_LEN + sizeof "/status" - 1)
        snprintf(gw, sizeof gw, "%.*s", CORIO_ID_LEN, id);
    struct corio_gateway_rec rec;
    char why[128] = "not a gateway of this organisation";
    int rc = CORIO_ERR_POLICY;
    if (corio_store_valid_id(gw, strlen(gw)) &&
        corio_store_get_gateway(c->writer, gw, &rec) == CORIO_OK && strcmp(rec.org, c->org) == 0)
        rc = corio_gwstate_put(c->gwstate, gw, payload, len, wall_ms(), why, sizeof why);
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_WARN, "gateway status ignored", "topic=%s why=%s", topic, why);
}

/* What became of a batch. */
enum outcome {
    OUT_ACKED,   /* committed (its ack may still have been lost on the way) */
    OUT_REFUSED, /* not a valid batch of a registered gateway: never acknowledged */
    OUT_FAILED,  /* not stored (the database failed): to be tried again */
};

static int publish_ack(struct cloud *c, const char *gateway, const uint8_t *ack, size_t len)
{
    if (c->nats)
        return corio_bus_nats_publish_ack(c->nats, gateway, ack, len);
    char topic[64];
    snprintf(topic, sizeof topic, "corio/v1/g/%s/ack", gateway);
    int rc = mosquitto_publish(c->mosq, NULL, topic, (int)len, ack, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        corio_logkv(CORIO_LOG_DEBUG, "ack not published", "error=%s", mosquitto_strerror(rc));
        return CORIO_ERR_CLOSED;
    }
    return CORIO_OK;
}

static int publish_live(void *arg, const char *msg, size_t len)
{
    struct cloud *c = arg;
    return corio_bus_nats_publish_live(c->nats, msg, len);
}

/* The other instances' dashboards see this batch too (live_share.h). */
static void share_live(struct cloud *c, const struct corio_ingest_result *res)
{
    if (res->nevents == 0)
        return;
    size_t skipped = 0;
    int n = corio_live_pack(c->instance, res->events, res->nevents, 0, publish_live, c, &skipped);
    size_t shared = n > 0 ? (size_t)n : 0;
    corio_counter_add(c->m.live_shared, shared);
    corio_counter_add(c->m.live_unshared, res->nevents - shared);
    if (n < 0 || skipped)
        corio_logkv(CORIO_LOG_WARN, "live events not shared with the other instances",
                    "gateway=%s events=%zu shared=%zu error=%s", res->gateway, res->nevents, shared,
                    n < 0 ? corio_strerror(n) : "outside the shared format");
}

static void broadcast_live(void *arg, const char *event, const char *data)
{
    struct cloud *c = arg;
    corio_http_sse_broadcast(c->http, event, data);
    corio_counter_inc(c->m.live_received);
}

/* libnats's thread: another instance's events, for the streams open here. */
static void on_live(void *arg, const uint8_t *data, size_t len)
{
    struct cloud *c = arg;
    char why[128];
    int n = corio_live_unpack(c->instance, data, len, broadcast_live, c, why, sizeof why);
    if (n == CORIO_ERR_MALFORMED) {
        corio_counter_inc(c->m.live_refused);
        corio_logkv(CORIO_LOG_WARN, "shared live message refused", "bytes=%zu why=%s", len, why);
    } else if (n < 0) {
        corio_counter_inc(c->m.live_refused);
        corio_logkv(CORIO_LOG_WARN, "shared live message not broadcast", "error=%s",
                    corio_strerror(n));
    }
}

static enum outcome handle(struct cloud *c, const char *topic, const uint8_t *payload, size_t len,
                           int64_t arrived_mono_ms)
{
    size_t tl = strlen(topic);
    if (tl > 7 && strcmp(topic + tl - 7, "/status") == 0) {
        handle_status(c, topic, payload, len);
        return OUT_ACKED; /* not a batch: nothing to acknowledge, nothing to try again */
    }
    struct corio_ingest_result res;
    enum outcome out = OUT_ACKED;
    int rc = corio_ingest_batch(c->ingest, topic, payload, len, wall_ms(), &res);
    if (rc == CORIO_ERR_IO || rc == CORIO_ERR_NOSPACE) {
        /* Not the batch's fault: not acknowledged, the gateway sends it again. */
        corio_counter_inc(c->m.failed);
        corio_logkv(CORIO_LOG_ERROR, "batch not stored", "gateway=%s why=%s", res.gateway, res.why);
        out = OUT_FAILED;
        goto out;
    }
    if (rc != CORIO_OK) {
        count_refusal(c, rc);
        corio_logkv(CORIO_LOG_WARN, "batch refused, not acknowledged",
                    "topic=%s gateway=%s error=%s why=%s", topic, res.gateway, corio_strerror(rc),
                    res.why);
        out = OUT_REFUSED;
        goto out;
    }
    corio_counter_add(c->m.msgs[MSG_NEW], (uint64_t)res.stored);
    corio_counter_add(c->m.msgs[MSG_DUP], (uint64_t)res.duplicates);
    corio_counter_add(c->m.msgs[MSG_REJ], (uint64_t)res.rejected);
    corio_counter_add(c->m.samples, (uint64_t)res.samples);
    if (res.rejected)
        corio_logkv(CORIO_LOG_WARN, "messages rejected",
                    "gateway=%s epoch=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64
                    " rejected=%" PRId64,
                    res.gateway, res.epoch, res.first, res.last, res.rejected);

    int prc = publish_ack(c, res.gateway, res.ack, res.ack_len);
    if (prc != CORIO_OK) {
        corio_counter_inc(c->m.ack_failed);
        corio_logkv(CORIO_LOG_WARN, "ack not published; the gateway will resend the batch",
                    "gateway=%s epoch=%" PRIu64 " last=%" PRIu64 " error=%s", res.gateway,
                    res.epoch, res.last, corio_strerror(prc));
    } else {
        corio_counter_inc(c->m.acked);
        corio_histogram_observe(c->m.latency, (double)(mono_ms() - arrived_mono_ms) / 1000.0);
        corio_logkv(CORIO_LOG_DEBUG, "batch acknowledged",
                    "gateway=%s epoch=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64 " new=%" PRId64
                    " duplicate=%" PRId64,
                    res.gateway, res.epoch, res.first, res.last, res.stored, res.duplicates);
    }
    /* Committed, so the events are true whether or not the ack went out. */
    for (size_t i = 0; i < res.nevents; i++)
        corio_http_sse_broadcast(c->http, res.events[i].type, res.events[i].data);
    corio_counter_add(c->m.events_dropped, res.events_dropped);
    if (c->nats)
        share_live(c, &res);
out:
    corio_ingest_result_free(&res);
    return out;
}

static void run_retention(struct cloud *c)
{
    int rc = corio_store_maintain(c->writer, &c->retention, wall_ms());
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "partition upkeep failed", "error=%s", corio_strerror(rc));
    int64_t deleted = 0;
    rc = corio_store_retain(c->writer, &c->retention, wall_ms(), &deleted);
    corio_counter_add(c->m.retention_deleted, (uint64_t)deleted);
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "retention failed", "error=%s", corio_strerror(rc));
    else if (deleted)
        corio_logkv(CORIO_LOG_INFO, "retention deleted old rows", "rows=%" PRId64, deleted);
}

static void *worker_main(void *arg)
{
    struct cloud *c = arg;
    int64_t next_retention = mono_ms();
    pthread_mutex_lock(&c->qlock);
    for (;;) {
        while (!c->stopping && !c->head && mono_ms() < next_retention) {
            int64_t wait = next_retention - mono_ms();
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&c->qcond, &c->qlock, &ts);
        }
        if (c->stopping)
            break;
        struct qitem *q = c->head;
        if (q) {
            c->head = q->next;
            if (!c->head)
                c->tail = NULL;
            c->qlen--;
            c->qbytes -= q->len;
            corio_gauge_set(c->m.queue, (int64_t)c->qlen);
        }
        pthread_mutex_unlock(&c->qlock);
        if (q) {
            handle(c, q->topic, q->payload, q->len, q->arrived_mono_ms);
            qitem_free(q);
        }
        if (mono_ms() >= next_retention) {
            run_retention(c);
            next_retention = mono_ms() + c->retention_interval_ms;
        }
        pthread_mutex_lock(&c->qlock);
    }
    pthread_mutex_unlock(&c->qlock);
    return NULL;
}

static bool stopping(struct cloud *c)
{
    pthread_mutex_lock(&c->qlock);
    bool st = c->stopping;
    pthread_mutex_unlock(&c->qlock);
    return st;
}

/* Waits up to ms, or less when the daemon is stopping. */
static void pause_ms(struct cloud *c, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&c->qlock);
    if (!c->stopping)
        pthread_cond_timedwait(&c->qcond, &c->qlock, &ts);
    pthread_mutex_unlock(&c->qlock);
}

/* bus nats: the gateways' status documents arrive on the library's thread and wait in
 * the queue on_message fills for bus mosquitto; the worker takes them between pulls. */
static void handle_queued(struct cloud *c)
{
    pthread_mutex_lock(&c->qlock);
    struct qitem *q = c->head;
    c->head = c->tail = NULL;
    c->qlen = 0;
    c->qbytes = 0;
    pthread_mutex_unlock(&c->qlock);
    while (q) {
        struct qitem *next = q->next;
        handle(c, q->topic, q->payload, q->len, q->arrived_mono_ms);
        qitem_free(q);
        q = next;
    }
}

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 8000

/* bus nats: pull, ingest, settle. While the database fails, every batch goes back to
 * the stream and the worker waits longer and longer (up to 8 s) before it pulls again:
 * the stream keeps the data meanwhile. */
static void *nats_worker_main(void *arg)
{
    struct cloud *c = arg;
    int64_t next_retention = mono_ms();
    int64_t backoff = 0;
    struct corio_bus_msg *msgs = calloc((size_t)c->nats_fetch, sizeof *msgs);
    if (!msgs) {
        corio_log(CORIO_LOG_ERROR, "out of memory: the ingest worker stops");
        return NULL;
    }
    while (!stopping(c)) {
        int n = corio_bus_nats_fetch(c->nats, msgs, c->nats_fetch, 1000);
        corio_gauge_set(c->m.connected, corio_bus_nats_connected(c->nats));
        handle_queued(c);
        bool failed = false;
        for (int i = 0; i < n; i++) {
            struct corio_bus_msg *m = &msgs[i];
            corio_counter_inc(c->m.received);
            if (m->deliveries > 1)
                corio_counter_inc(c->m.redelivered);
            enum outcome o = failed ? OUT_FAILED : handle(c, m->topic, m->data, m->len, mono_ms());
            if (o == OUT_FAILED && !failed) {
                failed = true;
                backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
                                  : BACKOFF_MIN_MS;
            }
            /* The rest of a pull that met a failing database goes back untried. */
            corio_bus_nats_settle(c->nats, m,
                                  o == OUT_ACKED     ? CORIO_BUS_DONE
                                  : o == OUT_REFUSED ? CORIO_BUS_NEVER
                                                     : CORIO_BUS_LATER,
                                  backoff);
        }
        if (failed) {
            corio_logkv(CORIO_LOG_WARN, "database failing: batches returned to the stream",
                        "retry_in_ms=%" PRId64, backoff);
            pause_ms(c, backoff);
        } else if (n > 0) {
            backoff = 0;
        }
        if (mono_ms() >= next_retention) {
            run_retention(c);
            next_retention = mono_ms() + c->retention_interval_ms;
        }
    }
    free(msgs);
    return NULL;
}

static void on_nats_connection(void *arg, bool up)
{
    struct cloud *c = arg;
    corio_gauge_set(c->m.connected, up);
}

/* ---- start and stop ---------------------------------------------------------------- */

static int metrics_init(struct metrics *m)
{
    static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10};
    if (!(m->reg = corio_registry_new()))
        return CORIO_ERR_NOSPACE;
    m->received = corio_counter_new(m->reg, "corio_cloud_batches_received_total",
                                    "Batches received from the broker.");
    m->acked = corio_counter_new(m->reg, "corio_cloud_batches_acked_total",
                                 "Batches committed and acknowledged.");
    m->failed = corio_counter_new(m->reg, "corio_cloud_batches_failed_total",
                                  "Batches not stored because the database failed (not "
                                  "acknowledged; their gateway resends them).");
    m->dropped = corio_counter_new(m->reg, "corio_cloud_batches_dropped_total",
                                   "Batches dropped because the ingest queue was full (not "
                                   "acknowledged; their gateway resends them).");
    m->ack_failed = corio_counter_new(m->reg, "corio_cloud_acks_failed_total",
                                      "Acks that could not be published after a commit.");
    m->redelivered = corio_counter_new(m->reg, "corio_cloud_batches_redelivered_total",
                                       "Batches the NATS stream delivered again (an instance "
                                       "died or failed before acknowledging them).");
    int rc = corio_counter_new_labeled(m->reg, "corio_cloud_batches_rejected_total",
                                       "Batches refused and not acknowledged, by reason.", "reason",
                                       rejected_reasons, m->rejected);
    if (rc == CORIO_OK)
        rc = corio_counter_new_labeled(m->reg, "corio_cloud_messages_total",
                                       "Messages in committed batches: stored as new, "
                                       "already stored, or recorded as rejected.",
                                       "result", msg_results, m->msgs);
    m->samples = corio_counter_new(m->reg, "corio_cloud_samples_total", "Samples stored.");
    m->events_dropped = corio_counter_new(m->reg, "corio_cloud_live_events_dropped_total",
                                          "Live events not broadcast (over the per-batch cap).");
    m->live_shared = corio_counter_new(m->reg, "corio_cloud_live_shared_total",
                                       "Live events published for the other instances (bus nats).");
    m->live_unshared = corio_counter_new(
        m->reg, "corio_cloud_live_unshared_total",
        "Live events not published for the other instances (NATS unreachable, or an event "
        "outside the shared format); broadcast here only.");
    m->live_received = corio_counter_new(m->reg, "corio_cloud_live_received_total",
                                         "Live events of other instances broadcast here.");
    m->live_refused = corio_counter_new(m->reg, "corio_cloud_live_refused_total",
                                        "Shared live messages refused as malformed (none of "
                                        "their events broadcast).");
    m->retention_deleted = corio_counter_new(m->reg, "corio_cloud_retention_deleted_total",
                                             "Rows deleted by retention.");
    m->latency = corio_histogram_new(
        m->reg, "corio_cloud_ingest_seconds", "From a batch's arrival to its ack being published.",
        latency_bounds, sizeof latency_bounds / sizeof latency_bounds[0]);
    m->queue = corio_gauge_new(m->reg, "corio_cloud_ingest_queue_batches",
                               "Batches waiting for the ingest worker.");
    m->connected = corio_gauge_new(m->reg, "corio_cloud_broker_connected",
                                   "1 while connected to the broker (or to NATS).");
    if (rc != CORIO_OK || !m->received || !m->acked || !m->failed || !m->dropped ||
        !m->ack_failed || !m->redelivered || !m->samples || !m->events_dropped ||
        !m->retention_deleted || !m->live_shared || !m->live_unshared || !m->live_received ||
        !m->live_refused || !m->latency || !m->queue || !m->connected)
        return CORIO_ERR_NOSPACE;
    return CORIO_OK;
}

#define DL_GAUGE(fn_name, field)                                                                   \
    static double fn_name(void *arg)                                                               \
    {                                                                                              \
        struct corio_cloud_downlink_stats st;                                                      \
        corio_cloud_downlink_stats(arg, &st);                                                      \
        return (double)st.field;                                                                   \
    }
DL_GAUGE(m_dl_containers, containers)
DL_GAUGE(m_dl_publish_failed, publish_failed)
DL_GAUGE(m_dl_commands_sent, commands_sent)
DL_GAUGE(m_dl_configs_sent, configs_sent)
DL_GAUGE(m_dl_relays_sent, relays_sent)
DL_GAUGE(m_dl_results, results)
DL_GAUGE(m_dl_reports, reports)
DL_GAUGE(m_dl_states, states)
DL_GAUGE(m_dl_states_refused, states_refused)
DL_GAUGE(m_dl_untimed, untimed)
DL_GAUGE(m_dl_expired, expired)
DL_GAUGE(m_dl_ledger_polls, ledger_polls)
DL_GAUGE(m_dl_ledger_failures, ledger_failures)
DL_GAUGE(m_dl_ledger_exports, ledger_exports)
DL_GAUGE(m_dl_ledger_height, ledger_height)

static int register_downlink_metrics(struct cloud *c)
{
    static const struct {
        const char *name, *help;
        double (*fn)(void *);
    } g[] = {
        {"corio_cloud_downlink_containers_total", "Down containers published.", m_dl_containers},
        {"corio_cloud_downlink_publish_failed_total", "Down containers the client refused.",
         m_dl_publish_failed},
        {"corio_cloud_commands_sent_total", "Command sends (resends included).",
         m_dl_commands_sent},
        {"corio_cloud_configs_sent_total", "Configuration sends (resends included).",
         m_dl_configs_sent},
        {"corio_cloud_registry_relays_total", "Registry updates relayed to gateways.",
         m_dl_relays_sent},
        {"corio_cloud_command_results_total", "Commands closed by their device's answer.",
         m_dl_results},
        {"corio_cloud_config_reports_total", "Reported configurations kept.", m_dl_reports},
        {"corio_cloud_gateway_states_total", "Gateway state messages accepted.", m_dl_states},
        {"corio_cloud_gateway_states_refused_total", "Gateway state messages refused.",
         m_dl_states_refused},
        {"corio_cloud_untimed_messages_total", "Packs stored without a time of their own.",
         m_dl_untimed},
        {"corio_cloud_commands_expired_total", "Commands that expired unanswered.", m_dl_expired},
        {"corio_cloud_ledger_polls_total", "Polls of the ledger.", m_dl_ledger_polls},
        {"corio_cloud_ledger_failures_total", "Polls of the ledger that failed.",
         m_dl_ledger_failures},
        {"corio_cloud_ledger_exports_total", "Registry exports stored (changes).",
         m_dl_ledger_exports},
        {"corio_cloud_ledger_height", "The ledger's height at the last poll.", m_dl_ledger_height},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (!corio_gauge_new_fn(c->m.reg, g[i].name, g[i].help, g[i].fn, c->downlink))
            return CORIO_ERR_NOSPACE;
    return CORIO_OK;
}

/* Checks what the schema cannot; prints "corio-cloud: <file>:<line>: <what>" as the
 * config parser does (docs/operations.md). */
static bool conf_bad(const struct corio_conf *conf, const char *key, const char *what)
{
    int line = key ? corio_conf_line(conf, key) : 0;
    if (line > 0)
        fprintf(stderr, "corio-cloud: %s:%d: %s\n", corio_conf_name(conf), line, what);
    else
        fprintf(stderr, "corio-cloud: %s: %s\n", corio_conf_name(conf), what);
    return false;
}

static bool check_conf(const struct corio_conf *conf)
{
    const char *org = corio_conf_str(conf, "org");
    if (!corio_store_valid_id(org, strlen(org)))
        return conf_bad(conf, "org", "'org' must be a short id (24 characters of a-z, 2-7)");
    int64_t raw = corio_conf_int(conf, "retain_raw"),
            msgs = corio_conf_int(conf, "retain_messages");
    if (msgs != 0 && (raw == 0 || msgs < raw))
        return conf_bad(conf, "retain_messages",
                        "'retain_messages' must be 0 or at least 'retain_raw': a redelivered "
                        "message whose identity was forgotten would store its samples twice");
    static const char *const tls[][3] = {{"broker_tls_cert", "broker_tls_key", "broker_tls_ca"},
                                         {"nats_tls_cert", "nats_tls_key", "nats_tls_ca"}};
    for (size_t i = 0; i < 2; i++) {
        bool cert = corio_conf_str(conf, tls[i][0]) != NULL,
             key = corio_conf_str(conf, tls[i][1]) != NULL;
        if (cert != key || ((cert || key) && !corio_conf_str(conf, tls[i][2]))) {
            char what[160];
            snprintf(what, sizeof what, "'%s' and '%s' go together, and need '%s'", tls[i][0],
                     tls[i][1], tls[i][2]);
            return conf_bad(conf, cert ? tls[i][0] : tls[i][1], what);
        }
    }
    if (strcmp(corio_conf_str(conf, "store"), "postgres") == 0 &&
        !corio_conf_str(conf, "pg_conninfo"))
        return conf_bad(conf, "store", "'store postgres' needs 'pg_conninfo'");
    return true;
}

static int publish_down(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
    struct cloud *c = ctx;
    return mosquitto_publish(c->mosq, NULL, topic, (int)len, payload, 1, false) == MOSQ_ERR_SUCCESS
               ? 0
               : -1;
}

/* The downlink service (cloud_downlink.h): its own connections to the telemetry store
 * (db, whichever backend) and its tables, which are SQLite so far: in the SQLite
 * database, or with store postgres in the file named by 'database'. */
static int start_downlink(struct cloud *c, bool pg, const char *db, char *err, size_t errlen)
{
    const struct corio_conf *conf = c->conf;
    int rc = corio_dl_open(corio_conf_str(conf, "database"), &c->dl, err, errlen);
    if (rc == CORIO_OK)
        rc = pg ? corio_store_open_pg(db, &c->dl_reader, err, errlen)
                : corio_store_open_sqlite(db, &c->dl_reader, err, errlen);
    if (rc == CORIO_OK && corio_conf_str(conf, "ledger_url"))
        rc = pg ? corio_store_open_pg(db, &c->dl_writer, err, errlen)
                : corio_store_open_sqlite(db, &c->dl_writer, err, errlen);
    if (rc != CORIO_OK)
        return rc;
    const char *kp = corio_conf_str(conf, "downlink_key");
    if (kp) {
        if (corio_openssl_key_read_pem(kp, &c->downlink_key) != CORIO_OK) {
            snprintf(err, errlen, "%s: not a P-256 private key in PEM", kp);
            return CORIO_ERR_INVAL;
        }
        c->has_downlink_key = true;
    }
    struct corio_cloud_downlink_opts o = {
        .org = c->org,
        .dl = c->dl,
        .reader = c->dl_reader,
        .writer = c->dl_writer,
        .key = c->has_downlink_key ? &c->downlink_key : NULL,
        .publish = publish_down,
        .ctx = c,
        .resend_min_ms = corio_conf_int(conf, "resend_min"),
        .resend_max_ms = corio_conf_int(conf, "resend_max"),
        .command_ttl_ms = corio_conf_int(conf, "command_ttl"),
        .command_ttl_max_ms = corio_conf_int(conf, "command_ttl_max"),
        .ledger_url = corio_conf_str(conf, "ledger_url"),
        .ledger_poll_ms = corio_conf_int(conf, "ledger_poll"),
        .relay_refresh_ms = corio_conf_int(conf, "relay_refresh"),
        .relay_max_blocks = (uint64_t)corio_conf_int(conf, "relay_max_blocks")};
    return corio_cloud_downlink_new(&o, &c->downlink, err, errlen);
}

static int start(struct cloud *c)
{
    const struct corio_conf *conf = c->conf;
    char err[512];
    snprintf(c->org, sizeof c->org, "%s", corio_conf_str(conf, "org"));
    const char *cid = corio_conf_str(conf, "client_id");
    snprintf(c->client_id, sizeof c->client_id, "%s", cid ? cid : "");
    if (!cid)
        snprintf(c->client_id, sizeof c->client_id, "corio-cloud-%s", c->org);
    c->retention = (struct corio_retention){
        .raw_ms = corio_conf_int(conf, "retain_raw"),
        .rollup_1m_ms = corio_conf_int(conf, "retain_1m"),
        .rollup_1h_ms = corio_conf_int(conf, "retain_1h"),
        .messages_ms = corio_conf_int(conf, "retain_messages"),
    };
    c->retention_interval_ms = corio_conf_int(conf, "retention_interval");
    c->qmax = (size_t)corio_conf_int(conf, "queue_batches");
    c->qmax_bytes = (size_t)corio_conf_int(conf, "queue_bytes");

    if (metrics_init(&c->m) != CORIO_OK) {
        corio_log(CORIO_LOG_ERROR, "out of memory");
        return 1;
    }
    bool pg = strcmp(corio_conf_str(conf, "store"), "postgres") == 0;
    const char *db = pg ? corio_conf_str(conf, "pg_conninfo") : corio_conf_str(conf, "database");
    int rc = pg ? corio_store_open_pg(db, &c->writer, err, sizeof err)
                : corio_store_open_sqlite(db, &c->writer, err, sizeof err);
    if (rc == CORIO_OK)
        rc = pg ? corio_store_open_pg(db, &c->reader, err, sizeof err)
                : corio_store_open_sqlite(db, &c->reader, err, sizeof err);
    if (rc != CORIO_OK) {
        /* The connection string may hold a password: name the backend, not the string. */
        corio_logkv(CORIO_LOG_ERROR, "cannot open the database", "store=%s path=%s error=%s",
                    pg ? "postgres" : "sqlite", pg ? "(pg_conninfo)" : db, err);
        return 1;
    }
    corio_logkv(CORIO_LOG_INFO, "database open", "store=%s", corio_store_backend(c->writer));
    const char *registry = corio_conf_str(conf, "registry");
    if (registry) {
        if (corio_cloud_registry_load(c->writer, registry, err, sizeof err) != CORIO_OK) {
            corio_logkv(CORIO_LOG_ERROR, "cannot load the registry", "error=%s", err);
            return 1;
        }
        corio_logkv(CORIO_LOG_INFO, "registry loaded", "path=%s", registry);
    }
    if (start_downlink(c, pg, db, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot set up the downlink", "error=%s", err);
        return 1;
    }
    struct corio_ingest_opts io = {.store = c->writer,
                                   .verifier = corio_cloud_cose_verifier,
                                   .accept_unregistered =
                                       corio_conf_bool(conf, "accept_unregistered"),
                                   .hooks = corio_cloud_downlink_hooks(c->downlink)};
    const char *web = corio_conf_str(conf, "web_root");
    struct corio_api_opts ao = {.store = c->reader, .org = c->org, .web_root = web};
    if (corio_ingest_new(&io, &c->ingest) != CORIO_OK || corio_api_new(&ao, &c->api) != CORIO_OK) {
        corio_log(CORIO_LOG_ERROR, "out of memory");
        return 1;
    }
    if (web) {
        char index[4096];
        snprintf(index, sizeof index, "%s/index.html", web);
        FILE *f = fopen(index, "r");
        if (f)
            fclose(f);
        else
            corio_logkv(CORIO_LOG_WARN, "no dashboard to serve (build it with make web)",
                        "web_root=%s", web);
    }

    struct corio_http_opts ho = {
        .address = corio_conf_str(conf, "http_address"),
        .port = (uint16_t)corio_conf_int(conf, "http_port"),
        .threads = (unsigned)corio_conf_int(conf, "http_threads"),
        .sse_max_clients = (unsigned)corio_conf_int(conf, "sse_max_clients"),
        .max_body = 64 << 10,
        .metrics = c->m.reg,
    };
    if (corio_gwstate_new(&c->gwstate) != CORIO_OK || corio_http_new(&c->http, &ho) != CORIO_OK ||
        corio_api_routes(c->api, c->http) != CORIO_OK ||
        corio_cloud_downlink_routes(c->downlink, c->http) != CORIO_OK ||
        corio_gwstate_route(c->gwstate, c->http) != CORIO_OK ||
        register_downlink_metrics(c) != CORIO_OK) {
        corio_log(CORIO_LOG_ERROR, "cannot set up the HTTP server");
        return 1;
    }
    if (corio_http_start(c->http, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot start the HTTP server", "address=%s port=%u error=%s",
                    ho.address, ho.port, err);
        return 1;
    }
    corio_logkv(CORIO_LOG_INFO, "serving the API and dashboard", "address=%s port=%u", ho.address,
                corio_http_port(c->http));

    if (strcmp(corio_conf_str(conf, "bus"), "nats") == 0) {
        /* The organisation's instances share their live events here (docs/scale-out.md). */
        char live_subject[64];
        snprintf(live_subject, sizeof live_subject, "corio.v1.o.%s.live", c->org);
        corio_live_instance_new(c->instance);
        struct corio_bus_nats_opts no = {
            .url = corio_conf_str(conf, "nats_url"),
            .tls_ca = corio_conf_str(conf, "nats_tls_ca"),
            .tls_cert = corio_conf_str(conf, "nats_tls_cert"),
            .tls_key = corio_conf_str(conf, "nats_tls_key"),
            .stream = corio_conf_str(conf, "nats_stream"),
            .consumer = corio_conf_str(conf, "nats_consumer"),
            .replicas = (int)corio_conf_int(conf, "nats_replicas"),
            .ack_wait_ms = corio_conf_int(conf, "nats_ack_wait"),
            .max_bytes = corio_conf_int(conf, "nats_stream_max_bytes"),
            .on_connection = on_nats_connection,
            .live_subject = live_subject,
            .on_live = on_live,
            .on_status = on_nats_status,
            .arg = c,
        };
        c->nats_fetch = (int)corio_conf_int(conf, "nats_fetch");
        /* The downlink's sender publishes and takes gateways' state messages through the
         * MQTT client, which this bus does not have: it is not started, and neither is
         * the ledger follower. The ingest hooks still run, into this instance's tables. */
        corio_logkv(CORIO_LOG_WARN,
                    "the downlink needs bus mosquitto: commands and configuration are stored, "
                    "not sent; the ledger is not followed",
                    "bus=nats");
        if (corio_bus_nats_new(&no, &c->nats, err, sizeof err) != CORIO_OK) {
            corio_logkv(CORIO_LOG_ERROR, "cannot use NATS", "error=%s", err);
            return 1;
        }
        if (pthread_create(&c->worker, NULL, nats_worker_main, c) != 0) {
            corio_log(CORIO_LOG_ERROR, "cannot start the ingest worker");
            return 1;
        }
        c->worker_started = true;
        return 0;
    }

    if (pthread_create(&c->worker, NULL, worker_main, c) != 0) {
        corio_log(CORIO_LOG_ERROR, "cannot start the ingest worker");
        return 1;
    }
    c->worker_started = true;

    mosquitto_lib_init();
    c->mosq_lib = true;
    /* clean_session false with a stable id: the broker keeps our subscription (and what
     * it queues) across reconnects. Nothing relies on that queue: gateways resend every
     * batch until our ack arrives. */
    c->mosq = mosquitto_new(c->client_id, false, c);
    if (!c->mosq) {
        corio_log(CORIO_LOG_ERROR, "cannot create the MQTT client");
        return 1;
    }
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_message_callback_set(c->mosq, on_message);
    mosquitto_reconnect_delay_set(c->mosq, 1, 30, true);
    const char *ca = corio_conf_str(conf, "broker_tls_ca");
    if (ca) {
        rc = mosquitto_tls_set(c->mosq, ca, NULL, corio_conf_str(conf, "broker_tls_cert"),
                               corio_conf_str(conf, "broker_tls_key"), NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            corio_logkv(CORIO_LOG_ERROR, "broker TLS settings refused", "error=%s",
                        mosquitto_strerror(rc));
            return 1;
        }
    }
    const char *host = corio_conf_str(conf, "broker_host");
    int port = (int)corio_conf_int(conf, "broker_port");
    int keepalive = (int)(corio_conf_int(conf, "broker_keepalive") / 1000);
    /* The thread first, then the connect: the other order never retries when the broker
     * is not there at start (eclipse-mosquitto/mosquitto#1903, #2576). */
    rc = mosquitto_loop_start(c->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        corio_logkv(CORIO_LOG_ERROR, "cannot start the MQTT thread", "error=%s",
                    mosquitto_strerror(rc));
        return 1;
    }
    c->mosq_started = true;
    if (corio_cloud_downlink_start(c->downlink, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot start the downlink", "error=%s", err);
        return 1;
    }
    rc = mosquitto_connect_async(c->mosq, host, port, keepalive);
    if (rc != MOSQ_ERR_SUCCESS)
        corio_logkv(CORIO_LOG_WARN, "broker not reachable yet; retrying",
                    "host=%s port=%d error=%s", host, port, mosquitto_strerror(rc));
    return 0;
}

static void stop(struct cloud *c)
{
    /* The network first, so no new batch arrives; then the worker (a batch in progress
     * finishes, queued ones are left for their gateways to resend); the client is freed
     * only after the worker, which publishes acks through it, has ended; then HTTP. */
    if (c->mosq) {
        mosquitto_disconnect(c->mosq);
        if (c->mosq_started)
            mosquitto_loop_stop(c->mosq, false);
    }
    if (c->worker_started) {
        pthread_mutex_lock(&c->qlock);
        c->stopping = true;
        pthread_cond_signal(&c->qcond);
        pthread_mutex_unlock(&c->qlock);
        pthread_join(c->worker, NULL);
    }
    /* The downlink is used by the worker (the ingest's hooks) and the HTTP handlers (its
     * routes and metrics), and publishes through the client: it goes after them and
     * before the client. */
    if (c->http)
        corio_http_stop(c->http);
    corio_cloud_downlink_free(c->downlink);
    c->downlink = NULL;
    if (c->mosq)
        mosquitto_destroy(c->mosq);
    if (c->mosq_lib)
        mosquitto_lib_cleanup();
    corio_bus_nats_free(c->nats);
    while (c->head) {
        struct qitem *q = c->head;
        c->head = q->next;
        qitem_free(q);
    }
    corio_http_free(c->http);
    corio_gwstate_free(c->gwstate);
    corio_api_free(c->api);
    corio_ingest_free(c->ingest);
    corio_store_close(c->reader);
    corio_store_close(c->writer);
    corio_store_close(c->dl_reader);
    corio_store_close(c->dl_writer);
    corio_dl_close(c->dl);
    if (c->has_downlink_key)
        corio_key_close(&c->downlink_key);
    corio_registry_free(c->m.reg);
}

int corio_cloud_main(int argc, char **argv)
{
    corio_log_set_comp("cloud");
    struct corio_cli cli = {
        .prog = "corio-cloud",
        .version = "0.1.0",
        .summary = "Corio's cloud: ingests gateway batches, stores telemetry, serves the API "
                   "and the dashboard.",
        .keys = corio_cloud_conf_keys,
    };
    struct corio_conf *conf;
    int rc = corio_cli_start(&cli, argc, argv, &conf);
    if (rc != CORIO_CLI_RUN)
        return rc;
    corio_log_set_level(
        (enum corio_log_level)corio_log_level_parse(corio_conf_str(conf, "log_level")));
    if (!check_conf(conf)) {
        corio_conf_free(conf);
        return 1;
    }
    if (corio_sig_init() != CORIO_OK) {
        corio_log(CORIO_LOG_ERROR, "cannot install signal handlers: %m");
        corio_conf_free(conf);
        return 1;
    }
    struct cloud c = {.conf = conf};
    pthread_mutex_init(&c.qlock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c.qcond, &ca);
    pthread_condattr_destroy(&ca);

    int status = start(&c);
    if (status == 0) {
        corio_logkv(CORIO_LOG_INFO, "corio-cloud running", "org=%s", c.org);
        corio_sig_wait(-1);
        corio_logkv(CORIO_LOG_INFO, "stopping", "signal=%d", corio_sig_last());
    }
    stop(&c);
    pthread_cond_destroy(&c.qcond);
    pthread_mutex_destroy(&c.qlock);
    corio_conf_free(conf);
    if (status == 0)
        corio_log(CORIO_LOG_INFO, "stopped");
    return status;
}
