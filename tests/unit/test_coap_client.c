/*
 * test_coap_client.c - the CoAP client (coap.h) against a scripted peer: an in-memory
 * datagram transport whose datagrams the test writes and reads, a clock the test moves
 * (starting just before the 32-bit wrap, so every timer crosses it) and a fixed random
 * source. Covers retransmission timing and give-up, piggybacked, separate and NON
 * responses, Reset, rejection of what a client must reject, deduplication, Block1 and
 * Block2 transfers with size negotiation, Observe registration, ordering with the 2^23
 * wrap rule, re-registration and cancellation, queueing under NSTART, reopening with
 * backoff, and the callback rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "corio/coap.h"

/* ---------------------------------------------------------------------------------
 * The in-memory datagram transport, the fake clock and random source
 */

#define MAX_DG 1500

struct fake {
    uint8_t out[256][MAX_DG]; /* client -> peer, in order */
    size_t out_len[256];
    int nout, rd;
    uint8_t in[32][MAX_DG]; /* peer -> client */
    size_t in_len[32];
    int nin, in_rd;
    int open_rc; /* what open returns */
    int opens, closes;
    bool is_open;
    int send_rc; /* when set (or send_block), returned instead of sending */
    bool send_block;
    int recv_rc; /* when set, returned by recv once */
};

static struct fake fk;
static uint32_t clock_ms;
static uint32_t random_value;

static int f_open(void *ctx)
{
    struct fake *f = ctx;
    f->opens++;
    if (f->open_rc != CORIO_OK)
        return f->open_rc;
    f->is_open = true;
    return CORIO_OK;
}

static int f_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct fake *f = ctx;
    assert_true(f->is_open);
    assert_true(len > 0 && len <= MAX_DG);
    if (f->send_block)
        return 0;
    if (f->send_rc)
        return f->send_rc;
    assert_true(f->nout < 256);
    memcpy(f->out[f->nout], buf, len);
    f->out_len[f->nout++] = len;
    return (int)len;
}

static int f_recv(void *ctx, uint8_t *buf, size_t cap)
{
    struct fake *f = ctx;
    assert_true(f->is_open);
    if (f->recv_rc) {
        int rc = f->recv_rc;
        f->recv_rc = 0;
        return rc;
    }
    if (f->in_rd == f->nin) {
        f->in_rd = f->nin = 0;
        return 0;
    }
    size_t n = f->in_len[f->in_rd];
    if (n > cap) {
        f->in_rd++;
        return CORIO_ERR_NOSPACE;
    }
    memcpy(buf, f->in[f->in_rd++], n);
    return (int)n;
}

static void f_close(void *ctx)
{
    struct fake *f = ctx;
    f->closes++;
    f->is_open = false;
}

static uint32_t fake_now(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int fake_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(random_value >> (8 * (3 - (i & 3))));
    return CORIO_OK;
}

/* ---------------------------------------------------------------------------------
 * What the callbacks saw
 */

struct resp_rec {
    uint64_t token;
    int result;
    uint8_t code;
    uint32_t offset;
    bool more;
    bool observe;
    uint32_t seq;
    size_t len;
    uint8_t payload[1100];
};

struct rec {
    int opens;
    int closes;
    int close_err[16];
    int nresp;
    struct resp_rec resp[64];
    int nnotify;
    struct resp_rec notify[64];
    int finals; /* final on_response calls */
    /* Actions from inside callbacks. */
    uint64_t cancel_on_response;
    bool stop_on_close;
    bool request_on_final;
};

static struct rec rc_;
static struct corio_coap cl;
static uint8_t txbuf[1400], rxbuf[1400];

static void copy_resp(struct resp_rec *d, uint64_t token, int result,
                      const struct corio_coap_response *r)
{
    memset(d, 0, sizeof *d);
    d->token = token;
    d->result = result;
    if (!r)
        return;
    d->code = r->code;
    d->offset = r->offset;
    d->more = r->more;
    d->observe = r->observe;
    d->seq = r->observe_seq;
    d->len = r->payload_len;
    assert_true(r->payload_len <= sizeof d->payload);
    if (r->payload_len)
        memcpy(d->payload, r->payload, r->payload_len);
}

static void cb_open(void *user)
{
    (void)user;
    rc_.opens++;
}

static void cb_close(void *user, int err)
{
    (void)user;
    if (rc_.closes < 16)
        rc_.close_err[rc_.closes] = err;
    rc_.closes++;
    if (rc_.stop_on_close)
        corio_coap_stop(&cl);
}

static void cb_response(void *user, uint64_t token, int result, const struct corio_coap_response *r)
{
    (void)user;
    assert_true(rc_.nresp < 64);
    copy_resp(&rc_.resp[rc_.nresp++], token, result, r);
    if (result != CORIO_OK || !r->more)
        rc_.finals++;
    if (rc_.cancel_on_response == token && r && r->more)
        assert_int_equal(corio_coap_cancel(&cl, token), CORIO_OK);
    if (rc_.request_on_final && (result != CORIO_OK || !r->more)) {
        /* The slot of the finished request is free again inside its callback. */
        struct corio_coap_request q;
        corio_coap_request_init(&q);
        q.path = "again";
        assert_int_equal(corio_coap_request(&cl, &q, token + 100), CORIO_OK);
    }
}

static void cb_notify(void *user, uint64_t token, const struct corio_coap_response *r)
{
    (void)user;
    assert_true(rc_.nnotify < 64);
    copy_resp(&rc_.notify[rc_.nnotify++], token, CORIO_OK, r);
}

static const struct corio_coap_callbacks callbacks = {cb_open, cb_close, cb_response, cb_notify};

/* ---------------------------------------------------------------------------------
 * Helpers: the client, the peer's messages, and what the client sent
 */

static struct corio_coap_config cfg;

static int setup(void **state)
{
    (void)state;
    memset(&fk, 0, sizeof fk);
    memset(&rc_, 0, sizeof rc_);
    clock_ms = 0xFFFFF000u;
    random_value = 0;
    corio_coap_config_init(&cfg);
    cfg.backoff.jitter_pct = 0;
    return 0;
}

static void init_client(size_t tx_cap, size_t rx_cap)
{
    struct corio_datagram dg = {&fk, f_open, f_send, f_recv, f_close};
    struct corio_clock clk = {NULL, fake_now};
    struct corio_random rnd = {NULL, fake_random};
    assert_int_equal(
        corio_coap_init(&cl, &cfg, &dg, &clk, &rnd, txbuf, tx_cap, rxbuf, rx_cap, &callbacks, NULL),
        CORIO_OK);
}

static void process(void)
{
    assert_int_equal(corio_coap_process(&cl), CORIO_OK);
}

/* Moves the clock by ms and processes. */
static void advance(uint32_t ms)
{
    clock_ms += ms;
    process();
}

/* A client that is open. */
static void open_client(size_t tx_cap, size_t rx_cap)
{
    init_client(tx_cap, rx_cap);
    assert_int_equal(corio_coap_start(&cl), CORIO_OK);
    process();
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_OPEN);
    assert_int_equal(rc_.opens, 1);
}

static int pending_out(void)
{
    return fk.nout - fk.rd;
}

/* The next datagram the client sent, decoded; its bytes stay in fk.out. */
static void take(struct corio_coap_msg *m)
{
    assert_true(fk.rd < fk.nout);
    int i = fk.rd++;
    assert_int_equal(corio_coap_decode(fk.out[i], fk.out_len[i], m), CORIO_OK);
    assert_int_equal(corio_coap_options_check(m, NULL), CORIO_OK);
}

