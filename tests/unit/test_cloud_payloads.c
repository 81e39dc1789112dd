/* test_cloud_payloads.c - the payload decoders of corio-cloud's ingest: SenML JSON
 * (names, base fields, times, value kinds, every refusal), heartbeats in JSON and CBOR,
 * presence records, values as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cloud_int.h"
#include "corio/cbor.h"
#include "corio/error.h"
#include "corio/heartbeat.h"
#include "corio/senml.h"

#define DEV  "dddddddddddddddddddddddd"
#define RECV 1764500000000LL

static int decode(const char *json, struct corio__cloud_senml_pack *p, char *why)
{
    return corio__cloud_senml_decode(CORIO__CLOUD_SENML_JSON, (const uint8_t *)json, strlen(json),
                                     DEV, RECV, p, why, 200);
}

static void test_senml_full_pack(void **state)
{
    (void)state;
    struct corio__cloud_senml_pack p;
    char why[200] = "";
    const char *j = "[{\"bn\":\"urn:corio:" DEV ":\",\"bt\":1764500000.5,\"bu\":\"Cel\",\"bv\":10,"
                    "\"bver\":10,\"ep\":3,\"seq\":42,\"n\":\"temp\",\"v\":11.5,\"extra\":[1,2]},"
                    "{\"n\":\"temp\",\"t\":1,\"v\":12},"
                    "{\"n\":\"hum\",\"u\":\"%RH\",\"v\":40},"
                    "{\"bn\":\"room/\",\"n\":\"door\",\"vb\":false},"
                    "{\"bn\":\"\",\"n\":\"label\",\"vs\":\"hi there\"},"
                    "{\"n\":\"blob\",\"vd\":\"3q2-7_8\"},"
                    "{\"n\":\"energy\",\"bs\":100,\"s\":5}]";
    assert_int_equal(decode(j, &p, why), CORIO_OK);
    assert_true(p.has_seq);
    assert_int_equal(p.epoch, 3);
    assert_int_equal(p.seq, 42);
    assert_int_equal(p.n, 7);
    assert_string_equal(p.recs[0].name, "temp");
    assert_string_equal(p.recs[0].unit, "Cel");
    assert_int_equal(p.recs[0].t_ms, 1764500000500LL);
    assert_true(p.recs[0].value.kind == CORIO_VALUE_NUM && p.recs[0].value.num == 21.5);
    assert_int_equal(p.recs[1].t_ms, 1764500001500LL);
    assert_true(p.recs[1].value.num == 22.0);
    assert_string_equal(p.recs[2].unit, "%RH");
    /* A base name without the device's URN is kept as it is. */
    assert_string_equal(p.recs[3].name, "room/door");
    assert_true(p.recs[3].value.kind == CORIO_VALUE_BOOL && !p.recs[3].value.b);
    assert_string_equal(p.recs[4].name, "label");
    assert_int_equal(p.recs[4].value.len, 8);
    assert_memory_equal(p.recs[4].value.str, "hi there", 8);
    assert_int_equal(p.recs[5].value.kind, CORIO_VALUE_DATA);
    assert_int_equal(p.recs[5].value.len, 5);
    assert_memory_equal(p.recs[5].value.data, "\xde\xad\xbe\xef\xff", 5);
    assert_true(p.recs[6].value.kind == CORIO_VALUE_NUM && p.recs[6].value.num == 105);
    /* The base unit applies to later records without their own. */
    assert_string_equal(p.recs[6].unit, "Cel");
    corio__cloud_senml_pack_free(&p);
    assert_int_equal(p.n, 0);
}

