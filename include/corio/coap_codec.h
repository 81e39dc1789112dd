/*
 * coap_codec.h - CoAP messages (RFC 7252) and the options Corio uses from RFC 7641
 * (Observe) and RFC 7959 (Block1, Block2, Size1, Size2): a strict decoder, an option
 * iterator, a writer that builds a message into a caller buffer, and helpers for the
 * option values (unsigned integers, block options, paths and queries).
 *
 * The codec never allocates and never copies: the writer works in a caller-supplied
 * buffer, the decoder returns views (pointer + length) into the caller's datagram,
 * valid as long as those bytes are. Every input is hostile: a datagram that breaks a
 * rule of RFC 7252 §3 is refused whole (CORIO_ERR_MALFORMED), never half-decoded.
 *
 * Client state (message ids, tokens, retransmission, block-wise transfers,
 * observations) lives in coap.h, not here.
 */
#ifndef CORIO_COAP_CODEC_H
#define CORIO_COAP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message types (RFC 7252 §3). */
enum corio_coap_type {
    CORIO_COAP_CON = 0, /* confirmable */
    CORIO_COAP_NON = 1, /* non-confirmable */
    CORIO_COAP_ACK = 2, /* acknowledgement */
    CORIO_COAP_RST = 3, /* reset */
};

/* A code is a 3-bit class and a 5-bit detail: "c.dd" is CORIO_COAP_CODE(c, dd). */
#define CORIO_COAP_CODE(c, dd)  ((uint8_t)(((c) << 5) | (dd)))
#define CORIO_COAP_CLASS(code)  ((uint8_t)((code) >> 5))
#define CORIO_COAP_DETAIL(code) ((uint8_t)((code)&0x1Fu))

/* The codes the SDK names (RFC 7252 §12.1, RFC 7959 §2.9, RFC 8132). */
enum corio_coap_code {
    CORIO_COAP_EMPTY = 0x00,
    CORIO_COAP_GET = 0x01,
    CORIO_COAP_POST = 0x02,
    CORIO_COAP_PUT = 0x03,
    CORIO_COAP_DELETE = 0x04,
    CORIO_COAP_FETCH = 0x05,
    CORIO_COAP_PATCH = 0x06,
    CORIO_COAP_IPATCH = 0x07,
    CORIO_COAP_CREATED = 0x41,                   /* 2.01 */
    CORIO_COAP_DELETED = 0x42,                   /* 2.02 */
    CORIO_COAP_VALID = 0x43,                     /* 2.03 */
    CORIO_COAP_CHANGED = 0x44,                   /* 2.04: the gateway committed the message */
    CORIO_COAP_CONTENT = 0x45,                   /* 2.05 */
    CORIO_COAP_CONTINUE = 0x5F,                  /* 2.31 (RFC 7959) */
    CORIO_COAP_BAD_REQUEST = 0x80,               /* 4.00 */
    CORIO_COAP_UNAUTHORIZED = 0x81,              /* 4.01 */
    CORIO_COAP_BAD_OPTION = 0x82,                /* 4.02 */
    CORIO_COAP_FORBIDDEN = 0x83,                 /* 4.03 */
    CORIO_COAP_NOT_FOUND = 0x84,                 /* 4.04 */
    CORIO_COAP_METHOD_NOT_ALLOWED = 0x85,        /* 4.05 */
    CORIO_COAP_NOT_ACCEPTABLE = 0x86,            /* 4.06 */
    CORIO_COAP_REQUEST_ENTITY_INCOMPLETE = 0x88, /* 4.08 (RFC 7959) */
    CORIO_COAP_PRECONDITION_FAILED = 0x8C,       /* 4.12 */
    CORIO_COAP_REQUEST_ENTITY_TOO_LARGE = 0x8D,  /* 4.13 */
    CORIO_COAP_UNSUPPORTED_FORMAT = 0x8F,        /* 4.15 */
    CORIO_COAP_INTERNAL_ERROR = 0xA0,            /* 5.00 */
    CORIO_COAP_SERVICE_UNAVAILABLE = 0xA3,       /* 5.03 */
    CORIO_COAP_GATEWAY_TIMEOUT = 0xA4,           /* 5.04 */
};

