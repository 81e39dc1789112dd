/*
 * mqtt_encode.c - encoders for the packets an MQTT client sends (mqtt_codec.h).
 *
 * Each encoder first validates its arguments and computes the packet's exact length,
 * so that a too-small buffer is refused before a byte is written and buf == NULL can
 * answer "how big". Writing then cannot fail.
 */
#include <string.h>

#include "corio/mqtt_codec.h"
#include "mqtt_int.h"

/* Bytes of a Property Length plus its block. */
static size_t props_size(size_t len)
{
    return corio__mqtt_varint_len((uint32_t)len) + len;
}


/* Checks the final size and writes the fixed header. Returns the total length (and
 * *body, where the variable header starts) or a negative error. */
static int begin(uint8_t *buf, size_t cap, uint8_t first, size_t rem, uint8_t **body)
{
    if (rem > CORIO_MQTT_MAX_REMAINING)
        return CORIO_ERR_INVAL;
    size_t total = 1 + corio__mqtt_varint_len((uint32_t)rem) + rem; /* < 2^31 */
    if (!buf)
        return (int)total;
    if (cap < total)
        return CORIO_ERR_NOSPACE;
    buf[0] = first;
    *body = buf + 1 + corio__mqtt_varint_put(buf + 1, (uint32_t)rem);
    return (int)total;
}

/* Validates a property block for a packet: none at all under 3.1.1. seen as in
 * corio__mqtt_props_check (NULL: not wanted; untouched under 3.1.1). */
static int props_valid(uint8_t version, const uint8_t *props, size_t len, unsigned ctx,
                       uint8_t *seen)
{
    if (len && !props)
        return 0;
    if (len > CORIO_MQTT_MAX_REMAINING)
        return 0;
    if (version == CORIO_MQTT_V311)
        return len == 0;
    return corio__mqtt_props_check(props, len, ctx, seen, NULL, NULL) == CORIO_OK;
}

static int str_ok(const char *s, uint16_t len)
{
    return (len == 0 || s) && corio__mqtt_utf8_ok((const uint8_t *)s, len);
}

static int version_ok(uint8_t v)
{
    return v == CORIO_MQTT_V311 || v == CORIO_MQTT_V5;
}

int corio_mqtt_encode_connect(uint8_t *buf, size_t cap, const struct corio_mqtt_connect *c)
{
    if (!c || !version_ok(c->version) || !str_ok(c->client_id, c->client_id_len))
        return CORIO_ERR_INVAL;
    int v5 = c->version == CORIO_MQTT_V5;
    /* 3.1.1 §3.1.3.1: a zero-length client id needs a clean session. */
    if (!v5 && c->client_id_len == 0 && !c->clean_start)
        return CORIO_ERR_INVAL;
    /* (Authentication Data without its Method is props_check's to refuse.) */
    if (!props_valid(c->version, c->props, c->props_len, CORIO_MQTT_CONNECT, NULL))
        return CORIO_ERR_INVAL;
    /* With CORIO_MQTT_WITH_WILL 0, wl is NULL for the compiler and the will code goes. */
    const struct corio_mqtt_will *wl = CORIO_MQTT_WITH_WILL ? c->will : NULL;
    if (!CORIO_MQTT_WITH_WILL && c->will)
        return CORIO_ERR_UNSUPPORTED;
    if (wl && (wl->topic_len == 0 || !wl->topic || wl->qos > 2 ||
               !corio__mqtt_topic_name_ok((const uint8_t *)wl->topic, wl->topic_len) ||
               (wl->payload_len && !wl->payload) ||
               !props_valid(c->version, wl->props, wl->props_len, CORIO__MQTT_CTX_WILL, NULL)))
        return CORIO_ERR_INVAL;
    if (c->username && !str_ok(c->username, c->username_len))
        return CORIO_ERR_INVAL;
    if (c->password && !v5 && !c->username)
        return CORIO_ERR_INVAL;

    size_t rem = 10 + 2 + (size_t)c->client_id_len;
    if (v5)
        rem += props_size(c->props_len);
    if (wl) {
        if (v5)
            rem += props_size(wl->props_len);
        rem += 4 + (size_t)wl->topic_len + wl->payload_len;
    }
    if (c->username)
        rem += 2 + (size_t)c->username_len;
    if (c->password)
        rem += 2 + (size_t)c->password_len;

    uint8_t *w = NULL;
    int total = begin(buf, cap, CORIO_MQTT_CONNECT << 4, rem, &w);
    if (total < 0 || !buf)
        return total;
    uint8_t flags = 0;
    if (c->username)
        flags |= 0x80;
    if (c->password)
        flags |= 0x40;
    if (wl) {
        flags |= (uint8_t)(0x04 | (wl->qos << 3));
        if (wl->retain)
            flags |= 0x20;
    }
    if (c->clean_start)
        flags |= 0x02;
    w = corio__mqtt_put_str(w, "MQTT", 4);
    *w++ = c->version;
    *w++ = flags;
    w = corio__mqtt_put_u16(w, c->keepalive_s);
    if (v5)
        w = corio__mqtt_put_props(w, c->props, c->props_len);
    w = corio__mqtt_put_str(w, c->client_id, c->client_id_len);
    if (wl) {
        if (v5)
            w = corio__mqtt_put_props(w, wl->props, wl->props_len);
        w = corio__mqtt_put_str(w, wl->topic, wl->topic_len);
        w = corio__mqtt_put_str(w, wl->payload, wl->payload_len);
    }
    if (c->username)
        w = corio__mqtt_put_str(w, c->username, c->username_len);
    if (c->password)
        corio__mqtt_put_str(w, c->password, c->password_len);
    return total;
}

