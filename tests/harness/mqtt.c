/*
 * mqtt.c - small MQTT clients for tests over libmosquitto (harness.h, "MQTT
 * clients"). Each client runs libmosquitto's own network thread; its callbacks
 * record connection state, acknowledgements and messages under a mutex, and the
 * test's thread polls them with deadlines.
 */
#include "harness_int.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Acknowledgements are kept in a ring: a waiter looks for its message id among
 * the last H_ACK_RING, far fewer than the 65535 ids before one is reused. */
#define H_ACK_RING 4096

enum ack_kind { ACK_NONE, ACK_PUB, ACK_SUB };

struct ack {
    int mid;
    enum ack_kind kind;
    int granted; /* SUBACK: the first granted QoS or 0x80 */
};

struct h_mqtt {
    struct mosquitto *mosq;
    char *id;
    pthread_mutex_t mu;
    int connack; /* -1 until the first CONNACK */
    bool connected;
    int disconnects;
    bool closing;
    bool closed;
    char last_log[256];
    struct ack acks[H_ACK_RING];
    unsigned nacks;
    struct h_mqtt_msg **msgs;
    int nmsgs, capmsgs;
};

static void lib_cleanup(void *arg)
{
    (void)arg;
    mosquitto_lib_cleanup();
}

static void lib_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    mosquitto_lib_init();
    h__defer_run(lib_cleanup, NULL);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    struct h_mqtt *c = obj;
    pthread_mutex_lock(&c->mu);
    c->connack = rc;
    c->connected = rc == 0;
    pthread_mutex_unlock(&c->mu);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)rc;
    struct h_mqtt *c = obj;
    pthread_mutex_lock(&c->mu);
    if (c->connected && !c->closing)
        c->disconnects++;
    c->connected = false;
    pthread_mutex_unlock(&c->mu);
}

static void add_ack(struct h_mqtt *c, int mid, enum ack_kind kind, int granted)
{
    pthread_mutex_lock(&c->mu);
    struct ack *a = &c->acks[c->nacks++ % H_ACK_RING];
    a->mid = mid;
    a->kind = kind;
    a->granted = granted;
    pthread_mutex_unlock(&c->mu);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    add_ack(obj, mid, ACK_PUB, 0);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    (void)m;
    add_ack(obj, mid, ACK_SUB, n > 0 ? granted[0] : 0x80);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    struct h_mqtt *c = obj;
    struct h_mqtt_msg *x = h__xcalloc(1, sizeof *x);
    x->topic = h__xstrdup(msg->topic);
    x->len = msg->payloadlen;
    x->payload = h__xcalloc(1, (size_t)msg->payloadlen + 1);
    if (msg->payloadlen > 0)
        memcpy(x->payload, msg->payload, (size_t)msg->payloadlen);
    x->qos = msg->qos;
    x->retain = msg->retain;
    pthread_mutex_lock(&c->mu);
    if (c->nmsgs == c->capmsgs) {
        c->capmsgs = c->capmsgs ? c->capmsgs * 2 : 64;
        c->msgs = h__xrealloc(c->msgs, (size_t)c->capmsgs * sizeof *c->msgs);
    }
    c->msgs[c->nmsgs++] = x;
    pthread_mutex_unlock(&c->mu);
}

static void on_log(struct mosquitto *m, void *obj, int level, const char *str)
{
    (void)m;
    struct h_mqtt *c = obj;
    if (!(level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)))
        return;
    pthread_mutex_lock(&c->mu);
    snprintf(c->last_log, sizeof c->last_log, "%s", str);
    pthread_mutex_unlock(&c->mu);
}

/* Ends the network thread and frees the library handle; the messages stay. */
static void shut(struct h_mqtt *c)
{
    if (c->closed)
        return;
    c->closed = true;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_mutex_unlock(&c->mu);
    mosquitto_disconnect(c->mosq);
    mosquitto_loop_stop(c->mosq, false);
    mosquitto_destroy(c->mosq);
    c->mosq = NULL;
}

