/* test_registry.c - the registry file parser: a full file, lookups, firmware policy,
 * and every refusal naming its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"
#include "corio_registry.h"

/* The P-256 did:key test vector of the W3C CCG did:key specification. */
#define KEY "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"
#define ORG "oooooooooooooooooooooooo"
#define GW "gggggggggggggggggggggggg"
#define D1 "dddddddddddddddddddddddd"
#define D2 "eeeeeeeeeeeeeeeeeeeeeeee"

static const char good[] =
    "# a comment\n"
    "height 7\n"
    "org " ORG " Example  Org \n"
    "gateway " GW " org=" ORG " key=" KEY " key_no=2\n"
    "\n"
    "device " D2 " org=" ORG " key=" KEY " class=meter auth=eat assurance=attested\n"
    "device " D1 " org=" ORG " key=" KEY " key_no=3 class=sensor model=th-1 hw_rev=b groups=lab,north gateway=" GW
    " revoked=yes   # trailing comment\n"
    "firmware meter 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 1.2\r\n";

static void a_full_file_parses(void **state)
{
    (void)state;
    struct corio_reg *r;
    char err[256];
    assert_int_equal(corio_reg_parse("reg", good, strlen(good), &r, err, sizeof err), CORIO_OK);
    assert_true(r->height == 7);
    assert_int_equal(r->norgs, 1);
    assert_string_equal(r->orgs[0].name, "Example  Org");
    const struct corio_reg_gateway *g = corio_reg_gateway(r, GW);
    assert_non_null(g);
    assert_int_equal(g->key_number, 2);
    assert_int_equal(g->key[0], 0x04);
    const struct corio_reg_device *d = corio_reg_device(r, D1);
    assert_non_null(d);
    assert_true(d->revoked);
    assert_int_equal(d->key_number, 3);
    assert_string_equal(d->cls, "sensor");
    assert_string_equal(d->gateway, GW);
    assert_string_equal(d->hw_rev, "b");
    assert_string_equal(d->groups, "lab,north");
    assert_int_equal(d->auth, CORIO_REG_AUTH_SINGLE);
    d = corio_reg_device(r, D2);
    assert_int_equal(d->auth, CORIO_REG_AUTH_EAT);
    assert_int_equal(d->assurance, 2);
    assert_null(corio_reg_device(r, "ffffffffffffffffffffffff"));

    uint8_t fw[32] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
                      0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
                      0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    uint8_t other[32] = {0};
    assert_true(corio_reg_has_firmware(r, "meter"));
    assert_true(corio_reg_firmware_ok(r, "meter", fw));
    assert_false(corio_reg_firmware_ok(r, "meter", other));
    assert_false(corio_reg_has_firmware(r, "sensor"));
    assert_true(corio_reg_firmware_ok(r, "sensor", other));
    corio_reg_free(r);
}

static void each_error_names_its_line(void **state)
{
    (void)state;
    struct {
        const char *text, *want;
    } cases[] = {
        {"height 1\nfoo " D1 "\n", "reg:2: unknown entry"},
        {"height 1\ndevice " D1 " key=" KEY "\n", "reg:2: a device needs org="},
        {"height 1\ndevice " D1 " org=" ORG " key=did:key:zBad\n", "reg:2: key"},
        {"height 1\ndevice ABC org=" ORG " key=" KEY "\n", "reg:2: device id"},
        {"height 1\ndevice " D1 " org=" ORG " key=" KEY " auth=maybe\n", "reg:2: auth must"},
        {"height 1\ndevice " D1 " org=" ORG " key=" KEY " colour=red\n", "reg:2: unknown field 'colour' of a device"},
        {"height 1\ndevice " D1 " org=" ORG " key=" KEY " key_no=-1\n", "reg:2: key_no"},
        {"height 1\nfirmware x 00\n", "reg:2: '00' is not a lowercase hex"},
        {"height 1\ngateway " GW " org=" ORG "\n", "reg:2: a gateway needs key="},
        {"height 1\nheight 2\n", "reg:2: one 'height"},
        {"height 1\ndevice " D1 " org=" ORG " key=" KEY "\ndevice " D1 " org=" ORG " key=" KEY "\n",
         "listed twice"},
        {"height 1\norg " ORG " a\x01z\n", "reg:2: control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct corio_reg *r = NULL;
        char err[256] = "";
        assert_int_equal(corio_reg_parse("reg", cases[i].text, strlen(cases[i].text), &r, err,
                                         sizeof err),
                         CORIO_ERR_MALFORMED);
        assert_null(r);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].want);
    }
    struct corio_reg *r;
    char err[256];
    const char nul[] = "height 1\norg " ORG " a\0b\n";
    assert_int_equal(corio_reg_parse("reg", nul, sizeof nul - 1, &r, err, sizeof err),
                     CORIO_ERR_MALFORMED);
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(corio_reg_load("/nonexistent/registry", &r, err, sizeof err),
                     CORIO_ERR_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_file_parses),
        cmocka_unit_test(each_error_names_its_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
