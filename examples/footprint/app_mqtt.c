/*
 * app_mqtt.c - the footprint example's MQTT client: MQTT 5 to the gateway with the
 * device's short id as client id, corio-eat-v1 enhanced authentication when the EAT
 * module is there, the downlink subscription, and QoS 1 telemetry whose delivery the
 * outbox tracks (DESIGN.md §1, docs/sdk-mqtt.md "Plugging in the outbox"). The client
 * struct and its tx and rx buffers are the RAM the SDK's MQTT costs an application.
 */
#include <string.h>

#include "corio/cbor.h"
#include "corio/mqtt.h"
#include "fp_app.h"

#if FP_HAVE_TOPIC
#include "corio/topic.h"
#endif

static struct corio_mqtt mqtt;
static uint8_t tx[FP_MQTT_TX], rx[FP_MQTT_RX];
static char dn_filter[48];
#if !FP_HAVE_OUTBOX
static uint64_t next_token = 1; /* QoS 1 tokens of our own */
#endif

static const char *const suffix[FP_KIND_COUNT] = {"up/cbor", "up/json", "up/evt", "up/hb",
                                                  "up/res"};

int fp_topic(enum fp_kind kind, char *buf, size_t cap)
{
#if FP_HAVE_TOPIC
    static const uint8_t map[FP_KIND_COUNT] = {CORIO_TOPIC_UP_CBOR, CORIO_TOPIC_UP_JSON,
                                               CORIO_TOPIC_UP_EVT, CORIO_TOPIC_UP_HB,
                                               CORIO_TOPIC_UP_RES};

    (void)suffix;
    return corio_topic_build((enum corio_topic_kind)map[kind], fp_short_id(), buf, cap);
#else
    static const char prefix[] = "corio/v1/d/";
    size_t id_len = strlen(fp_short_id()), s_len = strlen(suffix[kind]);
    size_t n = sizeof prefix - 1 + id_len + 1 + s_len;

    if (n + 1 > cap)
        return CORIO_ERR_NOSPACE;
    memcpy(buf, prefix, sizeof prefix - 1);
    memcpy(buf + sizeof prefix - 1, fp_short_id(), id_len);
    buf[sizeof prefix - 1 + id_len] = '/';
    memcpy(buf + sizeof prefix + id_len, suffix[kind], s_len + 1);
    return (int)n;
#endif
}

static uint8_t on_message(void *user, const struct corio_mqtt_publish *msg)
{
    (void)user;
    /* The only subscription is the device's dn/cmd. */
    return fp_command(msg->payload, msg->payload_len, mqtt.clk.now_ms(mqtt.clk.ctx));
}

static int last_loss; /* why the last connection ended (error.h), for up/evt */
static uint8_t last_reason;

static void on_disconnect(void *user, int err, uint8_t reason)
{
    (void)user;
    last_loss = err;
    last_reason = reason;
}

static void on_connect(void *user, const struct corio_mqtt_connack *ack)
{
    (void)user;
    (void)ack;
    if (last_loss != CORIO_OK) {
        /* {"ev": "lost", "err": <error.h code>, "rc": <MQTT reason>}: the code, not
         * corio_strerror()'s text, whose table the device need not carry. The fixed
         * parts are pre-encoded: the map head, "ev": "lost", the key "err"; the key "rc". */
        static const uint8_t head[] = {0xA3, 0x62, 'e',  'v', 0x64, 'l', 'o',
                                       's',  't',  0x63, 'e', 'r',  'r'};
        static const uint8_t rc_key[] = {0x62, 'r', 'c'};
        uint8_t evt[24];
        struct corio_cbor_enc e;
        int n;

        corio_cbor_enc_init(&e, evt, sizeof evt);
        corio_cbor_put_raw(&e, head, sizeof head);
        corio_cbor_put_int(&e, last_loss);
        corio_cbor_put_raw(&e, rc_key, sizeof rc_key);
        corio_cbor_put_uint(&e, last_reason);
        n = corio_cbor_enc_finish(&e);
        if (n > 0)
            (void)fp_send(FP_UP_EVT, evt, (size_t)n, mqtt.clk.now_ms(mqtt.clk.ctx));
        last_loss = CORIO_OK;
    }
#if FP_HAVE_OUTBOX
    fp_outbox_pump();
#endif
}

