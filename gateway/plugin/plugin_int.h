/*
 * plugin_int.h - state and functions shared by the files of corio_mosquitto.so.
 */
#ifndef CORIO_PLUGIN_INT_H
#define CORIO_PLUGIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto_broker.h>

#include "outbox.h"

#define CORIO_SHORT_ID_LEN 24

struct corio_presence_table;
struct corio_auth;

struct corio_plugin {
    mosquitto_plugin_id_t *id;
    char gateway[CORIO_SHORT_ID_LEN + 1];
    corio_outbox *outbox;
    char watermark_path[4096];
    int64_t max_bytes;
    int64_t sync_ms;
    int64_t last_sync_ms;
    int64_t last_watermark_ms;
    int64_t last_registry_ms;
    uint64_t applied_epoch;
    int64_t applied_id;
    bool watermark_warned;
    struct corio_presence_table *presence;
    struct corio_auth *auth;

    /* Counters, since the broker started. */
    uint64_t stored;
    uint64_t refused;
    uint64_t dropped;
    uint64_t auth_accepted;
    uint64_t auth_refused;
    uint64_t acl_denied;
};

int64_t corio__wall_ms(void);
bool corio__valid_short_id(const char *id, size_t len);
bool corio__parse_up_topic(const char *topic, char id[CORIO_SHORT_ID_LEN + 1],
                           const char **suffix);

/* Commits a message of a device to the outbox; counts refusals and drops (plugin.c). */
int corio__store(struct corio_plugin *p, const char *device, const char *suffix,
                 const void *payload, size_t len);

/* presence.c: a per-device connection counter fed by successful authentications and
 * disconnects; each transition between offline and online is written to the outbox. */
int corio__presence_init(struct corio_plugin *p);
int corio__presence_register(struct corio_plugin *p);
void corio__presence_unregister(struct corio_plugin *p);
void corio__presence_cleanup(struct corio_plugin *p);
void corio__presence_connected(struct corio_plugin *p, const struct mosquitto *client,
                               const char *device);

/* auth.c: single-step EAT authentication, topic rights, the registry. */
int corio__auth_init(struct corio_plugin *p, const char *registry, const char *state);
int corio__auth_register(struct corio_plugin *p);
void corio__auth_unregister(struct corio_plugin *p);
void corio__auth_cleanup(struct corio_plugin *p);
void corio__auth_tick(struct corio_plugin *p);

/* The suffix a device message is stored under: "presence" for the up/presence that the
 * gateway's service publishes for a CoAP device (its presence record), else suffix. */
const char *corio__service_suffix(struct corio_plugin *p, const struct mosquitto *client,
                                  const char *suffix);

#endif
