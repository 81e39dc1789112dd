/*
 * corio_http.c - the HTTP + SSE server over libmicrohttpd (corio_http.h).
 *
 * Threading. libmicrohttpd runs its own threads here: a small pool of internal polling
 * threads on epoll (MHD_USE_INTERNAL_POLLING_THREAD with MHD_USE_AUTO and
 * MHD_OPTION_THREAD_POOL_SIZE). Not thread-per-connection, because every open SSE
 * stream would then hold a thread for hours; not an external loop, because daemons have
 * their own loops (libuv, mosquitto, poll) and should not feed MHD's fd sets. With a
 * pool, a handler that blocks (a SQL query) delays only the connections of its own
 * thread. An idle event stream is suspended (MHD_suspend_connection) so it costs no
 * polling; a broadcast resumes it. Suspend/resume needs MHD_ALLOW_SUSPEND_RESUME, which
 * also gives MHD_quiesce_daemon the inter-thread channel it requires.
 *
 * Stream lifetime and locks. A stream is created by corio_http_sse_open and freed by
 * libmicrohttpd's response free callback (sse_free), which unlinks it from the server
 * under s->lock. Lock order: s->lock, then a stream's lock, then (inside
 * MHD_resume_connection / MHD_suspend_connection) MHD's own. A stream is suspended
 * only from its reader callback with its lock held and flagged as such, so a resume is
 * only ever called on a suspended connection (MHD's rule). Once a stream is closed
 * (stop) or cut (too slow) it is never suspended again, so corio_http_stop can resume
 * every suspended stream and then call MHD_stop_daemon, which must find none suspended.
 */
#include "corio_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "corio/error.h"
#include "corio_buf.h"
#include "corio_log.h"
#include "corio_metrics.h"

#define MAX_SEGMENTS 32
#define MAX_PARAMS   16
#define MAX_QUERY    64
#define SSE_RING     1024  /* events queued per stream, at most */
#define SSE_BLOCK    16384 /* bytes MHD asks the stream reader for at once */
#define METRICS_MAX  (16u << 20)
#define DISCARD_MAX  (4u << 20) /* body bytes read past the cap before hanging up */

/* ---- types ------------------------------------------------------------------------- */

struct route {
    char method[16];
    char *pattern;
    char *segs[MAX_SEGMENTS]; /* point into pattern copy; "{x}" kept as is */
    size_t nsegs;
    uint64_t literal_mask; /* bit (nsegs-1-i) set when segment i is literal */
    corio_http_handler fn;
    void *arg;
};

/* An event, formatted once and shared by every stream's queue. */
struct sse_msg {
    atomic_uint refs;
    size_t len;
    char data[];
};

struct stream {
    struct corio_http *srv;
    struct MHD_Connection *conn;
    int fd;
    pthread_mutex_t lock;
    struct sse_msg *ring[SSE_RING];
    size_t head, count, off, bytes;
    bool suspended; /* MHD_suspend_connection was called and no resume since */
    bool closed;    /* the server is stopping: end the stream */
    bool cut;       /* too slow: drop the connection */
    struct stream *prev, *next;
};

struct header {
    char *name, *value;
    struct header *next;
};

struct corio_http_req {
    struct corio_http *srv;
    struct MHD_Connection *conn;
    const char *method; /* MHD's, valid for the request */
    const char *url;
    char *path; /* our copy, split and decoded in place */
    char *segs[MAX_SEGMENTS];
    size_t nsegs;
    const struct route *route;
    const char *pnames[MAX_PARAMS];
    size_t pnamelen[MAX_PARAMS];
    const char *pvalues[MAX_PARAMS];
    size_t nparams;
    char *qkeys[MAX_QUERY], *qvalues[MAX_QUERY];
    size_t nquery;
    bool bad; /* path or query did not decode */
    struct corio_buf body;
    bool too_large, body_oom;
    size_t discarded; /* body bytes read and dropped past the cap */
    struct header *headers;
    bool replied, is_sse;
    unsigned status;
    struct timespec start;
};

struct corio_http {
    struct corio_http_opts o;
    char address[64];
    struct route *routes;
    size_t nroutes, aroutes;
    struct MHD_Daemon *mhd;
    int listen_fd;
    uint16_t port;
    bool started, stopped;

