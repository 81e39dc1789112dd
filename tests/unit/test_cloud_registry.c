/* test_cloud_registry.c - corio-cloud's registry file: a good file loads whole, every
 * mistake is named with its file and line, and a bad file changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cloud.h"
#include "corio/error.h"
#include "harness.h"
#include "store.h"

#define ORG "oooooooooooooooooooooooo"
#define GW  "gggggggggggggggggggggggg"
#define DEV "dddddddddddddddddddddddd"
#define KEY "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"

struct fx {
    char *dir;
    char reg[600];
    struct corio_store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = h_tmpdir("cloud-registry");
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/cloud.db", f->dir);
    snprintf(f->reg, sizeof f->reg, "%s/registry.conf", f->dir);
    assert_int_equal(corio_store_open_sqlite(path, &f->s, err, sizeof err), CORIO_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    corio_store_close(f->s);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->dir);
    free(f);
    return 0;
}

static int load(struct fx *f, const char *text, char *err, size_t errlen)
{
    FILE *fp = fopen(f->reg, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return corio_cloud_registry_load(f->s, f->reg, err, errlen);
}

static int count_devices(const struct corio_device_info *d, void *arg)
{
    (void)d;
    (*(int *)arg)++;
    return 0;
}

static void test_good_file(void **state)
{
    struct fx *f = *state;
    char err[512] = "";
    int rc = load(f,
                  "# the registry\n"
                  "org " ORG " Example Org\n"
                  "\n"
                  "gateway " GW " org=" ORG " key=" KEY " key_no=2\r\n"
                  "   device " DEV "\torg=" ORG " gateway=" GW " class=sensor model=th-1 "
                  "hw_rev=B groups=hall,north assurance=reported\n"
                  "device eeeeeeeeeeeeeeeeeeeeeeee org=" ORG "\n",
                  err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("%s", err);
    struct corio_gateway_rec g;
    assert_int_equal(corio_store_get_gateway(f->s, GW, &g), CORIO_OK);
    assert_string_equal(g.org, ORG);
    assert_int_equal(g.key_no, 2);
    assert_int_equal(g.pubkey_len, 65);
    assert_int_equal(g.pubkey[0], 0x04);
    assert_int_equal(g.pubkey[1], 0x7f);
    char org[CORIO_ID_LEN + 1];
    assert_int_equal(corio_store_device_org(f->s, DEV, org), CORIO_OK);
    assert_string_equal(org, ORG);
    int n = 0;
    assert_int_equal(corio_store_devices(f->s, ORG, count_devices, &n), CORIO_OK);
    assert_int_equal(n, 2);
    /* Loading again is harmless (upserts). */
    assert_int_equal(corio_cloud_registry_load(f->s, f->reg, err, sizeof err), CORIO_OK);
}

static void test_mistakes_name_their_line(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *line, *why;
    } cases[] = {
        {"organisation " ORG, "unknown entry"},
        {"org", "needs an id"},
        {"org ABC", "not a short id"},
        {"gateway " GW " org=" ORG, "needs key="},
        {"gateway " GW " key=" KEY, "needs org="},
        {"gateway " GW " org=" ORG " key=did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
         "is not a P-256 did:key"},
        {"gateway " GW " org=" ORG " key=" KEY " key_no=-1", "key_no"},
        {"gateway " GW " org=" ORG " key=" KEY " colour=red", "unknown field 'colour'"},
        {"gateway " GW " org=" ORG " org=" ORG " key=" KEY, "given twice"},
        {"device " DEV " org=" ORG " gateway=nope", "is not a short id"},
        {"device " DEV " model", "not key=value"},
        {"device " DEV " org=" ORG " class=\x01", "control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024], err[512] = "";
        snprintf(text, sizeof text, "# first\norg " ORG "\n%s\n", cases[i].line);
        assert_int_equal(load(f, text, err, sizeof err), CORIO_ERR_MALFORMED);
        char where[650];
        snprintf(where, sizeof where, "%s:3: ", f->reg);
        if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, cases[i].why))
            fail_msg("case %zu: '%s', want '%s%s'", i, err, where, cases[i].why);
    }
    /* Nothing of a bad file is kept, not even its good lines. */
    char org[CORIO_ID_LEN + 1];
    char err[512];
    assert_int_equal(load(f, "device " DEV " org=" ORG "\nbogus line\n", err, sizeof err),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_store_device_org(f->s, DEV, org), CORIO_ERR_NOTFOUND);
    /* A file that is not there. */
    assert_int_equal(corio_cloud_registry_load(f->s, "/nonexistent/registry", err, sizeof err),
                     CORIO_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/registry"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mistakes_name_their_line, setup, teardown),
    };
    return cmocka_run_group_tests_name("cloud_registry", tests, NULL, NULL);
}
