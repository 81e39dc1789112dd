/*
 * test_mqtt_client.c - the MQTT client (mqtt.h) against a scripted broker: an
 * in-memory transport whose bytes the test writes and reads, a clock the test moves
 * (starting just before the 32-bit wrap, so every timer crosses it) and a fixed random
 * source. Covers connect (3.1.1 and 5), QoS 1 with PUBACK, lost PUBACK and DUP resend,
 * keepalive and its timeout, backoff, subscriptions, enhanced authentication, refusals
 * and protocol violations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "corio/mqtt.h"

#define V4 CORIO_MQTT_V311
#define V5 CORIO_MQTT_V5

/* ---------------------------------------------------------------------------------
 * The in-memory transport and the fake clock and random source
 */

struct mem {
    uint8_t in[4096]; /* broker -> client */
    size_t in_len, in_off;
    uint8_t out[8192]; /* client -> broker */
    size_t out_len, out_off;
    int open_rc;
    int opens, closes;
    bool is_open;
    size_t send_chunk; /* bytes accepted per send call; 0: would block */
    size_t recv_chunk; /* bytes given per recv call */
    int send_err, recv_err;
    bool peer_closed; /* recv reports CLOSED once input is consumed */
    uint32_t open_times[64];
};

static uint32_t clock_ms;
static uint32_t random_value;

static int mem_open(void *ctx)
{
    struct mem *m = ctx;
    if (m->opens < 64)
        m->open_times[m->opens] = clock_ms;
    m->opens++;
    if (m->open_rc != CORIO_OK)
        return m->open_rc;
    m->is_open = true;
    m->in_len = m->in_off = m->out_len = m->out_off = 0;
    m->peer_closed = false;
    m->send_err = m->recv_err = 0;
    return CORIO_OK;
}

static int mem_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    assert_true(m->is_open);
    assert_true(len > 0);
    if (m->send_err)
        return m->send_err;
    size_t n = len < m->send_chunk ? len : m->send_chunk;
    assert_true(m->out_len + n <= sizeof m->out);
    memcpy(m->out + m->out_len, buf, n);
    m->out_len += n;
    return (int)n;
}

static int mem_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    assert_true(m->is_open);
    assert_true(len > 0);
    if (m->recv_err)
        return m->recv_err;
    size_t avail = m->in_len - m->in_off;
    if (avail == 0)
        return m->peer_closed ? CORIO_ERR_CLOSED : 0;
    size_t n = avail < len ? avail : len;
    if (n > m->recv_chunk)
        n = m->recv_chunk;
    memcpy(buf, m->in + m->in_off, n);
    m->in_off += n;
    return (int)n;
}

static void mem_close(void *ctx)
{
    struct mem *m = ctx;
    m->closes++;
    m->is_open = false;
}

static uint32_t fake_now(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int fake_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(random_value >> (8 * (3 - (i & 3))));
    return CORIO_OK;
}

/* ---------------------------------------------------------------------------------
 * What the callbacks saw
 */

struct outbox_msg {
    uint64_t token;
    const char *topic;
    const char *payload;
};

struct rec {
    int connects;
    bool session_present;
    int disconnects;
    int last_err;
    uint8_t last_reason;
    int done;
    uint64_t done_token[32];
    int done_result[32];
    uint8_t done_reason[32];
    int messages;
    char msg_topic[64];
    char msg_payload[64];
    uint8_t msg_qos;
    uint8_t message_reply;
    int resends;
    uint64_t resend_token[32];
    int resend_rc;
    struct outbox_msg outbox[8];
    int subacks;
    uint8_t suback_reason;
    char suback_filter[32];
    int unsubacks;
    uint8_t unsuback_reason;
    int auth_calls;
    int auth_step[8];
    char auth_in[8][32];
    const char *auth_reply[8];
    int auth_rc;
    int disconnect_in_callback; /* on_disconnect calls corio_mqtt_disconnect */
};

struct fx {
    struct mem m;
    struct rec r;
    struct corio_mqtt c;
    struct corio_mqtt_config cfg;
    uint8_t tx[512];
    uint8_t rx[256];
};

static struct fx F;

static void on_connect(void *user, const struct corio_mqtt_connack *ack)
{
    struct rec *r = user;
    r->connects++;
    r->session_present = ack->session_present;
}

static void on_disconnect(void *user, int err, uint8_t reason)
{
    struct rec *r = user;
    r->disconnects++;
    r->last_err = err;
    r->last_reason = reason;
    if (r->disconnect_in_callback)
        corio_mqtt_disconnect(&F.c, 0);
}

static uint8_t on_message(void *user, const struct corio_mqtt_publish *msg)
{
    struct rec *r = user;
    r->messages++;
    snprintf(r->msg_topic, sizeof r->msg_topic, "%.*s", (int)msg->topic_len, msg->topic);
    snprintf(r->msg_payload, sizeof r->msg_payload, "%.*s", (int)msg->payload_len,
             (const char *)msg->payload);
    r->msg_qos = msg->qos;
    return r->message_reply;
}

static void on_publish_done(void *user, uint64_t token, int result, uint8_t reason)
{
    struct rec *r = user;
    assert_true(r->done < 32);
    r->done_token[r->done] = token;
    r->done_result[r->done] = result;
    r->done_reason[r->done] = reason;
    r->done++;
}

static int resend(void *user, uint64_t token, struct corio_mqtt_publish *msg)
{
    struct rec *r = user;
    assert_true(r->resends < 32);
    r->resend_token[r->resends++] = token;
    if (r->resend_rc)
        return r->resend_rc;
    for (size_t i = 0; i < 8; i++) {
        if (r->outbox[i].topic && r->outbox[i].token == token) {
            msg->topic = r->outbox[i].topic;
            msg->topic_len = (uint16_t)strlen(r->outbox[i].topic);
            msg->payload = (const uint8_t *)r->outbox[i].payload;
            msg->payload_len = strlen(r->outbox[i].payload);
            return CORIO_OK;
        }
    }
    return CORIO_ERR_NOTFOUND;
}

static int auth(void *user, enum corio_mqtt_auth_step step, const uint8_t *in, size_t in_len,
                const uint8_t **out, size_t *out_len)
{
    struct rec *r = user;
    int i = r->auth_calls++;
    assert_true(i < 8);
    r->auth_step[i] = step;
    snprintf(r->auth_in[i], sizeof r->auth_in[i], "%.*s", (int)in_len, (const char *)in);
    if (r->auth_reply[i]) {
        *out = (const uint8_t *)r->auth_reply[i];
        *out_len = strlen(r->auth_reply[i]);
    }
    return r->auth_rc;
}

static void on_subscribe(void *user, const char *filter, uint16_t len, uint8_t reason)
{
    struct rec *r = user;
    r->subacks++;
    r->suback_reason = reason;
    snprintf(r->suback_filter, sizeof r->suback_filter, "%.*s", (int)len, filter);
}

static void on_unsubscribe(void *user, const char *filter, uint16_t len, uint8_t reason)
{
    struct rec *r = user;
    (void)filter;
    (void)len;
    r->unsubacks++;
    r->unsuback_reason = reason;
}

static const struct corio_mqtt_callbacks callbacks = {
    .on_connect = on_connect,
    .on_disconnect = on_disconnect,
    .on_message = on_message,
    .on_publish_done = on_publish_done,
    .resend = resend,
    .auth = auth,
    .on_subscribe = on_subscribe,
    .on_unsubscribe = on_unsubscribe,
};

/* ---------------------------------------------------------------------------------
 * The scripted broker's helpers
 */

static void feed(const uint8_t *b, size_t n)
{
    assert_true(F.m.in_len + n <= sizeof F.m.in);
    memcpy(F.m.in + F.m.in_len, b, n);
    F.m.in_len += n;
}
#define FEED(...) feed((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

/* Pops the next whole packet the client sent into pkt; returns its length, 0 if none. */
static size_t pop(uint8_t *pkt, size_t cap)
{
    size_t len;
    if (corio_mqtt_frame(F.m.out + F.m.out_off, F.m.out_len - F.m.out_off, &len) != CORIO_OK ||
        len > F.m.out_len - F.m.out_off)
        return 0;
    assert_true(len <= cap);
    memcpy(pkt, F.m.out + F.m.out_off, len);
    F.m.out_off += len;
    return len;
}

