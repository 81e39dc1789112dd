/*
 * coap_client.c - the CoAP client's state machine (coap.h): the transport's
 * association with backoff, the table of requests and observations, confirmable
 * retransmission with exponential back-off, matching of piggybacked and separate
 * responses by message id and token, deduplication of the peer's messages,
 * block-wise transfers both ways, and Observe with its ordering rule.
 *
 * The client stores no message: each entry holds the application's description of a
 * request (borrowed pointers) plus its progress (message id, token, block offsets), and
 * build() writes the current message into tx again for every (re)transmission. That
 * keeps RAM at one tx buffer however many exchanges are held.
 *
 * Two rules shape the code, as in the MQTT client. Callbacks run only inside
 * corio_coap_process(), so a cancellation is parked in the entry (E_ENDED) and reported
 * there. And any callback may call back into the client, so an entry that ends is freed
 * before its final callback, and after every callback the code re-reads what it needs.
 */
#include <string.h>

#include "corio/coap.h"

enum { E_FREE, E_QUEUED, E_WAIT_ACK, E_WAIT_RESP, E_OBSERVING, E_ENDED };
enum { K_REQUEST, K_OBSERVE };

#define MIN_BUFFER 64u

/* RFC 7252 §4.8.2: MAX_LATENCY. */
#define MAX_LATENCY_MS 100000u

/* RFC 7641 §3.4: a notification more than 128 s newer is fresh whatever its number. */
#define OBSERVE_FRESH_MS 128000u
#define OBSERVE_WRAP     (1u << 23)

/* Block2 bodies that may change under a transfer before it fails. */
#define MAX_RESTARTS 3

/* Bytes a request may need beyond its base options: Block1 (5), Size1 (6), Block2 (5)
 * and the payload marker. */
#define BLOCK_OVERHEAD 17u

#define SEEN_FREE 0xFFu

static uint32_t now(const struct corio_coap *c)
{
    return c->clk.now_ms(c->clk.ctx);
}

static bool elapsed(uint32_t t, uint32_t since, uint32_t ms)
{
    return t - since >= ms;
}

static uint32_t remaining(uint32_t t, uint32_t since, uint32_t ms)
{
    uint32_t gone = t - since;
    return gone >= ms ? 0 : ms - gone;
}

