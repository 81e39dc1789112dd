/*
 * edge_model.h - the hook where a model runtime plugs into the gateway's streaming
 * anomaly detection (docs/edge-rules.md, "Models").
 *
 * A model is a table of functions (struct corio_edge_model). The anomaly engine
 * (anomaly.h) keeps, for every series (device, metric), a window of its past samples
 * and an opaque block of per-series state, both sized by what the model asked for at
 * init, and calls infer() once per sample, in time order. The model answers with a
 * verdict (warming up, normal, anomalous), a score and an optional label. Everything
 * else - which series exist, memory caps, LRU eviction, episodes, events upstream - is
 * the engine's.
 *
 * Two models are built in (anomaly.c): "ewma", a stateful exponentially weighted mean
 * and variance with a z-score (window 0), and "mad", the median and median absolute
 * deviation of a sliding window (a windowed model). A TinyML / TensorFlow Lite Micro or
 * ONNX runtime is one more table: init() takes the model file's bytes (the `model_file`
 * of an anomaly block) and its parameters, asks for the window its input tensor needs,
 * and infer() copies the window into the input tensor, runs the interpreter and maps
 * the output to a score or a label. Add the table to corio_edge_models[] (anomaly.c)
 * and the rules file can name it.
 *
 * Threading: a model instance is used from one thread at a time (the daemon's loop).
 * infer() must not block and must not call back into the engine.
 */
#ifndef CORIO_GATEWAY_EDGE_MODEL_H
#define CORIO_GATEWAY_EDGE_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* The most past samples a model may ask the engine to keep per series. */
#define CORIO_EDGE_WINDOW_MAX 256
/* The most bytes of per-series state a model may ask for. */
#define CORIO_EDGE_STATE_MAX 4096
/* A label's capacity, NUL included. */
#define CORIO_EDGE_LABEL_MAX 32

/* One `key value` parameter of an anomaly block that the engine does not know itself;
 * the model interprets it. Strings are NUL-terminated and live during init() only. */
struct corio_edge_param {
    const char *key;
    const char *value;
};

/* What a model needs from the engine for each series; init() fills it. */
struct corio_edge_shape {
    size_t window;     /* past samples to keep, 0..CORIO_EDGE_WINDOW_MAX */
    size_t state_size; /* bytes of per-series state, 0..CORIO_EDGE_STATE_MAX; the engine
                          zeroes it when a series starts (and when it is reused after an
                          eviction), aligned for any type */
};

/* A series' past samples, oldest first, not including the sample being judged. The
 * arrays are the engine's and are valid during infer() only. */
struct corio_edge_window {
    const double *v;  /* values */
    const int64_t *t; /* their times, ms since 1970 */
    size_t n;         /* how many: 0..shape.window (fewer while the series is young) */
};

enum corio_edge_verdict {
    CORIO_EDGE_WARMING = 0, /* not enough history to judge: no verdict */
    CORIO_EDGE_NORMAL = 1,
    CORIO_EDGE_ANOMALY = 2,
};

/* The answer for one sample. */
struct corio_edge_result {
    enum corio_edge_verdict verdict;
    double score; /* finite; what it means is the model's (a z-score for ewma and mad);
                     larger magnitude = more unusual; 0 while warming */
    char label[CORIO_EDGE_LABEL_MAX]; /* a class name for classifiers, else "" */
};

struct corio_edge_model {
    /* The name an anomaly block's `detector` line gives: [a-z0-9_]+. */
    const char *name;

    /*
     * Builds a model from blob[0..blob_len) (the bytes of the block's model_file; NULL
     * and 0 when the block has none) and params[0..nparams). Neither is kept: copy what
     * is needed. On success returns CORIO_OK, sets *model (may be NULL for a model with
     * nothing to keep) and fills *shape. On failure returns CORIO_ERR_INVAL (or
     * CORIO_ERR_NOSPACE), writes one line into err[0..errlen) and sets *bad to the index
     * of the parameter at fault, or to nparams when the fault is not one parameter's
     * (a missing file, a blob the runtime refuses); *model is then not set.
     */
    int (*init)(void **model, struct corio_edge_shape *shape, const uint8_t *blob, size_t blob_len,
                const struct corio_edge_param *params, size_t nparams, size_t *bad, char *err,
                size_t errlen);

    /* Frees what init() built. model may be NULL. */
    void (*free)(void *model);

    /*
     * Judges sample (t, x) of one series, given its past samples w and its state (of
     * shape.state_size bytes, which infer() updates). Samples arrive in time order
     * (equal times possible); x is finite. Fills *out and returns CORIO_OK, or returns
     * a negative corio_err (the engine counts it and treats the sample as unjudged).
     */
    int (*infer)(const void *model, void *state, const struct corio_edge_window *w, int64_t t,
                 double x, struct corio_edge_result *out);
};

/* The built-in models (anomaly.c) and the NULL-terminated table the rules file's
 * `detector` names are looked up in. */
extern const struct corio_edge_model corio_edge_model_ewma;
extern const struct corio_edge_model corio_edge_model_mad;
extern const struct corio_edge_model *const corio_edge_models[];

/* The model called name, or NULL. */
const struct corio_edge_model *corio_edge_model_find(const char *name);

#endif /* CORIO_GATEWAY_EDGE_MODEL_H */
