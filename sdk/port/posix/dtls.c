/*
 * dtls.c - the POSIX port's DTLS 1.2 datagram transport (port_posix.h): an mbedTLS
 * 2.28 client over the UDP transport, with the server's certificate verified against a
 * CA and a name.
 *
 * Everything is non-blocking. The handshake runs inside open(), which answers
 * CORIO_ERR_AGAIN until it is done; mbedTLS's retransmission timers (RFC 6347 §4.2.4)
 * are kept on CLOCK_MONOTONIC by the timer callbacks below and fire from the next
 * open() call after they are due, which the client makes every CORIO_COAP_OPEN_POLL_MS.
 * One application record is one datagram of the protocol above.
 */
#include <string.h>
#include <time.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>

#include "corio/port_posix.h"

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* mbedTLS's timer callbacks (the contract of mbedtls_timing_set_delay/get_delay). */
static void timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
    struct corio_posix_dtls *t = ctx;
    t->timer_start = mono_ms();
    t->timer_int = int_ms;
    t->timer_fin = fin_ms;
}

static int timer_get(void *ctx)
{
    const struct corio_posix_dtls *t = ctx;
    if (t->timer_fin == 0)
        return -1; /* cancelled */
    uint64_t gone = mono_ms() - t->timer_start;
    if (gone >= t->timer_fin)
        return 2;
    return gone >= t->timer_int ? 1 : 0;
}

/* mbedTLS's I/O callbacks over the UDP transport. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct corio_posix_dtls *t = ctx;
    int n = t->raw.send(t->raw.ctx, buf, len);
    if (n > 0)
        return n;
    if (n == 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct corio_posix_dtls *t = ctx;
    int n = t->raw.recv(t->raw.ctx, buf, len);
    if (n > 0)
        return n;
    if (n == 0 || n == CORIO_ERR_NOSPACE)
        return MBEDTLS_ERR_SSL_WANT_READ; /* nothing, or a datagram no record fits */
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

int corio_posix_dtls_init(struct corio_posix_dtls *t, const char *host, uint16_t port,
                          const char *ca_pem, const char *server_name)
{
    static const char pers[] = "corio-posix-dtls";
    if (!t || !ca_pem)
        return CORIO_ERR_INVAL;
    memset(t, 0, sizeof *t);
    int rc = corio_posix_udp_init(&t->udp, host, port);
    if (rc != CORIO_OK)
        return rc;
    const char *name = server_name ? server_name : host;
    if (strlen(name) >= sizeof t->server_name)
        return CORIO_ERR_INVAL;
    strcpy(t->server_name, name);
    corio_posix_udp_datagram(&t->udp, &t->raw);

    mbedtls_ssl_init(&t->ssl);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    t->initialised = true;
    /* A PEM buffer's length counts its terminating NUL. */
    if (mbedtls_x509_crt_parse(&t->ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1) != 0 ||
        t->ca.version == 0) {
        rc = CORIO_ERR_INVAL;
        goto error;
    }
    rc = CORIO_ERR_CRYPTO;
    if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                              (const unsigned char *)pers, sizeof pers - 1) != 0)
        goto error;
    if (mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        goto error;
    /* DTLS 1.2 only (mbedTLS's DTLS 1.0 is TLS 1.1 based). */
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_handshake_timeout(&t->conf, CORIO_POSIX_DTLS_HS_MIN_MS,
                                       CORIO_POSIX_DTLS_HS_MAX_MS);
    if (mbedtls_ssl_setup(&t->ssl, &t->conf) != 0)
        goto error;
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    mbedtls_ssl_set_timer_cb(&t->ssl, t, timer_set, timer_get);
    return CORIO_OK;
error:
    corio_posix_dtls_free(t);
    return rc;
}

void corio_posix_dtls_free(struct corio_posix_dtls *t)
{
    if (!t || !t->initialised)
        return;
    if (t->open)
        t->raw.close(t->raw.ctx);
    t->open = false;
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    t->initialised = false;
}