static uint32_t rand32(struct corio_coap *c)
{
    uint8_t b[4] = {0, 0, 0, 0};
    (void)c->rnd.fill(c->rnd.ctx, b, sizeof b);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* ---------------------------------------------------------------------------------
 * Configuration
 */

uint32_t corio_coap_backoff_delay(const struct corio_coap_backoff *b, uint32_t failures,
                                  uint32_t random)
{
    if (!b || failures == 0)
        return 0;
    uint64_t d = b->initial_ms;
    for (uint32_t i = 1; i < failures && d < b->max_ms; i++)
        d *= 2;
    if (d > b->max_ms)
        d = b->max_ms;
    uint64_t j = d * (b->jitter_pct > 100 ? 100u : b->jitter_pct) / 100u;
    return (uint32_t)(d - j + (j ? random % (j + 1) : 0));
}

void corio_coap_config_init(struct corio_coap_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->ack_timeout_ms = 2000;
    cfg->ack_random_factor_pct = 150;
    cfg->max_retransmit = 4;
    cfg->nstart = 1;
    cfg->response_timeout_ms = 60000;
    cfg->open_timeout_ms = 30000;
    cfg->block_szx = CORIO_COAP_BLOCK_MAX_SZX;
    cfg->token_len = 8;
    cfg->observe_refresh_min_ms = 30000;
    cfg->backoff.initial_ms = 1000;
    cfg->backoff.max_ms = 60000;
    cfg->backoff.jitter_pct = 50;
}

void corio_coap_request_init(struct corio_coap_request *req)
{
    if (!req)
        return;
    memset(req, 0, sizeof *req);
    req->method = CORIO_COAP_GET;
    req->content_format = CORIO_COAP_NO_FORMAT;
    req->accept = CORIO_COAP_NO_FORMAT;
}

int corio_coap_init(struct corio_coap *c, const struct corio_coap_config *cfg,
                    const struct corio_datagram *dg, const struct corio_clock *clk,
                    const struct corio_random *rnd, uint8_t *tx, size_t tx_cap, uint8_t *rx,
                    size_t rx_cap, const struct corio_coap_callbacks *cb, void *user)
{
    if (!c || !cfg || !dg || !dg->open || !dg->send || !dg->recv || !dg->close || !clk ||
        !clk->now_ms || !rnd || !rnd->fill || !tx || !rx || tx_cap < MIN_BUFFER ||
        rx_cap < MIN_BUFFER || !cb)
        return CORIO_ERR_INVAL;
    if (cfg->ack_timeout_ms == 0 || cfg->ack_timeout_ms > 60000 ||
        cfg->ack_random_factor_pct < 100 || cfg->ack_random_factor_pct > 400 ||
        cfg->max_retransmit > 10 || cfg->nstart == 0 || cfg->nstart > CORIO_COAP_MAX_EXCHANGES ||
        cfg->response_timeout_ms == 0 || cfg->open_timeout_ms == 0 ||
        cfg->block_szx > CORIO_COAP_BLOCK_MAX_SZX || cfg->token_len == 0 ||
        cfg->token_len > CORIO_COAP_MAX_TOKEN || cfg->backoff.jitter_pct > 100 ||
        cfg->backoff.max_ms < cfg->backoff.initial_ms)
        return CORIO_ERR_INVAL;

    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->dg = *dg;
    c->clk = *clk;
    c->rnd = *rnd;
    c->cb = *cb;
    c->user = user;
    c->tx = tx;
    c->tx_cap = tx_cap;
    c->rx = rx;
    c->rx_cap = rx_cap;
    c->state = CORIO_COAP_STOPPED;
    /* Message ids and tokens start at random places (RFC 7252 §4.4, §5.3.1): a restarted
     * device must not look like a retransmission of its former self. */
    uint8_t seed[10];
    int rc = rnd->fill(rnd->ctx, seed, sizeof seed);
    if (rc != CORIO_OK)
        return rc;
    memcpy(c->tok_salt, seed, sizeof c->tok_salt);
    c->next_tok =
        (uint32_t)seed[4] << 24 | (uint32_t)seed[5] << 16 | (uint32_t)seed[6] << 8 | seed[7];
    c->next_mid = (uint16_t)(seed[8] << 8 | seed[9]);
    /* RFC 7252 §4.8.2, with this configuration's parameters. */
    uint64_t span = (uint64_t)cfg->ack_timeout_ms * ((1u << cfg->max_retransmit) - 1u) *
                    cfg->ack_random_factor_pct / 100u;
    c->exchange_lifetime = (uint32_t)(span + 2u * MAX_LATENCY_MS + cfg->ack_timeout_ms);
    c->non_lifetime = (uint32_t)(span + MAX_LATENCY_MS);
    for (size_t i = 0; i < CORIO_COAP_DEDUP_SIZE; i++)
        c->seen[i].type = SEEN_FREE;
    return CORIO_OK;
}

/* ---------------------------------------------------------------------------------
 * Building and sending messages
 */

static bool has_payload(const struct corio_coap_entry *e)
{
    return e->kind == K_REQUEST && !e->b2_next && e->req.payload_len > 0;
}

/* Writes e's current message with the given id and token into buf (NULL: counts).
 * omit_blocks leaves out the block options and the payload, to measure the base of a
 * request. */
static int build(const struct corio_coap *c, const struct corio_coap_entry *e, uint16_t mid,
                 const uint8_t *tok, uint8_t *buf, size_t cap, bool omit_blocks)
{
    struct corio_coap_writer w;
    const struct corio_coap_request *q = &e->req;
    uint8_t type = q->non_confirmable ? CORIO_COAP_NON : CORIO_COAP_CON;
    uint8_t code = e->kind == K_OBSERVE ? CORIO_COAP_GET : q->method;
    corio_coap_write_begin(&w, buf, cap, type, code, mid, tok, c->cfg.token_len);
    if (e->kind == K_OBSERVE && !e->b2_next)
        corio_coap_write_uint(&w, CORIO_COAP_OPT_OBSERVE, e->cancelling ? 1u : 0u);
    if (q->path)
        corio_coap_write_path(&w, CORIO_COAP_OPT_URI_PATH, q->path, strlen(q->path));
    if (has_payload(e) && q->content_format >= 0)
        corio_coap_write_uint(&w, CORIO_COAP_OPT_CONTENT_FORMAT, (uint32_t)q->content_format);
    if (q->query)
        corio_coap_write_query(&w, q->query, strlen(q->query));
    if (q->accept >= 0)
        corio_coap_write_uint(&w, CORIO_COAP_OPT_ACCEPT, (uint32_t)q->accept);
    size_t body = 0;
    const uint8_t *piece = q->payload;
    if (has_payload(e))
        body = q->payload_len;
    if (!omit_blocks) {
        struct corio_coap_block b;
        if (e->b2_next) {
            b.num = e->b2_off >> (e->b2_szx + 4u);
            b.more = false;
            b.szx = e->b2_szx;
            corio_coap_write_uint(&w, CORIO_COAP_OPT_BLOCK2, corio_coap_block_value(&b));
        } else if (e->b2_szx < CORIO_COAP_BLOCK_MAX_SZX &&
                   (code == CORIO_COAP_GET || code == CORIO_COAP_FETCH)) {
            /* RFC 7959 §2.4: ask early for blocks that fit rx. */
            b.num = 0;
            b.more = false;
            b.szx = e->b2_szx;
            corio_coap_write_uint(&w, CORIO_COAP_OPT_BLOCK2, corio_coap_block_value(&b));
        }
        if (e->use_b1 && has_payload(e)) {
            size_t size = CORIO_COAP_BLOCK_SIZE(e->b1_szx);
            piece = q->payload + e->b1_off;
            body = q->payload_len - e->b1_off < size ? q->payload_len - e->b1_off : size;
            b.num = e->b1_off >> (e->b1_szx + 4u);
            b.more = e->b1_off + body < q->payload_len;
            b.szx = e->b1_szx;
            corio_coap_write_uint(&w, CORIO_COAP_OPT_BLOCK1, corio_coap_block_value(&b));
            if (e->b1_off == 0) /* RFC 7959 §4: the whole size, once */
                corio_coap_write_uint(&w, CORIO_COAP_OPT_SIZE1, (uint32_t)q->payload_len);
        }
        corio_coap_write_payload(&w, piece, body);
    }
    return corio_coap_write_end(&w);
}

/* Sends an Empty ACK or RST for the peer's message mid; failures are the peer's to
 * recover from (it retransmits). */
static void send_empty(struct corio_coap *c, uint8_t type, uint16_t mid)
{
    struct corio_coap_writer w;
    corio_coap_write_begin(&w, c->tx, c->tx_cap, type, CORIO_COAP_EMPTY, mid, NULL, 0);
    int n = corio_coap_write_end(&w);
    if (n > 0)
        (void)c->dg.send(c->dg.ctx, c->tx, (size_t)n);
}

/* A token no held entry uses. */
static void new_token(struct corio_coap *c, uint8_t *tok)
{
    uint8_t len = c->cfg.token_len;
    for (;;) {
        uint32_t n = c->next_tok++;
        for (uint8_t i = 0; i < len; i++) {
            uint8_t k = (uint8_t)(len - 1u - i); /* bytes from the end */
            tok[i] = (uint8_t)(k < 4 ? n >> (8u * k) : c->tok_salt[k & 3u]);
        }
        bool used = false;
        for (size_t j = 0; j < CORIO_COAP_MAX_EXCHANGES; j++)
            if (c->entry[j].state != E_FREE && c->entry[j].tok_len == len &&
                (memcmp(c->entry[j].tok, tok, len) == 0 || memcmp(c->entry[j].ftok, tok, len) == 0))
                used = true;
        if (!used)
            return;
    }
}

/* An observation fetching the rest of a large notification (RFC 7959 §2.6). */
static bool fetching(const struct corio_coap_entry *e)
{
    return e->kind == K_OBSERVE && e->b2_next;
}

/* The token of e's current exchange. */
static const uint8_t *cur_tok(const struct corio_coap_entry *e)
{
    return fetching(e) ? e->ftok : e->tok;
}

static uint32_t initial_rto(struct corio_coap *c)
{
    uint32_t base = c->cfg.ack_timeout_ms;
    uint32_t span = (uint32_t)((uint64_t)base * (c->cfg.ack_random_factor_pct - 100u) / 100u);
    return base + (span ? rand32(c) % (span + 1u) : 0);
}

/* Sends e's current message: a new one (fresh: new message id, and a new token unless
 * an observation already has one) or a retransmission. Returns 1 when sent, 0 when the
 * transport would block (nothing changed), or a negative error. */
static int transmit(struct corio_coap *c, struct corio_coap_entry *e, bool fresh)
{
    uint8_t tok[CORIO_COAP_MAX_TOKEN];
    uint16_t mid = fresh ? c->next_mid : e->mid;
    /* An observation keeps its token for every registration; each fetch of the rest of
     * a notification and each request message gets a new one. */
    if (!fresh || (e->kind == K_OBSERVE && e->tok_len && !fetching(e)))
        memcpy(tok, cur_tok(e), sizeof tok);
    else
        new_token(c, tok);
    int n = build(c, e, mid, tok, c->tx, c->tx_cap, false);
    if (n < 0)
        return n;
    int rc = c->dg.send(c->dg.ctx, c->tx, (size_t)n);
    if (rc == 0) {
        c->want_write = true;
        return 0;
    }
    if (rc < 0)
        return rc;
    c->want_write = false;
    uint32_t t = now(c);
    if (fresh) {
        c->next_mid++;
        e->mid = mid;
        memcpy(fetching(e) ? e->ftok : e->tok, tok, sizeof tok);
        e->tok_len = c->cfg.token_len;
        e->tries = 1;
        e->rto = initial_rto(c);
        e->state = e->req.non_confirmable ? E_WAIT_RESP : E_WAIT_ACK;
    } else {
        e->tries++;
        e->rto *= 2;
    }
    e->t_tx = t;
    return 1;
}

/* ---------------------------------------------------------------------------------
 * Entries
 */

static struct corio_coap_entry *find_token(struct corio_coap *c, uint64_t token)
{
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++)
        if (c->entry[i].state != E_FREE && c->entry[i].user_token == token)
            return &c->entry[i];
    return NULL;
}

