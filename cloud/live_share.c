/*
 * live_share.c - packing and checking the live events instances share (live_share.h).
 */
#include "live_share.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "corio/error.h"

void corio_live_instance_new(char out[CORIO_LIVE_INSTANCE_LEN + 1])
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* Without entropy yet, the pid and the clock still tell instances apart. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = ((uint64_t)getpid() << 40) ^ (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    snprintf(out, CORIO_LIVE_INSTANCE_LEN + 1, "%016llx", (unsigned long long)r);
}

static bool event_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > CORIO_LIVE_EVENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return false;
    return true;
}

static bool data_ok(const char *s, size_t n)
{
    if (n == 0 || n > CORIO_LIVE_DATA_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool instance_ok(const char *s, size_t n)
{
    if (n != CORIO_LIVE_INSTANCE_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int corio_live_pack(const char *instance, const struct corio_event *ev, size_t n, size_t max,
                    corio_live_send_fn send, void *arg, size_t *skipped)
{
    if (!instance || !instance_ok(instance, strlen(instance)) || (n && !ev) || !send || !skipped)
        return CORIO_ERR_INVAL;
    if (max == 0)
        max = CORIO_LIVE_MSG_MAX;
    char head[sizeof CORIO_LIVE_MAGIC + CORIO_LIVE_INSTANCE_LEN + 2];
    size_t headlen = (size_t)snprintf(head, sizeof head, CORIO_LIVE_MAGIC " %s\n", instance);
    if (max <= headlen)
        return CORIO_ERR_INVAL;
    *skipped = 0;
    if (n == 0)
        return 0;
    char *buf = malloc(max);
    if (!buf)
        return CORIO_ERR_NOSPACE;
    memcpy(buf, head, headlen);
    size_t len = headlen;
    int sent = 0, in_buf = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = ev[i].type ? ev[i].type : "";
        const char *d = ev[i].data ? ev[i].data : "";
        size_t tl = strlen(t), dl = strlen(d), need = tl + dl + 2;
        if (!event_name_ok(t, tl) || !data_ok(d, dl) || headlen + need > max) {
            (*skipped)++;
            continue;
        }
        if (len + need > max) {
            int rc = send(arg, buf, len);
            if (rc != CORIO_OK) {
                free(buf);
                return rc;
            }
            sent += in_buf;
            in_buf = 0;
            len = headlen;
        }
        memcpy(buf + len, t, tl);
        buf[len + tl] = '\n';
        memcpy(buf + len + tl + 1, d, dl);
        buf[len + need - 1] = '\n';
        len += need;
        in_buf++;
    }
    int rc = CORIO_OK;
    if (in_buf) {
        rc = send(arg, buf, len);
        if (rc == CORIO_OK)
            sent += in_buf;
    }
    free(buf);
    return rc == CORIO_OK ? sent : rc;
}

/* The next line of msg from *pos: its start and length, without the '\n'. */
static bool next_line(const char *msg, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len)
        return false;
    const char *start = msg + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    if (!nl)
        return false;
    *line = start;
    *n = (size_t)(nl - start);
    *pos += *n + 1;
    return true;
}

static int refuse(char *why, size_t whylen, const char *what)
{
    snprintf(why, whylen, "%s", what);
    return CORIO_ERR_MALFORMED;
}

int corio_live_unpack(const char *self, const uint8_t *msg, size_t len,
                      corio_live_deliver_fn deliver, void *arg, char *why, size_t whylen)
{
    if (!msg || !deliver)
        return CORIO_ERR_INVAL;
    const char *m = (const char *)msg;
    size_t pos = 0, n;
    const char *line;
    if (len > CORIO_LIVE_MSG_MAX)
        return refuse(why, whylen, "larger than a shared live message may be");
    if (!next_line(m, len, &pos, &line, &n))
        return refuse(why, whylen, "no header line");
    size_t ml = sizeof CORIO_LIVE_MAGIC - 1;
    if (n < ml + 1 || memcmp(line, CORIO_LIVE_MAGIC, ml) != 0 || line[ml] != ' ')
        return refuse(why, whylen, "not a " CORIO_LIVE_MAGIC " message");
    if (!instance_ok(line + ml + 1, n - ml - 1))
        return refuse(why, whylen, "the sender's instance name is not 16 hex digits");
    if (self && memcmp(line + ml + 1, self, CORIO_LIVE_INSTANCE_LEN) == 0 &&
        strlen(self) == CORIO_LIVE_INSTANCE_LEN)
        return 0;

    /* Everything is checked before anything is delivered. */
    size_t body = pos, events = 0;
    while (pos < len) {
        const char *t, *d;
        size_t tl, dl;
        if (!next_line(m, len, &pos, &t, &tl) || !next_line(m, len, &pos, &d, &dl))
            return refuse(why, whylen, "an event without its data, or a line without its end");
        if (!event_name_ok(t, tl))
            return refuse(why, whylen, "an event name outside a-z and '_' (1 to 31)");
        if (!data_ok(d, dl))
            return refuse(why, whylen, "event data empty, too large or with control characters");
        events++;
    }
    if (events == 0)
        return 0;

    /* A copy whose line ends become string ends. */
    size_t blen = len - body;
    char *copy = malloc(blen);
    if (!copy)
        return CORIO_ERR_NOSPACE;
    memcpy(copy, m + body, blen);
    int delivered = 0;
    for (size_t p = 0; p < blen;) {
        char *t = copy + p;
        char *tend = memchr(t, '\n', blen - p);
        *tend = 0;
        char *d = tend + 1;
        char *dend = memchr(d, '\n', blen - (size_t)(d - copy));
        *dend = 0;
        deliver(arg, t, d);
        delivered++;
        p = (size_t)(dend - copy) + 1;
    }
    free(copy);
    return delivered;
}
