/* test_cloud_ingest.c - corio-cloud's ingest fed batches directly: stored messages and
 * their samples and events, duplicates and overlapping resends, out-of-order arrival
 * and gap events, rejected payloads (recorded and still acknowledged), foreign and
 * unregistered devices, and the refusals that are not acknowledged (bad signature,
 * unknown gateway, a batch for another gateway, bad topics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>

#include "batch.h"
#include "cloud.h"
#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/error.h"
#include "corio/heartbeat.h"
#include "corio/senml.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "ingest.h"
#include "store.h"

#define ORG      "oooooooooooooooooooooooo"
#define ORG2     "pppppppppppppppppppppppp"
#define GW       "gggggggggggggggggggggggg"
#define GW2      "hhhhhhhhhhhhhhhhhhhhhhhh"
#define DEV      "dddddddddddddddddddddddd"
#define DEV2     "eeeeeeeeeeeeeeeeeeeeeeee"
#define FOREIGN  "ffffffffffffffffffffffff"
#define STRANGER "ssssssssssssssssssssssss"
#define T0       1764500000000LL

struct fx {
    struct corio_key key, other; /* the gateway's key, and a key of nobody's */
    char *dir;
    char path[600];
    struct corio_store *s;
    struct corio_ingest *ig;
    struct corio_ingest_result res;
};

