/*
 * test_device.c - the device layer (device.h) against a scripted in-memory broker, a
 * fake clock that starts just before the 32-bit wrap, and a RAM flash that behaves
 * like ECC flash (each unit programmed once per erase, bits only cleared; a violation
 * fails the test). Covers: sample -> outbox -> publish -> PUBACK -> acknowledged; a
 * failed append publishes nothing; a lost PUBACK resent after the reconnect with the
 * same (epoch, seq) and a fresh token; refusals by reason code and by disconnect keep
 * the entry and retry after a backoff; the in-flight bound; reboots that continue seq
 * and resend what was pending; single-step tokens whose counter never repeats across
 * reboots, also when power cuts tear the counter store's writes; heartbeat; dn/time;
 * dn/resend (a gateway that lost acknowledged messages in a power cut gets them again).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/crypto_psa.h"
#include "corio/device.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/heartbeat.h"
#include "corio/senml.h"
#include "device_int.h"

#define SIM_VIOLATION(msg) fail_msg("%s", msg)
#include "test_outbox_sim.h"

struct fx_app {
    int unused; /* this file keeps all its state in the fixture */
};

#include "test_device_world.h"

static const struct corio_device_callbacks callbacks = {.on_link = on_link, .on_time = on_time};

/* The QoS 1 publishes recorded so far on up/, from index `from`. */
static int count_up(int from)
{
    int n = 0;
    for (int i = from; i < F.b.npubs; i++)
        if (F.b.pubs[i].qos == 1)
            n++;
    return n;
}

/* ---------------------------------------------------------------------------------
 * Tests
 */

static void connects_with_single_step_login(void **state)
{
    (void)state;
    fixture();
    online();
    assert_int_equal(F.b.connects, 1);
    assert_string_equal(F.b.client_id, corio_device_id(&F.d));
    assert_string_equal(F.b.username, corio_device_did(&F.d));
    assert_true(F.b.counters[0] >= 1);
    assert_int_equal(F.b.bootcounts[0], 1);
    /* The device's id is the DID of its key. */
    struct corio_did did;
    char id[25];
    assert_int_equal(corio_did_from_key(&corio_crypto_psa_ops, F.pub, sizeof F.pub, &did),
                     CORIO_OK);
    corio_did_id_format(did.id, id, sizeof id);
    assert_string_equal(corio_device_id(&F.d), id);
    /* Subscribed to its downlink. */
    assert_int_equal(F.b.subscribes, 1);
    char want[64];
    snprintf(want, sizeof want, "corio/v1/d/%s/dn/#", id);
    assert_string_equal(F.b.filters[0], want);
    struct corio_device_stats st = stats();
    assert_true(st.connected);
    assert_int_equal(st.boot_count, 1);
    assert_int_equal(st.store, CORIO_DEVICE_STORE_BLANK);
    assert_int_equal(st.outbox, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    assert_int_equal(F.links_up, 1);
}

static void sample_outbox_publish_puback_acked(void **state)
{
    (void)state;
    fixture();
    online();
    advance(1234);
    uint32_t seq = sample(21.5);
    assert_int_equal(seq, 1);
    /* Published QoS 1 on up/cbor, stamped with epoch, seq, boot count and uptime. */
    assert_int_equal(F.b.npubs, 1);
    char topic[64];
    snprintf(topic, sizeof topic, "corio/v1/d/%s/up/cbor", corio_device_id(&F.d));
    assert_string_equal(F.b.pubs[0].topic, topic);
    assert_int_equal(F.b.pubs[0].qos, 1);
    double v;
    struct corio_senml_ext x = pack_ext(&F.b.pubs[0], &v);
    assert_true(v == 21.5);
    struct corio_device_stats st = stats();
    assert_true(x.has_seq);
    assert_int_equal(x.ep, st.epoch);
    assert_int_equal(x.seq, 1);
    assert_true(x.has_boot);
    assert_int_equal(x.boot, 1);
    assert_int_equal(x.upt, 1234);
    /* The PUBACK is not processed yet: the entry is on flash, pending. */
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.inflight, 1);
    run();
    st = stats();
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.acked, 1);
    assert_int_equal(st.produced, 1);
    assert_int_equal(st.last_seq, 1);
    assert_int_equal(st.inflight, 0);
    /* Acknowledged on flash: a reboot does not publish it again. */
    reboot();
    online();
    run();
    assert_int_equal(count_up(0), 1);
    assert_int_equal(stats().pending, 0);
}

static void json_format(void **state)
{
    (void)state;
    fixture();
    F.cfg.format = CORIO_FORMAT_JSON;
    online();
    sample(3.25);
    assert_int_equal(F.b.npubs, 1);
    assert_non_null(strstr(F.b.pubs[0].topic, "/up/json"));
    double v;
    struct corio_senml_ext x = pack_ext(&F.b.pubs[0], &v);
    assert_true(v == 3.25);
    assert_int_equal(x.seq, 1);
    assert_int_equal(F.b.pubs[0].payload[0], '[');
}

