/*
 * test_mqtt_mosquitto.c - the SDK's MQTT client (mqtt.h over the POSIX port) against a
 * real Mosquitto 2.0 broker, with a libmosquitto client on the other side: connect with
 * 3.1.1 and with 5, QoS 1 both ways, resends across a broker restart and across a lost
 * connection to a broker that kept the session, and TLS (mbedTLS) with the server's
 * certificate verified, refused for a foreign CA or a wrong name.
 *
 * The broker and the certificates come from the test harness (h_mosq_start,
 * h_pki_create): free ports, a directory per test, stopped when the test ends.
 * Everything waits by polling with a deadline.
 */
#include <setjmp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "corio/mqtt.h"
#include "corio/port_posix.h"
#include "harness.h"

#define DEVICE_ID "a3kq7wz2m4x5c6v7b8n9p0r1"
#define UP_TOPIC  "corio/v1/d/" DEVICE_ID "/up/cbor"
#define DN_FILTER "corio/v1/d/" DEVICE_ID "/dn/#"
#define DN_TOPIC  "corio/v1/d/" DEVICE_ID "/dn/cmd"

/* ---------------------------------------------------------------------------------
 * The broker: the harness's Mosquitto, with a plain listener for the peer and, for the
 * TLS tests, a TLS one with the harness's PKI. It logs everything (log_type all), so
 * that a test can see how the broker took a packet.
 */

struct broker {
    struct h_mosq *m;
    int port;     /* plain listener */
    int tls_port; /* TLS listener, 0 without */
    struct h_pki *pki;
};

static void broker_start(struct broker *b)
{
    memset(b, 0, sizeof *b);
    b->m = h_mosq_start(&(struct h_mosq_opts){.verbose = true});
    assert_non_null(b->m);
    b->port = b->m->port;
}

/* A plain listener (for the peer) and a TLS one with a certificate for localhost. */
static void tls_broker_start(struct broker *b)
{
    memset(b, 0, sizeof *b);
    b->pki = h_pki_create("device-1");
    assert_non_null(b->pki);
    struct h_mosq_opts o = {.verbose = true, .listeners = 2};
    o.listener[1].certfile = b->pki->server_cert;
    o.listener[1].keyfile = b->pki->server_key;
    b->m = h_mosq_start(&o);
    assert_non_null(b->m);
    b->port = b->m->ports[0];
    b->tls_port = b->m->ports[1];
}

/* Whether the process is stopped (SIGSTOP has taken effect). */
static bool is_stopped(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *p = strrchr(stat, ')');
    return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/* SIGSTOP, and wait until the broker is really stopped. */
static void broker_pause(struct broker *b)
{
    assert_int_equal(h_proc_signal(b->m->proc, SIGSTOP), CORIO_OK);
    bool stopped;
    H_POLL(stopped, is_stopped(h_proc_pid(b->m->proc)), 5000);
    assert_true(stopped);
}

static void broker_resume(struct broker *b)
{
    assert_int_equal(h_proc_signal(b->m->proc, SIGCONT), CORIO_OK);
}

/* SIGKILL: the broker dies holding whatever it had not acknowledged. */
static void broker_kill(struct broker *b)
{
    h_proc_kill(b->m->proc);
}

/* The same configuration and ports again. */
static void broker_restart(struct broker *b)
{
    assert_int_equal(h_mosq_restart(b->m), CORIO_OK);
}

/* True when the broker's log (since its latest start) holds needle. */
static bool broker_logged(const struct broker *b, const char *needle)
{
    return h_proc_log_contains(b->m->proc, needle);
}

/* ---------------------------------------------------------------------------------
 * The peer: the application on the far side, a libmosquitto client. It subscribes to
 * the device's uplink, records what arrives, and publishes commands to the device.
 */

/* Payloads of a long stream: "S" and a sequence number, then filler that depends on it. */
#define STREAM_LEN 900
static void stream_payload(char *buf, int seq)
{
    snprintf(buf, 16, "S%06d", seq);
    for (int i = 7; i < STREAM_LEN; i++)
        buf[i] = (char)('a' + (seq + i) % 26);
}

struct peer {
    struct mosquitto *m;
    int subscribed; /* SUBACKs seen, one per connection */
    int received;
    char payloads[16][64];
    char user_value[16][32];
    int stream_next;    /* the next "S%06d" sequence number expected */
    bool stream_broken; /* one arrived out of order or damaged */
};

static void peer_on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)obj;
    if (rc == 0)
        mosquitto_subscribe(m, NULL, "corio/v1/d/+/up/#", 1);
}

