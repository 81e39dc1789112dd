/*
 * coap_ingress.c - CoAP ingress of corio-gateway over libcoap3 (coap_ingress.h,
 * docs/gateway-coap.md).
 *
 * One durability point (DESIGN.md §1): a POST becomes a QoS 1 PUBLISH on the gateway's
 * own broker, whose plugin commits it to the outbox before the PUBACK; only that PUBACK
 * turns into 2.04. A PUBACK that comes within piggyback_ms is answered in the ACK;
 * otherwise the handler leaves the response empty, libcoap sends an Empty ACK, and the
 * 2.04 follows as a separate response (RFC 7252 §5.2.2) that the ingress sends itself
 * with coap_send() once the PUBACK is in; a retransmission of the request meanwhile
 * gets another Empty ACK. (libcoap's own "async" re-runs the handler and frees its
 * state behind the caller's back, which a PUBACK arriving in between cannot follow.)
 * A broker that is down or refuses (the plugin disconnects the
 * service without a PUBACK when the outbox is full) turns every waiting POST into 5.03
 * with Max-Age, so that the device keeps the message and retries.
 *
 * Block-wise: libcoap (COAP_BLOCK_USE_LIBCOAP without COAP_BLOCK_SINGLE_BODY) hands every
 * Block1 block to the handler and answers 2.31; the body is reassembled here, because
 * libcoap 4.3.1's own reassembly allocates whatever Size1 an unauthenticated peer names
 * and has no cap. Here a body is capped (max_body; 4.13 with Size1 = the cap), only an
 * authenticated session's body is buffered, and one transfer per session at most.
 *
 * Sessions: each libcoap server session (one DTLS association) gets a struct sess as its
 * app data: the nonce it was issued, the device it authenticated as, its Block1 transfer,
 * and the answers to its recent requests (so that a retransmitted CON is answered the
 * same way and never published twice, RFC 7252 §4.5).
 */
#include "coap_ingress.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <coap3/coap.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "corio_log.h"
#include "corio_registry.h"
#include "crypto_openssl.h"

#define NONCE_LEN          32
#define NONCE_TTL_MS       60000
#define RECENT             8
#define PRESENCE_QUEUE_MAX 4096
#define DN_MAX             (64 * 1024) /* a downlink message larger than this is not relayed */
#define SHORT_ID           24

static const char *const up_suffix[] = {"json", "cbor", "hb", "evt", "res", "cfg", "ota"};
static const char *const dn_suffix[] = {"cmd", "cfg", "ota", "time"};
#define N_UP (sizeof up_suffix / sizeof up_suffix[0])
#define N_DN (sizeof dn_suffix / sizeof dn_suffix[0])

struct device;

/* What a resource of a device is: its userdata. */
struct rctx {
    struct device *dev;
    bool dn;
    uint8_t index; /* into up_suffix or dn_suffix */
};

struct device {
    char id[SHORT_ID + 1];
    unsigned bound; /* sessions authenticated as this device */
    struct rctx rc[N_UP + N_DN];
    coap_resource_t *res[N_UP + N_DN];
    uint8_t *dn[N_DN]; /* the latest downlink message of each suffix */
    size_t dn_len[N_DN];
};

/* The answer given to a recent request, by message id. */
struct answered {
    bool used;
    uint16_t mid;
    uint8_t code;
    bool has_block1;
    uint32_t block1;
    uint32_t max_age;
};

struct sess {
    struct corio_coap_ingress *ci;
    coap_session_t *cs;
    struct sess *prev, *next;
    struct device *dev; /* NULL until authenticated */
    uint8_t nonce[NONCE_LEN];
    bool has_nonce;
    int64_t nonce_ms;
    uint16_t nonce_mid; /* the GET that got it: a retransmission gets the same nonce */
    int64_t last_ms;
    struct corio__coap_block1 b1;
    struct answered recent[RECENT];
    unsigned recent_next;
    uint16_t dn_mid[N_DN]; /* the latest request seen on each dn resource */
    bool dn_seen[N_DN];
};

enum { P_WAIT, P_ACKED, P_FAILED };

/* A POST published and not yet answered. */
struct pending {
    struct pending *next;
    int mid;        /* the MQTT message id */
    struct sess *s; /* NULL once the session is gone: the answer is dropped */
    int state;
    bool separate;     /* the request got an Empty ACK: the answer is sent on its own */
    bool con;          /* the request was confirmable */
    uint16_t coap_mid; /* the request's */
    uint8_t token[8];
    uint8_t token_len;
    bool has_block1;
    uint32_t block1; /* the last block's Block1 value, echoed in the 2.04 */
};

/* A presence record waiting for its PUBACK. */
struct presence {
    struct presence *next;
    char id[SHORT_ID + 1];
    bool online;
    int mid; /* 0: not sent on the current connection */
};

