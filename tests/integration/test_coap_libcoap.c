/*
 * test_coap_libcoap.c - the SDK's CoAP client (coap.h) over the POSIX UDP and DTLS
 * transports against libcoap's coap-server (Debian's libcoap3-bin, the stack the gateway
 * uses), with coap-client as an independent second party: a POST that needs Block1
 * whose stored body coap-client reads back, a large resource written by coap-client and
 * read with Block2, a separate response, Observe of a resource coap-client changes
 * (notifications in order, then cancellation), and the same over DTLS with a
 * certificate from the harness's PKI, including refusal of a foreign CA and a wrong name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/coap.h"
#include "corio/port_posix.h"
#include "harness.h"

#define SERVER "/usr/bin/coap-server-openssl"
#define CLIENT "/usr/bin/coap-client-openssl"

/* ---------------------------------------------------------------------------------
 * coap-server on free ports
 */

/* Whether port is free for both UDP and TCP on 127.0.0.1 (coap-server takes both). */
static bool port_free(int port)
{
    int types[2] = {SOCK_DGRAM, SOCK_STREAM};
    for (int i = 0; i < 2; i++) {
        int fd = socket(AF_INET, types[i], 0);
        if (fd < 0)
            return false;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
        close(fd);
        if (rc != 0)
            return false;
    }
    return true;
}

struct server {
    struct h_proc *proc;
    int port;      /* UDP (and TCP) */
    int dtls_port; /* port + 1 when certificates were given */
};

/* Starts coap-server with dynamic resources; with pki, DTLS on port + 1 too. Ready when
 * its TCP listeners accept (it opens them with the UDP ones). */
static struct server start_server(const struct h_pki *pki)
{
    struct server s = {0};
    for (int tries = 0; tries < 20 && !s.port; tries++) {
        int p = h_free_port();
        assert_true(p > 0);
        if (p < 65535 && port_free(p) && port_free(p + 1))
            s.port = p;
    }
    assert_true(s.port > 0);
    const char *port = h_strf("%d", s.port);
    const char *plain[] = {SERVER, "-A", "127.0.0.1", "-p", port, "-d", "20", "-v", "7", NULL};
    const char *secure[] = {SERVER,
                            "-A",
                            "127.0.0.1",
                            "-p",
                            port,
                            "-d",
                            "20",
                            "-v",
                            "7",
                            "-c",
                            pki ? pki->server_cert : "",
                            "-j",
                            pki ? pki->server_key : "",
                            NULL};
    /* coap-server ends cleanly (status 0) on SIGINT and is killed by SIGTERM. */
    struct h_proc_opts opts = {.stop_signal = SIGINT};
    s.proc = h_proc_start("coap-server", pki ? secure : plain, &opts);
    assert_non_null(s.proc);
    assert_int_equal(h_proc_wait_port(s.proc, s.port, 10000), CORIO_OK);
    if (pki) {
        s.dtls_port = s.port + 1;
        assert_int_equal(h_proc_wait_port(s.proc, s.dtls_port, 10000), CORIO_OK);
    }
    return s;
}

/* Runs coap-client with args after the program name; returns its output. */
static char *coap_client(const char *const *args)
{
    const char *argv[24] = {CLIENT};
    int n = 1;
    while (args[n - 1] && n < 23) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    char *out = NULL;
    assert_int_equal(h_run("coap-client", argv, NULL, 20000, &out), 0);
    return out;
}

/* ---------------------------------------------------------------------------------
 * Our client, driven in the test's thread
 */

struct got {
    int opens, closes, last_close;
    int finals;
    uint64_t token;
    int result;
    uint8_t code;
    bool observe;
    uint8_t body[65536];
    size_t body_len;
    int pieces;
    int notifies; /* whole notifications */
    int notify_pieces;
    uint32_t seq[64];
    char note[64][64];
    uint8_t nbody[8192]; /* the latest notification, assembled */
    size_t nbody_len;
};

