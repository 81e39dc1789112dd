/*
 * udp.c - the POSIX port's UDP datagram transport (port_posix.h): a non-blocking UDP
 * socket connected to the peer, with transport.h's datagram return meanings.
 *
 * Connecting the socket fixes the peer: the kernel then drops datagrams from anyone
 * else, and ICMP errors for our datagrams come back as ECONNREFUSED. A UDP peer that is
 * not listening yet is no reason to end the association (the client's retransmissions
 * cover it), so those errors count as a lost datagram.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/port_posix.h"

int corio_posix_udp_init(struct corio_posix_udp *u, const char *host, uint16_t port)
{
    if (!u || !host || !*host || strlen(host) >= sizeof u->host || port == 0)
        return CORIO_ERR_INVAL;
    memset(u, 0, sizeof *u);
    u->fd = -1;
    strcpy(u->host, host);
    snprintf(u->port, sizeof u->port, "%u", (unsigned)port);
    return CORIO_OK;
}

static int udp_open(void *ctx)
{
    struct corio_posix_udp *u = ctx;
    if (u->fd >= 0)
        return CORIO_OK;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(u->host, u->port, &hints, &res) != 0)
        return CORIO_ERR_NOTFOUND;
    int rc = CORIO_ERR_IO;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            u->fd = fd;
            rc = CORIO_OK;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static int udp_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct corio_posix_udp *u = ctx;
    if (u->fd < 0)
        return CORIO_ERR_IO;
    if (len == 0 || len > INT_MAX)
        return CORIO_ERR_NOSPACE;
    for (;;) {
        ssize_t n = send(u->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (size_t)n == len ? (int)len : CORIO_ERR_IO;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            return 0;
        if (errno == EMSGSIZE)
            return CORIO_ERR_NOSPACE;
        if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) {
            u->lost++;
            return (int)len; /* as if lost on the way */
        }
        return CORIO_ERR_IO;
    }
}

static int udp_recv(void *ctx, uint8_t *buf, size_t cap)
{
    struct corio_posix_udp *u = ctx;
    if (u->fd < 0)
        return CORIO_ERR_IO;
    if (cap > INT_MAX)
        cap = INT_MAX;
    for (;;) {
        /* MSG_TRUNC makes recv report the datagram's real length. */
        ssize_t n = recv(u->fd, buf, cap, MSG_TRUNC);
        if (n > 0)
            return (size_t)n > cap ? CORIO_ERR_NOSPACE : (int)n;
        if (n == 0)
            continue; /* an empty datagram: nothing for anyone */
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) {
            u->lost++;
            continue;
        }
        return CORIO_ERR_IO;
    }
}

static void udp_close(void *ctx)
{
    struct corio_posix_udp *u = ctx;
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
}

void corio_posix_udp_datagram(struct corio_posix_udp *u, struct corio_datagram *out)
{
    if (!out)
        return;
    out->ctx = u;
    out->open = udp_open;
    out->send = udp_send;
    out->recv = udp_recv;
    out->close = udp_close;
}

int corio_posix_udp_fd(const struct corio_posix_udp *u)
{
    return u ? u->fd : -1;
}

int corio_posix_udp_wait(const struct corio_posix_udp *u, uint32_t timeout_ms, bool want_write)
{
    int ms = timeout_ms == UINT32_MAX ? -1 : (timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms);
    struct pollfd p = {.fd = u ? u->fd : -1,
                       .events = (short)(POLLIN | (want_write ? POLLOUT : 0))};
    int n;
    do
        n = poll(&p, 1, ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return CORIO_ERR_IO;
    return n > 0 ? 1 : 0;
}
