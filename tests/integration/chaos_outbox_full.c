/*
 * chaos_outbox_full.c - the gateway's outbox full: a small outbox_max_bytes and the
 * uplink cut, so that the outbox fills while the devices keep sending. The plugin then
 * refuses (the broker disconnects the device without a PUBACK), the devices keep what
 * was refused in their own outboxes and retry after their backoff; when the uplink
 * returns, the gateway drains, takes the devices' messages again, and everything
 * arrives. The refusals are counted on /metrics; nothing is dropped (telemetry is never
 * dropped, only refused). Ends with the exact account per device: sent = stored +
 * dropped, dropped = 0, every seq once, no gap. `make soak` repeats fill-and-drain
 * cycles for CORIO_SOAK_SECONDS.
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

#define DEVICES 5
#define RATE    "10"
/* About 200 of the sim's packs: full in a few seconds of cut uplink. */
#define MAX_BYTES "64k"

static void a_full_outbox_refuses_devices_keep_it_everything_arrives(void **state)
{
    (void)state;
    struct world_opts o = {.devices = DEVICES, .rate = RATE,
                           .gateway = "outbox_max_bytes " MAX_BYTES "\n"};
    struct world *w = world_start(&o);
    world_run_devices(w);
    const char *soak = getenv("CORIO_SOAK_SECONDS");
    int64_t until = h_now_ms() + (soak ? atoll(soak) * 1000 : 0);
    int cycles = 0;
    double refused = 0;
    do {
        world_wait_stored_grows(w, 50);
        double before = world_metric(w, "corio_gateway_refused_total");
        assert_int_equal(h_proxy_set(w->link, H_CUT, 0), CORIO_OK);
        /* Full: refusals start, and go on for a while (the devices' outboxes hold 40 s of
         * their packs; this stays well inside that). */
        bool full;
        H_POLL(full, world_metric(w, "corio_gateway_refused_total") >= before + 1, 60000);
        assert_true(full);
        int64_t t = h_now_ms() + 5000;
        bool waited;
        H_POLL(waited, h_now_ms() >= t, 10000);
        double rows = world_metric(w, "corio_gateway_outbox_rows");
        double bytes = world_metric(w, "corio_gateway_outbox_bytes");
        assert_true(bytes <= 64 * 1024);
        assert_int_equal(h_proxy_set(w->link, H_PASS, 0), CORIO_OK);
        world_wait_stored_grows(w, 100);
        refused = world_metric(w, "corio_gateway_refused_total");
        cycles++;
        print_message("chaos_outbox_full: cycle %d: %.0f rows (%.0f bytes of 65536) when full, "
                      "%.0f refusals so far\n",
                      cycles, rows, bytes, refused);
    } while (h_now_ms() < until);

    struct world_account a = world_finish(w);
    print_message("chaos_outbox_full: %d cycle(s), %.0f messages refused at the gateway and "
                  "sent again by their devices (%lld disconnects seen by the devices); account: "
                  "%lld devices sent %lld, the cloud stored %lld, dropped %lld\n",
                  cycles, refused, (long long)a.link_errors, (long long)a.devices,
                  (long long)a.sent, (long long)a.stored, (long long)a.dropped);
    assert_true(refused >= 1);
    assert_true(a.link_errors >= 1); /* a refusal is a disconnect without a PUBACK */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_full_outbox_refuses_devices_keep_it_everything_arrives),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