static void mqtt_cleanup(void *arg)
{
    struct h_mqtt *c = arg;
    shut(c);
    for (int i = 0; i < c->nmsgs; i++) {
        free(c->msgs[i]->topic);
        free(c->msgs[i]->payload);
        free(c->msgs[i]);
    }
    free(c->msgs);
    free(c->id);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static bool connack_seen(void *arg)
{
    struct h_mqtt *c = arg;
    pthread_mutex_lock(&c->mu);
    bool seen = c->connack >= 0;
    pthread_mutex_unlock(&c->mu);
    return seen;
}

struct h_mqtt *h_mqtt_connect(int port, const struct h_mqtt_opts *opts)
{
    static const struct h_mqtt_opts none;
    static unsigned counter;
    if (!opts)
        opts = &none;
    h__init();
    lib_init();
    struct h_mqtt *c = h__xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->connack = -1;
    c->id = opts->client_id ? h__xstrdup(opts->client_id)
                            : h__xasprintf("h-%d-%u", (int)getpid(), ++counter);
    h_defer(mqtt_cleanup, c);
    c->mosq = mosquitto_new(c->id, !opts->persistent, c);
    if (!c->mosq) {
        h__msg("mqtt %s: mosquitto_new failed", c->id);
        c->closed = true;
        return NULL;
    }
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         opts->mqtt5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_message_callback_set(c->mosq, on_message);
    mosquitto_log_callback_set(c->mosq, on_log);
    mosquitto_reconnect_delay_set(c->mosq, 1, 2, false);
    int rc = MOSQ_ERR_SUCCESS;
    if (opts->username)
        rc = mosquitto_username_pw_set(c->mosq, opts->username, opts->password);
    if (rc == MOSQ_ERR_SUCCESS && opts->cafile)
        rc = mosquitto_tls_set(c->mosq, opts->cafile, NULL, opts->certfile, opts->keyfile, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect_async(c->mosq, "127.0.0.1", port,
                                     opts->keepalive ? opts->keepalive : 30);
    /* A refused TCP connect is retried by the loop like any lost connection. */
    if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_ERRNO)
        rc = mosquitto_loop_start(c->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        h__msg("mqtt %s: cannot connect to port %d: %s", c->id, port, mosquitto_strerror(rc));
        shut(c);
        return NULL;
    }
    int timeout = opts->timeout_ms ? opts->timeout_ms : 10000;
    h_wait_until(connack_seen, c, timeout);
    pthread_mutex_lock(&c->mu);
    int connack = c->connack;
    char last[sizeof c->last_log];
    memcpy(last, c->last_log, sizeof last);
    pthread_mutex_unlock(&c->mu);
    if (connack != 0) {
        if (connack < 0)
            h__msg("mqtt %s: no CONNACK from port %d within %d ms%s%s", c->id, port, h_ms(timeout),
                   *last ? ": " : "", last);
        else
            h__msg("mqtt %s: port %d refused the connection: %s", c->id, port,
                   mosquitto_connack_string(connack));
        shut(c);
        return NULL;
    }
    return c;
}

struct ack_wait {
    struct h_mqtt *c;
    int mid;
    enum ack_kind kind;
    int granted;
};

static bool ack_seen(void *arg)
{
    struct ack_wait *w = arg;
    struct h_mqtt *c = w->c;
    bool found = false;
    pthread_mutex_lock(&c->mu);
    unsigned n = c->nacks < H_ACK_RING ? c->nacks : H_ACK_RING;
    for (unsigned i = 1; i <= n && !found; i++) {
        struct ack *a = &c->acks[(c->nacks - i) % H_ACK_RING];
        if (a->kind == w->kind && a->mid == w->mid) {
            w->granted = a->granted;
            a->kind = ACK_NONE; /* consumed */
            found = true;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

int h_mqtt_subscribe(struct h_mqtt *c, const char *filter, int qos)
{
    if (!c || c->closed || !filter)
        return CORIO_ERR_STATE;
    int mid = 0;
    int rc = mosquitto_subscribe(c->mosq, &mid, filter, qos);
    if (rc != MOSQ_ERR_SUCCESS) {
        h__msg("mqtt %s: subscribe %s: %s", c->id, filter, mosquitto_strerror(rc));
        return CORIO_ERR_IO;
    }
    struct ack_wait w = {c, mid, ACK_SUB, 0};
    if (h_wait_until(ack_seen, &w, 10000) != CORIO_OK) {
        h__msg("mqtt %s: no SUBACK for %s", c->id, filter);
        return CORIO_ERR_TIMEOUT;
    }
    return w.granted >= 0x80 ? CORIO_ERR_REFUSED : CORIO_OK;
}

int h_mqtt_publish_nowait(struct h_mqtt *c, const char *topic, const void *payload, int len,
                          int qos, bool retain, int *mid)
{
    if (!c || c->closed || !topic)
        return CORIO_ERR_STATE;
    int m = 0;
    int rc = mosquitto_publish(c->mosq, &m, topic, len, payload, qos, retain);
    if (mid)
        *mid = m;
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
        h__msg("mqtt %s: publish %s: %s", c->id, topic, mosquitto_strerror(rc));
        return CORIO_ERR_IO;
    }
    return rc == MOSQ_ERR_NO_CONN && qos == 0 ? CORIO_ERR_CLOSED : CORIO_OK;
}

int h_mqtt_wait_published(struct h_mqtt *c, int mid, int timeout_ms)
{
    if (!c)
        return CORIO_ERR_INVAL;
    struct ack_wait w = {c, mid, ACK_PUB, 0};
    return h_wait_until(ack_seen, &w, timeout_ms);
}

int h_mqtt_publish(struct h_mqtt *c, const char *topic, const void *payload, int len, int qos)
{
    int mid;
    int rc = h_mqtt_publish_nowait(c, topic, payload, len, qos, false, &mid);
    if (rc != CORIO_OK || qos == 0)
        return rc;
    rc = h_mqtt_wait_published(c, mid, 10000);
    if (rc != CORIO_OK)
        h__msg("mqtt %s: no PUBACK for %s (mid %d)", c->id, topic, mid);
    return rc;
}

static bool matches(const char *filter, const char *topic)
{
    bool r = false;
    if (!filter)
        return true;
    return mosquitto_topic_matches_sub(filter, topic, &r) == MOSQ_ERR_SUCCESS && r;
}

int h_mqtt_count(struct h_mqtt *c, const char *filter)
{
    if (!c)
        return 0;
    int n = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->nmsgs; i++)
        n += matches(filter, c->msgs[i]->topic);
    pthread_mutex_unlock(&c->mu);
    return n;
}

int h_mqtt_wait_count(struct h_mqtt *c, const char *filter, int n, int timeout_ms)
{
    int got;
    bool ok;
    H_POLL(ok, (got = h_mqtt_count(c, filter)) >= n, timeout_ms);
    (void)ok;
    return got;
}

const struct h_mqtt_msg *h_mqtt_msg(struct h_mqtt *c, int i)
{
    if (!c)
        return NULL;
    pthread_mutex_lock(&c->mu);
    const struct h_mqtt_msg *m = i >= 0 && i < c->nmsgs ? c->msgs[i] : NULL;
    pthread_mutex_unlock(&c->mu);
    return m;
}

bool h_mqtt_connected(struct h_mqtt *c)
{
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    bool v = c->connected;
    pthread_mutex_unlock(&c->mu);
    return v;
}

int h_mqtt_disconnects(struct h_mqtt *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    int v = c->disconnects;
    pthread_mutex_unlock(&c->mu);
    return v;
}

int h_mqtt_wait_connected(struct h_mqtt *c, int timeout_ms)
{
    bool ok;
    H_POLL(ok, h_mqtt_connected(c), timeout_ms);
    return ok ? CORIO_OK : CORIO_ERR_TIMEOUT;
}

int h_mqtt_wait_disconnected(struct h_mqtt *c, int timeout_ms)
{
    bool ok;
    H_POLL(ok, !h_mqtt_connected(c), timeout_ms);
    return ok ? CORIO_OK : CORIO_ERR_TIMEOUT;
}

void h_mqtt_close(struct h_mqtt *c)
{
    if (c)
        shut(c);
}