struct corio_coap_ingress {
    struct corio_coap_ingress_options o;
    char gateway[SHORT_ID + 1];
    char *registry_path;
    struct corio_reg *reg;
    struct timespec registry_mtime;
    int64_t last_registry_ms, last_tick_ms;
    coap_context_t *ctx;
    int coap_fd;
    struct sess *sessions;
    struct device **devs;
    size_t ndevs, capdevs;
    struct pending *pending;
    struct presence *pres_head, *pres_tail;
    size_t npres;
    bool stopping;
    bool started; /* coap_startup() was called */
    struct corio_coap_ingress_stats st;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pure helpers (fuzzed) --------------------------------------------------------- */

void corio__coap_block1_clear(struct corio__coap_block1 *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static int block1_append(struct corio__coap_block1 *b, size_t max, const uint8_t *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *buf = realloc(b->buf, cap);
        if (!buf)
            return CORIO__B1_NOMEM;
        b->buf = buf;
        b->cap = cap;
    }
    if (len)
        memcpy(b->buf + b->len, data, len);
    b->len += len;
    return CORIO__B1_DONE;
}

int corio__coap_block1_feed(struct corio__coap_block1 *b, const void *owner, size_t max,
                            const struct corio__coap_block1_in *in, const uint8_t **body,
                            size_t *body_len)
{
    *body = NULL;
    *body_len = 0;
    if (!b->owner)
        corio__coap_block1_clear(b); /* the last body handed out is no longer needed */
    if (!in->has_block) {
        /* A whole body in one message; it ends any transfer to the same resource. */
        if (b->owner == owner)
            corio__coap_block1_clear(b);
        if ((in->has_size1 && in->size1 > max) || in->len > max)
            return CORIO__B1_TOO_LARGE;
        *body = in->data;
        *body_len = in->len;
        return CORIO__B1_DONE;
    }
    if (in->szx > 6)
        return CORIO__B1_BAD; /* BERT is for CoAP over TCP only */
    size_t size = (size_t)16 << in->szx;
    if ((in->more && in->len != size) || in->len > size)
        return CORIO__B1_BAD;
    if (in->num == 0) {
        corio__coap_block1_clear(b);
        if ((in->has_size1 && in->size1 > max) || in->len > max)
            return CORIO__B1_TOO_LARGE;
        if (!in->more) {
            *body = in->data;
            *body_len = in->len;
            return CORIO__B1_DONE;
        }
        b->owner = owner;
        b->szx = in->szx;
        b->next = 1;
        if (block1_append(b, max, in->data, in->len) != CORIO__B1_DONE) {
            corio__coap_block1_clear(b);
            return CORIO__B1_NOMEM;
        }
        return CORIO__B1_CONTINUE;
    }
    if (!b->owner || b->owner != owner || in->num != b->next || in->szx != b->szx) {
        corio__coap_block1_clear(b);
        return CORIO__B1_INCOMPLETE;
    }
    if (b->len + in->len > max) {
        corio__coap_block1_clear(b);
        return CORIO__B1_TOO_LARGE;
    }
    if (block1_append(b, max, in->data, in->len) != CORIO__B1_DONE) {
        corio__coap_block1_clear(b);
        return CORIO__B1_NOMEM;
    }
    b->next++;
    if (in->more)
        return CORIO__B1_CONTINUE;
    b->owner = NULL; /* done: the buffer stays until the next feed or clear */
    *body = b->buf;
    *body_len = b->len;
    return CORIO__B1_DONE;
}

static bool short_id(const char *s, size_t n)
{
    if (n != SHORT_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
            return false;
    return true;
}

bool corio__coap_path_device(const char *path, size_t len, char id[SHORT_ID + 1])
{
    if (len < 2 + SHORT_ID || path[0] != 'd' || path[1] != '/')
        return false;
    if (!short_id(path + 2, SHORT_ID) || (len > 2 + SHORT_ID && path[2 + SHORT_ID] != '/'))
        return false;
    memcpy(id, path + 2, SHORT_ID);
    id[SHORT_ID] = '\0';
    return true;
}

bool corio__coap_dn_topic(const char *topic, char id[SHORT_ID + 1], int *index)
{
    static const char prefix[] = "corio/v1/d/";
    size_t n = strlen(topic);
    if (n < sizeof prefix - 1 + SHORT_ID + 4 || strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = topic + sizeof prefix - 1;
    if (!short_id(p, SHORT_ID) || strncmp(p + SHORT_ID, "/dn/", 4) != 0)
        return false;
    const char *suffix = p + SHORT_ID + 4;
    for (size_t i = 0; i < N_DN; i++) {
        if (strcmp(suffix, dn_suffix[i]) == 0) {
            memcpy(id, p, SHORT_ID);
            id[SHORT_ID] = '\0';
            *index = (int)i;
            return true;
        }
    }
    return false;
}

/* ---- libcoap plumbing -------------------------------------------------------------- */

static struct corio_coap_ingress *ingress_of(coap_session_t *cs)
{
    return coap_get_app_data(coap_session_get_context(cs));
}

static void log_handler(coap_log_t level, const char *message)
{
    enum corio_log_level l = level <= LOG_ERR       ? CORIO_LOG_ERROR
                             : level <= LOG_WARNING ? CORIO_LOG_WARN
                             : level <= LOG_INFO    ? CORIO_LOG_INFO
                                                    : CORIO_LOG_DEBUG;
    size_t n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        n--;
    corio_logkv(l, "libcoap", "text=%.*s", (int)n, message);
}

static void add_uint_option(coap_pdu_t *pdu, uint16_t number, uint32_t value)
{
    uint8_t buf[4];
    coap_add_option(pdu, number, coap_encode_var_safe(buf, sizeof buf, value), buf);
}

static bool has_option(const coap_pdu_t *pdu, uint16_t number)
{
    coap_opt_iterator_t it;
    return coap_check_option(pdu, number, &it) != NULL;
}

/* Sets a response: code, and Max-Age (when max_age > 0), Block1 (when has_block1 and
 * libcoap did not add one) and Size1 (when size1 > 0), in option order. */
static void answer(coap_pdu_t *response, uint8_t code, uint32_t max_age, bool has_block1,
                   uint32_t block1, uint32_t size1)
{
    coap_pdu_set_code(response, (coap_pdu_code_t)code);
    if (max_age)
        add_uint_option(response, COAP_OPTION_MAXAGE, max_age);
    if (has_block1 && !has_option(response, COAP_OPTION_BLOCK1))
        add_uint_option(response, COAP_OPTION_BLOCK1, block1);
    if (size1)
        add_uint_option(response, COAP_OPTION_SIZE1, size1);
}

static void remember(struct sess *s, uint16_t mid, uint8_t code, bool has_block1, uint32_t block1,
                     uint32_t max_age)
{
    struct answered *a = &s->recent[s->recent_next++ % RECENT];
    *a = (struct answered){.used = true,
                           .mid = mid,
                           .code = code,
                           .has_block1 = has_block1,
                           .block1 = block1,
                           .max_age = max_age};
}

/* Answers a retransmission of a request already answered; true if it was one. */
static bool replay(struct sess *s, const coap_pdu_t *request, coap_pdu_t *response)
{
    if (coap_pdu_get_type(request) != COAP_MESSAGE_CON)
        return false;
    uint16_t mid = (uint16_t)coap_pdu_get_mid(request);
    for (size_t i = 0; i < RECENT; i++) {
        const struct answered *a = &s->recent[i];
        if (a->used && a->mid == mid) {
            answer(response, a->code, a->max_age, a->has_block1, a->block1, 0);
            return true;
        }
    }
    return false;
}

/* ---- presence ---------------------------------------------------------------------- */

static void presence_send(struct corio_coap_ingress *ci, struct presence *p)
{
    char topic[64], payload[96];
    snprintf(topic, sizeof topic, "corio/v1/d/%s/up/presence", p->id);
    int n = snprintf(payload, sizeof payload,
                     "{\"online\":%s,\"connections\":%d,\"transport\":\"coap\"}",
                     p->online ? "true" : "false", p->online ? 1 : 0);
    int mid = corio_local_client_publish(ci->o.local, topic, payload, (size_t)n);
    p->mid = mid > 0 ? mid : 0;
}

/* Queues a device's presence record: sent now when the local broker is up, else on the
 * next connection, in order; kept until the broker acknowledged it. */
static void presence(struct corio_coap_ingress *ci, const struct device *d, bool online)
{
    corio_logkv(CORIO_LOG_INFO, online ? "coap device online" : "coap device offline", "device=%s",
                d->id);
    if (ci->npres >= PRESENCE_QUEUE_MAX) {
        struct presence *old = ci->pres_head;
        ci->pres_head = old->next;
        if (!ci->pres_head)
            ci->pres_tail = NULL;
        free(old);
        ci->npres--;
        ci->st.presence_dropped++;
        corio_logkv(CORIO_LOG_WARN, "presence record dropped: queue full", "dropped=%llu",
                    (unsigned long long)ci->st.presence_dropped);
    }
    struct presence *p = calloc(1, sizeof *p);
    if (!p) {
        ci->st.presence_dropped++;
        return;
    }
    snprintf(p->id, sizeof p->id, "%s", d->id);
    p->online = online;
    if (ci->pres_tail)
        ci->pres_tail->next = p;
    else
        ci->pres_head = p;
    ci->pres_tail = p;
    ci->npres++;
    presence_send(ci, p);
}

static bool presence_acked(struct corio_coap_ingress *ci, int mid)
{
    struct presence **pp = &ci->pres_head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        if ((*pp)->mid != mid)
            continue;
        struct presence *p = *pp;
        *pp = p->next;
        if (ci->pres_tail == p)
            ci->pres_tail = prev;
        free(p);
        ci->npres--;
        return true;
    }
    return false;
}

/* ---- devices and sessions ---------------------------------------------------------- */

static void hnd_up(coap_resource_t *, coap_session_t *, const coap_pdu_t *, const coap_string_t *,
                   coap_pdu_t *);
static void hnd_dn(coap_resource_t *, coap_session_t *, const coap_pdu_t *, const coap_string_t *,
                   coap_pdu_t *);

static struct device *device_find(struct corio_coap_ingress *ci, const char *id)
{
    char path[64];
    snprintf(path, sizeof path, "d/%s/dn/cmd", id);
    coap_resource_t *r = coap_get_resource_from_uri_path(ci->ctx, coap_make_str_const(path));
    const struct rctx *rc = r ? coap_resource_get_userdata(r) : NULL;
    return rc ? rc->dev : NULL;
}

/* The device's state and resources, created at its first authentication. */
static struct device *device_get(struct corio_coap_ingress *ci, const char *id)
{
    struct device *d = device_find(ci, id);
    if (d)
        return d;
    if (ci->ndevs == ci->capdevs) {
        size_t cap = ci->capdevs ? ci->capdevs * 2 : 64;
        struct device **devs = realloc(ci->devs, cap * sizeof *devs);
        if (!devs)
            return NULL;
        ci->devs = devs;
        ci->capdevs = cap;
    }
    d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    snprintf(d->id, sizeof d->id, "%s", id);
    for (size_t i = 0; i < N_UP + N_DN; i++) {
        bool dn = i >= N_UP;
        size_t k = dn ? i - N_UP : i;
        char path[64];
        int n = snprintf(path, sizeof path, "d/%s/%s/%s", id, dn ? "dn" : "up",
                         dn ? dn_suffix[k] : up_suffix[k]);
        coap_str_const_t *uri = coap_new_str_const((const uint8_t *)path, (size_t)n);
        coap_resource_t *r =
            uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI |
                                              (dn ? COAP_RESOURCE_FLAGS_NOTIFY_CON : 0))
                : NULL;
        if (!r) {
            coap_delete_str_const(uri);
            for (size_t j = 0; j < i; j++)
                coap_delete_resource(ci->ctx, d->res[j]);
            free(d);
            return NULL;
        }
        d->rc[i] = (struct rctx){.dev = d, .dn = dn, .index = (uint8_t)k};
        coap_resource_set_userdata(r, &d->rc[i]);
        if (dn) {
            coap_register_request_handler(r, COAP_REQUEST_GET, hnd_dn);
            coap_resource_set_get_observable(r, 1);
        } else {
            coap_register_request_handler(r, COAP_REQUEST_POST, hnd_up);
        }
        coap_add_resource(ci->ctx, r);
        d->res[i] = r;
    }
    ci->devs[ci->ndevs++] = d;
    return d;
}

static void sess_unbind(struct corio_coap_ingress *ci, struct sess *s, const char *why)
{
    struct device *d = s->dev;
    if (!d)
        return;
    s->dev = NULL;
    ci->st.bound--;
    corio_logkv(CORIO_LOG_INFO, "coap session unbound", "device=%s session=%s why=%s", d->id,
                s->cs ? coap_session_str(s->cs) : "-", why);
    if (--d->bound == 0)
        presence(ci, d, false);
}

static void sess_bind(struct corio_coap_ingress *ci, struct sess *s, struct device *d)
{
    if (s->dev == d)
        return;
    sess_unbind(ci, s, "authenticated as another device");
    s->dev = d;
    ci->st.bound++;
    if (d->bound++ == 0)
        presence(ci, d, true);
}

static struct sess *sess_of(struct corio_coap_ingress *ci, coap_session_t *cs)
{
    struct sess *s = coap_session_get_app_data(cs);
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ci = ci;
    s->cs = cs;
    s->last_ms = mono_ms();
    s->next = ci->sessions;
    if (ci->sessions)
        ci->sessions->prev = s;
    ci->sessions = s;
    ci->st.sessions++;
    coap_session_set_app_data(cs, s);
    return s;
}

/* The session is gone: its device may go offline, its waiting POSTs are dropped. */
static void sess_end(struct corio_coap_ingress *ci, struct sess *s, const char *why)
{
    sess_unbind(ci, s, why);
    for (struct pending *p = ci->pending; p; p = p->next)
        if (p->s == s)
            p->s = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        ci->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->cs)
        coap_session_set_app_data(s->cs, NULL);
    corio__coap_block1_clear(&s->b1);
    explicit_bzero(s->nonce, sizeof s->nonce);
    ci->st.sessions--;
    free(s);
}

