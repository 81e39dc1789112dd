/*
 * fuzz_mqtt_decode.c - every MQTT decoder on arbitrary bytes: corio_mqtt_frame over a
 * stream, corio_mqtt_decode on each framed packet and on the whole input, and the
 * property iterator on whatever it is given. The first byte picks the protocol level.
 *
 * Beyond "no crash", it checks what a decoder promises: every view it returns lies
 * inside the input, a property block it accepted iterates without error, and a PUBLISH
 * it accepted re-encodes to the very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/mqtt_codec.h"

static const uint8_t *lo, *hi;

static void inside(const void *p, size_t len)
{
    const uint8_t *b = p;
    if (len == 0)
        return;
    if (!b || b < lo || b > hi || (size_t)(hi - b) < len)
        abort();
}

static void walk_props(const uint8_t *block, size_t len, int must_be_valid)
{
    struct corio_mqtt_prop_iter it;
    struct corio_mqtt_prop pr;
    int rc;
    corio_mqtt_prop_iter_init(&it, block, len);
    while ((rc = corio_mqtt_prop_next(&it, &pr)) == CORIO_OK) {
        inside(pr.data, pr.len);
        inside(pr.data2, pr.len2);
    }
    if (must_be_valid && rc != CORIO_ERR_NOTFOUND)
        abort();
}

static void check(uint8_t version, const uint8_t *pkt, size_t len)
{
    struct corio_mqtt_packet p;
    if (corio_mqtt_decode(version, pkt, len, &p) != CORIO_OK)
        return;
    switch (p.type) {
    case CORIO_MQTT_CONNACK:
        inside(p.u.connack.props, p.u.connack.props_len);
        walk_props(p.u.connack.props, p.u.connack.props_len, 1);
        break;
    case CORIO_MQTT_PUBLISH: {
        const struct corio_mqtt_publish *m = &p.u.publish;
        inside(m->topic, m->topic_len);
        inside(m->props, m->props_len);
        inside(m->payload, m->payload_len);
        walk_props(m->props, m->props_len, 1);
        /* What the decoder accepted, the encoder writes back identically (the client
         * encoder refuses QoS 2 and Subscription Identifiers, which only brokers send). */
        static uint8_t out[1 << 16];
        int n = corio_mqtt_encode_publish(out, sizeof out, version, m);
        if (n >= 0 && ((size_t)n != len || memcmp(out, pkt, len) != 0))
            abort();
        break;
    }
    case CORIO_MQTT_PUBACK:
    case CORIO_MQTT_PUBREC:
    case CORIO_MQTT_PUBREL:
    case CORIO_MQTT_PUBCOMP:
        inside(p.u.ack.props, p.u.ack.props_len);
        walk_props(p.u.ack.props, p.u.ack.props_len, 1);
        if (p.u.ack.packet_id == 0)
            abort();
        break;
    case CORIO_MQTT_SUBACK:
    case CORIO_MQTT_UNSUBACK:
        inside(p.u.suback.props, p.u.suback.props_len);
        inside(p.u.suback.reasons, p.u.suback.count);
        walk_props(p.u.suback.props, p.u.suback.props_len, 1);
        break;
    case CORIO_MQTT_DISCONNECT:
    case CORIO_MQTT_AUTH:
        inside(p.u.reason.props, p.u.reason.props_len);
        walk_props(p.u.reason.props, p.u.reason.props_len, 1);
        break;
    case CORIO_MQTT_PINGRESP:
        break;
    default:
        abort(); /* a type the decoder must refuse */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t version = (data[0] & 1) ? CORIO_MQTT_V5 : CORIO_MQTT_V311;
    data++;
    size--;
    lo = data;
    hi = data + size;

    check(version, data, size);
    size_t off = 0;
    while (off < size) {
        size_t len;
        if (corio_mqtt_frame(data + off, size - off, &len) != CORIO_OK || len > size - off)
            break;
        check(version, data + off, len);
        off += len;
    }
    walk_props(data, size, 0);
    struct corio_mqtt_prop pr;
    (void)corio_mqtt_prop_find(data, size, CORIO_MQTT_PROP_AUTH_DATA, &pr);
    return 0;
}