/* Pops the next packet and asserts its first byte. */
static size_t expect_packet(uint8_t first, uint8_t *pkt, size_t cap)
{
    size_t n = pop(pkt, cap);
    if (n == 0)
        fail_msg("no packet sent; expected 0x%02X", first);
    if (pkt[0] != first)
        fail_msg("sent 0x%02X; expected 0x%02X", pkt[0], first);
    return n;
}

#define EXPECT_SENT(...)                                                                           \
    do {                                                                                           \
        static const uint8_t want_[] = {__VA_ARGS__};                                              \
        uint8_t got_[600];                                                                         \
        size_t n_ = expect_packet(want_[0], got_, sizeof got_);                                    \
        assert_int_equal(n_, sizeof want_);                                                        \
        assert_memory_equal(got_, want_, sizeof want_);                                            \
    } while (0)

static void expect_nothing_sent(void)
{
    assert_int_equal(F.m.out_len, F.m.out_off);
}

/* A PUBLISH the client sent. */
static struct corio_mqtt_publish sent_publish(uint8_t *pkt, size_t cap)
{
    struct corio_mqtt_packet p;
    size_t n = pop(pkt, cap);
    assert_true(n > 0);
    assert_int_equal(pkt[0] >> 4, CORIO_MQTT_PUBLISH);
    assert_int_equal(corio_mqtt_decode(F.cfg.version, pkt, n, &p), CORIO_OK);
    return p.u.publish;
}

static void advance(uint32_t ms)
{
    clock_ms += ms;
}

static void process(void)
{
    assert_int_equal(corio_mqtt_process(&F.c), CORIO_OK);
}

/* Fresh fixture; cfg tweaks go between this and start(). */
static void fixture(uint8_t version)
{
    memset(&F, 0, sizeof F);
    clock_ms = UINT32_MAX - 5000; /* every timer below crosses the wrap */
    random_value = 0;
    F.m.send_chunk = SIZE_MAX;
    F.m.recv_chunk = SIZE_MAX;
    corio_mqtt_config_init(&F.cfg);
    F.cfg.version = version;
    F.cfg.client_id = "dev1";
    F.cfg.client_id_len = 4;
    F.cfg.keepalive_s = 60;
    F.cfg.backoff.initial_ms = 1000;
    F.cfg.backoff.max_ms = 8000;
    F.cfg.backoff.jitter_pct = 50;
}

static void start(void)
{
    struct corio_transport tp = {&F.m, mem_open, mem_send, mem_recv, mem_close};
    struct corio_clock clk = {NULL, fake_now};
    struct corio_random rnd = {NULL, fake_random};
    assert_int_equal(corio_mqtt_init(&F.c, &F.cfg, &tp, &clk, &rnd, F.tx, sizeof F.tx, F.rx,
                                     sizeof F.rx, &callbacks, &F.r),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_connect(&F.c), CORIO_OK);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTING);
}

static void connack(bool session_present)
{
    if (F.cfg.version == V5)
        FEED(0x20, 3, session_present, 0, 0);
    else
        FEED(0x20, 2, session_present, 0);
}

/* Starts and completes a connection, discarding the CONNECT. */
static void connected(uint8_t version)
{
    uint8_t pkt[600];
    fixture(version);
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    connack(false);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
    assert_int_equal(F.r.connects, 1);
}

/* The broker drops the connection; the client notices in process(). */
static void drop_connection(void)
{
    F.m.peer_closed = true;
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_WAITING);
}

/* Waits out the backoff and reconnects, leaving the new CONNECT in pkt. */
static size_t reconnect(uint8_t *pkt, size_t cap)
{
    uint32_t wait = corio_mqtt_poll_ms(&F.c);
    assert_true(wait != UINT32_MAX);
    advance(wait);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTING);
    return expect_packet(0x10, pkt, cap);
}

static int publish(const char *topic, const char *payload, uint8_t qos, uint64_t token)
{
    struct corio_mqtt_publish p = {.topic = topic,
                                   .topic_len = (uint16_t)strlen(topic),
                                   .qos = qos,
                                   .payload = (const uint8_t *)payload,
                                   .payload_len = strlen(payload)};
    return corio_mqtt_publish(&F.c, &p, token);
}

/* ---------------------------------------------------------------------------------
 * Connecting
 */

static void connect_311(void **state)
{
    (void)state;
    fixture(V4);
    start();
    EXPECT_SENT(0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 4, 'd', 'e', 'v', '1');
    assert_int_equal(F.r.connects, 0);
    assert_int_equal(corio_mqtt_poll_ms(&F.c), F.cfg.connect_timeout_ms);
    connack(false);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
    assert_int_equal(F.r.connects, 1);
    assert_false(F.r.session_present);
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 60000);
    expect_nothing_sent();
}

static void connect_5_announces_packet_size_and_session(void **state)
{
    (void)state;
    fixture(V5);
    F.cfg.session_expiry_s = 3600;
    F.cfg.clean = CORIO_MQTT_CLEAN_NEVER;
    start();
    /* Session Expiry 3600, Maximum Packet Size = sizeof rx (256). */
    EXPECT_SENT(0x10, 27, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x00, 0, 60, 10, 0x11, 0, 0, 0x0E, 0x10,
                0x27, 0, 0, 1, 0, 0, 4, 'd', 'e', 'v', '1');
    /* The broker lowers our keepalive and its Receive Maximum caps our window. */
    FEED(0x20, 9, 1, 0, 6, 0x13, 0, 5, 0x21, 0, 2);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
    assert_true(F.r.session_present);
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 5000);
    assert_int_equal(publish("t", "1", 1, 1), CORIO_OK);
    assert_int_equal(publish("t", "2", 1, 2), CORIO_OK);
    assert_int_equal(publish("t", "3", 1, 3), CORIO_ERR_FULL);
    assert_int_equal(publish("t", "q0", 0, 0), CORIO_OK); /* QoS 0 is not counted */
}

static void connect_byte_by_byte_both_ways(void **state)
{
    (void)state;
    uint8_t pkt[64];
    fixture(V5);
    F.m.send_chunk = 1;
    F.m.recv_chunk = 1;
    start();
    /* One byte per send: process() keeps going until the socket would block, here never. */
    size_t n = expect_packet(0x10, pkt, sizeof pkt);
    assert_true(n > 10);
    /* Feed the CONNACK across several process() calls. */
    F.m.send_chunk = 0;
    FEED(0x20);
    process();
    FEED(3);
    process();
    FEED(0, 0);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTING);
    FEED(0);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
    /* A publish while the socket takes nothing stays queued, then goes out. */
    assert_int_equal(publish("a", "b", 0, 0), CORIO_OK);
    assert_true(corio_mqtt_want_write(&F.c));
    expect_nothing_sent();
    F.m.send_chunk = 2;
    process();
    assert_false(corio_mqtt_want_write(&F.c));
    EXPECT_SENT(0x30, 5, 0, 1, 'a', 0, 'b');
}

static void connack_refused_backs_off(void **state)
{
    (void)state;
    uint8_t pkt[64];
    fixture(V4);
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    FEED(0x20, 2, 0, 5); /* not authorized */
    process();
    assert_int_equal(F.r.disconnects, 1);
    assert_int_equal(F.r.last_err, CORIO_ERR_REFUSED);
    assert_int_equal(F.r.last_reason, 5);
    assert_int_equal(F.r.connects, 0);
    assert_false(F.m.is_open);
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_WAITING);
    /* First failure: 1000 ms with 50 % jitter; random 0 picks the short end. */
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 500);
    advance(499);
    process();
    assert_int_equal(F.m.opens, 1);
    advance(1);
    process();
    assert_int_equal(F.m.opens, 2);

    fixture(V5);
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    FEED(0x20, 3, 0, 0x8C, 0); /* bad authentication method */
    process();
    assert_int_equal(F.r.last_err, CORIO_ERR_REFUSED);
    assert_int_equal(F.r.last_reason, 0x8C);
}

