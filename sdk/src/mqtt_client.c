/*
 * mqtt_client.c - the MQTT client's state machine (mqtt.h): connection attempts with
 * backoff, the CONNECT/AUTH/CONNACK exchange, the QoS 1 inflight table and its resends,
 * registered subscriptions, keepalive, and the non-blocking tx/rx buffers between the
 * codec and the port's transport.
 *
 * Two rules shape the code. Notifications run only inside corio_mqtt_process(), so a
 * transport error met while publishing is parked in pending_err and handled there.
 * And any callback may call back into the client, so after each callback the code
 * re-reads the state instead of trusting what it knew before.
 */
#include <stddef.h>
#include <string.h>

#include "corio/mqtt.h"
#include "mqtt_int.h"

enum { IF_FREE, IF_WAIT_ACK, IF_RESEND };
enum { SUB_FREE, SUB_SEND, SUB_WAIT, SUB_ACTIVE, SUB_UNSUB, SUB_WAIT_UNSUB };

/* The largest packet MQTT can frame: a one-byte header, four length bytes, and the
 * largest Remaining Length. */
#define MAX_PACKET_SIZE (CORIO_MQTT_MAX_REMAINING + 5u)

/* Minimum buffer sizes: enough for every fixed-size packet and a small PUBLISH. */
#define MIN_BUFFER 64u

/* Receives per corio_mqtt_process(), so that a busy broker cannot starve the caller. */
#define RECV_ROUNDS 8

static uint32_t now(const struct corio_mqtt *c)
{
    return c->clk.now_ms(c->clk.ctx);
}

/* True once ms have passed since `since` (wrap-safe). */
static bool elapsed(uint32_t t, uint32_t since, uint32_t ms)
{
    return t - since >= ms;
}

static uint32_t remaining(uint32_t t, uint32_t since, uint32_t ms)
{
    uint32_t gone = t - since;
    return gone >= ms ? 0 : ms - gone;
}

static bool is_v5(const struct corio_mqtt *c)
{
    return c->v5;
}

/* ---------------------------------------------------------------------------------
 * Backoff and configuration
 */

/* 32-bit arithmetic only: 64-bit division would pull libgcc's __udivdi3 and
 * __umoddi3 into a 32-bit device's image. */
uint32_t corio_mqtt_backoff_delay(const struct corio_mqtt_backoff *b, uint32_t failures,
                                  uint32_t random)
{
    if (!b || failures == 0)
        return 0;
    uint32_t d = b->initial_ms, max = b->max_ms;
    for (uint32_t i = 1; i < failures && d < max; i++)
        d = d > max / 2u ? max : d * 2u;
    if (d > max)
        d = max;
    uint32_t pct = b->jitter_pct > 100 ? 100u : b->jitter_pct;
    /* floor(d * pct / 100) without overflow: d = 100a + r. */
    uint32_t j = d / 100u * pct + d % 100u * pct / 100u;
    if (j == 0)
        return d;
    return d - j + (j == UINT32_MAX ? random : random % (j + 1u));
}

void corio_mqtt_config_init(struct corio_mqtt_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = CORIO_MQTT_V5;
    cfg->keepalive_s = 60;
    cfg->clean = CORIO_MQTT_CLEAN_FIRST;
    cfg->connect_timeout_ms = 10000;
    cfg->ping_timeout_ms = 10000;
    cfg->backoff.initial_ms = 1000;
    cfg->backoff.max_ms = 60000;
    cfg->backoff.jitter_pct = 50;
    cfg->backoff.reset_after_ms = 60000;
}

/* A string the client sends: present when it has a length, valid MQTT UTF-8
 * (CORIO_MQTT_CHECK_OWN). */
static bool str_ok(const void *s, uint16_t len)
{
    return (len == 0 || s) && (!CORIO_MQTT_CHECK_OWN || corio__mqtt_utf8_ok(s, len));
}

/* A property block the client sends in a packet or will of context ctx: present
 * when it has a length, none under 3.1.1, and (CORIO_MQTT_CHECK_OWN) valid for ctx.
 * seen, fn and arg as in corio__mqtt_props_check, which runs only with the check
 * (seen is left as it was without). */
static bool props_ok(uint8_t version, const uint8_t *props, size_t len, unsigned ctx, uint8_t *seen,
                     corio__mqtt_prop_fn fn, void *arg)
{
    if (len && (!props || version != CORIO_MQTT_V5 || len > CORIO_MQTT_MAX_REMAINING))
        return false;
    return !CORIO_MQTT_CHECK_OWN ||
           corio__mqtt_props_check(props, len, ctx, seen, fn, arg) == CORIO_OK;
}

/* The login CONNECT carries: a valid username; under 3.1.1 a password only with one. */
static bool login_ok(uint8_t version, const char *username, uint16_t username_len,
                     const uint8_t *password)
{
    if (!CORIO_MQTT_WITH_LOGIN)
        return !username && !password;
    return (!username || str_ok(username, username_len)) &&
           (!password || username || version == CORIO_MQTT_V5);
}

int corio_mqtt_init(struct corio_mqtt *c, const struct corio_mqtt_config *cfg,
                    const struct corio_transport *tp, const struct corio_clock *clk,
                    const struct corio_random *rnd, uint8_t *tx, size_t tx_cap, uint8_t *rx,
                    size_t rx_cap, const struct corio_mqtt_callbacks *cb, void *user)
{
    if (!c || !cfg || !tp || !tp->open || !tp->send || !tp->recv || !tp->close || !clk ||
        !clk->now_ms || !rnd || !rnd->fill || !tx || !rx || tx_cap < MIN_BUFFER ||
        rx_cap < MIN_BUFFER || !cb)
        return CORIO_ERR_INVAL;
    if (cfg->clean > CORIO_MQTT_CLEAN_NEVER ||
        (!CORIO_MQTT_WITH_RESEND && !cfg->drop_inflight_on_disconnect))
        return CORIO_ERR_INVAL;
    if (cfg->auth_method && (cfg->version != CORIO_MQTT_V5 || !cb->auth ||
                             !str_ok(cfg->auth_method, cfg->auth_method_len)))
        return CORIO_ERR_INVAL;
    /* Every CONNECT the configuration yields must be valid (MQTT 3.1.1 §3.1.3.1: an
     * empty client id needs a clean session, so every attempt must ask for one);
     * connect_props must not hold what the client sets itself. */
    uint8_t seen[CORIO__MQTT_PROP_SET];
    if ((cfg->version != CORIO_MQTT_V5 && cfg->version != CORIO_MQTT_V311) ||
        !str_ok(cfg->client_id, cfg->client_id_len) ||
        (cfg->version == CORIO_MQTT_V311 && cfg->client_id_len == 0 &&
         cfg->clean != CORIO_MQTT_CLEAN_ALWAYS) ||
        !login_ok(cfg->version, cfg->username, cfg->username_len, cfg->password) ||
        (!CORIO_MQTT_WITH_CONNECT_PROPS && cfg->connect_props_len) ||
        !props_ok(cfg->version, cfg->connect_props,
                  CORIO_MQTT_WITH_CONNECT_PROPS ? cfg->connect_props_len : 0u, CORIO_MQTT_CONNECT,
                  seen, NULL, NULL) ||
        (CORIO_MQTT_CHECK_OWN && (CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_SESSION_EXPIRY) ||
                                  CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_MAXIMUM_PACKET_SIZE) ||
                                  CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_AUTH_METHOD) ||
                                  CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_AUTH_DATA))))
        return CORIO_ERR_INVAL;
    /* (Built with CORIO_MQTT_WITH_WILL 0, a will is refused.) */
    const struct corio_mqtt_will *wl = cfg->will;
    if (wl &&
        (!CORIO_MQTT_WITH_WILL || wl->topic_len == 0 || !wl->topic || wl->qos > 2 ||
         (CORIO_MQTT_CHECK_OWN &&
          !corio__mqtt_topic_name_ok((const uint8_t *)wl->topic, wl->topic_len)) ||
         (wl->payload_len && !wl->payload) ||
         !props_ok(cfg->version, wl->props, wl->props_len, CORIO__MQTT_CTX_WILL, NULL, NULL, NULL)))
        return CORIO_ERR_INVAL;

    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->v5 = cfg->version == CORIO_MQTT_V5;
    c->tp = *tp;
    c->clk = *clk;
    c->rnd = *rnd;
    c->cb = *cb;
    c->user = user;
    c->tx = tx;
    c->tx_cap = tx_cap;
    c->rx = rx;
    c->rx_cap = rx_cap;
    c->state = CORIO_MQTT_STOPPED;
    return CORIO_OK;
}

