/*
 * heartbeat.h - a device's heartbeat (topic suffix up/hb), in JSON or CBOR.
 *
 * docs/formats.md fixes the payload: a JSON object, or a CBOR map with the same text
 * keys, {"up": uptime in seconds, "bc": boot count, "ep": outbox epoch, "last": the
 * last sequence number assigned, "pending": outbox entries not yet acknowledged,
 * "drops": entries the outbox has dropped, ever}. Every value is an unsigned integer
 * and every key is required. Heartbeats are not outbox entries and carry no sequence
 * number of their own; the cloud counts last - pending - (highest stored seq), when
 * positive, as a tail gap.
 *
 * The encoder writes the keys in the order above in JSON and in deterministic order
 * (RFC 8949 §4.2.1) in CBOR. The decoder accepts the keys in any order, ignores keys
 * it does not know (so a later version may add some), and refuses a missing or
 * repeated key, a value that is not an unsigned integer (in JSON: written without a
 * fraction or exponent), anything after the object, and any input that is not JSON or
 * CBOR. Nothing allocates.
 */
#ifndef CORIO_HEARTBEAT_H
#define CORIO_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#include "corio/error.h"
#include "corio/senml.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most bytes a heartbeat takes in either format (every field at UINT64_MAX). */
#define CORIO_HEARTBEAT_MAX 192

struct corio_heartbeat {
    uint64_t uptime_s; /* "up" */
    uint64_t boot;     /* "bc" */
    uint64_t epoch;    /* "ep" */
    uint64_t last_seq; /* "last" */
    uint64_t pending;  /* "pending" */
    uint64_t drops;    /* "drops" */
};

/*
 * Writes hb in fmt into buf[0..cap); buf == NULL only counts (cap ignored). Returns the
 * length, CORIO_ERR_NOSPACE if buf is too small (its contents are then unspecified),
 * or CORIO_ERR_INVAL for an unknown fmt. JSON output is not NUL-terminated.
 */
int corio_heartbeat_encode(enum corio_format fmt, const struct corio_heartbeat *hb,
                           uint8_t *buf, size_t cap);

/*
 * Reads a heartbeat in fmt from msg[0..len) into *hb (unchanged on error). Returns
 * CORIO_OK; CORIO_ERR_MALFORMED for anything but one object/map holding the six keys
 * once each with unsigned integer values; CORIO_ERR_UNSUPPORTED for a value above
 * 2^64 - 1 or nesting too deep in an unknown key's value; CORIO_ERR_INVAL for an
 * unknown fmt or a NULL msg with len > 0.
 */
int corio_heartbeat_decode(enum corio_format fmt, const uint8_t *msg, size_t len,
                           struct corio_heartbeat *hb);

/*
 * Which format a heartbeat on up/hb is in (the topic does not say): CBOR when the first
 * byte is a CBOR map head (0xa0..0xbf, which no JSON text starts with), else JSON.
 * Decoding then decides whether it really is one.
 */
enum corio_format corio_heartbeat_sniff(const uint8_t *msg, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_HEARTBEAT_H */
