/* test_gateway_rules.c - the gateway's rules engine (rules.h), driven with a fake clock
 * and recording callbacks: thresholds and their hysteresis edges, both directions;
 * rates over irregular and out-of-order timestamps and over a window longer than the
 * point buffer; absence with a fake clock (named devices, devices that left a group, a
 * clock that steps back); deduplication; the exact command bytes and event JSON;
 * selectors by class and group; the instance cap; SenML packs; refused input; failing
 * callbacks; logging; anomaly blocks end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "corio/cbor.h"
#include "corio/error.h"
#include "corio/senml.h"
#include "corio_log.h"
#include "rules.h"

#define DEV_A "aaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV_B "bbbbbbbbbbbbbbbbbbbbbbbb"
#define DEV_C "cccccccccccccccccccccccc"
#define FAN   "ffffffffffffffffffffffff"
#define T0    1764500000000LL /* 2025-11-30T10:53:20Z */

/* ---- recording callbacks ------------------------------------------------------------ */

struct alert_rec {
    struct corio_rules_alert a;
    char rule[80], device[32], metric[80];
};

struct cmd_rec {
    char device[32], topic[64];
    uint8_t cbor[1024];
    size_t len;
};

struct event_rec {
    char suffix[32];
    json_t *json;
};

struct fx {
    struct alert_rec alerts[64];
    int nalerts;
    struct cmd_rec cmds[32];
    int ncmds;
    struct event_rec events[32];
    int nevents;
    int command_rc, event_rc;
    int devinfo_calls;
    const char *cls[3], *groups[3]; /* for DEV_A, DEV_B, DEV_C */
    corio_rules *e;
};

static void on_alert(void *ctx, const struct corio_rules_alert *a)
{
    struct fx *f = ctx;
    assert_true(f->nalerts < 64);
    struct alert_rec *r = &f->alerts[f->nalerts++];
    r->a = *a;
    snprintf(r->rule, sizeof r->rule, "%s", a->rule);
    snprintf(r->device, sizeof r->device, "%s", a->device);
    snprintf(r->metric, sizeof r->metric, "%s", a->metric);
    r->a.rule = r->rule;
    r->a.device = r->device;
    r->a.metric = r->metric;
}

static int on_command(void *ctx, const char *device, const char *topic, const uint8_t *cbor,
                      size_t len)
{
    struct fx *f = ctx;
    assert_true(f->ncmds < 32);
    assert_true(len <= sizeof f->cmds[0].cbor);
    struct cmd_rec *c = &f->cmds[f->ncmds++];
    snprintf(c->device, sizeof c->device, "%s", device);
    snprintf(c->topic, sizeof c->topic, "%s", topic);
    memcpy(c->cbor, cbor, len);
    c->len = len;
    return f->command_rc;
}

static int on_event(void *ctx, const char *suffix, const uint8_t *payload, size_t len)
{
    struct fx *f = ctx;
    assert_true(f->nevents < 32);
    struct event_rec *ev = &f->events[f->nevents++];
    snprintf(ev->suffix, sizeof ev->suffix, "%s", suffix);
    json_error_t err;
    ev->json = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &err);
    if (!ev->json)
        fail_msg("event is not JSON: %s (%.*s)", err.text, (int)len, payload);
    return f->event_rc;
}

static bool on_devinfo(void *ctx, const char *device, struct corio_rules_devinfo *info)
{
    struct fx *f = ctx;
    f->devinfo_calls++;
    const char *ids[] = {DEV_A, DEV_B, DEV_C};
    for (int i = 0; i < 3; i++)
        if (strcmp(device, ids[i]) == 0 && (f->cls[i] || f->groups[i])) {
            info->cls = f->cls[i] ? f->cls[i] : "";
            info->groups = f->groups[i] ? f->groups[i] : "";
            return true;
        }
    return false;
}

static corio_rules *start(struct fx *f, const char *text)
{
    struct corio_rules_conf *c = NULL;
    char err[512] = "";
    if (corio_rules_conf_parse("t.rules", text, strlen(text), NULL, &c, err, sizeof err) !=
        CORIO_OK)
        fail_msg("rules do not parse: %s", err);
    struct corio_rules_options o = {.now_ms = T0,
                                    .seq_start = 1000,
                                    .nonce = {0xc0, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70},
                                    .hash_key = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6},
                                    .ops = {.alert = on_alert,
                                            .command = on_command,
                                            .event = on_event,
                                            .device_info = on_devinfo,
                                            .ctx = f}};
    assert_int_equal(corio_rules_new(c, &o, &f->e, err, sizeof err), CORIO_OK);
    return f->e;
}

static void finish(struct fx *f)
{
    corio_rules_free(f->e);
    for (int i = 0; i < f->nevents; i++)
        json_decref(f->events[i].json);
    memset(f, 0, sizeof *f);
}

static void feed(struct fx *f, const char *dev, const char *metric, int64_t t, double v)
{
    assert_int_equal(corio_rules_feed(f->e, dev, metric, t, v), CORIO_OK);
}

static void check_alert(const struct fx *f, int i, const char *rule, const char *dev, bool raised,
                        double value, double limit)
{
    assert_true(i < f->nalerts);
    const struct corio_rules_alert *a = &f->alerts[i].a;
    assert_string_equal(a->rule, rule);
    assert_string_equal(a->device, dev);
    assert_int_equal(a->raised, raised);
    if (fabs(a->value - value) > 1e-9 || fabs(a->limit - limit) > 1e-9)
        fail_msg("alert %d: value %.17g limit %.17g, want %.17g and %.17g", i, a->value, a->limit,
                 value, limit);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("event has no string '%s'", key);
    return json_string_value(v);
}

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("event has no number '%s'", key);
    return json_number_value(v);
}

