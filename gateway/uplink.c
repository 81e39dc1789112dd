/*
 * uplink.c - the gateway's MQTT client to the cloud broker (uplink.h).
 *
 * libmosquitto runs in the caller's thread through mosquitto_loop(). Its callbacks run
 * inside that call, so they may touch the daemon's state directly.
 */
#include "uplink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mosquitto.h>

#include "corio/error.h"
#include "corio_log.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000

struct corio_uplink {
    struct mosquitto *mosq;
    struct corio_uplink_options o;
    char gateway[32];
    char host[256];
    char topic_prefix[64];
    bool connected;
    bool connecting;
    bool tls_failed; /* the last attempt's TLS handshake failed (logged once until a connect) */
    int64_t next_attempt_ms;
    int64_t backoff_ms;
    struct corio_uplink_stats st;
};

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    corio_uplink *u = arg;
    u->connecting = false;
    if (rc != 0) {
        corio_logkv(CORIO_LOG_WARN, "cloud broker refused the connection", "reason=%s",
                    mosquitto_connack_string(rc));
        return;
    }
    u->connected = true;
    u->tls_failed = false;
    u->backoff_ms = BACKOFF_MIN_MS;
    u->st.connects++;
    char topic[96];
    snprintf(topic, sizeof topic, "%s/ack", u->topic_prefix);
    mosquitto_subscribe(m, NULL, topic, 1);
    snprintf(topic, sizeof topic, "%s/down", u->topic_prefix);
    mosquitto_subscribe(m, NULL, topic, 1);
    corio_logkv(CORIO_LOG_INFO, "connected to the cloud broker", "host=%s port=%d", u->host,
                u->o.port);
    if (u->o.on_connect)
        u->o.on_connect(u->o.arg);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    corio_uplink *u = arg;
    if (u->connected) {
        u->st.disconnects++;
        corio_logkv(CORIO_LOG_WARN, "disconnected from the cloud broker", "reason=%s",
                    mosquitto_strerror(rc));
    }
    u->connected = false;
    u->connecting = false;
}

/* libmosquitto reports a failed TLS handshake only through its log: a certificate the
 * broker does not trust, or a broker we do not, will not heal by retrying, so an
 * operator must hear of it (once, until a connection succeeds). */
static void on_log(struct mosquitto *m, void *arg, int level, const char *text)
{
    (void)m;
    corio_uplink *u = arg;
    if (!(level & MOSQ_LOG_ERR) || !text || u->tls_failed || !u->o.tls_ca)
        return;
    if (strncmp(text, "OpenSSL Error", 13) != 0)
        return;
    u->tls_failed = true;
    corio_logkv(CORIO_LOG_WARN, "TLS with the cloud broker failed; retrying",
                "host=%s port=%d error=\"%s\"", u->host, u->o.port, text);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    corio_uplink *u = arg;
    if (u->o.on_message)
        u->o.on_message(u->o.arg, msg->topic, msg->payload, (size_t)msg->payloadlen);
}

int corio_uplink_new(const struct corio_uplink_options *o, corio_uplink **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    corio_uplink *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    u->o = *o;
    snprintf(u->gateway, sizeof u->gateway, "%s", o->gateway);
    snprintf(u->host, sizeof u->host, "%s", o->host ? o->host : "127.0.0.1");
    snprintf(u->topic_prefix, sizeof u->topic_prefix, "corio/v1/g/%s", o->gateway);
    u->o.gateway = u->gateway;
    u->o.host = u->host;
    u->backoff_ms = BACKOFF_MIN_MS;

    mosquitto_lib_init();
    /* A persistent session keyed by the gateway id: acks published while we were away
     * wait for us when the broker keeps sessions; when it does not, resends cover it. */
    u->mosq = mosquitto_new(u->gateway, false, u);
    if (!u->mosq) {
        snprintf(err, errlen, "cannot create the MQTT client");
        corio_uplink_free(u);
        return CORIO_ERR_NOSPACE;
    }
    mosquitto_int_option(u->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(u->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(u->mosq,
                                        (unsigned)(o->max_inflight > 0 ? o->max_inflight : 32));
    mosquitto_connect_callback_set(u->mosq, on_connect);
    mosquitto_disconnect_callback_set(u->mosq, on_disconnect);
    mosquitto_message_callback_set(u->mosq, on_message);
    if (o->will_suffix && o->will_payload) {
        char topic[128];
        snprintf(topic, sizeof topic, "%s/%s", u->topic_prefix, o->will_suffix);
        int rc = mosquitto_will_set(u->mosq, topic, (int)strlen(o->will_payload), o->will_payload,
                                    1, true);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "last will refused: %s", mosquitto_strerror(rc));
            corio_uplink_free(u);
            return CORIO_ERR_INVAL;
        }
    }
    mosquitto_log_callback_set(u->mosq, on_log);
    if (o->tls_ca) {
        int rc = mosquitto_tls_set(u->mosq, o->tls_ca, NULL, o->tls_cert, o->tls_key, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "TLS settings refused: %s", mosquitto_strerror(rc));
            corio_uplink_free(u);
            return CORIO_ERR_INVAL;
        }
    }
    *out = u;
    return CORIO_OK;
}

