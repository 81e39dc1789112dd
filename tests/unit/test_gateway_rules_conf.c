/* test_gateway_rules_conf.c - the rules file (rules_conf.c, docs/edge-rules.md): the
 * documented example parses to what it says; every mistake is refused with one line
 * "<file>:<line>: <what>" naming the right line; hostile bytes; model files read
 * relative to the rules file and handed to the model's init. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "corio/error.h"
#include "rules.h"

#define DEV_A "aaaaaaaaaaaaaaaaaaaaaaaa"
#define FAN   "ffffffffffffffffffffffff"

static struct corio_rules_conf *parse_ok(const char *text)
{
    struct corio_rules_conf *c = NULL;
    char err[512] = "";
    if (corio_rules_conf_parse("t.rules", text, strlen(text), NULL, &c, err, sizeof err) !=
        CORIO_OK)
        fail_msg("refused: %s", err);
    return c;
}

/* The text is refused with exactly one line that starts with want_prefix and holds
 * want. */
static void refused(const char *text, size_t len, const char *want_prefix, const char *want)
{
    struct corio_rules_conf *c = (struct corio_rules_conf *)1;
    char err[512] = "";
    int rc = corio_rules_conf_parse("t.rules", text, len, NULL, &c, err, sizeof err);
    if (rc != CORIO_ERR_MALFORMED)
        fail_msg("%.60s: rc %d (%s), want MALFORMED", text, rc, err);
    assert_null(c);
    if (strncmp(err, want_prefix, strlen(want_prefix)) != 0 || !strstr(err, want) ||
        strchr(err, '\n'))
        fail_msg("'%s' is not '%s...%s'", err, want_prefix, want);
}

#define REFUSED(text, line, want) refused(text, strlen(text), "t.rules:" #line ": ", want)

/* The example of docs/edge-rules.md. */
static const char example[] = "# /etc/corio/rules.conf\n"
                              "version 1\n"
                              "command_expiry 2m\n"
                              "\n"
                              "rule freezer-warm\n"
                              "    devices    group:freezers class:freezer " DEV_A "\n"
                              "    metric     temp\n"
                              "    above      -15            # raise above -15 °C\n"
                              "    clear_below -18           # clear below -18 °C\n"
                              "    alert      critical\n"
                              "    command    " FAN " fan speed=3 mode=max\n"
                              "    clear_command " FAN " fan speed=0\n"
                              "    event\n"
                              "end\n"
                              "\n"
                              "rule pressure-drop\n"
                              "    devices    class:pump\n"
                              "    metric     pressure\n"
                              "    rate_below -0.5\n"
                              "    clear_above -0.1\n"
                              "    window     1m\n"
                              "    alert      warning\n"
                              "    command    self valve close=true note=\"pressure falling\"\n"
                              "    expires    30s\n"
                              "    event\n"
                              "end\n"
                              "\n"
                              "rule silent\n"
                              "    devices    all\n"
                              "    metric     temp\n"
                              "    absent     10m\n"
                              "    alert      warning\n"
                              "end\n"
                              "\n"
                              "anomaly vibration\n"
                              "    devices    class:pump\n"
                              "    metrics    vib rpm\n"
                              "    detector   ewma\n"
                              "    alpha      0.05\n"
                              "    threshold  5\n"
                              "    warmup     50\n"
                              "    max_series 2000\n"
                              "    alert      info\n"
                              "end\n"
                              "\n"
                              "anomaly everything\n"
                              "    devices    all\n"
                              "    metrics    *\n"
                              "    detector   mad\n"
                              "    window     31\n"
                              "end\n";