/* ---- thresholds --------------------------------------------------------------------- */

static void threshold_above_with_hysteresis(void **state)
{
    (void)state;
    struct fx f = {0};
    start(
        &f,
        "version 1\n"
        "rule hot\n devices all\n metric temp\n above 30\n clear_below 25\n alert warning\nend\n");
    feed(&f, DEV_A, "temp", T0 + 1, 29);
    feed(&f, DEV_A, "temp", T0 + 2, 30); /* at the limit: not above it */
    assert_int_equal(f.nalerts, 0);
    feed(&f, DEV_A, "temp", T0 + 3, 30.5);
    assert_int_equal(f.nalerts, 1);
    check_alert(&f, 0, "hot", DEV_A, true, 30.5, 30);
    assert_int_equal(f.alerts[0].a.severity, CORIO_SEV_WARNING);
    assert_int_equal(f.alerts[0].a.kind, CORIO_RULE_ABOVE);
    assert_string_equal(f.alerts[0].a.metric, "temp");
    assert_int_equal(f.alerts[0].a.t_ms, T0 + 3);
    /* Raised stays raised: no flood while hot, nor between the levels. */
    feed(&f, DEV_A, "temp", T0 + 4, 31);
    feed(&f, DEV_A, "temp", T0 + 5, 45);
    feed(&f, DEV_A, "temp", T0 + 6, 27);
    feed(&f, DEV_A, "temp", T0 + 7, 25); /* at the clear level: not below it */
    assert_int_equal(f.nalerts, 1);
    feed(&f, DEV_A, "temp", T0 + 8, 24.9);
    assert_int_equal(f.nalerts, 2);
    check_alert(&f, 1, "hot", DEV_A, false, 24.9, 25);
    assert_int_equal(f.alerts[1].a.since_ms, T0 + 3);
    /* Between the levels after a clear: stays clear. */
    feed(&f, DEV_A, "temp", T0 + 9, 29.9);
    assert_int_equal(f.nalerts, 2);
    feed(&f, DEV_A, "temp", T0 + 10, 30.1);
    assert_int_equal(f.nalerts, 3);
    /* Each device has its own state. */
    feed(&f, DEV_B, "temp", T0 + 10, 28);
    feed(&f, DEV_B, "temp", T0 + 11, 31);
    assert_int_equal(f.nalerts, 4);
    check_alert(&f, 3, "hot", DEV_B, true, 31, 30);
    /* Other metrics are not this rule's business. */
    feed(&f, DEV_C, "hum", T0 + 11, 99);
    assert_int_equal(f.nalerts, 4);

    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.raised, 3);
    assert_int_equal(st.cleared, 1);
    assert_int_equal(st.active, 2);
    assert_int_equal(st.samples, 13);
    assert_int_equal(st.instances, 2);
    struct corio_rules_rule_stats rs;
    assert_int_equal(corio_rules_count(f.e), 1);
    assert_int_equal(corio_rules_rule_stats(f.e, 0, &rs), CORIO_OK);
    assert_string_equal(rs.name, "hot");
    assert_int_equal(rs.raised, 3);
    assert_int_equal(rs.cleared, 1);
    assert_int_equal(rs.active, 2);
    assert_int_equal(corio_rules_rule_stats(f.e, 1, &rs), CORIO_ERR_INVAL);
    finish(&f);
}

static void threshold_below_is_the_mirror(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\n"
              "rule cold\n devices all\n metric temp\n below -18\n clear_above -15\n"
              " alert critical\nend\n");
    feed(&f, DEV_A, "temp", T0 + 1, -17);
    feed(&f, DEV_A, "temp", T0 + 2, -18);
    assert_int_equal(f.nalerts, 0);
    feed(&f, DEV_A, "temp", T0 + 3, -18.01);
    check_alert(&f, 0, "cold", DEV_A, true, -18.01, -18);
    feed(&f, DEV_A, "temp", T0 + 4, -30);
    feed(&f, DEV_A, "temp", T0 + 5, -16);
    feed(&f, DEV_A, "temp", T0 + 6, -15);
    assert_int_equal(f.nalerts, 1);
    feed(&f, DEV_A, "temp", T0 + 7, -14.99);
    check_alert(&f, 1, "cold", DEV_A, false, -14.99, -15);
    assert_int_equal(f.nalerts, 2);
    finish(&f);
}

/* Without a clear level the rule clears on the other side of its limit. */
static void threshold_without_clear_level(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule r\n devices all\n metric v\n above 10\n alert info\nend\n");
    feed(&f, DEV_A, "v", T0 + 1, 11);
    feed(&f, DEV_A, "v", T0 + 2, 10);
    assert_int_equal(f.nalerts, 1);
    feed(&f, DEV_A, "v", T0 + 3, 9.99);
    check_alert(&f, 1, "r", DEV_A, false, 9.99, 10);
    finish(&f);
}

/* A sample older than the newest one seen does not move a threshold rule. */
static void threshold_ignores_stale_samples(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule r\n devices all\n metric v\n above 10\n alert info\nend\n");
    feed(&f, DEV_A, "v", T0 + 2000, 50);
    assert_int_equal(f.nalerts, 1);
    feed(&f, DEV_A, "v", T0 + 1000, 0); /* late: resent from a device's outbox */
    assert_int_equal(f.nalerts, 1);
    feed(&f, DEV_A, "v", T0 + 2000, 11); /* same time: taken */
    feed(&f, DEV_A, "v", T0 + 3000, 0);
    assert_int_equal(f.nalerts, 2);
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.samples_stale, 1);
    finish(&f);
}

