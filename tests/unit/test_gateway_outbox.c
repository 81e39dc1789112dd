/* test_gateway_outbox.c - the gateway outbox: append, read in order, delete through a
 * watermark of the same epoch only, ids never reused, the byte cap, the watermark file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "corio/error.h"
#include "harness.h"
#include "outbox.h"

#define DEV "bbbbbbbbbbbbbbbbbbbbbbbb"
#define GW "aaaaaaaaaaaaaaaaaaaaaaaa"

struct fixture {
    char *dir;
    char path[512];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = h_tmpdir("outbox");
    snprintf(f->path, sizeof f->path, "%s/outbox.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->dir);
    free(f);
    return 0;
}

static corio_outbox *open_writer(const char *path, int64_t max_bytes)
{
    struct corio_outbox_options o = {.path = path, .gateway = GW, .max_bytes = max_bytes};
    corio_outbox *ob;
    char err[256];
    int rc = corio_outbox_open(&o, &ob, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("open: %s", err);
    return ob;
}

struct collected {
    int64_t ids[64];
    char payloads[64][32];
    int n;
};

static int collect(const struct corio_outbox_row *row, void *arg)
{
    struct collected *c = arg;
    c->ids[c->n] = row->id;
    snprintf(c->payloads[c->n], sizeof c->payloads[0], "%.*s", (int)row->payload_len,
             (const char *)row->payload);
    c->n++;
    return 0;
}

static void append_n(corio_outbox *ob, int from, int to)
{
    for (int i = from; i <= to; i++) {
        char p[16];
        int n = snprintf(p, sizeof p, "m%d", i);
        int64_t id;
        assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 1000 + i, 0, p, (size_t)n, &id),
                         CORIO_OK);
    }
}

static void rows_come_back_in_order_and_survive_reopen(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_writer(f->path, 0);
    uint64_t epoch = corio_outbox_epoch(ob);
    assert_true(epoch > 0);
    append_n(ob, 1, 5);
    corio_outbox_close(ob);

    struct corio_outbox_options ro = {.path = f->path, .read_only = true};
    char err[256];
    assert_int_equal(corio_outbox_open(&ro, &ob, err, sizeof err), CORIO_OK);
    assert_true(corio_outbox_epoch(ob) == epoch);
    struct collected c = {0};
    assert_int_equal(corio_outbox_read(ob, 2, 10, 1 << 20, collect, &c), 3);
    assert_int_equal(c.ids[0], 3);
    assert_string_equal(c.payloads[0], "m3");
    assert_string_equal(c.payloads[2], "m5");
    corio_outbox_close(ob);
}

static void read_respects_row_and_byte_limits(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_writer(f->path, 0);
    append_n(ob, 1, 10);
    struct collected c = {0};
    assert_int_equal(corio_outbox_read(ob, 0, 4, 1 << 20, collect, &c), 4);
    memset(&c, 0, sizeof c);
    /* Each payload is two bytes ("m1"…"m9"); five bytes fit two rows. */
    assert_int_equal(corio_outbox_read(ob, 0, 10, 5, collect, &c), 2);
    memset(&c, 0, sizeof c);
    /* A first row larger than the limit still comes back alone. */
    assert_int_equal(corio_outbox_read(ob, 0, 10, 1, collect, &c), 1);
    corio_outbox_close(ob);
}

static void delete_applies_only_to_its_epoch(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_writer(f->path, 0);
    uint64_t epoch = corio_outbox_epoch(ob);
    append_n(ob, 1, 6);
    assert_int_equal(corio_outbox_delete_through(ob, epoch + 1, 6), CORIO_ERR_POLICY);
    assert_int_equal(corio_outbox_delete_through(ob, epoch, 4), 4);
    struct corio_outbox_stats st;
    assert_int_equal(corio_outbox_stats(ob, &st), CORIO_OK);
    assert_int_equal(st.rows, 2);
    assert_int_equal(st.oldest_ms, 1005);
    assert_int_equal(st.last_id, 6);
    corio_outbox_close(ob);
}

