/* bench_util.h - what Corio's benchmark programs share (bench/README.md): the output
 * format of DESIGN.md §8, a clock, and the telemetry workload the storage benchmarks
 * feed both to corio-cloud's store and to the raw database.
 *
 * Output: one line per figure, "bench <name> <value> <unit>", and where a limit applies
 * "limit <name> <value> <unit> ratio <value/limit>", the limit measured in the same run
 * on the same machine. */
#ifndef CORIO_BENCH_UTIL_H
#define CORIO_BENCH_UTIL_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "corio/error.h"
#include "store.h"

#define B_ORG "oooooooooooooooooooooooo"
#define B_GW  "gggggggggggggggggggggggg"

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int64_t bench_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static inline void bench_print(const char *name, double value, const char *unit)
{
    printf("bench %s %.6g %s\n", name, value, unit);
    fflush(stdout);
}

/* A limit, and the ratio of the figure just printed to it. */
static inline void bench_limit(const char *name, double limit, const char *unit, double value)
{
    printf("limit %s %.6g %s ratio %.3g\n", name, limit, unit, limit > 0 ? value / limit : 0);
    fflush(stdout);
}

static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---- the workload -------------------------------------------------------------------- */

/*
 * Telemetry as a gateway batches it (corio-gateway's defaults: 500 messages a batch):
 * `devices` devices each sending, once a second, one SenML message of `metrics` numeric
 * records with its (epoch, seq). A batch is `per_batch` consecutive messages; the run is
 * `batches` batches.
 */
struct workload {
    int devices, metrics, per_batch, batches;
    int64_t t0;          /* the first second, ms */
    int device_base;     /* the first device's number (several gateways: disjoint sets) */
    const char *gateway; /* NULL: B_GW */
};

static inline const char *wl_gateway(const struct workload *w)
{
    return w->gateway ? w->gateway : B_GW;
}

/* Device i's short id: 24 characters of a-z. */
static inline void wl_device(int i, char out[CORIO_ID_LEN + 1])
{
    memset(out, 'd', CORIO_ID_LEN);
    for (int k = 0; k < 4; k++)
        out[CORIO_ID_LEN - 1 - k] = (char)('a' + (i >> (4 * k)) % 16);
    out[CORIO_ID_LEN] = 0;
}

static const char *const wl_metric_names[] = {"temp", "hum",  "press", "vib", "volt", "curr",
                                              "co2",  "pm25", "noise", "lux", "flow", "level",
                                              "rssi", "batt", "speed", "load"};

/* Message k of the whole run (0-based): its device, seq and time. */
static inline void wl_message(const struct workload *w, int64_t k, int *device, int64_t *seq,
                              int64_t *t_ms)
{
    *device = (int)(k % w->devices);
    *seq = k / w->devices + 1;
    *t_ms = w->t0 + (k / w->devices) * 1000;
}

static inline double wl_value(int64_t k, int m)
{
    return (double)((k * 7 + m * 13) % 1000) / 4.0;
}

/* Registers the workload's organisation, gateway and devices in s. */
static inline void wl_register(struct corio_store *s, const struct workload *w)
{
    if (corio_store_put_org(s, B_ORG, "bench") != CORIO_OK)
        bench_die("cannot register the organisation");
    struct corio_gateway_rec g = {.id = B_GW, .org = B_ORG};
    if (corio_store_put_gateway(s, &g) != CORIO_OK)
        bench_die("cannot register the gateway");
    for (int d = 0; d < w->devices; d++) {
        char id[CORIO_ID_LEN + 1];
        wl_device(d, id);
        struct corio_device_rec r = {.id = id, .org = B_ORG, .gateway = B_GW};
        if (corio_store_put_device(s, &r) != CORIO_OK)
            bench_die("cannot register a device");
    }
}

/* Row buffers for one batch through the store's many-row calls. */
struct wl_rows {
    struct corio_msg_row *msgs;
    int64_t *ref;
    uint8_t *is_new, *ins;
    struct corio_sample_row *smp;
    const char **units;
    char (*dev)[CORIO_ID_LEN + 1];
    const char **devs;
};

