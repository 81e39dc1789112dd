/*
 * fuzz_rules_conf.c - libFuzzer target for the gateway's rules file
 * (corio_rules_conf_parse, gateway/rules_conf.c).
 *
 * The input is a rules file. Whatever it holds, the parser must return CORIO_OK or
 * CORIO_ERR_MALFORMED with one line naming the file (or CORIO_ERR_NOSPACE), and what it
 * accepts must keep the promises rules.h makes: valid names, consistent clear levels,
 * windows and durations in range, command arguments that are well-formed deterministic
 * CBOR within their cap, models within the engine's limits. A small accepted file is
 * then run by the engine over samples that cross every rule's levels, so the engine
 * meets every shape of rule the parser lets through.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/error.h"
#include "corio/senml.h"
#include "corio_log.h"
#include "rules.h"

#define NAME "dir/fuzz.rules"
#define DEV  "aaaaaaaaaaaaaaaaaaaaaaaa"

static int sink_event(void *ctx, const char *suffix, const uint8_t *payload, size_t len)
{
    (void)ctx, (void)suffix, (void)payload, (void)len;
    return 0;
}

static int sink_cmd(void *ctx, const char *dev, const char *topic, const uint8_t *cbor, size_t len)
{
    (void)ctx, (void)dev, (void)topic;
    if (corio_cbor_deterministic(cbor, len) != CORIO_OK)
        abort();
    return 0;
}

static void check_rule(const struct corio_rule *r)
{
    size_t ml = strlen(r->metric);
    if (!r->name[0] || ml == 0 || ml > CORIO_EDGE_METRIC_MAX ||
        !corio_senml_name_valid(r->metric, ml))
        abort();
    switch (r->kind) {
    case CORIO_RULE_ABOVE:
    case CORIO_RULE_RATE_ABOVE:
        if (r->clear > r->limit)
            abort();
        break;
    case CORIO_RULE_BELOW:
    case CORIO_RULE_RATE_BELOW:
        if (r->clear < r->limit)
            abort();
        break;
    case CORIO_RULE_ABSENT:
        if (r->absent_ms < 1000)
            abort();
        break;
    default:
        abort();
    }
    if ((r->kind == CORIO_RULE_RATE_ABOVE || r->kind == CORIO_RULE_RATE_BELOW) !=
        (r->window_ms > 0))
        abort();
    if (r->nraise > CORIO_RULES_MAX_COMMANDS || r->nclear > CORIO_RULES_MAX_COMMANDS ||
        r->expires_ms < 1000)
        abort();
    for (size_t k = 0; k < r->nraise + r->nclear; k++) {
        const struct corio_rules_command *c =
            k < r->nraise ? &r->raise_cmds[k] : &r->clear_cmds[k - r->nraise];
        if (!c->name[0] || (!c->self && strlen(c->device) != CORIO_EDGE_DEVICE_LEN))
            abort();
        if (c->args && (c->args_len == 0 || c->args_len > CORIO_RULES_ARGS_MAX ||
                        corio_cbor_deterministic(c->args, c->args_len) != CORIO_OK))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    if (quiet < 0) {
        quiet = open("/dev/null", O_WRONLY);
        corio_log_set_fd(quiet >= 0 ? quiet : 2);
    }
    struct corio_rules_conf *c = NULL;
    char err[512];
    err[0] = '\0';
    int rc = corio_rules_conf_parse(NAME, (const char *)data, size, NULL, &c, err, sizeof err);
    if (rc == CORIO_ERR_MALFORMED) {
        if (c || strncmp(err, NAME, strlen(NAME)) != 0 || strchr(err, '\n'))
            abort();
        return 0;
    }
    if (rc == CORIO_ERR_NOSPACE)
        return 0;
    if (rc != CORIO_OK || !c)
        abort();
    for (size_t i = 0; i < c->nrules; i++)
        check_rule(&c->rules[i]);
    for (size_t i = 0; i < c->ndetectors; i++) {
        const struct corio_rules_detector *d = &c->detectors[i];
        if (!d->model || d->shape.window > CORIO_EDGE_WINDOW_MAX ||
            d->shape.state_size > CORIO_EDGE_STATE_MAX || d->max_series < 1 ||
            (!d->all_metrics && d->nmetrics == 0))
            abort();
    }
    if (c->nrules + c->ndetectors > 32) {
        corio_rules_conf_free(c);
        return 0;
    }
    /* Run what was accepted. */
    struct corio_rules_options o = {
        .now_ms = 1000000, .seq_start = 1, .ops = {.command = sink_cmd, .event = sink_event}};
    corio_rules *e;
    if (corio_rules_new(c, &o, &e, err, sizeof err) != CORIO_OK)
        return 0;
    int64_t t = 1000000;
    for (size_t i = 0; i < c->nrules; i++) {
        const struct corio_rule *r = &c->rules[i];
        const double vals[] = {r->limit - 1, r->limit + 1, r->clear - 1, r->clear + 1, 0};
        for (size_t k = 0; k < 5; k++) {
            t += 1000;
            corio_rules_feed(e, DEV, r->metric, t, vals[k] * (double)(t / 1000));
        }
        corio_rules_tick(e, t + r->absent_ms);
    }
    for (size_t i = 0; i < c->ndetectors; i++)
        for (int k = 0; k < 80; k++)
            corio_rules_feed(e, DEV, c->detectors[i].all_metrics ? "x" : c->detectors[i].metrics[0],
                             t + k, k == 70 ? 1e6 : k % 3);
    corio_rules_free(e);
    return 0;
}