static void ids_are_never_reused_after_deleting_everything(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_writer(f->path, 0);
    uint64_t epoch = corio_outbox_epoch(ob);
    append_n(ob, 1, 3);
    assert_int_equal(corio_outbox_delete_through(ob, epoch, 3), 3);
    corio_outbox_close(ob);
    ob = open_writer(f->path, 0);
    int64_t id;
    assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 1, 0, "x", 1, &id), CORIO_OK);
    assert_int_equal(id, 4);
    corio_outbox_close(ob);
}

static void a_new_file_gets_a_new_epoch(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_writer(f->path, 0);
    uint64_t first = corio_outbox_epoch(ob);
    corio_outbox_close(ob);
    char wal[600];
    unlink(f->path);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", f->path);
    unlink(wal);
    ob = open_writer(f->path, 0);
    assert_true(corio_outbox_epoch(ob) != first);
    corio_outbox_close(ob);
}

static void full_outbox_refuses_and_accounts_exactly(void **state)
{
    struct fixture *f = *state;
    int64_t cap = corio_outbox_row_cost(100) * 10;
    corio_outbox *ob = open_writer(f->path, cap);
    uint64_t epoch = corio_outbox_epoch(ob);
    char payload[100];
    memset(payload, 'x', sizeof payload);
    /* Droppable messages stop at 90 % of the cap, telemetry only at the cap. */
    int droppable = 0;
    while (corio_outbox_append(ob, DEV, "up/log", 1, CORIO_OUTBOX_CLASS_DROPPABLE, payload,
                               sizeof payload, NULL) == CORIO_OK)
        droppable++;
    assert_int_equal(droppable, 9);
    assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 1, 0, payload, sizeof payload, NULL),
                     CORIO_OK);
    assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 1, 0, payload, sizeof payload, NULL),
                     CORIO_ERR_FULL);
    /* Deleting frees exactly the room of the deleted rows, also across a reopen. */
    assert_int_equal(corio_outbox_delete_through(ob, epoch, 1), 1);
    corio_outbox_close(ob);
    ob = open_writer(f->path, cap);
    assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 1, 0, payload, sizeof payload, NULL),
                     CORIO_OK);
    assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 1, 0, payload, sizeof payload, NULL),
                     CORIO_ERR_FULL);
    corio_outbox_close(ob);
}

static void a_newer_format_is_refused(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_writer(f->path, 0);
    corio_outbox_close(ob);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct corio_outbox_options o = {.path = f->path, .gateway = GW};
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &ob, err, sizeof err), CORIO_ERR_VERSION);
    assert_non_null(strstr(err, "newer"));
}

static void a_reader_does_not_create(void **state)
{
    struct fixture *f = *state;
    struct corio_outbox_options o = {.path = f->path, .read_only = true};
    corio_outbox *ob;
    char err[256];
    assert_true(corio_outbox_open(&o, &ob, err, sizeof err) < 0);
    assert_int_equal(access(f->path, F_OK), -1);
}

/* corio-gateway's checkpointer copies the WAL into the database file while the writer
 * goes on; it never creates a file, and needs one to exist. */
