/* corio_metrics.c - the metrics registry and its Prometheus text rendering (corio_metrics.h). */
#include "corio_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"

#define MAX_VALUES 64
#define MAX_BOUNDS 32

/* Updates must never take a lock: refuse to build where 64-bit atomics would. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

struct corio_counter {
    _Atomic uint64_t v;
};

struct corio_gauge {
    _Atomic int64_t v;
};

struct corio_histogram {
    size_t n; /* finite bounds; buckets has n + 1 (the last is +Inf) */
    double bounds[MAX_BOUNDS];
    _Atomic uint64_t buckets[MAX_BOUNDS + 1]; /* per bucket, not cumulative */
    _Atomic uint64_t sum_bits;                /* a double's bits, updated by compare-and-swap */
};

enum kind { COUNTER, GAUGE, GAUGE_FN, HISTOGRAM };

struct family {
    enum kind kind;
    char *name, *help, *label;
    char **values;  /* nvalues label values; NULL without a label */
    size_t nvalues; /* series: 1 without a label */
    struct corio_counter *counters;
    struct corio_gauge *gauges;
    struct corio_histogram *hist;
    double (*fn)(void *);
    void *arg;
    struct family *next;
};

struct corio_registry {
    pthread_mutex_t lock;
    struct family *head, *tail;
};

struct corio_registry *corio_registry_new(void)
{
    struct corio_registry *r = calloc(1, sizeof *r);
    if (r)
        pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void family_free(struct family *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->help);
    free(f->label);
    if (f->values)
        for (size_t i = 0; i < f->nvalues; i++)
            free(f->values[i]);
    free(f->values);
    free(f->counters);
    free(f->gauges);
    free(f->hist);
    free(f);
}

void corio_registry_free(struct corio_registry *r)
{
    if (!r)
        return;
    for (struct family *f = r->head, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static bool valid_metric_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':'))
            return false;
    return true;
}

static bool valid_label_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9') || strncmp(s, "__", 2) == 0)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/*
 * Builds a family (without its series) and checks names and label values. Returns it, or
 * NULL with *rc set.
 */
static struct family *family_new(enum kind kind, const char *name, const char *help,
                                 const char *label, const char *const *values, int *rc)
{
    *rc = CORIO_ERR_INVAL;
    if (!valid_metric_name(name) || (label && !valid_label_name(label)))
        return NULL;
    if (label && kind == HISTOGRAM)
        return NULL;
    size_t nv = 1;
    if (label) {
        nv = 0;
        while (values && values[nv])
            nv++;
        if (nv == 0 || nv > MAX_VALUES)
            return NULL;
        for (size_t i = 0; i < nv; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(values[i], values[j]) == 0)
                    return NULL;
    }
    *rc = CORIO_ERR_NOSPACE;
    struct family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->kind = kind;
    f->nvalues = nv;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help)
        goto fail;
    if (label) {
        f->label = strdup(label);
        f->values = calloc(nv, sizeof *f->values);
        if (!f->label || !f->values)
            goto fail;
        for (size_t i = 0; i < nv; i++)
            if (!(f->values[i] = strdup(values[i])))
                goto fail;
    }
    if (kind == COUNTER && !(f->counters = calloc(nv, sizeof *f->counters)))
        goto fail;
    if (kind == GAUGE && !(f->gauges = calloc(nv, sizeof *f->gauges)))
        goto fail;
    if (kind == HISTOGRAM && !(f->hist = calloc(1, sizeof *f->hist)))
        goto fail;
    return f;
fail:
    family_free(f);
    return NULL;
}

/* Adds f to r unless its name is taken. Returns CORIO_OK or CORIO_ERR_INVAL (f freed). */
static int add(struct corio_registry *r, struct family *f)
{
    pthread_mutex_lock(&r->lock);
    for (struct family *g = r->head; g; g = g->next)
        if (strcmp(g->name, f->name) == 0) {
            pthread_mutex_unlock(&r->lock);
            family_free(f);
            return CORIO_ERR_INVAL;
        }
    if (r->tail)
        r->tail->next = f;
    else
        r->head = f;
    r->tail = f;
    pthread_mutex_unlock(&r->lock);
    return CORIO_OK;
}

