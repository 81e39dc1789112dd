/*
 * test_heartbeat.c - the heartbeat codec (include/corio/heartbeat.h) in JSON and
 * CBOR: exact output, round trips at the extremes, keys in any order, unknown keys
 * skipped, every refusal, truncation at every length and NOSPACE at every size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/heartbeat.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*h) {
        if (*h == ' ') {
            h++;
            continue;
        }
        unsigned v;
        assert_true(n < cap);
        assert_int_equal(sscanf(h, "%2x", &v), 1);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

/* Decodes from an exact-size copy, so that ASan sees any overread. */
static int decode(enum corio_format fmt, const void *msg, size_t len, struct corio_heartbeat *hb)
{
    uint8_t *c = malloc(len ? len : 1);
    assert_non_null(c);
    if (len)
        memcpy(c, msg, len);
    int rc = corio_heartbeat_decode(fmt, c, len, hb);
    free(c);
    return rc;
}

static int decode_json(const char *s, struct corio_heartbeat *hb)
{
    return decode(CORIO_FORMAT_JSON, s, strlen(s), hb);
}

static void exact_output(void **state)
{
    (void)state;
    struct corio_heartbeat hb = {3600, 7, 2, 42, 3, 1};
    uint8_t buf[CORIO_HEARTBEAT_MAX];
    const char want[] = "{\"up\":3600,\"bc\":7,\"ep\":2,\"last\":42,\"pending\":3,\"drops\":1}";
    int n = corio_heartbeat_encode(CORIO_FORMAT_JSON, &hb, buf, sizeof buf);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
    assert_int_equal(corio_heartbeat_encode(CORIO_FORMAT_JSON, &hb, NULL, 0), n);

    /* CBOR: the same text keys in deterministic order (shorter first, then bytewise). */
    uint8_t want_cbor[64];
    size_t wn = unhex("a6 62 6263 07 62 6570 02 62 7570 19 0e10 64 6c617374 18 2a"
                      " 65 6472 6f 70 73 01 67 70656e64696e67 03",
                      want_cbor, sizeof want_cbor);
    n = corio_heartbeat_encode(CORIO_FORMAT_CBOR, &hb, buf, sizeof buf);
    assert_int_equal(n, wn);
    assert_memory_equal(buf, want_cbor, wn);
    assert_int_equal(corio_cbor_deterministic(buf, wn), CORIO_OK);
    assert_int_equal(corio_heartbeat_encode(CORIO_FORMAT_CBOR, &hb, NULL, 0), n);
    assert_int_equal(corio_heartbeat_encode((enum corio_format)0, &hb, buf, sizeof buf),
                     CORIO_ERR_INVAL);
}

static void round_trips(void **state)
{
    (void)state;
    static const struct corio_heartbeat cases[] = {
        {0, 0, 0, 0, 0, 0},
        {1, 2, 3, 4, 5, 6},
        {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX},
        {23, 24, 255, 256, 65535, 65536},
        {4294967295u, 4294967296u, 9007199254740993u, 1, 0, 12345678901234567890u},
    };
    static const enum corio_format fmts[] = {CORIO_FORMAT_JSON, CORIO_FORMAT_CBOR};
    for (size_t f = 0; f < COUNT(fmts); f++) {
        for (size_t i = 0; i < COUNT(cases); i++) {
            uint8_t buf[CORIO_HEARTBEAT_MAX];
            int n = corio_heartbeat_encode(fmts[f], &cases[i], buf, sizeof buf);
            assert_true(n > 0 && n <= CORIO_HEARTBEAT_MAX);
            struct corio_heartbeat back;
            memset(&back, 0xaa, sizeof back);
            assert_int_equal(decode(fmts[f], buf, (size_t)n, &back), CORIO_OK);
            assert_memory_equal(&back, &cases[i], sizeof back);
            /* Every prefix is refused and leaves the output alone. */
            for (int k = 0; k < n; k++) {
                struct corio_heartbeat keep = {9, 9, 9, 9, 9, 9};
                assert_true(decode(fmts[f], buf, (size_t)k, &keep) < 0);
                assert_true(keep.uptime_s == 9 && keep.drops == 9);
            }
            /* Every smaller buffer: NOSPACE, nothing written past its end. */
            for (int cap = 0; cap < n; cap++) {
                uint8_t *small = malloc(cap ? (size_t)cap : 1);
                assert_int_equal(corio_heartbeat_encode(fmts[f], &cases[i], small, (size_t)cap),
                                 CORIO_ERR_NOSPACE);
                free(small);
            }
        }
    }
}

static void any_order_and_unknown_keys(void **state)
{
    (void)state;
    struct corio_heartbeat hb;
    assert_int_equal(decode_json(" { \"drops\" : 6, \"pending\":5,\"last\":4,\"ep\":3,\"bc\":2,"
                                 "\"up\":1, \"fw\":\"1.2.3\", \"x\":{\"y\":[1,2,null]},"
                                 "\"\\u0075p2\":1.5 } \n",
                                 &hb),
                     CORIO_OK);
    assert_true(hb.uptime_s == 1 && hb.boot == 2 && hb.epoch == 3 && hb.last_seq == 4 &&
                hb.pending == 5 && hb.drops == 6);
    /* Escaped keys are the same keys. */
    assert_int_equal(decode_json("{\"\\u0075p\":1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,"
                                 "\"drops\":6}",
                                 &hb),
                     CORIO_OK);
    assert_true(hb.uptime_s == 1);
    /* CBOR: an indefinite map, an unknown key, keys out of order. */
    uint8_t b[128];
    size_t n = unhex("bf 65 6472 6f 70 73 06 62 7570 01 62 6263 02 62 6570 03 64 6c617374 04"
                     " 67 70656e64696e67 05 63 66 6f 6f 82 01 02 ff",
                     b, sizeof b);
    assert_int_equal(decode(CORIO_FORMAT_CBOR, b, n, &hb), CORIO_OK);
    assert_true(hb.uptime_s == 1 && hb.drops == 6 && hb.pending == 5);
}