static int on_event(coap_session_t *cs, const coap_event_t event)
{
    struct corio_coap_ingress *ci = ingress_of(cs);
    struct sess *s = coap_session_get_app_data(cs);
    if (!ci || !s)
        return 0;
    switch (event) {
    case COAP_EVENT_SERVER_SESSION_DEL:
        sess_end(ci, s, "session deleted");
        break;
    case COAP_EVENT_DTLS_CLOSED:
    case COAP_EVENT_DTLS_ERROR:
        sess_unbind(ci, s, event == COAP_EVENT_DTLS_CLOSED ? "DTLS closed" : "DTLS error");
        break;
    default:
        break;
    }
    return 0;
}

/* ---- pending POSTs ----------------------------------------------------------------- */

static struct pending *pending_new(struct corio_coap_ingress *ci, struct sess *s, int mid)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->mid = mid;
    p->s = s;
    p->state = P_WAIT;
    p->next = ci->pending;
    ci->pending = p;
    return p;
}

static void pending_free(struct corio_coap_ingress *ci, struct pending *p)
{
    for (struct pending **pp = &ci->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            free(p);
            return;
        }
    }
}

/* The POST of session s with CoAP message id mid that is still being handled. */
static struct pending *pending_find(struct corio_coap_ingress *ci, const struct sess *s,
                                    uint16_t mid)
{
    for (struct pending *p = ci->pending; p; p = p->next)
        if (p->s == s && p->coap_mid == mid)
            return p;
    return NULL;
}

