/*
 * tls_transport.c - mutual TLS for raft_uv (ledger_tls_transport.h).
 *
 * A connection owns up to four libuv objects: the TCP handle (ciphertext), a timer
 * (the deadline for connect + handshake + hello), our end of a socketpair as a
 * uv_pipe_t (plaintext), and, until raft_uv takes it, raft's end of the socketpair.
 * A connection is freed when every handle it opened has called back from uv_close and
 * no address lookup is pending; everything else (the raft callback, the SSL object) is
 * released on that path, so there is one way out (conn_close).
 *
 * Flow control: what raft writes is read from the pipe, encrypted and queued on TCP;
 * reading the pipe stops while more than HIGH_WATER bytes wait on TCP and resumes
 * below LOW_WATER. The other direction does the same with TCP reads and pipe writes.
 * raft_uv's outbound streams are write-only and its inbound streams read-only, but
 * both directions are pumped, so a closed end is noticed on either side.
 */
#include "ledger_tls_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "corio_log.h"

#define HELLO_MAGIC   "cor-raft"
#define HELLO_VERSION 1u
#define HELLO_FIXED   32 /* magic, version, id, address length: 8 bytes each */
#define ADDRESS_MAX   255
#define READ_CHUNK    65536
#define HIGH_WATER    (4u << 20)
#define LOW_WATER     (1u << 20)

enum conn_state { C_RESOLVING, C_CONNECTING, C_HANDSHAKE, C_HELLO, C_OPEN, C_CLOSING };

struct tt;

struct conn {
    struct tt *t;
    struct conn *prev, *next;
    bool outbound;
    enum conn_state state;
    int handles; /* uv handles opened and not yet closed back */
    bool gai_pending;
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_tcp_t tcp;
    bool tcp_init, tcp_reading;
    uv_timer_t timer;
    bool timer_init;
    uv_pipe_t app; /* our end of the socketpair */
    bool app_init, app_reading;
    uv_pipe_t *raft_end; /* raft's end, ours until handed over */
    int raft_fd;         /* raft's end before it became a pipe, else -1 */
    SSL *ssl;
    BIO *rbio, *wbio; /* network -> SSL, SSL -> network; owned by ssl */
    /* outbound */
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    raft_id peer_id;
    char host[ADDRESS_MAX + 1], port[16];
    /* inbound hello */
    uint8_t hello[HELLO_FIXED + ADDRESS_MAX + 1];
    size_t hello_len, hello_need;
};

struct tt {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    SSL_CTX *ctx;
    raft_id id;
    char address[ADDRESS_MAX + 1];
    char bind_address[ADDRESS_MAX + 1];
    bool verify_names;
    bool verify_ids;
    unsigned handshake_timeout_ms;
    uv_tcp_t listener;
    bool listener_open; /* initialised and not yet closed back */
    raft_uv_accept_cb accept_cb;
    struct conn *conns;
    bool closing;
    raft_uv_transport_close_cb close_cb;
    struct corio_tls_stats stats;
    uint64_t last_warn_ms; /* failed handshakes are logged at warn level once per 10 s */
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    bool to_tcp;
    uv_buf_t buf;
};

static void conn_close(struct conn *c, int raft_status);
static void app_start_reading(struct conn *c);
static void tcp_start_reading(struct conn *c);

/* ---- helpers ------------------------------------------------------------------------ */

/* The first OpenSSL error on the queue, as text; the queue is cleared. */
static const char *ssl_err(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", "no OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* Splits "host:port" or "[v6]:port". Returns 0 or -1. */
static int split_address(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1] || strlen(colon + 1) >= plen)
        return -1;
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (h[0] == '[') {
        if (n < 2 || h[n - 1] != ']')
            return -1;
        h++;
        n -= 2;
    }
    if (n == 0 || n >= hlen)
        return -1;
    memcpy(host, h, n);
    host[n] = 0;
    snprintf(port, plen, "%s", colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return 0;
}

