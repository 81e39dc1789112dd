/*
 * test_device_cmd.c - the device's side of the downlink (device.h, device_cmd.c, and the
 * codecs of downlink.h), against the scripted in-memory broker (test_device_world.h): a
 * command runs its handler once and its result goes through the outbox to up/res with
 * the outbox's (epoch, seq); a duplicate (same correlation id) is answered from the ring
 * without running again; expired, unknown, failing and malformed commands; a command
 * while a pack is open is deferred; the answer survives a lost connection; desired
 * configuration applied, refused, stale, reported; decommissioning wipes (the hook) and
 * stops; the codecs' exact bytes and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/cbor.h"
#include "corio/crypto_psa.h"
#include "corio/device.h"
#include "corio/downlink.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/heartbeat.h"
#include "corio/senml.h"
#include "device_int.h"

/* What the handlers saw and are told to do. */
struct fx_app {
    int runs, fails, configs, decommissions;
    int run_rc;         /* what the "set_rate" handler returns */
    double rate;        /* the "hz" argument it read */
    int config_rc;      /* what on_config returns */
    bool config_writes; /* on_config writes its own reported map */
    uint64_t config_version;
};

#include "test_device_world.h"

/* ---------------------------------------------------------------------------------
 * Handlers, and delivering downlink messages
 */

static int set_rate(void *app, const struct corio_cmd *cmd, struct corio_cbor_enc *result)
{
    (void)app;
    F.app.runs++;
    /* args: {"hz": number} */
    struct corio_cbor_dec d;
    uint64_t pairs;
    const char *k;
    size_t kn;
    double hz;
    if (!cmd->args)
        return CORIO_ERR_INVAL;
    corio_cbor_dec_init(&d, cmd->args, cmd->args_len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs != 1 ||
        corio_cbor_expect_text(&d, &k, &kn) != CORIO_OK || kn != 2 || memcmp(k, "hz", 2) != 0 ||
        corio_cbor_expect_number(&d, &hz) != CORIO_OK)
        return CORIO_ERR_INVAL;
    F.app.rate = hz;
    if (F.app.run_rc != CORIO_OK)
        return F.app.run_rc;
    /* The result: the period now in effect, in ms. */
    return corio_cbor_put_uint(result, (uint64_t)(1000.0 / hz));
}

static int too_chatty(void *app, const struct corio_cmd *cmd, struct corio_cbor_enc *result)
{
    (void)app;
    (void)cmd;
    F.app.runs++;
    uint8_t big[CORIO_DEVICE_RESULT_MAX + 8];
    memset(big, 7, sizeof big);
    (void)corio_cbor_put_bytes(result, big, sizeof big); /* too large: the encoder says so */
    return CORIO_OK;
}

static const struct corio_device_command commands[] = {
    {"set_rate", set_rate},
    {"chatty", too_chatty},
};

static int on_config(void *app, uint64_t version, const uint8_t *cfg, size_t len,
                     struct corio_cbor_enc *reported)
{
    (void)app;
    (void)cfg;
    (void)len;
    F.app.configs++;
    F.app.config_version = version;
    if (F.app.config_writes) {
        corio_cbor_put_map(reported, 1);
        corio_cbor_put_textz(reported, "hz");
        corio_cbor_put_uint(reported, 5);
    }
    return F.app.config_rc;
}

static void on_decommission(void *app)
{
    (void)app;
    F.app.decommissions++;
}

static const struct corio_device_callbacks callbacks = {.on_link = on_link,
                                                        .on_time = on_time,
                                                        .on_config = on_config,
                                                        .on_decommission = on_decommission};