/* ---- rates -------------------------------------------------------------------------- */

/* v = 2·t at irregular times: the rate is 2/s whatever the spacing, and it is only
 * judged once the samples span half the window. */
static void rate_with_irregular_timestamps(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule fast\n devices all\n metric level\n rate_above 1.5\n"
              " clear_below 0.5\n window 10s\n alert warning\nend\n");
    const double ts[] = {0, 0.7, 1.9, 2.0, 4.4, 5.1, 9.3, 12.25};
    for (int i = 0; i < 8; i++) {
        feed(&f, DEV_A, "level", T0 + llround(ts[i] * 1000), 2 * ts[i]);
        /* Below 5 s of span nothing is judged; at 5.1 s the rate is 2 and raises. */
        assert_int_equal(f.nalerts, ts[i] < 5 ? 0 : 1);
    }
    check_alert(&f, 0, "fast", DEV_A, true, 2, 1.5);
    assert_int_equal(f.alerts[0].a.t_ms, T0 + 5100);
    assert_int_equal(f.alerts[0].a.kind, CORIO_RULE_RATE_ABOVE);
    /* Flat from here: the rate over the window falls, and clears below 0.5. */
    int64_t t = T0 + 12250;
    for (int i = 1; i <= 20 && f.nalerts < 2; i++)
        feed(&f, DEV_A, "level", t + 1000 * i, 24.5);
    assert_int_equal(f.nalerts, 2);
    assert_false(f.alerts[1].a.raised);
    assert_true(f.alerts[1].a.value < 0.5);
    finish(&f);
}

/* The same samples in any order give the same rate; a sample older than the window
 * is stale. */
static void rate_with_out_of_order_samples(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule fast\n devices all\n metric level\n rate_above 1.5\n"
              " window 10s\n alert info\nend\n");
    /* In order for A, newest first for B, shuffled for C. */
    const int order_c[] = {3, 0, 5, 1, 4, 2};
    const double ts[] = {0, 1.5, 2.5, 4, 6.5, 8};
    for (int i = 0; i < 6; i++) {
        feed(&f, DEV_A, "level", T0 + llround(ts[i] * 1000), 2 * ts[i]);
        feed(&f, DEV_B, "level", T0 + llround(ts[5 - i] * 1000), 2 * ts[5 - i]);
        feed(&f, DEV_C, "level", T0 + llround(ts[order_c[i]] * 1000), 2 * ts[order_c[i]]);
    }
    assert_int_equal(f.nalerts, 3);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(f.alerts[i].a.value - 2) < 1e-12);
    /* B, fed newest first, spans half the window with its fourth sample (2.5 s): the
     * rate is reported at B's newest time. */
    assert_string_equal(f.alerts[1].a.device, DEV_B);
    assert_int_equal(f.alerts[1].a.t_ms, T0 + 8000);
    /* 12 s before the newest: outside the 10 s window. */
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "level", T0 - 4000, 100), CORIO_OK);
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.samples_stale, 1);
    assert_int_equal(f.nalerts, 3);
    finish(&f);
}

/* A falling rate, and a window longer than the point buffer: 1 Hz samples over a 60 s
 * window keep points spread over the whole window. */
static void rate_below_over_a_long_window(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule falling\n devices all\n metric p\n rate_below -0.5\n"
              " clear_above -0.1\n window 1m\n alert info\nend\n");
    /* Flat for 100 s, then falling by 1 per second. Over the 60 s window the endpoint
     * rate is -k/span after k seconds of fall: it crosses -0.5 at k ≈ 30. */
    int raised_at = -1;
    for (int s = 0; s <= 200; s++) {
        double v = s <= 100 ? 500 : 500 - (s - 100);
        feed(&f, DEV_A, "p", T0 + 1000LL * s, v);
        if (raised_at < 0 && f.nalerts == 1)
            raised_at = s - 100;
    }
    assert_true(raised_at >= 29 && raised_at <= 31);
    assert_int_equal(f.nalerts, 1);
    assert_true(f.alerts[0].a.value < -0.5 && f.alerts[0].a.value > -0.54);
    /* Then flat again: the rate rises back above -0.1 and clears. */
    for (int s = 201; s <= 300 && f.nalerts < 2; s++)
        feed(&f, DEV_A, "p", T0 + 1000LL * s, 400);
    assert_int_equal(f.nalerts, 2);
    assert_false(f.alerts[1].a.raised);
    finish(&f);
}

/* ---- absence ------------------------------------------------------------------------ */

