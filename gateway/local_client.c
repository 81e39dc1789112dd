/*
 * local_client.c - corio-gateway's authenticated MQTT client to its own broker
 * (local_client.h).
 *
 * Each connection attempt gets a fresh libmosquitto client and a fresh password (a new
 * counter): libmosquitto would otherwise resend the same password on reconnect, which the
 * plugin refuses as a replay, and would resend the QoS 1 messages of the previous
 * connection, which the caller has already reported as not stored (CoAP 5.03) and which
 * the device will send again itself.
 */
#include "local_client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "corio_log.h"

#define BACKOFF_MIN_MS     250
#define BACKOFF_MAX_MS     5000
#define CONNECT_TIMEOUT_MS 10000
#define MAX_SUBSCRIPTIONS  8

struct corio_local_client {
    struct corio_local_client_options o;
    char gateway[CORIO_DID_ID_CHARS + 1];
    char client_id[CORIO_DID_ID_CHARS + 40];
    char did[CORIO_DID_BUF];
    char host[256];
    char *counter_path;
    char *subs[MAX_SUBSCRIPTIONS];
    size_t nsubs;
    struct mosquitto *mosq; /* NULL between connections */
    bool connected;
    bool ended; /* the connection ended inside a callback: tear down after the loop */
    bool lib_init;
    int64_t attempt_ms;
    int64_t next_attempt_ms;
    int64_t backoff_ms;
    struct corio_local_client_stats st;
};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the login counter ------------------------------------------------------------ */

/* The file holds one line, "corio-counter 1 <decimal>": a name, a format version, the
 * value. Anything else reads as 0, so that a damaged file falls back to the clock. */
static uint64_t counter_read(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[96];
    uint64_t v = 0;
    if (fgets(line, sizeof line, f)) {
        unsigned version;
        char value[32], extra;
        if (sscanf(line, "corio-counter %u %31[0-9]%c", &version, value, &extra) >= 2 &&
            version == 1 && strlen(value) <= 19) {
            errno = 0;
            unsigned long long n = strtoull(value, NULL, 10);
            if (errno == 0)
                v = (uint64_t)n;
        }
    }
    fclose(f);
    return v;
}

int corio_local_counter_next(const char *path, int64_t now_ms, uint64_t *out, char *err,
                             size_t errlen)
{
    uint64_t stored = counter_read(path);
    uint64_t next = stored + 1;
    if (now_ms > 0 && (uint64_t)now_ms > next)
        next = (uint64_t)now_ms;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return CORIO_ERR_IO;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return CORIO_ERR_IO;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "corio-counter 1 %" PRIu64 "\n", next);
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return CORIO_ERR_IO;
    }
    /* The rename must survive a power cut too, or the old value could come back. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    *out = next;
    return CORIO_OK;
}

/* ---- libmosquitto callbacks (inside mosquitto_loop) ------------------------------- */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    corio_local_client *c = arg;
    if (rc != 0) {
        c->st.refusals++;
        corio_logkv(CORIO_LOG_WARN, "local broker refused the service login", "reason=%s",
                    mosquitto_connack_string(rc));
        c->ended = true;
        return;
    }
    for (size_t i = 0; i < c->nsubs; i++)
        mosquitto_subscribe(m, NULL, c->subs[i], 1);
    c->connected = true;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->st.connects++;
    corio_logkv(CORIO_LOG_INFO, "connected to the local broker", "client=%s port=%d", c->client_id,
                c->o.port);
    if (c->o.on_up)
        c->o.on_up(c->o.arg);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    corio_local_client *c = arg;
    if (c->connected) {
        c->st.disconnects++;
        corio_logkv(CORIO_LOG_WARN, "disconnected from the local broker", "reason=%s",
                    mosquitto_strerror(rc));
    }
    c->ended = true;
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    corio_local_client *c = arg;
    c->st.acked++;
    if (c->o.on_puback)
        c->o.on_puback(c->o.arg, mid);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    corio_local_client *c = arg;
    if (c->o.on_message && msg->payloadlen >= 0)
        c->o.on_message(c->o.arg, msg->topic, msg->payload, (size_t)msg->payloadlen);
}