static void the_documented_example(void **state)
{
    (void)state;
    struct corio_rules_conf *c = parse_ok(example);
    assert_int_equal(c->nrules, 3);
    assert_int_equal(c->ndetectors, 2);
    assert_int_equal(c->max_instances, 16384);
    assert_int_equal(c->command_expiry_ms, 120000);

    const struct corio_rule *r = &c->rules[0];
    assert_string_equal(r->name, "freezer-warm");
    assert_int_equal(r->line, 5);
    assert_false(r->select.all);
    assert_int_equal(r->select.ngroups, 1);
    assert_string_equal(r->select.groups[0], "freezers");
    assert_int_equal(r->select.nclasses, 1);
    assert_string_equal(r->select.classes[0], "freezer");
    assert_int_equal(r->select.nids, 1);
    assert_string_equal(r->select.ids[0], DEV_A);
    assert_string_equal(r->metric, "temp");
    assert_int_equal(r->kind, CORIO_RULE_ABOVE);
    assert_true(r->limit == -15 && r->clear == -18);
    assert_int_equal(r->alert, CORIO_SEV_CRITICAL);
    assert_true(r->event);
    assert_int_equal(r->expires_ms, 120000);
    assert_int_equal(r->nraise, 1);
    assert_int_equal(r->nclear, 1);
    assert_false(r->raise_cmds[0].self);
    assert_string_equal(r->raise_cmds[0].device, FAN);
    assert_string_equal(r->raise_cmds[0].name, "fan");
    assert_int_equal(r->raise_cmds[0].line, 11);
    /* clang-format off */
    const uint8_t args[] = {0xa2, 0x64, 'm', 'o', 'd', 'e', 0x63, 'm', 'a', 'x',
                            0x65, 's', 'p', 'e', 'e', 'd', 0x03};
    /* clang-format on */
    assert_int_equal(r->raise_cmds[0].args_len, sizeof args);
    assert_memory_equal(r->raise_cmds[0].args, args, sizeof args);

    r = &c->rules[1];
    assert_int_equal(r->kind, CORIO_RULE_RATE_BELOW);
    assert_true(r->limit == -0.5 && r->clear == -0.1);
    assert_int_equal(r->window_ms, 60000);
    assert_int_equal(r->expires_ms, 30000);
    assert_true(r->raise_cmds[0].self);
    /* clang-format off */
    const uint8_t valve[] = {0xa2, 0x64, 'n', 'o', 't', 'e', 0x70, 'p', 'r', 'e', 's', 's', 'u',
                             'r', 'e', ' ', 'f', 'a', 'l', 'l', 'i', 'n', 'g', 0x65, 'c', 'l',
                             'o', 's', 'e', 0xf5};
    /* clang-format on */
    assert_int_equal(r->raise_cmds[0].args_len, sizeof valve);
    assert_memory_equal(r->raise_cmds[0].args, valve, sizeof valve);

    r = &c->rules[2];
    assert_int_equal(r->kind, CORIO_RULE_ABSENT);
    assert_int_equal(r->absent_ms, 600000);
    assert_true(r->select.all);
    assert_false(r->event);
    assert_int_equal(r->nraise, 0);

    const struct corio_rules_detector *d = &c->detectors[0];
    assert_string_equal(d->name, "vibration");
    assert_ptr_equal(d->model, &corio_edge_model_ewma);
    assert_int_equal(d->nmetrics, 2);
    assert_string_equal(d->metrics[1], "rpm");
    assert_int_equal(d->max_series, 2000);
    assert_int_equal(d->alert, CORIO_SEV_INFO);
    assert_int_equal(d->shape.window, 0);
    d = &c->detectors[1];
    assert_ptr_equal(d->model, &corio_edge_model_mad);
    assert_true(d->all_metrics);
    assert_int_equal(d->shape.window, 31);
    assert_int_equal(d->max_series, 4096);
    corio_rules_conf_free(c);
}

/* Windows line ends, a byte order mark, tabs, comments, '#' inside a value. */
static void layout_is_forgiving(void **state)
{
    (void)state;
    struct corio_rules_conf *c =
        parse_ok("\xef\xbb\xbfversion 1\r\n"
                 "# a comment\r\n"
                 "   \t\r\n"
                 "rule\tx # the name\r\n"
                 "\tdevices all\r\n\tmetric t\r\n\tabove 1e2\r\n"
                 "\tcommand self paint color=\"#ff0000\" label=\"a # b\"\r\n"
                 "end\r\n"
                 "rule y\n devices all\n metric t\n below -.5\n command self x \"42\"\nend");
    assert_int_equal(c->nrules, 2);
    assert_true(c->rules[0].limit == 100);
    /* clang-format off */
    const uint8_t args[] = {0xa2, 0x65, 'c', 'o', 'l', 'o', 'r', 0x67, '#', 'f', 'f', '0', '0',
                            '0', '0', 0x65, 'l', 'a', 'b', 'e', 'l', 0x65, 'a', ' ', '#', ' ', 'b'};
    /* clang-format on */
    assert_int_equal(c->rules[0].raise_cmds[0].args_len, sizeof args);
    assert_memory_equal(c->rules[0].raise_cmds[0].args, args, sizeof args);
    assert_true(c->rules[1].limit == -0.5);
    /* A quoted bare value stays text. */
    const uint8_t text42[] = {0x62, '4', '2'};
    assert_memory_equal(c->rules[1].raise_cmds[0].args, text42, sizeof text42);
    corio_rules_conf_free(c);
    /* Nothing but the version is a valid, empty file. */
    c = parse_ok("version 1\n");
    assert_int_equal(c->nrules + c->ndetectors, 0);
    corio_rules_conf_free(c);
}

