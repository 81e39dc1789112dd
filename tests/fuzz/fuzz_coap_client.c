/*
 * fuzz_coap_client.c - arbitrary datagrams fed into a CoAP client (coap.h) that has
 * requests and observations in flight, over an in-memory datagram transport, with time
 * passing, new requests, cancellations and transport failures along the way.
 *
 * Input: a sequence of records [op][len][len bytes]. The low three bits of op choose:
 * 0 deliver the bytes as a datagram; 1 deliver them with the message id and token of
 * the client's latest datagram patched in (so that responses match and the deep paths
 * are reached); 2 advance the clock by len * 97 ms; 3 start a request or observation
 * chosen by len (a GET, a Block1 POST, a NON, an observation); 4 cancel token len % 16;
 * 5 fail the next recv (the association is lost); 6 make sends block until the next
 * record; 7 deliver the bytes as a datagram longer than rx. Bits 3-7 of op are the
 * client's configuration on the first record (token length, nstart, block size).
 *
 * Beyond "no crash": every token the client accepted ends in exactly one final
 * on_response() by the time corio_coap_stop() completes, never a token it refused, and
 * notifications only for observations.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/coap.h"

#define MAX_TOKENS 16

static uint32_t clock_ms;
static bool is_open, recv_fail, send_block;
static struct corio_coap client;
static uint8_t tx[300], rx[300];
static uint8_t last[300];
static size_t last_len;
static const uint8_t *pending;
static size_t pending_len;
static bool pending_big;
static int accepted[MAX_TOKENS], finals[MAX_TOKENS], observing[MAX_TOKENS];
static uint8_t body[3000];

static int t_open(void *ctx)
{
    (void)ctx;
    if (clock_ms % 5 == 4)
        return CORIO_ERR_IO; /* now and then an open fails */
    is_open = true;
    return CORIO_OK;
}

static int t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!is_open || len == 0 || len > sizeof tx)
        abort();
    if (send_block)
        return 0;
    /* Every datagram the client sends must decode. */
    struct corio_coap_msg m;
    if (corio_coap_decode(buf, len, &m) != CORIO_OK)
        abort();
    memcpy(last, buf, len);
    last_len = len;
    return (int)len;
}

static int t_recv(void *ctx, uint8_t *buf, size_t cap)
{
    (void)ctx;
    if (!is_open || cap == 0)
        abort();
    if (recv_fail) {
        recv_fail = false;
        return CORIO_ERR_IO;
    }
    if (!pending)
        return 0;
    size_t n = pending_len;
    bool big = pending_big;
    const uint8_t *p = pending;
    pending = NULL;
    if (big || n > cap)
        return CORIO_ERR_NOSPACE;
    memcpy(buf, p, n);
    return (int)n;
}

static void t_close(void *ctx)
{
    (void)ctx;
    is_open = false;
}