static void test_senml_times(void **state)
{
    (void)state;
    struct corio__cloud_senml_pack p;
    char why[200];
    /* No time at all: the gateway's receive time. */
    assert_int_equal(decode("[{\"n\":\"a\",\"v\":1}]", &p, why), CORIO_OK);
    assert_int_equal(p.recs[0].t_ms, RECV);
    assert_false(p.has_seq);
    corio__cloud_senml_pack_free(&p);
    /* Relative times (below 2^28 s) count from it, negative ones too. */
    assert_int_equal(
        decode("[{\"n\":\"a\",\"t\":-2.25,\"v\":1},{\"n\":\"b\",\"t\":268435455,\"v\":1}]", &p,
               why),
        CORIO_OK);
    assert_int_equal(p.recs[0].t_ms, RECV - 2250);
    assert_int_equal(p.recs[1].t_ms, RECV + 268435455000LL);
    corio__cloud_senml_pack_free(&p);
    /* 2^28 s and above are absolute. */
    assert_int_equal(decode("[{\"n\":\"a\",\"t\":268435456,\"v\":1}]", &p, why), CORIO_OK);
    assert_int_equal(p.recs[0].t_ms, 268435456000LL);
    corio__cloud_senml_pack_free(&p);
    /* Before 1970 or after 9999: refused (see test_senml_refusals). A pack of base and
     * extension fields only is valid and has no records (RFC 8428 §5.1.7): the message
     * is stored and its seq counted, with no samples. */
    assert_int_equal(decode("[{\"bn\":\"x:\",\"ep\":2,\"seq\":3}]", &p, why), CORIO_OK);
    assert_true(p.has_seq && p.epoch == 2 && p.seq == 3 && p.n == 0);
    corio__cloud_senml_pack_free(&p);
}

static void test_senml_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *json, *why;
    } cases[] = {
        /* The SDK's refusals. */
        {"", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":1}", "not a SenML pack"},
        {"{}", "not a SenML pack"},
        {"[]", "not a SenML pack"},
        {"[1]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":1,\"v\":2}]", "not a SenML pack"},
        {"[{\"n\":\"a\"}]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":\"1\"}]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":1,\"vb\":true}]", "not a SenML pack"},
        {"[{\"n\":\"-a\",\"v\":1}]", "not a SenML pack"},
        {"[{\"n\":\"a b\",\"v\":1}]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":1,\"bver\":11}]", "unknown format version"},
        {"[{\"n\":\"a\",\"v\":1,\"foo_\":1}]", "unsupported"},
        {"[{\"n\":\"a\",\"v\":1,\"ep\":1}]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":1,\"ep\":1,\"seq\":0}]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":1,\"ep\":1.5,\"seq\":1}]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"vd\":\"not base64!\"}]", "not a SenML pack"},
        {"[{\"n\":\"a\",\"v\":1},{\"n\":\"b\"}]", "at record 1"},
        /* What this cloud adds. */
        {"[{\"bn\":\"urn:corio:" DEV ":\",\"v\":1}]", "metric name"},
        {"[{\"bn\":\"urn:corio:eeeeeeeeeeeeeeeeeeeeeeee:\",\"n\":\"a\",\"v\":1}]",
         "another device"},
        {"[{\"n\":\"a\",\"v\":1},{\"n\":"
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
         "\"v\":1}]",
         "record 1: metric name"},
        {"[{\"n\":\"a\",\"v\":1,\"u\":\"deg C\"}]", "unit"},
        {"[{\"n\":\"a\",\"t\":-1e10,\"v\":1}]", "time"}, /* relative: before 1970 */
        {"[{\"n\":\"a\",\"t\":1e15,\"v\":1}]", "time"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct corio__cloud_senml_pack p;
        char why[200] = "";
        int rc = decode(cases[i].json, &p, why);
        if (rc != CORIO_ERR_MALFORMED || !strstr(why, cases[i].why))
            fail_msg("case %zu (%s): rc %d why '%s', want '%s'", i, cases[i].json, rc, why,
                     cases[i].why);
        assert_int_equal(p.n, 0);
        assert_null(p.recs);
    }
    /* Too many records, too long a string. */
    size_t n = 1025 * 18 + 2;
    char *big = malloc(n + 1);
    strcpy(big, "[");
    for (int i = 0; i < 1025; i++)
        strcat(big, i ? ",{\"n\":\"a\",\"v\":1}" : "{\"n\":\"a\",\"v\":1}");
    strcat(big, "]");
    struct corio__cloud_senml_pack p;
    char why[200];
    assert_int_equal(decode(big, &p, why), CORIO_ERR_MALFORMED);
    free(big);
    char *longs = malloc(5000);
    strcpy(longs, "[{\"n\":\"a\",\"vs\":\"");
    size_t pre = strlen(longs);
    memset(longs + pre, 'x', 4097);
    strcpy(longs + pre + 4097, "\"}]");
    assert_int_equal(decode(longs, &p, why), CORIO_ERR_MALFORMED);
    assert_non_null(strstr(why, "longer than"));
    free(longs);
    assert_int_equal(corio__cloud_senml_decode(CORIO__CLOUD_SENML_CBOR, (const uint8_t *)"\x80", 1,
                                               DEV, RECV, &p, why, sizeof why),
                     CORIO_ERR_MALFORMED);
}