static void nothing_is_published_before_it_is_on_flash(void **state)
{
    (void)state;
    fixture();
    online();
    F.flash.fail_program = 1;
    assert_int_equal(corio_device_begin(&F.d), CORIO_OK);
    assert_int_equal(corio_device_add_number(&F.d, "temp", "Cel", 1), CORIO_OK);
    assert_int_equal(corio_device_commit(&F.d, NULL), CORIO_ERR_IO);
    run();
    assert_int_equal(F.b.npubs, 0);
    F.flash.fail_program = 0;
    /* The next pack names the seq the outbox will really give it. */
    uint32_t seq = sample(2);
    assert_int_equal(F.b.npubs, 1);
    struct corio_senml_ext x = pack_ext(&F.b.pubs[0], NULL);
    assert_int_equal(x.seq, seq);
}

static void lost_puback_is_resent_after_reconnect_with_the_same_seq(void **state)
{
    (void)state;
    fixture();
    online();
    F.b.policy = HOLD;
    uint32_t seq = sample(7);
    run();
    assert_int_equal(F.b.npubs, 1);
    assert_int_equal(stats().pending, 1);
    /* The connection dies before the PUBACK. */
    F.m.peer_closed = true;
    run();
    assert_false(F.d.connected);
    assert_int_equal(stats().pending, 1);
    F.b.policy = ACK;
    run_for(10000);
    assert_true(F.d.connected);
    assert_int_equal(F.b.connects, 2);
    /* A fresh token: its counter is above the first one. */
    assert_true(F.b.counters[1] > F.b.counters[0]);
    /* The same message again, same epoch and seq, same bytes. */
    assert_int_equal(F.b.npubs, 2);
    assert_int_equal(F.b.pubs[1].len, F.b.pubs[0].len);
    assert_memory_equal(F.b.pubs[1].payload, F.b.pubs[0].payload, F.b.pubs[0].len);
    struct corio_senml_ext x = pack_ext(&F.b.pubs[1], NULL);
    assert_int_equal(x.seq, seq);
    struct corio_device_stats st = stats();
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.acked, 1);
    assert_int_equal(st.resent, 1);
}

static void refused_publish_stays_and_is_retried_after_a_backoff(void **state)
{
    (void)state;
    fixture();
    online();
    F.b.policy = REFUSE;
    sample(1);
    run();
    struct corio_device_stats st = stats();
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.inflight, 0);
    /* Not again at once: the backoff (500..1000 ms for the first refusal) runs. */
    advance(400);
    run();
    assert_int_equal(F.b.npubs, 1);
    /* Refused again: the second wait is longer (1000..2000 ms). */
    advance(600);
    run();
    assert_int_equal(F.b.npubs, 2);
    assert_int_equal(stats().refused, 2);
    advance(900);
    run();
    assert_int_equal(F.b.npubs, 2);
    F.b.policy = ACK;
    run_for(1200);
    assert_int_equal(F.b.npubs, 3);
    assert_memory_equal(F.b.pubs[2].payload, F.b.pubs[0].payload, F.b.pubs[0].len);
    st = stats();
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.acked, 1);
    /* After a success the backoff starts over. */
    F.b.policy = REFUSE;
    sample(2);
    run();
    F.b.policy = ACK;
    advance(1000);
    run();
    assert_int_equal(stats().pending, 0);
}

static void a_full_gateway_refuses_by_disconnecting(void **state)
{
    (void)state;
    fixture();
    online();
    F.b.policy = CLOSE_ON_PUBLISH;
    sample(1);
    run();
    assert_false(F.d.connected);
    assert_int_equal(stats().pending, 1);
    /* Each reconnect resends it and is cut again; the waits grow. */
    run_for(1000);
    int n = F.b.npubs;
    assert_true(n >= 2);
    run_for(30000);
    assert_true(F.b.npubs - n <= 10); /* waits of 1..2, 2..4, 4..8 s; once a second without */
    assert_int_equal(stats().pending, 1);
    F.b.policy = ACK;
    run_for(10000);
    struct corio_device_stats st = stats();
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.acked, 1);
    for (int i = 1; i < F.b.npubs; i++)
        assert_memory_equal(F.b.pubs[i].payload, F.b.pubs[0].payload, F.b.pubs[0].len);
}

static void the_window_bounds_what_is_in_flight(void **state)
{
    (void)state;
    fixture();
    F.cfg.max_inflight = 3;
    online();
    F.b.policy = HOLD;
    for (int i = 0; i < 10; i++)
        sample(i);
    run();
    assert_int_equal(count_up(0), 3);
    assert_int_equal(stats().inflight, 3);
    /* Acknowledge them one by one: each frees one place, in seq order. */
    for (int k = 0; k < 7; k++) {
        puback(F.b.held[k], 0);
        run();
        assert_int_equal(count_up(0), 4 + k);
        struct corio_senml_ext x = pack_ext(&F.b.pubs[3 + k], NULL);
        assert_int_equal(x.seq, 4 + k);
    }
    for (int k = 7; k < 10; k++)
        puback(F.b.held[k], 0);
    run();
    assert_int_equal(stats().pending, 0);
    assert_int_equal(stats().acked, 10);
}

