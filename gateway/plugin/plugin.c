/*
 * plugin.c - corio_mosquitto.so, the gateway's Mosquitto plugin (plugin API v5).
 *
 * The plugin is the outbox's only writer (DESIGN.md §1). In MOSQ_EVT_MESSAGE, which
 * Mosquitto 2.0 runs before it sends the PUBACK, every device message is committed to
 * the outbox; when that fails or the outbox is full the plugin returns an error, and
 * Mosquitto disconnects the device without a PUBACK, so the device keeps the message.
 * (MOSQ_ERR_ACL_DENIED would still be PUBACKed with 0x87, which an MQTT 3.1.1 client
 * takes as success: a silent loss.) The WAL is fsynced every sync interval (on the
 * tick, or at a commit when the interval has passed), which bounds what a power cut can
 * take; after a start on an outbox that was not closed cleanly, devices are asked to
 * resend what may have been lost (resend.c). On MOSQ_EVT_TICK the plugin also deletes
 * the ranges the cloud acknowledged, read from the forwarder's watermark file, and
 * writes its counters to the stats file (plugin_stats.h). Presence comes from
 * authentication and disconnect events (presence.c). The gateway's service client may
 * publish the gateway's own records on corio/v1/g/<gateway>/up/<suffix>: stored with
 * device '' and that suffix.
 *
 * Options (mosquitto.conf):
 *   plugin_opt_outbox <path>          the outbox file (required)
 *   plugin_opt_gateway <short id>     this gateway's id (required)
 *   plugin_opt_watermark <path>       default: <outbox>.watermark
 *   plugin_opt_max_bytes <n>          outbox cap, default 1 GiB
 *   plugin_opt_sync_ms <n>            WAL fsync interval, default 200
 *   plugin_opt_registry <path>        the registry file (required; docs/registry.md)
 *   plugin_opt_state <path>           authentication state, default: <outbox>-auth.db
 *   plugin_opt_stats <path>           counters for corio-gateway, default: <outbox>.stats
 *   plugin_opt_vfs <name>             SQLite VFS of the outbox; "corio-powercut" is the
 *                                     power-cut VFS of the tests (powercut_vfs.h)
 *   plugin_opt_intake true|false      appends through the outbox's intake log (outbox.h),
 *                                     moved into the table on every tick; default true
 *   plugin_opt_registry_max_age <s>   key 0 of a device the registry does not list
 *                                     (quarantine, docs/onboarding.md) is accepted only
 *                                     while the applied registry is younger; default 3600
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "corio/error.h"
#include "corio/senml.h"
#include "outbox.h"
#include "plugin_int.h"
#include "plugin_stats.h"
#include "powercut_vfs.h"

#define EXPORT __attribute__((visibility("default")))

static struct corio_plugin plugin;

/* When the tick moves the intake log into the outbox table (on_tick). */
#define FLUSH_ROWS 64
#define FLUSH_MS   5
/* How often the tick reads the forwarder's watermark file (a small read; the sooner
 * acknowledged rows go, the sooner a drained outbox is empty). */
#define WATERMARK_POLL_MS 20

int64_t corio__wall_ms(void)
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

bool corio__valid_short_id(const char *id, size_t len)
{
    if (len != CORIO_SHORT_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
            return false;
    }
    return true;
}

/*
 * Splits "corio/v1/d/<id>/up/<rest>" into the device id and the suffix "up/<rest>".
 * Returns false for any other topic.
 */
bool corio__parse_up_topic(const char *topic, char id[CORIO_SHORT_ID_LEN + 1],
                           const char **suffix)
{
    static const char prefix[] = "corio/v1/d/";
    if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = topic + sizeof prefix - 1;
    const char *slash = strchr(p, '/');
    if (!slash || !corio__valid_short_id(p, (size_t)(slash - p)) || strncmp(slash, "/up/", 4) ||
        slash[4] == '\0')
        return false;
    memcpy(id, p, CORIO_SHORT_ID_LEN);
    id[CORIO_SHORT_ID_LEN] = '\0';
    *suffix = slash + 1;
    return true;
}

