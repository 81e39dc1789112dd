/*
 * app_tls.c - TLS 1.2 to the gateway in the footprint example's TLS variant (FP_TLS,
 * linked with mbedtls-tls.cfg): a struct corio_transport over mbedTLS's ssl layer on
 * top of the board's network transport, as sdk/port/posix/posix_tls.c does over
 * sockets. Randomness comes from the PSA core (the port's TRNG hook); the gateway's
 * certificate must chain to the CA the device got at provisioning (DER) and name the
 * gateway. make footprint links it to measure what a TLS 1.2 client adds to mbedTLS.
 */
#include "fp_app.h"

#if FP_TLS
#include "board.h"
#include "mbedtls/net_sockets.h" /* only for its error codes */
#include "mbedtls/psa_util.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

static struct {
    struct corio_transport raw; /* the board's network */
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    int connected;
    size_t pending; /* the length of a write mbedTLS answered WANT_WRITE to */
} tls;

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    int n = tls.raw.send(ctx, buf, len);

    if (n == 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return n > 0 ? n : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    int n = tls.raw.recv(ctx, buf, len);

    if (n == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (n == CORIO_ERR_CLOSED)
        return MBEDTLS_ERR_NET_CONN_RESET;
    return n > 0 ? n : MBEDTLS_ERR_NET_RECV_FAILED;
}

static int tls_open(void *ctx)
{
    int rc;

    (void)ctx;
    if (!tls.connected) {
        rc = tls.raw.open(tls.raw.ctx);
        if (rc != CORIO_OK)
            return rc;
        tls.connected = 1;
        tls.pending = 0;
        if (mbedtls_ssl_session_reset(&tls.ssl) != 0 ||
            mbedtls_ssl_set_hostname(&tls.ssl, board_gateway_name()) != 0)
            return CORIO_ERR_CRYPTO;
    }
    rc = mbedtls_ssl_handshake(&tls.ssl);
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
    /* After WANT_WRITE mbedTLS holds those bytes in a record and must be called again
     * with the same length, whatever was queued behind them since. */
    size_t n = tls.pending ? tls.pending : len;
    int rc;

    (void)ctx;
    if (n > len)
        return CORIO_ERR_IO;
    rc = mbedtls_ssl_write(&tls.ssl, buf, n);
    if (rc > 0) {
        tls.pending = 0;
        return rc;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
        tls.pending = n;
        return 0;
    }
    tls.pending = 0;
    return rc == MBEDTLS_ERR_NET_CONN_RESET ? CORIO_ERR_CLOSED : CORIO_ERR_IO;
}

static int tls_recv(void *ctx, uint8_t *buf, size_t len)
{
    int rc = mbedtls_ssl_read(&tls.ssl, buf, len);

    (void)ctx;
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
    (void)ctx;
    if (tls.connected) {
        (void)mbedtls_ssl_close_notify(&tls.ssl); /* best effort */
        tls.raw.close(tls.raw.ctx);
    }
    tls.connected = 0;
    tls.pending = 0;
}

int fp_tls_wrap(const struct corio_transport *raw, struct corio_transport *out)
{
    const uint8_t *der;
    size_t der_len;

    tls.raw = *raw;
    mbedtls_ssl_init(&tls.ssl);
    mbedtls_ssl_config_init(&tls.conf);
    mbedtls_x509_crt_init(&tls.ca);
    if (board_tls_ca(&der, &der_len) != 0 || mbedtls_x509_crt_parse_der(&tls.ca, der, der_len) != 0)
        return CORIO_ERR_INVAL;
    if (mbedtls_ssl_config_defaults(&tls.conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        return CORIO_ERR_CRYPTO;
    mbedtls_ssl_conf_authmode(&tls.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&tls.conf, &tls.ca, NULL);
    mbedtls_ssl_conf_rng(&tls.conf, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
    if (mbedtls_ssl_setup(&tls.ssl, &tls.conf) != 0)
        return CORIO_ERR_CRYPTO;
    mbedtls_ssl_set_bio(&tls.ssl, tls.raw.ctx, bio_send, bio_recv, NULL);
    out->ctx = &tls;
    out->open = tls_open;
    out->send = tls_send;
    out->recv = tls_recv;
    out->close = tls_close;
    return CORIO_OK;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int fp_tls_unused;
#endif
