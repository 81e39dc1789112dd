/*
 * test_mqtt_codec.c - the MQTT codec (mqtt_codec.h): encoders produce byte-exact
 * packets (the MQTT 3.1.1 and 5.0 specifications' examples, and hand-built ones),
 * decoders read what brokers send and refuse every malformed variant, properties build
 * and iterate, framing copes with partial input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "corio/mqtt_codec.h"

#define V4 CORIO_MQTT_V311
#define V5 CORIO_MQTT_V5

/* Asserts that an encoder returned n and wrote exactly the bytes given. */
#define EXPECT(n, buf, ...)                                                                        \
    do {                                                                                           \
        static const uint8_t want_[] = {__VA_ARGS__};                                              \
        assert_int_equal((n), (int)sizeof want_);                                                  \
        assert_memory_equal((buf), want_, sizeof want_);                                           \
    } while (0)

#define LIT(s) (s), (uint16_t)(sizeof(s) - 1)

static int decode_bytes(uint8_t version, struct corio_mqtt_packet *out, const uint8_t *b, size_t n)
{
    return corio_mqtt_decode(version, b, n, out);
}
#define DECODE(ver, out, ...)                                                                      \
    decode_bytes(ver, out, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

/* ---------------------------------------------------------------------------------
 * Framing: the variable byte integer examples of MQTT 5.0 §1.5.5 / 3.1.1 §2.2.3.
 */

static void frame_lengths_from_the_spec(void **state)
{
    (void)state;
    static const struct {
        uint8_t bytes[5];
        size_t n;
        size_t value;
    } v[] = {
        {{0x00}, 1, 0},
        {{0x7F}, 1, 127},
        {{0x80, 0x01}, 2, 128},
        {{0xFF, 0x7F}, 2, 16383},
        {{0x80, 0x80, 0x01}, 3, 16384},
        {{0xFF, 0xFF, 0x7F}, 3, 2097151},
        {{0x80, 0x80, 0x80, 0x01}, 4, 2097152},
        {{0xFF, 0xFF, 0xFF, 0x7F}, 4, 268435455},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t buf[6] = {0x30};
        size_t len = 0;
        memcpy(buf + 1, v[i].bytes, v[i].n);
        assert_int_equal(corio_mqtt_frame(buf, 1 + v[i].n, &len), CORIO_OK);
        assert_int_equal(len, 1 + v[i].n + v[i].value);
        /* Any prefix that stops inside the length asks for more. */
        for (size_t k = 0; k < 1 + v[i].n; k++)
            assert_int_equal(corio_mqtt_frame(buf, k, &len), CORIO_ERR_AGAIN);
    }
}

static void frame_refuses_bad_lengths(void **state)
{
    (void)state;
    size_t len;
    static const uint8_t five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    static const uint8_t nonminimal[] = {0x30, 0x80, 0x00};
    static const uint8_t nonminimal4[] = {0x30, 0xFF, 0x80, 0x80, 0x00};
    assert_int_equal(corio_mqtt_frame(five, sizeof five, &len), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_mqtt_frame(nonminimal, sizeof nonminimal, &len), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_mqtt_frame(nonminimal4, sizeof nonminimal4, &len), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_mqtt_frame(NULL, 3, &len), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_frame(five, 2, NULL), CORIO_ERR_INVAL);
}

/* The encoder picks the same lengths: payloads that cross the one/two byte boundary. */
static void encoder_remaining_length_boundaries(void **state)
{
    (void)state;
    static uint8_t payload[200], buf[256];
    struct corio_mqtt_publish p = {.topic = "t", .topic_len = 1, .payload = payload};
    p.payload_len = 124; /* 2 + 1 + 124 = 127 */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V4, &p), 129);
    assert_int_equal(buf[1], 0x7F);
    p.payload_len = 125; /* 128 */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V4, &p), 131);
    assert_int_equal(buf[1], 0x80);
    assert_int_equal(buf[2], 0x01);
    size_t len;
    assert_int_equal(corio_mqtt_frame(buf, 3, &len), CORIO_OK);
    assert_int_equal(len, 131);
}

/* ---------------------------------------------------------------------------------
 * CONNECT
 */

static const struct corio_mqtt_will spec_will = {
    .topic = "w/t", .topic_len = 3, .payload = (const uint8_t *)"bye", .payload_len = 3, .qos = 1};

/* MQTT 3.1.1 §3.1.2.10: protocol name, level 4, flags 0xCE, keep alive 10. */
static void connect_311_spec_example(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct corio_mqtt_connect c = {.version = V4,
                                   .clean_start = true,
                                   .keepalive_s = 10,
                                   .client_id = "cid",
                                   .client_id_len = 3,
                                   .will = &spec_will,
                                   .username = "u",
                                   .username_len = 1,
                                   .password = (const uint8_t *)"p",
                                   .password_len = 1};
    int n = corio_mqtt_encode_connect(buf, sizeof buf, &c);
    EXPECT(n, buf, 0x10, 31, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xCE, 0x00, 0x0A, 0, 3, 'c', 'i',
           'd', 0, 3, 'w', '/', 't', 0, 3, 'b', 'y', 'e', 0, 1, 'u', 0, 1, 'p');
    assert_int_equal(corio_mqtt_encode_connect(NULL, 0, &c), n);
}

/* MQTT 5.0 §3.1.2.11: the same flags plus Session Expiry Interval 10 as a property. */
static void connect_5_spec_example(void **state)
{
    (void)state;
    uint8_t buf[64], pb[16];
    struct corio_mqtt_props props;
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_SESSION_EXPIRY, 10),
                     CORIO_OK);
    struct corio_mqtt_connect c = {.version = V5,
                                   .clean_start = true,
                                   .keepalive_s = 10,
                                   .client_id = "cid",
                                   .client_id_len = 3,
                                   .will = &spec_will,
                                   .username = "u",
                                   .username_len = 1,
                                   .password = (const uint8_t *)"p",
                                   .password_len = 1,
                                   .props = pb,
                                   .props_len = props.len};
    int n = corio_mqtt_encode_connect(buf, sizeof buf, &c);
    EXPECT(n, buf, 0x10, 38, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0xCE, 0x00, 0x0A, 0x05, 0x11,
           0x00, 0x00, 0x00, 0x0A, 0, 3, 'c', 'i', 'd', 0x00, 0, 3, 'w', '/', 't', 0, 3, 'b', 'y',
           'e', 0, 1, 'u', 0, 1, 'p');
}