void corio_coap_ingress_puback(corio_coap_ingress *ci, int mid)
{
    for (struct pending *p = ci->pending; p; p = p->next) {
        if (p->mid == mid && p->state == P_WAIT) {
            p->state = P_ACKED; /* answered by the handler or by pending_flush() */
            return;
        }
    }
    presence_acked(ci, mid);
}

void corio_coap_ingress_local_down(corio_coap_ingress *ci)
{
    for (struct pending *p = ci->pending; p; p = p->next)
        if (p->state == P_WAIT)
            p->state = P_FAILED;
    for (struct presence *q = ci->pres_head; q; q = q->next)
        q->mid = 0;
}

void corio_coap_ingress_local_up(corio_coap_ingress *ci)
{
    for (struct presence *q = ci->pres_head; q; q = q->next)
        if (!q->mid)
            presence_send(ci, q);
}

/* ---- handlers ---------------------------------------------------------------------- */

static bool block1_of(const coap_pdu_t *request, struct corio__coap_block1_in *in)
{
    memset(in, 0, sizeof *in);
    coap_opt_iterator_t it;
    coap_opt_t *opt = coap_check_option(request, COAP_OPTION_BLOCK1, &it);
    if (opt) {
        if (coap_opt_length(opt) > 3)
            return false;
        uint32_t v = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
        in->has_block = true;
        in->num = v >> 4;
        in->more = (v >> 3) & 1;
        in->szx = (uint8_t)(v & 7);
    }
    opt = coap_check_option(request, COAP_OPTION_SIZE1, &it);
    if (opt) {
        if (coap_opt_length(opt) > 4)
            return false;
        in->has_size1 = true;
        in->size1 = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
    }
    size_t len = 0;
    const uint8_t *data = NULL;
    if (coap_get_data(request, &len, &data)) {
        in->data = data;
        in->len = len;
    }
    return true;
}

/* Feeds the request's block into the session's transfer. Returns true with the whole
 * body, or false after setting the response (2.31 or an error). */
static bool body_of(struct sess *s, const void *owner, size_t max, const coap_pdu_t *request,
                    coap_pdu_t *response, const uint8_t **body, size_t *len)
{
    struct corio__coap_block1_in in;
    if (!block1_of(request, &in)) {
        answer(response, COAP_RESPONSE_CODE_BAD_REQUEST, 0, false, 0, 0);
        return false;
    }
    int rc = corio__coap_block1_feed(&s->b1, owner, max, &in, body, len);
    uint32_t echo = in.num << 4 | (uint32_t)in.more << 3 | in.szx;
    uint16_t mid = (uint16_t)coap_pdu_get_mid(request);
    switch (rc) {
    case CORIO__B1_DONE:
        return true;
    case CORIO__B1_CONTINUE:
        answer(response, COAP_RESPONSE_CODE_CONTINUE, 0, true, echo, 0);
        remember(s, mid, COAP_RESPONSE_CODE_CONTINUE, true, echo, 0);
        return false;
    case CORIO__B1_TOO_LARGE:
        answer(response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE, 0, false, 0,
               max > UINT32_MAX ? UINT32_MAX : (uint32_t)max);
        return false;
    case CORIO__B1_INCOMPLETE:
        answer(response, COAP_RESPONSE_CODE_INCOMPLETE, 0, false, 0, 0);
        return false;
    case CORIO__B1_NOMEM:
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
        return false;
    default:
        answer(response, COAP_RESPONSE_CODE_BAD_REQUEST, 0, false, 0, 0);
        return false;
    }
}

static void deny(struct corio_coap_ingress *ci, coap_pdu_t *response, uint8_t code)
{
    ci->st.denied++;
    answer(response, code, 0, false, 0, 0);
}

static void hnd_nonce(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                      const coap_string_t *query, coap_pdu_t *response)
{
    (void)resource;
    (void)query;
    struct corio_coap_ingress *ci = ingress_of(session);
    struct sess *s = sess_of(ci, session);
    if (!s) {
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
        return;
    }
    uint16_t mid = (uint16_t)coap_pdu_get_mid(request);
    bool again =
        s->has_nonce && coap_pdu_get_type(request) == COAP_MESSAGE_CON && s->nonce_mid == mid;
    s->last_ms = mono_ms();
    if (!again) {
        if (getrandom(s->nonce, NONCE_LEN, 0) != NONCE_LEN) {
            s->has_nonce = false;
            answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
            return;
        }
        s->nonce_ms = s->last_ms;
        s->nonce_mid = mid;
        s->has_nonce = true;
    }
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
    add_uint_option(response, COAP_OPTION_CONTENT_FORMAT, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM);
    add_uint_option(response, COAP_OPTION_MAXAGE, 0); /* never cached: single use */
    coap_add_data(response, NONCE_LEN, s->nonce);
}