/* ---- connections ------------------------------------------------------------------- */

/* Ends the current connection (if any) and tells the caller. */
static void teardown(corio_local_client *c, int64_t now_ms)
{
    bool was_up = c->connected;
    if (c->mosq) {
        mosquitto_destroy(c->mosq);
        c->mosq = NULL;
    }
    c->connected = false;
    c->ended = false;
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = 0;
    c->next_attempt_ms =
        now_ms + c->backoff_ms / 2 + (int64_t)(r % (uint32_t)(c->backoff_ms / 2 + 1));
    if (c->backoff_ms < BACKOFF_MAX_MS)
        c->backoff_ms *= 2;
    if (was_up && c->o.on_down)
        c->o.on_down(c->o.arg);
}

static int password(corio_local_client *c, char *out, size_t cap)
{
    uint64_t counter;
    char err[256];
    if (corio_local_counter_next(c->counter_path, wall_ms(), &counter, err, sizeof err) !=
        CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot store the service login counter", "error=%s", err);
        return CORIO_ERR_IO;
    }
    struct corio_eat_claims cl;
    memset(&cl, 0, sizeof cl);
    if (corio_did_parse(c->did, strlen(c->did), &cl.issuer) != CORIO_OK)
        return CORIO_ERR_INVAL;
    cl.key_number = c->o.key_number;
    cl.aud = c->gateway;
    cl.aud_len = strlen(c->gateway);
    cl.has_counter = true;
    cl.counter = counter;
    cl.assurance = CORIO_EAT_REPORTED; /* a key in a file: reported, never attested */
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(c->o.key, &cl, tok, sizeof tok);
    if (n < 0) {
        corio_logkv(CORIO_LOG_ERROR, "cannot sign the service login", "error=%s",
                    corio_strerror(n));
        return n;
    }
    return corio_base64url_encode(tok, (size_t)n, out, cap) > 0 ? CORIO_OK : CORIO_ERR_NOSPACE;
}

static void attempt(corio_local_client *c, int64_t now_ms)
{
    char pw[CORIO_BASE64URL_ENCODED_LEN(CORIO_EAT_MAX_SIZE) + 1];
    c->attempt_ms = now_ms;
    if (password(c, pw, sizeof pw) != CORIO_OK) {
        teardown(c, now_ms);
        return;
    }
    c->mosq = mosquitto_new(c->client_id, true, c);
    if (!c->mosq) {
        corio_logkv(CORIO_LOG_ERROR, "cannot create the local MQTT client", "error=%s",
                    strerror(errno));
        teardown(c, now_ms);
        return;
    }
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(c->mosq, 0); /* the caller bounds what is in flight */
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_message_callback_set(c->mosq, on_message);
    int rc = mosquitto_username_pw_set(c->mosq, c->did, pw);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect(c->mosq, c->host, c->o.port,
                               c->o.keepalive_s > 0 ? c->o.keepalive_s : 10);
    explicit_bzero(pw, sizeof pw);
    if (rc != MOSQ_ERR_SUCCESS) {
        corio_logkv(CORIO_LOG_DEBUG, "cannot reach the local broker", "port=%d error=%s", c->o.port,
                    mosquitto_strerror(rc));
        teardown(c, now_ms);
    }
}

