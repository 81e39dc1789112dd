/*
 * chaos_uplink.c - the gateway's uplink cut, then stalled, under load, for longer than
 * chaos_telemetry's blips: the devices keep sending, the gateway keeps storing, and when
 * the link returns the backlog drains at full speed, measured here (messages per second
 * from the first acknowledgement after the outage to the last message of the backlog),
 * next to the rate the devices produce meanwhile. Ends with the exact account per device:
 * sent = stored + dropped, dropped = 0, no gap.
 *
 * `make test` runs one cut and one stall of 8 s each; `make soak` (CORIO_SOAK_SECONDS)
 * makes each outage a third of the soak, so the backlog is hours of data at the
 * devices' rate of a sparse deployment.
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

#define DEVICES 20
#define RATE    "10"

static int64_t watermark(struct world *w)
{
    uint64_t epoch;
    int64_t id;
    return corio_watermark_read(h_strf("%s.watermark", w->outbox), &epoch, &id) == CORIO_OK ? id
                                                                                            : 0;
}

/* One outage of ms in mode, then the drain, measured. */
static void outage(struct world *w, enum h_fault mode, const char *name, int64_t ms)
{
    world_wait_stored_grows(w, 50);
    int64_t written0 = world_written(w);
    assert_int_equal(h_proxy_set(w->link, mode, 0), CORIO_OK);
    int64_t until = h_now_ms() + ms;
    bool over;
    H_POLL(over, h_now_ms() >= until, (int)(ms + 60000));
    int64_t backlog_last = world_written(w);
    int64_t rows = world_outbox_rows(w);
    double produced = (double)(backlog_last - written0) * 1000.0 / (double)ms;
    assert_true(backlog_last > written0); /* the gateway kept taking messages */
    assert_int_equal(h_proxy_set(w->link, H_PASS, 0), CORIO_OK);

    /* The drain: from the first movement of the watermark after the link returns to the
     * watermark passing the last message written during the outage. */
    int64_t wm0 = watermark(w);
    bool moving;
    H_POLL(moving, watermark(w) > wm0, 120000);
    assert_true(moving);
    int64_t t0 = h_now_ms(), wm1 = watermark(w);
    bool drained;
    H_POLL(drained, watermark(w) >= backlog_last, 600000);
    assert_true(drained);
    int64_t t1 = h_now_ms();
    double rate = (double)(backlog_last - wm1) * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
    print_message("chaos_uplink: %s %.1f s: %lld messages in the outbox, drained at %.0f msg/s "
                  "(%lld in %.2f s) while the devices produced %.0f msg/s\n",
                  name, (double)ms / 1000.0, (long long)rows, rate,
                  (long long)(backlog_last - wm1), (double)(t1 - t0) / 1000.0, produced);
    /* Draining must outrun what keeps arriving, or it would never end. */
    assert_true(rate > produced);
}

static void a_long_outage_drains_and_nothing_is_lost(void **state)
{
    (void)state;
    struct world_opts o = {.devices = DEVICES, .rate = RATE,
                           .gateway = "window 16\nbatch_messages 1000\n"};
    struct world *w = world_start(&o);
    world_run_devices(w);
    const char *soak = getenv("CORIO_SOAK_SECONDS");
    int64_t ms = soak ? atoll(soak) * 1000 / 3 : 8000;
    outage(w, H_CUT, "cut", ms);
    outage(w, H_STALL, "stall", ms);
    world_wait_stored_grows(w, 50);

    struct world_account a = world_finish(w);
    print_message("chaos_uplink: account: %lld devices sent %lld, the cloud stored %lld, "
                  "dropped %lld\n",
                  (long long)a.devices, (long long)a.sent, (long long)a.stored,
                  (long long)a.dropped);
    /* The status the gateway published reached the cloud. */
    json_t *s = world_cloud_status(w);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "ok");
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_long_outage_drains_and_nothing_is_lost),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
