/*
 * test_gateway_outbox_intake.c - the outbox's intake log (gateway/outbox.h,
 * outbox_intake.h): appends wait in the log until a flush moves them into the table in
 * one transaction; a reader with the intake option sees both; a writer that dies
 * without warning (a child process that exits without closing) leaves them in the log,
 * and the next open moves them into the table exactly once, under their own ids, while
 * older rounds of the log, a torn or damaged record and a log of another epoch are left
 * alone; a power cut through the power-cut VFS takes only what was not synced; the
 * records encode and parse back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "corio/crc32.h"
#include "corio/error.h"
#include "harness.h"
#include "outbox.h"
#include "outbox_intake.h"
#include "powercut_vfs.h"

#define DEV "bbbbbbbbbbbbbbbbbbbbbbbb"
#define GW  "aaaaaaaaaaaaaaaaaaaaaaaa"

struct fixture {
    char *dir;
    char path[512], intake[600];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = h_tmpdir("intake");
    snprintf(f->path, sizeof f->path, "%s/outbox.db", f->dir);
    snprintf(f->intake, sizeof f->intake, "%s-intake", f->path);
    assert_int_equal(corio_powercut_vfs_register(), CORIO_OK);
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

static corio_outbox *open_as(const char *path, bool read_only, bool intake, const char *vfs)
{
    struct corio_outbox_options o = {
        .path = path, .gateway = GW, .read_only = read_only, .intake = intake, .vfs = vfs};
    corio_outbox *ob;
    char err[256];
    if (corio_outbox_open(&o, &ob, err, sizeof err) != CORIO_OK)
        fail_msg("open: %s", err);
    return ob;
}

static corio_outbox *writer(const char *path)
{
    return open_as(path, false, true, NULL);
}

struct collected {
    int64_t ids[1024];
    int64_t recv[1024];
    char payloads[1024][16];
    int n;
};

static int collect(const struct corio_outbox_row *row, void *arg)
{
    struct collected *c = arg;
    assert_true(c->n < 1024);
    assert_string_equal(row->suffix, "up/json");
    c->ids[c->n] = row->id;
    c->recv[c->n] = row->recv_ms;
    snprintf(c->payloads[c->n], sizeof c->payloads[0], "%.*s", (int)row->payload_len,
             (const char *)row->payload);
    c->n++;
    return 0;
}

/* Everything a reader sees: the table only, or (intake) the log's records too. */
static struct collected seen(const char *path, bool intake)
{
    struct collected c = {0};
    corio_outbox *ob = open_as(path, true, intake, NULL);
    assert_true(corio_outbox_read(ob, 0, 1024, SIZE_MAX, collect, &c) >= 0);
    corio_outbox_close(ob);
    return c;
}

static void append_n(corio_outbox *ob, int from, int to)
{
    for (int i = from; i <= to; i++) {
        char p[16];
        int n = snprintf(p, sizeof p, "m%d", i);
        assert_int_equal(corio_outbox_append_seq(ob, DEV, "up/json", 1000 + i, 0, 1, (uint64_t)i, p,
                                                 (size_t)n, NULL),
                         CORIO_OK);
    }
}

/* Messages m<from>..m<to>, in order, each once. */
static void expect_messages(const struct collected *c, int from, int to)
{
    assert_int_equal(c->n, to - from + 1);
    for (int i = 0; i < c->n; i++) {
        char want[16];
        snprintf(want, sizeof want, "m%d", from + i);
        assert_string_equal(c->payloads[i], want);
        assert_int_equal(c->recv[i], 1000 + from + i);
        if (i > 0)
            assert_true(c->ids[i] > c->ids[i - 1]);
    }
}

