/*
 * preprocess.h - what a device does to its samples before they become telemetry
 * (DESIGN.md §1: "a device samples, pre-processes (windowed aggregates, deadband)"):
 * per metric, a pipeline of up to three stages, each optional:
 *
 *   sample ──▶ window ──▶ deadband ──▶ rate limit ──▶ report
 *
 *  - window: min, max, mean and count over N samples or T milliseconds (whichever
 *    comes first); one report when the window closes instead of one per sample.
 *  - deadband (report by exception): a value is reported only when it moved away from
 *    the last reported value by at least an absolute amount and/or a fraction (per
 *    mille) of the last reported value; after max_silence_ms without a report the
 *    latest value is reported anyway, so a steady metric still shows it is alive.
 *  - rate limit: a token bucket (burst tokens, one more every refill_ms). A report
 *    that finds the bucket empty waits: corio_pp_poll() sends it when a token comes,
 *    unless a newer value replaced it first (the latest value wins; the deadband still
 *    compares with what was really reported).
 *
 * Values are integers in the metric's own unit (a sensor's counts, milli-degrees: a
 * device without floating point keeps them so; senml.h's decimals publish them
 * exactly, value * 10^exponent). Sums are 64-bit and no 64-bit division is used, so
 * nothing pulls libgcc's division into a 32-bit image. Time is the caller's: every
 * call takes now_ms from a monotonic millisecond clock that may wrap at 2^32 (as
 * struct corio_clock's does); intervals must stay under 2^31 ms (24 days).
 *
 * Use:
 *     struct corio_pp_config cfg;
 *     corio_pp_config_init(&cfg);                // every stage off: each sample reported
 *     cfg.window_count = 10;                     // mean of 10 samples...
 *     cfg.deadband_abs = 50;                     // ...reported when it moved by 0.05 °C
 *     cfg.max_silence_ms = 600000;               // ...or every 10 minutes
 *     corio_pp_init(&temp, &cfg);
 *     ...
 *     if (corio_pp_sample(&temp, milli_c, now, &out) == 1) publish out
 *     if (corio_pp_poll(&temp, now, &out) == 1) publish out  // time windows, silence
 *
 * Like the rest of the SDK it allocates nothing and calls nothing: a struct corio_pp
 * per metric, any storage class. Not thread-safe: one caller per metric.
 */
#ifndef CORIO_PREPROCESS_H
#define CORIO_PREPROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which of a window's aggregates the deadband compares and the report's .value holds. */
enum corio_pp_pick {
    CORIO_PP_MEAN = 0, /* rounded to the nearest integer, halves away from zero */
    CORIO_PP_MIN,
    CORIO_PP_MAX,
    CORIO_PP_LAST, /* the window's last sample */
};

/* Why a report was made (corio_pp_out.why). */
enum corio_pp_why {
    CORIO_PP_WHY_PASS = 1, /* no deadband: every value (sample or window) is reported */
    CORIO_PP_WHY_FIRST,    /* the deadband had nothing reported yet */
    CORIO_PP_WHY_CHANGE,   /* the value left the deadband */
    CORIO_PP_WHY_SILENCE,  /* max_silence_ms passed without a report */
};

/* A metric's pipeline. Start from corio_pp_config_init(); a zero turns a stage off. */
struct corio_pp_config {
    /* Window: closes after window_count samples or window_ms after its first sample,
     * whichever comes first (0: that limit is off; both 0: no window). A time window
     * closes when a later sample or corio_pp_poll() sees its end has passed; the
     * window's end, not the moment it was noticed, is the report's time. */
    uint32_t window_count;
    uint32_t window_ms;
    uint8_t pick; /* enum corio_pp_pick; default CORIO_PP_MEAN */

    /* Deadband: a value d = |value - last reported| away is reported when d > 0 and
     * d >= deadband_abs (if not 0) and d >= deadband_rel per mille of |last reported|
     * (if not 0): with both set both must be met, so the absolute band keeps noise out
     * near zero, where the relative one narrows to nothing. Both 0: no deadband.
     * max_silence_ms (0: never) reports the latest value anyway once that long has
     * passed since the last report: on the next value, or from corio_pp_poll() with
     * the latest value the deadband held back. Needs the deadband. */
    uint32_t deadband_abs;
    uint16_t deadband_rel;
    uint32_t max_silence_ms;