static void connack_timeout(void **state)
{
    (void)state;
    fixture(V4);
    start();
    advance(F.cfg.connect_timeout_ms - 1);
    process();
    assert_int_equal(F.r.disconnects, 0);
    advance(1);
    process();
    assert_int_equal(F.r.disconnects, 1);
    assert_int_equal(F.r.last_err, CORIO_ERR_TIMEOUT);
    assert_int_equal(F.m.closes, 1);
}

static void open_failures_back_off_exponentially_with_cap(void **state)
{
    (void)state;
    fixture(V4);
    F.m.open_rc = CORIO_ERR_REFUSED;
    random_value = UINT32_MAX; /* the long end of each jitter window */
    struct corio_transport tp = {&F.m, mem_open, mem_send, mem_recv, mem_close};
    struct corio_clock clk = {NULL, fake_now};
    struct corio_random rnd = {NULL, fake_random};
    assert_int_equal(corio_mqtt_init(&F.c, &F.cfg, &tp, &clk, &rnd, F.tx, sizeof F.tx, F.rx,
                                     sizeof F.rx, &callbacks, &F.r),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_connect(&F.c), CORIO_OK);
    for (int i = 0; i < 7; i++) {
        process();
        assert_int_equal(F.r.last_err, CORIO_ERR_REFUSED);
        advance(corio_mqtt_poll_ms(&F.c));
    }
    assert_int_equal(F.m.opens, 7);
    assert_int_equal(F.m.closes, 7);
    /* Waits between attempts: d = 1000, 2000, 4000, 8000 (the cap), 8000...; jitter 50 %
     * draws in [d/2, d], and UINT32_MAX % (d/2 + 1) lands here: */
    uint32_t expect[6];
    for (uint32_t k = 0; k < 6; k++)
        expect[k] = corio_mqtt_backoff_delay(&F.cfg.backoff, k + 1, UINT32_MAX);
    for (int k = 0; k < 6; k++) {
        uint32_t gap = F.m.open_times[k + 1] - F.m.open_times[k];
        assert_int_equal(gap, expect[k]);
        uint32_t d = k < 3 ? 1000u << k : 8000u;
        assert_true(gap >= d / 2 && gap <= d);
    }
    assert_true(F.m.open_times[4] - F.m.open_times[3] <= 8000);
    assert_true(F.m.open_times[6] - F.m.open_times[5] <= 8000);
    /* The gaps grew until the cap. */
    assert_true(F.m.open_times[2] - F.m.open_times[1] > F.m.open_times[1] - F.m.open_times[0]);
    assert_true(F.m.open_times[3] - F.m.open_times[2] > F.m.open_times[2] - F.m.open_times[1]);
}

static void backoff_policy(void **state)
{
    (void)state;
    struct corio_mqtt_backoff b = {.initial_ms = 1000, .max_ms = 60000, .jitter_pct = 0};
    assert_int_equal(corio_mqtt_backoff_delay(&b, 0, 7), 0);
    assert_int_equal(corio_mqtt_backoff_delay(&b, 1, 7), 1000);
    assert_int_equal(corio_mqtt_backoff_delay(&b, 2, 7), 2000);
    assert_int_equal(corio_mqtt_backoff_delay(&b, 6, 7), 32000);
    assert_int_equal(corio_mqtt_backoff_delay(&b, 7, 7), 60000);
    assert_int_equal(corio_mqtt_backoff_delay(&b, UINT32_MAX, 7), 60000);
    b.jitter_pct = 100; /* "full jitter": anywhere in [0, d] */
    assert_int_equal(corio_mqtt_backoff_delay(&b, 1, 0), 0);
    assert_int_equal(corio_mqtt_backoff_delay(&b, 1, 1000), 1000);
    assert_int_equal(corio_mqtt_backoff_delay(&b, 1, 1001), 0);
    b.jitter_pct = 200; /* treated as 100 */
    assert_true(corio_mqtt_backoff_delay(&b, 3, UINT32_MAX) <= 4000);
    b.jitter_pct = 20;
    for (uint32_t r = 0; r < 5000; r += 37) {
        uint32_t d = corio_mqtt_backoff_delay(&b, 3, r * 2654435761u);
        assert_true(d >= 3200 && d <= 4000);
    }
    struct corio_mqtt_backoff huge = {
        .initial_ms = UINT32_MAX, .max_ms = UINT32_MAX, .jitter_pct = 0};
    assert_int_equal(corio_mqtt_backoff_delay(&huge, 5, 0), UINT32_MAX);
    assert_int_equal(corio_mqtt_backoff_delay(NULL, 5, 0), 0);
}

static void backoff_resets_after_a_stable_connection(void **state)
{
    (void)state;
    uint8_t pkt[64];
    connected(V4);
    /* Three quick drops: the waits grow. */
    drop_connection();
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 500);
    reconnect(pkt, sizeof pkt);
    connack(false);
    process();
    drop_connection();
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 1000);
    reconnect(pkt, sizeof pkt);
    connack(false);
    process();
    /* Up for a minute (pings answered): the next drop starts over. */
    for (int i = 0; i < 2; i++) {
        advance(30000);
        process();
        FEED(0xD0, 0);
        process();
    }
    drop_connection();
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 500);
}

/* ---------------------------------------------------------------------------------
 * Publishing and QoS 1
 */