static bool has_opt(const struct corio_coap_msg *m, uint16_t n)
{
    return corio_coap_opt_find(m, n, NULL) == CORIO_OK;
}

static uint32_t opt_u(const struct corio_coap_msg *m, uint16_t n)
{
    struct corio_coap_option o;
    uint32_t v = 0;
    assert_int_equal(corio_coap_opt_find(m, n, &o), CORIO_OK);
    assert_int_equal(corio_coap_opt_uint(&o, &v), CORIO_OK);
    return v;
}

static struct corio_coap_block opt_block(const struct corio_coap_msg *m, uint16_t n)
{
    struct corio_coap_option o;
    struct corio_coap_block b;
    assert_int_equal(corio_coap_opt_find(m, n, &o), CORIO_OK);
    assert_int_equal(corio_coap_block_get(&o, &b), CORIO_OK);
    return b;
}

/* The peer's message under construction. */
static struct corio_coap_writer pw;
static uint8_t pbuf[MAX_DG];

static void p_begin(uint8_t type, uint8_t code, uint16_t mid, const uint8_t *tok, uint8_t tkl)
{
    corio_coap_write_begin(&pw, pbuf, sizeof pbuf, type, code, mid, tok, tkl);
}

/* Answers the request m with the same token. */
static void p_answer(const struct corio_coap_msg *m, uint8_t type, uint8_t code, uint16_t mid)
{
    p_begin(type, code, mid, m->token, m->token_len);
}

static void p_uint(uint16_t num, uint32_t v)
{
    corio_coap_write_uint(&pw, num, v);
}

static void p_block(uint16_t num, uint32_t n, bool more, uint8_t szx)
{
    struct corio_coap_block b = {n, more, szx};
    corio_coap_write_uint(&pw, num, corio_coap_block_value(&b));
}

static void p_payload(const void *p, size_t len)
{
    corio_coap_write_payload(&pw, p, len);
}

static void inject(const uint8_t *bytes, size_t len)
{
    assert_true(fk.nin < 32 && len <= MAX_DG);
    memcpy(fk.in[fk.nin], bytes, len);
    fk.in_len[fk.nin++] = len;
}

/* Queues the peer's message for the client. */
static void p_send(void)
{
    int n = corio_coap_write_end(&pw);
    assert_true(n > 0);
    inject(pbuf, (size_t)n);
}

static void empty(uint8_t type, uint16_t mid)
{
    p_begin(type, CORIO_COAP_EMPTY, mid, NULL, 0);
    p_send();
}

/* Asserts the next sent datagram is an Empty message of type for mid. */
static void expect_empty(uint8_t type, uint16_t mid)
{
    struct corio_coap_msg m;
    take(&m);
    assert_int_equal(m.type, type);
    assert_int_equal(m.code, CORIO_COAP_EMPTY);
    assert_int_equal(m.mid, mid);
}

static struct corio_coap_request get_req(const char *path)
{
    struct corio_coap_request q;
    corio_coap_request_init(&q);
    q.path = path;
    return q;
}

/* ---------------------------------------------------------------------------------
 * Tests
 */

static void get_with_piggybacked_response(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("/d/dev1/dn/time");
    q.accept = CORIO_COAP_FORMAT_CBOR;
    q.query = "a=1&b=2";
    assert_int_equal(corio_coap_request(&cl, &q, 7), CORIO_OK);
    assert_int_equal(corio_coap_poll_ms(&cl), 0);
    assert_int_equal(rc_.nresp, 0); /* nothing before process */
    process();
    struct corio_coap_msg m;
    take(&m);
    assert_int_equal(m.type, CORIO_COAP_CON);
    assert_int_equal(m.code, CORIO_COAP_GET);
    assert_int_equal(m.token_len, 8);
    assert_int_equal(corio_coap_opt_count(&m, CORIO_COAP_OPT_URI_PATH), 4);
    assert_int_equal(corio_coap_opt_count(&m, CORIO_COAP_OPT_URI_QUERY), 2);
    assert_int_equal(opt_u(&m, CORIO_COAP_OPT_ACCEPT), CORIO_COAP_FORMAT_CBOR);
    assert_false(has_opt(&m, CORIO_COAP_OPT_OBSERVE));
    assert_false(has_opt(&m, CORIO_COAP_OPT_BLOCK2)); /* rx holds 1024-byte blocks */
    assert_int_equal(corio_coap_poll_ms(&cl), 2000);

    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_uint(CORIO_COAP_OPT_CONTENT_FORMAT, CORIO_COAP_FORMAT_CBOR);
    p_payload("\x01", 1);
    p_send();
    advance(10);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].token, 7);
    assert_int_equal(rc_.resp[0].result, CORIO_OK);
    assert_int_equal(rc_.resp[0].code, CORIO_COAP_CONTENT);
    assert_false(rc_.resp[0].more);
    assert_int_equal(rc_.resp[0].len, 1);
    assert_int_equal(corio_coap_pending(&cl), 0);
    assert_int_equal(pending_out(), 0); /* nothing to acknowledge for an ACK */
    assert_int_equal(corio_coap_poll_ms(&cl), UINT32_MAX);

    /* A second copy of the ACK matches nothing and is ignored. */
    inject(pbuf, (size_t)corio_coap_write_end(&pw));
    advance(10);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(pending_out(), 0);
}

/* ACK_TIMEOUT 2 s, doubling, MAX_RETRANSMIT 4, then give up (RFC 7252 §4.2). */
static void retransmission_timing_and_give_up(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("x");
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg first, m;
    take(&first);
    static const uint32_t waits[] = {2000, 4000, 8000, 16000};
    for (size_t i = 0; i < 4; i++) {
        advance(waits[i] - 1);
        assert_int_equal(pending_out(), 0);
        assert_int_equal(corio_coap_poll_ms(&cl), 1);
        advance(1);
        take(&m);
        assert_int_equal(m.mid, first.mid);
        assert_memory_equal(m.token, first.token, 8);
        assert_int_equal(fk.out_len[fk.rd - 1], fk.out_len[0]);
        assert_memory_equal(fk.out[fk.rd - 1], fk.out[0], fk.out_len[0]);
    }
    advance(32000 - 1);
    assert_int_equal(rc_.nresp, 0);
    advance(1);
    assert_int_equal(pending_out(), 0);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].result, CORIO_ERR_TIMEOUT);
    /* An unanswered CON ends the association: closed, then reopened after backoff. */
    assert_int_equal(rc_.closes, 1);
    assert_int_equal(rc_.close_err[0], CORIO_ERR_TIMEOUT);
    assert_int_equal(fk.closes, 1);
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_WAITING);
    assert_int_equal(corio_coap_poll_ms(&cl), 1000);
    advance(1000);
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_OPEN);
    assert_int_equal(rc_.opens, 2);
}