/* Sends a downlink message (QoS 1, packet id id) on dn/<suffix> to the device. */
static void deliver(const char *suffix, const uint8_t *payload, size_t n, uint16_t id)
{
    uint8_t pkt[1024];
    char topic[64];
    snprintf(topic, sizeof topic, "corio/v1/d/%s/dn/%s", corio_device_id(&F.d), suffix);
    struct corio_mqtt_publish m = {.topic = topic,
                                   .topic_len = (uint16_t)strlen(topic),
                                   .qos = 1,
                                   .packet_id = id,
                                   .payload = payload,
                                   .payload_len = n};
    int len = corio_mqtt_encode_publish(pkt, sizeof pkt, CORIO_MQTT_V5, &m);
    assert_true(len > 0);
    feed(pkt, (size_t)len);
}

static const uint8_t CID1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t CID2[16] = {0xC0, 0xFF, 0xEE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

/* A command named name with args {"hz": hz} (hz 0: no args). */
static size_t command(uint8_t *buf, size_t cap, const uint8_t *cid, const char *name, uint64_t hz,
                      uint64_t exp)
{
    uint8_t args[16];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, args, sizeof args);
    corio_cbor_put_map(&e, 1);
    corio_cbor_put_textz(&e, "hz");
    corio_cbor_put_uint(&e, hz);
    struct corio_cmd c = {.cid = cid,
                          .cid_len = 16,
                          .exp_ms = exp,
                          .seq = 7,
                          .name = name,
                          .name_len = strlen(name),
                          .args = hz ? args : NULL,
                          .args_len = hz ? corio_cbor_enc_len(&e) : 0};
    int n = corio_cmd_encode(&c, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static void send_command(const uint8_t *cid, const char *name, uint64_t hz, uint64_t exp,
                         uint16_t id)
{
    uint8_t buf[128];
    size_t n = command(buf, sizeof buf, cid, name, hz, exp);
    deliver("cmd", buf, n, id);
    run();
}

#define FAR_FUTURE 4102444800000ull /* 2100 */

/* The i-th publish as a result, decoded; it must be on up/res, QoS 1. */
static struct corio_cmd_result result_at(int i)
{
    assert_true(i < F.b.npubs);
    const struct pub *p = &F.b.pubs[i];
    assert_non_null(strstr(p->topic, "/up/res"));
    assert_int_equal(p->qos, 1);
    struct corio_cmd_result r;
    assert_int_equal(corio_cmd_result_decode(p->payload, p->len, &r), CORIO_OK);
    return r;
}

/* The index of the last publish on a topic ending in suffix, or -1. */
static int last_pub(const char *suffix)
{
    for (int i = F.b.npubs - 1; i >= 0; i--) {
        size_t n = strlen(F.b.pubs[i].topic), k = strlen(suffix);
        if (n >= k && strcmp(F.b.pubs[i].topic + n - k, suffix) == 0)
            return i;
    }
    return -1;
}

static int count_pubs(const char *suffix)
{
    int c = 0;
    for (int i = 0; i < F.b.npubs; i++) {
        size_t n = strlen(F.b.pubs[i].topic), k = strlen(suffix);
        if (n >= k && strcmp(F.b.pubs[i].topic + n - k, suffix) == 0)
            c++;
    }
    return c;
}

static uint8_t ack_reason(uint16_t id)
{
    for (int i = F.b.nacks - 1; i >= 0; i--)
        if (F.b.acks[i].id == id)
            return F.b.acks[i].reason;
    fail_msg("the device sent no PUBACK for %u", id);
    return 0xFF;
}

static void cmd_fixture(void)
{
    fixture();
    F.cfg.commands = commands;
    F.cfg.ncommands = sizeof commands / sizeof commands[0];
}

/* ---------------------------------------------------------------------------------
 * Tests
 */

static void command_runs_once_and_its_result_goes_through_the_outbox(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    uint32_t s1 = sample(1);
    send_command(CID1, "set_rate", 4, FAR_FUTURE, 11);
    assert_int_equal(ack_reason(11), 0);
    assert_int_equal(F.app.runs, 1);
    assert_true(F.app.rate == 4.0);
    int i = last_pub("/up/res");
    assert_true(i >= 0);
    struct corio_cmd_result r = result_at(i);
    struct corio_device_stats st = stats();
    /* The outbox's identity: the seq after the pack's, in the same epoch. */
    assert_true(r.has_id);
    assert_int_equal(r.epoch, st.epoch);
    assert_int_equal(r.seq, s1 + 1);
    assert_int_equal(st.last_seq, s1 + 1);
    assert_memory_equal(r.cid, CID1, 16);
    assert_int_equal(r.status, CORIO_CMD_DONE);
    assert_int_equal(r.err, 0);
    uint8_t want[] = {0x18, 0xFA}; /* 250 ms */
    assert_int_equal(r.res_len, sizeof want);
    assert_memory_equal(r.res, want, sizeof want);
    /* Acknowledged like a pack, and the next pack takes the next seq. */
    run();
    assert_int_equal(stats().pending, 0);
    assert_int_equal(sample(2), s1 + 2);
    assert_int_equal(pack_ext(&F.b.pubs[F.b.npubs - 1], NULL).seq, s1 + 2);
    assert_int_equal(stats().commands, 1);
}

static void a_duplicate_is_answered_from_the_ring_without_running_again(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    send_command(CID1, "set_rate", 2, FAR_FUTURE, 11);
    send_command(CID1, "set_rate", 2, FAR_FUTURE, 12);
    assert_int_equal(ack_reason(12), 0);
    assert_int_equal(F.app.runs, 1);
    assert_int_equal(count_pubs("/up/res"), 2);
    struct corio_cmd_result a = result_at(0), b = result_at(1);
    assert_int_equal(a.status, b.status);
    assert_int_equal(a.res_len, b.res_len);
    assert_memory_equal(a.res, b.res, a.res_len);
    assert_int_equal(b.seq, a.seq + 1); /* a new message, the same answer */
    assert_int_equal(stats().duplicates, 1);
    assert_int_equal(stats().commands, 1);
    /* Another command does run. */
    send_command(CID2, "set_rate", 8, FAR_FUTURE, 13);
    assert_int_equal(F.app.runs, 2);
}

static void the_ring_holds_the_last_commands_only(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    uint8_t cid[16];
    for (int i = 0; i <= CORIO_DEVICE_CMD_RING; i++) {
        memset(cid, 0, sizeof cid);
        cid[15] = (uint8_t)(i + 1);
        send_command(cid, "set_rate", 1, FAR_FUTURE, (uint16_t)(20 + i));
    }
    assert_int_equal(F.app.runs, CORIO_DEVICE_CMD_RING + 1);
    /* The first one was pushed out: delivered again, it runs again; the latest does not. */
    memset(cid, 0, sizeof cid);
    cid[15] = CORIO_DEVICE_CMD_RING + 1;
    send_command(cid, "set_rate", 1, FAR_FUTURE, 40);
    assert_int_equal(F.app.runs, CORIO_DEVICE_CMD_RING + 1);
    cid[15] = 1;
    send_command(cid, "set_rate", 1, FAR_FUTURE, 41);
    assert_int_equal(F.app.runs, CORIO_DEVICE_CMD_RING + 2);
}

static void expired_unknown_and_failing_commands(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    uint64_t now = 1764500000000ull;
    assert_int_equal(corio_device_set_time(&F.d, now), CORIO_OK);
    /* Expired: refused without running. */
    send_command(CID1, "set_rate", 2, now - 1, 11);
    assert_int_equal(F.app.runs, 0);
    assert_int_equal(result_at(last_pub("/up/res")).status, CORIO_CMD_EXPIRED);
    /* Its expiry is judged by the device's clock: just in time still runs. */
    send_command(CID2, "set_rate", 2, now + 10, 12);
    assert_int_equal(F.app.runs, 1);
    /* Unknown name. */
    uint8_t cid[16] = {9};
    send_command(cid, "reboot", 0, FAR_FUTURE, 13);
    struct corio_cmd_result r = result_at(last_pub("/up/res"));
    assert_int_equal(r.status, CORIO_CMD_UNKNOWN);
    assert_int_equal(r.res_len, 0);
    /* A handler that fails: its error is the answer, with no result. */
    cid[0] = 10;
    F.app.run_rc = CORIO_ERR_IO;
    send_command(cid, "set_rate", 3, FAR_FUTURE, 14);
    r = result_at(last_pub("/up/res"));
    assert_int_equal(r.status, CORIO_CMD_FAILED);
    assert_int_equal(r.err, CORIO_ERR_IO);
    assert_int_equal(r.res_len, 0);
    /* Bad arguments are the handler's to refuse. */
    cid[0] = 11;
    F.app.run_rc = CORIO_OK;
    send_command(cid, "set_rate", 0, FAR_FUTURE, 15);
    r = result_at(last_pub("/up/res"));
    assert_int_equal(r.status, CORIO_CMD_FAILED);
    assert_int_equal(r.err, CORIO_ERR_INVAL);
    /* A result larger than CORIO_DEVICE_RESULT_MAX is not sent half. */
    cid[0] = 12;
    send_command(cid, "chatty", 0, FAR_FUTURE, 16);
    r = result_at(last_pub("/up/res"));
    assert_int_equal(r.status, CORIO_CMD_FAILED);
    assert_int_equal(r.err, CORIO_ERR_NOSPACE);
    assert_int_equal(stats().commands, 6);
}

static void a_device_without_time_runs_what_it_cannot_date(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    /* No clock: an expiry long past cannot be judged, so the gateway's filter is all. */
    send_command(CID1, "set_rate", 2, 1, 11);
    assert_int_equal(F.app.runs, 1);
    assert_int_equal(result_at(last_pub("/up/res")).status, CORIO_CMD_DONE);
}

static void malformed_commands_are_refused_with_0x99(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    static const uint8_t bad[][12] = {
        {0xA0},                         /* empty map: nothing required */
        {0x80},                         /* not a map */
        {0xA1, 0x63, 'c', 'i', 'd', 1}, /* cid not bytes */
    };
    static const size_t lens[] = {1, 1, 6};
    for (size_t i = 0; i < 3; i++)
        deliver("cmd", bad[i], lens[i], (uint16_t)(30 + i));
    run();
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ack_reason((uint16_t)(30 + i)), 0x99);
    assert_int_equal(count_pubs("/up/res"), 0);
    assert_int_equal(stats().malformed, 3);
    assert_int_equal(stats().last_seq, 0);
}

static void a_command_waits_while_a_pack_is_open(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    assert_int_equal(corio_device_begin(&F.d), CORIO_OK);
    assert_int_equal(corio_device_add_number(&F.d, "temp", "Cel", 1), CORIO_OK);
    send_command(CID1, "set_rate", 2, FAR_FUTURE, 11);
    assert_int_equal(ack_reason(11), 0x80);
    assert_int_equal(F.app.runs, 0);
    assert_int_equal(stats().deferred, 1);
    uint32_t seq;
    assert_int_equal(corio_device_commit(&F.d, &seq), CORIO_OK);
    assert_int_equal(seq, 1);
    /* Delivered again (as the gateway does), it runs and takes the next seq. */
    send_command(CID1, "set_rate", 2, FAR_FUTURE, 12);
    assert_int_equal(F.app.runs, 1);
    assert_int_equal(result_at(last_pub("/up/res")).seq, 2);
}

static void the_answer_survives_a_lost_connection(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    F.b.policy = HOLD;
    send_command(CID1, "set_rate", 2, FAR_FUTURE, 11);
    int i = last_pub("/up/res");
    assert_true(i >= 0);
    struct pub first = F.b.pubs[i];
    /* The connection dies before the PUBACK; after the reconnect the same bytes again. */
    F.b.policy = ACK;
    F.m.peer_closed = true;
    run();
    run_for(20000);
    assert_true(F.d.connected);
    int j = last_pub("/up/res");
    assert_true(j > i);
    assert_int_equal(F.b.pubs[j].len, first.len);
    assert_memory_equal(F.b.pubs[j].payload, first.payload, first.len);
    run();
    assert_int_equal(stats().pending, 0);
    assert_int_equal(F.app.runs, 1);
    /* And after a reboot nothing is pending or sent again. */
    int before = count_pubs("/up/res");
    reboot();
    online();
    run();
    assert_int_equal(count_pubs("/up/res"), before);
}

static struct corio_cfg_reported reported_at(int i)
{
    assert_true(i >= 0 && i < F.b.npubs);
    struct corio_cfg_reported r;
    assert_int_equal(corio_cfg_reported_decode(F.b.pubs[i].payload, F.b.pubs[i].len, &r), CORIO_OK);
    return r;
}

static void send_config(uint64_t version, uint64_t hz, uint16_t id)
{
    uint8_t cfg[16], buf[64];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, cfg, sizeof cfg);
    corio_cbor_put_map(&e, 1);
    corio_cbor_put_textz(&e, "hz");
    corio_cbor_put_uint(&e, hz);
    struct corio_cfg_desired c = {version, cfg, corio_cbor_enc_len(&e)};
    int n = corio_cfg_desired_encode(&c, buf, sizeof buf);
    assert_true(n > 0);
    deliver("cfg", buf, (size_t)n, id);
    run();
}