static void refusals(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int err;
    } json[] = {
        {"", CORIO_ERR_MALFORMED},
        {"[]", CORIO_ERR_MALFORMED},
        {"{}", CORIO_ERR_MALFORMED},
        {"{\"up\":1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5}", CORIO_ERR_MALFORMED},
        {"{\"up\":1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6,\"up\":1}",
         CORIO_ERR_MALFORMED},
        {"{\"up\":-1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}", CORIO_ERR_MALFORMED},
        {"{\"up\":1.0,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}", CORIO_ERR_MALFORMED},
        {"{\"up\":1e1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}", CORIO_ERR_MALFORMED},
        {"{\"up\":\"1\",\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}", CORIO_ERR_MALFORMED},
        {"{\"up\":null,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}", CORIO_ERR_MALFORMED},
        {"{\"up\":[1],\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}", CORIO_ERR_MALFORMED},
        {"{\"up\":18446744073709551616,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}",
         CORIO_ERR_UNSUPPORTED},
        {"{\"up\":1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6} x", CORIO_ERR_MALFORMED},
        {"{\"up\":1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}{}", CORIO_ERR_MALFORMED},
        {"{\"up\":1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6,}", CORIO_ERR_MALFORMED},
        {"{\"UP\":1,\"bc\":2,\"ep\":3,\"last\":4,\"pending\":5,\"drops\":6}", CORIO_ERR_MALFORMED},
    };
    struct corio_heartbeat hb;
    for (size_t i = 0; i < COUNT(json); i++) {
        int rc = decode_json(json[i].json, &hb);
        if (rc != json[i].err)
            fail_msg("JSON %zu %s: got %d, want %d", i, json[i].json, rc, json[i].err);
    }
    static const struct {
        const char *hex;
        int err;
    } cbor[] = {
        {"", CORIO_ERR_MALFORMED},
        {"80", CORIO_ERR_MALFORMED},
        {"a0", CORIO_ERR_MALFORMED},
        /* an integer key */
        {"a7 62 6263 07 62 6570 02 62 7570 01 64 6c617374 01 65 6472 6f 70 73 01"
         " 67 70656e64696e67 03 01 01",
         CORIO_ERR_MALFORMED},
        /* a negative value */
        {"a6 62 6263 20 62 6570 02 62 7570 01 64 6c617374 01 65 6472 6f 70 73 01"
         " 67 70656e64696e67 03",
         CORIO_ERR_MALFORMED},
        /* a float value */
        {"a6 62 6263 f9 3c 00 62 6570 02 62 7570 01 64 6c617374 01 65 6472 6f 70 73 01"
         " 67 70656e64696e67 03",
         CORIO_ERR_MALFORMED},
        /* "bc" twice */
        {"a6 62 6263 01 62 6263 02 62 7570 01 64 6c617374 01 65 6472 6f 70 73 01"
         " 67 70656e64696e67 03",
         CORIO_ERR_MALFORMED},
        /* trailing byte */
        {"a6 62 6263 01 62 6570 02 62 7570 01 64 6c617374 01 65 6472 6f 70 73 01"
         " 67 70656e64696e67 03 00",
         CORIO_ERR_MALFORMED},
        /* a key that is not UTF-8 */
        {"a7 62 6263 01 62 6570 02 62 7570 01 64 6c617374 01 65 6472 6f 70 73 01"
         " 67 70656e64696e67 03 61 ff 00",
         CORIO_ERR_MALFORMED},
    };
    uint8_t b[128];
    for (size_t i = 0; i < COUNT(cbor); i++) {
        size_t n = unhex(cbor[i].hex, b, sizeof b);
        int rc = decode(CORIO_FORMAT_CBOR, b, n, &hb);
        if (rc != cbor[i].err)
            fail_msg("CBOR %zu %s: got %d, want %d", i, cbor[i].hex, rc, cbor[i].err);
    }
    assert_int_equal(corio_heartbeat_decode(CORIO_FORMAT_JSON, NULL, 1, &hb), CORIO_ERR_INVAL);

    /* Sniffing the format of an up/hb payload. */
    struct corio_heartbeat one = {1, 2, 3, 4, 5, 6};
    uint8_t out[CORIO_HEARTBEAT_MAX];
    int n = corio_heartbeat_encode(CORIO_FORMAT_CBOR, &one, out, sizeof out);
    assert_int_equal(corio_heartbeat_sniff(out, (size_t)n), CORIO_FORMAT_CBOR);
    assert_int_equal(corio_heartbeat_sniff((const uint8_t *)"\xbf", 1), CORIO_FORMAT_CBOR);
    n = corio_heartbeat_encode(CORIO_FORMAT_JSON, &one, out, sizeof out);
    assert_int_equal(corio_heartbeat_sniff(out, (size_t)n), CORIO_FORMAT_JSON);
    assert_int_equal(corio_heartbeat_sniff((const uint8_t *)" {", 2), CORIO_FORMAT_JSON);
    assert_int_equal(corio_heartbeat_sniff(NULL, 0), CORIO_FORMAT_JSON);
    assert_int_equal(corio_heartbeat_decode((enum corio_format)3, b, 1, &hb), CORIO_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_output),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(any_order_and_unknown_keys),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