/* ---------------------------------------------------------------------------------
 * The tx buffer: a queue of whole packets, [tx_head, tx_len) not yet sent.
 */

static void tx_compact(struct corio_mqtt *c)
{
    if (c->tx_head == 0)
        return;
    memmove(c->tx, c->tx + c->tx_head, c->tx_len - c->tx_head);
    c->tx_len -= c->tx_head;
    c->tx_head = 0;
}

/* Sends what the transport takes now. Errors are parked in pending_err. */
static void flush(struct corio_mqtt *c)
{
    while (!c->pending_err && c->tx_head < c->tx_len) {
        size_t want = c->tx_len - c->tx_head;
        int n = c->tp.send(c->tp.ctx, c->tx + c->tx_head, want);
        if (n == 0)
            break;
        if (n < 0 || (size_t)n > want) {
            c->pending_err = n < 0 ? n : CORIO_ERR_IO;
            break;
        }
        c->tx_head += (size_t)n;
        c->t_last_tx = now(c);
    }
    if (c->tx_head == c->tx_len)
        c->tx_head = c->tx_len = 0;
}

/* Room for n more bytes at tx + tx_len, flushing and compacting if needed; NULL if
 * there is none now. */
static uint8_t *tx_reserve(struct corio_mqtt *c, size_t n)
{
    if (c->tx_cap - c->tx_len < n) {
        flush(c);
        tx_compact(c);
    }
    return c->tx_cap - c->tx_len < n ? NULL : c->tx + c->tx_len;
}

/* The client writes every packet itself: what goes in was checked before (the
 * configuration at init, a PUBLISH or filter by the call that queues it), so the
 * codec's validating encoders stay out of a device's image. */

/* Bytes of a whole packet with Remaining Length rem. */
static size_t pkt_size(size_t rem)
{
    return 1 + corio__mqtt_varint_len((uint32_t)rem) + rem;
}

/* Each put_ writes at w and returns the next write position. */
static uint8_t *put_hdr(uint8_t *w, unsigned first, size_t rem)
{
    *w = (uint8_t)first;
    return w + 1 + corio__mqtt_varint_put(w + 1, (uint32_t)rem);
}


/* Queues a packet of Remaining Length rem: reserves it in tx and writes its fixed
 * header; returns where the rest goes, or NULL when tx has no room now. */
static uint8_t *begin(struct corio_mqtt *c, unsigned first, size_t rem)
{
    size_t n = pkt_size(rem);
    uint8_t *w = tx_reserve(c, n);
    if (!w)
        return NULL;
    c->tx_len += n;
    return put_hdr(w, first, rem);
}

/* DISCONNECT: MQTT 5 carries a reason code unless it is 0 (3.1.1 has none). */
static bool queue_disconnect(struct corio_mqtt *c, uint8_t reason)
{
    bool with = is_v5(c) && reason;
    uint8_t *w = begin(c, CORIO_MQTT_DISCONNECT << 4, with);
    if (w && with)
        *w = reason;
    return w != NULL;
}

/* ---------------------------------------------------------------------------------
 * Tables
 */

static bool id_in_use(const struct corio_mqtt *c, uint16_t id)
{
    for (size_t i = 0; i < CORIO_MQTT_MAX_INFLIGHT; i++)
        if (c->inflight[i].state != IF_FREE && c->inflight[i].packet_id == id)
            return true;
    for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS; i++)
        if ((c->subs[i].state == SUB_WAIT || c->subs[i].state == SUB_WAIT_UNSUB) &&
            c->subs[i].packet_id == id)
            return true;
    return false;
}

static uint16_t alloc_id(struct corio_mqtt *c)
{
    do {
        c->next_id++;
        if (c->next_id == 0)
            c->next_id = 1;
    } while (id_in_use(c, c->next_id));
    return c->next_id;
}

static size_t count_inflight(const struct corio_mqtt *c, uint8_t state)
{
    size_t n = 0;
    for (size_t i = 0; i < CORIO_MQTT_MAX_INFLIGHT; i++)
        if (c->inflight[i].state == state)
            n++;
    return n;
}

/* Ends a token's life in the client and tells the application. */
static void publish_done(struct corio_mqtt *c, struct corio_mqtt_inflight *e, int result,
                         uint8_t reason)
{
    uint64_t token = e->token;
    e->state = IF_FREE;
    if (c->cb.on_publish_done)
        c->cb.on_publish_done(c->user, token, result, reason);
}

/* Forgets a filter and tells the application. */
static void sub_gone(struct corio_mqtt *c, struct corio_mqtt_subscription *s, uint8_t reason,
                     bool subscribe_refused)
{
    const char *f = s->filter;
    uint16_t len = s->filter_len;
    s->state = SUB_FREE;
    if (subscribe_refused) {
        if (c->cb.on_subscribe)
            c->cb.on_subscribe(c->user, f, len, reason);
    } else if (c->cb.on_unsubscribe) {
        c->cb.on_unsubscribe(c->user, f, len, reason);
    }
}

/* ---------------------------------------------------------------------------------
 * Ending connections
 */

static void reset_connection(struct corio_mqtt *c)
{
    if (c->transport_open)
        c->tp.close(c->tp.ctx);
    c->transport_open = false;
    c->pending_err = 0;
    c->tx_head = c->tx_len = c->rx_len = 0;
    c->ping_outstanding = false;
    c->reauth = false;
    c->ack_pending = false;
    /* Without the client's own resends every token leaves at once (lose, stop). */
    for (size_t i = 0; CORIO_MQTT_WITH_RESEND && i < CORIO_MQTT_MAX_INFLIGHT; i++)
        if (c->inflight[i].state == IF_WAIT_ACK)
            c->inflight[i].state = IF_RESEND;
    for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS; i++) {
        if (c->subs[i].state == SUB_WAIT)
            c->subs[i].state = SUB_SEND;
        else if (CORIO_MQTT_WITH_UNSUBSCRIBE && c->subs[i].state == SUB_WAIT_UNSUB)
            c->subs[i].state = SUB_UNSUB;
    }
}