struct dev {
    struct corio_coap c;
    struct corio_posix_udp udp;
    struct corio_posix_dtls dtls;
    bool secure;
    uint8_t tx[1200], rx[1200];
    struct got g;
};

static void on_open(void *user)
{
    struct dev *d = user;
    d->g.opens++;
}

static void on_close(void *user, int err)
{
    struct dev *d = user;
    d->g.closes++;
    d->g.last_close = err;
}

static void on_response(void *user, uint64_t token, int result, const struct corio_coap_response *r)
{
    struct dev *d = user;
    struct got *g = &d->g;
    g->token = token;
    g->result = result;
    if (r) {
        g->code = r->code;
        g->observe = r->observe;
        /* Pieces of a block-wise body come in order; offset 0 starts it over. */
        if (r->offset == 0)
            g->body_len = 0;
        assert_int_equal(r->offset, g->body_len);
        assert_true(g->body_len + r->payload_len <= sizeof g->body);
        if (r->payload_len)
            memcpy(g->body + g->body_len, r->payload, r->payload_len);
        g->body_len += r->payload_len;
        g->pieces++;
    }
    if (result != CORIO_OK || !r->more)
        g->finals++;
}

static void on_notify(void *user, uint64_t token, const struct corio_coap_response *r)
{
    struct dev *d = user;
    struct got *g = &d->g;
    (void)token;
    /* A large notification comes in pieces; offset 0 starts a new one. */
    g->notify_pieces++;
    if (r->offset == 0) {
        g->nbody_len = 0;
        if (g->notifies < 64)
            g->seq[g->notifies] = r->observe_seq;
    }
    assert_int_equal(r->offset, g->nbody_len);
    assert_true(g->nbody_len + r->payload_len <= sizeof g->nbody);
    if (r->payload_len)
        memcpy(g->nbody + g->nbody_len, r->payload, r->payload_len);
    g->nbody_len += r->payload_len;
    if (r->more)
        return;
    if (g->notifies < 64) {
        size_t n = g->nbody_len < 63 ? g->nbody_len : 63;
        memcpy(g->note[g->notifies], g->nbody, n);
        g->note[g->notifies][n] = 0;
    }
    g->notifies++;
}

static const struct corio_coap_callbacks callbacks = {on_open, on_close, on_response, on_notify};

static void dev_free(void *arg)
{
    struct dev *d = arg;
    if (d->secure)
        corio_posix_dtls_free(&d->dtls);
    else if (d->udp.fd >= 0)
        close(d->udp.fd);
    free(d);
}

/* A client to the server over UDP, or over DTLS checked against ca_pem and name. */
static struct dev *dev_new(const struct server *s, const struct corio_coap_config *cfg,
                           const char *ca_pem, const char *name, size_t rx_cap)
{
    struct dev *d = calloc(1, sizeof *d);
    assert_non_null(d);
    struct corio_datagram dg;
    if (ca_pem) {
        d->secure = true;
        assert_int_equal(
            corio_posix_dtls_init(&d->dtls, "127.0.0.1", (uint16_t)s->dtls_port, ca_pem, name),
            CORIO_OK);
        corio_posix_dtls_datagram(&d->dtls, &dg);
    } else {
        assert_int_equal(corio_posix_udp_init(&d->udp, "127.0.0.1", (uint16_t)s->port), CORIO_OK);
        corio_posix_udp_datagram(&d->udp, &dg);
    }
    h_defer(dev_free, d);
    struct corio_clock clk;
    struct corio_random rnd;
    corio_posix_clock(&clk);
    corio_posix_random(&rnd);
    struct corio_coap_config def;
    corio_coap_config_init(&def);
    assert_int_equal(corio_coap_init(&d->c, cfg ? cfg : &def, &dg, &clk, &rnd, d->tx, sizeof d->tx,
                                     d->rx, rx_cap ? rx_cap : sizeof d->rx, &callbacks, d),
                     CORIO_OK);
    assert_int_equal(corio_coap_start(&d->c), CORIO_OK);
    return d;
}

/* One round of the application's loop: wait for the socket or the client's timer (at
 * most 50 ms, so that the test's deadline is checked), then process. */