/* Runs fn in a child process that then ends without closing anything: a crash. */
static void in_a_crashing_child(void (*fn)(const char *path), const char *path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn(path);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void appends_wait_in_the_log_until_a_flush(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = writer(f->path);
    append_n(ob, 1, 5);
    assert_int_equal(corio_outbox_pending(ob), 5);
    assert_int_equal(seen(f->path, false).n, 0);
    struct collected c = seen(f->path, true);
    expect_messages(&c, 1, 5);
    assert_int_equal(c.ids[0], 1);

    assert_int_equal(corio_outbox_flush(ob), CORIO_OK);
    assert_int_equal(corio_outbox_pending(ob), 0);
    c = seen(f->path, false);
    expect_messages(&c, 1, 5);
    c = seen(f->path, true);
    expect_messages(&c, 1, 5); /* the log's copies are not seen twice */

    /* The running counts include what is pending. */
    append_n(ob, 6, 7);
    int64_t rows, last;
    corio_outbox_counts(ob, &rows, NULL, &last);
    assert_int_equal(rows, 7);
    assert_int_equal(last, 7);
    corio_outbox_close(ob);

    /* A clean close flushes: nothing for the next open to move. */
    c = seen(f->path, false);
    expect_messages(&c, 1, 7);
    ob = writer(f->path);
    assert_true(corio_outbox_was_clean(ob));
    assert_int_equal(corio_outbox_recovered(ob), 0);
    corio_outbox_close(ob);
}

static void crash_after_four_flushed_six_pending(const char *path)
{
    corio_outbox *ob = writer(path);
    append_n(ob, 1, 4);
    if (corio_outbox_flush(ob) != CORIO_OK)
        _exit(1);
    append_n(ob, 5, 10);
}

static void a_crash_leaves_them_in_the_log_and_the_next_open_moves_them(void **state)
{
    struct fixture *f = *state;
    in_a_crashing_child(crash_after_four_flushed_six_pending, f->path);
    struct collected c = seen(f->path, false);
    expect_messages(&c, 1, 4);
    c = seen(f->path, true);
    expect_messages(&c, 1, 10);

    corio_outbox *ob = writer(f->path);
    assert_false(corio_outbox_was_clean(ob));
    assert_int_equal(corio_outbox_recovered(ob), 6);
    struct corio_outbox_stats st;
    assert_int_equal(corio_outbox_stats(ob, &st), CORIO_OK);
    assert_int_equal(st.rows, 10);
    /* Under their own ids; new ids start past every id the dead writer could have used. */
    c = seen(f->path, false);
    expect_messages(&c, 1, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(c.ids[i], i + 1);
    int64_t id;
    assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 2000, 0, "m11", 3, &id), CORIO_OK);
    assert_true(id > 10);
    corio_outbox_close(ob);

    /* Moved once: the next open finds nothing more. */
    ob = writer(f->path);
    assert_int_equal(corio_outbox_recovered(ob), 0);
    assert_int_equal(corio_outbox_stats(ob, &st), CORIO_OK);
    assert_int_equal(st.rows, 11);
    corio_outbox_close(ob);
}

static void crash_with_an_older_round_behind(const char *path)
{
    corio_outbox *ob = writer(path);
    append_n(ob, 1, 10);
    if (corio_outbox_flush(ob) != CORIO_OK)
        _exit(1);
    /* The log is written from its start again: 3 new records, then the old round's
     * records 4..10 behind them. */
    append_n(ob, 11, 13);
}

static void older_rounds_in_the_log_are_not_moved_twice(void **state)
{
    struct fixture *f = *state;
    in_a_crashing_child(crash_with_an_older_round_behind, f->path);
    corio_outbox *ob = writer(f->path);
    assert_int_equal(corio_outbox_recovered(ob), 3);
    corio_outbox_close(ob);
    struct collected c = seen(f->path, false);
    expect_messages(&c, 1, 13);
}

static void crash_after_deleting(const char *path)
{
    corio_outbox *ob = writer(path);
    append_n(ob, 1, 6);
    /* Deleting flushes first; the ids it records as used stop at what is in the table. */
    if (corio_outbox_delete_through(ob, corio_outbox_epoch(ob), 4) != 4)
        _exit(1);
    append_n(ob, 7, 8);
}

static void deleting_flushes_first_and_pending_ids_come_back(void **state)
{
    struct fixture *f = *state;
    in_a_crashing_child(crash_after_deleting, f->path);
    corio_outbox *ob = writer(f->path);
    assert_int_equal(corio_outbox_recovered(ob), 2);
    corio_outbox_close(ob);
    struct collected c = seen(f->path, false);
    expect_messages(&c, 5, 8);
}