static void a_refusal_retries_without_duplicating_what_is_in_flight(void **state)
{
    (void)state;
    fixture();
    F.cfg.max_inflight = 3;
    online();
    F.b.policy = HOLD;
    for (int i = 0; i < 4; i++)
        sample(i);
    run();
    assert_int_equal(count_up(0), 3);
    /* The gateway refuses seq 2 (quota exceeded); 1 and 3 stay in flight. */
    puback(F.b.held[1], 0x97);
    run();
    assert_int_equal(stats().refused, 1);
    assert_int_equal(count_up(0), 3); /* nothing new during the backoff */
    run_for(1000);
    /* After the backoff, from the oldest unacknowledged: 2 again (the window is full
     * again); never 1 or 3, which the client still holds. */
    assert_int_equal(count_up(0), 4);
    assert_int_equal(pack_ext(&F.b.pubs[3], NULL).seq, 2);
    F.b.policy = ACK;
    for (int k = 0; k < F.b.nheld; k++)
        if (k != 1)
            puback(F.b.held[k], 0);
    run();
    assert_int_equal(pack_ext(&F.b.pubs[4], NULL).seq, 4);
    struct corio_device_stats st = stats();
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.acked, 4);
    assert_int_equal(count_up(0), 5);
}

static void reboot_continues_seq_and_resends_the_pending(void **state)
{
    (void)state;
    fixture();
    online();
    sample(1);
    run();
    uint32_t epoch = stats().epoch;
    F.b.policy = HOLD;
    sample(2);
    sample(3);
    run();
    assert_int_equal(stats().pending, 2);
    uint64_t last_counter = F.b.counters[F.b.connects - 1];

    reboot();
    F.b.policy = ACK;
    int from = F.b.npubs;
    online();
    struct corio_device_stats st = stats();
    assert_int_equal(st.boot_count, 2);
    assert_int_equal(st.store, CORIO_DEVICE_STORE_RECOVERED);
    assert_int_equal(st.outbox, CORIO_DEV_OUTBOX_RECOVERED);
    assert_int_equal(st.epoch, epoch);
    assert_true(F.b.counters[F.b.connects - 1] > last_counter);
    assert_int_equal(F.b.bootcounts[F.b.connects - 1], 2);
    /* 2 and 3, in order, the same bytes as before. */
    run();
    assert_int_equal(count_up(from), 2);
    assert_int_equal(pack_ext(&F.b.pubs[from], NULL).seq, 2);
    assert_int_equal(pack_ext(&F.b.pubs[from + 1], NULL).seq, 3);
    assert_memory_equal(F.b.pubs[from].payload, F.b.pubs[1].payload, F.b.pubs[1].len);
    /* New packs continue the sequence in the same epoch, stamped with boot 2. */
    uint32_t seq = sample(4);
    assert_int_equal(seq, 4);
    struct corio_senml_ext x = pack_ext(&F.b.pubs[F.b.npubs - 1], NULL);
    assert_int_equal(x.ep, epoch);
    assert_int_equal(x.boot, 2);
    run();
    assert_int_equal(stats().pending, 0);
}

static void counters_never_repeat_across_reboots(void **state)
{
    (void)state;
    fixture();
    uint64_t last = 0;
    uint32_t boots = 0;
    /* Enough boots and connections to wrap the store's sectors several times, with
     * more connections in some boots than a block holds. */
    for (int b = 0; b < 60; b++) {
        reboot();
        online();
        boots++;
        int extra = b % 7 == 0 ? CORIO_DEVICE_COUNTER_BLOCK + 3 : b % 3;
        for (int k = 0; k < extra; k++) {
            F.m.peer_closed = true;
            run();
            run_for(10000);
            assert_true(F.d.connected);
        }
        assert_int_equal(stats().boot_count, boots);
    }
    assert_true(F.b.connects > 60 + 9 * CORIO_DEVICE_COUNTER_BLOCK);
    for (int i = 0; i < F.b.connects; i++) {
        if (F.b.counters[i] <= last)
            fail_msg("connection %d: counter %llu after %llu", i,
                     (unsigned long long)F.b.counters[i], (unsigned long long)last);
        last = F.b.counters[i];
    }
    /* A reboot skips less than a block. */
    assert_true(last < (uint64_t)F.b.connects + 60u * CORIO_DEVICE_COUNTER_BLOCK);
}