static void absence_with_a_fake_clock(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule silent\n devices " DEV_A " " DEV_B "\n metric temp\n absent 5m\n"
              " alert critical\n event\nend\n");
    /* A named device is watched from the start, even if it never speaks. */
    corio_rules_tick(f.e, T0 + 299999);
    assert_int_equal(f.nalerts, 0);
    feed(&f, DEV_B, "temp", T0 + 100000, 20); /* B speaks, A does not */
    corio_rules_tick(f.e, T0 + 300000);
    assert_int_equal(f.nalerts, 1);
    check_alert(&f, 0, "silent", DEV_A, true, 300, 300);
    assert_int_equal(f.alerts[0].a.kind, CORIO_RULE_ABSENT);
    assert_int_equal(f.alerts[0].a.t_ms, T0 + 300000);
    /* No repeat while silent. B's silence counts from when its sample reached the
     * engine (the clock then was T0 + 299999), not from the time it carried. */
    corio_rules_tick(f.e, T0 + 400000);
    corio_rules_tick(f.e, T0 + 299999 + 299999);
    assert_int_equal(f.nalerts, 1);
    corio_rules_tick(f.e, T0 + 299999 + 300000);
    assert_int_equal(f.nalerts, 2);
    check_alert(&f, 1, "silent", DEV_B, true, 300, 300);
    corio_rules_tick(f.e, T0 + 3600000);
    assert_int_equal(f.nalerts, 2);
    finish(&f);

    /* Silence, a sample, silence again. */
    memset(&f, 0, sizeof f);
    start(&f, "version 1\nrule silent\n devices all\n metric temp\n absent 5m\n alert warning\n"
              " event\nend\n");
    corio_rules_tick(f.e, T0 + 10000);
    feed(&f, DEV_A, "temp", T0 + 9000, 20);
    corio_rules_tick(f.e, T0 + 10000 + 299999);
    assert_int_equal(f.nalerts, 0);
    corio_rules_tick(f.e, T0 + 10000 + 300000);
    assert_int_equal(f.nalerts, 1);
    check_alert(&f, 0, "silent", DEV_A, true, 300, 300);
    corio_rules_tick(f.e, T0 + 500000);
    feed(&f, DEV_A, "temp", T0 + 499000, 21);
    assert_int_equal(f.nalerts, 2);
    check_alert(&f, 1, "silent", DEV_A, false, 21, 300);
    assert_int_equal(f.alerts[1].a.since_ms, T0 + 310000);
    corio_rules_tick(f.e, T0 + 500000 + 300000);
    assert_int_equal(f.nalerts, 3);
    assert_true(f.alerts[2].a.raised);
    /* A device that was never seen is not watched by an "all" rule. */
    for (int i = 0; i < f.nalerts; i++)
        assert_string_equal(f.alerts[i].a.device, DEV_A);
    /* The events say the same. */
    assert_int_equal(f.nevents, 3);
    assert_string_equal(f.events[0].suffix, "edge/rule");
    assert_string_equal(jstr(f.events[0].json, "condition"), "absent");
    assert_string_equal(jstr(f.events[0].json, "state"), "raised");
    assert_true(jnum(f.events[0].json, "value") == 300);
    assert_string_equal(jstr(f.events[1].json, "state"), "cleared");
    finish(&f);
}

/* A device that left the rule's group is no longer watched: no alert for its silence. */
static void absence_of_a_device_that_left_the_group(void **state)
{
    (void)state;
    struct fx f = {0};
    f.groups[0] = "lab,freezers";
    f.groups[1] = "freezers";
    start(&f, "version 1\nrule silent\n devices group:freezers\n metric temp\n absent 1m\n"
              " alert info\nend\n");
    feed(&f, DEV_A, "temp", T0, 1);
    feed(&f, DEV_B, "temp", T0, 1);
    f.groups[0] = "lab"; /* the registry changed */
    corio_rules_tick(f.e, T0 + 60000);
    assert_int_equal(f.nalerts, 1);
    assert_string_equal(f.alerts[0].a.device, DEV_B);
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.instances, 1);
    finish(&f);
}

/* A clock that steps back does not hide silence for the size of the step: silence
 * counts from the new time. */
static void absence_when_the_clock_steps_back(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule silent\n devices all\n metric temp\n absent 5m\n alert info\nend\n");
    corio_rules_tick(f.e, T0);
    feed(&f, DEV_A, "temp", T0, 20);
    int64_t back = T0 - 3600000;
    corio_rules_tick(f.e, back);
    corio_rules_tick(f.e, back + 299999);
    assert_int_equal(f.nalerts, 0);
    corio_rules_tick(f.e, back + 300000);
    assert_int_equal(f.nalerts, 1);
    finish(&f);
}

/* ---- commands and events ------------------------------------------------------------ */

struct cmd {
    const uint8_t *cid;
    size_t cid_len;
    uint64_t exp, seq;
    const uint8_t *args;
    size_t args_len;
    const char *name;
    size_t name_len;
};

/* Decodes a command, checking the keys come exactly in deterministic order. */
static void decode_cmd(const struct cmd_rec *c, struct cmd *out)
{
    memset(out, 0, sizeof *out);
    assert_int_equal(corio_cbor_deterministic(c->cbor, c->len), CORIO_OK);
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, c->cbor, c->len);
    uint64_t pairs;
    assert_int_equal(corio_cbor_expect_map(&d, &pairs), CORIO_OK);
    const char *want[] = {"cid", "exp", "seq", "args", "name"};
    for (size_t i = 0, k = 0; i < pairs; i++, k++) {
        const char *key;
        size_t kn;
        assert_int_equal(corio_cbor_expect_text(&d, &key, &kn), CORIO_OK);
        if (pairs == 4 && k == 3)
            k = 4; /* no args */
        assert_int_equal(kn, strlen(want[k]));
        assert_memory_equal(key, want[k], kn);
        switch (k) {
        case 0:
            assert_int_equal(corio_cbor_expect_bytes(&d, &out->cid, &out->cid_len), CORIO_OK);
            break;
        case 1:
            assert_int_equal(corio_cbor_expect_uint(&d, &out->exp), CORIO_OK);
            break;
        case 2:
            assert_int_equal(corio_cbor_expect_uint(&d, &out->seq), CORIO_OK);
            break;
        case 3: {
            size_t at = corio_cbor_dec_offset(&d);
            assert_int_equal(corio_cbor_skip(&d), CORIO_OK);
            out->args = c->cbor + at;
            out->args_len = corio_cbor_dec_offset(&d) - at;
            break;
        }
        default:
            assert_int_equal(corio_cbor_expect_text(&d, &out->name, &out->name_len), CORIO_OK);
        }
    }
    assert_int_equal(corio_cbor_dec_finish(&d), CORIO_OK);
}

