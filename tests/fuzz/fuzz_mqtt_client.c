/*
 * fuzz_mqtt_client.c - arbitrary broker byte streams fed into a connected MQTT client
 * (mqtt.h) over an in-memory transport, with time passing, publishes, a subscription
 * and reconnects along the way.
 *
 * Input: byte 0 chooses the setup (bit 0: MQTT 5; bit 1: enhanced authentication;
 * bit 2: drop_inflight_on_disconnect; bit 3: no automatic CONNACK, so the stream itself
 * must answer CONNECT; bits 4-7: how many bytes each recv hands over). The rest is
 * what the broker sends, across as many connections as it lasts.
 *
 * Beyond "no crash": every QoS 1 token the client accepted is reported exactly once by
 * the time corio_mqtt_disconnect() completes, and never a token it refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/mqtt.h"

#define MAX_TOKENS 256

static const uint8_t *stream;
static size_t stream_len, stream_off;
static size_t chunk;
static uint32_t clock_ms;
static int accepted[MAX_TOKENS], reported[MAX_TOKENS];
static bool is_open;
static struct corio_mqtt client;

static int t_open(void *ctx)
{
    (void)ctx;
    is_open = true;
    return CORIO_OK;
}

static int t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    if (!is_open || len == 0)
        abort();
    /* Take a little at a time now and then, to exercise partial writes. */
    return (int)(clock_ms % 7 == 0 && len > 3 ? 3 : len);
}

static int t_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!is_open || len == 0)
        abort();
    if (stream_off >= stream_len)
        return CORIO_ERR_CLOSED;
    size_t n = stream_len - stream_off;
    if (n > len)
        n = len;
    if (n > chunk)
        n = chunk;
    memcpy(buf, stream + stream_off, n);
    stream_off += n;
    return (int)n;
}

static void t_close(void *ctx)
{
    (void)ctx;
    is_open = false;
}

static uint32_t t_now(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int t_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0x5A, len);
    return CORIO_OK;
}

static uint8_t on_message(void *user, const struct corio_mqtt_publish *msg)
{
    (void)user;
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < msg->topic_len; i++)
        sum = (uint8_t)(sum + (uint8_t)msg->topic[i]);
    for (size_t i = 0; i < msg->payload_len; i++)
        sum = (uint8_t)(sum + msg->payload[i]);
    return (uint8_t)(sum & 1 ? 0x80 : 0x00);
}

static void on_publish_done(void *user, uint64_t token, int result, uint8_t reason)
{
    (void)user;
    (void)result;
    (void)reason;
    if (token >= MAX_TOKENS || !accepted[token] || reported[token])
        abort();
    reported[token] = 1;
}

static int resend(void *user, uint64_t token, struct corio_mqtt_publish *msg)
{
    (void)user;
    if (token % 5 == 4)
        return CORIO_ERR_NOTFOUND;
    msg->topic = "corio/v1/d/fuzz/up/cbor";
    msg->topic_len = 23;
    msg->payload = (const uint8_t *)"again";
    msg->payload_len = 5;
    return CORIO_OK;
}