static void publish_qos0_and_qos1_with_puback(void **state)
{
    (void)state;
    uint8_t pkt[128];
    connected(V4);
    assert_int_equal(publish("a/b", "hi", 0, 99), CORIO_OK);
    EXPECT_SENT(0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i');
    assert_int_equal(publish("a/b", "hi", 1, 42), CORIO_OK);
    struct corio_mqtt_publish p = sent_publish(pkt, sizeof pkt);
    assert_int_equal(p.qos, 1);
    assert_false(p.dup);
    assert_int_equal(corio_mqtt_inflight_count(&F.c), 1);
    process();
    assert_int_equal(F.r.done, 0);
    FEED(0x40, 2, (uint8_t)(p.packet_id >> 8), (uint8_t)p.packet_id);
    process();
    assert_int_equal(F.r.done, 1);
    assert_int_equal(F.r.done_token[0], 42);
    assert_int_equal(F.r.done_result[0], CORIO_OK);
    assert_int_equal(corio_mqtt_inflight_count(&F.c), 0);
    /* A PUBACK for an id the client does not hold changes nothing. */
    FEED(0x40, 2, 0x7F, 0x7F);
    process();
    assert_int_equal(F.r.done, 1);
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
}

static void puback_failure_reason_means_not_delivered(void **state)
{
    (void)state;
    uint8_t pkt[128];
    connected(V5);
    assert_int_equal(publish("a", "1", 1, 7), CORIO_OK);
    struct corio_mqtt_publish p1 = sent_publish(pkt, sizeof pkt);
    assert_int_equal(publish("a", "2", 1, 8), CORIO_OK);
    struct corio_mqtt_publish p2 = sent_publish(pkt, sizeof pkt);
    assert_int_not_equal(p1.packet_id, p2.packet_id);
    FEED(0x40, 3, (uint8_t)(p2.packet_id >> 8), (uint8_t)p2.packet_id, 0x97); /* quota exceeded */
    FEED(0x40, 3, (uint8_t)(p1.packet_id >> 8), (uint8_t)p1.packet_id,
         0x10); /* no subscribers: delivered */
    process();
    assert_int_equal(F.r.done, 2);
    assert_int_equal(F.r.done_token[0], 8);
    assert_int_equal(F.r.done_result[0], CORIO_ERR_REFUSED);
    assert_int_equal(F.r.done_reason[0], 0x97);
    assert_int_equal(F.r.done_token[1], 7);
    assert_int_equal(F.r.done_result[1], CORIO_OK);
    assert_int_equal(F.r.done_reason[1], 0x10);
    /* A refused token is gone: a reconnect does not resend it. */
    drop_connection();
    reconnect(pkt, sizeof pkt);
    connack(true);
    process();
    assert_int_equal(F.r.resends, 0);
    expect_nothing_sent();
}

static void lost_puback_resends_with_dup_and_same_id(void **state)
{
    (void)state;
    uint8_t pkt[128];
    connected(V5);
    F.r.outbox[0] = (struct outbox_msg){1001, "corio/v1/d/dev1/up/cbor", "seq1"};
    F.r.outbox[1] = (struct outbox_msg){1002, "corio/v1/d/dev1/up/cbor", "seq2"};
    assert_int_equal(publish("corio/v1/d/dev1/up/cbor", "seq1", 1, 1001), CORIO_OK);
    struct corio_mqtt_publish a = sent_publish(pkt, sizeof pkt);
    uint16_t id1 = a.packet_id;
    assert_int_equal(publish("corio/v1/d/dev1/up/cbor", "seq2", 1, 1002), CORIO_OK);
    uint16_t id2 = sent_publish(pkt, sizeof pkt).packet_id;
    /* How a full Corio gateway refuses: it closes without PUBACK. */
    drop_connection();
    assert_int_equal(F.r.disconnects, 1);
    assert_int_equal(F.r.last_err, CORIO_ERR_CLOSED);
    assert_int_equal(F.r.done, 0); /* not reported delivered, not dropped */
    assert_int_equal(corio_mqtt_inflight_count(&F.c), 2);
    assert_int_equal(publish("t", "x", 1, 5), CORIO_ERR_STATE);

    /* The reconnect resumes the session (clean start only the first time). */
    reconnect(pkt, sizeof pkt);
    assert_int_equal(pkt[9] & 0x02, 0);
    connack(true);
    process();
    assert_int_equal(F.r.connects, 2);
    assert_int_equal(F.r.resends, 2);
    assert_int_equal(F.r.resend_token[0], 1001); /* in the original order */
    assert_int_equal(F.r.resend_token[1], 1002);
    struct corio_mqtt_publish r1 = sent_publish(pkt, sizeof pkt);
    assert_true(r1.dup);
    assert_int_equal(r1.packet_id, id1);
    assert_int_equal(r1.payload_len, 4);
    assert_memory_equal(r1.payload, "seq1", 4);
    struct corio_mqtt_publish r2 = sent_publish(pkt, sizeof pkt);
    assert_true(r2.dup);
    assert_int_equal(r2.packet_id, id2);
    FEED(0x40, 2, (uint8_t)(id1 >> 8), (uint8_t)id1, 0x40, 2, (uint8_t)(id2 >> 8), (uint8_t)id2);
    process();
    assert_int_equal(F.r.done, 2);
    assert_int_equal(F.r.done_token[0], 1001);
    assert_int_equal(F.r.done_result[0], CORIO_OK);
    assert_int_equal(F.r.done_token[1], 1002);
    assert_int_equal(F.r.done_result[1], CORIO_OK);
}

static void lost_puback_without_session_sends_fresh(void **state)
{
    (void)state;
    uint8_t pkt[128];
    connected(V4);
    F.r.outbox[0] = (struct outbox_msg){77, "up", "m"};
    assert_int_equal(publish("up", "m", 1, 77), CORIO_OK);
    sent_publish(pkt, sizeof pkt);
    drop_connection();
    reconnect(pkt, sizeof pkt);
    connack(false);
    process();
    struct corio_mqtt_publish r = sent_publish(pkt, sizeof pkt);
    assert_false(r.dup);
    assert_int_equal(r.qos, 1);
    FEED(0x40, 2, (uint8_t)(r.packet_id >> 8), (uint8_t)r.packet_id);
    process();
    assert_int_equal(F.r.done, 1);
    assert_int_equal(F.r.done_result[0], CORIO_OK);
}

static void resend_declined_or_dropped_is_reported(void **state)
{
    (void)state;
    uint8_t pkt[128];
    connected(V4);
    assert_int_equal(publish("up", "m", 1, 5), CORIO_OK);
    drop_connection();
    reconnect(pkt, sizeof pkt);
    connack(true);
    process(); /* the outbox no longer has token 5 */
    assert_int_equal(F.r.resends, 1);
    assert_int_equal(F.r.done, 1);
    assert_int_equal(F.r.done_token[0], 5);
    assert_int_equal(F.r.done_result[0], CORIO_ERR_NOTFOUND);
    expect_nothing_sent();

    /* With drop_inflight_on_disconnect the loss itself hands the token back. */
    fixture(V4);
    F.cfg.drop_inflight_on_disconnect = true;
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    connack(false);
    process();
    assert_int_equal(publish("up", "m", 1, 6), CORIO_OK);
    drop_connection();
    assert_int_equal(F.r.done, 1);
    assert_int_equal(F.r.done_token[0], 6);
    assert_int_equal(F.r.done_result[0], CORIO_ERR_CLOSED);
    assert_int_equal(corio_mqtt_inflight_count(&F.c), 0);
    reconnect(pkt, sizeof pkt);
    connack(true);
    process();
    assert_int_equal(F.r.resends, 0);
}

static void resends_go_first_and_in_order(void **state)
{
    (void)state;
    uint8_t pkt[128];
    connected(V5);
    for (int i = 0; i < 3; i++) {
        static const char *payloads[] = {"p0", "p1", "p2"};
        F.r.outbox[i] = (struct outbox_msg){(uint64_t)(10 + i), "t", payloads[i]};
        assert_int_equal(publish("t", payloads[i], 1, (uint64_t)(10 + i)), CORIO_OK);
    }
    drop_connection();
    reconnect(pkt, sizeof pkt);
    F.m.send_chunk = 0; /* the socket takes nothing for now */
    connack(true);
    process();
    /* One resend is queued; new QoS 1 publishes wait behind the rest. */
    assert_int_equal(F.r.resends, 1);
    assert_int_equal(publish("t", "new", 1, 20), CORIO_ERR_AGAIN);
    /* Blocked on the transport: wait for writability, not a 0 ms timer. */
    assert_true(corio_mqtt_want_write(&F.c));
    assert_true(corio_mqtt_poll_ms(&F.c) > 0);
    F.m.send_chunk = SIZE_MAX;
    process();
    assert_int_equal(F.r.resends, 3);
    for (int i = 0; i < 3; i++) {
        struct corio_mqtt_publish r = sent_publish(pkt, sizeof pkt);
        assert_true(r.dup);
        assert_int_equal(r.payload[1], '0' + i);
    }
    assert_int_equal(publish("t", "new", 1, 20), CORIO_OK);
}

static void publish_refusals_never_call_back(void **state)
{
    (void)state;
    uint8_t pkt[600];
    fixture(V5);
    /* Not connected yet. */
    assert_int_equal(corio_mqtt_publish(NULL, NULL, 0), CORIO_ERR_INVAL);
    start();
    assert_int_equal(publish("t", "x", 1, 1), CORIO_ERR_STATE);
    expect_packet(0x10, pkt, sizeof pkt);
    /* Maximum QoS 0, Retain Available 0, Maximum Packet Size 20, Topic Alias Maximum 2. */
    FEED(0x20, 15, 0, 0, 12, 0x24, 0, 0x25, 0, 0x27, 0, 0, 0, 20, 0x22, 0, 2);
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
    assert_int_equal(publish("t", "x", 1, 1), CORIO_ERR_UNSUPPORTED);
    struct corio_mqtt_publish p = {.topic = "t", .topic_len = 1, .retain = true};
    assert_int_equal(corio_mqtt_publish(&F.c, &p, 0), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(publish("t", "0123456789abcdefghij", 0, 0), CORIO_ERR_POLICY);
    uint8_t pb[8];
    struct corio_mqtt_props props;
    corio_mqtt_props_init(&props, pb, sizeof pb);
    corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_TOPIC_ALIAS, 3);
    p.retain = false;
    p.props = pb;
    p.props_len = props.len;
    assert_int_equal(corio_mqtt_publish(&F.c, &p, 0), CORIO_ERR_POLICY);
    assert_int_equal(publish("a/+", "x", 0, 0), CORIO_ERR_INVAL);
    assert_int_equal(publish("t", "x", 2, 0), CORIO_ERR_INVAL);
    assert_int_equal(publish("t", "x", 0, 0), CORIO_OK);
    assert_int_equal(F.r.done, 0);

    /* Inflight table full; tx too small for a packet; tx full for now. */
    connected(V4);
    for (int i = 0; i < CORIO_MQTT_MAX_INFLIGHT; i++)
        assert_int_equal(publish("t", "x", 1, (uint64_t)i), CORIO_OK);
    assert_int_equal(publish("t", "x", 1, 99), CORIO_ERR_FULL);
    static char big[600];
    memset(big, 'x', sizeof big - 1);
    assert_int_equal(publish("t", big, 0, 0), CORIO_ERR_NOSPACE);
    F.m.send_chunk = 0;
    big[400] = 0;
    assert_int_equal(publish("t", big, 0, 0), CORIO_OK);
    assert_int_equal(publish("t", big, 0, 0), CORIO_ERR_AGAIN);
    F.m.send_chunk = SIZE_MAX;
    process();
    assert_int_equal(publish("t", big, 0, 0), CORIO_OK);
    /* None of the refused calls produced a callback. */
    assert_int_equal(F.r.done, 0);
}

static void send_error_is_reported_from_process(void **state)
{
    (void)state;
    uint8_t pkt[64];
    connected(V4);
    F.m.send_err = CORIO_ERR_IO;
    assert_int_equal(publish("t", "x", 1, 3), CORIO_OK); /* queued; the error waits */
    assert_int_equal(F.r.disconnects, 0);
    assert_int_equal(publish("t", "y", 1, 4), CORIO_ERR_STATE);
    process();
    assert_int_equal(F.r.disconnects, 1);
    assert_int_equal(F.r.last_err, CORIO_ERR_IO);
    assert_int_equal(F.r.done, 0);
    assert_int_equal(corio_mqtt_inflight_count(&F.c), 1);
    (void)pkt;
}

/* ---------------------------------------------------------------------------------
 * Receiving
 */

static void incoming_publish_gets_puback(void **state)
{
    (void)state;
    connected(V4);
    FEED(0x32, 9, 0, 3, 'd', '/', 'c', 0x12, 0x34, 'o', 'n');
    process();
    assert_int_equal(F.r.messages, 1);
    assert_string_equal(F.r.msg_topic, "d/c");
    assert_string_equal(F.r.msg_payload, "on");
    assert_int_equal(F.r.msg_qos, 1);
    EXPECT_SENT(0x40, 2, 0x12, 0x34);
    FEED(0x30, 4, 0, 1, 'x', 'y');
    process();
    assert_int_equal(F.r.messages, 2);
    expect_nothing_sent();

    /* MQTT 5: the application's reason code goes into the PUBACK. */
    connected(V5);
    F.r.message_reply = 0x83;
    FEED(0x32, 7, 0, 1, 'c', 0, 9, 0, 'z');
    process();
    EXPECT_SENT(0x40, 3, 0, 9, 0x83);
    F.r.message_reply = 0x05; /* not a PUBACK reason: sent as unspecified error */
    FEED(0x32, 6, 0, 1, 'c', 0, 10, 0);
    process();
    EXPECT_SENT(0x40, 3, 0, 10, 0x80);
}

static void puback_waits_for_tx_room(void **state)
{
    (void)state;
    connected(V4);
    F.m.send_chunk = 0;
    /* Fill tx so that no PUBACK fits. */
    static char fill[510];
    memset(fill, 'f', 505); /* 511 bytes of 512 */
    assert_int_equal(publish("t", fill, 0, 0), CORIO_OK);
    FEED(0x32, 5, 0, 1, 'c', 0, 1, 0x32, 5, 0, 1, 'c', 0, 2);
    process();
    assert_int_equal(F.r.messages, 1); /* the second waits for the first's PUBACK */
    F.m.send_chunk = SIZE_MAX;
    process();
    assert_int_equal(F.r.messages, 2);
    uint8_t pkt[600];
    expect_packet(0x30, pkt, sizeof pkt);
    EXPECT_SENT(0x40, 2, 0, 1);
    EXPECT_SENT(0x40, 2, 0, 2);
}

static void protocol_violations_close_with_reason(void **state)
{
    (void)state;
    /* Garbage in place of a packet. */
    connected(V5);
    FEED(0x40, 3, 0, 1, 0x05);
    process();
    EXPECT_SENT(0xE0, 1, 0x81);
    assert_int_equal(F.r.last_err, CORIO_ERR_MALFORMED);
    assert_int_equal(F.r.last_reason, 0x81);
    assert_false(F.m.is_open);

    /* A packet larger than rx (which MQTT 5 announced as Maximum Packet Size). */
    connected(V5);
    FEED(0x30, 0x80, 0x04);
    process();
    EXPECT_SENT(0xE0, 1, 0x95);
    assert_int_equal(F.r.last_err, CORIO_ERR_NOSPACE);

    /* QoS 2, which the client never asked for. */
    connected(V5);
    FEED(0x34, 6, 0, 1, 't', 0, 1, 0);
    process();
    EXPECT_SENT(0xE0, 1, 0x82);
    assert_int_equal(F.r.messages, 0);

    /* A topic alias, which the client never allowed. */
    connected(V5);
    FEED(0x30, 7, 0, 1, 't', 3, 0x23, 0, 1);
    process();
    EXPECT_SENT(0xE0, 1, 0x94);

    /* A second CONNACK, a PUBREL. */
    connected(V5);
    FEED(0x20, 3, 0, 0, 0);
    process();
    EXPECT_SENT(0xE0, 1, 0x82);
    connected(V4);
    FEED(0x62, 2, 0, 1);
    process();
    expect_nothing_sent(); /* 3.1.1 has no DISCONNECT from the client with a reason */
    assert_int_equal(F.r.last_err, CORIO_ERR_MALFORMED);

    /* Anything but CONNACK/AUTH before CONNACK; a session that should not exist. */
    fixture(V5);
    start();
    uint8_t pkt[64];
    expect_packet(0x10, pkt, sizeof pkt);
    FEED(0x30, 4, 0, 1, 't', 0);
    process();
    EXPECT_SENT(0xE0, 1, 0x82);
    assert_int_equal(F.r.connects, 0);
    fixture(V4);
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    connack(true); /* clean session asked, session present claimed */
    process();
    assert_int_equal(F.r.last_err, CORIO_ERR_MALFORMED);
    assert_int_equal(F.r.connects, 0);
}

static void server_disconnect_is_reported(void **state)
{
    (void)state;
    connected(V5);
    assert_int_equal(publish("t", "x", 1, 1), CORIO_OK);
    FEED(0xE0, 1, 0x8B); /* server shutting down */
    process();
    assert_int_equal(F.r.last_err, CORIO_ERR_CLOSED);
    assert_int_equal(F.r.last_reason, 0x8B);
    assert_int_equal(F.r.done, 0);
    assert_int_equal(corio_mqtt_inflight_count(&F.c), 1);
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_WAITING);
}