static void commands_carry_seq_cid_expiry_name_and_arguments(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\ncommand_expiry 2m\n"
              "rule hot\n devices all\n metric temp\n above 30\n clear_below 25\n"
              " command " FAN " fan speed=3 mode=max ratio=0.5 on=true note=\"two words\" n=-7\n"
              " command self format true\n"
              " clear_command " FAN " fan speed=0\n"
              " event\nend\n"
              "rule quick\n devices all\n metric temp\n above 100\n command self reboot\n"
              " expires 5s\nend\n");
    feed(&f, DEV_A, "temp", T0 + 5, 31);
    assert_int_equal(f.ncmds, 2);
    struct cmd c;

    /* To the fan, with a map of typed arguments. */
    assert_string_equal(f.cmds[0].device, FAN);
    assert_string_equal(f.cmds[0].topic, "corio/v1/d/" FAN "/dn/cmd");
    decode_cmd(&f.cmds[0], &c);
    assert_int_equal(c.seq, 1000);
    assert_int_equal(c.exp, T0 + 120000);
    const uint8_t cid0[16] = {0xc0, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70,
                              0,    0,    0,    0,    0,    0,    0x03, 0xe8};
    assert_int_equal(c.cid_len, 16);
    assert_memory_equal(c.cid, cid0, 16);
    assert_int_equal(c.name_len, 3);
    assert_memory_equal(c.name, "fan", 3);
    /* {"n": -7, "on": true, "mode": "max", "note": "two words", "ratio": 0.5,
     * "speed": 3} in deterministic order (shorter keys first). */
    /* clang-format off */
    const uint8_t args[] = {0xa6,
                            0x61, 'n', 0x26,
                            0x62, 'o', 'n', 0xf5,
                            0x64, 'm', 'o', 'd', 'e', 0x63, 'm', 'a', 'x',
                            0x64, 'n', 'o', 't', 'e', 0x69, 't', 'w', 'o', ' ', 'w', 'o', 'r', 'd', 's',
                            0x65, 'r', 'a', 't', 'i', 'o', 0xf9, 0x38, 0x00,
                            0x65, 's', 'p', 'e', 'e', 'd', 0x03};
    /* clang-format on */
    assert_int_equal(c.args_len, sizeof args);
    assert_memory_equal(c.args, args, sizeof args);

    /* To the device that fired, with one bare argument. */
    assert_string_equal(f.cmds[1].device, DEV_A);
    assert_string_equal(f.cmds[1].topic, "corio/v1/d/" DEV_A "/dn/cmd");
    decode_cmd(&f.cmds[1], &c);
    assert_int_equal(c.seq, 1001);
    assert_int_equal(c.cid[15], 0xe9);
    assert_int_equal(c.args_len, 1);
    assert_int_equal(c.args[0], 0xf5);
    assert_memory_equal(c.name, "format", 6);

    /* The event reports the raise and both commands. */
    assert_int_equal(f.nevents, 1);
    json_t *ev = f.events[0].json;
    assert_string_equal(f.events[0].suffix, CORIO_RULES_EVENT_RULE);
    assert_true(jnum(ev, "v") == 1);
    assert_string_equal(jstr(ev, "kind"), "rule");
    assert_string_equal(jstr(ev, "rule"), "hot");
    assert_string_equal(jstr(ev, "state"), "raised");
    assert_string_equal(jstr(ev, "device"), DEV_A);
    assert_string_equal(jstr(ev, "metric"), "temp");
    assert_string_equal(jstr(ev, "condition"), "above");
    assert_true(jnum(ev, "value") == 31);
    assert_true(jnum(ev, "limit") == 30);
    assert_true(jnum(ev, "t") == (double)(T0 + 5));
    assert_null(json_object_get(ev, "severity")); /* no alert action */
    json_t *cmds = json_object_get(ev, "commands");
    assert_int_equal(json_array_size(cmds), 2);
    assert_string_equal(jstr(json_array_get(cmds, 0), "device"), FAN);
    assert_string_equal(jstr(json_array_get(cmds, 0), "name"), "fan");
    assert_true(jnum(json_array_get(cmds, 0), "seq") == 1000);
    assert_string_equal(jstr(json_array_get(cmds, 0), "cid"), "c010203040506070"
                                                              "00000000000003e8");
    assert_true(json_is_true(json_object_get(json_array_get(cmds, 0), "sent")));
    assert_string_equal(jstr(json_array_get(cmds, 1), "device"), DEV_A);

    /* The clear sends the clear command; the other rule's expiry is its own. */
    corio_rules_tick(f.e, T0 + 1000);
    feed(&f, DEV_A, "temp", T0 + 10, 101);
    assert_int_equal(f.ncmds, 3);
    decode_cmd(&f.cmds[2], &c);
    assert_int_equal(c.exp, T0 + 1000 + 5000);
    assert_int_equal(c.seq, 1002);
    assert_null(c.args);
    assert_memory_equal(c.name, "reboot", 6);
    feed(&f, DEV_A, "temp", T0 + 20, 20);
    assert_int_equal(f.ncmds, 4);
    decode_cmd(&f.cmds[3], &c);
    assert_string_equal(f.cmds[3].device, FAN);
    assert_int_equal(c.seq, 1003);
    const uint8_t args_off[] = {0xa1, 0x65, 's', 'p', 'e', 'e', 'd', 0x00};
    assert_int_equal(c.args_len, sizeof args_off);
    assert_memory_equal(c.args, args_off, sizeof args_off);
    assert_int_equal(f.nevents, 2);
    assert_string_equal(jstr(f.events[1].json, "state"), "cleared");
    assert_true(jnum(f.events[1].json, "since") == (double)(T0 + 5));
    assert_true(jnum(f.events[1].json, "limit") == 25);

    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.commands_sent, 4);
    assert_int_equal(st.commands_failed, 0);
    assert_int_equal(st.events_sent, 2);
    finish(&f);
}

