/*
 * chaos_powercut.c - a power cut at the gateway, through the power-cut VFS
 * (gateway/powercut_vfs.h): the plugin's outbox runs on a VFS that journals every
 * unsynced write; the test freezes the gateway (its broker with it), notes what the
 * outbox holds, kills both at once and throws away every write since each file's last
 * fsync, then starts the gateway again on what survived.
 *
 * What it shows:
 *   - the loss is exactly a tail of the outbox (the newest rows), and spans at most one
 *     sync interval of receive times (outbox_sync, here 2 s, plus the time between two
 *     messages and the fsync itself);
 *   - those messages had been PUBACKed (the devices held them as acknowledged: their
 *     replays count them);
 *   - after the restart the plugin sees the unclean end, asks each device to resend from
 *     the seq after the highest it holds (dn/resend), the devices publish again from their
 *     outboxes, and in the end every device's account is exact: sent = stored + dropped,
 *     dropped = 0, every seq once, no gap.
 * The uplink is cut before the power, so that what the cut takes is in the gateway's
 * outbox only (and in the devices'). A cut that happens to take nothing (it fell just
 * after a sync) is followed by another, so that each round loses something. `make soak`
 * repeats rounds for CORIO_SOAK_SECONDS.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chaos_world.h"
#include "powercut_vfs.h"

#define DEVICES 5
#define RATE    "10"
#define SYNC_MS 2000

/* A row as the snapshot keeps it. */
struct row {
    int64_t id, recv_ms, seq;
    char device[32];
};

struct rows {
    struct row *r;
    size_t n, cap;
};

static int collect(const struct corio_outbox_row *row, void *arg)
{
    struct rows *rs = arg;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 1024;
        rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
        assert_non_null(rs->r);
    }
    struct row *x = &rs->r[rs->n++];
    x->id = row->id;
    x->recv_ms = row->recv_ms;
    snprintf(x->device, sizeof x->device, "%s", row->device);
    x->seq = 0;
    const char *s = memmem(row->payload, row->payload_len, "\"seq\"", 5);
    if (s)
        x->seq = atoll(s + 6);
    return 0;
}

/* Every row of the outbox, in id order. */
static struct rows snapshot(struct world *w)
{
    struct rows rs = {0};
    struct corio_outbox_options o = {.path = w->outbox, .read_only = true, .intake = true};
    corio_outbox *ob;
    char err[256];
    assert_int_equal(corio_outbox_open(&o, &ob, err, sizeof err), CORIO_OK);
    assert_true(corio_outbox_read(ob, 0, 10000000, SIZE_MAX, collect, &rs) >= 0);
    corio_outbox_close(ob);
    return rs;
}

struct cut_result {
    int64_t lost, span_ms, survived;
};

/* Freezes the gateway, cuts the power, restarts it. Returns what the cut took. */
static struct cut_result power_cut(struct world *w)
{
    pid_t group = h_proc_pid(w->gateway);
    assert_true(group > 0);
    /* Frozen at once, broker and daemon: nothing more is written, nothing is synced. */
    assert_int_equal(kill(-group, SIGSTOP), 0);
    int64_t pending = corio_powercut_pending(w->outbox);
    assert_true(pending >= 0);
    struct rows before = snapshot(w);
    h_proc_kill(w->gateway); /* the power goes: both die without a word */
    int64_t cut = corio_powercut_apply(w->outbox);
    assert_true(cut >= 0);
    struct rows after = snapshot(w);