/* Every token still held leaves the client, unsent. */
static void drop_inflight(struct corio_mqtt *c)
{
    for (size_t i = 0; i < CORIO_MQTT_MAX_INFLIGHT; i++)
        if (c->inflight[i].state != IF_FREE)
            publish_done(c, &c->inflight[i], CORIO_ERR_CLOSED, 0);
}

/* A connection or attempt ended. In DISCONNECTING that is the end of
 * corio_mqtt_disconnect(): the client stops and reports CORIO_OK with the reason it
 * sent (err and reason are ignored). Otherwise it backs off and reports err. */
static void lose(struct corio_mqtt *c, int err, uint8_t reason)
{
    uint32_t t = now(c);
    bool was_up = c->state == CORIO_MQTT_CONNECTED;
    bool stopping = c->state == CORIO_MQTT_DISCONNECTING;
    reset_connection(c);
    if (stopping) {
        /* (corio_mqtt_connect() starts the failure count and disconnect() the
         * pending DISCONNECT afresh.) */
        c->state = CORIO_MQTT_STOPPED;
        err = CORIO_OK;
        reason = c->disc_reason;
    } else {
        if (was_up && elapsed(t, c->t_connected, c->cfg.backoff.reset_after_ms))
            c->failures = 0;
        if (c->failures < 32)
            c->failures++;
        uint32_t random = 0; /* jitter: any byte order will do */
        if (c->rnd.fill(c->rnd.ctx, (uint8_t *)&random, sizeof random) != CORIO_OK)
            random = 0;
        c->t_next_attempt = t + corio_mqtt_backoff_delay(&c->cfg.backoff, c->failures, random);
        c->state = CORIO_MQTT_WAITING;
    }
    /* Tokens survive a lost connection only for the client's own resends. */
    if (stopping || !CORIO_MQTT_WITH_RESEND || c->cfg.drop_inflight_on_disconnect)
        drop_inflight(c);
    if (c->cb.on_disconnect)
        c->cb.on_disconnect(c->user, err, reason);
}

/* Tells an MQTT 5 broker why we leave (best effort: one flush), then loses the
 * connection with err. */
static void leave(struct corio_mqtt *c, int err, uint8_t reason)
{
    if (is_v5(c) && !c->pending_err && queue_disconnect(c, reason))
        flush(c);
    lose(c, err, reason);
}

/* ---------------------------------------------------------------------------------
 * Sending
 */

/* What the client takes from a property block while the codec checks it, so that no
 * block is walked twice. The checks admit each identifier only where it may appear:
 * the broker's limits in CONNACK alone, a Topic Alias in PUBLISH alone. */
struct taken {
    struct corio_mqtt *c; /* the broker's CONNACK limits go straight into it */
    const uint8_t *auth_data;
    uint16_t auth_len;
    uint16_t alias;    /* a Topic Alias (never 0) */
    bool other_method; /* an Authentication Method that is not ours */
};

/* c->limits[], in order of the CONNACK properties that set them. */
enum { L_KEEPALIVE, L_QUOTA, L_MAX_QOS, L_RETAIN, L_MAX_PACKET, L_ALIAS_MAX };
static const uint8_t limit_ids[] = {
    CORIO_MQTT_PROP_SERVER_KEEP_ALIVE,   CORIO_MQTT_PROP_RECEIVE_MAXIMUM,
    CORIO_MQTT_PROP_MAXIMUM_QOS,         CORIO_MQTT_PROP_RETAIN_AVAILABLE,
    CORIO_MQTT_PROP_MAXIMUM_PACKET_SIZE, CORIO_MQTT_PROP_TOPIC_ALIAS_MAXIMUM,
};

static void take(void *arg, const struct corio_mqtt_prop *pr)
{
    struct taken *x = arg;
    struct corio_mqtt *c = x->c;
    const uint8_t *l = memchr(limit_ids, pr->id, sizeof limit_ids);
    if (l) {
        c->limits[l - limit_ids] = pr->value;
    } else if (pr->id == CORIO_MQTT_PROP_AUTH_METHOD) {
        x->other_method = !c->cfg.auth_method || pr->len != c->cfg.auth_method_len ||
                          memcmp(pr->data, c->cfg.auth_method, pr->len) != 0;
    } else if (pr->id == CORIO_MQTT_PROP_AUTH_DATA) {
        x->auth_data = pr->data;
        x->auth_len = pr->len;
    } else if (pr->id == CORIO_MQTT_PROP_TOPIC_ALIAS) {
        x->alias = (uint16_t)pr->value;
    }
}

static uint8_t *put_prop_u32(uint8_t *w, uint8_t id, uint32_t v)
{
    w[0] = id;
    w = corio__mqtt_put_u16(w + 1, v >> 16);
    return corio__mqtt_put_u16(w, v & 0xFFFFu);
}

static uint8_t *put_prop_bin(uint8_t *w, uint8_t id, const void *data, size_t len)
{
    w[0] = id;
    return corio__mqtt_put_str(w + 1, data, len);
}

/* Authentication Method and, when there is any, Authentication Data. */
static size_t auth_props_len(const struct corio_mqtt *c, size_t data_len)
{
    return 3u + c->cfg.auth_method_len + (data_len ? 3u + data_len : 0u);
}

static uint8_t *put_auth_props(const struct corio_mqtt *c, uint8_t *w, const uint8_t *data,
                               size_t len)
{
    w = put_prop_bin(w, CORIO_MQTT_PROP_AUTH_METHOD, c->cfg.auth_method, c->cfg.auth_method_len);
    return len ? put_prop_bin(w, CORIO_MQTT_PROP_AUTH_DATA, data, len) : w;
}

/* Builds an AUTH (method + data) and queues it. CORIO_ERR_AGAIN: no room now. */
static int send_auth(struct corio_mqtt *c, uint8_t reason, const uint8_t *data, size_t len)
{
    if (len > 0xFFFFu)
        return CORIO_ERR_INVAL;
    size_t plen = auth_props_len(c, len);
    size_t rem = 1 + corio__mqtt_varint_len((uint32_t)plen) + plen;
    if (pkt_size(rem) > c->tx_cap)
        return CORIO_ERR_NOSPACE;
    uint8_t *w = begin(c, CORIO_MQTT_AUTH << 4, rem);
    if (!w)
        return CORIO_ERR_AGAIN;
    *w++ = reason;
    w += corio__mqtt_varint_put(w, (uint32_t)plen);
    put_auth_props(c, w, data, len);
    flush(c);
    return CORIO_OK;
}

