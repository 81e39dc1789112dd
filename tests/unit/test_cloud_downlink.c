/*
 * test_cloud_downlink.c - corio-cloud's downlink service without a broker: JSON <-> CBOR of
 * arguments; the ingest hooks fed batches directly (packs of a clockless device dated
 * from the heartbeat of their boot, or flagged; a result closing its command under the
 * device's sequence; a result of another device closing nothing; a reported
 * configuration); the sender's signed containers (captured instead of published) and
 * its resends, expiry, and gateways' state messages (delivered, refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "batch.h"
#include "cloud.h"
#include "corio/cbor.h"
#include "corio/downlink.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "dl_store.h"
#include "down.h"
#include "cloud_downlink.h"
#include "downlink_int.h"
#include "harness.h"
#include "ingest.h"
#include "store.h"

#define ORG "oooooooooooooooooooooooo"
#define GW  "gggggggggggggggggggggggg"
#define DEV "dddddddddddddddddddddddd"
#define DV2 "eeeeeeeeeeeeeeeeeeeeeeee"
#define T0  1764500000000LL

struct cap {
    char topic[80];
    uint8_t *p;
    size_t n;
};

struct fx {
    char *dir;
    char path[600];
    struct corio_store *writer, *reader;
    struct corio_dl_store *dl;
    struct corio_key gw_key, cloud_key, other;
    struct corio_cloud_downlink *svc;
    struct corio_ingest *ig;
    struct corio_ingest_result res;
    pthread_mutex_t lock;
    struct cap caps[64];
    int ncaps;
};

static struct fx F;
static int64_t fake_now = T0;

static int64_t now_fn(void)
{
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static int capture(void *ctx, const char *topic, const uint8_t *p, size_t n)
{
    (void)ctx;
    pthread_mutex_lock(&F.lock);
    if (F.ncaps < 64) {
        struct cap *c = &F.caps[F.ncaps++];
        snprintf(c->topic, sizeof c->topic, "%s", topic);
        c->p = malloc(n);
        memcpy(c->p, p, n);
        c->n = n;
    }
    pthread_mutex_unlock(&F.lock);
    return 0;
}

static int ncaps(void)
{
    pthread_mutex_lock(&F.lock);
    int n = F.ncaps;
    pthread_mutex_unlock(&F.lock);
    return n;
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    fake_now = T0;
    pthread_mutex_init(&F.lock, NULL);
    F.dir = h_tmpdir("cloud-downlink");
    snprintf(F.path, sizeof F.path, "%s/cloud.db", F.dir);
    char err[256];
    assert_int_equal(corio_store_open_sqlite(F.path, &F.writer, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_store_open_sqlite(F.path, &F.reader, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_dl_open(F.path, &F.dl, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &F.gw_key), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &F.cloud_key), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &F.other), CORIO_OK);
    assert_int_equal(corio_store_put_org(F.writer, ORG, "one"), CORIO_OK);
    struct corio_gateway_rec g = {.id = GW, .org = ORG, .pubkey_len = 65};
    assert_int_equal(corio_key_public(&F.gw_key, g.pubkey), CORIO_OK);
    assert_int_equal(corio_store_put_gateway(F.writer, &g), CORIO_OK);
    struct corio_device_rec d = {.id = DEV, .org = ORG, .gateway = GW};
    assert_int_equal(corio_store_put_device(F.writer, &d), CORIO_OK);
    struct corio_device_rec d2 = {.id = DV2, .org = ORG, .gateway = GW};
    assert_int_equal(corio_store_put_device(F.writer, &d2), CORIO_OK);
    struct corio_cloud_downlink_opts o = {.org = ORG,
                                          .dl = F.dl,
                                          .reader = F.reader,
                                          .key = &F.cloud_key,
                                          .publish = capture,
                                          .resend_min_ms = 100,
                                          .resend_max_ms = 200,
                                          .command_ttl_ms = 60000,
                                          .command_ttl_max_ms = 600000,
                                          .now_ms = now_fn};
    assert_int_equal(corio_cloud_downlink_new(&o, &F.svc, err, sizeof err), CORIO_OK);
    struct corio_ingest_opts io = {.store = F.writer,
                                   .verifier = corio_cloud_cose_verifier,
                                   .hooks = corio_cloud_downlink_hooks(F.svc)};
    assert_int_equal(corio_ingest_new(&io, &F.ig), CORIO_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corio_cloud_downlink_free(F.svc);
    corio_ingest_result_free(&F.res);
    corio_ingest_free(F.ig);
    corio_store_close(F.reader);
    corio_store_close(F.writer);
    corio_dl_close(F.dl);
    corio_key_close(&F.gw_key);
    corio_key_close(&F.cloud_key);
    corio_key_close(&F.other);
    for (int i = 0; i < F.ncaps; i++)
        free(F.caps[i].p);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.dir);
    assert_int_equal(system(cmd), 0);
    free(F.dir);
    pthread_mutex_destroy(&F.lock);
    return 0;
}

/* ---- batches ---- */