static bool is_ip(const char *host)
{
    unsigned char tmp[16];
    return uv_inet_pton(AF_INET, host, tmp) == 0 || uv_inet_pton(AF_INET6, host, tmp) == 0;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void maybe_fire_close(struct tt *t)
{
    if (t->closing && !t->listener_open && !t->conns && t->close_cb) {
        raft_uv_transport_close_cb cb = t->close_cb;
        t->close_cb = NULL;
        cb(t->t);
    }
}

static void maybe_free(struct conn *c)
{
    if (c->handles > 0 || c->gai_pending)
        return;
    struct tt *t = c->t;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->raft_fd >= 0)
        close(c->raft_fd);
    free(c);
    if (t->stats.open)
        t->stats.open--;
    maybe_fire_close(t);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->handles--;
    maybe_free(c);
}

static void on_raft_end_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    raft_free(h);
    c->handles--;
    maybe_free(c);
}

static struct conn *conn_new(struct tt *t, bool outbound)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->t = t;
    c->outbound = outbound;
    c->raft_fd = -1;
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    t->stats.open++;
    return c;
}

/* ---- writing ------------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = req->data;
    struct conn *c = w->c;
    bool to_tcp = w->to_tcp;
    free(w);
    if (c->state == C_CLOSING)
        return;
    if (status < 0) {
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    /* Resume the side that was paused for this one to drain. */
    if (to_tcp && c->state == C_OPEN && !c->app_reading &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < LOW_WATER)
        app_start_reading(c);
    if (!to_tcp && !c->tcp_reading &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->app) < LOW_WATER)
        tcp_start_reading(c);
}

/* Queues a copy of data on the TCP handle (to_tcp) or on our pipe end. */
static int queue_write(struct conn *c, bool to_tcp, const void *data, size_t len)
{
    struct wreq *w = malloc(sizeof *w + len);
    if (!w)
        return UV_ENOMEM;
    w->c = c;
    w->to_tcp = to_tcp;
    w->buf = uv_buf_init((char *)(w + 1), (unsigned)len);
    memcpy(w + 1, data, len);
    w->req.data = w;
    uv_stream_t *s = to_tcp ? (uv_stream_t *)&c->tcp : (uv_stream_t *)&c->app;
    int rc = uv_write(&w->req, s, &w->buf, 1, on_written);
    if (rc < 0)
        free(w);
    return rc;
}

/* Sends whatever TLS records OpenSSL produced. Returns 0 or a libuv error. */
static int flush_tls(struct conn *c)
{
    for (;;) {
        size_t pending = BIO_ctrl_pending(c->wbio);
        if (pending == 0)
            return 0;
        uint8_t buf[16384];
        int n = BIO_read(c->wbio, buf, (int)(pending < sizeof buf ? pending : sizeof buf));
        if (n <= 0)
            return UV_EIO;
        int rc = queue_write(c, true, buf, (size_t)n);
        if (rc < 0)
            return rc;
    }
}

/* ---- reading ------------------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(READ_CHUNK);
    buf->len = buf->base ? READ_CHUNK : 0;
}

static void deliver(struct conn *c, const uint8_t *data, size_t len)
{
    if (queue_write(c, false, data, len) < 0) {
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    if (c->tcp_reading && uv_stream_get_write_queue_size((uv_stream_t *)&c->app) > HIGH_WATER) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->tcp_reading = false;
    }
}

/* Makes the socketpair: our end as c->app (reading), raft's end as c->raft_end. */
static int open_pair(struct conn *c)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return -errno;
    int rc = uv_pipe_init(c->t->loop, &c->app, 0);
    if (rc < 0) {
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    c->app.data = c;
    c->app_init = true;
    c->handles++;
    rc = uv_pipe_open(&c->app, fds[0]);
    if (rc < 0) {
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    c->raft_fd = fds[1];
    c->raft_end = raft_malloc(sizeof *c->raft_end);
    if (!c->raft_end)
        return UV_ENOMEM;
    rc = uv_pipe_init(c->t->loop, c->raft_end, 0);
    if (rc < 0) {
        raft_free(c->raft_end);
        c->raft_end = NULL;
        return rc;
    }
    c->raft_end->data = c;
    c->handles++;
    rc = uv_pipe_open(c->raft_end, c->raft_fd);
    if (rc < 0)
        return rc;
    c->raft_fd = -1;
    return 0;
}

/* raft_uv takes its end: from now on it closes and frees it. */
static uv_stream_t *hand_over(struct conn *c)
{
    uv_stream_t *s = (uv_stream_t *)c->raft_end;
    c->raft_end = NULL;
    c->handles--;
    return s;
}

bool corio_tls_cert_names_node(const struct x509_st *cert, uint64_t id)
{
    if (!cert || id == 0)
        return false;
    char want[64];
    int wl = snprintf(want, sizeof want, "%s%llu", CORIO_TLS_NODE_URI, (unsigned long long)id);
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !found; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI)
            continue;
        const ASN1_IA5STRING *u = g->d.uniformResourceIdentifier;
        found = ASN1_STRING_length(u) == wl && !memcmp(ASN1_STRING_get0_data(u), want, (size_t)wl);
    }
    GENERAL_NAMES_free(names);
    return found;
}