static void connect_5_auth_will_props_and_flags(void **state)
{
    (void)state;
    uint8_t buf[96], pb[32], wb[8];
    struct corio_mqtt_props props, wprops;
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(
        corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_AUTH_METHOD, "corio-eat-v1", 12),
        CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_AUTH_DATA, "\x01\x02", 2),
                     CORIO_OK);
    corio_mqtt_props_init(&wprops, wb, sizeof wb);
    assert_int_equal(corio_mqtt_props_add_int(&wprops, CORIO_MQTT_PROP_WILL_DELAY, 5), CORIO_OK);
    struct corio_mqtt_will w = {.topic = "d",
                                .topic_len = 1,
                                .qos = 0,
                                .retain = true,
                                .props = wb,
                                .props_len = wprops.len};
    /* No clean start, a will with retain and an empty payload, a password alone. */
    struct corio_mqtt_connect c = {.version = V5,
                                   .keepalive_s = 0x1234,
                                   .client_id = "x",
                                   .client_id_len = 1,
                                   .will = &w,
                                   .password = (const uint8_t *)"pw",
                                   .password_len = 2,
                                   .props = pb,
                                   .props_len = props.len};
    int n = corio_mqtt_encode_connect(buf, sizeof buf, &c);
    EXPECT(n, buf, 0x10, 49, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x64, 0x12, 0x34, 20, 0x15, 0, 12, 'c',
           'o', 'r', 'i', 'o', '-', 'e', 'a', 't', '-', 'v', '1', 0x16, 0, 2, 1, 2, 0, 1, 'x', 5,
           0x18, 0, 0, 0, 5, 0, 1, 'd', 0, 0, 0, 2, 'p', 'w');
}

static void connect_refuses_what_the_spec_forbids(void **state)
{
    (void)state;
    uint8_t buf[128], pb[8];
    struct corio_mqtt_props props;
    struct corio_mqtt_connect ok = {
        .version = V4, .clean_start = true, .client_id = "c", .client_id_len = 1};
    struct corio_mqtt_connect c;
    assert_true(corio_mqtt_encode_connect(buf, sizeof buf, &ok) > 0);

    c = ok;
    c.version = 3;
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    c = ok;
    c.client_id_len = 0;
    c.clean_start = false; /* 3.1.1: empty id needs clean session */
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    c = ok;
    c.client_id_len = 0;
    c.version = V5; /* MQTT 5: allowed, the broker assigns one */
    assert_true(corio_mqtt_encode_connect(buf, sizeof buf, &c) > 0);
    c = ok;
    c.client_id = "\xC0\x80";
    c.client_id_len = 2; /* overlong NUL */
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    c = ok;
    c.password = (const uint8_t *)"p";
    c.password_len = 1; /* 3.1.1: needs a username */
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    c = ok;
    c.username = "\xED\xA0\x80";
    c.username_len = 3; /* a surrogate */
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);

    struct corio_mqtt_will w = spec_will;
    c = ok;
    c.will = &w;
    w.topic = "a/+"; /* a wildcard in a topic name */
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    w = spec_will;
    w.qos = 3;
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    w = spec_will;
    w.topic_len = 0;
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);

    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_SESSION_EXPIRY, 1), CORIO_OK);
    w = spec_will;
    w.props = pb;
    w.props_len = props.len; /* not a will property */
    c.version = V5;
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    c = ok;
    c.props = pb;
    c.props_len = props.len; /* properties under 3.1.1 */
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    c.version = V5;
    assert_true(corio_mqtt_encode_connect(buf, sizeof buf, &c) > 0);

    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_AUTH_DATA, "d", 1),
                     CORIO_OK);
    c.props_len = props.len; /* Authentication Data without its Method */
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, &c), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_connect(buf, sizeof buf, NULL), CORIO_ERR_INVAL);

    /* Too small a buffer: refused, untouched. */
    memset(buf, 0xAA, sizeof buf);
    assert_int_equal(corio_mqtt_encode_connect(buf, 10, &ok), CORIO_ERR_NOSPACE);
    assert_int_equal(buf[0], 0xAA);
}

/* ---------------------------------------------------------------------------------
 * PUBLISH
 */

/* MQTT 3.1.1 §3.3.2.3: topic "a/b", packet identifier 10. */
static void publish_311_spec_example(void **state)
{
    (void)state;
    uint8_t buf[32];
    struct corio_mqtt_publish p = {.topic = "a/b",
                                   .topic_len = 3,
                                   .qos = 1,
                                   .packet_id = 10,
                                   .payload = (const uint8_t *)"hi",
                                   .payload_len = 2};
    EXPECT(corio_mqtt_encode_publish(buf, sizeof buf, V4, &p), buf, 0x32, 9, 0, 3, 'a', '/', 'b', 0,
           10, 'h', 'i');
    p.dup = true;
    p.retain = true;
    EXPECT(corio_mqtt_encode_publish(buf, sizeof buf, V4, &p), buf, 0x3B, 9, 0, 3, 'a', '/', 'b', 0,
           10, 'h', 'i');
    p.qos = 0;
    p.dup = false;
    p.retain = false;
    p.payload_len = 0;
    EXPECT(corio_mqtt_encode_publish(buf, sizeof buf, V4, &p), buf, 0x30, 5, 0, 3, 'a', '/', 'b');
}

/* MQTT 5.0 §1.5.4: "A" followed by U+2A6D4 encodes as 41 F0 AA 9B 94. */
static void publish_utf8_spec_example(void **state)
{
    (void)state;
    uint8_t buf[32];
    struct corio_mqtt_publish p = {.topic = "A\xF0\xAA\x9B\x94", .topic_len = 5};
    EXPECT(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), buf, 0x30, 8, 0x00, 0x05, 0x41, 0xF0,
           0xAA, 0x9B, 0x94, 0x00);
}

