/*
 * test_topic.c - the DESIGN.md §4 topics (include/corio/topic.h): every topic built
 * and parsed back, wildcard filters, short id validation, CoAP paths, and every way
 * a topic can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/topic.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char id[] = "abcdefghijklmnopqrstuvwx";
static const char gw[] = "234567abcdefghijklmnopqr";

static int parse_z(const char *s, struct corio_topic *t)
{
    char *c = malloc(strlen(s) + 1); /* exact size for ASan: the NUL is not passed */
    memcpy(c, s, strlen(s) + 1);
    int rc = corio_topic_parse(c, strlen(s), t);
    free(c);
    return rc;
}

static void build_and_parse_every_topic(void **state)
{
    (void)state;
    static const char *const want[CORIO_TOPIC_COUNT] = {
        "corio/v1/d/abcdefghijklmnopqrstuvwx/up/json",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/up/cbor",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/up/evt",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/up/hb",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/up/res",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/up/cfg",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/up/ota",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/dn/cmd",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/dn/cfg",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/dn/ota",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/dn/time",
        "corio/v1/g/234567abcdefghijklmnopqr/batch",
        "corio/v1/g/234567abcdefghijklmnopqr/ack",
        "corio/v1/g/234567abcdefghijklmnopqr/down",
        "corio/v1/g/234567abcdefghijklmnopqr/state",
        "corio/v1/d/abcdefghijklmnopqrstuvwx/dn/resend",
    };
    for (int k = 0; k < CORIO_TOPIC_COUNT; k++) {
        char out[CORIO_TOPIC_MAX];
        bool device = corio_topic_is_device((enum corio_topic_kind)k);
        assert_int_equal(device, k <= CORIO_TOPIC_DN_TIME || k == CORIO_TOPIC_DN_RESEND);
        int n = corio_topic_build((enum corio_topic_kind)k, device ? id : gw, out, sizeof out);
        assert_int_equal(n, strlen(want[k]));
        assert_string_equal(out, want[k]);
        /* Exactly enough room, and one byte less. */
        assert_int_equal(corio_topic_build((enum corio_topic_kind)k, device ? id : gw, out,
                                           (size_t)n + 1),
                         n);
        assert_int_equal(corio_topic_build((enum corio_topic_kind)k, device ? id : gw, out,
                                           (size_t)n),
                         CORIO_ERR_NOSPACE);
        struct corio_topic t;
        assert_int_equal(parse_z(want[k], &t), CORIO_OK);
        assert_int_equal(t.kind, k);
        assert_string_equal(t.id, device ? id : gw);
        /* The suffix as the outbox stores it. */
        const char *suffix = corio_topic_suffix((enum corio_topic_kind)k);
        assert_non_null(suffix);
        assert_string_equal(suffix, want[k] + strlen("corio/v1/d/") + 25);
        if (device) {
            assert_int_equal(corio_topic_suffix_kind(suffix, strlen(suffix)), k);
            /* CoAP resource path. */
            const char *path = want[k] + strlen("corio/v1/");
            assert_int_equal(corio_topic_parse_path(path, strlen(path), &t), CORIO_OK);
            assert_int_equal(t.kind, k);
            assert_string_equal(t.id, id);
        } else {
            assert_int_equal(corio_topic_suffix_kind(suffix, strlen(suffix)), CORIO_ERR_NOTFOUND);
            const char *path = want[k] + strlen("corio/v1/");
            assert_int_equal(corio_topic_parse_path(path, strlen(path), &t), CORIO_ERR_MALFORMED);
        }
    }
    assert_null(corio_topic_suffix(CORIO_TOPIC_COUNT));
    char out[CORIO_TOPIC_MAX];
    assert_int_equal(corio_topic_build(CORIO_TOPIC_COUNT, id, out, sizeof out), CORIO_ERR_INVAL);
}

static void wildcard_filters(void **state)
{
    (void)state;
    char out[CORIO_TOPIC_MAX];
    assert_int_equal(corio_topic_build(CORIO_TOPIC_UP_JSON, NULL, out, sizeof out), 20);
    assert_string_equal(out, "corio/v1/d/+/up/json");
    assert_int_equal(corio_topic_build(CORIO_TOPIC_G_BATCH, NULL, out, sizeof out), 18);
    assert_string_equal(out, "corio/v1/g/+/batch");
    /* A filter is not a topic. */
    struct corio_topic t;
    assert_int_equal(parse_z("corio/v1/d/+/up/json", &t), CORIO_ERR_MALFORMED);
}