/* A callback that refuses is counted, and the engine goes on. */
static void failing_callbacks_are_counted(void **state)
{
    (void)state;
    struct fx f = {.command_rc = -1, .event_rc = -1};
    start(&f, "version 1\nrule hot\n devices all\n metric temp\n above 30\n"
              " command self cool\n event\n alert info\nend\n");
    f.command_rc = -1;
    f.event_rc = -1;
    feed(&f, DEV_A, "temp", T0, 31);
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.commands_failed, 1);
    assert_int_equal(st.commands_sent, 0);
    assert_int_equal(st.events_failed, 1);
    assert_int_equal(st.events_sent, 0);
    assert_int_equal(st.raised, 1);
    assert_int_equal(f.nalerts, 1);
    /* The event still says the command was not sent. */
    json_t *cmd = json_array_get(json_object_get(f.events[0].json, "commands"), 0);
    assert_true(json_is_false(json_object_get(cmd, "sent")));
    finish(&f);

    /* Without callbacks at all, the actions are counted as failed, not lost silently. */
    struct corio_rules_conf *c;
    char err[256];
    const char *text = "version 1\nrule hot\n devices all\n metric temp\n above 30\n"
                       " command self cool\n event\n alert info\nend\n";
    assert_int_equal(corio_rules_conf_parse("t", text, strlen(text), NULL, &c, err, sizeof err),
                     CORIO_OK);
    struct corio_rules_options o = {.now_ms = T0};
    corio_rules *e;
    assert_int_equal(corio_rules_new(c, &o, &e, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_rules_feed(e, DEV_A, "temp", T0, 31), CORIO_OK);
    corio_rules_stats(e, &st);
    assert_int_equal(st.raised, 1);
    assert_int_equal(st.commands_failed, 1);
    assert_int_equal(st.events_failed, 1);
    assert_int_equal(corio_rules_alerts(e, NULL, NULL), 1);
    corio_rules_free(e);
}

/* ---- selectors and limits ----------------------------------------------------------- */

static void selectors_by_id_class_and_group(void **state)
{
    (void)state;
    struct fx f = {0};
    f.cls[0] = "freezer";
    f.groups[1] = "lab,cellar";
    f.groups[2] = "cellarx";
    start(&f, "version 1\n"
              "rule by-class\n devices class:freezer\n metric t\n above 0\n alert info\nend\n"
              "rule by-group\n devices group:cellar\n metric t\n above 0\n alert info\nend\n"
              "rule by-id\n devices " DEV_C "\n metric t\n above 0\n alert info\nend\n");
    feed(&f, DEV_A, "t", T0, 1);
    feed(&f, DEV_B, "t", T0, 1);
    feed(&f, DEV_C, "t", T0, 1);
    assert_int_equal(f.nalerts, 3);
    assert_string_equal(f.alerts[0].a.rule, "by-class");
    assert_string_equal(f.alerts[0].a.device, DEV_A);
    assert_string_equal(f.alerts[1].a.rule, "by-group");
    assert_string_equal(f.alerts[1].a.device, DEV_B);
    assert_string_equal(f.alerts[2].a.rule, "by-id"); /* "cellarx" is not "cellar" */
    assert_string_equal(f.alerts[2].a.device, DEV_C);
    assert_int_equal(corio_rules_alerts(f.e, NULL, NULL), 3);
    finish(&f);
}

static void instance_cap_refuses_new_pairs(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nmax_instances 2\n"
              "rule hot\n devices all\n metric t\n above 0\n alert info\nend\n");
    feed(&f, DEV_A, "t", T0, 1);
    feed(&f, DEV_B, "t", T0, 1);
    feed(&f, DEV_C, "t", T0, 1); /* not watched */
    feed(&f, DEV_A, "t", T0 + 1, -1);
    assert_int_equal(f.nalerts, 3);
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.instances, 2);
    assert_int_equal(st.instances_refused, 1);
    finish(&f);
}

static void refused_samples(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\nrule hot\n devices all\n metric t\n above 0\n alert info\nend\n");
    assert_int_equal(corio_rules_feed(f.e, "short", "t", T0, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, "AAAAAAAAAAAAAAAAAAAAAAAA", "t", T0, 1),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "", T0, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "bad name", T0, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "t", T0, NAN), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "t", T0, INFINITY), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, NULL, "t", T0, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(NULL, DEV_A, "t", T0, 1), CORIO_ERR_INVAL);
    /* Times outside 1970 .. 9999 (where sums of times and durations could overflow). */
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "t", -1, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "t", INT64_MAX, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_feed(f.e, DEV_A, "t", 253402300800000LL, 1), CORIO_ERR_INVAL);
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.samples_refused, 10);
    assert_int_equal(st.samples, 0);
    assert_int_equal(f.nalerts, 0);
    finish(&f);
}

