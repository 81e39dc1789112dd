/*
 * test_device_mosquitto.c - the device layer (device.h: the outbox on a flash file, the
 * MQTT client, SenML packs) over the POSIX port against a real Mosquitto 2.0, for the
 * two ways a broker refuses a PUBLISH (issue: "a refused PUBLISH leaves the message in
 * the outbox for a later retry"):
 *
 *   - a PUBACK with a failure reason code: MQTT 5, Mosquitto's ACL denying the device's
 *     topic, which it answers with 0x87 Not authorized (Mosquitto 2.0.11 then also closes
 *     the connection);
 *   - a disconnect without a PUBACK, which is how a full gateway refuses: MQTT 3.1.1,
 *     Mosquitto's max_packet_size, which closes the connection of a client that sends a
 *     larger packet (a 3.1.1 client is never told the limit).
 *
 * Either way the pack stays in the outbox unacknowledged and is tried again; once the
 * broker takes it (the ACL or the limit lifted and the broker restarted) it arrives, with
 * the same (epoch, seq), at a subscriber, and the outbox marks it acknowledged. The
 * device runs in this process and moves only when the test steps it; the broker's
 * policy is a file under an include_dir that a restart rereads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "corio/crypto_psa.h"
#include "corio/device.h"
#include "corio/port_posix.h"
#include "corio/port_posix_flash.h"
#include "corio/senml.h"
#include "harness.h"

#define GATEWAY_ID "aaaaaaaaaaaaaaaaaaaaaaaa"

struct env {
    struct h_mosq *m;
    const char *policy; /* the broker's policy file, under its include_dir */
    struct corio_posix_tcp tcp;
    struct corio_posix_flash flash_file;
    struct corio_transport net;
    struct corio_flash flash;
    struct corio_clock clock;
    struct corio_random random;
    struct corio_key key;
    struct corio_device dev;
    uint8_t tx[4096], rx[512], pack[2048], msg[2048];
};

static struct env E;

static void env_free(void *arg)
{
    struct env *e = arg;
    corio_key_close(&e->key);
    corio_posix_flash_close(&e->flash_file);
}

/* A broker whose policy (policy.conf, empty for none) comes from an include_dir. */
static void broker_start(const char *policy)
{
    const char *dir = h_mkdir("broker.d");
    E.policy = h_strf("%s/policy.conf", dir);
    assert_int_equal(h_write_file(E.policy, policy), CORIO_OK);
    /* verbose: the broker logs every packet, its refusals among them. */
    E.m = h_mosq_start(
        &(struct h_mosq_opts){.verbose = true, .extra = h_strf("include_dir %s\n", dir)});
    assert_non_null(E.m);
}

/* Replaces the policy and restarts the broker with it. */
static void broker_policy(const char *policy)
{
    assert_int_equal(h_write_file(E.policy, policy), CORIO_OK);
    assert_int_equal(h_mosq_restart(E.m), CORIO_OK);
}

static void device_start(uint8_t mqtt_version)
{
    struct corio_device_config cfg;
    memset(&E.tcp, 0, sizeof E.tcp);
    assert_int_equal(corio_crypto_psa_init(), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_psa_ops, 0, 0, &E.key), CORIO_OK);
    assert_int_equal(
        corio_posix_flash_open(&E.flash_file, h_strf("%s/flash.bin", h_dir()), 2048, 16, 8, 0),
        CORIO_OK);
    h_defer(env_free, &E);
    corio_posix_flash_port(&E.flash_file, &E.flash);
    assert_int_equal(corio_posix_tcp_init(&E.tcp, "127.0.0.1", (uint16_t)E.m->port, 2000),
                     CORIO_OK);
    corio_posix_tcp_transport(&E.tcp, &E.net);
    corio_posix_clock(&E.clock);
    corio_posix_random(&E.random);
    corio_device_config_init(&cfg);
    cfg.key = &E.key;
    cfg.gateway_id = GATEWAY_ID;
    cfg.transport = &E.net;
    cfg.clock = &E.clock;
    cfg.random = &E.random;
    cfg.flash = &E.flash;
    cfg.tx = E.tx;
    cfg.tx_len = sizeof E.tx;
    cfg.rx = E.rx;
    cfg.rx_len = sizeof E.rx;
    cfg.pack = E.pack;
    cfg.pack_len = sizeof E.pack;
    cfg.msg = E.msg;
    cfg.msg_len = sizeof E.msg;
    cfg.mqtt_version = mqtt_version;
    cfg.no_time = true;
    cfg.heartbeat_ms = 0;
    cfg.backoff.initial_ms = 100;
    cfg.backoff.max_ms = 400;
    cfg.backoff.jitter_pct = 0;
    assert_int_equal(corio_device_init(&E.dev, &cfg), CORIO_OK);
    assert_int_equal(corio_device_start(&E.dev), CORIO_OK);
}