    pthread_mutex_t lock; /* the stream list and stopping */
    struct stream *streams;
    unsigned nstreams;
    bool stopping;

    pthread_t ka_thread;
    bool ka_running, ka_stop;
    pthread_mutex_t ka_lock;
    pthread_cond_t ka_cond;

    struct corio_counter *m_requests[4]; /* 2xx 3xx 4xx 5xx (1xx counted as 2xx) */
    struct corio_histogram *m_latency;
    struct corio_gauge *m_clients;
    struct corio_counter *m_events, *m_slow;
};

/* ---- small helpers ----------------------------------------------------------------- */

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s in place. Returns false for a bad escape or a decoded NUL. */
static bool pct_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        *o++ = (char)(hi * 16 + lo);
        p += 2;
    }
    *o = '\0';
    return true;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(*s > 0x20 && *s < 0x7f) || strchr("()<>@,;:\\\"/[]?={}", *s))
            return false;
    return true;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- server creation and routes ---------------------------------------------------- */

static int metrics_handler(struct corio_http_req *r, void *arg);

int corio_http_new(struct corio_http **out, const struct corio_http_opts *opts)
{
    *out = NULL;
    struct corio_http *s = calloc(1, sizeof *s);
    if (!s)
        return CORIO_ERR_NOSPACE;
    if (opts)
        s->o = *opts;
    snprintf(s->address, sizeof s->address, "%s", s->o.address ? s->o.address : "127.0.0.1");
    s->o.address = s->address;
    if (!s->o.max_body)
        s->o.max_body = 1u << 20;
    if (!s->o.threads)
        s->o.threads = 2;
    if (!s->o.timeout_s)
        s->o.timeout_s = 30;
    if (!s->o.max_connections)
        s->o.max_connections = 1024;
    if (!s->o.sse_max_clients)
        s->o.sse_max_clients = 256;
    if (!s->o.sse_keepalive_ms)
        s->o.sse_keepalive_ms = 15000;
    if (!s->o.sse_queue_bytes)
        s->o.sse_queue_bytes = 256u << 10;
    s->listen_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->ka_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->ka_cond, &ca);
    pthread_condattr_destroy(&ca);

    struct corio_registry *reg = s->o.metrics;
    int rc = CORIO_OK;
    if (reg) {
        static const char *const classes[] = {"2xx", "3xx", "4xx", "5xx", NULL};
        static const double bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,   1,    2.5,   5,    10};
        rc = corio_counter_new_labeled(reg, "corio_http_requests_total",
                                       "HTTP requests answered, by status class.", "code", classes,
                                       s->m_requests);
        if (rc == CORIO_OK) {
            s->m_latency = corio_histogram_new(
                reg, "corio_http_request_duration_seconds",
                "Time from a request's arrival to the end of its answer (event streams "
                "excluded).",
                bounds, sizeof bounds / sizeof bounds[0]);
            s->m_clients = corio_gauge_new(reg, "corio_http_sse_clients",
                                           "Server-Sent Events streams open now.");
            s->m_events = corio_counter_new(reg, "corio_http_sse_events_total",
                                            "Events broadcast to the event streams.");
            s->m_slow = corio_counter_new(reg, "corio_http_sse_slow_disconnects_total",
                                          "Event stream clients disconnected because they "
                                          "did not keep up.");
            if (!s->m_latency || !s->m_clients || !s->m_events || !s->m_slow)
                rc = CORIO_ERR_INVAL;
        }
        if (rc == CORIO_OK)
            rc = corio_http_route(s, "GET", "/metrics", metrics_handler, reg);
    }
    if (rc != CORIO_OK) {
        corio_http_free(s);
        return rc;
    }
    *out = s;
    return CORIO_OK;
}