/* One run of the store workload on sim: boots, each taking some counters (more than a
 * block in some boots), until `boots` boots have completed. A cut (the sim's budgets)
 * makes a boot end early; the power comes back for the next one, and a weak unit
 * settles one boot later. Every counter handed out must be greater than every one
 * before it, whatever the cut left. */
static void store_workload(struct sim *sim, int boots, const char *what)
{
    struct corio_flash f;
    sim_port(sim, &f);
    uint64_t high = 0;
    uint32_t boot = 0;
    int settle_in = -1;
    for (int b = 0; b < boots; b++) {
        struct corio_device_store s;
        if (settle_in == 0)
            sim_settle(sim);
        settle_in--;
        if (sim->dead) {
            sim_power_on(sim);
            settle_in = 1;
        }
        int rc = corio__dev_store_open(&s, &f, 4);
        if (sim->dead)
            continue; /* the cut hit this boot's own record */
        if (rc != CORIO_OK)
            fail_msg("%s: boot %d: open %d", what, b, rc);
        if (s.boot <= boot && boot != 0)
            fail_msg("%s: boot count %u after %u", what, s.boot, boot);
        boot = s.boot;
        for (int k = 0; k < 2 + (b * 5) % 9; k++) {
            uint64_t v;
            rc = corio__dev_store_take(&s, 4, &v);
            if (sim->dead)
                break;
            if (rc != CORIO_OK)
                fail_msg("%s: boot %d: take %d", what, b, rc);
            if (v <= high)
                fail_msg("%s: counter %llu handed out again (highest before %llu)", what,
                         (unsigned long long)v, (unsigned long long)high);
            high = v;
        }
    }
    if (high == 0)
        fail_msg("%s: no counter handed out", what);
}

/* The store alone, with a power cut after every programmed byte and in every erase of
 * a workload, in each way the sim can leave the unit or sector in flight, for program
 * units of 8 bytes (a record's first unit is the same in every record), 16 and 32 (one
 * unit per record). */
static void store_counters_survive_power_cuts(void **state)
{
    (void)state;
    static const int modes[] = {SIM_CUT_CLEAN, SIM_CUT_GARBAGE, SIM_CUT_WEAK, SIM_CUT_ECC};
    static const uint32_t units[] = {8, 16, 32};
    struct sim sim;
    char what[96];
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        sim_init(&sim, 256, CORIO_DEVICE_STORE_SECTORS, units[u], 0);
        store_workload(&sim, 14, "no cut");
        long total = (long)sim.programmed;
        long erases = (long)sim.erases;
        sim_free(&sim);
        assert_true(erases >= 3); /* the workload wraps both sectors */
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            for (long cut = 0; cut <= total; cut++) {
                sim_init(&sim, 256, CORIO_DEVICE_STORE_SECTORS, units[u], 0);
                sim.cut_mode = modes[m];
                sim.budget = cut;
                snprintf(what, sizeof what, "unit %u, mode %d, cut after %ld bytes",
                         (unsigned)units[u], modes[m], cut);
                store_workload(&sim, 16, what);
                sim_free(&sim);
            }
            for (long cut = 0; cut < erases; cut++) {
                sim_init(&sim, 256, CORIO_DEVICE_STORE_SECTORS, units[u], 0);
                sim.cut_mode = modes[m];
                sim.erase_budget = cut;
                snprintf(what, sizeof what, "unit %u, mode %d, cut in erase %ld",
                         (unsigned)units[u], modes[m], cut);
                store_workload(&sim, 16, what);
                sim_free(&sim);
            }
        }
    }
}

static void store_starts_over_on_garbage(void **state)
{
    (void)state;
    struct ram r;
    ram_init(&r);
    memset(r.data, 0x5A, 2 * SECTOR);
    memset(r.written, 1, 2 * SECTOR / UNIT);
    struct corio_flash f = ram_port(&r, CORIO_DEVICE_STORE_SECTORS);
    struct corio_device_store s;
    assert_int_equal(corio__dev_store_open(&s, &f, 4), CORIO_OK);
    assert_int_equal(s.opened, CORIO_DEVICE_STORE_CORRUPT);
    assert_int_equal(s.boot, 1);
    uint64_t v;
    assert_int_equal(corio__dev_store_take(&s, 4, &v), CORIO_OK);
    assert_int_equal(v, 1);
    /* Geometry it refuses. */
    struct corio_flash bad = ram_port(&r, 3);
    assert_int_equal(corio__dev_store_open(&s, &bad, 4), CORIO_ERR_INVAL);
    assert_int_equal(corio__dev_store_open(&s, &f, 0), CORIO_ERR_INVAL);
}