static void crash_after_five(const char *path)
{
    corio_outbox *ob = writer(path);
    append_n(ob, 1, 5);
}

static void truncate_to(const char *path, off_t size)
{
    assert_int_equal(truncate(path, size), 0);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

static void a_torn_or_damaged_record_ends_the_log(void **state)
{
    struct fixture *f = *state;
    in_a_crashing_child(crash_after_five, f->path);
    /* The last record cut in half: the four before it are moved. */
    truncate_to(f->intake, file_size(f->intake) - 5);
    corio_outbox *ob = writer(f->path);
    assert_int_equal(corio_outbox_recovered(ob), 4);
    corio_outbox_close(ob);
    struct collected c = seen(f->path, false);
    expect_messages(&c, 1, 4);
}

static void a_damaged_record_stops_the_move_there(void **state)
{
    struct fixture *f = *state;
    in_a_crashing_child(crash_after_five, f->path);
    /* Flip a payload byte of the third record: its CRC fails, and nothing after it is
     * trusted. Each record here is 8 + 40 + 24 + 7 + 2 bytes. */
    size_t rec = corio__intake_rec_size(24, 7, 2);
    FILE *fp = fopen(f->intake, "r+b");
    assert_non_null(fp);
    long at = (long)(CORIO_INTAKE_HEADER + 2 * rec + rec - 1);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    int ch = fgetc(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    fputc(ch ^ 1, fp);
    fclose(fp);
    corio_outbox *ob = writer(f->path);
    assert_int_equal(corio_outbox_recovered(ob), 2);
    corio_outbox_close(ob);
}

static void a_log_of_another_epoch_is_ignored(void **state)
{
    struct fixture *f = *state;
    in_a_crashing_child(crash_after_five, f->path);
    /* The outbox recreated (a new epoch) beside the old log. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", f->path, f->path, f->path);
    assert_int_equal(system(cmd), 0);
    corio_outbox *ob = writer(f->path);
    assert_int_equal(corio_outbox_recovered(ob), 0);
    struct corio_outbox_stats st;
    assert_int_equal(corio_outbox_stats(ob, &st), CORIO_OK);
    assert_int_equal(st.rows, 0);
    corio_outbox_close(ob);
}

static void on_the_powercut_vfs(const char *path)
{
    corio_outbox *ob = open_as(path, false, true, CORIO_POWERCUT_VFS);
    append_n(ob, 1, 5);
    if (corio_outbox_sync(ob) != CORIO_OK) /* flushes, then syncs: 1..5 are durable */
        _exit(1);
    append_n(ob, 6, 8);
    if (corio_outbox_flush(ob) != CORIO_OK) /* in the table, not synced */
        _exit(1);
    append_n(ob, 9, 10); /* in the log only */
}

static void a_power_cut_takes_what_was_not_synced_only(void **state)
{
    struct fixture *f = *state;
    in_a_crashing_child(on_the_powercut_vfs, f->path);
    struct collected c = seen(f->path, true);
    expect_messages(&c, 1, 10); /* a crash would have lost nothing */
    assert_true(corio_powercut_apply(f->path) > 0);
    c = seen(f->path, true);
    expect_messages(&c, 1, 5);
    corio_outbox *ob = open_as(f->path, false, true, CORIO_POWERCUT_VFS);
    assert_false(corio_outbox_was_clean(ob));
    assert_int_equal(corio_outbox_recovered(ob), 0);
    int64_t id;
    assert_int_equal(corio_outbox_append(ob, DEV, "up/json", 3000, 0, "m", 1, &id), CORIO_OK);
    assert_true(id > 10); /* past every id handed out before the cut */
    corio_outbox_close(ob);
}

static int count_rec(const struct corio_intake_rec *r, void *arg)
{
    struct corio_intake_rec *out = arg;
    out[0] = *r;
    return 0;
}

static void records_encode_and_parse_back(void **state)
{
    (void)state;
    uint8_t buf[512];
    struct corio_intake_rec r = {.id = 42,
                                 .recv_ms = 1700000000123,
                                 .dev_epoch = 9,
                                 .dev_seq = 77,
                                 .cls = CORIO_OUTBOX_CLASS_EVENT,
                                 .device = DEV,
                                 .device_len = 24,
                                 .suffix = "up/evt",
                                 .suffix_len = 6,
                                 .payload = (const uint8_t *)"{\"a\":1}",
                                 .payload_len = 7};
    size_t n = corio__intake_encode(&r, buf, sizeof buf);
    assert_int_equal(n, corio__intake_rec_size(24, 6, 7));
    struct corio_intake_rec back;
    size_t used;
    assert_int_equal(corio__intake_parse(buf, n, true, count_rec, &back, &used), 1);
    assert_int_equal(used, n);
    assert_int_equal(back.id, 42);
    assert_int_equal(back.recv_ms, 1700000000123);
    assert_int_equal(back.dev_epoch, 9);
    assert_int_equal(back.dev_seq, 77);
    assert_int_equal(back.cls, CORIO_OUTBOX_CLASS_EVENT);
    assert_memory_equal(back.device, DEV, 24);
    assert_memory_equal(back.suffix, "up/evt", 6);
    assert_memory_equal(back.payload, "{\"a\":1}", 7);
    /* The checksum is CRC-32 (IEEE) of the body, as corio_crc32 computes it; also over a
     * body of odd length and many words. */
    uint32_t stored = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 |
                      (uint32_t)buf[7] << 24;
    assert_true(stored == corio_crc32(0, buf + CORIO_INTAKE_REC_HEAD, n - CORIO_INTAKE_REC_HEAD));
    uint8_t big[2048], pay[1001];
    for (size_t i = 0; i < sizeof pay; i++)
        pay[i] = (uint8_t)(i * 131 + 7);
    struct corio_intake_rec rb = r;
    rb.payload = pay;
    rb.payload_len = sizeof pay;
    size_t nb = corio__intake_encode(&rb, big, sizeof big);
    assert_true(nb > 0);
    stored = (uint32_t)big[4] | (uint32_t)big[5] << 8 | (uint32_t)big[6] << 16 |
             (uint32_t)big[7] << 24;
    assert_true(stored == corio_crc32(0, big + CORIO_INTAKE_REC_HEAD, nb - CORIO_INTAKE_REC_HEAD));
    /* One byte short of the record: nothing. */
    assert_int_equal(corio__intake_parse(buf, n - 1, true, count_rec, &back, &used), 0);
    assert_int_equal(used, 0);
    /* Too small a buffer, and what the parser would refuse, are not encoded. */
    assert_int_equal(corio__intake_encode(&r, buf, n - 1), 0);
    struct corio_intake_rec bad = r;
    bad.id = 0;
    assert_int_equal(corio__intake_encode(&bad, buf, sizeof buf), 0);
    bad = r;
    bad.cls = CORIO_OUTBOX_CLASS_DROPPABLE + 1;
    assert_int_equal(corio__intake_encode(&bad, buf, sizeof buf), 0);
    bad = r;
    bad.suffix = "up\0x";
    bad.suffix_len = 4;
    assert_int_equal(corio__intake_encode(&bad, buf, sizeof buf), 0);
    bad = r;
    bad.dev_seq = (uint64_t)INT64_MAX + 1;
    assert_int_equal(corio__intake_encode(&bad, buf, sizeof buf), 0);
    /* The header names the epoch. */
    uint8_t h[CORIO_INTAKE_HEADER];
    corio__intake_header(5, h);
    assert_true(corio__intake_header_ok(h, sizeof h, 5));
    assert_false(corio__intake_header_ok(h, sizeof h, 6));
    assert_false(corio__intake_header_ok(h, sizeof h - 1, 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(appends_wait_in_the_log_until_a_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(a_crash_leaves_them_in_the_log_and_the_next_open_moves_them,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(older_rounds_in_the_log_are_not_moved_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(deleting_flushes_first_and_pending_ids_come_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_torn_or_damaged_record_ends_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(a_damaged_record_stops_the_move_there, setup, teardown),
        cmocka_unit_test_setup_teardown(a_log_of_another_epoch_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(a_power_cut_takes_what_was_not_synced_only, setup,
                                        teardown),
        cmocka_unit_test(records_encode_and_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