static void test_heartbeat(void **state)
{
    (void)state;
    struct corio__cloud_heartbeat hb;
    char why[200];
    const char *j = "{\"up\":12,\"bc\":3,\"ep\":7,\"last\":100,\"pending\":4,\"drops\":1,\"x\":1}";
    assert_int_equal(
        corio__cloud_heartbeat_decode((const uint8_t *)j, strlen(j), &hb, why, sizeof why),
        CORIO_OK);
    assert_true(hb.epoch == 7 && hb.last == 100 && hb.pending == 4 && hb.drops == 1);
    assert_true(hb.boot == 3 && hb.uptime_s == 12);
    static const char *const bad[] = {
        "{\"ep\":7,\"last\":1}",                                               /* keys missing */
        "{\"up\":1,\"bc\":1,\"ep\":7,\"last\":1,\"pending\":2,\"drops\":0}",   /* pending > last */
        "{\"up\":1,\"bc\":1,\"ep\":-1,\"last\":1,\"pending\":0,\"drops\":0}",  /* negative */
        "{\"up\":1.5,\"bc\":1,\"ep\":1,\"last\":1,\"pending\":0,\"drops\":0}", /* fraction */
        "{\"up\":1,\"bc\":1,\"ep\":9223372036854775808,\"last\":1,\"pending\":0,\"drops\":0}",
        "[1]",
        "x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (corio__cloud_heartbeat_decode((const uint8_t *)bad[i], strlen(bad[i]), &hb, why,
                                          sizeof why) != CORIO_ERR_MALFORMED)
            fail_msg("accepted %s", bad[i]);
    }

    /* The same heartbeat in CBOR, as a CBOR device sends it on up/hb. */
    struct corio_heartbeat h = {
        .uptime_s = 5, .boot = 2, .epoch = 2, .last_seq = 9, .pending = 0, .drops = 1};
    uint8_t buf[CORIO_HEARTBEAT_MAX];
    int n = corio_heartbeat_encode(CORIO_FORMAT_CBOR, &h, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio__cloud_heartbeat_decode(buf, (size_t)n, &hb, why, sizeof why), CORIO_OK);
    assert_true(hb.epoch == 2 && hb.last == 9 && hb.pending == 0 && hb.drops == 1);
    for (int cut = 1; cut < n; cut++)
        assert_int_equal(corio__cloud_heartbeat_decode(buf, (size_t)cut, &hb, why, sizeof why),
                         CORIO_ERR_MALFORMED);
    assert_non_null(strstr(why, "CBOR map"));
}