static void a_failed_token_sends_no_password(void **state)
{
    (void)state;
    fixture();
    online();
    /* The store cannot reserve: the next attempt carries no token, the broker refuses
     * it; when the flash works again the device gets in. */
    F.flash.fail_program = 1;
    for (int i = 0; i < CORIO_DEVICE_COUNTER_BLOCK + 1; i++) {
        F.m.peer_closed = true;
        run();
        if (stats().login_errors)
            break;
        run_for(10000);
    }
    assert_true(stats().login_errors >= 1);
    run_for(10000);
    assert_int_equal(F.b.counters[F.b.connects - 1], 0); /* no password */
    assert_false(F.d.connected);
    F.flash.fail_program = 0;
    run_for(20000);
    assert_true(F.d.connected);
    assert_true(F.b.counters[F.b.connects - 1] > 0);
}

static void heartbeat_on_connect_and_on_interval(void **state)
{
    (void)state;
    fixture();
    F.cfg.heartbeat_ms = 5000;
    F.cfg.format = CORIO_FORMAT_JSON;
    online();
    F.b.policy = HOLD;
    advance(2000);
    sample(1);
    sample(2);
    run();
    assert_true(F.b.npubs >= 1);
    /* The first one went out right after the CONNACK. */
    assert_non_null(strstr(F.b.pubs[0].topic, "/up/hb"));
    assert_int_equal(F.b.pubs[0].qos, 0);
    run_for(3100);
    struct pub *hb = &F.b.pubs[F.b.npubs - 1];
    assert_non_null(strstr(hb->topic, "/up/hb"));
    struct corio_heartbeat h;
    assert_int_equal(corio_heartbeat_decode(CORIO_FORMAT_JSON, hb->payload, hb->len, &h), CORIO_OK);
    struct corio_device_stats st = stats();
    assert_int_equal(h.uptime_s, 5);
    assert_int_equal(h.boot, 1);
    assert_int_equal(h.epoch, st.epoch);
    assert_int_equal(h.last_seq, 2);
    assert_int_equal(h.pending, 2);
    assert_int_equal(h.drops, 0);
    assert_int_equal(st.heartbeats, 2);
}

static void time_from_dn_time(void **state)
{
    (void)state;
    fixture();
    online();
    sample(1);
    struct corio_senml_ext x = pack_ext(&F.b.pubs[0], NULL);
    assert_true(x.has_boot);
    /* The gateway sends the time. */
    uint8_t payload[32], pkt[128];
    uint64_t t0 = 1764500000123ull;
    int n = corio_device_time_encode(t0, payload, sizeof payload);
    assert_true(n > 0);
    char topic[64];
    snprintf(topic, sizeof topic, "corio/v1/d/%s/dn/time", corio_device_id(&F.d));
    struct corio_mqtt_publish m = {.topic = topic,
                                   .topic_len = (uint16_t)strlen(topic),
                                   .qos = 1,
                                   .packet_id = 9,
                                   .payload = payload,
                                   .payload_len = (size_t)n};
    int len = corio_mqtt_encode_publish(pkt, sizeof pkt, CORIO_MQTT_V5, &m);
    assert_true(len > 0);
    feed(pkt, (size_t)len);
    run();
    assert_true(F.time_seen == t0);
    assert_true(stats().has_time);
    advance(2500);
    sample(2);
    const struct pub *p = &F.b.pubs[F.b.npubs - 1];
    char names[256];
    struct corio_senml_dec dec;
    struct corio_senml_record r;
    assert_int_equal(
        corio_senml_dec_init(&dec, CORIO_FORMAT_CBOR, p->payload, p->len, names, sizeof names),
        CORIO_OK);
    assert_false(corio_senml_dec_ext(&dec)->has_boot);
    assert_int_equal(corio_senml_dec_ext(&dec)->seq, 2);
    assert_int_equal(corio_senml_dec_next(&dec, &r), 1);
    assert_false(r.time_relative);
    assert_true(r.time == (double)(t0 + 2500) / 1000.0);
    assert_int_equal(stats().unix_ms, t0 + 2500);
}

static void no_time_device_never_subscribes_to_dn_time(void **state)
{
    (void)state;
    fixture();
    F.cfg.no_time = true;
    online();
    assert_int_equal(F.b.subscribes, 3);
    for (int i = 0; i < 3; i++)
        assert_null(strstr(F.b.filters[i], "time"));
    assert_non_null(strstr(F.b.filters[0], "/dn/cmd"));
}

