/*
 * port_posix.h - the SDK's POSIX port (sdk/port/posix): a TCP transport over BSD
 * sockets, TLS over it with mbedTLS 2.28, a monotonic clock and /dev/urandom, in the
 * shapes transport.h defines.
 *
 * The TCP transport connects with a bounded, blocking wait (name resolution included) and
 * is non-blocking afterwards, so a client's corio_mqtt_process() never waits on it; an
 * application waits with corio_posix_tcp_wait() / corio_posix_tls_wait() (poll) between
 * calls. The TLS handshake runs non-blocking: open() answers CORIO_ERR_AGAIN until it is
 * done, within the client's connect timeout.
 */
#ifndef CORIO_PORT_POSIX_H
#define CORIO_PORT_POSIX_H

#include <stdbool.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "corio/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A TCP connection's configuration and socket; caller-owned, fields private. */
struct corio_posix_tcp {
    int fd; /* -1 when closed */
    char host[256];
    char port[8];
    uint32_t connect_timeout_ms;
};

/* Configures t to connect to host (a name or an address; copied) on port, waiting at
 * most connect_timeout_ms for each connection attempt. Opens nothing. Returns CORIO_OK,
 * or CORIO_ERR_INVAL for a NULL or over-long host, port 0 or a zero timeout. */
int corio_posix_tcp_init(struct corio_posix_tcp *t, const char *host, uint16_t port,
                         uint32_t connect_timeout_ms);

/* Fills *out with t's transport functions; t must outlive every use of *out.
 * open returns CORIO_OK, CORIO_ERR_REFUSED (nobody listens), CORIO_ERR_TIMEOUT,
 * CORIO_ERR_NOTFOUND (the name does not resolve) or CORIO_ERR_IO. */
void corio_posix_tcp_transport(struct corio_posix_tcp *t, struct corio_transport *out);

/* The socket while open (for the application's own poll loop), else -1. */
int corio_posix_tcp_fd(const struct corio_posix_tcp *t);

/* Waits up to timeout_ms (UINT32_MAX: without limit) until the socket is readable,
 * or writable too when want_write. Returns 1 when it is, 0 on timeout (also when
 * closed: then it just sleeps), CORIO_ERR_IO on failure. */
int corio_posix_tcp_wait(const struct corio_posix_tcp *t, uint32_t timeout_ms, bool want_write);

/* TLS over a TCP connection; caller-owned, fields private. */
struct corio_posix_tls {
    struct corio_posix_tcp tcp;
    struct corio_transport raw; /* the TCP transport underneath */
    char server_name[256];
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    size_t pending; /* bytes of a write mbedTLS has taken but not yet flushed */
    bool connected; /* the TCP connection is open */
};

/* Configures TLS to host:port (as corio_posix_tcp_init). The server's certificate must
 * chain to a certificate in ca_pem (NUL-terminated PEM, one or more certificates; copied)
 * and carry server_name (NULL: host) as a DNS name; anything else fails the handshake.
 * mbedTLS state is allocated here: release it with corio_posix_tls_free(). Returns
 * CORIO_OK, CORIO_ERR_INVAL (arguments, or ca_pem holds no certificate) or
 * CORIO_ERR_CRYPTO (mbedTLS could not be set up). */
int corio_posix_tls_init(struct corio_posix_tls *t, const char *host, uint16_t port,
                         uint32_t connect_timeout_ms, const char *ca_pem, const char *server_name);

/* Closes and frees what corio_posix_tls_init() set up. */
void corio_posix_tls_free(struct corio_posix_tls *t);

/* Fills *out with t's transport functions. open returns, besides the TCP errors,
 * CORIO_ERR_AGAIN while the handshake runs, CORIO_ERR_BADSIG when the server's
 * certificate does not verify (chain, dates or name), CORIO_ERR_CRYPTO for any other
 * handshake failure. */
void corio_posix_tls_transport(struct corio_posix_tls *t, struct corio_transport *out);

/* As corio_posix_tcp_wait(), and returns 1 at once when mbedTLS already holds decrypted
 * bytes the socket no longer shows. */
int corio_posix_tls_wait(const struct corio_posix_tls *t, uint32_t timeout_ms, bool want_write);

/* CLOCK_MONOTONIC in milliseconds. */
void corio_posix_clock(struct corio_clock *out);

/* Bytes from /dev/urandom. */
void corio_posix_random(struct corio_random *out);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PORT_POSIX_H */