/* Verifies a device's EAT against the session's nonce, as the plugin verifies a login:
 * registered, not revoked, its current key, firmware policy, signature, audience. */
static const char *verify_eat(struct corio_coap_ingress *ci, const uint8_t *tok, size_t n,
                              const uint8_t *nonce, char id[SHORT_ID + 1])
{
    if (n > CORIO_EAT_MAX_SIZE)
        return "larger than an EAT";
    struct corio_eat_claims claims;
    if (corio_eat_decode(tok, n, &claims) != CORIO_OK)
        return "not a Corio EAT";
    if (corio_did_id_format(claims.issuer.id, id, SHORT_ID + 1) != SHORT_ID)
        return "not a Corio EAT";
    if (!ci->reg)
        return "no registry loaded";
    const struct corio_reg_device *dev = corio_reg_device(ci->reg, id);
    if (!dev)
        return "not registered";
    if (dev->revoked)
        return "revoked";
    if (!dev->has_key)
        return "the registry holds no key for it";
    if (claims.key_number < dev->key_number)
        return "signed by an old key (after a rotation)";
    if (claims.key_number != dev->key_number)
        return "signed by a key the registry does not know yet";
    bool firmware_policy = corio_reg_has_firmware(ci->reg, dev->cls);
    struct corio_eat_expect expect = {.aud = ci->gateway,
                                      .aud_len = strlen(ci->gateway),
                                      .nonce = nonce,
                                      .nonce_len = NONCE_LEN,
                                      .require_firmware = firmware_policy,
                                      .registered_assurance = dev->assurance};
    const char *why = NULL;
    if (corio_eat_verify(&corio_crypto_openssl_ops, tok, n, dev->key, sizeof dev->key, &expect,
                         &claims, &why) != CORIO_OK)
        return why ? why : "the EAT does not verify";
    if (firmware_policy && !corio_reg_firmware_ok(ci->reg, dev->cls, claims.fw_digest))
        return "firmware not approved for its class";
    return NULL;
}

static void hnd_auth(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                     const coap_string_t *query, coap_pdu_t *response)
{
    (void)query;
    struct corio_coap_ingress *ci = ingress_of(session);
    struct sess *s = sess_of(ci, session);
    if (!s) {
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
        return;
    }
    int64_t now = mono_ms();
    s->last_ms = now;
    if (replay(s, request, response))
        return;
    const uint8_t *tok;
    size_t n;
    if (!body_of(s, resource, CORIO_EAT_MAX_SIZE, request, response, &tok, &n))
        return;
    /* The nonce is single use, whatever the outcome. */
    uint8_t nonce[NONCE_LEN];
    bool fresh = s->has_nonce && now - s->nonce_ms <= NONCE_TTL_MS;
    memcpy(nonce, s->nonce, NONCE_LEN);
    s->has_nonce = false;
    explicit_bzero(s->nonce, sizeof s->nonce);
    char id[SHORT_ID + 1] = "";
    const char *why = fresh ? verify_eat(ci, tok, n, nonce, id) : "no fresh nonce on this session";
    struct device *d = why ? NULL : device_get(ci, id);
    if (!why && !d)
        why = "out of memory";
    corio__coap_block1_clear(&s->b1);
    if (why) {
        ci->st.auth_refused++;
        corio_logkv(CORIO_LOG_WARN, "coap authentication refused", "session=%s device=%s why=%s",
                    coap_session_str(session), id[0] ? id : "-", why);
        deny(ci, response, COAP_RESPONSE_CODE_UNAUTHORIZED);
        remember(s, (uint16_t)coap_pdu_get_mid(request), COAP_RESPONSE_CODE_UNAUTHORIZED, false, 0,
                 0);
        return;
    }
    ci->st.auth_accepted++;
    sess_bind(ci, s, d);
    corio_logkv(CORIO_LOG_INFO, "coap device authenticated", "device=%s session=%s", d->id,
                coap_session_str(session));
    answer(response, COAP_RESPONSE_CODE_CHANGED, 0, false, 0, 0);
    remember(s, (uint16_t)coap_pdu_get_mid(request), COAP_RESPONSE_CODE_CHANGED, false, 0, 0);
}

/* 4.01 when the session has no device, 4.03 when it is another device's resource. */
static bool authorised(struct corio_coap_ingress *ci, struct sess *s, const struct device *d,
                       coap_pdu_t *response)
{
    if (!s->dev) {
        deny(ci, response, COAP_RESPONSE_CODE_UNAUTHORIZED);
        return false;
    }
    if (s->dev != d) {
        deny(ci, response, COAP_RESPONSE_CODE_FORBIDDEN);
        return false;
    }
    return true;
}

static void finish_post(struct corio_coap_ingress *ci, struct sess *s, struct pending *p,
                        coap_pdu_t *response)
{
    if (p->state == P_ACKED) {
        ci->st.stored++;
        answer(response, COAP_RESPONSE_CODE_CHANGED, 0, p->has_block1, p->block1, 0);
        remember(s, p->coap_mid, COAP_RESPONSE_CODE_CHANGED, p->has_block1, p->block1, 0);
    } else {
        ci->st.unavailable++;
        answer(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, ci->o.retry_after_s, false, 0, 0);
        remember(s, p->coap_mid, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, false, 0,
                 ci->o.retry_after_s);
    }
}

/* Sends the answers of POSTs that got an Empty ACK and whose outcome is known; drops
 * those whose session is gone. Runs from the loop, outside libcoap's handlers. */
static void pending_flush(struct corio_coap_ingress *ci)
{
    struct pending **pp = &ci->pending;
    while (*pp) {
        struct pending *p = *pp;
        if (p->state == P_WAIT || !p->separate) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        struct sess *s = p->s;
        coap_pdu_t *pdu =
            s ? coap_pdu_init(p->con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, 0,
                              coap_new_message_id(s->cs), coap_session_max_pdu_size(s->cs))
              : NULL;
        if (pdu && coap_add_token(pdu, p->token_len, p->token)) {
            ci->st.separate++;
            finish_post(ci, s, p, pdu);
            if (coap_send(s->cs, pdu) == COAP_INVALID_MID)
                corio_logkv(CORIO_LOG_WARN, "coap separate response not sent", "session=%s",
                            coap_session_str(s->cs));
        } else if (pdu) {
            coap_delete_pdu(pdu);
        }
        free(p);
    }
}

