/*
 * mqtt_codec.h - MQTT 3.1.1 and 5.0 packets: encoders for what a client sends,
 * decoders for what a broker sends, framing of a byte stream, and MQTT 5 properties.
 *
 * The codec never allocates and never copies a payload it does not have to: encoders
 * write into a caller-supplied buffer, decoders return views (pointer + length) into the
 * caller's packet bytes, valid as long as those bytes are. Every decoder treats its input
 * as hostile: a packet that breaks a rule of the specification is refused with
 * CORIO_ERR_MALFORMED, never half-decoded.
 *
 * MQTT 5 properties travel as an encoded block (the bytes after the Property Length).
 * Build one with corio_mqtt_props_*, read one with corio_mqtt_prop_next; encoders check
 * that a block suits the packet it goes into (allowed identifiers, no forbidden
 * duplicates, valid values) and decoders check the same for what they receive.
 *
 * Strings are pointer + length, UTF-8 as MQTT defines it (no U+0000, no surrogates);
 * they need not be NUL-terminated.
 *
 * Client state (packet ids, timers, sessions) lives in mqtt.h, not here.
 */
#ifndef CORIO_MQTT_CODEC_H
#define CORIO_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 (default): CONNECT may carry a will message. 0: a device that never sets one
 * leaves that code out; corio_mqtt_encode_connect() then refuses a will with
 * CORIO_ERR_UNSUPPORTED. */
#ifndef CORIO_MQTT_WITH_WILL
#define CORIO_MQTT_WITH_WILL 1
#endif

/* Protocol levels, as they appear in CONNECT. */
#define CORIO_MQTT_V311 4
#define CORIO_MQTT_V5   5

/* The largest Remaining Length a four-byte variable byte integer can carry. */
#define CORIO_MQTT_MAX_REMAINING 268435455u

/* Control packet types (the high nibble of the first byte). */
enum corio_mqtt_type {
    CORIO_MQTT_CONNECT = 1,
    CORIO_MQTT_CONNACK = 2,
    CORIO_MQTT_PUBLISH = 3,
    CORIO_MQTT_PUBACK = 4,
    CORIO_MQTT_PUBREC = 5,
    CORIO_MQTT_PUBREL = 6,
    CORIO_MQTT_PUBCOMP = 7,
    CORIO_MQTT_SUBSCRIBE = 8,
    CORIO_MQTT_SUBACK = 9,
    CORIO_MQTT_UNSUBSCRIBE = 10,
    CORIO_MQTT_UNSUBACK = 11,
    CORIO_MQTT_PINGREQ = 12,
    CORIO_MQTT_PINGRESP = 13,
    CORIO_MQTT_DISCONNECT = 14,
    CORIO_MQTT_AUTH = 15,
};

/* MQTT 5 property identifiers (MQTT 5.0 §2.2.2.2). */
enum corio_mqtt_prop_id {
    CORIO_MQTT_PROP_PAYLOAD_FORMAT = 0x01,         /* byte */
    CORIO_MQTT_PROP_MESSAGE_EXPIRY = 0x02,         /* four-byte integer, seconds */
    CORIO_MQTT_PROP_CONTENT_TYPE = 0x03,           /* string */
    CORIO_MQTT_PROP_RESPONSE_TOPIC = 0x08,         /* string */
    CORIO_MQTT_PROP_CORRELATION_DATA = 0x09,       /* binary */
    CORIO_MQTT_PROP_SUBSCRIPTION_ID = 0x0B,        /* variable byte integer */
    CORIO_MQTT_PROP_SESSION_EXPIRY = 0x11,         /* four-byte integer, seconds */
    CORIO_MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,     /* string */
    CORIO_MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,      /* two-byte integer, seconds */
    CORIO_MQTT_PROP_AUTH_METHOD = 0x15,            /* string */
    CORIO_MQTT_PROP_AUTH_DATA = 0x16,              /* binary */
    CORIO_MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,   /* byte */
    CORIO_MQTT_PROP_WILL_DELAY = 0x18,             /* four-byte integer, seconds */
    CORIO_MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,  /* byte */
    CORIO_MQTT_PROP_RESPONSE_INFO = 0x1A,          /* string */
    CORIO_MQTT_PROP_SERVER_REFERENCE = 0x1C,       /* string */
    CORIO_MQTT_PROP_REASON_STRING = 0x1F,          /* string */
    CORIO_MQTT_PROP_RECEIVE_MAXIMUM = 0x21,        /* two-byte integer */
    CORIO_MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,    /* two-byte integer */
    CORIO_MQTT_PROP_TOPIC_ALIAS = 0x23,            /* two-byte integer */
    CORIO_MQTT_PROP_MAXIMUM_QOS = 0x24,            /* byte */
    CORIO_MQTT_PROP_RETAIN_AVAILABLE = 0x25,       /* byte */
    CORIO_MQTT_PROP_USER_PROPERTY = 0x26,          /* string pair */
    CORIO_MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,    /* four-byte integer */
    CORIO_MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28, /* byte */
    CORIO_MQTT_PROP_SUB_ID_AVAILABLE = 0x29,       /* byte */
    CORIO_MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,   /* byte */
};

