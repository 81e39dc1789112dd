/*
 * mqtt_decode.c - framing of a byte stream into MQTT packets and decoders for every
 * packet a broker sends (mqtt_codec.h).
 *
 * A decoder either accepts the whole packet or refuses it: every length is checked
 * against what is left before it is used, and every rule the specification words as
 * "MUST" for a server's packet is checked, so the client above never acts on a packet
 * that is only partly valid.
 */
#include <string.h>

#include "corio/mqtt_codec.h"
#include "mqtt_int.h"

#define MALFORMED CORIO_ERR_MALFORMED

int corio_mqtt_frame(const uint8_t *buf, size_t len, size_t *pkt_len)
{
    uint32_t rem;
    size_t used;
    if ((!buf && len) || !pkt_len)
        return CORIO_ERR_INVAL;
    if (len < 2)
        return CORIO_ERR_AGAIN;
    int rc = corio__mqtt_varint_get(buf + 1, len - 1, &rem, &used);
    if (rc != CORIO_OK)
        return rc;
    *pkt_len = 1 + used + (size_t)rem;
    return CORIO_OK;
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reads a Property Length and its block, which must fit in n bytes and suit ctx. */
static int get_props(const uint8_t *p, size_t n, unsigned ctx, const uint8_t **props,
                     size_t *props_len, size_t *used, uint8_t *seen)
{
    uint32_t len;
    size_t vl;
    if (corio__mqtt_varint_get(p, n, &len, &vl) != CORIO_OK || n - vl < len)
        return MALFORMED;
    if (corio__mqtt_props_check(p + vl, len, ctx, seen) != CORIO_OK)
        return MALFORMED;
    *props = p + vl;
    *props_len = len;
    *used = vl + len;
    return CORIO_OK;
}

static int decode_connack(uint8_t version, const uint8_t *p, size_t n,
                          struct corio_mqtt_connack *out)
{
    if (version == CORIO_MQTT_V311 ? n != 2 : n < 3)
        return MALFORMED;
    /* Bits 7-1 of the acknowledge flags are reserved; a refusal never has a session. */
    if (p[0] & 0xFEu)
        return MALFORMED;
    out->session_present = p[0] & 1u;
    out->reason = p[1];
    if (version == CORIO_MQTT_V311) {
        if (out->reason > 5)
            return MALFORMED;
    } else if (!corio__mqtt_reason_ok(CORIO_MQTT_CONNACK, out->reason, 0)) {
        return MALFORMED;
    }
    if (out->reason && out->session_present)
        return MALFORMED;
    if (version == CORIO_MQTT_V5) {
        size_t used;
        if (get_props(p + 2, n - 2, CORIO_MQTT_CONNACK, &out->props, &out->props_len, &used,
                      NULL) != CORIO_OK ||
            used != n - 2)
            return MALFORMED;
    }
    return CORIO_OK;
}

static int decode_publish(uint8_t version, uint8_t flags, const uint8_t *p, size_t n,
                          struct corio_mqtt_publish *out)
{
    out->qos = (uint8_t)((flags >> 1) & 3u);
    out->dup = (flags & 0x08u) != 0;
    out->retain = (flags & 0x01u) != 0;
    if (out->qos == 3 || (out->dup && out->qos == 0))
        return MALFORMED;
    if (n < 2)
        return MALFORMED;
    uint16_t tl = get_u16(p);
    size_t off = 2;
    if (n - off < tl || !corio__mqtt_topic_name_ok(p + off, tl))
        return MALFORMED;
    out->topic = (const char *)(p + off);
    out->topic_len = tl;
    off += tl;
    if (out->qos) {
        if (n - off < 2)
            return MALFORMED;
        out->packet_id = get_u16(p + off);
        if (out->packet_id == 0)
            return MALFORMED;
        off += 2;
    }
    uint8_t seen[CORIO__MQTT_PROP_SET] = {0};
    if (version == CORIO_MQTT_V5) {
        size_t used;
        if (get_props(p + off, n - off, CORIO_MQTT_PUBLISH, &out->props, &out->props_len, &used,
                      seen) != CORIO_OK)
            return MALFORMED;
        off += used;
    }
    /* A topic may be empty only when a Topic Alias stands for it (MQTT 5.0 §3.3.2.1). */
    if (tl == 0 && !CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_TOPIC_ALIAS))
        return MALFORMED;
    out->payload = p + off;
    out->payload_len = n - off;
    return CORIO_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
static int decode_ack(uint8_t version, uint8_t type, const uint8_t *p, size_t n,
                      struct corio_mqtt_ack *out)
{
    if (n < 2 || (version == CORIO_MQTT_V311 && n != 2))
        return MALFORMED;
    out->packet_id = get_u16(p);
    if (out->packet_id == 0)
        return MALFORMED;
    if (n == 2)
        return CORIO_OK;
    out->reason = p[2];
    if (!corio__mqtt_reason_ok(type, out->reason, 0))
        return MALFORMED;
    if (n == 3)
        return CORIO_OK;
    size_t used;
    if (get_props(p + 3, n - 3, type, &out->props, &out->props_len, &used, NULL) != CORIO_OK ||
        used != n - 3)
        return MALFORMED;
    return CORIO_OK;
}

/* SUBACK and UNSUBACK. */
static int decode_suback(uint8_t version, uint8_t type, const uint8_t *p, size_t n,
                         struct corio_mqtt_suback *out)
{
    if (n < 2)
        return MALFORMED;
    out->packet_id = get_u16(p);
    if (out->packet_id == 0)
        return MALFORMED;
    size_t off = 2;
    if (version == CORIO_MQTT_V311) {
        if (type == CORIO_MQTT_UNSUBACK)
            return n == 2 ? CORIO_OK : MALFORMED;
    } else {
        size_t used;
        if (get_props(p + off, n - off, type, &out->props, &out->props_len, &used, NULL) !=
            CORIO_OK)
            return MALFORMED;
        off += used;
    }
    if (n == off)
        return MALFORMED;
    out->reasons = p + off;
    out->count = n - off;
    for (size_t i = 0; i < out->count; i++) {
        uint8_t rc = out->reasons[i];
        int ok = version == CORIO_MQTT_V311 ? (rc <= 2 || rc == 0x80)
                                            : corio__mqtt_reason_ok(type, rc, 0);
        if (!ok)
            return MALFORMED;
    }
    return CORIO_OK;
}

/* DISCONNECT and AUTH, MQTT 5 only. */
static int decode_reason(uint8_t type, const uint8_t *p, size_t n,
                         struct corio_mqtt_reason_packet *out)
{
    if (n == 0)
        return CORIO_OK;
    /* DISCONNECT may omit only its properties; AUTH omits both or neither. */
    if (n == 1 && type == CORIO_MQTT_AUTH)
        return MALFORMED;
    out->reason = p[0];
    if (!corio__mqtt_reason_ok(type, out->reason, 0))
        return MALFORMED;
    if (n == 1)
        return CORIO_OK;
    size_t used;
    /* An AUTH's properties must name the method: props_check's rule. */
    if (get_props(p + 1, n - 1, type, &out->props, &out->props_len, &used, NULL) != CORIO_OK ||
        used != n - 1)
        return MALFORMED;
    return CORIO_OK;
}

int corio_mqtt_decode(uint8_t version, const uint8_t *buf, size_t len,
                      struct corio_mqtt_packet *out)
{
    uint32_t rem;
    size_t used;
    if (!buf || !out || (version != CORIO_MQTT_V311 && version != CORIO_MQTT_V5))
        return CORIO_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (len < 2 || corio__mqtt_varint_get(buf + 1, len - 1, &rem, &used) != CORIO_OK ||
        len - 1 - used != rem)
        return MALFORMED;
    uint8_t type = (uint8_t)(buf[0] >> 4), flags = buf[0] & 0x0Fu;
    size_t hdr = 1 + used;
    const uint8_t *p = buf + hdr;
    size_t n = len - hdr;
    out->type = type;
    /* Every packet but PUBLISH has fixed flags: 0010 for PUBREL, 0000 for the rest. */
    if (type != CORIO_MQTT_PUBLISH && flags != (type == CORIO_MQTT_PUBREL ? 2u : 0u))
        return MALFORMED;
    switch (type) {
    case CORIO_MQTT_CONNACK:
        return decode_connack(version, p, n, &out->u.connack);
    case CORIO_MQTT_PUBLISH:
        return decode_publish(version, flags, p, n, &out->u.publish);
    case CORIO_MQTT_PUBACK:
    case CORIO_MQTT_PUBREC:
    case CORIO_MQTT_PUBREL:
    case CORIO_MQTT_PUBCOMP:
        return decode_ack(version, type, p, n, &out->u.ack);
    case CORIO_MQTT_SUBACK:
    case CORIO_MQTT_UNSUBACK:
        return decode_suback(version, type, p, n, &out->u.suback);
    case CORIO_MQTT_PINGRESP:
        return n == 0 ? CORIO_OK : MALFORMED;
    case CORIO_MQTT_DISCONNECT:
    case CORIO_MQTT_AUTH:
        if (version == CORIO_MQTT_V311)
            return MALFORMED;
        return decode_reason(type, p, n, &out->u.reason);
    default:
        return MALFORMED;
    }
}
