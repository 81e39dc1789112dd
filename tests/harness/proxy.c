/*
 * proxy.c - the TCP fault proxy (harness.h, "TCP fault proxy"): one thread per
 * proxy runs a poll loop over the listening socket and both sockets of every
 * connection, with a queue of timestamped chunks per direction so that H_DELAY
 * can hold each chunk back and H_STALL can hold everything.
 *
 * The test's thread asks for a mode change through a mutex and a wake-up pipe and
 * waits until the proxy thread has applied it, so when h_proxy_set() returns the
 * fault is in place (connections closed or reset, the listener closed or open).
 */
#include "harness_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK      16384
#define MAX_QUEUED (256 * 1024)

struct chunk {
    struct chunk *next;
    int64_t due_ms;
    size_t len, off;
    unsigned char data[];
};

/* One direction of a connection: bytes read from one side, to write to the other. */
struct flow {
    struct chunk *head, *tail;
    size_t queued;
    bool eof;  /* the source sent FIN */
    bool shut; /* we passed the FIN on */
};

struct conn {
    struct conn *next;
    int cfd, ufd;
    int ci, ui; /* their index in the poll set, or -1 */
    bool connecting;
    struct flow up;   /* client -> upstream */
    struct flow down; /* upstream -> client */
};

struct h_proxy {
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wake[2];
    int port;
    struct sockaddr_storage up;
    socklen_t uplen;
    char upname[300];

    /* Requests, under mu. */
    enum h_fault req_mode;
    int req_delay;
    unsigned req_gen, applied_gen;
    int apply_rc;
    bool quit;
    struct h_proxy_stats st;

    /* The proxy thread's own. */
    int lfd;
    enum h_fault mode;
    int delay_ms;
    struct conn *conns;
    struct pollfd *pfds;
    size_t cap_pfds;
};

static void stat_add(struct h_proxy *p, uint64_t *field, int64_t v)
{
    pthread_mutex_lock(&p->mu);
    *field = (uint64_t)((int64_t)*field + v);
    pthread_mutex_unlock(&p->mu);
}

static int listen_on(int port, int *out_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (out_port)
        *out_port = ntohs(sa.sin_port);
    return fd;
}

static void flow_free(struct flow *f)
{
    while (f->head) {
        struct chunk *c = f->head;
        f->head = c->next;
        free(c);
    }
    f->tail = NULL;
    f->queued = 0;
}