/* Reason codes this SDK names (MQTT 5.0 §2.4); the decoders accept every code the
 * specification allows in each packet and refuse the rest. A code >= 0x80 is a failure.
 * MQTT 3.1.1 CONNACK return codes (1..5) are reported unchanged in the same field. */
enum corio_mqtt_reason {
    CORIO_MQTT_RC_SUCCESS = 0x00,
    CORIO_MQTT_RC_GRANTED_QOS1 = 0x01,
    CORIO_MQTT_RC_GRANTED_QOS2 = 0x02,
    CORIO_MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    CORIO_MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    CORIO_MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    CORIO_MQTT_RC_CONTINUE_AUTH = 0x18,
    CORIO_MQTT_RC_REAUTHENTICATE = 0x19,
    CORIO_MQTT_RC_UNSPECIFIED = 0x80,
    CORIO_MQTT_RC_MALFORMED = 0x81,
    CORIO_MQTT_RC_PROTOCOL_ERROR = 0x82,
    CORIO_MQTT_RC_IMPLEMENTATION_SPECIFIC = 0x83,
    CORIO_MQTT_RC_NOT_AUTHORIZED = 0x87,
    CORIO_MQTT_RC_SERVER_BUSY = 0x89,
    CORIO_MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    CORIO_MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    CORIO_MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    CORIO_MQTT_RC_PACKET_TOO_LARGE = 0x95,
    CORIO_MQTT_RC_QUOTA_EXCEEDED = 0x97,
};

/* SUBSCRIBE options byte: maximum QoS in bits 0-1; MQTT 5 adds the rest (ignored, and
 * refused when set, for MQTT 3.1.1). */
#define CORIO_MQTT_SUB_QOS(q)              ((uint8_t)((q)&3u))
#define CORIO_MQTT_SUB_NO_LOCAL            0x04u
#define CORIO_MQTT_SUB_RETAIN_AS_PUBLISHED 0x08u
#define CORIO_MQTT_SUB_RETAIN_HANDLING(n)  ((uint8_t)(((n)&3u) << 4))

/* ---------------------------------------------------------------------------------
 * Properties
 */

/* A property block under construction, in caller memory. */
struct corio_mqtt_props {
    uint8_t *buf; /* caller's bytes; the block is buf[0 .. len) */
    size_t cap;
    size_t len;
};

/* Starts an empty block in buf (cap bytes, owned by the caller). */
void corio_mqtt_props_init(struct corio_mqtt_props *p, uint8_t *buf, size_t cap);

/* Appends an integer property (byte, two-byte, four-byte or variable byte integer: the
 * identifier decides). Returns CORIO_OK; CORIO_ERR_INVAL when id is not an integer
 * property or value does not fit its type; CORIO_ERR_NOSPACE when the block is full (it
 * is then unchanged). */
int corio_mqtt_props_add_int(struct corio_mqtt_props *p, uint8_t id, uint32_t value);

/* Appends a string or binary property; data is copied. A string must be valid MQTT
 * UTF-8. Returns CORIO_OK, CORIO_ERR_INVAL (wrong identifier type, len > 65535, bad
 * UTF-8) or CORIO_ERR_NOSPACE (block unchanged). */
int corio_mqtt_props_add_bytes(struct corio_mqtt_props *p, uint8_t id, const void *data,
                               size_t len);

/* Appends a User Property (key, value); both are copied and must be valid UTF-8.
 * Returns as corio_mqtt_props_add_bytes. */
int corio_mqtt_props_add_user(struct corio_mqtt_props *p, const char *key, size_t key_len,
                              const char *value, size_t value_len);