/* The transport is open: queue CONNECT. */
static void send_connect(struct corio_mqtt *c)
{
    const struct corio_mqtt_config *cfg = &c->cfg;
    bool v5 = is_v5(c);
    const uint8_t *data = NULL;
    size_t len = 0, plen = 0;
    int rc = CORIO_OK;
    /* With CORIO_MQTT_WITH_LOGIN or _CONNECT_PROPS 0, NULL or 0 for the compiler: the
     * code for them goes. */
    const char *user = CORIO_MQTT_WITH_LOGIN ? cfg->username : NULL;
    const uint8_t *pass = CORIO_MQTT_WITH_LOGIN ? cfg->password : NULL;
    size_t app_props = CORIO_MQTT_WITH_CONNECT_PROPS ? cfg->connect_props_len : 0u;
    c->tx_head = c->tx_len = c->rx_len = 0;
    c->clean_this_time = cfg->clean == CORIO_MQTT_CLEAN_ALWAYS ||
                         (cfg->clean == CORIO_MQTT_CLEAN_FIRST && !c->connected_once);
    if (cfg->auth_method) { /* MQTT 5 only (init's rule) */
        rc = c->cb.auth(c->user, CORIO_MQTT_AUTH_START, NULL, 0, &data, &len);
        if (c->state != CORIO_MQTT_OPENING)
            return; /* the callback called corio_mqtt_disconnect() */
        if (rc == CORIO_OK && len > 0xFFFFu)
            rc = CORIO_ERR_INVAL;
        plen = auth_props_len(c, len);
    }
    /* Variable header, client id, login; MQTT 5: Session Expiry Interval (when not 0),
     * Maximum Packet Size, authentication and the application's properties. */
    size_t rem = 12u + cfg->client_id_len + (user ? 2u + cfg->username_len : 0u) +
                 (pass ? 2u + cfg->password_len : 0u);
    if (v5) {
        plen += (cfg->session_expiry_s ? 5u : 0u) + 5u + app_props;
        rem += corio__mqtt_varint_len((uint32_t)plen) + plen;
    }
    uint8_t flags =
        (uint8_t)((user ? 0x80u : 0u) | (pass ? 0x40u : 0u) | (c->clean_this_time ? 0x02u : 0u));
#if CORIO_MQTT_WITH_WILL
    const struct corio_mqtt_will *wl = cfg->will;
    if (wl) {
        flags |= (uint8_t)(0x04u | wl->qos << 3 | (wl->retain ? 0x20u : 0u));
        rem += 4u + wl->topic_len + wl->payload_len;
        if (v5)
            rem += corio__mqtt_varint_len((uint32_t)wl->props_len) + wl->props_len;
    }
#endif
    if (rc == CORIO_OK && (rem > CORIO_MQTT_MAX_REMAINING || pkt_size(rem) > c->tx_cap))
        rc = CORIO_ERR_NOSPACE;
    if (rc != CORIO_OK) {
        lose(c, rc, 0);
        return;
    }
    static const uint8_t proto[6] = {0, 4, 'M', 'Q', 'T', 'T'};
    uint8_t *w = begin(c, CORIO_MQTT_CONNECT << 4, rem); /* tx is empty and large enough */
    memcpy(w, proto, sizeof proto);
    w[6] = cfg->version;
    w[7] = flags;
    w = corio__mqtt_put_u16(w + 8, cfg->keepalive_s);
    if (v5) {
        w += corio__mqtt_varint_put(w, (uint32_t)plen);
        if (cfg->session_expiry_s)
            w = put_prop_u32(w, CORIO_MQTT_PROP_SESSION_EXPIRY, cfg->session_expiry_s);
        /* The broker must never send more than rx holds. */
        w = put_prop_u32(w, CORIO_MQTT_PROP_MAXIMUM_PACKET_SIZE,
                         c->rx_cap > MAX_PACKET_SIZE ? MAX_PACKET_SIZE : (uint32_t)c->rx_cap);
        if (cfg->auth_method)
            w = put_auth_props(c, w, data, len);
        if (app_props)
            memcpy(w, cfg->connect_props, app_props);
        w += app_props;
    }
    w = corio__mqtt_put_str(w, cfg->client_id, cfg->client_id_len);
#if CORIO_MQTT_WITH_WILL
    if (wl) {
        if (v5)
            w = corio__mqtt_put_props(w, wl->props, wl->props_len);
        w = corio__mqtt_put_str(w, wl->topic, wl->topic_len);
        w = corio__mqtt_put_str(w, wl->payload, wl->payload_len);
    }
#endif
    if (user)
        w = corio__mqtt_put_str(w, user, cfg->username_len);
    if (pass)
        corio__mqtt_put_str(w, pass, cfg->password_len);
    c->state = CORIO_MQTT_CONNECTING;
    /* Limits the broker may lower in CONNACK; these are the specification's defaults. */
    c->limits[L_KEEPALIVE] = cfg->keepalive_s;
    c->limits[L_QUOTA] = 0xFFFF;
    c->limits[L_MAX_QOS] = 1;
    c->limits[L_RETAIN] = 1;
    c->limits[L_MAX_PACKET] = MAX_PACKET_SIZE;
    c->limits[L_ALIAS_MAX] = 0;
    c->t_last_tx = now(c);
    flush(c);
}

/* Checks a PUBLISH the application gives (the rules of corio_mqtt_encode_publish()
 * but for those on qos, dup and the packet id, which the client sets itself) and the
 * broker's limits. Returns its Remaining Length, or an error. */
static int publish_check(struct corio_mqtt *c, const struct corio_mqtt_publish *m)
{
    uint8_t seen[CORIO__MQTT_PROP_SET];
    struct taken x = {c, NULL, 0, 0, false};
    if (m->qos > c->limits[L_MAX_QOS] || (m->retain && !c->limits[L_RETAIN]))
        return CORIO_ERR_UNSUPPORTED;
    /* MQTT 5.0 §3.3.4: a client never sends a Subscription Identifier; an empty topic
     * needs a Topic Alias. */
    if ((m->payload_len && !m->payload) || (m->topic_len && !m->topic) ||
        !props_ok(c->cfg.version, m->props, m->props_len, CORIO_MQTT_PUBLISH, seen, take, &x) ||
        (CORIO_MQTT_CHECK_OWN &&
         (!corio__mqtt_topic_name_ok((const uint8_t *)m->topic, m->topic_len) ||
          CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_SUBSCRIPTION_ID) ||
          (m->topic_len == 0 && !CORIO__MQTT_HAS(seen, CORIO_MQTT_PROP_TOPIC_ALIAS)))))
        return CORIO_ERR_INVAL;
    size_t rem = 2u + m->topic_len + (m->qos ? 2u : 0u) + m->payload_len;
    if (is_v5(c))
        rem += corio__mqtt_varint_len((uint32_t)m->props_len) + m->props_len;
    if (m->payload_len > CORIO_MQTT_MAX_REMAINING || rem > CORIO_MQTT_MAX_REMAINING)
        return CORIO_ERR_INVAL;
    size_t n = pkt_size(rem);
    if (n > c->tx_cap)
        return CORIO_ERR_NOSPACE;
    if (n > c->limits[L_MAX_PACKET])
        return CORIO_ERR_POLICY;
    if (x.alias > c->limits[L_ALIAS_MAX])
        return CORIO_ERR_POLICY;
    return (int)rem;
}

/* Queues the PUBLISH publish_check() passed (Remaining Length rem), with packet id
 * and DUP flag, into tx, which the caller made room in. */