static bool in_flight(const struct corio_coap_entry *e)
{
    return e->state == E_WAIT_ACK || e->state == E_WAIT_RESP;
}

/* Puts e back in the queue to send its next message no earlier than delay ms. */
static void requeue(struct corio_coap *c, struct corio_coap_entry *e, uint32_t delay)
{
    e->state = E_QUEUED;
    e->tries = 0;
    e->t_due = now(c) + delay;
}

/* Ends e with an error (r NULL) or a final response; the slot is free before the
 * callback runs. */
static void finish(struct corio_coap *c, struct corio_coap_entry *e, int result,
                   const struct corio_coap_response *r)
{
    uint64_t token = e->user_token;
    memset(e, 0, sizeof *e);
    e->state = E_FREE;
    if (c->cb.on_response)
        c->cb.on_response(c->user, token, result, r);
}

/* The largest SZX not above max whose block plus extra bytes fits cap. */
static uint8_t fit_szx(uint8_t max, size_t cap, size_t extra)
{
    uint8_t szx = max;
    while (szx > 0 && (extra > cap || CORIO_COAP_BLOCK_SIZE(szx) > cap - extra))
        szx--;
    return szx;
}

static int add(struct corio_coap *c, const struct corio_coap_request *req, uint64_t token,
               uint8_t kind)
{
    if (!c || !req)
        return CORIO_ERR_INVAL;
    if (c->stopping)
        return CORIO_ERR_STATE;
    if (req->method < CORIO_COAP_GET || req->method > CORIO_COAP_IPATCH ||
        req->content_format < CORIO_COAP_NO_FORMAT || req->content_format > 0xFFFF ||
        req->accept < CORIO_COAP_NO_FORMAT || req->accept > 0xFFFF ||
        (req->payload_len && !req->payload) || find_token(c, token))
        return CORIO_ERR_INVAL;
    struct corio_coap_entry *e = NULL;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES && !e; i++)
        if (c->entry[i].state == E_FREE)
            e = &c->entry[i];
    if (!e)
        return CORIO_ERR_FULL;

    struct corio_coap_entry n;
    memset(&n, 0, sizeof n);
    n.req = *req;
    n.kind = kind;
    if (kind == K_OBSERVE) {
        n.req.method = CORIO_COAP_GET;
        n.req.payload = NULL;
        n.req.payload_len = 0;
    }
    n.user_token = token;
    n.b2_szx = fit_szx(c->cfg.block_szx, c->rx_cap, CORIO_COAP_RX_SLACK);
    /* The base message: header, token and the request's own options. */
    static const uint8_t no_token[CORIO_COAP_MAX_TOKEN];
    int base = build(c, &n, 0, no_token, NULL, 0, true);
    if (base < 0)
        return base;
    size_t len = n.req.payload_len;
    size_t need = (size_t)base + BLOCK_OVERHEAD;
    if (need > c->tx_cap)
        return CORIO_ERR_NOSPACE;
    if (len > CORIO_COAP_BLOCK_SIZE(c->cfg.block_szx) || len > c->tx_cap - need) {
        if (c->tx_cap - need < CORIO_COAP_BLOCK_SIZE(0))
            return CORIO_ERR_NOSPACE;
        n.use_b1 = true;
        n.b1_szx = fit_szx(c->cfg.block_szx, c->tx_cap, need);
        if (len > ((size_t)CORIO_COAP_BLOCK_MAX_NUM + 1u) * CORIO_COAP_BLOCK_SIZE(n.b1_szx))
            return CORIO_ERR_NOSPACE;
    }
    n.order = c->next_order++;
    *e = n;
    requeue(c, e, 0);
    return CORIO_OK;
}