static void set_linger0(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* Closes with a FIN: unread input would turn close() into a RST, so drain it. */
static void close_gracefully(int fd)
{
    if (fd < 0)
        return;
    shutdown(fd, SHUT_WR);
    char buf[4096];
    for (int i = 0; i < 256; i++)
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
            break;
    close(fd);
}

enum end { END_FIN, END_RST };

static void conn_remove(struct h_proxy *p, struct conn *c, enum end how, bool by_fault)
{
    /* Counted before the sockets close, so a peer that sees the close sees it. */
    pthread_mutex_lock(&p->mu);
    p->st.active--;
    if (by_fault)
        p->st.faulted++;
    pthread_mutex_unlock(&p->mu);
    if (how == END_RST) {
        set_linger0(c->cfd);
        if (c->ufd >= 0)
            set_linger0(c->ufd);
        close(c->cfd);
        if (c->ufd >= 0)
            close(c->ufd);
    } else {
        close_gracefully(c->cfd);
        close_gracefully(c->ufd);
    }
    flow_free(&c->up);
    flow_free(&c->down);
    for (struct conn **pp = &p->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c);
}

static int apply(struct h_proxy *p, enum h_fault mode, int delay_ms)
{
    int rc = CORIO_OK;
    if (mode == H_CUT || mode == H_RESET) {
        while (p->conns)
            conn_remove(p, p->conns, mode == H_RESET ? END_RST : END_FIN, true);
    }
    if (mode == H_CUT && p->lfd >= 0) {
        close(p->lfd);
        p->lfd = -1;
    }
    if (mode != H_CUT && p->lfd < 0) {
        p->lfd = listen_on(p->port, NULL);
        if (p->lfd < 0) {
            h__msg("proxy %d: cannot listen again: %s", p->port, strerror(errno));
            mode = H_CUT;
            rc = CORIO_ERR_IO;
        }
    }
    p->mode = mode;
    p->delay_ms = delay_ms < 0 ? 0 : delay_ms;
    return rc;
}

static void accept_all(struct h_proxy *p)
{
    for (;;) {
        int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        stat_add(p, &p->st.accepted, 1);
        if (p->mode == H_RESET) {
            /* Counted before the RST, so a client that sees it sees the count. */
            stat_add(p, &p->st.faulted, 1);
            set_linger0(fd);
            close(fd);
            continue;
        }
        int ufd = socket(p->up.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int r = ufd < 0 ? -1 : connect(ufd, (struct sockaddr *)&p->up, p->uplen);
        if (r != 0 && (ufd < 0 || errno != EINPROGRESS)) {
            stat_add(p, &p->st.upstream_failures, 1);
            if (ufd >= 0)
                close(ufd);
            close_gracefully(fd);
            continue;
        }
        struct conn *c = h__xcalloc(1, sizeof *c);
        c->cfd = fd;
        c->ufd = ufd;
        c->connecting = r != 0;
        c->next = p->conns;
        p->conns = c;
        stat_add(p, &p->st.active, 1);
    }
}

static bool flow_ready(const struct flow *f, int64_t now)
{
    return f->head && f->head->due_ms <= now;
}

/* Reads what fd has into f: false when the connection must end (error). */
static bool flow_read(struct h_proxy *p, int fd, struct flow *f, int64_t now)
{
    while (f->queued < MAX_QUEUED) {
        struct chunk *c = h__xcalloc(1, sizeof *c + CHUNK);
        ssize_t n = recv(fd, c->data, CHUNK, 0);
        if (n <= 0) {
            free(c);
            if (n == 0) {
                f->eof = true;
                return true;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        c->len = (size_t)n;
        c->due_ms = now + (p->mode == H_DELAY ? p->delay_ms : 0);
        if (f->tail)
            f->tail->next = c;
        else
            f->head = c;
        f->tail = c;
        f->queued += (size_t)n;
    }
    return true;
}

/* Writes f's due chunks to fd: false when the connection must end (error). */
static bool flow_write(struct h_proxy *p, int fd, struct flow *f, uint64_t *counter, int64_t now)
{
    while (flow_ready(f, now)) {
        struct chunk *c = f->head;
        ssize_t n = send(fd, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->off += (size_t)n;
        f->queued -= (size_t)n;
        stat_add(p, counter, n);
        if (c->off < c->len)
            return true;
        f->head = c->next;
        if (!f->head)
            f->tail = NULL;
        free(c);
    }
    return true;
}

static struct pollfd *pfd_add(struct h_proxy *p, size_t *n, int fd, short events)
{
    if (*n == p->cap_pfds) {
        p->cap_pfds = p->cap_pfds ? p->cap_pfds * 2 : 16;
        p->pfds = h__xrealloc(p->pfds, p->cap_pfds * sizeof *p->pfds);
    }
    struct pollfd *x = &p->pfds[(*n)++];
    x->fd = fd;
    x->events = events;
    x->revents = 0;
    return x;
}

static int poll_timeout(struct h_proxy *p, int64_t now)
{
    int64_t t = -1;
    if (p->mode == H_STALL)
        return -1;
    for (struct conn *c = p->conns; c; c = c->next) {
        const struct flow *fs[2] = {&c->up, &c->down};
        for (int i = 0; i < 2; i++) {
            if (fs[i]->head && fs[i]->head->due_ms > now) {
                int64_t d = fs[i]->head->due_ms - now;
                if (t < 0 || d < t)
                    t = d;
            }
        }
    }
    return (int)t;
}

/* One connection's turn after poll: false when it is gone. */
static bool conn_step(struct h_proxy *p, struct conn *c, int64_t now)
{
    short cre = c->ci >= 0 ? p->pfds[c->ci].revents : 0;
    short ure = c->ui >= 0 ? p->pfds[c->ui].revents : 0;
    if (c->connecting) {
        if (!ure)
            goto client_side;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            stat_add(p, &p->st.upstream_failures, 1);
            conn_remove(p, c, END_FIN, false);
            return false;
        }
        c->connecting = false;
        ure = 0;
    }
    if (ure & (POLLIN | POLLERR | POLLHUP))
        if (!flow_read(p, c->ufd, &c->down, now))
            goto reset;
client_side:
    if (cre & (POLLIN | POLLERR | POLLHUP))
        if (!flow_read(p, c->cfd, &c->up, now))
            goto reset;
    if (!flow_write(p, c->cfd, &c->down, &p->st.bytes_down, now))
        goto reset;
    if (!c->connecting && !flow_write(p, c->ufd, &c->up, &p->st.bytes_up, now))
        goto reset;
    if (!c->connecting && c->up.eof && !c->up.head && !c->up.shut) {
        shutdown(c->ufd, SHUT_WR);
        c->up.shut = true;
    }
    if (c->down.eof && !c->down.head && !c->down.shut) {
        shutdown(c->cfd, SHUT_WR);
        c->down.shut = true;
    }
    if (c->up.shut && c->down.shut) {
        conn_remove(p, c, END_FIN, false);
        return false;
    }
    return true;
reset:
    /* One side reset or failed: pass the reset on, as a router would. */
    conn_remove(p, c, END_RST, false);
    return false;
}

static void *proxy_main(void *arg)
{
    struct h_proxy *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->req_gen != p->applied_gen) {
            enum h_fault m = p->req_mode;
            int d = p->req_delay;
            unsigned g = p->req_gen;
            bool quit = p->quit;
            pthread_mutex_unlock(&p->mu);
            int rc = quit ? CORIO_OK : apply(p, m, d);
            pthread_mutex_lock(&p->mu);
            p->apply_rc = rc;
            p->applied_gen = g;
            pthread_cond_broadcast(&p->cv);
        }
        bool quit = p->quit;
        pthread_mutex_unlock(&p->mu);
        if (quit)
            break;

        int64_t now = h_now_ms();
        size_t n = 0;
        pfd_add(p, &n, p->wake[0], POLLIN);
        int li = -1;
        if (p->mode != H_STALL && p->lfd >= 0) {
            li = (int)n;
            pfd_add(p, &n, p->lfd, POLLIN);
        }
        for (struct conn *c = p->conns; c; c = c->next) {
            c->ci = c->ui = -1;
            if (p->mode == H_STALL)
                continue;
            short ce = 0, ue = 0;
            if (!c->up.eof && c->up.queued < MAX_QUEUED)
                ce |= POLLIN;
            if (flow_ready(&c->down, now))
                ce |= POLLOUT;
            if (c->connecting) {
                ue = POLLOUT;
            } else {
                if (!c->down.eof && c->down.queued < MAX_QUEUED)
                    ue |= POLLIN;
                if (flow_ready(&c->up, now))
                    ue |= POLLOUT;
            }
            /* A socket with nothing to wait for is left out, so that a hang-up
             * on it cannot make poll spin. */
            if (ce) {
                c->ci = (int)n;
                pfd_add(p, &n, c->cfd, ce);
            }
            if (ue) {
                c->ui = (int)n;
                pfd_add(p, &n, c->ufd, ue);
            }
        }
        int r = poll(p->pfds, n, poll_timeout(p, now));
        if (r < 0 && errno != EINTR) {
            h__msg("proxy %d: poll: %s", p->port, strerror(errno));
            break;
        }
        if (p->pfds[0].revents & POLLIN) {
            char buf[64];
            while (read(p->wake[0], buf, sizeof buf) > 0) {
            }
        }
        now = h_now_ms();
        if (p->mode == H_STALL)
            continue;
        for (struct conn *c = p->conns, *next; c; c = next) {
            next = c->next;
            conn_step(p, c, now);
        }
        if (li >= 0 && (p->pfds[li].revents & POLLIN))
            accept_all(p);
    }
    while (p->conns)
        conn_remove(p, p->conns, END_FIN, false);
    if (p->lfd >= 0)
        close(p->lfd);
    p->lfd = -1;
    return NULL;
}

/* Sends a request to the proxy thread and waits until it is applied. */
static int request(struct h_proxy *p, enum h_fault mode, int delay_ms, bool quit)
{
    pthread_mutex_lock(&p->mu);
    p->req_mode = mode;
    p->req_delay = delay_ms;
    p->quit = p->quit || quit;
    unsigned gen = ++p->req_gen;
    ssize_t w = write(p->wake[1], "x", 1);
    (void)w;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ms = h_ms(10000);
    ts.tv_sec += ms / 1000 + (ts.tv_nsec + (ms % 1000) * 1000000) / 1000000000;
    ts.tv_nsec = (ts.tv_nsec + (ms % 1000) * 1000000) % 1000000000;
    int rc = CORIO_OK;
    while (p->applied_gen != gen && rc == CORIO_OK)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            rc = CORIO_ERR_TIMEOUT;
    if (rc == CORIO_OK)
        rc = p->apply_rc;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void h_proxy_stop(struct h_proxy *p)
{
    if (!p || !p->running)
        return;
    request(p, H_CUT, 0, true);
    pthread_join(p->thread, NULL);
    p->running = false;
}

static void proxy_cleanup(void *arg)
{
    struct h_proxy *p = arg;
    h_proxy_stop(p);
    if (p->lfd >= 0)
        close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p->pfds);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

struct h_proxy *h_proxy_start(const char *host, int port)
{
    h__init();
    if (!host || port <= 0 || port > 65535) {
        h__msg("h_proxy_start: bad upstream");
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char svc[16];
    snprintf(svc, sizeof svc, "%d", port);
    int gai = getaddrinfo(host, svc, &hints, &ai);
    if (gai != 0 || !ai) {
        h__msg("proxy: cannot resolve %s: %s", host, gai_strerror(gai));
        return NULL;
    }
    struct h_proxy *p = h__xcalloc(1, sizeof *p);
    memcpy(&p->up, ai->ai_addr, ai->ai_addrlen);
    p->uplen = ai->ai_addrlen;
    freeaddrinfo(ai);
    snprintf(p->upname, sizeof p->upname, "%s:%d", host, port);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->wake[0] = p->wake[1] = -1;
    p->lfd = -1;
    h_defer(proxy_cleanup, p);
    if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        h__msg("proxy: pipe: %s", strerror(errno));
        return NULL;
    }
    for (int attempt = 0; attempt < 16 && p->lfd < 0; attempt++) {
        p->lfd = listen_on(0, &p->port);
        /* The port must not be handed out by h_free_port while it is cut. */
        if (p->lfd >= 0 && h__port_seen(p->port)) {
            close(p->lfd);
            p->lfd = -1;
        }
    }
    if (p->lfd < 0) {
        h__msg("proxy: cannot listen: %s", strerror(errno));
        return NULL;
    }
    h__port_claim(p->port);
    p->mode = H_PASS;
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        h__msg("proxy: cannot start its thread");
        return NULL;
    }
    p->running = true;
    return p;
}

int h_proxy_port(const struct h_proxy *p)
{
    return p ? p->port : -1;
}

int h_proxy_set(struct h_proxy *p, enum h_fault mode, int delay_ms)
{
    if (!p || !p->running)
        return CORIO_ERR_STATE;
    if (mode < H_PASS || mode > H_RESET)
        return CORIO_ERR_INVAL;
    return request(p, mode, delay_ms, false);
}

void h_proxy_stats(struct h_proxy *p, struct h_proxy_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}
