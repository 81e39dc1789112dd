/*
 * gwstate.h - the latest status of each gateway (corio/v1/g/{gw}/status, docs/formats.md
 * "Gateway status"), kept by corio-cloud and served on GET /api/v1/gateways/status. (The
 * downlink's signed state messages, corio/v1/g/{gw}/state, are cloud_downlink.h's.)
 *
 * Gateways publish their status retained, every status interval, and leave a retained last
 * will ("lost") on the same topic; so the cloud broker always holds each gateway's
 * latest word, and a corio-cloud that (re)subscribes gets it at once. corio-cloud keeps
 * it in memory (one entry per gateway of its organisation, bounded), which is also right
 * for several corio-cloud instances: each subscribes and holds the same picture.
 *
 * The ingest worker calls corio_gwstate_put() for each message; HTTP threads read.
 */
#ifndef CORIO_CLOUD_GWSTATE_H
#define CORIO_CLOUD_GWSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "corio_http.h"

/* The largest status document taken, and how many gateways are kept. */
#define CORIO_GWSTATE_MAX_BYTES 16384
#define CORIO_GWSTATE_MAX_GATEWAYS 100000

struct corio_gwstate;

/* Returns CORIO_OK and *out, or CORIO_ERR_NOSPACE. */
int corio_gwstate_new(struct corio_gwstate **out);
void corio_gwstate_free(struct corio_gwstate *g);

/*
 * Takes a status document (hostile input) of gateway (a short id, from the topic; the
 * caller has checked it is a registered gateway of this cloud's organisation), received
 * at now_ms. It must be a JSON object of at most CORIO_GWSTATE_MAX_BYTES with "v": 1,
 * "gateway" equal to the topic's, a string "status" of at most 32 bytes, and, when
 * present, an integer "t". A document older (by "t") than the one held is ignored.
 * Returns CORIO_OK; CORIO_ERR_MALFORMED, CORIO_ERR_VERSION or CORIO_ERR_INVAL with a
 * reason in why; CORIO_ERR_FULL (too many gateways); CORIO_ERR_NOSPACE.
 */
int corio_gwstate_put(struct corio_gwstate *g, const char *gateway, const uint8_t *payload,
                      size_t len, int64_t now_ms, char *why, size_t whylen);

/* How many gateways are held. */
size_t corio_gwstate_count(struct corio_gwstate *g);

/* Adds GET /api/v1/gateways/status: {"gateways": [{"id", "received_ms", "status": {...}},
 * ...]} sorted by id. Returns as corio_http_route. */
int corio_gwstate_route(struct corio_gwstate *g, struct corio_http *http);

#endif /* CORIO_CLOUD_GWSTATE_H */