static void put_publish(struct corio_mqtt *c, const struct corio_mqtt_publish *m, size_t rem,
                        uint16_t id, bool dup)
{
    uint8_t *w = begin(c,
                       CORIO_MQTT_PUBLISH << 4 | (dup ? 0x08u : 0u) | (unsigned)m->qos << 1 |
                           (m->retain ? 0x01u : 0u),
                       rem);
    w = corio__mqtt_put_str(w, m->topic, m->topic_len);
    if (m->qos)
        w = corio__mqtt_put_u16(w, id);
    if (is_v5(c))
        w = corio__mqtt_put_props(w, m->props, m->props_len);
    if (m->payload_len)
        memcpy(w, m->payload, m->payload_len);
}

/* Queues the PUBACK owed for an incoming QoS 1 PUBLISH, if tx has room. */
static bool emit_ack(struct corio_mqtt *c)
{
    if (!c->ack_pending)
        return true;
    /* The reason (0 under 3.1.1) is one on_publish() checked; 0 goes unsaid. */
    uint8_t *w = begin(c, CORIO_MQTT_PUBACK << 4, c->ack_reason ? 3u : 2u);
    if (!w)
        return false;
    w = corio__mqtt_put_u16(w, c->ack_id);
    if (c->ack_reason)
        *w = c->ack_reason;
    c->ack_pending = false;
    return true;
}

/* After a reconnect: unacknowledged publishes first, oldest first, one at a time
 * through an empty tx so that whatever fits the buffer also fits now. */
static void resend_pending(struct corio_mqtt *c)
{
    while (CORIO_MQTT_WITH_RESEND && c->state == CORIO_MQTT_CONNECTED && !c->pending_err) {
        struct corio_mqtt_inflight *e = NULL;
        for (size_t i = 0; i < CORIO_MQTT_MAX_INFLIGHT; i++)
            if (c->inflight[i].state == IF_RESEND &&
                (!e || c->inflight[i].order - e->order > 0x7FFFFFFFu))
                e = &c->inflight[i];
        if (!e || count_inflight(c, IF_WAIT_ACK) >= c->limits[L_QUOTA])
            return;
        flush(c);
        if (c->tx_len)
            return;
        struct corio_mqtt_publish m;
        memset(&m, 0, sizeof m);
        int rc = c->cb.resend ? c->cb.resend(c->user, e->token, &m) : CORIO_ERR_NOTFOUND;
        if (c->state != CORIO_MQTT_CONNECTED || e->state != IF_RESEND)
            return;
        if (rc != CORIO_OK) {
            publish_done(c, e, rc < 0 ? rc : CORIO_ERR_NOTFOUND, 0);
            continue;
        }
        m.qos = 1;
        int rem = publish_check(c, &m);
        if (rem < 0) {
            publish_done(c, e, rem, 0);
            continue;
        }
        put_publish(c, &m, (size_t)rem, e->packet_id, c->session_present); /* tx is empty */
        e->state = IF_WAIT_ACK;
        flush(c);
    }
}

/* The Remaining Length of a SUBSCRIBE (sub) or UNSUBSCRIBE of one filter: packet id,
 * an empty property block (MQTT 5), the filter, its options (SUBSCRIBE). */
static size_t sub_rem(const struct corio_mqtt *c, uint16_t filter_len, bool sub)
{
    return 4u + is_v5(c) + filter_len + sub;
}

/* Queues the (UN)SUBSCRIBEs due: one filter each, written by the client itself, as
 * PUBACK and DISCONNECT: the filter and options were checked by corio_mqtt_subscribe(). */
static void send_subscriptions(struct corio_mqtt *c)
{
    for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS && c->state == CORIO_MQTT_CONNECTED; i++) {
        struct corio_mqtt_subscription *s = &c->subs[i];
        if (s->state != SUB_SEND && (!CORIO_MQTT_WITH_UNSUBSCRIBE || s->state != SUB_UNSUB))
            continue;
        bool sub = !CORIO_MQTT_WITH_UNSUBSCRIBE || s->state == SUB_SEND;
        uint8_t *w =
            begin(c, sub ? CORIO_MQTT_SUBSCRIBE << 4 | 2u : CORIO_MQTT_UNSUBSCRIBE << 4 | 2u,
                  sub_rem(c, s->filter_len, sub));
        if (!w)
            return;
        uint16_t id = alloc_id(c);
        w = corio__mqtt_put_u16(w, id);
        if (is_v5(c))
            *w++ = 0; /* no properties */
        w = corio__mqtt_put_str(w, s->filter, s->filter_len);
        if (sub)
            *w = s->options;
        s->packet_id = id;
        s->state = sub ? SUB_WAIT : SUB_WAIT_UNSUB;
    }
}

static void keepalive(struct corio_mqtt *c, uint32_t t)
{
    if (c->limits[L_KEEPALIVE] == 0)
        return;
    uint32_t ka = c->limits[L_KEEPALIVE] * 1000u;
    if (c->ping_outstanding) {
        if (elapsed(t, c->t_ping, c->cfg.ping_timeout_ms))
            lose(c, CORIO_ERR_TIMEOUT, 0);
        return;
    }
    if (!elapsed(t, c->t_last_tx, ka))
        return;
    if (!begin(c, CORIO_MQTT_PINGREQ << 4, 0)) {
        /* Nothing has left tx for a keepalive period and a ping timeout: the link is dead. */
        if (elapsed(t, c->t_last_tx, ka + c->cfg.ping_timeout_ms))
            lose(c, CORIO_ERR_TIMEOUT, 0);
        return;
    }
    c->ping_outstanding = true;
    c->t_ping = t;
    flush(c);
}

/* ---------------------------------------------------------------------------------
 * Receiving. Each handler returns DONE when the packet is consumed, WAIT when it must
 * wait for room in tx, ENDED when the connection ended, or, when the broker broke the
 * protocol, the reason code (>= 0x80) handle() leaves with.
 */

enum { ENDED = -1, WAIT = 0, DONE = 1, PROTO = CORIO_MQTT_RC_PROTOCOL_ERROR };

/* Asks the auth callback for step; ENDED when the callback ended the connection or
 * (leaving with its error) failed, else DONE. */
static int ask_auth(struct corio_mqtt *c, enum corio_mqtt_auth_step step, const struct taken *x,
                    const uint8_t **out, size_t *out_len)
{
    uint8_t state = c->state;
    int rc = c->cb.auth(c->user, step, x->auth_data, x->auth_len, out, out_len);
    if (c->state != state)
        return ENDED;
    if (rc != CORIO_OK) {
        leave(c, rc, CORIO_MQTT_RC_IMPLEMENTATION_SPECIFIC);
        return ENDED;
    }
    return DONE;
}

