/*
 * test_mqtt_mosquitto.c - the SDK's MQTT client (mqtt.h over the POSIX port) against a
 * real Mosquitto 2.0 broker, with a libmosquitto client on the other side: connect with
 * 3.1.1 and with 5, QoS 1 both ways, resends across a broker restart and across a lost
 * connection to a broker that kept the session, and TLS (mbedTLS) with the server's
 * certificate verified, refused for a foreign CA or a wrong name. Certificates come
 * from the openssl command line, made afresh for each run.
 *
 * The broker runs from /usr/sbin/mosquitto on a free port in a temporary directory and
 * is stopped by PID. Everything waits by polling with a deadline.
 *
 * libmosquitto is loaded at run time (dlopen) because the C tests are not linked with it
 * yet; see docs/sdk-mqtt.md.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
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

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------------------
 * The broker
 */

struct broker {
    char *dir;
    char conf[512];
    char log[512];
    int port;
    pid_t pid;
};

static bool port_accepts(int port)
{
    struct corio_posix_tcp t;
    struct corio_transport tp;
    if (corio_posix_tcp_init(&t, "127.0.0.1", (uint16_t)port, 200) != CORIO_OK)
        return false;
    corio_posix_tcp_transport(&t, &tp);
    bool ok = tp.open(tp.ctx) == CORIO_OK;
    tp.close(tp.ctx);
    return ok;
}

static void broker_run(struct broker *b)
{
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    for (int64_t deadline = mono_ms() + 10000; !port_accepts(b->port);) {
        int st;
        if (waitpid(b->pid, &st, WNOHANG) == b->pid)
            fail_msg("mosquitto exited at start; see %s", b->log);
        if (mono_ms() > deadline)
            fail_msg("mosquitto did not listen on %d in time", b->port);
        usleep(20000);
    }
}

/* A directory and a free port for a broker; broker_configure() writes its config. */
static void broker_prepare(struct broker *b)
{
    memset(b, 0, sizeof *b);
    b->dir = h_tmpdir("mqtt-mosquitto");
    assert_non_null(b->dir);
    b->port = h_free_port();
    assert_true(b->port > 0);
    snprintf(b->conf, sizeof b->conf, "%s/mosquitto.conf", b->dir);
    snprintf(b->log, sizeof b->log, "%s/mosquitto.log", b->dir);
}

/* A plain listener on b->port, then whatever `extra` adds (more listeners). */
static void broker_configure(struct broker *b, const char *extra)
{
    FILE *f = fopen(b->conf, "w");
    assert_non_null(f);
    fprintf(f,
            "per_listener_settings false\nallow_anonymous true\nmax_queued_messages 0\n"
            "persistence false\nlog_dest file %s\nlog_type all\n%slistener %d 127.0.0.1\n%s",
            b->log, geteuid() == 0 ? "user root\n" : "", b->port, extra ? extra : "");
    fclose(f);
}

static void broker_start(struct broker *b)
{
    broker_prepare(b);
    broker_configure(b, NULL);
    broker_run(b);
}

/* Waits for the broker to end after sig (SIGKILL if it lingers). */
static void broker_signal_and_reap(struct broker *b, int sig)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, sig);
    int64_t deadline = mono_ms() + 10000;
    for (;;) {
        int st;
        pid_t r = waitpid(b->pid, &st, WNOHANG);
        if (r == b->pid || (r < 0 && errno == ECHILD))
            break;
        if (mono_ms() > deadline) {
            kill(b->pid, SIGKILL);
            deadline = mono_ms() + 10000;
        }
        usleep(10000);
    }
    b->pid = 0;
}

/* SIGSTOP, and wait until the broker is really stopped. */
static void broker_pause(struct broker *b)
{
    int st;
    kill(b->pid, SIGSTOP);
    assert_int_equal(waitpid(b->pid, &st, WUNTRACED), b->pid);
    assert_true(WIFSTOPPED(st));
}

static void broker_resume(struct broker *b)
{
    kill(b->pid, SIGCONT);
}

/* True when the broker's log holds needle. */
static bool broker_logged(const struct broker *b, const char *needle)
{
    static char text[1 << 20];
    FILE *f = fopen(b->log, "r");
    if (!f)
        return false;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    return strstr(text, needle) != NULL;
}

static void broker_stop(struct broker *b)
{
    broker_signal_and_reap(b, SIGTERM);
    /* The directory holds only what this test wrote: config, log, certificates. */
    DIR *d = opendir(b->dir);
    if (d) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", b->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(b->dir);
    free(b->dir);
    b->dir = NULL;
}