static void publish_5_with_properties(void **state)
{
    (void)state;
    uint8_t buf[128], pb[64];
    struct corio_mqtt_props props;
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_PAYLOAD_FORMAT, 1), CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_MESSAGE_EXPIRY, 0x01020304),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_TOPIC_ALIAS, 7), CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_RESPONSE_TOPIC, "r/t", 3),
                     CORIO_OK);
    assert_int_equal(
        corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_CORRELATION_DATA, "\x00\xFF", 2),
        CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_user(&props, "k", 1, "v", 1), CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_user(&props, "k", 1, "w", 1), CORIO_OK);
    assert_int_equal(props.len, 2 + 5 + 3 + 6 + 5 + 7 + 7);
    struct corio_mqtt_publish p = {.topic = "t",
                                   .topic_len = 1,
                                   .qos = 1,
                                   .packet_id = 0x0102,
                                   .props = pb,
                                   .props_len = props.len,
                                   .payload = (const uint8_t *)"x",
                                   .payload_len = 1};
    EXPECT(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), buf, 0x32, 42, 0, 1, 't', 0x01, 0x02,
           35, 0x01, 1, 0x02, 1, 2, 3, 4, 0x23, 0, 7, 0x08, 0, 3, 'r', '/', 't', 0x09, 0, 2, 0x00,
           0xFF, 0x26, 0, 1, 'k', 0, 1, 'v', 0x26, 0, 1, 'k', 0, 1, 'w', 'x');

    /* An empty topic stands for the alias. */
    p.topic_len = 0;
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), 43);

    /* And the decoder reads back what the encoder wrote. */
    p.topic_len = 1;
    int n = corio_mqtt_encode_publish(buf, sizeof buf, V5, &p);
    struct corio_mqtt_packet d;
    assert_int_equal(corio_mqtt_decode(V5, buf, (size_t)n, &d), CORIO_OK);
    assert_int_equal(d.type, CORIO_MQTT_PUBLISH);
    assert_int_equal(d.u.publish.packet_id, 0x0102);
    assert_int_equal(d.u.publish.props_len, props.len);
    assert_memory_equal(d.u.publish.props, pb, props.len);
    assert_int_equal(d.u.publish.payload_len, 1);
    assert_int_equal(d.u.publish.payload[0], 'x');
}

static void publish_refuses_what_the_spec_forbids(void **state)
{
    (void)state;
    uint8_t buf[64], pb[8];
    struct corio_mqtt_props props;
    const struct corio_mqtt_publish ok = {.topic = "a/b", .topic_len = 3, .qos = 1, .packet_id = 1};
    struct corio_mqtt_publish p;
    p = ok;
    p.topic = "a/#";
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    p = ok;
    p.topic = "a+b";
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    p = ok;
    p.packet_id = 0;
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    p = ok;
    p.qos = 0;
    p.dup = true;
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    p = ok;
    p.qos = 2;
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    p = ok;
    p.topic_len = 0; /* no alias */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V4, &p), CORIO_ERR_INVAL);
    p = ok;
    p.payload_len = 3; /* NULL payload */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_SUBSCRIPTION_ID, 5),
                     CORIO_OK);
    p = ok;
    p.props = pb;
    p.props_len = props.len; /* a client never sends one */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_RECEIVE_MAXIMUM, 5),
                     CORIO_OK);
    p.props_len = props.len; /* not a PUBLISH property */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_TOPIC_ALIAS, 1), CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_TOPIC_ALIAS, 2), CORIO_OK);
    p.props_len = props.len; /* a duplicate */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V5, &p), CORIO_ERR_INVAL);
    p.props_len = 3; /* properties under 3.1.1 */
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, V4, &p), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_publish(buf, sizeof buf, 6, &ok), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_publish(buf, 8, V5, &ok), CORIO_ERR_NOSPACE);
    p = ok;
    p.payload = buf;
    p.payload_len = CORIO_MQTT_MAX_REMAINING; /* too large to frame */
    assert_int_equal(corio_mqtt_encode_publish(NULL, 0, V5, &p), CORIO_ERR_INVAL);
}

/* ---------------------------------------------------------------------------------
 * PUBACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH
 */

static void puback_forms(void **state)
{
    (void)state;
    uint8_t buf[32], pb[8];
    struct corio_mqtt_props props;
    EXPECT(corio_mqtt_encode_puback(buf, sizeof buf, V4, 10, 0, NULL, 0), buf, 0x40, 2, 0, 10);
    EXPECT(corio_mqtt_encode_puback(buf, sizeof buf, V5, 10, 0, NULL, 0), buf, 0x40, 2, 0, 10);
    EXPECT(corio_mqtt_encode_puback(buf, sizeof buf, V5, 10, 0x97, NULL, 0), buf, 0x40, 3, 0, 10,
           0x97);
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_REASON_STRING, "no", 2),
                     CORIO_OK);
    EXPECT(corio_mqtt_encode_puback(buf, sizeof buf, V5, 10, 0x80, pb, props.len), buf, 0x40, 9, 0,
           10, 0x80, 5, 0x1F, 0, 2, 'n', 'o');
    EXPECT(corio_mqtt_encode_puback(buf, sizeof buf, V5, 10, 0, pb, props.len), buf, 0x40, 9, 0, 10,
           0, 5, 0x1F, 0, 2, 'n', 'o');
    assert_int_equal(corio_mqtt_encode_puback(buf, sizeof buf, V4, 10, 0x80, NULL, 0),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_puback(buf, sizeof buf, V5, 0, 0, NULL, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_puback(buf, sizeof buf, V5, 1, 0x05, NULL, 0),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_puback(buf, 3, V5, 1, 0, NULL, 0), CORIO_ERR_NOSPACE);
}

/* MQTT 3.1.1 §3.8.3 and §3.10.3: filters "a/b" (QoS 1) and "c/d" (QoS 2). */
static void subscribe_and_unsubscribe_spec_examples(void **state)
{
    (void)state;
    uint8_t buf[64];
    const struct corio_mqtt_sub subs[] = {{"a/b", 3, CORIO_MQTT_SUB_QOS(1)},
                                          {"c/d", 3, CORIO_MQTT_SUB_QOS(2)}};
    EXPECT(corio_mqtt_encode_subscribe(buf, sizeof buf, V4, 10, subs, 2, NULL, 0), buf, 0x82, 14, 0,
           10, 0, 3, 'a', '/', 'b', 1, 0, 3, 'c', '/', 'd', 2);
    EXPECT(corio_mqtt_encode_unsubscribe(buf, sizeof buf, V4, 10, subs, 2, NULL, 0), buf, 0xA2, 12,
           0, 10, 0, 3, 'a', '/', 'b', 0, 3, 'c', '/', 'd');

    uint8_t pb[8];
    struct corio_mqtt_props props;
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_SUBSCRIPTION_ID, 200),
                     CORIO_OK);
    const struct corio_mqtt_sub s5 = {"+/x/#", 5,
                                      CORIO_MQTT_SUB_QOS(1) | CORIO_MQTT_SUB_NO_LOCAL |
                                          CORIO_MQTT_SUB_RETAIN_AS_PUBLISHED |
                                          CORIO_MQTT_SUB_RETAIN_HANDLING(2)};
    EXPECT(corio_mqtt_encode_subscribe(buf, sizeof buf, V5, 0x1234, &s5, 1, pb, props.len), buf,
           0x82, 14, 0x12, 0x34, 3, 0x0B, 0xC8, 0x01, 0, 5, '+', '/', 'x', '/', '#', 0x2D);
    EXPECT(corio_mqtt_encode_unsubscribe(buf, sizeof buf, V5, 7, &s5, 1, NULL, 0), buf, 0xA2, 10, 0,
           7, 0, 0, 5, '+', '/', 'x', '/', '#');
}