static int on_connack(struct corio_mqtt *c, const struct corio_mqtt_connack *ack,
                      const struct taken *x)
{
    const uint8_t *out = NULL;
    size_t out_len = 0;
    /* The decoder let through only 0 (accepted) and refusals: 3.1.1's return codes
     * 1..5 and MQTT 5's failure codes. */
    if (ack->reason) {
        lose(c, CORIO_ERR_REFUSED, ack->reason);
        return ENDED;
    }
    /* A broker that claims a session we asked it to discard is broken. */
    if ((c->clean_this_time && ack->session_present) || x->other_method)
        return PROTO;
    if (c->cfg.auth_method && ask_auth(c, CORIO_MQTT_AUTH_SUCCESS, x, &out, &out_len) != DONE)
        return ENDED;
    c->state = CORIO_MQTT_CONNECTED;
    c->connected_once = true;
    if (CORIO_MQTT_WITH_RESEND)
        c->session_present = ack->session_present; /* DUP on resends */
    c->t_connected = now(c);
    if (c->cb.on_connect)
        c->cb.on_connect(c->user, ack);
    /* Without a session the broker has none of our subscriptions: send them again, and
     * a pending unsubscribe is already done. */
    if (!ack->session_present) {
        for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS; i++) {
            struct corio_mqtt_subscription *s = &c->subs[i];
            if (s->state == SUB_ACTIVE)
                s->state = SUB_SEND;
            else if (CORIO_MQTT_WITH_UNSUBSCRIBE && s->state == SUB_UNSUB)
                sub_gone(c, s, CORIO_MQTT_RC_SUCCESS, false);
        }
    }
    return DONE;
}

static int on_auth(struct corio_mqtt *c, const struct corio_mqtt_reason_packet *a,
                   const struct taken *x)
{
    const uint8_t *out = NULL;
    size_t out_len = 0;
    bool during_connect = c->state == CORIO_MQTT_CONNECTING;
    if (!c->cfg.auth_method || x->other_method || a->reason == CORIO_MQTT_RC_REAUTHENTICATE ||
        (!during_connect && !(CORIO_MQTT_WITH_REAUTH && c->reauth)) ||
        (during_connect && a->reason != CORIO_MQTT_RC_CONTINUE_AUTH))
        return PROTO;
    if (CORIO_MQTT_WITH_REAUTH && a->reason == CORIO_MQTT_RC_SUCCESS) {
        c->reauth = false;
        ask_auth(c, CORIO_MQTT_AUTH_SUCCESS, x, &out, &out_len);
        return c->state == CORIO_MQTT_CONNECTED ? DONE : ENDED;
    }
    /* The answer may be large: handle the challenge only once tx is empty, so that an
     * answer that fits the buffer at all fits now. */
    flush(c);
    if (c->tx_len)
        return WAIT;
    if (ask_auth(c, CORIO_MQTT_AUTH_CONTINUE, x, &out, &out_len) != DONE)
        return ENDED;
    int rc = send_auth(c, CORIO_MQTT_RC_CONTINUE_AUTH, out, out_len);
    if (rc == CORIO_ERR_AGAIN)
        rc = CORIO_ERR_NOSPACE; /* cannot happen with tx empty; be safe */
    if (rc != CORIO_OK) {
        leave(c, rc, CORIO_MQTT_RC_IMPLEMENTATION_SPECIFIC);
        return ENDED;
    }
    return DONE;
}

static int on_publish(struct corio_mqtt *c, const struct corio_mqtt_publish *m,
                      const struct taken *x)
{
    /* The client never subscribes with QoS 2 and announces no Topic Alias Maximum. */
    if (m->qos > 1)
        return PROTO;
    if (x->alias)
        return 0x94; /* Topic Alias invalid */
    uint8_t reason = c->cb.on_message ? c->cb.on_message(c->user, m) : 0;
    if (m->qos == 1 && (c->state == CORIO_MQTT_CONNECTED || c->state == CORIO_MQTT_DISCONNECTING)) {
        if (!is_v5(c))
            reason = 0;
        else if (CORIO_MQTT_CHECK_OWN && !corio__mqtt_reason_ok(CORIO_MQTT_PUBACK, reason, 1))
            reason = CORIO_MQTT_RC_UNSPECIFIED;
        c->ack_pending = true;
        c->ack_id = m->packet_id;
        c->ack_reason = reason;
        emit_ack(c);
    }
    return DONE;
}

static int on_puback(struct corio_mqtt *c, const struct corio_mqtt_ack *a)
{
    for (size_t i = 0; i < CORIO_MQTT_MAX_INFLIGHT; i++) {
        struct corio_mqtt_inflight *e = &c->inflight[i];
        if (e->state != IF_FREE && e->packet_id == a->packet_id) {
            publish_done(c, e, a->reason < 0x80 ? CORIO_OK : CORIO_ERR_REFUSED, a->reason);
            break;
        }
    }
    return DONE; /* (an id we do not hold: nothing to do) */
}

static int on_suback(struct corio_mqtt *c, uint8_t type, const struct corio_mqtt_suback *a)
{
    bool unsub = type == CORIO_MQTT_UNSUBACK;
    if (!CORIO_MQTT_WITH_UNSUBSCRIBE && unsub)
        return DONE; /* never asked for: as an id we do not hold */
    uint8_t want = unsub ? SUB_WAIT_UNSUB : SUB_WAIT;
    for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS; i++) {
        struct corio_mqtt_subscription *s = &c->subs[i];
        if (s->state != want || s->packet_id != a->packet_id)
            continue;
        /* One filter per request, so one reason code (none for a 3.1.1 UNSUBACK). */
        if (a->count != (unsub && !is_v5(c) ? 0u : 1u))
            return PROTO;
        uint8_t reason = a->count ? a->reasons[0] : 0;
        if (CORIO_MQTT_WITH_UNSUBSCRIBE && unsub) {
            sub_gone(c, s, reason, false);
        } else if (reason >= 0x80) {
            sub_gone(c, s, reason, true);
        } else {
            s->state = SUB_ACTIVE;
            if (c->cb.on_subscribe)
                c->cb.on_subscribe(c->user, s->filter, s->filter_len, reason);
        }
        break;
    }
    return DONE;
}

/* The handler for the packet (PROTO for one the client's state does not expect:
 * CONNACK twice, QoS 2 acknowledgements, anything before CONNACK). */
static int dispatch(struct corio_mqtt *c, const struct corio_mqtt_packet *p, const struct taken *x)
{
    if (p->type == CORIO_MQTT_DISCONNECT) {
        lose(c, CORIO_ERR_CLOSED, p->u.reason.reason);
        return ENDED;
    }
    if (p->type == CORIO_MQTT_AUTH)
        return on_auth(c, &p->u.reason, x);
    if (c->state == CORIO_MQTT_CONNECTING)
        return p->type == CORIO_MQTT_CONNACK ? on_connack(c, &p->u.connack, x) : PROTO;
    switch (p->type) {
    case CORIO_MQTT_PUBLISH:
        return on_publish(c, &p->u.publish, x);
    case CORIO_MQTT_PUBACK:
        return on_puback(c, &p->u.ack);
    case CORIO_MQTT_SUBACK:
    case CORIO_MQTT_UNSUBACK:
        return on_suback(c, p->type, &p->u.suback);
    case CORIO_MQTT_PINGRESP:
        c->ping_outstanding = false;
        return DONE;
    default:
        return PROTO;
    }
}

/* The packet at the start of rx, whose Remaining Length rem starts at rx[1] and
 * takes used bytes. Returns DONE, WAIT or ENDED. */