static void test_senml_cbor(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct corio_senml_enc e;
    corio_senml_enc_init(&e, CORIO_FORMAT_CBOR, buf, sizeof buf);
    struct corio_senml_ext x = {.has_seq = true, .ep = 4, .seq = 17};
    corio_senml_enc_ext(&e, &x);
    struct corio_senml_fields r1 = {.bn = "urn:corio:" DEV ":",
                                    .n = "temp",
                                    .u = "Cel",
                                    .has = CORIO_SENML_HAS_BT,
                                    .bt = 1764500000,
                                    .type = CORIO_SENML_NUMBER,
                                    .v = 21.5};
    struct corio_senml_fields r2 = {
        .n = "blob", .type = CORIO_SENML_DATA, .vd = (const uint8_t *)"\x00\x01", .vd_len = 2};
    corio_senml_enc_add(&e, &r1);
    corio_senml_enc_add(&e, &r2);
    int n = corio_senml_enc_finish(&e);
    assert_true(n > 0);
    struct corio__cloud_senml_pack p;
    char why[200];
    assert_int_equal(corio__cloud_senml_decode(CORIO__CLOUD_SENML_CBOR, buf, (size_t)n, DEV, RECV,
                                               &p, why, sizeof why),
                     CORIO_OK);
    assert_true(p.has_seq && p.epoch == 4 && p.seq == 17);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.recs[0].name, "temp");
    assert_int_equal(p.recs[0].t_ms, 1764500000000LL);
    assert_true(p.recs[0].value.num == 21.5);
    assert_int_equal(p.recs[1].value.kind, CORIO_VALUE_DATA);
    assert_int_equal(p.recs[1].value.len, 2);
    corio__cloud_senml_pack_free(&p);
    /* Every truncation is refused, and refused whole. */
    for (int cut = 0; cut < n; cut++) {
        assert_int_equal(corio__cloud_senml_decode(CORIO__CLOUD_SENML_CBOR, buf, (size_t)cut, DEV,
                                                   RECV, &p, why, sizeof why),
                         CORIO_ERR_MALFORMED);
        assert_int_equal(p.n, 0);
    }
}

static void test_presence(void **state)
{
    (void)state;
    bool online = false;
    char why[200];
    const char *j = "{\"online\":true,\"connections\":2}";
    assert_int_equal(
        corio__cloud_presence_decode((const uint8_t *)j, strlen(j), &online, why, sizeof why),
        CORIO_OK);
    assert_true(online);
    j = "{\"online\":false}";
    assert_int_equal(
        corio__cloud_presence_decode((const uint8_t *)j, strlen(j), &online, why, sizeof why),
        CORIO_OK);
    assert_false(online);
    static const char *const bad[] = {"{}", "{\"online\":1}", "[true]", "true", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(corio__cloud_presence_decode((const uint8_t *)bad[i], strlen(bad[i]),
                                                      &online, why, sizeof why),
                         CORIO_ERR_MALFORMED);
}

static void test_value_json(void **state)
{
    (void)state;
    /* Data values are base64url without padding, as SenML JSON writes vd. */
    struct corio_value v = {
        .kind = CORIO_VALUE_DATA, .data = (const uint8_t *)"\xfb\xff\xbf\x01", .len = 4};
    json_t *j = corio__cloud_value_json(&v);
    assert_string_equal(json_string_value(j), "-_-_AQ");
    json_decref(j);
    v = (struct corio_value){.kind = CORIO_VALUE_DATA, .len = 0};
    j = corio__cloud_value_json(&v);
    assert_string_equal(json_string_value(j), "");
    json_decref(j);
    v = (struct corio_value){.kind = CORIO_VALUE_STR, .str = "a\0b", .len = 3};
    j = corio__cloud_value_json(&v);
    assert_int_equal(json_string_length(j), 3);
    json_decref(j);
    v = (struct corio_value){.kind = CORIO_VALUE_BOOL, .b = true};
    j = corio__cloud_value_json(&v);
    assert_true(json_is_true(j));
    json_decref(j);
    v = (struct corio_value){.kind = CORIO_VALUE_NUM, .num = -0.5};
    j = corio__cloud_value_json(&v);
    assert_true(json_real_value(j) == -0.5);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_senml_full_pack), cmocka_unit_test(test_senml_times),
        cmocka_unit_test(test_senml_refusals),  cmocka_unit_test(test_senml_cbor),
        cmocka_unit_test(test_heartbeat),       cmocka_unit_test(test_presence),
        cmocka_unit_test(test_value_json),
    };
    return cmocka_run_group_tests_name("cloud_payloads", tests, NULL, NULL);
}
