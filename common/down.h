/*
 * down.h - the cloud-to-gateway downlink container (corio/v1/g/{gw}/down) and the
 * gateway's state message (corio/v1/g/{gw}/state), docs/formats.md: the codecs that
 * corio-cloud and corio-gateway share, and the signatures around them.
 *
 * A down container carries items of four kinds to one gateway: a command for one of its
 * devices (the dn/cmd payload), a desired configuration (the dn/cfg payload), a registry
 * update relayed from the ledger (height, base height, the changed registry lines, the
 * ledger blocks and a signed tree head), and the cloud's time. It is a COSE_Sign1 signed
 * by the cloud's downlink key (kid: its 33-byte compressed point), external AAD
 * "corio-down-v1": a gateway acts only on what the cloud it trusts signed, whoever else
 * can publish on its topic.
 *
 * The state message tells the cloud what the gateway holds: its registry height and the
 * height it wants relays from, the commands it delivered, its queue. It is a COSE_Sign1
 * signed by the gateway's key like a batch (kid "did:corio:<gw>#<n>"), AAD
 * "corio-state-v1".
 *
 * Decoders take hostile input: deterministic CBOR, the exact keys, bounded counts and
 * sizes; views point into the caller's buffer, arrays are allocated (free with the
 * matching _free). Errors: CORIO_ERR_MALFORMED (not the format), CORIO_ERR_VERSION,
 * CORIO_ERR_POLICY (well-formed, but a rule broken: a bad id, a payload of an item that
 * does not decode, a count or size over its bound), CORIO_ERR_NOSPACE (memory), with the
 * reason in why.
 */
#ifndef CORIO_COMMON_DOWN_H
#define CORIO_COMMON_DOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"
#include "corio/downlink.h"

#define CORIO_DOWN_VERSION  1
#define CORIO_STATE_VERSION 1
#define CORIO_DOWN_AAD      "corio-down-v1"
#define CORIO_STATE_AAD     "corio-state-v1"

/* Bounds of one container. */
#define CORIO_DOWN_MAX_ITEMS   4096
#define CORIO_DOWN_MAX_PAYLOAD (64u << 10) /* a command's or configuration's bytes */
#define CORIO_DOWN_MAX_UPDATE  (16u << 20) /* registry lines of one update */
#define CORIO_DOWN_MAX_BLOCKS  4096        /* ledger blocks of one update */
#define CORIO_DOWN_MAX_BLOCK   (8u << 20)  /* bytes of one block */
#define CORIO_DOWN_MAX_STH     512         /* bytes of a signed tree head */
#define CORIO_STATE_MAX_CIDS   4096        /* delivered commands in one state message */

enum corio_down_kind {
    CORIO_DOWN_COMMAND = 1,
    CORIO_DOWN_CONFIG = 2,
    CORIO_DOWN_REGISTRY = 3,
    CORIO_DOWN_TIME = 4,
};

/* A byte string inside a decoder's input. */
struct corio_bytes {
    const uint8_t *p;
    size_t n;
};

struct corio_down_item {
    enum corio_down_kind kind;
    /* COMMAND, CONFIG: the device (short id) and the payload for its dn/cmd or dn/cfg,
     * which the decoder has checked decodes (include/corio/downlink.h). */
    char device[25];
    struct corio_bytes payload;
    /* REGISTRY: the registry after this update is at height; it applies to a registry
     * at base (0: a whole registry, from nothing); update holds the changed lines
     * (docs/formats.md); blocks are the ledger's blocks from base+1 (from height itself
     * when base is 0) to top, in order (top >= height), and sth the signed tree head of
     * top. */
    uint64_t height, base;
    struct corio_bytes update;
    struct corio_bytes *blocks; /* nblocks, allocated */
    size_t nblocks;
    struct corio_bytes sth;
    /* TIME: the cloud's clock when it made the container, ms since 1970. */
    uint64_t time_ms;
};

struct corio_down {
    char gateway[25]; /* the addressee */
    uint64_t made_ms;
    struct corio_down_item *items; /* nitems, allocated by decode */
    size_t nitems;
};

/* Encodes d (deterministic CBOR) into buf; buf NULL counts. Returns the length,
 * CORIO_ERR_NOSPACE or CORIO_ERR_INVAL (a field the decoder would refuse). */
int64_t corio_down_encode(const struct corio_down *d, uint8_t *buf, size_t cap);

/* Decodes a container payload; on CORIO_OK *d points into buf and owns its arrays. */
int corio_down_decode(const uint8_t *buf, size_t len, struct corio_down *d, char *why,
                      size_t whylen);
void corio_down_free(struct corio_down *d);

/* Signs a container payload with the cloud's key into a COSE_Sign1 (malloc'd *out).
 * Returns CORIO_OK, CORIO_ERR_NOSPACE or the signing errors. */
int corio_down_seal(const struct corio_key *key, const uint8_t *payload, size_t len, uint8_t **out,
                    size_t *outlen);

/* Verifies a sealed container with the cloud's public key (33 or 65 bytes) and decodes
 * it. Returns CORIO_OK; CORIO_ERR_BADSIG (another key, or a bad signature);
 * CORIO_ERR_MALFORMED; the errors of corio_down_decode; with the reason in why. */
int corio_down_open(const struct corio_crypto_ops *ops, const uint8_t *wire, size_t len,
                    const uint8_t *pub, size_t pub_len, struct corio_down *d, char *why,
                    size_t whylen);

/* A command the gateway delivered to its device. */
struct corio_state_cid {
    char device[25];
    uint8_t cid[CORIO_CMD_CID_MAX];
    size_t cid_len;
};

struct corio_gw_state {
    char gateway[25];
    uint64_t made_ms;
    uint64_t registry_height;          /* the height of the registry file it runs */
    uint64_t want;                     /* 0, or: send registry updates from this base height */
    uint64_t queued;                   /* downlink items waiting in its queue */
    uint64_t online;                   /* devices it counts as online */
    struct corio_state_cid *delivered; /* ndelivered, allocated by decode */
    size_t ndelivered;
};

int64_t corio_state_encode(const struct corio_gw_state *s, uint8_t *buf, size_t cap);
int corio_state_decode(const uint8_t *buf, size_t len, struct corio_gw_state *s, char *why,
                       size_t whylen);
void corio_state_free(struct corio_gw_state *s);

/* Signs a state payload with the gateway's key (kid "did:corio:<gw>#<key_number>").
 * Returns CORIO_OK, CORIO_ERR_INVAL, CORIO_ERR_NOSPACE or the signing errors. */
int corio_state_seal(const struct corio_key *key, const char *gateway, unsigned key_number,
                     const uint8_t *payload, size_t len, uint8_t **out, size_t *outlen);

/* Verifies a sealed state message with the gateway's key and decodes it; the message
 * must name the gateway of the kid, and the kid's key number must be key_number.
 * Returns as corio_down_open (CORIO_ERR_POLICY: another gateway or key number). */
int corio_state_open(const struct corio_crypto_ops *ops, const uint8_t *wire, size_t len,
                     const uint8_t *pub, size_t pub_len, unsigned key_number,
                     struct corio_gw_state *s, char *why, size_t whylen);

#endif /* CORIO_COMMON_DOWN_H */