/* Which priority class a device topic suffix belongs to. */
static int class_of(const char *suffix)
{
    if (strcmp(suffix, "up/log") == 0)
        return CORIO_OUTBOX_CLASS_DROPPABLE;
    if (strcmp(suffix, "up/evt") == 0)
        return CORIO_OUTBOX_CLASS_EVENT;
    return CORIO_OUTBOX_CLASS_TELEMETRY;
}

/* Fsyncs the WAL: the power-cut window ends here. */
static void sync_outbox(struct corio_plugin *p, int64_t now)
{
    p->last_sync_ms = now;
    if (!p->unsynced)
        return;
    if (corio_outbox_sync(p->outbox) != CORIO_OK) {
        p->sync_failures++;
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: fsync of the outbox WAL failed: %s",
                             strerror(errno));
        return;
    }
    p->unsynced = false;
    p->syncs++;
    p->last_sync_wall_ms = corio__wall_ms();
}

int corio__store(struct corio_plugin *p, const char *device, const char *suffix,
                 uint64_t dev_epoch, uint64_t dev_seq, const void *payload, size_t len)
{
    int cls = class_of(suffix);
    int64_t id;
    int rc = corio_outbox_append_seq(p->outbox, device, suffix, corio__wall_ms(), cls, dev_epoch,
                                     dev_seq, payload, len, &id);
    if (rc == CORIO_OK) {
        p->stored++;
        p->stored_bytes += len;
        p->unsynced = true;
        /* Under load the tick may come late: keep the window at the interval. */
        int64_t now = mono_ms();
        if (corio_outbox_pending(p->outbox) == 1)
            p->pending_since_ms = now;
        if (now - p->last_sync_ms >= p->sync_ms)
            sync_outbox(p, now);
        return CORIO_OK;
    }
    if (rc == CORIO_ERR_FULL && cls >= CORIO_OUTBOX_CLASS_DROPPABLE) {
        /* Dropping is an explicit policy for this class only: counted and logged. */
        p->dropped++;
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "corio: outbox full, dropped a class %d message from %s (%s); "
                             "%" PRIu64 " dropped so far",
                             cls, device, suffix, p->dropped);
        return CORIO_ERR_FULL;
    }
    p->refused++;
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "corio: refused a message from %s (%s): %s; %" PRIu64 " refused so far",
                         device[0] ? device : "the gateway", suffix,
                         rc == CORIO_ERR_FULL ? "outbox full" : "outbox write failed",
                         p->refused);
    return rc;
}

/* The device's identity of a SenML pack: its (ep, seq), read from the first record only.
 * A pack that does not decode is stored all the same (the cloud judges it). */
static void pack_identity(const char *suffix, const void *payload, size_t len, uint64_t *epoch,
                          uint64_t *seq)
{
    *epoch = *seq = 0;
    enum corio_format fmt;
    if (strcmp(suffix, "up/json") == 0)
        fmt = CORIO_FORMAT_JSON;
    else if (strcmp(suffix, "up/cbor") == 0)
        fmt = CORIO_FORMAT_CBOR;
    else
        return;
    struct corio_senml_dec dec;
    char name[CORIO_SENML_MAX_NAME + 1];
    if (corio_senml_dec_init(&dec, fmt, payload, len, name, sizeof name) != CORIO_OK)
        return;
    const struct corio_senml_ext *x = corio_senml_dec_ext(&dec);
    if (x->has_seq && x->seq > 0 && x->ep <= INT64_MAX && x->seq <= INT64_MAX) {
        *epoch = x->ep;
        *seq = x->seq;
    }
}

/* "corio/v1/g/<this gateway>/up/<suffix>": the suffix, else NULL. */
static const char *gateway_record(const struct corio_plugin *p, const char *topic)
{
    static const char prefix[] = "corio/v1/g/";
    if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *id = topic + sizeof prefix - 1;
    if (strncmp(id, p->gateway, CORIO_SHORT_ID_LEN) != 0 ||
        strncmp(id + CORIO_SHORT_ID_LEN, "/up/", 4) != 0)
        return NULL;
    const char *suffix = id + CORIO_SHORT_ID_LEN + 4;
    size_t n = strlen(suffix);
    return n > 0 && n <= 64 ? suffix : NULL;
}

