/*
 * senml.h - SenML (RFC 8428) packs in JSON and CBOR: the one encoder devices use and
 * the one decoder the gateway and the cloud use.
 *
 * A pack is an array of records. Devices write records with base fields (bn, bt, bu,
 * bv, bs, bver), a name, a unit, one value (v number, vs string, vb boolean, vd data)
 * and/or a sum, a time and an update time; the first record also carries Corio's
 * extension fields (docs/formats.md): "ep" (outbox epoch) and "seq" (sequence number),
 * and for a device without time "boot" (boot count) and "upt" (uptime in ms).
 * JSON uses RFC 8428's text labels, CBOR its integer labels (bver -1, bn -2, bt -3,
 * bu -4, bv -5, bs -6, n 0, u 1, v 2, vs 3, vb 4, s 5, t 6, ut 7, vd 8) and text
 * labels for the extension fields. Data values are base64url without padding in
 * JSON, byte strings in CBOR.
 *
 * Encoder: corio_senml_enc_init() over a caller buffer, corio_senml_enc_ext() for the
 * extension fields, corio_senml_enc_add() per record, corio_senml_enc_finish(). The
 * first error is kept (sticky) as in the CBOR encoder: check once at the end. The
 * encoder refuses (CORIO_ERR_INVAL) any record the decoder would refuse, so what it
 * writes always decodes. JSON numbers are the shortest text that reads back as the
 * same double (corio_json_fmt_double); CBOR numbers that are integers are written as
 * CBOR integers, others as the shortest exact float; decimals (CORIO_SENML_HAS_VDEC)
 * are written exactly, without floating point; CBOR output is deterministic
 * (RFC 8949 §4.2.1).
 *
 * Decoder: corio_senml_dec_init() over the message, then corio_senml_dec_next() hands
 * out one resolved record at a time (RFC 8428 §4.6: name = bn + n, time = bt + t,
 * value = bv + v, sum = bs + s, unit = u or else bu), with the record's strings in a
 * caller buffer or pointing into the message. The extension fields are available
 * right after init. The decoder refuses, with the error codes below:
 *   CORIO_ERR_MALFORMED    not JSON/CBOR, not an array of maps/objects, an empty pack,
 *                          a field of the wrong type, a known field twice in a record,
 *                          a record with no value and no sum or with two values, a name
 *                          breaking RFC 8428 §4.5.1 (characters A-Z a-z 0-9 - : . / _,
 *                          starting with a letter or digit; a record must have one), a
 *                          bver of 0 or differing from the pack's, a non-finite number,
 *                          bad base64url in vd, an extension field outside the first
 *                          record, "ep" without "seq" (or the reverse), "boot" without
 *                          "upt" (or the reverse), "seq" 0, trailing bytes;
 *   CORIO_ERR_VERSION      bver above 10 (a later SenML version);
 *   CORIO_ERR_UNSUPPORTED  a field whose label ends with '_' (must-understand, RFC 8428
 *                          §4.4), more records than the limit, a resolved name longer
 *                          than the limit, a number beyond a double (1e400, or a
 *                          resolved sum that overflows), too deep nesting in an unknown
 *                          field, CBOR indefinite-length strings or bignum mantissas;
 *   CORIO_ERR_NOSPACE      the caller's buffer cannot hold a record's strings.
 * Unknown fields whose labels do not end with '_' are ignored, as RFC 8428 requires.
 * A record that carries no value and no sum is refused, except a record of only base
 * and extension fields (as the first record of RFC 8428 §5.1.7's example): its base
 * fields apply to the records after it, and the iterator does not hand it out
 * (records keep their position in .index).
 * Every input is treated as hostile: the decoder never reads outside the message,
 * never recurses and allocates nothing.
 *
 * Times: RFC 8428 §4.5.3 makes times below 2^28 relative to "now" (the receiver's
 * time of receipt); the decoder reports them as relative so the caller can resolve
 * them against the gateway's receive time.
 */
#ifndef CORIO_SENML_H
#define CORIO_SENML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/cbor.h"
#include "corio/config.h"
#include "corio/error.h"
#include "corio/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most records corio_senml_dec_next() hands out from one pack by default; a
 * pack with more is refused (CORIO_ERR_UNSUPPORTED). See corio_senml_dec_limits(). */