static void dev_step(struct dev *d)
{
    uint32_t ms = corio_coap_poll_ms(&d->c);
    if (ms > 50)
        ms = 50;
    bool ww = corio_coap_want_write(&d->c);
    if (d->secure)
        corio_posix_dtls_wait(&d->dtls, ms, ww);
    else
        corio_posix_udp_wait(&d->udp, ms, ww);
    assert_int_equal(corio_coap_process(&d->c), CORIO_OK);
}

#define DEV_UNTIL(d, cond, ms)                                                                     \
    do {                                                                                           \
        int64_t end_ = h_now_ms() + h_ms(ms);                                                      \
        while (!(cond) && h_now_ms() < end_)                                                       \
            dev_step(d);                                                                           \
        assert_true(cond);                                                                         \
    } while (0)

static struct corio_coap_request req(uint8_t method, const char *path)
{
    struct corio_coap_request q;
    corio_coap_request_init(&q);
    q.method = method;
    q.path = path;
    return q;
}

/* Text bodies, so that coap-client's output can be compared directly. */
static void fill_text(uint8_t *b, size_t n, unsigned seed)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)alphabet[(i * 7 + seed + i / 13) % 36];
}

/* POSTs body to path and waits for the final response; returns its code. */
static uint8_t post(struct dev *d, const char *path, const uint8_t *body, size_t len,
                    uint64_t token)
{
    struct corio_coap_request q = req(CORIO_COAP_POST, path);
    q.content_format = CORIO_COAP_FORMAT_TEXT;
    q.payload = body;
    q.payload_len = len;
    int finals = d->g.finals;
    assert_int_equal(corio_coap_request(&d->c, &q, token), CORIO_OK);
    DEV_UNTIL(d, d->g.finals > finals, 60000);
    assert_int_equal(d->g.token, token);
    assert_int_equal(d->g.result, CORIO_OK);
    return d->g.code;
}

/* GETs path and waits for the whole body into d->g.body. */
static void get(struct dev *d, const char *path, uint64_t token)
{
    struct corio_coap_request q = req(CORIO_COAP_GET, path);
    int finals = d->g.finals;
    d->g.pieces = 0;
    d->g.body_len = 0;
    assert_int_equal(corio_coap_request(&d->c, &q, token), CORIO_OK);
    DEV_UNTIL(d, d->g.finals > finals, 60000);
    assert_int_equal(d->g.token, token);
    assert_int_equal(d->g.result, CORIO_OK);
}

static const char *url(const struct server *s, const char *path)
{
    return h_strf("coap://127.0.0.1:%d/%s", s->port, path);
}

/* ---------------------------------------------------------------------------------
 * Tests
 */

/* A 5000-byte POST goes in 1024-byte blocks, and again in 64-byte blocks; coap-client
 * reads back exactly what was stored. */
static void udp_post_block1(void **state)
{
    (void)state;
    struct server s = start_server(NULL);
    struct dev *d = dev_new(&s, NULL, NULL, NULL, 0);
    static uint8_t body[5000];
    fill_text(body, sizeof body, 1);
    /* The first POST creates the resource (2.01), the next one changes it (2.04). */
    assert_int_equal(post(d, "d/dev1/up/cbor", body, sizeof body, 1), CORIO_COAP_CREATED);
    fill_text(body, sizeof body, 2);
    assert_int_equal(post(d, "d/dev1/up/cbor", body, sizeof body, 2), CORIO_COAP_CHANGED);
    /* The server's debug log shows every message: five blocks, Size1 in the first. */
    assert_true(h_proc_log_contains(s.proc, "Block1:0/M/1024, Size1:5000"));
    assert_true(h_proc_log_contains(s.proc, "Block1:4/_/1024 ]"));
    const char *path = h_strf("%s/got1", h_dir());
    coap_client((const char *[]){"-m", "get", "-o", path, url(&s, "d/dev1/up/cbor"), NULL});
    size_t n = 0;
    char *got = h_read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, sizeof body);
    assert_memory_equal(got, body, sizeof body);

    struct corio_coap_config cfg;
    corio_coap_config_init(&cfg);
    cfg.block_szx = 2;
    struct dev *small = dev_new(&s, &cfg, NULL, NULL, 0);
    fill_text(body, 3000, 3);
    assert_int_equal(post(small, "d/dev2/up/cbor", body, 3000, 3), CORIO_COAP_CREATED);
    assert_true(h_proc_log_contains(s.proc, "Block1:46/_/64 ]")); /* 47 blocks of 64 */
    path = h_strf("%s/got2", h_dir());
    coap_client((const char *[]){"-m", "get", "-o", path, url(&s, "d/dev2/up/cbor"), NULL});
    got = h_read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, 3000);
    assert_memory_equal(got, body, 3000);
    assert_int_equal(d->g.closes + small->g.closes, 0);
}