/* The random factor spreads the first timeout over [2 s, 3 s]; parameters configure. */
static void retransmission_random_factor_and_config(void **state)
{
    (void)state;
    random_value = 1000; /* 1000 % 1001: the top of the range */
    cfg.max_retransmit = 1;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("x");
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    advance(2999);
    assert_int_equal(pending_out(), 0);
    advance(1);
    take(&m);
    advance(5999);
    assert_int_equal(rc_.nresp, 0);
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].result, CORIO_ERR_TIMEOUT);

    setup(NULL);
    cfg.ack_timeout_ms = 100;
    cfg.ack_random_factor_pct = 100;
    cfg.max_retransmit = 0;
    open_client(sizeof txbuf, sizeof rxbuf);
    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    take(&m);
    advance(99);
    assert_int_equal(rc_.nresp, 0);
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(pending_out(), 0);

    /* Out-of-range parameters are refused. */
    struct corio_datagram dg = {&fk, f_open, f_send, f_recv, f_close};
    struct corio_clock clk = {NULL, fake_now};
    struct corio_random rnd = {NULL, fake_random};
    struct corio_coap_config bad;
    corio_coap_config_init(&bad);
    bad.ack_random_factor_pct = 99;
    assert_int_equal(
        corio_coap_init(&cl, &bad, &dg, &clk, &rnd, txbuf, 100, rxbuf, 100, &callbacks, NULL),
        CORIO_ERR_INVAL);
    corio_coap_config_init(&bad);
    bad.token_len = 9;
    assert_int_equal(
        corio_coap_init(&cl, &bad, &dg, &clk, &rnd, txbuf, 100, rxbuf, 100, &callbacks, NULL),
        CORIO_ERR_INVAL);
    corio_coap_config_init(&bad);
    bad.nstart = CORIO_COAP_MAX_EXCHANGES + 1;
    assert_int_equal(
        corio_coap_init(&cl, &bad, &dg, &clk, &rnd, txbuf, 100, rxbuf, 100, &callbacks, NULL),
        CORIO_ERR_INVAL);
    corio_coap_config_init(&bad);
    bad.block_szx = 7;
    assert_int_equal(
        corio_coap_init(&cl, &bad, &dg, &clk, &rnd, txbuf, 100, rxbuf, 100, &callbacks, NULL),
        CORIO_ERR_INVAL);
    corio_coap_config_init(&bad);
    assert_int_equal(
        corio_coap_init(&cl, &bad, &dg, &clk, &rnd, txbuf, 63, rxbuf, 100, &callbacks, NULL),
        CORIO_ERR_INVAL);
}

/* Empty ACK, then the response as its own CON, which the client acknowledges; a
 * duplicate of it is acknowledged again and not delivered twice. */
static void separate_response(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("slow");
    assert_int_equal(corio_coap_request(&cl, &q, 3), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    empty(CORIO_COAP_ACK, m.mid);
    advance(10);
    /* No more retransmissions; the response timeout runs instead. */
    assert_int_equal(corio_coap_poll_ms(&cl), 60000);
    advance(30000);
    assert_int_equal(pending_out(), 0);

    p_answer(&m, CORIO_COAP_CON, CORIO_COAP_CONTENT, 0x5555);
    p_payload("done", 4);
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x5555);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].result, CORIO_OK);
    assert_memory_equal(rc_.resp[0].payload, "done", 4);

    /* Our ACK was lost: the peer retransmits. */
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x5555);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(pending_out(), 0);

    /* A separate response that never comes times out. */
    assert_int_equal(corio_coap_request(&cl, &q, 4), CORIO_OK);
    process();
    take(&m);
    empty(CORIO_COAP_ACK, m.mid);
    advance(1);
    advance(59999);
    assert_int_equal(rc_.nresp, 1);
    advance(1);
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].token, 4);
    assert_int_equal(rc_.resp[1].result, CORIO_ERR_TIMEOUT);
    assert_int_equal(rc_.closes, 0); /* a late response is no sign of a dead association */
}

/* The ACK is lost and the separate response comes first: it completes the request and
 * stops the retransmissions. A NON response works the same. */
static void separate_response_before_ack_and_non(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("a");
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    p_answer(&m, CORIO_COAP_CON, CORIO_COAP_CHANGED, 0x0101);
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x0101);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].code, CORIO_COAP_CHANGED);
    advance(5000);
    assert_int_equal(pending_out(), 0);

    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_NON, CORIO_COAP_CONTENT, 0x0102);
    p_send();
    advance(1);
    assert_int_equal(pending_out(), 0); /* a NON is not acknowledged */
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].token, 2);
}

static void non_request(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("n");
    q.non_confirmable = true;
    q.method = CORIO_COAP_POST;
    q.payload = (const uint8_t *)"hi";
    q.payload_len = 2;
    q.content_format = CORIO_COAP_FORMAT_TEXT;
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    assert_int_equal(m.type, CORIO_COAP_NON);
    assert_int_equal(m.code, CORIO_COAP_POST);
    assert_int_equal(opt_u(&m, CORIO_COAP_OPT_CONTENT_FORMAT), 0);
    assert_int_equal(m.payload_len, 2);
    advance(30000);
    assert_int_equal(pending_out(), 0); /* never retransmitted */
    p_answer(&m, CORIO_COAP_NON, CORIO_COAP_CHANGED, 9);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].code, CORIO_COAP_CHANGED);

    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    take(&m);
    advance(60000);
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].result, CORIO_ERR_TIMEOUT);

    /* A Reset to a NON request refuses it. */
    assert_int_equal(corio_coap_request(&cl, &q, 3), CORIO_OK);
    process();
    take(&m);
    empty(CORIO_COAP_RST, m.mid);
    advance(1);
    assert_int_equal(rc_.resp[2].result, CORIO_ERR_REFUSED);
}

static void reset_refuses_request(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("r");
    assert_int_equal(corio_coap_request(&cl, &q, 5), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    empty(CORIO_COAP_RST, (uint16_t)(m.mid + 1)); /* not ours */
    advance(1);
    assert_int_equal(rc_.nresp, 0);
    empty(CORIO_COAP_RST, m.mid);
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].result, CORIO_ERR_REFUSED);
    advance(10000);
    assert_int_equal(pending_out(), 0);
}

/* What a client must reject (RFC 7252 §4.2, §4.3, §5.3.2, §5.4.1). */
static void rejections(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    static const uint8_t tok[8] = {9, 9, 9, 9, 9, 9, 9, 9};

    empty(CORIO_COAP_CON, 0x1000); /* a ping: pong with Reset */
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x1000);

    p_begin(CORIO_COAP_CON, CORIO_COAP_GET, 0x1001, tok, 2); /* a request: we serve nothing */
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x1001);

    p_begin(CORIO_COAP_NON, CORIO_COAP_GET, 0x1002, tok, 2); /* ... and ignore a NON one */
    p_send();
    advance(1);
    assert_int_equal(pending_out(), 0);

    p_begin(CORIO_COAP_CON, CORIO_COAP_CODE(7, 1), 0x1003, tok, 2); /* reserved class */
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x1003);

    p_begin(CORIO_COAP_CON, CORIO_COAP_CONTENT, 0x1004, tok, 8); /* unknown token */
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x1004);

    p_begin(CORIO_COAP_NON, CORIO_COAP_CONTENT, 0x1005, tok, 8); /* unknown token, NON */
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x1005);

    static const uint8_t broken_con[] = {0x49, 0x45, 0x10, 0x06, 1}; /* TKL 9 */
    inject(broken_con, sizeof broken_con);
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x1006);

    static const uint8_t broken_non[] = {0x50, 0x45, 0x10, 0x07, 0xFF}; /* marker, no payload */
    inject(broken_non, sizeof broken_non);
    static const uint8_t version2[] = {0x80, 0x45, 0x10, 0x08};
    inject(version2, sizeof version2);
    static const uint8_t short_dg[] = {0x40, 0x45};
    inject(short_dg, sizeof short_dg);
    p_begin(CORIO_COAP_ACK, CORIO_COAP_CONTENT, 0x1009, tok, 8); /* an ACK for nothing */
    p_send();
    empty(CORIO_COAP_RST, 0x100A); /* a Reset for nothing */
    advance(1);
    assert_int_equal(pending_out(), 0);
    assert_int_equal(rc_.nresp, 0);
    assert_int_equal(rc_.closes, 0);

    /* A duplicate of a rejected CON is rejected again. */
    empty(CORIO_COAP_CON, 0x1000);
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x1000);
}