int corio_mqtt_encode_publish(uint8_t *buf, size_t cap, uint8_t version,
                              const struct corio_mqtt_publish *p)
{
    if (!p || !version_ok(version) || p->qos > 1 || (p->dup && p->qos == 0) ||
        (p->qos && p->packet_id == 0) || (p->payload_len && !p->payload) ||
        (p->topic_len && !p->topic) ||
        !corio__mqtt_topic_name_ok((const uint8_t *)p->topic, p->topic_len))
        return CORIO_ERR_INVAL;
    uint8_t seen[CORIO__MQTT_PROP_SET] = {0};
    if (!props_valid(version, p->props, p->props_len, CORIO_MQTT_PUBLISH, seen))
        return CORIO_ERR_INVAL;
    /* MQTT 5.0 §3.3.4: a client never sends a Subscription Identifier; an empty topic
     * needs a Topic Alias. */
    if (CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_SUBSCRIPTION_ID) ||
        (p->topic_len == 0 && !CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_TOPIC_ALIAS)))
        return CORIO_ERR_INVAL;
    if (p->payload_len > CORIO_MQTT_MAX_REMAINING)
        return CORIO_ERR_INVAL;

    size_t rem = 2 + (size_t)p->topic_len + (p->qos ? 2u : 0u) + p->payload_len;
    if (version == CORIO_MQTT_V5)
        rem += props_size(p->props_len);
    uint8_t *w = NULL;
    uint8_t first = (uint8_t)(CORIO_MQTT_PUBLISH << 4 | (p->dup ? 0x08 : 0) | p->qos << 1 |
                              (p->retain ? 0x01 : 0));
    int total = begin(buf, cap, first, rem, &w);
    if (total < 0 || !buf)
        return total;
    w = corio__mqtt_put_str(w, p->topic, p->topic_len);
    if (p->qos)
        w = corio__mqtt_put_u16(w, p->packet_id);
    if (version == CORIO_MQTT_V5)
        w = corio__mqtt_put_props(w, p->props, p->props_len);
    if (p->payload_len)
        memcpy(w, p->payload, p->payload_len);
    return total;
}

int corio_mqtt_encode_puback(uint8_t *buf, size_t cap, uint8_t version, uint16_t packet_id,
                             uint8_t reason, const uint8_t *props, size_t props_len)
{
    if (!version_ok(version) || packet_id == 0 ||
        !props_valid(version, props, props_len, CORIO_MQTT_PUBACK, NULL))
        return CORIO_ERR_INVAL;
    if (version == CORIO_MQTT_V311 ? reason != 0
                                   : !corio__mqtt_reason_ok(CORIO_MQTT_PUBACK, reason, 1))
        return CORIO_ERR_INVAL;
    size_t rem = 2;
    if (props_len)
        rem += 1 + props_size(props_len);
    else if (reason)
        rem += 1;
    uint8_t *w = NULL;
    int total = begin(buf, cap, CORIO_MQTT_PUBACK << 4, rem, &w);
    if (total < 0 || !buf)
        return total;
    w = corio__mqtt_put_u16(w, packet_id);
    if (rem > 2)
        *w++ = reason;
    if (props_len)
        corio__mqtt_put_props(w, props, props_len);
    return total;
}