static void subscribe_refuses_bad_filters_and_options(void **state)
{
    (void)state;
    uint8_t buf[64];
    static const char *bad[] = {"", "a/#/b", "a#", "a/b#", "+a", "a/+b", "a\xFF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct corio_mqtt_sub s = {bad[i], (uint16_t)strlen(bad[i]), 0};
        assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V5, 1, &s, 1, NULL, 0),
                         CORIO_ERR_INVAL);
        assert_int_equal(corio_mqtt_encode_unsubscribe(buf, sizeof buf, V5, 1, &s, 1, NULL, 0),
                         CORIO_ERR_INVAL);
    }
    static const char *good[] = {"#", "+", "a/+/b", "/", "a//b", "+/+", "a/#"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct corio_mqtt_sub s = {good[i], (uint16_t)strlen(good[i]), 0};
        assert_true(corio_mqtt_encode_subscribe(buf, sizeof buf, V5, 1, &s, 1, NULL, 0) > 0);
    }
    struct corio_mqtt_sub s = {"a", 1, 3}; /* QoS 3 */
    assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V5, 1, &s, 1, NULL, 0),
                     CORIO_ERR_INVAL);
    s.options = CORIO_MQTT_SUB_RETAIN_HANDLING(3);
    assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V5, 1, &s, 1, NULL, 0),
                     CORIO_ERR_INVAL);
    s.options = 0x40; /* reserved */
    assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V5, 1, &s, 1, NULL, 0),
                     CORIO_ERR_INVAL);
    s.options = CORIO_MQTT_SUB_NO_LOCAL; /* MQTT 5 only */
    assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V4, 1, &s, 1, NULL, 0),
                     CORIO_ERR_INVAL);
    s.options = 0;
    assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V4, 0, &s, 1, NULL, 0),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V4, 1, &s, 0, NULL, 0),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_subscribe(buf, sizeof buf, V4, 1, NULL, 1, NULL, 0),
                     CORIO_ERR_INVAL);
}

static void small_packets(void **state)
{
    (void)state;
    uint8_t buf[32], pb[8];
    struct corio_mqtt_props props;
    EXPECT(corio_mqtt_encode_pingreq(buf, sizeof buf), buf, 0xC0, 0x00);
    assert_int_equal(corio_mqtt_encode_pingreq(buf, 1), CORIO_ERR_NOSPACE);
    EXPECT(corio_mqtt_encode_disconnect(buf, sizeof buf, V4, 0, NULL, 0), buf, 0xE0, 0x00);
    EXPECT(corio_mqtt_encode_disconnect(buf, sizeof buf, V5, 0, NULL, 0), buf, 0xE0, 0x00);
    EXPECT(corio_mqtt_encode_disconnect(buf, sizeof buf, V5, 0x04, NULL, 0), buf, 0xE0, 0x01, 0x04);
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_SESSION_EXPIRY, 0), CORIO_OK);
    EXPECT(corio_mqtt_encode_disconnect(buf, sizeof buf, V5, 0, pb, props.len), buf, 0xE0, 7, 0, 5,
           0x11, 0, 0, 0, 0);
    assert_int_equal(corio_mqtt_encode_disconnect(buf, sizeof buf, V4, 0x04, NULL, 0),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_disconnect(buf, sizeof buf, V5, 0x8E, NULL, 0),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_disconnect(buf, sizeof buf, V4, 0, pb, props.len),
                     CORIO_ERR_INVAL);

    EXPECT(corio_mqtt_encode_auth(buf, sizeof buf, 0, NULL, 0), buf, 0xF0, 0x00);
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_AUTH_METHOD, "m", 1),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_AUTH_DATA, "d", 1),
                     CORIO_OK);
    EXPECT(corio_mqtt_encode_auth(buf, sizeof buf, 0x18, pb, props.len), buf, 0xF0, 10, 0x18, 8,
           0x15, 0, 1, 'm', 0x16, 0, 1, 'd');
    assert_int_equal(corio_mqtt_encode_auth(buf, sizeof buf, 0x18, NULL, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_auth(buf, sizeof buf, 0x19, pb + 4, props.len - 4),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_encode_auth(buf, sizeof buf, 0x01, pb, props.len), CORIO_ERR_INVAL);
}

/* A properties block given from the tail of the output buffer lands in place. */
static void props_from_the_buffer_tail(void **state)
{
    (void)state;
    uint8_t buf[32];
    struct corio_mqtt_props props;
    corio_mqtt_props_init(&props, buf + sizeof buf - 8, 8);
    assert_int_equal(corio_mqtt_props_add_bytes(&props, CORIO_MQTT_PROP_AUTH_METHOD, "abc", 3),
                     CORIO_OK);
    int n = corio_mqtt_encode_auth(buf, sizeof buf, 0x19, props.buf, props.len);
    EXPECT(n, buf, 0xF0, 8, 0x19, 6, 0x15, 0, 3, 'a', 'b', 'c');
}

/* ---------------------------------------------------------------------------------
 * Properties
 */

