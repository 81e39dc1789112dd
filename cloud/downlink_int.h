/*
 * downlink_int.h - what the files of corio-cloud's downlink share and nothing else uses:
 * JSON <-> CBOR for command arguments, results and configuration (cbor_json.c), and
 * the ledger follower (ledger_follow.c) that the downlink service (cloud_downlink.c) runs.
 */
#ifndef CORIO_CLOUD_DOWNLINK_INT_H
#define CORIO_CLOUD_DOWNLINK_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dl_store.h"
#include "store.h"

/* Nesting and size bounds of what the API turns into CBOR for devices. */
#define CORIO_DL_JSON_DEPTH 8
#define CORIO_DL_CBOR_MAX   4096

/*
 * Encodes a JSON value as deterministic CBOR (RFC 8949 §4.2.1): integers as integers,
 * other numbers as the shortest float that keeps them, strings as text, objects as maps
 * with text keys in deterministic order. On CORIO_OK *out is malloc'd. Returns
 * CORIO_ERR_INVAL with the reason in why (nested deeper than CORIO_DL_JSON_DEPTH, larger
 * than CORIO_DL_CBOR_MAX, a non-finite number) or CORIO_ERR_NOSPACE.
 */
int corio__json_to_cbor(const json_t *j, uint8_t **out, size_t *len, char *why, size_t whylen);

/* One CBOR item as JSON: integers (beyond 2^63 as reals), floats (non-finite as null),
 * text, byte strings as base64url text, arrays, maps (keys that are not text as their
 * JSON text), tags dropped, other simple values as null. NULL when p is not one
 * well-formed item or memory ran out. */
json_t *corio__cbor_to_json(const uint8_t *p, size_t n);

/* ---- the ledger follower --------------------------------------------------------- */

/* What the follower knows, for the sender: the latest registry export it stored and the
 * latest signed tree head (and block) it saw. */
struct corio__ledger_view {
    bool ready;
    uint64_t export_height; /* the latest stored export (a content change) */
    uint64_t head_height;   /* the latest tree head's height: blocks are stored up to it */
    uint8_t sth[512];
    size_t sth_len;
    uint64_t low; /* the lowest block height kept */
};

struct corio__ledger_follow;

struct corio__ledger_follow_opts {
    const char *url;            /* http(s)://node:port of a corio-ledger */
    int64_t poll_ms;            /* how often */
    int64_t refresh_ms;         /* an unchanged export is stored again this often, so that
                                   gateways' registries move on with the ledger's height */
    uint64_t max_blocks;        /* blocks kept (and relayed at most at once) */
    struct corio_dl_store *dl;  /* exports and blocks go here */
    struct corio_store *writer; /* the cloud's registry (orgs, gateways, devices), its own
                                   connection; NULL: not updated */
    const char *org;            /* gateways of this organisation get relays */
    void (*changed)(void *ctx); /* something new for the sender */
    void *ctx;
};

int corio__ledger_follow_start(const struct corio__ledger_follow_opts *o,
                               struct corio__ledger_follow **out, char *err, size_t errlen);
void corio__ledger_follow_stop(struct corio__ledger_follow *f);
void corio__ledger_follow_view(struct corio__ledger_follow *f, struct corio__ledger_view *v);

/* Figures for /metrics. */
struct corio__ledger_follow_stats {
    uint64_t polls, failures, exports, blocks;
    uint64_t head_height;
};
void corio__ledger_follow_stats(struct corio__ledger_follow *f,
                                struct corio__ledger_follow_stats *st);

#endif /* CORIO_CLOUD_DOWNLINK_INT_H */