/* A response with a critical option the client does not know is rejected and fails the
 * request; an unknown elective option is ignored. */
static void unknown_critical_option(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("o");
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    corio_coap_write_option(&pw, 9, "x", 1);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].result, CORIO_ERR_UNSUPPORTED);
    assert_int_equal(pending_out(), 0);

    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_CON, CORIO_COAP_CONTENT, 0x2000);
    corio_coap_write_option(&pw, 2001, NULL, 0);
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x2000);
    assert_int_equal(rc_.resp[1].result, CORIO_ERR_UNSUPPORTED);

    assert_int_equal(corio_coap_request(&cl, &q, 3), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    corio_coap_write_option(&pw, 2000, "e", 1); /* elective */
    p_payload("ok", 2);
    p_send();
    advance(1);
    assert_int_equal(rc_.resp[2].result, CORIO_OK);
    assert_int_equal(rc_.resp[2].len, 2);

    /* Block2 twice is a repeated critical option. */
    assert_int_equal(corio_coap_request(&cl, &q, 4), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, false, 6);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, false, 6);
    p_send();
    advance(1);
    assert_int_equal(rc_.resp[3].result, CORIO_ERR_UNSUPPORTED);
}

/* A POST larger than a block goes block-wise; tx decides the block size. */
static void block1_transfer(void **state)
{
    (void)state;
    static uint8_t body[2500];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 7 + 3);
    open_client(600, sizeof rxbuf);
    struct corio_coap_request q = get_req("d/dev1/up/cbor");
    q.method = CORIO_COAP_POST;
    q.content_format = CORIO_COAP_FORMAT_SENML_CBOR;
    q.payload = body;
    q.payload_len = sizeof body;
    assert_int_equal(corio_coap_request(&cl, &q, 42), CORIO_OK);
    process();
    static uint8_t got[2500];
    size_t off = 0;
    uint16_t last_mid = 0;
    struct corio_coap_msg m;
    for (uint32_t n = 0; n < 5; n++) {
        take(&m);
        assert_true(fk.out_len[fk.rd - 1] <= 600);
        struct corio_coap_block b = opt_block(&m, CORIO_COAP_OPT_BLOCK1);
        assert_int_equal(b.num, n);
        assert_int_equal(b.szx, 5); /* 512 is the largest that fits 600 bytes */
        assert_int_equal(b.more, n < 4);
        assert_int_equal(has_opt(&m, CORIO_COAP_OPT_SIZE1), n == 0);
        if (n == 0)
            assert_int_equal(opt_u(&m, CORIO_COAP_OPT_SIZE1), 2500);
        assert_int_equal(opt_u(&m, CORIO_COAP_OPT_CONTENT_FORMAT), 112);
        assert_int_equal(corio_coap_opt_count(&m, CORIO_COAP_OPT_URI_PATH), 4);
        assert_int_equal(m.payload_len, n < 4 ? 512u : 2500u - 2048u);
        memcpy(got + off, m.payload, m.payload_len);
        off += m.payload_len;
        if (n)
            assert_int_not_equal(m.mid, last_mid);
        last_mid = m.mid;
        p_answer(&m, CORIO_COAP_ACK, n < 4 ? CORIO_COAP_CONTINUE : CORIO_COAP_CHANGED, m.mid);
        p_block(CORIO_COAP_OPT_BLOCK1, n, n < 4, 5);
        p_send();
        advance(1);
        if (n < 4)
            assert_int_equal(rc_.nresp, 0); /* 2.31 is not the application's business */
    }
    assert_int_equal(off, sizeof body);
    assert_memory_equal(got, body, sizeof body);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].token, 42);
    assert_int_equal(rc_.resp[0].code, CORIO_COAP_CHANGED);
    assert_int_equal(pending_out(), 0);
}

/* The peer asks for smaller blocks (RFC 7959 figure 5), and a 4.13 with a Block1 size
 * makes a single-message request go block-wise. */
static void block1_negotiation(void **state)
{
    (void)state;
    static uint8_t body[1000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)i;
    cfg.block_szx = 5;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("b");
    q.method = CORIO_COAP_PUT;
    q.payload = body;
    q.payload_len = sizeof body;
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    struct corio_coap_block b = opt_block(&m, CORIO_COAP_OPT_BLOCK1);
    assert_int_equal(b.num, 0);
    assert_int_equal(b.szx, 5);
    assert_int_equal(m.payload_len, 512);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTINUE, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK1, 0, true, 3); /* 128 from now on */
    p_send();
    advance(1);
    size_t off = 512;
    for (uint32_t n = 4; off < sizeof body; n++) {
        take(&m);
        b = opt_block(&m, CORIO_COAP_OPT_BLOCK1);
        assert_int_equal(b.num, n);
        assert_int_equal(b.szx, 3);
        size_t len = sizeof body - off < 128 ? sizeof body - off : 128;
        assert_int_equal(m.payload_len, len);
        assert_memory_equal(m.payload, body + off, len);
        off += len;
        p_answer(&m, CORIO_COAP_ACK, off < sizeof body ? CORIO_COAP_CONTINUE : CORIO_COAP_CHANGED,
                 m.mid);
        p_block(CORIO_COAP_OPT_BLOCK1, n, off < sizeof body, 3);
        p_send();
        advance(1);
    }
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].code, CORIO_COAP_CHANGED);

    /* A 400-byte body goes in one message; the peer answers 4.13 asking for 64. */
    q.payload_len = 400;
    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    take(&m);
    assert_false(has_opt(&m, CORIO_COAP_OPT_BLOCK1));
    assert_int_equal(m.payload_len, 400);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_REQUEST_ENTITY_TOO_LARGE, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK1, 0, false, 2);
    p_send();
    advance(1);
    take(&m);
    b = opt_block(&m, CORIO_COAP_OPT_BLOCK1);
    assert_int_equal(b.num, 0);
    assert_int_equal(b.szx, 2);
    assert_true(b.more);
    assert_int_equal(m.payload_len, 64);
    assert_int_equal(opt_u(&m, CORIO_COAP_OPT_SIZE1), 400);

    /* A 2.31 naming the wrong block breaks the transfer. */
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTINUE, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK1, 3, true, 2);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].result, CORIO_ERR_MALFORMED);

    /* A final error mid-transfer is the final response. */
    q.payload_len = 1000;
    assert_int_equal(corio_coap_request(&cl, &q, 3), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_REQUEST_ENTITY_INCOMPLETE, m.mid);
    p_send();
    advance(1);
    assert_int_equal(rc_.resp[2].result, CORIO_OK);
    assert_int_equal(rc_.resp[2].code, CORIO_COAP_REQUEST_ENTITY_INCOMPLETE);
}

