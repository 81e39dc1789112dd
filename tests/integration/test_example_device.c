/*
 * test_example_device.c - examples/posix_device (bin/corio-example-device), the minimal
 * device on the POSIX port, run as a user runs it against a real Mosquitto, with a
 * libmosquitto client in the gateway's place: its packs arrive as SenML with their
 * (epoch, seq); its commands answer on up/res (done with a result, unknown); it stops
 * cleanly, and after a restart (a reboot: key and flash kept in its directory) keeps its
 * identity and epoch, counts the boot and goes on with the next seq; packs it makes while
 * the broker is down arrive, all of them and in order, once the broker is back. In
 * MQTT 3.1.1 with JSON packs too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "corio/downlink.h"
#include "corio/senml.h"
#include "corio/topic.h"
#include "harness.h"

struct run {
    struct h_mosq *m;
    struct h_mqtt *s; /* the gateway's side: subscribed to every device's up/ */
    struct h_proc *dev;
    const char *dir;
    char id[CORIO_SHORT_ID_LEN + 1];
    int seen; /* messages of s already looked at */
};

/* A persistent session on a broker with persistence: messages that arrive while the
 * broker restarts wait for it, as they would for a gateway. */
static void subscribe_all(struct run *r)
{
    /* MQTT 3.1.1: a clean-session-false session outlives the connection without a
     * session expiry interval. */
    r->s = h_mqtt_connect(r->m->port,
                          &(struct h_mqtt_opts){.client_id = "gateway-side", .persistent = true});
    assert_non_null(r->s);
    assert_int_equal(h_mqtt_subscribe(r->s, "corio/v1/d/+/up/#", 1), CORIO_OK);
    r->seen = 0;
}

/* Starts the example; its log's first line names the device. */
static void device_start(struct run *r, const char *const *extra)
{
    const char *argv[16] = {
        h_bin("corio-example-device"), "-p", h_strf("%d", r->m->port), "-d", r->dir, "-i", "700"};
    int n = 7;
    while (extra && *extra)
        argv[n++] = *extra++;
    argv[n] = NULL;
    r->dev = h_proc_start("device", argv, NULL);
    assert_non_null(r->dev);
    assert_int_equal(h_proc_wait_log(r->dev, "connected", h_ms(10000)), CORIO_OK);
    char *log = h_read_file(h_proc_log(r->dev), NULL);
    assert_non_null(log);
    /* The last line "device <id> (...": the log grows across restarts. */
    const char *last = strncmp(log, "device ", 7) == 0 ? log : NULL;
    for (const char *p = log; (p = strstr(p, "\ndevice ")) != NULL; p++)
        last = p + 1;
    assert_non_null(last);
    memcpy(r->id, last + 7, CORIO_SHORT_ID_LEN);
    r->id[CORIO_SHORT_ID_LEN] = '\0';
    assert_true(corio_short_id_valid(r->id, CORIO_SHORT_ID_LEN));
}

/* The next message on topic suffix `suffix` (e.g. "up/cbor"), waiting for it. */
static const struct h_mqtt_msg *next_on(struct run *r, const char *suffix)
{
    const char *topic = h_strf("corio/v1/d/%s/%s", r->id, suffix);
    int64_t deadline = h_now_ms() + h_ms(10000);
    for (;;) {
        const struct h_mqtt_msg *m = h_mqtt_msg(r->s, r->seen);
        if (m) {
            r->seen++;
            if (strcmp(m->topic, topic) == 0)
                return m;
            continue;
        }
        if (h_now_ms() > deadline)
            fail_msg("nothing on %s", topic);
        h_mqtt_wait_count(r->s, NULL, r->seen + 1, 100);
    }
}

/* A pack: one temperature record, in Cel; returns its (epoch, seq). */
static struct corio_senml_ext check_pack(struct run *r, const struct h_mqtt_msg *m,
                                         enum corio_format fmt)
{
    char names[128];
    struct corio_senml_dec dec;
    struct corio_senml_record rec;
    assert_int_equal(
        corio_senml_dec_init(&dec, fmt, m->payload, (size_t)m->len, names, sizeof names), CORIO_OK);
    struct corio_senml_ext x = *corio_senml_dec_ext(&dec);
    assert_true(x.has_seq);
    assert_int_equal(corio_senml_dec_next(&dec, &rec), 1);
    assert_string_equal(rec.name, h_strf("urn:corio:%s:temp", r->id));
    assert_memory_equal(rec.unit, "Cel", 3);
    assert_true(rec.v > 15.0 && rec.v < 25.0);
    assert_int_equal(corio_senml_dec_next(&dec, &rec), 0);
    return x;
}