#ifndef CORIO_SENML_MAX_RECORDS
#define CORIO_SENML_MAX_RECORDS 1024
#endif
/* The longest resolved name (bytes, without NUL) the decoder accepts by default and
 * the encoder writes. */
#ifndef CORIO_SENML_MAX_NAME
#define CORIO_SENML_MAX_NAME 128
#endif

/* 1 (default): the encoder writes doubles (CORIO_SENML_NUMBER and the numeric fields
 * bt, bv, bs, s, t, ut). 0: a device without floating point leaves that code out (no
 * soft-float or shortest-double formatting in its image); the encoder then refuses
 * the double v and the numeric fields with CORIO_ERR_UNSUPPORTED, and values go as
 * decimals (CORIO_SENML_HAS_VDEC). The decoder always reads doubles. */
#ifndef CORIO_SENML_FLOAT
#define CORIO_SENML_FLOAT 1
#endif

/* 1 (default): the encoder writes data values (CORIO_SENML_DATA, vd: base64url in
 * JSON, a byte string in CBOR). 0: a device that sends no binary values leaves that
 * code out; the encoder then refuses a CORIO_SENML_DATA record with
 * CORIO_ERR_UNSUPPORTED. The decoder always reads data values. */
#ifndef CORIO_SENML_VD
#define CORIO_SENML_VD 1
#endif

/* The SenML version this code implements (RFC 8428); bver above it is refused. */
#define CORIO_SENML_VERSION 10
/* Times below this are relative to the time of receipt (RFC 8428 §4.5.3). */
#define CORIO_SENML_RELATIVE_LIMIT 268435456.0

/* Corio's extension labels, first record only (docs/formats.md). Text in both JSON
 * and CBOR. None starts with 'b', which RFC 8428 §12.2 keeps for base fields. */
#define CORIO_SENML_LABEL_EPOCH "ep"
#define CORIO_SENML_LABEL_SEQ "seq"
#define CORIO_SENML_LABEL_BOOT "boot"
#define CORIO_SENML_LABEL_UPTIME "upt"

/* A payload encoding: the topic suffix up/json or up/cbor. */
enum corio_format {
    CORIO_FORMAT_JSON = 1,
    CORIO_FORMAT_CBOR = 2,
};

/* Which value a record carries. */
enum corio_senml_type {
    CORIO_SENML_NONE = 0, /* no value: the record carries a sum only */
    CORIO_SENML_NUMBER,   /* v */
    CORIO_SENML_STRING,   /* vs */
    CORIO_SENML_BOOL,     /* vb */
    CORIO_SENML_DATA,     /* vd */
};

/* A decimal number m * 10^e: a value as a device without floating point keeps it (a
 * temperature of 21.5 degrees read as 215 tenths is {215, -1}). The encoder takes it
 * for v with CORIO_SENML_HAS_VDEC and writes it exactly: in JSON as decimal text
 * ("21.5"), in CBOR as an integer when e is 0, else as a decimal fraction (tag 4
 * [e, m], which RFC 8428 §6 allows for numbers). The decoder hands it out as the
 * nearest double, like any number. */
struct corio_senml_decimal {
    int64_t m;
    int8_t e;
};

/* Corio's extension fields of a pack (its first record). */
struct corio_senml_ext {
    bool has_seq;  /* ep and seq are present (they come together) */
    uint64_t ep;   /* outbox epoch */
    uint64_t seq;  /* sequence number, >= 1 */
    bool has_boot; /* boot and upt are present (they come together) */
    uint64_t boot; /* boot count */
    uint64_t upt;  /* uptime at sampling, milliseconds */
};

/* ------------------------------------------------------------------------------ */
/* Encoder                                                                        */
/* ------------------------------------------------------------------------------ */

/* Flags of corio_senml_fields.has: which numeric fields are present. */
#define CORIO_SENML_HAS_BT (1u << 0)
#define CORIO_SENML_HAS_BV (1u << 1)
#define CORIO_SENML_HAS_BS (1u << 2)
#define CORIO_SENML_HAS_BVER (1u << 3)
#define CORIO_SENML_HAS_S (1u << 4)
#define CORIO_SENML_HAS_T (1u << 5)
#define CORIO_SENML_HAS_UT (1u << 6)
/* With type CORIO_SENML_NUMBER: the value is .vdec, not the double .v. */
#define CORIO_SENML_HAS_VDEC (1u << 7)