/* SUBSCRIBE and UNSUBSCRIBE share their layout but for the options byte. */
static int encode_sub(uint8_t *buf, size_t cap, uint8_t version, uint8_t type, uint16_t packet_id,
                      const struct corio_mqtt_sub *subs, size_t count, const uint8_t *props,
                      size_t props_len)
{
    if (!version_ok(version) || packet_id == 0 || !subs || count == 0 ||
        !props_valid(version, props, props_len, type, NULL))
        return CORIO_ERR_INVAL;
    size_t rem = 2;
    if (version == CORIO_MQTT_V5)
        rem += props_size(props_len);
    for (size_t i = 0; i < count; i++) {
        const struct corio_mqtt_sub *s = &subs[i];
        if (!s->filter || !corio__mqtt_topic_filter_ok((const uint8_t *)s->filter, s->filter_len))
            return CORIO_ERR_INVAL;
        if (type == CORIO_MQTT_SUBSCRIBE) {
            uint8_t o = s->options;
            if ((o & 3u) > 2 || (o & 0xC0u) || ((o >> 4) & 3u) > 2 ||
                (version == CORIO_MQTT_V311 && (o & 0xFCu)))
                return CORIO_ERR_INVAL;
        }
        rem += 2 + (size_t)s->filter_len + (type == CORIO_MQTT_SUBSCRIBE ? 1u : 0u);
        if (rem > CORIO_MQTT_MAX_REMAINING)
            return CORIO_ERR_INVAL;
    }
    uint8_t *w = NULL;
    int total = begin(buf, cap, (uint8_t)(type << 4 | 0x02), rem, &w);
    if (total < 0 || !buf)
        return total;
    w = corio__mqtt_put_u16(w, packet_id);
    if (version == CORIO_MQTT_V5)
        w = corio__mqtt_put_props(w, props, props_len);
    for (size_t i = 0; i < count; i++) {
        w = corio__mqtt_put_str(w, subs[i].filter, subs[i].filter_len);
        if (type == CORIO_MQTT_SUBSCRIBE)
            *w++ = subs[i].options;
    }
    return total;
}

int corio_mqtt_encode_subscribe(uint8_t *buf, size_t cap, uint8_t version, uint16_t packet_id,
                                const struct corio_mqtt_sub *subs, size_t count,
                                const uint8_t *props, size_t props_len)
{
    return encode_sub(buf, cap, version, CORIO_MQTT_SUBSCRIBE, packet_id, subs, count, props,
                      props_len);
}

int corio_mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, uint8_t version, uint16_t packet_id,
                                  const struct corio_mqtt_sub *subs, size_t count,
                                  const uint8_t *props, size_t props_len)
{
    return encode_sub(buf, cap, version, CORIO_MQTT_UNSUBSCRIBE, packet_id, subs, count, props,
                      props_len);
}

int corio_mqtt_encode_pingreq(uint8_t *buf, size_t cap)
{
    uint8_t *w = NULL;
    return begin(buf, cap, CORIO_MQTT_PINGREQ << 4, 0, &w);
}

/* DISCONNECT and AUTH: a reason code and properties, both omitted when 0 and empty. */
static int encode_reason(uint8_t *buf, size_t cap, uint8_t type, uint8_t reason,
                         const uint8_t *props, size_t props_len)
{
    size_t rem = 0;
    if (props_len)
        rem = 1 + props_size(props_len);
    else if (reason)
        rem = 1;
    uint8_t *w = NULL;
    int total = begin(buf, cap, (uint8_t)(type << 4), rem, &w);
    if (total < 0 || !buf)
        return total;
    if (rem)
        *w++ = reason;
    if (props_len)
        corio__mqtt_put_props(w, props, props_len);
    return total;
}

int corio_mqtt_encode_disconnect(uint8_t *buf, size_t cap, uint8_t version, uint8_t reason,
                                 const uint8_t *props, size_t props_len)
{
    if (!version_ok(version) ||
        !props_valid(version, props, props_len, CORIO_MQTT_DISCONNECT, NULL))
        return CORIO_ERR_INVAL;
    if (version == CORIO_MQTT_V311 ? reason != 0
                                   : !corio__mqtt_reason_ok(CORIO_MQTT_DISCONNECT, reason, 1))
        return CORIO_ERR_INVAL;
    return encode_reason(buf, cap, CORIO_MQTT_DISCONNECT, reason, props, props_len);
}

int corio_mqtt_encode_auth(uint8_t *buf, size_t cap, uint8_t reason, const uint8_t *props,
                           size_t props_len)
{
    /* MQTT 5.0 §3.15.2.2.2: an AUTH with properties names its method (props_check's
     * rule for AUTH); only a bare success may omit both. */
    if (!corio__mqtt_reason_ok(CORIO_MQTT_AUTH, reason, 1) ||
        ((reason != 0 || props_len) &&
         !props_valid(CORIO_MQTT_V5, props, props_len, CORIO_MQTT_AUTH, NULL)))
        return CORIO_ERR_INVAL;
    return encode_reason(buf, cap, CORIO_MQTT_AUTH, reason, props, props_len);
}