static void props_build_and_iterate(void **state)
{
    (void)state;
    uint8_t pb[64];
    struct corio_mqtt_props p;
    corio_mqtt_props_init(&p, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_SUBSCRIPTION_ID, 268435455),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_RECEIVE_MAXIMUM, 65535),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_MAXIMUM_QOS, 1), CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_user(&p, "key", 3, "", 0), CORIO_OK);
    static const uint8_t want[] = {0x0B, 0xFF, 0xFF, 0xFF, 0x7F, 0x21, 0xFF, 0xFF, 0x24,
                                   0x01, 0x26, 0,    3,    'k',  'e',  'y',  0,    0};
    assert_int_equal(p.len, sizeof want);
    assert_memory_equal(pb, want, sizeof want);

    struct corio_mqtt_prop_iter it;
    struct corio_mqtt_prop pr;
    corio_mqtt_prop_iter_init(&it, pb, p.len);
    assert_int_equal(corio_mqtt_prop_next(&it, &pr), CORIO_OK);
    assert_int_equal(pr.id, 0x0B);
    assert_int_equal(pr.value, 268435455);
    assert_int_equal(corio_mqtt_prop_next(&it, &pr), CORIO_OK);
    assert_int_equal(pr.value, 65535);
    assert_int_equal(corio_mqtt_prop_next(&it, &pr), CORIO_OK);
    assert_int_equal(pr.value, 1);
    assert_int_equal(corio_mqtt_prop_next(&it, &pr), CORIO_OK);
    assert_int_equal(pr.id, CORIO_MQTT_PROP_USER_PROPERTY);
    assert_int_equal(pr.len, 3);
    assert_memory_equal(pr.data, "key", 3);
    assert_int_equal(pr.len2, 0);
    assert_int_equal(corio_mqtt_prop_next(&it, &pr), CORIO_ERR_NOTFOUND);
    /* The iterator points into the block; it copied nothing. */
    assert_ptr_equal(pr.data, pb + 13);

    assert_int_equal(corio_mqtt_prop_find(pb, p.len, CORIO_MQTT_PROP_MAXIMUM_QOS, &pr), CORIO_OK);
    assert_int_equal(corio_mqtt_prop_find(pb, p.len, CORIO_MQTT_PROP_TOPIC_ALIAS, &pr),
                     CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_mqtt_prop_find(NULL, 0, CORIO_MQTT_PROP_TOPIC_ALIAS, &pr),
                     CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_mqtt_prop_next(NULL, &pr), CORIO_ERR_INVAL);
}

static void props_builder_refusals(void **state)
{
    (void)state;
    uint8_t pb[8];
    struct corio_mqtt_props p;
    corio_mqtt_props_init(&p, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_CONTENT_TYPE, 1),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_int(&p, 0x7F, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_int(&p, 0, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_MAXIMUM_QOS, 256),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_TOPIC_ALIAS, 65536),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_SUBSCRIPTION_ID, 268435456),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_bytes(&p, CORIO_MQTT_PROP_TOPIC_ALIAS, "a", 1),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_bytes(&p, CORIO_MQTT_PROP_CONTENT_TYPE, "\xFE", 1),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_bytes(&p, CORIO_MQTT_PROP_CONTENT_TYPE, NULL, 1),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_bytes(&p, CORIO_MQTT_PROP_CONTENT_TYPE, "a", 70000),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_user(&p, "\xC3", 1, "v", 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_props_add_user(&p, "k", 1, "\xC3", 1), CORIO_ERR_INVAL);
    assert_int_equal(p.len, 0);
    /* Binary data may hold anything, strings may not. */
    assert_int_equal(corio_mqtt_props_add_bytes(&p, CORIO_MQTT_PROP_CORRELATION_DATA, "\0\xFF", 2),
                     CORIO_OK);
    assert_int_equal(p.len, 5);
    /* A full block refuses and stays as it was. */
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_MESSAGE_EXPIRY, 1),
                     CORIO_ERR_NOSPACE);
    assert_int_equal(corio_mqtt_props_add_bytes(&p, CORIO_MQTT_PROP_CONTENT_TYPE, "ab", 2),
                     CORIO_ERR_NOSPACE);
    assert_int_equal(corio_mqtt_props_add_user(&p, "a", 1, "", 0), CORIO_ERR_NOSPACE);
    assert_int_equal(p.len, 5);
    assert_int_equal(corio_mqtt_props_add_int(&p, CORIO_MQTT_PROP_TOPIC_ALIAS, 1), CORIO_OK);
    assert_int_equal(p.len, 8);
}

/* ---------------------------------------------------------------------------------
 * Decoding what brokers send
 */

static void decode_connack(void **state)
{
    (void)state;
    struct corio_mqtt_packet p;
    assert_int_equal(DECODE(V4, &p, 0x20, 2, 0x01, 0x00), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_CONNACK);
    assert_true(p.u.connack.session_present);
    assert_int_equal(p.u.connack.reason, 0);
    assert_int_equal(DECODE(V4, &p, 0x20, 2, 0x00, 0x05), CORIO_OK);
    assert_int_equal(p.u.connack.reason, 5);

    assert_int_equal(DECODE(V5, &p, 0x20, 3, 0x00, 0x00, 0x00), CORIO_OK);
    assert_int_equal(p.u.connack.props_len, 0);
    assert_int_equal(DECODE(V5, &p, 0x20, 3, 0x00, 0x87, 0x00), CORIO_OK);
    assert_int_equal(p.u.connack.reason, 0x87);
    assert_int_equal(DECODE(V5, &p, 0x20, 31, 0x01, 0x00, 28, 0x21, 0, 10, 0x24, 0, 0x25, 1, 0x27,
                            0, 0, 1, 0, 0x13, 0, 30, 0x22, 0, 5, 0x12, 0, 2, 'i', 'd', 0x26, 0, 0,
                            0, 0),
                     CORIO_OK);
    assert_true(p.u.connack.session_present);
    assert_int_equal(p.u.connack.props_len, 28);
    struct corio_mqtt_prop pr;
    assert_int_equal(corio_mqtt_prop_find(p.u.connack.props, p.u.connack.props_len,
                                          CORIO_MQTT_PROP_MAXIMUM_PACKET_SIZE, &pr),
                     CORIO_OK);
    assert_int_equal(pr.value, 256);
    assert_int_equal(corio_mqtt_prop_find(p.u.connack.props, p.u.connack.props_len,
                                          CORIO_MQTT_PROP_ASSIGNED_CLIENT_ID, &pr),
                     CORIO_OK);
    assert_memory_equal(pr.data, "id", 2);
}