    /* What survived is a prefix of what was there: the loss is a tail. */
    struct cut_result res = {0};
    assert_true(after.n <= before.n);
    for (size_t i = 0; i < after.n; i++) {
        assert_true(after.r[i].id == before.r[i].id);
        assert_string_equal(after.r[i].device, before.r[i].device);
    }
    res.survived = (int64_t)after.n;
    res.lost = (int64_t)(before.n - after.n);
    if (res.lost > 0) {
        int64_t lo = before.r[after.n].recv_ms, hi = lo;
        for (size_t i = after.n; i < before.n; i++) {
            if (before.r[i].recv_ms < lo)
                lo = before.r[i].recv_ms;
            if (before.r[i].recv_ms > hi)
                hi = before.r[i].recv_ms;
        }
        res.span_ms = hi - lo;
    }
    free(before.r);
    free(after.r);

    assert_int_equal(h_proc_restart(w->gateway), CORIO_OK);
    assert_int_equal(h_proc_wait_port(w->gateway, w->device_port, 60000), CORIO_OK);
    return res;
}

static void a_power_cut_loses_one_interval_and_devices_resend_it(void **state)
{
    (void)state;
    struct world_opts o = {
        .devices = DEVICES, .rate = RATE,
        .gateway = h_strf("outbox_vfs %s\noutbox_sync %dms\n", CORIO_POWERCUT_VFS, SYNC_MS)};
    struct world *w = world_start(&o);
    world_run_devices(w);
    const char *soak = getenv("CORIO_SOAK_SECONDS");
    int64_t until = h_now_ms() + (soak ? atoll(soak) * 1000 : 0);
    int rounds = 0, cuts = 0;
    int64_t lost_total = 0, span_max = 0;
    do {
        world_wait_stored_grows(w, 100);
        /* With the uplink cut, what the gateway holds is nowhere else but in the devices'
         * outboxes: what the power cut takes can only come back from them. */
        assert_int_equal(h_proxy_set(w->link, H_CUT, 0), CORIO_OK);
        world_wait_written_grows(w, 150);
        struct cut_result r;
        do {
            r = power_cut(w);
            cuts++;
            print_message("chaos_powercut: cut %d: %lld rows survived, %lld lost, spanning "
                          "%lld ms of receive times\n",
                          cuts, (long long)r.survived, (long long)r.lost, (long long)r.span_ms);
            if (r.lost == 0)
                world_wait_written_grows(w, 20); /* fell just after a sync: again */
        } while (r.lost == 0 && cuts < 20);
        assert_int_equal(h_proxy_set(w->link, H_PASS, 0), CORIO_OK);
        assert_true(r.lost > 0);
        /* The bound: the loss spans at most one sync interval, plus the gap between two
         * messages and an fsync's time (a generous half second, for loaded machines). */
        assert_true(r.span_ms <= SYNC_MS + 500);
        lost_total += r.lost;
        if (r.span_ms > span_max)
            span_max = r.span_ms;

        /* The restarted plugin knows it lost something and asks the devices. */
        bool asked;
        H_POLL(asked, world_metric(w, "corio_gateway_resend_requests_total") >= 1, 60000);
        assert_true(asked);
        assert_true(world_metric(w, "corio_gateway_outbox_clean_start") == 0);
        world_wait_stored_grows(w, 50);
        rounds++;
    } while (h_now_ms() < until);

    struct world_account a = world_finish(w);
    print_message("chaos_powercut: %d round(s), %d cut(s): %lld rows lost at the gateway "
                  "(the widest loss spanned %lld ms, the sync interval is %d ms); devices were "
                  "asked %lld times and published %lld acknowledged messages again; account: "
                  "%lld devices sent %lld, the cloud stored %lld, dropped %lld\n",
                  rounds, cuts, (long long)lost_total, (long long)span_max, SYNC_MS,
                  (long long)a.resend_requests, (long long)a.replayed, (long long)a.devices,
                  (long long)a.sent, (long long)a.stored, (long long)a.dropped);
    /* Lost rows had been PUBACKed: the devices held them as acknowledged and replayed
     * them. (Heartbeats and presence records in the loss are not replayed.) */
    assert_true(a.resend_requests >= 1);
    assert_true(a.replayed >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_power_cut_loses_one_interval_and_devices_resend_it),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
