/*
 * anomaly.c - the anomaly engine of anomaly.h (series, windows, LRU eviction,
 * episodes), the series table rules.c shares, and the two built-in models of
 * edge_model.h: "ewma" and "mad".
 *
 * ewma: an exponentially weighted mean and variance per series. The weight of a new
 * sample is max(alpha, 1/(n+1)) for the n-th, so the first samples give the exact mean
 * and variance (Welford) instead of a mean stuck near the first value, and the
 * detector then forgets at rate alpha. The score is the z-score of the sample against
 * the mean and deviation before it. A sample updates the statistics clamped to
 * mean ± threshold·sigma, so one spike does not inflate the variance and blind the
 * detector for what follows, while a lasting level shift is still learnt (the mean
 * moves alpha·threshold·sigma per sample toward it) and its episode ends.
 *
 * mad: the modified z-score of Iglewicz and Hoaglin, 0.6745·(x − median)/MAD over the
 * series' last `window` samples, with the mean absolute deviation (·1.253314) standing
 * in when more than half the window is one value (MAD = 0), as they suggest. Robust to
 * the outliers in its own window.
 *
 * Both keep an "in anomaly" bit per series for hysteresis: a sample is anomalous when
 * |score| > threshold, and once anomalous the series stays so while |score| >= clear.
 */
#include "anomaly.h"

#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"

/* ---- SipHash-2-4 -------------------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void sip_rounds(uint64_t v[4], int n)
{
    while (n-- > 0) {
        v[0] += v[1];
        v[1] = ROTL(v[1], 13);
        v[1] ^= v[0];
        v[0] = ROTL(v[0], 32);
        v[2] += v[3];
        v[3] = ROTL(v[3], 16);
        v[3] ^= v[2];
        v[0] += v[3];
        v[3] = ROTL(v[3], 21);
        v[3] ^= v[0];
        v[2] += v[1];
        v[1] = ROTL(v[1], 17);
        v[1] ^= v[2];
        v[2] = ROTL(v[2], 32);
    }
}

uint64_t corio__edge_siphash(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
                     0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
    size_t full = len - len % 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = le64(p + i);
        v[3] ^= m;
        sip_rounds(v, 2);
        v[0] ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)p[full + i] << (8 * i);
    v[3] ^= b;
    sip_rounds(v, 2);
    v[0] ^= b;
    v[2] ^= 0xff;
    sip_rounds(v, 4);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- the series table --------------------------------------------------------------- */

static uint64_t key_hash(const uint8_t key[16], const char *device, const char *metric,
                         uint32_t tag)
{
    uint8_t buf[CORIO_EDGE_DEVICE_LEN + 1 + CORIO_EDGE_METRIC_MAX + 1 + 4];
    size_t dl = strnlen(device, CORIO_EDGE_DEVICE_LEN), ml = strnlen(metric, CORIO_EDGE_METRIC_MAX);
    size_t n = 0;
    memcpy(buf, device, dl);
    n += dl;
    buf[n++] = 0;
    memcpy(buf + n, metric, ml);
    n += ml;
    buf[n++] = 0;
    for (int i = 0; i < 4; i++)
        buf[n++] = (uint8_t)(tag >> (8 * i));
    return corio__edge_siphash(key, buf, n);
}

int corio__edge_table_init(struct corio__edge_table *t, size_t cap, const uint8_t key[16])
{
    memset(t, 0, sizeof *t);
    size_t nb = 16;
    while (nb < cap && nb < ((size_t)1 << 30))
        nb <<= 1;
    t->buckets = calloc(nb, sizeof *t->buckets);
    if (!t->buckets)
        return CORIO_ERR_NOSPACE;
    t->nbuckets = nb;
    memcpy(t->key, key, 16);
    return CORIO_OK;
}