static uint32_t t_now(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int t_fill(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(clock_ms + i * 31);
    return CORIO_OK;
}

static void on_response(void *user, uint64_t token, int result, const struct corio_coap_response *r)
{
    (void)user;
    if (token >= MAX_TOKENS || !accepted[token])
        abort();
    if (result == CORIO_OK && !r)
        abort();
    if (result != CORIO_OK && r)
        abort();
    if (r && r->payload_len && !r->payload)
        abort();
    if (result != CORIO_OK || !r->more) {
        finals[token]++;
        accepted[token] = 0; /* the token is free again */
        observing[token] = 0;
    }
}

static void on_notify(void *user, uint64_t token, const struct corio_coap_response *r)
{
    (void)user;
    if (token >= MAX_TOKENS || !accepted[token] || !observing[token] || !r)
        abort();
}

static const struct corio_coap_callbacks callbacks = {NULL, NULL, on_response, on_notify};

static void start(uint8_t choice, uint64_t token)
{
    struct corio_coap_request q;
    corio_coap_request_init(&q);
    q.path = (choice & 1) ? "d/dev/up/cbor" : "/d/dev/dn/cmd";
    bool observe = false;
    switch ((choice >> 1) & 3) {
    case 0:
        break;
    case 1:
        q.method = CORIO_COAP_POST;
        q.payload = body;
        q.payload_len = (size_t)choice * 11u + 1u;
        q.content_format = CORIO_COAP_FORMAT_CBOR;
        break;
    case 2:
        q.non_confirmable = true;
        break;
    default:
        observe = true;
        break;
    }
    if (accepted[token])
        return;
    int rc =
        observe ? corio_coap_observe(&client, &q, token) : corio_coap_request(&client, &q, token);
    if (rc == CORIO_OK) {
        accepted[token] = 1;
        observing[token] = observe;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clock_ms = 0xFFFF0000u;
    is_open = recv_fail = send_block = false;
    pending = NULL;
    last_len = 0;
    memset(accepted, 0, sizeof accepted);
    memset(finals, 0, sizeof finals);
    memset(observing, 0, sizeof observing);

    struct corio_coap_config cfg;
    corio_coap_config_init(&cfg);
    uint8_t setup = size ? data[0] : 0;
    cfg.token_len = (uint8_t)(1u + ((setup >> 3) & 7u));
    cfg.nstart = (uint8_t)(1u + ((setup >> 6) & 1u));
    cfg.block_szx = (uint8_t)((setup >> 7) ? 2 : 6);
    cfg.max_retransmit = 2;
    struct corio_datagram dg = {NULL, t_open, t_send, t_recv, t_close};
    struct corio_clock clk = {NULL, t_now};
    struct corio_random rnd = {NULL, t_fill};
    if (corio_coap_init(&client, &cfg, &dg, &clk, &rnd, tx, sizeof tx, rx, sizeof rx, &callbacks,
                        NULL) != CORIO_OK)
        abort();
    start(6, 0); /* an observation */
    start(3, 1); /* a Block1 POST */
    start(0, 2); /* a GET */
    corio_coap_start(&client);
    corio_coap_process(&client);

    size_t off = 0;
    while (off + 2 <= size) {
        uint8_t op = data[off], len = data[off + 1];
        off += 2;
        size_t n = size - off < len ? size - off : len;
        const uint8_t *bytes = data + off;
        send_block = false;
        switch (op & 7u) {
        case 0:
        case 7:
            pending = bytes;
            pending_len = n;
            pending_big = (op & 7u) == 7;
            off += n;
            break;
        case 1: {
            static uint8_t patched[300];
            memcpy(patched, bytes, n);
            if (n >= 4 && last_len >= 4) {
                patched[2] = last[2];
                patched[3] = last[3];
                size_t tkl = last[0] & 0x0Fu;
                if (4 + tkl <= n && 4 + tkl <= last_len) {
                    patched[0] = (uint8_t)((patched[0] & 0xF0u) | tkl);
                    memcpy(patched + 4, last + 4, tkl);
                }
            }
            pending = patched;
            pending_len = n;
            pending_big = false;
            off += n;
            break;
        }
        case 2:
            clock_ms += (uint32_t)len * 97u;
            break;
        case 3:
            start(len, (uint64_t)(len % MAX_TOKENS));
            break;
        case 4:
            if (corio_coap_cancel(&client, (uint64_t)(len % MAX_TOKENS)) == CORIO_OK &&
                !accepted[len % MAX_TOKENS])
                abort();
            break;
        case 5:
            recv_fail = true;
            break;
        default:
            send_block = true;
            break;
        }
        corio_coap_process(&client);
        (void)corio_coap_poll_ms(&client);
        pending = NULL;
    }

    /* Everything still held ends with the stop, exactly once. */
    send_block = false;
    corio_coap_stop(&client);
    corio_coap_process(&client);
    if (corio_coap_pending(&client) != 0 || corio_coap_state(&client) != CORIO_COAP_STOPPED)
        abort();
    for (int i = 0; i < MAX_TOKENS; i++)
        if (accepted[i])
            abort();
    return 0;
}