/* A large response arrives block by block; each block is delivered with its offset. */
static void block2_transfer(void **state)
{
    (void)state;
    static uint8_t body[300];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i ^ 0x5A);
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("big");
    assert_int_equal(corio_coap_request(&cl, &q, 9), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    /* The peer chooses 64-byte blocks. */
    size_t off = 0;
    for (uint32_t n = 0; off < sizeof body; n++) {
        if (n) {
            take(&m);
            struct corio_coap_block b = opt_block(&m, CORIO_COAP_OPT_BLOCK2);
            assert_int_equal(b.num, n);
            assert_false(b.more);
            assert_int_equal(b.szx, 2);
            assert_false(has_opt(&m, CORIO_COAP_OPT_BLOCK1));
            assert_int_equal(m.payload_len, 0);
        }
        size_t len = sizeof body - off < 64 ? sizeof body - off : 64;
        bool more = off + len < sizeof body;
        p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
        corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "v1", 2);
        p_block(CORIO_COAP_OPT_BLOCK2, n, more, 2);
        p_payload(body + off, len);
        p_send();
        advance(1);
        assert_int_equal(rc_.nresp, (int)n + 1);
        assert_int_equal(rc_.resp[n].offset, off);
        assert_int_equal(rc_.resp[n].more, more);
        assert_int_equal(rc_.resp[n].len, len);
        assert_memory_equal(rc_.resp[n].payload, body + off, len);
        off += len;
    }
    assert_int_equal(rc_.finals, 1);
    assert_int_equal(corio_coap_pending(&cl), 0);
    assert_int_equal(pending_out(), 0);
}

/* The representation changes during a transfer (another ETag): the body starts over at
 * offset 0; a block at the wrong offset or of the wrong size breaks the transfer. */
static void block2_changes_and_errors(void **state)
{
    (void)state;
    uint8_t blk[64];
    memset(blk, 'a', sizeof blk);
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("big");
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "v1", 2);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    take(&m);
    assert_int_equal(opt_block(&m, CORIO_COAP_OPT_BLOCK2).num, 1);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "v2", 2);
    p_block(CORIO_COAP_OPT_BLOCK2, 1, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 1); /* block 1 of v2 is not delivered... */
    take(&m);
    assert_int_equal(opt_block(&m, CORIO_COAP_OPT_BLOCK2).num, 0); /* ...block 0 is asked */
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "v2", 2);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, false, 2);
    p_payload("end", 3);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].offset, 0);
    assert_false(rc_.resp[1].more);
    assert_int_equal(rc_.finals, 1);

    /* Wrong block number. */
    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK2, 1, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    assert_int_equal(rc_.resp[2].result, CORIO_ERR_MALFORMED);

    /* A non-final block shorter than its size. */
    assert_int_equal(corio_coap_request(&cl, &q, 3), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, true, 2);
    p_payload(blk, 63);
    p_send();
    advance(1);
    assert_int_equal(rc_.resp[3].result, CORIO_ERR_MALFORMED);

    /* A reserved SZX. */
    assert_int_equal(corio_coap_request(&cl, &q, 4), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_uint(CORIO_COAP_OPT_BLOCK2, 0x0F);
    p_payload(blk, 10);
    p_send();
    advance(1);
    assert_int_equal(rc_.resp[4].result, CORIO_ERR_MALFORMED);

    /* The application cancels in the middle of a transfer. */
    rc_.cancel_on_response = 5;
    assert_int_equal(corio_coap_request(&cl, &q, 5), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    process(); /* the cancellation is reported here */
    assert_int_equal(rc_.nresp, 7);
    assert_true(rc_.resp[5].more);
    assert_int_equal(rc_.resp[6].token, 5);
    assert_int_equal(rc_.resp[6].result, CORIO_ERR_CLOSED);
    assert_int_equal(pending_out(), 0);
    assert_int_equal(corio_coap_pending(&cl), 0);
}

/* A small rx makes the client ask for small blocks from the start (RFC 7959 §2.4). */
static void block2_early_negotiation(void **state)
{
    (void)state;
    open_client(sizeof txbuf, 200);
    struct corio_coap_request q = get_req("big");
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    struct corio_coap_block b = opt_block(&m, CORIO_COAP_OPT_BLOCK2);
    assert_int_equal(b.num, 0);
    assert_int_equal(b.szx, 3); /* 128 + the slack fits 200 */
    /* A datagram larger than rx is dropped and the retransmission gets the answer. */
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    static uint8_t big[300];
    p_payload(big, sizeof big);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 0);
    advance(2000);
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, false, 3);
    p_payload(big, 100);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].len, 100);
}

/* Registers an observation of path with token; returns the registration GET. */
static void observe(const char *path, uint64_t token, struct corio_coap_msg *reg)
{
    struct corio_coap_request q = get_req(path);
    assert_int_equal(corio_coap_observe(&cl, &q, token), CORIO_OK);
    process();
    take(reg);
    assert_int_equal(reg->code, CORIO_COAP_GET);
    assert_int_equal(opt_u(reg, CORIO_COAP_OPT_OBSERVE), 0);
}

/* Sends a notification with sequence seq on token tok. */
static void notify(const struct corio_coap_msg *reg, uint8_t type, uint16_t mid, uint32_t seq,
                   const char *text)
{
    p_answer(reg, type, CORIO_COAP_CONTENT, mid);
    p_uint(CORIO_COAP_OPT_OBSERVE, seq);
    p_uint(CORIO_COAP_OPT_MAX_AGE, 3600); /* no re-registration during a test */
    p_payload(text, strlen(text));
    p_send();
}

static void observe_order_and_wrap(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_msg reg;
    observe("d/dev1/dn/cmd", 77, &reg);
    p_answer(&reg, CORIO_COAP_ACK, CORIO_COAP_CONTENT, reg.mid);
    p_uint(CORIO_COAP_OPT_OBSERVE, 5);
    p_payload("s5", 2);
    p_send();
    advance(1);
    assert_int_equal(rc_.nnotify, 1);
    assert_int_equal(rc_.notify[0].seq, 5);
    assert_int_equal(rc_.nresp, 0);

    notify(&reg, CORIO_COAP_CON, 0x3001, 7, "s7");
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x3001);
    notify(&reg, CORIO_COAP_NON, 0x3002, 6, "s6"); /* older than 7: stale */
    advance(1);
    assert_int_equal(pending_out(), 0);
    notify(&reg, CORIO_COAP_CON, 0x3001, 7, "s7"); /* our ACK was lost */
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x3001);
    notify(&reg, CORIO_COAP_CON, 0x3003, 7, "s7b"); /* same number, new message: stale */
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x3003); /* stale is still acknowledged */
    notify(&reg, CORIO_COAP_NON, 0x3004, 8, "s8");
    advance(1);
    assert_int_equal(rc_.nnotify, 3);
    assert_memory_equal(rc_.notify[1].payload, "s7", 2);
    assert_memory_equal(rc_.notify[2].payload, "s8", 2);

    /* The 2^23 rule: from 0xFFFFF0, 0x000005 is newer (the numbers wrapped)... */
    notify(&reg, CORIO_COAP_NON, 0x3005, 0xFFFFF0, "hi");
    advance(1);
    assert_int_equal(rc_.nnotify, 3); /* 0xFFFFF0 - 8 >= 2^23: older than 8 */
    notify(&reg, CORIO_COAP_NON, 0x3006, 8 + (1u << 23) - 1, "v1");
    advance(1);
    assert_int_equal(rc_.nnotify, 4);
    notify(&reg, CORIO_COAP_NON, 0x3007, 0xFFFFF0, "v2"); /* < 2^23 ahead of 0x800007 */
    advance(1);
    assert_int_equal(rc_.nnotify, 5);
    notify(&reg, CORIO_COAP_NON, 0x3008, 5, "v3"); /* wrapped */
    advance(1);
    assert_int_equal(rc_.nnotify, 6);
    assert_int_equal(rc_.notify[5].seq, 5);
    notify(&reg, CORIO_COAP_NON, 0x3009, 5 + (1u << 23), "v4"); /* exactly 2^23: stale */
    advance(1);
    assert_int_equal(rc_.nnotify, 6);
    /* ...and 128 s after the last fresh one, any number is fresh. */
    advance(128000);
    notify(&reg, CORIO_COAP_NON, 0x300A, 4, "late");
    advance(1);
    assert_int_equal(rc_.nnotify, 7);
    assert_int_equal(rc_.notify[6].seq, 4);
    assert_int_equal(rc_.nresp, 0);
    assert_int_equal(corio_coap_pending(&cl), 1);
}

