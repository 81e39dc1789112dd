/*
 * test_gateway_seqtrack.c - each device's durable prefix (gateway/seqtrack.h): in order
 * it follows the seqs; a hole holds it until filled, whatever arrives above; a replay
 * fills holes; seqs far above move it up; a new epoch starts over; what changed is
 * written to the outbox, and only that; a loaded prefix is the start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"
#include "harness.h"
#include "outbox.h"
#include "seqtrack.h"

#define DEV "bbbbbbbbbbbbbbbbbbbbbbbb"
#define GW  "aaaaaaaaaaaaaaaaaaaaaaaa"

static uint64_t prefix(corio_seqtrack *t, const char *device, uint64_t want_epoch)
{
    uint64_t epoch = 0, seq = 0;
    assert_true(corio_seqtrack_get(t, device, &epoch, &seq));
    assert_true(epoch == want_epoch);
    return seq;
}

static void note_range(corio_seqtrack *t, const char *device, uint64_t epoch, uint64_t from,
                       uint64_t to)
{
    for (uint64_t s = from; s <= to; s++)
        assert_int_equal(corio_seqtrack_note(t, device, epoch, s), CORIO_OK);
}

static void holes_hold_the_prefix_until_filled(void **state)
{
    (void)state;
    corio_seqtrack *t = corio_seqtrack_new();
    assert_non_null(t);
    uint64_t e, s;
    assert_false(corio_seqtrack_get(t, DEV, &e, &s));
    /* First seen at 5: what came before is not ours to know. */
    note_range(t, DEV, 7, 5, 10);
    assert_true(prefix(t, DEV, 7) == 10);
    /* 11..20 lost on the way, 21..40 arrive: held at 10. */
    note_range(t, DEV, 7, 21, 40);
    assert_true(prefix(t, DEV, 7) == 10);
    /* The replay of 11..20 arrives among new ones: the prefix joins up. */
    note_range(t, DEV, 7, 41, 45);
    note_range(t, DEV, 7, 11, 19);
    assert_true(prefix(t, DEV, 7) == 19);
    note_range(t, DEV, 7, 20, 20);
    assert_true(prefix(t, DEV, 7) == 45);
    /* Sent again: nothing changes. */
    note_range(t, DEV, 7, 30, 30);
    assert_true(prefix(t, DEV, 7) == 45);
    /* Far above the window: the prefix moves up to keep it in reach. */
    assert_int_equal(corio_seqtrack_note(t, DEV, 7, 45 + 2 + CORIO_SEQTRACK_WINDOW), CORIO_OK);
    assert_true(prefix(t, DEV, 7) == 46 + 1); /* 47 is the lowest seq the window can hold */
    /* A hole across a word boundary of the window, then filled. */
    note_range(t, DEV, 7, 200, 300);
    assert_true(prefix(t, DEV, 7) == 47);
    note_range(t, DEV, 7, 48, 199);
    assert_true(prefix(t, DEV, 7) == 300);
    /* A new epoch (the device's outbox recreated) starts over. */
    note_range(t, DEV, 9, 1, 3);
    assert_true(prefix(t, DEV, 9) == 3);
    /* Refused: seq 0, beyond INT64_MAX. */
    assert_int_equal(corio_seqtrack_note(t, DEV, 9, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_seqtrack_note(t, DEV, 9, (uint64_t)INT64_MAX + 1), CORIO_ERR_INVAL);
    assert_true(prefix(t, DEV, 9) == 3);
    corio_seqtrack_free(t);
}

struct recorded {
    uint64_t epoch, seq;
    int n;
};

static void take(void *arg, const char *device, uint64_t epoch, uint64_t seq)
{
    struct recorded *r = arg;
    if (strcmp(device, DEV) == 0) {
        r->epoch = epoch;
        r->seq = seq;
    }
    r->n++;
}

static void what_changed_is_written_and_loads_back(void **state)
{
    (void)state;
    char *dir = h_tmpdir("seqtrack");
    char path[512];
    snprintf(path, sizeof path, "%s/outbox.db", dir);
    struct corio_outbox_options o = {.path = path, .gateway = GW};
    corio_outbox *ob;
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &ob, err, sizeof err), CORIO_OK);
    corio_seqtrack *t = corio_seqtrack_new();
    assert_non_null(t);
    /* Many devices, so the table grows while tracks are dirty. */
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "dev%021d", i);
        note_range(t, id, 1, 1, 2);
    }
    note_range(t, DEV, 7, 1, 4);
    note_range(t, DEV, 7, 6, 8);
    assert_int_equal(corio_seqtrack_count(t), 1001);
    assert_int_equal(corio_seqtrack_write(t, ob), CORIO_OK);
    struct recorded r = {0};
    assert_int_equal(corio_outbox_device_seqs(ob, take, &r), 1001);
    assert_true(r.epoch == 7 && r.seq == 4);
    /* Nothing changed: nothing to write (an empty write succeeds). */
    assert_int_equal(corio_seqtrack_write(t, ob), CORIO_OK);
    note_range(t, DEV, 7, 5, 5);
    assert_int_equal(corio_seqtrack_write(t, ob), CORIO_OK);
    memset(&r, 0, sizeof r);
    corio_outbox_device_seqs(ob, take, &r);
    assert_true(r.seq == 8);
    corio_seqtrack_free(t);

    /* A new tracker starts from what was recorded. */
    t = corio_seqtrack_new();
    assert_int_equal(corio_seqtrack_load(t, DEV, 7, 8), CORIO_OK);
    note_range(t, DEV, 7, 10, 10);
    assert_true(prefix(t, DEV, 7) == 8);
    note_range(t, DEV, 7, 9, 9);
    assert_true(prefix(t, DEV, 7) == 10);
    corio_seqtrack_free(t);
    corio_outbox_close(ob);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(holes_hold_the_prefix_until_filled),
        cmocka_unit_test(what_changed_is_written_and_loads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
