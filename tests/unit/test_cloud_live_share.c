/* test_cloud_live_share.c - the live events corio-cloud instances share over NATS:
 * packing into bounded messages, one's own messages skipped, malformed messages refused
 * whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"
#include "live_share.h"

#define ME    "0123456789abcdef"
#define OTHER "fedcba9876543210"

struct sink {
    char *msgs[64];
    size_t lens[64];
    size_t n;
    int fail_at; /* send fails on this message (1-based); 0: never */
};

static int sink_send(void *arg, const char *msg, size_t len)
{
    struct sink *s = arg;
    if (s->fail_at && (int)s->n + 1 == s->fail_at)
        return CORIO_ERR_CLOSED;
    assert_true(s->n < 64);
    s->msgs[s->n] = malloc(len);
    memcpy(s->msgs[s->n], msg, len);
    s->lens[s->n++] = len;
    return CORIO_OK;
}

static void sink_free(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->msgs[i]);
}

struct got {
    char ev[32][32];
    char data[32][256];
    size_t n;
};

static void got_event(void *arg, const char *event, const char *data)
{
    struct got *g = arg;
    assert_true(g->n < 32);
    snprintf(g->ev[g->n], sizeof g->ev[0], "%s", event);
    snprintf(g->data[g->n], sizeof g->data[0], "%s", data);
    g->n++;
}

static int unpack(const char *self, const char *msg, struct got *g, char *why)
{
    memset(g, 0, sizeof *g);
    return corio_live_unpack(self, (const uint8_t *)msg, strlen(msg), got_event, g, why, 128);
}

static void events_go_round_between_instances(void **state)
{
    (void)state;
    char d1[] = "{\"device\":\"d\",\"metric\":\"temp\",\"t\":1,\"v\":21.5}";
    char d2[] = "{\"device\":\"d\",\"online\":true,\"t\":2}";
    struct corio_event ev[] = {{"sample", d1}, {"presence", d2}};
    struct sink s = {0};
    size_t skipped = 9;
    assert_int_equal(corio_live_pack(ME, ev, 2, 0, sink_send, &s, &skipped), 2);
    assert_int_equal(skipped, 0);
    assert_int_equal(s.n, 1);
    char *msg = calloc(1, s.lens[0] + 1);
    memcpy(msg, s.msgs[0], s.lens[0]);
    assert_string_equal(msg, "corio-live-1 " ME "\nsample\n"
                             "{\"device\":\"d\",\"metric\":\"temp\","
                             "\"t\":1,\"v\":21.5}\npresence\n{\"device\":\"d\",\"online\":true,"
                             "\"t\":2}\n");
    struct got g;
    char why[128];
    assert_int_equal(unpack(OTHER, msg, &g, why), 2);
    assert_string_equal(g.ev[0], "sample");
    assert_string_equal(g.data[0], d1);
    assert_string_equal(g.ev[1], "presence");
    assert_string_equal(g.data[1], d2);
    /* The sender sees its own message come back and ignores it. */
    assert_int_equal(unpack(ME, msg, &g, why), 0);
    assert_int_equal(g.n, 0);
    free(msg);
    sink_free(&s);
}

static void a_large_batch_goes_in_several_bounded_messages(void **state)
{
    (void)state;
    enum { N = 25 };
    struct corio_event ev[N];
    char data[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(data[i], sizeof data[i], "{\"device\":\"d\",\"metric\":\"m\",\"t\":%d,\"v\":1}",
                 i);
        ev[i] = (struct corio_event){"sample", data[i]};
    }
    struct sink s = {0};
    size_t skipped = 0, max = 200;
    assert_int_equal(corio_live_pack(ME, ev, N, max, sink_send, &s, &skipped), N);
    assert_true(s.n > 1);
    int t = 0;
    for (size_t i = 0; i < s.n; i++) {
        assert_true(s.lens[i] <= max);
        struct got g;
        char why[128];
        memset(&g, 0, sizeof g);
        assert_true(corio_live_unpack(OTHER, (uint8_t *)s.msgs[i], s.lens[i], got_event, &g, why,
                                      sizeof why) > 0);
        /* In order, none lost, none twice. */
        for (size_t k = 0; k < g.n; k++)
            assert_string_equal(g.data[k], data[t++]);
    }
    assert_int_equal(t, N);
    sink_free(&s);
}