int corio_http_route(struct corio_http *s, const char *method, const char *pattern,
                     corio_http_handler fn, void *arg)
{
    if (s->started)
        return CORIO_ERR_STATE;
    if (!method || !pattern || !fn || pattern[0] != '/' || strlen(method) >= 16 ||
        !is_token(method))
        return CORIO_ERR_INVAL;
    for (const char *m = method; *m; m++)
        if (*m >= 'a' && *m <= 'z')
            return CORIO_ERR_INVAL;
    struct route rt = {0};
    snprintf(rt.method, sizeof rt.method, "%s", method);
    rt.fn = fn;
    rt.arg = arg;
    rt.pattern = strdup(pattern + 1);
    if (!rt.pattern)
        return CORIO_ERR_NOSPACE;
    size_t nparams = 0;
    /* "/" is one empty segment, as a request for "/" is */
    for (char *seg = rt.pattern;;) {
        char *slash = strchr(seg, '/');
        if (slash)
            *slash = '\0';
        if (rt.nsegs == MAX_SEGMENTS)
            goto bad;
        size_t l = strlen(seg);
        bool param = l >= 2 && seg[0] == '{' && seg[l - 1] == '}';
        if (param) {
            if (l == 2 || ++nparams > MAX_PARAMS)
                goto bad;
            for (size_t i = 1; i + 1 < l; i++)
                if (!((seg[i] >= 'a' && seg[i] <= 'z') || (seg[i] >= '0' && seg[i] <= '9') ||
                      seg[i] == '_'))
                    goto bad;
        } else if (strchr(seg, '{') || strchr(seg, '}') || strchr(seg, '%')) {
            goto bad;
        }
        rt.segs[rt.nsegs++] = seg;
        if (!slash)
            break;
        seg = slash + 1;
    }
    for (size_t i = 0; i < rt.nsegs; i++)
        if (rt.segs[i][0] != '{')
            rt.literal_mask |= (uint64_t)1 << (rt.nsegs - 1 - i);
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct route *o = &s->routes[i];
        bool same = strcmp(o->method, rt.method) == 0 && o->nsegs == rt.nsegs;
        for (size_t j = 0; same && j < rt.nsegs; j++) {
            bool a = o->segs[j][0] == '{', b = rt.segs[j][0] == '{';
            same = a == b && (a || strcmp(o->segs[j], rt.segs[j]) == 0);
        }
        if (same)
            goto bad;
    }
    if (s->nroutes == s->aroutes) {
        size_t grown = s->aroutes ? s->aroutes * 2 : 8;
        struct route *p = realloc(s->routes, grown * sizeof *p);
        if (!p) {
            free(rt.pattern);
            return CORIO_ERR_NOSPACE;
        }
        s->routes = p;
        s->aroutes = grown;
    }
    s->routes[s->nroutes++] = rt;
    return CORIO_OK;
bad:
    free(rt.pattern);
    return CORIO_ERR_INVAL;
}

/* ---- requests ---------------------------------------------------------------------- */

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct corio_http_req *r = cls;
    if (r->nquery == MAX_QUERY)
        return MHD_NO; /* the rest are ignored; lookups see the first MAX_QUERY */
    char *k = strdup(key ? key : ""), *v = strdup(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        r->bad = true;
        return MHD_NO;
    }
    if (!pct_decode(k) || !pct_decode(v))
        r->bad = true;
    r->qkeys[r->nquery] = k;
    r->qvalues[r->nquery] = v;
    r->nquery++;
    return MHD_YES;
}

static void req_free(struct corio_http_req *r)
{
    if (!r)
        return;
    free(r->path);
    for (size_t i = 0; i < r->nquery; i++) {
        free(r->qkeys[i]);
        free(r->qvalues[i]);
    }
    for (struct header *h = r->headers, *next; h; h = next) {
        next = h->next;
        free(h->name);
        free(h->value);
        free(h);
    }
    corio_buf_free(&r->body);
    free(r);
}