static void short_ids(void **state)
{
    (void)state;
    assert_true(corio_short_id_valid(id, 24));
    assert_true(corio_short_id_valid(gw, 24));
    assert_true(corio_short_id_valid("aaaaaaaaaaaaaaaaaaaaaaaa", 24));
    assert_true(corio_short_id_valid("777777777777777777777777", 24));
    assert_false(corio_short_id_valid(id, 23));
    assert_false(corio_short_id_valid("abcdefghijklmnopqrstuvwxy", 25));
    assert_false(corio_short_id_valid(NULL, 24));
    for (int c = 0; c < 256; c++) {
        char s[25];
        memcpy(s, id, 25);
        s[7] = (char)c;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
        assert_int_equal(corio_short_id_valid(s, 24), ok);
    }
    char out[CORIO_TOPIC_MAX];
    assert_int_equal(corio_topic_build(CORIO_TOPIC_UP_HB, "ABCDEFGHIJKLMNOPQRSTUVWX", out,
                                       sizeof out),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_topic_build(CORIO_TOPIC_UP_HB, "abcdefghijklmnopqrstuvw0", out,
                                       sizeof out),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_topic_build(CORIO_TOPIC_UP_HB, "abc", out, sizeof out),
                     CORIO_ERR_INVAL);
}

static void refusals(void **state)
{
    (void)state;
    static const struct {
        const char *topic;
        int err;
    } bad[] = {
        {"", CORIO_ERR_MALFORMED},
        {"corio/v1/", CORIO_ERR_MALFORMED},
        {"corio/v1/d/", CORIO_ERR_MALFORMED},
        {"corio/v2/d/abcdefghijklmnopqrstuvwx/up/json", CORIO_ERR_MALFORMED},
        {"Corio/v1/d/abcdefghijklmnopqrstuvwx/up/json", CORIO_ERR_MALFORMED},
        {"/corio/v1/d/abcdefghijklmnopqrstuvwx/up/json", CORIO_ERR_MALFORMED},
        {"corio/v1/x/abcdefghijklmnopqrstuvwx/up/json", CORIO_ERR_MALFORMED},
        {"corio/v1/dd/abcdefghijklmnopqrstuvwx/up/json", CORIO_ERR_MALFORMED},
        {"corio/v1/d/abcdefghijklmnopqrstuvw/up/json", CORIO_ERR_MALFORMED},
        {"corio/v1/d/abcdefghijklmnopqrstuvwxy/up/json", CORIO_ERR_MALFORMED},
        {"corio/v1/d/ABCDEFGHIJKLMNOPQRSTUVWX/up/json", CORIO_ERR_MALFORMED},
        {"corio/v1/d/abcdefghijklmnopqrstuvw1/up/json", CORIO_ERR_MALFORMED},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx", CORIO_ERR_MALFORMED},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/up", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/up/", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/up/json/", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/up/json/x", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/up/JSON", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/up/#", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx//up/json", CORIO_ERR_NOTFOUND},
        {"corio/v1/d/abcdefghijklmnopqrstuvwx/batch", CORIO_ERR_NOTFOUND},
        {"corio/v1/g/abcdefghijklmnopqrstuvwx/up/json", CORIO_ERR_NOTFOUND},
        {"corio/v1/g/abcdefghijklmnopqrstuvwx/batches", CORIO_ERR_NOTFOUND},
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        struct corio_topic t = {CORIO_TOPIC_G_STATE, "unchanged"};
        int rc = parse_z(bad[i].topic, &t);
        if (rc != bad[i].err)
            fail_msg("%s: got %d, want %d", bad[i].topic, rc, bad[i].err);
        assert_string_equal(t.id, "unchanged");
    }
    struct corio_topic t;
    /* A NUL inside the given length is part of the topic, and wrong. */
    assert_int_equal(corio_topic_parse("corio/v1/d/abcdefghijklmnopqrstuvwx/up/hb\0", 42, &t),
                     CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_topic_parse(NULL, 0, &t), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_topic_parse_path(NULL, 0, &t), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_topic_parse_path("d/abcdefghijklmnopqrstuvwx/up/js", 32, &t),
                     CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_topic_suffix_kind("up/jso", 6), CORIO_ERR_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_and_parse_every_topic),
        cmocka_unit_test(wildcard_filters),
        cmocka_unit_test(short_ids),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
