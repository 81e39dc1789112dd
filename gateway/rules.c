/*
 * rules.c - the gateway's rules engine (rules.h): evaluates every decoded sample
 * against the rules of the rules file and feeds the anomaly blocks (anomaly.h), and
 * turns raises and clears into actions through the caller's callbacks.
 *
 * State lives per (rule, device) in an "instance": raised or not, the newest sample's
 * time, when a sample last arrived, and for rate rules a small time-ordered buffer of
 * points. An instance is made by the first sample a rule selects (or at start for
 * devices an absence rule names), and instances are capped (max_instances): past the
 * cap new ones are refused and counted, never evicted, so a watch that exists is never
 * silently dropped.
 *
 * Deduplication is by state: a raised rule stays raised, and does nothing more, until
 * its clear condition holds; each raise and clear is counted, logged, and carries the
 * rule's actions once.
 */
#include "rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/error.h"
#include "corio/json.h"
#include "corio/topic.h"
#include "corio_log.h"

/* Points a rate rule keeps per device; the points are spaced at least
 * window / (RATE_POINTS - 1) apart (except the newest), so they span the window. */
#define RATE_POINTS 32
/* The latest time a sample or the clock may have (as the cloud: 9999-12-31T23:59:59Z);
 * with times in 0..TIME_MAX_MS no sum or difference of times and durations overflows. */
#define TIME_MAX_MS 253402300799000LL
#define CMD_MAX     1024

struct point {
    int64_t t;
    double v;
};

struct instance {
    struct corio__edge_node node; /* device; metric ""; tag = the rule's index */
    bool raised;
    bool has_sample;
    uint8_t npts;
    int64_t last_t;       /* newest sample time */
    int64_t last_arrival; /* the engine's clock when a sample last arrived */
    int64_t raised_at;
    double raised_value;
    struct point pts[]; /* rate rules only: RATE_POINTS */
};

struct detector_rt {
    corio_rules *e;
    size_t idx;
    corio_anomaly *a;
};

struct corio_rules {
    struct corio_rules_conf *conf;
    struct corio_rules_ops ops;
    struct corio__edge_table inst;
    struct detector_rt *det;
    int64_t now;
    int64_t next_absence; /* no absence is due before this */
    uint64_t seq_next;
    uint8_t nonce[8];
    struct corio_rules_rule_stats *rs;
    struct corio_rules_stats st;
    bool warned_full;
};

/* ---- helpers ------------------------------------------------------------------------ */

static bool is_rate(enum corio_rule_kind k)
{
    return k == CORIO_RULE_RATE_ABOVE || k == CORIO_RULE_RATE_BELOW;
}

static bool rises(enum corio_rule_kind k)
{
    return k == CORIO_RULE_ABOVE || k == CORIO_RULE_RATE_ABOVE;
}

size_t corio_rules_instance_bytes(enum corio_rule_kind kind)
{
    return sizeof(struct instance) + (is_rate(kind) ? RATE_POINTS * sizeof(struct point) : 0) +
           sizeof(void *); /* its share of the hash table */
}