/* Option numbers (RFC 7252 §12.2, RFC 7641, RFC 7959). Odd numbers are critical. */
enum corio_coap_option_number {
    CORIO_COAP_OPT_IF_MATCH = 1,
    CORIO_COAP_OPT_URI_HOST = 3,
    CORIO_COAP_OPT_ETAG = 4,
    CORIO_COAP_OPT_IF_NONE_MATCH = 5,
    CORIO_COAP_OPT_OBSERVE = 6,
    CORIO_COAP_OPT_URI_PORT = 7,
    CORIO_COAP_OPT_LOCATION_PATH = 8,
    CORIO_COAP_OPT_URI_PATH = 11,
    CORIO_COAP_OPT_CONTENT_FORMAT = 12,
    CORIO_COAP_OPT_MAX_AGE = 14,
    CORIO_COAP_OPT_URI_QUERY = 15,
    CORIO_COAP_OPT_ACCEPT = 17,
    CORIO_COAP_OPT_LOCATION_QUERY = 20,
    CORIO_COAP_OPT_BLOCK2 = 23,
    CORIO_COAP_OPT_BLOCK1 = 27,
    CORIO_COAP_OPT_SIZE2 = 28,
    CORIO_COAP_OPT_PROXY_URI = 35,
    CORIO_COAP_OPT_PROXY_SCHEME = 39,
    CORIO_COAP_OPT_SIZE1 = 60,
};

/* Content-Format numbers Corio uses (the IANA CoAP Content-Formats registry). */
enum corio_coap_format {
    CORIO_COAP_FORMAT_TEXT = 0,         /* text/plain; charset=utf-8 */
    CORIO_COAP_FORMAT_OCTETS = 42,      /* application/octet-stream */
    CORIO_COAP_FORMAT_JSON = 50,        /* application/json */
    CORIO_COAP_FORMAT_CBOR = 60,        /* application/cbor */
    CORIO_COAP_FORMAT_SENML_JSON = 110, /* application/senml+json */
    CORIO_COAP_FORMAT_SENML_CBOR = 112, /* application/senml+cbor */
};

/* Limits of the format. */
#define CORIO_COAP_HEADER_LEN    4u
#define CORIO_COAP_MAX_TOKEN     8u
#define CORIO_COAP_BLOCK_MAX_NUM 0xFFFFFu /* a block number has 20 bits */
#define CORIO_COAP_BLOCK_MAX_SZX 6u       /* 1024 bytes; SZX 7 is reserved */

/* A decoded message. Views point into the datagram passed to corio_coap_decode(). */
struct corio_coap_msg {
    uint8_t type;      /* enum corio_coap_type */
    uint8_t code;      /* enum corio_coap_code or any other code */
    uint16_t mid;      /* message id */
    uint8_t token_len; /* 0..8 */
    uint8_t token[CORIO_COAP_MAX_TOKEN];
    const uint8_t *options; /* the encoded options, already checked; iterate them */
    size_t options_len;
    const uint8_t *payload; /* NULL and 0 when there is none */
    size_t payload_len;
};

/* One option: number and a view of its value. */
struct corio_coap_option {
    uint16_t number;
    uint16_t len;
    const uint8_t *value;
};

/*
 * Decodes the datagram buf[0 .. len) into *m (views into buf). Returns:
 * CORIO_OK;
 * CORIO_ERR_VERSION    the version is not 1 (RFC 7252 §3: silently ignore it);
 * CORIO_ERR_MALFORMED  a message format error: shorter than 4 bytes, token length
 *                      9..15, an option with nibble 15 other than the payload marker,
 *                      an extended delta or length running past the end, an option
 *                      number above 65535, a payload marker with no payload after it,
 *                      or an Empty message (0.00) carrying a token, options or payload.
 *                      When len >= 4, m->type and m->mid are still set, so that a
 *                      confirmable message can be rejected with a matching Reset;
 * CORIO_ERR_INVAL      NULL arguments.
 */
int corio_coap_decode(const uint8_t *buf, size_t len, struct corio_coap_msg *m);

/* Iterates the options of a decoded message in order. */
struct corio_coap_opt_iter {
    const uint8_t *p, *end;
    uint16_t number;
};

/* Starts an iteration over m's options (m from corio_coap_decode()). */
void corio_coap_opt_iter_init(struct corio_coap_opt_iter *it, const struct corio_coap_msg *m);

/* The next option into *opt. Returns CORIO_OK, CORIO_ERR_NOTFOUND at the end, or
 * CORIO_ERR_MALFORMED for an options block corio_coap_decode() did not check. */
int corio_coap_opt_next(struct corio_coap_opt_iter *it, struct corio_coap_option *opt);

/* The first option numbered number in m into *opt. Returns CORIO_OK or
 * CORIO_ERR_NOTFOUND. */
int corio_coap_opt_find(const struct corio_coap_msg *m, uint16_t number,
                        struct corio_coap_option *opt);