static void stop_timer(struct conn *c)
{
    if (c->timer_init)
        uv_timer_stop(&c->timer);
}

static void hello_done(struct conn *c)
{
    struct tt *t = c->t;
    uint64_t version = get64(c->hello + 8), id = get64(c->hello + 16);
    size_t alen = (size_t)get64(c->hello + 24);
    char address[ADDRESS_MAX + 1];
    memcpy(address, c->hello + HELLO_FIXED, alen);
    address[alen] = 0;
    if (version != HELLO_VERSION || id == 0 || memchr(address, 0, alen)) {
        corio_logkv(CORIO_LOG_WARN, "raft connection refused: bad hello", "version=%llu id=%llu",
                    (unsigned long long)version, (unsigned long long)id);
        t->stats.refused_hello++;
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    if (t->verify_names) {
        char host[ADDRESS_MAX + 1], port[16];
        X509 *cert = SSL_get0_peer_certificate(c->ssl);
        bool ok = cert && split_address(address, host, sizeof host, port, sizeof port) == 0;
        if (ok)
            ok = is_ip(host) ? X509_check_ip_asc(cert, host, 0) == 1
                             : X509_check_host(cert, host, strlen(host), 0, NULL) == 1;
        if (!ok) {
            corio_logkv(CORIO_LOG_WARN,
                        "raft connection refused: the client's certificate does not name the "
                        "address it claims",
                        "id=%llu address=%s", (unsigned long long)id, address);
            t->stats.refused_hello++;
            conn_close(c, RAFT_NOCONNECTION);
            return;
        }
    }
    if (t->verify_ids && !corio_tls_cert_names_node(SSL_get0_peer_certificate(c->ssl), id)) {
        corio_logkv(CORIO_LOG_WARN,
                    "raft connection refused: the client's certificate does not name the node "
                    "id it claims",
                    "id=%llu address=%s", (unsigned long long)id, address);
        t->stats.refused_hello++;
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    if (open_pair(c) < 0) {
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    stop_timer(c);
    c->state = C_OPEN;
    app_start_reading(c);
    t->stats.accepted++;
    corio_logkv(CORIO_LOG_DEBUG, "raft connection accepted", "id=%llu address=%s",
                (unsigned long long)id, address);
    t->accept_cb(t->t, id, address, hand_over(c));
}

/* Feeds decrypted bytes: first to the hello (inbound), then to raft. */
static void plaintext(struct conn *c, const uint8_t *p, size_t n)
{
    while (n && c->state == C_HELLO) {
        size_t take = c->hello_need - c->hello_len;
        if (take > n)
            take = n;
        memcpy(c->hello + c->hello_len, p, take);
        c->hello_len += take;
        p += take;
        n -= take;
        if (c->hello_len < c->hello_need)
            return;
        if (c->hello_need == HELLO_FIXED) {
            uint64_t alen = get64(c->hello + 24);
            if (memcmp(c->hello, HELLO_MAGIC, 8) != 0 || alen == 0 || alen > ADDRESS_MAX) {
                corio_log(CORIO_LOG_WARN, "raft connection refused: not a corio raft hello");
                c->t->stats.refused_hello++;
                conn_close(c, RAFT_NOCONNECTION);
                return;
            }
            c->hello_need = HELLO_FIXED + (size_t)alen;
            continue;
        }
        hello_done(c);
    }
    if (n && c->state == C_OPEN)
        deliver(c, p, n);
}

static void pump_ssl_read(struct conn *c)
{
    uint8_t buf[16384];
    while (c->state == C_HELLO || c->state == C_OPEN) {
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n > 0) {
            plaintext(c, buf, (size_t)n);
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            break;
        char why[160];
        corio_logkv(CORIO_LOG_DEBUG, "raft connection ended", "reason=\"%s\"",
                    e == SSL_ERROR_ZERO_RETURN ? "closed by peer" : ssl_err(why, sizeof why));
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    if (c->state != C_CLOSING && flush_tls(c) < 0)
        conn_close(c, RAFT_NOCONNECTION);
}

static void handshake_done(struct conn *c)
{
    struct tt *t = c->t;
    if (!c->outbound) {
        c->state = C_HELLO;
        c->hello_need = HELLO_FIXED;
        return;
    }
    if (t->verify_ids &&
        !corio_tls_cert_names_node(SSL_get0_peer_certificate(c->ssl), c->peer_id)) {
        uint64_t now = uv_now(t->loop);
        if (!t->last_warn_ms || now - t->last_warn_ms >= 10000) {
            t->last_warn_ms = now;
            corio_logkv(CORIO_LOG_WARN,
                        "raft connection refused: the server's certificate does not name the "
                        "node id dialed",
                        "id=%llu host=%s port=%s", (unsigned long long)c->peer_id, c->host,
                        c->port);
        }
        t->stats.handshake_failed++;
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    uint8_t hello[HELLO_FIXED + ADDRESS_MAX];
    size_t alen = strlen(t->address);
    memcpy(hello, HELLO_MAGIC, 8);
    put64(hello + 8, HELLO_VERSION);
    put64(hello + 16, t->id);
    put64(hello + 24, alen);
    memcpy(hello + HELLO_FIXED, t->address, alen);
    if (SSL_write(c->ssl, hello, (int)(HELLO_FIXED + alen)) != (int)(HELLO_FIXED + alen) ||
        flush_tls(c) < 0 || open_pair(c) < 0) {
        ERR_clear_error();
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    stop_timer(c);
    c->state = C_OPEN;
    app_start_reading(c);
    t->stats.connected++;
    raft_uv_connect_cb cb = c->cb;
    c->cb = NULL;
    corio_logkv(CORIO_LOG_DEBUG, "raft connection established", "id=%llu host=%s port=%s",
                (unsigned long long)c->peer_id, c->host, c->port);
    cb(c->req, hand_over(c), 0);
}

static void do_handshake(struct conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
    if (flush_tls(c) < 0) {
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    if (r == 1) {
        handshake_done(c);
        return;
    }
    if (e == SSL_ERROR_WANT_READ)
        return;
    char why[160];
    long v = SSL_get_verify_result(c->ssl);
    c->t->stats.handshake_failed++;
    /* A peer retries every few hundred milliseconds: warn once per 10 s, the rest at
     * debug level (the count is in the metrics). */
    uint64_t now = uv_now(c->t->loop);
    enum corio_log_level level = CORIO_LOG_DEBUG;
    if (!c->t->last_warn_ms || now - c->t->last_warn_ms >= 10000) {
        level = CORIO_LOG_WARN;
        c->t->last_warn_ms = now;
    }
    if (v != X509_V_OK)
        corio_logkv(level, "raft TLS handshake failed", "peer=%s verify=\"%s\"",
                    c->outbound ? c->host : "inbound", X509_verify_cert_error_string(v));
    else
        corio_logkv(level, "raft TLS handshake failed", "peer=%s reason=\"%s\"",
                    c->outbound ? c->host : "inbound", ssl_err(why, sizeof why));
    ERR_clear_error();
    conn_close(c, RAFT_NOCONNECTION);
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread > 0 && c->state != C_CLOSING) {
        if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
            conn_close(c, RAFT_NOCONNECTION);
        } else {
            if (c->state == C_HANDSHAKE)
                do_handshake(c);
            if (c->state == C_HELLO || c->state == C_OPEN)
                pump_ssl_read(c);
        }
    } else if (nread < 0 && c->state != C_CLOSING) {
        if (c->state == C_HANDSHAKE)
            c->t->stats.handshake_failed++;
        conn_close(c, RAFT_NOCONNECTION);
    }
    free(buf->base);
}

static void tcp_start_reading(struct conn *c)
{
    if (!c->tcp_reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tcp_read) == 0)
        c->tcp_reading = true;
}

static void on_app_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread > 0 && c->state == C_OPEN) {
        if (SSL_write(c->ssl, buf->base, (int)nread) != (int)nread || flush_tls(c) < 0) {
            ERR_clear_error();
            conn_close(c, RAFT_NOCONNECTION);
        } else if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > HIGH_WATER) {
            uv_read_stop((uv_stream_t *)&c->app);
            c->app_reading = false;
        }
    } else if (nread < 0 && c->state != C_CLOSING) {
        /* raft closed its end. */
        conn_close(c, RAFT_NOCONNECTION);
    }
    free(buf->base);
}

static void app_start_reading(struct conn *c)
{
    if (!c->app_reading && uv_read_start((uv_stream_t *)&c->app, on_alloc, on_app_read) == 0)
        c->app_reading = true;
}

/* ---- setting up a connection ---------------------------------------------------------- */

static void on_timeout(uv_timer_t *timer)
{
    struct conn *c = timer->data;
    corio_logkv(CORIO_LOG_WARN, "raft connection timed out before it was established",
                "peer=%s state=%d", c->outbound ? c->host : "inbound", (int)c->state);
    if (c->state == C_HANDSHAKE)
        c->t->stats.handshake_failed++;
    conn_close(c, RAFT_NOCONNECTION);
}

static int start_timer(struct conn *c)
{
    int rc = uv_timer_init(c->t->loop, &c->timer);
    if (rc < 0)
        return rc;
    c->timer.data = c;
    c->timer_init = true;
    c->handles++;
    return uv_timer_start(&c->timer, on_timeout, c->t->handshake_timeout_ms, 0);
}

static int start_tls(struct conn *c)
{
    c->ssl = SSL_new(c->t->ctx);
    if (!c->ssl)
        return -1;
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        return -1;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    if (c->outbound) {
        SSL_set_connect_state(c->ssl);
        if (c->t->verify_names) {
            int ok = is_ip(c->host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host)
                                    : SSL_set1_host(c->ssl, c->host);
            if (ok != 1)
                return -1;
        }
        if (!is_ip(c->host))
            SSL_set_tlsext_host_name(c->ssl, c->host);
    } else {
        SSL_set_accept_state(c->ssl);
    }
    c->state = C_HANDSHAKE;
    return 0;
}

static void on_connected(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->state == C_CLOSING)
        return;
    if (status < 0) {
        corio_logkv(CORIO_LOG_DEBUG, "raft connect failed", "host=%s port=%s error=%s", c->host,
                    c->port, uv_strerror(status));
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    if (start_tls(c) != 0) {
        ERR_clear_error();
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    tcp_start_reading(c);
    do_handshake(c); /* sends the ClientHello */
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;
    c->gai_pending = false;
    if (c->state == C_CLOSING) {
        uv_freeaddrinfo(res);
        maybe_free(c);
        return;
    }
    if (status < 0 || !res) {
        corio_logkv(CORIO_LOG_WARN, "cannot resolve a raft peer", "host=%s error=%s", c->host,
                    uv_strerror(status));
        uv_freeaddrinfo(res);
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    int rc = uv_tcp_init(c->t->loop, &c->tcp);
    if (rc == 0) {
        c->tcp.data = c;
        c->tcp_init = true;
        c->handles++;
        uv_tcp_nodelay(&c->tcp, 1);
        c->connect.data = c;
        rc = uv_tcp_connect(&c->connect, &c->tcp, res->ai_addr, on_connected);
    }
    uv_freeaddrinfo(res);
    if (rc < 0) {
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    c->state = C_CONNECTING;
}

static void conn_close(struct conn *c, int raft_status)
{
    if (c->state == C_CLOSING)
        return;
    c->state = C_CLOSING;
    if (c->cb) {
        raft_uv_connect_cb cb = c->cb;
        c->cb = NULL;
        cb(c->req, NULL, raft_status);
    }
    if (c->gai_pending)
        uv_cancel((uv_req_t *)&c->gai);
    if (c->timer_init)
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    if (c->tcp_init)
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (c->app_init)
        uv_close((uv_handle_t *)&c->app, on_handle_closed);
    if (c->raft_end)
        uv_close((uv_handle_t *)c->raft_end, on_raft_end_closed);
    c->raft_end = NULL;
    maybe_free(c);
}

/* ---- the raft_uv_transport interface ------------------------------------------------- */

static int tt_init(struct raft_uv_transport *transport, raft_id id, const char *address)
{
    struct tt *t = transport->impl;
    if (strlen(address) > ADDRESS_MAX) {
        snprintf(transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "address too long");
        return RAFT_NAMETOOLONG;
    }
    if (t->verify_ids && !corio_tls_cert_names_node(SSL_CTX_get0_certificate(t->ctx), id)) {
        snprintf(transport->errmsg, RAFT_ERRMSG_BUF_SIZE,
                 "this node's certificate does not name its id %llu (URI subjectAltName "
                 "%s%llu)",
                 (unsigned long long)id, CORIO_TLS_NODE_URI, (unsigned long long)id);
        return RAFT_INVALID;
    }
    t->id = id;
    snprintf(t->address, sizeof t->address, "%s", address);
    /* The listener exists from here (raft_init) until close, so that a transport that
     * raft never initialised holds no handle on the loop. */
    if (uv_tcp_init(t->loop, &t->listener) != 0) {
        snprintf(transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "cannot make the listener");
        return RAFT_IOERR;
    }
    t->listener.data = t;
    t->listener_open = true;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tt *t = server->data;
    if (status < 0 || t->closing)
        return;
    struct conn *c = conn_new(t, false);
    if (!c)
        return;
    int rc = uv_tcp_init(t->loop, &c->tcp);
    if (rc == 0) {
        c->tcp.data = c;
        c->tcp_init = true;
        c->handles++;
        rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    }
    if (rc == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        rc = start_timer(c);
    }
    if (rc == 0 && start_tls(c) != 0)
        rc = UV_EIO;
    if (rc != 0) {
        ERR_clear_error();
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    tcp_start_reading(c);
}

static int tt_listen(struct raft_uv_transport *transport, raft_uv_accept_cb cb)
{
    struct tt *t = transport->impl;
    char host[ADDRESS_MAX + 1], port[16];
    const char *addr = t->bind_address[0] ? t->bind_address : t->address;
    if (split_address(addr, host, sizeof host, port, sizeof port) != 0) {
        snprintf(transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "bad address '%.100s'", addr);
        return RAFT_INVALID;
    }
    uv_getaddrinfo_t gai;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    int rc = uv_getaddrinfo(t->loop, &gai, NULL, host, port, &hints);
    if (rc < 0) {
        snprintf(transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "resolve %.100s: %s", host,
                 uv_strerror(rc));
        return RAFT_IOERR;
    }
    rc = uv_tcp_bind(&t->listener, gai.addrinfo->ai_addr, 0);
    uv_freeaddrinfo(gai.addrinfo);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
    if (rc < 0) {
        snprintf(transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "listen on %.100s: %s", addr,
                 uv_strerror(rc));
        return RAFT_IOERR;
    }
    t->accept_cb = cb;
    return 0;
}

static int tt_connect(struct raft_uv_transport *transport, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct tt *t = transport->impl;
    if (t->closing)
        return RAFT_CANCELED;
    struct conn *c = conn_new(t, true);
    if (!c)
        return RAFT_NOMEM;
    c->req = req;
    c->peer_id = id;
    if (split_address(address, c->host, sizeof c->host, c->port, sizeof c->port) != 0) {
        snprintf(transport->errmsg, RAFT_ERRMSG_BUF_SIZE, "bad address '%.100s'", address);
        maybe_free(c);
        return RAFT_NOCONNECTION;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->state = C_RESOLVING;
    int rc = start_timer(c);
    if (rc == 0)
        rc = uv_getaddrinfo(t->loop, &c->gai, on_resolved, c->host, c->port, &hints);
    if (rc < 0) {
        /* No callback may run for a connect that failed here: close quietly. */
        c->state = C_CLOSING;
        if (c->timer_init)
            uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        maybe_free(c);
        return RAFT_NOCONNECTION;
    }
    c->gai_pending = true;
    c->cb = cb;
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct tt *t = h->data;
    t->listener_open = false;
    maybe_fire_close(t);
}

static void tt_close(struct raft_uv_transport *transport, raft_uv_transport_close_cb cb)
{
    struct tt *t = transport->impl;
    t->closing = true;
    t->close_cb = cb;
    struct conn *c = t->conns;
    while (c) {
        struct conn *next = c->next; /* c may be freed by conn_close */
        conn_close(c, RAFT_CANCELED);
        c = next;
    }
    if (t->listener_open)
        uv_close((uv_handle_t *)&t->listener, on_listener_closed);
    else
        maybe_fire_close(t);
}

/* ---- creation ----------------------------------------------------------------------- */

int corio_tls_transport_init(struct raft_uv_transport *transport, struct uv_loop_s *loop,
                             const struct corio_tls_opts *o, char *err, size_t errlen)
{
    char why[160];
    if (!transport || !loop || !o || !o->cert_file || !o->key_file || !o->nca) {
        snprintf(err, errlen,
                 "TLS transport: a certificate, a key and at least one CA are "
                 "required");
        return RAFT_INVALID;
    }
    struct tt *t = calloc(1, sizeof *t);
    if (!t)
        return RAFT_NOMEM;
    t->t = transport;
    t->loop = loop;
    t->verify_names = o->verify_names;
    t->verify_ids = o->verify_ids;
    t->handshake_timeout_ms = o->handshake_timeout_ms ? o->handshake_timeout_ms : 10000;
    if (o->bind_address)
        snprintf(t->bind_address, sizeof t->bind_address, "%s", o->bind_address);

    t->ctx = SSL_CTX_new(TLS_method());
    if (!t->ctx)
        goto ssl_error;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1) {
        snprintf(err, errlen, "%s: cannot load the certificate: %s", o->cert_file,
                 ssl_err(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "%s: cannot load the key: %s", o->key_file, ssl_err(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        snprintf(err, errlen, "%s does not match %s", o->key_file, o->cert_file);
        ERR_clear_error();
        goto fail;
    }
    if (o->verify_ids && !corio_tls_cert_names_node(SSL_CTX_get0_certificate(t->ctx), o->id)) {
        snprintf(err, errlen,
                 "%s: this node's certificate does not name its id %llu (URI subjectAltName "
                 "%s%llu)",
                 o->cert_file, (unsigned long long)o->id, CORIO_TLS_NODE_URI,
                 (unsigned long long)o->id);
        goto fail;
    }
    for (size_t i = 0; i < o->nca; i++) {
        if (SSL_CTX_load_verify_file(t->ctx, o->ca_files[i]) != 1) {
            snprintf(err, errlen, "%s: cannot load the CA certificates: %s", o->ca_files[i],
                     ssl_err(why, sizeof why));
            goto fail;
        }
    }
    /* An organisation's CA may itself be an intermediate: whatever the configuration
     * lists is a trust anchor. */
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(t->ctx), X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

    memset(transport, 0, sizeof *transport);
    transport->impl = t;
    transport->init = tt_init;
    transport->listen = tt_listen;
    transport->connect = tt_connect;
    transport->close = tt_close;
    return 0;

ssl_error:
    snprintf(err, errlen, "TLS: %s", ssl_err(why, sizeof why));
fail:
    SSL_CTX_free(t->ctx);
    free(t);
    return RAFT_INVALID;
}

void corio_tls_transport_close(struct raft_uv_transport *transport)
{
    if (!transport || !transport->impl)
        return;
    struct tt *t = transport->impl;
    SSL_CTX_free(t->ctx);
    free(t);
    transport->impl = NULL;
}

void corio_tls_transport_stats(struct raft_uv_transport *transport, struct corio_tls_stats *out)
{
    struct tt *t = transport->impl;
    *out = t->stats;
}