static void desired_configuration_is_applied_and_reported(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    send_config(3, 2, 11);
    assert_int_equal(ack_reason(11), 0);
    assert_int_equal(F.app.configs, 1);
    assert_int_equal(F.app.config_version, 3);
    struct corio_cfg_reported r = reported_at(last_pub("/up/cfg"));
    assert_true(r.has_id);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.status, CORIO_CFG_APPLIED);
    static const uint8_t echo[] = {0xA1, 0x62, 'h', 'z', 0x02};
    assert_int_equal(r.cfg_len, sizeof echo);
    assert_memory_equal(r.cfg, echo, sizeof echo);
    /* The handler may say what it runs instead. */
    F.app.config_writes = true;
    send_config(4, 9, 12);
    r = reported_at(last_pub("/up/cfg"));
    static const uint8_t own[] = {0xA1, 0x62, 'h', 'z', 0x05};
    assert_int_equal(r.cfg_len, sizeof own);
    assert_memory_equal(r.cfg, own, sizeof own);
    /* A stale version is ignored. */
    int n = count_pubs("/up/cfg");
    send_config(2, 1, 13);
    assert_int_equal(ack_reason(13), 0);
    assert_int_equal(count_pubs("/up/cfg"), n);
    assert_int_equal(F.app.configs, 2);
    /* The same version again is answered again (the gateway delivers until it sees it). */
    send_config(4, 9, 14);
    assert_int_equal(count_pubs("/up/cfg"), n + 1);
    /* Refused: the error, and the map the handler wrote. */
    F.app.config_rc = CORIO_ERR_POLICY;
    send_config(5, 100, 15);
    r = reported_at(last_pub("/up/cfg"));
    assert_int_equal(r.status, CORIO_CFG_REFUSED);
    assert_int_equal(r.err, CORIO_ERR_POLICY);
    assert_int_equal(r.version, 5);
    assert_int_equal(r.cfg_len, sizeof own);
    F.app.config_writes = false;
    send_config(6, 100, 16);
    r = reported_at(last_pub("/up/cfg"));
    assert_int_equal(r.status, CORIO_CFG_REFUSED);
    assert_null(r.cfg);
    /* A report of its own answers the last version taken. */
    assert_int_equal(corio_device_report_config(&F.d, own, sizeof own), CORIO_OK);
    run();
    r = reported_at(last_pub("/up/cfg"));
    assert_int_equal(r.version, 6);
    assert_int_equal(r.status, CORIO_CFG_APPLIED);
    assert_int_equal(corio_device_report_config(&F.d, (const uint8_t *)"\x01", 1), CORIO_ERR_INVAL);
    run();
    assert_int_equal(stats().pending, 0);
}