static int handle(struct corio_mqtt *c, size_t used, size_t rem)
{
    struct corio_mqtt_packet p;
    struct taken x = {c, NULL, 0, 0, false};
    int h = corio__mqtt_decode(c->cfg.version, c->rx[0], c->rx + 1 + used, rem, &p, take, &x) ==
                    CORIO_OK
                ? dispatch(c, &p, &x)
                : CORIO_MQTT_RC_MALFORMED;
    if (h < 0x80)
        return h;
    leave(c, CORIO_ERR_MALFORMED, (uint8_t)h);
    return ENDED;
}

static bool receiving(const struct corio_mqtt *c)
{
    return c->state == CORIO_MQTT_CONNECTING || c->state == CORIO_MQTT_CONNECTED;
}

static void receive(struct corio_mqtt *c)
{
    for (int round = 0; round < RECV_ROUNDS; round++) {
        for (;;) {
            uint32_t rem;
            size_t used;
            if (!emit_ack(c))
                return;
            /* The frame: a type byte and the Remaining Length (corio_mqtt_frame()). */
            int rc = c->rx_len < 2 ? CORIO_ERR_AGAIN
                                   : corio__mqtt_varint_get(c->rx + 1, c->rx_len - 1, &rem, &used);
            if (rc == CORIO_ERR_AGAIN)
                break;
            if (rc != CORIO_OK) {
                leave(c, CORIO_ERR_MALFORMED, CORIO_MQTT_RC_MALFORMED);
                return;
            }
            size_t plen = 1 + used + (size_t)rem;
            if (plen > c->rx_cap) {
                leave(c, CORIO_ERR_NOSPACE, CORIO_MQTT_RC_PACKET_TOO_LARGE);
                return;
            }
            if (plen > c->rx_len)
                break;
            int h = handle(c, used, rem);
            if (h <= 0 || !receiving(c))
                return;
            memmove(c->rx, c->rx + plen, c->rx_len - plen);
            c->rx_len -= plen;
        }
        if (c->pending_err)
            return;
        size_t room = c->rx_cap - c->rx_len;
        int n = c->tp.recv(c->tp.ctx, c->rx + c->rx_len, room);
        if (n == 0)
            return;
        if (n < 0 || (size_t)n > room) {
            lose(c, n < 0 ? n : CORIO_ERR_IO, 0);
            return;
        }
        c->rx_len += (size_t)n;
    }
}

/* ---------------------------------------------------------------------------------
 * The public calls
 */

int corio_mqtt_connect(struct corio_mqtt *c)
{
    if (!c)
        return CORIO_ERR_INVAL;
    if (c->state != CORIO_MQTT_STOPPED)
        return CORIO_ERR_STATE;
    c->state = CORIO_MQTT_WAITING;
    c->connected_once = false;
    c->failures = 0;
    c->t_next_attempt = now(c);
    return CORIO_OK;
}

/* Drives corio_mqtt_disconnect() to its end. */
static void disconnecting(struct corio_mqtt *c, uint32_t t)
{
    /* A PUBACK still owed goes out before the DISCONNECT. */
    if (c->disc_pending && !c->pending_err && emit_ack(c) && queue_disconnect(c, c->disc_reason))
        c->disc_pending = false;
    flush(c);
    if (!c->transport_open || c->pending_err || (!c->disc_pending && c->tx_len == 0) ||
        elapsed(t, c->t_state, c->cfg.ping_timeout_ms))
        lose(c, CORIO_OK, 0);
}

int corio_mqtt_process(struct corio_mqtt *c)
{
    if (!c)
        return CORIO_ERR_INVAL;
    if (c->pending_err && receiving(c))
        lose(c, c->pending_err, 0);
    uint32_t t = now(c);
    switch (c->state) {
    case CORIO_MQTT_STOPPED:
        return CORIO_OK;
    case CORIO_MQTT_DISCONNECTING:
        disconnecting(c, t);
        return CORIO_OK;
    case CORIO_MQTT_WAITING:
        if ((int32_t)(t - c->t_next_attempt) < 0)
            return CORIO_OK;
        c->state = CORIO_MQTT_OPENING;
        c->t_state = t;
        c->transport_open = true;
        /* fall through */
    case CORIO_MQTT_OPENING: {
        int rc = c->tp.open(c->tp.ctx);
        if (rc == CORIO_ERR_AGAIN) {
            if (elapsed(t, c->t_state, c->cfg.connect_timeout_ms))
                lose(c, CORIO_ERR_TIMEOUT, 0);
            return CORIO_OK;
        }
        if (rc != CORIO_OK) {
            lose(c, rc > 0 ? CORIO_ERR_IO : rc, 0);
            return CORIO_OK;
        }
        send_connect(c);
        break;
    }
    default:
        break;
    }
    if (!receiving(c))
        return CORIO_OK;
    flush(c);
    if (!c->pending_err)
        receive(c);
    t = now(c);
    if (c->state == CORIO_MQTT_CONNECTING && elapsed(t, c->t_state, c->cfg.connect_timeout_ms))
        lose(c, CORIO_ERR_TIMEOUT, 0);
    if (c->state == CORIO_MQTT_CONNECTED && !c->pending_err) {
        emit_ack(c);
        resend_pending(c);
        send_subscriptions(c);
        keepalive(c, t);
    }
    if (c->state == CORIO_MQTT_DISCONNECTING) {
        disconnecting(c, t);
        return CORIO_OK;
    }
    if (receiving(c)) {
        flush(c);
        if (c->pending_err)
            lose(c, c->pending_err, 0);
    }
    return CORIO_OK;
}

uint32_t corio_mqtt_poll_ms(const struct corio_mqtt *c)
{
    if (!c)
        return UINT32_MAX;
    /* Most states wait out a timeout: ms from since. */
    uint32_t t = now(c), since = c->t_state, ms = c->cfg.connect_timeout_ms, cap = UINT32_MAX;
    if (c->pending_err)
        return 0;
    switch (c->state) {
    case CORIO_MQTT_WAITING:
        since = t;
        ms = (int32_t)(t - c->t_next_attempt) >= 0 ? 0 : c->t_next_attempt - t;
        break;
    case CORIO_MQTT_OPENING:
        cap = CORIO_MQTT_OPEN_POLL_MS;
        break;
    case CORIO_MQTT_CONNECTING:
        break;
    /* Work that waits for room in tx resumes when the transport becomes writable
     * (corio_mqtt_want_write()), not on a timer: asking for 0 then would spin. */
    case CORIO_MQTT_DISCONNECTING:
        if (c->tx_len == 0)
            return 0;
        ms = c->cfg.ping_timeout_ms;
        break;
    case CORIO_MQTT_CONNECTED:
        if (c->tx_len == 0) {
            if (c->ack_pending)
                return 0;
            if (CORIO_MQTT_WITH_RESEND && count_inflight(c, IF_RESEND) &&
                count_inflight(c, IF_WAIT_ACK) < c->limits[L_QUOTA])
                return 0;
            for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS; i++)
                if (c->subs[i].state == SUB_SEND ||
                    (CORIO_MQTT_WITH_UNSUBSCRIBE && c->subs[i].state == SUB_UNSUB))
                    return 0;
        }
        if (c->limits[L_KEEPALIVE] == 0)
            return UINT32_MAX;
        since = c->ping_outstanding ? c->t_ping : c->t_last_tx;
        ms = c->ping_outstanding ? c->cfg.ping_timeout_ms : c->limits[L_KEEPALIVE] * 1000u;
        break;
    default:
        return UINT32_MAX;
    }
    ms = remaining(t, since, ms);
    return ms < cap ? ms : cap;
}

