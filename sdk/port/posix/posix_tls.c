/*
 * posix_tls.c - the POSIX port's TLS transport (port_posix.h): mbedTLS 2.28 over the
 * non-blocking TCP transport, with the server's certificate verified against a CA and a
 * name. WANT_READ / WANT_WRITE become transport.h's "nothing now" (0), and a handshake in
 * progress becomes CORIO_ERR_AGAIN from open.
 */
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>

#include "corio/port_posix.h"

/* mbedTLS's I/O callbacks over the TCP transport. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct corio_posix_tls *t = ctx;
    int n = t->raw.send(t->raw.ctx, buf, len);
    if (n > 0)
        return n;
    if (n == 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return n == CORIO_ERR_CLOSED ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct corio_posix_tls *t = ctx;
    int n = t->raw.recv(t->raw.ctx, buf, len);
    if (n > 0)
        return n;
    if (n == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return n == CORIO_ERR_CLOSED ? 0 : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* The mbedTLS part of both set-ups, once t->raw and t->server_name are in place. */
static int tls_setup(struct corio_posix_tls *t, const char *ca_pem)
{
    static const char pers[] = "corio-posix-tls";
    int rc;
    mbedtls_ssl_init(&t->ssl);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
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
    if (mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        goto error;
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    if (mbedtls_ssl_setup(&t->ssl, &t->conf) != 0)
        goto error;
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    return CORIO_OK;
error:
    corio_posix_tls_free(t);
    return rc;
}

int corio_posix_tls_init(struct corio_posix_tls *t, const char *host, uint16_t port,
                         uint32_t connect_timeout_ms, const char *ca_pem, const char *server_name)
{
    if (!t || !ca_pem)
        return CORIO_ERR_INVAL;
    memset(t, 0, sizeof *t);
    int rc = corio_posix_tcp_init(&t->tcp, host, port, connect_timeout_ms);
    if (rc != CORIO_OK)
        return rc;
    const char *name = server_name ? server_name : host;
    if (strlen(name) >= sizeof t->server_name)
        return CORIO_ERR_INVAL;
    strcpy(t->server_name, name);
    corio_posix_tcp_transport(&t->tcp, &t->raw);
    return tls_setup(t, ca_pem);
}

int corio_posix_tls_init_transport(struct corio_posix_tls *t, const struct corio_transport *raw,
                                   const char *ca_pem, const char *server_name)
{
    if (!t || !raw || !raw->open || !raw->send || !raw->recv || !raw->close || !ca_pem ||
        !server_name || !*server_name)
        return CORIO_ERR_INVAL;
    memset(t, 0, sizeof *t);
    t->tcp.fd = -1; /* the port's own socket stays unused */
    if (strlen(server_name) >= sizeof t->server_name)
        return CORIO_ERR_INVAL;
    strcpy(t->server_name, server_name);
    t->raw = *raw;
    return tls_setup(t, ca_pem);
}

void corio_posix_tls_free(struct corio_posix_tls *t)
{
    if (!t)
        return;
    if (t->connected)
        t->raw.close(t->raw.ctx);
    t->connected = false;
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
}

static int tls_open(void *ctx)
{
    struct corio_posix_tls *t = ctx;
    if (!t->connected) {
        int rc = t->raw.open(t->raw.ctx);
        if (rc != CORIO_OK)
            return rc;
        t->connected = true;
        t->pending = 0;
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
    if (rc == MBEDTLS_ERR_NET_CONN_RESET || rc == MBEDTLS_ERR_SSL_CONN_EOF)
        return CORIO_ERR_CLOSED;
    return CORIO_ERR_CRYPTO;
}

static int tls_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct corio_posix_tls *t = ctx;
    /* After WANT_WRITE mbedTLS has already taken those bytes into a record and must be
     * called again with the same length, whatever was queued behind them since. */
    size_t n = t->pending ? t->pending : len;
    if (n > len)
        return CORIO_ERR_IO;
    int rc = mbedtls_ssl_write(&t->ssl, buf, n);
    if (rc > 0) {
        t->pending = 0;
        return rc;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
        t->pending = n;
        return 0;
    }
    t->pending = 0;
    return rc == MBEDTLS_ERR_NET_CONN_RESET ? CORIO_ERR_CLOSED : CORIO_ERR_IO;
}

static int tls_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct corio_posix_tls *t = ctx;
    int rc = mbedtls_ssl_read(&t->ssl, buf, len);
    if (rc > 0)
        return rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_NET_CONN_RESET ||
        rc == MBEDTLS_ERR_SSL_CONN_EOF)
        return CORIO_ERR_CLOSED;
    return CORIO_ERR_IO;
}

static void tls_close(void *ctx)
{
    struct corio_posix_tls *t = ctx;
    if (t->connected) {
        /* Best effort: the socket is non-blocking and may be gone already. */
        (void)mbedtls_ssl_close_notify(&t->ssl);
        t->raw.close(t->raw.ctx);
    }
    t->connected = false;
    t->pending = 0;
}

void corio_posix_tls_transport(struct corio_posix_tls *t, struct corio_transport *out)
{
    if (!out)
        return;
    out->ctx = t;
    out->open = tls_open;
    out->send = tls_send;
    out->recv = tls_recv;
    out->close = tls_close;
}

int corio_posix_tls_wait(const struct corio_posix_tls *t, uint32_t timeout_ms, bool want_write)
{
    if (t && t->connected && mbedtls_ssl_get_bytes_avail(&t->ssl) > 0)
        return 1;
    return corio_posix_tcp_wait(t ? &t->tcp : NULL, timeout_ms, want_write);
}
