/*
 * test_senml_device.c - the SenML encoder built as the footprint example's device builds
 * it (examples/footprint/corio_config.h): no double values (CORIO_SENML_FLOAT 0) and no
 * data values (CORIO_SENML_VD 0). The encoder's source is compiled into this test with
 * those options, in place of the library's copy; the library's decoder reads back what
 * it writes. Decimal numbers, booleans, strings and the extension fields go through
 * exactly in JSON and CBOR; double values, numeric fields and data values are refused
 * with CORIO_ERR_UNSUPPORTED, and the pack keeps that sticky error.
 */
#define CORIO_SENML_FLOAT 0
#define CORIO_SENML_VD    0
#include "../../sdk/src/senml_enc.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "corio/senml.h"

static int encode(enum corio_format fmt, uint8_t *buf, size_t cap)
{
    struct corio_senml_enc e;
    corio_senml_enc_init(&e, fmt, buf, cap);
    struct corio_senml_ext x = {.has_seq = true, .ep = 7, .seq = 42, .has_boot = true,
                                .boot = 3, .upt = 123456};
    assert_int_equal(corio_senml_enc_ext(&e, &x), CORIO_OK);
    struct corio_senml_fields r = {.bn = "urn:corio:dev:", .n = "temp", .u = "Cel",
                                   .type = CORIO_SENML_NUMBER, .has = CORIO_SENML_HAS_VDEC,
                                   .vdec = {-215, -1}};
    assert_int_equal(corio_senml_enc_add(&e, &r), CORIO_OK);
    r = (struct corio_senml_fields){.n = "count", .type = CORIO_SENML_NUMBER,
                                    .has = CORIO_SENML_HAS_VDEC, .vdec = {1000000, 0}};
    assert_int_equal(corio_senml_enc_add(&e, &r), CORIO_OK);
    r = (struct corio_senml_fields){.n = "door", .type = CORIO_SENML_BOOL, .vb = true};
    assert_int_equal(corio_senml_enc_add(&e, &r), CORIO_OK);
    r = (struct corio_senml_fields){.n = "state", .type = CORIO_SENML_STRING, .vs = "ok", .vs_len = 2};
    assert_int_equal(corio_senml_enc_add(&e, &r), CORIO_OK);
    return corio_senml_enc_finish(&e);
}

static void decimals_bools_strings_and_the_extension_go_through(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        enum corio_format fmt = f ? CORIO_FORMAT_CBOR : CORIO_FORMAT_JSON;
        uint8_t buf[256];
        int n = encode(fmt, buf, sizeof buf);
        assert_true(n > 0);
        struct corio_senml_dec d;
        struct corio_senml_record r;
        char names[64];
        assert_int_equal(corio_senml_dec_init(&d, fmt, buf, (size_t)n, names, sizeof names),
                         CORIO_OK);
        const struct corio_senml_ext *x = corio_senml_dec_ext(&d);
        assert_true(x->has_seq && x->ep == 7 && x->seq == 42);
        assert_true(x->has_boot && x->boot == 3 && x->upt == 123456);
        assert_int_equal(corio_senml_dec_next(&d, &r), 1);
        assert_string_equal(r.name, "urn:corio:dev:temp");
        assert_int_equal(r.unit_len, 3);
        assert_memory_equal(r.unit, "Cel", 3);
        assert_true(r.type == CORIO_SENML_NUMBER && r.v == -21.5);
        assert_int_equal(corio_senml_dec_next(&d, &r), 1);
        assert_string_equal(r.name, "urn:corio:dev:count");
        assert_true(r.type == CORIO_SENML_NUMBER && r.v == 1000000.0);
        assert_int_equal(corio_senml_dec_next(&d, &r), 1);
        assert_true(r.type == CORIO_SENML_BOOL && r.vb);
        assert_int_equal(corio_senml_dec_next(&d, &r), 1);
        assert_true(r.type == CORIO_SENML_STRING && r.vs_len == 2);
        assert_memory_equal(r.vs, "ok", 2);
        assert_int_equal(corio_senml_dec_next(&d, &r), 0);
    }
}

static void doubles_numeric_fields_and_data_are_refused(void **state)
{
    (void)state;
    static const uint8_t blob[] = {1, 2, 3};
    const struct corio_senml_fields refused[] = {
        {.n = "temp", .type = CORIO_SENML_NUMBER, .v = 21.5},
        {.n = "temp", .type = CORIO_SENML_NUMBER, .has = CORIO_SENML_HAS_VDEC | CORIO_SENML_HAS_T,
         .vdec = {1, 0}, .t = 5},
        {.bn = "urn:corio:dev:", .has = CORIO_SENML_HAS_BT, .bt = 1.7e9},
        {.n = "blob", .type = CORIO_SENML_DATA, .vd = blob, .vd_len = sizeof blob},
    };
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
            uint8_t buf[128];
            struct corio_senml_enc e;
            corio_senml_enc_init(&e, f ? CORIO_FORMAT_CBOR : CORIO_FORMAT_JSON, buf, sizeof buf);
            assert_int_equal(corio_senml_enc_add(&e, &refused[i]), CORIO_ERR_UNSUPPORTED);
            assert_int_equal(corio_senml_enc_finish(&e), CORIO_ERR_UNSUPPORTED);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decimals_bools_strings_and_the_extension_go_through),
        cmocka_unit_test(doubles_numeric_fields_and_data_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
