/*
 * port_posix.h - the SDK's POSIX port (sdk/port/posix): a TCP transport over BSD
 * sockets, TLS over it with mbedTLS 2.28, a UDP datagram transport and DTLS 1.2 over
 * it, a monotonic clock and /dev/urandom, in the shapes transport.h defines.
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

/* Configures TLS, as corio_posix_tls_init(), over another byte transport instead of the
 * port's own TCP connection (an application's own non-blocking sockets, a proxy): raw's
 * functions are copied and used as the transport underneath (raw->ctx must outlive t;
 * its open may answer CORIO_ERR_AGAIN while connecting). The server's name must be given.
 * corio_posix_tls_wait() does not know raw's socket: the application polls it. Returns
 * CORIO_OK, CORIO_ERR_INVAL (arguments, or ca_pem holds no certificate) or
 * CORIO_ERR_CRYPTO; release with corio_posix_tls_free(). */
int corio_posix_tls_init_transport(struct corio_posix_tls *t, const struct corio_transport *raw,
                                   const char *ca_pem, const char *server_name);

/* Closes and frees what corio_posix_tls_init() or _init_transport() set up. */
void corio_posix_tls_free(struct corio_posix_tls *t);

/* Fills *out with t's transport functions. open returns, besides the TCP errors,
 * CORIO_ERR_AGAIN while the handshake runs, CORIO_ERR_BADSIG when the server's
 * certificate does not verify (chain, dates or name), CORIO_ERR_CRYPTO for any other
 * handshake failure. */
void corio_posix_tls_transport(struct corio_posix_tls *t, struct corio_transport *out);

/* As corio_posix_tcp_wait(), and returns 1 at once when mbedTLS already holds decrypted
 * bytes the socket no longer shows. */
int corio_posix_tls_wait(const struct corio_posix_tls *t, uint32_t timeout_ms, bool want_write);

/* A UDP association's configuration and socket (the datagram transport of
 * transport.h); caller-owned, fields private. */
struct corio_posix_udp {
    int fd; /* -1 when closed */
    char host[256];
    char port[8];
    uint32_t lost; /* datagrams the network refused (ICMP unreachable), for diagnostics */
};

/* Configures u for host (a name or an address; copied) and port. Opens nothing.
 * Returns CORIO_OK, or CORIO_ERR_INVAL for a NULL or over-long host or port 0. */
int corio_posix_udp_init(struct corio_posix_udp *u, const char *host, uint16_t port);

/* Fills *out with u's datagram functions; u must outlive every use of *out. open
 * resolves the name (blocking, as getaddrinfo does) and connects a non-blocking socket
 * to the first address that takes it: CORIO_OK, CORIO_ERR_NOTFOUND (the name does not
 * resolve) or CORIO_ERR_IO. send and recv never block; an ICMP "unreachable" for an
 * earlier datagram counts as that datagram lost, not as an error. */
void corio_posix_udp_datagram(struct corio_posix_udp *u, struct corio_datagram *out);

/* The socket while open (for the application's own poll loop), else -1. */
int corio_posix_udp_fd(const struct corio_posix_udp *u);

/* Waits up to timeout_ms (UINT32_MAX: without limit) until the socket is readable, or
 * writable too when want_write. Returns 1 when it is, 0 on timeout (also when closed:
 * then it just sleeps), CORIO_ERR_IO on failure. */
int corio_posix_udp_wait(const struct corio_posix_udp *u, uint32_t timeout_ms, bool want_write);

/* The DTLS handshake's retransmission timer: first wait and cap (RFC 6347 §4.2.4.1);
 * the client's open_timeout_ms bounds the whole handshake. */
#ifndef CORIO_POSIX_DTLS_HS_MIN_MS
#define CORIO_POSIX_DTLS_HS_MIN_MS 1000
#endif
#ifndef CORIO_POSIX_DTLS_HS_MAX_MS
#define CORIO_POSIX_DTLS_HS_MAX_MS 16000
#endif

/* DTLS 1.2 over a UDP association; caller-owned, fields private. */
struct corio_posix_dtls {
    struct corio_posix_udp udp;
    struct corio_datagram raw; /* the UDP transport underneath */
    char server_name[256];
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    uint64_t timer_start; /* mbedTLS's handshake timer */
    uint32_t timer_int, timer_fin;
    bool pending;     /* mbedTLS holds a record the socket would not take yet */
    bool open;        /* the UDP socket is open */
    bool initialised; /* the mbedTLS contexts need freeing */
};

/* Configures DTLS to host:port (as corio_posix_udp_init). The server's certificate must
 * chain to a certificate in ca_pem (NUL-terminated PEM, one or more certificates; copied)
 * and carry server_name (NULL: host) as a DNS name (mbedTLS 2.28 does not match IP
 * addresses); anything else fails the handshake. mbedTLS state is allocated here:
 * release it with corio_posix_dtls_free(). The struct must not move after this. Returns
 * CORIO_OK, CORIO_ERR_INVAL (arguments, or ca_pem holds no certificate) or
 * CORIO_ERR_CRYPTO (mbedTLS could not be set up). */
int corio_posix_dtls_init(struct corio_posix_dtls *t, const char *host, uint16_t port,
                          const char *ca_pem, const char *server_name);

/* Closes and frees what corio_posix_dtls_init() set up. */
void corio_posix_dtls_free(struct corio_posix_dtls *t);

/* Fills *out with t's datagram functions. Each open is a new socket and a new session;
 * open runs the handshake without blocking and returns, besides the UDP errors,
 * CORIO_ERR_AGAIN while it runs, CORIO_ERR_BADSIG when the server's certificate does
 * not verify (chain, dates or name), CORIO_ERR_TIMEOUT when mbedTLS gave up
 * retransmitting, CORIO_ERR_CRYPTO for any other handshake failure. send returns
 * CORIO_ERR_NOSPACE for a datagram larger than one record may carry; recv returns
 * CORIO_ERR_CLOSED after the server's close_notify. */
void corio_posix_dtls_datagram(struct corio_posix_dtls *t, struct corio_datagram *out);

/* As corio_posix_udp_wait(), and returns 1 at once when mbedTLS already holds received
 * data the socket no longer shows. */
int corio_posix_dtls_wait(const struct corio_posix_dtls *t, uint32_t timeout_ms, bool want_write);

/* CLOCK_MONOTONIC in milliseconds. */
void corio_posix_clock(struct corio_clock *out);

/* Bytes from /dev/urandom. */
void corio_posix_random(struct corio_random *out);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PORT_POSIX_H */
