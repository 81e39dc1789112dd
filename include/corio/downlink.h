/*
 * downlink.h - the device-bound payloads of the downlink and the device's answers
 * (docs/formats.md, "Commands and results", "Device twin"): a command on dn/cmd, its
 * result on up/res, the desired configuration on dn/cfg and the reported configuration
 * on up/cfg. Device-bound payloads are CBOR (DESIGN.md §1: an MCU has no JSON parser).
 *
 * Every payload is a CBOR map with short text keys, the command in exactly the form the
 * gateway's rules engine sends (docs/edge-rules.md): {"cid", "exp", "seq", "args",
 * "name"}. The device's answers go through its outbox, so they carry the outbox's
 * (epoch, seq) as "ep" and "seq", as SenML packs do: the cloud stores them under that
 * identity and counts them in the device's sequence, so they never look like a gap.
 *
 * Encoders write deterministic CBOR (RFC 8949 §4.2.1) into a caller buffer (buf NULL:
 * count only) and return the length, CORIO_ERR_NOSPACE or CORIO_ERR_INVAL (a field out
 * of its range). Decoders read hostile input in place: the views they return point into
 * the caller's buffer. They take a definite-length map of at most
 * CORIO_DL_MAX_PAIRS pairs with text keys, each known key at most once, and ignore
 * unknown keys (a later version may add some; one that changes a meaning changes
 * "v"). They return CORIO_OK; CORIO_ERR_MALFORMED (not such a map, a known key of the
 * wrong type or range, a required key missing, trailing bytes); CORIO_ERR_VERSION ("v"
 * present and not 1); CORIO_ERR_INVAL (NULL arguments). Their output is unspecified
 * on error. No heap, no OS, C99.
 */
#ifndef CORIO_DOWNLINK_H
#define CORIO_DOWNLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the payloads of this header ("v"; absent in a command means 1). */
#define CORIO_DL_VERSION 1
/* Most key/value pairs a decoder takes in one payload. */
#define CORIO_DL_MAX_PAIRS 16
/* Correlation ids are 1..CORIO_CMD_CID_MAX bytes (the cloud and the rules use 16). */
#define CORIO_CMD_CID_MAX 32
/* Command names are 1..CORIO_CMD_NAME_MAX of A-Z a-z 0-9 _ . - */
#define CORIO_CMD_NAME_MAX 64

/* A command (dn/cmd). */
struct corio_cmd {
    const uint8_t *cid; /* correlation id, cid_len bytes: names the command end to end */
    size_t cid_len;
    uint64_t exp_ms;  /* expiry, ms since 1970: not to be run after it */
    uint64_t seq;     /* the sender's sequence number, >= 1 */
    const char *name; /* name_len bytes, not NUL-terminated */
    size_t name_len;
    const uint8_t *args; /* the arguments: one CBOR item, or NULL (args_len 0): none */
    size_t args_len;
};

/* A command's payload, as the file comment says encoders and decoders behave: cid
 * 1..CORIO_CMD_CID_MAX bytes, seq >= 1, a valid name, args one well-formed item or none;
 * exp, cid, seq and name are required when decoding. */
int corio_cmd_encode(const struct corio_cmd *c, uint8_t *buf, size_t cap);
int corio_cmd_decode(const uint8_t *buf, size_t len, struct corio_cmd *c);

/* True when s[0..n) is a valid command name. */
bool corio_cmd_name_ok(const char *s, size_t n);

/* What became of a command (up/res "st"). */
enum corio_cmd_status {
    CORIO_CMD_DONE = 0,    /* the handler ran and succeeded */
    CORIO_CMD_FAILED = 1,  /* the handler ran and returned an error ("err") */
    CORIO_CMD_EXPIRED = 2, /* it arrived after its expiry: not run */
    CORIO_CMD_UNKNOWN = 3, /* no handler of that name: not run */
    CORIO_CMD_STATUS_MAX = 3
};

/* A command's result (up/res). */
struct corio_cmd_result {
    bool has_id;    /* the device's outbox identity is present ("ep", "seq") */
    uint64_t epoch; /* the outbox epoch and sequence number of this message */
    uint64_t seq;
    const uint8_t *cid; /* the command's correlation id */
    size_t cid_len;
    uint8_t status;     /* enum corio_cmd_status */
    int32_t err;        /* CORIO_OK, or the handler's negative corio_err */
    const uint8_t *res; /* the handler's result: one CBOR item, or NULL (res_len 0) */
    size_t res_len;
};

/* A result's payload: "v" always written (and required when decoding), status up to
 * CORIO_CMD_STATUS_MAX, err <= 0, res one well-formed item or none. */
int corio_cmd_result_encode(const struct corio_cmd_result *r, uint8_t *buf, size_t cap);
int corio_cmd_result_decode(const uint8_t *buf, size_t len, struct corio_cmd_result *r);

/* The desired configuration (dn/cfg): a version the sender raises with every change,
 * and the configuration itself, a CBOR map. */
struct corio_cfg_desired {
    uint64_t version;   /* >= 1 */
    const uint8_t *cfg; /* one CBOR map */
    size_t cfg_len;
};

/* The desired configuration's payload: version >= 1, cfg one well-formed map. */
int corio_cfg_desired_encode(const struct corio_cfg_desired *c, uint8_t *buf, size_t cap);
int corio_cfg_desired_decode(const uint8_t *buf, size_t len, struct corio_cfg_desired *c);

/* What the device did with a desired configuration (up/cfg "st"). */
enum corio_cfg_status {
    CORIO_CFG_APPLIED = 0, /* it runs the desired configuration */
    CORIO_CFG_REFUSED = 1, /* it refused it ("err") and runs "cfg" */
};

/* The reported configuration (up/cfg). */
struct corio_cfg_reported {
    bool has_id; /* "ep" and "seq", as in struct corio_cmd_result */
    uint64_t epoch, seq;
    uint64_t version;   /* the desired version this answers; 0: none (a report of its own) */
    uint8_t status;     /* enum corio_cfg_status */
    int32_t err;        /* CORIO_OK, or why it refused */
    const uint8_t *cfg; /* the configuration the device runs: one CBOR map, or NULL */
    size_t cfg_len;
};

/* The reported configuration's payload: status applied or refused, err <= 0, cfg one
 * well-formed map or none. */
int corio_cfg_reported_encode(const struct corio_cfg_reported *c, uint8_t *buf, size_t cap);
int corio_cfg_reported_decode(const uint8_t *buf, size_t len, struct corio_cfg_reported *c);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_DOWNLINK_H */
