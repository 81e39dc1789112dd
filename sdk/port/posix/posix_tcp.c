/*
 * posix_tcp.c - the POSIX port's TCP transport (port_posix.h): connect with a deadline,
 * then non-blocking send and recv with transport.h's exact return meanings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "corio/port_posix.h"

int corio_posix_tcp_init(struct corio_posix_tcp *t, const char *host, uint16_t port,
                         uint32_t connect_timeout_ms)
{
    if (!t || !host || !*host || strlen(host) >= sizeof t->host || port == 0 ||
        connect_timeout_ms == 0)
        return CORIO_ERR_INVAL;
    memset(t, 0, sizeof *t);
    t->fd = -1;
    strcpy(t->host, host);
    snprintf(t->port, sizeof t->port, "%u", (unsigned)port);
    t->connect_timeout_ms = connect_timeout_ms;
    return CORIO_OK;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Connects fd to ai within the deadline. Returns CORIO_OK or an error. */
static int connect_one(int fd, const struct addrinfo *ai, uint64_t deadline)
{
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return CORIO_OK;
    if (errno == ECONNREFUSED)
        return CORIO_ERR_REFUSED;
    if (errno != EINPROGRESS && errno != EINTR)
        return CORIO_ERR_IO;
    for (;;) {
        uint64_t t = mono_ms();
        if (t >= deadline)
            return CORIO_ERR_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        uint64_t left = deadline - t;
        int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return CORIO_ERR_IO;
        if (n == 0)
            return CORIO_ERR_TIMEOUT;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            return CORIO_ERR_IO;
        if (err == 0)
            return CORIO_OK;
        return err == ECONNREFUSED ? CORIO_ERR_REFUSED : CORIO_ERR_IO;
    }
}

static int tcp_open(void *ctx)
{
    struct corio_posix_tcp *t = ctx;
    if (t->fd >= 0)
        return CORIO_OK;
    uint64_t deadline = mono_ms() + t->connect_timeout_ms;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(t->host, t->port, &hints, &res) != 0)
        return CORIO_ERR_NOTFOUND;
    int rc = CORIO_ERR_IO;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        rc = connect_one(fd, ai, deadline);
        if (rc == CORIO_OK) {
            int one = 1;
            /* MQTT packets are small and latency matters more than segment count. */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            t->fd = fd;
            break;
        }
        close(fd);
        if (rc == CORIO_ERR_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

static int tcp_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct corio_posix_tcp *t = ctx;
    if (t->fd < 0)
        return CORIO_ERR_IO;
    if (len > INT_MAX)
        len = INT_MAX;
    for (;;) {
        ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return errno == EPIPE || errno == ECONNRESET ? CORIO_ERR_CLOSED : CORIO_ERR_IO;
    }
}

static int tcp_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct corio_posix_tcp *t = ctx;
    if (t->fd < 0)
        return CORIO_ERR_IO;
    if (len > INT_MAX)
        len = INT_MAX;
    for (;;) {
        ssize_t n = recv(t->fd, buf, len, 0);
        if (n > 0)
            return (int)n;
        if (n == 0)
            return CORIO_ERR_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return errno == ECONNRESET ? CORIO_ERR_CLOSED : CORIO_ERR_IO;
    }
}

static void tcp_close(void *ctx)
{
    struct corio_posix_tcp *t = ctx;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

void corio_posix_tcp_transport(struct corio_posix_tcp *t, struct corio_transport *out)
{
    if (!out)
        return;
    out->ctx = t;
    out->open = tcp_open;
    out->send = tcp_send;
    out->recv = tcp_recv;
    out->close = tcp_close;
}

int corio_posix_tcp_fd(const struct corio_posix_tcp *t)
{
    return t ? t->fd : -1;
}

int corio_posix_tcp_wait(const struct corio_posix_tcp *t, uint32_t timeout_ms, bool want_write)
{
    int ms = timeout_ms == UINT32_MAX ? -1 : (timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms);
    struct pollfd p = {.fd = t ? t->fd : -1,
                       .events = (short)(POLLIN | (want_write ? POLLOUT : 0))};
    int n;
    do
        n = poll(&p, 1, ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return CORIO_ERR_IO;
    return n > 0 ? 1 : 0;
}
