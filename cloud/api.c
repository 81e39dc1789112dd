/*
 * api.c - the handlers of corio-cloud's HTTP API and the dashboard's static files
 * (api.h, docs/api.md).
 *
 * Query parameters are parsed strictly (a time is a decimal integer of milliseconds, a
 * step one of seconds) and a bad one is a 400 naming it. Store errors are 500s with a
 * short reason; the store logs the database's own message.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "cloud_int.h"
#include "corio/error.h"
#include "corio_log.h"

#define HOUR_MS        3600000LL
#define MAX_FILE_BYTES (64 << 20)
#define MAX_STEP_S     (366LL * 24 * 3600)

struct corio_api {
    struct corio_api_opts o;
    char org[CORIO_ID_LEN + 1];
    char *web_root;
    pthread_mutex_t lock; /* one reader connection, many handler threads */
};

static int64_t system_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int corio_api_new(const struct corio_api_opts *o, struct corio_api **out)
{
    if (!o || !o->store || !o->org || !corio_store_valid_id(o->org, strlen(o->org)) || !out)
        return CORIO_ERR_INVAL;
    struct corio_api *a = calloc(1, sizeof *a);
    if (!a)
        return CORIO_ERR_NOSPACE;
    a->o = *o;
    if (!a->o.now_ms)
        a->o.now_ms = system_ms;
    snprintf(a->org, sizeof a->org, "%s", o->org);
    if (o->web_root && !(a->web_root = strdup(o->web_root))) {
        free(a);
        return CORIO_ERR_NOSPACE;
    }
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return CORIO_OK;
}

void corio_api_free(struct corio_api *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a->web_root);
    free(a);
}

/* ---- JSON of the store's records --------------------------------------------------- */

