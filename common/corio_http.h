/*
 * corio_http.h - the HTTP and Server-Sent Events server of Corio daemons (libmicrohttpd).
 *
 * A daemon creates a server, adds routes (method + path pattern with {param} captures),
 * and starts it. Handlers run on the server's threads; each gets the request (method,
 * path parameters, query parameters, headers, body) and answers with one of the reply
 * functions. What the server does by itself:
 *   - 404 when no pattern matches the path, 405 (with Allow) when one matches but not for
 *     this method, 400 for a path or query that does not decode; HEAD is served by GET;
 *   - request bodies are capped (opts.max_body): a Content-Length above the cap is
 *     answered 413 before the body is read; a chunked body that passes the cap stops
 *     being kept and is answered 413 at its end (libmicrohttpd takes no answer in the
 *     middle of a body), or the connection is closed if it goes on for 4 MiB more;
 *     neither is ever buffered whole;
 *   - errors are JSON: {"error": "<what was wrong>"} (docs/api.md);
 *   - GET /metrics serves opts.metrics in Prometheus text format, and the server counts
 *     its own requests, latencies and streams there (docs/operations.md).
 *
 * Server-Sent Events: a handler calls corio_http_sse_open to turn its request into an
 * event stream. corio_http_sse_broadcast (any thread) sends an event to every open
 * stream. Each stream has a bounded queue; a client too slow to drain it is disconnected
 * and counted (corio_http_sse_slow_disconnects_total), never silently skipped. Streams get
 * a ": keepalive" comment every opts.sse_keepalive_ms. Stopping the server with streams
 * open ends them cleanly.
 */
#ifndef CORIO_HTTP_H
#define CORIO_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct corio_http;
struct corio_http_req;
struct corio_registry;

struct corio_http_opts {
    const char *address;       /* numeric IPv4 or IPv6 address; NULL: "127.0.0.1" */
    uint16_t port;             /* 0: any free port (see corio_http_port) */
    size_t max_body;           /* largest request body; 0: 1 MiB */
    unsigned threads;          /* handler threads; 0: 2 */
    unsigned timeout_s;        /* idle connection timeout; 0: 30 */
    unsigned max_connections;  /* 0: 1024 */
    unsigned sse_max_clients;  /* open streams at most (more get 503); 0: 256 */
    unsigned sse_keepalive_ms; /* 0: 15000 */
    size_t sse_queue_bytes;    /* per stream: unsent bytes before the client is cut; 0: 256 KiB */
    struct corio_registry *metrics; /* NULL: no /metrics and no server metrics */
};

/*
 * A route handler. It must answer with exactly one corio_http_reply* or
 * corio_http_sse_open call before it returns; if it does not, the client gets a 500
 * (and so it does when it returns a negative code without answering). req and every
 * string it gives out are valid only until the handler returns.
 */
typedef int (*corio_http_handler)(struct corio_http_req *req, void *arg);

/*
 * Makes a server (not yet listening). opts is copied; NULL means all defaults.
 * With opts->metrics, registers the server's metrics there and the GET /metrics route.
 * Returns CORIO_OK and sets *out; CORIO_ERR_INVAL (the server's metric names are
 * already in the registry); CORIO_ERR_NOSPACE.
 */
int corio_http_new(struct corio_http **out, const struct corio_http_opts *opts);

/*
 * Adds a route, before corio_http_start. method is an upper-case token ("GET"); pattern
 * starts with '/' and is split on '/'; a segment "{name}" captures one path segment
 * (percent-decoded, non-empty), any other segment must match exactly. When several
 * patterns match, the one with a literal segment earliest wins ("/devices/stats" over
 * "/devices/{id}"). fn(req, arg) handles it.
 * Returns CORIO_OK; CORIO_ERR_INVAL (bad method or pattern, the same method and pattern
 * twice); CORIO_ERR_STATE after start; CORIO_ERR_NOSPACE.
 */
int corio_http_route(struct corio_http *s, const char *method, const char *pattern,
                     corio_http_handler fn, void *arg);

