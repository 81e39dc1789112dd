/*
 * mqtt_props.c - the primitives under the MQTT codec: variable byte integers, MQTT's
 * UTF-8 and topic rules, MQTT 5 properties (build, iterate, and the per-packet rules of
 * MQTT 5.0 §2.2.2.2) and reason codes (§2.4): the rules encoders and decoders share.
 */
#include <string.h>

#include "corio/mqtt_codec.h"
#include "corio_int.h"
#include "mqtt_int.h"

/* ---------------------------------------------------------------------------------
 * Variable byte integers and strings
 */

size_t corio__mqtt_varint_len(uint32_t v)
{
    if (v < 128u)
        return 1;
    if (v < 16384u)
        return 2;
    if (v < 2097152u)
        return 3;
    return 4;
}

size_t corio__mqtt_varint_put(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7Fu);
        v >>= 7;
        if (v)
            b |= 0x80u;
        p[n++] = b;
    } while (v && n < 4);
    return n;
}

int corio__mqtt_varint_get(const uint8_t *p, size_t len, uint32_t *v, size_t *used)
{
    uint32_t val = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len)
            return CORIO_ERR_AGAIN;
        uint8_t b = p[i];
        val |= (uint32_t)(b & 0x7Fu) << (7 * i);
        if (!(b & 0x80u)) {
            /* A zero final byte after the first means a longer encoding than needed,
             * which MQTT 5.0 §1.5.5 forbids. */
            if (i > 0 && b == 0)
                return CORIO_ERR_MALFORMED;
            *v = val;
            *used = i + 1;
            return CORIO_OK;
        }
    }
    return CORIO_ERR_MALFORMED;
}

int corio__mqtt_utf8_ok(const uint8_t *s, size_t len)
{
    /* MQTT also forbids U+0000 (MQTT 5.0 §1.5.4). */
    return corio__utf8_ok(s, len) && (len == 0 || !memchr(s, 0, len));
}