static void on_publish_done(void *user, uint64_t token, int result, uint8_t reason)
{
    (void)user;
    (void)reason;
#if FP_HAVE_OUTBOX
    fp_outbox_done(token, result);
#else
    (void)token;
    (void)result;
#endif
}

#if FP_HAVE_EAT
static int auth(void *user, enum corio_mqtt_auth_step step, const uint8_t *in, size_t in_len,
                const uint8_t **out, size_t *out_len)
{
    (void)user;
    if (step != CORIO_MQTT_AUTH_CONTINUE)
        return CORIO_OK;
    return fp_eat_answer(in, in_len, out, out_len);
}
#endif

int fp_mqtt_start(const struct corio_transport *tp, const struct corio_clock *clk,
                  const struct corio_random *rnd)
{
    static const struct corio_mqtt_callbacks cb = {
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_message = on_message,
        .on_publish_done = on_publish_done,
#if FP_HAVE_EAT
        .auth = auth,
#endif
    };
    struct corio_mqtt_config cfg;
    int err, n;

    corio_mqtt_config_init(&cfg);
    cfg.client_id = fp_short_id();
    cfg.client_id_len = (uint16_t)strlen(cfg.client_id);
    cfg.session_expiry_s = 3600; /* commands queued while offline meet the device */
    /* Unacknowledged messages come back at once; the outbox sends them again (without
     * the outbox they are lost). The client keeps no resend queue of its own
     * (CORIO_MQTT_WITH_RESEND 0). */
    cfg.drop_inflight_on_disconnect = true;
#if FP_HAVE_EAT
    cfg.auth_method = "corio-eat-v1";
    cfg.auth_method_len = 12;
#endif
    err = corio_mqtt_init(&mqtt, &cfg, tp, clk, rnd, tx, sizeof tx, rx, sizeof rx, &cb, NULL);
    if (err != CORIO_OK)
        return err;
    /* corio/v1/d/{id}/dn/cmd: the up/res topic with its suffix swapped. */
    n = fp_topic(FP_UP_RES, dn_filter, sizeof dn_filter);
    if (n < 0)
        return n;
    memcpy(dn_filter + n - 6, "dn/cmd", 6);
    err = corio_mqtt_subscribe(&mqtt, dn_filter, (uint16_t)n, CORIO_MQTT_SUB_QOS(1));
    if (err != CORIO_OK)
        return err;
    return corio_mqtt_connect(&mqtt);
}

uint32_t fp_mqtt_step(void)
{
    (void)corio_mqtt_process(&mqtt);
    return corio_mqtt_poll_ms(&mqtt);
}

int fp_publish(enum fp_kind kind, const uint8_t *payload, size_t len, uint64_t token)
{
    struct corio_mqtt_publish msg;
    char topic[48];
    int n;

    n = fp_topic(kind, topic, sizeof topic);
    if (n < 0)
        return n;
    memset(&msg, 0, sizeof msg);
    msg.topic = topic;
    msg.topic_len = (uint16_t)n;
    msg.qos = 1;
    msg.payload = payload;
    msg.payload_len = len;
    return corio_mqtt_publish(&mqtt, &msg, token);
}

int fp_send(enum fp_kind kind, const uint8_t *payload, size_t len, uint32_t now_ms)
{
#if FP_HAVE_OUTBOX
    /* Durable first: the outbox publishes what it holds, now or after a reconnect. */
    int err = fp_outbox_store(kind, payload, len, now_ms);

    if (err == CORIO_OK)
        fp_outbox_pump();
    return err;
#else
    (void)now_ms;
    return fp_publish(kind, payload, len, next_token++);
#endif
}