int corio_coap_request(struct corio_coap *c, const struct corio_coap_request *req, uint64_t token)
{
    return add(c, req, token, K_REQUEST);
}

int corio_coap_observe(struct corio_coap *c, const struct corio_coap_request *req, uint64_t token)
{
    return add(c, req, token, K_OBSERVE);
}

int corio_coap_cancel(struct corio_coap *c, uint64_t token)
{
    if (!c)
        return CORIO_ERR_INVAL;
    struct corio_coap_entry *e = find_token(c, token);
    if (!e || e->state == E_ENDED || e->cancelling)
        return CORIO_ERR_NOTFOUND;
    if (e->kind == K_OBSERVE && e->tok_len && c->state == CORIO_COAP_OPEN && !c->stopping) {
        /* The peer may list us: deregister with the same token (RFC 7641 §3.6). */
        e->cancelling = true;
        e->b2_next = false;
        requeue(c, e, 0);
        return CORIO_OK;
    }
    e->state = E_ENDED;
    e->result = CORIO_ERR_CLOSED;
    return CORIO_OK;
}

size_t corio_coap_pending(const struct corio_coap *c)
{
    size_t n = 0;
    if (!c)
        return 0;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++)
        n += c->entry[i].state != E_FREE;
    return n;
}

/* ---------------------------------------------------------------------------------
 * The association
 */

int corio_coap_start(struct corio_coap *c)
{
    if (!c)
        return CORIO_ERR_INVAL;
    if (c->state != CORIO_COAP_STOPPED || c->stopping)
        return CORIO_ERR_STATE;
    c->state = CORIO_COAP_WAITING;
    c->failures = 0;
    c->wait_ms = 0;
    c->t_state = now(c);
    return CORIO_OK;
}

int corio_coap_stop(struct corio_coap *c)
{
    if (!c)
        return CORIO_ERR_INVAL;
    if (c->stopping || (c->state == CORIO_COAP_STOPPED && corio_coap_pending(c) == 0))
        return CORIO_ERR_STATE;
    c->stopping = true;
    return CORIO_OK;
}

enum corio_coap_state corio_coap_state(const struct corio_coap *c)
{
    return c ? (enum corio_coap_state)c->state : CORIO_COAP_STOPPED;
}

bool corio_coap_want_write(const struct corio_coap *c)
{
    return c && c->state == CORIO_COAP_OPEN && c->want_write;
}

/* Everything in flight starts over on the next association. */
static void reset_entries(struct corio_coap *c)
{
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++) {
        struct corio_coap_entry *e = &c->entry[i];
        if (!in_flight(e) && e->state != E_OBSERVING && e->state != E_QUEUED)
            continue;
        /* The peer keeps Block1 state per endpoint: a new one starts from block 0.
         * Block2 resumes where it was (each block is a request of its own). */
        e->b1_off = 0;
        e->obs_have = false;
        if (e->kind == K_OBSERVE)
            e->b2_next = false; /* an observation registers from scratch */
        if (e->state != E_QUEUED)
            requeue(c, e, 0);
    }
}

/* The association ended (err < 0): close, back off, and start entries over. */
static void lose(struct corio_coap *c, int err)
{
    c->dg.close(c->dg.ctx);
    c->state = CORIO_COAP_WAITING;
    c->want_write = false;
    c->failures++;
    c->wait_ms = corio_coap_backoff_delay(&c->cfg.backoff, c->failures, rand32(c));
    c->t_state = now(c);
    reset_entries(c);
    if (c->cb.on_close)
        c->cb.on_close(c->user, err);
}

static void finish_stop(struct corio_coap *c)
{
    if (c->state != CORIO_COAP_STOPPED)
        c->dg.close(c->dg.ctx);
    c->state = CORIO_COAP_STOPPED;
    c->want_write = false;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++)
        if (c->entry[i].state != E_FREE)
            finish(c, &c->entry[i], CORIO_ERR_CLOSED, NULL);
    c->stopping = false;
    if (c->cb.on_close)
        c->cb.on_close(c->user, CORIO_OK);
}

/* ---------------------------------------------------------------------------------
 * Deduplication of the peer's messages (RFC 7252 §4.5)
 */

static struct corio_coap_seen *seen_find(struct corio_coap *c, uint16_t mid, uint32_t t)
{
    for (size_t i = 0; i < CORIO_COAP_DEDUP_SIZE; i++) {
        struct corio_coap_seen *s = &c->seen[i];
        if (s->type == SEEN_FREE || s->mid != mid)
            continue;
        uint32_t life = s->type == CORIO_COAP_CON ? c->exchange_lifetime : c->non_lifetime;
        if (!elapsed(t, s->t, life))
            return s;
    }
    return NULL;
}

static void seen_add(struct corio_coap *c, uint16_t mid, uint8_t type, uint8_t reply, uint32_t t)
{
    struct corio_coap_seen *slot = &c->seen[0];
    for (size_t i = 0; i < CORIO_COAP_DEDUP_SIZE; i++) {
        struct corio_coap_seen *s = &c->seen[i];
        if (s->type == SEEN_FREE) {
            slot = s;
            break;
        }
        if (t - s->t > t - slot->t) /* the oldest goes */
            slot = s;
    }
    slot->t = t;
    slot->mid = mid;
    slot->type = type;
    slot->reply = reply;
}

/* ---------------------------------------------------------------------------------
 * Responses
 */

