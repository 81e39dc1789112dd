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

/* What follows the fixed header in each packet a broker sends, in order (0: a broker
 * never sends it). Optional parts end the packet early where they are absent; all
 * else must be there, and the packet must end after the last. */
enum {
    S_TOPIC = 1u << 0,  /* PUBLISH's topic name */
    S_ID = 1u << 1,     /* a non-zero packet id (PUBLISH: with QoS > 0) */
    S_ACKF = 1u << 2,   /* CONNACK's acknowledge flags */
    S_OPT = 1u << 3,    /* the packet may end before its reason code */
    S_REASON = 1u << 4, /* one reason code */
    S_PROPS = 1u << 5,  /* MQTT 5 properties (after an optional reason code: optional) */
    S_LIST = 1u << 6,   /* one or more reason codes to the end */
    S_REST = 1u << 7,   /* PUBLISH's payload: the rest */
};
#define S_ACK  (S_ID | S_OPT | S_REASON | S_PROPS)
#define S_DISC (S_OPT | S_REASON | S_PROPS)

static const uint8_t shape_v5[16] = {
    [CORIO_MQTT_CONNACK] = S_ACKF | S_REASON | S_PROPS,
    [CORIO_MQTT_PUBLISH] = S_TOPIC | S_ID | S_PROPS | S_REST,
    [CORIO_MQTT_PUBACK] = S_ACK,
    [CORIO_MQTT_PUBREC] = S_ACK,
    [CORIO_MQTT_PUBREL] = S_ACK,
    [CORIO_MQTT_PUBCOMP] = S_ACK,
    [CORIO_MQTT_SUBACK] = S_ID | S_PROPS | S_LIST,
    [CORIO_MQTT_UNSUBACK] = S_ID | S_PROPS | S_LIST,
    [CORIO_MQTT_PINGRESP] = S_OPT,
    [CORIO_MQTT_DISCONNECT] = S_DISC,
    [CORIO_MQTT_AUTH] = S_DISC,
};

/* MQTT 3.1.1: no properties, an acknowledgement (UNSUBACK too) is its packet id
 * alone, and there is no DISCONNECT or AUTH from a broker. */
static const uint8_t shape_v311[16] = {
    [CORIO_MQTT_CONNACK] = S_ACKF | S_REASON,
    [CORIO_MQTT_PUBLISH] = S_TOPIC | S_ID | S_REST,
    [CORIO_MQTT_PUBACK] = S_ID,
    [CORIO_MQTT_PUBREC] = S_ID,
    [CORIO_MQTT_PUBREL] = S_ID,
    [CORIO_MQTT_PUBCOMP] = S_ID,
    [CORIO_MQTT_SUBACK] = S_ID | S_LIST,
    [CORIO_MQTT_UNSUBACK] = S_ID,
    [CORIO_MQTT_PINGRESP] = S_OPT,
};

/* A reason code from a broker: MQTT 5's table, or 3.1.1's CONNACK return codes and
 * SUBACK's granted QoS or failure (the only 3.1.1 packets that carry one). */
static int reason_ok(int v5, uint8_t type, uint8_t rc)
{
    if (v5)
        return corio__mqtt_reason_ok(type, rc, 0);
    return type == CORIO_MQTT_CONNACK ? rc <= 5 : (rc <= 2 || rc == 0x80);
}