/*
 * The fields of one record as it is to be written. Zero-initialise it
 * (struct corio_senml_fields f = {0};) and set what the record carries: strings
 * are written when not NULL, numbers when their flag is in .has, the value as .type
 * says. The caller owns every pointer; the encoder copies what it writes.
 */
struct corio_senml_fields {
    const char *bn;        /* base name, NUL-terminated */
    const char *bu;        /* base unit */
    const char *n;         /* name */
    const char *u;         /* unit */
    unsigned has;          /* CORIO_SENML_HAS_* */
    double bt, bv, bs;     /* base time, base value, base sum */
    unsigned bver;         /* base version, 1..10 */
    double s, t, ut;       /* sum, time, update time */
    enum corio_senml_type type;
    double v;              /* NUMBER */
    struct corio_senml_decimal vdec; /* NUMBER with CORIO_SENML_HAS_VDEC */
    bool vb;               /* BOOL */
    const char *vs;        /* STRING: UTF-8, vs_len bytes (may hold NULs) */
    size_t vs_len;
    const uint8_t *vd;     /* DATA: vd_len bytes */
    size_t vd_len;
};

/* What an encoder writes to: the JSON writer over the caller's buffer, whose bytes the
 * CBOR calls append to as well (.w.out), and which format it writes. Private; the
 * heartbeat writes through it too. */
struct corio_senml_out {
    struct corio_json_w w;
    bool json;
};

/* An encoder. Caller-owned; its fields are private. */
struct corio_senml_enc {
    struct corio_senml_out out;
    struct corio_senml_ext ext;
    uint32_t records;
    size_t bn_len;     /* length of the base name in effect */
    char bn_first;     /* its first byte, 0 if none */
    bool bs_set;       /* a base sum is in effect */
    unsigned version;  /* the pack's version */
    int err;
};

/*
 * Starts a pack in fmt over buf[0..cap). buf == NULL counts bytes only (cap ignored),
 * so one pass can size the buffer for a second. The encoder borrows buf until
 * finish; it writes nothing outside it. An fmt other than JSON or CBOR makes the
 * encoder fail with CORIO_ERR_INVAL (sticky).
 */
void corio_senml_enc_init(struct corio_senml_enc *e, enum corio_format fmt, uint8_t *buf,
                          size_t cap);

/* Sets the extension fields written in the first record (copied). Call before the
 * first corio_senml_enc_add(); later calls fail with CORIO_ERR_STATE (sticky). A seq
 * of 0 is CORIO_ERR_INVAL (sticky). Returns the sticky error. */
int corio_senml_enc_ext(struct corio_senml_enc *e, const struct corio_senml_ext *x);

/*
 * Appends one record. Returns the sticky error: CORIO_OK; CORIO_ERR_NOSPACE when the
 * buffer is full; CORIO_ERR_INVAL for a record the decoder would refuse (no value and
 * no sum in effect, unless the record holds only base fields (or, first, only the
 * extension fields): no n, u, t or ut; an unknown type; a NULL vs or vd with a
 * non-zero length; a resolved name that is empty, longer than CORIO_SENML_MAX_NAME,
 * or breaks RFC 8428 §4.5.1; a string that is not UTF-8; a NaN or infinite number; bver outside 1..10 or
 * differing from an earlier record's); CORIO_ERR_UNSUPPORTED after more than
 * CORIO_SENML_MAX_RECORDS records, with CORIO_SENML_FLOAT 0 for a double v (a NUMBER
 * without CORIO_SENML_HAS_VDEC) or a numeric field (bt, bv, bs, s, t, ut), and with
 * CORIO_SENML_VD 0 for a CORIO_SENML_DATA record.
 */
int corio_senml_enc_add(struct corio_senml_enc *e, const struct corio_senml_fields *r);

/*
 * Closes the pack. Returns its length in bytes (>= 0), or the sticky error;
 * CORIO_ERR_INVAL for a pack without records (RFC 8428 gives an empty pack no
 * meaning and the extension fields need a first record). JSON output is not
 * NUL-terminated. Call it once.
 */
int corio_senml_enc_finish(struct corio_senml_enc *e);

/* ------------------------------------------------------------------------------ */
/* Decoder                                                                        */
/* ------------------------------------------------------------------------------ */