static void decode_publish(void **state)
{
    (void)state;
    struct corio_mqtt_packet p;
    assert_int_equal(DECODE(V4, &p, 0x31, 6, 0, 3, 'a', '/', 'b', 'x'), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_PUBLISH);
    assert_int_equal(p.u.publish.qos, 0);
    assert_true(p.u.publish.retain);
    assert_int_equal(p.u.publish.topic_len, 3);
    assert_memory_equal(p.u.publish.topic, "a/b", 3);
    assert_int_equal(p.u.publish.payload_len, 1);
    assert_int_equal(DECODE(V4, &p, 0x3A, 5, 0, 1, 't', 0x12, 0x34), CORIO_OK);
    assert_true(p.u.publish.dup);
    assert_int_equal(p.u.publish.qos, 1);
    assert_int_equal(p.u.publish.packet_id, 0x1234);
    assert_int_equal(p.u.publish.payload_len, 0);
    /* QoS 2 decodes; what to do with it is the client's business. */
    assert_int_equal(DECODE(V4, &p, 0x34, 5, 0, 1, 't', 0, 1), CORIO_OK);
    assert_int_equal(p.u.publish.qos, 2);
    /* MQTT 5: empty topic with an alias; Subscription Identifier may repeat. */
    assert_int_equal(DECODE(V5, &p, 0x30, 6, 0, 0, 3, 0x23, 0, 1), CORIO_OK);
    assert_int_equal(DECODE(V5, &p, 0x30, 8, 0, 1, 't', 4, 0x0B, 1, 0x0B, 2), CORIO_OK);
    assert_int_equal(p.u.publish.props_len, 4);
}

static void decode_acks(void **state)
{
    (void)state;
    struct corio_mqtt_packet p;
    assert_int_equal(DECODE(V4, &p, 0x40, 2, 0, 10), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_PUBACK);
    assert_int_equal(p.u.ack.packet_id, 10);
    assert_int_equal(DECODE(V5, &p, 0x40, 2, 0, 10), CORIO_OK);
    assert_int_equal(p.u.ack.reason, 0);
    assert_int_equal(DECODE(V5, &p, 0x40, 3, 0, 10, 0x10), CORIO_OK);
    assert_int_equal(p.u.ack.reason, 0x10);
    assert_int_equal(DECODE(V5, &p, 0x40, 4, 0, 10, 0x97, 0), CORIO_OK);
    assert_int_equal(p.u.ack.reason, 0x97);
    assert_int_equal(DECODE(V5, &p, 0x40, 9, 0, 10, 0x80, 5, 0x1F, 0, 2, 'n', 'o'), CORIO_OK);
    assert_int_equal(p.u.ack.props_len, 5);
    assert_int_equal(DECODE(V5, &p, 0x50, 2, 0, 1), CORIO_OK);
    assert_int_equal(DECODE(V5, &p, 0x62, 3, 0, 1, 0x92), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_PUBREL);
    assert_int_equal(DECODE(V5, &p, 0x70, 2, 0, 1), CORIO_OK);

    assert_int_equal(DECODE(V4, &p, 0x90, 5, 0, 10, 0x01, 0x02, 0x80), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_SUBACK);
    assert_int_equal(p.u.suback.count, 3);
    assert_int_equal(p.u.suback.reasons[2], 0x80);
    assert_int_equal(DECODE(V5, &p, 0x90, 5, 0, 10, 0, 0x00, 0x87), CORIO_OK);
    assert_int_equal(p.u.suback.count, 2);
    assert_int_equal(DECODE(V4, &p, 0xB0, 2, 0, 10), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_UNSUBACK);
    assert_int_equal(p.u.suback.count, 0);
    assert_int_equal(DECODE(V5, &p, 0xB0, 5, 0, 10, 0, 0x00, 0x11), CORIO_OK);
    assert_int_equal(p.u.suback.count, 2);

    assert_int_equal(DECODE(V4, &p, 0xD0, 0), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_PINGRESP);
}

static void decode_disconnect_and_auth(void **state)
{
    (void)state;
    struct corio_mqtt_packet p;
    assert_int_equal(DECODE(V5, &p, 0xE0, 0), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_DISCONNECT);
    assert_int_equal(p.u.reason.reason, 0);
    assert_int_equal(DECODE(V5, &p, 0xE0, 1, 0x8E), CORIO_OK);
    assert_int_equal(p.u.reason.reason, 0x8E);
    assert_int_equal(DECODE(V5, &p, 0xE0, 2, 0x8B, 0), CORIO_OK);
    assert_int_equal(DECODE(V5, &p, 0xE0, 7, 0x9C, 5, 0x1C, 0, 2, 'h', 'x'), CORIO_OK);
    assert_int_equal(DECODE(V5, &p, 0xF0, 0), CORIO_OK);
    assert_int_equal(p.type, CORIO_MQTT_AUTH);
    assert_int_equal(DECODE(V5, &p, 0xF0, 10, 0x18, 8, 0x15, 0, 1, 'm', 0x16, 0, 1, 'n'), CORIO_OK);
    assert_int_equal(p.u.reason.reason, 0x18);
    struct corio_mqtt_prop pr;
    assert_int_equal(corio_mqtt_prop_find(p.u.reason.props, p.u.reason.props_len,
                                          CORIO_MQTT_PROP_AUTH_DATA, &pr),
                     CORIO_OK);
    assert_int_equal(pr.data[0], 'n');
}

/* Every way a broker's packet can be wrong, each refused. */
struct bad {
    uint8_t version;
    const char *why;
    uint8_t bytes[24];
    size_t len;
};
#define BAD(v, why, ...)                                                                           \
    {                                                                                              \
        v, why, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})                                    \
    }

