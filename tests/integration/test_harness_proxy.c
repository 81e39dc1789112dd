/*
 * test_harness_proxy.c - every fault of the harness's TCP proxy demonstrably
 * happens, first against an echo server on a thread (pass delivers and counts,
 * cut gives EOF and refuses, stall holds bytes on an open connection until
 * restored, delay holds each chunk at least N ms, reset gives ECONNRESET on both
 * sides), then against a real Mosquitto with MQTT clients on both sides.
 *
 * "Nothing arrives while stalled" can only be checked over a window; those windows
 * are short and only ever make the test pass more slowly, never wrongly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------------------------- */
/* An echo server on a thread: counts bytes, EOFs and resets it sees.          */

#define ECHO_MAX 32

struct echo {
    int lfd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    long bytes, eofs, resets;
};

static long echo_get(struct echo *e, long *field)
{
    pthread_mutex_lock(&e->mu);
    long v = *field;
    pthread_mutex_unlock(&e->mu);
    return v;
}

static void echo_add(struct echo *e, long *field, long v)
{
    pthread_mutex_lock(&e->mu);
    *field += v;
    pthread_mutex_unlock(&e->mu);
}

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    struct pollfd pf[ECHO_MAX + 1];
    int n = 1;
    pf[0].fd = e->lfd;
    pf[0].events = POLLIN;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        bool stop = e->stop;
        pthread_mutex_unlock(&e->mu);
        if (stop)
            break;
        if (poll(pf, (nfds_t)n, 20) <= 0)
            continue;
        for (int i = n - 1; i >= 1; i--) {
            if (!pf[i].revents)
                continue;
            char buf[4096];
            ssize_t r = recv(pf[i].fd, buf, sizeof buf, 0);
            if (r > 0) {
                echo_add(e, &e->bytes, r);
                send(pf[i].fd, buf, (size_t)r, MSG_NOSIGNAL);
                continue;
            }
            if (r == 0)
                echo_add(e, &e->eofs, 1);
            else if (errno == ECONNRESET)
                echo_add(e, &e->resets, 1);
            else if (errno == EAGAIN || errno == EINTR)
                continue;
            close(pf[i].fd);
            pf[i] = pf[--n];
        }
        if ((pf[0].revents & POLLIN) && n <= ECHO_MAX) {
            int c = accept(e->lfd, NULL, NULL);
            if (c >= 0) {
                pf[n].fd = c;
                pf[n].events = POLLIN;
                n++;
            }
        }
    }
    for (int i = 0; i < n; i++)
        close(pf[i].fd);
    return NULL;
}

static void echo_stop(void *arg)
{
    struct echo *e = arg;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static struct echo *echo_start(void)
{
    struct echo *e = calloc(1, sizeof *e);
    assert_non_null(e);
    pthread_mutex_init(&e->mu, NULL);
    e->port = h_free_port();
    e->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)e->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(e->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(e->lfd, 16), 0);
    assert_int_equal(pthread_create(&e->thread, NULL, echo_main, e), 0);
    h_defer(echo_stop, e);
    return e;
}

/* ------------------------------------------------------------------------- */

static void close_fd(void *arg)
{
    close((int)(intptr_t)arg);
}

/* A connected socket, or -1 with errno. */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    h_defer(close_fd, (void *)(intptr_t)fd);
    return fd;
}

/* Reads exactly n bytes by the deadline: n, or what recv last returned. */
static ssize_t recv_all(int fd, char *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    struct h_poll poll_;
    h_poll_init(&poll_, timeout_ms);
    while (got < n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int64_t left = poll_.deadline_ms - h_now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            return (ssize_t)got;
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            return r;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void exchange(int fd, const char *text)
{
    size_t n = strlen(text);
    assert_int_equal(send(fd, text, n, MSG_NOSIGNAL), (ssize_t)n);
    char buf[256] = {0};
    assert_int_equal(recv_all(fd, buf, n, 5000), (ssize_t)n);
    assert_memory_equal(buf, text, n);
}

/* The next recv result once the socket is readable (or -2 at the deadline). */
static ssize_t next_recv(int fd, int timeout_ms, int *err)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, h_ms(timeout_ms)) <= 0)
        return -2;
    char b;
    ssize_t r = recv(fd, &b, 1, 0);
    *err = r < 0 ? errno : 0;
    return r;
}

static struct h_proxy_stats stats(struct h_proxy *p)
{
    struct h_proxy_stats s;
    h_proxy_stats(p, &s);
    return s;
}

static bool no_active(void *arg)
{
    return stats(arg).active == 0;
}

/* ------------------------------------------------------------------------- */