static void argument_types(void **state)
{
    (void)state;
    struct corio_rules_conf *c =
        parse_ok("version 1\nrule x\n devices all\n metric t\n above 0\n"
                 " command self a i=-9223372036854775808 u=9223372036854775807 f=-2.5e-3 "
                 "t=false w=word q=\"\" e=1e3\n"
                 "end\n");
    const struct corio_rules_command *cmd = &c->rules[0].raise_cmds[0];
    /* {"e": 1000.0, "f": -0.0025, "i": INT64_MIN, "q": "", "t": false, "u": INT64_MAX,
     * "w": "word"}: 1e3 is written as a number, so it is a float; it is integral, and
     * the shortest float that keeps it is binary16. */
    /* clang-format off */
    const uint8_t want[] = {0xa7,
                            0x61, 'e', 0xf9, 0x63, 0xd0,
                            0x61, 'f', 0xfb, 0xbf, 0x64, 0x7a, 0xe1, 0x47, 0xae, 0x14, 0x7b,
                            0x61, 'i', 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0x61, 'q', 0x60,
                            0x61, 't', 0xf4,
                            0x61, 'u', 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0x61, 'w', 0x64, 'w', 'o', 'r', 'd'};
    /* clang-format on */
    assert_int_equal(cmd->args_len, sizeof want);
    assert_memory_equal(cmd->args, want, sizeof want);
    corio_rules_conf_free(c);
}