int corio__mqtt_decode(uint8_t version, uint8_t first, const uint8_t *p, size_t n,
                       struct corio_mqtt_packet *out, corio__mqtt_prop_fn fn, void *arg)
{
    memset(out, 0, sizeof *out);
    int v5 = version == CORIO_MQTT_V5;
    uint8_t type = (uint8_t)(first >> 4), flags = first & 0x0Fu, qos = (flags >> 1) & 3u;
    uint8_t sh = v5 ? shape_v5[type] : shape_v311[type];
    const uint8_t *end = p + n, *data = NULL, *props = NULL;
    size_t used;
    size_t props_len = 0;
    uint16_t id = 0, tl = 0;
    uint8_t rc = 0, seen[CORIO__MQTT_PROP_SET] = {0};
    out->type = type;
    if (type == CORIO_MQTT_PUBLISH) {
        /* QoS 3 is reserved; DUP only with QoS > 0. */
        if (qos == 3 || ((flags & 8u) && qos == 0))
            return MALFORMED;
        if (qos == 0)
            sh &= (uint8_t)~S_ID;
    } else if (flags != (type == CORIO_MQTT_PUBREL ? 2u : 0u)) {
        /* Fixed flags: 0010 for PUBREL, 0000 for the rest. */
        return MALFORMED;
    }
    if (!sh)
        return MALFORMED;
    if (sh & S_TOPIC) {
        if (end - p < 2 || end - p - 2 < (tl = get_u16(p)) || !corio__mqtt_topic_name_ok(p + 2, tl))
            return MALFORMED;
        data = p + 2;
        p += 2u + tl;
    }
    if (sh & S_ID) {
        if (end - p < 2 || (id = get_u16(p)) == 0)
            return MALFORMED;
        p += 2;
    }
    if (sh & S_ACKF) {
        /* Bits 7-1 are reserved; a refusal never has a session. */
        if (end - p < 2 || (rc = p[0]) > 1u || (rc && p[1]))
            return MALFORMED;
        data = p++; /* the flags */
    }
    if (sh & S_REASON) {
        /* An acknowledgement, DISCONNECT or AUTH may end here (PINGRESP, S_OPT alone,
         * must: the end's check below); AUTH omits both its reason code and
         * properties or neither. */
        if (p == end) {
            if (sh & S_OPT)
                goto done;
            return MALFORMED;
        }
        if ((type == CORIO_MQTT_AUTH && end - p == 1) || !reason_ok(v5, type, *p))
            return MALFORMED;
        rc = *p++;
        if ((sh & S_OPT) && p == end)
            goto done;
    }
    if (sh & S_PROPS) {
        uint32_t pl;
        if (corio__mqtt_varint_get(p, (size_t)(end - p), &pl, &used) != CORIO_OK ||
            (size_t)(end - p) - used < pl ||
            corio__mqtt_props_check(p + used, pl, type, seen, fn, arg) != CORIO_OK)
            return MALFORMED;
        props = p + used;
        props_len = pl;
        p = props + pl;
    }
    /* A topic may be empty only when a Topic Alias stands for it (MQTT 5.0 §3.3.2.1). */
    if ((sh & S_TOPIC) && tl == 0 && !CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_TOPIC_ALIAS))
        return MALFORMED;
    if (sh & S_LIST) {
        data = p;
        if (p == end)
            return MALFORMED;
        for (; p < end; p++)
            if (!reason_ok(v5, type, *p))
                return MALFORMED;
    }
    if (sh & S_REST) {
        out->u.publish.payload = p;
        out->u.publish.payload_len = (size_t)(end - p);
        p = end;
    }
    if (p != end)
        return MALFORMED;
done:
    switch (type) {
    case CORIO_MQTT_CONNACK:
        out->u.connack.session_present = data[0] & 1u;
        out->u.connack.reason = rc;
        out->u.connack.props = props;
        out->u.connack.props_len = props_len;
        break;
    case CORIO_MQTT_PUBLISH:
        out->u.publish.topic = (const char *)data;
        out->u.publish.topic_len = tl;
        out->u.publish.qos = qos;
        out->u.publish.dup = flags >> 3;
        out->u.publish.retain = flags & 1u;
        out->u.publish.packet_id = id;
        out->u.publish.props = props;
        out->u.publish.props_len = props_len;
        break;
    case CORIO_MQTT_SUBACK:
    case CORIO_MQTT_UNSUBACK:
        out->u.suback.packet_id = id;
        out->u.suback.reasons = data;
        out->u.suback.count = data ? (size_t)(end - data) : 0u;
        out->u.suback.props = props;
        out->u.suback.props_len = props_len;
        break;
    case CORIO_MQTT_DISCONNECT:
    case CORIO_MQTT_AUTH:
        out->u.reason.reason = rc;
        out->u.reason.props = props;
        out->u.reason.props_len = props_len;
        break;
    default: /* PUBACK .. PUBCOMP; PINGRESP has nothing */
        out->u.ack.packet_id = id;
        out->u.ack.reason = rc;
        out->u.ack.props = props;
        out->u.ack.props_len = props_len;
    }
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
    return corio__mqtt_decode(version, buf[0], buf + 1 + used, rem, out, NULL, NULL);
}