/* Whether name is one of the comma-separated names of list. */
static bool in_list(const char *list, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == nl && memcmp(p, name, nl) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static bool selected(const corio_rules *e, const struct corio_rules_select *s, const char *device)
{
    if (s->all)
        return true;
    for (size_t i = 0; i < s->nids; i++)
        if (strcmp(s->ids[i], device) == 0)
            return true;
    if ((s->nclasses == 0 && s->ngroups == 0) || !e->ops.device_info)
        return false;
    struct corio_rules_devinfo di = {.cls = "", .groups = ""};
    if (!e->ops.device_info(e->ops.ctx, device, &di))
        return false;
    for (size_t i = 0; i < s->nclasses; i++)
        if (di.cls && strcmp(di.cls, s->classes[i]) == 0)
            return true;
    for (size_t i = 0; i < s->ngroups; i++)
        if (in_list(di.groups, s->groups[i]))
            return true;
    return false;
}

static int64_t clamp_time(int64_t t)
{
    return t < 0 ? 0 : t > TIME_MAX_MS ? TIME_MAX_MS : t;
}

static bool valid_metric(const char *metric)
{
    size_t n = strnlen(metric, CORIO_EDGE_METRIC_MAX + 1);
    return n <= CORIO_EDGE_METRIC_MAX && corio_senml_name_valid(metric, n);
}

static enum corio_log_level level_of(enum corio_severity s)
{
    return s == CORIO_SEV_CRITICAL  ? CORIO_LOG_ERROR
           : s == CORIO_SEV_WARNING ? CORIO_LOG_WARN
                                    : CORIO_LOG_INFO;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Writes an event with write(w, arg) twice (to size it, then into a buffer) and hands
 * it to the event callback. */
static void send_event(corio_rules *e, const char *suffix,
                       void (*write)(struct corio_json_w *w, const void *arg), const void *arg)
{
    if (!e->ops.event) {
        e->st.events_failed++;
        corio_logkv(CORIO_LOG_WARN, "edge event not stored", "suffix=%s error=%s", suffix,
                    "no event callback");
        return;
    }
    struct corio_json_w w;
    corio_json_w_init(&w, NULL, 0);
    write(&w, arg);
    int len = corio_json_w_finish(&w);
    uint8_t *buf = len > 0 ? malloc((size_t)len) : NULL;
    if (buf) {
        corio_json_w_init(&w, buf, (size_t)len);
        write(&w, arg);
        len = corio_json_w_finish(&w);
    }
    if (!buf || len < 0 || e->ops.event(e->ops.ctx, suffix, buf, (size_t)len) != 0) {
        e->st.events_failed++;
        corio_logkv(CORIO_LOG_WARN, "edge event not stored", "suffix=%s error=%s", suffix,
                    !buf || len < 0 ? corio_strerror(len < 0 ? len : CORIO_ERR_NOSPACE)
                                    : "the event callback refused it");
    } else {
        e->st.events_sent++;
    }
    free(buf);
}

static void jkey(struct corio_json_w *w, const char *key, bool first)
{
    if (!first)
        corio_json_w_raw(w, ",", 1);
    corio_json_w_string(w, key, strlen(key));
    corio_json_w_raw(w, ":", 1);
}

static void jstr(struct corio_json_w *w, const char *key, const char *v)
{
    jkey(w, key, false);
    corio_json_w_string(w, v, strlen(v));
}

static void jnum(struct corio_json_w *w, const char *key, double v)
{
    jkey(w, key, false);
    corio_json_w_double(w, isfinite(v) ? v : 0);
}

static void jint(struct corio_json_w *w, const char *key, int64_t v)
{
    jkey(w, key, false);
    corio_json_w_int64(w, v);
}

/* ---- commands ----------------------------------------------------------------------- */

/* A command as sent, for the event that reports it. */
struct sent {
    const struct corio_rules_command *cmd;
    char device[CORIO_EDGE_DEVICE_LEN + 1];
    uint64_t seq;
    char cid[33];
    bool ok;
};

/*
 * The command's CBOR (docs/edge-rules.md): a map with text keys in deterministic order,
 * {"cid": bstr(16), "exp": uint ms, "seq": uint, "args": any (when given), "name": text}.
 */
static int encode_command(const struct corio_rules_command *c, const uint8_t cid[16], uint64_t exp,
                          uint64_t seq, uint8_t *buf, size_t cap)
{
    struct corio_cbor_enc enc;
    corio_cbor_enc_init(&enc, buf, cap);
    corio_cbor_put_map(&enc, c->args ? 5 : 4);
    corio_cbor_put_textz(&enc, "cid");
    corio_cbor_put_bytes(&enc, cid, 16);
    corio_cbor_put_textz(&enc, "exp");
    corio_cbor_put_uint(&enc, exp);
    corio_cbor_put_textz(&enc, "seq");
    corio_cbor_put_uint(&enc, seq);
    if (c->args) {
        corio_cbor_put_textz(&enc, "args");
        corio_cbor_put_raw(&enc, c->args, c->args_len);
    }
    corio_cbor_put_textz(&enc, "name");
    corio_cbor_put_textz(&enc, c->name);
    return corio_cbor_enc_finish(&enc);
}

static void send_command(corio_rules *e, const struct corio_rule *r,
                         const struct corio_rules_command *c, const char *self, struct sent *out)
{
    const char *device = c->self ? self : c->device;
    uint64_t seq = e->seq_next++;
    uint8_t cid[16];
    memcpy(cid, e->nonce, 8);
    for (int i = 0; i < 8; i++)
        cid[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
    uint64_t exp = (uint64_t)(e->now > 0 ? e->now : 0) + (uint64_t)r->expires_ms;
    out->cmd = c;
    snprintf(out->device, sizeof out->device, "%s", device);
    out->seq = seq;
    hex(out->cid, cid, 16);
    out->ok = false;

    uint8_t buf[CMD_MAX];
    char topic[CORIO_TOPIC_MAX];
    int len = encode_command(c, cid, exp, seq, buf, sizeof buf);
    int tl = corio_topic_build(CORIO_TOPIC_DN_CMD, device, topic, sizeof topic);
    if (len >= 0 && tl >= 0 && e->ops.command &&
        e->ops.command(e->ops.ctx, device, topic, buf, (size_t)len) == 0)
        out->ok = true;
    if (out->ok) {
        e->st.commands_sent++;
        corio_logkv(CORIO_LOG_INFO, "rule command sent", "rule=%s device=%s command=%s seq=%llu",
                    r->name, device, c->name, (unsigned long long)seq);
    } else {
        e->st.commands_failed++;
        corio_logkv(CORIO_LOG_WARN, "rule command not sent",
                    "rule=%s device=%s command=%s "
                    "seq=%llu error=%s",
                    r->name, device, c->name, (unsigned long long)seq,
                    len < 0           ? corio_strerror(len)
                    : !e->ops.command ? "no command callback"
                                      : "the command callback refused it");
    }
}

/* ---- raise and clear ---------------------------------------------------------------- */

struct rule_event {
    const struct corio_rule *r;
    const char *device;
    bool raised;
    double value, limit;
    int64_t t, since;
    const struct sent *sent;
    size_t nsent;
};

static void write_rule_event(struct corio_json_w *w, const void *arg)
{
    const struct rule_event *ev = arg;
    const struct corio_rule *r = ev->r;
    corio_json_w_raw(w, "{", 1);
    jkey(w, "v", true);
    corio_json_w_uint64(w, 1);
    jstr(w, "kind", "rule");
    jstr(w, "rule", r->name);
    jstr(w, "state", ev->raised ? "raised" : "cleared");
    jstr(w, "device", ev->device);
    jstr(w, "metric", r->metric);
    jstr(w, "condition", corio_rule_kind_name(r->kind));
    jnum(w, "value", ev->value);
    jnum(w, "limit", ev->limit);
    if (r->alert != CORIO_SEV_NONE)
        jstr(w, "severity", corio_severity_name(r->alert));
    jint(w, "t", ev->t);
    jint(w, "since", ev->since);
    if (ev->nsent) {
        jkey(w, "commands", false);
        corio_json_w_raw(w, "[", 1);
        for (size_t i = 0; i < ev->nsent; i++) {
            const struct sent *s = &ev->sent[i];
            if (i)
                corio_json_w_raw(w, ",", 1);
            corio_json_w_raw(w, "{", 1);
            jkey(w, "device", true);
            corio_json_w_string(w, s->device, strlen(s->device));
            jstr(w, "name", s->cmd->name);
            jkey(w, "seq", false);
            corio_json_w_uint64(w, s->seq);
            jstr(w, "cid", s->cid);
            jkey(w, "sent", false);
            corio_json_w_bool(w, s->ok);
            corio_json_w_raw(w, "}", 1);
        }
        corio_json_w_raw(w, "]", 1);
    }
    corio_json_w_raw(w, "}", 1);
}

/* The limit an alert or event reports: the level crossed, or the absence in seconds. */
static double limit_of(const struct corio_rule *r, bool raised)
{
    if (r->kind == CORIO_RULE_ABSENT)
        return (double)r->absent_ms / 1000.0;
    return raised ? r->limit : r->clear;
}

static void transition(corio_rules *e, size_t ri, struct instance *in, bool raised, double value,
                       int64_t t)
{
    const struct corio_rule *r = &e->conf->rules[ri];
    struct corio_rules_rule_stats *rs = &e->rs[ri];
    const char *device = in->node.device;
    in->raised = raised;
    if (raised) {
        in->raised_at = t;
        in->raised_value = value;
        e->st.raised++;
        e->st.active++;
        rs->raised++;
        rs->active++;
    } else {
        e->st.cleared++;
        e->st.active--;
        rs->cleared++;
        rs->active--;
    }
    double limit = limit_of(r, raised);
    corio_logkv(raised ? level_of(r->alert) : CORIO_LOG_INFO,
                raised ? "rule raised" : "rule cleared",
                "rule=%s device=%s metric=%s condition=%s value=%g limit=%g severity=%s t=%lld",
                r->name, device, r->metric, corio_rule_kind_name(r->kind), value, limit,
                corio_severity_name(r->alert), (long long)t);
    if (r->alert != CORIO_SEV_NONE && e->ops.alert) {
        struct corio_rules_alert a = {.rule = r->name,
                                      .device = device,
                                      .metric = r->metric,
                                      .kind = r->kind,
                                      .severity = r->alert,
                                      .raised = raised,
                                      .value = value,
                                      .limit = limit,
                                      .t_ms = t,
                                      .since_ms = in->raised_at};
        e->ops.alert(e->ops.ctx, &a);
    }
    const struct corio_rules_command *cmds = raised ? r->raise_cmds : r->clear_cmds;
    size_t ncmds = raised ? r->nraise : r->nclear;
    struct sent sent[CORIO_RULES_MAX_COMMANDS];
    for (size_t i = 0; i < ncmds && i < CORIO_RULES_MAX_COMMANDS; i++)
        send_command(e, r, &cmds[i], device, &sent[i]);
    if (r->event) {
        struct rule_event ev = {.r = r,
                                .device = device,
                                .raised = raised,
                                .value = value,
                                .limit = limit,
                                .t = t,
                                .since = in->raised_at,
                                .sent = sent,
                                .nsent = ncmds};
        send_event(e, CORIO_RULES_EVENT_RULE, write_rule_event, &ev);
    }
}

/* Hysteresis on a level (a value or a rate). */
static void level(corio_rules *e, size_t ri, struct instance *in, double x, int64_t t)
{
    const struct corio_rule *r = &e->conf->rules[ri];
    bool up = rises(r->kind);
    if (!in->raised && (up ? x > r->limit : x < r->limit))
        transition(e, ri, in, true, x, t);
    else if (in->raised && (up ? x < r->clear : x > r->clear))
        transition(e, ri, in, false, x, t);
}

/* ---- rates -------------------------------------------------------------------------- */

/* Puts (t, v) into the instance's time-ordered points. False when it is older than the
 * window (or than every point of a full buffer): not used. */
static bool rate_insert(const struct corio_rule *r, struct instance *in, int64_t t, double v)
{
    struct point *p = in->pts;
    size_t n = in->npts;
    if (n > 0 && t < p[n - 1].t - r->window_ms)
        return false;
    size_t pos = n;
    while (pos > 0 && p[pos - 1].t >= t)
        pos--;
    if (pos < n && p[pos].t == t) {
        p[pos].v = v; /* the same instant again: the latest value wins */
        return true;
    }
    int64_t gap = r->window_ms / (RATE_POINTS - 1);
    if (pos == n && n >= 2 && p[n - 1].t - p[n - 2].t < gap) {
        p[n - 1] = (struct point){t, v}; /* the newest point only holds the place */
    } else {
        if (n == RATE_POINTS) {
            if (pos == 0)
                return false;
            memmove(p, p + 1, (n - 1) * sizeof *p);
            n--;
            pos--;
        }
        memmove(p + pos + 1, p + pos, (n - pos) * sizeof *p);
        p[pos] = (struct point){t, v};
        n++;
    }
    size_t old = 0;
    while (old < n && p[old].t < p[n - 1].t - r->window_ms)
        old++;
    if (old > 0) {
        memmove(p, p + old, (n - old) * sizeof *p);
        n -= old;
    }
    in->npts = (uint8_t)n;
    return true;
}

/* The rate per second between the oldest and the newest point of the window, when they
 * span at least half of it. */
static bool rate_of(const struct corio_rule *r, const struct instance *in, double *rate)
{
    size_t n = in->npts;
    if (n < 2)
        return false;
    const struct point *o = &in->pts[0], *nw = &in->pts[n - 1];
    int64_t span = nw->t - o->t;
    if (span <= 0 || 2 * span < r->window_ms)
        return false;
    *rate = (nw->v - o->v) / ((double)span / 1000.0);
    return isfinite(*rate);
}

/* ---- instances ---------------------------------------------------------------------- */

static struct instance *instance_get(corio_rules *e, size_t ri, const char *device)
{
    struct corio__edge_node *n = corio__edge_table_find(&e->inst, device, "", (uint32_t)ri, false);
    if (n)
        return (struct instance *)(void *)n;
    const struct corio_rule *r = &e->conf->rules[ri];
    if (e->inst.n >= e->conf->max_instances) {
        e->st.instances_refused++;
        if (!e->warned_full) {
            e->warned_full = true;
            corio_logkv(CORIO_LOG_WARN,
                        "rule state table full: new (rule, device) pairs are not "
                        "watched",
                        "max_instances=%zu rule=%s device=%s", e->conf->max_instances, r->name,
                        device);
        }
        return NULL;
    }
    struct instance *in =
        calloc(1, sizeof *in + (is_rate(r->kind) ? RATE_POINTS * sizeof(struct point) : 0));
    if (!in) {
        e->st.instances_refused++;
        return NULL;
    }
    corio__edge_table_insert(&e->inst, &in->node, device, "", (uint32_t)ri);
    in->last_arrival = e->now;
    if (r->kind == CORIO_RULE_ABSENT && e->now + r->absent_ms < e->next_absence)
        e->next_absence = e->now + r->absent_ms;
    e->st.instances = e->inst.n;
    return in;
}

static void instance_drop(corio_rules *e, struct instance *in)
{
    corio__edge_table_remove(&e->inst, &in->node);
    free(in);
    e->st.instances = e->inst.n;
}

static void apply(corio_rules *e, size_t ri, struct instance *in, int64_t t, double v)
{
    const struct corio_rule *r = &e->conf->rules[ri];
    switch (r->kind) {
    case CORIO_RULE_ABSENT:
        in->last_arrival = e->now;
        in->has_sample = true;
        /* A raised instance was not scheduled: it is again, from now. */
        if (e->now + r->absent_ms < e->next_absence)
            e->next_absence = e->now + r->absent_ms;
        if (in->raised)
            transition(e, ri, in, false, v, t);
        return;
    case CORIO_RULE_ABOVE:
    case CORIO_RULE_BELOW:
        if (in->has_sample && t < in->last_t) {
            e->st.samples_stale++;
            return;
        }
        in->has_sample = true;
        in->last_t = t;
        level(e, ri, in, v, t);
        return;
    case CORIO_RULE_RATE_ABOVE:
    case CORIO_RULE_RATE_BELOW: {
        if (!rate_insert(r, in, t, v)) {
            e->st.samples_stale++;
            return;
        }
        in->has_sample = true;
        in->last_t = in->pts[in->npts - 1].t;
        double rate;
        if (rate_of(r, in, &rate))
            level(e, ri, in, rate, in->last_t);
        return;
    }
    case CORIO_RULE_ANOMALY:
        return;
    }
}

/* ---- anomaly episodes --------------------------------------------------------------- */

struct anomaly_event {
    const struct corio_rules_detector *d;
    const struct corio_anomaly_episode *ep;
};

static void write_anomaly_event(struct corio_json_w *w, const void *arg)
{
    const struct anomaly_event *ev = arg;
    const struct corio_anomaly_episode *ep = ev->ep;
    corio_json_w_raw(w, "{", 1);
    jkey(w, "v", true);
    corio_json_w_uint64(w, 1);
    jstr(w, "kind", "anomaly");
    jstr(w, "detector", ev->d->name);
    jstr(w, "model", ev->d->model->name);
    jstr(w, "state", ep->started ? "started" : "ended");
    jstr(w, "device", ep->device);
    jstr(w, "metric", ep->metric);
    jnum(w, "value", ep->value);
    jnum(w, "score", ep->score);
    if (ep->label && ep->label[0])
        jstr(w, "label", ep->label);
    jint(w, "t", ep->t_ms);
    jint(w, "since", ep->since_ms);
    jnum(w, "peak", ep->peak);
    jkey(w, "samples", false);
    corio_json_w_uint64(w, ep->samples);
    if (ep->evicted) {
        jkey(w, "evicted", false);
        corio_json_w_bool(w, true);
    }
    corio_json_w_raw(w, "}", 1);
}

static void on_episode(void *ctx, const struct corio_anomaly_episode *ep)
{
    struct detector_rt *rt = ctx;
    corio_rules *e = rt->e;
    const struct corio_rules_detector *d = &e->conf->detectors[rt->idx];
    corio_logkv(ep->started ? (d->alert ? level_of(d->alert) : CORIO_LOG_INFO) : CORIO_LOG_INFO,
                ep->started ? "anomaly started" : "anomaly ended",
                "detector=%s device=%s metric=%s value=%g score=%g peak=%g samples=%llu "
                "evicted=%s t=%lld",
                d->name, ep->device, ep->metric, ep->value, ep->score, ep->peak,
                (unsigned long long)ep->samples, ep->evicted ? "true" : "false",
                (long long)ep->t_ms);
    if (d->alert != CORIO_SEV_NONE && e->ops.alert) {
        struct corio_rules_alert a = {.rule = d->name,
                                      .device = ep->device,
                                      .metric = ep->metric,
                                      .kind = CORIO_RULE_ANOMALY,
                                      .severity = d->alert,
                                      .raised = ep->started,
                                      .value = ep->score,
                                      .limit = 0,
                                      .t_ms = ep->t_ms,
                                      .since_ms = ep->since_ms};
        e->ops.alert(e->ops.ctx, &a);
    }
    struct anomaly_event ev = {.d = d, .ep = ep};
    send_event(e, CORIO_RULES_EVENT_ANOMALY, write_anomaly_event, &ev);
}

static bool metric_selected(const struct corio_rules_detector *d, const char *metric)
{
    if (d->all_metrics)
        return true;
    for (size_t i = 0; i < d->nmetrics; i++)
        if (strcmp(d->metrics[i], metric) == 0)
            return true;
    return false;
}

/* ---- the engine --------------------------------------------------------------------- */

void corio_rules_free(corio_rules *e)
{
    if (!e)
        return;
    struct corio__edge_node *n = e->inst.head;
    while (n) {
        struct corio__edge_node *next = n->next;
        free(n);
        n = next;
    }
    corio__edge_table_fini(&e->inst);
    if (e->det)
        for (size_t i = 0; i < e->conf->ndetectors; i++)
            corio_anomaly_free(e->det[i].a);
    free(e->det);
    free(e->rs);
    corio_rules_conf_free(e->conf);
    free(e);
}

int corio_rules_new(struct corio_rules_conf *conf, const struct corio_rules_options *o,
                    corio_rules **out, char *err, size_t errlen)
{
    if (!conf || !o || !out) {
        if (err && errlen)
            snprintf(err, errlen, "no %s", !conf ? "rules" : !o ? "options" : "result pointer");
        corio_rules_conf_free(conf);
        return CORIO_ERR_INVAL;
    }
    *out = NULL;
    corio_rules *e = calloc(1, sizeof *e);
    if (!e) {
        corio_rules_conf_free(conf);
        goto nomem;
    }
    e->conf = conf;
    e->ops = o->ops;
    e->now = clamp_time(o->now_ms);
    e->next_absence = INT64_MAX;
    e->seq_next = o->seq_start ? o->seq_start : 1;
    memcpy(e->nonce, o->nonce, sizeof e->nonce);
    e->rs = calloc(conf->nrules ? conf->nrules : 1, sizeof *e->rs);
    e->det = calloc(conf->ndetectors ? conf->ndetectors : 1, sizeof *e->det);
    if (!e->rs || !e->det ||
        corio__edge_table_init(&e->inst, conf->max_instances, o->hash_key) != CORIO_OK)
        goto fail;
    for (size_t i = 0; i < conf->nrules; i++)
        e->rs[i].name = conf->rules[i].name;
    for (size_t i = 0; i < conf->ndetectors; i++) {
        const struct corio_rules_detector *d = &conf->detectors[i];
        e->det[i].e = e;
        e->det[i].idx = i;
        struct corio_anomaly_options ao = {.model = d->model,
                                           .model_inst = d->model_inst,
                                           .shape = d->shape,
                                           .max_series = d->max_series,
                                           .episode = on_episode,
                                           .ctx = &e->det[i]};
        memcpy(ao.hash_key, o->hash_key, sizeof ao.hash_key);
        if (corio_anomaly_new(&ao, &e->det[i].a) != CORIO_OK)
            goto fail;
    }
    /* Devices an absence rule names are watched from the start. */
    for (size_t i = 0; i < conf->nrules; i++) {
        const struct corio_rule *r = &conf->rules[i];
        if (r->kind != CORIO_RULE_ABSENT)
            continue;
        for (size_t k = 0; k < r->select.nids; k++)
            instance_get(e, i, r->select.ids[k]);
    }
    *out = e;
    return CORIO_OK;
fail:
    corio_rules_free(e);
nomem:
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
    return CORIO_ERR_NOSPACE;
}

int corio_rules_feed(corio_rules *e, const char *device, const char *metric, int64_t t_ms,
                     double value)
{
    if (!e)
        return CORIO_ERR_INVAL;
    if (!device || !metric || !corio_short_id_valid(device, strnlen(device, 32)) ||
        !valid_metric(metric) || !isfinite(value) || t_ms < 0 || t_ms > TIME_MAX_MS) {
        e->st.samples_refused++;
        return CORIO_ERR_INVAL;
    }
    e->st.samples++;
    const struct corio_rules_conf *c = e->conf;
    for (size_t i = 0; i < c->nrules; i++) {
        const struct corio_rule *r = &c->rules[i];
        if (strcmp(r->metric, metric) != 0 || !selected(e, &r->select, device))
            continue;
        struct instance *in = instance_get(e, i, device);
        if (in)
            apply(e, i, in, t_ms, value);
    }
    for (size_t i = 0; i < c->ndetectors; i++) {
        const struct corio_rules_detector *d = &c->detectors[i];
        if (metric_selected(d, metric) && selected(e, &d->select, device))
            corio_anomaly_feed(e->det[i].a, device, metric, t_ms, value, NULL);
    }
    return CORIO_OK;
}

void corio_rules_tick(corio_rules *e, int64_t now_ms)
{
    if (!e)
        return;
    now_ms = clamp_time(now_ms);
    if (now_ms < e->now) {
        /* The clock stepped back: silence counts from the new time. */
        for (struct corio__edge_node *n = e->inst.head; n; n = n->next) {
            struct instance *in = (struct instance *)(void *)n;
            if (in->last_arrival > now_ms)
                in->last_arrival = now_ms;
        }
        e->next_absence = now_ms;
    }
    e->now = now_ms;
    if (now_ms < e->next_absence)
        return;
    int64_t next = INT64_MAX;
    struct corio__edge_node *n = e->inst.head;
    while (n) {
        struct corio__edge_node *following = n->next;
        struct instance *in = (struct instance *)(void *)n;
        size_t ri = n->tag;
        const struct corio_rule *r = &e->conf->rules[ri];
        n = following;
        if (r->kind != CORIO_RULE_ABSENT || in->raised)
            continue;
        int64_t due = in->last_arrival + r->absent_ms;
        if (now_ms < due) {
            if (due < next)
                next = due;
            continue;
        }
        if (!selected(e, &r->select, in->node.device)) {
            instance_drop(e, in); /* the device left the rule's class or group */
            continue;
        }
        transition(e, ri, in, true, (double)(now_ms - in->last_arrival) / 1000.0, now_ms);
    }
    e->next_absence = next;
}

/* ---- SenML -------------------------------------------------------------------------- */

/* The metric of a resolved name: without "urn:corio:<device>:"; NULL for another
 * device's URN or a name that is no metric. */
static const char *metric_of(const char *name, size_t len, const char *own, size_t ol)
{
    const char *m = name;
    if (len >= ol && memcmp(name, own, ol) == 0)
        m = name + ol;
    else if (len >= 10 && memcmp(name, "urn:corio:", 10) == 0)
        return NULL;
    size_t ml = len - (size_t)(m - name);
    return ml > 0 && ml <= CORIO_EDGE_METRIC_MAX && corio_senml_name_valid(m, ml) ? m : NULL;
}

static bool numeric(const struct corio_senml_record *r, double *v)
{
    switch (r->type) {
    case CORIO_SENML_NUMBER:
        *v = r->v;
        return true;
    case CORIO_SENML_BOOL:
        *v = r->vb ? 1 : 0;
        return true;
    case CORIO_SENML_NONE:
        *v = r->sum;
        return r->has_sum;
    default:
        return false;
    }
}

/* One pass over the pack: checks every record (feed false) or feeds them (feed true).
 * Returns the samples fed, or an error. */
static int senml_pass(corio_rules *e, const char *device, enum corio_format fmt, const uint8_t *msg,
                      size_t len, int64_t recv_ms, char *buf, size_t cap, bool feed)
{
    char own[sizeof "urn:corio:" + CORIO_EDGE_DEVICE_LEN + 1];
    size_t ol = (size_t)snprintf(own, sizeof own, "urn:corio:%s:", device);
    struct corio_senml_dec d;
    struct corio_senml_record r;
    int rc = corio_senml_dec_init(&d, fmt, msg, len, buf, cap);
    int fed = 0;
    while (rc == CORIO_OK && (rc = corio_senml_dec_next(&d, &r)) == 1) {
        rc = CORIO_OK;
        const char *m = metric_of(r.name, r.name_len, own, ol);
        double ms = r.time_relative ? (double)recv_ms + r.time * 1000.0 : r.time * 1000.0;
        if (!m || !isfinite(ms) || ms < 0 || ms > (double)TIME_MAX_MS)
            return CORIO_ERR_MALFORMED;
        double v;
        if (!numeric(&r, &v) || !isfinite(v)) {
            if (feed)
                e->st.records_skipped++;
            continue;
        }
        if (feed && corio_rules_feed(e, device, m, llround(ms), v) == CORIO_OK)
            fed++;
    }
    return rc < 0 ? rc : fed;
}

int corio_rules_feed_senml(corio_rules *e, const char *device, enum corio_format fmt,
                           const uint8_t *msg, size_t len, int64_t recv_ms)
{
    if (!e || !device || !corio_short_id_valid(device, strnlen(device, 32)) || (!msg && len))
        return CORIO_ERR_INVAL;
    e->st.packs++;
    size_t cap = len + CORIO_SENML_MAX_NAME + 2;
    char *buf = malloc(cap);
    if (!buf)
        return CORIO_ERR_NOSPACE;
    int rc = senml_pass(e, device, fmt, msg, len, recv_ms, buf, cap, false);
    if (rc >= 0)
        rc = senml_pass(e, device, fmt, msg, len, recv_ms, buf, cap, true);
    else
        e->st.packs_refused++;
    free(buf);
    return rc;
}

/* ---- reading back ------------------------------------------------------------------- */

void corio_rules_stats(const corio_rules *e, struct corio_rules_stats *st)
{
    *st = e->st;
    st->instances = e->inst.n;
    for (size_t i = 0; i < e->conf->ndetectors; i++) {
        struct corio_anomaly_stats as;
        corio_anomaly_stats(e->det[i].a, &as);
        st->anomaly_samples += as.samples;
        st->anomaly_series += as.series;
        st->anomaly_evicted += as.evicted;
        st->anomalies_started += as.episodes_started;
        st->anomalies_ended += as.episodes_ended;
        st->anomalies_open += as.episodes_open;
    }
}

size_t corio_rules_count(const corio_rules *e)
{
    return e->conf->nrules;
}

int corio_rules_rule_stats(const corio_rules *e, size_t i, struct corio_rules_rule_stats *st)
{
    if (i >= e->conf->nrules)
        return CORIO_ERR_INVAL;
    *st = e->rs[i];
    return CORIO_OK;
}

size_t corio_rules_alerts(const corio_rules *e,
                          void (*fn)(void *arg, const struct corio_rules_alert *a), void *arg)
{
    size_t count = 0;
    for (const struct corio__edge_node *n = e->inst.head; n; n = n->next) {
        const struct instance *in = (const struct instance *)(const void *)n;
        const struct corio_rule *r = &e->conf->rules[n->tag];
        if (!in->raised || r->alert == CORIO_SEV_NONE)
            continue;
        count++;
        if (!fn)
            continue;
        struct corio_rules_alert a = {.rule = r->name,
                                      .device = n->device,
                                      .metric = r->metric,
                                      .kind = r->kind,
                                      .severity = r->alert,
                                      .raised = true,
                                      .value = in->raised_value,
                                      .limit = limit_of(r, true),
                                      .t_ms = in->raised_at,
                                      .since_ms = in->raised_at};
        fn(arg, &a);
    }
    return count;
}