/*
 * Binds and starts serving. Returns CORIO_OK; CORIO_ERR_IO with the reason in err
 * (address in use, bad address, libmicrohttpd failed to start); CORIO_ERR_STATE when
 * already started.
 */
int corio_http_start(struct corio_http *s, char *err, size_t errlen);

/* The port the server listens on (after start), in host order. */
uint16_t corio_http_port(const struct corio_http *s);

/*
 * Stops serving: stops accepting, ends every event stream (a client sees its stream
 * end), waits for running handlers, closes every connection. Idempotent; returns when
 * the server's threads are gone. Not to be called from a handler.
 */
void corio_http_stop(struct corio_http *s);

/* Stops the server if needed and frees it. NULL is fine. */
void corio_http_free(struct corio_http *s);

/* ---- the request (valid during the handler only) ----------------------------------- */

const char *corio_http_method(const struct corio_http_req *r);
/* The path as sent (still percent-encoded), without the query string. */
const char *corio_http_path(const struct corio_http_req *r);
/* The decoded value of the pattern's {name}, or NULL. */
const char *corio_http_param(const struct corio_http_req *r, const char *name);
/* The decoded value of the first query parameter name ("" for "?name"), or NULL. */
const char *corio_http_query(const struct corio_http_req *r, const char *name);
/* A request header (name case-insensitive), or NULL. */
const char *corio_http_header(const struct corio_http_req *r, const char *name);
/* The body (NUL-terminated, so text can be used as a C string; "" when there is none);
 * *len gets its length when len is not NULL. */
const char *corio_http_body(const struct corio_http_req *r, size_t *len);
/* The body parsed as JSON (the caller owns the reference), or NULL with the reason in
 * err ("line L column C: ..."). Duplicate object keys are refused. */
json_t *corio_http_body_json(const struct corio_http_req *r, char *err, size_t errlen);

/* ---- answering --------------------------------------------------------------------- */

/*
 * Adds a header to the answer to come (copied). name must be a token and value must hold
 * no CR or LF (no header injection). Returns CORIO_OK, CORIO_ERR_INVAL, CORIO_ERR_STATE
 * (already answered) or CORIO_ERR_NOSPACE.
 */
int corio_http_add_header(struct corio_http_req *r, const char *name, const char *value);

/*
 * The reply functions answer with status and a body (copied, or taken where said).
 * Each returns CORIO_OK; CORIO_ERR_STATE when the request was already answered (or the
 * connection is gone); CORIO_ERR_NOSPACE.
 */
int corio_http_reply(struct corio_http_req *r, unsigned status, const char *content_type,
                     const void *body, size_t len);
/* text/plain; charset=utf-8 */
int corio_http_reply_text(struct corio_http_req *r, unsigned status, const char *text);
/* application/json; takes the reference to body (also on failure). */
int corio_http_reply_json(struct corio_http_req *r, unsigned status, json_t *body);
/* {"error": "<printf of fmt>"} as application/json. */
int corio_http_reply_error(struct corio_http_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Answers with a Server-Sent Events stream (200, text/event-stream) that receives every
 * later corio_http_sse_broadcast. The stream starts with a ": connected" comment so a
 * client knows it is open. Answers 503 instead when opts.sse_max_clients streams are
 * open or the server is stopping (and returns CORIO_ERR_FULL / CORIO_ERR_STATE).
 * Returns CORIO_OK or as the reply functions.
 */
int corio_http_sse_open(struct corio_http_req *r);

/*
 * Sends an event to every open stream: "event: <event>\n" (omitted when event is NULL),
 * one "data: " line per line of data (CR, LF and CRLF all end a line), and a blank line.
 * Thread-safe; never blocks on a client. A client whose queue would pass
 * opts.sse_queue_bytes is disconnected and counted instead.
 * Returns the number of streams the event was queued for; CORIO_ERR_INVAL when event
 * holds CR or LF; CORIO_ERR_FULL when the event alone is larger than a queue;
 * CORIO_ERR_NOSPACE.
 */
int corio_http_sse_broadcast(struct corio_http *s, const char *event, const char *data);

/* Open event streams now. */
unsigned corio_http_sse_clients(struct corio_http *s);

#endif /* CORIO_HTTP_H */