/* No fresh notification for max(Max-Age, 30 s): register again with the same token. */
static void observe_reregistration(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_msg reg, again;
    observe("d/dev1/dn/cmd", 1, &reg);
    p_answer(&reg, CORIO_COAP_ACK, CORIO_COAP_CONTENT, reg.mid);
    p_uint(CORIO_COAP_OPT_OBSERVE, 100);
    p_uint(CORIO_COAP_OPT_MAX_AGE, 45);
    p_send();
    advance(1);
    assert_int_equal(rc_.nnotify, 1);
    assert_int_equal(corio_coap_poll_ms(&cl), 45000);
    advance(44999);
    assert_int_equal(pending_out(), 0);
    advance(1);
    take(&again);
    assert_int_equal(opt_u(&again, CORIO_COAP_OPT_OBSERVE), 0);
    assert_int_equal(again.token_len, reg.token_len);
    assert_memory_equal(again.token, reg.token, reg.token_len);
    assert_int_not_equal(again.mid, reg.mid);
    /* The answer is accepted even with a lower number (the peer may have restarted). */
    p_answer(&again, CORIO_COAP_ACK, CORIO_COAP_CONTENT, again.mid);
    p_uint(CORIO_COAP_OPT_OBSERVE, 2);
    p_send();
    advance(1);
    assert_int_equal(rc_.nnotify, 2);
    assert_int_equal(rc_.notify[1].seq, 2);
    /* Max-Age absent is 60 s. */
    assert_int_equal(corio_coap_poll_ms(&cl), 60000);
    /* A notification arriving while the re-registration is in flight answers it. */
    advance(60000);
    take(&again);
    notify(&reg, CORIO_COAP_NON, 0x4000, 3, "n");
    advance(1);
    assert_int_equal(rc_.nnotify, 3);
}

static void observe_cancel(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_msg reg, m;
    observe("d/dev1/dn/cmd", 5, &reg);
    notify(&reg, CORIO_COAP_ACK, reg.mid, 1, "a");
    advance(1);
    assert_int_equal(rc_.nnotify, 1);
    assert_int_equal(corio_coap_cancel(&cl, 5), CORIO_OK);
    assert_int_equal(corio_coap_cancel(&cl, 5), CORIO_ERR_NOTFOUND);
    assert_int_equal(rc_.nresp, 0);
    process();
    take(&m);
    assert_int_equal(m.code, CORIO_COAP_GET);
    assert_int_equal(opt_u(&m, CORIO_COAP_OPT_OBSERVE), 1);
    assert_memory_equal(m.token, reg.token, reg.token_len);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    p_payload("last", 4);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].token, 5);
    assert_int_equal(rc_.resp[0].result, CORIO_OK);
    assert_false(rc_.resp[0].observe);
    assert_int_equal(corio_coap_pending(&cl), 0);
    /* A notification after the end is rejected, which also removes us (RFC 7641 §3.6). */
    notify(&reg, CORIO_COAP_CON, 0x5000, 2, "b");
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x5000);
    assert_int_equal(rc_.nnotify, 1);

    /* An observation never established just ends. */
    struct corio_coap_request q = get_req("x");
    assert_int_equal(corio_coap_observe(&cl, &q, 6), CORIO_OK);
    assert_int_equal(corio_coap_cancel(&cl, 6), CORIO_OK);
    assert_int_equal(corio_coap_poll_ms(&cl), 0);
    process();
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].result, CORIO_ERR_CLOSED);
    assert_int_equal(pending_out(), 0);
}

/* A notification larger than a block: its first piece comes with the registration's
 * answer, the rest is fetched with GET and Block2 under new tokens (RFC 7959 §2.6). A
 * newer notification during the fetch replaces it; a failed fetch registers again. */
static void observe_large_notification(void **state)
{
    (void)state;
    uint8_t blk[64];
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_msg reg, m, m2;
    observe("d/dev1/dn/cfg", 4, &reg);
    memset(blk, '0', sizeof blk);
    p_answer(&reg, CORIO_COAP_ACK, CORIO_COAP_CONTENT, reg.mid);
    corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "e1", 2);
    p_uint(CORIO_COAP_OPT_OBSERVE, 10);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    assert_int_equal(rc_.nnotify, 1);
    assert_int_equal(rc_.notify[0].offset, 0);
    assert_true(rc_.notify[0].more);
    take(&m);
    assert_int_equal(m.code, CORIO_COAP_GET);
    assert_false(has_opt(&m, CORIO_COAP_OPT_OBSERVE));
    assert_int_equal(opt_block(&m, CORIO_COAP_OPT_BLOCK2).num, 1);
    assert_memory_not_equal(m.token, reg.token, 8);
    memset(blk, '1', sizeof blk);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "e1", 2);
    p_block(CORIO_COAP_OPT_BLOCK2, 1, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    take(&m2);
    assert_int_equal(opt_block(&m2, CORIO_COAP_OPT_BLOCK2).num, 2);
    assert_memory_not_equal(m2.token, m.token, 8);
    p_answer(&m2, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m2.mid);
    p_block(CORIO_COAP_OPT_BLOCK2, 2, false, 2);
    p_payload("end", 3);
    p_send();
    advance(1);
    assert_int_equal(rc_.nnotify, 3);
    assert_int_equal(rc_.notify[1].offset, 64);
    assert_int_equal(rc_.notify[2].offset, 128);
    assert_false(rc_.notify[2].more);
    assert_memory_equal(rc_.notify[2].payload, "end", 3);
    assert_int_equal(pending_out(), 0);
    assert_int_equal(rc_.nresp, 0);

    /* A later small notification is delivered whole. */
    notify(&reg, CORIO_COAP_NON, 0x7000, 11, "small");
    advance(1);
    assert_int_equal(rc_.nnotify, 4);
    assert_false(rc_.notify[3].more);

    /* A large one whose fetch is overtaken by a newer notification. */
    p_answer(&reg, CORIO_COAP_CON, CORIO_COAP_CONTENT, 0x7001);
    p_uint(CORIO_COAP_OPT_OBSERVE, 12);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x7001);
    take(&m); /* the fetch of block 1 */
    notify(&reg, CORIO_COAP_CON, 0x7002, 13, "newer");
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x7002);
    assert_int_equal(rc_.nnotify, 6);
    assert_int_equal(rc_.notify[5].offset, 0);
    assert_false(rc_.notify[5].more);
    /* The old fetch's late answer matches nothing any more. */
    p_answer(&m, CORIO_COAP_CON, CORIO_COAP_CONTENT, 0x7003);
    p_block(CORIO_COAP_OPT_BLOCK2, 1, false, 2);
    p_payload("x", 1);
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_RST, 0x7003);
    assert_int_equal(rc_.nnotify, 6);

    /* A fetch whose ETag changed registers again after a pause. */
    p_answer(&reg, CORIO_COAP_NON, CORIO_COAP_CONTENT, 0x7004);
    corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "e2", 2);
    p_uint(CORIO_COAP_OPT_OBSERVE, 14);
    p_block(CORIO_COAP_OPT_BLOCK2, 0, true, 2);
    p_payload(blk, 64);
    p_send();
    advance(1);
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m.mid);
    corio_coap_write_option(&pw, CORIO_COAP_OPT_ETAG, "e3", 2);
    p_block(CORIO_COAP_OPT_BLOCK2, 1, false, 2);
    p_payload("y", 1);
    p_send();
    advance(1);
    assert_int_equal(rc_.nnotify, 7);
    assert_int_equal(pending_out(), 0);
    advance(cfg.backoff.initial_ms);
    take(&m);
    assert_int_equal(opt_u(&m, CORIO_COAP_OPT_OBSERVE), 0);
    assert_memory_equal(m.token, reg.token, 8);
    assert_int_equal(rc_.nresp, 0);
}

