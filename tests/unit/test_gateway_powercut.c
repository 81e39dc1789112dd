/*
 * test_gateway_powercut.c - the gateway outbox through a power cut: the power-cut VFS
 * (gateway/powercut_vfs.h) throws away every write since each file's last sync, in a
 * child process that is then gone (a power cut stops a program without warning). What
 * was synced survives, what was not is gone entirely and cleanly (the database checks
 * out), ids are never handed out twice, and the outbox still knows the highest device
 * seq it holds durably, which is where a device is asked to resend from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "corio/error.h"
#include "harness.h"
#include "outbox.h"
#include "powercut_vfs.h"

#define DEV "bbbbbbbbbbbbbbbbbbbbbbbb"
#define DEV2 "cccccccccccccccccccccccc"
#define GW "aaaaaaaaaaaaaaaaaaaaaaaa"

struct fixture {
    char *dir;
    char path[512];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = h_tmpdir("powercut");
    snprintf(f->path, sizeof f->path, "%s/outbox.db", f->dir);
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

static corio_outbox *open_outbox(const char *path, const char *vfs, bool read_only)
{
    struct corio_outbox_options o = {.path = path, .gateway = GW, .vfs = vfs,
                                     .read_only = read_only};
    corio_outbox *ob;
    char err[256];
    if (corio_outbox_open(&o, &ob, err, sizeof err) != CORIO_OK)
        return NULL;
    return ob;
}

/* Appends device DEV's packs with seqs from..to (ids follow). */
static int append_seqs(corio_outbox *ob, const char *dev, int from, int to)
{
    for (int i = from; i <= to; i++) {
        char p[64];
        int n = snprintf(p, sizeof p, "[{\"ep\":7,\"seq\":%d,\"n\":\"t\",\"v\":%d}]", i, i);
        if (corio_outbox_append_seq(ob, dev, "up/json", 1000 + i, 0, 7, (uint64_t)i, p, (size_t)n,
                                    NULL) != CORIO_OK)
            return -1;
    }
    return 0;
}

/*
 * In a child: opens the outbox on the power-cut VFS, appends seqs 1..synced, syncs,
 * appends synced+1..total, and is gone without closing anything (_exit). Returns the
 * child's exit status (0 when every step worked).
 */
static int run_and_cut(const char *path, int synced, int total)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        corio_outbox *ob = open_outbox(path, CORIO_POWERCUT_VFS, false);
        if (!ob || append_seqs(ob, DEV, 1, synced) != 0 || corio_outbox_sync(ob) != CORIO_OK ||
            append_seqs(ob, DEV, synced + 1, total) != 0)
            _exit(1);
        _exit(0); /* the power goes: no close, no sync */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct ids {
    int64_t first, last, n;
    int64_t seq_first, seq_last;
    bool contiguous;
};

static int collect(const struct corio_outbox_row *row, void *arg)
{
    struct ids *c = arg;
    int seq = 0;
    sscanf((const char *)row->payload, "[{\"ep\":7,\"seq\":%d", &seq);
    if (c->n == 0) {
        c->first = row->id;
        c->seq_first = seq;
        c->contiguous = true;
    } else if (row->id != c->last + 1 || seq != c->seq_last + 1) {
        c->contiguous = false;
    }
    c->last = row->id;
    c->seq_last = seq;
    c->n++;
    return 0;
}

static struct ids read_all(const char *path)
{
    corio_outbox *ob = open_outbox(path, NULL, true);
    assert_non_null(ob);
    struct ids c = {0};
    assert_true(corio_outbox_read(ob, 0, 1000000, SIZE_MAX, collect, &c) >= 0);
    corio_outbox_close(ob);
    return c;
}