/* coap-client PUTs a 20000-byte resource; our client GETs it block by block, once with
 * the server's block size and once asking for 128-byte blocks (a small rx). */
static void udp_get_block2(void **state)
{
    (void)state;
    struct server s = start_server(NULL);
    static uint8_t body[20000];
    fill_text(body, sizeof body, 5);
    const char *file = h_strf("%s/big.txt", h_dir());
    char *text = malloc(sizeof body + 1);
    assert_non_null(text);
    memcpy(text, body, sizeof body);
    text[sizeof body] = 0;
    assert_int_equal(h_write_file(file, text), CORIO_OK);
    free(text);
    coap_client((const char *[]){"-m", "put", "-f", file, url(&s, "d/dev1/dn/ota"), NULL});

    struct dev *d = dev_new(&s, NULL, NULL, NULL, 0);
    get(d, "d/dev1/dn/ota", 1);
    assert_int_equal(d->g.code, CORIO_COAP_CONTENT);
    assert_int_equal(d->g.body_len, sizeof body);
    assert_memory_equal(d->g.body, body, sizeof body);
    assert_true(d->g.pieces > 1);

    struct dev *small = dev_new(&s, NULL, NULL, NULL, 200);
    get(small, "d/dev1/dn/ota", 2);
    assert_int_equal(small->g.body_len, sizeof body);
    assert_memory_equal(small->g.body, body, sizeof body);
    assert_int_equal(small->g.pieces, (int)((sizeof body + 127) / 128));
}

/* /async answers after a delay: an empty ACK first, then the response on its own. */
static void udp_separate_response(void **state)
{
    (void)state;
    struct server s = start_server(NULL);
    struct dev *d = dev_new(&s, NULL, NULL, NULL, 0);
    struct corio_coap_request q = req(CORIO_COAP_GET, "async");
    q.query = "2";
    int64_t t0 = h_now_ms();
    assert_int_equal(corio_coap_request(&d->c, &q, 1), CORIO_OK);
    DEV_UNTIL(d, d->g.finals == 1, 20000);
    assert_true(h_now_ms() - t0 >= 1500);
    assert_int_equal(d->g.result, CORIO_OK);
    assert_int_equal(d->g.code, CORIO_COAP_CONTENT);
    assert_int_equal(d->g.body_len, 4);
    assert_memory_equal(d->g.body, "done", 4);
}

/* Nobody listens: the ICMP "port unreachable" answers count as lost datagrams, the
 * request times out, and the association is reopened after the backoff. */
static void udp_nobody_listens(void **state)
{
    (void)state;
    struct server s = {0};
    for (int tries = 0; tries < 20 && !s.port; tries++) {
        int p = h_free_port();
        if (p > 0 && port_free(p))
            s.port = p;
    }
    assert_true(s.port > 0);
    struct corio_coap_config cfg;
    corio_coap_config_init(&cfg);
    cfg.ack_timeout_ms = 100;
    cfg.max_retransmit = 2;
    cfg.backoff.initial_ms = 50;
    struct dev *d = dev_new(&s, &cfg, NULL, NULL, 0);
    struct corio_coap_request q = req(CORIO_COAP_GET, "x");
    assert_int_equal(corio_coap_request(&d->c, &q, 1), CORIO_OK);
    DEV_UNTIL(d, d->g.finals == 1, 10000);
    assert_int_equal(d->g.result, CORIO_ERR_TIMEOUT);
    assert_true(d->udp.lost >= 1);
    DEV_UNTIL(d, d->g.opens == 2, 10000);
    assert_int_equal(d->g.closes, 1);
    assert_int_equal(d->g.last_close, CORIO_ERR_TIMEOUT);
}