int corio__mqtt_topic_name_ok(const uint8_t *s, size_t len)
{
    if (!corio__mqtt_utf8_ok(s, len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '+' || s[i] == '#')
            return 0;
    return 1;
}

int corio__mqtt_topic_filter_ok(const uint8_t *s, size_t len)
{
    if (len == 0 || !corio__mqtt_utf8_ok(s, len))
        return 0;
    for (size_t i = 0; i < len; i++) {
        int starts_level = i == 0 || s[i - 1] == '/';
        if (s[i] == '#' && (!starts_level || i + 1 != len))
            return 0;
        if (s[i] == '+' && (!starts_level || (i + 1 < len && s[i + 1] != '/')))
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------
 * The property table
 */

/* Value types; the fixed-size integers' codes are their widths in bytes. */
enum { T_NONE, T_BYTE = 1, T_U16 = 2, T_VARINT = 3, T_U32 = 4, T_STR, T_BIN, T_PAIR };

/* One word per identifier: the contexts it may appear in, a bit per packet type (bit 0
 * the will), and its value type. PUBREC, PUBREL and PUBCOMP allow what PUBACK does
 * and PINGREQ carries no properties, so their bits hold the type (bits 5-7) and NZ
 * (bit 12): one table of words instead of a table of words and one of bytes. */
#define TYPE(t)    ((unsigned)(t) << 5)
#define TYPE_OF(w) (((w) >> 5) & 7u)
#define NZ         (1u << 12) /* the value must not be 0 (MQTT 5.0 §3.1.2.11, §3.3.2.3) */

#define IN(t) (1u << (t))
#define WILL  IN(CORIO__MQTT_CTX_WILL)
#define CONN  IN(CORIO_MQTT_CONNECT)
#define CACK  IN(CORIO_MQTT_CONNACK)
#define PUB   IN(CORIO_MQTT_PUBLISH)
#define ACKS  IN(CORIO_MQTT_PUBACK) /* and PUBREC, PUBREL, PUBCOMP */
#define SUB   IN(CORIO_MQTT_SUBSCRIBE)
#define SACK  IN(CORIO_MQTT_SUBACK)
#define UNSUB IN(CORIO_MQTT_UNSUBSCRIBE)
#define UACK  IN(CORIO_MQTT_UNSUBACK)
#define DISC  IN(CORIO_MQTT_DISCONNECT)
#define AUTH  IN(CORIO_MQTT_AUTH)

#define PROP_TABLE_SIZE 0x2B

static const uint16_t prop_info[PROP_TABLE_SIZE] = {
    [CORIO_MQTT_PROP_PAYLOAD_FORMAT] = WILL | PUB | TYPE(T_BYTE),
    [CORIO_MQTT_PROP_MESSAGE_EXPIRY] = WILL | PUB | TYPE(T_U32),
    [CORIO_MQTT_PROP_CONTENT_TYPE] = WILL | PUB | TYPE(T_STR),
    [CORIO_MQTT_PROP_RESPONSE_TOPIC] = WILL | PUB | TYPE(T_STR),
    [CORIO_MQTT_PROP_CORRELATION_DATA] = WILL | PUB | TYPE(T_BIN),
    [CORIO_MQTT_PROP_SUBSCRIPTION_ID] = PUB | SUB | TYPE(T_VARINT) | NZ,
    [CORIO_MQTT_PROP_SESSION_EXPIRY] = CONN | CACK | DISC | TYPE(T_U32),
    [CORIO_MQTT_PROP_ASSIGNED_CLIENT_ID] = CACK | TYPE(T_STR),
    [CORIO_MQTT_PROP_SERVER_KEEP_ALIVE] = CACK | TYPE(T_U16),
    [CORIO_MQTT_PROP_AUTH_METHOD] = CONN | CACK | AUTH | TYPE(T_STR),
    [CORIO_MQTT_PROP_AUTH_DATA] = CONN | CACK | AUTH | TYPE(T_BIN),
    [CORIO_MQTT_PROP_REQUEST_PROBLEM_INFO] = CONN | TYPE(T_BYTE),
    [CORIO_MQTT_PROP_WILL_DELAY] = WILL | TYPE(T_U32),
    [CORIO_MQTT_PROP_REQUEST_RESPONSE_INFO] = CONN | TYPE(T_BYTE),
    [CORIO_MQTT_PROP_RESPONSE_INFO] = CACK | TYPE(T_STR),
    [CORIO_MQTT_PROP_SERVER_REFERENCE] = CACK | DISC | TYPE(T_STR),
    [CORIO_MQTT_PROP_REASON_STRING] = CACK | ACKS | SACK | UACK | DISC | AUTH | TYPE(T_STR),
    [CORIO_MQTT_PROP_RECEIVE_MAXIMUM] = CONN | CACK | TYPE(T_U16) | NZ,
    [CORIO_MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = CONN | CACK | TYPE(T_U16),
    [CORIO_MQTT_PROP_TOPIC_ALIAS] = PUB | TYPE(T_U16) | NZ,
    [CORIO_MQTT_PROP_MAXIMUM_QOS] = CACK | TYPE(T_BYTE),
    [CORIO_MQTT_PROP_RETAIN_AVAILABLE] = CACK | TYPE(T_BYTE),
    [CORIO_MQTT_PROP_USER_PROPERTY] =
        WILL | CONN | CACK | PUB | ACKS | SUB | SACK | UNSUB | UACK | DISC | AUTH | TYPE(T_PAIR),
    [CORIO_MQTT_PROP_MAXIMUM_PACKET_SIZE] = CONN | CACK | TYPE(T_U32) | NZ,
    [CORIO_MQTT_PROP_WILDCARD_SUB_AVAILABLE] = CACK | TYPE(T_BYTE),
    [CORIO_MQTT_PROP_SUB_ID_AVAILABLE] = CACK | TYPE(T_BYTE),
    [CORIO_MQTT_PROP_SHARED_SUB_AVAILABLE] = CACK | TYPE(T_BYTE),
};

static uint8_t prop_type(uint32_t id)
{
    return id < PROP_TABLE_SIZE ? (uint8_t)TYPE_OF(prop_info[id]) : (uint8_t)T_NONE;
}

/* Bytes of a fixed-size integer property's value (T_BYTE, T_U16, T_U32), else 0. */
static size_t int_width(uint8_t t)
{
    return t <= T_U32 && t != T_VARINT ? t : 0u;
}

/* ---------------------------------------------------------------------------------
 * Building
 */

void corio_mqtt_props_init(struct corio_mqtt_props *p, uint8_t *buf, size_t cap)
{
    p->buf = buf;
    p->cap = buf ? cap : 0;
    p->len = 0;
}

int corio_mqtt_props_add_int(struct corio_mqtt_props *p, uint8_t id, uint32_t value)
{
    if (!p)
        return CORIO_ERR_INVAL;
    uint8_t t = prop_type(id);
    size_t w = int_width(t), need;
    if (w)
        need = 1 + w;
    else if (t == T_VARINT && value <= CORIO_MQTT_MAX_REMAINING)
        need = 1 + corio__mqtt_varint_len(value);
    else
        return CORIO_ERR_INVAL;
    if (w < 4 && w && value >> (8 * w))
        return CORIO_ERR_INVAL; /* does not fit its type */
    if (p->cap - p->len < need)
        return CORIO_ERR_NOSPACE;
    uint8_t *o = p->buf + p->len;
    o[0] = id;
    if (w)
        for (size_t i = 0; i < w; i++)
            o[1 + i] = (uint8_t)(value >> (8 * (w - 1 - i)));
    else
        corio__mqtt_varint_put(o + 1, value);
    p->len += need;
    return CORIO_OK;
}

static void put_str(uint8_t *w, const void *data, size_t len)
{
    w[0] = (uint8_t)(len >> 8);
    w[1] = (uint8_t)len;
    if (len)
        memcpy(w + 2, data, len);
}

int corio_mqtt_props_add_bytes(struct corio_mqtt_props *p, uint8_t id, const void *data, size_t len)
{
    uint8_t t = prop_type(id);
    if (!p || (t != T_STR && t != T_BIN) || len > 0xFFFFu || (len && !data))
        return CORIO_ERR_INVAL;
    if (t == T_STR && !corio__mqtt_utf8_ok(data, len))
        return CORIO_ERR_INVAL;
    if (p->cap - p->len < 3 + len)
        return CORIO_ERR_NOSPACE;
    p->buf[p->len] = id;
    put_str(p->buf + p->len + 1, data, len);
    p->len += 3 + len;
    return CORIO_OK;
}

int corio_mqtt_props_add_user(struct corio_mqtt_props *p, const char *key, size_t key_len,
                              const char *value, size_t value_len)
{
    if (!p || key_len > 0xFFFFu || value_len > 0xFFFFu || (key_len && !key) ||
        (value_len && !value))
        return CORIO_ERR_INVAL;
    if (!corio__mqtt_utf8_ok((const uint8_t *)key, key_len) ||
        !corio__mqtt_utf8_ok((const uint8_t *)value, value_len))
        return CORIO_ERR_INVAL;
    size_t need = 5 + key_len + value_len;
    if (p->cap - p->len < need)
        return CORIO_ERR_NOSPACE;
    uint8_t *w = p->buf + p->len;
    w[0] = CORIO_MQTT_PROP_USER_PROPERTY;
    put_str(w + 1, key, key_len);
    put_str(w + 3 + key_len, value, value_len);
    p->len += need;
    return CORIO_OK;
}

/* ---------------------------------------------------------------------------------
 * Reading
 */

void corio_mqtt_prop_iter_init(struct corio_mqtt_prop_iter *it, const uint8_t *block, size_t len)
{
    it->block = block;
    it->len = block ? len : 0;
    it->off = 0;
}

/* Reads a two-byte length and the bytes it counts from p (up to end); returns what
 * follows, or NULL when they do not fit. */
static const uint8_t *get_str(const uint8_t *p, const uint8_t *end, const uint8_t **data,
                              uint16_t *len)
{
    if (end - p < 2)
        return NULL;
    uint16_t n = (uint16_t)((p[0] << 8) | p[1]);
    if (end - p - 2 < n)
        return NULL;
    *data = p + 2;
    *len = n;
    return p + 2 + n;
}

/* Reads the property at *off in block[0 .. len) into *out and moves *off past it: the
 * walk under both corio_mqtt_prop_next() and corio__mqtt_props_check(). */
static int prop_read(const uint8_t *block, size_t len, size_t *off, struct corio_mqtt_prop *out)
{
    if (*off >= len)
        return CORIO_ERR_NOTFOUND;
    const uint8_t *p = block + *off, *end = block + len;
    /* Identifiers are variable byte integers, and every one MQTT 5 defines is below
     * 0x80: a first byte with its top bit set starts an unknown identifier or one
     * encoded longer than needed, both malformed. */
    uint8_t id = *p++, t = prop_type(id);
    if (t == T_NONE)
        return CORIO_ERR_MALFORMED;
    memset(out, 0, sizeof *out);
    out->id = id;
    if (t == T_VARINT) {
        size_t n;
        if (corio__mqtt_varint_get(p, (size_t)(end - p), &out->value, &n) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        p += n;
    } else if (t <= T_U32) { /* T_BYTE, T_U16, T_U32: the width in bytes */
        if (end - p < t)
            return CORIO_ERR_MALFORMED;
        for (; t; t--)
            out->value = out->value << 8 | *p++;
    } else { /* T_STR, T_BIN, T_PAIR */
        p = get_str(p, end, &out->data, &out->len);
        if (p && t == T_PAIR)
            p = get_str(p, end, &out->data2, &out->len2);
        if (!p)
            return CORIO_ERR_MALFORMED;
    }
    *off = (size_t)(p - block);
    return CORIO_OK;
}

int corio_mqtt_prop_next(struct corio_mqtt_prop_iter *it, struct corio_mqtt_prop *out)
{
    if (!it || !out)
        return CORIO_ERR_INVAL;
    return prop_read(it->block, it->len, &it->off, out);
}

int corio_mqtt_prop_find(const uint8_t *block, size_t len, uint8_t id, struct corio_mqtt_prop *out)
{
    struct corio_mqtt_prop_iter it;
    int rc;
    if (!out)
        return CORIO_ERR_INVAL;
    corio_mqtt_prop_iter_init(&it, block, len);
    while ((rc = corio_mqtt_prop_next(&it, out)) == CORIO_OK)
        if (out->id == id)
            return CORIO_OK;
    return rc;
}

int corio__mqtt_props_check(const uint8_t *block, size_t len, unsigned ctx, uint8_t *seen,
                            corio__mqtt_prop_fn fn, void *arg)
{
    struct corio_mqtt_prop pr;
    size_t off = 0;
    /* A bit per identifier, in bytes: a 64-bit mask would cost 32-bit parts a libgcc
     * shift per property. */
    uint8_t own[CORIO__MQTT_PROP_SET];
    int rc;
    /* PUBREC, PUBREL and PUBCOMP allow what PUBACK does; PINGREQ and PINGRESP nothing
     * (their bits in prop_info hold other things: bit 16 is none of them). */
    unsigned where = ctx - CORIO_MQTT_PUBREC < 3u    ? (unsigned)CORIO_MQTT_PUBACK
                     : ctx - CORIO_MQTT_PINGREQ < 2u ? 16u
                                                     : ctx;
    if (!seen)
        seen = own;
    memset(seen, 0, CORIO__MQTT_PROP_SET);
    while ((rc = prop_read(block, len, &off, &pr)) == CORIO_OK) {
        unsigned w = prop_info[pr.id], t = TYPE_OF(w);
        uint8_t bit = (uint8_t)(1u << (pr.id & 7u));
        /* Only User Property may repeat, and Subscription Identifier in a PUBLISH
         * (one per matching subscription). */
        int may_repeat = pr.id == CORIO_MQTT_PROP_USER_PROPERTY ||
                         (pr.id == CORIO_MQTT_PROP_SUBSCRIPTION_ID && ctx == CORIO_MQTT_PUBLISH);
        if (!(w & (1u << where)) || ((seen[pr.id >> 3] & bit) && !may_repeat) ||
            ((w & NZ) && pr.value == 0) ||
            /* Every byte property is a 0/1 flag. */
            (t == T_BYTE && pr.value > 1) ||
            /* A string, or both of a pair (data2 is empty for a string). */
            ((t == T_STR || t == T_PAIR) &&
             (!corio__mqtt_utf8_ok(pr.data, pr.len) || !corio__mqtt_utf8_ok(pr.data2, pr.len2))) ||
            (pr.id == CORIO_MQTT_PROP_RESPONSE_TOPIC &&
             (pr.len == 0 || !corio__mqtt_topic_name_ok(pr.data, pr.len))))
            return CORIO_ERR_MALFORMED;
        seen[pr.id >> 3] |= bit;
        if (fn)
            fn(arg, &pr);
    }
    if (rc != CORIO_ERR_NOTFOUND)
        return CORIO_ERR_MALFORMED;
    /* MQTT 5.0 §3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.3: Authentication Data only with
     * its Method; §3.15.2.2.2: an AUTH's properties always name the Method. */
    if (!CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_AUTH_METHOD) &&
        (CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_AUTH_DATA) || ctx == CORIO_MQTT_AUTH))
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}

/* ---------------------------------------------------------------------------------
 * Reason codes allowed per packet (MQTT 5.0 table 2-6)
 */

/* Each reason code as a set of the contexts allowing it, a bit per context: so one
 * byte per code instead of a list per packet. */
enum {
    RC_CONNACK = 1u << 0,
    RC_PUBACK = 1u << 1, /* and PUBREC */
    RC_PUBREL = 1u << 2, /* and PUBCOMP */
    RC_SUBACK = 1u << 3,
    RC_UNSUBACK = 1u << 4,
    RC_DISC_SERVER = 1u << 5,
    RC_DISC_CLIENT = 1u << 6,
    RC_AUTH = 1u << 7,
};

/* The codes below 0x80 that MQTT 5 defines, and their contexts. */
static const uint8_t rc_low[] = {0x00, 0x01, 0x02, 0x04, 0x10, 0x11, 0x18, 0x19};
static const uint8_t rc_low_ctx[] = {0xFF,      RC_SUBACK,   RC_SUBACK, RC_DISC_CLIENT,
                                     RC_PUBACK, RC_UNSUBACK, RC_AUTH,   RC_AUTH};
/* 0x80 .. 0xA2 (generated from table 2-6). */
static const uint8_t rc_high_ctx[] = {0x7B, 0x61, 0x61, 0x7B, 0x01, 0x01, 0x01, 0x3B, 0x01,
                                      0x21, 0x01, 0x20, 0x01, 0x20, 0x20, 0x38, 0x63, 0x1A,
                                      0x04, 0x60, 0x60, 0x61, 0x60, 0x2B, 0x60, 0x63, 0x21,
                                      0x21, 0x21, 0x21, 0x28, 0x21, 0x20, 0x28, 0x28};

/* The context bit of each packet type (0: no reason codes); DISCONNECT's depends on
 * the sender. */
static const uint8_t rc_type_ctx[16] = {
    [CORIO_MQTT_CONNACK] = RC_CONNACK,   [CORIO_MQTT_PUBACK] = RC_PUBACK,
    [CORIO_MQTT_PUBREC] = RC_PUBACK,     [CORIO_MQTT_PUBREL] = RC_PUBREL,
    [CORIO_MQTT_PUBCOMP] = RC_PUBREL,    [CORIO_MQTT_SUBACK] = RC_SUBACK,
    [CORIO_MQTT_UNSUBACK] = RC_UNSUBACK, [CORIO_MQTT_DISCONNECT] = RC_DISC_SERVER,
    [CORIO_MQTT_AUTH] = RC_AUTH,
};

int corio__mqtt_reason_ok(unsigned type, uint8_t rc, int by_client)
{
    uint8_t want = rc_type_ctx[type & 15u], ctx = 0; /* type is a packet type */
    if (type == CORIO_MQTT_DISCONNECT && by_client)
        want = RC_DISC_CLIENT;
    if (rc >= 0x80) {
        if (rc - 0x80u < sizeof rc_high_ctx)
            ctx = rc_high_ctx[rc - 0x80u];
    } else {
        const uint8_t *p = memchr(rc_low, rc, sizeof rc_low);
        if (p)
            ctx = rc_low_ctx[p - rc_low];
    }
    return (ctx & want) != 0;
}
