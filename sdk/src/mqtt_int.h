/*
 * mqtt_int.h - what the MQTT codec files share with each other and with the client:
 * variable byte integers, MQTT UTF-8 and topic checks, the property rules that
 * encoders and decoders both enforce, and the writers of packet fields. Not part of
 * the public API.
 */
#ifndef CORIO_MQTT_INT_H
#define CORIO_MQTT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "corio/mqtt_codec.h"

/* Property context for will properties; packet contexts are enum corio_mqtt_type. */
#define CORIO__MQTT_CTX_WILL 0u

/* Bytes a variable byte integer of value v takes (1..4); v <= CORIO_MQTT_MAX_REMAINING. */
size_t corio__mqtt_varint_len(uint32_t v);

/* Writes v as a variable byte integer at p; returns the bytes written. */
size_t corio__mqtt_varint_put(uint8_t *p, uint32_t v);

/* Reads a variable byte integer from p[0 .. len). Returns CORIO_OK with *v and *used,
 * CORIO_ERR_AGAIN when len ends inside it, CORIO_ERR_MALFORMED when it is longer than
 * four bytes or not minimally encoded. */
int corio__mqtt_varint_get(const uint8_t *p, size_t len, uint32_t *v, size_t *used);

/* 1 when s[0 .. len) is well-formed UTF-8 without U+0000 or surrogates, else 0. */
int corio__mqtt_utf8_ok(const uint8_t *s, size_t len);

/* 1 when s[0 .. len) is a valid string holding no wildcard ('+', '#'), else 0. */
int corio__mqtt_topic_name_ok(const uint8_t *s, size_t len);

/* 1 when s[0 .. len) is a valid, non-empty topic filter ('#' last and alone in its
 * level, '+' alone in its level), else 0. */
int corio__mqtt_topic_filter_ok(const uint8_t *s, size_t len);

/* Bytes of a bit set over property identifiers (bit id of byte id / 8). */
#define CORIO__MQTT_PROP_SET     6u
#define CORIO__MQTT_HAS(set, id) (((set)[(id) >> 3] >> ((id)&7u)) & 1u)

/* Called by corio__mqtt_props_check() with each property of a block, once it passed
 * the property's own checks; arg is the caller's. */
typedef void (*corio__mqtt_prop_fn)(void *arg, const struct corio_mqtt_prop *pr);

/* Checks that a property block is well formed and fits context ctx (a packet type or
 * CORIO__MQTT_CTX_WILL): every identifier allowed there, no duplicate the specification
 * forbids, values in range, strings valid UTF-8, no Authentication Data without its
 * Method, and in AUTH the Method present. seen (CORIO__MQTT_PROP_SET bytes, or NULL)
 * gets the identifiers present, and fn (unless NULL) each property, so that callers
 * need not walk the block again; a block refused later may have been partly visited.
 * Returns CORIO_OK or CORIO_ERR_MALFORMED. */
int corio__mqtt_props_check(const uint8_t *block, size_t len, unsigned ctx, uint8_t *seen,
                            corio__mqtt_prop_fn fn, void *arg);

/* corio_mqtt_decode() of a packet already framed: its first byte, and the n bytes
 * after its Remaining Length at p; version must be CORIO_MQTT_V311 or CORIO_MQTT_V5.
 * fn and arg go to corio__mqtt_props_check() for the packet's property block. */
int corio__mqtt_decode(uint8_t version, uint8_t first, const uint8_t *p, size_t n,
                       struct corio_mqtt_packet *out, corio__mqtt_prop_fn fn, void *arg);

/* 1 when MQTT 5 allows reason code rc in a packet of the given type sent by a client
 * (by_client != 0) or by a server, else 0. */
int corio__mqtt_reason_ok(unsigned type, uint8_t rc, int by_client);

/* The writers of the packets the client and the codec's encoders build: each writes at
 * w, which has room (the caller sized the packet), and returns the next position. */
static inline uint8_t *corio__mqtt_put_u16(uint8_t *w, size_t v)
{
    w[0] = (uint8_t)(v >> 8);
    w[1] = (uint8_t)v;
    return w + 2;
}

/* Two length bytes and the data (a string or binary data). */
static inline uint8_t *corio__mqtt_put_str(uint8_t *w, const void *data, size_t len)
{
    w = corio__mqtt_put_u16(w, len);
    if (len)
        memcpy(w, data, len);
    return w + len;
}

/* A Property Length and the block, which may overlap w's tail (the codec's encoders
 * take blocks built in their own buffer, mqtt_codec.h), hence memmove. */
static inline uint8_t *corio__mqtt_put_props(uint8_t *w, const uint8_t *props, size_t len)
{
    w += corio__mqtt_varint_put(w, (uint32_t)len);
    if (len)
        memmove(w, props, len);
    return w + len;
}

#endif /* CORIO_MQTT_INT_H */