static int auth(void *user, enum corio_mqtt_auth_step step, const uint8_t *in, size_t in_len,
                const uint8_t **out, size_t *out_len)
{
    (void)user;
    (void)step;
    *out = (const uint8_t *)"eat";
    *out_len = 3;
    return in_len == 1 && in[0] == 'X' ? CORIO_ERR_POLICY : CORIO_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    bool v5 = flags & 1, with_auth = (flags & 2) && v5, raw = flags & 8;
    static uint8_t prefix[64];
    static uint8_t joined[1 << 16];
    size_t pre = 0;
    if (!raw) {
        /* A valid CONNACK for the chosen setup, so the rest meets a connected client. */
        static const uint8_t ack4[] = {0x20, 2, 0, 0};
        static const uint8_t ack5[] = {0x20, 3, 0, 0, 0};
        static const uint8_t ack5auth[] = {0x20, 7, 0, 0, 4, 0x15, 0, 1, 'm'};
        const uint8_t *a = with_auth ? ack5auth : v5 ? ack5 : ack4;
        pre = with_auth ? sizeof ack5auth : v5 ? sizeof ack5 : sizeof ack4;
        memcpy(prefix, a, pre);
    }
    if (size - 1 + pre > sizeof joined)
        return 0;
    memcpy(joined, prefix, pre);
    memcpy(joined + pre, data + 1, size - 1);
    stream = joined;
    stream_len = pre + size - 1;
    stream_off = 0;
    chunk = (size_t)(flags >> 4) * 9 + 1;
    clock_ms = 0xFFFF0000u;
    memset(accepted, 0, sizeof accepted);
    memset(reported, 0, sizeof reported);
    is_open = false;

    static uint8_t tx[512], rx[300];
    struct corio_mqtt_config cfg;
    corio_mqtt_config_init(&cfg);
    cfg.version = v5 ? CORIO_MQTT_V5 : CORIO_MQTT_V311;
    cfg.client_id = "fuzz";
    cfg.client_id_len = 4;
    cfg.keepalive_s = 5;
    cfg.ping_timeout_ms = 2000;
    /* A client without its own resends (CORIO_MQTT_WITH_RESEND 0, as the footprint
     * example's device builds it) requires the outbox to resend. */
    cfg.drop_inflight_on_disconnect = (flags & 4) || !CORIO_MQTT_WITH_RESEND;
    cfg.backoff.initial_ms = 100;
    cfg.backoff.max_ms = 1000;
    if (with_auth) {
        cfg.auth_method = "m";
        cfg.auth_method_len = 1;
    }
    struct corio_transport tp = {NULL, t_open, t_send, t_recv, t_close};
    struct corio_clock clk = {NULL, t_now};
    struct corio_random rnd = {NULL, t_random};
    struct corio_mqtt_callbacks cb = {.on_message = on_message,
                                      .on_publish_done = on_publish_done,
                                      .resend = resend,
                                      .auth = auth};
    if (corio_mqtt_init(&client, &cfg, &tp, &clk, &rnd, tx, sizeof tx, rx, sizeof rx, &cb, NULL) !=
        CORIO_OK)
        abort();
    if (corio_mqtt_subscribe(&client, "corio/v1/d/fuzz/dn/#", 20, CORIO_MQTT_SUB_QOS(1)) !=
        CORIO_OK)
        abort();
    if (corio_mqtt_connect(&client) != CORIO_OK)
        abort();

    uint64_t next_token = 0;
    for (int round = 0; round < 400 && (stream_off < stream_len || round < 20); round++) {
        corio_mqtt_process(&client);
        if (corio_mqtt_state(&client) == CORIO_MQTT_CONNECTED && next_token < MAX_TOKENS) {
            struct corio_mqtt_publish m = {.topic = "corio/v1/d/fuzz/up/cbor",
                                           .topic_len = 23,
                                           .qos = (uint8_t)(round % 3 != 0),
                                           .payload = (const uint8_t *)"data",
                                           .payload_len = 4};
            int rc = corio_mqtt_publish(&client, &m, next_token);
            if (rc == CORIO_OK && m.qos)
                accepted[next_token] = 1;
            next_token++;
        }
        if (round % 17 == 5 && corio_mqtt_state(&client) == CORIO_MQTT_CONNECTED)
            corio_mqtt_reauthenticate(&client);
        if (corio_mqtt_inflight_count(&client) > CORIO_MQTT_MAX_INFLIGHT)
            abort();
        uint32_t wait = corio_mqtt_poll_ms(&client);
        clock_ms += wait < 1500 ? wait + 1 : 1500;
    }
    if (corio_mqtt_state(&client) != CORIO_MQTT_STOPPED &&
        corio_mqtt_disconnect(&client, 0) != CORIO_OK)
        abort();
    for (int i = 0; i < 100 && corio_mqtt_state(&client) != CORIO_MQTT_STOPPED; i++) {
        corio_mqtt_process(&client);
        clock_ms += 1000;
    }
    if (corio_mqtt_state(&client) != CORIO_MQTT_STOPPED || is_open)
        abort();
    for (size_t t = 0; t < MAX_TOKENS; t++)
        if (accepted[t] != reported[t])
            abort();
    return 0;
}