static void time_codec(void **state)
{
    (void)state;
    uint8_t buf[32];
    uint64_t t;
    int n = corio_device_time_encode(1764500000000ull, buf, sizeof buf);
    /* {1: 1, 2: 1764500000000} */
    static const uint8_t want[] = {0xa2, 0x01, 0x01, 0x02, 0x1b, 0x00, 0x00,
                                   0x01, 0x9a, 0xd4, 0x65, 0x4d, 0x00};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(corio_device_time_decode(buf, (size_t)n, &t), CORIO_OK);
    assert_true(t == 1764500000000ull);
    assert_int_equal(corio_device_time_encode(1, buf, 4), CORIO_ERR_NOSPACE);
    /* Unknown keys are ignored; a repeated known key, another version, missing keys,
     * trailing bytes and other shapes are refused. */
    static const uint8_t extra[] = {0xa3, 0x01, 0x01, 0x63, 'a', 'b', 'c', 0x80, 0x02, 0x05};
    assert_int_equal(corio_device_time_decode(extra, sizeof extra, &t), CORIO_OK);
    assert_true(t == 5);
    static const uint8_t twice[] = {0xa3, 0x01, 0x01, 0x02, 0x05, 0x02, 0x06};
    static const uint8_t v2[] = {0xa2, 0x01, 0x02, 0x02, 0x05};
    static const uint8_t no_ms[] = {0xa1, 0x01, 0x01};
    static const uint8_t trailing[] = {0xa2, 0x01, 0x01, 0x02, 0x05, 0x00};
    static const uint8_t array[] = {0x82, 0x01, 0x05};
    static const uint8_t neg[] = {0xa2, 0x01, 0x01, 0x02, 0x20};
    assert_int_equal(corio_device_time_decode(twice, sizeof twice, &t), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_device_time_decode(v2, sizeof v2, &t), CORIO_ERR_VERSION);
    assert_int_equal(corio_device_time_decode(no_ms, sizeof no_ms, &t), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_device_time_decode(trailing, sizeof trailing, &t), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_device_time_decode(array, sizeof array, &t), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_device_time_decode(neg, sizeof neg, &t), CORIO_ERR_MALFORMED);
    for (size_t k = 0; k < (size_t)n; k++)
        assert_int_not_equal(corio_device_time_decode(buf, k, &t), CORIO_OK);
}

/* A downlink PUBLISH (QoS 1) from the broker on corio/v1/d/<id>/<suffix>. */
static void downlink(const char *suffix, const uint8_t *payload, size_t len, uint16_t id)
{
    uint8_t pkt[256];
    char topic[64];
    snprintf(topic, sizeof topic, "corio/v1/d/%s/%s", corio_device_id(&F.d), suffix);
    struct corio_mqtt_publish m = {.topic = topic,
                                   .topic_len = (uint16_t)strlen(topic),
                                   .qos = 1,
                                   .packet_id = id,
                                   .payload = payload,
                                   .payload_len = len};
    int n = corio_mqtt_encode_publish(pkt, sizeof pkt, CORIO_MQTT_V5, &m);
    assert_true(n > 0);
    feed(pkt, (size_t)n);
    run();
}

static void a_resend_request_publishes_acknowledged_entries_again(void **state)
{
    (void)state;
    fixture();
    online();
    for (int i = 1; i <= 5; i++)
        sample(i);
    run();
    assert_int_equal(stats().acked, 5);
    int before = F.b.npubs;

    /* From seq 3 of its epoch: 3, 4 and 5 again, the same bytes, acknowledged again
     * without counting them twice. */
    uint8_t req[32];
    int n = corio_device_resend_encode(stats().epoch, 3, req, sizeof req);
    assert_true(n > 0);
    downlink("dn/resend", req, (size_t)n, 12);
    run();
    assert_int_equal(count_up(before), 3);
    for (int i = 0; i < 3; i++) {
        struct corio_senml_ext x = pack_ext(&F.b.pubs[before + i], NULL);
        assert_int_equal(x.seq, 3 + i);
        assert_int_equal(F.b.pubs[before + i].len, F.b.pubs[2 + i].len);
        assert_memory_equal(F.b.pubs[before + i].payload, F.b.pubs[2 + i].payload,
                            F.b.pubs[2 + i].len);
    }
    struct corio_device_stats st = stats();
    assert_int_equal(st.resend_requests, 1);
    assert_int_equal(st.replayed, 3);
    assert_int_equal(st.acked, 5);
    assert_int_equal(st.pending, 0);

    /* A request for another epoch (the gateway holds nothing of this one) means every
     * acknowledged entry; one still unacknowledged is the normal loop's: the five
     * acknowledged ones go again, and the sixth goes out once. */
    F.b.policy = HOLD;
    sample(6);
    before = F.b.npubs;
    n = corio_device_resend_encode(0, 1, req, sizeof req);
    downlink("dn/resend", req, (size_t)n, 13);
    run();
    F.b.policy = ACK;
    for (int i = 0; i < F.b.nheld; i++)
        puback(F.b.held[i], 0);
    F.b.nheld = 0;
    run();
    int sixes = 0;
    for (int i = 0; i < F.b.npubs; i++)
        if (F.b.pubs[i].qos == 1 && pack_ext(&F.b.pubs[i], NULL).seq == 6)
            sixes++;
    assert_int_equal(sixes, 1);
    assert_int_equal(count_up(before), 5);
    st = stats();
    assert_int_equal(st.replayed, 8);
    assert_int_equal(st.acked, 6);
    assert_int_equal(st.pending, 0);
}