/* ---------------------------------------------------------------------------------
 * libmosquitto, loaded at run time
 */

static struct {
    void *so;
    __typeof__(mosquitto_lib_init) *lib_init;
    __typeof__(mosquitto_new) *new_;
    __typeof__(mosquitto_destroy) *destroy;
    __typeof__(mosquitto_int_option) *int_option;
    __typeof__(mosquitto_connect_callback_set) *connect_callback_set;
    __typeof__(mosquitto_subscribe_callback_set) *subscribe_callback_set;
    __typeof__(mosquitto_message_v5_callback_set) *message_v5_callback_set;
    __typeof__(mosquitto_connect) *connect;
    __typeof__(mosquitto_reconnect) *reconnect;
    __typeof__(mosquitto_subscribe) *subscribe;
    __typeof__(mosquitto_publish) *publish;
    __typeof__(mosquitto_loop) *loop;
    __typeof__(mosquitto_socket) *socket;
    __typeof__(mosquitto_disconnect) *disconnect;
    __typeof__(mosquitto_property_read_string_pair) *read_string_pair;
} lm;

static void load_libmosquitto(void)
{
    if (lm.so)
        return;
    lm.so = dlopen("libmosquitto.so.1", RTLD_NOW);
    if (!lm.so)
        fail_msg("dlopen libmosquitto: %s", dlerror());
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)&lm.field = dlsym(lm.so, name);                                                  \
        if (!lm.field)                                                                             \
            fail_msg("libmosquitto lacks %s", name);                                               \
    } while (0)
    SYM(lib_init, "mosquitto_lib_init");
    SYM(new_, "mosquitto_new");
    SYM(destroy, "mosquitto_destroy");
    SYM(int_option, "mosquitto_int_option");
    SYM(connect_callback_set, "mosquitto_connect_callback_set");
    SYM(subscribe_callback_set, "mosquitto_subscribe_callback_set");
    SYM(message_v5_callback_set, "mosquitto_message_v5_callback_set");
    SYM(connect, "mosquitto_connect");
    SYM(reconnect, "mosquitto_reconnect");
    SYM(subscribe, "mosquitto_subscribe");
    SYM(publish, "mosquitto_publish");
    SYM(loop, "mosquitto_loop");
    SYM(socket, "mosquitto_socket");
    SYM(disconnect, "mosquitto_disconnect");
    SYM(read_string_pair, "mosquitto_property_read_string_pair");
#undef SYM
    lm.lib_init();
}

/* The application on the far side: subscribes to the device's uplink, records what
 * arrives, and publishes commands to the device. */
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
        lm.subscribe(m, NULL, "corio/v1/d/+/up/#", 1);
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
    if (lm.read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false))
        snprintf(p->user_value[p->received], sizeof p->user_value[0], "%s=%s", name, value);
    free(name);
    free(value);
    p->received++;
}