void corio_uplink_free(corio_uplink *u)
{
    if (!u)
        return;
    if (u->mosq) {
        if (u->connected)
            mosquitto_disconnect(u->mosq);
        mosquitto_destroy(u->mosq);
    }
    mosquitto_lib_cleanup();
    free(u);
}

static int64_t jittered(int64_t ms)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = 0;
    return ms / 2 + (int64_t)(r % (uint32_t)(ms / 2 + 1));
}

void corio_uplink_run_once(corio_uplink *u, int timeout_ms, int64_t now_ms)
{
    if (!u->connected && !u->connecting && now_ms >= u->next_attempt_ms) {
        int keepalive = u->o.keepalive_s > 0 ? u->o.keepalive_s : 30;
        int rc = u->st.connects || u->st.disconnects
                     ? mosquitto_reconnect(u->mosq)
                     : mosquitto_connect(u->mosq, u->host, u->o.port, keepalive);
        if (rc == MOSQ_ERR_SUCCESS) {
            u->connecting = true;
        } else {
            corio_logkv(CORIO_LOG_DEBUG, "cannot reach the cloud broker", "host=%s port=%d error=%s",
                        u->host, u->o.port, mosquitto_strerror(rc));
        }
        u->next_attempt_ms = now_ms + jittered(u->backoff_ms);
        if (u->backoff_ms < BACKOFF_MAX_MS)
            u->backoff_ms *= 2;
    }
    if (!u->connected && !u->connecting) {
        /* Nothing to run: wait out the slice so the caller's loop does not spin. */
        struct timespec ts = {0, (long)timeout_ms * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    int rc = mosquitto_loop(u->mosq, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS && (u->connected || u->connecting)) {
        on_disconnect(u->mosq, u, rc);
    }
    /* A connect that never completes (the broker accepted TCP but never answered). */
    if (u->connecting && now_ms >= u->next_attempt_ms + 30000) {
        mosquitto_disconnect(u->mosq);
        u->connecting = false;
    }
}

static int publish(corio_uplink *u, const char *suffix, const uint8_t *payload, size_t len,
                   bool retain)
{
    if (!u->connected) {
        u->st.publish_refused++;
        return -1;
    }
    char topic[128];
    snprintf(topic, sizeof topic, "%s/%s", u->topic_prefix, suffix);
    int rc = mosquitto_publish(u->mosq, NULL, topic, (int)len, payload, 1, retain);
    if (rc != MOSQ_ERR_SUCCESS) {
        u->st.publish_refused++;
        return -1;
    }
    u->st.published++;
    u->st.bytes += len;
    return 0;
}

int corio_uplink_publish(corio_uplink *u, const char *suffix, const uint8_t *payload, size_t len)
{
    return publish(u, suffix, payload, len, false);
}

int corio_uplink_publish_retained(corio_uplink *u, const char *suffix, const uint8_t *payload,
                                  size_t len)
{
    return publish(u, suffix, payload, len, true);
}

void corio_uplink_stats(const corio_uplink *u, struct corio_uplink_stats *st)
{
    *st = u->st;
    st->connected = u->connected;
}