/* Observe /example_data while coap-client changes it: each change arrives, in order;
 * after the cancellation no more do. */
static void observe_changes(struct server *s, struct dev *d, const char *coap_url)
{
    coap_client((const char *[]){"-m", "put", "-e", "state-0", coap_url, NULL});
    int finals = d->g.finals, notifies = d->g.notifies;
    struct corio_coap_request q = req(CORIO_COAP_GET, "example_data");
    assert_int_equal(corio_coap_observe(&d->c, &q, 9), CORIO_OK);
    DEV_UNTIL(d, d->g.notifies == notifies + 1, 20000);
    assert_string_equal(d->g.note[notifies], "state-0");
    for (int i = 1; i <= 5; i++) {
        char value[16];
        snprintf(value, sizeof value, "state-%d", i);
        coap_client((const char *[]){"-m", "put", "-e", value, coap_url, NULL});
        DEV_UNTIL(d, d->g.notifies == notifies + i + 1, 20000);
        assert_string_equal(d->g.note[notifies + i], value);
        assert_true(d->g.seq[notifies + i] - d->g.seq[notifies + i - 1] < (1u << 23));
    }
    assert_int_equal(d->g.finals, finals);
    assert_int_equal(corio_coap_cancel(&d->c, 9), CORIO_OK);
    DEV_UNTIL(d, d->g.finals == finals + 1, 20000);
    assert_int_equal(d->g.token, 9);
    assert_int_equal(d->g.result, CORIO_OK);
    assert_false(d->g.observe); /* the server no longer lists us */
    coap_client((const char *[]){"-m", "put", "-e", "after", coap_url, NULL});
    int64_t end = h_now_ms() + 500;
    while (h_now_ms() < end)
        dev_step(d);
    assert_int_equal(d->g.notifies, notifies + 6);
    assert_int_equal(corio_coap_pending(&d->c), 0);
    (void)s;
}

static void udp_observe(void **state)
{
    (void)state;
    struct server s = start_server(NULL);
    struct dev *d = dev_new(&s, NULL, NULL, NULL, 0);
    observe_changes(&s, d, url(&s, "example_data"));

    /* /time changes every second by itself: notifications keep coming, in order. */
    struct corio_coap_request q = req(CORIO_COAP_GET, "time");
    assert_int_equal(corio_coap_observe(&d->c, &q, 10), CORIO_OK);
    DEV_UNTIL(d, d->g.notifies >= 6 + 4, 20000);
    for (int i = 7; i < d->g.notifies && i < 64; i++)
        assert_true(d->g.seq[i] - d->g.seq[i - 1] < (1u << 23));
    assert_int_equal(d->g.closes, 0);
}

/* A notification larger than a block (coap-client PUTs 3000 bytes) arrives whole: the
 * client fetches the rest with Block2 (RFC 7959 §2.6), and libcoap, which holds later
 * notifications back until a large one was fetched, sends the next change at once. */