static const struct bad bad_packets[] = {
    /* framing */
    BAD(V5, "one byte", 0xD0),
    BAD(V5, "length longer than data", 0xD0, 1),
    BAD(V5, "length shorter than data", 0x40, 2, 0, 1, 0),
    BAD(V5, "five-byte length", 0xD0, 0x80, 0x80, 0x80, 0x80, 0x00),
    BAD(V5, "non-minimal length", 0xD0, 0x80, 0x00),
    /* packet types a broker never sends */
    BAD(V5, "type 0", 0x00, 0),
    BAD(V5, "CONNECT", 0x10, 0),
    BAD(V5, "SUBSCRIBE", 0x82, 0),
    BAD(V5, "UNSUBSCRIBE", 0xA2, 0),
    BAD(V5, "PINGREQ", 0xC0, 0),
    BAD(V4, "DISCONNECT under 3.1.1", 0xE0, 0),
    BAD(V4, "AUTH under 3.1.1", 0xF0, 0),
    /* fixed header flags */
    BAD(V5, "CONNACK flags", 0x21, 3, 0, 0, 0),
    BAD(V5, "PUBACK flags", 0x42, 2, 0, 1),
    BAD(V5, "PUBREL flags", 0x60, 2, 0, 1),
    BAD(V5, "SUBACK flags", 0x92, 3, 0, 1, 0),
    BAD(V5, "UNSUBACK flags", 0xB1, 3, 0, 1, 0),
    BAD(V5, "PINGRESP flags", 0xD1, 0),
    BAD(V5, "DISCONNECT flags", 0xE4, 0),
    BAD(V5, "AUTH flags", 0xF8, 0),
    /* CONNACK */
    BAD(V4, "3.1.1 CONNACK short", 0x20, 1, 0),
    BAD(V4, "3.1.1 CONNACK long", 0x20, 3, 0, 0, 0),
    BAD(V4, "3.1.1 return code 6", 0x20, 2, 0, 6),
    BAD(V4, "reserved ack flag", 0x20, 2, 2, 0),
    BAD(V4, "session present with refusal", 0x20, 2, 1, 5),
    BAD(V5, "5 CONNACK without property length", 0x20, 2, 0, 0),
    BAD(V5, "5 CONNACK reason 0x01", 0x20, 3, 0, 1, 0),
    BAD(V5, "5 session present with refusal", 0x20, 3, 1, 0x80, 0),
    BAD(V5, "5 CONNACK trailing bytes", 0x20, 4, 0, 0, 0, 0),
    BAD(V5, "property length past end", 0x20, 4, 0, 0, 5, 0),
    BAD(V5, "property length bad varint", 0x20, 4, 0, 0, 0x80, 0x00),
    BAD(V5, "property not allowed in CONNACK", 0x20, 6, 0, 0, 3, 0x23, 0, 1),
    BAD(V5, "duplicate Receive Maximum", 0x20, 9, 0, 0, 6, 0x21, 0, 1, 0x21, 0, 1),
    BAD(V5, "Receive Maximum 0", 0x20, 6, 0, 0, 3, 0x21, 0, 0),
    BAD(V5, "Maximum Packet Size 0", 0x20, 8, 0, 0, 5, 0x27, 0, 0, 0, 0),
    BAD(V5, "Maximum QoS 2", 0x20, 5, 0, 0, 2, 0x24, 2),
    BAD(V5, "Retain Available 2", 0x20, 5, 0, 0, 2, 0x25, 2),
    BAD(V5, "unknown property 0x7F", 0x20, 5, 0, 0, 2, 0x7F, 0),
    BAD(V5, "unassigned property 0x04", 0x20, 5, 0, 0, 2, 0x04, 0),
    BAD(V5, "property id non-minimal", 0x20, 6, 0, 0, 3, 0xA1, 0x00, 0),
    BAD(V5, "property id 5 bytes", 0x20, 8, 0, 0, 5, 0x80, 0x80, 0x80, 0x80, 0x01),
    BAD(V5, "truncated byte property", 0x20, 4, 0, 0, 1, 0x24),
    BAD(V5, "truncated two-byte property", 0x20, 5, 0, 0, 2, 0x21, 0),
    BAD(V5, "truncated four-byte property", 0x20, 7, 0, 0, 4, 0x27, 0, 0, 1),
    BAD(V5, "truncated string length", 0x20, 5, 0, 0, 2, 0x1F, 0),
    BAD(V5, "truncated string", 0x20, 7, 0, 0, 4, 0x1F, 0, 5, 'a'),
    BAD(V5, "truncated pair value", 0x20, 9, 0, 0, 6, 0x26, 0, 1, 'k', 0, 1),
    BAD(V5, "bad UTF-8 reason string", 0x20, 7, 0, 0, 4, 0x1F, 0, 1, 0xFF),
    BAD(V5, "NUL in a string", 0x20, 7, 0, 0, 4, 0x1F, 0, 1, 0x00),
    BAD(V5, "bad UTF-8 user key", 0x20, 9, 0, 0, 6, 0x26, 0, 1, 0x80, 0, 0),
    BAD(V5, "bad UTF-8 user value", 0x20, 9, 0, 0, 6, 0x26, 0, 0, 0, 1, 0xC0),
    /* PUBLISH */
    BAD(V4, "QoS 3", 0x36, 5, 0, 1, 't', 0, 1),
    BAD(V4, "DUP with QoS 0", 0x38, 3, 0, 1, 't'),
    BAD(V4, "no topic length", 0x30, 1, 0),
    BAD(V4, "topic past end", 0x30, 3, 0, 5, 't'),
    BAD(V4, "wildcard topic +", 0x30, 3, 0, 1, '+'),
    BAD(V4, "wildcard topic #", 0x30, 5, 0, 3, 'a', '/', '#'),
    BAD(V4, "overlong UTF-8 topic", 0x30, 4, 0, 2, 0xC0, 0x80),
    BAD(V4, "surrogate in topic", 0x30, 5, 0, 3, 0xED, 0xA0, 0x80),
    BAD(V4, "above U+10FFFF", 0x30, 6, 0, 4, 0xF4, 0x90, 0x80, 0x80),
    BAD(V4, "truncated UTF-8", 0x30, 4, 0, 2, 'a', 0xE2),
    BAD(V4, "bad continuation", 0x30, 5, 0, 3, 0xE2, 0x28, 0xA1),
    BAD(V4, "5-byte UTF-8 lead", 0x30, 3, 0, 1, 0xF8),
    BAD(V4, "NUL in topic", 0x30, 3, 0, 1, 0x00),
    BAD(V4, "QoS 1 without packet id", 0x32, 4, 0, 1, 't', 0),
    BAD(V4, "packet id 0", 0x32, 5, 0, 1, 't', 0, 0),
    BAD(V4, "3.1.1 empty topic", 0x30, 2, 0, 0),
    BAD(V5, "5 empty topic without alias", 0x30, 3, 0, 0, 0),
    BAD(V5, "5 PUBLISH without property length", 0x30, 3, 0, 1, 't'),
    BAD(V5, "Topic Alias 0", 0x30, 7, 0, 1, 't', 3, 0x23, 0, 0),
    BAD(V5, "duplicate Topic Alias", 0x30, 10, 0, 1, 't', 6, 0x23, 0, 1, 0x23, 0, 2),
    BAD(V5, "Subscription Identifier 0", 0x30, 6, 0, 1, 't', 2, 0x0B, 0),
    BAD(V5, "Payload Format 2", 0x30, 6, 0, 1, 't', 2, 0x01, 2),
    BAD(V5, "Response Topic with wildcard", 0x30, 8, 0, 1, 't', 4, 0x08, 0, 1, '#'),
    BAD(V5, "empty Response Topic", 0x30, 7, 0, 1, 't', 3, 0x08, 0, 0),
    BAD(V5, "Session Expiry in PUBLISH", 0x30, 9, 0, 1, 't', 5, 0x11, 0, 0, 0, 1),
    BAD(V5, "duplicate Content Type", 0x30, 11, 0, 1, 't', 7, 0x03, 0, 1, 'a', 0x03, 0, 0),
    /* PUBACK family */
    BAD(V4, "PUBACK short", 0x40, 1, 0),
    BAD(V4, "3.1.1 PUBACK with reason", 0x40, 3, 0, 1, 0),
    BAD(V5, "PUBACK id 0", 0x40, 2, 0, 0),
    BAD(V5, "PUBACK reason 0x05", 0x40, 3, 0, 1, 0x05),
    BAD(V5, "PUBACK reason 0x92", 0x40, 3, 0, 1, 0x92),
    BAD(V5, "PUBREL reason 0x80", 0x62, 3, 0, 1, 0x80),
    BAD(V5, "PUBACK properties past end", 0x40, 4, 0, 1, 0, 2),
    BAD(V5, "PUBACK trailing bytes", 0x40, 5, 0, 1, 0, 0, 0),
    BAD(V5, "PUBACK with a CONNACK property", 0x40, 7, 0, 1, 0, 3, 0x21, 0, 1),
    /* SUBACK, UNSUBACK */
    BAD(V4, "SUBACK short", 0x90, 1, 0),
    BAD(V4, "SUBACK id 0", 0x90, 3, 0, 0, 0),
    BAD(V4, "SUBACK no codes", 0x90, 2, 0, 1),
    BAD(V4, "3.1.1 SUBACK code 0x87", 0x90, 3, 0, 1, 0x87),
    BAD(V5, "5 SUBACK code 0x03", 0x90, 4, 0, 1, 0, 0x03),
    BAD(V5, "5 SUBACK no codes", 0x90, 3, 0, 1, 0),
    BAD(V5, "5 SUBACK properties past end", 0x90, 4, 0, 1, 9, 0),
    BAD(V4, "3.1.1 UNSUBACK with codes", 0xB0, 3, 0, 1, 0),
    BAD(V5, "5 UNSUBACK no codes", 0xB0, 3, 0, 1, 0),
    BAD(V5, "5 UNSUBACK code 0x01", 0xB0, 4, 0, 1, 0, 0x01),
    BAD(V5, "UNSUBACK id 0", 0xB0, 4, 0, 0, 0, 0),
    /* PINGRESP, DISCONNECT, AUTH */
    BAD(V5, "PINGRESP with body", 0xD0, 1, 0),
    BAD(V5, "DISCONNECT client-only reason 0x04", 0xE0, 1, 0x04),
    BAD(V5, "DISCONNECT reason 0x01", 0xE0, 1, 0x01),
    BAD(V5, "DISCONNECT properties past end", 0xE0, 2, 0x8B, 1),
    BAD(V5, "DISCONNECT trailing bytes", 0xE0, 3, 0x8B, 0, 0),
    BAD(V5, "DISCONNECT with Topic Alias", 0xE0, 5, 0x80, 3, 0x23, 0, 1),
    BAD(V5, "AUTH reason without properties", 0xF0, 1, 0x18),
    BAD(V5, "AUTH without method", 0xF0, 2, 0x18, 0),
    BAD(V5, "AUTH reason 0x80", 0xF0, 6, 0x80, 4, 0x15, 0, 1, 'm'),
    BAD(V5, "AUTH with two methods", 0xF0, 10, 0x18, 8, 0x15, 0, 1, 'm', 0x15, 0, 1, 'm'),
    BAD(V5, "AUTH trailing bytes", 0xF0, 7, 0x18, 4, 0x15, 0, 1, 'm', 0),
};