static int on_message(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct mosquitto_evt_message *ev = event_data;
    char device[CORIO_SHORT_ID_LEN + 1];
    const char *suffix;
    int rc;

    if (!ev->client)
        return MOSQ_ERR_SUCCESS;
    if (corio__parse_up_topic(ev->topic, device, &suffix)) {
        suffix = corio__service_suffix(p, ev->client, suffix);
        uint64_t epoch, seq;
        pack_identity(suffix, ev->payload, (size_t)ev->payloadlen, &epoch, &seq);
        rc = corio__store(p, device, suffix, epoch, seq, ev->payload, (size_t)ev->payloadlen);
        if (rc == CORIO_OK)
            corio__resend_check(p, device);
    } else if ((suffix = gateway_record(p, ev->topic)) && corio__is_service(p, ev->client)) {
        /* Stored; no client may read the gateway's records, so the broker routes it
         * to nobody. */
        rc = corio__store(p, "", suffix, 0, 0, ev->payload, (size_t)ev->payloadlen);
    } else {
        return MOSQ_ERR_SUCCESS; /* not telemetry: the broker routes it as usual */
    }
    if (rc == CORIO_OK)
        return MOSQ_ERR_SUCCESS;
    if (rc == CORIO_ERR_FULL && class_of(suffix) >= CORIO_OUTBOX_CLASS_DROPPABLE)
        return MOSQ_ERR_ACL_DENIED; /* an accounted drop: acknowledge, do not route */
    /* Not stored: disconnect the device without a PUBACK, so it keeps the message. */
    return MOSQ_ERR_NOMEM;
}

/* The counters for corio-gateway (plugin_stats.h). */
static void write_stats(struct corio_plugin *p)
{
    int64_t rows, bytes, last_id, oldest = 0;
    corio_outbox_counts(p->outbox, &rows, &bytes, &last_id);
    corio_outbox_oldest(p->outbox, &oldest);
    struct corio_plugin_stats st = {
        .pid = (uint64_t)getpid(),
        .wall_ms = (uint64_t)corio__wall_ms(),
        .started_ms = (uint64_t)p->started_wall_ms,
        .epoch = corio_outbox_epoch(p->outbox),
        .clean_start = corio_outbox_was_clean(p->outbox),
        .stored = p->stored,
        .stored_bytes = p->stored_bytes,
        .refused = p->refused,
        .dropped = p->dropped,
        .rows = (uint64_t)rows,
        .bytes = (uint64_t)bytes,
        .max_bytes = (uint64_t)p->max_bytes,
        .oldest_ms = (uint64_t)oldest,
        .last_id = (uint64_t)last_id,
        .deleted = p->deleted,
        .syncs = p->syncs,
        .sync_failures = p->sync_failures,
        .last_sync_ms = (uint64_t)p->last_sync_wall_ms,
        .sync_ms = (uint64_t)p->sync_ms,
        .auth_accepted = p->auth_accepted,
        .auth_refused = p->auth_refused,
        .acl_denied = p->acl_denied,
        .devices_online = corio__presence_online(p),
        .resend_pending = corio__resend_pending(p),
        .resend_requests = p->resend_requests,
    };
    if (corio_plugin_stats_write(p->stats_path, &st) != CORIO_OK && !p->stats_warned) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: cannot write %s", p->stats_path);
        p->stats_warned = true;
    }
}

/* Applies the forwarder's watermark: deletes what the cloud has committed. */
static void apply_watermark(struct corio_plugin *p)
{
    uint64_t epoch;
    int64_t id;
    int rc = corio_watermark_read(p->watermark_path, &epoch, &id);
    if (rc == CORIO_ERR_NOTFOUND)
        return;
    if (rc != CORIO_OK) {
        if (!p->watermark_warned)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: %s: unreadable watermark",
                                 p->watermark_path);
        p->watermark_warned = true;
        return;
    }
    p->watermark_warned = false;
    if (epoch == p->applied_epoch && id <= p->applied_id)
        return;
    int64_t deleted = corio_outbox_delete_through(p->outbox, epoch, id);
    if (deleted > 0) {
        p->deleted += (uint64_t)deleted;
        p->unsynced = true;
    }
    if (deleted == CORIO_ERR_POLICY)
        return; /* a watermark of an earlier epoch: nothing of ours */
    if (deleted < 0) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: cannot delete acknowledged rows: %s",
                             corio_strerror((int)deleted));
        return;
    }
    p->applied_epoch = epoch;
    p->applied_id = id;
}