static void udp_observe_large_notification(void **state)
{
    (void)state;
    struct server s = start_server(NULL);
    static uint8_t big[3000];
    const char *file = h_strf("%s/big.txt", h_dir());
    char text[sizeof big + 1];
    fill_text(big, sizeof big, 7);
    memcpy(text, big, sizeof big);
    text[sizeof big] = 0;
    assert_int_equal(h_write_file(file, text), CORIO_OK);
    coap_client((const char *[]){"-m", "put", "-f", file, url(&s, "example_data"), NULL});

    struct dev *d = dev_new(&s, NULL, NULL, NULL, 0);
    struct corio_coap_request q = req(CORIO_COAP_GET, "example_data");
    assert_int_equal(corio_coap_observe(&d->c, &q, 1), CORIO_OK);
    DEV_UNTIL(d, d->g.notifies == 1, 20000);
    assert_int_equal(d->g.nbody_len, sizeof big);
    assert_memory_equal(d->g.nbody, big, sizeof big);
    assert_true(d->g.notify_pieces >= 3);
    assert_true(h_proc_log_contains(s.proc, "Block2:2/_/1024"));

    /* Another large change, then a small one: both arrive promptly and whole. */
    fill_text(big, sizeof big, 8);
    memcpy(text, big, sizeof big);
    assert_int_equal(h_write_file(file, text), CORIO_OK);
    coap_client((const char *[]){"-m", "put", "-f", file, url(&s, "example_data"), NULL});
    DEV_UNTIL(d, d->g.notifies == 2, 10000);
    assert_int_equal(d->g.nbody_len, sizeof big);
    assert_memory_equal(d->g.nbody, big, sizeof big);
    coap_client((const char *[]){"-m", "put", "-e", "small", url(&s, "example_data"), NULL});
    DEV_UNTIL(d, d->g.notifies == 3, 10000);
    assert_string_equal(d->g.note[2], "small");
    assert_int_equal(d->g.finals, 0);
    int finals = d->g.finals;
    assert_int_equal(corio_coap_cancel(&d->c, 1), CORIO_OK);
    DEV_UNTIL(d, d->g.finals == finals + 1, 20000);
}

/* The same over DTLS with a certificate for "localhost" from the harness's CA. */
static void dtls_post_get_observe(void **state)
{
    (void)state;
    struct h_pki *pki = h_pki_create("device-1");
    assert_non_null(pki);
    struct server s = start_server(pki);
    char *ca = h_read_file(pki->ca_cert, NULL);
    assert_non_null(ca);
    struct dev *d = dev_new(&s, NULL, ca, "localhost", 0);
    DEV_UNTIL(d, d->g.opens == 1, 30000);
    assert_int_equal(d->g.closes, 0);

    static uint8_t body[4000];
    fill_text(body, sizeof body, 9);
    assert_int_equal(post(d, "d/dev1/up/cbor", body, sizeof body, 1), CORIO_COAP_CREATED);
    get(d, "d/dev1/up/cbor", 2);
    assert_int_equal(d->g.body_len, sizeof body);
    assert_memory_equal(d->g.body, body, sizeof body);

    /* coap-client changes the resource over plain UDP; we observe it over DTLS. */
    observe_changes(&s, d, url(&s, "example_data"));
    assert_int_equal(d->g.closes, 0);
}

/* A certificate from another CA, and the right CA with the wrong name, fail the
 * handshake with CORIO_ERR_BADSIG; nothing is sent in clear meanwhile. */
static void dtls_refuses_wrong_peer(void **state)
{
    (void)state;
    struct h_pki *pki = h_pki_create("device-1");
    struct h_pki *other = h_pki_create("device-2");
    assert_non_null(pki);
    assert_non_null(other);
    struct server s = start_server(pki);
    struct corio_coap_request q = req(CORIO_COAP_GET, "time");

    char *foreign = h_read_file(other->ca_cert, NULL);
    struct dev *d = dev_new(&s, NULL, foreign, "localhost", 0);
    assert_int_equal(corio_coap_request(&d->c, &q, 1), CORIO_OK);
    DEV_UNTIL(d, d->g.closes >= 1, 30000);
    assert_int_equal(d->g.last_close, CORIO_ERR_BADSIG);
    assert_int_equal(d->g.opens, 0);
    assert_int_equal(d->g.finals, 0);

    char *ca = h_read_file(pki->ca_cert, NULL);
    struct dev *e = dev_new(&s, NULL, ca, "gateway.example", 0);
    DEV_UNTIL(e, e->g.closes >= 1, 30000);
    assert_int_equal(e->g.last_close, CORIO_ERR_BADSIG);
    assert_int_equal(e->g.opens, 0);

    /* The request waits for an association and ends when the application stops. */
    assert_int_equal(corio_coap_stop(&d->c), CORIO_OK);
    DEV_UNTIL(d, d->g.finals == 1, 5000);
    assert_int_equal(d->g.result, CORIO_ERR_CLOSED);
}