static struct corio_http_req *req_new(struct corio_http *s, struct MHD_Connection *conn,
                                      const char *url, const char *method)
{
    struct corio_http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    r->srv = s;
    r->conn = conn;
    r->method = method;
    r->url = url;
    corio_buf_init(&r->body, s->o.max_body);
    r->path = strdup(url[0] == '/' ? url + 1 : url);
    if (!r->path) {
        free(r);
        return NULL;
    }
    if (url[0] != '/')
        r->bad = true;
    for (char *p = r->path;;) {
        if (r->nsegs == MAX_SEGMENTS) {
            r->bad = true;
            break;
        }
        r->segs[r->nsegs++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    for (size_t i = 0; i < r->nsegs; i++)
        if (!pct_decode(r->segs[i]))
            r->bad = true;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, r);
    return r;
}

/* Does rt match r's path? Fills r's params when it does and fill is set. */
static bool route_matches(const struct route *rt, struct corio_http_req *r, bool fill)
{
    if (rt->nsegs != r->nsegs)
        return false;
    size_t np = 0;
    for (size_t i = 0; i < rt->nsegs; i++) {
        const char *pat = rt->segs[i];
        if (pat[0] == '{') {
            if (r->segs[i][0] == '\0')
                return false;
            if (fill) {
                r->pnames[np] = pat + 1;
                r->pnamelen[np] = strlen(pat) - 2;
                r->pvalues[np] = r->segs[i];
            }
            np++;
        } else if (strcmp(pat, r->segs[i]) != 0) {
            return false;
        }
    }
    if (fill)
        r->nparams = np;
    return true;
}

/*
 * Finds the route for r. Returns it, or NULL with *path_matched telling 404 from 405
 * and allow listing the methods that would have matched.
 */
static const struct route *find_route(struct corio_http *s, struct corio_http_req *r,
                                      bool *path_matched, char *allow, size_t allowlen)
{
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    const struct route *best = NULL;
    size_t used = 0;
    *path_matched = false;
    allow[0] = '\0';
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct route *rt = &s->routes[i];
        if (!route_matches(rt, r, false))
            continue;
        *path_matched = true;
        if (strcmp(rt->method, method) == 0) {
            if (!best || rt->literal_mask > best->literal_mask)
                best = rt;
        } else if (!strstr(allow, rt->method) && used < allowlen) {
            used += (size_t)snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
                                     rt->method);
        }
    }
    if (best)
        route_matches(best, r, true);
    return best;
}

const char *corio_http_method(const struct corio_http_req *r)
{
    return r->method;
}

const char *corio_http_path(const struct corio_http_req *r)
{
    return r->url;
}

const char *corio_http_param(const struct corio_http_req *r, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < r->nparams; i++)
        if (r->pnamelen[i] == l && memcmp(r->pnames[i], name, l) == 0)
            return r->pvalues[i];
    return NULL;
}

const char *corio_http_query(const struct corio_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->qkeys[i], name) == 0)
            return r->qvalues[i];
    return NULL;
}