static void hnd_up(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                   const coap_string_t *query, coap_pdu_t *response)
{
    (void)query;
    struct corio_coap_ingress *ci = ingress_of(session);
    const struct rctx *rc = coap_resource_get_userdata(resource);
    struct sess *s = sess_of(ci, session);
    if (!s || !rc) {
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
        return;
    }
    s->last_ms = mono_ms();
    uint16_t coap_mid = (uint16_t)coap_pdu_get_mid(request);
    bool con = coap_pdu_get_type(request) == COAP_MESSAGE_CON;
    /* A retransmission of a POST whose answer will come separately: Empty ACK again
     * (no code). */
    if (con && pending_find(ci, s, coap_mid))
        return;
    if (replay(s, request, response))
        return;
    if (!authorised(ci, s, rc->dev, response))
        return;
    const uint8_t *body;
    size_t len;
    if (!body_of(s, resource, ci->o.max_body, request, response, &body, &len))
        return;
    if (len == 0) {
        answer(response, COAP_RESPONSE_CODE_BAD_REQUEST, 0, false, 0, 0);
        return;
    }
    char topic[64];
    snprintf(topic, sizeof topic, "corio/v1/d/%s/up/%s", rc->dev->id, up_suffix[rc->index]);
    int mid = corio_local_client_publish(ci->o.local, topic, body, len);
    corio__coap_block1_clear(&s->b1);
    struct pending *p = mid > 0 ? pending_new(ci, s, mid) : NULL;
    if (!p) {
        ci->st.unavailable++;
        answer(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, ci->o.retry_after_s, false, 0, 0);
        remember(s, coap_mid, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, false, 0,
                 ci->o.retry_after_s);
        return;
    }
    struct corio__coap_block1_in in;
    block1_of(request, &in);
    coap_bin_const_t token = coap_pdu_get_token(request);
    p->coap_mid = coap_mid;
    p->con = con;
    p->token_len = (uint8_t)(token.length <= sizeof p->token ? token.length : 0);
    if (p->token_len)
        memcpy(p->token, token.s, p->token_len);
    p->has_block1 = in.has_block;
    p->block1 = in.num << 4 | in.szx;

    /* The broker on loopback usually acknowledges within a millisecond or two: wait a
     * little for it, so that the answer rides in the ACK. */
    int64_t end = mono_ms() + ci->o.piggyback_ms;
    for (int64_t now = mono_ms(); p->state == P_WAIT && now < end; now = mono_ms()) {
        if (!corio_local_client_connected(ci->o.local)) {
            p->state = P_FAILED;
            break;
        }
        int64_t left = end - now;
        corio_local_client_run(ci->o.local, left < 10 ? (int)left : 10, now);
    }
    corio_logkv(CORIO_LOG_DEBUG, "coap post published",
                "device=%s suffix=%s bytes=%zu acked=%d "
                "wait_ms=%lld",
                rc->dev->id, up_suffix[rc->index], len, p->state == P_ACKED,
                (long long)(mono_ms() - (end - ci->o.piggyback_ms)));
    if (p->state != P_WAIT) {
        finish_post(ci, s, p, response);
        pending_free(ci, p);
        return;
    }
    /* No code: libcoap sends an Empty ACK; pending_flush() answers later. */
    p->separate = true;
}

static void release_copy(coap_session_t *session, void *data)
{
    (void)session;
    free(data);
}

static void hnd_dn(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
                   const coap_string_t *query, coap_pdu_t *response)
{
    struct corio_coap_ingress *ci = ingress_of(session);
    const struct rctx *rc = coap_resource_get_userdata(resource);
    struct sess *s = sess_of(ci, session);
    if (!s || !rc) {
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
        return;
    }
    /* Notifications run this handler too, with the observer's session and a copy of its
     * registration (the same message id): only a new request shows the device alive. A
     * session that is no longer the device's gets 4.01, which ends its observation. */
    uint16_t mid = (uint16_t)coap_pdu_get_mid(request);
    if (!s->dn_seen[rc->index] || s->dn_mid[rc->index] != mid) {
        s->last_ms = mono_ms();
        s->dn_mid[rc->index] = mid;
        s->dn_seen[rc->index] = true;
    }
    if (!authorised(ci, s, rc->dev, response))
        return;
    const uint8_t *data = rc->dev->dn[rc->index];
    size_t len = rc->dev->dn_len[rc->index];
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
    if (len == 0) {
        add_uint_option(response, COAP_OPTION_CONTENT_FORMAT, COAP_MEDIATYPE_APPLICATION_CBOR);
        add_uint_option(response, COAP_OPTION_MAXAGE, ci->o.observe_max_age_s);
        return;
    }
    /* libcoap may send a large body block by block after this returns, while a newer
     * message replaces ours: it gets its own copy. */
    uint8_t *copy = malloc(len);
    if (!copy) {
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
        return;
    }
    memcpy(copy, data, len);
    if (!coap_add_data_large_response(resource, session, request, response, query,
                                      COAP_MEDIATYPE_APPLICATION_CBOR, (int)ci->o.observe_max_age_s,
                                      0, len, copy, release_copy, copy)) {
        /* libcoap released the copy itself */
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
    }
}

/* Requests for paths without a resource: 4.01 without a device, 4.03 for another
 * device's space, else 4.04. */
static void hnd_unknown(coap_resource_t *resource, coap_session_t *session,
                        const coap_pdu_t *request, const coap_string_t *query, coap_pdu_t *response)
{
    (void)resource;
    (void)query;
    struct corio_coap_ingress *ci = ingress_of(session);
    struct sess *s = sess_of(ci, session);
    if (!s) {
        answer(response, COAP_RESPONSE_CODE_INTERNAL_ERROR, 0, false, 0, 0);
        return;
    }
    s->last_ms = mono_ms();
    coap_string_t *path = coap_get_uri_path(request);
    char id[SHORT_ID + 1];
    bool device_path = path && corio__coap_path_device((const char *)path->s, path->length, id);
    coap_delete_string(path);
    if (device_path && !s->dev)
        deny(ci, response, COAP_RESPONSE_CODE_UNAUTHORIZED);
    else if (device_path && strcmp(s->dev->id, id) != 0)
        deny(ci, response, COAP_RESPONSE_CODE_FORBIDDEN);
    else
        answer(response, COAP_RESPONSE_CODE_NOT_FOUND, 0, false, 0, 0);
}

