/*
 * topic.h - the MQTT topics of DESIGN.md §4, built and parsed in one place.
 *
 *   corio/v1/d/{id}/up/json | up/cbor | up/evt | up/hb | up/res | up/cfg | up/ota
 *   corio/v1/d/{id}/dn/cmd  | dn/cfg  | dn/ota | dn/time
 *   corio/v1/g/{gw}/batch   | ack     | down   | state
 *
 * {id} and {gw} are short ids: the 24-character lowercase base32 (RFC 4648 alphabet
 * a-z 2-7, no padding) of 15 bytes (DESIGN.md §3). 15 bytes are exactly 24 base32
 * characters, so every 24-character string of the alphabet is a valid short id.
 * CoAP devices use the device suffixes as resource paths, d/{id}/up/...; the
 * corio_topic_parse_path() variant reads those.
 *
 * Parsing is exact: the prefix, one valid short id, and a suffix of the table for
 * that kind of sender; no extra or empty levels, no wildcards.
 */
#ifndef CORIO_TOPIC_H
#define CORIO_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_SHORT_ID_LEN 24
/* Bytes the longest topic takes, NUL included. */
#define CORIO_TOPIC_MAX 48

/* A topic of the table; the first group is under d/{id}, the last under g/{gw}. */
enum corio_topic_kind {
    CORIO_TOPIC_UP_JSON, /* up/json: SenML JSON */
    CORIO_TOPIC_UP_CBOR, /* up/cbor: SenML CBOR */
    CORIO_TOPIC_UP_EVT,  /* up/evt: event or log line */
    CORIO_TOPIC_UP_HB,   /* up/hb: heartbeat */
    CORIO_TOPIC_UP_RES,  /* up/res: command result */
    CORIO_TOPIC_UP_CFG,  /* up/cfg: reported configuration */
    CORIO_TOPIC_UP_OTA,  /* up/ota: OTA outcome report */
    CORIO_TOPIC_DN_CMD,  /* dn/cmd: command */
    CORIO_TOPIC_DN_CFG,  /* dn/cfg: desired configuration */
    CORIO_TOPIC_DN_OTA,  /* dn/ota: OTA offer */
    CORIO_TOPIC_DN_TIME, /* dn/time: time */
    CORIO_TOPIC_G_BATCH, /* batch: signed batch, gateway to cloud */
    CORIO_TOPIC_G_ACK,   /* ack: application ack, cloud to gateway */
    CORIO_TOPIC_G_DOWN,  /* down: downlink, cloud to gateway */
    CORIO_TOPIC_G_STATE, /* state: gateway status */
    CORIO_TOPIC_DN_RESEND, /* dn/resend: the gateway asks for messages again (after the
                              device kinds in meaning, last in number so none moved) */
    CORIO_TOPIC_COUNT
};

/* A parsed topic. */
struct corio_topic {
    enum corio_topic_kind kind;
    char id[CORIO_SHORT_ID_LEN + 1]; /* the device's or gateway's short id, NUL-terminated */
};

/* Whether s[0..n) is a short id: exactly 24 characters of a-z and 2-7. */
bool corio_short_id_valid(const char *s, size_t n);

/* Whether kind names a topic under d/{id} (else under g/{gw}): the kinds up to
 * CORIO_TOPIC_DN_TIME, and CORIO_TOPIC_DN_RESEND. */
bool corio_topic_is_device(enum corio_topic_kind kind);

/* The suffix after the id ("up/json", "batch", ...), as the gateway outbox and the
 * batches store it; NULL for an unknown kind. */
const char *corio_topic_suffix(enum corio_topic_kind kind);

/* The kind of the device suffix s[0..n) ("up/json", "dn/cmd", ...), or
 * CORIO_ERR_NOTFOUND. */
int corio_topic_suffix_kind(const char *s, size_t n);

/*
 * Writes the topic of kind for the short id id (NUL-terminated) into out[0..cap),
 * NUL-terminated. id NULL writes the single-level wildcard '+' in its place, for a
 * subscription filter ("corio/v1/d/+/up/json"). Returns the length (without NUL),
 * CORIO_ERR_INVAL for an unknown kind or an id that is not a short id, or
 * CORIO_ERR_NOSPACE (CORIO_TOPIC_MAX always suffices).
 */
int corio_topic_build(enum corio_topic_kind kind, const char *id, char *out, size_t cap);

/*
 * Parses topic[0..len) into *t. Returns CORIO_OK; CORIO_ERR_MALFORMED if it is not
 * corio/v1/d/{id}/... or corio/v1/g/{gw}/... with a valid short id; CORIO_ERR_NOTFOUND
 * if the prefix and id are right but the suffix is not one of the table for that
 * kind of sender. *t is unchanged on error.
 */
int corio_topic_parse(const char *topic, size_t len, struct corio_topic *t);

/* The same for a CoAP resource path without the leading "corio/v1/": d/{id}/up/json
 * (device suffixes only). */
int corio_topic_parse_path(const char *path, size_t len, struct corio_topic *t);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_TOPIC_H */