static void resend_codec(void **state)
{
    (void)state;
    uint8_t buf[32];
    uint64_t epoch, from;
    int n = corio_device_resend_encode(0x12345678u, 300, buf, sizeof buf);
    /* {1: 1, 2: 0x12345678, 3: 300} */
    static const uint8_t want[] = {0xa3, 0x01, 0x01, 0x02, 0x1a, 0x12, 0x34,
                                   0x56, 0x78, 0x03, 0x19, 0x01, 0x2c};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(corio_device_resend_decode(buf, (size_t)n, &epoch, &from), CORIO_OK);
    assert_true(epoch == 0x12345678u && from == 300);
    assert_int_equal(corio_device_resend_encode(1, 0, buf, sizeof buf), CORIO_ERR_INVAL);
    assert_int_equal(corio_device_resend_encode(1, 1, buf, 4), CORIO_ERR_NOSPACE);
    static const uint8_t extra[] = {0xa4, 0x61, 'x', 0x80, 0x03, 0x02, 0x01, 0x01, 0x02, 0x07};
    assert_int_equal(corio_device_resend_decode(extra, sizeof extra, &epoch, &from), CORIO_OK);
    assert_true(epoch == 7 && from == 2);
    static const uint8_t zero[] = {0xa3, 0x01, 0x01, 0x02, 0x07, 0x03, 0x00};
    static const uint8_t v2[] = {0xa3, 0x01, 0x02, 0x02, 0x07, 0x03, 0x01};
    static const uint8_t no_epoch[] = {0xa2, 0x01, 0x01, 0x03, 0x01};
    static const uint8_t twice[] = {0xa4, 0x01, 0x01, 0x02, 0x07, 0x03, 0x01, 0x03, 0x02};
    static const uint8_t text[] = {0xa3, 0x01, 0x01, 0x02, 0x61, 'a', 0x03, 0x01};
    assert_int_equal(corio_device_resend_decode(zero, sizeof zero, &epoch, &from),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_device_resend_decode(v2, sizeof v2, &epoch, &from), CORIO_ERR_VERSION);
    assert_int_equal(corio_device_resend_decode(no_epoch, sizeof no_epoch, &epoch, &from),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_device_resend_decode(twice, sizeof twice, &epoch, &from),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_device_resend_decode(text, sizeof text, &epoch, &from),
                     CORIO_ERR_MALFORMED);
    for (size_t k = 0; k < (size_t)n; k++)
        assert_int_not_equal(corio_device_resend_decode(buf, k, &epoch, &from), CORIO_OK);
    assert_int_equal(corio_device_resend_decode(NULL, 0, &epoch, NULL), CORIO_ERR_INVAL);
}