struct bb {
    struct corio_batch b;
    struct corio_batch_msg m[16];
    uint8_t payloads[16][256];
};

static void bb_init(struct bb *x, uint64_t first)
{
    memset(x, 0, sizeof *x);
    x->b.version = 1;
    snprintf(x->b.gateway, sizeof x->b.gateway, "%s", GW);
    x->b.epoch = 7;
    x->b.first = first;
    x->b.last = first + 15;
    x->b.msgs = x->m;
}

static void bb_add(struct bb *x, const char *dev, const char *suffix, int64_t recv, const void *p,
                   size_t n)
{
    size_t i = x->b.count++;
    memcpy(x->payloads[i], p, n);
    x->m[i] = (struct corio_batch_msg){.id = x->b.first + i,
                                       .device = dev,
                                       .device_len = 24,
                                       .suffix = suffix,
                                       .suffix_len = strlen(suffix),
                                       .recv_ms = recv,
                                       .payload = x->payloads[i],
                                       .payload_len = n};
}

static void bb_text(struct bb *x, const char *dev, const char *suffix, int64_t recv,
                    const char *text)
{
    bb_add(x, dev, suffix, recv, text, strlen(text));
}

static int ingest(struct bb *x)
{
    corio_ingest_result_free(&F.res);
    return corio_ingest_decoded(F.ig, &x->b, fake_now, &F.res);
}

struct pts {
    int64_t t[16];
    int n;
};

static int keep_point(const struct corio_point *p, void *arg)
{
    struct pts *s = arg;
    if (s->n < 16)
        s->t[s->n++] = p->t_ms;
    return 0;
}

/* ---- tests ---- */

static void json_and_cbor(void **state)
{
    (void)state;
    json_t *j = json_loads("{\"b\":[1,-2,0.5,\"x\",true,null],\"a\":{\"z\":false}}", 0, NULL);
    uint8_t *c;
    size_t n;
    char why[128];
    assert_int_equal(corio__json_to_cbor(j, &c, &n, why, sizeof why), CORIO_OK);
    assert_int_equal(corio_cbor_deterministic(c, n), CORIO_OK); /* "a" before "b" */
    json_t *back = corio__cbor_to_json(c, n);
    assert_true(json_equal(j, back));
    free(c);
    json_decref(back);
    json_decref(j);
    /* Too deep. */
    j = json_loads("[[[[[[[[[[1]]]]]]]]]]", 0, NULL);
    assert_int_equal(corio__json_to_cbor(j, &c, &n, why, sizeof why), CORIO_ERR_INVAL);
    json_decref(j);
    /* Too large. */
    j = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(j, json_string("xyz"));
    assert_int_equal(corio__json_to_cbor(j, &c, &n, why, sizeof why), CORIO_ERR_INVAL);
    json_decref(j);
    /* Byte strings show as base64url, non-text keys as their JSON. */
    static const uint8_t m[] = {0xA1, 0x01, 0x42, 0xFF, 0x00};
    json_t *o = corio__cbor_to_json(m, sizeof m);
    assert_string_equal(json_string_value(json_object_get(o, "1")), "_wA");
    json_decref(o);
    assert_null(corio__cbor_to_json(m, 3));
}