/* The peer ends an observation with an error or a response without Observe; a
 * registration the peer does not take ends at once. */
static void observe_ended_by_peer(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_msg reg;
    observe("c", 1, &reg);
    notify(&reg, CORIO_COAP_ACK, reg.mid, 1, "a");
    advance(1);
    p_answer(&reg, CORIO_COAP_CON, CORIO_COAP_NOT_FOUND, 0x6000);
    p_send();
    advance(1);
    expect_empty(CORIO_COAP_ACK, 0x6000);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].code, CORIO_COAP_NOT_FOUND);
    assert_int_equal(corio_coap_pending(&cl), 0);

    observe("plain", 2, &reg);
    p_answer(&reg, CORIO_COAP_ACK, CORIO_COAP_CONTENT, reg.mid);
    p_payload("no observe", 10);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].token, 2);
    assert_false(rc_.resp[1].observe);
    assert_int_equal(rc_.nnotify, 1);

    /* Reset to the registration. */
    observe("r", 3, &reg);
    empty(CORIO_COAP_RST, reg.mid);
    advance(1);
    assert_int_equal(rc_.resp[2].result, CORIO_ERR_REFUSED);
}

/* A lost association: the observation registers again on the next one, a request in
 * flight starts over, and the backoff grows with each failed open. */
static void reopen_reregisters_and_backs_off(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_msg reg, m;
    observe("d/dev1/dn/cmd", 1, &reg);
    notify(&reg, CORIO_COAP_ACK, reg.mid, 10, "a");
    advance(1);
    static uint8_t body[1500];
    struct corio_coap_request q = get_req("up");
    q.method = CORIO_COAP_POST;
    q.payload = body;
    q.payload_len = sizeof body;
    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    take(&m);
    p_answer(&m, CORIO_COAP_ACK, CORIO_COAP_CONTINUE, m.mid);
    p_block(CORIO_COAP_OPT_BLOCK1, 0, true, 6);
    p_send();
    advance(1);
    take(&m);
    assert_int_equal(opt_block(&m, CORIO_COAP_OPT_BLOCK1).num, 1);

    fk.recv_rc = CORIO_ERR_IO;
    fk.open_rc = CORIO_ERR_IO;
    advance(1);
    assert_int_equal(rc_.closes, 1);
    assert_int_equal(rc_.close_err[0], CORIO_ERR_IO);
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_WAITING);
    static const uint32_t waits[] = {1000, 2000, 4000, 8000};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(corio_coap_poll_ms(&cl), waits[i]);
        advance(waits[i]);
        assert_int_equal(rc_.closes, (int)i + 2);
    }
    fk.open_rc = CORIO_OK;
    advance(16000);
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_OPEN);
    assert_int_equal(rc_.nresp, 0);
    /* The observation goes first (it was registered first), then the POST anew. */
    take(&m);
    assert_int_equal(opt_u(&m, CORIO_COAP_OPT_OBSERVE), 0);
    assert_memory_equal(m.token, reg.token, reg.token_len);
    notify(&m, CORIO_COAP_ACK, m.mid, 3, "b"); /* a restarted peer: lower number */
    advance(1);
    assert_int_equal(rc_.nnotify, 2);
    take(&m);
    struct corio_coap_block b = opt_block(&m, CORIO_COAP_OPT_BLOCK1);
    assert_int_equal(b.num, 0);
    assert_int_equal(opt_u(&m, CORIO_COAP_OPT_SIZE1), 1500);

    /* An open that hangs fails at open_timeout_ms. */
    setup(NULL);
    cfg.open_timeout_ms = 500;
    init_client(sizeof txbuf, sizeof rxbuf);
    fk.open_rc = CORIO_ERR_AGAIN;
    assert_int_equal(corio_coap_start(&cl), CORIO_OK);
    process();
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_OPENING);
    assert_int_equal(corio_coap_poll_ms(&cl), CORIO_COAP_OPEN_POLL_MS);
    advance(499);
    assert_int_equal(rc_.closes, 0);
    advance(1);
    assert_int_equal(rc_.closes, 1);
    assert_int_equal(rc_.close_err[0], CORIO_ERR_TIMEOUT);
}

/* NSTART 1: one exchange at a time, oldest first; more with a larger nstart. */
static void nstart_queueing(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q1 = get_req("one"), q2 = get_req("two"), q3 = get_req("three");
    assert_int_equal(corio_coap_request(&cl, &q1, 1), CORIO_OK);
    assert_int_equal(corio_coap_request(&cl, &q2, 2), CORIO_OK);
    assert_int_equal(corio_coap_request(&cl, &q3, 3), CORIO_OK);
    process();
    assert_int_equal(pending_out(), 1);
    struct corio_coap_msg m1, m2;
    take(&m1);
    p_answer(&m1, CORIO_COAP_ACK, CORIO_COAP_CONTENT, m1.mid);
    p_send();
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(pending_out(), 1);
    take(&m2);
    struct corio_coap_option o;
    assert_int_equal(corio_coap_opt_find(&m2, CORIO_COAP_OPT_URI_PATH, &o), CORIO_OK);
    assert_memory_equal(o.value, "two", 3);
    assert_int_not_equal(m1.mid, m2.mid);
    assert_memory_not_equal(m1.token, m2.token, 8);

    setup(NULL);
    cfg.nstart = 2;
    open_client(sizeof txbuf, sizeof rxbuf);
    assert_int_equal(corio_coap_request(&cl, &q1, 1), CORIO_OK);
    assert_int_equal(corio_coap_request(&cl, &q2, 2), CORIO_OK);
    assert_int_equal(corio_coap_request(&cl, &q3, 3), CORIO_OK);
    process();
    assert_int_equal(pending_out(), 2);
}