static json_t *device_json(const struct corio_device_info *d)
{
    char did[sizeof "did:corio:" + CORIO_ID_LEN];
    snprintf(did, sizeof did, "did:corio:%s", d->id);
    json_t *metrics = json_array();
    for (size_t i = 0; metrics && i < d->nmetrics; i++)
        json_array_append_new(metrics, json_string(d->metrics[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:I, s:I, s:{s:s, s:s, "
                     "s:s, s:s, s:s}}",
                     "id", d->id, "did", did, "org", d->org, "gateway", d->gateway, "online",
                     d->online, "last_seen",
                     d->has_seen ? json_integer(d->last_seen_ms) : json_null(), "last_seq",
                     d->has_epoch ? json_integer(d->last_seq) : json_null(), "epoch",
                     d->has_epoch ? json_integer(d->epoch) : json_null(), "metrics",
                     metrics ? metrics : json_array(), "messages", (json_int_t)d->messages,
                     "missing", (json_int_t)d->missing, "registry", "class", d->cls, "model",
                     d->model, "hw_rev", d->hw_rev, "groups", d->groups, "assurance", d->assurance);
}

/* ---- request helpers --------------------------------------------------------------- */

static int store_failed(struct corio_http_req *r, int rc)
{
    if (rc == CORIO_ERR_NOSPACE)
        return corio_http_reply_error(r, 500, "out of memory");
    return corio_http_reply_error(r, 500, "storage failed");
}

/* Parses a decimal integer in [min, max]; false for anything else. */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The device id of the path, or NULL after answering 404. */
static const char *device_param(struct corio_http_req *r)
{
    const char *id = corio_http_param(r, "id");
    if (!id || !corio_store_valid_id(id, strlen(id))) {
        corio_http_reply_error(r, 404, "unknown device");
        return NULL;
    }
    return id;
}

/* ---- handlers ---------------------------------------------------------------------- */

static int append_device(const struct corio_device_info *d, void *arg)
{
    json_t *j = device_json(d);
    if (!j || json_array_append_new(arg, j) != 0)
        return CORIO_ERR_NOSPACE;
    return 0;
}

static int h_devices(struct corio_http_req *r, void *arg)
{
    struct corio_api *a = arg;
    json_t *list = json_array();
    if (!list)
        return store_failed(r, CORIO_ERR_NOSPACE);
    pthread_mutex_lock(&a->lock);
    int rc = corio_store_devices(a->o.store, a->org, append_device, list);
    pthread_mutex_unlock(&a->lock);
    if (rc != CORIO_OK) {
        json_decref(list);
        return store_failed(r, rc);
    }
    return corio_http_reply_json(r, 200, json_pack("{s:o}", "devices", list));
}

static int keep_device(const struct corio_device_info *d, void *arg)
{
    json_t **out = arg;
    *out = device_json(d);
    return *out ? 0 : CORIO_ERR_NOSPACE;
}

static int h_device(struct corio_http_req *r, void *arg)
{
    struct corio_api *a = arg;
    const char *id = device_param(r);
    if (!id)
        return CORIO_OK;
    json_t *dev = NULL;
    pthread_mutex_lock(&a->lock);
    int rc = corio_store_device(a->o.store, a->org, id, keep_device, &dev);
    pthread_mutex_unlock(&a->lock);
    if (rc == CORIO_ERR_NOTFOUND)
        return corio_http_reply_error(r, 404, "unknown device");
    if (rc != CORIO_OK) {
        json_decref(dev);
        return store_failed(r, rc);
    }
    return corio_http_reply_json(r, 200, dev);
}

struct series_out {
    json_t *points;
    bool raw;
};

static int append_point(const struct corio_point *p, void *arg)
{
    struct series_out *s = arg;
    json_t *pt;
    if (s->raw) {
        json_t *v = corio__cloud_value_json(&p->value);
        pt = v ? json_pack("[I, o]", (json_int_t)p->t_ms, v) : NULL;
    } else {
        pt = json_pack("[I, f, f, f, I]", (json_int_t)p->t_ms, p->min, p->max,
                       p->count ? p->sum / (double)p->count : 0.0, (json_int_t)p->count);
    }
    if (!pt || json_array_append_new(s->points, pt) != 0)
        return CORIO_ERR_NOSPACE;
    return 0;
}

static int h_series(struct corio_http_req *r, void *arg)
{
    struct corio_api *a = arg;
    const char *id = device_param(r);
    if (!id)
        return CORIO_OK;
    const char *metric = corio_http_query(r, "metric");
    if (!metric || !*metric)
        return corio_http_reply_error(r, 400, "metric is required");
    if (strlen(metric) > CORIO_METRIC_MAX || !corio__cloud_senml_name_ok(metric, strlen(metric)))
        return corio_http_reply_error(r, 404, "unknown metric");
    int64_t to = a->o.now_ms(), from, step_s = 0;
    const char *q;
    if ((q = corio_http_query(r, "to")) && !parse_int(q, 0, INT64_MAX / 2, &to))
        return corio_http_reply_error(r, 400, "to must be milliseconds since 1970");
    from = to - HOUR_MS;
    if ((q = corio_http_query(r, "from")) && !parse_int(q, 0, INT64_MAX / 2, &from))
        return corio_http_reply_error(r, 400, "from must be milliseconds since 1970");
    if ((q = corio_http_query(r, "step")) && !parse_int(q, 0, MAX_STEP_S, &step_s))
        return corio_http_reply_error(r, 400, "step must be whole seconds, 0 to %lld",
                                      (long long)MAX_STEP_S);
    if (from < 0)
        from = 0;
    if (from > to)
        return corio_http_reply_error(r, 400, "from is after to");

    struct corio_metric_info mi;
    struct series_out out = {.points = json_array(), .raw = step_s == 0};
    if (!out.points)
        return store_failed(r, CORIO_ERR_NOSPACE);
    char org[CORIO_ID_LEN + 1];
    pthread_mutex_lock(&a->lock);
    int rc = corio_store_device_org(a->o.store, id, org);
    if (rc == CORIO_OK && strcmp(org, a->org) != 0)
        rc = CORIO_ERR_NOTFOUND;
    bool no_device = rc == CORIO_ERR_NOTFOUND;
    if (rc == CORIO_OK)
        rc = corio_store_metric(a->o.store, a->org, id, metric, &mi);
    if (rc == CORIO_OK)
        rc = corio_store_series(a->o.store, a->org, id, metric, from, to, step_s * 1000,
                                CORIO_API_MAX_POINTS, append_point, &out);
    pthread_mutex_unlock(&a->lock);
    if (rc != CORIO_OK) {
        json_decref(out.points);
        if (rc == CORIO_ERR_NOTFOUND)
            return corio_http_reply_error(r, 404, no_device ? "unknown device" : "unknown metric");
        return store_failed(r, rc);
    }
    return corio_http_reply_json(r, 200,
                                 json_pack("{s:s, s:s, s:s, s:I, s:o}", "device", id, "metric",
                                           metric, "unit", mi.unit, "step", (json_int_t)step_s,
                                           "points", out.points));
}

static int append_gap(const struct corio_gap *g, void *arg)
{
    json_t *j = json_pack("{s:I, s:I, s:I, s:s, s:I}", "epoch", (json_int_t)g->epoch, "from_seq",
                          (json_int_t)g->from_seq, "to_seq", (json_int_t)g->to_seq, "kind",
                          g->kind == CORIO_GAP_TAIL ? "tail" : "seq", "detected",
                          (json_int_t)g->detected_ms);
    if (!j || json_array_append_new(arg, j) != 0)
        return CORIO_ERR_NOSPACE;
    return 0;
}

static int h_gaps(struct corio_http_req *r, void *arg)
{
    struct corio_api *a = arg;
    const char *id = device_param(r);
    if (!id)
        return CORIO_OK;
    json_t *gaps = json_array();
    if (!gaps)
        return store_failed(r, CORIO_ERR_NOSPACE);
    int64_t missing = 0;
    pthread_mutex_lock(&a->lock);
    int rc = corio_store_gaps(a->o.store, a->org, id, append_gap, gaps, &missing);
    pthread_mutex_unlock(&a->lock);
    if (rc != CORIO_OK) {
        json_decref(gaps);
        if (rc == CORIO_ERR_NOTFOUND)
            return corio_http_reply_error(r, 404, "unknown device");
        return store_failed(r, rc);
    }
    return corio_http_reply_json(
        r, 200,
        json_pack("{s:s, s:I, s:o}", "device", id, "missing", (json_int_t)missing, "gaps", gaps));
}

static int h_stats(struct corio_http_req *r, void *arg)
{
    struct corio_api *a = arg;
    struct corio_store_stats st;
    pthread_mutex_lock(&a->lock);
    int rc = corio_store_stats(a->o.store, a->org, &st);
    pthread_mutex_unlock(&a->lock);
    if (rc != CORIO_OK)
        return store_failed(r, rc);
    return corio_http_reply_json(
        r, 200,
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "devices", (json_int_t)st.devices,
                  "online", (json_int_t)st.online, "messages", (json_int_t)st.counts.messages,
                  "samples", (json_int_t)st.counts.samples, "missing", (json_int_t)st.missing,
                  "duplicates", (json_int_t)st.counts.duplicates, "rejected",
                  (json_int_t)st.counts.rejected, "batches", (json_int_t)st.counts.batches));
}

static int h_stream(struct corio_http_req *r, void *arg)
{
    (void)arg;
    return corio_http_sse_open(r);
}

static int h_healthz(struct corio_http_req *r, void *arg)
{
    struct corio_api *a = arg;
    pthread_mutex_lock(&a->lock);
    int rc = corio_store_ping(a->o.store);
    pthread_mutex_unlock(&a->lock);
    if (rc != CORIO_OK)
        return corio_http_reply_text(r, 503, "storage does not answer\n");
    return corio_http_reply_text(r, 200, "ok\n");
}

/* ---- the dashboard's files --------------------------------------------------------- */

const char *corio_api_content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".map", "application/json"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* A file name of the dashboard: one path segment, no leading dot (so no "." or ".."),
 * no separators or control characters. */
static bool file_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == '\\' || (unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

/* Serves dir/name: the file must be a regular file, not reached through a symlink. */
static int serve_file(struct corio_api *a, struct corio_http_req *r, const char *dir,
                      const char *name, const char *cache)
{
    if (!a->web_root)
        return corio_http_reply_error(r, 404, "this corio-cloud serves no dashboard");
    if (!file_name_ok(name))
        return corio_http_reply_error(r, 404, "no such file");
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s%s%s", a->web_root, dir, *dir ? "/" : "", name);
    if (n < 0 || (size_t)n >= sizeof path)
        return corio_http_reply_error(r, 404, "no such file");
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return corio_http_reply_error(r, 404, "no such file");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_BYTES) {
        close(fd);
        return corio_http_reply_error(r, 404, "no such file");
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size ? size : 1);
    size_t got = 0;
    while (buf && got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (!buf || got != size) {
        free(buf);
        corio_logkv(CORIO_LOG_WARN, "dashboard file unreadable", "path=%s", path);
        return corio_http_reply_error(r, 500, "cannot read the file");
    }
    corio_http_add_header(r, "Cache-Control", cache);
    int rc = corio_http_reply(r, 200, corio_api_content_type(name), buf, size);
    free(buf);
    return rc;
}

static int h_index(struct corio_http_req *r, void *arg)
{
    return serve_file(arg, r, "", "index.html", "no-cache");
}

static int h_asset(struct corio_http_req *r, void *arg)
{
    /* Vite names assets by their content hash: they never change under one name. */
    const char *name = corio_http_param(r, "file");
    return serve_file(arg, r, "assets", name ? name : "", "public, max-age=31536000, immutable");
}

int corio_api_routes(struct corio_api *a, struct corio_http *http)
{
    static const struct {
        const char *pattern;
        corio_http_handler fn;
    } routes[] = {
        {"/api/v1/devices", h_devices},
        {"/api/v1/devices/{id}", h_device},
        {"/api/v1/devices/{id}/series", h_series},
        {"/api/v1/devices/{id}/gaps", h_gaps},
        {"/api/v1/stats", h_stats},
        {"/api/v1/stream", h_stream},
        {"/healthz", h_healthz},
        {"/", h_index},
        {"/assets/{file}", h_asset},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = corio_http_route(http, "GET", routes[i].pattern, routes[i].fn, a);
        if (rc != CORIO_OK)
            return rc;
    }
    return CORIO_OK;
}