static struct corio_device_stats stats(void)
{
    struct corio_device_stats st;
    assert_int_equal(corio_device_stats(&E.dev, &st), CORIO_OK);
    return st;
}

static void step(void)
{
    uint32_t wait = corio_device_poll_ms(&E.dev);
    corio_posix_tcp_wait(&E.tcp, wait < 20 ? wait : 20, corio_device_want_write(&E.dev));
    assert_int_equal(corio_device_process(&E.dev), CORIO_OK);
}

/* Steps the device until cond holds, or fails after timeout_ms. */
#define RUN_UNTIL(cond, timeout_ms)                                                                \
    do {                                                                                           \
        int64_t deadline_ = h_now_ms() + h_ms(timeout_ms);                                         \
        while (!(cond)) {                                                                          \
            if (h_now_ms() > deadline_)                                                            \
                fail_msg("timed out waiting for %s", #cond);                                       \
            step();                                                                                \
        }                                                                                          \
    } while (0)

/* Steps the device for ms, whatever happens. */
static void run_for(int ms)
{
    int64_t end = h_now_ms() + ms;
    while (h_now_ms() < end)
        step();
}

/* A subscriber to the device's packs, connected after the broker's (re)start. */
static struct h_mqtt *subscriber(void)
{
    struct h_mqtt *s = h_mqtt_connect(E.m->port, &(struct h_mqtt_opts){.mqtt5 = true});
    assert_non_null(s);
    assert_int_equal(h_mqtt_subscribe(s, "corio/v1/d/+/up/#", 1), CORIO_OK);
    return s;
}

/* One pack: a temperature and, to make it large, a string of pad_len bytes. */
static uint32_t commit_pack(size_t pad_len)
{
    static char pad[1800];
    uint32_t seq;
    assert_true(pad_len < sizeof pad);
    memset(pad, 'x', pad_len);
    pad[pad_len] = '\0';
    assert_int_equal(corio_device_begin(&E.dev), CORIO_OK);
    assert_int_equal(corio_device_add_number(&E.dev, "temp", "Cel", 21.5), CORIO_OK);
    if (pad_len)
        assert_int_equal(corio_device_add_string(&E.dev, "note", NULL, pad), CORIO_OK);
    assert_int_equal(corio_device_commit(&E.dev, &seq), CORIO_OK);
    return seq;
}

/* The pack s received: on the device's up/cbor topic, with this (epoch, seq). */
static void check_received(struct h_mqtt *s, uint32_t seq)
{
    const struct h_mqtt_msg *m = h_mqtt_msg(s, 0);
    assert_non_null(m);
    assert_string_equal(m->topic, h_strf("corio/v1/d/%s/up/cbor", corio_device_id(&E.dev)));
    char names[128];
    struct corio_senml_dec dec;
    struct corio_senml_record r;
    assert_int_equal(corio_senml_dec_init(&dec, CORIO_FORMAT_CBOR, m->payload, (size_t)m->len,
                                          names, sizeof names),
                     CORIO_OK);
    const struct corio_senml_ext *x = corio_senml_dec_ext(&dec);
    assert_true(x->has_seq);
    assert_int_equal(x->ep, stats().epoch);
    assert_int_equal(x->seq, seq);
    assert_int_equal(corio_senml_dec_next(&dec, &r), 1);
    assert_string_equal(r.name, h_strf("urn:corio:%s:temp", corio_device_id(&E.dev)));
}

/* MQTT 5: the ACL refuses with PUBACK 0x87; the pack waits in the outbox and, refused
 * again after each backoff, is never lost; with the ACL lifted it arrives as it was. */
static void refused_with_a_reason_code_stays_in_the_outbox(void **state)
{
    (void)state;
    const char *acl = h_strf("%s/acl", h_dir());
    assert_int_equal(h_write_file(acl, "pattern read #\n"), CORIO_OK);
    broker_start(h_strf("acl_file %s\n", acl));
    struct h_mqtt *s = subscriber();
    device_start(CORIO_MQTT_V5);
    RUN_UNTIL(stats().connected, 5000);

    uint32_t seq = commit_pack(0);
    RUN_UNTIL(stats().refused >= 2, 10000); /* refused, and refused again later */
    assert_true(h_proc_log_contains(E.m->proc, "Denied PUBLISH"));
    struct corio_device_stats st = stats();
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.acked, 0);
    assert_int_equal(st.last_seq, seq);
    assert_int_equal(h_mqtt_count(s, NULL), 0);

    /* The ACL lifted: the same pack gets through. */
    assert_int_equal(h_write_file(acl, "pattern readwrite #\n"), CORIO_OK);
    broker_policy(h_strf("acl_file %s\n", acl));
    h_mqtt_close(s);
    s = subscriber();
    RUN_UNTIL(stats().acked == 1, 10000);
    assert_int_equal(stats().pending, 0);
    assert_int_equal(h_mqtt_wait_count(s, NULL, 1, h_ms(5000)), 1);
    check_received(s, seq);
    run_for(300);
    assert_int_equal(h_mqtt_count(s, NULL), 1); /* once */
}