static int dtls_open(void *ctx)
{
    struct corio_posix_dtls *t = ctx;
    if (!t->open) {
        /* A new session on a new socket (a new source port): the server keeps no state
         * of ours that a fresh handshake could trip over. */
        int rc = t->raw.open(t->raw.ctx);
        if (rc != CORIO_OK)
            return rc;
        t->open = true;
        t->pending = false;
        if (mbedtls_ssl_session_reset(&t->ssl) != 0 ||
            mbedtls_ssl_set_hostname(&t->ssl, t->server_name) != 0)
            return CORIO_ERR_CRYPTO;
    }
    int rc = mbedtls_ssl_handshake(&t->ssl);
    if (rc == 0)
        return CORIO_OK;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return CORIO_ERR_AGAIN;
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
        return CORIO_ERR_BADSIG;
    if (rc == MBEDTLS_ERR_SSL_TIMEOUT)
        return CORIO_ERR_TIMEOUT;
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return CORIO_ERR_CLOSED;
    if (rc == MBEDTLS_ERR_NET_SEND_FAILED || rc == MBEDTLS_ERR_NET_RECV_FAILED)
        return CORIO_ERR_IO;
    return CORIO_ERR_CRYPTO;
}

static int map_error(int rc)
{
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF)
        return CORIO_ERR_CLOSED;
    return CORIO_ERR_IO;
}

static int dtls_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct corio_posix_dtls *t = ctx;
    if (!t->open)
        return CORIO_ERR_IO;
    if (t->pending) {
        /* mbedTLS holds the record of an earlier datagram the socket would not take;
         * with output pending, mbedtls_ssl_write() only flushes it. */
        int rc = mbedtls_ssl_write(&t->ssl, buf, len);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return 0;
        if (rc < 0)
            return map_error(rc);
        t->pending = false;
    }
    int max = mbedtls_ssl_get_max_out_record_payload(&t->ssl);
    if (len == 0 || max < 0 || len > (size_t)max)
        return CORIO_ERR_NOSPACE;
    int rc = mbedtls_ssl_write(&t->ssl, buf, len);
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        /* The record is built and waits in mbedTLS: it goes with the next send. */
        t->pending = true;
        return (int)len;
    }
    if (rc < 0)
        return map_error(rc);
    return (size_t)rc == len ? rc : CORIO_ERR_IO;
}

static int dtls_recv(void *ctx, uint8_t *buf, size_t cap)
{
    struct corio_posix_dtls *t = ctx;
    if (!t->open)
        return CORIO_ERR_IO;
    int rc = mbedtls_ssl_read(&t->ssl, buf, cap);
    if (rc > 0) {
        if (mbedtls_ssl_get_bytes_avail(&t->ssl) == 0)
            return rc;
        /* The record was larger than cap: drop the rest, as UDP would. */
        uint8_t sink[64];
        while (mbedtls_ssl_get_bytes_avail(&t->ssl) > 0)
            if (mbedtls_ssl_read(&t->ssl, sink, sizeof sink) <= 0)
                break;
        return CORIO_ERR_NOSPACE;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (rc == 0)
        return CORIO_ERR_CLOSED;
    return map_error(rc);
}

static void dtls_close(void *ctx)
{
    struct corio_posix_dtls *t = ctx;
    if (t->open) {
        /* Best effort: tells the server the session is over. */
        (void)mbedtls_ssl_close_notify(&t->ssl);
        t->raw.close(t->raw.ctx);
    }
    t->open = false;
    t->pending = false;
}

void corio_posix_dtls_datagram(struct corio_posix_dtls *t, struct corio_datagram *out)
{
    if (!out)
        return;
    out->ctx = t;
    out->open = dtls_open;
    out->send = dtls_send;
    out->recv = dtls_recv;
    out->close = dtls_close;
}

int corio_posix_dtls_wait(const struct corio_posix_dtls *t, uint32_t timeout_ms, bool want_write)
{
    if (t && t->open &&
        (mbedtls_ssl_get_bytes_avail(&t->ssl) > 0 || mbedtls_ssl_check_pending(&t->ssl)))
        return 1;
    return corio_posix_udp_wait(t ? &t->udp : NULL, timeout_ms, want_write || (t && t->pending));
}