static void describe(const struct corio_coap_msg *m, struct corio_coap_response *r)
{
    struct corio_coap_option o;
    uint32_t v;
    memset(r, 0, sizeof *r);
    r->code = m->code;
    r->msg = m;
    r->payload = m->payload;
    r->payload_len = m->payload_len;
    r->content_format = CORIO_COAP_NO_FORMAT;
    r->max_age_s = 60;
    if (corio_coap_opt_find(m, CORIO_COAP_OPT_CONTENT_FORMAT, &o) == CORIO_OK &&
        corio_coap_opt_uint(&o, &v) == CORIO_OK && v <= 0xFFFFu)
        r->content_format = (int32_t)v;
    if (corio_coap_opt_find(m, CORIO_COAP_OPT_OBSERVE, &o) == CORIO_OK && o.len <= 3 &&
        corio_coap_opt_uint(&o, &v) == CORIO_OK) {
        r->observe = true;
        r->observe_seq = v;
    }
    if (corio_coap_opt_find(m, CORIO_COAP_OPT_MAX_AGE, &o) == CORIO_OK &&
        corio_coap_opt_uint(&o, &v) == CORIO_OK)
        r->max_age_s = v;
}

/* RFC 7641 §3.4. */
static bool fresh(uint32_t v1, uint32_t t1, uint32_t v2, uint32_t t2)
{
    return (v1 < v2 && v2 - v1 < OBSERVE_WRAP) || (v1 > v2 && v1 - v2 > OBSERVE_WRAP) ||
           t2 - t1 > OBSERVE_FRESH_MS;
}

static void observe_mark(struct corio_coap *c, struct corio_coap_entry *e,
                         const struct corio_coap_response *r)
{
    e->obs_seq = r->observe_seq;
    e->t_obs = now(c);
    e->obs_have = true;
    uint64_t age = (uint64_t)r->max_age_s * 1000u;
    e->obs_refresh = age > c->cfg.observe_refresh_min_ms
                         ? (age > 0x7FFFFFFFu ? 0x7FFFFFFFu : (uint32_t)age)
                         : c->cfg.observe_refresh_min_ms;
}

struct blocks {
    struct corio_coap_block b1, b2;
    bool has_b1, has_b2;
};