int corio_counter_new_labeled(struct corio_registry *r, const char *name, const char *help,
                              const char *label, const char *const *values,
                              struct corio_counter **out)
{
    int rc;
    if (!r || !label)
        return CORIO_ERR_INVAL;
    struct family *f = family_new(COUNTER, name, help, label, values, &rc);
    if (!f)
        return rc;
    struct corio_counter *series = f->counters;
    size_t n = f->nvalues;
    if ((rc = add(r, f)) != CORIO_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        out[i] = &series[i];
    return CORIO_OK;
}

struct corio_counter *corio_counter_new(struct corio_registry *r, const char *name,
                                        const char *help)
{
    int rc;
    if (!r)
        return NULL;
    struct family *f = family_new(COUNTER, name, help, NULL, NULL, &rc);
    if (!f)
        return NULL;
    struct corio_counter *c = f->counters;
    return add(r, f) == CORIO_OK ? c : NULL;
}

int corio_gauge_new_labeled(struct corio_registry *r, const char *name, const char *help,
                            const char *label, const char *const *values, struct corio_gauge **out)
{
    int rc;
    if (!r || !label)
        return CORIO_ERR_INVAL;
    struct family *f = family_new(GAUGE, name, help, label, values, &rc);
    if (!f)
        return rc;
    struct corio_gauge *series = f->gauges;
    size_t n = f->nvalues;
    if ((rc = add(r, f)) != CORIO_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        out[i] = &series[i];
    return CORIO_OK;
}

struct corio_gauge *corio_gauge_new(struct corio_registry *r, const char *name, const char *help)
{
    int rc;
    if (!r)
        return NULL;
    struct family *f = family_new(GAUGE, name, help, NULL, NULL, &rc);
    if (!f)
        return NULL;
    struct corio_gauge *g = f->gauges;
    return add(r, f) == CORIO_OK ? g : NULL;
}

/* The handle a gauge_new_fn returns: updates to it are ignored, reads give 0. */
static struct corio_gauge fn_gauge_handle;

struct corio_gauge *corio_gauge_new_fn(struct corio_registry *r, const char *name, const char *help,
                                       double (*fn)(void *arg), void *arg)
{
    int rc;
    if (!r || !fn)
        return NULL;
    struct family *f = family_new(GAUGE_FN, name, help, NULL, NULL, &rc);
    if (!f)
        return NULL;
    f->fn = fn;
    f->arg = arg;
    return add(r, f) == CORIO_OK ? &fn_gauge_handle : NULL;
}

struct corio_histogram *corio_histogram_new(struct corio_registry *r, const char *name,
                                            const char *help, const double *bounds, size_t nbounds)
{
    int rc;
    if (!r || !bounds || nbounds == 0 || nbounds > MAX_BOUNDS)
        return NULL;
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return NULL;
    struct family *f = family_new(HISTOGRAM, name, help, NULL, NULL, &rc);
    if (!f)
        return NULL;
    struct corio_histogram *h = f->hist;
    h->n = nbounds;
    memcpy(h->bounds, bounds, nbounds * sizeof *bounds);
    return add(r, f) == CORIO_OK ? h : NULL;
}

/* ---- updates ----------------------------------------------------------------------- */

void corio_counter_inc(struct corio_counter *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, 1, memory_order_relaxed);
}

void corio_counter_add(struct corio_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t corio_counter_get(const struct corio_counter *c)
{
    return c ? atomic_load_explicit(&c->v, memory_order_relaxed) : 0;
}

void corio_gauge_set(struct corio_gauge *g, int64_t v)
{
    if (g && g != &fn_gauge_handle)
        atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

void corio_gauge_add(struct corio_gauge *g, int64_t delta)
{
    if (g && g != &fn_gauge_handle)
        atomic_fetch_add_explicit(&g->v, delta, memory_order_relaxed);
}

int64_t corio_gauge_get(const struct corio_gauge *g)
{
    return g ? atomic_load_explicit(&g->v, memory_order_relaxed) : 0;
}

void corio_histogram_observe(struct corio_histogram *h, double v)
{
    if (!h)
        return;
    size_t i = 0;
    while (i < h->n && !(v <= h->bounds[i]))
        i++; /* NaN lands in +Inf */
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed), upd;
    do {
        double d;
        memcpy(&d, &old, sizeof d);
        d += v;
        memcpy(&upd, &d, sizeof upd);
    } while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, upd, memory_order_relaxed,
                                                    memory_order_relaxed));
}