int corio_local_client_new(const struct corio_local_client_options *o, corio_local_client **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    if (!o->gateway || strlen(o->gateway) != CORIO_DID_ID_CHARS || !o->key || !o->counter_path ||
        o->port <= 0) {
        snprintf(err, errlen, "the local client needs the gateway id, key, counter file and port");
        return CORIO_ERR_INVAL;
    }
    corio_local_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    c->o = *o;
    snprintf(c->gateway, sizeof c->gateway, "%s", o->gateway);
    snprintf(c->did, sizeof c->did, CORIO_DID_PREFIX "%s", o->gateway);
    if (o->role)
        snprintf(c->client_id, sizeof c->client_id, "%s.%s", o->gateway, o->role);
    else
        snprintf(c->client_id, sizeof c->client_id, "%s", o->gateway);
    snprintf(c->host, sizeof c->host, "%s", o->host ? o->host : "127.0.0.1");
    c->counter_path = strdup(o->counter_path);
    bool ok = c->counter_path != NULL;
    for (const char *const *s = o->subscribe; ok && s && *s; s++) {
        if (c->nsubs == MAX_SUBSCRIPTIONS || !(c->subs[c->nsubs++] = strdup(*s)))
            ok = false;
    }
    if (!ok) {
        corio_local_client_free(c);
        snprintf(err, errlen, "out of memory or too many subscriptions");
        return CORIO_ERR_NOSPACE;
    }
    c->o.gateway = c->gateway;
    c->o.host = c->host;
    c->o.counter_path = c->counter_path;
    c->o.subscribe = NULL;
    c->backoff_ms = BACKOFF_MIN_MS;
    mosquitto_lib_init();
    c->lib_init = true;
    *out = c;
    return CORIO_OK;
}

void corio_local_client_free(corio_local_client *c)
{
    if (!c)
        return;
    if (c->mosq) {
        if (c->connected) {
            mosquitto_disconnect(c->mosq);
            mosquitto_loop(c->mosq, 0, 1); /* let the DISCONNECT out */
        }
        mosquitto_destroy(c->mosq);
    }
    if (c->lib_init)
        mosquitto_lib_cleanup();
    for (size_t i = 0; i < c->nsubs; i++)
        free(c->subs[i]);
    free(c->counter_path);
    free(c);
}

void corio_local_client_run(corio_local_client *c, int timeout_ms, int64_t now_ms)
{
    if (!c->mosq) {
        if (now_ms >= c->next_attempt_ms)
            attempt(c, now_ms);
        if (!c->mosq)
            return;
    }
    int rc = mosquitto_loop(c->mosq, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS && !c->ended) {
        if (c->connected) {
            c->st.disconnects++;
            corio_logkv(CORIO_LOG_WARN, "disconnected from the local broker", "reason=%s",
                        mosquitto_strerror(rc));
        }
        c->ended = true;
    }
    /* A CONNACK that never comes (a broker that accepted TCP and hangs). */
    if (!c->connected && !c->ended && now_ms - c->attempt_ms > CONNECT_TIMEOUT_MS)
        c->ended = true;
    if (c->ended)
        teardown(c, now_ms);
}

int corio_local_client_fd(const corio_local_client *c)
{
    return c->mosq ? mosquitto_socket(c->mosq) : -1;
}

bool corio_local_client_want_write(const corio_local_client *c)
{
    return c->mosq && mosquitto_want_write(c->mosq);
}

bool corio_local_client_connected(const corio_local_client *c)
{
    return c->connected && !c->ended;
}

int corio_local_client_publish(corio_local_client *c, const char *topic, const void *payload,
                               size_t len)
{
    if (!corio_local_client_connected(c))
        return CORIO_ERR_CLOSED;
    if (len > INT32_MAX)
        return CORIO_ERR_IO;
    int mid = 0;
    int rc = mosquitto_publish(c->mosq, &mid, topic, (int)len, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        corio_logkv(CORIO_LOG_WARN, "local publish refused", "topic=%s error=%s", topic,
                    mosquitto_strerror(rc));
        return CORIO_ERR_IO;
    }
    c->st.published++;
    return mid > 0 ? mid : CORIO_ERR_IO;
}

void corio_local_client_stats(const corio_local_client *c, struct corio_local_client_stats *st)
{
    *st = c->st;
    st->connected = corio_local_client_connected(c);
}
