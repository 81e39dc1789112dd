/* bench_ingest_workload.h - the workload of bench_util.h as gateway batches of SenML
 * JSON messages, for benchmarks that run corio-cloud's whole ingest (decode, store,
 * live events) through corio_ingest_decoded. The JSON is made before the clock starts. */
#ifndef CORIO_BENCH_INGEST_WORKLOAD_H
#define CORIO_BENCH_INGEST_WORKLOAD_H

#include "batch.h"
#include "bench_util.h"
#include "cloud.h"
#include "ingest.h"

struct wl_batches {
    struct corio_batch *b;
    struct corio_batch_msg *m;
    char *text; /* every payload, back to back */
    char (*dev)[CORIO_ID_LEN + 1];
};

#define WL_MSG_MAX 1024

/* Batch b's messages as a gateway would send them. */
static inline void wl_batches_make(struct wl_batches *x, const struct workload *w)
{
    size_t nmsg = (size_t)w->batches * (size_t)w->per_batch;
    x->b = calloc((size_t)w->batches, sizeof *x->b);
    x->m = calloc(nmsg, sizeof *x->m);
    x->text = malloc(nmsg * WL_MSG_MAX);
    x->dev = calloc((size_t)w->devices, sizeof *x->dev);
    if (!x->b || !x->m || !x->text || !x->dev)
        bench_die("out of memory");
    for (int d = 0; d < w->devices; d++)
        wl_device(w->device_base + d, x->dev[d]);
    for (int b = 0; b < w->batches; b++) {
        struct corio_batch *bb = &x->b[b];
        int64_t first = (int64_t)b * w->per_batch;
        *bb = (struct corio_batch){.version = CORIO_BATCH_VERSION,
                                   .epoch = 1,
                                   .first = (uint64_t)first + 1,
                                   .last = (uint64_t)(first + w->per_batch),
                                   .made_ms = w->t0,
                                   .count = (size_t)w->per_batch,
                                   .msgs = &x->m[first]};
        snprintf(bb->gateway, sizeof bb->gateway, "%s", wl_gateway(w));
        for (int i = 0; i < w->per_batch; i++) {
            int d;
            int64_t seq, t;
            wl_message(w, first + i, &d, &seq, &t);
            char *p = x->text + (size_t)(first + i) * WL_MSG_MAX;
            int n = snprintf(p, WL_MSG_MAX,
                             "[{\"bn\":\"urn:corio:%s:\",\"bt\":%" PRId64
                             ",\"ep\":1,\"seq\":%" PRId64 ",\"n\":\"%s\",\"u\":\"u\",\"v\":%g}",
                             x->dev[d], t / 1000, seq, wl_metric_names[0], wl_value(first + i, 0));
            for (int m = 1; m < w->metrics; m++)
                n += snprintf(p + n, (size_t)(WL_MSG_MAX - n),
                              ",{\"n\":\"%s\",\"u\":\"u\",\"v\":%g}", wl_metric_names[m],
                              wl_value(first + i, m));
            n += snprintf(p + n, (size_t)(WL_MSG_MAX - n), "]");
            x->m[first + i] = (struct corio_batch_msg){.id = (uint64_t)(first + i + 1),
                                                       .device = x->dev[d],
                                                       .device_len = CORIO_ID_LEN,
                                                       .suffix = "up/json",
                                                       .suffix_len = 7,
                                                       .recv_ms = t + 20,
                                                       .payload = (const uint8_t *)p,
                                                       .payload_len = (size_t)n};
        }
    }
}

static inline void wl_batches_free(struct wl_batches *x)
{
    free(x->b);
    free(x->m);
    free(x->text);
    free(x->dev);
}

/* Batch b through corio-cloud's ingest; the samples it stored. */
static inline int64_t wl_ingest_batch(struct corio_ingest *ig, const struct wl_batches *x, int b)
{
    struct corio_ingest_result res;
    int rc = corio_ingest_decoded(ig, &x->b[b], bench_wall_ms(), &res);
    if (rc != CORIO_OK || res.rejected)
        bench_die("ingest: batch %d: %s (%s)", b, corio_strerror(rc), res.why);
    int64_t n = res.samples;
    corio_ingest_result_free(&res);
    return n;
}

#endif /* CORIO_BENCH_INGEST_WORKLOAD_H */