static void peer_on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *qos)
{
    struct peer *p = obj;
    (void)m;
    (void)mid;
    if (n == 1 && qos[0] == 1)
        p->subscribed++;
}

static void peer_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                            const mosquitto_property *props)
{
    struct peer *p = obj;
    (void)m;
    if (msg->payloadlen == STREAM_LEN && ((const char *)msg->payload)[0] == 'S') {
        char want[STREAM_LEN];
        stream_payload(want, p->stream_next++);
        if (memcmp(want, msg->payload, STREAM_LEN) != 0)
            p->stream_broken = true;
        return;
    }
    if (p->received >= 16)
        return;
    snprintf(p->payloads[p->received], sizeof p->payloads[0], "%.*s", msg->payloadlen,
             (const char *)msg->payload);
    char *name = NULL, *value = NULL;
    if (mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false))
        snprintf(p->user_value[p->received], sizeof p->user_value[0], "%s=%s", name, value);
    free(name);
    free(value);
    p->received++;
}

static void peer_start(struct peer *p, int port)
{
    mosquitto_lib_init();
    memset(p, 0, sizeof *p);
    p->m = mosquitto_new("corio-test-peer", true, p);
    assert_non_null(p->m);
    assert_int_equal(mosquitto_int_option(p->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5),
                     MOSQ_ERR_SUCCESS);
    mosquitto_connect_callback_set(p->m, peer_on_connect);
    mosquitto_subscribe_callback_set(p->m, peer_on_subscribe);
    mosquitto_message_v5_callback_set(p->m, peer_on_message);
    assert_int_equal(mosquitto_connect(p->m, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
}

/* One non-blocking round of the peer's network loop (as many packets as are waiting:
 * libmosquitto reads one per call); reconnects after a loss. */
static void peer_step(struct peer *p)
{
    int rc;
    for (int i = 0; i < 1000; i++) {
        rc = mosquitto_loop(p->m, 0, 1);
        struct pollfd pfd = {.fd = mosquitto_socket(p->m), .events = POLLIN};
        if (rc != MOSQ_ERR_SUCCESS || pfd.fd < 0 || poll(&pfd, 1, 0) != 1)
            break;
    }
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_CONN_REFUSED ||
        rc == MOSQ_ERR_ERRNO)
        mosquitto_reconnect(p->m);
}

static void peer_stop(struct peer *p)
{
    mosquitto_disconnect(p->m);
    mosquitto_destroy(p->m);
    p->m = NULL;
}

static bool peer_has(const struct peer *p, const char *payload)
{
    for (int i = 0; i < p->received; i++)
        if (strcmp(p->payloads[i], payload) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------------------------
 * The device
 */

struct device {
    bool use_tls;
    struct corio_posix_tcp tcp;
    struct corio_posix_tls tls;
    struct corio_mqtt c;
    uint8_t tx[1024], rx[1024];
    int connects, disconnects, last_err;
    bool session_present;
    int done;
    uint64_t done_token[16];
    int done_result[16];
    int resends;
    int messages;
    char message[64];
    int subacks;
    const char *outbox[16]; /* token -> payload */
};

static void dev_on_connect(void *user, const struct corio_mqtt_connack *ack)
{
    struct device *d = user;
    d->connects++;
    d->session_present = ack->session_present;
}

static void dev_on_disconnect(void *user, int err, uint8_t reason)
{
    struct device *d = user;
    (void)reason;
    d->disconnects++;
    d->last_err = err;
}

static uint8_t dev_on_message(void *user, const struct corio_mqtt_publish *msg)
{
    struct device *d = user;
    d->messages++;
    snprintf(d->message, sizeof d->message, "%.*s", (int)msg->payload_len,
             (const char *)msg->payload);
    return 0;
}

static void dev_on_publish_done(void *user, uint64_t token, int result, uint8_t reason)
{
    struct device *d = user;
    (void)reason;
    if (d->done < 16) {
        d->done_token[d->done] = token;
        d->done_result[d->done] = result;
    }
    d->done++;
}

static int dev_resend(void *user, uint64_t token, struct corio_mqtt_publish *msg)
{
    struct device *d = user;
    d->resends++;
    if (token >= 16 || !d->outbox[token])
        return CORIO_ERR_NOTFOUND;
    msg->topic = UP_TOPIC;
    msg->topic_len = (uint16_t)strlen(UP_TOPIC);
    msg->payload = (const uint8_t *)d->outbox[token];
    msg->payload_len = strlen(d->outbox[token]);
    return CORIO_OK;
}

static void dev_on_subscribe(void *user, const char *filter, uint16_t len, uint8_t reason)
{
    struct device *d = user;
    (void)filter;
    (void)len;
    if (reason < 0x80)
        d->subacks++;
}

static const struct corio_mqtt_callbacks dev_callbacks = {
    .on_connect = dev_on_connect,
    .on_disconnect = dev_on_disconnect,
    .on_message = dev_on_message,
    .on_publish_done = dev_on_publish_done,
    .resend = dev_resend,
    .on_subscribe = dev_on_subscribe,
};

/* A device on plain TCP, or on TLS when ca_pem is given. */
static struct device *dev_start_on(uint8_t version, int port, uint8_t clean, const char *ca_pem,
                                   const char *server_name)
{
    static struct device d;
    struct corio_transport tp;
    struct corio_clock clk;
    struct corio_random rnd;
    struct corio_mqtt_config cfg;
    memset(&d, 0, sizeof d);
    if (ca_pem) {
        d.use_tls = true;
        assert_int_equal(
            corio_posix_tls_init(&d.tls, "127.0.0.1", (uint16_t)port, 2000, ca_pem, server_name),
            CORIO_OK);
        corio_posix_tls_transport(&d.tls, &tp);
    } else {
        assert_int_equal(corio_posix_tcp_init(&d.tcp, "127.0.0.1", (uint16_t)port, 2000), CORIO_OK);
        corio_posix_tcp_transport(&d.tcp, &tp);
    }
    corio_posix_clock(&clk);
    corio_posix_random(&rnd);
    corio_mqtt_config_init(&cfg);
    cfg.version = version;
    cfg.client_id = DEVICE_ID;
    cfg.client_id_len = (uint16_t)strlen(DEVICE_ID);
    cfg.keepalive_s = 30;
    cfg.clean = clean;
    cfg.session_expiry_s = 300;
    cfg.connect_timeout_ms = 5000;
    cfg.backoff.initial_ms = 100;
    cfg.backoff.max_ms = 400;
    assert_int_equal(corio_mqtt_init(&d.c, &cfg, &tp, &clk, &rnd, d.tx, sizeof d.tx, d.rx,
                                     sizeof d.rx, &dev_callbacks, &d),
                     CORIO_OK);
    assert_int_equal(corio_mqtt_connect(&d.c), CORIO_OK);
    return &d;
}

static struct device *dev_start(uint8_t version, int port, uint8_t clean)
{
    return dev_start_on(version, port, clean, NULL, NULL);
}

static void dev_free(struct device *d)
{
    if (d->use_tls)
        corio_posix_tls_free(&d->tls);
}

/* One round of the device's loop: wait on the socket or the client's next timer. */
static void dev_step(struct device *d)
{
    uint32_t wait = corio_mqtt_poll_ms(&d->c);
    if (wait > 20)
        wait = 20;
    if (d->use_tls)
        corio_posix_tls_wait(&d->tls, wait, corio_mqtt_want_write(&d->c));
    else
        corio_posix_tcp_wait(&d->tcp, wait, corio_mqtt_want_write(&d->c));
    assert_int_equal(corio_mqtt_process(&d->c), CORIO_OK);
}

static void step(struct device *d, struct peer *p)
{
    if (d)
        dev_step(d);
    if (p && p->m)
        peer_step(p);
    if (!d)
        usleep(5000);
}

/* Runs the device d and the peer p (either may be NULL) until cond holds, or fails
 * after timeout_ms. */
#define RUN_UNTIL(d, p, cond, timeout_ms)                                                          \
    do {                                                                                           \
        int64_t deadline_ = h_now_ms() + h_ms(timeout_ms);                                         \
        while (!(cond)) {                                                                          \
            if (h_now_ms() > deadline_)                                                            \
                fail_msg("timed out waiting for %s", #cond);                                       \
            step(d, p);                                                                            \
        }                                                                                          \
    } while (0)

static int publish(struct device *d, const char *payload, uint64_t token, const uint8_t *props,
                   size_t props_len)
{
    struct corio_mqtt_publish m = {.topic = UP_TOPIC,
                                   .topic_len = (uint16_t)strlen(UP_TOPIC),
                                   .qos = 1,
                                   .payload = (const uint8_t *)payload,
                                   .payload_len = strlen(payload),
                                   .props = props,
                                   .props_len = props_len};
    d->outbox[token] = payload;
    return corio_mqtt_publish(&d->c, &m, token);
}

/* ---------------------------------------------------------------------------------
 * Tests
 */

static void qos1_both_ways(uint8_t version)
{
    struct broker b;
    struct peer peer = {0};
    struct device *dev = NULL;
    broker_start(&b);
    peer_start(&peer, b.port);
    RUN_UNTIL(dev, &peer, peer.subscribed == 1, 5000);

    dev = dev_start(version, b.port, CORIO_MQTT_CLEAN_FIRST);
    RUN_UNTIL(dev, &peer, dev->connects == 1, 5000);
    assert_false(dev->session_present);

    uint8_t pb[32];
    struct corio_mqtt_props props;
    corio_mqtt_props_init(&props, pb, sizeof pb);
    assert_int_equal(corio_mqtt_props_add_user(&props, "seq", 3, "1", 1), CORIO_OK);
    assert_int_equal(corio_mqtt_props_add_int(&props, CORIO_MQTT_PROP_MESSAGE_EXPIRY, 600),
                     CORIO_OK);
    bool v5 = version == CORIO_MQTT_V5;
    assert_int_equal(publish(dev, "m1", 1, v5 ? pb : NULL, v5 ? props.len : 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->done == 1 && peer.received == 1, 5000);
    assert_int_equal(dev->done_token[0], 1);
    assert_int_equal(dev->done_result[0], CORIO_OK);
    assert_string_equal(peer.payloads[0], "m1");
    if (v5)
        assert_string_equal(peer.user_value[0], "seq=1");

    /* Downlink: the device subscribes to its dn topics and gets a command. */
    assert_int_equal(corio_mqtt_subscribe(&dev->c, DN_FILTER, (uint16_t)strlen(DN_FILTER),
                                          CORIO_MQTT_SUB_QOS(1)),
                     CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->subacks == 1, 5000);
    assert_int_equal(mosquitto_publish(peer.m, NULL, DN_TOPIC, 4, "cmd1", 1, false),
                     MOSQ_ERR_SUCCESS);
    RUN_UNTIL(dev, &peer, dev->messages == 1, 5000);
    assert_string_equal(dev->message, "cmd1");

    /* Keepalive stays quiet for a short test; a clean stop by the application. */
    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    assert_int_equal(dev->last_err, CORIO_OK);
    assert_int_equal(dev->done, 1);
    peer_stop(&peer);
}

static void connect_311_qos1_both_ways(void **state)
{
    (void)state;
    qos1_both_ways(CORIO_MQTT_V311);
}

static void connect_5_qos1_both_ways(void **state)
{
    (void)state;
    qos1_both_ways(CORIO_MQTT_V5);
}

/* The broker dies holding an unacknowledged PUBLISH; a new one starts on the same port.
 * The device reconnects with backoff, finds no session and sends the message again. */
static void resend_after_restart(uint8_t version)
{
    struct broker b;
    struct peer peer = {0};
    struct device *dev = NULL;
    broker_start(&b);
    peer_start(&peer, b.port);
    RUN_UNTIL(dev, &peer, peer.subscribed == 1, 5000);
    dev = dev_start(version, b.port, CORIO_MQTT_CLEAN_FIRST);
    RUN_UNTIL(dev, &peer, dev->connects == 1, 5000);
    assert_int_equal(publish(dev, "before", 1, NULL, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->done == 1 && peer.received == 1, 5000);

    /* Frozen, the broker cannot read the PUBLISH, let alone acknowledge it. */
    broker_pause(&b);
    assert_int_equal(publish(dev, "during", 2, NULL, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, !corio_mqtt_want_write(&dev->c), 2000);
    broker_kill(&b);
    RUN_UNTIL(dev, &peer, dev->disconnects >= 1, 5000);
    assert_int_equal(dev->done, 1); /* "during" is not reported: not delivered, still held */
    assert_int_equal(corio_mqtt_inflight_count(&dev->c), 1);

    /* A new broker on the same port; the peer comes back first and subscribes again,
     * while the device is not driven. */
    broker_restart(&b);
    RUN_UNTIL(NULL, &peer, peer.subscribed == 2, 5000);
    RUN_UNTIL(dev, &peer, dev->done == 2 && peer_has(&peer, "during"), 10000);
    assert_int_equal(dev->done_token[1], 2);
    assert_int_equal(dev->done_result[1], CORIO_OK);
    assert_true(dev->connects >= 2);
    assert_false(dev->session_present);
    assert_true(dev->resends >= 1);

    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    peer_stop(&peer);
}

static void resend_after_broker_restart_311(void **state)
{
    (void)state;
    resend_after_restart(CORIO_MQTT_V311);
}

static void resend_after_broker_restart_5(void **state)
{
    (void)state;
    resend_after_restart(CORIO_MQTT_V5);
}

/* The connection drops while the broker holds the session: the device resumes it and
 * sends the unacknowledged PUBLISH again with DUP and the same packet id. */
static void resend_dup_into_kept_session(uint8_t version)
{
    struct broker b;
    struct peer peer = {0};
    struct device *dev = NULL;
    broker_start(&b);
    peer_start(&peer, b.port);
    RUN_UNTIL(dev, &peer, peer.subscribed == 1, 5000);
    /* 3.1.1 keeps a session only for clean session 0; MQTT 5 keeps it for the expiry. */
    dev = dev_start(version, b.port,
                    version == CORIO_MQTT_V5 ? CORIO_MQTT_CLEAN_FIRST : CORIO_MQTT_CLEAN_NEVER);
    RUN_UNTIL(dev, &peer, dev->connects == 1, 5000);

    broker_pause(&b);
    assert_int_equal(publish(dev, "kept", 3, NULL, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, !corio_mqtt_want_write(&dev->c), 2000);
    /* Cut the device's side of the connection while the broker is frozen. */
    shutdown(corio_posix_tcp_fd(&dev->tcp), SHUT_RDWR);
    RUN_UNTIL(dev, &peer, dev->disconnects == 1, 5000);
    broker_resume(&b);
    RUN_UNTIL(dev, &peer, dev->done == 1, 10000);
    assert_int_equal(dev->done_token[0], 3);
    assert_int_equal(dev->done_result[0], CORIO_OK);
    assert_int_equal(dev->connects, 2);
    assert_true(dev->session_present);
    assert_int_equal(dev->resends, 1);
    RUN_UNTIL(dev, &peer, peer_has(&peer, "kept"), 5000); /* at least once */
    /* Mosquitto saw the resend as a duplicate. */
    RUN_UNTIL(dev, &peer, broker_logged(&b, "Received PUBLISH from " DEVICE_ID " (d1, q1"), 5000);

    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    peer_stop(&peer);
}

static void resend_dup_into_kept_session_311(void **state)
{
    (void)state;
    resend_dup_into_kept_session(CORIO_MQTT_V311);
}

static void resend_dup_into_kept_session_5(void **state)
{
    (void)state;
    resend_dup_into_kept_session(CORIO_MQTT_V5);
}

/* ---------------------------------------------------------------------------------
 * TLS
 */

/* A PEM file's text, NUL-terminated (scope-owned). */
static const char *ca_text(const char *path)
{
    const char *text = h_read_file(path, NULL);
    assert_non_null(text);
    return text;
}

static void tls_connect_and_publish(void **state)
{
    (void)state;
    struct broker b;
    struct peer peer = {0};
    struct device *dev = NULL;
    tls_broker_start(&b);
    peer_start(&peer, b.port);
    RUN_UNTIL(dev, &peer, peer.subscribed == 1, 5000);
    dev = dev_start_on(CORIO_MQTT_V5, b.tls_port, CORIO_MQTT_CLEAN_FIRST, ca_text(b.pki->ca_cert),
                       "localhost");
    RUN_UNTIL(dev, &peer, dev->connects == 1, 10000);
    assert_int_equal(publish(dev, "over-tls", 1, NULL, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->done == 1 && peer_has(&peer, "over-tls"), 5000);
    assert_int_equal(dev->done_result[0], CORIO_OK);
    /* Downlink through TLS too. */
    assert_int_equal(corio_mqtt_subscribe(&dev->c, DN_FILTER, (uint16_t)strlen(DN_FILTER),
                                          CORIO_MQTT_SUB_QOS(1)),
                     CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->subacks == 1, 5000);
    assert_int_equal(mosquitto_publish(peer.m, NULL, DN_TOPIC, 4, "cmd2", 1, false),
                     MOSQ_ERR_SUCCESS);
    RUN_UNTIL(dev, &peer, dev->messages == 1, 5000);
    assert_string_equal(dev->message, "cmd2");
    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    dev_free(dev);
    peer_stop(&peer);
}

/* The broker freezes while the device keeps publishing, until the socket is full and
 * mbedTLS has to hold a record back (WANT_WRITE); once the broker runs again every
 * message must arrive whole and in order. */
static void tls_survives_a_full_socket(void **state)
{
    (void)state;
    struct broker b;
    struct peer peer = {0};
    struct device *dev = NULL;
    static char payload[STREAM_LEN];
    tls_broker_start(&b);
    peer_start(&peer, b.port);
    RUN_UNTIL(dev, &peer, peer.subscribed == 1, 5000);
    dev = dev_start_on(CORIO_MQTT_V5, b.tls_port, CORIO_MQTT_CLEAN_FIRST, ca_text(b.pki->ca_cert),
                       "localhost");
    RUN_UNTIL(dev, &peer, dev->connects == 1, 10000);

    broker_pause(&b);
    int sent = 0;
    int64_t blocked_since = 0, deadline = h_now_ms() + 30000;
    while (h_now_ms() < deadline && sent < 40000) {
        struct corio_mqtt_publish m = {.topic = UP_TOPIC,
                                       .topic_len = (uint16_t)strlen(UP_TOPIC),
                                       .payload = (const uint8_t *)payload,
                                       .payload_len = STREAM_LEN};
        stream_payload(payload, sent);
        int rc = corio_mqtt_publish(&dev->c, &m, 0);
        if (rc == CORIO_OK) {
            sent++;
            blocked_since = 0;
            continue;
        }
        assert_int_equal(rc, CORIO_ERR_AGAIN);
        if (!blocked_since)
            blocked_since = h_now_ms();
        else if (h_now_ms() - blocked_since > 300)
            break; /* the socket has been full for a while */
        assert_int_equal(corio_mqtt_process(&dev->c), CORIO_OK);
        usleep(1000);
    }
    assert_true(corio_mqtt_want_write(&dev->c));
    assert_int_equal(dev->disconnects, 0);
    broker_resume(&b);
    /* A QoS 1 marker behind the stream: once it is acknowledged, all went through. */
    int rc;
    while ((rc = publish(dev, "marker", 1, NULL, 0)) == CORIO_ERR_AGAIN)
        step(dev, &peer);
    assert_int_equal(rc, CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->done == 1 && peer_has(&peer, "marker"), 30000);
    RUN_UNTIL(dev, &peer, peer.stream_next == sent, 30000);
    assert_false(peer.stream_broken);
    assert_int_equal(dev->disconnects, 0);
    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    dev_free(dev);
    peer_stop(&peer);
}

/* A server the device must not trust: the attempt fails verification and never gets
 * to MQTT. */
static void tls_refused(const char *which)
{
    struct broker b;
    struct peer peer = {0};
    struct device *dev = NULL;
    tls_broker_start(&b);
    bool wrong_ca = strcmp(which, "ca") == 0;
    /* A CA of its own that never signed the broker's certificate. */
    const char *ca = wrong_ca ? h_pki_create("other")->ca_cert : b.pki->ca_cert;
    dev = dev_start_on(CORIO_MQTT_V5, b.tls_port, CORIO_MQTT_CLEAN_FIRST, ca_text(ca),
                       wrong_ca ? "localhost" : "gateway.example");
    RUN_UNTIL(dev, &peer, dev->disconnects >= 2, 10000);
    assert_int_equal(dev->last_err, CORIO_ERR_BADSIG);
    assert_int_equal(dev->connects, 0);
    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    dev_free(dev);
}

static void tls_refuses_a_foreign_ca(void **state)
{
    (void)state;
    tls_refused("ca");
}

static void tls_refuses_a_wrong_name(void **state)
{
    (void)state;
    tls_refused("name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(connect_311_qos1_both_ways),       H_TEST(connect_5_qos1_both_ways),
        H_TEST(resend_after_broker_restart_311),  H_TEST(resend_after_broker_restart_5),
        H_TEST(resend_dup_into_kept_session_311), H_TEST(resend_dup_into_kept_session_5),
        H_TEST(tls_connect_and_publish),          H_TEST(tls_survives_a_full_socket),
        H_TEST(tls_refuses_a_foreign_ca),         H_TEST(tls_refuses_a_wrong_name),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