static void make_ingest(struct fx *f, bool accept_unregistered)
{
    corio_ingest_free(f->ig);
    struct corio_ingest_opts o = {.store = f->s,
                                  .verifier = corio_cloud_cose_verifier,
                                  .accept_unregistered = accept_unregistered};
    assert_int_equal(corio_ingest_new(&o, &f->ig), CORIO_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = h_tmpdir("cloud-ingest");
    snprintf(f->path, sizeof f->path, "%s/cloud.db", f->dir);
    char err[256];
    assert_int_equal(corio_store_open_sqlite(f->path, &f->s, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_store_put_org(f->s, ORG, "one"), CORIO_OK);
    assert_int_equal(corio_store_put_org(f->s, ORG2, "two"), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &f->key), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &f->other), CORIO_OK);
    struct corio_gateway_rec g = {.id = GW, .org = ORG, .pubkey_len = 65};
    assert_int_equal(corio_key_public(&f->key, g.pubkey), CORIO_OK);
    assert_int_equal(corio_store_put_gateway(f->s, &g), CORIO_OK);
    struct corio_gateway_rec g2 = {.id = GW2, .org = ORG2};
    assert_int_equal(corio_store_put_gateway(f->s, &g2), CORIO_OK);
    const char *devs[][2] = {{DEV, ORG}, {DEV2, ORG}, {FOREIGN, ORG2}};
    for (int i = 0; i < 3; i++) {
        struct corio_device_rec d = {.id = devs[i][0], .org = devs[i][1]};
        assert_int_equal(corio_store_put_device(f->s, &d), CORIO_OK);
    }
    make_ingest(f, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    corio_ingest_result_free(&f->res);
    corio_ingest_free(f->ig);
    corio_store_close(f->s);
    corio_key_close(&f->key);
    corio_key_close(&f->other);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- building batches -------------------------------------------------------------- */

struct bb {
    struct corio_batch b;
    struct corio_batch_msg m[64];
    char payloads[64][512];
};

static void bb_init(struct bb *x, const char *gw, uint64_t epoch, uint64_t first, uint64_t last)
{
    memset(x, 0, sizeof *x);
    x->b.version = 1;
    snprintf(x->b.gateway, sizeof x->b.gateway, "%s", gw);
    x->b.epoch = epoch;
    x->b.first = first;
    x->b.last = last;
    x->b.made_ms = T0;
    x->b.msgs = x->m;
}

static void bb_add(struct bb *x, uint64_t id, const char *dev, const char *suffix, int64_t recv_ms,
                   const char *payload)
{
    size_t i = x->b.count++;
    snprintf(x->payloads[i], sizeof x->payloads[i], "%s", payload);
    x->m[i] = (struct corio_batch_msg){.id = id,
                                       .device = dev,
                                       .device_len = strlen(dev),
                                       .suffix = suffix,
                                       .suffix_len = strlen(suffix),
                                       .recv_ms = recv_ms,
                                       .payload = (const uint8_t *)x->payloads[i],
                                       .payload_len = strlen(x->payloads[i])};
}

/* A SenML message of dev with (ep, seq) and one temperature at absolute time t. */
static void bb_senml(struct bb *x, uint64_t id, const char *dev, int ep, int seq, double t,
                     double v)
{
    char p[256];
    snprintf(p, sizeof p,
             "[{\"bn\":\"urn:corio:%s:\",\"bt\":%.3f,\"ep\":%d,\"seq\":%d,\"n\":\"temp\","
             "\"u\":\"Cel\",\"v\":%g}]",
             dev, t, ep, seq, v);
    bb_add(x, id, dev, "up/json", (int64_t)(t * 1000) + 20, p);
}

static int ingest(struct fx *f, struct bb *x)
{
    corio_ingest_result_free(&f->res);
    return corio_ingest_decoded(f->ig, &x->b, T0 + 999000, &f->res);
}

static void check_ack(const struct corio_ingest_result *r, uint64_t epoch, uint64_t first,
                      uint64_t last)
{
    assert_true(r->ack_len > 0);
    uint64_t e;
    struct corio_ack_range ranges[4];
    assert_int_equal(corio_ack_decode(r->ack, r->ack_len, &e, ranges, 4), 1);
    assert_true(e == epoch);
    assert_true(ranges[0].first == first);
    assert_true(ranges[0].last == last);
}

static int count_events(const struct corio_ingest_result *r, const char *type)
{
    int n = 0;
    for (size_t i = 0; i < r->nevents; i++)
        n += strcmp(r->events[i].type, type) == 0;
    return n;
}

static json_t *event_json(const struct corio_ingest_result *r, const char *type, int nth)
{
    for (size_t i = 0; i < r->nevents; i++) {
        if (strcmp(r->events[i].type, type) == 0 && nth-- == 0) {
            json_t *j = json_loads(r->events[i].data, 0, NULL);
            assert_non_null(j);
            return j;
        }
    }
    fail_msg("no %s event", type);
    return NULL;
}

static char *query(struct fx *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    char *out = calloc(1, 8192);
    size_t len = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            len += (size_t)snprintf(out + len, 8192 - len, "%s%s", i ? "|" : "",
                                    t ? (const char *)t : "NULL");
        }
        len += (size_t)snprintf(out + len, 8192 - len, "\n");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void expect_query(struct fx *f, const char *sql, const char *want)
{
    char *got = query(f, sql);
    assert_string_equal(got, want);
    free(got);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_stores_and_acks(void **state)
{
    struct fx *f = *state;
    struct bb x;
    bb_init(&x, GW, 42, 10, 15);
    bb_add(&x, 10, DEV, "presence", T0 - 100, "{\"online\":true,\"connections\":1}");
    bb_add(&x, 11, DEV, "up/json", T0,
           "[{\"bn\":\"urn:corio:" DEV ":\",\"bt\":1764500000.0,\"ep\":1,\"seq\":1,"
           "\"n\":\"temp\",\"u\":\"Cel\",\"v\":21.5},{\"n\":\"hum\",\"u\":\"%RH\",\"v\":40.25},"
           "{\"n\":\"door\",\"vb\":true},{\"n\":\"state\",\"vs\":\"ok\"},{\"n\":\"raw\",\"vd\":"
           "\"AAEC\"}]");
    bb_add(&x, 12, DEV, "up/json", T0 + 1000,
           "[{\"ep\":1,\"seq\":2,\"bn\":\"urn:corio:" DEV
           ":\",\"n\":\"temp\",\"t\":-0.5,\"v\":22}]");
    bb_add(&x, 13, DEV, "up/hb", T0 + 2000,
           "{\"up\":12,\"bc\":3,\"ep\":1,\"last\":2,\"pending\":0,\"drops\":0}");
    bb_add(&x, 15, "", "state", T0 + 3000, "{\"outbox\":0}");
    assert_int_equal(ingest(f, &x), CORIO_OK);
    check_ack(&f->res, 42, 10, 15);
    assert_string_equal(f->res.gateway, GW);
    assert_true(f->res.new_batch);
    assert_int_equal(f->res.messages, 5);
    assert_int_equal(f->res.stored, 5);
    assert_int_equal(f->res.duplicates, 0);
    assert_int_equal(f->res.rejected, 0);
    assert_int_equal(f->res.samples, 6);
    assert_int_equal(count_events(&f->res, "sample"), 6);
    assert_int_equal(count_events(&f->res, "presence"), 1);
    assert_int_equal(count_events(&f->res, "gap"), 0);

    /* The events carry what the dashboard parses (web/src/live/events.ts). */
    json_t *e = event_json(&f->res, "sample", 0);
    assert_string_equal(json_string_value(json_object_get(e, "device")), DEV);
    assert_string_equal(json_string_value(json_object_get(e, "metric")), "temp");
    assert_int_equal(json_integer_value(json_object_get(e, "t")), T0);
    assert_true(json_number_value(json_object_get(e, "v")) == 21.5);
    json_decref(e);
    e = event_json(&f->res, "sample", 2);
    assert_true(json_is_true(json_object_get(e, "v")));
    json_decref(e);
    e = event_json(&f->res, "sample", 3);
    assert_string_equal(json_string_value(json_object_get(e, "v")), "ok");
    json_decref(e);
    e = event_json(&f->res, "sample", 4);
    assert_string_equal(json_string_value(json_object_get(e, "v")), "AAEC");
    json_decref(e);
    /* Relative time: -0.5 s from the gateway's receive time. */
    e = event_json(&f->res, "sample", 5);
    assert_int_equal(json_integer_value(json_object_get(e, "t")), T0 + 500);
    json_decref(e);
    e = event_json(&f->res, "presence", 0);
    assert_true(json_is_true(json_object_get(e, "online")));
    assert_int_equal(json_integer_value(json_object_get(e, "t")), T0 - 100);
    json_decref(e);

    expect_query(f,
                 "SELECT metric, t_ms, v_num, v_str, v_bool, hex(v_data) FROM samples "
                 "ORDER BY metric, t_ms",
                 "door|1764500000000|NULL|NULL|1|\n"
                 "hum|1764500000000|40.25|NULL|NULL|\n"
                 "raw|1764500000000|NULL|NULL|NULL|000102\n"
                 "state|1764500000000|NULL|ok|NULL|\n"
                 "temp|1764500000000|21.5|NULL|NULL|\n"
                 "temp|1764500000500|22.0|NULL|NULL|\n");
    expect_query(f, "SELECT mid, device, suffix, status FROM messages ORDER BY id",
                 "g:" GW ":42:10|" DEV "|presence|0\n"
                 "d:" DEV ":1:1|" DEV "|up/json|0\n"
                 "d:" DEV ":1:2|" DEV "|up/json|0\n"
                 "g:" GW ":42:13|" DEV "|up/hb|0\n"
                 "g:" GW ":42:15|NULL|state|0\n");
    expect_query(
        f,
        "SELECT online, last_seen_ms, epoch, messages, gateway FROM devices WHERE id = '" DEV "'",
        "1|1764500002000|1|2|" GW "\n");
    expect_query(f, "SELECT name, unit, type FROM metrics ORDER BY name",
                 "door||b\nhum|%RH|n\nraw||d\nstate||s\ntemp|Cel|n\n");
    expect_query(f, "SELECT first_id, last_id, deliveries, n_new FROM batches", "10|15|1|5\n");
}

static void test_duplicates_change_nothing(void **state)
{
    struct fx *f = *state;
    struct bb x;
    bb_init(&x, GW, 7, 1, 4);
    for (int i = 1; i <= 4; i++)
        bb_senml(&x, (uint64_t)i, DEV, 1, i, 1764500000.0 + i, 20 + i);
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(f->res.stored, 4);
    char *before = query(f, "SELECT * FROM samples ORDER BY 1, 2, 3, 4");
    char *before_r = query(f, "SELECT * FROM rollup_1m ORDER BY 1, 2, 3");

    /* The same batch again: acknowledged again, nothing stored, no live events. */
    assert_int_equal(ingest(f, &x), CORIO_OK);
    check_ack(&f->res, 7, 1, 4);
    assert_false(f->res.new_batch);
    assert_int_equal(f->res.stored, 0);
    assert_int_equal(f->res.duplicates, 4);
    assert_int_equal(f->res.nevents, 0);

    /* A resend cut differently after a gateway restart (a new outbox epoch, so new
     * gateway identities): the device identities still match. */
    struct bb y;
    bb_init(&y, GW, 8, 100, 105);
    for (int i = 3; i <= 6; i++)
        bb_senml(&y, (uint64_t)(97 + i), DEV, 1, i, 1764500000.0 + i, 20 + i);
    assert_int_equal(ingest(f, &y), CORIO_OK);
    check_ack(&f->res, 8, 100, 105);
    assert_int_equal(f->res.stored, 2);
    assert_int_equal(f->res.duplicates, 2);
    assert_int_equal(count_events(&f->res, "sample"), 2);

    char *after = query(f, "SELECT * FROM samples WHERE t_ms <= 1764500004000 ORDER BY 1, 2, 3, 4");
    char *after_r = query(f, "SELECT * FROM rollup_1m ORDER BY 1, 2, 3");
    assert_string_equal(before, after);
    assert_string_not_equal(before_r, after_r); /* 5 and 6 were added ... */
    expect_query(f, "SELECT count, sum FROM rollup_1m",
                 "6|141.0\n"); /* ... once each: 21 + ... + 26 */
    free(before);
    free(after);
    free(before_r);
    free(after_r);

    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.counts.messages, 6);
    assert_int_equal(st.counts.duplicates, 6);
    assert_int_equal(st.counts.batches, 2);
}

static void test_out_of_order_gap_events(void **state)
{
    struct fx *f = *state;
    struct bb x;
    bb_init(&x, GW, 1, 1, 2);
    bb_senml(&x, 1, DEV, 3, 1, 1764500001.0, 1);
    bb_senml(&x, 2, DEV, 3, 2, 1764500002.0, 2);
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(count_events(&f->res, "gap"), 0);

    /* 6 arrives before 3..5 (another gateway batch overtook): a gap [3, 5]. */
    bb_init(&x, GW, 1, 5, 5);
    bb_senml(&x, 5, DEV, 3, 6, 1764500006.0, 6);
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(count_events(&f->res, "gap"), 1);
    json_t *g = event_json(&f->res, "gap", 0);
    assert_int_equal(json_integer_value(json_object_get(g, "epoch")), 3);
    assert_int_equal(json_integer_value(json_object_get(g, "from_seq")), 3);
    assert_int_equal(json_integer_value(json_object_get(g, "to_seq")), 5);
    assert_string_equal(json_string_value(json_object_get(g, "kind")), "seq");
    json_decref(g);
    expect_query(f, "SELECT epoch, from_seq, to_seq FROM gaps", "3|3|5\n");

    /* 4 fills the middle: the rest of the gap is announced as two gaps. */
    bb_init(&x, GW, 1, 4, 4);
    bb_senml(&x, 4, DEV, 3, 4, 1764500004.0, 4);
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(count_events(&f->res, "gap"), 2);
    expect_query(f, "SELECT from_seq, to_seq FROM gaps ORDER BY 1", "3|3\n5|5\n");

    bb_init(&x, GW, 1, 3, 3);
    bb_senml(&x, 3, DEV, 3, 3, 1764500003.0, 3);
    bb_senml(&x, 3, DEV, 3, 5, 1764500005.0, 5); /* same gateway id twice: the codec
                                                     forbids it, the identity decides */
    x.m[1].id = 3;
    x.b.last = 3;
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(f->res.stored, 2);
    assert_int_equal(count_events(&f->res, "gap"), 0);
    expect_query(f, "SELECT count(*) FROM gaps", "0\n");
    expect_query(f, "SELECT max_seq, stored FROM device_epochs", "6|6\n");

    /* A heartbeat saying 9 was acknowledged by the gateway reveals a tail gap [7, 9]. */
    bb_init(&x, GW, 1, 9, 9);
    bb_add(&x, 9, DEV, "up/hb", T0 + 10000,
           "{\"up\":9,\"bc\":1,\"ep\":3,\"last\":10,\"pending\":1,\"drops\":0}");
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(count_events(&f->res, "gap"), 1);
    g = event_json(&f->res, "gap", 0);
    assert_string_equal(json_string_value(json_object_get(g, "kind")), "tail");
    assert_int_equal(json_integer_value(json_object_get(g, "from_seq")), 7);
    assert_int_equal(json_integer_value(json_object_get(g, "to_seq")), 9);
    json_decref(g);
    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.missing, 3);
}

static void test_rejected_payloads_are_recorded_and_acked(void **state)
{
    struct fx *f = *state;
    struct bb x;
    bb_init(&x, GW, 5, 1, 12);
    bb_add(&x, 1, DEV, "up/json", T0, "not json");
    bb_add(&x, 2, DEV, "up/json", T0, "{\"n\":\"temp\",\"v\":1}");
    bb_add(&x, 3, DEV, "up/json", T0, "[{\"n\":\"temp\"}]");
    bb_add(&x, 4, DEV, "up/json", T0, "[{\"bn\":\"urn:corio:" DEV2 ":\",\"n\":\"temp\",\"v\":1}]");
    bb_add(&x, 5, DEV, "up/json", T0, "[{\"n\":\"temp\",\"v\":1,\"vs\":\"x\"}]");
    bb_add(&x, 6, DEV, "up/json", T0, "[{\"ep\":1,\"n\":\"temp\",\"v\":1}]");
    bb_add(&x, 7, DEV, "up/json", T0, "[{\"n\":\"temp\",\"v\":1,\"x_\":2}]");
    bb_add(&x, 8, DEV, "up/hb", T0, "{\"ep\":1,\"last\":2}");
    bb_add(&x, 9, DEV, "presence", T0, "{\"online\":\"yes\"}");
    bb_add(&x, 10, DEV, "down/cmd", T0, "{}");
    bb_add(&x, 11, DEV, "up/cbor", T0, "\x81\xa2\x01\x64temp"); /* truncated CBOR */
    /* One good message among them is stored; nothing of the bad ones is. */
    bb_add(&x, 12, DEV, "up/json", T0,
           "[{\"ep\":1,\"seq\":1,\"n\":\"temp\",\"v\":1},{\"n\":\"hum\",\"v\":2}]");
    assert_int_equal(ingest(f, &x), CORIO_OK);
    check_ack(&f->res, 5, 1, 12);
    assert_int_equal(f->res.rejected, 11);
    assert_int_equal(f->res.stored, 1);
    assert_int_equal(f->res.samples, 2);
    expect_query(f, "SELECT count(*) FROM samples", "2\n");
    char *reasons = query(f, "SELECT reason FROM messages WHERE status = 1 ORDER BY gw_id");
    const char *want[] = {"not a SenML pack",     "not a SenML pack", "not a SenML pack",
                          "another device",       "not a SenML pack", "not a SenML pack",
                          "not a SenML pack",     "heartbeat is not", "boolean 'online'",
                          "unknown topic suffix", "not a SenML pack"};
    char *line = reasons;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_non_null(line);
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = 0;
        if (!strstr(line, want[i]))
            fail_msg("reason %zu is '%s', want it to mention '%s'", i, line, want[i]);
        line = nl + 1;
    }
    free(reasons);

    /* Redelivered: the rejections are duplicates, not counted again. */
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(f->res.rejected, 0);
    assert_int_equal(f->res.duplicates, 12);
    struct corio_store_stats st;
    assert_int_equal(corio_store_stats(f->s, ORG, &st), CORIO_OK);
    assert_int_equal(st.counts.rejected, 11);
    assert_int_equal(st.counts.messages, 1);
}

