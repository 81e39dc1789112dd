/*
 * cloud_int.h - declarations shared by the files of the corio_cloud library and not
 * part of its interface: the payload decoders ingest uses (SenML, heartbeat,
 * presence), base64url, and the did:key parser of the registry file.
 *
 * The SenML decoder here (senml_json.c, jansson) stands in until the SDK's portable
 * decoder (include/corio/senml.h) lands; ingest reaches it only through
 * corio__senml_decode, so switching means changing that one function.
 */
#ifndef CORIO_CLOUD_INT_H
#define CORIO_CLOUD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* Limits on what one message may carry. */
#define CORIO_SENML_MAX_RECORDS 1024
#define CORIO_SENML_MAX_STR     4096 /* bytes of a string or data value */

/* One SenML record, resolved: full name without the device's base name, absolute time. */
struct corio__senml_rec {
    char name[CORIO_METRIC_MAX + 1];
    char unit[CORIO_UNIT_MAX + 1];
    int64_t t_ms;
    struct corio_value value; /* str / data point to own */
    uint8_t *own;             /* malloc'd string or data bytes, or NULL */
};

/* A decoded SenML pack (RFC 8428) with Corio's extension fields (docs/formats.md). */
struct corio__senml_pack {
    bool has_seq; /* the first record carried ep and seq */
    int64_t epoch, seq;
    size_t n;
    struct corio__senml_rec *recs; /* n records, malloc'd */
};

/* Payload encodings of a device message, chosen by its topic suffix. */
enum corio__senml_format {
    CORIO__SENML_JSON, /* up/json */
    CORIO__SENML_CBOR, /* up/cbor */
};

/*
 * Decodes a SenML pack of device `device` received at recv_ms (relative SenML times
 * resolve against it). Names are the base name plus name; the prefix
 * "urn:corio:<device>:" is removed, and a name under another device's URN is refused.
 * All or nothing: on any error *p is empty and why says what was wrong.
 * Returns CORIO_OK; CORIO_ERR_MALFORMED (not a valid pack: the reason is in why);
 * CORIO_ERR_UNSUPPORTED (a format this build cannot decode yet: SenML CBOR until the
 * SDK's decoder lands); CORIO_ERR_NOSPACE.
 */
int corio__senml_decode(enum corio__senml_format fmt, const uint8_t *buf, size_t len,
                        const char *device, int64_t recv_ms, struct corio__senml_pack *p, char *why,
                        size_t whylen);

/* The jansson decoder behind corio__senml_decode for JSON (senml_json.c). */
int corio__senml_decode_json(const uint8_t *buf, size_t len, const char *device, int64_t recv_ms,
                             struct corio__senml_pack *p, char *why, size_t whylen);

/* Frees the records of p and empties it. */
void corio__senml_pack_free(struct corio__senml_pack *p);

/* True when s is a SenML name (RFC 8428 §4.5.1): [A-Za-z0-9][-:./A-Za-z0-9_]*. */
bool corio__senml_name_ok(const char *s, size_t len);

/* A heartbeat (docs/formats.md), from its JSON object or CBOR map. */
struct corio__heartbeat {
    int64_t epoch, last, pending, drops;
    bool has_boot;
    int64_t boot, uptime_s;
};

/* Returns CORIO_OK or CORIO_ERR_MALFORMED with the reason in why. */
int corio__heartbeat_decode(const uint8_t *buf, size_t len, struct corio__heartbeat *hb, char *why,
                            size_t whylen);

/* A presence record of the gateway plugin: {"online": bool, "connections": n}.
 * Returns CORIO_OK or CORIO_ERR_MALFORMED with the reason in why. */
int corio__presence_decode(const uint8_t *buf, size_t len, bool *online, char *why, size_t whylen);

/*
 * base64url (RFC 4648 §5) without padding, as SenML's vd uses; decode also accepts
 * padding. encode writes a NUL-terminated string into out (4 * ceil(len / 3) + 1 bytes
 * suffice) and returns its length; decode returns the byte count, or
 * CORIO_ERR_MALFORMED, or CORIO_ERR_NOSPACE when out is too small.
 */
size_t corio__b64url_encode(const uint8_t *in, size_t len, char *out);
int corio__b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* A value as JSON: a number, a string, a boolean, or data as a base64url string (as
 * SenML JSON writes vd). A new reference, or NULL when memory ran out. */
json_t *corio__value_json(const struct corio_value *v);

/*
 * Parses "did:key:zDn..." (multicodec p256-pub 0x1200 over a compressed point,
 * base58btc) into the 65-byte uncompressed point. Returns CORIO_OK or
 * CORIO_ERR_MALFORMED.
 */
int corio__didkey_parse(const char *s, uint8_t pub[65]);

#endif /* CORIO_CLOUD_INT_H */