static inline void wl_rows_init(struct wl_rows *r, const struct workload *w)
{
    size_t n = (size_t)w->per_batch, ns = n * (size_t)w->metrics;
    r->msgs = calloc(n, sizeof *r->msgs);
    r->ref = calloc(n, sizeof *r->ref);
    r->is_new = calloc(n, 1);
    r->ins = calloc(ns, 1);
    r->smp = calloc(ns, sizeof *r->smp);
    r->units = calloc(ns, sizeof *r->units);
    r->dev = calloc((size_t)w->devices, sizeof *r->dev);
    r->devs = calloc((size_t)w->devices, sizeof *r->devs);
    if (!r->msgs || !r->ref || !r->is_new || !r->ins || !r->smp || !r->units || !r->dev || !r->devs)
        bench_die("out of memory");
    for (int d = 0; d < w->devices; d++) {
        wl_device(d, r->dev[d]);
        r->devs[d] = r->dev[d];
    }
}

static inline void wl_rows_free(struct wl_rows *r)
{
    free(r->msgs);
    free(r->ref);
    free(r->is_new);
    free(r->ins);
    free(r->smp);
    free(r->units);
    free(r->dev);
    free(r->devs);
}

/*
 * Batch b through the store as corio-cloud's ingest does it, without decoding: one
 * transaction; the devices locked; messages by identity; the samples of the new ones
 * (with rollups, descriptors, counters); sequence accounting; the batch record. Returns
 * the number of samples stored.
 */
static inline int64_t wl_store_batch(struct corio_store *s, const struct workload *w,
                                     struct wl_rows *r, int b)
{
    int64_t first = (int64_t)b * w->per_batch;
    int64_t now = bench_wall_ms();
    for (int i = 0; i < w->per_batch; i++) {
        int d;
        int64_t seq, t;
        wl_message(w, first + i, &d, &seq, &t);
        r->msgs[i] = (struct corio_msg_row){.org = B_ORG,
                                            .device = r->dev[d],
                                            .has_seq = true,
                                            .epoch = 1,
                                            .seq = seq,
                                            .gateway = B_GW,
                                            .gw_epoch = 1,
                                            .gw_id = first + i + 1,
                                            .suffix = "up/json",
                                            .recv_ms = t + 20,
                                            .stored_ms = now,
                                            .status = CORIO_MSG_STORED};
    }
    if (corio_store_begin(s) != CORIO_OK ||
        corio_store_lock_devices(s, r->devs, (size_t)w->devices) != CORIO_OK ||
        corio_store_add_messages(s, r->msgs, (size_t)w->per_batch, r->ref, r->is_new) < 0)
        bench_die("store: batch %d: messages failed", b);
    size_t ns = 0;
    for (int i = 0; i < w->per_batch; i++) {
        if (!r->is_new[i])
            continue;
        for (int m = 0; m < w->metrics; m++) {
            r->smp[ns] = (struct corio_sample_row){
                .org = B_ORG,
                .device = r->msgs[i].device,
                .metric = wl_metric_names[m],
                .t_ms = r->msgs[i].recv_ms - 20,
                .msg = r->ref[i],
                .value = {.kind = CORIO_VALUE_NUM, .num = wl_value(first + i, m)}};
            r->units[ns++] = "u";
        }
    }
    int stored = corio_store_add_samples(s, r->smp, r->units, ns, r->ins);
    if (stored < 0)
        bench_die("store: batch %d: samples failed", b);
    for (int i = 0; i < w->per_batch; i++)
        if (r->is_new[i] && corio_store_seq_stored(s, B_ORG, r->msgs[i].device, 1, r->msgs[i].seq,
                                                   r->msgs[i].recv_ms, now, NULL, NULL) != CORIO_OK)
            bench_die("store: batch %d: sequence accounting failed", b);
    struct corio_batch_rec br = {.org = B_ORG,
                                 .gateway = B_GW,
                                 .gw_epoch = 1,
                                 .first_id = first + 1,
                                 .last_id = first + w->per_batch,
                                 .received_ms = now,
                                 .n_new = w->per_batch};
    if (corio_store_record_batch(s, &br) < 0 || corio_store_commit(s) != CORIO_OK)
        bench_die("store: batch %d: commit failed", b);
    return stored;
}

#endif /* CORIO_BENCH_UTIL_H */
