/*
 * port_posix.h - the SDK's POSIX port (sdk/port/posix): a TCP transport over BSD
 * sockets, a monotonic clock and /dev/urandom, in the shapes transport.h defines.
 *
 * The transport connects with a bounded, blocking wait (name resolution included) and is
 * non-blocking afterwards, so a client's corio_mqtt_process() never waits on it; an
 * application waits with corio_posix_tcp_wait() (poll) between calls.
 */
#ifndef CORIO_PORT_POSIX_H
#define CORIO_PORT_POSIX_H

#include <stdbool.h>
#include <stdint.h>

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

/* CLOCK_MONOTONIC in milliseconds. */
void corio_posix_clock(struct corio_clock *out);

/* Bytes from /dev/urandom. */
void corio_posix_random(struct corio_random *out);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PORT_POSIX_H */