/* The gateway crashes and comes back on the same port with no memory of our DTLS
 * session: the unanswered request ends with CORIO_ERR_TIMEOUT, the client handshakes
 * again, registers its observation again, and the outbox's retry is delivered. */
static void dtls_gateway_restart(void **state)
{
    (void)state;
    struct h_pki *pki = h_pki_create("device-1");
    assert_non_null(pki);
    struct server s = start_server(pki);
    char *ca = h_read_file(pki->ca_cert, NULL);
    struct corio_coap_config cfg;
    corio_coap_config_init(&cfg);
    cfg.ack_timeout_ms = 200; /* a short exchange lifetime keeps the test short */
    cfg.max_retransmit = 2;
    cfg.backoff.initial_ms = 100;
    struct dev *d = dev_new(&s, &cfg, ca, "localhost", 0);
    static uint8_t body[1500];
    fill_text(body, sizeof body, 4);
    assert_int_equal(post(d, "d/dev1/up/cbor", body, sizeof body, 1), CORIO_COAP_CREATED);
    struct corio_coap_request q = req(CORIO_COAP_GET, "example_data");
    assert_int_equal(corio_coap_observe(&d->c, &q, 2), CORIO_OK);
    DEV_UNTIL(d, d->g.notifies == 1, 20000);

    h_proc_kill(s.proc);
    assert_int_equal(h_proc_restart(s.proc), CORIO_OK);
    assert_int_equal(h_proc_wait_port(s.proc, s.dtls_port, 10000), CORIO_OK);

    /* The outbox sends until the gateway answers; the first try meets the dead session. */
    uint8_t code = 0;
    int tries = 0;
    while (code != CORIO_COAP_CREATED && tries++ < 10) {
        struct corio_coap_request p = req(CORIO_COAP_POST, "d/dev1/up/cbor");
        p.payload = body;
        p.payload_len = sizeof body;
        int finals = d->g.finals;
        assert_int_equal(corio_coap_request(&d->c, &p, 10 + (uint64_t)tries), CORIO_OK);
        DEV_UNTIL(d, d->g.finals > finals, 30000);
        if (d->g.result == CORIO_OK)
            code = d->g.code;
        else
            assert_int_equal(d->g.result, CORIO_ERR_TIMEOUT);
    }
    assert_int_equal(code, CORIO_COAP_CREATED); /* the restarted server had no resource */
    assert_true(tries >= 2);
    assert_true(d->g.closes >= 1);
    assert_int_equal(d->g.opens, d->g.closes + 1);

    /* The observation was registered again on the new session. */
    DEV_UNTIL(d, d->g.notifies >= 2, 20000);
    int seen = d->g.notifies;
    coap_client(
        (const char *[]){"-m", "put", "-e", "after-restart", url(&s, "example_data"), NULL});
    DEV_UNTIL(d, d->g.notifies == seen + 1, 20000);
    assert_string_equal(d->g.note[seen], "after-restart");
    /* Deregister: coap-server holds its shutdown for a minute while an observer over
     * DTLS does not acknowledge its last notification. */
    int finals = d->g.finals;
    assert_int_equal(corio_coap_cancel(&d->c, 2), CORIO_OK);
    DEV_UNTIL(d, d->g.finals == finals + 1, 20000);
    assert_int_equal(d->g.result, CORIO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(udp_post_block1),
        H_TEST(udp_get_block2),
        H_TEST(udp_separate_response),
        H_TEST(udp_observe),
        H_TEST(dtls_post_get_observe),
        H_TEST(dtls_refuses_wrong_peer),
        H_TEST(udp_observe_large_notification),
        H_TEST(dtls_gateway_restart),
        H_TEST(udp_nobody_listens),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