void corio__edge_table_fini(struct corio__edge_table *t)
{
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

static void lru_unlink(struct corio__edge_table *t, struct corio__edge_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        t->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        t->tail = n->prev;
    n->prev = n->next = NULL;
}

static void lru_push_front(struct corio__edge_table *t, struct corio__edge_node *n)
{
    n->prev = NULL;
    n->next = t->head;
    if (t->head)
        t->head->prev = n;
    t->head = n;
    if (!t->tail)
        t->tail = n;
}

struct corio__edge_node *corio__edge_table_find(struct corio__edge_table *t, const char *device,
                                                const char *metric, uint32_t tag, bool touch)
{
    uint64_t h = key_hash(t->key, device, metric, tag);
    for (struct corio__edge_node *n = t->buckets[h & (t->nbuckets - 1)]; n; n = n->hnext) {
        if (n->hash == h && n->tag == tag && strcmp(n->device, device) == 0 &&
            strcmp(n->metric, metric) == 0) {
            if (touch && t->head != n) {
                lru_unlink(t, n);
                lru_push_front(t, n);
            }
            return n;
        }
    }
    return NULL;
}

void corio__edge_table_insert(struct corio__edge_table *t, struct corio__edge_node *node,
                              const char *device, const char *metric, uint32_t tag)
{
    snprintf(node->device, sizeof node->device, "%s", device);
    snprintf(node->metric, sizeof node->metric, "%s", metric);
    node->tag = tag;
    node->hash = key_hash(t->key, node->device, node->metric, tag);
    struct corio__edge_node **b = &t->buckets[node->hash & (t->nbuckets - 1)];
    node->hnext = *b;
    *b = node;
    lru_push_front(t, node);
    t->n++;
}

void corio__edge_table_remove(struct corio__edge_table *t, struct corio__edge_node *node)
{
    struct corio__edge_node **p = &t->buckets[node->hash & (t->nbuckets - 1)];
    while (*p && *p != node)
        p = &(*p)->hnext;
    if (*p)
        *p = node->hnext;
    node->hnext = NULL;
    lru_unlink(t, node);
    t->n--;
}

/* ---- the engine --------------------------------------------------------------------- */

struct series {
    struct corio__edge_node node; /* first: the table hands out nodes */
    int64_t last_t;               /* newest sample judged */
    double last_value;
    double last_score; /* the last anomalous score, for an eviction report */
    bool has_t;
    bool in_episode;
    int64_t since;
    double peak;
    uint64_t ep_samples;
    size_t wn; /* samples in the window */
    /* then: double v[window]; int64_t t[window]; state (aligned) */
};

struct corio_anomaly {
    struct corio_anomaly_options o;
    struct corio__edge_table table;
    size_t off_v, off_t, off_state, size; /* layout of a series' allocation */
    struct corio_anomaly_stats st;
};

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

int corio_anomaly_new(const struct corio_anomaly_options *o, corio_anomaly **out)
{
    if (!o || !out || !o->model || !o->model->infer || o->max_series == 0 ||
        o->shape.window > CORIO_EDGE_WINDOW_MAX || o->shape.state_size > CORIO_EDGE_STATE_MAX)
        return CORIO_ERR_INVAL;
    corio_anomaly *a = calloc(1, sizeof *a);
    if (!a)
        return CORIO_ERR_NOSPACE;
    a->o = *o;
    if (corio__edge_table_init(&a->table, o->max_series, o->hash_key) != CORIO_OK) {
        free(a);
        return CORIO_ERR_NOSPACE;
    }
    size_t al = alignof(max_align_t);
    a->off_v = align_up(sizeof(struct series), sizeof(double));
    a->off_t = a->off_v + o->shape.window * sizeof(double);
    a->off_state = align_up(a->off_t + o->shape.window * sizeof(int64_t), al);
    a->size = align_up(a->off_state + o->shape.state_size, al);
    *out = a;
    return CORIO_OK;
}

void corio_anomaly_free(corio_anomaly *a)
{
    if (!a)
        return;
    struct corio__edge_node *n = a->table.head;
    while (n) {
        struct corio__edge_node *next = n->next;
        free(n);
        n = next;
    }
    corio__edge_table_fini(&a->table);
    free(a);
}

size_t corio_anomaly_series_bytes(const corio_anomaly *a)
{
    return a->size + a->table.nbuckets * sizeof(void *) / a->o.max_series;
}

static double *win_v(const corio_anomaly *a, struct series *s)
{
    return (double *)(void *)((char *)s + a->off_v);
}

static int64_t *win_t(const corio_anomaly *a, struct series *s)
{
    return (int64_t *)(void *)((char *)s + a->off_t);
}

static void *state_of(const corio_anomaly *a, struct series *s)
{
    return (char *)s + a->off_state;
}

static void report(corio_anomaly *a, struct series *s, bool started, bool evicted, int64_t t,
                   double x, double score, const char *label)
{
    if (started) {
        a->st.episodes_started++;
        a->st.episodes_open++;
    } else {
        a->st.episodes_ended++;
        a->st.episodes_open--;
    }
    if (!a->o.episode)
        return;
    struct corio_anomaly_episode ep = {.device = s->node.device,
                                       .metric = s->node.metric,
                                       .started = started,
                                       .evicted = evicted,
                                       .t_ms = t,
                                       .value = x,
                                       .score = score,
                                       .label = label,
                                       .since_ms = s->since,
                                       .peak = s->peak,
                                       .samples = s->ep_samples};
    a->o.episode(a->o.ctx, &ep);
}

/* A series for the key: found, new, or the least recently fed one reused. */
static struct series *series_for(corio_anomaly *a, const char *device, const char *metric)
{
    struct corio__edge_node *n = corio__edge_table_find(&a->table, device, metric, 0, true);
    if (n)
        return (struct series *)(void *)n;
    struct series *s;
    if (a->table.n >= a->o.max_series) {
        s = (struct series *)(void *)a->table.tail;
        corio__edge_table_remove(&a->table, &s->node);
        a->st.evicted++;
        if (s->in_episode)
            report(a, s, false, true, s->last_t, s->last_value, s->last_score, "");
        memset(s, 0, a->size);
    } else {
        s = calloc(1, a->size);
        if (!s)
            return NULL;
    }
    corio__edge_table_insert(&a->table, &s->node, device, metric, 0);
    return s;
}

int corio_anomaly_feed(corio_anomaly *a, const char *device, const char *metric, int64_t t_ms,
                       double x, struct corio_edge_result *out)
{
    struct corio_edge_result r = {.verdict = CORIO_EDGE_WARMING};
    if (out)
        *out = r;
    if (!a || !device || !metric || !isfinite(x) ||
        strnlen(device, CORIO_EDGE_DEVICE_LEN + 1) > CORIO_EDGE_DEVICE_LEN ||
        strnlen(metric, CORIO_EDGE_METRIC_MAX + 1) > CORIO_EDGE_METRIC_MAX)
        return CORIO_ERR_INVAL;
    struct series *s = series_for(a, device, metric);
    if (!s)
        return CORIO_ERR_NOSPACE;
    a->st.series = a->table.n;
    if (s->has_t && t_ms < s->last_t) {
        a->st.stale++;
        return CORIO_ERR_AGAIN;
    }
    double *wv = win_v(a, s);
    int64_t *wt = win_t(a, s);
    struct corio_edge_window w = {.v = wv, .t = wt, .n = s->wn};
    int rc = a->o.model->infer(a->o.model_inst, state_of(a, s), &w, t_ms, x, &r);
    if (rc != CORIO_OK || !isfinite(r.score)) {
        a->st.errors++;
        return rc != CORIO_OK ? rc : CORIO_ERR_INVAL;
    }
    r.label[CORIO_EDGE_LABEL_MAX - 1] = '\0';
    a->st.samples++;
    switch (r.verdict) {
    case CORIO_EDGE_ANOMALY:
        a->st.anomalous++;
        s->last_score = r.score;
        if (!s->in_episode) {
            s->in_episode = true;
            s->since = t_ms;
            s->peak = r.score;
            s->ep_samples = 1;
            report(a, s, true, false, t_ms, x, r.score, r.label);
        } else {
            s->ep_samples++;
            if (fabs(r.score) > fabs(s->peak))
                s->peak = r.score;
        }
        break;
    case CORIO_EDGE_NORMAL:
        a->st.normal++;
        if (s->in_episode) {
            s->in_episode = false;
            report(a, s, false, false, t_ms, x, r.score, r.label);
        }
        break;
    default:
        a->st.warming++;
        break;
    }
    size_t cap = a->o.shape.window;
    if (cap > 0) {
        if (s->wn == cap) {
            memmove(wv, wv + 1, (cap - 1) * sizeof *wv);
            memmove(wt, wt + 1, (cap - 1) * sizeof *wt);
            s->wn--;
        }
        wv[s->wn] = x;
        wt[s->wn] = t_ms;
        s->wn++;
    }
    s->has_t = true;
    s->last_t = t_ms;
    s->last_value = x;
    if (out)
        *out = r;
    return CORIO_OK;
}

void corio_anomaly_stats(const corio_anomaly *a, struct corio_anomaly_stats *st)
{
    *st = a->st;
    st->series = a->table.n;
}

/* ---- model parameters --------------------------------------------------------------- */

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

/* A plain decimal number: -?digits[.digits][e[+-]digits]; no hex, inf or nan. */
static bool parse_num(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t d = strspn(p, "0123456789");
    p += d;
    if (*p == '.') {
        size_t f = strspn(p + 1, "0123456789");
        if (d == 0 && f == 0)
            return false;
        p += 1 + f;
    } else if (d == 0) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        size_t e = strspn(p, "0123456789");
        if (e == 0)
            return false;
        p += e;
    }
    if (*p != '\0')
        return false;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Reads the parameters a built-in model knows. Each name maps to a double with a range;
 * integers are checked to be whole. */
struct pdef {
    const char *name;
    double lo, hi;
    bool integer;
    bool lo_open; /* lo itself is not allowed */
    double *dst;
    bool set;
};

static int read_params(const char *model, struct pdef *defs, size_t ndefs,
                       const struct corio_edge_param *params, size_t nparams, size_t *bad,
                       char *err, size_t errlen)
{
    for (size_t i = 0; i < nparams; i++) {
        struct pdef *d = NULL;
        for (size_t k = 0; k < ndefs; k++)
            if (strcmp(params[i].key, defs[k].name) == 0)
                d = &defs[k];
        *bad = i;
        if (!d) {
            char known[160] = "";
            for (size_t k = 0; k < ndefs; k++) {
                size_t kl = strlen(known);
                snprintf(known + kl, sizeof known - kl, "%s%s", k ? ", " : "", defs[k].name);
            }
            say(err, errlen, "unknown key '%.40s' in an anomaly block with detector %s (known: %s)",
                params[i].key, model, known);
            return CORIO_ERR_INVAL;
        }
        if (d->set) {
            say(err, errlen, "'%s' given twice", d->name);
            return CORIO_ERR_INVAL;
        }
        double v;
        if (!parse_num(params[i].value, &v) || (d->integer && v != floor(v)) || v < d->lo ||
            (d->lo_open && v == d->lo) || v > d->hi) {
            if (d->lo_open)
                say(err, errlen, "'%s' must be a number above %g and at most %g, got '%.40s'",
                    d->name, d->lo, d->hi, params[i].value);
            else
                say(err, errlen, "'%s' must be %s between %g and %g, got '%.40s'", d->name,
                    d->integer ? "a whole number" : "a number", d->lo, d->hi, params[i].value);
            return CORIO_ERR_INVAL;
        }
        *d->dst = v;
        d->set = true;
    }
    return CORIO_OK;
}

/* The spread below which a series counts as flat: keeps scores finite. */
static double tiny(double center)
{
    return 1e-9 * fmax(1.0, fabs(center));
}

/* Scores beyond this are reported as this (a flat series that moves). */
#define SCORE_MAX 1e9

static double clamp_score(double z)
{
    return z > SCORE_MAX ? SCORE_MAX : z < -SCORE_MAX ? -SCORE_MAX : z;
}

static enum corio_edge_verdict hysteresis(bool *anomalous, double score, double threshold,
                                          double clear)
{
    double m = fabs(score);
    *anomalous = *anomalous ? m >= clear : m > threshold;
    return *anomalous ? CORIO_EDGE_ANOMALY : CORIO_EDGE_NORMAL;
}

/* ---- ewma --------------------------------------------------------------------------- */

struct ewma_model {
    double alpha, threshold, clear, warmup, min_std;
};

struct ewma_state {
    double mean, var;
    uint64_t n;
    bool anomalous;
};

static int ewma_init(void **model, struct corio_edge_shape *shape, const uint8_t *blob,
                     size_t blob_len, const struct corio_edge_param *params, size_t nparams,
                     size_t *bad, char *err, size_t errlen)
{
    struct ewma_model m = {.alpha = 0.02, .threshold = 6, .warmup = 30, .min_std = 0};
    double clear = -1;
    struct pdef defs[] = {
        {"alpha", 0, 1, false, true, &m.alpha, false},
        {"threshold", 0, 1e6, false, true, &m.threshold, false},
        {"clear", 0, 1e6, false, true, &clear, false},
        {"warmup", 2, 1e9, true, false, &m.warmup, false},
        {"min_std", 0, 1e300, false, false, &m.min_std, false},
    };
    if (blob || blob_len) {
        *bad = nparams;
        say(err, errlen, "the ewma detector takes no model file");
        return CORIO_ERR_INVAL;
    }
    int rc =
        read_params("ewma", defs, sizeof defs / sizeof defs[0], params, nparams, bad, err, errlen);
    if (rc != CORIO_OK)
        return rc;
    m.clear = clear < 0 ? 0.8 * m.threshold : clear;
    if (m.clear > m.threshold) {
        for (size_t i = 0; i < nparams; i++)
            if (strcmp(params[i].key, "clear") == 0)
                *bad = i;
        say(err, errlen, "'clear' (%g) must not be above 'threshold' (%g)", m.clear, m.threshold);
        return CORIO_ERR_INVAL;
    }
    struct ewma_model *p = malloc(sizeof *p);
    if (!p) {
        *bad = nparams;
        say(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    *p = m;
    *model = p;
    shape->window = 0;
    shape->state_size = sizeof(struct ewma_state);
    return CORIO_OK;
}

static void model_free(void *model)
{
    free(model);
}

static int ewma_infer(const void *model, void *state, const struct corio_edge_window *w, int64_t t,
                      double x, struct corio_edge_result *out)
{
    (void)w;
    (void)t;
    const struct ewma_model *m = model;
    struct ewma_state *s = state;
    memset(out, 0, sizeof *out);
    out->verdict = CORIO_EDGE_WARMING;
    if (s->n == 0) {
        s->mean = x;
        s->var = 0;
        s->n = 1;
        return CORIO_OK;
    }
    double sigma = fmax(fmax(sqrt(s->var), m->min_std), tiny(s->mean));
    double xu = x;
    if ((double)s->n >= m->warmup) {
        out->score = clamp_score((x - s->mean) / sigma);
        out->verdict = hysteresis(&s->anomalous, out->score, m->threshold, m->clear);
        /* Learn from the sample as if it were at most threshold sigmas away. */
        double lim = m->threshold * sigma;
        xu = fmin(fmax(x, s->mean - lim), s->mean + lim);
    }
    double alpha = fmax(m->alpha, 1.0 / (double)(s->n + 1));
    double diff = xu - s->mean;
    double incr = alpha * diff;
    s->mean += incr;
    s->var = (1 - alpha) * (s->var + diff * incr);
    s->n++;
    return CORIO_OK;
}

const struct corio_edge_model corio_edge_model_ewma = {
    .name = "ewma", .init = ewma_init, .free = model_free, .infer = ewma_infer};

/* ---- mad ---------------------------------------------------------------------------- */

struct mad_model {
    double window, threshold, clear, warmup, min_mad;
};

struct mad_state {
    bool anomalous;
};

static int mad_init(void **model, struct corio_edge_shape *shape, const uint8_t *blob,
                    size_t blob_len, const struct corio_edge_param *params, size_t nparams,
                    size_t *bad, char *err, size_t errlen)
{
    struct mad_model m = {.window = 63, .threshold = 7, .min_mad = 0};
    double clear = -1, warmup = -1;
    struct pdef defs[] = {
        {"window", 3, CORIO_EDGE_WINDOW_MAX, true, false, &m.window, false},
        {"threshold", 0, 1e6, false, true, &m.threshold, false},
        {"clear", 0, 1e6, false, true, &clear, false},
        {"warmup", 3, CORIO_EDGE_WINDOW_MAX, true, false, &warmup, false},
        {"min_mad", 0, 1e300, false, false, &m.min_mad, false},
    };
    if (blob || blob_len) {
        *bad = nparams;
        say(err, errlen, "the mad detector takes no model file");
        return CORIO_ERR_INVAL;
    }
    int rc =
        read_params("mad", defs, sizeof defs / sizeof defs[0], params, nparams, bad, err, errlen);
    if (rc != CORIO_OK)
        return rc;
    m.clear = clear < 0 ? 0.8 * m.threshold : clear;
    m.warmup = warmup < 0 ? m.window : warmup;
    for (size_t i = 0; i < nparams; i++) {
        if (strcmp(params[i].key, "clear") == 0 && m.clear > m.threshold) {
            *bad = i;
            say(err, errlen, "'clear' (%g) must not be above 'threshold' (%g)", m.clear,
                m.threshold);
            return CORIO_ERR_INVAL;
        }
        if (strcmp(params[i].key, "warmup") == 0 && m.warmup > m.window) {
            *bad = i;
            say(err, errlen, "'warmup' (%g) must not be above 'window' (%g)", m.warmup, m.window);
            return CORIO_ERR_INVAL;
        }
    }
    struct mad_model *p = malloc(sizeof *p);
    if (!p) {
        *bad = nparams;
        say(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    *p = m;
    *model = p;
    shape->window = (size_t)m.window;
    shape->state_size = sizeof(struct mad_state);
    return CORIO_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_sorted(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int mad_infer(const void *model, void *state, const struct corio_edge_window *w, int64_t t,
                     double x, struct corio_edge_result *out)
{
    (void)t;
    const struct mad_model *m = model;
    struct mad_state *s = state;
    memset(out, 0, sizeof *out);
    out->verdict = CORIO_EDGE_WARMING;
    if ((double)w->n < m->warmup)
        return CORIO_OK;
    double buf[CORIO_EDGE_WINDOW_MAX];
    size_t n = w->n;
    memcpy(buf, w->v, n * sizeof *buf);
    qsort(buf, n, sizeof *buf, cmp_double);
    double med = median_sorted(buf, n);
    double mean_ad = 0;
    for (size_t i = 0; i < n; i++) {
        buf[i] = fabs(buf[i] - med);
        mean_ad += buf[i];
    }
    mean_ad /= (double)n;
    qsort(buf, n, sizeof *buf, cmp_double);
    double mad = median_sorted(buf, n);
    /* Scales that estimate a normal distribution's sigma. */
    double scale = mad > 0 ? 1.482602 * mad : 1.253314 * mean_ad;
    scale = fmax(fmax(scale, 1.482602 * m->min_mad), tiny(med));
    out->score = clamp_score((x - med) / scale);
    out->verdict = hysteresis(&s->anomalous, out->score, m->threshold, m->clear);
    return CORIO_OK;
}

const struct corio_edge_model corio_edge_model_mad = {
    .name = "mad", .init = mad_init, .free = model_free, .infer = mad_infer};

/* ---- the table of models ------------------------------------------------------------ */

const struct corio_edge_model *const corio_edge_models[] = {
    &corio_edge_model_ewma,
    &corio_edge_model_mad,
    NULL,
};

const struct corio_edge_model *corio_edge_model_find(const char *name)
{
    for (size_t i = 0; corio_edge_models[i]; i++)
        if (strcmp(corio_edge_models[i]->name, name) == 0)
            return corio_edge_models[i];
    return NULL;
}