static void mistakes_name_the_line(void **state)
{
    (void)state;
    /* The file as a whole. */
    refused("", 0, "t.rules: ", "must start with 'version 1'");
    REFUSED("rule x\n", 1, "must start with 'version 1'");
    REFUSED("# c\nversion 2\n", 2, "rules file version '2' is not known");
    REFUSED("version 1\nversion 1\n", 2, "'version' given twice");
    REFUSED("version 1\nlisten 80\n", 2, "unknown key 'listen'");
    REFUSED("version 1\nend\n", 2, "'end' without a block");
    REFUSED("version 1\nmax_instances 0\n", 2, "'max_instances' must be a whole number");
    REFUSED("version 1\nmax_instances 5\nmax_instances 6\n", 3, "given twice (first at line 2)");
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 1\nend\nmax_instances 5\n", 7,
            "must come before the first block");
    REFUSED("version 1\ncommand_expiry 0s\n", 2, "'command_expiry' must be between 1000ms");
    /* Blocks. */
    REFUSED("version 1\n\nrule a\n devices all\n metric t\n above 1\n", 3,
            "the rule block 'a' has no 'end'");
    REFUSED("version 1\nrule a\n devices all\nrule b\n", 4,
            "'rule' inside the rule block of line 2");
    REFUSED("version 1\nrule a\n devices all\nanomaly b\n", 4, "'anomaly' inside");
    REFUSED("version 1\nrule -a\n", 2, "'-a' is not a rule name");
    REFUSED("version 1\nrule a b\n", 2, "'rule' takes 1 value, got 2");
    REFUSED("version 1\nrule\n", 2, "'rule' needs a value");
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 1\nend\nrule a\n", 7,
            "the name 'a' is already used at line 2");
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 1\nend x\n", 6,
            "'end' takes 0 values, got 1");
    /* What a rule needs. */
    REFUSED("version 1\nrule a\n metric t\n above 1\nend\n", 2, "rule 'a' needs a 'devices' line");
    REFUSED("version 1\nrule a\n devices all\n above 1\nend\n", 2,
            "rule 'a' needs a 'metric' line");
    REFUSED("version 1\nrule a\n devices all\n metric t\nend\n", 2, "needs a condition");
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 1\n below 0\nend\n", 6,
            "a rule has one condition; this one has 'above' at line 5 already");
    REFUSED("version 1\nrule a\n devices all\n metric t\n metric u\n", 5,
            "'metric' given twice in this block (first at line 4)");
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 1\n speed 3\n", 6,
            "unknown key 'speed' in a rule");
    /* Conditions and clear levels. */
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 10\n clear_below 12\nend\n", 6,
            "clear_below (12) must not be above the above limit (10)");
    REFUSED("version 1\nrule a\n devices all\n metric t\n below 5\n clear_above 3\nend\n", 6,
            "clear_above (3) must not be below the below limit (5)");
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 10\n clear_above 12\nend\n", 6,
            "'above' clears with clear_below, not clear_above");
    REFUSED("version 1\nrule a\n devices all\n metric t\n rate_below -1\n clear_below 0\n"
            " window 1m\nend\n",
            6, "'rate_below' clears with clear_above");
    REFUSED("version 1\nrule a\n devices all\n metric t\n absent 1m\n clear_below 0\nend\n", 6,
            "an absence clears when a sample arrives");
    REFUSED("version 1\nrule a\n devices all\n metric t\n clear_below 1\n clear_above 2\n", 6,
            "a rule has one clear level; this one has 'clear_below' at line 5 already");
    REFUSED("version 1\nrule a\n devices all\n metric t\n rate_above 1\nend\n", 2,
            "rule 'a' needs a 'window' line for rate_above");
    REFUSED("version 1\nrule a\n devices all\n metric t\n above 1\n window 1m\nend\n", 6,
            "'window' applies to rate_above and rate_below only");
    REFUSED("version 1\nrule a\n above hot\n", 3, "'above' wants a number like 42");
    REFUSED("version 1\nrule a\n above nan\n", 3, "'above' wants a number");
    REFUSED("version 1\nrule a\n above inf\n", 3, "'above' wants a number");
    REFUSED("version 1\nrule a\n above 1e400\n", 3, "'above' wants a number");
    REFUSED("version 1\nrule a\n above 0x10\n", 3, "'above' wants a number");
    REFUSED("version 1\nrule a\n above .\n", 3, "'above' wants a number");
    REFUSED("version 1\nrule a\n above 1e\n", 3, "'above' wants a number");
    REFUSED("version 1\nrule a\n above\n", 3, "'above' needs a value");
    REFUSED("version 1\nrule a\n absent 5\n", 3, "'absent' wants a duration like 500ms");
    REFUSED("version 1\nrule a\n absent 500ms\n", 3, "'absent' must be between 1000ms");
    REFUSED("version 1\nrule a\n absent 8d\n", 3, "'absent' must be between");
    REFUSED("version 1\nrule a\n absent 99999999999999999999d\n", 3, "wants a duration");
    REFUSED("version 1\nrule a\n window 1.5s\n", 3, "'window' wants a duration");
    REFUSED("version 1\nrule a\n expires 0s\n", 3, "'expires' must be between");
    /* Selectors and names. */
    REFUSED("version 1\nrule a\n devices foo\n", 3, "'foo' is not a device selector");
    REFUSED("version 1\nrule a\n devices\n", 3, "'devices' needs all, device ids");
    REFUSED("version 1\nrule a\n devices all group:x\n", 3, "cannot be combined");
    REFUSED("version 1\nrule a\n devices class:\n", 3, "'' is not a valid class name");
    REFUSED("version 1\nrule a\n devices group:a,b\n", 3, "'a,b' is not a valid group name");
    REFUSED("version 1\nrule a\n devices aaaaaaaaaaaaaaaaaaaaaaa1\n", 3,
            "is not a device selector");
    REFUSED("version 1\nrule a\n metric bad name\n", 3, "'metric' takes 1 value, got 2");
    REFUSED("version 1\nrule a\n metric -x\n", 3, "'-x' is not a metric name");
    REFUSED("version 1\nrule a\n metric "
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
            3, "is not a metric name");
    REFUSED("version 1\nrule a\n alert loud\n", 3, "'alert' wants info, warning or critical");
    REFUSED("version 1\nrule a\n event yes\n", 3, "'event' takes 0 values, got 1");
    REFUSED("version 1\nrule a\n event\n event\n", 4, "'event' given twice");
    /* Commands. */
    REFUSED("version 1\nrule a\n command self\n", 3, "'command' needs a device");
    REFUSED("version 1\nrule a\n command nobody fan\n", 3, "'nobody' is not a device");
    REFUSED("version 1\nrule a\n command self f@n\n", 3, "'f@n' is not a command name");
    REFUSED("version 1\nrule a\n command self fan a=1 b\n", 3, "'b': write arguments as key=value");
    REFUSED("version 1\nrule a\n command self fan a=1 a=2\n", 3, "argument 'a' given twice");
    REFUSED("version 1\nrule a\n command self fan a=\n", 3, "has an empty value");
    REFUSED("version 1\nrule a\n command self fan =1\n", 3, "'' is not an argument name");
    REFUSED("version 1\nrule a\n command self fan a=\"x\n", 3, "a quote is not closed");
    REFUSED("version 1\nrule a\n command self fan a=x\"y\"\n", 3,
            "a quote must wrap a whole value");
    REFUSED("version 1\nrule a\n command self fan a=\"x\"y\n", 3,
            "a quote must wrap a whole value");
    REFUSED("version 1\nrule a\n command self fan n=99999999999999999999\n", 3,
            "integer argument '99999999999999999999' is out of range");
    REFUSED("version 1\nrule a\n command self fan n=-9223372036854775809\n", 3, "out of range");
    REFUSED("version 1\nrule a\n clear_command self\n", 3, "'clear_command' needs a device");
    char many[2048];
    int o = snprintf(many, sizeof many, "version 1\nrule a\n");
    for (int i = 0; i < 9; i++)
        o += snprintf(many + o, sizeof many - (size_t)o, " command self c%d\n", i);
    REFUSED(many, 11, "more than 8 'command' lines in one rule");
    o = snprintf(many, sizeof many, "version 1\nrule a\n command self c");
    for (int i = 0; i < 17; i++)
        o += snprintf(many + o, sizeof many - (size_t)o, " k%d=1", i);
    snprintf(many + o, sizeof many - (size_t)o, "\n");
    REFUSED(many, 3, "more than 16 command arguments");
    o = snprintf(many, sizeof many, "version 1\nrule a\n command self c");
    for (int i = 0; i < 8; i++)
        o += snprintf(many + o, sizeof many - (size_t)o,
                      " k%d=\"0123456789012345678901234567890123456789012345678901234567890\"", i);
    snprintf(many + o, sizeof many - (size_t)o, "\n");
    REFUSED(many, 3, "command arguments take more than 512 bytes");
    /* Anomaly blocks. */
    REFUSED("version 1\nanomaly v\n devices all\nend\n", 2, "needs a 'metrics' line");
    REFUSED("version 1\nanomaly v\n metrics *\nend\n", 2, "needs a 'devices' line");
    REFUSED("version 1\nanomaly v\n metrics * temp\n", 3, "'metrics *' cannot be combined");
    REFUSED("version 1\nanomaly v\n metrics\n", 3, "'metrics' needs metric names");
    REFUSED("version 1\nanomaly v\n metrics te mp?\n", 3, "'mp?' is not a metric name");
    REFUSED("version 1\nanomaly v\n detector tflite\n", 3,
            "unknown detector 'tflite' (known: ewma, mad)");
    REFUSED("version 1\nanomaly v\n max_series 0\n", 3, "'max_series' must be a whole number");
    REFUSED("version 1\nanomaly v\n devices all\n metrics *\n\n alpha 2\nend\n", 6,
            "'alpha' must be a number above 0 and at most 1, got '2'");
    REFUSED("version 1\nanomaly v\n devices all\n metrics *\n speed 3\n alpha 0.1\nend\n", 5,
            "unknown key 'speed' in an anomaly block with detector ewma");
    REFUSED("version 1\nanomaly v\n devices all\n metrics *\n detector mad\n window 10\n"
            " warmup 12\nend\n",
            7, "'warmup' (12) must not be above 'window' (10)");
    REFUSED("version 1\nanomaly v\n alpha 1 2\n", 3, "model parameter 'alpha' takes one value");
    REFUSED("version 1\nanomaly v\n alpha 0.1\n alpha 0.2\n", 4,
            "'alpha' given twice in this block");
    REFUSED("version 1\nanomaly v\n model_file m.bin\n", 3,
            "model files are not read when parsing text");
    REFUSED("version 1\nanomaly v\n devices all\n metrics *\n alert info\nend\nrule v\n", 7,
            "the name 'v' is already used at line 2");
}