/* How many times option number occurs in m. */
size_t corio_coap_opt_count(const struct corio_coap_msg *m, uint16_t number);

/*
 * Checks m's options against the options this SDK recognises (the enum above) and the
 * value lengths RFC 7252 §5.10, RFC 7641 and RFC 7959 give them. Per RFC 7252 §5.4.1,
 * §5.4.3 and §5.4.5 an unrecognised option, one with a length outside its range, and a
 * second occurrence of a non-repeatable one are all "unrecognised"; such an elective
 * (even-numbered) option is ignored, such a critical one makes the message unusable.
 * Returns CORIO_OK, or CORIO_ERR_UNSUPPORTED with the first such critical option's
 * number in *bad (when bad is not NULL).
 */
int corio_coap_options_check(const struct corio_coap_msg *m, uint16_t *bad);

/* Reads an option value as an unsigned integer (RFC 7252 §3.2: big-endian, 0..4 bytes,
 * empty = 0). Returns CORIO_OK or CORIO_ERR_MALFORMED when longer than 4 bytes. */
int corio_coap_opt_uint(const struct corio_coap_option *opt, uint32_t *v);

/* Block1 / Block2 values (RFC 7959 §2.2): block number, "more" flag, size exponent
 * (block size = 16 << szx). */
struct corio_coap_block {
    uint32_t num;
    bool more;
    uint8_t szx;
};

/* Reads a block option. Returns CORIO_OK, or CORIO_ERR_MALFORMED when the value is
 * longer than 3 bytes or SZX is the reserved 7. */
int corio_coap_block_get(const struct corio_coap_option *opt, struct corio_coap_block *b);

/* A block option's value as an unsigned integer to write; callers check num <=
 * CORIO_COAP_BLOCK_MAX_NUM and szx <= CORIO_COAP_BLOCK_MAX_SZX. */
uint32_t corio_coap_block_value(const struct corio_coap_block *b);

/* The block size for an SZX. */
#define CORIO_COAP_BLOCK_SIZE(szx) ((size_t)16u << (szx))

/*
 * The writer builds one message into a caller buffer. Begin, then add options in
 * non-decreasing number order, then an optional payload, then end. The first error
 * sticks: later calls do nothing and end returns it. With buf == NULL and cap == 0 the
 * writer only counts, so that end returns the length a message needs.
 */
struct corio_coap_writer {
    uint8_t *buf;
    size_t cap, len;
    uint16_t last; /* number of the last option written */
    bool payload;  /* a payload was written: nothing may follow */
    int err;
};

/* Starts a message: header and token (token_len 0..8; token may be NULL when 0).
 * Errors (sticky): CORIO_ERR_INVAL for a bad type, token length or arguments,
 * CORIO_ERR_NOSPACE when it does not fit. */
void corio_coap_write_begin(struct corio_coap_writer *w, uint8_t *buf, size_t cap, uint8_t type,
                            uint8_t code, uint16_t mid, const uint8_t *token, uint8_t token_len);

/* Appends an option with len value bytes (value may be NULL when len is 0). Errors:
 * CORIO_ERR_INVAL when number is below the previous option's or a payload was written,
 * CORIO_ERR_NOSPACE. */
void corio_coap_write_option(struct corio_coap_writer *w, uint16_t number, const void *value,
                             size_t len);

/* Appends an option holding v as an unsigned integer in the fewest bytes (0 is empty). */
void corio_coap_write_uint(struct corio_coap_writer *w, uint16_t number, uint32_t v);

/* Appends path[0 .. len) as one option per '/'-separated segment (RFC 7252 §6.4 step
 * 8): a single leading '/' is skipped, "" and "/" give none, and "a//b" gives an empty
 * segment. Used for Uri-Path and Location-Path. Errors: CORIO_ERR_INVAL when a segment
 * is longer than 255 bytes, and as corio_coap_write_option. */
void corio_coap_write_path(struct corio_coap_writer *w, uint16_t number, const char *path,
                           size_t len);

/* Appends query[0 .. len) as one Uri-Query option per '&'-separated argument (RFC 7252
 * §6.4 step 9); "" gives none. Errors as corio_coap_write_path. */
void corio_coap_write_query(struct corio_coap_writer *w, const char *query, size_t len);

/* Appends the payload marker and len (> 0) payload bytes; len 0 writes nothing. */
void corio_coap_write_payload(struct corio_coap_writer *w, const void *payload, size_t len);

/* Ends the message. Returns its length, or the first error. */
int corio_coap_write_end(const struct corio_coap_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_COAP_CODEC_H */
