/*
 * cloud_int.h - declarations shared by the files of the corio_cloud library and not
 * part of its interface: the payload decoders ingest uses (SenML, heartbeat,
 * presence), and values as JSON.
 *
 * SenML and heartbeats are decoded by the SDK (include/corio/senml.h, heartbeat.h);
 * the functions here add what storage needs: all-or-nothing packs, metric names
 * without the device's URN, absolute times, and reasons for rejections.
 */
#ifndef CORIO_CLOUD_INT_H
#define CORIO_CLOUD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* The longest string or data value stored (bytes); a longer one rejects its message.
 * A pack holds at most CORIO_SENML_MAX_RECORDS records (include/corio/senml.h). */
#define CORIO_SENML_MAX_STR 4096

/* One SenML record, resolved: full name without the device's base name, absolute time. */
struct corio__cloud_senml_rec {
    char name[CORIO_METRIC_MAX + 1];
    char unit[CORIO_UNIT_MAX + 1];
    int64_t t_ms;
    struct corio_value value; /* str / data point to own */
    uint8_t *own;             /* malloc'd string or data bytes, or NULL */
    bool rel;                 /* the time came from the receive time (relative or none) */
};

/* A decoded SenML pack (RFC 8428) with Corio's extension fields (docs/formats.md). */
struct corio__cloud_senml_pack {
    bool has_seq; /* the first record carried ep and seq */
    int64_t epoch, seq;
    bool has_boot; /* the first record carried boot and upt: a device without time */
    uint64_t boot, upt_ms;
    size_t n;
    struct corio__cloud_senml_rec *recs; /* n records, malloc'd */
};

/* Payload encodings of a device message, chosen by its topic suffix. */
enum corio__cloud_senml_format {
    CORIO__CLOUD_SENML_JSON, /* up/json */
    CORIO__CLOUD_SENML_CBOR, /* up/cbor */
};

/*
 * Decodes a SenML pack of device `device` received at recv_ms (relative SenML times
 * resolve against it) with the SDK's decoder. Names are the base name plus name; the
 * prefix "urn:corio:<device>:" is removed, and a name under another device's URN is
 * refused. All or nothing: on any error *p is empty and why says what was wrong.
 * Returns CORIO_OK; CORIO_ERR_MALFORMED (not a pack this cloud stores: the reason is in
 * why; retrying cannot help); CORIO_ERR_NOSPACE (out of memory: the batch may be
 * retried).
 */
int corio__cloud_senml_decode(enum corio__cloud_senml_format fmt, const uint8_t *buf, size_t len,
                              const char *device, int64_t recv_ms,
                              struct corio__cloud_senml_pack *p, char *why, size_t whylen);

/* Frees the records of p and empties it. */
void corio__cloud_senml_pack_free(struct corio__cloud_senml_pack *p);

/* True when s is a SenML name (RFC 8428 §4.5.1): [A-Za-z0-9][-:./A-Za-z0-9_]*. */
bool corio__cloud_senml_name_ok(const char *s, size_t len);

/* A heartbeat (docs/formats.md), every field within int64_t and pending <= last. */
struct corio__cloud_heartbeat {
    int64_t epoch, last, pending, drops;
    int64_t boot, uptime_s;
};

/* Decodes a JSON object or a CBOR map (told apart by the first byte). Returns CORIO_OK
 * or CORIO_ERR_MALFORMED with the reason in why. */
int corio__cloud_heartbeat_decode(const uint8_t *buf, size_t len, struct corio__cloud_heartbeat *hb,
                                  char *why, size_t whylen);

/* A presence record of the gateway plugin: {"online": bool, "connections": n}.
 * Returns CORIO_OK or CORIO_ERR_MALFORMED with the reason in why. */
int corio__cloud_presence_decode(const uint8_t *buf, size_t len, bool *online, char *why,
                                 size_t whylen);

/* A value as JSON: a number, a string, a boolean, or data as a base64url string (as
 * SenML JSON writes vd). A new reference, or NULL when memory ran out. */
json_t *corio__cloud_value_json(const struct corio_value *v);

#endif /* CORIO_CLOUD_INT_H */