    /* Rate limit: a bucket of burst tokens (0: no limit), full at first, that gains
     * one token every refill_ms (required with a bucket). Each report takes one. */
    uint32_t burst;
    uint32_t refill_ms;
};

/* Fills *cfg with every stage off (each sample is reported as it is). */
void corio_pp_config_init(struct corio_pp_config *cfg);

/* A report. */
struct corio_pp_out {
    int32_t value;     /* the sample, or the window's picked aggregate */
    uint32_t t_ms;     /* the sample's time, or the window's end */
    uint8_t why;       /* enum corio_pp_why */
    bool window;       /* a window closed: the fields below are set */
    uint32_t count;    /* samples in the window */
    int32_t min, max;  /* of the window */
    int32_t mean;      /* sum / count, rounded to nearest, halves away from zero */
    int64_t sum;       /* exact */
    uint32_t start_ms; /* the window's first sample */
};

/* Counts since init (corio_pp_stats()). */
struct corio_pp_stats {
    uint32_t samples;    /* values fed */
    uint32_t windows;    /* windows closed */
    uint32_t reports;    /* reports handed out */
    uint32_t suppressed; /* values the deadband held back */
    uint32_t limited;    /* reports that found the bucket empty and had to wait */
    uint32_t replaced;   /* waiting reports a newer value replaced (never sent) */
};

/* A metric's state. Caller-owned; fields private. */
struct corio_pp {
    struct corio_pp_config cfg;
    struct corio_pp_stats st;
    /* the open window */
    uint32_t w_count;
    uint32_t w_start;
    int32_t w_min, w_max, w_last;
    int64_t w_sum;
    /* the deadband */
    bool reported; /* last_value and t_report are valid */
    int32_t last_value;
    uint32_t t_report;
    bool held;     /* a value not reported yet: held_out */
    bool held_due; /* it passed the deadband and waits for a token */
    struct corio_pp_out held_out;
    /* the token bucket */
    uint32_t tokens;
    uint32_t t_refill;
    bool bucket_started;
};

/* Prepares m with a copy of cfg. Returns CORIO_OK, or CORIO_ERR_INVAL for NULL
 * arguments, an unknown pick, a window_count of 1 (a window of one sample is none: use
 * 0), max_silence_ms without a deadband, a bucket without refill_ms, or an interval of
 * 2^31 ms or more. */
int corio_pp_init(struct corio_pp *m, const struct corio_pp_config *cfg);

/*
 * Feeds the sample v taken at now_ms. Returns 1 with *out filled when a report is due
 * (at most one per call: a sample that finds a time window ended first closes it and
 * then starts the next one), 0 when there is none, CORIO_ERR_INVAL for NULL arguments.
 * Times must not go backwards.
 */
int corio_pp_sample(struct corio_pp *m, int32_t v, uint32_t now_ms, struct corio_pp_out *out);

/*
 * Does what is due without a sample: closes a time window whose end has passed, sends
 * a report that waited for a token once one came, or reports the value the deadband
 * held back once max_silence_ms has passed since the last report. Returns 1 with *out
 * filled, 0 when nothing is due, CORIO_ERR_INVAL for NULL arguments. Call it when
 * corio_pp_poll_ms() says, or in every loop.
 */
int corio_pp_poll(struct corio_pp *m, uint32_t now_ms, struct corio_pp_out *out);

/* Milliseconds from now_ms until corio_pp_poll() may have something to do (0: now);
 * UINT32_MAX when nothing is pending (no time window open, nothing waiting, no
 * silence to break). */
uint32_t corio_pp_poll_ms(const struct corio_pp *m, uint32_t now_ms);

/* Fills *st with m's counts. Returns CORIO_OK or CORIO_ERR_INVAL. */
int corio_pp_stats(const struct corio_pp *m, struct corio_pp_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PREPROCESS_H */