/* m's Block1 and Block2 options. Returns CORIO_OK or CORIO_ERR_MALFORMED. */
static int get_blocks(const struct corio_coap_msg *m, struct blocks *b)
{
    struct corio_coap_option o;
    memset(b, 0, sizeof *b);
    if (corio_coap_opt_find(m, CORIO_COAP_OPT_BLOCK1, &o) == CORIO_OK) {
        if (corio_coap_block_get(&o, &b->b1) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        b->has_b1 = true;
    }
    if (corio_coap_opt_find(m, CORIO_COAP_OPT_BLOCK2, &o) == CORIO_OK) {
        if (corio_coap_block_get(&o, &b->b2) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        b->has_b2 = true;
    }
    return CORIO_OK;
}

/* Remembers m's ETag (or that it has none) for the blocks that follow. */
static void keep_etag(struct corio_coap_entry *e, const struct corio_coap_msg *m)
{
    struct corio_coap_option et;
    e->etag_len = 0;
    if (corio_coap_opt_find(m, CORIO_COAP_OPT_ETAG, &et) == CORIO_OK && et.len <= sizeof e->etag) {
        memcpy(e->etag, et.value, et.len);
        e->etag_len = (uint8_t)et.len;
    }
}

/* Whether m carries an ETag other than the one kept (absent on either side: no). */
static bool etag_changed(const struct corio_coap_entry *e, const struct corio_coap_msg *m)
{
    struct corio_coap_option et;
    return e->etag_len && corio_coap_opt_find(m, CORIO_COAP_OPT_ETAG, &et) == CORIO_OK &&
           (et.len != e->etag_len || memcmp(et.value, e->etag, et.len) != 0);
}

/* Fetching the rest of a notification failed: register again after a pause; the answer
 * brings the whole current state from offset 0. */
static void refetch(struct corio_coap *c, struct corio_coap_entry *e)
{
    e->b2_next = false;
    requeue(c, e, c->cfg.backoff.initial_ms);
}

/* Delivers a fresh notification (or a registration's answer); one larger than a block
 * is delivered as its first piece and the rest is fetched (RFC 7959 §2.6). */
static void deliver_notification(struct corio_coap *c, struct corio_coap_entry *e,
                                 const struct corio_coap_msg *m, struct corio_coap_response *r)
{
    struct blocks b;
    observe_mark(c, e, r);
    e->b2_next = false;
    e->state = E_OBSERVING;
    r->offset = 0;
    r->more = false;
    if (get_blocks(m, &b) == CORIO_OK && b.has_b2 && b.b2.more && b.b2.num == 0 &&
        m->payload_len == CORIO_COAP_BLOCK_SIZE(b.b2.szx)) {
        keep_etag(e, m);
        e->b2_off = (uint32_t)m->payload_len;
        e->b2_szx = b.b2.szx;
        e->b2_next = true;
        requeue(c, e, 0);
        r->more = true;
    }
    if (c->cb.on_notify)
        c->cb.on_notify(c->user, e->user_token, r);
}

/* A notification for an observation (established, or fetching the rest of one). */
static void notification(struct corio_coap *c, struct corio_coap_entry *e,
                         const struct corio_coap_msg *m, struct corio_coap_response *r)
{
    if (!r->observe || CORIO_COAP_CLASS(r->code) != 2) {
        /* The peer removed us (RFC 7641 §3.2: a response without Observe ends it). */
        finish(c, e, CORIO_OK, r);
        return;
    }
    if (e->obs_have && !fresh(e->obs_seq, e->t_obs, r->observe_seq, now(c)))
        return;
    deliver_notification(c, e, m, r); /* a newer one replaces a fetch in progress */
}

/* A block of the rest of a notification. */
static void fetch_response(struct corio_coap *c, struct corio_coap_entry *e,
                           const struct corio_coap_msg *m, struct corio_coap_response *r)
{
    struct blocks b;
    if (CORIO_COAP_CLASS(r->code) != 2 || get_blocks(m, &b) != CORIO_OK || !b.has_b2 ||
        etag_changed(e, m)) {
        refetch(c, e);
        return;
    }
    uint32_t off = b.b2.num << (b.b2.szx + 4u);
    size_t size = CORIO_COAP_BLOCK_SIZE(b.b2.szx);
    if (off != e->b2_off || b.b2.szx > e->b2_szx || (b.b2.more && m->payload_len != size) ||
        (!b.b2.more && m->payload_len > size) ||
        (b.b2.more && b.b2.num >= CORIO_COAP_BLOCK_MAX_NUM)) {
        refetch(c, e);
        return;
    }
    r->offset = off;
    r->more = b.b2.more;
    if (b.b2.more) {
        e->b2_off = off + (uint32_t)size;
        e->b2_szx = b.b2.szx;
        requeue(c, e, 0);
    } else {
        e->b2_next = false;
        e->state = E_OBSERVING;
    }
    if (c->cb.on_notify)
        c->cb.on_notify(c->user, e->user_token, r);
}

/* A response matched to e's exchange in flight. */
static void exchange_response(struct corio_coap *c, struct corio_coap_entry *e,
                              const struct corio_coap_msg *m, struct corio_coap_response *r)
{
    if (e->kind == K_OBSERVE) {
        if (!e->cancelling && r->observe && CORIO_COAP_CLASS(r->code) == 2) {
            /* Registered: the answer is the first notification, whatever its number. */
            deliver_notification(c, e, m, r);
            return;
        }
        finish(c, e, CORIO_OK, r);
        return;
    }
    struct blocks bl;
    if (get_blocks(m, &bl) != CORIO_OK) {
        finish(c, e, CORIO_ERR_MALFORMED, NULL);
        return;
    }
    const struct corio_coap_block b1 = bl.b1, b2 = bl.b2;
    const bool has_b1 = bl.has_b1, has_b2 = bl.has_b2;

    /* Block1 (RFC 7959 §2.3, §2.9.3). */
    if (has_payload(e) && e->use_b1) {
        size_t size = CORIO_COAP_BLOCK_SIZE(e->b1_szx);
        bool more = e->b1_off + size < e->req.payload_len;
        if (r->code == CORIO_COAP_CONTINUE) {
            /* The peer names the block it got in our size or, when it asks for smaller
             * blocks, in its own (RFC 7959 figure 5). */
            if (!has_b1 || !more || b1.szx > e->b1_szx ||
                (b1.num != e->b1_off >> (e->b1_szx + 4u) && b1.num != e->b1_off >> (b1.szx + 4u))) {
                finish(c, e, CORIO_ERR_MALFORMED, NULL);
                return;
            }
            e->b1_off += (uint32_t)size;
            e->b1_szx = b1.szx; /* the peer may ask for smaller blocks */
            requeue(c, e, 0);
            return;
        }
        if (r->code == CORIO_COAP_REQUEST_ENTITY_TOO_LARGE && has_b1 && b1.szx < e->b1_szx) {
            e->b1_szx = b1.szx;
            e->b1_off = 0;
            requeue(c, e, 0);
            return;
        }
    } else if (has_payload(e) && r->code == CORIO_COAP_REQUEST_ENTITY_TOO_LARGE && has_b1 &&
               e->req.payload_len > CORIO_COAP_BLOCK_SIZE(b1.szx)) {
        /* The peer wants the body block-wise, in blocks this large. */
        e->use_b1 = true;
        e->b1_szx = b1.szx;
        e->b1_off = 0;
        requeue(c, e, 0);
        return;
    }

    /* Block2 (RFC 7959 §2.4). */
    if (has_b2 && CORIO_COAP_CLASS(r->code) == 2) {
        uint32_t off = b2.num << (b2.szx + 4u);
        size_t size = CORIO_COAP_BLOCK_SIZE(b2.szx);
        if (e->b2_off > 0 && etag_changed(e, m)) {
            /* The representation changed: start the body over. */
            if (++e->restarts > MAX_RESTARTS) {
                finish(c, e, CORIO_ERR_STATE, NULL);
                return;
            }
            e->b2_off = 0;
            e->etag_len = 0;
            if (off != 0) {
                e->b2_next = true;
                requeue(c, e, 0);
                return;
            }
        }
        if (off != e->b2_off || (b2.more && m->payload_len != size) ||
            (!b2.more && m->payload_len > size) || (e->b2_next && b2.szx > e->b2_szx)) {
            finish(c, e, CORIO_ERR_MALFORMED, NULL);
            return;
        }
        if (off == 0)
            keep_etag(e, m);
        r->offset = off;
        r->more = b2.more;
        if (!b2.more) {
            finish(c, e, CORIO_OK, r);
            return;
        }
        if (b2.num >= CORIO_COAP_BLOCK_MAX_NUM) {
            finish(c, e, CORIO_ERR_MALFORMED, NULL); /* no next block can be named */
            return;
        }
        uint64_t token = e->user_token;
        e->b2_off = off + (uint32_t)size;
        e->b2_szx = b2.szx;
        e->b2_next = true;
        requeue(c, e, 0);
        if (c->cb.on_response)
            c->cb.on_response(c->user, token, CORIO_OK, r);
        return;
    }
    finish(c, e, CORIO_OK, r);
}

/* A response (class 2..5) m for e: in its exchange (fetch: the fetch of the rest of a
 * notification), or a notification. */
static void response(struct corio_coap *c, struct corio_coap_entry *e,
                     const struct corio_coap_msg *m, bool fetch)
{
    struct corio_coap_response r;
    if (corio_coap_options_check(m, NULL) != CORIO_OK) {
        if (fetch)
            refetch(c, e);
        else
            finish(c, e, CORIO_ERR_UNSUPPORTED, NULL);
        return;
    }
    describe(m, &r);
    if (fetch)
        fetch_response(c, e, m, &r);
    else if (e->state == E_OBSERVING || fetching(e))
        notification(c, e, m, &r);
    else
        exchange_response(c, e, m, &r);
}

static bool same_token(const uint8_t *tok, uint8_t len, const struct corio_coap_msg *m)
{
    return len && len == m->token_len && memcmp(tok, m->token, len) == 0;
}

/* The entry whose token m carries, among those that may receive a response; *fetch
 * tells whether it is the token of a fetch of the rest of a notification. */
static struct corio_coap_entry *match_token(struct corio_coap *c, const struct corio_coap_msg *m,
                                            bool *fetch)
{
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++) {
        struct corio_coap_entry *e = &c->entry[i];
        /* An observation waiting to re-register still receives its notifications. */
        bool listens = in_flight(e) || e->state == E_OBSERVING ||
                       (e->state == E_QUEUED && e->kind == K_OBSERVE && !e->cancelling);
        if (listens && same_token(e->tok, e->tok_len, m)) {
            *fetch = false;
            return e;
        }
        if (fetching(e) && in_flight(e) && same_token(e->ftok, e->tok_len, m)) {
            *fetch = true;
            return e;
        }
    }
    return NULL;
}

static void on_ack(struct corio_coap *c, const struct corio_coap_msg *m)
{
    struct corio_coap_entry *e = NULL;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES && !e; i++)
        if (c->entry[i].state == E_WAIT_ACK && c->entry[i].mid == m->mid)
            e = &c->entry[i];
    if (!e) {
        /* A late piggybacked answer to a registration already answered otherwise is
         * still a notification. */
        bool fetch;
        if (m->code != CORIO_COAP_EMPTY) {
            struct corio_coap_entry *o = match_token(c, m, &fetch);
            if (o && o->state == E_OBSERVING && !fetch)
                response(c, o, m, false);
        }
        return;
    }
    if (m->code == CORIO_COAP_EMPTY) {
        e->state = E_WAIT_RESP; /* a separate response follows */
        e->t_tx = now(c);
        return;
    }
    if (CORIO_COAP_CLASS(m->code) < 2 || CORIO_COAP_CLASS(m->code) > 5 ||
        !same_token(cur_tok(e), e->tok_len, m))
        return; /* not an answer to this request: ignore it (an ACK cannot be reset) */
    response(c, e, m, fetching(e));
}