/* MQTT 3.1.1: a PUBLISH larger than max_packet_size makes Mosquitto drop the connection
 * without a PUBACK. The device reconnects, sends it again, is dropped again: the pack
 * stays unacknowledged. A smaller pack behind it waits its turn (packs go in seq order).
 * With the limit lifted both arrive, in order. */
static void disconnected_without_a_puback_stays_in_the_outbox(void **state)
{
    (void)state;
    broker_start("max_packet_size 1500\n");
    struct h_mqtt *s = subscriber();
    device_start(CORIO_MQTT_V311);
    RUN_UNTIL(stats().connected, 5000);

    uint32_t big = commit_pack(1600);
    RUN_UNTIL(stats().link_errors >= 2, 10000); /* dropped, reconnected, dropped again */
    assert_true(h_proc_log_contains(E.m->proc, "disconnected due to oversize packet"));
    uint32_t small = commit_pack(0);
    run_for(500);
    struct corio_device_stats st = stats();
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.acked, 0);
    assert_int_equal(st.refused, 0); /* no reason code: a lost connection */
    assert_int_equal(h_mqtt_count(s, NULL), 0);

    broker_policy("");
    h_mqtt_close(s);
    s = subscriber();
    RUN_UNTIL(stats().acked == 2, 10000);
    assert_int_equal(stats().pending, 0);
    assert_int_equal(h_mqtt_wait_count(s, NULL, 2, h_ms(5000)), 2);
    check_received(s, big);
    const struct h_mqtt_msg *m = h_mqtt_msg(s, 1);
    assert_non_null(m);
    char names[128];
    struct corio_senml_dec dec;
    assert_int_equal(corio_senml_dec_init(&dec, CORIO_FORMAT_CBOR, m->payload, (size_t)m->len,
                                          names, sizeof names),
                     CORIO_OK);
    assert_int_equal(corio_senml_dec_ext(&dec)->seq, small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(refused_with_a_reason_code_stays_in_the_outbox),
        H_TEST(disconnected_without_a_puback_stays_in_the_outbox),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