/* ---------------------------------------------------------------------------------
 * Keepalive
 */

static void keepalive_ping_and_timeout(void **state)
{
    (void)state;
    fixture(V4);
    F.cfg.keepalive_s = 10;
    F.cfg.ping_timeout_ms = 3000;
    start();
    uint8_t pkt[64];
    expect_packet(0x10, pkt, sizeof pkt);
    connack(false);
    process();
    advance(9999);
    process();
    expect_nothing_sent();
    advance(1);
    process();
    EXPECT_SENT(0xC0, 0);
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 3000);
    FEED(0xD0, 0);
    process();
    /* Sending anything counts as activity: a publish pushes the next ping back. */
    advance(5000);
    assert_int_equal(publish("t", "x", 0, 0), CORIO_OK);
    expect_packet(0x30, pkt, sizeof pkt);
    advance(9999);
    process();
    expect_nothing_sent();
    advance(1);
    process();
    EXPECT_SENT(0xC0, 0);
    /* No PINGRESP this time. */
    advance(2999);
    process();
    assert_int_equal(F.r.disconnects, 0);
    advance(1);
    process();
    assert_int_equal(F.r.disconnects, 1);
    assert_int_equal(F.r.last_err, CORIO_ERR_TIMEOUT);
    assert_false(F.m.is_open);
}