static void integrity_ok(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

struct seen {
    char device[32];
    uint64_t epoch, seq;
    int calls;
};

static void fold(void *arg, const char *device, uint64_t epoch, uint64_t seq)
{
    struct seen *s = arg;
    for (int i = 0; i < 4; i++) {
        if (s[i].calls == 0 || strcmp(s[i].device, device) == 0) {
            snprintf(s[i].device, sizeof s[i].device, "%s", device);
            if (s[i].calls && s[i].epoch == epoch && seq < s[i].seq)
                seq = s[i].seq;
            s[i].epoch = epoch;
            s[i].seq = seq;
            s[i].calls++;
            return;
        }
    }
    fail_msg("more than four devices");
}

static const struct seen *lookup(const struct seen *s, const char *device)
{
    for (int i = 0; i < 4; i++)
        if (s[i].calls && strcmp(s[i].device, device) == 0)
            return &s[i];
    fail_msg("no seqs for %s", device);
    return NULL;
}

static void what_was_not_synced_is_gone_and_ids_move_past_it(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(run_and_cut(f->path, 50, 80), 0);
    int64_t pending = corio_powercut_pending(f->path);
    assert_true(pending > 0);
    int64_t cut = corio_powercut_apply(f->path);
    assert_true(cut >= pending);
    assert_int_equal(corio_powercut_pending(f->path), 0);
    integrity_ok(f->path);

    struct ids c = read_all(f->path);
    assert_int_equal(c.n, 50);
    assert_true(c.contiguous);
    assert_int_equal(c.first, 1);
    assert_int_equal(c.seq_last, 50);

    /* The writer sees the unclean end, knows seq 50 is the last it holds of DEV, and
     * never hands out ids 51..80 again (the forwarder may have sent them). */
    corio_outbox *ob = open_outbox(f->path, NULL, false);
    assert_non_null(ob);
    assert_false(corio_outbox_was_clean(ob));
    struct seen s[4] = {0};
    assert_true(corio_outbox_device_seqs(ob, fold, s) > 0);
    assert_string_equal(s[0].device, DEV);
    assert_true(s[0].epoch == 7 && s[0].seq == 50);
    assert_int_equal(s[1].calls, 0);
    int64_t id;
    assert_int_equal(corio_outbox_append(ob, DEV, "up/hb", 1, 0, "{}", 2, &id), CORIO_OK);
    assert_true(id > 80);
    corio_outbox_close(ob);
    ob = open_outbox(f->path, NULL, false);
    assert_true(corio_outbox_was_clean(ob)); /* a close is a clean end */
    corio_outbox_close(ob);
}

static void everything_synced_survives_whole(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(run_and_cut(f->path, 30, 30), 0);
    assert_int_equal(corio_powercut_pending(f->path), 0);
    assert_int_equal(corio_powercut_apply(f->path), 0);
    struct ids c = read_all(f->path);
    assert_int_equal(c.n, 30);
    assert_true(c.contiguous);
}

/* Thousands of commits make SQLite checkpoint (and sync) on its own inside the
 * window: what is lost is still exactly a tail, and the file checks out. */
static void checkpoints_inside_the_window_leave_a_clean_prefix(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(run_and_cut(f->path, 100, 3100), 0);
    assert_true(corio_powercut_apply(f->path) > 0);
    integrity_ok(f->path);
    struct ids c = read_all(f->path);
    assert_true(c.contiguous);
    assert_int_equal(c.first, 1);
    assert_true(c.n >= 100 && c.n < 3100);
    assert_int_equal(c.seq_last, c.n);
}

/* A program that died without a power cut leaves its unsynced writes in the journal:
 * they are still unsynced for the next program, until it syncs. */
static void a_journal_outlives_its_process_until_the_next_sync(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(run_and_cut(f->path, 10, 20), 0);
    assert_true(corio_powercut_pending(f->path) > 0);
    corio_outbox *ob = open_outbox(f->path, CORIO_POWERCUT_VFS, false); /* syncs at start */
    assert_non_null(ob);
    assert_int_equal(append_seqs(ob, DEV, 21, 25), 0);
    assert_true(corio_powercut_pending(f->path) > 0);
    assert_int_equal(corio_outbox_sync(ob), CORIO_OK);
    assert_int_equal(corio_powercut_pending(f->path), 0);
    corio_outbox_close(ob);
    assert_int_equal(corio_powercut_apply(f->path), 0);
    struct ids c = read_all(f->path);
    assert_int_equal(c.n, 25);
}

/* A journal whose header was never finished protects nothing. */
static void a_torn_journal_header_means_no_change(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(run_and_cut(f->path, 5, 5), 0);
    char j[600];
    snprintf(j, sizeof j, "%s-wal" CORIO_POWERCUT_SUFFIX, f->path);
    assert_int_equal(h_write_file(j, "CORIO"), 0);
    assert_int_equal(corio_powercut_pending(f->path), 0);
    assert_int_equal(corio_powercut_apply(f->path), 0);
    assert_int_equal(read_all(f->path).n, 5);
    assert_int_equal(h_write_file(j, "NOTAJOURNAL-------------"), 0);
    assert_int_equal(corio_powercut_apply(f->path), CORIO_ERR_MALFORMED);
}

/* Rows the cloud acknowledged leave the outbox, and what they said of each device stays:
 * the highest seq of the newest epoch. */
static void forwarded_rows_leave_their_seqs_behind(void **state)
{
    struct fixture *f = *state;
    corio_outbox *ob = open_outbox(f->path, NULL, false);
    uint64_t epoch = corio_outbox_epoch(ob);
    assert_int_equal(append_seqs(ob, DEV, 1, 10), 0);     /* ids 1..10 */
    assert_int_equal(append_seqs(ob, DEV2, 1, 5), 0);     /* ids 11..15 */
    assert_int_equal(corio_outbox_append_seq(ob, DEV, "up/json", 1, 0, 9, 3, "x", 1, NULL),
                     CORIO_OK); /* id 16: DEV's outbox was recreated, epoch 9 */
    assert_int_equal(corio_outbox_delete_through(ob, epoch, 12), 12);
    struct seen s[4] = {0};
    assert_int_equal(corio_outbox_device_seqs(ob, fold, s), 2 + 3 + 1);
    assert_true(lookup(s, DEV)->epoch == 9 && lookup(s, DEV)->seq == 3);
    assert_true(lookup(s, DEV2)->epoch == 7 && lookup(s, DEV2)->seq == 5);
    /* Everything forwarded: the table alone remembers. */
    assert_int_equal(corio_outbox_delete_through(ob, epoch, 16), 4);
    memset(s, 0, sizeof s);
    assert_int_equal(corio_outbox_device_seqs(ob, fold, s), 2);
    assert_true(lookup(s, DEV)->epoch == 9 && lookup(s, DEV)->seq == 3);
    assert_true(lookup(s, DEV2)->epoch == 7 && lookup(s, DEV2)->seq == 5);
    corio_outbox_close(ob);
}

/* A format-1 file (before device identities) is migrated by the writer and keeps its
 * rows, epoch and ids. */
static void a_format_1_outbox_is_migrated(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) STRICT;"
                     "CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT "
                     "NULL, suffix TEXT NOT NULL, recv_ms INTEGER NOT NULL, class INTEGER NOT "
                     "NULL, payload BLOB NOT NULL) STRICT;"
                     "INSERT INTO meta VALUES ('format', 1), ('epoch', 12345), ('gateway', '"
                     GW "'), ('created_ms', 1);"
                     "INSERT INTO outbox(device, suffix, recv_ms, class, payload) VALUES ('" DEV
                     "', 'up/json', 1, 0, x'41'), ('" DEV "', 'up/json', 2, 0, x'42');"
                     "PRAGMA user_version = 1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    corio_outbox *ob = open_outbox(f->path, NULL, true); /* a reader of format 1 */
    assert_non_null(ob);
    corio_outbox_close(ob);
    ob = open_outbox(f->path, NULL, false);
    assert_non_null(ob);
    assert_true(corio_outbox_epoch(ob) == 12345);
    int64_t id;
    assert_int_equal(corio_outbox_append_seq(ob, DEV, "up/json", 3, 0, 1, 1, "C", 1, &id),
                     CORIO_OK);
    assert_int_equal(id, 3);
    corio_outbox_close(ob);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), CORIO_OUTBOX_FORMAT);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(read_all(f->path).n, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(what_was_not_synced_is_gone_and_ids_move_past_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(everything_synced_survives_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoints_inside_the_window_leave_a_clean_prefix, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_journal_outlives_its_process_until_the_next_sync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_torn_journal_header_means_no_change, setup, teardown),
        cmocka_unit_test_setup_teardown(forwarded_rows_leave_their_seqs_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(a_format_1_outbox_is_migrated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
