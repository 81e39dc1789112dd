/*
 * test_common_http_client.h - a small raw-socket HTTP/1.1 client for the common/ HTTP and SSE
 * tests.
 *
 * Raw sockets rather than libcurl, so the tests control every byte: send headers without
 * a body, stop reading to stall a stream, see exactly what the server wrote. Everything
 * waits by polling with a deadline. Header-only on purpose: each test that includes it is
 * one program.
 */
#ifndef CORIO_TEST_HTTP_CLIENT_H
#define CORIO_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HC_DEADLINE_MS 10000

static inline int64_t hc_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A connected socket to 127.0.0.1:port; rcvbuf > 0 shrinks its receive buffer first. */
static inline int hc_connect(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline bool hc_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/*
 * A response being read: the raw bytes, then once the headers are in, the status, the
 * headers and the body (de-chunked when the server chunks it).
 */
struct hc_conn {
    int fd;
    char *raw;
    size_t rawlen, rawcap;
    bool have_headers, chunked, eof, body_done;
    int status;
    char headers[8192];
    char *body; /* NUL-terminated */
    size_t bodylen, bodycap;
    size_t chunk_left; /* data bytes left in the current chunk */
    int chunk_state;   /* 0 size line, 1 data, 2 CRLF after data, 3 done */
};

static inline void hc_init(struct hc_conn *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
}

static inline void hc_free(struct hc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->raw);
    free(c->body);
    c->fd = -1;
    c->raw = c->body = NULL;
}

static inline void hc_body_add(struct hc_conn *c, const char *p, size_t n)
{
    if (c->bodylen + n + 1 > c->bodycap) {
        size_t cap = c->bodycap ? c->bodycap : 4096;
        while (cap < c->bodylen + n + 1)
            cap *= 2;
        c->body = realloc(c->body, cap);
        c->bodycap = cap;
    }
    memcpy(c->body + c->bodylen, p, n);
    c->bodylen += n;
    c->body[c->bodylen] = '\0';
}

/* Moves what can be parsed from raw into headers and body. */
static inline void hc_parse(struct hc_conn *c)
{
    if (!c->have_headers) {
        char *end = c->raw ? memmem(c->raw, c->rawlen, "\r\n\r\n", 4) : NULL;
        if (!end)
            return;
        size_t hl = (size_t)(end - c->raw) + 4;
        size_t copy = hl < sizeof c->headers ? hl : sizeof c->headers - 1;
        memcpy(c->headers, c->raw, copy);
        c->headers[copy] = '\0';
        sscanf(c->headers, "HTTP/1.%*d %d", &c->status);
        c->chunked = strcasestr(c->headers, "\r\nTransfer-Encoding: chunked\r\n") != NULL;
        c->have_headers = true;
        memmove(c->raw, c->raw + hl, c->rawlen - hl);
        c->rawlen -= hl;
        hc_body_add(c, "", 0);
    }
    if (!c->chunked) {
        hc_body_add(c, c->raw, c->rawlen);
        c->rawlen = 0;
        return;
    }
    size_t pos = 0;
    while (pos < c->rawlen && c->chunk_state != 3) {
        if (c->chunk_state == 0) {
            char *nl = memmem(c->raw + pos, c->rawlen - pos, "\r\n", 2);
            if (!nl)
                break;
            c->chunk_left = strtoul(c->raw + pos, NULL, 16);
            pos = (size_t)(nl - c->raw) + 2;
            c->chunk_state = c->chunk_left ? 1 : 3;
            if (c->chunk_state == 3)
                c->body_done = true;
        } else if (c->chunk_state == 1) {
            size_t n = c->rawlen - pos < c->chunk_left ? c->rawlen - pos : c->chunk_left;
            hc_body_add(c, c->raw + pos, n);
            pos += n;
            c->chunk_left -= n;
            if (c->chunk_left == 0)
                c->chunk_state = 2;
        } else {
            if (c->rawlen - pos < 2)
                break;
            pos += 2;
            c->chunk_state = 0;
        }
    }
    memmove(c->raw, c->raw + pos, c->rawlen - pos);
    c->rawlen -= pos;
}

/* Reads what arrives within timeout_ms. Returns false at EOF or on error. */
static inline bool hc_pump(struct hc_conn *c, int timeout_ms)
{
    if (c->eof)
        return false;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return true;
    if (c->rawcap - c->rawlen < 65536) {
        c->rawcap = c->rawcap ? c->rawcap * 2 : 131072;
        c->raw = realloc(c->raw, c->rawcap);
    }
    ssize_t n = recv(c->fd, c->raw + c->rawlen, c->rawcap - c->rawlen, 0);
    if (n <= 0) {
        c->eof = true;
        hc_parse(c);
        return false;
    }
    c->rawlen += (size_t)n;
    hc_parse(c);
    return true;
}

/* Waits until the body holds needle; then drops the body up to and including it. */
static inline bool hc_wait_for(struct hc_conn *c, const char *needle, int timeout_ms)
{
    int64_t deadline = hc_now_ms() + timeout_ms;
    for (;;) {
        char *at = c->body ? memmem(c->body, c->bodylen, needle, strlen(needle)) : NULL;
        if (at) {
            size_t cut = (size_t)(at - c->body) + strlen(needle);
            memmove(c->body, c->body + cut, c->bodylen - cut + 1);
            c->bodylen -= cut;
            return true;
        }
        int64_t left = deadline - hc_now_ms();
        if (left <= 0)
            return false;
        if (!hc_pump(c, (int)(left < 100 ? left : 100)) && c->eof)
            return false;
    }
}

/* Reads until the server closes the connection (or the deadline). True on EOF. */
static inline bool hc_read_to_eof(struct hc_conn *c, int timeout_ms)
{
    int64_t deadline = hc_now_ms() + timeout_ms;
    while (!c->eof && hc_now_ms() < deadline)
        hc_pump(c, 100);
    return c->eof;
}

/* A header's value from a parsed response (copied into out), or NULL. */
static inline const char *hc_header(const struct hc_conn *c, const char *name, char *out,
                                    size_t outlen)
{
    char key[128];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *at = strcasestr(c->headers, key);
    if (!at)
        return NULL;
    at += strlen(key);
    size_t n = strcspn(at, "\r\n");
    snprintf(out, outlen, "%.*s", (int)n, at);
    return out;
}

/*
 * One request on a fresh connection: sends req (len bytes), reads the whole response
 * (the server closes: requests carry "Connection: close"). Returns the status, 0 when no
 * response came.
 */
static inline int hc_request(uint16_t port, const char *req, size_t len, struct hc_conn *c)
{
    hc_init(c, hc_connect(port, 0));
    if (c->fd < 0 || !hc_send(c->fd, req, len))
        return 0;
    int64_t deadline = hc_now_ms() + HC_DEADLINE_MS;
    while (!c->eof && !c->body_done && hc_now_ms() < deadline)
        hc_pump(c, 100);
    return c->have_headers ? c->status : 0;
}

#endif /* CORIO_TEST_HTTP_CLIENT_H */