static void packs_without_time_are_dated_or_flagged(void **state)
{
    (void)state;
    struct bb x;
    bb_init(&x, 1);
    /* Boot 3: a heartbeat at T0 after 100 s of uptime; a pack sampled at uptime 50 s,
     * received a minute later (it waited in the outbox). */
    bb_text(&x, DEV, "up/hb", T0,
            "{\"up\":100,\"bc\":3,\"ep\":1,\"last\":1,\"pending\":1,\"drops\":0}");
    bb_text(&x, DEV, "up/json", T0 + 60000,
            "[{\"bn\":\"urn:corio:" DEV ":\",\"ep\":1,\"seq\":1,\"boot\":3,\"upt\":50000,"
            "\"n\":\"temp\",\"v\":1}]");
    /* Boot 4 of the other device: no heartbeat: kept at its receive time, flagged. */
    bb_text(&x, DV2, "up/json", T0 + 61000,
            "[{\"bn\":\"urn:corio:" DV2 ":\",\"ep\":1,\"seq\":1,\"boot\":4,\"upt\":10,"
            "\"n\":\"temp\",\"v\":2}]");
    /* A boot count beyond 2^63 - 1: the pack is rejected, the batch is not held up. */
    bb_text(&x, DEV, "up/json", T0 + 61500,
            "[{\"bn\":\"urn:corio:" DEV ":\",\"ep\":1,\"seq\":2,\"boot\":9223372036854775808,"
            "\"upt\":10,\"n\":\"temp\",\"v\":3}]");
    fake_now = T0 + 62000;
    assert_int_equal(ingest(&x), CORIO_OK);
    assert_int_equal(F.res.rejected, 1);
    struct pts p = {0};
    assert_int_equal(
        corio_store_series(F.writer, ORG, DEV, "temp", 0, T0 + 3600000, 0, 100, keep_point, &p),
        CORIO_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.t[0], T0 - 100000 + 50000);
    struct pts q = {0};
    assert_int_equal(
        corio_store_series(F.writer, ORG, DV2, "temp", 0, T0 + 3600000, 0, 100, keep_point, &q),
        CORIO_OK);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.t[0], T0 + 61000);
    int64_t n;
    assert_int_equal(corio_dl_untimed_count(F.dl, ORG, DEV, &n), CORIO_OK);
    assert_int_equal(n, 0);
    assert_int_equal(corio_dl_untimed_count(F.dl, ORG, DV2, &n), CORIO_OK);
    assert_int_equal(n, 1);
    /* Redelivered: still one flag. */
    assert_int_equal(ingest(&x), CORIO_OK);
    assert_int_equal(corio_dl_untimed_count(F.dl, ORG, DV2, &n), CORIO_OK);
    assert_int_equal(n, 1);
    struct corio_dl_boot b;
    assert_int_equal(corio_dl_boot_get(F.dl, DEV, 3, &b), CORIO_OK);
    assert_int_equal(b.base_ms, T0 - 100000);
    assert_int_equal(b.heartbeats, 2);
}

struct cmd_seen {
    int state;
    bool has_answer;
    int status;
    size_t result_len;
};

static int keep_state(const struct corio_dl_cmd *c, void *arg)
{
    struct cmd_seen *s = arg;
    s->state = c->state;
    s->has_answer = c->has_answer;
    s->status = c->status;
    s->result_len = c->result_len;
    return 0;
}

static struct cmd_seen cmd_state(const char *dev, int64_t seq)
{
    struct cmd_seen s = {-1, false, -1, 0};
    assert_int_equal(corio_dl_cmd_get(F.dl, ORG, dev, seq, keep_state, &s), CORIO_OK);
    return s;
}

