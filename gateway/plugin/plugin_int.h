/*
 * plugin_int.h - state and functions shared by the files of corio_mosquitto.so.
 */
#ifndef CORIO_PLUGIN_INT_H
#define CORIO_PLUGIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <time.h>

#include <mosquitto_broker.h>
#include <sqlite3.h>

#include "outbox.h"

#define CORIO_SHORT_ID_LEN 24

struct corio_presence_table;
struct corio_resend_table;
struct corio_reg;
struct corio_eat_pending;

/* Authentication state (auth.c, eat_auth.c). */
struct corio_auth {
    char *registry_path;
    struct corio_reg *reg;
    struct timespec registry_mtime;
    /* When the applied height was written (the file's mtime, wall-clock seconds, never in
     * the future): the registry's age, which bounds key 0 without the registry. */
    int64_t registry_applied_s;
    int64_t registry_max_age_s;
    char *state_path;
    sqlite3 *state;
    sqlite3_stmt *get_counter;
    sqlite3_stmt *put_counter;
    sqlite3_stmt *put_eat;
    /* Nonces issued and not yet answered, one per connection (eat_auth.c). */
    struct corio_eat_pending *pending;
    size_t npending, cap_pending;
};

/* What the state file remembers of a DID. */
struct corio_seen {
    uint64_t counter; /* the highest single-step counter accepted */
    uint32_t key_no;  /* the highest key number accepted */
    bool eat;         /* it has logged in with corio-eat-v1: single-step is refused */
};

struct corio_plugin {
    mosquitto_plugin_id_t *id;
    char gateway[CORIO_SHORT_ID_LEN + 1];
    corio_outbox *outbox;
    char watermark_path[4096];
    char stats_path[4096];
    int64_t max_bytes;
    int64_t sync_ms;
    int64_t last_sync_ms;
    int64_t last_watermark_ms;
    int64_t last_registry_ms;
    int64_t last_stats_ms;
    int64_t started_wall_ms;
    int64_t last_sync_wall_ms;
    bool unsynced; /* commits since the last WAL fsync */
    uint64_t applied_epoch;
    int64_t applied_id;
    bool watermark_warned;
    bool stats_warned;
    bool flush_warned;        /* the last flush of the intake log failed */
    int64_t pending_since_ms; /* when the oldest append not yet flushed came */
    struct corio_presence_table *presence;
    struct corio_auth *auth;
    struct corio_resend_table *resend;

    /* Counters, since the broker started. */
    uint64_t stored;
    uint64_t stored_bytes;
    uint64_t refused;
    uint64_t dropped;
    uint64_t deleted;
    uint64_t syncs;
    uint64_t sync_failures;
    uint64_t resend_requests;
    uint64_t auth_accepted;
    uint64_t auth_refused;
    uint64_t acl_denied;
};

int64_t corio__wall_ms(void);
bool corio__valid_short_id(const char *id, size_t len);
bool corio__parse_up_topic(const char *topic, char id[CORIO_SHORT_ID_LEN + 1],
                           const char **suffix);

/* Commits a message of a device ("" for the gateway's own) to the outbox, with the
 * device's (epoch, seq) when dev_seq > 0; counts refusals and drops (plugin.c). */
int corio__store(struct corio_plugin *p, const char *device, const char *suffix,
                 uint64_t dev_epoch, uint64_t dev_seq, const void *payload, size_t len);

/* presence.c: a per-device connection counter fed by successful authentications and
 * disconnects; each transition between offline and online is written to the outbox. */
int corio__presence_init(struct corio_plugin *p);
int corio__presence_register(struct corio_plugin *p);
void corio__presence_unregister(struct corio_plugin *p);
void corio__presence_cleanup(struct corio_plugin *p);
void corio__presence_connected(struct corio_plugin *p, const struct mosquitto *client,
                               const char *device);
/* Devices with at least one connection now. */
uint64_t corio__presence_online(const struct corio_plugin *p);

/* resend.c: after an unclean start (a crash or a power cut), the highest (epoch, seq)
 * the outbox holds durably of each device; each device is asked once, at its next
 * message, to publish again from the seq after it (dn/resend, docs/telemetry.md). */
int corio__resend_init(struct corio_plugin *p);
void corio__resend_check(struct corio_plugin *p, const char *device);
uint64_t corio__resend_pending(const struct corio_plugin *p);
void corio__resend_cleanup(struct corio_plugin *p);

/* auth.c: single-step EAT authentication, topic rights, the registry. */
int corio__auth_init(struct corio_plugin *p, const char *registry, const char *state,
                     int64_t registry_max_age_s);
int corio__auth_register(struct corio_plugin *p);
void corio__auth_unregister(struct corio_plugin *p);
void corio__auth_cleanup(struct corio_plugin *p);
void corio__auth_tick(struct corio_plugin *p);
void corio__auth_seen(struct corio_auth *a, const char *did, struct corio_seen *out);
/* Records a corio-eat-v1 login: the key number (never lowered) and the flag. */
int corio__auth_remember_eat(struct corio_auth *a, const char *did, uint32_t key_no);
/* Seconds since the applied registry height was written; INT64_MAX without one. */
int64_t corio__registry_age_s(const struct corio_auth *a);
bool corio__service_client(const struct corio_plugin *p, const char *client);
/* Logs a refused login: "corio: refused <client> (<how>): <why>", and counts it. */
void corio__refused(struct corio_plugin *p, const char *client, const char *how, const char *why);

/* eat_auth.c: MQTT 5 enhanced authentication corio-eat-v1 (MOSQ_EVT_EXT_AUTH_START and
 * _CONTINUE); quarantine for devices the registry does not list. */
int corio__eat_auth_register(struct corio_plugin *p);
void corio__eat_auth_unregister(struct corio_plugin *p);
/* Drops nonces that waited too long for their answer. */
void corio__eat_auth_tick(struct corio_plugin *p);
void corio__eat_auth_cleanup(struct corio_plugin *p);

/* The suffix a device message is stored under: "presence" for the up/presence that the
 * gateway's service publishes for a CoAP device (its presence record), else suffix. */
const char *corio__service_suffix(struct corio_plugin *p, const struct mosquitto *client,
                                  const char *suffix);

/* Whether client is one of the gateway's own service clients (auth.c). */
bool corio__is_service(const struct corio_plugin *p, const struct mosquitto *client);

#endif