uint64_t corio_histogram_count(const struct corio_histogram *h)
{
    uint64_t total = 0;
    if (h)
        for (size_t i = 0; i <= h->n; i++)
            total += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return total;
}

/* ---- rendering --------------------------------------------------------------------- */

/* The shortest decimal that reads back as v; Prometheus' spelling of the specials. */
static void fmt_double(char *out, size_t outlen, double v)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) { /* whole numbers without an exponent */
        snprintf(out, outlen, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Appends s with the escapes of HELP text (\\ and \n), or of a label value (also \"). */
static int add_escaped(struct corio_buf *out, const char *s, bool label_value)
{
    int rc = CORIO_OK;
    for (const char *p = s; *p && rc == CORIO_OK; p++) {
        if (*p == '\\')
            rc = corio_buf_add(out, "\\\\", 2);
        else if (*p == '\n')
            rc = corio_buf_add(out, "\\n", 2);
        else if (*p == '"' && label_value)
            rc = corio_buf_add(out, "\\\"", 2);
        else
            rc = corio_buf_add(out, p, 1);
    }
    return rc;
}

/* Appends "name{label="value"} " (no braces without a label). */
static int add_series_name(struct corio_buf *out, const struct family *f, const char *suffix,
                           const char *label, const char *value)
{
    int rc = corio_buf_printf(out, "%s%s", f->name, suffix);
    if (rc == CORIO_OK && label) {
        if ((rc = corio_buf_printf(out, "{%s=\"", label)) == CORIO_OK &&
            (rc = add_escaped(out, value, true)) == CORIO_OK)
            rc = corio_buf_addstr(out, "\"}");
    }
    return rc == CORIO_OK ? corio_buf_addstr(out, " ") : rc;
}

static int render_histogram(struct corio_buf *out, const struct family *f)
{
    const struct corio_histogram *h = f->hist;
    uint64_t cum = 0;
    char num[64];
    int rc = CORIO_OK;
    for (size_t i = 0; i <= h->n && rc == CORIO_OK; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->n)
            fmt_double(num, sizeof num, h->bounds[i]);
        else
            snprintf(num, sizeof num, "+Inf");
        if ((rc = add_series_name(out, f, "_bucket", "le", num)) == CORIO_OK)
            rc = corio_buf_printf(out, "%" PRIu64 "\n", cum);
    }
    uint64_t bits = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    double sum;
    memcpy(&sum, &bits, sizeof sum);
    fmt_double(num, sizeof num, sum);
    /* _count is the +Inf bucket as read above, so the two always agree */
    if (rc == CORIO_OK)
        rc = corio_buf_printf(out, "%s_sum %s\n%s_count %" PRIu64 "\n", f->name, num, f->name, cum);
    return rc;
}

static int render_family(struct corio_buf *out, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "gauge", "histogram"};
    int rc = corio_buf_printf(out, "# HELP %s ", f->name);
    if (rc == CORIO_OK)
        rc = add_escaped(out, f->help, false);
    if (rc == CORIO_OK)
        rc = corio_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->kind]);
    if (rc != CORIO_OK)
        return rc;
    if (f->kind == HISTOGRAM)
        return render_histogram(out, f);
    if (f->kind == GAUGE_FN) {
        char num[64];
        fmt_double(num, sizeof num, f->fn(f->arg));
        return corio_buf_printf(out, "%s %s\n", f->name, num);
    }
    for (size_t i = 0; i < f->nvalues && rc == CORIO_OK; i++) {
        rc = add_series_name(out, f, "", f->label, f->values ? f->values[i] : NULL);
        if (rc != CORIO_OK)
            break;
        if (f->kind == COUNTER)
            rc = corio_buf_printf(out, "%" PRIu64 "\n", corio_counter_get(&f->counters[i]));
        else
            rc = corio_buf_printf(out, "%" PRId64 "\n", corio_gauge_get(&f->gauges[i]));
    }
    return rc;
}

int corio_registry_render(struct corio_registry *r, struct corio_buf *out)
{
    int rc = CORIO_OK;
    pthread_mutex_lock(&r->lock);
    for (const struct family *f = r->head; f && rc == CORIO_OK; f = f->next)
        rc = render_family(out, f);
    pthread_mutex_unlock(&r->lock);
    return rc;
}