/* ---- SenML -------------------------------------------------------------------------- */

static void senml_packs_feed_their_numbers(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\n"
              "rule hot\n devices all\n metric temp\n above 30\n alert info\nend\n"
              "rule door\n devices all\n metric door\n above 0.5\n alert info\nend\n"
              "rule energy\n devices all\n metric kwh\n above 100\n alert info\nend\n");
    const char *json = "[{\"bn\":\"urn:corio:" DEV_A ":\",\"bt\":1764500000,\"ep\":1,\"seq\":9,"
                       "\"n\":\"temp\",\"u\":\"Cel\",\"v\":31.5},"
                       "{\"n\":\"label\",\"vs\":\"kitchen\"},"
                       "{\"n\":\"door\",\"vb\":true,\"t\":2},"
                       "{\"n\":\"kwh\",\"s\":120}]";
    int n = corio_rules_feed_senml(f.e, DEV_A, CORIO_FORMAT_JSON, (const uint8_t *)json,
                                   strlen(json), T0 + 777);
    assert_int_equal(n, 3);
    assert_int_equal(f.nalerts, 3);
    assert_string_equal(f.alerts[0].a.rule, "hot");
    assert_int_equal(f.alerts[0].a.t_ms, 1764500000000LL);
    assert_string_equal(f.alerts[1].a.rule, "door");
    assert_int_equal(f.alerts[1].a.t_ms, 1764500002000LL);
    assert_true(f.alerts[1].a.value == 1);
    assert_string_equal(f.alerts[2].a.rule, "energy");
    assert_true(f.alerts[2].a.value == 120);

    /* CBOR, relative times (a device without a clock) resolve against receipt. */
    uint8_t buf[256];
    struct corio_senml_enc enc;
    corio_senml_enc_init(&enc, CORIO_FORMAT_CBOR, buf, sizeof buf);
    struct corio_senml_fields r = {0};
    r.n = "temp";
    r.type = CORIO_SENML_NUMBER;
    r.v = 35;
    r.has = CORIO_SENML_HAS_T;
    r.t = -2;
    corio_senml_enc_add(&enc, &r);
    int len = corio_senml_enc_finish(&enc);
    assert_true(len > 0);
    assert_int_equal(
        corio_rules_feed_senml(f.e, DEV_B, CORIO_FORMAT_CBOR, buf, (size_t)len, T0 + 5000), 1);
    assert_int_equal(f.nalerts, 4);
    assert_string_equal(f.alerts[3].a.device, DEV_B);
    assert_int_equal(f.alerts[3].a.t_ms, T0 + 3000);

    /* All or nothing: a pack naming another device's URN, or broken in its last
     * record, feeds nothing. */
    const char *other = "[{\"n\":\"temp\",\"v\":99},{\"n\":\"urn:corio:" DEV_B ":temp\",\"v\":1}]";
    assert_int_equal(corio_rules_feed_senml(f.e, DEV_C, CORIO_FORMAT_JSON, (const uint8_t *)other,
                                            strlen(other), T0),
                     CORIO_ERR_MALFORMED);
    const char *broken = "[{\"n\":\"temp\",\"v\":99},{\"n\":\"temp\"}]";
    assert_true(corio_rules_feed_senml(f.e, DEV_C, CORIO_FORMAT_JSON, (const uint8_t *)broken,
                                       strlen(broken), T0) < 0);
    const char *long_name = "[{\"n\":\"a-metric-name-that-is-longer-than-sixty-four-bytes-"
                            "which-the-cloud-refuses\",\"v\":1}]";
    assert_int_equal(corio_rules_feed_senml(f.e, DEV_C, CORIO_FORMAT_JSON,
                                            (const uint8_t *)long_name, strlen(long_name), T0),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_rules_feed_senml(f.e, "nope", CORIO_FORMAT_JSON, (const uint8_t *)json,
                                            strlen(json), T0),
                     CORIO_ERR_INVAL);
    assert_int_equal(f.nalerts, 4);
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.packs, 5);
    assert_int_equal(st.packs_refused, 3);
    assert_int_equal(st.records_skipped, 1);
    assert_int_equal(st.samples, 4);
    finish(&f);
}

/* ---- logging ------------------------------------------------------------------------ */

static void raises_and_clears_are_logged(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    corio_log_set_fd(fds[1]);
    struct fx f = {0};
    start(&f, "version 1\nrule hot\n devices all\n metric temp\n above 30\n alert critical\nend\n");
    feed(&f, DEV_A, "temp", T0, 31);
    feed(&f, DEV_A, "temp", T0 + 1, 32);
    feed(&f, DEV_A, "temp", T0 + 2, 29);
    finish(&f);
    corio_log_set_fd(2);
    close(fds[1]);
    char log[8192];
    ssize_t n = read(fds[0], log, sizeof log - 1);
    close(fds[0]);
    assert_true(n > 0);
    log[n] = '\0';
    char *raised = strstr(log, "level=error");
    assert_non_null(raised);
    assert_non_null(strstr(raised, "msg=\"rule raised\" rule=hot device=" DEV_A
                                   " metric=temp condition=above value=31 limit=30 "
                                   "severity=critical"));
    assert_non_null(strstr(log, "msg=\"rule cleared\" rule=hot device=" DEV_A));
    assert_null(strstr(strstr(log, "rule raised") + 1, "rule raised")); /* once */
}