static void a_checkpointer_moves_the_wal_into_the_database(void **state)
{
    struct fixture *f = *state;
    struct corio_outbox_options co = {.path = f->path, .checkpointer = true};
    corio_outbox *ck;
    char err[256];
    assert_true(corio_outbox_open(&co, &ck, err, sizeof err) < 0);
    assert_int_equal(access(f->path, F_OK), -1);
    corio_outbox *ob = open_writer(f->path, 0);
    append_n(ob, 1, 50);
    assert_int_equal(corio_outbox_open(&co, &ck, err, sizeof err), CORIO_OK);
    int frames = 0, copied = 0;
    assert_int_equal(corio_outbox_checkpoint(ck, &frames, &copied), CORIO_OK);
    assert_true(frames > 0);
    assert_int_equal(copied, frames);
    append_n(ob, 51, 60); /* the writer carries on */
    assert_int_equal(corio_outbox_checkpoint(ck, &frames, &copied), CORIO_OK);
    corio_outbox_close(ck);
    struct collected c = {0};
    corio_outbox_close(ob);
    struct corio_outbox_options ro = {.path = f->path, .read_only = true};
    assert_int_equal(corio_outbox_open(&ro, &ob, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_outbox_read(ob, 55, 64, 1 << 20, collect, &c), 5);
    corio_outbox_close(ob);
}

static void watermark_round_trip_and_garbage(void **state)
{
    struct fixture *f = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/wm", f->dir);
    uint64_t epoch;
    int64_t id;
    assert_int_equal(corio_watermark_read(path, &epoch, &id), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_watermark_write(path, 42, 1234), CORIO_OK);
    assert_int_equal(corio_watermark_read(path, &epoch, &id), CORIO_OK);
    assert_true(epoch == 42);
    assert_int_equal(id, 1234);
    const char *bad[] = {"", "corio-watermark 2 1 1\n", "corio-watermark 1 1\n",
                         "corio-watermark 1 1 -5\n", "corio-watermark 1 1 1 extra\n", "junk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *fp = fopen(path, "w");
        fputs(bad[i], fp);
        fclose(fp);
        assert_int_equal(corio_watermark_read(path, &epoch, &id), CORIO_ERR_MALFORMED);
    }
}

/* What device_seqs() ends with for one device: its last call wins (outbox.h). */
struct last_seq {
    const char *device;
    uint64_t epoch, seq;
    int calls;
};

static void take_seq(void *arg, const char *device, uint64_t epoch, uint64_t seq)
{
    struct last_seq *l = arg;
    if (strcmp(device, l->device) != 0)
        return;
    l->epoch = epoch;
    l->seq = seq;
    l->calls++;
}

/* Appends (epoch, seq) pairs for DEV, deletes everything, returns what the outbox keeps. */
static struct last_seq forward_all(corio_outbox *ob, const uint64_t (*pairs)[2], int n)
{
    int64_t id = 0;
    for (int i = 0; i < n; i++)
        assert_int_equal(corio_outbox_append_seq(ob, DEV, "up/json", 1, 0, pairs[i][0],
                                                 pairs[i][1], "x", 1, &id),
                         CORIO_OK);
    assert_int_equal(corio_outbox_delete_through(ob, corio_outbox_epoch(ob), id), n);
    struct last_seq l = {.device = DEV};
    assert_true(corio_outbox_device_seqs(ob, take_seq, &l) >= 1);
    assert_int_equal(l.calls, 1); /* nothing left in the outbox: the seqs row only */
    return l;
}

/* Deleted rows leave each device's newest identity, as if taken one by one in id order:
 * the same epoch keeps the highest seq (also across deletes), a new epoch replaces. */
static void deleted_rows_leave_each_devices_newest_identity(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_writer(f->path, 1 << 20);
    const uint64_t a[][2] = {{7, 1}, {7, 2}, {7, 5}, {7, 3}};
    struct last_seq l = forward_all(ob, a, 4);
    assert_true(l.epoch == 7 && l.seq == 5);
    const uint64_t b[][2] = {{7, 4}}; /* below what is kept: kept */
    l = forward_all(ob, b, 1);
    assert_true(l.epoch == 7 && l.seq == 5);
    const uint64_t c[][2] = {{9, 2}, {9, 1}}; /* a new epoch replaces */
    l = forward_all(ob, c, 2);
    assert_true(l.epoch == 9 && l.seq == 2);
    const uint64_t d[][2] = {{9, 8}, {7, 1}, {9, 3}}; /* 9 -> 7 -> 9: the last run decides */
    l = forward_all(ob, d, 3);
    assert_true(l.epoch == 9 && l.seq == 3);
    const uint64_t e[][2] = {{9, 6}, {9, 4}}; /* no change here: the kept 9/3 takes part */
    l = forward_all(ob, e, 2);
    assert_true(l.epoch == 9 && l.seq == 6);
    const uint64_t g[][2] = {{7, 1}, {9, 3}}; /* away and back: the kept 9/6 is not kept */
    l = forward_all(ob, g, 2);
    assert_true(l.epoch == 9 && l.seq == 3);
    corio_outbox_close(ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rows_come_back_in_order_and_survive_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(read_respects_row_and_byte_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_applies_only_to_its_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(ids_are_never_reused_after_deleting_everything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_new_file_gets_a_new_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(full_outbox_refuses_and_accounts_exactly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_newer_format_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reader_does_not_create, setup, teardown),
        cmocka_unit_test_setup_teardown(a_checkpointer_moves_the_wal_into_the_database, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(watermark_round_trip_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_rows_leave_each_devices_newest_identity, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
