/* test_gateway_forwarder.c - the forwarder's window over a real outbox file: batches
 * tile the ids, only application acks move the watermark, out-of-order acks, resends on
 * timeout and reconnect, restarts from the watermark file, a recreated outbox. The
 * uplink is the test itself: it records what would be published and plays the cloud. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "batch.h"
#include "corio/error.h"
#include "forwarder.h"
#include "harness.h"
#include "outbox.h"

#define GW "aaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV "bbbbbbbbbbbbbbbbbbbbbbbb"

struct published {
    uint8_t *wire;
    size_t len;
};

struct fixture {
    char *dir;
    char path[512], wm[600];
    corio_outbox *writer;
    bool down;
    struct published pub[256];
    int npub;
};

static int fake_publish(void *ctx, const uint8_t *batch, size_t len)
{
    struct fixture *f = ctx;
    if (f->down)
        return -1;
    assert_true(f->npub < 256);
    f->pub[f->npub].wire = malloc(len);
    memcpy(f->pub[f->npub].wire, batch, len);
    f->pub[f->npub].len = len;
    f->npub++;
    return 0;
}

/* The seal is the identity here: signing is tested with the identity code. */
static int fake_seal(void *ctx, const uint8_t *payload, size_t len, uint8_t **out, size_t *outlen)
{
    (void)ctx;
    *out = malloc(len);
    memcpy(*out, payload, len);
    *outlen = len;
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = h_tmpdir("forwarder");
    snprintf(f->path, sizeof f->path, "%s/outbox.db", f->dir);
    snprintf(f->wm, sizeof f->wm, "%s.watermark", f->path);
    struct corio_outbox_options o = {.path = f->path, .gateway = GW};
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &f->writer, err, sizeof err), CORIO_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    corio_outbox_close(f->writer);
    for (int i = 0; i < f->npub; i++)
        free(f->pub[i].wire);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->dir);
    free(f);
    return 0;
}

static corio_forwarder *make(struct fixture *f, int window, int max_messages)
{
    struct corio_forwarder_options o = {
        .outbox_path = f->path, .gateway = GW, .window = window,
        .batch_max_messages = max_messages, .ack_timeout_ms = 1000,
        .watermark_interval_ms = 1,
        .uplink = {.publish = fake_publish, .seal = fake_seal, .ctx = f}};
    corio_forwarder *fw;
    char err[256];
    assert_int_equal(corio_forwarder_new(&o, &fw, err, sizeof err), CORIO_OK);
    return fw;
}

static void append(struct fixture *f, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(corio_outbox_append(f->writer, DEV, "up/json", 1, 0, "{}", 2, NULL),
                         CORIO_OK);
}

/* Decodes published batch i. */
static struct corio_batch batch_at(struct fixture *f, int i)
{
    struct corio_batch b;
    char why[128];
    assert_int_equal(corio_batch_decode(f->pub[i].wire, f->pub[i].len, &b, why, sizeof why),
                     CORIO_OK);
    return b;
}

/* Plays the cloud: acknowledges published batch i. */
static void ack(corio_forwarder *fw, struct fixture *f, int i, int64_t now)
{
    struct corio_batch b = batch_at(f, i);
    struct corio_ack_range r = {b.first, b.last};
    uint8_t buf[64];
    int64_t n = corio_ack_encode(b.epoch, &r, 1, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio_forwarder_on_ack(fw, buf, (size_t)n, now), CORIO_OK);
    corio_batch_free(&b);
}

static int64_t file_watermark(struct fixture *f)
{
    uint64_t epoch;
    int64_t id;
    if (corio_watermark_read(f->wm, &epoch, &id) != CORIO_OK)
        return -1;
    return id;
}

static void batches_tile_the_ids_and_the_window_bounds_them(void **state)
{
    struct fixture *f = *state;
    append(f, 10);
    corio_forwarder *fw = make(f, 2, 3);
    assert_int_equal(corio_forwarder_step(fw, 100), 2);
    assert_int_equal(f->npub, 2);
    struct corio_batch b0 = batch_at(f, 0), b1 = batch_at(f, 1);
    assert_true(b0.first == 1 && b0.last == 3 && b0.count == 3);
    assert_true(b1.first == 4 && b1.last == 6);
    assert_true(b0.epoch == corio_outbox_epoch(f->writer));
    assert_string_equal(b0.gateway, GW);
    corio_batch_free(&b0);
    corio_batch_free(&b1);
    /* The window is full: nothing more until an ack. */
    assert_int_equal(corio_forwarder_step(fw, 200), 0);
    corio_forwarder_free(fw);
}

static void only_the_application_ack_moves_the_watermark(void **state)
{
    struct fixture *f = *state;
    append(f, 6);
    corio_forwarder *fw = make(f, 4, 3);
    corio_forwarder_step(fw, 100);
    struct corio_forwarder_stats st;
    corio_forwarder_stats(fw, &st);
    assert_int_equal(st.watermark, 0);
    assert_int_equal(st.sent_through, 6);
    /* The second batch acknowledged first: the watermark must wait for the first. */
    ack(fw, f, 1, 150);
    corio_forwarder_stats(fw, &st);
    assert_int_equal(st.watermark, 0);
    ack(fw, f, 0, 160);
    corio_forwarder_stats(fw, &st);
    assert_int_equal(st.watermark, 6);
    assert_int_equal(st.inflight, 0);
    assert_int_equal(st.messages_acked, 6);
    corio_forwarder_step(fw, 200);
    assert_int_equal(file_watermark(f), 6);
    /* The plugin's side: deleting through the watermark empties the outbox. */
    assert_int_equal(corio_outbox_delete_through(f->writer, corio_outbox_epoch(f->writer), 6), 6);
    corio_forwarder_free(fw);
}

