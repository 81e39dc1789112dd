/*
 * test_senml.c - SenML (include/corio/senml.h) against RFC 8428: the JSON examples of
 * §5.1 decode to the values the RFC states (and §5.1.3 resolves to exactly §5.1.4),
 * the CBOR bytes of §6 decode to the same records as their JSON twin, encode/decode
 * round trips in both encodings, base-field resolution, Corio's extension fields,
 * every refusal path of the decoder and of the encoder, limits, truncation at every
 * length, and sticky NOSPACE at every buffer size.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/senml.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------- */
/* Helpers                                                                      */
/* ---------------------------------------------------------------------------- */

/* A decoded record, copied out of the decoder's buffers. */
struct rec {
    uint32_t index;
    char name[300];
    char unit[64];
    enum corio_senml_type type;
    double v;
    bool vb;
    char vs[300];
    size_t vs_len;
    uint8_t vd[300];
    size_t vd_len;
    bool has_sum;
    double sum;
    double time;
    bool rel;
    bool has_ut;
    double ut;
};

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*h) {
        if (*h == ' ' || *h == '\n') {
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

static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

static size_t scratch_cap = 512;
static uint32_t limit_records = CORIO_SENML_MAX_RECORDS;
static size_t limit_name = CORIO_SENML_MAX_NAME;

/*
 * Decodes msg[0..len) in fmt (from an exact-size copy) into out[0..max). Returns the
 * number of records, or the first error; checks that errors are sticky and that the
 * end is reported again after it was reached.
 */
static int decode(enum corio_format fmt, const void *msg, size_t len, struct rec *out,
                  int max, struct corio_senml_ext *ext)
{
    uint8_t *copy = dup_exact(msg, len);
    char *buf = malloc(scratch_cap);
    struct corio_senml_dec d;
    struct corio_senml_record r;
    int rc = corio_senml_dec_init(&d, fmt, copy, len, buf, scratch_cap);
    int n = 0;
    if (rc == CORIO_OK) {
        corio_senml_dec_limits(&d, limit_records, limit_name);
        if (ext)
            *ext = *corio_senml_dec_ext(&d);
        while ((rc = corio_senml_dec_next(&d, &r)) == 1) {
            assert_true(n < max);
            struct rec *o = &out[n++];
            memset(o, 0, sizeof *o);
            o->index = r.index;
            assert_true(r.name_len < sizeof o->name);
            assert_int_equal(strlen(r.name), r.name_len);
            memcpy(o->name, r.name, r.name_len + 1);
            assert_true(r.unit_len < sizeof o->unit);
            memcpy(o->unit, r.unit, r.unit_len);
            o->type = r.type;
            o->v = r.v;
            o->vb = r.vb;
            if (r.type == CORIO_SENML_STRING) {
                assert_true(r.vs_len <= sizeof o->vs);
                memcpy(o->vs, r.vs, r.vs_len);
                o->vs_len = r.vs_len;
            }
            if (r.type == CORIO_SENML_DATA) {
                assert_true(r.vd_len <= sizeof o->vd);
                if (r.vd_len)
                    memcpy(o->vd, r.vd, r.vd_len);
                o->vd_len = r.vd_len;
            }
            o->has_sum = r.has_sum;
            o->sum = r.sum;
            o->time = r.time;
            o->rel = r.time_relative;
            o->has_ut = r.has_ut;
            o->ut = r.ut;
        }
        if (rc == 0) {
            assert_int_equal(corio_senml_dec_next(&d, &r), 0);
            rc = n;
        } else {
            assert_true(rc < 0);
            assert_int_equal(corio_senml_dec_next(&d, &r), rc); /* sticky */
        }
    } else {
        assert_int_equal(corio_senml_dec_next(&d, &r), rc);
    }
    free(buf);
    free(copy);
    return rc;
}

static int decode_json(const char *s, struct rec *out, int max, struct corio_senml_ext *ext)
{
    return decode(CORIO_FORMAT_JSON, s, strlen(s), out, max, ext);
}

static int decode_cbor_hex(const char *hex, struct rec *out, int max)
{
    uint8_t b[1024];
    size_t n = unhex(hex, b, sizeof b);
    return decode(CORIO_FORMAT_CBOR, b, n, out, max, NULL);
}

static bool same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void check_num(const struct rec *r, const char *name, const char *unit, double v,
                      double time, bool rel)
{
    assert_string_equal(r->name, name);
    assert_string_equal(r->unit, unit);
    assert_int_equal(r->type, CORIO_SENML_NUMBER);
    if (!same_double(r->v, v))
        fail_msg("%s: value %.17g, want %.17g", name, r->v, v);
    if (!same_double(r->time, time))
        fail_msg("%s: time %.17g, want %.17g", name, r->time, time);
    assert_int_equal(r->rel, rel);
    assert_false(r->has_sum);
}

static void same_records(const struct rec *a, const struct rec *b, int n)
{
    for (int i = 0; i < n; i++) {
        assert_string_equal(a[i].name, b[i].name);
        assert_string_equal(a[i].unit, b[i].unit);
        assert_int_equal(a[i].type, b[i].type);
        assert_true(same_double(a[i].v, b[i].v));
        assert_int_equal(a[i].vb, b[i].vb);
        assert_int_equal(a[i].vs_len, b[i].vs_len);
        assert_memory_equal(a[i].vs, b[i].vs, a[i].vs_len);
        assert_int_equal(a[i].vd_len, b[i].vd_len);
        assert_memory_equal(a[i].vd, b[i].vd, a[i].vd_len);
        assert_int_equal(a[i].has_sum, b[i].has_sum);
        assert_true(same_double(a[i].sum, b[i].sum));
        assert_true(same_double(a[i].time, b[i].time));
        assert_int_equal(a[i].rel, b[i].rel);
        assert_int_equal(a[i].has_ut, b[i].has_ut);
        assert_true(same_double(a[i].ut, b[i].ut));
    }
}

/* ---------------------------------------------------------------------------- */
/* RFC 8428 examples                                                            */
/* ---------------------------------------------------------------------------- */

static const char rfc_5_1_2b[] =
    "[\n"
    "  {\"bn\":\"urn:dev:ow:10e2073a0108006:\",\"bt\":1.276020076001e+09,\n"
    "   \"bu\":\"A\",\"bver\":5,\n"
    "   \"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},\n"
    "  {\"n\":\"current\",\"t\":-5,\"v\":1.2},\n"
    "  {\"n\":\"current\",\"t\":-4,\"v\":1.3},\n"
    "  {\"n\":\"current\",\"t\":-3,\"v\":1.4},\n"
    "  {\"n\":\"current\",\"t\":-2,\"v\":1.5},\n"
    "  {\"n\":\"current\",\"t\":-1,\"v\":1.6},\n"
    "  {\"n\":\"current\",\"v\":1.7}\n"
    "]";

/* RFC 8428 §6: the same pack in CBOR, byte for byte. */
static const char rfc_6_cbor[] =
    "87 a7 21 78 1b 75 72 6e 3a 64 65 76 3a 6f 77 3a"
    "31 30 65 32 30 37 33 61 30 31 30 38 30 30 36 3a"
    "22 fb 41 d3 03 a1 5b 00 10 62 23 61 41 20 05 00"
    "67 76 6f 6c 74 61 67 65 01 61 56 02 fb 40 5e 06"
    "66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06"
    "24 02 fb 3f f3 33 33 33 33 33 33 a3 00 67 63 75"
    "72 72 65 6e 74 06 23 02 fb 3f f4 cc cc cc cc cc"
    "cd a3 00 67 63 75 72 72 65 6e 74 06 22 02 fb 3f"
    "f6 66 66 66 66 66 66 a3 00 67 63 75 72 72 65 6e"
    "74 06 21 02 f9 3e 00 a3 00 67 63 75 72 72 65 6e"
    "74 06 20 02 fb 3f f9 99 99 99 99 99 9a a3 00 67"
    "63 75 72 72 65 6e 74 06 00 02 fb 3f fb 33 33 33"
    "33 33 33";

static const char rfc_5_1_3[] =
    "[\n"
    "  {\"bn\":\"urn:dev:ow:10e2073a01080063\",\"bt\":1.320067464e+09,\n"
    "   \"bu\":\"%RH\",\"v\":20},\n"
    "  {\"u\":\"lon\",\"v\":24.30621},\n"
    "  {\"u\":\"lat\",\"v\":60.07965},\n"
    "  {\"t\":60,\"v\":20.3},\n"
    "  {\"u\":\"lon\",\"t\":60,\"v\":24.30622},\n"
    "  {\"u\":\"lat\",\"t\":60,\"v\":60.07965},\n"
    "  {\"t\":120,\"v\":20.7},\n"
    "  {\"u\":\"lon\",\"t\":120,\"v\":24.30623},\n"
    "  {\"u\":\"lat\",\"t\":120,\"v\":60.07966},\n"
    "  {\"u\":\"%EL\",\"t\":150,\"v\":98},\n"
    "  {\"t\":180,\"v\":21.2},\n"
    "  {\"u\":\"lon\",\"t\":180,\"v\":24.30628},\n"
    "  {\"u\":\"lat\",\"t\":180,\"v\":60.07967}\n"
    "]";

static const char rfc_5_1_4[] =
    "[\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"%RH\",\"t\":1.320067464e+09,\n"
    "   \"v\":20},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lon\",\"t\":1.320067464e+09,\n"
    "   \"v\":24.30621},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lat\",\"t\":1.320067464e+09,\n"
    "   \"v\":60.07965},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"%RH\",\"t\":1.320067524e+09,\n"
    "   \"v\":20.3},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lon\",\"t\":1.320067524e+09,\n"
    "   \"v\":24.30622},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lat\",\"t\":1.320067524e+09,\n"
    "   \"v\":60.07965},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"%RH\",\"t\":1.320067584e+09,\n"
    "   \"v\":20.7},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lon\",\"t\":1.320067584e+09,\n"
    "   \"v\":24.30623},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lat\",\"t\":1.320067584e+09,\n"
    "   \"v\":60.07966},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"%EL\",\"t\":1.320067614e+09,\n"
    "   \"v\":98},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"%RH\",\"t\":1.320067644e+09,\n"
    "   \"v\":21.2},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lon\",\"t\":1.320067644e+09,\n"
    "   \"v\":24.30628},\n"
    "  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"lat\",\"t\":1.320067644e+09,\n"
    "   \"v\":60.07967}\n"
    "]";

static void rfc_single_and_multiple(void **state)
{
    (void)state;
    struct rec r[16];
    struct corio_senml_ext ext;

    /* §5.1.1: a temperature "now". */
    assert_int_equal(
        decode_json("[\n  {\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"Cel\",\"v\":23.1}\n]",
                    r, 16, &ext),
        1);
    check_num(&r[0], "urn:dev:ow:10e2073a01080063", "Cel", 23.1, 0, true);
    assert_false(ext.has_seq);
    assert_false(ext.has_boot);

    /* §5.1.2: voltage and current "now". */
    assert_int_equal(decode_json("[\n  {\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"voltage\","
                                 "\"u\":\"V\",\"v\":120.1},\n  {\"n\":\"current\",\"u\":\"A\","
                                 "\"v\":1.2}\n]",
                                 r, 16, NULL),
                     2);
    check_num(&r[0], "urn:dev:ow:10e2073a01080063:voltage", "V", 120.1, 0, true);
    check_num(&r[1], "urn:dev:ow:10e2073a01080063:current", "A", 1.2, 0, true);

    /* §5.1.2: current at Tue Jun 8 18:01:16.001 UTC 2010 and each second before. */
    assert_int_equal(decode_json(rfc_5_1_2b, r, 16, NULL), 7);
    const double bt = 1276020076.001;
    check_num(&r[0], "urn:dev:ow:10e2073a0108006:voltage", "V", 120.1, bt, false);
    static const double cur[] = {1.2, 1.3, 1.4, 1.5, 1.6, 1.7};
    for (int i = 0; i < 6; i++)
        check_num(&r[1 + i], "urn:dev:ow:10e2073a0108006:current", "A", cur[i],
                  bt + (i - 5), false);
    assert_int_equal(r[6].index, 6);

    /* bver 5: the version stays what the first record says. */
    char buf[64];
    struct corio_senml_dec d;
    assert_int_equal(corio_senml_dec_init(&d, CORIO_FORMAT_JSON, (const uint8_t *)rfc_5_1_2b,
                                          strlen(rfc_5_1_2b), buf, sizeof buf),
                     CORIO_OK);
    assert_int_equal(corio_senml_dec_version(&d), 5);
}

/* §6: the CBOR bytes decode to the same records as the JSON of §5.1.2. */
static void rfc_cbor_example(void **state)
{
    (void)state;
    struct rec j[8], c[8];
    assert_int_equal(decode_json(rfc_5_1_2b, j, 8, NULL), 7);
    assert_int_equal(decode_cbor_hex(rfc_6_cbor, c, 8), 7);
    same_records(j, c, 7);
    check_num(&c[4], "urn:dev:ow:10e2073a0108006:current", "A", 1.5, 1276020076.001 - 2, false);
    uint8_t b[256];
    size_t n = unhex(rfc_6_cbor, b, sizeof b);
    assert_int_equal(n, 0xc3); /* the RFC's dump ends at 00c3 */
    assert_int_equal(corio_cbor_wellformed(b, n), CORIO_OK);
}

/* §5.1.3 resolves to exactly the records of §5.1.4. */
static void rfc_resolved(void **state)
{
    (void)state;
    struct rec a[16], b[16];
    assert_int_equal(decode_json(rfc_5_1_3, a, 16, NULL), 13);
    assert_int_equal(decode_json(rfc_5_1_4, b, 16, NULL), 13);
    same_records(a, b, 13);
    check_num(&a[9], "urn:dev:ow:10e2073a01080063", "%EL", 98, 1320067614.0, false);
    check_num(&a[12], "urn:dev:ow:10e2073a01080063", "lat", 60.07967, 1320067644.0, false);
}

static void rfc_types_collection_actuators(void **state)
{
    (void)state;
    struct rec r[8];

    /* §5.1.5: multiple data types. */
    assert_int_equal(decode_json("[\n {\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"temp\","
                                 "\"u\":\"Cel\",\"v\":23.1},\n {\"n\":\"label\",\"vs\":\"Machine "
                                 "Room\"},\n {\"n\":\"open\",\"vb\":false},\n {\"n\":\"nfv-reader\","
                                 "\"vd\":\"aGkgCg\"}\n]",
                                 r, 8, NULL),
                     4);
    check_num(&r[0], "urn:dev:ow:10e2073a01080063:temp", "Cel", 23.1, 0, true);
    assert_string_equal(r[1].name, "urn:dev:ow:10e2073a01080063:label");
    assert_int_equal(r[1].type, CORIO_SENML_STRING);
    assert_int_equal(r[1].vs_len, 12);
    assert_memory_equal(r[1].vs, "Machine Room", 12);
    assert_string_equal(r[2].name, "urn:dev:ow:10e2073a01080063:open");
    assert_int_equal(r[2].type, CORIO_SENML_BOOL);
    assert_false(r[2].vb);
    assert_string_equal(r[3].name, "urn:dev:ow:10e2073a01080063:nfv-reader");
    assert_int_equal(r[3].type, CORIO_SENML_DATA);
    assert_int_equal(r[3].vd_len, 4);
    assert_memory_equal(r[3].vd, "hi \n", 4);

    /* §5.1.6: the last record uses the third's base name and the first's base time. */
    assert_int_equal(decode_json("[\n {\"bn\":\"2001:db8::2/\",\"bt\":1.320078429e+09,\n"
                                 "  \"n\":\"temperature\",\"u\":\"Cel\",\"v\":25.2},\n"
                                 " {\"n\":\"humidity\",\"u\":\"%RH\",\"v\":30},\n"
                                 " {\"bn\":\"2001:db8::1/\",\"n\":\"temperature\",\"u\":\"Cel\","
                                 "\"v\":12.3},\n {\"n\":\"humidity\",\"u\":\"%RH\",\"v\":67}\n]",
                                 r, 8, NULL),
                     4);
    check_num(&r[0], "2001:db8::2/temperature", "Cel", 25.2, 1320078429.0, false);
    check_num(&r[1], "2001:db8::2/humidity", "%RH", 30, 1320078429.0, false);
    check_num(&r[2], "2001:db8::1/temperature", "Cel", 12.3, 1320078429.0, false);
    check_num(&r[3], "2001:db8::1/humidity", "%RH", 67, 1320078429.0, false);

    /* §5.1.7: a thermostat; the first record holds only the base name. */
    assert_int_equal(decode_json("[\n {\"bn\":\"urn:dev:ow:10e2073a01080063:\"},\n"
                                 " {\"n\":\"temp\",\"u\":\"Cel\",\"v\":23.1},\n"
                                 " {\"n\":\"heat\",\"u\":\"/\",\"v\":1},\n"
                                 " {\"n\":\"fan\",\"u\":\"/\",\"v\":0}\n]",
                                 r, 8, NULL),
                     3);
    check_num(&r[0], "urn:dev:ow:10e2073a01080063:temp", "Cel", 23.1, 0, true);
    check_num(&r[1], "urn:dev:ow:10e2073a01080063:heat", "/", 1, 0, true);
    check_num(&r[2], "urn:dev:ow:10e2073a01080063:fan", "/", 0, 0, true);
    assert_int_equal(r[0].index, 1); /* positions in the pack */
    assert_int_equal(r[2].index, 3);

    /* §5.1.7: two lights on at the same time; then dimmed, and off 100 ms later. */
    assert_int_equal(decode_json("[\n {\"bt\":1.320078429e+09,\"bu\":\"/\",\"n\":\"2001:db8::3\","
                                 "\"v\":1},\n {\"n\":\"2001:db8::4\",\"v\":1}\n]",
                                 r, 8, NULL),
                     2);
    check_num(&r[0], "2001:db8::3", "/", 1, 1320078429.0, false);
    check_num(&r[1], "2001:db8::4", "/", 1, 1320078429.0, false);
    assert_int_equal(decode_json("[\n {\"bt\":1.320078429e+09,\"bu\":\"/\",\"n\":\"2001:db8::3\","
                                 "\"v\":0.5},\n {\"n\":\"2001:db8::4\",\"v\":0.5},\n"
                                 " {\"n\":\"2001:db8::3\",\"t\":0.1,\"v\":0},\n"
                                 " {\"n\":\"2001:db8::4\",\"t\":0.1,\"v\":0}\n]",
                                 r, 8, NULL),
                     4);
    check_num(&r[1], "2001:db8::4", "/", 0.5, 1320078429.0, false);
    check_num(&r[3], "2001:db8::4", "/", 0, 1320078429.0 + 0.1, false);
}

/* ---------------------------------------------------------------------------- */
/* Resolution and extension fields                                              */
/* ---------------------------------------------------------------------------- */

static void base_fields_resolve(void **state)
{
    (void)state;
    struct rec r[8];
    /* bv + v, bs + s, bu defaulting, u overriding, a sum-only record, ut. */
    assert_int_equal(decode_json("[{\"bn\":\"dev:\",\"bv\":100,\"bs\":1000,\"bu\":\"W\",\"n\":\"a\","
                                 "\"v\":5,\"s\":20,\"ut\":30},"
                                 "{\"n\":\"b\",\"u\":\"V\",\"v\":-1.5},"
                                 "{\"n\":\"c\"},"
                                 "{\"n\":\"d\",\"vs\":\"x\"},"
                                 "{\"bv\":0,\"bs\":0,\"n\":\"e\",\"v\":5,\"s\":1}]",
                                 r, 8, NULL),
                     5);
    assert_string_equal(r[0].name, "dev:a");
    assert_string_equal(r[0].unit, "W");
    assert_true(r[0].v == 105);
    assert_true(r[0].has_sum && r[0].sum == 1020);
    assert_true(r[0].has_ut && r[0].ut == 30);
    assert_string_equal(r[1].unit, "V");
    assert_true(r[1].v == 98.5);
    assert_true(r[1].has_sum && r[1].sum == 1000); /* bs alone gives a sum */
    assert_false(r[1].has_ut);
    assert_int_equal(r[2].type, CORIO_SENML_NONE); /* a sum, no value */
    assert_true(r[2].has_sum && r[2].sum == 1000);
    assert_string_equal(r[2].unit, "W");
    assert_int_equal(r[3].type, CORIO_SENML_STRING); /* bv does not apply to vs */
    assert_true(r[4].v == 5 && r[4].sum == 1);

    /* Without a base value, -0 stays -0. */
    assert_int_equal(decode_json("[{\"n\":\"a\",\"v\":-0,\"t\":-0}]", r, 8, NULL), 1);
    assert_true(r[0].v == 0 && signbit(r[0].v) && signbit(r[0].time));

    /* Times: bt + t; relative below 2^28, absolute from it. */
    assert_int_equal(decode_json("[{\"n\":\"a\",\"v\":1},{\"n\":\"a\",\"t\":-5,\"v\":1},"
                                 "{\"bt\":268435455,\"n\":\"a\",\"v\":1},"
                                 "{\"n\":\"a\",\"t\":1,\"v\":1},"
                                 "{\"bt\":1764500000.25,\"n\":\"a\",\"t\":-0.5,\"v\":1},"
                                 "{\"bt\":0,\"n\":\"a\",\"t\":268435456,\"v\":1}]",
                                 r, 8, NULL),
                     6);
    assert_true(r[0].time == 0 && r[0].rel);
    assert_true(r[1].time == -5 && r[1].rel);
    assert_true(r[2].time == 268435455 && r[2].rel);
    assert_true(r[3].time == 268435456 && !r[3].rel);
    assert_true(r[4].time == 1764499999.75 && !r[4].rel);
    assert_true(r[5].time == 268435456 && !r[5].rel);

    /* A base name alone names the record; an empty base name is no prefix; escapes
     * resolve in names, units and strings. */
    assert_int_equal(decode_json("[{\"bn\":\"urn:dev:x\",\"v\":1},"
                                 "{\"bn\":\"\",\"n\":\"y\",\"v\":2},"
                                 "{\"bn\":\"p\\u002f\",\"n\":\"\\u0071\",\"u\":\"\\u00b0C\","
                                 "\"vs\":\"a\\\"\\u0000b\"}]",
                                 r, 8, NULL),
                     3);
    assert_string_equal(r[0].name, "urn:dev:x");
    assert_string_equal(r[1].name, "y");
    assert_string_equal(r[2].name, "p/q");
    assert_string_equal(r[2].unit, "\xc2\xb0" "C");
    assert_int_equal(r[2].vs_len, 4);
    assert_memory_equal(r[2].vs, "a\"\0b", 4);

    /* Unknown fields are ignored, whatever their values; keys may come in any order. */
    assert_int_equal(decode_json("[{\"v\":1,\"x\":{\"y\":[1,{\"z\":null}]},\"n\":\"a\",\"_x\":2,"
                                 "\"ct\":\"60\",\"bct\":1}]",
                                 r, 8, NULL),
                     1);
    assert_true(r[0].v == 1);
    assert_int_equal(decode_cbor_hex("81 a5 09 01 63 66 6f 6f 82 01 02 00 61 61 02 01 38 63 f6",
                                     r, 8),
                     1);
    assert_string_equal(r[0].name, "a");

    /* CBOR: indefinite-length arrays and maps, integers and a decimal fraction. */
    assert_int_equal(decode_cbor_hex("9f bf 00 61 61 02 c4 82 21 19 6a b3 ff"
                                     "   a2 00 61 62 02 3a 7f ff ff ff ff", r, 8),
                     2);
    assert_true(r[0].v == 273.15);
    assert_true(r[1].v == -2147483648.0);
    assert_int_equal(decode_cbor_hex("81 a2 00 61 61 02 c4 82 20 38 0e", r, 8), 1);
    assert_true(r[0].v == -1.5); /* -15e-1 */
}

static void extension_fields(void **state)
{
    (void)state;
    struct rec r[4];
    struct corio_senml_ext ext;
    assert_int_equal(decode_json("[{\"bn\":\"urn:corio:abcd:\",\"bt\":1764500000.0,\"ep\":1,"
                                 "\"seq\":42,\"n\":\"temp\",\"u\":\"Cel\",\"v\":21.5},"
                                 "{\"n\":\"hum\",\"u\":\"%RH\",\"v\":40.1},"
                                 "{\"n\":\"vib\",\"u\":\"m/s2\",\"v\":0.02}]",
                                 r, 4, &ext),
                     3);
    assert_true(ext.has_seq && ext.ep == 1 && ext.seq == 42);
    assert_false(ext.has_boot);
    check_num(&r[2], "urn:corio:abcd:vib", "m/s2", 0.02, 1764500000.0, false);

    assert_int_equal(decode_json("[{\"boot\":7,\"upt\":123456789,\"ep\":18446744073709551615,"
                                 "\"seq\":9007199254740993},{\"n\":\"a\",\"v\":1}]",
                                 r, 4, &ext),
                     1);
    assert_true(ext.has_seq && ext.ep == UINT64_MAX && ext.seq == 9007199254740993u);
    assert_true(ext.has_boot && ext.boot == 7 && ext.upt == 123456789);
    assert_int_equal(r[0].index, 1);

    /* CBOR: text labels. */
    uint8_t b[64];
    size_t n = unhex("81 a6 00 61 61 02 01 62 65 70 03 63 73 65 71 04 63 75 70 74 05"
                     " 64 62 6f 6f 74 06", b, sizeof b);
    assert_int_equal(decode(CORIO_FORMAT_CBOR, b, n, r, 4, &ext), 1);
    assert_true(ext.has_seq && ext.ep == 3 && ext.seq == 4);
    assert_true(ext.has_boot && ext.upt == 5 && ext.boot == 6);
}

/* ---------------------------------------------------------------------------- */
/* Refusals                                                                     */
/* ---------------------------------------------------------------------------- */

static const struct {
    const char *json;
    int err;
} json_refusals[] = {
    {"", CORIO_ERR_MALFORMED},
    {"{}", CORIO_ERR_MALFORMED},
    {"[]", CORIO_ERR_MALFORMED},
    {"[1]", CORIO_ERR_MALFORMED},
    {"[[]]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1}", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1}] x", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1}][]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1},]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1},2]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1,}]", CORIO_ERR_MALFORMED},
    /* wrong types */
    {"[{\"n\":1,\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":\"1\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":null}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":[1]}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vb\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vb\":\"true\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vs\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vd\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1,\"t\":\"0\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1,\"ut\":{}}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1,\"s\":true}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":[],\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bt\":\"0\",\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bu\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bv\":false,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bs\":null,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bver\":\"10\",\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bver\":10.0,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bver\":-1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"ep\":\"1\",\"seq\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"ep\":1,\"seq\":-1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"ep\":1,\"seq\":1e3,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"boot\":1,\"upt\":1.5,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"ep\":1,\"seq\":18446744073709551616,\"n\":\"a\",\"v\":1}]", CORIO_ERR_UNSUPPORTED},
    /* a known field twice */
    {"[{\"n\":\"a\",\"v\":1,\"v\":2}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"n\":\"b\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1,\"\\u0076\":2}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":\"a\",\"bn\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    /* two values; no value and no sum */
    {"[{\"n\":\"a\",\"v\":1,\"vs\":\"x\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vb\":true,\"vd\":\"\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"t\":5}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":\"a\",\"u\":\"V\"}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":\"a\",\"ut\":5}]", CORIO_ERR_MALFORMED},
    {"[{}]", CORIO_ERR_MALFORMED},
    {"[{\"foo\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":\"a\"},{\"x\":1}]", CORIO_ERR_MALFORMED},
    /* names (RFC 8428 §4.5.1) */
    {"[{\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"-a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\":a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a b\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a#\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a%20\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"\xc3\xa9\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\\u0000\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":\"_x\",\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":\"x:\",\"n\":\"a\",\"v\":1},{\"n\":\"b?\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bn\":\"\",\"n\":\"_a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    /* must-understand labels (RFC 8428 §4.4) */
    {"[{\"n\":\"a\",\"v\":1,\"foo_\":1}]", CORIO_ERR_UNSUPPORTED},
    {"[{\"n\":\"a\",\"v\":1,\"foo\\u005f\":1}]", CORIO_ERR_UNSUPPORTED},
    {"[{\"n\":\"a\",\"v\":1,\"_\":1}]", CORIO_ERR_UNSUPPORTED},
    {"[{\"n\":\"a\",\"v\":1},{\"n\":\"a\",\"v\":1,\"bx_\":{}}]", CORIO_ERR_UNSUPPORTED},
    /* versions */
    {"[{\"bver\":11,\"n\":\"a\",\"v\":1}]", CORIO_ERR_VERSION},
    {"[{\"bver\":18446744073709551615,\"n\":\"a\",\"v\":1}]", CORIO_ERR_VERSION},
    {"[{\"bver\":0,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"bver\":5,\"n\":\"a\",\"v\":1},{\"bver\":10,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1},{\"bver\":5,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1},{\"bver\":11,\"n\":\"a\",\"v\":1}]", CORIO_ERR_VERSION},
    /* numbers beyond a double */
    {"[{\"n\":\"a\",\"v\":1e400}]", CORIO_ERR_UNSUPPORTED},
    {"[{\"n\":\"a\",\"v\":-1e309}]", CORIO_ERR_UNSUPPORTED},
    {"[{\"bv\":1e308,\"n\":\"a\",\"v\":1e308}]", CORIO_ERR_UNSUPPORTED},
    {"[{\"bs\":-1e308,\"n\":\"a\",\"s\":-1e308}]", CORIO_ERR_UNSUPPORTED},
    {"[{\"bt\":1e308,\"n\":\"a\",\"t\":1e308,\"v\":1}]", CORIO_ERR_UNSUPPORTED},
    /* data values: base64url without padding, one spelling per value */
    {"[{\"n\":\"a\",\"vd\":\"aGk=\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vd\":\"a\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vd\":\"aGl\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vd\":\"aQ=\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vd\":\"aR\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vd\":\"a+b/\"}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"vd\":\"aG kg\"}]", CORIO_ERR_MALFORMED},
    /* Corio's extension fields */
    {"[{\"n\":\"a\",\"v\":1},{\"ep\":1,\"seq\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"n\":\"a\",\"v\":1},{\"boot\":1,\"upt\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"ep\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"seq\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"ep\":1,\"seq\":0,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"boot\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"upt\":1,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
    {"[{\"ep\":1,\"seq\":1,\"ep\":2,\"n\":\"a\",\"v\":1}]", CORIO_ERR_MALFORMED},
};

static const struct {
    const char *hex;
    int err;
} cbor_refusals[] = {
    {"", CORIO_ERR_MALFORMED},
    {"a0", CORIO_ERR_MALFORMED},
    {"80", CORIO_ERR_MALFORMED},
    {"9f ff", CORIO_ERR_MALFORMED},
    {"81 01", CORIO_ERR_MALFORMED},
    {"82 a2 00 61 61 02 01", CORIO_ERR_MALFORMED},                /* one record short */
    {"81 a2 00 61 61 02 01 00", CORIO_ERR_MALFORMED},             /* trailing byte */
    {"9f a2 00 61 61 02 01", CORIO_ERR_MALFORMED},                /* no break */
    {"81 a2 00 61 61 02 01 ff", CORIO_ERR_MALFORMED},             /* stray break */
    {"81 a2 41 00 01 02 01", CORIO_ERR_MALFORMED},                /* a byte-string label */
    {"81 a2 f5 01 02 01", CORIO_ERR_MALFORMED},                   /* a boolean label */
    {"81 a2 61 6e 61 61 02 01", CORIO_ERR_MALFORMED},             /* "n" is not a CBOR label */
    {"81 a3 00 61 61 02 01 02 02", CORIO_ERR_MALFORMED},          /* v twice */
    {"81 a2 00 61 61 02 f9 7e 00", CORIO_ERR_MALFORMED},          /* NaN */
    {"81 a2 00 61 61 02 f9 7c 00", CORIO_ERR_MALFORMED},          /* infinity */
    {"81 a3 00 61 61 02 01 06 fb 7f f0 00 00 00 00 00 00", CORIO_ERR_MALFORMED},
    {"81 a2 00 61 61 02 c1 01", CORIO_ERR_MALFORMED},             /* a tag other than 4 */
    {"81 a2 00 61 61 02 c4 81 21", CORIO_ERR_MALFORMED},          /* tag 4, one element */
    {"81 a2 00 61 61 02 c4 82 f9 3c 00 01", CORIO_ERR_MALFORMED}, /* float exponent */
    {"81 a2 00 61 61 02 c4 82 21 c2 41 01", CORIO_ERR_UNSUPPORTED}, /* bignum mantissa */
    {"81 a2 00 61 61 02 c4 82 01 3b ff ff ff ff ff ff ff ff", CORIO_ERR_UNSUPPORTED},
    {"81 a2 00 61 61 02 c4 82 19 01 90 01", CORIO_ERR_UNSUPPORTED}, /* 1e400 */
    {"81 a2 00 61 61 02 61 31", CORIO_ERR_MALFORMED},             /* v as text */
    {"81 a3 20 f9 49 00 00 61 61 02 01", CORIO_ERR_MALFORMED},    /* bver as a float */
    {"81 a3 20 0b 00 61 61 02 01", CORIO_ERR_VERSION},
    {"81 a2 00 7f 61 61 ff 02 01", CORIO_ERR_UNSUPPORTED},        /* indefinite text */
    {"81 a2 00 62 c3 28 02 01", CORIO_ERR_MALFORMED},             /* not UTF-8 */
    {"81 a2 00 61 61 03 41 61", CORIO_ERR_MALFORMED},             /* vs as bytes */
    {"81 a2 00 61 61 08 62 41 41", CORIO_ERR_MALFORMED},          /* vd as text */
    {"81 a2 00 61 61 04 01", CORIO_ERR_MALFORMED},                /* vb as an integer */
    {"81 a3 00 61 61 02 01 64 66 6f 6f 5f 01", CORIO_ERR_UNSUPPORTED}, /* "foo_" */
    {"81 a4 00 61 61 02 01 62 65 70 01 63 73 65 71 00", CORIO_ERR_MALFORMED}, /* seq 0 */
    {"81 a4 00 61 61 02 01 62 65 70 01 63 73 65 71 20", CORIO_ERR_MALFORMED}, /* seq -1 */
    {"81 a3 00 61 61 02 01 62 65 70 01", CORIO_ERR_MALFORMED},    /* ep alone */
    {"81 a2 00 61 61 02 01 2f", CORIO_ERR_MALFORMED},             /* cut inside a map */
    {"81 a3 00 61 61 02 01 09 81 81 81 81 81 81 81 81 81 81 81 81 81 81 81 81 81 81 00",
     CORIO_ERR_UNSUPPORTED}, /* an unknown field nested beyond the CBOR depth limit */
    {"81 a2 00 61 61 1c", CORIO_ERR_MALFORMED},                   /* reserved AI 28 */
};

static void decoder_refusals(void **state)
{
    (void)state;
    struct rec r[8];
    for (size_t i = 0; i < COUNT(json_refusals); i++) {
        int rc = decode_json(json_refusals[i].json, r, 8, NULL);
        if (rc != json_refusals[i].err)
            fail_msg("JSON %zu %s: got %d, want %d", i, json_refusals[i].json, rc,
                     json_refusals[i].err);
    }
    for (size_t i = 0; i < COUNT(cbor_refusals); i++) {
        int rc = decode_cbor_hex(cbor_refusals[i].hex, r, 8);
        if (rc != cbor_refusals[i].err)
            fail_msg("CBOR %zu %s: got %d, want %d", i, cbor_refusals[i].hex, rc,
                     cbor_refusals[i].err);
    }
    /* Accepted twins of some refusals, so the refusals are about what they name. */
    assert_int_equal(decode_cbor_hex("81 a3 00 61 61 02 01 09 81 81 00", r, 8), 1);
    assert_int_equal(decode_cbor_hex("81 a3 20 0a 00 61 61 02 01", r, 8), 1);
    assert_int_equal(decode_cbor_hex("81 a2 00 61 61 08 42 01 02", r, 8), 1);
    assert_int_equal(r[0].vd_len, 2);
    assert_int_equal(decode_json("[{\"n\":\"a\",\"vd\":\"aGk\"},{\"n\":\"a\",\"vd\":\"\"},"
                                 "{\"n\":\"a\",\"vd\":\"_-8\"}]",
                                 r, 8, NULL),
                     3);
    assert_memory_equal(r[0].vd, "hi", 2);
    assert_int_equal(r[1].vd_len, 0);
    assert_int_equal(r[2].vd_len, 2);
    assert_memory_equal(r[2].vd, "\xff\xef", 2);
    assert_int_equal(decode_json("[{\"bver\":10,\"n\":\"a\",\"v\":1},{\"bver\":10,\"n\":\"a\","
                                 "\"v\":1}]",
                                 r, 8, NULL),
                     2);
    assert_int_equal(decode_json("[{\"n\":\"a\",\"v\":1,\"foo_x\":1}]", r, 8, NULL), 1);

    /* Bad arguments. */
    struct corio_senml_dec d;
    char buf[8];
    assert_int_equal(corio_senml_dec_init(&d, CORIO_FORMAT_JSON, (const uint8_t *)"[]", 2, NULL, 8),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_senml_dec_init(&d, CORIO_FORMAT_JSON, (const uint8_t *)"[]", 2, buf, 0),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_senml_dec_init(&d, (enum corio_format)7, (const uint8_t *)"[]", 2, buf,
                                          sizeof buf),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_senml_dec_init(&d, CORIO_FORMAT_CBOR, NULL, 3, buf, sizeof buf),
                     CORIO_ERR_INVAL);
}

/* Records handed out before a bad one stay valid; the error then sticks. */
static void error_after_records(void **state)
{
    (void)state;
    const char *s = "[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":2},{\"n\":\"c\"}]";
    char buf[64];
    struct corio_senml_dec d;
    struct corio_senml_record r;
    assert_int_equal(corio_senml_dec_init(&d, CORIO_FORMAT_JSON, (const uint8_t *)s, strlen(s),
                                          buf, sizeof buf),
                     CORIO_OK);
    assert_int_equal(corio_senml_dec_next(&d, &r), 1);
    assert_string_equal(r.name, "a");
    assert_int_equal(corio_senml_dec_next(&d, &r), 1);
    assert_string_equal(r.name, "b");
    assert_int_equal(corio_senml_dec_next(&d, &r), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_senml_dec_next(&d, &r), CORIO_ERR_MALFORMED);
}

static void limits(void **state)
{
    (void)state;
    struct rec r[8];
    const char *three = "[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":2},{\"n\":\"c\",\"v\":3}]";
    limit_records = 3;
    assert_int_equal(decode_json(three, r, 8, NULL), 3);
    limit_records = 2;
    assert_int_equal(decode_json(three, r, 8, NULL), CORIO_ERR_UNSUPPORTED);
    limit_records = 0;
    assert_int_equal(decode_json(three, r, 8, NULL), CORIO_ERR_UNSUPPORTED);
    /* Base-only records count: they cost work too. */
    limit_records = 2;
    assert_int_equal(decode_json("[{\"bn\":\"x\"},{\"bn\":\"y\"},{\"n\":\"a\",\"v\":1}]", r, 8,
                                 NULL),
                     CORIO_ERR_UNSUPPORTED);
    limit_records = CORIO_SENML_MAX_RECORDS;

    /* Names: exactly at the limit, and one over, across bn + n. */
    char s[512];
    char name[300];
    memset(name, 'a', sizeof name);
    snprintf(s, sizeof s, "[{\"bn\":\"%.*s\",\"n\":\"%.*s\",\"v\":1}]", 100, name,
             CORIO_SENML_MAX_NAME - 100, name);
    assert_int_equal(decode_json(s, r, 8, NULL), 1);
    assert_int_equal(strlen(r[0].name), CORIO_SENML_MAX_NAME);
    snprintf(s, sizeof s, "[{\"bn\":\"%.*s\",\"n\":\"%.*s\",\"v\":1}]", 100, name,
             CORIO_SENML_MAX_NAME - 99, name);
    assert_int_equal(decode_json(s, r, 8, NULL), CORIO_ERR_UNSUPPORTED);
    limit_name = 10;
    assert_int_equal(decode_json("[{\"n\":\"aaaaaaaaaa\",\"v\":1}]", r, 8, NULL), 1);
    assert_int_equal(decode_json("[{\"n\":\"aaaaaaaaaaa\",\"v\":1}]", r, 8, NULL),
                     CORIO_ERR_UNSUPPORTED);
    limit_name = 1000;
    snprintf(s, sizeof s, "[{\"n\":\"%.*s\",\"v\":1}]", 250, name);
    assert_int_equal(decode_json(s, r, 8, NULL), 1);
    limit_name = CORIO_SENML_MAX_NAME;

    /* The caller's buffer: the name and its NUL, then strings that need unescaping or
     * decoding; each too small by one is NOSPACE. */
    scratch_cap = 2; /* "a" + NUL */
    assert_int_equal(decode_json("[{\"n\":\"a\",\"v\":1}]", r, 8, NULL), 1);
    assert_int_equal(decode_json("[{\"n\":\"a\",\"vs\":\"xyz\"}]", r, 8, NULL), 1); /* in place */
    scratch_cap = 1;
    assert_int_equal(decode_json("[{\"n\":\"a\",\"v\":1}]", r, 8, NULL), CORIO_ERR_NOSPACE);
    scratch_cap = 2 + 4;
    assert_int_equal(decode_json("[{\"n\":\"a\",\"vs\":\"x\\ny\"}]", r, 8, NULL), 1);
    scratch_cap = 2 + 3;
    assert_int_equal(decode_json("[{\"n\":\"a\",\"vs\":\"x\\ny\"}]", r, 8, NULL),
                     CORIO_ERR_NOSPACE);
    scratch_cap = 2 + 3;
    assert_int_equal(decode_json("[{\"n\":\"a\",\"vd\":\"aGkgCg\"}]", r, 8, NULL), CORIO_ERR_NOSPACE);
    scratch_cap = 2 + 4;
    assert_int_equal(decode_json("[{\"n\":\"a\",\"vd\":\"aGkgCg\"}]", r, 8, NULL), 1);
    scratch_cap = 2 + 2;
    assert_int_equal(decode_json("[{\"n\":\"a\",\"u\":\"\\u00b0\"}]", r, 8, NULL), CORIO_ERR_MALFORMED);
    assert_int_equal(decode_json("[{\"n\":\"a\",\"u\":\"\\u00b0\",\"v\":1}]", r, 8, NULL),
                     CORIO_ERR_NOSPACE);
    scratch_cap = 2 + 3;
    assert_int_equal(decode_json("[{\"n\":\"a\",\"u\":\"\\u00b0\",\"v\":1}]", r, 8, NULL), 1);
    scratch_cap = 512;
}

/* ---------------------------------------------------------------------------- */
/* Encoder                                                                      */
/* ---------------------------------------------------------------------------- */

/* A pack that uses every field, every value type and the extension fields. */
static const uint8_t blob[] = {0x00, 0xff, 0xfe, 0x80, 0x7f, 0x01, 0x22, 0x5c};

static int encode_rich(enum corio_format fmt, uint8_t *buf, size_t cap)
{
    struct corio_senml_enc e;
    struct corio_senml_ext x = {true, 7, 9007199254740993u, true, 3, 123456};
    corio_senml_enc_init(&e, fmt, buf, cap);
    corio_senml_enc_ext(&e, &x);
    struct corio_senml_fields f = {0};
    f.bn = "urn:corio:abcdefghijklmnopqrstuvwx:";
    f.bu = "Cel";
    f.has = CORIO_SENML_HAS_BT | CORIO_SENML_HAS_BV | CORIO_SENML_HAS_BVER | CORIO_SENML_HAS_UT;
    f.bt = 1764500000.125;
    f.bv = 20;
    f.bver = 10;
    f.ut = 60;
    f.n = "temp";
    f.type = CORIO_SENML_NUMBER;
    f.v = 1.5;
    corio_senml_enc_add(&e, &f);
    struct corio_senml_fields g = {0};
    g.n = "label";
    g.u = "\xc2\xb0" "C \"quoted\"\n";
    g.type = CORIO_SENML_STRING;
    g.vs = "Machine\0Room \xe2\x82\xac \\ \x01";
    g.vs_len = 21;
    g.has = CORIO_SENML_HAS_T;
    g.t = -5;
    corio_senml_enc_add(&e, &g);
    struct corio_senml_fields h = {0};
    h.n = "open";
    h.type = CORIO_SENML_BOOL;
    h.vb = true;
    corio_senml_enc_add(&e, &h);
    for (size_t k = 0; k <= sizeof blob; k++) {
        struct corio_senml_fields b = {0};
        b.n = "blob";
        b.type = CORIO_SENML_DATA;
        b.vd = k ? blob : NULL;
        b.vd_len = k;
        corio_senml_enc_add(&e, &b);
    }
    struct corio_senml_fields s = {0};
    s.n = "energy";
    s.u = "J";
    s.has = CORIO_SENML_HAS_S | CORIO_SENML_HAS_BS;
    s.bs = 1e6;
    s.s = 0.25;
    corio_senml_enc_add(&e, &s);
    struct corio_senml_fields z = {0};
    z.bn = "";
    z.n = "z";
    z.type = CORIO_SENML_NUMBER;
    z.v = -0.0;
    z.has = CORIO_SENML_HAS_T | CORIO_SENML_HAS_BT | CORIO_SENML_HAS_BV;
    z.bt = 0;
    z.bv = -0.0; /* -0 + -0 is -0 */
    z.t = 5e-324;
    corio_senml_enc_add(&e, &z);
    struct corio_senml_fields m = {0};
    m.n = "max";
    m.type = CORIO_SENML_NUMBER;
    m.v = -DBL_MAX;
    m.has = CORIO_SENML_HAS_S;
    m.s = 0.1;
    corio_senml_enc_add(&e, &m);
    return corio_senml_enc_finish(&e);
}

static void check_rich(enum corio_format fmt, const uint8_t *buf, size_t n)
{
    struct rec r[24];
    struct corio_senml_ext ext;
    int count = decode(fmt, buf, n, r, 24, &ext);
    assert_int_equal(count, 3 + (int)sizeof blob + 1 + 3);
    assert_true(ext.has_seq && ext.ep == 7 && ext.seq == 9007199254740993u);
    assert_true(ext.has_boot && ext.boot == 3 && ext.upt == 123456);
    check_num(&r[0], "urn:corio:abcdefghijklmnopqrstuvwx:temp", "Cel", 21.5, 1764500000.125,
              false);
    assert_true(r[0].has_ut && r[0].ut == 60);
    assert_string_equal(r[1].name, "urn:corio:abcdefghijklmnopqrstuvwx:label");
    assert_string_equal(r[1].unit, "\xc2\xb0" "C \"quoted\"\n");
    assert_int_equal(r[1].type, CORIO_SENML_STRING);
    assert_int_equal(r[1].vs_len, 21);
    assert_memory_equal(r[1].vs, "Machine\0Room \xe2\x82\xac \\ \x01", 21);
    assert_true(r[1].time == 1764500000.125 - 5);
    assert_int_equal(r[2].type, CORIO_SENML_BOOL);
    assert_true(r[2].vb);
    assert_string_equal(r[2].unit, "Cel");
    for (size_t k = 0; k <= sizeof blob; k++) {
        const struct rec *b = &r[3 + k];
        assert_int_equal(b->type, CORIO_SENML_DATA);
        assert_int_equal(b->vd_len, k);
        assert_memory_equal(b->vd, blob, k);
    }
    const struct rec *s = &r[3 + sizeof blob + 1];
    assert_int_equal(s->type, CORIO_SENML_NONE);
    assert_true(s->has_sum && s->sum == 1e6 + 0.25);
    assert_string_equal(s->unit, "J");
    const struct rec *z = s + 1;
    assert_string_equal(z->name, "z");
    assert_true(z->v == 0 && signbit(z->v));
    assert_true(same_double(z->time, 5e-324) && z->rel);
    const struct rec *m = z + 1;
    assert_true(same_double(m->v, -DBL_MAX)); /* bv -0 applies */
    assert_true(m->has_sum && same_double(m->sum, 1e6 + 0.1));
}

static void round_trips(void **state)
{
    (void)state;
    static const enum corio_format fmts[] = {CORIO_FORMAT_JSON, CORIO_FORMAT_CBOR};
    for (size_t f = 0; f < COUNT(fmts); f++) {
        int n = encode_rich(fmts[f], NULL, 0);
        assert_true(n > 0);
        uint8_t *buf = malloc((size_t)n);
        assert_int_equal(encode_rich(fmts[f], buf, (size_t)n), n);
        check_rich(fmts[f], buf, (size_t)n);
        if (fmts[f] == CORIO_FORMAT_CBOR)
            assert_int_equal(corio_cbor_deterministic(buf, (size_t)n), CORIO_OK);
        /* Every smaller buffer: NOSPACE, nothing written past its end (ASan). */
        for (size_t cap = 0; cap < (size_t)n; cap++) {
            uint8_t *small = malloc(cap ? cap : 1);
            assert_int_equal(encode_rich(fmts[f], small, cap), CORIO_ERR_NOSPACE);
            free(small);
        }
        /* Every truncation is refused, by init or by a later record. */
        for (size_t k = 0; k < (size_t)n; k++) {
            struct rec r[24];
            int rc = decode(fmts[f], buf, k, r, 24, NULL);
            if (rc >= 0)
                fail_msg("format %d: prefix %zu of %d accepted", (int)fmts[f], k, n);
        }
        free(buf);
    }
}

/* Byte-exact output for docs/formats.md's example, in both encodings. */
static void exact_output(void **state)
{
    (void)state;
    struct corio_senml_enc e;
    struct corio_senml_ext x = {true, 1, 42, false, 0, 0};
    struct corio_senml_fields f[3] = {{0}, {0}, {0}};
    f[0].bn = "urn:corio:abcdefghijklmnopqrstuvwx:";
    f[0].has = CORIO_SENML_HAS_BT;
    f[0].bt = 1764500000.0;
    f[0].n = "temp";
    f[0].u = "Cel";
    f[0].type = CORIO_SENML_NUMBER;
    f[0].v = 21.5;
    f[1].n = "hum";
    f[1].u = "%RH";
    f[1].type = CORIO_SENML_NUMBER;
    f[1].v = 40.1;
    f[2].n = "vib";
    f[2].u = "m/s2";
    f[2].type = CORIO_SENML_NUMBER;
    f[2].v = 0.02;
    uint8_t buf[256];
    const char want[] = "[{\"bn\":\"urn:corio:abcdefghijklmnopqrstuvwx:\",\"bt\":1764500000,"
                        "\"ep\":1,\"seq\":42,\"n\":\"temp\",\"u\":\"Cel\",\"v\":21.5},"
                        "{\"n\":\"hum\",\"u\":\"%RH\",\"v\":40.1},"
                        "{\"n\":\"vib\",\"u\":\"m/s2\",\"v\":0.02}]";
    corio_senml_enc_init(&e, CORIO_FORMAT_JSON, buf, sizeof buf);
    assert_int_equal(corio_senml_enc_ext(&e, &x), CORIO_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(corio_senml_enc_add(&e, &f[i]), CORIO_OK);
    int n = corio_senml_enc_finish(&e);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, (size_t)n);

    /* CBOR: [{0: "temp", 1: "Cel", 2: 21.5, -2: bn, -3: 1764500000, "ep": 1,
     * "seq": 42}, {0: "hum", 1: "%RH", 2: 40.1}, {0: "vib", 1: "m/s2", 2: 0.02}] */
    uint8_t want_cbor[256];
    size_t wn = unhex("83 a7 00 64 74 65 6d 70 01 63 43 65 6c 02 f9 4d 60"
                      " 21 78 23 75 72 6e 3a 63 6f 72 69 6f 3a 61 62 63 64 65 66 67 68 69"
                      " 6a 6b 6c 6d 6e 6f 70 71 72 73 74 75 76 77 78 3a"
                      " 22 1a 69 2c 22 20 62 65 70 01 63 73 65 71 18 2a"
                      " a3 00 63 68 75 6d 01 63 25 52 48 02 fb 40 44 0c cc cc cc cc cd"
                      " a3 00 63 76 69 62 01 64 6d 2f 73 32 02 fb 3f 94 7a e1 47 ae 14 7b",
                      want_cbor, sizeof want_cbor);
    corio_senml_enc_init(&e, CORIO_FORMAT_CBOR, buf, sizeof buf);
    corio_senml_enc_ext(&e, &x);
    for (int i = 0; i < 3; i++)
        corio_senml_enc_add(&e, &f[i]);
    n = corio_senml_enc_finish(&e);
    assert_int_equal(n, wn);
    assert_memory_equal(buf, want_cbor, wn);
    assert_int_equal(corio_cbor_deterministic(buf, wn), CORIO_OK);
    assert_int_equal(corio_senml_enc_finish(&e), CORIO_ERR_STATE); /* once */
}

/* CBOR's array head is written last and moved in front: 1, 2 and 3 bytes long for
 * 23, 24 and 300 records, and a buffer without room for it is NOSPACE. */
static void cbor_array_head(void **state)
{
    (void)state;
    static const struct {
        uint32_t records;
        const char *head;
    } cases[] = {{23, "\x97"}, {24, "\x98\x18"}, {300, "\x99\x01\x2c"}};
    struct corio_senml_fields f = {0};
    f.n = "t";
    f.type = CORIO_SENML_BOOL;
    f.vb = true;
    for (size_t c = 0; c < COUNT(cases); c++) {
        /* Each record is {0: "t", 4: true}: a2 00 61 74 04 f5. */
        size_t hn = strlen(cases[c].head), len = hn + cases[c].records * 6u;
        uint8_t *buf = malloc(len);
        for (size_t cap = len - hn; cap <= len; cap++) {
            struct corio_senml_enc e;
            corio_senml_enc_init(&e, CORIO_FORMAT_CBOR, buf, cap);
            for (uint32_t i = 0; i < cases[c].records; i++)
                assert_int_equal(corio_senml_enc_add(&e, &f), CORIO_OK);
            int n = corio_senml_enc_finish(&e);
            if (cap < len) {
                assert_int_equal(n, CORIO_ERR_NOSPACE);
                continue;
            }
            assert_int_equal(n, (int)len);
            assert_memory_equal(buf, cases[c].head, hn);
            assert_memory_equal(buf + hn, "\xa2\x00\x61\x74\x04\xf5", 6);
            assert_memory_equal(buf + len - 6, "\xa2\x00\x61\x74\x04\xf5", 6);
            assert_int_equal(corio_cbor_deterministic(buf, len), CORIO_OK);
            struct rec *r = malloc(cases[c].records * sizeof *r);
            assert_int_equal(decode(CORIO_FORMAT_CBOR, buf, len, r, (int)cases[c].records, NULL),
                             (int)cases[c].records);
            free(r);
        }
        free(buf);
    }
}

static int add_one(enum corio_format fmt, const struct corio_senml_fields *f,
                   const struct corio_senml_ext *x)
{
    uint8_t buf[256];
    struct corio_senml_enc e;
    corio_senml_enc_init(&e, fmt, buf, sizeof buf);
    if (x)
        corio_senml_enc_ext(&e, x);
    int rc = corio_senml_enc_add(&e, f);
    int fin = corio_senml_enc_finish(&e);
    if (rc != CORIO_OK) {
        assert_int_equal(fin, rc); /* sticky */
        return rc;
    }
    /* What the encoder accepts, the decoder accepts. */
    struct rec r[2];
    assert_true(fin > 0);
    assert_true(decode(fmt, buf, (size_t)fin, r, 2, NULL) >= 0);
    return CORIO_OK;
}

static void encoder_refusals(void **state)
{
    (void)state;
    static const enum corio_format fmts[] = {CORIO_FORMAT_JSON, CORIO_FORMAT_CBOR};
    char longname[CORIO_SENML_MAX_NAME + 2];
    memset(longname, 'a', sizeof longname);
    longname[CORIO_SENML_MAX_NAME + 1] = '\0';
    for (size_t i = 0; i < COUNT(fmts); i++) {
        enum corio_format fmt = fmts[i];
        struct corio_senml_fields ok = {0};
        ok.n = "a";
        ok.type = CORIO_SENML_NUMBER;
        ok.v = 1;
        assert_int_equal(add_one(fmt, &ok, NULL), CORIO_OK);
        struct corio_senml_fields f;
#define REFUSED(change)                                               \
    do {                                                              \
        f = ok;                                                       \
        change;                                                       \
        assert_int_equal(add_one(fmt, &f, NULL), CORIO_ERR_INVAL);    \
    } while (0)
#define ACCEPTED(change)                                              \
    do {                                                              \
        f = ok;                                                       \
        change;                                                       \
        assert_int_equal(add_one(fmt, &f, NULL), CORIO_OK);           \
    } while (0)
        REFUSED(f.v = NAN);
        REFUSED(f.v = INFINITY);
        REFUSED((f.has = CORIO_SENML_HAS_T, f.t = NAN));
        REFUSED((f.has = CORIO_SENML_HAS_BT, f.bt = -INFINITY));
        REFUSED((f.has = CORIO_SENML_HAS_S, f.s = NAN));
        REFUSED((f.has = CORIO_SENML_HAS_UT, f.ut = INFINITY));
        REFUSED(f.type = (enum corio_senml_type)9);
        REFUSED(f.n = NULL);
        REFUSED(f.n = "");
        REFUSED(f.n = "_a");
        REFUSED(f.n = "a b");
        REFUSED(f.n = "a\xc3\xa9");
        REFUSED((f.bn = "", f.n = "-a"));
        REFUSED((f.bn = "x?", f.n = "a"));
        REFUSED(f.n = longname);
        ACCEPTED(f.n = longname + 1);
        REFUSED((f.bn = "abc", f.n = longname + 3));
        ACCEPTED((f.bn = "abc", f.n = longname + 4));
        ACCEPTED((f.bn = "dev:", f.n = NULL));
        ACCEPTED((f.bn = "", f.n = "a"));
        REFUSED(f.u = "\xc3");
        REFUSED(f.bu = "\xed\xa0\x80");
        REFUSED((f.type = CORIO_SENML_STRING, f.vs = NULL, f.vs_len = 1));
        ACCEPTED((f.type = CORIO_SENML_STRING, f.vs = NULL, f.vs_len = 0));
        REFUSED((f.type = CORIO_SENML_STRING, f.vs = "\xff", f.vs_len = 1));
        REFUSED((f.type = CORIO_SENML_DATA, f.vd = NULL, f.vd_len = 1));
        REFUSED((f.has = CORIO_SENML_HAS_BVER, f.bver = 0));
        REFUSED((f.has = CORIO_SENML_HAS_BVER, f.bver = 11));
        ACCEPTED((f.has = CORIO_SENML_HAS_BVER, f.bver = 5));
        /* No value, no sum: only base (or first-record extension) fields. */
        REFUSED(f.type = CORIO_SENML_NONE);
        REFUSED((f.type = CORIO_SENML_NONE, f.n = NULL));
        REFUSED((f.type = CORIO_SENML_NONE, f.n = NULL, f.bn = "x", f.u = "V"));
        REFUSED((f.type = CORIO_SENML_NONE, f.n = NULL, f.bn = "x", f.has = CORIO_SENML_HAS_T));
        REFUSED((f.type = CORIO_SENML_NONE, f.n = NULL, f.bn = "-x"));
        ACCEPTED((f.type = CORIO_SENML_NONE, f.n = NULL, f.bn = "x"));
        ACCEPTED((f.type = CORIO_SENML_NONE, f.n = NULL, f.bu = "V"));
        ACCEPTED((f.type = CORIO_SENML_NONE, f.n = NULL, f.has = CORIO_SENML_HAS_BT, f.bt = 1));
        ACCEPTED((f.type = CORIO_SENML_NONE, f.has = CORIO_SENML_HAS_S));
        ACCEPTED((f.type = CORIO_SENML_NONE, f.has = CORIO_SENML_HAS_BS));
#undef REFUSED
#undef ACCEPTED
        struct corio_senml_fields empty = {0};
        struct corio_senml_ext x = {true, 1, 1, false, 0, 0};
        assert_int_equal(add_one(fmt, &empty, &x), CORIO_OK); /* a header record */
        assert_int_equal(add_one(fmt, &empty, NULL), CORIO_ERR_INVAL);
        x.seq = 0;
        assert_int_equal(add_one(fmt, &ok, &x), CORIO_ERR_INVAL);

        /* State: ext after a record, finish without records, versions across records,
         * a base sum in effect lets later records carry no value. */
        uint8_t buf[512];
        struct corio_senml_enc e;
        x.seq = 1;
        corio_senml_enc_init(&e, fmt, buf, sizeof buf);
        assert_int_equal(corio_senml_enc_add(&e, &ok), CORIO_OK);
        assert_int_equal(corio_senml_enc_ext(&e, &x), CORIO_ERR_STATE);
        assert_int_equal(corio_senml_enc_add(&e, &ok), CORIO_ERR_STATE);
        assert_int_equal(corio_senml_enc_finish(&e), CORIO_ERR_STATE);
        corio_senml_enc_init(&e, fmt, buf, sizeof buf);
        assert_int_equal(corio_senml_enc_finish(&e), CORIO_ERR_INVAL);
        corio_senml_enc_init(&e, fmt, buf, sizeof buf);
        f = ok;
        f.has = CORIO_SENML_HAS_BVER | CORIO_SENML_HAS_BS;
        f.bver = 5;
        assert_int_equal(corio_senml_enc_add(&e, &f), CORIO_OK);
        struct corio_senml_fields sum_only = {0};
        sum_only.n = "b";
        assert_int_equal(corio_senml_enc_add(&e, &sum_only), CORIO_OK);
        f.has = CORIO_SENML_HAS_BVER;
        f.bver = 10;
        assert_int_equal(corio_senml_enc_add(&e, &f), CORIO_ERR_INVAL);
        corio_senml_enc_init(&e, fmt, buf, sizeof buf);
        assert_int_equal(corio_senml_enc_add(&e, &ok), CORIO_OK);
        assert_int_equal(corio_senml_enc_add(&e, &f), CORIO_OK); /* bver 10 = the default */
        f.bver = 5;
        assert_int_equal(corio_senml_enc_add(&e, &f), CORIO_ERR_INVAL);

        /* The record limit. */
        corio_senml_enc_init(&e, fmt, NULL, 0);
        for (int k = 0; k < CORIO_SENML_MAX_RECORDS; k++)
            assert_int_equal(corio_senml_enc_add(&e, &ok), CORIO_OK);
        assert_int_equal(corio_senml_enc_add(&e, &ok), CORIO_ERR_UNSUPPORTED);
        corio_senml_enc_init(&e, fmt, NULL, 0);
        for (int k = 0; k < CORIO_SENML_MAX_RECORDS; k++)
            corio_senml_enc_add(&e, &ok);
        int total = corio_senml_enc_finish(&e);
        assert_true(total > 0);
        uint8_t *big = malloc((size_t)total);
        corio_senml_enc_init(&e, fmt, big, (size_t)total);
        for (int k = 0; k < CORIO_SENML_MAX_RECORDS; k++)
            corio_senml_enc_add(&e, &ok);
        assert_int_equal(corio_senml_enc_finish(&e), total);
        struct rec *r = malloc(sizeof *r * CORIO_SENML_MAX_RECORDS);
        assert_int_equal(decode(fmt, big, (size_t)total, r, CORIO_SENML_MAX_RECORDS, NULL),
                         CORIO_SENML_MAX_RECORDS);
        free(r);
        free(big);
    }
    struct corio_senml_enc e;
    corio_senml_enc_init(&e, (enum corio_format)0, NULL, 0);
    assert_int_equal(corio_senml_enc_finish(&e), CORIO_ERR_INVAL);
}

static void name_rule(void **state)
{
    (void)state;
    assert_true(corio_senml_name_valid("a", 1));
    assert_true(corio_senml_name_valid("Z9-:./_", 7));
    assert_true(corio_senml_name_valid("0", 1));
    assert_false(corio_senml_name_valid("", 0));
    assert_false(corio_senml_name_valid("-", 1));
    assert_false(corio_senml_name_valid(".a", 2));
    assert_false(corio_senml_name_valid("/a", 2));
    assert_false(corio_senml_name_valid("a+", 2));
    assert_false(corio_senml_name_valid("a\0", 2));
    for (int c = 1; c < 256; c++) {
        char s[2] = {'a', (char)c};
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == ':' || c == '.' || c == '/' || c == '_';
        assert_int_equal(corio_senml_name_valid(s, 2), ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_single_and_multiple),
        cmocka_unit_test(rfc_cbor_example),
        cmocka_unit_test(rfc_resolved),
        cmocka_unit_test(rfc_types_collection_actuators),
        cmocka_unit_test(base_fields_resolve),
        cmocka_unit_test(extension_fields),
        cmocka_unit_test(decoder_refusals),
        cmocka_unit_test(error_after_records),
        cmocka_unit_test(limits),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(exact_output),
        cmocka_unit_test(cbor_array_head),
        cmocka_unit_test(encoder_refusals),
        cmocka_unit_test(name_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
