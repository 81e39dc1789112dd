/*
 * sim_net.c - the simulator's TCP transport (transport.h): the gateway's address is
 * resolved once, and connecting never blocks, so that a thousand devices connecting
 * at once cannot stall the one loop that drives them (the SDK's POSIX transport waits
 * for each connect, which suits a device that has nothing else to do).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corio/error.h"
#include "sim.h"

int sim_resolve(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *addr_len)
{
    struct addrinfo hints, *res = NULL;
    char service[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%u", (unsigned)port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return CORIO_ERR_NOTFOUND;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return CORIO_OK;
}

static int map_errno(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return CORIO_ERR_REFUSED;
    case ETIMEDOUT:
        return CORIO_ERR_TIMEOUT;
    case EPIPE:
    case ECONNRESET:
    case ENOTCONN:
    case ESHUTDOWN:
        return CORIO_ERR_CLOSED;
    default:
        return CORIO_ERR_IO;
    }
}

static void tcp_close(void *ctx)
{
    struct sim_tcp *t = ctx;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    t->connecting = false;
}

static int tcp_open(void *ctx)
{
    struct sim_tcp *t = ctx;
    if (t->fd < 0) {
        t->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (t->fd < 0)
            return CORIO_ERR_IO;
        int one = 1;
        setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(t->fd, (const struct sockaddr *)&t->addr, t->addr_len) == 0)
            return CORIO_OK;
        if (errno != EINPROGRESS) {
            int rc = map_errno(errno);
            tcp_close(t);
            return rc;
        }
        t->connecting = true;
        return CORIO_ERR_AGAIN;
    }
    if (!t->connecting)
        return CORIO_OK;
    struct pollfd p = {.fd = t->fd, .events = POLLOUT};
    if (poll(&p, 1, 0) <= 0)
        return CORIO_ERR_AGAIN;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err) {
        tcp_close(t);
        return map_errno(err);
    }
    t->connecting = false;
    return CORIO_OK;
}

static int tcp_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct sim_tcp *t = ctx;
    if (t->fd < 0)
        return CORIO_ERR_CLOSED;
    ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return map_errno(errno);
}

static int tcp_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct sim_tcp *t = ctx;
    if (t->fd < 0)
        return CORIO_ERR_CLOSED;
    ssize_t n = recv(t->fd, buf, len, MSG_DONTWAIT);
    if (n > 0)
        return (int)n;
    if (n == 0)
        return CORIO_ERR_CLOSED;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return map_errno(errno);
}

void sim_tcp_init(struct sim_tcp *t, const struct sockaddr_storage *addr, socklen_t addr_len)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    memcpy(&t->addr, addr, addr_len);
    t->addr_len = addr_len;
}

void sim_tcp_transport(struct sim_tcp *t, struct corio_transport *out)
{
    out->ctx = t;
    out->open = tcp_open;
    out->send = tcp_send;
    out->recv = tcp_recv;
    out->close = tcp_close;
}

void sim_tcp_cut(struct sim_tcp *t)
{
    if (t->fd >= 0 && !t->connecting)
        shutdown(t->fd, SHUT_RDWR);
}