/* A resolved record (RFC 8428 §4.6) as corio_senml_dec_next() hands it out. Its
 * pointers point into the caller's buffer or into the message and stay valid until
 * the next call to corio_senml_dec_next() (and while both stay unchanged). */
struct corio_senml_record {
    uint32_t index;          /* position in the pack, from 0 */
    const char *name;        /* bn + n, NUL-terminated, in the caller's buffer */
    size_t name_len;
    const char *unit;        /* u, else bu, else "" (unit_len 0); not NUL-terminated */
    size_t unit_len;
    enum corio_senml_type type;
    double v;                /* NUMBER: bv + v */
    bool vb;                 /* BOOL */
    const char *vs;          /* STRING: UTF-8, not NUL-terminated, may hold NULs */
    size_t vs_len;
    const uint8_t *vd;       /* DATA: the decoded bytes */
    size_t vd_len;
    bool has_sum;            /* s or bs present */
    double sum;              /* bs + s */
    double time;             /* bt + t (0 when neither is present) */
    bool time_relative;      /* time < 2^28: seconds relative to the time of receipt */
    bool has_ut;
    double ut;               /* update time, seconds */
};

/* A string of the message: content and whether it holds JSON escapes. Private. */
struct corio_senml_str {
    const char *p;
    size_t n;
    bool esc;
};

/* A decoder. Caller-owned; its fields are private. */
struct corio_senml_dec {
    enum corio_format fmt;
    union corio_senml_in {
        struct corio_json json;
        struct corio_cbor_dec cbor;
    } in;
    uint64_t left;          /* CBOR: records left, or CORIO_CBOR_INDEFINITE */
    char *buf;
    size_t cap;
    struct corio_senml_str bn, bu;
    double bt, bv, bs;
    bool has_bt, has_bv, has_bs;
    unsigned version;
    uint32_t index;
    uint32_t max_records;
    size_t max_name;
    struct corio_senml_ext ext;
    int err;
    bool done;
};

/*
 * Starts decoding the pack msg[0..len) in fmt. buf[0..cap) is the caller's scratch
 * buffer for each record's name (always) and for strings that must be unescaped
 * (JSON) or decoded (vd in JSON); cap of CORIO_SENML_MAX_NAME + 1 holds any name. The
 * decoder borrows msg and buf, which must outlive it and the records it hands out.
 * Checks that the message starts a non-empty array and reads the first record ahead
 * for its extension fields (available from corio_senml_dec_ext()) and version.
 * Returns CORIO_OK, or an error listed at the top of this file met in the array head
 * or in reading the first record, its extension fields or its version (kept as the
 * decoder's sticky error; the rest of the first record is checked by the first
 * corio_senml_dec_next()); CORIO_ERR_INVAL for a NULL or empty buf, a NULL msg with
 * len > 0, or an unknown fmt.
 */
int corio_senml_dec_init(struct corio_senml_dec *d, enum corio_format fmt, const uint8_t *msg,
                         size_t len, char *buf, size_t cap);

/* Changes the limits after init and before the first record: the most records
 * (0 = none allowed) and the longest resolved name. Defaults: CORIO_SENML_MAX_RECORDS
 * and CORIO_SENML_MAX_NAME. */
void corio_senml_dec_limits(struct corio_senml_dec *d, uint32_t max_records, size_t max_name);

/* The pack's extension fields (all false/0 when absent). Valid after a successful
 * init. */
const struct corio_senml_ext *corio_senml_dec_ext(const struct corio_senml_dec *d);

/* The pack's SenML version: its bver, else 10. */
unsigned corio_senml_dec_version(const struct corio_senml_dec *d);

/*
 * Resolves the next record into *r. Returns 1 with a record, 0 when the pack has
 * ended (and nothing follows it in the message), or a negative error listed at the
 * top of this file. Errors are sticky: every later call returns the same error.
 * Records handed out before an error were valid, but the pack as a whole is not:
 * a caller that must be all-or-nothing stores records only after reaching 0.
 */
int corio_senml_dec_next(struct corio_senml_dec *d, struct corio_senml_record *r);

/* Whether s[0..n) is a valid resolved name (RFC 8428 §4.5.1): non-empty, characters
 * A-Z a-z 0-9 - : . / _ only, starting with a letter or digit. */
bool corio_senml_name_valid(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_SENML_H */
