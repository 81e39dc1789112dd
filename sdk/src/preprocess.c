/*
 * preprocess.c - a metric's pre-processing pipeline (include/corio/preprocess.h):
 * window, deadband, token bucket.
 *
 * Every stage produces at most one candidate report per call, so a call hands out at
 * most one report: a sample that finds a time window over closes it before it opens
 * the next, and a window of one sample is refused at init (the sample would close a
 * second window in the same call). Nothing here divides 64-bit numbers with the C
 * operator: on a 32-bit part that links libgcc's division.
 */
#include <string.h>

#include "corio/preprocess.h"

#define MAX_INTERVAL 0x7FFFFFFFu

/* True once ms have passed since `since` (wrap-safe). */
static bool passed(uint32_t now, uint32_t since, uint32_t ms)
{
    return now - since >= ms;
}

static uint32_t until(uint32_t now, uint32_t since, uint32_t ms)
{
    uint32_t gone = now - since;
    return gone >= ms ? 0 : ms - gone;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* n / d by shift and subtract: r < d < 2^32 keeps 2r + 1 within 64 bits. */
static uint64_t udiv64(uint64_t n, uint32_t d)
{
    uint64_t q = 0, r = 0;
    for (int i = 0; i < 64; i++) {
        r = r << 1 | n >> 63;
        n <<= 1;
        q <<= 1;
        if (r >= d) {
            r -= d;
            q |= 1u;
        }
    }
    return q;
}

/* sum / n rounded to nearest, halves away from zero; n > 0 and the result lies
 * between the window's min and max, so it fits. */
static int32_t mean(int64_t sum, uint32_t n)
{
    uint64_t mag = sum < 0 ? (uint64_t)0 - (uint64_t)sum : (uint64_t)sum;
    uint64_t q = udiv64(mag + n / 2u, n);
    return sum < 0 ? (int32_t)(0 - (int64_t)q) : (int32_t)q;
}

void corio_pp_config_init(struct corio_pp_config *cfg)
{
    if (cfg)
        memset(cfg, 0, sizeof *cfg);
}

int corio_pp_init(struct corio_pp *m, const struct corio_pp_config *cfg)
{
    if (!m || !cfg || cfg->pick > CORIO_PP_LAST || cfg->window_count == 1 ||
        (cfg->burst && !cfg->refill_ms) || cfg->window_ms > MAX_INTERVAL ||
        cfg->max_silence_ms > MAX_INTERVAL || cfg->refill_ms > MAX_INTERVAL ||
        (cfg->max_silence_ms && !cfg->deadband_abs && !cfg->deadband_rel))
        return CORIO_ERR_INVAL;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->tokens = cfg->burst;
    return CORIO_OK;
}

static bool has_window(const struct corio_pp *m)
{
    return m->cfg.window_count || m->cfg.window_ms;
}

static bool has_deadband(const struct corio_pp *m)
{
    return m->cfg.deadband_abs || m->cfg.deadband_rel;
}

/* ---- the token bucket ---- */

static void refill(struct corio_pp *m, uint32_t now)
{
    if (!m->bucket_started) {
        m->bucket_started = true;
        m->t_refill = now;
        return;
    }
    uint32_t add = (now - m->t_refill) / m->cfg.refill_ms;
    if (add == 0)
        return;
    if (add >= m->cfg.burst - m->tokens) {
        m->tokens = m->cfg.burst;
        m->t_refill = now;
    } else {
        m->tokens += add;
        m->t_refill += add * m->cfg.refill_ms;
    }
}

/* Takes a token; false when the bucket is empty. */
static bool take_token(struct corio_pp *m, uint32_t now)
{
    if (!m->cfg.burst)
        return true;
    refill(m, now);
    if (m->tokens == 0)
        return false;
    if (m->tokens == m->cfg.burst)
        m->t_refill = now; /* a full bucket starts counting towards the next token now */
    m->tokens--;
    return true;
}

/* ---- the deadband ---- */

/* Why c is to be reported now, or 0 when the deadband holds it back. */
static uint8_t due(const struct corio_pp *m, int32_t v, uint32_t now)
{
    if (!has_deadband(m))
        return CORIO_PP_WHY_PASS;
    if (!m->reported)
        return CORIO_PP_WHY_FIRST;
    int64_t diff = (int64_t)v - m->last_value;
    uint64_t d = diff < 0 ? (uint64_t)(-diff) : (uint64_t)diff;
    uint64_t last =
        m->last_value < 0 ? (uint64_t)(-(int64_t)m->last_value) : (uint64_t)m->last_value;
    if (d > 0 && (!m->cfg.deadband_abs || d >= m->cfg.deadband_abs) &&
        (!m->cfg.deadband_rel || d * 1000u >= last * m->cfg.deadband_rel))
        return CORIO_PP_WHY_CHANGE;
    if (m->cfg.max_silence_ms && passed(now, m->t_report, m->cfg.max_silence_ms))
        return CORIO_PP_WHY_SILENCE;
    return 0;
}

/* Hands c out as a report when a token allows it, else keeps it waiting. */
static int emit(struct corio_pp *m, const struct corio_pp_out *c, uint32_t now,
                struct corio_pp_out *out)
{
    if (!take_token(m, now)) {
        m->st.limited++;
        m->held = true;
        m->held_due = true;
        m->held_out = *c;
        return 0;
    }
    *out = *c;
    m->held = m->held_due = false;
    m->reported = true;
    m->last_value = c->value;
    m->t_report = now;
    m->st.reports++;
    return 1;
}

/* A candidate (a sample, or a window's report) enters the deadband. */
static int candidate(struct corio_pp *m, struct corio_pp_out *c, uint32_t now,
                     struct corio_pp_out *out)
{
    if (m->held)
        m->st.replaced += m->held_due; /* a waiting report the newer value replaces */
    c->why = due(m, c->value, now);
    if (c->why)
        return emit(m, c, now, out);
    m->st.suppressed++;
    m->held = true;
    m->held_due = false;
    m->held_out = *c;
    return 0;
}

/* ---- the window ---- */

static int32_t picked(const struct corio_pp *m, int32_t mn)
{
    switch (m->cfg.pick) {
    case CORIO_PP_MIN:
        return m->w_min;
    case CORIO_PP_MAX:
        return m->w_max;
    case CORIO_PP_LAST:
        return m->w_last;
    default:
        return mn;
    }
}

/* Closes the open window at time t into a candidate. */
static int close_window(struct corio_pp *m, uint32_t t, uint32_t now, struct corio_pp_out *out)
{
    struct corio_pp_out c;
    memset(&c, 0, sizeof c);
    c.window = true;
    c.count = m->w_count;
    c.min = m->w_min;
    c.max = m->w_max;
    c.sum = m->w_sum;
    c.mean = mean(m->w_sum, m->w_count);
    c.value = picked(m, c.mean);
    c.start_ms = m->w_start;
    c.t_ms = t;
    m->w_count = 0;
    m->st.windows++;
    return candidate(m, &c, now, out);
}

static bool window_ended(const struct corio_pp *m, uint32_t now)
{
    return m->w_count && m->cfg.window_ms && passed(now, m->w_start, m->cfg.window_ms);
}

/* ---- the calls ---- */

int corio_pp_sample(struct corio_pp *m, int32_t v, uint32_t now_ms, struct corio_pp_out *out)
{
    if (!m || !out)
        return CORIO_ERR_INVAL;
    m->st.samples++;
    if (!has_window(m)) {
        struct corio_pp_out c;
        memset(&c, 0, sizeof c);
        c.value = v;
        c.t_ms = now_ms;
        return candidate(m, &c, now_ms, out);
    }
    int rc = 0;
    if (window_ended(m, now_ms))
        rc = close_window(m, m->w_start + m->cfg.window_ms, now_ms, out);
    if (m->w_count == 0) {
        m->w_start = now_ms;
        m->w_min = m->w_max = v;
        m->w_sum = 0;
    }
    if (v < m->w_min)
        m->w_min = v;
    if (v > m->w_max)
        m->w_max = v;
    m->w_last = v;
    m->w_sum += v;
    m->w_count++;
    /* window_count >= 2 and this window holds this sample only when rc is set: at
     * most one report per call. A window never counts past UINT32_MAX samples. */
    if ((m->cfg.window_count && m->w_count >= m->cfg.window_count) || m->w_count == UINT32_MAX)
        rc = close_window(m, now_ms, now_ms, out);
    return rc;
}

int corio_pp_poll(struct corio_pp *m, uint32_t now_ms, struct corio_pp_out *out)
{
    if (!m || !out)
        return CORIO_ERR_INVAL;
    if (window_ended(m, now_ms))
        return close_window(m, m->w_start + m->cfg.window_ms, now_ms, out);
    if (!m->held)
        return 0;
    if (m->held_due) {
        struct corio_pp_out c = m->held_out;
        m->held = false;
        if (emit(m, &c, now_ms, out))
            return 1;
        m->st.limited--; /* still the same wait, not a new one */
        return 0;
    }
    if (m->cfg.max_silence_ms && m->reported &&
        passed(now_ms, m->t_report, m->cfg.max_silence_ms)) {
        struct corio_pp_out c = m->held_out;
        c.why = CORIO_PP_WHY_SILENCE;
        m->held = false;
        m->st.suppressed--; /* it is reported after all */
        return emit(m, &c, now_ms, out);
    }
    return 0;
}

uint32_t corio_pp_poll_ms(const struct corio_pp *m, uint32_t now_ms)
{
    uint32_t wait = UINT32_MAX;
    if (!m)
        return wait;
    if (m->w_count && m->cfg.window_ms)
        wait = until(now_ms, m->w_start, m->cfg.window_ms);
    if (m->held && m->held_due) {
        uint32_t t = 0;
        if (m->tokens == 0 && m->bucket_started)
            t = until(now_ms, m->t_refill, m->cfg.refill_ms);
        wait = min32(wait, t);
    } else if (m->held && m->cfg.max_silence_ms && m->reported) {
        wait = min32(wait, until(now_ms, m->t_report, m->cfg.max_silence_ms));
    }
    return wait;
}

int corio_pp_stats(const struct corio_pp *m, struct corio_pp_stats *st)
{
    if (!m || !st)
        return CORIO_ERR_INVAL;
    *st = m->st;
    return CORIO_OK;
}