/* ---- the downlink ------------------------------------------------------------------ */

void corio_coap_ingress_message(corio_coap_ingress *ci, const char *topic, const uint8_t *payload,
                                size_t len)
{
    char id[SHORT_ID + 1];
    int index;
    if (!corio__coap_dn_topic(topic, id, &index))
        return;
    struct device *d = device_find(ci, id);
    if (!d)
        return; /* never authenticated here: the cloud resends what must arrive */
    if (len > DN_MAX) {
        corio_logkv(CORIO_LOG_WARN, "downlink message too large for coap: not relayed",
                    "topic=%s bytes=%zu", topic, len);
        return;
    }
    uint8_t *copy = NULL;
    if (len && !(copy = malloc(len)))
        return;
    if (len)
        memcpy(copy, payload, len);
    free(d->dn[index]);
    d->dn[index] = copy;
    d->dn_len[index] = len;
    ci->st.relayed++;
    coap_resource_notify_observers(d->res[N_UP + (size_t)index], NULL);
}

/* ---- the registry ------------------------------------------------------------------ */

/* Re-reads the registry when its file changed; applies it only at a higher height; a
 * session whose device was revoked or removed is unbound at once. */
static void registry_refresh(struct corio_coap_ingress *ci, bool first)
{
    struct stat sb;
    if (stat(ci->registry_path, &sb) != 0) {
        if (first)
            corio_logkv(CORIO_LOG_WARN, "no registry: no coap device can authenticate yet",
                        "file=%s error=%s", ci->registry_path, strerror(errno));
        return;
    }
    if (!first && sb.st_mtim.tv_sec == ci->registry_mtime.tv_sec &&
        sb.st_mtim.tv_nsec == ci->registry_mtime.tv_nsec)
        return;
    ci->registry_mtime = sb.st_mtim;
    struct corio_reg *next;
    char err[512];
    if (corio_reg_load(ci->registry_path, &next, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "registry not applied", "error=%s", err);
        return;
    }
    if (ci->reg && next->height <= ci->reg->height) {
        corio_reg_free(next);
        return;
    }
    corio_reg_free(ci->reg);
    ci->reg = next;
    for (struct sess *s = ci->sessions; s; s = s->next) {
        if (!s->dev)
            continue;
        const struct corio_reg_device *d = corio_reg_device(ci->reg, s->dev->id);
        if (!d || d->revoked)
            sess_unbind(ci, s, d ? "revoked" : "no longer registered");
    }
}

/* ---- life cycle -------------------------------------------------------------------- */

static int endpoint(struct corio_coap_ingress *ci, int port, coap_proto_t proto, char *err,
                    size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV},
                    *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(ci->o.address, service, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "coap address %s: %s", ci->o.address, gai_strerror(rc));
        return CORIO_ERR_INVAL;
    }
    coap_address_t addr;
    coap_address_init(&addr);
    memcpy(&addr.addr, res->ai_addr, res->ai_addrlen);
    addr.size = res->ai_addrlen;
    freeaddrinfo(res);
    if (!coap_new_endpoint(ci->ctx, &addr, proto)) {
        snprintf(err, errlen, "cannot listen on %s port %d (%s)", ci->o.address, port,
                 proto == COAP_PROTO_DTLS ? "coaps" : "coap");
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

static int add_resource(struct corio_coap_ingress *ci, const char *path, coap_request_t method,
                        coap_method_handler_t h)
{
    coap_str_const_t *uri = coap_new_str_const((const uint8_t *)path, strlen(path));
    coap_resource_t *r = uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI) : NULL;
    if (!r) {
        coap_delete_str_const(uri);
        return CORIO_ERR_NOSPACE;
    }
    coap_register_request_handler(r, method, h);
    coap_add_resource(ci->ctx, r);
    return CORIO_OK;
}