/* Refused calls never call back; the slot of a finished request is free in its own
 * callback. */
static void refusals_and_callback_rules(void **state)
{
    (void)state;
    init_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("q");
    /* Requests may be queued before start. */
    for (uint64_t t = 1; t <= CORIO_COAP_MAX_EXCHANGES; t++)
        assert_int_equal(corio_coap_request(&cl, &q, t), CORIO_OK);
    assert_int_equal(corio_coap_request(&cl, &q, 99), CORIO_ERR_FULL);
    assert_int_equal(corio_coap_cancel(&cl, 99), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_coap_cancel(&cl, 4), CORIO_OK);
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_ERR_INVAL); /* token held */
    struct corio_coap_request bad = q;
    bad.method = 0;
    assert_int_equal(corio_coap_request(&cl, &bad, 50), CORIO_ERR_INVAL);
    bad = q;
    bad.method = CORIO_COAP_CONTENT;
    assert_int_equal(corio_coap_request(&cl, &bad, 50), CORIO_ERR_INVAL);
    bad = q;
    bad.payload_len = 3;
    assert_int_equal(corio_coap_request(&cl, &bad, 50), CORIO_ERR_INVAL);
    bad = q;
    bad.content_format = 70000;
    assert_int_equal(corio_coap_request(&cl, &bad, 50), CORIO_ERR_INVAL);
    assert_int_equal(corio_coap_request(NULL, &q, 50), CORIO_ERR_INVAL);
    assert_int_equal(rc_.nresp, 0);
    process(); /* STOPPED: only the cancellation is reported */
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(rc_.resp[0].token, 4);
    assert_int_equal(rc_.resp[0].result, CORIO_ERR_CLOSED);

    /* A path that cannot fit tx. */
    setup(NULL);
    init_client(64, 64);
    static char path[80];
    memset(path, 'p', sizeof path - 1);
    struct corio_coap_request big = get_req(path);
    assert_int_equal(corio_coap_request(&cl, &big, 1), CORIO_ERR_NOSPACE);
    static char seg[300];
    memset(seg, 's', sizeof seg - 1);
    big = get_req(seg);
    assert_int_equal(corio_coap_request(&cl, &big, 1), CORIO_ERR_INVAL);

    /* A new request from inside the final callback takes the freed slot. */
    setup(NULL);
    rc_.request_on_final = true;
    open_client(sizeof txbuf, sizeof rxbuf);
    for (uint64_t t = 1; t <= CORIO_COAP_MAX_EXCHANGES; t++)
        assert_int_equal(corio_coap_request(&cl, &q, t), CORIO_OK);
    process();
    struct corio_coap_msg m;
    take(&m);
    empty(CORIO_COAP_RST, m.mid);
    advance(1);
    assert_int_equal(rc_.nresp, 1);
    assert_int_equal(corio_coap_pending(&cl), CORIO_COAP_MAX_EXCHANGES);
}

static void stop_ends_everything(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_msg reg;
    observe("o", 1, &reg);
    notify(&reg, CORIO_COAP_ACK, reg.mid, 1, "a");
    advance(1);
    struct corio_coap_request q = get_req("q");
    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    assert_int_equal(corio_coap_stop(&cl), CORIO_OK);
    assert_int_equal(corio_coap_stop(&cl), CORIO_ERR_STATE);
    assert_int_equal(corio_coap_request(&cl, &q, 3), CORIO_ERR_STATE);
    assert_int_equal(rc_.nresp, 0);
    assert_int_equal(corio_coap_poll_ms(&cl), 0);
    process();
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[0].result, CORIO_ERR_CLOSED);
    assert_int_equal(rc_.resp[1].result, CORIO_ERR_CLOSED);
    assert_int_equal(rc_.closes, 1);
    assert_int_equal(rc_.close_err[0], CORIO_OK);
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_STOPPED);
    assert_false(fk.is_open);
    assert_int_equal(corio_coap_poll_ms(&cl), UINT32_MAX);
    assert_int_equal(corio_coap_stop(&cl), CORIO_ERR_STATE);
    /* And it starts again. */
    assert_int_equal(corio_coap_start(&cl), CORIO_OK);
    process();
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_OPEN);

    /* Stop from inside on_close while waiting. */
    rc_.stop_on_close = true;
    fk.recv_rc = CORIO_ERR_CLOSED;
    advance(1);
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_WAITING);
    process();
    assert_int_equal(corio_coap_state(&cl), CORIO_COAP_STOPPED);
}

/* The transport would not take a datagram: it goes later; too large: the request fails. */
static void send_blocked_and_too_large(void **state)
{
    (void)state;
    open_client(sizeof txbuf, sizeof rxbuf);
    struct corio_coap_request q = get_req("w");
    fk.send_block = true;
    assert_int_equal(corio_coap_request(&cl, &q, 1), CORIO_OK);
    process();
    assert_true(corio_coap_want_write(&cl));
    assert_int_equal(corio_coap_poll_ms(&cl), CORIO_COAP_OPEN_POLL_MS);
    fk.send_block = false;
    advance(20);
    assert_false(corio_coap_want_write(&cl));
    struct corio_coap_msg m;
    take(&m);
    /* Retransmissions wait for the transport too, without counting. */
    fk.send_block = true;
    advance(2000);
    fk.send_block = false;
    advance(20);
    take(&m);
    assert_int_equal(corio_coap_poll_ms(&cl), 4000); /* from the actual transmission */
    empty(CORIO_COAP_RST, m.mid);
    advance(1);

    fk.send_rc = CORIO_ERR_NOSPACE;
    assert_int_equal(corio_coap_request(&cl, &q, 2), CORIO_OK);
    process();
    assert_int_equal(rc_.nresp, 2);
    assert_int_equal(rc_.resp[1].result, CORIO_ERR_NOSPACE);
    assert_int_equal(rc_.closes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(get_with_piggybacked_response, setup),
        cmocka_unit_test_setup(retransmission_timing_and_give_up, setup),
        cmocka_unit_test_setup(retransmission_random_factor_and_config, setup),
        cmocka_unit_test_setup(separate_response, setup),
        cmocka_unit_test_setup(separate_response_before_ack_and_non, setup),
        cmocka_unit_test_setup(non_request, setup),
        cmocka_unit_test_setup(reset_refuses_request, setup),
        cmocka_unit_test_setup(rejections, setup),
        cmocka_unit_test_setup(unknown_critical_option, setup),
        cmocka_unit_test_setup(block1_transfer, setup),
        cmocka_unit_test_setup(block1_negotiation, setup),
        cmocka_unit_test_setup(block2_transfer, setup),
        cmocka_unit_test_setup(block2_changes_and_errors, setup),
        cmocka_unit_test_setup(block2_early_negotiation, setup),
        cmocka_unit_test_setup(observe_order_and_wrap, setup),
        cmocka_unit_test_setup(observe_reregistration, setup),
        cmocka_unit_test_setup(observe_cancel, setup),
        cmocka_unit_test_setup(observe_large_notification, setup),
        cmocka_unit_test_setup(observe_ended_by_peer, setup),
        cmocka_unit_test_setup(reopen_reregisters_and_backs_off, setup),
        cmocka_unit_test_setup(nstart_queueing, setup),
        cmocka_unit_test_setup(refusals_and_callback_rules, setup),
        cmocka_unit_test_setup(stop_ends_everything, setup),
        cmocka_unit_test_setup(send_blocked_and_too_large, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
