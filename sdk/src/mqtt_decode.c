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

/* What follows the fixed header in each packet a broker sends but PUBLISH, in order
 * (0: a broker never sends it). Optional parts end the packet early where they are
 * absent; everything else must be there, and the packet must end after the last. */
enum {
    S_ID = 1u << 0,     /* a non-zero packet id */
    S_ACKF = 1u << 1,   /* CONNACK's acknowledge flags */
    S_OPT = 1u << 2,    /* the packet may end before its reason code */
    S_REASON = 1u << 3, /* one reason code */
    S_PROPS = 1u << 4,  /* MQTT 5 properties (after a reason code: optional) */
    S_LIST = 1u << 5,   /* one or more reason codes to the end */
    S_V5 = 1u << 6,     /* MQTT 5 only */
};
#define S_ACK  (S_ID | S_OPT | S_REASON | S_PROPS)
#define S_SACK (S_ID | S_PROPS | S_LIST)
#define S_DISC (S_V5 | S_OPT | S_REASON | S_PROPS)

static const uint8_t shape[16] = {
    [CORIO_MQTT_CONNACK] = S_ACKF | S_REASON | S_PROPS,
    [CORIO_MQTT_PUBACK] = S_ACK,
    [CORIO_MQTT_PUBREC] = S_ACK,
    [CORIO_MQTT_PUBREL] = S_ACK,
    [CORIO_MQTT_PUBCOMP] = S_ACK,
    [CORIO_MQTT_SUBACK] = S_SACK,
    [CORIO_MQTT_UNSUBACK] = S_SACK,
    [CORIO_MQTT_PINGRESP] = S_OPT,
    [CORIO_MQTT_DISCONNECT] = S_DISC,
    [CORIO_MQTT_AUTH] = S_DISC,
};

/* A reason code from a broker: MQTT 5's table, or 3.1.1's CONNACK return codes and
 * SUBACK's granted QoS or failure (the only 3.1.1 packets that carry one). */
static int reason_ok(int v5, uint8_t type, uint8_t rc)
{
    if (v5)
        return corio__mqtt_reason_ok(type, rc, 0);
    return type == CORIO_MQTT_CONNACK ? rc <= 5 : (rc <= 2 || rc == 0x80);
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
    if (type == CORIO_MQTT_PUBLISH)
        return decode_publish(version, flags, p, n, &out->u.publish);
    /* Every other packet has fixed flags: 0010 for PUBREL, 0000 for the rest. */
    uint8_t sh = shape[type];
    int v5 = version == CORIO_MQTT_V5;
    if (flags != (type == CORIO_MQTT_PUBREL ? 2u : 0u) || !sh || (!v5 && (sh & S_V5)))
        return MALFORMED;
    /* Under 3.1.1 an acknowledgement is its packet id alone, an UNSUBACK too. */
    if (!v5)
        sh &= (uint8_t)(type == CORIO_MQTT_CONNACK ? S_ACKF | S_REASON
                        : type == CORIO_MQTT_SUBACK ? S_ID | S_LIST
                                                    : S_ID);
    const uint8_t *end = p + n, *props = NULL, *list = NULL;
    size_t props_len = 0;
    uint16_t id = 0;
    uint8_t rc = 0, ackf = 0;
    if (sh & S_ID) {
        if (n < 2 || (id = get_u16(p)) == 0)
            return MALFORMED;
        p += 2;
    }
    if (sh & S_ACKF) {
        /* Bits 7-1 are reserved; a refusal never has a session. */
        if (end - p < 2 || (ackf = p[0]) > 1u || (ackf && p[1]))
            return MALFORMED;
        p++;
    }
    if ((sh & S_OPT) && p == end)
        goto done;
    if (sh & S_REASON) {
        /* AUTH omits both its reason code and properties or neither. */
        if (p == end || (type == CORIO_MQTT_AUTH && end - p == 1) || !reason_ok(v5, type, *p))
            return MALFORMED;
        rc = *p++;
        if ((sh & S_OPT) && p == end)
            goto done;
    }
    if (sh & S_PROPS) {
        if (get_props(p, (size_t)(end - p), type, &props, &props_len, &used, NULL) != CORIO_OK)
            return MALFORMED;
        p += used;
    }
    if (sh & S_LIST) {
        list = p;
        if (p == end)
            return MALFORMED;
        for (; p < end; p++)
            if (!reason_ok(v5, type, *p))
                return MALFORMED;
    }
    if (p != end)
        return MALFORMED;
done:
    switch (type) {
    case CORIO_MQTT_CONNACK:
        out->u.connack.session_present = ackf;
        out->u.connack.reason = rc;
        out->u.connack.props = props;
        out->u.connack.props_len = props_len;
        break;
    case CORIO_MQTT_SUBACK:
    case CORIO_MQTT_UNSUBACK:
        out->u.suback.packet_id = id;
        out->u.suback.reasons = list;
        out->u.suback.count = list ? (size_t)(end - list) : 0u;
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