/* One decoded property: a view into the block it came from. */
struct corio_mqtt_prop {
    uint8_t id;
    uint32_t value;      /* integer properties */
    const uint8_t *data; /* string and binary properties; a User Property's key */
    uint16_t len;
    const uint8_t *data2; /* a User Property's value */
    uint16_t len2;
};

/* A cursor over a property block; it does not copy the block. */
struct corio_mqtt_prop_iter {
    const uint8_t *block;
    size_t len;
    size_t off;
};

/* Starts iterating over block (len bytes, owned by the caller and kept alive). */
void corio_mqtt_prop_iter_init(struct corio_mqtt_prop_iter *it, const uint8_t *block, size_t len);

/* Reads the next property into *out. Returns CORIO_OK, CORIO_ERR_NOTFOUND at the end,
 * or CORIO_ERR_MALFORMED when the block is not well formed (a block that came from a
 * decoder in this file never is). */
int corio_mqtt_prop_next(struct corio_mqtt_prop_iter *it, struct corio_mqtt_prop *out);

/* The first property with identifier id in block. Returns CORIO_OK, CORIO_ERR_NOTFOUND
 * or CORIO_ERR_MALFORMED. */
int corio_mqtt_prop_find(const uint8_t *block, size_t len, uint8_t id, struct corio_mqtt_prop *out);

/* ---------------------------------------------------------------------------------
 * Encoders. Each writes one whole packet into buf (cap bytes, owned by the caller) and
 * returns its length; with buf == NULL it writes nothing and returns the length it would
 * need, so a caller can size a buffer. Errors: CORIO_ERR_INVAL for arguments that would
 * make a packet the specification forbids (bad UTF-8, wildcards in a topic name, a
 * property the packet may not carry, properties or reason codes under 3.1.1, a packet
 * larger than CORIO_MQTT_MAX_REMAINING), CORIO_ERR_NOSPACE when cap is too small (buf
 * is then left untouched). Property blocks given to an encoder may live inside buf: they
 * are moved, not copied, into place.
 */

/* A will message, sent in CONNECT. */
struct corio_mqtt_will {
    const char *topic;
    uint16_t topic_len;
    const uint8_t *payload;
    uint16_t payload_len;
    uint8_t qos; /* 0, 1 or 2 */
    bool retain;
    const uint8_t *props; /* MQTT 5 will properties (delay, expiry, ...); NULL if none */
    size_t props_len;
};

struct corio_mqtt_connect {
    uint8_t version;  /* CORIO_MQTT_V311 or CORIO_MQTT_V5 */
    bool clean_start; /* "Clean Session" in 3.1.1 */
    uint16_t keepalive_s;
    const char *client_id; /* may be empty (3.1.1: only with clean_start) */
    uint16_t client_id_len;
    const struct corio_mqtt_will *will; /* NULL: no will */
    const char *username;               /* NULL: none */
    uint16_t username_len;
    const uint8_t *password; /* NULL: none (3.1.1: only with a username) */
    uint16_t password_len;
    const uint8_t *props; /* MQTT 5 CONNECT properties; NULL if none */
    size_t props_len;
};

/* Also CORIO_ERR_UNSUPPORTED for a will when built with CORIO_MQTT_WITH_WILL 0. */
int corio_mqtt_encode_connect(uint8_t *buf, size_t cap, const struct corio_mqtt_connect *c);

/* A PUBLISH, for encoding and as decoded. topic_len may be 0 only under MQTT 5 with a
 * Topic Alias property. */
struct corio_mqtt_publish {
    const char *topic;
    uint16_t topic_len;
    uint8_t qos; /* 0 or 1 to encode; 0..2 when decoded */
    bool retain;
    bool dup;
    uint16_t packet_id;   /* non-zero when qos > 0 */
    const uint8_t *props; /* MQTT 5 PUBLISH properties; NULL if none */
    size_t props_len;
    const uint8_t *payload;
    size_t payload_len;
};

/* PUBLISH of p (qos 0 or 1; dup only with qos 1; a packet id with qos 1). MQTT 5: the
 * props may not hold a Subscription Identifier (a client never sends one). */
int corio_mqtt_encode_publish(uint8_t *buf, size_t cap, uint8_t version,
                              const struct corio_mqtt_publish *p);

/* PUBACK. reason and props are MQTT 5 only (reason must be 0 and props empty for 3.1.1);
 * the shortest form the specification allows is written. */
int corio_mqtt_encode_puback(uint8_t *buf, size_t cap, uint8_t version, uint16_t packet_id,
                             uint8_t reason, const uint8_t *props, size_t props_len);