static void events_outside_the_format_are_left_out_and_counted(void **state)
{
    (void)state;
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    struct corio_event ev[] = {
        {"sample", "{\"ok\":1}"}, {"Sample", "{}"},      {"sample", "{\"a\":\"\n\"}"}, {"gap", ""},
        {"sample", big},          {"gap", "{\"ok\":2}"},
    };
    struct sink s = {0};
    size_t skipped = 0;
    assert_int_equal(corio_live_pack(ME, ev, 6, 200, sink_send, &s, &skipped), 2);
    assert_int_equal(skipped, 4);
    sink_free(&s);
    /* A send that fails ends the packing with its error. */
    struct sink f = {.fail_at = 1};
    assert_int_equal(corio_live_pack(ME, ev, 6, 200, sink_send, &f, &skipped), CORIO_ERR_CLOSED);
    assert_int_equal(corio_live_pack("not-hex", ev, 6, 200, sink_send, &f, &skipped),
                     CORIO_ERR_INVAL);
    sink_free(&f);
}

static void malformed_messages_are_refused_whole(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "corio-live-1 " OTHER,                          /* no line end */
        "corio-live-2 " OTHER "\nsample\n{}\n",         /* another format */
        "corio-live-1 0123\nsample\n{}\n",              /* short instance */
        "corio-live-1 " OTHER "\nsample\n{}\nsample\n", /* an event without data */
        "corio-live-1 " OTHER "\nsample\n{}\nSAMPLE\n{}\n",
        "corio-live-1 " OTHER "\nsample\n{}\nsample\n\n", /* empty data */
        "corio-live-1 " OTHER "\nsample\n{\"a\":\"\t\"}\n",
        "corio-live-1 " OTHER "\nsample\n{}", /* data without its end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct got g;
        char why[128] = "";
        assert_int_equal(unpack(ME, bad[i], &g, why), CORIO_ERR_MALFORMED);
        assert_int_equal(g.n, 0); /* not even the good events before the bad one */
        assert_true(why[0] != 0);
    }
    /* A NUL inside the message is a control character too. */
    static const char nul[] = "corio-live-1 " OTHER "\nsample\n{\0}\n";
    struct got g = {0};
    char why[128];
    assert_int_equal(
        corio_live_unpack(ME, (const uint8_t *)nul, sizeof nul - 1, got_event, &g, why, sizeof why),
        CORIO_ERR_MALFORMED);
    /* A header alone is a valid, empty message. */
    assert_int_equal(unpack(ME, "corio-live-1 " OTHER "\n", &g, why), 0);
}

static void instance_names_differ(void **state)
{
    (void)state;
    char a[CORIO_LIVE_INSTANCE_LEN + 1], b[CORIO_LIVE_INSTANCE_LEN + 1];
    corio_live_instance_new(a);
    corio_live_instance_new(b);
    assert_int_equal(strlen(a), CORIO_LIVE_INSTANCE_LEN);
    assert_string_not_equal(a, b);
    /* What one instance packs, another accepts. */
    struct corio_event ev = {"sample", "{}"};
    struct sink s = {0};
    size_t skipped;
    assert_int_equal(corio_live_pack(a, &ev, 1, 0, sink_send, &s, &skipped), 1);
    struct got g = {0};
    char why[128];
    assert_int_equal(
        corio_live_unpack(b, (uint8_t *)s.msgs[0], s.lens[0], got_event, &g, why, sizeof why), 1);
    sink_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_go_round_between_instances),
        cmocka_unit_test(a_large_batch_goes_in_several_bounded_messages),
        cmocka_unit_test(events_outside_the_format_are_left_out_and_counted),
        cmocka_unit_test(malformed_messages_are_refused_whole),
        cmocka_unit_test(instance_names_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