/* ---- anomaly blocks ----------------------------------------------------------------- */

static void anomaly_blocks_send_events_with_the_score(void **state)
{
    (void)state;
    struct fx f = {0};
    start(&f, "version 1\n"
              "anomaly vibration\n devices all\n metrics vib temp\n detector ewma\n"
              " warmup 20\n threshold 6\n alert warning\nend\n"
              "anomaly robust\n devices " DEV_B "\n metrics *\n detector mad\n window 15\nend\n");
    /* A sawtooth with a spike at sample 50. */
    for (int i = 0; i < 100; i++)
        feed(&f, DEV_A, "vib", T0 + 1000 * i, 1 + 0.01 * (i % 7) + (i == 50 ? 5 : 0));
    assert_int_equal(f.nevents, 2);
    json_t *start_ev = f.events[0].json, *end_ev = f.events[1].json;
    assert_string_equal(f.events[0].suffix, CORIO_RULES_EVENT_ANOMALY);
    assert_string_equal(jstr(start_ev, "kind"), "anomaly");
    assert_string_equal(jstr(start_ev, "detector"), "vibration");
    assert_string_equal(jstr(start_ev, "model"), "ewma");
    assert_string_equal(jstr(start_ev, "state"), "started");
    assert_string_equal(jstr(start_ev, "device"), DEV_A);
    assert_string_equal(jstr(start_ev, "metric"), "vib");
    assert_true(jnum(start_ev, "t") == (double)(T0 + 50000));
    assert_true(jnum(start_ev, "value") == 1 + 0.01 * (50 % 7) + 5);
    assert_true(jnum(start_ev, "score") > 6);
    assert_string_equal(jstr(end_ev, "state"), "ended");
    assert_true(jnum(end_ev, "samples") == 1);
    assert_true(jnum(end_ev, "peak") == jnum(start_ev, "score"));
    assert_true(jnum(end_ev, "since") == (double)(T0 + 50000));
    /* The alert pair. */
    assert_int_equal(f.nalerts, 2);
    assert_int_equal(f.alerts[0].a.kind, CORIO_RULE_ANOMALY);
    assert_true(f.alerts[0].a.raised);
    assert_false(f.alerts[1].a.raised);
    assert_string_equal(f.alerts[0].a.rule, "vibration");
    /* B is judged by both blocks ("robust" takes any metric of B's). */
    for (int i = 0; i < 40; i++)
        feed(&f, DEV_B, "hum", T0 + 1000 * i, 40 + (i % 3) + (i == 30 ? 30 : 0));
    assert_int_equal(f.nevents, 4);
    assert_string_equal(jstr(f.events[2].json, "detector"), "robust");
    assert_string_equal(jstr(f.events[2].json, "model"), "mad");
    struct corio_rules_stats st;
    corio_rules_stats(f.e, &st);
    assert_int_equal(st.anomaly_samples, 140);
    assert_int_equal(st.anomaly_series, 2);
    assert_int_equal(st.anomalies_started, 2);
    assert_int_equal(st.anomalies_ended, 2);
    assert_int_equal(st.anomalies_open, 0);
    assert_int_equal(st.events_sent, 4);
    finish(&f);
}

static void bad_arguments(void **state)
{
    (void)state;
    corio_rules *e = NULL;
    char err[64];
    struct corio_rules_options o = {0};
    assert_int_equal(corio_rules_new(NULL, &o, &e, err, sizeof err), CORIO_ERR_INVAL);
    assert_null(e);
    struct corio_rules_conf *c;
    const char *text = "version 1\n";
    assert_int_equal(corio_rules_conf_parse("x", text, strlen(text), NULL, &c, err, sizeof err),
                     CORIO_OK);
    assert_int_equal(corio_rules_new(c, NULL, &e, err, sizeof err), CORIO_ERR_INVAL); /* frees c */
    assert_int_equal(corio_rules_feed_senml(NULL, DEV_A, CORIO_FORMAT_JSON, NULL, 0, 0),
                     CORIO_ERR_INVAL);
    corio_rules_tick(NULL, 0);
    corio_rules_free(NULL);
    assert_true(corio_rules_instance_bytes(CORIO_RULE_ABOVE) <
                corio_rules_instance_bytes(CORIO_RULE_RATE_ABOVE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threshold_above_with_hysteresis),
        cmocka_unit_test(threshold_below_is_the_mirror),
        cmocka_unit_test(threshold_without_clear_level),
        cmocka_unit_test(threshold_ignores_stale_samples),
        cmocka_unit_test(rate_with_irregular_timestamps),
        cmocka_unit_test(rate_with_out_of_order_samples),
        cmocka_unit_test(rate_below_over_a_long_window),
        cmocka_unit_test(absence_with_a_fake_clock),
        cmocka_unit_test(absence_of_a_device_that_left_the_group),
        cmocka_unit_test(absence_when_the_clock_steps_back),
        cmocka_unit_test(commands_carry_seq_cid_expiry_name_and_arguments),
        cmocka_unit_test(failing_callbacks_are_counted),
        cmocka_unit_test(selectors_by_id_class_and_group),
        cmocka_unit_test(instance_cap_refuses_new_pairs),
        cmocka_unit_test(refused_samples),
        cmocka_unit_test(senml_packs_feed_their_numbers),
        cmocka_unit_test(raises_and_clears_are_logged),
        cmocka_unit_test(anomaly_blocks_send_events_with_the_score),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
