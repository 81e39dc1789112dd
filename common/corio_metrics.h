/*
 * corio_metrics.h - counters, gauges and histograms, rendered as Prometheus text.
 *
 * A daemon makes one registry, registers its metrics at start-up, and updates them from
 * any thread: an update is one or two atomic operations on 64-bit words, no lock. The
 * HTTP server (corio_http.h) serves the registry on GET /metrics in the text exposition
 * format 0.0.4 (HELP and TYPE lines, escaped label values and help text).
 *
 * A metric may have one label with a small fixed set of values, declared when it is
 * registered (e.g. reason in {"full", "io"}): each value is its own series with its own
 * handle, so the hot path never looks a label up. Metric names follow the Prometheus
 * rules ([a-zA-Z_:][a-zA-Z0-9_:]*); Corio's naming conventions are in docs/operations.md.
 *
 * Registered metrics belong to the registry and live until corio_registry_free.
 */
#ifndef CORIO_METRICS_H
#define CORIO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "corio_buf.h"

struct corio_registry;
struct corio_counter;
struct corio_gauge;
struct corio_histogram;

/* A new, empty registry, or NULL when memory ran out. */
struct corio_registry *corio_registry_new(void);

/* Frees the registry and every metric in it. NULL is fine. */
void corio_registry_free(struct corio_registry *r);

/*
 * Appends the registry in Prometheus text format 0.0.4 to out, in registration order.
 * Thread-safe against updates and registrations. Returns CORIO_OK or corio_buf_add's
 * error (out is then freed).
 */
int corio_registry_render(struct corio_registry *r, struct corio_buf *out);

/*
 * Registration. name must be a valid metric name not yet in r; help is one line of text
 * (copied). The labeled forms take a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting
 * with "__") and a NULL-terminated list of at most 64 distinct values (copied), and fill
 * out[i] with the series of values[i].
 * The plain forms return the metric, or NULL for a bad or duplicate name or no memory.
 * The labeled forms return CORIO_OK, CORIO_ERR_INVAL (bad or duplicate name, bad label,
 * no values) or CORIO_ERR_NOSPACE.
 */
struct corio_counter *corio_counter_new(struct corio_registry *r, const char *name,
                                        const char *help);
int corio_counter_new_labeled(struct corio_registry *r, const char *name, const char *help,
                              const char *label, const char *const *values,
                              struct corio_counter **out);
struct corio_gauge *corio_gauge_new(struct corio_registry *r, const char *name, const char *help);
int corio_gauge_new_labeled(struct corio_registry *r, const char *name, const char *help,
                            const char *label, const char *const *values, struct corio_gauge **out);

/*
 * A gauge read at render time: fn(arg) is called (under the registry's lock, from the
 * thread rendering) and its value shown. For values that already live elsewhere, such
 * as a queue's depth. Returns NULL for a bad or duplicate name or no memory.
 */
struct corio_gauge *corio_gauge_new_fn(struct corio_registry *r, const char *name, const char *help,
                                       double (*fn)(void *arg), void *arg);

/*
 * A histogram with the given upper bounds (finite, strictly increasing, at most 32; the
 * +Inf bucket is implicit). Returns NULL for a bad or duplicate name, bad bounds, or no
 * memory.
 */
struct corio_histogram *corio_histogram_new(struct corio_registry *r, const char *name,
                                            const char *help, const double *bounds, size_t nbounds);

/* Updates: lock-free, any thread; a NULL metric is ignored, so an optional metric needs
 * no check at every call site. */
void corio_counter_inc(struct corio_counter *c);
void corio_counter_add(struct corio_counter *c, uint64_t n);
uint64_t corio_counter_get(const struct corio_counter *c);

void corio_gauge_set(struct corio_gauge *g, int64_t v);
void corio_gauge_add(struct corio_gauge *g, int64_t delta); /* negative to subtract */
int64_t corio_gauge_get(const struct corio_gauge *g);       /* 0 for a gauge_new_fn */

void corio_histogram_observe(struct corio_histogram *h, double v);
uint64_t corio_histogram_count(const struct corio_histogram *h);

#endif /* CORIO_METRICS_H */
