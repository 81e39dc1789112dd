/*
 * cloud_downlink.h - corio-cloud's downlink service (DESIGN.md §1, "The downlink path";
 * docs/downlink.md): commands and desired configuration from the API to devices through
 * their gateways, the devices' answers closing them, time for packs that carry none, and
 * registry updates relayed from the ledger.
 *
 *   - The API (corio_cloud_downlink_routes): POST/GET /api/v1/devices/{id}/commands,
 *     GET .../commands/{seq}, PUT/GET .../config, GET .../time, GET /api/v1/gateways.
 *   - Commands and configuration live in the database (dl_store.h) until the device's
 *     answer comes back (or the command expires) and are resent, with a growing
 *     interval, to the device's gateway on corio/v1/g/{gw}/down: nothing that must arrive
 *     rides on a broker queue alone.
 *   - The ingest's hooks (corio_cloud_downlink_hooks): heartbeats date each boot of a device;
 *     packs stamped with (boot, uptime) get their time from it, or are flagged; up/res
 *     closes commands, up/cfg records the reported configuration.
 *   - State messages of gateways (corio/v1/g/{gw}/state): their registry height, what
 *     they delivered.
 *   - With a ledger_url, a follower keeps the ledger's registry exports and blocks, loads
 *     each new export into the cloud's registry, and the sender relays it to every
 *     gateway of the organisation whose height is behind.
 *
 * One sender thread builds and signs the containers (with the cloud's downlink key) and
 * publishes them through the caller's function; the follower has its own thread.
 */
#ifndef CORIO_CLOUD_CLOUD_DOWNLINK_H
#define CORIO_CLOUD_CLOUD_DOWNLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"
#include "corio_http.h"
#include "dl_store.h"
#include "ingest.h"
#include "store.h"

struct corio_cloud_downlink_opts {
    const char *org;
    struct corio_dl_store *dl;   /* shared, thread-safe */
    struct corio_store *reader;  /* devices and gateways; used under the service's lock */
    struct corio_store *writer;  /* the registry from the ledger; the follower's own */
    const struct corio_key *key; /* the downlink key; NULL: nothing is sent (logged) */
    /* Publishes QoS 1; 0 when the client took it. Called from the sender thread. */
    int (*publish)(void *ctx, const char *topic, const uint8_t *payload, size_t len);
    void *ctx;
    int64_t resend_min_ms, resend_max_ms;       /* resend interval: doubling from min to max */
    int64_t command_ttl_ms, command_ttl_max_ms; /* a command's default and longest life */
    const char *ledger_url;                     /* NULL: no registry relays */
    int64_t ledger_poll_ms;
    int64_t relay_refresh_ms;  /* an unchanged registry is relayed at a newer height this often */
    uint64_t relay_max_blocks; /* further behind: a whole registry instead of an update */
    int64_t (*now_ms)(void);   /* NULL: the wall clock */
};

struct corio_cloud_downlink_stats {
    uint64_t containers, publish_failed, commands_sent, configs_sent, relays_sent;
    uint64_t results, reports, states, states_refused, untimed, expired;
    uint64_t ledger_polls, ledger_failures, ledger_exports, ledger_height;
};

struct corio_cloud_downlink;

int corio_cloud_downlink_new(const struct corio_cloud_downlink_opts *o,
                             struct corio_cloud_downlink **out, char *err, size_t errlen);
/* Registers the API's routes (before the server starts). */
int corio_cloud_downlink_routes(struct corio_cloud_downlink *d, struct corio_http *http);
/* Starts the sender (and the follower); CORIO_ERR_IO with a reason. */
int corio_cloud_downlink_start(struct corio_cloud_downlink *d, char *err, size_t errlen);
/* Stops the threads and frees. NULL is fine. */
void corio_cloud_downlink_free(struct corio_cloud_downlink *d);

/* The broker connection came up or went down (sends wait while it is down). */
void corio_cloud_downlink_connected(struct corio_cloud_downlink *d, bool up);
/* A message on corio/v1/g/{gw}/state (any thread; copied and handled by the sender). */
void corio_cloud_downlink_on_state(struct corio_cloud_downlink *d, const char *topic,
                                   const uint8_t *payload, size_t len);
/* The ingest's hooks. */
struct corio_ingest_hooks corio_cloud_downlink_hooks(struct corio_cloud_downlink *d);

void corio_cloud_downlink_stats(struct corio_cloud_downlink *d,
                                struct corio_cloud_downlink_stats *st);

#endif /* CORIO_CLOUD_CLOUD_DOWNLINK_H */