static void peer_start(struct peer *p, int port)
{
    load_libmosquitto();
    memset(p, 0, sizeof *p);
    p->m = lm.new_("corio-test-peer", true, p);
    assert_non_null(p->m);
    assert_int_equal(lm.int_option(p->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5),
                     MOSQ_ERR_SUCCESS);
    lm.connect_callback_set(p->m, peer_on_connect);
    lm.subscribe_callback_set(p->m, peer_on_subscribe);
    lm.message_v5_callback_set(p->m, peer_on_message);
    assert_int_equal(lm.connect(p->m, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
}

/* One non-blocking round of the peer's network loop (as many packets as are waiting:
 * libmosquitto reads one per call); reconnects after a loss. */
static void peer_step(struct peer *p)
{
    int rc;
    for (int i = 0; i < 1000; i++) {
        rc = lm.loop(p->m, 0, 1);
        struct pollfd pfd = {.fd = lm.socket(p->m), .events = POLLIN};
        if (rc != MOSQ_ERR_SUCCESS || pfd.fd < 0 || poll(&pfd, 1, 0) != 1)
            break;
    }
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_CONN_REFUSED ||
        rc == MOSQ_ERR_ERRNO)
        lm.reconnect(p->m);
}

static void peer_stop(struct peer *p)
{
    lm.disconnect(p->m);
    lm.destroy(p->m);
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
        int64_t deadline_ = mono_ms() + (timeout_ms);                                              \
        while (!(cond)) {                                                                          \
            if (mono_ms() > deadline_)                                                             \
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
    assert_int_equal(lm.publish(peer.m, NULL, DN_TOPIC, 4, "cmd1", 1, false), MOSQ_ERR_SUCCESS);
    RUN_UNTIL(dev, &peer, dev->messages == 1, 5000);
    assert_string_equal(dev->message, "cmd1");

    /* Keepalive stays quiet for a short test; a clean stop by the application. */
    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    assert_int_equal(dev->last_err, CORIO_OK);
    assert_int_equal(dev->done, 1);
    peer_stop(&peer);
    broker_stop(&b);
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
    broker_signal_and_reap(&b, SIGKILL);
    RUN_UNTIL(dev, &peer, dev->disconnects >= 1, 5000);
    assert_int_equal(dev->done, 1); /* "during" is not reported: not delivered, still held */
    assert_int_equal(corio_mqtt_inflight_count(&dev->c), 1);

    /* A new broker on the same port; the peer comes back first and subscribes again,
     * while the device is not driven. */
    broker_run(&b);
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
    broker_stop(&b);
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
    broker_stop(&b);
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

/* Runs a command to completion, its output discarded; fails the test unless it exits 0. */
static void run(const char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s %s failed", argv[0], argv[1]);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[3][8192];
    static int next;
    char *buf = text[next++ % 3];
    size_t n = fread(buf, 1, sizeof text[0] - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

struct pki {
    char ca[600], ca_key[600], srv_crt[600], srv_key[600], srv_csr[600], other[600], other_key[600];
};

/* A CA, a server certificate it signs for "localhost", and an unrelated CA. */
static void make_pki(const char *dir, struct pki *k)
{
    snprintf(k->ca, sizeof k->ca, "%s/ca.crt", dir);
    snprintf(k->ca_key, sizeof k->ca_key, "%s/ca.key", dir);
    snprintf(k->srv_crt, sizeof k->srv_crt, "%s/server.crt", dir);
    snprintf(k->srv_key, sizeof k->srv_key, "%s/server.key", dir);
    snprintf(k->srv_csr, sizeof k->srv_csr, "%s/server.csr", dir);
    snprintf(k->other, sizeof k->other, "%s/other.crt", dir);
    snprintf(k->other_key, sizeof k->other_key, "%s/other.key", dir);
    const char *ca[] = {"openssl",
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-keyout",
                        k->ca_key,
                        "-out",
                        k->ca,
                        "-subj",
                        "/CN=corio-test-ca",
                        "-days",
                        "2",
                        NULL};
    run(ca);
    const char *other[] = {"openssl",
                           "req",
                           "-x509",
                           "-newkey",
                           "ec",
                           "-pkeyopt",
                           "ec_paramgen_curve:prime256v1",
                           "-nodes",
                           "-keyout",
                           k->other_key,
                           "-out",
                           k->other,
                           "-subj",
                           "/CN=corio-test-ca",
                           "-days",
                           "2",
                           NULL};
    run(other);
    const char *csr[] = {"openssl",
                         "req",
                         "-newkey",
                         "ec",
                         "-pkeyopt",
                         "ec_paramgen_curve:prime256v1",
                         "-nodes",
                         "-keyout",
                         k->srv_key,
                         "-out",
                         k->srv_csr,
                         "-subj",
                         "/CN=localhost",
                         "-addext",
                         "subjectAltName=DNS:localhost,IP:127.0.0.1",
                         NULL};
    run(csr);
    const char *sign[] = {"openssl", "x509",     "-req",   "-in",     k->srv_csr,
                          "-CA",     k->ca,      "-CAkey", k->ca_key, "-CAcreateserial",
                          "-out",    k->srv_crt, "-days",  "2",       "-copy_extensions",
                          "copy",    NULL};
    run(sign);
}

/* A broker with a plain listener (for the peer) and a TLS one on *tls_port. */
static void tls_broker_start(struct broker *b, struct pki *k, int *tls_port)
{
    char extra[2048];
    broker_prepare(b);
    make_pki(b->dir, k);
    *tls_port = h_free_port();
    assert_true(*tls_port > 0 && *tls_port != b->port);
    snprintf(extra, sizeof extra, "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n",
             *tls_port, k->ca, k->srv_crt, k->srv_key);
    broker_configure(b, extra);
    broker_run(b);
    for (int64_t deadline = mono_ms() + 10000; !port_accepts(*tls_port);) {
        if (mono_ms() > deadline)
            fail_msg("mosquitto did not listen on %d", *tls_port);
        usleep(20000);
    }
}

static void tls_connect_and_publish(void **state)
{
    (void)state;
    struct broker b;
    struct pki k;
    struct peer peer = {0};
    struct device *dev = NULL;
    int tls_port;
    tls_broker_start(&b, &k, &tls_port);
    peer_start(&peer, b.port);
    RUN_UNTIL(dev, &peer, peer.subscribed == 1, 5000);
    dev =
        dev_start_on(CORIO_MQTT_V5, tls_port, CORIO_MQTT_CLEAN_FIRST, read_text(k.ca), "localhost");
    RUN_UNTIL(dev, &peer, dev->connects == 1, 10000);
    assert_int_equal(publish(dev, "over-tls", 1, NULL, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->done == 1 && peer_has(&peer, "over-tls"), 5000);
    assert_int_equal(dev->done_result[0], CORIO_OK);
    /* Downlink through TLS too. */
    assert_int_equal(corio_mqtt_subscribe(&dev->c, DN_FILTER, (uint16_t)strlen(DN_FILTER),
                                          CORIO_MQTT_SUB_QOS(1)),
                     CORIO_OK);
    RUN_UNTIL(dev, &peer, dev->subacks == 1, 5000);
    assert_int_equal(lm.publish(peer.m, NULL, DN_TOPIC, 4, "cmd2", 1, false), MOSQ_ERR_SUCCESS);
    RUN_UNTIL(dev, &peer, dev->messages == 1, 5000);
    assert_string_equal(dev->message, "cmd2");
    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    dev_free(dev);
    peer_stop(&peer);
    broker_stop(&b);
}

/* The broker freezes while the device keeps publishing, until the socket is full and
 * mbedTLS has to hold a record back (WANT_WRITE); once the broker runs again every
 * message must arrive whole and in order. */
static void tls_survives_a_full_socket(void **state)
{
    (void)state;
    struct broker b;
    struct pki k;
    struct peer peer = {0};
    struct device *dev = NULL;
    int tls_port;
    static char payload[STREAM_LEN];
    tls_broker_start(&b, &k, &tls_port);
    peer_start(&peer, b.port);
    RUN_UNTIL(dev, &peer, peer.subscribed == 1, 5000);
    dev =
        dev_start_on(CORIO_MQTT_V5, tls_port, CORIO_MQTT_CLEAN_FIRST, read_text(k.ca), "localhost");
    RUN_UNTIL(dev, &peer, dev->connects == 1, 10000);

    broker_pause(&b);
    int sent = 0;
    int64_t blocked_since = 0, deadline = mono_ms() + 30000;
    while (mono_ms() < deadline && sent < 40000) {
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
            blocked_since = mono_ms();
        else if (mono_ms() - blocked_since > 300)
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
    broker_stop(&b);
}

/* A server the device must not trust: the attempt fails verification and never gets
 * to MQTT. */
static void tls_refused(const char *which)
{
    struct broker b;
    struct pki k;
    struct peer peer = {0};
    struct device *dev = NULL;
    int tls_port;
    tls_broker_start(&b, &k, &tls_port);
    bool wrong_ca = strcmp(which, "ca") == 0;
    dev = dev_start_on(CORIO_MQTT_V5, tls_port, CORIO_MQTT_CLEAN_FIRST,
                       read_text(wrong_ca ? k.other : k.ca),
                       wrong_ca ? "localhost" : "gateway.example");
    RUN_UNTIL(dev, &peer, dev->disconnects >= 2, 10000);
    assert_int_equal(dev->last_err, CORIO_ERR_BADSIG);
    assert_int_equal(dev->connects, 0);
    assert_int_equal(corio_mqtt_disconnect(&dev->c, 0), CORIO_OK);
    RUN_UNTIL(dev, &peer, corio_mqtt_state(&dev->c) == CORIO_MQTT_STOPPED, 5000);
    dev_free(dev);
    broker_stop(&b);
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
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_311_qos1_both_ways),
        cmocka_unit_test(connect_5_qos1_both_ways),
        cmocka_unit_test(resend_after_broker_restart_311),
        cmocka_unit_test(resend_after_broker_restart_5),
        cmocka_unit_test(resend_dup_into_kept_session_311),
        cmocka_unit_test(resend_dup_into_kept_session_5),
        cmocka_unit_test(tls_connect_and_publish),
        cmocka_unit_test(tls_survives_a_full_socket),
        cmocka_unit_test(tls_refuses_a_foreign_ca),
        cmocka_unit_test(tls_refuses_a_wrong_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
