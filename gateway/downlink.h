/*
 * downlink.h - corio-gateway's side of the downlink (DESIGN.md §1, "The downlink path";
 * docs/downlink.md): what the cloud sends on corio/v1/g/{gw}/down reaches the devices.
 *
 *   - Commands and desired configuration go to their device on corio/v1/d/{id}/dn/cmd
 *     and dn/cfg through the gateway's own authenticated client to its broker
 *     (local_client.h, the service login it shares with CoAP ingress). They wait in a small SQLite
 * queue of their own (bounded, expiry respected) until the device's answer passes through the
 * outbox (up/res with the command's correlation id, up/cfg with the configuration's version): a
 * device that is offline gets them when it comes online, one that is online gets them again every
 * retry interval until it answers.
 *   - Presence comes from the outbox too: the plugin's presence records, and any message
 *     of a device (it was online to send it).
 *   - Time: dn/time to every device that comes online, and to all online devices on an
 *     interval.
 *   - Registry updates relayed from the ledger are checked (relay.h) and applied to the
 *     registry file atomically, in height order; a missing height is asked for in the
 *     state message.
 *   - The state message (down.h) goes to the cloud on corio/v1/g/{gw}/state: the
 *     registry height, the height wanted, the commands delivered, the queue.
 *
 * Everything runs in the daemon's loop thread (corio_downlink_run); nothing blocks but
 * SQLite.
 */
#ifndef CORIO_GATEWAY_DOWNLINK_H
#define CORIO_GATEWAY_DOWNLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"

struct corio_downlink_options {
    const char *gateway;         /* short id */
    const struct corio_key *key; /* the gateway's key: the local login and the state */
    unsigned key_number;
    const char *db_path;       /* the queue (SQLite), created when absent */
    const char *outbox_path;   /* the plugin's outbox, read for presence and answers */
    const char *registry_path; /* the registry file relays update; NULL: none */
    /* The gateway's service client to its broker (local_client.h), borrowed; the caller
     * runs it and passes its events on (corio_downlink_local_up/_down/_puback). */
    struct corio_local_client *local;
    /* The cloud's downlink key (65 bytes, uncompressed), NULL: every container is
     * refused (logged). */
    const uint8_t *cloud_key;
    /* The ledger nodes whose signed tree heads the gateway trusts (compressed keys). */
    const uint8_t (*ledger_keys)[33];
    size_t nledger_keys;
    int64_t retry_ms;          /* a delivered item not answered goes again after this */
    int64_t time_interval_ms;  /* dn/time to every online device; 0: only on connect */
    int64_t state_interval_ms; /* the state message at least this often */
    bool device_time;          /* publish dn/time at all */
    bool time_from_cloud;      /* dn/time from the cloud's clock (the time items) */
    int64_t max_items;         /* queued items at most */
    int64_t max_per_device;    /* queued items per device at most */
    /* Publishes on corio/v1/g/{gw}/<suffix> to the cloud (the uplink). 0 or -1. */
    int (*publish_up)(void *ctx, const char *suffix, const uint8_t *payload, size_t len);
    void *ctx;
};

struct corio_downlink_stats {
    bool local_up;
    int64_t queued;        /* items in the queue now */
    int64_t online;        /* devices online now */
    uint64_t containers;   /* down containers accepted */
    uint64_t refused;      /* down containers refused (signature, format, addressee) */
    uint64_t items_queued; /* commands and configurations taken into the queue */
    uint64_t duplicates;   /* items already queued or already answered */
    uint64_t full;         /* items not queued: the queue was full (the cloud resends) */
    uint64_t expired;      /* commands dropped from the queue at their expiry */
    uint64_t delivered;    /* publishes to devices acknowledged by the broker */
    uint64_t answered;     /* items closed by the device's answer */
    uint64_t times;        /* dn/time messages published */
    uint64_t registry_applied, registry_refused, registry_wanted;
    uint64_t registry_height;
    int64_t clock_skew_ms; /* the cloud's clock minus ours, at the last time item */
};

typedef struct corio_downlink corio_downlink;

/* Opens the queue. Returns CORIO_OK or an error with a reason in err. */
int corio_downlink_new(const struct corio_downlink_options *o, corio_downlink **out, char *err,
                       size_t errlen);
void corio_downlink_free(corio_downlink *dl);

/* A message on corio/v1/g/{gw}/down. */
void corio_downlink_on_down(corio_downlink *dl, const uint8_t *wire, size_t len, int64_t now_ms);

/* The uplink (re)connected: a state message goes out soon. */
void corio_downlink_uplink_up(corio_downlink *dl);

/* Does what is due: the outbox, deliveries, expiry, time, state. now_ms is the wall
 * clock (ms since 1970). */
void corio_downlink_run(corio_downlink *dl, int64_t now_ms);

/* The service client's events: connected, disconnected, a publish acknowledged (an id
 * the downlink did not publish is ignored). */
void corio_downlink_local_up(corio_downlink *dl);
void corio_downlink_local_down(corio_downlink *dl);
void corio_downlink_puback(corio_downlink *dl, int mid);

void corio_downlink_stats(const corio_downlink *dl, struct corio_downlink_stats *st);

#endif /* CORIO_GATEWAY_DOWNLINK_H */