/* Sends command name with args (one CBOR item, or NULL) and returns its result. */
static struct corio_cmd_result command(struct run *r, const char *cid, const char *name,
                                       const uint8_t *args, size_t args_len, uint8_t *copy)
{
    uint8_t buf[128];
    struct corio_cmd c = {.cid = (const uint8_t *)cid,
                          .cid_len = strlen(cid),
                          .exp_ms = 0,
                          .seq = 1,
                          .name = name,
                          .name_len = strlen(name),
                          .args = args,
                          .args_len = args_len};
    int n = corio_cmd_encode(&c, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(h_mqtt_publish(r->s, h_strf("corio/v1/d/%s/dn/cmd", r->id), buf, n, 1),
                     CORIO_OK);
    const struct h_mqtt_msg *m = next_on(r, "up/res");
    struct corio_cmd_result res;
    memcpy(copy, m->payload, (size_t)m->len);
    assert_int_equal(corio_cmd_result_decode(copy, (size_t)m->len, &res), CORIO_OK);
    assert_int_equal(res.cid_len, strlen(cid));
    assert_memory_equal(res.cid, cid, res.cid_len);
    assert_true(res.has_id);
    return res;
}

static void run_device(const char *const *extra, enum corio_format fmt)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.dir = h_mkdir("device");
    r.m = h_mosq_start(&(struct h_mosq_opts){.persistence = true});
    assert_non_null(r.m);
    subscribe_all(&r);
    device_start(&r, extra);
    const char *up = fmt == CORIO_FORMAT_JSON ? "up/json" : "up/cbor";

    /* Packs, each with the next seq of one epoch. */
    struct corio_senml_ext a = check_pack(&r, next_on(&r, up), fmt);
    struct corio_senml_ext b = check_pack(&r, next_on(&r, up), fmt);
    assert_int_equal(b.ep, a.ep);
    assert_int_equal(b.seq, a.seq + 1);

    /* Commands: a result, an error-free answer without arguments, an unknown name. The
     * answers take seqs of the same sequence. */
    uint8_t copy[256];
    static const uint8_t ms1500[] = {0x19, 0x05, 0xdc};
    struct corio_cmd_result res = command(&r, "c-1", "interval", ms1500, sizeof ms1500, copy);
    assert_int_equal(res.status, CORIO_CMD_DONE);
    assert_int_equal(res.err, CORIO_OK);
    assert_int_equal(res.epoch, a.ep);
    assert_true(res.seq > b.seq);
    assert_int_equal(res.res_len, sizeof ms1500);
    assert_memory_equal(res.res, ms1500, sizeof ms1500);
    static const uint8_t too_small[] = {0x05};
    res = command(&r, "c-2", "interval", too_small, sizeof too_small, copy);
    assert_int_equal(res.status, CORIO_CMD_FAILED);
    assert_int_equal(res.err, CORIO_ERR_INVAL);
    res = command(&r, "c-3", "uptime", NULL, 0, copy);
    assert_int_equal(res.status, CORIO_CMD_DONE);
    assert_true(res.res_len >= 1 && (res.res[0] >> 5) == 0); /* an unsigned integer */
    res = command(&r, "c-4", "format-disk", NULL, 0, copy);
    assert_int_equal(res.status, CORIO_CMD_UNKNOWN);
    uint64_t last = res.seq;

    /* A reboot: a clean stop, then the same directory. */
    assert_int_equal(h_proc_stop(r.dev), 0);
    assert_true(h_proc_log_contains(r.dev, "stopped:"));
    device_start(&r, extra);
    assert_true(h_proc_log_contains(r.dev, "boot 2,"));
    struct corio_senml_ext c = check_pack(&r, next_on(&r, up), fmt);
    assert_int_equal(c.ep, a.ep);
    assert_true(c.seq > last);

    /* The broker goes away for a while; what the device measured meanwhile comes when it
     * is back, every pack, in order. */
    while (h_mqtt_msg(r.s, r.seen))
        r.seen++;
    uint64_t before = c.seq;
    for (int i = r.seen - 1; i >= 0; i--) {
        const struct h_mqtt_msg *m = h_mqtt_msg(r.s, i);
        if (strstr(m->topic, up)) {
            before = check_pack(&r, m, fmt).seq;
            break;
        }
    }
    assert_int_equal(h_mosq_stop(r.m), 0);
    assert_int_equal(h_proc_wait_log(r.dev, "link down", h_ms(5000)), CORIO_OK);
    struct h_poll wait;
    h_poll_init(&wait, 2500); /* three or four packs while offline */
    while (h_poll_next(&wait))
        ;
    assert_int_equal(h_mosq_restart(r.m), CORIO_OK);
    uint64_t want = before + 1;
    for (int n = 0; n < 3; n++, want++) {
        struct corio_senml_ext x = check_pack(&r, next_on(&r, up), fmt);
        assert_int_equal(x.ep, a.ep);
        assert_int_equal(x.seq, want);
    }
    assert_int_equal(h_proc_stop(r.dev), 0);
}

static void mqtt5_cbor(void **state)
{
    (void)state;
    run_device(NULL, CORIO_FORMAT_CBOR);
}

static void mqtt311_json(void **state)
{
    (void)state;
    static const char *const extra[] = {"-3", "-j", NULL};
    run_device(extra, CORIO_FORMAT_JSON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(mqtt5_cbor),
        H_TEST(mqtt311_json),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