static void pass_forwards_and_counts(void **state)
{
    (void)state;
    struct echo *e = echo_start();
    struct h_proxy *p = h_proxy_start("localhost", e->port);
    assert_non_null(p);
    int fd = dial(h_proxy_port(p));
    assert_true(fd >= 0);
    exchange(fd, "hello");
    /* The proxy counts a chunk just after it sends it: the echo can arrive first. */
    bool counted;
    H_POLL(counted, stats(p).bytes_down == 5, 5000);
    assert_true(counted);
    struct h_proxy_stats s = stats(p);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(s.active, 1);
    assert_int_equal(s.bytes_up, 5);
    assert_int_equal(s.bytes_down, 5);
    assert_int_equal(s.faulted, 0);

    /* A client's FIN travels upstream and the connection ends on both sides. */
    shutdown(fd, SHUT_WR);
    int err;
    assert_int_equal(next_recv(fd, 5000, &err), 0);
    assert_int_equal(h_wait_until(no_active, p, 5000), CORIO_OK);
    bool eof;
    H_POLL(eof, echo_get(e, &e->eofs) == 1, 5000);
    assert_true(eof);

    /* An upstream that refuses: the client is closed and it is counted. */
    struct h_proxy *dead = h_proxy_start("127.0.0.1", h_free_port());
    assert_non_null(dead);
    int fd2 = dial(h_proxy_port(dead));
    assert_true(fd2 >= 0);
    assert_int_equal(next_recv(fd2, 5000, &err), 0);
    assert_int_equal(stats(dead).upstream_failures, 1);
}

static void cut_gives_eof_and_refuses_until_restored(void **state)
{
    (void)state;
    struct echo *e = echo_start();
    struct h_proxy *p = h_proxy_start("127.0.0.1", e->port);
    assert_non_null(p);
    int fd = dial(h_proxy_port(p));
    assert_true(fd >= 0);
    exchange(fd, "before");

    assert_int_equal(h_proxy_set(p, H_CUT, 0), CORIO_OK);
    int err;
    assert_int_equal(next_recv(fd, 5000, &err), 0);
    assert_int_equal(dial(h_proxy_port(p)), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(stats(p).faulted, 1);
    assert_int_equal(stats(p).active, 0);

    assert_int_equal(h_proxy_set(p, H_PASS, 0), CORIO_OK);
    int fd2 = dial(h_proxy_port(p));
    assert_true(fd2 >= 0);
    exchange(fd2, "after");
}

static void stall_holds_bytes_on_an_open_connection(void **state)
{
    (void)state;
    struct echo *e = echo_start();
    struct h_proxy *p = h_proxy_start("127.0.0.1", e->port);
    assert_non_null(p);
    int fd = dial(h_proxy_port(p));
    assert_true(fd >= 0);
    exchange(fd, "a");

    assert_int_equal(h_proxy_set(p, H_STALL, 0), CORIO_OK);
    assert_int_equal(send(fd, "held", 4, MSG_NOSIGNAL), 4);
    /* A new connection completes in the kernel but is not served. */
    int fd2 = dial(h_proxy_port(p));
    assert_true(fd2 >= 0);
    assert_int_equal(send(fd2, "x", 1, MSG_NOSIGNAL), 1);

    struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = fd2, .events = POLLIN}};
    assert_int_equal(poll(pf, 2, 300), 0);
    assert_int_equal(echo_get(e, &e->bytes), 1);
    char b;
    assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    assert_int_equal(stats(p).accepted, 1);
    assert_int_equal(stats(p).active, 1);

    assert_int_equal(h_proxy_set(p, H_PASS, 0), CORIO_OK);
    char buf[8] = {0};
    assert_int_equal(recv_all(fd, buf, 4, 5000), 4);
    assert_memory_equal(buf, "held", 4);
    assert_int_equal(recv_all(fd2, buf, 1, 5000), 1);
    assert_int_equal(buf[0], 'x');
    assert_int_equal(stats(p).accepted, 2);
}

static void delay_holds_each_chunk_at_least_n_ms(void **state)
{
    (void)state;
    struct echo *e = echo_start();
    struct h_proxy *p = h_proxy_start("127.0.0.1", e->port);
    assert_non_null(p);
    int fd = dial(h_proxy_port(p));
    assert_true(fd >= 0);
    exchange(fd, "warm");

    assert_int_equal(h_proxy_set(p, H_DELAY, 150), CORIO_OK);
    int64_t t0 = h_now_ms();
    exchange(fd, "slow");
    /* Held once on the way up and once on the way down. */
    assert_true(h_now_ms() - t0 >= 300);

    assert_int_equal(h_proxy_set(p, H_PASS, 0), CORIO_OK);
    exchange(fd, "quick");
}