static size_t result_bytes(uint8_t *buf, size_t cap, const uint8_t *cid, uint64_t seq, int st)
{
    static const uint8_t res[] = {0x18, 0xFA};
    struct corio_cmd_result r = {true, 1, seq, cid, CORIO_DL_CID_LEN, (uint8_t)st, 0, res, 2};
    int n = corio_cmd_result_encode(&r, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static int no_gap(const struct corio_gap *g, void *arg)
{
    (void)g;
    (void)arg;
    return 0;
}

static void results_close_their_commands(void **state)
{
    (void)state;
    uint8_t cid[CORIO_DL_CID_LEN] = {1, 2, 3};
    int64_t seq;
    assert_int_equal(corio_dl_cmd_add(F.dl, ORG, DEV, "blink", NULL, 0, T0, T0 + 60000, cid, &seq),
                     CORIO_OK);
    assert_int_equal(cmd_state(DEV, seq).state, CORIO_DL_QUEUED);
    uint8_t buf[128];
    struct bb x;
    bb_init(&x, 100);
    /* The other device's answer with the same cid closes nothing. */
    bb_add(&x, DV2, "up/res", T0 + 10, buf, result_bytes(buf, sizeof buf, cid, 1, 0));
    assert_int_equal(ingest(&x), CORIO_OK);
    assert_int_equal(cmd_state(DEV, seq).state, CORIO_DL_QUEUED);
    /* A pack (seq 1) and the device's answer (seq 2): closed, and no gap. */
    bb_init(&x, 200);
    bb_text(&x, DEV, "up/json", T0 + 20,
            "[{\"bn\":\"urn:corio:" DEV ":\",\"bt\":1764500000,\"ep\":1,\"seq\":1,"
            "\"n\":\"temp\",\"v\":1}]");
    bb_add(&x, DEV, "up/res", T0 + 30, buf, result_bytes(buf, sizeof buf, cid, 2, 0));
    assert_int_equal(ingest(&x), CORIO_OK);
    struct cmd_seen s = cmd_state(DEV, seq);
    assert_int_equal(s.state, CORIO_DL_DONE);
    assert_true(s.has_answer);
    assert_int_equal(s.result_len, 2);
    int64_t missing = -1;
    assert_int_equal(corio_store_gaps(F.writer, ORG, DEV, no_gap, NULL, &missing), CORIO_OK);
    assert_int_equal(missing, 0);
    /* A second answer (a duplicate) changes nothing. */
    bb_init(&x, 300);
    bb_add(&x, DEV, "up/res", T0 + 40, buf, result_bytes(buf, sizeof buf, cid, 3, 1));
    assert_int_equal(ingest(&x), CORIO_OK);
    assert_int_equal(cmd_state(DEV, seq).status, 0);
    /* A reported configuration is kept, a lower version after it is not. */
    static const uint8_t cfg[] = {0xA1, 0x61, 'x', 0x01};
    struct corio_cfg_reported rep = {true, 1, 4, 2, CORIO_CFG_APPLIED, 0, cfg, sizeof cfg};
    int n = corio_cfg_reported_encode(&rep, buf, sizeof buf);
    bb_init(&x, 400);
    bb_add(&x, DEV, "up/cfg", T0 + 50, buf, (size_t)n);
    assert_int_equal(ingest(&x), CORIO_OK);
    uint64_t v;
    assert_int_equal(corio_dl_cfg_set(F.dl, ORG, DEV, cfg, sizeof cfg, T0, &v), CORIO_OK);
    assert_int_equal(corio_dl_cfg_reported(F.dl, ORG, DEV, 1, 0, 0, NULL, 0, T0), 0);
    assert_int_equal(corio_dl_cfg_reported(F.dl, ORG, DEV, 2, 1, -3, NULL, 0, T0), 1);
}

/* The i-th captured container, opened with the cloud's key. */
static void open_cap(int i, struct corio_down *d)
{
    uint8_t pub[65];
    char why[128];
    assert_int_equal(corio_key_public(&F.cloud_key, pub), CORIO_OK);
    pthread_mutex_lock(&F.lock);
    struct cap c = F.caps[i];
    pthread_mutex_unlock(&F.lock);
    assert_string_equal(c.topic, "corio/v1/g/" GW "/down");
    assert_int_equal(
        corio_down_open(&corio_crypto_openssl_ops, c.p, c.n, pub, sizeof pub, d, why, sizeof why),
        CORIO_OK);
}

static bool caps_at_least(void *arg)
{
    return ncaps() >= *(int *)arg;
}

static void state_message(const struct corio_key *k, const uint8_t *cid, uint64_t height)
{
    struct corio_state_cid del = {.cid_len = CORIO_DL_CID_LEN};
    memcpy(del.cid, cid, CORIO_DL_CID_LEN);
    snprintf(del.device, sizeof del.device, "%s", DEV);
    struct corio_gw_state s = {.made_ms = (uint64_t)fake_now,
                               .registry_height = height,
                               .delivered = &del,
                               .ndelivered = 1};
    snprintf(s.gateway, sizeof s.gateway, "%s", GW);
    uint8_t buf[256], *wire;
    size_t wlen;
    int64_t n = corio_state_encode(&s, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio_state_seal(k, GW, 0, buf, (size_t)n, &wire, &wlen), CORIO_OK);
    corio_cloud_downlink_on_state(F.svc, "corio/v1/g/" GW "/state", wire, wlen);
    free(wire);
}

static bool in_state(void *arg)
{
    struct cmd_seen s = {-1, false, -1, 0};
    int64_t *want = arg;
    return corio_dl_cmd_get(F.dl, ORG, DEV, want[0], keep_state, &s) == CORIO_OK &&
           s.state == (int)want[1];
}

static void the_sender_sends_resends_and_expires(void **state)
{
    (void)state;
    char err[128];
    uint8_t cid[CORIO_DL_CID_LEN] = {9};
    uint8_t cid2[CORIO_DL_CID_LEN] = {8};
    int64_t seq, seq2;
    static const uint8_t args[] = {0xA1, 0x62, 'h', 'z', 0x04};
    assert_int_equal(
        corio_dl_cmd_add(F.dl, ORG, DEV, "set_rate", args, sizeof args, T0, T0 + 60000, cid, &seq),
        CORIO_OK);
    assert_int_equal(corio_dl_cmd_add(F.dl, ORG, DEV, "blink", NULL, 0, T0, T0 + 500, cid2, &seq2),
                     CORIO_OK);
    assert_int_equal(corio_cloud_downlink_start(F.svc, err, sizeof err), CORIO_OK);
    /* Nothing while the broker is away. */
    int one = 1, two = 2, three = 3;
    assert_int_equal(h_wait_until(caps_at_least, &one, 300), CORIO_ERR_TIMEOUT);
    corio_cloud_downlink_connected(F.svc, true);
    assert_int_equal(h_wait_until(caps_at_least, &one, 5000), CORIO_OK);
    struct corio_down d;
    open_cap(0, &d);
    assert_string_equal(d.gateway, GW);
    assert_int_equal(d.nitems, 3); /* two commands and the time */
    struct corio_cmd c;
    assert_int_equal(d.items[0].kind, CORIO_DOWN_COMMAND);
    assert_string_equal(d.items[0].device, DEV);
    assert_int_equal(corio_cmd_decode(d.items[0].payload.p, d.items[0].payload.n, &c), CORIO_OK);
    assert_int_equal(c.seq, (uint64_t)seq);
    assert_memory_equal(c.cid, cid, CORIO_DL_CID_LEN);
    assert_int_equal(c.args_len, sizeof args);
    assert_int_equal(d.items[2].kind, CORIO_DOWN_TIME);
    assert_int_equal(d.items[2].time_ms, (uint64_t)fake_now);
    corio_down_free(&d);
    int64_t sent[2] = {seq, CORIO_DL_SENT};
    assert_int_equal(h_wait_until(in_state, sent, 5000), CORIO_OK);
    /* Time passes without an answer: resent; the short-lived one expires. */
    __atomic_store_n(&fake_now, T0 + 1000, __ATOMIC_SEQ_CST);
    assert_int_equal(h_wait_until(caps_at_least, &two, 5000), CORIO_OK);
    __atomic_store_n(&fake_now, T0 + 2000, __ATOMIC_SEQ_CST);
    assert_int_equal(h_wait_until(caps_at_least, &three, 5000), CORIO_OK);
    int64_t expired[2] = {seq2, CORIO_DL_EXPIRED};
    assert_int_equal(h_wait_until(in_state, expired, 5000), CORIO_OK);
    open_cap(ncaps() - 1, &d);
    assert_int_equal(d.nitems, 2); /* only the live command, and the time */
    corio_down_free(&d);
    /* The gateway's state message says it delivered it. One signed by another key is
     * refused. */
    state_message(&F.other, cid, 3);
    state_message(&F.gw_key, cid, 3);
    int64_t delivered[2] = {seq, CORIO_DL_DELIVERED};
    assert_int_equal(h_wait_until(in_state, delivered, 5000), CORIO_OK);
    struct corio_cloud_downlink_stats st;
    corio_cloud_downlink_stats(F.svc, &st);
    assert_int_equal(st.states, 1);
    assert_int_equal(st.states_refused, 1);
    assert_true(st.commands_sent >= 3);
    assert_int_equal(st.expired, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_and_cbor),
        cmocka_unit_test_setup_teardown(packs_without_time_are_dated_or_flagged, setup, teardown),
        cmocka_unit_test_setup_teardown(results_close_their_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(the_sender_sends_resends_and_expires, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