/* One topic filter of a SUBSCRIBE or UNSUBSCRIBE. options: CORIO_MQTT_SUB_* (ignored
 * by UNSUBSCRIBE). */
struct corio_mqtt_sub {
    const char *filter;
    uint16_t filter_len;
    uint8_t options;
};

/* SUBSCRIBE with count >= 1 filters; props (MQTT 5: Subscription Identifier, User
 * Property) may be NULL. */
int corio_mqtt_encode_subscribe(uint8_t *buf, size_t cap, uint8_t version, uint16_t packet_id,
                                const struct corio_mqtt_sub *subs, size_t count,
                                const uint8_t *props, size_t props_len);

/* UNSUBSCRIBE with count >= 1 filters (their options are ignored); props as SUBSCRIBE's
 * but for the Subscription Identifier. */
int corio_mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, uint8_t version, uint16_t packet_id,
                                  const struct corio_mqtt_sub *subs, size_t count,
                                  const uint8_t *props, size_t props_len);

/* PINGREQ (two bytes). */
int corio_mqtt_encode_pingreq(uint8_t *buf, size_t cap);

/* DISCONNECT; reason and props are MQTT 5 only. */
int corio_mqtt_encode_disconnect(uint8_t *buf, size_t cap, uint8_t version, uint8_t reason,
                                 const uint8_t *props, size_t props_len);

/* AUTH (MQTT 5 only): reason 0x00, 0x18 or 0x19; props must carry the Authentication
 * Method unless reason is 0x00 and props is empty. */
int corio_mqtt_encode_auth(uint8_t *buf, size_t cap, uint8_t reason, const uint8_t *props,
                           size_t props_len);

/* ---------------------------------------------------------------------------------
 * Framing and decoding
 */

/* Reads the fixed header at the start of a byte stream. On CORIO_OK, *pkt_len is the
 * length of the whole first packet (header included), which may exceed len. Returns
 * CORIO_ERR_AGAIN when len bytes do not yet hold the whole fixed header, and
 * CORIO_ERR_MALFORMED for a Remaining Length that is longer than four bytes or not
 * minimally encoded. */
int corio_mqtt_frame(const uint8_t *buf, size_t len, size_t *pkt_len);

struct corio_mqtt_connack {
    bool session_present;
    uint8_t reason; /* MQTT 5 reason code, or the 3.1.1 return code */
    const uint8_t *props;
    size_t props_len;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
struct corio_mqtt_ack {
    uint16_t packet_id;
    uint8_t reason; /* 0 under 3.1.1 */
    const uint8_t *props;
    size_t props_len;
};

/* SUBACK and UNSUBACK: one reason code per filter (UNSUBACK under 3.1.1 has none). */
struct corio_mqtt_suback {
    uint16_t packet_id;
    const uint8_t *reasons;
    size_t count;
    const uint8_t *props;
    size_t props_len;
};

/* DISCONNECT and AUTH (MQTT 5). */
struct corio_mqtt_reason_packet {
    uint8_t reason;
    const uint8_t *props;
    size_t props_len;
};

struct corio_mqtt_packet {
    uint8_t type; /* enum corio_mqtt_type */
    union {
        struct corio_mqtt_connack connack;      /* CONNACK */
        struct corio_mqtt_publish publish;      /* PUBLISH */
        struct corio_mqtt_ack ack;              /* PUBACK, PUBREC, PUBREL, PUBCOMP */
        struct corio_mqtt_suback suback;        /* SUBACK, UNSUBACK */
        struct corio_mqtt_reason_packet reason; /* DISCONNECT, AUTH */
    } u;                                        /* PINGRESP: nothing */
};

/* Decodes one whole packet that a broker sends (buf[0 .. len) as delimited by
 * corio_mqtt_frame) under protocol level version. Views in *out point into buf. Returns
 * CORIO_OK; CORIO_ERR_INVAL for a bad version or NULL argument; CORIO_ERR_MALFORMED for
 * anything else: a wrong length, reserved flags, a packet type a broker never sends
 * (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ; DISCONNECT and AUTH under 3.1.1), a reason
 * code the packet may not carry, bad UTF-8, a wildcard in a topic name, a zero packet
 * id, or properties that are malformed, misplaced, repeated where forbidden or out of
 * range. */
int corio_mqtt_decode(uint8_t version, const uint8_t *buf, size_t len,
                      struct corio_mqtt_packet *out);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_MQTT_CODEC_H */