static void records_that_do_not_fit_leave_the_pack_usable(void **state)
{
    (void)state;
    fixture();
    online();
    assert_int_equal(corio_device_add_number(&F.d, "x", NULL, 1), CORIO_ERR_STATE);
    assert_int_equal(corio_device_commit(&F.d, NULL), CORIO_ERR_STATE);
    assert_int_equal(corio_device_begin(&F.d), CORIO_OK);
    assert_int_equal(corio_device_begin(&F.d), CORIO_ERR_STATE);
    assert_int_equal(corio_device_commit(&F.d, NULL), CORIO_ERR_INVAL); /* no record */
    assert_int_equal(corio_device_begin(&F.d), CORIO_ERR_STATE);
    assert_int_equal(corio_device_add_number(&F.d, "bad name!", NULL, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_device_add_string(&F.d, "status", NULL, "ok"), CORIO_OK);
    int added = 1;
    int rc;
    while ((rc = corio_device_add_number(&F.d, "temperature", "Cel", 21.123456)) == CORIO_OK)
        added++;
    assert_int_equal(rc, CORIO_ERR_NOSPACE);
    uint32_t seq;
    assert_int_equal(corio_device_commit(&F.d, &seq), CORIO_OK);
    broker_step();
    assert_int_equal(F.b.npubs, 1);
    const struct pub *p = &F.b.pubs[0];
    char names[256];
    struct corio_senml_dec dec;
    struct corio_senml_record r;
    assert_int_equal(
        corio_senml_dec_init(&dec, CORIO_FORMAT_CBOR, p->payload, p->len, names, sizeof names),
        CORIO_OK);
    int got = 0;
    while ((rc = corio_senml_dec_next(&dec, &r)) == 1)
        got++;
    assert_int_equal(rc, 0);
    assert_int_equal(got, added);
    corio_device_abort(&F.d);
    assert_int_equal(corio_device_begin(&F.d), CORIO_OK);
    corio_device_abort(&F.d);
    assert_int_equal(corio_device_add_number(&F.d, "x", NULL, 1), CORIO_ERR_STATE);
}

static void init_refuses_bad_configurations(void **state)
{
    (void)state;
    fixture();
    struct corio_device_config c = F.cfg;
    c.gateway_id = "not-an-id";
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c = F.cfg;
    c.tx_len = 10;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c = F.cfg;
    c.max_inflight = 0;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c = F.cfg;
    struct corio_flash small = ram_port(&F.flash, 3);
    c.flash = &small;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c = F.cfg;
    c.format = 7;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c = F.cfg;
    c.fw_version = "1.0";
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    assert_int_equal(corio_device_init(NULL, &F.cfg), CORIO_ERR_INVAL);
    /* Enhanced authentication: MQTT 5 only; a key above 0 needs its chain, which must
     * fit the answer buffer; a claim secret within the profile's length. */
    c = F.cfg;
    c.auth = CORIO_DEVICE_AUTH_EAT;
    c.mqtt_version = CORIO_MQTT_V311;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c = F.cfg;
    c.auth = CORIO_DEVICE_AUTH_EAT;
    c.key_number = 1;
    c.device_id = "uruaok7yhitqgcc26jlq3bd4";
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    static uint8_t chain[CORIO_DEVICE_AUTH_MAX];
    c.chain = chain;
    c.chain_len = sizeof chain;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c.chain_len = CORIO_DEVICE_AUTH_MAX - CORIO_EAT_AUTH_SIZE(CORIO_DEVICE_EAT_MAX, 0);
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_OK);
    assert_int_equal(corio_device_set_key(&F.d, &F.key, 0, NULL, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_device_set_key(&F.d, &F.key, 2, NULL, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_device_set_key(&F.d, &F.key, 2, chain, 40), CORIO_OK);
    c = F.cfg;
    c.auth = (enum corio_device_auth)5;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c = F.cfg;
    char secret[CORIO_CLAIM_SECRET_MAX + 2];
    memset(secret, 'a', sizeof secret - 1);
    secret[sizeof secret - 1] = '\0';
    c.claim_secret = secret;
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    c.claim_secret = "";
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_ERR_INVAL);
    /* A given device id is used as is. */
    c = F.cfg;
    c.device_id = "uruaok7yhitqgcc26jlq3bd4";
    assert_int_equal(corio_device_init(&F.d, &c), CORIO_OK);
    assert_string_equal(corio_device_did(&F.d), "did:corio:uruaok7yhitqgcc26jlq3bd4");
}

static void stop_and_start_again(void **state)
{
    (void)state;
    fixture();
    online();
    F.b.policy = HOLD;
    sample(1);
    run();
    assert_int_equal(corio_device_stop(&F.d), CORIO_OK);
    run();
    assert_false(F.d.connected);
    assert_int_equal(corio_device_stop(&F.d), CORIO_ERR_STATE);
    assert_int_equal(stats().pending, 1);
    F.b.policy = ACK;
    assert_int_equal(corio_device_start(&F.d), CORIO_OK);
    assert_int_equal(corio_device_start(&F.d), CORIO_ERR_STATE);
    run();
    assert_true(F.d.connected);
    assert_int_equal(stats().pending, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(connects_with_single_step_login, teardown),
        cmocka_unit_test_teardown(sample_outbox_publish_puback_acked, teardown),
        cmocka_unit_test_teardown(json_format, teardown),
        cmocka_unit_test_teardown(nothing_is_published_before_it_is_on_flash, teardown),
        cmocka_unit_test_teardown(lost_puback_is_resent_after_reconnect_with_the_same_seq,
                                  teardown),
        cmocka_unit_test_teardown(refused_publish_stays_and_is_retried_after_a_backoff, teardown),
        cmocka_unit_test_teardown(a_full_gateway_refuses_by_disconnecting, teardown),
        cmocka_unit_test_teardown(the_window_bounds_what_is_in_flight, teardown),
        cmocka_unit_test_teardown(a_refusal_retries_without_duplicating_what_is_in_flight,
                                  teardown),
        cmocka_unit_test_teardown(reboot_continues_seq_and_resends_the_pending, teardown),
        cmocka_unit_test_teardown(counters_never_repeat_across_reboots, teardown),
        cmocka_unit_test(store_counters_survive_power_cuts),
        cmocka_unit_test(store_starts_over_on_garbage),
        cmocka_unit_test_teardown(a_failed_token_sends_no_password, teardown),
        cmocka_unit_test_teardown(heartbeat_on_connect_and_on_interval, teardown),
        cmocka_unit_test_teardown(time_from_dn_time, teardown),
        cmocka_unit_test_teardown(no_time_device_never_subscribes_to_dn_time, teardown),
        cmocka_unit_test(time_codec),
        cmocka_unit_test_teardown(a_resend_request_publishes_acknowledged_entries_again, teardown),
        cmocka_unit_test(resend_codec),
        cmocka_unit_test_teardown(records_that_do_not_fit_leave_the_pack_usable, teardown),
        cmocka_unit_test_teardown(init_refuses_bad_configurations, teardown),
        cmocka_unit_test_teardown(stop_and_start_again, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
