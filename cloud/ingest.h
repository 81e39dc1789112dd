/*
 * ingest.h - from a gateway's signed batch to one committed transaction, an
 * application ack, and the live events to broadcast (DESIGN.md §1, point 5).
 *
 * corio_ingest_batch takes what arrived on corio/v1/g/{gw}/batch and:
 *   1. finds the gateway in the registry (unknown: refused, not acknowledged);
 *   2. has the verifier check the signature and decode the payload (common/batch.h) (a
 *      bad signature: refused, not acknowledged, so a forger cannot make the gateway
 *      delete anything), and checks the batch names the topic's gateway;
 *   4. in ONE transaction, per message: checks the device belongs to the gateway's
 *      organisation, decodes SenML, heartbeat or presence, inserts the message by its
 *      identity and, only when it is new, its samples, rollups and sequence accounting;
 *      a message that does not parse or names a foreign device is recorded as rejected
 *      with its reason (and so is acknowledged: it would never parse on a resend);
 *   5. commits, and builds the ack covering the batch's whole id range.
 * The caller publishes the ack and only then broadcasts the events. The ingest does no
 * network I/O, so tests feed it directly (corio_ingest_decoded takes a decoded batch).
 *
 * Not thread-safe: one ingest (and its store) belongs to one worker thread.
 */
#ifndef CORIO_CLOUD_INGEST_H
#define CORIO_CLOUD_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "store.h"

/*
 * The seam where a batch is verified and decoded (docs/formats.md: a COSE_Sign1, ES256,
 * around the batch payload). open() checks that wire[0..len) is signed by gw's current
 * key and decodes it into *b (freed by the caller with corio_batch_free; pointers into
 * wire). Returns CORIO_OK; CORIO_ERR_BADSIG (the signature does not verify, or the
 * signer is not gw's current key); CORIO_ERR_STATE (no key is known for gw);
 * CORIO_ERR_MALFORMED, CORIO_ERR_VERSION, CORIO_ERR_POLICY (not a sealed batch, or not a
 * valid one). Writes the reason into why. corio-cloud's is corio_cloud_cose_verifier.
 */
struct corio_batch_verifier {
    int (*open)(void *ctx, const struct corio_gateway_rec *gw, const uint8_t *wire, size_t len,
                struct corio_batch *b, char *why, size_t whylen);
    void *ctx;
};

/*
 * Optional hooks for the downlink service (cloud/downlink.h); each may be NULL. All run
 * in the ingest's thread.
 *   prepare    the verified batch, before its transaction: the service records what it
 *              learns (heartbeats' clocks) and decides which packs cannot be dated; a
 *              negative return fails the batch like a database error (rolled back, not
 *              acknowledged, sent again).
 *   resolve    a SenML pack stamped with (boot count, uptime) instead of a time: return
 *              1 with *t_ms the time of that uptime in that boot, or 0 when the boot's
 *              clock is not known (the pack keeps its receive time; docs/storage.md).
 *   committed  the batch after its commit (command results, reported configuration).
 */
struct corio_ingest_hooks {
    int (*prepare)(void *ctx, const char *org, const struct corio_batch *b, int64_t now_ms);
    int (*resolve)(void *ctx, const char *device, uint64_t boot, uint64_t upt_ms, int64_t recv_ms,
                   int64_t *t_ms);
    void (*committed)(void *ctx, const char *org, const struct corio_batch *b, int64_t now_ms);
    void *ctx;
};

struct corio_ingest_opts {
    struct corio_store *store; /* the writer; used only by the ingest's thread */
    struct corio_batch_verifier verifier;
    /* Register a device the registry does not know under the organisation of the
     * gateway that relayed it, instead of rejecting its messages. Off by default: the
     * registry (and later the ledger) says which devices exist. */
    bool accept_unregistered;
    size_t max_events; /* events kept per batch; 0: 20000 */
    struct corio_ingest_hooks hooks;
};

/* A live event for GET /api/v1/stream: its name and its JSON data. */
struct corio_event {
    const char *type; /* "sample", "presence", "gap" (static) */
    char *data;       /* malloc'd JSON text */
};

struct corio_ingest_result {
    char gateway[CORIO_ID_LEN + 1]; /* from the topic; "" if the topic was bad */
    uint64_t epoch, first, last;    /* the batch's range, once decoded */
    uint8_t ack[64];                /* the ack to publish, when ack_len > 0 */
    size_t ack_len;
    bool new_batch; /* first delivery of this batch */
    int64_t messages, stored, duplicates, rejected, samples;
    struct corio_event *events;
    size_t nevents, events_cap;
    size_t events_dropped; /* over max_events: not broadcast */
    char why[256];         /* why the batch was refused */
};

struct corio_ingest;

/* Returns CORIO_OK and *out, CORIO_ERR_INVAL (no store or verifier), CORIO_ERR_NOSPACE. */
int corio_ingest_new(const struct corio_ingest_opts *opts, struct corio_ingest **out);
void corio_ingest_free(struct corio_ingest *ig);

/*
 * Ingests one batch as it arrived on topic. On CORIO_OK the batch is committed and
 * res->ack holds the ack for corio/v1/g/{res->gateway}/ack; res->events are to be
 * broadcast after the ack is published. Otherwise nothing was stored, no ack is due,
 * and res->why says why:
 *   CORIO_ERR_INVAL      the topic is not corio/v1/g/{gw}/batch
 *   CORIO_ERR_NOTFOUND   the gateway is not in the registry
 *   CORIO_ERR_BADSIG     the signature does not verify (also: no key for the gateway)
 *   CORIO_ERR_MALFORMED, CORIO_ERR_VERSION, CORIO_ERR_POLICY  the payload is not a valid
 *                        batch, or names another gateway than the topic
 *   CORIO_ERR_IO         the database failed (rolled back; the gateway will resend)
 *   CORIO_ERR_NOSPACE    out of memory (rolled back)
 * Free res with corio_ingest_result_free in every case.
 */
int corio_ingest_batch(struct corio_ingest *ig, const char *topic, const uint8_t *wire, size_t len,
                       int64_t now_ms, struct corio_ingest_result *res);

/* Steps 4 and 5 for a batch already verified and decoded (the tests' entry). Returns
 * as corio_ingest_batch. */
int corio_ingest_decoded(struct corio_ingest *ig, const struct corio_batch *b, int64_t now_ms,
                         struct corio_ingest_result *res);

void corio_ingest_result_free(struct corio_ingest_result *res);

/* The gateway id of a topic "corio/v1/g/<gw>/<leaf>" with the given leaf, or false. */
bool corio_ingest_topic_gateway(const char *topic, const char *leaf, char gw[CORIO_ID_LEN + 1]);

#endif /* CORIO_CLOUD_INGEST_H */
