/*
 * anomaly.h - streaming anomaly detection per series (device, metric) at the gateway,
 * over the model hook of edge_model.h (docs/edge-rules.md, "Anomaly detection").
 *
 * An engine runs one model over many series. For each series it keeps the model's
 * per-series state and a window of past samples (as the model asked at init), calls
 * the model once per sample in time order, and turns verdicts into episodes: an
 * episode starts with the first anomalous sample and ends with the next normal one, so
 * a sustained anomaly is reported twice (start, end) instead of once per sample.
 *
 * Memory is bounded: at most max_series series; past the cap the least recently fed
 * series is evicted (its memory reused for the new one) and counted. Series are found
 * through a hash table keyed with a secret (SipHash-2-4), so device-chosen metric names
 * cannot build long chains.
 *
 * Pure: no I/O, no clock, no threads; the caller feeds samples and gets episodes back
 * through a callback. Used from one thread.
 *
 * The second half of this header is the series table the rules engine (rules.c)
 * shares; it is internal to the gateway library (corio__ names).
 */
#ifndef CORIO_GATEWAY_ANOMALY_H
#define CORIO_GATEWAY_ANOMALY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edge_model.h"

/* A device's short id: 24 characters (DESIGN.md §3). */
#define CORIO_EDGE_DEVICE_LEN 24
/* The longest metric name kept, in bytes (the cloud's limit, cloud/store.h). */
#define CORIO_EDGE_METRIC_MAX 64

/* An episode's start or end, as the engine reports it. Strings live during the call. */
struct corio_anomaly_episode {
    const char *device;
    const char *metric;
    bool started;      /* true: this sample began an episode; false: the episode ended */
    bool evicted;      /* ended because the series was evicted, not by a normal sample */
    int64_t t_ms;      /* the sample that began or ended it; for an eviction the series'
                          newest sample */
    double value;      /* that sample's value */
    double score;      /* its score (the last anomalous score for an eviction) */
    const char *label; /* its label, "" if the model gives none */
    int64_t since_ms;  /* the episode's first anomalous sample */
    double peak;       /* the score of largest magnitude in the episode */
    uint64_t samples;  /* anomalous samples in the episode, so far */
};

struct corio_anomaly_options {
    const struct corio_edge_model *model; /* borrowed */
    const void *model_inst;               /* what model->init built; borrowed */
    struct corio_edge_shape shape;        /* what model->init asked for */
    size_t max_series;                    /* 1..; series kept at most */
    uint8_t hash_key[16];                 /* secret key of the series table (random) */
    /* Called when an episode starts or ends (optional). Must not call back into the
     * engine. */
    void (*episode)(void *ctx, const struct corio_anomaly_episode *ep);
    void *ctx;
};

struct corio_anomaly_stats {
    uint64_t samples;   /* fed and judged by the model (any verdict) */
    uint64_t stale;     /* older than the series' newest sample: not judged */
    uint64_t warming;   /* verdict WARMING */
    uint64_t normal;    /* verdict NORMAL */
    uint64_t anomalous; /* verdict ANOMALY */
    uint64_t errors;    /* infer() failed */
    uint64_t series;    /* series kept now (gauge) */
    uint64_t evicted;   /* series evicted to make room */
    uint64_t episodes_started;
    uint64_t episodes_ended; /* by a normal sample or by eviction */
    uint64_t episodes_open;  /* gauge */
};

typedef struct corio_anomaly corio_anomaly;

/* Creates an engine. Returns CORIO_OK and *out; CORIO_ERR_INVAL for a NULL model or
 * infer, max_series 0, or a shape over CORIO_EDGE_WINDOW_MAX / CORIO_EDGE_STATE_MAX;
 * CORIO_ERR_NOSPACE when memory ran out. */
int corio_anomaly_new(const struct corio_anomaly_options *o, corio_anomaly **out);

/* Frees the engine and its series (no episode callbacks). NULL is fine. */
void corio_anomaly_free(corio_anomaly *a);

/*
 * Judges sample (t_ms, x) of series (device, metric): device a short id, metric a name
 * of at most CORIO_EDGE_METRIC_MAX bytes (both NUL-terminated; the caller validated
 * them), x finite. A sample older than the series' newest is not judged (stale). The
 * episode callback runs before this returns, for an eviction first. When out is not
 * NULL it receives the model's answer (verdict WARMING and score 0 for a stale sample).
 * Returns CORIO_OK; CORIO_ERR_INVAL for bad arguments; CORIO_ERR_AGAIN for a stale
 * sample; the model's error when infer() failed; CORIO_ERR_NOSPACE when a new series
 * could not be allocated (nothing changed).
 */
int corio_anomaly_feed(corio_anomaly *a, const char *device, const char *metric, int64_t t_ms,
                       double x, struct corio_edge_result *out);

void corio_anomaly_stats(const corio_anomaly *a, struct corio_anomaly_stats *st);

/* Bytes one series takes with this engine's model: the series record, its window, the
 * model's state and its share of the hash table. */
size_t corio_anomaly_series_bytes(const corio_anomaly *a);

/* ------------------------------------------------------------------------------ */
/* Internal: the series table shared with rules.c                                 */
/* ------------------------------------------------------------------------------ */

/* A table entry: embed it first in the caller's record. The key is (device, metric,
 * tag); rules.c uses the rule's index as tag and an empty metric. */
struct corio__edge_node {
    struct corio__edge_node *hnext;       /* bucket chain */
    struct corio__edge_node *prev, *next; /* recency list, most recent first */
    uint64_t hash;
    uint32_t tag;
    char device[CORIO_EDGE_DEVICE_LEN + 1];
    char metric[CORIO_EDGE_METRIC_MAX + 1];
};

struct corio__edge_table {
    struct corio__edge_node **buckets;
    size_t nbuckets; /* a power of two */
    struct corio__edge_node *head, *tail;
    size_t n;
    uint8_t key[16];
};

/* SipHash-2-4 of data[0..len) under key (Aumasson and Bernstein, 2012). */
uint64_t corio__edge_siphash(const uint8_t key[16], const void *data, size_t len);

/* Sets up an empty table with buckets for about cap entries. CORIO_OK or
 * CORIO_ERR_NOSPACE. */
int corio__edge_table_init(struct corio__edge_table *t, size_t cap, const uint8_t key[16]);
/* Frees the buckets (not the entries: the caller walks the list first). */
void corio__edge_table_fini(struct corio__edge_table *t);
/* The entry for the key, or NULL. touch moves it to the front of the recency list. */
struct corio__edge_node *corio__edge_table_find(struct corio__edge_table *t, const char *device,
                                                const char *metric, uint32_t tag, bool touch);
/* Fills node's key (device and metric must fit; the caller checked) and links it in
 * at the front. The key must not be in the table. */
void corio__edge_table_insert(struct corio__edge_table *t, struct corio__edge_node *node,
                              const char *device, const char *metric, uint32_t tag);
/* Unlinks node. */
void corio__edge_table_remove(struct corio__edge_table *t, struct corio__edge_node *node);

#endif /* CORIO_GATEWAY_ANOMALY_H */
