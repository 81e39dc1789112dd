/*
 * chaos_telemetry.c - the telemetry path end to end under faults: simulated devices →
 * corio-gateway (its Mosquitto + plugin) → fault proxy → cloud Mosquitto → corio-cloud
 * (chaos_world.h). While the devices publish, the test cuts and stalls the gateway–cloud
 * link, SIGKILLs corio-gateway, the gateway's broker, the cloud broker (while corio-cloud
 * is frozen, so that batches the broker PUBACKed die with it) and corio-cloud. Then it
 * checks the exact account of every device: sent = stored + dropped, dropped = 0, every
 * seq stored exactly once, no gap left.
 *
 * The cloud-broker step is what makes a gateway that moved its watermark on the
 * broker's PUBACK lose messages: those batches were acknowledged by the broker and never
 * reached the database. A non-idempotent ingest shows as more rows than sequence
 * numbers. In `make test` one round of faults runs; `make soak` repeats rounds for
 * CORIO_SOAK_SECONDS.
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

#define DEVICES 10
#define RATE    "10"

static pid_t broker_pid(struct world *w)
{
    /* The last "broker started" line of corio-gateway's log names the live broker. */
    const char *log = h_read_file(h_proc_log(w->gateway), NULL);
    const char *at = NULL;
    for (const char *p = log; (p = strstr(p, "msg=\"broker started\" pid=")); p++)
        at = p;
    assert_non_null(at);
    return (pid_t)atoi(strstr(at, "pid=") + 4);
}

static void one_round_of_faults(struct world *w)
{
    /* The link cut, then stalled: the gateway keeps accepting; the cloud catches up. */
    world_wait_stored_grows(w, 20);
    assert_int_equal(h_proxy_set(w->link, H_CUT, 0), CORIO_OK);
    world_wait_written_grows(w, 20);
    assert_int_equal(h_proxy_set(w->link, H_PASS, 0), CORIO_OK);
    world_wait_stored_grows(w, 20);
    assert_int_equal(h_proxy_set(w->link, H_STALL, 0), CORIO_OK);
    world_wait_written_grows(w, 20);
    assert_int_equal(h_proxy_set(w->link, H_PASS, 0), CORIO_OK);
    world_wait_stored_grows(w, 20);

    /* corio-gateway SIGKILLed mid-stream (its broker follows it down), then restarted. */
    assert_int_equal(kill(h_proc_pid(w->gateway), SIGKILL), 0);
    assert_int_equal(h_proc_restart(w->gateway), CORIO_OK);
    assert_int_equal(h_proc_wait_port(w->gateway, w->device_port, 30000), CORIO_OK);
    world_wait_stored_grows(w, 20);

    /* The gateway's broker SIGKILLed: corio-gateway restarts it. */
    assert_int_equal(kill(broker_pid(w), SIGKILL), 0);
    assert_int_equal(h_proc_wait_log(w->gateway, "broker died; restarting", 10000), CORIO_OK);
    assert_int_equal(h_wait_port(w->device_port, 30000), CORIO_OK);
    world_wait_stored_grows(w, 20);

    /* corio-cloud frozen while the cloud broker PUBACKs batches and queues them for it;
     * then the broker is SIGKILLed with its queue. Only application acks save them. */
    assert_int_equal(h_proc_signal(w->cloud, SIGSTOP), CORIO_OK);
    world_wait_written_grows(w, 30);
    h_proc_kill(w->cloud_broker->proc);
    assert_int_equal(h_mosq_restart(w->cloud_broker), CORIO_OK);
    assert_int_equal(h_proc_signal(w->cloud, SIGCONT), CORIO_OK);
    world_wait_stored_grows(w, 20);

    /* corio-cloud SIGKILLed mid-stream, then restarted on the same database. */
    h_proc_kill(w->cloud);
    assert_int_equal(h_proc_restart(w->cloud), CORIO_OK);
    assert_int_equal(h_wait_http_ok(h_strf("http://127.0.0.1:%d/healthz", w->http_port), 30000),
                     CORIO_OK);
    world_wait_stored_grows(w, 20);
}

static void every_message_is_stored_exactly_once_through_faults(void **state)
{
    (void)state;
    struct world_opts o = {.devices = DEVICES, .rate = RATE};
    struct world *w = world_start(&o);
    world_run_devices(w);
    const char *soak = getenv("CORIO_SOAK_SECONDS");
    int64_t until = h_now_ms() + (soak ? atoll(soak) * 1000 : 0);
    int rounds = 0;
    do {
        one_round_of_faults(w);
        rounds++;
    } while (h_now_ms() < until);

    struct world_account a = world_finish(w);
    print_message("chaos_telemetry: %d round(s) of cuts, stalls and SIGKILLs (corio-gateway, "
                  "its broker, the cloud broker, corio-cloud); account: %lld devices sent %lld, "
                  "the cloud stored %lld, dropped %lld\n",
                  rounds, (long long)a.devices, (long long)a.sent, (long long)a.stored,
                  (long long)a.dropped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(every_message_is_stored_exactly_once_through_faults),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