static void on_rst(struct corio_coap *c, const struct corio_coap_msg *m)
{
    if (m->code != CORIO_COAP_EMPTY)
        return;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++) {
        struct corio_coap_entry *e = &c->entry[i];
        if (in_flight(e) && e->mid == m->mid) {
            if (fetching(e))
                refetch(c, e);
            else
                finish(c, e, CORIO_ERR_REFUSED, NULL);
            return;
        }
    }
}

/* A confirmable or non-confirmable message from the peer. */
static void on_message(struct corio_coap *c, const struct corio_coap_msg *m)
{
    uint32_t t = now(c);
    bool con = m->type == CORIO_COAP_CON;
    struct corio_coap_seen *s = seen_find(c, m->mid, t);
    if (s) {
        /* A duplicate: answer a CON the way its first copy was, and do nothing else. */
        if (con && s->type == CORIO_COAP_CON)
            send_empty(c, s->reply, m->mid);
        return;
    }
    uint8_t cls = CORIO_COAP_CLASS(m->code);
    struct corio_coap_entry *e = NULL;
    bool fetch = false;
    if (m->code != CORIO_COAP_EMPTY && cls >= 2 && cls <= 5)
        e = match_token(c, m, &fetch);
    /* Everything but a response we are waiting for is rejected: a ping (Empty CON), a
     * request (a client serves nothing), a reserved class, an unknown token (which also
     * cancels an observation we forgot, RFC 7641 §3.6), an unknown critical option. */
    bool accept = e && corio_coap_options_check(m, NULL) == CORIO_OK;
    uint8_t reply = accept ? CORIO_COAP_ACK : CORIO_COAP_RST;
    if (con || (!accept && m->code != CORIO_COAP_EMPTY && cls >= 2 && cls <= 5))
        send_empty(c, reply, m->mid);
    seen_add(c, m->mid, m->type, reply, t);
    if (e)
        response(c, e, m, fetch);
}

static void on_datagram(struct corio_coap *c, const uint8_t *buf, size_t len)
{
    struct corio_coap_msg m;
    int rc = corio_coap_decode(buf, len, &m);
    if (rc == CORIO_ERR_MALFORMED && len >= CORIO_COAP_HEADER_LEN && m.type == CORIO_COAP_CON)
        send_empty(c, CORIO_COAP_RST, m.mid); /* RFC 7252 §4.2: reject a broken CON */
    if (rc != CORIO_OK)
        return; /* other broken messages and unknown versions are silently ignored */
    c->failures = 0;
    switch (m.type) {
    case CORIO_COAP_ACK:
        on_ack(c, &m);
        break;
    case CORIO_COAP_RST:
        on_rst(c, &m);
        break;
    default:
        on_message(c, &m);
        break;
    }
}

/* ---------------------------------------------------------------------------------
 * Processing
 */

/* Reports entries cancelled outside process(). */
static void report_ended(struct corio_coap *c)
{
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++)
        if (c->entry[i].state == E_ENDED)
            finish(c, &c->entry[i], c->entry[i].result, NULL);
}

/* Handles a send result for e: returns false when the association was lost. */
static bool sent(struct corio_coap *c, struct corio_coap_entry *e, int rc)
{
    if (rc >= 0)
        return true;
    if (rc == CORIO_ERR_NOSPACE) {
        finish(c, e, rc, NULL);
        return true;
    }
    lose(c, rc);
    return false;
}