static void test_foreign_and_unregistered_devices(void **state)
{
    struct fx *f = *state;
    struct bb x;
    bb_init(&x, GW, 5, 1, 3);
    bb_senml(&x, 1, FOREIGN, 1, 1, 1764500001.0, 1);
    bb_senml(&x, 2, STRANGER, 1, 1, 1764500001.0, 1);
    bb_senml(&x, 3, DEV, 1, 1, 1764500001.0, 1);
    assert_int_equal(ingest(f, &x), CORIO_OK);
    check_ack(&f->res, 5, 1, 3);
    assert_int_equal(f->res.rejected, 2);
    assert_int_equal(f->res.stored, 1);
    expect_query(f, "SELECT device, org, reason FROM messages WHERE status = 1 ORDER BY gw_id",
                 FOREIGN "|" ORG "|device " FOREIGN " belongs to another organisation\n" STRANGER
                         "|" ORG "|device " STRANGER " is not registered\n");
    /* Nothing of it reaches the other organisation's device. */
    expect_query(f, "SELECT messages, last_seen_ms FROM devices WHERE id = '" FOREIGN "'",
                 "0|NULL\n");

    /* With accept_unregistered the stranger is registered under the gateway's
     * organisation; the foreign device still is not. */
    make_ingest(f, true);
    bb_init(&x, GW, 6, 1, 2);
    bb_senml(&x, 1, FOREIGN, 1, 2, 1764500002.0, 1);
    bb_senml(&x, 2, STRANGER, 1, 2, 1764500002.0, 1);
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(f->res.rejected, 1);
    assert_int_equal(f->res.stored, 1);
    expect_query(f, "SELECT org, gateway, messages FROM devices WHERE id = '" STRANGER "'",
                 ORG "|" GW "|1\n");
}