static void without_on_config_configuration_is_refused(void **state)
{
    (void)state;
    static const struct corio_device_callbacks none = {.on_link = on_link};
    cmd_fixture();
    F.cfg.callbacks = &none;
    online();
    send_config(1, 2, 11);
    struct corio_cfg_reported r = reported_at(last_pub("/up/cfg"));
    assert_int_equal(r.status, CORIO_CFG_REFUSED);
    assert_int_equal(r.err, CORIO_ERR_UNSUPPORTED);
    /* and "decommission" is an unknown command. */
    send_command(CID1, "decommission", 0, FAR_FUTURE, 12);
    assert_int_equal(result_at(last_pub("/up/res")).status, CORIO_CMD_UNKNOWN);
}

static void decommission_wipes_answers_and_stops(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    F.b.policy = HOLD;
    send_command(CID1, "decommission", 0, FAR_FUTURE, 11);
    /* The answer is on flash before the keys go. */
    assert_int_equal(F.app.decommissions, 1);
    int i = last_pub("/up/res");
    assert_true(i >= 0);
    assert_int_equal(result_at(i).status, CORIO_CMD_DONE);
    assert_true(F.d.connected);
    /* The gateway acknowledges the answer: the device disconnects for good. */
    puback(F.b.pubs[i].id, 0);
    run();
    run_for(60000);
    assert_false(F.d.connected);
    assert_int_equal(F.links_down, 1);
    assert_int_equal(F.m.opens, 1);
    int connects = F.b.connects;
    run_for(120000);
    assert_int_equal(F.b.connects, connects);
    assert_int_equal(corio_device_start(&F.d), CORIO_ERR_STATE);
    assert_int_equal(F.app.decommissions, 1);
}