bool corio_mqtt_want_write(const struct corio_mqtt *c)
{
    return c && c->tx_head < c->tx_len;
}

enum corio_mqtt_state corio_mqtt_state(const struct corio_mqtt *c)
{
    return c ? (enum corio_mqtt_state)c->state : CORIO_MQTT_STOPPED;
}

size_t corio_mqtt_inflight_count(const struct corio_mqtt *c)
{
    return c ? CORIO_MQTT_MAX_INFLIGHT - count_inflight(c, IF_FREE) : 0;
}

int corio_mqtt_publish(struct corio_mqtt *c, const struct corio_mqtt_publish *msg, uint64_t token)
{
    if (!c || !msg || msg->qos > 1)
        return CORIO_ERR_INVAL;
    if (c->state != CORIO_MQTT_CONNECTED || c->pending_err)
        return CORIO_ERR_STATE;
    struct corio_mqtt_inflight *e = NULL;
    if (msg->qos == 1) {
        if (CORIO_MQTT_WITH_RESEND && count_inflight(c, IF_RESEND))
            return CORIO_ERR_AGAIN;
        /* A free entry, and the sent ones (none waits for a resend here) against
         * the broker's Receive Maximum. */
        size_t sent = 0;
        for (size_t i = 0; i < CORIO_MQTT_MAX_INFLIGHT; i++) {
            if (c->inflight[i].state != IF_FREE)
                sent++;
            else if (!e)
                e = &c->inflight[i];
        }
        if (!e || sent >= c->limits[L_QUOTA])
            return CORIO_ERR_FULL;
    }
    int rem = publish_check(c, msg);
    if (rem < 0)
        return rem;
    if (!tx_reserve(c, pkt_size((size_t)rem)))
        return CORIO_ERR_AGAIN;
    uint16_t id = e ? alloc_id(c) : 0;
    put_publish(c, msg, (size_t)rem, id, false);
    if (e) {
        e->token = token;
        e->packet_id = id;
        if (CORIO_MQTT_WITH_RESEND)
            e->order = c->next_order++; /* resends go in this order */
        e->state = IF_WAIT_ACK;
    }
    flush(c);
    return CORIO_OK;
}

int corio_mqtt_subscribe(struct corio_mqtt *c, const char *filter, uint16_t filter_len,
                         uint8_t options)
{
    /* The rules corio_mqtt_encode_subscribe() applies, with QoS 2 left out: options
     * bits 6-7 reserved, Retain Handling 0..2, nothing but QoS under 3.1.1. */
    if (!c || !filter || !filter_len || (options & 0xC2u) || (options & 0x30u) == 0x30u ||
        (!is_v5(c) && options > 1) ||
        (CORIO_MQTT_CHECK_OWN && !corio__mqtt_topic_filter_ok((const uint8_t *)filter, filter_len)))
        return CORIO_ERR_INVAL;
    if (pkt_size(sub_rem(c, filter_len, true)) > c->tx_cap)
        return CORIO_ERR_NOSPACE;
    struct corio_mqtt_subscription *s = NULL, *free_slot = NULL;
    for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS && !s; i++) {
        struct corio_mqtt_subscription *x = &c->subs[i];
        if (x->state == SUB_FREE) {
            if (!free_slot)
                free_slot = x;
        } else if (x->filter_len == filter_len && memcmp(x->filter, filter, filter_len) == 0) {
            if (CORIO_MQTT_WITH_UNSUBSCRIBE &&
                (x->state == SUB_UNSUB || x->state == SUB_WAIT_UNSUB))
                return CORIO_ERR_AGAIN;
            s = x;
        }
    }
    if (!s)
        s = free_slot;
    if (!s)
        return CORIO_ERR_FULL;
    s->filter = filter;
    s->filter_len = filter_len;
    s->options = options;
    s->state = SUB_SEND;
    return CORIO_OK;
}

int corio_mqtt_unsubscribe(struct corio_mqtt *c, const char *filter, uint16_t filter_len)
{
    if (!c || !filter)
        return CORIO_ERR_INVAL;
    if (!CORIO_MQTT_WITH_UNSUBSCRIBE)
        return CORIO_ERR_UNSUPPORTED;
    for (size_t i = 0; i < CORIO_MQTT_MAX_SUBSCRIPTIONS; i++) {
        struct corio_mqtt_subscription *s = &c->subs[i];
        if (s->state == SUB_FREE || s->filter_len != filter_len ||
            memcmp(s->filter, filter, filter_len) != 0)
            continue;
        if (s->state != SUB_WAIT_UNSUB)
            s->state = SUB_UNSUB;
        return CORIO_OK;
    }
    return CORIO_ERR_NOTFOUND;
}

int corio_mqtt_reauthenticate(struct corio_mqtt *c)
{
    if (!c)
        return CORIO_ERR_INVAL;
    if (!CORIO_MQTT_WITH_REAUTH)
        return CORIO_ERR_UNSUPPORTED;
    if (c->state != CORIO_MQTT_CONNECTED || !c->cfg.auth_method || c->reauth || c->pending_err)
        return CORIO_ERR_STATE;
    const uint8_t *data = NULL;
    size_t len = 0;
    int rc = c->cb.auth(c->user, CORIO_MQTT_AUTH_START, NULL, 0, &data, &len);
    if (rc != CORIO_OK)
        return rc;
    if (c->state != CORIO_MQTT_CONNECTED)
        return CORIO_ERR_STATE;
    rc = send_auth(c, CORIO_MQTT_RC_REAUTHENTICATE, data, len);
    if (rc == CORIO_OK)
        c->reauth = true;
    return rc;
}

int corio_mqtt_disconnect(struct corio_mqtt *c, uint8_t reason)
{
    if (!c)
        return CORIO_ERR_INVAL;
    if (c->state == CORIO_MQTT_STOPPED || c->state == CORIO_MQTT_DISCONNECTING)
        return CORIO_ERR_STATE;
    if (CORIO_MQTT_CHECK_OWN && is_v5(c) &&
        !corio__mqtt_reason_ok(CORIO_MQTT_DISCONNECT, reason, 1))
        return CORIO_ERR_INVAL;
    c->disc_pending = c->state == CORIO_MQTT_CONNECTED;
    c->disc_reason = reason;
    c->state = CORIO_MQTT_DISCONNECTING;
    c->t_state = now(c);
    return CORIO_OK;
}

int corio_mqtt_set_login(struct corio_mqtt *c, const char *username, uint16_t username_len,
                         const uint8_t *password, uint16_t password_len)
{
    if (!c || (!username && username_len) || (!password && password_len))
        return CORIO_ERR_INVAL;
    if (!CORIO_MQTT_WITH_LOGIN)
        return CORIO_ERR_UNSUPPORTED;
    if (!login_ok(c->cfg.version, username, username_len, password))
        return CORIO_ERR_INVAL;
    c->cfg.username = username;
    c->cfg.username_len = username_len;
    c->cfg.password = password;
    c->cfg.password_len = password_len;
    return CORIO_OK;
}