int corio_coap_ingress_new(const struct corio_coap_ingress_options *o, corio_coap_ingress **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    if (!o->gateway || strlen(o->gateway) != SHORT_ID || !o->registry || !o->local ||
        (!o->coap_port && !o->coaps_port) || o->max_body < 16) {
        snprintf(err, errlen,
                 "coap ingress needs the gateway id, the registry, the local "
                 "client and a port");
        return CORIO_ERR_INVAL;
    }
    if (o->coaps_port && (!o->tls_cert || !o->tls_key)) {
        snprintf(err, errlen, "coaps_port needs tls_cert and tls_key");
        return CORIO_ERR_INVAL;
    }
    struct corio_coap_ingress *ci = calloc(1, sizeof *ci);
    if (!ci) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    ci->o = *o;
    snprintf(ci->gateway, sizeof ci->gateway, "%s", o->gateway);
    ci->o.gateway = ci->gateway;
    if (!ci->o.address)
        ci->o.address = "0.0.0.0";
    ci->registry_path = strdup(o->registry);
    ci->o.registry = ci->registry_path;
    ci->coap_fd = -1;

    coap_startup();
    ci->started = true;
    coap_set_log_handler(log_handler);
    coap_set_log_level(corio_log_enabled(CORIO_LOG_DEBUG) ? LOG_INFO : LOG_WARNING);
    ci->ctx = ci->registry_path ? coap_new_context(NULL) : NULL;
    if (!ci->ctx) {
        snprintf(err, errlen, "cannot create the CoAP context");
        corio_coap_ingress_free(ci, 0);
        return CORIO_ERR_NOSPACE;
    }
    coap_set_app_data(ci->ctx, ci);
    coap_context_set_block_mode(ci->ctx, COAP_BLOCK_USE_LIBCOAP);
    coap_context_set_session_timeout(ci->ctx, (unsigned)((o->session_timeout_ms + 999) / 1000));
    coap_register_event_handler(ci->ctx, on_event);
    int rc = CORIO_OK;
    if (o->coaps_port) {
        if (!coap_dtls_is_supported()) {
            snprintf(err, errlen, "this libcoap has no DTLS");
            rc = CORIO_ERR_UNSUPPORTED;
        } else {
            coap_dtls_pki_t pki;
            memset(&pki, 0, sizeof pki);
            pki.version = COAP_DTLS_PKI_SETUP_VERSION;
            pki.verify_peer_cert = 0; /* devices authenticate with their EAT, not a certificate */
            pki.pki_key.key_type = COAP_PKI_KEY_PEM;
            pki.pki_key.key.pem.public_cert = o->tls_cert;
            pki.pki_key.key.pem.private_key = o->tls_key;
            if (!coap_context_set_pki(ci->ctx, &pki)) {
                snprintf(err, errlen, "cannot use %s and %s for DTLS", o->tls_cert, o->tls_key);
                rc = CORIO_ERR_INVAL;
            } else {
                rc = endpoint(ci, o->coaps_port, COAP_PROTO_DTLS, err, errlen);
            }
        }
    }
    if (rc == CORIO_OK && o->coap_port)
        rc = endpoint(ci, o->coap_port, COAP_PROTO_UDP, err, errlen);
    coap_resource_t *unknown = rc == CORIO_OK ? coap_resource_unknown_init2(hnd_unknown, 0) : NULL;
    if (rc == CORIO_OK && !unknown)
        rc = CORIO_ERR_NOSPACE;
    if (unknown) {
        coap_register_request_handler(unknown, COAP_REQUEST_GET, hnd_unknown);
        coap_register_request_handler(unknown, COAP_REQUEST_POST, hnd_unknown);
        coap_register_request_handler(unknown, COAP_REQUEST_DELETE, hnd_unknown);
        coap_add_resource(ci->ctx, unknown);
    }
    if (rc == CORIO_OK &&
        (add_resource(ci, "auth/nonce", COAP_REQUEST_GET, hnd_nonce) != CORIO_OK ||
         add_resource(ci, "auth", COAP_REQUEST_POST, hnd_auth) != CORIO_OK))
        rc = CORIO_ERR_NOSPACE;
    if (rc != CORIO_OK) {
        if (rc == CORIO_ERR_NOSPACE)
            snprintf(err, errlen, "out of memory");
        corio_coap_ingress_free(ci, 0);
        return rc;
    }
    ci->coap_fd = coap_context_get_coap_fd(ci->ctx);
    registry_refresh(ci, true);
    ci->last_registry_ms = ci->last_tick_ms = mono_ms();
    corio_logkv(CORIO_LOG_INFO, "coap ingress listening",
                "address=%s coap_port=%d coaps_port=%d max_body=%zu", ci->o.address, o->coap_port,
                o->coaps_port, o->max_body);
    *out = ci;
    return CORIO_OK;
}

void corio_coap_ingress_free(corio_coap_ingress *ci, int flush_ms)
{
    if (!ci)
        return;
    ci->stopping = true;
    for (struct sess *s = ci->sessions; s; s = s->next)
        sess_unbind(ci, s, "gateway stopping");
    int64_t end = mono_ms() + flush_ms;
    while (ci->pres_head && corio_local_client_connected(ci->o.local)) {
        int64_t now = mono_ms();
        if (now >= end)
            break;
        corio_local_client_run(ci->o.local, 20, now);
    }
    if (ci->pres_head)
        corio_logkv(CORIO_LOG_WARN, "coap presence records not stored at shutdown", "records=%zu",
                    ci->npres);
    if (ci->ctx)
        coap_free_context(ci->ctx); /* deletes sessions: sess_end() for each */
    while (ci->sessions) {
        ci->sessions->cs = NULL;
        sess_end(ci, ci->sessions, "gateway stopping");
    }
    if (ci->started)
        coap_cleanup();
    while (ci->pending) {
        struct pending *p = ci->pending;
        ci->pending = p->next;
        free(p);
    }
    while (ci->pres_head) {
        struct presence *p = ci->pres_head;
        ci->pres_head = p->next;
        free(p);
    }
    for (size_t i = 0; i < ci->ndevs; i++) {
        for (size_t k = 0; k < N_DN; k++)
            free(ci->devs[i]->dn[k]);
        free(ci->devs[i]);
    }
    free(ci->devs);
    corio_reg_free(ci->reg);
    free(ci->registry_path);
    free(ci);
}

void corio_coap_ingress_wait(corio_coap_ingress *ci, int timeout_ms)
{
    struct pollfd fds[2];
    nfds_t n = 0;
    if (ci->coap_fd >= 0)
        fds[n++] = (struct pollfd){.fd = ci->coap_fd, .events = POLLIN};
    int lfd = corio_local_client_fd(ci->o.local);
    if (lfd >= 0)
        fds[n++] = (struct pollfd){
            .fd = lfd,
            .events = POLLIN | (corio_local_client_want_write(ci->o.local) ? POLLOUT : 0)};
    if (ci->coap_fd < 0) {
        /* No epoll descriptor from this libcoap: let it wait itself, briefly. */
        coap_io_process(ci->ctx, (uint32_t)(timeout_ms > 5 ? 5 : timeout_ms));
        return;
    }
    poll(fds, n, timeout_ms);
}

void corio_coap_ingress_run(corio_coap_ingress *ci, int64_t now_ms)
{
    pending_flush(ci);
    if (coap_io_process(ci->ctx, COAP_IO_NO_WAIT) < 0)
        corio_logkv(CORIO_LOG_WARN, "coap processing failed", "error=%s", strerror(errno));
    pending_flush(ci);
    if (now_ms - ci->last_registry_ms >= 1000) {
        registry_refresh(ci, false);
        ci->last_registry_ms = now_ms;
    }
    if (now_ms - ci->last_tick_ms >= 1000) {
        /* A session silent for the timeout ends for presence even when libcoap keeps it
         * (an observation holds it): its device is offline until it speaks again. */
        for (struct sess *s = ci->sessions; s; s = s->next) {
            if (now_ms - s->last_ms > ci->o.session_timeout_ms) {
                sess_unbind(ci, s, "idle");
                corio__coap_block1_clear(&s->b1);
            }
        }
        ci->last_tick_ms = now_ms;
    }
}

void corio_coap_ingress_stats(const corio_coap_ingress *ci, struct corio_coap_ingress_stats *st)
{
    *st = ci->st;
}