static void decommission_on_a_lost_connection_never_reconnects(void **state)
{
    (void)state;
    cmd_fixture();
    online();
    F.b.policy = HOLD;
    send_command(CID1, "decommission", 0, FAR_FUTURE, 11);
    assert_int_equal(F.app.decommissions, 1);
    int connects = F.b.connects;
    F.m.peer_closed = true;
    run();
    run_for(120000);
    assert_int_equal(F.b.connects, connects);
    assert_false(F.d.connected);
}

static void init_refuses_bad_command_tables(void **state)
{
    (void)state;
    static const struct corio_device_command bad_name[] = {{"no spaces", set_rate}};
    static const struct corio_device_command no_fn[] = {{"ok", NULL}};
    cmd_fixture();
    F.cfg.commands = bad_name;
    F.cfg.ncommands = 1;
    assert_int_equal(corio_device_init(&F.d, &F.cfg), CORIO_ERR_INVAL);
    F.cfg.commands = no_fn;
    assert_int_equal(corio_device_init(&F.d, &F.cfg), CORIO_ERR_INVAL);
    F.cfg.commands = NULL;
    assert_int_equal(corio_device_init(&F.d, &F.cfg), CORIO_ERR_INVAL);
}

/* ---------------------------------------------------------------------------------
 * The codecs
 */