/* Retransmissions and timeouts. Returns false when the association was lost. */
static bool timers(struct corio_coap *c)
{
    uint32_t t = now(c);
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++) {
        struct corio_coap_entry *e = &c->entry[i];
        if (c->stopping || c->state != CORIO_COAP_OPEN)
            return false;
        if (e->state == E_WAIT_ACK && elapsed(t, e->t_tx, e->rto)) {
            if (e->tries <= c->cfg.max_retransmit) {
                if (!sent(c, e, transmit(c, e, false)))
                    return false;
                continue;
            }
            /* Unanswered after every retransmission: the association is suspect. */
            if (e->kind == K_REQUEST || e->cancelling)
                finish(c, e, CORIO_ERR_TIMEOUT, NULL);
            if (c->stopping || c->state != CORIO_COAP_OPEN)
                return false;
            lose(c, CORIO_ERR_TIMEOUT);
            return false;
        }
        if (e->state == E_WAIT_RESP && elapsed(t, e->t_tx, c->cfg.response_timeout_ms)) {
            if (e->kind == K_REQUEST || e->cancelling)
                finish(c, e, CORIO_ERR_TIMEOUT, NULL);
            else
                refetch(c, e); /* register again after a pause */
            continue;
        }
        if (e->state == E_OBSERVING && elapsed(t, e->t_obs, e->obs_refresh))
            requeue(c, e, 0); /* re-register with the same token */
    }
    return true;
}

static size_t active(const struct corio_coap *c)
{
    size_t n = 0;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++)
        n += in_flight(&c->entry[i]);
    return n;
}

static bool due(const struct corio_coap_entry *e, uint32_t t)
{
    return e->state == E_QUEUED && (int32_t)(t - e->t_due) >= 0;
}

/* Sends queued entries, oldest first, while fewer than nstart are in flight. */
static void send_queued(struct corio_coap *c)
{
    while (!c->stopping && c->state == CORIO_COAP_OPEN && active(c) < c->cfg.nstart) {
        uint32_t t = now(c);
        struct corio_coap_entry *e = NULL;
        for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++)
            if (due(&c->entry[i], t) && (!e || c->entry[i].order - e->order > 0x7FFFFFFFu))
                e = &c->entry[i];
        if (!e)
            return;
        int rc = transmit(c, e, true);
        if (rc == 0 || !sent(c, e, rc))
            return;
    }
}

static void receive(struct corio_coap *c)
{
    for (int i = 0; i < CORIO_COAP_RECV_ROUNDS; i++) {
        if (c->stopping || c->state != CORIO_COAP_OPEN)
            return;
        int n = c->dg.recv(c->dg.ctx, c->rx, c->rx_cap);
        if (n == 0)
            return;
        if (n == CORIO_ERR_NOSPACE)
            continue;
        if (n < 0 || (size_t)n > c->rx_cap) {
            lose(c, n < 0 ? n : CORIO_ERR_IO);
            return;
        }
        on_datagram(c, c->rx, (size_t)n);
    }
}

static void opened(struct corio_coap *c)
{
    c->state = CORIO_COAP_OPEN;
    c->t_state = now(c);
    c->want_write = false;
    /* A new association is a new endpoint: the peer numbers its messages afresh. */
    for (size_t i = 0; i < CORIO_COAP_DEDUP_SIZE; i++)
        c->seen[i].type = SEEN_FREE;
    if (c->cb.on_open)
        c->cb.on_open(c->user);
}

int corio_coap_process(struct corio_coap *c)
{
    if (!c)
        return CORIO_ERR_INVAL;
    if (c->stopping) {
        finish_stop(c);
        return CORIO_OK;
    }
    report_ended(c);
    if (c->stopping || c->state == CORIO_COAP_STOPPED)
        return CORIO_OK;
    uint32_t t = now(c);
    if (c->state == CORIO_COAP_WAITING) {
        if (!elapsed(t, c->t_state, c->wait_ms))
            return CORIO_OK;
        c->state = CORIO_COAP_OPENING;
        c->t_state = t;
    }
    if (c->state == CORIO_COAP_OPENING) {
        int rc = c->dg.open(c->dg.ctx);
        if (rc == CORIO_ERR_AGAIN) {
            if (elapsed(now(c), c->t_state, c->cfg.open_timeout_ms))
                lose(c, CORIO_ERR_TIMEOUT);
            return CORIO_OK;
        }
        if (rc != CORIO_OK) {
            lose(c, rc);
            return CORIO_OK;
        }
        opened(c);
        if (c->stopping || c->state != CORIO_COAP_OPEN)
            return CORIO_OK;
    }
    receive(c);
    if (c->stopping || c->state != CORIO_COAP_OPEN)
        return CORIO_OK;
    if (!timers(c))
        return CORIO_OK;
    send_queued(c);
    return CORIO_OK;
}

uint32_t corio_coap_poll_ms(const struct corio_coap *c)
{
    if (!c)
        return UINT32_MAX;
    if (c->stopping)
        return 0;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++)
        if (c->entry[i].state == E_ENDED)
            return 0;
    uint32_t t = now(c);
    switch (c->state) {
    case CORIO_COAP_WAITING:
        return remaining(t, c->t_state, c->wait_ms);
    case CORIO_COAP_OPENING:
        return min32(CORIO_COAP_OPEN_POLL_MS, remaining(t, c->t_state, c->cfg.open_timeout_ms));
    case CORIO_COAP_OPEN:
        break;
    default:
        return UINT32_MAX;
    }
    uint32_t wait = c->want_write ? CORIO_COAP_OPEN_POLL_MS : UINT32_MAX;
    bool room = active(c) < c->cfg.nstart;
    for (size_t i = 0; i < CORIO_COAP_MAX_EXCHANGES; i++) {
        const struct corio_coap_entry *e = &c->entry[i];
        switch (e->state) {
        case E_QUEUED:
            if (room)
                wait = min32(wait, due(e, t) ? 0 : e->t_due - t);
            break;
        case E_WAIT_ACK:
            wait = min32(wait, remaining(t, e->t_tx, e->rto));
            break;
        case E_WAIT_RESP:
            wait = min32(wait, remaining(t, e->t_tx, c->cfg.response_timeout_ms));
            break;
        case E_OBSERVING:
            wait = min32(wait, remaining(t, e->t_obs, e->obs_refresh));
            break;
        default:
            break;
        }
    }
    /* While the transport would not take a datagram, do not spin on what waits for it. */
    if (c->want_write && wait < CORIO_COAP_OPEN_POLL_MS)
        wait = CORIO_COAP_OPEN_POLL_MS;
    return wait;
}
