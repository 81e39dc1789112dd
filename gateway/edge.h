/*
 * edge.h - the rules engine (rules.h) as corio-gateway runs it: fed from the outbox,
 * ticked by the daemon's loop, its commands and events sent through the gateway's
 * service client to its own broker (docs/edge-rules.md, "In corio-gateway").
 *
 * - Samples: a cursor of its own over the outbox (a reader, as the forwarder is, but
 *   independent of it, so rules run while the uplink is down). It starts at the newest
 *   row when the daemon starts (rules judge what arrives from then on) and reads every
 *   new up/json and up/cbor row of a device into corio_rules_feed_senml(), with the
 *   row's receive time.
 * - Absence: corio_rules_tick() with the wall clock at every step.
 * - Commands: QoS 1 on corio/v1/d/{id}/dn/cmd through the service client. A command
 *   that cannot be handed over (the client is down) is refused: the engine counts it.
 * - Events: the gateway's own records, published QoS 1 on corio/v1/g/{gw}/up/<suffix>
 *   (suffix edge/rule or edge/anomaly), which the plugin stores with device '' and that
 *   suffix, so they go upstream in the outbox with everything else. An event is kept
 *   until the broker's PUBACK (the plugin committed it) and sent again after a
 *   reconnect; at most CORIO_EDGE_EVENTS_MAX wait, beyond that the oldest is dropped,
 *   counted and logged.
 * - Classes and groups for selectors: the registry file, re-read when it changes.
 *
 * Everything runs in the daemon's thread.
 */
#ifndef CORIO_GATEWAY_EDGE_H
#define CORIO_GATEWAY_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "local_client.h"
#include "rules.h"

#define CORIO_EDGE_EVENTS_MAX 1024

struct corio_edge_options {
    const char *rules_path;    /* the rules file (docs/edge-rules.md) */
    const char *outbox_path;   /* the outbox the plugin writes */
    const char *registry_path; /* classes and groups; NULL: class:/group: match nothing */
    const char *gateway;       /* short id */
    corio_local_client *local; /* the service client; borrowed */
    int64_t now_ms;            /* wall clock at creation */
};

struct corio_edge_stats {
    struct corio_rules_stats rules;
    uint64_t rows_read;      /* outbox rows the cursor passed */
    int64_t cursor;          /* the last outbox id read */
    uint64_t events_queued;  /* events waiting for their PUBACK (gauge) */
    uint64_t events_stored;  /* events the broker acknowledged (the plugin stored them) */
    uint64_t events_dropped; /* events dropped from a full queue */
    uint64_t commands_published;
};

typedef struct corio_edge corio_edge;

/* Loads the rules file and makes the engine. Returns a corio_err with the rules file's
 * own "<file>:<line>: <what>" message (or another reason) in err. */
int corio_edge_new(const struct corio_edge_options *o, corio_edge **out, char *err,
                   size_t errlen);
void corio_edge_free(corio_edge *e);

/* Reads what arrived in the outbox, feeds it, ticks the clock, sends queued events.
 * now_ms is the wall clock. */
void corio_edge_step(corio_edge *e, int64_t now_ms);

/* The service client's events, forwarded by the daemon. corio_edge_puback returns true
 * when mid was one of the edge's events. */
void corio_edge_local_up(corio_edge *e);
void corio_edge_local_down(corio_edge *e);
bool corio_edge_puback(corio_edge *e, int mid);

void corio_edge_stats(const corio_edge *e, struct corio_edge_stats *st);

#endif /* CORIO_GATEWAY_EDGE_H */