static void acks_of_another_epoch_or_malformed_are_ignored(void **state)
{
    struct fixture *f = *state;
    append(f, 3);
    corio_forwarder *fw = make(f, 4, 10);
    corio_forwarder_step(fw, 100);
    struct corio_ack_range r = {1, 3};
    uint8_t buf[64];
    int64_t n = corio_ack_encode(corio_outbox_epoch(f->writer) + 1, &r, 1, buf, sizeof buf);
    assert_int_equal(corio_forwarder_on_ack(fw, buf, (size_t)n, 110), CORIO_OK);
    assert_true(corio_forwarder_on_ack(fw, (const uint8_t *)"\xff", 1, 120) < 0);
    /* A range that covers only part of a batch does not acknowledge it. */
    r.last = 2;
    n = corio_ack_encode(corio_outbox_epoch(f->writer), &r, 1, buf, sizeof buf);
    assert_int_equal(corio_forwarder_on_ack(fw, buf, (size_t)n, 130), CORIO_OK);
    struct corio_forwarder_stats st;
    corio_forwarder_stats(fw, &st);
    assert_int_equal(st.watermark, 0);
    assert_int_equal(st.acks_ignored, 2);
    assert_int_equal(st.acks_malformed, 1);
    corio_forwarder_free(fw);
}

static void unacknowledged_batches_are_resent_identically(void **state)
{
    struct fixture *f = *state;
    append(f, 2);
    corio_forwarder *fw = make(f, 4, 10);
    assert_int_equal(corio_forwarder_step(fw, 100), 1);
    assert_int_equal(corio_forwarder_step(fw, 1000), 0); /* 900 ms: not yet */
    assert_int_equal(corio_forwarder_step(fw, 1100), 1); /* 1 s: resent */
    assert_int_equal(f->npub, 2);
    assert_int_equal(f->pub[0].len, f->pub[1].len);
    assert_memory_equal(f->pub[0].wire, f->pub[1].wire, f->pub[0].len);
    /* The timeout doubles. */
    assert_int_equal(corio_forwarder_step(fw, 2100), 0);
    assert_int_equal(corio_forwarder_step(fw, 3100), 1);
    struct corio_forwarder_stats st;
    corio_forwarder_stats(fw, &st);
    assert_int_equal(st.batches_sent, 1);
    assert_int_equal(st.batches_resent, 2);
    corio_forwarder_free(fw);
}

static void a_down_uplink_keeps_batches_until_it_reconnects(void **state)
{
    struct fixture *f = *state;
    append(f, 4);
    corio_forwarder *fw = make(f, 4, 2);
    f->down = true;
    assert_int_equal(corio_forwarder_step(fw, 100), 0);
    append(f, 4);
    assert_int_equal(corio_forwarder_step(fw, 200), 0);
    struct corio_forwarder_stats st;
    corio_forwarder_stats(fw, &st);
    assert_int_equal(st.inflight, 1); /* one made, none more while down */
    f->down = false;
    corio_forwarder_uplink_up(fw);
    assert_int_equal(corio_forwarder_step(fw, 300), 4);
    /* After a reconnect, batches in flight go again even before their timeout. */
    corio_forwarder_uplink_up(fw);
    assert_int_equal(corio_forwarder_step(fw, 310), 4);
    corio_forwarder_free(fw);
}

static void a_restart_resumes_after_the_watermark(void **state)
{
    struct fixture *f = *state;
    append(f, 5);
    corio_forwarder *fw = make(f, 4, 2);
    corio_forwarder_step(fw, 100);
    ack(fw, f, 0, 110); /* ids 1..2 committed */
    corio_forwarder_free(fw);
    assert_int_equal(file_watermark(f), 2);

    int before = f->npub;
    fw = make(f, 4, 10);
    assert_int_equal(corio_forwarder_step(fw, 100), 1);
    struct corio_batch b = batch_at(f, before);
    assert_true(b.first == 3 && b.last == 5);
    corio_batch_free(&b);
    corio_forwarder_free(fw);
}

static void a_recreated_outbox_starts_a_new_epoch(void **state)
{
    struct fixture *f = *state;
    append(f, 2);
    corio_forwarder *fw = make(f, 4, 10);
    corio_forwarder_step(fw, 100);
    ack(fw, f, 0, 110);
    corio_forwarder_step(fw, 120);
    uint64_t old_epoch = corio_outbox_epoch(f->writer);

    corio_outbox_close(f->writer);
    char p[600];
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    struct corio_outbox_options o = {.path = f->path, .gateway = GW};
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &f->writer, err, sizeof err), CORIO_OK);
    append(f, 1);
    int before = f->npub;
    corio_forwarder_step(fw, 5000); /* past the reopen check */
    assert_int_equal(f->npub, before + 1);
    struct corio_batch b = batch_at(f, before);
    assert_true(b.epoch != old_epoch);
    assert_true(b.first == 1 && b.last == 1);
    corio_batch_free(&b);
    corio_forwarder_free(fw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(batches_tile_the_ids_and_the_window_bounds_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(only_the_application_ack_moves_the_watermark, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(acks_of_another_epoch_or_malformed_are_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unacknowledged_batches_are_resent_identically, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_down_uplink_keeps_batches_until_it_reconnects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_restart_resumes_after_the_watermark, setup, teardown),
        cmocka_unit_test_setup_teardown(a_recreated_outbox_starts_a_new_epoch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