static void keepalive_off_and_stuck_link(void **state)
{
    (void)state;
    fixture(V4);
    F.cfg.keepalive_s = 0;
    start();
    uint8_t pkt[64];
    expect_packet(0x10, pkt, sizeof pkt);
    connack(false);
    process();
    assert_int_equal(corio_mqtt_poll_ms(&F.c), UINT32_MAX);
    advance(1000000);
    process();
    expect_nothing_sent();

    /* A link that takes no bytes at all: a ping cannot even be queued. */
    fixture(V4);
    F.cfg.keepalive_s = 10;
    F.cfg.ping_timeout_ms = 3000;
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    connack(false);
    process();
    F.m.send_chunk = 0;
    static char fill[510];
    memset(fill, 'f', 506); /* all 512 bytes */
    assert_int_equal(publish("t", fill, 0, 0), CORIO_OK);
    advance(12999);
    process();
    assert_int_equal(F.r.disconnects, 0);
    advance(1);
    process();
    assert_int_equal(F.r.last_err, CORIO_ERR_TIMEOUT);
}

/* ---------------------------------------------------------------------------------
 * Subscriptions
 */

static void subscriptions_survive_reconnects(void **state)
{
    (void)state;
    uint8_t pkt[64];
    fixture(V4);
    start();
    /* Registered before the CONNACK: sent after it. */
    assert_int_equal(corio_mqtt_subscribe(&F.c, "d/+/dn/#", 8, CORIO_MQTT_SUB_QOS(1)), CORIO_OK);
    assert_int_equal(corio_mqtt_subscribe(&F.c, "x", 1, CORIO_MQTT_SUB_QOS(2)), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_subscribe(&F.c, "a/#/b", 5, 0), CORIO_ERR_INVAL);
    /* Reserved option bits; MQTT 5's options under 3.1.1. */
    assert_int_equal(corio_mqtt_subscribe(&F.c, "x", 1, 0x41), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_subscribe(&F.c, "x", 1, CORIO_MQTT_SUB_NO_LOCAL), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_subscribe(&F.c, "x/\xff", 3, 0), CORIO_ERR_INVAL);
    expect_packet(0x10, pkt, sizeof pkt);
    connack(false);
    process();
    EXPECT_SENT(0x82, 13, 0, 1, 0, 8, 'd', '/', '+', '/', 'd', 'n', '/', '#', 1);
    FEED(0x90, 3, 0, 1, 1);
    process();
    assert_int_equal(F.r.subacks, 1);
    assert_int_equal(F.r.suback_reason, 1);
    assert_string_equal(F.r.suback_filter, "d/+/dn/#");

    /* Session kept: nothing to redo. */
    drop_connection();
    reconnect(pkt, sizeof pkt);
    connack(true);
    process();
    expect_nothing_sent();

    /* Session lost: subscribe again. */
    drop_connection();
    reconnect(pkt, sizeof pkt);
    connack(false);
    process();
    size_t n = expect_packet(0x82, pkt, sizeof pkt);
    assert_int_equal(n, 15);
    FEED(0x90, 3, pkt[2], pkt[3], 0);
    process();
    assert_int_equal(F.r.subacks, 2);
    assert_int_equal(F.r.suback_reason, 0);

    /* Unsubscribe. */
    assert_int_equal(corio_mqtt_unsubscribe(&F.c, "nope", 4), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_mqtt_unsubscribe(&F.c, "d/+/dn/#", 8), CORIO_OK);
    assert_int_equal(corio_mqtt_subscribe(&F.c, "d/+/dn/#", 8, 0), CORIO_ERR_AGAIN);
    process();
    n = expect_packet(0xA2, pkt, sizeof pkt);
    assert_int_equal(n, 14);
    FEED(0xB0, 2, pkt[2], pkt[3]);
    process();
    assert_int_equal(F.r.unsubacks, 1);
    assert_int_equal(F.r.unsuback_reason, 0);
    drop_connection();
    reconnect(pkt, sizeof pkt);
    connack(false);
    process();
    expect_nothing_sent();
}

static void subscription_refused_and_table_full(void **state)
{
    (void)state;
    uint8_t pkt[64];
    connected(V5);
    /* Retain Handling 3 does not exist. */
    assert_int_equal(corio_mqtt_subscribe(&F.c, "secret", 6, 0x30), CORIO_ERR_INVAL);
    assert_int_equal(
        corio_mqtt_subscribe(&F.c, "secret", 6, CORIO_MQTT_SUB_QOS(1) | CORIO_MQTT_SUB_NO_LOCAL),
        CORIO_OK);
    process();
    size_t n = expect_packet(0x82, pkt, sizeof pkt);
    assert_int_equal(pkt[n - 1], 0x05);
    FEED(0x90, 4, pkt[2], pkt[3], 0, 0x87);
    process();
    assert_int_equal(F.r.subacks, 1);
    assert_int_equal(F.r.suback_reason, 0x87);
    /* Forgotten: not subscribed again after a reconnect without session. */
    drop_connection();
    reconnect(pkt, sizeof pkt);
    connack(false);
    process();
    expect_nothing_sent();

    static const char *filters[] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"};
    for (int i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS; i++)
        assert_int_equal(corio_mqtt_subscribe(&F.c, filters[i], 2, 0), CORIO_OK);
    assert_int_equal(corio_mqtt_subscribe(&F.c, filters[CORIO_MQTT_MAX_SUBSCRIPTIONS], 2, 0),
                     CORIO_ERR_FULL);
    /* Registering the same filter again updates it instead of taking a slot. */
    assert_int_equal(corio_mqtt_subscribe(&F.c, "f0", 2, 1), CORIO_OK);

    /* An unsubscribe pending at a reconnect without session completes by itself. */
    process();
    drop_connection();
    assert_int_equal(corio_mqtt_unsubscribe(&F.c, "f1", 2), CORIO_OK);
    reconnect(pkt, sizeof pkt);
    connack(false);
    process();
    assert_int_equal(F.r.unsubacks, 1);
}

/* ---------------------------------------------------------------------------------
 * Enhanced authentication
 */

static void enhanced_auth_exchange(void **state)
{
    (void)state;
    uint8_t pkt[128];
    fixture(V5);
    F.cfg.auth_method = "corio-eat-v1";
    F.cfg.auth_method_len = 12;
    F.r.auth_reply[0] = "hello";
    F.r.auth_reply[1] = "EAT";
    start();
    assert_int_equal(F.r.auth_calls, 1);
    assert_int_equal(F.r.auth_step[0], CORIO_MQTT_AUTH_START);
    size_t n = expect_packet(0x10, pkt, sizeof pkt);
    /* CONNECT's properties: Maximum Packet Size, then the method and the data. */
    static const uint8_t props[] = {0x27, 0,   0,   1,   0,   0x15, 0,   12,  'c', 'o',
                                    'r',  'i', 'o', '-', 'e', 'a',  't', '-', 'v', '1',
                                    0x16, 0,   5,   'h', 'e', 'l',  'l', 'o'};
    assert_int_equal(pkt[12], sizeof props);
    assert_memory_equal(pkt + 13, props, sizeof props);
    (void)n;
    /* The broker's challenge: a nonce. */
    FEED(0xF0, 25, 0x18, 23, 0x15, 0, 12, 'c', 'o', 'r', 'i', 'o', '-', 'e', 'a', 't', '-', 'v',
         '1', 0x16, 0, 5, 'n', 'o', 'n', 'c', 'e');
    process();
    assert_int_equal(F.r.auth_calls, 2);
    assert_int_equal(F.r.auth_step[1], CORIO_MQTT_AUTH_CONTINUE);
    assert_string_equal(F.r.auth_in[1], "nonce");
    EXPECT_SENT(0xF0, 23, 0x18, 21, 0x15, 0, 12, 'c', 'o', 'r', 'i', 'o', '-', 'e', 'a', 't', '-',
                'v', '1', 0x16, 0, 3, 'E', 'A', 'T');
    /* Accepted, with the broker's final data. */
    FEED(0x20, 23, 0, 0, 20, 0x15, 0, 12, 'c', 'o', 'r', 'i', 'o', '-', 'e', 'a', 't', '-', 'v',
         '1', 0x16, 0, 2, 'o', 'k');
    process();
    assert_int_equal(F.r.auth_calls, 3);
    assert_int_equal(F.r.auth_step[2], CORIO_MQTT_AUTH_SUCCESS);
    assert_string_equal(F.r.auth_in[2], "ok");
    assert_int_equal(F.r.connects, 1);

    /* Re-authentication. */
    F.r.auth_reply[3] = "again";
    F.r.auth_reply[4] = "EAT2";
    assert_int_equal(corio_mqtt_reauthenticate(&F.c), CORIO_OK);
    assert_int_equal(corio_mqtt_reauthenticate(&F.c), CORIO_ERR_STATE);
    n = expect_packet(0xF0, pkt, sizeof pkt);
    assert_int_equal(pkt[2], 0x19);
    FEED(0xF0, 17, 0x18, 15, 0x15, 0, 12, 'c', 'o', 'r', 'i', 'o', '-', 'e', 'a', 't', '-', 'v',
         '1');
    process();
    assert_int_equal(F.r.auth_step[4], CORIO_MQTT_AUTH_CONTINUE);
    n = expect_packet(0xF0, pkt, sizeof pkt);
    assert_int_equal(pkt[2], 0x18);
    FEED(0xF0, 17, 0x00, 15, 0x15, 0, 12, 'c', 'o', 'r', 'i', 'o', '-', 'e', 'a', 't', '-', 'v',
         '1');
    process();
    assert_int_equal(F.r.auth_calls, 6);
    assert_int_equal(F.r.auth_step[5], CORIO_MQTT_AUTH_SUCCESS);
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
}