static void command_bytes_match_the_rules_engine(void **state)
{
    (void)state;
    /* {"cid": h'0102', "exp": 1000, "seq": 5, "args": {"x": true}, "name": "fan"}: the
     * key order of docs/edge-rules.md, deterministic. */
    static const uint8_t want[] = {0xA5, 0x63, 'c',  'i',  'd',  0x42, 1,    2,   0x63, 'e',
                                   'x',  'p',  0x19, 0x03, 0xE8, 0x63, 's',  'e', 'q',  0x05,
                                   0x64, 'a',  'r',  'g',  's',  0xA1, 0x61, 'x', 0xF5, 0x64,
                                   'n',  'a',  'm',  'e',  0x63, 'f',  'a',  'n'};
    static const uint8_t cid[] = {1, 2}, args[] = {0xA1, 0x61, 'x', 0xF5};
    struct corio_cmd c = {cid, 2, 1000, 5, "fan", 3, args, sizeof args};
    uint8_t buf[64];
    assert_int_equal(corio_cmd_encode(&c, buf, sizeof buf), sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(corio_cmd_encode(&c, NULL, 0), sizeof want);
    assert_int_equal(corio_cbor_deterministic(buf, sizeof want), CORIO_OK);
    struct corio_cmd d;
    assert_int_equal(corio_cmd_decode(want, sizeof want, &d), CORIO_OK);
    assert_int_equal(d.exp_ms, 1000);
    assert_int_equal(d.seq, 5);
    assert_int_equal(d.name_len, 3);
    assert_memory_equal(d.name, "fan", 3);
    assert_int_equal(d.args_len, sizeof args);
    assert_memory_equal(d.args, args, sizeof args);
    assert_int_equal(corio_cmd_encode(&c, buf, 10), CORIO_ERR_NOSPACE);
    c.name = "bad name";
    c.name_len = 8;
    assert_int_equal(corio_cmd_encode(&c, buf, sizeof buf), CORIO_ERR_INVAL);
}

static void codec_refusals(void **state)
{
    (void)state;
    struct corio_cmd c;
    struct corio_cmd_result r;
    struct corio_cfg_desired dc;
    struct corio_cfg_reported rc;
    /* A "v" of another version, in any payload. */
    static const uint8_t v2[] = {0xA1, 0x61, 'v', 0x02};
    assert_int_equal(corio_cmd_decode(v2, sizeof v2, &c), CORIO_ERR_VERSION);
    assert_int_equal(corio_cmd_result_decode(v2, sizeof v2, &r), CORIO_ERR_VERSION);
    assert_int_equal(corio_cfg_desired_decode(v2, sizeof v2, &dc), CORIO_ERR_VERSION);
    assert_int_equal(corio_cfg_reported_decode(v2, sizeof v2, &rc), CORIO_ERR_VERSION);
    /* A key twice. */
    static const uint8_t twice[] = {0xA2, 0x61, 'v', 0x01, 0x61, 'v', 0x01};
    assert_int_equal(corio_cfg_desired_decode(twice, sizeof twice, &dc), CORIO_ERR_MALFORMED);
    /* Trailing bytes, indefinite maps, too many pairs. */
    uint8_t buf[128];
    struct corio_cfg_desired d = {1, (const uint8_t *)"\xA0", 1};
    int n = corio_cfg_desired_encode(&d, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio_cfg_desired_decode(buf, (size_t)n, &dc), CORIO_OK);
    assert_int_equal(dc.version, 1);
    buf[n] = 0;
    assert_int_equal(corio_cfg_desired_decode(buf, (size_t)n + 1, &dc), CORIO_ERR_MALFORMED);
    static const uint8_t indef[] = {0xBF, 0xFF};
    assert_int_equal(corio_cmd_decode(indef, sizeof indef, &c), CORIO_ERR_MALFORMED);
    uint8_t many[1 + 17 * 2];
    many[0] = 0xB1; /* 17 pairs of small ints */
    for (int i = 0; i < 34; i++)
        many[1 + i] = (uint8_t)(i % 24);
    assert_int_equal(corio_cmd_decode(many, sizeof many, &c), CORIO_ERR_MALFORMED);
    /* The desired configuration must be a map, its version at least 1. */
    d.cfg = (const uint8_t *)"\x01";
    assert_int_equal(corio_cfg_desired_encode(&d, buf, sizeof buf), CORIO_ERR_INVAL);
    d.cfg = (const uint8_t *)"\xA0";
    d.version = 0;
    assert_int_equal(corio_cfg_desired_encode(&d, buf, sizeof buf), CORIO_ERR_INVAL);
    /* Results: ep without seq, seq 0, a status out of range, a positive error. */
    struct corio_cmd_result res = {true, 1, 0, CID1, 16, 0, 0, NULL, 0};
    n = corio_cmd_result_encode(&res, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio_cmd_result_decode(buf, (size_t)n, &r), CORIO_ERR_MALFORMED);
    res.seq = 4;
    n = corio_cmd_result_encode(&res, buf, sizeof buf);
    assert_int_equal(corio_cmd_result_decode(buf, (size_t)n, &r), CORIO_OK);
    assert_int_equal(r.seq, 4);
    assert_int_equal(corio_cbor_deterministic(buf, (size_t)n), CORIO_OK);
    res.status = 9;
    assert_int_equal(corio_cmd_result_encode(&res, buf, sizeof buf), CORIO_ERR_INVAL);
    res.status = 0;
    res.err = 3;
    assert_int_equal(corio_cmd_result_encode(&res, buf, sizeof buf), CORIO_ERR_INVAL);
    /* Reported configuration round trip, deterministic, unknown keys ignored. */
    struct corio_cfg_reported rep = {
        true, 7, 9, 3, CORIO_CFG_REFUSED, CORIO_ERR_POLICY, (const uint8_t *)"\xA1\x61x\x01", 4};
    n = corio_cfg_reported_encode(&rep, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio_cbor_deterministic(buf, (size_t)n), CORIO_OK);
    assert_int_equal(corio_cfg_reported_decode(buf, (size_t)n, &rc), CORIO_OK);
    assert_int_equal(rc.epoch, 7);
    assert_int_equal(rc.seq, 9);
    assert_int_equal(rc.version, 3);
    assert_int_equal(rc.status, CORIO_CFG_REFUSED);
    assert_int_equal(rc.err, CORIO_ERR_POLICY);
    assert_int_equal(rc.cfg_len, 4);
    static const uint8_t extra[] = {0xA4, 0x61, 'v', 0x01, 0x62, 's',  't', 0x00,
                                    0x63, 'v',  'e', 'r',  0x01, 0x01, 0x02};
    assert_int_equal(corio_cfg_reported_decode(extra, sizeof extra, &rc), CORIO_OK);
    assert_false(rc.has_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(command_runs_once_and_its_result_goes_through_the_outbox,
                                  teardown),
        cmocka_unit_test_teardown(a_duplicate_is_answered_from_the_ring_without_running_again,
                                  teardown),
        cmocka_unit_test_teardown(the_ring_holds_the_last_commands_only, teardown),
        cmocka_unit_test_teardown(expired_unknown_and_failing_commands, teardown),
        cmocka_unit_test_teardown(a_device_without_time_runs_what_it_cannot_date, teardown),
        cmocka_unit_test_teardown(malformed_commands_are_refused_with_0x99, teardown),
        cmocka_unit_test_teardown(a_command_waits_while_a_pack_is_open, teardown),
        cmocka_unit_test_teardown(the_answer_survives_a_lost_connection, teardown),
        cmocka_unit_test_teardown(desired_configuration_is_applied_and_reported, teardown),
        cmocka_unit_test_teardown(without_on_config_configuration_is_refused, teardown),
        cmocka_unit_test_teardown(decommission_wipes_answers_and_stops, teardown),
        cmocka_unit_test_teardown(decommission_on_a_lost_connection_never_reconnects, teardown),
        cmocka_unit_test_teardown(init_refuses_bad_command_tables, teardown),
        cmocka_unit_test(command_bytes_match_the_rules_engine),
        cmocka_unit_test(codec_refusals),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