static int on_tick(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)event_data;
    struct corio_plugin *p = userdata;
    int64_t now = mono_ms();
    /* What the broker's loop stored, into the table in one transaction: once enough is
     * pending, or the oldest has waited FLUSH_MS (a pass of the loop often handles one
     * message; the forwarder reads every 20 ms). A sync flushes in any case. */
    int pending = corio_outbox_pending(p->outbox);
    if (pending > 0 && (pending >= FLUSH_ROWS || now - p->pending_since_ms >= FLUSH_MS)) {
        if (corio_outbox_flush(p->outbox) == CORIO_OK) {
            p->flush_warned = false;
        } else {
            if (!p->flush_warned)
                mosquitto_log_printf(MOSQ_LOG_ERR, "corio: cannot move the intake log into the "
                                                   "outbox table; the messages stay in the log");
            p->flush_warned = true;
        }
    }
    if (now - p->last_sync_ms >= p->sync_ms)
        sync_outbox(p, now);
    if (now - p->last_watermark_ms >= WATERMARK_POLL_MS) {
        apply_watermark(p);
        p->last_watermark_ms = now;
    }
    if (now - p->last_registry_ms >= 1000) {
        corio__auth_tick(p);
        p->last_registry_ms = now;
    }
    if (now - p->last_stats_ms >= 1000) {
        write_stats(p);
        p->last_stats_ms = now;
    }
    return MOSQ_ERR_SUCCESS;
}

static const char *option(struct mosquitto_opt *opts, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].key, key) == 0)
            return opts[i].value;
    return NULL;
}

static bool parse_i64(const char *s, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min)
        return false;
    *out = v;
    return true;
}

EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                                 struct mosquitto_opt *opts, int option_count)
{
    struct corio_plugin *p = &plugin;
    memset(p, 0, sizeof *p);
    p->id = identifier;
    p->max_bytes = (int64_t)1 << 30;
    p->sync_ms = 200;

    const char *outbox = option(opts, option_count, "outbox");
    const char *gateway = option(opts, option_count, "gateway");
    const char *watermark = option(opts, option_count, "watermark");
    const char *max_bytes = option(opts, option_count, "max_bytes");
    const char *sync_ms = option(opts, option_count, "sync_ms");
    const char *registry = option(opts, option_count, "registry");
    const char *state = option(opts, option_count, "state");
    const char *stats = option(opts, option_count, "stats");
    const char *vfs = option(opts, option_count, "vfs");
    const char *intake = option(opts, option_count, "intake");
    const char *max_age = option(opts, option_count, "registry_max_age");
    int64_t registry_max_age = 3600;
    if (!outbox || !gateway || !registry) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: plugin_opt_outbox, plugin_opt_gateway and "
                                           "plugin_opt_registry are required");
        return MOSQ_ERR_INVAL;
    }
    if (!corio__valid_short_id(gateway, strlen(gateway))) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: plugin_opt_gateway '%s' is not a short id",
                             gateway);
        return MOSQ_ERR_INVAL;
    }
    if (max_bytes && !parse_i64(max_bytes, 4096, &p->max_bytes)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: plugin_opt_max_bytes '%s' is not a number "
                                           ">= 4096", max_bytes);
        return MOSQ_ERR_INVAL;
    }
    if (sync_ms && !parse_i64(sync_ms, 1, &p->sync_ms)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: plugin_opt_sync_ms '%s' is not a number "
                                           ">= 1", sync_ms);
        return MOSQ_ERR_INVAL;
    }
    if (intake && strcmp(intake, "true") != 0 && strcmp(intake, "false") != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: plugin_opt_intake '%s' is not true or false",
                             intake);
        return MOSQ_ERR_INVAL;
    }
    if (max_age && !parse_i64(max_age, 0, &registry_max_age)) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "corio: plugin_opt_registry_max_age '%s' is not a "
                             "number of seconds",
                             max_age);
        return MOSQ_ERR_INVAL;
    }
    snprintf(p->gateway, sizeof p->gateway, "%s", gateway);
    if (watermark)
        snprintf(p->watermark_path, sizeof p->watermark_path, "%s", watermark);
    else
        snprintf(p->watermark_path, sizeof p->watermark_path, "%s.watermark", outbox);
    if (stats)
        snprintf(p->stats_path, sizeof p->stats_path, "%s", stats);
    else
        snprintf(p->stats_path, sizeof p->stats_path, "%s.stats", outbox);
    if (vfs && strcmp(vfs, CORIO_POWERCUT_VFS) == 0) {
        if (corio_powercut_vfs_register() != CORIO_OK) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "corio: cannot register the %s VFS", vfs);
            return MOSQ_ERR_UNKNOWN;
        }
        mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: the outbox runs on the %s VFS, which "
                             "journals every unsynced write: for tests only", vfs);
    }

    char err[256];
    struct corio_outbox_options oo = {.path = outbox,
                                      .gateway = gateway,
                                      .max_bytes = p->max_bytes,
                                      .vfs = vfs,
                                      .intake = !intake || strcmp(intake, "true") == 0};
    if (corio_outbox_open(&oo, &p->outbox, err, sizeof err) != CORIO_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: %s: %s", outbox, err);
        return MOSQ_ERR_UNKNOWN;
    }
    char state_path[4096];
    if (state)
        snprintf(state_path, sizeof state_path, "%s", state);
    else
        snprintf(state_path, sizeof state_path, "%s-auth.db", outbox);
    if (corio__presence_init(p) != CORIO_OK ||
        corio__auth_init(p, registry, state_path, registry_max_age) != CORIO_OK) {
        corio__auth_cleanup(p);
        corio__presence_cleanup(p);
        corio_outbox_close(p->outbox);
        return MOSQ_ERR_UNKNOWN;
    }
    if (corio_outbox_recovered(p->outbox) > 0)
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "corio: %" PRId64 " acknowledged messages the last run had not moved "
                             "into the outbox table were moved now (from its intake log)",
                             corio_outbox_recovered(p->outbox));
    corio__resend_init(p); /* a failure is logged; storing goes on */
    p->started_wall_ms = p->last_sync_wall_ms = corio__wall_ms();
    p->last_sync_ms = p->last_watermark_ms = p->last_registry_ms = mono_ms();
    p->last_stats_ms = 0; /* the first tick writes the stats */

    int rc = mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, on_message, NULL, p);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, p);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = corio__presence_register(p);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = corio__auth_register(p);
    if (rc != MOSQ_ERR_SUCCESS) {
        corio__auth_cleanup(p);
        corio__presence_cleanup(p);
        corio__resend_cleanup(p);
        corio_outbox_close(p->outbox);
        return rc;
    }
    *userdata = p;
    mosquitto_log_printf(MOSQ_LOG_INFO, "corio: gateway %s, outbox %s epoch %" PRIu64, gateway,
                         outbox, corio_outbox_epoch(p->outbox));
    return MOSQ_ERR_SUCCESS;
}

EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int option_count)
{
    (void)opts;
    (void)option_count;
    struct corio_plugin *p = userdata;
    if (!p)
        return MOSQ_ERR_SUCCESS;
    mosquitto_callback_unregister(p->id, MOSQ_EVT_MESSAGE, on_message, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_TICK, on_tick, NULL);
    corio__presence_unregister(p);
    corio__auth_unregister(p);
    corio_outbox_sync(p->outbox);
    write_stats(p);
    corio_outbox_close(p->outbox);
    corio__presence_cleanup(p);
    corio__auth_cleanup(p);
    corio__resend_cleanup(p);
    return MOSQ_ERR_SUCCESS;
}