static void enhanced_auth_refusals(void **state)
{
    (void)state;
    uint8_t pkt[128];
    /* The application refuses the broker's challenge. */
    fixture(V5);
    F.cfg.auth_method = "m";
    F.cfg.auth_method_len = 1;
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    F.r.auth_rc = CORIO_ERR_POLICY;
    FEED(0xF0, 6, 0x18, 4, 0x15, 0, 1, 'm');
    process();
    EXPECT_SENT(0xE0, 1, 0x83);
    assert_int_equal(F.r.last_err, CORIO_ERR_POLICY);
    assert_int_equal(F.r.connects, 0);

    /* A different method from the broker is a protocol error. */
    fixture(V5);
    F.cfg.auth_method = "m";
    F.cfg.auth_method_len = 1;
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    FEED(0xF0, 6, 0x18, 4, 0x15, 0, 1, 'x');
    process();
    EXPECT_SENT(0xE0, 1, 0x82);

    /* AUTH to a client that asked for no enhanced authentication. */
    fixture(V5);
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    FEED(0xF0, 6, 0x18, 4, 0x15, 0, 1, 'm');
    process();
    EXPECT_SENT(0xE0, 1, 0x82);

    /* The start step failing ends the attempt before CONNECT. */
    fixture(V5);
    F.cfg.auth_method = "m";
    F.cfg.auth_method_len = 1;
    F.r.auth_rc = CORIO_ERR_CRYPTO;
    struct corio_transport tp = {&F.m, mem_open, mem_send, mem_recv, mem_close};
    struct corio_clock clk = {NULL, fake_now};
    struct corio_random rnd = {NULL, fake_random};
    assert_int_equal(corio_mqtt_init(&F.c, &F.cfg, &tp, &clk, &rnd, F.tx, sizeof F.tx, F.rx,
                                     sizeof F.rx, &callbacks, &F.r),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_connect(&F.c), CORIO_OK);
    process();
    assert_int_equal(F.r.last_err, CORIO_ERR_CRYPTO);
    expect_nothing_sent();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_WAITING);

    /* Auth data too large for tx. */
    fixture(V5);
    F.cfg.auth_method = "m";
    F.cfg.auth_method_len = 1;
    static char big[600];
    memset(big, 'e', sizeof big - 1);
    F.r.auth_reply[0] = big;
    assert_int_equal(corio_mqtt_init(&F.c, &F.cfg, &tp, &clk, &rnd, F.tx, sizeof F.tx, F.rx,
                                     sizeof F.rx, &callbacks, &F.r),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_connect(&F.c), CORIO_OK);
    process();
    assert_int_equal(F.r.last_err, CORIO_ERR_NOSPACE);
}

/* ---------------------------------------------------------------------------------
 * Disconnecting and configuration
 */

static void disconnect_reports_inflight_and_stops(void **state)
{
    (void)state;
    connected(V5);
    assert_int_equal(publish("t", "x", 1, 31), CORIO_OK);
    uint8_t pkt[64];
    sent_publish(pkt, sizeof pkt);
    assert_int_equal(corio_mqtt_disconnect(&F.c, 0x05), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_disconnect(&F.c, 0x04), CORIO_OK);
    assert_int_equal(corio_mqtt_disconnect(&F.c, 0), CORIO_ERR_STATE);
    assert_int_equal(publish("t", "y", 1, 32), CORIO_ERR_STATE);
    assert_int_equal(F.r.disconnects, 0); /* completion comes from process() */
    assert_int_equal(corio_mqtt_poll_ms(&F.c), 0);
    process();
    EXPECT_SENT(0xE0, 1, 0x04);
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_STOPPED);
    assert_false(F.m.is_open);
    assert_int_equal(F.r.done, 1);
    assert_int_equal(F.r.done_token[0], 31);
    assert_int_equal(F.r.done_result[0], CORIO_ERR_CLOSED);
    assert_int_equal(F.r.disconnects, 1);
    assert_int_equal(F.r.last_err, CORIO_OK);
    assert_int_equal(F.r.last_reason, 0x04);
    /* Stopped means stopped. */
    advance(600000);
    process();
    assert_int_equal(F.m.opens, 1);
    assert_int_equal(corio_mqtt_poll_ms(&F.c), UINT32_MAX);
    /* And it can start again. */
    assert_int_equal(corio_mqtt_connect(&F.c), CORIO_OK);
    process();
    assert_int_equal(F.m.opens, 2);
}

static void disconnect_while_waiting_from_the_callback(void **state)
{
    (void)state;
    fixture(V4);
    F.m.open_rc = CORIO_ERR_REFUSED;
    F.r.disconnect_in_callback = 1;
    struct corio_transport tp = {&F.m, mem_open, mem_send, mem_recv, mem_close};
    struct corio_clock clk = {NULL, fake_now};
    struct corio_random rnd = {NULL, fake_random};
    assert_int_equal(corio_mqtt_init(&F.c, &F.cfg, &tp, &clk, &rnd, F.tx, sizeof F.tx, F.rx,
                                     sizeof F.rx, &callbacks, &F.r),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_connect(&F.c), CORIO_OK);
    process();
    assert_int_equal(F.r.disconnects, 1);
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_DISCONNECTING);
    F.r.disconnect_in_callback = 0;
    process();
    assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_STOPPED);
    assert_int_equal(F.r.disconnects, 2);
    assert_int_equal(F.r.last_err, CORIO_OK);
    assert_int_equal(F.m.opens, 1);
}