static void reset_gives_econnreset_on_both_sides(void **state)
{
    (void)state;
    struct echo *e = echo_start();
    struct h_proxy *p = h_proxy_start("127.0.0.1", e->port);
    assert_non_null(p);
    int fd = dial(h_proxy_port(p));
    assert_true(fd >= 0);
    exchange(fd, "ping");

    assert_int_equal(h_proxy_set(p, H_RESET, 0), CORIO_OK);
    int err = 0;
    assert_int_equal(next_recv(fd, 5000, &err), -1);
    assert_int_equal(err, ECONNRESET);
    bool upstream_reset;
    H_POLL(upstream_reset, echo_get(e, &e->resets) == 1, 5000);
    assert_true(upstream_reset);

    /* While in reset mode, new connections are reset as they come. */
    int fd2 = dial(h_proxy_port(p));
    assert_true(fd2 >= 0);
    assert_int_equal(next_recv(fd2, 5000, &err), -1);
    assert_int_equal(err, ECONNRESET);
    assert_int_equal(stats(p).faulted, 2);

    assert_int_equal(h_proxy_set(p, H_PASS, 0), CORIO_OK);
    int fd3 = dial(h_proxy_port(p));
    assert_true(fd3 >= 0);
    exchange(fd3, "pong");
}

/* ------------------------------------------------------------------------- */

static void faults_between_mqtt_client_and_mosquitto(void **state)
{
    (void)state;
    struct h_mosq *m = h_mosq_start(NULL);
    assert_non_null(m);
    struct h_proxy *p = h_proxy_start("127.0.0.1", m->port);
    assert_non_null(p);
    struct h_mqtt *sub = h_mqtt_connect(m->port, NULL);
    assert_non_null(sub);
    assert_int_equal(h_mqtt_subscribe(sub, "f/#", 1), CORIO_OK);
    struct h_mqtt *pub = h_mqtt_connect(h_proxy_port(p), NULL);
    assert_non_null(pub);

    /* pass */
    assert_int_equal(h_mqtt_publish(pub, "f/pass", "1", 1, 1), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(sub, "f/pass", 1, 5000), 1);

    /* delay: the PUBLISH waits on the way up, the PUBACK on the way down */
    assert_int_equal(h_proxy_set(p, H_DELAY, 150), CORIO_OK);
    int64_t t0 = h_now_ms();
    assert_int_equal(h_mqtt_publish(pub, "f/delay", "2", 1, 1), CORIO_OK);
    assert_true(h_now_ms() - t0 >= 300);
    assert_int_equal(h_mqtt_wait_count(sub, "f/delay", 1, 5000), 1);

    /* stall: no PUBACK and no delivery while the connection stays up */
    assert_int_equal(h_proxy_set(p, H_STALL, 0), CORIO_OK);
    int mid;
    assert_int_equal(h_mqtt_publish_nowait(pub, "f/stall", "3", 1, 1, false, &mid), CORIO_OK);
    assert_int_equal(h_mqtt_wait_published(pub, mid, 300), CORIO_ERR_TIMEOUT);
    assert_int_equal(h_mqtt_count(sub, "f/stall"), 0);
    assert_true(h_mqtt_connected(pub));
    assert_int_equal(h_proxy_set(p, H_PASS, 0), CORIO_OK);
    assert_int_equal(h_mqtt_wait_published(pub, mid, 5000), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(sub, "f/stall", 1, 5000), 1);

    /* cut: the client loses its connection and cannot get a new one */
    assert_int_equal(h_proxy_set(p, H_CUT, 0), CORIO_OK);
    assert_int_equal(h_mqtt_wait_disconnected(pub, 5000), CORIO_OK);
    assert_false(h_port_open(h_proxy_port(p)));
    assert_int_equal(h_proxy_set(p, H_PASS, 0), CORIO_OK);
    assert_int_equal(h_mqtt_wait_connected(pub, 10000), CORIO_OK);
    assert_int_equal(h_mqtt_publish(pub, "f/cut", "4", 1, 1), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(sub, "f/cut", 1, 5000), 1);

    /* reset: the client's connection is reset; it comes back afterwards */
    int lost = h_mqtt_disconnects(pub);
    assert_int_equal(h_proxy_set(p, H_RESET, 0), CORIO_OK);
    assert_int_equal(h_mqtt_wait_disconnected(pub, 5000), CORIO_OK);
    assert_int_equal(h_mqtt_disconnects(pub), lost + 1);
    assert_int_equal(h_proxy_set(p, H_PASS, 0), CORIO_OK);
    assert_int_equal(h_mqtt_wait_connected(pub, 10000), CORIO_OK);
    assert_int_equal(h_mqtt_publish(pub, "f/reset", "5", 1, 1), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(sub, "f/reset", 1, 5000), 1);
    /* The subscriber, connected directly, never noticed. */
    assert_int_equal(h_mqtt_disconnects(sub), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(pass_forwards_and_counts),
        H_TEST(cut_gives_eof_and_refuses_until_restored),
        H_TEST(stall_holds_bytes_on_an_open_connection),
        H_TEST(delay_holds_each_chunk_at_least_n_ms),
        H_TEST(reset_gives_econnreset_on_both_sides),
        H_TEST(faults_between_mqtt_client_and_mosquitto),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