static void hostile_bytes(void **state)
{
    (void)state;
    refused("version 1\nrule a\0\n", 18, "t.rules:2: ", "NUL byte in line");
    REFUSED("version 1\nrule a\x01\n", 2, "control character 0x01 in line");
    REFUSED("version 1\nrule a\x7f\n", 2, "control character 0x7f");
    REFUSED("version 1\nrule a\n command self c t=\"\xff\"\n", 3,
            "command argument text is not UTF-8");
    REFUSED("version 1\nrule a\n command self c t=\xc3\n", 3, "not UTF-8");
    REFUSED("version 1\nrule a\n command self c t=\xed\xa0\x80\n", 3, "not UTF-8"); /* surrogate */
    REFUSED("version 1\nrule a\n command self c t=\xc0\xaf\n", 3, "not UTF-8");     /* overlong */
    /* Echoed text is cut and shows unprintable bytes as '?'. */
    REFUSED("version 1\n\xe2\x80\xaeliste\n", 2, "unknown key '???liste'");
    REFUSED("version 1\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
            2, "unknown key 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
    /* Valid UTF-8 in text is fine. */
    struct corio_rules_conf *c = parse_ok("version 1\nrule a\n devices all\n metric t\n above 1\n"
                                          " command self show msg=\"température élevée\"\nend\n");
    corio_rules_conf_free(c);
    /* Long lines and large files. */
    size_t n = 5000;
    char *line = malloc(n + 32);
    memcpy(line, "version 1\n#", 11);
    memset(line + 11, 'x', n);
    refused(line, n + 11, "t.rules:2: ", "line longer than 4096 bytes");
    free(line);
    size_t big = CORIO_RULES_FILE_MAX + 1;
    char *file = malloc(big);
    memset(file, '\n', big);
    memcpy(file, "version 1", 9);
    refused(file, big, "t.rules: ", "larger than");
    free(file);
    /* Arguments. */
    assert_int_equal(corio_rules_conf_parse("x", NULL, 1, NULL, &c, NULL, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_rules_conf_parse("x", "", 0, NULL, NULL, NULL, 0), CORIO_ERR_INVAL);
    /* Without an error buffer the result is the same. */
    assert_int_equal(corio_rules_conf_parse("x", "rule", 4, NULL, &c, NULL, 0),
                     CORIO_ERR_MALFORMED);
}

/* ---- files -------------------------------------------------------------------------- */

struct tmp {
    char dir[64];
    char path[3][128];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* A model that keeps the size and first byte of its blob, to show what init got. */
static size_t seen_blob_len;
static int seen_blob_first;

static int blob_init(void **model, struct corio_edge_shape *shape, const uint8_t *blob,
                     size_t blob_len, const struct corio_edge_param *params, size_t nparams,
                     size_t *bad, char *err, size_t errlen)
{
    (void)params;
    if (nparams || !blob) {
        *bad = nparams ? 0 : nparams;
        snprintf(err, errlen, "the blob model needs a model file and no parameters");
        return CORIO_ERR_INVAL;
    }
    seen_blob_len = blob_len;
    seen_blob_first = blob_len ? blob[0] : -1;
    *model = NULL;
    shape->window = 4;
    shape->state_size = 0;
    return CORIO_OK;
}

static int blob_infer(const void *model, void *state, const struct corio_edge_window *w, int64_t t,
                      double x, struct corio_edge_result *out)
{
    (void)model, (void)state, (void)w, (void)t, (void)x;
    memset(out, 0, sizeof *out);
    out->verdict = CORIO_EDGE_NORMAL;
    return CORIO_OK;
}

static const struct corio_edge_model blob_model = {
    .name = "blob", .init = blob_init, .free = NULL, .infer = blob_infer};

static void model_files_are_read_beside_the_rules_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/corio-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rules[128], model[128], err[512];
    snprintf(rules, sizeof rules, "%s/rules.conf", dir);
    snprintf(model, sizeof model, "%s/m.tflite", dir);
    write_file(model, "TFL3 model bytes");

    /* The built-in detectors refuse a model file: the error names its line. */
    write_file(rules,
               "version 1\nanomaly v\n devices all\n metrics *\n model_file m.tflite\nend\n");
    struct corio_rules_conf *c = NULL;
    assert_int_equal(corio_rules_conf_load(rules, &c, err, sizeof err), CORIO_ERR_MALFORMED);
    char want[256];
    snprintf(want, sizeof want, "%s:5: the ewma detector takes no model file", rules);
    assert_string_equal(err, want);

    /* A model that takes one gets the file's bytes, found relative to the rules file. */
    const struct corio_edge_model *models[] = {&blob_model, NULL};
    struct corio_rules_parse_opts opts = {.models = models, .read_files = true};
    const char *text = "version 1\nanomaly v\n devices all\n metrics *\n detector blob\n"
                       " model_file m.tflite\nend\n";
    assert_int_equal(corio_rules_conf_parse(rules, text, strlen(text), &opts, &c, err, sizeof err),
                     CORIO_OK);
    assert_int_equal(seen_blob_len, 16);
    assert_int_equal(seen_blob_first, 'T');
    assert_ptr_equal(c->detectors[0].model, &blob_model);
    assert_int_equal(c->detectors[0].shape.window, 4);
    corio_rules_conf_free(c);
    /* Without it, the model's own complaint names the block's line. */
    text = "version 1\n\nanomaly v\n devices all\n metrics *\n detector blob\nend\n";
    assert_int_equal(corio_rules_conf_parse(rules, text, strlen(text), &opts, &c, err, sizeof err),
                     CORIO_ERR_MALFORMED);
    snprintf(want, sizeof want, "%s:3: the blob model needs a model file", rules);
    assert_memory_equal(err, want, strlen(want));

    /* A model file that is not there. */
    text = "version 1\nanomaly v\n model_file gone.tflite\n";
    assert_int_equal(corio_rules_conf_parse(rules, text, strlen(text), &opts, &c, err, sizeof err),
                     CORIO_ERR_IO);
    snprintf(want, sizeof want, "%s:3: %s/gone.tflite: No such file or directory", rules, dir);
    assert_string_equal(err, want);

    /* A rules file that is not there. */
    char gone[160];
    snprintf(gone, sizeof gone, "%s/none.conf", dir);
    assert_int_equal(corio_rules_conf_load(gone, &c, err, sizeof err), CORIO_ERR_IO);
    snprintf(want, sizeof want, "%s: No such file or directory", gone);
    assert_string_equal(err, want);

    /* The documented example, from a file. */
    write_file(rules, example);
    assert_int_equal(corio_rules_conf_load(rules, &c, err, sizeof err), CORIO_OK);
    assert_int_equal(c->nrules, 3);
    assert_string_equal(c->name, rules);
    corio_rules_conf_free(c);

    unlink(rules);
    unlink(model);
    rmdir(dir);
}

static void names_of_things(void **state)
{
    (void)state;
    assert_string_equal(corio_severity_name(CORIO_SEV_NONE), "none");
    assert_string_equal(corio_severity_name(CORIO_SEV_WARNING), "warning");
    assert_string_equal(corio_rule_kind_name(CORIO_RULE_RATE_BELOW), "rate_below");
    assert_string_equal(corio_rule_kind_name(CORIO_RULE_ANOMALY), "anomaly");
    corio_rules_conf_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_documented_example),
        cmocka_unit_test(layout_is_forgiving),
        cmocka_unit_test(argument_types),
        cmocka_unit_test(mistakes_name_the_line),
        cmocka_unit_test(hostile_bytes),
        cmocka_unit_test(model_files_are_read_beside_the_rules_file),
        cmocka_unit_test(names_of_things),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