static void decode_refuses_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_packets / sizeof bad_packets[0]; i++) {
        const struct bad *b = &bad_packets[i];
        struct corio_mqtt_packet p;
        /* An exact-size copy, so that a read past the end is a sanitizer error. */
        uint8_t copy[sizeof b->bytes];
        memcpy(copy, b->bytes, b->len);
        int rc = corio_mqtt_decode(b->version, copy, b->len, &p);
        if (rc != CORIO_ERR_MALFORMED)
            fail_msg("accepted (%d): %s", rc, b->why);
    }
}

static void decode_argument_errors(void **state)
{
    (void)state;
    struct corio_mqtt_packet p;
    static const uint8_t ping[] = {0xD0, 0};
    assert_int_equal(corio_mqtt_decode(3, ping, 2, &p), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_decode(V5, NULL, 2, &p), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_decode(V5, ping, 2, NULL), CORIO_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_lengths_from_the_spec),
        cmocka_unit_test(frame_refuses_bad_lengths),
        cmocka_unit_test(encoder_remaining_length_boundaries),
        cmocka_unit_test(connect_311_spec_example),
        cmocka_unit_test(connect_5_spec_example),
        cmocka_unit_test(connect_5_auth_will_props_and_flags),
        cmocka_unit_test(connect_refuses_what_the_spec_forbids),
        cmocka_unit_test(publish_311_spec_example),
        cmocka_unit_test(publish_utf8_spec_example),
        cmocka_unit_test(publish_5_with_properties),
        cmocka_unit_test(publish_refuses_what_the_spec_forbids),
        cmocka_unit_test(puback_forms),
        cmocka_unit_test(subscribe_and_unsubscribe_spec_examples),
        cmocka_unit_test(subscribe_refuses_bad_filters_and_options),
        cmocka_unit_test(small_packets),
        cmocka_unit_test(props_from_the_buffer_tail),
        cmocka_unit_test(props_build_and_iterate),
        cmocka_unit_test(props_builder_refusals),
        cmocka_unit_test(decode_connack),
        cmocka_unit_test(decode_publish),
        cmocka_unit_test(decode_acks),
        cmocka_unit_test(decode_disconnect_and_auth),
        cmocka_unit_test(decode_refuses_malformed),
        cmocka_unit_test(decode_argument_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