static void test_unknown_gateway(void **state)
{
    struct fx *f = *state;
    struct bb x;
    bb_init(&x, "zzzzzzzzzzzzzzzzzzzzzzzz", 5, 1, 1);
    bb_senml(&x, 1, DEV, 1, 1, 1764500001.0, 1);
    assert_int_equal(ingest(f, &x), CORIO_ERR_NOTFOUND);
    assert_int_equal(f->res.ack_len, 0);
    expect_query(f, "SELECT count(*) FROM messages", "0\n");
}

/* The whole path from the wire: topic, signature, batch codec. The batch is sealed as
 * the gateway seals it (common/batch.h). */
static uint8_t *wire_of(struct bb *x, const struct corio_key *key, unsigned key_no, size_t *len)
{
    int64_t n = corio_batch_encode(&x->b, NULL, 0);
    assert_true(n > 0);
    uint8_t *payload = malloc((size_t)n);
    assert_int_equal(corio_batch_encode(&x->b, payload, (size_t)n), n);
    uint8_t *w;
    assert_int_equal(corio_batch_seal(key, x->b.gateway, key_no, payload, (size_t)n, &w, len),
                     CORIO_OK);
    free(payload);
    return w;
}

static void test_from_the_wire(void **state)
{
    struct fx *f = *state;
    struct bb x;
    bb_init(&x, GW, 9, 1, 2);
    bb_senml(&x, 1, DEV, 1, 1, 1764500001.0, 1);
    bb_senml(&x, 2, DEV, 1, 2, 1764500002.0, 2);
    size_t len, blen;
    uint8_t *w = wire_of(&x, &f->key, 0, &len);
    corio_ingest_result_free(&f->res);
    const char *topic = "corio/v1/g/" GW "/batch";

    /* Signed by a key that is not the gateway's: refused, nothing stored, no ack. */
    uint8_t *bad = wire_of(&x, &f->other, 0, &blen);
    assert_int_equal(corio_ingest_batch(f->ig, topic, bad, blen, T0, &f->res), CORIO_ERR_BADSIG);
    assert_int_equal(f->res.ack_len, 0);
    assert_non_null(strstr(f->res.why, "does not verify"));
    free(bad);
    /* The gateway's key under another key number than the registry's. */
    bad = wire_of(&x, &f->key, 1, &blen);
    assert_int_equal(corio_ingest_batch(f->ig, topic, bad, blen, T0, &f->res), CORIO_ERR_BADSIG);
    assert_non_null(strstr(f->res.why, "#1, want"));
    free(bad);
    /* A COSE_Sign1 by the right key without the batch's AAD (a signature made for
     * something else) does not open as a batch. */
    uint8_t plain[1024];
    char kid[64];
    snprintf(kid, sizeof kid, "did:corio:%s#0", GW);
    int pn = corio_cose_sign1_sign(&f->key, (const uint8_t *)kid, strlen(kid), NULL, 0, w, 8, 0,
                                   plain, sizeof plain);
    assert_true(pn > 0);
    assert_int_equal(corio_ingest_batch(f->ig, topic, plain, (size_t)pn, T0, &f->res),
                     CORIO_ERR_BADSIG);
    expect_query(f, "SELECT count(*) FROM messages", "0\n");

    /* Our gateway's batch on another gateway's topic (GW2 has no key at all), and a
     * batch naming GW2 signed by GW. */
    assert_int_equal(corio_ingest_batch(f->ig, "corio/v1/g/" GW2 "/batch", w, len, T0, &f->res),
                     CORIO_ERR_BADSIG);
    struct bb y;
    bb_init(&y, GW2, 9, 1, 1);
    bb_senml(&y, 1, DEV, 1, 1, 1764500001.0, 1);
    int64_t yn = corio_batch_encode(&y.b, NULL, 0);
    uint8_t *ypay = malloc((size_t)yn), *ywire;
    size_t ylen;
    assert_int_equal(corio_batch_encode(&y.b, ypay, (size_t)yn), yn);
    assert_int_equal(corio_batch_seal(&f->key, GW, 0, ypay, (size_t)yn, &ywire, &ylen), CORIO_OK);
    assert_int_equal(corio_ingest_batch(f->ig, topic, ywire, ylen, T0, &f->res),
                     CORIO_ERR_MALFORMED);
    assert_non_null(strstr(f->res.why, "another gateway"));
    free(ypay);
    free(ywire);
    /* Topics that are not a batch topic. */
    const char *bad_topics[] = {"corio/v1/g/" GW "/ack",  "corio/v1/g/" GW "/batch/x",
                                "corio/v1/g/short/batch", "corio/v1/d/" GW "/batch",
                                "corio/v1/g/" GW,         ""};
    for (size_t i = 0; i < sizeof bad_topics / sizeof bad_topics[0]; i++)
        assert_int_equal(corio_ingest_batch(f->ig, bad_topics[i], w, len, T0, &f->res),
                         CORIO_ERR_INVAL);
    /* An unregistered gateway on its own topic. */
    assert_int_equal(
        corio_ingest_batch(f->ig, "corio/v1/g/zzzzzzzzzzzzzzzzzzzzzzzz/batch", w, len, T0, &f->res),
        CORIO_ERR_NOTFOUND);
    /* Something that is not a sealed batch. */
    uint8_t junk[] = {0xa1, 0x01, 0x02};
    assert_int_equal(corio_ingest_batch(f->ig, topic, junk, sizeof junk, T0, &f->res),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(f->res.ack_len, 0);
    expect_query(f, "SELECT count(*) FROM messages", "0\n");

    assert_int_equal(corio_ingest_batch(f->ig, topic, w, len, T0, &f->res), CORIO_OK);
    check_ack(&f->res, 9, 1, 2);
    assert_int_equal(f->res.stored, 2);
    expect_query(f, "SELECT count(*) FROM samples", "2\n");
    free(w);
}

static void test_cbor_payloads(void **state)
{
    struct fx *f = *state;
    struct corio_heartbeat h = {.uptime_s = 12, .boot = 1, .epoch = 2, .last_seq = 5, .pending = 1};
    uint8_t hb[CORIO_HEARTBEAT_MAX];
    int hn = corio_heartbeat_encode(CORIO_FORMAT_CBOR, &h, hb, sizeof hb);
    assert_true(hn > 0);
    uint8_t pack[128];
    struct corio_senml_enc e;
    corio_senml_enc_init(&e, CORIO_FORMAT_CBOR, pack, sizeof pack);
    struct corio_senml_ext ext = {.has_seq = true, .ep = 2, .seq = 1};
    corio_senml_enc_ext(&e, &ext);
    struct corio_senml_fields r = {.bn = "urn:corio:" DEV ":",
                                   .n = "temp",
                                   .u = "Cel",
                                   .has = CORIO_SENML_HAS_BT,
                                   .bt = 1764500000,
                                   .type = CORIO_SENML_NUMBER,
                                   .v = 19.25};
    corio_senml_enc_add(&e, &r);
    int pn = corio_senml_enc_finish(&e);
    assert_true(pn > 0);

    struct bb x;
    bb_init(&x, GW, 5, 1, 2);
    bb_add(&x, 1, DEV, "up/cbor", T0, "");
    x.m[0].payload = pack;
    x.m[0].payload_len = (size_t)pn;
    bb_add(&x, 2, DEV, "up/hb", T0, "");
    x.m[1].payload = hb;
    x.m[1].payload_len = (size_t)hn;
    assert_int_equal(ingest(f, &x), CORIO_OK);
    assert_int_equal(f->res.stored, 2);
    assert_int_equal(f->res.rejected, 0);
    assert_int_equal(f->res.samples, 1);
    /* The heartbeat says 4 of 5 were acknowledged; only 1 is here: tail gap [2, 4]. */
    assert_int_equal(count_events(&f->res, "gap"), 1);
    expect_query(f, "SELECT epoch, max_seq, hb_last, hb_pending FROM device_epochs", "2|1|5|1\n");
    expect_query(f, "SELECT metric, t_ms, v_num FROM samples", "temp|1764500000000|19.25\n");
}

static void test_event_cap(void **state)
{
    struct fx *f = *state;
    corio_ingest_free(f->ig);
    struct corio_ingest_opts o = {
        .store = f->s, .verifier = corio_cloud_cose_verifier, .max_events = 3};
    assert_int_equal(corio_ingest_new(&o, &f->ig), CORIO_OK);
    struct bb x;
    bb_init(&x, GW, 5, 1, 5);
    for (int i = 1; i <= 5; i++)
        bb_senml(&x, (uint64_t)i, DEV, 1, i, 1764500000.0 + i, i);
    assert_int_equal(ingest(f, &x), CORIO_OK);
    /* Live events are capped; the data is not. */
    assert_int_equal(f->res.nevents, 3);
    assert_int_equal(f->res.events_dropped, 2);
    assert_int_equal(f->res.samples, 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_stores_and_acks),
        T(test_duplicates_change_nothing),
        T(test_out_of_order_gap_events),
        T(test_rejected_payloads_are_recorded_and_acked),
        T(test_foreign_and_unregistered_devices),
        T(test_unknown_gateway),
        T(test_from_the_wire),
        T(test_cbor_payloads),
        T(test_event_cap),
    };
    return cmocka_run_group_tests_name("cloud_ingest", tests, NULL, NULL);
}