static void init_refuses_bad_configuration(void **state)
{
    (void)state;
    struct corio_transport tp = {&F.m, mem_open, mem_send, mem_recv, mem_close};
    struct corio_clock clk = {NULL, fake_now};
    struct corio_random rnd = {NULL, fake_random};
    struct corio_mqtt_callbacks cb = callbacks;
    fixture(V5);
#define INIT(cfgp, tpp, cbp, txcap)                                                                \
    corio_mqtt_init(&F.c, cfgp, tpp, &clk, &rnd, F.tx, txcap, F.rx, sizeof F.rx, cbp, &F.r)
    assert_int_equal(INIT(&F.cfg, &tp, &cb, sizeof F.tx), CORIO_OK);
    assert_int_equal(INIT(NULL, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    assert_int_equal(INIT(&F.cfg, &tp, NULL, sizeof F.tx), CORIO_ERR_INVAL);
    assert_int_equal(INIT(&F.cfg, &tp, &cb, 16), CORIO_ERR_INVAL);
    struct corio_transport no_recv = tp;
    no_recv.recv = NULL;
    assert_int_equal(INIT(&F.cfg, &no_recv, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    struct corio_mqtt_config c = F.cfg;
    c.version = 3;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    c = F.cfg;
    c.auth_method = "m";
    c.auth_method_len = 1;
    cb.auth = NULL;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    cb = callbacks;
    c.version = V4;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    c = F.cfg;
    c.client_id = "\xFF";
    c.client_id_len = 1;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    c = F.cfg;
    c.version = V4;
    c.client_id_len = 0;
    c.clean = CORIO_MQTT_CLEAN_FIRST; /* reconnects would send an empty id without clean session */
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    c.clean = CORIO_MQTT_CLEAN_ALWAYS;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_OK);
    uint8_t pb[16];
    struct corio_mqtt_props props;
    corio_mqtt_props_init(&props, pb, sizeof pb);
    corio_mqtt_props_add_user(&props, "k", 1, "v", 1);
    c = F.cfg;
    c.connect_props = pb;
    c.connect_props_len = props.len;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_OK);
    corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_SESSION_EXPIRY, 5); /* the client's own */
    c.connect_props_len = props.len;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
    c.version = V4;
    c.connect_props_len = 7;
    assert_int_equal(INIT(&c, &tp, &cb, sizeof F.tx), CORIO_ERR_INVAL);
#undef INIT
    assert_int_equal(corio_mqtt_connect(NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_mqtt_process(NULL), CORIO_ERR_INVAL);
}

/* The client writes CONNECT and PUBLISH itself: byte for byte what the codec's
 * validating encoders make of the same fields, will and login included. */
static void client_packets_match_the_codec(void **state)
{
    (void)state;
    uint8_t pkt[256], want[256], pb[16], wpb[16];
    struct corio_mqtt_props props, wprops;
    for (uint8_t v = V4; v <= V5; v++) {
        struct corio_mqtt_will will = {.topic = "dev/gone",
                                       .topic_len = 8,
                                       .payload = (const uint8_t *)"bye",
                                       .payload_len = 3,
                                       .qos = 1,
                                       .retain = true};
        fixture(v);
        /* (Each part the build leaves out stays out of the configuration.) */
        bool app_props = v == V5 && CORIO_MQTT_WITH_CONNECT_PROPS;
        if (v == V5) {
            corio_mqtt_props_init(&props, pb, sizeof pb);
            corio_mqtt_props_add_user(&props, "k", 1, "v", 1);
            F.cfg.connect_props = app_props ? pb : NULL;
            F.cfg.connect_props_len = app_props ? props.len : 0;
            corio_mqtt_props_init(&wprops, wpb, sizeof wpb);
            corio_mqtt_props_add_int(&wprops, CORIO_MQTT_PROP_WILL_DELAY, 30);
            will.props = wpb;
            will.props_len = wprops.len;
        }
        if (CORIO_MQTT_WITH_WILL)
            F.cfg.will = &will;
        if (CORIO_MQTT_WITH_LOGIN) {
            F.cfg.username = "user";
            F.cfg.username_len = 4;
            F.cfg.password = (const uint8_t *)"pw";
            F.cfg.password_len = 2;
        }
        start();
        size_t n = expect_packet(0x10, pkt, sizeof pkt);

        /* The codec's CONNECT: under MQTT 5 the client's Maximum Packet Size (rx) first. */
        uint8_t all[32] = {0x27, 0, 0, 1, 0};
        size_t all_len = 5;
        if (app_props) {
            memcpy(all + 5, pb, props.len);
            all_len += props.len;
        }
        struct corio_mqtt_connect m = {.version = v,
                                       .clean_start = true,
                                       .keepalive_s = 60,
                                       .client_id = "dev1",
                                       .client_id_len = 4,
                                       .will = CORIO_MQTT_WITH_WILL ? &will : NULL,
                                       .username = F.cfg.username,
                                       .username_len = F.cfg.username_len,
                                       .password = F.cfg.password,
                                       .password_len = F.cfg.password_len,
                                       .props = v == V5 ? all : NULL,
                                       .props_len = v == V5 ? all_len : 0};
        int w = corio_mqtt_encode_connect(want, sizeof want, &m);
        assert_true(w > 0);
        assert_int_equal(n, (size_t)w);
        assert_memory_equal(pkt, want, n);

        connack(false);
        process();
        assert_int_equal(corio_mqtt_state(&F.c), CORIO_MQTT_CONNECTED);
        expect_nothing_sent();
        struct corio_mqtt_publish pub = {.topic = "a/b",
                                         .topic_len = 3,
                                         .qos = 1,
                                         .retain = true,
                                         .payload = (const uint8_t *)"hello",
                                         .payload_len = 5};
        if (v == V5) {
            pub.props = pb;
            pub.props_len = props.len;
        }
        assert_int_equal(corio_mqtt_publish(&F.c, &pub, 7), CORIO_OK);
        n = pop(pkt, sizeof pkt);
        assert_true(n > 0);
        pub.packet_id = (uint16_t)(pkt[n - 5 - (v == V5 ? 1 + props.len : 0) - 2] << 8 |
                                   pkt[n - 5 - (v == V5 ? 1 + props.len : 0) - 1]);
        assert_true(pub.packet_id != 0);
        w = corio_mqtt_encode_publish(want, sizeof want, v, &pub);
        assert_int_equal(n, (size_t)w);
        assert_memory_equal(pkt, want, n);
    }
}

static void connect_props_from_the_application_are_sent(void **state)
{
    (void)state;
    uint8_t pkt[128], pb[16];
    struct corio_mqtt_props props;
    fixture(V5);
    corio_mqtt_props_init(&props, pb, sizeof pb);
    corio_mqtt_props_add_user(&props, "fw", 2, "1.2", 3);
    F.cfg.connect_props = pb;
    F.cfg.connect_props_len = props.len;
    start();
    expect_packet(0x10, pkt, sizeof pkt);
    static const uint8_t want[] = {0x27, 0, 0, 1, 0, 0x26, 0, 2, 'f', 'w', 0, 3, '1', '.', '2'};
    assert_int_equal(pkt[12], sizeof want);
    assert_memory_equal(pkt + 13, want, sizeof want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_311),
        cmocka_unit_test(connect_5_announces_packet_size_and_session),
        cmocka_unit_test(connect_byte_by_byte_both_ways),
        cmocka_unit_test(connack_refused_backs_off),
        cmocka_unit_test(connack_timeout),
        cmocka_unit_test(open_failures_back_off_exponentially_with_cap),
        cmocka_unit_test(backoff_policy),
        cmocka_unit_test(backoff_resets_after_a_stable_connection),
        cmocka_unit_test(publish_qos0_and_qos1_with_puback),
        cmocka_unit_test(puback_failure_reason_means_not_delivered),
        cmocka_unit_test(lost_puback_resends_with_dup_and_same_id),
        cmocka_unit_test(lost_puback_without_session_sends_fresh),
        cmocka_unit_test(resend_declined_or_dropped_is_reported),
        cmocka_unit_test(resends_go_first_and_in_order),
        cmocka_unit_test(publish_refusals_never_call_back),
        cmocka_unit_test(send_error_is_reported_from_process),
        cmocka_unit_test(incoming_publish_gets_puback),
        cmocka_unit_test(puback_waits_for_tx_room),
        cmocka_unit_test(protocol_violations_close_with_reason),
        cmocka_unit_test(server_disconnect_is_reported),
        cmocka_unit_test(keepalive_ping_and_timeout),
        cmocka_unit_test(keepalive_off_and_stuck_link),
        cmocka_unit_test(subscriptions_survive_reconnects),
        cmocka_unit_test(subscription_refused_and_table_full),
        cmocka_unit_test(enhanced_auth_exchange),
        cmocka_unit_test(enhanced_auth_refusals),
        cmocka_unit_test(disconnect_reports_inflight_and_stops),
        cmocka_unit_test(disconnect_while_waiting_from_the_callback),
        cmocka_unit_test(init_refuses_bad_configuration),
        cmocka_unit_test(connect_props_from_the_application_are_sent),
        cmocka_unit_test(client_packets_match_the_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