const char *corio_http_header(const struct corio_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *corio_http_body(const struct corio_http_req *r, size_t *len)
{
    if (len)
        *len = corio_buf_len(&r->body);
    return corio_buf_str(&r->body);
}

json_t *corio_http_body_json(const struct corio_http_req *r, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j =
        json_loadb(corio_buf_str(&r->body), corio_buf_len(&r->body), JSON_REJECT_DUPLICATES, &je);
    if (!j)
        say(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
    return j;
}

/* ---- answers ----------------------------------------------------------------------- */

int corio_http_add_header(struct corio_http_req *r, const char *name, const char *value)
{
    if (r->replied)
        return CORIO_ERR_STATE;
    if (!name || !value || !is_token(name) || strpbrk(value, "\r\n"))
        return CORIO_ERR_INVAL;
    struct header *h = calloc(1, sizeof *h);
    if (!h)
        return CORIO_ERR_NOSPACE;
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        free(h);
        return CORIO_ERR_NOSPACE;
    }
    h->next = r->headers;
    r->headers = h;
    return CORIO_OK;
}

/* Queues resp (which it always releases) as the answer to r. */
static int queue(struct corio_http_req *r, unsigned status, struct MHD_Response *resp,
                 const char *content_type)
{
    if (!resp)
        return CORIO_ERR_NOSPACE;
    if (r->replied) {
        MHD_destroy_response(resp);
        return CORIO_ERR_STATE;
    }
    bool ok = true;
    if (content_type)
        ok = MHD_add_response_header(resp, "Content-Type", content_type) == MHD_YES;
    ok = ok && MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES;
    for (const struct header *h = r->headers; h && ok; h = h->next)
        ok = MHD_add_response_header(resp, h->name, h->value) == MHD_YES;
    ok = ok && MHD_queue_response(r->conn, status, resp) == MHD_YES;
    MHD_destroy_response(resp);
    if (!ok)
        return CORIO_ERR_STATE;
    r->replied = true;
    r->status = status;
    int cls = (int)status / 100 - 2;
    corio_counter_inc(r->srv->m_requests[cls < 0 ? 0 : cls > 3 ? 3 : cls]);
    return CORIO_OK;
}

int corio_http_reply(struct corio_http_req *r, unsigned status, const char *content_type,
                     const void *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    return queue(r, status, resp, content_type);
}

int corio_http_reply_text(struct corio_http_req *r, unsigned status, const char *text)
{
    return corio_http_reply(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void json_text_free(void *p)
{
    json_free_t f;
    json_get_alloc_funcs(NULL, &f);
    f(p);
}

int corio_http_reply_json(struct corio_http_req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return CORIO_ERR_NOSPACE;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(strlen(text), text, json_text_free);
    if (!resp) {
        json_text_free(text);
        return CORIO_ERR_NOSPACE;
    }
    return queue(r, status, resp, "application/json");
}

int corio_http_reply_error(struct corio_http_req *r, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return corio_http_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

static void buf_free_cb(void *p)
{
    free(p);
}

static int metrics_handler(struct corio_http_req *r, void *arg)
{
    struct corio_buf b = CORIO_BUF_INIT(METRICS_MAX);
    int rc = corio_registry_render(arg, &b);
    if (rc != CORIO_OK)
        return rc;
    size_t len;
    char *text = corio_buf_take(&b, &len);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer_with_free_callback(len, text, buf_free_cb)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        free(text);
    return queue(r, 200, resp, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- Server-Sent Events ------------------------------------------------------------ */

static struct sse_msg *msg_new(size_t len)
{
    struct sse_msg *m = malloc(sizeof *m + len);
    if (m) {
        atomic_init(&m->refs, 1);
        m->len = len;
    }
    return m;
}

static void msg_unref(struct sse_msg *m)
{
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        free(m);
}

/* Drops everything queued. Stream lock held. */
static void stream_drain(struct stream *st)
{
    while (st->count > 0) {
        msg_unref(st->ring[st->head]);
        st->head = (st->head + 1) % SSE_RING;
        st->count--;
    }
    st->off = 0;
    st->bytes = 0;
}

/* Resumes st if it is suspended. Stream lock held. */
static void stream_wake(struct stream *st)
{
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
}

/* Queues m on st, or cuts st when it cannot take it. Server lock held. */
static bool stream_push(struct stream *st, struct sse_msg *m)
{
    struct corio_http *s = st->srv;
    bool queued = false;
    pthread_mutex_lock(&st->lock);
    if (st->cut || st->closed) {
        /* already on its way out */
    } else if (st->count == SSE_RING || m->len > s->o.sse_queue_bytes - st->bytes) {
        size_t was = st->bytes;
        st->cut = true;
        stream_drain(st);
        corio_counter_inc(s->m_slow);
        corio_logkv(CORIO_LOG_WARN, "event stream client too slow, disconnecting",
                    "queued_bytes=%zu", was);
        if (st->suspended) {
            stream_wake(st);
        } else {
            /*
             * The connection is blocked writing to a client that does not read, so MHD
             * would only notice at its idle timeout. Shutting the socket down makes its
             * next poll report it: MHD closes the connection and frees this stream. The
             * descriptor is still MHD's open socket: the stream (and so the connection
             * and its socket) cannot be freed while s->lock is held.
             */
            shutdown(st->fd, SHUT_RDWR);
        }
    } else {
        atomic_fetch_add(&m->refs, 1);
        st->ring[(st->head + st->count) % SSE_RING] = m;
        st->count++;
        st->bytes += m->len;
        stream_wake(st);
        queued = true;
    }
    pthread_mutex_unlock(&st->lock);
    return queued;
}

/* MHD's content reader for a stream. */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *st = cls;
    pthread_mutex_lock(&st->lock);
    if (st->cut) {
        pthread_mutex_unlock(&st->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = 0;
    while (n < max && st->count > 0) {
        struct sse_msg *m = st->ring[st->head];
        size_t take = m->len - st->off;
        if (take > max - n)
            take = max - n;
        memcpy(buf + n, m->data + st->off, take);
        n += take;
        st->off += take;
        st->bytes -= take;
        if (st->off == m->len) {
            msg_unref(m);
            st->head = (st->head + 1) % SSE_RING;
            st->count--;
            st->off = 0;
        }
    }
    if (n > 0) {
        pthread_mutex_unlock(&st->lock);
        return (ssize_t)n;
    }
    if (st->closed) {
        pthread_mutex_unlock(&st->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* Nothing to send: sleep until stream_push (or stop) resumes the connection. */
    st->suspended = true;
    MHD_suspend_connection(st->conn);
    pthread_mutex_unlock(&st->lock);
    return 0;
}

/* MHD's free callback for a stream's response: the connection is done with it. */
static void sse_free(void *cls)
{
    struct stream *st = cls;
    struct corio_http *s = st->srv;
    pthread_mutex_lock(&s->lock);
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    s->nstreams--;
    corio_gauge_add(s->m_clients, -1);
    pthread_mutex_unlock(&s->lock);
    stream_drain(st);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static struct sse_msg *msg_text(const char *text)
{
    size_t len = strlen(text);
    struct sse_msg *m = msg_new(len);
    if (m)
        memcpy(m->data, text, len);
    return m;
}

int corio_http_sse_open(struct corio_http_req *r)
{
    struct corio_http *s = r->srv;
    if (r->replied)
        return CORIO_ERR_STATE;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct stream *st = calloc(1, sizeof *st);
    struct sse_msg *hello = msg_text(": connected\n\n");
    if (!st || !hello || !ci) {
        free(st);
        if (hello)
            msg_unref(hello);
        return ci ? CORIO_ERR_NOSPACE : CORIO_ERR_STATE;
    }
    st->srv = s;
    st->conn = r->conn;
    st->fd = ci->connect_fd;
    pthread_mutex_init(&st->lock, NULL);

    pthread_mutex_lock(&s->lock);
    int refuse = s->stopping                           ? CORIO_ERR_STATE
                 : s->nstreams >= s->o.sse_max_clients ? CORIO_ERR_FULL
                                                       : CORIO_OK;
    if (refuse == CORIO_OK) {
        st->next = s->streams;
        if (s->streams)
            s->streams->prev = st;
        s->streams = st;
        s->nstreams++;
        corio_gauge_add(s->m_clients, 1);
        stream_push(st, hello);
    }
    pthread_mutex_unlock(&s->lock);
    msg_unref(hello);
    if (refuse != CORIO_OK) {
        pthread_mutex_destroy(&st->lock);
        free(st);
        int rc = corio_http_reply_error(r, 503, "%s",
                                        refuse == CORIO_ERR_FULL ? "too many event streams"
                                                                 : "server is stopping");
        return rc == CORIO_OK ? refuse : rc;
    }
    /* From here the stream is freed by sse_free, also when the answer cannot be queued. */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_reader, st, sse_free);
    if (!resp) {
        sse_free(st);
        return CORIO_ERR_NOSPACE;
    }
    if (MHD_add_response_header(resp, "Cache-Control", "no-cache") != MHD_YES ||
        MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES) {
        MHD_destroy_response(resp);
        return CORIO_ERR_NOSPACE;
    }
    r->is_sse = true;
    return queue(r, 200, resp, "text/event-stream; charset=utf-8");
}

/* Queues m on every stream. Returns how many took it. */
static int fan_out(struct corio_http *s, struct sse_msg *m)
{
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (struct stream *st = s->streams; st; st = st->next)
        n += stream_push(st, m);
    pthread_mutex_unlock(&s->lock);
    return n;
}

int corio_http_sse_broadcast(struct corio_http *s, const char *event, const char *data)
{
    if (event && (strpbrk(event, "\r\n") || !*event))
        return CORIO_ERR_INVAL;
    if (!data)
        data = "";
    /* The frame: "event: E\n" + "data: " per line + line ends + the closing "\n". */
    size_t lines = 1;
    for (const char *p = data; *p; p++)
        if (*p == '\n' || (*p == '\r' && p[1] != '\n'))
            lines++;
    size_t dlen = strlen(data);
    size_t len = (event ? 8 + strlen(event) : 0) + dlen + lines * 7 + 1;
    if (len > s->o.sse_queue_bytes)
        return CORIO_ERR_FULL;
    struct sse_msg *m = msg_new(len);
    if (!m)
        return CORIO_ERR_NOSPACE;
    char *o = m->data;
    if (event)
        o += sprintf(o, "event: %s\n", event);
    const char *p = data;
    for (;;) {
        size_t l = strcspn(p, "\r\n");
        memcpy(o, "data: ", 6);
        memcpy(o + 6, p, l);
        o += 6 + l;
        *o++ = '\n';
        p += l;
        if (!*p)
            break;
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
    }
    *o++ = '\n';
    m->len = (size_t)(o - m->data);
    int n = fan_out(s, m);
    msg_unref(m);
    corio_counter_inc(s->m_events);
    return n;
}

unsigned corio_http_sse_clients(struct corio_http *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned n = s->nstreams;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void *keepalive_main(void *arg)
{
    struct corio_http *s = arg;
    struct sse_msg *ka = msg_text(": keepalive\n\n");
    pthread_mutex_lock(&s->ka_lock);
    while (!s->ka_stop) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_sec += s->o.sse_keepalive_ms / 1000;
        at.tv_nsec += (long)(s->o.sse_keepalive_ms % 1000) * 1000000L;
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!s->ka_stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&s->ka_cond, &s->ka_lock, &at);
        if (s->ka_stop)
            break;
        pthread_mutex_unlock(&s->ka_lock);
        if (ka)
            fan_out(s, ka);
        pthread_mutex_lock(&s->ka_lock);
    }
    pthread_mutex_unlock(&s->ka_lock);
    if (ka)
        msg_unref(ka);
    return NULL;
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------- */

static void dispatch(struct corio_http_req *r)
{
    int rc = r->route->fn(r, r->route->arg);
    if (!r->replied) {
        corio_logkv(CORIO_LOG_ERROR, "handler gave no answer", "method=%s path=%s rc=%d", r->method,
                    r->url, rc);
        corio_http_reply_error(r, 500, "internal error");
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    struct corio_http *s = cls;
    struct corio_http_req *r = *req_cls;
    if (!r) {
        /* Headers are in: answer now whatever needs no body, so it is never read. */
        r = req_new(s, conn, url, method);
        if (!r)
            return MHD_NO;
        *req_cls = r;
        if (r->bad)
            return corio_http_reply_error(r, 400, "malformed path or query") == CORIO_OK ? MHD_YES
                                                                                         : MHD_NO;
        bool path_matched;
        char allow[128];
        r->route = find_route(s, r, &path_matched, allow, sizeof allow);
        if (!r->route && path_matched) {
            corio_http_add_header(r, "Allow", allow);
            return corio_http_reply_error(r, 405, "method not allowed") == CORIO_OK ? MHD_YES
                                                                                    : MHD_NO;
        }
        if (!r->route)
            return corio_http_reply_error(r, 404, "not found") == CORIO_OK ? MHD_YES : MHD_NO;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end == cl || *end || errno || cl[0] == '-' || n > s->o.max_body)
                return corio_http_reply_error(r, 413, "request body larger than %zu bytes",
                                              s->o.max_body) == CORIO_OK
                           ? MHD_YES
                           : MHD_NO;
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /*
         * MHD accepts an answer only before the body is read or after all of it, so a
         * body without a Content-Length that passes the cap is read on and dropped, and
         * answered 413 at its end; one that goes on past DISCARD_MAX more is cut off by
         * closing the connection.
         */
        if (!r->replied && !r->too_large && !r->body_oom) {
            int rc = corio_buf_add(&r->body, upload_data, *upload_size);
            if (rc == CORIO_ERR_FULL)
                r->too_large = true; /* the buffer was freed */
            else if (rc != CORIO_OK)
                r->body_oom = true;
        } else {
            r->discarded += *upload_size;
            if (r->discarded > DISCARD_MAX)
                return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    if (r->too_large)
        corio_http_reply_error(r, 413, "request body larger than %zu bytes", s->o.max_body);
    else if (r->body_oom)
        corio_http_reply_error(r, 500, "out of memory");
    else
        dispatch(r);
    return r->replied ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct corio_http_req *r = *req_cls;
    if (!r)
        return;
    if (r->replied && !r->is_sse) {
        double took = seconds_since(&r->start);
        corio_histogram_observe(r->srv->m_latency, took);
        corio_logkv(CORIO_LOG_DEBUG, "http request", "method=%s path=%s status=%u ms=%.1f",
                    r->method, r->url, r->status, took * 1000);
    }
    req_free(r);
    *req_cls = NULL;
}

/* Keeps the path and query as sent: we split the path before decoding it, so that an
 * encoded '/' (%2F) stays inside one segment, and decode the query ourselves. */
static size_t no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t l = strlen(msg);
    while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = '\0';
    corio_logkv(CORIO_LOG_WARN, "libmicrohttpd", "detail=%s", msg);
}

/* ---- start and stop ---------------------------------------------------------------- */

static int listen_socket(struct corio_http *s, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)s->o.port);
    int gai = getaddrinfo(s->o.address, port, &hints, &ai);
    if (gai != 0) {
        say(err, errlen, "bad listen address '%s': %s", s->o.address, gai_strerror(gai));
        return CORIO_ERR_IO;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        say(err, errlen, "cannot listen on %s port %u: %s", s->o.address, (unsigned)s->o.port,
            strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return CORIO_ERR_IO;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    s->listen_fd = fd;
    return CORIO_OK;
}

int corio_http_start(struct corio_http *s, char *err, size_t errlen)
{
    if (s->started)
        return CORIO_ERR_STATE;
    int rc = listen_socket(s, err, errlen);
    if (rc != CORIO_OK)
        return rc;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_OptionItem pool[] = {
        {s->o.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, s->o.threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_CONNECTION_TIMEOUT, s->o.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        s->o.max_connections, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
    if (!s->mhd) {
        say(err, errlen, "libmicrohttpd failed to start on %s port %u", s->o.address,
            (unsigned)s->port);
        close(s->listen_fd);
        s->listen_fd = -1;
        return CORIO_ERR_IO;
    }
    s->started = true;
    s->ka_stop = false;
    if (pthread_create(&s->ka_thread, NULL, keepalive_main, s) == 0)
        s->ka_running = true;
    else
        corio_log(CORIO_LOG_WARN, "no keepalive thread: event streams get no keepalives");
    return CORIO_OK;
}

uint16_t corio_http_port(const struct corio_http *s)
{
    return s->port;
}

void corio_http_stop(struct corio_http *s)
{
    if (!s || !s->mhd)
        return;
    /* No new connections from here; the listening socket comes back to us to close. */
    int lfd = MHD_quiesce_daemon(s->mhd);
    if (s->ka_running) {
        pthread_mutex_lock(&s->ka_lock);
        s->ka_stop = true;
        pthread_cond_signal(&s->ka_cond);
        pthread_mutex_unlock(&s->ka_lock);
        pthread_join(s->ka_thread, NULL);
        s->ka_running = false;
    }
    /* End every stream and resume every suspended one: MHD_stop_daemon must find no
     * connection suspended. A closed stream is never suspended again. */
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    for (struct stream *st = s->streams; st; st = st->next) {
        pthread_mutex_lock(&st->lock);
        st->closed = true;
        stream_wake(st);
        pthread_mutex_unlock(&st->lock);
    }
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    if (s->nstreams != 0) /* every stream's response was freed with its connection */
        corio_logkv(CORIO_LOG_ERROR, "event streams left after stop", "streams=%u", s->nstreams);
    if (lfd >= 0)
        close(lfd);
    s->listen_fd = -1;
    s->stopped = true;
}

void corio_http_free(struct corio_http *s)
{
    if (!s)
        return;
    corio_http_stop(s);
    for (size_t i = 0; i < s->nroutes; i++)
        free(s->routes[i].pattern);
    free(s->routes);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->ka_lock);
    pthread_cond_destroy(&s->ka_cond);
    free(s);
}
